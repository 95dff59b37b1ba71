/* server.h - the OpenAI-compatible API of `voxfit serve` on top of the
 * HTTP layer (http.h) and the LLM stage (llm/engine.h): /health,
 * /metrics, /v1/models, /v1/chat/completions, bearer-key auth, one access
 * log line per request, graceful shutdown. Later stages add their own
 * routes through vf_server_http() (see docs/internals/server.md). */
#ifndef VF_SERVER_SERVER_H
#define VF_SERVER_SERVER_H

#include "../llm/engine.h"
#include "http.h"
#include "metrics.h"

struct vf_server_params {
    struct vf_http_params http;
    const char *api_key;        /* NULL or "": no auth */
    int poll_ms;                /* how often a waiting handler checks its client (default 20) */
    bool log_json;              /* access log lines as JSON objects (--log-format json) */
};

void vf_server_default_params(struct vf_server_params *p);

struct vf_server;

/* Create the server over llm (borrowed: it must outlive the server) and
 * metrics (borrowed, may be NULL). Routes are registered; nothing listens
 * until vf_server_start. Returns VF_OK, VF_ERR_NOMEM. */
int vf_server_init(const struct vf_server_params *p, struct vf_llm *llm, struct vf_metrics *m,
                   struct vf_server **out, char *err, size_t errlen);
/* The HTTP layer, to add routes and WebSocket endpoints before start. */
struct vf_http_server *vf_server_http(struct vf_server *s);
int vf_server_start(struct vf_server *s, char *err, size_t errlen);
int vf_server_port(const struct vf_server *s);
/* Graceful stop: refuse new requests (503), let the requests in flight
 * finish for up to grace_ms, then cancel the rest (a stream gets an error
 * event and ends; a waiting request gets 503) and wait for their handlers.
 * Returns how many requests had to be cancelled. */
int vf_server_shutdown(struct vf_server *s, int grace_ms);
/* Stop listening and free (after vf_server_shutdown). NULL is a no-op. */
void vf_server_free(struct vf_server *s);

/* Fuzz entry point: one raw HTTP request (any bytes) sent over loopback to
 * an in-process server backed by a scripted LLM; checks that an HTTP
 * response comes back. */
int vf__fuzz_http_request(const uint8_t *data, size_t size);

/* A scripted LLM stage for tests and fuzzing: answers every request by
 * streaming "tok0 tok1 ..." (max_tokens words, 8 when unset, one every
 * delay_ms). */
struct vf_llm *vf__mock_llm_new(const char *model_id, int delay_ms, uint32_t slots, uint32_t queue_max);

#endif
