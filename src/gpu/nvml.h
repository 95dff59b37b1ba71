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

/* Whether a device's process list could be read. The entry size the
 * driver really wrote is in vf_nvml_device_info.proc_stride (16: the v1
 * call, 24: nvmlProcessInfo_t, 32: the R535 ABI break that wrote
 * nvmlProcessDetail_v1_t entries without a version bump). */
enum vf_nvml_proc_status {
    VF_NVML_PROCS_OK = 0,
    VF_NVML_PROCS_UNSUPPORTED,  /* no process call in this library */
    VF_NVML_PROCS_FAILED,       /* the driver refused the call */
    VF_NVML_PROCS_GARBLED,      /* no entry size gave sane pids: list dropped */
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
    int n_procs_dropped;        /* processes beyond VF_NVML_MAX_PROCS */
    int proc_stride;            /* bytes per process entry the driver wrote (0: none read) */
    bool proc_stride_switched;  /* the first guess gave insane pids; the other size fitted */
    enum vf_nvml_proc_status proc_status;
};

/* Load and initialise NVML (libnvidia-ml.so.1, then libnvidia-ml.so, or
 * VOXFIT_NVML_LIB). VF_ERR_NOTFOUND when no library or no driver (err says
 * which), VF_ERR_BACKEND when initialisation fails (err has NVML's reason;
 * a driver/library version mismatch says to reboot). *out is NULL on
 * failure; free with vf_nvml_close. */
int vf_nvml_open(struct vf_nvml **out, char *err, size_t errlen);
void vf_nvml_close(struct vf_nvml *nv);
int vf_nvml_device_count(struct vf_nvml *nv);
/* Query device i: memory, utilization, temperature and the processes on it
 * (compute first, then graphics, each pid once). The process list is read
 * with NVML's two-call protocol into a buffer sized for the largest entry
 * (32 bytes), and the entry size is checked: every pid must be non-zero and
 * at most pid_max, GPU/compute instance ids 0xFFFFFFFF or small, memory at
 * most the device's. VF_OK, or VF_ERR_BACKEND when NVML refuses the device
 * or its memory figures. */
int vf_nvml_device_info(struct vf_nvml *nv, int i, struct vf_nvml_device_info *out);
/* The driver version string ("580.159.04"), or "" */
const char *vf_nvml_driver_version(struct vf_nvml *nv);

/* Decode a process list the driver wrote into buf (n entries of an unknown
 * size): try stride first, then the other of 24/32 (stride 16 is tried
 * alone). Fills out->procs from index out->n_procs on (pids already there
 * are skipped) and sets proc_stride / proc_stride_switched / proc_status.
 * pid_max bounds the pids (0: 4194304). Exposed for the unit tests. */
void vf__nvml_decode_procs(const uint8_t *buf, unsigned int n, int stride, bool graphics,
                           uint64_t pid_max, struct vf_nvml_device_info *out);

#endif
