/* test_engine_args.c - engine flags read as the engines read them: vLLM's
 * dash/underscore and = forms, llama.cpp's short and long flags (old bare
 * -fa and new -fa on), shell quoting, compose folded lines, bad values. */
#include "vf_test.h"

#include "plan/engine_args.h"

static void test_split_words(void **state) {
    (void)state;
    char buf[256], *argv[16];
    int n = vf_split_words("vllm serve 'Qwen/Qwen3 8B' --x \"a b\\\"c\" d\\ e \\\n f", buf, sizeof buf, argv, 16);
    assert_int_equal(n, 7);
    assert_string_equal(argv[2], "Qwen/Qwen3 8B");
    assert_string_equal(argv[4], "a b\"c");
    assert_string_equal(argv[5], "d e");
    assert_string_equal(argv[6], "f");
    assert_int_equal(vf_split_words("a 'unterminated", buf, sizeof buf, argv, 16), -1);
    assert_int_equal(vf_split_words("a b c", buf, sizeof buf, argv, 2), -1);
    assert_int_equal(vf_split_words("abcdef", buf, 4, argv, 16), -1);
    assert_int_equal(vf_split_words("   ", buf, sizeof buf, argv, 16), 0);
}

static void test_vllm_flags(void **state) {
    (void)state;
    struct vf_pinned p;
    struct vf_strlist w = {0};
    char err[256];
    memset(&p, 0, sizeof p);
    assert_int_equal(vf_engine_args_parse_line(VF_ENGINE_VLLM,
        "vllm serve Qwen/Qwen3-8B-FP8 --gpu-memory-utilization 0.35 --max_model_len=32k "
        "--max-num-seqs 8 --kv-cache-dtype fp8 --enforce-eager --port 8000 --trust-remote-code --frobnicate",
        &p, &w, err, sizeof err), VF_OK);
    assert_true(p.has_model);
    assert_string_equal(p.model, "Qwen/Qwen3-8B-FP8");
    assert_true(p.vllm.gpu_memory_utilization > 0.3499 && p.vllm.gpu_memory_utilization < 0.3501);
    assert_int_equal(p.vllm.max_model_len, 32000);
    assert_int_equal(p.vllm.max_num_seqs, 8);
    assert_int_equal(p.vllm.kv_cache_dtype, VF_DT_F8_E4M3);
    assert_true(p.vllm.enforce_eager);
    assert_int_equal(p.port, 8000);
    assert_true(p.vllm_set & VF_PIN_UTIL);
    assert_int_equal(w.n, 1);
    assert_non_null(strstr(w.v[0], "--frobnicate"));
    vf_strlist_free(&w);
    memset(&p, 0, sizeof p);
    assert_int_equal(vf_engine_args_parse_line(VF_ENGINE_VLLM, "--model m --gpu-memory-utilization 1.5",
                                               &p, NULL, err, sizeof err), VF_ERR_ARG);
    assert_non_null(strstr(err, "--gpu-memory-utilization"));
    memset(&p, 0, sizeof p);
    assert_int_equal(vf_engine_args_parse_line(VF_ENGINE_VLLM, "m --max-model-len", &p, NULL, err, sizeof err),
                     VF_ERR_ARG);
}

static void test_llama_flags(void **state) {
    (void)state;
    struct vf_pinned p;
    char err[256];
    memset(&p, 0, sizeof p);
    assert_int_equal(vf_engine_args_parse_line(VF_ENGINE_LLAMACPP,
        "llama-server -m /models/q.gguf -c 8192 -ngl 99 -ctk q8_0 -ctv q8_0 -fa on -np 4 -ub 256 --no-mmap",
        &p, NULL, err, sizeof err), VF_OK);
    assert_string_equal(p.model, "/models/q.gguf");
    assert_int_equal(p.llama.n_ctx, 8192);
    assert_int_equal(p.llama.n_gpu_layers, 99);
    assert_int_equal(p.llama.type_k, VF_DT_Q8_0);
    assert_int_equal(p.llama.flash_attn, 1);
    assert_int_equal(p.llama.n_seq_max, 4);
    assert_int_equal(p.llama.n_ubatch, 256);
    assert_false(p.llama.mmap);
    assert_true(p.llama_set & VF_PIN_MMAP);
    /* the old bare -fa followed by another flag */
    memset(&p, 0, sizeof p);
    assert_int_equal(vf_engine_args_parse_line(VF_ENGINE_LLAMACPP, "-fa -c 4096 --ctx-size=2048",
                                               &p, NULL, err, sizeof err), VF_OK);
    assert_int_equal(p.llama.flash_attn, 1);
    assert_int_equal(p.llama.n_ctx, 2048);
    memset(&p, 0, sizeof p);
    assert_int_equal(vf_engine_args_parse_line(VF_ENGINE_LLAMACPP, "-ctk fp12", &p, NULL, err, sizeof err),
                     VF_ERR_ARG);
    memset(&p, 0, sizeof p);
    assert_int_equal(vf_engine_args_parse_line(VF_ENGINE_LLAMACPP, "-hf Qwen/Qwen3-8B-GGUF:Q4_K_M -fa off",
                                               &p, NULL, err, sizeof err), VF_OK);
    assert_string_equal(p.model, "Qwen/Qwen3-8B-GGUF:Q4_K_M");
    assert_int_equal(p.llama.flash_attn, 0);
}

static void test_whisper_flags(void **state) {
    (void)state;
    struct vf_pinned p;
    char err[256];
    memset(&p, 0, sizeof p);
    assert_int_equal(vf_engine_args_parse_line(VF_ENGINE_FASTER_WHISPER,
        "--model large-v3 --compute_type int8_float16 --beam-size 1", &p, NULL, err, sizeof err), VF_OK);
    assert_string_equal(p.model, "large-v3");
    assert_string_equal(p.whisper.compute_type, "int8_float16");
    assert_int_equal(p.whisper.beam_size, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_words),
        cmocka_unit_test(test_vllm_flags),
        cmocka_unit_test(test_llama_flags),
        cmocka_unit_test(test_whisper_flags),
    };
    return cmocka_run_group_tests_name("engine_args", tests, NULL, NULL);
}
