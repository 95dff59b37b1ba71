/* test_gguf.c - the GGUF reader: a hand-built file parses to the right
 * metadata and tensors; every truncation, hostile count, bad type and
 * out-of-file offset is rejected with a message; allocation failures at
 * every point are reported, never crash or leak; and files written by
 * voxfit dev mkmodel (ggml's own writer) read back with the shapes. */
#include "vf_test.h"

#include "model/gguf_read.h"
#include "model/model.h"

/* A minimal valid GGUF v3: 3 metadata entries, 2 tensors. */
static void build(struct tbuf *b, uint64_t n_tensors_field, uint64_t n_kv_field) {
    tb_put(b, "GGUF", 4);
    tb_u32(b, 3);
    tb_u64(b, n_tensors_field);
    tb_u64(b, n_kv_field);
    tb_str64(b, "general.architecture");
    tb_u32(b, 8);
    tb_str64(b, "llama");
    tb_str64(b, "llama.block_count");
    tb_u32(b, 4);
    tb_u32(b, 2);
    tb_str64(b, "llama.head_count_kv_l");
    tb_u32(b, 9);
    tb_u32(b, 5);
    tb_u64(b, 2);
    tb_i32(b, 8);
    tb_i32(b, 4);
    /* tensor 0: F32 [64] at 0; tensor 1: Q8_0 [64, 2] at 256 */
    tb_str64(b, "a.weight");
    tb_u32(b, 1);
    tb_u64(b, 64);
    tb_u32(b, 0);
    tb_u64(b, 0);
    tb_str64(b, "blk.0.b.weight");
    tb_u32(b, 2);
    tb_u64(b, 64);
    tb_u64(b, 2);
    tb_u32(b, 8);
    tb_u64(b, 256);
    size_t pad = (32 - b->n % 32) % 32;
    tb_zero(b, pad);
    tb_zero(b, 256 + 2 * 2 * 34);
}

static void test_valid(void **state) {
    (void)state;
    struct tbuf b = {0};
    build(&b, 2, 3);
    struct vf_gguf *g = NULL;
    char err[256] = "";
    assert_int_equal(vf_gguf_read_mem(b.p, b.n, &g, err, sizeof err), VF_OK);
    assert_non_null(g);
    assert_int_equal(g->version, 3);
    assert_string_equal(vf_gguf_get_str(g, "general.architecture"), "llama");
    int64_t v;
    assert_true(vf_gguf_get_int(g, "llama.block_count", &v));
    assert_int_equal(v, 2);
    assert_int_equal(vf_gguf_arr_len(g, "llama.head_count_kv_l"), 2);
    assert_int_equal(g->tensors.n, 2);
    assert_int_equal(g->tensors.v[0].nbytes, 256);
    assert_int_equal(g->tensors.v[1].nbytes, 2 * 2 * 34);
    assert_int_equal(g->tensors.v[1].offset, g->data_offset + 256);
    assert_int_equal(g->data_offset % 32, 0);
    assert_false(vf_gguf_get_int(g, "general.architecture", &v));
    assert_null(vf_gguf_find(g, "missing"));
    vf_gguf_free(g);
    tb_free(&b);
}

static void test_every_truncation_rejected(void **state) {
    (void)state;
    struct tbuf b = {0};
    build(&b, 2, 3);
    for (size_t n = 0; n < b.n; n++) {
        struct vf_gguf *g = (void *)1;
        char err[256] = "";
        int rc = vf_gguf_read_mem(b.p, n, &g, err, sizeof err);
        assert_int_not_equal(rc, VF_OK);
        assert_null(g);
        assert_true(err[0] != '\0');
    }
    tb_free(&b);
}

static void test_hostile_counts(void **state) {
    (void)state;
    struct tbuf b = {0};
    build(&b, (uint64_t)1 << 60, 3);
    struct vf_gguf *g = NULL;
    char err[256];
    assert_int_equal(vf_gguf_read_mem(b.p, b.n, &g, err, sizeof err), VF_ERR_FORMAT);
    assert_non_null(strstr(err, "implausible"));
    tb_free(&b);
    b = (struct tbuf){0};
    build(&b, 2, 1000);
    assert_int_equal(vf_gguf_read_mem(b.p, b.n, &g, err, sizeof err), VF_ERR_FORMAT);
    tb_free(&b);
}

static void test_bad_magic_and_version(void **state) {
    (void)state;
    struct tbuf b = {0};
    build(&b, 2, 3);
    struct vf_gguf *g = NULL;
    char err[256];
    b.p[0] = 'X';
    assert_int_equal(vf_gguf_read_mem(b.p, b.n, &g, err, sizeof err), VF_ERR_FORMAT);
    assert_non_null(strstr(err, "not a GGUF"));
    b.p[0] = 'G';
    b.p[4] = 1;
    assert_int_equal(vf_gguf_read_mem(b.p, b.n, &g, err, sizeof err), VF_ERR_UNSUPPORTED);
    b.p[4] = 9;
    assert_int_equal(vf_gguf_read_mem(b.p, b.n, &g, err, sizeof err), VF_ERR_UNSUPPORTED);
    tb_free(&b);
}

/* Corrupt each byte of the header in turn: the reader must accept or reject
 * cleanly (ASan/valgrind catch any bad access). */
static void test_byte_flips(void **state) {
    (void)state;
    struct tbuf b = {0};
    build(&b, 2, 3);
    size_t header = b.n - 256 - 136;
    for (size_t i = 0; i < header; i++) {
        for (int v = 0; v < 3; v++) {
            uint8_t save = b.p[i];
            b.p[i] = v == 0 ? 0xFF : v == 1 ? 0x00 : (uint8_t)(save ^ 0x80);
            struct vf_gguf *g = NULL;
            char err[256];
            if (vf_gguf_read_mem(b.p, b.n, &g, err, sizeof err) == VF_OK)
                vf_gguf_free(g);
            b.p[i] = save;
        }
    }
    tb_free(&b);
}

static void test_tensor_beyond_file(void **state) {
    (void)state;
    struct tbuf b = {0};
    build(&b, 2, 3);
    b.n -= 100; /* cut tensor data */
    struct vf_gguf *g = NULL;
    char err[256];
    assert_int_equal(vf_gguf_read_mem(b.p, b.n, &g, err, sizeof err), VF_ERR_FORMAT);
    assert_non_null(strstr(err, "truncated"));
    tb_free(&b);
}

static void test_alloc_failures(void **state) {
    (void)state;
    struct tbuf b = {0};
    build(&b, 2, 3);
    for (long k = 0; k < 40; k++) {
        vf_alloc_fail_after(k);
        struct vf_gguf *g = NULL;
        char err[256];
        int rc = vf_gguf_read_mem(b.p, b.n, &g, err, sizeof err);
        vf_alloc_fail_after(-1);
        if (rc == VF_OK) {
            vf_gguf_free(g);
            break;
        }
        assert_int_equal(rc, VF_ERR_NOMEM);
    }
    tb_free(&b);
}

static void test_missing_file(void **state) {
    (void)state;
    struct vf_gguf *g = NULL;
    char err[256];
    assert_int_equal(vf_gguf_read_file("/nonexistent/x.gguf", &g, err, sizeof err), VF_ERR_IO);
    assert_non_null(strstr(err, "cannot open"));
}

static void test_mkmodel_roundtrip(void **state) {
    (void)state;
    const char *dir = vf_test_dir("gguf_roundtrip");
    char cmd[1024], path[600];
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    snprintf(cmd, sizeof cmd, "%s dev mkmodel --like tiny -o %s", VF_BIN, path);
    assert_int_equal(vf_test_run(cmd, NULL, 0), 0);
    struct vf_model m;
    vf_model_init(&m);
    char err[256];
    assert_int_equal(vf_model_from_gguf(path, &m, err, sizeof err), VF_OK);
    assert_string_equal(m.llm.arch, "qwen3");
    assert_int_equal(m.llm.n_layer, 2);
    assert_int_equal(m.llm.n_embd, 64);
    assert_int_equal(m.llm.n_head, 4);
    assert_int_equal(m.llm.n_head_kv, 2);
    assert_int_equal(m.llm.n_embd_head_k, 16);
    assert_int_equal(m.llm.n_vocab, 1024);
    assert_true(m.llm.tied_embeddings);
    assert_string_equal(m.quant, "F16");
    assert_non_null(vf_tensor_list_find(&m.tensors, "blk.1.ffn_down.weight"));
    vf_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_every_truncation_rejected),
        cmocka_unit_test(test_hostile_counts),
        cmocka_unit_test(test_bad_magic_and_version),
        cmocka_unit_test(test_byte_flips),
        cmocka_unit_test(test_tensor_beyond_file),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_mkmodel_roundtrip),
    };
    return cmocka_run_group_tests_name("gguf", tests, NULL, NULL);
}
