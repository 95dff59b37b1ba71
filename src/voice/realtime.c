/* realtime.c - a realtime voice session: the OpenAI Realtime protocol
 * subset (docs/realtime.md) and the pipeline behind it (VAD -> STT -> LLM ->
 * sentences -> TTS), with barge-in. See realtime.h for the threads and
 * docs/internals/voice.md for the design. */
#include "realtime.h"

#include "audio.h"
#include "segment.h"
#include "vad.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define IN_RATE 16000                 /* what VAD and STT work at */
#define MAX_HISTORY 200               /* conversation items kept */
#define MAX_ITEM_TEXT (32 * 1024)     /* bytes of one item's text */
#define MAX_JOBS 8                    /* queued turns/responses */
#define MAX_SENTENCES 64              /* queued for TTS */
#define MAX_MARKS 256                 /* spoken sentences remembered per response */
#define MAX_RESP_TEXT (64 * 1024)     /* LLM text of one response */
#define MANUAL_BUFFER_S 300           /* input buffer bound without VAD */
#define TAIL_MS 200                   /* audio kept after the endpoint for STT */
#define MIN_COMMIT_MS 100

/* ==== Types ============================================================== */

struct hitem {
    char id[32];
    char role[12];                    /* "user", "assistant", "system" */
    char *text;                       /* NULL while a transcript is pending */
};

struct mark {
    char *text;                       /* a spoken sentence */
    double start_ms, end_ms;          /* its audio within the response */
};

enum job_type { JOB_TURN = 1, JOB_RESPONSE };

struct job {
    enum job_type type;
    float *audio;                     /* (n) @16 kHz, TURN */
    size_t n;
    char item_id[32];
    bool create_response;
    double t_speech_end;              /* wall ms when the endpoint was decided (0: none) */
    double vad_endpoint_ms;           /* audio from the end of speech to the decision */
    uint64_t seq;                     /* TURN: its committed events are out once announced >= seq */
    char *instructions;               /* RESPONSE overrides (NULL: session's) */
    int audio_out;                    /* -1 session's, 0 text, 1 audio */
    int max_tokens;                   /* 0 session's */
};

struct sentence {
    char *text;                       /* NULL: end of the response */
    uint64_t gen;
};

struct timings {
    double t_speech_end, vad_endpoint_ms, stt_ms, t_start, llm_first_token_ms,
        first_sentence_ms, tts_first_audio_ms, t_first_audio, cancel_ms;
    /* where the overhead goes: STT end -> LLM request, first sentence
     * queued -> its TTS starts, first audio ready -> sent */
    double t_stt_start, t_stt_end, t_llm_start, t_sentence, t_tts_start, t_audio_ready;
};

/* The response in progress, or the last one (kept for barge-in during
 * playback). Fields are shared under s->mu unless noted. */
struct resp {
    char id[32], item_id[32];
    uint64_t gen;
    bool active, audio, cancelled, speak_done;
    double t_cancel;
    double t_llm_start;               /* think thread only */
    double t_tts_start;               /* speak thread only */
    double t_first_token;             /* think thread only */
    struct mark marks[MAX_MARKS];
    int n_marks;
    double audio_ms_sent;             /* whole response */
    double t_first_audio;             /* wall ms of the first audio delta */
    double t_llm_end, t_tts_end;      /* when each stage stopped after a cancel */
    struct timings tm;
};

struct rt_cfg {
    int in_rate, out_rate;
    bool vad_on, create_response, interrupt_response, audio_out, semantic;
    struct vf_vad_params vad;
    char *instructions;
    char voice[64];
    float speed, temperature;
    int max_tokens;                   /* 0: inf (the voice default applies) */
    char language[16];
    char tr_model[64];
};

struct vf_rt_session {
    struct vf_voice *v;
    vf_rt_send_fn send;
    void *ud;
    atomic_int dialect;               /* enum vf_rt_dialect; set by the feed thread */
    char id[32];
    atomic_ullong gen;                /* bumped at each response start and cancel */
    atomic_ullong rgen;               /* gen of the response in progress */
    atomic_bool quit, dead;
    atomic_ulong next_event;

    pthread_mutex_t send_mu;
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_speak, cv_done;
    pthread_t think, speak;
    bool think_ok, speak_ok;

    /* configuration and input: feed thread, read by others under mu */
    struct rt_cfg cfg;
    struct vf_resampler *in_rs;       /* in_rate -> 16 kHz */
    struct vf_vad *vad;
    struct vf_pcmbuf buf;             /* input audio @16 kHz from sample buf_start */
    int64_t buf_start, total;
    int64_t utt_start;
    bool in_speech;
    char speech_item[32];
    char last_item[32];               /* previous_item_id for new items */

    struct hitem hist[MAX_HISTORY];
    int n_hist;

    struct job jobs[MAX_JOBS];
    int job_head, n_jobs;
    uint64_t committed_seq, announced_seq; /* TURN jobs queued / whose events were sent */
    bool busy;                        /* the think thread is on a job */

    struct sentence sq[MAX_SENTENCES];
    int sq_head, n_sq;

    struct resp r;

    /* speak thread only */
    struct vf_resampler *out_rs;
    int out_rs_from, out_rs_to;
    uint8_t *pcm;                     /* PCM16 bytes waiting to be sent */
    size_t pcm_n, pcm_cap;
    float *rsbuf;
    size_t rsbuf_cap;
    bool tts_first;
    int out_rate_now;
};

/* ==== Small helpers ====================================================== */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void new_id(char *out, size_t n, const char *prefix) {
    static atomic_ulong counter;
    unsigned long c = atomic_fetch_add(&counter, 1) + 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, n, "%s_%08lx%06lx", prefix, (unsigned long)(ts.tv_nsec ^ ts.tv_sec) & 0xffffffffUL,
             c & 0xffffffUL);
}

/* Serialize and send an event; adds event_id. Frees obj. */
static int emit(struct vf_rt_session *s, cJSON *obj) {
    if (!obj)
        return VF_ERR_NOMEM;
    char eid[32];
    snprintf(eid, sizeof eid, "event_%lu", (unsigned long)atomic_fetch_add(&s->next_event, 1) + 1);
    cJSON_AddStringToObject(obj, "event_id", eid);
    char *txt = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!txt)
        return VF_ERR_NOMEM;
    int rc = VF_OK;
    pthread_mutex_lock(&s->send_mu);
    if (atomic_load(&s->dead) || s->send(s->ud, txt, strlen(txt)) != 0) {
        atomic_store(&s->dead, true);
        rc = VF_ERR_IO;
    }
    pthread_mutex_unlock(&s->send_mu);
    cJSON_free(txt);
    return rc;
}

static cJSON *event(const char *type) {
    cJSON *o = cJSON_CreateObject();
    if (o)
        cJSON_AddStringToObject(o, "type", type);
    return o;
}

/* Send an event under its GA name, its beta name, or both, as the dialect
 * says. obj has no "type" yet; it is consumed. */
static int emit_named(struct vf_rt_session *s, const char *ga, const char *beta, cJSON *obj) {
    int rc = VF_OK;
    if (!obj)
        return VF_ERR_NOMEM;
    int dialect = atomic_load(&s->dialect);
    if (dialect == VF_RT_DIALECT_BOTH) {
        cJSON *dup = cJSON_Duplicate(obj, 1);
        if (dup) {
            cJSON_AddStringToObject(dup, "type", beta);
            rc = emit(s, dup);
        }
    }
    cJSON_AddStringToObject(obj, "type", dialect == VF_RT_DIALECT_BETA ? beta : ga);
    int rc2 = emit(s, obj);
    return rc ? rc : rc2;
}

static int emit_error(struct vf_rt_session *s, const char *type, const char *code,
                      const char *param, const char *client_event_id, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int emit_error(struct vf_rt_session *s, const char *type, const char *code,
                      const char *param, const char *client_event_id, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = event("error");
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "type", type);
    if (code)
        cJSON_AddStringToObject(e, "code", code);
    else
        cJSON_AddNullToObject(e, "code");
    cJSON_AddStringToObject(e, "message", msg);
    if (param)
        cJSON_AddStringToObject(e, "param", param);
    else
        cJSON_AddNullToObject(e, "param");
    if (client_event_id)
        cJSON_AddStringToObject(e, "event_id", client_event_id);
    else
        cJSON_AddNullToObject(e, "event_id");
    return emit(s, o);
}

#define BAD(s, code, param, eid, ...) \
    emit_error(s, "invalid_request_error", code, param, eid, __VA_ARGS__)

static bool stale(void *u) {
    struct vf_rt_session *s = u;
    return atomic_load(&s->quit) || atomic_load(&s->dead) ||
           atomic_load(&s->gen) != atomic_load(&s->rgen);
}

static bool quitting(void *u) {
    struct vf_rt_session *s = u;
    return atomic_load(&s->quit) || atomic_load(&s->dead);
}

/* ==== Session object (JSON) ============================================== */

static cJSON *td_json(const struct rt_cfg *c) {
    if (!c->vad_on)
        return cJSON_CreateNull();
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "type", c->semantic ? "semantic_vad" : "server_vad");
    cJSON_AddNumberToObject(t, "threshold", c->vad.threshold);
    cJSON_AddNumberToObject(t, "prefix_padding_ms", c->vad.prefix_padding_ms);
    cJSON_AddNumberToObject(t, "silence_duration_ms", c->vad.silence_duration_ms);
    cJSON_AddBoolToObject(t, "create_response", c->create_response);
    cJSON_AddBoolToObject(t, "interrupt_response", c->interrupt_response);
    return t;
}

static cJSON *fmt_json(int rate) {
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "type", "audio/pcm");
    cJSON_AddNumberToObject(f, "rate", rate);
    return f;
}

/* The session in both shapes at once: GA members (type, audio{...},
 * output_modalities, max_output_tokens) and beta members (modalities,
 * voice, input_audio_format, turn_detection ...). Clients read theirs. */
static cJSON *session_json(struct vf_rt_session *s) {
    const struct rt_cfg *c = &s->cfg;
    struct vf_voice *v = s->v;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddStringToObject(o, "object", "realtime.session");
    cJSON_AddStringToObject(o, "type", "realtime");
    cJSON_AddStringToObject(o, "model", vf_voice_get_llm(v) ? vf_voice_get_llm(v)->model : "none");
    cJSON *om = cJSON_AddArrayToObject(o, "output_modalities");
    cJSON_AddItemToArray(om, cJSON_CreateString(c->audio_out ? "audio" : "text"));
    cJSON *mm = cJSON_AddArrayToObject(o, "modalities");
    cJSON_AddItemToArray(mm, cJSON_CreateString("text"));
    if (c->audio_out)
        cJSON_AddItemToArray(mm, cJSON_CreateString("audio"));
    cJSON_AddStringToObject(o, "instructions", c->instructions ? c->instructions : "");
    cJSON *au = cJSON_AddObjectToObject(o, "audio");
    cJSON *in = cJSON_AddObjectToObject(au, "input");
    cJSON_AddItemToObject(in, "format", fmt_json(c->in_rate));
    cJSON *tr = cJSON_AddObjectToObject(in, "transcription");
    cJSON_AddStringToObject(tr, "model", vf_voice_get_stt(v) ? vf_voice_get_stt(v)->model : c->tr_model);
    if (c->language[0])
        cJSON_AddStringToObject(tr, "language", c->language);
    cJSON_AddItemToObject(in, "turn_detection", td_json(c));
    cJSON *out = cJSON_AddObjectToObject(au, "output");
    cJSON_AddItemToObject(out, "format", fmt_json(c->out_rate));
    cJSON_AddStringToObject(out, "voice", c->voice);
    cJSON_AddNumberToObject(out, "speed", c->speed);
    if (c->max_tokens > 0) {
        cJSON_AddNumberToObject(o, "max_output_tokens", c->max_tokens);
        cJSON_AddNumberToObject(o, "max_response_output_tokens", c->max_tokens);
    } else {
        cJSON_AddStringToObject(o, "max_output_tokens", "inf");
        cJSON_AddStringToObject(o, "max_response_output_tokens", "inf");
    }
    /* beta shape */
    cJSON_AddStringToObject(o, "voice", c->voice);
    cJSON_AddStringToObject(o, "input_audio_format", c->in_rate == 24000 ? "pcm16" : "pcm16_16000");
    cJSON_AddStringToObject(o, "output_audio_format", c->out_rate == 24000 ? "pcm16" : "pcm16_16000");
    cJSON *tr2 = cJSON_AddObjectToObject(o, "input_audio_transcription");
    cJSON_AddStringToObject(tr2, "model", vf_voice_get_stt(v) ? vf_voice_get_stt(v)->model : c->tr_model);
    cJSON_AddItemToObject(o, "turn_detection", td_json(c));
    cJSON_AddNumberToObject(o, "temperature", c->temperature);
    return o;
}

/* ==== session.update ===================================================== */

static bool get_num(cJSON *o, const char *k, double lo, double hi, double *out, bool *bad) {
    cJSON *x = cJSON_GetObjectItem(o, k);
    if (!x || cJSON_IsNull(x))
        return false;
    if (!cJSON_IsNumber(x) || x->valuedouble < lo || x->valuedouble > hi) {
        *bad = true;
        return false;
    }
    *out = x->valuedouble;
    return true;
}

/* Parse an audio format: "pcm16" (24 kHz), "pcm16_16000", or {type:
 * "audio/pcm", rate}. Returns the rate, 0 when absent, -1 when unsupported. */
static int parse_format(cJSON *f) {
    if (!f || cJSON_IsNull(f))
        return 0;
    if (cJSON_IsString(f)) {
        if (!strcmp(f->valuestring, "pcm16") || !strcmp(f->valuestring, "audio/pcm"))
            return 24000;
        if (!strcmp(f->valuestring, "pcm16_16000"))
            return 16000;
        return -1;
    }
    if (!cJSON_IsObject(f))
        return -1;
    cJSON *t = cJSON_GetObjectItem(f, "type");
    if (t && (!cJSON_IsString(t) ||
              (strcmp(t->valuestring, "audio/pcm") && strcmp(t->valuestring, "pcm16"))))
        return -1;
    cJSON *r = cJSON_GetObjectItem(f, "rate");
    if (!r)
        return 24000;
    if (!cJSON_IsNumber(r) || (r->valueint != 24000 && r->valueint != 16000))
        return -1;
    return r->valueint;
}

/* Apply a turn_detection object (or null) to c. Returns false with *why. */
static bool parse_td(cJSON *td, struct rt_cfg *c, const char **why) {
    if (cJSON_IsNull(td)) {
        c->vad_on = false;
        return true;
    }
    if (!cJSON_IsObject(td)) {
        *why = "turn_detection must be an object or null";
        return false;
    }
    cJSON *t = cJSON_GetObjectItem(td, "type");
    if (t && (!cJSON_IsString(t) || (strcmp(t->valuestring, "server_vad") &&
                                     strcmp(t->valuestring, "semantic_vad")))) {
        *why = "turn_detection.type must be server_vad or semantic_vad";
        return false;
    }
    c->vad_on = true;
    if (t)
        c->semantic = !strcmp(t->valuestring, "semantic_vad");
    bool bad = false;
    double d;
    if (get_num(td, "threshold", 0.01, 0.99, &d, &bad))
        c->vad.threshold = (float)d;
    if (get_num(td, "prefix_padding_ms", 0, 5000, &d, &bad))
        c->vad.prefix_padding_ms = (int)d;
    if (get_num(td, "silence_duration_ms", 20, 10000, &d, &bad))
        c->vad.silence_duration_ms = (int)d;
    cJSON *eag = cJSON_GetObjectItem(td, "eagerness"); /* semantic_vad: map to a silence */
    if (cJSON_IsString(eag)) {
        if (!strcmp(eag->valuestring, "high"))
            c->vad.silence_duration_ms = 300;
        else if (!strcmp(eag->valuestring, "low"))
            c->vad.silence_duration_ms = 1200;
        else
            c->vad.silence_duration_ms = 600;
    }
    cJSON *cr = cJSON_GetObjectItem(td, "create_response");
    if (cr && !cJSON_IsBool(cr))
        bad = true;
    else if (cr)
        c->create_response = cJSON_IsTrue(cr);
    cJSON *ir = cJSON_GetObjectItem(td, "interrupt_response");
    if (ir && !cJSON_IsBool(ir))
        bad = true;
    else if (ir)
        c->interrupt_response = cJSON_IsTrue(ir);
    if (bad) {
        *why = "turn_detection has a value of the wrong type or out of range";
        return false;
    }
    return true;
}

static bool parse_modalities(cJSON *m, bool *audio) {
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) < 1 || cJSON_GetArraySize(m) > 2)
        return false;
    bool a = false;
    cJSON *x;
    cJSON_ArrayForEach(x, m) {
        if (!cJSON_IsString(x))
            return false;
        if (!strcmp(x->valuestring, "audio"))
            a = true;
        else if (strcmp(x->valuestring, "text"))
            return false;
    }
    *audio = a;
    return true;
}

static void on_session_update(struct vf_rt_session *s, cJSON *ev, const char *eid) {
    cJSON *ss = cJSON_GetObjectItem(ev, "session");
    if (!cJSON_IsObject(ss)) {
        BAD(s, "missing_required_parameter", "session", eid, "session.update needs a session object");
        return;
    }
    struct rt_cfg c = s->cfg; /* validate into a copy, apply only when all is well */
    c.instructions = NULL;
    const char *why = NULL, *param = NULL;
    bool bad = false;
    double d;
    cJSON *x;
    /* The dialect shows in the shape: GA sessions have type "realtime". */
    cJSON *ty = cJSON_GetObjectItem(ss, "type");
    if (ty && (!cJSON_IsString(ty) || (strcmp(ty->valuestring, "realtime") &&
                                       strcmp(ty->valuestring, "transcription")))) {
        why = "session.type must be \"realtime\"";
        param = "session.type";
        goto bad;
    }
    if (ty && atomic_load(&s->dialect) == VF_RT_DIALECT_BOTH)
        atomic_store(&s->dialect, VF_RT_DIALECT_GA);
    else if (!ty && cJSON_GetObjectItem(ss, "modalities") &&
             atomic_load(&s->dialect) == VF_RT_DIALECT_BOTH)
        atomic_store(&s->dialect, VF_RT_DIALECT_BETA);
    if ((x = cJSON_GetObjectItem(ss, "instructions"))) {
        if (!cJSON_IsString(x) || strlen(x->valuestring) > MAX_ITEM_TEXT) {
            why = "instructions must be a string of at most 32 KiB";
            param = "session.instructions";
            goto bad;
        }
    }
    cJSON *mods = cJSON_GetObjectItem(ss, "output_modalities");
    if (!mods)
        mods = cJSON_GetObjectItem(ss, "modalities");
    if (mods && !parse_modalities(mods, &c.audio_out)) {
        why = "modalities must be [\"text\"], [\"audio\"] or [\"text\", \"audio\"]";
        param = "session.output_modalities";
        goto bad;
    }
    cJSON *au = cJSON_GetObjectItem(ss, "audio");
    cJSON *ain = cJSON_GetObjectItem(au, "input"), *aout = cJSON_GetObjectItem(au, "output");
    cJSON *fin = cJSON_GetObjectItem(ain, "format");
    if (!fin)
        fin = cJSON_GetObjectItem(ss, "input_audio_format");
    int r = parse_format(fin);
    if (r < 0) {
        why = "only PCM16 input is supported: audio/pcm at 24000 or 16000 Hz";
        param = "session.audio.input.format";
        goto bad;
    }
    if (r)
        c.in_rate = r;
    cJSON *fout = cJSON_GetObjectItem(aout, "format");
    if (!fout)
        fout = cJSON_GetObjectItem(ss, "output_audio_format");
    r = parse_format(fout);
    if (r < 0) {
        why = "only PCM16 output is supported: audio/pcm at 24000 or 16000 Hz";
        param = "session.audio.output.format";
        goto bad;
    }
    if (r)
        c.out_rate = r;
    cJSON *td = cJSON_GetObjectItem(ain, "turn_detection");
    if (!td)
        td = cJSON_GetObjectItem(ss, "turn_detection");
    if (td && !parse_td(td, &c, &why)) {
        param = "session.turn_detection";
        goto bad;
    }
    x = cJSON_GetObjectItem(aout, "voice");
    if (!x)
        x = cJSON_GetObjectItem(ss, "voice");
    if (x) {
        if (!cJSON_IsString(x) || !x->valuestring[0] || strlen(x->valuestring) >= sizeof c.voice) {
            why = "voice must be a non-empty string";
            param = "session.voice";
            goto bad;
        }
        snprintf(c.voice, sizeof c.voice, "%s", x->valuestring);
    }
    if (get_num(aout, "speed", 0.25, 4.0, &d, &bad) || get_num(ss, "speed", 0.25, 4.0, &d, &bad))
        c.speed = (float)d;
    if (get_num(ss, "temperature", 0.0, 2.0, &d, &bad))
        c.temperature = (float)d;
    if (bad) {
        why = "speed must be 0.25..4 and temperature 0..2";
        param = "session.speed";
        goto bad;
    }
    x = cJSON_GetObjectItem(ss, "max_output_tokens");
    if (!x)
        x = cJSON_GetObjectItem(ss, "max_response_output_tokens");
    if (x) {
        if (cJSON_IsString(x) && !strcmp(x->valuestring, "inf"))
            c.max_tokens = 0;
        else if (cJSON_IsNumber(x) && x->valuedouble >= 1 && x->valuedouble <= 4096)
            c.max_tokens = x->valueint;
        else {
            why = "max_output_tokens must be 1..4096 or \"inf\"";
            param = "session.max_output_tokens";
            goto bad;
        }
    }
    cJSON *tr = cJSON_GetObjectItem(ain, "transcription");
    if (!tr)
        tr = cJSON_GetObjectItem(ss, "input_audio_transcription");
    if (cJSON_IsObject(tr)) {
        cJSON *lang = cJSON_GetObjectItem(tr, "language");
        if (cJSON_IsString(lang) && strlen(lang->valuestring) < sizeof c.language)
            snprintf(c.language, sizeof c.language, "%s", lang->valuestring);
        cJSON *m = cJSON_GetObjectItem(tr, "model");
        if (cJSON_IsString(m))
            snprintf(c.tr_model, sizeof c.tr_model, "%s", m->valuestring);
    }
    /* all valid: apply */
    if (c.in_rate != s->cfg.in_rate) {
        struct vf_resampler *rs = NULL;
        if (vf_resampler_init(c.in_rate, IN_RATE, 5, &rs)) {
            emit_error(s, "server_error", "resampler", NULL, eid, "cannot create a resampler");
            return;
        }
        vf_resampler_free(s->in_rs);
        s->in_rs = rs;
    }
    if (vf_vad_set_params(s->vad, &c.vad)) {
        why = "turn_detection values out of range";
        param = "session.turn_detection";
        goto bad;
    }
    pthread_mutex_lock(&s->mu);
    x = cJSON_GetObjectItem(ss, "instructions");
    if (x) {
        char *ins = vf_strdup(x->valuestring);
        if (ins) {
            vf_free(s->cfg.instructions);
            c.instructions = ins;
        } else {
            c.instructions = s->cfg.instructions;
        }
    } else {
        c.instructions = s->cfg.instructions;
    }
    bool was_vad = s->cfg.vad_on;
    s->cfg = c;
    pthread_mutex_unlock(&s->mu);
    if (was_vad && !c.vad_on)
        s->in_speech = false;
    cJSON *o = event("session.updated");
    cJSON_AddItemToObject(o, "session", session_json(s));
    emit(s, o);
    return;
bad:
    BAD(s, "invalid_value", param, eid, "%s", why);
}

/* ==== History ============================================================ */

static void hist_drop_oldest(struct vf_rt_session *s) {
    vf_free(s->hist[0].text);
    memmove(s->hist, s->hist + 1, (size_t)(s->n_hist - 1) * sizeof s->hist[0]);
    s->n_hist--;
}

/* Add an item (under mu). text NULL: pending. Returns the index or -1. */
static int hist_add(struct vf_rt_session *s, const char *id, const char *role, const char *text) {
    if (s->n_hist == MAX_HISTORY)
        hist_drop_oldest(s);
    struct hitem *h = &s->hist[s->n_hist];
    memset(h, 0, sizeof *h);
    snprintf(h->id, sizeof h->id, "%s", id);
    snprintf(h->role, sizeof h->role, "%s", role);
    if (text) {
        h->text = vf_strndup(text, VF_MIN(strlen(text), (size_t)MAX_ITEM_TEXT));
        if (!h->text)
            return -1;
    }
    return s->n_hist++;
}

static int hist_find(struct vf_rt_session *s, const char *id) {
    for (int i = s->n_hist - 1; i >= 0; i--)
        if (!strcmp(s->hist[i].id, id))
            return i;
    return -1;
}

static void hist_set_text(struct vf_rt_session *s, const char *id, const char *text) {
    pthread_mutex_lock(&s->mu);
    int i = hist_find(s, id);
    if (i >= 0) {
        char *t = vf_strndup(text, VF_MIN(strlen(text), (size_t)MAX_ITEM_TEXT));
        if (t) {
            vf_free(s->hist[i].text);
            s->hist[i].text = t;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* The text a listener heard after played_ms of the response's audio:
 * whole sentences that finished, then the share of the words of the one
 * being spoken. vf_malloc'd. Called under mu. */
static char *played_text(const struct resp *r, double played_ms) {
    size_t cap = 1;
    for (int i = 0; i < r->n_marks; i++)
        cap += strlen(r->marks[i].text) + 1;
    char *out = vf_malloc(cap);
    if (!out)
        return NULL;
    size_t n = 0;
    for (int i = 0; i < r->n_marks; i++) {
        const struct mark *m = &r->marks[i];
        if (m->start_ms >= played_ms)
            break;
        size_t len = strlen(m->text);
        if (m->end_ms > played_ms && m->end_ms > m->start_ms) {
            /* keep the words whose share of the sentence has played */
            double frac = (played_ms - m->start_ms) / (m->end_ms - m->start_ms);
            size_t words = 0, total = 0;
            for (size_t k = 0; k < len; k++)
                if (m->text[k] != ' ' && (k == 0 || m->text[k - 1] == ' '))
                    total++;
            size_t keep = (size_t)(frac * (double)total), k = 0;
            for (; k < len; k++) {
                if (m->text[k] != ' ' && (k == 0 || m->text[k - 1] == ' ')) {
                    if (words == keep)
                        break;
                    words++;
                }
            }
            while (k > 0 && m->text[k - 1] == ' ')
                k--;
            len = k;
        }
        if (!len)
            break;
        if (n)
            out[n++] = ' ';
        memcpy(out + n, m->text, len);
        n += len;
    }
    out[n] = '\0';
    return out;
}

/* ==== Jobs and sentences ================================================= */

static void job_free(struct job *j) {
    vf_free(j->audio);
    vf_free(j->instructions);
    memset(j, 0, sizeof *j);
}

/* Queue a job (takes its buffers). false when the queue is full (the job is
 * freed). */
static bool job_push(struct vf_rt_session *s, struct job *j) {
    pthread_mutex_lock(&s->mu);
    if (s->n_jobs == MAX_JOBS) {
        pthread_mutex_unlock(&s->mu);
        job_free(j);
        return false;
    }
    s->jobs[(s->job_head + s->n_jobs) % MAX_JOBS] = *j;
    s->n_jobs++;
    pthread_cond_signal(&s->cv_job);
    pthread_mutex_unlock(&s->mu);
    return true;
}

/* Queue a sentence for the speak thread (under mu). NULL text: end. */
static bool speak_push(struct vf_rt_session *s, char *text, uint64_t gen) {
    if (s->n_sq == MAX_SENTENCES)
        return false;
    s->sq[(s->sq_head + s->n_sq) % MAX_SENTENCES] = (struct sentence){text, gen};
    s->n_sq++;
    pthread_cond_signal(&s->cv_speak);
    return true;
}

/* Cancel the response in progress (under mu): the abort functions see the
 * new generation at once; the speak queue drops what is stale. */
static bool cancel_locked(struct vf_rt_session *s) {
    if (!s->r.active || s->r.cancelled)
        return false;
    s->r.cancelled = true;
    s->r.t_cancel = now_ms();
    atomic_fetch_add(&s->gen, 1);
    pthread_cond_broadcast(&s->cv_speak);
    pthread_cond_broadcast(&s->cv_done);
    return true;
}

/* ==== The speak thread =================================================== */

static int flush_audio(struct vf_rt_session *s, bool all) {
    /* Send PCM in ~100 ms deltas (all: whatever is left). */
    size_t chunk = (size_t)s->out_rate_now / 10 * 2;
    while (s->pcm_n && (all || s->pcm_n >= chunk)) {
        if (stale(s)) {
            s->pcm_n = 0;
            return 1;
        }
        double t0 = now_ms();
        size_t k = VF_MIN(s->pcm_n, chunk);
        size_t bl = vf_b64_encoded_len(k);
        char *b = vf_malloc(bl);
        if (!b)
            return VF_ERR_NOMEM;
        vf_b64_encode(s->pcm, k, b, bl);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "response_id", s->r.id);
        cJSON_AddStringToObject(o, "item_id", s->r.item_id);
        cJSON_AddNumberToObject(o, "output_index", 0);
        cJSON_AddNumberToObject(o, "content_index", 0);
        cJSON_AddStringToObject(o, "delta", b);
        vf_free(b);
        double t = now_ms();
        pthread_mutex_lock(&s->mu);
        if (s->r.t_first_audio == 0) {
            s->r.t_first_audio = t;
            s->r.tm.t_first_audio = t;
            /* TTS compute: from the first sentence's start to its first
             * audio ready to send (espeak hands a whole sentence over) */
            s->r.tm.tts_first_audio_ms = t0 - s->r.t_tts_start;
            s->r.tm.t_audio_ready = t0;
        }
        s->r.audio_ms_sent += (double)(k / 2) * 1000.0 / s->out_rate_now;
        pthread_mutex_unlock(&s->mu);
        emit_named(s, "response.output_audio.delta", "response.audio.delta", o);
        memmove(s->pcm, s->pcm + k, s->pcm_n - k);
        s->pcm_n -= k;
    }
    return 0;
}

/* Queue n samples at the output rate as PCM16; bounded at 120 s waiting
 * (one sentence). Speak side only. Returns nonzero when full. */
static int append_pcm(struct vf_rt_session *s, const float *x, size_t n) {
    size_t max = (size_t)s->out_rate_now * 2 * 120;
    if (s->pcm_n + n * 2 > max)
        return 1;
    if (s->pcm_n + n * 2 > s->pcm_cap) {
        size_t nc = VF_MAX(s->pcm_cap * 2, s->pcm_n + n * 2);
        uint8_t *p = vf_realloc(s->pcm, nc);
        if (!p)
            return 1;
        s->pcm = p;
        s->pcm_cap = nc;
    }
    vf_audio_f32_to_s16le(x, n, s->pcm + s->pcm_n);
    s->pcm_n += n * 2;
    return 0;
}

/* TTS audio: resample to the session's output rate and queue as PCM16.
 * Runs on the speak thread (remote TTS) or on espeak's own thread (then the
 * speak thread sends after the sentence). */
static int on_pcm(const float *pcm, size_t n, int rate, void *u) {
    struct vf_rt_session *s = u;
    if (stale(s))
        return 1;
    if (!s->out_rs || s->out_rs_from != rate || s->out_rs_to != s->out_rate_now) {
        vf_resampler_free(s->out_rs);
        s->out_rs = NULL;
        if (vf_resampler_init(rate, s->out_rate_now, 5, &s->out_rs))
            return 1;
        s->out_rs_from = rate;
        s->out_rs_to = s->out_rate_now;
    }
    size_t need = vf_resampler_max_out(s->out_rs, n);
    if (need > s->rsbuf_cap) {
        float *p = vf_realloc(s->rsbuf, need * sizeof *p);
        if (!p)
            return 1;
        s->rsbuf = p;
        s->rsbuf_cap = need;
    }
    size_t got = 0;
    if (vf_resampler_process(s->out_rs, pcm, n, s->rsbuf, &got) || append_pcm(s, s->rsbuf, got))
        return 1;
    struct vf_tts *t = vf_voice_get_tts(s->v);
    if (strcmp(t->ops->name, "espeak")) /* on the speak thread: stream now */
        return flush_audio(s, false) ? 1 : 0;
    return 0;
}

static void *speak_main(void *arg) {
    struct vf_rt_session *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->n_sq && !atomic_load(&s->quit))
            pthread_cond_wait(&s->cv_speak, &s->mu);
        if (atomic_load(&s->quit))
            break;
        struct sentence se = s->sq[s->sq_head];
        s->sq_head = (s->sq_head + 1) % MAX_SENTENCES;
        s->n_sq--;
        pthread_cond_broadcast(&s->cv_done); /* room in the queue */
        bool live = se.gen == atomic_load(&s->gen) && se.gen == s->r.gen;
        if (!se.text) {
            if (se.gen == s->r.gen) {
                s->r.speak_done = true;
                pthread_cond_broadcast(&s->cv_done);
            }
            continue;
        }
        if (!live) {
            vf_free(se.text);
            continue;
        }
        char voice[64];
        snprintf(voice, sizeof voice, "%s", s->cfg.voice);
        float speed = s->cfg.speed;
        s->out_rate_now = s->cfg.out_rate;
        bool first = s->r.n_marks == 0;
        pthread_mutex_unlock(&s->mu);

        struct vf_tts *t = vf_voice_get_tts(s->v);
        double start_ms = s->r.audio_ms_sent + (double)(s->pcm_n / 2) * 1000.0 / s->out_rate_now;
        s->r.t_tts_start = now_ms();
        if (first)
            s->r.tm.t_tts_start = s->r.t_tts_start;
        s->tts_first = first;
        char err[200] = "";
        int rc = vf_tts_synth(t, se.text, voice, speed, on_pcm, s, stale, s, err, sizeof err);
        if (rc < 0 && !stale(s))
            emit_error(s, "server_error", "tts_failed", NULL, NULL, "text-to-speech: %s", err);
        if (s->out_rs && !stale(s)) {
            /* end of the sentence: push the resampler's delay line out */
            float tail[256];
            size_t k = vf_resampler_flush(s->out_rs, tail, VF_ARRAY_LEN(tail));
            append_pcm(s, tail, k);
        }
        vf_resampler_free(s->out_rs);
        s->out_rs = NULL;
        double end_ms = s->r.audio_ms_sent + (double)(s->pcm_n / 2) * 1000.0 / s->out_rate_now;
        if (!stale(s))
            flush_audio(s, true);
        else
            s->pcm_n = 0;
        pthread_mutex_lock(&s->mu);
        if (stale(s) && s->r.t_tts_end == 0)
            s->r.t_tts_end = now_ms();
        if (s->r.n_marks < MAX_MARKS && se.gen == s->r.gen) {
            s->r.marks[s->r.n_marks++] = (struct mark){se.text, start_ms, end_ms};
            se.text = NULL;
        }
        vf_free(se.text);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ==== The think thread: STT, then the response =========================== */

struct gen_ctx {
    struct vf_rt_session *s;
    /* the events that open the response (and, for a spoken turn, the
     * transcript before them) go out once the LLM request is on its way,
     * so their cost overlaps the LLM's prefill instead of adding to it */
    bool announced;
    const char *prev, *ptype, *pkey;
    const char *tr_item, *tr_text;    /* the turn's transcript, or NULL */
    double stt_ms;
    struct vf_segmenter *seg;
    char *text;
    size_t n;
    bool audio;
    bool overflow;
};

static void announce(struct gen_ctx *g);

static cJSON *delta_obj(struct vf_rt_session *s, const char *delta) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "response_id", s->r.id);
    cJSON_AddStringToObject(o, "item_id", s->r.item_id);
    cJSON_AddNumberToObject(o, "output_index", 0);
    cJSON_AddNumberToObject(o, "content_index", 0);
    cJSON_AddStringToObject(o, "delta", delta);
    return o;
}

static void queue_sentences(struct gen_ctx *g, bool flush) {
    struct vf_rt_session *s = g->s;
    char *sent;
    while ((sent = vf_segmenter_next(g->seg, flush))) {
        pthread_mutex_lock(&s->mu);
        if (s->r.tm.first_sentence_ms == 0 && s->r.t_first_token > 0)
            s->r.tm.first_sentence_ms = now_ms() - s->r.t_first_token;
        if (s->r.tm.t_sentence == 0)
            s->r.tm.t_sentence = now_ms();
        bool ok = s->r.gen == atomic_load(&s->gen) && speak_push(s, sent, s->r.gen);
        pthread_mutex_unlock(&s->mu);
        if (!ok) {
            vf_free(sent);
            if (!stale(s)) {
                /* the speak queue is full: wait for room, bounded by the
                 * sentences ahead, then retry once */
                pthread_mutex_lock(&s->mu);
                while (s->n_sq == MAX_SENTENCES && !stale(s))
                    pthread_cond_wait(&s->cv_done, &s->mu);
                pthread_mutex_unlock(&s->mu);
            }
        }
    }
}

static int on_delta(const char *text, size_t n, void *u) {
    struct gen_ctx *g = u;
    struct vf_rt_session *s = g->s;
    if (stale(s))
        return 1;
    announce(g);
    if (s->r.t_first_token == 0) {
        s->r.t_first_token = now_ms();
        s->r.tm.llm_first_token_ms = s->r.t_first_token - s->r.t_llm_start;
    }
    if (g->n + n > MAX_RESP_TEXT) {
        g->overflow = true;
        return 1;
    }
    memcpy(g->text + g->n, text, n);
    g->n += n;
    g->text[g->n] = '\0';
    char *d = vf_strndup(text, n);
    if (!d)
        return 1;
    if (g->audio) {
        emit_named(s, "response.output_audio_transcript.delta", "response.audio_transcript.delta",
                   delta_obj(s, d));
        if (vf_segmenter_push(g->seg, text, n) == VF_OK)
            queue_sentences(g, false);
    } else {
        emit_named(s, "response.output_text.delta", "response.text.delta", delta_obj(s, d));
    }
    vf_free(d);
    return 0;
}

static cJSON *item_json(const char *id, const char *role, const char *status, const char *ptype,
                        const char *key, const char *text) {
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "id", id);
    cJSON_AddStringToObject(it, "object", "realtime.item");
    cJSON_AddStringToObject(it, "type", "message");
    cJSON_AddStringToObject(it, "status", status);
    cJSON_AddStringToObject(it, "role", role);
    cJSON *c = cJSON_AddArrayToObject(it, "content");
    if (ptype) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", ptype);
        if (text)
            cJSON_AddStringToObject(p, key, text);
        else
            cJSON_AddNullToObject(p, key);
        cJSON_AddItemToArray(c, p);
    }
    return it;
}

/* conversation.item.created (and .added for GA clients). */
static void emit_item_created(struct vf_rt_session *s, const char *prev, cJSON *item) {
    if (atomic_load(&s->dialect) != VF_RT_DIALECT_BETA) {
        cJSON *a = event("conversation.item.added");
        if (prev && *prev)
            cJSON_AddStringToObject(a, "previous_item_id", prev);
        else
            cJSON_AddNullToObject(a, "previous_item_id");
        cJSON_AddItemToObject(a, "item", cJSON_Duplicate(item, 1));
        emit(s, a);
    }
    cJSON *o = event("conversation.item.created");
    if (prev && *prev)
        cJSON_AddStringToObject(o, "previous_item_id", prev);
    else
        cJSON_AddNullToObject(o, "previous_item_id");
    cJSON_AddItemToObject(o, "item", item);
    emit(s, o);
}

/* The messages for the LLM: instructions, then as much recent history as
 * fits the context (tokens counted by the engine's tokenizer when it has
 * one), leaving room for the reply. Under mu. */
static int build_messages(struct vf_rt_session *s, const char *instructions, int max_out,
                          struct vf_voice_msg *msgs, char **owned, int *n_owned) {
    struct vf_voice_llm *l = vf_voice_get_llm(s->v);
    int ctx = l->ctx_tokens > 0 ? l->ctx_tokens : 4096;
    int budget = ctx - max_out - 32;
    int n = 0;
    const char *ins = instructions ? instructions : s->cfg.instructions;
    if (ins && *ins) {
        budget -= vf_voice_llm_count_tokens(l, ins) + 8;
        msgs[n++] = (struct vf_voice_msg){"system", ins};
    }
    int first = s->n_hist;
    for (int i = s->n_hist - 1; i >= 0; i--) {
        if (!s->hist[i].text || !s->hist[i].text[0])
            continue;
        int t = vf_voice_llm_count_tokens(l, s->hist[i].text) + 8;
        if (t > budget) {
            if (first == s->n_hist && budget > 64) {
                /* the newest item alone is too long: keep its end */
                size_t keep = (size_t)(budget - 8) * 3 / 2;
                size_t len = strlen(s->hist[i].text);
                char *cut = vf_strdup(s->hist[i].text + (len > keep ? len - keep : 0));
                if (cut) {
                    owned[(*n_owned)++] = cut;
                    msgs[n++] = (struct vf_voice_msg){s->hist[i].role, cut};
                }
            }
            break;
        }
        budget -= t;
        first = i;
    }
    int start = n;
    for (int i = first; i < s->n_hist; i++) {
        if (!s->hist[i].text || !s->hist[i].text[0])
            continue;
        msgs[n++] = (struct vf_voice_msg){s->hist[i].role, s->hist[i].text};
    }
    /* the newest-cut case put one message before the loop; it must stay last */
    if (start > (ins && *ins ? 1 : 0) && n > start) {
        struct vf_voice_msg cut = msgs[start - 1];
        memmove(msgs + start - 1, msgs + start, (size_t)(n - start) * sizeof *msgs);
        msgs[n - 1] = cut;
    }
    return n;
}

static cJSON *timings_json(const struct timings *t) {
    cJSON *o = cJSON_CreateObject();
    double total = t->t_first_audio > 0 ? t->t_first_audio - (t->t_speech_end > 0 ? t->t_speech_end : t->t_start) : -1;
    cJSON_AddNumberToObject(o, "vad_endpoint_ms", t->vad_endpoint_ms);
    cJSON_AddNumberToObject(o, "stt_ms", t->stt_ms);
    cJSON_AddNumberToObject(o, "llm_first_token_ms", t->llm_first_token_ms);
    cJSON_AddNumberToObject(o, "first_sentence_ms", t->first_sentence_ms);
    cJSON_AddNumberToObject(o, "tts_first_audio_ms", t->tts_first_audio_ms);
    cJSON_AddNumberToObject(o, "speech_end_to_first_audio_ms", total);
    if (total >= 0) {
        double ov = total - t->stt_ms - t->llm_first_token_ms - t->first_sentence_ms -
                    t->tts_first_audio_ms;
        cJSON_AddNumberToObject(o, "overhead_ms", ov < 0 ? 0 : ov);
    }
    if (t->cancel_ms > 0)
        cJSON_AddNumberToObject(o, "cancel_ms", t->cancel_ms);
    if (t->t_first_audio > 0 && t->t_tts_start > 0) {
        cJSON *p = cJSON_AddObjectToObject(o, "overhead_parts");
        if (t->t_stt_end > 0) {
            cJSON_AddNumberToObject(p, "endpoint_to_stt_ms", t->t_stt_start - t->t_speech_end);
            cJSON_AddNumberToObject(p, "stt_to_llm_ms", t->t_llm_start - t->t_stt_end);
        }
        cJSON_AddNumberToObject(p, "sentence_to_tts_ms", t->t_tts_start - t->t_sentence);
        cJSON_AddNumberToObject(p, "audio_to_socket_ms", t->t_first_audio - t->t_audio_ready);
    }
    return o;
}

static void emit_transcript(struct vf_rt_session *s, const char *item_id, const char *text,
                            double stt_ms) {
    cJSON *o = event("conversation.item.input_audio_transcription.delta");
    cJSON_AddStringToObject(o, "item_id", item_id);
    cJSON_AddNumberToObject(o, "content_index", 0);
    cJSON_AddStringToObject(o, "delta", text);
    emit(s, o);
    o = event("conversation.item.input_audio_transcription.completed");
    cJSON_AddStringToObject(o, "item_id", item_id);
    cJSON_AddNumberToObject(o, "content_index", 0);
    cJSON_AddStringToObject(o, "transcript", text);
    cJSON_AddNumberToObject(o, "voxfit_stt_ms", stt_ms);
    emit(s, o);
}

/* Send the transcript (spoken turns) and the events that open the
 * response, once. Called when the LLM request has been submitted, at the
 * first token at the latest. */
static void announce(struct gen_ctx *g) {
    if (g->announced)
        return;
    g->announced = true;
    struct vf_rt_session *s = g->s;
    if (g->tr_item)
        emit_transcript(s, g->tr_item, g->tr_text, g->stt_ms);
    const char *prev = g->prev, *ptype = g->ptype, *pkey = g->pkey;
    cJSON *o = event("response.created");
    cJSON *rj = cJSON_AddObjectToObject(o, "response");
    cJSON_AddStringToObject(rj, "id", s->r.id);
    cJSON_AddStringToObject(rj, "object", "realtime.response");
    cJSON_AddStringToObject(rj, "status", "in_progress");
    cJSON_AddArrayToObject(rj, "output");
    emit(s, o);
    o = event("response.output_item.added");
    cJSON_AddStringToObject(o, "response_id", s->r.id);
    cJSON_AddNumberToObject(o, "output_index", 0);
    cJSON_AddItemToObject(o, "item", item_json(s->r.item_id, "assistant", "in_progress", NULL, NULL, NULL));
    emit(s, o);
    emit_item_created(s, prev, item_json(s->r.item_id, "assistant", "in_progress", NULL, NULL, NULL));
    o = event("response.content_part.added");
    cJSON_AddStringToObject(o, "response_id", s->r.id);
    cJSON_AddStringToObject(o, "item_id", s->r.item_id);
    cJSON_AddNumberToObject(o, "output_index", 0);
    cJSON_AddNumberToObject(o, "content_index", 0);
    cJSON *part = cJSON_AddObjectToObject(o, "part");
    cJSON_AddStringToObject(part, "type", ptype);
    cJSON_AddStringToObject(part, pkey, "");
    emit(s, o);

}

static void on_submitted(void *u) { announce(u); }

static void run_response(struct vf_rt_session *s, struct job *j, struct timings *tm,
                         const char *tr_item, const char *tr_text) {
    struct vf_voice_llm *l = vf_voice_get_llm(s->v);
    struct vf_tts *t = vf_voice_get_tts(s->v);
    pthread_mutex_lock(&s->mu);
    /* forget the previous response; start this one */
    for (int i = 0; i < s->r.n_marks; i++)
        vf_free(s->r.marks[i].text);
    memset(&s->r, 0, sizeof s->r);
    s->r.gen = atomic_fetch_add(&s->gen, 1) + 1;
    atomic_store(&s->rgen, s->r.gen);
    s->r.active = true;
    s->r.audio = (j->audio_out < 0 ? s->cfg.audio_out : j->audio_out) && t;
    s->r.tm = *tm;
    s->r.tm.t_start = now_ms();
    new_id(s->r.id, sizeof s->r.id, "resp");
    new_id(s->r.item_id, sizeof s->r.item_id, "item");
    int max_out = j->max_tokens > 0 ? j->max_tokens
                  : s->cfg.max_tokens > 0 ? s->cfg.max_tokens
                                          : vf_voice_params(s->v)->max_output_tokens;
    float temp = s->cfg.temperature;
    char prev[32];
    snprintf(prev, sizeof prev, "%s", s->last_item);
    snprintf(s->last_item, sizeof s->last_item, "%s", s->r.item_id);
    pthread_mutex_unlock(&s->mu);
    bool audio = s->r.audio;
    bool beta = atomic_load(&s->dialect) == VF_RT_DIALECT_BETA;
    const char *ptype = audio ? (beta ? "audio" : "output_audio") : (beta ? "text" : "output_text");
    const char *pkey = audio ? "transcript" : "text";

    struct gen_ctx g = {.s = s, .audio = audio, .prev = prev, .ptype = ptype, .pkey = pkey,
                        .tr_item = tr_item, .tr_text = tr_text, .stt_ms = tm->stt_ms};
    cJSON *o, *rj, *part;
    g.text = vf_malloc(MAX_RESP_TEXT + 1);
    int rc = g.text ? vf_segmenter_init(240, MAX_RESP_TEXT, &g.seg) : VF_ERR_NOMEM;
    char err[300] = "";
    const char *status = "completed", *reason = NULL;
    if (g.text)
        g.text[0] = '\0';
    if (rc == VF_OK) {
        struct vf_voice_msg msgs[MAX_HISTORY + 2];
        char *owned[2] = {0};
        int n_owned = 0;
        pthread_mutex_lock(&s->mu);
        int nm = build_messages(s, j->instructions, max_out, msgs, owned, &n_owned);
        /* the texts are copied so history may change while the LLM runs */
        char *copies[MAX_HISTORY + 2];
        int nc = 0;
        for (int i = 0; i < nm; i++) {
            copies[nc] = vf_strdup(msgs[i].content);
            msgs[i].content = copies[nc] ? copies[nc] : "";
            nc++;
        }
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < n_owned; i++)
            vf_free(owned[i]);
        struct vf_voice_llm_opts lo = {.max_tokens = max_out, .temperature = temp, .abort = stale,
                                       .abort_data = s, .on_submitted = on_submitted,
                                       .submitted_data = &g};
        s->r.t_llm_start = now_ms();
        s->r.tm.t_llm_start = s->r.t_llm_start;
        rc = vf_voice_llm_chat(l, msgs, nm, &lo, on_delta, &g, err, sizeof err);
        announce(&g); /* a backend that never called on_submitted, or no token */
        for (int i = 0; i < nc; i++)
            vf_free(copies[i]);
        if (stale(s)) {
            pthread_mutex_lock(&s->mu);
            if (s->r.t_llm_end == 0)
                s->r.t_llm_end = now_ms();
            pthread_mutex_unlock(&s->mu);
        }
    }
    announce(&g);
    if (rc < 0 && !stale(s)) {
        status = "failed";
        reason = "llm_error";
        emit_error(s, "server_error", "llm_failed", NULL, NULL, "LLM: %s",
                   err[0] ? err : vf_status_str(rc));
    }
    if (g.overflow)
        reason = "max_output_tokens";
    if (audio && !stale(s) && g.seg)
        queue_sentences(&g, true);
    /* wait for the speak thread to finish (or drop) this response */
    pthread_mutex_lock(&s->mu);
    if (audio) {
        if (!speak_push(s, NULL, s->r.gen))
            s->r.speak_done = true;
        while (!s->r.speak_done && !atomic_load(&s->quit))
            pthread_cond_wait(&s->cv_done, &s->mu);
    }
    bool cancelled = s->r.cancelled || atomic_load(&s->quit) || atomic_load(&s->dead);
    if (cancelled) {
        status = "cancelled";
        reason = "turn_detected";
        double endt = VF_MAX(s->r.t_llm_end, s->r.t_tts_end);
        if (s->r.t_cancel > 0 && endt > 0)
            s->r.tm.cancel_ms = endt - s->r.t_cancel;
        else if (s->r.t_cancel > 0)
            s->r.tm.cancel_ms = now_ms() - s->r.t_cancel;
    }
    /* what goes into history: all of it, or only what was heard */
    char *kept = NULL;
    if (cancelled && audio) {
        double played = s->r.t_first_audio > 0 ? s->r.t_cancel - s->r.t_first_audio : 0;
        played = VF_MAX(0.0, VF_MIN(played, s->r.audio_ms_sent));
        kept = played_text(&s->r, played);
    } else if (cancelled) {
        kept = vf_strdup(g.text ? g.text : "");
    } else {
        kept = vf_strdup(g.text ? g.text : "");
    }
    if (kept && kept[0])
        hist_add(s, s->r.item_id, "assistant", kept);
    struct timings tmo = s->r.tm;
    pthread_mutex_unlock(&s->mu);
    const char *final_text = kept ? kept : "";

    if (!atomic_load(&s->dead)) {
        cJSON *d;
        if (audio) {
            d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "response_id", s->r.id);
            cJSON_AddStringToObject(d, "item_id", s->r.item_id);
            cJSON_AddNumberToObject(d, "output_index", 0);
            cJSON_AddNumberToObject(d, "content_index", 0);
            emit_named(s, "response.output_audio.done", "response.audio.done", d);
            d = delta_obj(s, "");
            cJSON_DeleteItemFromObject(d, "delta");
            cJSON_AddStringToObject(d, "transcript", final_text);
            emit_named(s, "response.output_audio_transcript.done",
                       "response.audio_transcript.done", d);
        } else {
            d = delta_obj(s, "");
            cJSON_DeleteItemFromObject(d, "delta");
            cJSON_AddStringToObject(d, "text", final_text);
            emit_named(s, "response.output_text.done", "response.text.done", d);
        }
        o = event("response.content_part.done");
        cJSON_AddStringToObject(o, "response_id", s->r.id);
        cJSON_AddStringToObject(o, "item_id", s->r.item_id);
        cJSON_AddNumberToObject(o, "output_index", 0);
        cJSON_AddNumberToObject(o, "content_index", 0);
        part = cJSON_AddObjectToObject(o, "part");
        cJSON_AddStringToObject(part, "type", ptype);
        cJSON_AddStringToObject(part, pkey, final_text);
        emit(s, o);
        const char *ist = !strcmp(status, "completed") ? "completed" : "incomplete";
        o = event("response.output_item.done");
        cJSON_AddStringToObject(o, "response_id", s->r.id);
        cJSON_AddNumberToObject(o, "output_index", 0);
        cJSON_AddItemToObject(o, "item", item_json(s->r.item_id, "assistant", ist, ptype, pkey, final_text));
        emit(s, o);
        o = event("response.done");
        rj = cJSON_AddObjectToObject(o, "response");
        cJSON_AddStringToObject(rj, "id", s->r.id);
        cJSON_AddStringToObject(rj, "object", "realtime.response");
        cJSON_AddStringToObject(rj, "status", status);
        cJSON *sd = cJSON_AddObjectToObject(rj, "status_details");
        if (reason) {
            cJSON_AddStringToObject(sd, "type", status);
            cJSON_AddStringToObject(sd, "reason", reason);
        }
        cJSON *out = cJSON_AddArrayToObject(rj, "output");
        cJSON_AddItemToArray(out, item_json(s->r.item_id, "assistant", ist, ptype, pkey, final_text));
        cJSON *us = cJSON_AddObjectToObject(rj, "usage");
        int ot = g.text ? vf_voice_llm_count_tokens(l, g.text) : 0;
        cJSON_AddNumberToObject(us, "output_tokens", ot);
        cJSON_AddNumberToObject(us, "total_tokens", ot);
        cJSON_AddItemToObject(rj, "voxfit_timings", timings_json(&tmo));
        emit(s, o);
    }
    vf_free(kept);
    vf_segmenter_free(g.seg);
    vf_free(g.text);
    pthread_mutex_lock(&s->mu);
    s->r.active = false;
    pthread_mutex_unlock(&s->mu);
}

static void run_turn(struct vf_rt_session *s, struct job *j) {
    struct timings tm = {.t_speech_end = j->t_speech_end, .vad_endpoint_ms = j->vad_endpoint_ms};
    struct vf_stt *stt = vf_voice_get_stt(s->v);
    char err[300] = "";
    struct vf_stt_result res = {0};
    int rc = VF_ERR_UNSUPPORTED;
    double t0 = now_ms();
    tm.t_stt_start = t0;
    if (stt) {
        pthread_mutex_lock(&s->mu);
        char lang[16];
        snprintf(lang, sizeof lang, "%s",
                 s->cfg.language[0] ? s->cfg.language : (vf_voice_params(s->v)->language ?: ""));
        pthread_mutex_unlock(&s->mu);
        /* 96 tokens per segment is ~70 words: more than anyone says in one
         * breath, and it bounds the time a confused model can spend. */
        struct vf_stt_opts so = {.language = lang[0] ? lang : NULL, .max_tokens = 96,
                                 .abort = quitting, .abort_data = s};
        rc = vf_stt_transcribe(stt, j->audio, j->n, &so, &res, err, sizeof err);
    } else {
        snprintf(err, sizeof err, "no speech-to-text engine is configured");
    }
    tm.t_stt_end = now_ms();
    tm.stt_ms = tm.t_stt_end - t0;
    pthread_mutex_lock(&s->mu);
    while (s->announced_seq < j->seq && !atomic_load(&s->quit))
        pthread_cond_wait(&s->cv_done, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (rc == 1 || atomic_load(&s->quit))
        goto out;
    if (rc) {
        cJSON *o = event("conversation.item.input_audio_transcription.failed");
        cJSON_AddStringToObject(o, "item_id", j->item_id);
        cJSON_AddNumberToObject(o, "content_index", 0);
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "type", "transcription_error");
        cJSON_AddStringToObject(e, "code", "stt_failed");
        cJSON_AddStringToObject(e, "message", err);
        emit(s, o);
        hist_set_text(s, j->item_id, "");
        goto out;
    }
    hist_set_text(s, j->item_id, res.text);
    /* An empty transcript (a cough, a false start) gets no reply. */
    if (j->create_response && res.text[0] && vf_voice_get_llm(s->v) && !quitting(s)) {
        struct job rj = {.type = JOB_RESPONSE, .audio_out = -1};
        run_response(s, &rj, &tm, j->item_id, res.text);
    } else {
        emit_transcript(s, j->item_id, res.text, tm.stt_ms);
    }
out:
    vf_stt_result_free(&res);
}

static void *think_main(void *arg) {
    struct vf_rt_session *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->n_jobs && !atomic_load(&s->quit))
            pthread_cond_wait(&s->cv_job, &s->mu);
        if (atomic_load(&s->quit)) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        struct job j = s->jobs[s->job_head];
        s->job_head = (s->job_head + 1) % MAX_JOBS;
        s->n_jobs--;
        s->busy = true;
        pthread_mutex_unlock(&s->mu);
        if (j.type == JOB_TURN) {
            run_turn(s, &j);
        } else if (vf_voice_get_llm(s->v)) {
            struct timings tm = {0};
            run_response(s, &j, &tm, NULL, NULL);
        }
        job_free(&j);
        pthread_mutex_lock(&s->mu);
        s->busy = false;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

/* ==== Input audio ======================================================== */

/* Commit samples [a, b) of the buffer as a user item and queue its turn. */
static void commit_range(struct vf_rt_session *s, int64_t a, int64_t b, const char *item_id,
                         bool create_response, double t_end, double vad_ms, const char *eid) {
    a = VF_MAX(a, s->buf_start);
    b = VF_MIN(b, s->total);
    size_t n = b > a ? (size_t)(b - a) : 0;
    struct job j = {.type = JOB_TURN, .create_response = create_response, .t_speech_end = t_end,
                    .vad_endpoint_ms = vad_ms, .audio_out = -1};
    snprintf(j.item_id, sizeof j.item_id, "%s", item_id);
    j.audio = vf_malloc(VF_MAX(n, (size_t)1) * sizeof(float));
    if (!j.audio) {
        emit_error(s, "server_error", "out_of_memory", NULL, eid, "out of memory");
        return;
    }
    memcpy(j.audio, s->buf.p + (a - s->buf_start), n * sizeof(float));
    j.n = n;
    /* drop what was committed */
    vf_pcmbuf_drop_front(&s->buf, (size_t)(b - s->buf_start));
    s->buf_start = b;

    /* The turn is queued before its events are sent, so STT starts while
     * they go out; the think thread waits for them (announced_seq) before
     * it sends the transcript, which keeps the events in order. */
    pthread_mutex_lock(&s->mu);
    char prev[32];
    snprintf(prev, sizeof prev, "%s", s->last_item);
    snprintf(s->last_item, sizeof s->last_item, "%s", item_id);
    hist_add(s, item_id, "user", NULL);
    j.seq = ++s->committed_seq;
    pthread_mutex_unlock(&s->mu);
    uint64_t seq = j.seq;
    bool queued = job_push(s, &j);
    cJSON *o = event("input_audio_buffer.committed");
    if (prev[0])
        cJSON_AddStringToObject(o, "previous_item_id", prev);
    else
        cJSON_AddNullToObject(o, "previous_item_id");
    cJSON_AddStringToObject(o, "item_id", item_id);
    emit(s, o);
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "id", item_id);
    cJSON_AddStringToObject(it, "object", "realtime.item");
    cJSON_AddStringToObject(it, "type", "message");
    cJSON_AddStringToObject(it, "status", "completed");
    cJSON_AddStringToObject(it, "role", "user");
    cJSON *c = cJSON_AddArrayToObject(it, "content");
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "input_audio");
    cJSON_AddNullToObject(p, "transcript");
    cJSON_AddItemToArray(c, p);
    emit_item_created(s, prev, it);
    pthread_mutex_lock(&s->mu);
    s->announced_seq = seq;
    pthread_cond_broadcast(&s->cv_done);
    pthread_mutex_unlock(&s->mu);
    if (!queued)
        emit_error(s, "server_error", "busy", NULL, eid,
                   "too many turns waiting; this utterance is dropped");
}

/* Speech started: barge-in when a reply is being generated or played. */
static void barge_in(struct vf_rt_session *s) {
    pthread_mutex_lock(&s->mu);
    if (!s->cfg.interrupt_response) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    if (s->r.active) {
        cancel_locked(s);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    /* done generating, but the client may still be playing it */
    double now = now_ms();
    if (s->r.audio && s->r.t_first_audio > 0 && now < s->r.t_first_audio + s->r.audio_ms_sent) {
        double played = now - s->r.t_first_audio;
        char *kept = played_text(&s->r, played);
        int i = hist_find(s, s->r.item_id);
        if (kept && i >= 0) {
            vf_free(s->hist[i].text);
            s->hist[i].text = kept;
            kept = NULL;
        }
        vf_free(kept);
        char id[32];
        snprintf(id, sizeof id, "%s", s->r.item_id);
        s->r.audio_ms_sent = played; /* the rest will never be heard */
        pthread_mutex_unlock(&s->mu);
        cJSON *o = event("conversation.item.truncated");
        cJSON_AddStringToObject(o, "item_id", id);
        cJSON_AddNumberToObject(o, "content_index", 0);
        cJSON_AddNumberToObject(o, "audio_end_ms", (int)played);
        emit(s, o);
        return;
    }
    pthread_mutex_unlock(&s->mu);
}

static void on_append(struct vf_rt_session *s, cJSON *ev, const char *eid) {
    cJSON *a = cJSON_GetObjectItem(ev, "audio");
    if (!cJSON_IsString(a)) {
        BAD(s, "missing_required_parameter", "audio", eid, "input_audio_buffer.append needs audio (base64 PCM16)");
        return;
    }
    size_t len = strlen(a->valuestring);
    size_t cap = len / 4 * 3 + 3;
    uint8_t *bytes = vf_malloc(VF_MAX(cap, (size_t)1));
    float *f = NULL, *r16 = NULL;
    if (!bytes) {
        emit_error(s, "server_error", "out_of_memory", NULL, eid, "out of memory");
        return;
    }
    size_t nb = 0;
    if (vf_b64_decode(a->valuestring, len, bytes, cap, &nb)) {
        BAD(s, "invalid_value", "audio", eid, "audio is not valid base64");
        goto out;
    }
    if (nb % 2) {
        BAD(s, "invalid_audio_size", "audio", eid,
            "audio has %zu bytes: PCM16 needs an even number of bytes; the chunk was dropped", nb);
        goto out;
    }
    size_t ns = nb / 2;
    if (!ns)
        goto out;
    f = vf_malloc(ns * sizeof *f);
    r16 = f ? vf_malloc(vf_resampler_max_out(s->in_rs, ns) * sizeof *r16) : NULL;
    if (!r16) {
        emit_error(s, "server_error", "out_of_memory", NULL, eid, "out of memory");
        goto out;
    }
    vf_audio_s16le_to_f32(bytes, ns, f);
    size_t n16 = 0;
    vf_resampler_process(s->in_rs, f, ns, r16, &n16);
    if (vf_pcmbuf_append(&s->buf, r16, n16)) {
        BAD(s, "input_audio_buffer_full", "audio", eid,
            "the input audio buffer is full (%d s); commit or clear it", MANUAL_BUFFER_S);
        goto out;
    }
    s->total += (int64_t)n16;
    if (!s->cfg.vad_on)
        goto out;
    struct vf_vad_event evs[64];
    size_t done = 0;
    while (done < n16) {
        /* at most 31 frames per call so evs cannot overflow */
        size_t k = VF_MIN(n16 - done, (size_t)VF_VAD_FRAME * 31);
        int ne = vf_vad_process(s->vad, r16 + done, k, evs, (int)VF_ARRAY_LEN(evs));
        done += k;
        for (int i = 0; i < ne; i++) {
            int64_t at = evs[i].at;
            if (evs[i].type == VF_VAD_EVENT_SPEECH_START) {
                s->in_speech = true;
                s->utt_start = at;
                new_id(s->speech_item, sizeof s->speech_item, "item");
                cJSON *o = event("input_audio_buffer.speech_started");
                cJSON_AddNumberToObject(o, "audio_start_ms", (double)(at / 16));
                cJSON_AddStringToObject(o, "item_id", s->speech_item);
                emit(s, o);
                barge_in(s);
            } else {
                s->in_speech = false;
                cJSON *o = event("input_audio_buffer.speech_stopped");
                cJSON_AddNumberToObject(o, "audio_end_ms", (double)(at / 16));
                cJSON_AddStringToObject(o, "item_id", s->speech_item);
                emit(s, o);
                int64_t pad = s->cfg.vad.prefix_padding_ms * 16;
                int64_t tail = evs[i].forced ? 0 : (int64_t)TAIL_MS * 16;
                double vad_ms = (double)(evs[i].decided_at - at) / 16.0;
                commit_range(s, s->utt_start - pad, VF_MIN(at + tail, evs[i].decided_at),
                             s->speech_item, s->cfg.create_response, now_ms(), vad_ms, eid);
            }
        }
    }
    /* outside speech only the prefix padding is worth keeping */
    if (!s->in_speech) {
        int64_t keep = (int64_t)s->cfg.vad.prefix_padding_ms * 16 + VF_VAD_FRAME * 2;
        if (s->total - s->buf_start > keep) {
            int64_t drop = s->total - keep - s->buf_start;
            vf_pcmbuf_drop_front(&s->buf, (size_t)drop);
            s->buf_start += drop;
        }
    }
out:
    vf_free(bytes);
    vf_free(f);
    vf_free(r16);
}

static void on_commit(struct vf_rt_session *s, const char *eid) {
    size_t n = s->buf.n;
    if (n < (size_t)MIN_COMMIT_MS * 16) {
        BAD(s, "input_audio_buffer_commit_empty", NULL, eid,
            "buffer too small: expected at least %d ms of audio, have %.2f ms", MIN_COMMIT_MS,
            (double)n / 16.0);
        return;
    }
    char id[32];
    if (s->in_speech)
        snprintf(id, sizeof id, "%s", s->speech_item);
    else
        new_id(id, sizeof id, "item");
    s->in_speech = false;
    commit_range(s, s->buf_start, s->total, id, false, now_ms(), 0, eid);
    vf_vad_reset(s->vad);
    /* VAD positions restart at 0: renumber the buffer to match */
    s->total = 0;
    s->buf_start = 0;
}

static void on_clear(struct vf_rt_session *s) {
    s->buf.n = 0;
    s->total = s->buf_start = 0;
    s->in_speech = false;
    vf_vad_reset(s->vad);
    emit(s, event("input_audio_buffer.cleared"));
}

/* ==== Conversation items and responses =================================== */

static void on_item_create(struct vf_rt_session *s, cJSON *ev, const char *eid) {
    cJSON *it = cJSON_GetObjectItem(ev, "item");
    cJSON *type = cJSON_GetObjectItem(it, "type"), *role = cJSON_GetObjectItem(it, "role");
    if (!cJSON_IsObject(it) || (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "message")))) {
        BAD(s, "invalid_value", "item", eid, "only items of type \"message\" are supported");
        return;
    }
    if (!cJSON_IsString(role) || (strcmp(role->valuestring, "user") &&
                                  strcmp(role->valuestring, "assistant") &&
                                  strcmp(role->valuestring, "system"))) {
        BAD(s, "invalid_value", "item.role", eid, "item.role must be user, assistant or system");
        return;
    }
    cJSON *content = cJSON_GetObjectItem(it, "content");
    if (!cJSON_IsArray(content)) {
        BAD(s, "invalid_value", "item.content", eid, "item.content must be an array");
        return;
    }
    char text[MAX_ITEM_TEXT + 1];
    size_t n = 0;
    cJSON *p;
    cJSON_ArrayForEach(p, content) {
        cJSON *pt = cJSON_GetObjectItem(p, "type");
        cJSON *tx = cJSON_GetObjectItem(p, "text");
        if (!cJSON_IsString(tx))
            tx = cJSON_GetObjectItem(p, "transcript");
        if (!cJSON_IsString(pt) || !cJSON_IsString(tx)) {
            BAD(s, "invalid_value", "item.content", eid,
                "content parts must be text parts (input_text, text, output_text) with text");
            return;
        }
        size_t l = strlen(tx->valuestring);
        if (n + l + 1 > MAX_ITEM_TEXT) {
            BAD(s, "invalid_value", "item.content", eid, "item text longer than %d bytes", MAX_ITEM_TEXT);
            return;
        }
        if (n)
            text[n++] = ' ';
        memcpy(text + n, tx->valuestring, l);
        n += l;
    }
    text[n] = '\0';
    char id[32];
    cJSON *idj = cJSON_GetObjectItem(it, "id");
    if (cJSON_IsString(idj) && idj->valuestring[0] && strlen(idj->valuestring) < sizeof id)
        snprintf(id, sizeof id, "%s", idj->valuestring);
    else
        new_id(id, sizeof id, "item");
    pthread_mutex_lock(&s->mu);
    char prev[32];
    snprintf(prev, sizeof prev, "%s", s->last_item);
    snprintf(s->last_item, sizeof s->last_item, "%s", id);
    int k = hist_add(s, id, role->valuestring, text);
    pthread_mutex_unlock(&s->mu);
    if (k < 0) {
        emit_error(s, "server_error", "out_of_memory", NULL, eid, "out of memory");
        return;
    }
    emit_item_created(s, prev,
                      item_json(id, role->valuestring, "completed",
                                !strcmp(role->valuestring, "assistant") ? "text" : "input_text",
                                "text", text));
}

static void on_item_truncate(struct vf_rt_session *s, cJSON *ev, const char *eid) {
    cJSON *id = cJSON_GetObjectItem(ev, "item_id");
    cJSON *ms = cJSON_GetObjectItem(ev, "audio_end_ms");
    if (!cJSON_IsString(id) || !cJSON_IsNumber(ms) || ms->valuedouble < 0) {
        BAD(s, "invalid_value", "item_id", eid, "truncate needs item_id and audio_end_ms >= 0");
        return;
    }
    pthread_mutex_lock(&s->mu);
    int i = hist_find(s, id->valuestring);
    bool is_last = !strcmp(s->r.item_id, id->valuestring);
    if (i < 0 && !is_last) {
        pthread_mutex_unlock(&s->mu);
        BAD(s, "item_truncate_invalid_item_id", "item_id", eid, "no item '%s'", id->valuestring);
        return;
    }
    if (is_last) {
        double played = VF_MIN(ms->valuedouble, s->r.audio_ms_sent);
        char *kept = played_text(&s->r, played);
        if (kept && i >= 0) {
            vf_free(s->hist[i].text);
            s->hist[i].text = kept;
            kept = NULL;
        }
        vf_free(kept);
    }
    pthread_mutex_unlock(&s->mu);
    cJSON *o = event("conversation.item.truncated");
    cJSON_AddStringToObject(o, "item_id", id->valuestring);
    cJSON_AddNumberToObject(o, "content_index", 0);
    cJSON_AddNumberToObject(o, "audio_end_ms", ms->valuedouble);
    emit(s, o);
}

static void on_item_delete(struct vf_rt_session *s, cJSON *ev, const char *eid) {
    cJSON *id = cJSON_GetObjectItem(ev, "item_id");
    if (!cJSON_IsString(id)) {
        BAD(s, "missing_required_parameter", "item_id", eid, "delete needs item_id");
        return;
    }
    pthread_mutex_lock(&s->mu);
    int i = hist_find(s, id->valuestring);
    if (i >= 0) {
        vf_free(s->hist[i].text);
        memmove(s->hist + i, s->hist + i + 1, (size_t)(s->n_hist - i - 1) * sizeof s->hist[0]);
        s->n_hist--;
    }
    pthread_mutex_unlock(&s->mu);
    if (i < 0) {
        BAD(s, "item_delete_invalid_item_id", "item_id", eid, "no item '%s'", id->valuestring);
        return;
    }
    cJSON *o = event("conversation.item.deleted");
    cJSON_AddStringToObject(o, "item_id", id->valuestring);
    emit(s, o);
}

static void on_response_create(struct vf_rt_session *s, cJSON *ev, const char *eid) {
    if (!vf_voice_get_llm(s->v)) {
        BAD(s, "no_llm", NULL, eid, "this server has no LLM configured");
        return;
    }
    pthread_mutex_lock(&s->mu);
    /* a queued turn without its own response (manual commit) may be
     * followed by response.create: it runs after the transcript */
    bool active = s->r.active;
    for (int i = 0; i < s->n_jobs; i++) {
        const struct job *q = &s->jobs[(s->job_head + i) % MAX_JOBS];
        active = active || q->type == JOB_RESPONSE || q->create_response;
    }
    pthread_mutex_unlock(&s->mu);
    if (active) {
        BAD(s, "conversation_already_has_active_response", NULL, eid,
            "Conversation already has an active response in progress");
        return;
    }
    struct job j = {.type = JOB_RESPONSE, .audio_out = -1};
    cJSON *r = cJSON_GetObjectItem(ev, "response");
    if (r && !cJSON_IsObject(r)) {
        BAD(s, "invalid_value", "response", eid, "response must be an object");
        return;
    }
    cJSON *ins = cJSON_GetObjectItem(r, "instructions");
    if (ins && (!cJSON_IsString(ins) || strlen(ins->valuestring) > MAX_ITEM_TEXT)) {
        BAD(s, "invalid_value", "response.instructions", eid, "instructions must be a string");
        return;
    }
    cJSON *m = cJSON_GetObjectItem(r, "output_modalities");
    if (!m)
        m = cJSON_GetObjectItem(r, "modalities");
    bool audio = true;
    if (m && !parse_modalities(m, &audio)) {
        BAD(s, "invalid_value", "response.output_modalities", eid, "bad modalities");
        return;
    }
    if (m)
        j.audio_out = audio;
    cJSON *mt = cJSON_GetObjectItem(r, "max_output_tokens");
    if (!mt)
        mt = cJSON_GetObjectItem(r, "max_response_output_tokens");
    if (mt && cJSON_IsNumber(mt) && mt->valuedouble >= 1 && mt->valuedouble <= 4096)
        j.max_tokens = mt->valueint;
    else if (mt && !(cJSON_IsString(mt) && !strcmp(mt->valuestring, "inf"))) {
        BAD(s, "invalid_value", "response.max_output_tokens", eid, "max_output_tokens must be 1..4096 or \"inf\"");
        return;
    }
    if (ins)
        j.instructions = vf_strdup(ins->valuestring);
    if (!job_push(s, &j))
        emit_error(s, "server_error", "busy", NULL, eid, "too many requests queued");
}

static void on_response_cancel(struct vf_rt_session *s, const char *eid) {
    pthread_mutex_lock(&s->mu);
    bool ok = cancel_locked(s);
    pthread_mutex_unlock(&s->mu);
    if (!ok)
        BAD(s, "response_cancel_not_active", NULL, eid,
            "Cancellation failed: no active response found");
    /* response.done with status "cancelled" follows from the think thread */
}

/* ==== Dispatch =========================================================== */

int vf_rt_session_feed(struct vf_rt_session *s, const char *msg, size_t n) {
    if (atomic_load(&s->dead))
        return VF_ERR_IO;
    if (n > VF_RT_MAX_EVENT_BYTES) {
        BAD(s, "event_too_large", NULL, NULL, "event of %zu bytes is larger than the %d byte limit",
            n, VF_RT_MAX_EVENT_BYTES);
        return atomic_load(&s->dead) ? VF_ERR_IO : VF_OK;
    }
    cJSON *ev = cJSON_ParseWithLength(msg, n);
    if (!cJSON_IsObject(ev)) {
        BAD(s, "invalid_json", NULL, NULL, "the event is not a JSON object");
        cJSON_Delete(ev);
        return atomic_load(&s->dead) ? VF_ERR_IO : VF_OK;
    }
    cJSON *eidj = cJSON_GetObjectItem(ev, "event_id");
    const char *eid = cJSON_IsString(eidj) ? eidj->valuestring : NULL;
    cJSON *tj = cJSON_GetObjectItem(ev, "type");
    if (!cJSON_IsString(tj)) {
        BAD(s, "missing_required_parameter", "type", eid, "the event has no \"type\"");
        cJSON_Delete(ev);
        return atomic_load(&s->dead) ? VF_ERR_IO : VF_OK;
    }
    const char *t = tj->valuestring;
    if (!strcmp(t, "session.update"))
        on_session_update(s, ev, eid);
    else if (!strcmp(t, "input_audio_buffer.append"))
        on_append(s, ev, eid);
    else if (!strcmp(t, "input_audio_buffer.commit"))
        on_commit(s, eid);
    else if (!strcmp(t, "input_audio_buffer.clear"))
        on_clear(s);
    else if (!strcmp(t, "conversation.item.create"))
        on_item_create(s, ev, eid);
    else if (!strcmp(t, "conversation.item.truncate"))
        on_item_truncate(s, ev, eid);
    else if (!strcmp(t, "conversation.item.delete"))
        on_item_delete(s, ev, eid);
    else if (!strcmp(t, "response.create"))
        on_response_create(s, ev, eid);
    else if (!strcmp(t, "response.cancel"))
        on_response_cancel(s, eid);
    else if (!strcmp(t, "output_audio_buffer.clear"))
        emit(s, event("output_audio_buffer.cleared"));
    else
        BAD(s, "unknown_event", "type", eid, "unsupported event type '%.64s'", t);
    cJSON_Delete(ev);
    return atomic_load(&s->dead) ? VF_ERR_IO : VF_OK;
}

/* ==== Life cycle ========================================================= */

int vf_rt_session_init(struct vf_voice *v, enum vf_rt_dialect dialect, vf_rt_send_fn send,
                       void *user_data, struct vf_rt_session **out) {
    *out = NULL;
    if (!vf__voice_session_enter(v))
        return VF_ERR_TOOBIG;
    const struct vf_voice_params *vp = vf_voice_params(v);
    struct vf_rt_session *s = vf_calloc(1, sizeof *s);
    if (!s) {
        vf__voice_session_leave(v);
        return VF_ERR_NOMEM;
    }
    s->v = v;
    s->send = send;
    s->ud = user_data;
    atomic_store(&s->dialect, (int)dialect);
    new_id(s->id, sizeof s->id, "sess");
    struct rt_cfg *c = &s->cfg;
    c->in_rate = c->out_rate = 24000;
    c->vad_on = c->create_response = c->interrupt_response = true;
    c->audio_out = vf_voice_get_tts(v) != NULL;
    c->vad = vf_vad_default_params();
    c->vad.silence_duration_ms = vp->silence_duration_ms;
    c->vad.max_utterance_ms = vp->max_utterance_ms;
    c->speed = 1.0f;
    c->temperature = 0.8f;
    snprintf(c->voice, sizeof c->voice, "%s",
             vp->voice ? vp->voice : vf_voice_get_tts(v) ? vf_voice_get_tts(v)->default_voice : "alloy");
    snprintf(c->tr_model, sizeof c->tr_model, "whisper");
    if (vp->language)
        snprintf(c->language, sizeof c->language, "%s", vp->language);
    c->instructions = vp->instructions ? vf_strdup(vp->instructions) : NULL;
    pthread_mutex_init(&s->send_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv_job, NULL);
    pthread_cond_init(&s->cv_speak, NULL);
    pthread_cond_init(&s->cv_done, NULL);
    /* the buffer holds the longest utterance plus padding, or the manual
     * bound without VAD */
    vf_pcmbuf_init(&s->buf, (size_t)MANUAL_BUFFER_S * IN_RATE);
    int rc = vf_resampler_init(c->in_rate, IN_RATE, 5, &s->in_rs);
    if (!rc)
        rc = vf_vad_init(&c->vad, &s->vad);
    if (!rc) {
        s->think_ok = pthread_create(&s->think, NULL, think_main, s) == 0;
        s->speak_ok = s->think_ok && pthread_create(&s->speak, NULL, speak_main, s) == 0;
        if (!s->speak_ok)
            rc = VF_ERR_BACKEND;
    }
    if (rc) {
        vf_rt_session_free(s);
        return rc;
    }
    cJSON *o = event("session.created");
    cJSON_AddItemToObject(o, "session", session_json(s));
    emit(s, o);
    *out = s;
    return VF_OK;
}

void vf_rt_session_free(struct vf_rt_session *s) {
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->quit, true);
    atomic_fetch_add(&s->gen, 1);
    pthread_cond_broadcast(&s->cv_job);
    pthread_cond_broadcast(&s->cv_speak);
    pthread_cond_broadcast(&s->cv_done);
    pthread_mutex_unlock(&s->mu);
    if (s->think_ok)
        pthread_join(s->think, NULL);
    if (s->speak_ok)
        pthread_join(s->speak, NULL);
    for (int i = 0; i < s->n_jobs; i++)
        job_free(&s->jobs[(s->job_head + i) % MAX_JOBS]);
    for (int i = 0; i < s->n_sq; i++)
        vf_free(s->sq[(s->sq_head + i) % MAX_SENTENCES].text);
    for (int i = 0; i < s->n_hist; i++)
        vf_free(s->hist[i].text);
    for (int i = 0; i < s->r.n_marks; i++)
        vf_free(s->r.marks[i].text);
    vf_free(s->cfg.instructions);
    vf_resampler_free(s->in_rs);
    vf_resampler_free(s->out_rs);
    vf_vad_free(s->vad);
    vf_pcmbuf_free(&s->buf);
    vf_free(s->pcm);
    vf_free(s->rsbuf);
    pthread_mutex_destroy(&s->send_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv_job);
    pthread_cond_destroy(&s->cv_speak);
    pthread_cond_destroy(&s->cv_done);
    vf__voice_session_leave(s->v);
    vf_free(s);
}

/* ==== Fuzzing ============================================================ */

static int fuzz_send(void *ud, const char *json, size_t n) { return 0; }

int vf__fuzz_voice_event(const uint8_t *data, size_t n) {
    /* One voice object without engines and one session, kept across inputs
     * (what a long-lived connection sees); each input is one client event. */
    static struct vf_voice *v;
    static struct vf_rt_session *s;
    if (!v) {
        struct vf_voice_params p = vf_voice_default_params();
        char err[128];
        if (vf_voice_init(&p, &v, err, sizeof err))
            return 0;
        if (vf_rt_session_init(v, VF_RT_DIALECT_BOTH, fuzz_send, NULL, &s))
            return 0;
    }
    vf_rt_session_feed(s, (const char *)data, n);
    return 0;
}
