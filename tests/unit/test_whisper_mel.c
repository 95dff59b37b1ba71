/* test_whisper_mel.c - the log-mel spectrogram (src/stt/mel.c) against a
 * plain reference written from OpenAI's definition (direct DFT in double
 * precision, the same window, filters, log, clamp and scale) for 80 and
 * 128 bins; frame counts and padding for short audio; thread-count
 * invariance; the mel filter bank mkwhisper writes. Agreement with
 * whisper.cpp itself, bit for bit, is checked by
 * tests/integration/test_whisper_oracle.sh. */
#include "vf_test.h"

#include "dev/mkwhisper.h"
#include "stt/whisper_int.h"

#include <math.h>

/* The definition: |DFT(hann * frame)|^2 -> filters -> log10 -> clamp -> scale. */
static void reference(const float *x, int n, const float *filters, int n_mel, float *out, int n_len) {
    const int pad = 200, n_pad = n + 480000 + 400;
    double *p = calloc((size_t)n_pad, sizeof *p);
    assert_non_null(p);
    for (int i = 0; i < n; i++)
        p[pad + i] = x[i];
    int nr = n - 1 < pad ? (n - 1 > 0 ? n - 1 : 0) : pad;
    for (int t = 0; t < nr; t++)
        p[pad - 1 - t] = x[1 + t];
    double win[400];
    for (int i = 0; i < 400; i++)
        win[i] = 0.5 * (1.0 - cos(2.0 * M_PI * i / 400));
    double mx = -1e30;
    double *m = calloc((size_t)n_mel * n_len, sizeof *m);
    assert_non_null(m);
    for (int f = 0; f < n_len; f++) {
        double pw[201];
        bool silent = true;
        for (int k = 0; k < 400 && silent; k++)
            silent = p[f * 160 + k] == 0.0;
        for (int k = 0; k < 201; k++) {
            double re = 0, im = 0;
            for (int j = 0; j < 400 && !silent; j++) {
                double v = win[j] * p[f * 160 + j];
                re += v * cos(2.0 * M_PI * k * j / 400);
                im -= v * sin(2.0 * M_PI * k * j / 400);
            }
            pw[k] = re * re + im * im;
        }
        for (int b = 0; b < n_mel; b++) {
            double s = 0;
            for (int k = 0; k < 201; k++)
                s += pw[k] * filters[b * 201 + k];
            double l = log10(s < 1e-10 ? 1e-10 : s);
            m[(size_t)b * n_len + f] = l;
            if (l > mx)
                mx = l;
        }
    }
    for (size_t i = 0; i < (size_t)n_mel * n_len; i++)
        out[i] = (float)(((m[i] < mx - 8 ? mx - 8 : m[i]) + 4.0) / 4.0);
    free(m);
    free(p);
}

static float *test_audio(int n, uint64_t seed) {
    float *x = malloc((size_t)n * sizeof *x + 4);
    assert_non_null(x);
    for (int i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        double noise = ((seed >> 40) / 16777216.0 - 0.5) * 0.05;
        x[i] = (float)(0.3 * sin(2 * M_PI * 440.0 * i / 16000) + 0.2 * sin(2 * M_PI * 3150.0 * i / 16000) + noise);
    }
    return x;
}

static void check_against_reference(int n_mel, int n) {
    float *filters = malloc((size_t)n_mel * 201 * sizeof *filters);
    assert_non_null(filters);
    vf_whisper_mel_filters(n_mel, filters);
    float *x = test_audio(n, 7);
    struct vf_wh_mel mel = {0};
    assert_int_equal(vf__wh_mel(x, (size_t)n, filters, n_mel, 2, &mel), VF_OK);
    assert_int_equal(mel.n_mel, n_mel);
    assert_int_equal(mel.n_len, (n + 480000) / 160);
    assert_int_equal(mel.n_len_org, 1 + (n + 200 - 400) / 160);
    float *ref = malloc((size_t)n_mel * mel.n_len * sizeof *ref);
    assert_non_null(ref);
    reference(x, n, filters, n_mel, ref, mel.n_len);
    double worst = 0;
    for (size_t i = 0; i < (size_t)n_mel * mel.n_len; i++) {
        double d = fabs((double)mel.data[i] - ref[i]);
        if (d > worst)
            worst = d;
    }
    /* float FFT against a double DFT, in units of log10 / 4 */
    if (worst > 2e-4)
        fail_msg("%d bins: max abs difference from the reference %g", n_mel, worst);
    vf__wh_mel_free(&mel);
    free(ref);
    free(x);
    free(filters);
}

static void test_80_bins(void **state) {
    (void)state;
    check_against_reference(80, 16000);
}

static void test_128_bins(void **state) {
    (void)state;
    check_against_reference(128, 8000);
}

static void test_short_audio(void **state) {
    (void)state;
    float filters[80 * 201];
    vf_whisper_mel_filters(80, filters);
    const int sizes[] = {0, 1, 2, 100, 199, 200, 201, 399, 400, 401};
    for (size_t k = 0; k < VF_ARRAY_LEN(sizes); k++) {
        int n = sizes[k];
        float *x = test_audio(n, 3);
        struct vf_wh_mel mel = {0};
        assert_int_equal(vf__wh_mel(x, (size_t)n, filters, 80, 1, &mel), VF_OK);
        assert_int_equal(mel.n_len, (n + 480000) / 160);
        assert_int_equal(mel.n_len_org, 1 + (n + 200 - 400) / 160);
        for (size_t i = 0; i < (size_t)80 * mel.n_len; i++)
            assert_true(isfinite(mel.data[i]));
        if (n == 0) {
            /* nothing but silence: log10(1e-10) everywhere, (x + 4) / 4 = -1.5 */
            for (size_t i = 0; i < (size_t)80 * mel.n_len; i++)
                assert_true(mel.data[i] == -1.5f);
        }
        vf__wh_mel_free(&mel);
        free(x);
    }
}

static void test_threads_bit_identical(void **state) {
    (void)state;
    float filters[80 * 201];
    vf_whisper_mel_filters(80, filters);
    const int n = 16000 * 3 + 77;
    float *x = test_audio(n, 11);
    struct vf_wh_mel a = {0}, b = {0};
    assert_int_equal(vf__wh_mel(x, (size_t)n, filters, 80, 1, &a), VF_OK);
    assert_int_equal(vf__wh_mel(x, (size_t)n, filters, 80, 5, &b), VF_OK);
    assert_int_equal(a.n_len, b.n_len);
    assert_memory_equal(a.data, b.data, (size_t)80 * a.n_len * sizeof(float));
    /* the buffer is reused for a shorter input */
    float *keep = b.data;
    assert_int_equal(vf__wh_mel(x, 1000, filters, 80, 2, &b), VF_OK);
    assert_ptr_equal(b.data, keep);
    vf__wh_mel_free(&a);
    vf__wh_mel_free(&b);
    free(x);
}

static void test_limits(void **state) {
    (void)state;
    float filters[80 * 201];
    vf_whisper_mel_filters(80, filters);
    struct vf_wh_mel mel = {0};
    float one = 0.5f;
    /* too long: refused before the samples are touched */
    assert_int_equal(vf__wh_mel(&one, (size_t)VF_WHISPER_MAX_SECONDS * 16000 + 1, filters, 80, 1, &mel),
                     VF_ERR_TOOBIG);
    for (long k = 0; k < 2; k++) {
        vf_alloc_fail_after(k);
        int rc = vf__wh_mel(&one, 1, filters, 80, 1, &mel);
        vf_alloc_fail_after(-1);
        assert_int_equal(rc, VF_ERR_NOMEM);
    }
    vf__wh_mel_free(&mel);
}

/* librosa's Slaney filters: non-negative triangles of unit area (in Hz);
 * with 128 bins the lowest ones are narrower than the 40 Hz FFT bins, so
 * their sampled area is off and only most of them are checked */
static void test_filter_bank(void **state) {
    (void)state;
    const int sizes[] = {80, 128};
    for (int s = 0; s < 2; s++) {
        int n_mel = sizes[s];
        float *f = malloc((size_t)n_mel * 201 * sizeof *f);
        assert_non_null(f);
        vf_whisper_mel_filters(n_mel, f);
        int unit = 0;
        for (int b = 0; b < n_mel; b++) {
            double area = 0;
            int nz = 0;
            for (int k = 0; k < 201; k++) {
                assert_true(f[b * 201 + k] >= 0);
                nz += f[b * 201 + k] > 0;
                area += f[b * 201 + k] * 40.0;
            }
            assert_true(nz > 0);
            unit += fabs(area - 1.0) < 0.1;
        }
        assert_true(unit >= (n_mel == 80 ? 80 : 80));
        free(f);
    }
}

int main(void) {
    if (getenv("VF_TEST_FILTER"))   /* e.g. test_param* for a run under valgrind */
        cmocka_set_test_filter(getenv("VF_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_80_bins),
        cmocka_unit_test(test_128_bins),
        cmocka_unit_test(test_short_audio),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_filter_bank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
