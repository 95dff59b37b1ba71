/* voice_test_util.h - helpers for the voice unit tests: speech made with
 * the embedded espeak-ng (one engine per process) and test signals. */
#ifndef VOICE_TEST_UTIL_H
#define VOICE_TEST_UTIL_H

#include "voice/audio.h"
#include "voice/engines.h"

#include <math.h>

static struct vf_tts *vt_espeak;

static int vt_collect(const float *pcm, size_t n, int rate, void *u) {
    struct vf_pcmbuf *b = u;
    return vf_pcmbuf_append(b, pcm, n) ? 1 : 0;
}

/* text spoken by espeak-ng, resampled to rate_hz; *n samples (malloc'd). */
static inline float *vt_speech(const char *text, int rate_hz, size_t *n) {
    char err[200];
    if (!vt_espeak && vf_tts_espeak_init("en-us", NULL, &vt_espeak, err, sizeof err))
        fail_msg("espeak: %s", err);
    struct vf_pcmbuf b;
    vf_pcmbuf_init(&b, 22050 * 60);
    if (vf_tts_synth(vt_espeak, text, NULL, 1.0f, vt_collect, &b, NULL, NULL, err, sizeof err))
        fail_msg("synth: %s", err);
    float *out = NULL;
    if (vf_audio_resample(b.p, b.n, 22050, rate_hz, &out, n))
        fail_msg("resample");
    vf_pcmbuf_free(&b);
    float *m = malloc(*n * sizeof *m + 4);
    memcpy(m, out, *n * sizeof *m);
    vf_free(out);
    return m;
}

static inline void vt_espeak_free(void) {
    vf_tts_free(vt_espeak);
    vt_espeak = NULL;
}

/* Deterministic white noise in [-amp, amp]. */
static inline void vt_noise(float *x, size_t n, float amp, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = amp * ((float)(seed >> 8) / (float)(1u << 24) * 2.0f - 1.0f);
    }
}

/* Concatenate: silence_ms, then speech, then silence_ms (at rate). */
static inline float *vt_pad(const float *s, size_t n, int rate, int pre_ms, int post_ms, size_t *out_n) {
    size_t pre = (size_t)rate * pre_ms / 1000, post = (size_t)rate * post_ms / 1000;
    float *o = calloc(pre + n + post + 1, sizeof *o);
    memcpy(o + pre, s, n * sizeof *s);
    *out_n = pre + n + post;
    return o;
}

#endif
