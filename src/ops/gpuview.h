/* gpuview.h - `voxfit gpu`: one snapshot of every GPU (memory as nvidia-smi
 * shows it, utilization, temperature) and of the processes on it with their
 * command lines, or of the system's memory when there is no GPU; printed as
 * a compact table or as JSON. See docs/internals/ops.md. */
#ifndef VF_OPS_GPUVIEW_H
#define VF_OPS_GPUVIEW_H

#include "../gpu/nvml.h"
#include "proc.h"

#include <cjson/cJSON.h>
#include <stdio.h>

#define VF_GPUVIEW_MAX_GPUS 16
#define VF_GPUVIEW_CMD 512
#define VF_GPUVIEW_TOP 5

struct vf_gpuview_gpu {
    struct vf_nvml_device_info info;
    char cmd[VF_NVML_MAX_PROCS][VF_GPUVIEW_CMD]; /* "" when not visible here */
};

struct vf_gpuview {
    bool have_nvml;       /* the library loaded and initialised */
    bool nvml_failed;     /* a library is there but refused to start */
    char nvml_error[512]; /* why there is no GPU view */
    char driver[80];
    int n_gpus;
    struct vf_gpuview_gpu *gpus;            /* n_gpus entries, owned */
    struct vf_meminfo mem;                  /* system memory */
    struct vf_proc_rss top[VF_GPUVIEW_TOP]; /* largest processes by RSS (no GPU) */
    char top_cmd[VF_GPUVIEW_TOP][VF_GPUVIEW_CMD];
    int n_top;
    int64_t time_unix;
};

/* Take a snapshot. nv may be NULL (no GPU: the system view only) or an
 * open NVML handle kept across --watch refreshes. Returns VF_OK or
 * VF_ERR_NOMEM; out is always safe to pass to vf_gpuview_free. */
int vf_gpuview_snapshot(struct vf_nvml *nv, struct vf_gpuview *out);
void vf_gpuview_free(struct vf_gpuview *v);

/* Print the tables. width: the terminal's columns to cut command lines at,
 * 0 for no cut. */
void vf_gpuview_print(FILE *f, const struct vf_gpuview *v, int width);
/* The snapshot as JSON (caller frees with cJSON_Delete); NULL on OOM. */
cJSON *vf_gpuview_json(const struct vf_gpuview *v);

#endif
