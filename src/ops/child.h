/* child.h - engine processes for `voxfit up`, started so that none
 * outlives voxfit. Each engine runs under a small guard process (a fork of
 * voxfit, no exec) in a process group of its own:
 *
 *   voxfit --fork--> guard (PR_SET_PDEATHSIG: SIGTERM when voxfit dies)
 *                      --fork+exec--> engine, its own process group G
 *                                     (PR_SET_PDEATHSIG: SIGTERM when the guard dies)
 *
 * The guard reports the engine's pid, an exec failure and the engine's
 * wait status through a pipe; when told to stop (SIGTERM from voxfit, or
 * voxfit's death) or when the engine exits, it sends SIGTERM to the whole
 * group G (the engine's own workers too), waits the grace period, then
 * SIGKILL. Terminal signals reach only voxfit, which stops the engines in
 * reverse start order. See docs/internals/ops.md. */
#ifndef VF_OPS_CHILD_H
#define VF_OPS_CHILD_H

#include "../core/vf.h"

#include <sys/types.h>

struct vf_child_spec {
    char *const *argv;    /* NULL-terminated; argv[0] is looked up in PATH */
    char *const *env_add; /* "NAME=value" entries added to the environment; may be NULL */
    const char *log_path; /* stdout and stderr appended here; NULL: voxfit's own */
    int grace_ms;         /* SIGTERM to SIGKILL */
};

struct vf_child {
    pid_t guard;         /* our child */
    pid_t pid;           /* the engine; also its process group id */
    int fd;              /* the guard's report pipe, -1 when closed */
    bool exited;         /* the engine has gone */
    int wait_status;     /* its wait status, when exited */
    int exec_errno;      /* exec failed with this errno (the engine then exits 127) */
    uint64_t started_ms; /* monotonic ms at start */
};

/* Start an engine. VF_OK with c filled (the engine may still fail to exec:
 * see exec_errno after vf_child_poll), or VF_ERR_IO when fork or pipe fail
 * (err says why). */
int vf_child_start(const struct vf_child_spec *s, struct vf_child *c, char *err, size_t errlen);
/* Read the guard's reports without blocking; returns c->exited. */
bool vf_child_poll(struct vf_child *c);
/* Stop the engine and its group (SIGTERM, grace, SIGKILL), reap the guard,
 * close the pipe. Safe to call twice and on an engine that has exited. */
void vf_child_stop(struct vf_child *c, int grace_ms);

/* Monotonic milliseconds. */
uint64_t vf__now_ms(void);

#endif
