/* engine_args.c - see engine_args.h. Flag names follow each engine's own
 * argument parser: vLLM's EngineArgs (dashes or underscores), llama.cpp's
 * common/arg.cpp (short and long forms, old bare -fa), whisper.cpp's
 * server, and the faster-whisper servers' options. */
#include "engine_args.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <stdio.h>
#include <string.h>

int vf_split_words(const char *line, char *buf, size_t n, char **argv, int max) {
    size_t o = 0;
    int argc = 0;
    const char *p = line;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || (p[0] == '\\' && p[1] == '\n'))
            p += p[0] == '\\' ? 2 : 1;
        if (!*p)
            break;
        if (argc >= max || o >= n)
            return -1;
        argv[argc++] = buf + o;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            if (*p == '\'') {
                p++;
                while (*p && *p != '\'') {
                    if (o + 1 >= n)
                        return -1;
                    buf[o++] = *p++;
                }
                if (*p != '\'')
                    return -1;
                p++;
            } else if (*p == '"') {
                p++;
                while (*p && *p != '"') {
                    if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$'))
                        p++;
                    if (o + 1 >= n)
                        return -1;
                    buf[o++] = *p++;
                }
                if (*p != '"')
                    return -1;
                p++;
            } else if (*p == '\\' && p[1]) {
                if (p[1] == '\n') { /* line continuation */
                    p += 2;
                    continue;
                }
                if (o + 1 >= n)
                    return -1;
                buf[o++] = p[1];
                p += 2;
            } else {
                if (o + 1 >= n)
                    return -1;
                buf[o++] = *p++;
            }
        }
        if (o >= n)
            return -1;
        buf[o++] = '\0';
    }
    return argc;
}

/* "--max-model-len" and "--max_model_len" are the same flag in vLLM. */
static bool flag_is(const char *a, const char *name) {
    for (; *a && *name; a++, name++) {
        char x = *a == '_' ? '-' : *a, y = *name == '_' ? '-' : *name;
        if (x != y)
            return false;
    }
    return *a == *name;
}

static bool flag_any(const char *a, const char *const *names) {
    for (; *names; names++)
        if (flag_is(a, *names))
            return true;
    return false;
}

static enum vf_dtype kv_type(const char *v) {
    if (!strcmp(v, "auto"))
        return VF_DT_F16;
    if (!vf_strcasecmp(v, "fp8") || !vf_strcasecmp(v, "fp8_e4m3") || !vf_strcasecmp(v, "fp8_e5m2"))
        return VF_DT_F8_E4M3;
    enum vf_dtype t = vf_dtype_from_name(v);
    if (t == VF_DT_F16 || t == VF_DT_BF16 || t == VF_DT_F32 || t == VF_DT_Q8_0 || t == VF_DT_Q4_0 ||
        t == VF_DT_Q4_1 || t == VF_DT_Q5_0 || t == VF_DT_Q5_1 || t == VF_DT_IQ4_NL)
        return t;
    return VF_DT_INVALID;
}

/* Flags that take a value but do not change memory; accepted silently. */
static const char *const ignored_with_value[] = {
    "--host", "--port", "--api-key", "--served-model-name", "--chat-template", "--alias",
    "-a", "--threads", "-t", "--threads-batch", "-tb", "--seed", "-s", "--log-file",
    "--uvicorn-log-level", "--tokenizer", "--revision", "--download-dir", "--hf-token",
    "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--n-predict", "-n",
    "--language", "-l", "--prompt", "--model-impl", "--tool-call-parser", "--reasoning-parser",
    "--generation-config", "--lora", "--mmproj", "--path", "--public-path", "--timeout", "-to",
    "--rope-scaling", "--rope-freq-base", "--rope-freq-scale", "--yarn-orig-ctx", "--load-format",
    "--distributed-executor-backend", "--main-gpu", "-mg", "--split-mode", "-sm",
    "--tensor-split", "-ts", "--fit-target", "-fitt", "--fit-ctx", "-fitc", "--numa",
    "--ssl-key-file", "--ssl-cert-file", "--temperature", "--best-of", "-bo", "--processors",
    "-p", "--inference-path", "--convert", "--device", "-dev", NULL};
static const char *const ignored_flags[] = {
    "--trust-remote-code", "--enable-prefix-caching", "--no-enable-prefix-caching",
    "--disable-log-requests", "--disable-log-stats", "--enable-auto-tool-choice", "--jinja",
    "--verbose", "-v", "--cont-batching", "-cb", "--metrics", "--embedding", "--no-webui",
    "--mlock", "--disable-frontend-multiprocessing", "--translate", "-tr", "--no-timestamps",
    "-nt", "--print-progress", "--no-context", NULL};

#define VAL()                                                                             \
    do {                                                                                  \
        if (!v) {                                                                         \
            vf_errf(err, errlen, "%s needs a value", a);                                   \
            return VF_ERR_ARG;                                                            \
        }                                                                                 \
    } while (0)

#define BAD()                                                                             \
    do {                                                                                  \
        vf_errf(err, errlen, "%s: invalid value '%s'", a, v);                             \
        return VF_ERR_ARG;                                                                \
    } while (0)

int vf_engine_args_parse(enum vf_engine e, int argc, char **argv, struct vf_pinned *out,
                         struct vf_strlist *warnings, char *err, size_t errlen) {
    int i = 0;
    /* skip a program name / subcommand: "vllm serve", "python -m ...", "llama-server" */
    while (i < argc && argv[i][0] != '-') {
        const char *w = argv[i];
        const char *base = strrchr(w, '/');
        base = base ? base + 1 : w;
        if (!strcmp(base, "vllm") || !strcmp(base, "serve") || !strcmp(base, "python") ||
            !strcmp(base, "python3") || vf_str_starts(base, "llama-") ||
            !strcmp(base, "whisper-server") || !strcmp(base, "server")) {
            i++;
            continue;
        }
        if (!out->has_model) { /* vLLM and others take the model positionally */
            vf_strlcpy(out->model, w, sizeof out->model);
            out->has_model = true;
            i++;
            continue;
        }
        break;
    }
    for (; i < argc; i++) {
        char *a = argv[i];
        char *v = NULL;
        char *eq = a[0] == '-' ? strchr(a, '=') : NULL;
        char name[64];
        if (eq) {
            size_t len = (size_t)(eq - a);
            if (len >= sizeof name)
                len = sizeof name - 1;
            memcpy(name, a, len);
            name[len] = '\0';
            v = eq + 1;
        } else {
            vf_strlcpy(name, a, sizeof name);
        }
        a = name;
        if (a[0] != '-') {
            if (!out->has_model) {
                vf_strlcpy(out->model, a, sizeof out->model);
                out->has_model = true;
            } else if (warnings) {
                vf_strlist_addf(warnings, "ignored argument '%s'", a);
            }
            continue;
        }
        /* the value is the next word unless it looks like a flag */
#define TAKE()                                                                           \
    do {                                                                                 \
        if (!v && i + 1 < argc)                                                          \
            v = argv[++i];                                                               \
        VAL();                                                                           \
    } while (0)
        int iv;
        double dv;
        uint64_t sz;
        if (flag_any(a, (const char *const[]){"--model", "-m", NULL})) {
            TAKE();
            vf_strlcpy(out->model, v, sizeof out->model);
            out->has_model = true;
            continue;
        }
        if (flag_any(a, (const char *const[]){"-hf", "--hf-repo", "-hfr", NULL})) {
            TAKE();
            vf_strlcpy(out->model, v, sizeof out->model);
            out->has_model = true;
            continue;
        }
        if (flag_is(a, "--port")) {
            TAKE();
            if (vf_parse_int(v, 1, 65535, &iv))
                BAD();
            out->port = iv;
            continue;
        }
        if (e == VF_ENGINE_VLLM) {
            if (flag_is(a, "--gpu-memory-utilization")) {
                TAKE();
                if (vf_parse_double(v, 0.0001, 1.0, &dv))
                    BAD();
                out->vllm.gpu_memory_utilization = dv;
                out->vllm_set |= VF_PIN_UTIL;
            } else if (flag_is(a, "--max-model-len")) {
                TAKE();
                /* vLLM accepts 32k / 32K / 1m and -1/auto */
                char tmp[32];
                vf_strlcpy(tmp, v, sizeof tmp);
                size_t l = strlen(tmp);
                uint64_t mul = 1;
                if (l && (tmp[l - 1] == 'k' || tmp[l - 1] == 'K')) { mul = 1000; tmp[l - 1] = '\0'; }
                else if (l && (tmp[l - 1] == 'm' || tmp[l - 1] == 'M')) { mul = 1000000; tmp[l - 1] = '\0'; }
                if (!strcmp(tmp, "-1") || !strcmp(tmp, "auto")) {
                    out->vllm.max_model_len = 0;
                } else {
                    if (vf_parse_int(tmp, 1, 100000000, &iv))
                        BAD();
                    out->vllm.max_model_len = (uint32_t)((uint64_t)iv * mul);
                }
                out->vllm_set |= VF_PIN_MAXLEN;
            } else if (flag_is(a, "--max-num-seqs")) {
                TAKE();
                if (vf_parse_int(v, 1, 1 << 20, &iv))
                    BAD();
                out->vllm.max_num_seqs = (uint32_t)iv;
                out->vllm_set |= VF_PIN_MAXSEQS;
            } else if (flag_is(a, "--max-num-batched-tokens")) {
                TAKE();
                if (vf_parse_int(v, 1, 1 << 24, &iv))
                    BAD();
                out->vllm.max_num_batched_tokens = (uint32_t)iv;
                out->vllm_set |= VF_PIN_MAXBT;
            } else if (flag_is(a, "--kv-cache-dtype")) {
                TAKE();
                enum vf_dtype t = kv_type(v);
                if (t != VF_DT_F16 && t != VF_DT_BF16 && t != VF_DT_F8_E4M3)
                    BAD();
                out->vllm.kv_cache_dtype = t;
                out->vllm_set |= VF_PIN_KVDT;
            } else if (flag_is(a, "--enforce-eager")) {
                out->vllm.enforce_eager = !v || vf_strcasecmp(v, "false");
                out->vllm_set |= VF_PIN_EAGER;
            } else if (flag_is(a, "--block-size")) {
                TAKE();
                if (vf_parse_int(v, 1, 1024, &iv))
                    BAD();
                out->vllm.block_size = (uint32_t)iv;
                out->vllm_set |= VF_PIN_BLOCK;
            } else if (flag_any(a, (const char *const[]){"--tensor-parallel-size", "-tp", NULL})) {
                TAKE();
                if (vf_parse_int(v, 1, 64, &iv))
                    BAD();
                out->vllm.tensor_parallel_size = (uint32_t)iv;
                out->vllm_set |= VF_PIN_TP;
            } else if (flag_is(a, "--kv-cache-memory") || flag_is(a, "--kv-cache-memory-bytes")) {
                TAKE();
                if (vf_parse_size(v, &sz))
                    BAD();
                out->vllm.kv_cache_memory_bytes = sz;
                out->vllm_set |= VF_PIN_KVMEM;
            } else if (flag_is(a, "--dtype")) {
                TAKE();
                vf_strlcpy(out->vllm.dtype, v, sizeof out->vllm.dtype);
                out->vllm_set |= VF_PIN_DTYPE;
            } else if (flag_is(a, "--enable-chunked-prefill")) {
                out->vllm.enable_chunked_prefill = !v || vf_strcasecmp(v, "false");
                out->vllm_set |= VF_PIN_CHUNKED;
            } else if (flag_is(a, "--no-enable-chunked-prefill")) {
                out->vllm.enable_chunked_prefill = false;
                out->vllm_set |= VF_PIN_CHUNKED;
            } else if (flag_any(a, (const char *const[]){"--quantization", "-q", NULL})) {
                TAKE(); /* the checkpoint decides; nothing to size here */
            } else if (flag_any(a, ignored_with_value)) {
                TAKE();
            } else if (flag_any(a, ignored_flags)) {
            } else if (warnings) {
                vf_strlist_addf(warnings, "vLLM flag %s not used by the memory model", a);
            }
            continue;
        }
        if (e == VF_ENGINE_LLAMACPP) {
            if (flag_any(a, (const char *const[]){"-c", "--ctx-size", NULL})) {
                TAKE();
                if (vf_parse_int(v, 0, 1 << 24, &iv))
                    BAD();
                out->llama.n_ctx = (uint32_t)iv;
                out->llama_set |= VF_PIN_CTX;
            } else if (flag_any(a, (const char *const[]){"-ngl", "--gpu-layers", "--n-gpu-layers", NULL})) {
                TAKE();
                if (!strcmp(v, "auto")) {
                    out->llama.n_gpu_layers = -1;
                } else if (!strcmp(v, "all")) {
                    out->llama.n_gpu_layers = -1;
                    out->llama_set |= VF_PIN_NGL;
                } else {
                    if (vf_parse_int(v, -1, 100000, &iv))
                        BAD();
                    out->llama.n_gpu_layers = iv;
                    out->llama_set |= VF_PIN_NGL;
                }
            } else if (flag_any(a, (const char *const[]){"-b", "--batch-size", NULL})) {
                TAKE();
                if (vf_parse_int(v, 1, 1 << 20, &iv))
                    BAD();
                out->llama.n_batch = (uint32_t)iv;
                out->llama_set |= VF_PIN_BATCH;
            } else if (flag_any(a, (const char *const[]){"-ub", "--ubatch-size", NULL})) {
                TAKE();
                if (vf_parse_int(v, 1, 1 << 20, &iv))
                    BAD();
                out->llama.n_ubatch = (uint32_t)iv;
                out->llama_set |= VF_PIN_UBATCH;
            } else if (flag_any(a, (const char *const[]){"-np", "--parallel", NULL})) {
                TAKE();
                if (vf_parse_int(v, -1, 256, &iv) || iv == 0)
                    BAD();
                if (iv > 0) {
                    out->llama.n_seq_max = (uint32_t)iv;
                    out->llama_set |= VF_PIN_NSEQ;
                }
            } else if (flag_any(a, (const char *const[]){"-ctk", "--cache-type-k", NULL})) {
                TAKE();
                enum vf_dtype t = kv_type(v);
                if (t == VF_DT_INVALID || t == VF_DT_F8_E4M3)
                    BAD();
                out->llama.type_k = t;
                out->llama_set |= VF_PIN_TYPE_K;
            } else if (flag_any(a, (const char *const[]){"-ctv", "--cache-type-v", NULL})) {
                TAKE();
                enum vf_dtype t = kv_type(v);
                if (t == VF_DT_INVALID || t == VF_DT_F8_E4M3)
                    BAD();
                out->llama.type_v = t;
                out->llama_set |= VF_PIN_TYPE_V;
            } else if (flag_any(a, (const char *const[]){"-fa", "--flash-attn", NULL})) {
                /* current builds take on|off|auto; older ones a bare flag */
                if (!v && i + 1 < argc && (!strcmp(argv[i + 1], "on") || !strcmp(argv[i + 1], "off") ||
                                           !strcmp(argv[i + 1], "auto") || !strcmp(argv[i + 1], "1") ||
                                           !strcmp(argv[i + 1], "0")))
                    v = argv[++i];
                if (!v || !strcmp(v, "on") || !strcmp(v, "1") || !strcmp(v, "true"))
                    out->llama.flash_attn = 1;
                else if (!strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "false"))
                    out->llama.flash_attn = 0;
                else if (!strcmp(v, "auto"))
                    out->llama.flash_attn = -1;
                else
                    BAD();
                out->llama_set |= VF_PIN_FA;
            } else if (flag_any(a, (const char *const[]){"-kvu", "--kv-unified", NULL})) {
                out->llama.kv_unified = true;
                out->llama_set |= VF_PIN_KVU;
            } else if (flag_any(a, (const char *const[]){"-no-kvu", "--no-kv-unified", NULL})) {
                out->llama.kv_unified = false;
                out->llama_set |= VF_PIN_KVU;
            } else if (flag_is(a, "--no-mmap")) {
                out->llama.mmap = false;
                out->llama_set |= VF_PIN_MMAP;
            } else if (flag_is(a, "--mmap")) {
                out->llama.mmap = true;
                out->llama_set |= VF_PIN_MMAP;
            } else if (flag_any(a, (const char *const[]){"-nkvo", "--no-kv-offload", NULL})) {
                out->llama.offload_kqv = false;
                out->llama_set |= VF_PIN_KQV;
            } else if (flag_is(a, "--swa-full")) {
                out->llama.swa_full = true;
                out->llama_set |= VF_PIN_SWA;
            } else if (flag_any(a, (const char *const[]){"-fit", "--fit", NULL})) {
                if (!v && i + 1 < argc && argv[i + 1][0] != '-')
                    v = argv[++i];
            } else if (flag_any(a, ignored_with_value)) {
                TAKE();
            } else if (flag_any(a, ignored_flags)) {
            } else if (warnings) {
                vf_strlist_addf(warnings, "llama.cpp flag %s not used by the memory model", a);
            }
            continue;
        }
        /* whisper engines */
        if (flag_any(a, (const char *const[]){"--compute-type", "--compute_type", NULL})) {
            TAKE();
            vf_strlcpy(out->whisper.compute_type, v, sizeof out->whisper.compute_type);
            out->whisper_set |= VF_PIN_COMPUTE;
        } else if (flag_any(a, (const char *const[]){"--beam-size", "--beam_size", "-bs", NULL})) {
            TAKE();
            if (vf_parse_int(v, 1, 64, &iv))
                BAD();
            out->whisper.beam_size = (uint32_t)iv;
            out->whisper_set |= VF_PIN_BEAM;
        } else if (flag_any(a, (const char *const[]){"-fa", "--flash-attn", NULL})) {
            out->whisper.flash_attn = true;
            out->whisper_set |= VF_PIN_WFA;
        } else if (flag_any(a, (const char *const[]){"-nfa", "--no-flash-attn", NULL})) {
            out->whisper.flash_attn = false;
            out->whisper_set |= VF_PIN_WFA;
        } else if (flag_any(a, (const char *const[]){"-ng", "--no-gpu", NULL})) {
            out->whisper.on_gpu = false;
            out->whisper_set |= VF_PIN_DEVICE;
        } else if (flag_any(a, ignored_with_value)) {
            TAKE();
        } else if (flag_any(a, ignored_flags)) {
        } else if (warnings) {
            vf_strlist_addf(warnings, "whisper flag %s not used by the memory model", a);
        }
#undef TAKE
    }
    return VF_OK;
}

int vf_engine_args_parse_line(enum vf_engine e, const char *line, struct vf_pinned *out,
                              struct vf_strlist *warnings, char *err, size_t errlen) {
    char buf[8192];
    char *argv[VF_ARGV_MAX];
    if (strlen(line) >= sizeof buf) {
        vf_errf(err, errlen, "engine command line longer than %zu bytes", sizeof buf - 1);
        return VF_ERR_TOOBIG;
    }
    int argc = vf_split_words(line, buf, sizeof buf, argv, VF_ARGV_MAX);
    if (argc < 0) {
        vf_errf(err, errlen, "cannot split the command line (unterminated quote or too many words)");
        return VF_ERR_ARG;
    }
    return vf_engine_args_parse(e, argc, argv, out, warnings, err, errlen);
}

int vf__fuzz_engine_args(const uint8_t *data, size_t size) {
    char line[4096];
    if (size >= sizeof line)
        size = sizeof line - 1;
    memcpy(line, data, size);
    line[size] = '\0';
    for (int e = VF_ENGINE_LLAMACPP; e <= VF_ENGINE_FASTER_WHISPER; e++) {
        struct vf_pinned p;
        memset(&p, 0, sizeof p);
        struct vf_strlist w = {0};
        char err[256];
        vf_engine_args_parse_line((enum vf_engine)e, line, &p, &w, err, sizeof err);
        vf_strlist_free(&w);
    }
    return 0;
}
