/* test_pull_hub.c - what `voxfit pull` fetches, without a network: the
 * hub's tree JSON parsed with hostile entries refused (path traversal,
 * absolute and backslash paths, malformed checksums and sizes), catalog ids
 * turned into a repository and a file choice for every format (GGUF
 * quantizations and shard sets, whisper.cpp ggml files, distil-whisper,
 * CTranslate2 folders, safetensors checkpoints, Kokoro), the cache folder
 * rules, and allocation failures in the parser. */
#include "vf_test.h"

#include "ops/hub.h"
#include "ops/pull.h"

#define SHA_A "a6344aac8c09253b3b630fb776ae94478aa0275b"
#define LFS_A "3f1c0f3c4b5a8e5f3f2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f"

static void test_paths(void **state) {
    (void)state;
    static const struct {
        const char *p;
        bool ok;
    } rows[] = {
        {"model.gguf", true}, {"Q4_K_M/model-00001-of-00002.gguf", true}, {"voices/af_heart.pt", true},
        {".gitattributes", true}, {"a/.hidden/b", true}, {"..x/y", true},
        {"", false}, {"/etc/passwd", false}, {"../escape", false}, {"a/../../b", false}, {"a/./b", false},
        {"a//b", false}, {"a/", false}, {"a\\b", false}, {"a\nb", false}, {".", false}, {"..", false},
    };
    for (size_t i = 0; i < VF_ARRAY_LEN(rows); i++)
        assert_int_equal(vf__hub_path_ok(rows[i].p), rows[i].ok);
    char longp[700];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_false(vf__hub_path_ok(longp));
    assert_true(vf__hub_repo_ok("Qwen/Qwen3-8B-GGUF"));
    assert_true(vf__hub_repo_ok("ggerganov/whisper.cpp"));
    assert_false(vf__hub_repo_ok("Qwen"));
    assert_false(vf__hub_repo_ok("a/b/c"));
    assert_false(vf__hub_repo_ok("../b"));
    assert_false(vf__hub_repo_ok("a/.."));
    assert_false(vf__hub_repo_ok("a b/c"));
    assert_false(vf__hub_repo_ok("/b"));
}

static int parse(const char *json, struct vf_hub_tree *t, char *err) {
    return vf__hub_tree_parse(json, strlen(json), t, err, 256);
}

static void test_tree(void **state) {
    (void)state;
    char err[256];
    struct vf_hub_tree t = {0};
    const char *ok =
        "[{\"type\":\"file\",\"oid\":\"" SHA_A "\",\"size\":1519,\"path\":\".gitattributes\"},"
        "{\"type\":\"directory\",\"oid\":\"" SHA_A "\",\"size\":0,\"path\":\"voices\"},"
        "{\"type\":\"file\",\"oid\":\"" SHA_A "\",\"size\":5027783488,\"lfs\":{\"oid\":\"" LFS_A "\",\"size\":5027783488,"
        "\"pointerSize\":135},\"path\":\"Qwen3-8B-Q4_K_M.gguf\"},"
        "{\"type\":\"file\",\"oid\":\"" SHA_A "\",\"size\":10,\"lfs\":null,\"path\":\"voices/af_heart.pt\"}]";
    assert_int_equal(parse(ok, &t, err), VF_OK);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.v[1].path, "Qwen3-8B-Q4_K_M.gguf");
    assert_true(t.v[1].size == 5027783488ull);
    assert_string_equal(t.v[1].sha256, LFS_A);
    assert_string_equal(t.v[0].git_oid, SHA_A);
    assert_string_equal(t.v[0].sha256, "");
    /* a second page appends */
    assert_int_equal(parse("[{\"type\":\"file\",\"size\":1,\"path\":\"x.json\"}]", &t, err), VF_OK);
    assert_int_equal(t.n, 4);
    vf__hub_tree_free(&t);

    static const char *const bad[] = {
        "[{\"type\":\"file\",\"size\":1,\"path\":\"../../etc/cron.d/x\"}]",
        "[{\"type\":\"file\",\"size\":1,\"path\":\"/abs\"}]",
        "[{\"type\":\"file\",\"size\":1,\"path\":\"a\\\\b\"}]",
        "[{\"type\":\"file\",\"size\":-1,\"path\":\"a\"}]",
        "[{\"type\":\"file\",\"size\":1.5,\"path\":\"a\"}]",
        "[{\"type\":\"file\",\"size\":\"1\",\"path\":\"a\"}]",
        "[{\"type\":\"file\",\"size\":1e300,\"path\":\"a\"}]",
        "[{\"type\":\"file\",\"oid\":\"xyz\",\"size\":1,\"path\":\"a\"}]",
        "[{\"type\":\"file\",\"size\":1,\"lfs\":{\"oid\":\"abc\",\"size\":1},\"path\":\"a\"}]",
        "[{\"type\":\"file\",\"size\":1,\"lfs\":{\"oid\":\"" LFS_A "\"},\"path\":\"a\"}]",
        "[{\"type\":\"file\",\"size\":1}]",
        "[1, 2]",
        "{\"error\":\"Repository not found\"}",
        "not json",
    };
    for (size_t i = 0; i < VF_ARRAY_LEN(bad); i++) {
        memset(&t, 0, sizeof t);
        assert_int_equal(parse(bad[i], &t, err), VF_ERR_FORMAT);
        assert_true(err[0] != '\0');
        vf__hub_tree_free(&t);
    }
    assert_int_equal(parse("{\"error\":\"Repository not found\"}", &t, err), VF_ERR_FORMAT);
    assert_non_null(strstr(err, "Repository not found"));
    assert_int_equal(parse("[{\"type\":\"file\",\"size\":1,\"path\":\"../x\"}]", &t, err), VF_ERR_FORMAT);
    assert_non_null(strstr(err, "unsafe"));
    assert_int_equal(vf__hub_tree_parse("[]", VF_HUB_TREE_MAX_BYTES + 1, &t, err, sizeof err), VF_ERR_TOOBIG);

    /* allocation failures: an error, never a crash or a leak */
    for (long k = 0; k < 8; k++) {
        memset(&t, 0, sizeof t);
        vf_alloc_fail_after(k);
        int rc = parse(ok, &t, err);
        vf_alloc_fail_after(-1);
        assert_true(rc == VF_OK || rc == VF_ERR_NOMEM);
        vf__hub_tree_free(&t);
    }
}

static void test_want(void **state) {
    (void)state;
    struct vf_hub_want w;
    char err[512];
    assert_int_equal(vf__hub_want_for("Qwen/Qwen3-8B-GGUF:Q4_K_M", NULL, NULL, &w, err, sizeof err), VF_OK);
    assert_int_equal(w.kind, VF_HUB_GGUF);
    assert_string_equal(w.repo, "Qwen/Qwen3-8B-GGUF");
    assert_string_equal(w.quant, "Q4_K_M");
    assert_int_equal(w.role, 0);
    assert_int_equal(vf__hub_want_for("qwen3-8b", "llama.cpp", NULL, &w, err, sizeof err), VF_OK);
    assert_int_equal(w.kind, VF_HUB_GGUF);
    assert_string_equal(w.quant, "Q4_K_M");
    assert_int_equal(vf__hub_want_for("Qwen/Qwen3-8B-FP8", NULL, NULL, &w, err, sizeof err), VF_OK);
    assert_int_equal(w.kind, VF_HUB_SAFETENSORS);
    assert_string_equal(w.repo, "Qwen/Qwen3-8B-FP8");
    assert_int_equal(vf__hub_want_for("Qwen/Qwen3-8B", "vllm", NULL, &w, err, sizeof err), VF_OK);
    assert_string_equal(w.repo, "Qwen/Qwen3-8B");
    assert_int_equal(vf__hub_want_for("large-v3", NULL, NULL, &w, err, sizeof err), VF_OK);
    assert_int_equal(w.kind, VF_HUB_FILE);
    assert_string_equal(w.repo, "ggerganov/whisper.cpp");
    assert_string_equal(w.file, "ggml-large-v3.bin");
    assert_int_equal(vf__hub_want_for("ggml-base.en.bin", "whisper", NULL, &w, err, sizeof err), VF_OK);
    assert_string_equal(w.file, "ggml-base.en.bin");
    assert_int_equal(vf__hub_want_for("large-v3:q5_0", "whisper", NULL, &w, err, sizeof err), VF_OK);
    assert_string_equal(w.file, "ggml-large-v3-q5_0.bin");
    assert_int_equal(vf__hub_want_for("large-v3", "faster-whisper", NULL, &w, err, sizeof err), VF_OK);
    assert_int_equal(w.kind, VF_HUB_CT2);
    assert_string_equal(w.repo, "Systran/faster-whisper-large-v3");
    assert_int_equal(vf__hub_want_for("distil-large-v3", NULL, NULL, &w, err, sizeof err), VF_OK);
    assert_int_equal(w.kind, VF_HUB_GGML_ANY);
    assert_string_equal(w.repo, "distil-whisper/distil-large-v3-ggml");
    assert_int_equal(vf__hub_want_for("kokoro-82m", NULL, NULL, &w, err, sizeof err), VF_OK);
    assert_int_equal(w.kind, VF_HUB_KOKORO);
    assert_string_equal(w.repo, "hexgrad/Kokoro-82M");
    assert_int_equal(vf__hub_want_for("espeak", NULL, NULL, &w, err, sizeof err), VF_OK);
    assert_int_equal(w.kind, VF_HUB_NONE);
    assert_int_equal(vf__hub_want_for("someone/some-model", NULL, NULL, &w, err, sizeof err), VF_OK);
    assert_int_equal(w.kind, VF_HUB_SAFETENSORS);
    assert_int_equal(vf__hub_want_for("someone/some-GGUF", NULL, NULL, &w, err, sizeof err), VF_ERR_ARG);
    assert_non_null(strstr(err, "quantization"));
    assert_int_equal(vf__hub_want_for("someone/some-GGUF:q5_k_m", NULL, NULL, &w, err, sizeof err), VF_OK);
    assert_int_equal(w.kind, VF_HUB_GGUF);
    assert_int_equal(vf__hub_want_for("someone/x", NULL, "*.onnx", &w, err, sizeof err), VF_OK);
    assert_int_equal(w.kind, VF_HUB_PATTERN);
    assert_int_equal(vf__hub_want_for("not-a-repo", NULL, "*.onnx", &w, err, sizeof err), VF_ERR_ARG);
    assert_int_equal(vf__hub_want_for("Qwen/Qwen3-9B-GGUF:Q4_K_M", NULL, NULL, &w, err, sizeof err), VF_OK);
    assert_int_equal(w.kind, VF_HUB_GGUF); /* a repository outside the catalog */
    assert_int_equal(vf__hub_want_for("qwen3-9b", NULL, NULL, &w, err, sizeof err), VF_ERR_NOTFOUND);
    assert_non_null(strstr(err, "unknown"));
    char exp[300];
    vf__hub_want_for("Qwen/Qwen3-8B-GGUF:Q4_K_M", NULL, NULL, &w, err, sizeof err);
    vf__hub_expected(&w, exp, sizeof exp);
    assert_non_null(strstr(exp, "Q4_K_M"));
}

/* A tree from a list of paths (sizes 1). */
static void tree_of(struct vf_hub_tree *t, const char *const *paths) {
    char json[8192] = "[";
    for (int i = 0; paths[i]; i++) {
        size_t l = strlen(json);
        snprintf(json + l, sizeof json - l, "%s{\"type\":\"file\",\"size\":1,\"path\":\"%s\"}", i ? "," : "", paths[i]);
    }
    strcat(json, "]");
    char err[256];
    memset(t, 0, sizeof *t);
    assert_int_equal(vf__hub_tree_parse(json, strlen(json), t, err, sizeof err), VF_OK);
}

/* The selected paths joined by spaces. */
static const char *chosen(const struct vf_hub_want *w, const char *const *paths, size_t *n) {
    static char out[4096];
    struct vf_hub_tree t;
    tree_of(&t, paths);
    bool sel[64];
    char err[256];
    *n = vf__hub_select(w, &t, sel, err, sizeof err);
    out[0] = '\0';
    for (size_t i = 0; i < t.n; i++)
        if (sel[i]) {
            strcat(out, out[0] ? " " : "");
            strcat(out, t.v[i].path);
        }
    if (!*n)
        snprintf(out, sizeof out, "ERR %s", err);
    vf__hub_tree_free(&t);
    return out;
}

static void test_select(void **state) {
    (void)state;
    struct vf_hub_want w;
    char err[512];
    size_t n;
    static const char *const gguf[] = {"README.md", "Qwen3-8B-Q4_K_S.gguf", "Qwen3-8B-IQ4_XS.gguf",
                                       "Qwen3-8B-Q4_K_M.gguf", "mmproj-Q4_K_M.gguf", "Qwen3-8B-Q8_0.gguf", NULL};
    vf__hub_want_for("Qwen/Qwen3-8B-GGUF:Q4_K_M", NULL, NULL, &w, err, sizeof err);
    assert_string_equal(chosen(&w, gguf, &n), "Qwen3-8B-Q4_K_M.gguf");
    vf__hub_want_for("Qwen/Qwen3-8B-GGUF:q8_0", NULL, NULL, &w, err, sizeof err);
    assert_string_equal(chosen(&w, gguf, &n), "Qwen3-8B-Q8_0.gguf");
    vf__hub_want_for("Qwen/Qwen3-8B-GGUF:Q6_K", NULL, NULL, &w, err, sizeof err);
    assert_non_null(strstr(chosen(&w, gguf, &n), "ERR"));
    static const char *const shards[] = {"Q4_K_M/Qwen3-32B-Q4_K_M-00002-of-00003.gguf",
                                         "Q4_K_M/Qwen3-32B-Q4_K_M-00001-of-00003.gguf",
                                         "Q4_K_M/Qwen3-32B-Q4_K_M-00003-of-00003.gguf", "Q8_0/Qwen3-32B-Q8_0.gguf", NULL};
    vf__hub_want_for("Qwen/Qwen3-32B-GGUF:Q4_K_M", NULL, NULL, &w, err, sizeof err);
    chosen(&w, shards, &n);
    assert_int_equal(n, 3);
    static const char *const broken[] = {"Qwen3-32B-Q4_K_M-00001-of-00003.gguf", "Qwen3-32B-Q4_K_M-00003-of-00003.gguf", NULL};
    assert_non_null(strstr(chosen(&w, broken, &n), "2 of the 3 shards"));
    static const char *const wcpp[] = {"ggml-large-v3.bin", "ggml-large-v3-q5_0.bin", "ggml-large-v3-turbo.bin", NULL};
    vf__hub_want_for("large-v3", NULL, NULL, &w, err, sizeof err);
    assert_string_equal(chosen(&w, wcpp, &n), "ggml-large-v3.bin");
    static const char *const distil[] = {"README.md", "ggml-distil-large-v3.fp32.bin", "ggml-distil-large-v3.bin",
                                         "model.safetensors", NULL};
    vf__hub_want_for("distil-large-v3", NULL, NULL, &w, err, sizeof err);
    assert_string_equal(chosen(&w, distil, &n), "ggml-distil-large-v3.bin");
    static const char *const ct2[] = {".gitattributes", "README.md", "config.json", "model.bin", "tokenizer.json",
                                      "vocabulary.json", "preprocessor_config.json", NULL};
    vf__hub_want_for("large-v3", "faster-whisper", NULL, &w, err, sizeof err);
    assert_string_equal(chosen(&w, ct2, &n), "config.json model.bin tokenizer.json vocabulary.json preprocessor_config.json");
    static const char *const st[] = {"LICENSE", "config.json", "generation_config.json", "merges.txt",
                                     "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                     "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
                                     "vocab.json", "consolidated.safetensors", "original/consolidated.00.pth",
                                     "pytorch_model.bin", NULL};
    vf__hub_want_for("Qwen/Qwen3-8B", "vllm", NULL, &w, err, sizeof err);
    assert_string_equal(chosen(&w, st, &n),
                        "config.json generation_config.json merges.txt model-00001-of-00002.safetensors "
                        "model-00002-of-00002.safetensors model.safetensors.index.json tokenizer.json "
                        "tokenizer_config.json vocab.json");
    static const char *const kokoro[] = {"config.json", "kokoro-v1_0.pth", "voices/af_heart.pt", "voices/am_adam.pt",
                                         "samples/x.wav", NULL};
    vf__hub_want_for("kokoro-82m", NULL, NULL, &w, err, sizeof err);
    assert_string_equal(chosen(&w, kokoro, &n), "config.json kokoro-v1_0.pth voices/af_heart.pt");
    vf__hub_want_for("someone/x", NULL, "*.pt", &w, err, sizeof err);
    assert_string_equal(chosen(&w, kokoro, &n), "voices/af_heart.pt voices/am_adam.pt");
    static const char *const none[] = {"README.md", NULL};
    vf__hub_want_for("large-v3", "faster-whisper", NULL, &w, err, sizeof err);
    assert_non_null(strstr(chosen(&w, none, &n), "not a CTranslate2"));
    vf__hub_want_for("Qwen/Qwen3-8B", "vllm", NULL, &w, err, sizeof err);
    assert_non_null(strstr(chosen(&w, none, &n), "no safetensors"));
}

static void test_fuzz_smoke(void **state) {
    (void)state;
    static const char *const inputs[] = {
        "", "[", "[]", "null", "[{}]", "[{\"type\":\"file\"}]",
        "[{\"type\":\"file\",\"size\":1,\"path\":\"a-Q4_K_M-00001-of-00002.gguf\"}]",
        "[{\"type\":\"file\",\"size\":1,\"path\":\"x-of-\"},{\"type\":\"file\",\"size\":1,\"path\":\"-00001-of-\"}]",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    };
    for (size_t i = 0; i < VF_ARRAY_LEN(inputs); i++)
        assert_int_equal(vf__fuzz_hf_tree((const uint8_t *)inputs[i], strlen(inputs[i])), 0);
    uint8_t noise[512];
    for (int k = 0; k < 200; k++) {
        for (size_t i = 0; i < sizeof noise; i++)
            noise[i] = (uint8_t)(rand() & 0xff);
        vf__fuzz_hf_tree(noise, (size_t)(rand() % (int)sizeof noise));
    }
}

static void test_cache(void **state) {
    (void)state;
    char buf[1024], path[1024];
    setenv("VOXFIT_CACHE", "/x/cache", 1);
    assert_string_equal(vf_pull_default_cache(NULL, buf, sizeof buf), "/x/cache");
    assert_string_equal(vf_pull_default_cache("/y", buf, sizeof buf), "/y");
    unsetenv("VOXFIT_CACHE");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    assert_string_equal(vf_pull_default_cache(NULL, buf, sizeof buf), "/xdg/voxfit");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    assert_string_equal(vf_pull_default_cache(NULL, buf, sizeof buf), "/home/u/.cache/voxfit");
    const char *dir = vf_test_dir("pull_hub");
    assert_int_equal(vf_pull_cached(dir, "Qwen/Qwen3-8B-GGUF:Q4_K_M", NULL, path, sizeof path), VF_ERR_NOTFOUND);
    assert_int_equal(vf_pull_cached(dir, "espeak", NULL, path, sizeof path), VF_ERR_NOTFOUND);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(vf_pull_list(f, dir, false), VF_OK);
    fclose(f);
    assert_non_null(strstr(text, "nothing cached"));
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),  cmocka_unit_test(test_tree),       cmocka_unit_test(test_want),
        cmocka_unit_test(test_select), cmocka_unit_test(test_fuzz_smoke), cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests_name("pull_hub", tests, NULL, NULL);
}
