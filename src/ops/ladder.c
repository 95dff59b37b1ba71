/* ladder.c - see ladder.h. Steps are pinned as engine flags appended after
 * the user's own (the engines' parsers, and voxfit's, take the last of a
 * repeated flag), so a step also overrides a setting the user pinned or a
 * plan file carried. */
#include "ladder.h"
#include "stack.h"
#include "../core/reader.h"
#include "../core/str.h"
#include "../model/catalog.h"
#include "../plan/engine_args.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *vf_step_name(enum vf_step s) {
    static const char *n[] = {"shorter context",  "lower KV precision", "smaller Whisper",
                              "fewer GPU layers", "smaller LLM",        "none"};
    return s <= VF_STEP_NONE ? n[s] : "?";
}

static void copy_model(char *dst, size_t n, const char *src, bool *set) {
    *set = src != NULL;
    vf_strlcpy(dst, src ? src : "", n);
}

void vf_up_req_init(struct vf_up_req *u, const struct vf_plan_req *req) {
    memset(u, 0, sizeof *u);
    u->base = *req;
    copy_model(u->llm, sizeof u->llm, req->llm, &u->llm_set);
    copy_model(u->stt, sizeof u->stt, req->stt, &u->stt_set);
    copy_model(u->tts, sizeof u->tts, req->tts, &u->tts_set);
    u->user_llm_args = req->llm_args;
    u->user_stt_args = req->stt_args;
    u->kv = VF_DT_INVALID;
    u->ngl = -1;
    u->user_margin = req->margin_bytes;
    u->ctx_floor = req->min_ctx ? req->min_ctx : 4096;
}

static void appendf(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t n, const char *fmt, ...) {
    size_t l = strlen(buf);
    if (l + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + l, n - l, fmt, ap);
    va_end(ap);
}

static const char *kv_flag(enum vf_dtype t) {
    switch (t) {
    case VF_DT_Q8_0: return "q8_0";
    case VF_DT_Q4_0: return "q4_0";
    case VF_DT_BF16: return "bf16";
    case VF_DT_F32: return "f32";
    default: return "f16";
    }
}

int vf_up_plan(struct vf_up_req *u, struct vf_plan *p, char *err, size_t errlen) {
    struct vf_plan_req r = u->base;
    r.llm = u->llm_set ? u->llm : NULL;
    r.stt = u->stt_set ? u->stt : NULL;
    r.tts = u->tts_set ? u->tts : NULL;
    u->llm_args[0] = u->stt_args[0] = '\0';
    if (u->user_llm_args)
        appendf(u->llm_args, sizeof u->llm_args, "%s", u->user_llm_args);
    if (u->user_stt_args)
        appendf(u->stt_args, sizeof u->stt_args, "%s", u->user_stt_args);
    const bool vllm = r.llm_engine == VF_ENGINE_VLLM;
    if (u->ctx) {
        /* a context the user pinned is overridden by a flag; else the
         * planner still fits the longest context up to the cap */
        struct vf_pinned pin;
        memset(&pin, 0, sizeof pin);
        char e2[256];
        bool pinned = u->user_llm_args &&
                      vf_engine_args_parse_line(r.llm_engine, u->user_llm_args, &pin, NULL, e2,
                                                sizeof e2) == VF_OK &&
                      ((pin.llama_set & VF_PIN_CTX) || (pin.vllm_set & VF_PIN_MAXLEN));
        uint32_t nseq = pin.llama_set & VF_PIN_NSEQ ? pin.llama.n_seq_max
                        : r.sessions                ? r.sessions
                                                    : 1;
        if (pinned && vllm)
            appendf(u->llm_args, sizeof u->llm_args, " --max-model-len %u", u->ctx);
        else if (pinned)
            appendf(u->llm_args, sizeof u->llm_args, " -c %u", u->ctx * (nseq ? nseq : 1));
        r.max_ctx = u->ctx;
        if (r.min_ctx > u->ctx)
            r.min_ctx = u->ctx;
    }
    if (u->kv != VF_DT_INVALID) {
        if (vllm)
            appendf(u->llm_args, sizeof u->llm_args, " --kv-cache-dtype fp8");
        else
            appendf(u->llm_args, sizeof u->llm_args, " -ctk %s -ctv %s", kv_flag(u->kv),
                    kv_flag(u->kv));
    }
    if (u->ngl >= 0 && !vllm)
        appendf(u->llm_args, sizeof u->llm_args, " -ngl %d", u->ngl);
    r.llm_args = u->llm_args[0] ? u->llm_args : NULL;
    r.stt_args = u->stt_args[0] ? u->stt_args : NULL;
    r.margin_bytes = u->user_margin;
    for (int i = 0; i < VF_PLAN_COMPONENTS; i++)
        r.margin_bytes += u->extra[i];
    int rc = vf_plan_make(&r, p, err, errlen);
    if (rc)
        return rc;
    vf_stack_adjust(p);
    /* the models voxfit chose stay chosen: the ladder changes them on purpose only */
    if (!u->llm_set) {
        vf_strlcpy(u->llm, p->comp[VF_ROLE_LLM].present ? p->comp[VF_ROLE_LLM].model.id : "none",
                   sizeof u->llm);
        u->llm_set = true;
    }
    if (!u->stt_set) {
        vf_strlcpy(u->stt, p->comp[VF_ROLE_STT].present ? p->comp[VF_ROLE_STT].model.id : "none",
                   sizeof u->stt);
        u->stt_set = true;
    }
    if (!u->tts_set) {
        vf_strlcpy(u->tts, p->comp[VF_ROLE_TTS].present ? p->comp[VF_ROLE_TTS].model.id : "none",
                   sizeof u->tts);
        u->tts_set = true;
    }
    return VF_OK;
}

/* ==== The steps ==== */

static bool step_ctx(struct vf_up_req *u, const struct vf_component *c, char *what, size_t n) {
    uint32_t cur = c->engine == VF_ENGINE_VLLM
                       ? c->vllm.max_model_len
                       : c->llama.n_ctx / (c->llama.n_seq_max ? c->llama.n_seq_max : 1);
    uint32_t floor = u->ctx_floor ? u->ctx_floor : 4096;
    if (!cur || cur <= floor)
        return false;
    uint32_t next = cur / 2 / 256 * 256;
    if (next < floor)
        next = floor;
    u->ctx = next;
    snprintf(what, n, "shorter context: %u -> %u tokens per conversation", cur, next);
    return true;
}

static bool step_kv(struct vf_up_req *u, const struct vf_component *c, char *what, size_t n) {
    if (c->engine == VF_ENGINE_VLLM) {
        if (c->vllm.kv_cache_dtype == VF_DT_F8_E4M3)
            return false;
        u->kv = VF_DT_F8_E4M3;
        snprintf(what, n, "lower KV precision: auto -> fp8 (--kv-cache-dtype fp8)");
        return true;
    }
    enum vf_dtype k = c->llama.type_k;
    if (k != VF_DT_F16 && k != VF_DT_BF16 && k != VF_DT_F32)
        return false;
    u->kv = VF_DT_Q8_0;
    snprintf(what, n, "lower KV precision: %s -> q8_0 (-ctk q8_0 -ctv q8_0)", kv_flag(k));
    return true;
}

static bool english_only(const char *name) {
    return vf_str_ends(name, ".en") || vf_str_starts(name, "distil-");
}

static bool step_stt(struct vf_up_req *u, const struct vf_component *c, char *what, size_t n) {
    const struct vf_cat_whisper *cur =
        c->model.from_catalog ? vf_catalog_find_whisper(c->model.name) : NULL;
    if (!cur)
        return false;
    const struct vf_cat_whisper *best = NULL;
    for (size_t i = 0; i < vf_catalog_whisper_count(); i++) {
        const struct vf_cat_whisper *w = vf_catalog_whisper(i);
        if (w->n_params >= cur->n_params || (!english_only(cur->name) && english_only(w->name)))
            continue;
        if (!best || w->quality > best->quality ||
            (w->quality == best->quality && w->n_params < best->n_params))
            best = w;
    }
    if (!best)
        return false;
    snprintf(u->stt, sizeof u->stt, "%s:%s", best->name, c->model.quant);
    u->stt_set = true;
    snprintf(what, n, "smaller Whisper: %s -> %s", cur->name, best->name);
    return true;
}

static bool step_ngl(struct vf_up_req *u, const struct vf_plan *p, const struct vf_component *c,
                     char *what, size_t n) {
    if (c->engine != VF_ENGINE_LLAMACPP || p->device.kind != VF_DEVICE_GPU ||
        c->placement == VF_PLACE_CPU)
        return false;
    int layers = (int)c->model.llm.n_layer;
    int cur = c->llama.n_gpu_layers < 0 || c->llama.n_gpu_layers > layers ? layers
                                                                          : c->llama.n_gpu_layers;
    if (cur <= 0)
        return false;
    int next = cur - VF_MAX(1, layers / 4);
    if (next < 0)
        next = 0;
    u->ngl = next;
    snprintf(what, n, "fewer GPU layers: %d -> %d of %d (the rest on the CPU)", cur, next, layers);
    return true;
}

static bool step_llm(struct vf_up_req *u, const struct vf_component *c, char *what, size_t n) {
    const struct vf_cat_llm *cur =
        c->model.from_catalog ? vf_catalog_find_llm(c->model.name) : NULL;
    if (!cur)
        return false;
    if (c->model.format == VF_FMT_GGUF) {
        static const char *const ladder[] = {"F32",  "F16",    "BF16",   "Q8_0",
                                             "Q6_K", "Q5_K_M", "Q4_K_M", NULL};
        for (int i = 0; ladder[i + 1]; i++) {
            if (!vf_strcasecmp(c->model.quant, ladder[i])) {
                const char *next = i < 3 ? "Q8_0" : ladder[i + 1];
                snprintf(u->llm, sizeof u->llm, "%s:%s", cur->gguf ? cur->gguf : cur->hf, next);
                u->ngl = -1;
                snprintf(what, n, "smaller LLM: %s %s -> %s", cur->name, c->model.quant, next);
                return true;
            }
        }
    }
    const char *kind = c->model.format == VF_FMT_GGUF ? "gguf" : c->model.quant;
    const struct vf_cat_llm *best = NULL;
    for (size_t i = 0; i < vf_catalog_llm_count(); i++) {
        const struct vf_cat_llm *m = vf_catalog_llm(i);
        const char *repo = !strcmp(kind, "gguf")         ? m->gguf
                           : !vf_strcasecmp(kind, "FP8") ? m->fp8
                           : !vf_strcasecmp(kind, "AWQ") ? m->awq
                                                         : m->hf;
        if (!repo || m->quality >= cur->quality)
            continue;
        if (!best || m->quality > best->quality)
            best = m;
    }
    if (!best)
        return false;
    if (!strcmp(kind, "gguf"))
        snprintf(u->llm, sizeof u->llm, "%s:%s", best->gguf, c->model.quant);
    else
        vf_strlcpy(u->llm,
                   !vf_strcasecmp(kind, "FP8")   ? best->fp8
                   : !vf_strcasecmp(kind, "AWQ") ? best->awq
                                                 : best->hf,
                   sizeof u->llm);
    u->ngl = -1;
    snprintf(what, n, "smaller LLM: %s -> %s", cur->name, best->name);
    return true;
}

enum vf_step vf_ladder_next(struct vf_up_req *u, const struct vf_plan *p, unsigned mask, char *what,
                            size_t n) {
    const struct vf_component *llm = &p->comp[VF_ROLE_LLM];
    const struct vf_component *stt = &p->comp[VF_ROLE_STT];
    const bool use_llm = llm->present && (mask & (1u << VF_ROLE_LLM));
    const bool use_stt = stt->present && (mask & (1u << VF_ROLE_STT));
    enum vf_step s = VF_STEP_NONE;
    if (use_llm && step_ctx(u, llm, what, n))
        s = VF_STEP_CTX;
    else if (use_llm && step_kv(u, llm, what, n))
        s = VF_STEP_KV;
    else if (use_stt && step_stt(u, stt, what, n))
        s = VF_STEP_STT;
    else if (use_llm && step_ngl(u, p, llm, what, n))
        s = VF_STEP_NGL;
    else if (use_llm && step_llm(u, llm, what, n))
        s = VF_STEP_LLM;
    if (s != VF_STEP_NONE)
        u->steps++;
    return s;
}
