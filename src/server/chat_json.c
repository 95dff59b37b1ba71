/* chat_json.c - see chat_json.h. The parser walks every member of the
 * request so that an unknown or mistyped one is named in the error, with
 * OpenAI's wording where OpenAI has one ("Unrecognized request argument
 * supplied: x", "Invalid type for 'x': expected ..."). Parameters that
 * change nothing for a text-only local model (user, store, metadata ...)
 * are accepted; ones that would change the answer in a way this server
 * cannot honour (tools, logprobs, n > 1, non-text parts) are refused. */
#include "chat_json.h"
#include "../core/str.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(struct vf_api_error *e, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct vf_api_error *e, const char *param, const char *code, const char *fmt, ...) {
    e->status = 400;
    vf_strlcpy(e->param, param ? param : "", sizeof e->param);
    vf_strlcpy(e->code, code ? code : "", sizeof e->code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return VF_ERR_ARG;
}

static const char *type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "something else";
}

static int bad_type(struct vf_api_error *e, const char *param, const char *want, const cJSON *v) {
    return fail(e, param, "invalid_type", "Invalid type for '%s': expected %s, but got %s instead.",
                param, want, type_name(v));
}

/* A number in [lo, hi] (null allowed when nullable: *set stays false). */
static int get_number(const cJSON *v, const char *name, double lo, double hi, bool integer, double *out,
                      bool *set, struct vf_api_error *e) {
    if (cJSON_IsNull(v))
        return VF_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return bad_type(e, name, integer ? "an integer" : "a number", v);
    double d = v->valuedouble;
    if (integer && floor(d) != d)
        return bad_type(e, name, "an integer", v);
    if (d < lo || d > hi)
        return fail(e, name, "invalid_value", "Invalid '%s': %g is out of range: expected a value "
                    "from %g to %g.", name, d, lo, hi);
    *out = d;
    if (set)
        *set = true;
    return VF_OK;
}

static int get_bool(const cJSON *v, const char *name, bool *out, struct vf_api_error *e) {
    if (cJSON_IsNull(v))
        return VF_OK;
    if (!cJSON_IsBool(v))
        return bad_type(e, name, "a boolean", v);
    *out = cJSON_IsTrue(v);
    return VF_OK;
}

/* Append s to a growable string. */
static int cat(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 64;
        while (nc < *len + n + 1)
            nc *= 2;
        char *p = vf_realloc(*buf, nc);
        if (!p)
            return VF_ERR_NOMEM;
        *buf = p;
        *cap = nc;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return VF_OK;
}

static int oom(struct vf_api_error *e) {
    e->status = 500;
    e->param[0] = e->code[0] = '\0';
    vf_strlcpy(e->message, "out of memory", sizeof e->message);
    return VF_ERR_NOMEM;
}

static int parse_message(const cJSON *m, int idx, struct vf_chat_msg *out, struct vf_api_error *e) {
    char p[64];
    snprintf(p, sizeof p, "messages[%d]", idx);
    if (!cJSON_IsObject(m))
        return bad_type(e, p, "an object", m);
    const cJSON *role = NULL, *content = NULL;
    bool has_content = false;
    for (const cJSON *f = m->child; f; f = f->next) {
        const char *k = f->string ? f->string : "";
        if (!strcmp(k, "role")) {
            role = f;
        } else if (!strcmp(k, "content")) {
            content = f;
            has_content = true;
        } else if (!strcmp(k, "name") || !strcmp(k, "refusal")) {
            if (!cJSON_IsString(f) && !cJSON_IsNull(f)) {
                char q[96];
                snprintf(q, sizeof q, "%s.%s", p, k);
                return bad_type(e, q, "a string", f);
            }
        } else if (!strcmp(k, "tool_calls") || !strcmp(k, "tool_call_id") || !strcmp(k, "function_call") ||
                   !strcmp(k, "audio")) {
            if (cJSON_IsNull(f) || (cJSON_IsArray(f) && !f->child))
                continue;
            char q[96];
            snprintf(q, sizeof q, "%s.%s", p, k);
            return fail(e, q, "unsupported_parameter", "'%s' is not supported by this server "
                        "(text chat only).", q);
        } else {
            char q[200];
            snprintf(q, sizeof q, "%s.%s", p, k);
            return fail(e, q, "unknown_parameter", "Unrecognized request argument supplied: %s", q);
        }
    }
    if (!role) {
        char q[96];
        snprintf(q, sizeof q, "%s.role", p);
        return fail(e, q, "missing_required_parameter", "Missing required parameter: '%s'.", q);
    }
    if (!cJSON_IsString(role)) {
        char q[96];
        snprintf(q, sizeof q, "%s.role", p);
        return bad_type(e, q, "a string", role);
    }
    const char *r = role->valuestring;
    const char *mapped = !strcmp(r, "developer") ? "system" : r;
    if (strcmp(mapped, "system") && strcmp(mapped, "user") && strcmp(mapped, "assistant")) {
        char q[96];
        snprintf(q, sizeof q, "%s.role", p);
        if (!strcmp(r, "tool") || !strcmp(r, "function"))
            return fail(e, q, "unsupported_value", "Invalid value for '%s': '%s' messages are not "
                        "supported by this server (no tools).", q, r);
        return fail(e, q, "invalid_value", "Invalid value: '%.64s'. Supported values are: 'system', "
                    "'developer', 'user' and 'assistant'.", r);
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    if (!has_content || cJSON_IsNull(content)) {
        if (strcmp(mapped, "assistant")) {
            char q[96];
            snprintf(q, sizeof q, "%s.content", p);
            return fail(e, q, "missing_required_parameter", "Missing required parameter: '%s'.", q);
        }
        if (cat(&text, &len, &cap, "", 0))
            return oom(e);
    } else if (cJSON_IsString(content)) {
        if (cat(&text, &len, &cap, content->valuestring, strlen(content->valuestring)))
            return oom(e);
    } else if (cJSON_IsArray(content)) {
        int j = 0;
        if (cat(&text, &len, &cap, "", 0))
            return oom(e);
        for (const cJSON *part = content->child; part; part = part->next, j++) {
            char q[96];
            snprintf(q, sizeof q, "%s.content[%d]", p, j);
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
            if (!cJSON_IsObject(part) || !cJSON_IsString(type)) {
                vf_free(text);
                return fail(e, q, "invalid_value", "Invalid '%s': expected an object with a 'type'.", q);
            }
            const char *tv = type->valuestring;
            if (strcmp(tv, "text") && strcmp(tv, "refusal")) {
                vf_free(text);
                return fail(e, q, "unsupported_value", "Invalid '%s': content parts of type '%.32s' are "
                            "not supported by this server (text only).", q, tv);
            }
            const char *key = !strcmp(tv, "text") ? "text" : "refusal";
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, key);
            for (const cJSON *f = part->child; f; f = f->next)
                if (strcmp(f->string, "type") && strcmp(f->string, key) && strcmp(f->string, "cache_control")) {
                    char q2[200];
                    snprintf(q2, sizeof q2, "%s.%s", q, f->string);
                    vf_free(text);
                    return fail(e, q2, "unknown_parameter", "Unrecognized request argument supplied: %s", q2);
                }
            if (!cJSON_IsString(t)) {
                char q2[120];
                snprintf(q2, sizeof q2, "%s.%s", q, key);
                vf_free(text);
                return bad_type(e, q2, "a string", t ? t : part);
            }
            if (cat(&text, &len, &cap, t->valuestring, strlen(t->valuestring))) {
                vf_free(text);
                return oom(e);
            }
        }
    } else {
        char q[96];
        snprintf(q, sizeof q, "%s.content", p);
        return bad_type(e, q, "a string or an array of content parts", content);
    }
    out->content = text;
    out->role = vf_strdup(mapped);
    if (!out->role)
        return oom(e);
    return VF_OK;
}

static int parse_stop(const cJSON *v, struct vf_gen_params *g, struct vf_api_error *e) {
    if (cJSON_IsNull(v))
        return VF_OK;
    const cJSON *one[1] = {v};
    int n = 0;
    if (cJSON_IsString(v)) {
        n = 1;
    } else if (cJSON_IsArray(v)) {
        n = cJSON_GetArraySize(v);
        if (n > VF_CHAT_MAX_STOP)
            return fail(e, "stop", "invalid_value", "Invalid 'stop': at most %d stop sequences are "
                        "allowed, got %d.", VF_CHAT_MAX_STOP, n);
    } else {
        return bad_type(e, "stop", "a string or an array of strings", v);
    }
    const cJSON *it = cJSON_IsArray(v) ? v->child : one[0];
    for (int i = 0; i < n && it; i++, it = cJSON_IsArray(v) ? it->next : NULL) {
        if (!cJSON_IsString(it))
            return bad_type(e, "stop", "a string or an array of strings", it);
        size_t l = strlen(it->valuestring);
        if (l == 0)
            continue; /* an empty stop string would stop before the first token */
        if (l > VF_CHAT_MAX_STOP_BYTES)
            return fail(e, "stop", "invalid_value", "Invalid 'stop': a stop sequence may be at most %d "
                        "bytes.", VF_CHAT_MAX_STOP_BYTES);
        if (g->n_stop >= VF_CHAT_MAX_STOP)
            return fail(e, "stop", "invalid_value", "Invalid 'stop': at most %d stop sequences are allowed.",
                        VF_CHAT_MAX_STOP);
        g->stop[g->n_stop] = vf_strdup(it->valuestring);
        if (!g->stop[g->n_stop])
            return oom(e);
        g->n_stop++;
    }
    return VF_OK;
}

static int parse_logit_bias(const cJSON *v, struct vf_gen_params *g, struct vf_api_error *e) {
    if (cJSON_IsNull(v))
        return VF_OK;
    if (!cJSON_IsObject(v))
        return bad_type(e, "logit_bias", "an object", v);
    int n = cJSON_GetArraySize(v);
    if (n > VF_CHAT_MAX_LOGIT_BIAS)
        return fail(e, "logit_bias", "invalid_value", "Invalid 'logit_bias': at most %d entries.",
                    VF_CHAT_MAX_LOGIT_BIAS);
    if (n == 0)
        return VF_OK;
    g->logit_bias = vf_calloc((size_t)n, sizeof *g->logit_bias);
    if (!g->logit_bias)
        return oom(e);
    for (const cJSON *f = v->child; f; f = f->next) {
        int tok;
        if (!f->string || vf_parse_int(f->string, 0, INT32_MAX - 1, &tok))
            return fail(e, "logit_bias", "invalid_value", "Invalid 'logit_bias': keys must be token "
                        "ids (non-negative integers), got '%.32s'.", f->string ? f->string : "");
        double b = 0;
        int rc = get_number(f, "logit_bias", -100, 100, false, &b, NULL, e);
        if (rc)
            return rc;
        g->logit_bias[g->n_logit_bias].token = tok;
        g->logit_bias[g->n_logit_bias].bias = (float)b;
        g->n_logit_bias++;
    }
    return VF_OK;
}

/* Known parameters that change nothing here: accepted and ignored. */
static bool ignorable(const char *k) {
    static const char *names[] = {"user", "store", "metadata", "service_tier", "parallel_tool_calls",
                                  "prompt_cache_key", "safety_identifier", "verbosity"};
    for (size_t i = 0; i < VF_ARRAY_LEN(names); i++)
        if (!strcmp(k, names[i]))
            return true;
    return false;
}

int vf_chat_parse(const char *body, size_t n, struct vf_chat_req *out, struct vf_api_error *e) {
    memset(out, 0, sizeof *out);
    memset(e, 0, sizeof *e);
    vf_gen_params_default(&out->gen);
    if (!vf_utf8_valid(body, n)) {
        fail(e, NULL, "invalid_encoding", "The request body is not valid UTF-8.");
        return VF_ERR_FORMAT;
    }
    cJSON *root = cJSON_ParseWithLength(body, n);
    if (!root) {
        fail(e, NULL, "invalid_json", "We could not parse the JSON body of your request. (HINT: This "
             "likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
             "payload, but what was sent was not valid JSON.)");
        return VF_ERR_FORMAT;
    }
    int rc = VF_OK;
    if (!cJSON_IsObject(root)) {
        rc = bad_type(e, "body", "an object", root);
        goto out;
    }
    const cJSON *messages = NULL, *model = NULL, *stream_options = NULL;
    bool logprobs = false, has_max = false, has_mct = false;
    double max_tokens = -1, mct = -1;
    for (const cJSON *f = root->child; f && !rc; f = f->next) {
        const char *k = f->string ? f->string : "";
        double d = 0;
        bool set = false;
        /* a key given twice is refused: which one would count is not
         * agreed among JSON parsers. The loop stops at the first duplicate
         * or unknown key, so this scan covers at most the known keys. */
        const cJSON *prev = root->child;
        while (prev != f && strcmp(prev->string ? prev->string : "", k))
            prev = prev->next;
        if (prev != f) {
            rc = fail(e, k, "invalid_value", "Invalid request: '%.64s' appears more than once in the body.", k);
            break;
        }
        if (!strcmp(k, "messages")) {
            messages = f;
        } else if (!strcmp(k, "model")) {
            model = f;
        } else if (!strcmp(k, "stream")) {
            rc = get_bool(f, k, &out->stream, e);
        } else if (!strcmp(k, "stream_options")) {
            stream_options = f;
        } else if (!strcmp(k, "max_tokens")) {
            rc = get_number(f, k, 1, INT32_MAX, true, &max_tokens, &has_max, e);
        } else if (!strcmp(k, "max_completion_tokens")) {
            rc = get_number(f, k, 1, INT32_MAX, true, &mct, &has_mct, e);
        } else if (!strcmp(k, "temperature")) {
            rc = get_number(f, k, 0, 2, false, &d, &set, e);
            if (set)
                out->gen.temperature = (float)d;
        } else if (!strcmp(k, "top_p")) {
            rc = get_number(f, k, 0, 1, false, &d, &set, e);
            if (set)
                out->gen.top_p = (float)d;
        } else if (!strcmp(k, "frequency_penalty") || !strcmp(k, "presence_penalty")) {
            rc = get_number(f, k, -2, 2, false, &d, &set, e);
            if (set && k[0] == 'f')
                out->gen.frequency_penalty = (float)d;
            else if (set)
                out->gen.presence_penalty = (float)d;
        } else if (!strcmp(k, "seed")) {
            rc = get_number(f, k, -9007199254740992.0, 9007199254740992.0, true, &d, &set, e);
            if (set) {
                out->gen.seed = (uint32_t)(uint64_t)(int64_t)d;
                out->gen.has_seed = true;
            }
        } else if (!strcmp(k, "n")) {
            rc = get_number(f, k, 1, 128, true, &d, &set, e);
            if (!rc && set && d != 1)
                rc = fail(e, "n", "unsupported_value", "Invalid 'n': this server generates one choice per "
                          "request (n must be 1).");
        } else if (!strcmp(k, "stop")) {
            rc = parse_stop(f, &out->gen, e);
        } else if (!strcmp(k, "logit_bias")) {
            rc = parse_logit_bias(f, &out->gen, e);
        } else if (!strcmp(k, "logprobs")) {
            rc = get_bool(f, k, &logprobs, e);
            if (!rc && logprobs)
                rc = fail(e, k, "unsupported_value", "'logprobs' is not supported by this server.");
        } else if (!strcmp(k, "top_logprobs")) {
            rc = get_number(f, k, 0, 20, true, &d, &set, e);
            if (!rc && set && d > 0)
                rc = fail(e, k, "unsupported_value", "'top_logprobs' is not supported by this server.");
        } else if (!strcmp(k, "response_format")) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(f, "type");
            if (!cJSON_IsNull(f) && !(cJSON_IsObject(f) && cJSON_IsString(t) && !strcmp(t->valuestring, "text")))
                rc = fail(e, k, "unsupported_value", "Invalid 'response_format': only {\"type\": \"text\"} "
                          "is supported by this server.");
        } else if (!strcmp(k, "modalities")) {
            bool ok = cJSON_IsNull(f) || cJSON_IsArray(f);
            for (const cJSON *x = cJSON_IsArray(f) ? f->child : NULL; x && ok; x = x->next)
                ok = cJSON_IsString(x) && !strcmp(x->valuestring, "text");
            if (!ok)
                rc = fail(e, k, "unsupported_value", "Invalid 'modalities': this endpoint produces text "
                          "only ([\"text\"]).");
        } else if (!strcmp(k, "tools") || !strcmp(k, "functions")) {
            if (!cJSON_IsNull(f) && !(cJSON_IsArray(f) && !f->child))
                rc = fail(e, k, "unsupported_parameter", "'%s' is not supported by this server.", k);
        } else if (!strcmp(k, "tool_choice") || !strcmp(k, "function_call")) {
            if (!cJSON_IsNull(f) && !(cJSON_IsString(f) && (!strcmp(f->valuestring, "none") ||
                                                            !strcmp(f->valuestring, "auto"))))
                rc = fail(e, k, "unsupported_parameter", "'%s' is not supported by this server.", k);
        } else if (!strcmp(k, "audio") || !strcmp(k, "prediction") || !strcmp(k, "web_search_options") ||
                   !strcmp(k, "reasoning_effort")) {
            if (!cJSON_IsNull(f))
                rc = fail(e, k, "unsupported_parameter", "'%s' is not supported by this server.", k);
        } else if (!ignorable(k)) {
            rc = fail(e, k, "unknown_parameter", "Unrecognized request argument supplied: %.64s", k);
        }
    }
    if (rc)
        goto out;
    if (!model) {
        rc = fail(e, "model", "missing_required_parameter", "Missing required parameter: 'model'.");
        goto out;
    }
    if (!cJSON_IsString(model)) {
        rc = bad_type(e, "model", "a string", model);
        goto out;
    }
    if (strlen(model->valuestring) >= sizeof out->model) {
        rc = fail(e, "model", "invalid_value", "Invalid 'model': the name is too long.");
        goto out;
    }
    vf_strlcpy(out->model, model->valuestring, sizeof out->model);
    if (!messages) {
        rc = fail(e, "messages", "missing_required_parameter", "Missing required parameter: 'messages'.");
        goto out;
    }
    if (!cJSON_IsArray(messages)) {
        rc = bad_type(e, "messages", "an array", messages);
        goto out;
    }
    int nm = cJSON_GetArraySize(messages);
    if (nm == 0) {
        rc = fail(e, "messages", "empty_array", "Invalid 'messages': empty array. Expected an array with "
                  "minimum length 1, but got an empty array instead.");
        goto out;
    }
    if (nm > VF_CHAT_MAX_MESSAGES) {
        rc = fail(e, "messages", "array_above_max_length", "Invalid 'messages': array too long. Expected "
                  "an array with maximum length %d, but got an array with length %d instead.",
                  VF_CHAT_MAX_MESSAGES, nm);
        goto out;
    }
    out->msgs = vf_calloc((size_t)nm, sizeof *out->msgs);
    if (!out->msgs) {
        rc = oom(e);
        goto out;
    }
    int i = 0;
    for (const cJSON *m = messages->child; m && !rc; m = m->next, i++) {
        rc = parse_message(m, i, &out->msgs[i], e);
        if (!rc || out->msgs[i].content || out->msgs[i].role)
            out->n_msgs = i + 1;
    }
    if (rc)
        goto out;
    if (stream_options && !cJSON_IsNull(stream_options)) {
        if (!out->stream) {
            rc = fail(e, "stream_options", "invalid_value", "The 'stream_options' parameter is only "
                      "allowed when 'stream' is enabled.");
            goto out;
        }
        if (!cJSON_IsObject(stream_options)) {
            rc = bad_type(e, "stream_options", "an object", stream_options);
            goto out;
        }
        for (const cJSON *f = stream_options->child; f && !rc; f = f->next) {
            if (!strcmp(f->string, "include_usage"))
                rc = get_bool(f, "stream_options.include_usage", &out->include_usage, e);
            else if (strcmp(f->string, "include_obfuscation"))
                rc = fail(e, "stream_options", "unknown_parameter", "Unrecognized request argument "
                          "supplied: stream_options.%.64s", f->string);
        }
        if (rc)
            goto out;
    }
    /* max_completion_tokens is the current name; max_tokens the deprecated one */
    if (has_mct)
        out->gen.max_tokens = (int32_t)mct;
    else if (has_max)
        out->gen.max_tokens = (int32_t)max_tokens;
out:
    cJSON_Delete(root);
    if (rc)
        vf_chat_req_free(out);
    return rc;
}

/* ==== Builders ============================================================ */

static char *print(cJSON *o) {
    if (!o)
        return NULL;
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return NULL;
    char *d = vf_strdup(s);
    cJSON_free(s);
    return d;
}

static cJSON *base(const struct vf_chat_meta *m, const char *object) {
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)m->created);
    cJSON_AddStringToObject(o, "model", m->model);
    cJSON_AddStringToObject(o, "service_tier", "default");
    cJSON_AddStringToObject(o, "system_fingerprint", m->fingerprint ? m->fingerprint : "fp_voxfit");
    return o;
}

static cJSON *usage(int32_t pt, int32_t ct, int32_t cached) {
    cJSON *u = cJSON_CreateObject();
    if (!u)
        return NULL;
    cJSON_AddNumberToObject(u, "prompt_tokens", pt);
    cJSON_AddNumberToObject(u, "completion_tokens", ct);
    cJSON_AddNumberToObject(u, "total_tokens", (double)pt + ct);
    cJSON *pd = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(pd, "cached_tokens", cached);
    cJSON_AddNumberToObject(pd, "audio_tokens", 0);
    cJSON *cd = cJSON_AddObjectToObject(u, "completion_tokens_details");
    cJSON_AddNumberToObject(cd, "reasoning_tokens", 0);
    cJSON_AddNumberToObject(cd, "audio_tokens", 0);
    cJSON_AddNumberToObject(cd, "accepted_prediction_tokens", 0);
    cJSON_AddNumberToObject(cd, "rejected_prediction_tokens", 0);
    return u;
}

static const char *finish_str(enum vf_finish f) {
    return f == VF_FINISH_LENGTH ? "length" : "stop";
}

/* A cJSON string from n bytes (text may hold NULs from a model: cut there). */
static cJSON *str_n(const char *s, size_t n) {
    char stack[512];
    char *b = n < sizeof stack ? stack : vf_malloc(n + 1);
    if (!b)
        return NULL;
    memcpy(b, s ? s : "", n);
    b[n] = '\0';
    cJSON *v = cJSON_CreateString(b);
    if (b != stack)
        vf_free(b);
    return v;
}

char *vf_chat_response_json(const struct vf_chat_meta *m, const char *text, size_t n,
                            enum vf_finish finish, int32_t prompt_tokens, int32_t completion_tokens) {
    cJSON *o = base(m, "chat.completion");
    if (!o)
        return NULL;
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(c, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddItemToObject(msg, "content", str_n(text, n));
    cJSON_AddNullToObject(msg, "refusal");
    cJSON_AddArrayToObject(msg, "annotations");
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", finish_str(finish));
    cJSON_AddItemToObject(o, "usage", usage(prompt_tokens, completion_tokens, m->cached_tokens));
    return print(o);
}

char *vf_chat_chunk_json(const struct vf_chat_meta *m, bool role, const char *text, size_t n,
                         enum vf_finish finish, bool with_usage_null) {
    cJSON *o = base(m, "chat.completion.chunk");
    if (!o)
        return NULL;
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *delta = cJSON_AddObjectToObject(c, "delta");
    if (role) {
        cJSON_AddStringToObject(delta, "role", "assistant");
        cJSON_AddStringToObject(delta, "content", "");
        cJSON_AddNullToObject(delta, "refusal");
    } else if (finish == VF_FINISH_NONE) {
        cJSON_AddItemToObject(delta, "content", str_n(text, n));
    }
    cJSON_AddNullToObject(c, "logprobs");
    if (finish == VF_FINISH_NONE)
        cJSON_AddNullToObject(c, "finish_reason");
    else
        cJSON_AddStringToObject(c, "finish_reason", finish_str(finish));
    if (with_usage_null)
        cJSON_AddNullToObject(o, "usage");
    return print(o);
}

char *vf_chat_usage_chunk_json(const struct vf_chat_meta *m, int32_t prompt_tokens,
                               int32_t completion_tokens) {
    cJSON *o = base(m, "chat.completion.chunk");
    if (!o)
        return NULL;
    cJSON_AddArrayToObject(o, "choices");
    cJSON_AddItemToObject(o, "usage", usage(prompt_tokens, completion_tokens, m->cached_tokens));
    return print(o);
}

void vf_chat_new_id(char *buf, size_t n) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t rnd[24];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(rnd, 1, sizeof rnd, f) : 0;
    if (f)
        fclose(f);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)buf;
    for (size_t i = got; i < sizeof rnd; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        rnd[i] = (uint8_t)(x >> 56);
    }
    char id[32];
    for (size_t i = 0; i < sizeof rnd; i++)
        id[i] = al[rnd[i] % (sizeof al - 1)];
    id[sizeof rnd] = '\0';
    snprintf(buf, n, "chatcmpl-%s", id);
}

/* ==== Fuzzing ============================================================= */

int vf__fuzz_chat_request(const uint8_t *data, size_t size) {
    struct vf_chat_req r;
    struct vf_api_error e;
    if (vf_chat_parse((const char *)data, size, &r, &e) != VF_OK) {
        if (e.status != 400 && e.status != 500)
            __builtin_trap();
        return 0;
    }
    struct vf_chat_meta m = {"chatcmpl-fuzz", 1, r.model, NULL, 0};
    const char *t = r.msgs[r.n_msgs - 1].content;
    char *a = vf_chat_response_json(&m, t, strlen(t), VF_FINISH_STOP, 1, 2);
    char *b = vf_chat_chunk_json(&m, false, t, strlen(t), VF_FINISH_NONE, r.include_usage);
    cJSON *pa = a ? cJSON_Parse(a) : NULL, *pb = b ? cJSON_Parse(b) : NULL;
    if ((a && !pa) || (b && !pb))
        __builtin_trap(); /* our own output must parse */
    cJSON_Delete(pa);
    cJSON_Delete(pb);
    vf_free(a);
    vf_free(b);
    vf_chat_req_free(&r);
    return 0;
}
