/* engine_args.h - read engine flags as the engines themselves take them:
 * vLLM (`vllm serve MODEL --gpu-memory-utilization 0.9 --max-model-len
 * 32000`), llama.cpp (`-c 8192 -ngl 99 -ctk q8_0 -fa on`), whisper.cpp's
 * server and faster-whisper servers. The same parser reads --llm-args /
 * --stt-args and the command: lines of docker-compose files. */
#ifndef VF_ENGINE_ARGS_H
#define VF_ENGINE_ARGS_H

#include "plan.h"

#define VF_ARGV_MAX 256

/* Split a command line into words the way a POSIX shell does for plain
 * words, single and double quotes and backslashes (no expansions).
 * Returns the count, or -1 on an unterminated quote or more than max
 * words. The words point into buf (size n), which receives the text. */
int vf_split_words(const char *line, char *buf, size_t n, char **argv, int max);

/* Settings pinned by flags, and which ones were given. */
struct vf_pinned {
    char model[256];           /* the model named in the flags (positional or -m/--model) */
    bool has_model;
    struct vf_llama_cfg llama;
    uint32_t llama_set;        /* VF_PIN_* bits */
    struct vf_vllm_cfg vllm;
    uint32_t vllm_set;
    struct vf_whisper_cfg whisper;
    uint32_t whisper_set;
    int port;                  /* --port, 0 when not given */
};

enum {
    VF_PIN_NGL = 1 << 0, VF_PIN_CTX = 1 << 1, VF_PIN_BATCH = 1 << 2, VF_PIN_UBATCH = 1 << 3,
    VF_PIN_NSEQ = 1 << 4, VF_PIN_TYPE_K = 1 << 5, VF_PIN_TYPE_V = 1 << 6, VF_PIN_FA = 1 << 7,
    VF_PIN_KVU = 1 << 8, VF_PIN_MMAP = 1 << 9, VF_PIN_KQV = 1 << 10, VF_PIN_SWA = 1 << 11,
    VF_PIN_UTIL = 1 << 12, VF_PIN_MAXLEN = 1 << 13, VF_PIN_MAXSEQS = 1 << 14,
    VF_PIN_MAXBT = 1 << 15, VF_PIN_KVDT = 1 << 16, VF_PIN_EAGER = 1 << 17, VF_PIN_BLOCK = 1 << 18,
    VF_PIN_TP = 1 << 19, VF_PIN_KVMEM = 1 << 20, VF_PIN_DTYPE = 1 << 21, VF_PIN_CHUNKED = 1 << 22,
    VF_PIN_COMPUTE = 1 << 23, VF_PIN_BEAM = 1 << 24, VF_PIN_DEVICE = 1 << 25, VF_PIN_WFA = 1 << 26,
};

/* Parse argv (argv[0] is the first flag or the program) for engine e.
 * Flags that do not affect memory (host, port, API keys ...) are accepted
 * silently; unknown flags are listed in warnings; a flag with a bad value is
 * an error (VF_ERR_ARG, message in err). */
int vf_engine_args_parse(enum vf_engine e, int argc, char **argv, struct vf_pinned *out,
                         struct vf_strlist *warnings, char *err, size_t errlen);
/* The same for one command line string. */
int vf_engine_args_parse_line(enum vf_engine e, const char *line, struct vf_pinned *out,
                              struct vf_strlist *warnings, char *err, size_t errlen);

/* Fuzz entry point: the bytes as a command line for every engine. */
int vf__fuzz_engine_args(const uint8_t *data, size_t size);

#endif
