/* vf_test.h - helpers shared by the unit tests: cmocka includes, a
 * per-test scratch folder and a byte-buffer builder for hand-made files. */
#ifndef VF_TEST_H
#define VF_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

/* A scratch folder under the build tree: $VF_TMP/<name>, created fresh. */
static inline const char *vf_test_dir(const char *name) {
    static char dir[512];
    const char *base = getenv("VF_TMP");
    snprintf(dir, sizeof dir, "%s/%s", base ? base : "/tmp/voxfit-test", name);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0)
        fail_msg("cannot create %s", dir);
    return dir;
}

/* Growable byte buffer for building files in tests. */
struct tbuf {
    uint8_t *p;
    size_t n, cap;
};

static inline void tb_put(struct tbuf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static inline void tb_u32(struct tbuf *b, uint32_t v) { tb_put(b, &v, 4); }
static inline void tb_u64(struct tbuf *b, uint64_t v) { tb_put(b, &v, 8); }
static inline void tb_f32(struct tbuf *b, float v) { tb_put(b, &v, 4); }
static inline void tb_i32(struct tbuf *b, int32_t v) { tb_put(b, &v, 4); }
static inline void tb_str64(struct tbuf *b, const char *s) {
    tb_u64(b, strlen(s));
    tb_put(b, s, strlen(s));
}
static inline void tb_zero(struct tbuf *b, size_t n) {
    static const uint8_t z[256];
    while (n) {
        size_t k = n < sizeof z ? n : sizeof z;
        tb_put(b, z, k);
        n -= k;
    }
}
static inline void tb_free(struct tbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}
static inline void tb_write(const struct tbuf *b, const char *path) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b->p, 1, b->n, f), b->n);
    fclose(f);
}

/* Run a shell command and capture stdout (at most cap-1 bytes); returns
 * the exit status. */
static inline int vf_test_run(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = 0;
    if (out && cap) {
        n = fread(out, 1, cap - 1, p);
        out[n] = '\0';
    } else {
        char tmp[4096];
        while (fread(tmp, 1, sizeof tmp, p) > 0) {
        }
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
