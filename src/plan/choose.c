/* choose.c - see choose.h. Each candidate is sized once on its own; a
 * pair's total adds one CUDA context per GPU process, the same rule the
 * plan uses, so the chooser and the final plan agree. The winner is then
 * planned for real with vf_plan_make (which also picks its context). */
#include "choose.h"
#include "../core/reader.h"
#include "../core/str.h"
#include "../model/catalog.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

double vf_quant_penalty(const char *q) {
    static const struct {
        const char *q;
        double p;
    } rows[] = {{"F32", 0}, {"F16", 0}, {"BF16", 0}, {"Q8_0", 0.2}, {"FP8", 0.3}, {"Q6_K", 0.5},
                {"Q5_K_M", 1.0}, {"Q5_K_S", 1.2}, {"Q4_K_M", 2.0}, {"AWQ", 2.0}, {"Q4_K_S", 2.4},
                {"IQ4_XS", 2.6}, {"Q4_0", 3.0}, {"Q3_K_L", 4.0}, {"Q3_K_M", 5.0}, {"Q2_K", 9.0}};
    for (size_t i = 0; i < VF_ARRAY_LEN(rows); i++)
        if (!vf_strcasecmp(rows[i].q, q))
            return rows[i].p;
    return 3.0;
}

/* Memory bandwidth assumed for a CPU plan (two channels of DDR4/DDR5) and
 * the decoding speed a spoken conversation needs. */
#define VF_CHOOSE_CPU_BANDWIDTH 25e9
#define VF_CHOOSE_MIN_TPS 8.0

struct cand {
    char id[300];
    double score;
    uint64_t bytes;      /* on the device, without its process's CUDA context */
    bool ok;
};

/* Size a single component alone (no context) for the candidate id. */
static bool size_one(const struct vf_plan_req *req, enum vf_role role, const char *id,
                     enum vf_engine engine, double budget_util, uint64_t *bytes, uint64_t *kv_tokens) {
    struct vf_plan_req r = *req;
    r.llm = role == VF_ROLE_LLM ? id : "none";
    r.stt = role == VF_ROLE_STT ? id : "none";
    r.tts = role == VF_ROLE_TTS ? id : "none";
    r.llm_args = role == VF_ROLE_LLM ? req->llm_args : NULL;
    r.stt_args = role == VF_ROLE_STT ? req->stt_args : NULL;
    r.max_ctx = role == VF_ROLE_LLM ? (uint32_t)VF_PAD(req->min_ctx, 256) : 0;
    r.margin_bytes = 0;
    struct vf_plan p;
    char err[256];
    if (vf_plan_make(&r, &p, err, sizeof err) != VF_OK) {
        vf_plan_free(&p);
        return false;
    }
    struct vf_component *c = &p.comp[role];
    bool ok = c->present && p.errors.n == 0;
    if (ok && engine == VF_ENGINE_VLLM) {
        /* vLLM with exactly the budget the pair leaves it */
        c->vllm.gpu_memory_utilization = budget_util;
        c->vllm.max_model_len = (uint32_t)VF_PAD(req->min_ctx, 256);
        struct vf_strlist errs = {0};
        ok = vf_mem_vllm(c, &p.device, &errs) == VF_OK && errs.n == 0 &&
             c->vllm.kv_tokens >= (uint64_t)req->min_ctx * (req->sessions ? req->sessions : 1);
        vf_strlist_free(&errs);
        if (kv_tokens)
            *kv_tokens = c->vllm.kv_tokens;
    }
    if (ok) {
        /* the context was added by the plan to this lone component: take it off */
        uint64_t context = p.device.kind == VF_DEVICE_GPU && c->placement != VF_PLACE_CPU &&
                                   engine != VF_ENGINE_VLLM && c->total_bytes
                               ? vf_cuda_context_bytes(&p.device, engine == VF_ENGINE_KOKORO, NULL, 0)
                               : 0;
        *bytes = c->total_bytes > context ? c->total_bytes - context : 0;
        if (c->placement == VF_PLACE_CPU && p.device.kind == VF_DEVICE_GPU)
            *bytes = 0;
    }
    vf_plan_free(&p);
    return ok;
}

int vf_choose(const struct vf_plan_req *req, const char *llm, const char *stt, struct vf_plan *p,
              char *err, size_t errlen) {
    const bool gpu = req->device.kind == VF_DEVICE_GPU;
    const bool vllm = req->llm_engine == VF_ENGINE_VLLM;
    const bool ct2 = req->stt_engine == VF_ENGINE_FASTER_WHISPER;
    struct cand *L = NULL, *S = NULL;
    size_t nL = 0, nS = 0;
    int rc = VF_OK;
    /* a model the user named must exist before anything is chosen around it */
    const char *named[2] = {llm, stt};
    const enum vf_role roles[2] = {VF_ROLE_LLM, VF_ROLE_STT};
    const enum vf_engine engines[2] = {req->llm_engine, req->stt_engine};
    for (int k = 0; k < 2; k++) {
        if (!named[k] || !strcmp(named[k], "none"))
            continue;
        struct vf_model m;
        rc = vf_model_resolve(named[k], roles[k], vf_engine_name(engines[k]), &m, err, errlen);
        vf_model_free(&m);
        if (rc)
            return rc;
    }
    /* LLM candidates */
    static const char *gguf_q[] = {"Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "IQ4_XS", "Q3_K_M"};
    static const char *hf_q[] = {"BF16", "FP8", "AWQ"};
    size_t maxL = llm ? 1 : vf_catalog_llm_count() * 6;
    L = vf_calloc(maxL, sizeof *L);
    size_t maxS = stt ? 1 : vf_catalog_whisper_count() * 2;
    S = vf_calloc(maxS, sizeof *S);
    if (!L || !S) {
        rc = VF_ERR_NOMEM;
        goto out;
    }
    if (llm) {
        vf_strlcpy(L[0].id, llm, sizeof L[0].id);
        nL = 1;
    } else {
        for (size_t i = 0; i < vf_catalog_llm_count(); i++) {
            const struct vf_cat_llm *c = vf_catalog_llm(i);
            if (vllm) {
                for (size_t q = 0; q < VF_ARRAY_LEN(hf_q); q++) {
                    const char *repo = q == 0 ? c->hf : q == 1 ? c->fp8 : c->awq;
                    if (!repo || (c->n_expert && q == 2))
                        continue;
                    vf_strlcpy(L[nL].id, repo, sizeof L[nL].id);
                    L[nL++].score = c->quality - vf_quant_penalty(hf_q[q]);
                }
            } else if (c->gguf) {
                for (size_t q = 0; q < VF_ARRAY_LEN(gguf_q); q++) {
                    snprintf(L[nL].id, sizeof L[nL].id, "%s:%s", c->gguf, gguf_q[q]);
                    L[nL++].score = c->quality - vf_quant_penalty(gguf_q[q]);
                }
            }
        }
    }
    if (stt) {
        vf_strlcpy(S[0].id, stt, sizeof S[0].id);
        nS = 1;
    } else {
        for (size_t i = 0; i < vf_catalog_whisper_count(); i++) {
            const struct vf_cat_whisper *w = vf_catalog_whisper(i);
            if (ct2) {
                const char *types[] = {gpu ? "float16" : "int8", gpu ? "int8_float16" : NULL};
                for (size_t t = 0; t < 2 && types[t]; t++) {
                    snprintf(S[nS].id, sizeof S[nS].id, "%s:%s", w->name, types[t]);
                    S[nS++].score = w->quality - (t ? 0.2 : 0);
                }
            } else {
                vf_strlcpy(S[nS].id, w->name, sizeof S[nS].id);
                S[nS++].score = w->quality;
            }
        }
    }
    /* size the fixed parts */
    const char *tts = req->tts ? req->tts : "kokoro-82m";
    uint64_t tts_bytes = 0;
    bool tts_gpu_proc = false;
    if (strcmp(tts, "none")) {
        if (!size_one(req, VF_ROLE_TTS, tts, VF_ENGINE_KOKORO, 0, &tts_bytes, NULL)) {
            vf_errf(err, errlen, "cannot size the TTS model %s", tts);
            rc = VF_ERR_NOTFOUND;
            goto out;
        }
        tts_gpu_proc = tts_bytes > 0;
    }
    for (size_t i = 0; i < nS; i++)
        S[i].ok = !strcmp(S[i].id, "none") ||
                  size_one(req, VF_ROLE_STT, S[i].id, req->stt_engine, 0, &S[i].bytes, NULL);
    const uint64_t ctx_c = gpu ? vf_cuda_context_bytes(&req->device, false, NULL, 0) : 0;
    const uint64_t ctx_py = gpu ? vf_cuda_context_bytes(&req->device, true, NULL, 0) : 0;
    const int64_t avail = (int64_t)req->device.free_bytes - (int64_t)req->margin_bytes -
                          (tts_gpu_proc ? (int64_t)(tts_bytes + ctx_py) : 0);
    if (!vllm)
        for (size_t i = 0; i < nL; i++)
            L[i].ok = !strcmp(L[i].id, "none") ||
                      size_one(req, VF_ROLE_LLM, L[i].id, req->llm_engine, 0, &L[i].bytes, NULL);
    /* On a CPU, decoding reads every weight once per token: a model is only
     * usable for conversation if memory bandwidth / size gives about
     * VF_CHOOSE_MIN_TPS tokens per second; and Whisper beyond "small" is
     * slower than real time on a few cores. Only models the user did not
     * name are subject to this. */
    if (!gpu) {
        for (size_t i = 0; !llm && i < nL; i++)
            if (L[i].ok && (double)L[i].bytes > VF_CHOOSE_CPU_BANDWIDTH / VF_CHOOSE_MIN_TPS)
                L[i].ok = false;
        for (size_t j = 0; !stt && j < nS; j++) {
            const struct vf_cat_whisper *w = vf_catalog_find_whisper(S[j].id);
            if (w && w->n_params > 250)
                S[j].ok = false;
        }
    }
    double best = -1e9;
    size_t bi = 0, bj = 0;
    bool found = false;
    for (size_t j = 0; j < nS; j++) {
        if (!S[j].ok)
            continue;
        for (size_t i = 0; i < nL; i++) {
            double score = L[i].score + S[j].score;
            if (score <= best)
                continue;
            int64_t need;
            if (vllm) {
                /* the STT process (its own when faster-whisper, voxfit's when embedded) */
                int64_t stt_need = S[j].bytes ? (int64_t)(S[j].bytes + ctx_c) : 0;
                int64_t left = avail - stt_need - (int64_t)ctx_py;
                if (left <= 0)
                    continue;
                double u = floor((double)left / (double)req->device.total_bytes * 1000.0) / 1000.0;
                uint64_t b, kv;
                if (!size_one(req, VF_ROLE_LLM, L[i].id, VF_ENGINE_VLLM, u, &b, &kv))
                    continue;
                need = 0;
            } else {
                if (!L[i].ok)
                    continue;
                /* llama.cpp and embedded whisper share voxfit's process */
                bool shared = !ct2;
                uint64_t ctxs = 0;
                if (gpu && L[i].bytes)
                    ctxs += ctx_c;
                if (gpu && S[j].bytes && (!shared || !L[i].bytes))
                    ctxs += ctx_c;
                need = (int64_t)(L[i].bytes + S[j].bytes + ctxs);
            }
            if (need <= avail) {
                best = score;
                bi = i;
                bj = j;
                found = true;
            }
        }
    }
    if (!found) {
        char b[32];
        vf_errf(err, errlen, "no catalog stack fits %s of free memory with %s context "
                "(try --device cpu, a smaller --ctx or another --llm-engine)",
                vf_fmt_bytes(req->device.free_bytes, b, sizeof b),
                req->min_ctx ? "the minimum" : "any");
        rc = VF_ERR_FIT;
        goto out;
    }
    {
        struct vf_plan_req r = *req;
        r.llm = L[bi].id;
        r.stt = S[bj].id;
        r.tts = tts;
        rc = vf_plan_make(&r, p, err, errlen);
        if (!rc && !llm)
            vf_strlist_addf(&p->warnings, "chose %s and %s: the best stack that fits (quality "
                            "index %.1f)", L[bi].id, S[bj].id, best);
    }
out:
    vf_free(L);
    vf_free(S);
    return rc;
}
