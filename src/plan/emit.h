/* emit.h - turn a plan into something that runs it: the engines' command
 * lines (llama-server, vllm serve), a docker-compose.yml that starts the
 * services in a safe order, or an env file. */
#ifndef VF_EMIT_H
#define VF_EMIT_H

#include "plan.h"

#include <stdio.h>

/* what: "vllm", "llama.cpp", "compose" or "env". Returns VF_OK, or
 * VF_ERR_ARG (message printed to stderr) when the plan has no component
 * for that target. */
int vf_emit(FILE *f, const struct vf_plan *p, const char *what);

#endif
