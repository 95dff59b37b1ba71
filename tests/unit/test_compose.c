/* test_compose.c - the compose reader: the guide's file (anchors and a <<:
 * merge key for the GPU reservation, folded command, env list), map-form
 * environment and depends_on conditions, and hostile YAML (alias bombs,
 * deep nesting, garbage, non-compose documents) rejected or read safely. */
#include "vf_test.h"

#include "plan/compose.h"

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    b[len] = 0;
    fclose(f);
    *n = (size_t)len;
    return b;
}

static const struct vf_compose_service *svc(const struct vf_compose *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->svc[i].name, name))
            return &c->svc[i];
    return NULL;
}

static void test_guide_file(void **state) {
    (void)state;
    size_t n;
    char *text = read_all(VF_TEST_DATA "/guide-compose.yml", &n);
    static struct vf_compose c;
    char err[256];
    assert_int_equal(vf_compose_parse(text, n, &c, err, sizeof err), VF_OK);
    free(text);
    assert_int_equal(c.n, 5);
    const struct vf_compose_service *v = svc(&c, "vllm");
    assert_non_null(v);
    assert_int_equal(v->engine, VF_ENGINE_VLLM);
    assert_true(v->gpu); /* through the <<: *gpu merge key */
    assert_non_null(strstr(v->command, "--gpu-memory-utilization 0.35"));
    const struct vf_compose_service *w = svc(&c, "whisper");
    assert_int_equal(w->engine, VF_ENGINE_FASTER_WHISPER);
    assert_string_equal(w->whisper_model, "distil-small.en");
    assert_string_equal(w->compute_type, "int8");
    assert_string_equal(w->cuda_visible, "0");
    assert_true(w->gpu);
    const struct vf_compose_service *k = svc(&c, "kokoro-tts");
    assert_int_equal(k->engine, VF_ENGINE_KOKORO);
    assert_false(k->gpu);
    const struct vf_compose_service *b = svc(&c, "websocket-backend");
    assert_int_equal(b->engine, VF_ENGINE_COUNT);
    assert_int_equal(b->n_depends, 3);
}

static void test_map_forms(void **state) {
    (void)state;
    const char *y =
        "services:\n"
        "  llm:\n"
        "    image: ghcr.io/ggml-org/llama.cpp:server-cuda\n"
        "    command: [\"-hf\", \"Qwen/Qwen3-8B-GGUF:Q4_K_M\", \"-c\", \"8192\"]\n"
        "    gpus: all\n"
        "  stt:\n"
        "    image: ghcr.io/speaches-ai/speaches:latest-cuda\n"
        "    environment:\n"
        "      WHISPER__MODEL: Systran/faster-whisper-large-v3\n"
        "      WHISPER__COMPUTE_TYPE: float16\n"
        "    depends_on:\n"
        "      llm:\n"
        "        condition: service_healthy\n";
    static struct vf_compose c;
    char err[256];
    assert_int_equal(vf_compose_parse(y, strlen(y), &c, err, sizeof err), VF_OK);
    assert_int_equal(c.svc[0].engine, VF_ENGINE_LLAMACPP);
    assert_true(c.svc[0].gpu);
    assert_string_equal(c.svc[0].command, "-hf Qwen/Qwen3-8B-GGUF:Q4_K_M -c 8192");
    assert_string_equal(c.svc[1].whisper_model, "Systran/faster-whisper-large-v3");
    assert_int_equal(c.svc[1].n_depends, 1);
    assert_true(c.svc[1].depends_healthy[0]);
}

static void test_hostile(void **state) {
    (void)state;
    static struct vf_compose c;
    char err[256];
    const char *bomb =
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "services:\n  x:\n    <<: *d\n    image: vllm/vllm-openai\n";
    int rc = vf_compose_parse(bomb, strlen(bomb), &c, err, sizeof err);
    assert_true(rc == VF_OK || rc == VF_ERR_FORMAT);
    /* a merge cycle through an alias must not recurse forever */
    const char *cyc = "services:\n  s: &s\n    image: x\n    <<: *s\n";
    rc = vf_compose_parse(cyc, strlen(cyc), &c, err, sizeof err);
    assert_true(rc == VF_OK || rc == VF_ERR_FORMAT);
    const char *bad = "services: [unclosed\n";
    assert_int_equal(vf_compose_parse(bad, strlen(bad), &c, err, sizeof err), VF_ERR_FORMAT);
    assert_non_null(strstr(err, "line"));
    const char *notc = "just: a map\n";
    assert_int_equal(vf_compose_parse(notc, strlen(notc), &c, err, sizeof err), VF_ERR_FORMAT);
    assert_non_null(strstr(err, "services"));
    char *deep = malloc(200001);
    for (int i = 0; i < 200000; i++)
        deep[i] = '[';
    deep[200000] = 0;
    rc = vf_compose_parse(deep, 200000, &c, err, sizeof err);
    assert_int_not_equal(rc, VF_OK);
    free(deep);
    char *big = calloc(1, VF_COMPOSE_MAX_BYTES + 2);
    memset(big, ' ', VF_COMPOSE_MAX_BYTES + 1);
    assert_int_equal(vf_compose_parse(big, VF_COMPOSE_MAX_BYTES + 1, &c, err, sizeof err), VF_ERR_TOOBIG);
    free(big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guide_file),
        cmocka_unit_test(test_map_forms),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests_name("compose", tests, NULL, NULL);
}
