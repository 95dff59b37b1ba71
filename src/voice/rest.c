/* rest.c - the OpenAI audio endpoints served from the configured engines:
 * POST /v1/audio/transcriptions (multipart, RFC 7578) and POST
 * /v1/audio/speech. Transport-independent: a handler takes the request's
 * Content-Type and body and fills a vf_voice_reply. See voice.h. */
#include "audio.h"
#include "voice.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_TRANSCRIBE_S 3600.0
#define MAX_SPEECH_INPUT 4096     /* characters, as OpenAI's limit */
#define MAX_SPEECH_S 600          /* audio one request may produce */
#define SPEECH_RATE 24000         /* OpenAI's pcm format */

/* ==== Replies ============================================================ */

static void reply_json(struct vf_voice_reply *out, int status, cJSON *o) {
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    out->status = t ? status : 500;
    out->content_type = "application/json";
    out->body = t ? vf_strdup(t) : NULL;
    out->n = out->body ? strlen(out->body) : 0;
    cJSON_free(t);
}

static void reply_error(struct vf_voice_reply *out, int status, const char *type,
                        const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#include <stdarg.h>
static void reply_error(struct vf_voice_reply *out, int status, const char *type,
                        const char *param, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    if (param)
        cJSON_AddStringToObject(e, "param", param);
    else
        cJSON_AddNullToObject(e, "param");
    cJSON_AddNullToObject(e, "code");
    reply_json(out, status, o);
}

/* ==== Multipart ========================================================== */

/* Copy the value of parameter key ("boundary", "name" ...) from a header
 * value such as `form-data; name="file"; filename="a.wav"`. */
static bool header_param(const char *h, size_t hn, const char *key, char *out, size_t n) {
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl < hn; i++) {
        if ((i == 0 || h[i - 1] == ';' || h[i - 1] == ' ' || h[i - 1] == '\t') &&
            !strncasecmp(h + i, key, kl) && h[i + kl] == '=') {
            size_t j = i + kl + 1, k = 0;
            bool q = j < hn && h[j] == '"';
            if (q)
                j++;
            while (j < hn && (q ? h[j] != '"' : (h[j] != ';' && h[j] != ' ' && h[j] != '\r'))) {
                if (k + 1 >= n)
                    return false;
                out[k++] = h[j++];
            }
            out[k] = '\0';
            return k > 0;
        }
    }
    return false;
}

static const uint8_t *mem_find(const uint8_t *h, size_t hn, const char *needle, size_t nn) {
    if (nn == 0 || hn < nn)
        return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == (uint8_t)needle[0] && !memcmp(h + i, needle, nn))
            return h + i;
    return NULL;
}

bool vf__voice_multipart_get(const char *content_type, const uint8_t *body, size_t n,
                             const char *name, const uint8_t **data, size_t *dn, char *filename,
                             size_t fn_len, char *ctype, size_t ct_len) {
    if (!content_type || strncasecmp(content_type, "multipart/form-data", 19))
        return false;
    char bnd[80];
    if (!header_param(content_type, strlen(content_type), "boundary", bnd, sizeof bnd - 4))
        return false;
    char delim[96];
    int dl = snprintf(delim, sizeof delim, "--%s", bnd);
    const uint8_t *p = mem_find(body, n, delim, (size_t)dl);
    const uint8_t *end = body + n;
    while (p) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return false; /* closing delimiter */
        const uint8_t *hs = mem_find(p, (size_t)(end - p), "\r\n", 2);
        if (!hs)
            return false;
        hs += 2;
        const uint8_t *he = mem_find(hs, (size_t)(end - hs), "\r\n\r\n", 4);
        if (!he)
            return false;
        const uint8_t *ds = he + 4;
        char nd[100];
        int ndl = snprintf(nd, sizeof nd, "\r\n--%s", bnd);
        const uint8_t *de = mem_find(ds, (size_t)(end - ds), nd, (size_t)ndl);
        if (!de)
            return false;
        /* the headers of this part, one line at a time */
        char pname[128] = "", pfile[256] = "", pct[128] = "";
        const uint8_t *l = hs;
        while (l < he + 2) {
            const uint8_t *le = mem_find(l, (size_t)(he + 2 - l), "\r\n", 2);
            if (!le)
                break;
            size_t ll = (size_t)(le - l);
            if (ll > 20 && !strncasecmp((const char *)l, "Content-Disposition:", 20)) {
                header_param((const char *)l + 20, ll - 20, "name", pname, sizeof pname);
                header_param((const char *)l + 20, ll - 20, "filename", pfile, sizeof pfile);
            } else if (ll > 13 && !strncasecmp((const char *)l, "Content-Type:", 13)) {
                size_t k = 13;
                while (k < ll && l[k] == ' ')
                    k++;
                snprintf(pct, sizeof pct, "%.*s", (int)(ll - k), (const char *)l + k);
            }
            l = le + 2;
        }
        if (!strcmp(pname, name)) {
            *data = ds;
            *dn = (size_t)(de - ds);
            if (filename)
                snprintf(filename, fn_len, "%s", pfile);
            if (ctype)
                snprintf(ctype, ct_len, "%s", pct);
            return true;
        }
        p = de + 2;
    }
    return false;
}

int vf__fuzz_voice_multipart(const uint8_t *data, size_t n) {
    /* first line: the Content-Type, the rest: the body */
    const uint8_t *nl = memchr(data, '\n', n);
    if (!nl)
        return 0;
    char ct[256];
    snprintf(ct, sizeof ct, "%.*s", (int)VF_MIN((size_t)(nl - data), sizeof ct - 1), (const char *)data);
    const uint8_t *d;
    size_t dn;
    char fn[64], pct[64];
    vf__voice_multipart_get(ct, nl + 1, n - (size_t)(nl + 1 - data), "file", &d, &dn, fn, sizeof fn,
                            pct, sizeof pct);
    return 0;
}

/* A text field of the form as a NUL-terminated string (cut to n). */
static bool field(const char *ct, const uint8_t *body, size_t bn, const char *name, char *out,
                  size_t n) {
    const uint8_t *d;
    size_t dn;
    if (!vf__voice_multipart_get(ct, body, bn, name, &d, &dn, NULL, 0, NULL, 0))
        return false;
    snprintf(out, n, "%.*s", (int)VF_MIN(dn, n - 1), (const char *)d);
    return true;
}

/* ==== Transcriptions ===================================================== */

static bool is_raw_pcm(const char *ctype, const char *filename, int *rate) {
    char r[16];
    bool raw = false;
    if (ctype && (!strncasecmp(ctype, "audio/pcm", 9) || !strncasecmp(ctype, "audio/l16", 9) ||
                  !strncasecmp(ctype, "audio/raw", 9)))
        raw = true;
    if (filename) {
        const char *dot = strrchr(filename, '.');
        if (dot && (!strcasecmp(dot, ".pcm") || !strcasecmp(dot, ".raw") || !strcasecmp(dot, ".s16")))
            raw = true;
    }
    if (raw && ctype && header_param(ctype, strlen(ctype), "rate", r, sizeof r)) {
        int v = 0;
        for (const char *p = r; *p && isdigit((unsigned char)*p) && v < 1000000; p++)
            v = v * 10 + (*p - '0');
        if (v)
            *rate = v;
    }
    return raw;
}

void vf_voice_transcriptions(struct vf_voice *v, const char *content_type, const uint8_t *body,
                             size_t n, struct vf_voice_reply *out) {
    memset(out, 0, sizeof *out);
    struct vf_stt *stt = vf_voice_get_stt(v);
    if (!stt) {
        reply_error(out, 501, "invalid_request_error", NULL,
                    "this server has no speech-to-text engine (start it with --stt)");
        return;
    }
    const char *ct = content_type ? content_type : "";
    const uint8_t *file = NULL;
    size_t fn = 0;
    char filename[256] = "", fct[128] = "", fmt[32] = "json", lang[16] = "", prompt[1024] = "";
    char rate_s[16] = "", temp_s[16] = "";
    if (!strncasecmp(ct, "multipart/form-data", 19)) {
        if (!vf__voice_multipart_get(ct, body, n, "file", &file, &fn, filename, sizeof filename,
                                     fct, sizeof fct)) {
            reply_error(out, 400, "invalid_request_error", "file",
                        "a multipart field \"file\" with the audio is required");
            return;
        }
        field(ct, body, n, "response_format", fmt, sizeof fmt);
        field(ct, body, n, "language", lang, sizeof lang);
        field(ct, body, n, "prompt", prompt, sizeof prompt);
        field(ct, body, n, "sample_rate", rate_s, sizeof rate_s);
        field(ct, body, n, "temperature", temp_s, sizeof temp_s);
    } else if (!strncasecmp(ct, "audio/", 6) || !strncasecmp(ct, "application/octet-stream", 24)) {
        file = body;
        fn = n;
        snprintf(fct, sizeof fct, "%s", ct);
    } else {
        reply_error(out, 400, "invalid_request_error", NULL,
                    "send multipart/form-data with a \"file\" field (or an audio/* body)");
        return;
    }
    if (strcmp(fmt, "json") && strcmp(fmt, "text") && strcmp(fmt, "verbose_json")) {
        reply_error(out, 400, "invalid_request_error", "response_format",
                    "response_format must be json, text or verbose_json");
        return;
    }
    float *pcm = NULL;
    size_t ns = 0;
    char err[300] = "";
    int rate = 16000;
    if (rate_s[0]) {
        int r = 0;
        for (const char *p = rate_s; *p; p++) {
            if (!isdigit((unsigned char)*p) || r > 1000000) {
                r = -1;
                break;
            }
            r = r * 10 + (*p - '0');
        }
        if (r < VF_AUDIO_MIN_RATE_HZ || r > VF_AUDIO_MAX_RATE_HZ) {
            reply_error(out, 400, "invalid_request_error", "sample_rate", "sample_rate out of range");
            return;
        }
        rate = r;
    }
    if (is_raw_pcm(fct, filename, &rate)) {
        if (fn % 2) {
            reply_error(out, 400, "invalid_request_error", "file",
                        "raw PCM16 audio must have an even number of bytes");
            return;
        }
        if (rate < VF_AUDIO_MIN_RATE_HZ || rate > VF_AUDIO_MAX_RATE_HZ ||
            (double)fn / 2 / rate > MAX_TRANSCRIBE_S) {
            reply_error(out, 400, "invalid_request_error", "file", "raw PCM: bad rate or too long");
            return;
        }
        float *raw = vf_malloc(VF_MAX(fn / 2, (size_t)1) * sizeof *raw);
        if (!raw) {
            reply_error(out, 500, "server_error", NULL, "out of memory");
            return;
        }
        vf_audio_s16le_to_f32(file, fn / 2, raw);
        if (rate == 16000) {
            pcm = raw;
            ns = fn / 2;
        } else {
            int rc = vf_audio_resample(raw, fn / 2, rate, 16000, &pcm, &ns);
            vf_free(raw);
            if (rc) {
                reply_error(out, 500, "server_error", NULL, "cannot resample");
                return;
            }
        }
    } else {
        int rc = vf_audio_decode(file, fn, 16000, MAX_TRANSCRIBE_S, &pcm, &ns, NULL, err,
                                 sizeof err);
        if (rc) {
            reply_error(out, rc == VF_ERR_NOMEM ? 500 : 400, "invalid_request_error", "file",
                        "%s", err);
            return;
        }
    }
    struct vf_stt_opts o = {.language = lang[0] ? lang : vf_voice_params(v)->language,
                            .prompt = prompt[0] ? prompt : NULL};
    if (temp_s[0]) {
        float t = 0;
        if (sscanf(temp_s, "%f", &t) == 1 && t >= 0 && t <= 1)
            o.temperature = t;
    }
    struct vf_stt_result r = {0};
    int rc = vf_stt_transcribe(stt, pcm, ns, &o, &r, err, sizeof err);
    vf_free(pcm);
    if (rc) {
        reply_error(out, rc == VF_ERR_ARG || rc == VF_ERR_TOOBIG ? 400 : 500,
                    rc == VF_ERR_ARG ? "invalid_request_error" : "server_error", NULL,
                    "transcription failed: %s", err[0] ? err : vf_status_str(rc));
        return;
    }
    if (!strcmp(fmt, "text")) {
        size_t l = strlen(r.text);
        out->status = 200;
        out->content_type = "text/plain; charset=utf-8";
        out->body = vf_malloc(l + 2);
        if (out->body) {
            memcpy(out->body, r.text, l);
            out->body[l] = '\n';
            out->body[l + 1] = '\0';
            out->n = l + 1;
        } else {
            out->status = 500;
        }
    } else {
        cJSON *o2 = cJSON_CreateObject();
        if (!strcmp(fmt, "verbose_json")) {
            cJSON_AddStringToObject(o2, "task", "transcribe");
            cJSON_AddStringToObject(o2, "language", r.language);
            cJSON_AddNumberToObject(o2, "duration", r.duration_s);
        }
        cJSON_AddStringToObject(o2, "text", r.text);
        if (!strcmp(fmt, "verbose_json")) {
            cJSON *segs = cJSON_AddArrayToObject(o2, "segments");
            for (int i = 0; i < r.n_segments; i++) {
                cJSON *sg = cJSON_CreateObject();
                cJSON_AddNumberToObject(sg, "id", i);
                cJSON_AddNumberToObject(sg, "seek", 0);
                cJSON_AddNumberToObject(sg, "start", r.segments[i].start_s);
                cJSON_AddNumberToObject(sg, "end", r.segments[i].end_s);
                cJSON_AddStringToObject(sg, "text", r.segments[i].text ? r.segments[i].text : "");
                cJSON_AddArrayToObject(sg, "tokens");
                cJSON_AddNumberToObject(sg, "temperature", o.temperature);
                cJSON_AddItemToArray(segs, sg);
            }
        }
        cJSON *us = cJSON_AddObjectToObject(o2, "usage");
        cJSON_AddStringToObject(us, "type", "duration");
        cJSON_AddNumberToObject(us, "seconds", r.duration_s);
        reply_json(out, 200, o2);
    }
    vf_stt_result_free(&r);
}

/* ==== Speech ============================================================= */

struct collect {
    struct vf_pcmbuf b;
    int rate;
    bool full;
};

static int collect_pcm(const float *pcm, size_t n, int rate, void *u) {
    struct collect *c = u;
    c->rate = rate;
    if (vf_pcmbuf_append(&c->b, pcm, n)) {
        c->full = true;
        return 1;
    }
    return 0;
}

void vf_voice_speech(struct vf_voice *v, const char *content_type, const uint8_t *body, size_t n,
                     struct vf_voice_reply *out) {
    memset(out, 0, sizeof *out);
    struct vf_tts *tts = vf_voice_get_tts(v);
    if (!tts) {
        reply_error(out, 501, "invalid_request_error", NULL,
                    "this server has no text-to-speech engine (start it with --tts)");
        return;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)body, n);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        reply_error(out, 400, "invalid_request_error", NULL, "the body must be a JSON object");
        return;
    }
    cJSON *input = cJSON_GetObjectItem(j, "input"), *voice = cJSON_GetObjectItem(j, "voice");
    cJSON *speed = cJSON_GetObjectItem(j, "speed"), *fmt = cJSON_GetObjectItem(j, "response_format");
    const char *f = cJSON_IsString(fmt) ? fmt->valuestring : "wav";
    if (!cJSON_IsString(input) || !input->valuestring[0]) {
        reply_error(out, 400, "invalid_request_error", "input", "input must be a non-empty string");
        goto out;
    }
    if (strlen(input->valuestring) > MAX_SPEECH_INPUT) {
        reply_error(out, 400, "invalid_request_error", "input",
                    "input is longer than %d characters", MAX_SPEECH_INPUT);
        goto out;
    }
    if (voice && !cJSON_IsString(voice)) {
        reply_error(out, 400, "invalid_request_error", "voice", "voice must be a string");
        goto out;
    }
    if (speed && (!cJSON_IsNumber(speed) || speed->valuedouble < 0.25 || speed->valuedouble > 4.0)) {
        reply_error(out, 400, "invalid_request_error", "speed", "speed must be 0.25..4.0");
        goto out;
    }
    if ((fmt && !cJSON_IsString(fmt)) || (strcmp(f, "wav") && strcmp(f, "pcm"))) {
        reply_error(out, 400, "invalid_request_error", "response_format",
                    "response_format must be wav or pcm");
        goto out;
    }
    struct collect c = {.rate = tts->rate_hz};
    vf_pcmbuf_init(&c.b, (size_t)MAX_SPEECH_S * 48000);
    char err[300] = "";
    int rc = vf_tts_synth(tts, input->valuestring, voice ? voice->valuestring : NULL,
                          speed ? (float)speed->valuedouble : 1.0f, collect_pcm, &c, NULL, NULL,
                          err, sizeof err);
    if (rc < 0 || (rc == 1 && !c.full)) {
        vf_pcmbuf_free(&c.b);
        reply_error(out, 500, "server_error", NULL, "speech synthesis failed: %s", err);
        goto out;
    }
    float *pcm = c.b.p;
    size_t ns = c.b.n;
    float *res = NULL;
    if (c.rate != SPEECH_RATE && ns) {
        if (vf_audio_resample(c.b.p, c.b.n, c.rate, SPEECH_RATE, &res, &ns)) {
            vf_pcmbuf_free(&c.b);
            reply_error(out, 500, "server_error", NULL, "cannot resample");
            goto out;
        }
        pcm = res;
    }
    bool wav = !strcmp(f, "wav");
    size_t hdr = wav ? 44 : 0;
    out->body = vf_malloc(hdr + ns * 2 + 1);
    if (!out->body) {
        vf_free(res);
        vf_pcmbuf_free(&c.b);
        reply_error(out, 500, "server_error", NULL, "out of memory");
        goto out;
    }
    if (wav)
        vf_audio_wav_header((uint8_t *)out->body, SPEECH_RATE, 1, (uint32_t)(ns * 2));
    vf_audio_f32_to_s16le(pcm, ns, (uint8_t *)out->body + hdr);
    out->n = hdr + ns * 2;
    out->status = 200;
    out->content_type = wav ? "audio/wav" : "audio/pcm";
    vf_free(res);
    vf_pcmbuf_free(&c.b);
out:
    cJSON_Delete(j);
}
