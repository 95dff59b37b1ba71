/* compose.h - audit a docker-compose file: find the GPU services (vLLM,
 * llama.cpp, faster-whisper servers, Kokoro), read their command lines and
 * environment as the engines would, predict each one's memory on the
 * device, and say what will fail at start-up and why, with corrected values. */
#ifndef VF_COMPOSE_H
#define VF_COMPOSE_H

#include "plan.h"

#define VF_COMPOSE_MAX_BYTES (1u << 20)
#define VF_COMPOSE_MAX_SERVICES 64

struct vf_compose_service {
    char name[64];
    char image[256];
    char command[4096];          /* joined into one line */
    char whisper_model[256];     /* WHISPER_MODEL / WHISPER__MODEL / ASR_MODEL */
    char compute_type[32];       /* WHISPER_COMPUTE_TYPE ... */
    char cuda_visible[32];       /* CUDA_VISIBLE_DEVICES */
    bool gpu;                    /* runtime: nvidia or a GPU device reservation */
    enum vf_engine engine;       /* VF_ENGINE_COUNT: not a model server */
    char depends[8][64];         /* depends_on service names */
    int n_depends;
    bool depends_healthy[8];     /* condition: service_healthy */
};

struct vf_compose {
    struct vf_compose_service svc[VF_COMPOSE_MAX_SERVICES];
    int n;
};

/* Parse compose YAML (bounded to VF_COMPOSE_MAX_BYTES; anchors, aliases
 * and <<: merge keys resolved). Returns VF_OK, VF_ERR_FORMAT (err says
 * where), VF_ERR_TOOBIG. */
int vf_compose_parse(const char *text, size_t len, struct vf_compose *out, char *err, size_t errlen);

/* The whole `voxfit plan --check FILE` command; returns the exit code. */
int vf_compose_check_cmd(const char *path, const struct vf_plan_req *req, bool json, bool explain);

/* Fuzz entry point. */
int vf__fuzz_compose(const uint8_t *data, size_t size);

#endif
