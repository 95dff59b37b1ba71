/* http.h - voxfit's HTTP/1.1 + WebSocket server layer, on civetweb.
 *
 * A route table over civetweb's thread-per-connection server: register
 * handlers by method and path (vf_http_route_add) and WebSocket endpoints by
 * path (vf_http_ws_add), then start. Everything a handler needs goes through
 * this header, so no other file includes civetweb.h: request accessors, a
 * bounded body reader, complete responses, OpenAI-shaped errors, chunked and
 * Server-Sent-Events streaming, and a check whether the client has gone.
 * The layer enforces the limits (header and body sizes, header/body
 * timeouts, keep-alive idle time, a bounded worker pool), turns civetweb's
 * own errors into the same JSON error shape, and drains on shutdown.
 * Design notes and an example: docs/internals/server.md.
 *
 * Basic usage:
 *
 *     static int hello(struct vf_http_req *r, void *ud) {
 *         return vf_http_respond(r, 200, "text/plain", "hi\n", 3, NULL);
 *     }
 *     struct vf_http_params hp;
 *     vf_http_default_params(&hp);
 *     struct vf_http_server *s;
 *     vf_http_init(&hp, &s, err, sizeof err);
 *     vf_http_route_add(s, "GET", "/hello", hello, NULL);
 *     vf_http_start(s, err, sizeof err);
 *     ...
 *     vf_http_free(s);   // stops, waits for the handlers, frees
 */
#ifndef VF_SERVER_HTTP_H
#define VF_SERVER_HTTP_H

#include "../core/vf.h"

#include <stdarg.h>

struct vf_http_server;   /* opaque */
struct vf_http_req;      /* one request; valid only inside its handler */
struct vf_ws_conn;       /* one WebSocket connection; valid until its close callback returns */

#define VF_HTTP_MAX_ROUTES 64

struct vf_http_params {
    const char *host;            /* "127.0.0.1"; "0.0.0.0" for every interface (IPv4) */
    int port;                    /* 0: any free port (see vf_http_port) */
    int max_connections;         /* worker threads = connections served at once */
    size_t max_header_bytes;     /* request line + headers; larger gets 413 */
    size_t max_body_bytes;       /* request body; larger gets 413 */
    int request_timeout_ms;      /* headers and each body read must arrive within this; also the
                                    send timeout for a client that stops reading */
    int keep_alive_timeout_ms;   /* idle time allowed between requests on one connection */
    int body_timeout_ms;         /* the whole body must arrive within this */
};

void vf_http_default_params(struct vf_http_params *p);

/* Create a server (not listening yet). Returns VF_OK, VF_ERR_NOMEM. */
int vf_http_init(const struct vf_http_params *p, struct vf_http_server **out, char *err,
                 size_t errlen);

/* A handler answers the request with one of the vf_http_respond* calls or a
 * stream, and returns the HTTP status it sent. Handlers run on civetweb's
 * worker threads, several at once. A handler that returns without answering
 * gets a 500 sent for it. */
typedef int (*vf_http_handler_fn)(struct vf_http_req *req, void *user_data);

/* Route method+path to fn. path is exact ("/v1/models") or a prefix ending in
 * a slash and a star ("/v1/models/" + "*" matches "/v1/models/x" and deeper). A path with a
 * route but not this method gets 405; no route, 404. Routes are added
 * before vf_http_start. Returns VF_OK, VF_ERR_TOOBIG (table full),
 * VF_ERR_ARG. */
int vf_http_route_add(struct vf_http_server *s, const char *method, const char *path,
                      vf_http_handler_fn fn, void *user_data);

/* Run before every route handler (not for WebSockets' data): return 0 to go
 * on, or answer the request and return its status (e.g. 401). One filter. */
void vf_http_set_filter(struct vf_http_server *s, vf_http_handler_fn fn, void *user_data);

/* Called after every request with the request still readable (method, path,
 * status, duration, tokens): access logs and metrics. */
typedef void (*vf_http_observer_fn)(const struct vf_http_req *req, void *user_data);
void vf_http_set_observer(struct vf_http_server *s, vf_http_observer_fn fn, void *user_data);

/* ---- WebSocket endpoints ---- */

enum vf_ws_opcode { VF_WS_TEXT = 1, VF_WS_BINARY = 2, VF_WS_CLOSE = 8, VF_WS_PING = 9, VF_WS_PONG = 10 };

struct vf_ws_handlers {
    /* The upgrade request (headers, query) before the handshake: return 0
     * to accept, anything else refuses it (the connection is closed). May
     * be NULL (accept all). Runs after the filter's checks would: check
     * auth here if needed (vf_http_check_bearer). */
    int (*connect)(struct vf_http_req *req, void *user_data);
    /* The handshake is done; messages may be sent. */
    void (*ready)(struct vf_ws_conn *ws, void *user_data);
    /* One message (fragments joined by civetweb). Return true to keep the
     * connection, false to close it. */
    bool (*data)(struct vf_ws_conn *ws, int opcode, const char *data, size_t n, void *user_data);
    /* The connection is closing; ws is freed after this returns. */
    void (*close)(struct vf_ws_conn *ws, void *user_data);
};

/* Serve WebSocket upgrades on the exact path. Returns VF_OK, VF_ERR_ARG,
 * VF_ERR_TOOBIG, VF_ERR_NOMEM. */
int vf_http_ws_add(struct vf_http_server *s, const char *path, const struct vf_ws_handlers *h,
                   void *user_data);
/* Send one message; safe from any thread (sends are serialised per
 * connection). Returns VF_OK or VF_ERR_IO. */
int vf_ws_send(struct vf_ws_conn *ws, enum vf_ws_opcode op, const void *data, size_t n);
/* Per-connection data for the endpoint's own use. */
void vf_ws_set_data(struct vf_ws_conn *ws, void *data);
void *vf_ws_get_data(const struct vf_ws_conn *ws);

/* ---- lifecycle ---- */

/* Start listening. Returns VF_OK or VF_ERR_IO (err: the address is taken,
 * ...). */
int vf_http_start(struct vf_http_server *s, char *err, size_t errlen);
/* The port listened on (useful with port 0), 0 before start. */
int vf_http_port(const struct vf_http_server *s);
/* Stop taking new requests: from now on every request gets 503 with
 * "Connection: close". Streams in flight go on. */
void vf_http_drain(struct vf_http_server *s);
bool vf_http_draining(const struct vf_http_server *s);
/* Requests whose handlers are running now. */
int vf_http_in_flight(const struct vf_http_server *s);
/* Stop (joins every worker: handlers must return) and free. NULL is a no-op. */
void vf_http_free(struct vf_http_server *s);

/* ==== Requests ============================================================ */

const char *vf_http_method(const struct vf_http_req *r);
const char *vf_http_path(const struct vf_http_req *r);   /* decoded, without the query */
const char *vf_http_query(const struct vf_http_req *r);  /* after '?', or NULL */
/* The route pattern that matched (a prefix route without its star), or "" for none: a
 * bounded label for metrics. */
const char *vf_http_route(const struct vf_http_req *r);
const char *vf_http_header(const struct vf_http_req *r, const char *name);
const char *vf_http_remote_addr(const struct vf_http_req *r);
int vf_http_status(const struct vf_http_req *r);          /* sent status, 0 before */
double vf_http_elapsed_ms(const struct vf_http_req *r);  /* since the request was read */
/* Token counts for the access log and metrics. */
void vf_http_set_tokens(struct vf_http_req *r, int64_t in, int64_t out);
void vf_http_get_tokens(const struct vf_http_req *r, int64_t *in, int64_t *out);
/* A short note for the access log ("cancelled", "client gone"). */
void vf_http_set_note(struct vf_http_req *r, const char *note);
const char *vf_http_note(const struct vf_http_req *r);
struct vf_http_server *vf_http_req_server(const struct vf_http_req *r);

/* Read the whole body (Content-Length or chunked) into a NUL-terminated
 * buffer owned by the request (freed after the handler). Returns VF_OK,
 * VF_ERR_TOOBIG (over max_body_bytes: answer 413; the connection will be
 * closed), VF_ERR_IO (the client went away or was too slow: answer 408 or
 * nothing), VF_ERR_NOMEM. */
int vf_http_read_body(struct vf_http_req *r, const char **body, size_t *n);

/* True when the client has closed its side or reset the connection (a
 * non-blocking check of the socket): a handler waiting for an engine polls
 * this to stop work nobody will read. */
bool vf_http_client_gone(struct vf_http_req *r);

/* True when "Authorization: Bearer <key>" matches key (constant time). */
bool vf_http_check_bearer(const struct vf_http_req *r, const char *key);

/* ==== Responses =========================================================== */

/* A complete response with Content-Length. extra_headers: "Name: value\r\n"
 * lines or NULL. Returns status (so a handler can `return vf_http_respond(...)`). */
int vf_http_respond(struct vf_http_req *r, int status, const char *content_type, const void *body,
                    size_t n, const char *extra_headers);
/* An error in OpenAI's shape:
 *   {"error":{"message":..,"type":..,"param":..|null,"code":..|null}}
 * type NULL: derived from status (invalid_request_error, authentication_error,
 * not_found_error, rate_limit_error, server_error ...). retry_after_s > 0
 * adds Retry-After. Returns status. */
int vf_http_error(struct vf_http_req *r, int status, const char *type, const char *code,
                  const char *param, int retry_after_s, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Streaming: headers now, body in pieces. HTTP/1.1 uses chunked transfer
 * encoding and keeps the connection; HTTP/1.0 ends the body by closing. */
int vf_http_stream_begin(struct vf_http_req *r, int status, const char *content_type,
                         const char *extra_headers);
/* One piece (one chunk, one send). VF_ERR_IO when the client is gone. */
int vf_http_stream_write(struct vf_http_req *r, const void *data, size_t n);
/* One Server-Sent Event "data: <payload>\n\n" (payload without newlines). */
int vf_http_sse_data(struct vf_http_req *r, const char *payload, size_t n);
/* End the body (the terminating zero chunk). */
int vf_http_stream_end(struct vf_http_req *r);
/* Close the connection after this request even if keep-alive was asked. */
void vf_http_close_after(struct vf_http_req *r);

/* The OpenAI error "type" for a status. */
const char *vf_http_error_type(int status);

#endif
