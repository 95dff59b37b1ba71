/* mel.c - Whisper's log-mel spectrogram: 25 ms Hann windows every 10 ms,
 * power spectrum, the model's mel filter bank, log10, clamp to 8 below the
 * maximum, scale to (x + 4) / 4 (OpenAI's whisper/audio.py).
 *
 * The arithmetic follows whisper.cpp's operation by operation so the
 * spectrogram is bit-identical: the same tables (sinf/cosf of 400 angles,
 * a periodic Hann window from cosf), the same mixed-radix recursion (halve
 * while even, a direct DFT on the odd rest, 25 points for 400), float sums
 * of four products added into a double, the same padding (200 reflected
 * samples in front, 30 s of zeros behind). Contraction into fused
 * multiply-adds would change the rounding, so it is turned off here. */
#pragma GCC optimize("fp-contract=off")

#include "whisper_int.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static float sin_tab[VF_WH_N_FFT], cos_tab[VF_WH_N_FFT], hann[VF_WH_N_FFT];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void make_tables(void) {
    for (int i = 0; i < VF_WH_N_FFT; i++) {
        double theta = (2 * M_PI * i) / VF_WH_N_FFT;
        sin_tab[i] = sinf((float)theta);
        cos_tab[i] = cosf((float)theta);
        hann[i] = (float)(0.5 * (1.0 - cosf((float)((2.0 * M_PI * i) / VF_WH_N_FFT))));
    }
}

/* Direct DFT of n real samples (n odd). */
static void dft(const float *in, int n, float *out) {
    const int step = VF_WH_N_FFT / n;
    for (int k = 0; k < n; k++) {
        float re = 0, im = 0;
        for (int j = 0; j < n; j++) {
            int idx = (k * j * step) % VF_WH_N_FFT;
            re += in[j] * cos_tab[idx];
            im -= in[j] * sin_tab[idx];
        }
        out[2 * k] = re;
        out[2 * k + 1] = im;
    }
}

/* FFT of n real samples into n complex values (interleaved re, im). in
 * must have room for 2n floats (the second half is scratch), out for 4n
 * (its tail holds the sub-transforms). */
static void fft(float *in, int n, float *out) {
    if (n == 1) {
        out[0] = in[0];
        out[1] = 0;
        return;
    }
    const int h = n / 2;
    if (n - 2 * h == 1) {
        dft(in, n, out);
        return;
    }
    float *half = in + n;
    float *ev = out + 2 * n, *od = ev + n;
    for (int i = 0; i < h; i++)
        half[i] = in[2 * i];
    fft(half, h, ev);
    for (int i = 0; i < h; i++)
        half[i] = in[2 * i + 1];
    fft(half, h, od);
    const int step = VF_WH_N_FFT / n;
    for (int k = 0; k < h; k++) {
        float re = cos_tab[k * step], im = -sin_tab[k * step];
        float ro = od[2 * k], io = od[2 * k + 1];
        out[2 * k] = ev[2 * k] + re * ro - im * io;
        out[2 * k + 1] = ev[2 * k + 1] + re * io + im * ro;
        out[2 * (k + h)] = ev[2 * k] - re * ro + im * io;
        out[2 * (k + h) + 1] = ev[2 * k + 1] - re * io - im * ro;
    }
}

struct mel_job {
    const float *padded;     /* reflect-padded samples */
    int n_in;                /* samples in padded that may be non-zero */
    const float *filters;
    struct vf_wh_mel *mel;
    int ith, nth;
};

static void *mel_worker(void *arg) {
    struct mel_job *j = arg;
    struct vf_wh_mel *mel = j->mel;
    float in[2 * VF_WH_N_FFT];
    float out[8 * VF_WH_N_FFT];
    const int n_fft = VF_WH_N_FREQ;
    const int last = VF_MIN(j->n_in / VF_WH_HOP + 1, mel->n_len);
    int i = j->ith;
    for (; i < last; i += j->nth) {
        const int off = i * VF_WH_HOP;
        const int nv = VF_MIN(VF_WH_N_FFT, j->n_in - off);
        for (int k = 0; k < nv; k++)
            in[k] = hann[k] * j->padded[off + k];
        for (int k = VF_MAX(nv, 0); k < 2 * VF_WH_N_FFT; k++)
            in[k] = 0;
        fft(in, VF_WH_N_FFT, out);
        for (int k = 0; k < n_fft; k++)
            out[k] = out[2 * k] * out[2 * k] + out[2 * k + 1] * out[2 * k + 1];
        for (int b = 0; b < mel->n_mel; b++) {
            const float *f = j->filters + (size_t)b * n_fft;
            double sum = 0.0;
            int k = 0;
            for (; k < n_fft - 3; k += 4)
                sum += out[k] * f[k] + out[k + 1] * f[k + 1] + out[k + 2] * f[k + 2] +
                       out[k + 3] * f[k + 3];
            for (; k < n_fft; k++)
                sum += out[k] * f[k];
            mel->data[(size_t)b * mel->n_len + i] = (float)log10(sum < 1e-10 ? 1e-10 : sum);
        }
    }
    const float silent = (float)log10(1e-10);
    for (; i < mel->n_len; i += j->nth)
        for (int b = 0; b < mel->n_mel; b++)
            mel->data[(size_t)b * mel->n_len + i] = silent;
    return NULL;
}

int vf__wh_mel(const float *samples, size_t n_samples, const float *filters, int n_mel,
               int n_threads, struct vf_wh_mel *mel) {
    pthread_once(&tables_once, make_tables);
    if (n_samples > (size_t)VF_WHISPER_MAX_SECONDS * VF_WHISPER_SAMPLE_RATE)
        return VF_ERR_TOOBIG;
    const int n = (int)n_samples;
    const int pad1 = VF_WHISPER_SAMPLE_RATE * VF_WH_CHUNK_SECONDS, pad2 = VF_WH_N_FFT / 2;
    const size_t n_padded = (size_t)n + pad1 + 2 * pad2;
    float *padded = vf_calloc(n_padded, sizeof(float));
    if (!padded)
        return VF_ERR_NOMEM;
    if (n)
        memcpy(padded + pad2, samples, (size_t)n * sizeof(float));
    /* reflect up to 200 samples in front (fewer for very short audio) */
    const int n_reflect = VF_MIN(pad2, VF_MAX(0, n - 1));
    for (int t = 0; t < n_reflect; t++)
        padded[pad2 - 1 - t] = samples[1 + t];

    const int n_len = (int)((n_padded - VF_WH_N_FFT) / VF_WH_HOP);
    const size_t need = (size_t)n_mel * (size_t)n_len;
    if (need > mel->cap) {
        float *d = vf_realloc(mel->data, need * sizeof(float));
        if (!d) {
            vf_free(padded);
            return VF_ERR_NOMEM;
        }
        mel->data = d;
        mel->cap = need;
    }
    mel->n_mel = n_mel;
    mel->n_len = n_len;
    mel->n_len_org = 1 + (n + pad2 - VF_WH_N_FFT) / VF_WH_HOP;

    if (n_threads < 1)
        n_threads = 1;
    if (n_threads > 16)
        n_threads = 16;
    struct mel_job jobs[16];
    pthread_t tid[16];
    int started = 0;
    for (int t = 0; t < n_threads; t++)
        jobs[t] = (struct mel_job){padded, n + pad2, filters, mel, t, n_threads};
    for (int t = 1; t < n_threads; t++) {
        if (pthread_create(&tid[t], NULL, mel_worker, &jobs[t]) != 0)
            break;
        started = t;
    }
    /* threads that could not start are done here, in order */
    mel_worker(&jobs[0]);
    for (int t = started + 1; t < n_threads; t++)
        mel_worker(&jobs[t]);
    for (int t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
    vf_free(padded);

    double mmax = -1e20;
    for (size_t i = 0; i < need; i++)
        if (mel->data[i] > mmax)
            mmax = mel->data[i];
    mmax -= 8.0;
    for (size_t i = 0; i < need; i++) {
        if (mel->data[i] < mmax)
            mel->data[i] = (float)mmax;
        mel->data[i] = (float)((mel->data[i] + 4.0) / 4.0);
    }
    return VF_OK;
}

void vf__wh_mel_free(struct vf_wh_mel *mel) {
    vf_free(mel->data);
    memset(mel, 0, sizeof *mel);
}
