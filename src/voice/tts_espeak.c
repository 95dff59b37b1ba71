/* tts_espeak.c - embedded text-to-speech with espeak-ng's C library. Its
 * state is global and not thread-safe, so one thread owns it: callers queue
 * a job and wait; the owner runs espeak_Synth in synchronous mode, whose
 * callback delivers ~60 ms blocks of 22050 Hz PCM as they are made (about
 * 750x real time on one core), and returns 1 from the callback to stop at
 * once on barge-in. See engines.h. */
#include "engines.h"

#include <espeak-ng/speak_lib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct job {
    const char *text, *voice;
    float speed;
    vf_voice_pcm_cb cb;
    void *ud;
    vf_voice_abort_fn abort;
    void *abort_data;
    float *scratch;              /* (n) float block for the callback */
    size_t scratch_n;
    int rc;
    bool stopped, done;
    char err[160];
    struct job *next;
};

struct tts_espeak {
    struct vf_tts base;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_done;
    struct job *head, *tail;
    bool quit;
    int init_rc;                 /* 0 ok, else error from the owner thread */
    bool init_done;
    char init_err[200];
    char data_path[512];
    char cur_voice[64];
    int cur_rate;
};

static bool espeak_in_use; /* one engine per process: espeak's state is global */
/* The job being synthesized: read by the callback, which gets no context
 * of its own on every call (only some calls carry events with user_data).
 * Only the owner thread touches it. */
static struct job *cur_job;
static pthread_mutex_t espeak_guard = PTHREAD_MUTEX_INITIALIZER;

const char *vf__tts_espeak_voice(const char *voice, const char *fallback) {
    static const struct {
        const char *name, *espeak;
    } map[] = {
        {"alloy", "en-us"},        {"ash", "en-us+m3"},     {"ballad", "en-gb+m3"},
        {"coral", "en-us+f3"},     {"echo", "en-us+m2"},    {"fable", "en-gb"},
        {"onyx", "en-us+m1"},      {"nova", "en-us+f2"},    {"sage", "en-us+f4"},
        {"shimmer", "en-us+f1"},   {"verse", "en-us+m4"},   {"marin", "en-us+f3"},
        {"cedar", "en-us+m3"},
    };
    if (!voice || !*voice)
        return fallback;
    for (size_t i = 0; i < VF_ARRAY_LEN(map); i++)
        if (!strcmp(voice, map[i].name))
            return map[i].espeak;
    /* Kokoro-style names: af_* am_* bf_* bm_* */
    if (strlen(voice) > 3 && voice[2] == '_') {
        if (voice[0] == 'b')
            return voice[1] == 'f' ? "en-gb+f3" : "en-gb+m3";
        return voice[1] == 'f' ? "en-us+f3" : "en-us+m3";
    }
    /* an espeak voice name: letters, digits, '-', '+', '_' */
    for (const char *p = voice; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '+' || *p == '_'))
            return fallback;
    return strlen(voice) < 40 ? voice : fallback;
}

/* Runs on the owner thread, inside espeak_Synth. */
static int synth_cb(short *wav, int n, espeak_EVENT *ev) {
    (void)ev;
    struct job *j = cur_job;
    if (!j)
        return 0;
    if (j->abort && j->abort(j->abort_data)) {
        j->stopped = true;
        return 1;
    }
    if (!wav || n <= 0)
        return 0;
    if ((size_t)n > j->scratch_n) {
        float *p = vf_realloc(j->scratch, (size_t)n * sizeof *p);
        if (!p) {
            j->rc = VF_ERR_NOMEM;
            return 1;
        }
        j->scratch = p;
        j->scratch_n = (size_t)n;
    }
    for (int i = 0; i < n; i++)
        j->scratch[i] = (float)wav[i] / 32768.0f;
    if (j->cb(j->scratch, (size_t)n, 22050, j->ud)) {
        j->stopped = true;
        return 1;
    }
    return 0;
}

static void run_job(struct tts_espeak *t, struct job *j) {
    const char *v = vf__tts_espeak_voice(j->voice, t->base.default_voice);
    if (strcmp(v, t->cur_voice)) {
        if (espeak_SetVoiceByName(v) != EE_OK && espeak_SetVoiceByName(t->base.default_voice) != EE_OK) {
            snprintf(j->err, sizeof j->err, "espeak-ng: no voice '%s'", v);
            j->rc = VF_ERR_NOTFOUND;
            return;
        }
        snprintf(t->cur_voice, sizeof t->cur_voice, "%s", v);
    }
    int rate = (int)(espeakRATE_NORMAL * j->speed + 0.5f);
    rate = VF_MAX(espeakRATE_MINIMUM, VF_MIN(espeakRATE_MAXIMUM, rate));
    if (rate != t->cur_rate) {
        espeak_SetParameter(espeakRATE, rate, 0);
        t->cur_rate = rate;
    }
    cur_job = j;
    espeak_ERROR e = espeak_Synth(j->text, strlen(j->text) + 1, 0, POS_CHARACTER, 0,
                                  espeakCHARS_UTF8, NULL, j);
    cur_job = NULL;
    if (e != EE_OK && !j->stopped && j->rc == VF_OK) {
        snprintf(j->err, sizeof j->err, "espeak-ng: synthesis failed (%d)", (int)e);
        j->rc = VF_ERR_BACKEND;
    }
}

static void *owner(void *arg) {
    struct tts_espeak *t = arg;
    int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 60,
                                 t->data_path[0] ? t->data_path : NULL,
                                 espeakINITIALIZE_DONT_EXIT);
    pthread_mutex_lock(&t->mu);
    if (rate != 22050) {
        snprintf(t->init_err, sizeof t->init_err,
                 rate < 0 ? "espeak-ng: cannot initialise (data files missing?)"
                          : "espeak-ng: unexpected sample rate");
        t->init_rc = VF_ERR_BACKEND;
    } else {
        espeak_SetSynthCallback(synth_cb);
        if (espeak_SetVoiceByName(t->base.default_voice) != EE_OK) {
            snprintf(t->init_err, sizeof t->init_err, "espeak-ng: no voice '%s'",
                     t->base.default_voice);
            t->init_rc = VF_ERR_NOTFOUND;
        }
        snprintf(t->cur_voice, sizeof t->cur_voice, "%s", t->base.default_voice);
        t->cur_rate = espeakRATE_NORMAL;
    }
    t->init_done = true;
    pthread_cond_broadcast(&t->cv_done);
    if (t->init_rc) {
        pthread_mutex_unlock(&t->mu);
        if (rate > 0)
            espeak_Terminate();
        return NULL;
    }
    for (;;) {
        while (!t->head && !t->quit)
            pthread_cond_wait(&t->cv_job, &t->mu);
        if (!t->head && t->quit)
            break;
        struct job *j = t->head;
        t->head = j->next;
        if (!t->head)
            t->tail = NULL;
        pthread_mutex_unlock(&t->mu);
        run_job(t, j);
        pthread_mutex_lock(&t->mu);
        j->done = true;
        pthread_cond_broadcast(&t->cv_done);
    }
    pthread_mutex_unlock(&t->mu);
    espeak_Terminate();
    return NULL;
}

static int es_synth(struct vf_tts *base, const char *text, const char *voice, float speed,
                    vf_voice_pcm_cb cb, void *ud, vf_voice_abort_fn abort, void *abort_data,
                    char *err, size_t errlen) {
    struct tts_espeak *t = (struct tts_espeak *)base;
    struct job j = {.text = text, .voice = voice, .speed = speed, .cb = cb, .ud = ud,
                    .abort = abort, .abort_data = abort_data};
    pthread_mutex_lock(&t->mu);
    if (t->tail)
        t->tail->next = &j;
    else
        t->head = &j;
    t->tail = &j;
    pthread_cond_signal(&t->cv_job);
    while (!j.done)
        pthread_cond_wait(&t->cv_done, &t->mu);
    pthread_mutex_unlock(&t->mu);
    vf_free(j.scratch);
    if (j.rc) {
        snprintf(err, errlen, "%s", j.err[0] ? j.err : vf_status_str(j.rc));
        return j.rc;
    }
    return j.stopped ? 1 : VF_OK;
}

static void es_free(struct vf_tts *base) {
    struct tts_espeak *t = (struct tts_espeak *)base;
    pthread_mutex_lock(&t->mu);
    t->quit = true;
    pthread_cond_broadcast(&t->cv_job);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv_job);
    pthread_cond_destroy(&t->cv_done);
    vf_free(t);
    pthread_mutex_lock(&espeak_guard);
    espeak_in_use = false;
    pthread_mutex_unlock(&espeak_guard);
}

static const struct vf_tts_ops espeak_ops = {"espeak", es_synth, es_free};

int vf_tts_espeak_init(const char *voice, const char *data_path, struct vf_tts **out, char *err,
                       size_t errlen) {
    *out = NULL;
    pthread_mutex_lock(&espeak_guard);
    if (espeak_in_use) {
        pthread_mutex_unlock(&espeak_guard);
        snprintf(err, errlen, "espeak-ng is already in use in this process");
        return VF_ERR_ARG;
    }
    espeak_in_use = true;
    pthread_mutex_unlock(&espeak_guard);
    struct tts_espeak *t = vf_calloc(1, sizeof *t);
    if (!t) {
        pthread_mutex_lock(&espeak_guard);
        espeak_in_use = false;
        pthread_mutex_unlock(&espeak_guard);
        return VF_ERR_NOMEM;
    }
    t->base.ops = &espeak_ops;
    t->base.rate_hz = 22050;
    snprintf(t->base.model, sizeof t->base.model, "espeak-ng");
    snprintf(t->base.default_voice, sizeof t->base.default_voice, "%s",
             vf__tts_espeak_voice(voice, "en-us"));
    if (data_path)
        snprintf(t->data_path, sizeof t->data_path, "%s", data_path);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv_job, NULL);
    pthread_cond_init(&t->cv_done, NULL);
    if (pthread_create(&t->thread, NULL, owner, t)) {
        snprintf(err, errlen, "cannot start the espeak-ng thread");
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv_job);
        pthread_cond_destroy(&t->cv_done);
        vf_free(t);
        pthread_mutex_lock(&espeak_guard);
        espeak_in_use = false;
        pthread_mutex_unlock(&espeak_guard);
        return VF_ERR_BACKEND;
    }
    pthread_mutex_lock(&t->mu);
    while (!t->init_done)
        pthread_cond_wait(&t->cv_done, &t->mu);
    int rc = t->init_rc;
    pthread_mutex_unlock(&t->mu);
    if (rc) {
        snprintf(err, errlen, "%s", t->init_err);
        pthread_join(t->thread, NULL);
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv_job);
        pthread_cond_destroy(&t->cv_done);
        vf_free(t);
        pthread_mutex_lock(&espeak_guard);
        espeak_in_use = false;
        pthread_mutex_unlock(&espeak_guard);
        return rc;
    }
    *out = &t->base;
    return VF_OK;
}
