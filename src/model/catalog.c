/* catalog.c - lookup and resolution of catalog ids; the rows themselves are
 * in catalog_data.c and the tensor lists come from synth.c. */
#include "catalog.h"
#include "synth.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <stdio.h>
#include <string.h>

extern const struct vf_cat_llm vf__cat_llm[];
extern const size_t vf__cat_llm_n;
extern const struct vf_cat_whisper vf__cat_whisper[];
extern const size_t vf__cat_whisper_n;
extern const struct vf_cat_tts vf__cat_tts[];
extern const size_t vf__cat_tts_n;

size_t vf_catalog_llm_count(void) { return vf__cat_llm_n; }
const struct vf_cat_llm *vf_catalog_llm(size_t i) { return i < vf__cat_llm_n ? &vf__cat_llm[i] : NULL; }
size_t vf_catalog_whisper_count(void) { return vf__cat_whisper_n; }
const struct vf_cat_whisper *vf_catalog_whisper(size_t i) {
    return i < vf__cat_whisper_n ? &vf__cat_whisper[i] : NULL;
}
size_t vf_catalog_tts_count(void) { return vf__cat_tts_n; }
const struct vf_cat_tts *vf_catalog_tts(size_t i) { return i < vf__cat_tts_n ? &vf__cat_tts[i] : NULL; }

/* "Qwen/Qwen3-8B-GGUF" -> "qwen38bgguf"; NULL -> "" */
static void key_of(const char *s, char *out, size_t n) {
    if (!s) {
        out[0] = '\0';
        return;
    }
    const char *slash = strrchr(s, '/');
    vf_str_squash(slash ? slash + 1 : s, out, n);
}

static bool strip_suffix(char *k, const char *suffix) {
    size_t lk = strlen(k), ls = strlen(suffix);
    if (lk > ls && strcmp(k + lk - ls, suffix) == 0) {
        k[lk - ls] = '\0';
        return true;
    }
    return false;
}

const struct vf_cat_llm *vf_catalog_find_llm(const char *name) {
    char q[128], k[128];
    key_of(name, q, sizeof q);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < vf__cat_llm_n; i++) {
            const struct vf_cat_llm *c = &vf__cat_llm[i];
            const char *names[] = {c->name, c->hf, c->gguf, c->fp8, c->awq};
            for (size_t j = 0; j < VF_ARRAY_LEN(names); j++) {
                key_of(names[j], k, sizeof k);
                if (!k[0])
                    continue;
                if (pass == 1) { /* "Qwen2.5-7B" for "Qwen2.5-7B-Instruct", "Meta-" prefix */
                    if (!strip_suffix(k, "instruct"))
                        strip_suffix(k, "it");
                    if (vf_str_starts(k, "meta"))
                        memmove(k, k + 4, strlen(k + 4) + 1);
                }
                if (strcmp(k, q) == 0)
                    return c;
            }
        }
        /* second pass: the same lenient forms of the query */
        if (!strip_suffix(q, "instruct"))
            strip_suffix(q, "it");
        if (vf_str_starts(q, "meta"))
            memmove(q, q + 4, strlen(q + 4) + 1);
    }
    return NULL;
}

const struct vf_cat_whisper *vf_catalog_find_whisper(const char *name) {
    char q[128], k[128];
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    char tmp[128];
    vf_strlcpy(tmp, base, sizeof tmp);
    /* "ggml-base.en.bin", "ggml-large-v3-q5_0.bin" */
    if (vf_str_ends(tmp, ".bin"))
        tmp[strlen(tmp) - 4] = '\0';
    char *colon = strchr(tmp, ':');
    if (colon)
        *colon = '\0';
    static const char *quant_suffixes[] = {"-q5_0", "-q5_1", "-q8_0", "-q4_0", "-q4_1", "-f16", "-f32"};
    for (size_t i = 0; i < VF_ARRAY_LEN(quant_suffixes); i++) {
        size_t lt = strlen(tmp), ls = strlen(quant_suffixes[i]);
        if (lt > ls && vf_strcasecmp(tmp + lt - ls, quant_suffixes[i]) == 0)
            tmp[lt - ls] = '\0';
    }
    vf_str_squash(tmp, q, sizeof q);
    static const char *prefixes[] = {"ggml", "fasterwhisper", "fasterdistilwhisper", "whisper"};
    for (size_t i = 0; i < VF_ARRAY_LEN(prefixes); i++) {
        if (vf_str_starts(q, prefixes[i]) && strlen(q) > strlen(prefixes[i])) {
            const char *rest = q + strlen(prefixes[i]);
            char r[128];
            snprintf(r, sizeof r, "%s%s", i == 2 ? "distil" : "", rest);
            vf_strlcpy(q, r, sizeof q);
            break;
        }
    }
    strip_suffix(q, "ct2");
    if (strcmp(q, "turbo") == 0 || strcmp(q, "largev3turbo") == 0)
        vf_strlcpy(q, "largev3turbo", sizeof q);
    for (size_t i = 0; i < vf__cat_whisper_n; i++) {
        vf_str_squash(vf__cat_whisper[i].name, k, sizeof k);
        if (strcmp(k, q) == 0)
            return &vf__cat_whisper[i];
    }
    return NULL;
}

static const struct vf_cat_tts *find_tts(const char *name) {
    char q[128], k[128];
    key_of(name, q, sizeof q);
    if (!strcmp(q, "kokoro") || !strcmp(q, "kokorofastapi") || !strcmp(q, "kokoro82mv10"))
        vf_strlcpy(q, "kokoro82m", sizeof q);
    if (!strcmp(q, "espeakng"))
        vf_strlcpy(q, "espeak", sizeof q);
    for (size_t i = 0; i < vf__cat_tts_n; i++) {
        key_of(vf__cat_tts[i].name, k, sizeof k);
        if (!strcmp(k, q))
            return &vf__cat_tts[i];
        key_of(vf__cat_tts[i].repo, k, sizeof k);
        if (!strcmp(k, q))
            return &vf__cat_tts[i];
    }
    return NULL;
}

int vf_catalog_llm_model(const struct vf_cat_llm *c, enum vf_model_format fmt, const char *quant,
                         struct vf_model *m, char *err, size_t errlen) {
    vf_model_init(m);
    m->role = VF_ROLE_LLM;
    m->format = fmt;
    m->from_catalog = true;
    vf_synth_llm_hparams(c, &m->llm);
    int rc;
    if (fmt == VF_FMT_GGUF) {
        rc = vf_synth_llm_gguf(c, quant, &m->tensors);
        snprintf(m->id, sizeof m->id, "%s:%s", c->gguf ? c->gguf : c->hf, quant);
    } else {
        rc = vf_synth_llm_hf(c, quant, &m->tensors);
        const char *repo = !vf_strcasecmp(quant, "FP8") ? c->fp8 : !vf_strcasecmp(quant, "AWQ") ? c->awq : c->hf;
        if (!repo) {
            vf_errf(err, errlen, "%s has no %s checkpoint in the catalog", c->name, quant);
            return VF_ERR_NOTFOUND;
        }
        vf_strlcpy(m->id, repo, sizeof m->id);
        m->quant_ondisk = true;
    }
    if (rc) {
        vf_errf(err, errlen, "%s: unknown quantization '%s' for %s", c->name, quant,
                fmt == VF_FMT_GGUF ? "GGUF" : "safetensors");
        return rc == VF_ERR_ARG ? VF_ERR_NOTFOUND : rc;
    }
    vf_strlcpy(m->name, c->name, sizeof m->name);
    vf_strlcpy(m->quant, quant, sizeof m->quant);
    for (size_t i = 0; i < m->tensors.n; i++)
        m->n_params += (uint64_t)vf_tensor_nelements(&m->tensors.v[i]);
    m->file_bytes = vf_model_weight_bytes(m);
    return VF_OK;
}

int vf_catalog_whisper_model(const struct vf_cat_whisper *c, enum vf_model_format fmt,
                             const char *quant, struct vf_model *m, char *err, size_t errlen) {
    vf_model_init(m);
    m->role = VF_ROLE_STT;
    m->format = fmt;
    m->from_catalog = true;
    struct vf_whisper_hparams *hp = &m->whisper;
    hp->n_vocab = c->n_vocab;
    hp->n_audio_ctx = 1500;
    hp->n_audio_state = hp->n_text_state = c->n_state;
    hp->n_audio_head = hp->n_text_head = c->n_head;
    hp->n_audio_layer = c->n_enc_layer;
    hp->n_text_layer = c->n_dec_layer;
    hp->n_text_ctx = 448;
    hp->n_mels = c->n_mels;
    int rc = fmt == VF_FMT_CT2 ? vf_synth_whisper_ct2(hp, quant, &m->tensors)
                               : vf_synth_whisper_ggml(hp, quant, &m->tensors);
    if (rc) {
        vf_errf(err, errlen, "whisper %s: unknown %s type '%s'", c->name,
                fmt == VF_FMT_CT2 ? "compute" : "weight", quant);
        return rc == VF_ERR_ARG ? VF_ERR_NOTFOUND : rc;
    }
    if (fmt == VF_FMT_CT2)
        vf_strlcpy(m->id, c->ct2, sizeof m->id);
    else
        snprintf(m->id, sizeof m->id, "ggml-%s%s%s.bin", c->name, strcmp(quant, "f16") ? "-" : "",
                 strcmp(quant, "f16") ? quant : "");
    vf_strlcpy(m->name, c->name, sizeof m->name);
    vf_strlcpy(m->quant, quant, sizeof m->quant);
    m->n_params = c->n_params * 1000000ull;
    m->file_bytes = vf_model_weight_bytes(m);
    return VF_OK;
}

int vf_catalog_tts_model(const struct vf_cat_tts *c, struct vf_model *m) {
    vf_model_init(m);
    m->role = VF_ROLE_TTS;
    m->format = VF_FMT_TTS;
    m->from_catalog = true;
    vf_strlcpy(m->id, c->repo, sizeof m->id);
    vf_strlcpy(m->name, c->name, sizeof m->name);
    vf_strlcpy(m->quant, c->n_params ? "F32" : "-", sizeof m->quant);
    m->n_params = c->n_params;
    m->tts_sample_rate = c->sample_rate;
    if (c->n_params) {
        int64_t ne[1] = {(int64_t)c->n_params};
        int rc = vf_tensor_list_add(&m->tensors, "weights", VF_DT_F32, 1, ne, 0);
        if (rc)
            return rc;
    }
    m->file_bytes = vf_model_weight_bytes(m);
    return VF_OK;
}

static void suggest(const char *id, enum vf_role role, char *err, size_t errlen) {
    char q[128], k[128], list[512] = "";
    key_of(id, q, sizeof q);
    if (strlen(q) > 5) /* the family: "qwen3", "llama", "gemma" */
        q[5] = '\0';
    size_t n = 0;
    if (role == VF_ROLE_LLM) {
        for (size_t i = 0; i < vf__cat_llm_n && n < 6; i++) {
            key_of(vf__cat_llm[i].name, k, sizeof k);
            if (q[0] && strstr(k, q)) {
                strncat(list, n ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, vf__cat_llm[i].hf, sizeof list - strlen(list) - 1);
                n++;
            }
        }
    } else if (role == VF_ROLE_STT) {
        for (size_t i = 0; i < vf__cat_whisper_n && n < 8; i++) {
            strncat(list, n ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, vf__cat_whisper[i].name, sizeof list - strlen(list) - 1);
            n++;
        }
    } else {
        strncat(list, "kokoro-82m, espeak", sizeof list - strlen(list) - 1);
    }
    vf_errf(err, errlen, "unknown %s model '%s' (not a catalog id nor an existing file)%s%s%s",
            vf_role_name(role), id, list[0] ? "; did you mean: " : "", list,
            "; 'voxfit plan --list-models' shows the catalog");
}

int vf_catalog_resolve(const char *id, enum vf_role role, const char *engine_hint,
                       struct vf_model *out, char *err, size_t errlen) {
    char base[256], quant[32] = "";
    vf_strlcpy(base, id, sizeof base);
    char *colon = strrchr(base, ':');
    if (colon && !strchr(colon, '/')) {
        vf_strlcpy(quant, colon + 1, sizeof quant);
        *colon = '\0';
    }
    if (role == VF_ROLE_LLM) {
        const struct vf_cat_llm *c = vf_catalog_find_llm(base);
        if (!c) {
            suggest(id, role, err, errlen);
            return VF_ERR_NOTFOUND;
        }
        char k[128], q[128];
        key_of(base, q, sizeof q);
        bool gguf = quant[0] || (engine_hint && !strcmp(engine_hint, "llama.cpp")) ||
                    vf_str_ends(q, "gguf");
        if (!quant[0]) {
            key_of(c->fp8, k, sizeof k);
            if (k[0] && !strcmp(k, q))
                return vf_catalog_llm_model(c, VF_FMT_HF, "FP8", out, err, errlen);
            key_of(c->awq, k, sizeof k);
            if (k[0] && !strcmp(k, q))
                return vf_catalog_llm_model(c, VF_FMT_HF, "AWQ", out, err, errlen);
            if (vf_str_ends(q, "fp8") || vf_str_ends(q, "awq")) {
                vf_errf(err, errlen, "%s: no such checkpoint in the catalog", id);
                return VF_ERR_NOTFOUND;
            }
        }
        if (gguf) {
            char up[32];
            size_t i = 0;
            for (; quant[i] && i < sizeof up - 1; i++)
                up[i] = (char)(quant[i] >= 'a' && quant[i] <= 'z' ? quant[i] - 32 : quant[i]);
            up[i] = '\0';
            return vf_catalog_llm_model(c, VF_FMT_GGUF, up[0] ? up : "Q4_K_M", out, err, errlen);
        }
        return vf_catalog_llm_model(c, VF_FMT_HF, "BF16", out, err, errlen);
    }
    if (role == VF_ROLE_STT) {
        const struct vf_cat_whisper *c = vf_catalog_find_whisper(id);
        if (!c) {
            suggest(id, role, err, errlen);
            return VF_ERR_NOTFOUND;
        }
        bool ct2 = engine_hint && !strcmp(engine_hint, "faster-whisper");
        char lower[32];
        vf_strlcpy(lower, quant, sizeof lower);
        for (char *p = lower; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        const char *q = lower[0] ? lower : NULL;
        /* "ggml-large-v3-q5_0.bin": the quantization is in the file name */
        static const char *wq[] = {"q5_0", "q5_1", "q8_0", "q4_0", "q4_1", "f32"};
        for (size_t i = 0; !q && !ct2 && i < VF_ARRAY_LEN(wq); i++)
            if (strstr(id, wq[i]))
                q = wq[i];
        return vf_catalog_whisper_model(c, ct2 ? VF_FMT_CT2 : VF_FMT_WHISPER_GGML,
                                        q ? q : ct2 ? "float16" : "f16", out, err, errlen);
    }
    const struct vf_cat_tts *t = find_tts(id);
    if (!t) {
        suggest(id, role, err, errlen);
        return VF_ERR_NOTFOUND;
    }
    return vf_catalog_tts_model(t, out);
}
