/* cmd_serve.c - `voxfit serve`: an OpenAI-compatible server with the LLM
 * in this process (llama.cpp, sized by the planner for this machine) or on
 * a remote OpenAI-compatible server. The plan is made and checked before
 * anything is loaded: a configuration that does not fit is refused with
 * the planner's explanation. See README.md and docs/internals/server.md. */
#include "cli.h"
#include "../core/args.h"
#include "../core/log.h"
#include "../core/reader.h"
#include "../core/str.h"
#include "../gpu/device.h"
#include "../llm/engine.h"
#include "../llm/remote.h"
#include "../ops/pull.h"
#include "../plan/plan.h"
#include "../plan/report.h"
#include "../server/server.h"
#include "../voice/voice_cli.h"

#include <dirent.h>
#include <glob.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_MAX_BYTES (64 * 1024)
#define CONFIG_MAX_KEYS 64

/* ==== --config FILE ======================================================= */

/* Read a flat YAML (or JSON) mapping of option names to scalars into argv
 * words: `port: 8080` -> "--port" "8080"; `true` flags -> "--flag"; `false`
 * leaves it out. The words are appended to args (owned strings). */
static int load_config(const char *path, char **args, int *n_args, int max, char *err, size_t errlen) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        vf_errf(err, errlen, "cannot read the config file %s", path);
        return VF_ERR_IO;
    }
    if (sb.st_size > CONFIG_MAX_BYTES) {
        vf_errf(err, errlen, "%s: larger than %d bytes", path, CONFIG_MAX_BYTES);
        return VF_ERR_TOOBIG;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        vf_errf(err, errlen, "cannot open %s", path);
        return VF_ERR_IO;
    }
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int rc = VF_OK, depth = 0, keys = 0;
    char key[64] = "";
    bool want_key = true;
    for (bool done = false; !done && !rc;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            vf_errf(err, errlen, "%s: line %zu: %s", path, p.problem_mark.line + 1,
                    p.problem ? p.problem : "not YAML");
            rc = VF_ERR_FORMAT;
            break;
        }
        switch (ev.type) {
        case YAML_MAPPING_START_EVENT:
            if (++depth > 1) {
                vf_errf(err, errlen, "%s: options must be a flat mapping (option: value)", path);
                rc = VF_ERR_FORMAT;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_ALIAS_EVENT:
            vf_errf(err, errlen, "%s: option values must be scalars", path);
            rc = VF_ERR_FORMAT;
            break;
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_SCALAR_EVENT: {
            const char *v = (const char *)ev.data.scalar.value;
            if (depth != 1) {
                vf_errf(err, errlen, "%s: expected a mapping of options", path);
                rc = VF_ERR_FORMAT;
            } else if (want_key) {
                if (++keys > CONFIG_MAX_KEYS || strlen(v) + 3 > sizeof key || !strcmp(v, "config")) {
                    vf_errf(err, errlen, "%s: bad option name '%.40s'", path, v);
                    rc = VF_ERR_FORMAT;
                }
                snprintf(key, sizeof key, "--%s", v);
                want_key = false;
            } else {
                bool b;
                bool is_bool = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !vf_parse_bool(v, &b) &&
                               strcmp(v, "0") && strcmp(v, "1");
                if (*n_args + 2 > max) {
                    rc = VF_ERR_TOOBIG;
                } else if (!is_bool) {
                    args[(*n_args)++] = vf_strdup(key);
                    args[(*n_args)++] = vf_strdup(v);
                } else if (b) {
                    args[(*n_args)++] = vf_strdup(key);
                }
                want_key = true;
            }
            break;
        }
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    fclose(f);
    for (int i = 0; i < *n_args; i++)
        if (!args[i] && !rc) {
            vf_errf(err, errlen, "out of memory");
            rc = VF_ERR_NOMEM;
        }
    return rc;
}

/* ==== Finding a catalog model's GGUF on this machine ====================== */

/* Look for the file of a catalog GGUF ("Qwen/Qwen3-8B-GGUF:Q4_K_M") in
 * --models-dir, the Hugging Face cache and llama.cpp's cache. */
static bool find_gguf(const char *ref, const char *models_dir, char *out, size_t n) {
    /* what `voxfit pull` fetched first (no network here) */
    char cache[1024];
    if (vf_pull_cached(vf_pull_default_cache(NULL, cache, sizeof cache), ref, "llama.cpp", out, n) == VF_OK)
        return true;
    char repo[200], quant[32] = "";
    vf_strlcpy(repo, ref, sizeof repo);
    char *colon = strrchr(repo, ':');
    if (colon) {
        vf_strlcpy(quant, colon + 1, sizeof quant);
        *colon = '\0';
    }
    const char *slash = strchr(repo, '/');
    const char *name = slash ? slash + 1 : repo;
    char base[160];
    vf_strlcpy(base, name, sizeof base);
    if (vf_str_ends(base, "-GGUF"))
        base[strlen(base) - 5] = '\0';
    const char *home = getenv("HOME");
    const char *hf = getenv("HF_HOME");
    char flat[200];
    vf_strlcpy(flat, repo, sizeof flat);
    for (char *p = flat; *p; p++)
        if (*p == '/')
            *p = '_';
    char hfrepo[220] = "models--";   /* the cache folder: models--Org--Name */
    for (const char *q = repo; *q && strlen(hfrepo) + 3 < sizeof hfrepo; q++) {
        size_t l = strlen(hfrepo);
        if (*q == '/') {
            hfrepo[l] = hfrepo[l + 1] = '-';
            hfrepo[l + 2] = '\0';
        } else {
            hfrepo[l] = *q;
            hfrepo[l + 1] = '\0';
        }
    }
    char pats[6][768];
    int np = 0;
    if (models_dir)
        snprintf(pats[np++], sizeof pats[0], "%s/%s*%s*.gguf", models_dir, base, quant);
    if (models_dir)
        snprintf(pats[np++], sizeof pats[0], "%s/*/%s*%s*.gguf", models_dir, base, quant);
    if (hf)
        snprintf(pats[np++], sizeof pats[0], "%s/hub/%s/snapshots/*/%s*%s*.gguf", hf, hfrepo, base, quant);
    if (home)
        snprintf(pats[np++], sizeof pats[0], "%s/.cache/huggingface/hub/%s/snapshots/*/%s*%s*.gguf", home,
                 hfrepo, base, quant);
    if (home)
        snprintf(pats[np++], sizeof pats[0], "%s/.cache/llama.cpp/%s_%s*%s*.gguf", home, flat, base, quant);
    for (int i = 0; i < np; i++) {
        glob_t g;
        if (glob(pats[i], GLOB_NOSORT, NULL, &g) == 0 && g.gl_pathc > 0) {
            vf_strlcpy(out, g.gl_pathv[0], n);
            globfree(&g);
            return true;
        }
        globfree(&g);
    }
    return false;
}

/* ==== The command ========================================================= */

static bool is_url(const char *s) {
    return s && (vf_str_starts(s, "http://") || vf_str_starts(s, "https://"));
}

int vf_cmd_serve(int argc, char **argv) {
    /* defaults */
    const char *host = "127.0.0.1";   /* loopback only; 0.0.0.0 serves every interface */
    int port = 8002;
    const char *llm = NULL;           /* NULL: the planner chooses for this machine */
    const char *model_name = NULL;    /* served id; default: file name / catalog id / upstream's */
    const char *llm_api_key = NULL;   /* key for a remote --llm URL (also VOXFIT_LLM_API_KEY) */
    const char *api_key = NULL;       /* clients must send it (also VOXFIT_API_KEY) */
    const char *config = NULL, *device = "auto", *kv_type = NULL, *llm_args = NULL, *models_dir = NULL;
    const char *log_format = "text", *log_level = NULL;
    int ctx = 4096, max_ctx = 0, sessions = 4, threads = 0, queue = 16, queue_timeout_ms = 60000;
    int max_conn = 64, request_timeout_ms = 30000, keep_alive_ms = 60000, grace_ms = 10000;
    uint64_t margin = 512 * VF_MIB, max_body = 4 * VF_MIB, max_header = 16 * VF_KIB;
    bool no_warmup = false, dry_run = false, no_prompt_cache = false;
    const char *role = "all";         /* all, or one stage alone (voxfit up runs engines this way) */
    static const char *const role_ch[] = {"all", "llm", "stt", "tts", NULL};
    struct vf_voice_cli voice_cli = VF_VOICE_CLI_DEFAULTS; /* --stt, --tts ...: the voice loop */
    static const char *const dev_ch[] = {"auto", "gpu", "cpu", NULL};
    static const char *const kv_ch[] = {"f16", "q8_0", "q4_0", NULL};
    static const char *const fmt_ch[] = {"text", "json", NULL};
    static const char *const lvl_ch[] = {"debug", "info", "warn", "error", NULL};
    const struct vf_opt opts[] = {
        {"--host", NULL, VF_OPT_STR, &host, "ADDR", "IPv4 address to listen on (0.0.0.0: all interfaces)", "127.0.0.1", 0, 0, 0, 0, NULL, NULL},
        {"--port", NULL, VF_OPT_INT, &port, "N", "TCP port", "8002", 0, 65535, 0, 0, NULL, NULL},
        {"--llm", NULL, VF_OPT_STR, &llm, "MODEL|FILE|URL", "catalog id, .gguf file, or an OpenAI-compatible server's http(s)://.../v1 URL", "chosen by the planner", 0, 0, 0, 0, NULL, NULL},
        {"--model-name", NULL, VF_OPT_STR, &model_name, "NAME", "model id served in /v1/models (remote: the upstream model to use)", "file name / upstream's first model", 0, 0, 0, 0, NULL, NULL},
        {"--llm-api-key", NULL, VF_OPT_STR, &llm_api_key, "KEY", "bearer key for a remote --llm URL (or VOXFIT_LLM_API_KEY)", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--models-dir", NULL, VF_OPT_STR, &models_dir, "DIR", "where to look for a catalog model's .gguf (also the Hugging Face and llama.cpp caches)", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--device", NULL, VF_OPT_CHOICE, &device, "D", "auto: the GPU NVML finds, else the CPU; cpu: run on the CPU", "auto", 0, 0, 0, 0, dev_ch, NULL},
        {"--ctx", NULL, VF_OPT_INT, &ctx, "N", "minimum context per conversation", "4096", 256, 1 << 24, 0, 0, NULL, NULL},
        {"--max-ctx", NULL, VF_OPT_INT, &max_ctx, "N", "largest context per conversation to plan (0: the model's training context)", "0", 0, 1 << 24, 0, 0, NULL, NULL},
        {"--sessions", NULL, VF_OPT_INT, &sessions, "N", "conversations decoded at once (parallel sequences in one context)", "4", 1, 64, 0, 0, NULL, NULL},
        {"--kv-type", NULL, VF_OPT_CHOICE, &kv_type, "T", "KV cache type", "f16", 0, 0, 0, 0, kv_ch, NULL},
        {"--margin", NULL, VF_OPT_SIZE, &margin, "SIZE", "free memory the plan must leave", "512MiB", 0, 0, 0, 0, NULL, NULL},
        {"--llm-args", NULL, VF_OPT_STR, &llm_args, "'FLAGS'", "llama.cpp flags that override the plan ('-c 8192 -ngl 20 -ub 256')", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--threads", "-t", VF_OPT_INT, &threads, "N", "CPU threads for llama.cpp (0: half the online CPUs)", "0", 0, 1024, 0, 0, NULL, NULL},
        {"--queue", NULL, VF_OPT_INT, &queue, "N", "requests that may wait for a free slot; more get 429", "16", 0, 4096, 0, 0, NULL, NULL},
        {"--queue-timeout", NULL, VF_OPT_INT, &queue_timeout_ms, "MS", "a request waiting longer for a slot gets 503", "60000", 1, 3600000, 0, 0, NULL, NULL},
        {"--api-key", NULL, VF_OPT_STR, &api_key, "KEY", "require 'Authorization: Bearer KEY' on /v1/* (or VOXFIT_API_KEY)", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--max-connections", NULL, VF_OPT_INT, &max_conn, "N", "connections served at once (worker threads)", "64", 2, 4096, 0, 0, NULL, NULL},
        {"--max-body", NULL, VF_OPT_SIZE, &max_body, "SIZE", "largest request body (413 above)", "4MiB", 0, 0, 0, 0, NULL, NULL},
        {"--max-header", NULL, VF_OPT_SIZE, &max_header, "SIZE", "largest request line + headers", "16KiB", 0, 0, 0, 0, NULL, NULL},
        {"--request-timeout", NULL, VF_OPT_INT, &request_timeout_ms, "MS", "time allowed for a request's headers, and for each send to a client", "30000", 100, 3600000, 0, 0, NULL, NULL},
        {"--keep-alive-timeout", NULL, VF_OPT_INT, &keep_alive_ms, "MS", "idle time allowed between requests on a connection", "60000", 100, 3600000, 0, 0, NULL, NULL},
        {"--shutdown-grace", NULL, VF_OPT_INT, &grace_ms, "MS", "on SIGINT/SIGTERM, time running requests get to finish before they are cancelled", "10000", 0, 3600000, 0, 0, NULL, NULL},
        {"--log-format", NULL, VF_OPT_CHOICE, &log_format, "F", "log lines as text or JSON objects", "text", 0, 0, 0, 0, fmt_ch, NULL},
        {"--log-level", NULL, VF_OPT_CHOICE, &log_level, "L", "least severe level printed", "info", 0, 0, 0, 0, lvl_ch, NULL},
        {"--no-warmup", NULL, VF_OPT_FLAG, &no_warmup, NULL, "skip the warm-up decode at load", "off", 0, 0, 0, 0, NULL, NULL},
        {"--no-prompt-cache", NULL, VF_OPT_FLAG, &no_prompt_cache, NULL, "decode every prompt whole (do not reuse a finished conversation's KV cells)", "off", 0, 0, 0, 0, NULL, NULL},
        {"--role", NULL, VF_OPT_CHOICE, &role, "R", "serve every stage, or only the LLM, speech-to-text or text-to-speech endpoints", "all", 0, 0, 0, 0, role_ch, NULL},
        {"--dry-run", NULL, VF_OPT_FLAG, &dry_run, NULL, "plan and print the settings, then exit without loading", "off", 0, 0, 0, 0, NULL, NULL},
        {"--config", NULL, VF_OPT_STR, &config, "FILE", "YAML/JSON mapping of these options (port: 8080); flags given here win", NULL, 0, 0, 0, 0, NULL, NULL},
        VF_VOICE_CLI_OPTS(voice_cli),
    };
    const size_t n_opts = sizeof opts / sizeof opts[0];
    static const char usage[] = "voxfit serve [--llm MODEL|FILE|URL] [--host ADDR] [--port N] [--ctx N] "
                                "[--sessions N] [--api-key KEY] [--config FILE] [options]";
    static const char desc[] =
        "Serve the OpenAI API (/v1/chat/completions, /v1/models) with /health and /metrics. The LLM\n"
        "runs in this process with the settings the planner chooses for this machine (flags override),\n"
        "or on a remote OpenAI-compatible server given as --llm http(s)://HOST/v1.";
    const char *pos[1];
    int npos;
    enum vf_args_result ar =
        vf_args_parse(usage, desc, opts, n_opts, argc, argv, pos, 0, &npos, stdout, stderr);
    if (ar != VF_ARGS_OK)
        return ar == VF_ARGS_HELP ? 0 : 2;

    /* the config file first, then the command line again so flags win */
    char *cargs[2 * CONFIG_MAX_KEYS + 2];
    int n_cargs = 0;
    int code = 0;
    struct vf_plan plan;
    bool have_plan = false;
    char **av = NULL;
    if (config) {
        char err[512];
        cargs[n_cargs++] = vf_strdup("serve");
        if (load_config(config, cargs, &n_cargs, (int)VF_ARRAY_LEN(cargs), err, sizeof err)) {
            fprintf(stderr, "voxfit serve: %s\n", err);
            code = 2;
            goto out;
        }
        av = vf_calloc((size_t)(n_cargs + argc), sizeof *av);
        if (!av) {
            code = 1;
            goto out;
        }
        for (int i = 0; i < n_cargs; i++)
            av[i] = cargs[i];
        for (int i = 1; i < argc; i++)
            av[n_cargs + i - 1] = argv[i];
        ar = vf_args_parse(usage, desc, opts, n_opts, n_cargs + argc - 1, av, pos, 0, &npos, stdout, stderr);
        if (ar != VF_ARGS_OK) {
            fprintf(stderr, "voxfit serve: (options from %s and the command line)\n", config);
            code = 2;
            goto out;
        }
    }
    if (!api_key)
        api_key = getenv("VOXFIT_API_KEY");
    if (!llm_api_key)
        llm_api_key = getenv("VOXFIT_LLM_API_KEY");
    vf_log_set_json(!strcmp(log_format, "json"));
    if (log_level) {
        enum vf_log_level lv;
        if (!vf_log_parse_level(log_level, &lv))
            vf_log_set_level(lv);
    }

    struct vf_metrics *metrics = vf_metrics_new();
    struct vf_llm *stage = NULL;
    char err[1024] = "";
    if (!metrics) {
        fprintf(stderr, "voxfit serve: out of memory\n");
        code = 1;
        goto out;
    }

    /* Block the stop signals before any thread exists: every thread
     * inherits the mask and only the main thread takes them (sigwait). */
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    signal(SIGPIPE, SIG_IGN);

    /* one stage alone: the others are off */
    if (!strcmp(role, "stt") || !strcmp(role, "tts"))
        llm = "none";
    if (!strcmp(role, "llm") || !strcmp(role, "tts"))
        voice_cli.stt = "none";
    if (!strcmp(role, "llm") || !strcmp(role, "stt"))
        voice_cli.tts = "none";
    if (llm && !strcmp(llm, "none")) {
        /* ---- no LLM: the speech endpoints only ---- */
        if (dry_run) {
            printf("llm: none\n");
            goto out_metrics;
        }
        pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
    } else if (is_url(llm)) {
        /* ---- remote LLM: nothing to plan on this machine ---- */
        if (dry_run) {
            printf("llm: remote %s\n", llm);
            goto out_metrics;
        }
        pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
        struct vf_remote_params rp;
        vf_remote_default_params(&rp);
        rp.base_url = llm;
        rp.api_key = llm_api_key;
        rp.model = model_name;
        rp.max_inflight = (uint32_t)sessions;
        rp.queue_max = (uint32_t)queue;
        rp.hooks = vf_metrics_hooks(metrics);
        if (vf_remote_open(&rp, &stage, err, sizeof err)) {
            fprintf(stderr, "voxfit serve: %s\n", err);
            code = 2;
            goto out_metrics;
        }
    } else {
        /* ---- local LLM: plan first, refuse what does not fit ---- */
        struct vf_plan_req req;
        vf_plan_req_default(&req);
        if (!strcmp(device, "cpu")) {
            if (vf_device_cpu(&req.device)) {
                fprintf(stderr, "voxfit serve: cannot read the system memory (/proc/meminfo)\n");
                code = 1;
                goto out_metrics;
            }
        } else {
            struct vf_device devs[8];
            int n = 0;
            vf_device_detect(devs, 8, &n);
            if (n > 0) {
                req.device = devs[0];
            } else if (!strcmp(device, "gpu")) {
                fprintf(stderr, "voxfit serve: no NVIDIA GPU found (no driver / NVML)\n");
                code = 1;
                goto out_metrics;
            } else if (vf_device_cpu(&req.device)) {
                fprintf(stderr, "voxfit serve: no GPU found and the system memory is unreadable\n");
                code = 1;
                goto out_metrics;
            }
        }
        req.llm = llm;
        /* the embedded Whisper shares this process and its memory: plan them together */
        req.stt = voice_cli.stt && strcmp(voice_cli.stt, "none") && !is_url(voice_cli.stt) ? voice_cli.stt : "none";
        req.stt_engine = VF_ENGINE_WHISPER;
        req.tts = voice_cli.tts && !strcmp(voice_cli.tts, "espeak") ? "espeak" : "none";
        req.llm_engine = VF_ENGINE_LLAMACPP;
        req.llm_args = llm_args;
        req.min_ctx = (uint32_t)ctx;
        req.max_ctx = (uint32_t)max_ctx;
        req.sessions = (uint32_t)sessions;
        req.margin_bytes = margin;
        if (kv_type)
            req.kv_type = vf_dtype_from_name(kv_type);
        int rc = vf_plan_make(&req, &plan, err, sizeof err);
        have_plan = true;
        if (rc) {
            fprintf(stderr, "voxfit serve: %s\n", err[0] ? err : vf_status_str(rc));
            code = rc == VF_ERR_FIT ? 1 : 2;
            goto out_metrics;
        }
        struct vf_component *c = &plan.comp[VF_ROLE_LLM];
        if (!c->present) {
            fprintf(stderr, "voxfit serve: the plan has no LLM\n");
            code = 2;
            goto out_metrics;
        }
        if (!plan.fits) {
            vf_report_text(stderr, &plan, true);
            fprintf(stderr, "voxfit serve: this configuration does not fit %s (see the plan above); "
                    "nothing was loaded. Lower --ctx or --sessions, choose a smaller --llm or --kv-type.\n",
                    plan.device.name);
            code = 1;
            goto out_metrics;
        }
        char path[1024];
        if (c->model.from_catalog) {
            if (!find_gguf(c->model.id, models_dir, path, sizeof path)) {
                fprintf(stderr, "voxfit serve: the planned model %s is not on this machine: fetch it with "
                        "'voxfit pull %s', or pass --llm FILE or --models-dir DIR.\n", c->model.id, c->model.id);
                code = 1;
                goto out_metrics;
            }
        } else {
            vf_strlcpy(path, c->model.id, sizeof path);
        }
        char flags[256];
        vf_report_flags(c, flags, sizeof flags);
        vf_log(VF_LOG_INFO, "serve", "plan for %s: %s %s (%s), %.2f GiB of %.2f GiB", plan.device.name,
               path, flags, vf_placement_name(c->placement), (double)plan.total_bytes / (double)VF_GIB,
               (double)plan.device.free_bytes / (double)VF_GIB);
        if (dry_run) {
            printf("llm: %s\nsettings: %s\n", path, flags);
            goto out_metrics;
        }
        struct vf_engine_params ep;
        vf_engine_default_params(&ep);
        ep.model_path = path;
        ep.model_id = model_name ? model_name : c->model.from_catalog ? c->model.id : NULL;
        ep.n_gpu_layers = plan.device.kind == VF_DEVICE_CPU ? 0 : c->llama.n_gpu_layers;
        ep.n_ctx = c->llama.n_ctx;
        ep.n_batch = c->llama.n_batch;
        ep.n_ubatch = c->llama.n_ubatch;
        ep.n_seq_max = c->llama.n_seq_max;
        ep.type_k = (int)c->llama.type_k;
        ep.type_v = (int)c->llama.type_v;
        ep.flash_attn = c->llama.flash_attn;
        ep.kv_unified = c->llama.kv_unified;
        ep.swa_full = c->llama.swa_full;
        ep.mmap = c->llama.mmap;
        ep.offload_kqv = c->llama.offload_kqv;
        ep.n_threads = threads;
        ep.queue_max = (uint32_t)queue;
        ep.queue_timeout_ms = queue_timeout_ms;
        ep.hooks = vf_metrics_hooks(metrics);
        ep.warmup = !no_warmup;
        ep.prompt_cache = !no_prompt_cache;
        pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
        if (vf_engine_open(&ep, &stage, err, sizeof err)) {
            fprintf(stderr, "voxfit serve: %s\n", err);
            code = 1;
            goto out_metrics;
        }
    }

    struct vf_server_params sp;
    vf_server_default_params(&sp);
    sp.http.host = host;
    sp.http.port = port;
    sp.http.max_connections = max_conn;
    sp.http.max_body_bytes = (size_t)max_body;
    sp.http.max_header_bytes = (size_t)max_header;
    sp.http.request_timeout_ms = request_timeout_ms;
    sp.http.keep_alive_timeout_ms = keep_alive_ms;
    sp.http.body_timeout_ms = request_timeout_ms * 2;
    sp.api_key = api_key && api_key[0] ? api_key : NULL;
    sp.log_json = !strcmp(log_format, "json");
    struct vf_server *srv = NULL;
    struct vf_voice *voice = NULL;
    if (vf_server_init(&sp, stage, metrics, &srv, err, sizeof err) ||
        vf_voice_serve_attach(vf_server_http(srv), stage, &voice_cli, &voice, err, sizeof err) ||
        vf_server_start(srv, err, sizeof err)) {
        fprintf(stderr, "voxfit serve: %s\n", err);
        vf_server_free(srv);
        vf_voice_free(voice);
        vf_llm_free(stage);
        code = 1;
        goto out_metrics;
    }
    vf_log(VF_LOG_INFO, "serve", "listening on http://%s:%d (OpenAI API under /v1, /health, /metrics)%s",
           host, vf_server_port(srv), sp.api_key ? "; an API key is required" : "");
    int sig = 0;
    sigwait(&stop_sigs, &sig);
    vf_log(VF_LOG_INFO, "serve", "%s: stopping (up to %d ms for running requests)",
           sig == SIGINT ? "SIGINT" : "SIGTERM", grace_ms);
    int cut = vf_server_shutdown(srv, grace_ms);
    vf_server_free(srv);
    vf_voice_free(voice);
    vf_llm_free(stage);
    vf_log(VF_LOG_INFO, "serve", "stopped%s", cut ? " (some requests were cancelled)" : "");
out_metrics:
    vf_metrics_free(metrics);
out:
    if (have_plan)
        vf_plan_free(&plan);
    for (int i = 0; i < n_cargs; i++)
        vf_free(cargs[i]);
    vf_free(av);
    return code;
}
