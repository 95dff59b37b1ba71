/* dtype.h - the element types voxfit meets in model files: ggml's types
 * (GGUF and whisper.cpp files store these numbers as they are) and the
 * dtypes of safetensors and CTranslate2 files, mapped into one enum so the
 * memory model can size any tensor. Sizes follow each format's
 * specification: a "block" of blck elements takes bytes_per_block bytes. */
#ifndef VF_DTYPE_H
#define VF_DTYPE_H

#include "../core/vf.h"

enum vf_dtype {
    /* ggml types, numbered as in ggml.h / the GGUF specification */
    VF_DT_F32 = 0, VF_DT_F16 = 1, VF_DT_Q4_0 = 2, VF_DT_Q4_1 = 3,
    VF_DT_Q5_0 = 6, VF_DT_Q5_1 = 7, VF_DT_Q8_0 = 8, VF_DT_Q8_1 = 9,
    VF_DT_Q2_K = 10, VF_DT_Q3_K = 11, VF_DT_Q4_K = 12, VF_DT_Q5_K = 13,
    VF_DT_Q6_K = 14, VF_DT_Q8_K = 15, VF_DT_IQ2_XXS = 16, VF_DT_IQ2_XS = 17,
    VF_DT_IQ3_XXS = 18, VF_DT_IQ1_S = 19, VF_DT_IQ4_NL = 20, VF_DT_IQ3_S = 21,
    VF_DT_IQ2_S = 22, VF_DT_IQ4_XS = 23, VF_DT_I8 = 24, VF_DT_I16 = 25,
    VF_DT_I32 = 26, VF_DT_I64 = 27, VF_DT_F64 = 28, VF_DT_IQ1_M = 29,
    VF_DT_BF16 = 30, VF_DT_TQ1_0 = 34, VF_DT_TQ2_0 = 35, VF_DT_MXFP4 = 39,
    VF_DT_GGML_END = 40,
    /* non-ggml dtypes (safetensors, CTranslate2) */
    VF_DT_F8_E4M3 = 100, VF_DT_F8_E5M2, VF_DT_U8, VF_DT_BOOL, VF_DT_U16, VF_DT_U32,
    VF_DT_U64, VF_DT_F8_E8M0,
    VF_DT_INVALID = -1,
};

/* Elements per block and bytes per block; false when dt is unknown. */
bool vf_dtype_block(enum vf_dtype dt, uint32_t *blck, uint32_t *bytes);
/* Bytes of one row of n elements, or 0 when n is not a whole number of
 * blocks or dt is unknown. */
uint64_t vf_dtype_row_size(enum vf_dtype dt, int64_t n);
/* Canonical upper-case name ("Q4_K", "F16", "F8_E4M3"), or "?" */
const char *vf_dtype_name(enum vf_dtype dt);
/* Parse a name case-insensitively ("q8_0", "BF16", "F8_E4M3", "fp16");
 * VF_DT_INVALID when unknown. */
enum vf_dtype vf_dtype_from_name(const char *name);
/* True for the block-quantized ggml types. */
bool vf_dtype_is_quantized(enum vf_dtype dt);
/* Average bits per weight (for display). */
double vf_dtype_bpw(enum vf_dtype dt);

#endif
