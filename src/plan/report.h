/* report.h - printing a plan: the table, the box drawing, the arithmetic
 * of every term (--explain), and the JSON document (--json). */
#ifndef VF_REPORT_H
#define VF_REPORT_H

#include "plan.h"

#include <cjson/cJSON.h>
#include <stdio.h>

void vf_report_text(FILE *f, const struct vf_plan *p, bool explain);
/* The plan as a JSON object (caller frees with cJSON_Delete); NULL on OOM. */
cJSON *vf_report_json(const struct vf_plan *p);
/* The llama.cpp / vLLM / whisper flags of a component as one line. */
void vf_report_flags(const struct vf_component *c, char *buf, size_t n);
/* A component's model as shown to people: "Qwen/Qwen3-8B-GGUF:Q4_K_M". */
const char *vf_report_model_id(const struct vf_component *c);

#endif
