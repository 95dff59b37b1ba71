/* model.c - loading a whisper.cpp model onto ggml backends (see whisper.h).
 * The file is parsed and checked first (wfile.c), then one ggml tensor is
 * made per weight with the file's type and shape, the weights are placed in
 * backend buffers (the GPU when asked and present; on the CPU, matrices go
 * to the CPU backend's "extra" buffer types when it accelerates them, as
 * llama.cpp and whisper.cpp do) and the data is read tensor by tensor. The
 * ggml runtime is the one llama_rt.c loads for the LLM, so both models run
 * in one process with one set of backends. */
#include "whisper_int.h"
#include "../core/log.h"
#include "../core/str.h"
#include "../llm/llama_rt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct vf_whisper_model_params vf_whisper_model_default_params(void) {
    struct vf_whisper_model_params p = {.gpu_device = 0, .use_gpu = true};
    return p;
}

/* The gpu_device-th GPU ggml knows, or NULL. */
static ggml_backend_dev_t find_gpu(int which) {
    int n = 0;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t d = ggml_backend_dev_get(i);
        enum ggml_backend_dev_type t = ggml_backend_dev_type(d);
        if (t == GGML_BACKEND_DEVICE_TYPE_GPU || t == GGML_BACKEND_DEVICE_TYPE_IGPU) {
            if (n++ == which)
                return d;
        }
    }
    return NULL;
}

/* Does the CPU device run w @ x with w in buft (an extra buffer type)? */
static bool extra_buft_ok(ggml_backend_dev_t cpu, ggml_backend_buffer_type_t buft,
                          struct ggml_tensor *w, int64_t n_rows) {
    struct ggml_init_params ip = {2 * ggml_tensor_overhead(), NULL, true};
    struct ggml_context *ctx = ggml_init(ip);
    if (!ctx)
        return false;
    struct ggml_tensor *x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, w->ne[0], n_rows);
    struct ggml_tensor *op = ggml_mul_mat(ctx, w, x);
    bool ok = false;
    ggml_backend_buffer_t dummy = ggml_backend_buft_alloc_buffer(buft, 0);
    if (dummy) {
        w->buffer = dummy;
        ok = ggml_backend_dev_supports_op(cpu, op);
        w->buffer = NULL;
        ggml_backend_buffer_free(dummy);
    }
    ggml_free(ctx);
    return ok;
}

static void assign(struct vf_whisper_model *m, int idx, struct ggml_tensor *t) {
    const int ng = 11, ne = 15, nd = 24;
    struct ggml_tensor **g[11] = {&m->e_pe, &m->conv1_w, &m->conv1_b, &m->conv2_w, &m->conv2_b,
                                  &m->e_ln_w, &m->e_ln_b, &m->d_pe, &m->d_te, &m->d_ln_w, &m->d_ln_b};
    if (idx < ng) {
        *g[idx] = t;
        return;
    }
    idx -= ng;
    if (idx < ne * m->hp.n_audio_layer) {
        struct vf_wh_enc_layer *L = &m->enc[idx / ne];
        struct ggml_tensor **f[15] = {&L->attn_ln_w, &L->attn_ln_b, &L->q_w, &L->q_b, &L->k_w,
                                      &L->v_w, &L->v_b, &L->o_w, &L->o_b, &L->mlp_ln_w,
                                      &L->mlp_ln_b, &L->mlp0_w, &L->mlp0_b, &L->mlp1_w, &L->mlp1_b};
        *f[idx % ne] = t;
        return;
    }
    idx -= ne * m->hp.n_audio_layer;
    struct vf_wh_dec_layer *L = &m->dec[idx / nd];
    struct ggml_tensor **f[24] = {
        &L->attn_ln_w, &L->attn_ln_b, &L->q_w, &L->q_b, &L->k_w, &L->v_w, &L->v_b, &L->o_w,
        &L->o_b, &L->mlp_ln_w, &L->mlp_ln_b, &L->mlp0_w, &L->mlp0_b, &L->mlp1_w, &L->mlp1_b,
        &L->x_ln_w, &L->x_ln_b, &L->xq_w, &L->xq_b, &L->xk_w, &L->xv_w, &L->xv_b, &L->xo_w,
        &L->xo_b};
    *f[idx % nd] = t;
}

/* Read every tensor's data from the file into its buffer. */
static int load_data(struct vf_whisper_model *m, struct vf_reader *r, struct ggml_tensor **ts,
                     char *err, size_t errlen) {
    uint64_t max_bytes = 0;
    for (int i = 0; i < m->file.n_tensors; i++)
        if (!ggml_backend_buffer_is_host(ts[i]->buffer) && m->file.tensors[i].nbytes > max_bytes)
            max_bytes = m->file.tensors[i].nbytes;
    void *tmp = NULL;
    if (max_bytes && !(tmp = vf_malloc(max_bytes))) {
        vf_errf(err, errlen, "out of memory for a %llu-byte read buffer", (unsigned long long)max_bytes);
        return VF_ERR_NOMEM;
    }
    int rc = VF_OK;
    for (int i = 0; i < m->file.n_tensors; i++) {
        const struct vf_wh_tensor *ft = &m->file.tensors[i];
        struct ggml_tensor *t = ts[i];
        if (ggml_nbytes(t) != ft->nbytes) {
            vf_errf(err, errlen, "tensor '%s': %zu bytes in ggml, %llu in the file", ft->name,
                    ggml_nbytes(t), (unsigned long long)ft->nbytes);
            rc = VF_ERR_FORMAT;
            break;
        }
        bool host = ggml_backend_buffer_is_host(t->buffer);
        if ((rc = vf_reader_seek(r, ft->offset)) ||
            (rc = vf_reader_read(r, host ? t->data : tmp, ft->nbytes))) {
            vf_errf(err, errlen, "reading tensor '%s': %s", ft->name,
                    rc == VF_ERR_IO ? "read error" : "file changed or is truncated");
            break;
        }
        if (!host)
            ggml_backend_tensor_set(t, tmp, 0, ft->nbytes);
    }
    vf_free(tmp);
    return rc;
}

int vf_whisper_model_load(const char *path, const struct vf_whisper_model_params *p,
                          struct vf_whisper_model **out, char *err, size_t errlen) {
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    struct vf_whisper_model_params def = vf_whisper_model_default_params();
    if (!p)
        p = &def;
    if (vf_llama_rt_init() != VF_OK) {
        vf_errf(err, errlen, "the ggml backends could not be loaded");
        return VF_ERR_BACKEND;
    }
    struct vf_reader r;
    struct ggml_tensor **ts = NULL;
    struct ggml_context *ctxs[VF_WH_MAX_WBUFS] = {0};
    ggml_backend_buffer_type_t bufts[VF_WH_MAX_WBUFS] = {0};
    int n_ctx = 0;
    struct vf_whisper_model *m = vf_calloc(1, sizeof *m);
    if (!m) {
        vf_errf(err, errlen, "out of memory");
        return VF_ERR_NOMEM;
    }
    int rc = vf_reader_open(&r, path);
    if (rc) {
        vf_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        vf_free(m);
        return rc;
    }
    char ferr[256] = "";
    if ((rc = vf__wh_file_read(&r, &m->file, ferr, sizeof ferr))) {
        vf_errf(err, errlen, "%s: %s", path, ferr);
        goto out;
    }
    m->hp = m->file.hp;
    const struct vf_wh_hparams *hp = &m->hp;
    m->enc = vf_calloc((size_t)hp->n_audio_layer, sizeof *m->enc);
    m->dec = vf_calloc((size_t)hp->n_text_layer, sizeof *m->dec);
    ts = vf_calloc((size_t)m->file.n_tensors, sizeof *ts);
    if (!m->enc || !m->dec || !ts) {
        vf_errf(err, errlen, "out of memory");
        rc = VF_ERR_NOMEM;
        goto out;
    }
    const char *names[] = {"unknown", "tiny", "base", "small", "medium", "large"};
    int ti = hp->n_audio_layer == 4 ? 1 : hp->n_audio_layer == 6 ? 2 : hp->n_audio_layer == 12 ? 3
           : hp->n_audio_layer == 24 ? 4 : hp->n_audio_layer == 32 ? 5 : 0;
    vf_strlcpy(m->type_name, names[ti], sizeof m->type_name);

    /* Where the weights go: the GPU, or the CPU with its extra buffer types. */
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!cpu) {
        vf_errf(err, errlen, "ggml has no CPU device");
        rc = VF_ERR_BACKEND;
        goto out;
    }
    m->gpu = p->use_gpu ? find_gpu(p->gpu_device) : NULL;
    ggml_backend_buffer_type_t extra[VF_WH_MAX_WBUFS - 1] = {0};
    int n_extra = 0;
    if (m->gpu) {
        bufts[n_ctx++] = ggml_backend_dev_buffer_type(m->gpu);
    } else {
        bufts[n_ctx++] = ggml_backend_cpu_buffer_type();
        ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
        ggml_backend_dev_get_extra_bufts_t get_extra = (ggml_backend_dev_get_extra_bufts_t)
            ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
        ggml_backend_buffer_type_t *e = get_extra ? get_extra(cpu) : NULL;
        while (e && *e && n_extra < VF_WH_MAX_WBUFS - 1)
            extra[n_extra++] = *e++;
    }
    size_t meta = (size_t)(m->file.n_tensors + 8) * ggml_tensor_overhead();
    struct ggml_init_params ip = {meta, NULL, true};
    if (!(ctxs[0] = ggml_init(ip))) {
        rc = VF_ERR_NOMEM;
        vf_errf(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < m->file.n_tensors; i++) {
        const struct vf_wh_tensor *ft = &m->file.tensors[i];
        int64_t ne[3];
        int kind;
        int idx = vf__wh_expected(hp, ft->name, ne, &kind);
        int c = 0;
        /* matrices (not the token embedding, which get_rows also reads) may
         * go to an extra buffer type that the CPU multiplies faster */
        bool is_te = !strcmp(ft->name, "decoder.token_embedding.weight");
        for (int k = 0; kind == 2 && !is_te && k < n_extra; k++) {
            struct ggml_init_params pp = {2 * ggml_tensor_overhead(), NULL, true};
            struct ggml_context *probe = ggml_init(pp);
            if (!probe)
                break;
            struct ggml_tensor *w = ggml_new_tensor_3d(probe, (enum ggml_type)ft->type, ft->ne[0],
                                                       ft->ne[1], ft->ne[2]);
            bool ok = extra_buft_ok(cpu, extra[k], w, hp->n_audio_ctx);
            ggml_free(probe);
            if (!ok)
                continue;
            for (c = 1; c < n_ctx && bufts[c] != extra[k]; c++) {
            }
            if (c == n_ctx) {
                if (!(ctxs[c] = ggml_init(ip))) {
                    rc = VF_ERR_NOMEM;
                    vf_errf(err, errlen, "out of memory");
                    goto out;
                }
                bufts[n_ctx++] = extra[k];
            }
            break;
        }
        struct ggml_tensor *t = ggml_new_tensor_3d(ctxs[c], (enum ggml_type)ft->type, ft->ne[0],
                                                   ft->ne[1], ft->ne[2]);
        ggml_set_name(t, ft->name);
        ts[i] = t;
        assign(m, idx, t);
    }
    for (int c = 0; c < n_ctx; c++) {
        if (!ggml_get_first_tensor(ctxs[c]))
            continue;   /* nothing ended up in this context */
        ggml_backend_buffer_t b = ggml_backend_alloc_ctx_tensors_from_buft(ctxs[c], bufts[c]);
        if (!b) {
            vf_errf(err, errlen, "%s: cannot allocate %.1f MiB of weights in %s", path,
                    ggml_backend_alloc_ctx_tensors_from_buft_size(ctxs[c], bufts[c]) / 1048576.0,
                    ggml_backend_buft_name(bufts[c]));
            rc = VF_ERR_BACKEND;
            goto out;
        }
        ggml_backend_buffer_set_usage(b, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
        m->bufs[m->n_bufs++] = b;
    }
    if ((rc = load_data(m, &r, ts, ferr, sizeof ferr))) {
        vf_errf(err, errlen, "%s: %s", path, ferr);
        goto out;
    }
    /* The contexts hold the tensors' metadata and live with the model. */
    for (int c = 0; c < n_ctx; c++)
        m->ctxs[m->n_ctxs++] = ctxs[c];
    n_ctx = 0;
    vf_log(VF_LOG_INFO, "whisper", "loaded %s: %s%s, %d+%d layers, width %d, %s weights, %.1f MiB on %s",
           path, m->type_name, m->file.vocab.multilingual ? "" : ".en", hp->n_audio_layer,
           hp->n_text_layer, hp->n_audio_state, ggml_type_name((enum ggml_type)m->file.wtype),
           m->file.data_bytes / 1048576.0, m->gpu ? ggml_backend_dev_name(m->gpu) : "CPU");
out:
    vf_reader_close(&r);
    vf_free(ts);
    for (int c = 0; c < n_ctx; c++)
        if (ctxs[c])
            ggml_free(ctxs[c]);
    if (rc) {
        vf_whisper_model_free(m);
        return rc;
    }
    *out = m;
    return VF_OK;
}

void vf_whisper_model_free(struct vf_whisper_model *m) {
    if (!m)
        return;
    for (int i = 0; i < m->n_bufs; i++)
        ggml_backend_buffer_free(m->bufs[i]);
    for (int i = 0; i < m->n_ctxs; i++)
        ggml_free(m->ctxs[i]);
    vf_free(m->enc);
    vf_free(m->dec);
    vf__wh_file_free(&m->file);
    vf_free(m);
}

void vf_whisper_model_info(const struct vf_whisper_model *m, struct vf_whisper_model_info *o) {
    memset(o, 0, sizeof *o);
    const struct vf_wh_hparams *hp = &m->hp;
    o->n_vocab = hp->n_vocab, o->n_audio_ctx = hp->n_audio_ctx, o->n_audio_state = hp->n_audio_state;
    o->n_audio_head = hp->n_audio_head, o->n_audio_layer = hp->n_audio_layer;
    o->n_text_ctx = hp->n_text_ctx, o->n_text_state = hp->n_text_state;
    o->n_text_head = hp->n_text_head, o->n_text_layer = hp->n_text_layer, o->n_mels = hp->n_mels;
    o->ftype = hp->ftype;
    o->multilingual = m->file.vocab.multilingual;
    o->n_languages = m->file.vocab.n_languages;
    vf_strlcpy(o->type_name, m->type_name, sizeof o->type_name);
    static const char *const wt[] = {"f32", "f16", "q4_0", "q4_1", "?", "?", "q5_0", "q5_1", "q8_0"};
    vf_strlcpy(o->wtype_name, m->file.wtype >= 0 && m->file.wtype <= 8 ? wt[m->file.wtype] : "?",
               sizeof o->wtype_name);
    vf_strlcpy(o->device, m->gpu ? ggml_backend_dev_name(m->gpu) : "CPU", sizeof o->device);
    for (int i = 0; i < m->n_bufs; i++)
        o->weights_bytes += ggml_backend_buffer_get_size(m->bufs[i]);
}
