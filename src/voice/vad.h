/* vad.h - voice activity detection with endpointing for the voice loop.
 *
 * No model can be downloaded here, so the detector is a small hand-built
 * classifier over per-frame features, not Silero: 20 ms frames at 16 kHz,
 * a 512-point FFT, and three features combined in a logistic score -
 * energy above an adaptive noise floor (SNR), the share of energy in the
 * speech band (250-4000 Hz), and spectral flatness in that band (voiced
 * speech is harmonic, so far from flat; hiss and hum are flat or narrow).
 * An absolute level gate keeps digital silence and dither from counting.
 * Endpointing is a small state machine in audio time (not wall time), so a
 * client that sends faster or slower than real time gets the same
 * decisions. Design notes and measurements: docs/internals/voice.md. */
#ifndef VF_VOICE_VAD_H
#define VF_VOICE_VAD_H

#include "../core/vf.h"

#define VF_VAD_RATE_HZ 16000
#define VF_VAD_FRAME 320         /* samples per frame: 20 ms at 16 kHz */

struct vf_vad_params {
    float threshold;             /* speech probability to count a frame as speech (0.5) */
    int prefix_padding_ms;       /* audio kept before the detected start (300) */
    int silence_duration_ms;     /* silence that ends an utterance (500) */
    int min_speech_ms;           /* speech needed to start an utterance (100) */
    int max_utterance_ms;        /* an utterance is cut here and a new one starts (30000) */
    float min_level_dbfs;        /* frames quieter than this are never speech (-50) */
};

struct vf_vad_params vf_vad_default_params(void);

enum vf_vad_event_type {
    VF_VAD_EVENT_SPEECH_START = 1, /* at: first sample of speech, padding not included */
    VF_VAD_EVENT_SPEECH_END,       /* at: sample after the last speech frame */
};

struct vf_vad_event {
    enum vf_vad_event_type type;
    int64_t at;                  /* sample index in the stream (16 kHz) */
    int64_t decided_at;          /* sample index where the decision was taken */
    bool forced;                 /* SPEECH_END because max_utterance_ms was reached */
};

struct vf_vad; /* opaque: one stream's detector */

/* Create a detector. Returns VF_OK, VF_ERR_ARG (a parameter out of range),
 * VF_ERR_NOMEM; *out is NULL on failure. */
int vf_vad_init(const struct vf_vad_params *p, struct vf_vad **out);
void vf_vad_free(struct vf_vad *v);
/* Change the parameters of a live detector (session.update); the current
 * utterance, if any, continues. Returns VF_OK or VF_ERR_ARG (unchanged). */
int vf_vad_set_params(struct vf_vad *v, const struct vf_vad_params *p);
/* Forget everything: the noise estimate, the position (back to sample 0),
 * any utterance in progress. */
void vf_vad_reset(struct vf_vad *v);

/* Feed n samples of 16 kHz mono audio. Up to max events are written to ev
 * in order; returns how many (events beyond max are dropped, which cannot
 * happen with max >= 2 * (n / VF_VAD_FRAME + 1)). */
int vf_vad_process(struct vf_vad *v, const float *pcm, size_t n, struct vf_vad_event *ev,
                   int max);
/* True while an utterance is in progress. */
bool vf_vad_in_speech(const struct vf_vad *v);
/* Samples fed so far. */
int64_t vf_vad_position(const struct vf_vad *v);
/* The speech probability of the last complete frame (0..1), for meters. */
float vf_vad_last_prob(const struct vf_vad *v);

/* The per-frame classifier alone: the speech probability of one 20 ms frame
 * given the current noise floor in dBFS. Exposed for tests and tuning. */
float vf__vad_frame_prob(const float frame[VF_VAD_FRAME], float noise_dbfs, float min_level_dbfs,
                         float *out_level_dbfs);

#endif
