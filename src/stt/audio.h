/* audio.h - read an audio file (WAV, FLAC, OGG ... anything libsndfile
 * opens) as mono 16 kHz float samples for Whisper: channels are averaged
 * and other sample rates are converted with libsamplerate. */
#ifndef VF_STT_AUDIO_H
#define VF_STT_AUDIO_H

#include "../core/vf.h"

/* On VF_OK *out holds *n_out samples in [-1, 1] (free with vf_free).
 * Returns VF_ERR_IO (cannot open or read: err says why), VF_ERR_FORMAT
 * (not an audio file libsndfile knows), VF_ERR_TOOBIG (longer than
 * max_seconds), VF_ERR_NOMEM. *out is NULL on failure. */
int vf_stt_audio_read(const char *path, int max_seconds, float **out, size_t *n_out, char *err,
                  size_t errlen);

/* Convert n mono samples at rate_in to 16 kHz; *out is allocated. */
int vf_stt_audio_resample(const float *in, size_t n, int rate_in, float **out, size_t *n_out);

#endif
