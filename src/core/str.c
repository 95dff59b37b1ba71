/* str.c - checked parsing of numbers and sizes, byte formatting. */
#include "str.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vf_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) {
    if (!s || !*s || isspace((unsigned char)*s))
        return VF_ERR_ARG;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end || v < min || v > max)
        return VF_ERR_ARG;
    *out = v;
    return VF_OK;
}

int vf_parse_int(const char *s, int min, int max, int *out) {
    int64_t v;
    int rc = vf_parse_i64(s, min, max, &v);
    if (rc == VF_OK)
        *out = (int)v;
    return rc;
}

int vf_parse_double(const char *s, double min, double max, double *out) {
    if (!s || !*s || isspace((unsigned char)*s))
        return VF_ERR_ARG;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno || !end || *end || !isfinite(v) || v < min || v > max)
        return VF_ERR_ARG;
    *out = v;
    return VF_OK;
}

int vf_parse_size(const char *s, uint64_t *out) {
    if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
        return VF_ERR_ARG;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return VF_ERR_ARG;
    while (*end == ' ')
        end++;
    static const struct {
        const char *unit;
        double mul;
    } units[] = {
        {"", 1.0}, {"b", 1.0},
        {"k", 1024.0}, {"kib", 1024.0}, {"m", 1048576.0}, {"mib", 1048576.0},
        {"g", 1073741824.0}, {"gib", 1073741824.0},
        {"t", 1099511627776.0}, {"tib", 1099511627776.0},
        {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
    };
    char unit[8];
    size_t i = 0;
    for (; end[i] && i < sizeof(unit) - 1; i++)
        unit[i] = (char)tolower((unsigned char)end[i]);
    if (end[i])
        return VF_ERR_ARG;
    unit[i] = '\0';
    for (size_t u = 0; u < VF_ARRAY_LEN(units); u++) {
        if (strcmp(unit, units[u].unit) == 0) {
            double bytes = v * units[u].mul;
            if (bytes >= 18446744073709549568.0)
                return VF_ERR_ARG;
            *out = (uint64_t)(bytes + 0.5);
            return VF_OK;
        }
    }
    return VF_ERR_ARG;
}

int vf_parse_bool(const char *s, bool *out) {
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    if (!s)
        return VF_ERR_ARG;
    for (size_t i = 0; i < VF_ARRAY_LEN(yes); i++) {
        if (vf_strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return VF_OK;
        }
        if (vf_strcasecmp(s, no[i]) == 0) {
            *out = false;
            return VF_OK;
        }
    }
    return VF_ERR_ARG;
}

const char *vf_fmt_bytes(uint64_t bytes, char *buf, size_t n) {
    if (bytes >= VF_GIB)
        snprintf(buf, n, "%.2f GiB", (double)bytes / (double)VF_GIB);
    else if (bytes >= VF_MIB)
        snprintf(buf, n, "%.2f MiB", (double)bytes / (double)VF_MIB);
    else if (bytes >= VF_KIB)
        snprintf(buf, n, "%.2f KiB", (double)bytes / (double)VF_KIB);
    else
        snprintf(buf, n, "%llu B", (unsigned long long)bytes);
    return buf;
}

const char *vf_fmt_mib(uint64_t bytes, char *buf, size_t n) {
    snprintf(buf, n, "%.2f MiB", (double)bytes / (double)VF_MIB);
    return buf;
}

int vf_strcasecmp(const char *a, const char *b) {
    for (;; a++, b++) {
        int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
        if (ca != cb || !ca)
            return ca - cb;
    }
}

bool vf_str_starts(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool vf_str_ends(const char *s, const char *suffix) {
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

bool vf_strlcpy(char *dst, const char *src, size_t n) {
    if (n == 0)
        return false;
    size_t len = strnlen(src, n);
    if (len >= n) {
        memcpy(dst, src, n - 1);
        dst[n - 1] = '\0';
        return false;
    }
    memcpy(dst, src, len + 1);
    return true;
}

void vf_str_squash(const char *s, char *out, size_t n) {
    size_t j = 0;
    for (; *s && j + 1 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c))
            out[j++] = (char)tolower(c);
    }
    if (n)
        out[j] = '\0';
}
