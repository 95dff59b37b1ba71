/* test_engine.c - the local LLM engine on a tiny mkmodel model: the UTF-8
 * and stop-string output filter, batched parallel sequences with exact
 * token counts, the bounded queue (EBUSY), cancellation freeing the slot at
 * once, the context bound, seeds, and the job interface. */
#include "vf_test.h"

#include "llm/engine.h"

#include <time.h>

static const char *model_path(void) {
    static char path[600];
    if (path[0])
        return path;
    const char *dir = vf_test_dir("test_engine");
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "'%s' dev mkmodel --like tiny -o '%s' >/dev/null", VF_BIN, path);
    assert_int_equal(system(cmd), 0);
    return path;
}

/* ---- the output filter ---- */

static char *feed_all(const char *const *pieces, int n, const char *const *stop, int n_stop, int *stopped) {
    struct vf_textfilter f;
    vf__textfilter_init(&f, stop, n_stop);
    char *out = NULL;
    size_t on = 0, cap = 0;
    *stopped = 0;
    for (int i = 0; i < n && !*stopped; i++) {
        int r = vf__textfilter_feed(&f, pieces[i], strlen(pieces[i]), false, &out, &on, &cap);
        assert_true(r >= 0);
        *stopped = r;
    }
    if (!*stopped)
        assert_true(vf__textfilter_feed(&f, "", 0, true, &out, &on, &cap) >= 0);
    vf__textfilter_free(&f);
    if (!out)
        out = calloc(1, 1);
    return out;
}

static void test_utf8(void **state) {
    (void)state;
    static const struct { const char *s; bool ok; } cases[] = {
        {"plain", true}, {"caf\xc3\xa9", true}, {"\xe2\x82\xac", true}, {"\xf0\x9f\x98\x80", true},
        {"\xc3", false}, {"\xc0\xaf", false}, {"\xed\xa0\x80", false}, {"\xf4\x90\x80\x80", false},
        {"\xff", false}, {"a\x80z", false}, {"\xe0\x80\xaf", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(vf_utf8_valid(cases[i].s, strlen(cases[i].s)), cases[i].ok);
}

static void test_textfilter(void **state) {
    (void)state;
    int stopped;
    /* a character split across pieces comes out whole */
    const char *p1[] = {"caf", "\xc3", "\xa9 ok"};
    char *o = feed_all(p1, 3, NULL, 0, &stopped);
    assert_string_equal(o, "caf\xc3\xa9 ok");
    free(o);
    /* invalid bytes become U+FFFD; a dangling lead byte at the end too */
    const char *p2[] = {"a\xff", "b\xe2\x82"};
    o = feed_all(p2, 2, NULL, 0, &stopped);
    assert_string_equal(o, "a\xef\xbf\xbd" "b\xef\xbf\xbd");
    free(o);
    /* a stop string split across pieces cuts the output before it */
    const char *stop[] = {"STOP", "xyz"};
    const char *p3[] = {"hello S", "TO", "P world"};
    o = feed_all(p3, 3, stop, 2, &stopped);
    assert_int_equal(stopped, 1);
    assert_string_equal(o, "hello ");
    free(o);
    /* a held prefix that does not become a stop string is released */
    const char *p4[] = {"ST", "ART"};
    o = feed_all(p4, 2, stop, 2, &stopped);
    assert_int_equal(stopped, 0);
    assert_string_equal(o, "START");
    free(o);
    /* nothing is released before it is certain */
    struct vf_textfilter f;
    vf__textfilter_init(&f, stop, 2);
    char *out = NULL;
    size_t on = 0, cap = 0;
    assert_int_equal(vf__textfilter_feed(&f, "abcST", 5, false, &out, &on, &cap), 0);
    assert_int_equal(on, 3);
    vf__textfilter_free(&f);
    free(out);
}

/* ---- the engine ---- */

static struct vf_llm *open_engine_cache(uint32_t slots, uint32_t queue, uint32_t ctx_per_seq, bool cache) {
    struct vf_engine_params p;
    vf_engine_default_params(&p);
    p.model_path = model_path();
    p.n_seq_max = slots;
    p.n_ctx = ctx_per_seq * slots;
    p.n_gpu_layers = 0;
    p.queue_max = queue;
    p.n_threads = 1;
    p.kv_unified = true;
    p.prompt_cache = cache;
    struct vf_llm *l;
    char err[256];
    assert_int_equal(vf_engine_open(&p, &l, err, sizeof err), VF_OK);
    assert_int_equal(vf_llm_wait_ready(l, 30000), VF_LLM_READY);
    return l;
}

static struct vf_llm *open_engine(uint32_t slots, uint32_t queue, uint32_t ctx_per_seq) {
    return open_engine_cache(slots, queue, ctx_per_seq, true);
}

static struct vf_logit_bias no_eog[2] = {{1016, -100.0f}, {1018, -100.0f}};

static void make_req(struct vf_chat_req *r, const char *text, int max_tokens) {
    memset(r, 0, sizeof *r);
    vf_gen_params_default(&r->gen);
    strcpy(r->model, "tiny");
    r->msgs = calloc(1, sizeof *r->msgs);
    r->msgs[0].role = strdup("user");
    r->msgs[0].content = strdup(text);
    r->n_msgs = 1;
    r->gen.max_tokens = max_tokens;
    r->gen.n_logit_bias = 2;
    r->gen.logit_bias = malloc(sizeof no_eog);
    memcpy(r->gen.logit_bias, no_eog, sizeof no_eog);
}

/* Wait for the end of a job, collecting its text. */
static enum vf_finish run_job(struct vf_job *j, char **text, int32_t *pt, int32_t *ct) {
    char *all = calloc(1, 1);
    size_t n = 0;
    struct vf_job_out o;
    for (;;) {
        vf_job_wait(j, 1000);
        vf_job_take(j, &o);
        if (o.text) {
            all = realloc(all, n + o.len + 1);
            memcpy(all + n, o.text, o.len);
            n += o.len;
            all[n] = '\0';
            vf_free(o.text);
        }
        if (o.finish)
            break;
    }
    *pt = o.prompt_tokens;
    *ct = o.completion_tokens;
    if (text)
        *text = all;
    else
        free(all);
    return o.finish;
}

static void test_engine_parallel_queue(void **state) {
    (void)state;
    struct vf_llm *l = open_engine(2, 1, 1024);
    struct vf_llm_status st;
    vf_llm_status(l, &st);
    assert_int_equal(st.n_slots, 2);
    assert_int_equal(st.n_ctx_seq, 1024);
    assert_true(st.n_bufs > 0);
    struct vf_chat_req r;
    struct vf_llm_error e;
    struct vf_job *j[4] = {0};
    int want[3] = {40, 60, 20};
    for (int i = 0; i < 3; i++) {
        make_req(&r, "count", want[i]);
        assert_int_equal(vf_llm_submit(l, &r, &j[i], &e), VF_OK);
        vf_chat_req_free(&r);
    }
    /* two slots busy, one waiting: the fourth is refused */
    make_req(&r, "count", 10);
    assert_int_not_equal(vf_llm_submit(l, &r, &j[3], &e), VF_OK);
    assert_int_equal(e.kind, VF_LLM_EBUSY);
    assert_null(j[3]);
    vf_chat_req_free(&r);
    for (int i = 0; i < 3; i++) {
        int32_t pt, ct;
        char *text;
        assert_int_equal(run_job(j[i], &text, &pt, &ct), VF_FINISH_LENGTH);
        assert_int_equal(ct, want[i]);
        assert_true(pt > 3);
        assert_true(vf_utf8_valid(text, strlen(text)));
        free(text);
        vf_job_release(j[i]);
    }
    vf_llm_status(l, &st);
    assert_int_equal(st.n_active, 0);
    /* the finished conversations' cells stay for the prompt cache, each
     * within its slot's share */
    assert_true(st.kv_cells_used > 0 && st.kv_cells_used <= 2 * 1024);
    vf_llm_free(l);
}

/* Greedy text, cached prompt tokens and finish of one request. */
static char *ask(struct vf_llm *l, const char *const *turns, int n_turns, int max_tokens, int32_t *cached) {
    struct vf_chat_req r;
    make_req(&r, turns[0], max_tokens);
    r.gen.temperature = 0.0f;
    r.msgs = realloc(r.msgs, (size_t)n_turns * sizeof *r.msgs);
    for (int i = 1; i < n_turns; i++) {
        r.msgs[i].role = strdup(i % 2 ? "assistant" : "user");
        r.msgs[i].content = strdup(turns[i]);
    }
    r.n_msgs = n_turns;
    struct vf_job *j;
    struct vf_llm_error e;
    assert_int_equal(vf_llm_submit(l, &r, &j, &e), VF_OK);
    vf_chat_req_free(&r);
    char *text = calloc(1, 1);
    size_t n = 0;
    struct vf_job_out o;
    do {
        vf_job_wait(j, 1000);
        vf_job_take(j, &o);
        if (o.text) {
            text = realloc(text, n + o.len + 1);
            memcpy(text + n, o.text, o.len);
            text[n += o.len] = '\0';
            vf_free(o.text);
        }
    } while (!o.finish);
    assert_int_equal(o.finish, VF_FINISH_LENGTH);
    *cached = o.cached_tokens;
    vf_job_release(j);
    return text;
}

/* The prompt cache: the next turn of a conversation reuses the cells of the
 * turns before it, and answers exactly as a fresh engine does. */
static void test_engine_prompt_cache(void **state) {
    (void)state;
    struct vf_llm *l = open_engine(2, 2, 512);
    int32_t cached;
    const char *t1[] = {"tell me a story"};
    char *a = ask(l, t1, 1, 12, &cached);
    assert_int_equal(cached, 0);
    /* the same prompt again: all but its last token from the cache */
    char *a2 = ask(l, t1, 1, 12, &cached);
    assert_true(cached > 3);
    assert_string_equal(a, a2);
    /* the next turn: at least the first turn's prompt is reused */
    const char *t2[] = {"tell me a story", a, "and then?"};
    char *b = ask(l, t2, 3, 12, &cached);
    assert_true(cached > 3);
    /* another conversation takes the other slot and keeps this one's cells */
    const char *t3[] = {"something else entirely"};
    free(ask(l, t3, 1, 4, &cached));
    assert_int_equal(cached, 0);
    const char *t4[] = {"tell me a story", a, "and then?", b, "go on"};
    char *c = ask(l, t4, 5, 12, &cached);
    int32_t cached_c = cached;
    struct vf_llm_status st;
    vf_llm_status(l, &st);
    assert_true(st.kv_cells_used <= 2 * 512);
    vf_llm_free(l);
    /* a fresh engine answers the last turn the same, with nothing cached */
    l = open_engine(2, 2, 512);
    char *c2 = ask(l, t4, 5, 12, &cached);
    assert_int_equal(cached, 0);
    assert_true(cached_c > 10);
    assert_string_equal(c, c2);
    vf_llm_free(l);
    /* with the cache off every prompt is decoded whole */
    l = open_engine_cache(2, 2, 512, false);
    for (int k = 0; k < 2; k++) {
        free(ask(l, t1, 1, 4, &cached));
        assert_int_equal(cached, 0);
    }
    vf_llm_free(l);
    free(a);
    free(a2);
    free(b);
    free(c);
    free(c2);
}

static void test_engine_cancel_context_seed(void **state) {
    (void)state;
    struct vf_llm *l = open_engine(2, 2, 512);
    struct vf_chat_req r;
    struct vf_llm_error e;
    struct vf_job *j;
    /* cancel: the slot is free again at the next step */
    make_req(&r, "go on", 100000);
    assert_int_equal(vf_llm_submit(l, &r, &j, &e), VF_OK);
    vf_chat_req_free(&r);
    struct vf_job_out o;
    do {
        vf_job_wait(j, 1000);
        vf_job_take(j, &o);
        vf_free(o.text);
    } while (!o.completion_tokens);
    vf_job_cancel(j);
    int32_t pt, ct;
    assert_int_equal(run_job(j, NULL, &pt, &ct), VF_FINISH_CANCELLED);
    assert_true(ct < 500);
    vf_job_release(j);
    struct vf_llm_status st;
    vf_llm_status(l, &st);
    assert_int_equal(st.n_active, 0);
    /* max_tokens larger than the room: stops at the context */
    make_req(&r, "go on", 100000);
    assert_int_equal(vf_llm_submit(l, &r, &j, &e), VF_OK);
    vf_chat_req_free(&r);
    assert_int_equal(run_job(j, NULL, &pt, &ct), VF_FINISH_LENGTH);
    assert_int_equal(pt + ct, 512);
    vf_job_release(j);
    /* a prompt longer than the context is refused before queueing */
    char *big = malloc(20000);
    for (int i = 0; i < 19999; i++)
        big[i] = i % 6 == 5 ? ' ' : 'a' + i % 5;
    big[19999] = '\0';
    make_req(&r, big, 10);
    assert_int_not_equal(vf_llm_submit(l, &r, &j, &e), VF_OK);
    assert_int_equal(e.kind, VF_LLM_ECONTEXT);
    assert_non_null(strstr(e.message, "maximum context length is 512"));
    vf_chat_req_free(&r);
    free(big);
    /* the same seed gives the same text */
    char *t[2];
    for (int k = 0; k < 2; k++) {
        make_req(&r, "story", 24);
        r.gen.has_seed = true;
        r.gen.seed = 1234;
        r.gen.temperature = 0.9f;
        assert_int_equal(vf_llm_submit(l, &r, &j, &e), VF_OK);
        vf_chat_req_free(&r);
        run_job(j, &t[k], &pt, &ct);
        vf_job_release(j);
    }
    assert_string_equal(t[0], t[1]);
    free(t[0]);
    free(t[1]);
    /* cancel_all: new requests are refused as unavailable */
    vf_llm_cancel_all(l);
    make_req(&r, "late", 4);
    assert_int_not_equal(vf_llm_submit(l, &r, &j, &e), VF_OK);
    assert_int_equal(e.kind, VF_LLM_EUNAVAIL);
    vf_chat_req_free(&r);
    vf_llm_free(l);
}

static void test_engine_bad_file(void **state) {
    (void)state;
    struct vf_engine_params p;
    vf_engine_default_params(&p);
    p.model_path = "/nonexistent/model.gguf";
    struct vf_llm *l;
    char err[256];
    assert_int_equal(vf_engine_open(&p, &l, err, sizeof err), VF_ERR_IO);
    /* a file that is not a model: the stage fails with the reason */
    const char *dir = vf_test_dir("test_engine_bad");
    char path[600];
    snprintf(path, sizeof path, "%s/junk.gguf", dir);
    FILE *f = fopen(path, "wb");
    fputs("not a gguf file at all", f);
    fclose(f);
    p.model_path = path;
    assert_int_equal(vf_engine_open(&p, &l, err, sizeof err), VF_OK);
    assert_int_equal(vf_llm_wait_ready(l, 30000), VF_LLM_FAILED);
    struct vf_llm_status st;
    vf_llm_status(l, &st);
    assert_non_null(strstr(st.why, "junk.gguf"));
    vf_llm_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_textfilter),
        cmocka_unit_test(test_engine_parallel_queue),
        cmocka_unit_test(test_engine_cancel_context_seed),
        cmocka_unit_test(test_engine_prompt_cache),
        cmocka_unit_test(test_engine_bad_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
