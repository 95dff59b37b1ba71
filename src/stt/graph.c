/* graph.c - the ggml graphs of Whisper. The encoder graph runs the two
 * convolutions, the transformer blocks and, in the same graph, projects the
 * audio features into every decoder layer's cross-attention keys and values
 * (whisper.cpp runs these as three graphs with three compute buffers; one
 * graph needs one buffer, sized by its peak). The decoder graph runs a batch
 * of tokens (the prompt, or one token per active decoder) against the
 * self-attention cache, whose cells the state manages.
 *
 * Operations, their order and their types follow whisper.cpp (f16 keys and
 * values, the same scalings and casts), so the results agree to the
 * rounding of the kernels. One deliberate difference: whisper.cpp's
 * flash-attention path attends over keys padded to 256 with zeros and no
 * mask, which adds exp(-max) per padding row to every softmax; here keys
 * are not padded on the CPU, and on GPUs the padding is masked. On the CPU
 * the decoder's cross-attention (one query row per decoder against 1500
 * keys) is faster as two matrix products than in the fused kernel, so it
 * takes that path even with flash attention on (s->xattn_fa). */
#include "whisper_int.h"

#include <math.h>

#define GRAPH_NODES 4096

static struct ggml_context *graph_ctx(struct vf_whisper_state *s) {
    struct ggml_init_params ip = {s->meta_size, s->meta, true};
    return ggml_init(ip);
}

/* x -> layer_norm(x) * w + b */
static struct ggml_tensor *norm(struct ggml_context *c, struct ggml_tensor *x,
                                struct ggml_tensor *w, struct ggml_tensor *b) {
    x = ggml_norm(c, x, 1e-5f);
    return ggml_add(c, ggml_mul(c, x, w), b);
}

/* x -> w x + b (b may be NULL) */
static struct ggml_tensor *linear(struct ggml_context *c, struct ggml_tensor *x,
                                  struct ggml_tensor *w, struct ggml_tensor *b) {
    x = ggml_mul_mat(c, w, x);
    return b ? ggml_add(c, x, b) : x;
}

struct ggml_cgraph *vf__wh_graph_encoder(struct vf_whisper_state *s, struct ggml_tensor **inp_mel,
                                         struct ggml_tensor **inp_mask) {
    const struct vf_whisper_model *m = s->m;
    const struct vf_wh_hparams *hp = &m->hp;
    const int n = s->audio_ctx, S = hp->n_audio_state, H = hp->n_audio_head, hd = S / H;
    const bool fa = s->params.flash_attn;
    const int n_pad = s->audio_ctx_pad;   /* keys per head in flash attention */
    struct ggml_context *c = graph_ctx(s);
    if (!c)
        return NULL;
    struct ggml_cgraph *gf = ggml_new_graph_custom(c, GRAPH_NODES, false);

    struct ggml_tensor *mel = ggml_new_tensor_2d(c, GGML_TYPE_F32, 2 * n, hp->n_mels);
    ggml_set_name(mel, "mel");
    ggml_set_input(mel);
    *inp_mel = mel;
    struct ggml_tensor *mask = NULL;
    if (fa && n_pad != n) {
        mask = ggml_new_tensor_2d(c, GGML_TYPE_F16, n_pad, n);
        ggml_set_name(mask, "enc_mask");
        ggml_set_input(mask);
    }
    *inp_mask = mask;

    /* two convolutions with GELU; the second halves the time axis */
    struct ggml_tensor *cur = ggml_conv_1d_ph(c, m->conv1_w, mel, 1, 1);
    cur = ggml_gelu(c, ggml_add(c, cur, m->conv1_b));
    cur = ggml_conv_1d_ph(c, m->conv2_w, cur, 2, 1);
    cur = ggml_gelu(c, ggml_add(c, cur, m->conv2_b));
    struct ggml_tensor *pe = ggml_view_2d(c, m->e_pe, S, n, m->e_pe->nb[1], 0);
    cur = ggml_add(c, pe, ggml_cont(c, ggml_transpose(c, cur)));   /* (S, n) */

    const float kq_scale = 1.0f / sqrtf((float)hd);
    struct ggml_tensor *inp = cur;
    for (int il = 0; il < hp->n_audio_layer; il++) {
        const struct vf_wh_enc_layer *L = &m->enc[il];
        cur = norm(c, inp, L->attn_ln_w, L->attn_ln_b);
        struct ggml_tensor *q = linear(c, cur, L->q_w, L->q_b);
        struct ggml_tensor *k = linear(c, cur, L->k_w, NULL);
        struct ggml_tensor *v = linear(c, cur, L->v_w, L->v_b);
        struct ggml_tensor *Q = ggml_permute(c, ggml_reshape_3d(c, q, hd, H, n), 0, 2, 1, 3);
        if (fa) {
            if (n_pad != n) {
                k = ggml_pad(c, k, 0, n_pad - n, 0, 0);
                v = ggml_pad(c, v, 0, n_pad - n, 0, 0);
            }
            k = ggml_cast(c, k, GGML_TYPE_F16);
            v = ggml_cast(c, v, GGML_TYPE_F16);
            struct ggml_tensor *K = ggml_view_3d(c, k, hd, n_pad, H, k->nb[1], k->nb[0] * hd, 0);
            struct ggml_tensor *V = ggml_view_3d(c, v, hd, n_pad, H, v->nb[1], v->nb[0] * hd, 0);
            cur = ggml_flash_attn_ext(c, Q, K, V, mask, kq_scale, 0.0f, 0.0f);
            cur = ggml_reshape_2d(c, cur, S, n);
        } else {
            struct ggml_tensor *K = ggml_permute(
                c, ggml_cast(c, ggml_reshape_3d(c, k, hd, H, n), GGML_TYPE_F16), 0, 2, 1, 3);
            struct ggml_tensor *kq = ggml_mul_mat(c, K, Q);
            kq = ggml_soft_max_ext(c, kq, NULL, kq_scale, 0.0f);
            struct ggml_tensor *V = ggml_cast(
                c, ggml_permute(c, ggml_reshape_3d(c, v, hd, H, n), 1, 2, 0, 3), GGML_TYPE_F16);
            struct ggml_tensor *kqv = ggml_mul_mat(c, V, kq);
            cur = ggml_cont_2d(c, ggml_permute(c, kqv, 0, 2, 1, 3), S, n);
        }
        cur = ggml_add(c, linear(c, cur, L->o_w, L->o_b), inp);
        struct ggml_tensor *ff_in = cur;
        cur = norm(c, ff_in, L->mlp_ln_w, L->mlp_ln_b);
        cur = ggml_gelu(c, linear(c, cur, L->mlp0_w, L->mlp0_b));
        cur = linear(c, cur, L->mlp1_w, L->mlp1_b);
        inp = ggml_add(c, cur, ff_in);
    }
    cur = norm(c, inp, m->e_ln_w, m->e_ln_b);

    /* cross-attention keys (pre-scaled by hd^-1/4) and values of every
     * decoder layer, written into the state's cross cache */
    const float k_scale = powf((float)hd, -0.25f);
    const size_t es = ggml_element_size(s->k_cross);
    for (int il = 0; il < hp->n_text_layer; il++) {
        const struct vf_wh_dec_layer *L = &m->dec[il];
        struct ggml_tensor *kx = ggml_scale(c, ggml_mul_mat(c, L->xk_w, cur), k_scale);
        struct ggml_tensor *vx = linear(c, cur, L->xv_w, L->xv_b);
        const size_t base = es * (size_t)S * (size_t)n_pad * (size_t)il;
        struct ggml_tensor *kd = ggml_view_1d(c, s->k_cross, (int64_t)S * n, base);
        struct ggml_tensor *vd;
        if (s->xattn_fa) {
            vd = ggml_view_1d(c, s->v_cross, (int64_t)S * n, base);
        } else {
            vx = ggml_transpose(c, ggml_reshape_2d(c, vx, S, n));
            vd = ggml_view_2d(c, s->v_cross, n, S, es * (size_t)n, base);
        }
        ggml_build_forward_expand(gf, ggml_cpy(c, kx, kd));
        ggml_build_forward_expand(gf, ggml_cpy(c, vx, vd));
    }
    ggml_free(c);   /* frees the context object only; the arena stays */
    return gf;
}

struct ggml_cgraph *vf__wh_graph_decoder(struct vf_whisper_state *s, int n_tok, int n_kv,
                                         int kv_head, int n_out, struct ggml_tensor **inp_tok,
                                         struct ggml_tensor **inp_pos, struct ggml_tensor **inp_mask,
                                         struct ggml_tensor **inp_out, struct ggml_tensor **logits) {
    const struct vf_whisper_model *m = s->m;
    const struct vf_wh_hparams *hp = &m->hp;
    const int S = hp->n_text_state, H = hp->n_text_head, hd = S / H;
    const int n_ctx = s->kv_size, n_x = s->audio_ctx_pad, n_audio = s->audio_ctx;
    const bool fa = s->params.flash_attn;
    struct ggml_context *c = graph_ctx(s);
    if (!c)
        return NULL;
    struct ggml_cgraph *gf = ggml_new_graph_custom(c, GRAPH_NODES, false);

    struct ggml_tensor *tok = ggml_new_tensor_1d(c, GGML_TYPE_I32, n_tok);
    struct ggml_tensor *pos = ggml_new_tensor_1d(c, GGML_TYPE_I32, n_tok);
    /* which cells each token sees (0 or -inf); f16 for flash attention */
    struct ggml_tensor *mask = ggml_new_tensor_2d(c, fa ? GGML_TYPE_F16 : GGML_TYPE_F32, n_kv, n_tok);
    ggml_set_name(tok, "tokens");
    ggml_set_name(pos, "positions");
    ggml_set_name(mask, "kq_mask");
    ggml_set_input(tok);
    ggml_set_input(pos);
    ggml_set_input(mask);
    *inp_tok = tok, *inp_pos = pos, *inp_mask = mask;
    struct ggml_tensor *xmask = NULL;
    if (s->xattn_fa && n_x != n_audio) {
        xmask = ggml_new_tensor_2d(c, GGML_TYPE_F16, n_x, n_tok);
        ggml_set_name(xmask, "kqx_mask");
        ggml_set_input(xmask);
    }
    s->inp_xmask = xmask;
    struct ggml_tensor *out_ids = NULL;
    if (n_out < n_tok) {
        out_ids = ggml_new_tensor_1d(c, GGML_TYPE_I32, n_out);
        ggml_set_name(out_ids, "out_ids");
        ggml_set_input(out_ids);
    }
    *inp_out = out_ids;

    struct ggml_tensor *cur = ggml_add(c, ggml_get_rows(c, m->d_te, tok), ggml_get_rows(c, m->d_pe, pos));
    const float kq_scale = powf((float)hd, -0.25f);
    const size_t es = ggml_element_size(s->k_self);
    struct ggml_tensor *inp = cur;
    for (int il = 0; il < hp->n_text_layer; il++) {
        const struct vf_wh_dec_layer *L = &m->dec[il];
        const size_t lbase = es * (size_t)S * (size_t)n_ctx * (size_t)il;

        /* self-attention: store this batch's keys and values in the cells
         * the state found, then attend over the first n_kv cells */
        cur = norm(c, inp, L->attn_ln_w, L->attn_ln_b);
        struct ggml_tensor *q = ggml_scale(c, linear(c, cur, L->q_w, L->q_b), kq_scale);
        struct ggml_tensor *k = ggml_scale(c, linear(c, cur, L->k_w, NULL), kq_scale);
        struct ggml_tensor *v = linear(c, cur, L->v_w, L->v_b);
        struct ggml_tensor *kd = ggml_view_1d(c, s->k_self, (int64_t)n_tok * S,
                                              lbase + es * (size_t)S * (size_t)kv_head);
        struct ggml_tensor *vd;
        if (fa) {
            vd = ggml_view_1d(c, s->v_self, (int64_t)n_tok * S, lbase + es * (size_t)S * (size_t)kv_head);
        } else {
            v = ggml_transpose(c, ggml_reshape_2d(c, v, S, n_tok));
            vd = ggml_view_2d(c, s->v_self, n_tok, S, es * (size_t)n_ctx, lbase + es * (size_t)kv_head);
        }
        ggml_build_forward_expand(gf, ggml_cpy(c, k, kd));
        ggml_build_forward_expand(gf, ggml_cpy(c, v, vd));

        struct ggml_tensor *Q = ggml_permute(c, ggml_reshape_3d(c, q, hd, H, n_tok), 0, 2, 1, 3);
        struct ggml_tensor *K = ggml_view_3d(c, s->k_self, hd, n_kv, H, es * S, es * hd, lbase);
        if (fa) {
            struct ggml_tensor *V = ggml_view_3d(c, s->v_self, hd, n_kv, H, es * S, es * hd, lbase);
            cur = ggml_flash_attn_ext(c, Q, K, V, mask, 1.0f, 0.0f, 0.0f);
            cur = ggml_reshape_2d(c, cur, S, n_tok);
        } else {
            struct ggml_tensor *kq = ggml_soft_max_ext(c, ggml_mul_mat(c, K, Q), mask, 1.0f, 0.0f);
            struct ggml_tensor *V = ggml_view_3d(c, s->v_self, n_kv, hd, H, es * n_ctx,
                                                 es * n_ctx * hd, lbase);
            struct ggml_tensor *kqv = ggml_mul_mat(c, V, kq);
            cur = ggml_cont_2d(c, ggml_permute(c, kqv, 0, 2, 1, 3), S, n_tok);
        }
        struct ggml_tensor *ca_in = ggml_add(c, linear(c, cur, L->o_w, L->o_b), inp);

        /* cross-attention over the encoder's keys and values */
        cur = norm(c, ca_in, L->x_ln_w, L->x_ln_b);
        q = linear(c, cur, L->xq_w, L->xq_b);
        Q = ggml_permute(c, ggml_reshape_3d(c, q, hd, H, n_tok), 0, 2, 1, 3);
        const size_t xbase = es * (size_t)S * (size_t)n_x * (size_t)il;
        if (s->xattn_fa) {
            struct ggml_tensor *Kx = ggml_view_3d(c, s->k_cross, hd, n_x, H, es * S, es * hd, xbase);
            struct ggml_tensor *Vx = ggml_view_3d(c, s->v_cross, hd, n_x, H, es * S, es * hd, xbase);
            cur = ggml_flash_attn_ext(c, Q, Kx, Vx, xmask, kq_scale, 0.0f, 0.0f);
            cur = ggml_reshape_2d(c, cur, S, n_tok);
        } else {
            struct ggml_tensor *Kx = ggml_view_3d(c, s->k_cross, hd, n_audio, H, es * S, es * hd, xbase);
            struct ggml_tensor *Vx = ggml_view_3d(c, s->v_cross, n_audio, hd, H, es * n_audio,
                                                  es * n_audio * hd, xbase);
            struct ggml_tensor *kq = ggml_soft_max_ext(c, ggml_mul_mat(c, Kx, Q), NULL, kq_scale, 0.0f);
            struct ggml_tensor *kqv = ggml_mul_mat(c, Vx, kq);
            cur = ggml_cont_2d(c, ggml_permute(c, kqv, 0, 2, 1, 3), S, n_tok);
        }
        cur = ggml_add(c, linear(c, cur, L->xo_w, L->xo_b), ca_in);

        struct ggml_tensor *ff_in = cur;
        cur = norm(c, ff_in, L->mlp_ln_w, L->mlp_ln_b);
        cur = ggml_gelu(c, linear(c, cur, L->mlp0_w, L->mlp0_b));
        cur = linear(c, cur, L->mlp1_w, L->mlp1_b);
        inp = ggml_add(c, cur, ff_in);
    }
    cur = norm(c, inp, m->d_ln_w, m->d_ln_b);
    if (out_ids)
        cur = ggml_get_rows(c, cur, out_ids);
    cur = ggml_mul_mat(c, m->d_te, cur);     /* (n_vocab, n_out) */
    ggml_set_name(cur, "logits");
    ggml_set_output(cur);
    ggml_build_forward_expand(gf, cur);
    *logits = cur;
    ggml_free(c);
    return gf;
}
