/* llama_rt.h - process-wide set-up of the embedded llama.cpp: loads the
 * ggml backends once (CPU variants, CUDA when present), routes llama.cpp's
 * log through voxfit's and lets a caller capture the log lines of one
 * operation (measure parses the buffer sizes llama.cpp prints). */
#ifndef VF_LLAMA_RT_H
#define VF_LLAMA_RT_H

#include "../core/vf.h"

/* Load backends and initialise llama.cpp; safe to call many times and from
 * several threads. Returns VF_OK or VF_ERR_BACKEND. */
int vf_llama_rt_init(void);

/* Number of GPU devices ggml found (0 on a CPU-only machine). */
int vf_llama_rt_gpu_count(void);

/* Capture llama.cpp log lines into a buffer until the matching end call;
 * only one capture at a time (others wait). The returned text is owned by
 * the caller (vf_free). While capturing, lines are not printed unless
 * verbose logging is on. */
void vf_llama_rt_capture_begin(void);
char *vf_llama_rt_capture_end(void);

#endif
