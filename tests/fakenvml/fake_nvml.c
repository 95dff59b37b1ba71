/* fake_nvml.c - a stand-in libnvidia-ml.so.1 for tests on machines without
 * a GPU, loaded by voxfit through VOXFIT_NVML_LIB. It exports the NVML
 * calls voxfit uses with their real signatures and struct layouts
 * (docs/internals/ops.md) and returns fixed devices and processes chosen by
 * environment variables:
 *
 *   FAKE_NVML_MODE     ok (default) | trap32 (process entries written 32
 *                      bytes apart, as the first R535 drivers did) | nogpu
 *                      (zero devices) | initfail | mismatch (init fails with
 *                      DRIVER_NOT_LOADED / LIB_RM_VERSION_MISMATCH) | v1mem
 *                      (no nvmlDeviceGetMemoryInfo_v2 support)
 *   FAKE_NVML_DEVICES  how many devices (0..2, default 2)
 *   FAKE_NVML_TOTAL    device 0's NVML total in bytes (default: an H100)
 *   FAKE_NVML_PROCS    "pid:bytes,pid:bytes": compute processes on device 0
 *   FAKE_NVML_GRAPHICS "pid:bytes": graphics processes on device 0
 *   FAKE_NVML_DIR      a folder of files named by pid holding a byte count:
 *                      processes (the test engines) that declare what they
 *                      hold; only live pids count
 *
 * Device 0's used memory is the sum of its processes; free is the rest. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define EXPORT __attribute__((visibility("default")))

enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_FUNCTION_NOT_FOUND = 13,
    NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
};

struct fake_dev {
    const char *name, *uuid;
    unsigned long long total, reserved;
    unsigned int util_gpu, util_mem, temp;
    int cc_major, cc_minor;
};

static struct fake_dev devs[2] = {
    {"NVIDIA H100 80GB HBM3", "GPU-f74deb4d-58ba-953e-b767-c696562f25c0", 85520809984ull,
     503316480ull, 37, 12, 41, 9, 0},
    {"NVIDIA GeForce RTX 4090", "GPU-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", 25757220864ull,
     396361728ull, 3, 1, 35, 8, 9},
};

struct fake_proc {
    unsigned int pid;
    unsigned long long used;
};

#define MAX_PROCS 64

static const char *mode(void) {
    const char *m = getenv("FAKE_NVML_MODE");
    return m ? m : "ok";
}

static unsigned long long env_u64(const char *name, unsigned long long def) {
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    return *end ? def : x;
}

static int parse_list(const char *s, struct fake_proc *out, int n, int max) {
    while (s && *s && n < max) {
        char *end;
        unsigned long pid = strtoul(s, &end, 10);
        if (*end != ':')
            break;
        unsigned long long used = strtoull(end + 1, &end, 10);
        out[n].pid = (unsigned int)pid;
        out[n].used = used;
        n++;
        s = *end == ',' ? end + 1 : NULL;
    }
    return n;
}

static int dir_procs(struct fake_proc *out, int n, int max) {
    const char *dir = getenv("FAKE_NVML_DIR");
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return n;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        char *end;
        unsigned long pid = strtoul(e->d_name, &end, 10);
        if (*end || !pid)
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        unsigned long long used = 0;
        if (fscanf(f, "%llu", &used) == 1) {
            out[n].pid = (unsigned int)pid;
            out[n].used = used;
            n++;
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

static int procs_of(const struct fake_dev *d, int graphics, struct fake_proc *out) {
    if (d != &devs[0])
        return 0;
    if (graphics)
        return parse_list(getenv("FAKE_NVML_GRAPHICS"), out, 0, MAX_PROCS);
    int n = parse_list(getenv("FAKE_NVML_PROCS"), out, 0, MAX_PROCS);
    return dir_procs(out, n, MAX_PROCS);
}

static unsigned long long used_of(const struct fake_dev *d) {
    struct fake_proc p[MAX_PROCS];
    unsigned long long s = 0;
    for (int g = 0; g < 2; g++) {
        int n = procs_of(d, g, p);
        for (int i = 0; i < n; i++)
            s += p[i].used;
    }
    return s;
}

static unsigned long long total_of(const struct fake_dev *d) {
    return d == &devs[0] ? env_u64("FAKE_NVML_TOTAL", d->total) : d->total;
}

static int count(void) {
    if (!strcmp(mode(), "nogpu"))
        return 0;
    unsigned long long n = env_u64("FAKE_NVML_DEVICES", 2);
    return n > 2 ? 2 : (int)n;
}

EXPORT int nvmlInit_v2(void) {
    if (!strcmp(mode(), "initfail"))
        return NVML_ERROR_DRIVER_NOT_LOADED;
    if (!strcmp(mode(), "mismatch"))
        return NVML_ERROR_LIB_RM_VERSION_MISMATCH;
    return NVML_SUCCESS;
}

EXPORT int nvmlShutdown(void) { return NVML_SUCCESS; }

EXPORT const char *nvmlErrorString(int r) {
    switch (r) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch.";
    default: return "Unknown Error";
    }
}

EXPORT int nvmlSystemGetDriverVersion(char *v, unsigned int len) {
    const char *s = !strcmp(mode(), "trap32") ? "535.54.03" : "580.159.04";
    if (len < strlen(s) + 1)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(v, s, strlen(s) + 1);
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetCount_v2(unsigned int *n) {
    *n = (unsigned int)count();
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **h) {
    if ((int)i >= count())
        return NVML_ERROR_INVALID_ARGUMENT;
    *h = &devs[i];
    return NVML_SUCCESS;
}

static int copy_str(const char *s, char *out, unsigned int len) {
    if (len < strlen(s) + 1)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(out, s, strlen(s) + 1);
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetName(void *h, char *name, unsigned int len) {
    return copy_str(((struct fake_dev *)h)->name, name, len);
}

EXPORT int nvmlDeviceGetUUID(void *h, char *uuid, unsigned int len) {
    return copy_str(((struct fake_dev *)h)->uuid, uuid, len);
}

struct mem_v1 {
    unsigned long long total, free, used;
};
struct mem_v2 {
    unsigned int version;
    unsigned long long total, reserved, free, used;
};

EXPORT int nvmlDeviceGetMemoryInfo(void *h, struct mem_v1 *m) {
    struct fake_dev *d = h;
    unsigned long long total = total_of(d), used = used_of(d);
    m->total = total;
    m->used = d->reserved + used;
    m->free = total > m->used ? total - m->used : 0;
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetMemoryInfo_v2(void *h, struct mem_v2 *m) {
    if (!strcmp(mode(), "v1mem"))
        return NVML_ERROR_FUNCTION_NOT_FOUND;
    if (m->version != (unsigned int)(sizeof *m | (2u << 24)))
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    struct fake_dev *d = h;
    unsigned long long total = total_of(d), used = used_of(d);
    m->total = total;
    m->reserved = d->reserved;
    m->used = used;
    m->free = total > d->reserved + used ? total - d->reserved - used : 0;
    return NVML_SUCCESS;
}

struct util {
    unsigned int gpu, memory;
};

EXPORT int nvmlDeviceGetUtilizationRates(void *h, struct util *u) {
    u->gpu = ((struct fake_dev *)h)->util_gpu;
    u->memory = ((struct fake_dev *)h)->util_mem;
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetTemperature(void *h, int sensor, unsigned int *t) {
    if (sensor != 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    *t = ((struct fake_dev *)h)->temp;
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetCudaComputeCapability(void *h, int *major, int *minor) {
    *major = ((struct fake_dev *)h)->cc_major;
    *minor = ((struct fake_dev *)h)->cc_minor;
    return NVML_SUCCESS;
}

/* The two-call protocol of the real library: too small a count gets
 * INSUFFICIENT_SIZE and the count needed. Entries are 24 bytes (pid@0,
 * used@8, gi@16, ci@20), or 32 in trap32 mode (ccProtected@24). */
static int running(void *h, unsigned int *n, void *infos, int graphics) {
    struct fake_proc p[MAX_PROCS];
    int k = procs_of(h, graphics, p);
    if (*n < (unsigned int)k || (!infos && k)) {
        *n = (unsigned int)k;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    size_t stride = !strcmp(mode(), "trap32") ? 32 : 24;
    unsigned char *b = infos;
    for (int i = 0; i < k; i++) {
        unsigned char *e = b + (size_t)i * stride;
        unsigned int none = 0xFFFFFFFFu;
        unsigned long long cc = 0;
        memset(e, 0, stride);
        memcpy(e, &p[i].pid, 4);
        memcpy(e + 8, &p[i].used, 8);
        memcpy(e + 16, &none, 4);
        memcpy(e + 20, &none, 4);
        if (stride == 32)
            memcpy(e + 24, &cc, 8);
    }
    *n = (unsigned int)k;
    return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetComputeRunningProcesses_v3(void *h, unsigned int *n, void *infos) {
    return running(h, n, infos, 0);
}

EXPORT int nvmlDeviceGetGraphicsRunningProcesses_v3(void *h, unsigned int *n, void *infos) {
    return running(h, n, infos, 1);
}
