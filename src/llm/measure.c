/* measure.c - see measure.h. */
#include "measure.h"
#include "llama_rt.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llama.h>

void vf_llama_settings_default(struct vf_llama_settings *s) {
    memset(s, 0, sizeof *s);
    s->n_gpu_layers = -1;
    s->n_ctx = 4096;
    s->n_batch = 2048;
    s->n_ubatch = 512;
    s->n_seq_max = 1;
    s->type_k = 1; /* F16 */
    s->type_v = 1;
    s->flash_attn = -1;
    s->kv_unified = false;
    s->swa_full = true;
    s->offload_kqv = true;
}

static void add_buf(struct vf_measure_result *r, const char *dev, enum vf_buf_kind kind, double mib) {
    for (int i = 0; i < r->n_bufs; i++) {
        if (r->bufs[i].kind == kind && strcmp(r->bufs[i].device, dev) == 0) {
            r->bufs[i].bytes += (uint64_t)llround(mib * 1048576.0);
            return;
        }
    }
    if (r->n_bufs >= VF_MEASURE_MAX_BUFS)
        return;
    struct vf_measured_buf *b = &r->bufs[r->n_bufs++];
    vf_strlcpy(b->device, dev, sizeof b->device);
    b->kind = kind;
    b->bytes = (uint64_t)llround(mib * 1048576.0);
}

void vf_measure_parse_log(const char *log, struct vf_measure_result *r) {
    static const struct {
        const char *marker;
        enum vf_buf_kind kind;
    } kinds[] = {
        {" model buffer size", VF_BUF_MODEL},
        {" KV buffer size", VF_BUF_KV},
        {" RS buffer size", VF_BUF_KV},
        {" compute buffer size", VF_BUF_COMPUTE},
        {" output buffer size", VF_BUF_OUTPUT},
    };
    const char *line = log;
    while (line && *line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[512];
        if (len >= sizeof buf)
            len = sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        for (size_t k = 0; k < VF_ARRAY_LEN(kinds); k++) {
            char *m = strstr(buf, kinds[k].marker);
            if (!m)
                continue;
            /* "<func>: <DEV> model buffer size = 123.45 MiB" */
            char *eq = strchr(m, '=');
            char *colon = strstr(buf, ": ");
            if (!eq || !colon || colon > m)
                break;
            *m = '\0';
            char dev[64];
            if (sscanf(colon + 2, " %63s", dev) != 1)
                break;
            double mib;
            if (sscanf(eq + 1, " %lf", &mib) == 1 && mib >= 0)
                add_buf(r, dev, kinds[k].kind, mib);
            break;
        }
        unsigned a, b;
        char *p;
        if ((p = strstr(buf, "n_ctx ")) && strstr(buf, "llama_context") && !strstr(buf, "n_ctx_seq"))
            sscanf(p, "n_ctx %*[ =] %u", &r->n_ctx);
        if ((p = strstr(buf, "offloaded ")) && sscanf(p, "offloaded %u/%u layers", &a, &b) == 2) {
            r->n_layers_offloaded = (int)a;
            r->n_layers_total = (int)b;
        }
        if ((p = strstr(buf, "flash_attn ")) && strstr(buf, "llama_context"))
            r->flash_attn = strstr(p, "enabled") ? 1 : strstr(p, "disabled") ? 0 : r->flash_attn;
        if (strstr(buf, "resolve_fused_ops: Flash Attention enabled"))
            r->flash_attn = 1;
        if (strstr(buf, "resolve_fused_ops: Flash Attention disabled"))
            r->flash_attn = 0;
        if (strstr(buf, "Flash Attention was auto, set to enabled"))
            r->flash_attn = 1;
        if (strstr(buf, "Flash Attention was auto, set to disabled"))
            r->flash_attn = 0;
        line = eol ? eol + 1 : NULL;
    }
}

static bool is_host(const char *dev) {
    return vf_str_starts(dev, "CPU") || strstr(dev, "_Host") != NULL;
}

uint64_t vf_measure_sum(const struct vf_measure_result *r, enum vf_buf_kind kind, int gpu_filter) {
    uint64_t s = 0;
    for (int i = 0; i < r->n_bufs; i++) {
        if (r->bufs[i].kind != kind)
            continue;
        bool host = is_host(r->bufs[i].device);
        if (gpu_filter == 1 && host)
            continue;
        if (gpu_filter == 0 && !host)
            continue;
        s += r->bufs[i].bytes;
    }
    return s;
}

int vf_measure_llama(const char *path, const struct vf_llama_settings *s, bool dry_run,
                     struct vf_measure_result *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->flash_attn = s->flash_attn;
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        vf_errf(err, errlen, "cannot open %s", path);
        return VF_ERR_IO;
    }
    fclose(probe);
    if (vf_llama_rt_init()) {
        vf_errf(err, errlen, "llama.cpp backends could not be loaded");
        return VF_ERR_BACKEND;
    }
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = s->n_gpu_layers;
    mp.no_alloc = dry_run;
    /* llama.cpp asserts (aborts) when asked to simulate a mapped load, so a
     * dry run always reads without mmap, as llama.cpp's own fitter does */
    if (s->no_mmap || dry_run)
        mp.load_mode = LLAMA_LOAD_MODE_NONE;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = s->n_ctx;
    cp.n_batch = s->n_batch;
    cp.n_ubatch = s->n_ubatch;
    cp.n_seq_max = s->n_seq_max;
    cp.type_k = (enum ggml_type)s->type_k;
    cp.type_v = (enum ggml_type)s->type_v;
    cp.flash_attn_type = s->flash_attn < 0 ? LLAMA_FLASH_ATTN_TYPE_AUTO
                       : s->flash_attn ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                                       : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.kv_unified = s->kv_unified;
    cp.swa_full = s->swa_full;
    cp.offload_kqv = s->offload_kqv;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vf_llama_rt_capture_begin();
    struct llama_model *model = llama_model_load_from_file(path, mp);
    struct llama_context *ctx = model ? llama_init_from_model(model, cp) : NULL;
    char *log = vf_llama_rt_capture_end();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->load_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    int rc = VF_OK;
    if (log)
        vf_measure_parse_log(log, r);
    if (!model || !ctx) {
        /* the last error line llama.cpp printed says why */
        const char *why = "see the log with --log-level debug";
        char last[256] = "";
        for (const char *p = log; p && *p;) {
            const char *eol = strchr(p, '\n');
            size_t n = eol ? (size_t)(eol - p) : strlen(p);
            if (n && (strstr(p, "error") || strstr(p, "failed")) && n < sizeof last) {
                memcpy(last, p, n);
                last[n] = '\0';
            }
            p = eol ? eol + 1 : NULL;
        }
        vf_errf(err, errlen, "llama.cpp could not %s %s: %s", model ? "create a context for" : "load",
                path, last[0] ? last : why);
        rc = VF_ERR_BACKEND;
    } else {
        r->n_ctx = llama_n_ctx(ctx);
    }
    vf_free(log);
    if (ctx)
        llama_free(ctx);
    if (model)
        llama_model_free(model);
    return rc;
}
