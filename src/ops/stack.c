/* stack.c - see stack.h. The planned flags of llama-server and vLLM are
 * taken from emit.c's output (`voxfit plan --emit llama.cpp|vllm`), so
 * `up` starts exactly what `plan` prints; only the binary, the model
 * reference, the host and the port are voxfit up's own. */
#define _GNU_SOURCE /* open_memstream */
#include "stack.h"
#include "pull.h"
#include "../core/reader.h"
#include "../core/str.h"
#include "../plan/emit.h"
#include "../plan/engine_args.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const runner_names[VF_RUN_COUNT] = {"llama.cpp", "vllm", "faster-whisper",
                                                       "kokoro", "voxfit"};
static const char *const runner_cmds[VF_RUN_COUNT] = {"llama-server", "vllm serve",
                                                      "uvicorn --factory speaches.main:create_app",
                                                      "uvicorn api.src.main:app", "voxfit serve"};

const char *vf_runner_name(enum vf_runner r) { return r < VF_RUN_COUNT ? runner_names[r] : "?"; }
const char *vf_runner_default_cmd(enum vf_runner r) {
    return r < VF_RUN_COUNT ? runner_cmds[r] : "";
}

enum vf_runner vf_runner_from_name(const char *s) {
    for (int i = 0; i < VF_RUN_COUNT; i++)
        if (!vf_strcasecmp(s, runner_names[i]))
            return (enum vf_runner)i;
    if (!vf_strcasecmp(s, "llama-server") || !vf_strcasecmp(s, "llamacpp"))
        return VF_RUN_LLAMA_SERVER;
    if (!vf_strcasecmp(s, "speaches") || !vf_strcasecmp(s, "whisper"))
        return VF_RUN_FASTER_WHISPER;
    return VF_RUN_COUNT;
}

/* ==== Building argv ==== */

struct argb {
    struct vf_stack_engine *e;
    size_t used;
    bool overflow;
};

static void push(struct argb *b, const char *s) {
    size_t l = strlen(s) + 1;
    if (b->overflow || b->e->argc >= VF_STACK_ARGV || b->used + l > sizeof b->e->argbuf) {
        b->overflow = true;
        return;
    }
    char *d = b->e->argbuf + b->used;
    memcpy(d, s, l);
    b->used += l;
    b->e->argv[b->e->argc++] = d;
    b->e->argv[b->e->argc] = NULL;
}

static void pushf(struct argb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pushf(struct argb *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    push(b, tmp);
}

static void add_env(struct vf_stack_engine *e, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_env(struct vf_stack_engine *e, size_t *used, const char *fmt, ...) {
    int k = 0;
    while (e->env[k])
        k++;
    if (k >= VF_STACK_ENV)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(e->envbuf + *used, sizeof e->envbuf - *used, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w + 1 > sizeof e->envbuf - *used)
        return;
    e->env[k] = e->envbuf + *used;
    e->env[k + 1] = NULL;
    *used += (size_t)w + 1;
}

/* Replace every {key} in s by val, into out. */
static void subst(const char *s, const char *key, const char *val, char *out, size_t n) {
    size_t o = 0, kl = strlen(key);
    while (*s && o + 1 < n) {
        if (!strncmp(s, key, kl)) {
            size_t vl = strlen(val);
            if (o + vl >= n)
                break;
            memcpy(out + o, val, vl);
            o += vl;
            s += kl;
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
}

/* The planned flags after "--port 8000" in emit's line for the LLM. */
static int emitted_flags(const struct vf_plan *p, const char *what, char *buf, size_t n) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return VF_ERR_NOMEM;
    int rc = vf_emit(f, p, what);
    fclose(f);
    buf[0] = '\0';
    if (rc == VF_OK && text) {
        const char *at = strstr(text, " --port 8000");
        if (at) {
            vf_strlcpy(buf, at + strlen(" --port 8000"), n);
            size_t l = strlen(buf);
            while (l && (buf[l - 1] == '\n' || buf[l - 1] == ' '))
                buf[--l] = '\0';
        } else {
            rc = VF_ERR_FORMAT;
        }
    }
    free(text); /* open_memstream's buffer comes from malloc */
    return rc;
}

static bool is_path(const char *m) {
    struct stat st;
    return m[0] == '/' || m[0] == '.' || stat(m, &st) == 0;
}

/* The model as the engine gets it: a local path, the cached copy, or the id. */
static bool model_ref(const struct vf_stack_opts *o, const struct vf_component *c, char *out,
                      size_t n) {
    if (is_path(c->model.id)) {
        vf_strlcpy(out, c->model.id, n);
        return true;
    }
    if (o->cache_dir &&
        vf_pull_cached(o->cache_dir, c->model.id, vf_engine_name(c->engine), out, n) == VF_OK)
        return true;
    vf_strlcpy(out, c->model.id, n);
    return false;
}

static enum vf_runner runner_of(const struct vf_component *c, const struct vf_stack_opts *o) {
    switch (c->engine) {
    case VF_ENGINE_LLAMACPP: return o->llm_via_voxfit ? VF_RUN_VOXFIT : VF_RUN_LLAMA_SERVER;
    case VF_ENGINE_VLLM: return VF_RUN_VLLM;
    case VF_ENGINE_FASTER_WHISPER: return VF_RUN_FASTER_WHISPER;
    case VF_ENGINE_KOKORO: return VF_RUN_KOKORO;
    default: return VF_RUN_VOXFIT; /* embedded whisper, espeak */
    }
}

static int build_one(const struct vf_plan *p, const struct vf_component *c,
                     const struct vf_stack_opts *o, struct vf_stack_engine *e, char *err,
                     size_t errlen) {
    memset(e, 0, sizeof *e);
    e->role = c->role;
    e->engine = c->engine;
    e->runner = runner_of(c, o);
    e->port = o->ports[c->role];
    e->planned_bytes = c->total_bytes;
    e->planned_host_bytes = c->host_bytes;
    e->on_gpu =
        p->device.kind == VF_DEVICE_GPU && c->placement != VF_PLACE_CPU && c->total_bytes > 0;
    bool cached = model_ref(o, c, e->model, sizeof e->model);
    const char *host = o->host && *o->host ? o->host : "127.0.0.1";
    char port[16];
    snprintf(port, sizeof port, "%d", e->port);
    /* the template */
    char self_cmd[1200];
    const char *tmpl = o->cmd[e->runner];
    if (!tmpl && e->runner == VF_RUN_VOXFIT && o->self_exe) {
        snprintf(self_cmd, sizeof self_cmd, "'%s' serve", o->self_exe);
        tmpl = self_cmd;
    }
    if (!tmpl)
        tmpl = runner_cmds[e->runner];
    char tbuf[4096], *words[VF_STACK_ARGV];
    int nw = vf_split_words(tmpl, tbuf, sizeof tbuf, words, VF_STACK_ARGV);
    if (nw <= 0) {
        vf_errf(err, errlen, "the %s command '%s' is empty or badly quoted",
                runner_names[e->runner], tmpl);
        return VF_ERR_ARG;
    }
    struct argb b = {e, 0, false};
    bool has_port = false, has_model = false;
    for (int i = 0; i < nw; i++) {
        char s1[1024], s2[1024], s3[1024];
        has_port |= strstr(words[i], "{port}") != NULL;
        has_model |= strstr(words[i], "{model}") != NULL;
        subst(words[i], "{host}", host, s1, sizeof s1);
        subst(s1, "{port}", port, s2, sizeof s2);
        subst(s2, "{model}", e->model, s3, sizeof s3);
        push(&b, s3);
    }
    char flags[2048] = "";
    size_t envu = 0;
    switch (e->runner) {
    case VF_RUN_LLAMA_SERVER:
        if (!has_model) {
            push(&b, cached || is_path(e->model) ? "-m" : "-hf");
            push(&b, e->model);
        }
        if (!has_port) {
            push(&b, "--host");
            push(&b, host);
            push(&b, "--port");
            push(&b, port);
        }
        if (emitted_flags(p, "llama.cpp", flags, sizeof flags) != VF_OK) {
            vf_errf(err, errlen, "cannot write the llama-server flags of the plan");
            return VF_ERR_ARG;
        }
        break;
    case VF_RUN_VLLM:
        if (!has_model) {
            push(&b, e->model);
            if (cached) {
                push(&b, "--served-model-name");
                push(&b, c->model.id);
            }
        }
        if (!has_port) {
            push(&b, "--host");
            push(&b, host);
            push(&b, "--port");
            push(&b, port);
        }
        if (emitted_flags(p, "vllm", flags, sizeof flags) != VF_OK) {
            vf_errf(err, errlen, "cannot write the vLLM flags of the plan");
            return VF_ERR_ARG;
        }
        break;
    case VF_RUN_FASTER_WHISPER:
        if (!has_port) {
            push(&b, "--host");
            push(&b, host);
            push(&b, "--port");
            push(&b, port);
        }
        add_env(e, &envu, "WHISPER__MODEL=%s", e->model);
        add_env(e, &envu, "WHISPER__COMPUTE_TYPE=%s", c->whisper.compute_type);
        add_env(e, &envu, "WHISPER__INFERENCE_DEVICE=%s", c->whisper.on_gpu ? "cuda" : "cpu");
        add_env(e, &envu, "PRELOAD_MODELS=[\"%s\"]", e->model);
        break;
    case VF_RUN_KOKORO:
        if (!has_port) {
            push(&b, "--host");
            push(&b, host);
            push(&b, "--port");
            push(&b, port);
        }
        add_env(e, &envu, "USE_GPU=%s", c->tts.on_gpu ? "true" : "false");
        break;
    case VF_RUN_VOXFIT:
        pushf(&b, "--role");
        push(&b, vf_role_name(c->role));
        if (!has_port) {
            push(&b, "--host");
            push(&b, host);
            push(&b, "--port");
            push(&b, port);
        }
        if (!has_model) {
            pushf(&b, "--%s", vf_role_name(c->role));
            push(&b, e->model);
        }
        if (c->engine == VF_ENGINE_LLAMACPP) {
            if (emitted_flags(p, "llama.cpp", flags, sizeof flags) != VF_OK)
                return VF_ERR_ARG;
            push(&b, "--llm-args");
            push(&b, flags);
            flags[0] = '\0';
        }
        break;
    default: break;
    }
    if (flags[0]) {
        char fbuf[4096], *fw[VF_STACK_ARGV];
        int nf = vf_split_words(flags, fbuf, sizeof fbuf, fw, VF_STACK_ARGV);
        for (int i = 0; i < nf; i++)
            push(&b, fw[i]);
    }
    if (b.overflow) {
        vf_errf(err, errlen, "the %s command line is too long", runner_names[e->runner]);
        return VF_ERR_ARG;
    }
    add_env(e, &envu, "VOXFIT_ROLE=%s", vf_role_name(c->role));
    add_env(e, &envu, "VOXFIT_PLANNED_BYTES=%llu", (unsigned long long)e->planned_bytes);
    if (p->device.kind == VF_DEVICE_GPU && p->device.index >= 0)
        add_env(e, &envu, "CUDA_VISIBLE_DEVICES=%d", p->device.index);
    else if (p->device.kind == VF_DEVICE_CPU)
        add_env(e, &envu, "CUDA_VISIBLE_DEVICES="); /* a RAM plan: keep the engines off any GPU */
    const char *uh = !strcmp(host, "0.0.0.0") || !*host ? "127.0.0.1"
                     : !strcmp(host, "::")              ? "[::1]"
                                                        : host;
    snprintf(e->ready_url, sizeof e->ready_url, "http://%s:%d/%s", uh, e->port,
             e->runner == VF_RUN_VLLM ? "v1/models" : "health");
    return VF_OK;
}

int vf_stack_build(const struct vf_plan *p, const struct vf_stack_opts *o,
                   struct vf_stack_engine *out, int *n, char *err, size_t errlen) {
    *n = 0;
    /* vLLM first (its start-up check wants the memory free), then largest
     * first, the role order among equals */
    int order[VF_PLAN_COMPONENTS], k = 0;
    for (int i = 0; i < VF_PLAN_COMPONENTS; i++)
        if (p->comp[i].present)
            order[k++] = i;
    for (int i = 1; i < k; i++) {
        for (int j = i; j > 0; j--) {
            const struct vf_component *a = &p->comp[order[j - 1]], *b = &p->comp[order[j]];
            bool av = a->engine == VF_ENGINE_VLLM, bv = b->engine == VF_ENGINE_VLLM;
            if (!((bv && !av) || (av == bv && b->total_bytes > a->total_bytes)))
                break;
            int t = order[j - 1];
            order[j - 1] = order[j];
            order[j] = t;
        }
    }
    for (int i = 0; i < k; i++) {
        int rc = build_one(p, &p->comp[order[i]], o, &out[*n], err, errlen);
        if (rc)
            return rc;
        (*n)++;
    }
    return VF_OK;
}

void vf_stack_adjust(struct vf_plan *p) {
    if (p->device.kind != VF_DEVICE_GPU)
        return;
    bool seen0 = false;
    for (int i = 0; i < VF_PLAN_COMPONENTS; i++) {
        struct vf_component *c = &p->comp[i];
        if (!c->present || c->process != 0 || c->placement == VF_PLACE_CPU)
            continue;
        if (!c->weights_bytes && !c->kv_bytes && !c->compute_bytes)
            continue;
        if (!seen0) {
            seen0 = true;
            continue;
        }
        char line[256];
        uint64_t ctx = vf_cuda_context_bytes(&p->device, false, line, sizeof line);
        c->overhead_bytes += ctx;
        c->total_bytes += ctx;
        vf_strlcpy(line + strlen(line), " (its own process under voxfit up)",
                   sizeof line - strlen(line));
        vf_strlist_addf(&c->explain, "%s", line);
    }
    vf_plan_total(p);
}

static void quote(const char *s, char *out, size_t n) {
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-_./:=,+@%", *p)))
            plain = false;
    if (plain) {
        vf_strlcpy(out, s, n);
        return;
    }
    size_t o = 0;
    if (o + 1 < n)
        out[o++] = '\'';
    for (; *s && o + 5 < n; s++) {
        if (*s == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *s;
        }
    }
    if (o + 1 < n)
        out[o++] = '\'';
    out[o] = '\0';
}

void vf_stack_cmdline(const struct vf_stack_engine *e, char *buf, size_t n) {
    size_t o = 0;
    buf[0] = '\0';
    for (int pass = 0; pass < 2; pass++) {
        char *const *v = pass ? e->argv : e->env;
        for (int i = 0; v[i]; i++) {
            if (!pass && !strncmp(v[i], "VOXFIT_", 7))
                continue; /* voxfit's own bookkeeping */
            char q[1200];
            quote(v[i], q, sizeof q);
            int w = snprintf(buf + o, n - o, "%s%s", o ? " " : "", q);
            if (w < 0 || (size_t)w >= n - o)
                return;
            o += (size_t)w;
        }
    }
}
