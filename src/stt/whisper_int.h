/* whisper_int.h - what the files of src/stt share and the unit tests may
 * look at: the parsed model file (wbin.c), the vocabulary (vocab.c), the
 * mel spectrogram (mel.c), the loaded model (model.c), the per-stream state
 * with its KV cells and graphs (state.c, graph.c) and the decoding loop
 * (decode.c). Nothing here is API; see whisper.h. */
#ifndef VF_WHISPER_INT_H
#define VF_WHISPER_INT_H

#include "vf_whisper.h"
#include "../core/reader.h"

#include <ggml.h>
#include <ggml-alloc.h>
#include <ggml-backend.h>

/* ==== Constants of the Whisper architecture ============================== */

#define VF_WH_N_FFT 400              /* 25 ms window at 16 kHz */
#define VF_WH_HOP 160                /* 10 ms */
#define VF_WH_N_FREQ (VF_WH_N_FFT / 2 + 1)
#define VF_WH_CHUNK_SECONDS 30
#define VF_WH_FILE_MAGIC 0x67676d6cu /* "ggml" */
#define VF_WH_QNT_FACTOR 1000        /* ftype = type + 1000 * quantization version */
#define VF_WH_N_LANGS 100            /* languages whisper.cpp knows (large-v3 has all) */

/* Bounds on what a file may declare. They are above every released model
 * and far below what would let a hostile file make us allocate or loop
 * without end. */
#define VF_WH_MAX_STATE 4096
#define VF_WH_MAX_LAYERS 64
#define VF_WH_MAX_HEAD_DIM 256
#define VF_WH_MAX_AUDIO_CTX 1500
#define VF_WH_MAX_TEXT_CTX 448
#define VF_WH_MAX_TOKEN_LEN 1024     /* bytes of one vocabulary entry */
#define VF_WH_MAX_TENSORS (16 + 16 * VF_WH_MAX_LAYERS + 26 * VF_WH_MAX_LAYERS)
#define VF_WH_NAME_MAX 64

/* ==== The model file ===================================================== */

struct vf_wh_hparams {
    int32_t n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer;
    int32_t n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels;
    int32_t ftype;           /* without the quantization version */
    int32_t qntvr;           /* ftype / 1000 as stored */
};

/* The vocabulary: token bytes (raw, as whisper.cpp keeps them), a hash from
 * bytes to id (the last id wins, as in whisper.cpp's std::map) and the
 * special tokens, whose ids depend on n_vocab. */
struct vf_wh_vocab {
    int32_t n_vocab;         /* = hparams n_vocab; entries past the file's are synthesized */
    int32_t n_file;          /* entries stored in the file */
    char *blob;              /* all token bytes */
    uint32_t *off;           /* (n_vocab) offset in blob */
    uint16_t *len;           /* (n_vocab) length */
    int32_t *hash;           /* (hash_cap) token id or -1 */
    uint32_t hash_cap;       /* a power of two */
    int max_len;             /* longest entry, bytes */
    int32_t eot, sot, translate, transcribe, solm, prev, nosp, not_ts, beg;
    int32_t space;           /* id of " ", -1 if absent */
    int n_languages;         /* 0 for .en models */
    bool multilingual;
};

struct vf_wh_tensor {
    char name[VF_WH_NAME_MAX];
    int32_t type;            /* ggml type */
    int n_dims;
    int64_t ne[3];
    uint64_t offset;         /* of the data in the file */
    uint64_t nbytes;
};

struct vf_wh_file {
    struct vf_wh_hparams hp;
    int32_t wtype;           /* ggml type the file's ftype names for the big matrices */
    float *filters;          /* (n_mels, VF_WH_N_FREQ) mel filter bank */
    struct vf_wh_vocab vocab;
    struct vf_wh_tensor *tensors;
    int n_tensors;
    uint64_t data_bytes;     /* sum of tensor data */
};

/* Parse a whole model file from r: header, filters, vocabulary and the
 * directory of tensors (whose data is skipped, its bounds checked). Every
 * count and size is bounded; every tensor the model needs must be present
 * once, with its shape and an allowed type. Returns VF_OK,
 * VF_ERR_FORMAT, VF_ERR_UNSUPPORTED, VF_ERR_NOMEM or VF_ERR_IO with err
 * set; on failure *f is freed and zeroed. */
int vf__wh_file_read(struct vf_reader *r, struct vf_wh_file *f, char *err, size_t errlen);
void vf__wh_file_free(struct vf_wh_file *f);
/* Fuzz entry point: parse data as a model file. Always returns 0. */
int vf__fuzz_whisper_bin(const uint8_t *data, size_t size);

/* The index of the tensor a model of these hparams expects under name, or
 * -1; the expected shape goes to ne (3 values, 1-padded) and kind to
 * *kind (0 f32 only, 1 convolution: f16/f32, 2 matrix: any allowed type). */
int vf__wh_expected(const struct vf_wh_hparams *hp, const char *name, int64_t ne[3], int *kind);
int vf__wh_expected_count(const struct vf_wh_hparams *hp);

/* ---- vocab.c ---- */

/* Set the special token ids and synthesize the entries past n_file, as
 * whisper.cpp does; build the hash. Returns VF_OK or VF_ERR_NOMEM. */
int vf__wh_vocab_finish(struct vf_wh_vocab *v);
void vf__wh_vocab_free(struct vf_wh_vocab *v);
int32_t vf__wh_vocab_find(const struct vf_wh_vocab *v, const char *s, size_t n);
int vf__wh_tokenize(const struct vf_wh_vocab *v, const char *text, int32_t *out, int max);

/* ==== Mel spectrogram ==================================================== */

struct vf_wh_mel {
    float *data;             /* (n_mel, n_len) row-major: mel bin, then frame */
    int n_mel;
    int n_len;               /* frames including the 30 s of padding */
    int n_len_org;           /* frames of the audio itself */
    size_t cap;              /* floats allocated */
};

/* Log-mel spectrogram of samples with whisper.cpp's numerics (same FFT
 * recursion, sums and clamping, so the values are bit-identical on the same
 * libm). mel's buffer is grown as needed (hard max from
 * VF_WHISPER_MAX_SECONDS). Returns VF_OK, VF_ERR_TOOBIG, VF_ERR_NOMEM. */
int vf__wh_mel(const float *samples, size_t n_samples, const float *filters, int n_mel,
               int n_threads, struct vf_wh_mel *mel);
void vf__wh_mel_free(struct vf_wh_mel *mel);

/* ==== The loaded model =================================================== */

struct vf_wh_enc_layer {
    struct ggml_tensor *attn_ln_w, *attn_ln_b, *q_w, *q_b, *k_w, *v_w, *v_b, *o_w, *o_b;
    struct ggml_tensor *mlp_ln_w, *mlp_ln_b, *mlp0_w, *mlp0_b, *mlp1_w, *mlp1_b;
};

struct vf_wh_dec_layer {
    struct ggml_tensor *attn_ln_w, *attn_ln_b, *q_w, *q_b, *k_w, *v_w, *v_b, *o_w, *o_b;
    struct ggml_tensor *x_ln_w, *x_ln_b, *xq_w, *xq_b, *xk_w, *xv_w, *xv_b, *xo_w, *xo_b;
    struct ggml_tensor *mlp_ln_w, *mlp_ln_b, *mlp0_w, *mlp0_b, *mlp1_w, *mlp1_b;
};

#define VF_WH_MAX_WBUFS 4

struct vf_whisper_model {
    struct vf_wh_file file;
    struct vf_wh_hparams hp;         /* = file.hp */
    struct ggml_context *ctxs[VF_WH_MAX_WBUFS]; /* tensor metadata, one per buffer type */
    int n_ctxs;
    ggml_backend_buffer_t bufs[VF_WH_MAX_WBUFS];
    int n_bufs;
    ggml_backend_dev_t gpu;          /* the GPU the weights are on, or NULL */
    struct ggml_tensor *e_pe, *conv1_w, *conv1_b, *conv2_w, *conv2_b, *e_ln_w, *e_ln_b;
    struct ggml_tensor *d_pe, *d_te, *d_ln_w, *d_ln_b;
    struct vf_wh_enc_layer *enc;
    struct vf_wh_dec_layer *dec;
    char type_name[16];
};

/* ==== The state ========================================================== */

/* One cell of the self-attention KV cache: the position it holds and the
 * set of sequences (decoders, and their beam-search scratch ids) that see
 * it. The bookkeeping follows whisper.cpp's so that the attention sees the
 * same cells in the same order. */
struct vf_wh_cell {
    int32_t pos;             /* -1: free */
    uint32_t seqs;           /* bit s: sequence s (0 .. 2 * VF_WHISPER_MAX_DECODERS - 1) */
};

/* A batch for the decoder: one token per row. */
struct vf_wh_batch {
    int n;
    int32_t *token;          /* (cap) */
    int32_t *pos;            /* (cap) */
    int32_t *seq;            /* (cap) */
    int8_t *logits;          /* (cap) 1: compute logits for this row */
    int cap;
};

struct vf_wh_seq {
    struct vf_whisper_token *tokens; /* (VF_WH_MAX_TEXT_CTX) */
    int n_tokens;
    int result_len;          /* tokens that form the result so far */
    double sum_logprobs_all, sum_logprobs, avg_logprobs, entropy, score;
};

/* std::mt19937, so sampling draws the numbers whisper.cpp's decoders do. */
struct vf_wh_mt {
    uint32_t x[624];
    int i;
};

struct vf_wh_decoder {
    struct vf_wh_seq seq;
    int i_batch;             /* row of its logits in the last batch */
    int seek_delta;          /* window shift from the timestamps so far (10 ms frames) */
    bool failed, completed, has_ts;
    float *probs, *logits, *logprobs;  /* (n_vocab) */
    struct vf_wh_mt rng;
};

struct vf_wh_beam_cand {
    int decoder;             /* the decoder it extends */
    int seek_delta;
    bool has_ts;
    struct vf_wh_seq seq;
};

struct vf_whisper_state {
    const struct vf_whisper_model *m;
    struct vf_whisper_state_params params;
    ggml_backend_t backends[2];      /* [GPU,] CPU */
    int n_backends;
    ggml_backend_t cpu;
    struct ggml_threadpool *threadpool;   /* the CPU backend's workers, kept between graphs */
    void (*threadpool_free)(struct ggml_threadpool *);
    ggml_backend_sched_t sched;
    void *meta;                      /* graph metadata arena */
    size_t meta_size;
    struct ggml_context *ctx_kv[2];   /* self, cross */
    ggml_backend_buffer_t buf_self, buf_cross;
    struct ggml_tensor *k_self, *v_self;    /* (n_state * n_layer * kv_size) */
    struct ggml_tensor *k_cross, *v_cross;  /* (n_state * n_layer * n_audio_ctx_pad) */
    int n_audio_ctx_pad;             /* cross cache rows per layer at full context */
    int audio_ctx;                   /* audio frames encoded by the current call (<= n_audio_ctx) */
    int audio_ctx_pad;               /* the same padded for GPU flash attention */
    struct vf_wh_cell *cells;
    int kv_size, kv_head, kv_n;
    bool gpu_pad;                    /* pad attention lengths to 256 with a mask (GPU kernels) */
    bool xattn_fa;                   /* fused kernel for the decoder's cross-attention (GPU) */
    struct vf_wh_mel mel;
    float *inp_mel;                  /* (n_mels, 2 * n_audio_ctx) */
    float *inp_mask;                 /* (n_tokens, n_kv) decoder mask scratch */
    size_t inp_mask_cap;
    uint16_t *inp_mask_h;            /* f16 copy for flash attention */
    uint16_t *pad_mask;              /* (n_audio_ctx_pad x max rows) f16 mask of padded keys */
    int pad_mask_for;                /* the audio_ctx pad_mask is filled for */
    struct ggml_tensor *inp_xmask;   /* the last decoder graph's cross mask, or NULL */
    struct vf_wh_batch batch;
    float *logits;                   /* (n_decoders, n_vocab) from the last decode */
    int n_logits_rows;
    struct vf_wh_decoder dec[VF_WHISPER_MAX_DECODERS];
    struct vf_wh_beam_cand *cands;   /* (n_decoders * n_decoders) */
    int n_cands_cap;
    int32_t *prompt;                 /* (n_text_ctx) */
    int32_t *past0, *past1;          /* (2 * n_text_ctx) text carried between windows */
    int n_past0, n_past1;
    float no_speech_prob;
    int enc_seek;                    /* seek of the cached encoder output, -1 none */
    int enc_ctx;                     /* its audio_ctx */
    int lang_id;
    double t_mel_ms, t_enc_ms, t_dec_ms;
    int n_enc, n_dec;
};

/* graph.c: build the graphs in s->meta (the caller resets the scheduler). */
struct ggml_cgraph *vf__wh_graph_encoder(struct vf_whisper_state *s, struct ggml_tensor **inp_mel,
                                         struct ggml_tensor **inp_mask);
struct ggml_cgraph *vf__wh_graph_decoder(struct vf_whisper_state *s, int n_tokens, int n_kv,
                                         int kv_head, int n_outputs, struct ggml_tensor **inp_tok,
                                         struct ggml_tensor **inp_pos, struct ggml_tensor **inp_mask,
                                         struct ggml_tensor **inp_out, struct ggml_tensor **logits);

/* state.c */
int vf__wh_compute(struct vf_whisper_state *s, struct ggml_cgraph *gf);
/* Run the encoder on the window of s->mel starting at frame seek and fill
 * the cross-attention cache. VF_OK or VF_ERR_BACKEND. */
void vf__wh_set_audio_ctx(struct vf_whisper_state *s, int audio_ctx);
int vf__wh_encode(struct vf_whisper_state *s, int seek);
/* Decode s->batch; the logits of rows with logits[i] set go, in order, to
 * s->logits. VF_OK, VF_ERR_BACKEND, or VF_ERR_TOOBIG when the KV cache has
 * no room. */
int vf__wh_decode(struct vf_whisper_state *s);
/* KV cell bookkeeping (whisper.cpp's semantics). */
void vf__wh_kv_clear(struct vf_whisper_state *s);
void vf__wh_kv_seq_rm(struct vf_whisper_state *s, int seq, int p0, int p1);
void vf__wh_kv_seq_cp(struct vf_whisper_state *s, int src, int dst, int p0, int p1);
/* Set s->mel from samples. */
int vf__wh_set_audio(struct vf_whisper_state *s, const float *samples, size_t n);

/* decode.c */
/* Teacher forcing, for comparisons with other implementations: encode the
 * first window of samples (full context) and feed tokens[0..n) one at a
 * time; the logits after each go to out (n x n_vocab floats). */
int vf__wh_teacher_logits(struct vf_whisper_state *s, const float *samples, size_t n_samples,
                          const int32_t *tokens, int n, float *out);
void vf__wh_mt_seed(struct vf_wh_mt *mt, uint32_t seed);
uint32_t vf__wh_mt_next(struct vf_wh_mt *mt);
/* std::discrete_distribution<int>(p, p + n)(mt) as libstdc++ computes it. */
int vf__wh_mt_discrete(struct vf_wh_mt *mt, const float *p, int n);

#endif
