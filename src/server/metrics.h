/* metrics.h - the server's Prometheus metrics: request counters by
 * method/route/status, tokens in and out, time-to-first-token and
 * inter-token latency histograms, and the LLM stage's gauges (queue depth,
 * slots, KV cells, memory per device), rendered in the Prometheus text
 * exposition format 0.0.4. Thread-safe; label sets are bounded. */
#ifndef VF_SERVER_METRICS_H
#define VF_SERVER_METRICS_H

#include "../core/vf.h"
#include "../llm/engine.h"

struct vf_metrics;

/* NULL on OOM. */
struct vf_metrics *vf_metrics_new(void);
void vf_metrics_free(struct vf_metrics *m);

/* One finished request. route is the matched route pattern ("" for none),
 * a bounded label; status the HTTP status. */
void vf_metrics_request(struct vf_metrics *m, const char *method, const char *route, int status,
                        double seconds);
void vf_metrics_tokens(struct vf_metrics *m, int64_t prompt_tokens, int64_t completion_tokens);
void vf_metrics_ttft(struct vf_metrics *m, double seconds);
void vf_metrics_itl(struct vf_metrics *m, double seconds);
/* A generation the client abandoned (disconnect). */
void vf_metrics_cancelled(struct vf_metrics *m);

/* Render everything, with st's gauges (st may be NULL), into a vf_malloc'd
 * NUL-terminated text the caller frees. NULL on OOM. */
char *vf_metrics_render(struct vf_metrics *m, const struct vf_llm_status *st, size_t *n);

/* Hooks for the engine that feed the two histograms. */
struct vf_llm_hooks vf_metrics_hooks(struct vf_metrics *m);

#endif
