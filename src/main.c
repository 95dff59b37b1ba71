/* main.c - the voxfit command: dispatches to a subcommand (src/cli/). */
#include "cli/cli.h"
#include "core/log.h"
#include "llm/llama_rt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"plan", vf_cmd_plan, "exact GPU/CPU memory budget for STT + LLM + TTS; engine flags, compose, audits"},
    {"measure", vf_cmd_measure, "load a model with the embedded engine and report what it really allocates"},
    {"dev", vf_cmd_dev, "developer tools: mkmodel (random-weight models in real formats)"},
    {"gpu", vf_cmd_gpu, "live GPU view: memory, utilization, temperature, processes with their commands"},
    {"up", vf_cmd_up, "start the planned engines one by one, check their memory, fall back when one does not fit"},
    {"pull", vf_cmd_pull, "download models from the Hugging Face Hub into the cache (resumable, checksummed)"},
    {"serve", vf_cmd_serve, "OpenAI-compatible server (chat completions, models, health, metrics) with the planned LLM"},
    {"transcribe", vf_cmd_transcribe, "speech-to-text of an audio file with the embedded Whisper"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: voxfit <command> [options]\n\n"
               "voxfit plans and runs a local voice assistant (speech-to-text, LLM,\n"
               "text-to-speech) on one GPU without running out of memory.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'voxfit <command> --help' lists each command's options and defaults.\n"
               "Exit codes: 0 ok, 1 the checked configuration fails, 2 usage error.\n");
}

int main(int argc, char **argv) {
    enum vf_log_level lvl;
    const char *env = getenv("VOXFIT_LOG_LEVEL");
    if (env && vf_log_parse_level(env, &lvl) == 0)
        vf_log_set_level(lvl);
    vf_llama_rt_set_probe_program("/proc/self/exe");
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("voxfit %s\n", VOXFIT_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "voxfit: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
