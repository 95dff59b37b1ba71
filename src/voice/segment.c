/* segment.c - streaming sentence segmentation (see segment.h). */
#include "segment.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

struct vf_segmenter {
    char *buf;
    size_t n, cap, max_chars, max_pending;
};

/* Lower-case abbreviations that take a period but rarely end a sentence. */
static const char *const abbrevs[] = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "e.g", "i.e", "eg",
    "ie", "cf", "al", "inc", "ltd", "co", "corp", "no", "nos", "vol", "fig", "figs", "approx",
    "est", "dept", "gen", "gov", "sen", "rep", "rev", "capt", "col", "lt", "sgt", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed",
    "thu", "fri", "sat", "sun", "a.m", "p.m", "u.s", "u.k", "u.s.a", "ph.d", "min", "max",
    "ave", "blvd", "rd", "ft", "oz", "lb", "lbs", "pp", "ca", "op", "ed", "eds", "resp", "viz",
};

static bool is_abbrev(const char *w, size_t n) {
    if (n == 0 || n > 8)
        return false;
    char low[9];
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)w[i]);
    low[n] = '\0';
    for (size_t i = 0; i < VF_ARRAY_LEN(abbrevs); i++)
        if (!strcmp(low, abbrevs[i]))
            return true;
    return false;
}

static bool is_closer(char c) { return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}'; }

/* Decide whether the '.' at text[i] ends a sentence, looking at the word
 * before it and the first word after it (at j, the first non-space). */
static bool period_ends(const char *text, size_t i, size_t j, size_t n) {
    /* the word before the period: letters, digits and inner periods */
    size_t w = i;
    while (w > 0 && (isalnum((unsigned char)text[w - 1]) || text[w - 1] == '.'))
        w--;
    size_t wn = i - w;
    if (wn == 1 && isupper((unsigned char)text[w]))
        return false; /* an initial: "J. Smith" */
    if (is_abbrev(text + w, wn))
        return false;
    /* an ordinal list marker at the start of a line or of the text: "1. " */
    bool digits = wn > 0;
    for (size_t k = w; k < i; k++)
        digits = digits && isdigit((unsigned char)text[k]);
    if (digits && wn <= 2) {
        size_t b = w;
        while (b > 0 && (text[b - 1] == ' ' || text[b - 1] == '\t'))
            b--;
        if (b == 0 || text[b - 1] == '\n')
            return false;
    }
    /* the next word in lower case continues the sentence */
    if (j < n && islower((unsigned char)text[j]))
        return false;
    return true;
}

size_t vf__segment_find_end(const char *text, size_t n, bool final) {
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        /* a blank line ends a paragraph */
        if (c == '\n' && i + 1 < n && text[i + 1] == '\n')
            return i + 2;
        bool term = c == '.' || c == '!' || c == '?';
        /* UTF-8 ellipsis and CJK full stops */
        size_t clen = 1;
        if (!term && (unsigned char)c == 0xE2 && i + 2 < n && (unsigned char)text[i + 1] == 0x80 &&
            (unsigned char)text[i + 2] == 0xA6) {
            term = true;
            clen = 3;
        } else if (!term && (unsigned char)c == 0xE3 && i + 2 < n &&
                   (unsigned char)text[i + 1] == 0x80 && (unsigned char)text[i + 2] == 0x82) {
            return i + 3; /* "。" needs no space after it */
        }
        if (!term)
            continue;
        /* take the whole run of terminators and closers: "?!", "...", '."' */
        size_t e = i + clen;
        while (e < n && (text[e] == '.' || text[e] == '!' || text[e] == '?' || is_closer(text[e])))
            e++;
        if (e == n) {
            if (final)
                return n;
            return 0; /* the next character decides */
        }
        if (!isspace((unsigned char)text[e])) {
            i = e - 1; /* "3.14", "e.g.x", "www.x": not an end */
            continue;
        }
        size_t j = e;
        while (j < n && isspace((unsigned char)text[j]))
            j++;
        if (j == n && !final)
            return 0; /* need the first letter of the next word */
        if (c == '.' && e > i + 1 && j < n && islower((unsigned char)text[j])) {
            i = e - 1; /* "wait... what": an ellipsis inside the sentence */
            continue;
        }
        if (c == '.' && e == i + 1 && !period_ends(text, i, j, n)) {
            i = e - 1;
            continue;
        }
        return e;
    }
    return final ? n : 0;
}

int vf_segmenter_init(size_t max_chars, size_t max_pending, struct vf_segmenter **out) {
    *out = NULL;
    if (max_chars < 16 || max_pending < max_chars)
        return VF_ERR_ARG;
    struct vf_segmenter *s = vf_calloc(1, sizeof *s);
    if (!s)
        return VF_ERR_NOMEM;
    s->max_chars = max_chars;
    s->max_pending = max_pending;
    *out = s;
    return VF_OK;
}

void vf_segmenter_free(struct vf_segmenter *s) {
    if (!s)
        return;
    vf_free(s->buf);
    vf_free(s);
}

void vf_segmenter_reset(struct vf_segmenter *s) { s->n = 0; }

int vf_segmenter_push(struct vf_segmenter *s, const char *text, size_t n) {
    if (n > s->max_pending || s->n > s->max_pending - n)
        return VF_ERR_TOOBIG;
    if (s->n + n + 1 > s->cap) {
        size_t nc = VF_MAX(s->cap * 2, s->n + n + 1);
        nc = VF_MAX(nc, (size_t)256);
        char *nb = vf_realloc(s->buf, nc);
        if (!nb)
            return VF_ERR_NOMEM;
        s->buf = nb;
        s->cap = nc;
    }
    memcpy(s->buf + s->n, text, n);
    s->n += n;
    s->buf[s->n] = '\0';
    return VF_OK;
}

/* Where to cut an over-long sentence: after the last clause mark or space
 * within max, never inside a UTF-8 character. */
static size_t forced_cut(const char *t, size_t max) {
    size_t best = 0;
    for (size_t i = max / 3; i < max; i++)
        if ((t[i] == ',' || t[i] == ';' || t[i] == ':' || t[i] == '-') && i + 1 < max &&
            t[i + 1] == ' ')
            best = i + 1;
    if (best)
        return best;
    for (size_t i = max; i > max / 3; i--)
        if (t[i - 1] == ' ')
            return i;
    size_t i = max;
    while (i > 1 && ((unsigned char)t[i] & 0xC0) == 0x80)
        i--;
    return i;
}

char *vf_segmenter_next(struct vf_segmenter *s, bool flush) {
    for (;;) {
        /* skip leading white space */
        size_t lead = 0;
        while (lead < s->n && isspace((unsigned char)s->buf[lead]))
            lead++;
        if (lead) {
            memmove(s->buf, s->buf + lead, s->n - lead);
            s->n -= lead;
        }
        if (s->n == 0)
            return NULL;
        size_t end = vf__segment_find_end(s->buf, s->n, flush);
        if (end == 0 || end > s->max_chars) {
            if (s->n <= s->max_chars && end == 0)
                return NULL;
            if (end == 0 || end > s->max_chars)
                end = forced_cut(s->buf, VF_MIN(s->max_chars, s->n));
        }
        size_t k = end;
        while (k > 0 && isspace((unsigned char)s->buf[k - 1]))
            k--;
        char *out = k ? vf_strndup(s->buf, k) : NULL;
        if (k && !out)
            return NULL;
        memmove(s->buf, s->buf + end, s->n - end);
        s->n -= end;
        if (out)
            return out;
    }
}
