/* engine.c - the local LLM engine: llama.cpp in-process, several
 * conversations batched in one llama_context (see engine.h).
 *
 * One engine thread owns the llama_context. Each step it builds one
 * llama_batch holding the next token of every generating slot plus a chunk
 * of prompt tokens of the slots still reading their prompt (at most n_batch
 * tokens in all), runs one llama_decode, and samples one token per slot
 * whose logits were requested, each with the request's own sampler chain.
 * A slot is one KV sequence (seq_id = slot index). A request is admitted
 * only when a slot is free, and its prompt plus max_tokens are capped at the
 * slot's share of the planner's KV budget (n_ctx / n_seq_max), so the KV
 * cache can never overflow: llama_decode never has to fail for lack of
 * cells. Requests that find every slot busy wait in a bounded FIFO queue;
 * when that is full they are refused (VF_LLM_EBUSY -> HTTP 429). Design
 * notes: docs/internals/server.md. */
#include "engine.h"
#include "llama_rt.h"
#include "measure.h"
#include "../core/log.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ggml-backend.h>
#include <llama.h>

/* ==== Small helpers ======================================================= */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void deadline_in(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void cond_init_mono(pthread_cond_t *cv) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* Append n bytes to a growable buffer; VF_ERR_NOMEM when it cannot grow. */
static int buf_append(char **b, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 64;
        while (nc < *len + n + 1)
            nc *= 2;
        char *p = vf_realloc(*b, nc);
        if (!p)
            return VF_ERR_NOMEM;
        *b = p;
        *cap = nc;
    }
    if (n)
        memcpy(*b + *len, s, n);
    *len += n;
    (*b)[*len] = '\0';
    return VF_OK;
}

/* ==== Requests ============================================================ */

void vf_gen_params_default(struct vf_gen_params *g) {
    memset(g, 0, sizeof *g);
    g->max_tokens = -1;
    g->temperature = 1.0f;
    g->top_p = 1.0f;
}

void vf_chat_req_free(struct vf_chat_req *r) {
    if (!r)
        return;
    for (int i = 0; i < r->n_msgs; i++) {
        vf_free(r->msgs[i].role);
        vf_free(r->msgs[i].content);
    }
    vf_free(r->msgs);
    for (int i = 0; i < r->gen.n_stop; i++)
        vf_free(r->gen.stop[i]);
    vf_free(r->gen.logit_bias);
    memset(r, 0, sizeof *r);
}

const char *vf_finish_name(enum vf_finish f) {
    static const char *n[] = {"none", "stop", "length", "cancelled", "error"};
    return (unsigned)f < VF_ARRAY_LEN(n) ? n[f] : "?";
}

const char *vf_llm_state_name(enum vf_llm_state s) {
    static const char *n[] = {"loading", "ready", "failed", "stopping"};
    return (unsigned)s < VF_ARRAY_LEN(n) ? n[s] : "?";
}

void vf_llm_free(struct vf_llm *l) {
    if (!l)
        return;
    l->ops->free(l->impl);
    vf_free(l);
}

/* ==== UTF-8 and the output filter ======================================== */

/* Length of the UTF-8 sequence at s[0..n): >0 a valid character of that many
 * bytes, 0 a valid but incomplete prefix (more bytes may complete it), -1
 * invalid. Follows RFC 3629's table (no overlongs, surrogates or values above
 * U+10FFFF). */
static int utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    int len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        return -1;
    }
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return 0;
        unsigned char lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xBF;
        if (s[i] < lo_i || s[i] > hi_i)
            return -1;
    }
    return len;
}

bool vf_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int k = utf8_seq(p + i, n - i);
        if (k <= 0)
            return false;
        i += (size_t)k;
    }
    return true;
}

/* Copy in[0..n) to the output replacing invalid bytes with U+FFFD. With
 * hold_tail, a valid but incomplete sequence at the very end is not copied.
 * Returns the bytes consumed, or (size_t)-1 on OOM. */
static size_t utf8_sanitize(const char *in, size_t n, bool hold_tail, char **out, size_t *n_out,
                            size_t *cap) {
    static const char repl[] = "\xEF\xBF\xBD";
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0, run = 0;
    while (i < n) {
        int k = utf8_seq(p + i, n - i);
        if (k > 0) {
            i += (size_t)k;
            continue;
        }
        if (buf_append(out, n_out, cap, in + run, i - run))
            return (size_t)-1;
        if (k == 0 && hold_tail)
            return i;
        if (buf_append(out, n_out, cap, repl, 3))
            return (size_t)-1;
        i += k == 0 ? n - i : 1;
        run = i;
    }
    if (buf_append(out, n_out, cap, in + run, n - run))
        return (size_t)-1;
    return n;
}

void vf__textfilter_init(struct vf_textfilter *f, const char *const *stop, int n_stop) {
    memset(f, 0, sizeof *f);
    f->stop = stop;
    f->n_stop = n_stop;
}

void vf__textfilter_free(struct vf_textfilter *f) {
    vf_free(f->held);
    memset(f, 0, sizeof *f);
}

int vf__textfilter_feed(struct vf_textfilter *f, const char *in, size_t n, bool flush, char **out,
                        size_t *n_out, size_t *cap) {
    if (buf_append(&f->held, &f->n_held, &f->cap, in, n))
        return VF_ERR_NOMEM;
    /* 1. the earliest complete stop string ends the output */
    size_t cut = SIZE_MAX;
    for (int s = 0; s < f->n_stop; s++) {
        size_t sl = strlen(f->stop[s]);
        if (!sl || sl > f->n_held)
            continue;
        for (size_t i = 0; i + sl <= f->n_held && i < cut; i++)
            if (memcmp(f->held + i, f->stop[s], sl) == 0) {
                cut = i;
                break;
            }
    }
    if (cut != SIZE_MAX) {
        if (utf8_sanitize(f->held, cut, false, out, n_out, cap) == (size_t)-1)
            return VF_ERR_NOMEM;
        f->n_held = 0;
        return 1;
    }
    /* 2. keep the longest tail that may still become a stop string */
    size_t keep = 0;
    if (!flush) {
        for (int s = 0; s < f->n_stop; s++) {
            size_t sl = strlen(f->stop[s]);
            for (size_t k = VF_MIN(sl - (sl > 0), f->n_held); k > keep; k--)
                if (memcmp(f->held + f->n_held - k, f->stop[s], k) == 0) {
                    keep = k;
                    break;
                }
        }
    }
    size_t avail = f->n_held - keep;
    size_t used = utf8_sanitize(f->held, avail, !flush && keep == 0, out, n_out, cap);
    if (used == (size_t)-1)
        return VF_ERR_NOMEM;
    memmove(f->held, f->held + used, f->n_held - used);
    f->n_held -= used;
    return 0;
}

/* ==== Jobs ================================================================ */

struct vf_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    atomic_bool cancel;
    bool news;
    bool started;
    char *text;
    size_t len, cap;
    enum vf_finish finish;
    int32_t prompt_tokens, cached_tokens, completion_tokens;
    struct vf_llm_error error;
};

struct vf_job *vf__job_new(void) {
    struct vf_job *j = vf_calloc(1, sizeof *j);
    if (!j)
        return NULL;
    pthread_mutex_init(&j->mu, NULL);
    cond_init_mono(&j->cv);
    j->refs = 2;
    atomic_init(&j->cancel, false);
    return j;
}

bool vf__job_cancelled(const struct vf_job *j) {
    return atomic_load_explicit(&((struct vf_job *)j)->cancel, memory_order_relaxed);
}

void vf__job_start(struct vf_job *j, int32_t prompt_tokens) {
    pthread_mutex_lock(&j->mu);
    j->started = true;
    j->prompt_tokens = prompt_tokens;
    j->news = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void vf__job_cached(struct vf_job *j, int32_t cached_tokens) {
    pthread_mutex_lock(&j->mu);
    j->cached_tokens = cached_tokens;
    pthread_mutex_unlock(&j->mu);
}

int vf__job_push(struct vf_job *j, const char *text, size_t n) {
    if (!n)
        return VF_OK;
    pthread_mutex_lock(&j->mu);
    int rc = buf_append(&j->text, &j->len, &j->cap, text, n);
    j->news = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

void vf__job_count(struct vf_job *j, int32_t prompt_tokens, int32_t completion_tokens) {
    pthread_mutex_lock(&j->mu);
    if (prompt_tokens >= 0)
        j->prompt_tokens = prompt_tokens;
    if (completion_tokens >= 0)
        j->completion_tokens = completion_tokens;
    pthread_mutex_unlock(&j->mu);
}

void vf__job_finish(struct vf_job *j, enum vf_finish f, const struct vf_llm_error *err) {
    pthread_mutex_lock(&j->mu);
    if (j->finish == VF_FINISH_NONE) {
        j->finish = f;
        if (err)
            j->error = *err;
    }
    j->news = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

bool vf_job_wait(struct vf_job *j, int timeout_ms) {
    pthread_mutex_lock(&j->mu);
    if (!j->news && timeout_ms > 0) {
        struct timespec ts;
        deadline_in(&ts, timeout_ms);
        while (!j->news)
            if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) == ETIMEDOUT)
                break;
    }
    bool r = j->news;
    pthread_mutex_unlock(&j->mu);
    return r;
}

int vf_job_take(struct vf_job *j, struct vf_job_out *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&j->mu);
    if (j->len) {
        out->text = j->text;
        out->len = j->len;
        j->text = NULL;
        j->len = j->cap = 0;
    }
    out->started = j->started;
    out->finish = j->finish;
    out->prompt_tokens = j->prompt_tokens;
    out->cached_tokens = j->cached_tokens;
    out->completion_tokens = j->completion_tokens;
    out->error = j->error;
    j->news = false;
    pthread_mutex_unlock(&j->mu);
    return VF_OK;
}

void vf_job_cancel(struct vf_job *j) {
    if (j)
        atomic_store(&j->cancel, true);
}

void vf_job_release(struct vf_job *j) {
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left > 0)
        return;
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    vf_free(j->text);
    vf_free(j);
}

/* ==== The engine ========================================================== */

/* A request between submit and its end: the tokenized prompt and the
 * request's sampler, owned by the engine. */
struct pending {
    struct vf_job *job;
    llama_token *prompt;
    int32_t n_prompt;
    int32_t max_new;           /* tokens it may generate */
    struct llama_sampler *smpl;
    char *stop[VF_CHAT_MAX_STOP];
    int n_stop;
    double t_submit;
    struct pending *next;
};

struct slot {
    struct pending *p;         /* NULL: free */
    int32_t n_past;            /* tokens of this sequence in the KV cache */
    int32_t i_prompt;          /* next prompt token to feed */
    int32_t n_gen;             /* tokens sampled */
    int32_t n_fed;             /* tokens added to this step's batch */
    int32_t i_batch;           /* index of this slot's logits in the batch, -1 none */
    llama_token last;          /* sampled, fed at the next step */
    double t_last;
    /* the tokens whose KV cells the sequence holds: toks[0..n_past) while
     * active, [0..n_kept) once idle (the prompt cache) */
    llama_token *toks;
    int32_t n_kept;
    double t_idle;             /* when it went idle (least recently used is reused first) */
    struct vf_textfilter tf;
    char *obuf;                /* filter output scratch */
    size_t on, ocap;
};

struct engine {
    struct vf_engine_params p;
    char *path;
    char model_id[256];
    int64_t created;
    pthread_t th;
    bool th_started;
    pthread_mutex_t mu;        /* guards everything below that the engine thread shares */
    pthread_cond_t cv;         /* submit/cancel_all/free -> engine thread */
    pthread_cond_t state_cv;   /* state changes -> vf_llm_wait_ready */
    enum vf_llm_state state;
    char why[256];
    bool stop;                 /* free() asked the thread to exit */
    bool admitting;            /* false after cancel_all */
    struct pending *q_head, *q_tail;
    uint32_t n_queued;
    uint32_t n_active;
    uint64_t kv_used, kv_reserved;
    struct vf_measure_result bufs;

    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    int32_t n_vocab;
    char *tmpl;                /* the GGUF's chat template, or NULL: llama.cpp's "chatml" */
    char bos_text[64];
    uint32_t n_ctx, n_ctx_seq, n_slots;
    bool prompt_cache;         /* keep a finished conversation's cells for the next prompt */
    struct slot *slots;
    struct llama_batch batch;
    struct vf_job **batch_jobs;  /* jobs in the batch being decoded (abort callback) */
    int n_batch_jobs;
    atomic_bool abort_all;       /* shutdown: abort the decode in flight */
};

static void set_state(struct engine *e, enum vf_llm_state s, const char *why) {
    pthread_mutex_lock(&e->mu);
    e->state = s;
    if (why)
        vf_strlcpy(e->why, why, sizeof e->why);
    pthread_cond_broadcast(&e->state_cv);
    pthread_mutex_unlock(&e->mu);
}

static void pending_free(struct pending *p) {
    if (!p)
        return;
    vf_free(p->prompt);
    if (p->smpl)
        llama_sampler_free(p->smpl);
    for (int i = 0; i < p->n_stop; i++)
        vf_free(p->stop[i]);
    vf_job_release(p->job);
    vf_free(p);
}

static void fail_pending(struct pending *p, enum vf_finish f, enum vf_llm_err kind, const char *msg) {
    struct vf_llm_error err = {.kind = kind, .retry_after_s = kind == VF_LLM_EUNAVAIL ? 5 : 0};
    if (msg)
        vf_strlcpy(err.message, msg, sizeof err.message);
    vf__job_finish(p->job, f, f == VF_FINISH_ERROR ? &err : NULL);
    pending_free(p);
}

/* Called from ggml between graph nodes: stop the decode in flight when the
 * server shuts down or when every request in the batch was cancelled. */
static bool abort_cb(void *data) {
    struct engine *e = data;
    if (atomic_load_explicit(&e->abort_all, memory_order_relaxed))
        return true;
    if (e->n_batch_jobs == 0)
        return false;
    for (int i = 0; i < e->n_batch_jobs; i++)
        if (!vf__job_cancelled(e->batch_jobs[i]))
            return false;
    return true;
}

static int load_model(struct engine *e, char *err, size_t errlen) {
    const struct vf_engine_params *p = &e->p;
    if (vf_llama_rt_init()) {
        vf_errf(err, errlen, "llama.cpp backends could not be loaded");
        return VF_ERR_BACKEND;
    }
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = p->n_gpu_layers;
    if (!p->mmap)
        mp.load_mode = LLAMA_LOAD_MODE_NONE;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = p->n_ctx;
    cp.n_batch = p->n_batch;
    cp.n_ubatch = p->n_ubatch;
    cp.n_seq_max = p->n_seq_max;
    cp.type_k = (enum ggml_type)p->type_k;
    cp.type_v = (enum ggml_type)p->type_v;
    cp.flash_attn_type = p->flash_attn < 0 ? LLAMA_FLASH_ATTN_TYPE_AUTO
                       : p->flash_attn ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                                       : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.kv_unified = p->kv_unified;
    cp.swa_full = p->swa_full;
    cp.offload_kqv = p->offload_kqv;
    /* Default: half the online CPUs. ggml's workers spin at barriers, so a
     * thread per CPU collapses (100x on a 2-core machine here) as soon as
     * anything else in the process or on the machine wants a CPU. */
    int32_t nt = p->n_threads > 0 ? p->n_threads : (int32_t)sysconf(_SC_NPROCESSORS_ONLN) / 2;
    cp.n_threads = cp.n_threads_batch = nt > 0 ? nt : 1;
    cp.abort_callback = abort_cb;
    cp.abort_callback_data = e;
    cp.no_perf = true;

    vf_llama_rt_capture_begin();
    e->model = llama_model_load_from_file(e->path, mp);
    e->ctx = e->model ? llama_init_from_model(e->model, cp) : NULL;
    char *log = vf_llama_rt_capture_end();
    if (log)
        vf_measure_parse_log(log, &e->bufs);
    if (!e->model || !e->ctx) {
        char last[200] = "";
        for (const char *l = log; l && *l;) {
            const char *eol = strchr(l, '\n');
            size_t n = eol ? (size_t)(eol - l) : strlen(l);
            if (n && n < sizeof last && (strstr(l, "error") || strstr(l, "failed"))) {
                memcpy(last, l, n);
                last[n] = '\0';
            }
            l = eol ? eol + 1 : NULL;
        }
        vf_errf(err, errlen, "llama.cpp could not %s %s%s%s", e->model ? "create a context for" : "load",
                e->path, last[0] ? ": " : "", last);
        vf_free(log);
        return VF_ERR_BACKEND;
    }
    vf_free(log);
    e->vocab = llama_model_get_vocab(e->model);
    e->n_vocab = llama_vocab_n_tokens(e->vocab);
    e->n_ctx = llama_n_ctx(e->ctx);
    e->n_slots = llama_n_seq_max(e->ctx);
    e->n_ctx_seq = e->n_ctx / (e->n_slots ? e->n_slots : 1);
    int32_t train = llama_model_n_ctx_train(e->model);
    if (train > 0 && e->n_ctx_seq > (uint32_t)train)
        e->n_ctx_seq = (uint32_t)train;

    /* the model's own chat template; llama.cpp recognises it by its text */
    const char *t = llama_model_chat_template(e->model, NULL);
    struct llama_chat_message probe = {"user", "hi"};
    char tb[256];
    if (t && llama_chat_apply_template(t, &probe, 1, true, tb, sizeof tb) >= 0) {
        e->tmpl = vf_strdup(t);
        if (!e->tmpl)
            return VF_ERR_NOMEM;
    } else {
        vf_log(VF_LOG_WARN, "llm", "%s: %s; using ChatML", e->path,
               t ? "llama.cpp does not know the model's chat template" : "the model has no chat template");
    }
    llama_token bos = llama_vocab_bos(e->vocab);
    if (bos != LLAMA_TOKEN_NULL) {
        int32_t n = llama_token_to_piece(e->vocab, bos, e->bos_text, sizeof e->bos_text - 1, 0, true);
        e->bos_text[n > 0 ? n : 0] = '\0';
    }

    e->slots = vf_calloc(e->n_slots, sizeof *e->slots);
    e->batch_jobs = vf_calloc(e->n_slots, sizeof *e->batch_jobs);
    if (!e->slots || !e->batch_jobs)
        return VF_ERR_NOMEM;
    /* Prompt cache: a slot keeps its cells when its conversation ends and
     * the next request reuses the longest common prefix (the earlier turns
     * of a conversation). Not for sliding-window or recurrent memories,
     * whose cells cannot be cut at any position. */
    e->prompt_cache = p->prompt_cache && llama_model_n_swa(e->model) == 0 && !llama_model_is_recurrent(e->model) &&
                      !llama_model_is_hybrid(e->model);
    for (uint32_t i = 0; i < e->n_slots; i++)
        if (!(e->slots[i].toks = vf_calloc(e->n_ctx_seq ? e->n_ctx_seq : 1, sizeof(llama_token))))
            return VF_ERR_NOMEM;
    e->batch = llama_batch_init((int32_t)p->n_batch, 0, 1);

    if (p->warmup) {
        llama_token tok = bos != LLAMA_TOKEN_NULL ? bos : 0;
        struct llama_batch b = llama_batch_get_one(&tok, 1);
        if (llama_decode(e->ctx, b) < 0)
            vf_log(VF_LOG_WARN, "llm", "warm-up decode failed");
        llama_memory_clear(llama_get_memory(e->ctx), true);
        llama_synchronize(e->ctx);
    }
    return VF_OK;
}

/* ---- slots ---- */

/* Clear a slot for its next use, keeping its token buffer. */
static void slot_reset(struct slot *s, int32_t n_kept) {
    llama_token *toks = s->toks;
    memset(s, 0, sizeof *s);
    s->toks = toks;
    s->n_kept = n_kept;
    s->i_batch = -1;
}

/* End the slot's conversation, then finish its job with f (err for
 * errors): in that order, so a consumer that sees the end also sees the
 * slot free. A conversation that ended normally keeps its cells for the
 * prompt cache (they stay within the slot's share); any other end drops
 * them, as a failed or aborted batch may have left them half written. */
static void slot_release(struct engine *e, struct slot *s, enum vf_finish f, const struct vf_llm_error *err) {
    bool keep = e->prompt_cache && (f == VF_FINISH_STOP || f == VF_FINISH_LENGTH);
    int32_t kept = keep ? s->n_past : 0;
    if (!keep)
        llama_memory_seq_rm(llama_get_memory(e->ctx), (llama_seq_id)(s - e->slots), -1, -1);
    pthread_mutex_lock(&e->mu);
    e->n_active--;
    e->kv_reserved -= (uint64_t)(s->p->n_prompt + s->p->max_new);
    e->kv_used -= (uint64_t)(s->n_past - kept);
    pthread_mutex_unlock(&e->mu);
    vf__job_finish(s->p->job, f, err);
    vf__textfilter_free(&s->tf);
    vf_free(s->obuf);
    pending_free(s->p);
    slot_reset(s, kept);
    s->t_idle = now_s();
}

/* Push the filter's output and, when f is set, finish the job. */
static void slot_emit(struct engine *e, struct slot *s, const char *piece, size_t n, enum vf_finish f) {
    s->on = 0;
    int r = vf__textfilter_feed(&s->tf, piece, n, f != VF_FINISH_NONE, &s->obuf, &s->on, &s->ocap);
    if (r == 1)
        f = VF_FINISH_STOP;
    if (s->on && vf__job_push(s->p->job, s->obuf, s->on))
        r = VF_ERR_NOMEM;
    vf__job_count(s->p->job, s->p->n_prompt, s->n_gen);
    if (r < 0) {
        struct vf_llm_error err = {.kind = VF_LLM_EINTERNAL};
        vf_strlcpy(err.message, "out of memory while generating", sizeof err.message);
        slot_release(e, s, VF_FINISH_ERROR, &err);
        return;
    }
    if (f != VF_FINISH_NONE) {
        slot_release(e, s, f, NULL);
    }
}

static void slot_fail(struct engine *e, struct slot *s, enum vf_llm_err kind, const char *msg) {
    struct vf_llm_error err = {.kind = kind};
    vf_strlcpy(err.message, msg, sizeof err.message);
    slot_release(e, s, VF_FINISH_ERROR, &err);
}

static void batch_add(struct llama_batch *b, llama_token t, llama_pos pos, llama_seq_id seq, bool logits) {
    int i = b->n_tokens++;
    b->token[i] = t;
    b->pos[i] = pos;
    b->n_seq_id[i] = 1;
    b->seq_id[i][0] = seq;
    b->logits[i] = logits;
}

/* One decode step over every active slot. */
static void step(struct engine *e) {
    struct llama_batch *b = &e->batch;
    int32_t cap = (int32_t)e->p.n_batch;
    b->n_tokens = 0;
    e->n_batch_jobs = 0;
    /* generating slots first: one token each keeps their latency flat */
    for (uint32_t i = 0; i < e->n_slots; i++) {
        struct slot *s = &e->slots[i];
        s->n_fed = 0;
        s->i_batch = -1;
        if (!s->p)
            continue;
        if (vf__job_cancelled(s->p->job)) {
            slot_release(e, s, VF_FINISH_CANCELLED, NULL);
            continue;
        }
        if (s->i_prompt < s->p->n_prompt || b->n_tokens >= cap)
            continue;
        s->i_batch = b->n_tokens;
        s->toks[s->n_past] = s->last;
        batch_add(b, s->last, s->n_past, (llama_seq_id)i, true);
        s->n_fed = 1;
        e->batch_jobs[e->n_batch_jobs++] = s->p->job;
    }
    /* then prompt chunks with what room is left */
    for (uint32_t i = 0; i < e->n_slots && b->n_tokens < cap; i++) {
        struct slot *s = &e->slots[i];
        if (!s->p || s->i_prompt >= s->p->n_prompt)
            continue;
        int32_t k = VF_MIN(s->p->n_prompt - s->i_prompt, cap - b->n_tokens);
        for (int32_t t = 0; t < k; t++) {
            bool last = s->i_prompt + t == s->p->n_prompt - 1;
            if (last)
                s->i_batch = b->n_tokens;
            s->toks[s->n_past + t] = s->p->prompt[s->i_prompt + t];
            batch_add(b, s->p->prompt[s->i_prompt + t], s->n_past + t, (llama_seq_id)i, last);
        }
        s->i_prompt += k;
        s->n_fed = k;
        e->batch_jobs[e->n_batch_jobs++] = s->p->job;
    }
    if (b->n_tokens == 0)
        return;

    int ret = llama_decode(e->ctx, *b);
    e->n_batch_jobs = 0;
    if (ret != 0) {
        /* 2: aborted (all cancelled or shutdown); 1: no KV slot (cannot
         * happen within the budget); <0: llama.cpp failed. The sequences
         * in the batch may hold a part of it: drop them whole. */
        for (uint32_t i = 0; i < e->n_slots; i++) {
            struct slot *s = &e->slots[i];
            if (!s->p || !s->n_fed)
                continue;
            if (vf__job_cancelled(s->p->job) || atomic_load(&e->abort_all)) {
                slot_release(e, s, VF_FINISH_CANCELLED, NULL);
            } else {
                char msg[128];
                snprintf(msg, sizeof msg, "llama_decode failed (%d)", ret);
                vf_log(VF_LOG_ERROR, "llm", "%s", msg);
                slot_fail(e, s, VF_LLM_EINTERNAL, msg);
            }
        }
        return;
    }
    uint64_t fed = 0;
    for (uint32_t i = 0; i < e->n_slots; i++) {
        struct slot *s = &e->slots[i];
        if (!s->p)
            continue;
        s->n_past += s->n_fed;
        fed += (uint64_t)s->n_fed;
    }
    pthread_mutex_lock(&e->mu);
    e->kv_used += fed;
    pthread_mutex_unlock(&e->mu);

    for (uint32_t i = 0; i < e->n_slots; i++) {
        struct slot *s = &e->slots[i];
        if (!s->p || s->i_batch < 0)
            continue;
        llama_token tok = llama_sampler_sample(s->p->smpl, e->ctx, s->i_batch);
        double t = now_s();
        if (s->n_gen == 0) {
            if (e->p.hooks.ttft)
                e->p.hooks.ttft(t - s->p->t_submit, e->p.hooks.user_data);
        } else if (e->p.hooks.itl) {
            e->p.hooks.itl(t - s->t_last, e->p.hooks.user_data);
        }
        s->t_last = t;
        s->n_gen++;
        if (llama_vocab_is_eog(e->vocab, tok)) {
            slot_emit(e, s, "", 0, VF_FINISH_STOP);
            continue;
        }
        char piece[256];
        int32_t n = llama_token_to_piece(e->vocab, tok, piece, sizeof piece, 0, false);
        if (n < 0)
            n = 0;
        s->last = tok;
        bool full = s->n_gen >= s->p->max_new;
        slot_emit(e, s, piece, (size_t)n, full ? VF_FINISH_LENGTH : VF_FINISH_NONE);
    }
}

/* Move queued requests into free slots; expire those that waited too long.
 * Called with e->mu held. */
static void admit(struct engine *e) {
    double t = now_s();
    struct pending **pp = &e->q_head, *last = NULL;
    while (*pp) {
        struct pending *p = *pp;
        bool expired = e->p.queue_timeout_ms > 0 && t - p->t_submit > e->p.queue_timeout_ms / 1000.0;
        bool cancelled = vf__job_cancelled(p->job);
        /* The free slot whose kept cells share the longest prefix with the
         * prompt, when that prefix is at least half of them (the same
         * conversation, a turn later); otherwise the slot idle the longest,
         * so that a prompt which shares only the chat template's first
         * tokens does not wipe another conversation's cells. */
        struct slot *free_slot = NULL;
        int32_t lcp = 0, best = 0;
        if (!expired && !cancelled && e->n_active < e->n_slots)
            for (uint32_t i = 0; i < e->n_slots; i++) {
                struct slot *c = &e->slots[i];
                if (c->p)
                    continue;
                int32_t k = 0;
                while (k < c->n_kept && k < p->n_prompt && c->toks[k] == p->prompt[k])
                    k++;
                int32_t score = 2 * k >= c->n_kept ? k : 0;
                if (!free_slot || score > best || (score == best && c->t_idle < free_slot->t_idle)) {
                    free_slot = c;
                    best = score;
                    lcp = k;
                }
            }
        if (!expired && !cancelled && !free_slot) {
            last = p;
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        e->n_queued--;
        if (free_slot) {
            struct slot *s = free_slot;
            /* keep the common prefix, but decode at least the prompt's last
             * token: its logits give the first new token */
            int32_t keep = VF_MIN(lcp, p->n_prompt - 1);
            if (keep < 0)
                keep = 0;
            if (keep < s->n_kept) {
                llama_seq_id seq = (llama_seq_id)(s - e->slots);
                if (!llama_memory_seq_rm(llama_get_memory(e->ctx), seq, keep, -1)) {
                    llama_memory_seq_rm(llama_get_memory(e->ctx), seq, -1, -1);
                    keep = 0;
                }
                e->kv_used -= (uint64_t)(s->n_kept - keep);
            }
            slot_reset(s, 0);
            s->p = p;
            s->n_past = s->i_prompt = keep;
            vf__job_cached(p->job, keep);
            vf__textfilter_init(&s->tf, (const char *const *)p->stop, p->n_stop);
            e->n_active++;
            e->kv_reserved += (uint64_t)(p->n_prompt + p->max_new);
            p->next = NULL;
            vf__job_start(p->job, p->n_prompt);
        } else if (cancelled) {
            pthread_mutex_unlock(&e->mu);
            fail_pending(p, VF_FINISH_CANCELLED, VF_LLM_OK, NULL);
            pthread_mutex_lock(&e->mu);
        } else {
            pthread_mutex_unlock(&e->mu);
            fail_pending(p, VF_FINISH_ERROR, VF_LLM_EUNAVAIL,
                         "the server is busy: the request waited too long for a free slot");
            pthread_mutex_lock(&e->mu);
        }
    }
    e->q_tail = last;
}

static void cancel_everything(struct engine *e) {
    pthread_mutex_lock(&e->mu);
    struct pending *q = e->q_head;
    e->q_head = e->q_tail = NULL;
    e->n_queued = 0;
    pthread_mutex_unlock(&e->mu);
    while (q) {
        struct pending *n = q->next;
        fail_pending(q, VF_FINISH_ERROR, VF_LLM_EUNAVAIL, "the server is shutting down");
        q = n;
    }
    for (uint32_t i = 0; e->slots && i < e->n_slots; i++) {
        struct slot *s = &e->slots[i];
        if (s->p) {
            slot_release(e, s, VF_FINISH_CANCELLED, NULL);
        }
    }
}

static void *engine_main(void *arg) {
    struct engine *e = arg;
    char err[512] = "";
    double t0 = now_s();
    int rc = load_model(e, err, sizeof err);
    if (rc) {
        vf_log(VF_LOG_ERROR, "llm", "%s", err[0] ? err : vf_status_str(rc));
        set_state(e, VF_LLM_FAILED, err[0] ? err : vf_status_str(rc));
    } else {
        vf_log(VF_LOG_INFO, "llm", "%s ready in %.0f ms: %u slots x %u tokens of context (%u KV cells)",
               e->model_id, (now_s() - t0) * 1e3, e->n_slots, e->n_ctx_seq, e->n_ctx);
        set_state(e, VF_LLM_READY, NULL);
    }
    for (;;) {
        pthread_mutex_lock(&e->mu);
        if (e->stop) {
            pthread_mutex_unlock(&e->mu);
            break;
        }
        if (e->state == VF_LLM_READY)
            admit(e);
        if (e->n_active == 0) {
            struct timespec ts;
            deadline_in(&ts, 50);
            pthread_cond_timedwait(&e->cv, &e->mu, &ts);
            pthread_mutex_unlock(&e->mu);
            continue;
        }
        pthread_mutex_unlock(&e->mu);
        step(e);
    }
    cancel_everything(e);
    return NULL;
}

/* ---- vtable ---- */

static int template_prompt(struct engine *e, const struct vf_chat_req *r, char **out, size_t *n_out) {
    struct llama_chat_message *m = vf_calloc((size_t)r->n_msgs, sizeof *m);
    if (!m)
        return VF_ERR_NOMEM;
    size_t total = 0;
    for (int i = 0; i < r->n_msgs; i++) {
        m[i].role = r->msgs[i].role;
        m[i].content = r->msgs[i].content;
        total += strlen(r->msgs[i].content) + strlen(r->msgs[i].role) + 64;
    }
    const char *t = e->tmpl ? e->tmpl : "chatml";
    size_t cap = total * 2 + 256;
    char *buf = NULL;
    int rc = VF_OK;
    for (int tries = 0; tries < 2; tries++) {
        if (cap > INT32_MAX) {
            rc = VF_ERR_TOOBIG;
            break;
        }
        vf_free(buf);
        buf = vf_malloc(cap);
        if (!buf) {
            rc = VF_ERR_NOMEM;
            break;
        }
        int32_t n = llama_chat_apply_template(t, m, (size_t)r->n_msgs, true, buf, (int32_t)cap);
        if (n < 0) {
            rc = VF_ERR_UNSUPPORTED;
            break;
        }
        if ((size_t)n < cap) {
            buf[n] = '\0';
            *n_out = (size_t)n;
            break;
        }
        cap = (size_t)n + 1;
    }
    vf_free(m);
    if (rc)
        vf_free(buf);
    else
        *out = buf;
    return rc;
}

static struct llama_sampler *make_sampler(struct engine *e, const struct vf_gen_params *g) {
    struct llama_sampler_chain_params sp = llama_sampler_chain_default_params();
    sp.no_perf = true;
    struct llama_sampler *c = llama_sampler_chain_init(sp);
    if (!c)
        return NULL;
    if (g->n_logit_bias > 0) {
        llama_logit_bias *lb = vf_calloc((size_t)g->n_logit_bias, sizeof *lb);
        if (!lb) {
            llama_sampler_free(c);
            return NULL;
        }
        for (int i = 0; i < g->n_logit_bias; i++) {
            lb[i].token = g->logit_bias[i].token;
            lb[i].bias = g->logit_bias[i].bias;
        }
        llama_sampler_chain_add(c, llama_sampler_init_logit_bias(e->n_vocab, g->n_logit_bias, lb));
        vf_free(lb);
    }
    if (g->frequency_penalty != 0.0f || g->presence_penalty != 0.0f)
        llama_sampler_chain_add(c, llama_sampler_init_penalties(e->n_vocab, 64, 1.0f, g->frequency_penalty,
                                                                g->presence_penalty));
    if (g->temperature <= 0.0f) {
        llama_sampler_chain_add(c, llama_sampler_init_greedy());
    } else {
        /* OpenAI's order: temperature scales the logits, then nucleus */
        llama_sampler_chain_add(c, llama_sampler_init_temp(g->temperature));
        if (g->top_p < 1.0f)
            llama_sampler_chain_add(c, llama_sampler_init_top_p(g->top_p, 1));
        llama_sampler_chain_add(c, llama_sampler_init_dist(g->has_seed ? g->seed : LLAMA_DEFAULT_SEED));
    }
    return c;
}

static void set_err(struct vf_llm_error *err, enum vf_llm_err kind, int retry, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_err(struct vf_llm_error *err, enum vf_llm_err kind, int retry, const char *fmt, ...) {
    memset(err, 0, sizeof *err);
    err->kind = kind;
    err->retry_after_s = retry;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

static int eng_submit(void *impl, const struct vf_chat_req *r, struct vf_job **out,
                      struct vf_llm_error *err) {
    struct engine *e = impl;
    *out = NULL;
    pthread_mutex_lock(&e->mu);
    enum vf_llm_state st = e->state;
    bool admitting = e->admitting;
    pthread_mutex_unlock(&e->mu);
    if (st != VF_LLM_READY || !admitting) {
        set_err(err, VF_LLM_EUNAVAIL, st == VF_LLM_LOADING ? 5 : 30, "the model is %s",
                !admitting ? "shutting down" : st == VF_LLM_LOADING ? "still loading" : "not available");
        return VF_ERR_UNSUPPORTED;
    }
    if (r->n_msgs <= 0) {
        set_err(err, VF_LLM_EINVAL, 0, "messages must not be empty");
        return VF_ERR_ARG;
    }
    for (int i = 0; i < r->gen.n_logit_bias; i++)
        if (r->gen.logit_bias[i].token < 0 || r->gen.logit_bias[i].token >= e->n_vocab) {
            set_err(err, VF_LLM_EINVAL, 0, "logit_bias: token %d is not in the vocabulary (0..%d)",
                    r->gen.logit_bias[i].token, e->n_vocab - 1);
            return VF_ERR_ARG;
        }
    char *text = NULL;
    size_t n_text = 0;
    int rc = template_prompt(e, r, &text, &n_text);
    if (rc) {
        set_err(err, rc == VF_ERR_NOMEM ? VF_LLM_EINTERNAL : VF_LLM_EINVAL, 0,
                rc == VF_ERR_NOMEM ? "out of memory" : "the chat template could not be applied");
        return rc;
    }
    /* BOS: let llama.cpp add it unless the template already wrote it */
    bool add_special = !(e->bos_text[0] && vf_str_starts(text, e->bos_text));
    struct pending *p = vf_calloc(1, sizeof *p);
    int32_t n_max = (int32_t)VF_MIN(n_text + 8, (size_t)INT32_MAX / 2);
    if (p)
        p->prompt = vf_malloc((size_t)n_max * sizeof *p->prompt);
    if (!p || !p->prompt || n_text > (size_t)INT32_MAX / 2) {
        vf_free(text);
        if (p)
            vf_free(p->prompt);
        vf_free(p);
        set_err(err, VF_LLM_EINTERNAL, 0, "out of memory");
        return VF_ERR_NOMEM;
    }
    int32_t n_tok = llama_tokenize(e->vocab, text, (int32_t)n_text, p->prompt, n_max, add_special, true);
    vf_free(text);
    if (n_tok <= 0) {
        vf_free(p->prompt);
        vf_free(p);
        set_err(err, VF_LLM_EINVAL, 0, "the prompt could not be tokenized");
        return VF_ERR_FORMAT;
    }
    p->n_prompt = n_tok;
    if ((uint32_t)n_tok >= e->n_ctx_seq) {
        set_err(err, VF_LLM_ECONTEXT, 0,
                "This model's maximum context length is %u tokens. However, your messages resulted in "
                "%d tokens. Please reduce the length of the messages.", e->n_ctx_seq, n_tok);
        vf_free(p->prompt);
        vf_free(p);
        return VF_ERR_TOOBIG;
    }
    int32_t room = (int32_t)e->n_ctx_seq - n_tok;
    p->max_new = r->gen.max_tokens < 0 ? room : VF_MIN(r->gen.max_tokens, room);
    if (p->max_new < 1)
        p->max_new = 1;
    p->smpl = make_sampler(e, &r->gen);
    for (int i = 0; i < r->gen.n_stop && p->smpl; i++) {
        p->stop[i] = vf_strdup(r->gen.stop[i]);
        if (!p->stop[i])
            break;
        p->n_stop++;
    }
    p->job = p->smpl && p->n_stop == r->gen.n_stop ? vf__job_new() : NULL;
    if (!p->job) {
        p->job = NULL;
        pending_free(p);
        set_err(err, VF_LLM_EINTERNAL, 0, "out of memory");
        return VF_ERR_NOMEM;
    }
    p->t_submit = now_s();

    pthread_mutex_lock(&e->mu);
    /* queued requests that will find a free slot do not count against the bound */
    uint32_t free_slots = e->n_slots - e->n_active;
    if (!e->admitting || e->n_queued >= e->p.queue_max + free_slots) {
        bool shutting = !e->admitting;
        pthread_mutex_unlock(&e->mu);
        vf_job_release(p->job); /* the consumer's reference: never handed out */
        pending_free(p);
        if (shutting)
            set_err(err, VF_LLM_EUNAVAIL, 30, "the server is shutting down");
        else
            set_err(err, VF_LLM_EBUSY, 1, "all %u conversation slots are busy and %u requests are "
                    "waiting; retry later", e->n_slots, e->n_queued);
        return VF_ERR_TOOBIG;
    }
    struct vf_job *job = p->job; /* p belongs to the engine thread once queued */
    if (e->q_tail)
        e->q_tail->next = p;
    else
        e->q_head = p;
    e->q_tail = p;
    e->n_queued++;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    *out = job;
    return VF_OK;
}

static void eng_status(void *impl, struct vf_llm_status *st) {
    struct engine *e = impl;
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&e->mu);
    st->state = e->state;
    vf_strlcpy(st->why, e->why, sizeof st->why);
    vf_strlcpy(st->backend, "llama.cpp", sizeof st->backend);
    vf_strlcpy(st->model_id, e->model_id, sizeof st->model_id);
    vf_strlcpy(st->location, e->path, sizeof st->location);
    st->created = e->created;
    st->n_ctx = e->n_ctx;
    st->n_ctx_seq = e->n_ctx_seq;
    st->n_slots = e->n_slots;
    st->n_active = e->n_active;
    st->n_queued = e->n_queued;
    st->queue_max = e->p.queue_max;
    st->kv_cells_used = e->kv_used;
    st->kv_cells_reserved = e->kv_reserved;
    static const char *kinds[] = {"model", "kv", "compute", "output"};
    for (int i = 0; i < e->bufs.n_bufs && i < VF_LLM_MAX_BUFS; i++) {
        vf_strlcpy(st->bufs[i].device, e->bufs.bufs[i].device, sizeof st->bufs[i].device);
        vf_strlcpy(st->bufs[i].kind, kinds[e->bufs.bufs[i].kind], sizeof st->bufs[i].kind);
        st->bufs[i].bytes = e->bufs.bufs[i].bytes;
        st->n_bufs++;
    }
    bool loaded = e->state != VF_LLM_LOADING;
    pthread_mutex_unlock(&e->mu);
    if (loaded && vf_llama_rt_init() == VF_OK)
        for (size_t i = 0; i < ggml_backend_dev_count() && st->n_devs < 8; i++) {
            ggml_backend_dev_t d = ggml_backend_dev_get(i);
            size_t fr = 0, tot = 0;
            ggml_backend_dev_memory(d, &fr, &tot);
            vf_strlcpy(st->devs[st->n_devs].name, ggml_backend_dev_name(d), sizeof st->devs[0].name);
            vf_strlcpy(st->devs[st->n_devs].description, ggml_backend_dev_description(d),
                       sizeof st->devs[0].description);
            st->devs[st->n_devs].free_bytes = fr;
            st->devs[st->n_devs].total_bytes = tot;
            st->n_devs++;
        }
}

static void eng_cancel_all(void *impl) {
    struct engine *e = impl;
    pthread_mutex_lock(&e->mu);
    e->admitting = false;
    for (uint32_t i = 0; e->slots && i < e->n_slots; i++)
        if (e->slots[i].p)
            vf_job_cancel(e->slots[i].p->job);
    for (struct pending *q = e->q_head; q; q = q->next)
        vf_job_cancel(q->job);
    if (e->state == VF_LLM_READY)
        e->state = VF_LLM_STOPPING;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static void eng_free(void *impl) {
    struct engine *e = impl;
    if (!e)
        return;
    if (e->th_started) {
        pthread_mutex_lock(&e->mu);
        e->stop = true;
        e->admitting = false;
        pthread_cond_broadcast(&e->cv);
        pthread_mutex_unlock(&e->mu);
        atomic_store(&e->abort_all, true);
        pthread_join(e->th, NULL);
    }
    if (e->batch.token)
        llama_batch_free(e->batch);
    if (e->ctx)
        llama_free(e->ctx);
    if (e->model)
        llama_model_free(e->model);
    for (uint32_t i = 0; e->slots && i < e->n_slots; i++)
        vf_free(e->slots[i].toks);
    vf_free(e->slots);
    vf_free(e->batch_jobs);
    vf_free(e->tmpl);
    vf_free(e->path);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    pthread_cond_destroy(&e->state_cv);
    vf_free(e);
}

static const struct vf_llm_ops engine_ops = {eng_submit, eng_status, eng_cancel_all, eng_free};

void vf_engine_default_params(struct vf_engine_params *p) {
    memset(p, 0, sizeof *p);
    p->n_gpu_layers = -1;
    p->n_ctx = 4096;
    p->n_batch = 2048;
    p->n_ubatch = 512;
    p->n_seq_max = 1;
    p->type_k = p->type_v = 1; /* GGML_TYPE_F16 */
    p->flash_attn = -1;
    p->queue_max = 16;
    p->queue_timeout_ms = 60000;
    p->mmap = true;
    p->offload_kqv = true;
    p->warmup = true;
    p->prompt_cache = true;
}

int vf_engine_open(const struct vf_engine_params *p, struct vf_llm **out, char *err, size_t errlen) {
    *out = NULL;
    if (!p->model_path || !p->n_seq_max || !p->n_batch || p->n_ctx < p->n_seq_max) {
        vf_errf(err, errlen, "invalid engine parameters");
        return VF_ERR_ARG;
    }
    struct stat sb;
    if (stat(p->model_path, &sb) != 0) {
        vf_errf(err, errlen, "cannot open %s: %s", p->model_path, strerror(errno));
        return VF_ERR_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        vf_errf(err, errlen, "cannot open %s: not a regular file", p->model_path);
        return VF_ERR_IO;
    }
    struct engine *e = vf_calloc(1, sizeof *e);
    struct vf_llm *l = vf_calloc(1, sizeof *l);
    if (!e || !l || !(e->path = vf_strdup(p->model_path))) {
        vf_free(e ? e->path : NULL);
        vf_free(e);
        vf_free(l);
        vf_errf(err, errlen, "out of memory");
        return VF_ERR_NOMEM;
    }
    e->p = *p;
    e->p.model_path = NULL;
    e->created = (int64_t)sb.st_mtime;
    if (p->model_id && p->model_id[0]) {
        vf_strlcpy(e->model_id, p->model_id, sizeof e->model_id);
    } else {
        const char *b = strrchr(p->model_path, '/');
        vf_strlcpy(e->model_id, b ? b + 1 : p->model_path, sizeof e->model_id);
        size_t n = strlen(e->model_id);
        if (n > 5 && !strcmp(e->model_id + n - 5, ".gguf"))
            e->model_id[n - 5] = '\0';
    }
    pthread_mutex_init(&e->mu, NULL);
    cond_init_mono(&e->cv);
    cond_init_mono(&e->state_cv);
    atomic_init(&e->abort_all, false);
    e->state = VF_LLM_LOADING;
    e->admitting = true;
    l->ops = &engine_ops;
    l->impl = e;
    if (pthread_create(&e->th, NULL, engine_main, e) != 0) {
        vf_errf(err, errlen, "cannot start the engine thread");
        vf_llm_free(l);
        return VF_ERR_BACKEND;
    }
    e->th_started = true;
    *out = l;
    return VF_OK;
}

enum vf_llm_state vf_llm_wait_ready(struct vf_llm *l, int timeout_ms) {
    struct vf_llm_status st;
    double end = now_s() + timeout_ms / 1000.0;
    for (;;) {
        vf_llm_status(l, &st);
        if (st.state != VF_LLM_LOADING || now_s() >= end)
            return st.state;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}
