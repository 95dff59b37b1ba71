/* model.h - what voxfit knows about one model, whatever it came from: a
 * catalog entry, a GGUF file, a Hugging Face folder (config.json +
 * safetensors), a whisper.cpp ggml file or a CTranslate2 folder. The
 * readers fill the hyper-parameters and the exact tensor list; for catalog
 * entries the tensor list is synthesized from the real shapes (synth.c), so
 * the memory model always works from tensors, never from a parameter count. */
#ifndef VF_MODEL_H
#define VF_MODEL_H

#include "tensor.h"

enum vf_role { VF_ROLE_LLM = 0, VF_ROLE_STT, VF_ROLE_TTS };

enum vf_model_format {
    VF_FMT_GGUF = 0,        /* llama.cpp */
    VF_FMT_HF,              /* Hugging Face safetensors (vLLM, transformers) */
    VF_FMT_WHISPER_GGML,    /* whisper.cpp ggml .bin */
    VF_FMT_CT2,             /* CTranslate2 (faster-whisper) */
    VF_FMT_TTS,             /* a TTS model (Kokoro weights, espeak-ng) */
};

#define VF_MAX_LAYERS 512

/* Decoder-only LLM hyper-parameters, in llama.cpp's terms. */
struct vf_llm_hparams {
    char arch[32];            /* GGUF general.architecture: llama, qwen2, qwen3, qwen3moe, gemma3, phi3 */
    uint32_t n_layer;
    uint32_t n_embd;
    uint32_t n_head;
    uint32_t n_head_kv;       /* when every layer has the same; see n_head_kv_l */
    uint32_t n_embd_head_k;   /* head dim of K (and Q) */
    uint32_t n_embd_head_v;   /* head dim of V */
    uint32_t n_ff;            /* dense FFN width (0 for pure MoE) */
    uint32_t n_vocab;
    uint32_t n_ctx_train;
    uint32_t n_expert;        /* 0: dense */
    uint32_t n_expert_used;
    uint32_t n_ff_exp;        /* width of one expert */
    uint32_t n_swa;           /* sliding-window size, 0 when none */
    uint32_t swa_period;      /* every swa_period-th layer is global (gemma3: 6); 0 none */
    uint32_t n_head_kv_l[VF_MAX_LAYERS]; /* per layer; 0 = layer has no KV (recurrent) */
    bool tied_embeddings;     /* output projection shares token_embd */
};

/* Whisper hyper-parameters, named as in whisper.cpp's file header. */
struct vf_whisper_hparams {
    uint32_t n_vocab;
    uint32_t n_audio_ctx;     /* 1500 */
    uint32_t n_audio_state;
    uint32_t n_audio_head;
    uint32_t n_audio_layer;
    uint32_t n_text_ctx;      /* 448 */
    uint32_t n_text_state;
    uint32_t n_text_head;
    uint32_t n_text_layer;
    uint32_t n_mels;          /* 80, or 128 for large-v3 */
    uint32_t ftype;
};

struct vf_model {
    char id[256];             /* what the user named: catalog id or path */
    char name[128];           /* display name */
    enum vf_role role;
    enum vf_model_format format;
    char quant[24];           /* "Q4_K_M", "BF16", "FP8", "AWQ", "int8", "f16" ... */
    bool from_catalog;        /* tensors synthesized from catalog shapes */
    bool quant_ondisk;        /* weights are pre-quantized in the files (vs at load) */
    struct vf_llm_hparams llm;
    struct vf_whisper_hparams whisper;
    struct vf_tensor_list tensors;
    uint64_t file_bytes;      /* size on disk (0 when unknown) */
    uint64_t n_params;        /* parameter count (catalog or summed) */
    uint32_t tts_sample_rate; /* TTS only */
};

void vf_model_init(struct vf_model *m);
void vf_model_free(struct vf_model *m);
/* Sum of tensor bytes. */
uint64_t vf_model_weight_bytes(const struct vf_model *m);
const char *vf_role_name(enum vf_role r);
const char *vf_format_name(enum vf_model_format f);
/* Per-layer KV head count (n_head_kv_l when set, else n_head_kv). */
uint32_t vf_llm_head_kv(const struct vf_llm_hparams *hp, uint32_t il);
/* True when layer il uses sliding-window attention. */
bool vf_llm_layer_is_swa(const struct vf_llm_hparams *hp, uint32_t il);

/* Resolve a model reference: a catalog id ("Qwen/Qwen3-8B-GGUF:Q4_K_M",
 * "large-v3"), a file (.gguf, whisper.cpp .bin) or a folder (Hugging Face,
 * CTranslate2). role is the role asked for (used to pick between catalog
 * entries and to check a file is of the right kind); engine_hint ("vllm",
 * "llama.cpp", "faster-whisper", ...) picks the catalog format, may be NULL. err gets one line on
 * failure. Returns VF_OK, VF_ERR_NOTFOUND (unknown id, missing file),
 * VF_ERR_FORMAT, VF_ERR_UNSUPPORTED, VF_ERR_IO, VF_ERR_NOMEM. */
int vf_model_resolve(const char *ref, enum vf_role role, const char *engine_hint,
                     struct vf_model *out, char *err, size_t errlen);

/* Readers of each format (hyper-parameters and the exact tensor table):
 * GGUF (gguf_model.c), a Hugging Face folder (hf.c), a whisper.cpp file
 * (whisper_file.c), a CTranslate2 folder (ct2.c). Same return codes as
 * vf_model_resolve. */
int vf_model_from_gguf(const char *path, struct vf_model *out, char *err, size_t errlen);
int vf_model_from_hf_dir(const char *dir, struct vf_model *out, char *err, size_t errlen);
int vf_model_from_whisper_bin(const char *path, struct vf_model *out, char *err, size_t errlen);
int vf_model_from_ct2_dir(const char *dir, struct vf_model *out, char *err, size_t errlen);

/* Fuzz entry points of the readers (always return 0). */
int vf__fuzz_safetensors(const uint8_t *data, size_t size);
int vf__fuzz_whisper_header(const uint8_t *data, size_t size);
int vf__fuzz_ct2(const uint8_t *data, size_t size);
int vf__hf_read_safetensors_mem(const uint8_t *data, size_t size, struct vf_tensor_list *l,
                                char *err, size_t errlen);

#endif
