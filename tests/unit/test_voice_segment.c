/* test_voice_segment.c - sentence segmentation for TTS, table-driven: no
 * split on abbreviations, initials, numbers, list markers or a lower-case
 * continuation; splits on ?, !, ..., blank lines; forced cuts of long
 * clauses; and the same sentences whatever the token boundaries. */
#include "vf_test.h"

#include "voice/segment.h"

struct seg_case {
    const char *text;
    const char *want[6];
};

static const struct seg_case cases[] = {
    {"Hello there. How are you?", {"Hello there.", "How are you?"}},
    {"Dr. Smith arrived at 5 p.m. today. He left.", {"Dr. Smith arrived at 5 p.m. today.", "He left."}},
    {"Pi is 3.14159 roughly. Yes!", {"Pi is 3.14159 roughly.", "Yes!"}},
    {"It costs $1,000.50 now. Buy it.", {"It costs $1,000.50 now.", "Buy it."}},
    {"J. R. R. Tolkien wrote it. Read it.", {"J. R. R. Tolkien wrote it.", "Read it."}},
    {"Use e.g. a fork, i.e. a tool. Then eat.", {"Use e.g. a fork, i.e. a tool.", "Then eat."}},
    {"Wait... what? Really!? OK.", {"Wait... what?", "Really!?", "OK."}},
    {"It was in 2024. The end.", {"It was in 2024.", "The end."}},
    {"1. First item\n2. Second item", {"1. First item\n2. Second item"}},
    {"Paragraph one\n\nParagraph two", {"Paragraph one", "Paragraph two"}},
    {"He said \"stop.\" Then he left.", {"He said \"stop.\"", "Then he left."}},
    {"Visit www.example.com today. Thanks.", {"Visit www.example.com today.", "Thanks."}},
    {"The U.S. team won. Great.", {"The U.S. team won.", "Great."}},
    {"No trailing stop", {"No trailing stop"}},
    {"Version 2.0 is out. Update now.", {"Version 2.0 is out.", "Update now."}},
};

static void run_case(const struct seg_case *c, size_t step) {
    struct vf_segmenter *s = NULL;
    assert_int_equal(vf_segmenter_init(240, 4096, &s), VF_OK);
    const char *got[16];
    int n = 0;
    size_t len = strlen(c->text);
    for (size_t i = 0; i < len; i += step) {
        assert_int_equal(vf_segmenter_push(s, c->text + i, VF_MIN(step, len - i)), VF_OK);
        char *x;
        while ((x = vf_segmenter_next(s, false)))
            got[n++] = x;
    }
    char *x;
    while ((x = vf_segmenter_next(s, true)))
        got[n++] = x;
    int want = 0;
    while (want < 6 && c->want[want])
        want++;
    if (n != want) {
        for (int i = 0; i < n; i++)
            fprintf(stderr, "got[%d] = '%s'\n", i, got[i]);
        fail_msg("'%s' step %zu: %d sentences, want %d", c->text, step, n, want);
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(got[i], c->want[i]))
            fail_msg("'%s' step %zu: sentence %d is '%s', want '%s'", c->text, step, i, got[i], c->want[i]);
        vf_free((void *)got[i]);
    }
    vf_segmenter_free(s);
}

static void test_table(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t step = 1; step <= 7; step += 3)
            run_case(&cases[i], step);
}

static void test_wait_for_next_char(void **state) {
    (void)state;
    struct vf_segmenter *s = NULL;
    assert_int_equal(vf_segmenter_init(240, 4096, &s), VF_OK);
    assert_int_equal(vf_segmenter_push(s, "It is 3.", 8), VF_OK);
    assert_null(vf_segmenter_next(s, false)); /* "3." could be "3.5" */
    assert_int_equal(vf_segmenter_push(s, " ", 1), VF_OK);
    assert_null(vf_segmenter_next(s, false)); /* next word's case decides */
    assert_int_equal(vf_segmenter_push(s, "So", 2), VF_OK);
    char *x = vf_segmenter_next(s, false);
    assert_string_equal(x, "It is 3.");
    vf_free(x);
    x = vf_segmenter_next(s, true);
    assert_string_equal(x, "So");
    vf_free(x);
    vf_segmenter_free(s);
}

static void test_forced_cut(void **state) {
    (void)state;
    struct vf_segmenter *s = NULL;
    assert_int_equal(vf_segmenter_init(40, 4096, &s), VF_OK);
    const char *t = "one two three four five, six seven eight nine ten eleven twelve thirteen";
    assert_int_equal(vf_segmenter_push(s, t, strlen(t)), VF_OK);
    char *x = vf_segmenter_next(s, false);
    assert_non_null(x);
    assert_true(strlen(x) <= 40);
    assert_string_equal(x, "one two three four five,");
    vf_free(x);
    while ((x = vf_segmenter_next(s, true))) {
        assert_true(strlen(x) <= 40);
        vf_free(x);
    }
    /* bounded */
    char big[5000];
    memset(big, 'a', sizeof big);
    assert_int_equal(vf_segmenter_push(s, big, sizeof big), VF_ERR_TOOBIG);
    vf_segmenter_free(s);
    assert_int_equal(vf_segmenter_init(8, 100, &s), VF_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_wait_for_next_char),
        cmocka_unit_test(test_forced_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
