/* dtype.c - block sizes of every element type, written from the formats'
 * specifications (ggml's block structs; safetensors' dtype list). A unit
 * test checks the ggml rows against the linked ggml library. */
#include "dtype.h"
#include "../core/str.h"

#include <string.h>

struct dt_row {
    enum vf_dtype dt;
    const char *name;
    uint32_t blck;
    uint32_t bytes;
    bool quantized;
};

static const struct dt_row rows[] = {
    {VF_DT_F32, "F32", 1, 4, false},
    {VF_DT_F16, "F16", 1, 2, false},
    {VF_DT_Q4_0, "Q4_0", 32, 18, true},   /* f16 scale + 16 bytes of nibbles */
    {VF_DT_Q4_1, "Q4_1", 32, 20, true},   /* f16 scale, f16 min + 16 */
    {VF_DT_Q5_0, "Q5_0", 32, 22, true},   /* f16 + 4 high bits + 16 */
    {VF_DT_Q5_1, "Q5_1", 32, 24, true},
    {VF_DT_Q8_0, "Q8_0", 32, 34, true},   /* f16 + 32 int8 */
    {VF_DT_Q8_1, "Q8_1", 32, 36, true},
    {VF_DT_Q2_K, "Q2_K", 256, 84, true},
    {VF_DT_Q3_K, "Q3_K", 256, 110, true},
    {VF_DT_Q4_K, "Q4_K", 256, 144, true},
    {VF_DT_Q5_K, "Q5_K", 256, 176, true},
    {VF_DT_Q6_K, "Q6_K", 256, 210, true},
    {VF_DT_Q8_K, "Q8_K", 256, 292, true},
    {VF_DT_IQ2_XXS, "IQ2_XXS", 256, 66, true},
    {VF_DT_IQ2_XS, "IQ2_XS", 256, 74, true},
    {VF_DT_IQ3_XXS, "IQ3_XXS", 256, 98, true},
    {VF_DT_IQ1_S, "IQ1_S", 256, 50, true},
    {VF_DT_IQ4_NL, "IQ4_NL", 32, 18, true},
    {VF_DT_IQ3_S, "IQ3_S", 256, 110, true},
    {VF_DT_IQ2_S, "IQ2_S", 256, 82, true},
    {VF_DT_IQ4_XS, "IQ4_XS", 256, 136, true},
    {VF_DT_I8, "I8", 1, 1, false},
    {VF_DT_I16, "I16", 1, 2, false},
    {VF_DT_I32, "I32", 1, 4, false},
    {VF_DT_I64, "I64", 1, 8, false},
    {VF_DT_F64, "F64", 1, 8, false},
    {VF_DT_IQ1_M, "IQ1_M", 256, 56, true},
    {VF_DT_BF16, "BF16", 1, 2, false},
    {VF_DT_TQ1_0, "TQ1_0", 256, 54, true},
    {VF_DT_TQ2_0, "TQ2_0", 256, 66, true},
    {VF_DT_MXFP4, "MXFP4", 32, 17, true},
    {VF_DT_F8_E4M3, "F8_E4M3", 1, 1, false},
    {VF_DT_F8_E5M2, "F8_E5M2", 1, 1, false},
    {VF_DT_U8, "U8", 1, 1, false},
    {VF_DT_BOOL, "BOOL", 1, 1, false},
    {VF_DT_U16, "U16", 1, 2, false},
    {VF_DT_U32, "U32", 1, 4, false},
    {VF_DT_U64, "U64", 1, 8, false},
    {VF_DT_F8_E8M0, "F8_E8M0", 1, 1, false},
};

static const struct dt_row *find(enum vf_dtype dt) {
    for (size_t i = 0; i < VF_ARRAY_LEN(rows); i++)
        if (rows[i].dt == dt)
            return &rows[i];
    return NULL;
}

bool vf_dtype_block(enum vf_dtype dt, uint32_t *blck, uint32_t *bytes) {
    const struct dt_row *r = find(dt);
    if (!r)
        return false;
    *blck = r->blck;
    *bytes = r->bytes;
    return true;
}

uint64_t vf_dtype_row_size(enum vf_dtype dt, int64_t n) {
    const struct dt_row *r = find(dt);
    if (!r || n < 0 || n % r->blck)
        return 0;
    return (uint64_t)(n / r->blck) * r->bytes;
}

const char *vf_dtype_name(enum vf_dtype dt) {
    const struct dt_row *r = find(dt);
    return r ? r->name : "?";
}

enum vf_dtype vf_dtype_from_name(const char *name) {
    static const struct {
        const char *alias;
        enum vf_dtype dt;
    } aliases[] = {
        {"fp32", VF_DT_F32}, {"float32", VF_DT_F32}, {"fp16", VF_DT_F16},
        {"float16", VF_DT_F16}, {"half", VF_DT_F16}, {"bfloat16", VF_DT_BF16},
        {"fp8", VF_DT_F8_E4M3}, {"float8_e4m3fn", VF_DT_F8_E4M3},
        {"fp8_e4m3", VF_DT_F8_E4M3}, {"fp8_e5m2", VF_DT_F8_E5M2}, {"int8", VF_DT_I8},
    };
    for (size_t i = 0; i < VF_ARRAY_LEN(rows); i++)
        if (vf_strcasecmp(rows[i].name, name) == 0)
            return rows[i].dt;
    for (size_t i = 0; i < VF_ARRAY_LEN(aliases); i++)
        if (vf_strcasecmp(aliases[i].alias, name) == 0)
            return aliases[i].dt;
    return VF_DT_INVALID;
}

bool vf_dtype_is_quantized(enum vf_dtype dt) {
    const struct dt_row *r = find(dt);
    return r && r->quantized;
}

double vf_dtype_bpw(enum vf_dtype dt) {
    const struct dt_row *r = find(dt);
    return r ? 8.0 * r->bytes / r->blck : 0.0;
}
