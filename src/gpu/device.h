/* device.h - the memory a plan is made for: a GPU from the built-in catalog
 * (--gpu), a bare size (--vram), the host's RAM (--device cpu), or the GPUs
 * found at run time through NVML (what other processes hold counted). */
#ifndef VF_DEVICE_H
#define VF_DEVICE_H

#include "../core/vf.h"

enum vf_device_kind { VF_DEVICE_GPU = 0, VF_DEVICE_CPU };

struct vf_device {
    char name[128];             /* "NVIDIA GeForce RTX 5070 Ti" */
    enum vf_device_kind kind;
    uint64_t total_bytes;       /* as the CUDA driver reports it (cudaMemGetInfo total) */
    uint64_t free_bytes;        /* free for our stack: total minus what others hold */
    uint64_t used_by_others;    /* bytes other processes (or the desktop) hold */
    int cc_major, cc_minor;     /* CUDA compute capability, 0 when unknown */
    int sm_count;               /* streaming multiprocessors, 0 when unknown */
    char source[24];            /* "catalog", "vram", "nvml", "cpu" */
    int index;                  /* GPU index (nvml), -1 otherwise */
    uint64_t host_ram_bytes;    /* the machine's RAM (for CPU-side buffers), 0 unknown */
};

/* Catalog entry of a GPU model. */
struct vf_gpu_spec {
    const char *name;           /* as the driver names it */
    const char *aliases;        /* '|'-separated extra names */
    uint32_t smi_mib;           /* nvidia-smi "Total" MiB */
    uint64_t cuda_total_bytes;  /* cudaMemGetInfo total */
    int cc_major, cc_minor;
    double bandwidth_gbs;       /* memory bandwidth GB/s (0 unknown) */
    int sm_count;
};

size_t vf_gpu_catalog_count(void);
const struct vf_gpu_spec *vf_gpu_catalog(size_t i);

/* Find a GPU by a lenient name: "RTX 5070 Ti", "5070ti",
 * "NVIDIA GeForce RTX 5070 Ti", "H100", "a100 80gb". NULL when unknown;
 * ambiguous names pick the most common variant. */
const struct vf_gpu_spec *vf_gpu_find(const char *name);

/* Fill dev from a catalog spec; free_bytes = total (nothing else running). */
void vf_device_from_spec(const struct vf_gpu_spec *s, struct vf_device *dev);
/* A GPU of a given size (--vram). */
void vf_device_from_vram(uint64_t bytes, struct vf_device *dev);
/* The host CPU: total = MemTotal, free = MemAvailable (/proc/meminfo). */
int vf_device_cpu(struct vf_device *dev);
/* The machine's GPUs through NVML (dlopen); *n gets the count (0 when
 * there is no GPU or no driver). Returns VF_OK even when none is found. */
int vf_device_detect(struct vf_device *devs, int max, int *n);
/* Host RAM from /proc/meminfo (0 when unreadable). */
uint64_t vf_host_ram_total(void);
uint64_t vf_host_ram_available(void);

#endif
