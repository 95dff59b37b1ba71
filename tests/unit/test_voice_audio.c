/* test_voice_audio.c - the voice loop's audio plumbing: base64 both ways
 * and every malformed input, PCM16 conversion with clipping, the speexdsp
 * resampler (frequency and level kept, streaming equals one-shot, lengths),
 * WAV headers read back by libsndfile, decoding failures, and the bounded
 * sample buffer. */
#include "vf_test.h"

#include "voice/audio.h"

#include <math.h>

static void test_b64(void **state) {
    (void)state;
    const char *cases[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[32];
        size_t n = vf_b64_encode((const uint8_t *)cases[i][0], strlen(cases[i][0]), out, sizeof out);
        assert_int_equal(n, strlen(cases[i][1]));
        assert_string_equal(out, cases[i][1]);
        uint8_t back[32];
        size_t bn = 0;
        assert_int_equal(vf_b64_decode(out, n, back, sizeof back, &bn), VF_OK);
        assert_int_equal(bn, strlen(cases[i][0]));
        assert_memory_equal(back, cases[i][0], bn);
    }
    /* unpadded input is accepted */
    uint8_t b[8];
    size_t bn;
    assert_int_equal(vf_b64_decode("Zm8", 3, b, sizeof b, &bn), VF_OK);
    assert_int_equal(bn, 2);
    /* malformed */
    assert_int_equal(vf_b64_decode("Zm9v!", 5, b, sizeof b, &bn), VF_ERR_FORMAT);
    assert_int_equal(vf_b64_decode("Z", 1, b, sizeof b, &bn), VF_ERR_FORMAT);
    assert_int_equal(vf_b64_decode("Zm9v Zm9v", 9, b, sizeof b, &bn), VF_ERR_FORMAT);
    assert_int_equal(vf_b64_decode("Zm9vYmFy", 8, b, 3, &bn), VF_ERR_TOOBIG);
    /* too small an output buffer for encoding */
    char small[4];
    assert_int_equal(vf_b64_encode((const uint8_t *)"foo", 3, small, sizeof small), 0);
    /* random round trips */
    uint8_t rnd[1000], dec[1000];
    char enc[1400];
    for (int i = 0; i < 1000; i++)
        rnd[i] = (uint8_t)(i * 131 + 7);
    for (size_t n = 0; n < 1000; n += 37) {
        size_t el = vf_b64_encode(rnd, n, enc, sizeof enc);
        assert_int_equal(vf_b64_decode(enc, el, dec, sizeof dec, &bn), VF_OK);
        assert_int_equal(bn, n);
        assert_memory_equal(dec, rnd, n);
    }
}

static void test_pcm16(void **state) {
    (void)state;
    float in[] = {0.0f, 0.5f, -0.5f, 1.0f, -1.0f, 1.5f, -3.0f, NAN, 0.99999f};
    uint8_t b[2 * 9];
    size_t clipped = vf_audio_f32_to_s16le(in, 9, b);
    assert_int_equal(clipped, 3); /* 1.5, -3.0, NaN */
    float back[9];
    vf_audio_s16le_to_f32(b, 9, back);
    assert_true(fabsf(back[1] - 0.5f) < 1e-4f);
    assert_true(fabsf(back[2] + 0.5f) < 1e-4f);
    assert_true(back[3] > 0.9999f);
    assert_true(back[4] == -1.0f);
    assert_true(back[5] > 0.9999f);
    assert_true(back[6] == -1.0f);
    assert_true(back[7] == 0.0f);
    assert_true(vf_audio_dbfs(back, 0) == -120.0);
}

/* Dominant frequency of x by scanning a grid with the Goertzel power. */
static double peak_hz(const float *x, size_t n, int rate) {
    double best = 0, best_f = 0;
    for (double f = 100; f < rate / 2.0; f += 10) {
        double w = 2 * M_PI * f / rate, c = 2 * cos(w), s1 = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) {
            double s0 = x[i] + c * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        double p = s1 * s1 + s2 * s2 - c * s1 * s2;
        if (p > best) {
            best = p;
            best_f = f;
        }
    }
    return best_f;
}

static void test_resample(void **state) {
    (void)state;
    int rates[][2] = {{48000, 16000}, {44100, 16000}, {24000, 16000}, {16000, 24000},
                      {22050, 24000}, {22050, 16000}, {16000, 16000}};
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        int in_hz = rates[k][0], out_hz = rates[k][1];
        size_t n = (size_t)in_hz; /* 1 s of a 1 kHz sine at -6 dBFS */
        float *x = malloc(n * sizeof *x);
        for (size_t i = 0; i < n; i++)
            x[i] = 0.5f * sinf(2 * (float)M_PI * 1000.0f * (float)i / (float)in_hz);
        float *y = NULL;
        size_t ny = 0;
        assert_int_equal(vf_audio_resample(x, n, in_hz, out_hz, &y, &ny), VF_OK);
        assert_int_equal(ny, (size_t)out_hz);
        /* level and frequency kept (skip the edges) */
        double db = vf_audio_dbfs(y + out_hz / 10, (size_t)out_hz * 8 / 10);
        assert_true(fabs(db - vf_audio_dbfs(x, n)) < 0.3);
        assert_true(fabs(peak_hz(y + out_hz / 10, 4000, out_hz) - 1000) <= 10);
        /* streaming in odd-sized chunks gives the same samples as one call */
        struct vf_resampler *r = NULL;
        assert_int_equal(vf_resampler_init(in_hz, out_hz, 5, &r), VF_OK);
        float *z = malloc((vf_resampler_max_out(r, n) + 64) * sizeof *z);
        size_t nz = 0;
        for (size_t off = 0; off < n;) {
            size_t c = VF_MIN(n - off, (size_t)(37 + off % 500));
            size_t got = 0;
            assert_int_equal(vf_resampler_process(r, x + off, c, z + nz, &got), VF_OK);
            nz += got;
            off += c;
        }
        vf_resampler_free(r);
        size_t cmp = VF_MIN(nz, ny);
        assert_true(cmp + 200 >= ny);
        for (size_t i = 100; i < cmp - 100; i++)
            assert_true(fabsf(z[i] - y[i]) < 1e-3f);
        free(x);
        free(z);
        vf_free(y);
    }
    struct vf_resampler *r = NULL;
    assert_int_equal(vf_resampler_init(100, 16000, 5, &r), VF_ERR_ARG);
    assert_int_equal(vf_resampler_init(16000, 16000, 11, &r), VF_ERR_ARG);
    assert_null(r);
}

static void test_wav_decode(void **state) {
    (void)state;
    /* a 0.5 s 440 Hz tone at 44.1 kHz, stereo, written by hand */
    int rate = 44100;
    size_t n = (size_t)rate / 2;
    size_t bytes = 44 + n * 4;
    uint8_t *wav = malloc(bytes);
    vf_audio_wav_header(wav, rate, 2, (uint32_t)(n * 4));
    float *tone = malloc(n * sizeof *tone);
    for (size_t i = 0; i < n; i++)
        tone[i] = 0.25f * sinf(2 * (float)M_PI * 440.0f * (float)i / (float)rate);
    uint8_t s16[2];
    for (size_t i = 0; i < n; i++) {
        vf_audio_f32_to_s16le(&tone[i], 1, s16);
        memcpy(wav + 44 + i * 4, s16, 2);
        memcpy(wav + 44 + i * 4 + 2, s16, 2);
    }
    float *out = NULL;
    size_t no = 0;
    int in_hz = 0;
    char err[200];
    assert_int_equal(vf_audio_decode(wav, bytes, 16000, 60, &out, &no, &in_hz, err, sizeof err), VF_OK);
    assert_int_equal(in_hz, 44100);
    assert_true(no >= 7990 && no <= 8010);
    assert_true(fabs(peak_hz(out + 1000, 4000, 16000) - 440) <= 10);
    vf_free(out);
    /* too long for the bound */
    assert_int_equal(vf_audio_decode(wav, bytes, 16000, 0.1, &out, &no, NULL, err, sizeof err), VF_ERR_TOOBIG);
    assert_null(out);
    /* truncated header, garbage, empty */
    assert_int_equal(vf_audio_decode(wav, 20, 16000, 60, &out, &no, NULL, err, sizeof err), VF_ERR_FORMAT);
    assert_int_equal(vf_audio_decode((const uint8_t *)"not audio at all", 16, 16000, 60, &out, &no, NULL, err, sizeof err), VF_ERR_FORMAT);
    assert_int_equal(vf_audio_decode(wav, 0, 16000, 60, &out, &no, NULL, err, sizeof err), VF_ERR_FORMAT);
    free(wav);
    free(tone);
}

static void test_pcmbuf(void **state) {
    (void)state;
    struct vf_pcmbuf b;
    vf_pcmbuf_init(&b, 10000);
    float x[6000] = {0};
    x[5999] = 1.0f;
    assert_int_equal(vf_pcmbuf_append(&b, x, 6000), VF_OK);
    assert_int_equal(vf_pcmbuf_append(&b, x, 6000), VF_ERR_TOOBIG);
    assert_int_equal(b.n, 6000);
    vf_pcmbuf_drop_front(&b, 5999);
    assert_int_equal(b.n, 1);
    assert_true(b.p[0] == 1.0f);
    vf_pcmbuf_drop_front(&b, 100);
    assert_int_equal(b.n, 0);
    /* allocation failure leaves the buffer as it was */
    vf_pcmbuf_free(&b);
    vf_pcmbuf_init(&b, 100000);
    vf_alloc_fail_after(0);
    assert_int_equal(vf_pcmbuf_append(&b, x, 6000), VF_ERR_NOMEM);
    vf_alloc_fail_after(-1);
    assert_int_equal(b.n, 0);
    vf_pcmbuf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64),        cmocka_unit_test(test_pcm16),
        cmocka_unit_test(test_resample),   cmocka_unit_test(test_wav_decode),
        cmocka_unit_test(test_pcmbuf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
