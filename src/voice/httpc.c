/* httpc.c - blocking POST with a fast abort, on libcurl's multi interface
 * (see httpc.h). */
#include "httpc.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

struct sink {
    const struct vf_httpc_req *r;
    CURL *h;
    char *buf;
    size_t n, cap;
    bool stopped, toobig, nomem;
};

static size_t on_write(char *p, size_t size, size_t nmemb, void *u) {
    struct sink *s = u;
    size_t n = size * nmemb;
    long st = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &st);
    if (s->r->on_data && st >= 200 && st < 300) {
        if (!s->r->on_data(p, n, s->r->user_data)) {
            s->stopped = true;
            return 0;
        }
        return n;
    }
    if (s->n + n + 1 > s->r->max_body) {
        s->toobig = true;
        return 0;
    }
    if (s->n + n + 1 > s->cap) {
        size_t nc = VF_MAX(s->cap * 2, s->n + n + 1);
        nc = VF_MIN(VF_MAX(nc, (size_t)4096), s->r->max_body);
        char *nb = vf_realloc(s->buf, nc);
        if (!nb) {
            s->nomem = true;
            return 0;
        }
        s->buf = nb;
        s->cap = nc;
    }
    memcpy(s->buf + s->n, p, n);
    s->n += n;
    s->buf[s->n] = '\0';
    return n;
}

bool vf__httpc_url(const char *base, const char *path, char *out, size_t n) {
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    int k = snprintf(out, n, "%.*s%s", (int)bl, base, path);
    return k > 0 && (size_t)k < n;
}

void vf__httpc_error_text(const char *body, long status, char *err, size_t errlen) {
    cJSON *j = body ? cJSON_Parse(body) : NULL;
    cJSON *m = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message");
    if (cJSON_IsString(m))
        snprintf(err, errlen, "HTTP %ld: %s", status, m->valuestring);
    else
        snprintf(err, errlen, "HTTP %ld: %.200s", status, body ? body : "");
    cJSON_Delete(j);
}

int vf__httpc_post(const struct vf_httpc_req *r, long *status, char **body, size_t *body_n,
                   char *err, size_t errlen) {
    pthread_once(&curl_once, curl_init_once);
    *status = 0;
    if (body)
        *body = NULL;
    if (body_n)
        *body_n = 0;
    int rc = VF_OK;
    struct curl_slist *hdrs = NULL;
    struct sink s = {.r = r};
    CURLM *m = curl_multi_init();
    CURL *h = curl_easy_init();
    if (!m || !h) {
        rc = VF_ERR_NOMEM;
        goto out;
    }
    s.h = h;
    char auth[600];
    if (r->api_key && *r->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", r->api_key);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (r->content_type && !r->mime) {
        char ct[200];
        snprintf(ct, sizeof ct, "Content-Type: %s", r->content_type);
        hdrs = curl_slist_append(hdrs, ct);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (r->mime) {
        curl_easy_setopt(h, CURLOPT_MIMEPOST, (curl_mime *)r->mime);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_n);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    if (r->timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_multi_add_handle(m, h);
    int running = 1;
    bool aborted = false;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            snprintf(err, errlen, "curl_multi_perform failed");
            rc = VF_ERR_IO;
            break;
        }
        if (!running)
            break;
        if (r->abort && r->abort(r->abort_data)) {
            aborted = true;
            break;
        }
        curl_multi_poll(m, NULL, 0, 20, NULL);
    }
    CURLcode cc = CURLE_OK;
    int left;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE)
            cc = msg->data.result;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_multi_remove_handle(m, h);
    if (rc)
        goto out;
    if (aborted || s.stopped) {
        rc = 1;
        goto out;
    }
    if (s.nomem) {
        rc = VF_ERR_NOMEM;
        goto out;
    }
    if (s.toobig) {
        snprintf(err, errlen, "response from %s larger than %zu bytes", r->url, r->max_body);
        rc = VF_ERR_TOOBIG;
        goto out;
    }
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", r->url, curl_easy_strerror(cc));
        rc = VF_ERR_IO;
        goto out;
    }
    if (body) {
        *body = s.buf;
        s.buf = NULL;
        if (body_n)
            *body_n = s.n;
    }
out:
    vf_free(s.buf);
    if (h)
        curl_easy_cleanup(h);
    if (m)
        curl_multi_cleanup(m);
    curl_slist_free_all(hdrs);
    return rc;
}
