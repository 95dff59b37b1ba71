/* plan.c - making a plan: resolve or choose each role's model, apply the
 * flags the user pinned, pick the settings left free (the longest context
 * that fits, vLLM's utilization fraction), compute every component with its
 * engine's memory model, and add one CUDA context per process. */
#include "plan.h"
#include "choose.h"
#include "engine_args.h"
#include "../core/reader.h"
#include "../core/str.h"
#include "../model/catalog.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *vf_engine_name(enum vf_engine e) {
    static const char *n[] = {"llama.cpp", "vllm", "whisper", "faster-whisper", "kokoro", "espeak"};
    return e < VF_ENGINE_COUNT ? n[e] : "?";
}

enum vf_engine vf_engine_from_name(const char *s) {
    static const struct {
        const char *n;
        enum vf_engine e;
    } rows[] = {{"llama.cpp", VF_ENGINE_LLAMACPP}, {"llamacpp", VF_ENGINE_LLAMACPP},
                {"llama-server", VF_ENGINE_LLAMACPP}, {"vllm", VF_ENGINE_VLLM},
                {"whisper", VF_ENGINE_WHISPER}, {"whisper.cpp", VF_ENGINE_WHISPER},
                {"faster-whisper", VF_ENGINE_FASTER_WHISPER}, {"ctranslate2", VF_ENGINE_FASTER_WHISPER},
                {"kokoro", VF_ENGINE_KOKORO}, {"espeak", VF_ENGINE_ESPEAK}, {"espeak-ng", VF_ENGINE_ESPEAK}};
    for (size_t i = 0; i < VF_ARRAY_LEN(rows); i++)
        if (!vf_strcasecmp(rows[i].n, s))
            return rows[i].e;
    return VF_ENGINE_COUNT;
}

const char *vf_placement_name(enum vf_placement p) {
    return p == VF_PLACE_GPU ? "gpu" : p == VF_PLACE_CPU ? "cpu" : "split";
}

void vf_component_free(struct vf_component *c) {
    vf_model_free(&c->model);
    vf_strlist_free(&c->explain);
    memset(c, 0, sizeof *c);
}

void vf_plan_init(struct vf_plan *p) { memset(p, 0, sizeof *p); }

void vf_plan_free(struct vf_plan *p) {
    for (int i = 0; i < VF_PLAN_COMPONENTS; i++)
        vf_component_free(&p->comp[i]);
    vf_strlist_free(&p->warnings);
    vf_strlist_free(&p->errors);
    vf_strlist_free(&p->problems);
    memset(p, 0, sizeof *p);
}

void vf_plan_req_default(struct vf_plan_req *r) {
    memset(r, 0, sizeof *r);
    r->llm_engine = VF_ENGINE_LLAMACPP;
    r->stt_engine = VF_ENGINE_WHISPER;
    r->min_ctx = 4096;
    r->sessions = 1;
    r->margin_bytes = 512 * VF_MIB;
    r->kv_type = VF_DT_INVALID;
}

/* The driver context, the per-thread stack the driver reserves on every SM,
 * and the runtime's kernels (measured on an H100 with lazy loading: a C/C++
 * process with cuBLAS 586 MiB, a warmed-up PyTorch process 676 MiB outside
 * torch's allocator; docs/internals/cuda-context.md). */
uint64_t vf_cuda_context_bytes(const struct vf_device *dev, bool pytorch, char *explain, size_t n) {
    const uint64_t base = 254 * VF_MIB;
    int threads = dev->cc_major == 7 ? 1024
                : (dev->cc_major == 8 && dev->cc_minor == 0) || dev->cc_major == 9 || dev->cc_major == 10
                    ? 2048 : 1536;
    int sms = dev->sm_count ? dev->sm_count : 80;
    uint64_t stack = (uint64_t)sms * (uint64_t)threads * 1024;
    uint64_t runtime = pytorch ? 158 * VF_MIB : 68 * VF_MIB;
    uint64_t total = base + stack + runtime;
    if (explain) {
        char b[32];
        snprintf(explain, n, "CUDA context = 254 MiB driver + %d SMs x %d threads x 1 KiB stack + "
                 "%s = %s", sms, threads, pytorch ? "158 MiB PyTorch kernels" : "68 MiB cuBLAS",
                 vf_fmt_bytes(total, b, sizeof b));
    }
    return total;
}

static void comp_sum(struct vf_component *c) {
    c->total_bytes = c->weights_bytes + c->kv_bytes + c->compute_bytes + c->overhead_bytes;
}

void vf_plan_total(struct vf_plan *p) {
    p->total_bytes = 0;
    for (int i = 0; i < VF_PLAN_COMPONENTS; i++)
        if (p->comp[i].present)
            p->total_bytes += p->comp[i].total_bytes;
    p->free_after_bytes = (int64_t)p->device.free_bytes - (int64_t)p->total_bytes;
    p->fits = p->errors.n == 0 && p->free_after_bytes >= (int64_t)p->margin_bytes;
}

/* ---- engine defaults and pinned flags ---- */

static void llama_defaults(struct vf_llama_cfg *c, const struct vf_plan_req *req) {
    memset(c, 0, sizeof *c);
    c->n_gpu_layers = -1;
    c->n_batch = 2048;
    c->n_ubatch = 512;
    c->n_seq_max = req->sessions ? req->sessions : 1;
    c->type_k = c->type_v = req->kv_type != VF_DT_INVALID ? req->kv_type : VF_DT_F16;
    c->flash_attn = -1;
    c->kv_unified = c->n_seq_max > 1;  /* as llama-server does for several slots */
    c->swa_full = false;
    c->mmap = true;
    c->offload_kqv = true;
}

static void llama_apply(struct vf_llama_cfg *c, const struct vf_pinned *p) {
    uint32_t s = p->llama_set;
    if (s & VF_PIN_NGL) c->n_gpu_layers = p->llama.n_gpu_layers;
    if (s & VF_PIN_CTX) c->n_ctx = p->llama.n_ctx;
    if (s & VF_PIN_BATCH) c->n_batch = p->llama.n_batch;
    if (s & VF_PIN_UBATCH) c->n_ubatch = p->llama.n_ubatch;
    if (s & VF_PIN_NSEQ) c->n_seq_max = p->llama.n_seq_max;
    if (s & VF_PIN_TYPE_K) c->type_k = p->llama.type_k;
    if (s & VF_PIN_TYPE_V) c->type_v = p->llama.type_v;
    if (s & VF_PIN_FA) c->flash_attn = p->llama.flash_attn;
    if (s & VF_PIN_KVU) c->kv_unified = p->llama.kv_unified;
    if (s & VF_PIN_MMAP) c->mmap = p->llama.mmap;
    if (s & VF_PIN_KQV) c->offload_kqv = p->llama.offload_kqv;
    if (s & VF_PIN_SWA) c->swa_full = p->llama.swa_full;
}

static void vllm_apply(struct vf_vllm_cfg *c, const struct vf_pinned *p) {
    uint32_t s = p->vllm_set;
    if (s & VF_PIN_UTIL) c->gpu_memory_utilization = p->vllm.gpu_memory_utilization;
    if (s & VF_PIN_MAXLEN) c->max_model_len = p->vllm.max_model_len;
    if (s & VF_PIN_MAXSEQS) c->max_num_seqs = p->vllm.max_num_seqs;
    if (s & VF_PIN_MAXBT) c->max_num_batched_tokens = p->vllm.max_num_batched_tokens;
    if (s & VF_PIN_KVDT) c->kv_cache_dtype = p->vllm.kv_cache_dtype;
    if (s & VF_PIN_EAGER) c->enforce_eager = p->vllm.enforce_eager;
    if (s & VF_PIN_BLOCK) c->block_size = p->vllm.block_size;
    if (s & VF_PIN_TP) c->tensor_parallel_size = p->vllm.tensor_parallel_size;
    if (s & VF_PIN_KVMEM) c->kv_cache_memory_bytes = p->vllm.kv_cache_memory_bytes;
    if (s & VF_PIN_DTYPE) vf_strlcpy(c->dtype, p->vllm.dtype, sizeof c->dtype);
    if (s & VF_PIN_CHUNKED) c->enable_chunked_prefill = p->vllm.enable_chunked_prefill;
}

/* ---- components ---- */

static int eval_component(struct vf_component *c, const struct vf_device *dev,
                          struct vf_strlist *errors) {
    vf_strlist_clear(&c->explain);
    c->weights_bytes = c->kv_bytes = c->compute_bytes = c->overhead_bytes = c->host_bytes = 0;
    int rc;
    switch (c->engine) {
    case VF_ENGINE_LLAMACPP: rc = vf_mem_llamacpp(c, dev); break;
    case VF_ENGINE_VLLM: rc = vf_mem_vllm(c, dev, errors); break;
    case VF_ENGINE_WHISPER:
    case VF_ENGINE_FASTER_WHISPER: rc = vf_mem_whisper(c, dev); break;
    default: rc = vf_mem_tts(c, dev); break;
    }
    comp_sum(c);
    return rc;
}

/* Process numbers: 0 is voxfit itself (embedded llama.cpp, whisper,
 * espeak); external servers each run in their own process. */
static int process_of(enum vf_engine e) {
    switch (e) {
    case VF_ENGINE_LLAMACPP: case VF_ENGINE_WHISPER: case VF_ENGINE_ESPEAK: return 0;
    case VF_ENGINE_VLLM: return 1;
    case VF_ENGINE_FASTER_WHISPER: return 2;
    default: return 3;
    }
}

/* Add each GPU process's CUDA context to its first component on the GPU.
 * vLLM accounts its own (outside its budget) in mem_vllm.c. */
static void add_contexts(struct vf_plan *p) {
    if (p->device.kind != VF_DEVICE_GPU)
        return;
    bool done[4] = {false, false, false, false};
    done[1] = true;
    for (int i = 0; i < VF_PLAN_COMPONENTS; i++) {
        struct vf_component *c = &p->comp[i];
        if (!c->present || c->placement == VF_PLACE_CPU || done[c->process])
            continue;
        if (!c->weights_bytes && !c->kv_bytes && !c->compute_bytes)
            continue;
        char line[256];
        bool py = c->engine == VF_ENGINE_KOKORO;
        c->overhead_bytes += vf_cuda_context_bytes(&p->device, py, line, sizeof line);
        vf_strlist_addf(&c->explain, "%s (%s process)", line,
                        c->process == 0 ? "voxfit" : vf_engine_name(c->engine));
        comp_sum(c);
        done[c->process] = true;
    }
}

/* Everything but the LLM: their sizes do not depend on the others. */
static uint64_t others_bytes(const struct vf_plan *p) {
    uint64_t s = 0;
    for (int i = 0; i < VF_PLAN_COMPONENTS; i++)
        if (p->comp[i].present && i != VF_ROLE_LLM)
            s += p->comp[i].total_bytes;
    return s;
}

/* Evaluate the whole plan for the current settings. */
static void evaluate(struct vf_plan *p) {
    vf_strlist_clear(&p->errors);
    for (int i = 0; i < VF_PLAN_COMPONENTS; i++) {
        struct vf_component *c = &p->comp[i];
        if (!c->present)
            continue;
        int rc = eval_component(c, &p->device, &p->errors);
        if (rc && rc != VF_ERR_FIT)
            vf_strlist_addf(&p->errors, "%s (%s): %s", vf_role_name(c->role), c->model.name,
                            c->explain.n ? c->explain.v[c->explain.n - 1] : vf_status_str(rc));
    }
    add_contexts(p);
    vf_plan_total(p);
}

/* The largest llama.cpp context (per conversation, multiple of 256) in
 * [lo, hi] for which the plan still fits; 0 when even lo does not. */
static uint32_t fit_llama_ctx(struct vf_plan *p, uint32_t lo, uint32_t hi, uint32_t sessions) {
    struct vf_component *c = &p->comp[VF_ROLE_LLM];
    uint32_t best = 0;
    lo = (uint32_t)VF_PAD(lo, 256);
    hi = hi / 256 * 256;
    if (hi < lo)
        hi = lo;
    while (lo <= hi) {
        uint32_t mid = (lo / 256 + hi / 256) / 2 * 256;
        c->llama.n_ctx = mid * sessions;
        evaluate(p);
        if (p->fits) {
            best = mid;
            lo = mid + 256;
        } else {
            if (mid < 256 + 256)
                break;
            hi = mid - 256;
        }
    }
    return best;
}

static int resolve(const char *ref, enum vf_role role, enum vf_engine engine, struct vf_model *m,
                   char *err, size_t errlen) {
    return vf_model_resolve(ref, role, vf_engine_name(engine), m, err, errlen);
}

/* Plan the LLM's free settings once the others are in place. */
static void plan_llm(struct vf_plan *p, const struct vf_plan_req *req, const struct vf_pinned *pin) {
    struct vf_component *c = &p->comp[VF_ROLE_LLM];
    uint32_t sessions = req->sessions ? req->sessions : 1;
    uint32_t train = c->model.llm.n_ctx_train ? c->model.llm.n_ctx_train : 4096;
    uint32_t hi = req->max_ctx ? VF_MIN(req->max_ctx, train) : train;
    if (c->engine == VF_ENGINE_LLAMACPP) {
        bool ngl_pinned = pin && (pin->llama_set & VF_PIN_NGL);
        if (pin && (pin->llama_set & VF_PIN_CTX) && c->llama.n_ctx) {
            evaluate(p);
            return;
        }
        uint32_t best = fit_llama_ctx(p, req->min_ctx, hi, sessions);
        if (!best && !ngl_pinned && p->device.kind == VF_DEVICE_GPU) {
            /* partial offload: the most layers that fit at the minimum context */
            for (int32_t ngl = (int32_t)c->model.llm.n_layer; ngl >= 0; ngl--) {
                c->llama.n_gpu_layers = ngl;
                c->llama.n_ctx = req->min_ctx * sessions;
                evaluate(p);
                if (p->fits) {
                    vf_strlist_addf(&p->warnings, "the LLM does not fit whole: %d of %u layers on the "
                                    "GPU, the rest on the CPU (slower)", ngl, c->model.llm.n_layer);
                    best = fit_llama_ctx(p, req->min_ctx, hi, sessions);
                    break;
                }
            }
        }
        c->llama.n_ctx = (best ? best : (uint32_t)VF_PAD(req->min_ctx, 256)) * sessions;
        evaluate(p);
        /* One unified cache lets any sequence grow to n_ctx, past the
         * training context once the sessions' shares add up beyond it
         * (llama.cpp warns, and a long conversation degrades): then give
         * each sequence its own n_ctx / sessions cells instead. */
        if (sessions > 1 && c->llama.kv_unified && c->llama.n_ctx > train &&
            !(pin && (pin->llama_set & VF_PIN_KVU))) {
            bool fit = p->fits;
            c->llama.kv_unified = false;
            evaluate(p);
            if (fit && !p->fits) {
                c->llama.kv_unified = true;
                evaluate(p);
            }
        }
        return;
    }
    /* vLLM: give it all the memory the others leave, as a utilization */
    if (c->engine == VF_ENGINE_VLLM && p->device.kind == VF_DEVICE_GPU) {
        bool util_pinned = pin && (pin->vllm_set & VF_PIN_UTIL);
        bool len_pinned = pin && (pin->vllm_set & VF_PIN_MAXLEN);
        evaluate(p);
        if (!util_pinned) {
            uint64_t outside = vf_cuda_context_bytes(&p->device, true, NULL, 0);
            int64_t avail = (int64_t)p->device.free_bytes - (int64_t)req->margin_bytes -
                            (int64_t)others_bytes(p) - (int64_t)outside;
            double u = avail > 0 ? floor((double)avail / (double)p->device.total_bytes * 1000.0) / 1000.0 : 0.0;
            if (u > 0.95)
                u = 0.95;
            c->vllm.gpu_memory_utilization = u > 0 ? u : 0.01;
        }
        if (!(pin && (pin->vllm_set & VF_PIN_MAXSEQS))) {
            /* a voice assistant serves a few conversations: vLLM's default of
             * 256-1024 sequences would spend GiBs on the sampler's profile peak */
            c->vllm.max_num_seqs = VF_MAX(16u, 4 * sessions);
        }
        if (!len_pinned) {
            c->vllm.max_model_len = VF_MIN(hi, (uint32_t)VF_MAX(req->min_ctx, 256));
            evaluate(p);
            uint64_t per = c->vllm.kv_tokens / sessions;
            uint32_t len = (uint32_t)VF_MIN((uint64_t)hi, per);
            /* the profile peak depends on max_model_len: settle on the longest
             * length vLLM accepts (a few rounds, shrinking to its own estimate) */
            for (int round = 0; round < 6 && len >= req->min_ctx; round++) {
                c->vllm.max_model_len = len;
                evaluate(p);
                if (!p->errors.n)
                    break;
                uint32_t fit = c->vllm.max_model_len_fit;
                uint32_t next = fit && fit < len ? fit : len - VF_MAX(16u, len / 64);
                len = next / 16 * 16;
            }
            if (p->errors.n || len < req->min_ctx) {
                c->vllm.max_model_len = VF_MIN(hi, (uint32_t)VF_MAX(req->min_ctx, 256));
                evaluate(p);
            }
        } else {
            evaluate(p);
        }
        return;
    }
    evaluate(p);
}

static int add_component(struct vf_plan *p, enum vf_role role, const char *ref, enum vf_engine engine,
                         const struct vf_plan_req *req, char *err, size_t errlen) {
    struct vf_component *c = &p->comp[role];
    memset(c, 0, sizeof *c);
    c->role = role;
    c->engine = engine;
    int rc = resolve(ref, role, engine, &c->model, err, errlen);
    if (rc)
        return rc;
    c->present = true;
    c->process = process_of(engine);
    if (role == VF_ROLE_LLM) {
        if (c->model.format == VF_FMT_GGUF && engine == VF_ENGINE_VLLM)
            vf_strlist_addf(&p->warnings, "%s is a GGUF file: vLLM's GGUF support is experimental; "
                            "llama.cpp is the engine for it", c->model.name);
        if (c->model.format == VF_FMT_HF && engine == VF_ENGINE_LLAMACPP) {
            vf_errf(err, errlen, "%s is a safetensors checkpoint: llama.cpp needs a GGUF file "
                    "(use %s:Q4_K_M or --llm-engine vllm)", c->model.id, c->model.name);
            return VF_ERR_ARG;
        }
        llama_defaults(&c->llama, req);
        c->vllm.kv_cache_dtype = req->kv_type == VF_DT_F8_E4M3 ? VF_DT_F8_E4M3 : VF_DT_F16;
        c->vllm.enable_chunked_prefill = true;
        c->vllm.tensor_parallel_size = 1;
        vf_strlcpy(c->vllm.version, req->vllm_version ? req->vllm_version : "", sizeof c->vllm.version);
        vf_strlcpy(c->vllm.dtype, "auto", sizeof c->vllm.dtype);
    } else if (role == VF_ROLE_STT) {
        c->whisper.beam_size = 5;  /* whisper.cpp's server and faster-whisper both default to 5 */
        c->whisper.sessions = req->sessions ? req->sessions : 1;
        c->whisper.on_gpu = p->device.kind == VF_DEVICE_GPU;
        c->whisper.flash_attn = true;
        vf_strlcpy(c->whisper.compute_type, c->model.quant, sizeof c->whisper.compute_type);
    } else {
        c->tts.on_gpu = req->tts_gpu && p->device.kind == VF_DEVICE_GPU;
        vf_strlcpy(c->tts.voice, "af_heart", sizeof c->tts.voice);
        if (!c->model.n_params)
            c->engine = VF_ENGINE_ESPEAK;
        c->process = process_of(c->engine);
    }
    return VF_OK;
}

int vf_plan_make(const struct vf_plan_req *req, struct vf_plan *p, char *err, size_t errlen) {
    vf_plan_init(p);
    p->device = req->device;
    p->margin_bytes = req->margin_bytes;
    struct vf_pinned llm_pin, stt_pin;
    memset(&llm_pin, 0, sizeof llm_pin);
    memset(&stt_pin, 0, sizeof stt_pin);
    int rc;
    if (req->llm_args && (rc = vf_engine_args_parse_line(req->llm_engine, req->llm_args, &llm_pin,
                                                         &p->warnings, err, errlen)))
        return rc;
    if (req->stt_args && (rc = vf_engine_args_parse_line(req->stt_engine, req->stt_args, &stt_pin,
                                                         &p->warnings, err, errlen)))
        return rc;
    if (req->device.kind == VF_DEVICE_CPU && req->llm_engine == VF_ENGINE_VLLM) {
        vf_errf(err, errlen, "vLLM needs a GPU; plan a CPU machine with --llm-engine llama.cpp");
        return VF_ERR_ARG;
    }
    /* models: named, pinned through the flags, or chosen */
    const char *llm = req->llm ? req->llm : llm_pin.has_model ? llm_pin.model : NULL;
    const char *stt = req->stt ? req->stt : stt_pin.has_model ? stt_pin.model : NULL;
    if (!llm || !stt)
        return vf_choose(req, llm, stt, p, err, errlen);
    if (strcmp(stt, "none") && (rc = add_component(p, VF_ROLE_STT, stt, req->stt_engine, req, err, errlen)))
        return rc;
    const char *tts = req->tts ? req->tts : "kokoro-82m";
    if (strcmp(tts, "none") && (rc = add_component(p, VF_ROLE_TTS, tts, VF_ENGINE_KOKORO, req, err, errlen)))
        return rc;
    if (strcmp(llm, "none") && (rc = add_component(p, VF_ROLE_LLM, llm, req->llm_engine, req, err, errlen)))
        return rc;
    struct vf_component *sc = &p->comp[VF_ROLE_STT];
    if (sc->present) {
        if (stt_pin.whisper_set & VF_PIN_COMPUTE)
            vf_strlcpy(sc->whisper.compute_type, stt_pin.whisper.compute_type, sizeof sc->whisper.compute_type);
        if (stt_pin.whisper_set & VF_PIN_BEAM)
            sc->whisper.beam_size = stt_pin.whisper.beam_size;
        if (stt_pin.whisper_set & VF_PIN_DEVICE)
            sc->whisper.on_gpu = stt_pin.whisper.on_gpu;
        if (stt_pin.whisper_set & VF_PIN_WFA)
            sc->whisper.flash_attn = stt_pin.whisper.flash_attn;
        if (sc->engine == VF_ENGINE_FASTER_WHISPER && (stt_pin.whisper_set & VF_PIN_COMPUTE)) {
            /* the compute type decides the weight storage: rebuild the tensors */
            struct vf_model m;
            char e2[256];
            char ref[300];
            snprintf(ref, sizeof ref, "%s:%s", sc->model.name, sc->whisper.compute_type);
            if (vf_catalog_resolve(ref, VF_ROLE_STT, "faster-whisper", &m, e2, sizeof e2) == VF_OK) {
                vf_model_free(&sc->model);
                sc->model = m;
            }
        }
    }
    struct vf_component *lc = &p->comp[VF_ROLE_LLM];
    if (lc->present) {
        llama_apply(&lc->llama, &llm_pin);
        vllm_apply(&lc->vllm, &llm_pin);
    }
    evaluate(p);
    if (lc->present)
        plan_llm(p, req, &llm_pin);
    return VF_OK;
}
