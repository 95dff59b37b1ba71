/* server.c - the OpenAI-compatible routes of `voxfit serve` (see
 * server.h). A chat request is parsed here, handed to the LLM stage as a
 * job, and its handler then waits on the job, writing each piece of text as
 * an SSE chunk (stream) or collecting it (one JSON answer). While it waits
 * it polls its client: a client that disconnects cancels the job, which
 * frees the slot and its KV cells at the engine's next step. */
#include "server.h"
#include "chat_json.h"
#include "../core/log.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct vf_server {
    struct vf_server_params p;
    char api_key[256];
    struct vf_http_server *http;
    struct vf_llm *llm;
    struct vf_metrics *metrics;
    atomic_bool hard_stop;      /* cancel what is still running */
    atomic_int cancelled;
};

void vf_server_default_params(struct vf_server_params *p) {
    memset(p, 0, sizeof *p);
    vf_http_default_params(&p->http);
    p->poll_ms = 20;
}

/* ==== Access log and metrics ============================================== */

static void json_escape_to(char *dst, size_t n, const char *s) {
    size_t j = 0;
    for (; s && *s && j + 7 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            dst[j++] = '\\';
            dst[j++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            j += (size_t)snprintf(dst + j, n - j, "\\u%04x", c);
        } else {
            dst[j++] = (char)c;
        }
    }
    dst[j] = '\0';
}

static void on_done(const struct vf_http_req *r, void *ud) {
    struct vf_server *s = ud;
    int64_t tin, tout;
    vf_http_get_tokens(r, &tin, &tout);
    double ms = vf_http_elapsed_ms(r);
    if (s->metrics) {
        vf_metrics_request(s->metrics, vf_http_method(r), vf_http_route(r), vf_http_status(r), ms / 1e3);
    }
    if (vf_log_get_level() > VF_LOG_INFO)
        return;
    /* one line per request; paths from clients are escaped either way */
    char path[300], note[96];
    json_escape_to(path, sizeof path, vf_http_path(r));
    json_escape_to(note, sizeof note, vf_http_note(r));
    if (s->p.log_json) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        char line[1024];
        int n = snprintf(line, sizeof line,
                         "{\"ts\":\"%s.%03ldZ\",\"level\":\"info\",\"component\":\"http\",\"msg\":\"request\","
                         "\"method\":\"%.16s\",\"path\":\"%s\",\"status\":%d,\"tokens_in\":%lld,"
                         "\"tokens_out\":%lld,\"ms\":%.1f,\"remote\":\"%s\"%s%s%s}\n",
                         when, ts.tv_nsec / 1000000, vf_http_method(r), path, vf_http_status(r),
                         (long long)tin, (long long)tout, ms, vf_http_remote_addr(r),
                         note[0] ? ",\"note\":\"" : "", note, note[0] ? "\"" : "");
        if (n > 0 && (size_t)n < sizeof line && write(2, line, (size_t)n) < 0) {
            /* nothing sensible to do when stderr is gone */
        }
    } else {
        vf_log(VF_LOG_INFO, "http", "%.16s %s %d tokens=%lld/%lld %.1fms %s%s%s", vf_http_method(r), path,
               vf_http_status(r), (long long)tin, (long long)tout, ms, vf_http_remote_addr(r),
               note[0] ? " " : "", note);
    }
}

/* ==== Auth ================================================================ */

static int auth_filter(struct vf_http_req *r, void *ud) {
    struct vf_server *s = ud;
    if (!s->api_key[0] || !vf_str_starts(vf_http_path(r), "/v1/"))
        return 0;
    if (vf_http_check_bearer(r, s->api_key))
        return 0;
    if (!vf_http_header(r, "Authorization"))
        return vf_http_error(r, 401, "invalid_request_error", "invalid_api_key", NULL, 0,
                             "You didn't provide an API key. You need to provide your API key in an "
                             "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
    return vf_http_error(r, 401, "invalid_request_error", "invalid_api_key", NULL, 0,
                         "Incorrect API key provided.");
}

/* ==== /health and /metrics ================================================ */

/* The LLM stage's snapshot; a server without an LLM (voxfit serve --role
 * stt|tts) reports ready with no model, so /v1/models is empty and chat
 * requests get model_not_found. */
static void llm_status(const struct vf_server *s, struct vf_llm_status *st) {
    if (s->llm) {
        vf_llm_status(s->llm, st);
        return;
    }
    memset(st, 0, sizeof *st);
    st->state = VF_LLM_READY;
    snprintf(st->backend, sizeof st->backend, "none");
}

static int h_health(struct vf_http_req *r, void *ud) {
    struct vf_server *s = ud;
    struct vf_llm_status st;
    llm_status(s, &st);
    bool draining = vf_http_draining(s->http);
    const char *overall = draining ? "draining" : st.state == VF_LLM_READY ? "ok"
                        : st.state == VF_LLM_LOADING ? "loading" : "unavailable";
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", overall);
    cJSON *engines = cJSON_AddArrayToObject(o, "engines");
    cJSON *e = cJSON_CreateObject();
    if (s->llm)
        cJSON_AddItemToArray(engines, e);
    cJSON_AddStringToObject(e, "role", "llm");
    cJSON_AddStringToObject(e, "backend", st.backend);
    cJSON_AddStringToObject(e, "model", st.model_id);
    cJSON_AddStringToObject(e, "location", st.location);
    cJSON_AddStringToObject(e, "state", vf_llm_state_name(st.state));
    if (st.state == VF_LLM_FAILED)
        cJSON_AddStringToObject(e, "error", st.why);
    else
        cJSON_AddNullToObject(e, "error");
    cJSON_AddNumberToObject(e, "n_ctx", st.n_ctx);
    cJSON_AddNumberToObject(e, "n_ctx_per_conversation", st.n_ctx_seq);
    cJSON_AddNumberToObject(e, "slots", st.n_slots);
    cJSON_AddNumberToObject(e, "slots_active", st.n_active);
    cJSON_AddNumberToObject(e, "queued", st.n_queued);
    cJSON_AddNumberToObject(e, "queue_max", st.queue_max);
    cJSON_AddNumberToObject(e, "kv_cells_used", (double)st.kv_cells_used);
    cJSON *mem = cJSON_AddArrayToObject(o, "memory");
    for (int i = 0; i < st.n_devs; i++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddItemToArray(mem, d);
        cJSON_AddStringToObject(d, "device", st.devs[i].name);
        cJSON_AddStringToObject(d, "description", st.devs[i].description);
        cJSON_AddNumberToObject(d, "total_bytes", (double)st.devs[i].total_bytes);
        cJSON_AddNumberToObject(d, "free_bytes", (double)st.devs[i].free_bytes);
        cJSON *b = cJSON_AddObjectToObject(d, "llm_bytes");
        bool cpu = vf_str_starts(st.devs[i].name, "CPU");
        for (int k = 0; k < st.n_bufs; k++) {
            const char *bd = st.bufs[k].device;
            bool host = vf_str_starts(bd, "CPU") || strstr(bd, "_Host");
            if (cpu ? !host : (host || !vf_str_starts(bd, st.devs[i].name)))
                continue;
            cJSON *cur = cJSON_GetObjectItemCaseSensitive(b, st.bufs[k].kind);
            if (cur)
                cJSON_SetNumberValue(cur, cur->valuedouble + (double)st.bufs[k].bytes);
            else
                cJSON_AddNumberToObject(b, st.bufs[k].kind, (double)st.bufs[k].bytes);
        }
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt)
        return vf_http_error(r, 500, NULL, NULL, NULL, 0, "out of memory");
    if (!s->llm)
        cJSON_Delete(e);
    int status = st.state == VF_LLM_READY && !draining ? 200 : 503;
    vf_http_respond(r, status, "application/json", txt, strlen(txt),
                    status == 503 ? "Retry-After: 5\r\n" : NULL);
    cJSON_free(txt);
    return status;
}

static int h_metrics(struct vf_http_req *r, void *ud) {
    struct vf_server *s = ud;
    struct vf_llm_status st;
    llm_status(s, &st);
    size_t n = 0;
    char *txt = s->metrics ? vf_metrics_render(s->metrics, &st, &n) : NULL;
    if (!txt)
        return vf_http_error(r, 500, NULL, NULL, NULL, 0, "metrics are not available");
    vf_http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", txt, n, NULL);
    vf_free(txt);
    return 200;
}

/* ==== /v1/models ========================================================== */

static cJSON *model_obj(const struct vf_llm_status *st) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", st->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)st->created);
    cJSON_AddStringToObject(m, "owned_by", "voxfit");
    return m;
}

static int send_json(struct vf_http_req *r, int status, cJSON *o) {
    char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!txt)
        return vf_http_error(r, 500, NULL, NULL, NULL, 0, "out of memory");
    vf_http_respond(r, status, "application/json", txt, strlen(txt), NULL);
    cJSON_free(txt);
    return status;
}

static int h_models(struct vf_http_req *r, void *ud) {
    struct vf_server *s = ud;
    struct vf_llm_status st;
    llm_status(s, &st);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *d = cJSON_AddArrayToObject(o, "data");
    if (st.model_id[0])
        cJSON_AddItemToArray(d, model_obj(&st));
    return send_json(r, 200, o);
}

static int model_not_found(struct vf_http_req *r, const char *id) {
    char shown[200];
    json_escape_to(shown, sizeof shown, id);
    return vf_http_error(r, 404, "invalid_request_error", "model_not_found", "model", 0,
                         "The model `%s` does not exist or you do not have access to it.", shown);
}

static int h_model(struct vf_http_req *r, void *ud) {
    struct vf_server *s = ud;
    struct vf_llm_status st;
    llm_status(s, &st);
    const char *id = vf_http_path(r) + strlen("/v1/models/");
    if (strcmp(id, st.model_id))
        return model_not_found(r, id);
    return send_json(r, 200, model_obj(&st));
}

/* ==== /v1/chat/completions ================================================ */

static int llm_error(struct vf_http_req *r, const struct vf_llm_error *e) {
    switch (e->kind) {
    case VF_LLM_EINVAL:
        return vf_http_error(r, 400, NULL, NULL, NULL, 0, "%s", e->message);
    case VF_LLM_ECONTEXT:
        return vf_http_error(r, 400, NULL, "context_length_exceeded", "messages", 0, "%s", e->message);
    case VF_LLM_EBUSY:
        return vf_http_error(r, 429, NULL, "rate_limit_exceeded", NULL,
                             e->retry_after_s > 0 ? e->retry_after_s : 1, "%s", e->message);
    case VF_LLM_EUNAVAIL:
        return vf_http_error(r, 503, NULL, "service_unavailable", NULL,
                             e->retry_after_s > 0 ? e->retry_after_s : 5, "%s", e->message);
    case VF_LLM_EUPSTREAM: {
        int st = e->upstream_status >= 400 && e->upstream_status < 600 ? e->upstream_status : 502;
        return vf_http_error(r, st, NULL, "upstream_error", NULL, st == 429 || st == 503 ? 5 : 0, "%s",
                             e->message);
    }
    default:
        return vf_http_error(r, 500, NULL, NULL, NULL, 0, "%s", e->message[0] ? e->message : "internal error");
    }
}

/* Wait for the job's next news; false when the client went away (the job
 * is cancelled then). */
static bool wait_news(struct vf_server *s, struct vf_http_req *r, struct vf_job *j) {
    for (;;) {
        if (vf_job_wait(j, s->p.poll_ms))
            return true;
        if (atomic_load(&s->hard_stop))
            vf_job_cancel(j); /* the engine finishes it as cancelled */
        if (vf_http_client_gone(r)) {
            vf_job_cancel(j);
            return false;
        }
    }
}

static int h_chat(struct vf_http_req *r, void *ud) {
    struct vf_server *s = ud;
    const char *body;
    size_t n;
    int rc = vf_http_read_body(r, &body, &n);
    if (rc == VF_ERR_TOOBIG)
        return vf_http_error(r, 413, NULL, "request_too_large", NULL, 0,
                             "The request body is larger than this server accepts (%zu bytes).",
                             s->p.http.max_body_bytes);
    if (rc == VF_ERR_IO)
        return vf_http_error(r, 408, NULL, "request_timeout", NULL, 0,
                             "The request body did not arrive in time.");
    if (rc)
        return vf_http_error(r, 500, NULL, NULL, NULL, 0, "out of memory");
    struct vf_chat_req req;
    struct vf_api_error ae;
    if (vf_chat_parse(body, n, &req, &ae))
        return vf_http_error(r, ae.status, NULL, ae.code[0] ? ae.code : NULL,
                             ae.param[0] ? ae.param : NULL, 0, "%s", ae.message);
    struct vf_llm_status st;
    llm_status(s, &st);
    if (strcmp(req.model, st.model_id)) {
        int status = model_not_found(r, req.model);
        vf_chat_req_free(&req);
        return status;
    }
    struct vf_job *j = NULL;
    struct vf_llm_error le;
    memset(&le, 0, sizeof le);
    rc = vf_llm_submit(s->llm, &req, &j, &le);
    bool stream = req.stream, usage = req.include_usage;
    vf_chat_req_free(&req);
    if (rc)
        return llm_error(r, &le);

    char id[64];
    vf_chat_new_id(id, sizeof id);
    struct vf_chat_meta meta = {id, (int64_t)time(NULL), st.model_id, "fp_voxfit", 0};
    struct vf_job_out o;
    int status = 0;
    char *all = NULL;                     /* non-stream: the whole answer */
    size_t all_n = 0, all_cap = 0;
    bool begun = false, gone = false, counted = false;
    int32_t pt = 0, ct = 0;
    for (;;) {
        if (!wait_news(s, r, j)) {
            gone = true;
            break;
        }
        vf_job_take(j, &o);
        pt = o.prompt_tokens;
        ct = o.completion_tokens;
        meta.cached_tokens = o.cached_tokens;
        if (o.finish == VF_FINISH_ERROR && !begun) {
            vf_free(o.text);
            status = llm_error(r, &o.error);
            break;
        }
        if (o.finish == VF_FINISH_CANCELLED && !begun) {
            vf_free(o.text);
            status = vf_http_error(r, 503, NULL, "server_shutting_down", NULL, 5,
                                   "the server is shutting down");
            break;
        }
        if (stream && !begun && (o.started || o.text || o.finish)) {
            if (vf_http_stream_begin(r, 200, "text/event-stream", "X-Accel-Buffering: no\r\n")) {
                vf_free(o.text);
                gone = true;
                break;
            }
            begun = true;
            status = 200;
            char *c = vf_chat_chunk_json(&meta, true, NULL, 0, VF_FINISH_NONE, usage);
            if (!c || vf_http_sse_data(r, c, strlen(c)))
                gone = true;
            vf_free(c);
        }
        if (o.text && stream && !gone) {
            char *c = vf_chat_chunk_json(&meta, false, o.text, o.len, VF_FINISH_NONE, usage);
            if (!c || vf_http_sse_data(r, c, strlen(c)))
                gone = true;
            vf_free(c);
        } else if (o.text && !stream) {
            if (all_n + o.len + 1 > all_cap) {
                size_t nc = VF_MAX(all_cap * 2, all_n + o.len + 1);
                char *p = vf_realloc(all, nc);
                if (!p) {
                    vf_free(o.text);
                    vf_job_cancel(j);
                    status = vf_http_error(r, 500, NULL, NULL, NULL, 0, "out of memory");
                    break;
                }
                all = p;
                all_cap = nc;
            }
            memcpy(all + all_n, o.text, o.len);
            all_n += o.len;
        }
        vf_free(o.text);
        if (gone) {
            vf_job_cancel(j);
            break;
        }
        if (o.finish == VF_FINISH_NONE)
            continue;
        /* finished: count the tokens before the last bytes go out, so a
         * client that reads /metrics after its answer sees them */
        if (s->metrics)
            vf_metrics_tokens(s->metrics, pt, ct);
        counted = true;
        if (!stream) {
            char *resp = vf_chat_response_json(&meta, all, all_n, o.finish, pt, ct);
            if (!resp) {
                status = vf_http_error(r, 500, NULL, NULL, NULL, 0, "out of memory");
            } else {
                status = vf_http_respond(r, 200, "application/json", resp, strlen(resp), NULL);
                vf_free(resp);
            }
        } else if (o.finish == VF_FINISH_STOP || o.finish == VF_FINISH_LENGTH) {
            char *c = vf_chat_chunk_json(&meta, false, NULL, 0, o.finish, usage);
            if (c)
                vf_http_sse_data(r, c, strlen(c));
            vf_free(c);
            if (usage) {
                c = vf_chat_usage_chunk_json(&meta, pt, ct);
                if (c)
                    vf_http_sse_data(r, c, strlen(c));
                vf_free(c);
            }
            vf_http_sse_data(r, "[DONE]", 6);
            vf_http_stream_end(r);
        } else if (o.finish == VF_FINISH_CANCELLED) {
            vf_http_error(r, 503, NULL, "server_shutting_down", NULL, 0,
                          "the server is shutting down; the answer was cut short");
            vf_http_set_note(r, "cancelled by shutdown");
            vf_http_stream_end(r);
        } else {
            llm_error(r, &o.error); /* as the stream's last event */
            vf_http_stream_end(r);
        }
        break;
    }
    if (gone) {
        vf_http_set_note(r, "client gone: generation cancelled");
        vf_http_close_after(r);
        atomic_fetch_add(&s->cancelled, 1);
        if (s->metrics)
            vf_metrics_cancelled(s->metrics);
        if (!status)
            status = 499; /* nginx's "client closed request", for the log */
    }
    if (!counted && s->metrics)
        vf_metrics_tokens(s->metrics, pt, ct);
    vf_http_set_tokens(r, pt, ct);
    vf_free(all);
    vf_job_release(j);
    return status;
}

/* ==== Lifecycle =========================================================== */

int vf_server_init(const struct vf_server_params *p, struct vf_llm *llm, struct vf_metrics *m,
                   struct vf_server **out, char *err, size_t errlen) {
    *out = NULL;
    struct vf_server *s = vf_calloc(1, sizeof *s);
    if (!s) {
        vf_errf(err, errlen, "out of memory");
        return VF_ERR_NOMEM;
    }
    s->p = *p;
    if (s->p.poll_ms <= 0)
        s->p.poll_ms = 20;
    if (p->api_key)
        vf_strlcpy(s->api_key, p->api_key, sizeof s->api_key);
    s->llm = llm;
    s->metrics = m;
    atomic_init(&s->hard_stop, false);
    atomic_init(&s->cancelled, 0);
    int rc = vf_http_init(&p->http, &s->http, err, errlen);
    if (rc) {
        vf_free(s);
        return rc;
    }
    vf_http_route_add(s->http, "GET", "/health", h_health, s);
    vf_http_route_add(s->http, "GET", "/metrics", h_metrics, s);
    vf_http_route_add(s->http, "GET", "/v1/models", h_models, s);
    vf_http_route_add(s->http, "GET", "/v1/models/*", h_model, s);
    vf_http_route_add(s->http, "POST", "/v1/chat/completions", h_chat, s);
    vf_http_set_filter(s->http, auth_filter, s);
    vf_http_set_observer(s->http, on_done, s);
    *out = s;
    return VF_OK;
}

struct vf_http_server *vf_server_http(struct vf_server *s) { return s->http; }

int vf_server_start(struct vf_server *s, char *err, size_t errlen) {
    return vf_http_start(s->http, err, errlen);
}

int vf_server_port(const struct vf_server *s) { return vf_http_port(s->http); }

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int vf_server_shutdown(struct vf_server *s, int grace_ms) {
    vf_http_drain(s->http);
    for (int waited = 0; vf_http_in_flight(s->http) > 0 && waited < grace_ms; waited += 10)
        sleep_ms(10);
    int left = vf_http_in_flight(s->http);
    if (left > 0) {
        vf_log(VF_LOG_WARN, "serve", "%d request(s) still running after %d ms: cancelling them", left,
               grace_ms);
        atomic_store(&s->hard_stop, true);
        if (s->llm)
            vf_llm_cancel_all(s->llm);
        for (int waited = 0; vf_http_in_flight(s->http) > 0 && waited < 10000; waited += 10)
            sleep_ms(10);
    } else if (s->llm) {
        vf_llm_cancel_all(s->llm);
    }
    return left;
}

void vf_server_free(struct vf_server *s) {
    if (!s)
        return;
    vf_http_free(s->http);
    vf_free(s);
}
