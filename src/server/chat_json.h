/* chat_json.h - OpenAI chat-completions JSON: the request parser (strict:
 * wrong types, out-of-range values and unknown fields are errors, as
 * OpenAI's own API answers them) and the builders of the response object
 * and the stream chunks in OpenAI's exact shape. */
#ifndef VF_SERVER_CHAT_JSON_H
#define VF_SERVER_CHAT_JSON_H

#include "../core/vf.h"
#include "../llm/engine.h"

#define VF_CHAT_MAX_MESSAGES 4096

/* An error for the client: HTTP status and OpenAI's error fields. */
struct vf_api_error {
    int status;
    char code[48];     /* "" -> null */
    char param[64];    /* "" -> null */
    char message[512];
};

/* Parse a request body (any bytes) into out. Returns VF_OK, or VF_ERR_FORMAT
 * / VF_ERR_ARG / VF_ERR_UNSUPPORTED / VF_ERR_NOMEM with err filled (status
 * 400, or 500 for OOM); out is then empty. The caller frees out with
 * vf_chat_req_free. */
int vf_chat_parse(const char *body, size_t n, struct vf_chat_req *out, struct vf_api_error *err);

/* What a response or chunk carries. */
struct vf_chat_meta {
    const char *id;            /* "chatcmpl-..." */
    int64_t created;           /* unix seconds */
    const char *model;
    const char *fingerprint;   /* system_fingerprint */
    int32_t cached_tokens;     /* prompt tokens whose KV cells were reused (usage's cached_tokens) */
};

/* The non-streaming response object. NULL on OOM; caller frees (vf_free). */
char *vf_chat_response_json(const struct vf_chat_meta *m, const char *text, size_t n,
                            enum vf_finish finish, int32_t prompt_tokens,
                            int32_t completion_tokens);

/* A chunk: role set -> the first chunk (delta {role, content:""}); text ->
 * a content delta; finish != NONE -> the closing chunk (empty delta).
 * with_usage_null adds "usage":null (when stream_options.include_usage).
 * NULL on OOM; caller frees. */
char *vf_chat_chunk_json(const struct vf_chat_meta *m, bool role, const char *text, size_t n,
                         enum vf_finish finish, bool with_usage_null);
/* The usage chunk that ends a stream with include_usage (choices: []). */
char *vf_chat_usage_chunk_json(const struct vf_chat_meta *m, int32_t prompt_tokens,
                               int32_t completion_tokens);

/* A fresh "chatcmpl-<24 random alphanumerics>" id into buf (>= 40 bytes). */
void vf_chat_new_id(char *buf, size_t n);

/* Fuzz entry point: parse, and on success build a response and chunks from
 * the request's own text, checking the output is valid JSON. */
int vf__fuzz_chat_request(const uint8_t *data, size_t size);

#endif
