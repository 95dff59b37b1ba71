/* vf.c - status strings and the allocator wrappers declared in vf.h. The
 * allocator can be told to fail after N allocations, which the unit tests
 * use to walk every error path (the SQLite/curl "torture" idea). */
#include "vf.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_after = -1;

const char *vf_status_str(int status) {
    switch (status) {
    case VF_OK: return "ok";
    case VF_ERR_NOMEM: return "out of memory";
    case VF_ERR_IO: return "input/output error";
    case VF_ERR_FORMAT: return "malformed input";
    case VF_ERR_UNSUPPORTED: return "unsupported";
    case VF_ERR_NOTFOUND: return "not found";
    case VF_ERR_ARG: return "invalid argument";
    case VF_ERR_TOOBIG: return "too large";
    case VF_ERR_BACKEND: return "engine library error";
    case VF_ERR_FIT: return "does not fit";
    default: return "unknown error";
    }
}

void vf_alloc_fail_after(long n) { atomic_store(&fail_after, n); }

static bool should_fail(void) {
    long n = atomic_load(&fail_after);
    while (n >= 0) {
        if (atomic_compare_exchange_weak(&fail_after, &n, n - 1))
            return n == 0;
    }
    return false;
}

void *vf_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }

void *vf_calloc(size_t count, size_t size) {
    return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *vf_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }

char *vf_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = vf_malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *vf_strdup(const char *s) { return vf_strndup(s, strlen(s)); }

void vf_free(void *p) { free(p); }
