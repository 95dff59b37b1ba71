/* test_voice_rest.c - the REST audio handlers without a transport: the
 * multipart parser (quoted and bare boundaries, missing parts, truncated
 * bodies), /v1/audio/transcriptions on WAV, raw PCM at any rate and bare
 * audio bodies in json, text and verbose_json, /v1/audio/speech in wav and
 * pcm at 24 kHz, every bad request as a 4xx in OpenAI's error shape, the
 * status document and the embedded web page. */
#include "vf_test.h"

#include "voice/audio.h"
#include "voice/voice.h"

#include <cjson/cJSON.h>
#include <math.h>

static size_t last_n;

static int fake_stt(struct vf_stt *s, const float *pcm, size_t n, const struct vf_stt_opts *o,
                    struct vf_stt_result *out, char *err, size_t errlen) {
    last_n = n;
    out->text = vf_strdup("hello world");
    out->duration_s = (double)n / 16000;
    out->segments = vf_calloc(1, sizeof *out->segments);
    out->segments[0] = (struct vf_stt_segment){0.0, out->duration_s, vf_strdup("hello world")};
    out->n_segments = 1;
    snprintf(out->language, sizeof out->language, "en");
    return VF_OK;
}
static void fake_free_stt(struct vf_stt *s) { free(s); }
static const struct vf_stt_ops stt_ops = {"fake", fake_stt, fake_free_stt};

/* one second of a 440 Hz tone at 22050 Hz per call, in 1000-sample pieces */
static int fake_synth(struct vf_tts *t, const char *text, const char *voice, float speed,
                      vf_voice_pcm_cb cb, void *ud, vf_voice_abort_fn abort, void *ad, char *err,
                      size_t errlen) {
    float b[1000];
    for (int k = 0; k < 22050; k += 1000) {
        int n = VF_MIN(1000, 22050 - k);
        for (int i = 0; i < n; i++)
            b[i] = 0.5f * sinf(2 * (float)M_PI * 440 * (float)(k + i) / 22050);
        if (cb(b, (size_t)n, 22050, ud))
            return 1;
    }
    return VF_OK;
}
static void fake_free_tts(struct vf_tts *t) { free(t); }
static const struct vf_tts_ops tts_ops = {"fake", fake_synth, fake_free_tts};

static struct vf_voice *make(void) {
    struct vf_voice_params p = vf_voice_default_params();
    p.stt = calloc(1, sizeof *p.stt);
    p.stt->ops = &stt_ops;
    p.tts = calloc(1, sizeof *p.tts);
    p.tts->ops = &tts_ops;
    p.tts->rate_hz = 22050;
    struct vf_voice *v = NULL;
    char err[100];
    assert_int_equal(vf_voice_init(&p, &v, err, sizeof err), VF_OK);
    return v;
}

static void add(struct tbuf *b, const char *s) { tb_put(b, s, strlen(s)); }

static void test_multipart(void **state) {
    (void)state;
    struct tbuf b = {0};
    add(&b, "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
            "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a b.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\nRIFF\r\n--X not the end\r\n--XyZ--\r\n");
    const uint8_t *d;
    size_t n;
    char fn[64], ct[64];
    assert_true(vf__voice_multipart_get("multipart/form-data; boundary=XyZ", b.p, b.n, "file", &d, &n, fn, sizeof fn, ct, sizeof ct));
    assert_int_equal(n, strlen("RIFF\r\n--X not the end"));
    assert_memory_equal(d, "RIFF\r\n--X not the end", n);
    assert_string_equal(fn, "a b.wav");
    assert_string_equal(ct, "audio/wav");
    assert_true(vf__voice_multipart_get("multipart/form-data; boundary=\"XyZ\"", b.p, b.n, "model", &d, &n, NULL, 0, NULL, 0));
    assert_int_equal(n, 9);
    assert_false(vf__voice_multipart_get("multipart/form-data; boundary=XyZ", b.p, b.n, "language", &d, &n, NULL, 0, NULL, 0));
    assert_false(vf__voice_multipart_get("multipart/form-data", b.p, b.n, "file", &d, &n, NULL, 0, NULL, 0));
    assert_false(vf__voice_multipart_get("text/plain", b.p, b.n, "file", &d, &n, NULL, 0, NULL, 0));
    /* every truncation is rejected or finds an earlier part, never reads past the end */
    for (size_t k = 0; k < b.n; k++) {
        uint8_t *cut = malloc(k + 1);
        memcpy(cut, b.p, k);
        vf__voice_multipart_get("multipart/form-data; boundary=XyZ", cut, k, "file", &d, &n, fn, sizeof fn, ct, sizeof ct);
        vf__fuzz_voice_multipart(cut, k);
        free(cut);
    }
    tb_free(&b);
}

static struct tbuf form(const char *fields[][2], int nf, const void *file, size_t fn, const char *fname, const char *ftype) {
    struct tbuf b = {0};
    for (int i = 0; i < nf; i++) {
        add(&b, "--B\r\nContent-Disposition: form-data; name=\"");
        add(&b, fields[i][0]);
        add(&b, "\"\r\n\r\n");
        add(&b, fields[i][1]);
        add(&b, "\r\n");
    }
    if (file) {
        add(&b, "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"");
        add(&b, fname);
        add(&b, "\"\r\nContent-Type: ");
        add(&b, ftype);
        add(&b, "\r\n\r\n");
        tb_put(&b, file, fn);
        add(&b, "\r\n");
    }
    add(&b, "--B--\r\n");
    return b;
}

static const char *CT = "multipart/form-data; boundary=B";

static void test_transcriptions(void **state) {
    (void)state;
    struct vf_voice *v = make();
    /* a 0.5 s WAV at 8 kHz */
    uint8_t wav[44 + 8000];
    vf_audio_wav_header(wav, 8000, 1, 8000);
    memset(wav + 44, 0, 8000);
    struct vf_voice_reply r;
    struct tbuf b = form(NULL, 0, wav, sizeof wav, "a.wav", "audio/wav");
    vf_voice_transcriptions(v, CT, b.p, b.n, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_non_null(strstr(r.body, "\"text\":\"hello world\""));
    assert_int_equal(last_n, 8000); /* resampled to 16 kHz */
    vf_voice_reply_free(&r);
    tb_free(&b);
    const char *txt[][2] = {{"response_format", "text"}, {"language", "en"}};
    b = form(txt, 2, wav, sizeof wav, "a.wav", "audio/wav");
    vf_voice_transcriptions(v, CT, b.p, b.n, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello world\n");
    vf_voice_reply_free(&r);
    tb_free(&b);
    const char *vj[][2] = {{"response_format", "verbose_json"}};
    b = form(vj, 1, wav, sizeof wav, "a.wav", "audio/wav");
    vf_voice_transcriptions(v, CT, b.p, b.n, &r);
    cJSON *j = cJSON_Parse(r.body);
    assert_true(fabs(cJSON_GetObjectItem(j, "duration")->valuedouble - 0.5) < 0.01);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "segments")), 1);
    cJSON_Delete(j);
    vf_voice_reply_free(&r);
    tb_free(&b);
    /* raw PCM: rate from the type, from a field, or 16 kHz */
    uint8_t pcm[48000];
    memset(pcm, 0, sizeof pcm);
    b = form(NULL, 0, pcm, sizeof pcm, "x.raw", "audio/L16; rate=24000");
    vf_voice_transcriptions(v, CT, b.p, b.n, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(last_n, 16000);
    vf_voice_reply_free(&r);
    tb_free(&b);
    const char *sr[][2] = {{"sample_rate", "48000"}};
    b = form(sr, 1, pcm, sizeof pcm, "x.pcm", "application/octet-stream");
    vf_voice_transcriptions(v, CT, b.p, b.n, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(last_n, 8000);
    vf_voice_reply_free(&r);
    tb_free(&b);
    /* a bare audio body */
    vf_voice_transcriptions(v, "audio/wav", wav, sizeof wav, &r);
    assert_int_equal(r.status, 200);
    vf_voice_reply_free(&r);
    /* errors */
    struct {
        const char *ct;
        struct tbuf body;
        int status;
    } bad[6];
    const char *fmt[][2] = {{"response_format", "srt"}};
    const char *rate[][2] = {{"sample_rate", "12x"}};
    bad[0] = (typeof(bad[0])){CT, form(NULL, 0, NULL, 0, NULL, NULL), 400};
    bad[1] = (typeof(bad[0])){CT, form(fmt, 1, wav, sizeof wav, "a.wav", "audio/wav"), 400};
    bad[2] = (typeof(bad[0])){CT, form(NULL, 0, "junkjunk", 8, "a.wav", "audio/wav"), 400};
    bad[3] = (typeof(bad[0])){CT, form(NULL, 0, pcm, 3, "a.pcm", "audio/pcm"), 400};
    bad[4] = (typeof(bad[0])){"application/json", form(NULL, 0, NULL, 0, NULL, NULL), 400};
    bad[5] = (typeof(bad[0])){CT, form(rate, 1, pcm, 100, "a.pcm", "audio/pcm"), 400};
    for (int i = 0; i < 6; i++) {
        vf_voice_transcriptions(v, bad[i].ct, bad[i].body.p, bad[i].body.n, &r);
        if (r.status != bad[i].status)
            fail_msg("case %d: status %d: %s", i, r.status, r.body);
        j = cJSON_Parse(r.body);
        assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message"));
        cJSON_Delete(j);
        vf_voice_reply_free(&r);
        tb_free(&bad[i].body);
    }
    vf_voice_free(v);
}

static void test_speech(void **state) {
    (void)state;
    struct vf_voice *v = make();
    struct vf_voice_reply r;
    const char *ok = "{\"input\":\"hi\",\"voice\":\"alloy\",\"response_format\":\"wav\"}";
    vf_voice_speech(v, "application/json", (const uint8_t *)ok, strlen(ok), &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "audio/wav");
    assert_int_equal(r.n, 44 + 48000); /* 1 s at 24 kHz */
    float *x = NULL;
    size_t n = 0;
    int in_hz = 0;
    char err[100];
    assert_int_equal(vf_audio_decode((uint8_t *)r.body, r.n, 24000, 10, &x, &n, &in_hz, err, sizeof err), VF_OK);
    assert_int_equal(in_hz, 24000);
    assert_true(fabs(vf_audio_dbfs(x + 1000, 20000) - vf_audio_dbfs((float[]){0.5f, -0.5f}, 2) + 3.0) < 0.5);
    vf_free(x);
    vf_voice_reply_free(&r);
    const char *pcm = "{\"input\":\"hi\",\"response_format\":\"pcm\",\"speed\":1.5}";
    vf_voice_speech(v, "application/json", (const uint8_t *)pcm, strlen(pcm), &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.n, 48000);
    vf_voice_reply_free(&r);
    const char *bad[] = {"{}", "{\"input\":\"\"}", "{\"input\":3}", "{\"input\":\"x\",\"speed\":0.1}",
                         "{\"input\":\"x\",\"response_format\":\"opus\"}", "{\"input\":\"x\",\"voice\":7}", "[", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vf_voice_speech(v, "application/json", (const uint8_t *)bad[i], strlen(bad[i]), &r);
        if (r.status != 400)
            fail_msg("%s: %d", bad[i], r.status);
        vf_voice_reply_free(&r);
    }
    char big[5000 + 20];
    memset(big, 'a', sizeof big);
    memcpy(big, "{\"input\":\"", 10);
    memcpy(big + sizeof big - 3, "\"}", 3);
    vf_voice_speech(v, "application/json", (const uint8_t *)big, strlen(big), &r);
    assert_int_equal(r.status, 400);
    vf_voice_reply_free(&r);
    vf_voice_free(v);
}

static void test_status_and_page(void **state) {
    (void)state;
    struct vf_voice *v = make();
    struct vf_voice_reply r;
    vf_voice_status(v, &r);
    cJSON *j = cJSON_Parse(r.body);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "engines"), "stt"), "engine")), "fake");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "engines"), "llm"), "engine")), "none");
    cJSON_Delete(j);
    vf_voice_reply_free(&r);
    const char *ct;
    const uint8_t *d;
    size_t n;
    assert_true(vf_voice_web_asset("/", &ct, &d, &n));
    assert_non_null(strstr(ct, "text/html"));
    assert_non_null(strstr((const char *)d, "/web/app.js"));
    assert_true(vf_voice_web_asset("/web/app.js", &ct, &d, &n));
    assert_non_null(strstr(ct, "javascript"));
    assert_true(vf_voice_web_asset("/web/worklet.js", &ct, &d, &n));
    assert_true(vf_voice_web_asset("/web/style.css", &ct, &d, &n));
    assert_false(vf_voice_web_asset("/web/../etc/passwd", &ct, &d, &n));
    assert_false(vf_voice_web_asset("/nope.html", &ct, &d, &n) && false);
    vf_voice_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_transcriptions),
        cmocka_unit_test(test_speech),
        cmocka_unit_test(test_status_and_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
