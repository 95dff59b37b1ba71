/* stt_remote.c - speech-to-text on an OpenAI-compatible server (POST
 * {base}/audio/transcriptions, multipart: speaches/faster-whisper, OpenAI,
 * another voxfit). The utterance goes up as a 16 kHz PCM16 WAV file. See
 * engines.h. */
#include "audio.h"
#include "engines.h"
#include "httpc.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

struct stt_remote {
    struct vf_stt base;
    char url[512];
    char api_key[256];
};

static char *trim_dup(const char *s) {
    while (*s == ' ' || *s == '\n' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t'))
        n--;
    return vf_strndup(s, n);
}

static int rs_transcribe(struct vf_stt *base, const float *pcm, size_t n,
                         const struct vf_stt_opts *o, struct vf_stt_result *out, char *err,
                         size_t errlen) {
    struct stt_remote *s = (struct stt_remote *)base;
    if (n > (size_t)VF_AUDIO_MAX_STT_SAMPLES) {
        snprintf(err, errlen, "audio too long");
        return VF_ERR_TOOBIG;
    }
    size_t bytes = 44 + 2 * n;
    uint8_t *wav = vf_malloc(bytes);
    if (!wav)
        return VF_ERR_NOMEM;
    vf_audio_wav_header(wav, 16000, 1, (uint32_t)(2 * n));
    vf_audio_f32_to_s16le(pcm, n, wav + 44);
    int rc = VF_OK;
    char *resp = NULL;
    cJSON *j = NULL;
    CURL *dummy = curl_easy_init(); /* curl_mime needs an easy handle to be made */
    curl_mime *mime = dummy ? curl_mime_init(dummy) : NULL;
    if (!mime) {
        rc = VF_ERR_NOMEM;
        goto out;
    }
    curl_mimepart *part = curl_mime_addpart(mime);
    curl_mime_name(part, "file");
    curl_mime_filename(part, "audio.wav");
    curl_mime_type(part, "audio/wav");
    curl_mime_data(part, (const char *)wav, bytes);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "model");
    curl_mime_data(part, s->base.model, CURL_ZERO_TERMINATED);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "response_format");
    curl_mime_data(part, "json", CURL_ZERO_TERMINATED);
    if (o->language && *o->language && strcmp(o->language, "auto")) {
        part = curl_mime_addpart(mime);
        curl_mime_name(part, "language");
        curl_mime_data(part, o->language, CURL_ZERO_TERMINATED);
    }
    if (o->prompt && *o->prompt) {
        part = curl_mime_addpart(mime);
        curl_mime_name(part, "prompt");
        curl_mime_data(part, o->prompt, CURL_ZERO_TERMINATED);
    }
    struct vf_httpc_req r = {.url = s->url, .api_key = s->api_key, .mime = mime,
                             .timeout_ms = 300000, .max_body = 4 * 1024 * 1024,
                             .abort = o->abort, .abort_data = o->abort_data};
    long status = 0;
    rc = vf__httpc_post(&r, &status, &resp, NULL, err, errlen);
    if (rc)
        goto out;
    if (status < 200 || status >= 300) {
        vf__httpc_error_text(resp, status, err, errlen);
        rc = VF_ERR_BACKEND;
        goto out;
    }
    j = resp ? cJSON_Parse(resp) : NULL;
    cJSON *text = cJSON_GetObjectItem(j, "text");
    if (!cJSON_IsString(text)) {
        snprintf(err, errlen, "remote STT: no \"text\" in the response");
        rc = VF_ERR_BACKEND;
        goto out;
    }
    out->text = trim_dup(text->valuestring);
    if (!out->text) {
        rc = VF_ERR_NOMEM;
        goto out;
    }
    cJSON *lang = cJSON_GetObjectItem(j, "language");
    snprintf(out->language, sizeof out->language, "%s",
             cJSON_IsString(lang) ? lang->valuestring : (o->language ? o->language : "en"));
    out->duration_s = (double)n / 16000.0;
out:
    cJSON_Delete(j);
    vf_free(resp);
    if (mime)
        curl_mime_free(mime);
    if (dummy)
        curl_easy_cleanup(dummy);
    vf_free(wav);
    return rc;
}

static void rs_free(struct vf_stt *base) { vf_free(base); }

static const struct vf_stt_ops remote_ops = {"remote", rs_transcribe, rs_free};

int vf_stt_remote_init(const char *base_url, const char *model, const char *api_key,
                       struct vf_stt **out, char *err, size_t errlen) {
    *out = NULL;
    struct stt_remote *s = vf_calloc(1, sizeof *s);
    if (!s)
        return VF_ERR_NOMEM;
    s->base.ops = &remote_ops;
    if (!vf__httpc_url(base_url, "/audio/transcriptions", s->url, sizeof s->url)) {
        snprintf(err, errlen, "URL too long");
        vf_free(s);
        return VF_ERR_ARG;
    }
    snprintf(s->base.model, sizeof s->base.model, "%s", model && *model ? model : "whisper-1");
    if (api_key)
        snprintf(s->api_key, sizeof s->api_key, "%s", api_key);
    *out = &s->base;
    return VF_OK;
}
