/* mem_tts.c - text-to-speech memory. Kokoro-82M (Kokoro-FastAPI) holds
 * its fp32 weights plus the style-predictor and iSTFTNet decoder
 * activations for a chunk of text in a PyTorch process; on the CPU the
 * same in RAM. espeak-ng is a few MB of RAM and no GPU. */
#include "plan.h"
#include "../core/str.h"

#include <stdio.h>

/* Activation and voice-pack working set of Kokoro for a ~400-character
 * chunk (Kokoro-FastAPI's default split), from its GPU reports of about
 * 1 GiB per process including the CUDA context. */
#define KOKORO_WORK_BYTES (192 * VF_MIB)
#define KOKORO_CPU_RUNTIME (420 * VF_MIB)   /* PyTorch CPU runtime and phonemizer */
#define ESPEAK_BYTES (12 * VF_MIB)

int vf_mem_tts(struct vf_component *c, const struct vf_device *dev) {
    char b1[32], b2[32];
    uint64_t w = vf_model_weight_bytes(&c->model);
    if (c->engine == VF_ENGINE_ESPEAK || !w) {
        c->placement = VF_PLACE_CPU;
        c->host_bytes = ESPEAK_BYTES;
        if (dev->kind == VF_DEVICE_CPU)
            c->overhead_bytes = ESPEAK_BYTES;
        vf_strlist_addf(&c->explain, "espeak-ng: CPU only, about %s of RAM, no GPU memory",
                        vf_fmt_bytes(ESPEAK_BYTES, b1, sizeof b1));
        return VF_OK;
    }
    bool gpu = c->tts.on_gpu && dev->kind == VF_DEVICE_GPU;
    c->placement = gpu ? VF_PLACE_GPU : VF_PLACE_CPU;
    if (gpu) {
        c->weights_bytes = w;
        c->compute_bytes = KOKORO_WORK_BYTES;
        c->host_bytes = KOKORO_CPU_RUNTIME;
        vf_strlist_addf(&c->explain, "weights = %llu params x 4 B (fp32) = %s",
                        (unsigned long long)c->model.n_params, vf_fmt_bytes(w, b1, sizeof b1));
        vf_strlist_addf(&c->explain, "activations (400-character chunk, decoder at 24 kHz) = %s",
                        vf_fmt_bytes(KOKORO_WORK_BYTES, b2, sizeof b2));
    } else if (dev->kind == VF_DEVICE_CPU) {
        c->weights_bytes = w;
        c->compute_bytes = KOKORO_WORK_BYTES;
        c->overhead_bytes = KOKORO_CPU_RUNTIME;
        vf_strlist_addf(&c->explain, "on the CPU: weights %s + activations %s + runtime %s of RAM",
                        vf_fmt_bytes(w, b1, sizeof b1), vf_fmt_bytes(KOKORO_WORK_BYTES, b2, sizeof b2),
                        "420.00 MiB");
    } else {
        c->host_bytes = w + KOKORO_WORK_BYTES + KOKORO_CPU_RUNTIME;
        vf_strlist_addf(&c->explain, "on the CPU (--tts-device cpu): no GPU memory; %s of RAM",
                        vf_fmt_bytes(c->host_bytes, b1, sizeof b1));
    }
    return VF_OK;
}
