/* synth.h - build the exact tensor list a model file would have, from a
 * catalog entry's shapes: GGUF files as llama.cpp's converter and
 * llama-quantize lay them out (names, shapes and the per-tensor types of
 * each quantization mix), Hugging Face safetensors in BF16, FP8 (128x128
 * block scales) or AWQ (4-bit, group 128), and Whisper in whisper.cpp or
 * CTranslate2 layout. */
#ifndef VF_SYNTH_H
#define VF_SYNTH_H

#include "catalog.h"

/* GGUF tensors for c, quantized with the llama-quantize mix named by ftype
 * ("Q4_K_M", "Q8_0", "F16", ...). VF_ERR_ARG for an unknown ftype. */
int vf_synth_llm_gguf(const struct vf_cat_llm *c, const char *ftype, struct vf_tensor_list *out);

/* Apply llama-quantize's type selection for ftype to a tensor list whose
 * 2-D weights are in a float type, as llama_tensor_get_type does; used for
 * synthesized lists and by mkmodel. hp gives the layer and GQA counts. */
int vf_synth_quant_mix(struct vf_tensor_list *l, const struct vf_llm_hparams *hp,
                       const char *ftype);

/* Hugging Face safetensors tensors: quant "BF16", "FP8" or "AWQ". */
int vf_synth_llm_hf(const struct vf_cat_llm *c, const char *quant, struct vf_tensor_list *out);

/* whisper.cpp ggml tensors (wtype "f16", "f32", "q5_0", "q5_1", "q8_0"). */
int vf_synth_whisper_ggml(const struct vf_whisper_hparams *hp, const char *wtype,
                          struct vf_tensor_list *out);
/* CTranslate2 tensors (compute/storage type "float16", "int8", ...). */
int vf_synth_whisper_ct2(const struct vf_whisper_hparams *hp, const char *ctype,
                         struct vf_tensor_list *out);

/* Fill LLM hyper-parameters from a catalog row. */
void vf_synth_llm_hparams(const struct vf_cat_llm *c, struct vf_llm_hparams *hp);

#endif
