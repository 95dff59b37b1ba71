/* cmd_dev.c - `voxfit dev`: developer tools that tests and benchmarks use.
 *   voxfit dev mkmodel --like ARCH [--type T] -o FILE   random-weight model
 *   voxfit dev cuda-probe DIR                           does a CUDA build run here */
#include "cli.h"
#include "../core/args.h"
#include "../dev/mkmodel.h"
#include "../llm/llama_rt.h"
#include "../dev/mkwhisper.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int cmd_mkmodel(int argc, char **argv) {
    struct vf_mkmodel_params p = {0};
    int64_t seed = 0, ctx = 0;
    const char *weights = "random";
    static const char *const wchoices[] = {"random", "zeros", NULL};
    const struct vf_opt opts[] = {
        {"--like", NULL, VF_OPT_STR, &p.like, "ARCH", "architecture: a catalog LLM (Qwen/Qwen3-0.6B, "
         "meta-llama/Llama-3.2-1B-Instruct, ...) or 'tiny'", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--type", NULL, VF_OPT_STR, &p.type, "TYPE", "GGUF file type (Q4_K_M, Q8_0, F16, ...)",
         "Q8_0 (F16 for tiny)", 0, 0, 0, 0, NULL, NULL},
        {"--output", "-o", VF_OPT_STR, &p.out, "FILE", "output file", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--weights", NULL, VF_OPT_CHOICE, &weights, "KIND", "random weights, or zeros as a sparse "
         "file (for memory tests)", "random", 0, 0, 0, 0, wchoices, NULL},
        {"--seed", NULL, VF_OPT_I64, &seed, "N", "random seed", "fixed", 0, INT64_MAX, 0, 0, NULL, NULL},
        {"--ctx-train", NULL, VF_OPT_I64, &ctx, "N", "training context written to the metadata",
         "the architecture's", 0, 1 << 24, 0, 0, NULL, NULL},
    };
    const char *pos[1];
    int npos = 0;
    enum vf_args_result ar = vf_args_parse("voxfit dev mkmodel --like ARCH [--type TYPE] -o FILE",
                                           "Write a GGUF model with random weights at the real shapes of ARCH.",
                                           opts, sizeof opts / sizeof opts[0], argc, argv, pos, 0, &npos,
                                           stdout, stderr);
    if (ar != VF_ARGS_OK)
        return ar == VF_ARGS_HELP ? 0 : 2;
    if (!p.like || !p.out) {
        fprintf(stderr, "voxfit dev mkmodel: --like and -o are required\n");
        return 2;
    }
    p.zeros = strcmp(weights, "zeros") == 0;
    p.seed = (uint64_t)seed;
    p.n_ctx_train = (uint32_t)ctx;
    char err[512] = "";
    /* --like whisper-tiny.en, whisper-large-v3 ...: a whisper.cpp .bin */
    int rc = !strncmp(p.like, "whisper", 7)
                 ? vf_mkmodel_whisper(p.like, p.type, p.out, p.seed, err, sizeof err)
                 : vf_mkmodel_gguf(&p, err, sizeof err);
    if (rc) {
        fprintf(stderr, "voxfit dev mkmodel: %s\n", err[0] ? err : vf_status_str(rc));
        return rc == VF_ERR_NOTFOUND || rc == VF_ERR_ARG || rc == VF_ERR_UNSUPPORTED ? 2 : 1;
    }
    return 0;
}

/* voxfit dev cuda-probe DIR: does the CUDA build in DIR run here? (the
 * child process of vf_llama_rt_init's choice; useful by hand too) */
static int cmd_cuda_probe(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        FILE *f = argc == 2 ? stdout : stderr;
        fprintf(f, "usage: voxfit dev cuda-probe DIR\n\nLoad DIR/libggml-cuda.so and run a small graph on every "
                   "CUDA device;\nexit 0 when it runs, 1 when it does not (with the reason).\n");
        return argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
    }
    char msg[1024];
    int rc = vf_llama_rt_cuda_probe(argv[1], msg, sizeof msg);
    printf("%s: %s\n", rc ? "fails" : "runs", msg);
    return rc ? 1 : 0;
}

int vf_cmd_dev(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: voxfit dev <tool> [options]\n\ntools:\n"
                   "  mkmodel    write a model with random weights at a real architecture's shapes\n"
                   "  cuda-probe DIR   does the CUDA build of ggml in DIR run on this machine's GPUs?\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "mkmodel"))
        return cmd_mkmodel(argc - 1, argv + 1);
    if (!strcmp(argv[1], "cuda-probe"))
        return cmd_cuda_probe(argc - 1, argv + 1);
    fprintf(stderr, "voxfit dev: unknown tool '%s'\n", argv[1]);
    return 2;
}
