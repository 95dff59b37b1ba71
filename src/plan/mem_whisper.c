/* mem_whisper.c - speech-to-text memory: the Whisper embedded in voxfit
 * (src/stt, whisper.cpp model files on ggml) and faster-whisper
 * (CTranslate2) as a separate server. Notes and measurements:
 * docs/internals/whisper.md ("Memory"), /work/research/whisper-memory.md.
 *
 * Embedded: the formulas are those of the buffers src/stt allocates, so
 * `voxfit plan` agrees with `voxfit measure --stt` (exactly on the CPU):
 *   weights  = the tensors, each padded to the buffer's alignment (32 B on
 *              the CPU; 128 B on CUDA, which also pads quantized rows to 512)
 *   KV self  = 2 (K,V) x 2 B x n_text_state x n_text_layer x cells, with
 *              cells = 512 x (n_dec + 2) for n_dec > 1 decoders (512 for one)
 *   KV cross = 2 x 2 B x n_text_state x n_text_layer x 1500 (1536 on a GPU
 *              with flash attention, padded for its kernels)
 *   compute  = the encoder graph's peak, which the decoder's exceeds only on
 *              narrow models (then: the prompt's cross-attention scores):
 *              28 B x 1500 x n_audio_state with flash attention (seven f32
 *              activations of the width), else 4 B x 1500^2 x n_audio_head
 *              (the attention matrix) + 16 B x 1500 x n_audio_state; on a
 *              GPU with flash attention also the f16 mask of the padded keys
 *              (1536 x 1500 x 2 B) and the spectrogram window (3000 x n_mels
 *              x 4 B), which live through the encoder
 * times the number of streams for everything but the weights (measured on
 * an H100: the formulas give every CUDA buffer to the byte).
 *
 * faster-whisper: weights in the compute type, the encoder output and the
 * cross-attention keys/values once per stream (CTranslate2 shares them
 * between beams), self-attention keys/values per beam up to 448 tokens,
 * the encoder's largest transient (the attention scores) and CTranslate2's
 * caching allocator (up to 200 MB of freed blocks kept). Against the
 * published faster-whisper figures (large-v2, beam 5, V100S: 4755 MB fp16,
 * 3091 MB int8_float16) this gives 4.4 and 2.9 GB with the context: the
 * allocator's rounding of small requests is not modelled. The process's
 * CUDA context is added by
 * plan.c (add_contexts), once per process, as for every engine. */
#include "plan.h"
#include "../core/str.h"

#include <stdio.h>
#include <string.h>

/* Decoders the embedded state is sized for: beam search uses beam_size of
 * them, and the fallback to higher temperatures samples best_of (5) at a
 * time, so a state always holds at least five. */
static uint32_t embedded_decoders(const struct vf_whisper_cfg *cfg) {
    uint32_t n = cfg->beam_size > 5 ? cfg->beam_size : 5;
    return n > 8 ? 8 : n;
}

/* Bytes a CUDA buffer takes for a tensor: quantized rows are padded to a
 * multiple of 512 elements (ggml-cuda's MATRIX_ROW_PADDING), then 128-byte
 * alignment. */
static uint64_t cuda_tensor_bytes(const struct vf_tensor *t) {
    uint64_t b = t->nbytes;
    if (vf_dtype_is_quantized(t->dtype) && t->ne[0] % 512)
        b += vf_dtype_row_size(t->dtype, 512 - t->ne[0] % 512);
    return VF_PAD(b, 128);
}

static int mem_embedded(struct vf_component *c, const struct vf_device *dev) {
    const struct vf_whisper_hparams *hp = &c->model.whisper;
    struct vf_whisper_cfg *cfg = &c->whisper;
    char b1[32], b2[32], b3[32];
    const bool gpu = cfg->on_gpu && dev->kind == VF_DEVICE_GPU;
    const uint64_t streams = cfg->sessions ? cfg->sessions : 1;
    c->placement = gpu ? VF_PLACE_GPU : VF_PLACE_CPU;
    if (!hp->n_audio_state || !hp->n_text_layer || !hp->n_audio_head || !c->model.tensors.n) {
        vf_strlist_addf(&c->explain, "whisper: the model has no shape or tensors");
        return VF_ERR_ARG;
    }

    uint64_t w = 0;
    for (size_t i = 0; i < c->model.tensors.n; i++)
        w += gpu ? cuda_tensor_bytes(&c->model.tensors.v[i]) : VF_PAD(c->model.tensors.v[i].nbytes, 32);

    const uint64_t S = hp->n_text_state, L = hp->n_text_layer, n = hp->n_audio_ctx ? hp->n_audio_ctx : 1500;
    const uint32_t n_dec = embedded_decoders(cfg);
    const uint64_t text_cells = VF_PAD(hp->n_text_ctx ? hp->n_text_ctx : 448, 256);
    const uint64_t cells = text_cells * (n_dec > 1 ? n_dec + 2 : 1);
    const uint64_t kv_self = 2 * 2 * S * L * cells;
    const uint64_t n_cross = gpu && cfg->flash_attn ? VF_PAD(n, 256) : n;
    const uint64_t kv_cross = 2 * 2 * S * L * n_cross;

    const uint64_t Sa = hp->n_audio_state, Ha = hp->n_audio_head;
    uint64_t enc = cfg->flash_attn ? 28 * n * Sa : 4 * n * n * Ha + 16 * n * Sa;
    /* the decoder's graphs: a 228-token prompt, or one token per decoder
     * over all cells, with their logits */
    const uint64_t P = (hp->n_text_ctx ? hp->n_text_ctx : 448) / 2 + 4;
    const uint64_t P_kv = gpu && cfg->flash_attn ? VF_PAD(P, 256) : P; /* padded keys for the fused kernel */
    const uint64_t dec_prompt = 4 * (P * P_kv * hp->n_text_head + 7 * P * S + 2 * (uint64_t)hp->n_vocab);
    const uint64_t dec_gen = 4 * (n_dec * cells * hp->n_text_head + n_dec * (uint64_t)hp->n_vocab + 7 * n_dec * 4 * S);
    /* without the fused kernel (the CPU, or flash attention off) the
     * prompt's cross-attention holds its score matrix over the whole window
     * and a few activations of the width; it only passes the encoder on
     * narrow models (the test's micro shapes) */
    const bool xattn_fa = gpu && cfg->flash_attn;
    const uint64_t dec_cross = xattn_fa ? 0 : 4 * (P * n * hp->n_text_head + 4 * P * S);
    uint64_t compute = enc;
    if (dec_prompt > compute)
        compute = dec_prompt;
    if (dec_cross > compute)
        compute = dec_cross;
    if (dec_gen > compute)
        compute = dec_gen;
    /* On a GPU the inputs are staged in a host buffer; with flash attention
     * the f16 mask of the padded keys (1536 x 1500) lives through the whole
     * encoder, and the spectrogram window with it (measured on an H100: +5.31
     * MiB on the device and as much on the host for 80 bins) */
    const uint64_t mel_in = 2 * n * hp->n_mels * 4;
    uint64_t staged = 0;
    if (gpu) {
        staged = mel_in;
        if (cfg->flash_attn) {
            staged += n_cross * n * 2;
            compute += staged;
        }
    }

    c->weights_bytes = w;
    c->kv_bytes = (kv_self + kv_cross) * streams;
    c->compute_bytes = compute * streams;
    /* host memory besides: the spectrogram of the longest audio a call
     * takes (4 h of 80/128 bins is bounded by the API) is allocated per
     * call; the per-stream scratch (logits of each decoder, masks) */
    const uint64_t scratch = ((uint64_t)4 * n_dec + 2) * hp->n_vocab * 4 + 6 * VF_MAX(P * P_kv, n_dec * cells);
    c->host_bytes = (scratch + staged) * streams;

    vf_strlist_addf(&c->explain, "weights = %zu tensors of the %s file%s = %s",
                    c->model.tensors.n, c->model.quant[0] ? c->model.quant : "whisper.cpp",
                    gpu ? " (CUDA: 128 B alignment, quantized rows padded to 512)" : "",
                    vf_fmt_bytes(w, b1, sizeof b1));
    vf_strlist_addf(&c->explain, "KV self = 2 x 2 B x %llu x %llu layers x %llu cells (%s) = %s per stream",
                    (unsigned long long)S, (unsigned long long)L, (unsigned long long)cells,
                    n_dec > 1 ? "512 x (decoders + 2), as beams fragment the cache" : "512",
                    vf_fmt_bytes(kv_self, b1, sizeof b1));
    vf_strlist_addf(&c->explain, "KV cross = 2 x 2 B x %llu x %llu layers x %llu audio frames = %s per stream",
                    (unsigned long long)S, (unsigned long long)L, (unsigned long long)n_cross,
                    vf_fmt_bytes(kv_cross, b1, sizeof b1));
    if (cfg->flash_attn)
        vf_strlist_addf(&c->explain, "compute = encoder peak 28 B x %llu x %llu (flash attention) = %s per stream",
                        (unsigned long long)n, (unsigned long long)Sa, vf_fmt_bytes(compute, b1, sizeof b1));
    else
        vf_strlist_addf(&c->explain, "compute = encoder peak 4 B x %llu^2 x %llu heads + 16 B x %llu x %llu = %s "
                        "per stream", (unsigned long long)n, (unsigned long long)Ha, (unsigned long long)n,
                        (unsigned long long)Sa, vf_fmt_bytes(compute, b1, sizeof b1));
    vf_strlist_addf(&c->explain, "%llu stream%s x (KV %s + compute %s); host scratch %s",
                    (unsigned long long)streams, streams == 1 ? "" : "s",
                    vf_fmt_bytes(kv_self + kv_cross, b1, sizeof b1), vf_fmt_bytes(compute, b2, sizeof b2),
                    vf_fmt_bytes(c->host_bytes, b3, sizeof b3));
    return VF_OK;
}

/* ==== faster-whisper (CTranslate2) ========================================== */

static int mem_ct2(struct vf_component *c, const struct vf_device *dev) {
    const struct vf_whisper_hparams *hp = &c->model.whisper;
    struct vf_whisper_cfg *cfg = &c->whisper;
    char b1[32], b2[32], b3[32], b4[32];
    const bool gpu = cfg->on_gpu && dev->kind == VF_DEVICE_GPU;
    const uint64_t streams = cfg->sessions ? cfg->sessions : 1;
    const uint64_t beam = cfg->beam_size ? cfg->beam_size : 1;
    c->placement = gpu ? VF_PLACE_GPU : VF_PLACE_CPU;
    if (!hp->n_audio_state || !hp->n_text_layer || !c->model.tensors.n) {
        vf_strlist_addf(&c->explain, "faster-whisper: the model has no shape or tensors");
        return VF_ERR_ARG;
    }
    /* activations are in the float type of the compute type */
    const char *ct = cfg->compute_type[0] ? cfg->compute_type : gpu ? "float16" : "int8";
    const uint64_t e = strstr(ct, "float16") || strstr(ct, "bfloat16") ? 2 : 4;
    const uint64_t w = vf_model_weight_bytes(&c->model);
    const uint64_t S = hp->n_audio_state, L = hp->n_text_layer, n = hp->n_audio_ctx ? hp->n_audio_ctx : 1500;
    const uint64_t T = hp->n_text_ctx ? hp->n_text_ctx : 448;

    /* per stream: encoder output, cross keys/values (shared by the beams),
     * self keys/values of every beam at full length */
    const uint64_t memory = (n * S * e);
    const uint64_t cross = 2 * L * (n * S * e);
    const uint64_t self = 2 * L * (beam * T * hp->n_text_state * e);
    /* the encoder layer's live set at its attention: input, fused QKV,
     * scores of every head, context, and the feed-forward's hidden layer
     * right after */
    const uint64_t scores = (hp->n_audio_head * n * n * e);
    const uint64_t enc = (n * S * e) * 3 + (3 * n * S * e) + scores;
    const uint64_t ffn = (n * S * e) * 2 + (4 * n * S * e);
    const uint64_t transient = enc > ffn ? enc : ffn;
    const uint64_t logits = (beam * 2 * (uint64_t)hp->n_vocab * 4) * 2;
    const uint64_t cache = gpu ? 200000000ull : 0;   /* freed blocks CTranslate2 keeps */

    c->weights_bytes = w;
    c->kv_bytes = (cross + self) * streams;
    c->compute_bytes = (memory + transient + logits) * streams;
    c->overhead_bytes = cache;
    c->host_bytes = gpu ? 300 * VF_MIB : 0;   /* Python, faster-whisper, the audio decoder */
    if (!gpu)
        c->overhead_bytes += 300 * VF_MIB;

    vf_strlist_addf(&c->explain, "weights = %zu tensors in %s = %s", c->model.tensors.n, ct,
                    vf_fmt_bytes(w, b1, sizeof b1));
    vf_strlist_addf(&c->explain, "KV = cross 2 x %llu layers x %llu frames x %llu x %llu B (shared by the "
                    "beams) + self 2 x %llu layers x %llu beams x %llu tokens x %llu x %llu B = %s per stream",
                    (unsigned long long)L, (unsigned long long)n, (unsigned long long)S,
                    (unsigned long long)e, (unsigned long long)L, (unsigned long long)beam,
                    (unsigned long long)T, (unsigned long long)S, (unsigned long long)e,
                    vf_fmt_bytes(cross + self, b1, sizeof b1));
    vf_strlist_addf(&c->explain, "compute = encoder output %s + largest transient %s (attention scores "
                    "%u heads x %llu^2) + logits %s per stream", vf_fmt_bytes(memory, b1, sizeof b1), vf_fmt_bytes(transient, b2, sizeof b2),
                    hp->n_audio_head, (unsigned long long)n, vf_fmt_bytes(logits, b3, sizeof b3));
    if (gpu)
        vf_strlist_addf(&c->explain, "overhead = CTranslate2's caching allocator keeps up to %s of freed "
                        "blocks", vf_fmt_bytes(cache, b4, sizeof b4));
    return VF_OK;
}

int vf_mem_whisper(struct vf_component *c, const struct vf_device *dev) {
    if (c->engine == VF_ENGINE_FASTER_WHISPER)
        return mem_ct2(c, dev);
    return mem_embedded(c, dev);
}
