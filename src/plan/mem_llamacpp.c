/* mem_llamacpp.c - llama.cpp's memory, buffer by buffer, as llama.cpp
 * itself allocates it when it loads a model and creates a context:
 *  - model buffers: which tensors go to which device. The input layer
 *    (token_embd) always stays on the CPU; repeating layers are offloaded
 *    from the last one backwards (-ngl N puts layers n_layer+1-N .. n_layer-1
 *    and then the output layer on the GPU); a model with tied embeddings
 *    gets a second copy of token_embd on the output layer's device. CUDA
 *    buffers pad each quantized tensor by 512 - ne0 % 512 columns and align
 *    tensors to 128 bytes. On the CPU, tensors are mapped from the file or
 *    (types the CPU backend repacks, such as Q4_0/Q4_K) copied into a
 *    repack buffer of the same size: either way their bytes count once.
 *  - KV cache: per layer, on that layer's device: K rows of n_head_kv x
 *    head_dim in type_k, V likewise, one cell per context position; the
 *    context is padded to 256 (and to 256 per sequence without a unified
 *    KV); sliding-window layers hold n_swa x n_seq + n_ubatch cells (padded)
 *    unless swa_full.
 *  - output buffer (logits for n_seq_max outputs, host memory) and the
 *    compute buffers of the worst-case graph (llama_compute.c).
 * The per-process CUDA context is added by plan.c, once per process. */
#include "llama_compute.h"
#include "plan.h"
#include "../core/str.h"

#include <stdio.h>
#include <string.h>

#define CUDA_ALIGN 128
#define CUDA_ROW_PAD 512
#define CPU_ALIGN 32

static uint64_t cuda_alloc_size(const struct vf_tensor *t) {
    uint64_t size = t->nbytes;
    if (vf_dtype_is_quantized(t->dtype) && t->ne[0] % CUDA_ROW_PAD != 0)
        size += vf_dtype_row_size(t->dtype, CUDA_ROW_PAD - t->ne[0] % CUDA_ROW_PAD);
    return VF_PAD(size, CUDA_ALIGN);
}

/* x86 CPUs with AVX2 (the machines CUDA cards sit in) repack these types
 * into an interleaved layout for faster matrix products: llama.cpp copies
 * each such weight into a CPU_REPACK buffer of the same size. */
static bool cpu_repacked(const struct vf_tensor *t) {
    return t->n_dims == 2 && t->ne[1] % 8 == 0 && strcmp(t->name, "token_embd.weight") != 0 &&
           (t->dtype == VF_DT_Q4_0 || t->dtype == VF_DT_Q4_K || t->dtype == VF_DT_IQ4_NL);
}

/* The layer a tensor belongs to: 0..n_layer-1 for "blk.N.", n_layer for the
 * output layer, -1 for the input layer and -2 for globals. */
static int tensor_slot(const char *name, uint32_t n_layer) {
    int il = vf_tensor_layer(name);
    if (il >= 0)
        return il < (int)n_layer ? il : (int)n_layer;
    if (!strcmp(name, "token_embd.weight") || vf_str_starts(name, "token_embd") ||
        vf_str_starts(name, "token_types") || vf_str_starts(name, "position_embd"))
        return -1;
    if (vf_str_starts(name, "output") || vf_str_starts(name, "cls"))
        return (int)n_layer;
    return -2;
}

static const char *dt_lower(enum vf_dtype dt, char *buf, size_t n) {
    const char *s = vf_dtype_name(dt);
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        buf[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    buf[i] = '\0';
    return buf;
}

int vf_mem_llamacpp(struct vf_component *c, const struct vf_device *dev) {
    struct vf_llama_cfg *cfg = &c->llama;
    const struct vf_llm_hparams *hp = &c->model.llm;
    const uint32_t n_layer = hp->n_layer;
    const bool gpu = dev->kind == VF_DEVICE_GPU;
    char b1[32], b2[32], b3[32];
    if (!n_layer || !hp->n_vocab) {
        vf_strlist_addf(&c->explain, "model has no layers or vocabulary");
        return VF_ERR_ARG;
    }

    /* ---- context sizes, as llama_context clamps and pads them ---- */
    uint32_t n_seq = cfg->n_seq_max ? cfg->n_seq_max : 1;
    uint64_t n_ctx = cfg->n_ctx ? cfg->n_ctx : hp->n_ctx_train;
    n_ctx = VF_PAD(n_ctx, 256);
    if (!cfg->kv_unified && n_seq > 1) {
        uint64_t per = VF_PAD(n_ctx / n_seq, 256);
        n_ctx = per * n_seq;
    }
    if (n_ctx > (1u << 26)) {
        vf_strlist_addf(&c->explain, "context %llu is beyond what llama.cpp supports",
                        (unsigned long long)n_ctx);
        return VF_ERR_ARG;
    }
    cfg->n_ctx = (uint32_t)n_ctx;
    uint32_t n_batch = cfg->n_batch ? cfg->n_batch : 2048;
    n_batch = (uint32_t)VF_MIN((uint64_t)n_batch, n_ctx);
    uint32_t n_ubatch = cfg->n_ubatch ? cfg->n_ubatch : 512;
    n_ubatch = VF_MIN(n_ubatch, n_batch);
    cfg->n_batch = n_batch;
    cfg->n_ubatch = n_ubatch;
    cfg->n_seq_max = n_seq;
    /* flash attention: "auto" resolves to on for the CPU and CUDA backends
     * with the head sizes these models use */
    bool fa = cfg->flash_attn != 0;
    cfg->flash_attn_resolved = fa;
    if (!fa && vf_dtype_is_quantized(cfg->type_v)) {
        vf_strlist_addf(&c->explain, "a quantized V cache (%s) needs flash attention, which is off",
                        vf_dtype_name(cfg->type_v));
        return VF_ERR_ARG;
    }

    /* ---- layer placement ---- */
    int32_t ngl = gpu ? (cfg->n_gpu_layers < 0 ? (int32_t)n_layer + 1 : cfg->n_gpu_layers) : 0;
    int32_t i_gpu_start = (int32_t)n_layer + 1 - ngl;
    if (i_gpu_start < 0)
        i_gpu_start = 0;
    bool out_gpu = gpu && (int32_t)n_layer >= i_gpu_start;
    int n_rep_gpu = 0;
    for (uint32_t il = 0; il < n_layer; il++)
        if (gpu && (int32_t)il >= i_gpu_start)
            n_rep_gpu++;
    cfg->n_layers_gpu = n_rep_gpu;
    cfg->output_on_gpu = out_gpu;
    c->placement = !gpu || (!n_rep_gpu && !out_gpu) ? VF_PLACE_CPU
                 : (n_rep_gpu == (int)n_layer && out_gpu) ? VF_PLACE_GPU : VF_PLACE_SPLIT;

    /* ---- model buffers ---- */
    uint64_t w_gpu = 0, w_cpu = 0, w_repack = 0, tied_copy = 0;
    const struct vf_tensor *emb = NULL;
    for (size_t i = 0; i < c->model.tensors.n; i++) {
        const struct vf_tensor *t = &c->model.tensors.v[i];
        int slot = tensor_slot(t->name, n_layer);
        bool on_gpu = slot == -2 ? gpu && (n_rep_gpu > 0 || out_gpu)
                    : slot >= 0 && gpu && slot >= i_gpu_start;
        if (slot == -1 && !strcmp(t->name, "token_embd.weight"))
            emb = t;
        if (on_gpu) {
            w_gpu += cuda_alloc_size(t);
        } else {
            bool rp = cpu_repacked(t);
            if (rp)
                w_repack += VF_PAD(t->nbytes, CPU_ALIGN);
            /* mapped: the file holds every CPU tensor, repacked ones too */
            if (!rp || cfg->mmap)
                w_cpu += VF_PAD(t->nbytes, CPU_ALIGN);
        }
    }
    w_cpu += w_repack;
    if (hp->tied_embeddings && emb && out_gpu) {
        tied_copy = cuda_alloc_size(emb);
        w_gpu += tied_copy;
    }

    /* ---- KV cache ---- */
    uint64_t kv_gpu = 0, kv_cpu = 0, k_total = 0, v_total = 0;
    uint32_t n_swa_layers = 0;
    uint64_t swa_cells = n_ctx;
    if (hp->n_swa && !cfg->swa_full)
        swa_cells = VF_MIN(n_ctx, VF_PAD((uint64_t)hp->n_swa * n_seq + n_ubatch, 256));
    for (uint32_t il = 0; il < n_layer; il++) {
        uint32_t hkv = vf_llm_head_kv(hp, il);
        if (!hkv)
            continue;
        bool swa = vf_llm_layer_is_swa(hp, il);
        n_swa_layers += swa;
        uint64_t cells = swa ? swa_cells : n_ctx;
        uint64_t k = vf_dtype_row_size(cfg->type_k, (int64_t)hkv * hp->n_embd_head_k) * cells;
        uint64_t v = vf_dtype_row_size(cfg->type_v, (int64_t)hkv * hp->n_embd_head_v) * cells;
        if (!k || !v) {
            vf_strlist_addf(&c->explain, "KV type %s/%s does not fit rows of %u",
                            vf_dtype_name(cfg->type_k), vf_dtype_name(cfg->type_v),
                            hkv * hp->n_embd_head_k);
            return VF_ERR_ARG;
        }
        k_total += k;
        v_total += v;
        if (gpu && cfg->offload_kqv && (int32_t)il >= i_gpu_start)
            kv_gpu += k + v;
        else
            kv_cpu += k + v;
    }

    /* ---- output and compute buffers ---- */
    uint64_t out_bytes = (uint64_t)hp->n_vocab * 4 * n_seq;
    struct vf_llama_compute_in ci = {
        .hp = hp, .n_ctx = (uint32_t)n_ctx, .n_batch = n_batch, .n_ubatch = n_ubatch,
        .n_seq_max = n_seq, .kv_unified = cfg->kv_unified, .flash_attn = fa,
        .type_k = cfg->type_k, .type_v = cfg->type_v,
        .backend = gpu ? VF_LLAMA_CUDA : VF_LLAMA_CPU,
        .n_gpu_layers = ngl, .offload_kqv = cfg->offload_kqv, .tensors = &c->model.tensors,
    };
    struct vf_llama_compute_out co;
    memset(&co, 0, sizeof co);
    int rc = vf_llama_compute(&ci, &co);
    if (rc) {
        vf_strlist_addf(&c->explain, "compute buffers: %s", co.explain);
        return rc;
    }

    cfg->host_model_bytes = w_cpu;
    cfg->host_kv_bytes = kv_cpu;
    cfg->host_compute_bytes = gpu ? co.host_bytes : 0;
    cfg->output_bytes = out_bytes;
    if (gpu) {
        c->weights_bytes = w_gpu;
        c->kv_bytes = kv_gpu;
        c->compute_bytes = co.device_bytes;
        c->host_bytes = w_cpu + kv_cpu + co.host_bytes + out_bytes;
    } else {
        c->weights_bytes = w_cpu;
        c->kv_bytes = kv_cpu;
        c->compute_bytes = co.device_bytes;
        c->overhead_bytes += out_bytes;
        c->host_bytes = 0;
    }

    /* ---- explanation ---- */
    char kt[16], vt[16];
    uint32_t hkv0 = vf_llm_head_kv(hp, 0);
    if (n_swa_layers == 0 && hp->n_embd_head_k == hp->n_embd_head_v && cfg->type_k == cfg->type_v &&
        !hp->n_head_kv_l[0]) {
        uint32_t blck, bsz;
        vf_dtype_block(cfg->type_k, &blck, &bsz);
        vf_strlist_addf(&c->explain,
                        "KV = %u layers x %u heads x %u x 2 (K,V) x %s B (%s) x %llu = %s",
                        n_layer, hkv0, hp->n_embd_head_k,
                        blck == 1 ? (bsz == 2 ? "2" : bsz == 4 ? "4" : "1") :
                        (snprintf(b3, sizeof b3, "%u/%u", bsz, blck), b3),
                        dt_lower(cfg->type_k, kt, sizeof kt), (unsigned long long)n_ctx,
                        vf_fmt_bytes(k_total + v_total, b1, sizeof b1));
    } else {
        vf_strlist_addf(&c->explain,
                        "KV = K %s (%s) + V %s (%s) over %u layers (%u sliding-window layers of %llu "
                        "cells, the others %llu cells) = %s",
                        vf_fmt_bytes(k_total, b1, sizeof b1), dt_lower(cfg->type_k, kt, sizeof kt),
                        vf_fmt_bytes(v_total, b2, sizeof b2), dt_lower(cfg->type_v, vt, sizeof vt),
                        n_layer, n_swa_layers, (unsigned long long)swa_cells,
                        (unsigned long long)n_ctx, vf_fmt_bytes(k_total + v_total, b3, sizeof b3));
    }
    if (gpu) {
        vf_strlist_addf(&c->explain,
                        "weights: %d/%u layers%s on the GPU = %s%s; on the CPU%s = %s",
                        n_rep_gpu, n_layer, out_gpu ? " + output" : "",
                        vf_fmt_bytes(w_gpu, b1, sizeof b1),
                        tied_copy ? " (incl. a copy of the tied token_embd for the output)" : "",
                        cfg->mmap ? " (mapped from the file)" : "",
                        vf_fmt_bytes(w_cpu, b2, sizeof b2));
    } else {
        vf_strlist_addf(&c->explain, "weights: all %u layers in RAM%s = %s (of which %s repacked "
                        "for the CPU's matrix kernels%s)", n_layer,
                        cfg->mmap ? " (mapped from the file)" : "", vf_fmt_bytes(w_cpu, b1, sizeof b1),
                        vf_fmt_bytes(w_repack, b2, sizeof b2),
                        cfg->mmap && w_repack ? ", a copy beside the mapping" : "");
    }
    vf_strlist_addf(&c->explain, "compute: %s", co.explain);
    vf_strlist_addf(&c->explain, "output (host) = %u vocab x 4 B x %u seq = %s", hp->n_vocab, n_seq,
                    vf_fmt_bytes(out_bytes, b1, sizeof b1));
    return VF_OK;
}
