/* cmd_pull.c - `voxfit pull`: download models from the Hugging Face Hub
 * into the cache (resumable, checksummed), list the cache, or pull the
 * whole planned stack (--auto, --plan). See README.md "voxfit pull" and
 * docs/internals/ops.md. */
#include "cli.h"
#include "../core/args.h"
#include "../core/str.h"
#include "../ops/planreq.h"
#include "../ops/pull.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_MODELS 16

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

struct item {
    char model[256];
    const char *hint; /* engine name, or NULL */
    int role;         /* enum vf_role, -1 unknown */
};

/* A model reference that names a file or folder here, not the hub. */
static bool is_local(const char *m) { return m[0] == '/' || m[0] == '.' || access(m, F_OK) == 0; }

static void add_item(struct item *items, int *n, const char *model, const char *hint, int role) {
    if (*n >= MAX_MODELS || !model || !*model || !strcmp(model, "none"))
        return;
    vf_strlcpy(items[*n].model, model, sizeof items[*n].model);
    items[*n].hint = hint;
    items[*n].role = role;
    (*n)++;
}

static const char *flag_of(int role) {
    return role == VF_ROLE_LLM ? "--llm" : role == VF_ROLE_STT ? "--stt" : "--tts";
}

static void advise(FILE *f, const struct item *it0, const struct vf_pull_result *r,
                   const char *endpoint) {
    struct item one = *it0, *it = &one;
    struct vf_hub_want w;
    char e2[512];
    if (it->role < 0 && vf__hub_want_for(it->model, it->hint, NULL, &w, e2, sizeof e2) == VF_OK) {
        it->role = w.role;
        if (!it->hint)
            it->hint = w.kind == VF_HUB_SAFETENSORS ? "vllm"
                       : w.kind == VF_HUB_CT2       ? "faster-whisper"
                                                    : NULL;
    }
    if (r->expected[0] && r->repo[0])
        fprintf(f, "    needs %s from %s/%s\n", r->expected, endpoint, r->repo);
    const char *what =
        it->role == VF_ROLE_LLM
            ? (it->hint && !strcmp(it->hint, "vllm") ? "/path/to/hf-folder" : "/path/to/model.gguf")
        : it->role == VF_ROLE_STT
            ? (it->hint && !strcmp(it->hint, "faster-whisper") ? "/path/to/ct2-folder"
                                                               : "/path/to/ggml-model.bin")
            : "/path/to/model";
    fprintf(f, "    to use a local copy instead: %s %s  (make run: VOXFIT_ARGS='%s %s')\n",
            flag_of(it->role < 0 ? VF_ROLE_LLM : it->role), what,
            flag_of(it->role < 0 ? VF_ROLE_LLM : it->role), what);
    if (r->dir[0] && !r->unreachable)
        fprintf(f,
                "    or put the file(s) in %s/: voxfit pull checks them against the hub's\n"
                "    checksums instead of downloading\n",
                r->dir);
}

int vf_cmd_pull(int argc, char **argv) {
    /* defaults */
    const char *cache = NULL, *revision = "main", *engine = NULL, *include = NULL,
               *plan_file = NULL;
    bool list = false, json = false, dry = false, autoplan = false;
    int retries = 5, timeout = 60;
    double retry_wait = 2;
    struct vf_planflags pfl;
    vf_planflags_default(&pfl);
    static const char *const eng_ch[] = {"llama.cpp", "vllm", "whisper", "faster-whisper", NULL};
    /* clang-format off */
    struct vf_opt opts[16 + VF_PLANFLAGS_N] = {
        {"--cache-dir", NULL, VF_OPT_STR, &cache, "DIR", "the cache folder", "$VOXFIT_CACHE or ~/.cache/voxfit", 0, 0, 0, 0, NULL, NULL},
        {"--revision", NULL, VF_OPT_STR, &revision, "REV", "branch, tag or commit of the repository", "main", 0, 0, 0, 0, NULL, NULL},
        {"--engine", NULL, VF_OPT_CHOICE, &engine, "E", "the format of a catalog id: llama.cpp (GGUF), vllm (safetensors), whisper (ggml .bin), faster-whisper (CTranslate2)", "from the id", 0, 0, 0, 0, eng_ch, NULL},
        {"--include", NULL, VF_OPT_STR, &include, "GLOB", "for a repository outside the catalog: the files to fetch ('*Q4_K_M*.gguf')", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--list", NULL, VF_OPT_FLAG, &list, NULL, "list what is cached (complete, partial, missing)", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--json", NULL, VF_OPT_FLAG, &json, NULL, "JSON output (progress stays on stderr)", "off", 0, 0, 0, 0, NULL, NULL},
        {"--dry-run", NULL, VF_OPT_FLAG, &dry, NULL, "list the files and sizes, download nothing", "off", 0, 0, 0, 0, NULL, NULL},
        {"--auto", NULL, VF_OPT_FLAG, &autoplan, NULL, "pull the stack voxfit plan chooses (plan flags below apply)", "off", 0, 0, 0, 0, NULL, NULL},
        {"--plan", NULL, VF_OPT_STR, &plan_file, "FILE.json", "pull the models of a plan written by voxfit plan --json", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--retries", NULL, VF_OPT_INT, &retries, "N", "further attempts per request after a dropped connection, 5xx, a bad checksum", "5", 0, 100, 0, 0, NULL, NULL},
        {"--retry-wait", NULL, VF_OPT_DOUBLE, &retry_wait, "SECONDS", "first wait between attempts (doubles each time, at most 60)", "2", 0, 0, 0, 60, NULL, NULL},
        {"--timeout", NULL, VF_OPT_INT, &timeout, "SECONDS", "give up a transfer that receives nothing for this long", "60", 1, 3600, 0, 0, NULL, NULL},
    };
    /* clang-format on */
    size_t n_opts = 12;
    n_opts += vf_planflags_opts(&pfl, opts + n_opts);
    const char *pos[MAX_MODELS];
    int npos = 0;
    enum vf_args_result ar = vf_args_parse(
        "voxfit pull MODEL... | --auto [plan flags] | --plan FILE.json | --list",
        "Download model files from the Hugging Face Hub into the cache: the GGUF file of a\n"
        "quantization (Qwen/Qwen3-8B-GGUF:Q4_K_M), a vLLM checkpoint (Qwen/Qwen3-8B-FP8), a "
        "Whisper\n"
        "model (large-v3: whisper.cpp's ggml file; --engine faster-whisper: the CTranslate2 "
        "folder),\n"
        "Kokoro (kokoro-82m). Resumes interrupted downloads; checks sizes and sha256 against the\n"
        "hub. HF_ENDPOINT picks a mirror, HF_TOKEN opens gated repositories, HF_HUB_OFFLINE=1 "
        "only\n"
        "checks the cache.",
        opts, n_opts, argc, argv, pos, MAX_MODELS, &npos, stdout, stderr);
    if (ar != VF_ARGS_OK)
        return ar == VF_ARGS_HELP ? 0 : 2;
    char cache_buf[1024];
    const char *cache_dir = vf_pull_default_cache(cache, cache_buf, sizeof cache_buf);
    if (list)
        return vf_pull_list(stdout, cache_dir, json) == VF_OK ? 0 : 1;

    struct item items[MAX_MODELS];
    int n = 0;
    for (int i = 0; i < npos; i++)
        add_item(items, &n, pos[i], engine, -1);
    struct vf_planfile pf;
    if (plan_file) {
        char err[512];
        if (vf_planfile_load(plan_file, &pf, err, sizeof err) != VF_OK) {
            fprintf(stderr, "voxfit pull: %s: %s\n", plan_file, err);
            return 2;
        }
        add_item(items, &n, pf.llm, vf_engine_name(pf.llm_engine), VF_ROLE_LLM);
        add_item(items, &n, pf.stt, vf_engine_name(pf.stt_engine), VF_ROLE_STT);
        add_item(items, &n, pf.tts, NULL, VF_ROLE_TTS);
    }
    if (autoplan) {
        struct vf_plan_req req;
        int code = vf_planflags_req(&pfl, &req, "voxfit pull", json);
        if (code)
            return code;
        struct vf_plan p;
        char err[512] = "";
        int rc = vf_plan_make(&req, &p, err, sizeof err);
        if (rc) {
            fprintf(stderr, "voxfit pull: cannot plan the stack: %s\n",
                    err[0] ? err : vf_status_str(rc));
            vf_plan_free(&p);
            return rc == VF_ERR_FIT ? 1 : 2;
        }
        if (!json)
            printf("planned for %s:", p.device.name);
        for (int r = 0; r < VF_PLAN_COMPONENTS; r++) {
            const struct vf_component *c = &p.comp[r];
            if (!c->present)
                continue;
            if (!json)
                printf(" %s %s (%s)", vf_role_name(c->role), c->model.id,
                       vf_engine_name(c->engine));
            add_item(items, &n, c->model.id, vf_engine_name(c->engine), (int)c->role);
        }
        if (!json)
            printf("%s\n", p.fits ? "" : "  -- the plan does not fit; pulling it anyway");
        vf_plan_free(&p);
    }
    if (!n) {
        fprintf(stderr, "voxfit pull: name a model (voxfit plan --list-models), or --auto, --plan "
                        "FILE, --list\n");
        return 2;
    }

    struct vf_pull_opts o;
    vf_pull_opts_default(&o);
    o.cache_dir = cache_dir;
    const char *ep = getenv("HF_ENDPOINT");
    char endpoint[512];
    vf_strlcpy(endpoint, ep && *ep ? ep : "https://huggingface.co", sizeof endpoint);
    size_t el = strlen(endpoint);
    while (el > 0 && endpoint[el - 1] == '/')
        endpoint[--el] = '\0';
    o.endpoint = endpoint;
    o.token = getenv("HF_TOKEN");
    if (!o.token || !*o.token)
        o.token = getenv("HUGGING_FACE_HUB_TOKEN");
    o.revision = revision;
    o.include = include;
    o.retries = retries;
    o.retry_wait_s = retry_wait;
    o.stall_timeout_s = timeout;
    o.progress_bar = isatty(STDERR_FILENO);
    o.dry_run = dry;
    o.out = json ? stderr : stdout;
    o.interrupted = &interrupted;
    const char *offline = getenv("HF_HUB_OFFLINE");
    const bool is_offline = offline && (!strcmp(offline, "1") || !vf_strcasecmp(offline, "true"));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "voxfit pull: libcurl failed to initialise\n");
        return 1;
    }
    cJSON *out = json ? cJSON_CreateArray() : NULL;
    int failed = 0, usage = 0;
    struct vf_pull_result *res = vf_calloc((size_t)n, sizeof *res);
    char(*errs)[512] = vf_calloc((size_t)n, sizeof *errs);
    int *rcs = vf_calloc((size_t)n, sizeof *rcs);
    if (!res || !errs || !rcs) {
        fprintf(stderr, "voxfit pull: out of memory\n");
        failed = n;
        n = 0;
    }
    for (int i = 0; i < n && !interrupted; i++) {
        struct item *it = &items[i];
        if (is_local(it->model)) {
            fprintf(o.out, "%s: a local file or folder, nothing to download\n", it->model);
            continue;
        }
        o.engine_hint = it->hint;
        if (is_offline) {
            char path[1024];
            if (vf_pull_cached(cache_dir, it->model, it->hint, path, sizeof path) == VF_OK) {
                fprintf(o.out, "%s: cached at %s (HF_HUB_OFFLINE)\n", it->model, path);
                vf_strlcpy(res[i].path, path, sizeof res[i].path);
                continue;
            }
            struct vf_hub_want w;
            char e2[512];
            if (vf__hub_want_for(it->model, it->hint, include, &w, e2, sizeof e2) == VF_OK) {
                vf__hub_expected(&w, res[i].expected, sizeof res[i].expected);
                vf_strlcpy(res[i].repo, w.repo, sizeof res[i].repo);
            }
            snprintf(errs[i], sizeof errs[i], "not in the cache and HF_HUB_OFFLINE is set");
            rcs[i] = VF_ERR_NOTFOUND;
            res[i].unreachable = true;
            failed++;
            continue;
        }
        rcs[i] = vf_pull_model(&o, it->model, &res[i], errs[i], sizeof errs[i]);
        if (rcs[i]) {
            failed++;
            if (rcs[i] == VF_ERR_ARG || (rcs[i] == VF_ERR_NOTFOUND && !res[i].repo[0]))
                usage++;
            fprintf(stderr, "voxfit pull: %s: %s\n", it->model, errs[i]);
            if (res[i].unreachable) {
                /* no network: the rest will not do better */
                for (int k = i + 1; k < n; k++) {
                    struct vf_hub_want w;
                    char e2[512];
                    if (is_local(items[k].model) ||
                        vf__hub_want_for(items[k].model, items[k].hint, include, &w, e2,
                                         sizeof e2) != VF_OK ||
                        w.kind == VF_HUB_NONE)
                        continue;
                    char path[1024];
                    if (vf_pull_cached(cache_dir, items[k].model, items[k].hint, path,
                                       sizeof path) == VF_OK) {
                        vf_strlcpy(res[k].path, path, sizeof res[k].path);
                        fprintf(o.out, "%s: cached at %s\n", items[k].model, path);
                        continue;
                    }
                    vf__hub_expected(&w, res[k].expected, sizeof res[k].expected);
                    vf_strlcpy(res[k].repo, w.repo, sizeof res[k].repo);
                    rcs[k] = VF_ERR_IO;
                    res[k].unreachable = true;
                    snprintf(errs[k], sizeof errs[k], "not attempted: the hub cannot be reached");
                    failed++;
                }
                break;
            }
        }
    }
    if (interrupted && !failed)
        failed = 1;
    if (json) {
        for (int i = 0; i < n && out; i++) {
            cJSON *o2 = cJSON_CreateObject();
            if (!o2)
                break;
            cJSON_AddStringToObject(o2, "model", items[i].model);
            int role = items[i].role;
            struct vf_hub_want w;
            char e2[512];
            if (role < 0 && vf__hub_want_for(items[i].model, items[i].hint, include, &w, e2,
                                             sizeof e2) == VF_OK)
                role = w.role;
            if (role >= 0)
                cJSON_AddStringToObject(o2, "role", vf_role_name((enum vf_role)role));
            bool ok = rcs[i] == VF_OK && (!interrupted || res[i].path[0] || res[i].nothing);
            cJSON_AddStringToObject(o2, "status",
                                    ok ? (res[i].nothing ? "nothing" : "ok") : "failed");
            if (res[i].path[0])
                cJSON_AddStringToObject(o2, "path", res[i].path);
            if (res[i].repo[0])
                cJSON_AddStringToObject(o2, "repo", res[i].repo);
            cJSON_AddNumberToObject(o2, "bytes", (double)res[i].bytes_total);
            cJSON_AddNumberToObject(o2, "bytes_fetched", (double)res[i].bytes_fetched);
            if (rcs[i])
                cJSON_AddStringToObject(o2, "error", errs[i]);
            cJSON_AddItemToArray(out, o2);
        }
        char *s = out ? cJSON_Print(out) : NULL;
        if (s)
            printf("%s\n", s);
        cJSON_free(s);
    }
    if (failed && n) {
        fprintf(stderr, "\nvoxfit pull: %d of %d model%s not in the cache:\n", failed, n,
                n == 1 ? "" : "s");
        for (int i = 0; i < n; i++) {
            if (!rcs[i])
                continue;
            fprintf(stderr, "  %s: %s\n", items[i].model, errs[i]);
            if (rcs[i] != VF_ERR_ARG && res[i].repo[0])
                advise(stderr, &items[i], &res[i], endpoint);
        }
    }
    cJSON_Delete(out);
    vf_free(res);
    vf_free(errs);
    vf_free(rcs);
    curl_global_cleanup();
    if (failed && usage == failed)
        return 2;
    return failed ? 1 : 0;
}
