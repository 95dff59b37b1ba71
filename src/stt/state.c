/* state.c - one stream's Whisper state (see whisper.h): backends and the
 * scheduler, the self- and cross-attention caches, host scratch, and the
 * compute buffer, which is reserved once for the worst-case encoder and
 * decoder graphs and reused by every call. Also the bookkeeping of the
 * self-attention cells (which sequence sees which cell), kept identical to
 * whisper.cpp's so that batched and beam decoding attend over the same
 * cells in the same order. */
#include "whisper_int.h"
#include "../core/log.h"
#include "../core/str.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GRAPH_NODES 4096

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct vf_whisper_state_params vf_whisper_state_default_params(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    struct vf_whisper_state_params p = {
        .n_threads = (int)VF_MIN(4, VF_MAX(1, cores)),
        .n_decoders = 5,
        .flash_attn = true,
    };
    return p;
}

/* The longest prompt a window decodes: the previous-text marker, up to
 * n_text_ctx / 2 - 1 tokens of earlier text, and up to four task tokens. */
static int max_prompt(const struct vf_wh_hparams *hp) { return hp->n_text_ctx / 2 + 4; }

/* The cells a prompt attends over at most: the prompt itself, padded to
 * 256 where the fused attention kernel needs padded keys (a GPU with flash
 * attention). */
static int max_prompt_kv(const struct vf_whisper_state *s) {
    int P = max_prompt(&s->m->hp);
    return s->gpu_pad ? (int)VF_PAD(P, 256) : P;
}

/* ==== KV cells (whisper.cpp semantics) ===================================== */

void vf__wh_kv_clear(struct vf_whisper_state *s) {
    for (int i = 0; i < s->kv_size; i++)
        s->cells[i] = (struct vf_wh_cell){-1, 0};
    s->kv_head = 0;
}

void vf__wh_kv_seq_rm(struct vf_whisper_state *s, int seq, int p0, int p1) {
    int new_head = s->kv_size;
    if (p0 < 0)
        p0 = 0;
    if (p1 < 0)
        p1 = INT32_MAX;
    for (int i = 0; i < s->kv_size; i++) {
        struct vf_wh_cell *c = &s->cells[i];
        if (c->pos < p0 || c->pos >= p1)
            continue;
        if (seq < 0)
            c->seqs = 0;
        else if (c->seqs & (1u << seq))
            c->seqs &= ~(1u << seq);
        else
            continue;
        if (!c->seqs) {
            c->pos = -1;
            if (new_head == s->kv_size)
                new_head = i;
        }
    }
    if (new_head != s->kv_size)
        s->kv_head = new_head;
}

void vf__wh_kv_seq_cp(struct vf_whisper_state *s, int src, int dst, int p0, int p1) {
    if (p0 < 0)
        p0 = 0;
    if (p1 < 0)
        p1 = INT32_MAX;
    s->kv_head = 0;
    for (int i = 0; i < s->kv_size; i++) {
        struct vf_wh_cell *c = &s->cells[i];
        if ((c->seqs & (1u << src)) && c->pos >= p0 && c->pos < p1)
            c->seqs |= 1u << dst;
    }
}

/* Find n consecutive free cells from the head (wrapping), claim them for
 * the batch. False when there is no room. */
static bool kv_find_slot(struct vf_whisper_state *s, const struct vf_wh_batch *b) {
    const int n_ctx = s->kv_size, n = b->n;
    if (n > n_ctx)
        return false;
    int tested = 0;
    for (;;) {
        if (s->kv_head + n > n_ctx) {
            tested += n_ctx - s->kv_head;
            s->kv_head = 0;
            continue;
        }
        bool found = true;
        for (int i = 0; i < n; i++) {
            if (s->cells[s->kv_head + i].pos >= 0) {
                found = false;
                s->kv_head += i + 1;
                tested += i + 1;
                break;
            }
        }
        if (found)
            break;
        if (tested >= n_ctx)
            return false;
    }
    for (int i = 0; i < n; i++) {
        s->cells[s->kv_head + i].pos = b->pos[i];
        s->cells[s->kv_head + i].seqs |= 1u << b->seq[i];
    }
    return true;
}

static int kv_cell_max(const struct vf_whisper_state *s) {
    for (int i = s->kv_size - 1; i > 0; i--)
        if (s->cells[i].pos >= 0 && s->cells[i].seqs)
            return i + 1;
    return 1;
}

/* ==== Init / free =========================================================== */

static ggml_backend_buffer_t alloc_kv(struct vf_whisper_state *s, struct ggml_context **ctx,
                                      struct ggml_tensor **k, struct ggml_tensor **v, int64_t n) {
    struct ggml_init_params ip = {2 * ggml_tensor_overhead(), NULL, true};
    if (!(*ctx = ggml_init(ip)))
        return NULL;
    *k = ggml_new_tensor_1d(*ctx, GGML_TYPE_F16, n);
    *v = ggml_new_tensor_1d(*ctx, GGML_TYPE_F16, n);
    ggml_backend_buffer_t b = ggml_backend_alloc_ctx_tensors(*ctx, s->backends[0]);
    if (b)
        ggml_backend_buffer_clear(b, 0);
    return b;
}

/* Reserve the scheduler's buffers for the largest graphs this state runs:
 * the encoder; a full prompt against a fresh cache; one token per decoder
 * against the whole cache. */
static int reserve(struct vf_whisper_state *s, char *err, size_t errlen) {
    struct ggml_tensor *a, *b, *c2, *d, *e;
    ggml_backend_sched_reset(s->sched);
    struct ggml_cgraph *gf = vf__wh_graph_encoder(s, &a, &b);
    if (!gf || !ggml_backend_sched_reserve(s->sched, gf)) {
        vf_errf(err, errlen, "cannot reserve the encoder's compute buffer");
        return VF_ERR_BACKEND;
    }
    const int P = max_prompt(&s->m->hp);
    int shapes[2][3] = {{P, max_prompt_kv(s), 2}, {s->params.n_decoders, s->kv_size, s->params.n_decoders}};
    for (int i = 0; i < 2; i++) {
        ggml_backend_sched_reset(s->sched);
        gf = vf__wh_graph_decoder(s, shapes[i][0], shapes[i][1], 0, shapes[i][2], &a, &b, &c2, &d, &e);
        if (!gf || !ggml_backend_sched_reserve(s->sched, gf)) {
            vf_errf(err, errlen, "cannot reserve the decoder's compute buffer");
            return VF_ERR_BACKEND;
        }
    }
    ggml_backend_sched_reset(s->sched);
    return VF_OK;
}

int vf_whisper_state_init(const struct vf_whisper_model *m, const struct vf_whisper_state_params *p,
                          struct vf_whisper_state **out, char *err, size_t errlen) {
    *out = NULL;
    struct vf_whisper_state_params def = vf_whisper_state_default_params();
    if (!p)
        p = &def;
    if (p->n_threads < 1 || p->n_threads > 512 || p->n_decoders < 1 ||
        p->n_decoders > VF_WHISPER_MAX_DECODERS) {
        vf_errf(err, errlen, "state parameters: n_threads %d (1..512), n_decoders %d (1..%d)",
                p->n_threads, p->n_decoders, VF_WHISPER_MAX_DECODERS);
        return VF_ERR_ARG;
    }
    const struct vf_wh_hparams *hp = &m->hp;
    struct vf_whisper_state *s = vf_calloc(1, sizeof *s);
    if (!s) {
        vf_errf(err, errlen, "out of memory");
        return VF_ERR_NOMEM;
    }
    int rc = VF_ERR_NOMEM;
    s->m = m;
    s->params = *p;
    s->enc_seek = -1;

    /* backends: the model's GPU first, the CPU always */
    if (m->gpu) {
        if (!(s->backends[s->n_backends] = ggml_backend_dev_init(m->gpu, NULL))) {
            vf_errf(err, errlen, "cannot start the %s backend", ggml_backend_dev_name(m->gpu));
            rc = VF_ERR_BACKEND;
            goto out;
        }
        s->n_backends++;
    }
    if (!(s->cpu = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, NULL))) {
        vf_errf(err, errlen, "cannot start the CPU backend");
        rc = VF_ERR_BACKEND;
        goto out;
    }
    s->backends[s->n_backends++] = s->cpu;
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(ggml_backend_get_device(s->cpu));
    ggml_backend_set_n_threads_t set_threads =
        (ggml_backend_set_n_threads_t)ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads");
    if (set_threads)
        set_threads(s->cpu, p->n_threads);
    /* A thread pool that lives with the state: without one the CPU backend
     * starts and joins its threads for every graph, i.e. every token. */
    struct ggml_threadpool *(*tp_new)(struct ggml_threadpool_params *) =
        (struct ggml_threadpool *(*)(struct ggml_threadpool_params *))ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new");
    void (*tp_set)(ggml_backend_t, struct ggml_threadpool *) =
        (void (*)(ggml_backend_t, struct ggml_threadpool *))ggml_backend_reg_get_proc_address(reg, "ggml_backend_cpu_set_threadpool");
    s->threadpool_free = (void (*)(struct ggml_threadpool *))ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free");
    if (tp_new && tp_set && s->threadpool_free && p->n_threads > 1) {
        struct ggml_threadpool_params tpp = ggml_threadpool_params_default(p->n_threads);
        if ((s->threadpool = tp_new(&tpp)))
            tp_set(s->cpu, s->threadpool);
    }

    /* caches: f16 keys and values; the self cache holds every decoder's
     * tokens (over-allocated like whisper.cpp's, as beams fragment it) */
    const int n_dec = p->n_decoders;
    const int pad = 256;
    s->kv_size = VF_PAD(hp->n_text_ctx, pad) * (n_dec > 1 ? n_dec + 2 : 1);
    s->gpu_pad = m->gpu != NULL && p->flash_attn;
    s->xattn_fa = s->gpu_pad;
    s->n_audio_ctx_pad = s->gpu_pad ? (int)VF_PAD(hp->n_audio_ctx, pad) : hp->n_audio_ctx;
    s->audio_ctx = hp->n_audio_ctx;
    s->audio_ctx_pad = s->n_audio_ctx_pad;
    struct ggml_context *cs = NULL, *cx = NULL;
    s->buf_self = alloc_kv(s, &cs, &s->k_self, &s->v_self, (int64_t)hp->n_text_state * hp->n_text_layer * s->kv_size);
    s->ctx_kv[0] = cs;
    if (!s->buf_self) {
        vf_errf(err, errlen, "cannot allocate the self-attention cache (%.1f MiB)",
                2.0 * hp->n_text_state * hp->n_text_layer * s->kv_size * 2 / 1048576.0);
        rc = VF_ERR_BACKEND;
        goto out;
    }
    s->buf_cross = alloc_kv(s, &cx, &s->k_cross, &s->v_cross,
                            (int64_t)hp->n_text_state * hp->n_text_layer * s->n_audio_ctx_pad);
    s->ctx_kv[1] = cx;
    if (!s->buf_cross) {
        vf_errf(err, errlen, "cannot allocate the cross-attention cache");
        rc = VF_ERR_BACKEND;
        goto out;
    }

    /* host scratch, all sized here */
    const int P = max_prompt(hp), max_rows = VF_MAX(P, n_dec);
    s->cells = vf_calloc((size_t)s->kv_size, sizeof *s->cells);
    s->inp_mel = vf_malloc((size_t)hp->n_mels * 2 * hp->n_audio_ctx * sizeof(float));
    s->inp_mask_cap = (size_t)VF_MAX((size_t)P * max_prompt_kv(s), (size_t)n_dec * s->kv_size);
    s->inp_mask = vf_malloc(s->inp_mask_cap * sizeof(float));
    s->inp_mask_h = vf_malloc(s->inp_mask_cap * sizeof(uint16_t));
    s->batch.cap = max_rows;
    s->batch.token = vf_malloc((size_t)max_rows * sizeof(int32_t));
    s->batch.pos = vf_malloc((size_t)max_rows * sizeof(int32_t));
    s->batch.seq = vf_malloc((size_t)max_rows * sizeof(int32_t));
    s->batch.logits = vf_malloc((size_t)max_rows);
    s->logits = vf_malloc((size_t)VF_MAX(2, n_dec) * hp->n_vocab * sizeof(float));
    s->prompt = vf_malloc((size_t)hp->n_text_ctx * sizeof(int32_t));
    s->past0 = vf_malloc((size_t)2 * hp->n_text_ctx * sizeof(int32_t));
    s->past1 = vf_malloc((size_t)2 * hp->n_text_ctx * sizeof(int32_t));
    s->n_cands_cap = n_dec * n_dec;
    s->cands = vf_calloc((size_t)s->n_cands_cap, sizeof *s->cands);
    if (!s->cells || !s->inp_mel || !s->inp_mask || !s->inp_mask_h || !s->batch.token ||
        !s->batch.pos || !s->batch.seq || !s->batch.logits || !s->logits || !s->prompt ||
        !s->past0 || !s->past1 || !s->cands)
        goto nomem;
    if (s->gpu_pad) {
        const size_t rows = (size_t)VF_MAX(hp->n_audio_ctx, max_rows);
        if (!(s->pad_mask = vf_malloc(rows * s->n_audio_ctx_pad * sizeof(uint16_t))))
            goto nomem;
        s->pad_mask_for = -1;
    }
    for (int j = 0; j < VF_WHISPER_MAX_DECODERS; j++) {
        struct vf_wh_decoder *d = &s->dec[j];
        if (j < n_dec) {
            d->probs = vf_malloc((size_t)hp->n_vocab * sizeof(float));
            d->logits = vf_malloc((size_t)hp->n_vocab * sizeof(float));
            d->logprobs = vf_malloc((size_t)hp->n_vocab * sizeof(float));
            d->seq.tokens = vf_malloc((size_t)hp->n_text_ctx * sizeof(struct vf_whisper_token));
            if (!d->probs || !d->logits || !d->logprobs || !d->seq.tokens)
                goto nomem;
        }
    }
    for (int i = 0; i < s->n_cands_cap; i++)
        if (!(s->cands[i].seq.tokens = vf_malloc((size_t)hp->n_text_ctx * sizeof(struct vf_whisper_token))))
            goto nomem;
    vf__wh_mt_seed(&s->dec[0].rng, 0);
    vf__wh_kv_clear(s);

    s->meta_size = ggml_tensor_overhead() * GRAPH_NODES + ggml_graph_overhead_custom(GRAPH_NODES, false);
    if (!(s->meta = vf_malloc(s->meta_size)))
        goto nomem;
    s->sched = ggml_backend_sched_new(s->backends, NULL, s->n_backends, GRAPH_NODES, false, true);
    if (!s->sched) {
        vf_errf(err, errlen, "cannot create the ggml scheduler");
        rc = VF_ERR_BACKEND;
        goto out;
    }
    if ((rc = reserve(s, err, errlen)))
        goto out;
    *out = s;
    return VF_OK;
nomem:
    vf_errf(err, errlen, "out of memory");
    rc = VF_ERR_NOMEM;
out:
    vf_whisper_state_free(s);
    return rc;
}

void vf_whisper_state_free(struct vf_whisper_state *s) {
    if (!s)
        return;
    if (s->sched)
        ggml_backend_sched_free(s->sched);
    if (s->buf_self)
        ggml_backend_buffer_free(s->buf_self);
    if (s->buf_cross)
        ggml_backend_buffer_free(s->buf_cross);
    for (int i = 0; i < 2; i++)
        if (s->ctx_kv[i])
            ggml_free(s->ctx_kv[i]);
    for (int i = 0; i < s->n_backends; i++)
        ggml_backend_free(s->backends[i]);
    if (s->threadpool)
        s->threadpool_free(s->threadpool);
    vf_free(s->meta);
    vf__wh_mel_free(&s->mel);
    vf_free(s->cells);
    vf_free(s->inp_mel);
    vf_free(s->inp_mask);
    vf_free(s->inp_mask_h);
    vf_free(s->pad_mask);
    vf_free(s->batch.token);
    vf_free(s->batch.pos);
    vf_free(s->batch.seq);
    vf_free(s->batch.logits);
    vf_free(s->logits);
    vf_free(s->prompt);
    vf_free(s->past0);
    vf_free(s->past1);
    for (int j = 0; j < VF_WHISPER_MAX_DECODERS; j++) {
        vf_free(s->dec[j].probs);
        vf_free(s->dec[j].logits);
        vf_free(s->dec[j].logprobs);
        vf_free(s->dec[j].seq.tokens);
    }
    for (int i = 0; s->cands && i < s->n_cands_cap; i++)
        vf_free(s->cands[i].seq.tokens);
    vf_free(s->cands);
    vf_free(s);
}

void vf_whisper_state_reset(struct vf_whisper_state *s) {
    s->n_past0 = s->n_past1 = 0;
}

int vf_whisper_buffers(const struct vf_whisper_model *m, const struct vf_whisper_state *s,
                       struct vf_whisper_buffer *out, int max) {
    int n = 0;
#define PUT(name, k, b)                                                                      \
    do {                                                                                     \
        if (n < max) {                                                                       \
            vf_strlcpy(out[n].device, name, sizeof out[n].device);                          \
            out[n].kind = (k);                                                               \
            out[n].bytes = (b);                                                              \
        }                                                                                    \
        n++;                                                                                 \
    } while (0)
    for (int i = 0; i < m->n_bufs; i++)
        PUT(ggml_backend_buffer_name(m->bufs[i]), VF_WHISPER_BUF_WEIGHTS,
            ggml_backend_buffer_get_size(m->bufs[i]));
    if (s) {
        PUT(ggml_backend_buffer_name(s->buf_self), VF_WHISPER_BUF_KV_SELF,
            ggml_backend_buffer_get_size(s->buf_self));
        PUT(ggml_backend_buffer_name(s->buf_cross), VF_WHISPER_BUF_KV_CROSS,
            ggml_backend_buffer_get_size(s->buf_cross));
        for (int i = 0; i < s->n_backends; i++) {
            size_t sz = ggml_backend_sched_get_buffer_size(s->sched, s->backends[i]);
            if (sz)
                PUT(ggml_backend_buft_name(ggml_backend_sched_get_buffer_type(s->sched, s->backends[i])),
                    VF_WHISPER_BUF_COMPUTE, sz);
        }
    }
#undef PUT
    return n;
}

/* ==== Running graphs ======================================================== */

int vf__wh_compute(struct vf_whisper_state *s, struct ggml_cgraph *gf) {
    enum ggml_status st = ggml_backend_sched_graph_compute(s->sched, gf);
    if (st == GGML_STATUS_ABORTED)
        return 1;
    if (st != GGML_STATUS_SUCCESS) {
        vf_log(VF_LOG_ERROR, "whisper", "graph computation failed (ggml status %d)", (int)st);
        return VF_ERR_BACKEND;
    }
    return VF_OK;
}

int vf__wh_set_audio(struct vf_whisper_state *s, const float *samples, size_t n) {
    double t0 = now_ms();
    int rc = vf__wh_mel(samples, n, s->m->file.filters, s->m->hp.n_mels, s->params.n_threads, &s->mel);
    s->t_mel_ms += now_ms() - t0;
    s->enc_seek = -1;
    return rc;
}

void vf__wh_set_audio_ctx(struct vf_whisper_state *s, int audio_ctx) {
    const struct vf_wh_hparams *hp = &s->m->hp;
    if (audio_ctx <= 0 || audio_ctx > hp->n_audio_ctx)
        audio_ctx = hp->n_audio_ctx;
    s->audio_ctx = audio_ctx;
    s->audio_ctx_pad = s->gpu_pad ? (int)VF_PAD(audio_ctx, 256) : audio_ctx;
}

/* The f16 mask hiding the padded keys: rows of audio_ctx_pad, 0 for the
 * audio_ctx real keys and -inf after; filled when audio_ctx changes. */
static void fill_pad_mask(struct vf_whisper_state *s) {
    if (!s->pad_mask || s->pad_mask_for == s->audio_ctx)
        return;
    const int rows = VF_MAX(s->m->hp.n_audio_ctx, s->batch.cap);
    const uint16_t zero = ggml_fp32_to_fp16(0.0f), ninf = ggml_fp32_to_fp16(-INFINITY);
    for (size_t r = 0; r < (size_t)rows; r++)
        for (int i = 0; i < s->audio_ctx_pad; i++)
            s->pad_mask[r * s->audio_ctx_pad + i] = i < s->audio_ctx ? zero : ninf;
    s->pad_mask_for = s->audio_ctx;
}

int vf__wh_encode(struct vf_whisper_state *s, int seek) {
    if (s->enc_seek == seek && s->enc_ctx == s->audio_ctx)
        return VF_OK;   /* the cross cache already holds this window */
    const struct vf_wh_hparams *hp = &s->m->hp;
    double t0 = now_ms();
    struct ggml_tensor *mel, *mask;
    ggml_backend_sched_reset(s->sched);
    struct ggml_cgraph *gf = vf__wh_graph_encoder(s, &mel, &mask);
    if (!gf || !ggml_backend_sched_alloc_graph(s->sched, gf))
        return VF_ERR_BACKEND;
    /* the window [seek, seek + 2 audio_ctx) of the spectrogram, zero past its end */
    const int n2 = 2 * s->audio_ctx;
    const int i0 = VF_MIN(seek, s->mel.n_len), i1 = VF_MIN(seek + n2, s->mel.n_len);
    memset(s->inp_mel, 0, (size_t)hp->n_mels * n2 * sizeof(float));
    for (int j = 0; j < hp->n_mels; j++)
        if (i1 > i0)
            memcpy(s->inp_mel + (size_t)j * n2, s->mel.data + (size_t)j * s->mel.n_len + i0,
                   (size_t)(i1 - i0) * sizeof(float));
    ggml_backend_tensor_set(mel, s->inp_mel, 0, ggml_nbytes(mel));
    if (mask) {
        fill_pad_mask(s);
        ggml_backend_tensor_set(mask, s->pad_mask, 0, ggml_nbytes(mask));
    }
    int rc = vf__wh_compute(s, gf);
    ggml_backend_sched_reset(s->sched);
    if (rc)
        return rc;
    s->enc_seek = seek;
    s->enc_ctx = s->audio_ctx;
    s->t_enc_ms += now_ms() - t0;
    s->n_enc++;
    return VF_OK;
}

int vf__wh_decode(struct vf_whisper_state *s) {
    const struct vf_wh_hparams *hp = &s->m->hp;
    struct vf_wh_batch *b = &s->batch;
    double t0 = now_ms();
    if (b->n < 1 || b->n > b->cap)
        return VF_ERR_ARG;
    int n_out = 0;
    for (int i = 0; i < b->n; i++) {
        n_out += b->logits[i] != 0;
        if (b->token[i] < 0 || b->token[i] >= hp->n_vocab || b->pos[i] < 0 ||
            b->pos[i] >= hp->n_text_ctx || b->seq[i] < 0 || b->seq[i] >= 2 * VF_WHISPER_MAX_DECODERS)
            return VF_ERR_ARG;
    }
    if (n_out < 1 || n_out > VF_MAX(2, s->params.n_decoders))
        return VF_ERR_ARG;
    if (!kv_find_slot(s, b))
        return VF_ERR_TOOBIG;
    const int pad = s->gpu_pad ? 256 : 1;
    s->kv_n = VF_MIN(s->kv_size, VF_MAX(pad, (int)VF_PAD(kv_cell_max(s), pad)));
    const int n_kv = s->kv_n;
    /* stay inside the shapes the compute buffer was reserved for */
    if ((size_t)n_kv * b->n > s->inp_mask_cap || (b->n > s->params.n_decoders && n_kv > max_prompt_kv(s)))
        return VF_ERR_TOOBIG;

    struct ggml_tensor *tok, *pos, *mask, *out_ids, *logits;
    ggml_backend_sched_reset(s->sched);
    struct ggml_cgraph *gf = vf__wh_graph_decoder(s, b->n, n_kv, s->kv_head, n_out, &tok, &pos,
                                                  &mask, &out_ids, &logits);
    if (!gf || !ggml_backend_sched_alloc_graph(s->sched, gf))
        return VF_ERR_BACKEND;
    ggml_backend_tensor_set(tok, b->token, 0, (size_t)b->n * sizeof(int32_t));
    ggml_backend_tensor_set(pos, b->pos, 0, (size_t)b->n * sizeof(int32_t));
    float *mk = s->inp_mask;
    for (int j = 0; j < b->n; j++) {
        const uint32_t bit = 1u << b->seq[j];
        for (int i = 0; i < n_kv; i++) {
            const struct vf_wh_cell *c = &s->cells[i];
            mk[(size_t)j * n_kv + i] = (!(c->seqs & bit) || c->pos > b->pos[j]) ? -INFINITY : 0.0f;
        }
    }
    if (mask->type == GGML_TYPE_F16) {
        ggml_fp32_to_fp16_row(mk, (ggml_fp16_t *)s->inp_mask_h, (int64_t)n_kv * b->n);
        ggml_backend_tensor_set(mask, s->inp_mask_h, 0, ggml_nbytes(mask));
    } else {
        ggml_backend_tensor_set(mask, mk, 0, ggml_nbytes(mask));
    }
    if (s->inp_xmask) {
        fill_pad_mask(s);
        ggml_backend_tensor_set(s->inp_xmask, s->pad_mask, 0, ggml_nbytes(s->inp_xmask));
    }
    if (out_ids) {
        int32_t ids[VF_WHISPER_MAX_DECODERS + 2];
        int k = 0;
        for (int i = 0; i < b->n; i++)
            if (b->logits[i])
                ids[k++] = i;
        ggml_backend_tensor_set(out_ids, ids, 0, (size_t)k * sizeof(int32_t));
    }
    int rc = vf__wh_compute(s, gf);
    if (rc == VF_OK)
        ggml_backend_tensor_get(logits, s->logits, 0, (size_t)n_out * hp->n_vocab * sizeof(float));
    ggml_backend_sched_reset(s->sched);
    s->n_logits_rows = n_out;
    s->t_dec_ms += now_ms() - t0;
    s->n_dec++;
    return rc;
}

int vf_whisper_measure(const char *path, const struct vf_whisper_model_params *mp,
                       const struct vf_whisper_state_params *sp, int n_states,
                       struct vf_whisper_buffer *out, int max, int *n, char *err, size_t errlen) {
    *n = 0;
    if (n_states < 0 || n_states > 256) {
        vf_errf(err, errlen, "%d states: 0 .. 256", n_states);
        return VF_ERR_ARG;
    }
    struct vf_whisper_model *m = NULL;
    struct vf_whisper_state **st = vf_calloc((size_t)VF_MAX(n_states, 1), sizeof *st);
    if (!st) {
        vf_errf(err, errlen, "out of memory");
        return VF_ERR_NOMEM;
    }
    int rc = vf_whisper_model_load(path, mp, &m, err, errlen);
    if (!rc) {
        *n = vf_whisper_buffers(m, NULL, out, max);
        for (int i = 0; i < n_states && !rc; i++) {
            if ((rc = vf_whisper_state_init(m, sp, &st[i], err, errlen)))
                break;
            struct vf_whisper_buffer b[8];
            int nb = vf_whisper_buffers(m, st[i], b, 8);
            for (int k = m->n_bufs; k < nb; k++) {
                if (*n < max)
                    out[*n] = b[k];
                (*n)++;
            }
        }
    }
    for (int i = 0; i < n_states; i++)
        vf_whisper_state_free(st[i]);
    vf_free(st);
    vf_whisper_model_free(m);
    return rc;
}
