/* tts_remote.c - text-to-speech from an OpenAI-compatible server
 * (POST {base}/audio/speech: Kokoro-FastAPI, speaches, another voxfit),
 * asking for raw PCM16 so audio streams to the caller as it arrives. See
 * engines.h. */
#include "engines.h"
#include "httpc.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

struct tts_remote {
    struct vf_tts base;
    char url[512];
    char api_key[256];
};

struct stream {
    vf_voice_pcm_cb cb;
    void *ud;
    int rate;
    uint8_t odd;                 /* a byte left from a split sample */
    bool has_odd;
    float block[2048];
};

static bool on_pcm(const char *p, size_t n, void *u) {
    struct stream *s = u;
    const uint8_t *b = (const uint8_t *)p;
    size_t k = 0;
    while (n) {
        uint8_t two[2];
        if (s->has_odd) {
            two[0] = s->odd;
            two[1] = b[0];
            b++;
            n--;
            s->has_odd = false;
            float f = (float)(int16_t)(uint16_t)(two[0] | two[1] << 8) / 32768.0f;
            s->block[k++] = f;
        }
        size_t take = VF_MIN(n / 2, VF_ARRAY_LEN(s->block) - k);
        for (size_t i = 0; i < take; i++)
            s->block[k + i] = (float)(int16_t)(uint16_t)(b[2 * i] | b[2 * i + 1] << 8) / 32768.0f;
        k += take;
        b += 2 * take;
        n -= 2 * take;
        if (n == 1) {
            s->odd = b[0];
            s->has_odd = true;
            n = 0;
        }
        if (k && (k == VF_ARRAY_LEN(s->block) || n == 0)) {
            if (s->cb(s->block, k, s->rate, s->ud))
                return false;
            k = 0;
        }
    }
    return true;
}

static int rt_synth(struct vf_tts *base, const char *text, const char *voice, float speed,
                    vf_voice_pcm_cb cb, void *ud, vf_voice_abort_fn abort, void *abort_data,
                    char *err, size_t errlen) {
    struct tts_remote *t = (struct tts_remote *)base;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", t->base.model);
    cJSON_AddStringToObject(j, "input", text);
    cJSON_AddStringToObject(j, "voice", voice && *voice ? voice : t->base.default_voice);
    cJSON_AddNumberToObject(j, "speed", speed);
    cJSON_AddStringToObject(j, "response_format", "pcm");
    cJSON_AddBoolToObject(j, "stream", 1);
    char *body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!body)
        return VF_ERR_NOMEM;
    struct stream *s = vf_calloc(1, sizeof *s);
    if (!s) {
        cJSON_free(body);
        return VF_ERR_NOMEM;
    }
    s->cb = cb;
    s->ud = ud;
    s->rate = t->base.rate_hz;
    struct vf_httpc_req r = {.url = t->url, .api_key = t->api_key, .content_type = "application/json",
                             .body = body, .body_n = strlen(body), .timeout_ms = 120000,
                             .on_data = on_pcm, .user_data = s, .max_body = 64 * 1024,
                             .abort = abort, .abort_data = abort_data};
    long status = 0;
    char *resp = NULL;
    int rc = vf__httpc_post(&r, &status, &resp, NULL, err, errlen);
    if (rc == VF_OK && (status < 200 || status >= 300)) {
        vf__httpc_error_text(resp, status, err, errlen);
        rc = VF_ERR_BACKEND;
    }
    vf_free(resp);
    vf_free(s);
    cJSON_free(body);
    return rc;
}

static void rt_free(struct vf_tts *base) { vf_free(base); }

static const struct vf_tts_ops remote_ops = {"remote", rt_synth, rt_free};

int vf_tts_remote_init(const char *base_url, const char *model, const char *voice,
                       const char *api_key, int rate_hz, struct vf_tts **out, char *err,
                       size_t errlen) {
    *out = NULL;
    if (rate_hz < 8000 || rate_hz > 48000) {
        snprintf(err, errlen, "remote TTS rate %d Hz out of range", rate_hz);
        return VF_ERR_ARG;
    }
    struct tts_remote *t = vf_calloc(1, sizeof *t);
    if (!t)
        return VF_ERR_NOMEM;
    t->base.ops = &remote_ops;
    t->base.rate_hz = rate_hz;
    if (!vf__httpc_url(base_url, "/audio/speech", t->url, sizeof t->url)) {
        snprintf(err, errlen, "URL too long");
        vf_free(t);
        return VF_ERR_ARG;
    }
    snprintf(t->base.model, sizeof t->base.model, "%s", model && *model ? model : "kokoro");
    snprintf(t->base.default_voice, sizeof t->base.default_voice, "%s",
             voice && *voice ? voice : "af_heart");
    if (api_key)
        snprintf(t->api_key, sizeof t->api_key, "%s", api_key);
    *out = &t->base;
    return VF_OK;
}
