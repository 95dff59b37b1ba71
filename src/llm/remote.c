/* remote.c - the LLM stage on a remote OpenAI-compatible server (see
 * remote.h). One thread per request runs a libcurl transfer upstream; the
 * write callback splits the SSE stream into lines (events arrive split
 * across callbacks), parses each "data:" payload and pushes the text delta
 * into the job at once; the progress callback aborts the transfer as soon
 * as the job is cancelled (the client went away). */
#include "remote.h"
#include "../core/log.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SSE_LINE_MAX (1u << 20)
#define ERR_BODY_MAX (64u * 1024)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ==== SSE parsing ========================================================= */

struct vf_sse_parser {
    struct vf_job *job;
    struct vf_llm_hooks hooks;
    char *line;
    size_t n, cap;
    bool done;
    enum vf_finish finish;
    int32_t prompt_tokens, completion_tokens, deltas;
    bool started;
    double t_start, t_last;
    char error[512];
};

struct vf_sse_parser *vf__sse_parser_new(struct vf_job *j, const struct vf_llm_hooks *hooks) {
    struct vf_sse_parser *p = vf_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->job = j;
    if (hooks)
        p->hooks = *hooks;
    p->prompt_tokens = p->completion_tokens = -1;
    p->t_start = p->t_last = now_s();
    return p;
}

void vf__sse_parser_free(struct vf_sse_parser *p) {
    if (!p)
        return;
    vf_free(p->line);
    vf_free(p);
}

bool vf__sse_parser_done(const struct vf_sse_parser *p, enum vf_finish *finish) {
    *finish = p->finish;
    return p->done;
}

static int handle_payload(struct vf_sse_parser *p, const char *s, size_t n) {
    if (n == 6 && !memcmp(s, "[DONE]", 6)) {
        p->done = true;
        return VF_OK;
    }
    cJSON *o = cJSON_ParseWithLength(s, n);
    if (!o)
        return VF_ERR_FORMAT;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
    if (err) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(err, "message");
        vf_strlcpy(p->error, cJSON_IsString(m) ? m->valuestring : "the upstream server failed",
                   sizeof p->error);
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(o, "choices");
    const cJSON *c0 = cJSON_IsArray(choices) ? choices->child : NULL;
    int rc = VF_OK;
    if (c0) {
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(c0, "delta");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
        if (cJSON_IsString(content) && content->valuestring[0]) {
            double t = now_s();
            if (p->deltas == 0 && p->hooks.ttft)
                p->hooks.ttft(t - p->t_start, p->hooks.user_data);
            else if (p->deltas > 0 && p->hooks.itl)
                p->hooks.itl(t - p->t_last, p->hooks.user_data);
            p->t_last = t;
            p->deltas++;
            rc = vf__job_push(p->job, content->valuestring, strlen(content->valuestring));
        }
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c0, "finish_reason");
        if (cJSON_IsString(fr))
            p->finish = !strcmp(fr->valuestring, "length") ? VF_FINISH_LENGTH : VF_FINISH_STOP;
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "usage");
    if (cJSON_IsObject(u)) {
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
        /* another server's numbers: only counts that fit are taken */
        if (cJSON_IsNumber(pt) && pt->valuedouble >= 0 && pt->valuedouble <= INT32_MAX)
            p->prompt_tokens = (int32_t)pt->valuedouble;
        if (cJSON_IsNumber(ct) && ct->valuedouble >= 0 && ct->valuedouble <= INT32_MAX)
            p->completion_tokens = (int32_t)ct->valuedouble;
    }
    vf__job_count(p->job, p->prompt_tokens, p->completion_tokens >= 0 ? p->completion_tokens : p->deltas);
    cJSON_Delete(o);
    return rc;
}

int vf__sse_parser_feed(struct vf_sse_parser *p, const char *data, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (c != '\n') {
            if (p->n + 2 > p->cap) {
                if (p->cap >= SSE_LINE_MAX)
                    return VF_ERR_FORMAT;
                size_t nc = p->cap ? p->cap * 2 : 1024;
                char *nl = vf_realloc(p->line, nc);
                if (!nl)
                    return VF_ERR_NOMEM;
                p->line = nl;
                p->cap = nc;
            }
            p->line[p->n++] = c;
            continue;
        }
        size_t len = p->n;
        if (len && p->line[len - 1] == '\r')
            len--;
        p->n = 0;
        /* "data:" lines carry the payload; comments (":"), event/id/retry lines do not */
        if (len >= 5 && !memcmp(p->line, "data:", 5)) {
            size_t off = 5 + (len > 5 && p->line[5] == ' ');
            int rc = handle_payload(p, p->line + off, len - off);
            if (rc)
                return rc;
        }
    }
    return VF_OK;
}

/* ==== The stage =========================================================== */

struct remote {
    struct vf_remote_params p;
    char base[512];
    char key[512];
    char model[256];
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* slot freed / threads ended / stop */
    enum vf_llm_state state;
    char why[256];
    bool stop, admitting;
    uint32_t inflight, waiting, threads;
    pthread_t probe;
    bool probe_started;
};

struct rjob {
    struct remote *r;
    struct vf_job *job;
    char *body;
    double t_submit;
};

/* A response body kept up to ERR_BODY_MAX bytes. */
struct body {
    char *p;
    size_t n;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud) {
    struct body *b = ud;
    size_t n = size * nmemb;
    if (b->n + n > ERR_BODY_MAX)
        n = ERR_BODY_MAX - b->n;
    char *nb = vf_realloc(b->p, b->n + n + 1);
    if (!nb)
        return 0;
    memcpy(nb + b->n, ptr, n);
    nb[b->n + n] = '\0';
    b->p = nb;
    b->n += n;
    return size * nmemb;
}

static CURL *easy(struct remote *r, const char *url, struct curl_slist **hdrs) {
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)r->p.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "voxfit/" VOXFIT_VERSION);
    *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
    if (r->key[0]) {
        char h[600];
        snprintf(h, sizeof h, "Authorization: Bearer %s", r->key);
        *hdrs = curl_slist_append(*hdrs, h);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    return c;
}

/* GET {base}/models: the upstream is up; learn its model id. */
static int probe_once(struct remote *r, char *why, size_t n) {
    char url[600];
    snprintf(url, sizeof url, "%s/models", r->base);
    struct curl_slist *h = NULL;
    CURL *c = easy(r, url, &h);
    if (!c) {
        curl_slist_free_all(h);
        vf_errf(why, n, "libcurl failed");
        return VF_ERR_BACKEND;
    }
    struct body buf = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode cr = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    int rc = VF_OK;
    if (cr != CURLE_OK) {
        vf_errf(why, n, "%s: %s", url, curl_easy_strerror(cr));
        rc = VF_ERR_IO;
    } else if (code != 200) {
        vf_errf(why, n, "%s answered HTTP %ld", url, code);
        rc = VF_ERR_IO;
    } else {
        cJSON *o = buf.p ? cJSON_Parse(buf.p) : NULL;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "data");
        const cJSON *first = cJSON_IsArray(d) ? d->child : NULL;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(first, "id");
        bool listed = false;
        for (const cJSON *m = cJSON_IsArray(d) ? d->child : NULL; m; m = m->next) {
            const cJSON *mid = cJSON_GetObjectItemCaseSensitive(m, "id");
            if (cJSON_IsString(mid) && !strcmp(mid->valuestring, r->model))
                listed = true;
        }
        pthread_mutex_lock(&r->mu);
        if (!r->model[0] && cJSON_IsString(id))
            vf_strlcpy(r->model, id->valuestring, sizeof r->model);
        pthread_mutex_unlock(&r->mu);
        if (!r->model[0]) {
            vf_errf(why, n, "%s lists no model; give --model-name", url);
            rc = VF_ERR_FORMAT;
        } else if (!listed) {
            vf_log(VF_LOG_WARN, "llm", "%s does not list model '%s'; using it anyway", url, r->model);
        }
        cJSON_Delete(o);
    }
    vf_free(buf.p);
    return rc;
}

static void *probe_main(void *arg) {
    struct remote *r = arg;
    for (;;) {
        char why[256] = "";
        int rc = probe_once(r, why, sizeof why);
        pthread_mutex_lock(&r->mu);
        if (rc == VF_OK) {
            r->state = VF_LLM_READY;
            r->why[0] = '\0';
            pthread_mutex_unlock(&r->mu);
            vf_log(VF_LOG_INFO, "llm", "remote %s ready, model %s", r->base, r->model);
            return NULL;
        }
        if (r->state != VF_LLM_FAILED)
            vf_log(VF_LOG_WARN, "llm", "remote LLM not reachable yet: %s", why);
        r->state = VF_LLM_FAILED;
        vf_strlcpy(r->why, why, sizeof r->why);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += r->p.probe_interval_ms / 1000;
        ts.tv_nsec += (long)(r->p.probe_interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &ts) == 0) {
        }
        bool stop = r->stop;
        pthread_mutex_unlock(&r->mu);
        if (stop)
            return NULL;
    }
}

struct xfer {
    struct rjob *rj;
    struct vf_sse_parser *sse;
    CURL *c;
    long status;
    struct body err_body;
    bool started;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud) {
    struct xfer *x = ud;
    size_t n = size * nmemb;
    if (!x->status)
        curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->status != 200)
        return collect(ptr, size, nmemb, &x->err_body);
    if (!x->started) {
        x->started = true;
        vf__job_start(x->rj->job, 0);
    }
    if (vf__job_cancelled(x->rj->job))
        return 0;
    return vf__sse_parser_feed(x->sse, ptr, n) == VF_OK ? n : 0;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    struct xfer *x = ud;
    return vf__job_cancelled(x->rj->job) ? 1 : 0;
}

static void job_fail(struct vf_job *j, enum vf_llm_err kind, int status, const char *msg) {
    struct vf_llm_error e = {.kind = kind, .upstream_status = status, .retry_after_s = 5};
    vf_strlcpy(e.message, msg, sizeof e.message);
    vf__job_finish(j, VF_FINISH_ERROR, &e);
}

static void *job_main(void *arg) {
    struct rjob *rj = arg;
    struct remote *r = rj->r;
    /* wait for a free upstream slot */
    pthread_mutex_lock(&r->mu);
    bool expired = false;
    while (r->inflight >= r->p.max_inflight && !r->stop && !vf__job_cancelled(rj->job)) {
        if (now_s() - rj->t_submit > r->p.queue_timeout_ms / 1000.0) {
            expired = true;
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    r->waiting--;
    bool go = !expired && !r->stop && !vf__job_cancelled(rj->job);
    if (go)
        r->inflight++;
    pthread_mutex_unlock(&r->mu);
    if (!go) {
        if (expired)
            job_fail(rj->job, VF_LLM_EUNAVAIL, 0, "the server is busy: the request waited too long");
        else
            vf__job_finish(rj->job, VF_FINISH_CANCELLED, NULL);
        goto done;
    }

    char url[600];
    snprintf(url, sizeof url, "%s/chat/completions", r->base);
    struct curl_slist *h = curl_slist_append(NULL, "Accept: text/event-stream");
    struct xfer x;
    memset(&x, 0, sizeof x);
    x.rj = rj;
    x.sse = vf__sse_parser_new(rj->job, &r->p.hooks);
    x.c = easy(r, url, &h);
    if (!x.c || !x.sse) {
        job_fail(rj->job, VF_LLM_EINTERNAL, 0, "out of memory");
    } else {
        curl_easy_setopt(x.c, CURLOPT_POSTFIELDS, rj->body);
        curl_easy_setopt(x.c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(x.c, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(x.c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(x.c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(x.c, CURLOPT_XFERINFODATA, &x);
        CURLcode cr = curl_easy_perform(x.c);
        if (!x.status)
            curl_easy_getinfo(x.c, CURLINFO_RESPONSE_CODE, &x.status);
        enum vf_finish fin;
        bool done = vf__sse_parser_done(x.sse, &fin);
        if (vf__job_cancelled(rj->job)) {
            vf__job_finish(rj->job, VF_FINISH_CANCELLED, NULL);
        } else if (cr != CURLE_OK && cr != CURLE_WRITE_ERROR) {
            char m[300];
            snprintf(m, sizeof m, "the upstream LLM server failed: %s", curl_easy_strerror(cr));
            job_fail(rj->job, VF_LLM_EUPSTREAM, 0, m);
        } else if (x.status != 200) {
            char m[512] = "";
            cJSON *o = x.err_body.p ? cJSON_Parse(x.err_body.p) : NULL;
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
            const cJSON *msg = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
            snprintf(m, sizeof m, "upstream: %s",
                     cJSON_IsString(msg) ? msg->valuestring : "HTTP error without a message");
            cJSON_Delete(o);
            job_fail(rj->job, VF_LLM_EUPSTREAM, (int)x.status, m);
        } else if (x.sse->error[0]) {
            job_fail(rj->job, VF_LLM_EUPSTREAM, 0, x.sse->error);
        } else if (cr == CURLE_WRITE_ERROR) {
            job_fail(rj->job, VF_LLM_EUPSTREAM, 0, "the upstream stream could not be read");
        } else {
            vf__job_finish(rj->job, done || fin ? (fin ? fin : VF_FINISH_STOP) : VF_FINISH_STOP, NULL);
        }
    }
    if (x.c)
        curl_easy_cleanup(x.c);
    curl_slist_free_all(h);
    vf__sse_parser_free(x.sse);
    vf_free(x.err_body.p);
    pthread_mutex_lock(&r->mu);
    r->inflight--;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
done:
    vf_job_release(rj->job);
    vf_free(rj->body);
    vf_free(rj);
    pthread_mutex_lock(&r->mu);
    r->threads--;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

char *vf__remote_body(const struct vf_chat_req *q, const char *model) {
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "model", model);
    cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
    for (int i = 0; i < q->n_msgs; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddItemToArray(msgs, m);
        cJSON_AddStringToObject(m, "role", q->msgs[i].role);
        cJSON_AddStringToObject(m, "content", q->msgs[i].content);
    }
    cJSON_AddTrueToObject(o, "stream");
    cJSON *so = cJSON_AddObjectToObject(o, "stream_options");
    cJSON_AddTrueToObject(so, "include_usage");
    const struct vf_gen_params *g = &q->gen;
    if (g->max_tokens > 0)
        cJSON_AddNumberToObject(o, "max_tokens", g->max_tokens);
    cJSON_AddNumberToObject(o, "temperature", g->temperature);
    if (g->top_p < 1.0f)
        cJSON_AddNumberToObject(o, "top_p", g->top_p);
    if (g->frequency_penalty != 0.0f)
        cJSON_AddNumberToObject(o, "frequency_penalty", g->frequency_penalty);
    if (g->presence_penalty != 0.0f)
        cJSON_AddNumberToObject(o, "presence_penalty", g->presence_penalty);
    if (g->has_seed)
        cJSON_AddNumberToObject(o, "seed", g->seed);
    if (g->n_stop) {
        cJSON *st = cJSON_AddArrayToObject(o, "stop");
        for (int i = 0; i < g->n_stop; i++)
            cJSON_AddItemToArray(st, cJSON_CreateString(g->stop[i]));
    }
    if (g->n_logit_bias) {
        cJSON *lb = cJSON_AddObjectToObject(o, "logit_bias");
        for (int i = 0; i < g->n_logit_bias; i++) {
            char k[16];
            snprintf(k, sizeof k, "%d", g->logit_bias[i].token);
            cJSON_AddNumberToObject(lb, k, g->logit_bias[i].bias);
        }
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *d = s ? vf_strdup(s) : NULL;
    cJSON_free(s);
    return d;
}

static int rm_submit(void *impl, const struct vf_chat_req *q, struct vf_job **out,
                     struct vf_llm_error *err) {
    struct remote *r = impl;
    memset(err, 0, sizeof *err);
    *out = NULL;
    pthread_mutex_lock(&r->mu);
    enum vf_llm_state st = r->state;
    bool admitting = r->admitting;
    bool full = r->inflight >= r->p.max_inflight && r->waiting >= r->p.queue_max;
    char model[256];
    vf_strlcpy(model, r->model, sizeof model);
    pthread_mutex_unlock(&r->mu);
    if (st != VF_LLM_READY || !admitting) {
        err->kind = VF_LLM_EUNAVAIL;
        err->retry_after_s = 5;
        snprintf(err->message, sizeof err->message, "the remote LLM is %s%s%s",
                 !admitting ? "shutting down" : st == VF_LLM_FAILED ? "unreachable" : "not ready",
                 r->why[0] && admitting ? ": " : "", admitting ? r->why : "");
        return VF_ERR_UNSUPPORTED;
    }
    if (full) {
        err->kind = VF_LLM_EBUSY;
        err->retry_after_s = 1;
        vf_strlcpy(err->message, "all upstream slots are busy and the queue is full; retry later",
                   sizeof err->message);
        return VF_ERR_TOOBIG;
    }
    struct rjob *rj = vf_calloc(1, sizeof *rj);
    if (rj) {
        rj->r = r;
        rj->body = vf__remote_body(q, model);
        rj->job = rj->body ? vf__job_new() : NULL;
        rj->t_submit = now_s();
    }
    if (!rj || !rj->job) {
        if (rj)
            vf_free(rj->body);
        vf_free(rj);
        err->kind = VF_LLM_EINTERNAL;
        vf_strlcpy(err->message, "out of memory", sizeof err->message);
        return VF_ERR_NOMEM;
    }
    pthread_mutex_lock(&r->mu);
    r->waiting++;
    r->threads++;
    pthread_mutex_unlock(&r->mu);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    struct vf_job *j = rj->job;
    if (pthread_create(&th, &a, job_main, rj) != 0) {
        pthread_attr_destroy(&a);
        pthread_mutex_lock(&r->mu);
        r->waiting--;
        r->threads--;
        pthread_mutex_unlock(&r->mu);
        vf_job_release(j);
        vf_job_release(j);
        vf_free(rj->body);
        vf_free(rj);
        err->kind = VF_LLM_EINTERNAL;
        vf_strlcpy(err->message, "cannot start a thread", sizeof err->message);
        return VF_ERR_BACKEND;
    }
    pthread_attr_destroy(&a);
    *out = j;
    return VF_OK;
}

static void rm_status(void *impl, struct vf_llm_status *st) {
    struct remote *r = impl;
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&r->mu);
    st->state = r->state == VF_LLM_READY && !r->admitting ? VF_LLM_STOPPING : r->state;
    vf_strlcpy(st->why, r->why, sizeof st->why);
    vf_strlcpy(st->backend, "remote", sizeof st->backend);
    vf_strlcpy(st->model_id, r->model, sizeof st->model_id);
    vf_strlcpy(st->location, r->base, sizeof st->location);
    st->created = 0;
    st->n_slots = r->p.max_inflight;
    st->n_active = r->inflight;
    st->n_queued = r->waiting;
    st->queue_max = r->p.queue_max;
    pthread_mutex_unlock(&r->mu);
}

static void rm_cancel_all(void *impl) {
    struct remote *r = impl;
    pthread_mutex_lock(&r->mu);
    r->admitting = false;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void rm_free(void *impl) {
    struct remote *r = impl;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    r->admitting = false;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (r->probe_started)
        pthread_join(r->probe, NULL);
    /* the request threads end once their jobs are cancelled or done */
    pthread_mutex_lock(&r->mu);
    while (r->threads > 0)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    vf_free(r);
}

/* libcurl's global set-up, once per process (it is not thread-safe). */
static void init_curl(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static const struct vf_llm_ops remote_ops = {rm_submit, rm_status, rm_cancel_all, rm_free};

void vf_remote_default_params(struct vf_remote_params *p) {
    memset(p, 0, sizeof *p);
    p->max_inflight = 4;
    p->queue_max = 16;
    p->queue_timeout_ms = 60000;
    p->connect_timeout_ms = 5000;
    p->probe_interval_ms = 2000;
}

int vf_remote_open(const struct vf_remote_params *p, struct vf_llm **out, char *err, size_t errlen) {
    *out = NULL;
    if (!p->base_url || !(vf_str_starts(p->base_url, "http://") || vf_str_starts(p->base_url, "https://")) ||
        strlen(p->base_url) > 400) {
        vf_errf(err, errlen, "the remote LLM must be an http(s)://HOST[:PORT]/v1 URL");
        return VF_ERR_ARG;
    }
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_curl);
    struct remote *r = vf_calloc(1, sizeof *r);
    struct vf_llm *l = vf_calloc(1, sizeof *l);
    if (!r || !l) {
        vf_free(r);
        vf_free(l);
        vf_errf(err, errlen, "out of memory");
        return VF_ERR_NOMEM;
    }
    r->p = *p;
    if (!r->p.max_inflight)
        r->p.max_inflight = 1;
    vf_strlcpy(r->base, p->base_url, sizeof r->base);
    size_t n = strlen(r->base);
    while (n && r->base[n - 1] == '/')
        r->base[--n] = '\0';
    if (vf_str_ends(r->base, "/chat/completions"))
        r->base[n - strlen("/chat/completions")] = '\0';
    if (p->api_key)
        vf_strlcpy(r->key, p->api_key, sizeof r->key);
    if (p->model)
        vf_strlcpy(r->model, p->model, sizeof r->model);
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    r->state = VF_LLM_LOADING;
    r->admitting = true;
    l->ops = &remote_ops;
    l->impl = r;
    if (pthread_create(&r->probe, NULL, probe_main, r) != 0) {
        vf_llm_free(l);
        vf_errf(err, errlen, "cannot start a thread");
        return VF_ERR_BACKEND;
    }
    r->probe_started = true;
    *out = l;
    return VF_OK;
}

