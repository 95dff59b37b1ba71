/* mkmodel.h - generate model files with random (or zero) weights at the
 * real shapes of a named architecture, in the real file formats, so tests
 * and benchmarks exercise the same loading code users run with real
 * weights, without downloading any. */
#ifndef VF_MKMODEL_H
#define VF_MKMODEL_H

#include "../core/vf.h"

struct vf_mkmodel_params {
    const char *like;       /* catalog name ("Qwen/Qwen3-0.6B") or "tiny" */
    const char *type;       /* GGUF file type: "Q8_0", "Q4_K_M", "F16" ... */
    const char *out;        /* output path */
    bool zeros;             /* sparse file of zero weights (size tests) */
    uint64_t seed;
    uint32_t n_ctx_train;   /* 0: the architecture's */
};

/* Write the model; err gets one line on failure. Returns VF_OK,
 * VF_ERR_NOTFOUND (unknown architecture), VF_ERR_UNSUPPORTED (an
 * architecture mkmodel cannot write), VF_ERR_IO, VF_ERR_NOMEM. */
int vf_mkmodel_gguf(const struct vf_mkmodel_params *p, char *err, size_t errlen);

#endif
