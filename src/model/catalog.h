/* catalog.h - the built-in model catalog: the real shapes of the LLMs,
 * Whisper sizes and TTS models people run, and the repositories that
 * publish them in each format. A catalog id resolves to a vf_model whose
 * tensor list synth.c builds from these shapes, so a model the user has not
 * downloaded is sized exactly as the file would be. */
#ifndef VF_CATALOG_H
#define VF_CATALOG_H

#include "model.h"

/* One LLM base model and the repositories that publish it. */
struct vf_cat_llm {
    const char *name;        /* "Qwen3-8B" */
    const char *hf;          /* BF16 safetensors repo: "Qwen/Qwen3-8B" */
    const char *gguf;        /* GGUF repo, or NULL */
    const char *fp8;         /* FP8 safetensors repo, or NULL */
    const char *awq;         /* AWQ 4-bit repo, or NULL */
    const char *arch;        /* GGUF architecture */
    uint32_t n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx_train;
    uint32_t n_expert, n_expert_used, n_ff_exp;
    uint32_t n_swa, swa_period;
    bool tied;               /* output shares token_embd */
    bool qkv_bias;           /* Qwen2-style q/k/v biases */
    bool qk_norm;            /* Qwen3/Gemma3 per-head q/k RMS norm */
    bool fused_qkv;          /* Phi-3 style fused attn_qkv and ffn_up (gate+up) */
    bool rope_freqs;         /* Llama 3.1 style rope_freqs tensor */
    double quality;          /* rough capability index (MMLU-like, 0-100) for choosing */
};

struct vf_cat_whisper {
    const char *name;        /* "large-v3", "distil-small.en" */
    const char *ct2;         /* faster-whisper (CTranslate2) repo */
    uint32_t n_state, n_head, n_enc_layer, n_dec_layer, n_vocab, n_mels;
    double quality;          /* rough accuracy index (100 - WER-ish) */
    uint64_t n_params;
};

struct vf_cat_tts {
    const char *name;        /* "kokoro-82m" */
    const char *repo;
    uint64_t n_params;
    uint32_t sample_rate;
    bool gpu_capable;
};

/* GGUF quantization mixes llama-quantize produces (by file-type name). */
extern const char *const vf_gguf_quants[];

size_t vf_catalog_llm_count(void);
const struct vf_cat_llm *vf_catalog_llm(size_t i);
size_t vf_catalog_whisper_count(void);
const struct vf_cat_whisper *vf_catalog_whisper(size_t i);
size_t vf_catalog_tts_count(void);
const struct vf_cat_tts *vf_catalog_tts(size_t i);

/* Resolve a catalog id into out (tensors synthesized). Accepted forms:
 *   "Qwen/Qwen3-8B" (BF16), "Qwen/Qwen3-8B-FP8", "Qwen/Qwen3-8B-AWQ",
 *   "Qwen/Qwen3-8B-GGUF:Q4_K_M", "Qwen3-8B:Q4_K_M", "qwen3-8b" ...
 *   "large-v3", "whisper-large-v3", "openai/whisper-large-v3",
 *   "Systran/faster-whisper-large-v3", "distil-small.en", "ggml-base.en.bin",
 *   "kokoro-82m", "hexgrad/Kokoro-82M", "espeak".
 * Matching ignores case and the organisation prefix. engine_hint picks the
 * format when the id alone does not ("llama.cpp" -> GGUF Q4_K_M, "vllm" ->
 * safetensors; "whisper" -> ggml f16, "faster-whisper" -> CTranslate2), and
 * may be NULL. Returns VF_OK or VF_ERR_NOTFOUND (err lists close names). */
int vf_catalog_resolve(const char *id, enum vf_role role, const char *engine_hint,
                       struct vf_model *out, char *err, size_t errlen);

/* Build a catalog LLM in a format: fmt VF_FMT_GGUF with quant a GGUF
 * file-type ("Q4_K_M"), or VF_FMT_HF with quant "BF16", "FP8" or "AWQ". */
int vf_catalog_llm_model(const struct vf_cat_llm *c, enum vf_model_format fmt, const char *quant,
                         struct vf_model *out, char *err, size_t errlen);
/* Build a catalog Whisper in whisper.cpp format (quant "f16", "q5_0", "q5_1",
 * "q8_0", "f32") or CTranslate2 (quant "float16", "int8", "int8_float16",
 * "float32", "bfloat16", "int8_bfloat16"). */
int vf_catalog_whisper_model(const struct vf_cat_whisper *c, enum vf_model_format fmt,
                             const char *quant, struct vf_model *out, char *err, size_t errlen);
int vf_catalog_tts_model(const struct vf_cat_tts *c, struct vf_model *out);

/* Find by name (case-insensitive, org prefix ignored); NULL if absent. */
const struct vf_cat_llm *vf_catalog_find_llm(const char *name);
const struct vf_cat_whisper *vf_catalog_find_whisper(const char *name);

#endif
