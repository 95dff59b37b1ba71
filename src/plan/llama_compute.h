/* llama_compute.h - the size of llama.cpp's compute buffers (the scratch
 * memory of the worst-case graph, reserved once at context creation) for a
 * model's shapes and context settings, on the CPU backend and on a CUDA
 * device (with the host-side CUDA_Host buffer that partial offload and
 * inputs use). Derived from how llama.cpp builds and reserves its graphs;
 * checked against `voxfit measure` (CPU) and real CUDA logs. */
#ifndef VF_LLAMA_COMPUTE_H
#define VF_LLAMA_COMPUTE_H

#include "../model/model.h"

enum vf_llama_backend { VF_LLAMA_CPU = 0, VF_LLAMA_CUDA };

struct vf_llama_compute_in {
    const struct vf_llm_hparams *hp;
    uint32_t n_ctx;          /* as llama.cpp uses it (already padded to 256) */
    uint32_t n_batch;        /* n_batch after llama.cpp's clamping */
    uint32_t n_ubatch;       /* n_ubatch after clamping */
    uint32_t n_seq_max;
    bool kv_unified;
    bool flash_attn;         /* resolved (auto already decided) */
    enum vf_dtype type_k;
    enum vf_dtype type_v;
    enum vf_llama_backend backend;
    int32_t n_gpu_layers;    /* CUDA: layers offloaded (>= n_layer + 1 or < 0 means all, incl. output) */
    bool offload_kqv;
    /* Optional: the model's tensors (GGUF names). Gives the weight types of the
     * copies that partial offload makes in the CUDA buffer (NULL: Q8_0 assumed)
     * and confirms q/k/v biases, fused QKV and rope factors. Borrowed for the
     * call only. */
    const struct vf_tensor_list *tensors;
    uint32_t n_outputs_max;  /* llama_context_params.n_outputs_max: 0 = n_batch (the
                              * library default); llama-server sets n_parallel */
};

struct vf_llama_compute_out {
    uint64_t device_bytes;   /* CPU: the CPU compute buffer; CUDA: the CUDA0 compute buffer */
    uint64_t host_bytes;     /* CUDA: the CUDA_Host compute buffer; CPU: 0 */
    char explain[512];       /* one line: the dominant terms and their sizes */
};

/* Predict the compute buffers by simulating llama.cpp's worst-case graph, its
 * scheduler and its allocator (docs/internals/llama-compute.md). Returns VF_OK;
 * VF_ERR_UNSUPPORTED for an architecture the model does not cover (explain says
 * which); VF_ERR_ARG for missing shapes or settings llama.cpp would refuse (a
 * quantized V cache without flash attention); VF_ERR_NOMEM. On error *out holds
 * zero sizes and explain says why. */
int vf_llama_compute(const struct vf_llama_compute_in *in, struct vf_llama_compute_out *out);

#endif
