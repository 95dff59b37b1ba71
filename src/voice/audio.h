/* audio.h - the audio plumbing of the voice loop: PCM16 <-> float with
 * clipping, base64 (the Realtime API carries audio as base64 PCM16), a
 * streaming resampler on speexdsp, WAV headers, decoding of uploaded files
 * with libsndfile (WAV, FLAC, Ogg/Vorbis/Opus, MP3 ...) and a bounded
 * growable sample buffer. Design notes: docs/internals/voice.md. */
#ifndef VF_VOICE_AUDIO_H
#define VF_VOICE_AUDIO_H

#include "../core/vf.h"

#define VF_AUDIO_MAX_RATE_HZ 192000
#define VF_AUDIO_MIN_RATE_HZ 4000
#define VF_AUDIO_MAX_STT_SAMPLES (16000LL * 4 * 3600) /* 4 hours at 16 kHz */

/* ==== Sample formats ===================================================== */

/* Little-endian PCM16 bytes -> floats in [-1, 1). n_samples = bytes / 2. */
void vf_audio_s16le_to_f32(const uint8_t *in, size_t n_samples, float *out);
/* Floats -> little-endian PCM16 bytes, clipping to [-1, 1]. Returns how many
 * samples had to be clipped (NaN counts as clipped and becomes 0). */
size_t vf_audio_f32_to_s16le(const float *in, size_t n_samples, uint8_t *out);

/* ==== Base64 (RFC 4648, standard alphabet, padded) ======================= */

/* Bytes needed to encode n bytes, NUL included. */
size_t vf_b64_encoded_len(size_t n);
/* Encode n bytes into out (cap >= vf_b64_encoded_len(n)); returns the
 * length written without the NUL, or 0 when cap is too small. */
size_t vf_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap);
/* Decode base64 text (padding optional, no whitespace) into out. Returns
 * VF_OK with *out_n set, VF_ERR_FORMAT for a character outside the alphabet
 * or a length that no encoding has, VF_ERR_TOOBIG when cap is too small.
 * At most n / 4 * 3 + 2 bytes are written. */
int vf_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_n);

/* ==== Resampling ========================================================= */

struct vf_resampler; /* opaque: a speexdsp resampler for one mono stream */

/* Create a resampler from in_hz to out_hz (both within VF_AUDIO_*_RATE_HZ),
 * quality 0..10 (speexdsp's scale; 5 is its VoIP default, ~3 ms latency).
 * Equal rates give a pass-through copy. Returns VF_OK, VF_ERR_ARG or
 * VF_ERR_NOMEM; *out is NULL on failure. Free with vf_resampler_free. */
int vf_resampler_init(int in_hz, int out_hz, int quality, struct vf_resampler **out);
void vf_resampler_free(struct vf_resampler *r);
/* Most output samples that n_in input samples can produce (for sizing). */
size_t vf_resampler_max_out(const struct vf_resampler *r, size_t n_in);
/* Resample all n_in samples, keeping the filter state for the next call.
 * out must hold vf_resampler_max_out(n_in) samples; *n_out gets how many were
 * written. Returns VF_OK or VF_ERR_BACKEND. */
int vf_resampler_process(struct vf_resampler *r, const float *in, size_t n_in, float *out,
                         size_t *n_out);
/* Push the filter's delay line out with zeros (end of stream): writes up to
 * max samples into out and returns how many. */
size_t vf_resampler_flush(struct vf_resampler *r, float *out, size_t max);

/* One-shot: resample a whole buffer, delay compensated, so the output has
 * round(n * out_hz / in_hz) samples aligned with the input. *out is
 * vf_malloc'd (caller frees). Returns VF_OK, VF_ERR_ARG, VF_ERR_NOMEM. */
int vf_audio_resample(const float *in, size_t n, int in_hz, int out_hz, float **out,
                      size_t *n_out);

/* ==== Containers ========================================================= */

/* Write a 44-byte canonical WAV header for PCM16 (data_bytes of samples);
 * data_bytes 0xFFFFFFFF-ish values are clamped for streaming use. */
void vf_audio_wav_header(uint8_t hdr[44], int rate_hz, int channels, uint32_t data_bytes);

/* Decode an audio file held in memory with libsndfile (every format it
 * reads: WAV, AIFF, FLAC, Ogg/Vorbis, Ogg/Opus, MP3 ...), mix down to mono
 * and resample to out_hz. *out (vf_malloc'd, caller frees) gets n_out
 * samples; *in_hz (may be NULL) the file's own rate. At most max_seconds of
 * audio are accepted. Returns VF_OK, VF_ERR_FORMAT (not audio libsndfile
 * reads), VF_ERR_TOOBIG, VF_ERR_NOMEM; err gets one line. */
int vf_audio_decode(const uint8_t *data, size_t n, int out_hz, double max_seconds, float **out,
                    size_t *n_out, int *in_hz, char *err, size_t errlen);

/* ==== Bounded sample buffer ============================================== */

/* A growable float buffer with a hard maximum fixed at creation. */
struct vf_pcmbuf {
    float *p;           /* samples, mono */
    size_t n;           /* samples held */
    size_t cap;         /* allocated */
    size_t max;         /* never more than this */
};

void vf_pcmbuf_init(struct vf_pcmbuf *b, size_t max_samples);
void vf_pcmbuf_free(struct vf_pcmbuf *b);
/* Append n samples. VF_ERR_TOOBIG (nothing appended) when the result would
 * exceed max; VF_ERR_NOMEM. */
int vf_pcmbuf_append(struct vf_pcmbuf *b, const float *s, size_t n);
/* Drop the first n samples (all when n >= b->n). */
void vf_pcmbuf_drop_front(struct vf_pcmbuf *b, size_t n);

/* Root-mean-square level of n samples in dBFS (-120 for silence). */
double vf_audio_dbfs(const float *s, size_t n);

#endif
