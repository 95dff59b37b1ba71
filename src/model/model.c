/* model.c - the vf_model object: init/free, names and the per-layer
 * questions the memory model asks. */
#include "model.h"

#include <string.h>

void vf_model_init(struct vf_model *m) { memset(m, 0, sizeof *m); }

void vf_model_free(struct vf_model *m) {
    if (!m)
        return;
    vf_tensor_list_free(&m->tensors);
    memset(m, 0, sizeof *m);
}

uint64_t vf_model_weight_bytes(const struct vf_model *m) {
    return vf_tensor_list_bytes(&m->tensors);
}

const char *vf_role_name(enum vf_role r) {
    switch (r) {
    case VF_ROLE_LLM: return "llm";
    case VF_ROLE_STT: return "stt";
    case VF_ROLE_TTS: return "tts";
    }
    return "?";
}

const char *vf_format_name(enum vf_model_format f) {
    switch (f) {
    case VF_FMT_GGUF: return "gguf";
    case VF_FMT_HF: return "safetensors";
    case VF_FMT_WHISPER_GGML: return "whisper.cpp";
    case VF_FMT_CT2: return "ctranslate2";
    case VF_FMT_TTS: return "tts";
    }
    return "?";
}

uint32_t vf_llm_head_kv(const struct vf_llm_hparams *hp, uint32_t il) {
    if (il < VF_MAX_LAYERS && hp->n_head_kv_l[il])
        return hp->n_head_kv_l[il];
    return hp->n_head_kv;
}

bool vf_llm_layer_is_swa(const struct vf_llm_hparams *hp, uint32_t il) {
    if (!hp->n_swa)
        return false;
    if (!hp->swa_period)
        return true;
    return (il + 1) % hp->swa_period != 0;
}
