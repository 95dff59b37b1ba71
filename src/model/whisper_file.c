/* whisper_file.c - the header and tensor table of a whisper.cpp model file
 * (ggml .bin), read for planning without loading the weights: magic
 * "ggml" (0x67676d6c), eleven int32 hyper-parameters, the mel filter bank,
 * the vocabulary, then tensors as {n_dims, name_len, type, ne[n_dims],
 * name, data}. Every count and length is bounded by the file size. The
 * full loader that runs the model is in src/stt/. */
#include "model.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define WHISPER_MAGIC 0x67676d6cu

static int parse(struct vf_reader *r, struct vf_model *m, char *err, size_t errlen) {
    uint32_t magic;
    int32_t hp[11];
    if (vf_reader_u32(r, &magic) || magic != WHISPER_MAGIC) {
        vf_errf(err, errlen, "not a whisper.cpp model (bad magic)");
        return VF_ERR_FORMAT;
    }
    if (vf_reader_read(r, hp, sizeof hp)) {
        vf_errf(err, errlen, "truncated whisper.cpp header");
        return VF_ERR_FORMAT;
    }
    struct vf_whisper_hparams *w = &m->whisper;
    for (int i = 0; i < 10; i++) {
        if (hp[i] <= 0 || hp[i] > (1 << 20)) {
            vf_errf(err, errlen, "implausible whisper.cpp hyper-parameter #%d = %d", i, hp[i]);
            return VF_ERR_FORMAT;
        }
    }
    w->n_vocab = (uint32_t)hp[0];
    w->n_audio_ctx = (uint32_t)hp[1];
    w->n_audio_state = (uint32_t)hp[2];
    w->n_audio_head = (uint32_t)hp[3];
    w->n_audio_layer = (uint32_t)hp[4];
    w->n_text_ctx = (uint32_t)hp[5];
    w->n_text_state = (uint32_t)hp[6];
    w->n_text_head = (uint32_t)hp[7];
    w->n_text_layer = (uint32_t)hp[8];
    w->n_mels = (uint32_t)hp[9];
    w->ftype = (uint32_t)(hp[10] % 1000);
    int32_t n_mel, n_fft, n_vocab;
    if (vf_reader_i32(r, &n_mel) || vf_reader_i32(r, &n_fft) || n_mel <= 0 || n_fft <= 0 ||
        n_mel > 1024 || n_fft > 4096 || vf_reader_skip(r, (uint64_t)n_mel * (uint64_t)n_fft * 4)) {
        vf_errf(err, errlen, "bad or truncated mel filter bank");
        return VF_ERR_FORMAT;
    }
    if (vf_reader_i32(r, &n_vocab) || n_vocab < 0 || n_vocab > (1 << 20)) {
        vf_errf(err, errlen, "bad vocabulary size");
        return VF_ERR_FORMAT;
    }
    for (int32_t i = 0; i < n_vocab; i++) {
        uint32_t len;
        if (vf_reader_u32(r, &len) || len > 4096 || vf_reader_skip(r, len)) {
            vf_errf(err, errlen, "truncated vocabulary at token %d", i);
            return VF_ERR_FORMAT;
        }
    }
    while (vf_reader_left(r) > 0) {
        int32_t nd, nl, tt;
        if (vf_reader_i32(r, &nd) || vf_reader_i32(r, &nl) || vf_reader_i32(r, &tt) || nd < 1 ||
            nd > 4 || nl <= 0 || nl >= VF_TENSOR_NAME_MAX || tt < 0 || tt >= VF_DT_GGML_END) {
            vf_errf(err, errlen, "bad tensor header at byte %llu", (unsigned long long)r->pos);
            return VF_ERR_FORMAT;
        }
        int64_t ne[4] = {1, 1, 1, 1};
        for (int32_t k = 0; k < nd; k++) {
            int32_t v;
            if (vf_reader_i32(r, &v) || v <= 0) {
                vf_errf(err, errlen, "bad tensor shape at byte %llu", (unsigned long long)r->pos);
                return VF_ERR_FORMAT;
            }
            ne[k] = v;
        }
        char name[VF_TENSOR_NAME_MAX];
        if (vf_reader_read(r, name, (size_t)nl)) {
            vf_errf(err, errlen, "truncated tensor name");
            return VF_ERR_FORMAT;
        }
        name[nl] = '\0';
        int rc = vf_tensor_list_add(&m->tensors, name, (enum vf_dtype)tt, nd, ne, r->pos);
        if (rc) {
            vf_errf(err, errlen, "tensor '%s' has an invalid type or shape", name);
            return rc;
        }
        if (vf_reader_skip(r, m->tensors.v[m->tensors.n - 1].nbytes)) {
            vf_errf(err, errlen, "tensor '%s' data is truncated: the file is incomplete", name);
            return VF_ERR_FORMAT;
        }
    }
    if (!vf_tensor_list_find(&m->tensors, "encoder.conv1.weight")) {
        vf_errf(err, errlen, "no encoder.conv1.weight: not a whisper model");
        return VF_ERR_FORMAT;
    }
    return VF_OK;
}

static void finish(struct vf_model *m) {
    static const char *ft[] = {"f32", "f16", "q4_0", "q4_1", "?", "?", "?", "q8_0", "q5_0", "q5_1"};
    m->role = VF_ROLE_STT;
    m->format = VF_FMT_WHISPER_GGML;
    vf_strlcpy(m->quant, m->whisper.ftype < VF_ARRAY_LEN(ft) ? ft[m->whisper.ftype] : "?", sizeof m->quant);
    for (size_t i = 0; i < m->tensors.n; i++)
        m->n_params += (uint64_t)vf_tensor_nelements(&m->tensors.v[i]);
}

int vf_model_from_whisper_bin(const char *path, struct vf_model *m, char *err, size_t errlen) {
    struct vf_reader r;
    vf_model_init(m);
    if (vf_reader_open(&r, path)) {
        vf_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return VF_ERR_IO;
    }
    vf_strlcpy(m->id, path, sizeof m->id);
    const char *slash = strrchr(path, '/');
    vf_strlcpy(m->name, slash ? slash + 1 : path, sizeof m->name);
    m->file_bytes = r.size;
    char e2[256] = "";
    int rc = parse(&r, m, e2, sizeof e2);
    vf_reader_close(&r);
    if (rc) {
        vf_errf(err, errlen, "%s: %s", path, e2);
        vf_model_free(m);
        return rc;
    }
    finish(m);
    return VF_OK;
}

int vf__fuzz_whisper_header(const uint8_t *data, size_t size) {
    struct vf_reader r;
    struct vf_model m;
    vf_model_init(&m);
    vf_reader_mem(&r, data, size);
    char err[256];
    parse(&r, &m, err, sizeof err);
    vf_model_free(&m);
    return 0;
}
