/* engines.h - the three stages of the voice loop behind small vtables, one
 * sibling file per backend (house style rule 3):
 *   STT  stt_whisper.c  embedded Whisper (src/stt), a shared model and a
 *                       bounded pool of per-stream states
 *        stt_remote.c   OpenAI POST /v1/audio/transcriptions (multipart)
 *   TTS  tts_espeak.c   espeak-ng through its C library, on one thread
 *        tts_remote.c   OpenAI POST /v1/audio/speech (Kokoro-FastAPI, another voxfit)
 *   LLM  llm_remote.c   OpenAI POST /v1/chat/completions with stream=true
 *        llm_engine.c   the in-process engine of `voxfit serve`, when built
 * Every call is blocking, runs on the caller's thread unless the backend
 * says otherwise, and can be stopped: callbacks return nonzero to stop, and
 * an abort function is polled at least every 20 ms while waiting on I/O.
 * Design notes: docs/internals/voice.md. */
#ifndef VF_VOICE_ENGINES_H
#define VF_VOICE_ENGINES_H

#include "../core/vf.h"

/* Audio from TTS: n mono samples at rate_hz. Return nonzero to stop. */
typedef int (*vf_voice_pcm_cb)(const float *pcm, size_t n, int rate_hz, void *user_data);
/* Text from the LLM: n bytes (not NUL-terminated). Return nonzero to stop. */
typedef int (*vf_voice_text_cb)(const char *text, size_t n, void *user_data);
/* Polled while a call waits; true stops it (the call then returns 1). */
typedef bool (*vf_voice_abort_fn)(void *user_data);

/* ==== Speech to text ===================================================== */

struct vf_stt_opts {
    const char *language;        /* "en", NULL or "auto" to detect */
    const char *prompt;          /* NULL */
    float temperature;           /* 0 */
    int max_tokens;              /* most tokens per segment, 0: no limit (embedded Whisper) */
    vf_voice_abort_fn abort;
    void *abort_data;
};

struct vf_stt_segment {
    double start_s, end_s;
    char *text;
};

struct vf_stt_result {
    char *text;                  /* whole transcript, trimmed, vf_malloc'd */
    char language[16];
    double duration_s;           /* of the audio */
    struct vf_stt_segment *segments;
    int n_segments;
};

struct vf_stt;
struct vf_stt_ops {
    const char *name;
    int (*transcribe)(struct vf_stt *s, const float *pcm, size_t n, const struct vf_stt_opts *o,
                      struct vf_stt_result *out, char *err, size_t errlen);
    void (*free)(struct vf_stt *s);
};
struct vf_stt {
    const struct vf_stt_ops *ops;
    char model[256];             /* what /v1/models and verbose_json report */
};

/* Transcribe n samples of 16 kHz mono audio. VF_OK with *out filled (free
 * with vf_stt_result_free), 1 when aborted (*out empty), or an error status
 * with err set. Thread-safe: calls may run in parallel (a backend with a
 * bounded pool makes extra callers wait). */
int vf_stt_transcribe(struct vf_stt *s, const float *pcm, size_t n, const struct vf_stt_opts *o,
                      struct vf_stt_result *out, char *err, size_t errlen);
void vf_stt_result_free(struct vf_stt_result *r);
/* Replace every byte that is not part of valid UTF-8 with '?', in place. */
void vf__utf8_sanitize(char *s);
void vf_stt_free(struct vf_stt *s);

/* Embedded Whisper: load model_path once; n_states streams may transcribe
 * at once (1..16), each with its own state. */
int vf_stt_whisper_init(const char *model_path, int n_states, int n_threads, struct vf_stt **out,
                        char *err, size_t errlen);
/* Embedded Whisper's buffers (model once + every state) summed by device
 * and kind ("weights", "kv_self", "kv_cross", "compute"); 0 for another
 * backend. */
int vf__stt_whisper_memory(struct vf_stt *s, char (*device)[32], const char **kind,
                           uint64_t *bytes, int max);
/* Remote: base_url like "http://127.0.0.1:8002/v1"; model sent as the
 * "model" field; api_key may be NULL. */
int vf_stt_remote_init(const char *base_url, const char *model, const char *api_key,
                       struct vf_stt **out, char *err, size_t errlen);

/* ==== Text to speech ===================================================== */

struct vf_tts;
struct vf_tts_ops {
    const char *name;
    /* Synthesize text with voice (NULL: the default) at speed (1.0 normal,
     * 0.25..4); audio goes to cb as it is produced. */
    int (*synth)(struct vf_tts *t, const char *text, const char *voice, float speed,
                 vf_voice_pcm_cb cb, void *user_data, vf_voice_abort_fn abort, void *abort_data,
                 char *err, size_t errlen);
    void (*free)(struct vf_tts *t);
};
struct vf_tts {
    const struct vf_tts_ops *ops;
    int rate_hz;                 /* the rate cb receives */
    char model[64];
    char default_voice[64];
};

/* Returns VF_OK, 1 when cb or abort stopped it, or an error status (err set;
 * cb may have received part of the audio). Thread-safe. cb runs on a thread
 * the backend chooses (espeak: its own thread) and must not block long. */
int vf_tts_synth(struct vf_tts *t, const char *text, const char *voice, float speed,
                 vf_voice_pcm_cb cb, void *user_data, vf_voice_abort_fn abort, void *abort_data,
                 char *err, size_t errlen);
void vf_tts_free(struct vf_tts *t);

/* espeak-ng: starts the one thread that owns its global state. voice is the
 * default voice ("en-us"); data_path NULL for the installed data. Only one
 * espeak engine may exist per process (VF_ERR_ARG for a second one). */
int vf_tts_espeak_init(const char *voice, const char *data_path, struct vf_tts **out, char *err,
                       size_t errlen);
/* Remote OpenAI-compatible speech: asks for response_format "pcm" (PCM16
 * mono at rate_hz: 24000 for OpenAI and Kokoro-FastAPI). */
int vf_tts_remote_init(const char *base_url, const char *model, const char *voice,
                       const char *api_key, int rate_hz, struct vf_tts **out, char *err,
                       size_t errlen);
/* Map an OpenAI voice name (alloy, echo ...) or an espeak voice to the
 * espeak voice used; unknown names give the default. */
const char *vf__tts_espeak_voice(const char *voice, const char *fallback);

/* ==== LLM ================================================================ */

struct vf_voice_msg {
    const char *role;            /* "system", "user", "assistant" */
    const char *content;
};

struct vf_voice_llm_opts {
    int max_tokens;              /* 0: the engine's default */
    float temperature;           /* < 0: the engine's default */
    vf_voice_abort_fn abort;
    void *abort_data;
    /* Called once on the calling thread when the request is on its way
     * (the engine computes meanwhile); may be NULL or never called. */
    void (*on_submitted)(void *user_data);
    void *submitted_data;
};

struct vf_voice_llm;
struct vf_voice_llm_ops {
    const char *name;
    int (*chat)(struct vf_voice_llm *l, const struct vf_voice_msg *msgs, int n_msgs,
                const struct vf_voice_llm_opts *o, vf_voice_text_cb on_delta, void *user_data,
                char *err, size_t errlen);
    /* Tokens of text, or -1 when the backend cannot count. */
    int (*count_tokens)(struct vf_voice_llm *l, const char *text);
    void (*free)(struct vf_voice_llm *l);
};
struct vf_voice_llm {
    const struct vf_voice_llm_ops *ops;
    int ctx_tokens;              /* context per conversation (from the plan), 0 unknown */
    char model[256];
};

/* Stream a chat completion: on_delta gets the text as it is generated.
 * Returns VF_OK, 1 when on_delta or abort stopped it, or an error status. */
int vf_voice_llm_chat(struct vf_voice_llm *l, const struct vf_voice_msg *msgs, int n_msgs,
                const struct vf_voice_llm_opts *o, vf_voice_text_cb on_delta, void *user_data,
                char *err, size_t errlen);
/* Tokens of text: the backend's tokenizer, else bytes / 3 rounded up (an
 * over-estimate for English, so trimming stays inside the context). */
int vf_voice_llm_count_tokens(struct vf_voice_llm *l, const char *text);
void vf_voice_llm_free(struct vf_voice_llm *l);

/* Remote OpenAI-compatible chat (vLLM, llama.cpp's server, voxfit serve);
 * ctx_tokens is what history is trimmed to (0: 4096). */
int vf_voice_llm_remote_init(const char *base_url, const char *model, const char *api_key,
                       int ctx_tokens, struct vf_voice_llm **out, char *err, size_t errlen);

/* The LLM stage of `voxfit serve` (llm/engine.h; borrowed, must outlive
 * the adapter). ctx_tokens 0: the engine's context per conversation. */
struct vf_llm;
int vf_voice_llm_engine_init(struct vf_llm *llm, int ctx_tokens, struct vf_voice_llm **out,
                             char *err, size_t errlen);

#endif
