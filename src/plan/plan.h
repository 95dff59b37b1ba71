/* plan.h - a memory plan: which models run where, with which engine
 * settings, and exactly how many bytes each one takes on the device
 * (weights, KV cache, compute buffers, per-process overhead), against the
 * device's free memory and the safety margin. The per-engine memory models
 * live in mem_llamacpp.c, mem_vllm.c, mem_whisper.c and mem_tts.c; plan.c
 * builds and chooses plans; report.c prints them; emit.c turns them into
 * engine flags and docker-compose. */
#ifndef VF_PLAN_H
#define VF_PLAN_H

#include "../gpu/device.h"
#include "../model/model.h"
#include "strlist.h"

enum vf_engine {
    VF_ENGINE_LLAMACPP = 0,   /* llama.cpp (embedded in voxfit, or llama-server) */
    VF_ENGINE_VLLM,           /* vLLM OpenAI server */
    VF_ENGINE_WHISPER,        /* whisper.cpp-format model, embedded in voxfit */
    VF_ENGINE_FASTER_WHISPER, /* faster-whisper / CTranslate2 server */
    VF_ENGINE_KOKORO,         /* Kokoro-FastAPI */
    VF_ENGINE_ESPEAK,         /* espeak-ng, embedded, CPU */
    VF_ENGINE_COUNT
};

enum vf_placement { VF_PLACE_GPU = 0, VF_PLACE_CPU, VF_PLACE_SPLIT };

/* llama.cpp settings (llama_context_params / llama-server flags). */
struct vf_llama_cfg {
    int32_t n_gpu_layers;     /* -1: all */
    uint32_t n_ctx;           /* total context (all sequences) */
    uint32_t n_batch;
    uint32_t n_ubatch;
    uint32_t n_seq_max;       /* parallel sequences (llama-server -np) */
    enum vf_dtype type_k, type_v;
    int flash_attn;           /* -1 auto, 0 off, 1 on */
    bool kv_unified;
    bool swa_full;
    bool mmap;
    bool offload_kqv;
    /* outputs of the model */
    bool flash_attn_resolved;
    int n_layers_gpu;         /* repeating layers on the GPU */
    bool output_on_gpu;
    uint64_t host_model_bytes, host_kv_bytes, host_compute_bytes, output_bytes;
};

/* vLLM settings (engine arguments) and what vLLM will report. */
struct vf_vllm_cfg {
    double gpu_memory_utilization;
    uint32_t max_model_len;
    uint32_t max_num_seqs;
    uint32_t max_num_batched_tokens;
    uint32_t block_size;
    enum vf_dtype kv_cache_dtype;   /* F16/BF16 ("auto") or F8_E4M3 ("fp8") */
    bool enforce_eager;
    bool enable_chunked_prefill;
    uint32_t tensor_parallel_size;
    uint64_t kv_cache_memory_bytes; /* --kv-cache-memory, 0 unset */
    char version[16];               /* vLLM release the prediction is for ("0.11") */
    char dtype[16];                 /* "auto", "bfloat16", "float16" */
    /* predictions */
    uint64_t requested_bytes;       /* util x total */
    uint64_t non_torch_bytes;
    uint64_t activation_bytes;
    uint64_t cudagraph_bytes;
    int64_t available_kv_bytes;     /* may be negative: start-up fails */
    uint64_t kv_tokens;             /* "GPU KV cache size: N tokens" */
    double max_concurrency;
    uint32_t max_model_len_fit;     /* the longest max_model_len the KV holds */
};

/* Whisper (whisper.cpp embedded or faster-whisper) settings. */
struct vf_whisper_cfg {
    char compute_type[24];    /* CTranslate2 compute type, or whisper.cpp weight type */
    uint32_t beam_size;
    uint32_t sessions;        /* concurrent decoding states */
    bool flash_attn;
    bool on_gpu;
};

struct vf_tts_cfg {
    bool on_gpu;
    char voice[32];
};

struct vf_component {
    bool present;
    enum vf_role role;
    enum vf_engine engine;
    struct vf_model model;
    enum vf_placement placement;
    /* bytes on the plan's device (the GPU, or RAM for a CPU plan) */
    uint64_t weights_bytes;
    uint64_t kv_bytes;
    uint64_t compute_bytes;
    uint64_t overhead_bytes;  /* CUDA context of its process, runtime pools, output buffers */
    uint64_t total_bytes;
    uint64_t host_bytes;      /* system RAM the component also needs */
    int process;              /* components with the same number share a process (one CUDA context) */
    struct vf_llama_cfg llama;
    struct vf_vllm_cfg vllm;
    struct vf_whisper_cfg whisper;
    struct vf_tts_cfg tts;
    struct vf_strlist explain;   /* "KV = 36 layers x 8 heads x 128 x 2 (K,V) x 2 B x 32768 = 4.50 GiB" */
};

#define VF_PLAN_COMPONENTS 3

struct vf_plan {
    struct vf_device device;
    struct vf_component comp[VF_PLAN_COMPONENTS]; /* indexed by enum vf_role */
    uint64_t total_bytes;     /* sum of components on the device */
    uint64_t margin_bytes;    /* the safety margin asked for */
    int64_t free_after_bytes; /* device free - total (negative: does not fit) */
    bool fits;
    struct vf_strlist warnings;
    struct vf_strlist errors;
    struct vf_strlist problems; /* --check: what will fail, with corrected values */
};

const char *vf_engine_name(enum vf_engine e);
/* "llama.cpp", "llamacpp", "vllm", "whisper", "whisper.cpp", "faster-whisper",
 * "kokoro", "espeak"; VF_ENGINE_COUNT when unknown. */
enum vf_engine vf_engine_from_name(const char *s);
const char *vf_placement_name(enum vf_placement p);

void vf_plan_init(struct vf_plan *p);
void vf_plan_free(struct vf_plan *p);
void vf_component_free(struct vf_component *c);

/* The CUDA context and runtime overhead of one process on dev: "base"
 * driver memory plus the per-thread stack reservation, plus cuBLAS (C/C++
 * engines) or PyTorch's kernels (Python engines). explain gets the line. */
uint64_t vf_cuda_context_bytes(const struct vf_device *dev, bool pytorch, char *explain, size_t n);

/* ---- per-engine memory models (fill c's byte fields and explain) ---- */

/* llama.cpp: c->model and c->llama settings in; placement, bytes out. */
int vf_mem_llamacpp(struct vf_component *c, const struct vf_device *dev);
/* vLLM: c->model and c->vllm in; bytes and the vllm predictions out;
 * errors vLLM will raise at start-up are appended to errors. */
int vf_mem_vllm(struct vf_component *c, const struct vf_device *dev, struct vf_strlist *errors);
/* Whisper, embedded (whisper.cpp format) or faster-whisper (CTranslate2). */
int vf_mem_whisper(struct vf_component *c, const struct vf_device *dev);
/* Kokoro / espeak. */
int vf_mem_tts(struct vf_component *c, const struct vf_device *dev);


/* ---- making a plan ---- */

/* What the user asked for. NULL model: voxfit chooses; "none": leave the
 * role out. */
struct vf_plan_req {
    struct vf_device device;
    const char *llm, *stt, *tts;
    enum vf_engine llm_engine;    /* VF_ENGINE_LLAMACPP or VF_ENGINE_VLLM */
    enum vf_engine stt_engine;    /* VF_ENGINE_WHISPER or VF_ENGINE_FASTER_WHISPER */
    bool tts_gpu;
    const char *llm_args, *stt_args;  /* pinned engine flags, or NULL */
    uint32_t min_ctx;             /* minimum context per conversation */
    uint32_t max_ctx;             /* 0: up to the model's training context */
    uint32_t sessions;            /* concurrent conversations */
    uint64_t margin_bytes;        /* free memory to keep */
    enum vf_dtype kv_type;        /* VF_DT_INVALID: engine default */
    const char *vllm_version;     /* "" / NULL: newest */
};

void vf_plan_req_default(struct vf_plan_req *r);

/* Build the plan for req: resolve or choose the models, apply pinned flags,
 * choose the free settings (largest context, vLLM utilization) and compute
 * every component. Returns VF_OK when a plan was made (it may still not fit:
 * see p->fits and p->errors), VF_ERR_NOTFOUND for an unknown model,
 * VF_ERR_ARG for bad flags (err says which). */
int vf_plan_make(const struct vf_plan_req *req, struct vf_plan *p, char *err, size_t errlen);

/* Recompute totals, margin and fit verdict from the components. */
void vf_plan_total(struct vf_plan *p);

#endif
