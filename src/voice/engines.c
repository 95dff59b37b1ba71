/* engines.c - the dispatch side of engines.h: each call goes through the
 * backend's vtable. */
#include "engines.h"

#include <string.h>

void vf__utf8_sanitize(char *s) {
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        int len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        bool ok = len > 0;
        for (int i = 1; ok && i < len; i++)
            ok = (p[i] & 0xC0) == 0x80;
        if (ok && len == 2)
            ok = *p >= 0xC2; /* no overlong forms */
        if (ok && len == 3) {
            uint32_t c = (uint32_t)(p[0] & 15) << 12 | (uint32_t)(p[1] & 63) << 6 | (p[2] & 63);
            ok = c >= 0x800 && (c < 0xD800 || c > 0xDFFF);
        }
        if (ok && len == 4) {
            uint32_t c = (uint32_t)(p[0] & 7) << 18 | (uint32_t)(p[1] & 63) << 12 |
                         (uint32_t)(p[2] & 63) << 6 | (p[3] & 63);
            ok = c >= 0x10000 && c <= 0x10FFFF;
        }
        if (!ok) {
            *p++ = '?';
            continue;
        }
        p += len;
    }
}

int vf_stt_transcribe(struct vf_stt *s, const float *pcm, size_t n, const struct vf_stt_opts *o,
                      struct vf_stt_result *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    struct vf_stt_opts def = {0};
    int rc = s->ops->transcribe(s, pcm, n, o ? o : &def, out, err, errlen);
    if (rc == VF_OK) {
        /* Whisper may split a character across tokens (and a random or
         * confused model writes anything): JSON and websocket text frames
         * need valid UTF-8. */
        if (out->text)
            vf__utf8_sanitize(out->text);
        for (int i = 0; i < out->n_segments; i++)
            if (out->segments[i].text)
                vf__utf8_sanitize(out->segments[i].text);
    }
    return rc;
}

void vf_stt_result_free(struct vf_stt_result *r) {
    if (!r)
        return;
    vf_free(r->text);
    for (int i = 0; i < r->n_segments; i++)
        vf_free(r->segments[i].text);
    vf_free(r->segments);
    memset(r, 0, sizeof *r);
}

void vf_stt_free(struct vf_stt *s) {
    if (s)
        s->ops->free(s);
}

int vf_tts_synth(struct vf_tts *t, const char *text, const char *voice, float speed,
                 vf_voice_pcm_cb cb, void *user_data, vf_voice_abort_fn abort, void *abort_data,
                 char *err, size_t errlen) {
    if (!(speed >= 0.25f && speed <= 4.0f))
        speed = 1.0f;
    return t->ops->synth(t, text, voice, speed, cb, user_data, abort, abort_data, err, errlen);
}

void vf_tts_free(struct vf_tts *t) {
    if (t)
        t->ops->free(t);
}

int vf_voice_llm_chat(struct vf_voice_llm *l, const struct vf_voice_msg *msgs, int n_msgs,
                const struct vf_voice_llm_opts *o, vf_voice_text_cb on_delta, void *user_data,
                char *err, size_t errlen) {
    struct vf_voice_llm_opts def = {.temperature = -1};
    return l->ops->chat(l, msgs, n_msgs, o ? o : &def, on_delta, user_data, err, errlen);
}

int vf_voice_llm_count_tokens(struct vf_voice_llm *l, const char *text) {
    int n = l->ops->count_tokens ? l->ops->count_tokens(l, text) : -1;
    if (n >= 0)
        return n;
    size_t b = strlen(text);
    return (int)VF_MIN((b + 2) / 3, (size_t)1 << 30);
}

void vf_voice_llm_free(struct vf_voice_llm *l) {
    if (l)
        l->ops->free(l);
}
