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

/* Let vf_llama_rt_init() try each CUDA build in a child process first:
 * exe is a program that runs `exe dev cuda-probe DIR` (the voxfit binary,
 * main() passes /proc/self/exe). Without it (library users, unit tests) the
 * first CUDA build that loads is taken untried. Call before the first init. */
void vf_llama_rt_set_probe_program(const char *exe);

/* Try the CUDA build in dir (its libggml-cuda.so): load it and run a small
 * graph on every CUDA device. Returns 0 when it runs (msg: the devices) or 1
 * (msg: why not). A build that fails at a kernel launch aborts the process
 * inside ggml: run this in a child (`voxfit dev cuda-probe`). */
int vf_llama_rt_cuda_probe(const char *dir, char *msg, size_t msglen);

/* Number of GPU devices ggml found (0 on a CPU-only machine). */
int vf_llama_rt_gpu_count(void);

/* Capture llama.cpp log lines into a buffer until the matching end call;
 * only one capture at a time (others wait). The returned text is owned by
 * the caller (vf_free). While capturing, lines are not printed unless
 * verbose logging is on. */
void vf_llama_rt_capture_begin(void);
char *vf_llama_rt_capture_end(void);

#endif
