/* cmd_up.c - `voxfit up`: start the planned stack as child processes in
 * the planned order, check each engine's memory against the plan, fall
 * back when one does not fit, and stop them all on Ctrl-C. See README.md
 * "voxfit up" and docs/internals/ops.md. */
#include "cli.h"
#include "../core/args.h"
#include "../core/str.h"
#include "../ops/planreq.h"
#include "../ops/pull.h"
#include "../ops/up.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_ENGINE_CMDS 16

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

/* A free TCP port on loopback (the engine binds it a moment later). */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    int port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int vf_cmd_up(int argc, char **argv) {
    /* --engine-cmd NAME='CMD' may repeat: take those out before the table parser */
    const char *engine_cmds[MAX_ENGINE_CMDS];
    int n_cmds = 0;
    char **rest = vf_calloc((size_t)argc + 1, sizeof *rest);
    if (!rest)
        return 1;
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--engine-cmd") && i + 1 < argc) {
            if (n_cmds < MAX_ENGINE_CMDS)
                engine_cmds[n_cmds++] = argv[i + 1];
            i++;
        } else if (i > 0 && vf_str_starts(argv[i], "--engine-cmd=")) {
            if (n_cmds < MAX_ENGINE_CMDS)
                engine_cmds[n_cmds++] = argv[i] + strlen("--engine-cmd=");
        } else {
            rest[nrest++] = argv[i];
        }
    }
    /* defaults */
    const char *plan_file = NULL, *host = "127.0.0.1", *log_dir = NULL, *cache = NULL;
    const char *llm_server = "llama-server", *engine_cmd_help = NULL;
    int port_base = 8000, ready_timeout = 600, stop_timeout = 10, settle_ms = 1500;
    int max_fallbacks = 10, max_restarts = 2;
    double tolerance = 10;
    uint64_t tolerance_min = 64 * VF_MIB;
    bool once = false, json = false, dry = false;
    struct vf_planflags pfl;
    vf_planflags_default(&pfl);
    static const char *const llm_srv[] = {"llama-server", "voxfit", NULL};
    /* clang-format off */
    struct vf_opt opts[20 + VF_PLANFLAGS_N] = {
        {"--plan", NULL, VF_OPT_STR, &plan_file, "FILE.json", "start the plan written by voxfit plan --json (else: plan with the flags below)", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--engine-cmd", NULL, VF_OPT_STR, &engine_cmd_help, "NAME='CMD'", "the command of an engine: llama.cpp, vllm, faster-whisper, kokoro, voxfit; repeatable; "
         "{host} {port} {model} in CMD are replaced, else voxfit appends --host/--port and the model", "llama-server, vllm serve, speaches, Kokoro-FastAPI, voxfit serve", 0, 0, 0, 0, NULL, NULL},
        {"--llm-server", NULL, VF_OPT_CHOICE, &llm_server, "S", "what serves a llama.cpp LLM", "llama-server", 0, 0, 0, 0, llm_srv, NULL},
        {"--host", NULL, VF_OPT_STR, &host, "ADDR", "address the engines listen on", "127.0.0.1", 0, 0, 0, 0, NULL, NULL},
        {"--port-base", NULL, VF_OPT_INT, &port_base, "N", "ports: LLM N, STT N+1, TTS N+2 (0: free ports)", "8000", 0, 65533, 0, 0, NULL, NULL},
        {"--ready-timeout", NULL, VF_OPT_INT, &ready_timeout, "SECONDS", "how long an engine may take to answer its readiness URL", "600", 1, 86400, 0, 0, NULL, NULL},
        {"--stop-timeout", NULL, VF_OPT_INT, &stop_timeout, "SECONDS", "SIGTERM to SIGKILL when stopping an engine", "10", 0, 600, 0, 0, NULL, NULL},
        {"--settle", NULL, VF_OPT_INT, &settle_ms, "MS", "after readiness, watch the engine's memory this long", "1500", 0, 600000, 0, 0, NULL, NULL},
        {"--tolerance", NULL, VF_OPT_DOUBLE, &tolerance, "PCT", "percent beyond its plan an engine may take before the ladder steps in", "10", 0, 0, 0, 1000, NULL, NULL},
        {"--tolerance-min", NULL, VF_OPT_SIZE, &tolerance_min, "SIZE", "the least an engine may take beyond its plan, whatever the percent", "64MiB", 0, 0, 0, 0, NULL, NULL},
        {"--max-fallbacks", NULL, VF_OPT_INT, &max_fallbacks, "N", "ladder steps in all (shorter context, KV precision, smaller Whisper, fewer GPU layers, smaller LLM)", "10", 0, 100, 0, 0, NULL, NULL},
        {"--max-restarts", NULL, VF_OPT_INT, &max_restarts, "N", "restarts of an engine that crashes while running (not out of memory)", "2", 0, 100, 0, 0, NULL, NULL},
        {"--once", NULL, VF_OPT_FLAG, &once, NULL, "start and check the stack, then stop it and exit", "off", 0, 0, 0, 0, NULL, NULL},
        {"--dry-run", NULL, VF_OPT_FLAG, &dry, NULL, "print the engines' commands, start nothing", "off", 0, 0, 0, 0, NULL, NULL},
        {"--json", NULL, VF_OPT_FLAG, &json, NULL, "JSON events on stdout, one per line (the report goes to stderr)", "off", 0, 0, 0, 0, NULL, NULL},
        {"--log-dir", NULL, VF_OPT_STR, &log_dir, "DIR", "the engines' output, one <role>.log each", "<cache>/logs", 0, 0, 0, 0, NULL, NULL},
        {"--cache-dir", NULL, VF_OPT_STR, &cache, "DIR", "models pulled there are given to the engines as local files", "$VOXFIT_CACHE or ~/.cache/voxfit", 0, 0, 0, 0, NULL, NULL},
    };
    /* clang-format on */
    size_t n_opts = 17;
    n_opts += vf_planflags_opts(&pfl, opts + n_opts);
    const char *pos[1];
    int npos;
    enum vf_args_result ar = vf_args_parse(
        "voxfit up [--plan FILE.json | plan flags] [--engine-cmd NAME='CMD']... [options]",
        "Start the planned stack: each engine (llama-server, vLLM, a faster-whisper server,\n"
        "Kokoro-FastAPI, or voxfit serving one role) as a child process with the planned flags,\n"
        "one at a time, vLLM first, then largest first; wait for its readiness URL; check the\n"
        "memory it took (NVML per process on a GPU, resident memory on a CPU) against the plan.\n"
        "When an engine fails to start, dies out of memory or takes more than planned, fall back:\n"
        "shorter context, lower KV precision, smaller Whisper, fewer GPU layers, a smaller LLM,\n"
        "re-planning each step. Ctrl-C (or voxfit dying) stops every engine.\n"
        "Exit codes: 0 the stack came up (and was stopped), 1 it could not be started, 2 usage.",
        opts, n_opts, nrest, rest, pos, 0, &npos, stdout, stderr);
    vf_free(rest);
    if (ar != VF_ARGS_OK)
        return ar == VF_ARGS_HELP ? 0 : 2;

    struct vf_up_opts o;
    vf_up_opts_default(&o);
    for (int i = 0; i < n_cmds; i++) {
        const char *eq = strchr(engine_cmds[i], '=');
        char name[32] = "";
        if (eq && (size_t)(eq - engine_cmds[i]) < sizeof name)
            memcpy(name, engine_cmds[i], (size_t)(eq - engine_cmds[i]));
        enum vf_runner r = eq ? vf_runner_from_name(name) : VF_RUN_COUNT;
        if (r == VF_RUN_COUNT || !eq[1]) {
            fprintf(stderr,
                    "voxfit up: --engine-cmd takes NAME='CMD' with NAME one of llama.cpp, vllm, "
                    "faster-whisper, kokoro, voxfit; not '%s'\n",
                    engine_cmds[i]);
            return 2;
        }
        o.stack.cmd[r] = eq + 1;
    }
    if (plan_file && (pfl.llm || pfl.stt || pfl.tts || pfl.gpu || pfl.vram)) {
        fprintf(stderr, "voxfit up: --plan FILE takes the models and the device from the file; "
                        "leave out --llm/--stt/--tts/--gpu/--vram\n");
        return 2;
    }
    struct vf_plan_req req;
    struct vf_planfile pf;
    if (plan_file) {
        char err[512];
        if (vf_planfile_load(plan_file, &pf, err, sizeof err) != VF_OK) {
            fprintf(stderr, "voxfit up: %s: %s\n", plan_file, err);
            return 2;
        }
        vf_planfile_req(&pf, &req);
    } else {
        int code = vf_planflags_req(&pfl, &req, "voxfit up", json);
        if (code)
            return code;
    }
    char cache_buf[1024], log_buf[1100], self[1024];
    const char *cache_dir = vf_pull_default_cache(cache, cache_buf, sizeof cache_buf);
    if (!log_dir) {
        snprintf(log_buf, sizeof log_buf, "%s/logs", cache_dir);
        log_dir = log_buf;
    }
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = '\0';
    o.stack.host = host;
    o.stack.self_exe = sl > 0 ? self : "voxfit";
    o.stack.cache_dir = cache_dir;
    o.stack.llm_via_voxfit = !strcmp(llm_server, "voxfit");
    for (int r = 0; r < VF_PLAN_COMPONENTS; r++) {
        int p = port_base ? port_base + r : free_port();
        if (!p) {
            fprintf(stderr, "voxfit up: no free port on loopback\n");
            return 1;
        }
        o.stack.ports[r] = p;
    }
    o.ready_timeout_s = ready_timeout;
    o.stop_timeout_s = stop_timeout;
    o.settle_ms = settle_ms;
    o.tolerance = tolerance / 100.0;
    o.tolerance_bytes = tolerance_min;
    o.max_fallbacks = max_fallbacks;
    o.max_restarts = max_restarts;
    o.once = once;
    o.json = json;
    o.dry_run = dry;
    o.log_dir = log_dir;
    o.out = stdout;
    o.stop = &stop_flag;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "voxfit up: libcurl failed to initialise\n");
        return 1;
    }
    struct vf_up_req u;
    vf_up_req_init(&u, &req);
    if (!plan_file)
        u.ctx_floor = (uint32_t)pfl.ctx;
    int code = vf_up_run(&u, &o);
    curl_global_cleanup();
    return code;
}
