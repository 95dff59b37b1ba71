/* nvml.c - see nvml.h. The declarations below follow NVML's documented C
 * API (types by their documented layout: handles are pointers, memory sizes
 * unsigned long long, versioned structs carry sizeof | version << 24). */
#include "nvml.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef int nvml_ret;
typedef void *nvml_dev;

struct nvml_memory {          /* nvmlMemory_t */
    unsigned long long total, free, used;
};
struct nvml_memory_v2 {       /* nvmlMemory_v2_t */
    unsigned int version;
    unsigned long long total, reserved, free, used;
};
struct nvml_util {            /* nvmlUtilization_t */
    unsigned int gpu, memory;
};
struct nvml_proc {            /* nvmlProcessInfo_t (v2/v3 calls) */
    unsigned int pid;
    unsigned long long used;
    unsigned int gpu_instance, compute_instance;
};

#define NVML_OK 0
#define NVML_INSUFFICIENT_SIZE 7
#define NVML_NOT_AVAILABLE 0xFFFFFFFFFFFFFFFFull

struct vf_nvml {
    void *lib;
    nvml_ret (*init)(void);
    nvml_ret (*shutdown)(void);
    nvml_ret (*count)(unsigned int *);
    nvml_ret (*handle)(unsigned int, nvml_dev *);
    nvml_ret (*name)(nvml_dev, char *, unsigned int);
    nvml_ret (*uuid)(nvml_dev, char *, unsigned int);
    nvml_ret (*mem)(nvml_dev, struct nvml_memory *);
    nvml_ret (*mem2)(nvml_dev, struct nvml_memory_v2 *);
    nvml_ret (*util)(nvml_dev, struct nvml_util *);
    nvml_ret (*temp)(nvml_dev, int, unsigned int *);
    nvml_ret (*cc)(nvml_dev, int *, int *);
    nvml_ret (*compute_procs)(nvml_dev, unsigned int *, struct nvml_proc *);
    nvml_ret (*graphics_procs)(nvml_dev, unsigned int *, struct nvml_proc *);
    nvml_ret (*driver)(char *, unsigned int);
    const char *(*errstr)(nvml_ret);
    char driver_version[80];
};

static void *sym(void *lib, const char *a, const char *b) {
    void *p = dlsym(lib, a);
    return p || !b ? p : dlsym(lib, b);
}

int vf_nvml_open(struct vf_nvml **out, char *err, size_t errlen) {
    *out = NULL;
    const char *path = getenv("VOXFIT_NVML_LIB");
    void *lib = dlopen(path ? path : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        vf_errf(err, errlen, "NVML not available (%s): no NVIDIA driver on this machine",
                path ? path : "libnvidia-ml.so.1");
        return VF_ERR_NOTFOUND;
    }
    struct vf_nvml *nv = vf_calloc(1, sizeof *nv);
    if (!nv) {
        dlclose(lib);
        return VF_ERR_NOMEM;
    }
    nv->lib = lib;
    nv->init = sym(lib, "nvmlInit_v2", "nvmlInit");
    nv->shutdown = sym(lib, "nvmlShutdown", NULL);
    nv->count = sym(lib, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount");
    nv->handle = sym(lib, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex");
    nv->name = sym(lib, "nvmlDeviceGetName", NULL);
    nv->uuid = sym(lib, "nvmlDeviceGetUUID", NULL);
    nv->mem = sym(lib, "nvmlDeviceGetMemoryInfo", NULL);
    nv->mem2 = sym(lib, "nvmlDeviceGetMemoryInfo_v2", NULL);
    nv->util = sym(lib, "nvmlDeviceGetUtilizationRates", NULL);
    nv->temp = sym(lib, "nvmlDeviceGetTemperature", NULL);
    nv->cc = sym(lib, "nvmlDeviceGetCudaComputeCapability", NULL);
    nv->compute_procs = sym(lib, "nvmlDeviceGetComputeRunningProcesses_v3",
                            "nvmlDeviceGetComputeRunningProcesses_v2");
    nv->graphics_procs = sym(lib, "nvmlDeviceGetGraphicsRunningProcesses_v3",
                             "nvmlDeviceGetGraphicsRunningProcesses_v2");
    nv->driver = sym(lib, "nvmlSystemGetDriverVersion", NULL);
    nv->errstr = sym(lib, "nvmlErrorString", NULL);
    if (!nv->init || !nv->shutdown || !nv->count || !nv->handle || !nv->mem) {
        vf_errf(err, errlen, "NVML library lacks the functions voxfit needs");
        dlclose(lib);
        vf_free(nv);
        return VF_ERR_NOTFOUND;
    }
    nvml_ret r = nv->init();
    if (r != NVML_OK) {
        vf_errf(err, errlen, "NVML initialisation failed: %s",
                nv->errstr ? nv->errstr(r) : "error");
        dlclose(lib);
        vf_free(nv);
        return VF_ERR_BACKEND;
    }
    if (nv->driver && nv->driver(nv->driver_version, sizeof nv->driver_version) != NVML_OK)
        nv->driver_version[0] = '\0';
    *out = nv;
    return VF_OK;
}

void vf_nvml_close(struct vf_nvml *nv) {
    if (!nv)
        return;
    nv->shutdown();
    dlclose(nv->lib);
    vf_free(nv);
}

int vf_nvml_device_count(struct vf_nvml *nv) {
    unsigned int n = 0;
    return nv->count(&n) == NVML_OK ? (int)n : 0;
}

const char *vf_nvml_driver_version(struct vf_nvml *nv) { return nv->driver_version; }

static void add_procs(struct vf_nvml *nv, nvml_dev d, bool graphics,
                      struct vf_nvml_device_info *out) {
    nvml_ret (*fn)(nvml_dev, unsigned int *, struct nvml_proc *) =
        graphics ? nv->graphics_procs : nv->compute_procs;
    if (!fn)
        return;
    struct nvml_proc procs[VF_NVML_MAX_PROCS];
    unsigned int n = VF_NVML_MAX_PROCS;
    if (fn(d, &n, procs) != NVML_OK)
        return;
    for (unsigned int i = 0; i < n && out->n_procs < VF_NVML_MAX_PROCS; i++) {
        bool dup = false;
        for (int j = 0; j < out->n_procs; j++)
            if (out->procs[j].pid == procs[i].pid)
                dup = true;
        if (dup)
            continue;
        struct vf_nvml_proc *p = &out->procs[out->n_procs++];
        p->pid = procs[i].pid;
        p->used_bytes = procs[i].used == NVML_NOT_AVAILABLE ? UINT64_MAX : procs[i].used;
        p->graphics = graphics;
    }
}

int vf_nvml_device_info(struct vf_nvml *nv, int i, struct vf_nvml_device_info *out) {
    memset(out, 0, sizeof *out);
    out->util_gpu = out->util_mem = out->temperature_c = -1;
    nvml_dev d;
    if (nv->handle((unsigned int)i, &d) != NVML_OK)
        return VF_ERR_BACKEND;
    if (nv->name && nv->name(d, out->name, sizeof out->name) != NVML_OK)
        vf_strlcpy(out->name, "NVIDIA GPU", sizeof out->name);
    if (nv->uuid && nv->uuid(d, out->uuid, sizeof out->uuid) != NVML_OK)
        out->uuid[0] = '\0';
    struct nvml_memory_v2 m2 = {0};
    m2.version = (unsigned int)(sizeof m2 | (2u << 24));
    if (nv->mem2 && nv->mem2(d, &m2) == NVML_OK) {
        out->total_bytes = m2.total;
        out->reserved_bytes = m2.reserved;
        out->free_bytes = m2.free;
        out->used_bytes = m2.used;
    } else {
        struct nvml_memory m;
        if (nv->mem(d, &m) != NVML_OK)
            return VF_ERR_BACKEND;
        out->total_bytes = m.total;
        out->free_bytes = m.free;
        out->used_bytes = m.used;
    }
    struct nvml_util u;
    if (nv->util && nv->util(d, &u) == NVML_OK) {
        out->util_gpu = (int)u.gpu;
        out->util_mem = (int)u.memory;
    }
    unsigned int t;
    if (nv->temp && nv->temp(d, 0 /* NVML_TEMPERATURE_GPU */, &t) == NVML_OK)
        out->temperature_c = (int)t;
    if (nv->cc && nv->cc(d, &out->cc_major, &out->cc_minor) != NVML_OK)
        out->cc_major = out->cc_minor = 0;
    add_procs(nv, d, false, out);
    add_procs(nv, d, true, out);
    return VF_OK;
}
