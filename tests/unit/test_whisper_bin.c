/* test_whisper_bin.c - the embedded Whisper's model-file reader
 * (src/stt/wfile.c) and vocabulary (vocab.c): a hand-built file of a small
 * Whisper parses with the right tensors and special tokens; every
 * truncation, hostile count, wrong shape or type, duplicate or unknown
 * tensor and foreign file is rejected with a clear message; allocation
 * failures at every point are reported and leak nothing; the tokenizer
 * splits text as whisper.cpp does. */
#include "vf_test.h"

#include "stt/vf_whisper.h"
#include "stt/whisper_int.h"

/* ==== A hand-built file ===================================================== */

/* The shape of the test model: 32 wide, one head, one layer each side. */
static struct vf_wh_hparams test_hp(void) {
    struct vf_wh_hparams hp = {51864, 1500, 32, 1, 1, 448, 32, 1, 1, 80, 1, 0};
    return hp;
}

enum fault {
    F_NONE = 0,
    F_DUP,          /* one tensor twice */
    F_UNKNOWN,      /* a tensor the model does not have */
    F_SHAPE,        /* a tensor with the wrong shape */
    F_TYPE_VEC,     /* a bias stored as f16 */
    F_TYPE_ODD,     /* a matrix of ggml type 10 (q2_K) */
    F_MISSING,      /* the last tensor left out */
    F_NDIMS,        /* n_dims = 5 */
    F_NAME_LEN,     /* name length 0 */
    F_NE_NEG,       /* a negative dimension */
    F_NAME_NUL,     /* a NUL inside a name */
    F_LAYER,        /* a layer index past n_layer */
    F_QUANT,        /* a matrix in q8_0 */
};

static void put_tensor(struct tbuf *b, const char *name, int32_t type, int nd, const int32_t *ne) {
    tb_i32(b, nd);
    tb_i32(b, (int32_t)strlen(name));
    tb_i32(b, type);
    for (int i = 0; i < nd; i++)
        tb_i32(b, ne[i]);
    tb_put(b, name, strlen(name));
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= ne[i];
    size_t bytes = type == 0 ? (size_t)n * 4 : type == 1 ? (size_t)n * 2 : (size_t)n / 32 * 34;
    tb_zero(b, bytes);
}

/* Header, filters, a vocabulary of n_tokens entries, then every tensor of
 * test_hp() (with one fault). */
static void build(struct tbuf *b, const struct vf_wh_hparams *hp, int n_tokens, enum fault fault) {
    tb_u32(b, VF_WH_FILE_MAGIC);
    const int32_t h[11] = {hp->n_vocab, hp->n_audio_ctx, hp->n_audio_state, hp->n_audio_head,
                           hp->n_audio_layer, hp->n_text_ctx, hp->n_text_state, hp->n_text_head,
                           hp->n_text_layer, hp->n_mels, hp->ftype + 1000 * hp->qntvr};
    for (int i = 0; i < 11; i++)
        tb_i32(b, h[i]);
    tb_i32(b, hp->n_mels);
    tb_i32(b, VF_WH_N_FREQ);
    for (int i = 0; i < hp->n_mels * VF_WH_N_FREQ; i++)
        tb_f32(b, (float)(i % 7) * 0.01f);
    tb_i32(b, n_tokens);
    for (int i = 0; i < n_tokens; i++) {
        char w[16];
        if (i < 256) {
            w[0] = (char)i;
            w[1] = 0;
            tb_u32(b, 1);
            tb_put(b, w, 1);
        } else {
            snprintf(w, sizeof w, " w%d", i);
            tb_u32(b, (uint32_t)strlen(w));
            tb_put(b, w, strlen(w));
        }
    }
    const int S = hp->n_audio_state;
    int n = vf__wh_expected_count(hp);
    /* walk the expected names by asking the reader's table for each index */
    static const char *const layer[] = {
        "attn_ln.weight", "attn_ln.bias", "attn.query.weight", "attn.query.bias", "attn.key.weight",
        "attn.value.weight", "attn.value.bias", "attn.out.weight", "attn.out.bias", "mlp_ln.weight",
        "mlp_ln.bias", "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias",
        "cross_attn_ln.weight", "cross_attn_ln.bias", "cross_attn.query.weight", "cross_attn.query.bias",
        "cross_attn.key.weight", "cross_attn.value.weight", "cross_attn.value.bias",
        "cross_attn.out.weight", "cross_attn.out.bias"};
    static const char *const global[] = {
        "encoder.positional_embedding", "encoder.conv1.weight", "encoder.conv1.bias",
        "encoder.conv2.weight", "encoder.conv2.bias", "encoder.ln_post.weight", "encoder.ln_post.bias",
        "decoder.positional_embedding", "decoder.token_embedding.weight", "decoder.ln.weight",
        "decoder.ln.bias"};
    int written = 0;
    for (int part = 0; part < 3; part++) {
        int count = part == 0 ? 11 : part == 1 ? 15 * hp->n_audio_layer : 24 * hp->n_text_layer;
        for (int k = 0; k < count; k++) {
            char name[96];
            if (part == 0)
                snprintf(name, sizeof name, "%s", global[k]);
            else
                snprintf(name, sizeof name, "%s.blocks.%d.%s", part == 1 ? "encoder" : "decoder",
                         k / (part == 1 ? 15 : 24), layer[k % (part == 1 ? 15 : 24)]);
            int64_t ne[3];
            int kind;
            assert_true(vf__wh_expected(hp, name, ne, &kind) >= 0);
            int32_t e[3] = {(int32_t)ne[0], (int32_t)ne[1], (int32_t)ne[2]};
            int nd = ne[2] > 1 ? 3 : ne[1] > 1 ? 2 : 1;
            if (!strcmp(name, "encoder.conv1.bias") || !strcmp(name, "encoder.conv2.bias"))
                nd = 2;
            int32_t type = kind == 0 ? 0 : 1;
            written++;
            if (fault == F_MISSING && written == n)
                continue;
            if (fault == F_SHAPE && k == 3 && part == 1)
                e[0] = S + 1;
            if (fault == F_TYPE_VEC && k == 3 && part == 1)
                type = 1;
            if (fault == F_TYPE_ODD && k == 2 && part == 1)
                type = 10;
            if (fault == F_QUANT && kind == 2)
                type = 8;
            if (fault == F_NDIMS && k == 0 && part == 2) {
                tb_i32(b, 5);
                tb_i32(b, 4);
                tb_i32(b, 0);
                continue;
            }
            if (fault == F_NAME_LEN && k == 0 && part == 2) {
                tb_i32(b, 1);
                tb_i32(b, 0);
                tb_i32(b, 0);
                continue;
            }
            if (fault == F_NE_NEG && k == 0 && part == 2) {
                tb_i32(b, 1);
                tb_i32(b, 4);
                tb_i32(b, 0);
                tb_i32(b, -5);
                continue;
            }
            if (fault == F_NAME_NUL && k == 0 && part == 2)
                name[3] = '\0', name[4] = 'x';
            if (fault == F_LAYER && k == 0 && part == 2)
                snprintf(name, sizeof name, "decoder.blocks.7.attn_ln.weight");
            if (fault == F_NAME_NUL && k == 0 && part == 2) {
                /* write the full-length name with the NUL inside */
                tb_i32(b, nd);
                tb_i32(b, 10);
                tb_i32(b, type);
                for (int i = 0; i < nd; i++)
                    tb_i32(b, e[i]);
                tb_put(b, name, 10);
                continue;
            }
            put_tensor(b, name, type, nd, e);
            if (fault == F_DUP && written == 5)
                put_tensor(b, name, type, nd, e);
        }
    }
    if (fault == F_UNKNOWN) {
        int32_t e[1] = {S};
        put_tensor(b, "encoder.blocks.0.attn.bias", 0, 1, e);
    }
}

static int parse(const struct tbuf *b, size_t n, struct vf_wh_file *f, char *err, size_t errlen) {
    struct vf_reader r;
    vf_reader_mem(&r, b->p, n);
    return vf__wh_file_read(&r, f, err, errlen);
}

/* ==== Tests ================================================================= */

static void test_valid(void **state) {
    (void)state;
    struct vf_wh_hparams hp = test_hp();
    struct tbuf b = {0};
    build(&b, &hp, 50256, F_NONE);
    struct vf_wh_file f;
    char err[256] = "";
    assert_int_equal(parse(&b, b.n, &f, err, sizeof err), VF_OK);
    assert_int_equal(f.hp.n_vocab, 51864);
    assert_int_equal(f.n_tensors, 11 + 15 + 24);
    assert_int_equal(f.wtype, 1);
    const struct vf_wh_vocab *v = &f.vocab;
    /* English-only numbering */
    assert_false(v->multilingual);
    assert_int_equal(v->eot, 50256);
    assert_int_equal(v->sot, 50257);
    assert_int_equal(v->not_ts, 50362);
    assert_int_equal(v->beg, 50363);
    assert_int_equal(v->space, ' ');
    /* synthesized names, as whisper.cpp makes them */
    assert_int_equal(vf__wh_vocab_find(v, "[_EOT_]", 7), v->eot);
    assert_int_equal(vf__wh_vocab_find(v, "[_TT_1500]", 10), v->beg + 1500);
    assert_int_equal(vf__wh_vocab_find(v, "[_BEG_]", 7), v->beg);
    assert_int_equal(vf__wh_vocab_find(v, " w300", 5), 300);
    assert_int_equal(vf__wh_vocab_find(v, "zzz", 3), -1);
    /* tensor data offsets are inside the file and sum to data_bytes */
    uint64_t sum = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        assert_true(f.tensors[i].offset + f.tensors[i].nbytes <= b.n);
        sum += f.tensors[i].nbytes;
    }
    assert_int_equal(sum, f.data_bytes);
    vf__wh_file_free(&f);
    tb_free(&b);
}

static void test_multilingual_ids(void **state) {
    (void)state;
    int32_t nv[2] = {51865, 51866};
    int32_t beg[2] = {50364, 50365}, translate[2] = {50358, 50359};
    for (int k = 0; k < 2; k++) {
        struct vf_wh_hparams hp = test_hp();
        hp.n_vocab = nv[k];
        hp.n_mels = k ? 128 : 80;
        struct tbuf b = {0};
        build(&b, &hp, 50257, F_NONE);
        struct vf_wh_file f;
        char err[256] = "";
        assert_int_equal(parse(&b, b.n, &f, err, sizeof err), VF_OK);
        assert_true(f.vocab.multilingual);
        assert_int_equal(f.vocab.n_languages, k ? 100 : 99);
        assert_int_equal(f.vocab.eot, 50257);
        assert_int_equal(f.vocab.sot, 50258);
        assert_int_equal(f.vocab.translate, translate[k]);
        assert_int_equal(f.vocab.beg, beg[k]);
        assert_int_equal(vf__wh_vocab_find(&f.vocab, "[_LANG_de]", 10), 50258 + 1 + 2);
        vf__wh_file_free(&f);
        tb_free(&b);
    }
}

static void test_every_truncation(void **state) {
    (void)state;
    struct vf_wh_hparams hp = test_hp();
    struct tbuf b = {0};
    build(&b, &hp, 300, F_NONE);
    struct vf_wh_file f;
    char err[256];
    /* every byte of the header and the vocabulary, a stride through the
     * filters and the tensors, every byte of the end */
    const size_t hdr_end = 4 + 44 + 8 + (size_t)hp.n_mels * VF_WH_N_FREQ * 4 + 4 + 300 * 8;
    for (size_t n = 0; n < b.n;) {
        err[0] = '\0';
        int rc = parse(&b, n, &f, err, sizeof err);
        assert_int_not_equal(rc, VF_OK);
        assert_true(rc == VF_ERR_FORMAT);
        assert_true(err[0] != '\0');
        assert_null(f.tensors);
        if (n < 100 || (n + 600 > hdr_end && n < hdr_end + 100) || b.n - n < 64)
            n++;
        else
            n += n < hdr_end ? 97 : 32749;
    }
    tb_free(&b);
}

static void test_faults(void **state) {
    (void)state;
    static const struct {
        enum fault fault;
        int rc;
        const char *msg;
    } cases[] = {
        {F_DUP, VF_ERR_FORMAT, "twice"},
        {F_UNKNOWN, VF_ERR_FORMAT, "unknown tensor"},
        {F_SHAPE, VF_ERR_FORMAT, "has shape"},
        {F_TYPE_VEC, VF_ERR_UNSUPPORTED, "expected f32"},
        {F_TYPE_ODD, VF_ERR_FORMAT, "ggml type 10"},
        {F_MISSING, VF_ERR_FORMAT, "is missing"},
        {F_NDIMS, VF_ERR_FORMAT, "dimensions"},
        {F_NAME_LEN, VF_ERR_FORMAT, "name of 0 bytes"},
        {F_NE_NEG, VF_ERR_FORMAT, "dimension 0 = -5"},
        {F_NAME_NUL, VF_ERR_FORMAT, "NUL"},
        {F_LAYER, VF_ERR_FORMAT, "unknown tensor"},
        {F_QUANT, VF_ERR_UNSUPPORTED, "format version 0"},
    };
    for (size_t i = 0; i < VF_ARRAY_LEN(cases); i++) {
        struct vf_wh_hparams hp = test_hp();
        struct tbuf b = {0};
        build(&b, &hp, 10, cases[i].fault);
        struct vf_wh_file f;
        char err[256] = "";
        int rc = parse(&b, b.n, &f, err, sizeof err);
        if (rc != cases[i].rc || !strstr(err, cases[i].msg))
            fail_msg("case %zu: rc %d (want %d), err '%s' (want '%s')", i, rc, cases[i].rc, err,
                     cases[i].msg);
        tb_free(&b);
    }
    /* q8_0 matrices are fine in a version-2 quantized file */
    struct vf_wh_hparams hp = test_hp();
    hp.ftype = 7;
    hp.qntvr = 2;
    struct tbuf b = {0};
    build(&b, &hp, 10, F_QUANT);
    struct vf_wh_file f;
    char err[256] = "";
    assert_int_equal(parse(&b, b.n, &f, err, sizeof err), VF_OK);
    assert_int_equal(f.wtype, 8);
    vf__wh_file_free(&f);
    tb_free(&b);
}

static void test_hostile_header(void **state) {
    (void)state;
    struct {
        int field;   /* index into the 11 hparams, -1 for other edits */
        int32_t value;
        int rc;
        const char *msg;
    } cases[] = {
        {0, 1 << 30, VF_ERR_FORMAT, "n_vocab"},
        {0, 52000, VF_ERR_UNSUPPORTED, "51864"},
        {0, -1, VF_ERR_FORMAT, "n_vocab"},
        {1, 0, VF_ERR_FORMAT, "context"},
        {1, 1 << 20, VF_ERR_FORMAT, "context"},
        {2, 1 << 24, VF_ERR_FORMAT, "width"},
        {6, 64, VF_ERR_FORMAT, "width"},
        {3, 0, VF_ERR_FORMAT, "head"},
        {3, 5, VF_ERR_FORMAT, "head"},
        {4, 1000, VF_ERR_FORMAT, "layer"},
        {9, 81, VF_ERR_FORMAT, "mel"},
        {10, 12, VF_ERR_UNSUPPORTED, "file type 12"},
        {10, -3, VF_ERR_FORMAT, "negative"},
        {10, 1002, VF_ERR_UNSUPPORTED, "format version 1"},
    };
    for (size_t i = 0; i < VF_ARRAY_LEN(cases); i++) {
        struct vf_wh_hparams hp = test_hp();
        struct tbuf b = {0};
        build(&b, &hp, 10, F_NONE);
        memcpy(b.p + 4 + 4 * cases[i].field, &cases[i].value, 4);
        struct vf_wh_file f;
        char err[256] = "";
        int rc = parse(&b, b.n, &f, err, sizeof err);
        if (rc != cases[i].rc || !strstr(err, cases[i].msg))
            fail_msg("case %zu: rc %d (want %d), err '%s'", i, rc, cases[i].rc, err);
        tb_free(&b);
    }
    /* magic: GGUF, garbage */
    struct tbuf b = {0};
    struct vf_wh_hparams hp = test_hp();
    build(&b, &hp, 10, F_NONE);
    struct vf_wh_file f;
    char err[256] = "";
    memcpy(b.p, "GGUF", 4);
    assert_int_equal(parse(&b, b.n, &f, err, sizeof err), VF_ERR_FORMAT);
    assert_non_null(strstr(err, "GGUF"));
    memcpy(b.p, "\x7f" "ELF", 4);
    assert_int_equal(parse(&b, b.n, &f, err, sizeof err), VF_ERR_FORMAT);
    assert_non_null(strstr(err, "not a whisper.cpp model"));
    tb_free(&b);
    /* filter bank of the wrong size, a NaN filter, a vocabulary longer than
     * n_vocab, a vocabulary entry of hostile length */
    const size_t filt = 4 + 44 + 8;
    struct {
        size_t off;
        uint32_t value;
        const char *msg;
    } edits[] = {
        {4 + 44 + 4, 200, "filter bank"},
        {filt + 40, 0x7fc00000u, "not a finite"},
        {filt + 80 * VF_WH_N_FREQ * 4, 60000, "vocabulary has"},
        {filt + 80 * VF_WH_N_FREQ * 4 + 4, 0xfffffff0u, "length"},
    };
    for (size_t i = 0; i < VF_ARRAY_LEN(edits); i++) {
        struct tbuf c = {0};
        build(&c, &hp, 10, F_NONE);
        memcpy(c.p + edits[i].off, &edits[i].value, 4);
        err[0] = '\0';
        assert_int_equal(parse(&c, c.n, &f, err, sizeof err), VF_ERR_FORMAT);
        if (!strstr(err, edits[i].msg))
            fail_msg("edit %zu: '%s'", i, err);
        tb_free(&c);
    }
}

/* Allocation failure at every allocation: an error, never a crash or a
 * leak (the sanitizers and valgrind check the second part). */
static void test_alloc_failures(void **state) {
    (void)state;
    struct vf_wh_hparams hp = test_hp();
    struct tbuf b = {0};
    build(&b, &hp, 400, F_NONE);
    int seen_ok = 0;
    for (long k = 0; k < 64; k++) {
        vf_alloc_fail_after(k);
        struct vf_wh_file f;
        char err[256] = "";
        int rc = parse(&b, b.n, &f, err, sizeof err);
        vf_alloc_fail_after(-1);
        if (rc == VF_OK) {
            seen_ok++;
            vf__wh_file_free(&f);
        } else {
            assert_int_equal(rc, VF_ERR_NOMEM);
            assert_non_null(strstr(err, "memory"));
        }
    }
    assert_true(seen_ok > 0);
    tb_free(&b);
}

static void test_fuzz_entry(void **state) {
    (void)state;
    /* random bytes, and random bytes after the valid prefix */
    uint64_t s = 12345;
    uint8_t buf[4096];
    for (int it = 0; it < 300; it++) {
        size_t n = (size_t)(s % sizeof buf);
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            buf[i] = (uint8_t)(s >> 56);
        }
        vf__fuzz_whisper_bin(buf, n);
    }
    struct vf_wh_hparams hp = test_hp();
    struct tbuf b = {0};
    build(&b, &hp, 3, F_NONE);
    /* the fuzz entry's odd mode parses the rest as a file */
    struct tbuf c = {0};
    tb_put(&c, "\x01", 1);
    tb_put(&c, b.p, b.n);
    assert_int_equal(vf__fuzz_whisper_bin(c.p, c.n), 0);
    tb_free(&b);
    tb_free(&c);
}

/* ==== Tokenizer ============================================================= */

static void test_tokenizer(void **state) {
    (void)state;
    struct vf_wh_hparams hp = test_hp();
    struct tbuf b = {0};
    build(&b, &hp, 256, F_NONE);
    struct vf_wh_file f;
    char err[256];
    assert_int_equal(parse(&b, b.n, &f, err, sizeof err), VF_OK);
    /* only single bytes: every byte is one token */
    int32_t t[64];
    int n = vf__wh_tokenize(&f.vocab, "Hi, it's 42!", t, 64);
    assert_int_equal(n, 12);
    assert_int_equal(t[0], 'H');
    assert_int_equal(t[11], '!');
    /* a count larger than max is still reported */
    assert_int_equal(vf__wh_tokenize(&f.vocab, "abcdef", t, 2), 6);
    vf__wh_file_free(&f);
    tb_free(&b);

    /* a vocabulary with words: the longest entry inside each pre-split word */
    struct vf_wh_vocab v;
    memset(&v, 0, sizeof v);
    const char *words[] = {" hello", " hell", "o", "'s", " world", "!", " ", "  ", "h", "e", "l",
                           "w", "r", "d", "'", "s", "x", "1", "2", " 12", "a"};
    size_t nw = VF_ARRAY_LEN(words), tot = 0;
    for (size_t i = 0; i < nw; i++)
        tot += strlen(words[i]);
    v.n_vocab = 51864;
    v.n_file = (int32_t)nw;
    v.blob = malloc(tot);
    v.off = calloc(51864, sizeof *v.off);
    v.len = calloc(51864, sizeof *v.len);
    size_t k = 0;
    for (size_t i = 0; i < nw; i++) {
        memcpy(v.blob + k, words[i], strlen(words[i]));
        v.off[i] = (uint32_t)k;
        v.len[i] = (uint16_t)strlen(words[i]);
        k += strlen(words[i]);
    }
    assert_int_equal(vf__wh_vocab_finish(&v), VF_OK);
    /* " hello's  world!" -> " hello" "'s" " " " world" "!" (the pre-split
     * gives the last space of a run to the next word) */
    n = vf__wh_tokenize(&v, " hello's  world!", t, 64);
    int32_t want[] = {0, 3, 6, 4, 5};
    assert_int_equal(n, 5);
    for (int i = 0; i < n; i++)
        assert_int_equal(t[i], want[i]);
    /* digits and letters split: " 12a" -> " 12" "a" */
    n = vf__wh_tokenize(&v, " 12a", t, 64);
    assert_int_equal(n, 2);
    assert_int_equal(t[0], 19);
    assert_int_equal(t[1], 20);
    /* bytes with no entry are skipped, as whisper.cpp does */
    n = vf__wh_tokenize(&v, "\xc3\xa9x", t, 64);
    assert_int_equal(n, 1);
    assert_int_equal(t[0], 16);
    vf__wh_vocab_free(&v);
}

static void test_languages(void **state) {
    (void)state;
    assert_int_equal(vf_whisper_lang_id("en"), 0);
    assert_int_equal(vf_whisper_lang_id("german"), 2);
    assert_int_equal(vf_whisper_lang_id("yue"), 99);
    assert_int_equal(vf_whisper_lang_id("xx"), -1);
    assert_int_equal(vf_whisper_lang_id(NULL), -1);
    assert_string_equal(vf_whisper_lang_code(21), "uk");
    assert_null(vf_whisper_lang_code(100));
    assert_null(vf_whisper_lang_code(-1));
}

int main(void) {
    if (getenv("VF_TEST_FILTER"))   /* e.g. test_param* for a run under valgrind */
        cmocka_set_test_filter(getenv("VF_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_multilingual_ids),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_hostile_header),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_fuzz_entry),
        cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_languages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
