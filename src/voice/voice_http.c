/* voice_http.c - plugs the voice loop into `voxfit serve`'s HTTP layer
 * (server/http.h): the web page, the realtime websocket and the audio
 * routes. The only file of src/voice/ that knows the transport. */
#include "voice_http.h"

#include "realtime.h"
#include "server/http.h"

#include <stdio.h>
#include <string.h>

/* The dialect chosen at the upgrade request, handed from the connect
 * callback to the ready callback: civetweb runs both on the connection's
 * own worker thread, one after the other. */
static _Thread_local int tl_dialect;

static int send_ws(void *ud, const char *json, size_t n) {
    return vf_ws_send(ud, VF_WS_TEXT, json, n) == VF_OK ? 0 : 1;
}

static int ws_connect(struct vf_http_req *r, void *ud) {
    const char *q = vf_http_query(r);
    const char *beta = vf_http_header(r, "OpenAI-Beta");
    tl_dialect = VF_RT_DIALECT_BOTH;
    if (beta && strstr(beta, "realtime=v1"))
        tl_dialect = VF_RT_DIALECT_BETA;
    if (q && strstr(q, "dialect=ga"))
        tl_dialect = VF_RT_DIALECT_GA;
    else if (q && strstr(q, "dialect=beta"))
        tl_dialect = VF_RT_DIALECT_BETA;
    else if (q && strstr(q, "dialect=both"))
        tl_dialect = VF_RT_DIALECT_BOTH;
    return 0;
}

static void ws_ready(struct vf_ws_conn *ws, void *ud) {
    struct vf_voice *v = ud;
    struct vf_rt_session *s = NULL;
    int rc = vf_rt_session_init(v, (enum vf_rt_dialect)tl_dialect, send_ws, ws, &s);
    if (rc) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "{\"type\":\"error\",\"event_id\":\"event_0\",\"error\":{\"type\":\"server_error\","
                 "\"code\":\"%s\",\"message\":\"%s\",\"param\":null,\"event_id\":null}}",
                 rc == VF_ERR_TOOBIG ? "session_limit" : "session_failed",
                 rc == VF_ERR_TOOBIG ? "too many realtime sessions are open" : vf_status_str(rc));
        vf_ws_send(ws, VF_WS_TEXT, msg, strlen(msg));
        vf_ws_send(ws, VF_WS_CLOSE, "\x03\xf0", 2); /* 1008 policy violation */
    }
    vf_ws_set_data(ws, s);
}

static bool ws_data(struct vf_ws_conn *ws, int opcode, const char *data, size_t n, void *ud) {
    struct vf_rt_session *s = vf_ws_get_data(ws);
    if (!s)
        return false;
    if (opcode == VF_WS_TEXT)
        return vf_rt_session_feed(s, data, n) == VF_OK;
    if (opcode == VF_WS_BINARY) {
        static const char msg[] = "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
                                  "\"code\":\"binary_not_supported\",\"message\":\"send JSON text "
                                  "events; audio goes base64 in input_audio_buffer.append\","
                                  "\"param\":null,\"event_id\":null}}";
        return vf_ws_send(ws, VF_WS_TEXT, msg, sizeof msg - 1) == VF_OK;
    }
    return true;
}

static void ws_close(struct vf_ws_conn *ws, void *ud) {
    vf_rt_session_free(vf_ws_get_data(ws));
    vf_ws_set_data(ws, NULL);
}

static int send_reply(struct vf_http_req *r, struct vf_voice_reply *rep) {
    int st = vf_http_respond(r, rep->status, rep->content_type, rep->body ? rep->body : "", rep->n,
                             NULL);
    vf_voice_reply_free(rep);
    return st;
}

static int read_body(struct vf_http_req *r, const char **body, size_t *n) {
    int rc = vf_http_read_body(r, body, n);
    if (rc == VF_ERR_TOOBIG)
        return vf_http_error(r, 413, NULL, "body_too_large", NULL, 0, "request body too large");
    if (rc)
        return vf_http_error(r, 408, NULL, NULL, NULL, 0, "could not read the request body");
    return 0;
}

static int h_transcriptions(struct vf_http_req *r, void *ud) {
    const char *body;
    size_t n;
    int st = read_body(r, &body, &n);
    if (st)
        return st;
    struct vf_voice_reply rep;
    vf_voice_transcriptions(ud, vf_http_header(r, "Content-Type"), (const uint8_t *)body, n, &rep);
    return send_reply(r, &rep);
}

static int h_speech(struct vf_http_req *r, void *ud) {
    const char *body;
    size_t n;
    int st = read_body(r, &body, &n);
    if (st)
        return st;
    struct vf_voice_reply rep;
    vf_voice_speech(ud, vf_http_header(r, "Content-Type"), (const uint8_t *)body, n, &rep);
    return send_reply(r, &rep);
}

static int h_status(struct vf_http_req *r, void *ud) {
    struct vf_voice_reply rep;
    vf_voice_status(ud, &rep);
    return send_reply(r, &rep);
}

static int h_asset(struct vf_http_req *r, void *ud) {
    const char *ct;
    const uint8_t *data;
    size_t n;
    if (!vf_voice_web_asset(vf_http_path(r), &ct, &data, &n))
        return vf_http_error(r, 404, NULL, NULL, NULL, 0, "no such page");
    return vf_http_respond(r, 200, ct, data, n, "Cache-Control: no-cache\r\n");
}

static int h_favicon(struct vf_http_req *r, void *ud) {
    return vf_http_respond(r, 204, "image/x-icon", "", 0, NULL);
}

int vf_voice_register(struct vf_http_server *http, struct vf_voice *v, char *err, size_t errlen) {
    static const struct vf_ws_handlers wh = {ws_connect, ws_ready, ws_data, ws_close};
    int rc = vf_http_ws_add(http, "/v1/realtime", &wh, v);
    if (!rc)
        rc = vf_http_route_add(http, "POST", "/v1/audio/transcriptions", h_transcriptions, v);
    if (!rc)
        rc = vf_http_route_add(http, "POST", "/v1/audio/speech", h_speech, v);
    if (!rc)
        rc = vf_http_route_add(http, "GET", "/v1/voice/status", h_status, v);
    if (!rc)
        rc = vf_http_route_add(http, "GET", "/", h_asset, v);
    if (!rc)
        rc = vf_http_route_add(http, "GET", "/web/*", h_asset, v);
    if (!rc)
        rc = vf_http_route_add(http, "GET", "/favicon.ico", h_favicon, v);
    if (rc)
        snprintf(err, errlen, "cannot register the voice routes: %s", vf_status_str(rc));
    return rc;
}
