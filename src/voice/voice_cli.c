/* voice_cli.c - builds the voice loop from `voxfit serve`'s options and
 * registers its routes (see voice_cli.h). */
#include "voice_cli.h"

#include "core/log.h"
#include "voice_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_url(const char *s) {
    return s && (!strncmp(s, "http://", 7) || !strncmp(s, "https://", 8));
}

int vf_voice_serve_attach(struct vf_http_server *http, struct vf_llm *stage,
                          const struct vf_voice_cli *c, struct vf_voice **out, char *err,
                          size_t errlen) {
    *out = NULL;
    struct vf_voice_params p = vf_voice_default_params();
    int rc = VF_OK;
    if (c->stt && strcmp(c->stt, "none")) {
        if (is_url(c->stt))
            rc = vf_stt_remote_init(c->stt, c->stt_model, getenv("VOXFIT_STT_API_KEY"), &p.stt,
                                    err, errlen);
        else
            rc = vf_stt_whisper_init(c->stt, VF_MIN(VF_MAX(c->sessions, 1), 2), c->stt_threads,
                                     &p.stt, err, errlen);
        if (rc)
            goto fail;
    }
    if (c->tts && strcmp(c->tts, "none")) {
        if (is_url(c->tts))
            rc = vf_tts_remote_init(c->tts, c->tts_model, c->voice, getenv("VOXFIT_TTS_API_KEY"),
                                    24000, &p.tts, err, errlen);
        else if (!strcmp(c->tts, "espeak"))
            rc = vf_tts_espeak_init(c->voice, NULL, &p.tts, err, errlen);
        else {
            snprintf(err, errlen, "--tts: espeak, none or an http(s)://.../v1 URL, not '%s'", c->tts);
            rc = VF_ERR_ARG;
        }
        if (rc)
            goto fail;
    }
    if (stage) {
        rc = vf_voice_llm_engine_init(stage, 0, &p.llm, err, errlen);
        if (rc)
            goto fail;
    }
    if (c->instructions)
        p.instructions = c->instructions;
    p.voice = c->voice;
    p.language = c->language && strcmp(c->language, "auto") ? c->language : NULL;
    p.max_sessions = c->sessions;
    p.silence_duration_ms = c->silence_ms;
    p.max_output_tokens = c->max_tokens;
    struct vf_voice *v = NULL;
    rc = vf_voice_init(&p, &v, err, errlen); /* owns the engines from here, even on failure */
    if (rc)
        return rc;
    rc = vf_voice_register(http, v, err, errlen);
    if (rc) {
        vf_voice_free(v);
        return rc;
    }
    vf_log(VF_LOG_INFO, "voice", "voice loop: stt %s, tts %s, llm %s; page at /, realtime at /v1/realtime",
           p.stt ? p.stt->ops->name : "none", p.tts ? p.tts->ops->name : "none",
           p.llm ? p.llm->model : "none");
    *out = v;
    return VF_OK;
fail:
    vf_stt_free(p.stt);
    vf_tts_free(p.tts);
    vf_voice_llm_free(p.llm);
    return rc;
}
