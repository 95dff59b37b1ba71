/* audio.c - see audio.h. */
#include "audio.h"
#include "vf_whisper.h"
#include "../core/reader.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <samplerate.h>
#include <sndfile.h>

int vf_stt_audio_resample(const float *in, size_t n, int rate_in, float **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (rate_in <= 0)
        return VF_ERR_ARG;
    const double ratio = (double)VF_WHISPER_SAMPLE_RATE / rate_in;
    const size_t cap = (size_t)(n * ratio) + 16;
    float *o = vf_malloc(cap * sizeof *o);
    if (!o)
        return VF_ERR_NOMEM;
    if (rate_in == VF_WHISPER_SAMPLE_RATE) {
        memcpy(o, in, n * sizeof *o);
        *out = o;
        *n_out = n;
        return VF_OK;
    }
    SRC_DATA d = {0};
    d.data_in = in;
    d.input_frames = (long)n;
    d.data_out = o;
    d.output_frames = (long)cap;
    d.src_ratio = ratio;
    if (src_simple(&d, SRC_SINC_MEDIUM_QUALITY, 1) != 0) {
        vf_free(o);
        return VF_ERR_ARG;
    }
    *out = o;
    *n_out = (size_t)d.output_frames_gen;
    return VF_OK;
}

int vf_stt_audio_read(const char *path, int max_seconds, float **out, size_t *n_out, char *err,
                  size_t errlen) {
    *out = NULL;
    *n_out = 0;
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) {
        int e = sf_error(NULL);
        vf_errf(err, errlen, "%s: %s", path, sf_strerror(NULL));
        return e == SF_ERR_UNRECOGNISED_FORMAT || e == SF_ERR_MALFORMED_FILE ||
               e == SF_ERR_UNSUPPORTED_ENCODING ? VF_ERR_FORMAT : VF_ERR_IO;
    }
    int rc = VF_OK;
    float *inter = NULL, *mono = NULL;
    if (info.channels < 1 || info.channels > 64 || info.samplerate < 1000 || info.samplerate > 768000) {
        vf_errf(err, errlen, "%s: %d channels at %d Hz is not usable audio", path, info.channels,
                info.samplerate);
        rc = VF_ERR_FORMAT;
        goto out;
    }
    if (info.frames < 0 || info.frames > (sf_count_t)max_seconds * info.samplerate) {
        vf_errf(err, errlen, "%s: longer than %d s", path, max_seconds);
        rc = VF_ERR_TOOBIG;
        goto out;
    }
    const size_t frames = (size_t)info.frames;
    inter = vf_malloc((frames ? frames : 1) * (size_t)info.channels * sizeof *inter);
    mono = vf_malloc((frames ? frames : 1) * sizeof *mono);
    if (!inter || !mono) {
        vf_errf(err, errlen, "out of memory for %zu samples", frames);
        rc = VF_ERR_NOMEM;
        goto out;
    }
    sf_count_t got = sf_readf_float(sf, inter, (sf_count_t)frames);
    if (got < 0 || sf_error(sf) != SF_ERR_NO_ERROR) {
        vf_errf(err, errlen, "%s: %s", path, sf_strerror(sf));
        rc = VF_ERR_IO;
        goto out;
    }
    for (sf_count_t i = 0; i < got; i++) {
        float acc = 0;
        for (int c = 0; c < info.channels; c++)
            acc += inter[(size_t)i * info.channels + c];
        float x = acc / info.channels;
        mono[i] = isfinite(x) ? x : 0.0f;   /* NaN or inf from a broken float file */
    }
    rc = vf_stt_audio_resample(mono, (size_t)got, info.samplerate, out, n_out);
    if (rc)
        vf_errf(err, errlen, "%s: cannot convert %d Hz to 16 kHz", path, info.samplerate);
out:
    vf_free(inter);
    vf_free(mono);
    sf_close(sf);
    return rc;
}
