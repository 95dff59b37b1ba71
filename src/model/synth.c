/* synth.c - tensor lists synthesized from catalog shapes; see synth.h.
 * The GGUF quantization mix follows llama-quantize's documented behaviour
 * (llama_tensor_get_type in llama.cpp's src/llama-quant.cpp): token
 * embeddings and 1-D tensors, the output tensor at Q6_K for K-quant mixes,
 * attn_v/ffn_down bumped to Q6_K on "more bits" layers for _M mixes, and
 * fall-backs when a row is not a whole number of blocks. */
#include "synth.h"
#include "../core/str.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int add(struct vf_tensor_list *l, enum vf_dtype dt, int64_t ne0, int64_t ne1, int64_t ne2,
               const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int add(struct vf_tensor_list *l, enum vf_dtype dt, int64_t ne0, int64_t ne1, int64_t ne2,
               const char *fmt, ...) {
    char name[VF_TENSOR_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t ne[3] = {ne0, ne1, ne2};
    int nd = ne2 > 1 ? 3 : ne1 > 1 ? 2 : 1;
    return vf_tensor_list_add(l, name, dt, nd, ne, 0);
}

void vf_synth_llm_hparams(const struct vf_cat_llm *c, struct vf_llm_hparams *hp) {
    memset(hp, 0, sizeof *hp);
    vf_strlcpy(hp->arch, c->arch, sizeof hp->arch);
    hp->n_layer = c->n_layer;
    hp->n_embd = c->n_embd;
    hp->n_head = c->n_head;
    hp->n_head_kv = c->n_head_kv;
    hp->n_embd_head_k = hp->n_embd_head_v = c->head_dim;
    hp->n_ff = c->n_ff;
    hp->n_vocab = c->n_vocab;
    hp->n_ctx_train = c->n_ctx_train;
    hp->n_expert = c->n_expert;
    hp->n_expert_used = c->n_expert_used;
    hp->n_ff_exp = c->n_ff_exp;
    hp->n_swa = c->n_swa;
    hp->swa_period = c->swa_period;
    hp->tied_embeddings = c->tied;
}

/* ==== GGUF ================================================================ */

/* Tensors as llama.cpp's converter writes them, 2-D weights in F32 (the
 * quantization mix then picks each one's type), in file order. */
static int gguf_base(const struct vf_cat_llm *c, struct vf_tensor_list *l) {
    const int64_t E = c->n_embd, V = c->n_vocab, hd = c->head_dim;
    const int64_t q = (int64_t)c->n_head * hd, kv = (int64_t)c->n_head_kv * hd;
    const enum vf_dtype W = VF_DT_F32, N = VF_DT_F32;
    int rc = VF_OK;
    if (c->rope_freqs)
        rc = add(l, N, hd / 2, 1, 1, "rope_freqs.weight");
    if (!rc && c->fused_qkv) { /* Phi-3: LongRoPE factors over 3/4 of the head */
        int64_t n_rot = hd * 3 / 4;
        rc = add(l, N, n_rot / 2, 1, 1, "rope_factors_long.weight");
        if (!rc)
            rc = add(l, N, n_rot / 2, 1, 1, "rope_factors_short.weight");
    }
    if (!rc)
        rc = add(l, W, E, V, 1, "token_embd.weight");
    for (uint32_t i = 0; !rc && i < c->n_layer; i++) {
        rc = add(l, N, E, 1, 1, "blk.%u.attn_norm.weight", i);
        if (c->fused_qkv) {
            if (!rc) rc = add(l, W, E, q + 2 * kv, 1, "blk.%u.attn_qkv.weight", i);
        } else {
            if (!rc) rc = add(l, W, E, q, 1, "blk.%u.attn_q.weight", i);
            if (!rc) rc = add(l, W, E, kv, 1, "blk.%u.attn_k.weight", i);
            if (!rc) rc = add(l, W, E, kv, 1, "blk.%u.attn_v.weight", i);
        }
        if (!rc && c->qkv_bias) {
            rc = add(l, N, q, 1, 1, "blk.%u.attn_q.bias", i);
            if (!rc) rc = add(l, N, kv, 1, 1, "blk.%u.attn_k.bias", i);
            if (!rc) rc = add(l, N, kv, 1, 1, "blk.%u.attn_v.bias", i);
        }
        if (!rc && c->qk_norm) {
            rc = add(l, N, hd, 1, 1, "blk.%u.attn_q_norm.weight", i);
            if (!rc) rc = add(l, N, hd, 1, 1, "blk.%u.attn_k_norm.weight", i);
        }
        if (!rc) rc = add(l, W, q, E, 1, "blk.%u.attn_output.weight", i);
        if (!rc && strcmp(c->arch, "gemma3") == 0)
            rc = add(l, N, E, 1, 1, "blk.%u.post_attention_norm.weight", i);
        if (!rc) rc = add(l, N, E, 1, 1, "blk.%u.ffn_norm.weight", i);
        if (c->n_expert) {
            if (!rc) rc = add(l, N, E, c->n_expert, 1, "blk.%u.ffn_gate_inp.weight", i);
            if (!rc) rc = add(l, W, E, c->n_ff_exp, c->n_expert, "blk.%u.ffn_gate_exps.weight", i);
            if (!rc) rc = add(l, W, E, c->n_ff_exp, c->n_expert, "blk.%u.ffn_up_exps.weight", i);
            if (!rc) rc = add(l, W, c->n_ff_exp, E, c->n_expert, "blk.%u.ffn_down_exps.weight", i);
        } else if (c->fused_qkv) {
            if (!rc) rc = add(l, W, E, 2 * (int64_t)c->n_ff, 1, "blk.%u.ffn_up.weight", i);
            if (!rc) rc = add(l, W, c->n_ff, E, 1, "blk.%u.ffn_down.weight", i);
        } else {
            if (!rc) rc = add(l, W, E, c->n_ff, 1, "blk.%u.ffn_gate.weight", i);
            if (!rc) rc = add(l, W, E, c->n_ff, 1, "blk.%u.ffn_up.weight", i);
            if (!rc) rc = add(l, W, c->n_ff, E, 1, "blk.%u.ffn_down.weight", i);
        }
        if (!rc && strcmp(c->arch, "gemma3") == 0)
            rc = add(l, N, E, 1, 1, "blk.%u.post_ffw_norm.weight", i);
    }
    if (!rc)
        rc = add(l, N, E, 1, 1, "output_norm.weight");
    if (!rc && !c->tied)
        rc = add(l, W, E, V, 1, "output.weight");
    return rc;
}

struct ftype_row {
    const char *name;
    enum vf_dtype base;
};

static const struct ftype_row ftypes[] = {
    {"F32", VF_DT_F32}, {"F16", VF_DT_F16}, {"BF16", VF_DT_BF16}, {"Q8_0", VF_DT_Q8_0},
    {"Q4_0", VF_DT_Q4_0}, {"Q4_1", VF_DT_Q4_1}, {"Q5_0", VF_DT_Q5_0}, {"Q5_1", VF_DT_Q5_1},
    {"Q2_K", VF_DT_Q2_K}, {"Q3_K_S", VF_DT_Q3_K}, {"Q3_K_M", VF_DT_Q3_K},
    {"Q3_K_L", VF_DT_Q3_K}, {"Q4_K_S", VF_DT_Q4_K}, {"Q4_K_M", VF_DT_Q4_K},
    {"Q5_K_S", VF_DT_Q5_K}, {"Q5_K_M", VF_DT_Q5_K}, {"Q6_K", VF_DT_Q6_K},
    {"IQ4_XS", VF_DT_IQ4_XS}, {"IQ4_NL", VF_DT_IQ4_NL},
};

const char *const vf_gguf_quants[] = {"Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_1",
                                      "Q4_K_S", "Q4_K_M", "IQ4_XS", "IQ4_NL", "Q5_0", "Q5_1",
                                      "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0", "F16", "BF16", "F32",
                                      NULL};

static bool more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool name_has(const char *name, const char *part) { return strstr(name, part) != NULL; }

/* The fall-back when a row does not split into whole blocks. */
static enum vf_dtype fallback(enum vf_dtype t, int64_t ncols) {
    uint32_t blck, bytes;
    if (!vf_dtype_block(t, &blck, &bytes) || ncols % blck == 0)
        return t;
    switch (t) {
    case VF_DT_IQ4_XS: t = VF_DT_IQ4_NL; break;
    case VF_DT_Q2_K: case VF_DT_Q3_K: t = VF_DT_Q4_0; break;
    case VF_DT_Q4_K: t = VF_DT_Q5_0; break;
    case VF_DT_Q5_K: t = VF_DT_Q5_1; break;
    case VF_DT_Q6_K: t = VF_DT_Q8_0; break;
    default: break;
    }
    vf_dtype_block(t, &blck, &bytes);
    return ncols % blck == 0 ? t : VF_DT_F16;
}

int vf_synth_quant_mix(struct vf_tensor_list *l, const struct vf_llm_hparams *hp,
                       const char *ftype) {
    const struct ftype_row *ft = NULL;
    for (size_t i = 0; i < VF_ARRAY_LEN(ftypes); i++)
        if (vf_strcasecmp(ftypes[i].name, ftype) == 0)
            ft = &ftypes[i];
    if (!ft)
        return VF_ERR_ARG;
    const char *f = ft->name;
    const bool quantized = vf_dtype_is_quantized(ft->base);
    const bool tied = vf_tensor_list_find(l, "output.weight") == NULL;
    const int n_layer = (int)hp->n_layer;
    const uint32_t gqa = hp->n_head_kv ? hp->n_head / hp->n_head_kv : 1;
    int n_attn_v = 0, i_attn_v = 0;
    for (size_t i = 0; i < l->n; i++)
        if (name_has(l->v[i].name, "attn_v.weight") || name_has(l->v[i].name, "attn_qkv.weight"))
            n_attn_v++;
    for (size_t i = 0; i < l->n; i++) {
        struct vf_tensor *t = &l->v[i];
        const char *nm = t->name;
        bool q = t->n_dims >= 2 && vf_str_ends(nm, "weight") && !name_has(nm, "_norm.weight") &&
                 !name_has(nm, "ffn_gate_inp.weight");
        enum vf_dtype nt;
        if (!q) {
            nt = t->dtype;
        } else if (!quantized) {
            nt = ft->base;
        } else {
            nt = ft->base;
            bool is_out = strcmp(nm, "output.weight") == 0;
            bool is_emb = strcmp(nm, "token_embd.weight") == 0;
            int il = vf_tensor_layer(nm);
            if (is_out || (tied && is_emb)) {
                uint32_t blck, bytes;
                vf_dtype_block(ft->base, &blck, &bytes);
                if (t->ne[0] % blck != 0)
                    nt = VF_DT_Q8_0;
                else if (ft->base != VF_DT_Q8_0)
                    nt = VF_DT_Q6_K;
            } else if (is_emb) {
                /* default type, nothing special for the mixes we model */
            } else if (name_has(nm, "attn_v.weight") || name_has(nm, "attn_qkv.weight")) {
                if (!strcmp(f, "Q2_K"))
                    nt = gqa >= 4 ? VF_DT_Q4_K : VF_DT_Q3_K;
                else if (!strcmp(f, "Q3_K_M"))
                    nt = i_attn_v < 2 ? VF_DT_Q5_K : VF_DT_Q4_K;
                else if (!strcmp(f, "Q3_K_L"))
                    nt = VF_DT_Q5_K;
                else if ((!strcmp(f, "IQ4_NL") || !strcmp(f, "IQ4_XS")) && gqa >= 4)
                    nt = VF_DT_Q5_K;
                else if ((!strcmp(f, "Q4_K_M") || !strcmp(f, "Q5_K_M")) &&
                         more_bits(i_attn_v, n_attn_v))
                    nt = VF_DT_Q6_K;
                else if (!strcmp(f, "Q4_K_S") && i_attn_v < 4)
                    nt = VF_DT_Q5_K;
                if (hp->n_expert == 8)
                    nt = VF_DT_Q8_0;
                i_attn_v++;
            } else if (name_has(nm, "attn_k.weight")) {
                if (hp->n_expert == 8)
                    nt = VF_DT_Q8_0;
            } else if (name_has(nm, "ffn_down")) {
                int n = n_layer;
                if (!strcmp(f, "Q2_K"))
                    nt = VF_DT_Q3_K;
                else if (!strcmp(f, "Q3_K_M"))
                    nt = il < n / 16 ? VF_DT_Q5_K : VF_DT_Q4_K;
                else if (!strcmp(f, "Q3_K_L"))
                    nt = VF_DT_Q5_K;
                else if (!strcmp(f, "Q4_K_M")) {
                    if (more_bits(il, n))
                        nt = VF_DT_Q6_K;
                } else if (il < n / 8 && (!strcmp(f, "IQ4_NL") || !strcmp(f, "IQ4_XS")))
                    nt = VF_DT_Q5_K;
                else if (!strcmp(f, "Q5_K_M") && more_bits(il, n))
                    nt = VF_DT_Q6_K;
                else if (!strcmp(f, "Q4_K_S") && il < n / 8)
                    nt = VF_DT_Q5_K;
            } else if (name_has(nm, "attn_output.weight")) {
                if (hp->n_expert == 8) {
                    if (strcmp(f, "Q5_K_S") && strcmp(f, "Q5_K_M") && strcmp(f, "Q6_K") &&
                        strcmp(f, "Q8_0") && strcmp(f, "Q4_0") && strcmp(f, "Q4_1") &&
                        strcmp(f, "Q5_0") && strcmp(f, "Q5_1"))
                        nt = VF_DT_Q5_K;
                } else if (!strcmp(f, "Q2_K"))
                    nt = VF_DT_Q3_K;
                else if (!strcmp(f, "Q3_K_M"))
                    nt = VF_DT_Q4_K;
                else if (!strcmp(f, "Q3_K_L"))
                    nt = VF_DT_Q5_K;
            }
            nt = fallback(nt, t->ne[0]);
        }
        if (nt != t->dtype) {
            uint64_t row = vf_dtype_row_size(nt, t->ne[0]);
            if (!row)
                return VF_ERR_FORMAT;
            t->dtype = nt;
            t->nbytes = row * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        }
    }
    return VF_OK;
}

int vf_synth_llm_gguf(const struct vf_cat_llm *c, const char *ftype, struct vf_tensor_list *out) {
    struct vf_llm_hparams hp;
    vf_synth_llm_hparams(c, &hp);
    memset(out, 0, sizeof *out);
    int rc = gguf_base(c, out);
    if (!rc)
        rc = vf_synth_quant_mix(out, &hp, ftype);
    if (rc)
        vf_tensor_list_free(out);
    return rc;
}

/* ==== Hugging Face safetensors ============================================ */

enum hf_q { HF_BF16, HF_FP8, HF_AWQ };

/* One nn.Linear of shape [out, in] in the repo's storage. */
static int hf_linear(struct vf_tensor_list *l, enum hf_q qz, int64_t out, int64_t in, bool bias,
                     const char *prefix) {
    int rc;
    if (qz == HF_FP8) {
        rc = add(l, VF_DT_F8_E4M3, in, out, 1, "%s.weight", prefix);
        if (!rc)
            rc = add(l, VF_DT_F32, (in + 127) / 128, (out + 127) / 128, 1, "%s.weight_scale_inv",
                     prefix);
    } else if (qz == HF_AWQ) {
        rc = add(l, VF_DT_I32, out / 8, in, 1, "%s.qweight", prefix);
        if (!rc)
            rc = add(l, VF_DT_I32, out / 8, (in + 127) / 128, 1, "%s.qzeros", prefix);
        if (!rc)
            rc = add(l, VF_DT_F16, out, (in + 127) / 128, 1, "%s.scales", prefix);
    } else {
        rc = add(l, VF_DT_BF16, in, out, 1, "%s.weight", prefix);
    }
    if (!rc && bias)
        rc = add(l, qz == HF_AWQ ? VF_DT_F16 : VF_DT_BF16, out, 1, 1, "%s.bias", prefix);
    return rc;
}

int vf_synth_llm_hf(const struct vf_cat_llm *c, const char *quant, struct vf_tensor_list *l) {
    enum hf_q qz = HF_BF16;
    if (!vf_strcasecmp(quant, "FP8"))
        qz = HF_FP8;
    else if (!vf_strcasecmp(quant, "AWQ"))
        qz = HF_AWQ;
    else if (vf_strcasecmp(quant, "BF16"))
        return VF_ERR_ARG;
    memset(l, 0, sizeof *l);
    const enum vf_dtype D = qz == HF_AWQ ? VF_DT_F16 : VF_DT_BF16;
    const int64_t E = c->n_embd, V = c->n_vocab, hd = c->head_dim;
    const int64_t q = (int64_t)c->n_head * hd, kv = (int64_t)c->n_head_kv * hd;
    const bool gemma = strcmp(c->arch, "gemma3") == 0;
    const char *root = gemma && c->n_layer > 26 ? "language_model.model" : "model";
    char p[64];
    int rc = add(l, D, E, V, 1, "%s.embed_tokens.weight", root);
    for (uint32_t i = 0; !rc && i < c->n_layer; i++) {
        snprintf(p, sizeof p, "%s.layers.%u", root, i);
        rc = add(l, D, E, 1, 1, "%s.input_layernorm.weight", p);
        char lin[VF_TENSOR_NAME_MAX];
        if (c->fused_qkv) {
            snprintf(lin, sizeof lin, "%s.self_attn.qkv_proj", p);
            if (!rc) rc = hf_linear(l, qz, q + 2 * kv, E, false, lin);
        } else {
            snprintf(lin, sizeof lin, "%s.self_attn.q_proj", p);
            if (!rc) rc = hf_linear(l, qz, q, E, c->qkv_bias, lin);
            snprintf(lin, sizeof lin, "%s.self_attn.k_proj", p);
            if (!rc) rc = hf_linear(l, qz, kv, E, c->qkv_bias, lin);
            snprintf(lin, sizeof lin, "%s.self_attn.v_proj", p);
            if (!rc) rc = hf_linear(l, qz, kv, E, c->qkv_bias, lin);
        }
        snprintf(lin, sizeof lin, "%s.self_attn.o_proj", p);
        if (!rc) rc = hf_linear(l, qz, E, q, false, lin);
        if (!rc && c->qk_norm) {
            rc = add(l, D, hd, 1, 1, "%s.self_attn.q_norm.weight", p);
            if (!rc) rc = add(l, D, hd, 1, 1, "%s.self_attn.k_norm.weight", p);
        }
        if (!rc) rc = add(l, D, E, 1, 1, "%s.post_attention_layernorm.weight", p);
        if (!rc && gemma) {
            rc = add(l, D, E, 1, 1, "%s.pre_feedforward_layernorm.weight", p);
            if (!rc) rc = add(l, D, E, 1, 1, "%s.post_feedforward_layernorm.weight", p);
        }
        if (c->n_expert) {
            if (!rc) rc = add(l, D, E, c->n_expert, 1, "%s.mlp.gate.weight", p);
            for (uint32_t e = 0; !rc && e < c->n_expert; e++) {
                snprintf(lin, sizeof lin, "%s.mlp.experts.%u.gate_proj", p, e);
                rc = hf_linear(l, qz, c->n_ff_exp, E, false, lin);
                snprintf(lin, sizeof lin, "%s.mlp.experts.%u.up_proj", p, e);
                if (!rc) rc = hf_linear(l, qz, c->n_ff_exp, E, false, lin);
                snprintf(lin, sizeof lin, "%s.mlp.experts.%u.down_proj", p, e);
                if (!rc) rc = hf_linear(l, qz, E, c->n_ff_exp, false, lin);
            }
        } else if (c->fused_qkv) {
            snprintf(lin, sizeof lin, "%s.mlp.gate_up_proj", p);
            if (!rc) rc = hf_linear(l, qz, 2 * (int64_t)c->n_ff, E, false, lin);
            snprintf(lin, sizeof lin, "%s.mlp.down_proj", p);
            if (!rc) rc = hf_linear(l, qz, E, c->n_ff, false, lin);
        } else {
            snprintf(lin, sizeof lin, "%s.mlp.gate_proj", p);
            if (!rc) rc = hf_linear(l, qz, c->n_ff, E, false, lin);
            snprintf(lin, sizeof lin, "%s.mlp.up_proj", p);
            if (!rc) rc = hf_linear(l, qz, c->n_ff, E, false, lin);
            snprintf(lin, sizeof lin, "%s.mlp.down_proj", p);
            if (!rc) rc = hf_linear(l, qz, E, c->n_ff, false, lin);
        }
    }
    if (!rc)
        rc = add(l, D, E, 1, 1, "%s.norm.weight", root);
    if (!rc && !c->tied)
        rc = add(l, D, E, V, 1, "lm_head.weight");
    if (!rc && gemma && c->n_layer > 26) {
        /* Gemma 3 4B/12B/27B ship a SigLIP vision tower that vLLM loads:
         * 27 layers of width 1152 (MLP 4304), 896x896 images in 14x14 patches. */
        const int64_t Ev = 1152, Fv = 4304;
        rc = add(l, D, 14 * 14 * 3, Ev, 1, "vision_tower.vision_model.embeddings.patch_embedding.weight");
        if (!rc) rc = add(l, D, Ev, 1, 1, "vision_tower.vision_model.embeddings.patch_embedding.bias");
        if (!rc) rc = add(l, D, Ev, 4096, 1, "vision_tower.vision_model.embeddings.position_embedding.weight");
        for (int i = 0; !rc && i < 27; i++) {
            static const char *lins[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                         "self_attn.out_proj"};
            for (size_t k = 0; !rc && k < 4; k++) {
                rc = add(l, D, Ev, Ev, 1, "vision_tower.vision_model.encoder.layers.%d.%s.weight", i, lins[k]);
                if (!rc) rc = add(l, D, Ev, 1, 1, "vision_tower.vision_model.encoder.layers.%d.%s.bias", i, lins[k]);
            }
            if (!rc) rc = add(l, D, Ev, Fv, 1, "vision_tower.vision_model.encoder.layers.%d.mlp.fc1.weight", i);
            if (!rc) rc = add(l, D, Fv, 1, 1, "vision_tower.vision_model.encoder.layers.%d.mlp.fc1.bias", i);
            if (!rc) rc = add(l, D, Fv, Ev, 1, "vision_tower.vision_model.encoder.layers.%d.mlp.fc2.weight", i);
            if (!rc) rc = add(l, D, Ev, 1, 1, "vision_tower.vision_model.encoder.layers.%d.mlp.fc2.bias", i);
            if (!rc) rc = add(l, D, Ev, 4, 1, "vision_tower.vision_model.encoder.layers.%d.norms", i);
        }
        if (!rc) rc = add(l, D, Ev, 2, 1, "vision_tower.vision_model.post_layernorm");
        if (!rc) rc = add(l, D, E, Ev, 1, "multi_modal_projector.mm_input_projection_weight");
        if (!rc) rc = add(l, D, Ev, 1, 1, "multi_modal_projector.mm_soft_emb_norm.weight");
    }
    if (rc)
        vf_tensor_list_free(l);
    return rc;
}

/* ==== Whisper ============================================================= */

/* The weights of one attention block: query/value/out have biases, key not. */
static int whisper_attn(struct vf_tensor_list *l, enum vf_dtype w, int64_t S, const char *p,
                        const char *attn) {
    int rc = add(l, VF_DT_F32, S, 1, 1, "%s.%s_ln.weight", p, attn);
    if (!rc) rc = add(l, VF_DT_F32, S, 1, 1, "%s.%s_ln.bias", p, attn);
    if (!rc) rc = add(l, w, S, S, 1, "%s.%s.query.weight", p, attn);
    if (!rc) rc = add(l, VF_DT_F32, S, 1, 1, "%s.%s.query.bias", p, attn);
    if (!rc) rc = add(l, w, S, S, 1, "%s.%s.key.weight", p, attn);
    if (!rc) rc = add(l, w, S, S, 1, "%s.%s.value.weight", p, attn);
    if (!rc) rc = add(l, VF_DT_F32, S, 1, 1, "%s.%s.value.bias", p, attn);
    if (!rc) rc = add(l, w, S, S, 1, "%s.%s.out.weight", p, attn);
    if (!rc) rc = add(l, VF_DT_F32, S, 1, 1, "%s.%s.out.bias", p, attn);
    return rc;
}

static int whisper_mlp(struct vf_tensor_list *l, enum vf_dtype w, int64_t S, const char *p) {
    int rc = add(l, VF_DT_F32, S, 1, 1, "%s.mlp_ln.weight", p);
    if (!rc) rc = add(l, VF_DT_F32, S, 1, 1, "%s.mlp_ln.bias", p);
    if (!rc) rc = add(l, w, S, 4 * S, 1, "%s.mlp.0.weight", p);
    if (!rc) rc = add(l, VF_DT_F32, 4 * S, 1, 1, "%s.mlp.0.bias", p);
    if (!rc) rc = add(l, w, 4 * S, S, 1, "%s.mlp.2.weight", p);
    if (!rc) rc = add(l, VF_DT_F32, S, 1, 1, "%s.mlp.2.bias", p);
    return rc;
}

int vf_synth_whisper_ggml(const struct vf_whisper_hparams *hp, const char *wtype,
                          struct vf_tensor_list *l) {
    enum vf_dtype w = vf_dtype_from_name(wtype);
    if (w != VF_DT_F16 && w != VF_DT_F32 && w != VF_DT_Q5_0 && w != VF_DT_Q5_1 &&
        w != VF_DT_Q8_0 && w != VF_DT_Q4_0 && w != VF_DT_Q4_1)
        return VF_ERR_ARG;
    /* convolutions stay F16 in quantized files (whisper.cpp quantizes 2-D
     * tensors only) */
    const enum vf_dtype conv = w == VF_DT_F32 ? VF_DT_F32 : VF_DT_F16;
    memset(l, 0, sizeof *l);
    const int64_t S = hp->n_audio_state, T = hp->n_text_state;
    char p[64];
    int rc = add(l, VF_DT_F32, S, hp->n_audio_ctx, 1, "encoder.positional_embedding");
    if (!rc) rc = add(l, conv, 3, hp->n_mels, S, "encoder.conv1.weight");
    if (!rc) rc = add(l, VF_DT_F32, 1, S, 1, "encoder.conv1.bias");
    if (!rc) rc = add(l, conv, 3, S, S, "encoder.conv2.weight");
    if (!rc) rc = add(l, VF_DT_F32, 1, S, 1, "encoder.conv2.bias");
    if (!rc) rc = add(l, VF_DT_F32, S, 1, 1, "encoder.ln_post.weight");
    if (!rc) rc = add(l, VF_DT_F32, S, 1, 1, "encoder.ln_post.bias");
    for (uint32_t i = 0; !rc && i < hp->n_audio_layer; i++) {
        snprintf(p, sizeof p, "encoder.blocks.%u", i);
        rc = whisper_mlp(l, w, S, p);
        if (!rc) rc = whisper_attn(l, w, S, p, "attn");
    }
    if (!rc) rc = add(l, VF_DT_F32, T, hp->n_text_ctx, 1, "decoder.positional_embedding");
    if (!rc) rc = add(l, w, T, hp->n_vocab, 1, "decoder.token_embedding.weight");
    if (!rc) rc = add(l, VF_DT_F32, T, 1, 1, "decoder.ln.weight");
    if (!rc) rc = add(l, VF_DT_F32, T, 1, 1, "decoder.ln.bias");
    for (uint32_t i = 0; !rc && i < hp->n_text_layer; i++) {
        snprintf(p, sizeof p, "decoder.blocks.%u", i);
        rc = whisper_mlp(l, w, T, p);
        if (!rc) rc = whisper_attn(l, w, T, p, "attn");
        if (!rc) rc = whisper_attn(l, w, T, p, "cross_attn");
    }
    if (rc)
        vf_tensor_list_free(l);
    return rc;
}

/* CTranslate2 stores each linear layer as weight (+ weight_scale when int8)
 * + bias; self-attention q/k/v are fused into linear_0. Quantized types keep
 * layer norms, biases and embeddings in the float type. */
static int ct2_linear(struct vf_tensor_list *l, bool int8, enum vf_dtype f, int64_t out,
                      int64_t in, const char *p) {
    int rc = add(l, int8 ? VF_DT_I8 : f, in, out, 1, "%s/weight", p);
    if (!rc && int8)
        rc = add(l, VF_DT_F32, out, 1, 1, "%s/weight_scale", p);
    if (!rc)
        rc = add(l, f, out, 1, 1, "%s/bias", p);
    return rc;
}

int vf_synth_whisper_ct2(const struct vf_whisper_hparams *hp, const char *ctype,
                         struct vf_tensor_list *l) {
    bool int8 = vf_str_starts(ctype, "int8");
    enum vf_dtype f;
    if (!strcmp(ctype, "float16") || !strcmp(ctype, "int8_float16"))
        f = VF_DT_F16;
    else if (!strcmp(ctype, "bfloat16") || !strcmp(ctype, "int8_bfloat16"))
        f = VF_DT_BF16;
    else if (!strcmp(ctype, "float32") || !strcmp(ctype, "int8") ||
             !strcmp(ctype, "int8_float32"))
        f = VF_DT_F32;
    else
        return VF_ERR_ARG;
    memset(l, 0, sizeof *l);
    const int64_t S = hp->n_audio_state;
    char p[96];
    int rc = add(l, f, 3, hp->n_mels, S, "encoder/conv1/weight");
    if (!rc) rc = add(l, f, S, 1, 1, "encoder/conv1/bias");
    if (!rc) rc = add(l, f, 3, S, S, "encoder/conv2/weight");
    if (!rc) rc = add(l, f, S, 1, 1, "encoder/conv2/bias");
    if (!rc) rc = add(l, f, S, hp->n_audio_ctx, 1, "encoder/position_encodings/encodings");
    for (uint32_t i = 0; !rc && i < hp->n_audio_layer; i++) {
        snprintf(p, sizeof p, "encoder/layer_%u/self_attention/linear_0", i);
        rc = ct2_linear(l, int8, f, 3 * S, S, p);
        snprintf(p, sizeof p, "encoder/layer_%u/self_attention/linear_1", i);
        if (!rc) rc = ct2_linear(l, int8, f, S, S, p);
        snprintf(p, sizeof p, "encoder/layer_%u/ffn/linear_0", i);
        if (!rc) rc = ct2_linear(l, int8, f, 4 * S, S, p);
        snprintf(p, sizeof p, "encoder/layer_%u/ffn/linear_1", i);
        if (!rc) rc = ct2_linear(l, int8, f, S, 4 * S, p);
        if (!rc) rc = add(l, f, S, 4, 1, "encoder/layer_%u/norms", i);
    }
    if (!rc) rc = add(l, f, S, 2, 1, "encoder/layer_norm");
    if (!rc) rc = add(l, int8 ? VF_DT_I8 : f, S, hp->n_vocab, 1, "decoder/embeddings/weight");
    if (!rc && int8) rc = add(l, VF_DT_F32, hp->n_vocab, 1, 1, "decoder/embeddings/weight_scale");
    if (!rc) rc = add(l, f, S, hp->n_text_ctx, 1, "decoder/position_encodings/encodings");
    for (uint32_t i = 0; !rc && i < hp->n_text_layer; i++) {
        snprintf(p, sizeof p, "decoder/layer_%u/self_attention/linear_0", i);
        rc = ct2_linear(l, int8, f, 3 * S, S, p);
        snprintf(p, sizeof p, "decoder/layer_%u/self_attention/linear_1", i);
        if (!rc) rc = ct2_linear(l, int8, f, S, S, p);
        snprintf(p, sizeof p, "decoder/layer_%u/attention/linear_0", i);
        if (!rc) rc = ct2_linear(l, int8, f, S, S, p);
        snprintf(p, sizeof p, "decoder/layer_%u/attention/linear_1", i);
        if (!rc) rc = ct2_linear(l, int8, f, 2 * S, S, p);
        snprintf(p, sizeof p, "decoder/layer_%u/attention/linear_2", i);
        if (!rc) rc = ct2_linear(l, int8, f, S, S, p);
        snprintf(p, sizeof p, "decoder/layer_%u/ffn/linear_0", i);
        if (!rc) rc = ct2_linear(l, int8, f, 4 * S, S, p);
        snprintf(p, sizeof p, "decoder/layer_%u/ffn/linear_1", i);
        if (!rc) rc = ct2_linear(l, int8, f, S, 4 * S, p);
        if (!rc) rc = add(l, f, S, 6, 1, "decoder/layer_%u/norms", i);
    }
    if (!rc) rc = add(l, f, S, 2, 1, "decoder/layer_norm");
    if (rc)
        vf_tensor_list_free(l);
    return rc;
}
