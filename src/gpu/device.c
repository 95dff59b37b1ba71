/* device.c - devices a plan can target: the GPU catalog lookup, --vram,
 * the host CPU and NVML detection (nvml.c). */
#include "device.h"
#include "nvml.h"
#include "../core/str.h"

#include <stdio.h>
#include <string.h>

extern const struct vf_gpu_spec vf__gpu_specs[];
extern const size_t vf__gpu_specs_n;

size_t vf_gpu_catalog_count(void) { return vf__gpu_specs_n; }
const struct vf_gpu_spec *vf_gpu_catalog(size_t i) {
    return i < vf__gpu_specs_n ? &vf__gpu_specs[i] : NULL;
}

/* Drop vendor words so "NVIDIA GeForce RTX 4090" and "rtx4090" compare equal. */
static void norm_name(const char *s, char *out, size_t n) {
    char sq[160];
    vf_str_squash(s, sq, sizeof sq);
    static const char *noise[] = {"nvidia", "geforce", "tesla", "quadro"};
    char *p = sq;
    for (bool again = true; again;) {
        again = false;
        for (size_t i = 0; i < VF_ARRAY_LEN(noise); i++) {
            if (vf_str_starts(p, noise[i])) {
                p += strlen(noise[i]);
                again = true;
            }
        }
    }
    vf_strlcpy(out, p, n);
}

const struct vf_gpu_spec *vf_gpu_find(const char *name) {
    char q[160], k[160];
    norm_name(name, q, sizeof q);
    if (!q[0])
        return NULL;
    /* exact match on the name or an alias first */
    for (size_t i = 0; i < vf__gpu_specs_n; i++) {
        norm_name(vf__gpu_specs[i].name, k, sizeof k);
        if (!strcmp(k, q))
            return &vf__gpu_specs[i];
        const char *a = vf__gpu_specs[i].aliases;
        while (a && *a) {
            const char *bar = strchr(a, '|');
            char one[96];
            size_t len = bar ? (size_t)(bar - a) : strlen(a);
            if (len >= sizeof one)
                len = sizeof one - 1;
            memcpy(one, a, len);
            one[len] = '\0';
            norm_name(one, k, sizeof k);
            if (!strcmp(k, q))
                return &vf__gpu_specs[i];
            a = bar ? bar + 1 : NULL;
        }
    }
    /* then "rtx" optional: "4090" -> "rtx4090" */
    if (q[0] >= '0' && q[0] <= '9') {
        char r[170];
        snprintf(r, sizeof r, "rtx%s", q);
        return vf_gpu_find(r);
    }
    return NULL;
}

void vf_device_from_spec(const struct vf_gpu_spec *s, struct vf_device *dev) {
    memset(dev, 0, sizeof *dev);
    vf_strlcpy(dev->name, s->name, sizeof dev->name);
    dev->kind = VF_DEVICE_GPU;
    dev->total_bytes = s->cuda_total_bytes;
    dev->free_bytes = s->cuda_total_bytes;
    dev->cc_major = s->cc_major;
    dev->cc_minor = s->cc_minor;
    dev->sm_count = s->sm_count;
    vf_strlcpy(dev->source, "catalog", sizeof dev->source);
    dev->index = -1;
    dev->host_ram_bytes = vf_host_ram_total();
}

void vf_device_from_vram(uint64_t bytes, struct vf_device *dev) {
    memset(dev, 0, sizeof *dev);
    char b[32];
    snprintf(dev->name, sizeof dev->name, "GPU with %s", vf_fmt_bytes(bytes, b, sizeof b));
    dev->kind = VF_DEVICE_GPU;
    dev->total_bytes = dev->free_bytes = bytes;
    vf_strlcpy(dev->source, "vram", sizeof dev->source);
    dev->index = -1;
    dev->host_ram_bytes = vf_host_ram_total();
}

static uint64_t meminfo(const char *key) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    uint64_t v = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (!strncmp(line, key, kl) && line[kl] == ':' && sscanf(line + kl + 1, "%llu", &kb) == 1) {
            v = (uint64_t)kb * 1024;
            break;
        }
    }
    fclose(f);
    return v;
}

uint64_t vf_host_ram_total(void) { return meminfo("MemTotal"); }
uint64_t vf_host_ram_available(void) { return meminfo("MemAvailable"); }

int vf_device_cpu(struct vf_device *dev) {
    memset(dev, 0, sizeof *dev);
    vf_strlcpy(dev->name, "CPU (system RAM)", sizeof dev->name);
    dev->kind = VF_DEVICE_CPU;
    dev->total_bytes = vf_host_ram_total();
    dev->free_bytes = vf_host_ram_available();
    dev->used_by_others = dev->total_bytes > dev->free_bytes ? dev->total_bytes - dev->free_bytes : 0;
    dev->host_ram_bytes = dev->total_bytes;
    vf_strlcpy(dev->source, "cpu", sizeof dev->source);
    dev->index = -1;
    return dev->total_bytes ? VF_OK : VF_ERR_IO;
}

int vf_device_detect(struct vf_device *devs, int max, int *n) {
    *n = 0;
    struct vf_nvml *nv = NULL;
    if (vf_nvml_open(&nv, NULL, 0) != VF_OK)
        return VF_OK;
    int count = vf_nvml_device_count(nv);
    for (int i = 0; i < count && *n < max; i++) {
        struct vf_nvml_device_info info;
        if (vf_nvml_device_info(nv, i, &info) != VF_OK)
            continue;
        struct vf_device *d = &devs[(*n)++];
        memset(d, 0, sizeof *d);
        vf_strlcpy(d->name, info.name, sizeof d->name);
        d->kind = VF_DEVICE_GPU;
        /* NVML's total includes memory the driver reserves; CUDA's total
         * (what engines size against) excludes it */
        d->total_bytes = info.total_bytes - info.reserved_bytes;
        d->free_bytes = info.free_bytes;
        d->used_by_others = d->total_bytes > d->free_bytes ? d->total_bytes - d->free_bytes : 0;
        d->cc_major = info.cc_major;
        d->cc_minor = info.cc_minor;
        const struct vf_gpu_spec *spec = vf_gpu_find(info.name);
        d->sm_count = spec ? spec->sm_count : 0;
        vf_strlcpy(d->source, "nvml", sizeof d->source);
        d->index = i;
        d->host_ram_bytes = vf_host_ram_total();
    }
    vf_nvml_close(nv);
    return VF_OK;
}
