/* voice.c - the voice object: engines, defaults, the session count, the
 * status document and the embedded web page (see voice.h). */
#include "voice.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct vf_voice {
    struct vf_voice_params p;
    char *instructions, *voice, *language;
    pthread_mutex_t mu;
    int n_sessions;
    unsigned long total_sessions;
};

/* The generated table from cmake/embed_web.cmake. */
struct vf__voice_web_file {
    const char *path, *type;
    const unsigned char *data;
    size_t size;
};
extern const struct vf__voice_web_file vf__voice_web_files[];

struct vf_voice_params vf_voice_default_params(void) {
    return (struct vf_voice_params){
        .instructions = "You are a helpful voice assistant. Answer briefly, in plain spoken "
                        "sentences without lists or markup.",
        .language = "en",
        .max_sessions = 8,
        .max_output_tokens = 512,
        .max_utterance_ms = 30000,
        .silence_duration_ms = 500,
    };
}

int vf_voice_init(const struct vf_voice_params *p, struct vf_voice **out, char *err,
                  size_t errlen) {
    *out = NULL;
    struct vf_voice *v = NULL;
    if (p->max_sessions < 1 || p->max_sessions > 1024 || p->max_output_tokens < 1 ||
        p->max_utterance_ms < 1000 || p->max_utterance_ms > 600000 ||
        p->silence_duration_ms < 20 || p->silence_duration_ms > 10000) {
        snprintf(err, errlen, "voice parameters out of range");
        goto fail;
    }
    v = vf_calloc(1, sizeof *v);
    if (!v)
        goto nomem;
    v->p = *p;
    if ((p->instructions && !(v->instructions = vf_strdup(p->instructions))) ||
        (p->voice && !(v->voice = vf_strdup(p->voice))) ||
        (p->language && !(v->language = vf_strdup(p->language))))
        goto nomem;
    v->p.instructions = v->instructions;
    v->p.voice = v->voice;
    v->p.language = v->language;
    pthread_mutex_init(&v->mu, NULL);
    *out = v;
    return VF_OK;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    if (v) {
        vf_free(v->instructions);
        vf_free(v->voice);
        vf_free(v->language);
        vf_free(v);
    }
    vf_stt_free(p->stt);
    vf_tts_free(p->tts);
    vf_voice_llm_free(p->llm);
    return err[0] && strstr(err, "memory") ? VF_ERR_NOMEM : VF_ERR_ARG;
}

void vf_voice_free(struct vf_voice *v) {
    if (!v)
        return;
    vf_stt_free(v->p.stt);
    vf_tts_free(v->p.tts);
    vf_voice_llm_free(v->p.llm);
    vf_free(v->instructions);
    vf_free(v->voice);
    vf_free(v->language);
    pthread_mutex_destroy(&v->mu);
    vf_free(v);
}

struct vf_stt *vf_voice_get_stt(struct vf_voice *v) { return v->p.stt; }
struct vf_tts *vf_voice_get_tts(struct vf_voice *v) { return v->p.tts; }
struct vf_voice_llm *vf_voice_get_llm(struct vf_voice *v) { return v->p.llm; }
const struct vf_voice_params *vf_voice_params(const struct vf_voice *v) { return &v->p; }

bool vf__voice_session_enter(struct vf_voice *v) {
    pthread_mutex_lock(&v->mu);
    bool ok = v->n_sessions < v->p.max_sessions;
    if (ok) {
        v->n_sessions++;
        v->total_sessions++;
    }
    pthread_mutex_unlock(&v->mu);
    return ok;
}

void vf__voice_session_leave(struct vf_voice *v) {
    pthread_mutex_lock(&v->mu);
    v->n_sessions--;
    pthread_mutex_unlock(&v->mu);
}

void vf_voice_reply_free(struct vf_voice_reply *r) {
    if (!r)
        return;
    vf_free(r->body);
    r->body = NULL;
    r->n = 0;
}

void vf_voice_status(struct vf_voice *v, struct vf_voice_reply *out) {
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "engines");
    cJSON *x = cJSON_AddObjectToObject(e, "stt");
    cJSON_AddStringToObject(x, "engine", v->p.stt ? v->p.stt->ops->name : "none");
    cJSON_AddStringToObject(x, "model", v->p.stt ? v->p.stt->model : "");
    x = cJSON_AddObjectToObject(e, "llm");
    cJSON_AddStringToObject(x, "engine", v->p.llm ? v->p.llm->ops->name : "none");
    cJSON_AddStringToObject(x, "model", v->p.llm ? v->p.llm->model : "");
    cJSON_AddNumberToObject(x, "ctx_tokens", v->p.llm ? v->p.llm->ctx_tokens : 0);
    x = cJSON_AddObjectToObject(e, "tts");
    cJSON_AddStringToObject(x, "engine", v->p.tts ? v->p.tts->ops->name : "none");
    cJSON_AddStringToObject(x, "model", v->p.tts ? v->p.tts->model : "");
    cJSON_AddStringToObject(x, "voice", v->p.tts ? v->p.tts->default_voice : "");
    cJSON_AddNumberToObject(x, "sample_rate", v->p.tts ? v->p.tts->rate_hz : 0);
    pthread_mutex_lock(&v->mu);
    cJSON *ss = cJSON_AddObjectToObject(o, "sessions");
    cJSON_AddNumberToObject(ss, "open", v->n_sessions);
    cJSON_AddNumberToObject(ss, "max", v->p.max_sessions);
    cJSON_AddNumberToObject(ss, "total", (double)v->total_sessions);
    pthread_mutex_unlock(&v->mu);
    /* what the voice stages hold: Whisper's buffers per device; espeak-ng
     * runs on the CPU with a few MB and no device memory */
    char dev[16][32];
    const char *kind[16];
    uint64_t bytes[16];
    int nb = vf__stt_whisper_memory(v->p.stt, dev, kind, bytes, 16);
    cJSON *sm = cJSON_AddArrayToObject(o, "stt_memory");
    for (int i = 0; i < nb; i++) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "device", dev[i]);
        cJSON_AddStringToObject(b, "kind", kind[i]);
        cJSON_AddNumberToObject(b, "bytes", (double)bytes[i]);
        cJSON_AddItemToArray(sm, b);
    }
    char *mem = v->p.memory_json ? v->p.memory_json(v->p.memory_user_data) : NULL;
    cJSON *mj = mem ? cJSON_Parse(mem) : NULL;
    vf_free(mem);
    cJSON_AddItemToObject(o, "memory", mj ? mj : cJSON_CreateNull());
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    out->status = txt ? 200 : 500;
    out->content_type = "application/json";
    out->body = txt ? vf_strdup(txt) : NULL;
    out->n = out->body ? strlen(out->body) : 0;
    cJSON_free(txt);
}

bool vf_voice_web_asset(const char *path, const char **content_type, const uint8_t **data,
                        size_t *n) {
    if (!strcmp(path, "/"))
        path = "/index.html";
    else if (!strncmp(path, "/web/", 5))
        path += 4; /* the page loads its files from /web/ */
    for (const struct vf__voice_web_file *f = vf__voice_web_files; f->path; f++)
        if (!strcmp(f->path, path)) {
            *content_type = f->type;
            *data = f->data;
            *n = f->size;
            return true;
        }
    return false;
}
