/* planreq.h - the plan flags `voxfit up` and `voxfit pull` share with
 * `voxfit plan` (--gpu, --llm, --ctx ...), turned into a plan request the
 * way `voxfit plan` does it, and a plan written by `voxfit plan --json`
 * read back into a request that reproduces it (its settings pinned as
 * engine flags). See docs/internals/ops.md. */
#ifndef VF_OPS_PLANREQ_H
#define VF_OPS_PLANREQ_H

#include "../core/args.h"
#include "../plan/plan.h"

struct vf_planflags {
    const char *gpu, *device, *llm, *stt, *tts;
    const char *llm_engine, *stt_engine, *tts_device;
    const char *llm_args, *stt_args, *kv_type, *vllm_version;
    uint64_t vram, margin, used;
    bool used_set;
    int ctx, max_ctx, sessions;
};

#define VF_PLANFLAGS_N 18

void vf_planflags_default(struct vf_planflags *f);
/* Write the option rows for f into opts (room for VF_PLANFLAGS_N); returns
 * how many. The rows point into f. */
size_t vf_planflags_opts(struct vf_planflags *f, struct vf_opt *opts);
/* Build the request: the device (--gpu, --vram, --device cpu, else NVML,
 * else the CPU), models, engines and knobs. Returns 0, or the exit code
 * (1: no device, 2: bad flags) after printing why to stderr as prog. */
int vf_planflags_req(const struct vf_planflags *f, struct vf_plan_req *req, const char *prog,
                     bool quiet);

/* A plan read from `voxfit plan --json`. */
struct vf_planfile {
    struct vf_device device;
    char llm[256], stt[256], tts[256]; /* "none" for a role the plan leaves out */
    enum vf_engine llm_engine, stt_engine;
    bool tts_gpu;
    char llm_args[512], stt_args[256]; /* the plan's settings as the engines' flags */
    char vllm_version[16];
    uint64_t margin_bytes;
    uint32_t sessions;
    uint64_t planned_bytes[VF_PLAN_COMPONENTS]; /* total_bytes per role, 0 when absent */
};

/* Read a plan file (at most 4 MiB). VF_ERR_IO, VF_ERR_FORMAT (err says
 * what is missing), VF_ERR_NOMEM. */
int vf_planfile_load(const char *path, struct vf_planfile *pf, char *err, size_t errlen);
/* The same from memory (tests). */
int vf_planfile_parse(const char *json, size_t len, struct vf_planfile *pf, char *err,
                      size_t errlen);
/* A request that reproduces the plan file. The strings point into pf. */
void vf_planfile_req(const struct vf_planfile *pf, struct vf_plan_req *req);

#endif
