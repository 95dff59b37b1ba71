/* llama_compute.c - predicts the compute buffers llama.cpp reserves at context
 * creation by replaying, with shapes only, what llama.cpp does: it rebuilds
 * the worst-case graph tensor by tensor the way the model builders do
 * (llama, qwen2, qwen3, qwen3moe, gemma3, phi3), assigns its nodes to the CPU
 * and CUDA backends as ggml_backend_sched does (op offload and split-input
 * copies included), and runs ggml-alloc's allocator over it (in-place reuse,
 * best-fit free blocks, alignment). Nothing is loaded and nothing is computed.
 * See docs/internals/llama-compute.md for the derivation and the error table. */
#include "llama_compute.h"
#include "../model/dtype.h"

#include <stdio.h>
#include <string.h>

/* ==== Tensors ==== */

/* The ggml ops the supported model graphs use. The four view ops first. */
enum op {
    OP_NONE = 0,
    OP_VIEW, OP_RESHAPE, OP_PERMUTE, OP_TRANSPOSE,
    OP_GET_ROWS, OP_SET_ROWS, OP_RMS_NORM, OP_MUL, OP_ADD, OP_DIV, OP_SCALE, OP_CLAMP,
    OP_UNARY, OP_ROPE, OP_SOFT_MAX, OP_MUL_MAT, OP_MUL_MAT_ID, OP_FLASH_ATTN, OP_GLU,
    OP_CONT, OP_ARGSORT, OP_SUM_ROWS,
};

#define NSRC 10         /* GGML_MAX_SRC: scheduler dependency nodes use them all */
#define TF_INPUT 1u
#define TF_OUTPUT 2u
#define NO_BE (-1)
#define MAX_FREE_BLOCKS 256 /* ggml-alloc's limit; more means a pathological graph */

struct tn {
    int64_t ne[4];
    uint64_t nb[4];
    uint64_t view_offs;
    uint64_t addr;          /* allocator: offset in its buffer */
    int32_t src[NSRC];
    int32_t view_src;       /* root tensor whose memory this views, -1 none */
    int32_t copy[2];        /* scheduler: copy of this tensor on backend b, -1 none */
    int32_t n_children, n_views;
    const char *name;       /* for the explanation, NULL when anonymous */
    int16_t il;             /* layer, -1 none */
    int16_t type;           /* enum vf_dtype */
    uint8_t op;
    uint8_t flags;          /* TF_* */
    int8_t ext;             /* backend owning its (non-compute) buffer: weights, KV; NO_BE none */
    bool ext_host;          /* that buffer is plain host memory (op offload may copy it) */
    bool ext_weights;       /* GGML_BACKEND_BUFFER_USAGE_WEIGHTS */
    int8_t pin;             /* backend chosen by llama.cpp's graph callback, NO_BE none */
    int8_t be;              /* scheduler's backend, NO_BE unassigned */
    int8_t buf;             /* allocator buffer (= backend index) */
    bool own;               /* allocator: "allocated" entry of its hash */
    bool visited;           /* graph building */
};

struct free_block {
    uint64_t off, size;
};

/* ggml_dyn_tallocr with one chunk (compute buffer types have no size limit). */
struct dyn {
    struct free_block blk[MAX_FREE_BLOCKS];
    int n_blk;
    uint64_t align;
    uint64_t max_size;
};

/* A live-tensor snapshot at the moment a buffer reached its final size. */
#define PEAK_TOP 6
struct peak {
    int32_t top[PEAK_TOP];
    uint64_t top_bytes[PEAK_TOP];
    int n_top;
    uint64_t live;          /* bytes of all live tensors then */
    int n_live;
    int32_t at;             /* the node being allocated */
};

struct sim {
    struct tn *t;
    int32_t n, cap;
    int32_t *nodes, *leafs;
    int32_t n_nodes, n_leafs, cap_nodes, cap_leafs;
    int32_t *stack;
    int32_t cap_stack;
    bool oom, bad;
    /* backends: CUDA mode has {CUDA0 = 0, CPU = 1}, CPU mode {CPU = 0} */
    int n_be, cpu;
    bool cuda;
    uint64_t align[2];
    struct dyn dyn[2];
    struct peak peak[2];
    uint64_t size[2];
};

static int32_t t_alloc(struct sim *s) {
    if (s->n == s->cap) {
        int32_t cap = s->cap ? s->cap * 2 : 4096;
        struct tn *p = vf_realloc(s->t, (size_t)cap * sizeof *p);
        if (!p) {
            s->oom = true;
            return 0;       /* tensor 0 is a scratch sentinel: results are discarded */
        }
        s->t = p;
        s->cap = cap;
    }
    struct tn *x = &s->t[s->n];
    memset(x, 0, sizeof *x);
    for (int i = 0; i < NSRC; i++)
        x->src[i] = -1;
    x->view_src = -1;
    x->copy[0] = x->copy[1] = -1;
    x->il = -1;
    x->ext = NO_BE;
    x->pin = NO_BE;
    x->be = NO_BE;
    return s->n++;
}

static uint32_t blck_of(int type) {
    uint32_t b = 1, by = 4;
    vf_dtype_block((enum vf_dtype)type, &b, &by);
    return b;
}

static uint64_t tsize_of(int type) {
    uint32_t b = 1, by = 4;
    vf_dtype_block((enum vf_dtype)type, &b, &by);
    return by;
}

static uint64_t row_size(int type, int64_t n) {
    return (uint64_t)n / blck_of(type) * tsize_of(type);
}

static void set_contiguous(struct tn *x) {
    x->nb[0] = tsize_of(x->type);
    x->nb[1] = x->nb[0] * (uint64_t)(x->ne[0] / blck_of(x->type));
    for (int i = 2; i < 4; i++)
        x->nb[i] = x->nb[i - 1] * (uint64_t)x->ne[i - 1];
}

/* ggml_nbytes */
static uint64_t nbytes(const struct tn *x) {
    for (int i = 0; i < 4; i++)
        if (x->ne[i] <= 0)
            return 0;
    uint64_t n;
    uint32_t bl = blck_of(x->type);
    if (bl == 1) {
        n = tsize_of(x->type);
        for (int i = 0; i < 4; i++)
            n += (uint64_t)(x->ne[i] - 1) * x->nb[i];
    } else {
        n = (uint64_t)x->ne[0] * x->nb[0] / bl;
        for (int i = 1; i < 4; i++)
            n += (uint64_t)(x->ne[i] - 1) * x->nb[i];
    }
    return n;
}

static int64_t nelements(const struct tn *x) {
    return x->ne[0] * x->ne[1] * x->ne[2] * x->ne[3];
}

static bool is_contiguous(const struct tn *x) {
    uint64_t nb = tsize_of(x->type);
    if (x->nb[0] != nb)
        return false;
    nb *= (uint64_t)(x->ne[0] / blck_of(x->type));
    for (int i = 1; i < 4; i++) {
        if (x->ne[i] != 1 && x->nb[i] != nb)
            return false;
        nb *= (uint64_t)x->ne[i];
    }
    return true;
}

static bool same_layout(const struct tn *a, const struct tn *b) {
    if (a->type != b->type)
        return false;
    for (int i = 0; i < 4; i++)
        if (a->ne[i] != b->ne[i] || a->nb[i] != b->nb[i])
            return false;
    return true;
}

static bool is_view_op(int op) {
    return op == OP_VIEW || op == OP_RESHAPE || op == OP_PERMUTE || op == OP_TRANSPOSE;
}

/* ggml_op_can_inplace, restricted to the ops used here */
static bool can_inplace(int op) {
    switch (op) {
    case OP_ADD: case OP_MUL: case OP_DIV: case OP_SCALE: case OP_CLAMP: case OP_UNARY:
    case OP_ROPE: case OP_RMS_NORM: case OP_SOFT_MAX:
        return true;
    default:
        return false;
    }
}

/* A new tensor owning its memory (contiguous). */
static int32_t t_new(struct sim *s, int type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3) {
    int32_t i = t_alloc(s);
    struct tn *x = &s->t[i];
    x->type = (int16_t)type;
    x->ne[0] = ne0;
    x->ne[1] = ne1;
    x->ne[2] = ne2;
    x->ne[3] = ne3;
    set_contiguous(x);
    return i;
}

static int32_t t_op(struct sim *s, int op, int type, const int64_t ne[4], int32_t a, int32_t b,
                    int32_t c, int32_t d) {
    int32_t i = t_new(s, type, ne[0], ne[1], ne[2], ne[3]);
    struct tn *x = &s->t[i];
    x->op = (uint8_t)op;
    x->src[0] = a;
    x->src[1] = b;
    x->src[2] = c;
    x->src[3] = d;
    return i;
}

/* result = op(a, b) with a's shape (ggml_dup_tensor) */
static int32_t t_like(struct sim *s, int op, int32_t a, int32_t b) {
    int64_t ne[4];
    memcpy(ne, s->t[a].ne, sizeof ne);
    return t_op(s, op, s->t[a].type, ne, a, b, -1, -1);
}

/* A view of a with the given shape and strides (ggml_new_tensor_impl with a view_src). */
static int32_t t_view(struct sim *s, int op, int32_t a, const int64_t ne[4], const uint64_t nb[4],
                      uint64_t offs) {
    int64_t ne_[4];
    uint64_t nb_[4];
    memcpy(ne_, ne, sizeof ne_); /* ne and nb may point into s->t, which t_alloc can move */
    memcpy(nb_, nb, sizeof nb_);
    int32_t i = t_alloc(s);
    struct tn *x = &s->t[i], *p = &s->t[a];
    x->type = p->type;
    memcpy(x->ne, ne_, sizeof x->ne);
    memcpy(x->nb, nb_, sizeof x->nb);
    x->op = (uint8_t)op;
    x->src[0] = a;
    x->view_src = p->view_src >= 0 ? p->view_src : a;
    x->view_offs = (p->view_src >= 0 ? p->view_offs : 0) + offs;
    return i;
}

static int32_t reshape(struct sim *s, int32_t a, int64_t ne0, int64_t ne1, int64_t ne2,
                       int64_t ne3) {
    int64_t ne[4] = {ne0, ne1, ne2, ne3};
    struct tn tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.type = s->t[a].type;
    memcpy(tmp.ne, ne, sizeof ne);
    set_contiguous(&tmp);
    return t_view(s, OP_RESHAPE, a, ne, tmp.nb, 0);
}

static int32_t permute(struct sim *s, int32_t a, int ax0, int ax1, int ax2, int ax3) {
    int ax[4] = {ax0, ax1, ax2, ax3};
    int64_t ne[4];
    uint64_t nb[4];
    for (int i = 0; i < 4; i++) {
        ne[ax[i]] = s->t[a].ne[i];
        nb[ax[i]] = s->t[a].nb[i];
    }
    return t_view(s, OP_PERMUTE, a, ne, nb, 0);
}

static int32_t transpose(struct sim *s, int32_t a) {
    return permute(s, a, 1, 0, 2, 3);
}

static int32_t view4(struct sim *s, int32_t a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3,
                     uint64_t nb1, uint64_t nb2, uint64_t nb3, uint64_t offs) {
    int64_t ne[4] = {ne0, ne1, ne2, ne3};
    uint64_t nb[4] = {tsize_of(s->t[a].type), nb1, nb2, nb3};
    return t_view(s, OP_VIEW, a, ne, nb, offs);
}

static int32_t view2(struct sim *s, int32_t a, int64_t ne0, int64_t ne1, uint64_t nb1,
                     uint64_t offs) {
    return view4(s, a, ne0, ne1, 1, 1, nb1, nb1 * (uint64_t)ne1, nb1 * (uint64_t)ne1, offs);
}

static int32_t view3(struct sim *s, int32_t a, int64_t ne0, int64_t ne1, int64_t ne2, uint64_t nb1,
                     uint64_t nb2, uint64_t offs) {
    return view4(s, a, ne0, ne1, ne2, 1, nb1, nb2, nb2 * (uint64_t)ne2, offs);
}

static int32_t mul_mat(struct sim *s, int32_t a, int32_t b) {
    int64_t ne[4] = {s->t[a].ne[1], s->t[b].ne[1], s->t[b].ne[2], s->t[b].ne[3]};
    return t_op(s, OP_MUL_MAT, VF_DT_F32, ne, a, b, -1, -1);
}

static int32_t mul_mat_id(struct sim *s, int32_t as, int32_t b, int32_t ids) {
    int64_t ne[4] = {s->t[as].ne[1], s->t[ids].ne[0], s->t[b].ne[2], 1};
    return t_op(s, OP_MUL_MAT_ID, VF_DT_F32, ne, as, b, ids, -1);
}

static int32_t get_rows(struct sim *s, int32_t a, int32_t b) {
    int64_t ne[4] = {s->t[a].ne[0], s->t[b].ne[0], s->t[b].ne[1], s->t[b].ne[2]};
    return t_op(s, OP_GET_ROWS, s->t[a].type == VF_DT_I32 ? VF_DT_I32 : VF_DT_F32, ne, a, b, -1,
                -1);
}

/* ggml_set_rows: a view of the destination a (the KV cache) */
static int32_t set_rows(struct sim *s, int32_t a, int32_t b, int32_t c) {
    int32_t i = t_view(s, OP_SET_ROWS, a, s->t[a].ne, s->t[a].nb, 0);
    s->t[i].src[0] = b;
    s->t[i].src[1] = c;
    s->t[i].src[2] = a;
    return i;
}

static int32_t cont2(struct sim *s, int32_t a, int64_t ne0, int64_t ne1) {
    int64_t ne[4] = {ne0, ne1, 1, 1};
    return t_op(s, OP_CONT, s->t[a].type, ne, a, -1, -1, -1);
}

static int32_t name_it(struct sim *s, int32_t i, const char *name, int il) {
    s->t[i].name = name;
    s->t[i].il = (int16_t)il;
    return i;
}

/* ==== Graph ==== */

static bool push_i32(struct sim *s, int32_t **v, int32_t *n, int32_t *cap, int32_t x) {
    if (*n == *cap) {
        int32_t c = *cap ? *cap * 2 : 4096;
        int32_t *p = vf_realloc(*v, (size_t)c * sizeof *p);
        if (!p) {
            s->oom = true;
            return false;
        }
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return true;
}

/* ggml_build_forward_expand: depth-first over sources in order, a tensor is
 * appended after its sources; tensors without an op become leafs. */
static void expand(struct sim *s, int32_t root) {
    if (s->oom || s->t[root].visited)
        return;
    int32_t sp = 0;
    /* stack of (tensor, next source) pairs flattened */
    if (!push_i32(s, &s->stack, &sp, &s->cap_stack, root) ||
        !push_i32(s, &s->stack, &sp, &s->cap_stack, 0))
        return;
    s->t[root].visited = true;
    while (sp > 0) {
        int32_t x = s->stack[sp - 2];
        int32_t k = s->stack[sp - 1];
        if (k < NSRC) {
            s->stack[sp - 1] = k + 1;
            int32_t c = s->t[x].src[k];
            if (c >= 0 && !s->t[c].visited) {
                s->t[c].visited = true;
                if (!push_i32(s, &s->stack, &sp, &s->cap_stack, c) ||
                    !push_i32(s, &s->stack, &sp, &s->cap_stack, 0))
                    return;
            }
            continue;
        }
        sp -= 2;
        if (s->t[x].op == OP_NONE)
            push_i32(s, &s->leafs, &s->n_leafs, &s->cap_leafs, x);
        else
            push_i32(s, &s->nodes, &s->n_nodes, &s->cap_nodes, x);
    }
}

/* ==== Model graphs ==== */

/* What the graph builders need beyond vf_llm_hparams. */
struct arch {
    bool qkv_bias;      /* qwen2 */
    bool qk_norm;       /* qwen3, qwen3moe, gemma3 */
    bool fused_qkv;     /* phi3: one attn_qkv matmul, Q/K/V are views of it */
    bool fused_up;      /* phi3: ffn_up is gate and up, SWIGLU on one tensor */
    bool q_scale;       /* phi3, gemma3: Q is scaled before attention */
    bool gemma;         /* embedding scale, post-attention/FFN norms, GELU */
    bool moe;           /* qwen3moe */
    bool rope_freqs;    /* llama 3.1+: rope factors tensor */
};

struct build {
    struct sim *s;
    const struct vf_llama_compute_in *in;
    const struct vf_llm_hparams *hp;
    struct arch a;
    int64_t n_tokens, n_seqs, n_outputs, n_stream, kv_size, kv_size_swa;
    bool iswa, v_trans, full_offload;
    int i_gpu_start;    /* first layer on the GPU (n_layer: output only) */
    int32_t inp_pos, out_ids;
    int32_t k_idxs[2], v_idxs[2], mask[2], k_rot[2], v_rot[2]; /* [0] base, [1] SWA cache */
    int32_t rope_freqs[2];      /* per backend */
};

static int layer_be(const struct build *b, int il) {
    if (!b->s->cuda)
        return b->s->cpu;
    return il >= b->i_gpu_start ? 0 : b->s->cpu;
}

static int kv_be(const struct build *b, int il) {
    return b->in->offload_kqv ? layer_be(b, il) : b->s->cpu;
}

static const struct vf_tensor *find_weight(const struct build *b, const char *name) {
    return b->in->tensors ? vf_tensor_list_find(b->in->tensors, name) : NULL;
}

/* A weight leaf: "blk.<il>.<kind>" (il >= 0) or "<kind>". be: backend of the
 * layer it belongs to. The type comes from the model's tensor list when given
 * (Q8_0 otherwise); it only matters for the copies op offload makes of host
 * weights. */
static int32_t weight(struct build *b, const char *kind, int il, int be, int64_t ne0, int64_t ne1,
                      int64_t ne2) {
    char name[96];
    if (il >= 0)
        snprintf(name, sizeof name, "blk.%d.%s", il, kind);
    else
        snprintf(name, sizeof name, "%s", kind);
    const struct vf_tensor *w = find_weight(b, name);
    int type = w ? (int)w->dtype : (ne1 > 1 ? VF_DT_Q8_0 : VF_DT_F32);
    if (row_size(type, ne0) == 0 || ne0 % blck_of(type))
        type = VF_DT_F32;
    int32_t i = t_new(b->s, type, ne0, ne1, ne2, 1);
    struct tn *x = &b->s->t[i];
    x->ext = (int8_t)be;
    x->ext_host = be == b->s->cpu;
    x->ext_weights = true;
    x->name = kind;
    x->il = (int16_t)il;
    return i;
}

/* llm_graph_context::build_norm with a weight: rms_norm then mul. The norm is
 * named "norm", which llama.cpp's callback pins to the layer's device for
 * small batches or full offload. */
static int32_t build_norm(struct build *b, int32_t x, int32_t w, int il) {
    struct sim *s = b->s;
    int32_t n = t_like(s, OP_RMS_NORM, x, -1);
    if (il >= 0 && (b->n_tokens < 32 || b->full_offload))
        s->t[n].pin = (int8_t)layer_be(b, il);
    return t_like(s, OP_MUL, n, w);
}

/* llama_mul_mat_hadamard */
static int32_t hadamard(struct sim *s, int32_t cur, int32_t rot) {
    int64_t n = s->t[rot].ne[0];
    int64_t ne[4];
    memcpy(ne, s->t[cur].ne, sizeof ne);
    int64_t rows = nelements(&s->t[cur]) / n;
    int32_t r = is_contiguous(&s->t[cur]) ? reshape(s, cur, n, rows, 1, 1) : cont2(s, cur, n, rows);
    r = mul_mat(s, rot, r);
    return reshape(s, r, ne[0], ne[1], ne[2], ne[3]);
}

/* The KV cache tensor of a layer: [n_embd_gqa, kv_size, n_stream] in its own buffer. */
static int32_t kv_tensor(struct build *b, int type, int64_t n_embd_gqa, int64_t size, int be) {
    int32_t i = t_new(b->s, type, n_embd_gqa, size, b->n_stream, 1);
    b->s->t[i].ext = (int8_t)be;
    b->s->t[i].ext_host = be == b->s->cpu;
    return i;
}

/* llm_graph_context::build_attn_mha */
static int32_t build_mha(struct build *b, int32_t q, int32_t k, int32_t v, int32_t mask, int il) {
    struct sim *s = b->s;
    bool v_trans = s->t[v].nb[1] > s->t[v].nb[2];
    int64_t ns = s->t[k].ne[3];
    struct tn *Q = &s->t[q];
    q = view4(s, q, Q->ne[0], Q->ne[1], Q->ne[2] / ns, ns, Q->nb[1], Q->nb[2], Q->nb[3] / ns, 0);
    q = permute(s, q, 0, 2, 1, 3);
    k = permute(s, k, 0, 2, 1, 3);
    v = permute(s, v, 0, 2, 1, 3);
    int32_t cur;
    if (b->in->flash_attn) {
        if (v_trans)
            v = transpose(s, v);
        int64_t ne[4] = {s->t[v].ne[0], s->t[q].ne[2], s->t[q].ne[1], s->t[q].ne[3]};
        cur = name_it(s, t_op(s, OP_FLASH_ATTN, VF_DT_F32, ne, q, k, v, mask), "flash_attn", il);
        cur = reshape(s, cur, s->t[cur].ne[0] * s->t[cur].ne[1], s->t[cur].ne[2] * s->t[cur].ne[3],
                      1, 1);
    } else {
        int32_t kq = name_it(s, mul_mat(s, k, q), "kq", il);
        kq = name_it(s, t_like(s, OP_SOFT_MAX, kq, mask), "kq_soft_max", il);
        if (!v_trans) {
            v = transpose(s, v);
            v = t_like(s, OP_CONT, v, -1);
            set_contiguous(&s->t[v]);
        }
        int32_t kqv = name_it(s, mul_mat(s, v, kq), "kqv", il);
        cur = permute(s, kqv, 0, 2, 1, 3);
        cur = cont2(s, cur, s->t[cur].ne[0] * s->t[cur].ne[1], s->t[cur].ne[2] * s->t[cur].ne[3]);
        if (!b->in->offload_kqv)
            s->t[cur].pin = (int8_t)s->cpu;
    }
    expand(s, cur);
    return cur;
}

/* build_attn for the unified or sliding-window KV cache: rotate, store K and V,
 * attend over the cache views, project. */
static int32_t build_attn(struct build *b, int il, int32_t q, int32_t k, int32_t v, int32_t wo) {
    struct sim *s = b->s;
    const struct vf_llm_hparams *hp = b->hp;
    int c = b->iswa && vf_llm_layer_is_swa(hp, (uint32_t)il) ? 1 : 0;
    int64_t dk = hp->n_embd_head_k, dv = hp->n_embd_head_v;
    int64_t hkv = vf_llm_head_kv(hp, (uint32_t)il);
    int64_t size = c ? b->kv_size_swa : b->kv_size;
    if (b->k_rot[c] >= 0) {
        q = hadamard(s, q, b->k_rot[c]);
        k = hadamard(s, k, b->k_rot[c]);
    }
    if (b->v_rot[c] >= 0)
        v = hadamard(s, v, b->v_rot[c]);
    expand(s, q);
    if (b->iswa) {
        expand(s, k);
        expand(s, v);
    } else {
        expand(s, v);
        expand(s, k);
    }
    int be = kv_be(b, il);
    int32_t kc = name_it(s, kv_tensor(b, b->in->type_k, dk * hkv, size, be), "cache_k", il);
    int32_t vc = name_it(s, kv_tensor(b, b->in->type_v, dv * hkv, size, be), "cache_v", il);
    /* cpy_k */
    {
        int32_t kcur =
            name_it(s, view2(s, k, dk * hkv, s->t[k].ne[2], s->t[k].nb[2], 0), "Kcur", il);
        int32_t dst = kc;
        if (b->n_stream > 1)
            dst = reshape(s, kc, dk * hkv, size * b->n_stream, 1, 1);
        expand(s, set_rows(s, dst, kcur, b->k_idxs[c]));
    }
    /* cpy_v */
    {
        int32_t vcur;
        int32_t dst = vc;
        if (!b->v_trans) {
            vcur = name_it(s, view2(s, v, dv * hkv, s->t[v].ne[2], s->t[v].nb[2], 0), "Vcur", il);
            if (b->n_stream > 1)
                dst = reshape(s, vc, dv * hkv, size * b->n_stream, 1, 1);
        } else {
            if (row_size(s->t[v].type, dv * hkv) == s->t[v].nb[2] && is_contiguous(&s->t[v]))
                vcur = reshape(s, v, dv * hkv, s->t[v].ne[2], 1, 1);
            else
                vcur = cont2(s, v, dv * hkv, s->t[v].ne[2]);
            dst = reshape(s, vc, 1, nelements(&s->t[vc]), 1, 1);
            vcur = reshape(s, vcur, 1, nelements(&s->t[vcur]), 1, 1);
        }
        expand(s, set_rows(s, dst, vcur, b->v_idxs[c]));
    }
    int tk = b->in->type_k, tv = b->in->type_v;
    int32_t kv = view4(s, kc, dk, hkv, size, b->n_stream, row_size(tk, dk), row_size(tk, dk * hkv),
                       row_size(tk, dk * hkv * size), 0);
    int32_t vv;
    if (!b->v_trans)
        vv = view4(s, vc, dv, hkv, size, b->n_stream, row_size(tv, dv), row_size(tv, dv * hkv),
                   row_size(tv, dv * hkv * size), 0);
    else
        vv = view4(s, vc, size, hkv, dv, b->n_stream, row_size(tv, size * dv), row_size(tv, size),
                   row_size(tv, size * dv * hkv), 0);
    int32_t cur = build_mha(b, q, kv, vv, b->mask[c], il);
    if (b->v_rot[c] >= 0)
        cur = hadamard(s, cur, b->v_rot[c]);
    return mul_mat(s, wo, cur);
}

/* The dense FFN: SiLU/GELU with a parallel gate, or phi3's fused gate+up. */
static int32_t build_ffn(struct build *b, int32_t cur, int il, int be) {
    struct sim *s = b->s;
    const struct vf_llm_hparams *hp = b->hp;
    int64_t e = hp->n_embd, f = hp->n_ff;
    if (b->a.fused_up) {
        int32_t up = name_it(s, mul_mat(s, weight(b, "ffn_up.weight", il, be, e, 2 * f, 1), cur),
                             "ffn_up", il);
        int64_t ne[4] = {f, s->t[up].ne[1], s->t[up].ne[2], s->t[up].ne[3]};
        cur = name_it(s, t_op(s, OP_GLU, VF_DT_F32, ne, up, -1, -1, -1), "ffn_swiglu", il);
    } else {
        int32_t up = name_it(s, mul_mat(s, weight(b, "ffn_up.weight", il, be, e, f, 1), cur),
                             "ffn_up", il);
        int32_t gate = name_it(s, mul_mat(s, weight(b, "ffn_gate.weight", il, be, e, f, 1), cur),
                               "ffn_gate", il);
        cur = name_it(s, t_op(s, OP_GLU, VF_DT_F32, s->t[gate].ne, gate, up, -1, -1),
                      b->a.gemma ? "ffn_geglu" : "ffn_swiglu", il);
    }
    return name_it(s, mul_mat(s, weight(b, "ffn_down.weight", il, be, f, e, 1), cur), "ffn_out",
                   il);
}

/* llm_graph_context::build_moe_ffn: softmax gating, top-k, normalized weights,
 * three expert matmuls, weighted sum of the selected experts. */
static int32_t build_moe(struct build *b, int32_t cur, int il, int be) {
    struct sim *s = b->s;
    const struct vf_llm_hparams *hp = b->hp;
    int64_t e = hp->n_embd, nx = hp->n_expert, nu = hp->n_expert_used, f = hp->n_ff_exp;
    int64_t nt = s->t[cur].ne[1];
    int32_t logits = mul_mat(s, weight(b, "ffn_gate_inp.weight", il, be, e, nx, 1), cur);
    int32_t probs = t_like(s, OP_SOFT_MAX, logits, -1);
    int32_t sorted = t_like(s, OP_ARGSORT, probs, -1);
    s->t[sorted].type = VF_DT_I32;
    set_contiguous(&s->t[sorted]);
    struct tn *S = &s->t[sorted];
    int32_t sel =
        view4(s, sorted, nu, S->ne[1], S->ne[2], S->ne[3], S->nb[1], S->nb[2], S->nb[3], 0);
    int32_t p3 = reshape(s, probs, 1, nx, nt, 1);
    int32_t w = get_rows(s, p3, sel);
    w = reshape(s, w, nu, nt, 1, 1);
    int64_t ne1[4] = {1, nt, 1, 1};
    int32_t sum = t_op(s, OP_SUM_ROWS, VF_DT_F32, ne1, w, -1, -1, -1);
    sum = t_like(s, OP_CLAMP, sum, -1);
    w = t_like(s, OP_DIV, w, sum);
    w = reshape(s, w, 1, nu, nt, 1);
    expand(s, w);
    cur = reshape(s, cur, e, 1, nt, 1);
    int32_t up =
        name_it(s, mul_mat_id(s, weight(b, "ffn_up_exps.weight", il, be, e, f, nx), cur, sel),
                "ffn_moe_up", il);
    int32_t gate =
        name_it(s, mul_mat_id(s, weight(b, "ffn_gate_exps.weight", il, be, e, f, nx), cur, sel),
                "ffn_moe_gate", il);
    cur = name_it(s, t_op(s, OP_GLU, VF_DT_F32, s->t[gate].ne, gate, up, -1, -1), "ffn_moe_swiglu",
                  il);
    int32_t ex =
        name_it(s, mul_mat_id(s, weight(b, "ffn_down_exps.weight", il, be, f, e, nx), cur, sel),
                "ffn_moe_down", il);
    ex = name_it(s, t_like(s, OP_MUL, ex, w), "ffn_moe_weighted", il);
    expand(s, ex);
    int32_t views[64];
    int64_t nuse = nu < 64 ? nu : 64;
    for (int64_t i = 0; i < nuse; i++) {
        views[i] = view2(s, ex, e, nt, s->t[ex].nb[2], (uint64_t)i * s->t[ex].nb[1]);
        expand(s, views[i]);
    }
    int32_t out = views[0];
    for (int64_t i = 1; i < nuse; i++) {
        out = name_it(s, t_like(s, OP_ADD, out, views[i]), "ffn_moe_out", il);
        set_contiguous(&s->t[out]);
        expand(s, out);
    }
    if (nuse == 1) {
        out = t_like(s, OP_CONT, out, -1);
        set_contiguous(&s->t[out]);
    }
    return out;
}

/* One transformer block; returns its output. */
static int32_t build_layer(struct build *b, int il, int32_t inpL) {
    struct sim *s = b->s;
    const struct vf_llm_hparams *hp = b->hp;
    int be = layer_be(b, il);
    int64_t e = hp->n_embd, dk = hp->n_embd_head_k, dv = hp->n_embd_head_v;
    int64_t nh = hp->n_head, hkv = vf_llm_head_kv(hp, (uint32_t)il);
    int64_t nt = b->n_tokens;
    int32_t cur = build_norm(b, inpL, weight(b, "attn_norm.weight", il, be, e, 1, 1), il);
    int32_t q, k, v;
    if (b->a.fused_qkv) {
        int64_t nq = dk * nh, nk = dk * hkv, nv = dv * hkv;
        int32_t qkv =
            name_it(s, mul_mat(s, weight(b, "attn_qkv.weight", il, be, e, nq + nk + nv, 1), cur),
                    "wqkv", il);
        uint64_t nb1 = s->t[qkv].nb[1];
        q = view3(s, qkv, dk, nh, nt, row_size(VF_DT_F32, dk), nb1, 0);
        k = view3(s, qkv, dk, hkv, nt, row_size(VF_DT_F32, dk), nb1, row_size(VF_DT_F32, nq));
        v = view3(s, qkv, dv, hkv, nt, row_size(VF_DT_F32, dv), nb1, row_size(VF_DT_F32, nq + nk));
    } else {
        q = name_it(s, mul_mat(s, weight(b, "attn_q.weight", il, be, e, dk * nh, 1), cur), "Qcur",
                    il);
        if (b->a.qkv_bias)
            q = t_like(s, OP_ADD, q, weight(b, "attn_q.bias", il, be, dk * nh, 1, 1));
        k = name_it(s, mul_mat(s, weight(b, "attn_k.weight", il, be, e, dk * hkv, 1), cur), "Kcur",
                    il);
        if (b->a.qkv_bias)
            k = t_like(s, OP_ADD, k, weight(b, "attn_k.bias", il, be, dk * hkv, 1, 1));
        v = name_it(s, mul_mat(s, weight(b, "attn_v.weight", il, be, e, dv * hkv, 1), cur), "Vcur",
                    il);
        if (b->a.qkv_bias)
            v = t_like(s, OP_ADD, v, weight(b, "attn_v.bias", il, be, dv * hkv, 1, 1));
        q = reshape(s, q, dk, nh, nt, 1);
        k = reshape(s, k, dk, hkv, nt, 1);
        v = reshape(s, v, dv, hkv, nt, 1);
    }
    /* llama 3.x: rope factors, one copy per device the layers are on */
    if (b->a.rope_freqs && b->rope_freqs[be] < 0)
        b->rope_freqs[be] = weight(b, "rope_freqs.weight", -1, be, dk / 2, 1, 1);
    int32_t freqs = b->a.rope_freqs ? b->rope_freqs[be] : -1;
    if (b->a.qk_norm)
        q = build_norm(b, q, weight(b, "attn_q_norm.weight", il, be, dk, 1, 1), il);
    q = name_it(s, t_op(s, OP_ROPE, VF_DT_F32, s->t[q].ne, q, b->inp_pos, freqs, -1), "Qcur", il);
    if (b->a.qk_norm)
        k = build_norm(b, k, weight(b, "attn_k_norm.weight", il, be, dk, 1, 1), il);
    k = name_it(s, t_op(s, OP_ROPE, VF_DT_F32, s->t[k].ne, k, b->inp_pos, freqs, -1), "Kcur", il);
    if (b->a.q_scale)
        q = t_like(s, OP_SCALE, q, -1);
    int32_t wo = weight(b, "attn_output.weight", il, be, dv * nh, e, 1);
    cur = name_it(s, build_attn(b, il, q, k, v, wo), "attn_out", il);
    int32_t res = inpL;
    if (il == (int)hp->n_layer - 1) {
        cur = get_rows(s, cur, b->out_ids);
        res = get_rows(s, res, b->out_ids);
    }
    if (b->a.gemma)
        cur = build_norm(b, cur, weight(b, "post_attention_norm.weight", il, be, e, 1, 1), il);
    int32_t ffn_inp = name_it(s, t_like(s, OP_ADD, cur, res), "ffn_inp", il);
    cur = build_norm(b, ffn_inp, weight(b, "ffn_norm.weight", il, be, e, 1, 1), il);
    if (b->a.moe)
        cur = build_moe(b, cur, il, be);
    else
        cur = build_ffn(b, cur, il, be);
    if (b->a.gemma)
        cur = build_norm(b, cur, weight(b, "post_ffw_norm.weight", il, be, e, 1, 1), -1);
    if (b->a.fused_up) /* phi3 adds residual + cur */
        return name_it(s, t_like(s, OP_ADD, ffn_inp, cur), "l_out", il);
    return name_it(s, t_like(s, OP_ADD, cur, ffn_inp), "l_out", il);
}

static int32_t input(struct sim *s, int type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3,
                     const char *name) {
    int32_t i = t_new(s, type, ne0, ne1, ne2, ne3);
    s->t[i].flags |= TF_INPUT;
    s->t[i].name = name;
    return i;
}

/* The attention inputs of one KV cache (base, or the SWA one). */
static void attn_inputs(struct build *b, int c, int64_t n_kv) {
    struct sim *s = b->s;
    const struct vf_llm_hparams *hp = b->hp;
    int64_t nt = b->n_tokens;
    b->k_idxs[c] = input(s, VF_DT_I64, nt, 1, 1, 1, "k_idxs");
    int64_t n_embd_v_max = 0;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        int64_t x = (int64_t)vf_llm_head_kv(hp, il) * hp->n_embd_head_v;
        if (x > n_embd_v_max)
            n_embd_v_max = x;
    }
    b->v_idxs[c] = input(s, VF_DT_I64, b->v_trans ? nt * n_embd_v_max : nt, 1, 1, 1, "v_idxs");
    int64_t ns = b->in->kv_unified ? 1 : b->n_seqs;
    b->mask[c] =
        input(s, b->in->flash_attn ? VF_DT_F16 : VF_DT_F32, n_kv, nt / ns, 1, ns, "kq_mask");
    b->k_rot[c] = b->v_rot[c] = -1;
    if (vf_dtype_is_quantized(b->in->type_k) && hp->n_embd_head_k % 64 == 0) {
        int64_t nrot = 64;
        do
            nrot *= 2;
        while (hp->n_embd_head_k % nrot == 0);
        nrot /= 2;
        b->k_rot[c] = input(s, VF_DT_F32, nrot, nrot, 1, 1, "k_rot");
    }
    if (vf_dtype_is_quantized(b->in->type_v) && hp->n_embd_head_v % 64 == 0)
        b->v_rot[c] = input(s, VF_DT_F32, 64, 64, 1, 1, "v_rot");
}

/* Build the whole graph for a ubatch of n_tokens (n_seqs sequences, n_outputs outputs). */
static void build_graph(struct build *b) {
    struct sim *s = b->s;
    const struct vf_llm_hparams *hp = b->hp;
    int64_t e = hp->n_embd, nt = b->n_tokens;
    int32_t tok = input(s, VF_DT_I32, nt, 1, 1, 1, "inp_tokens");
    int32_t embd_in = input(s, VF_DT_F32, e, nt, 1, 1, "inp_embd");
    int32_t tok_embd = weight(b, "token_embd.weight", -1, s->cpu, e, hp->n_vocab, 1);
    int32_t inpL = name_it(s, get_rows(s, tok_embd, tok), "embd", -1);
    expand(s, inpL);        /* ggml_build_forward_select: the token path first */
    expand(s, embd_in);
    if (b->a.gemma)
        inpL = t_like(s, OP_SCALE, inpL, -1);
    b->inp_pos = input(s, VF_DT_I32, nt, 1, 1, 1, "inp_pos");
    attn_inputs(b, 0, b->kv_size);
    if (b->iswa)
        attn_inputs(b, 1, b->kv_size_swa);
    b->out_ids = input(s, VF_DT_I32, b->n_outputs, 1, 1, 1, "out_ids");
    for (uint32_t il = 0; il < hp->n_layer && !s->oom; il++)
        inpL = build_layer(b, (int)il, inpL);
    int be_out = layer_be(b, (int)hp->n_layer);
    int32_t cur = build_norm(b, inpL, weight(b, "output_norm.weight", -1, be_out, e, 1, 1), -1);
    name_it(s, cur, "result_norm", -1);
    int32_t t_embd = cur;
    const char *wname = hp->tied_embeddings && !find_weight(b, "output.weight")
                            ? "token_embd.weight"
                            : "output.weight";
    cur =
        name_it(s, mul_mat(s, weight(b, wname, -1, be_out, e, hp->n_vocab, 1), cur), "logits", -1);
    expand(s, cur);
    s->t[cur].flags |= TF_OUTPUT;
    s->t[t_embd].flags |= TF_OUTPUT;
}

/* ==== Scheduler (ggml_backend_sched_split_graph) ==== */

/* ggml_backend_buffer_is_host for a tensor's external buffer, or the buffer
 * type of its assigned backend; whether backend be can use it. */
static bool buffer_supported(struct sim *s, int32_t t, int be) {
    struct tn *x = &s->t[t];
    int loc;
    if (x->ext != NO_BE || (x->view_src >= 0 && s->t[x->view_src].ext != NO_BE)) {
        loc = x->ext != NO_BE ? x->ext : s->t[x->view_src].ext;
    } else {
        loc = x->be;
        if (loc == NO_BE && x->view_src >= 0)
            loc = s->t[x->view_src].be;
        if (loc == NO_BE)
            return false;
    }
    /* CUDA uses only CUDA buffers, the CPU only host buffers */
    return (loc == s->cpu) == (be == s->cpu);
}

/* get_op_batch_size in ggml-cuda.cu: op offload needs at least 32 */
static int64_t op_batch(const struct tn *x) {
    switch (x->op) {
    case OP_GET_ROWS: return 0;
    case OP_MUL_MAT: return x->ne[1];
    case OP_MUL_MAT_ID: case OP_ROPE: return x->ne[2];
    default: return x->ne[1] * x->ne[2] * x->ne[3];
    }
}

/* ggml_backend_sched_backend_id_from_cur */
static int backend_from_cur(struct sim *s, int32_t t) {
    struct tn *x = &s->t[t];
    if (x->ext != NO_BE)
        return x->ext;
    if (x->view_src >= 0 && s->t[x->view_src].ext != NO_BE)
        return s->t[x->view_src].ext;
    if (x->flags & TF_INPUT)
        return s->cpu;
    if (x->op == OP_ROPE || x->op == OP_FLASH_ATTN)
        return NO_BE;
    for (int j = 0; j < NSRC; j++) {
        int32_t c = x->src[j];
        if (c < 0)
            continue;
        struct tn *w = &s->t[c];
        if (w->ext != NO_BE && w->ext_weights) {
            if (s->cuda && w->ext == s->cpu && w->ext_host && op_batch(x) >= 32)
                return 0;   /* op offload: the GPU computes it, the weight is copied */
            return w->ext;
        }
    }
    return NO_BE;
}

static int32_t new_dep(struct sim *s, int32_t view_of) {
    int32_t d = t_alloc(s);
    struct tn *x = &s->t[d], *p = &s->t[view_of];
    x->type = p->type;
    memcpy(x->ne, p->ne, sizeof x->ne);
    memcpy(x->nb, p->nb, sizeof x->nb);
    x->view_src = p->view_src >= 0 ? p->view_src : view_of;
    x->op = OP_NONE;
    return d;
}

/* CUDA's graph_optimize keeps some tensors alive for fused kernels (the MoE
 * top-k gating and the weighted reduction of the experts): dependency nodes
 * holding them as sources are inserted after the node they must outlive. */
struct dep {
    int32_t until;
    int32_t keep[24];
    int n;
};

static void dep_add(struct dep *d, int32_t t) {
    for (int i = 0; i < d->n; i++)
        if (d->keep[i] == t)
            return;
    if (d->n < (int)VF_ARRAY_LEN(d->keep))
        d->keep[d->n++] = t;
}

/* Find the fusions in the CUDA split nodes [i0, i1) of g. */
static int cuda_deps(struct sim *s, const int32_t *g, int i0, int i1, struct dep *deps, int max) {
    int n = 0;
    for (int i = i0; i < i1 && n < max; i++) {
        struct tn *x = &s->t[g[i]];
        /* experts * weights followed by n views and n-1 adds */
        if (x->op == OP_MUL && x->name && !strcmp(x->name, "ffn_moe_weighted")) {
            int nu = (int)x->ne[1];
            int cnt = 2 * nu;
            if (nu >= 2 && nu <= 15 && i + cnt - 1 < i1) {
                struct dep *d = &deps[n++];
                d->n = 0;
                d->until = g[i + cnt - 1];
                dep_add(d, x->src[0]);
                dep_add(d, x->src[1]);
                i += cnt - 1;
                continue;
            }
        }
        /* softmax, reshape, argsort, view, get_rows, reshape, sum_rows, clamp, div, reshape */
        if (x->op == OP_SOFT_MAX && x->src[1] < 0 && i + 10 < i1) {
            static const uint8_t ops[] = {OP_SOFT_MAX, OP_RESHAPE, OP_ARGSORT, OP_VIEW, OP_GET_ROWS,
                                          OP_RESHAPE, OP_SUM_ROWS, OP_CLAMP, OP_DIV, OP_RESHAPE};
            bool ok = true;
            for (int k = 0; k < 10 && ok; k++)
                ok = s->t[g[i + k]].op == ops[k];
            int64_t ne = x->ne[0];
            if (!ok || (ne & (ne - 1)) != 0 || ne > 512)
                continue;
            /* ggml-cuda keeps the ten nodes and their sources until the node after them */
            struct dep *d = &deps[n++];
            d->n = 0;
            d->until = g[i + 10];
            for (int k = 0; k < 10; k++) {
                dep_add(d, g[i + k]);
                for (int j = 0; j < NSRC; j++)
                    if (s->t[g[i + k]].src[j] >= 0)
                        dep_add(d, s->t[g[i + k]].src[j]);
            }
            i += 9;
        }
    }
    return n;
}

#define MAX_DEPS 256

/* The split being collected by pass 5 and the node list written so far. */
struct emit {
    int32_t *o, n, cap;         /* the allocator's node list */
    int32_t *ins, n_in;         /* the split's inputs (sources on other backends) */
    int32_t *body, n_body;      /* the split's nodes */
    struct dep *deps;
    int be;                     /* the split's backend */
};

/* Write a finished split: for each input, a dependency node on the source
 * (so it lives until copied) and the copy itself; then the nodes, with the
 * dependency nodes of CUDA's fusions after the node they must outlive. */
static void emit_split(struct sim *s, struct emit *e) {
    for (int32_t k = 0; k < e->n_in; k++) {
        int32_t src = e->ins[k];
        int32_t dep = new_dep(s, src);
        s->t[dep].src[0] = src;
        s->t[dep].be = s->t[src].be;
        push_i32(s, &e->o, &e->n, &e->cap, dep);
        push_i32(s, &e->o, &e->n, &e->cap, s->t[src].copy[e->be]);
    }
    int nd = 0;
    if (s->cuda && e->be == 0)
        nd = cuda_deps(s, e->body, 0, e->n_body, e->deps, MAX_DEPS);
    for (int32_t k = 0; k < e->n_body; k++) {
        push_i32(s, &e->o, &e->n, &e->cap, e->body[k]);
        for (int d = 0; d < nd; d++) {
            if (e->deps[d].until != e->body[k])
                continue;
            for (int q = 0; q < e->deps[d].n; q += NSRC) {
                int32_t dn = new_dep(s, e->deps[d].keep[q]);
                for (int r = 0; r < NSRC && q + r < e->deps[d].n; r++)
                    s->t[dn].src[r] = e->deps[d].keep[q + r];
                s->t[dn].be = (int8_t)e->be;
                push_i32(s, &e->o, &e->n, &e->cap, dn);
            }
        }
    }
    e->n_in = 0;
    e->n_body = 0;
}

/* Assign backends (passes 1-4), split the graph and create the input copies
 * (pass 5), then write the graph ggml-alloc sees into *out_nodes (split inputs
 * and their dependencies first in each split). */
static void schedule(struct sim *s, int32_t **out_nodes, int32_t *out_n) {
    int32_t *g = s->nodes;
    int32_t nn = s->n_nodes;
    int cpu = s->cpu;
    for (int32_t i = 0; i < s->n; i++)
        s->t[i].be = s->t[i].pin;
    for (int32_t i = 0; i < s->n_leafs; i++) {
        struct tn *x = &s->t[s->leafs[i]];
        if (x->be == NO_BE)
            x->be = (int8_t)backend_from_cur(s, s->leafs[i]);
    }
    for (int32_t i = 0; i < nn; i++) {
        struct tn *x = &s->t[g[i]];
        if (x->be == NO_BE)
            x->be = (int8_t)backend_from_cur(s, g[i]);
    }
    /* pass 2: expand GPU assignments down and up, then any backend down and up */
    for (int pass = 0; pass < 4; pass++) {
        bool down = pass % 2 == 0, skip_cpu = pass < 2;
        int cur = NO_BE;
        for (int32_t k = 0; k < nn; k++) {
            int32_t i = down ? k : nn - 1 - k;
            struct tn *x = &s->t[g[i]];
            if (is_view_op(x->op))
                continue;
            if (x->be != NO_BE)
                cur = skip_cpu && x->be == cpu ? NO_BE : x->be;
            else if (cur != NO_BE)
                x->be = (int8_t)cur;
        }
    }
    /* pass 3: unassigned nodes go to the backend that can use most of their
     * inputs (upgrades need equal buffer types, which CUDA0 and CPU never have) */
    for (int32_t i = 0; i < nn; i++) {
        struct tn *x = &s->t[g[i]];
        if (is_view_op(x->op) || x->be != NO_BE)
            continue;
        int best = -1;
        for (int be = 0; be < s->n_be; be++) {
            int n_sup = 0;
            for (int j = 0; j < NSRC; j++) {
                int32_t c = x->src[j];
                if (c < 0)
                    continue;
                bool assigned = s->t[c].be != NO_BE ||
                                (s->t[c].view_src >= 0 && s->t[s->t[c].view_src].be != NO_BE);
                if (assigned && buffer_supported(s, c, be))
                    n_sup++;
            }
            if (n_sup > best) {
                best = n_sup;
                x->be = (int8_t)be;
            }
        }
    }
    /* pass 4: views follow their source, sources their user */
    for (int32_t i = 0; i < nn; i++) {
        struct tn *x = &s->t[g[i]];
        if (x->view_src >= 0 && x->be == NO_BE)
            x->be = s->t[x->view_src].be;
        for (int j = 0; j < NSRC; j++) {
            int32_t c = x->src[j];
            if (c < 0 || s->t[c].be != NO_BE)
                continue;
            s->t[c].be = s->t[c].view_src >= 0 ? s->t[s->t[c].view_src].be : x->be;
        }
        if (x->be == NO_BE)
            x->be = 0;
    }
    /* pass 5: splits and input copies; write the allocator's node list */
    struct emit e;
    memset(&e, 0, sizeof e);
    e.ins = vf_malloc((size_t)(s->n + 1) * sizeof *e.ins); /* inputs are distinct tensors */
    e.body = vf_malloc((size_t)(nn + 1) * sizeof *e.body);
    e.deps = vf_malloc(MAX_DEPS * sizeof *e.deps);
    if (!e.ins || !e.body || !e.deps) {
        s->oom = true;
        goto out;
    }
    int32_t i = 0;
    while (i < nn && is_view_op(s->t[g[i]].op))
        e.body[e.n_body++] = g[i++];
    e.be = i < nn ? s->t[g[i]].be : 0;
    for (; i < nn && !s->oom; i++) {
        int32_t ti = g[i];
        if (!is_view_op(s->t[ti].op)) {
            int nbe = s->t[ti].be;
            bool need = false;
            /* a weight the split's backend cannot use starts a new split, so
             * the memory of the previous weight copies can be reused */
            if (nbe == e.be && e.n_in > 0) {
                for (int j = 0; j < NSRC && !need; j++) {
                    int32_t c = s->t[ti].src[j];
                    if (c >= 0 && s->t[c].ext != NO_BE && s->t[c].ext_weights &&
                        s->t[c].be != e.be && !buffer_supported(s, c, e.be))
                        need = true;
                }
            }
            if (nbe != e.be || need) {
                emit_split(s, &e);
                e.be = nbe;
            }
        }
        e.body[e.n_body++] = ti;
        if (is_view_op(s->t[ti].op))
            continue;
        for (int j = 0; j < NSRC; j++) {
            int32_t c = s->t[ti].src[j];
            if (c < 0 || s->t[c].be == e.be || buffer_supported(s, c, e.be))
                continue;
            if (s->t[c].copy[e.be] < 0) {
                int32_t cp = t_alloc(s);
                struct tn *y = &s->t[cp], *w = &s->t[c];
                y->type = w->type;
                memcpy(y->ne, w->ne, sizeof y->ne);
                memcpy(y->nb, w->nb, sizeof y->nb);
                y->be = (int8_t)e.be;
                y->name = w->name;
                y->il = w->il;
                w->copy[e.be] = cp;
                e.ins[e.n_in++] = c;
            }
            s->t[ti].src[j] = s->t[c].copy[e.be];
        }
    }
    emit_split(s, &e);
out:
    vf_free(e.ins);
    vf_free(e.body);
    vf_free(e.deps);
    *out_nodes = e.o;
    *out_n = e.n;
}

/* ==== Allocator (ggml-alloc's gallocr and dyn_tallocr) ==== */

/* ggml_backend_buft_get_alloc_size: CUDA pads quantized rows and gives flash
 * attention room for F16 copies of a quantized K/V. */
static uint64_t alloc_size(struct sim *s, int32_t t, int buf) {
    struct tn *x = &s->t[t];
    uint64_t n = nbytes(x);
    if (!s->cuda || buf != 0)
        return n;
    if (x->op == OP_FLASH_ATTN) {
        struct tn *q = &s->t[x->src[0]], *k = &s->t[x->src[1]], *v = &s->t[x->src[2]];
        bool quant = vf_dtype_is_quantized(k->type) || vf_dtype_is_quantized(v->type);
        /* the MMA kernel (prompt batches) converts K and V to F16 next to the result */
        if (quant && q->ne[1] > 2) {
            if (k->type != VF_DT_F16)
                n = VF_PAD(n, 128) + (uint64_t)nelements(k) * 2;
            if (v->type != VF_DT_F16)
                n = VF_PAD(n, 128) + (uint64_t)nelements(v) * 2;
        }
    }
    if (vf_dtype_is_quantized(x->type) && x->ne[0] % 512 != 0)
        n += row_size(x->type, 512 - x->ne[0] % 512);
    return n;
}

static void dyn_insert(struct sim *s, struct dyn *d, uint64_t off, uint64_t size) {
    if (d->n_blk >= MAX_FREE_BLOCKS) {
        s->bad = true;
        return;
    }
    int p = 0;
    while (p < d->n_blk && d->blk[p].off < off)
        p++;
    memmove(&d->blk[p + 1], &d->blk[p], (size_t)(d->n_blk - p) * sizeof d->blk[0]);
    d->blk[p].off = off;
    d->blk[p].size = size;
    d->n_blk++;
}

static void dyn_remove(struct dyn *d, int i) {
    memmove(&d->blk[i], &d->blk[i + 1], (size_t)(d->n_blk - i - 1) * sizeof d->blk[0]);
    d->n_blk--;
}

static void record_peak(struct sim *s, int buf, int32_t at);

/* ggml_dyn_tallocr_alloc: best fit among the free blocks before the last,
 * else the last (open-ended) block, which grows the buffer. */
static uint64_t dyn_alloc(struct sim *s, int buf, uint64_t size, int32_t t) {
    struct dyn *d = &s->dyn[buf];
    size = VF_PAD(size, d->align);
    int best = -1;
    uint64_t best_size = UINT64_MAX;
    for (int i = 0; i < d->n_blk - 1; i++) {
        if (d->blk[i].size >= size && d->blk[i].size <= best_size) {
            best = i;
            best_size = d->blk[i].size;
        }
    }
    if (best < 0)
        best = d->n_blk - 1;
    struct free_block *b = &d->blk[best];
    uint64_t off = b->off;
    b->off += size;
    b->size -= size;
    if (b->size == 0)
        dyn_remove(d, best);
    if (off + size > d->max_size) {
        d->max_size = off + size;
        s->t[t].addr = off;
        record_peak(s, buf, t);
    }
    return off;
}

/* ggml_dyn_tallocr_free_bytes: return a range, merging with neighbours. */
static void dyn_free(struct sim *s, int buf, uint64_t off, uint64_t size) {
    struct dyn *d = &s->dyn[buf];
    size = VF_PAD(size, d->align);
    for (int i = 0; i < d->n_blk; i++) {
        struct free_block *b = &d->blk[i];
        if (b->off + b->size == off) {
            b->size += size;
            if (i < d->n_blk - 1 && b->off + b->size == d->blk[i + 1].off) {
                b->size += d->blk[i + 1].size;
                dyn_remove(d, i + 1);
            }
            return;
        }
        if (off + size == b->off) {
            b->off = off;
            b->size += size;
            if (i > 0 && d->blk[i - 1].off + d->blk[i - 1].size == b->off) {
                d->blk[i - 1].size += b->size;
                dyn_remove(d, i);
            }
            return;
        }
    }
    dyn_insert(s, d, off, size);
}

/* ggml_gallocr_allocate_node: an op that can work in place takes the memory
 * of a source it is the last user of (views never qualify: ggml only reuses
 * tensors it allocated itself), giving back any extra tail; anything else
 * gets a block from its backend's buffer. */
static void allocate_node(struct sim *s, int32_t t, int buf) {
    struct tn *x = &s->t[t];
    if (x->ext != NO_BE || x->own || x->view_src >= 0)
        return;
    x->own = true;
    if (can_inplace(x->op)) {
        for (int j = 0; j < NSRC; j++) {
            int32_t p = x->src[j];
            if (p < 0)
                continue;
            struct tn *P = &s->t[p];
            if (!P->own || (P->flags & TF_OUTPUT) || !same_layout(x, P) || P->n_children != 1 ||
                P->n_views != 0)
                continue;
            x->buf = P->buf;
            x->addr = P->addr;
            P->own = false;
            uint64_t al = s->dyn[P->buf].align;
            uint64_t ps = VF_PAD(alloc_size(s, p, P->buf), al);
            uint64_t ns = VF_PAD(alloc_size(s, t, x->buf), al);
            if (ps > ns)
                dyn_free(s, P->buf, P->addr + ns, ps - ns);
            return;
        }
    }
    x->buf = (int8_t)buf;
    x->addr = dyn_alloc(s, buf, alloc_size(s, t, buf), t);
}

static void free_node(struct sim *s, int32_t t) {
    struct tn *x = &s->t[t];
    if (x->flags & TF_OUTPUT)
        return;
    dyn_free(s, x->buf, x->addr, alloc_size(s, t, x->buf));
    x->own = false;
}

/* ggml_gallocr_alloc_graph_impl over the scheduler's node list. */
static void gallocr(struct sim *s, const int32_t *g, int32_t n) {
    for (int b = 0; b < s->n_be; b++) {
        struct dyn *d = &s->dyn[b];
        d->align = s->align[b];
        d->n_blk = 1;
        d->blk[0].off = 0;
        d->blk[0].size = UINT64_MAX / 2;
        d->max_size = 0;
        memset(&s->peak[b], 0, sizeof s->peak[b]);
    }
    for (int32_t i = 0; i < s->n; i++) {
        s->t[i].n_children = s->t[i].n_views = 0;
        s->t[i].own = false;
    }
    for (int32_t i = 0; i < s->n_leafs; i++) {
        int32_t l = s->leafs[i];
        int be = s->t[l].be < 0 ? 0 : s->t[l].be;
        allocate_node(s, l, be);
    }
    for (int32_t i = 0; i < n; i++) {
        struct tn *x = &s->t[g[i]];
        if (x->view_src >= 0 && x->op != OP_NONE)
            s->t[x->view_src].n_views++;
        for (int j = 0; j < NSRC; j++)
            if (x->src[j] >= 0)
                s->t[x->src[j]].n_children++;
    }
    for (int32_t i = 0; i < n && !s->bad; i++) {
        int32_t t = g[i];
        int be = s->t[t].be < 0 ? 0 : s->t[t].be;
        for (int j = 0; j < NSRC; j++)
            if (s->t[t].src[j] >= 0)
                allocate_node(s, s->t[t].src[j], be);
        allocate_node(s, t, be);
        for (int j = 0; j < NSRC; j++) {
            int32_t p = s->t[t].src[j];
            if (p < 0)
                continue;
            struct tn *P = &s->t[p];
            P->n_children--;
            if (P->n_children != 0 || P->n_views != 0)
                continue;
            if (P->view_src >= 0) {
                struct tn *O = &s->t[P->view_src];
                O->n_views--;
                if (O->n_views == 0 && O->n_children == 0 && O->own)
                    free_node(s, P->view_src);
            } else if (P->own) {
                free_node(s, p);
            }
        }
    }
    for (int b = 0; b < s->n_be; b++)
        s->size[b] = s->dyn[b].max_size;
}

/* Remember the biggest live tensors when a buffer grows (the last growth is
 * the peak that sets its size). */
static void record_peak(struct sim *s, int buf, int32_t at) {
    struct peak *p = &s->peak[buf];
    memset(p, 0, sizeof *p);
    p->at = at;
    for (int32_t i = 0; i < s->n; i++) {
        struct tn *x = &s->t[i];
        if (!(x->own || i == at) || x->buf != buf || x->view_src >= 0 || x->ext != NO_BE)
            continue;
        uint64_t sz = VF_PAD(alloc_size(s, i, buf), s->dyn[buf].align);
        p->live += sz;
        p->n_live++;
        int k = p->n_top < PEAK_TOP ? p->n_top++ : PEAK_TOP - 1;
        if (k == PEAK_TOP - 1 && p->n_top == PEAK_TOP && sz <= p->top_bytes[k])
            continue;
        while (k > 0 && p->top_bytes[k - 1] < sz) {
            p->top[k] = p->top[k - 1];
            p->top_bytes[k] = p->top_bytes[k - 1];
            k--;
        }
        p->top[k] = i;
        p->top_bytes[k] = sz;
    }
}

/* ==== Entry point ==== */

static bool arch_of(const char *name, const struct vf_llm_hparams *hp,
                    const struct vf_tensor_list *tl, struct arch *a) {
    memset(a, 0, sizeof *a);
    if (!strcmp(name, "llama") || !strcmp(name, "mistral")) {
    } else if (!strcmp(name, "qwen2")) {
        a->qkv_bias = true;
    } else if (!strcmp(name, "qwen3")) {
        a->qk_norm = true;
    } else if (!strcmp(name, "qwen3moe")) {
        a->qk_norm = true;
        a->moe = true;
    } else if (!strcmp(name, "gemma3")) {
        a->qk_norm = true;
        a->gemma = true;
        a->q_scale = true;
    } else if (!strcmp(name, "phi3")) {
        a->fused_qkv = true;
        a->fused_up = true;
        a->q_scale = true;
    } else {
        return false;
    }
    /* rope factors: Llama 3.x (rope_freqs) and Phi-3/4 (LongRoPE); without a
     * tensor list, guessed from the architecture and the Llama 3 vocabulary */
    a->rope_freqs = (!strcmp(name, "llama") && hp->n_vocab == 128256) || !strcmp(name, "phi3");
    if (tl) {
        a->rope_freqs = vf_tensor_list_find(tl, "rope_freqs.weight") != NULL ||
                        vf_tensor_list_find(tl, "rope_factors_long.weight") != NULL;
        if (vf_tensor_list_find(tl, "blk.0.attn_q.bias"))
            a->qkv_bias = true;
        if (vf_tensor_list_find(tl, "blk.0.attn_qkv.weight"))
            a->fused_qkv = true;
    }
    if (a->moe && (!hp->n_expert || !hp->n_expert_used || !hp->n_ff_exp))
        return false;
    return true;
}

/* KV cells per stream as llama_context sizes them: the context padded to
 * 256, split evenly between the sequences unless the cache is unified. */
static uint64_t kv_cells(const struct vf_llama_compute_in *in) {
    uint64_t n_ctx = VF_PAD((uint64_t)in->n_ctx, 256);
    return in->kv_unified ? n_ctx : VF_PAD(n_ctx / in->n_seq_max, 256);
}

/* Simulate one reserve (n_tokens, n_seqs, n_outputs) into s->size[]. */
static int simulate(const struct vf_llama_compute_in *in, const struct arch *a, int64_t n_tokens,
                    int64_t n_seqs, int64_t n_outputs, struct sim *s) {
    const struct vf_llm_hparams *hp = in->hp;
    memset(s, 0, sizeof *s);
    s->cuda = in->backend == VF_LLAMA_CUDA;
    s->n_be = s->cuda ? 2 : 1;
    s->cpu = s->n_be - 1;
    s->align[0] = s->cuda ? 128 : 32;
    s->align[1] = 32;
    t_alloc(s); /* tensor 0: a sentinel that absorbs writes after an allocation failure */
    if (s->oom)
        return VF_ERR_NOMEM;

    struct build b;
    memset(&b, 0, sizeof b);
    b.s = s;
    b.in = in;
    b.hp = hp;
    b.a = *a;
    if (n_tokens % n_seqs)
        n_tokens = (n_tokens + n_seqs - 1) / n_seqs * n_seqs;
    b.n_tokens = n_tokens;
    b.n_seqs = n_seqs;
    b.n_outputs = n_outputs;
    b.n_stream = in->kv_unified ? 1 : in->n_seq_max;
    b.kv_size = (int64_t)kv_cells(in);
    /* of these architectures only gemma3 has a separate sliding-window cache
     * (llama.cpp ignores the sliding window of phi3 and llama GGUFs) */
    b.iswa = a->gemma && hp->n_swa > 0;
    /* llama.cpp's default swa_full keeps the SWA cache at full size */
    b.kv_size_swa = b.kv_size;
    b.v_trans = !in->flash_attn;
    int32_t ngl = in->n_gpu_layers < 0 ? (int32_t)hp->n_layer + 1 : in->n_gpu_layers;
    if (ngl > (int32_t)hp->n_layer + 1)
        ngl = (int32_t)hp->n_layer + 1;
    b.i_gpu_start = (int)hp->n_layer + 1 - ngl;
    b.full_offload = ngl > (int32_t)hp->n_layer;
    b.rope_freqs[0] = b.rope_freqs[1] = -1;

    build_graph(&b);
    if (s->oom)
        return VF_ERR_NOMEM;
    int32_t *g = NULL, ng = 0;
    schedule(s, &g, &ng);
    if (s->oom) {
        vf_free(g);
        return VF_ERR_NOMEM;
    }
    gallocr(s, g, ng);
    vf_free(g);
    return s->bad ? VF_ERR_UNSUPPORTED : VF_OK;
}

static void sim_free(struct sim *s) {
    vf_free(s->t);
    vf_free(s->nodes);
    vf_free(s->leafs);
    vf_free(s->stack);
    memset(s, 0, sizeof *s);
}

static void dims(const struct tn *x, char *buf, size_t n) {
    int nd = 4;
    while (nd > 1 && x->ne[nd - 1] == 1)
        nd--;
    size_t o = 0;
    for (int i = 0; i < nd && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? " x " : "", (long long)x->ne[i]);
}

/* One buffer's line: its size, then the biggest tensors alive when it reached
 * that size, e.g. "CUDA0 298.75 MiB: logits 151936 x 512 x 4 B = 296.75 MiB +
 * result_norm 1024 x 512 x 4 B = 2.00 MiB", then the rest and any free gaps. */
static size_t explain_buf(const struct sim *s, int buf, const char *label, char *out, size_t n) {
    const struct peak *p = &s->peak[buf];
    size_t o =
        (size_t)snprintf(out, n, "%s %.2f MiB", label, (double)s->size[buf] / (double)VF_MIB);
    if (o >= n || !p->n_top)
        return o < n ? o : n;
    uint64_t shown = 0;
    for (int i = 0; i < p->n_top && i < 3 && o < n; i++) {
        const struct tn *x = &s->t[p->top[i]];
        char d[64];
        dims(x, d, sizeof d);
        const char *nm = x->name ? x->name : "tensor";
        uint32_t bl = blck_of(x->type);
        if (bl == 1)
            o += (size_t)snprintf(out + o, n - o, "%s%s %s x %llu B = %.2f MiB", i ? " + " : ": ",
                                  nm, d, (unsigned long long)tsize_of(x->type),
                                  (double)p->top_bytes[i] / (double)VF_MIB);
        else
            o += (size_t)snprintf(out + o, n - o, "%s%s %s %s = %.2f MiB", i ? " + " : ": ", nm, d,
                                  vf_dtype_name((enum vf_dtype)x->type),
                                  (double)p->top_bytes[i] / (double)VF_MIB);
        shown += p->top_bytes[i];
    }
    if (o < n && p->n_live > 3)
        o += (size_t)snprintf(out + o, n - o, " + %d more %.2f MiB", p->n_live - 3,
                              (double)(p->live - shown) / (double)VF_MIB);
    if (o < n && s->size[buf] > p->live + VF_MIB / 100)
        o += (size_t)snprintf(out + o, n - o, " + gaps %.2f MiB",
                              (double)(s->size[buf] - p->live) / (double)VF_MIB);
    return o < n ? o : n;
}

int vf_llama_compute(const struct vf_llama_compute_in *in, struct vf_llama_compute_out *out) {
    memset(out, 0, sizeof *out);
    const struct vf_llm_hparams *hp = in ? in->hp : NULL;
    if (!hp || !in->n_ctx || !in->n_ubatch || !in->n_batch || !in->n_seq_max || !hp->n_layer ||
        !hp->n_embd || !hp->n_head || !hp->n_embd_head_k || !hp->n_embd_head_v || !hp->n_vocab ||
        hp->n_layer > VF_MAX_LAYERS || in->n_seq_max > 256) {
        snprintf(out->explain, sizeof out->explain,
                 "compute buffers: incomplete model shapes or settings");
        return VF_ERR_ARG;
    }
    struct arch a;
    if (!arch_of(hp->arch, hp, in->tensors, &a)) {
        snprintf(
            out->explain, sizeof out->explain,
            "compute buffers of architecture '%s' are not modelled (llama, mistral, qwen2, qwen3, "
            "qwen3moe, gemma3, phi3 are)",
            hp->arch);
        return VF_ERR_UNSUPPORTED;
    }
    if (!a.moe && !hp->n_ff) {
        snprintf(out->explain, sizeof out->explain, "compute buffers: dense model without n_ff");
        return VF_ERR_ARG;
    }
    if (!in->flash_attn && vf_dtype_is_quantized(in->type_v)) {
        snprintf(out->explain, sizeof out->explain,
                 "a quantized V cache needs flash attention (llama.cpp refuses the context)");
        return VF_ERR_ARG;
    }
    if (row_size(in->type_k, hp->n_embd_head_k) == 0 ||
        row_size(in->type_v, hp->n_embd_head_v) == 0 || hp->n_embd_head_k % blck_of(in->type_k) ||
        hp->n_embd_head_v % blck_of(in->type_v)) {
        snprintf(out->explain, sizeof out->explain, "KV types %s/%s do not fit head size %u",
                 vf_dtype_name(in->type_k), vf_dtype_name(in->type_v), hp->n_embd_head_k);
        return VF_ERR_ARG;
    }

    /* the worst case llama.cpp reserves: a prompt ubatch (pp), then a token
     * step (tg); a buffer only grows, so each ends at the larger of the two */
    int64_t n_seqs = in->n_seq_max;
    uint64_t n_ctx = in->kv_unified ? kv_cells(in) : kv_cells(in) * in->n_seq_max;
    int64_t n_tokens = (int64_t)VF_MIN(n_ctx, (uint64_t)in->n_ubatch);
    int64_t n_out_max = in->n_outputs_max ? in->n_outputs_max : in->n_batch;
    int64_t n_out_pp = VF_MAX(VF_MIN(n_tokens, n_out_max), 1);
    struct sim pp, tg;
    memset(&tg, 0, sizeof tg);
    int rc = simulate(in, &a, n_tokens, n_seqs, n_out_pp, &pp);
    if (rc == VF_OK)
        rc = simulate(in, &a, n_seqs, n_seqs, n_seqs, &tg);
    if (rc != VF_OK) {
        snprintf(out->explain, sizeof out->explain, "compute buffers: %s",
                 rc == VF_ERR_NOMEM ? "out of memory while simulating the graph"
                                    : "graph allocation outside the modelled limits");
        sim_free(&pp);
        sim_free(&tg);
        return rc;
    }
    bool cuda = in->backend == VF_LLAMA_CUDA;
    uint64_t dev = VF_MAX(pp.size[0], tg.size[0]);
    uint64_t host = cuda ? VF_MAX(pp.size[1], tg.size[1]) : 0;
    out->device_bytes = dev;
    out->host_bytes = host;

    struct sim *pd = pp.size[0] >= tg.size[0] ? &pp : &tg;
    size_t o = explain_buf(pd, 0, cuda ? "CUDA0" : "CPU", out->explain, sizeof out->explain);
    if (cuda && o < sizeof out->explain - 1) {
        struct sim *ph = pp.size[1] >= tg.size[1] ? &pp : &tg;
        o += (size_t)snprintf(out->explain + o, sizeof out->explain - o, "; ");
        if (o < sizeof out->explain)
            explain_buf(ph, 1, "CUDA_Host", out->explain + o, sizeof out->explain - o);
    }
    sim_free(&pp);
    sim_free(&tg);
    return VF_OK;
}
