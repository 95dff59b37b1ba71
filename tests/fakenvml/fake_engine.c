/* fake_engine.c - a stand-in for the engines `voxfit up` starts (vLLM,
 * llama-server, a faster-whisper server, Kokoro-FastAPI, voxfit serve) in
 * tests. It takes the engine's flags as they come, serves GET /health and
 * GET /v1/models on --host/--port (503 until it is "loaded", then 200), and
 * takes memory on purpose: resident memory it allocates and touches
 * (--fake-mode rss), or GPU memory it declares to the fake NVML through
 * $FAKE_NVML_DIR/<pid> (--fake-mode nvml). Its own options start with
 * --fake- and may sit anywhere:
 *
 *   --fake-mem SPEC          what it takes: 0.8x (of $VOXFIT_PLANNED_BYTES) or 300MiB [0.5x]
 *   --fake-over-ctx N        take 1.5x the plan when its context (-c / --max-model-len) is above N
 *   --fake-over-model M      take 1.5x the plan when its model is M (or ends in /M)
 *   --fake-oom-ctx N         fail with a CUDA out-of-memory error when the context is above N
 *   --fake-oom-model M       the same when its model is M
 *   --fake-ready-ms N        loading time before /health answers 200 [100]
 *   --fake-never-ready       never answer 200
 *   --fake-exit N            print a usage error and exit N at once
 *   --fake-crash-ms N        abort() N ms after it first answered /health with 200
 *   --fake-crash-oom-ms N    print an out-of-memory error and exit 1 N ms after that
 *                            (counted from the answer, so the supervisor has seen it ready
 *                            however loaded the machine is)
 *   --fake-once FILE         crash only while FILE does not exist (it is created on the crash)
 *   --fake-child             start a child process that sleeps (a worker, same process group)
 *   --fake-ignore-term       ignore SIGTERM (stopping must escalate to SIGKILL)
 *   --fake-mode rss|nvml     how memory is taken [nvml when $FAKE_NVML_DIR is set]
 *
 * With $FAKE_ENGINE_PIDS set, it writes its pid (and its child's) there so
 * tests can check that nothing outlives voxfit. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t parse_size(const char *s, uint64_t planned) {
    char *end;
    double v = strtod(s, &end);
    if (!strcmp(end, "x"))
        return (uint64_t)(v * (double)planned);
    if (!strcasecmp(end, "KiB") || !strcasecmp(end, "K"))
        return (uint64_t)(v * 1024);
    if (!strcasecmp(end, "MiB") || !strcasecmp(end, "M"))
        return (uint64_t)(v * 1024 * 1024);
    if (!strcasecmp(end, "GiB") || !strcasecmp(end, "G"))
        return (uint64_t)(v * 1024 * 1024 * 1024);
    return (uint64_t)v;
}

static bool model_is(const char *model, const char *want) {
    if (!model || !want)
        return false;
    const char *slash = strrchr(model, '/');
    return !strcmp(model, want) || (slash && !strcmp(slash + 1, want));
}

static void write_pid_file(const char *dir, const char *name, long value) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%ld\n", value);
        fclose(f);
    }
}

/* Answer one request; true when it was /health answered with 200. */
static bool serve_one(int fd, bool ready) {
    char req[2048];
    ssize_t n = recv(fd, req, sizeof req - 1, 0);
    if (n <= 0)
        return false;
    req[n] = '\0';
    const char *body;
    int code;
    if (!strncmp(req, "GET /health", 11) || !strncmp(req, "GET /v1/models", 14)) {
        code = ready ? 200 : 503;
        body =
            ready ? "{\"status\":\"ok\",\"data\":[{\"id\":\"fake\"}]}" : "{\"status\":\"loading\"}";
    } else {
        code = 404;
        body = "{\"error\":\"not found\"}";
    }
    char resp[512];
    int len = snprintf(resp, sizeof resp,
                       "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s",
                       code,
                       code == 200   ? "OK"
                       : code == 503 ? "Service Unavailable"
                                     : "Not Found",
                       strlen(body), body);
    ssize_t w = send(fd, resp, (size_t)len, MSG_NOSIGNAL);
    return w == len && code == 200 && !strncmp(req, "GET /health", 11);
}

int main(int argc, char **argv) {
    const char *mem_spec = "0.5x", *over_model = NULL, *oom_model = NULL, *once = NULL,
               *mode = NULL;
    long over_ctx = -1, oom_ctx = -1, ready_ms = 100, crash_ms = -1, crash_oom_ms = -1,
         exit_code = -1;
    bool never_ready = false, child = false, ignore_term = false;
    const char *host = "127.0.0.1", *model = getenv("WHISPER__MODEL");
    long port = 0, ctx = 0;
    printf("fake engine pid %d:", (int)getpid());
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");
    bool after_serve = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (!strcmp(a, name) && v && (i++, 1))
        if (OPT("--fake-mem"))
            mem_spec = v;
        else if (OPT("--fake-over-ctx"))
            over_ctx = atol(v);
        else if (OPT("--fake-over-model"))
            over_model = v;
        else if (OPT("--fake-oom-ctx"))
            oom_ctx = atol(v);
        else if (OPT("--fake-oom-model"))
            oom_model = v;
        else if (OPT("--fake-ready-ms"))
            ready_ms = atol(v);
        else if (!strcmp(a, "--fake-never-ready"))
            never_ready = true;
        else if (OPT("--fake-exit"))
            exit_code = atol(v);
        else if (OPT("--fake-crash-ms"))
            crash_ms = atol(v);
        else if (OPT("--fake-crash-oom-ms"))
            crash_oom_ms = atol(v);
        else if (OPT("--fake-once"))
            once = v;
        else if (!strcmp(a, "--fake-child"))
            child = true;
        else if (!strcmp(a, "--fake-ignore-term"))
            ignore_term = true;
        else if (OPT("--fake-mode"))
            mode = v;
        else if (OPT("--port"))
            port = atol(v);
        else if (OPT("--host"))
            host = v;
        else if (OPT("-c") || OPT("--ctx-size") || OPT("--max-model-len"))
            ctx = atol(v);
        else if (OPT("-m") || OPT("-hf") || OPT("--stt") || OPT("--tts") || OPT("--llm"))
            model = v;
        else if (!strcmp(a, "serve"))
            after_serve = true;
        else if (after_serve && a[0] != '-' && !model)
            model = a;
#undef OPT
    }
    fflush(stdout);
    if (exit_code >= 0) {
        fprintf(stderr, "error: unrecognized arguments\n");
        return (int)exit_code;
    }
    if (ignore_term)
        signal(SIGTERM, SIG_IGN);
    const char *pids = getenv("FAKE_ENGINE_PIDS");
    char name[64];
    if (pids) {
        snprintf(name, sizeof name, "%d", (int)getpid());
        write_pid_file(pids, name, getpid());
    }
    if (child) {
        pid_t c = fork();
        if (c == 0) {
            for (;;)
                pause();
        }
        if (pids && c > 0) {
            snprintf(name, sizeof name, "%d", (int)c);
            write_pid_file(pids, name, c);
        }
    }
    const char *planned_s = getenv("VOXFIT_PLANNED_BYTES");
    uint64_t planned = planned_s ? strtoull(planned_s, NULL, 10) : 0;
    uint64_t take = parse_size(mem_spec, planned);
    if ((over_ctx >= 0 && ctx > over_ctx) || (over_model && model_is(model, over_model)))
        take = planned + planned / 2;
    if (!mode)
        mode = getenv("FAKE_NVML_DIR") ? "nvml" : "rss";

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 16) != 0) {
        fprintf(stderr, "fake engine: cannot listen on %s:%ld: %s\n", host, port, strerror(errno));
        return 1;
    }
    uint64_t t0 = now_ms(), ready_at = t0 + (uint64_t)ready_ms, seen_ready_at = 0;
    bool ready = false, loaded = false;
    char *mem = NULL;
    for (;;) {
        uint64_t t = now_ms();
        if (!loaded && t >= ready_at) {
            /* "load the model": fail out of memory, or take the memory */
            if ((oom_ctx >= 0 && ctx > oom_ctx) || (oom_model && model_is(model, oom_model))) {
                fprintf(stderr, "CUDA error: out of memory\n  current device: 0, in function "
                                "ggml_backend_cuda_buffer_type_alloc_buffer: cudaMalloc failed: "
                                "out of memory\n");
                return 1;
            }
            if (!strcmp(mode, "nvml")) {
                const char *dir = getenv("FAKE_NVML_DIR");
                snprintf(name, sizeof name, "%d", (int)getpid());
                if (dir)
                    write_pid_file(dir, name, (long)take);
            } else if (take) {
                mem = malloc(take);
                if (!mem) {
                    fprintf(stderr, "std::bad_alloc\n");
                    return 1;
                }
                for (uint64_t k = 0; k < take; k += 4096)
                    mem[k] = 1;
            }
            printf("fake engine: loaded %s (context %ld), took %llu bytes (%s), planned %llu\n",
                   model ? model : "?", ctx, (unsigned long long)take, mode,
                   (unsigned long long)planned);
            fflush(stdout);
            loaded = true;
            ready = !never_ready;
        }
        bool crash_armed = !once || access(once, F_OK) != 0;
        if (seen_ready_at && crash_armed && (crash_ms >= 0 || crash_oom_ms >= 0)) {
            long after = crash_ms >= 0 ? crash_ms : crash_oom_ms;
            if (t >= seen_ready_at + (uint64_t)after) {
                FILE *mark = once ? fopen(once, "w") : NULL;
                if (mark)
                    fclose(mark);
                if (crash_oom_ms >= 0) {
                    fprintf(stderr, "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
                                    "20.00 MiB\n");
                    return 1;
                }
                fprintf(stderr, "fake engine: crashing on purpose\n");
                abort();
            }
        }
        struct pollfd p = {ls, POLLIN, 0};
        if (poll(&p, 1, 20) > 0) {
            int fd = accept(ls, NULL, NULL);
            if (fd >= 0) {
                if (serve_one(fd, ready) && !seen_ready_at)
                    seen_ready_at = now_ms();
                close(fd);
            }
        }
    }
    free(mem);
    return 0;
}
