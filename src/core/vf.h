/* vf.h - definitions shared by every voxfit module: the status codes, the
 * checked allocator and the few macros the house style relies on.
 * See docs/ARCHITECTURE.md for how the modules fit together. */
#ifndef VF_H
#define VF_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Every fallible function returns one of these. 0 is success, negative
 * values are errors; vf_status_str() gives the text. */
enum vf_status {
    VF_OK = 0,
    VF_ERR_NOMEM = -1,      /* an allocation failed */
    VF_ERR_IO = -2,         /* a read, write or open failed (errno kept) */
    VF_ERR_FORMAT = -3,     /* input is malformed, truncated or hostile */
    VF_ERR_UNSUPPORTED = -4,/* well-formed, but not something we handle */
    VF_ERR_NOTFOUND = -5,   /* a name, key or file does not exist */
    VF_ERR_ARG = -6,        /* a caller or user argument is invalid */
    VF_ERR_TOOBIG = -7,     /* a size bound was exceeded */
    VF_ERR_BACKEND = -8,    /* an engine library (llama.cpp, ggml) failed */
    VF_ERR_FIT = -9,        /* the requested configuration does not fit */
};

const char *vf_status_str(int status);

#define VF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define VF_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VF_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VF_PAD(x, n) ((((x) + (n) - 1) / (n)) * (n))

#define VF_KIB ((uint64_t)1024)
#define VF_MIB ((uint64_t)1024 * 1024)
#define VF_GIB ((uint64_t)1024 * 1024 * 1024)

/* Allocation goes through these so tests can inject failures
 * (vf_alloc_fail_after). They never abort; callers handle NULL. */
void *vf_malloc(size_t n);
void *vf_calloc(size_t count, size_t size);
void *vf_realloc(void *p, size_t n);
char *vf_strdup(const char *s);
char *vf_strndup(const char *s, size_t n);
void vf_free(void *p);
/* Make the allocation after the next n succeed fail (n < 0: never fail). */
void vf_alloc_fail_after(long n);

/* Multiply/add with overflow detection: return false when the result does
 * not fit; *out is then left unspecified. */
static inline bool vf_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool vf_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

#endif
