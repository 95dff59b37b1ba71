/* wfile.c - reader for whisper.cpp's model files (see whisper_int.h). The
 * layout, all little-endian, as whisper.cpp's convert scripts write it:
 *   u32 magic "ggml"; 11 x i32 hparams (n_vocab, n_audio_ctx, n_audio_state,
 *   n_audio_head, n_audio_layer, n_text_ctx, n_text_state, n_text_head,
 *   n_text_layer, n_mels, ftype); i32 n_mel, i32 n_fft, n_mel x n_fft f32
 *   filters; i32 n_tokens, n_tokens x { u32 len, bytes }; then tensors to the
 *   end of the file: i32 n_dims, i32 name_len, i32 type, n_dims x i32 ne,
 *   name, data (no alignment).
 * The reader checks everything against bounds before allocating, so the
 * same code runs on user files and on fuzz input. */
#include "whisper_int.h"
#include "../core/str.h"
#include "../model/dtype.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ==== Expected tensors ==================================================== */

enum { N_GLOBAL = 11, N_ENC = 15, N_DEC = 24 };

static const char *const global_names[N_GLOBAL] = {
    "encoder.positional_embedding", "encoder.conv1.weight", "encoder.conv1.bias",
    "encoder.conv2.weight", "encoder.conv2.bias", "encoder.ln_post.weight", "encoder.ln_post.bias",
    "decoder.positional_embedding", "decoder.token_embedding.weight", "decoder.ln.weight",
    "decoder.ln.bias",
};

/* Per-layer suffixes; the decoder has the encoder's fifteen and nine more. */
static const char *const layer_names[N_DEC] = {
    "attn_ln.weight", "attn_ln.bias", "attn.query.weight", "attn.query.bias", "attn.key.weight",
    "attn.value.weight", "attn.value.bias", "attn.out.weight", "attn.out.bias",
    "mlp_ln.weight", "mlp_ln.bias", "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias",
    "cross_attn_ln.weight", "cross_attn_ln.bias", "cross_attn.query.weight",
    "cross_attn.query.bias", "cross_attn.key.weight", "cross_attn.value.weight",
    "cross_attn.value.bias", "cross_attn.out.weight", "cross_attn.out.bias",
};

int vf__wh_expected_count(const struct vf_wh_hparams *hp) {
    return N_GLOBAL + N_ENC * hp->n_audio_layer + N_DEC * hp->n_text_layer;
}

/* Shape and kind of per-layer tensor j (state S). */
static void layer_shape(int j, int64_t S, int64_t ne[3], int *kind) {
    ne[0] = S, ne[1] = 1, ne[2] = 1;
    *kind = 0;
    switch (j) {
    case 2: case 4: case 5: case 7: case 17: case 19: case 20: case 22:
        ne[1] = S, *kind = 2; break;                    /* S x S projections */
    case 11: ne[1] = 4 * S, *kind = 2; break;           /* mlp.0: S -> 4S */
    case 12: ne[0] = 4 * S; break;                      /* its bias */
    case 13: ne[0] = 4 * S, ne[1] = S, *kind = 2; break;/* mlp.2: 4S -> S */
    default: break;
    }
}

static void global_shape(const struct vf_wh_hparams *hp, int j, int64_t ne[3], int *kind) {
    const int64_t S = hp->n_audio_state;
    ne[0] = S, ne[1] = 1, ne[2] = 1;
    *kind = 0;
    switch (j) {
    case 0: ne[1] = hp->n_audio_ctx; break;
    case 1: ne[0] = 3, ne[1] = hp->n_mels, ne[2] = S, *kind = 1; break;
    case 2: case 4: ne[0] = 1, ne[1] = S; break;
    case 3: ne[0] = 3, ne[1] = S, ne[2] = S, *kind = 1; break;
    case 7: ne[1] = hp->n_text_ctx; break;
    case 8: ne[1] = hp->n_vocab, *kind = 2; break;
    default: break;
    }
}

/* Parse a layer number: digits only, no leading zero, below n. */
static int parse_layer(const char *s, int n, const char **rest) {
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return -1;
    int v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v >= n)
            return -1;
    }
    if (*s != '.')
        return -1;
    *rest = s + 1;
    return v;
}

int vf__wh_expected(const struct vf_wh_hparams *hp, const char *name, int64_t ne[3], int *kind) {
    for (int j = 0; j < N_GLOBAL; j++) {
        if (!strcmp(name, global_names[j])) {
            global_shape(hp, j, ne, kind);
            return j;
        }
    }
    const char *rest;
    if (!strncmp(name, "encoder.blocks.", 15)) {
        int il = parse_layer(name + 15, hp->n_audio_layer, &rest);
        for (int j = 0; il >= 0 && j < N_ENC; j++) {
            if (!strcmp(rest, layer_names[j])) {
                layer_shape(j, hp->n_audio_state, ne, kind);
                return N_GLOBAL + il * N_ENC + j;
            }
        }
    } else if (!strncmp(name, "decoder.blocks.", 15)) {
        int il = parse_layer(name + 15, hp->n_text_layer, &rest);
        for (int j = 0; il >= 0 && j < N_DEC; j++) {
            if (!strcmp(rest, layer_names[j])) {
                layer_shape(j, hp->n_text_state, ne, kind);
                return N_GLOBAL + N_ENC * hp->n_audio_layer + il * N_DEC + j;
            }
        }
    }
    return -1;
}

/* The name of expected tensor index idx (for "missing" messages). */
static void expected_name(const struct vf_wh_hparams *hp, int idx, char *out, size_t n) {
    if (idx < N_GLOBAL) {
        snprintf(out, n, "%s", global_names[idx]);
    } else if (idx < N_GLOBAL + N_ENC * hp->n_audio_layer) {
        idx -= N_GLOBAL;
        snprintf(out, n, "encoder.blocks.%d.%s", idx / N_ENC, layer_names[idx % N_ENC]);
    } else {
        idx -= N_GLOBAL + N_ENC * hp->n_audio_layer;
        snprintf(out, n, "decoder.blocks.%d.%s", idx / N_DEC, layer_names[idx % N_DEC]);
    }
}

/* ==== Header ============================================================== */

static const char *type_name(int32_t t) {
    switch (t) {
    case 0: return "f32";
    case 1: return "f16";
    case 2: return "q4_0";
    case 3: return "q4_1";
    case 6: return "q5_0";
    case 7: return "q5_1";
    case 8: return "q8_0";
    default: return "?";
    }
}

/* ggml file type -> ggml tensor type of the big matrices, -1 unsupported. */
static int32_t ftype_wtype(int32_t ftype) {
    switch (ftype) {
    case 0: return 0;   /* f32 */
    case 1: return 1;   /* f16 */
    case 2: return 2;   /* q4_0 */
    case 3: return 3;   /* q4_1 */
    case 7: return 8;   /* q8_0 */
    case 8: return 6;   /* q5_0 */
    case 9: return 7;   /* q5_1 */
    default: return -1;
    }
}

static bool is_quant(int32_t t) { return t == 2 || t == 3 || t == 6 || t == 7 || t == 8; }

static int check_hparams(const struct vf_wh_hparams *hp, char *err, size_t errlen) {
    if (hp->n_vocab < 51864 || hp->n_vocab > 51866) {
        vf_errf(err, errlen, "n_vocab is %d: a Whisper model has 51864 (.en), 51865 or 51866 "
                "(large-v3) tokens", hp->n_vocab);
        return hp->n_vocab > 0 && hp->n_vocab < (1 << 20) ? VF_ERR_UNSUPPORTED : VF_ERR_FORMAT;
    }
    if (hp->n_audio_ctx < 1 || hp->n_audio_ctx > VF_WH_MAX_AUDIO_CTX || hp->n_text_ctx < 16 ||
        hp->n_text_ctx > VF_WH_MAX_TEXT_CTX) {
        vf_errf(err, errlen, "context sizes %d (audio) / %d (text) outside 1..%d / 16..%d",
                hp->n_audio_ctx, hp->n_text_ctx, VF_WH_MAX_AUDIO_CTX, VF_WH_MAX_TEXT_CTX);
        return VF_ERR_FORMAT;
    }
    if (hp->n_audio_state < 32 || hp->n_audio_state > VF_WH_MAX_STATE ||
        hp->n_text_state != hp->n_audio_state) {
        vf_errf(err, errlen, "width %d (audio) / %d (text): must be equal and 32..%d",
                hp->n_audio_state, hp->n_text_state, VF_WH_MAX_STATE);
        return VF_ERR_FORMAT;
    }
    if (hp->n_audio_head < 1 || hp->n_text_head < 1 || hp->n_audio_state % hp->n_audio_head ||
        hp->n_text_state % hp->n_text_head || hp->n_audio_state / hp->n_audio_head > VF_WH_MAX_HEAD_DIM ||
        hp->n_text_state / hp->n_text_head > VF_WH_MAX_HEAD_DIM) {
        vf_errf(err, errlen, "head counts %d / %d do not divide the width %d", hp->n_audio_head,
                hp->n_text_head, hp->n_audio_state);
        return VF_ERR_FORMAT;
    }
    if (hp->n_audio_layer < 1 || hp->n_audio_layer > VF_WH_MAX_LAYERS || hp->n_text_layer < 1 ||
        hp->n_text_layer > VF_WH_MAX_LAYERS) {
        vf_errf(err, errlen, "layer counts %d / %d outside 1..%d", hp->n_audio_layer,
                hp->n_text_layer, VF_WH_MAX_LAYERS);
        return VF_ERR_FORMAT;
    }
    if (hp->n_mels != 80 && hp->n_mels != 128) {
        vf_errf(err, errlen, "n_mels is %d: Whisper uses 80 or 128 mel bins", hp->n_mels);
        return VF_ERR_FORMAT;
    }
    return VF_OK;
}

/* ==== Reading ============================================================= */

static int rd_i32(struct vf_reader *r, int32_t *v, const char *what, char *err, size_t errlen) {
    int rc = vf_reader_i32(r, v);
    if (rc)
        vf_errf(err, errlen, "%s at byte %llu: %s", what, (unsigned long long)r->pos,
                rc == VF_ERR_IO ? "read error" : "file is truncated");
    return rc;
}

static int read_vocab(struct vf_reader *r, struct vf_wh_file *f, char *err, size_t errlen) {
    struct vf_wh_vocab *v = &f->vocab;
    int32_t n;
    int rc = rd_i32(r, &n, "vocabulary size", err, errlen);
    if (rc)
        return rc;
    if (n < 0 || n > f->hp.n_vocab) {
        vf_errf(err, errlen, "vocabulary has %d entries; the model has %d tokens", n, f->hp.n_vocab);
        return VF_ERR_FORMAT;
    }
    v->n_vocab = f->hp.n_vocab;
    v->n_file = n;
    v->off = vf_calloc((size_t)v->n_vocab, sizeof *v->off);
    v->len = vf_calloc((size_t)v->n_vocab, sizeof *v->len);
    if (!v->off || !v->len)
        return VF_ERR_NOMEM;
    size_t cap = 0, used = 0;
    for (int32_t i = 0; i < n; i++) {
        uint32_t len;
        if ((rc = vf_reader_u32(r, &len))) {
            vf_errf(err, errlen, "vocabulary entry %d: file is truncated", i);
            return rc;
        }
        if (len > VF_WH_MAX_TOKEN_LEN) {
            vf_errf(err, errlen, "vocabulary entry %d has length %u (limit %d)", i, len,
                    VF_WH_MAX_TOKEN_LEN);
            return VF_ERR_FORMAT;
        }
        if (len > vf_reader_left(r)) {
            vf_errf(err, errlen, "vocabulary entry %d: file is truncated (%u bytes needed, %llu "
                    "left)", i, len, (unsigned long long)vf_reader_left(r));
            return VF_ERR_FORMAT;
        }
        if (used + len > cap) {
            size_t nc = cap ? cap * 2 : 65536;
            while (nc < used + len)
                nc *= 2;
            char *b = vf_realloc(v->blob, nc);
            if (!b)
                return VF_ERR_NOMEM;
            v->blob = b;
            cap = nc;
        }
        if ((rc = vf_reader_read(r, v->blob + used, len)))
            return rc;
        v->off[i] = (uint32_t)used;
        v->len[i] = (uint16_t)len;
        used += len;
    }
    /* Shrink to fit; vocab.c appends the synthesized entries. */
    if (cap > used) {
        char *b = vf_realloc(v->blob, used ? used : 1);
        if (b)
            v->blob = b;
    }
    return VF_OK;
}

static int read_tensors(struct vf_reader *r, struct vf_wh_file *f, char *err, size_t errlen) {
    const int n_expected = vf__wh_expected_count(&f->hp);
    f->tensors = vf_calloc((size_t)n_expected, sizeof *f->tensors);
    if (!f->tensors)
        return VF_ERR_NOMEM;
    bool *seen = vf_calloc((size_t)n_expected, 1);
    if (!seen)
        return VF_ERR_NOMEM;
    int rc = VF_OK;
    while (vf_reader_left(r) > 0) {
        int32_t n_dims, name_len, type;
        if ((rc = rd_i32(r, &n_dims, "tensor header", err, errlen)) ||
            (rc = rd_i32(r, &name_len, "tensor header", err, errlen)) ||
            (rc = rd_i32(r, &type, "tensor header", err, errlen)))
            goto out;
        if (n_dims < 1 || n_dims > 3 || name_len < 1 || name_len >= VF_WH_NAME_MAX) {
            vf_errf(err, errlen, "tensor %d at byte %llu: %d dimensions, name of %d bytes",
                    f->n_tensors, (unsigned long long)r->pos, n_dims, name_len);
            rc = VF_ERR_FORMAT;
            goto out;
        }
        int64_t ne[3] = {1, 1, 1};
        for (int d = 0; d < n_dims; d++) {
            int32_t x;
            if ((rc = rd_i32(r, &x, "tensor shape", err, errlen)))
                goto out;
            if (x < 1 || x > (1 << 24)) {
                vf_errf(err, errlen, "tensor %d has dimension %d = %d", f->n_tensors, d, x);
                rc = VF_ERR_FORMAT;
                goto out;
            }
            ne[d] = x;
        }
        char name[VF_WH_NAME_MAX];
        if ((rc = vf_reader_read(r, name, (size_t)name_len))) {
            vf_errf(err, errlen, "tensor %d: file is truncated in its name", f->n_tensors);
            goto out;
        }
        name[name_len] = '\0';
        if (strlen(name) != (size_t)name_len) {
            vf_errf(err, errlen, "tensor %d: name contains a NUL byte", f->n_tensors);
            rc = VF_ERR_FORMAT;
            goto out;
        }
        int64_t want[3];
        int kind;
        int idx = vf__wh_expected(&f->hp, name, want, &kind);
        if (idx < 0) {
            vf_errf(err, errlen, "unknown tensor '%.63s' (not part of a Whisper model with these "
                    "hyper-parameters)", name);
            rc = VF_ERR_FORMAT;
            goto out;
        }
        if (seen[idx]) {
            vf_errf(err, errlen, "tensor '%s' appears twice", name);
            rc = VF_ERR_FORMAT;
            goto out;
        }
        seen[idx] = true;
        if (ne[0] != want[0] || ne[1] != want[1] || ne[2] != want[2]) {
            vf_errf(err, errlen, "tensor '%s' has shape [%lld, %lld, %lld], expected [%lld, %lld, %lld]",
                    name, (long long)ne[0], (long long)ne[1], (long long)ne[2], (long long)want[0],
                    (long long)want[1], (long long)want[2]);
            rc = VF_ERR_FORMAT;
            goto out;
        }
        bool ok = kind == 0 ? type == 0 : kind == 1 ? (type == 0 || type == 1)
                : (type == 0 || type == 1 || is_quant(type));
        if (!ok || !strcmp(type_name(type), "?")) {
            vf_errf(err, errlen, "tensor '%s' has ggml type %d (%s); expected %s", name, type,
                    type_name(type), kind == 0 ? "f32" : kind == 1 ? "f16 or f32"
                    : "f32, f16, q4_0, q4_1, q5_0, q5_1 or q8_0");
            rc = strcmp(type_name(type), "?") ? VF_ERR_UNSUPPORTED : VF_ERR_FORMAT;
            goto out;
        }
        if (is_quant(type) && f->hp.qntvr != 2) {
            vf_errf(err, errlen, "tensor '%s' is quantized in ggml's format version %d; only "
                    "version 2 is supported (re-quantize the model)", name, f->hp.qntvr);
            rc = VF_ERR_UNSUPPORTED;
            goto out;
        }
        uint64_t row = vf_dtype_row_size((enum vf_dtype)type, ne[0]);
        if (row == 0) {
            vf_errf(err, errlen, "tensor '%s': rows of %lld are not whole %s blocks", name,
                    (long long)ne[0], type_name(type));
            rc = VF_ERR_FORMAT;
            goto out;
        }
        uint64_t nbytes = row * (uint64_t)ne[1] * (uint64_t)ne[2];
        if (nbytes > vf_reader_left(r)) {
            vf_errf(err, errlen, "tensor '%s' needs %llu bytes but the file has %llu left "
                    "(truncated?)", name, (unsigned long long)nbytes,
                    (unsigned long long)vf_reader_left(r));
            rc = VF_ERR_FORMAT;
            goto out;
        }
        struct vf_wh_tensor *t = &f->tensors[f->n_tensors++];
        memcpy(t->name, name, (size_t)name_len + 1);
        t->type = type;
        t->n_dims = n_dims;
        memcpy(t->ne, ne, sizeof ne);
        t->offset = r->pos;
        t->nbytes = nbytes;
        f->data_bytes += nbytes;
        if ((rc = vf_reader_skip(r, nbytes)))
            goto out;
    }
    for (int i = 0; i < n_expected; i++) {
        if (!seen[i]) {
            char nm[96];
            expected_name(&f->hp, i, nm, sizeof nm);
            vf_errf(err, errlen, "tensor '%s' is missing (%d of %d present; truncated file?)", nm,
                    f->n_tensors, n_expected);
            rc = VF_ERR_FORMAT;
            goto out;
        }
    }
out:
    vf_free(seen);
    return rc;
}

int vf__wh_file_read(struct vf_reader *r, struct vf_wh_file *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    f->vocab.hash = NULL;
    int rc;
    uint32_t magic;
    if ((rc = vf_reader_u32(r, &magic))) {
        vf_errf(err, errlen, "file is empty or unreadable");
        goto out;
    }
    if (magic != VF_WH_FILE_MAGIC) {
        if (magic == 0x46554747u)
            vf_errf(err, errlen, "this is a GGUF file; a whisper.cpp model (ggml .bin) is expected");
        else
            vf_errf(err, errlen, "not a whisper.cpp model file (magic 0x%08x, expected 0x%08x)",
                    magic, VF_WH_FILE_MAGIC);
        rc = VF_ERR_FORMAT;
        goto out;
    }
    struct vf_wh_hparams *hp = &f->hp;
    int32_t *fields[] = {&hp->n_vocab, &hp->n_audio_ctx, &hp->n_audio_state, &hp->n_audio_head,
                         &hp->n_audio_layer, &hp->n_text_ctx, &hp->n_text_state, &hp->n_text_head,
                         &hp->n_text_layer, &hp->n_mels, &hp->ftype};
    for (size_t i = 0; i < VF_ARRAY_LEN(fields); i++)
        if ((rc = rd_i32(r, fields[i], "hyper-parameters", err, errlen)))
            goto out;
    if (hp->ftype < 0) {
        vf_errf(err, errlen, "negative file type %d", hp->ftype);
        rc = VF_ERR_FORMAT;
        goto out;
    }
    hp->qntvr = hp->ftype / VF_WH_QNT_FACTOR;
    hp->ftype %= VF_WH_QNT_FACTOR;
    if ((rc = check_hparams(hp, err, errlen)))
        goto out;
    f->wtype = ftype_wtype(hp->ftype);
    if (f->wtype < 0 || hp->qntvr > 2) {
        vf_errf(err, errlen, "file type %d (quantization version %d) is not supported: use f32, "
                "f16, q4_0, q4_1, q5_0, q5_1 or q8_0", hp->ftype, hp->qntvr);
        rc = VF_ERR_UNSUPPORTED;
        goto out;
    }
    if (is_quant(f->wtype) && hp->qntvr != 2) {
        vf_errf(err, errlen, "quantized with ggml's format version %d; only version 2 is "
                "supported (re-quantize the model)", hp->qntvr);
        rc = VF_ERR_UNSUPPORTED;
        goto out;
    }

    int32_t n_mel, n_fft;
    if ((rc = rd_i32(r, &n_mel, "mel filters", err, errlen)) ||
        (rc = rd_i32(r, &n_fft, "mel filters", err, errlen)))
        goto out;
    if (n_mel != hp->n_mels || n_fft != VF_WH_N_FREQ) {
        vf_errf(err, errlen, "mel filter bank is %d x %d, expected %d x %d", n_mel, n_fft,
                hp->n_mels, VF_WH_N_FREQ);
        rc = VF_ERR_FORMAT;
        goto out;
    }
    size_t nf = (size_t)n_mel * VF_WH_N_FREQ;
    if (nf * 4 > vf_reader_left(r)) {
        vf_errf(err, errlen, "file is truncated in the mel filters");
        rc = VF_ERR_FORMAT;
        goto out;
    }
    f->filters = vf_malloc(nf * sizeof(float));
    if (!f->filters) {
        rc = VF_ERR_NOMEM;
        goto out;
    }
    if ((rc = vf_reader_read(r, f->filters, nf * sizeof(float))))
        goto out;
    for (size_t i = 0; i < nf; i++) {
        if (!isfinite(f->filters[i])) {
            vf_errf(err, errlen, "mel filter %zu is not a finite number", i);
            rc = VF_ERR_FORMAT;
            goto out;
        }
    }
    if ((rc = read_vocab(r, f, err, errlen)))
        goto out;
    if ((rc = vf__wh_vocab_finish(&f->vocab)))
        goto out;
    rc = read_tensors(r, f, err, errlen);
out:
    if (rc) {
        if (rc == VF_ERR_NOMEM)
            vf_errf(err, errlen, "out of memory reading the model");
        else if (rc == VF_ERR_IO && err && !err[0])
            vf_errf(err, errlen, "read error");
        vf__wh_file_free(f);
    }
    return rc;
}

void vf__wh_file_free(struct vf_wh_file *f) {
    if (!f)
        return;
    vf_free(f->filters);
    vf_free(f->tensors);
    vf__wh_vocab_free(&f->vocab);
    memset(f, 0, sizeof *f);
}

/* A valid start of a file (a 32-wide one-layer model, zero filters, a
 * three-token vocabulary). The fuzz entry reads its first byte as a mode:
 * even puts this prefix before the rest, so the fuzzer works on the tensor
 * directory instead of spending its length budget on the 64 KB of mel
 * filters; odd parses the rest as a whole file. */
static size_t fuzz_prefix(uint8_t *out, size_t cap) {
    const int32_t head[] = {(int32_t)VF_WH_FILE_MAGIC, 51864, 1500, 32, 1, 1, 448, 32, 1, 1, 80, 1, 80,
                            VF_WH_N_FREQ};
    const size_t need = sizeof head + 80 * VF_WH_N_FREQ * 4 + 4 + 3 * 5;
    if (cap < need)
        return 0;
    memcpy(out, head, sizeof head);
    size_t k = sizeof head;
    memset(out + k, 0, 80 * VF_WH_N_FREQ * 4);
    k += 80 * VF_WH_N_FREQ * 4;
    const int32_t nv = 3;
    memcpy(out + k, &nv, 4);
    k += 4;
    const char toks[3] = {'a', 'b', ' '};
    for (int i = 0; i < 3; i++) {
        const uint32_t one = 1;
        memcpy(out + k, &one, 4);
        out[k + 4] = (uint8_t)toks[i];
        k += 5;
    }
    return k;
}

int vf__fuzz_whisper_bin(const uint8_t *data, size_t size) {
    struct vf_reader r;
    struct vf_wh_file f;
    char err[256];
    uint8_t *buf = NULL;
    if (size > 0 && !(data[0] & 1) && size < (1u << 20)) {
        const size_t cap = 80 * VF_WH_N_FREQ * 4 + 256 + size;
        buf = vf_malloc(cap);
        if (!buf)
            return 0;
        size_t k = fuzz_prefix(buf, cap);
        memcpy(buf + k, data + 1, size - 1);
        vf_reader_mem(&r, buf, k + size - 1);
    } else {
        vf_reader_mem(&r, size ? data + 1 : data, size ? size - 1 : 0);
    }
    if (vf__wh_file_read(&r, &f, err, sizeof err) == VF_OK) {
        /* exercise the tokenizer on the parsed vocabulary too */
        int32_t toks[64];
        vf__wh_tokenize(&f.vocab, "Hello world, it's 2024!", toks, 64);
        vf__wh_file_free(&f);
    }
    vf_free(buf);
    return 0;
}
