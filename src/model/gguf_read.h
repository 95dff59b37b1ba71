/* gguf_read.h - a reader of GGUF model files (versions 2 and 3), written from
 * the GGUF specification. It reads the header, the metadata and the tensor
 * infos, never the tensor data, so a 20 GB model is read in milliseconds.
 * Every count, length and offset is bounded and checked against the file
 * size; a truncated or hostile file gives VF_ERR_FORMAT and a message. */
#ifndef VF_GGUF_H
#define VF_GGUF_H

#include "tensor.h"

/* GGUF value types, as numbered by the specification. */
enum vf_gguf_type {
    VF_GGUF_U8 = 0, VF_GGUF_I8, VF_GGUF_U16, VF_GGUF_I16, VF_GGUF_U32, VF_GGUF_I32,
    VF_GGUF_F32, VF_GGUF_BOOL, VF_GGUF_STRING, VF_GGUF_ARRAY, VF_GGUF_U64, VF_GGUF_I64,
    VF_GGUF_F64, VF_GGUF_TYPE_COUNT
};

/* Limits a file must respect (far above any real model). */
#define VF_GGUF_MAX_KV 100000
#define VF_GGUF_MAX_STRING (64u << 20)    /* 64 MiB: the longest metadata string */
#define VF_GGUF_MAX_ARRAY (64u << 20)     /* elements in one array */
#define VF_GGUF_KEEP_STRING (1u << 20)    /* longer string values are skipped */
#define VF_GGUF_KEEP_ARRAY 65536          /* longer numeric arrays keep only their length */

struct vf_gguf_kv {
    char *key;
    enum vf_gguf_type type;
    /* scalars: one of these, by type */
    uint64_t u;
    int64_t i;
    double f;
    /* STRING: the value (NULL when longer than VF_GGUF_KEEP_STRING) */
    char *str;
    /* ARRAY: element type, length, and numeric values as doubles when the
     * elements are numbers and arr_n <= VF_GGUF_KEEP_ARRAY (else NULL) */
    enum vf_gguf_type arr_type;
    uint64_t arr_n;
    double *arr;
};

struct vf_gguf {
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;  /* file offset of the tensor data section */
    uint64_t file_size;
    struct vf_gguf_kv *kv;
    size_t n_kv;
    struct vf_tensor_list tensors; /* offsets are absolute file offsets */
};

/* Read a GGUF file / buffer. On success *out owns everything and must be
 * released with vf_gguf_free(). On error *out is NULL and err (if given)
 * holds one line saying what and where. Returns VF_OK, VF_ERR_IO,
 * VF_ERR_FORMAT, VF_ERR_UNSUPPORTED (version 1), VF_ERR_NOMEM. */
int vf_gguf_read_file(const char *path, struct vf_gguf **out, char *err, size_t errlen);
int vf_gguf_read_mem(const void *data, size_t size, struct vf_gguf **out, char *err,
                     size_t errlen);
void vf_gguf_free(struct vf_gguf *g);

const struct vf_gguf_kv *vf_gguf_find(const struct vf_gguf *g, const char *key);
/* Integer value of key (any integer or bool type); false when absent or not
 * an integer. */
bool vf_gguf_get_int(const struct vf_gguf *g, const char *key, int64_t *v);
bool vf_gguf_get_float(const struct vf_gguf *g, const char *key, double *v);
/* String value, or NULL. */
const char *vf_gguf_get_str(const struct vf_gguf *g, const char *key);
/* Length of an array value, 0 when absent or not an array. */
uint64_t vf_gguf_arr_len(const struct vf_gguf *g, const char *key);

/* Fuzz entry point: parse data as a GGUF file; always returns 0. */
int vf__fuzz_gguf(const uint8_t *data, size_t size);

#endif
