/* decode.c - turning audio into segments (vf_whisper_transcribe): the
 * 30-second window loop, the prompt of earlier text, language detection,
 * the logit filters (blank, special and non-speech tokens, timestamp
 * rules), greedy and beam-search decoding, temperature fallback on failed
 * windows, and segments cut at timestamp tokens.
 *
 * The rules and their order are OpenAI's (whisper/decoding.py,
 * transcribe.py) as whisper.cpp implements them, including its choices:
 * the entropy of the last 32 tokens stands in for the compression ratio,
 * a window whose decoders all fail falls back to a higher temperature, and
 * sampling draws from std::mt19937 through std::discrete_distribution
 * exactly as libstdc++ does, so runs reproduce whisper.cpp's. Beam search
 * keeps the beam_size best continuations of each beam (OpenAI's beam
 * search); whisper.cpp instead draws them from the distribution, which
 * beam_sampled reproduces. */
#include "whisper_int.h"
#include "../core/log.h"
#include "../core/str.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct vf_whisper_params vf_whisper_default_params(void) {
    struct vf_whisper_params p = {
        .strategy = VF_WHISPER_GREEDY,
        .best_of = 5,
        .beam_size = 5,
        .language = "en",
        .n_max_text_ctx = 16384,
        .temperature = 0.0f,
        .temperature_inc = 0.2f,
        .entropy_thold = 2.4f,
        .logprob_thold = -1.0f,
        .no_speech_thold = 0.6f,
        .max_initial_ts = 1.0f,
        .length_penalty = -1.0f,
        .no_context = true,
        .suppress_blank = true,
    };
    return p;
}

/* ==== std::mt19937 and libstdc++'s discrete_distribution ==================== */

void vf__wh_mt_seed(struct vf_wh_mt *mt, uint32_t seed) {
    mt->x[0] = seed;
    for (int i = 1; i < 624; i++)
        mt->x[i] = 1812433253u * (mt->x[i - 1] ^ (mt->x[i - 1] >> 30)) + (uint32_t)i;
    mt->i = 624;
}

uint32_t vf__wh_mt_next(struct vf_wh_mt *mt) {
    if (mt->i >= 624) {
        for (int k = 0; k < 624; k++) {
            uint32_t y = (mt->x[k] & 0x80000000u) | (mt->x[(k + 1) % 624] & 0x7fffffffu);
            mt->x[k] = mt->x[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        mt->i = 0;
    }
    uint32_t y = mt->x[mt->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* std::generate_canonical<double, 53>: two 32-bit draws. */
static double mt_canonical(struct vf_wh_mt *mt) {
    double sum = (double)vf__wh_mt_next(mt);
    sum += (double)vf__wh_mt_next(mt) * 4294967296.0;
    double r = sum / 18446744073709551616.0;
    return r >= 1.0 ? nextafter(1.0, 0.0) : r;
}

int vf__wh_mt_discrete(struct vf_wh_mt *mt, const float *p, int n) {
    if (n < 2)
        return 0;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)p[i];
    const double u = mt_canonical(mt);
    /* lower_bound over the running sum of p / sum, whose last entry is 1 */
    double cp = 0.0;
    for (int i = 0; i < n - 1; i++) {
        cp += (double)p[i] / sum;
        if (!(cp < u))
            return i;
    }
    return n - 1;
}

/* ==== Logit filters ========================================================= */

static const char *const non_speech[] = {
    "\"", "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[", "\\", "]", "^", "_",
    "`", "{", "|", "}", "~", "\xe3\x80\x8c", "\xe3\x80\x8d", "\xe3\x80\x8e", "\xe3\x80\x8f",
    "<<", ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", "(\"", "((", "))", "(((", ")))", "[[",
    "]]", "{{", "}}", "\xe2\x99\xaa\xe2\x99\xaa", "\xe2\x99\xaa\xe2\x99\xaa\xe2\x99\xaa",
    "\xe2\x99\xa9", "\xe2\x99\xaa", "\xe2\x99\xab", "\xe2\x99\xac", "\xe2\x99\xad", "\xe2\x99\xae",
    "\xe2\x99\xaf",
};

/* log_softmax over logits (entries at -inf stay -inf). */
static void log_softmax(const float *logits, int n, float *logprobs) {
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > mx)
            mx = logits[i];
    float lse = 0.0f;
    for (int i = 0; i < n; i++)
        if (logits[i] > -INFINITY)
            lse += expf(logits[i] - mx);
    lse = logf(lse) + mx;
    for (int i = 0; i < n; i++)
        logprobs[i] = logits[i] > -INFINITY ? logits[i] - lse : -INFINITY;
}

static void suppress_str(const struct vf_wh_vocab *v, float *logits, const char *s) {
    int32_t id = vf__wh_vocab_find(v, s, strlen(s));
    if (id >= 0)
        logits[id] = -INFINITY;
}

/* Apply the filters to decoder d's logits (row d->i_batch of s->logits)
 * and compute its log-probabilities and probabilities. */
static void process_logits(struct vf_whisper_state *s, const struct vf_whisper_params *p,
                           struct vf_wh_decoder *d, float temp) {
    const struct vf_wh_vocab *v = &s->m->file.vocab;
    const int n = v->n_vocab;
    const struct vf_wh_seq *seq = &d->seq;
    const bool initial = seq->n_tokens == 0;
    float *logits = d->logits, *logprobs = d->logprobs, *probs = d->probs;
    memcpy(logits, s->logits + (size_t)d->i_batch * n, (size_t)n * sizeof(float));
    if (temp > 0.0f)
        for (int i = 0; i < n; i++)
            logits[i] /= temp;

    if (p->suppress_blank && initial) {
        logits[v->eot] = -INFINITY;
        if (v->space >= 0)
            logits[v->space] = -INFINITY;
    }
    logits[v->not_ts] = -INFINITY;
    if (p->no_timestamps)
        for (int i = v->beg; i < n; i++)
            logits[i] = -INFINITY;
    if (!p->no_timestamps && !p->single_segment && p->max_tokens > 0 && seq->n_tokens >= p->max_tokens)
        for (int i = 0; i < v->eot; i++)
            logits[i] = -INFINITY;
    logits[v->sot] = logits[v->nosp] = logits[v->solm] = -INFINITY;
    logits[v->translate] = logits[v->transcribe] = logits[v->prev] = -INFINITY;
    for (int i = 0; i < VF_WH_N_LANGS && v->sot + 1 + i < n; i++)
        logits[v->sot + 1 + i] = -INFINITY;
    if (p->suppress_nst) {
        for (size_t k = 0; k < VF_ARRAY_LEN(non_speech); k++) {
            char sp[16];
            suppress_str(v, logits, non_speech[k]);
            snprintf(sp, sizeof sp, " %s", non_speech[k]);
            suppress_str(v, logits, sp);
        }
        suppress_str(v, logits, " -");
        suppress_str(v, logits, " '");
    }

    /* timestamps come in pairs, except right before the end */
    const bool last_ts = seq->n_tokens > 0 && seq->tokens[seq->n_tokens - 1].id >= v->beg;
    const bool penult_ts = seq->n_tokens < 2 || seq->tokens[seq->n_tokens - 2].id >= v->beg;
    if (last_ts) {
        if (penult_ts)
            for (int i = v->beg; i < n; i++)
                logits[i] = -INFINITY;
        else
            for (int i = 0; i < v->eot; i++)
                logits[i] = -INFINITY;
    }
    /* the first timestamp is at most max_initial_ts */
    if (initial && p->max_initial_ts > 0.0f) {
        const float precision = (float)VF_WH_CHUNK_SECONDS / (float)s->m->hp.n_audio_ctx;
        const int tid0 = (int)roundf(p->max_initial_ts / precision);
        for (int i = v->beg + tid0 + 1; i < n; i++)
            logits[i] = -INFINITY;
    }
    /* timestamps do not go back */
    if (d->has_ts) {
        const int tid0 = d->seek_delta / 2;
        for (int i = v->beg; i < v->beg + tid0 && i < n; i++)
            logits[i] = -INFINITY;
    }

    log_softmax(logits, n, logprobs);

    /* if the timestamps together are likelier than any text token, take one */
    float ts_logprob = -INFINITY;
    {
        float mx = logprobs[v->beg];
        for (int i = v->beg + 1; i < n; i++)
            if (logprobs[i] > mx)
                mx = logprobs[i];
        float lse = 0.0f;
        for (int i = v->beg; i < n; i++)
            if (logprobs[i] > -INFINITY)
                lse += expf(logprobs[i] - mx);
        if (lse > 0.0f)
            ts_logprob = logf(lse) + mx;
    }
    float max_text = logprobs[0];
    for (int i = 1; i < v->beg; i++)
        if (logprobs[i] > max_text)
            max_text = logprobs[i];
    if (ts_logprob > max_text)
        for (int i = 0; i < v->beg; i++)
            logits[i] = logprobs[i] = -INFINITY;

    for (int i = 0; i < n; i++)
        probs[i] = logits[i] == -INFINITY ? 0.0f : expf(logprobs[i]);
}

/* ==== Sampling ============================================================== */

/* The timestamp statistics of a step: most likely timestamp, its share and
 * the total timestamp probability. */
static void ts_stats(const struct vf_wh_vocab *v, const float *probs, int32_t *tid, float *pt,
                     float *ptsum) {
    double sum = 0.0, mx = 0.0;
    for (int i = v->beg; i < v->n_vocab; i++) {
        sum += probs[i];
        if (mx < probs[i]) {
            mx = probs[i];
            *tid = i;
        }
    }
    *pt = (float)(mx / (sum + 1e-10));
    *ptsum = (float)sum;
}

static struct vf_whisper_token sample_token(struct vf_whisper_state *s, struct vf_wh_decoder *d,
                                            bool best) {
    const struct vf_wh_vocab *v = &s->m->file.vocab;
    /* tid starts at <|0.00|>: when every timestamp has probability 0 (they
     * underflow at high temperatures) whisper.cpp leaves it at token 0 and
     * its segment starts at a negative time */
    struct vf_whisper_token t = {0, v->beg, 0.0f, 0.0f, 0.0f, 0.0f};
    ts_stats(v, d->probs, &t.tid, &t.pt, &t.ptsum);
    if (best) {
        for (int i = 0; i < v->n_vocab; i++) {
            if (t.p < d->probs[i]) {
                t.id = i;
                t.p = d->probs[i];
                t.plog = d->logprobs[i];
            }
        }
    } else {
        t.id = vf__wh_mt_discrete(&d->rng, d->probs, v->n_vocab);
        t.p = d->probs[t.id];
        t.plog = d->logprobs[t.id];
    }
    if (t.id >= v->beg) {
        t.tid = t.id;
        t.pt = t.p;
    }
    return t;
}

/* k continuations of decoder d into out (returns how many): the k most
 * likely tokens, or (sampled) k draws as whisper.cpp makes them. */
static int topk(struct vf_whisper_state *s, struct vf_wh_decoder *d, int k, bool sampled,
                struct vf_whisper_token *out) {
    const struct vf_wh_vocab *v = &s->m->file.vocab;
    int32_t tid = v->beg;
    float pt = 0, ptsum = 0;
    ts_stats(v, d->probs, &tid, &pt, &ptsum);
    int n = 0;
    if (sampled) {
        for (; n < k; n++) {
            int id = vf__wh_mt_discrete(&d->rng, d->probs, v->n_vocab);
            out[n] = (struct vf_whisper_token){id, tid, d->probs[id], d->logprobs[id], pt, ptsum};
        }
    } else {
        /* insertion into a list of at most k, best first, ties to the lower id */
        for (int i = 0; i < v->n_vocab; i++) {
            const float lp = d->logprobs[i];
            if (lp == -INFINITY || (n == k && lp <= out[n - 1].plog))
                continue;
            int at = n < k ? n++ : k - 1;
            while (at > 0 && out[at - 1].plog < lp) {
                out[at] = out[at - 1];
                at--;
            }
            out[at] = (struct vf_whisper_token){i, tid, d->probs[i], lp, pt, ptsum};
        }
    }
    for (int i = 0; i < n; i++) {
        if (out[i].id >= v->beg) {
            out[i].tid = out[i].id;
            out[i].pt = out[i].p;
        }
    }
    return n;
}

/* Rank a finished sequence: average log-probability, length-penalized
 * score, and the entropy of its last 32 tokens (low = repetition). */
static void seq_score(const struct vf_whisper_params *p, struct vf_wh_seq *q) {
    if (q->result_len == 0)
        return;
    double sum = 0.0;
    for (int i = 0; i < q->result_len; i++)
        sum += q->tokens[i].plog;
    q->sum_logprobs = sum;
    q->avg_logprobs = sum / q->result_len;
    double penalty = q->result_len;
    if (p->length_penalty > 0.0f)
        penalty = pow((5.0 + penalty) / 6.0, p->length_penalty);
    q->score = sum / penalty;
    /* counts per token id, summed in increasing id order */
    int32_t ids[32];
    int cnt = 0;
    for (int i = VF_MAX(0, q->result_len - 32); i < q->result_len; i++)
        ids[cnt++] = q->tokens[i].id;
    for (int i = 1; i < cnt; i++)
        for (int j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            int32_t t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    double entropy = 0.0;
    for (int i = 0; i < cnt;) {
        int j = i;
        while (j < cnt && ids[j] == ids[i])
            j++;
        const double pr = (j - i) / (double)cnt;
        entropy -= pr * log(pr);
        i = j;
    }
    q->entropy = entropy;
}

static void seq_copy(struct vf_wh_seq *dst, const struct vf_wh_seq *src) {
    struct vf_whisper_token *keep = dst->tokens;
    *dst = *src;
    dst->tokens = keep;
    memcpy(dst->tokens, src->tokens, (size_t)src->n_tokens * sizeof *src->tokens);
}

static bool seq_equal(const struct vf_wh_seq *a, const struct vf_wh_seq *b) {
    if (a->n_tokens != b->n_tokens)
        return false;
    for (int i = a->n_tokens - 1; i >= 0; i--)
        if (a->tokens[i].id != b->tokens[i].id)
            return false;
    return true;
}

static int cand_cmp(const void *pa, const void *pb) {
    const struct vf_wh_beam_cand *a = pa, *b = pb;
    if (a->seq.sum_logprobs_all != b->seq.sum_logprobs_all)
        return a->seq.sum_logprobs_all > b->seq.sum_logprobs_all ? -1 : 1;
    if (a->decoder != b->decoder)
        return a->decoder < b->decoder ? -1 : 1;
    int32_t ta = a->seq.tokens[a->seq.n_tokens - 1].id, tb = b->seq.tokens[b->seq.n_tokens - 1].id;
    return ta < tb ? -1 : ta > tb;
}

/* ==== Results =============================================================== */

static int push_segment(struct vf_whisper_result *r, int *cap, int64_t t0, int64_t t1,
                        const char *text, size_t text_len, const struct vf_whisper_token *toks,
                        int n_toks, float no_speech, const struct vf_whisper_params *p) {
    if (r->n_segments == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        struct vf_whisper_segment *g = vf_realloc(r->segments, (size_t)nc * sizeof *g);
        if (!g)
            return VF_ERR_NOMEM;
        r->segments = g;
        *cap = nc;
    }
    struct vf_whisper_segment *g = &r->segments[r->n_segments];
    memset(g, 0, sizeof *g);
    g->text = vf_strndup(text, text_len);
    g->tokens = vf_malloc((size_t)VF_MAX(n_toks, 1) * sizeof *g->tokens);
    if (!g->text || !g->tokens) {
        vf_free(g->text);
        vf_free(g->tokens);
        return VF_ERR_NOMEM;
    }
    memcpy(g->tokens, toks, (size_t)n_toks * sizeof *toks);
    g->n_tokens = n_toks;
    g->t0_ms = t0 * 10;
    g->t1_ms = t1 * 10;
    g->no_speech_prob = no_speech;
    r->n_segments++;
    if (p->on_segment)
        p->on_segment(g, p->on_segment_data);
    return VF_OK;
}

void vf_whisper_result_free(struct vf_whisper_result *r) {
    if (!r)
        return;
    for (int i = 0; i < r->n_segments; i++) {
        vf_free(r->segments[i].text);
        vf_free(r->segments[i].tokens);
    }
    vf_free(r->segments);
    memset(r, 0, sizeof *r);
}

/* ==== Language detection ==================================================== */

/* Run the encoder at frame seek and the decoder on <|startoftranscript|>;
 * the language with the largest logit wins. */
static int detect(struct vf_whisper_state *s, int seek, float *probs, float *best_p) {
    const struct vf_wh_vocab *v = &s->m->file.vocab;
    int rc = vf__wh_encode(s, seek);
    if (rc)
        return rc;
    vf__wh_kv_clear(s);
    struct vf_wh_batch *b = &s->batch;
    b->n = 1;
    b->token[0] = v->sot, b->pos[0] = 0, b->seq[0] = 0, b->logits[0] = 1;
    if ((rc = vf__wh_decode(s)))
        return rc;
    const int nl = v->n_languages;
    float mx = -INFINITY;
    int best = 0;
    for (int i = 0; i < nl; i++) {
        float l = s->logits[v->sot + 1 + i];
        if (l > mx) {
            mx = l;
            best = i;
        }
    }
    double sum = 0.0;
    for (int i = 0; i < nl; i++)
        sum += exp(s->logits[v->sot + 1 + i] - mx);
    if (probs)
        for (int i = 0; i < VF_WH_N_LANGS; i++)
            probs[i] = i < nl ? (float)(exp(s->logits[v->sot + 1 + i] - mx) / sum) : 0.0f;
    if (best_p)
        *best_p = (float)(1.0 / sum);
    return best;
}

static void set_abort(struct vf_whisper_state *s, bool (*cb)(void *), void *data) {
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(ggml_backend_get_device(s->cpu));
    ggml_backend_set_abort_callback_t set =
        (ggml_backend_set_abort_callback_t)ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_abort_callback");
    if (set)
        set(s->cpu, cb, data);
}

int vf_whisper_detect_language(struct vf_whisper_state *s, const float *samples, size_t n_samples,
                               float *probs, char *err, size_t errlen) {
    if (!s->m->file.vocab.multilingual) {
        vf_errf(err, errlen, "an English-only model cannot detect the language");
        return VF_ERR_ARG;
    }
    int rc = vf__wh_set_audio(s, samples, n_samples);
    if (rc) {
        vf_errf(err, errlen, "%s", rc == VF_ERR_TOOBIG ? "audio is too long" : "out of memory");
        return rc;
    }
    vf__wh_set_audio_ctx(s, 0);
    rc = detect(s, 0, probs, NULL);
    if (rc < 0)
        vf_errf(err, errlen, "language detection failed: %s", vf_status_str(rc));
    return rc;
}

int vf__wh_teacher_logits(struct vf_whisper_state *s, const float *samples, size_t n_samples,
                          const int32_t *tokens, int n, float *out) {
    const int n_vocab = s->m->hp.n_vocab;
    if (n < 1 || n > s->m->hp.n_text_ctx)
        return VF_ERR_ARG;
    vf__wh_set_audio_ctx(s, 0);
    int rc = vf__wh_set_audio(s, samples, n_samples);
    if (!rc)
        rc = vf__wh_encode(s, 0);
    if (rc)
        return rc;
    vf__wh_kv_clear(s);
    for (int i = 0; i < n; i++) {
        struct vf_wh_batch *b = &s->batch;
        b->n = 1;
        b->token[0] = tokens[i], b->pos[0] = i, b->seq[0] = 0, b->logits[0] = 1;
        if ((rc = vf__wh_decode(s)))
            return rc;
        memcpy(out + (size_t)i * n_vocab, s->logits, (size_t)n_vocab * sizeof(float));
    }
    return VF_OK;
}

/* ==== The window loop ======================================================= */

int vf_whisper_transcribe(struct vf_whisper_state *s, const struct vf_whisper_params *params,
                          const float *samples, size_t n_samples, struct vf_whisper_result *out,
                          char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    struct vf_whisper_params def = vf_whisper_default_params();
    const struct vf_whisper_params *p = params ? params : &def;
    const struct vf_whisper_model *m = s->m;
    const struct vf_wh_vocab *v = &m->file.vocab;
    const struct vf_wh_hparams *hp = &m->hp;
    const double t_start = now_ms();
    int rc = VF_OK, seg_cap = 0;
    int32_t *ptoks = NULL;

    /* ---- parameters ---- */
    if (p->temperature < 0.0f || p->temperature > 1.0f || p->temperature_inc < 0.0f ||
        p->temperature_inc > 1.0f || (p->temperature_inc > 0.0f && p->temperature_inc < 0.01f)) {
        vf_errf(err, errlen, "temperature %g and temperature_inc %g must be in [0, 1] (inc 0 or >= 0.01)",
                p->temperature, p->temperature_inc);
        return VF_ERR_ARG;
    }
    float temps[128];
    int n_temps = 0;
    if (p->temperature_inc > 0.0f)
        for (float t = p->temperature; t < 1.0f + 1e-6f && n_temps < 128; t += p->temperature_inc)
            temps[n_temps++] = t;
    else
        temps[n_temps++] = p->temperature;
    int need = 1;
    for (int it = 0; it < n_temps; it++) {
        int nd = temps[it] > 0.0f ? p->best_of : p->strategy == VF_WHISPER_BEAM_SEARCH ? p->beam_size : 1;
        need = VF_MAX(need, nd);
    }
    if (p->best_of < 1 || p->beam_size < 1 || need > s->params.n_decoders ||
        (p->strategy != VF_WHISPER_GREEDY && p->strategy != VF_WHISPER_BEAM_SEARCH)) {
        vf_errf(err, errlen, "best_of %d / beam_size %d: needs %d decoders, the state has %d "
                "(vf_whisper_state_params.n_decoders)", p->best_of, p->beam_size, need,
                s->params.n_decoders);
        return VF_ERR_ARG;
    }
    if (p->n_max_text_ctx < 0 || p->max_tokens < 0 || p->offset_ms < 0 || p->duration_ms < 0 ||
        p->audio_ctx < 0 || p->audio_ctx > hp->n_audio_ctx) {
        vf_errf(err, errlen, "n_max_text_ctx, max_tokens, offset_ms, duration_ms must be >= 0 and "
                "audio_ctx in 0..%d", hp->n_audio_ctx);
        return VF_ERR_ARG;
    }
    if (n_samples > (size_t)VF_WHISPER_MAX_SECONDS * VF_WHISPER_SAMPLE_RATE) {
        vf_errf(err, errlen, "audio is longer than %d s", VF_WHISPER_MAX_SECONDS);
        return VF_ERR_TOOBIG;
    }
    for (size_t i = 0; i < n_samples; i++) {
        if (!isfinite(samples[i])) {
            vf_errf(err, errlen, "audio sample %zu is not a finite number", i);
            return VF_ERR_ARG;
        }
    }
    int lang = 0;
    const bool auto_lang = !p->language || !p->language[0] || !strcmp(p->language, "auto");
    if (!auto_lang) {
        lang = vf_whisper_lang_id(p->language);
        if (lang < 0 || (v->multilingual && lang >= v->n_languages)) {
            vf_errf(err, errlen, "unknown language '%s' for this model", p->language);
            return VF_ERR_ARG;
        }
    }
    if (p->initial_prompt && strlen(p->initial_prompt) > VF_WHISPER_MAX_PROMPT) {
        vf_errf(err, errlen, "initial prompt is longer than %d bytes", VF_WHISPER_MAX_PROMPT);
        return VF_ERR_ARG;
    }
    bool no_ts = p->no_timestamps;
    if (hp->n_text_layer == 2 && hp->n_vocab != 51866 && !no_ts) {
        /* the first distilled releases were trained without timestamps */
        vf_log(VF_LOG_WARN, "whisper", "distilled model: decoding without timestamps");
        no_ts = true;
    }
    struct vf_whisper_params pp = *p;
    pp.no_timestamps = no_ts;
    p = &pp;

    s->t_mel_ms = s->t_enc_ms = s->t_dec_ms = 0;
    s->n_enc = s->n_dec = 0;
    if (p->abort)
        set_abort(s, p->abort, p->abort_data);

    vf__wh_set_audio_ctx(s, p->audio_ctx);

    /* ---- spectrogram and language ---- */
    if ((rc = vf__wh_set_audio(s, samples, n_samples))) {
        vf_errf(err, errlen, "%s", rc == VF_ERR_TOOBIG ? "audio is too long" : "out of memory");
        goto out;
    }
    if (auto_lang && v->multilingual) {
        int id = detect(s, 0, NULL, &out->lang_prob);
        if (id < 0) {
            rc = id;
            vf_errf(err, errlen, "language detection failed");
            goto out;
        }
        lang = id;
        vf_log(VF_LOG_INFO, "whisper", "detected language: %s (p = %.3f)", vf_whisper_lang_code(lang),
               out->lang_prob);
    }
    out->lang_id = lang;
    s->lang_id = lang;

    const int seek_start = p->offset_ms / 10;
    const int seek_end = p->duration_ms == 0 ? s->mel.n_len_org : seek_start + p->duration_ms / 10;
    const int delta_min = 10;   /* windows under 100 ms are not decoded */
    if (seek_end < seek_start + delta_min)
        goto out;

    /* decoder j samples from mt19937(j), as in a fresh whisper.cpp state;
     * whisper.cpp seeds decoder 0 only when the state is made, so its second
     * call on a state samples differently: here every call starts afresh, so
     * a pooled state gives what a new one would */
    for (int j = 0; j < s->params.n_decoders; j++)
        vf__wh_mt_seed(&s->dec[j].rng, (uint32_t)j);
    if (p->no_context)
        s->n_past0 = s->n_past1 = 0;
    const int cap_past = 2 * hp->n_text_ctx;
    const int max_prompt_ctx = VF_MIN(p->n_max_text_ctx, hp->n_text_ctx / 2);

    /* ---- the initial prompt ---- */
    if (p->initial_prompt && p->initial_prompt[0]) {
        size_t len = strlen(p->initial_prompt);
        if (!(ptoks = vf_malloc((len + 1) * sizeof *ptoks))) {
            rc = VF_ERR_NOMEM;
            goto out;
        }
        int np = vf__wh_tokenize(v, p->initial_prompt, ptoks, (int)len + 1);
        if (p->carry_initial_prompt) {
            if (s->n_past0 == 0) {
                int keep = VF_MIN(np, VF_MAX(1, max_prompt_ctx - 1));
                keep = VF_MIN(keep, cap_past);
                memcpy(s->past0, ptoks + (np - keep), (size_t)keep * sizeof *ptoks);
                s->n_past0 = keep;
            }
        } else {
            /* the prompt goes before the carried text; only the last cap_past
             * tokens of the two together can ever be used */
            const int drop = VF_MAX(0, np + s->n_past1 - cap_past);
            const int keep_p = VF_MAX(0, np - drop);
            const int keep_old = s->n_past1 - VF_MAX(0, drop - np);
            memmove(s->past1 + keep_p, s->past1 + (s->n_past1 - keep_old),
                    (size_t)keep_old * sizeof *s->past1);
            memcpy(s->past1, ptoks + (np - keep_p), (size_t)keep_p * sizeof *ptoks);
            s->n_past1 = keep_p + keep_old;
        }
    }

    /* sot [lang task] [notimestamps] */
    int32_t init[4];
    int n_init = 0;
    init[n_init++] = v->sot;
    if (v->multilingual) {
        init[n_init++] = v->sot + 1 + lang;
        init[n_init++] = p->translate ? v->translate : v->transcribe;
    }
    if (no_ts)
        init[n_init++] = v->not_ts;

    int seek = seek_start;
    const int n_max = hp->n_text_ctx / 2 - 4;
    int n_prompt = 0;
    while (true) {
        if (p->abort && p->abort(p->abort_data)) {
            rc = 1;
            goto out;
        }
        if (seek + delta_min >= seek_end)
            break;
        if ((rc = vf__wh_encode(s, seek))) {
            vf_errf(err, errlen, "the encoder failed");
            goto out;
        }
        out->n_windows++;
        /* a very short last window decodes better without earlier text */
        if (seek > seek_start && seek + 500 >= seek_end)
            s->n_past0 = s->n_past1 = 0;

        int best = 0;
        for (int it = 0; it < n_temps; it++) {
            const float t_cur = temps[it];
            int n_dec = t_cur > 0.0f ? p->best_of : p->strategy == VF_WHISPER_BEAM_SEARCH ? p->beam_size : 1;
            n_dec = VF_MAX(1, n_dec);
            /* beams at t = 0; above, OpenAI samples best_of candidates
             * (whisper.cpp keeps drawing beams: beam_sampled) */
            const bool beam = p->strategy == VF_WHISPER_BEAM_SEARCH && (t_cur <= 0.0f || p->beam_sampled);
            for (int j = 0; j < n_dec; j++) {
                struct vf_wh_decoder *d = &s->dec[j];
                d->seq.n_tokens = 0;
                d->seq.result_len = 0;
                d->seq.sum_logprobs_all = 0.0;
                d->seq.sum_logprobs = d->seq.avg_logprobs = d->seq.score = -INFINITY;
                d->seq.entropy = 0.0;
                d->seek_delta = 100 * VF_WH_CHUNK_SECONDS;
                d->failed = d->completed = d->has_ts = false;
            }

            /* prompt: <|prev|> earlier text, then the task tokens */
            n_prompt = 0;
            if (p->n_max_text_ctx > 0 && t_cur < 0.5f) {
                const bool take0 = p->carry_initial_prompt && s->n_past0 > 0;
                const bool take1 = s->n_past1 > 0;
                if (max_prompt_ctx > 0 && (take0 || take1)) {
                    s->prompt[n_prompt++] = v->prev;
                    int n0 = take0 ? s->n_past0 : 0;
                    memcpy(s->prompt + n_prompt, s->past0, (size_t)n0 * sizeof(int32_t));
                    n_prompt += n0;
                    int n1 = VF_MAX(0, VF_MIN(max_prompt_ctx - n0 - 1, s->n_past1));
                    memcpy(s->prompt + n_prompt, s->past1 + (s->n_past1 - n1), (size_t)n1 * sizeof(int32_t));
                    n_prompt += n1;
                }
            }
            memcpy(s->prompt + n_prompt, init, (size_t)n_init * sizeof(int32_t));
            n_prompt += n_init;

            vf__wh_kv_clear(s);
            struct vf_wh_batch *b = &s->batch;
            b->n = n_prompt;
            const int i_sot = n_prompt - n_init;   /* where <|startoftranscript|> is */
            for (int i = 0; i < n_prompt; i++) {
                b->token[i] = s->prompt[i], b->pos[i] = i, b->seq[i] = 0;
                b->logits[i] = i == i_sot || i == n_prompt - 1;
            }
            if ((rc = vf__wh_decode(s))) {
                vf_errf(err, errlen, "the decoder failed on the prompt (%s)", vf_status_str(rc));
                goto out;
            }
            /* the no-speech probability: <|nospeech|> after <|startoftranscript|>,
             * before any filter (OpenAI's definition; whisper.cpp reads a row of
             * its logits buffer that holds the SOT logits only when the prompt is
             * a single token) */
            log_softmax(s->logits, v->n_vocab, s->dec[0].logprobs);
            s->no_speech_prob = s->logits[v->nosp] == -INFINITY ? 0.0f : expf(s->dec[0].logprobs[v->nosp]);

            s->dec[0].i_batch = s->n_logits_rows - 1;
            process_logits(s, p, &s->dec[0], t_cur);
            for (int j = 1; j < n_dec; j++) {
                struct vf_wh_decoder *d = &s->dec[j];
                vf__wh_kv_seq_cp(s, 0, j, -1, -1);
                memcpy(d->probs, s->dec[0].probs, (size_t)v->n_vocab * sizeof(float));
                memcpy(d->logits, s->dec[0].logits, (size_t)v->n_vocab * sizeof(float));
                memcpy(d->logprobs, s->dec[0].logprobs, (size_t)v->n_vocab * sizeof(float));
            }

            for (int i = 0; i < n_max; i++) {
                /* ---- sampling ---- */
                int n_cands = 0;
                for (int j = 0; j < n_dec; j++) {
                    struct vf_wh_decoder *d = &s->dec[j];
                    if (d->completed || d->failed)
                        continue;
                    if (!beam) {
                        struct vf_whisper_token t = sample_token(s, d, t_cur < 1e-6f);
                        d->seq.tokens[d->seq.n_tokens++] = t;
                        d->seq.sum_logprobs_all += t.plog;
                    } else {
                        struct vf_whisper_token toks[VF_WHISPER_MAX_DECODERS];
                        int nk = topk(s, d, p->beam_size, p->beam_sampled, toks);
                        for (int k = 0; k < nk && n_cands < s->n_cands_cap; k++) {
                            struct vf_wh_beam_cand *c = &s->cands[n_cands++];
                            c->decoder = j;
                            c->seek_delta = d->seek_delta;
                            c->has_ts = d->has_ts;
                            seq_copy(&c->seq, &d->seq);
                            c->seq.tokens[c->seq.n_tokens++] = toks[k];
                            c->seq.sum_logprobs_all += toks[k].plog;
                        }
                    }
                }
                if (beam && n_cands > 0) {
                    qsort(s->cands, (size_t)n_cands, sizeof *s->cands, cand_cmp);
                    int cur_c = 0;
                    for (int j = 0; j < n_dec; j++) {
                        struct vf_wh_decoder *d = &s->dec[j];
                        if (d->completed || d->failed)
                            continue;
                        if (cur_c >= n_cands)
                            cur_c = 0;
                        const struct vf_wh_beam_cand *cur = &s->cands[cur_c++];
                        /* skip copies of the chosen sequence (whisper.cpp keeps them on
                         * the first step, where its sampled beams rarely coincide) */
                        while (n_cands > cur_c && seq_equal(&s->cands[cur_c].seq, &cur->seq) &&
                               (i > 0 || !p->beam_sampled))
                            cur_c++;
                        d->seek_delta = cur->seek_delta;
                        d->has_ts = cur->has_ts;
                        seq_copy(&d->seq, &cur->seq);
                        vf__wh_kv_seq_cp(s, cur->decoder, VF_WHISPER_MAX_DECODERS + j, -1, -1);
                    }
                    for (int j = 0; j < n_dec; j++) {
                        struct vf_wh_decoder *d = &s->dec[j];
                        if (d->completed || d->failed)
                            continue;
                        vf__wh_kv_seq_rm(s, j, -1, -1);
                        vf__wh_kv_seq_cp(s, VF_WHISPER_MAX_DECODERS + j, j, -1, -1);
                        vf__wh_kv_seq_rm(s, VF_WHISPER_MAX_DECODERS + j, -1, -1);
                    }
                }

                /* ---- decoder states: timestamps, end, failure ---- */
                for (int j = 0; j < n_dec; j++) {
                    struct vf_wh_decoder *d = &s->dec[j];
                    if (d->completed || d->failed)
                        continue;
                    const struct vf_whisper_token *t = &d->seq.tokens[d->seq.n_tokens - 1];
                    if (t->id > v->beg) {
                        const int sd = 2 * (t->id - v->beg);
                        if (d->has_ts && d->seek_delta > sd && d->seq.result_len < i) {
                            d->failed = true;   /* timestamps went back */
                            continue;
                        }
                        d->seek_delta = sd;
                        d->seq.result_len = i + 1;
                        d->has_ts = true;
                    }
                    if (t->id == v->eot || (p->max_tokens > 0 && i >= p->max_tokens) ||
                        (d->has_ts && seek + d->seek_delta + delta_min >= seek_end)) {
                        if (d->seq.result_len == 0 && !no_ts) {
                            if (seek + d->seek_delta + delta_min >= seek_end) {
                                d->seq.result_len = i + 1;
                            } else {
                                d->failed = true;
                                continue;
                            }
                        }
                        if (p->single_segment || no_ts) {
                            d->seq.result_len = i + 1;
                            d->seek_delta = 100 * VF_WH_CHUNK_SECONDS;
                        }
                        d->completed = true;
                        continue;
                    }
                    /* stuck in a repetition loop */
                    if (i == n_max - 1 && (d->seq.result_len == 0 || d->seek_delta < 100 * VF_WH_CHUNK_SECONDS / 2)) {
                        d->failed = true;
                        continue;
                    }
                }
                bool all_done = true;
                for (int j = 0; j < n_dec; j++)
                    if (!s->dec[j].completed && !s->dec[j].failed)
                        all_done = false;
                if (all_done || i == n_max - 1)
                    break;
                if (p->abort && p->abort(p->abort_data)) {
                    rc = 1;
                    goto out;
                }

                /* ---- next logits: one token per active decoder ---- */
                b->n = 0;
                for (int j = 0; j < n_dec; j++) {
                    struct vf_wh_decoder *d = &s->dec[j];
                    if (d->completed || d->failed)
                        continue;
                    d->i_batch = b->n;
                    b->token[b->n] = d->seq.tokens[d->seq.n_tokens - 1].id;
                    b->pos[b->n] = n_prompt + i;
                    b->seq[b->n] = j;
                    b->logits[b->n] = 1;
                    b->n++;
                }
                if ((rc = vf__wh_decode(s))) {
                    vf_errf(err, errlen, "the decoder failed (%s)", rc == VF_ERR_TOOBIG
                            ? "self-attention cache full" : vf_status_str(rc));
                    goto out;
                }
                for (int j = 0; j < n_dec; j++) {
                    struct vf_wh_decoder *d = &s->dec[j];
                    if (!d->completed && !d->failed)
                        process_logits(s, p, d, t_cur);
                }
            }

            /* ---- rank the decoders ---- */
            double best_score = -INFINITY;
            for (int j = 0; j < n_dec; j++) {
                struct vf_wh_decoder *d = &s->dec[j];
                if (d->failed)
                    continue;
                d->seq.n_tokens = d->seq.result_len;
                seq_score(p, &d->seq);
                if (d->seq.result_len > 32 && d->seq.entropy < p->entropy_thold) {
                    d->failed = true;   /* too repetitive */
                    continue;
                }
                if (best_score < d->seq.score) {
                    best_score = d->seq.score;
                    best = j;
                }
            }
            if (it == n_temps - 1)
                break;
            const struct vf_wh_decoder *d = &s->dec[best];
            if (!d->failed && !(d->seq.avg_logprobs < p->logprob_thold && s->no_speech_prob < p->no_speech_thold))
                break;
            out->n_fallbacks++;
        }

        /* ---- segments of the best decoder ---- */
        const struct vf_wh_decoder *d = &s->dec[best];
        int seek_delta = d->seek_delta;
        const int result_len = d->seq.result_len;
        const struct vf_whisper_token *tk = d->seq.tokens;
        const int nt = d->seq.n_tokens;
        const bool no_speech = s->no_speech_prob > p->no_speech_thold && d->seq.avg_logprobs < p->logprob_thold;

        /* the text carried to the next window */
        int np1 = 0;
        if (!p->carry_initial_prompt && n_prompt > 0 && s->prompt[0] == v->prev) {
            np1 = n_prompt - 1 - n_init;
            memcpy(s->past1, s->prompt + 1, (size_t)np1 * sizeof(int32_t));
        }
        if (!no_speech)
            for (int i = 0; i < result_len && np1 < cap_past; i++)
                s->past1[np1++] = tk[i].id;
        s->n_past1 = np1;

        if (nt > 0 && !no_speech) {
            size_t text_max = 1;
            for (int i = 0; i < nt; i++)
                if (tk[i].id < v->eot)
                    text_max += v->len[tk[i].id];
            char *text = vf_malloc(text_max);
            if (!text) {
                rc = VF_ERR_NOMEM;
                goto out;
            }
            size_t tl = 0;
            int i0 = 0;
            int64_t t0 = seek + 2 * (tk[0].tid - v->beg);
            for (int i = 0; i < nt && !rc; i++) {
                if (tk[i].id < v->eot) {
                    memcpy(text + tl, v->blob + v->off[tk[i].id], v->len[tk[i].id]);
                    tl += v->len[tk[i].id];
                }
                if (tk[i].id > v->beg && !p->single_segment) {
                    const int64_t t1 = seek + 2 * (tk[i].tid - v->beg);
                    if (tl > 0)
                        rc = push_segment(out, &seg_cap, t0, t1, text, tl, tk + i0, i - i0 + 1,
                                          s->no_speech_prob, p);
                    tl = 0;
                    t0 = t1;
                    while (i + 1 < nt && tk[i + 1].id > v->beg) {
                        i++;
                        t0 = seek + 2 * (tk[i].tid - v->beg);
                    }
                    i0 = i + 1;
                }
            }
            if (!rc && tl > 0)
                rc = push_segment(out, &seg_cap, t0, seek + seek_delta, text, tl, tk + i0, nt - i0,
                                  s->no_speech_prob, p);
            vf_free(text);
            if (rc)
                goto out;
        }
        /* a window ending in a lone timestamp is done as a whole */
        const bool max_tok_end = p->max_tokens > 0 && !p->single_segment && nt > p->max_tokens;
        if (nt > 1 && !max_tok_end && tk[nt - 2].id < v->beg && tk[nt - 1].id > v->beg)
            seek_delta = VF_MIN(seek_end - seek, 100 * VF_WH_CHUNK_SECONDS);
        seek += seek_delta;
    }

out:
    vf_free(ptoks);
    if (p->abort)
        set_abort(s, NULL, NULL);
    out->mel_ms = s->t_mel_ms;
    out->encode_ms = s->t_enc_ms;
    out->decode_ms = s->t_dec_ms;
    out->total_ms = now_ms() - t_start;
    if (rc < 0) {
        if (err && !err[0])
            vf_errf(err, errlen, "%s", vf_status_str(rc));
        vf_whisper_result_free(out);
    }
    return rc;
}
