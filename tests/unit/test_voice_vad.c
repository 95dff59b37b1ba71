/* test_voice_vad.c - the energy + spectral VAD and its endpointing on real
 * speech (espeak-ng) and on signals that are not speech: one utterance is
 * found with its start and end within a frame or two of the truth, pauses
 * shorter than the silence setting do not split it, longer ones do;
 * digital silence, steady white noise, hum and a pure tone never start an
 * utterance; the decisions do not depend on how the audio is chunked
 * (a client faster or slower than real time); a very long utterance is
 * cut at max_utterance_ms; clipped (overdriven) speech is still speech. */
#include "vf_test.h"

#include "voice/vad.h"
#include "voice_test_util.h"

struct run {
    struct vf_vad_event ev[64];
    int n;
};

static void feed(const struct vf_vad_params *p, const float *x, size_t n, size_t chunk, struct run *r) {
    struct vf_vad *v = NULL;
    assert_int_equal(vf_vad_init(p, &v), VF_OK);
    r->n = 0;
    for (size_t off = 0; off < n; off += chunk) {
        struct vf_vad_event ev[128];
        int k = vf_vad_process(v, x + off, VF_MIN(chunk, n - off), ev, 128);
        for (int i = 0; i < k && r->n < 64; i++)
            r->ev[r->n++] = ev[i];
    }
    vf_vad_free(v);
}

static void test_one_utterance(void **state) {
    (void)state;
    size_t ns, n;
    float *sp = vt_speech("Hello there, what is the weather like today?", 16000, &ns);
    float *x = vt_pad(sp, ns, 16000, 1000, 1500, &n);
    struct vf_vad_params p = vf_vad_default_params();
    struct run r;
    feed(&p, x, n, 320, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.ev[0].type, VF_VAD_EVENT_SPEECH_START);
    assert_int_equal(r.ev[1].type, VF_VAD_EVENT_SPEECH_END);
    /* the truth: speech occupies [16000, 16000 + ns) minus espeak's own
     * leading/trailing silence, which is short */
    int64_t first = 16000, last = 16000 + (int64_t)ns;
    for (size_t i = 0; i < ns && fabsf(sp[i]) < 0.01f; i++)
        first++;
    for (size_t i = ns; i > 0 && fabsf(sp[i - 1]) < 0.01f; i--)
        last--;
    fprintf(stderr, "speech %lld..%lld, vad %lld..%lld decided %lld\n", (long long)first,
            (long long)last, (long long)r.ev[0].at, (long long)r.ev[1].at, (long long)r.ev[1].decided_at);
    assert_true(llabs(r.ev[0].at - first) <= 2 * 320);
    assert_true(llabs(r.ev[1].at - last) <= 4 * 320);
    /* endpoint decided silence_duration after the end of speech */
    int64_t lag = r.ev[1].decided_at - r.ev[1].at;
    assert_true(lag >= 500 * 16 && lag <= 500 * 16 + 320);
    /* chunking does not matter: 1 sample, 7, 1000, the whole buffer */
    size_t chunks[] = {1, 7, 1000, n};
    for (size_t c = 0; c < 4; c++) {
        struct run r2;
        feed(&p, x, n, chunks[c], &r2);
        assert_int_equal(r2.n, 2);
        assert_int_equal(r2.ev[0].at, r.ev[0].at);
        assert_int_equal(r2.ev[1].at, r.ev[1].at);
        assert_int_equal(r2.ev[1].decided_at, r.ev[1].decided_at);
    }
    /* overdriven speech (clipped at +-1 after x8 gain) is still one utterance */
    for (size_t i = 0; i < n; i++)
        x[i] = VF_MAX(-1.0f, VF_MIN(1.0f, x[i] * 8));
    feed(&p, x, n, 320, &r);
    assert_int_equal(r.n, 2);
    free(sp);
    free(x);
}

static void test_pauses(void **state) {
    (void)state;
    size_t na, nb;
    float *a = vt_speech("The first part", 16000, &na);
    float *b = vt_speech("and the second part", 16000, &nb);
    for (int gap_ms = 300; gap_ms <= 1200; gap_ms += 900) {
        size_t gap = (size_t)16 * gap_ms, n = 8000 + na + gap + nb + 32000;
        float *x = calloc(n, sizeof *x);
        memcpy(x + 8000, a, na * sizeof *a);
        memcpy(x + 8000 + na + gap, b, nb * sizeof *b);
        struct vf_vad_params p = vf_vad_default_params();
        struct run r;
        feed(&p, x, n, 480, &r);
        int want = gap_ms < p.silence_duration_ms ? 2 : 4;
        if (r.n != want)
            fail_msg("gap %d ms: %d events, want %d", gap_ms, r.n, want);
        /* a longer silence setting joins them again */
        p.silence_duration_ms = 1500;
        feed(&p, x, n, 480, &r);
        assert_int_equal(r.n, 2);
        free(x);
    }
    free(a);
    free(b);
}

static void test_not_speech(void **state) {
    (void)state;
    size_t n = 16000 * 5;
    float *x = calloc(n, sizeof *x);
    struct vf_vad_params p = vf_vad_default_params();
    struct run r;
    feed(&p, x, n, 320, &r); /* digital silence */
    assert_int_equal(r.n, 0);
    vt_noise(x, n, 0.0005f, 1); /* dither-level noise */
    feed(&p, x, n, 320, &r);
    assert_int_equal(r.n, 0);
    vt_noise(x, n, 0.05f, 2); /* steady white noise at about -31 dBFS */
    feed(&p, x, n, 320, &r);
    assert_int_equal(r.n, 0);
    for (size_t i = 0; i < n; i++) /* 50 Hz hum */
        x[i] = 0.3f * sinf(2 * (float)M_PI * 50 * (float)i / 16000);
    feed(&p, x, n, 320, &r);
    assert_int_equal(r.n, 0);
    for (size_t i = 0; i < n; i++) /* a 1 kHz test tone */
        x[i] = 0.3f * sinf(2 * (float)M_PI * 1000 * (float)i / 16000);
    feed(&p, x, n, 320, &r);
    assert_int_equal(r.n, 0);
    free(x);
}

static void test_speech_in_noise(void **state) {
    (void)state;
    size_t ns, n;
    float *sp = vt_speech("Can you hear me over the noise?", 16000, &ns);
    float *x = vt_pad(sp, ns, 16000, 2000, 1500, &n);
    float *nz = malloc(n * sizeof *nz);
    vt_noise(nz, n, 0.01f, 3); /* about -45 dBFS of white noise under it */
    for (size_t i = 0; i < n; i++)
        x[i] += nz[i];
    struct vf_vad_params p = vf_vad_default_params();
    struct run r;
    feed(&p, x, n, 320, &r);
    assert_int_equal(r.n, 2);
    assert_true(r.ev[0].at > 30000);
    free(sp);
    free(x);
    free(nz);
}

static void test_long_utterance(void **state) {
    (void)state;
    size_t ns;
    float *sp = vt_speech("This is a rather long sentence that goes on and on without any pause "
                          "at all so that the detector has to cut it somewhere in the middle",
                          16000, &ns);
    size_t n;
    float *x = vt_pad(sp, ns, 16000, 500, 1000, &n);
    struct vf_vad_params p = vf_vad_default_params();
    p.max_utterance_ms = 2000;
    struct run r;
    feed(&p, x, n, 320, &r);
    assert_true(r.n >= 4);
    assert_true(r.ev[1].forced);
    assert_true(r.ev[1].at - r.ev[0].at <= 2000 * 16 + 320);
    free(sp);
    free(x);
    /* parameters out of range are refused */
    struct vf_vad *v = NULL;
    p.threshold = 1.5f;
    assert_int_equal(vf_vad_init(&p, &v), VF_ERR_ARG);
    assert_null(v);
}

static int teardown(void **state) {
    (void)state;
    vt_espeak_free();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_utterance), cmocka_unit_test(test_pauses),
        cmocka_unit_test(test_not_speech),    cmocka_unit_test(test_speech_in_noise),
        cmocka_unit_test(test_long_utterance),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
