/* test_voice_realtime.c - the realtime session end to end in process, with
 * real espeak-ng speech in, the real VAD, resampler and TTS, and scripted
 * STT and LLM stages (deterministic text, adjustable speed): a full turn in
 * each dialect, 16 kHz input and text-only output, manual commit, cancel,
 * barge-in (cancel within 100 ms, history keeps only what was played), and
 * every malformed event answered with an error while the session lives on. */
#include "vf_test.h"

#include "voice/realtime.h"
#include "voice_test_util.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <time.h>

/* ==== Scripted engines =================================================== */

static const char *reply_text =
    "Sure. The weather today is sunny with a light breeze. It will be warm in the afternoon. "
    "Tomorrow brings some rain, so take an umbrella. That is all for now.";
static int llm_delay_ms = 2;
static char last_msgs[8192];
static pthread_mutex_t msgs_mu = PTHREAD_MUTEX_INITIALIZER;

/* Timing bounds are real-time requirements (cancel within 100 ms); under
 * valgrind (make valgrind) everything runs ~10-50x slower, so they widen. */
static int slow(void) {
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") ? 20 : 1;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int fake_chat(struct vf_voice_llm *l, const struct vf_voice_msg *m, int n,
                     const struct vf_voice_llm_opts *o, vf_voice_text_cb cb, void *ud, char *err,
                     size_t errlen) {
    pthread_mutex_lock(&msgs_mu);
    size_t k = 0;
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(last_msgs + k, sizeof last_msgs - k, "%s: %s\n", m[i].role, m[i].content);
    pthread_mutex_unlock(&msgs_mu);
    const char *p = reply_text;
    while (*p) {
        const char *q = strchr(p + 1, ' ');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        for (int t = 0; t < llm_delay_ms; t++) {
            if (o->abort && o->abort(o->abort_data))
                return 1;
            sleep_ms(1);
        }
        if (cb(p, len, ud))
            return 1;
        p += len;
    }
    return VF_OK;
}
static void fake_llm_free(struct vf_voice_llm *l) { free(l); }
static const struct vf_voice_llm_ops fake_llm_ops = {"fake", fake_chat, NULL, fake_llm_free};

static int fake_stt(struct vf_stt *s, const float *pcm, size_t n, const struct vf_stt_opts *o,
                    struct vf_stt_result *out, char *err, size_t errlen) {
    out->text = vf_strdup(n >= 8000 ? "what is the weather" : "");
    out->duration_s = (double)n / 16000;
    snprintf(out->language, sizeof out->language, "en");
    return VF_OK;
}
static void fake_stt_free(struct vf_stt *s) { free(s); }
static const struct vf_stt_ops fake_stt_ops = {"fake", fake_stt, fake_stt_free};

/* The voice object owns its TTS; the tests share one espeak-ng engine
 * (one per process) through this borrowing wrapper. */
static int borrow_synth(struct vf_tts *t, const char *text, const char *voice, float speed,
                        vf_voice_pcm_cb cb, void *ud, vf_voice_abort_fn abort, void *abort_data,
                        char *err, size_t errlen) {
    return vt_espeak->ops->synth(vt_espeak, text, voice, speed, cb, ud, abort, abort_data, err, errlen);
}
static void borrow_free(struct vf_tts *t) { free(t); }
static const struct vf_tts_ops borrow_ops = {"espeak", borrow_synth, borrow_free};

static struct vf_voice *make_voice(void) {
    struct vf_voice_params p = vf_voice_default_params();
    struct vf_voice_llm *l = calloc(1, sizeof *l);
    l->ops = &fake_llm_ops;
    l->ctx_tokens = 4096;
    snprintf(l->model, sizeof l->model, "fake-llm");
    struct vf_stt *s = calloc(1, sizeof *s);
    s->ops = &fake_stt_ops;
    snprintf(s->model, sizeof s->model, "fake-stt");
    char err[200];
    if (!vt_espeak)
        assert_int_equal(vf_tts_espeak_init("en-us", NULL, &vt_espeak, err, sizeof err), VF_OK);
    struct vf_tts *t = calloc(1, sizeof *t);
    *t = *vt_espeak;
    t->ops = &borrow_ops;
    p.llm = l;
    p.stt = s;
    p.tts = t;
    struct vf_voice *v = NULL;
    assert_int_equal(vf_voice_init(&p, &v, err, sizeof err), VF_OK);
    return v;
}

/* ==== Event collector (the "transport") ================================== */

struct coll {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char **ev;
    int n, cap;
};

static int coll_send(void *ud, const char *json, size_t n) {
    struct coll *c = ud;
    pthread_mutex_lock(&c->mu);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->ev = realloc(c->ev, (size_t)c->cap * sizeof *c->ev);
    }
    c->ev[c->n++] = strndup(json, n);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void coll_free(struct coll *c) {
    for (int i = 0; i < c->n; i++)
        free(c->ev[i]);
    free(c->ev);
    memset(c, 0, sizeof *c);
}

static const char *ev_type(const char *json, char *buf, size_t n) {
    cJSON *j = cJSON_Parse(json);
    snprintf(buf, n, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "type")) ?: "?");
    cJSON_Delete(j);
    return buf;
}

/* Wait for the first event of type at index >= *from; returns it parsed
 * (caller frees) and sets *from past it, or NULL after timeout_ms. */
static cJSON *wait_ev(struct coll *c, int *from, const char *type, int timeout_ms) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    for (;;) {
        for (int i = *from; i < c->n; i++) {
            char t[96];
            if (!strcmp(ev_type(c->ev[i], t, sizeof t), type)) {
                *from = i + 1;
                cJSON *j = cJSON_Parse(c->ev[i]);
                pthread_mutex_unlock(&c->mu);
                return j;
            }
        }
        if (pthread_cond_timedwait(&c->cv, &c->mu, &dl)) {
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
    }
}

static int count_ev(struct coll *c, const char *type) {
    int k = 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n; i++) {
        char t[96];
        k += !strcmp(ev_type(c->ev[i], t, sizeof t), type);
    }
    pthread_mutex_unlock(&c->mu);
    return k;
}

static cJSON *expect(struct coll *c, int *from, const char *type, int timeout_ms) {
    cJSON *j = wait_ev(c, from, type, timeout_ms);
    if (!j) {
        pthread_mutex_lock(&c->mu);
        for (int i = 0; i < c->n; i++)
            fprintf(stderr, "  [%d] %.160s\n", i, c->ev[i]);
        pthread_mutex_unlock(&c->mu);
        fail_msg("no %s event within %d ms", type, timeout_ms);
    }
    return j;
}

static void feed_str(struct vf_rt_session *s, const char *json) {
    assert_int_equal(vf_rt_session_feed(s, json, strlen(json)), VF_OK);
}

/* Send audio (floats at rate) as input_audio_buffer.append events of chunk_ms. */
static void feed_audio(struct vf_rt_session *s, const float *x, size_t n, int rate, int chunk_ms) {
    size_t chunk = (size_t)rate * chunk_ms / 1000;
    uint8_t *b = malloc(chunk * 2);
    char *b64 = malloc(vf_b64_encoded_len(chunk * 2));
    char *msg = malloc(vf_b64_encoded_len(chunk * 2) + 100);
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = VF_MIN(chunk, n - off);
        vf_audio_f32_to_s16le(x + off, k, b);
        vf_b64_encode(b, k * 2, b64, vf_b64_encoded_len(k * 2));
        sprintf(msg, "{\"type\":\"input_audio_buffer.append\",\"audio\":\"%s\"}", b64);
        feed_str(s, msg);
    }
    free(b);
    free(b64);
    free(msg);
}

static struct vf_rt_session *open_session(struct vf_voice *v, struct coll *c,
                                          enum vf_rt_dialect d) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    struct vf_rt_session *s = NULL;
    assert_int_equal(vf_rt_session_init(v, d, coll_send, c, &s), VF_OK);
    return s;
}

static float *utterance(const char *text, int rate, size_t *n) {
    size_t ns;
    float *sp = vt_speech(text, rate, &ns);
    float *x = vt_pad(sp, ns, rate, 300, 1000, n);
    free(sp);
    return x;
}

/* ==== Tests ============================================================== */

static void test_malformed(void **state) {
    struct vf_voice *v = make_voice();
    struct coll c;
    struct vf_rt_session *s = open_session(v, &c, VF_RT_DIALECT_GA);
    int at = 0;
    cJSON *j = expect(&c, &at, "session.created", 1000);
    cJSON *rate = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
        cJSON_GetObjectItem(j, "session"), "audio"), "input"), "format"), "rate");
    assert_int_equal(rate->valueint, 24000);
    cJSON_Delete(j);
    struct {
        const char *ev, *code;
    } bad[] = {
        {"{", "invalid_json"},
        {"[1,2]", "invalid_json"},
        {"{\"event_id\":\"e1\"}", "missing_required_parameter"},
        {"{\"type\":\"no.such.event\"}", "unknown_event"},
        {"{\"type\":\"input_audio_buffer.append\"}", "missing_required_parameter"},
        {"{\"type\":\"input_audio_buffer.append\",\"audio\":\"!!!!\"}", "invalid_value"},
        {"{\"type\":\"input_audio_buffer.append\",\"audio\":\"AAAA\"}", "invalid_audio_size"},
        {"{\"type\":\"input_audio_buffer.commit\"}", "input_audio_buffer_commit_empty"},
        {"{\"type\":\"session.update\"}", "missing_required_parameter"},
        {"{\"type\":\"session.update\",\"session\":{\"audio\":{\"input\":{\"format\":{\"type\":\"audio/pcmu\"}}}}}", "invalid_value"},
        {"{\"type\":\"session.update\",\"session\":{\"input_audio_format\":\"g711_ulaw\"}}", "invalid_value"},
        {"{\"type\":\"session.update\",\"session\":{\"audio\":{\"input\":{\"format\":{\"type\":\"audio/pcm\",\"rate\":8000}}}}}", "invalid_value"},
        {"{\"type\":\"session.update\",\"session\":{\"turn_detection\":{\"type\":\"server_vad\",\"threshold\":7}}}", "invalid_value"},
        {"{\"type\":\"session.update\",\"session\":{\"output_modalities\":[\"video\"]}}", "invalid_value"},
        {"{\"type\":\"response.cancel\"}", "response_cancel_not_active"},
        {"{\"type\":\"conversation.item.truncate\",\"item_id\":\"nope\",\"audio_end_ms\":10}", "item_truncate_invalid_item_id"},
        {"{\"type\":\"conversation.item.delete\",\"item_id\":\"nope\"}", "item_delete_invalid_item_id"},
        {"{\"type\":\"conversation.item.create\",\"item\":{\"type\":\"function_call\"}}", "invalid_value"},
        {"{\"type\":\"response.create\",\"response\":{\"max_output_tokens\":-3}}", "invalid_value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        feed_str(s, bad[i].ev);
        j = expect(&c, &at, "error", 1000);
        cJSON *code = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "code");
        if (!cJSON_IsString(code) || strcmp(code->valuestring, bad[i].code))
            fail_msg("%s: code %s, want %s", bad[i].ev, cJSON_GetStringValue(code), bad[i].code);
        cJSON_Delete(j);
    }
    /* the client's event_id comes back in the error */
    feed_str(s, "{\"type\":\"bogus\",\"event_id\":\"evt_42\"}");
    j = expect(&c, &at, "error", 1000);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "event_id")), "evt_42");
    cJSON_Delete(j);
    /* and the session still works: a text turn */
    feed_str(s, "{\"type\":\"conversation.item.create\",\"item\":{\"type\":\"message\",\"role\":\"user\","
                "\"content\":[{\"type\":\"input_text\",\"text\":\"hi there\"}]}}");
    cJSON_Delete(expect(&c, &at, "conversation.item.created", 1000));
    feed_str(s, "{\"type\":\"response.create\"}");
    j = expect(&c, &at, "response.done", 10000);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "response"), "status")), "completed");
    cJSON_Delete(j);
    assert_non_null(strstr(last_msgs, "user: hi there"));
    vf_rt_session_free(s);
    coll_free(&c);
    vf_voice_free(v);
}

static void full_turn(enum vf_rt_dialect d, int in_rate) {
    struct vf_voice *v = make_voice();
    struct coll c;
    struct vf_rt_session *s = open_session(v, &c, d);
    int at = 0;
    cJSON_Delete(expect(&c, &at, "session.created", 1000));
    if (in_rate == 16000) {
        feed_str(s, "{\"type\":\"session.update\",\"session\":{\"type\":\"realtime\",\"instructions\":\"Be brief.\","
                    "\"audio\":{\"input\":{\"format\":{\"type\":\"audio/pcm\",\"rate\":16000},"
                    "\"turn_detection\":{\"type\":\"server_vad\",\"silence_duration_ms\":400}}}}}");
        cJSON *j = expect(&c, &at, "session.updated", 1000);
        cJSON *in = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "session"), "audio"), "input");
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(in, "format"), "rate")->valueint, 16000);
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(in, "turn_detection"), "silence_duration_ms")->valueint, 400);
        cJSON_Delete(j);
    }
    size_t n;
    float *x = utterance("What is the weather like today?", in_rate, &n);
    feed_audio(s, x, n, in_rate, 100); /* faster than real time */
    free(x);
    cJSON *j = expect(&c, &at, "input_audio_buffer.speech_started", 2000);
    int start_ms = cJSON_GetObjectItem(j, "audio_start_ms")->valueint;
    assert_true(start_ms >= 250 && start_ms <= 400);
    cJSON_Delete(j);
    cJSON_Delete(expect(&c, &at, "input_audio_buffer.speech_stopped", 2000));
    cJSON_Delete(expect(&c, &at, "input_audio_buffer.committed", 2000));
    cJSON_Delete(expect(&c, &at, "conversation.item.created", 2000));
    j = expect(&c, &at, "conversation.item.input_audio_transcription.completed", 5000);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "transcript")), "what is the weather");
    cJSON_Delete(j);
    cJSON_Delete(expect(&c, &at, "response.created", 5000));
    j = expect(&c, &at, "response.done", 20000);
    cJSON *r = cJSON_GetObjectItem(j, "response");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(r, "status")), "completed");
    cJSON *tm = cJSON_GetObjectItem(r, "voxfit_timings");
    assert_non_null(tm);
    double total = cJSON_GetObjectItem(tm, "speech_end_to_first_audio_ms")->valuedouble;
    double over = cJSON_GetObjectItem(tm, "overhead_ms")->valuedouble;
    fprintf(stderr, "speech end -> first audio %.1f ms, overhead %.2f ms\n", total, over);
    assert_true(total > 0 && total < 2000 * slow());
    cJSON_Delete(j);
    int ga = count_ev(&c, "response.output_audio.delta"), beta = count_ev(&c, "response.audio.delta");
    int gat = count_ev(&c, "response.output_audio_transcript.delta"), betat = count_ev(&c, "response.audio_transcript.delta");
    fprintf(stderr, "deltas: GA %d/%d beta %d/%d\n", ga, gat, beta, betat);
    if (d == VF_RT_DIALECT_GA)
        assert_true(ga > 10 && gat > 10 && beta == 0 && betat == 0);
    else if (d == VF_RT_DIALECT_BETA)
        assert_true(beta > 10 && betat > 10 && ga == 0 && gat == 0);
    else
        assert_true(ga > 10 && ga == beta && gat == betat);
    /* the LLM saw the instructions and the transcript */
    assert_non_null(strstr(last_msgs, "user: what is the weather"));
    if (in_rate == 16000)
        assert_non_null(strstr(last_msgs, "system: Be brief."));
    /* every audio delta decodes to whole PCM16 samples */
    pthread_mutex_lock(&c.mu);
    size_t bytes = 0;
    for (int i = 0; i < c.n; i++) {
        cJSON *e = cJSON_Parse(c.ev[i]);
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(e, "type"));
        if (t && (!strcmp(t, "response.output_audio.delta") || (d == VF_RT_DIALECT_BETA && !strcmp(t, "response.audio.delta")))) {
            const char *b = cJSON_GetStringValue(cJSON_GetObjectItem(e, "delta"));
            uint8_t *raw = malloc(strlen(b));
            size_t rn = 0;
            assert_int_equal(vf_b64_decode(b, strlen(b), raw, strlen(b), &rn), VF_OK);
            assert_int_equal(rn % 2, 0);
            bytes += rn;
            free(raw);
        }
        cJSON_Delete(e);
    }
    pthread_mutex_unlock(&c.mu);
    fprintf(stderr, "reply audio: %.2f s\n", (double)bytes / 2 / 24000);
    assert_true(bytes / 2 > 24000 * 3); /* several seconds of speech */
    vf_rt_session_free(s);
    coll_free(&c);
    vf_voice_free(v);
}

static void test_turn_both(void **state) { full_turn(VF_RT_DIALECT_BOTH, 24000); }
static void test_turn_ga_16k(void **state) { full_turn(VF_RT_DIALECT_GA, 16000); }
static void test_turn_beta(void **state) { full_turn(VF_RT_DIALECT_BETA, 24000); }

static void test_text_only_manual(void **state) {
    struct vf_voice *v = make_voice();
    struct coll c;
    struct vf_rt_session *s = open_session(v, &c, VF_RT_DIALECT_GA);
    int at = 0;
    feed_str(s, "{\"type\":\"session.update\",\"session\":{\"type\":\"realtime\",\"output_modalities\":[\"text\"],"
                "\"audio\":{\"input\":{\"turn_detection\":null}}}}");
    cJSON_Delete(expect(&c, &at, "session.updated", 1000));
    size_t n;
    float *x = utterance("Tell me a joke", 24000, &n);
    feed_audio(s, x, n, 24000, 250);
    free(x);
    feed_str(s, "{\"type\":\"input_audio_buffer.commit\"}");
    cJSON_Delete(expect(&c, &at, "input_audio_buffer.committed", 2000));
    cJSON_Delete(expect(&c, &at, "conversation.item.input_audio_transcription.completed", 5000));
    assert_int_equal(count_ev(&c, "input_audio_buffer.speech_started"), 0);
    assert_int_equal(count_ev(&c, "response.created"), 0); /* no VAD: the client asks */
    feed_str(s, "{\"type\":\"response.create\"}");
    cJSON *j = expect(&c, &at, "response.done", 10000);
    cJSON_Delete(j);
    assert_true(count_ev(&c, "response.output_text.delta") > 5);
    assert_int_equal(count_ev(&c, "response.output_audio.delta"), 0);
    /* clear empties the buffer */
    feed_str(s, "{\"type\":\"input_audio_buffer.clear\"}");
    cJSON_Delete(expect(&c, &at, "input_audio_buffer.cleared", 1000));
    vf_rt_session_free(s);
    coll_free(&c);
    vf_voice_free(v);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_cancel(void **state) {
    llm_delay_ms = 60; /* a slow LLM: the response is still generating */
    struct vf_voice *v = make_voice();
    struct coll c;
    struct vf_rt_session *s = open_session(v, &c, VF_RT_DIALECT_GA);
    int at = 0;
    feed_str(s, "{\"type\":\"conversation.item.create\",\"item\":{\"type\":\"message\",\"role\":\"user\","
                "\"content\":[{\"type\":\"input_text\",\"text\":\"talk\"}]}}");
    feed_str(s, "{\"type\":\"response.create\"}");
    cJSON_Delete(expect(&c, &at, "response.output_audio_transcript.delta", 5000));
    feed_str(s, "{\"type\":\"response.create\"}"); /* one at a time */
    cJSON *j = expect(&c, &at, "error", 1000);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "code")),
                        "conversation_already_has_active_response");
    cJSON_Delete(j);
    double t0 = now_ms();
    feed_str(s, "{\"type\":\"response.cancel\"}");
    j = expect(&c, &at, "response.done", 2000);
    double dt = now_ms() - t0;
    cJSON *r = cJSON_GetObjectItem(j, "response");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(r, "status")), "cancelled");
    double cms = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "voxfit_timings"), "cancel_ms")->valuedouble;
    fprintf(stderr, "cancel: response.done after %.1f ms, stages stopped in %.1f ms\n", dt, cms);
    assert_true(cms <= 100 * slow());
    assert_true(dt <= 150 * slow());
    cJSON_Delete(j);
    vf_rt_session_free(s);
    coll_free(&c);
    vf_voice_free(v);
    llm_delay_ms = 2;
}

static void test_barge_in(void **state) {
    llm_delay_ms = 100; /* generation (about 3 s) outlasts the barge-in point */
    struct vf_voice *v = make_voice();
    struct coll c;
    struct vf_rt_session *s = open_session(v, &c, VF_RT_DIALECT_GA);
    int at = 0;
    size_t n;
    float *x = utterance("What is the weather like today?", 24000, &n);
    feed_audio(s, x, n, 24000, 100);
    cJSON_Delete(expect(&c, &at, "response.output_audio.delta", 10000));
    sleep_ms(1500); /* the client plays 1.5 s, then the user talks over it */
    size_t n2;
    float *y = utterance("Stop, stop, that is enough", 24000, &n2);
    double t0 = now_ms();
    feed_audio(s, y, n2 / 2, 24000, 20);
    cJSON_Delete(expect(&c, &at, "input_audio_buffer.speech_started", 2000));
    cJSON *j = expect(&c, &at, "response.done", 2000);
    double dt = now_ms() - t0;
    cJSON *r = cJSON_GetObjectItem(j, "response");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(r, "status")), "cancelled");
    double cms = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "voxfit_timings"), "cancel_ms")->valuedouble;
    const char *kept = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(r, "output"), 0), "content"), 0), "transcript"));
    fprintf(stderr, "barge-in: stages stopped in %.1f ms (done %.1f ms after the speech began); kept '%s'\n",
            cms, dt, kept);
    assert_true(cms <= 100 * slow());
    /* only what played (about 1.5 s: the first sentence or two) is kept */
    assert_true(strlen(kept) > 0 && strlen(kept) < strlen(reply_text) / 2);
    char kept_copy[1024];
    snprintf(kept_copy, sizeof kept_copy, "%s", kept);
    cJSON_Delete(j);
    /* the rest of the new utterance: its turn sees the truncated reply */
    feed_audio(s, y + n2 / 2, n2 - n2 / 2, 24000, 100);
    j = expect(&c, &at, "response.done", 20000);
    cJSON_Delete(j);
    pthread_mutex_lock(&msgs_mu);
    char want[1100];
    snprintf(want, sizeof want, "assistant: %s\n", kept_copy);
    assert_non_null(strstr(last_msgs, want));
    assert_null(strstr(last_msgs, "umbrella"));
    pthread_mutex_unlock(&msgs_mu);
    free(x);
    free(y);
    vf_rt_session_free(s);
    coll_free(&c);
    vf_voice_free(v);
    llm_delay_ms = 2;
}

/* Barge-in after the reply was fully generated but while the client is
 * still playing it: the history item is truncated to what was heard. */
static void test_barge_in_playback(void **state) {
    llm_delay_ms = 1;
    struct vf_voice *v = make_voice();
    struct coll c;
    struct vf_rt_session *s = open_session(v, &c, VF_RT_DIALECT_GA);
    int at = 0;
    size_t n;
    float *x = utterance("What is the weather like today?", 24000, &n);
    feed_audio(s, x, n, 24000, 100);
    cJSON_Delete(expect(&c, &at, "response.output_audio.delta", 10000));
    cJSON *j = expect(&c, &at, "response.done", 10000);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "response"), "status")), "completed");
    cJSON_Delete(j);
    sleep_ms(1500);
    size_t n2;
    float *y = utterance("Wait a moment", 24000, &n2);
    feed_audio(s, y, n2, 24000, 100);
    j = expect(&c, &at, "conversation.item.truncated", 2000);
    int end_ms = cJSON_GetObjectItem(j, "audio_end_ms")->valueint;
    fprintf(stderr, "truncated at %d ms of playback\n", end_ms);
    assert_true(end_ms >= 1400 && end_ms <= 2500 * slow());
    cJSON_Delete(j);
    cJSON_Delete(expect(&c, &at, "response.done", 20000));
    pthread_mutex_lock(&msgs_mu);
    assert_non_null(strstr(last_msgs, "assistant: Sure."));
    assert_null(strstr(last_msgs, "umbrella"));
    pthread_mutex_unlock(&msgs_mu);
    free(x);
    free(y);
    vf_rt_session_free(s);
    coll_free(&c);
    vf_voice_free(v);
    llm_delay_ms = 2;
}

static int teardown(void **state) {
    vt_espeak_free();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed),       cmocka_unit_test(test_turn_both),
        cmocka_unit_test(test_turn_ga_16k),     cmocka_unit_test(test_turn_beta),
        cmocka_unit_test(test_text_only_manual), cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_barge_in),        cmocka_unit_test(test_barge_in_playback),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
