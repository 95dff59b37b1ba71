/* reader.c - see reader.h. Only little-endian hosts are supported, which
 * is what every format we read (GGUF, safetensors, whisper.cpp) uses. */
#include "reader.h"
#include "str.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

int vf_reader_open(struct vf_reader *r, const char *path) {
    memset(r, 0, sizeof *r);
    vf_strlcpy(r->path, path, sizeof r->path);
    struct stat st;
    if (stat(path, &st) != 0)
        return VF_ERR_IO;
    if (!S_ISREG(st.st_mode)) {
        errno = EISDIR;
        return VF_ERR_IO;
    }
    r->f = fopen(path, "rb");
    if (!r->f)
        return VF_ERR_IO;
    r->size = (uint64_t)st.st_size;
    return VF_OK;
}

void vf_reader_mem(struct vf_reader *r, const void *data, size_t size) {
    memset(r, 0, sizeof *r);
    r->mem = data;
    r->size = size;
}

void vf_reader_close(struct vf_reader *r) {
    if (r->f)
        fclose(r->f);
    r->f = NULL;
}

int vf_reader_read(struct vf_reader *r, void *dst, size_t n) {
    if (n > vf_reader_left(r))
        return VF_ERR_FORMAT;
    if (r->mem) {
        memcpy(dst, r->mem + r->pos, n);
    } else if (n && fread(dst, 1, n, r->f) != n) {
        return ferror(r->f) ? VF_ERR_IO : VF_ERR_FORMAT;
    }
    r->pos += n;
    return VF_OK;
}

int vf_reader_seek(struct vf_reader *r, uint64_t pos) {
    if (pos > r->size)
        return VF_ERR_FORMAT;
    if (r->f && fseeko(r->f, (off_t)pos, SEEK_SET) != 0)
        return VF_ERR_IO;
    r->pos = pos;
    return VF_OK;
}

int vf_reader_skip(struct vf_reader *r, uint64_t n) {
    if (n > vf_reader_left(r))
        return VF_ERR_FORMAT;
    return vf_reader_seek(r, r->pos + n);
}

int vf_reader_u8(struct vf_reader *r, uint8_t *v) { return vf_reader_read(r, v, 1); }
int vf_reader_u16(struct vf_reader *r, uint16_t *v) { return vf_reader_read(r, v, 2); }
int vf_reader_u32(struct vf_reader *r, uint32_t *v) { return vf_reader_read(r, v, 4); }
int vf_reader_i32(struct vf_reader *r, int32_t *v) { return vf_reader_read(r, v, 4); }
int vf_reader_u64(struct vf_reader *r, uint64_t *v) { return vf_reader_read(r, v, 8); }

void vf_errf(char *err, size_t n, const char *fmt, ...) {
    if (!err || !n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}
