/* test_catalog.c - catalog lookup and the synthesized tensor lists: the
 * GGUF quantization mixes reproduce the sizes of the real published files,
 * FP8/AWQ checkpoints the sizes of their safetensors, ids resolve leniently,
 * unknown ids fail with suggestions, and the dtype table agrees with the
 * linked ggml library. */
#include "vf_test.h"

#include <ggml.h>

#include "model/catalog.h"
#include "model/dtype.h"
#include "model/synth.h"

static uint64_t weights_of(const char *id, const char *engine) {
    struct vf_model m;
    char err[256];
    assert_int_equal(vf_catalog_resolve(id, VF_ROLE_LLM, engine, &m, err, sizeof err), VF_OK);
    uint64_t w = vf_model_weight_bytes(&m);
    vf_model_free(&m);
    return w;
}

/* Published GGUF file sizes (bytes, as listed by the repositories; the
 * file also holds a few MB of tokenizer metadata, hence the 0.8% slack). */
static void test_gguf_sizes_match_published_files(void **state) {
    (void)state;
    static const struct {
        const char *id;
        double gb;
    } rows[] = {
        {"Qwen/Qwen3-8B-GGUF:Q4_K_M", 5.03},
        {"Qwen/Qwen3-0.6B-GGUF:Q8_0", 0.639},
        {"bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M", 4.92},
        {"Qwen/Qwen2.5-7B-Instruct-GGUF:Q4_K_M", 4.68},
        {"bartowski/Llama-3.2-1B-Instruct-GGUF:Q8_0", 1.32},
        {"bartowski/Mistral-7B-Instruct-v0.3-GGUF:Q4_K_M", 4.37},
        {"Qwen/Qwen3-14B-GGUF:Q4_K_M", 9.00},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double got = (double)weights_of(rows[i].id, "llama.cpp") / 1e9;
        double rel = (got - rows[i].gb) / rows[i].gb;
        if (rel > 0.002 || rel < -0.012)
            fail_msg("%s: %.3f GB synthesized vs %.3f GB published", rows[i].id, got, rows[i].gb);
    }
}

static void test_q4_k_m_mix(void **state) {
    (void)state;
    struct vf_model m;
    char err[256];
    assert_int_equal(vf_catalog_resolve("Qwen/Qwen3-8B-GGUF:Q4_K_M", VF_ROLE_LLM, NULL, &m, err, sizeof err), VF_OK);
    /* 36 layers: more bits on layers < 4, >= 31 and every third in between */
    const struct vf_tensor *t;
    t = vf_tensor_list_find(&m.tensors, "blk.0.attn_v.weight");
    assert_int_equal(t->dtype, VF_DT_Q6_K);
    t = vf_tensor_list_find(&m.tensors, "blk.4.attn_v.weight");
    assert_int_equal(t->dtype, VF_DT_Q4_K);
    t = vf_tensor_list_find(&m.tensors, "blk.6.ffn_down.weight");
    assert_int_equal(t->dtype, VF_DT_Q6_K);
    t = vf_tensor_list_find(&m.tensors, "blk.7.ffn_down.weight");
    assert_int_equal(t->dtype, VF_DT_Q4_K);
    t = vf_tensor_list_find(&m.tensors, "output.weight");
    assert_int_equal(t->dtype, VF_DT_Q6_K);
    t = vf_tensor_list_find(&m.tensors, "token_embd.weight");
    assert_int_equal(t->dtype, VF_DT_Q4_K);
    t = vf_tensor_list_find(&m.tensors, "blk.0.attn_norm.weight");
    assert_int_equal(t->dtype, VF_DT_F32);
    vf_model_free(&m);
    /* tied embeddings are quantized like the output */
    assert_int_equal(vf_catalog_resolve("Qwen/Qwen3-0.6B-GGUF:Q4_K_M", VF_ROLE_LLM, NULL, &m, err, sizeof err), VF_OK);
    t = vf_tensor_list_find(&m.tensors, "token_embd.weight");
    assert_int_equal(t->dtype, VF_DT_Q6_K);
    assert_null(vf_tensor_list_find(&m.tensors, "output.weight"));
    vf_model_free(&m);
}

static void test_hf_checkpoints(void **state) {
    (void)state;
    /* Qwen3-8B-FP8: fp8 linear weights, bf16 embeddings and head, f32
     * 128x128 block scales; vLLM logs "Model loading took 8.80 GiB". */
    double fp8 = (double)weights_of("Qwen/Qwen3-8B-FP8", "vllm") / (1 << 30);
    assert_true(fp8 > 8.74 && fp8 < 8.82);
    double bf16 = (double)weights_of("Qwen/Qwen3-8B", "vllm") / (1 << 30);
    assert_true(bf16 > 15.2 && bf16 < 15.3);  /* vLLM: 15.2683 GiB */
    double llama = (double)weights_of("meta-llama/Llama-3.1-8B-Instruct", "vllm") / (1 << 30);
    assert_true(llama > 14.95 && llama < 14.99);  /* vLLM: 14.9889 GiB incl. rotary cache */
    double awq = (double)weights_of("Qwen/Qwen3-8B-AWQ", "vllm") / (1 << 30);
    assert_true(awq > 5.4 && awq < 6.1);
}

static void test_lenient_ids(void **state) {
    (void)state;
    static const char *same[] = {"Qwen/Qwen3-8B", "qwen3-8b", "Qwen3-8B", "QWEN/QWEN3-8B-GGUF"};
    for (size_t i = 0; i < 4; i++)
        assert_non_null(vf_catalog_find_llm(same[i]));
    assert_ptr_equal(vf_catalog_find_llm("Qwen2.5-14B"), vf_catalog_find_llm("Qwen/Qwen2.5-14B-Instruct"));
    assert_ptr_not_equal(vf_catalog_find_llm("Qwen/Qwen2.5-7B"), vf_catalog_find_llm("Qwen/Qwen2.5-7B-Instruct"));
    assert_ptr_equal(vf_catalog_find_llm("Meta-Llama-3.1-8B-Instruct"),
                     vf_catalog_find_llm("meta-llama/Llama-3.1-8B-Instruct"));
    static const char *whispers[][2] = {
        {"large-v3", "large-v3"}, {"openai/whisper-large-v3", "large-v3"},
        {"Systran/faster-whisper-large-v3", "large-v3"}, {"ggml-base.en.bin", "base.en"},
        {"ggml-large-v3-q5_0.bin", "large-v3"}, {"turbo", "large-v3-turbo"},
        {"distil-whisper/distil-small.en", "distil-small.en"},
        {"Systran/faster-distil-whisper-small.en", "distil-small.en"},
        {"deepdml/faster-whisper-large-v3-turbo-ct2", "large-v3-turbo"},
    };
    for (size_t i = 0; i < sizeof whispers / sizeof whispers[0]; i++) {
        const struct vf_cat_whisper *w = vf_catalog_find_whisper(whispers[i][0]);
        if (!w || strcmp(w->name, whispers[i][1]))
            fail_msg("%s did not resolve to %s", whispers[i][0], whispers[i][1]);
    }
}

static void test_unknown_ids(void **state) {
    (void)state;
    struct vf_model m;
    char err[512];
    assert_int_equal(vf_catalog_resolve("Qwen/Qwen3-9B", VF_ROLE_LLM, NULL, &m, err, sizeof err), VF_ERR_NOTFOUND);
    assert_non_null(strstr(err, "did you mean"));
    assert_non_null(strstr(err, "Qwen3"));
    assert_int_equal(vf_catalog_resolve("Qwen/Qwen3-8B-GGUF:Q9_Z", VF_ROLE_LLM, NULL, &m, err, sizeof err), VF_ERR_NOTFOUND);
    assert_int_equal(vf_catalog_resolve("whisper-huge", VF_ROLE_STT, NULL, &m, err, sizeof err), VF_ERR_NOTFOUND);
    assert_int_equal(vf_catalog_resolve("Qwen/Qwen3-0.6B-AWQ", VF_ROLE_LLM, "vllm", &m, err, sizeof err), VF_ERR_NOTFOUND);
}

static void test_whisper_shapes(void **state) {
    (void)state;
    struct vf_model m;
    char err[256];
    /* ggml-base.en.bin is 147,951,465 bytes; tensors are all but ~0.6 MB of it */
    assert_int_equal(vf_catalog_resolve("base.en", VF_ROLE_STT, "whisper", &m, err, sizeof err), VF_OK);
    double mb = (double)vf_model_weight_bytes(&m) / 1e6;
    assert_true(mb > 146.5 && mb < 148.0);
    assert_int_equal(m.whisper.n_mels, 80);
    vf_model_free(&m);
    /* ggml-large-v3.bin is 3,095,033,483 bytes */
    assert_int_equal(vf_catalog_resolve("large-v3", VF_ROLE_STT, "whisper", &m, err, sizeof err), VF_OK);
    mb = (double)vf_model_weight_bytes(&m) / 1e6;
    assert_true(mb > 3090 && mb < 3096);
    assert_int_equal(m.whisper.n_mels, 128);
    vf_model_free(&m);
}

static void test_dtype_table_matches_ggml(void **state) {
    (void)state;
    for (int t = 0; t < VF_DT_GGML_END; t++) {
        uint32_t blck, bytes;
        if (!vf_dtype_block((enum vf_dtype)t, &blck, &bytes))
            continue;
        assert_int_equal(blck, ggml_blck_size((enum ggml_type)t));
        assert_int_equal(bytes, ggml_type_size((enum ggml_type)t));
    }
    assert_int_equal(vf_dtype_from_name("q8_0"), VF_DT_Q8_0);
    assert_int_equal(vf_dtype_from_name("fp16"), VF_DT_F16);
    assert_int_equal(vf_dtype_from_name("nope"), VF_DT_INVALID);
    assert_int_equal(vf_dtype_row_size(VF_DT_Q4_K, 100), 0); /* not a whole block */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_sizes_match_published_files),
        cmocka_unit_test(test_q4_k_m_mix),
        cmocka_unit_test(test_hf_checkpoints),
        cmocka_unit_test(test_lenient_ids),
        cmocka_unit_test(test_unknown_ids),
        cmocka_unit_test(test_whisper_shapes),
        cmocka_unit_test(test_dtype_table_matches_ggml),
    };
    return cmocka_run_group_tests_name("catalog", tests, NULL, NULL);
}
