/* test_readers.c - the Hugging Face folder, whisper.cpp and CTranslate2
 * readers and model resolution: good files read to the right shapes, and
 * every truncation, bad header, hostile length and wrong kind of file is a
 * clear error, never a crash. */
#include "vf_test.h"

#include "model/catalog.h"
#include "model/model.h"

static void write_file(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    fclose(f);
}

static void st_file(struct tbuf *b, const char *json, size_t data) {
    tb_u64(b, strlen(json));
    tb_put(b, json, strlen(json));
    tb_zero(b, data);
}

static void test_hf_folder(void **state) {
    (void)state;
    const char *dir = vf_test_dir("hf_folder");
    char path[700];
    const char *cfg = "{\"model_type\":\"qwen3\",\"hidden_size\":64,\"num_hidden_layers\":2,"
                      "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":16,"
                      "\"intermediate_size\":128,\"vocab_size\":256,\"max_position_embeddings\":4096,"
                      "\"tie_word_embeddings\":true,\"torch_dtype\":\"bfloat16\"}";
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, cfg, strlen(cfg));
    struct tbuf b = {0};
    st_file(&b, "{\"model.embed_tokens.weight\":{\"dtype\":\"BF16\",\"shape\":[256,64],\"data_offsets\":[0,32768]},"
                "\"model.norm.weight\":{\"dtype\":\"BF16\",\"shape\":[64],\"data_offsets\":[32768,32896]},"
                "\"__metadata__\":{\"format\":\"pt\"}}", 32896);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    tb_write(&b, path);
    tb_free(&b);
    struct vf_model m;
    char err[512];
    assert_int_equal(vf_model_resolve(dir, VF_ROLE_LLM, "vllm", &m, err, sizeof err), VF_OK);
    assert_int_equal(m.format, VF_FMT_HF);
    assert_int_equal(m.llm.n_layer, 2);
    assert_int_equal(m.llm.n_embd_head_k, 16);
    assert_true(m.llm.tied_embeddings);
    assert_int_equal(m.tensors.n, 2);
    assert_int_equal(vf_model_weight_bytes(&m), 32896);
    const struct vf_tensor *t = vf_tensor_list_find(&m.tensors, "model.embed_tokens.weight");
    assert_int_equal(t->ne[0], 64);  /* ggml order */
    assert_int_equal(t->ne[1], 256);
    vf_model_free(&m);
    /* asking for it as speech-to-text is an error */
    assert_int_equal(vf_model_resolve(dir, VF_ROLE_STT, NULL, &m, err, sizeof err), VF_ERR_ARG);
}

static void test_hf_hostile(void **state) {
    (void)state;
    const char *bad[] = {
        "{\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,9]}}",          /* size mismatch */
        "{\"a\":{\"dtype\":\"Q9\",\"shape\":[4],\"data_offsets\":[0,8]}}",            /* unknown dtype */
        "{\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,999999]}}",     /* beyond file */
        "{\"a\":{\"dtype\":\"BF16\",\"shape\":[-4],\"data_offsets\":[0,8]}}",         /* negative dim */
        "{\"a\":{\"dtype\":\"BF16\"}}",                                               /* missing */
        "[1,2,3]",                                                                     /* not an object */
        "{\"a\":",                                                                     /* truncated JSON */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct tbuf b = {0};
        st_file(&b, bad[i], 8);
        struct vf_tensor_list l = {0};
        char err[256] = "";
        assert_int_equal(vf__hf_read_safetensors_mem(b.p, b.n, &l, err, sizeof err), VF_ERR_FORMAT);
        assert_true(err[0]);
        vf_tensor_list_free(&l);
        tb_free(&b);
    }
    /* header length pointing past the end */
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    struct vf_tensor_list l = {0};
    char err[256];
    assert_int_equal(vf__hf_read_safetensors_mem(huge, sizeof huge, &l, err, sizeof err), VF_ERR_FORMAT);
    assert_int_equal(vf__hf_read_safetensors_mem(huge, 3, &l, err, sizeof err), VF_ERR_FORMAT);
    /* a folder that is not a model, a config that is not a LLM */
    const char *dir = vf_test_dir("hf_bad");
    struct vf_model m;
    assert_int_equal(vf_model_resolve(dir, VF_ROLE_LLM, NULL, &m, err, sizeof err), VF_ERR_FORMAT);
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, "{\"model_type\":\"bert\"}", 21);
    assert_int_equal(vf_model_resolve(dir, VF_ROLE_LLM, NULL, &m, err, sizeof err), VF_ERR_UNSUPPORTED);
    write_file(path, "{nope", 5);
    assert_int_equal(vf_model_resolve(dir, VF_ROLE_LLM, NULL, &m, err, sizeof err), VF_ERR_FORMAT);
}

/* A tiny whisper.cpp file: header, 2x3 mel filters, 2 tokens, one tensor. */
static void whisper_file(struct tbuf *b) {
    tb_u32(b, 0x67676d6c);
    int32_t hp[11] = {4, 1500, 8, 1, 1, 448, 8, 1, 1, 2, 1};
    tb_put(b, hp, sizeof hp);
    tb_i32(b, 2);
    tb_i32(b, 3);
    tb_zero(b, 6 * 4);
    tb_i32(b, 2);
    tb_u32(b, 1);
    tb_put(b, "a", 1);
    tb_u32(b, 1);
    tb_put(b, "b", 1);
    const char *name = "encoder.conv1.weight";
    tb_i32(b, 3);
    tb_i32(b, (int32_t)strlen(name));
    tb_i32(b, 1);
    tb_i32(b, 3);
    tb_i32(b, 2);
    tb_i32(b, 8);
    tb_put(b, name, strlen(name));
    tb_zero(b, 3 * 2 * 8 * 2);
}

static void test_whisper_bin(void **state) {
    (void)state;
    const char *dir = vf_test_dir("whisper_bin");
    char path[700], err[512];
    snprintf(path, sizeof path, "%s/ggml-test.bin", dir);
    struct tbuf b = {0};
    whisper_file(&b);
    tb_write(&b, path);
    struct vf_model m;
    assert_int_equal(vf_model_resolve(path, VF_ROLE_STT, NULL, &m, err, sizeof err), VF_OK);
    assert_int_equal(m.format, VF_FMT_WHISPER_GGML);
    assert_int_equal(m.whisper.n_mels, 2);
    assert_string_equal(m.quant, "f16");
    vf_model_free(&m);
    assert_int_equal(vf_model_resolve(path, VF_ROLE_LLM, NULL, &m, err, sizeof err), VF_ERR_ARG);
    /* every truncation is an error */
    for (size_t n = 0; n < b.n; n++) {
        struct vf_tensor_list l = {0};
        (void)l;
        FILE *f = fopen(path, "wb");
        fwrite(b.p, 1, n, f);
        fclose(f);
        int rc = vf_model_from_whisper_bin(path, &m, err, sizeof err);
        assert_int_not_equal(rc, VF_OK);
    }
    /* and byte flips never crash */
    for (size_t i = 0; i < b.n; i++) {
        uint8_t save = b.p[i];
        b.p[i] ^= 0xA5;
        vf__fuzz_whisper_header(b.p, b.n);
        b.p[i] = save;
    }
    tb_free(&b);
}

static void test_ct2_folder(void **state) {
    (void)state;
    const char *dir = vf_test_dir("ct2");
    struct tbuf b = {0};
    tb_u32(&b, 6);
    const char *spec = "WhisperSpec";
    uint16_t l = (uint16_t)(strlen(spec) + 1);
    tb_put(&b, &l, 2);
    tb_put(&b, spec, l);
    tb_u32(&b, 3);
    tb_u32(&b, 5);
    struct {
        const char *name;
        uint8_t rank;
        uint32_t dims[5];
        uint8_t dt;
        uint32_t bytes;
    } vars[] = {
        {"encoder/conv1/weight", 3, {8, 2, 3}, 4, 96},
        {"encoder/layer_0/ffn/linear_0/weight", 2, {32, 8}, 1, 256},
        {"decoder/layer_0/ffn/linear_0/weight", 2, {32, 8}, 1, 256},
        {"decoder/scale", 0, {0}, 4, 2},                          /* a scalar */
        {"decoder/layer_0/folded", 5, {2, 1, 2, 2, 2}, 4, 32},    /* rank 5 folds into 4 dims */
    };
    for (size_t i = 0; i < 5; i++) {
        uint16_t nl = (uint16_t)(strlen(vars[i].name) + 1);
        tb_put(&b, &nl, 2);
        tb_put(&b, vars[i].name, nl);
        tb_put(&b, &vars[i].rank, 1);
        tb_put(&b, vars[i].dims, 4u * vars[i].rank);
        tb_put(&b, &vars[i].dt, 1);
        tb_u32(&b, vars[i].bytes);
        tb_zero(&b, vars[i].bytes);
    }
    char path[700], err[512];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    tb_write(&b, path);
    struct vf_model m;
    /* no decoder/embeddings: not a complete Whisper */
    assert_int_equal(vf_model_resolve(dir, VF_ROLE_STT, NULL, &m, err, sizeof err), VF_ERR_UNSUPPORTED);
    for (size_t i = 0; i < b.n; i++) {
        uint8_t save = b.p[i];
        b.p[i] ^= 0x5A;
        vf__fuzz_ct2(b.p, b.n);
        b.p[i] = save;
    }
    for (size_t n = 0; n < b.n; n++)
        vf__fuzz_ct2(b.p, n);
    tb_free(&b);
}

static void test_resolve_errors(void **state) {
    (void)state;
    struct vf_model m;
    char err[512];
    assert_int_equal(vf_model_resolve("/nonexistent/model.gguf", VF_ROLE_LLM, NULL, &m, err, sizeof err),
                     VF_ERR_NOTFOUND);
    assert_non_null(strstr(err, "No such file"));
    const char *dir = vf_test_dir("resolve");
    char path[700];
    snprintf(path, sizeof path, "%s/junk.bin", dir);
    write_file(path, "JUNKJUNK", 8);
    assert_int_equal(vf_model_resolve(path, VF_ROLE_LLM, NULL, &m, err, sizeof err), VF_ERR_FORMAT);
    assert_non_null(strstr(err, "unknown model format"));
    write_file(path, "GG", 2);
    assert_int_equal(vf_model_resolve(path, VF_ROLE_LLM, NULL, &m, err, sizeof err), VF_ERR_FORMAT);
    assert_int_equal(vf_model_resolve("", VF_ROLE_LLM, NULL, &m, err, sizeof err), VF_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hf_folder),
        cmocka_unit_test(test_hf_hostile),
        cmocka_unit_test(test_whisper_bin),
        cmocka_unit_test(test_ct2_folder),
        cmocka_unit_test(test_resolve_errors),
    };
    return cmocka_run_group_tests_name("readers", tests, NULL, NULL);
}
