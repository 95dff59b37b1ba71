/* up.h - `voxfit up`: start the planned stack as child processes, one
 * engine at a time in the planned order, wait for each to answer its
 * readiness URL, check the memory it really took (NVML per process on a
 * GPU, the resident memory of its process group on a CPU) against the plan,
 * fall back along the ladder (ladder.h) when an engine fails to start, dies
 * out of memory or takes more than planned, then supervise the engines
 * until SIGINT/SIGTERM, and stop every one of them. See
 * docs/internals/ops.md. */
#ifndef VF_OPS_UP_H
#define VF_OPS_UP_H

#include "ladder.h"
#include "stack.h"

#include <signal.h>
#include <stdio.h>

struct vf_up_opts {
    struct vf_stack_opts stack;
    int ready_timeout_s;         /* per engine, from its start to its readiness answer */
    int stop_timeout_s;          /* SIGTERM to SIGKILL */
    int settle_ms;               /* after readiness, sample memory this long (the peak counts) */
    double tolerance;            /* fraction of the plan an engine may take beyond it */
    uint64_t tolerance_bytes;    /* ... and at least this many bytes */
    int max_fallbacks;           /* ladder steps in all */
    int max_restarts;            /* restarts of an engine that crashed while running (not OOM) */
    bool once;                   /* stop everything once the stack is up and checked */
    bool json;                   /* JSON events on stdout (one per line); the text goes to stderr */
    bool dry_run;                /* print the commands, start nothing */
    const char *log_dir;         /* each engine's output: <log_dir>/<role>.log */
    FILE *out;                   /* the text report */
    volatile sig_atomic_t *stop; /* set by SIGINT/SIGTERM */
};

void vf_up_opts_default(struct vf_up_opts *o);

/* Run the stack for u. Returns the exit code: 0 when the stack came up (and
 * was stopped by a signal or --once), 1 when it could not be started or an
 * engine failed for good (the report says which engine, what it took, what
 * was planned), 2 when the request cannot be planned (unknown model). Every
 * child is stopped before it returns. */
int vf_up_run(struct vf_up_req *u, const struct vf_up_opts *o);

/* Whether a log excerpt reads like an out-of-memory failure (CUDA, PyTorch,
 * vLLM, llama.cpp/ggml, the C++ runtime, Linux). */
bool vf__up_is_oom(const char *text);

#endif
