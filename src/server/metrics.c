/* metrics.c - see metrics.h. Counters live in a small fixed table keyed by
 * (method, route, status); routes come from the route table, so the label
 * set cannot grow with what clients send. */
#include "metrics.h"
#include "../core/str.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_SERIES 128
#define TTFT_BUCKETS 14
#define ITL_BUCKETS 14

static const double ttft_bounds[TTFT_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                 1, 2.5, 5, 10, 30, 60, 120};
static const double itl_bounds[ITL_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05,
                                               0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5};

struct hist {
    uint64_t counts[16];   /* per bucket, not cumulative; last is +Inf */
    double sum;
    uint64_t count;
};

struct series {
    char method[12];
    char route[128];
    int status;
    uint64_t count;
    double seconds;
};

struct vf_metrics {
    pthread_mutex_t mu;
    struct series s[MAX_SERIES];
    int n;
    uint64_t overflow;          /* requests whose series did not fit the table */
    uint64_t prompt_tokens, completion_tokens, cancelled;
    struct hist ttft, itl;
};

struct vf_metrics *vf_metrics_new(void) {
    struct vf_metrics *m = vf_calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->mu, NULL);
    return m;
}

void vf_metrics_free(struct vf_metrics *m) {
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    vf_free(m);
}

void vf_metrics_request(struct vf_metrics *m, const char *method, const char *route, int status,
                        double seconds) {
    pthread_mutex_lock(&m->mu);
    struct series *hit = NULL;
    for (int i = 0; i < m->n && !hit; i++)
        if (m->s[i].status == status && !strcmp(m->s[i].method, method) && !strcmp(m->s[i].route, route))
            hit = &m->s[i];
    if (!hit && m->n < MAX_SERIES) {
        hit = &m->s[m->n++];
        /* only methods a route can have: anything else is "other" */
        static const char *known[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"};
        const char *mm = "other";
        for (size_t k = 0; k < VF_ARRAY_LEN(known); k++)
            if (!strcmp(method, known[k]))
                mm = known[k];
        vf_strlcpy(hit->method, mm, sizeof hit->method);
        vf_strlcpy(hit->route, route, sizeof hit->route);
        hit->status = status;
    }
    if (hit) {
        hit->count++;
        hit->seconds += seconds;
    } else {
        m->overflow++;
    }
    pthread_mutex_unlock(&m->mu);
}

void vf_metrics_tokens(struct vf_metrics *m, int64_t prompt_tokens, int64_t completion_tokens) {
    pthread_mutex_lock(&m->mu);
    m->prompt_tokens += (uint64_t)(prompt_tokens > 0 ? prompt_tokens : 0);
    m->completion_tokens += (uint64_t)(completion_tokens > 0 ? completion_tokens : 0);
    pthread_mutex_unlock(&m->mu);
}

static void observe(struct vf_metrics *m, struct hist *h, const double *bounds, int nb, double v) {
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < nb && v > bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
    pthread_mutex_unlock(&m->mu);
}

void vf_metrics_ttft(struct vf_metrics *m, double s) { observe(m, &m->ttft, ttft_bounds, TTFT_BUCKETS, s); }
void vf_metrics_itl(struct vf_metrics *m, double s) { observe(m, &m->itl, itl_bounds, ITL_BUCKETS, s); }

void vf_metrics_cancelled(struct vf_metrics *m) {
    pthread_mutex_lock(&m->mu);
    m->cancelled++;
    pthread_mutex_unlock(&m->mu);
}

static void hook_ttft(double s, void *ud) { vf_metrics_ttft(ud, s); }
static void hook_itl(double s, void *ud) { vf_metrics_itl(ud, s); }

struct vf_llm_hooks vf_metrics_hooks(struct vf_metrics *m) {
    struct vf_llm_hooks h = {hook_ttft, hook_itl, m};
    return h;
}

/* ---- rendering ---- */

struct out {
    char *p;
    size_t n, cap;
    bool oom;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...) {
    if (o->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
        va_end(ap);
        if (k < 0) {
            o->oom = true;
            return;
        }
        if ((size_t)k < o->cap - o->n) {
            o->n += (size_t)k;
            return;
        }
        size_t nc = o->cap * 2 + (size_t)k;
        char *np = vf_realloc(o->p, nc);
        if (!np) {
            o->oom = true;
            return;
        }
        o->p = np;
        o->cap = nc;
    }
}

/* A label value: escape \ " and newline (exposition format). */
static const char *label(const char *s, char *buf, size_t n) {
    size_t j = 0;
    for (; *s && j + 3 < n; s++) {
        if (*s == '\\' || *s == '"') {
            buf[j++] = '\\';
            buf[j++] = *s;
        } else if (*s == '\n') {
            buf[j++] = '\\';
            buf[j++] = 'n';
        } else {
            buf[j++] = *s;
        }
    }
    buf[j] = '\0';
    return buf;
}

static void put_hist(struct out *o, const char *name, const char *help, const struct hist *h,
                     const double *bounds, int nb) {
    put(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < nb; i++) {
        cum += h->counts[i];
        put(o, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
    }
    cum += h->counts[nb];
    put(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)cum,
        name, h->sum, name, (unsigned long long)h->count);
}

static uint64_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long long size = 0, res = 0;
    int k = fscanf(f, "%llu %llu", &size, &res);
    fclose(f);
    return k == 2 ? res * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

char *vf_metrics_render(struct vf_metrics *m, const struct vf_llm_status *st, size_t *n) {
    struct out o = {vf_malloc(8192), 0, 8192, false};
    if (!o.p)
        return NULL;
    o.p[0] = '\0';
    char l1[300], l2[300];
    pthread_mutex_lock(&m->mu);
    put(&o, "# HELP voxfit_http_requests_total HTTP requests answered, by method, route and status.\n"
            "# TYPE voxfit_http_requests_total counter\n");
    for (int i = 0; i < m->n; i++)
        put(&o, "voxfit_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
            m->s[i].method, label(m->s[i].route, l1, sizeof l1), m->s[i].status,
            (unsigned long long)m->s[i].count);
    put(&o, "# HELP voxfit_http_request_errors_total HTTP requests answered with a status >= 400.\n"
            "# TYPE voxfit_http_request_errors_total counter\n");
    uint64_t c4 = 0, c5 = 0;
    for (int i = 0; i < m->n; i++) {
        if (m->s[i].status >= 500)
            c5 += m->s[i].count;
        else if (m->s[i].status >= 400)
            c4 += m->s[i].count;
    }
    put(&o, "voxfit_http_request_errors_total{class=\"4xx\"} %llu\n"
            "voxfit_http_request_errors_total{class=\"5xx\"} %llu\n",
        (unsigned long long)c4, (unsigned long long)c5);
    put(&o, "# HELP voxfit_http_request_duration_seconds_sum Time spent answering, by route.\n"
            "# TYPE voxfit_http_request_duration_seconds_sum counter\n");
    for (int i = 0; i < m->n; i++)
        put(&o, "voxfit_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\",status=\"%d\"} %.6f\n",
            m->s[i].method, label(m->s[i].route, l1, sizeof l1), m->s[i].status, m->s[i].seconds);
    put(&o, "# HELP voxfit_llm_prompt_tokens_total Prompt tokens processed.\n"
            "# TYPE voxfit_llm_prompt_tokens_total counter\nvoxfit_llm_prompt_tokens_total %llu\n"
            "# HELP voxfit_llm_completion_tokens_total Tokens generated.\n"
            "# TYPE voxfit_llm_completion_tokens_total counter\nvoxfit_llm_completion_tokens_total %llu\n"
            "# HELP voxfit_llm_cancelled_total Generations stopped because the client went away.\n"
            "# TYPE voxfit_llm_cancelled_total counter\nvoxfit_llm_cancelled_total %llu\n",
        (unsigned long long)m->prompt_tokens, (unsigned long long)m->completion_tokens,
        (unsigned long long)m->cancelled);
    put_hist(&o, "voxfit_llm_time_to_first_token_seconds",
             "Time from accepting a request to its first generated token.", &m->ttft, ttft_bounds,
             TTFT_BUCKETS);
    put_hist(&o, "voxfit_llm_inter_token_latency_seconds",
             "Time between two generated tokens of one request.", &m->itl, itl_bounds, ITL_BUCKETS);
    pthread_mutex_unlock(&m->mu);

    if (st) {
        put(&o, "# HELP voxfit_llm_ready Whether the LLM stage is ready (1) or not (0).\n"
                "# TYPE voxfit_llm_ready gauge\nvoxfit_llm_ready{model=\"%s\",backend=\"%s\",state=\"%s\"} %d\n",
            label(st->model_id, l1, sizeof l1), st->backend, vf_llm_state_name(st->state),
            st->state == VF_LLM_READY);
        put(&o, "# HELP voxfit_llm_queue_depth Requests waiting for a free conversation slot.\n"
                "# TYPE voxfit_llm_queue_depth gauge\nvoxfit_llm_queue_depth %u\n"
                "# HELP voxfit_llm_queue_capacity Requests that may wait before new ones get 429.\n"
                "# TYPE voxfit_llm_queue_capacity gauge\nvoxfit_llm_queue_capacity %u\n"
                "# HELP voxfit_llm_slots_active Conversation slots generating now.\n"
                "# TYPE voxfit_llm_slots_active gauge\nvoxfit_llm_slots_active %u\n"
                "# HELP voxfit_llm_slots Conversation slots (parallel sequences in one context).\n"
                "# TYPE voxfit_llm_slots gauge\nvoxfit_llm_slots %u\n"
                "# HELP voxfit_llm_kv_cells KV cache cells (tokens) in all.\n"
                "# TYPE voxfit_llm_kv_cells gauge\nvoxfit_llm_kv_cells %u\n"
                "# HELP voxfit_llm_kv_cells_used KV cache cells holding tokens now.\n"
                "# TYPE voxfit_llm_kv_cells_used gauge\nvoxfit_llm_kv_cells_used %llu\n"
                "# HELP voxfit_llm_kv_cells_reserved KV cells promised to running requests.\n"
                "# TYPE voxfit_llm_kv_cells_reserved gauge\nvoxfit_llm_kv_cells_reserved %llu\n",
            st->n_queued, st->queue_max, st->n_active, st->n_slots, st->n_ctx,
            (unsigned long long)st->kv_cells_used, (unsigned long long)st->kv_cells_reserved);
        put(&o, "# HELP voxfit_llm_buffer_bytes Memory llama.cpp allocated, by buffer and kind.\n"
                "# TYPE voxfit_llm_buffer_bytes gauge\n");
        for (int i = 0; i < st->n_bufs; i++)
            put(&o, "voxfit_llm_buffer_bytes{device=\"%s\",kind=\"%s\"} %llu\n",
                label(st->bufs[i].device, l1, sizeof l1), st->bufs[i].kind,
                (unsigned long long)st->bufs[i].bytes);
        put(&o, "# HELP voxfit_device_memory_total_bytes Memory of each device.\n"
                "# TYPE voxfit_device_memory_total_bytes gauge\n");
        for (int i = 0; i < st->n_devs; i++)
            put(&o, "voxfit_device_memory_total_bytes{device=\"%s\",description=\"%s\"} %llu\n",
                label(st->devs[i].name, l1, sizeof l1), label(st->devs[i].description, l2, sizeof l2),
                (unsigned long long)st->devs[i].total_bytes);
        put(&o, "# HELP voxfit_device_memory_free_bytes Free memory of each device now.\n"
                "# TYPE voxfit_device_memory_free_bytes gauge\n");
        for (int i = 0; i < st->n_devs; i++)
            put(&o, "voxfit_device_memory_free_bytes{device=\"%s\",description=\"%s\"} %llu\n",
                label(st->devs[i].name, l1, sizeof l1), label(st->devs[i].description, l2, sizeof l2),
                (unsigned long long)st->devs[i].free_bytes);
    }
    put(&o, "# HELP voxfit_process_resident_memory_bytes Resident memory of the server process.\n"
            "# TYPE voxfit_process_resident_memory_bytes gauge\nvoxfit_process_resident_memory_bytes %llu\n",
        (unsigned long long)rss_bytes());
    if (o.oom) {
        vf_free(o.p);
        return NULL;
    }
    *n = o.n;
    return o.p;
}
