/* http.c - the route table, request/response helpers and WebSocket wrapper
 * over civetweb (see http.h).
 *
 * civetweb runs one worker thread per connection from a fixed pool and
 * calls one catch-all request handler ("**") registered here; routing,
 * auth, error shapes and the access log happen in this file, so every
 * request goes through the same path. Responses are written as one buffer
 * per header block and per chunk (civetweb's own header helpers send every
 * line separately, which costs a packet each with TCP_NODELAY). civetweb
 * gives handlers no socket, so vf_http_client_gone() finds the connection's
 * descriptor once by its address pair (getsockname/getpeername over
 * /proc/self/fd) and then polls it. */
#define _GNU_SOURCE /* strcasestr, POLLRDHUP */
#include "http.h"
#include "../core/log.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WS_MAX_MESSAGE (4u << 20)   /* a WebSocket message, fragments joined */

struct route {
    char method[12];
    char path[128];
    bool prefix;               /* path ended in a slash and a star, stored without the star */
    vf_http_handler_fn fn;
    void *ud;
};

struct ws_route {
    char path[128];
    struct vf_ws_handlers h;
    void *ud;
    struct vf_http_server *s;
};

struct vf_http_server {
    struct vf_http_params p;
    char host[64];
    struct mg_context *mg;
    struct route routes[VF_HTTP_MAX_ROUTES];
    int n_routes;
    struct ws_route ws[8];
    int n_ws;
    vf_http_handler_fn filter;
    void *filter_ud;
    vf_http_observer_fn observer;
    void *observer_ud;
    atomic_int in_flight;
    atomic_bool draining;
    int port;
};

struct vf_http_req {
    struct vf_http_server *s;
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    const struct route *route;
    double t0;
    int status;
    bool responded;
    bool streaming;
    bool chunked;
    bool close_after;
    int fd;                    /* -2: not looked up yet, -1: not found */
    char *body;
    size_t body_len;
    int64_t tokens_in, tokens_out;
    char note[64];
};

struct vf_ws_conn {
    struct mg_connection *conn;
    struct ws_route *route;
    void *data;
    char *msg;                 /* fragments of the message being received */
    size_t n_msg, cap_msg;
    int msg_op;
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void vf_http_default_params(struct vf_http_params *p) {
    memset(p, 0, sizeof *p);
    p->host = "127.0.0.1";
    p->port = 8002;
    p->max_connections = 64;
    p->max_header_bytes = 16 * 1024;
    p->max_body_bytes = 4u << 20;
    p->request_timeout_ms = 30000;
    p->keep_alive_timeout_ms = 60000;
    p->body_timeout_ms = 60000;
}

const char *vf_http_error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

static const char *status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

/* ==== Requests ============================================================ */

const char *vf_http_method(const struct vf_http_req *r) { return r->ri->request_method; }
const char *vf_http_path(const struct vf_http_req *r) {
    return r->ri->local_uri ? r->ri->local_uri : "/";
}
const char *vf_http_query(const struct vf_http_req *r) { return r->ri->query_string; }
const char *vf_http_route(const struct vf_http_req *r) { return r->route ? r->route->path : ""; }
const char *vf_http_header(const struct vf_http_req *r, const char *name) {
    return mg_get_header(r->conn, name);
}
const char *vf_http_remote_addr(const struct vf_http_req *r) { return r->ri->remote_addr; }
int vf_http_status(const struct vf_http_req *r) { return r->status; }
double vf_http_elapsed_ms(const struct vf_http_req *r) { return now_ms() - r->t0; }
void vf_http_set_tokens(struct vf_http_req *r, int64_t in, int64_t out) {
    r->tokens_in = in;
    r->tokens_out = out;
}
void vf_http_get_tokens(const struct vf_http_req *r, int64_t *in, int64_t *out) {
    *in = r->tokens_in;
    *out = r->tokens_out;
}
void vf_http_set_note(struct vf_http_req *r, const char *note) {
    vf_strlcpy(r->note, note ? note : "", sizeof r->note);
}
const char *vf_http_note(const struct vf_http_req *r) { return r->note; }
struct vf_http_server *vf_http_req_server(const struct vf_http_req *r) { return r->s; }
void vf_http_close_after(struct vf_http_req *r) {
    r->close_after = true;
    mg_disable_connection_keep_alive(r->conn);
}

int vf_http_read_body(struct vf_http_req *r, const char **body, size_t *n) {
    if (r->body) {
        *body = r->body;
        *n = r->body_len;
        return VF_OK;
    }
    size_t max = r->s->p.max_body_bytes;
    long long cl = r->ri->content_length;
    if (cl > 0 && (unsigned long long)cl > max) {
        vf_http_close_after(r); /* do not let civetweb read (discard) a huge body */
        return VF_ERR_TOOBIG;
    }
    size_t cap = cl > 0 ? (size_t)cl + 1 : 4096;
    char *b = vf_malloc(cap);
    if (!b)
        return VF_ERR_NOMEM;
    size_t len = 0;
    double t_end = now_ms() + r->s->p.body_timeout_ms;
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > max + 1) {
                vf_free(b);
                vf_http_close_after(r);
                return VF_ERR_TOOBIG;
            }
            size_t nc = VF_MIN(cap * 2, max + 2);
            char *nb = vf_realloc(b, nc);
            if (!nb) {
                vf_free(b);
                return VF_ERR_NOMEM;
            }
            b = nb;
            cap = nc;
        }
        int k = mg_read(r->conn, b + len, cap - len - 1);
        if (k < 0) {
            vf_free(b);
            vf_http_close_after(r);
            return VF_ERR_IO;
        }
        if (k == 0)
            break;
        len += (size_t)k;
        if (len > max) {
            vf_free(b);
            vf_http_close_after(r);
            return VF_ERR_TOOBIG;
        }
        if (now_ms() > t_end) {
            vf_free(b);
            vf_http_close_after(r);
            return VF_ERR_IO;
        }
    }
    if (cl > 0 && len < (size_t)cl) { /* the client closed before sending it all */
        vf_free(b);
        vf_http_close_after(r);
        return VF_ERR_IO;
    }
    b[len] = '\0';
    r->body = b;
    r->body_len = len;
    *body = b;
    *n = len;
    return VF_OK;
}

/* The socket of this request's connection, found by its address pair. */
static int find_fd(struct vf_http_req *r) {
    if (r->fd != -2)
        return r->fd;
    r->fd = -1;
    struct in_addr peer;
    if (inet_pton(AF_INET, r->ri->remote_addr, &peer) != 1)
        return -1;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        int fd;
        if (vf_parse_int(de->d_name, 0, 1 << 30, &fd))
            continue;
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        if (getpeername(fd, (struct sockaddr *)&a, &al) != 0 || a.sin_family != AF_INET)
            continue;
        if (a.sin_port != htons((uint16_t)r->ri->remote_port) || a.sin_addr.s_addr != peer.s_addr)
            continue;
        al = sizeof a;
        if (getsockname(fd, (struct sockaddr *)&a, &al) != 0 ||
            a.sin_port != htons((uint16_t)r->ri->server_port))
            continue;
        r->fd = fd;
        break;
    }
    closedir(d);
    return r->fd;
}

bool vf_http_client_gone(struct vf_http_req *r) {
    int fd = find_fd(r);
    if (fd < 0)
        return false;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))
        return true;
    if (p.revents & POLLIN) {
        char c;
        ssize_t k = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return true;
    }
    return false;
}

bool vf_http_check_bearer(const struct vf_http_req *r, const char *key) {
    const char *h = vf_http_header(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strlen(h), k = strlen(key);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    /* compare every byte whatever the length, so timing says nothing */
    unsigned diff = (unsigned)(n != k);
    for (size_t i = 0; i < k; i++)
        diff |= (unsigned)(unsigned char)key[i] ^ (unsigned)(unsigned char)(i < n ? h[i] : 0);
    return diff == 0;
}

/* ==== Responses =========================================================== */

static bool keep_alive(const struct vf_http_req *r) {
    if (r->close_after || atomic_load(&r->s->draining))
        return false;
    const char *c = mg_get_header(r->conn, "Connection");
    if (c)
        return strcasestr(c, "keep-alive") != NULL;
    return r->ri->http_version && !strcmp(r->ri->http_version, "1.1");
}

static int send_head(struct vf_http_req *r, int status, const char *ctype, long long len,
                     bool chunked, const char *extra) {
    if (r->responded)
        return VF_ERR_ARG;
    r->responded = true;
    r->status = status;
    if (!keep_alive(r))
        vf_http_close_after(r);
    char h[2048];
    int n = snprintf(h, sizeof h,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n"
                     "X-Content-Type-Options: nosniff\r\nConnection: %s\r\n",
                     status, status_text(status), ctype ? ctype : "application/octet-stream",
                     r->close_after ? "close" : "keep-alive");
    if (len >= 0)
        n += snprintf(h + n, sizeof h - (size_t)n, "Content-Length: %lld\r\n", len);
    else if (chunked)
        n += snprintf(h + n, sizeof h - (size_t)n, "Transfer-Encoding: chunked\r\n");
    if (extra && (size_t)n < sizeof h)
        n += snprintf(h + n, sizeof h - (size_t)n, "%s", extra);
    if ((size_t)n + 3 > sizeof h)
        return VF_ERR_TOOBIG;
    memcpy(h + n, "\r\n", 3);
    n += 2;
    return mg_write(r->conn, h, (size_t)n) == n ? VF_OK : VF_ERR_IO;
}

int vf_http_respond(struct vf_http_req *r, int status, const char *content_type, const void *body,
                    size_t n, const char *extra_headers) {
    bool head = !strcmp(r->ri->request_method, "HEAD");
    /* header and a small body in one send */
    if (!head && n <= 64 * 1024 && !r->responded) {
        r->responded = true;
        r->status = status;
        if (!keep_alive(r))
            vf_http_close_after(r);
        size_t cap = n + 2048 + (extra_headers ? strlen(extra_headers) : 0);
        char *buf = vf_malloc(cap);
        if (buf) {
            int k = snprintf(buf, cap,
                             "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n"
                             "X-Content-Type-Options: nosniff\r\nConnection: %s\r\n"
                             "Content-Length: %zu\r\n%s\r\n",
                             status, status_text(status), content_type ? content_type : "text/plain",
                             r->close_after ? "close" : "keep-alive", n,
                             extra_headers ? extra_headers : "");
            if (k > 0 && (size_t)k + n <= cap) {
                memcpy(buf + k, body, n);
                mg_write(r->conn, buf, (size_t)k + n);
                vf_free(buf);
                return status;
            }
            vf_free(buf);
        }
        r->responded = false;
    }
    if (send_head(r, status, content_type, (long long)n, false, extra_headers) == VF_OK && n && !head)
        mg_write(r->conn, body, n);
    return status;
}

static void json_str(char **p, size_t *left, const char *s) {
    /* a JSON string literal of s (which callers keep to valid UTF-8) */
    if (*left < 3)
        return;
    *(*p)++ = '"';
    (*left)--;
    for (; s && *s && *left > 7; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *(*p)++ = '\\';
            *(*p)++ = (char)c;
            *left -= 2;
        } else if (c < 0x20) {
            int k = snprintf(*p, *left, "\\u%04x", c);
            *p += k;
            *left -= (size_t)k;
        } else {
            *(*p)++ = (char)c;
            (*left)--;
        }
    }
    *(*p)++ = '"';
    (*left)--;
    **p = '\0';
}

static void json_raw(char **p, size_t *left, const char *s) {
    int k = snprintf(*p, *left, "%s", s);
    if (k > 0 && (size_t)k < *left) {
        *p += k;
        *left -= (size_t)k;
    }
}

/* Render an OpenAI error object into buf. */
static size_t error_json(char *buf, size_t cap, const char *msg, const char *type, const char *param,
                         const char *code) {
    char *p = buf;
    size_t left = cap;
    json_raw(&p, &left, "{\"error\":{\"message\":");
    json_str(&p, &left, msg);
    json_raw(&p, &left, ",\"type\":");
    json_str(&p, &left, type);
    json_raw(&p, &left, ",\"param\":");
    if (param)
        json_str(&p, &left, param);
    else
        json_raw(&p, &left, "null");
    json_raw(&p, &left, ",\"code\":");
    if (code)
        json_str(&p, &left, code);
    else
        json_raw(&p, &left, "null");
    json_raw(&p, &left, "}}\n");
    return (size_t)(p - buf);
}

int vf_http_error(struct vf_http_req *r, int status, const char *type, const char *code,
                  const char *param, int retry_after_s, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char body[3072];
    size_t n = error_json(body, sizeof body, msg, type ? type : vf_http_error_type(status), param, code);
    char extra[64] = "";
    if (retry_after_s > 0)
        snprintf(extra, sizeof extra, "Retry-After: %d\r\n", retry_after_s);
    if (r->responded) {
        /* too late for a status: a stream gets the error as its last event */
        if (r->streaming) {
            if (n && body[n - 1] == '\n')
                n--;
            vf_http_sse_data(r, body, n);
        }
        return r->status;
    }
    vf_http_respond(r, status, "application/json", body, n, extra[0] ? extra : NULL);
    return status;
}

int vf_http_stream_begin(struct vf_http_req *r, int status, const char *content_type,
                         const char *extra_headers) {
    bool v11 = r->ri->http_version && !strcmp(r->ri->http_version, "1.1");
    if (!v11)
        vf_http_close_after(r); /* HTTP/1.0: the body ends when the connection does */
    r->chunked = v11;
    int rc = send_head(r, status, content_type, -1, r->chunked, extra_headers);
    r->streaming = rc == VF_OK;
    return rc;
}

int vf_http_stream_write(struct vf_http_req *r, const void *data, size_t n) {
    if (!r->streaming)
        return VF_ERR_ARG;
    if (!n)
        return VF_OK;
    if (!r->chunked)
        return mg_write(r->conn, data, n) == (int)n ? VF_OK : VF_ERR_IO;
    char stack[4096];
    size_t need = n + 24;
    char *buf = need <= sizeof stack ? stack : vf_malloc(need);
    if (!buf)
        return VF_ERR_NOMEM;
    int k = snprintf(buf, need, "%zx\r\n", n);
    memcpy(buf + k, data, n);
    memcpy(buf + k + n, "\r\n", 2);
    size_t total = (size_t)k + n + 2;
    int w = mg_write(r->conn, buf, total);
    if (buf != stack)
        vf_free(buf);
    return w == (int)total ? VF_OK : VF_ERR_IO;
}

int vf_http_sse_data(struct vf_http_req *r, const char *payload, size_t n) {
    char stack[4096];
    size_t need = n + 8;
    char *buf = need <= sizeof stack ? stack : vf_malloc(need);
    if (!buf)
        return VF_ERR_NOMEM;
    memcpy(buf, "data: ", 6);
    memcpy(buf + 6, payload, n);
    memcpy(buf + 6 + n, "\n\n", 2);
    int rc = vf_http_stream_write(r, buf, n + 8);
    if (buf != stack)
        vf_free(buf);
    return rc;
}

int vf_http_stream_end(struct vf_http_req *r) {
    if (!r->streaming)
        return VF_ERR_ARG;
    r->streaming = false;
    if (r->chunked)
        return mg_write(r->conn, "0\r\n\r\n", 5) == 5 ? VF_OK : VF_ERR_IO;
    return VF_OK;
}

/* ==== Dispatch ============================================================ */

static const struct route *match(struct vf_http_server *s, const char *method, const char *path,
                                 bool *path_known, char *allow, size_t allow_n) {
    *path_known = false;
    allow[0] = '\0';
    const struct route *hit = NULL;
    for (int i = 0; i < s->n_routes; i++) {
        const struct route *rt = &s->routes[i];
        bool ok = rt->prefix ? vf_str_starts(path, rt->path) : !strcmp(path, rt->path);
        if (!ok)
            continue;
        *path_known = true;
        if (!strcmp(rt->method, method) || (!strcmp(method, "HEAD") && !strcmp(rt->method, "GET"))) {
            if (!hit)
                hit = rt;
        }
        if (!strstr(allow, rt->method)) {
            size_t l = strlen(allow);
            snprintf(allow + l, allow_n - l, "%s%s", l ? ", " : "", rt->method);
        }
    }
    return hit;
}

static int on_request(struct mg_connection *c, void *cbdata) {
    struct vf_http_server *s = cbdata;
    struct vf_http_req r;
    memset(&r, 0, sizeof r);
    r.s = s;
    r.conn = c;
    r.ri = mg_get_request_info(c);
    r.t0 = now_ms();
    r.fd = -2;
    atomic_fetch_add(&s->in_flight, 1);
    if (atomic_load(&s->draining)) {
        vf_http_close_after(&r);
        vf_http_error(&r, 503, NULL, "server_shutting_down", NULL, 5, "the server is shutting down");
    } else {
        bool known;
        char allow[96];
        r.route = match(s, r.ri->request_method, vf_http_path(&r), &known, allow, sizeof allow);
        if (!r.route && known) {
            char extra[128];
            snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
            char body[512];
            char msg[200];
            snprintf(msg, sizeof msg, "method %.16s is not allowed on this path (allowed: %s)",
                     r.ri->request_method, allow);
            size_t n = error_json(body, sizeof body, msg, "invalid_request_error", NULL,
                                  "method_not_allowed");
            vf_http_respond(&r, 405, "application/json", body, n, extra);
        } else if (!r.route) {
            vf_http_error(&r, 404, NULL, "not_found", NULL, 0, "no route for %.16s %.200s",
                          r.ri->request_method, vf_http_path(&r));
        } else if (!s->filter || s->filter(&r, s->filter_ud) == 0) {
            r.route->fn(&r, r.route->ud);
        }
        if (!r.responded)
            vf_http_error(&r, 500, NULL, NULL, NULL, 0, "the handler did not answer");
        if (r.streaming)
            vf_http_stream_end(&r);
    }
    if (s->observer)
        s->observer(&r, s->observer_ud);
    vf_free(r.body);
    atomic_fetch_sub(&s->in_flight, 1);
    return r.status ? r.status : 500;
}

/* civetweb's own errors (bad request line, headers too large, timeouts)
 * in the same JSON shape. */
static int on_http_error(struct mg_connection *c, int status, const char *msg) {
    struct vf_http_server *s = mg_get_user_data(mg_get_context(c));
    char body[1024];
    const char *code = status == 413 ? "request_too_large" : status == 408 ? "request_timeout" : NULL;
    char m[300];
    /* civetweb 1.15 reports headers over max_request_size and headers that
     * arrive too slowly as "Malformed message" (400): say what it may be */
    if (status == 400 && msg && !strcmp(msg, "Malformed message"))
        snprintf(m, sizeof m, "the request line or headers are malformed, larger than %zu bytes, or "
                 "did not arrive within %d ms", s->p.max_header_bytes, s->p.request_timeout_ms);
    else
        snprintf(m, sizeof m, "%s", status == 413 ? "the request headers are too large"
                                    : msg && *msg ? msg : "bad request");
    /* keep the message printable ASCII: it may quote the client's bytes */
    for (char *p = m; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    size_t n = error_json(body, sizeof body, m, vf_http_error_type(status), NULL, code);
    char head[256];
    int k = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n", status, status_text(status), n);
    mg_disable_connection_keep_alive(c);
    mg_write(c, head, (size_t)k);
    mg_write(c, body, n);
    return 0;
}

static int on_log(const struct mg_connection *c, const char *message) {
    (void)c;
    vf_log(VF_LOG_DEBUG, "http", "civetweb: %s", message);
    return 1;
}

/* ==== WebSockets ========================================================== */

static int ws_connect(const struct mg_connection *c, void *cbdata) {
    struct ws_route *wr = cbdata;
    if (atomic_load(&wr->s->draining))
        return 1;
    struct vf_ws_conn *ws = vf_calloc(1, sizeof *ws);
    if (!ws)
        return 1;
    ws->conn = (struct mg_connection *)c;
    ws->route = wr;
    if (wr->h.connect) {
        struct vf_http_req r;
        memset(&r, 0, sizeof r);
        r.s = wr->s;
        r.conn = (struct mg_connection *)c;
        r.ri = mg_get_request_info(c);
        r.t0 = now_ms();
        r.fd = -2;
        r.responded = true; /* no HTTP answer possible here */
        if (wr->h.connect(&r, wr->ud) != 0) {
            vf_free(ws);
            return 1;
        }
    }
    mg_set_user_connection_data(c, ws);
    return 0;
}

static void ws_ready(struct mg_connection *c, void *cbdata) {
    struct ws_route *wr = cbdata;
    struct vf_ws_conn *ws = mg_get_user_connection_data(c);
    if (ws && wr->h.ready)
        wr->h.ready(ws, wr->ud);
}

static int ws_data(struct mg_connection *c, int bits, char *data, size_t n, void *cbdata) {
    struct ws_route *wr = cbdata;
    struct vf_ws_conn *ws = mg_get_user_connection_data(c);
    if (!ws)
        return 0;
    int op = bits & 0x0f;
    bool fin = (bits & 0x80) != 0;
    switch (op) {
    case VF_WS_PING:
        vf_ws_send(ws, VF_WS_PONG, data, n);
        return 1;
    case VF_WS_PONG:
        return 1;
    case VF_WS_CLOSE:
        vf_ws_send(ws, VF_WS_CLOSE, data, n < 2 ? n : 2);
        return 0;
    default:
        break;
    }
    if (op != 0)
        ws->msg_op = op;
    if (op != 0 && fin && ws->n_msg == 0) /* the common case: one frame */
        return wr->h.data ? wr->h.data(ws, op, data, n, wr->ud) : 1;
    if (ws->n_msg + n > WS_MAX_MESSAGE) {
        vf_ws_send(ws, VF_WS_CLOSE, "\x03\xf1", 2); /* 1009: message too big (RFC 6455 7.4.1) */
        return 0;
    }
    if (ws->n_msg + n + 1 > ws->cap_msg) {
        size_t nc = VF_MAX(ws->cap_msg * 2, ws->n_msg + n + 1);
        char *p = vf_realloc(ws->msg, nc);
        if (!p)
            return 0;
        ws->msg = p;
        ws->cap_msg = nc;
    }
    memcpy(ws->msg + ws->n_msg, data, n);
    ws->n_msg += n;
    if (!fin)
        return 1;
    bool keep = wr->h.data ? wr->h.data(ws, ws->msg_op, ws->msg, ws->n_msg, wr->ud) : true;
    ws->n_msg = 0;
    return keep ? 1 : 0;
}

static void ws_close(const struct mg_connection *c, void *cbdata) {
    struct ws_route *wr = cbdata;
    struct vf_ws_conn *ws = mg_get_user_connection_data(c);
    if (!ws)
        return;
    if (wr->h.close)
        wr->h.close(ws, wr->ud);
    mg_set_user_connection_data(c, NULL);
    vf_free(ws->msg);
    vf_free(ws);
}

int vf_ws_send(struct vf_ws_conn *ws, enum vf_ws_opcode op, const void *data, size_t n) {
    mg_lock_connection(ws->conn);
    int w = mg_websocket_write(ws->conn, (int)op, data, n);
    mg_unlock_connection(ws->conn);
    return w > 0 || (w == 0 && n == 0) ? VF_OK : VF_ERR_IO;
}

void vf_ws_set_data(struct vf_ws_conn *ws, void *data) { ws->data = data; }
void *vf_ws_get_data(const struct vf_ws_conn *ws) { return ws->data; }

int vf_http_ws_add(struct vf_http_server *s, const char *path, const struct vf_ws_handlers *h,
                   void *user_data) {
    if (!path || path[0] != '/' || strlen(path) >= sizeof s->ws[0].path || !h)
        return VF_ERR_ARG;
    if (s->n_ws >= (int)VF_ARRAY_LEN(s->ws))
        return VF_ERR_TOOBIG;
    struct ws_route *wr = &s->ws[s->n_ws++];
    vf_strlcpy(wr->path, path, sizeof wr->path);
    wr->h = *h;
    wr->ud = user_data;
    wr->s = s;
    if (s->mg)
        mg_set_websocket_handler(s->mg, wr->path, ws_connect, ws_ready, ws_data, ws_close, wr);
    return VF_OK;
}

/* ==== Lifecycle =========================================================== */

int vf_http_init(const struct vf_http_params *p, struct vf_http_server **out, char *err,
                 size_t errlen) {
    *out = NULL;
    struct vf_http_server *s = vf_calloc(1, sizeof *s);
    if (!s) {
        vf_errf(err, errlen, "out of memory");
        return VF_ERR_NOMEM;
    }
    s->p = *p;
    vf_strlcpy(s->host, p->host ? p->host : "127.0.0.1", sizeof s->host);
    s->p.host = s->host;
    atomic_init(&s->in_flight, 0);
    atomic_init(&s->draining, false);
    *out = s;
    return VF_OK;
}

int vf_http_route_add(struct vf_http_server *s, const char *method, const char *path,
                      vf_http_handler_fn fn, void *user_data) {
    if (!method || !path || path[0] != '/' || !fn || strlen(method) >= sizeof s->routes[0].method ||
        strlen(path) >= sizeof s->routes[0].path)
        return VF_ERR_ARG;
    if (s->n_routes >= VF_HTTP_MAX_ROUTES)
        return VF_ERR_TOOBIG;
    struct route *r = &s->routes[s->n_routes++];
    vf_strlcpy(r->method, method, sizeof r->method);
    vf_strlcpy(r->path, path, sizeof r->path);
    size_t n = strlen(r->path);
    if (n >= 2 && r->path[n - 1] == '*' && r->path[n - 2] == '/') {
        r->path[n - 1] = '\0';
        r->prefix = true;
    }
    r->fn = fn;
    r->ud = user_data;
    return VF_OK;
}

void vf_http_set_filter(struct vf_http_server *s, vf_http_handler_fn fn, void *user_data) {
    s->filter = fn;
    s->filter_ud = user_data;
}

void vf_http_set_observer(struct vf_http_server *s, vf_http_observer_fn fn, void *user_data) {
    s->observer = fn;
    s->observer_ud = user_data;
}

int vf_http_start(struct vf_http_server *s, char *err, size_t errlen) {
    char ports[96], threads[16], hdr[24], rto[24], kato[24];
    snprintf(ports, sizeof ports, "%s:%d", s->host, s->p.port);
    snprintf(threads, sizeof threads, "%d", s->p.max_connections + 1);
    snprintf(hdr, sizeof hdr, "%zu", s->p.max_header_bytes);
    snprintf(rto, sizeof rto, "%d", s->p.request_timeout_ms);
    snprintf(kato, sizeof kato, "%d", s->p.keep_alive_timeout_ms);
    const char *opts[] = {
        "listening_ports", ports,
        "num_threads", threads,
        "tcp_nodelay", "1",              /* SSE chunks and WS messages go out at once */
        "enable_keep_alive", "yes",
        "keep_alive_timeout_ms", kato,
        "request_timeout_ms", rto,
        "max_request_size", hdr,
        "linger_timeout_ms", "500",
        "decode_url", "yes",
        "enable_directory_listing", "no",
        "listen_backlog", "256",
        "connection_queue", "64",
        NULL,
    };
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.http_error = on_http_error;
    cb.log_message = on_log;
    s->mg = mg_start(&cb, s, opts);
    if (!s->mg) {
        vf_errf(err, errlen, "cannot listen on %s (address in use, or not an IPv4 address?)", ports);
        return VF_ERR_IO;
    }
    mg_set_request_handler(s->mg, "**", on_request, s);
    for (int i = 0; i < s->n_ws; i++)
        mg_set_websocket_handler(s->mg, s->ws[i].path, ws_connect, ws_ready, ws_data, ws_close,
                                 &s->ws[i]);
    struct mg_server_port sp[4];
    int n = mg_get_server_ports(s->mg, 4, sp);
    s->port = n > 0 ? sp[0].port : s->p.port;
    return VF_OK;
}

int vf_http_port(const struct vf_http_server *s) { return s->port; }
void vf_http_drain(struct vf_http_server *s) { atomic_store(&s->draining, true); }
bool vf_http_draining(const struct vf_http_server *s) {
    return atomic_load(&((struct vf_http_server *)s)->draining);
}
int vf_http_in_flight(const struct vf_http_server *s) {
    return atomic_load(&((struct vf_http_server *)s)->in_flight);
}

void vf_http_free(struct vf_http_server *s) {
    if (!s)
        return;
    atomic_store(&s->draining, true);
    if (s->mg)
        mg_stop(s->mg);
    vf_free(s);
}
