/* measure.c - `voxfit measure --stt FILE`: load a whisper.cpp model with
 * the embedded Whisper, create the streams a server would, and print the
 * buffers they really hold in the schema of `voxfit plan --json` (a
 * component with weights, KV, compute and total bytes, and the buffer
 * list), so the planner's Whisper figures can be checked against them. */
#include "measure.h"
#include "vf_whisper.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static const char *kind_name(enum vf_whisper_buf_kind k) {
    switch (k) {
    case VF_WHISPER_BUF_WEIGHTS: return "model";
    case VF_WHISPER_BUF_KV_SELF: return "kv";
    case VF_WHISPER_BUF_KV_CROSS: return "kv";
    case VF_WHISPER_BUF_COMPUTE: return "compute";
    }
    return "?";
}

/* Buffers in host memory: the CPU's, and pinned host buffers of GPU backends. */
static bool is_host(const char *dev) {
    return !strncmp(dev, "CPU", 3) || strstr(dev, "_Host") != NULL;
}

int vf_whisper_measure_print(const char *path, int sessions, int flash_attn, bool json, FILE *out,
                             char *err, size_t errlen) {
    struct vf_whisper_state_params sp = vf_whisper_state_default_params();
    if (flash_attn >= 0)
        sp.flash_attn = flash_attn != 0;
    struct vf_whisper_buffer b[64];
    int n = 0;
    int rc = vf_whisper_measure(path, NULL, &sp, sessions, b, (int)VF_ARRAY_LEN(b), &n, err, errlen);
    if (rc)
        return rc;
    n = VF_MIN(n, (int)VF_ARRAY_LEN(b));
    bool gpu = false;
    for (int i = 0; i < n; i++)
        gpu |= !is_host(b[i].device);
    uint64_t sum[4] = {0}, host = 0;
    for (int i = 0; i < n; i++) {
        if (gpu && is_host(b[i].device)) {
            host += b[i].bytes;
            continue;
        }
        sum[b[i].kind] += b[i].bytes;
    }
    const uint64_t kv = sum[VF_WHISPER_BUF_KV_SELF] + sum[VF_WHISPER_BUF_KV_CROSS];
    const uint64_t total = sum[VF_WHISPER_BUF_WEIGHTS] + kv + sum[VF_WHISPER_BUF_COMPUTE];
    if (!json) {
        char s[32];
        fprintf(out, "%-12s %-8s %-6s %14s\n", "buffer", "kind", "cache", "size");
        for (int i = 0; i < n; i++)
            fprintf(out, "%-12s %-8s %-6s %14s\n", b[i].device, kind_name(b[i].kind),
                    b[i].kind == VF_WHISPER_BUF_KV_SELF ? "self" : b[i].kind == VF_WHISPER_BUF_KV_CROSS ? "cross" : "",
                    vf_fmt_mib(b[i].bytes, s, sizeof s));
        fprintf(out, "total %s on %s, %d stream%s, flash attention %s\n", vf_fmt_mib(total, s, sizeof s),
                gpu ? "the GPU" : "the CPU", sessions, sessions == 1 ? "" : "s", sp.flash_attn ? "on" : "off");
        return VF_OK;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *d = cJSON_AddObjectToObject(root, "device");
    cJSON_AddStringToObject(d, "kind", gpu ? "gpu" : "cpu");
    cJSON *comps = cJSON_AddArrayToObject(root, "components");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "role", "stt");
    cJSON_AddStringToObject(c, "model", path);
    cJSON_AddStringToObject(c, "engine", "whisper");
    cJSON_AddStringToObject(c, "placement", gpu ? "gpu" : "cpu");
    cJSON_AddNumberToObject(c, "weights_bytes", (double)sum[VF_WHISPER_BUF_WEIGHTS]);
    cJSON_AddNumberToObject(c, "kv_bytes", (double)kv);
    cJSON_AddNumberToObject(c, "compute_bytes", (double)sum[VF_WHISPER_BUF_COMPUTE]);
    cJSON_AddNumberToObject(c, "overhead_bytes", 0);
    cJSON_AddNumberToObject(c, "total_bytes", (double)total);
    cJSON_AddNumberToObject(c, "host_bytes", (double)host);
    cJSON *st = cJSON_AddObjectToObject(c, "settings");
    cJSON_AddNumberToObject(st, "sessions", sessions);
    cJSON_AddNumberToObject(st, "n_decoders", sp.n_decoders);
    cJSON_AddBoolToObject(st, "flash_attn", sp.flash_attn);
    cJSON_AddItemToArray(comps, c);
    cJSON *bufs = cJSON_AddArrayToObject(root, "buffers");
    for (int i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "device", b[i].device);
        cJSON_AddStringToObject(x, "kind", kind_name(b[i].kind));
        if (b[i].kind == VF_WHISPER_BUF_KV_SELF || b[i].kind == VF_WHISPER_BUF_KV_CROSS)
            cJSON_AddStringToObject(x, "cache", b[i].kind == VF_WHISPER_BUF_KV_SELF ? "self" : "cross");
        cJSON_AddNumberToObject(x, "bytes", (double)b[i].bytes);
        cJSON_AddItemToArray(bufs, x);
    }
    char *txt = cJSON_Print(root);
    if (txt)
        fprintf(out, "%s\n", txt);
    cJSON_free(txt);
    cJSON_Delete(root);
    if (!txt) {
        vf_errf(err, errlen, "out of memory");
        return VF_ERR_NOMEM;
    }
    return VF_OK;
}
