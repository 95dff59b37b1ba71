/* cmd_measure.c - `voxfit measure`: load a model with the embedded engine
 * on this machine's devices and print what it really allocated, in the
 * same JSON schema as `voxfit plan --json`. */
#include "cli.h"
#include "../core/args.h"
#include "../core/str.h"
#include "../llm/llama_rt.h"
#include "../llm/measure.h"
#include "../model/dtype.h"
#include "../stt/measure.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static const char *kind_name(enum vf_buf_kind k) {
    static const char *n[] = {"model", "kv", "compute", "output"};
    return n[k];
}

int vf_cmd_measure(int argc, char **argv) {
    const char *llm = NULL, *stt = NULL, *kv_type = "f16", *fa = "auto";
    int ngl = -1, ctx = 4096, batch = 2048, ubatch = 512, seqs = 1;
    bool json = false, dry = false, kv_unified = false, no_mmap = false;
    static const char *const kv_choices[] = {"f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "f32", NULL};
    static const char *const fa_choices[] = {"auto", "on", "off", NULL};
    const struct vf_opt opts[] = {
        {"--llm", NULL, VF_OPT_STR, &llm, "FILE.gguf", "GGUF model to load", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--stt", NULL, VF_OPT_STR, &stt, "FILE.bin", "whisper.cpp model to load with the embedded Whisper "
         "(--sessions streams, --flash-attn)", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--ctx", "-c", VF_OPT_INT, &ctx, "N", "context size (0: the model's)", "4096", 0, 1 << 24, 0, 0, NULL, NULL},
        {"--ngl", NULL, VF_OPT_INT, &ngl, "N", "layers on the GPU (-1: all)", "-1", -1, 100000, 0, 0, NULL, NULL},
        {"--batch", "-b", VF_OPT_INT, &batch, "N", "logical batch (n_batch)", "2048", 1, 1 << 20, 0, 0, NULL, NULL},
        {"--ubatch", "-ub", VF_OPT_INT, &ubatch, "N", "physical batch (n_ubatch)", "512", 1, 1 << 20, 0, 0, NULL, NULL},
        {"--sessions", "-np", VF_OPT_INT, &seqs, "N", "parallel sequences (n_seq_max)", "1", 1, 256, 0, 0, NULL, NULL},
        {"--kv-type", NULL, VF_OPT_CHOICE, &kv_type, "T", "KV cache type (K and V)", "f16", 0, 0, 0, 0, kv_choices, NULL},
        {"--flash-attn", "-fa", VF_OPT_CHOICE, &fa, "MODE", "flash attention", "auto", 0, 0, 0, 0, fa_choices, NULL},
        {"--kv-unified", NULL, VF_OPT_FLAG, &kv_unified, NULL, "one KV buffer shared by all sequences", "off", 0, 0, 0, 0, NULL, NULL},
        {"--no-mmap", NULL, VF_OPT_FLAG, &no_mmap, NULL, "read weights into memory instead of mapping", "off", 0, 0, 0, 0, NULL, NULL},
        {"--dry-run", NULL, VF_OPT_FLAG, &dry, NULL, "llama.cpp's no-alloc simulation (allocates nothing)", "off", 0, 0, 0, 0, NULL, NULL},
        {"--json", NULL, VF_OPT_FLAG, &json, NULL, "JSON in the schema of 'voxfit plan --json'", "off", 0, 0, 0, 0, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    enum vf_args_result ar = vf_args_parse(
        "voxfit measure (--llm FILE.gguf [--ctx N] [--ngl N] [--kv-type T] | --stt FILE.bin [--sessions N]) [--json]",
        "Load the model with the embedded llama.cpp and report the buffers it allocates.", opts,
        sizeof opts / sizeof opts[0], argc, argv, pos, 0, &npos, stdout, stderr);
    if (ar != VF_ARGS_OK)
        return ar == VF_ARGS_HELP ? 0 : 2;
    if (stt && !llm) {
        char e[512] = "";
        int r = vf_whisper_measure_print(stt, seqs, !strcmp(fa, "on") ? 1 : !strcmp(fa, "off") ? 0 : -1,
                                         json, stdout, e, sizeof e);
        if (r)
            fprintf(stderr, "voxfit measure: %s\n", e[0] ? e : vf_status_str(r));
        return r ? 1 : 0;
    }
    if (!llm) {
        fprintf(stderr, "voxfit measure: --llm FILE.gguf or --stt FILE.bin is required\n");
        return 2;
    }
    struct vf_llama_settings s;
    vf_llama_settings_default(&s);
    s.n_gpu_layers = ngl;
    s.n_ctx = (uint32_t)ctx;
    s.n_batch = (uint32_t)batch;
    s.n_ubatch = (uint32_t)ubatch;
    s.n_seq_max = (uint32_t)seqs;
    s.type_k = s.type_v = vf_dtype_from_name(kv_type);
    s.flash_attn = !strcmp(fa, "on") ? 1 : !strcmp(fa, "off") ? 0 : -1;
    s.kv_unified = kv_unified;
    s.no_mmap = no_mmap;
    struct vf_measure_result r;
    char err[512];
    int rc = vf_measure_llama(llm, &s, dry, &r, err, sizeof err);
    if (rc) {
        fprintf(stderr, "voxfit measure: %s\n", err);
        return 1;
    }
    if (!json) {
        char b[32];
        printf("%-12s %-8s %14s\n", "buffer", "kind", "size");
        for (int i = 0; i < r.n_bufs; i++)
            printf("%-12s %-8s %14s\n", r.bufs[i].device, kind_name(r.bufs[i].kind),
                   vf_fmt_mib(r.bufs[i].bytes, b, sizeof b));
        printf("n_ctx %u, flash attention %s, load %.0f ms\n", r.n_ctx,
               r.flash_attn == 1 ? "on" : r.flash_attn == 0 ? "off" : "auto", r.load_ms);
        return 0;
    }
    /* the plan's schema: on a GPU machine the component counts the GPU
     * buffers and host_bytes the rest; on a CPU-only machine everything */
    const bool gpu = vf_llama_rt_gpu_count() > 0;
    const int dev_filter = gpu ? 1 : -1;
    cJSON *root = cJSON_CreateObject();
    cJSON *d = cJSON_AddObjectToObject(root, "device");
    cJSON_AddStringToObject(d, "kind", gpu ? "gpu" : "cpu");
    cJSON *comps = cJSON_AddArrayToObject(root, "components");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "role", "llm");
    cJSON_AddStringToObject(c, "model", llm);
    cJSON_AddStringToObject(c, "engine", "llama.cpp");
    uint64_t w = vf_measure_sum(&r, VF_BUF_MODEL, dev_filter);
    uint64_t kv = vf_measure_sum(&r, VF_BUF_KV, dev_filter);
    uint64_t cb = vf_measure_sum(&r, VF_BUF_COMPUTE, dev_filter);
    uint64_t ob = gpu ? 0 : vf_measure_sum(&r, VF_BUF_OUTPUT, -1);
    uint64_t all = 0;
    for (int i = 0; i < r.n_bufs; i++)
        all += r.bufs[i].bytes;
    cJSON_AddStringToObject(c, "placement", gpu ? (r.n_layers_offloaded >= r.n_layers_total ? "gpu" : "split") : "cpu");
    cJSON_AddNumberToObject(c, "weights_bytes", (double)w);
    cJSON_AddNumberToObject(c, "kv_bytes", (double)kv);
    cJSON_AddNumberToObject(c, "compute_bytes", (double)cb);
    cJSON_AddNumberToObject(c, "overhead_bytes", (double)ob);
    cJSON_AddNumberToObject(c, "total_bytes", (double)(w + kv + cb + ob));
    cJSON_AddNumberToObject(c, "host_bytes", (double)(all - (w + kv + cb + ob)));
    cJSON *st = cJSON_AddObjectToObject(c, "settings");
    cJSON_AddNumberToObject(st, "n_ctx", r.n_ctx);
    cJSON_AddNumberToObject(st, "n_gpu_layers", ngl);
    cJSON_AddBoolToObject(st, "flash_attn", r.flash_attn == 1);
    cJSON_AddNumberToObject(st, "n_batch", batch);
    cJSON_AddNumberToObject(st, "n_ubatch", ubatch);
    cJSON_AddStringToObject(st, "type_k", kv_type);
    cJSON_AddStringToObject(st, "type_v", kv_type);
    cJSON_AddItemToArray(comps, c);
    cJSON *bufs = cJSON_AddArrayToObject(root, "buffers");
    for (int i = 0; i < r.n_bufs; i++) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "device", r.bufs[i].device);
        cJSON_AddStringToObject(b, "kind", kind_name(r.bufs[i].kind));
        cJSON_AddNumberToObject(b, "bytes", (double)r.bufs[i].bytes);
        cJSON_AddItemToArray(bufs, b);
    }
    cJSON_AddNumberToObject(root, "n_ctx", r.n_ctx);
    char *out = cJSON_Print(root);
    puts(out);
    cJSON_free(out);
    cJSON_Delete(root);
    return 0;
}
