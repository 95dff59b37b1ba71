/* llm_remote.c - the LLM stage on an OpenAI-compatible server: POST
 * {base}/chat/completions with stream=true, reading the Server-Sent Events
 * as they arrive (lines split across reads are buffered, bounded) and
 * handing each choices[0].delta.content to the caller. See engines.h. */
#include "engines.h"
#include "httpc.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#define MAX_LINE (1024 * 1024)

struct llm_remote {
    struct vf_voice_llm base;
    char url[512];
    char api_key[256];
};

struct sse {
    vf_voice_text_cb cb;
    void *ud;
    char *line;
    size_t n, cap;
    bool done, stopped, bad;
    char err[200];
};

/* One complete line of the event stream. Returns false to stop. */
static bool sse_line(struct sse *s, const char *l, size_t n) {
    if (n < 5 || strncmp(l, "data:", 5))
        return true; /* comments, event:, id:, blank lines */
    l += 5;
    n -= 5;
    while (n && *l == ' ') {
        l++;
        n--;
    }
    if (n >= 6 && !strncmp(l, "[DONE]", 6)) {
        s->done = true;
        return true;
    }
    cJSON *j = cJSON_ParseWithLength(l, n);
    if (!j) {
        s->bad = true;
        snprintf(s->err, sizeof s->err, "remote LLM: bad event: %.80s", l);
        return false;
    }
    cJSON *e = cJSON_GetObjectItem(j, "error");
    if (e) {
        cJSON *m = cJSON_GetObjectItem(e, "message");
        snprintf(s->err, sizeof s->err, "remote LLM: %s",
                 cJSON_IsString(m) ? m->valuestring : "error event");
        s->bad = true;
        cJSON_Delete(j);
        return false;
    }
    cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "delta"), "content");
    bool go = true;
    if (cJSON_IsString(c) && c->valuestring[0])
        go = s->cb(c->valuestring, strlen(c->valuestring), s->ud) == 0;
    cJSON_Delete(j);
    if (!go)
        s->stopped = true;
    return go;
}

static bool on_data(const char *p, size_t n, void *u) {
    struct sse *s = u;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            size_t ln = s->n;
            if (ln && s->line[ln - 1] == '\r')
                ln--;
            bool go = sse_line(s, s->line ? s->line : "", ln);
            s->n = 0;
            if (!go)
                return false;
            continue;
        }
        if (s->n + 2 > s->cap) {
            if (s->cap >= MAX_LINE) {
                s->bad = true;
                snprintf(s->err, sizeof s->err, "remote LLM: event longer than %d bytes", MAX_LINE);
                return false;
            }
            size_t nc = VF_MIN(VF_MAX(s->cap * 2, (size_t)1024), (size_t)MAX_LINE);
            char *nl = vf_realloc(s->line, nc);
            if (!nl) {
                s->bad = true;
                snprintf(s->err, sizeof s->err, "out of memory");
                return false;
            }
            s->line = nl;
            s->cap = nc;
        }
        s->line[s->n++] = p[i];
    }
    return true;
}

static int rl_chat(struct vf_voice_llm *base, const struct vf_voice_msg *msgs, int n_msgs,
                   const struct vf_voice_llm_opts *o, vf_voice_text_cb cb, void *ud, char *err,
                   size_t errlen) {
    struct llm_remote *l = (struct llm_remote *)base;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", l->base.model);
    cJSON *arr = cJSON_AddArrayToObject(j, "messages");
    for (int i = 0; i < n_msgs; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", msgs[i].role);
        cJSON_AddStringToObject(m, "content", msgs[i].content);
        cJSON_AddItemToArray(arr, m);
    }
    cJSON_AddBoolToObject(j, "stream", 1);
    if (o->max_tokens > 0)
        cJSON_AddNumberToObject(j, "max_tokens", o->max_tokens);
    if (o->temperature >= 0)
        cJSON_AddNumberToObject(j, "temperature", o->temperature);
    char *body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!body)
        return VF_ERR_NOMEM;
    struct sse s = {.cb = cb, .ud = ud};
    struct vf_httpc_req r = {.url = l->url, .api_key = l->api_key,
                             .content_type = "application/json", .body = body,
                             .body_n = strlen(body), .timeout_ms = 600000, .on_data = on_data,
                             .user_data = &s, .max_body = 1024 * 1024, .abort = o->abort,
                             .abort_data = o->abort_data};
    long status = 0;
    char *resp = NULL;
    int rc = vf__httpc_post(&r, &status, &resp, NULL, err, errlen);
    if (rc == 1 && s.bad) {
        snprintf(err, errlen, "%s", s.err);
        rc = VF_ERR_BACKEND;
    } else if (rc == VF_OK && (status < 200 || status >= 300)) {
        vf__httpc_error_text(resp, status, err, errlen);
        rc = VF_ERR_BACKEND;
    } else if (rc == VF_OK && s.n) {
        sse_line(&s, s.line, s.n); /* a last line without its newline */
    }
    vf_free(resp);
    vf_free(s.line);
    cJSON_free(body);
    return rc;
}

static void rl_free(struct vf_voice_llm *base) { vf_free(base); }

static const struct vf_voice_llm_ops remote_ops = {"remote", rl_chat, NULL, rl_free};

int vf_voice_llm_remote_init(const char *base_url, const char *model, const char *api_key,
                       int ctx_tokens, struct vf_voice_llm **out, char *err, size_t errlen) {
    *out = NULL;
    struct llm_remote *l = vf_calloc(1, sizeof *l);
    if (!l)
        return VF_ERR_NOMEM;
    l->base.ops = &remote_ops;
    l->base.ctx_tokens = ctx_tokens > 0 ? ctx_tokens : 4096;
    if (!vf__httpc_url(base_url, "/chat/completions", l->url, sizeof l->url)) {
        snprintf(err, errlen, "URL too long");
        vf_free(l);
        return VF_ERR_ARG;
    }
    snprintf(l->base.model, sizeof l->base.model, "%s", model && *model ? model : "default");
    if (api_key)
        snprintf(l->api_key, sizeof l->api_key, "%s", api_key);
    *out = &l->base;
    return VF_OK;
}
