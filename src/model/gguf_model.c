/* gguf_model.c - turn a GGUF file's metadata into vf_model hyper-parameters
 * (keys "<arch>.block_count", "<arch>.embedding_length", ... as llama.cpp
 * reads them) and keep its exact tensor list for the memory model. */
#include "gguf_read.h"
#include "model.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <stdio.h>
#include <string.h>

static bool get_arch_int(const struct vf_gguf *g, const char *arch, const char *suffix,
                         int64_t *v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return vf_gguf_get_int(g, key, v);
}

static uint32_t clamp_u32(int64_t v) {
    return v < 0 ? 0 : v > 0x7fffffff ? 0x7fffffff : (uint32_t)v;
}

/* llama.cpp's file-type names, indexed by general.file_type (llama_ftype). */
static const char *ftype_name(int64_t ft) {
    static const char *names[] = {
        [0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [7] = "Q8_0", [8] = "Q5_0",
        [9] = "Q5_1", [10] = "Q2_K", [11] = "Q3_K_S", [12] = "Q3_K_M", [13] = "Q3_K_L",
        [14] = "Q4_K_S", [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M", [18] = "Q6_K",
        [19] = "IQ2_XXS", [20] = "IQ2_XS", [21] = "Q2_K_S", [22] = "IQ3_XS", [23] = "IQ3_XXS",
        [24] = "IQ1_S", [25] = "IQ4_NL", [26] = "IQ3_S", [27] = "IQ3_M", [28] = "IQ2_S",
        [29] = "IQ2_M", [30] = "IQ4_XS", [31] = "IQ1_M", [32] = "BF16", [36] = "TQ1_0",
        [37] = "TQ2_0", [38] = "MXFP4_MOE",
    };
    if (ft >= 0 && ft < (int64_t)VF_ARRAY_LEN(names) && names[ft])
        return names[ft];
    return NULL;
}

static int fill_llm(const struct vf_gguf *g, const char *arch, struct vf_model *m, char *err,
                    size_t errlen) {
    struct vf_llm_hparams *hp = &m->llm;
    int64_t v;
    vf_strlcpy(hp->arch, arch, sizeof hp->arch);
    if (!get_arch_int(g, arch, "block_count", &v) || v <= 0 || v > VF_MAX_LAYERS) {
        vf_errf(err, errlen, "%s: missing or invalid %s.block_count", m->id, arch);
        return VF_ERR_FORMAT;
    }
    hp->n_layer = (uint32_t)v;
    if (!get_arch_int(g, arch, "embedding_length", &v) || v <= 0) {
        vf_errf(err, errlen, "%s: missing %s.embedding_length", m->id, arch);
        return VF_ERR_FORMAT;
    }
    hp->n_embd = clamp_u32(v);
    if (!get_arch_int(g, arch, "attention.head_count", &v) || v <= 0) {
        vf_errf(err, errlen, "%s: missing %s.attention.head_count", m->id, arch);
        return VF_ERR_FORMAT;
    }
    hp->n_head = clamp_u32(v);
    hp->n_head_kv = hp->n_head;
    char key[128];
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
    const struct vf_gguf_kv *kv = vf_gguf_find(g, key);
    if (kv && kv->type == VF_GGUF_ARRAY) {
        /* per-layer counts (hybrid models): 0 marks a layer without KV */
        if (!kv->arr || kv->arr_n != hp->n_layer) {
            vf_errf(err, errlen, "%s: %s has %llu entries for %u layers", m->id, key,
                    (unsigned long long)kv->arr_n, hp->n_layer);
            return VF_ERR_FORMAT;
        }
        uint32_t first = 0;
        for (uint32_t il = 0; il < hp->n_layer; il++) {
            hp->n_head_kv_l[il] = clamp_u32((int64_t)kv->arr[il]);
            if (!first)
                first = hp->n_head_kv_l[il];
        }
        hp->n_head_kv = first;
    } else if (vf_gguf_get_int(g, key, &v) && v > 0) {
        hp->n_head_kv = clamp_u32(v);
    }
    hp->n_embd_head_k = hp->n_embd / hp->n_head;
    hp->n_embd_head_v = hp->n_embd_head_k;
    if (get_arch_int(g, arch, "attention.key_length", &v) && v > 0)
        hp->n_embd_head_k = clamp_u32(v);
    if (get_arch_int(g, arch, "attention.value_length", &v) && v > 0)
        hp->n_embd_head_v = clamp_u32(v);
    if (get_arch_int(g, arch, "feed_forward_length", &v))
        hp->n_ff = clamp_u32(v);
    if (get_arch_int(g, arch, "context_length", &v))
        hp->n_ctx_train = clamp_u32(v);
    if (get_arch_int(g, arch, "expert_count", &v))
        hp->n_expert = clamp_u32(v);
    if (get_arch_int(g, arch, "expert_used_count", &v))
        hp->n_expert_used = clamp_u32(v);
    if (get_arch_int(g, arch, "expert_feed_forward_length", &v))
        hp->n_ff_exp = clamp_u32(v);
    if (get_arch_int(g, arch, "attention.sliding_window", &v))
        hp->n_swa = clamp_u32(v);
    if (hp->n_swa && strcmp(arch, "gemma3") == 0)
        hp->swa_period = 6;     /* llama.cpp: 5 local layers, then 1 global */
    if (get_arch_int(g, arch, "vocab_size", &v) && v > 0)
        hp->n_vocab = clamp_u32(v);
    else
        hp->n_vocab = clamp_u32((int64_t)vf_gguf_arr_len(g, "tokenizer.ggml.tokens"));
    const struct vf_tensor *emb = vf_tensor_list_find(&m->tensors, "token_embd.weight");
    if (emb && !hp->n_vocab)
        hp->n_vocab = clamp_u32(emb->ne[1]);
    hp->tied_embeddings = vf_tensor_list_find(&m->tensors, "output.weight") == NULL;
    if (!hp->n_vocab || hp->n_embd % hp->n_head || !hp->n_head_kv) {
        vf_errf(err, errlen, "%s: inconsistent hyper-parameters (vocab %u, embd %u, heads %u/%u)",
                m->id, hp->n_vocab, hp->n_embd, hp->n_head, hp->n_head_kv);
        return VF_ERR_FORMAT;
    }
    return VF_OK;
}

int vf_model_from_gguf(const char *path, struct vf_model *m, char *err, size_t errlen) {
    struct vf_gguf *g = NULL;
    int rc = vf_gguf_read_file(path, &g, err, errlen);
    if (rc)
        return rc;
    vf_strlcpy(m->id, path, sizeof m->id);
    const char *name = vf_gguf_get_str(g, "general.name");
    const char *slash = strrchr(path, '/');
    vf_strlcpy(m->name, name ? name : slash ? slash + 1 : path, sizeof m->name);
    m->format = VF_FMT_GGUF;
    m->role = VF_ROLE_LLM;
    m->file_bytes = g->file_size;
    m->tensors = g->tensors;                 /* take ownership */
    memset(&g->tensors, 0, sizeof g->tensors);
    int64_t ft;
    const char *fname = vf_gguf_get_int(g, "general.file_type", &ft) ? ftype_name(ft) : NULL;
    vf_strlcpy(m->quant, fname ? fname : "?", sizeof m->quant);
    const char *arch = vf_gguf_get_str(g, "general.architecture");
    if (!arch) {
        vf_errf(err, errlen, "%s: no general.architecture in the GGUF metadata", path);
        rc = VF_ERR_FORMAT;
    } else if (strcmp(arch, "clip") == 0 || strcmp(arch, "whisper") == 0) {
        vf_errf(err, errlen, "%s: a '%s' GGUF is not a language model", path, arch);
        rc = VF_ERR_UNSUPPORTED;
    } else {
        rc = fill_llm(g, arch, m, err, errlen);
    }
    for (size_t i = 0; i < m->tensors.n; i++)
        m->n_params += (uint64_t)vf_tensor_nelements(&m->tensors.v[i]);
    vf_gguf_free(g);
    if (rc)
        vf_model_free(m);
    return rc;
}
