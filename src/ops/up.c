/* up.c - see up.h. One loop drives everything: start the next engine and
 * wait for it (its exit, its readiness answer, the timeout, a signal),
 * measure it, and on a failure take a ladder step, re-plan, stop the
 * engines from the first one whose command changed and start again from
 * there; once all are up, watch them. Children are only ever stopped
 * through vf_child_stop, newest first. */
#include "up.h"
#include "child.h"
#include "proc.h"
#include "../core/reader.h"
#include "../core/str.h"
#include "../gpu/nvml.h"
#include "../plan/report.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void vf_up_opts_default(struct vf_up_opts *o) {
    memset(o, 0, sizeof *o);
    o->stack.host = "127.0.0.1";
    o->stack.ports[VF_ROLE_LLM] = 8000;
    o->stack.ports[VF_ROLE_STT] = 8001;
    o->stack.ports[VF_ROLE_TTS] = 8880;
    o->ready_timeout_s = 600;
    o->stop_timeout_s = 10;
    o->settle_ms = 1500;
    o->tolerance = 0.10;
    o->tolerance_bytes = 64 * VF_MIB;
    o->max_fallbacks = 10;
    o->max_restarts = 2;
    o->out = stdout;
}

/* ==== Out-of-memory messages ==== */

bool vf__up_is_oom(const char *text) {
    static const char *const pats[] = {
        "out of memory",
        "cuda_error_out_of_memory",
        "outofmemoryerror",
        "cudamalloc failed",
        "failed to allocate",
        "unable to allocate",
        "cannot allocate memory",
        "std::bad_alloc",
        "no available memory for the cache blocks",
        "not enough memory",
        "larger than the maximum number of tokens that can be stored in kv cache",
        "free memory on device",
        "insufficient memory",
        "oom-kill",
        NULL};
    size_t n = strlen(text);
    char *low = vf_malloc(n + 1);
    if (!low)
        return false;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] + 32 : text[i]);
    bool hit = false;
    for (int i = 0; pats[i] && !hit; i++)
        hit = strstr(low, pats[i]) != NULL;
    vf_free(low);
    return hit;
}

/* ==== State ==== */

enum reason { R_NONE = 0, R_EXEC, R_EXIT, R_OOM, R_CRASH, R_TIMEOUT, R_OVER, R_STOPPED };

static const char *reason_name(enum reason r) {
    static const char *n[] = {"none", "exec", "exit", "oom", "crash", "timeout", "over", "stopped"};
    return n[r];
}

struct run {
    struct vf_stack_engine eng; /* the engine as started */
    struct vf_child child;
    char log[1100];
    long log_from; /* where this attempt's output starts */
    uint64_t took;
    const char *how; /* "nvml", "nvml-device", "rss", "none" */
    uint64_t ready_ms;
    int restarts;
};

struct up {
    struct vf_up_req *u;
    const struct vf_up_opts *o;
    struct vf_plan plan;
    struct vf_stack_engine eng[VF_PLAN_COMPONENTS];
    int n;
    struct run run[VF_PLAN_COMPONENTS];
    int n_run; /* engines started: run[0 .. n_run-1] */
    struct vf_nvml *nv;
    int fallbacks;
    int restarts[VF_PLAN_COMPONENTS];
    FILE *text; /* human report */
};

static void say(struct up *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct up *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(s->text, fmt, ap);
    va_end(ap);
    fputc('\n', s->text);
    fflush(s->text);
}

/* Print a JSON event (when --json) and free it. */
static void event(struct up *s, cJSON *o) {
    if (s->o->json && o) {
        char *t = cJSON_PrintUnformatted(o);
        if (t) {
            fprintf(stdout, "%s\n", t);
            fflush(stdout);
        }
        cJSON_free(t);
    }
    cJSON_Delete(o);
}

static cJSON *ev(const char *name, const struct vf_stack_engine *e) {
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "event", name);
    if (e) {
        cJSON_AddStringToObject(o, "role", vf_role_name(e->role));
        cJSON_AddStringToObject(o, "engine", vf_engine_name(e->engine));
    }
    return o;
}

static void num(cJSON *o, const char *k, double v) {
    if (o)
        cJSON_AddNumberToObject(o, k, v);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool stopping(const struct up *s) { return s->o->stop && *s->o->stop; }

/* ==== Probes ==== */

static size_t discard(char *p, size_t sz, size_t n, void *ud) {
    (void)p;
    (void)ud;
    return sz * n;
}

/* HTTP status of a GET, or 0 when nothing answered. */
static long http_status(const char *url) {
    CURL *c = curl_easy_init();
    if (!c)
        return 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

static int gpu_index(const struct up *s) {
    return s->plan.device.index >= 0 ? s->plan.device.index : 0;
}

/* Device-wide used bytes, or 0. */
static uint64_t gpu_used(struct up *s) {
    if (!s->nv)
        return 0;
    struct vf_nvml_device_info *info = vf_malloc(sizeof *info);
    uint64_t used = 0;
    if (info && vf_nvml_device_info(s->nv, gpu_index(s), info) == VF_OK)
        used = info->total_bytes - VF_MIN(info->free_bytes, info->total_bytes);
    vf_free(info);
    return used;
}

/* What the engine's process group holds now. */
static uint64_t sample(struct up *s, struct run *r, uint64_t used_before, const char **how) {
    if (r->eng.on_gpu) {
        if (!s->nv) {
            *how = "none";
            return 0;
        }
        struct vf_nvml_device_info *info = vf_malloc(sizeof *info);
        uint64_t sum = 0, used = 0;
        bool matched = false;
        if (info && vf_nvml_device_info(s->nv, gpu_index(s), info) == VF_OK) {
            used = info->total_bytes - VF_MIN(info->free_bytes, info->total_bytes);
            int pids[256];
            int np = vf__proc_group_pids(r->child.pid, pids, 256);
            for (int k = 0; k < info->n_procs; k++)
                for (int j = 0; j < np && j < 256; j++)
                    if ((int)info->procs[k].pid == pids[j] &&
                        info->procs[k].used_bytes != UINT64_MAX) {
                        sum += info->procs[k].used_bytes;
                        matched = true;
                    }
        }
        vf_free(info);
        if (matched) {
            *how = "nvml";
            return sum;
        }
        /* no pid of ours in the list (another pid namespace): the device's change */
        *how = "nvml-device";
        return used > used_before ? used - used_before : 0;
    }
    /* RAM: what a CPU plan is about, or a CPU engine beside a GPU plan (reported only) */
    *how = "rss";
    return vf__proc_group_rss(r->child.pid);
}

/* The output of this attempt, at most the last n-1 bytes, into buf. */
static void log_tail(const struct run *r, char *buf, size_t n) {
    buf[0] = '\0';
    FILE *f = fopen(r->log, "rb");
    if (!f)
        return;
    long end = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    long from = end - (long)(n - 1);
    if (from < r->log_from)
        from = r->log_from;
    if (end > from && fseek(f, from, SEEK_SET) == 0) {
        size_t k = fread(buf, 1, (size_t)(end - from), f);
        buf[k] = '\0';
    }
    fclose(f);
}

/* The last few lines of a text, each indented, into out. */
static void last_lines(const char *text, int lines, char *out, size_t n) {
    const char *p = text + strlen(text);
    while (p > text && (p[-1] == '\n' || p[-1] == '\r'))
        p--;
    const char *end = p;
    for (int k = 0; k < lines && p > text; k++) {
        p--;
        while (p > text && p[-1] != '\n')
            p--;
    }
    out[0] = '\0';
    size_t o = 0;
    while (p < end && o + 8 < n) {
        if (o == 0 || out[o - 1] == '\n') {
            memcpy(out + o, "    | ", 6);
            o += 6;
        }
        out[o++] = *p == '\r' ? ' ' : *p;
        p++;
    }
    out[o] = '\0';
}

/* ==== Starting and stopping ==== */

static void stop_from(struct up *s, int k) {
    for (int i = s->n_run - 1; i >= k; i--) {
        struct run *r = &s->run[i];
        if (r->child.guard > 0 && !r->child.exited)
            say(s, "[%s] stopping %s (pid %d)", vf_role_name(r->eng.role),
                vf_engine_name(r->eng.engine), (int)r->child.pid);
        vf_child_stop(&r->child, s->o->stop_timeout_s * 1000);
    }
    if (s->n_run > k)
        s->n_run = k;
}

static bool same_engine(const struct vf_stack_engine *a, const struct vf_stack_engine *b) {
    if (a->runner != b->runner || a->role != b->role || a->argc != b->argc)
        return false;
    char x[4096], y[4096];
    vf_stack_cmdline(a, x, sizeof x);
    vf_stack_cmdline(b, y, sizeof y);
    return !strcmp(x, y);
}

static int start(struct up *s, int i) {
    struct run *r = &s->run[i];
    memset(r, 0, sizeof *r);
    r->child.fd = -1;
    r->eng = s->eng[i];
    /* argv/env point into the copied buffers now */
    for (int k = 0; k < r->eng.argc; k++)
        r->eng.argv[k] = r->eng.argbuf + (s->eng[i].argv[k] - s->eng[i].argbuf);
    for (int k = 0; s->eng[i].env[k]; k++)
        r->eng.env[k] = r->eng.envbuf + (s->eng[i].env[k] - s->eng[i].envbuf);
    r->restarts = s->restarts[r->eng.role];
    char cmd[4096], b[32];
    vf_stack_cmdline(&r->eng, cmd, sizeof cmd);
    snprintf(r->log, sizeof r->log, "%s/%s.log", s->o->log_dir, vf_role_name(r->eng.role));
    FILE *lf = fopen(r->log, "ab");
    if (lf) {
        time_t now = time(NULL);
        char ts[32];
        strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", localtime(&now));
        fprintf(lf, "==== voxfit up %s: %s\n", ts, cmd);
        r->log_from = ftell(lf);
        fclose(lf);
    }
    say(s, "[%s] starting %s: %s", vf_role_name(r->eng.role), vf_engine_name(r->eng.engine), cmd);
    const bool gpu_plan = s->plan.device.kind == VF_DEVICE_GPU;
    say(s, "[%s]   planned %s%s, ready when %s answers 200, log %s", vf_role_name(r->eng.role),
        vf_fmt_bytes(r->eng.on_gpu || !gpu_plan ? r->eng.planned_bytes : r->eng.planned_host_bytes,
                     b, sizeof b),
        r->eng.on_gpu ? " on the GPU"
        : gpu_plan    ? " of RAM (on the CPU)"
                      : " of RAM",
        r->eng.ready_url, r->log);
    struct vf_child_spec spec = {r->eng.argv, r->eng.env, r->log, s->o->stop_timeout_s * 1000};
    char err[256];
    int rc = vf_child_start(&spec, &r->child, err, sizeof err);
    s->n_run = i + 1;
    cJSON *o = ev("start", &r->eng);
    num(o, "pid", r->child.pid);
    cJSON_AddStringToObject(o, "command", cmd);
    cJSON_AddStringToObject(o, "ready_url", r->eng.ready_url);
    num(o, "planned_bytes", (double)r->eng.planned_bytes);
    cJSON_AddStringToObject(o, "log", r->log);
    event(s, o);
    if (rc)
        say(s, "[%s] cannot start: %s", vf_role_name(r->eng.role), err);
    return rc;
}

/* Why an engine that exited did so. */
static enum reason exit_reason(struct run *r, char *detail, size_t n) {
    char tail[8192];
    log_tail(r, tail, sizeof tail);
    int st = r->child.wait_status;
    if (r->child.exec_errno) {
        snprintf(detail, n, "cannot run '%s': %s (set its command with --engine-cmd %s='...')",
                 r->eng.argv[0], strerror(r->child.exec_errno), vf_runner_name(r->eng.runner));
        return R_EXEC;
    }
    bool oom = vf__up_is_oom(tail);
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        snprintf(detail, n, "killed by signal %d (%s)%s", sig, strsignal(sig),
                 oom              ? ": out of memory"
                 : sig == SIGKILL ? ": the kernel's out-of-memory killer?"
                                  : "");
        return oom || sig == SIGKILL ? R_OOM : R_CRASH;
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    snprintf(detail, n, "exited with code %d%s", code, oom ? ": out of memory" : "");
    if (oom)
        return R_OOM;
    return code == 127 ? R_EXEC : R_EXIT;
}

/* Wait for engine i to be ready; fills detail on failure. */
static enum reason wait_ready(struct up *s, int i, char *detail, size_t n) {
    struct run *r = &s->run[i];
    if (r->child.guard <= 0 && !r->child.exited) {
        snprintf(detail, n, "could not be started");
        return R_EXEC;
    }
    uint64_t start = r->child.started_ms;
    uint64_t deadline = start + (uint64_t)s->o->ready_timeout_s * 1000;
    int pause = 50;
    for (;;) {
        if (stopping(s))
            return R_STOPPED;
        if (vf_child_poll(&r->child))
            return exit_reason(r, detail, n);
        if (http_status(r->eng.ready_url) == 200) {
            r->ready_ms = vf__now_ms();
            return R_NONE;
        }
        if (vf__now_ms() >= deadline) {
            snprintf(detail, n, "not ready after %d s (%s never answered 200); stopped it",
                     s->o->ready_timeout_s, r->eng.ready_url);
            return R_TIMEOUT;
        }
        sleep_ms(pause);
        if (pause < 250)
            pause += 50;
    }
}

/* Sample the engine's memory for the settle period; returns R_OVER when it
 * took more than planned, R_NONE otherwise (or a failure if it died). */
static enum reason check_memory(struct up *s, int i, uint64_t used_before, char *detail, size_t n) {
    struct run *r = &s->run[i];
    uint64_t end = vf__now_ms() + (uint64_t)s->o->settle_ms;
    r->took = 0;
    r->how = "none";
    do {
        const char *how = "none";
        uint64_t v = sample(s, r, used_before, &how);
        if (v >= r->took) {
            r->took = v;
            r->how = how;
        }
        if (vf_child_poll(&r->child))
            return exit_reason(r, detail, n);
        if (vf__now_ms() >= end)
            break;
        sleep_ms(100);
    } while (!stopping(s));
    char a[32], b[32], c[32];
    const char *role = vf_role_name(r->eng.role);
    double secs = (double)(r->ready_ms - r->child.started_ms) / 1000.0;
    /* the plan's device is what is checked; RAM of a CPU engine beside a
     * GPU plan is reported against its planned host memory only */
    const bool checked = r->eng.on_gpu || s->plan.device.kind == VF_DEVICE_CPU;
    uint64_t planned = checked ? r->eng.planned_bytes : r->eng.planned_host_bytes;
    uint64_t allow = planned + s->u->extra[r->eng.role] +
                     VF_MAX((uint64_t)((double)planned * s->o->tolerance), s->o->tolerance_bytes);
    bool measured = strcmp(r->how, "none") != 0;
    bool over = checked && measured && r->took > allow;
    cJSON *o = ev("ready", &r->eng);
    num(o, "pid", r->child.pid);
    num(o, "seconds", secs);
    num(o, "took_bytes", (double)r->took);
    num(o, "planned_bytes", (double)planned);
    num(o, "allowed_bytes", (double)allow);
    cJSON_AddStringToObject(o, "measured", r->how);
    cJSON_AddBoolToObject(o, "checked", checked && measured);
    cJSON_AddBoolToObject(o, "ok", !over);
    event(s, o);
    if (!measured) {
        say(s,
            "[%s] ready in %.1f s; GPU memory not measured (no NVML on this machine), planned %s",
            role, secs, vf_fmt_bytes(planned, a, sizeof a));
        return R_NONE;
    }
    if (!checked) {
        say(s,
            "[%s] ready in %.1f s: on the CPU, took %s of RAM (resident), %s planned; not on the "
            "GPU: not checked",
            role, secs, vf_fmt_bytes(r->took, a, sizeof a), vf_fmt_bytes(planned, b, sizeof b));
        return R_NONE;
    }
    const char *src = !strcmp(r->how, "nvml")          ? "GPU, NVML per process"
                      : !strcmp(r->how, "nvml-device") ? "GPU, NVML device change"
                                                       : "RAM, resident";
    if (!over) {
        say(s, "[%s] ready in %.1f s: took %s (%s) of %s planned: ok", role, secs,
            vf_fmt_bytes(r->took, a, sizeof a), src, vf_fmt_bytes(planned, b, sizeof b));
        return R_NONE;
    }
    snprintf(detail, n, "took %s (%s), planned %s: %s over the plan",
             vf_fmt_bytes(r->took, a, sizeof a), src, vf_fmt_bytes(planned, b, sizeof b),
             vf_fmt_bytes(r->took - planned - s->u->extra[r->eng.role], c, sizeof c));
    return R_OVER;
}

/* ==== Failures and the ladder ==== */

static void report_failure(struct up *s, const struct run *r, enum reason why, const char *detail) {
    char tail[8192], lines[1200], a[32];
    log_tail(r, tail, sizeof tail);
    last_lines(tail, 4, lines, sizeof lines);
    say(s, "[%s] %s %s: %s", vf_role_name(r->eng.role), vf_engine_name(r->eng.engine),
        why == R_OVER      ? "is over its plan"
        : why == R_TIMEOUT ? "did not become ready"
                           : "failed",
        detail);
    if (lines[0] && why != R_OVER)
        say(s, "%s", lines);
    cJSON *o = ev("failed", &r->eng);
    cJSON_AddStringToObject(o, "reason", reason_name(why));
    cJSON_AddStringToObject(o, "detail", detail);
    num(o, "planned_bytes", (double)r->eng.planned_bytes);
    num(o, "took_bytes", (double)r->took);
    if (r->child.exited && !r->child.exec_errno) {
        int st = r->child.wait_status;
        if (WIFSIGNALED(st))
            num(o, "signal", WTERMSIG(st));
        else if (WIFEXITED(st))
            num(o, "exit_code", WEXITSTATUS(st));
    }
    cJSON_AddStringToObject(o, "log", r->log);
    event(s, o);
    (void)a;
}

static void plan_line(struct up *s, const char *prefix) {
    char a[32], b[32], c[32];
    say(s, "%s%s: %s total, %s free; %s planned, %s", prefix, s->plan.device.name,
        vf_fmt_bytes(s->plan.device.total_bytes, a, sizeof a),
        vf_fmt_bytes(s->plan.device.free_bytes, b, sizeof b),
        vf_fmt_bytes(s->plan.total_bytes, c, sizeof c), s->plan.fits ? "fits" : "does not fit");
    for (int i = 0; i < VF_PLAN_COMPONENTS; i++) {
        const struct vf_component *cp = &s->plan.comp[i];
        if (!cp->present)
            continue;
        char flags[512];
        vf_report_flags(cp, flags, sizeof flags);
        say(s, "  %-3s %-40s %-14s %10s  %s", vf_role_name(cp->role), vf_report_model_id(cp),
            vf_engine_name(cp->engine), vf_fmt_bytes(cp->total_bytes, a, sizeof a), flags);
    }
    cJSON *o = ev("plan", NULL);
    cJSON_AddStringToObject(o, "device", s->plan.device.name);
    num(o, "total_bytes", (double)s->plan.total_bytes);
    num(o, "device_free_bytes", (double)s->plan.device.free_bytes);
    cJSON_AddBoolToObject(o, "fits", s->plan.fits);
    cJSON *comps = cJSON_AddArrayToObject(o, "components");
    for (int i = 0; comps && i < VF_PLAN_COMPONENTS; i++) {
        const struct vf_component *cp = &s->plan.comp[i];
        if (!cp->present)
            continue;
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddStringToObject(x, "role", vf_role_name(cp->role));
        cJSON_AddStringToObject(x, "model", vf_report_model_id(cp));
        cJSON_AddStringToObject(x, "engine", vf_engine_name(cp->engine));
        num(x, "planned_bytes", (double)cp->total_bytes);
        cJSON_AddItemToArray(comps, x);
    }
    event(s, o);
}

/* Take ladder steps until a plan fits (or none is left). mask: the roles
 * that can help. Returns VF_OK with s->plan replaced, or an exit code. */
static int fall_back(struct up *s, unsigned mask, const char *why) {
    for (;;) {
        if (s->fallbacks >= s->o->max_fallbacks) {
            say(s, "voxfit up: giving up after %d fallback%s (%s)", s->fallbacks,
                s->fallbacks == 1 ? "" : "s", why);
            return 1;
        }
        char what[300];
        enum vf_step st = vf_ladder_next(s->u, &s->plan, mask, what, sizeof what);
        if (st == VF_STEP_NONE) {
            say(s,
                "voxfit up: no fallback left (%s): try a smaller --llm or --stt, or a device with "
                "more memory",
                why);
            return 1;
        }
        s->fallbacks++;
        say(s, "fallback %d/%d: %s", s->fallbacks, s->o->max_fallbacks, what);
        cJSON *o = ev("fallback", NULL);
        num(o, "step", s->fallbacks);
        num(o, "max", s->o->max_fallbacks);
        cJSON_AddStringToObject(o, "kind", vf_step_name(st));
        cJSON_AddStringToObject(o, "what", what);
        event(s, o);
        struct vf_plan np;
        char err[512] = "";
        int rc = vf_up_plan(s->u, &np, err, sizeof err);
        if (rc) {
            say(s, "voxfit up: the re-plan failed: %s", err[0] ? err : vf_status_str(rc));
            vf_plan_free(&np);
            return 1;
        }
        vf_plan_free(&s->plan);
        s->plan = np;
        plan_line(s, "re-planned for ");
        if (s->plan.fits)
            return VF_OK;
    }
}

/* Handle a failure of engine i. Returns VF_OK with s->n_run set to where
 * starting resumes, or an exit code. */
static int failed(struct up *s, int i, enum reason why, const char *detail) {
    struct run *r = &s->run[i];
    report_failure(s, r, why, detail);
    if (why == R_EXEC || why == R_EXIT || why == R_TIMEOUT || why == R_CRASH) {
        /* not a memory problem: the ladder cannot fix it */
        say(s,
            "voxfit up: %s (%s) failed, and not for lack of memory: no fallback applies; "
            "stopping everything (its output: %s)",
            vf_role_name(r->eng.role), vf_engine_name(r->eng.engine), r->log);
        return 1;
    }
    if (why == R_OVER) {
        uint64_t over = r->took > r->eng.planned_bytes ? r->took - r->eng.planned_bytes : 0;
        if (over > s->u->extra[r->eng.role])
            s->u->extra[r->eng.role] = over;
        char b[32];
        say(s, "  the re-plan keeps the %s %s took beyond its plan as extra margin",
            vf_fmt_bytes(s->u->extra[r->eng.role], b, sizeof b), vf_role_name(r->eng.role));
    }
    unsigned mask = 0;
    for (int k = 0; k <= i; k++)
        mask |= 1u << s->run[k].eng.role;
    int rc = fall_back(s, mask, detail);
    if (rc)
        return rc;
    struct vf_stack_engine ne[VF_PLAN_COMPONENTS];
    int nn = 0;
    char err[512];
    if (vf_stack_build(&s->plan, &s->o->stack, ne, &nn, err, sizeof err) != VF_OK) {
        say(s, "voxfit up: %s", err);
        return 2;
    }
    int k = 0;
    while (k < i && k < nn && s->run[k].child.guard > 0 && !s->run[k].child.exited &&
           same_engine(&s->run[k].eng, &ne[k]))
        k++;
    stop_from(s, k);
    memcpy(s->eng, ne, sizeof ne);
    for (int j = 0; j < nn; j++) {
        for (int w = 0; w < ne[j].argc; w++)
            s->eng[j].argv[w] = s->eng[j].argbuf + (ne[j].argv[w] - ne[j].argbuf);
        for (int w = 0; ne[j].env[w]; w++)
            s->eng[j].env[w] = s->eng[j].envbuf + (ne[j].env[w] - ne[j].envbuf);
    }
    s->n = nn;
    if (k)
        say(s, "  keeping %d engine%s running; starting again from the %s", k, k == 1 ? "" : "s",
            vf_role_name(s->eng[k].role));
    return VF_OK;
}

static void running_line(struct up *s) {
    char a[32], b[32];
    say(s, "voxfit up: %d engine%s running (Ctrl-C stops them):", s->n_run,
        s->n_run == 1 ? "" : "s");
    cJSON *o = ev("running", NULL);
    cJSON *arr = cJSON_AddArrayToObject(o, "engines");
    for (int i = 0; i < s->n_run; i++) {
        const struct run *r = &s->run[i];
        const bool ram = !r->eng.on_gpu && s->plan.device.kind == VF_DEVICE_GPU;
        say(s, "  %-3s %-14s pid %-7d %-34s took %10s of %10s planned%s", vf_role_name(r->eng.role),
            vf_engine_name(r->eng.engine), (int)r->child.pid, r->eng.ready_url,
            strcmp(r->how ? r->how : "none", "none") ? vf_fmt_bytes(r->took, a, sizeof a) : "?",
            vf_fmt_bytes(ram ? r->eng.planned_host_bytes : r->eng.planned_bytes, b, sizeof b),
            ram ? " (RAM)" : "");
        cJSON *x = arr ? cJSON_CreateObject() : NULL;
        if (!x)
            continue;
        cJSON_AddStringToObject(x, "role", vf_role_name(r->eng.role));
        cJSON_AddStringToObject(x, "engine", vf_engine_name(r->eng.engine));
        num(x, "pid", r->child.pid);
        num(x, "port", r->eng.port);
        cJSON_AddStringToObject(x, "ready_url", r->eng.ready_url);
        num(x, "took_bytes", (double)r->took);
        num(x, "planned_bytes", (double)r->eng.planned_bytes);
        cJSON_AddStringToObject(x, "measured", r->how ? r->how : "none");
        cJSON_AddItemToArray(arr, x);
    }
    num(o, "fallbacks", s->fallbacks);
    event(s, o);
}

static int mkdirs(const char *path) {
    char tmp[1024];
    vf_strlcpy(tmp, path, sizeof tmp);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(tmp, 0755);
        *p = '/';
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST ? VF_OK : VF_ERR_IO;
}

/* ==== The loop ==== */

static int finish(struct up *s, int code, const char *why) {
    stop_from(s, 0);
    cJSON *o = ev("done", NULL);
    num(o, "exit_code", code);
    cJSON_AddStringToObject(o, "reason", why);
    num(o, "fallbacks", s->fallbacks);
    event(s, o);
    if (s->nv)
        vf_nvml_close(s->nv);
    vf_plan_free(&s->plan);
    return code;
}

int vf_up_run(struct vf_up_req *u, const struct vf_up_opts *o) {
    struct up *s = vf_calloc(1, sizeof *s);
    if (!s)
        return 1;
    s->u = u;
    s->o = o;
    s->text = o->json ? stderr : (o->out ? o->out : stdout);
    char err[512] = "";
    int rc = vf_up_plan(u, &s->plan, err, sizeof err);
    if (rc) {
        fprintf(stderr, "voxfit up: %s\n", err[0] ? err : vf_status_str(rc));
        vf_plan_free(&s->plan);
        vf_free(s);
        return rc == VF_ERR_FIT ? 1 : 2;
    }
    plan_line(s, "voxfit up: plan for ");
    int code = 0;
    if (!s->plan.fits && (code = fall_back(s, ~0u, "the plan does not fit")) != 0) {
        code = finish(s, code, "does not fit");
        vf_free(s);
        return code;
    }
    if (vf_stack_build(&s->plan, &o->stack, s->eng, &s->n, err, sizeof err) != VF_OK) {
        say(s, "voxfit up: %s", err);
        code = finish(s, 2, "bad engine command");
        vf_free(s);
        return code;
    }
    if (o->dry_run) {
        for (int i = 0; i < s->n; i++) {
            char cmd[4096], b[32];
            vf_stack_cmdline(&s->eng[i], cmd, sizeof cmd);
            say(s, "[%s] %s\n      ready: %s  planned: %s", vf_role_name(s->eng[i].role), cmd,
                s->eng[i].ready_url, vf_fmt_bytes(s->eng[i].planned_bytes, b, sizeof b));
        }
        code = finish(s, 0, "dry run");
        vf_free(s);
        return code;
    }
    if (s->plan.device.kind == VF_DEVICE_GPU) {
        char nerr[512];
        if (vf_nvml_open(&s->nv, nerr, sizeof nerr) != VF_OK)
            say(s,
                "voxfit up: GPU memory cannot be measured (%s); engines are checked by readiness "
                "only",
                nerr);
    }
    if (mkdirs(o->log_dir) != VF_OK) {
        say(s, "voxfit up: cannot create the log folder %s: %s", o->log_dir, strerror(errno));
        code = finish(s, 1, "log folder");
        vf_free(s);
        return code;
    }
    bool announced = false;
    for (;;) {
        if (stopping(s)) {
            say(s, "voxfit up: stopping (signal)");
            code = finish(s, announced ? 0 : 1,
                          announced ? "signal" : "signal before the stack was up");
            break;
        }
        int i = s->n_run;
        if (i < s->n) {
            char detail[600] = "";
            uint64_t before = gpu_used(s);
            enum reason why =
                start(s, i) == VF_OK ? wait_ready(s, i, detail, sizeof detail) : R_EXEC;
            if (why == R_NONE)
                why = check_memory(s, i, before, detail, sizeof detail);
            if (why == R_STOPPED)
                continue;
            if (why != R_NONE) {
                if (why == R_TIMEOUT)
                    vf_child_stop(&s->run[i].child, o->stop_timeout_s * 1000);
                int frc = failed(s, i, why, detail);
                if (frc) {
                    code = finish(s, frc, reason_name(why));
                    break;
                }
            }
            announced = false;
            continue;
        }
        if (!announced) {
            running_line(s);
            announced = true;
            if (o->once) {
                code = finish(s, 0, "once");
                break;
            }
        }
        /* supervise */
        int dead = -1;
        for (int k = 0; k < s->n_run && dead < 0; k++)
            if (vf_child_poll(&s->run[k].child))
                dead = k;
        if (dead < 0) {
            sleep_ms(200);
            continue;
        }
        struct run *r = &s->run[dead];
        char detail[600];
        enum reason why = exit_reason(r, detail, sizeof detail);
        double up_s = (double)(vf__now_ms() - r->child.started_ms) / 1000.0;
        cJSON *ex = ev("exited", &r->eng);
        num(ex, "pid", r->child.pid);
        num(ex, "uptime_seconds", up_s);
        cJSON_AddStringToObject(ex, "reason", reason_name(why));
        event(s, ex);
        say(s, "[%s] %s died after %.1f s while running: %s", vf_role_name(r->eng.role),
            vf_engine_name(r->eng.engine), up_s, detail);
        if (why == R_OOM) {
            int frc = failed(s, dead, why, detail);
            if (frc) {
                code = finish(s, frc, "out of memory while running");
                break;
            }
            announced = false;
            continue;
        }
        if (s->restarts[r->eng.role] >= o->max_restarts) {
            report_failure(s, r, why, detail);
            say(s, "voxfit up: %s failed %d time%s; giving up", vf_role_name(r->eng.role),
                s->restarts[r->eng.role] + 1, s->restarts[r->eng.role] ? "s" : "");
            code = finish(s, 1, "crashed");
            break;
        }
        s->restarts[r->eng.role]++;
        say(s, "[%s] restart %d/%d (with the engines started after it, to keep the order)",
            vf_role_name(r->eng.role), s->restarts[r->eng.role], o->max_restarts);
        cJSON *re = ev("restart", &r->eng);
        num(re, "attempt", s->restarts[r->eng.role]);
        event(s, re);
        stop_from(s, dead);
        announced = false;
    }
    vf_free(s);
    return code;
}
