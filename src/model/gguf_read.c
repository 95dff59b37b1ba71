/* gguf_read.c - GGUF reader; see gguf_read.h. Layout (all little-endian):
 *   magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x { string key, u32 type, value },
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset },
 *   padding to general.alignment (default 32), tensor data.
 * A string is u64 length + bytes (no terminator); an array is u32 element
 * type + u64 count + elements. */
#include "gguf_read.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <errno.h>
#include <string.h>

static const uint32_t scalar_size[VF_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static int read_string(struct vf_reader *r, char **out, uint64_t keep_max) {
    uint64_t len;
    int rc = vf_reader_u64(r, &len);
    if (rc)
        return rc;
    if (len > VF_GGUF_MAX_STRING || len > vf_reader_left(r))
        return VF_ERR_FORMAT;
    if (len > keep_max) {
        *out = NULL;
        return vf_reader_skip(r, len);
    }
    char *s = vf_malloc(len + 1);
    if (!s)
        return VF_ERR_NOMEM;
    rc = vf_reader_read(r, s, len);
    if (rc) {
        vf_free(s);
        return rc;
    }
    s[len] = '\0';
    *out = s;
    return VF_OK;
}

/* A float as an integer where it has one (truncated); 0 for NaN and values
 * outside int64's range, whose conversion C leaves undefined. */
static int64_t float_to_i64(double x) {
    return x > -9.2e18 && x < 9.2e18 ? (int64_t)x : 0;
}

/* Read one scalar of type t into kv's u/i/f fields. */
static int read_scalar(struct vf_reader *r, enum vf_gguf_type t, uint64_t *u, int64_t *i, double *f) {
    uint8_t b[8] = {0};
    int rc = vf_reader_read(r, b, scalar_size[t]);
    if (rc)
        return rc;
    uint64_t raw = 0;
    memcpy(&raw, b, 8);
    switch (t) {
    case VF_GGUF_U8: case VF_GGUF_U16: case VF_GGUF_U32: case VF_GGUF_U64:
        *u = raw; *i = (int64_t)raw; *f = (double)raw; break;
    case VF_GGUF_BOOL:
        if (raw > 1)
            return VF_ERR_FORMAT;
        *u = raw; *i = (int64_t)raw; *f = (double)raw; break;
    case VF_GGUF_I8: *i = (int8_t)raw; break;
    case VF_GGUF_I16: *i = (int16_t)raw; break;
    case VF_GGUF_I32: *i = (int32_t)raw; break;
    case VF_GGUF_I64: *i = (int64_t)raw; break;
    case VF_GGUF_F32: { float x; memcpy(&x, b, 4); *f = x; *i = float_to_i64(x); break; }
    case VF_GGUF_F64: { double x; memcpy(&x, b, 8); *f = x; *i = float_to_i64(x); break; }
    default: return VF_ERR_FORMAT;
    }
    if (t == VF_GGUF_I8 || t == VF_GGUF_I16 || t == VF_GGUF_I32 || t == VF_GGUF_I64) {
        *u = (uint64_t)*i;
        *f = (double)*i;
    }
    return VF_OK;
}

static int read_kv(struct vf_reader *r, struct vf_gguf_kv *kv, char *err, size_t errlen) {
    int rc = read_string(r, &kv->key, 65536);
    if (rc || !kv->key) {
        vf_errf(err, errlen, "bad metadata key at byte %llu", (unsigned long long)r->pos);
        return rc ? rc : VF_ERR_FORMAT;
    }
    uint32_t t;
    if ((rc = vf_reader_u32(r, &t)))
        return rc;
    if (t >= VF_GGUF_TYPE_COUNT) {
        vf_errf(err, errlen, "metadata '%s' has unknown type %u", kv->key, t);
        return VF_ERR_FORMAT;
    }
    kv->type = t;
    if (t == VF_GGUF_STRING)
        return read_string(r, &kv->str, VF_GGUF_KEEP_STRING);
    if (t != VF_GGUF_ARRAY)
        return read_scalar(r, t, &kv->u, &kv->i, &kv->f);

    uint32_t at;
    if ((rc = vf_reader_u32(r, &at)) || (rc = vf_reader_u64(r, &kv->arr_n)))
        return rc;
    if (at >= VF_GGUF_TYPE_COUNT || at == VF_GGUF_ARRAY) {
        vf_errf(err, errlen, "metadata array '%s' has element type %u", kv->key, at);
        return VF_ERR_FORMAT;
    }
    if (kv->arr_n > VF_GGUF_MAX_ARRAY) {
        vf_errf(err, errlen, "metadata array '%s' has %llu elements (limit %u)", kv->key,
                (unsigned long long)kv->arr_n, VF_GGUF_MAX_ARRAY);
        return VF_ERR_FORMAT;
    }
    kv->arr_type = at;
    if (at == VF_GGUF_STRING) {
        for (uint64_t k = 0; k < kv->arr_n; k++) {
            uint64_t len;
            if ((rc = vf_reader_u64(r, &len)))
                return rc;
            if (len > VF_GGUF_MAX_STRING)
                return VF_ERR_FORMAT;
            if ((rc = vf_reader_skip(r, len)))
                return rc;
        }
        return VF_OK;
    }
    uint64_t bytes = kv->arr_n * scalar_size[at];
    if (bytes > vf_reader_left(r))
        return VF_ERR_FORMAT;
    if (kv->arr_n > VF_GGUF_KEEP_ARRAY)
        return vf_reader_skip(r, bytes);
    kv->arr = vf_malloc((kv->arr_n ? kv->arr_n : 1) * sizeof(double));
    if (!kv->arr)
        return VF_ERR_NOMEM;
    for (uint64_t k = 0; k < kv->arr_n; k++) {
        uint64_t u;
        int64_t i;
        double f;
        if ((rc = read_scalar(r, at, &u, &i, &f)))
            return rc;
        kv->arr[k] = f;
    }
    return VF_OK;
}

static int parse(struct vf_reader *r, struct vf_gguf **out, char *err, size_t errlen) {
    *out = NULL;
    struct vf_gguf *g = vf_calloc(1, sizeof *g);
    if (!g)
        return VF_ERR_NOMEM;
    g->file_size = r->size;
    int rc;
    char magic[4];
    uint64_t n_tensors = 0, n_kv = 0;
    if ((rc = vf_reader_read(r, magic, 4)) || memcmp(magic, "GGUF", 4) != 0) {
        vf_errf(err, errlen, "not a GGUF file (no GGUF magic)");
        rc = VF_ERR_FORMAT;
        goto out;
    }
    if ((rc = vf_reader_u32(r, &g->version)))
        goto truncated;
    if (g->version == 1) {
        vf_errf(err, errlen, "GGUF version 1 is obsolete; convert the model again");
        rc = VF_ERR_UNSUPPORTED;
        goto out;
    }
    if (g->version != 2 && g->version != 3) {
        vf_errf(err, errlen, "unknown GGUF version %u", g->version);
        rc = VF_ERR_UNSUPPORTED;
        goto out;
    }
    if ((rc = vf_reader_u64(r, &n_tensors)) || (rc = vf_reader_u64(r, &n_kv)))
        goto truncated;
    if (n_kv > VF_GGUF_MAX_KV || n_tensors > VF_TENSOR_LIST_MAX) {
        vf_errf(err, errlen, "implausible counts: %llu metadata entries, %llu tensors",
                (unsigned long long)n_kv, (unsigned long long)n_tensors);
        rc = VF_ERR_FORMAT;
        goto out;
    }
    /* Each key-value pair takes at least 12 bytes and each tensor info 24:
     * reject counts the file cannot hold before allocating for them. */
    if (n_kv * 12 > vf_reader_left(r) || n_tensors * 24 > vf_reader_left(r))
        goto truncated;
    g->kv = vf_calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    if (!g->kv) {
        rc = VF_ERR_NOMEM;
        goto out;
    }
    for (uint64_t k = 0; k < n_kv; k++) {
        g->n_kv = k + 1;
        rc = read_kv(r, &g->kv[k], err, errlen);
        if (rc == VF_ERR_FORMAT && err && !*err)
            goto truncated;
        if (rc)
            goto out;
    }
    g->alignment = 32;
    const struct vf_gguf_kv *al = vf_gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != VF_GGUF_U32 || al->u == 0 || (al->u & (al->u - 1)) || al->u > 65536) {
            vf_errf(err, errlen, "general.alignment must be a power of two up to 65536");
            rc = VF_ERR_FORMAT;
            goto out;
        }
        g->alignment = (uint32_t)al->u;
    }
    for (uint64_t t = 0; t < n_tensors; t++) {
        char *name = NULL;
        uint32_t n_dims, type;
        int64_t ne[VF_TENSOR_MAX_DIMS] = {1, 1, 1, 1};
        uint64_t offset;
        if ((rc = read_string(r, &name, VF_TENSOR_NAME_MAX - 1)))
            goto truncated;
        if (!name) {
            vf_errf(err, errlen, "tensor %llu has a name longer than %d bytes",
                    (unsigned long long)t, VF_TENSOR_NAME_MAX - 1);
            rc = VF_ERR_FORMAT;
            goto out;
        }
        rc = vf_reader_u32(r, &n_dims);
        if (!rc && (n_dims == 0 || n_dims > VF_TENSOR_MAX_DIMS)) {
            vf_errf(err, errlen, "tensor '%s' has %u dimensions", name, n_dims);
            vf_free(name);
            rc = VF_ERR_FORMAT;
            goto out;
        }
        for (uint32_t d = 0; !rc && d < n_dims; d++) {
            uint64_t v;
            rc = vf_reader_u64(r, &v);
            ne[d] = (int64_t)v;
            if (!rc && (v == 0 || v > ((uint64_t)1 << 40)))
                rc = VF_ERR_FORMAT;
        }
        if (!rc)
            rc = vf_reader_u32(r, &type);
        if (!rc)
            rc = vf_reader_u64(r, &offset);
        if (rc) {
            vf_errf(err, errlen, "tensor info %llu ('%s') is truncated or invalid",
                    (unsigned long long)t, name);
            vf_free(name);
            goto out;
        }
        uint32_t blck, bsz;
        if (type >= VF_DT_GGML_END || !vf_dtype_block((enum vf_dtype)type, &blck, &bsz)) {
            vf_errf(err, errlen, "tensor '%s' has unknown type %u", name, type);
            vf_free(name);
            rc = VF_ERR_FORMAT;
            goto out;
        }
        if (offset % g->alignment) {
            vf_errf(err, errlen, "tensor '%s' offset %llu is not aligned to %u", name,
                    (unsigned long long)offset, g->alignment);
            vf_free(name);
            rc = VF_ERR_FORMAT;
            goto out;
        }
        if (vf_tensor_list_find(&g->tensors, name)) {
            vf_errf(err, errlen, "duplicate tensor name '%s'", name);
            vf_free(name);
            rc = VF_ERR_FORMAT;
            goto out;
        }
        rc = vf_tensor_list_add(&g->tensors, name, (enum vf_dtype)type, (int)n_dims, ne, offset);
        if (rc == VF_ERR_FORMAT)
            vf_errf(err, errlen, "tensor '%s': shape %lld is not a whole number of %s blocks "
                    "or is too large", name, (long long)ne[0], vf_dtype_name((enum vf_dtype)type));
        vf_free(name);
        if (rc)
            goto out;
    }
    g->data_offset = VF_PAD(r->pos, (uint64_t)g->alignment);
    for (size_t t = 0; t < g->tensors.n; t++) {
        struct vf_tensor *ti = &g->tensors.v[t];
        uint64_t end;
        if (!vf_add_u64(g->data_offset, ti->offset, &ti->offset) ||
            !vf_add_u64(ti->offset, ti->nbytes, &end) || end > g->file_size) {
            vf_errf(err, errlen, "tensor '%s' data lies beyond the end of the file "
                    "(%llu bytes): the file is truncated", ti->name,
                    (unsigned long long)g->file_size);
            rc = VF_ERR_FORMAT;
            goto out;
        }
    }
    *out = g;
    return VF_OK;

truncated:
    if (rc == VF_OK || rc == VF_ERR_FORMAT) {
        vf_errf(err, errlen, "truncated or corrupt GGUF header at byte %llu of %llu",
                (unsigned long long)r->pos, (unsigned long long)r->size);
        rc = VF_ERR_FORMAT;
    }
out:
    vf_gguf_free(g);
    return rc;
}

int vf_gguf_read_file(const char *path, struct vf_gguf **out, char *err, size_t errlen) {
    struct vf_reader r;
    if (err && errlen)
        err[0] = '\0';
    int rc = vf_reader_open(&r, path);
    if (rc) {
        vf_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        *out = NULL;
        return rc;
    }
    rc = parse(&r, out, err, errlen);
    vf_reader_close(&r);
    return rc;
}

int vf_gguf_read_mem(const void *data, size_t size, struct vf_gguf **out, char *err,
                     size_t errlen) {
    struct vf_reader r;
    if (err && errlen)
        err[0] = '\0';
    vf_reader_mem(&r, data, size);
    return parse(&r, out, err, errlen);
}

void vf_gguf_free(struct vf_gguf *g) {
    if (!g)
        return;
    for (size_t i = 0; i < g->n_kv; i++) {
        vf_free(g->kv[i].key);
        vf_free(g->kv[i].str);
        vf_free(g->kv[i].arr);
    }
    vf_free(g->kv);
    vf_tensor_list_free(&g->tensors);
    vf_free(g);
}

const struct vf_gguf_kv *vf_gguf_find(const struct vf_gguf *g, const char *key) {
    for (size_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key && strcmp(g->kv[i].key, key) == 0)
            return &g->kv[i];
    return NULL;
}

bool vf_gguf_get_int(const struct vf_gguf *g, const char *key, int64_t *v) {
    const struct vf_gguf_kv *kv = vf_gguf_find(g, key);
    if (!kv || kv->type == VF_GGUF_STRING || kv->type == VF_GGUF_ARRAY ||
        kv->type == VF_GGUF_F32 || kv->type == VF_GGUF_F64)
        return false;
    *v = kv->i;
    return true;
}

bool vf_gguf_get_float(const struct vf_gguf *g, const char *key, double *v) {
    const struct vf_gguf_kv *kv = vf_gguf_find(g, key);
    if (!kv || kv->type == VF_GGUF_STRING || kv->type == VF_GGUF_ARRAY)
        return false;
    *v = kv->f;
    return true;
}

const char *vf_gguf_get_str(const struct vf_gguf *g, const char *key) {
    const struct vf_gguf_kv *kv = vf_gguf_find(g, key);
    return kv && kv->type == VF_GGUF_STRING ? kv->str : NULL;
}

uint64_t vf_gguf_arr_len(const struct vf_gguf *g, const char *key) {
    const struct vf_gguf_kv *kv = vf_gguf_find(g, key);
    return kv && kv->type == VF_GGUF_ARRAY ? kv->arr_n : 0;
}

int vf__fuzz_gguf(const uint8_t *data, size_t size) {
    struct vf_gguf *g = NULL;
    char err[256];
    if (vf_gguf_read_mem(data, size, &g, err, sizeof err) == VF_OK)
        vf_gguf_free(g);
    return 0;
}
