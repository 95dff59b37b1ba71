/* voice_cli.h - the voice loop's options of `voxfit serve` and the one call
 * that attaches it to the server: --stt and --tts choose the engines the way
 * --llm does (a file or catalog name runs embedded, an http(s)://.../v1 URL
 * is a remote OpenAI-compatible server, "none" leaves the stage out).
 * cmd_serve.c puts VF_VOICE_CLI_OPTS(c) into its option table and calls
 * vf_voice_serve_attach() between creating and starting the server. */
#ifndef VF_VOICE_CLI_H
#define VF_VOICE_CLI_H

#include "voice.h"

struct vf_http_server;
struct vf_llm;

struct vf_voice_cli {
    const char *stt;             /* none | whisper .bin file | http(s)://.../v1 */
    const char *stt_model;       /* remote STT model name (whisper-1) */
    const char *tts;             /* espeak | none | http(s)://.../v1 */
    const char *tts_model;       /* remote TTS model name (kokoro) */
    const char *voice;           /* default voice (engine's default) */
    const char *instructions;    /* system prompt of every session */
    const char *language;        /* STT language (en; auto detects) */
    int sessions;                /* realtime sessions at once (8) */
    int silence_ms;              /* VAD endpoint silence (500) */
    int stt_threads;             /* CPU threads per Whisper state (0: default) */
    int max_tokens;              /* reply length limit (512) */
};

#define VF_VOICE_CLI_DEFAULTS {NULL, "whisper-1", "espeak", "kokoro", NULL, NULL, "en", 8, 500, 0, 512}

#define VF_VOICE_CLI_OPTS(c) \
    {"--stt", NULL, VF_OPT_STR, &(c).stt, "FILE|URL|none", "speech-to-text: a whisper.cpp .bin model (embedded) or an OpenAI-compatible server's http(s)://.../v1 URL", "none", 0, 0, 0, 0, NULL, NULL}, \
    {"--stt-model", NULL, VF_OPT_STR, &(c).stt_model, "NAME", "model name sent to a remote --stt server (key: VOXFIT_STT_API_KEY)", "whisper-1", 0, 0, 0, 0, NULL, NULL}, \
    {"--tts", NULL, VF_OPT_STR, &(c).tts, "espeak|URL|none", "text-to-speech: espeak (embedded espeak-ng) or an OpenAI-compatible /v1 URL (Kokoro-FastAPI)", "espeak", 0, 0, 0, 0, NULL, NULL}, \
    {"--tts-model", NULL, VF_OPT_STR, &(c).tts_model, "NAME", "model name sent to a remote --tts server (key: VOXFIT_TTS_API_KEY)", "kokoro", 0, 0, 0, 0, NULL, NULL}, \
    {"--voice", NULL, VF_OPT_STR, &(c).voice, "NAME", "default voice (espeak: en-us, en-gb+f3 ...; OpenAI names are mapped)", "the engine's", 0, 0, 0, 0, NULL, NULL}, \
    {"--instructions", NULL, VF_OPT_STR, &(c).instructions, "TEXT", "system prompt of every voice session", "a brief spoken-assistant prompt", 0, 0, 0, 0, NULL, NULL}, \
    {"--language", NULL, VF_OPT_STR, &(c).language, "CODE", "speech-to-text language (auto: detect)", "en", 0, 0, 0, 0, NULL, NULL}, \
    {"--voice-sessions", NULL, VF_OPT_INT, &(c).sessions, "N", "realtime voice sessions open at once", "8", 1, 1024, 0, 0, NULL, NULL}, \
    {"--vad-silence", NULL, VF_OPT_INT, &(c).silence_ms, "MS", "silence that ends an utterance (sessions may change it)", "500", 20, 10000, 0, 0, NULL, NULL}, \
    {"--stt-threads", NULL, VF_OPT_INT, &(c).stt_threads, "N", "CPU threads per embedded Whisper stream (0: default)", "0", 0, 256, 0, 0, NULL, NULL}, \
    {"--voice-max-tokens", NULL, VF_OPT_INT, &(c).max_tokens, "N", "longest spoken reply in tokens", "512", 1, 4096, 0, 0, NULL, NULL}

/* Make the engines c asks for, wrap the server's LLM stage (borrowed; may
 * be NULL: transcription and speech only) and register the voice routes
 * on http. *out is freed with vf_voice_free after the server is freed.
 * Returns VF_OK or an error with err set (nothing registered). */
int vf_voice_serve_attach(struct vf_http_server *http, struct vf_llm *stage,
                          const struct vf_voice_cli *c, struct vf_voice **out, char *err,
                          size_t errlen);

#endif
