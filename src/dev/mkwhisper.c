/* mkwhisper.c - whisper.cpp model files with random weights (see
 * mkwhisper.h). The layout is the one whisper.cpp's converter writes:
 * header, mel filters, vocabulary, then each tensor (n_dims, name length,
 * type, shape, name, data). Shapes and per-tensor types follow the file
 * type exactly as whisper.cpp's quantizer leaves them (matrices quantized,
 * convolutions f16, vectors and positional embeddings f32).
 *
 * The weights are drawn so that a random model behaves like a model, not
 * like noise: matrices are N(0, 1/fan_in) so activations keep their scale
 * through the pre-norm blocks, the encoder's positional embedding is
 * Whisper's sinusoid table, and the token embedding (which is also the
 * output projection) is scaled so that the next-token distribution is
 * peaked; a small bias toward the timestamp and end-of-text tokens makes
 * decoding produce timestamped segments that end, as a trained model's do.
 * Data is generated and written in slices, so large-v3 needs little RAM. */
#include "mkwhisper.h"
#include "../core/reader.h"
#include "../core/str.h"
#include "../model/catalog.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ggml.h>

/* ==== Random numbers: splitmix64 + Box-Muller ============================== */

struct rng {
    uint64_t s;
    double spare;
    bool has_spare;
};

static uint64_t rng_u64(struct rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(struct rng *r) { return (rng_u64(r) >> 11) / 9007199254740992.0; }

static float rng_normal(struct rng *r) {
    if (r->has_spare) {
        r->has_spare = false;
        return (float)r->spare;
    }
    double u1 = ((rng_u64(r) >> 11) + 1.0) / 9007199254740993.0, u2 = rng_unit(r);
    double m = sqrt(-2.0 * log(u1));
    r->spare = m * sin(6.283185307179586 * u2);
    r->has_spare = true;
    return (float)(m * cos(6.283185307179586 * u2));
}

/* ==== Mel filter bank (librosa, Slaney) ===================================== */

static double hz_to_mel(double f) {
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return f >= min_log_hz ? min_log_mel + log(f / min_log_hz) / logstep : f / f_sp;
}

static double mel_to_hz(double m) {
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return m >= min_log_mel ? min_log_hz * exp(logstep * (m - min_log_mel)) : f_sp * m;
}

void vf_whisper_mel_filters(int n_mels, float *out) {
    const int n_freq = 201;
    const double sr = 16000.0, fmax = sr / 2;
    double mel_f[130];
    const double m0 = hz_to_mel(0.0), m1 = hz_to_mel(fmax);
    for (int i = 0; i < n_mels + 2; i++)
        mel_f[i] = mel_to_hz(m0 + (m1 - m0) * i / (n_mels + 1));
    for (int i = 0; i < n_mels; i++) {
        const double enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (int k = 0; k < n_freq; k++) {
            const double f = fmax * k / (n_freq - 1);
            double lower = (f - mel_f[i]) / (mel_f[i + 1] - mel_f[i]);
            double upper = (mel_f[i + 2] - f) / (mel_f[i + 2] - mel_f[i + 1]);
            double w = lower < upper ? lower : upper;
            out[i * n_freq + k] = (float)((w > 0 ? w : 0) * enorm);
        }
    }
}

/* ==== Vocabulary ============================================================ */

struct vocab {
    char *blob;
    uint32_t *off, *len;
    int n, cap;
    size_t used, blob_cap;
    int32_t *hash;
    uint32_t hash_cap;
};

static uint32_t fnv(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* Add s (n bytes) unless present or full. Returns VF_OK or VF_ERR_NOMEM. */
static int voc_add(struct vocab *v, const char *s, size_t n) {
    if (v->n >= v->cap)
        return VF_OK;
    uint32_t mask = v->hash_cap - 1, i = fnv(s, n) & mask;
    for (; v->hash[i] >= 0; i = (i + 1) & mask) {
        int32_t o = v->hash[i];
        if (v->len[o] == n && !memcmp(v->blob + v->off[o], s, n))
            return VF_OK;
    }
    if (v->used + n > v->blob_cap) {
        size_t nc = v->blob_cap * 2 + n;
        char *b = vf_realloc(v->blob, nc);
        if (!b)
            return VF_ERR_NOMEM;
        v->blob = b;
        v->blob_cap = nc;
    }
    memcpy(v->blob + v->used, s, n);
    v->off[v->n] = (uint32_t)v->used;
    v->len[v->n] = (uint32_t)n;
    v->hash[i] = v->n++;
    v->used += n;
    return VF_OK;
}

static const char *const common_words[] = {
    "the", "be", "to", "of", "and", "a", "in", "that", "have", "I", "it", "for", "not", "on",
    "with", "he", "as", "you", "do", "at", "this", "but", "his", "by", "from", "they", "we", "say",
    "her", "she", "or", "an", "will", "my", "one", "all", "would", "there", "their", "what", "so",
    "up", "out", "if", "about", "who", "get", "which", "go", "me", "when", "make", "can", "like",
    "time", "no", "just", "him", "know", "take", "people", "into", "year", "your", "good", "some",
    "could", "them", "see", "other", "than", "then", "now", "look", "only", "come", "its", "over",
    "think", "also", "back", "after", "use", "two", "how", "our", "work", "first", "well", "way",
    "even", "new", "want", "because", "any", "these", "give", "day", "most", "us", "is", "are",
    "was", "were", "hello", "world", "voice", "speech", "test", "quick", "brown", "fox", "jumps",
    "lazy", "dog", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "weather",
    "today", "tomorrow", "please", "thank", "yes", "okay", "right", "left", "morning", "night",
};

static const char *const extra_tokens[] = {
    ".", ",", "!", "?", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", " -", " '", "\"", "#", "(",
    ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[", "\\", "]", "^", "_", "`", "{", "|",
    "}", "~", " (", " )", " [", " ]", " \"", "<<", ">>", "--", "---", "((", "))", "[[", "]]",
    "\xe2\x99\xaa", " \xe2\x99\xaa", "\xe2\x99\xaa\xe2\x99\xaa", "...", " ...", "\n", "\n\n",
};

static int vocab_build(struct vocab *v, int n, uint64_t seed) {
    memset(v, 0, sizeof *v);
    v->cap = n;
    v->off = vf_malloc((size_t)n * sizeof *v->off);
    v->len = vf_malloc((size_t)n * sizeof *v->len);
    v->hash_cap = 1;
    while (v->hash_cap < 2u * (uint32_t)n)
        v->hash_cap <<= 1;
    v->hash = vf_malloc(v->hash_cap * sizeof *v->hash);
    v->blob_cap = (size_t)n * 8;
    v->blob = vf_malloc(v->blob_cap);
    if (!v->off || !v->len || !v->hash || !v->blob)
        return VF_ERR_NOMEM;
    memset(v->hash, 0xff, v->hash_cap * sizeof *v->hash);
    int rc = VF_OK;
    /* 256 single bytes in GPT-2's order: printable first, then the rest */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (int b = 0; b < 256 && !rc; b++) {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            if (printable == (pass == 0)) {
                char c = (char)b;
                rc = voc_add(v, &c, 1);
            }
        }
    }
    for (size_t i = 0; i < VF_ARRAY_LEN(common_words) && !rc; i++) {
        char w[64];
        const char *s = common_words[i];
        for (int form = 0; form < 4 && !rc; form++) {
            snprintf(w, sizeof w, "%s%s", form & 1 ? " " : "", s);
            if (form & 2)
                w[form & 1] = (char)(w[form & 1] >= 'a' && w[form & 1] <= 'z' ? w[form & 1] - 32 : w[form & 1]);
            rc = voc_add(v, w, strlen(w));
        }
    }
    for (size_t i = 0; i < VF_ARRAY_LEN(extra_tokens) && !rc; i++)
        rc = voc_add(v, extra_tokens[i], strlen(extra_tokens[i]));
    for (int d = 0; d < 1000 && !rc; d++) {
        char w[16];
        snprintf(w, sizeof w, " %d", d);
        rc = voc_add(v, w, strlen(w));
        if (!rc && d < 100)
            rc = voc_add(v, w + 1, strlen(w + 1));
    }
    /* the rest: word pieces from a letter distribution close to English */
    static const char letters[] = "eeeeeeeeeeeetttttttttaaaaaaaaooooooooiiiiiiinnnnnnnsssssshhhhhh"
                                  "rrrrrrddddllllcccuuummwwffggyyppbbvkjxqz";
    struct rng r = {seed ^ 0x766f6361626cull, 0, false};
    while (v->n < n && !rc) {
        char w[16];
        int len = 2 + (int)(rng_u64(&r) % 6), k = 0;
        if (rng_u64(&r) % 3)
            w[k++] = ' ';
        for (int i = 0; i < len; i++)
            w[k++] = letters[rng_u64(&r) % (sizeof letters - 1)];
        if (rng_u64(&r) % 8 == 0)
            w[k - len] = (char)(w[k - len] - 32);
        rc = voc_add(v, w, (size_t)k);
    }
    return rc;
}

static void vocab_free(struct vocab *v) {
    vf_free(v->blob);
    vf_free(v->off);
    vf_free(v->len);
    vf_free(v->hash);
}

/* ==== Writing =============================================================== */

struct wr {
    FILE *f;
    bool failed;
};

static void put(struct wr *w, const void *p, size_t n) {
    if (!w->failed && n && fwrite(p, 1, n, w->f) != n)
        w->failed = true;
}
static void put_i32(struct wr *w, int32_t v) { put(w, &v, 4); }

/* How tensor values are drawn. */
enum init {
    INIT_ZERO, INIT_ONE, INIT_BIAS, INIT_MATRIX, INIT_CENTERED, INIT_SINUSOID, INIT_POS, INIT_EMBED,
    INIT_OUT_BIAS,
};

/* Three fixed directions of the decoder's output space: u raises or lowers
 * every timestamp together, w does the same for end-of-text, v (with the
 * final layer norm's bias) makes later timestamps less likely, so the model
 * moves forward in small steps. */
struct dirs {
    float *u, *v, *w;
};
static struct dirs dirs;

struct spec {
    char name[64];
    int n_dims;
    int64_t ne[3];
    enum ggml_type type;
    enum init init;
    float gain;              /* scale of the drawn values */
};

/* Gains of the decoder (see the file comment): self-attention, cross-
 * attention and MLP outputs, norm of the positional rows, and the spread
 * of the logits. */
static const float g_sa = 0.5f, g_xa = 0.5f, g_mlp = 6.0f, g_pe = 20.0f, g_emb = 4.0f;

/* Fill n values of tensor t starting at flat index i0. */
static void fill(const struct spec *t, struct rng *r, float *x, int64_t i0, int64_t n, int n_vocab_beg,
                 int n_vocab_eot) {
    const int64_t ne0 = t->ne[0];
    switch (t->init) {
    case INIT_ZERO:
        memset(x, 0, (size_t)n * sizeof *x);
        break;
    case INIT_ONE:   /* layer-norm gains near 1 */
        for (int64_t i = 0; i < n; i++)
            x[i] = 1.0f + 0.05f * rng_normal(r);
        break;
    case INIT_BIAS:
        for (int64_t i = 0; i < n; i++)
            x[i] = 0.02f * rng_normal(r);
        break;
    case INIT_MATRIX: { /* N(0, 1/fan_in); convolutions: fan_in = kernel x channels */
        const double fan_in = t->n_dims == 3 ? (double)t->ne[0] * t->ne[1] : (double)ne0;
        const float sd = (float)(t->gain / sqrt(fan_in));
        for (int64_t i = 0; i < n; i++)
            x[i] = sd * rng_normal(r);
        break;
    }
    case INIT_CENTERED: { /* like MATRIX, each row summing to zero: GELU's mean
                           * output (about 0.28) then adds no constant vector */
        const float sd = (float)(t->gain / sqrt((double)ne0));
        for (int64_t i = 0; i < n; i += ne0) {
            double mean = 0;
            for (int64_t k = 0; k < ne0; k++)
                mean += (x[i + k] = sd * rng_normal(r));
            mean /= (double)ne0;
            for (int64_t k = 0; k < ne0; k++)
                x[i + k] -= (float)mean;
        }
        break;
    }
    case INIT_SINUSOID: { /* Whisper's encoder table: sin | cos of position / 10000^(2i/S) */
        const int64_t half = ne0 / 2;
        const double inc = log(10000.0) / (double)(half - 1);
        for (int64_t i = 0; i < n; i++) {
            const int64_t pos = (i0 + i) / ne0, c = (i0 + i) % ne0;
            const double ts = pos * exp(-inc * (double)(c % half));
            x[i] = (float)(c < half ? sin(ts) : cos(ts));
        }
        break;
    }
    case INIT_POS: {
        const float sd = (float)(g_pe / sqrt((double)ne0));
        for (int64_t i = 0; i < n; i++)
            x[i] = sd * rng_normal(r);
        break;
    }
        break;
    case INIT_EMBED: {
        /* peaked next-token distributions (logits spread g_emb); timestamp
         * rows share the direction u, end-of-text has w, and the timestamps
         * fall along v the later they are */
        const float sd = (float)(g_emb / sqrt((double)ne0));
        for (int64_t i = 0; i < n; i++) {
            const int64_t row = (i0 + i) / ne0, c = (i0 + i) % ne0;
            float val = sd * rng_normal(r);
            if (row >= n_vocab_beg)
                val = 0.6f * val + 12.0f * dirs.u[c] - 6.0f * (float)(row - n_vocab_beg) / 1500.0f * dirs.v[c];
            else if (row == n_vocab_eot)
                val = 0.6f * val + 7.0f * dirs.w[c];
            x[i] = val;
        }
        break;
    }
    case INIT_OUT_BIAS:
        for (int64_t i = 0; i < n; i++)
            x[i] = 0.02f * rng_normal(r) + 3.0f * dirs.v[(i0 + i) % ne0];
        break;
    }
}

static int write_tensor(struct wr *w, const struct spec *t, uint64_t seed, int idx, int beg, int eot,
                        float *buf, void *qbuf, size_t slice) {
    int32_t nlen = (int32_t)strlen(t->name);
    put_i32(w, t->n_dims);
    put_i32(w, nlen);
    put_i32(w, (int32_t)t->type);
    for (int d = 0; d < t->n_dims; d++)
        put_i32(w, (int32_t)t->ne[d]);
    put(w, t->name, (size_t)nlen);
    struct rng r = {seed * 0x100000001b3ull + (uint64_t)idx * 0x9e3779b97f4a7c15ull, 0, false};
    const int64_t ne0 = t->ne[0], rows = t->ne[1] * t->ne[2];
    const int64_t rows_per = VF_MAX(1, (int64_t)slice / ne0);
    for (int64_t r0 = 0; r0 < rows && !w->failed; r0 += rows_per) {
        const int64_t nr = VF_MIN(rows_per, rows - r0);
        fill(t, &r, buf, r0 * ne0, nr * ne0, beg, eot);
        if (t->type == GGML_TYPE_F32) {
            put(w, buf, (size_t)(nr * ne0) * sizeof(float));
        } else if (t->type == GGML_TYPE_F16) {
            ggml_fp32_to_fp16_row(buf, qbuf, nr * ne0);
            put(w, qbuf, (size_t)(nr * ne0) * 2);
        } else {
            size_t n = ggml_quantize_chunk(t->type, buf, qbuf, 0, nr, ne0, NULL);
            put(w, qbuf, n);
        }
    }
    return w->failed ? VF_ERR_IO : VF_OK;
}

/* The tensor list of a Whisper model, in the order of the converter. */
static int specs_build(const struct vf_cat_whisper *c, enum ggml_type wt, struct spec **out, int *n_out) {
    const int64_t S = c->n_state;
    const enum ggml_type conv = wt == GGML_TYPE_F32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
    int cap = 16 + 15 * (int)c->n_enc_layer + 24 * (int)c->n_dec_layer, n = 0;
    struct spec *v = vf_calloc((size_t)cap, sizeof *v);
    if (!v)
        return VF_ERR_NOMEM;
#define ADD(nd, a, b, cc, ty, in, ...)                                                    \
    do {                                                                                  \
        struct spec *s_ = &v[n++];                                                        \
        snprintf(s_->name, sizeof s_->name, __VA_ARGS__);                                 \
        s_->n_dims = (nd), s_->ne[0] = (a), s_->ne[1] = (b), s_->ne[2] = (cc);            \
        s_->type = (ty), s_->init = (in), s_->gain = 1.0f;                                \
    } while (0)
    ADD(2, S, 1500, 1, GGML_TYPE_F32, INIT_SINUSOID, "encoder.positional_embedding");
    ADD(3, 3, c->n_mels, S, conv, INIT_MATRIX, "encoder.conv1.weight");
    ADD(2, 1, S, 1, GGML_TYPE_F32, INIT_BIAS, "encoder.conv1.bias");
    ADD(3, 3, S, S, conv, INIT_MATRIX, "encoder.conv2.weight");
    ADD(2, 1, S, 1, GGML_TYPE_F32, INIT_BIAS, "encoder.conv2.bias");
    const char *attn[] = {"attn", "cross_attn"};
    for (int dec = 0; dec < 2; dec++) {
        const char *part = dec ? "decoder" : "encoder";
        const int nl = (int)(dec ? c->n_dec_layer : c->n_enc_layer);
        if (dec) {
            ADD(2, S, 448, 1, GGML_TYPE_F32, INIT_POS, "decoder.positional_embedding");
            ADD(2, S, c->n_vocab, 1, wt, INIT_EMBED, "decoder.token_embedding.weight");
        }
        for (int il = 0; il < nl; il++) {
            for (int a = 0; a <= dec; a++) {
                ADD(1, S, 1, 1, GGML_TYPE_F32, INIT_ONE, "%s.blocks.%d.%s_ln.weight", part, il, attn[a]);
                ADD(1, S, 1, 1, GGML_TYPE_F32, INIT_BIAS, "%s.blocks.%d.%s_ln.bias", part, il, attn[a]);
                ADD(2, S, S, 1, wt, INIT_MATRIX, "%s.blocks.%d.%s.query.weight", part, il, attn[a]);
                ADD(1, S, 1, 1, GGML_TYPE_F32, INIT_BIAS, "%s.blocks.%d.%s.query.bias", part, il, attn[a]);
                ADD(2, S, S, 1, wt, INIT_MATRIX, "%s.blocks.%d.%s.key.weight", part, il, attn[a]);
                ADD(2, S, S, 1, wt, INIT_MATRIX, "%s.blocks.%d.%s.value.weight", part, il, attn[a]);
                ADD(1, S, 1, 1, GGML_TYPE_F32, INIT_BIAS, "%s.blocks.%d.%s.value.bias", part, il, attn[a]);
                ADD(2, S, S, 1, wt, INIT_MATRIX, "%s.blocks.%d.%s.out.weight", part, il, attn[a]);
                if (dec)
                    v[n - 1].gain = a ? g_xa : g_sa;
                ADD(1, S, 1, 1, GGML_TYPE_F32, INIT_BIAS, "%s.blocks.%d.%s.out.bias", part, il, attn[a]);
            }
            ADD(1, S, 1, 1, GGML_TYPE_F32, INIT_ONE, "%s.blocks.%d.mlp_ln.weight", part, il);
            ADD(1, S, 1, 1, GGML_TYPE_F32, INIT_BIAS, "%s.blocks.%d.mlp_ln.bias", part, il);
            ADD(2, S, 4 * S, 1, wt, INIT_MATRIX, "%s.blocks.%d.mlp.0.weight", part, il);
            ADD(1, 4 * S, 1, 1, GGML_TYPE_F32, INIT_BIAS, "%s.blocks.%d.mlp.0.bias", part, il);
            ADD(2, 4 * S, S, 1, wt, INIT_CENTERED, "%s.blocks.%d.mlp.2.weight", part, il);
            if (dec)
                v[n - 1].gain = g_mlp;
            ADD(1, S, 1, 1, GGML_TYPE_F32, INIT_BIAS, "%s.blocks.%d.mlp.2.bias", part, il);
        }
        if (dec) {
            ADD(1, S, 1, 1, GGML_TYPE_F32, INIT_ONE, "decoder.ln.weight");
            ADD(1, S, 1, 1, GGML_TYPE_F32, INIT_OUT_BIAS, "decoder.ln.bias");
        } else {
            ADD(1, S, 1, 1, GGML_TYPE_F32, INIT_ONE, "encoder.ln_post.weight");
            ADD(1, S, 1, 1, GGML_TYPE_F32, INIT_BIAS, "encoder.ln_post.bias");
        }
    }
#undef ADD
    *out = v;
    *n_out = n;
    return VF_OK;
}

int vf_mkmodel_whisper(const char *like, const char *type, const char *out, uint64_t seed,
                       char *err, size_t errlen) {
    const struct vf_cat_whisper *c = like ? vf_catalog_find_whisper(like) : NULL;
    if (!c) {
        vf_errf(err, errlen, "unknown Whisper size '%s' (tiny, tiny.en, base, small, medium, "
                "large-v3, large-v3-turbo, distil-large-v3, ...)", like ? like : "");
        return VF_ERR_NOTFOUND;
    }
    return vf__mkwhisper_shape(c, type, out, seed, err, errlen);
}

int vf__mkwhisper_shape(const struct vf_cat_whisper *c, const char *type, const char *out,
                        uint64_t seed, char *err, size_t errlen) {
    if (c->n_state < 32 || c->n_state % 32 || !c->n_head || c->n_state % c->n_head ||
        (c->n_state / c->n_head) % 2 || !c->n_enc_layer || !c->n_dec_layer ||
        c->n_vocab < 51864 || c->n_vocab > 51866 || (c->n_mels != 80 && c->n_mels != 128)) {
        vf_errf(err, errlen, "not a Whisper shape: width %u, %u heads, %u+%u layers, %u tokens, %u mels",
                c->n_state, c->n_head, c->n_enc_layer, c->n_dec_layer, c->n_vocab, c->n_mels);
        return VF_ERR_ARG;
    }
    static const struct {
        const char *name;
        enum ggml_type type;
        int32_t ftype;
    } types[] = {
        {"f32", GGML_TYPE_F32, 0}, {"f16", GGML_TYPE_F16, 1}, {"q4_0", GGML_TYPE_Q4_0, 2002},
        {"q4_1", GGML_TYPE_Q4_1, 2003}, {"q8_0", GGML_TYPE_Q8_0, 2007},
        {"q5_0", GGML_TYPE_Q5_0, 2008}, {"q5_1", GGML_TYPE_Q5_1, 2009},
    };
    int ti = -1;
    for (size_t i = 0; i < VF_ARRAY_LEN(types); i++)
        if (!vf_strcasecmp(type ? type : "f16", types[i].name))
            ti = (int)i;
    if (ti < 0) {
        vf_errf(err, errlen, "unknown whisper.cpp type '%s' (f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0)", type);
        return VF_ERR_ARG;
    }
    if (!seed)
        seed = 0x7768697370657221ull;
    const bool ml = c->n_vocab >= 51865;
    const int n_file_vocab = ml ? 50257 : 50256;
    /* the first timestamp token and end-of-text, as whisper.cpp numbers them */
    const int nl = (int)c->n_vocab - 51765 - (ml ? 1 : 0);
    const int beg = 50363 + (ml ? nl - 98 : 0), eot = ml ? 50257 : 50256;

    struct vocab voc;
    struct spec *specs = NULL;
    int n_specs = 0;
    float *buf = NULL, *filters = NULL, *dir = NULL;
    void *qbuf = NULL;
    char tmp[1024];
    struct wr w = {NULL, false};
    int rc = vocab_build(&voc, ml ? n_file_vocab - 1 : n_file_vocab, seed);
    if (!rc)
        rc = specs_build(c, types[ti].type, &specs, &n_specs);
    const size_t slice = 1 << 20;
    dir = vf_malloc(3 * (size_t)c->n_state * sizeof(float));
    if (dir) {
        struct rng dr = {seed ^ 0x646972656374ull, 0, false};
        for (size_t i = 0; i < 3 * (size_t)c->n_state; i++)
            dir[i] = rng_normal(&dr) / sqrtf((float)c->n_state);
        dirs = (struct dirs){dir, dir + c->n_state, dir + 2 * c->n_state};
    }
    buf = vf_malloc((slice + 8192) * sizeof(float));
    qbuf = vf_malloc((slice + 8192) * sizeof(float));
    filters = vf_malloc((size_t)c->n_mels * 201 * sizeof(float));
    if (rc || !buf || !qbuf || !filters || !dir) {
        vf_errf(err, errlen, "out of memory");
        rc = rc ? rc : VF_ERR_NOMEM;
        goto out;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    if (!(w.f = fopen(tmp, "wb"))) {
        vf_errf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        rc = VF_ERR_IO;
        goto out;
    }
    static char iobuf[1 << 16];
    setvbuf(w.f, iobuf, _IOFBF, sizeof iobuf);
    put_i32(&w, 0x67676d6c);
    const int32_t hp[11] = {(int32_t)c->n_vocab, 1500, (int32_t)c->n_state, (int32_t)c->n_head,
                            (int32_t)c->n_enc_layer, 448, (int32_t)c->n_state, (int32_t)c->n_head,
                            (int32_t)c->n_dec_layer, (int32_t)c->n_mels, types[ti].ftype};
    for (int i = 0; i < 11; i++)
        put_i32(&w, hp[i]);
    put_i32(&w, (int32_t)c->n_mels);
    put_i32(&w, 201);
    vf_whisper_mel_filters((int)c->n_mels, filters);
    put(&w, filters, (size_t)c->n_mels * 201 * sizeof(float));
    put_i32(&w, n_file_vocab);
    for (int i = 0; i < voc.n; i++) {
        put_i32(&w, (int32_t)voc.len[i]);
        put(&w, voc.blob + voc.off[i], voc.len[i]);
    }
    if (ml)
        put_i32(&w, 0);   /* the multilingual files store an empty entry last */
    for (int i = 0; i < n_specs && !rc; i++)
        rc = write_tensor(&w, &specs[i], seed, i, beg, eot, buf, qbuf, slice);
    if (!rc && w.failed)
        rc = VF_ERR_IO;
    if (fclose(w.f) != 0 && !rc)
        rc = VF_ERR_IO;
    w.f = NULL;
    if (!rc && rename(tmp, out) != 0)
        rc = VF_ERR_IO;
    if (rc) {
        vf_errf(err, errlen, "writing %s: %s", out, strerror(errno));
        remove(tmp);
    }
out:
    if (w.f) {
        fclose(w.f);
        remove(tmp);
    }
    vocab_free(&voc);
    vf_free(dir);
    dirs = (struct dirs){0};
    vf_free(specs);
    vf_free(buf);
    vf_free(qbuf);
    vf_free(filters);
    return rc;
}
