/* cmd_plan.c - `voxfit plan`: the exact memory budget for STT + LLM + TTS
 * on a device, with engine flags, docker-compose output and compose-file
 * audits. See README.md "voxfit plan". */
#include "cli.h"
#include "../core/args.h"
#include "../core/str.h"
#include "../gpu/device.h"
#include "../model/catalog.h"
#include "../plan/compose.h"
#include "../plan/emit.h"
#include "../plan/plan.h"
#include "../plan/report.h"

#include <stdio.h>
#include <string.h>

static void list_models(void) {
    printf("LLMs (GGUF quantizations: Q8_0 Q6_K Q5_K_M Q4_K_M IQ4_XS Q3_K_M ...; vLLM: BF16, FP8, AWQ):\n");
    for (size_t i = 0; i < vf_catalog_llm_count(); i++) {
        const struct vf_cat_llm *c = vf_catalog_llm(i);
        printf("  %-40s %-10s %3u layers  ctx %-6u %s%s%s%s%s\n", c->hf, c->arch, c->n_layer,
               c->n_ctx_train, c->gguf ? c->gguf : "", c->fp8 ? "  " : "", c->fp8 ? c->fp8 : "",
               c->awq ? "  " : "", c->awq ? c->awq : "");
    }
    printf("\nWhisper (whisper.cpp f16/q8_0/q5_1/q5_0; faster-whisper float16/int8_float16/int8):\n");
    for (size_t i = 0; i < vf_catalog_whisper_count(); i++) {
        const struct vf_cat_whisper *w = vf_catalog_whisper(i);
        printf("  %-18s %4u wide, %2u+%-2u layers, %3u mels  %s\n", w->name, w->n_state, w->n_enc_layer,
               w->n_dec_layer, w->n_mels, w->ct2);
    }
    printf("\nTTS:\n");
    for (size_t i = 0; i < vf_catalog_tts_count(); i++)
        printf("  %-18s %s\n", vf_catalog_tts(i)->name, vf_catalog_tts(i)->repo);
}

static void list_gpus(void) {
    char b[32];
    printf("%-36s %10s %12s  cc\n", "GPU", "smi MiB", "CUDA total");
    for (size_t i = 0; i < vf_gpu_catalog_count(); i++) {
        const struct vf_gpu_spec *g = vf_gpu_catalog(i);
        printf("%-36s %10u %12s  %d.%d\n", g->name, g->smi_mib,
               vf_fmt_bytes(g->cuda_total_bytes, b, sizeof b), g->cc_major, g->cc_minor);
    }
}

int vf_cmd_plan(int argc, char **argv) {
    /* defaults */
    const char *gpu = NULL, *device = "auto", *llm = NULL, *stt = NULL, *tts = NULL;
    const char *llm_engine = "llama.cpp", *stt_engine = "whisper", *tts_device = "cpu";
    const char *llm_args = NULL, *stt_args = NULL, *kv_type = NULL, *emit = NULL, *check = NULL;
    const char *vllm_version = "";
    uint64_t vram = 0, margin = 512 * VF_MIB, used = 0;
    int ctx = 4096, max_ctx = 0, sessions = 1;
    bool json = false, explain = false, lm = false, lg = false, used_set = false;
    static const char *const dev_ch[] = {"auto", "gpu", "cpu", NULL};
    static const char *const llm_eng[] = {"llama.cpp", "vllm", NULL};
    static const char *const stt_eng[] = {"whisper", "faster-whisper", NULL};
    static const char *const tts_dev[] = {"cpu", "gpu", NULL};
    static const char *const kv_ch[] = {"f16", "q8_0", "q4_0", "fp8", NULL};
    static const char *const emit_ch[] = {"vllm", "llama.cpp", "compose", "env", NULL};
    const struct vf_opt opts[] = {
        {"--gpu", NULL, VF_OPT_STR, &gpu, "NAME", "plan for a catalog GPU (\"RTX 5070 Ti\", 4090, H100; see --list-gpus)", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--vram", NULL, VF_OPT_SIZE, &vram, "SIZE", "plan for a GPU of this size (16GiB, 12GB, 8000MiB)", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--device", NULL, VF_OPT_CHOICE, &device, "D", "auto: the GPUs found now (NVML), else the CPU; cpu: plan RAM", "auto", 0, 0, 0, 0, dev_ch, NULL},
        {"--used", NULL, VF_OPT_SIZE, &used, "SIZE", "memory other processes already hold on a --gpu/--vram card", "0", 0, 0, 0, 0, NULL, &used_set},
        {"--llm", NULL, VF_OPT_STR, &llm, "MODEL", "LLM: catalog id (Qwen/Qwen3-8B-GGUF:Q4_K_M, Qwen/Qwen3-8B-FP8) or a .gguf file / HF folder; 'none'", "chosen", 0, 0, 0, 0, NULL, NULL},
        {"--llm-engine", NULL, VF_OPT_CHOICE, &llm_engine, "E", "engine for the LLM", "llama.cpp", 0, 0, 0, 0, llm_eng, NULL},
        {"--stt", NULL, VF_OPT_STR, &stt, "MODEL", "Whisper: catalog name (large-v3, distil-small.en), ggml .bin file or CTranslate2 folder; 'none'", "chosen", 0, 0, 0, 0, NULL, NULL},
        {"--stt-engine", NULL, VF_OPT_CHOICE, &stt_engine, "E", "engine for speech-to-text", "whisper", 0, 0, 0, 0, stt_eng, NULL},
        {"--tts", NULL, VF_OPT_STR, &tts, "MODEL", "TTS: kokoro-82m or espeak; 'none'", "kokoro-82m", 0, 0, 0, 0, NULL, NULL},
        {"--tts-device", NULL, VF_OPT_CHOICE, &tts_device, "D", "where the TTS runs", "cpu", 0, 0, 0, 0, tts_dev, NULL},
        {"--llm-args", NULL, VF_OPT_STR, &llm_args, "'FLAGS'", "the LLM engine's own flags, evaluated as given ('--gpu-memory-utilization 0.9 --max-model-len 32000', '-c 8192 -ngl 99')", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--stt-args", NULL, VF_OPT_STR, &stt_args, "'FLAGS'", "the STT engine's flags ('--compute_type int8 --beam_size 5')", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--ctx", NULL, VF_OPT_INT, &ctx, "N", "minimum context per conversation", "4096", 256, 1 << 24, 0, 0, NULL, NULL},
        {"--max-ctx", NULL, VF_OPT_INT, &max_ctx, "N", "largest context to plan (0: the model's training context)", "0", 0, 1 << 24, 0, 0, NULL, NULL},
        {"--sessions", NULL, VF_OPT_INT, &sessions, "N", "concurrent conversations", "1", 1, 256, 0, 0, NULL, NULL},
        {"--margin", NULL, VF_OPT_SIZE, &margin, "SIZE", "free memory to keep as a safety margin", "512MiB", 0, 0, 0, 0, NULL, NULL},
        {"--kv-type", NULL, VF_OPT_CHOICE, &kv_type, "T", "KV cache type (fp8: vLLM only)", "f16", 0, 0, 0, 0, kv_ch, NULL},
        {"--vllm-version", NULL, VF_OPT_STR, &vllm_version, "X.Y.Z", "vLLM release to predict (its memory rules changed over time)", "newest", 0, 0, 0, 0, NULL, NULL},
        {"--explain", NULL, VF_OPT_FLAG, &explain, NULL, "show the arithmetic of every term", "off", 0, 0, 0, 0, NULL, NULL},
        {"--json", NULL, VF_OPT_FLAG, &json, NULL, "machine-readable output", "off", 0, 0, 0, 0, NULL, NULL},
        {"--emit", NULL, VF_OPT_CHOICE, &emit, "WHAT", "print engine flags, a docker-compose.yml or an env file for the plan", NULL, 0, 0, 0, 0, emit_ch, NULL},
        {"--check", NULL, VF_OPT_STR, &check, "FILE", "audit a docker-compose file: predict each service's memory and what will fail", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--list-models", NULL, VF_OPT_FLAG, &lm, NULL, "list the model catalog", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--list-gpus", NULL, VF_OPT_FLAG, &lg, NULL, "list the GPU catalog", NULL, 0, 0, 0, 0, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    enum vf_args_result ar = vf_args_parse(
        "voxfit plan [--gpu NAME | --vram SIZE | --device cpu] [--llm MODEL] [--stt MODEL] [--tts MODEL] [options]",
        "Compute the exact memory budget of a speech-to-text + LLM + text-to-speech stack on one\n"
        "device, choosing models, quantization and context when they are not given.",
        opts, sizeof opts / sizeof opts[0], argc, argv, pos, 0, &npos, stdout, stderr);
    if (ar != VF_ARGS_OK)
        return ar == VF_ARGS_HELP ? 0 : 2;
    if (lm || lg) {
        if (lm)
            list_models();
        if (lg)
            list_gpus();
        return 0;
    }
    struct vf_plan_req req;
    vf_plan_req_default(&req);
    if (gpu && vram) {
        fprintf(stderr, "voxfit plan: give --gpu or --vram, not both\n");
        return 2;
    }
    if (gpu) {
        const struct vf_gpu_spec *s = vf_gpu_find(gpu);
        if (!s) {
            fprintf(stderr, "voxfit plan: unknown GPU '%s' (see --list-gpus, or give --vram SIZE)\n", gpu);
            return 2;
        }
        vf_device_from_spec(s, &req.device);
    } else if (vram) {
        vf_device_from_vram(vram, &req.device);
    } else if (!strcmp(device, "cpu")) {
        if (vf_device_cpu(&req.device)) {
            fprintf(stderr, "voxfit plan: cannot read the system memory (/proc/meminfo)\n");
            return 1;
        }
    } else {
        struct vf_device devs[8];
        int n = 0;
        vf_device_detect(devs, 8, &n);
        if (n > 0) {
            req.device = devs[0];
            if (n > 1)
                fprintf(stderr, "voxfit plan: %d GPUs found; planning for GPU 0 (%s)\n", n, devs[0].name);
        } else if (!strcmp(device, "gpu")) {
            fprintf(stderr, "voxfit plan: no NVIDIA GPU found (no driver / NVML); use --gpu NAME or --vram SIZE\n");
            return 1;
        } else {
            if (vf_device_cpu(&req.device)) {
                fprintf(stderr, "voxfit plan: no GPU found and the system memory is unreadable\n");
                return 1;
            }
            if (!json)
                fprintf(stderr, "voxfit plan: no GPU found; planning system RAM (use --gpu NAME to plan a card)\n");
        }
    }
    if (used_set) {
        if (used > req.device.total_bytes) {
            fprintf(stderr, "voxfit plan: --used is larger than the device\n");
            return 2;
        }
        req.device.used_by_others = used;
        req.device.free_bytes = req.device.total_bytes - used;
    }
    req.llm = llm;
    req.stt = stt;
    req.tts = tts;
    req.llm_engine = vf_engine_from_name(llm_engine);
    req.stt_engine = vf_engine_from_name(stt_engine);
    req.tts_gpu = !strcmp(tts_device, "gpu");
    req.llm_args = llm_args;
    req.stt_args = stt_args;
    req.min_ctx = (uint32_t)ctx;
    req.max_ctx = (uint32_t)max_ctx;
    req.sessions = (uint32_t)sessions;
    req.margin_bytes = margin;
    req.vllm_version = vllm_version;
    if (kv_type) {
        req.kv_type = !strcmp(kv_type, "fp8") ? VF_DT_F8_E4M3 : vf_dtype_from_name(kv_type);
        if (req.kv_type == VF_DT_F8_E4M3 && req.llm_engine != VF_ENGINE_VLLM) {
            fprintf(stderr, "voxfit plan: --kv-type fp8 is for vLLM; llama.cpp takes f16, q8_0 or q4_0\n");
            return 2;
        }
    }
    if (check)
        return vf_compose_check_cmd(check, &req, json, explain);

    struct vf_plan p;
    char err[512] = "";
    int rc = vf_plan_make(&req, &p, err, sizeof err);
    if (rc) {
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddBoolToObject(o, "fits", false);
            cJSON *e = cJSON_AddArrayToObject(o, "errors");
            cJSON_AddItemToArray(e, cJSON_CreateString(err));
            char *s = cJSON_Print(o);
            puts(s);
            cJSON_free(s);
            cJSON_Delete(o);
        }
        fprintf(stderr, "voxfit plan: %s\n", err[0] ? err : vf_status_str(rc));
        vf_plan_free(&p);
        return rc == VF_ERR_FIT ? 1 : 2;
    }
    if (emit) {
        rc = vf_emit(stdout, &p, emit);
    } else if (json) {
        cJSON *o = vf_report_json(&p);
        char *s = o ? cJSON_Print(o) : NULL;
        if (s)
            puts(s);
        cJSON_free(s);
        cJSON_Delete(o);
    } else {
        vf_report_text(stdout, &p, explain);
    }
    int code = p.fits ? 0 : 1;
    vf_plan_free(&p);
    return rc ? 1 : code;
}
