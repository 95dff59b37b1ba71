/* test_server.c - the HTTP layer and the OpenAI routes without a model:
 * the chat request parser (a table of good and bad bodies), the response
 * and chunk builders, Prometheus rendering, and a real server on loopback
 * over the scripted LLM: routing (404/405, prefix routes added from
 * outside), keep-alive, SSE, auth, a WebSocket endpoint registered through
 * vf_http_ws_add, the queue bound, and shutdown cancelling a stream. */
#include "vf_test.h"

#include "server/chat_json.h"
#include "server/server.h"

#include <civetweb.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <unistd.h>

/* ---- the parser ---- */

static void test_parse_table(void **state) {
    (void)state;
    static const struct {
        const char *body;
        int ok;            /* 1: parses */
        const char *param; /* expected param on error ("" = null) */
    } cases[] = {
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 1, NULL},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"x\"},{\"role\":\"user\","
         "\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
         "{\"role\":\"assistant\",\"content\":null}],\"stream\":true,\"stream_options\":{\"include_usage\":true},"
         "\"max_completion_tokens\":5,\"temperature\":0,\"top_p\":0.5,\"stop\":[\"x\",\"y\"],\"seed\":-3,"
         "\"n\":1,\"user\":\"u\",\"logit_bias\":{\"5\":-100},\"frequency_penalty\":0.5,"
         "\"response_format\":{\"type\":\"text\"},\"tools\":[]}", 1, NULL},
        {"", 0, ""},
        {"[]", 0, "body"},
        {"{\"model\":\"m\"}", 0, "messages"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 0, "model"},
        {"{\"model\":1,\"messages\":[]}", 0, "model"},
        {"{\"model\":\"m\",\"messages\":[]}", 0, "messages"},
        {"{\"model\":\"m\",\"messages\":[1]}", 0, "messages[0]"},
        {"{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", 0, "messages[0].role"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", 0, "messages[0].role"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", 0, "messages[0].content"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"extra\":1}]}", 0, "messages[0].extra"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\"}]}]}", 0,
         "messages[0].content[0]"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", 0, "max_tokens"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}", 0, "max_tokens"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", 0, "temperature"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":1.5}", 0, "top_p"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":3}", 0, "n"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 0, "stop"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":5}", 0, "stop"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"a\":1}}", 0, "logit_bias"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"1\":101}}", 0, "logit_bias"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true}", 0, "logprobs"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{}]}", 0, "tools"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":{}}", 0, "stream_options"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"bogus\":null}", 0, "bogus"},
        /* a key twice (found by the fuzzer: two stop lists overflowed the four stop slots) */
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"a\",\"b\",\"c\"],"
         "\"stop\":[\"a\",\"b\",\"c\"]}", 0, "stop"},
        {"{\"model\":\"m\",\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 0, "model"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\"}]}", 0, ""},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]", 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct vf_chat_req r;
        struct vf_api_error e;
        int rc = vf_chat_parse(cases[i].body, strlen(cases[i].body), &r, &e);
        if (cases[i].ok) {
            if (rc)
                fail_msg("case %zu should parse: %s", i, e.message);
            assert_true(r.n_msgs >= 1);
        } else {
            if (!rc)
                fail_msg("case %zu should fail: %s", i, cases[i].body);
            assert_int_equal(e.status, 400);
            if (strcmp(e.param, cases[i].param))
                fail_msg("case %zu: param '%s', expected '%s' (%s)", i, e.param, cases[i].param, e.message);
        }
        vf_chat_req_free(&r);
    }
    /* the rich case keeps what it says */
    struct vf_chat_req r;
    struct vf_api_error e;
    const char *b = cases[1].body;
    assert_int_equal(vf_chat_parse(b, strlen(b), &r, &e), VF_OK);
    assert_int_equal(r.n_msgs, 3);
    assert_string_equal(r.msgs[0].role, "system");
    assert_string_equal(r.msgs[1].content, "ab");
    assert_string_equal(r.msgs[2].content, "");
    assert_true(r.stream && r.include_usage);
    assert_int_equal(r.gen.max_tokens, 5);
    assert_int_equal(r.gen.n_stop, 2);
    assert_true(r.gen.has_seed);
    assert_int_equal(r.gen.n_logit_bias, 1);
    assert_int_equal(r.gen.logit_bias[0].token, 5);
    vf_chat_req_free(&r);
}

static void test_builders(void **state) {
    (void)state;
    struct vf_chat_meta m = {"chatcmpl-x", 123, "tiny", "fp", 3};
    char *s = vf_chat_response_json(&m, "h\"i\n", 4, VF_FINISH_LENGTH, 5, 7);
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "object")->valuestring, "chat.completion");
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "message"), "content")->valuestring, "h\"i\n");
    assert_string_equal(cJSON_GetObjectItem(c0, "finish_reason")->valuestring, "length");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "usage"), "total_tokens")->valueint, 12);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "usage"), "prompt_tokens_details"),
                                         "cached_tokens")->valueint, 3);
    cJSON_Delete(o);
    vf_free(s);
    s = vf_chat_chunk_json(&m, true, NULL, 0, VF_FINISH_NONE, true);
    assert_non_null(strstr(s, "\"delta\":{\"role\":\"assistant\",\"content\":\"\""));
    assert_non_null(strstr(s, "\"finish_reason\":null"));
    assert_non_null(strstr(s, "\"usage\":null"));
    vf_free(s);
    s = vf_chat_chunk_json(&m, false, NULL, 0, VF_FINISH_STOP, false);
    assert_non_null(strstr(s, "\"delta\":{}"));
    assert_non_null(strstr(s, "\"finish_reason\":\"stop\""));
    assert_null(strstr(s, "usage"));
    vf_free(s);
    s = vf_chat_usage_chunk_json(&m, 1, 2);
    assert_non_null(strstr(s, "\"choices\":[]"));
    vf_free(s);
    char id[64];
    vf_chat_new_id(id, sizeof id);
    assert_int_equal(strlen(id), strlen("chatcmpl-") + 24);
}

static void test_metrics(void **state) {
    (void)state;
    struct vf_metrics *m = vf_metrics_new();
    vf_metrics_request(m, "GET", "/health", 200, 0.001);
    vf_metrics_request(m, "GET", "/health", 200, 0.001);
    vf_metrics_request(m, "BREW", "", 404, 0.001);
    vf_metrics_tokens(m, 10, 20);
    vf_metrics_ttft(m, 0.03);
    vf_metrics_itl(m, 0.004);
    struct vf_llm_status st;
    memset(&st, 0, sizeof st);
    strcpy(st.model_id, "a\"b");
    st.n_devs = 1;
    strcpy(st.devs[0].name, "CPU");
    st.devs[0].total_bytes = 1000;
    size_t n;
    char *t = vf_metrics_render(m, &st, &n);
    assert_non_null(strstr(t, "voxfit_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2\n"));
    assert_non_null(strstr(t, "method=\"other\",route=\"\",status=\"404\"} 1"));
    assert_non_null(strstr(t, "voxfit_llm_time_to_first_token_seconds_bucket{le=\"0.05\"} 1\n"));
    assert_non_null(strstr(t, "voxfit_llm_time_to_first_token_seconds_bucket{le=\"0.025\"} 0\n"));
    assert_non_null(strstr(t, "voxfit_llm_inter_token_latency_seconds_count 1\n"));
    assert_non_null(strstr(t, "model=\"a\\\"b\""));
    assert_non_null(strstr(t, "voxfit_device_memory_total_bytes{device=\"CPU\",description=\"\"} 1000"));
    assert_non_null(strstr(t, "voxfit_llm_completion_tokens_total 20\n"));
    vf_free(t);
    vf_metrics_free(m);
}

/* ---- a real server over the scripted LLM ---- */

struct resp {
    char *body;
    size_t n;
    long status;
};

static size_t grab(char *p, size_t s, size_t k, void *ud) {
    struct resp *r = ud;
    r->body = realloc(r->body, r->n + s * k + 1);
    memcpy(r->body + r->n, p, s * k);
    r->n += s * k;
    r->body[r->n] = '\0';
    return s * k;
}

static struct resp http(CURL *c, const char *method, const char *url, const char *body, const char *auth) {
    struct resp r = {calloc(1, 1), 0, 0};
    struct curl_slist *h = NULL;
    if (auth)
        h = curl_slist_append(h, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (!body)
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L), curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grab);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    return r;
}

static int h_echo(struct vf_http_req *r, void *ud) {
    const char *b;
    size_t n;
    if (vf_http_read_body(r, &b, &n))
        return vf_http_error(r, 413, NULL, NULL, NULL, 0, "too big");
    char out[256];
    int k = snprintf(out, sizeof out, "%s %s %zu %s", vf_http_method(r), vf_http_path(r), n,
                     (const char *)ud);
    return vf_http_respond(r, 200, "text/plain", out, (size_t)k, "X-Test: 1\r\n");
}

static bool ws_data(struct vf_ws_conn *ws, int op, const char *d, size_t n, void *ud) {
    (void)ud;
    char buf[300];
    int k = snprintf(buf, sizeof buf, "echo:%.*s", (int)VF_MIN(n, 200), d);
    vf_ws_send(ws, VF_WS_TEXT, buf, (size_t)k);
    return op != VF_WS_TEXT || n != 3 || memcmp(d, "bye", 3);
}

static char ws_got[256];
static int ws_client_data(struct mg_connection *c, int flags, char *d, size_t n, void *ud) {
    (void)c;
    (void)ud;
    if ((flags & 0xf) == VF_WS_TEXT)
        snprintf(ws_got, sizeof ws_got, "%.*s", (int)n, d);
    return 1;
}

static void test_server_loopback(void **state) {
    (void)state;
    struct vf_llm *llm = vf__mock_llm_new("mock", 2, 2, 1);
    struct vf_metrics *metrics = vf_metrics_new();
    struct vf_server_params p;
    vf_server_default_params(&p);
    p.http.port = 0;
    p.http.max_body_bytes = 4096;
    p.api_key = "k";
    struct vf_server *s;
    char err[256];
    assert_int_equal(vf_server_init(&p, llm, metrics, &s, err, sizeof err), VF_OK);
    /* later stages register their own routes and WebSocket endpoints */
    assert_int_equal(vf_http_route_add(vf_server_http(s), "POST", "/v1/audio/*", h_echo, "audio"), VF_OK);
    struct vf_ws_handlers wh = {NULL, NULL, ws_data, NULL};
    assert_int_equal(vf_http_ws_add(vf_server_http(s), "/v1/realtime", &wh, NULL), VF_OK);
    assert_int_equal(vf_server_start(s, err, sizeof err), VF_OK);
    int port = vf_server_port(s);
    assert_true(port > 0);
    char base[64], url[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    CURL *c = curl_easy_init();
    const char *auth = "Authorization: Bearer k";

    snprintf(url, sizeof url, "%s/health", base);
    struct resp r = http(c, "GET", url, NULL, NULL);
    assert_int_equal(r.status, 200);
    free(r.body);
    snprintf(url, sizeof url, "%s/v1/audio/speech", base);
    r = http(c, "POST", url, "12345", auth);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "POST /v1/audio/speech 5 audio");
    free(r.body);
    r = http(c, "POST", url, "12345", NULL);
    assert_int_equal(r.status, 401);
    free(r.body);
    r = http(c, "GET", url, NULL, auth);
    assert_int_equal(r.status, 405);
    free(r.body);
    long conns = 0;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
    assert_int_equal(conns, 0); /* the last request reused the connection */

    snprintf(url, sizeof url, "%s/v1/chat/completions", base);
    r = http(c, "POST", url, "{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":3}", auth);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"content\":\"tok0 tok1 tok2\""));
    free(r.body);
    r = http(c, "POST", url, "{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                             "\"max_tokens\":2,\"stream\":true}", auth);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "data: [DONE]\n\n"));
    assert_non_null(strstr(r.body, "\"delta\":{\"content\":\" tok1\"}"));
    free(r.body);

    /* WebSocket echo through the wrapper */
    char ebuf[128];
    struct mg_connection *ws = mg_connect_websocket_client("127.0.0.1", port, 0, ebuf, sizeof ebuf,
                                                           "/v1/realtime", NULL, ws_client_data, NULL, NULL);
    assert_non_null(ws);
    mg_websocket_client_write(ws, MG_WEBSOCKET_OPCODE_TEXT, "hello", 5);
    for (int i = 0; i < 200 && !ws_got[0]; i++)
        usleep(5000);
    assert_string_equal(ws_got, "echo:hello");
    mg_close_connection(ws);

    /* graceful shutdown: a stream that outlives the grace time is cut with an error event */
    struct resp sr = {calloc(1, 1), 0, 0};
    CURL *c2 = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, auth);
    curl_easy_setopt(c2, CURLOPT_URL, url);
    curl_easy_setopt(c2, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c2, CURLOPT_POSTFIELDS,
                     "{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":100000,\"stream\":true}");
    curl_easy_setopt(c2, CURLOPT_WRITEFUNCTION, grab);
    curl_easy_setopt(c2, CURLOPT_WRITEDATA, &sr);
    CURLM *multi = curl_multi_init();
    curl_multi_add_handle(multi, c2);
    int running = 1;
    for (int i = 0; i < 40 && sr.n < 200; i++) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 10, NULL);
    }
    assert_true(sr.n >= 200);
    /* shutdown returns once the handler ended the stream (the client's
     * socket buffer holds what it writes meanwhile) */
    int cut = vf_server_shutdown(s, 50);
    while (running) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 10, NULL);
    }
    assert_int_equal(cut, 1);
    assert_non_null(strstr(sr.body, "\"code\":\"server_shutting_down\""));
    curl_multi_remove_handle(multi, c2);
    curl_multi_cleanup(multi);
    curl_easy_cleanup(c2);
    curl_slist_free_all(h);
    free(sr.body);

    /* draining: new requests get 503 */
    snprintf(url, sizeof url, "%s/health", base);
    r = http(c, "GET", url, NULL, NULL);
    assert_int_equal(r.status, 503);
    free(r.body);
    curl_easy_cleanup(c);
    vf_server_free(s);
    vf_llm_free(llm);
    vf_metrics_free(metrics);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_builders),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_server_loopback),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
