/* choose.h - choosing the stack when the user names no model: every
 * catalog LLM in every quantization the engine runs, with every Whisper
 * size, is sized on the device; the best combination that fits wins
 * (quality first: LLM index minus its quantization loss plus the Whisper
 * index; then the longest context). */
#ifndef VF_CHOOSE_H
#define VF_CHOOSE_H

#include "plan.h"

/* Fill p with the best plan for req. llm / stt are the models already fixed
 * (NULL: choose that role). Returns VF_OK with p->fits false and an error
 * when nothing fits. */
int vf_choose(const struct vf_plan_req *req, const char *llm, const char *stt, struct vf_plan *p,
              char *err, size_t errlen);

/* Quality loss (index points) of a quantization ("Q4_K_M", "FP8", "AWQ"...). */
double vf_quant_penalty(const char *quant);

#endif
