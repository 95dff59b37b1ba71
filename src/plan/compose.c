/* compose.c - see compose.h. The YAML is loaded with libyaml's document
 * API (aliases resolve to shared nodes, so alias bombs cost nothing);
 * libyaml leaves "<<" merge keys to the application, so map lookups here
 * follow them (depth-bounded). Each GPU service is then sized with the same
 * per-engine memory models as `voxfit plan`, and the start order given by
 * depends_on is checked against vLLM's free-memory check. */
#include "compose.h"
#include "engine_args.h"
#include "report.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

/* ==== YAML access ========================================================= */

static yaml_node_t *node(yaml_document_t *d, int id) { return yaml_document_get_node(d, id); }

static const char *scalar(yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Value of key in mapping m, following "<<" merge keys (a mapping or a
 * sequence of mappings), nearest first. */
static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key, int depth) {
    if (!m || m->type != YAML_MAPPING_NODE || depth > 8)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *k = scalar(node(d, p->key));
        if (k && !strcmp(k, key))
            return node(d, p->value);
    }
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *k = scalar(node(d, p->key));
        if (!k || strcmp(k, "<<"))
            continue;
        yaml_node_t *v = node(d, p->value);
        if (v && v->type == YAML_MAPPING_NODE) {
            yaml_node_t *r = map_get(d, v, key, depth + 1);
            if (r)
                return r;
        } else if (v && v->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                yaml_node_t *r = map_get(d, node(d, *it), key, depth + 1);
                if (r)
                    return r;
            }
        }
    }
    return NULL;
}

/* Append s to the command line; list items with spaces are quoted so the
 * line splits back into the same words. */
static void append(char *dst, size_t n, const char *s, bool quote_spaces) {
    size_t l = strlen(dst);
    if (l && l + 1 < n)
        dst[l++] = ' ', dst[l] = '\0';
    bool quote = quote_spaces && strchr(s, ' ') != NULL;
    snprintf(dst + l, n - l, quote ? "'%s'" : "%s", s);
}

/* command: a string or a list of words */
static void words(yaml_document_t *d, yaml_node_t *v, char *out, size_t n) {
    if (!v)
        return;
    if (v->type == YAML_SCALAR_NODE) {
        append(out, n, scalar(v), false);
        return;
    }
    if (v->type == YAML_SEQUENCE_NODE)
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            const char *s = scalar(node(d, *it));
            if (s)
                append(out, n, s, true);
        }
}

/* environment: KEY: value mapping or "KEY=value" list */
static bool env_get(yaml_document_t *d, yaml_node_t *env, const char *key, char *out, size_t n) {
    if (!env)
        return false;
    if (env->type == YAML_MAPPING_NODE) {
        const char *v = scalar(map_get(d, env, key, 0));
        if (v) {
            vf_strlcpy(out, v, n);
            return true;
        }
        return false;
    }
    if (env->type != YAML_SEQUENCE_NODE)
        return false;
    size_t kl = strlen(key);
    for (yaml_node_item_t *it = env->data.sequence.items.start; it < env->data.sequence.items.top; it++) {
        const char *s = scalar(node(d, *it));
        if (s && !strncmp(s, key, kl) && s[kl] == '=') {
            vf_strlcpy(out, s + kl + 1, n);
            return true;
        }
    }
    return false;
}

static bool has_gpu_reservation(yaml_document_t *d, yaml_node_t *svc) {
    const char *rt = scalar(map_get(d, svc, "runtime", 0));
    if (rt && !strcmp(rt, "nvidia"))
        return true;
    const char *g = scalar(map_get(d, svc, "gpus", 0));
    if (g)
        return true;
    yaml_node_t *dev = map_get(d, map_get(d, map_get(d, map_get(d, svc, "deploy", 0), "resources", 0),
                                          "reservations", 0), "devices", 0);
    if (!dev || dev->type != YAML_SEQUENCE_NODE)
        return false;
    for (yaml_node_item_t *it = dev->data.sequence.items.start; it < dev->data.sequence.items.top; it++) {
        yaml_node_t *e = node(d, *it);
        const char *drv = scalar(map_get(d, e, "driver", 0));
        if (drv && !strcmp(drv, "nvidia"))
            return true;
        yaml_node_t *caps = map_get(d, e, "capabilities", 0);
        if (caps && caps->type == YAML_SEQUENCE_NODE)
            for (yaml_node_item_t *c = caps->data.sequence.items.start; c < caps->data.sequence.items.top; c++) {
                const char *s = scalar(node(d, *c));
                if (s && !strcmp(s, "gpu"))
                    return true;
            }
    }
    return false;
}

static enum vf_engine detect_engine(const struct vf_compose_service *s) {
    char img[256];
    vf_strlcpy(img, s->image, sizeof img);
    for (char *p = img; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    if (strstr(img, "vllm") || strstr(s->command, "vllm serve") || strstr(s->command, "vllm.entrypoints"))
        return VF_ENGINE_VLLM;
    if (strstr(img, "llama.cpp") || strstr(img, "llama-cpp") || strstr(s->command, "llama-server"))
        return VF_ENGINE_LLAMACPP;
    if (strstr(img, "kokoro"))
        return VF_ENGINE_KOKORO;
    if (strstr(img, "whisper.cpp"))
        return VF_ENGINE_WHISPER;
    if (strstr(img, "whisper") || strstr(img, "speaches") || s->whisper_model[0])
        return VF_ENGINE_FASTER_WHISPER;
    return VF_ENGINE_COUNT;
}

int vf_compose_parse(const char *text, size_t len, struct vf_compose *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (len > VF_COMPOSE_MAX_BYTES) {
        vf_errf(err, errlen, "compose file larger than %u bytes", VF_COMPOSE_MAX_BYTES);
        return VF_ERR_TOOBIG;
    }
    /* libyaml's time grows with the square of flow-collection depth: refuse
     * absurd nesting (real compose files nest a few levels) before parsing */
    int depth = 0;
    char quote = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (quote) {
            if (ch == quote || ch == '\n')
                quote = 0;
        } else if (ch == '"' || ch == '\'') {
            quote = ch;
        } else if (ch == '[' || ch == '{') {
            if (++depth > 64) {
                vf_errf(err, errlen, "YAML nesting deeper than 64 levels near byte %zu", i);
                return VF_ERR_FORMAT;
            }
        } else if ((ch == ']' || ch == '}') && depth > 0) {
            depth--;
        }
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return VF_ERR_NOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        vf_errf(err, errlen, "YAML error at line %zu, column %zu: %s", parser.problem_mark.line + 1,
                parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        return VF_ERR_FORMAT;
    }
    int rc = VF_OK;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *services = map_get(&doc, root, "services", 0);
    if (!services || services->type != YAML_MAPPING_NODE) {
        vf_errf(err, errlen, "no 'services:' mapping: not a docker-compose file");
        rc = VF_ERR_FORMAT;
        goto out;
    }
    for (yaml_node_pair_t *p = services->data.mapping.pairs.start; p < services->data.mapping.pairs.top; p++) {
        const char *name = scalar(node(&doc, p->key));
        yaml_node_t *svc = node(&doc, p->value);
        if (!name || !svc || svc->type != YAML_MAPPING_NODE || !strcmp(name, "<<"))
            continue;
        if (out->n >= VF_COMPOSE_MAX_SERVICES) {
            vf_errf(err, errlen, "more than %d services", VF_COMPOSE_MAX_SERVICES);
            rc = VF_ERR_TOOBIG;
            goto out;
        }
        struct vf_compose_service *s = &out->svc[out->n++];
        vf_strlcpy(s->name, name, sizeof s->name);
        const char *img = scalar(map_get(&doc, svc, "image", 0));
        vf_strlcpy(s->image, img ? img : "", sizeof s->image);
        words(&doc, map_get(&doc, svc, "entrypoint", 0), s->command, sizeof s->command);
        words(&doc, map_get(&doc, svc, "command", 0), s->command, sizeof s->command);
        yaml_node_t *env = map_get(&doc, svc, "environment", 0);
        if (!env_get(&doc, env, "WHISPER_MODEL", s->whisper_model, sizeof s->whisper_model) &&
            !env_get(&doc, env, "WHISPER__MODEL", s->whisper_model, sizeof s->whisper_model))
            env_get(&doc, env, "ASR_MODEL", s->whisper_model, sizeof s->whisper_model);
        if (!env_get(&doc, env, "WHISPER_COMPUTE_TYPE", s->compute_type, sizeof s->compute_type) &&
            !env_get(&doc, env, "WHISPER__COMPUTE_TYPE", s->compute_type, sizeof s->compute_type))
            env_get(&doc, env, "ASR_QUANTIZATION", s->compute_type, sizeof s->compute_type);
        if (!env_get(&doc, env, "CUDA_VISIBLE_DEVICES", s->cuda_visible, sizeof s->cuda_visible))
            env_get(&doc, env, "NVIDIA_VISIBLE_DEVICES", s->cuda_visible, sizeof s->cuda_visible);
        s->gpu = has_gpu_reservation(&doc, svc);
        yaml_node_t *dep = map_get(&doc, svc, "depends_on", 0);
        if (dep && dep->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = dep->data.sequence.items.start;
                 it < dep->data.sequence.items.top && s->n_depends < 8; it++) {
                const char *dn = scalar(node(&doc, *it));
                if (dn)
                    vf_strlcpy(s->depends[s->n_depends++], dn, sizeof s->depends[0]);
            }
        } else if (dep && dep->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *q = dep->data.mapping.pairs.start;
                 q < dep->data.mapping.pairs.top && s->n_depends < 8; q++) {
                const char *dn = scalar(node(&doc, q->key));
                if (!dn)
                    continue;
                const char *cond = scalar(map_get(&doc, node(&doc, q->value), "condition", 0));
                s->depends_healthy[s->n_depends] = cond && !strcmp(cond, "service_healthy");
                vf_strlcpy(s->depends[s->n_depends++], dn, sizeof s->depends[0]);
            }
        }
        s->engine = detect_engine(s);
    }
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int vf__fuzz_compose(const uint8_t *data, size_t size) {
    static struct vf_compose c;
    char err[256];
    vf_compose_parse((const char *)data, size, &c, err, sizeof err);
    return 0;
}

/* ==== the audit =========================================================== */

struct audited {
    struct vf_compose_service *s;
    struct vf_plan plan;          /* this service alone on the device */
    struct vf_component *c;       /* its component in plan */
    bool sized;
    bool other_gpu;               /* pinned to another GPU by CUDA_VISIBLE_DEVICES */
};

/* True when a waits for b to be healthy, directly or through others. */
static bool waits_for(const struct vf_compose *cf, const struct vf_compose_service *a, const char *b, int depth) {
    if (depth > VF_COMPOSE_MAX_SERVICES)
        return false;
    for (int i = 0; i < a->n_depends; i++) {
        if (!strcmp(a->depends[i], b) && a->depends_healthy[i])
            return true;
        for (int k = 0; k < cf->n; k++)
            if (!strcmp(cf->svc[k].name, a->depends[i]) && waits_for(cf, &cf->svc[k], b, depth + 1))
                return true;
    }
    return false;
}

static void problem(cJSON *arr, struct vf_strlist *txt, const char *svc, const char *what, const char *fix) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "service", svc);
    cJSON_AddStringToObject(o, "problem", what);
    cJSON_AddStringToObject(o, "fix", fix);
    cJSON_AddItemToArray(arr, o);
    vf_strlist_addf(txt, "[%s] %s\n    fix: %s", svc, what, fix);
}

int vf_compose_check_cmd(const char *path, const struct vf_plan_req *req, bool json, bool explain) {
    char err[512] = "";
    struct vf_reader r;
    if (vf_reader_open(&r, path)) {
        fprintf(stderr, "voxfit plan --check: cannot open %s: %s\n", path, strerror(errno));
        return 2;
    }
    if (r.size > VF_COMPOSE_MAX_BYTES) {
        vf_reader_close(&r);
        fprintf(stderr, "voxfit plan --check: %s is larger than %u bytes\n", path, VF_COMPOSE_MAX_BYTES);
        return 2;
    }
    char *text = vf_malloc(r.size + 1);
    if (!text || vf_reader_read(&r, text, r.size)) {
        vf_reader_close(&r);
        vf_free(text);
        fprintf(stderr, "voxfit plan --check: cannot read %s\n", path);
        return 2;
    }
    text[r.size] = '\0';
    size_t len = r.size;
    vf_reader_close(&r);
    struct vf_compose *cf = vf_calloc(1, sizeof *cf);
    if (!cf) {
        vf_free(text);
        return 2;
    }
    int prc = vf_compose_parse(text, len, cf, err, sizeof err);
    vf_free(text);
    if (prc) {
        fprintf(stderr, "voxfit plan --check: %s: %s\n", path, err);
        vf_free(cf);
        return 2;
    }
    const struct vf_device *dev = &req->device;
    struct audited *A = vf_calloc((size_t)cf->n + 1, sizeof *A);
    cJSON *problems = cJSON_CreateArray();
    struct vf_strlist ptxt = {0}, notes = {0};
    char b1[32], b2[32], b3[32], fix[512], what[768];
    int n_gpu = 0;
    uint64_t sum = 0;
    for (int i = 0; i < cf->n; i++) {
        struct audited *a = &A[i];
        a->s = &cf->svc[i];
        const struct vf_compose_service *s = a->s;
        if (s->engine == VF_ENGINE_COUNT)
            continue;
        if (s->cuda_visible[0] && strcmp(s->cuda_visible, "0") && strcmp(s->cuda_visible, "all") &&
            dev->index <= 0) {
            a->other_gpu = true;
            vf_strlist_addf(&notes, "%s runs on GPU %s (CUDA_VISIBLE_DEVICES), not on the planned "
                            "device: left out of the sum", s->name, s->cuda_visible);
            continue;
        }
        struct vf_plan_req q = *req;
        q.llm = q.stt = q.tts = "none";
        q.llm_args = q.stt_args = NULL;
        q.margin_bytes = 0;
        char model[300] = "";
        if (s->engine == VF_ENGINE_VLLM || s->engine == VF_ENGINE_LLAMACPP) {
            struct vf_pinned pin;
            memset(&pin, 0, sizeof pin);
            struct vf_strlist w = {0};
            if (vf_engine_args_parse_line(s->engine, s->command, &pin, &w, err, sizeof err) || !pin.has_model) {
                vf_strlist_addf(&notes, "%s: cannot read the model from its command (%s)", s->name,
                                err[0] ? err : "no model named");
                vf_strlist_free(&w);
                continue;
            }
            vf_strlist_free(&w);
            vf_strlcpy(model, pin.model, sizeof model);
            q.llm = model;
            q.llm_engine = s->engine;
            q.llm_args = s->command;
            /* size it as its flags say, not as voxfit would choose */
            if (s->engine == VF_ENGINE_LLAMACPP && !(pin.llama_set & VF_PIN_CTX))
                q.max_ctx = q.min_ctx = 4096;
        } else if (s->engine == VF_ENGINE_FASTER_WHISPER || s->engine == VF_ENGINE_WHISPER) {
            const char *ct = s->compute_type[0] ? s->compute_type : s->gpu ? "float16" : "int8";
            if (s->engine == VF_ENGINE_FASTER_WHISPER && !strcmp(ct, "default"))
                ct = s->gpu ? "float16" : "int8";
            snprintf(model, sizeof model, "%s%s%s", s->whisper_model[0] ? s->whisper_model : "small",
                     s->engine == VF_ENGINE_FASTER_WHISPER ? ":" : "",
                     s->engine == VF_ENGINE_FASTER_WHISPER ? ct : "");
            q.stt = model;
            q.stt_engine = s->engine;
        } else {
            q.tts = "kokoro-82m";
            q.tts_gpu = s->gpu;
        }
        int rc = vf_plan_make(&q, &a->plan, err, sizeof err);
        if (rc) {
            vf_strlist_addf(&notes, "%s: %s", s->name, err);
            vf_plan_free(&a->plan);
            continue;
        }
        a->sized = true;
        enum vf_role role = s->engine == VF_ENGINE_VLLM || s->engine == VF_ENGINE_LLAMACPP ? VF_ROLE_LLM
                          : s->engine == VF_ENGINE_KOKORO ? VF_ROLE_TTS : VF_ROLE_STT;
        a->c = &a->plan.comp[role];
        if (!s->gpu && (s->engine == VF_ENGINE_VLLM || (s->engine == VF_ENGINE_FASTER_WHISPER &&
                                                         s->compute_type[0] && strstr(s->compute_type, "float16")))) {
            snprintf(what, sizeof what, "the service has no GPU (no 'runtime: nvidia' and no device "
                     "reservation) but %s needs one", vf_engine_name(s->engine));
            problem(problems, &ptxt, s->name, what,
                    "add deploy.resources.reservations.devices: [{driver: nvidia, count: 1, capabilities: [gpu]}]");
        }
        if (s->gpu && a->c->total_bytes) {
            n_gpu++;
            sum += a->c->total_bytes;
        }
        if (!s->gpu && s->engine == VF_ENGINE_KOKORO && strstr(s->image, "gpu"))
            vf_strlist_addf(&notes, "%s uses a GPU image without a GPU reservation: it will run on the CPU",
                            s->name);
    }
    /* vLLM's own start-up errors, and its free-memory check given the start order */
    for (int i = 0; i < cf->n; i++) {
        struct audited *a = &A[i];
        if (!a->sized || a->s->engine != VF_ENGINE_VLLM)
            continue;
        struct vf_component *c = a->c;
        const struct vf_vllm_cfg *v = &c->vllm;
        uint64_t others = 0;
        for (int k = 0; k < cf->n; k++) {
            if (k == i || !A[k].sized || !A[k].s->gpu)
                continue;
            others += A[k].c->total_bytes;
        }
        uint64_t ctx = vf_cuda_context_bytes(dev, true, NULL, 0);
        int64_t room = (int64_t)dev->free_bytes - (int64_t)others - (int64_t)ctx - (int64_t)req->margin_bytes;
        double good_u = room > 0 ? floor((double)room / (double)dev->total_bytes * 100.0) / 100.0 : 0;
        /* the least utilization that holds the weights, the profile peak and
         * one max_model_len request, and the most the other services leave */
        const struct vf_llm_hparams *hp = &c->model.llm;
        uint64_t per_tok = 0;
        for (uint32_t il = 0; il < hp->n_layer; il++)
            per_tok += (uint64_t)vf_llm_head_kv(hp, il) * (hp->n_embd_head_k + hp->n_embd_head_v) *
                       (v->kv_cache_dtype == VF_DT_F8_E4M3 ? 1 : 2);
        uint64_t need = c->weights_bytes + v->activation_bytes + v->non_torch_bytes + v->cudagraph_bytes +
                        per_tok * (uint64_t)v->max_model_len;
        double min_u = ceil((double)need / (double)dev->total_bytes * 100.0) / 100.0;
        for (size_t e = 0; e < a->plan.errors.n; e++) {
            const char *msg = a->plan.errors.v[e];
            if (strstr(msg, "Free memory on device")) {
                double u_free = floor((double)((int64_t)dev->free_bytes - (int64_t)ctx) /
                                      (double)dev->total_bytes * 100.0) / 100.0;
                snprintf(fix, sizeof fix, "--gpu-memory-utilization %.2f or less (what is free when vLLM "
                         "starts)%s", u_free, min_u > u_free ? ", but this model needs more: free memory "
                         "first, or use a smaller model" : "");
            } else if (v->available_kv_bytes <= 0 ||
                       (v->max_model_len_fit && v->max_model_len_fit < v->max_model_len)) {
                if (min_u <= good_u)
                    snprintf(fix, sizeof fix, "--gpu-memory-utilization between %.2f (weights %s + "
                             "activations + KV for %u tokens) and %.2f (all the other services leave)",
                             min_u, vf_fmt_bytes(c->weights_bytes, b1, sizeof b1), v->max_model_len, good_u);
                else
                    snprintf(fix, sizeof fix, "even %.2f (all the other services leave) is below the %.2f "
                             "this model needs: use a smaller or more quantized model, or a smaller "
                             "--max-model-len", good_u, min_u);
            } else {
                snprintf(fix, sizeof fix, "follow the message above");
            }
            problem(problems, &ptxt, a->s->name, a->plan.errors.v[e], fix);
        }
        /* services that may hold GPU memory when vLLM starts */
        uint64_t before = 0;
        char names[256] = "";
        for (int k = 0; k < cf->n; k++) {
            if (k == i || !A[k].sized || !A[k].s->gpu || !A[k].c->total_bytes)
                continue;
            if (waits_for(cf, A[k].s, a->s->name, 0))
                continue;
            before += A[k].c->total_bytes;
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "",
                     A[k].s->name);
        }
        uint64_t want = v->requested_bytes;
        int64_t free_then = (int64_t)dev->free_bytes - (int64_t)before - (int64_t)ctx;
        if (before && free_then < (int64_t)want) {
            char b4[32];
            snprintf(what, sizeof what, "start order: %s may start before %s and hold %s; vLLM then finds "
                     "%s free at start-up, less than its %.2f x %s = %s, and exits with \"Free memory on "
                     "device ... is less than desired GPU memory utilization\"", names, a->s->name,
                     vf_fmt_bytes(before, b1, sizeof b1), free_then > 0 ? vf_fmt_bytes((uint64_t)free_then, b2, sizeof b2) : "nothing",
                     v->gpu_memory_utilization, vf_fmt_bytes(dev->total_bytes, b3, sizeof b3),
                     vf_fmt_bytes(want, b4, sizeof b4));
            snprintf(fix, sizeof fix, "make %s depend on %s with 'condition: service_healthy' (start vLLM "
                     "first), or lower --gpu-memory-utilization to %.2f", names, a->s->name, good_u);
            problem(problems, &ptxt, a->s->name, what, fix);
        }
    }
    if (sum > dev->free_bytes) {
        snprintf(what, sizeof what, "the GPU services together need %s but %s has %s free: the last one "
                 "to allocate runs out of memory", vf_fmt_bytes(sum, b1, sizeof b1), dev->name,
                 vf_fmt_bytes(dev->free_bytes, b2, sizeof b2));
        problem(problems, &ptxt, "(all)", what, "run 'voxfit plan' for a stack that fits, or move a service to the CPU");
    }
    int n_problems = cJSON_GetArraySize(problems);
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON *d = cJSON_AddObjectToObject(root, "device");
        cJSON_AddStringToObject(d, "name", dev->name);
        cJSON_AddStringToObject(d, "kind", dev->kind == VF_DEVICE_GPU ? "gpu" : "cpu");
        cJSON_AddNumberToObject(d, "total_bytes", (double)dev->total_bytes);
        cJSON_AddNumberToObject(d, "free_bytes", (double)dev->free_bytes);
        cJSON *comps = cJSON_AddArrayToObject(root, "components");
        for (int i = 0; i < cf->n; i++) {
            if (!A[i].sized)
                continue;
            cJSON *pj = vf_report_json(&A[i].plan);
            cJSON *cs = cJSON_GetObjectItem(pj, "components");
            cJSON *c0 = cJSON_DetachItemFromArray(cs, 0);
            if (c0) {
                cJSON_AddStringToObject(c0, "service", A[i].s->name);
                cJSON_AddBoolToObject(c0, "gpu_reserved", A[i].s->gpu);
                cJSON_AddItemToArray(comps, c0);
            }
            cJSON_Delete(pj);
        }
        cJSON_AddNumberToObject(root, "total_bytes", (double)sum);
        cJSON_AddNumberToObject(root, "margin_bytes", (double)((int64_t)dev->free_bytes - (int64_t)sum));
        cJSON_AddBoolToObject(root, "fits", n_problems == 0);
        cJSON *w = cJSON_AddArrayToObject(root, "warnings");
        for (size_t k = 0; k < notes.n; k++)
            cJSON_AddItemToArray(w, cJSON_CreateString(notes.v[k]));
        cJSON *e = cJSON_AddArrayToObject(root, "errors");
        for (size_t k = 0; k < ptxt.n; k++)
            cJSON_AddItemToArray(e, cJSON_CreateString(ptxt.v[k]));
        cJSON_AddItemToObject(root, "problems", problems);
        problems = NULL;
        char *s = cJSON_Print(root);
        puts(s);
        cJSON_free(s);
        cJSON_Delete(root);
    } else {
        printf("voxfit plan --check %s on %s (%s total, %s free)\n\n", path, dev->name,
               vf_fmt_bytes(dev->total_bytes, b1, sizeof b1), vf_fmt_bytes(dev->free_bytes, b2, sizeof b2));
        printf("%-20s %-15s %-4s %-40s %12s\n", "service", "engine", "gpu", "model", "GPU memory");
        for (int i = 0; i < cf->n; i++) {
            const struct audited *a = &A[i];
            if (a->s->engine == VF_ENGINE_COUNT) {
                printf("%-20s %-15s %-4s %-40s %12s\n", a->s->name, "-", a->s->gpu ? "yes" : "no",
                       "(not a model server)", "-");
                continue;
            }
            printf("%-20s %-15s %-4s %-40.40s %12s\n", a->s->name, vf_engine_name(a->s->engine),
                   a->s->gpu ? "yes" : "no", a->sized ? a->c->model.id : "?",
                   a->sized && a->s->gpu ? vf_fmt_bytes(a->c->total_bytes, b1, sizeof b1) : "-");
            if (explain && a->sized)
                for (size_t k = 0; k < a->c->explain.n; k++)
                    printf("    %s\n", a->c->explain.v[k]);
            if (a->sized && a->s->engine == VF_ENGINE_VLLM && a->c->vllm.kv_tokens)
                printf("    vLLM: budget %s, KV cache %llu tokens (max_model_len %u)\n",
                       vf_fmt_bytes(a->c->vllm.requested_bytes, b1, sizeof b1),
                       (unsigned long long)a->c->vllm.kv_tokens, a->c->vllm.max_model_len);
        }
        printf("\nGPU services together: %s of %s free\n", vf_fmt_bytes(sum, b1, sizeof b1),
               vf_fmt_bytes(dev->free_bytes, b2, sizeof b2));
        for (size_t k = 0; k < notes.n; k++)
            printf("note: %s\n", notes.v[k]);
        if (n_problems) {
            printf("\n%d problem%s: this stack will fail\n", n_problems, n_problems == 1 ? "" : "s");
            for (size_t k = 0; k < ptxt.n; k++)
                printf("- %s\n", ptxt.v[k]);
        } else {
            printf("\nno problems found: the stack fits as written\n");
        }
    }
    cJSON_Delete(problems);
    for (int i = 0; i < cf->n; i++)
        if (A[i].sized)
            vf_plan_free(&A[i].plan);
    vf_strlist_free(&ptxt);
    vf_strlist_free(&notes);
    vf_free(A);
    vf_free(cf);
    return n_problems ? 1 : 0;
}
