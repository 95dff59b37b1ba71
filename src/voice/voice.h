/* voice.h - the voice loop as one object: the engines of the three stages
 * (STT, LLM, TTS), the defaults every realtime session starts from, and the
 * transport-independent handlers that `voxfit serve` routes to:
 *   GET  /                         the web page (web/, embedded at build time)
 *   GET  /v1/realtime              websocket: the OpenAI Realtime subset (realtime.h)
 *   POST /v1/audio/transcriptions  multipart upload -> text (json, text, verbose_json)
 *   POST /v1/audio/speech          JSON -> audio (wav, pcm)
 *   GET  /v1/voice/status          engines, sessions, the memory plan and live memory
 * Design notes: docs/internals/voice.md; protocol: docs/realtime.md.
 *
 * Basic usage:
 *
 *     struct vf_voice_params p = vf_voice_default_params();
 *     struct vf_voice *v = NULL;
 *     char err[256];
 *     vf_tts_espeak_init("en-us", NULL, &p.tts, err, sizeof err);
 *     vf_voice_llm_remote_init("http://127.0.0.1:8002/v1", "m", NULL, 4096, &p.llm, err, sizeof err);
 *     if (vf_voice_init(&p, &v, err, sizeof err) == VF_OK) { ... serve ... }
 *     vf_voice_free(v);    // frees the engines it was given too
 */
#ifndef VF_VOICE_H
#define VF_VOICE_H

#include "../core/vf.h"
#include "engines.h"

struct vf_voice_params {
    struct vf_stt *stt;          /* owned by the voice object after init (NULL: none) */
    struct vf_tts *tts;          /* owned (NULL: none: text-only responses) */
    struct vf_voice_llm *llm;          /* owned (NULL: none: transcription only) */
    const char *instructions;    /* default system prompt (copied) */
    const char *voice;           /* default voice (NULL: the TTS engine's) */
    const char *language;        /* STT language ("en"; NULL/"auto" detects) */
    int max_sessions;            /* concurrent realtime sessions (8) */
    int max_output_tokens;       /* per response unless the session says (512) */
    int max_utterance_ms;        /* longest utterance before VAD cuts it (30000) */
    int silence_duration_ms;     /* VAD endpoint silence default (500) */
    /* Optional: JSON text for GET /v1/voice/status's "memory" member (the
     * plan and live per-device memory). Called from a transport thread;
     * returns a vf_malloc'd string or NULL. */
    char *(*memory_json)(void *user_data);
    void *memory_user_data;
};

struct vf_voice_params vf_voice_default_params(void);

struct vf_voice; /* opaque */

/* Take over the engines in *p and make the voice object. Returns VF_OK,
 * VF_ERR_ARG, VF_ERR_NOMEM; on failure the engines are freed too and *out
 * is NULL. */
int vf_voice_init(const struct vf_voice_params *p, struct vf_voice **out, char *err,
                  size_t errlen);
/* Free the object and its engines; every session must be gone. NULL ok. */
void vf_voice_free(struct vf_voice *v);

/* Borrowed views, valid while v lives. */
struct vf_stt *vf_voice_get_stt(struct vf_voice *v);
struct vf_tts *vf_voice_get_tts(struct vf_voice *v);
struct vf_voice_llm *vf_voice_get_llm(struct vf_voice *v);
const struct vf_voice_params *vf_voice_params(const struct vf_voice *v);

/* ==== REST handlers ====================================================== */

/* A response for the transport to send: status, content type and body. */
struct vf_voice_reply {
    int status;
    const char *content_type;    /* static string */
    char *body;                  /* vf_malloc'd; free with vf_voice_reply_free */
    size_t n;
};
void vf_voice_reply_free(struct vf_voice_reply *r);

#define VF_VOICE_MAX_UPLOAD (64 * 1024 * 1024) /* request body bound for the audio routes */

/* POST /v1/audio/transcriptions: content_type is the request's header
 * (multipart/form-data; boundary=..., or an audio type for a bare file body).
 * Always fills *out (errors in OpenAI's error shape). Thread-safe. */
void vf_voice_transcriptions(struct vf_voice *v, const char *content_type, const uint8_t *body,
                             size_t n, struct vf_voice_reply *out);
/* POST /v1/audio/speech: JSON body {input, voice, speed, response_format}. */
void vf_voice_speech(struct vf_voice *v, const char *content_type, const uint8_t *body, size_t n,
                     struct vf_voice_reply *out);
/* GET /v1/voice/status: engines, sessions, memory. */
void vf_voice_status(struct vf_voice *v, struct vf_voice_reply *out);
/* GET of a web asset: "/" is index.html. false when there is no such file
 * (then *out is untouched). The body is static: out->body is NULL and the
 * bytes are in *data. */
bool vf_voice_web_asset(const char *path, const char **content_type, const uint8_t **data,
                        size_t *n);

/* Multipart/form-data parsing (RFC 7578), exposed for tests and fuzzing.
 * Finds the part named name; *data and *dn point into body. Returns false when
 * absent or malformed. filename/ctype (may be NULL) get the part's
 * filename and Content-Type (cut to their sizes). */
bool vf__voice_multipart_get(const char *content_type, const uint8_t *body, size_t n,
                             const char *name, const uint8_t **data, size_t *dn, char *filename,
                             size_t fn_len, char *ctype, size_t ct_len);
int vf__fuzz_voice_multipart(const uint8_t *data, size_t n);

/* ==== Sessions (used by realtime.c) ====================================== */

/* Count a new realtime session in; false when max_sessions are open. */
bool vf__voice_session_enter(struct vf_voice *v);
void vf__voice_session_leave(struct vf_voice *v);

#endif
