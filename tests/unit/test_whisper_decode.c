/* test_whisper_decode.c - the embedded Whisper end to end on small random
 * models (64 wide, real vocabulary, written by mkwhisper): loading and its
 * errors, buffers that never grow, deterministic greedy and beam decoding,
 * 30-second windows over long audio, the prompt and the text carried
 * between calls, language detection, callbacks and abort, parameter errors,
 * several streams on one model at once, and allocation failures at every
 * point. Agreement with whisper.cpp is in test_whisper_oracle.sh. */
#include "vf_test.h"

#include "core/log.h"
#include "dev/mkwhisper.h"
#include "model/catalog.h"
#include "stt/vf_whisper.h"
#include "stt/whisper_int.h"

#include <math.h>
#include <pthread.h>

static char en_path[600], ml_path[600], m128_path[600], q_path[600], bad_path[600];
static struct vf_whisper_model *en, *ml;

static int make(const char *path, uint32_t vocab, uint32_t mels, const char *type) {
    struct vf_cat_whisper c = {"micro", "", 64, 2, 1, 1, vocab, mels, 0, 0};
    char err[256];
    int rc = vf__mkwhisper_shape(&c, type, path, 1, err, sizeof err);
    if (rc)
        fprintf(stderr, "mkwhisper: %s\n", err);
    return rc;
}

static int setup(void **state) {
    (void)state;
    const char *dir = vf_test_dir("whisper_decode");
    snprintf(en_path, sizeof en_path, "%s/micro.en.bin", dir);
    snprintf(ml_path, sizeof ml_path, "%s/micro.bin", dir);
    snprintf(m128_path, sizeof m128_path, "%s/micro128.bin", dir);
    snprintf(q_path, sizeof q_path, "%s/micro-q5_0.bin", dir);
    snprintf(bad_path, sizeof bad_path, "%s/bad.bin", dir);
    if (make(en_path, 51864, 80, "f16") || make(ml_path, 51865, 80, "f16") ||
        make(m128_path, 51866, 128, "f16") || make(q_path, 51864, 80, "q5_0"))
        return -1;
    char err[256];
    if (vf_whisper_model_load(en_path, NULL, &en, err, sizeof err) ||
        vf_whisper_model_load(ml_path, NULL, &ml, err, sizeof err)) {
        fprintf(stderr, "load: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    vf_whisper_model_free(en);
    vf_whisper_model_free(ml);
    return 0;
}

/* A tone with an envelope and a little noise, n seconds at 16 kHz. */
static float *audio(double seconds, size_t *n) {
    *n = (size_t)(seconds * 16000);
    float *x = malloc(*n * sizeof *x + 4);
    assert_non_null(x);
    uint64_t s = 99;
    for (size_t i = 0; i < *n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double t = i / 16000.0;
        x[i] = (float)(0.3 * sin(2 * M_PI * (200 + 100 * sin(t)) * t) * (0.5 + 0.5 * sin(2 * M_PI * 0.5 * t)) +
                       ((s >> 40) / 16777216.0 - 0.5) * 0.02);
    }
    return x;
}

static struct vf_whisper_state *state_of(struct vf_whisper_model *m, int n_dec, bool fa) {
    struct vf_whisper_state_params sp = vf_whisper_state_default_params();
    sp.n_threads = 1;   /* a 64-wide model: more threads would only wait for each other */
    sp.n_decoders = n_dec;
    sp.flash_attn = fa;
    struct vf_whisper_state *s = NULL;
    char err[256];
    assert_int_equal(vf_whisper_state_init(m, &sp, &s, err, sizeof err), VF_OK);
    return s;
}

static bool same_result(const struct vf_whisper_result *a, const struct vf_whisper_result *b) {
    if (a->n_segments != b->n_segments) {
        fprintf(stderr, "segments: %d != %d\n", a->n_segments, b->n_segments);
        return false;
    }
    for (int i = 0; i < a->n_segments; i++) {
        const struct vf_whisper_segment *x = &a->segments[i], *y = &b->segments[i];
        if (x->t0_ms != y->t0_ms || x->t1_ms != y->t1_ms || strcmp(x->text, y->text) ||
            x->n_tokens != y->n_tokens) {
            fprintf(stderr, "segment %d: [%lld %lld] %d tokens '%s' != [%lld %lld] %d tokens '%s'\n", i,
                    (long long)x->t0_ms, (long long)x->t1_ms, x->n_tokens, x->text, (long long)y->t0_ms,
                    (long long)y->t1_ms, y->n_tokens, y->text);
            return false;
        }
        for (int k = 0; k < x->n_tokens; k++)
            if (x->tokens[k].id != y->tokens[k].id) {
                fprintf(stderr, "segment %d token %d: %d != %d\n", i, k, x->tokens[k].id, y->tokens[k].id);
                return false;
            }
    }
    return true;
}

static int count_tokens(const struct vf_whisper_result *r) {
    int n = 0;
    for (int i = 0; i < r->n_segments; i++)
        n += r->segments[i].n_tokens;
    return n;
}

/* ==== Loading =============================================================== */

static void test_load_and_info(void **state) {
    (void)state;
    struct vf_whisper_model_info info;
    vf_whisper_model_info(en, &info);
    assert_int_equal(info.n_audio_state, 64);
    assert_int_equal(info.n_vocab, 51864);
    assert_false(info.multilingual);
    assert_int_equal(info.n_languages, 0);
    assert_string_equal(info.wtype_name, "f16");
    assert_true(info.weights_bytes > 6000000);
    vf_whisper_model_info(ml, &info);
    assert_true(info.multilingual);
    assert_int_equal(info.n_languages, 99);
    assert_int_equal(vf_whisper_token_special(en, VF_WHISPER_TOKEN_BEG), 50363);
    assert_int_equal(vf_whisper_token_special(ml, VF_WHISPER_TOKEN_BEG), 50364);
    size_t len;
    const char *t = vf_whisper_token_bytes(en, 50256, &len);
    assert_non_null(t);
    assert_memory_equal(t, "[_EOT_]", 7);
    assert_null(vf_whisper_token_bytes(en, 51864, &len));
    int32_t toks[16];
    assert_true(vf_whisper_tokenize(en, " hello world", toks, 16) > 0);
    assert_int_equal(vf_whisper_tokenize(en, "aaaaaaaaaa bbbbbbbbbbb ccccccccc", toks, 1), VF_ERR_TOOBIG);

    struct vf_whisper_model *m = (void *)1;
    char err[256] = "";
    assert_int_equal(vf_whisper_model_load("/nonexistent/x.bin", NULL, &m, err, sizeof err), VF_ERR_IO);
    assert_null(m);
    assert_non_null(strstr(err, "cannot open"));
    FILE *f = fopen(bad_path, "wb");
    assert_non_null(f);
    fputs("GGUF and some garbage", f);
    fclose(f);
    assert_int_equal(vf_whisper_model_load(bad_path, NULL, &m, err, sizeof err), VF_ERR_FORMAT);
    assert_non_null(strstr(err, "GGUF"));
    /* a directory is not a model */
    assert_int_equal(vf_whisper_model_load(getenv("VF_TMP") ? getenv("VF_TMP") : "/tmp", NULL, &m, err,
                                           sizeof err), VF_ERR_IO);
    /* quantized and 128-bin models load and run */
    const char *paths[2] = {q_path, m128_path};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(vf_whisper_model_load(paths[i], NULL, &m, err, sizeof err), VF_OK);
        struct vf_whisper_state *s = state_of(m, 1, true);
        size_t n;
        float *x = audio(3, &n);
        struct vf_whisper_params p = vf_whisper_default_params();
        p.temperature_inc = 0;
        p.language = i ? "auto" : "en";
        struct vf_whisper_result r;
        assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &r, err, sizeof err), VF_OK);
        assert_true(r.n_windows >= 1);
        vf_whisper_result_free(&r);
        free(x);
        vf_whisper_state_free(s);
        vf_whisper_model_free(m);
    }
}

/* ==== Decoding ============================================================== */

static void test_greedy_deterministic(void **state) {
    (void)state;
    struct vf_whisper_state *s = state_of(en, 5, true);
    size_t n;
    float *x = audio(8, &n);
    struct vf_whisper_params p = vf_whisper_default_params();
    struct vf_whisper_result a, b;
    char err[256];
    struct vf_whisper_buffer before[8], after[8];
    int nb = vf_whisper_buffers(en, s, before, 8);
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &a, err, sizeof err), VF_OK);
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &b, err, sizeof err), VF_OK);
    assert_true(same_result(&a, &b));
    assert_true(a.n_segments > 0);
    assert_true(a.total_ms > 0 && a.encode_ms > 0);
    int64_t last = -1;
    for (int i = 0; i < a.n_segments; i++) {
        const struct vf_whisper_segment *g = &a.segments[i];
        assert_true(g->n_tokens > 0);
        /* times may reach 30 s past the window's start (the most likely timestamp) */
        if (g->t0_ms < 0 || g->t0_ms > 8000 + 30000 || g->t1_ms > 8000 + 30000)
            fail_msg("segment %d: %lld .. %lld ms", i, (long long)g->t0_ms, (long long)g->t1_ms);
        assert_true(g->t0_ms >= last - 30000);
        last = g->t0_ms;
        for (int k = 0; k < g->n_tokens; k++)
            assert_true(g->tokens[k].id >= 0 && g->tokens[k].id < 51864 && g->tokens[k].p >= 0 &&
                        g->tokens[k].p <= 1.0f + 1e-6f);
    }
    /* the compute and KV buffers were sized once */
    assert_int_equal(vf_whisper_buffers(en, s, after, 8), nb);
    for (int i = 0; i < nb; i++)
        assert_int_equal(before[i].bytes, after[i].bytes);
    vf_whisper_result_free(&a);
    vf_whisper_result_free(&b);
    free(x);
    vf_whisper_state_free(s);
}

static void test_beam(void **state) {
    (void)state;
    struct vf_whisper_state *s = state_of(en, 5, true);
    size_t n;
    float *x = audio(6, &n);
    char err[256];
    struct vf_whisper_params g = vf_whisper_default_params();
    g.temperature_inc = 0;
    struct vf_whisper_params b1 = g;
    b1.strategy = VF_WHISPER_BEAM_SEARCH;
    b1.beam_size = 1;
    struct vf_whisper_result rg, r1, r5, r5b, rs;
    assert_int_equal(vf_whisper_transcribe(s, &g, x, n, &rg, err, sizeof err), VF_OK);
    /* one beam is greedy decoding */
    assert_int_equal(vf_whisper_transcribe(s, &b1, x, n, &r1, err, sizeof err), VF_OK);
    assert_true(same_result(&rg, &r1));
    /* five beams: deterministic */
    struct vf_whisper_params b5 = b1;
    b5.beam_size = 5;
    assert_int_equal(vf_whisper_transcribe(s, &b5, x, n, &r5, err, sizeof err), VF_OK);
    assert_int_equal(vf_whisper_transcribe(s, &b5, x, n, &r5b, err, sizeof err), VF_OK);
    assert_true(same_result(&r5, &r5b));
    assert_true(r5.n_segments > 0);
    /* whisper.cpp's sampled beams run too */
    b5.beam_sampled = true;
    assert_int_equal(vf_whisper_transcribe(s, &b5, x, n, &rs, err, sizeof err), VF_OK);
    vf_whisper_result_free(&rg);
    vf_whisper_result_free(&r1);
    vf_whisper_result_free(&r5);
    vf_whisper_result_free(&r5b);
    vf_whisper_result_free(&rs);
    /* more beams than the state has decoders */
    b5.beam_size = 6;
    assert_int_equal(vf_whisper_transcribe(s, &b5, x, n, &rs, err, sizeof err), VF_ERR_ARG);
    assert_non_null(strstr(err, "n_decoders"));
    free(x);
    vf_whisper_state_free(s);
}

static void test_long_audio(void **state) {
    (void)state;
    struct vf_whisper_state *s = state_of(en, 1, true);
    size_t n;
    float *x = audio(75, &n);
    struct vf_whisper_params p = vf_whisper_default_params();
    p.temperature_inc = 0;
    struct vf_whisper_result r;
    char err[256];
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &r, err, sizeof err), VF_OK);
    /* 75 s: at least three windows, later segments later in the audio */
    assert_true(r.n_windows >= 3);
    assert_true(r.n_segments >= 3);
    assert_true(r.segments[r.n_segments - 1].t0_ms >= 30000);
    for (int i = 0; i < r.n_segments; i++)
        assert_true(r.segments[i].t0_ms < 75000 + 30000);
    /* offset and duration cut the audio */
    struct vf_whisper_result c;
    p.offset_ms = 60000;
    p.duration_ms = 10000;
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &c, err, sizeof err), VF_OK);
    assert_true(c.n_windows >= 1);
    for (int i = 0; i < c.n_segments; i++)
        assert_true(c.segments[i].t0_ms >= 60000);
    vf_whisper_result_free(&c);
    vf_whisper_result_free(&r);
    free(x);
    vf_whisper_state_free(s);
}

static void test_prompt_and_context(void **state) {
    (void)state;
    struct vf_whisper_state *s = state_of(en, 1, true);
    size_t n;
    float *x = audio(5, &n);
    struct vf_whisper_params p = vf_whisper_default_params();
    p.temperature_inc = 0;
    struct vf_whisper_result a, b, c, d;
    char err[256];
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &a, err, sizeof err), VF_OK);
    p.initial_prompt = " hello world, the weather today is quick brown fox.";
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &b, err, sizeof err), VF_OK);
    /* the prompt conditions the decoder: the tokens differ */
    assert_false(same_result(&a, &b));
    /* carried text: the second call of a stream sees the first's text */
    p.initial_prompt = NULL;
    p.no_context = false;
    vf_whisper_state_reset(s);
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &c, err, sizeof err), VF_OK);
    assert_true(same_result(&a, &c));
    assert_true(s->n_past1 > 0);
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &d, err, sizeof err), VF_OK);
    assert_false(same_result(&c, &d));
    /* carry_initial_prompt keeps the prompt in every window */
    struct vf_whisper_result e;
    p.no_context = true;
    p.carry_initial_prompt = true;
    p.initial_prompt = " hello world";
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &e, err, sizeof err), VF_OK);
    assert_false(same_result(&a, &e));
    /* an over-long prompt is an argument error */
    char *big = malloc(VF_WHISPER_MAX_PROMPT + 2);
    memset(big, 'a', VF_WHISPER_MAX_PROMPT + 1);
    big[VF_WHISPER_MAX_PROMPT + 1] = 0;
    struct vf_whisper_result f;
    p.initial_prompt = big;
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &f, err, sizeof err), VF_ERR_ARG);
    free(big);
    vf_whisper_result_free(&a);
    vf_whisper_result_free(&b);
    vf_whisper_result_free(&c);
    vf_whisper_result_free(&d);
    vf_whisper_result_free(&e);
    free(x);
    vf_whisper_state_free(s);
}

static void test_language(void **state) {
    (void)state;
    struct vf_whisper_state *s = state_of(ml, 5, true);
    size_t n;
    float *x = audio(4, &n);
    float probs[VF_WH_N_LANGS];
    char err[256];
    int id = vf_whisper_detect_language(s, x, n, probs, err, sizeof err);
    assert_true(id >= 0 && id < 99);
    double sum = 0;
    for (int i = 0; i < VF_WH_N_LANGS; i++) {
        sum += probs[i];
        assert_true(probs[i] <= probs[id] + 1e-7f);
    }
    assert_true(fabs(sum - 1.0) < 1e-4);
    assert_true(probs[99] == 0.0f);   /* this model has 99 languages */
    struct vf_whisper_params p = vf_whisper_default_params();
    p.temperature_inc = 0;
    p.language = "auto";
    struct vf_whisper_result r;
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &r, err, sizeof err), VF_OK);
    assert_int_equal(r.lang_id, id);
    assert_true(fabsf(r.lang_prob - probs[id]) < 1e-5f);
    vf_whisper_result_free(&r);
    /* a language the model does not know, an English model asked to detect */
    p.language = "yue";
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &r, err, sizeof err), VF_ERR_ARG);
    p.language = "klingon";
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &r, err, sizeof err), VF_ERR_ARG);
    struct vf_whisper_state *se = state_of(en, 1, true);
    assert_int_equal(vf_whisper_detect_language(se, x, n, probs, err, sizeof err), VF_ERR_ARG);
    /* translation runs on a multilingual model */
    p.language = "de";
    p.translate = true;
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &r, err, sizeof err), VF_OK);
    assert_int_equal(r.lang_id, 2);
    vf_whisper_result_free(&r);
    vf_whisper_state_free(se);
    free(x);
    vf_whisper_state_free(s);
}

struct cb_count {
    int segments;
    int polls;
    int abort_after;
};

static void on_segment(const struct vf_whisper_segment *g, void *ud) {
    struct cb_count *c = ud;
    assert_non_null(g->text);
    c->segments++;
}

static bool on_abort(void *ud) {
    struct cb_count *c = ud;
    return ++c->polls > c->abort_after;
}

static void test_callbacks_and_abort(void **state) {
    (void)state;
    struct vf_whisper_state *s = state_of(en, 1, true);
    size_t n;
    float *x = audio(40, &n);
    struct vf_whisper_params p = vf_whisper_default_params();
    p.temperature_inc = 0;
    struct cb_count c = {0, 0, 1 << 30};
    p.on_segment = on_segment;
    p.on_segment_data = &c;
    p.abort = on_abort;
    p.abort_data = &c;
    struct vf_whisper_result r;
    char err[256];
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &r, err, sizeof err), VF_OK);
    assert_int_equal(c.segments, r.n_segments);
    assert_true(c.polls > 0);
    int full = r.n_segments;
    vf_whisper_result_free(&r);
    /* stop early: status 1 and the segments so far */
    c = (struct cb_count){0, 0, 3};
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &r, err, sizeof err), 1);
    assert_true(r.n_segments <= full);
    assert_int_equal(c.segments, r.n_segments);
    vf_whisper_result_free(&r);
    /* the state still works afterwards */
    c = (struct cb_count){0, 0, 1 << 30};
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &r, err, sizeof err), VF_OK);
    assert_int_equal(r.n_segments, full);
    vf_whisper_result_free(&r);
    free(x);
    vf_whisper_state_free(s);
}

static void test_param_errors(void **state) {
    (void)state;
    struct vf_whisper_state *s = state_of(en, 1, true);
    size_t n;
    float *x = audio(2, &n);
    struct vf_whisper_result r;
    char err[256];
    struct vf_whisper_params p = vf_whisper_default_params();
    /* the default fallback samples best_of = 5 candidates: this state has one decoder */
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &r, err, sizeof err), VF_ERR_ARG);
    assert_int_equal(r.n_segments, 0);
    p.temperature_inc = 0;
    struct vf_whisper_params q = p;
    q.temperature = 1.5f;
    assert_int_equal(vf_whisper_transcribe(s, &q, x, n, &r, err, sizeof err), VF_ERR_ARG);
    q = p;
    q.temperature_inc = 0.001f;
    assert_int_equal(vf_whisper_transcribe(s, &q, x, n, &r, err, sizeof err), VF_ERR_ARG);
    q = p;
    q.audio_ctx = 1501;
    assert_int_equal(vf_whisper_transcribe(s, &q, x, n, &r, err, sizeof err), VF_ERR_ARG);
    q = p;
    q.offset_ms = -1;
    assert_int_equal(vf_whisper_transcribe(s, &q, x, n, &r, err, sizeof err), VF_ERR_ARG);
    /* non-finite audio */
    x[100] = NAN;
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &r, err, sizeof err), VF_ERR_ARG);
    assert_non_null(strstr(err, "sample 100"));
    x[100] = 0;
    /* too long, refused before reading it */
    assert_int_equal(vf_whisper_transcribe(s, &p, x, (size_t)VF_WHISPER_MAX_SECONDS * 16000 + 1, &r, err,
                                           sizeof err), VF_ERR_TOOBIG);
    /* under 100 ms: nothing, and that is fine */
    assert_int_equal(vf_whisper_transcribe(s, &p, x, 1500, &r, err, sizeof err), VF_OK);
    assert_int_equal(r.n_segments, 0);
    assert_int_equal(vf_whisper_transcribe(s, &p, x, 0, &r, err, sizeof err), VF_OK);
    assert_int_equal(r.n_segments, 0);
    /* state parameters */
    struct vf_whisper_state_params sp = vf_whisper_state_default_params();
    struct vf_whisper_state *t = (void *)1;
    sp.n_decoders = 9;
    assert_int_equal(vf_whisper_state_init(en, &sp, &t, err, sizeof err), VF_ERR_ARG);
    assert_null(t);
    sp.n_decoders = 1;
    sp.n_threads = 0;
    assert_int_equal(vf_whisper_state_init(en, &sp, &t, err, sizeof err), VF_ERR_ARG);
    /* NULL frees are no-ops */
    vf_whisper_state_free(NULL);
    vf_whisper_model_free(NULL);
    vf_whisper_result_free(NULL);
    free(x);
    vf_whisper_state_free(s);
}

/* audio_ctx encodes part of the window: runs, and differs from the full one */
static void test_audio_ctx_and_fa(void **state) {
    (void)state;
    struct vf_whisper_state *s = state_of(en, 1, true), *t = state_of(en, 1, false);
    size_t n;
    float *x = audio(4, &n);
    struct vf_whisper_params p = vf_whisper_default_params();
    p.temperature_inc = 0;
    struct vf_whisper_result a, b;
    char err[256];
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &a, err, sizeof err), VF_OK);
    p.audio_ctx = 256;
    assert_int_equal(vf_whisper_transcribe(s, &p, x, n, &b, err, sizeof err), VF_OK);
    vf_whisper_result_free(&b);
    /* flash attention and plain attention give the same logits within
     * rounding (f16 accumulation in the fused kernel) */
    for (int k = 0; k < 2; k++) {
        struct vf_whisper_state *z = k ? t : s;
        vf__wh_set_audio_ctx(z, 0);
        assert_int_equal(vf__wh_set_audio(z, x, n), VF_OK);
        assert_int_equal(vf__wh_encode(z, 0), VF_OK);
        vf__wh_kv_clear(z);
        z->batch.n = 1;
        z->batch.token[0] = 50257;
        z->batch.pos[0] = 0;
        z->batch.seq[0] = 0;
        z->batch.logits[0] = 1;
        assert_int_equal(vf__wh_decode(z), VF_OK);
    }
    double worst = 0, rms = 0;
    for (int i = 0; i < 51864; i++) {
        double d = fabs((double)s->logits[i] - t->logits[i]);
        worst = d > worst ? d : worst;
        rms += (double)t->logits[i] * t->logits[i];
    }
    rms = sqrt(rms / 51864);
    assert_true(worst < 0.01 * rms);
    vf_whisper_result_free(&a);
    free(x);
    vf_whisper_state_free(s);
    vf_whisper_state_free(t);
}

struct job {
    struct vf_whisper_state *s;
    const float *x;
    size_t n;
    struct vf_whisper_result r;
    int rc;
};

static void *run_job(void *arg) {
    struct job *j = arg;
    struct vf_whisper_params p = vf_whisper_default_params();
    p.temperature_inc = 0;
    char err[256];
    j->rc = vf_whisper_transcribe(j->s, &p, j->x, j->n, &j->r, err, sizeof err);
    return NULL;
}

/* two streams on one model at the same time give what each gives alone */
static void test_parallel_streams(void **state) {
    (void)state;
    size_t n1, n2;
    float *x1 = audio(5, &n1), *x2 = audio(9, &n2);
    struct job a = {state_of(en, 1, true), x1, n1, {0}, 0}, b = {state_of(en, 1, true), x2, n2, {0}, 0};
    run_job(&a);
    run_job(&b);
    struct job a2 = a, b2 = b;
    memset(&a2.r, 0, sizeof a2.r);
    memset(&b2.r, 0, sizeof b2.r);
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, run_job, &a2), 0);
    assert_int_equal(pthread_create(&tb, NULL, run_job, &b2), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a2.rc, VF_OK);
    assert_int_equal(b2.rc, VF_OK);
    assert_true(same_result(&a.r, &a2.r));
    assert_true(same_result(&b.r, &b2.r));
    assert_true(count_tokens(&a.r) > 0);
    vf_whisper_result_free(&a.r);
    vf_whisper_result_free(&b.r);
    vf_whisper_result_free(&a2.r);
    vf_whisper_result_free(&b2.r);
    vf_whisper_state_free(a.s);
    vf_whisper_state_free(b.s);
    free(x1);
    free(x2);
}

/* Every allocation of a load, a state and a transcription failing in turn:
 * an error or success, never a crash; the sanitizers check for leaks. */
static void test_alloc_failures(void **state) {
    (void)state;
    size_t n;
    float *x = audio(2, &n);
    int ok = 0;
    struct vf_whisper_state_params sp = vf_whisper_state_default_params();
    sp.n_threads = 1;
    sp.n_decoders = 1;
    for (long k = 0; k < 80; k++) {
        char err[256] = "";
        struct vf_whisper_model *m = NULL;
        struct vf_whisper_state *s = NULL;
        vf_alloc_fail_after(k);
        int rc = vf_whisper_model_load(en_path, NULL, &m, err, sizeof err);
        if (!rc)
            rc = vf_whisper_state_init(m, &sp, &s, err, sizeof err);
        vf_alloc_fail_after(-1);
        if (rc == VF_OK)
            ok++;
        else if (rc != VF_ERR_NOMEM)
            fail_msg("failing allocation %ld: status %d (%s)", k, rc, err);
        vf_whisper_state_free(s);
        vf_whisper_model_free(m);
        if (ok > 2)
            break;   /* past the last allocation */
    }
    assert_true(ok > 0);
    /* a transcription (with a prompt and a segment callback) on a shared state */
    struct vf_whisper_state *s = NULL;
    char err[256];
    assert_int_equal(vf_whisper_state_init(en, &sp, &s, err, sizeof err), VF_OK);
    ok = 0;
    for (long k = 0; k < 200 && ok < 3; k++) {
        struct vf_whisper_result r = {0};
        struct vf_whisper_params p = vf_whisper_default_params();
        p.temperature_inc = 0;
        p.initial_prompt = " hello";
        vf_alloc_fail_after(k);
        int rc = vf_whisper_transcribe(s, &p, x, n, &r, err, sizeof err);
        vf_alloc_fail_after(-1);
        if (rc == VF_OK)
            ok++;
        else if (rc != VF_ERR_NOMEM)
            fail_msg("failing allocation %ld: status %d (%s)", k, rc, err);
        else
            assert_int_equal(r.n_segments, 0);
        vf_whisper_result_free(&r);
    }
    assert_true(ok > 0);
    vf_whisper_state_free(s);
    free(x);
}

int main(void) {
    if (getenv("VF_TEST_FILTER"))   /* e.g. test_param* for a run under valgrind */
        cmocka_set_test_filter(getenv("VF_TEST_FILTER"));
    vf_log_set_level(VF_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_info),
        cmocka_unit_test(test_greedy_deterministic),
        cmocka_unit_test(test_beam),
        cmocka_unit_test(test_long_audio),
        cmocka_unit_test(test_prompt_and_context),
        cmocka_unit_test(test_language),
        cmocka_unit_test(test_callbacks_and_abort),
        cmocka_unit_test(test_param_errors),
        cmocka_unit_test(test_audio_ctx_and_fa),
        cmocka_unit_test(test_parallel_streams),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
