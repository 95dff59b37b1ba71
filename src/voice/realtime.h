/* realtime.h - one realtime voice session: the OpenAI Realtime API subset
 * spoken over a websocket (docs/realtime.md), independent of the transport.
 * The transport hands each text message from the client to
 * vf_rt_session_feed() and sends what the session gives its send function.
 *
 * Inside, a session runs the voice pipeline: incoming PCM16 (24 kHz, or
 * 16 kHz by session config) is resampled to 16 kHz and fed to the VAD; an
 * endpointed utterance goes to STT, the transcript and the trimmed history
 * to the LLM, whose streamed text is cut into sentences, each spoken by TTS
 * as soon as it is complete and sent as audio deltas. Speech that starts
 * while a reply is generated or still playing cancels it (barge-in) and the
 * history keeps only what the user heard. Two threads per session: the
 * "think" thread (STT, LLM) and the "speak" thread (TTS). Design notes:
 * docs/internals/voice.md. */
#ifndef VF_VOICE_REALTIME_H
#define VF_VOICE_REALTIME_H

#include "voice.h"

/* Send one text message to the client. Called with the session's send lock
 * held, from the transport thread or a session thread; returns nonzero when
 * the connection is gone (the session then stops its work). */
typedef int (*vf_rt_send_fn)(void *user_data, const char *json, size_t n);

enum vf_rt_dialect {
    VF_RT_DIALECT_BOTH = 0,      /* until the client shows which API it speaks */
    VF_RT_DIALECT_GA,            /* response.output_audio.delta ... */
    VF_RT_DIALECT_BETA,          /* response.audio.delta ... (OpenAI-Beta: realtime=v1) */
};

struct vf_rt_session; /* opaque */

/* Start a session on v (which must outlive it) and send session.created.
 * Returns VF_OK, VF_ERR_TOOBIG (max_sessions reached; nothing sent),
 * VF_ERR_NOMEM, VF_ERR_BACKEND (threads). *out is NULL on failure. */
int vf_rt_session_init(struct vf_voice *v, enum vf_rt_dialect dialect, vf_rt_send_fn send,
                       void *user_data, struct vf_rt_session **out);
/* Handle one client event (a websocket text message, n bytes, need not be
 * NUL-terminated). Every malformed or unsupported event is answered with an
 * `error` event and the session goes on. Returns VF_OK, or VF_ERR_IO when
 * the connection is gone. Call from one thread at a time. */
int vf_rt_session_feed(struct vf_rt_session *s, const char *msg, size_t n);
/* Stop everything (cancels the response in progress, joins the threads) and
 * free. No send happens after this returns. NULL is a no-op. */
void vf_rt_session_free(struct vf_rt_session *s);

/* Fuzz entry point: data is one client event for a session that lives
 * across calls (no engines behind it). */
int vf__fuzz_voice_event(const uint8_t *data, size_t n);

#define VF_RT_MAX_EVENT_BYTES (16 * 1024 * 1024) /* a client message larger is refused */

#endif
