/* proc.h - what Linux's /proc says about processes and memory: a process's
 * command line, resident memory and process group, the members of a group,
 * and the system's memory (/proc/meminfo). Used by `voxfit gpu` (the
 * command line of each GPU process, the RAM view without a GPU) and by
 * `voxfit up` (the memory an engine and its children really took).
 * See docs/internals/ops.md. */
#ifndef VF_OPS_PROC_H
#define VF_OPS_PROC_H

#include "../core/vf.h"

/* The command line of pid, arguments joined by spaces, into buf (size n,
 * cut short with "..." when longer). A process without arguments (a kernel
 * thread, a zombie) gets "[comm]". VF_ERR_NOTFOUND when the process does not
 * exist or is not visible here (another pid namespace). */
int vf__proc_cmdline(int pid, char *buf, size_t n);
/* Resident memory of pid in bytes (VmRSS); 0 when unknown or gone. */
uint64_t vf__proc_rss(int pid);
/* The process group of pid, or -1 when it is gone. */
int vf__proc_pgrp(int pid);
/* The pids whose process group is pgid: at most max into pids (may be
 * NULL with max 0 to count); returns how many there are in all. */
int vf__proc_group_pids(int pgid, int *pids, int max);
/* Sum of VmRSS over the members of process group pgid. */
uint64_t vf__proc_group_rss(int pgid);

struct vf_meminfo {
    uint64_t total_bytes;     /* MemTotal */
    uint64_t available_bytes; /* MemAvailable: what new work can take without swapping */
    uint64_t free_bytes;      /* MemFree */
    uint64_t cached_bytes;    /* Buffers + Cached */
    uint64_t swap_total_bytes, swap_free_bytes;
};

/* Read /proc/meminfo (or VOXFIT_MEMINFO, a file in the same format, for
 * tests). VF_ERR_IO when unreadable or without MemTotal. */
int vf__proc_meminfo(struct vf_meminfo *out);

struct vf_proc_rss {
    int pid;
    uint64_t rss_bytes;
};

/* The n processes with the most resident memory, largest first; returns how
 * many were found (at most n). */
int vf__proc_top_rss(struct vf_proc_rss *out, int n);

#endif
