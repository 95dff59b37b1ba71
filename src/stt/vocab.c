/* vocab.c - Whisper's vocabulary: token bytes, the special tokens (whose
 * ids move with the number of languages), the language table, and the
 * tokenizer whisper.cpp uses for prompts: GPT-2's pre-split pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?[[:alpha:]]+| ?[[:digit:]]+| ?[^\s[:alpha:][:digit:]]+|\s+(?!\S)|\s+
 * evaluated as std::regex does in the C locale (ASCII classes, first
 * alternative that matches), then the longest vocabulary entry at each
 * position. It is not OpenAI's BPE merge order, but it is what whisper.cpp
 * feeds its decoder, so prompts condition the model identically. */
#include "whisper_int.h"
#include "../core/str.h"

#include <stdio.h>
#include <string.h>

/* OpenAI's language order: the id is the offset after <|startoftranscript|>. */
static const char *const lang_codes[VF_WH_N_LANGS] = {
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv",
    "it", "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no",
    "th", "ur", "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr",
    "az", "sl", "kn", "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw",
    "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu",
    "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl",
    "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue",
};

static const char *const lang_names[VF_WH_N_LANGS] = {
    "english", "chinese", "german", "spanish", "russian", "korean", "french", "japanese",
    "portuguese", "turkish", "polish", "catalan", "dutch", "arabic", "swedish", "italian",
    "indonesian", "hindi", "finnish", "vietnamese", "hebrew", "ukrainian", "greek", "malay",
    "czech", "romanian", "danish", "hungarian", "tamil", "norwegian", "thai", "urdu", "croatian",
    "bulgarian", "lithuanian", "latin", "maori", "malayalam", "welsh", "slovak", "telugu",
    "persian", "latvian", "bengali", "serbian", "azerbaijani", "slovenian", "kannada", "estonian",
    "macedonian", "breton", "basque", "icelandic", "armenian", "nepali", "mongolian", "bosnian",
    "kazakh", "albanian", "swahili", "galician", "marathi", "punjabi", "sinhala", "khmer", "shona",
    "yoruba", "somali", "afrikaans", "occitan", "georgian", "belarusian", "tajik", "sindhi",
    "gujarati", "amharic", "yiddish", "lao", "uzbek", "faroese", "haitian creole", "pashto",
    "turkmen", "nynorsk", "maltese", "sanskrit", "luxembourgish", "myanmar", "tibetan", "tagalog",
    "malagasy", "assamese", "tatar", "hawaiian", "lingala", "hausa", "bashkir", "javanese",
    "sundanese", "cantonese",
};

int vf_whisper_lang_id(const char *code) {
    if (!code)
        return -1;
    for (int i = 0; i < VF_WH_N_LANGS; i++)
        if (!strcmp(code, lang_codes[i]) || !strcmp(code, lang_names[i]))
            return i;
    return -1;
}

const char *vf_whisper_lang_code(int id) {
    return id >= 0 && id < VF_WH_N_LANGS ? lang_codes[id] : NULL;
}

/* ==== Hash from bytes to id ================================================= */

static uint32_t fnv1a(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

int32_t vf__wh_vocab_find(const struct vf_wh_vocab *v, const char *s, size_t n) {
    if (!v->hash)
        return -1;
    uint32_t mask = v->hash_cap - 1;
    for (uint32_t i = fnv1a(s, n) & mask;; i = (i + 1) & mask) {
        int32_t id = v->hash[i];
        if (id < 0)
            return -1;
        if (v->len[id] == n && !memcmp(v->blob + v->off[id], s, n))
            return id;
    }
}

static void hash_put(struct vf_wh_vocab *v, int32_t id) {
    const char *s = v->blob + v->off[id];
    size_t n = v->len[id];
    uint32_t mask = v->hash_cap - 1;
    for (uint32_t i = fnv1a(s, n) & mask;; i = (i + 1) & mask) {
        int32_t o = v->hash[i];
        if (o < 0 || (v->len[o] == n && !memcmp(v->blob + v->off[o], s, n))) {
            v->hash[i] = id;   /* a later id with the same bytes replaces the earlier */
            return;
        }
    }
}

/* ==== Special tokens and synthesized entries ================================ */

/* prefix, decimal n, suffix into w; returns the length (snprintf is the
 * hot spot when a file stores few tokens, as fuzz inputs do). */
static size_t fmt_name(char *w, const char *prefix, int n, const char *suffix) {
    size_t k = strlen(prefix);
    memcpy(w, prefix, k);
    char d[12];
    int nd = 0;
    do {
        d[nd++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0 && nd < 11);
    while (nd)
        w[k++] = d[--nd];
    size_t s = strlen(suffix);
    memcpy(w + k, suffix, s);
    return k + s;
}

int vf__wh_vocab_finish(struct vf_wh_vocab *v) {
    v->multilingual = v->n_vocab >= 51865;
    /* whisper.cpp's count: 99 for .en and the first multilingual models, 100 for large-v3 */
    const int nl = v->n_vocab - 51765 - (v->multilingual ? 1 : 0);
    v->n_languages = v->multilingual ? nl : 0;
    v->eot = 50256, v->sot = 50257, v->translate = 50357, v->transcribe = 50358;
    v->solm = 50359, v->prev = 50360, v->nosp = 50361, v->not_ts = 50362, v->beg = 50363;
    if (v->multilingual) {
        const int dt = nl - 98;
        v->eot++, v->sot++;
        v->translate += dt, v->transcribe += dt, v->solm += dt, v->prev += dt;
        v->nosp += dt, v->not_ts += dt, v->beg += dt;
    }

    /* Names of the tokens the file does not store, as whisper.cpp makes them. */
    size_t used = v->n_file ? v->off[v->n_file - 1] + v->len[v->n_file - 1] : 0;
    size_t extra = (size_t)(v->n_vocab - v->n_file) * 24;
    char *b = vf_realloc(v->blob, used + extra + 1);
    if (!b)
        return VF_ERR_NOMEM;
    v->blob = b;
    for (int32_t i = v->n_file; i < v->n_vocab; i++) {
        char w[32];
        size_t n = 0;
        if (i > v->beg)
            n = fmt_name(w, "[_TT_", i - v->beg, "]");
        else if (i == v->eot) snprintf(w, sizeof w, "[_EOT_]");
        else if (i == v->sot) snprintf(w, sizeof w, "[_SOT_]");
        else if (i == v->translate) snprintf(w, sizeof w, "[_TRANSLATE_]");
        else if (i == v->transcribe) snprintf(w, sizeof w, "[_TRANSCRIBE_]");
        else if (i == v->solm) snprintf(w, sizeof w, "[_SOLM_]");
        else if (i == v->prev) snprintf(w, sizeof w, "[_PREV_]");
        else if (i == v->nosp) snprintf(w, sizeof w, "[_NOSP_]");
        else if (i == v->not_ts) snprintf(w, sizeof w, "[_NOT_]");
        else if (i == v->beg) snprintf(w, sizeof w, "[_BEG_]");
        else if (i > v->sot && i <= v->sot + nl && i - v->sot - 1 < VF_WH_N_LANGS)
            snprintf(w, sizeof w, "[_LANG_%s]", lang_codes[i - v->sot - 1]);
        else
            n = fmt_name(w, "[_extra_token_", i, "]");
        if (!n)
            n = strlen(w);
        memcpy(v->blob + used, w, n);
        v->off[i] = (uint32_t)used;
        v->len[i] = (uint16_t)n;
        used += n;
    }

    v->hash_cap = 1;
    while (v->hash_cap < 2u * (uint32_t)v->n_vocab)
        v->hash_cap <<= 1;
    v->hash = vf_malloc(v->hash_cap * sizeof *v->hash);
    if (!v->hash)
        return VF_ERR_NOMEM;
    memset(v->hash, 0xff, v->hash_cap * sizeof *v->hash);
    v->max_len = 0;
    for (int32_t i = 0; i < v->n_vocab; i++) {
        hash_put(v, i);
        if (v->len[i] > v->max_len)
            v->max_len = v->len[i];
    }
    v->space = vf__wh_vocab_find(v, " ", 1);
    return VF_OK;
}

void vf__wh_vocab_free(struct vf_wh_vocab *v) {
    vf_free(v->blob);
    vf_free(v->off);
    vf_free(v->len);
    vf_free(v->hash);
    memset(v, 0, sizeof *v);
}

/* ==== Tokenizer ============================================================= */

static bool c_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool c_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool c_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static bool c_other(unsigned char c) { return !c_space(c) && !c_alpha(c) && !c_digit(c); }

/* Length of the pre-split word starting at t[p] (n bytes in all); always
 * at least 1 while p < n. */
static size_t next_word(const unsigned char *t, size_t p, size_t n) {
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    if (t[p] == '\'') {
        for (size_t k = 0; k < VF_ARRAY_LEN(contractions); k++) {
            size_t l = strlen(contractions[k]);
            if (p + l <= n && !memcmp(t + p, contractions[k], l))
                return l;
        }
    }
    bool (*classes[3])(unsigned char) = {c_alpha, c_digit, c_other};
    for (int k = 0; k < 3; k++) {
        size_t q = p;
        if (t[q] == ' ' && q + 1 < n && classes[k](t[q + 1]))
            q++;
        if (classes[k](t[q])) {
            while (q < n && classes[k](t[q]))
                q++;
            return q - p;
        }
    }
    /* whitespace: \s+(?!\S) gives back the last space before a word */
    size_t q = p;
    while (q < n && c_space(t[q]))
        q++;
    if (q < n && q - p >= 2)
        return q - p - 1;
    return q - p;
}

int vf__wh_tokenize(const struct vf_wh_vocab *v, const char *text, int32_t *out, int max) {
    const unsigned char *t = (const unsigned char *)text;
    size_t n = strlen(text);
    int count = 0;
    for (size_t p = 0; p < n;) {
        size_t wl = next_word(t, p, n);
        for (size_t i = 0; i < wl;) {
            size_t j = VF_MIN(wl - i, (size_t)v->max_len);
            int32_t id = -1;
            for (; j > 0; j--) {
                id = vf__wh_vocab_find(v, (const char *)t + p + i, j);
                if (id >= 0)
                    break;
            }
            if (id < 0) {
                i++;           /* no entry for this byte: skipped, as whisper.cpp does */
                continue;
            }
            if (count < max)
                out[count] = id;
            count++;
            i += j;
        }
        p += wl;
    }
    return count;
}

/* ==== Public accessors ====================================================== */

const char *vf_whisper_token_bytes(const struct vf_whisper_model *m, int32_t id, size_t *len) {
    const struct vf_wh_vocab *v = &m->file.vocab;
    if (id < 0 || id >= v->n_vocab)
        return NULL;
    if (len)
        *len = v->len[id];
    return v->blob + v->off[id];
}

int vf_whisper_tokenize(const struct vf_whisper_model *m, const char *text, int32_t *out, int max) {
    if (!text || strlen(text) > VF_WHISPER_MAX_PROMPT)
        return VF_ERR_ARG;
    int n = vf__wh_tokenize(&m->file.vocab, text, out, max);
    return n > max ? VF_ERR_TOOBIG : n;
}

int32_t vf_whisper_token_special(const struct vf_whisper_model *m, enum vf_whisper_special which) {
    const struct vf_wh_vocab *v = &m->file.vocab;
    switch (which) {
    case VF_WHISPER_TOKEN_EOT: return v->eot;
    case VF_WHISPER_TOKEN_SOT: return v->sot;
    case VF_WHISPER_TOKEN_TRANSLATE: return v->translate;
    case VF_WHISPER_TOKEN_TRANSCRIBE: return v->transcribe;
    case VF_WHISPER_TOKEN_SOLM: return v->solm;
    case VF_WHISPER_TOKEN_PREV: return v->prev;
    case VF_WHISPER_TOKEN_NOSP: return v->nosp;
    case VF_WHISPER_TOKEN_NOT: return v->not_ts;
    case VF_WHISPER_TOKEN_BEG: return v->beg;
    }
    return -1;
}
