/* httpc.h - the HTTP client the remote engines share: one POST on libcurl's
 * multi interface so that an abort function is polled every 20 ms (barge-in
 * must stop a remote LLM or TTS within 100 ms, and the easy interface only
 * checks its progress callback about once a second when the line is idle).
 * Responses stream to a callback or collect into a bounded buffer. */
#ifndef VF_VOICE_HTTPC_H
#define VF_VOICE_HTTPC_H

#include "engines.h"

struct curl_httppost;
struct curl_mime;

struct vf_httpc_req {
    const char *url;
    const char *api_key;         /* sent as "Authorization: Bearer KEY" (NULL: none) */
    const char *content_type;    /* of body */
    const void *body;
    size_t body_n;
    struct curl_mime *mime;      /* instead of body: a multipart form (caller frees) */
    long timeout_ms;             /* whole request (0: none) */
    /* Streaming: called with each piece of the response body as it comes,
     * only for a 2xx status; return false to stop (the call returns 1). */
    bool (*on_data)(const char *p, size_t n, void *user_data);
    void *user_data;
    size_t max_body;             /* collected body bound (non-2xx bodies too) */
    vf_voice_abort_fn abort;
    void *abort_data;
};

/* Perform the POST. Returns VF_OK (*status set; *body, if body is not NULL,
 * the collected response, vf_malloc'd, NUL-terminated, when on_data is NULL
 * or the status is not 2xx), 1 when aborted or stopped, VF_ERR_IO (cannot
 * connect, timeout: err says which), VF_ERR_TOOBIG, VF_ERR_NOMEM. */
int vf__httpc_post(const struct vf_httpc_req *r, long *status, char **body, size_t *body_n,
                   char *err, size_t errlen);

/* Join base ("http://h:p/v1" with or without a trailing '/') and path
 * ("/audio/speech") into out; false when it does not fit. */
bool vf__httpc_url(const char *base, const char *path, char *out, size_t n);

/* The "message" of an OpenAI error body, or the body's first 200 bytes. */
void vf__httpc_error_text(const char *body, long status, char *err, size_t errlen);

#endif
