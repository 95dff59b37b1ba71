/* mem_vllm.c - vLLM's GPU memory (V1 engine, releases 0.8 to the newest), as
 * vLLM itself accounts it at start-up, release by release:
 *  - weights: every parameter as vLLM allocates it (q/k/v and gate/up
 *    merged, vocabulary padded to 64, FP8 repacked for Marlin on GPUs
 *    without FP8), the rotary cos/sin caches, and PyTorch's caching
 *    allocator rounding, which is what "Model loading took X GiB" reports;
 *  - the profile run (peak activation): a forward pass over
 *    max_num_batched_tokens tokens and the sampler over min(max_num_seqs, T)
 *    dummy requests, plus the non-torch memory that appears meanwhile;
 *  - the KV budget: total x gpu_memory_utilization minus the above (the
 *    formula changed in 0.9.1, 0.20 and again around 0.25), the CUDA-graph
 *    estimate where vLLM subtracts it, the KV page layout (hybrid
 *    sliding-window groups for Gemma 3), and the start-up errors in the
 *    text of each release.
 * The spec with sources is docs/internals/vllm-memory.md. */
#include "plan.h"
#include "../core/str.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define GIB_D ((double)VF_GIB)
#define MIB_D ((double)VF_MIB)

/* ==== Releases ============================================================ */

#define VER(a, b, c) ((uint32_t)(a)*1000000u + (uint32_t)(b)*1000u + (uint32_t)(c))
#define VER_NEWEST   VER(99, 0, 0)

enum sampler_kind { SAMPLER_NATIVE = 0, SAMPLER_TRITON, SAMPLER_FLASHINFER };

/* What changes from one vLLM release to the next, as far as memory goes.
 * Dates are the upstream PRs; the release a PR first shipped in is the one
 * cut after its merge date (see the doc for the evidence of each). */
struct era {
    uint32_t v;
    int acct;              /* 1: 0.8.x, 2: 0.9.1-0.10, 3: 0.11-0.19, 4: 0.20-0.24, 5: 0.25+ */
    bool check_free;       /* start-up free-memory check (0.9.1, #18974) */
    bool free_msg_device;  /* "Free memory on device cuda:0 (...)" (#30868, 0.14) */
    bool req_ceil;         /* requested = ceil(total x u) (#30868, 0.14) */
    bool hybrid_kv;        /* hybrid KV cache manager (#17996, 0.9.1) */
    bool rand_rows;        /* sampler warm-up on rand_like(hidden[R]) (#18543, 0.9.1) */
    bool hidden_held;      /* profile keeps all T hidden states alive (#16188, 0.9.2) */
    bool cg_estimate;      /* CUDA-graph estimate subtracted (#38284, 0.20) */
    bool tokens_from_conc; /* "GPU KV cache size" = concurrency x L (#41069, 0.21) */
    bool clamp_T;          /* T = min(S x L, T), chunked-prefill off raises T (#28665, 0.11.1) */
    bool full_graphs;      /* FULL_AND_PIECEWISE cudagraph mode (0.11.0) */
    int sizes;             /* capture sizes: 0 <= 0.9, 1 0.10.0-0.11.0, 2 >= 0.11.1 */
    int sched;             /* batch defaults: 0 0.8.0-0.8.4 (by name), 1 0.8.5, 2 >= 0.9.0 */
    bool s_by_name_only;   /* 0.8.0-0.8.3: max_num_seqs 1024 everywhere */
    int kv_msg;            /* KV-fit text: 0 GB, 1 lost estimate, 2 %.2f, 3 docs, 4 gib, 5 model's */
    int nomem_msg;         /* 0 short, 1 + docs link, 2 + CPU backend note */
    enum sampler_kind sampler;
    bool kv_mem_flag;      /* --kv-cache-memory exists (#21489, 0.10.2) */
    double u_default;
    double graph_piece_mib; /* graph pool per captured piece (fitted, see the doc) */
};

/* "0.10.2", "v0.11.0", "0.15.2rc1", "0.20.0+cu129" -> VER(); "" -> newest. */
static int parse_version(const char *s, uint32_t *out) {
    while (*s == ' ')
        s++;
    if (*s == 'v' || *s == 'V')
        s++;
    if (!*s) {
        *out = VER_NEWEST;
        return VF_OK;
    }
    uint32_t part[3] = {0, 0, 0};
    int n = 0;
    while (n < 3) {
        if (*s < '0' || *s > '9')
            break;
        uint32_t x = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            x = x * 10 + (uint32_t)(*s - '0');
            s++;
            digits++;
        }
        if (*s >= '0' && *s <= '9')
            return VF_ERR_ARG;
        part[n++] = x;
        if (*s != '.')
            break;
        s++;
    }
    if (n < 2 || part[1] > 999 || part[2] > 999)
        return VF_ERR_ARG;
    *out = VER(part[0], part[1], part[2]);
    return VF_OK;
}

static void era_of(uint32_t v, struct era *e) {
    memset(e, 0, sizeof *e);
    e->v = v;
    e->acct = v < VER(0, 9, 1)    ? 1
              : v < VER(0, 11, 0) ? 2
              : v < VER(0, 20, 0) ? 3
              : v < VER(0, 25, 0) ? 4
                                  : 5;
    e->check_free = v >= VER(0, 9, 1);
    e->free_msg_device = e->req_ceil = v >= VER(0, 14, 0);
    e->hybrid_kv = v >= VER(0, 9, 1);
    e->rand_rows = v >= VER(0, 9, 1);
    e->hidden_held = v >= VER(0, 9, 2);
    e->cg_estimate = v >= VER(0, 20, 0);
    e->tokens_from_conc = v >= VER(0, 21, 0);
    e->clamp_T = v >= VER(0, 11, 1);
    e->full_graphs = v >= VER(0, 11, 0);
    e->sizes = v < VER(0, 10, 0) ? 0 : v < VER(0, 11, 1) ? 1 : 2;
    e->sched = v < VER(0, 8, 5) ? 0 : v < VER(0, 9, 0) ? 1 : 2;
    e->s_by_name_only = v < VER(0, 8, 4);
    e->kv_msg = v < VER(0, 8, 4)    ? 0
                : v < VER(0, 9, 1)  ? 1
                : v < VER(0, 13, 0) ? 2
                : v < VER(0, 14, 0) ? 3
                : v < VER(0, 22, 0) ? 4
                                    : 5;
    e->nomem_msg = v < VER(0, 13, 0) ? 0 : v < VER(0, 22, 0) ? 1 : 2;
    /* Top-k/top-p sampler the warm-up uses: the pip wheel has no FlashInfer
     * up to 0.11.0 (it became a dependency in #26443 and was disabled by
     * default in #26859, 0.11.1); Triton kernels from #33538 (0.17);
     * FlashInfer on by default again from #40376 (0.21). */
    e->sampler = v >= VER(0, 21, 0)   ? SAMPLER_FLASHINFER
                 : v >= VER(0, 17, 0) ? SAMPLER_TRITON
                                      : SAMPLER_NATIVE;
    e->kv_mem_flag = v >= VER(0, 10, 2);
    e->u_default = v >= VER(0, 20, 0) ? 0.92 : 0.90;
    e->graph_piece_mib = v < VER(0, 10, 0)   ? 0.80
                         : v < VER(0, 20, 0) ? 0.28
                         : v < VER(0, 25, 0) ? 0.22
                                             : 0.11;
}

/* ==== Python number formatting (vLLM's messages print Python floats) ===== */

/* round(x, 2) as Python prints it: "4.0", "3.6", "47.38". */
static const char *py_round2(double x, char *buf, size_t n) {
    snprintf(buf, n, "%.2f", x);
    size_t l = strlen(buf);
    while (l > 0 && buf[l - 1] == '0' && l >= 2 && buf[l - 2] != '.')
        buf[--l] = '\0';
    return buf;
}

/* repr(float): the shortest form that reads back ("0.9", "0.95", "1.0"). */
static const char *py_repr(double x, char *buf, size_t n) {
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, x);
        double y;
        if (sscanf(buf, "%lf", &y) == 1 && y == x)
            break;
    }
    if (!strchr(buf, '.') && !strchr(buf, 'e') && strlen(buf) + 2 < n)
        strcat(buf, ".0");
    return buf;
}

/* "{:,}" */
static const char *commas(uint64_t v, char *buf, size_t n) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    size_t l = strlen(tmp), o = 0;
    for (size_t i = 0; i < l && o + 2 < n; i++) {
        if (i && (l - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
    return buf;
}

static double gib(double bytes) { return bytes / GIB_D; }

/* ==== PyTorch's CUDA caching allocator ===================================== */

/* "Model loading took" is torch.cuda.memory_allocated() after loading minus
 * before, and the caching allocator counts whole blocks: requests round up
 * to 512 B; a request above 1 MiB is carved from a free cached block (best
 * fit) or a new segment (20 MiB below 10 MiB, else rounded up to 2 MiB), and
 * the block is split only when more than 1 MiB would remain, so a 31.5 MiB
 * tensor costs 32 MiB (c10/cuda/CUDACachingAllocator.cpp). */
#define A_MIN_BLOCK       512u
#define A_SMALL_SIZE      VF_MIB
#define A_LARGE_BUFFER    (20 * VF_MIB)
#define A_MIN_LARGE_ALLOC (10 * VF_MIB)
#define A_ROUND_LARGE     (2 * VF_MIB)
#define A_FREE_MAX        4096

struct alloc_sim {
    uint64_t allocated;
    size_t n_free;
    uint64_t free_blocks[A_FREE_MAX];
};

static void sim_push_free(struct alloc_sim *s, uint64_t b) {
    if (s->n_free < A_FREE_MAX)
        s->free_blocks[s->n_free++] = b;
}

/* Allocate; returns the block size charged (pass it to sim_free). */
static uint64_t sim_alloc(struct alloc_sim *s, uint64_t bytes) {
    if (!bytes)
        return 0; /* empty tensors take no block */
    uint64_t size = bytes < A_MIN_BLOCK ? A_MIN_BLOCK : VF_PAD(bytes, A_MIN_BLOCK);
    if (size <= A_SMALL_SIZE) {
        s->allocated += size;
        return size;
    }
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < s->n_free; i++)
        if (s->free_blocks[i] >= size &&
            (best == SIZE_MAX || s->free_blocks[i] < s->free_blocks[best]))
            best = i;
    uint64_t block;
    if (best != SIZE_MAX) {
        block = s->free_blocks[best];
        s->free_blocks[best] = s->free_blocks[--s->n_free];
    } else {
        block = size < A_MIN_LARGE_ALLOC ? A_LARGE_BUFFER : VF_PAD(size, A_ROUND_LARGE);
    }
    uint64_t rest = block - size;
    if (rest > A_SMALL_SIZE) {
        sim_push_free(s, rest);
        block = size;
    }
    s->allocated += block;
    return block;
}

static void sim_free(struct alloc_sim *s, uint64_t block) {
    if (!block)
        return;
    s->allocated -= block;
    if (block > A_SMALL_SIZE)
        sim_push_free(s, block);
}

/* ==== Weights ============================================================= */

struct wctx {
    const struct vf_model *m;
    uint32_t b; /* model dtype bytes */
    uint32_t tp;
    bool marlin_fp8; /* FP8 checkpoint on a GPU without FP8: W8A16 Marlin */
    bool block_fp8;  /* the checkpoint has 128x128 block scales */
    size_t n_rope;
    uint64_t rope_rows[2], rope_dim[2];
    bool rope_linear[2]; /* LinearScalingRotaryEmbedding: rows already x factor */
    bool rope_done;
    struct alloc_sim *sim;
    /* open groups of the current module scope */
    char scope[VF_TENSOR_NAME_MAX];
    size_t n_open;
    char keys[48][VF_TENSOR_NAME_MAX];
    uint64_t bytes[48];
    /* totals for the explanation */
    uint64_t n_tensors, raw_bytes, param_bytes, rope_bytes, fp8_scale_extra;
    bool any_fp8, any_awq, multimodal;
};

static void replace(char *s, size_t n, const char *from, const char *to) {
    char *p = strstr(s, from);
    if (!p)
        return;
    char tmp[VF_TENSOR_NAME_MAX];
    snprintf(tmp, sizeof tmp, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
    vf_strlcpy(s, tmp, n);
}

/* The parameter a checkpoint tensor is loaded into: q/k/v -> qkv_proj,
 * gate/up -> gate_up_proj, experts -> the fused w13/w2 of FusedMoE. */
static void merge_key(const char *name, char *key, size_t n) {
    vf_strlcpy(key, name, n);
    replace(key, n, ".q_proj.", ".qkv_proj.");
    replace(key, n, ".k_proj.", ".qkv_proj.");
    replace(key, n, ".v_proj.", ".qkv_proj.");
    replace(key, n, ".gate_proj.", ".gate_up_proj.");
    replace(key, n, ".up_proj.", ".gate_up_proj.");
    char *e = strstr(key, ".experts.");
    if (e) {
        const char *p = e + strlen(".experts.");
        const char *q = p;
        while (*q >= '0' && *q <= '9')
            q++;
        if (q > p && *q == '.') {
            const char *rest = q + 1;
            const char *fused = NULL;
            if (vf_str_starts(rest, "gate_up_proj.") || vf_str_starts(rest, "w1.") ||
                vf_str_starts(rest, "w3."))
                fused = "w13";
            else if (vf_str_starts(rest, "down_proj.") || vf_str_starts(rest, "w2."))
                fused = "w2";
            if (fused) {
                const char *suffix = strchr(rest, '.');
                char tmp[VF_TENSOR_NAME_MAX];
                snprintf(tmp, sizeof tmp, "%.*s.experts.%s%s", (int)(e - key), key, fused,
                         suffix ? suffix : "");
                vf_strlcpy(key, tmp, n);
            }
        }
    }
}

/* The module scope a merge happens in: the name up to its first
 * ".<number>." (one decoder or encoder layer), or "" for the globals. */
static void scope_of(const char *name, char *out, size_t n) {
    const char *p = name;
    while ((p = strchr(p, '.')) != NULL) {
        const char *q = p + 1;
        while (*q >= '0' && *q <= '9')
            q++;
        if (q > p + 1 && *q == '.') {
            size_t l = (size_t)(q - name) + 1;
            if (l >= n)
                l = n - 1;
            memcpy(out, name, l);
            out[l] = '\0';
            return;
        }
        p++;
    }
    out[0] = '\0';
}

static bool is_vision(const char *name) {
    return strstr(name, "vision_tower") || strstr(name, "vision_model") ||
           strstr(name, "multi_modal_projector") || strstr(name, "visual.");
}

/* RotaryEmbedding._compute_cos_sin_cache, run on the GPU while the model
 * is built (torch.device context): fp32 t, freqs, cos, sin and their concat
 * (linear scaling concatenates once more), then the cache in the model
 * dtype; the fp32 temporaries go back to the allocator's cache. */
static void sim_rope(struct wctx *w) {
    for (size_t r = 0; r < w->n_rope; r++) {
        uint64_t rows = w->rope_rows[r], dim = w->rope_dim[r];
        uint64_t half = rows * (dim / 2) * 4;
        uint64_t t = sim_alloc(w->sim, rows * 4);
        uint64_t inv = sim_alloc(w->sim, dim / 2 * 4);
        uint64_t freqs = sim_alloc(w->sim, half);
        uint64_t cosb = sim_alloc(w->sim, half);
        uint64_t sinb = sim_alloc(w->sim, half);
        uint64_t cat = sim_alloc(w->sim, 2 * half);
        sim_free(w->sim, t);
        sim_free(w->sim, freqs);
        sim_free(w->sim, cosb);
        sim_free(w->sim, sinb);
        if (w->rope_linear[r]) {
            uint64_t cat2 = sim_alloc(w->sim, 2 * half);
            sim_free(w->sim, cat);
            cat = cat2;
        }
        sim_free(w->sim, inv);
        uint64_t cache = rows * dim * w->b;
        sim_alloc(w->sim, cache);
        sim_free(w->sim, cat);
        w->rope_bytes += cache;
    }
}

static void flush_scope(struct wctx *w) {
    for (size_t i = 0; i < w->n_open; i++)
        sim_alloc(w->sim, w->bytes[i]);
    bool lm_layer = w->scope[0] && !is_vision(w->scope);
    if (lm_layer) {
        /* Attention's _k_scale, _v_scale, _q_scale, _prob_scale (fp32 scalars) */
        for (int k = 0; k < 4; k++)
            sim_alloc(w->sim, 4);
        if (!w->rope_done) {
            sim_rope(w);
            w->rope_done = true;
        }
    }
    w->n_open = 0;
}

static void add_param(struct wctx *w, const char *key, uint64_t bytes) {
    w->param_bytes += bytes;
    for (size_t i = 0; i < w->n_open; i++)
        if (!strcmp(w->keys[i], key)) {
            w->bytes[i] += bytes;
            return;
        }
    if (w->n_open == VF_ARRAY_LEN(w->keys))
        flush_scope(w);
    vf_strlcpy(w->keys[w->n_open], key, sizeof w->keys[0]);
    w->bytes[w->n_open++] = bytes;
}

static bool is_float(enum vf_dtype d) {
    return d == VF_DT_F32 || d == VF_DT_F16 || d == VF_DT_BF16;
}

static bool is_fp8(enum vf_dtype d) { return d == VF_DT_F8_E4M3 || d == VF_DT_F8_E5M2; }

static bool is_scale(const char *name) {
    return vf_str_ends(name, "_scale_inv") || vf_str_ends(name, "_scale") ||
           vf_str_ends(name, ".scales");
}

static bool is_vocab(const char *name) {
    return vf_str_ends(name, "embed_tokens.weight") || vf_str_ends(name, "lm_head.weight") ||
           !strcmp(name, "token_embd.weight") || !strcmp(name, "output.weight");
}

/* Bytes of one checkpoint tensor once vLLM holds it; *marlin_scales gets
 * the per-group scales Marlin adds for an FP8 weight (a separate parameter). */
static uint64_t tensor_bytes(struct wctx *w, const struct vf_tensor *t, uint64_t *marlin_scales) {
    *marlin_scales = 0;
    uint64_t bytes;
    if (is_vocab(t->name) && is_float(t->dtype)) {
        uint64_t rows = VF_PAD((uint64_t)t->ne[1], 64);
        bytes = rows * (uint64_t)t->ne[0] * w->b;
    } else if (w->marlin_fp8 && is_scale(t->name) && t->dtype == VF_DT_F32) {
        bytes = 0; /* weight_scale_inv is replaced by Marlin's per-group scales */
    } else if (is_float(t->dtype) && !is_scale(t->name)) {
        bytes = (uint64_t)vf_tensor_nelements(t) * w->b;
    } else {
        bytes = t->nbytes;
    }
    if (w->marlin_fp8 && is_fp8(t->dtype) && t->n_dims >= 2) {
        /* prepare_fp8_layer_for_marlin: block scales [N/128, K/128] fp32
         * become [K/128, N] in the model dtype (repeat_interleave over N) */
        uint64_t k = (uint64_t)t->ne[0], nrow = (uint64_t)t->ne[1] * (uint64_t)t->ne[2];
        uint64_t groups = w->block_fp8 ? (k + 127) / 128 : 1;
        *marlin_scales = groups * nrow * w->b / w->tp;
        w->fp8_scale_extra += *marlin_scales;
    }
    if (w->tp > 1 && t->n_dims >= 2)
        bytes /= w->tp;
    return bytes;
}

/* Simulate loading; returns the allocator total ("Model loading took"). */
static int weights_of(struct wctx *w) {
    const struct vf_tensor_list *l = &w->m->tensors;
    struct alloc_sim *sim = vf_calloc(1, sizeof *sim);
    if (!sim)
        return VF_ERR_NOMEM;
    w->sim = sim;
    w->scope[0] = '\0';
    char key[VF_TENSOR_NAME_MAX], scope[VF_TENSOR_NAME_MAX];
    for (size_t i = 0; i < l->n; i++) {
        const struct vf_tensor *t = &l->v[i];
        if (is_fp8(t->dtype))
            w->any_fp8 = true;
        if (vf_str_ends(t->name, ".qweight"))
            w->any_awq = true;
        if (is_vision(t->name))
            w->multimodal = true;
        w->raw_bytes += t->nbytes;
        w->n_tensors++;
        /* a tied checkpoint that still ships lm_head: vLLM skips it */
        if (w->m->llm.tied_embeddings && vf_str_ends(t->name, "lm_head.weight"))
            continue;
        scope_of(t->name, scope, sizeof scope);
        if (strcmp(scope, w->scope) != 0) {
            flush_scope(w);
            vf_strlcpy(w->scope, scope, sizeof w->scope);
        }
        merge_key(t->name, key, sizeof key);
        uint64_t scales;
        add_param(w, key, tensor_bytes(w, t, &scales));
        if (scales) {
            strncat(key, "_marlin_scale", sizeof key - strlen(key) - 1);
            add_param(w, key, scales);
        }
    }
    flush_scope(w);
    if (!w->rope_done) {
        sim_rope(w);
        w->rope_done = true;
    }
    return VF_OK;
}

/* ==== KV cache layout ===================================================== */

struct kv_layout {
    uint32_t bs;
    uint32_t n_full, n_swa; /* attention layers by type */
    uint32_t window;        /* sliding window (tokens), 0 none */
    uint64_t page;          /* bytes per block per layer (uniform pages) */
    uint64_t page_sum;      /* sum over layers (uniform-type, mixed head counts) */
    bool hybrid;            /* hybrid manager groups (sliding + full) */
    uint32_t group_size, n_groups, n_pad;
    uint64_t per_token_all; /* bytes per token over all layers (full attention) */
};

static void kv_layout_of(const struct vf_llm_hparams *hp, uint32_t bs, uint32_t kvb, uint32_t tp,
                         const struct era *e, struct kv_layout *k) {
    memset(k, 0, sizeof *k);
    k->bs = bs;
    k->window = hp->n_swa;
    for (uint32_t il = 0; il < hp->n_layer && il < VF_MAX_LAYERS; il++) {
        uint32_t hkv = vf_llm_head_kv(hp, il);
        if (!hkv)
            continue;
        uint32_t hkv_tp = hkv / tp ? hkv / tp : 1;
        uint32_t hdv = hp->n_embd_head_v ? hp->n_embd_head_v : hp->n_embd_head_k;
        uint64_t page = (uint64_t)bs * hkv_tp * (hp->n_embd_head_k + hdv) * kvb;
        if (!k->page)
            k->page = page;
        k->page_sum += page;
        k->per_token_all += page / bs;
        if (vf_llm_layer_is_swa(hp, il))
            k->n_swa++;
        else
            k->n_full++;
    }
    if (k->n_swa && k->n_full && e->hybrid_kv) {
        uint32_t mn = VF_MIN(k->n_swa, k->n_full), mx = VF_MAX(k->n_swa, k->n_full);
        k->group_size = (double)mx < 1.5 * mn ? mx : mn;
        uint32_t gf = (k->n_full + k->group_size - 1) / k->group_size;
        uint32_t gs = (k->n_swa + k->group_size - 1) / k->group_size;
        k->n_groups = gf + gs;
        k->n_pad = gf * k->group_size - k->n_full + gs * k->group_size - k->n_swa;
        k->hybrid = true;
    } else if (k->n_swa && k->n_full) {
        /* before 0.9.1 sliding-window layers are unified to full attention */
        k->n_full += k->n_swa;
        k->n_swa = 0;
        k->window = 0;
    }
}

static uint64_t cdiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

/* FullAttentionSpec / SlidingWindowSpec.max_memory_usage_bytes, per layer. */
static uint64_t full_mem(const struct kv_layout *k, uint64_t len) {
    return cdiv(len, k->bs) * k->page;
}
static uint64_t swa_mem(const struct kv_layout *k, uint64_t len, uint64_t T) {
    uint64_t n = VF_MIN((uint64_t)k->window - 1 + T, len);
    return (cdiv(n, k->bs) + 1) * k->page;
}

/* Memory one request of length len needs over all layers (the fit check). */
static uint64_t need_bytes(const struct kv_layout *k, uint64_t len, uint64_t T) {
    if (!k->page)
        return 0;
    /* page_sum covers mixed head counts for full-attention-only models */
    if (!k->n_swa)
        return cdiv(len, k->bs) * k->page_sum;
    return (uint64_t)k->n_full * full_mem(k, len) + (uint64_t)k->n_swa * swa_mem(k, len, T);
}

/* estimate_max_model_len: binary search over [1, hi]. */
static uint64_t estimate_len(const struct kv_layout *k, uint64_t hi, uint64_t T, int64_t avail) {
    if (avail <= 0 || need_bytes(k, 1, T) > (uint64_t)avail)
        return 0;
    uint64_t left = 1, right = hi, result = 1;
    while (left <= right) {
        uint64_t mid = (left + right) / 2;
        if (need_bytes(k, mid, T) <= (uint64_t)avail) {
            result = mid;
            left = mid + 1;
        } else {
            right = mid - 1;
        }
    }
    return result;
}

struct kv_result {
    uint64_t num_blocks, bytes, tokens;
    double concurrency;
};

static void kv_fill(const struct kv_layout *k, const struct era *e, int64_t avail, uint64_t L,
                    uint64_t T, struct kv_result *r) {
    memset(r, 0, sizeof *r);
    if (avail <= 0 || !k->page)
        return;
    if (k->hybrid) {
        r->num_blocks = (uint64_t)avail / k->page / k->group_size;
        r->bytes = r->num_blocks * k->page * k->group_size;
        /* get_max_concurrency_for_kv_cache_config: one spec per group */
        uint32_t gf = cdiv(k->n_full, k->group_size), gs = k->n_groups - gf;
        uint64_t per_req = (uint64_t)k->group_size * (gf * full_mem(k, L) + gs * swa_mem(k, L, T));
        uint64_t per_block = k->page * k->group_size;
        r->concurrency = (double)r->num_blocks / (double)cdiv(per_req, per_block);
        r->tokens = r->num_blocks / k->n_groups * k->bs;
    } else {
        uint32_t nl = k->n_full + k->n_swa;
        r->num_blocks = (uint64_t)avail / k->page_sum;
        if (k->page_sum == (uint64_t)k->page * nl)
            r->num_blocks = (uint64_t)avail / k->page / nl;
        r->bytes = r->num_blocks * k->page_sum;
        uint64_t per_req_blocks = k->n_swa ? cdiv(swa_mem(k, L, T), k->page) : cdiv(L, k->bs);
        r->concurrency = (double)r->num_blocks / (double)per_req_blocks;
        r->tokens = r->num_blocks * k->bs;
    }
    if (e->tokens_from_conc)
        r->tokens = (uint64_t)(r->concurrency * (double)L);
    if (e->acct == 1)
        r->concurrency = (double)r->tokens / (double)L;
}

/* ==== The profile run ===================================================== */

struct act {
    uint64_t fwd, samp, enc, ws, peak;
    double s_per_logit;
    uint64_t n_img;
};

/* One decoder layer's live set over T tokens (Inductor reuses the rest):
 * MLP: residual + normed input + gate_up [T, 2I] + activation [T, I], and
 * with piecewise CUDA-graph compilation the attention output [T, q] that
 * the piece after the attention op receives stays referenced by the runner;
 * attention: residual + input + qkv + attention output + o_proj output;
 * fused MoE: the three intermediate caches of fused_experts plus router logits. */
static uint64_t fwd_bytes(const struct vf_llm_hparams *hp, uint64_t T, uint32_t b, uint32_t tp,
                          bool piecewise) {
    uint64_t h = hp->n_embd, hd = hp->n_embd_head_k;
    uint64_t q = (uint64_t)hp->n_head * hd / tp,
             kv = (uint64_t)(hp->n_head_kv ? hp->n_head_kv : 1) * hd / tp;
    uint64_t attn = 2 * h + (q + 2 * kv) + q + h;
    uint64_t mlp = 2 * h + (piecewise ? q : 0);
    if (hp->n_expert) {
        uint64_t ie = hp->n_ff_exp / tp, k = hp->n_expert_used ? hp->n_expert_used : 1;
        mlp += k * (3 * ie + h) + (uint64_t)hp->n_expert * 4 / b;
    } else {
        mlp += 3 * (uint64_t)(hp->n_ff / tp);
    }
    return T * b * VF_MAX(attn, mlp);
}

static void activations(const struct vf_llm_hparams *hp, const struct era *e,
                        const struct vf_device *dev, bool multimodal, bool piecewise, uint64_t T,
                        uint64_t R, uint64_t S, uint32_t b, uint32_t tp, struct act *a) {
    memset(a, 0, sizeof *a);
    int cc = dev->cc_major * 10 + dev->cc_minor;
    uint64_t h = hp->n_embd, V = VF_PAD((uint64_t)hp->n_vocab, 64);
    a->fwd = fwd_bytes(hp, T, b, tp, piecewise);
    enum sampler_kind sk = e->sampler;
    if (sk == SAMPLER_FLASHINFER && cc && cc < 75)
        sk = R >= 8 ? SAMPLER_TRITON : SAMPLER_NATIVE;
    if (sk == SAMPLER_TRITON && R < 8)
        sk = SAMPLER_NATIVE;
    /* bytes per logit live at the sampler's peak: bf16 logits 2 + fp32 4,
     * and for the PyTorch sort: values 4 + indices 8 + iota 8 + CUB's
     * double buffers 12 = 38; FlashInfer/Triton: + masked/probs/q 8 = 14 */
    a->s_per_logit = sk == SAMPLER_NATIVE ? 38.0 : 14.0;
    uint64_t logits = (uint64_t)((double)(R * V) * a->s_per_logit);
    if (sk == SAMPLER_TRITON) {
        uint64_t progs = dev->sm_count ? (uint64_t)dev->sm_count : 80, p2 = 1;
        while (p2 < VF_MIN(R, progs))
            p2 <<= 1;
        logits += VF_MIN(p2, progs) * V * 4;
    }
    a->samp = (e->hidden_held ? T * h * b : 0) + R * h * b * (e->rand_rows ? 2 : 1) + logits;
    a->ws = cc >= 90 ? 32 * VF_MIB : 8 * VF_MIB + 128 * VF_KIB;
    a->peak = VF_MAX(a->fwd, a->samp);
    if (multimodal) {
        /* Gemma 3's SigLIP: 896x896 images, 4096 patches of width 1152, MLP
         * 4304, 256 soft tokens each; vLLM profiles as many images as the
         * encoder budget max(T, 256) holds, in one batch, and keeps their
         * outputs cached through the decoder run. Not calibrated (no log). */
        a->n_img = VF_MAX(1, VF_MIN(cdiv(VF_MAX(T, 256), 256), S));
        uint64_t per_img = 4096ull * (2 * 1152 + 2 * 4304) * b + 3ull * 896 * 896 * 4;
        uint64_t out = a->n_img * 256 * h * b;
        a->enc = out;
        a->peak = VF_MAX(a->n_img * per_img, a->peak + out);
    }
    a->peak += a->ws;
}

/* ==== CUDA graphs ========================================================= */

struct graphs {
    uint32_t n_pw, n_full, largest;
    uint64_t actual, estimate;
};

static void graphs_of(const struct vf_llm_hparams *hp, const struct era *e, uint64_t T, uint64_t S,
                      uint32_t b, uint32_t tp, bool eager, struct graphs *g) {
    memset(g, 0, sizeof *g);
    if (eager)
        return;
    uint64_t M;
    if (e->sizes == 0)
        M = 512;
    else if (e->sizes == 1)
        M = VF_MIN(2 * S, 512);
    else
        M = VF_MIN(VF_MIN(2 * S, 512), T);
    static const uint32_t small[] = {1, 2, 4};
    for (size_t i = 0; i < 3; i++)
        if (small[i] <= M && small[i] <= T) {
            g->n_pw++;
            g->largest = small[i];
            if (e->full_graphs && small[i] <= S)
                g->n_full++;
        }
    for (uint64_t s = 8; s <= M && s <= T; s += (e->sizes == 2 && s >= 256) ? 16 : 8) {
        g->n_pw++;
        g->largest = (uint32_t)s;
        if (e->full_graphs && s <= S)
            g->n_full++;
    }
    uint64_t pieces = (uint64_t)hp->n_layer + 1;
    double piece = e->graph_piece_mib * MIB_D;
    double full_graph = 0.06 * MIB_D * hp->n_layer;
    uint64_t act = fwd_bytes(hp, g->largest, b, tp, true);
    g->actual = (uint64_t)(g->n_pw * pieces * piece + g->n_full * full_graph) + act;
    if (e->cg_estimate) {
        /* profile_cudagraph_memory: first capture of each mode plus the
         * second capture's delta (at least 1 MiB) times the other graphs */
        double pw_graph = VF_MAX(pieces * 0.22 * MIB_D, MIB_D);
        double fg = VF_MAX(full_graph, MIB_D);
        double first = (double)act + pw_graph;
        double est = first + (g->n_pw ? (g->n_pw - 1) * pw_graph : 0) +
                     (g->n_full ? (g->n_full - 1) * fg : 0);
        g->estimate = (uint64_t)est;
    }
}

/* ==== Errors in vLLM's words ============================================= */

static void err_nomem(struct vf_strlist *errors, const struct era *e) {
    static const char *base = "No available memory for the cache blocks. Try increasing "
                              "`gpu_memory_utilization` when initializing the engine";
    static const char *docs = "See https://docs.vllm.ai/en/latest/configuration/conserving_memory/ "
                              "for more details.";
    if (e->nomem_msg == 0)
        vf_strlist_addf(errors, "ValueError: %s.", base);
    else if (e->nomem_msg == 1)
        vf_strlist_addf(errors, "ValueError: %s. %s", base, docs);
    else
        vf_strlist_addf(errors,
                        "ValueError: %s (this flag also controls CPU memory reservation "
                        "on the CPU backend, despite its name). %s",
                        base, docs);
}

static void err_kvfit(struct vf_strlist *errors, const struct era *e, uint64_t L, uint64_t need,
                      int64_t avail, uint64_t est) {
    char n1[32], n2[32], msg[160] = "";
    double gn = gib((double)need), ga = gib((double)avail);
    switch (e->kv_msg) {
    case 0:
        vf_strlist_addf(errors,
                        "ValueError: To serve at least one request with the models's max "
                        "seq len (%llu), (%.2f GB KV cache is needed, which is larger than the "
                        "available KV cache memory (%.2f GB). Try increasing "
                        "`gpu_memory_utilization` or decreasing `max_model_len` when "
                        "initializing the engine.",
                        (unsigned long long)L, gn, ga);
        return;
    case 1:
        /* the f-string with the estimate is a separate statement (#16168) */
        vf_strlist_addf(errors,
                        "ValueError: To serve at least one request with the models's max "
                        "seq len (%llu), (%.2f GiB KV cache is needed, which is larger than the "
                        "available KV cache memory (%.2f GiB).%s  Try increasing "
                        "`gpu_memory_utilization` or decreasing `max_model_len` when "
                        "initializing the engine.",
                        (unsigned long long)L, gn, ga,
                        est ? " Based on the available memory," : "");
        return;
    case 2:
    case 3:
        if (est)
            snprintf(msg, sizeof msg,
                     "Based on the available memory, the estimated maximum model "
                     "length is %llu.",
                     (unsigned long long)est);
        vf_strlist_addf(errors,
                        "ValueError: To serve at least one request with the models's max "
                        "seq len (%llu), (%.2f GiB KV cache is needed, which is larger than the "
                        "available KV cache memory (%.2f GiB). %s Try increasing "
                        "`gpu_memory_utilization` or decreasing `max_model_len` when "
                        "initializing the engine.%s",
                        (unsigned long long)L, gn, ga, msg,
                        e->kv_msg == 3 ? " See https://docs.vllm.ai/en/latest/configuration/"
                                         "conserving_memory/ for more details."
                                       : "");
        return;
    default:
        if (est)
            snprintf(msg, sizeof msg,
                     "Based on the available memory, the estimated maximum model "
                     "length is %llu. ",
                     (unsigned long long)est);
        vf_strlist_addf(
            errors,
            "ValueError: To serve at least one request with the %s max seq "
            "len (%llu), (%s GiB KV cache is needed, which is larger than the available "
            "KV cache memory (%s GiB). %sTry increasing `gpu_memory_utilization` %sor "
            "decreasing `max_model_len` when initializing the engine. See "
            "https://docs.vllm.ai/en/latest/configuration/conserving_memory/ for more "
            "details.",
            e->kv_msg == 5 ? "model's" : "models's", (unsigned long long)L,
            py_round2(gn, n1, sizeof n1), py_round2(ga, n2, sizeof n2), msg,
            e->kv_msg == 5 ? "(which also controls CPU memory on the CPU backend) " : "");
        return;
    }
}

static void err_free(struct vf_strlist *errors, const struct era *e, uint64_t free0, uint64_t total,
                     double u, double requested) {
    char f[32], t[32], us[32], r[32];
    vf_strlist_addf(errors,
                    "ValueError: Free memory on device%s (%s/%s GiB) on startup is less "
                    "than desired GPU memory utilization (%s, %s GiB). Decrease GPU memory "
                    "utilization or reduce GPU memory used by other processes.",
                    e->free_msg_device ? " cuda:0" : "", py_round2(gib((double)free0), f, sizeof f),
                    py_round2(gib((double)total), t, sizeof t), py_repr(u, us, sizeof us),
                    py_round2(gib(requested), r, sizeof r));
}

/* ==== Scheduler defaults ================================================== */

static bool name_has(const char *name, const char *what) {
    char low[128];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof low; i++)
        low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    low[i] = '\0';
    return strstr(low, what) != NULL;
}

/* EngineArgs defaults for `vllm serve` (OPENAI_API_SERVER usage context). */
static void batch_defaults(const struct era *e, const struct vf_device *dev, uint32_t *T,
                           uint32_t *S) {
    bool big;
    if (e->sched == 0)
        big = name_has(dev->name, "h100") || name_has(dev->name, "h200");
    else if (e->sched == 1)
        big = dev->total_bytes >= 70 * VF_GIB;
    else
        big = dev->total_bytes >= 70 * VF_GIB && !name_has(dev->name, "a100");
    *T = big ? 8192 : 2048;
    *S = big || e->s_by_name_only ? 1024 : 256;
}

/* ==== The model =========================================================== */

struct ctx_bytes {
    uint64_t bytes;
    char line[256];
};

static const char *gs(double bytes, char *buf, size_t n) {
    snprintf(buf, n, "%.2f GiB", gib(bytes));
    return buf;
}

static const char *ms(double bytes, char *buf, size_t n) {
    if (bytes < MIB_D)
        snprintf(buf, n, "%.0f KiB", bytes / 1024.0);
    else
        snprintf(buf, n, "%.1f MiB", bytes / MIB_D);
    return buf;
}

int vf_mem_vllm(struct vf_component *c, const struct vf_device *dev, struct vf_strlist *errors) {
    struct vf_vllm_cfg *cfg = &c->vllm;
    const struct vf_llm_hparams *hp = &c->model.llm;
    struct vf_strlist *ex = &c->explain;
    char b1[48], b2[48], b3[48], b4[48], b5[48], b6[48], b7[48], b8[48];
    int rc = VF_OK;
    bool fail = false;

    if (dev->kind != VF_DEVICE_GPU) {
        vf_strlist_addf(ex, "vLLM's memory model covers CUDA GPUs only (the CPU backend sizes "
                            "its KV cache from VLLM_CPU_KVCACHE_SPACE)");
        return VF_ERR_UNSUPPORTED;
    }
    if (!hp->n_layer || !hp->n_vocab || !hp->n_embd || !hp->n_head || !hp->n_embd_head_k) {
        vf_strlist_addf(ex, "%s has no decoder hyper-parameters vLLM could serve", c->model.name);
        return VF_ERR_ARG;
    }
    if (!dev->total_bytes) {
        vf_strlist_addf(ex, "the device reports no memory");
        return VF_ERR_ARG;
    }

    /* ---- release and settings ---- */
    uint32_t ver;
    if (parse_version(cfg->version, &ver)) {
        vf_strlist_addf(ex, "unrecognized vLLM version '%s' (expected major.minor[.patch])",
                        cfg->version);
        return VF_ERR_ARG;
    }
    if (ver < VER(0, 8, 0)) {
        vf_strlist_addf(ex, "vLLM %s predates the V1 engine (0.8.0); only V1 is modelled",
                        cfg->version);
        return VF_ERR_UNSUPPORTED;
    }
    struct era e;
    era_of(ver, &e);
    const uint32_t tp = cfg->tensor_parallel_size > 1 ? cfg->tensor_parallel_size : 1;
    const int cc = dev->cc_major * 10 + dev->cc_minor;
    uint32_t b = 2;
    if (!vf_strcasecmp(cfg->dtype, "float32") || !vf_strcasecmp(cfg->dtype, "float"))
        b = 4;
    const double u = cfg->gpu_memory_utilization > 0 ? cfg->gpu_memory_utilization : e.u_default;
    const uint32_t bs = cfg->block_size ? cfg->block_size : 16;
    const uint32_t kvb =
        cfg->kv_cache_dtype == VF_DT_F8_E4M3 || cfg->kv_cache_dtype == VF_DT_F8_E5M2 ? 1 : b;
    uint64_t L = cfg->max_model_len ? cfg->max_model_len : hp->n_ctx_train;
    if (!L) {
        vf_strlist_addf(ex, "the model states no context length; set --max-model-len");
        return VF_ERR_ARG;
    }
    uint32_t T_def, S_def;
    batch_defaults(&e, dev, &T_def, &S_def);
    uint64_t S = cfg->max_num_seqs ? cfg->max_num_seqs : S_def;
    uint64_t T = cfg->max_num_batched_tokens;
    bool chunked = cfg->enable_chunked_prefill || !e.clamp_T; /* V1 forced it on before 0.11.1 */
    if (!T) {
        T = T_def;
        if (e.clamp_T) {
            if (!chunked)
                T = VF_MAX(L, T);
            T = VF_MIN(S * L, T);
            if (!cfg->max_num_seqs)
                S = VF_MIN(S, T);
        }
    }
    const uint64_t R = VF_MIN(S, T);
    const char *vname = cfg->version[0] ? cfg->version : "newest";
    vf_strlist_addf(ex,
                    "vLLM %s (V1 engine, %s accounting): max_model_len %llu, "
                    "max_num_batched_tokens %llu, max_num_seqs %llu, block %u tokens, "
                    "%s weights/activations, %s KV cache",
                    vname,
                    e.acct == 1   ? "0.8 peak-of-device"
                    : e.acct == 2 ? "0.9.1-0.10 profiling"
                    : e.acct == 3 ? "0.11-0.19 profiling"
                    : e.acct == 4 ? "0.20+ CUDA-graph estimate"
                                  : "0.25+ consumed-memory",
                    (unsigned long long)L, (unsigned long long)T, (unsigned long long)S, bs,
                    b == 4                                                       ? "fp32"
                    : c->model.quant[0] && !vf_strcasecmp(c->model.quant, "AWQ") ? "fp16"
                                                                                 : "16-bit",
                    kvb == 1 ? "fp8" : "16-bit");
    if (tp > 1)
        vf_strlist_addf(ex,
                        "warning: tensor parallel %u is modelled only as weights and KV "
                        "divided by %u per GPU (no NCCL or all-reduce buffers)",
                        tp, tp);
    if (c->model.format == VF_FMT_GGUF)
        vf_strlist_addf(ex, "warning: GGUF in vLLM is experimental; weights are taken as stored");

    /* ---- configuration errors vLLM raises before touching the GPU ---- */
    if (hp->n_ctx_train && L > hp->n_ctx_train) {
        vf_strlist_addf(errors,
                        "ValueError: User-specified max_model_len (%llu) is greater than "
                        "the derived max_model_len (max_position_embeddings=%u or "
                        "model_max_length=None in model's config.json). To allow overriding this "
                        "maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1. "
                        "VLLM_ALLOW_LONG_MAX_MODEL_LEN must be used with extreme caution. If the "
                        "model uses relative position encoding (RoPE), positions exceeding "
                        "derived_max_model_len lead to nan. If the model uses absolute position "
                        "encoding, positions exceeding derived_max_model_len will cause a CUDA "
                        "array out-of-bounds error.",
                        (unsigned long long)L, hp->n_ctx_train);
        fail = true;
    }
    /* vLLM stops at the first error: later checks run only while none was raised */
    if (!fail && cfg->max_num_batched_tokens && cfg->max_num_batched_tokens < S) {
        vf_strlist_addf(errors,
                        "ValueError: max_num_batched_tokens (%u) must be greater than or "
                        "equal to max_num_seqs (%llu).",
                        cfg->max_num_batched_tokens, (unsigned long long)S);
        fail = true;
    }
    if (!fail && !chunked && cfg->max_num_batched_tokens && cfg->max_num_batched_tokens < L) {
        vf_strlist_addf(errors,
                        "ValueError: max_num_batched_tokens (%u) is smaller than "
                        "max_model_len (%llu). This effectively limits the maximum sequence length "
                        "to max_num_batched_tokens and makes vLLM reject longer sequences. Please "
                        "increase max_num_batched_tokens or decrease max_model_len.",
                        cfg->max_num_batched_tokens, (unsigned long long)L);
        fail = true;
    }

    /* ---- weights ---- */
    struct wctx *w = vf_calloc(1, sizeof *w);
    if (!w)
        return VF_ERR_NOMEM;
    w->m = &c->model;
    w->b = b;
    w->tp = tp;
    /* one cos/sin cache per distinct rope (get_rope caches them):
     * max_position_embeddings x rotary_dim in the model dtype */
    uint64_t max_pos = hp->n_ctx_train ? hp->n_ctx_train : L;
    w->n_rope = 1;
    w->rope_rows[0] = max_pos;
    w->rope_dim[0] = hp->n_embd_head_k;
    if (!strcmp(hp->arch, "gemma3")) {
        /* local rope (default) + global rope; Gemma 3 4B/12B/27B scale the
         * global one linearly by 8, and LinearScalingRotaryEmbedding builds
         * max_position x 8 rows */
        w->n_rope = 2;
        w->rope_rows[1] = max_pos >= 131072 ? max_pos * 8 : max_pos;
        w->rope_dim[1] = hp->n_embd_head_k;
        w->rope_linear[1] = max_pos >= 131072;
    } else if (!strcmp(hp->arch, "phi3")) {
        /* Phi-4-mini: partial_rotary_factor 0.75, LongRoPE short (4096) and
         * long caches concatenated */
        w->rope_dim[0] = hp->n_embd_head_k * 3 / 4;
        w->rope_rows[0] = 4096 + max_pos;
    }
    for (size_t i = 0; i < c->model.tensors.n; i++) {
        if (is_fp8(c->model.tensors.v[i].dtype))
            w->any_fp8 = true;
        if (vf_str_ends(c->model.tensors.v[i].name, "weight_scale_inv"))
            w->block_fp8 = true;
    }
    if (w->any_fp8 && cc && cc < 89) {
        if (cc < 80 && !fail) {
            vf_strlist_addf(errors,
                            "ValueError: The quantization method fp8 is not supported for "
                            "the current GPU. Minimum capability: 80. Current capability: %d.",
                            cc);
            fail = true;
        }
        w->marlin_fp8 = true;
    }
    rc = weights_of(w);
    if (rc) {
        vf_free(w->sim);
        vf_free(w);
        return rc;
    }
    const uint64_t W = w->sim->allocated;
    if (!fail && w->any_awq && cc && cc < 75) {
        vf_strlist_addf(errors,
                        "ValueError: The quantization method awq is not supported for the "
                        "current GPU. Minimum capability: 75. Current capability: %d.",
                        cc);
        fail = true;
    }
    uint64_t plain = w->raw_bytes;
    char rope[128];
    if (w->n_rope > 1)
        snprintf(rope, sizeof rope, "s %llu x %llu + %llu x %llu (local, global%s) x %u B",
                 (unsigned long long)w->rope_rows[0], (unsigned long long)w->rope_dim[0],
                 (unsigned long long)w->rope_rows[1], (unsigned long long)w->rope_dim[1],
                 w->rope_linear[1] ? " linear-scaled x 8" : "", b);
    else
        snprintf(rope, sizeof rope, " %llu x %llu x %u B", (unsigned long long)w->rope_rows[0],
                 (unsigned long long)w->rope_dim[0], b);
    vf_strlist_addf(ex,
                    "weights (\"Model loading took\") = %s: %zu checkpoint tensors (%s on "
                    "disk) merged into vLLM's parameters (qkv_proj, gate_up_proj%s), vocabulary "
                    "padded to 64%s%s, + rotary cos/sin cache%s = %s, + PyTorch allocator "
                    "rounding %s",
                    gs((double)W, b1, sizeof b1), (size_t)w->n_tensors,
                    gs((double)plain, b2, sizeof b2), hp->n_expert ? ", fused experts" : "",
                    b == 4 ? ", floats held in fp32" : "",
                    w->marlin_fp8 ? ", FP8 run as W8A16 Marlin" : "", rope,
                    ms((double)w->rope_bytes, b3, sizeof b3),
                    ms((double)W - (double)w->rope_bytes - (double)w->param_bytes, b4, sizeof b4));
    if (w->marlin_fp8)
        vf_strlist_addf(ex, "FP8 on compute capability %d.%d: Marlin per-group scales add %s",
                        dev->cc_major, dev->cc_minor,
                        ms((double)w->fp8_scale_extra, b1, sizeof b1));
    const bool multimodal = w->multimodal;
    vf_free(w->sim);
    vf_free(w);

    /* ---- KV layout ---- */
    struct kv_layout kl;
    kv_layout_of(hp, bs, kvb, tp, &e, &kl);
    uint32_t nl = kl.n_full + kl.n_swa;
    vf_strlist_addf(ex,
                    "KV per token = %u layers x 2 (K,V) x %u heads x %u x %u B = %s; one "
                    "block = %u tokens = %s per layer",
                    nl, vf_llm_head_kv(hp, 0) / tp ? vf_llm_head_kv(hp, 0) / tp : 1,
                    hp->n_embd_head_k, kvb, ms((double)kl.per_token_all, b1, sizeof b1), bs,
                    ms((double)kl.page, b2, sizeof b2));
    if (kl.hybrid)
        vf_strlist_addf(ex,
                        "hybrid KV manager: %u full + %u sliding-window (%u) layers in %u groups "
                        "of %u (%u padding layer%s); each block holds one layer of every group",
                        kl.n_full, kl.n_swa, kl.window, kl.n_groups, kl.group_size, kl.n_pad,
                        kl.n_pad == 1 ? "" : "s");
    else if (hp->n_swa && !e.hybrid_kv)
        vf_strlist_addf(ex, "before 0.9.1 sliding-window layers are converted to full attention");

    /* ---- profile run ---- */
    struct act a;
    activations(hp, &e, dev, multimodal, !cfg->enforce_eager, T, R, S, b, tp, &a);
    vf_strlist_addf(ex,
                    "peak activation = max(forward %llu tokens = %s, sampler %llu requests x "
                    "%u logits x %.0f B%s = %s)%s + cuBLAS workspace %s = %s",
                    (unsigned long long)T, gs((double)a.fwd, b1, sizeof b1), (unsigned long long)R,
                    (unsigned)VF_PAD((uint64_t)hp->n_vocab, 64), a.s_per_logit,
                    e.hidden_held ? " + hidden states" : "", gs((double)a.samp, b2, sizeof b2),
                    multimodal ? " with the image encoder profile" : "",
                    ms((double)a.ws, b3, sizeof b3), gs((double)a.peak, b4, sizeof b4));
    uint64_t nontorch = e.acct <= 3   ? (cc >= 90 ? 70 : 20) * VF_MIB
                        : e.acct == 4 ? 100 * VF_MIB
                                      : 250 * VF_MIB;
    /* runner buffers: input ids/positions/slot mapping, inputs_embeds, block tables */
    uint64_t buffers =
        T * 24 + T * hp->n_embd * b + S * cdiv(L, bs) * 4 * (kl.hybrid ? kl.n_groups : 1) + S * 64;
    struct graphs g;
    graphs_of(hp, &e, T, S, b, tp, cfg->enforce_eager, &g);
    uint64_t cg_applied = e.cg_estimate ? g.estimate : 0;

    /* ---- budget ---- */
    struct ctx_bytes ctx;
    ctx.bytes = vf_cuda_context_bytes(dev, true, ctx.line, sizeof ctx.line);
    double requested = (double)dev->total_bytes * u;
    if (e.req_ceil)
        requested = ceil(requested);
    uint64_t free0 = dev->free_bytes > ctx.bytes ? dev->free_bytes - ctx.bytes : 0;
    vf_strlist_addf(ex, "budget = %s x %s = %s%s", py_repr(u, b1, sizeof b1),
                    gs((double)dev->total_bytes, b2, sizeof b2), gs(requested, b3, sizeof b3),
                    cfg->gpu_memory_utilization > 0 ? "" : " (the release's default utilization)");
    vf_strlist_addf(ex, "%s (outside the budget)", ctx.line);
    if (!fail && e.check_free && (double)free0 < requested) {
        err_free(errors, &e, free0, dev->total_bytes, u, requested);
        vf_strlist_addf(ex, "start-up check: free after the CUDA context %s < budget %s",
                        gs((double)free0, b1, sizeof b1), gs(requested, b2, sizeof b2));
        fail = true;
    }

    int64_t avail;
    uint64_t others = dev->total_bytes > dev->free_bytes ? dev->total_bytes - dev->free_bytes : 0;
    uint64_t nt_logged = nontorch;
    bool kv_mem = cfg->kv_cache_memory_bytes && e.kv_mem_flag;
    if (cfg->kv_cache_memory_bytes && !e.kv_mem_flag)
        vf_strlist_addf(ex,
                        "warning: --kv-cache-memory does not exist before vLLM 0.10.2; ignored");
    if (kv_mem) {
        avail = (int64_t)cfg->kv_cache_memory_bytes;
        vf_strlist_addf(ex,
                        "available KV = --kv-cache-memory = %s (profiling skipped, utilization "
                        "not respected)",
                        gs((double)avail, b1, sizeof b1));
    } else if (e.acct == 1) {
        /* 0.8.x: everything on the device counts, other processes included */
        nt_logged = ctx.bytes + others + nontorch;
        avail = (int64_t)requested - (int64_t)(W + buffers + a.peak) - (int64_t)nt_logged;
        vf_strlist_addf(ex,
                        "available KV = %s - (weights %s + buffers %s + activations %s) - "
                        "non-torch (CUDA context %s + other processes %s + libraries %s) = %s",
                        gs(requested, b1, sizeof b1), gs((double)W, b2, sizeof b2),
                        ms((double)buffers, b3, sizeof b3), gs((double)a.peak, b4, sizeof b4),
                        gs((double)ctx.bytes, b5, sizeof b5), gs((double)others, b6, sizeof b6),
                        ms((double)nontorch, b7, sizeof b7), gs((double)avail, b8, sizeof b8));
    } else if (e.acct == 5) {
        uint64_t consumed = W + buffers + nontorch;
        nt_logged = consumed - W;
        avail = (int64_t)requested - (int64_t)consumed - (int64_t)a.peak - (int64_t)cg_applied;
        vf_strlist_addf(ex,
                        "available KV = %s - consumed (weights %s + buffers and non-torch %s) "
                        "- peak activation %s - CUDA-graph estimate %s = %s",
                        gs(requested, b1, sizeof b1), gs((double)W, b2, sizeof b2),
                        gs((double)(consumed - W), b3, sizeof b3),
                        gs((double)a.peak, b4, sizeof b4), gs((double)cg_applied, b5, sizeof b5),
                        gs((double)avail, b6, sizeof b6));
    } else {
        avail = (int64_t)requested - (int64_t)W - (int64_t)a.peak - (int64_t)nontorch -
                (int64_t)cg_applied;
        vf_strlist_addf(ex,
                        "available KV = %s - weights %s - peak activation %s - non-torch %s%s%s"
                        " = %s",
                        gs(requested, b1, sizeof b1), gs((double)W, b2, sizeof b2),
                        gs((double)a.peak, b3, sizeof b3), gs((double)nontorch, b4, sizeof b4),
                        e.cg_estimate && cg_applied ? " - CUDA-graph estimate " : "",
                        e.cg_estimate && cg_applied ? gs((double)cg_applied, b5, sizeof b5) : "",
                        gs((double)avail, b6, sizeof b6));
    }
    if (!cfg->enforce_eager) {
        char tail[96];
        if (e.cg_estimate)
            snprintf(tail, sizeof tail, "; vLLM's estimate %s is taken off the KV budget",
                     gs((double)g.estimate, b4, sizeof b4));
        else
            snprintf(tail, sizeof tail, " (captured after the KV cache, outside the budget)");
        vf_strlist_addf(ex,
                        "CUDA graphs: %u piecewise captures x %u pieces x %.2f MiB + %u full "
                        "decode graphs + the largest capture's activations = %s%s",
                        g.n_pw, hp->n_layer + 1, e.graph_piece_mib, g.n_full,
                        gs((double)g.actual, b1, sizeof b1), tail);
    }

    /* ---- KV cache ---- */
    struct kv_result kr;
    uint64_t need = need_bytes(&kl, L, T);
    uint64_t est_err = 0, fit_len = 0;
    bool kv_ok = false;
    if (!fail) {
        if (avail <= 0) {
            err_nomem(errors, &e);
            fail = true;
        } else if (need > (uint64_t)avail) {
            est_err = e.kv_msg >= 1 ? estimate_len(&kl, L, T, avail) : 0;
            err_kvfit(errors, &e, L, need, avail, est_err);
            fail = true;
        } else {
            kv_ok = true;
        }
    }
    kv_fill(&kl, &e, kv_ok ? avail : 0, L, T, &kr);
    fit_len = estimate_len(&kl, VF_MAX(L, (uint64_t)hp->n_ctx_train), T, avail);
    if (kv_ok) {
        vf_strlist_addf(
            ex,
            "num_blocks = %s / %s per block = %llu; GPU KV cache size: %s tokens; "
            "maximum concurrency for %s tokens per request: %.2fx",
            gs((double)avail, b1, sizeof b1),
            ms((double)(kl.hybrid ? kl.page * kl.group_size : kl.page_sum), b2, sizeof b2),
            (unsigned long long)kr.num_blocks, commas(kr.tokens, b3, sizeof b3),
            commas(L, b4, sizeof b4), kr.concurrency);
    } else {
        vf_strlist_addf(ex, "one %llu-token request needs %s of KV; %s available: vLLM stops here",
                        (unsigned long long)L, gs((double)need, b1, sizeof b1),
                        gs((double)avail, b2, sizeof b2));
    }

    /* ---- what the process holds ---- */
    uint64_t kv_bytes = kr.bytes;
    uint64_t compute = a.peak + (cfg->enforce_eager ? 0 : g.actual) + buffers;
    uint64_t overhead = ctx.bytes + nontorch;
    c->placement = VF_PLACE_GPU;
    c->weights_bytes = W;
    c->kv_bytes = kv_bytes;
    c->compute_bytes = compute;
    c->overhead_bytes = overhead;
    c->total_bytes = W + kv_bytes + compute + overhead;
    cfg->requested_bytes = (uint64_t)requested;
    cfg->non_torch_bytes = nt_logged;
    cfg->activation_bytes = a.peak;
    cfg->cudagraph_bytes = cfg->enforce_eager ? 0 : (e.cg_estimate ? g.estimate : g.actual);
    cfg->available_kv_bytes = avail;
    cfg->kv_tokens = kr.tokens;
    cfg->max_concurrency = kr.concurrency;
    cfg->max_model_len_fit = (uint32_t)VF_MIN(fail && est_err ? est_err : fit_len, UINT32_MAX);
    cfg->gpu_memory_utilization = u;
    cfg->max_model_len = (uint32_t)L;
    cfg->max_num_seqs = (uint32_t)S;
    cfg->block_size = bs;
    vf_strlist_addf(ex,
                    "process total = weights %s + KV %s + activations, graphs and buffers %s "
                    "+ CUDA context and non-torch %s = %s",
                    gs((double)W, b1, sizeof b1), gs((double)kv_bytes, b2, sizeof b2),
                    gs((double)compute, b3, sizeof b3), gs((double)overhead, b4, sizeof b4),
                    gs((double)c->total_bytes, b5, sizeof b5));
    return fail ? VF_ERR_FIT : VF_OK;
}
