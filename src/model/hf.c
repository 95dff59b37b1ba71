/* hf.c - a Hugging Face model folder: config.json for the architecture and
 * the safetensors headers (8-byte little-endian length + a JSON table of
 * name -> dtype, shape, data_offsets) for the exact tensors, sharded or
 * not. Only headers are read. Header size, tensor count and offsets are
 * bounded and checked against each file's size. */
#include "model.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define HF_MAX_HEADER (100u << 20)   /* the safetensors spec's own limit */
#define HF_MAX_CONFIG (4u << 20)
#define HF_MAX_SHARDS 512

/* Read a whole small file (at most max bytes) into a NUL-terminated buffer. */
static char *slurp(const char *path, size_t max, size_t *len, char *err, size_t errlen) {
    struct vf_reader r;
    if (vf_reader_open(&r, path)) {
        vf_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (r.size > max) {
        vf_errf(err, errlen, "%s is larger than %zu bytes", path, max);
        vf_reader_close(&r);
        return NULL;
    }
    char *buf = vf_malloc(r.size + 1);
    if (buf && vf_reader_read(&r, buf, r.size) != VF_OK) {
        vf_free(buf);
        buf = NULL;
        vf_errf(err, errlen, "cannot read %s", path);
    }
    if (buf) {
        buf[r.size] = '\0';
        if (len)
            *len = r.size;
    }
    vf_reader_close(&r);
    return buf;
}

static enum vf_dtype st_dtype(const char *s) {
    static const struct {
        const char *n;
        enum vf_dtype d;
    } m[] = {{"F64", VF_DT_F64}, {"F32", VF_DT_F32}, {"F16", VF_DT_F16}, {"BF16", VF_DT_BF16},
             {"I64", VF_DT_I64}, {"I32", VF_DT_I32}, {"I16", VF_DT_I16}, {"I8", VF_DT_I8},
             {"U8", VF_DT_U8}, {"U16", VF_DT_U16}, {"U32", VF_DT_U32}, {"U64", VF_DT_U64},
             {"BOOL", VF_DT_BOOL}, {"F8_E4M3", VF_DT_F8_E4M3}, {"F8_E5M2", VF_DT_F8_E5M2},
             {"F8_E8M0", VF_DT_F8_E8M0}};
    for (size_t i = 0; i < VF_ARRAY_LEN(m); i++)
        if (!strcmp(m[i].n, s))
            return m[i].d;
    return VF_DT_INVALID;
}

/* Parse one safetensors header held in memory; hdr_len is the JSON length
 * and data_size the bytes after it. Appends to l. */
static int parse_st_header(const char *json, size_t hdr_len, uint64_t data_size, const char *file,
                           struct vf_tensor_list *l, char *err, size_t errlen) {
    cJSON *root = cJSON_ParseWithLength(json, hdr_len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        vf_errf(err, errlen, "%s: the safetensors header is not valid JSON", file);
        return VF_ERR_FORMAT;
    }
    int rc = VF_OK;
    cJSON *t;
    cJSON_ArrayForEach(t, root) {
        if (!strcmp(t->string, "__metadata__"))
            continue;
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
        cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        cJSON *offs = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
            cJSON_GetArraySize(offs) != 2) {
            vf_errf(err, errlen, "%s: tensor '%s' lacks dtype, shape or data_offsets", file, t->string);
            rc = VF_ERR_FORMAT;
            break;
        }
        enum vf_dtype d = st_dtype(dt->valuestring);
        if (d == VF_DT_INVALID) {
            vf_errf(err, errlen, "%s: tensor '%s' has unknown dtype %s", file, t->string, dt->valuestring);
            rc = VF_ERR_FORMAT;
            break;
        }
        int nd = cJSON_GetArraySize(shape);
        int64_t ne[VF_TENSOR_MAX_DIMS] = {1, 1, 1, 1};
        /* row-major [d0, d1, ..., dk] -> ggml order; extra leading dims fold into ne[3] */
        int64_t fold = 1;
        bool bad = nd > 8;
        for (int k = 0; k < nd && !bad; k++) {
            cJSON *dim = cJSON_GetArrayItem(shape, k);
            if (!cJSON_IsNumber(dim) || dim->valuedouble < 0 || dim->valuedouble > 1e12) {
                bad = true;
                break;
            }
            int64_t v = (int64_t)dim->valuedouble;
            int pos = nd - 1 - k;
            if (pos >= VF_TENSOR_MAX_DIMS)
                fold *= v;
            else
                ne[pos] = v;
        }
        if (nd > VF_TENSOR_MAX_DIMS)
            ne[VF_TENSOR_MAX_DIMS - 1] *= fold;
        double o0 = cJSON_GetArrayItem(offs, 0)->valuedouble, o1 = cJSON_GetArrayItem(offs, 1)->valuedouble;
        if (bad || o0 < 0 || o1 < o0 || o1 > (double)data_size) {
            vf_errf(err, errlen, "%s: tensor '%s' has a bad shape or offsets beyond the file", file, t->string);
            rc = VF_ERR_FORMAT;
            break;
        }
        bool empty = false;
        for (int k = 0; k < VF_TENSOR_MAX_DIMS; k++)
            empty |= ne[k] == 0;
        if (empty || nd == 0) { /* scalars and empty tensors: sized by offsets */
            int64_t one[1] = {(int64_t)(o1 - o0) > 0 ? (int64_t)(o1 - o0) : 1};
            rc = vf_tensor_list_add(l, t->string, VF_DT_U8, 1, one, (uint64_t)o0);
        } else {
            rc = vf_tensor_list_add(l, t->string, d, nd < VF_TENSOR_MAX_DIMS ? nd : VF_TENSOR_MAX_DIMS,
                                    ne, (uint64_t)o0);
        }
        if (rc == VF_OK && l->v[l->n - 1].nbytes != (uint64_t)(o1 - o0) && !empty && nd) {
            vf_errf(err, errlen, "%s: tensor '%s' is %llu bytes by its shape but %llu by its offsets",
                    file, t->string, (unsigned long long)l->v[l->n - 1].nbytes,
                    (unsigned long long)(o1 - o0));
            rc = VF_ERR_FORMAT;
        }
        if (rc) {
            if (rc != VF_ERR_FORMAT || !err || !*err)
                vf_errf(err, errlen, "%s: tensor '%s': %s", file, t->string, vf_status_str(rc));
            break;
        }
    }
    cJSON_Delete(root);
    return rc;
}

int vf__hf_read_safetensors_mem(const uint8_t *data, size_t size, struct vf_tensor_list *l,
                                char *err, size_t errlen) {
    if (size < 8) {
        vf_errf(err, errlen, "not a safetensors file (shorter than 8 bytes)");
        return VF_ERR_FORMAT;
    }
    uint64_t n;
    memcpy(&n, data, 8);
    if (n > HF_MAX_HEADER || n > size - 8) {
        vf_errf(err, errlen, "safetensors header length %llu exceeds the file or the 100 MB limit",
                (unsigned long long)n);
        return VF_ERR_FORMAT;
    }
    return parse_st_header((const char *)data + 8, (size_t)n, size - 8 - n, "safetensors", l, err, errlen);
}

int vf__fuzz_safetensors(const uint8_t *data, size_t size) {
    struct vf_tensor_list l = {0};
    char err[256];
    vf__hf_read_safetensors_mem(data, size, &l, err, sizeof err);
    vf_tensor_list_free(&l);
    return 0;
}

static int read_st_file(const char *path, struct vf_tensor_list *l, uint64_t *file_bytes, char *err,
                        size_t errlen) {
    struct vf_reader r;
    if (vf_reader_open(&r, path)) {
        vf_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return VF_ERR_IO;
    }
    uint64_t n;
    int rc = vf_reader_u64(&r, &n);
    if (rc || n > HF_MAX_HEADER || n > vf_reader_left(&r)) {
        vf_errf(err, errlen, "%s: not a safetensors file or a truncated one", path);
        vf_reader_close(&r);
        return VF_ERR_FORMAT;
    }
    char *hdr = vf_malloc((size_t)n + 1);
    if (!hdr) {
        vf_reader_close(&r);
        return VF_ERR_NOMEM;
    }
    rc = vf_reader_read(&r, hdr, (size_t)n);
    if (!rc)
        rc = parse_st_header(hdr, (size_t)n, r.size - 8 - n, path, l, err, errlen);
    *file_bytes += r.size;
    vf_free(hdr);
    vf_reader_close(&r);
    return rc;
}

static uint32_t cfg_u32(const cJSON *o, const char *key, uint32_t dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 4e9)
        return (uint32_t)v->valuedouble;
    return dflt;
}

/* Map config.json's model_type to llama.cpp's architecture name. */
static const char *arch_of(const char *mt) {
    static const struct {
        const char *hf, *gguf;
    } m[] = {{"llama", "llama"}, {"mistral", "llama"}, {"qwen2", "qwen2"}, {"qwen3", "qwen3"},
             {"qwen3_moe", "qwen3moe"}, {"gemma3", "gemma3"}, {"gemma3_text", "gemma3"},
             {"phi3", "phi3"}, {"qwen2_moe", "qwen2moe"}, {"mixtral", "llama"}};
    for (size_t i = 0; i < VF_ARRAY_LEN(m); i++)
        if (!strcmp(m[i].hf, mt))
            return m[i].gguf;
    return NULL;
}

int vf_model_from_hf_dir(const char *dir, struct vf_model *m, char *err, size_t errlen) {
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *cfg_text = slurp(path, HF_MAX_CONFIG, NULL, err, errlen);
    if (!cfg_text)
        return VF_ERR_IO;
    cJSON *cfg = cJSON_Parse(cfg_text);
    vf_free(cfg_text);
    int rc = VF_OK;
    if (!cfg || !cJSON_IsObject(cfg)) {
        vf_errf(err, errlen, "%s is not valid JSON", path);
        cJSON_Delete(cfg);
        return VF_ERR_FORMAT;
    }
    vf_model_init(m);
    vf_strlcpy(m->id, dir, sizeof m->id);
    const char *slash = strrchr(dir, '/');
    vf_strlcpy(m->name, slash && slash[1] ? slash + 1 : dir, sizeof m->name);
    m->format = VF_FMT_HF;
    m->role = VF_ROLE_LLM;
    m->quant_ondisk = true;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(cfg, "text_config");
    const cJSON *hpj = cJSON_IsObject(tc) ? tc : cfg;
    const cJSON *tmt = cJSON_GetObjectItemCaseSensitive(hpj, "model_type");
    const char *arch = cJSON_IsString(tmt) ? arch_of(tmt->valuestring)
                     : cJSON_IsString(mt) ? arch_of(mt->valuestring) : NULL;
    if (!arch) {
        vf_errf(err, errlen, "%s: model_type '%s' is not a language model voxfit knows", path,
                cJSON_IsString(mt) ? mt->valuestring : "?");
        rc = VF_ERR_UNSUPPORTED;
        goto out;
    }
    struct vf_llm_hparams *hp = &m->llm;
    vf_strlcpy(hp->arch, arch, sizeof hp->arch);
    hp->n_layer = cfg_u32(hpj, "num_hidden_layers", 0);
    hp->n_embd = cfg_u32(hpj, "hidden_size", 0);
    hp->n_head = cfg_u32(hpj, "num_attention_heads", 0);
    hp->n_head_kv = cfg_u32(hpj, "num_key_value_heads", hp->n_head);
    hp->n_ff = cfg_u32(hpj, "intermediate_size", 0);
    hp->n_vocab = cfg_u32(hpj, "vocab_size", 0);
    hp->n_ctx_train = cfg_u32(hpj, "max_position_embeddings", 4096);
    hp->n_expert = cfg_u32(hpj, "num_experts", cfg_u32(hpj, "num_local_experts", 0));
    hp->n_expert_used = cfg_u32(hpj, "num_experts_per_tok", 0);
    hp->n_ff_exp = cfg_u32(hpj, "moe_intermediate_size", 0);
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(hpj, "sliding_window");
    if (cJSON_IsNumber(sw) && !strcmp(arch, "gemma3")) {
        hp->n_swa = cfg_u32(hpj, "sliding_window", 0);
        hp->swa_period = cfg_u32(hpj, "sliding_window_pattern", 6);
    }
    if (!hp->n_layer || hp->n_layer > VF_MAX_LAYERS || !hp->n_embd || !hp->n_head || !hp->n_vocab ||
        hp->n_embd > (1u << 20)) {
        vf_errf(err, errlen, "%s: missing or implausible num_hidden_layers/hidden_size/"
                "num_attention_heads/vocab_size", path);
        rc = VF_ERR_FORMAT;
        goto out;
    }
    hp->n_embd_head_k = hp->n_embd_head_v = cfg_u32(hpj, "head_dim", hp->n_embd / hp->n_head);
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(hpj, "tie_word_embeddings");
    if (!tie)
        tie = cJSON_GetObjectItemCaseSensitive(cfg, "tie_word_embeddings");
    hp->tied_embeddings = cJSON_IsTrue(tie) || (!tie && !strcmp(arch, "gemma3"));
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(cfg, "quantization_config");
    const cJSON *qm = cJSON_GetObjectItemCaseSensitive(q, "quant_method");
    const cJSON *td = cJSON_GetObjectItemCaseSensitive(hpj, "torch_dtype");
    if (!td)
        td = cJSON_GetObjectItemCaseSensitive(cfg, "torch_dtype");
    if (cJSON_IsString(qm)) {
        char up[24];
        vf_strlcpy(up, qm->valuestring, sizeof up);
        for (char *c = up; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        vf_strlcpy(m->quant, up, sizeof m->quant);
    } else {
        vf_strlcpy(m->quant, cJSON_IsString(td) && !strcmp(td->valuestring, "float16") ? "F16" : "BF16",
                   sizeof m->quant);
    }
    /* tensors: the shards listed by the index, else every *.safetensors */
    DIR *d = opendir(dir);
    if (!d) {
        vf_errf(err, errlen, "cannot list %s: %s", dir, strerror(errno));
        rc = VF_ERR_IO;
        goto out;
    }
    struct dirent *de;
    int shards = 0;
    while ((de = readdir(d)) && !rc) {
        if (!vf_str_ends(de->d_name, ".safetensors"))
            continue;
        if (++shards > HF_MAX_SHARDS) {
            vf_errf(err, errlen, "%s: more than %d safetensors files", dir, HF_MAX_SHARDS);
            rc = VF_ERR_TOOBIG;
            break;
        }
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        rc = read_st_file(path, &m->tensors, &m->file_bytes, err, errlen);
    }
    closedir(d);
    if (!rc && !shards) {
        vf_errf(err, errlen, "%s has a config.json but no .safetensors files", dir);
        rc = VF_ERR_NOTFOUND;
    }
    for (size_t i = 0; !rc && i < m->tensors.n; i++)
        m->n_params += (uint64_t)vf_tensor_nelements(&m->tensors.v[i]);
out:
    cJSON_Delete(cfg);
    if (rc)
        vf_model_free(m);
    return rc;
}
