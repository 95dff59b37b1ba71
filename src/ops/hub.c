/* hub.c - see hub.h. The hub's tree API is the one source of the sizes and
 * checksums `voxfit pull` verifies against, and its paths become file names
 * under the cache folder, so every field is checked here before anything
 * else sees it: a hostile or broken hub gets a format error, never a write
 * outside the cache. */
#include "hub.h"
#include "../core/reader.h"
#include "../core/str.h"
#include "../model/catalog.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <fnmatch.h>
#include <string.h>

/* ==== Paths and names ==== */

bool vf__hub_path_ok(const char *path) {
    size_t len = strlen(path);
    if (!len || len > VF_HUB_PATH_MAX || path[0] == '/')
        return false;
    const char *seg = path;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '/' || c == '\0') {
            size_t sl = (size_t)(path + i - seg);
            if (sl == 0 || (sl == 1 && seg[0] == '.') ||
                (sl == 2 && seg[0] == '.' && seg[1] == '.'))
                return false;
            seg = path + i + 1;
            continue;
        }
        if (c < 0x20 || c == 0x7f || c == '\\')
            return false;
    }
    return true;
}

static bool name_ok(const char *s, size_t n) {
    if (!n || n > 96 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

bool vf__hub_repo_ok(const char *repo) {
    const char *slash = strchr(repo, '/');
    if (!slash || strchr(slash + 1, '/'))
        return false;
    return name_ok(repo, (size_t)(slash - repo)) && name_ok(slash + 1, strlen(slash + 1));
}

static bool hex_ok(const char *s, size_t want) {
    if (strlen(s) != want)
        return false;
    for (size_t i = 0; i < want; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static void lower_copy(char *dst, const char *src, size_t n) {
    size_t i = 0;
    for (; src[i] && i + 1 < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

/* ==== The tree API ==== */

void vf__hub_tree_free(struct vf_hub_tree *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        vf_free(t->v[i].path);
    vf_free(t->v);
    memset(t, 0, sizeof *t);
}

/* A JSON number that is a whole byte count (doubles hold integers exactly
 * up to 2^53: far beyond any file). */
static bool size_of(const cJSON *n, uint64_t *out) {
    if (!cJSON_IsNumber(n))
        return false;
    double d = n->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != (double)(uint64_t)d)
        return false;
    *out = (uint64_t)d;
    return true;
}

int vf__hub_tree_parse(const char *json, size_t len, struct vf_hub_tree *t, char *err,
                       size_t errlen) {
    if (len > VF_HUB_TREE_MAX_BYTES) {
        vf_errf(err, errlen, "the hub's file list is larger than %u MiB",
                VF_HUB_TREE_MAX_BYTES >> 20);
        return VF_ERR_TOOBIG;
    }
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        vf_errf(err, errlen, "the hub's file list is not JSON");
        return VF_ERR_FORMAT;
    }
    int rc = VF_OK;
    if (!cJSON_IsArray(root)) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
        vf_errf(err, errlen, "the hub's file list is not a list%s%s", cJSON_IsString(e) ? ": " : "",
                cJSON_IsString(e) ? e->valuestring : "");
        rc = VF_ERR_FORMAT;
        goto out;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(it, "path");
        if (!cJSON_IsObject(it) || !cJSON_IsString(type) || !cJSON_IsString(path)) {
            vf_errf(err, errlen, "the hub's file list has an entry without type or path");
            rc = VF_ERR_FORMAT;
            goto out;
        }
        if (strcmp(type->valuestring, "file"))
            continue; /* "directory" (listed recursively anyway) */
        if (!vf__hub_path_ok(path->valuestring)) {
            vf_errf(err, errlen, "the hub lists an unsafe file name '%.80s'", path->valuestring);
            rc = VF_ERR_FORMAT;
            goto out;
        }
        struct vf_hub_file f;
        memset(&f, 0, sizeof f);
        if (!size_of(cJSON_GetObjectItemCaseSensitive(it, "size"), &f.size)) {
            vf_errf(err, errlen, "the hub gives no valid size for %.80s", path->valuestring);
            rc = VF_ERR_FORMAT;
            goto out;
        }
        const cJSON *oid = cJSON_GetObjectItemCaseSensitive(it, "oid");
        if (cJSON_IsString(oid)) {
            if (!hex_ok(oid->valuestring, 40)) {
                vf_errf(err, errlen, "the hub gives a malformed git id for %.80s",
                        path->valuestring);
                rc = VF_ERR_FORMAT;
                goto out;
            }
            lower_copy(f.git_oid, oid->valuestring, sizeof f.git_oid);
        }
        const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(it, "lfs");
        if (lfs && !cJSON_IsNull(lfs)) {
            const cJSON *loid = cJSON_GetObjectItemCaseSensitive(lfs, "oid");
            uint64_t lsize;
            if (!cJSON_IsObject(lfs) || !cJSON_IsString(loid) || !hex_ok(loid->valuestring, 64) ||
                !size_of(cJSON_GetObjectItemCaseSensitive(lfs, "size"), &lsize)) {
                vf_errf(err, errlen, "the hub gives malformed LFS metadata for %.80s",
                        path->valuestring);
                rc = VF_ERR_FORMAT;
                goto out;
            }
            lower_copy(f.sha256, loid->valuestring, sizeof f.sha256);
            f.size = lsize;
        }
        if (t->n >= VF_HUB_TREE_MAX_FILES) {
            vf_errf(err, errlen, "the repository lists more than %d files", VF_HUB_TREE_MAX_FILES);
            rc = VF_ERR_TOOBIG;
            goto out;
        }
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 64;
            struct vf_hub_file *v = vf_realloc(t->v, cap * sizeof *v);
            if (!v) {
                rc = VF_ERR_NOMEM;
                goto out;
            }
            t->v = v;
            t->cap = cap;
        }
        f.path = vf_strdup(path->valuestring);
        if (!f.path) {
            rc = VF_ERR_NOMEM;
            goto out;
        }
        t->v[t->n++] = f;
    }
out:
    cJSON_Delete(root);
    return rc;
}

/* ==== What a model needs ==== */

static void set_repo_quant(struct vf_hub_want *w, const char *id) {
    /* "Qwen/Qwen3-8B-GGUF:Q4_K_M" */
    vf_strlcpy(w->repo, id, sizeof w->repo);
    char *colon = strrchr(w->repo, ':');
    if (colon) {
        vf_strlcpy(w->quant, colon + 1, sizeof w->quant);
        *colon = '\0';
    }
}

int vf__hub_want_for(const char *model, const char *engine_hint, const char *include,
                     struct vf_hub_want *w, char *err, size_t errlen) {
    memset(w, 0, sizeof *w);
    w->role = -1;
    vf_strlcpy(w->model, model, sizeof w->model);
    char base[256];
    vf_strlcpy(base, model, sizeof base);
    char *colon = strrchr(base, ':');
    if (colon && !strchr(colon, '/'))
        *colon = '\0';
    if (include) {
        if (!vf__hub_repo_ok(base)) {
            vf_errf(err, errlen, "--include needs a repository owner/name, not '%s'", model);
            return VF_ERR_ARG;
        }
        vf_strlcpy(w->repo, base, sizeof w->repo);
        vf_strlcpy(w->pattern, include, sizeof w->pattern);
        w->kind = VF_HUB_PATTERN;
        return VF_OK;
    }
    struct vf_model m;
    char e1[512] = "";
    const bool stt_hint =
        engine_hint && (!strcmp(engine_hint, "whisper") || !strcmp(engine_hint, "faster-whisper"));
    if (!stt_hint &&
        vf_catalog_resolve(model, VF_ROLE_LLM, engine_hint, &m, e1, sizeof e1) == VF_OK) {
        w->role = VF_ROLE_LLM;
        if (m.format == VF_FMT_GGUF) {
            const struct vf_cat_llm *c = vf_catalog_find_llm(m.name);
            set_repo_quant(w, m.id);
            vf_model_free(&m);
            if (c && !c->gguf) {
                vf_errf(err, errlen,
                        "%s has no GGUF repository in the catalog; pull %s (safetensors) "
                        "or name a GGUF repository with --include '*.gguf'",
                        c->name, c->hf);
                return VF_ERR_NOTFOUND;
            }
            w->kind = VF_HUB_GGUF;
        } else {
            vf_strlcpy(w->repo, m.id, sizeof w->repo);
            vf_model_free(&m);
            w->kind = VF_HUB_SAFETENSORS;
        }
        return VF_OK;
    }
    char e2[512] = "";
    if (vf_catalog_resolve(model, VF_ROLE_STT, stt_hint ? engine_hint : NULL, &m, e2, sizeof e2) ==
        VF_OK) {
        w->role = VF_ROLE_STT;
        if (m.format == VF_FMT_CT2) {
            vf_strlcpy(w->repo, m.id, sizeof w->repo);
            w->kind = VF_HUB_CT2;
        } else if (vf_str_starts(m.name, "distil-")) {
            /* distil-whisper publishes its ggml files in its own repositories */
            if (!strcmp(m.name, "distil-large-v3"))
                vf_strlcpy(w->repo, "distil-whisper/distil-large-v3-ggml", sizeof w->repo);
            else
                snprintf(w->repo, sizeof w->repo, "distil-whisper/%s", m.name);
            w->kind = VF_HUB_GGML_ANY;
        } else {
            vf_strlcpy(w->repo, "ggerganov/whisper.cpp", sizeof w->repo);
            vf_strlcpy(w->file, m.id, sizeof w->file);
            w->kind = VF_HUB_FILE;
        }
        vf_model_free(&m);
        return VF_OK;
    }
    if (vf_catalog_resolve(model, VF_ROLE_TTS, NULL, &m, e2, sizeof e2) == VF_OK) {
        w->role = VF_ROLE_TTS;
        if (m.n_params) {
            vf_strlcpy(w->repo, m.id, sizeof w->repo);
            vf_strlcpy(w->file, "af_heart", sizeof w->file);
            w->kind = VF_HUB_KOKORO;
        } else {
            w->kind = VF_HUB_NONE;
        }
        vf_model_free(&m);
        return VF_OK;
    }
    if (vf__hub_repo_ok(base)) {
        /* a repository outside the catalog */
        vf_strlcpy(w->repo, base, sizeof w->repo);
        char low[256];
        lower_copy(low, base, sizeof low);
        if (colon) {
            vf_strlcpy(w->quant, colon + 1, sizeof w->quant);
            w->kind = VF_HUB_GGUF;
        } else if (vf_str_ends(low, "-gguf") || vf_str_ends(low, "_gguf")) {
            vf_errf(err, errlen,
                    "%s holds several GGUF files: name one quantization, e.g. %s:Q4_K_M, "
                    "or --include '*Q4_K_M*.gguf'",
                    base, base);
            return VF_ERR_ARG;
        } else {
            w->kind = VF_HUB_SAFETENSORS;
        }
        return VF_OK;
    }
    vf_errf(err, errlen, "%s", e1[0] ? e1 : e2);
    return VF_ERR_NOTFOUND;
}

/* ==== Choosing files ==== */

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static bool top_level(const char *p) { return !strchr(p, '/'); }

/* tok appears in s (both lower-cased) with no letter or digit either side. */
static bool has_token(const char *s, const char *tok) {
    size_t tl = strlen(tok);
    if (!tl)
        return false;
    for (const char *p = strstr(s, tok); p; p = strstr(p + 1, tok)) {
        bool left = p == s || !isalnum((unsigned char)p[-1]);
        bool right = !isalnum((unsigned char)p[tl]);
        if (left && right)
            return true;
    }
    return false;
}

/* Strip "-00001-of-00003" from a GGUF name into out; *of gets the count
 * (0 when not a shard), *idx the shard number. */
static void shard_base(const char *path, char *out, size_t n, unsigned *idx, unsigned *of) {
    vf_strlcpy(out, path, n);
    *idx = *of = 0;
    char *p = strstr(out, "-of-");
    while (p) {
        char *q = p;
        int digits = 0;
        while (q > out && isdigit((unsigned char)q[-1])) {
            q--;
            digits++;
        }
        char *r = p + 4;
        int d2 = 0;
        while (isdigit((unsigned char)r[d2]))
            d2++;
        if (digits >= 3 && d2 >= 3 && q > out && q[-1] == '-') {
            char a[16] = "", b[16] = "";
            memcpy(a, q, (size_t)VF_MIN(digits, 15));
            memcpy(b, r, (size_t)VF_MIN(d2, 15));
            int ia, ib;
            if (vf_parse_int(a, 1, 99999, &ia) == VF_OK &&
                vf_parse_int(b, 1, 99999, &ib) == VF_OK) {
                *idx = (unsigned)ia;
                *of = (unsigned)ib;
                memmove(q - 1, r + d2, strlen(r + d2) + 1);
            }
            return;
        }
        p = strstr(p + 1, "-of-");
    }
}

static size_t select_gguf(const struct vf_hub_want *w, const struct vf_hub_tree *t, bool *sel,
                          char *err, size_t errlen) {
    char q[32];
    lower_copy(q, w->quant, sizeof q);
    char best[VF_HUB_PATH_MAX + 1] = "";
    for (size_t i = 0; i < t->n; i++) {
        char low[VF_HUB_PATH_MAX + 1], b[VF_HUB_PATH_MAX + 1];
        lower_copy(low, t->v[i].path, sizeof low);
        if (!vf_str_ends(low, ".gguf") || strstr(low, "mmproj") || !has_token(low, q))
            continue;
        unsigned idx, of;
        shard_base(t->v[i].path, b, sizeof b, &idx, &of);
        if (!best[0] || strlen(b) < strlen(best) ||
            (strlen(b) == strlen(best) && strcmp(b, best) < 0))
            vf_strlcpy(best, b, sizeof best);
    }
    if (!best[0]) {
        vf_errf(err, errlen, "%s has no %s GGUF file (looked for *%s*.gguf)", w->repo, w->quant,
                w->quant);
        return 0;
    }
    size_t n = 0;
    unsigned want_of = 0, seen = 0;
    for (size_t i = 0; i < t->n; i++) {
        char low[VF_HUB_PATH_MAX + 1], b[VF_HUB_PATH_MAX + 1];
        lower_copy(low, t->v[i].path, sizeof low);
        if (!vf_str_ends(low, ".gguf") || strstr(low, "mmproj"))
            continue;
        unsigned idx, of;
        shard_base(t->v[i].path, b, sizeof b, &idx, &of);
        if (strcmp(b, best))
            continue;
        sel[i] = true;
        n++;
        if (of) {
            want_of = of;
            seen++;
        }
    }
    if (want_of && seen != want_of) {
        vf_errf(err, errlen, "%s lists %u of the %u shards of %s", w->repo, seen, want_of, best);
        for (size_t i = 0; i < t->n; i++)
            sel[i] = false;
        return 0;
    }
    return n;
}

static bool in_list(const char *name, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(name, *list))
            return true;
    return false;
}

static size_t select_named(const struct vf_hub_tree *t, bool *sel, const char *const *names) {
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (top_level(t->v[i].path) && in_list(t->v[i].path, names)) {
            sel[i] = true;
            n++;
        }
    return n;
}

static bool find_path(const struct vf_hub_tree *t, const char *path, size_t *at) {
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].path, path)) {
            *at = i;
            return true;
        }
    return false;
}

size_t vf__hub_select(const struct vf_hub_want *w, const struct vf_hub_tree *t, bool *sel,
                      char *err, size_t errlen) {
    for (size_t i = 0; i < t->n; i++)
        sel[i] = false;
    size_t at;
    switch (w->kind) {
    case VF_HUB_NONE: return 0;
    case VF_HUB_GGUF: return select_gguf(w, t, sel, err, errlen);
    case VF_HUB_FILE:
        if (find_path(t, w->file, &at)) {
            sel[at] = true;
            return 1;
        }
        vf_errf(err, errlen, "%s has no file %s", w->repo, w->file);
        return 0;
    case VF_HUB_GGML_ANY: {
        size_t best = t->n;
        for (size_t i = 0; i < t->n; i++) {
            const char *p = t->v[i].path;
            if (top_level(p) && vf_str_starts(p, "ggml") && vf_str_ends(p, ".bin") &&
                (best == t->n || strlen(p) < strlen(t->v[best].path)))
                best = i;
        }
        if (best == t->n) {
            vf_errf(err, errlen, "%s has no whisper.cpp ggml*.bin file", w->repo);
            return 0;
        }
        sel[best] = true;
        return 1;
    }
    case VF_HUB_CT2: {
        static const char *const names[] = {"model.bin",
                                            "config.json",
                                            "tokenizer.json",
                                            "vocabulary.txt",
                                            "vocabulary.json",
                                            "preprocessor_config.json",
                                            NULL};
        if (!find_path(t, "model.bin", &at)) {
            vf_errf(err, errlen, "%s is not a CTranslate2 model (no model.bin)", w->repo);
            return 0;
        }
        return select_named(t, sel, names);
    }
    case VF_HUB_SAFETENSORS: {
        static const char *const names[] = {"config.json",
                                            "generation_config.json",
                                            "model.safetensors.index.json",
                                            "tokenizer.json",
                                            "tokenizer_config.json",
                                            "tokenizer.model",
                                            "special_tokens_map.json",
                                            "vocab.json",
                                            "merges.txt",
                                            "added_tokens.json",
                                            "preprocessor_config.json",
                                            "chat_template.jinja",
                                            "chat_template.json",
                                            NULL};
        size_t n_st = 0, n_model = 0;
        for (size_t i = 0; i < t->n; i++) {
            const char *p = t->v[i].path;
            if (top_level(p) && vf_str_ends(p, ".safetensors")) {
                n_st++;
                if (!vf_str_starts(p, "consolidated"))
                    n_model++;
            }
        }
        if (!n_st || !find_path(t, "config.json", &at)) {
            vf_errf(err, errlen, "%s has no safetensors checkpoint (*.safetensors + config.json)",
                    w->repo);
            return 0;
        }
        size_t n = select_named(t, sel, names);
        for (size_t i = 0; i < t->n; i++) {
            const char *p = t->v[i].path;
            /* Mistral-style repositories hold the same weights twice */
            if (top_level(p) && vf_str_ends(p, ".safetensors") &&
                (!n_model || !vf_str_starts(p, "consolidated"))) {
                sel[i] = true;
                n++;
            }
        }
        return n;
    }
    case VF_HUB_KOKORO: {
        size_t n = 0;
        size_t pth = t->n;
        for (size_t i = 0; i < t->n; i++) {
            const char *p = t->v[i].path;
            if (top_level(p) && vf_str_ends(p, ".pth") &&
                (pth == t->n || !strcmp(p, "kokoro-v1_0.pth")))
                pth = i;
        }
        char voice[200];
        snprintf(voice, sizeof voice, "voices/%s.pt", w->file[0] ? w->file : "af_heart");
        if (pth == t->n || !find_path(t, "config.json", &at)) {
            vf_errf(err, errlen, "%s has no Kokoro weights (*.pth + config.json)", w->repo);
            return 0;
        }
        sel[pth] = sel[at] = true;
        n = 2;
        if (find_path(t, voice, &at)) {
            sel[at] = true;
            n++;
        }
        return n;
    }
    case VF_HUB_PATTERN: {
        size_t n = 0;
        for (size_t i = 0; i < t->n; i++) {
            const char *p = t->v[i].path;
            if (fnmatch(w->pattern, p, 0) == 0 || fnmatch(w->pattern, base_name(p), 0) == 0) {
                sel[i] = true;
                n++;
            }
        }
        if (!n)
            vf_errf(err, errlen, "no file of %s matches '%s'", w->repo, w->pattern);
        return n;
    }
    }
    return 0;
}

void vf__hub_expected(const struct vf_hub_want *w, char *buf, size_t n) {
    switch (w->kind) {
    case VF_HUB_NONE: snprintf(buf, n, "nothing (a system package)"); break;
    case VF_HUB_GGUF: snprintf(buf, n, "a file named like *%s*.gguf", w->quant); break;
    case VF_HUB_FILE: snprintf(buf, n, "%s", w->file); break;
    case VF_HUB_GGML_ANY: snprintf(buf, n, "a whisper.cpp file named ggml-*.bin"); break;
    case VF_HUB_CT2:
        snprintf(buf, n, "a folder with model.bin, config.json, tokenizer.json, vocabulary.*");
        break;
    case VF_HUB_SAFETENSORS:
        snprintf(buf, n, "a folder with config.json, *.safetensors and the tokenizer files");
        break;
    case VF_HUB_KOKORO:
        snprintf(buf, n, "kokoro-v1_0.pth, config.json and voices/%s.pt", w->file);
        break;
    case VF_HUB_PATTERN: snprintf(buf, n, "files matching %s", w->pattern); break;
    }
}

int vf__fuzz_hf_tree(const uint8_t *data, size_t size) {
    struct vf_hub_tree t = {0};
    char err[256];
    vf__hub_tree_parse((const char *)data, size, &t, err, sizeof err);
    bool *sel = t.n ? vf_calloc(t.n, sizeof *sel) : NULL;
    if (sel || !t.n) {
        static const enum vf_hub_kind kinds[] = {VF_HUB_GGUF,   VF_HUB_FILE,        VF_HUB_GGML_ANY,
                                                 VF_HUB_CT2,    VF_HUB_SAFETENSORS, VF_HUB_KOKORO,
                                                 VF_HUB_PATTERN};
        for (size_t k = 0; k < VF_ARRAY_LEN(kinds); k++) {
            struct vf_hub_want w;
            memset(&w, 0, sizeof w);
            vf_strlcpy(w.repo, "o/r", sizeof w.repo);
            w.kind = kinds[k];
            vf_strlcpy(w.quant, "Q4_K_M", sizeof w.quant);
            vf_strlcpy(w.file, "ggml-base.bin", sizeof w.file);
            vf_strlcpy(w.pattern, "*.gguf", sizeof w.pattern);
            bool dummy = false;
            vf__hub_select(&w, &t, sel ? sel : &dummy, err, sizeof err);
        }
    }
    vf_free(sel);
    vf__hub_tree_free(&t);
    return 0;
}
