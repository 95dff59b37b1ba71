/* child.c - see child.h. Between fork and exec only async-signal-safe
 * calls are made (the engine side), and the guard never returns into
 * voxfit's code: it ends with _exit, so no atexit handler, buffered stdio
 * or sanitizer leak check of the parent runs twice. */
#define _GNU_SOURCE /* pipe2 */
#include "child.h"
#include "../core/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MSG_PID = 1, MSG_EXEC = 2, MSG_EXIT = 3 };

struct msg {
    int32_t type;
    int32_t value;
};

uint64_t vf__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void send_msg(int fd, int32_t type, int32_t value) {
    struct msg m = {type, value};
    ssize_t w;
    do {
        w = write(fd, &m, sizeof m);
    } while (w < 0 && errno == EINTR);
}

/* The group is empty (no process left with pgid g). */
static bool group_gone(pid_t g) { return kill(-g, 0) != 0 && errno == ESRCH; }

/* SIGTERM the group, wait for it to empty up to grace_ms, then SIGKILL.
 * The engine itself is reaped by the caller (waitpid) as it goes. */
static void stop_group(pid_t g, pid_t engine, int grace_ms, int *status, bool *reaped) {
    kill(-g, SIGTERM);
    uint64_t end = vf__now_ms() + (uint64_t)grace_ms;
    for (;;) {
        if (!*reaped && waitpid(engine, status, WNOHANG) == engine)
            *reaped = true;
        if (*reaped && group_gone(g))
            return;
        if (vf__now_ms() >= end)
            break;
        sleep_ms(20);
    }
    kill(-g, SIGKILL);
    if (!*reaped && waitpid(engine, status, 0) == engine)
        *reaped = true;
}

extern char **environ;

/* The engine side of the second fork: never returns. envp is built before
 * the first fork, so nothing here allocates. */
static void exec_engine(const struct vf_child_spec *s, char **envp, int errfd, pid_t guard) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != guard)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        if (null != STDIN_FILENO)
            close(null);
    }
    if (s->log_path) {
        int lf = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (lf >= 0) {
            dup2(lf, STDOUT_FILENO);
            dup2(lf, STDERR_FILENO);
            if (lf > STDERR_FILENO)
                close(lf);
        }
    }
    execvpe(s->argv[0], s->argv, envp);
    int32_t e = errno;
    ssize_t w = write(errfd, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* The guard: never returns. */
static void guard_main(const struct vf_child_spec *s, char **envp, int rep, pid_t parent) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    if (getppid() != parent)
        _exit(0); /* voxfit died before the death signal was armed */
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0) {
        send_msg(rep, MSG_EXEC, errno);
        _exit(1);
    }
    pid_t self = getpid();
    pid_t e = fork();
    if (e < 0) {
        send_msg(rep, MSG_EXEC, errno);
        _exit(1);
    }
    if (e == 0) {
        close(ep[0]);
        close(rep);
        exec_engine(s, envp, ep[1], self);
    }
    close(ep[1]);
    setpgid(e, e); /* also here: no window where the group does not exist */
    send_msg(rep, MSG_PID, e);
    int32_t xerr;
    ssize_t r;
    do {
        r = read(ep[0], &xerr, sizeof xerr);
    } while (r < 0 && errno == EINTR);
    close(ep[0]);
    if (r == (ssize_t)sizeof xerr)
        send_msg(rep, MSG_EXEC, xerr);
    int status = 0;
    bool reaped = false;
    for (;;) {
        siginfo_t si;
        struct timespec to = {1, 0};
        int sig = sigtimedwait(&set, &si, &to);
        if (!reaped && waitpid(e, &status, WNOHANG) == e)
            reaped = true;
        if (reaped) {
            /* the engine is gone: take its workers with it */
            if (!group_gone(e))
                stop_group(e, e, 2000, &status, &reaped);
            break;
        }
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            stop_group(e, e, s->grace_ms, &status, &reaped);
            break;
        }
    }
    send_msg(rep, MSG_EXIT, status);
    _exit(0);
}

/* environ with the additions (an addition replaces a variable of the same
 * name); the array is ours, the strings are borrowed. */
static char **make_env(char *const *add) {
    size_t n = 0, k = 0;
    while (environ && environ[n])
        n++;
    while (add && add[k])
        k++;
    char **v = vf_calloc(n + k + 1, sizeof *v);
    if (!v)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool replaced = false;
        for (size_t j = 0; j < k && !replaced; j++)
            replaced = !strncmp(add[j], environ[i], nl) && add[j][nl] == '=';
        if (!replaced)
            v[o++] = environ[i];
    }
    for (size_t j = 0; j < k; j++)
        v[o++] = add[j];
    v[o] = NULL;
    return v;
}

int vf_child_start(const struct vf_child_spec *s, struct vf_child *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->fd = -1;
    char **envp = make_env(s->env_add);
    if (!envp)
        return VF_ERR_NOMEM;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        vf_errf(err, errlen, "pipe: %s", strerror(errno));
        vf_free(envp);
        return VF_ERR_IO;
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t g = fork();
    if (g < 0) {
        vf_errf(err, errlen, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        vf_free(envp);
        return VF_ERR_IO;
    }
    if (g == 0) {
        close(p[0]);
        guard_main(s, envp, p[1], parent);
    }
    vf_free(envp);
    close(p[1]);
    setpgid(g, g);
    c->guard = g;
    c->fd = p[0];
    c->started_ms = vf__now_ms();
    /* the engine's pid comes first, at once */
    struct msg m;
    ssize_t r;
    do {
        r = read(c->fd, &m, sizeof m);
    } while (r < 0 && errno == EINTR);
    if (r == (ssize_t)sizeof m && m.type == MSG_PID) {
        c->pid = m.value;
    } else if (r == (ssize_t)sizeof m && m.type == MSG_EXEC) {
        c->exec_errno = m.value;
        c->exited = true;
        c->wait_status = 127 << 8;
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    if (!c->pid && !c->exited) {
        vf_errf(err, errlen, "the engine's guard process failed to start");
        vf_child_stop(c, 0);
        return VF_ERR_IO;
    }
    return VF_OK;
}

bool vf_child_poll(struct vf_child *c) {
    while (c->fd >= 0) {
        struct msg m;
        ssize_t r = read(c->fd, &m, sizeof m);
        if (r == (ssize_t)sizeof m) {
            if (m.type == MSG_EXEC)
                c->exec_errno = m.value;
            else if (m.type == MSG_EXIT) {
                c->exited = true;
                c->wait_status = m.value;
            }
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        /* EOF: the guard is gone (killed?) */
        close(c->fd);
        c->fd = -1;
        if (!c->exited) {
            c->exited = true;
            c->wait_status = SIGKILL;
        }
    }
    return c->exited;
}

void vf_child_stop(struct vf_child *c, int grace_ms) {
    if (c->guard <= 0)
        return;
    vf_child_poll(c);
    int st;
    if (waitpid(c->guard, &st, WNOHANG) == 0) {
        kill(c->guard, SIGTERM);
        uint64_t end = vf__now_ms() + (uint64_t)grace_ms + 3000;
        while (waitpid(c->guard, &st, WNOHANG) == 0) {
            if (vf__now_ms() >= end) {
                /* the guard is stuck: do its job */
                kill(c->guard, SIGKILL);
                if (c->pid > 0)
                    kill(-c->pid, SIGKILL);
                waitpid(c->guard, &st, 0);
                break;
            }
            sleep_ms(10);
        }
    }
    vf_child_poll(c);
    if (c->pid > 0 && !group_gone(c->pid))
        kill(-c->pid, SIGKILL);
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (!c->exited) {
        c->exited = true;
        c->wait_status = SIGKILL;
    }
    c->guard = 0;
}
