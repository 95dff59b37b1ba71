/* remote.h - the LLM stage on a remote OpenAI-compatible server (vLLM,
 * llama.cpp's llama-server, another voxfit ...), reached with libcurl.
 * Requests are re-sent upstream as streaming chat completions, and the
 * upstream's SSE chunks are relayed as they arrive (text deltas, finish
 * reason, usage) through the same job interface as the local engine
 * (engine.h). Upstream errors keep their HTTP status and message. */
#ifndef VF_LLM_REMOTE_H
#define VF_LLM_REMOTE_H

#include "engine.h"

struct vf_remote_params {
    const char *base_url;        /* "http://host:8000/v1" (no trailing /chat/completions) */
    const char *api_key;         /* bearer key upstream, or NULL */
    const char *model;           /* upstream model id; NULL: the first one its /models lists */
    uint32_t max_inflight;       /* requests sent upstream at once */
    uint32_t queue_max;          /* more may wait; beyond that EBUSY */
    int queue_timeout_ms;
    int connect_timeout_ms;
    int probe_interval_ms;       /* how often /models is retried until it answers */
    struct vf_llm_hooks hooks;
};

void vf_remote_default_params(struct vf_remote_params *p);

/* Create the stage; it probes {base_url}/models in the background (LOADING
 * until the upstream answers, FAILED with the reason while it does not).
 * Returns VF_OK, VF_ERR_ARG (not an http(s) URL), VF_ERR_NOMEM,
 * VF_ERR_BACKEND (libcurl could not start). */
int vf_remote_open(const struct vf_remote_params *p, struct vf_llm **out, char *err, size_t errlen);

/* Build the upstream request body for r (stream on, usage on). Exported
 * for tests; caller frees (vf_free). NULL on OOM. */
char *vf__remote_body(const struct vf_chat_req *r, const char *model);

/* Feed upstream SSE bytes to a parser that pushes deltas into j. Exported
 * for tests. */
struct vf_sse_parser;
struct vf_sse_parser *vf__sse_parser_new(struct vf_job *j, const struct vf_llm_hooks *hooks);
/* Returns VF_OK, VF_ERR_FORMAT (a line too long / bad JSON), VF_ERR_NOMEM. */
int vf__sse_parser_feed(struct vf_sse_parser *p, const char *data, size_t n);
/* Whether "data: [DONE]" was seen, and the finish reason / usage found. */
bool vf__sse_parser_done(const struct vf_sse_parser *p, enum vf_finish *finish);
void vf__sse_parser_free(struct vf_sse_parser *p);

#endif
