/* mkwhisper.h - write a whisper.cpp model file (ggml .bin) with random
 * weights at the real shapes of any Whisper size from the catalog (tiny ..
 * large-v3-turbo, the .en and distil models), with the real mel filter bank
 * and a vocabulary of the real size, so the loader, the planner and the
 * benchmarks run on the same bytes a downloaded model has. See
 * docs/internals/whisper.md for how the weights are drawn. */
#ifndef VF_MKWHISPER_H
#define VF_MKWHISPER_H

#include "../core/vf.h"

/* like: a catalog Whisper name, with or without a "whisper-" prefix
 * ("whisper-tiny.en", "base", "large-v3-turbo", "distil-small.en");
 * type: "f16" (NULL: f16), "f32", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0";
 * seed: 0 for the default seed. The file is written to out.tmp and renamed.
 * Returns VF_OK, VF_ERR_NOTFOUND (unknown size), VF_ERR_ARG (unknown type),
 * VF_ERR_IO, VF_ERR_NOMEM; err gets one line. */
int vf_mkmodel_whisper(const char *like, const char *type, const char *out, uint64_t seed,
                       char *err, size_t errlen);

struct vf_cat_whisper;
/* The same for any shape (tests use small ones); the shape must be a
 * Whisper's: width a multiple of 32, 51864..51866 tokens, 80 or 128 mels. */
int vf__mkwhisper_shape(const struct vf_cat_whisper *shape, const char *type, const char *out,
                        uint64_t seed, char *err, size_t errlen);

/* The mel filter bank Whisper uses (librosa.filters.mel(sr=16000,
 * n_fft=400, n_mels), Slaney scale and normalization) into out
 * (n_mels x 201 floats). */
void vf_whisper_mel_filters(int n_mels, float *out);

#endif
