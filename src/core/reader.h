/* reader.h - bounded little-endian reading from a file or a memory buffer.
 * Model readers parse through this so the same parser runs on files (the
 * CLI) and on byte buffers (the fuzz targets), and every read is checked
 * against the known total size: a truncated file is an error, never a
 * read past the end. */
#ifndef VF_READER_H
#define VF_READER_H

#include "vf.h"

#include <stdio.h>

struct vf_reader {
    FILE *f;               /* file source, or NULL */
    const uint8_t *mem;    /* memory source, or NULL */
    uint64_t size;         /* total bytes available */
    uint64_t pos;          /* bytes consumed so far */
    char path[512];        /* for messages; "" for memory */
};

/* Open path for reading; VF_ERR_IO (errno kept) when it cannot be opened
 * or is not a regular file. */
int vf_reader_open(struct vf_reader *r, const char *path);
void vf_reader_mem(struct vf_reader *r, const void *data, size_t size);
void vf_reader_close(struct vf_reader *r);

/* Read exactly n bytes; VF_ERR_FORMAT when fewer remain, VF_ERR_IO on a
 * read error. */
int vf_reader_read(struct vf_reader *r, void *dst, size_t n);
int vf_reader_skip(struct vf_reader *r, uint64_t n);
int vf_reader_seek(struct vf_reader *r, uint64_t pos);
int vf_reader_u8(struct vf_reader *r, uint8_t *v);
int vf_reader_u16(struct vf_reader *r, uint16_t *v);
int vf_reader_u32(struct vf_reader *r, uint32_t *v);
int vf_reader_i32(struct vf_reader *r, int32_t *v);
int vf_reader_u64(struct vf_reader *r, uint64_t *v);
static inline uint64_t vf_reader_left(const struct vf_reader *r) { return r->size - r->pos; }

/* printf into err (size n) if err is not NULL. */
void vf_errf(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
