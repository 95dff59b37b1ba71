/* measure.h - load a model with the embedded llama.cpp on this machine's
 * devices and report the buffers it really allocated (model weights per
 * device, KV cache, output and compute buffers), read from the sizes
 * llama.cpp logs while it loads. This is the ground truth the planner's
 * llama.cpp memory model is checked against. */
#ifndef VF_MEASURE_H
#define VF_MEASURE_H

#include "../core/vf.h"

struct vf_llama_settings {
    int32_t n_gpu_layers;   /* -1: all */
    uint32_t n_ctx;         /* 0: the model's training context */
    uint32_t n_batch;
    uint32_t n_ubatch;
    uint32_t n_seq_max;     /* parallel sequences */
    int type_k;             /* ggml type numbers (vf_dtype values) */
    int type_v;
    int flash_attn;         /* -1 auto, 0 off, 1 on */
    bool kv_unified;
    bool swa_full;
    bool no_mmap;
    bool offload_kqv;
};

/* llama.cpp's own defaults (llama_context_default_params + model params). */
void vf_llama_settings_default(struct vf_llama_settings *s);

enum vf_buf_kind { VF_BUF_MODEL = 0, VF_BUF_KV, VF_BUF_COMPUTE, VF_BUF_OUTPUT, VF_BUF_KIND_COUNT };

#define VF_MEASURE_MAX_BUFS 32

struct vf_measured_buf {
    char device[32];          /* llama.cpp's buffer name: CPU, CPU_Mapped, CUDA0, CUDA_Host ... */
    enum vf_buf_kind kind;
    uint64_t bytes;           /* as logged, to 0.01 MiB */
};

struct vf_measure_result {
    struct vf_measured_buf bufs[VF_MEASURE_MAX_BUFS];
    int n_bufs;
    uint32_t n_ctx;           /* the context llama.cpp settled on */
    int flash_attn;           /* whether flash attention ended up on */
    int n_layers_offloaded;
    int n_layers_total;
    double load_ms;
};

/* Load path with s (dry_run: llama.cpp's no_alloc simulation, nothing is
 * allocated). Fills r. Returns VF_OK, VF_ERR_BACKEND (llama.cpp refused:
 * err says why), VF_ERR_IO. */
int vf_measure_llama(const char *path, const struct vf_llama_settings *s, bool dry_run,
                     struct vf_measure_result *r, char *err, size_t errlen);

/* Parse llama.cpp log text into r (exported for tests and for the
 * start-up checks of external llama.cpp servers). */
void vf_measure_parse_log(const char *log, struct vf_measure_result *r);

/* Sum of a kind over devices; device NULL means all; is_gpu filters
 * device names that are not host buffers. */
uint64_t vf_measure_sum(const struct vf_measure_result *r, enum vf_buf_kind kind, int gpu_filter);

#endif
