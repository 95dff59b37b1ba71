/* audio.c - sample conversion, base64, resampling (speexdsp), WAV headers,
 * decoding with libsndfile and the bounded sample buffer. See audio.h and
 * docs/internals/voice.md. */
#include "audio.h"

#include <math.h>
#include <sndfile.h>
#include <speex/speex_resampler.h>
#include <stdio.h>
#include <string.h>

/* ==== Sample formats ===================================================== */

void vf_audio_s16le_to_f32(const uint8_t *in, size_t n_samples, float *out) {
    for (size_t i = 0; i < n_samples; i++) {
        int16_t v = (int16_t)(uint16_t)(in[2 * i] | (in[2 * i + 1] << 8));
        out[i] = (float)v / 32768.0f;
    }
}

size_t vf_audio_f32_to_s16le(const float *in, size_t n_samples, uint8_t *out) {
    size_t clipped = 0;
    for (size_t i = 0; i < n_samples; i++) {
        float x = in[i];
        int32_t v;
        if (isnan(x)) {
            v = 0;
            clipped++;
        } else if (x >= 1.0f) {
            v = 32767;
            clipped += x > 1.0f;
        } else if (x < -1.0f) {
            v = -32768;
            clipped++;
        } else {
            v = (int32_t)lrintf(x * 32768.0f);
            if (v > 32767)
                v = 32767;
        }
        out[2 * i] = (uint8_t)(v & 0xff);
        out[2 * i + 1] = (uint8_t)((v >> 8) & 0xff);
    }
    return clipped;
}

double vf_audio_dbfs(const float *s, size_t n) {
    if (!n)
        return -120.0;
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e += (double)s[i] * s[i];
    e /= (double)n;
    return e > 1e-12 ? 10.0 * log10(e) : -120.0;
}

/* ==== Base64 ============================================================= */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t vf_b64_encoded_len(size_t n) { return (n + 2) / 3 * 4 + 1; }

size_t vf_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap) {
    if (cap < vf_b64_encoded_len(n))
        return 0;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int vf_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_n) {
    /* Strip up to two '=' of padding; what remains must be a length some
     * encoding produces (n % 4 != 1). */
    if (n >= 4 && n % 4 == 0 && in[n - 1] == '=') {
        n--;
        if (in[n - 1] == '=')
            n--;
    }
    if (n % 4 == 1)
        return VF_ERR_FORMAT;
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (need > cap)
        return VF_ERR_TOOBIG;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return VF_ERR_FORMAT;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out_n = o;
    return VF_OK;
}

/* ==== Resampling ========================================================= */

struct vf_resampler {
    SpeexResamplerState *st;  /* NULL for equal rates (copy) */
    int in_hz, out_hz;
};

int vf_resampler_init(int in_hz, int out_hz, int quality, struct vf_resampler **out) {
    *out = NULL;
    if (in_hz < VF_AUDIO_MIN_RATE_HZ || in_hz > VF_AUDIO_MAX_RATE_HZ ||
        out_hz < VF_AUDIO_MIN_RATE_HZ || out_hz > VF_AUDIO_MAX_RATE_HZ || quality < 0 ||
        quality > 10)
        return VF_ERR_ARG;
    struct vf_resampler *r = vf_calloc(1, sizeof *r);
    if (!r)
        return VF_ERR_NOMEM;
    r->in_hz = in_hz;
    r->out_hz = out_hz;
    if (in_hz != out_hz) {
        int e = 0;
        r->st = speex_resampler_init(1, (spx_uint32_t)in_hz, (spx_uint32_t)out_hz, quality, &e);
        if (!r->st) {
            vf_free(r);
            return e == RESAMPLER_ERR_ALLOC_FAILED ? VF_ERR_NOMEM : VF_ERR_ARG;
        }
        /* Without this the first output samples are the filter's zero
         * history; skipping them keeps streams aligned with their input. */
        speex_resampler_skip_zeros(r->st);
    }
    *out = r;
    return VF_OK;
}

void vf_resampler_free(struct vf_resampler *r) {
    if (!r)
        return;
    if (r->st)
        speex_resampler_destroy(r->st);
    vf_free(r);
}

size_t vf_resampler_max_out(const struct vf_resampler *r, size_t n_in) {
    return (size_t)((double)n_in * r->out_hz / r->in_hz) + 16;
}

int vf_resampler_process(struct vf_resampler *r, const float *in, size_t n_in, float *out,
                         size_t *n_out) {
    if (!r->st) {
        memcpy(out, in, n_in * sizeof *in);
        *n_out = n_in;
        return VF_OK;
    }
    size_t cap = vf_resampler_max_out(r, n_in), done_in = 0, done_out = 0;
    /* speexdsp takes 32-bit counts: feed in slices. */
    while (done_in < n_in) {
        spx_uint32_t ilen = (spx_uint32_t)VF_MIN(n_in - done_in, (size_t)1 << 20);
        spx_uint32_t olen = (spx_uint32_t)VF_MIN(cap - done_out, (size_t)1 << 22);
        if (speex_resampler_process_float(r->st, 0, in + done_in, &ilen, out + done_out, &olen) !=
            RESAMPLER_ERR_SUCCESS)
            return VF_ERR_BACKEND;
        if (ilen == 0 && olen == 0)
            break;
        done_in += ilen;
        done_out += olen;
    }
    *n_out = done_out;
    return VF_OK;
}

size_t vf_resampler_flush(struct vf_resampler *r, float *out, size_t max) {
    if (!r->st)
        return 0;
    int lat = speex_resampler_get_input_latency(r->st);
    if (lat <= 0)
        return 0;
    float zeros[1024] = {0};
    size_t done = 0, left = (size_t)lat;
    while (left && done < max) {
        spx_uint32_t ilen = (spx_uint32_t)VF_MIN(left, VF_ARRAY_LEN(zeros));
        spx_uint32_t olen = (spx_uint32_t)VF_MIN(max - done, (size_t)1 << 20);
        if (speex_resampler_process_float(r->st, 0, zeros, &ilen, out + done, &olen) !=
            RESAMPLER_ERR_SUCCESS)
            break;
        if (!ilen && !olen)
            break;
        left -= ilen;
        done += olen;
    }
    return done;
}

int vf_audio_resample(const float *in, size_t n, int in_hz, int out_hz, float **out,
                      size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    struct vf_resampler *r = NULL;
    int rc = vf_resampler_init(in_hz, out_hz, 5, &r);
    if (rc)
        return rc;
    size_t want = (size_t)llround((double)n * out_hz / in_hz);
    size_t cap = vf_resampler_max_out(r, n) + 2048;
    float *o = vf_malloc(VF_MAX(cap, 1) * sizeof *o);
    if (!o) {
        vf_resampler_free(r);
        return VF_ERR_NOMEM;
    }
    size_t got = 0;
    rc = vf_resampler_process(r, in, n, o, &got);
    if (rc == VF_OK && got < want)
        got += vf_resampler_flush(r, o + got, cap - got);
    vf_resampler_free(r);
    if (rc) {
        vf_free(o);
        return rc;
    }
    while (got < want) /* pad: the flush may fall a sample short */
        o[got++] = 0.0f;
    *out = o;
    *n_out = want;
    return VF_OK;
}

/* ==== Containers ========================================================= */

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void vf_audio_wav_header(uint8_t hdr[44], int rate_hz, int channels, uint32_t data_bytes) {
    if (data_bytes > 0xFFFFFFFFu - 36)
        data_bytes = 0xFFFFFFFFu - 36;
    memcpy(hdr, "RIFF", 4);
    put_u32(hdr + 4, 36 + data_bytes);
    memcpy(hdr + 8, "WAVEfmt ", 8);
    put_u32(hdr + 16, 16);
    put_u16(hdr + 20, 1);
    put_u16(hdr + 22, (uint16_t)channels);
    put_u32(hdr + 24, (uint32_t)rate_hz);
    put_u32(hdr + 28, (uint32_t)(rate_hz * channels * 2));
    put_u16(hdr + 32, (uint16_t)(channels * 2));
    put_u16(hdr + 34, 16);
    memcpy(hdr + 36, "data", 4);
    put_u32(hdr + 40, data_bytes);
}

struct memfile {
    const uint8_t *p;
    sf_count_t n, pos;
};

static sf_count_t mf_len(void *u) { return ((struct memfile *)u)->n; }
static sf_count_t mf_seek(sf_count_t off, int whence, void *u) {
    struct memfile *m = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->n;
    sf_count_t np = base + off;
    if (np < 0 || np > m->n)
        return -1;
    m->pos = np;
    return np;
}
static sf_count_t mf_read(void *dst, sf_count_t count, void *u) {
    struct memfile *m = u;
    if (count < 0)
        return 0;
    sf_count_t k = VF_MIN(count, m->n - m->pos);
    memcpy(dst, m->p + m->pos, (size_t)k);
    m->pos += k;
    return k;
}
static sf_count_t mf_write(const void *src, sf_count_t count, void *u) { return 0; }
static sf_count_t mf_tell(void *u) { return ((struct memfile *)u)->pos; }

int vf_audio_decode(const uint8_t *data, size_t n, int out_hz, double max_seconds, float **out,
                    size_t *n_out, int *in_hz, char *err, size_t errlen) {
    *out = NULL;
    *n_out = 0;
    struct memfile mf = {data, (sf_count_t)n, 0};
    SF_VIRTUAL_IO io = {mf_len, mf_seek, mf_read, mf_write, mf_tell};
    SF_INFO info = {0};
    SNDFILE *sf = sf_open_virtual(&io, SFM_READ, &info, &mf);
    if (!sf) {
        snprintf(err, errlen, "cannot decode the audio: %s", sf_strerror(NULL));
        return VF_ERR_FORMAT;
    }
    int rc = VF_OK;
    float *mono = NULL, *frame = NULL;
    if (info.channels < 1 || info.channels > 64 || info.samplerate < VF_AUDIO_MIN_RATE_HZ ||
        info.samplerate > VF_AUDIO_MAX_RATE_HZ) {
        snprintf(err, errlen, "unsupported audio: %d channels at %d Hz", info.channels,
                 info.samplerate);
        rc = VF_ERR_UNSUPPORTED;
        goto out;
    }
    size_t max_frames = (size_t)(max_seconds * info.samplerate);
    /* Some formats (MP3, Ogg) report no or an estimated frame count: read in
     * blocks and grow, bounded by max_seconds. */
    struct vf_pcmbuf b;
    vf_pcmbuf_init(&b, max_frames);
    enum { BLOCK = 4096 };
    frame = vf_malloc((size_t)BLOCK * (size_t)info.channels * sizeof *frame);
    mono = vf_malloc(BLOCK * sizeof *mono);
    if (!frame || !mono) {
        rc = VF_ERR_NOMEM;
        goto out_buf;
    }
    for (;;) {
        sf_count_t got = sf_readf_float(sf, frame, BLOCK);
        if (got <= 0)
            break;
        for (sf_count_t i = 0; i < got; i++) {
            float s = 0;
            for (int c = 0; c < info.channels; c++)
                s += frame[i * info.channels + c];
            mono[i] = s / (float)info.channels;
        }
        rc = vf_pcmbuf_append(&b, mono, (size_t)got);
        if (rc == VF_ERR_TOOBIG) {
            snprintf(err, errlen, "audio longer than %.0f s", max_seconds);
            goto out_buf;
        }
        if (rc) {
            snprintf(err, errlen, "out of memory decoding audio");
            goto out_buf;
        }
    }
    if (in_hz)
        *in_hz = info.samplerate;
    if (info.samplerate == out_hz) {
        *out = b.p;
        *n_out = b.n;
        b.p = NULL;
    } else {
        rc = vf_audio_resample(b.p, b.n, info.samplerate, out_hz, out, n_out);
        if (rc)
            snprintf(err, errlen, "cannot resample %d Hz to %d Hz", info.samplerate, out_hz);
    }
out_buf:
    vf_pcmbuf_free(&b);
out:
    vf_free(frame);
    vf_free(mono);
    sf_close(sf);
    return rc;
}

/* ==== Bounded sample buffer ============================================== */

void vf_pcmbuf_init(struct vf_pcmbuf *b, size_t max_samples) {
    memset(b, 0, sizeof *b);
    b->max = max_samples;
}

void vf_pcmbuf_free(struct vf_pcmbuf *b) {
    vf_free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

int vf_pcmbuf_append(struct vf_pcmbuf *b, const float *s, size_t n) {
    if (n > b->max || b->n > b->max - n)
        return VF_ERR_TOOBIG;
    if (b->n + n > b->cap) {
        size_t nc = VF_MAX(b->cap * 2, b->n + n);
        nc = VF_MAX(nc, (size_t)4096);
        nc = VF_MIN(nc, b->max);
        float *np = vf_realloc(b->p, nc * sizeof *np);
        if (!np)
            return VF_ERR_NOMEM;
        b->p = np;
        b->cap = nc;
    }
    if (n)
        memcpy(b->p + b->n, s, n * sizeof *s);
    b->n += n;
    return VF_OK;
}

void vf_pcmbuf_drop_front(struct vf_pcmbuf *b, size_t n) {
    if (n >= b->n) {
        b->n = 0;
        return;
    }
    memmove(b->p, b->p + n, (b->n - n) * sizeof *b->p);
    b->n -= n;
}
