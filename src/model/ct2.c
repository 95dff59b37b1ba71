/* ct2.c - a CTranslate2 Whisper folder (what faster-whisper loads):
 * config.json and model.bin. model.bin holds a u32 format version, the
 * spec name and revision, then the variables, each a name, a rank, its
 * dimensions, a dtype id and a byte count followed by the data. Only the
 * table is read; dimensions give the Whisper hyper-parameters (conv1 for
 * mel bins and width, the layer names for depth, the embeddings for the
 * vocabulary). */
#include "model.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* CTranslate2's DataType ids */
static enum vf_dtype ct2_dtype(uint8_t id) {
    switch (id) {
    case 0: return VF_DT_F32;
    case 1: return VF_DT_I8;
    case 2: return VF_DT_I16;
    case 3: return VF_DT_I32;
    case 4: return VF_DT_F16;
    case 5: return VF_DT_BF16;
    default: return VF_DT_INVALID;
    }
}

static int read_str16(struct vf_reader *r, char *out, size_t n) {
    uint16_t len;
    if (vf_reader_u16(r, &len) || len == 0 || len > n)
        return VF_ERR_FORMAT;
    if (vf_reader_read(r, out, len))
        return VF_ERR_FORMAT;
    out[len - 1] = '\0'; /* stored with its terminator */
    return VF_OK;
}

static int parse(struct vf_reader *r, struct vf_model *m, char *err, size_t errlen) {
    uint32_t version, revision, nvars;
    char spec[128];
    if (vf_reader_u32(r, &version) || version < 1 || version > 100) {
        vf_errf(err, errlen, "not a CTranslate2 model.bin (version field)");
        return VF_ERR_FORMAT;
    }
    if (version >= 2 && (read_str16(r, spec, sizeof spec) || vf_reader_u32(r, &revision))) {
        vf_errf(err, errlen, "bad CTranslate2 spec header");
        return VF_ERR_FORMAT;
    }
    if (vf_reader_u32(r, &nvars) || nvars > 100000) {
        vf_errf(err, errlen, "bad CTranslate2 variable count");
        return VF_ERR_FORMAT;
    }
    uint32_t enc_layers = 0, dec_layers = 0;
    for (uint32_t i = 0; i < nvars; i++) {
        char name[VF_TENSOR_NAME_MAX];
        uint8_t rank, dt;
        uint32_t nbytes;
        if (read_str16(r, name, sizeof name) || vf_reader_u8(r, &rank) || rank > 8) {
            vf_errf(err, errlen, "bad variable %u header", i);
            return VF_ERR_FORMAT;
        }
        int64_t dims[8] = {1, 1, 1, 1, 1, 1, 1, 1};
        for (uint8_t k = 0; k < rank; k++) {
            uint32_t d;
            if (vf_reader_u32(r, &d)) {
                vf_errf(err, errlen, "truncated variable '%s'", name);
                return VF_ERR_FORMAT;
            }
            dims[k] = d;
        }
        if (vf_reader_u8(r, &dt) || vf_reader_u32(r, &nbytes) || ct2_dtype(dt) == VF_DT_INVALID) {
            vf_errf(err, errlen, "variable '%s' has a bad dtype or size", name);
            return VF_ERR_FORMAT;
        }
        /* ggml order (innermost first); a scalar is one element, and the
         * outer dimensions of a rank above 4 fold into the fourth */
        int64_t ne[4] = {1, 1, 1, 1};
        int nd = rank ? (rank > 4 ? 4 : rank) : 1;
        for (int k = 0; k < rank && k < 3; k++)
            ne[k] = dims[rank - 1 - k];
        if (rank >= 4) {
            ne[3] = 1;
            for (int k = 0; k <= rank - 4; k++) {
                if (dims[k] && ne[3] > ((int64_t)1 << 40) / dims[k]) {
                    vf_errf(err, errlen, "variable '%s' is too large", name);
                    return VF_ERR_FORMAT;
                }
                ne[3] *= dims[k];
            }
        }
        int rc = vf_tensor_list_add(&m->tensors, name, ct2_dtype(dt), nd, ne, r->pos);
        if (rc || m->tensors.v[m->tensors.n - 1].nbytes != nbytes) {
            vf_errf(err, errlen, "variable '%s': shape and byte count disagree", name);
            return rc ? rc : VF_ERR_FORMAT;
        }
        if (vf_reader_skip(r, nbytes)) {
            vf_errf(err, errlen, "variable '%s' data is truncated", name);
            return VF_ERR_FORMAT;
        }
        unsigned li;
        if (sscanf(name, "encoder/layer_%u/", &li) == 1 && li + 1 > enc_layers)
            enc_layers = li + 1;
        if (sscanf(name, "decoder/layer_%u/", &li) == 1 && li + 1 > dec_layers)
            dec_layers = li + 1;
        struct vf_whisper_hparams *w = &m->whisper;
        if (!strcmp(name, "encoder/conv1/weight") && rank == 3) {
            w->n_audio_state = w->n_text_state = (uint32_t)dims[0];
            w->n_mels = (uint32_t)dims[1];
        }
        if (!strcmp(name, "decoder/embeddings/weight") && rank == 2)
            w->n_vocab = (uint32_t)dims[0];
        if (!strcmp(name, "encoder/position_encodings/encodings") && rank == 2)
            w->n_audio_ctx = (uint32_t)dims[0];
        if (!strcmp(name, "decoder/position_encodings/encodings") && rank == 2)
            w->n_text_ctx = (uint32_t)dims[0];
    }
    struct vf_whisper_hparams *w = &m->whisper;
    w->n_audio_layer = enc_layers;
    w->n_text_layer = dec_layers;
    if (!w->n_audio_state || !enc_layers || !dec_layers || !w->n_vocab) {
        vf_errf(err, errlen, "model.bin is not a Whisper model (no encoder/decoder variables)");
        return VF_ERR_UNSUPPORTED;
    }
    w->n_audio_head = w->n_text_head = w->n_audio_state / 64;
    if (!w->n_audio_ctx)
        w->n_audio_ctx = 1500;
    if (!w->n_text_ctx)
        w->n_text_ctx = 448;
    return VF_OK;
}

int vf_model_from_ct2_dir(const char *dir, struct vf_model *m, char *err, size_t errlen) {
    char path[1024];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    vf_model_init(m);
    struct vf_reader r;
    if (vf_reader_open(&r, path)) {
        vf_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return VF_ERR_IO;
    }
    vf_strlcpy(m->id, dir, sizeof m->id);
    const char *slash = strrchr(dir, '/');
    vf_strlcpy(m->name, slash && slash[1] ? slash + 1 : dir, sizeof m->name);
    m->file_bytes = r.size;
    m->role = VF_ROLE_STT;
    m->format = VF_FMT_CT2;
    char e2[256] = "";
    int rc = parse(&r, m, e2, sizeof e2);
    vf_reader_close(&r);
    if (rc) {
        vf_errf(err, errlen, "%s: %s", path, e2);
        vf_model_free(m);
        return rc;
    }
    /* the stored type: int8 weights mean an int8 conversion */
    bool int8 = false, f16 = false;
    for (size_t i = 0; i < m->tensors.n; i++) {
        int8 |= m->tensors.v[i].dtype == VF_DT_I8;
        f16 |= m->tensors.v[i].dtype == VF_DT_F16;
        m->n_params += (uint64_t)vf_tensor_nelements(&m->tensors.v[i]);
    }
    vf_strlcpy(m->quant, int8 ? (f16 ? "int8_float16" : "int8") : f16 ? "float16" : "float32",
               sizeof m->quant);
    return VF_OK;
}

int vf__fuzz_ct2(const uint8_t *data, size_t size) {
    struct vf_reader r;
    struct vf_model m;
    vf_model_init(&m);
    vf_reader_mem(&r, data, size);
    char err[256];
    parse(&r, &m, err, sizeof err);
    vf_model_free(&m);
    return 0;
}
