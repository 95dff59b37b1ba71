/* llama_rt.c - see llama_rt.h.
 *
 * CUDA: scripts/deps.sh installs two CUDA builds of ggml, the primary one
 * (lib/cuda, a CUDA 13 toolkit) and node-llama-cpp's fallback (lib/cuda-fallback,
 * CUDA 12). That a library loads does not mean it runs: a build that carries
 * a GPU's kernels only as PTX from a toolkit newer than the driver fails at
 * the first kernel launch ("the provided PTX was compiled with an
 * unsupported toolchain"), and ggml aborts the process there. So each
 * candidate is first run in a child process (`voxfit dev cuda-probe DIR`: a
 * small graph on every CUDA device) and the first that passes is loaded;
 * when none does, voxfit says why and runs on the CPU. */
#define _GNU_SOURCE /* pipe2 */
#include "llama_rt.h"
#include "../core/log.h"
#include "../core/str.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ggml-backend.h>
#include <ggml.h>
#include <llama.h>

extern char **environ;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc = VF_ERR_BACKEND;
static pthread_mutex_t cap_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t buf_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cap_buf;
static size_t cap_len, cap_cap;
static bool capturing;

#define CAPTURE_MAX (4u << 20)

static void on_log(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    pthread_mutex_lock(&buf_lock);
    if (capturing) {
        size_t n = strlen(text);
        if (cap_len + n + 1 > cap_cap && cap_len + n + 1 <= CAPTURE_MAX) {
            size_t nc = cap_cap ? cap_cap * 2 : 65536;
            while (nc < cap_len + n + 1)
                nc *= 2;
            char *b = realloc(cap_buf, nc);
            if (b) {
                cap_buf = b;
                cap_cap = nc;
            }
        }
        if (cap_len + n + 1 <= cap_cap) {
            memcpy(cap_buf + cap_len, text, n + 1);
            cap_len += n;
        }
    }
    pthread_mutex_unlock(&buf_lock);
    enum vf_log_level l = level == GGML_LOG_LEVEL_ERROR ? VF_LOG_ERROR
                        : level == GGML_LOG_LEVEL_WARN  ? VF_LOG_WARN
                        : VF_LOG_DEBUG;
    vf_log_raw(l, "llama", text);
}

/* ---- CUDA builds ---- */

static char probe_exe[PATH_MAX];

void vf_llama_rt_set_probe_program(const char *exe) {
    if (!exe) {
        probe_exe[0] = '\0';
        return;
    }
    ssize_t n = readlink(exe, probe_exe, sizeof probe_exe - 1);
    if (n > 0)
        probe_exe[n] = '\0';
    else
        vf_strlcpy(probe_exe, exe, sizeof probe_exe);
}

static bool have_gpu(void) {
    for (size_t i = 0; i < ggml_backend_dev_count(); i++)
        if (ggml_backend_dev_type(ggml_backend_dev_get(i)) == GGML_BACKEND_DEVICE_TYPE_GPU)
            return true;
    return false;
}

/* Run one small graph on dev: softmax(A x B) with A 256x256 f16 of 1/256 and
 * B 256x8 of ones is 1/256 everywhere. Returns 0 when the result is right. */
static int probe_device(ggml_backend_dev_t dev, char *msg, size_t msglen) {
    struct ggml_init_params ip = {ggml_tensor_overhead() * 8 + ggml_graph_overhead(), NULL, true};
    struct ggml_context *ctx = ggml_init(ip);
    ggml_backend_t be = ctx ? ggml_backend_dev_init(dev, NULL) : NULL;
    ggml_backend_buffer_t buf = NULL;
    float *host = NULL;
    int rc = 1;
    if (!be) {
        snprintf(msg, msglen, "cannot start a backend on %s", ggml_backend_dev_name(dev));
        goto done;
    }
    enum { K = 256, M = 256, N = 8 };
    struct ggml_tensor *a = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, K, M);
    struct ggml_tensor *b = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, K, N);
    struct ggml_tensor *c = ggml_soft_max(ctx, ggml_mul_mat(ctx, a, b));
    struct ggml_cgraph *gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, c);
    buf = ggml_backend_alloc_ctx_tensors(ctx, be);
    host = vf_malloc(sizeof(float) * K * M);
    if (!buf || !host) {
        snprintf(msg, msglen, "cannot allocate on %s", ggml_backend_dev_name(dev));
        goto done;
    }
    ggml_fp16_t *h16 = (ggml_fp16_t *)host;
    for (int i = 0; i < K * M; i++)
        h16[i] = ggml_fp32_to_fp16(1.0f / K);
    ggml_backend_tensor_set(a, h16, 0, ggml_nbytes(a));
    for (int i = 0; i < K * N; i++)
        host[i] = 1.0f;
    ggml_backend_tensor_set(b, host, 0, ggml_nbytes(b));
    if (ggml_backend_graph_compute(be, gf) != GGML_STATUS_SUCCESS) {
        snprintf(msg, msglen, "a graph failed on %s", ggml_backend_dev_name(dev));
        goto done;
    }
    ggml_backend_tensor_get(c, host, 0, ggml_nbytes(c));
    for (int i = 0; i < M * N; i++)
        if (!(fabsf(host[i] - 1.0f / M) < 1e-5f)) {
            snprintf(msg, msglen, "wrong result on %s (%g instead of %g)", ggml_backend_dev_name(dev),
                     (double)host[i], 1.0 / M);
            goto done;
        }
    rc = 0;
done:
    vf_free(host);
    if (buf)
        ggml_backend_buffer_free(buf);
    if (be)
        ggml_backend_free(be);
    if (ctx)
        ggml_free(ctx);
    return rc;
}

int vf_llama_rt_cuda_probe(const char *dir, char *msg, size_t msglen) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/libggml-cuda.so", dir);
    msg[0] = '\0';
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(msg, msglen, "cannot load it: %s", e ? e : path);
        return 1;
    }
    dlclose(h);
    ggml_backend_reg_t reg = ggml_backend_load(path);
    if (!reg) {
        snprintf(msg, msglen, "ggml cannot register %s", path);
        return 1;
    }
    size_t n = ggml_backend_reg_dev_count(reg);
    if (!n) {
        snprintf(msg, msglen, "no CUDA device found");
        return 1;
    }
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        ggml_backend_dev_t dev = ggml_backend_reg_dev_get(reg, i);
        if (probe_device(dev, msg, msglen))
            return 1;
        if (used < sizeof path)
            used += (size_t)snprintf(path + used, sizeof path - used, "%s%s (%s)", i ? ", " : "",
                                     ggml_backend_dev_name(dev), ggml_backend_dev_description(dev));
    }
    snprintf(msg, msglen, "%s", path);
    return 0;
}

/* The reason a probe failed, from its output: ggml's "CUDA error: ..." line
 * when there is one, else the last non-empty line. */
static void probe_reason(const char *out, char *msg, size_t msglen) {
    const char *e = strstr(out, "CUDA error: ");
    const char *line = NULL;
    size_t len = 0;
    if (e) {
        line = e;
        len = strcspn(e, "\n");
    } else {
        for (const char *p = out; *p;) {
            size_t l = strcspn(p, "\n");
            if (l) {
                line = p;
                len = l;
            }
            p += l + (p[l] == '\n');
        }
    }
    if (!line)
        return;
    /* the probe's own verdict line: "runs: ..." or "fails: ..." */
    for (const char *pre = "runs: "; pre; pre = strcmp(pre, "runs: ") ? NULL : "fails: ")
        if (len > strlen(pre) && !strncmp(line, pre, strlen(pre))) {
            line += strlen(pre);
            len -= strlen(pre);
        }
    snprintf(msg, msglen, "%.*s", (int)(len > 400 ? 400 : len), line);
}

/* Run `voxfit dev cuda-probe DIR` and wait for it (at most 120 s: the first
 * run may compile PTX). Returns 0 when the build runs; msg says what ran or
 * why not. */
static int run_probe(const char *dir, char *msg, size_t msglen) {
    int fd[2];
    if (pipe2(fd, O_CLOEXEC)) {
        snprintf(msg, msglen, "pipe: %s", strerror(errno));
        return 1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
    char *argv[] = {probe_exe, "dev", "cuda-probe", (char *)dir, NULL};
    pid_t pid;
    int err = posix_spawn(&pid, probe_exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (err) {
        close(fd[0]);
        snprintf(msg, msglen, "cannot run %.200s: %s", probe_exe, strerror(err));
        return 1;
    }
    char out[8192];
    size_t n = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool timed_out = false;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left = 120000 - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p = {fd[0], POLLIN, 0};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        char tmp[1024];
        ssize_t r = read(fd[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        /* keep the last 8 KiB: the error is at the end */
        size_t k = (size_t)r;
        if (n + k >= sizeof out) {
            size_t drop = n + k - (sizeof out - 1);
            if (drop > n)
                drop = n;
            memmove(out, out + drop, n - drop);
            n -= drop;
        }
        if (k >= sizeof out)
            k = sizeof out - 1;
        memcpy(out + n, tmp, k);
        n += k;
    }
    close(fd[0]);
    out[n] = '\0';
    if (timed_out)
        kill(pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) {
        snprintf(msg, msglen, "the probe did not finish in 120 s");
        return 1;
    }
    msg[0] = '\0';
    probe_reason(out, msg, msglen);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (!msg[0])
        snprintf(msg, msglen, "the probe %s %d", WIFSIGNALED(st) ? "died of signal" : "exited with",
                 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    return 1;
}

/* Load the first CUDA build that runs here. Candidates: VOXFIT_CUDA_DIRS
 * (folders separated by ':'), else libdir/cuda and libdir/cuda-fallback. */
static void load_cuda(const char *libdir) {
    const char *env = getenv("VOXFIT_CUDA_DIRS");
    char dirs[2 * PATH_MAX + 32];
    if (env)
        vf_strlcpy(dirs, env, sizeof dirs);
    else
        snprintf(dirs, sizeof dirs, "%s/cuda:%s/cuda-fallback", libdir, libdir);
    int failed = 0;
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char path[PATH_MAX], msg[512];
        snprintf(path, sizeof path, "%s/libggml-cuda.so", d);
        if (access(path, R_OK)) {
            if (env)
                vf_log(VF_LOG_WARN, "llama", "CUDA: no libggml-cuda.so in %s", d);
            continue;
        }
        if (probe_exe[0] && run_probe(d, msg, sizeof msg)) {
            vf_log(VF_LOG_WARN, "llama", "CUDA build in %s does not run here: %s", d, msg);
            failed++;
            continue;
        }
        if (ggml_backend_load(path) && have_gpu()) {
            vf_log(VF_LOG_INFO, "llama", "CUDA: using %s%s%s", path, probe_exe[0] ? ": " : "",
                   probe_exe[0] ? msg : "");
            return;
        }
        vf_log(VF_LOG_WARN, "llama", "CUDA build in %s does not load here", d);
        failed++;
    }
    if (failed)
        vf_log(VF_LOG_WARN, "llama", "no CUDA build runs on this machine: models run on the CPU "
               "(a newer NVIDIA driver, or the CUDA 12 runtime for the fallback build, fixes this)");
}

static void do_init(void) {
    llama_log_set(on_log, NULL);
#ifdef VF_LLAMA_LIBDIR
    const char *dir = getenv("VOXFIT_GGML_BACKEND_DIR");
    ggml_backend_load_all_from_path(dir ? dir : VF_LLAMA_LIBDIR);
    if (!have_gpu())
        load_cuda(dir ? dir : VF_LLAMA_LIBDIR);
#else
    ggml_backend_load_all();
#endif
    llama_backend_init();
    bool cpu = false;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++)
        if (ggml_backend_dev_type(ggml_backend_dev_get(i)) == GGML_BACKEND_DEVICE_TYPE_CPU)
            cpu = true;
    if (!cpu) {
        vf_log(VF_LOG_ERROR, "llama", "no ggml CPU backend could be loaded");
        return;
    }
    init_rc = VF_OK;
}

int vf_llama_rt_init(void) {
    pthread_once(&once, do_init);
    return init_rc;
}

int vf_llama_rt_gpu_count(void) {
    if (vf_llama_rt_init())
        return 0;
    int n = 0;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++)
        if (ggml_backend_dev_type(ggml_backend_dev_get(i)) == GGML_BACKEND_DEVICE_TYPE_GPU)
            n++;
    return n;
}

void vf_llama_rt_capture_begin(void) {
    pthread_mutex_lock(&cap_lock);
    pthread_mutex_lock(&buf_lock);
    cap_len = 0;
    if (cap_buf)
        cap_buf[0] = '\0';
    capturing = true;
    pthread_mutex_unlock(&buf_lock);
}

char *vf_llama_rt_capture_end(void) {
    pthread_mutex_lock(&buf_lock);
    capturing = false;
    char *out = vf_strndup(cap_buf ? cap_buf : "", cap_len);
    pthread_mutex_unlock(&buf_lock);
    pthread_mutex_unlock(&cap_lock);
    return out;
}
