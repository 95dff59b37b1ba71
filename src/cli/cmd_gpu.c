/* cmd_gpu.c - `voxfit gpu`: the live GPU view (memory, utilization,
 * temperature, processes with their command lines), refreshed with
 * --watch, or the system's memory when there is no GPU. See README.md
 * "voxfit gpu" and docs/internals/ops.md. */
#include "cli.h"
#include "../core/args.h"
#include "../ops/gpuview.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static int term_width(void) {
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 0;
}

int vf_cmd_gpu(int argc, char **argv) {
    /* defaults */
    double watch = 0; /* seconds between refreshes; 0: one snapshot */
    int count = 0;    /* refreshes with --watch; 0: until Ctrl-C */
    bool json = false;
    /* clang-format off */
    const struct vf_opt opts[] = {
        {"--watch", "-w", VF_OPT_DOUBLE, &watch, "SECONDS", "refresh every SECONDS until Ctrl-C", "off", 0, 0, 0.1, 86400, NULL, NULL},
        {"--count", "-n", VF_OPT_INT, &count, "N", "with --watch: stop after N snapshots (0: never)", "0", 0, 1000000, 0, 0, NULL, NULL},
        {"--json", NULL, VF_OPT_FLAG, &json, NULL, "JSON output (one object per line with --watch)", "off", 0, 0, 0, 0, NULL, NULL},
    };
    /* clang-format on */
    const char *pos[1];
    int npos;
    enum vf_args_result ar = vf_args_parse(
        "voxfit gpu [--watch SECONDS] [--json]",
        "Show every NVIDIA GPU: memory as nvidia-smi shows it (total, reserved by the driver,\n"
        "what CUDA programs see, used, free), utilization, temperature, and the memory of each\n"
        "process on it with its command line. NVML is loaded at run time (VOXFIT_NVML_LIB\n"
        "overrides the library); without a GPU, the system's memory and largest processes.",
        opts, sizeof opts / sizeof opts[0], argc, argv, pos, 0, &npos, stdout, stderr);
    if (ar != VF_ARGS_OK)
        return ar == VF_ARGS_HELP ? 0 : 2;

    struct vf_nvml *nv = NULL;
    char err[512] = "";
    int orc = vf_nvml_open(&nv, err, sizeof err);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    const bool tty = isatty(STDOUT_FILENO);
    int code = 0;
    for (int n = 0; !stop_requested; n++) {
        struct vf_gpuview v;
        if (vf_gpuview_snapshot(nv, &v) != VF_OK) {
            vf_gpuview_free(&v);
            fprintf(stderr, "voxfit gpu: out of memory\n");
            code = 1;
            break;
        }
        if (!nv) {
            snprintf(v.nvml_error, sizeof v.nvml_error, "%s", err);
            v.nvml_failed = orc == VF_ERR_BACKEND;
        }
        if (json) {
            cJSON *o = vf_gpuview_json(&v);
            char *s = o ? (watch > 0 ? cJSON_PrintUnformatted(o) : cJSON_Print(o)) : NULL;
            if (s)
                printf("%s\n", s);
            cJSON_free(s);
            cJSON_Delete(o);
        } else {
            if (watch > 0 && tty)
                fputs("\033[H\033[J", stdout); /* home, clear: redraw in place */
            else if (n > 0)
                fputs("\n", stdout);
            vf_gpuview_print(stdout, &v, term_width());
        }
        fflush(stdout);
        if (v.nvml_failed)
            code = 1;
        vf_gpuview_free(&v);
        if (watch <= 0 || (count > 0 && n + 1 >= count))
            break;
        struct timespec ts = {(time_t)watch, (long)((watch - (double)(time_t)watch) * 1e9)};
        while (!stop_requested && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    if (orc == VF_ERR_BACKEND)
        fprintf(stderr, "voxfit gpu: %s\n", err);
    vf_nvml_close(nv);
    return code;
}
