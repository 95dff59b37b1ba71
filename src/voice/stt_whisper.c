/* stt_whisper.c - the embedded Whisper (src/stt/vf_whisper.h) as the voice
 * loop's STT stage: one model loaded once and shared, and a pool of
 * n_states stream states (KV caches, compute buffers) created up front so
 * memory is fixed; a caller takes a free state for one utterance and gives
 * it back, waiting when all are busy. See engines.h. */
#include "engines.h"
#include "stt/vf_whisper.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAX_STATES 16

struct stt_whisper {
    struct vf_stt base;
    struct vf_whisper_model *model;
    struct vf_whisper_state *states[MAX_STATES];
    bool busy[MAX_STATES];
    int n_states, n_threads;
    bool multilingual;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static int take(struct stt_whisper *w) {
    pthread_mutex_lock(&w->mu);
    int k = -1;
    for (;;) {
        for (int i = 0; i < w->n_states && k < 0; i++)
            if (!w->busy[i])
                k = i;
        if (k >= 0)
            break;
        pthread_cond_wait(&w->cv, &w->mu);
    }
    w->busy[k] = true;
    pthread_mutex_unlock(&w->mu);
    return k;
}

static void give(struct stt_whisper *w, int k) {
    pthread_mutex_lock(&w->mu);
    w->busy[k] = false;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static char *trim_dup(const char *s) {
    while (*s == ' ' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n'))
        n--;
    return vf_strndup(s, n);
}

static int ws_transcribe(struct vf_stt *base, const float *pcm, size_t n,
                         const struct vf_stt_opts *o, struct vf_stt_result *out, char *err,
                         size_t errlen) {
    struct stt_whisper *w = (struct stt_whisper *)base;
    struct vf_whisper_params p = vf_whisper_default_params();
    const char *lang = o->language && *o->language ? o->language : NULL;
    if (!w->multilingual)
        lang = "en";
    else if (lang && !strcmp(lang, "auto"))
        lang = NULL;
    p.language = lang;
    p.initial_prompt = o->prompt && *o->prompt ? o->prompt : NULL;
    p.temperature = o->temperature > 0 ? o->temperature : 0.0f;
    p.abort = o->abort;
    p.max_tokens = o->max_tokens > 0 ? o->max_tokens : 0;
    p.abort_data = o->abort_data;
    p.no_context = true;
    /* One decoder, no temperature fallback: the voice loop wants the
     * lowest latency, and the state was sized for one decoder. */
    p.best_of = 1;
    p.beam_size = 1;
    p.temperature_inc = 0.0f;
    struct vf_whisper_result r = {0};
    int k = take(w);
    vf_whisper_state_reset(w->states[k]);
    int rc = vf_whisper_transcribe(w->states[k], &p, pcm, n, &r, err, errlen);
    give(w, k);
    if (rc == 1) {
        vf_whisper_result_free(&r);
        return 1;
    }
    if (rc)
        return rc;
    /* Join the segments' text; keep each segment for verbose_json. */
    size_t total = 1;
    for (int i = 0; i < r.n_segments; i++)
        total += strlen(r.segments[i].text) + 1;
    char *text = vf_malloc(total);
    out->segments = r.n_segments ? vf_calloc((size_t)r.n_segments, sizeof *out->segments) : NULL;
    if (!text || (r.n_segments && !out->segments)) {
        vf_free(text);
        vf_free(out->segments);
        out->segments = NULL;
        vf_whisper_result_free(&r);
        return VF_ERR_NOMEM;
    }
    size_t o_n = 0;
    for (int i = 0; i < r.n_segments; i++) {
        size_t l = strlen(r.segments[i].text);
        memcpy(text + o_n, r.segments[i].text, l);
        o_n += l;
        out->segments[i].start_s = (double)r.segments[i].t0_ms / 1000.0;
        out->segments[i].end_s = (double)r.segments[i].t1_ms / 1000.0;
        out->segments[i].text = trim_dup(r.segments[i].text);
        out->n_segments = i + 1;
    }
    text[o_n] = '\0';
    out->text = trim_dup(text);
    vf_free(text);
    const char *code = vf_whisper_lang_code(r.lang_id);
    snprintf(out->language, sizeof out->language, "%s", code ? code : "en");
    out->duration_s = (double)n / VF_WHISPER_SAMPLE_RATE;
    vf_whisper_result_free(&r);
    if (!out->text) {
        vf_stt_result_free(out);
        return VF_ERR_NOMEM;
    }
    return VF_OK;
}

static void ws_free(struct vf_stt *base) {
    struct stt_whisper *w = (struct stt_whisper *)base;
    for (int i = 0; i < w->n_states; i++)
        vf_whisper_state_free(w->states[i]);
    vf_whisper_model_free(w->model);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    vf_free(w);
}

static const struct vf_stt_ops whisper_ops = {"whisper", ws_transcribe, ws_free};

int vf_stt_whisper_init(const char *model_path, int n_states, int n_threads, struct vf_stt **out,
                        char *err, size_t errlen) {
    *out = NULL;
    if (n_states < 1 || n_states > MAX_STATES) {
        snprintf(err, errlen, "whisper states must be 1..%d", MAX_STATES);
        return VF_ERR_ARG;
    }
    struct stt_whisper *w = vf_calloc(1, sizeof *w);
    if (!w)
        return VF_ERR_NOMEM;
    w->base.ops = &whisper_ops;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    const char *slash = strrchr(model_path, '/');
    snprintf(w->base.model, sizeof w->base.model, "%s", slash ? slash + 1 : model_path);
    struct vf_whisper_model_params mp = vf_whisper_model_default_params();
    int rc = vf_whisper_model_load(model_path, &mp, &w->model, err, errlen);
    if (rc)
        goto fail;
    struct vf_whisper_model_info info;
    vf_whisper_model_info(w->model, &info);
    w->multilingual = info.multilingual;
    struct vf_whisper_state_params sp = vf_whisper_state_default_params();
    sp.n_decoders = 1; /* greedy: the voice loop wants the lowest latency */
    if (n_threads > 0)
        sp.n_threads = n_threads;
    for (int i = 0; i < n_states; i++) {
        rc = vf_whisper_state_init(w->model, &sp, &w->states[i], err, errlen);
        if (rc)
            goto fail;
        w->n_states = i + 1;
    }
    *out = &w->base;
    return VF_OK;
fail:
    ws_free(&w->base);
    return rc;
}

/* The device buffers of the model and all its states, for the status page:
 * fills up to max entries (device, kind, bytes summed) and returns how many. */
int vf__stt_whisper_memory(struct vf_stt *base, char (*device)[32], const char **kind,
                           uint64_t *bytes, int max) {
    if (!base || strcmp(base->ops->name, "whisper"))
        return 0;
    struct stt_whisper *w = (struct stt_whisper *)base;
    static const char *const kinds[] = {"weights", "kv_self", "kv_cross", "compute"};
    int n = 0;
    for (int si = -1; si < w->n_states; si++) {
        struct vf_whisper_buffer b[32];
        int k = vf_whisper_buffers(w->model, si < 0 ? NULL : w->states[si], b, 32);
        for (int i = 0; i < k && i < 32; i++) {
            if (si >= 0 && b[i].kind == VF_WHISPER_BUF_WEIGHTS)
                continue; /* the model's weights are counted once */
            const char *kd = (unsigned)b[i].kind < 4 ? kinds[b[i].kind] : "other";
            int j = 0;
            while (j < n && !(strcmp(device[j], b[i].device) == 0 && kind[j] == kd))
                j++;
            if (j == n) {
                if (n == max)
                    continue;
                snprintf(device[n], 32, "%.31s", b[i].device);
                kind[n] = kd;
                bytes[n++] = 0;
            }
            bytes[j] += b[i].bytes;
        }
    }
    return n;
}
