/* vf_whisper.h - speech-to-text with OpenAI's Whisper, written in C on ggml's
 * C API. It loads whisper.cpp's model files (ggml .bin, f32/f16 and the
 * q4/q5/q8 quantizations), computes the log-mel spectrogram, runs the
 * encoder and the decoder on the ggml backends voxfit shares with the LLM
 * (CPU with the best kernels for the processor, CUDA when present) and
 * decodes text with timestamps: greedy or beam search, temperature fallback,
 * 30-second windows that carry the previous text as prompt.
 *
 * One loaded model (vf_whisper_model) is immutable and shared by any number
 * of streams; each stream owns a vf_whisper_state (KV caches, compute
 * buffers, the text carried between calls), sized once when it is created.
 * A state is used by one thread at a time; different states may run in
 * parallel on the same model. Design notes: docs/internals/whisper.md.
 *
 * Basic usage:
 *
 *     struct vf_whisper_model *m = NULL;
 *     struct vf_whisper_state *s = NULL;
 *     struct vf_whisper_model_params mp = vf_whisper_model_default_params();
 *     struct vf_whisper_state_params sp = vf_whisper_state_default_params();
 *     struct vf_whisper_params p = vf_whisper_default_params();
 *     struct vf_whisper_result r = {0};
 *     char err[256];
 *     if (vf_whisper_model_load("ggml-base.en.bin", &mp, &m, err, sizeof err) == VF_OK &&
 *         vf_whisper_state_init(m, &sp, &s, err, sizeof err) == VF_OK &&
 *         vf_whisper_transcribe(s, &p, pcm_16khz, n_samples, &r, err, sizeof err) == VF_OK)
 *         for (int i = 0; i < r.n_segments; i++)
 *             printf("[%lld ms] %s\n", (long long)r.segments[i].t0_ms, r.segments[i].text);
 *     vf_whisper_result_free(&r);
 *     vf_whisper_state_free(s);
 *     vf_whisper_model_free(m);
 */
#ifndef VF_WHISPER_H
#define VF_WHISPER_H

#include "../core/vf.h"

#define VF_WHISPER_SAMPLE_RATE 16000
#define VF_WHISPER_MAX_DECODERS 8       /* best_of / beam_size limit */
#define VF_WHISPER_MAX_SECONDS (4 * 3600) /* longest audio one call accepts */

struct vf_whisper_model;  /* opaque: weights, vocabulary, mel filters */
struct vf_whisper_state;  /* opaque: one stream's caches and buffers */

/* ==== Model ============================================================== */

struct vf_whisper_model_params {
    int gpu_device;          /* which GPU when several (0) */
    bool use_gpu;            /* put the weights on a GPU when ggml has one (true) */
};

struct vf_whisper_model_params vf_whisper_model_default_params(void);

/* Load a whisper.cpp model file. Returns VF_OK and *out (free with
 * vf_whisper_model_free), or: VF_ERR_IO (cannot read), VF_ERR_FORMAT
 * (malformed, truncated or hostile file), VF_ERR_UNSUPPORTED (a well-formed
 * file of a kind we do not run: other tensor types, other vocabulary
 * sizes), VF_ERR_NOMEM, VF_ERR_BACKEND (ggml could not allocate the weights
 * on the device). err gets one line; *out is NULL on failure. */
int vf_whisper_model_load(const char *path, const struct vf_whisper_model_params *p,
                          struct vf_whisper_model **out, char *err, size_t errlen);
/* NULL is a no-op. Every state of the model must be freed first. */
void vf_whisper_model_free(struct vf_whisper_model *m);

struct vf_whisper_model_info {
    int32_t n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer;
    int32_t n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels;
    int32_t ftype;           /* ggml file type: 0 f32, 1 f16, 2 q4_0, 3 q4_1, 7 q8_0, 8 q5_0, 9 q5_1 */
    int n_languages;         /* 0 for English-only (.en) models */
    char type_name[16];      /* "tiny", "base", "small", "medium", "large", "unknown" */
    char wtype_name[8];      /* "f16", "q5_0" ... */
    char device[32];         /* where the weights live: "CPU", "CUDA0" */
    uint64_t weights_bytes;  /* all weight buffers */
    bool multilingual;
};

void vf_whisper_model_info(const struct vf_whisper_model *m, struct vf_whisper_model_info *out);

/* ==== Vocabulary ========================================================= */

/* The bytes of token id (not NUL-terminated; *len gets the length); NULL
 * when id is out of range. Special tokens read "[_SOT_]", "[_TT_12]" .. */
const char *vf_whisper_token_bytes(const struct vf_whisper_model *m, int32_t id, size_t *len);
/* Split text into tokens the way whisper.cpp does (GPT-2 pre-split, then
 * the longest vocabulary entries). Returns the number of tokens, or
 * VF_ERR_TOOBIG when more than max would be needed (nothing useful in out),
 * VF_ERR_ARG when text is longer than VF_WHISPER_MAX_PROMPT bytes. */
#define VF_WHISPER_MAX_PROMPT 8192
int vf_whisper_tokenize(const struct vf_whisper_model *m, const char *text, int32_t *out, int max);

enum vf_whisper_special {
    VF_WHISPER_TOKEN_EOT = 0, VF_WHISPER_TOKEN_SOT, VF_WHISPER_TOKEN_TRANSLATE,
    VF_WHISPER_TOKEN_TRANSCRIBE, VF_WHISPER_TOKEN_SOLM, VF_WHISPER_TOKEN_PREV,
    VF_WHISPER_TOKEN_NOSP, VF_WHISPER_TOKEN_NOT, VF_WHISPER_TOKEN_BEG,
};
int32_t vf_whisper_token_special(const struct vf_whisper_model *m, enum vf_whisper_special which);

/* Language codes ("en", "de", "yue" ...) and their ids (0 .. 99); -1 or
 * NULL when unknown. A model knows only the first n_languages ids. */
int vf_whisper_lang_id(const char *code);
const char *vf_whisper_lang_code(int id);

/* ==== State ============================================================== */

struct vf_whisper_state_params {
    int n_threads;           /* CPU threads for ggml and the mel (min(4, cores)) */
    int n_decoders;          /* most parallel decoders a call may use, 1..8: the larger of
                              * best_of and beam_size; sizes the KV cache (5) */
    bool flash_attn;         /* fused attention kernels (true) */
};

struct vf_whisper_state_params vf_whisper_state_default_params(void);

/* Create a stream state: allocates the KV caches and reserves the compute
 * buffers for the worst-case encoder and decoder graphs, once. Returns
 * VF_OK, VF_ERR_ARG, VF_ERR_NOMEM or VF_ERR_BACKEND (err says which buffer);
 * *out is NULL on failure. The model must outlive the state. */
int vf_whisper_state_init(const struct vf_whisper_model *m, const struct vf_whisper_state_params *p,
                          struct vf_whisper_state **out, char *err, size_t errlen);
/* NULL is a no-op. */
void vf_whisper_state_free(struct vf_whisper_state *s);
/* Forget the text carried from earlier calls (what no_context does). */
void vf_whisper_state_reset(struct vf_whisper_state *s);

enum vf_whisper_buf_kind {
    VF_WHISPER_BUF_WEIGHTS = 0, VF_WHISPER_BUF_KV_SELF, VF_WHISPER_BUF_KV_CROSS,
    VF_WHISPER_BUF_COMPUTE,
};

struct vf_whisper_buffer {
    char device[32];         /* ggml buffer name: "CPU", "CUDA0", "CPU_REPACK" ... */
    enum vf_whisper_buf_kind kind;
    uint64_t bytes;
};

/* The device buffers a model (s NULL) or a model plus one state hold, as
 * allocated: fills up to max entries and returns how many there are. */
int vf_whisper_buffers(const struct vf_whisper_model *m, const struct vf_whisper_state *s,
                       struct vf_whisper_buffer *out, int max);

/* Load path with mp (NULL: defaults), create n_states states with sp
 * (NULL: defaults) as a server with that many streams would, and report
 * every device buffer they hold (the model's once, each state's). Fills
 * up to max entries of out; *n gets how many there are. Returns what
 * vf_whisper_model_load / vf_whisper_state_init return. */
int vf_whisper_measure(const char *path, const struct vf_whisper_model_params *mp,
                       const struct vf_whisper_state_params *sp, int n_states,
                       struct vf_whisper_buffer *out, int max, int *n, char *err, size_t errlen);

/* ==== Transcription ====================================================== */

enum vf_whisper_strategy { VF_WHISPER_GREEDY = 0, VF_WHISPER_BEAM_SEARCH };

struct vf_whisper_segment;

struct vf_whisper_params {
    enum vf_whisper_strategy strategy;  /* greedy */
    int best_of;             /* candidates sampled when t > 0 (5) */
    int beam_size;           /* beams for VF_WHISPER_BEAM_SEARCH at t = 0 (5) */
    const char *language;    /* "en" (default), or NULL / "" / "auto" to detect */
    const char *initial_prompt; /* text put before the first window (NULL) */
    int n_max_text_ctx;      /* most tokens of earlier text used as prompt (16384) */
    int max_tokens;          /* most tokens per segment, 0 no limit */
    int offset_ms;           /* where to start in the audio */
    int duration_ms;         /* how much to transcribe, 0 all */
    int audio_ctx;           /* encode only this many of the window's 1500 frames (20 ms
                              * each): faster for short audio, 0 the whole window
                              * (whisper.cpp's audio_ctx) */
    float temperature;       /* first decoding temperature (0) */
    float temperature_inc;   /* fallback step; 0 disables the fallback (0.2) */
    float entropy_thold;     /* fail a window whose last 32 tokens have a lower entropy (2.4);
                              * whisper.cpp's stand-in for the compression-ratio rule */
    float logprob_thold;     /* fail a window with a lower average log-probability (-1) */
    float no_speech_thold;   /* drop a window whose no-speech probability is higher (0.6) */
    float max_initial_ts;    /* latest first timestamp, seconds (1.0) */
    float length_penalty;    /* beam ranking: <= 0 divides by length (-1) */
    /* Called from the transcribing thread after each new segment; the
     * segment lives until the call returns. */
    void (*on_segment)(const struct vf_whisper_segment *seg, void *user_data);
    void *on_segment_data;
    /* Polled from the transcribing thread between graph computations; true
     * stops the call, which returns 1 and keeps the segments so far. */
    bool (*abort)(void *user_data);
    void *abort_data;
    bool translate;          /* translate to English (multilingual models) */
    bool no_context;         /* do not use text from earlier calls as prompt (true) */
    bool carry_initial_prompt; /* put initial_prompt before every window (false) */
    bool no_timestamps;      /* decode without timestamp tokens (false) */
    bool single_segment;     /* one segment per window (false) */
    bool suppress_blank;     /* no blank or end-of-text as first token (true) */
    bool suppress_nst;       /* suppress non-speech tokens: ( ) [ ] ♪ ... (false) */
    bool beam_sampled;       /* beam search as whisper.cpp does it: candidates are drawn
                              * from the distribution instead of being the top ones (false) */
};

struct vf_whisper_params vf_whisper_default_params(void);

struct vf_whisper_token {
    int32_t id;              /* token id */
    int32_t tid;             /* most likely timestamp token at this step */
    float p;                 /* probability of the token */
    float plog;              /* its log-probability */
    float pt;                /* probability of tid */
    float ptsum;             /* sum of the timestamp probabilities */
};

struct vf_whisper_segment {
    int64_t t0_ms, t1_ms;    /* from the timestamp tokens, 10 ms resolution */
    char *text;              /* UTF-8 as the model wrote it (may be invalid UTF-8) */
    struct vf_whisper_token *tokens; /* every token of the segment, timestamps included */
    int n_tokens;
    float no_speech_prob;    /* of the window the segment came from */
};

struct vf_whisper_result {
    struct vf_whisper_segment *segments;
    int n_segments;
    int lang_id;             /* language used (detected or given) */
    float lang_prob;         /* its probability when detected, else 0 */
    int n_windows;           /* 30-second windows decoded */
    int n_fallbacks;         /* windows re-decoded at a higher temperature */
    double mel_ms, encode_ms, decode_ms, total_ms;
};

/* Transcribe n_samples of mono 16 kHz audio (floats in [-1, 1]). On
 * VF_OK, *out holds the segments (free with vf_whisper_result_free).
 * Returns 1 when params->abort stopped it (the segments so far are in
 * *out), VF_ERR_ARG (bad parameters: err says which), VF_ERR_TOOBIG
 * (longer than VF_WHISPER_MAX_SECONDS), VF_ERR_NOMEM, VF_ERR_BACKEND (a
 * graph failed to compute). Audio shorter than 100 ms gives no segments.
 * On an error *out is empty. */
int vf_whisper_transcribe(struct vf_whisper_state *s, const struct vf_whisper_params *params,
                          const float *samples, size_t n_samples, struct vf_whisper_result *out,
                          char *err, size_t errlen);
/* Free what a result holds and zero it; safe on a zeroed result. */
void vf_whisper_result_free(struct vf_whisper_result *r);

/* Detect the spoken language from the first 30 seconds (multilingual
 * models). probs (may be NULL) gets one probability per language id (at
 * least 100 floats). Returns the language id, or a negative status. */
int vf_whisper_detect_language(struct vf_whisper_state *s, const float *samples, size_t n_samples,
                               float *probs, char *err, size_t errlen);

#endif
