/* mkmodel.c - GGUF language models with random weights (see mkmodel.h).
 * The tensor list and its per-tensor types come from synth.c, the same code
 * the planner uses for catalog models; metadata and tensor infos are
 * written with ggml's gguf writer, then the tensor data is streamed tensor
 * by tensor (quantized rows are made by ggml_quantize_chunk from a small
 * pool of random rows and repeated), so a multi-GB model needs little RAM.
 * The vocabulary is a synthetic byte-level BPE one of the real size, with
 * the family's special tokens and chat template, so llama.cpp tokenizes,
 * templates and generates with it exactly as with the real model. */
#include "mkmodel.h"
#include "../core/reader.h"
#include "../core/str.h"
#include "../model/catalog.h"
#include "../model/synth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ggml.h>
#include <gguf.h>

/* A tiny Qwen3-shaped model for fast tests: loads and generates in
 * milliseconds. */
static const struct vf_cat_llm tiny = {
    "tiny", "voxfit/tiny", NULL, NULL, NULL, "qwen3",
    2, 64, 4, 2, 16, 128, 1024, 4096, 0, 0, 0, 0, 0,
    true, false, true, false, false, 1,
};

/* ---- random numbers: splitmix64 + Box-Muller ---- */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rng_normal(uint64_t *s) {
    double u1 = ((rng_next(s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (rng_next(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ---- vocabulary ---- */

/* GPT-2's byte-to-unicode table: printable bytes map to themselves, the
 * others to U+0100 onwards, so every token is a printable UTF-8 string. */
static void byte_token(int b, char out[4]) {
    int cp;
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
        cp = b;
    } else {
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF)))
                n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

struct vocab {
    char **tok;
    int32_t *type;
    char **merges;
    size_t n_tok, n_merge;
    int32_t bos, eos, eot, pad;
    const char *pre;
    const char *tmpl;
};

static void vocab_free(struct vocab *v) {
    for (size_t i = 0; i < v->n_tok; i++)
        vf_free(v->tok[i]);
    for (size_t i = 0; i < v->n_merge; i++)
        vf_free(v->merges[i]);
    vf_free(v->tok);
    vf_free(v->type);
    vf_free(v->merges);
}

static const char chatml[] =
    "{%- for message in messages -%}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>\\n' }}{%- endfor -%}{%- if add_generation_prompt -%}"
    "{{ '<|im_start|>assistant\\n' }}{%- endif -%}";
static const char llama3[] =
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}";

/* Regular tokens: 256 bytes, then 2- and 3-character merges over a
 * 64-character alphabet ('Ġ' is the byte-level space), then the family's
 * special tokens, then padding up to n_vocab. */
static int vocab_build(struct vocab *v, const struct vf_cat_llm *c) {
    const bool llama = strcmp(c->arch, "llama") == 0;
    static const char *qwen_sp[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>",
                                    "</think>"};
    static const char *llama_sp[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                     "<|end_header_id|>", "<|eot_id|>"};
    const char **sp = llama ? llama_sp : qwen_sp;
    const size_t n_sp = 5;
    const size_t n = c->n_vocab;
    if (n < 256 + n_sp + 8)
        return VF_ERR_ARG;
    /* real families put specials right after the regular tokens */
    size_t n_regular;
    if (!llama && n > 151669)
        n_regular = 151643;
    else if (llama && n > 128256 - 1)
        n_regular = 128000;
    else
        n_regular = n - n_sp - 3;
    memset(v, 0, sizeof *v);
    v->tok = vf_calloc(n, sizeof *v->tok);
    v->type = vf_calloc(n, sizeof *v->type);
    v->merges = vf_calloc(n, sizeof *v->merges);
    if (!v->tok || !v->type || !v->merges)
        return VF_ERR_NOMEM;
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.";
    char a64[64][4];
    for (int i = 0; i < 63; i++)
        byte_token((unsigned char)alpha[i], a64[i]);
    byte_token(' ', a64[63]);
    size_t k = 0;
    for (int b = 0; b < 256; b++) {
        char s[4];
        byte_token(b, s);
        v->tok[k] = vf_strdup(s);
        v->type[k++] = 1;
    }
    for (int i = 0; i < 64 && k < n_regular; i++)
        for (int j = 0; j < 64 && k < n_regular; j++) {
            char s[16], m[16];
            snprintf(s, sizeof s, "%s%s", a64[i], a64[j]);
            snprintf(m, sizeof m, "%s %s", a64[i], a64[j]);
            v->tok[k] = vf_strdup(s);
            v->merges[v->n_merge++] = vf_strdup(m);
            v->type[k++] = 1;
        }
    for (int i = 0; i < 64 && k < n_regular; i++)
        for (int j = 0; j < 64 && k < n_regular; j++)
            for (int l = 0; l < 64 && k < n_regular; l++) {
                char s[16], m[16];
                snprintf(s, sizeof s, "%s%s%s", a64[i], a64[j], a64[l]);
                snprintf(m, sizeof m, "%s%s %s", a64[i], a64[j], a64[l]);
                v->tok[k] = vf_strdup(s);
                v->merges[v->n_merge++] = vf_strdup(m);
                v->type[k++] = 1;
            }
    for (; k < n_regular; k++) { /* never reached for real vocab sizes */
        char s[32];
        snprintf(s, sizeof s, "[UNUSED%zu]", k);
        v->tok[k] = vf_strdup(s);
        v->type[k] = 5;
    }
    size_t first_sp = k;
    for (size_t i = 0; i < n_sp; i++, k++) {
        v->tok[k] = vf_strdup(sp[i]);
        v->type[k] = 3;
    }
    for (; k < n; k++) {
        char s[48];
        snprintf(s, sizeof s, llama ? "<|reserved_special_token_%zu|>" : "[PAD%zu]", k);
        v->tok[k] = vf_strdup(s);
        v->type[k] = 3;
    }
    v->n_tok = n;
    for (size_t i = 0; i < n; i++)
        if (!v->tok[i])
            return VF_ERR_NOMEM;
    for (size_t i = 0; i < v->n_merge; i++)
        if (!v->merges[i])
            return VF_ERR_NOMEM;
    if (llama) {
        v->bos = (int32_t)first_sp;
        v->eos = (int32_t)first_sp + 4;   /* <|eot_id|> ends a turn */
        v->eot = v->eos;
        v->pad = (int32_t)first_sp + 1;
        v->pre = "llama-bpe";
        v->tmpl = llama3;
    } else {
        v->bos = (int32_t)first_sp;
        v->eos = (int32_t)first_sp + 2;   /* <|im_end|> */
        v->eot = v->eos;
        v->pad = (int32_t)first_sp;
        v->pre = "qwen2";
        v->tmpl = chatml;
    }
    return VF_OK;
}

/* ---- metadata ---- */

static void set_hparams(struct gguf_context *g, const struct vf_cat_llm *c, const char *name,
                        int file_type, uint32_t n_ctx) {
    char k[128];
    const char *a = c->arch;
    gguf_set_val_str(g, "general.architecture", a);
    gguf_set_val_str(g, "general.name", name);
    gguf_set_val_u32(g, "general.file_type", (uint32_t)file_type);
    gguf_set_val_u32(g, "general.quantization_version", 2);
#define SETU(suffix, val) (snprintf(k, sizeof k, "%s." suffix, a), gguf_set_val_u32(g, k, (val)))
#define SETF(suffix, val) (snprintf(k, sizeof k, "%s." suffix, a), gguf_set_val_f32(g, k, (val)))
    SETU("context_length", n_ctx ? n_ctx : c->n_ctx_train);
    SETU("embedding_length", c->n_embd);
    SETU("block_count", c->n_layer);
    SETU("feed_forward_length", c->n_ff);
    SETU("attention.head_count", c->n_head);
    SETU("attention.head_count_kv", c->n_head_kv);
    SETU("attention.key_length", c->head_dim);
    SETU("attention.value_length", c->head_dim);
    SETU("rope.dimension_count", c->head_dim);
    SETU("vocab_size", c->n_vocab);
    SETF("rope.freq_base", strcmp(a, "llama") == 0 ? 500000.0f : 1000000.0f);
    SETF("attention.layer_norm_rms_epsilon", 1e-6f);
    if (c->n_expert) {
        SETU("expert_count", c->n_expert);
        SETU("expert_used_count", c->n_expert_used);
        SETU("expert_feed_forward_length", c->n_ff_exp);
    }
#undef SETU
#undef SETF
}

static int set_vocab(struct gguf_context *g, const struct vocab *v) {
    gguf_set_val_str(g, "tokenizer.ggml.model", "gpt2");
    gguf_set_val_str(g, "tokenizer.ggml.pre", v->pre);
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", (const char **)v->tok, v->n_tok);
    gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->type, v->n_tok);
    gguf_set_arr_str(g, "tokenizer.ggml.merges", (const char **)v->merges, v->n_merge);
    gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
    gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    gguf_set_val_u32(g, "tokenizer.ggml.eot_token_id", (uint32_t)v->eot);
    gguf_set_val_u32(g, "tokenizer.ggml.padding_token_id", (uint32_t)v->pad);
    gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", strcmp(v->pre, "llama-bpe") == 0);
    gguf_set_val_str(g, "tokenizer.chat_template", v->tmpl);
    return VF_OK;
}

/* llama_ftype numbers, by file-type name */
static int ftype_number(const char *t) {
    static const struct {
        const char *n;
        int v;
    } rows[] = {{"F32", 0}, {"F16", 1}, {"Q4_0", 2}, {"Q4_1", 3}, {"Q8_0", 7}, {"Q5_0", 8},
                {"Q5_1", 9}, {"Q2_K", 10}, {"Q3_K_S", 11}, {"Q3_K_M", 12}, {"Q3_K_L", 13},
                {"Q4_K_S", 14}, {"Q4_K_M", 15}, {"Q5_K_S", 16}, {"Q5_K_M", 17}, {"Q6_K", 18},
                {"IQ4_NL", 25}, {"IQ4_XS", 30}, {"BF16", 32}};
    for (size_t i = 0; i < VF_ARRAY_LEN(rows); i++)
        if (!vf_strcasecmp(rows[i].n, t))
            return rows[i].v;
    return -1;
}

/* ---- tensor data ---- */

#define POOL_ROWS 8

/* Write t's data: norms are 1, biases 0, other tensors N(0, std) rows
 * from a pool, converted/quantized to the tensor's type. */
static int write_tensor(FILE *f, const struct vf_tensor *t, uint64_t *rng, char *err, size_t errlen) {
    const int64_t ncol = t->ne[0];
    const int64_t nrow = t->ne[1] * t->ne[2] * t->ne[3];
    const size_t row_bytes = vf_dtype_row_size(t->dtype, ncol);
    const bool is_norm = strstr(t->name, "norm") != NULL;
    const bool is_bias = vf_str_ends(t->name, ".bias");
    const bool is_rope = strstr(t->name, "rope_") != NULL;
    const float std = 0.02f;
    float *src = vf_malloc((size_t)ncol * POOL_ROWS * sizeof(float));
    uint8_t *pool = vf_malloc(row_bytes * POOL_ROWS);
    int rc = VF_OK;
    if (!src || !pool) {
        rc = VF_ERR_NOMEM;
        goto out;
    }
    for (int64_t i = 0; i < ncol * POOL_ROWS; i++)
        src[i] = is_norm || is_rope ? 1.0f : is_bias ? 0.0f : std * rng_normal(rng);
    enum ggml_type gt = (enum ggml_type)t->dtype;
    if (t->dtype == VF_DT_F32) {
        memcpy(pool, src, row_bytes * POOL_ROWS);
    } else if (t->dtype == VF_DT_F16) {
        ggml_fp32_to_fp16_row(src, (ggml_fp16_t *)pool, ncol * POOL_ROWS);
    } else if (t->dtype == VF_DT_BF16) {
        ggml_fp32_to_bf16_row(src, (ggml_bf16_t *)pool, ncol * POOL_ROWS);
    } else {
        size_t got = ggml_quantize_chunk(gt, src, pool, 0, POOL_ROWS, ncol, NULL);
        if (got != row_bytes * POOL_ROWS) {
            vf_errf(err, errlen, "quantizing %s to %s failed", t->name, vf_dtype_name(t->dtype));
            rc = VF_ERR_BACKEND;
            goto out;
        }
    }
    for (int64_t r = 0; r < nrow; r++) {
        if (fwrite(pool + (size_t)(rng_next(rng) % POOL_ROWS) * row_bytes, 1, row_bytes, f) !=
            row_bytes) {
            vf_errf(err, errlen, "write failed: %s", strerror(errno));
            rc = VF_ERR_IO;
            goto out;
        }
    }
out:
    vf_free(src);
    vf_free(pool);
    return rc;
}

int vf_mkmodel_gguf(const struct vf_mkmodel_params *p, char *err, size_t errlen) {
    const struct vf_cat_llm *c = !vf_strcasecmp(p->like, "tiny") ? &tiny : vf_catalog_find_llm(p->like);
    if (!c) {
        vf_errf(err, errlen, "unknown architecture '%s' (try tiny, Qwen/Qwen3-0.6B, "
                "meta-llama/Llama-3.2-1B-Instruct)", p->like);
        return VF_ERR_NOTFOUND;
    }
    if (strcmp(c->arch, "qwen3") && strcmp(c->arch, "qwen2") && strcmp(c->arch, "llama") &&
        strcmp(c->arch, "qwen3moe")) {
        vf_errf(err, errlen, "mkmodel writes llama, qwen2, qwen3 and qwen3moe models; %s is %s",
                c->name, c->arch);
        return VF_ERR_UNSUPPORTED;
    }
    const char *type = p->type ? p->type : (c == &tiny ? "F16" : "Q8_0");
    int file_type = ftype_number(type);
    struct vf_tensor_list tl = {0};
    struct vocab voc;
    memset(&voc, 0, sizeof voc);
    struct gguf_context *g = NULL;
    struct ggml_context *gc = NULL;
    FILE *f = NULL;
    int rc = file_type < 0 ? VF_ERR_ARG : vf_synth_llm_gguf(c, type, &tl);
    if (rc) {
        vf_errf(err, errlen, "unknown GGUF type '%s' (use one of Q4_K_M, Q8_0, F16 ...)", type);
        return VF_ERR_ARG;
    }
    if ((rc = vocab_build(&voc, c))) {
        vf_errf(err, errlen, "cannot build the vocabulary: %s", vf_status_str(rc));
        goto out;
    }
    g = gguf_init_empty();
    struct ggml_init_params ip = {ggml_tensor_overhead() * (tl.n + 1), NULL, true};
    gc = ggml_init(ip);
    if (!g || !gc) {
        rc = VF_ERR_NOMEM;
        goto out;
    }
    char name[160];
    snprintf(name, sizeof name, "%s (voxfit random weights)", c->name);
    set_hparams(g, c, name, file_type, p->n_ctx_train);
    set_vocab(g, &voc);
    for (size_t i = 0; i < tl.n; i++) {
        const struct vf_tensor *t = &tl.v[i];
        struct ggml_tensor *gt = ggml_new_tensor(gc, (enum ggml_type)t->dtype, t->n_dims, t->ne);
        ggml_set_name(gt, t->name);
        gguf_add_tensor(g, gt);
    }
    f = fopen(p->out, "wb");
    if (!f) {
        vf_errf(err, errlen, "cannot create %s: %s", p->out, strerror(errno));
        rc = VF_ERR_IO;
        goto out;
    }
    if (!gguf_write_to_file_ptr(g, f, true)) {
        vf_errf(err, errlen, "cannot write the GGUF header to %s", p->out);
        rc = VF_ERR_IO;
        goto out;
    }
    const uint64_t data_start = gguf_get_meta_size(g);
    uint64_t end = data_start;
    for (size_t i = 0; i < tl.n; i++) {
        uint64_t e = data_start + gguf_get_tensor_offset(g, (int64_t)i) + tl.v[i].nbytes;
        if (e > end)
            end = e;
    }
    if (p->zeros) {
        /* a sparse file: the holes read back as zeros */
        if (fflush(f) || ftruncate(fileno(f), (off_t)end)) {
            vf_errf(err, errlen, "cannot size %s: %s", p->out, strerror(errno));
            rc = VF_ERR_IO;
        }
        goto out;
    }
    uint64_t rng = p->seed ? p->seed : 0x766f78666974ull;
    for (size_t i = 0; i < tl.n && !rc; i++) {
        uint64_t at = data_start + gguf_get_tensor_offset(g, (int64_t)i);
        if (fseeko(f, (off_t)at, SEEK_SET)) {
            rc = VF_ERR_IO;
            break;
        }
        rc = write_tensor(f, &tl.v[i], &rng, err, errlen);
    }
    if (!rc && (fflush(f) || ftruncate(fileno(f), (off_t)end))) {
        vf_errf(err, errlen, "cannot finish %s: %s", p->out, strerror(errno));
        rc = VF_ERR_IO;
    }
out:
    if (f && fclose(f) && !rc) {
        vf_errf(err, errlen, "cannot close %s: %s", p->out, strerror(errno));
        rc = VF_ERR_IO;
    }
    if (rc && f)
        unlink(p->out);
    if (gc)
        ggml_free(gc);
    if (g)
        gguf_free(g);
    vocab_free(&voc);
    vf_tensor_list_free(&tl);
    return rc;
}
