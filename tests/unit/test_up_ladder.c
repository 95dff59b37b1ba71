/* test_up_ladder.c - the parts of `voxfit up` that need no running
 * engine: out-of-memory messages recognised in engine logs, the fallback
 * ladder in quality order (shorter context, KV precision, smaller Whisper,
 * fewer GPU layers, smaller LLM) with each step re-planned, the engines'
 * command lines (the flags `plan --emit` prints, templates with
 * placeholders, start order), the CUDA context each separate process pays,
 * and a plan written by `plan --json` read back into the same plan. */
#include "vf_test.h"

#include "core/str.h"
#include "ops/ladder.h"
#include "ops/planreq.h"
#include "ops/stack.h"
#include "ops/up.h"
#include "plan/emit.h"
#include "plan/report.h"

static void req16(struct vf_plan_req *r, const char *llm, const char *stt, enum vf_engine stt_engine) {
    vf_plan_req_default(r);
    vf_device_from_vram(16 * VF_GIB, &r->device);
    r->llm = llm;
    r->stt = stt;
    r->tts = "none";
    r->stt_engine = stt_engine;
}

static void test_oom_text(void **state) {
    (void)state;
    static const struct {
        const char *t;
        bool oom;
    } rows[] = {
        {"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB", true},
        {"ggml_backend_cuda_buffer_type_alloc_buffer: allocating 4500.00 MiB on device 0: cudaMalloc failed: out of memory", true},
        {"ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization`", true},
        {"ValueError: The model's max seq len (40960) is larger than the maximum number of tokens that can be stored in KV cache (12000)", true},
        {"ValueError: Free memory on device (10.2/79.1 GiB) on startup is less than desired GPU memory utilization", true},
        {"terminate called after throwing an instance of 'std::bad_alloc'", true},
        {"RuntimeError: CUDA error: CUDA_ERROR_OUT_OF_MEMORY", true},
        {"error: unrecognized arguments: --frobnicate", false},
        {"ModuleNotFoundError: No module named 'vllm'", false},
        {"", false},
    };
    for (size_t i = 0; i < VF_ARRAY_LEN(rows); i++)
        assert_int_equal(vf__up_is_oom(rows[i].t), rows[i].oom);
}

static void test_ladder_order(void **state) {
    (void)state;
    struct vf_plan_req r;
    req16(&r, "Qwen/Qwen3-8B-GGUF:Q8_0", "large-v3", VF_ENGINE_FASTER_WHISPER);
    r.min_ctx = 8192;
    struct vf_up_req u;
    vf_up_req_init(&u, &r);
    struct vf_plan p;
    char err[512], what[300];
    assert_int_equal(vf_up_plan(&u, &p, err, sizeof err), VF_OK);
    assert_true(p.fits);
    uint32_t ctx0 = p.comp[VF_ROLE_LLM].llama.n_ctx;
    assert_true(ctx0 > 8192);
    enum vf_step seen[32];
    int n = 0;
    for (;;) {
        enum vf_step s = vf_ladder_next(&u, &p, ~0u, what, sizeof what);
        if (s == VF_STEP_NONE)
            break;
        assert_true(n < 32);
        seen[n++] = s;
        assert_true(what[0] != '\0');
        vf_plan_free(&p);
        assert_int_equal(vf_up_plan(&u, &p, err, sizeof err), VF_OK);
        const struct vf_component *llm = &p.comp[VF_ROLE_LLM];
        switch (s) {
        case VF_STEP_CTX:
            assert_true(llm->llama.n_ctx <= u.ctx);
            assert_true(llm->llama.n_ctx >= 8192);
            break;
        case VF_STEP_KV:
            assert_int_equal(llm->llama.type_k, VF_DT_Q8_0);
            assert_int_equal(llm->llama.type_v, VF_DT_Q8_0);
            break;
        case VF_STEP_STT:
            assert_true(strcmp(p.comp[VF_ROLE_STT].model.name, "large-v3") != 0);
            break;
        case VF_STEP_NGL:
            assert_int_equal(llm->llama.n_gpu_layers, u.ngl);
            break;
        default:
            break;
        }
        if (n > 20)
            break;
    }
    /* cheapest first: the kinds never go back up the ladder, except that a
     * smaller LLM may make fewer GPU layers useful again */
    assert_true(n >= 5);
    assert_int_equal(seen[0], VF_STEP_CTX);
    int first_kv = -1, first_stt = -1, first_ngl = -1, first_llm = -1;
    for (int i = 0; i < n; i++) {
        if (seen[i] == VF_STEP_KV && first_kv < 0) first_kv = i;
        if (seen[i] == VF_STEP_STT && first_stt < 0) first_stt = i;
        if (seen[i] == VF_STEP_NGL && first_ngl < 0) first_ngl = i;
        if (seen[i] == VF_STEP_LLM && first_llm < 0) first_llm = i;
    }
    assert_true(first_kv > 0 && first_stt > first_kv && first_ngl > first_stt && first_llm > first_ngl);
    for (int i = 1; i < first_kv; i++)
        assert_int_equal(seen[i], VF_STEP_CTX);
    /* Q8_0 goes to Q6_K first: a smaller quantization of the same model */
    assert_int_equal(u.steps, n);
    vf_plan_free(&p);

    /* only the Whisper failed, and nothing was started before it */
    req16(&r, "Qwen/Qwen3-8B-GGUF:Q4_K_M", "large-v3", VF_ENGINE_WHISPER);
    vf_up_req_init(&u, &r);
    assert_int_equal(vf_up_plan(&u, &p, err, sizeof err), VF_OK);
    assert_int_equal(vf_ladder_next(&u, &p, 1u << VF_ROLE_STT, what, sizeof what), VF_STEP_STT);
    assert_non_null(strstr(what, "large-v3 -> large-v3-turbo"));
    vf_plan_free(&p);
    assert_int_equal(vf_up_plan(&u, &p, err, sizeof err), VF_OK);
    assert_string_equal(p.comp[VF_ROLE_STT].model.name, "large-v3-turbo");
    /* english-only sizes are not offered to a multilingual model */
    for (int k = 0; k < 6 && vf_ladder_next(&u, &p, 1u << VF_ROLE_STT, what, sizeof what) == VF_STEP_STT; k++) {
        vf_plan_free(&p);
        assert_int_equal(vf_up_plan(&u, &p, err, sizeof err), VF_OK);
        assert_false(vf_str_ends(p.comp[VF_ROLE_STT].model.name, ".en"));
        assert_false(vf_str_starts(p.comp[VF_ROLE_STT].model.name, "distil"));
    }
    assert_string_equal(p.comp[VF_ROLE_STT].model.name, "tiny");
    vf_plan_free(&p);
}

static void test_ladder_vllm(void **state) {
    (void)state;
    struct vf_plan_req r;
    req16(&r, "Qwen/Qwen3-8B-FP8", "none", VF_ENGINE_WHISPER);
    r.llm_engine = VF_ENGINE_VLLM;
    r.llm_args = "--max-model-len 32768";
    struct vf_up_req u;
    vf_up_req_init(&u, &r);
    struct vf_plan p;
    char err[512], what[300];
    assert_int_equal(vf_up_plan(&u, &p, err, sizeof err), VF_OK);
    assert_int_equal(p.comp[VF_ROLE_LLM].vllm.max_model_len, 32768);
    assert_int_equal(vf_ladder_next(&u, &p, ~0u, what, sizeof what), VF_STEP_CTX);
    vf_plan_free(&p);
    assert_int_equal(vf_up_plan(&u, &p, err, sizeof err), VF_OK);
    /* the pinned --max-model-len is overridden */
    assert_int_equal(p.comp[VF_ROLE_LLM].vllm.max_model_len, 16384);
    while (vf_ladder_next(&u, &p, ~0u, what, sizeof what) == VF_STEP_CTX) {
        vf_plan_free(&p);
        assert_int_equal(vf_up_plan(&u, &p, err, sizeof err), VF_OK);
    }
    assert_non_null(strstr(what, "fp8"));
    vf_plan_free(&p);
    assert_int_equal(vf_up_plan(&u, &p, err, sizeof err), VF_OK);
    assert_int_equal(p.comp[VF_ROLE_LLM].vllm.kv_cache_dtype, VF_DT_F8_E4M3);
    /* then a smaller FP8 checkpoint (no GPU layers to shed with vLLM) */
    assert_int_equal(vf_ladder_next(&u, &p, ~0u, what, sizeof what), VF_STEP_LLM);
    assert_non_null(strstr(u.llm, "FP8"));
    vf_plan_free(&p);
}

static int arg_index(const struct vf_stack_engine *e, const char *a) {
    for (int i = 0; i < e->argc; i++)
        if (!strcmp(e->argv[i], a))
            return i;
    return -1;
}

static void test_stack(void **state) {
    (void)state;
    struct vf_plan_req r;
    req16(&r, "Qwen/Qwen3-8B-GGUF:Q4_K_M", "large-v3", VF_ENGINE_FASTER_WHISPER);
    r.tts = "kokoro-82m";
    r.tts_gpu = true;
    struct vf_up_req u;
    vf_up_req_init(&u, &r);
    struct vf_plan p;
    char err[512];
    assert_int_equal(vf_up_plan(&u, &p, err, sizeof err), VF_OK);
    struct vf_stack_opts o;
    memset(&o, 0, sizeof o);
    o.host = "127.0.0.1";
    o.ports[VF_ROLE_LLM] = 18000;
    o.ports[VF_ROLE_STT] = 18001;
    o.ports[VF_ROLE_TTS] = 18002;
    o.cmd[VF_RUN_KOKORO] = "/opt/kokoro/run --listen {host}:{port}";
    struct vf_stack_engine e[VF_PLAN_COMPONENTS];
    int n;
    assert_int_equal(vf_stack_build(&p, &o, e, &n, err, sizeof err), VF_OK);
    assert_int_equal(n, 3);
    /* largest first */
    assert_int_equal(e[0].role, VF_ROLE_LLM);
    assert_true(e[0].planned_bytes >= e[1].planned_bytes && e[1].planned_bytes >= e[2].planned_bytes);
    /* llama-server: the flags emit prints, after the model, host and port */
    assert_string_equal(e[0].argv[0], "llama-server");
    assert_string_equal(e[0].argv[arg_index(&e[0], "-hf") + 1], "Qwen/Qwen3-8B-GGUF:Q4_K_M");
    assert_string_equal(e[0].argv[arg_index(&e[0], "--port") + 1], "18000");
    char *emitted = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&emitted, &len);
    vf_emit(f, &p, "llama.cpp");
    fclose(f);
    char line[4096];
    vf_stack_cmdline(&e[0], line, sizeof line);
    assert_non_null(strstr(emitted, strstr(line, " -c ")));
    free(emitted);
    assert_string_equal(e[0].ready_url, "http://127.0.0.1:18000/health");
    assert_true(e[0].on_gpu);
    /* faster-whisper: the model through the environment */
    const struct vf_stack_engine *stt = e[1].role == VF_ROLE_STT ? &e[1] : &e[2];
    bool model_env = false;
    for (int i = 0; stt->env[i]; i++)
        model_env |= !strcmp(stt->env[i], "WHISPER__MODEL=Systran/faster-whisper-large-v3");
    assert_true(model_env);
    /* a template with placeholders gets no --host/--port of its own */
    const struct vf_stack_engine *tts = e[1].role == VF_ROLE_TTS ? &e[1] : &e[2];
    assert_string_equal(tts->argv[0], "/opt/kokoro/run");
    assert_string_equal(tts->argv[2], "127.0.0.1:18002");
    assert_int_equal(arg_index(tts, "--port"), -1);
    vf_stack_cmdline(tts, line, sizeof line);
    assert_non_null(strstr(line, "USE_GPU=true"));
    vf_plan_free(&p);

    /* vLLM starts first even when smaller; its readiness URL is /v1/models */
    req16(&r, "Qwen/Qwen3-0.6B-FP8", "large-v3", VF_ENGINE_FASTER_WHISPER);
    r.llm_engine = VF_ENGINE_VLLM;
    r.llm_args = "--gpu-memory-utilization 0.2 --max-model-len 4096";
    vf_up_req_init(&u, &r);
    assert_int_equal(vf_up_plan(&u, &p, err, sizeof err), VF_OK);
    o.cmd[VF_RUN_VLLM] = "'/path with space/vllm' serve";
    assert_int_equal(vf_stack_build(&p, &o, e, &n, err, sizeof err), VF_OK);
    assert_int_equal(e[0].runner, VF_RUN_VLLM);
    assert_string_equal(e[0].argv[0], "/path with space/vllm");
    assert_string_equal(e[0].argv[2], "Qwen/Qwen3-0.6B-FP8");
    assert_string_equal(e[0].ready_url, "http://127.0.0.1:18000/v1/models");
    assert_string_equal(e[0].argv[arg_index(&e[0], "--gpu-memory-utilization") + 1], "0.200");
    vf_stack_cmdline(&e[0], line, sizeof line);
    assert_non_null(strstr(line, "'/path with space/vllm' serve"));
    o.cmd[VF_RUN_VLLM] = "'unterminated";
    assert_int_equal(vf_stack_build(&p, &o, e, &n, err, sizeof err), VF_ERR_ARG);
    vf_plan_free(&p);

    assert_int_equal(vf_runner_from_name("llama-server"), VF_RUN_LLAMA_SERVER);
    assert_int_equal(vf_runner_from_name("VLLM"), VF_RUN_VLLM);
    assert_int_equal(vf_runner_from_name("nope"), VF_RUN_COUNT);
}

static void test_contexts(void **state) {
    (void)state;
    /* embedded llama.cpp + Whisper share voxfit's CUDA context in the plan;
     * under up they are two processes and pay two */
    struct vf_plan_req r;
    req16(&r, "Qwen/Qwen3-4B-GGUF:Q4_K_M", "small", VF_ENGINE_WHISPER);
    struct vf_plan p;
    char err[512];
    assert_int_equal(vf_plan_make(&r, &p, err, sizeof err), VF_OK);
    uint64_t stt_before = p.comp[VF_ROLE_STT].total_bytes, total_before = p.total_bytes;
    vf_stack_adjust(&p);
    uint64_t ctx = vf_cuda_context_bytes(&p.device, false, NULL, 0);
    assert_true(p.comp[VF_ROLE_STT].total_bytes == stt_before + ctx);
    assert_true(p.total_bytes == total_before + ctx);
    vf_plan_free(&p);
}

static void test_planfile(void **state) {
    (void)state;
    static const struct {
        const char *llm, *stt;
        enum vf_engine le, se;
        const char *args;
    } rows[] = {
        {"Qwen/Qwen3-8B-GGUF:Q4_K_M", "large-v3", VF_ENGINE_LLAMACPP, VF_ENGINE_FASTER_WHISPER, NULL},
        {"Qwen/Qwen3-8B-GGUF:Q4_K_M", "distil-small.en", VF_ENGINE_LLAMACPP, VF_ENGINE_WHISPER, "-c 8192 -ctk q8_0 -ctv q8_0"},
        {"Qwen/Qwen3-8B-FP8", "none", VF_ENGINE_VLLM, VF_ENGINE_WHISPER, NULL},
    };
    for (size_t i = 0; i < VF_ARRAY_LEN(rows); i++) {
        struct vf_plan_req r;
        req16(&r, rows[i].llm, rows[i].stt, rows[i].se);
        r.llm_engine = rows[i].le;
        r.llm_args = rows[i].args;
        r.tts = "kokoro-82m";
        struct vf_plan a, b;
        char err[512];
        assert_int_equal(vf_plan_make(&r, &a, err, sizeof err), VF_OK);
        cJSON *j = vf_report_json(&a);
        char *text = cJSON_Print(j);
        struct vf_planfile pf;
        assert_int_equal(vf_planfile_parse(text, strlen(text), &pf, err, sizeof err), VF_OK);
        struct vf_plan_req r2;
        vf_planfile_req(&pf, &r2);
        assert_int_equal(vf_plan_make(&r2, &b, err, sizeof err), VF_OK);
        for (int k = 0; k < VF_PLAN_COMPONENTS; k++) {
            assert_int_equal(a.comp[k].present, b.comp[k].present);
            if (!a.comp[k].present)
                continue;
            assert_string_equal(a.comp[k].model.id, b.comp[k].model.id);
            assert_true(a.comp[k].total_bytes == b.comp[k].total_bytes);
            assert_true(pf.planned_bytes[k] == a.comp[k].total_bytes);
        }
        assert_true(a.total_bytes == b.total_bytes);
        cJSON_free(text);
        cJSON_Delete(j);
        vf_plan_free(&a);
        vf_plan_free(&b);
    }
    struct vf_planfile pf;
    char err[512];
    assert_int_equal(vf_planfile_parse("{}", 2, &pf, err, sizeof err), VF_ERR_FORMAT);
    assert_non_null(strstr(err, "voxfit plan --json"));
    assert_int_equal(vf_planfile_parse("[", 1, &pf, err, sizeof err), VF_ERR_FORMAT);
    const char *bad = "{\"device\":{\"name\":\"x\",\"kind\":\"gpu\",\"total_bytes\":1e10},\"components\":[{\"role\":\"llm\","
                      "\"model\":\"m\",\"engine\":\"warp-drive\"}]}";
    assert_int_equal(vf_planfile_parse(bad, strlen(bad), &pf, err, sizeof err), VF_ERR_FORMAT);
    assert_non_null(strstr(err, "warp-drive"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_text),  cmocka_unit_test(test_ladder_order), cmocka_unit_test(test_ladder_vllm),
        cmocka_unit_test(test_stack),     cmocka_unit_test(test_contexts),     cmocka_unit_test(test_planfile),
    };
    return cmocka_run_group_tests_name("up_ladder", tests, NULL, NULL);
}
