/* emit.c - see emit.h. The compose file starts the largest GPU user first
 * and makes every later GPU service wait for it to be healthy: vLLM checks
 * at start-up that utilization x total memory is free, so it must start
 * before anything else takes GPU memory. */
#include "emit.h"
#include "report.h"
#include "../core/str.h"

#include <string.h>

static const char *kv_flag(enum vf_dtype t) {
    switch (t) {
    case VF_DT_Q8_0: return "q8_0";
    case VF_DT_Q4_0: return "q4_0";
    case VF_DT_Q4_1: return "q4_1";
    case VF_DT_Q5_0: return "q5_0";
    case VF_DT_Q5_1: return "q5_1";
    case VF_DT_BF16: return "bf16";
    case VF_DT_F32: return "f32";
    default: return "f16";
    }
}

/* "Qwen/Qwen3-8B-GGUF:Q4_K_M" stays a -hf reference; a path is -m. */
static void llama_cmd(const struct vf_component *c, char *buf, size_t n, bool server_binary) {
    const struct vf_llama_cfg *l = &c->llama;
    const bool file = c->model.id[0] == '/' || c->model.id[0] == '.' || vf_str_ends(c->model.id, ".gguf");
    snprintf(buf, n, "%s%s %s --host 0.0.0.0 --port 8000 -c %u -np %u -ngl %d -b %u -ub %u "
             "-fa %s -ctk %s -ctv %s%s%s --fit off",
             server_binary ? "llama-server " : "", file ? "-m" : "-hf", c->model.id, l->n_ctx,
             l->n_seq_max, c->placement == VF_PLACE_CPU ? 0 : l->n_gpu_layers < 0 ? 999 : l->n_gpu_layers,
             l->n_batch, l->n_ubatch,
             l->flash_attn_resolved ? "on" : "off", kv_flag(l->type_k), kv_flag(l->type_v),
             l->kv_unified ? " -kvu" : " -no-kvu", l->mmap ? "" : " --no-mmap");
}

static void vllm_cmd(const struct vf_component *c, char *buf, size_t n, bool binary) {
    const struct vf_vllm_cfg *v = &c->vllm;
    snprintf(buf, n, "%s%s --host 0.0.0.0 --port 8000 --gpu-memory-utilization %.3f "
             "--max-model-len %u --max-num-seqs %u%s%s", binary ? "vllm serve " : "", c->model.id,
             v->gpu_memory_utilization, v->max_model_len, v->max_num_seqs,
             v->kv_cache_dtype == VF_DT_F8_E4M3 ? " --kv-cache-dtype fp8" : "",
             v->enforce_eager ? " --enforce-eager" : "");
}

static void gpu_reservation(FILE *f) {
    fprintf(f, "    deploy:\n      resources:\n        reservations:\n          devices:\n"
               "            - driver: nvidia\n              count: 1\n              capabilities: [gpu]\n");
}

static void compose(FILE *f, const struct vf_plan *p) {
    const struct vf_component *llm = &p->comp[VF_ROLE_LLM];
    const struct vf_component *stt = &p->comp[VF_ROLE_STT];
    const struct vf_component *tts = &p->comp[VF_ROLE_TTS];
    const bool gpu = p->device.kind == VF_DEVICE_GPU;
    char cmd[1024], b[32];
    fprintf(f, "# docker-compose.yml planned by voxfit for %s (%s free).\n", p->device.name,
            vf_fmt_bytes(p->device.free_bytes, b, sizeof b));
    fprintf(f, "# Start order: the LLM first (largest, and vLLM checks free memory at start-up),\n"
               "# then speech-to-text, then text-to-speech, then voxfit's voice loop.\n");
    fprintf(f, "# Planned total on the GPU: %s%s\n", vf_fmt_bytes(p->total_bytes, b, sizeof b),
            p->fits ? "" : "  -- WARNING: this plan does not fit");
    fprintf(f, "services:\n");
    const char *prev = NULL;
    if (llm->present) {
        fprintf(f, "  llm:\n");
        if (llm->engine == VF_ENGINE_VLLM) {
            vllm_cmd(llm, cmd, sizeof cmd, false);
            fprintf(f, "    image: vllm/vllm-openai:latest\n    command: %s\n", cmd);
            fprintf(f, "    ipc: host\n    volumes:\n      - ~/.cache/huggingface:/root/.cache/huggingface\n");
        } else {
            llama_cmd(llm, cmd, sizeof cmd, false);
            fprintf(f, "    image: ghcr.io/ggml-org/llama.cpp:%s\n    command: %s\n",
                    gpu ? "server-cuda" : "server", cmd);
            fprintf(f, "    volumes:\n      - ~/.cache/llama.cpp:/root/.cache/llama.cpp\n");
        }
        fprintf(f, "    ports:\n      - \"8000:8000\"\n");
        fprintf(f, "    healthcheck:\n      test: [\"CMD-SHELL\", \"curl -sf http://localhost:8000/%s\"]\n"
                   "      interval: 10s\n      timeout: 5s\n      retries: 60\n      start_period: 60s\n",
                llm->engine == VF_ENGINE_VLLM ? "v1/models" : "health");
        if (gpu && llm->placement != VF_PLACE_CPU)
            gpu_reservation(f);
        prev = "llm";
    }
    if (stt->present) {
        fprintf(f, "  stt:\n");
        if (stt->engine == VF_ENGINE_FASTER_WHISPER) {
            fprintf(f, "    image: ghcr.io/speaches-ai/speaches:%s\n", stt->whisper.on_gpu ? "latest-cuda" : "latest-cpu");
            fprintf(f, "    environment:\n      - WHISPER__MODEL=%s\n      - WHISPER__COMPUTE_TYPE=%s\n"
                       "      - WHISPER__INFERENCE_DEVICE=%s\n", stt->model.id, stt->whisper.compute_type,
                    stt->whisper.on_gpu ? "cuda" : "cpu");
            fprintf(f, "    ports:\n      - \"8001:8000\"\n");
            fprintf(f, "    healthcheck:\n      test: [\"CMD-SHELL\", \"curl -sf http://localhost:8000/health\"]\n"
                       "      interval: 10s\n      timeout: 5s\n      retries: 30\n");
            if (stt->whisper.on_gpu && gpu)
                gpu_reservation(f);
        } else {
            fprintf(f, "    image: voxfit:latest\n    build: .\n");
            fprintf(f, "    command: voxfit serve --role stt --host 0.0.0.0 --port 8001 --stt %s\n", stt->model.id);
            fprintf(f, "    ports:\n      - \"8001:8001\"\n");
            fprintf(f, "    healthcheck:\n      test: [\"CMD-SHELL\", \"curl -sf http://localhost:8001/health\"]\n"
                       "      interval: 10s\n      timeout: 5s\n      retries: 30\n");
            if (stt->whisper.on_gpu && gpu)
                gpu_reservation(f);
        }
        if (prev)
            fprintf(f, "    depends_on:\n      %s:\n        condition: service_healthy\n", prev);
        prev = "stt";
    }
    if (tts->present && tts->engine == VF_ENGINE_KOKORO) {
        fprintf(f, "  tts:\n    image: ghcr.io/remsky/kokoro-fastapi-%s:latest\n",
                tts->tts.on_gpu ? "gpu" : "cpu");
        fprintf(f, "    ports:\n      - \"8880:8880\"\n");
        fprintf(f, "    healthcheck:\n      test: [\"CMD-SHELL\", \"curl -sf http://localhost:8880/health\"]\n"
                   "      interval: 10s\n      timeout: 5s\n      retries: 30\n");
        if (tts->tts.on_gpu && gpu)
            gpu_reservation(f);
        if (prev)
            fprintf(f, "    depends_on:\n      %s:\n        condition: service_healthy\n", prev);
        prev = "tts";
    }
    fprintf(f, "  voxfit:\n    image: voxfit:latest\n    build: .\n");
    fprintf(f, "    command: voxfit serve --host 0.0.0.0 --port 8002");
    if (llm->present)
        fprintf(f, " --llm http://llm:8000/v1");
    if (stt->present)
        fprintf(f, " --stt http://stt:%s/v1", stt->engine == VF_ENGINE_FASTER_WHISPER ? "8000" : "8001");
    if (tts->present)
        fprintf(f, " --tts %s", tts->engine == VF_ENGINE_KOKORO ? "http://tts:8880/v1" : "espeak");
    fprintf(f, "\n    ports:\n      - \"8002:8002\"\n");
    if (prev)
        fprintf(f, "    depends_on:\n      %s:\n        condition: service_healthy\n", prev);
}

int vf_emit(FILE *f, const struct vf_plan *p, const char *what) {
    const struct vf_component *llm = &p->comp[VF_ROLE_LLM];
    const struct vf_component *stt = &p->comp[VF_ROLE_STT];
    char cmd[1024];
    if (!strcmp(what, "vllm") || !strcmp(what, "llama.cpp")) {
        enum vf_engine want = !strcmp(what, "vllm") ? VF_ENGINE_VLLM : VF_ENGINE_LLAMACPP;
        if (!llm->present || llm->engine != want) {
            fprintf(stderr, "voxfit plan: the plan's LLM does not run on %s; plan with --llm-engine %s\n",
                    what, what);
            return VF_ERR_ARG;
        }
        if (want == VF_ENGINE_VLLM)
            vllm_cmd(llm, cmd, sizeof cmd, true);
        else
            llama_cmd(llm, cmd, sizeof cmd, true);
        fprintf(f, "%s\n", cmd);
        return VF_OK;
    }
    if (!strcmp(what, "env")) {
        fprintf(f, "# voxfit plan for %s\n", p->device.name);
        if (llm->present) {
            fprintf(f, "LLM_ENGINE=%s\nLLM_MODEL=%s\n", vf_engine_name(llm->engine), llm->model.id);
            if (llm->engine == VF_ENGINE_VLLM)
                vllm_cmd(llm, cmd, sizeof cmd, false);
            else
                llama_cmd(llm, cmd, sizeof cmd, false);
            fprintf(f, "LLM_ARGS=\"%s\"\n", cmd);
        }
        if (stt->present) {
            fprintf(f, "STT_ENGINE=%s\nWHISPER_MODEL=%s\nWHISPER_COMPUTE_TYPE=%s\n",
                    vf_engine_name(stt->engine), stt->model.name, stt->whisper.compute_type);
            fprintf(f, "WHISPER_DEVICE=%s\n", stt->whisper.on_gpu ? "cuda" : "cpu");
        }
        if (p->comp[VF_ROLE_TTS].present)
            fprintf(f, "TTS_MODEL=%s\nTTS_DEVICE=%s\n", p->comp[VF_ROLE_TTS].model.name,
                    p->comp[VF_ROLE_TTS].tts.on_gpu ? "gpu" : "cpu");
        return VF_OK;
    }
    compose(f, p);
    return VF_OK;
}
