/* gpuview.c - see gpuview.h. Memory is shown the way nvidia-smi shows it
 * since R510 (NVML's v2 figures: total, reserved for the driver, used by
 * allocations, free), plus what CUDA programs see as their total (NVML
 * total minus reserved), which is what voxfit plans against. */
#include "gpuview.h"
#include "../core/str.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int vf_gpuview_snapshot(struct vf_nvml *nv, struct vf_gpuview *out) {
    memset(out, 0, sizeof *out);
    out->time_unix = (int64_t)time(NULL);
    vf__proc_meminfo(&out->mem);
    if (nv) {
        out->have_nvml = true;
        vf_strlcpy(out->driver, vf_nvml_driver_version(nv), sizeof out->driver);
        int n = vf_nvml_device_count(nv);
        if (n > VF_GPUVIEW_MAX_GPUS)
            n = VF_GPUVIEW_MAX_GPUS;
        if (n > 0) {
            out->gpus = vf_calloc((size_t)n, sizeof *out->gpus);
            if (!out->gpus)
                return VF_ERR_NOMEM;
        }
        for (int i = 0; i < n; i++) {
            struct vf_gpuview_gpu *g = &out->gpus[out->n_gpus];
            if (vf_nvml_device_info(nv, i, &g->info) != VF_OK)
                continue;
            for (int k = 0; k < g->info.n_procs; k++)
                if (vf__proc_cmdline((int)g->info.procs[k].pid, g->cmd[k], VF_GPUVIEW_CMD) ==
                    VF_ERR_NOMEM)
                    return VF_ERR_NOMEM;
            out->n_gpus++;
        }
    }
    if (!out->n_gpus) {
        out->n_top = vf__proc_top_rss(out->top, VF_GPUVIEW_TOP);
        for (int i = 0; i < out->n_top; i++)
            if (vf__proc_cmdline(out->top[i].pid, out->top_cmd[i], VF_GPUVIEW_CMD) == VF_ERR_NOMEM)
                return VF_ERR_NOMEM;
    }
    return VF_OK;
}

void vf_gpuview_free(struct vf_gpuview *v) {
    if (!v)
        return;
    vf_free(v->gpus);
    v->gpus = NULL;
    v->n_gpus = 0;
}

static unsigned long long mib(uint64_t b) { return (unsigned long long)(b / VF_MIB); }

/* Print s cut to fit in width columns from column col ("..." at the cut). */
static void put_cut(FILE *f, const char *s, int col, int width) {
    size_t len = strlen(s);
    if (width <= 0 || col + (int)len <= width) {
        fprintf(f, "%s\n", s);
        return;
    }
    int room = width - col;
    if (room < 8)
        room = 8;
    fprintf(f, "%.*s...\n", room - 3, s);
}

static void print_memory(FILE *f, const struct vf_gpuview *v) {
    char a[32], b[32], c[32], d[32];
    const struct vf_meminfo *m = &v->mem;
    uint64_t used = m->total_bytes > m->available_bytes ? m->total_bytes - m->available_bytes : 0;
    fprintf(f, "system memory: %s total, %s used, %s available",
            vf_fmt_bytes(m->total_bytes, a, sizeof a), vf_fmt_bytes(used, b, sizeof b),
            vf_fmt_bytes(m->available_bytes, c, sizeof c));
    if (m->swap_total_bytes)
        fprintf(f, "; swap %s of %s used",
                vf_fmt_bytes(m->swap_total_bytes - VF_MIN(m->swap_free_bytes, m->swap_total_bytes),
                             d, sizeof d),
                vf_fmt_bytes(m->swap_total_bytes, a, sizeof a));
    fprintf(f, "\n");
}

void vf_gpuview_print(FILE *f, const struct vf_gpuview *v, int width) {
    char ts[32];
    time_t t = (time_t)v->time_unix;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
    if (!v->n_gpus) {
        if (v->have_nvml)
            fprintf(f, "no NVIDIA GPU: the driver (%s) reports none          %s\n",
                    v->driver[0] ? v->driver : "version unknown", ts);
        else
            fprintf(f, "no NVIDIA GPU: %s          %s\n",
                    v->nvml_error[0] ? v->nvml_error : "NVML not available", ts);
        print_memory(f, v);
        if (v->n_top) {
            char b[32];
            fprintf(f, "\n%8s %12s  %s\n", "PID", "RSS", "COMMAND");
            for (int i = 0; i < v->n_top; i++) {
                fprintf(f, "%8d %12s  ", v->top[i].pid,
                        vf_fmt_bytes(v->top[i].rss_bytes, b, sizeof b));
                put_cut(f, v->top_cmd[i][0] ? v->top_cmd[i] : "(gone)", 23, width);
            }
        }
        return;
    }
    fprintf(f, "NVIDIA driver %s, %d GPU%s          %s\n", v->driver[0] ? v->driver : "?",
            v->n_gpus, v->n_gpus == 1 ? "" : "s", ts);
    fprintf(f, "%3s %-28s %9s %9s %9s %9s %9s %5s %6s %5s\n", "GPU", "NAME", "TOTAL", "RESERVED",
            "CUDA", "USED", "FREE", "UTIL", "MEMBW", "TEMP");
    for (int i = 0; i < v->n_gpus; i++) {
        const struct vf_nvml_device_info *g = &v->gpus[i].info;
        char util[16] = "-", bw[16] = "-", temp[16] = "-";
        if (g->util_gpu >= 0)
            snprintf(util, sizeof util, "%d%%", g->util_gpu);
        if (g->util_mem >= 0)
            snprintf(bw, sizeof bw, "%d%%", g->util_mem);
        if (g->temperature_c >= 0)
            snprintf(temp, sizeof temp, "%dC", g->temperature_c);
        fprintf(f, "%3d %-28.28s %5llu MiB %5llu MiB %5llu MiB %5llu MiB %5llu MiB %5s %6s %5s\n",
                i, g->name, mib(g->total_bytes), mib(g->reserved_bytes),
                mib(g->total_bytes - VF_MIN(g->reserved_bytes, g->total_bytes)), mib(g->used_bytes),
                mib(g->free_bytes), util, bw, temp);
    }
    fprintf(f, "\n%3s %8s %4s %12s  %s\n", "GPU", "PID", "TYPE", "MEMORY", "COMMAND");
    int shown = 0;
    for (int i = 0; i < v->n_gpus; i++) {
        const struct vf_gpuview_gpu *g = &v->gpus[i];
        for (int k = 0; k < g->info.n_procs; k++) {
            const struct vf_nvml_proc *p = &g->info.procs[k];
            char m[32] = "n/a";
            if (p->used_bytes != UINT64_MAX)
                snprintf(m, sizeof m, "%llu MiB", mib(p->used_bytes));
            fprintf(f, "%3d %8u %4s %12s  ", i, p->pid, p->graphics ? "G" : "C", m);
            put_cut(f, g->cmd[k][0] ? g->cmd[k] : "(not visible here: another pid namespace?)", 33,
                    width);
            shown++;
        }
        if (g->info.n_procs_dropped)
            fprintf(f, "%3d      ... and %d more processes\n", i, g->info.n_procs_dropped);
    }
    if (!shown)
        fprintf(f, "    (no processes on the GPU%s)\n", v->n_gpus == 1 ? "" : "s");
    for (int i = 0; i < v->n_gpus; i++) {
        const struct vf_nvml_device_info *g = &v->gpus[i].info;
        if (g->proc_stride_switched)
            fprintf(
                f,
                "note: GPU %d: the driver wrote %d-byte process entries (the R535 process-struct "
                "ABI break); read as such\n",
                i, g->proc_stride);
        if (g->proc_status == VF_NVML_PROCS_GARBLED)
            fprintf(f,
                    "note: GPU %d: the driver's process list did not decode with any known entry "
                    "size; processes not shown\n",
                    i);
        else if (g->proc_status == VF_NVML_PROCS_FAILED)
            fprintf(f, "note: GPU %d: the driver refused the process list (try as root)\n", i);
        else if (g->proc_status == VF_NVML_PROCS_UNSUPPORTED)
            fprintf(f, "note: GPU %d: this NVML has no process list call\n", i);
    }
    print_memory(f, v);
}

static void add_u64(cJSON *o, const char *k, uint64_t v) {
    cJSON_AddNumberToObject(o, k, (double)v);
}

static const char *proc_status_name(enum vf_nvml_proc_status s) {
    switch (s) {
    case VF_NVML_PROCS_OK: return "ok";
    case VF_NVML_PROCS_UNSUPPORTED: return "unsupported";
    case VF_NVML_PROCS_FAILED: return "failed";
    default: return "garbled";
    }
}

cJSON *vf_gpuview_json(const struct vf_gpuview *v) {
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddNumberToObject(root, "time_unix", (double)v->time_unix);
    cJSON_AddBoolToObject(root, "nvml", v->have_nvml);
    if (!v->have_nvml)
        cJSON_AddStringToObject(root, "nvml_error", v->nvml_error);
    cJSON_AddStringToObject(root, "driver", v->driver);
    cJSON *gpus = cJSON_AddArrayToObject(root, "gpus");
    for (int i = 0; gpus && i < v->n_gpus; i++) {
        const struct vf_gpuview_gpu *gg = &v->gpus[i];
        const struct vf_nvml_device_info *g = &gg->info;
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddItemToArray(gpus, o);
        cJSON_AddNumberToObject(o, "index", i);
        cJSON_AddStringToObject(o, "name", g->name);
        cJSON_AddStringToObject(o, "uuid", g->uuid);
        add_u64(o, "total_bytes", g->total_bytes);
        add_u64(o, "reserved_bytes", g->reserved_bytes);
        add_u64(o, "cuda_total_bytes", g->total_bytes - VF_MIN(g->reserved_bytes, g->total_bytes));
        add_u64(o, "used_bytes", g->used_bytes);
        add_u64(o, "free_bytes", g->free_bytes);
        if (g->util_gpu >= 0)
            cJSON_AddNumberToObject(o, "utilization_percent", g->util_gpu);
        else
            cJSON_AddNullToObject(o, "utilization_percent");
        if (g->util_mem >= 0)
            cJSON_AddNumberToObject(o, "memory_bandwidth_percent", g->util_mem);
        else
            cJSON_AddNullToObject(o, "memory_bandwidth_percent");
        if (g->temperature_c >= 0)
            cJSON_AddNumberToObject(o, "temperature_c", g->temperature_c);
        else
            cJSON_AddNullToObject(o, "temperature_c");
        char cc[16];
        snprintf(cc, sizeof cc, "%d.%d", g->cc_major, g->cc_minor);
        cJSON_AddStringToObject(o, "compute_capability", cc);
        cJSON_AddStringToObject(o, "process_list", proc_status_name(g->proc_status));
        cJSON_AddNumberToObject(o, "process_entry_bytes", g->proc_stride);
        cJSON_AddBoolToObject(o, "process_entry_size_corrected", g->proc_stride_switched);
        cJSON *procs = cJSON_AddArrayToObject(o, "processes");
        for (int k = 0; procs && k < g->n_procs; k++) {
            cJSON *p = cJSON_CreateObject();
            if (!p)
                break;
            cJSON_AddItemToArray(procs, p);
            cJSON_AddNumberToObject(p, "pid", g->procs[k].pid);
            cJSON_AddStringToObject(p, "type", g->procs[k].graphics ? "graphics" : "compute");
            if (g->procs[k].used_bytes == UINT64_MAX)
                cJSON_AddNullToObject(p, "used_bytes");
            else
                add_u64(p, "used_bytes", g->procs[k].used_bytes);
            if (gg->cmd[k][0])
                cJSON_AddStringToObject(p, "command", gg->cmd[k]);
            else
                cJSON_AddNullToObject(p, "command");
        }
    }
    cJSON *sys = cJSON_AddObjectToObject(root, "system");
    if (sys) {
        const struct vf_meminfo *m = &v->mem;
        add_u64(sys, "total_bytes", m->total_bytes);
        add_u64(sys, "available_bytes", m->available_bytes);
        add_u64(sys, "used_bytes",
                m->total_bytes > m->available_bytes ? m->total_bytes - m->available_bytes : 0);
        add_u64(sys, "swap_total_bytes", m->swap_total_bytes);
        add_u64(sys, "swap_free_bytes", m->swap_free_bytes);
        if (v->n_top) {
            cJSON *top = cJSON_AddArrayToObject(sys, "top_processes");
            for (int i = 0; top && i < v->n_top; i++) {
                cJSON *p = cJSON_CreateObject();
                if (!p)
                    break;
                cJSON_AddItemToArray(top, p);
                cJSON_AddNumberToObject(p, "pid", v->top[i].pid);
                add_u64(p, "rss_bytes", v->top[i].rss_bytes);
                cJSON_AddStringToObject(p, "command", v->top_cmd[i]);
            }
        }
    }
    return root;
}
