/* nvml.c - see nvml.h. The declarations below follow NVML's documented C
 * API (types by their documented layout: handles are pointers, memory sizes
 * unsigned long long, versioned structs carry sizeof | version << 24).
 * Layouts, return codes and the R535 process-struct trap are documented in
 * docs/internals/ops.md. */
#include "nvml.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
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
/* nvmlProcessInfo_t (v2/v3 calls): pid@0, used@8, gi@16, ci@20, 24 bytes.
 * The v1 call writes pid@0, used@8 (16 bytes); the first R535 drivers wrote
 * a 32-byte entry (usedGpuCcProtectedMemory@24) from the v3 call. Entries
 * are decoded from raw bytes at these offsets, never through a C array of
 * an assumed size. */
_Static_assert(sizeof(struct nvml_memory_v2) == 40, "nvmlMemory_v2_t is 40 bytes");
_Static_assert(offsetof(struct nvml_memory_v2, total) == 8, "nvmlMemory_v2_t.total at 8");
_Static_assert(sizeof(struct nvml_memory) == 24, "nvmlMemory_t is 24 bytes");

#define NVML_OK 0
#define NVML_INSUFFICIENT_SIZE 7
#define NVML_DRIVER_NOT_LOADED 9
#define NVML_LIB_RM_VERSION_MISMATCH 18
#define NVML_NOT_AVAILABLE 0xFFFFFFFFFFFFFFFFull
#define PROC_ENTRY_MAX 32         /* the largest entry a driver has written */
#define PROC_COUNT_MAX 4096       /* bound on what we ask the driver for */

typedef nvml_ret (*procs_fn)(nvml_dev, unsigned int *, void *);

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
    procs_fn compute_procs, graphics_procs;
    int proc_stride;          /* first guess for the entry size: 16, 24 or 32 */
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
    if (!lib && !path)
        lib = dlopen("libnvidia-ml.so", RTLD_NOW | RTLD_LOCAL);
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
    /* The _v3 calls take 24-byte entries in every official header; the
     * first R535 drivers wrote 32. nvitop's tell: those drivers export
     * nvmlDeviceGetConfComputeMemSizeInfo but not yet
     * nvmlDeviceGetRunningProcessDetailList. The guess is checked on the
     * data (vf__nvml_decode_procs). */
    nv->compute_procs = (procs_fn)sym(lib, "nvmlDeviceGetComputeRunningProcesses_v3", NULL);
    nv->graphics_procs = (procs_fn)sym(lib, "nvmlDeviceGetGraphicsRunningProcesses_v3", NULL);
    nv->proc_stride = dlsym(lib, "nvmlDeviceGetConfComputeMemSizeInfo") &&
                      !dlsym(lib, "nvmlDeviceGetRunningProcessDetailList") ? 32 : 24;
    if (!nv->compute_procs) {
        nv->compute_procs = (procs_fn)sym(lib, "nvmlDeviceGetComputeRunningProcesses_v2", NULL);
        nv->graphics_procs = (procs_fn)sym(lib, "nvmlDeviceGetGraphicsRunningProcesses_v2", NULL);
        nv->proc_stride = 24;
    }
    if (!nv->compute_procs) {
        nv->compute_procs = (procs_fn)sym(lib, "nvmlDeviceGetComputeRunningProcesses", NULL);
        nv->graphics_procs = (procs_fn)sym(lib, "nvmlDeviceGetGraphicsRunningProcesses", NULL);
        nv->proc_stride = 16;
    }
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
        const char *why = nv->errstr ? nv->errstr(r) : "error";
        if (r == NVML_LIB_RM_VERSION_MISMATCH)
            vf_errf(err, errlen, "NVML initialisation failed: %s (the NVIDIA kernel module and "
                    "libnvidia-ml are from different driver versions: reboot, or reload the "
                    "nvidia module, after a driver upgrade)", why);
        else if (r == NVML_DRIVER_NOT_LOADED)
            vf_errf(err, errlen, "NVML initialisation failed: %s (the NVIDIA kernel module is "
                    "not loaded)", why);
        else
            vf_errf(err, errlen, "NVML initialisation failed: %s (code %d)", why, r);
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

static uint32_t rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t rd64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Whether n entries of the given size look like real process entries. */
static bool procs_sane(const uint8_t *buf, unsigned int n, int stride, uint64_t pid_max,
                       uint64_t total) {
    for (unsigned int i = 0; i < n; i++) {
        const uint8_t *e = buf + (size_t)i * (size_t)stride;
        uint32_t pid = rd32(e);
        uint64_t used = rd64(e + 8);
        if (pid == 0 || pid > pid_max)
            return false;
        if (used != NVML_NOT_AVAILABLE && total && used > total)
            return false;
        if (stride >= 24) {
            uint32_t gi = rd32(e + 16), ci = rd32(e + 20);
            if ((gi != 0xFFFFFFFFu && gi > 64) || (ci != 0xFFFFFFFFu && ci > 64))
                return false;
        }
    }
    return true;
}

void vf__nvml_decode_procs(const uint8_t *buf, unsigned int n, int stride, bool graphics,
                           uint64_t pid_max, struct vf_nvml_device_info *out) {
    if (!pid_max)
        pid_max = 4194304;
    int use = 0;
    if (procs_sane(buf, n, stride, pid_max, out->total_bytes)) {
        use = stride;
    } else if (stride != 16) {
        int other = stride == 24 ? 32 : 24;
        if (procs_sane(buf, n, other, pid_max, out->total_bytes)) {
            use = other;
            out->proc_stride_switched = true;
        }
    }
    if (!use) {
        out->proc_status = VF_NVML_PROCS_GARBLED;
        return;
    }
    out->proc_stride = use;
    for (unsigned int i = 0; i < n; i++) {
        const uint8_t *e = buf + (size_t)i * (size_t)use;
        uint32_t pid = rd32(e);
        uint64_t used = rd64(e + 8);
        bool dup = false;
        for (int j = 0; j < out->n_procs; j++)
            if (out->procs[j].pid == pid)
                dup = true;
        if (dup)
            continue;
        if (out->n_procs >= VF_NVML_MAX_PROCS) {
            out->n_procs_dropped++;
            continue;
        }
        struct vf_nvml_proc *p = &out->procs[out->n_procs++];
        p->pid = pid;
        p->used_bytes = used == NVML_NOT_AVAILABLE ? UINT64_MAX : used;
        p->graphics = graphics;
    }
}

static uint64_t pid_max_now(void) {
    uint64_t v = 0;
    FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
    if (f) {
        unsigned long long x;
        if (fscanf(f, "%llu", &x) == 1)
            v = x;
        fclose(f);
    }
    return v ? v : 4194304;
}

/* NVML's protocol: ask with a zero count for the number needed, then call
 * again with room for twice that plus five (processes come and go), each
 * entry sized for the largest layout a driver has written. */
static void add_procs(struct vf_nvml *nv, nvml_dev d, bool graphics,
                      struct vf_nvml_device_info *out) {
    procs_fn fn = graphics ? nv->graphics_procs : nv->compute_procs;
    if (!fn) {
        if (!graphics)
            out->proc_status = VF_NVML_PROCS_UNSUPPORTED;
        return;
    }
    unsigned int n = 0;
    nvml_ret r = fn(d, &n, NULL);
    if (r == NVML_OK && n == 0)
        return;
    if (r != NVML_INSUFFICIENT_SIZE && r != NVML_OK) {
        out->proc_status = VF_NVML_PROCS_FAILED;
        return;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        unsigned int cap = n > PROC_COUNT_MAX ? PROC_COUNT_MAX : n * 2 + 5;
        uint8_t *buf = vf_calloc(cap, PROC_ENTRY_MAX);
        if (!buf) {
            out->proc_status = VF_NVML_PROCS_FAILED;
            return;
        }
        unsigned int got = cap;
        r = fn(d, &got, buf);
        if (r == NVML_OK) {
            if (got > cap)
                got = cap;
            vf__nvml_decode_procs(buf, got, nv->proc_stride, graphics, pid_max_now(), out);
            vf_free(buf);
            return;
        }
        vf_free(buf);
        if (r != NVML_INSUFFICIENT_SIZE || cap >= PROC_COUNT_MAX)
            break;
        n = got > n ? got : n * 2 + 5;
    }
    out->proc_status = VF_NVML_PROCS_FAILED;
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
