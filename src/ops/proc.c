/* proc.c - see proc.h. Every file is read with a bound (a command line at
 * most 64 KiB, a status file at most 8 KiB) and every number through the
 * checked parser, since a process can put anything in its argv. */
#include "proc.h"
#include "../core/str.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMDLINE_MAX (64 * 1024)

/* Read at most cap-1 bytes of a /proc file into buf; returns the length or
 * -1 when it cannot be opened. */
static long read_small(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long)n;
}

int vf__proc_cmdline(int pid, char *buf, size_t n) {
    if (!n)
        return VF_ERR_ARG;
    buf[0] = '\0';
    if (pid <= 0)
        return VF_ERR_NOTFOUND;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    char *raw = vf_malloc(CMDLINE_MAX);
    if (!raw)
        return VF_ERR_NOMEM;
    long len = read_small(path, raw, CMDLINE_MAX);
    if (len < 0) {
        vf_free(raw);
        return VF_ERR_NOTFOUND;
    }
    while (len > 0 && raw[len - 1] == '\0')
        len--;
    if (len == 0) {
        snprintf(path, sizeof path, "/proc/%d/comm", pid);
        char comm[64];
        long cl = read_small(path, comm, sizeof comm);
        vf_free(raw);
        if (cl < 0)
            return VF_ERR_NOTFOUND;
        while (cl > 0 && (comm[cl - 1] == '\n' || comm[cl - 1] == '\0'))
            comm[--cl] = '\0';
        snprintf(buf, n, "[%s]", comm);
        return VF_OK;
    }
    size_t o = 0;
    for (long i = 0; i < len && o + 1 < n; i++) {
        unsigned char c = (unsigned char)raw[i];
        buf[o++] = c == '\0' ? ' ' : (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    buf[o] = '\0';
    if ((long)o < len && n > 4)
        memcpy(buf + n - 4, "...", 4);
    vf_free(raw);
    return VF_OK;
}

/* The value of "Key:" in a /proc status-style file, in kB as bytes. */
static uint64_t status_kb(const char *text, const char *key) {
    size_t kl = strlen(key);
    for (const char *p = text; p && *p;) {
        if (!strncmp(p, key, kl) && p[kl] == ':') {
            const char *q = p + kl + 1;
            while (*q == ' ' || *q == '\t')
                q++;
            char num[32];
            size_t i = 0;
            while (i + 1 < sizeof num && isdigit((unsigned char)q[i])) {
                num[i] = q[i];
                i++;
            }
            num[i] = '\0';
            int64_t v;
            if (vf_parse_i64(num, 0, INT64_MAX / 1024, &v) == VF_OK)
                return (uint64_t)v * 1024;
            return 0;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return 0;
}

uint64_t vf__proc_rss(int pid) {
    char path[64], text[8192];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (read_small(path, text, sizeof text) < 0)
        return 0;
    return status_kb(text, "VmRSS");
}

int vf__proc_pgrp(int pid) {
    char path[64], text[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (read_small(path, text, sizeof text) < 0)
        return -1;
    /* "pid (comm) state ppid pgrp ...": comm may hold spaces and ')' */
    const char *p = strrchr(text, ')');
    if (!p)
        return -1;
    char state;
    int ppid, pgrp;
    if (sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) != 3)
        return -1;
    return pgrp;
}

/* Calls fn for every numeric entry of /proc. */
static void each_pid(void (*fn)(int pid, void *ud), void *ud) {
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        int pid;
        if (vf_parse_int(e->d_name, 1, INT32_MAX, &pid) == VF_OK)
            fn(pid, ud);
    }
    closedir(d);
}

struct group_walk {
    int pgid;
    int *pids;
    int max, n;
};

static void group_one(int pid, void *ud) {
    struct group_walk *w = ud;
    if (vf__proc_pgrp(pid) != w->pgid)
        return;
    if (w->n < w->max)
        w->pids[w->n] = pid;
    w->n++;
}

int vf__proc_group_pids(int pgid, int *pids, int max) {
    struct group_walk w = {pgid, pids, pids ? max : 0, 0};
    if (pgid > 0)
        each_pid(group_one, &w);
    return w.n;
}

uint64_t vf__proc_group_rss(int pgid) {
    int pids[256];
    int n = vf__proc_group_pids(pgid, pids, 256);
    uint64_t s = 0;
    for (int i = 0; i < n && i < 256; i++)
        s += vf__proc_rss(pids[i]);
    return s;
}

int vf__proc_meminfo(struct vf_meminfo *out) {
    memset(out, 0, sizeof *out);
    const char *path = getenv("VOXFIT_MEMINFO");
    char text[16384];
    if (read_small(path ? path : "/proc/meminfo", text, sizeof text) < 0)
        return VF_ERR_IO;
    out->total_bytes = status_kb(text, "MemTotal");
    out->free_bytes = status_kb(text, "MemFree");
    out->available_bytes = status_kb(text, "MemAvailable");
    if (!out->available_bytes) /* kernels before 3.14 */
        out->available_bytes = out->free_bytes + status_kb(text, "Cached");
    out->cached_bytes = status_kb(text, "Buffers") + status_kb(text, "Cached");
    out->swap_total_bytes = status_kb(text, "SwapTotal");
    out->swap_free_bytes = status_kb(text, "SwapFree");
    return out->total_bytes ? VF_OK : VF_ERR_IO;
}

struct top_walk {
    struct vf_proc_rss *v;
    int cap, n;
};

static void top_one(int pid, void *ud) {
    struct top_walk *w = ud;
    uint64_t rss = vf__proc_rss(pid);
    if (!rss)
        return;
    int i;
    if (w->n < w->cap)
        i = w->n++;
    else if (rss > w->v[w->cap - 1].rss_bytes)
        i = w->cap - 1;
    else
        return;
    w->v[i].pid = pid;
    w->v[i].rss_bytes = rss;
    /* keep sorted, largest first (insertion) */
    while (i > 0 && w->v[i - 1].rss_bytes < w->v[i].rss_bytes) {
        struct vf_proc_rss t = w->v[i - 1];
        w->v[i - 1] = w->v[i];
        w->v[i] = t;
        i--;
    }
}

int vf__proc_top_rss(struct vf_proc_rss *out, int n) {
    if (n <= 0)
        return 0;
    memset(out, 0, (size_t)n * sizeof *out);
    struct top_walk w = {out, n, 0};
    each_pid(top_one, &w);
    return w.n;
}
