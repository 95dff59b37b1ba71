/* vad.c - the energy + spectral voice activity detector and its endpointing
 * state machine. See vad.h for the method and docs/internals/voice.md for
 * how the weights were chosen. */
#include "vad.h"

#include <math.h>
#include <string.h>

#define NFFT 512
#define BIN_HZ ((float)VF_VAD_RATE_HZ / NFFT)   /* 31.25 Hz */
#define BAND_LO ((int)(250 / BIN_HZ))            /* bin 8 */
#define BAND_HI ((int)(4000 / BIN_HZ))           /* bin 128 */
#define NOISE_WIN 75                              /* frames: 1.5 s of minimum statistics */

struct vf_vad {
    struct vf_vad_params p;
    float carry[VF_VAD_FRAME];   /* partial frame, (n_carry) @16 kHz */
    int n_carry;
    int64_t pos;                 /* samples consumed into whole frames */
    float noise_dbfs;            /* noise floor: the quietest frame of the last NOISE_WIN */
    float levels[NOISE_WIN];     /* recent frame levels, dBFS (ring) */
    int lv_pos;
    float last_prob;
    bool in_speech;
    int run_ms;                  /* speech accumulated while waiting to start */
    int silence_ms;              /* silence since the last speech frame */
    int64_t run_start;           /* first speech sample of the pending start */
    int64_t utt_start;           /* start of the utterance in progress */
    int64_t last_speech_end;     /* sample after the last speech frame */
};

struct vf_vad_params vf_vad_default_params(void) {
    return (struct vf_vad_params){
        .threshold = 0.5f,
        .prefix_padding_ms = 300,
        .silence_duration_ms = 500,
        .min_speech_ms = 100,
        .max_utterance_ms = 30000,
        .min_level_dbfs = -50.0f,
    };
}

static bool params_ok(const struct vf_vad_params *p) {
    return p->threshold > 0.0f && p->threshold < 1.0f && p->prefix_padding_ms >= 0 &&
           p->prefix_padding_ms <= 5000 && p->silence_duration_ms >= 20 &&
           p->silence_duration_ms <= 10000 && p->min_speech_ms >= 20 &&
           p->min_speech_ms <= 5000 && p->max_utterance_ms >= 1000 &&
           p->max_utterance_ms <= 600000 && p->min_level_dbfs >= -120.0f &&
           p->min_level_dbfs <= 0.0f;
}

int vf_vad_init(const struct vf_vad_params *p, struct vf_vad **out) {
    *out = NULL;
    if (!params_ok(p))
        return VF_ERR_ARG;
    struct vf_vad *v = vf_calloc(1, sizeof *v);
    if (!v)
        return VF_ERR_NOMEM;
    v->p = *p;
    vf_vad_reset(v);
    *out = v;
    return VF_OK;
}

void vf_vad_free(struct vf_vad *v) { vf_free(v); }

int vf_vad_set_params(struct vf_vad *v, const struct vf_vad_params *p) {
    if (!params_ok(p))
        return VF_ERR_ARG;
    v->p = *p;
    return VF_OK;
}

void vf_vad_reset(struct vf_vad *v) {
    struct vf_vad_params p = v->p;
    memset(v, 0, sizeof *v);
    v->p = p;
    v->noise_dbfs = -70.0f;
    for (int i = 0; i < NOISE_WIN; i++)
        v->levels[i] = -70.0f;
}

bool vf_vad_in_speech(const struct vf_vad *v) { return v->in_speech; }
int64_t vf_vad_position(const struct vf_vad *v) { return v->pos + v->n_carry; }
float vf_vad_last_prob(const struct vf_vad *v) { return v->last_prob; }

/* ==== Features =========================================================== */

/* In-place iterative radix-2 complex FFT of NFFT points. */
static void fft(float *re, float *im) {
    for (int i = 1, j = 0; i < NFFT; i++) {
        int bit = NFFT >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            float t = re[i];
            re[i] = re[j];
            re[j] = t;
            t = im[i];
            im[i] = im[j];
            im[j] = t;
        }
    }
    for (int len = 2; len <= NFFT; len <<= 1) {
        double ang = -2.0 * M_PI / len;
        float wr = (float)cos(ang), wi = (float)sin(ang);
        for (int i = 0; i < NFFT; i += len) {
            float cr = 1.0f, ci = 0.0f;
            for (int k = 0; k < len / 2; k++) {
                int a = i + k, b = i + k + len / 2;
                float xr = re[b] * cr - im[b] * ci;
                float xi = re[b] * ci + im[b] * cr;
                re[b] = re[a] - xr;
                im[b] = im[a] - xi;
                re[a] += xr;
                im[a] += xi;
                float ncr = cr * wr - ci * wi;
                ci = cr * wi + ci * wr;
                cr = ncr;
            }
        }
    }
}

static float hann[VF_VAD_FRAME];
static bool hann_ready;

float vf__vad_frame_prob(const float frame[VF_VAD_FRAME], float noise_dbfs, float min_level_dbfs,
                         float *out_level_dbfs) {
    /* Races on first use are benign: every thread writes the same values. */
    if (!hann_ready) {
        for (int i = 0; i < VF_VAD_FRAME; i++)
            hann[i] = 0.5f - 0.5f * cosf(2.0f * (float)M_PI * i / (VF_VAD_FRAME - 1));
        hann_ready = true;
    }
    double e = 0;
    float mean = 0;
    for (int i = 0; i < VF_VAD_FRAME; i++)
        mean += frame[i];
    mean /= VF_VAD_FRAME; /* remove DC: an offset is not speech */
    for (int i = 0; i < VF_VAD_FRAME; i++) {
        double x = frame[i] - mean;
        e += x * x;
    }
    e /= VF_VAD_FRAME;
    float level = e > 1e-12 ? (float)(10.0 * log10(e)) : -120.0f;
    if (out_level_dbfs)
        *out_level_dbfs = level;
    if (level < min_level_dbfs)
        return 0.01f;

    float re[NFFT], im[NFFT];
    for (int i = 0; i < NFFT; i++) {
        re[i] = i < VF_VAD_FRAME ? (frame[i] - mean) * hann[i] : 0.0f;
        im[i] = 0.0f;
    }
    fft(re, im);
    double total = 1e-20, band = 1e-20, logsum = 0;
    float top[5] = {0};
    for (int k = 1; k <= NFFT / 2; k++) {
        double pw = (double)re[k] * re[k] + (double)im[k] * im[k];
        total += pw;
        if (k >= BAND_LO && k <= BAND_HI) {
            band += pw;
            logsum += log(pw + 1e-20);
            /* keep the five largest bins of the band */
            float f = (float)pw;
            for (int t = 0; t < 5; t++)
                if (f > top[t]) {
                    float tmp = top[t];
                    top[t] = f;
                    f = tmp;
                }
        }
    }
    int nb = BAND_HI - BAND_LO + 1;
    double band_ratio = band / total;
    double flatness = exp(logsum / nb) / (band / nb);
    double peak = (top[0] + top[1] + top[2] + top[3] + top[4]) / band;
    double snr = VF_MIN(level - noise_dbfs, 20.0); /* loudness alone never makes speech */
    /* Weights set by hand on espeak-ng speech, white noise, hum and tones
     * (docs/internals/voice.md; tests/unit/test_voice_vad.c pins them).
     * voiced: harmonic spectra are far from flat (speech 0.01-0.1, white
     * noise ~0.56); band: speech puts most energy in 250-4000 Hz; peak: a
     * tone or hum puts nearly all of it in one spectral line. */
    double voiced = VF_MAX(-6.0, VF_MIN(4.0, 20.0 * (0.25 - flatness)));
    double logit = 0.3 * (snr - 8.0) + voiced + 6.0 * (band_ratio - 0.5) - 1.5;
    if (peak > 0.93)
        logit -= 15.0;
    return (float)(1.0 / (1.0 + exp(-logit)));
}

/* ==== Endpointing ======================================================== */

static int ms_to_samples(int ms) { return ms * (VF_VAD_RATE_HZ / 1000); }

static void frame(struct vf_vad *v, const float *f, struct vf_vad_event *ev, int max, int *n) {
    float level;
    float prob = vf__vad_frame_prob(f, v->noise_dbfs, v->p.min_level_dbfs, &level);
    bool speech = prob >= v->p.threshold;
    v->last_prob = prob;
    /* Noise floor by minimum statistics: speech always has pauses within
     * 1.5 s, steady noise never does, so the quietest recent frame is the
     * floor. It rises to a new steady noise within NOISE_WIN frames. */
    v->levels[v->lv_pos] = VF_MAX(level, -100.0f);
    v->lv_pos = (v->lv_pos + 1) % NOISE_WIN;
    float mn = 0.0f;
    for (int i = 0; i < NOISE_WIN; i++)
        mn = VF_MIN(mn, v->levels[i]);
    v->noise_dbfs = mn;

    int64_t f_start = v->pos, f_end = v->pos + VF_VAD_FRAME;
    if (!v->in_speech) {
        if (speech) {
            if (v->run_ms == 0)
                v->run_start = f_start;
            v->run_ms += 20;
            if (v->run_ms >= v->p.min_speech_ms) {
                v->in_speech = true;
                v->utt_start = v->run_start;
                v->silence_ms = 0;
                v->last_speech_end = f_end;
                if (*n < max)
                    ev[(*n)++] = (struct vf_vad_event){VF_VAD_EVENT_SPEECH_START, v->utt_start,
                                                       f_end, false};
            }
        } else {
            v->run_ms = 0; /* a start needs min_speech_ms of consecutive speech */
        }
    } else {
        if (speech) {
            v->silence_ms = 0;
            v->last_speech_end = f_end;
        } else {
            v->silence_ms += 20;
        }
        if (v->silence_ms >= v->p.silence_duration_ms) {
            v->in_speech = false;
            v->run_ms = 0;
            if (*n < max)
                ev[(*n)++] =
                    (struct vf_vad_event){VF_VAD_EVENT_SPEECH_END, v->last_speech_end, f_end, false};
        } else if (f_end - v->utt_start >= ms_to_samples(v->p.max_utterance_ms)) {
            /* Very long speech: cut here so STT works on bounded audio; if
             * speech goes on, the next frames start a new utterance. */
            v->in_speech = false;
            v->run_ms = 0;
            if (*n < max)
                ev[(*n)++] = (struct vf_vad_event){VF_VAD_EVENT_SPEECH_END, f_end, f_end, true};
        }
    }
    v->pos = f_end;
}

int vf_vad_process(struct vf_vad *v, const float *pcm, size_t n, struct vf_vad_event *ev,
                   int max) {
    int n_ev = 0;
    size_t i = 0;
    if (v->n_carry) {
        size_t k = VF_MIN(n, (size_t)(VF_VAD_FRAME - v->n_carry));
        memcpy(v->carry + v->n_carry, pcm, k * sizeof *pcm);
        v->n_carry += (int)k;
        i = k;
        if (v->n_carry < VF_VAD_FRAME)
            return 0;
        frame(v, v->carry, ev, max, &n_ev);
        v->n_carry = 0;
    }
    for (; i + VF_VAD_FRAME <= n; i += VF_VAD_FRAME)
        frame(v, pcm + i, ev, max, &n_ev);
    if (i < n) {
        memcpy(v->carry, pcm + i, (n - i) * sizeof *pcm);
        v->n_carry = (int)(n - i);
    }
    return n_ev;
}
