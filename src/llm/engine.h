/* engine.h - the LLM stage: chat requests in, streamed text out.
 *
 * Two implementations sit behind one small vtable (struct vf_llm): the local
 * engine in engine.c, which runs llama.cpp in-process with several
 * conversations in ONE llama_context (one KV sequence per slot, one batched
 * llama_decode per step for all of them), and the remote client in remote.c,
 * which relays an OpenAI-compatible server's stream. The HTTP server
 * (src/server/) and later the voice loop only see this header.
 *
 * A request becomes a job. The producer (the engine thread, or the remote
 * client's thread) appends text to the job and finishes it; the consumer (an
 * HTTP handler) waits on it, takes the text, and may cancel it at any time.
 * Jobs are reference counted: both sides release their reference. Design
 * notes: docs/internals/server.md. */
#ifndef VF_LLM_ENGINE_H
#define VF_LLM_ENGINE_H

#include "../core/vf.h"

#define VF_CHAT_MAX_STOP 4          /* OpenAI's limit on `stop` */
#define VF_CHAT_MAX_STOP_BYTES 256  /* per stop string */
#define VF_CHAT_MAX_LOGIT_BIAS 300  /* OpenAI's limit on `logit_bias` entries */

/* ==== Requests ============================================================ */

struct vf_chat_msg {
    char *role;       /* "system", "user", "assistant" (developer is mapped to system) */
    char *content;    /* text parts joined; owned */
};

struct vf_logit_bias {
    int32_t token;
    float bias;       /* -100 .. 100 */
};

/* Sampling and length settings of one request. vf_gen_params_default() gives
 * OpenAI's defaults. */
struct vf_gen_params {
    int32_t max_tokens;           /* -1: up to the conversation's context */
    float temperature;            /* 0: greedy */
    float top_p;
    float frequency_penalty;      /* -2 .. 2 */
    float presence_penalty;       /* -2 .. 2 */
    uint32_t seed;
    bool has_seed;
    int n_stop;
    char *stop[VF_CHAT_MAX_STOP]; /* owned */
    int n_logit_bias;
    struct vf_logit_bias *logit_bias; /* owned */
};

struct vf_chat_req {
    char model[256];
    struct vf_chat_msg *msgs;     /* owned */
    int n_msgs;
    struct vf_gen_params gen;
    bool stream;
    bool include_usage;           /* stream_options.include_usage */
};

void vf_gen_params_default(struct vf_gen_params *g);
/* Free what a request owns (not r itself); r is zeroed. NULL is a no-op. */
void vf_chat_req_free(struct vf_chat_req *r);

/* ==== Errors ============================================================== */

/* Why a request was refused or failed; the server maps these to HTTP. */
enum vf_llm_err {
    VF_LLM_OK = 0,
    VF_LLM_EINVAL,      /* bad request (400) */
    VF_LLM_ECONTEXT,    /* the prompt does not fit the context (400 context_length_exceeded) */
    VF_LLM_EBUSY,       /* every slot busy and the queue full (429 + Retry-After) */
    VF_LLM_EUNAVAIL,    /* loading, failed, shutting down, or waited too long (503 + Retry-After) */
    VF_LLM_EUPSTREAM,   /* the remote server failed (502, or its own status) */
    VF_LLM_EINTERNAL,   /* llama.cpp failed (500) */
};

struct vf_llm_error {
    enum vf_llm_err kind;
    int upstream_status;      /* VF_LLM_EUPSTREAM: the remote's HTTP status, 0 if none */
    int retry_after_s;        /* EBUSY / EUNAVAIL: a hint for Retry-After */
    char message[512];
};

/* ==== Jobs ================================================================ */

enum vf_finish {
    VF_FINISH_NONE = 0,       /* still running */
    VF_FINISH_STOP,           /* end-of-generation token or a stop string */
    VF_FINISH_LENGTH,         /* max_tokens or the context reached */
    VF_FINISH_CANCELLED,      /* vf_job_cancel() or shutdown */
    VF_FINISH_ERROR,          /* see vf_job_out.error */
};

const char *vf_finish_name(enum vf_finish f); /* "stop", "length", ... */

struct vf_job;

/* What vf_job_take() hands over. text is owned by the caller (vf_free). */
struct vf_job_out {
    char *text;               /* new text since the last take (valid UTF-8), or NULL */
    size_t len;
    bool started;             /* the job left the queue (or the remote answered) */
    enum vf_finish finish;
    int32_t prompt_tokens;
    int32_t cached_tokens;    /* of prompt_tokens, those whose KV cells were kept from before */
    int32_t completion_tokens;
    struct vf_llm_error error; /* VF_FINISH_ERROR */
};

/* Wait until the job has news (text, start, finish) or timeout_ms passes;
 * returns true when there is news. Called by the consumer only. */
bool vf_job_wait(struct vf_job *j, int timeout_ms);
/* Take the news (see struct vf_job_out). Returns VF_OK or VF_ERR_NOMEM. */
int vf_job_take(struct vf_job *j, struct vf_job_out *out);
/* Ask the producer to stop; it finishes the job with VF_FINISH_CANCELLED
 * and frees the job's KV cells at its next step. Safe from any thread. */
void vf_job_cancel(struct vf_job *j);
/* Drop the caller's reference. NULL is a no-op. */
void vf_job_release(struct vf_job *j);

/* ---- producer side (engine.c, remote.c, test doubles) ---- */

/* A new job with two references (producer and consumer). NULL on OOM. */
struct vf_job *vf__job_new(void);
bool vf__job_cancelled(const struct vf_job *j);
void vf__job_start(struct vf_job *j, int32_t prompt_tokens);
/* Prompt tokens served from cache (set before or after start). */
void vf__job_cached(struct vf_job *j, int32_t cached_tokens);
/* Append text (already valid UTF-8). Returns VF_ERR_NOMEM or VF_OK. */
int vf__job_push(struct vf_job *j, const char *text, size_t n);
void vf__job_count(struct vf_job *j, int32_t prompt_tokens, int32_t completion_tokens);
void vf__job_finish(struct vf_job *j, enum vf_finish f, const struct vf_llm_error *err);

/* ==== The LLM stage ======================================================= */

enum vf_llm_state { VF_LLM_LOADING = 0, VF_LLM_READY, VF_LLM_FAILED, VF_LLM_STOPPING };
const char *vf_llm_state_name(enum vf_llm_state s);

#define VF_LLM_MAX_BUFS 16

/* A snapshot of the stage for /health and /metrics. */
struct vf_llm_status {
    enum vf_llm_state state;
    char why[256];              /* FAILED: the reason */
    char backend[16];           /* "llama.cpp" or "remote" */
    char model_id[256];         /* the id served in /v1/models */
    char location[512];         /* model file, or upstream URL */
    int64_t created;            /* unix time of the model file / load */
    uint32_t n_ctx;             /* total KV cells */
    uint32_t n_ctx_seq;         /* cells one conversation may use */
    uint32_t n_slots;           /* parallel sequences */
    uint32_t n_active;          /* slots generating */
    uint32_t n_queued;          /* requests waiting for a slot */
    uint32_t queue_max;
    uint64_t kv_cells_used;     /* cells holding tokens now */
    uint64_t kv_cells_reserved; /* cells promised to running requests (prompt + max_tokens) */
    int n_devs;                 /* devices ggml sees, with their memory now */
    struct {
        char name[32];          /* CPU, CUDA0 ... */
        char description[96];
        uint64_t free_bytes, total_bytes;
    } devs[8];
    int n_bufs;
    struct {
        char device[32];        /* llama.cpp's buffer name: CPU, CUDA0, CUDA_Host ... */
        char kind[12];          /* model, kv, compute, output */
        uint64_t bytes;
    } bufs[VF_LLM_MAX_BUFS];
};

/* Latency observers, called on the producer's thread (keep them cheap). */
struct vf_llm_hooks {
    void (*ttft)(double seconds, void *user_data);       /* submit -> first token */
    void (*itl)(double seconds, void *user_data);        /* between two tokens of a job */
    void *user_data;
};

struct vf_llm_ops {
    /* Validate, template and tokenize req, then queue it. On success *out
     * is a job holding the caller's reference; on failure err says why and
     * no job exists. req is not kept. */
    int (*submit)(void *impl, const struct vf_chat_req *req, struct vf_job **out,
                  struct vf_llm_error *err);
    void (*status)(void *impl, struct vf_llm_status *st);
    /* Stop admitting; cancel every queued and running job. */
    void (*cancel_all)(void *impl);
    void (*free)(void *impl);
};

struct vf_llm {
    const struct vf_llm_ops *ops;
    void *impl;
};

static inline int vf_llm_submit(struct vf_llm *l, const struct vf_chat_req *r, struct vf_job **out,
                                struct vf_llm_error *err) {
    return l->ops->submit(l->impl, r, out, err);
}
static inline void vf_llm_status(struct vf_llm *l, struct vf_llm_status *st) {
    l->ops->status(l->impl, st);
}
static inline void vf_llm_cancel_all(struct vf_llm *l) { l->ops->cancel_all(l->impl); }
/* Free the stage; every job must have been released by its consumer or will
 * be cancelled. NULL is a no-op. */
void vf_llm_free(struct vf_llm *l);

/* ==== The local llama.cpp engine ========================================= */

struct vf_engine_params {
    const char *model_path;
    const char *model_id;       /* served name; NULL: the file name without .gguf */
    int32_t n_gpu_layers;       /* -1: all */
    uint32_t n_ctx;             /* total KV cells, all sequences (the planner's n_ctx) */
    uint32_t n_batch;
    uint32_t n_ubatch;
    uint32_t n_seq_max;         /* parallel conversations (slots) */
    int type_k, type_v;         /* ggml types */
    int flash_attn;             /* -1 auto, 0 off, 1 on */
    int32_t n_threads;          /* 0: half the online CPUs, at least 1 */
    uint32_t queue_max;         /* requests that may wait for a slot; more get EBUSY */
    int queue_timeout_ms;       /* a queued request waiting longer gets EUNAVAIL */
    struct vf_llm_hooks hooks;
    bool kv_unified;
    bool swa_full;
    bool mmap;
    bool offload_kqv;
    bool warmup;                /* one throw-away decode at load */
    bool prompt_cache;          /* keep finished conversations' KV cells for the next prompt */
};

void vf_engine_default_params(struct vf_engine_params *p);

/* Create the local engine. Loading happens on the engine's own thread, so
 * this returns at once with the stage in VF_LLM_LOADING (or FAILED when the
 * file cannot be opened); see vf_llm_status. Returns VF_OK with *out set,
 * VF_ERR_NOMEM, VF_ERR_BACKEND (err says why). */
int vf_engine_open(const struct vf_engine_params *p, struct vf_llm **out, char *err, size_t errlen);

/* Block until the stage leaves LOADING or timeout_ms passes; returns the state. */
enum vf_llm_state vf_llm_wait_ready(struct vf_llm *l, int timeout_ms);

/* ---- pieces exported for tests and fuzzing ---- */

/* The output filter: holds back an incomplete UTF-8 sequence at the end and
 * any tail that could be the start of a stop string, replaces invalid UTF-8
 * with U+FFFD, and cuts at the first stop string. */
struct vf_textfilter {
    char *held;                 /* bytes not yet released */
    size_t n_held, cap;
    const char *const *stop;
    int n_stop;
};
void vf__textfilter_init(struct vf_textfilter *f, const char *const *stop, int n_stop);
void vf__textfilter_free(struct vf_textfilter *f);
/* Feed bytes; what may be released now is appended to out (a growable
 * buffer out/n_out/cap, vf_realloc'd). Returns 1 when a stop string was found
 * (everything before it was released, the rest dropped), 0 otherwise,
 * VF_ERR_NOMEM. flush: end of output, release everything held. */
int vf__textfilter_feed(struct vf_textfilter *f, const char *in, size_t n, bool flush,
                        char **out, size_t *n_out, size_t *cap);
/* True when s[0..n) is valid UTF-8 (no overlongs, surrogates, > U+10FFFF). */
bool vf_utf8_valid(const char *s, size_t n);

#endif
