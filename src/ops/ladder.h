/* ladder.h - what `voxfit up` changes when an engine fails to start, dies
 * out of memory or takes more than planned, cheapest quality loss first:
 *
 *   1. a shorter context (halved, not below --ctx)
 *   2. a lower KV cache precision (llama.cpp f16 -> q8_0, vLLM auto -> fp8)
 *   3. a smaller Whisper (the best catalog size below, same languages)
 *   4. fewer GPU layers (llama.cpp, a quarter of them at a time)
 *   5. a smaller LLM (a smaller GGUF quantization down to Q4_K_M, then the
 *      best smaller catalog model)
 *
 * Each step only changes the request; the caller re-plans it (vf_up_plan)
 * and restarts what changed. Memory an engine took beyond its plan is kept
 * as extra margin in every later plan. See docs/internals/ops.md. */
#ifndef VF_OPS_LADDER_H
#define VF_OPS_LADDER_H

#include "../plan/plan.h"

enum vf_step { VF_STEP_CTX = 0, VF_STEP_KV, VF_STEP_STT, VF_STEP_NGL, VF_STEP_LLM, VF_STEP_NONE };

const char *vf_step_name(enum vf_step s);

/* The request `up` plans with: the user's request plus what the ladder
 * changed. */
struct vf_up_req {
    struct vf_plan_req base; /* device, engines, knobs; model strings point into llm/stt/tts */
    char llm[256], stt[256], tts[256];
    bool llm_set, stt_set, tts_set; /* false: voxfit chooses (the first plan fixes them) */
    const char *user_llm_args; /* the user's --llm-args / the plan file's settings (borrowed) */
    const char *user_stt_args;
    char llm_args[1536], stt_args[768]; /* composed for vf_plan_make */
    uint32_t ctx;                       /* context per conversation the ladder set; 0: as planned */
    uint32_t ctx_floor;                 /* the shortest context the ladder goes to */
    enum vf_dtype kv;                   /* VF_DT_INVALID: as planned */
    int ngl;                            /* -1: as planned */
    uint64_t user_margin;
    uint64_t extra[VF_PLAN_COMPONENTS]; /* measured beyond the plan, per role */
    int steps;                          /* ladder steps taken */
};

/* Start from a request (its strings are copied where the ladder changes
 * them, borrowed otherwise). */
void vf_up_req_init(struct vf_up_req *u, const struct vf_plan_req *req);
/* Make the plan for u: compose the pinned flags, vf_plan_make, then
 * vf_stack_adjust. Returns vf_plan_make's result; p is always initialised.
 * The first successful call fixes the models voxfit chose. */
int vf_up_plan(struct vf_up_req *u, struct vf_plan *p, char *err, size_t errlen);

/* Apply the next step that can help: mask has bit (1 << role) for the roles
 * whose memory matters (the failing engine and those started before it).
 * Returns the step taken (what gets "shorter context: 40960 -> 20480 tokens")
 * or VF_STEP_NONE when nothing is left. */
enum vf_step vf_ladder_next(struct vf_up_req *u, const struct vf_plan *p, unsigned mask, char *what,
                            size_t n);

#endif
