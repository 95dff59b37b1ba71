/* str.h - checked number and size parsing, byte formatting and small string
 * helpers. Every number that comes from outside goes through these, never
 * atoi/strtol directly (house style rule 41). */
#ifndef VF_STR_H
#define VF_STR_H

#include "vf.h"

/* Parse a whole string as a base-10 integer in [min, max].
 * Returns VF_OK, or VF_ERR_ARG when it is empty, has trailing text or is out
 * of range; *out is untouched on error. */
int vf_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
int vf_parse_int(const char *s, int min, int max, int *out);
/* Parse a finite floating-point number in [min, max]. */
int vf_parse_double(const char *s, double min, double max, double *out);
/* Parse a byte size: a number with an optional unit. Binary units (KiB, MiB,
 * GiB, TiB, and the short K, M, G, T) are powers of 1024; decimal units (kB,
 * KB, MB, GB, TB) are powers of 1000; no unit means bytes. Case-insensitive
 * apart from that distinction; spaces between number and unit allowed. */
int vf_parse_size(const char *s, uint64_t *out);
/* Parse a boolean word: 1/0, true/false, yes/no, on/off. */
int vf_parse_bool(const char *s, bool *out);

/* Format bytes as "4.50 GiB" / "512.00 MiB" / "1023 B" into buf. */
const char *vf_fmt_bytes(uint64_t bytes, char *buf, size_t n);
/* Same, always in MiB with two decimals: "1234.56 MiB". */
const char *vf_fmt_mib(uint64_t bytes, char *buf, size_t n);

/* Case-insensitive comparison of ASCII strings. */
int vf_strcasecmp(const char *a, const char *b);
bool vf_str_starts(const char *s, const char *prefix);
bool vf_str_ends(const char *s, const char *suffix);
/* Copy src into dst of size n, always NUL-terminated; returns false when
 * src was cut short. */
bool vf_strlcpy(char *dst, const char *src, size_t n);
/* Keep only lower-case letters and digits of s: "RTX 5070 Ti" -> "rtx5070ti". */
void vf_str_squash(const char *s, char *out, size_t n);

#endif
