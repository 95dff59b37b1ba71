/* nvml.h - NVIDIA's management library loaded at run time with dlopen, so
 * one voxfit binary runs on machines with and without a GPU driver. Only
 * the stable functions voxfit needs are declared (no nvml.h is needed to
 * build). The library path can be overridden with VOXFIT_NVML_LIB. */
#ifndef VF_NVML_H
#define VF_NVML_H

#include "../core/vf.h"

struct vf_nvml;

#define VF_NVML_MAX_PROCS 64

struct vf_nvml_proc {
    uint32_t pid;
    uint64_t used_bytes;        /* UINT64_MAX when the driver does not say */
    bool graphics;              /* a graphics (not compute) process */
};

struct vf_nvml_device_info {
    char name[96];
    char uuid[96];
    uint64_t total_bytes;       /* NVML total (includes driver-reserved memory) */
    uint64_t reserved_bytes;    /* driver-reserved (0 when the driver is too old to say) */
    uint64_t free_bytes;
    uint64_t used_bytes;
    int cc_major, cc_minor;
    int util_gpu, util_mem;     /* percent, -1 when unavailable */
    int temperature_c;          /* -1 when unavailable */
    struct vf_nvml_proc procs[VF_NVML_MAX_PROCS];
    int n_procs;
};

/* Load and initialise NVML. VF_ERR_NOTFOUND when no library or no driver
 * (err says which), VF_ERR_BACKEND when initialisation fails. */
int vf_nvml_open(struct vf_nvml **out, char *err, size_t errlen);
void vf_nvml_close(struct vf_nvml *nv);
int vf_nvml_device_count(struct vf_nvml *nv);
/* Query device i. VF_OK, or VF_ERR_BACKEND when NVML refuses. */
int vf_nvml_device_info(struct vf_nvml *nv, int i, struct vf_nvml_device_info *out);
/* The driver version string ("580.159.04"), or "" */
const char *vf_nvml_driver_version(struct vf_nvml *nv);

#endif
