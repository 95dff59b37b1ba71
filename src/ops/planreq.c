/* planreq.c - see planreq.h. The device rules follow cmd_plan.c exactly
 * (a catalog card, a bare size, the CPU, or the first GPU NVML finds), so
 * `voxfit up` and `voxfit pull --auto` plan what `voxfit plan` shows. */
#include "planreq.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void vf_planflags_default(struct vf_planflags *f) {
    memset(f, 0, sizeof *f);
    f->device = "auto";
    f->llm_engine = "llama.cpp";
    f->stt_engine = "whisper";
    f->tts_device = "cpu";
    f->vllm_version = "";
    f->margin = 512 * VF_MIB;
    f->ctx = 4096;
    f->sessions = 1;
}

size_t vf_planflags_opts(struct vf_planflags *f, struct vf_opt *o) {
    static const char *const dev_ch[] = {"auto", "gpu", "cpu", NULL};
    static const char *const llm_eng[] = {"llama.cpp", "vllm", NULL};
    static const char *const stt_eng[] = {"whisper", "faster-whisper", NULL};
    static const char *const tts_dev[] = {"cpu", "gpu", NULL};
    static const char *const kv_ch[] = {"f16", "q8_0", "q4_0", "fp8", NULL};
    const struct vf_opt rows[VF_PLANFLAGS_N] = {
        {"--gpu", NULL, VF_OPT_STR, &f->gpu, "NAME", "plan for a catalog GPU (as voxfit plan)",
         NULL, 0, 0, 0, 0, NULL, NULL},
        {"--vram", NULL, VF_OPT_SIZE, &f->vram, "SIZE", "plan for a GPU of this size", NULL, 0, 0,
         0, 0, NULL, NULL},
        {"--device", NULL, VF_OPT_CHOICE, &f->device, "D",
         "auto: the GPUs NVML finds, else the CPU", "auto", 0, 0, 0, 0, dev_ch, NULL},
        {"--used", NULL, VF_OPT_SIZE, &f->used, "SIZE",
         "memory other processes hold on a --gpu/--vram card", "0", 0, 0, 0, 0, NULL, &f->used_set},
        {"--llm", NULL, VF_OPT_STR, &f->llm, "MODEL", "LLM: catalog id or file; 'none'", "chosen",
         0, 0, 0, 0, NULL, NULL},
        {"--llm-engine", NULL, VF_OPT_CHOICE, &f->llm_engine, "E", "engine for the LLM",
         "llama.cpp", 0, 0, 0, 0, llm_eng, NULL},
        {"--stt", NULL, VF_OPT_STR, &f->stt, "MODEL",
         "Whisper: catalog name, ggml .bin or CTranslate2 folder; 'none'", "chosen", 0, 0, 0, 0,
         NULL, NULL},
        {"--stt-engine", NULL, VF_OPT_CHOICE, &f->stt_engine, "E", "engine for speech-to-text",
         "whisper", 0, 0, 0, 0, stt_eng, NULL},
        {"--tts", NULL, VF_OPT_STR, &f->tts, "MODEL", "TTS: kokoro-82m or espeak; 'none'",
         "kokoro-82m", 0, 0, 0, 0, NULL, NULL},
        {"--tts-device", NULL, VF_OPT_CHOICE, &f->tts_device, "D", "where the TTS runs", "cpu", 0,
         0, 0, 0, tts_dev, NULL},
        {"--llm-args", NULL, VF_OPT_STR, &f->llm_args, "'FLAGS'",
         "the LLM engine's own flags, pinned", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--stt-args", NULL, VF_OPT_STR, &f->stt_args, "'FLAGS'",
         "the STT engine's own flags, pinned", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--ctx", NULL, VF_OPT_INT, &f->ctx, "N", "minimum context per conversation", "4096", 256,
         1 << 24, 0, 0, NULL, NULL},
        {"--max-ctx", NULL, VF_OPT_INT, &f->max_ctx, "N",
         "largest context to plan (0: the model's)", "0", 0, 1 << 24, 0, 0, NULL, NULL},
        {"--sessions", NULL, VF_OPT_INT, &f->sessions, "N", "concurrent conversations", "1", 1, 256,
         0, 0, NULL, NULL},
        {"--margin", NULL, VF_OPT_SIZE, &f->margin, "SIZE", "free memory to keep", "512MiB", 0, 0,
         0, 0, NULL, NULL},
        {"--kv-type", NULL, VF_OPT_CHOICE, &f->kv_type, "T", "KV cache type (fp8: vLLM only)",
         "f16", 0, 0, 0, 0, kv_ch, NULL},
        {"--vllm-version", NULL, VF_OPT_STR, &f->vllm_version, "X.Y", "vLLM release to predict",
         "newest", 0, 0, 0, 0, NULL, NULL},
    };
    memcpy(o, rows, sizeof rows);
    return VF_PLANFLAGS_N;
}

int vf_planflags_req(const struct vf_planflags *f, struct vf_plan_req *req, const char *prog,
                     bool quiet) {
    vf_plan_req_default(req);
    if (f->gpu && f->vram) {
        fprintf(stderr, "%s: give --gpu or --vram, not both\n", prog);
        return 2;
    }
    if (f->gpu) {
        const struct vf_gpu_spec *s = vf_gpu_find(f->gpu);
        if (!s) {
            fprintf(stderr,
                    "%s: unknown GPU '%s' (see voxfit plan --list-gpus, or give --vram SIZE)\n",
                    prog, f->gpu);
            return 2;
        }
        vf_device_from_spec(s, &req->device);
    } else if (f->vram) {
        vf_device_from_vram(f->vram, &req->device);
    } else if (!strcmp(f->device, "cpu")) {
        if (vf_device_cpu(&req->device)) {
            fprintf(stderr, "%s: cannot read the system memory (/proc/meminfo)\n", prog);
            return 1;
        }
    } else {
        struct vf_device devs[8];
        int n = 0;
        vf_device_detect(devs, 8, &n);
        if (n > 0) {
            req->device = devs[0];
        } else if (!strcmp(f->device, "gpu")) {
            fprintf(stderr,
                    "%s: no NVIDIA GPU found (no driver / NVML); use --gpu NAME or --vram SIZE\n",
                    prog);
            return 1;
        } else {
            if (vf_device_cpu(&req->device)) {
                fprintf(stderr, "%s: no GPU found and the system memory is unreadable\n", prog);
                return 1;
            }
            if (!quiet)
                fprintf(stderr, "%s: no GPU found; planning system RAM\n", prog);
        }
    }
    if (f->used_set) {
        if (f->used > req->device.total_bytes) {
            fprintf(stderr, "%s: --used is larger than the device\n", prog);
            return 2;
        }
        req->device.used_by_others = f->used;
        req->device.free_bytes = req->device.total_bytes - f->used;
    }
    req->llm = f->llm;
    req->stt = f->stt;
    req->tts = f->tts;
    req->llm_engine = vf_engine_from_name(f->llm_engine);
    req->stt_engine = vf_engine_from_name(f->stt_engine);
    req->tts_gpu = !strcmp(f->tts_device, "gpu");
    req->llm_args = f->llm_args;
    req->stt_args = f->stt_args;
    req->min_ctx = (uint32_t)f->ctx;
    req->max_ctx = (uint32_t)f->max_ctx;
    req->sessions = (uint32_t)f->sessions;
    req->margin_bytes = f->margin;
    req->vllm_version = f->vllm_version;
    if (f->kv_type) {
        req->kv_type = !strcmp(f->kv_type, "fp8") ? VF_DT_F8_E4M3 : vf_dtype_from_name(f->kv_type);
        if (req->kv_type == VF_DT_F8_E4M3 && req->llm_engine != VF_ENGINE_VLLM) {
            fprintf(stderr, "%s: --kv-type fp8 is for vLLM; llama.cpp takes f16, q8_0 or q4_0\n",
                    prog);
            return 2;
        }
    }
    return 0;
}

/* ==== Plan files ==== */

static double num(const cJSON *o, const char *k, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static uint64_t u64(const cJSON *o, const char *k) {
    double d = num(o, k, 0);
    return d > 0 && d < 1.8e19 ? (uint64_t)d : 0;
}

/* An integer setting in [lo, hi]; def when absent or out of range (a
 * plan file is input like any other). */
static int64_t int_in(const cJSON *o, const char *k, int64_t def, int64_t lo, int64_t hi) {
    double d = num(o, k, (double)def);
    return d >= (double)lo && d <= (double)hi ? (int64_t)d : def;
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

int vf_planfile_parse(const char *json, size_t len, struct vf_planfile *pf, char *err,
                      size_t errlen) {
    memset(pf, 0, sizeof *pf);
    vf_strlcpy(pf->llm, "none", sizeof pf->llm);
    vf_strlcpy(pf->stt, "none", sizeof pf->stt);
    vf_strlcpy(pf->tts, "none", sizeof pf->tts);
    pf->llm_engine = VF_ENGINE_LLAMACPP;
    pf->stt_engine = VF_ENGINE_WHISPER;
    pf->sessions = 1;
    pf->margin_bytes = 512 * VF_MIB;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        vf_errf(err, errlen, "not JSON (write it with voxfit plan --json)");
        return VF_ERR_FORMAT;
    }
    int rc = VF_OK;
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(root, "device");
    const cJSON *comps = cJSON_GetObjectItemCaseSensitive(root, "components");
    if (!cJSON_IsObject(dev) || !cJSON_IsArray(comps) || !str(dev, "name") ||
        !u64(dev, "total_bytes")) {
        vf_errf(err, errlen,
                "not a voxfit plan: it needs device {name, kind, total_bytes, free_bytes} "
                "and components[] (write it with voxfit plan --json)");
        rc = VF_ERR_FORMAT;
        goto out;
    }
    struct vf_device *d = &pf->device;
    vf_strlcpy(d->name, str(dev, "name"), sizeof d->name);
    const char *kind = str(dev, "kind");
    d->kind = kind && !strcmp(kind, "cpu") ? VF_DEVICE_CPU : VF_DEVICE_GPU;
    d->total_bytes = u64(dev, "total_bytes");
    d->free_bytes = u64(dev, "free_bytes");
    if (!d->free_bytes || d->free_bytes > d->total_bytes)
        d->free_bytes = d->total_bytes;
    d->used_by_others = d->total_bytes - d->free_bytes;
    d->index = -1;
    vf_strlcpy(d->source, str(dev, "source") ? str(dev, "source") : "plan", sizeof d->source);
    const char *cc = str(dev, "compute_capability");
    if (cc)
        sscanf(cc, "%d.%d", &d->cc_major, &d->cc_minor);
    const struct vf_gpu_spec *spec = d->kind == VF_DEVICE_GPU ? vf_gpu_find(d->name) : NULL;
    if (spec) {
        d->sm_count = spec->sm_count;
        if (!d->cc_major) {
            d->cc_major = spec->cc_major;
            d->cc_minor = spec->cc_minor;
        }
    }
    d->host_ram_bytes = vf_host_ram_total();
    if (u64(root, "required_margin_bytes"))
        pf->margin_bytes = u64(root, "required_margin_bytes");
    const cJSON *c;
    cJSON_ArrayForEach(c, comps) {
        const char *role = str(c, "role"), *model = str(c, "model"), *engine = str(c, "engine");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(c, "settings");
        if (!role || !model || !engine) {
            vf_errf(err, errlen, "a component lacks role, model or engine");
            rc = VF_ERR_FORMAT;
            goto out;
        }
        enum vf_engine e = vf_engine_from_name(engine);
        if (e == VF_ENGINE_COUNT) {
            vf_errf(err, errlen, "unknown engine '%s'", engine);
            rc = VF_ERR_FORMAT;
            goto out;
        }
        if (!strcmp(role, "llm")) {
            vf_strlcpy(pf->llm, model, sizeof pf->llm);
            pf->llm_engine = e;
            pf->planned_bytes[VF_ROLE_LLM] = u64(c, "total_bytes");
            char *a = pf->llm_args;
            size_t n = sizeof pf->llm_args;
            if (e == VF_ENGINE_LLAMACPP) {
                uint32_t nseq = (uint32_t)int_in(s, "n_seq_max", 1, 1, 4096);
                pf->sessions = nseq ? nseq : 1;
                /* the JSON says n_layer + 1 for "all layers and the output":
                 * write that as llama.cpp's own "all" (-ngl 999), as emit does */
                int ngl = (int)int_in(s, "n_gpu_layers", 999, -1, 100000);
                struct vf_model m;
                char e2[256];
                if (vf_model_resolve(model, VF_ROLE_LLM, "llama.cpp", &m, e2, sizeof e2) == VF_OK) {
                    if (m.llm.n_layer && ngl > (int)m.llm.n_layer)
                        ngl = 999;
                    vf_model_free(&m);
                }
                appendf(a, n, "-ngl %d -c %llu -np %u -b %llu -ub %llu", ngl,
                        (unsigned long long)u64(s, "n_ctx"), pf->sessions,
                        (unsigned long long)u64(s, "n_batch"),
                        (unsigned long long)u64(s, "n_ubatch"));
                if (str(s, "type_k"))
                    appendf(a, n, " -ctk %s", str(s, "type_k"));
                if (str(s, "type_v"))
                    appendf(a, n, " -ctv %s", str(s, "type_v"));
                const cJSON *fa = cJSON_GetObjectItemCaseSensitive(s, "flash_attn");
                if (cJSON_IsBool(fa))
                    appendf(a, n, " -fa %s", cJSON_IsTrue(fa) ? "on" : "off");
                const cJSON *kvu = cJSON_GetObjectItemCaseSensitive(s, "kv_unified");
                if (cJSON_IsBool(kvu))
                    appendf(a, n, " %s", cJSON_IsTrue(kvu) ? "-kvu" : "-no-kvu");
                if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(s, "mmap")))
                    appendf(a, n, " --no-mmap");
            } else if (e == VF_ENGINE_VLLM) {
                uint32_t seqs = (uint32_t)int_in(s, "max_num_seqs", 0, 0, 1 << 20);
                appendf(a, n, "--gpu-memory-utilization %.3f --max-model-len %llu",
                        num(s, "gpu_memory_utilization", 0.9),
                        (unsigned long long)u64(s, "max_model_len"));
                if (seqs)
                    appendf(a, n, " --max-num-seqs %u", seqs);
                const char *kvd = str(s, "kv_cache_dtype");
                if (kvd && strcmp(kvd, "auto"))
                    appendf(a, n, " --kv-cache-dtype %s", kvd);
                if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "enforce_eager")))
                    appendf(a, n, " --enforce-eager");
                if (str(s, "vllm_version"))
                    vf_strlcpy(pf->vllm_version, str(s, "vllm_version"), sizeof pf->vllm_version);
            }
        } else if (!strcmp(role, "stt")) {
            vf_strlcpy(pf->stt, model, sizeof pf->stt);
            pf->stt_engine = e;
            pf->planned_bytes[VF_ROLE_STT] = u64(c, "total_bytes");
            if (str(s, "compute_type"))
                appendf(pf->stt_args, sizeof pf->stt_args, "--compute_type %s",
                        str(s, "compute_type"));
            if (u64(s, "beam_size"))
                appendf(pf->stt_args, sizeof pf->stt_args, " --beam_size %llu",
                        (unsigned long long)u64(s, "beam_size"));
            const char *sd = str(s, "device");
            if (sd && !strcmp(sd, "cpu"))
                appendf(pf->stt_args, sizeof pf->stt_args, " -ng");
        } else if (!strcmp(role, "tts")) {
            vf_strlcpy(pf->tts, model, sizeof pf->tts);
            const char *p = str(c, "placement");
            pf->tts_gpu = p && !strcmp(p, "gpu");
            pf->planned_bytes[VF_ROLE_TTS] = u64(c, "total_bytes");
        } else {
            vf_errf(err, errlen, "unknown role '%s'", role);
            rc = VF_ERR_FORMAT;
            goto out;
        }
    }
out:
    cJSON_Delete(root);
    return rc;
}

int vf_planfile_load(const char *path, struct vf_planfile *pf, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        vf_errf(err, errlen, "cannot open %s", path);
        return VF_ERR_IO;
    }
    const size_t max = 4u * 1024 * 1024;
    char *buf = vf_malloc(max);
    if (!buf) {
        fclose(f);
        return VF_ERR_NOMEM;
    }
    size_t n = fread(buf, 1, max, f);
    fclose(f);
    int rc;
    if (n == max) {
        vf_errf(err, errlen, "%s: larger than 4 MiB, not a plan", path);
        rc = VF_ERR_TOOBIG;
    } else {
        rc = vf_planfile_parse(buf, n, pf, err, errlen);
    }
    vf_free(buf);
    return rc;
}

void vf_planfile_req(const struct vf_planfile *pf, struct vf_plan_req *req) {
    vf_plan_req_default(req);
    req->device = pf->device;
    req->llm = pf->llm;
    req->stt = pf->stt;
    req->tts = pf->tts;
    req->llm_engine = pf->llm_engine;
    req->stt_engine = pf->stt_engine;
    req->tts_gpu = pf->tts_gpu;
    req->llm_args = pf->llm_args[0] ? pf->llm_args : NULL;
    req->stt_args = pf->stt_args[0] ? pf->stt_args : NULL;
    req->margin_bytes = pf->margin_bytes;
    req->sessions = pf->sessions;
    req->vllm_version = pf->vllm_version;
    /* the floor of the fallback ladder's shorter contexts */
    req->min_ctx = 2048;
}
