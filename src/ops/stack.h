/* stack.h - the engines `voxfit up` starts for a plan: one process per
 * component (llama.cpp's llama-server, vLLM, a faster-whisper server,
 * Kokoro-FastAPI, or voxfit itself serving one role), each with the flags
 * the plan chose (the same flags `voxfit plan --emit` prints), its port,
 * its readiness URL and the memory it is planned to take; ordered vLLM
 * first (it checks free memory when it starts), then largest first.
 * Engine command templates are configurable (--engine-cmd). See
 * docs/internals/ops.md. */
#ifndef VF_OPS_STACK_H
#define VF_OPS_STACK_H

#include "../plan/plan.h"

enum vf_runner {
    VF_RUN_LLAMA_SERVER = 0, /* "llama.cpp" */
    VF_RUN_VLLM,             /* "vllm" */
    VF_RUN_FASTER_WHISPER,   /* "faster-whisper" */
    VF_RUN_KOKORO,           /* "kokoro" */
    VF_RUN_VOXFIT,           /* "voxfit": voxfit serve --role R */
    VF_RUN_COUNT
};

const char *vf_runner_name(enum vf_runner r);
/* The runner for a name as --engine-cmd takes it; VF_RUN_COUNT if unknown. */
enum vf_runner vf_runner_from_name(const char *s);
/* The default command of a runner ("vllm serve", "llama-server", ...). */
const char *vf_runner_default_cmd(enum vf_runner r);

struct vf_stack_opts {
    const char *host;              /* where engines listen ("127.0.0.1") */
    int ports[VF_PLAN_COMPONENTS]; /* per role */
    const char *cmd[VF_RUN_COUNT]; /* templates; NULL: the default */
    const char *self_exe;          /* voxfit's own binary, for VF_RUN_VOXFIT */
    const char *cache_dir;         /* models pulled there are used from there; may be NULL */
    bool llm_via_voxfit;           /* run a llama.cpp LLM as voxfit serve --role llm */
};

#define VF_STACK_ARGV 128
#define VF_STACK_ENV 8

struct vf_stack_engine {
    enum vf_role role;
    enum vf_engine engine;
    enum vf_runner runner;
    char *argv[VF_STACK_ARGV + 1]; /* NULL-terminated, points into argbuf */
    int argc;
    char argbuf[8192];
    char *env[VF_STACK_ENV + 1]; /* "NAME=value", NULL-terminated, into envbuf */
    char envbuf[2048];
    int port;
    char ready_url[160];         /* http://host:port/health or /v1/models */
    char model[256];             /* the model as given to the engine */
    uint64_t planned_bytes;      /* on the plan's device */
    uint64_t planned_host_bytes; /* system RAM besides, when the device is a GPU */
    bool on_gpu;                 /* holds GPU memory (measured through NVML) */
};

/* Build the engines of p into out (room for VF_PLAN_COMPONENTS), ordered
 * as they must start; *n gets the count. VF_ERR_ARG when a template does
 * not split into words or the command is too long (err says which). */
int vf_stack_build(const struct vf_plan *p, const struct vf_stack_opts *o,
                   struct vf_stack_engine *out, int *n, char *err, size_t errlen);

/* The planner counts one CUDA context for voxfit's own process, shared by
 * the embedded llama.cpp and Whisper; `up` runs each in a process of its
 * own, so each GPU component without a context gets one here, and the
 * totals and the fit verdict are recomputed. */
void vf_stack_adjust(struct vf_plan *p);

/* The command line as one shell-quoted string (for output and for telling
 * whether a re-plan changed an engine), with the environment additions
 * first. */
void vf_stack_cmdline(const struct vf_stack_engine *e, char *buf, size_t n);

#endif
