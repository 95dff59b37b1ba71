/* cmd_transcribe.c - `voxfit transcribe`: speech to text with the embedded
 * Whisper (src/stt/vf_whisper.h) on a whisper.cpp model file. Prints the
 * segments with their times, or JSON (--json) with the text, the segments
 * and, with --tokens, every token; --dump-mel writes the log-mel
 * spectrogram for comparisons with other implementations. */
#include "cli.h"
#include "../core/args.h"
#include "../core/log.h"
#include "../core/str.h"
#include "../stt/audio.h"
#include "../stt/vf_whisper.h"
#include "../stt/whisper_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* s as valid UTF-8 (each byte of an invalid sequence becomes U+FFFD), in a
 * new string (vf_free). JSON must be UTF-8; the model may emit partial
 * characters at segment edges. */
static char *utf8_clean(const char *s) {
    size_t n = strlen(s);
    char *o = vf_malloc(3 * n + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char c = (unsigned char)s[i];
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + (size_t)len <= n;
        for (int j = 1; ok && j < len; j++)
            ok = ((unsigned char)s[i + j] >> 6) == 2;
        if (ok && len == 2 && c < 0xC2)
            ok = false;   /* overlong */
        if (ok && len == 3) {
            unsigned cp = (c & 15u) << 12 | ((unsigned char)s[i + 1] & 63u) << 6 | ((unsigned char)s[i + 2] & 63u);
            ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
        }
        if (ok && len == 4) {
            unsigned cp = (c & 7u) << 18 | ((unsigned char)s[i + 1] & 63u) << 12;
            ok = cp >= 0x10000 && cp <= 0x10FFFF;
        }
        if (ok) {
            memcpy(o + k, s + i, (size_t)len);
            k += (size_t)len;
            i += (size_t)len;
        } else {
            memcpy(o + k, "\xef\xbf\xbd", 3);
            k += 3;
            i++;
        }
    }
    o[k] = '\0';
    return o;
}

static void fmt_time(int64_t ms, char *b, size_t n) {
    snprintf(b, n, "%02lld:%02lld:%02lld.%03lld", (long long)(ms / 3600000), (long long)(ms / 60000 % 60),
             (long long)(ms / 1000 % 60), (long long)(ms % 1000));
}

static int dump_mel(const struct vf_whisper_model *m, const float *pcm, size_t n, int threads,
                    const char *path) {
    struct vf_wh_mel mel = {0};
    int rc = vf__wh_mel(pcm, n, m->file.filters, m->hp.n_mels, threads, &mel);
    if (rc)
        return rc;
    FILE *f = fopen(path, "wb");
    int hdr[3] = {mel.n_mel, mel.n_len, mel.n_len_org};
    size_t cnt = (size_t)mel.n_mel * mel.n_len;
    if (!f || fwrite(hdr, 4, 3, f) != 3 || fwrite(mel.data, 4, cnt, f) != cnt)
        rc = VF_ERR_IO;
    if (f && fclose(f) != 0)
        rc = VF_ERR_IO;
    vf__wh_mel_free(&mel);
    return rc;
}

/* The logits of the first segment's tokens under teacher forcing (after the
 * task tokens), for comparisons with other implementations: i32 n, i32
 * n_vocab, i32 tokens[n], f32 logits[n][n_vocab]. */
static int dump_logits(struct vf_whisper_state *s, const struct vf_whisper_model *m,
                       const struct vf_whisper_result *r, const char *language, const float *pcm,
                       size_t n_pcm, const char *path) {
    int32_t toks[448];
    int n = 0;
    toks[n++] = vf_whisper_token_special(m, VF_WHISPER_TOKEN_SOT);
    struct vf_whisper_model_info info;
    vf_whisper_model_info(m, &info);
    if (info.multilingual) {
        int lang = vf_whisper_lang_id(language);
        toks[n++] = toks[0] + 1 + (lang < 0 ? r->lang_id : lang);
        toks[n++] = vf_whisper_token_special(m, VF_WHISPER_TOKEN_TRANSCRIBE);
    }
    for (int i = 0; r->n_segments > 0 && i < r->segments[0].n_tokens && n < 224; i++)
        toks[n++] = r->segments[0].tokens[i].id;
    const size_t nv = (size_t)info.n_vocab;
    float *lg = vf_malloc((size_t)n * nv * sizeof(float));
    if (!lg)
        return VF_ERR_NOMEM;
    int rc = vf__wh_teacher_logits(s, pcm, n_pcm, toks, n, lg);
    FILE *f = rc ? NULL : fopen(path, "wb");
    int32_t hdr[2] = {n, info.n_vocab};
    if (!rc && (!f || fwrite(hdr, 4, 2, f) != 2 || fwrite(toks, 4, (size_t)n, f) != (size_t)n ||
                fwrite(lg, sizeof(float), (size_t)n * nv, f) != (size_t)n * nv))
        rc = VF_ERR_IO;
    if (f && fclose(f) != 0)
        rc = VF_ERR_IO;
    vf_free(lg);
    return rc;
}

static cJSON *result_json(const struct vf_whisper_model *m, const struct vf_whisper_result *r,
                          const char *audio, size_t n_samples, bool tokens) {
    cJSON *root = cJSON_CreateObject();
    size_t total = 0;
    for (int i = 0; i < r->n_segments; i++)
        total += strlen(r->segments[i].text);
    char *all = vf_malloc(total + 1), *clean = NULL;
    if (!root || !all) {
        cJSON_Delete(root);
        vf_free(all);
        return NULL;
    }
    all[0] = '\0';
    for (int i = 0; i < r->n_segments; i++)
        strcat(all, r->segments[i].text);
    clean = utf8_clean(all);
    cJSON_AddStringToObject(root, "audio", audio);
    cJSON_AddNumberToObject(root, "duration_ms", n_samples / (double)VF_WHISPER_SAMPLE_RATE * 1000.0);
    cJSON_AddStringToObject(root, "language", vf_whisper_lang_code(r->lang_id) ? vf_whisper_lang_code(r->lang_id) : "?");
    if (r->lang_prob > 0)
        cJSON_AddNumberToObject(root, "language_prob", r->lang_prob);
    cJSON_AddStringToObject(root, "text", clean ? clean : "");
    vf_free(clean);
    vf_free(all);
    cJSON *segs = cJSON_AddArrayToObject(root, "segments");
    for (int i = 0; i < r->n_segments; i++) {
        const struct vf_whisper_segment *g = &r->segments[i];
        cJSON *s = cJSON_CreateObject();
        char *t = utf8_clean(g->text);
        cJSON_AddNumberToObject(s, "t0_ms", (double)g->t0_ms);
        cJSON_AddNumberToObject(s, "t1_ms", (double)g->t1_ms);
        cJSON_AddStringToObject(s, "text", t ? t : "");
        vf_free(t);
        cJSON_AddNumberToObject(s, "no_speech_prob", g->no_speech_prob);
        if (tokens) {
            cJSON *tk = cJSON_AddArrayToObject(s, "tokens");
            for (int k = 0; k < g->n_tokens; k++) {
                const struct vf_whisper_token *x = &g->tokens[k];
                cJSON *a = cJSON_CreateArray();
                cJSON_AddItemToArray(a, cJSON_CreateNumber(x->id));
                cJSON_AddItemToArray(a, cJSON_CreateNumber(x->tid));
                cJSON_AddItemToArray(a, cJSON_CreateNumber(x->p));
                cJSON_AddItemToArray(a, cJSON_CreateNumber(x->plog));
                cJSON_AddItemToArray(tk, a);
            }
        }
        cJSON_AddItemToArray(segs, s);
    }
    cJSON *tm = cJSON_AddObjectToObject(root, "timings");
    cJSON_AddNumberToObject(tm, "mel_ms", r->mel_ms);
    cJSON_AddNumberToObject(tm, "encode_ms", r->encode_ms);
    cJSON_AddNumberToObject(tm, "decode_ms", r->decode_ms);
    cJSON_AddNumberToObject(tm, "total_ms", r->total_ms);
    cJSON_AddNumberToObject(tm, "windows", r->n_windows);
    cJSON_AddNumberToObject(tm, "fallbacks", r->n_fallbacks);
    cJSON_AddNumberToObject(tm, "rtf", r->total_ms / (n_samples / (double)VF_WHISPER_SAMPLE_RATE * 1000.0 + 1e-9));
    (void)m;
    return root;
}

int vf_cmd_transcribe(int argc, char **argv) {
    /* defaults: those of whisper.cpp's command-line tool where it has the option */
    const char *stt = NULL, *language = "en", *prompt = NULL, *dump = NULL, *dump_lg = NULL;
    int beam = 0, best_of = 5, threads = 0, offset_ms = 0, duration_ms = 0, max_tokens = 0, audio_ctx = 0;
    double temperature = 0.0, temperature_inc = 0.2;
    bool json = false, tokens = false, no_ts = false, no_fallback = false, no_fa = false;
    bool translate = false, nst = false, no_gpu = false, beam_sampled = false;
    const struct vf_opt opts[] = {
        {"--stt", NULL, VF_OPT_STR, &stt, "FILE", "whisper.cpp model file (ggml-*.bin)", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--language", "-l", VF_OPT_STR, &language, "L", "spoken language code, or 'auto' to detect", "en", 0, 0, 0, 0, NULL, NULL},
        {"--translate", NULL, VF_OPT_FLAG, &translate, NULL, "translate into English", "off", 0, 0, 0, 0, NULL, NULL},
        {"--beam", "-b", VF_OPT_INT, &beam, "N", "beam search with N beams (0: greedy)", "0", 0, VF_WHISPER_MAX_DECODERS, 0, 0, NULL, NULL},
        {"--best-of", NULL, VF_OPT_INT, &best_of, "N", "candidates sampled when falling back to t > 0", "5", 1, VF_WHISPER_MAX_DECODERS, 0, 0, NULL, NULL},
        {"--temperature", NULL, VF_OPT_DOUBLE, &temperature, "T", "first decoding temperature", "0", 0, 0, 0.0, 1.0, NULL, NULL},
        {"--temperature-inc", NULL, VF_OPT_DOUBLE, &temperature_inc, "T", "temperature step of the fallback", "0.2", 0, 0, 0.0, 1.0, NULL, NULL},
        {"--no-fallback", NULL, VF_OPT_FLAG, &no_fallback, NULL, "never re-decode at a higher temperature", "off", 0, 0, 0, 0, NULL, NULL},
        {"--prompt", NULL, VF_OPT_STR, &prompt, "TEXT", "initial prompt (vocabulary, style)", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--no-timestamps", NULL, VF_OPT_FLAG, &no_ts, NULL, "decode without timestamp tokens", "off", 0, 0, 0, 0, NULL, NULL},
        {"--suppress-nst", NULL, VF_OPT_FLAG, &nst, NULL, "suppress non-speech tokens ([music], ♪ ...)", "off", 0, 0, 0, 0, NULL, NULL},
        {"--max-tokens", NULL, VF_OPT_INT, &max_tokens, "N", "most tokens per segment (0: no limit)", "0", 0, 448, 0, 0, NULL, NULL},
        {"--offset-ms", NULL, VF_OPT_INT, &offset_ms, "MS", "start this far into the audio", "0", 0, VF_WHISPER_MAX_SECONDS * 1000, 0, 0, NULL, NULL},
        {"--duration-ms", NULL, VF_OPT_INT, &duration_ms, "MS", "transcribe only this much (0: all)", "0", 0, VF_WHISPER_MAX_SECONDS * 1000, 0, 0, NULL, NULL},
        {"--audio-ctx", NULL, VF_OPT_INT, &audio_ctx, "N", "encode only N of the 1500 frames of a window (short audio)", "0 (all)", 0, 1500, 0, 0, NULL, NULL},
        {"--threads", "-t", VF_OPT_INT, &threads, "N", "CPU threads", "min(4, cores)", 0, 512, 0, 0, NULL, NULL},
        {"--no-flash-attn", NULL, VF_OPT_FLAG, &no_fa, NULL, "plain attention instead of the fused kernels", "off", 0, 0, 0, 0, NULL, NULL},
        {"--no-gpu", NULL, VF_OPT_FLAG, &no_gpu, NULL, "run on the CPU even when a GPU is present", "off", 0, 0, 0, 0, NULL, NULL},
        {"--beam-sampled", NULL, VF_OPT_FLAG, &beam_sampled, NULL, "beams drawn from the distribution, as whisper.cpp does", "off", 0, 0, 0, 0, NULL, NULL},
        {"--json", NULL, VF_OPT_FLAG, &json, NULL, "JSON with text, segments and timings", "off", 0, 0, 0, 0, NULL, NULL},
        {"--tokens", NULL, VF_OPT_FLAG, &tokens, NULL, "with --json: every token [id, timestamp id, p, log p]", "off", 0, 0, 0, 0, NULL, NULL},
        {"--dump-mel", NULL, VF_OPT_STR, &dump, "FILE", "write the log-mel spectrogram (i32 n_mel, n_len, n_len_org; f32 data)", NULL, 0, 0, 0, 0, NULL, NULL},
        {"--dump-logits", NULL, VF_OPT_STR, &dump_lg, "FILE", "write the logits of the first segment's tokens, teacher-forced (i32 n, n_vocab, tokens; f32 logits)", NULL, 0, 0, 0, 0, NULL, NULL},
    };
    const char *pos[1];
    int npos = 0;
    enum vf_args_result ar = vf_args_parse(
        "voxfit transcribe --stt FILE [--language L] [--beam N] [--json] AUDIO",
        "Transcribe an audio file (WAV, FLAC, OGG; any rate, mixed to mono 16 kHz) with the embedded "
        "Whisper.", opts, VF_ARRAY_LEN(opts), argc, argv, pos, 1, &npos, stdout, stderr);
    if (ar != VF_ARGS_OK)
        return ar == VF_ARGS_HELP ? 0 : 2;
    if (!stt || npos != 1) {
        fprintf(stderr, "voxfit transcribe: --stt FILE and one AUDIO file are required\n");
        return 2;
    }
    int code = 1;
    char err[512] = "";
    float *pcm = NULL;
    size_t n = 0;
    struct vf_whisper_model *m = NULL;
    struct vf_whisper_state *s = NULL;
    struct vf_whisper_result r = {0};
    int rc = vf_stt_audio_read(pos[0], VF_WHISPER_MAX_SECONDS, &pcm, &n, err, sizeof err);
    if (rc) {
        fprintf(stderr, "voxfit transcribe: %s\n", err);
        return rc == VF_ERR_IO ? 1 : 2;
    }
    struct vf_whisper_model_params mp = vf_whisper_model_default_params();
    mp.use_gpu = !no_gpu;
    if ((rc = vf_whisper_model_load(stt, &mp, &m, err, sizeof err))) {
        fprintf(stderr, "voxfit transcribe: %s\n", err);
        code = rc == VF_ERR_IO ? 1 : 2;
        goto out;
    }
    struct vf_whisper_state_params sp = vf_whisper_state_default_params();
    if (threads)
        sp.n_threads = threads;
    sp.flash_attn = !no_fa;
    sp.n_decoders = VF_MAX(beam, best_of);
    if (dump) {
        if ((rc = dump_mel(m, pcm, n, sp.n_threads, dump))) {
            fprintf(stderr, "voxfit transcribe: cannot write %s: %s\n", dump, vf_status_str(rc));
            goto out;
        }
    }
    if ((rc = vf_whisper_state_init(m, &sp, &s, err, sizeof err))) {
        fprintf(stderr, "voxfit transcribe: %s\n", err);
        goto out;
    }
    struct vf_whisper_params p = vf_whisper_default_params();
    p.strategy = beam > 0 ? VF_WHISPER_BEAM_SEARCH : VF_WHISPER_GREEDY;
    p.beam_size = beam > 0 ? beam : 5;
    p.best_of = best_of;
    p.language = language;
    p.translate = translate;
    p.initial_prompt = prompt;
    p.temperature = (float)temperature;
    p.temperature_inc = no_fallback ? 0.0f : (float)temperature_inc;
    p.no_timestamps = no_ts;
    p.suppress_nst = nst;
    p.max_tokens = max_tokens;
    p.offset_ms = offset_ms;
    p.duration_ms = duration_ms;
    p.beam_sampled = beam_sampled;
    p.audio_ctx = audio_ctx;
    rc = vf_whisper_transcribe(s, &p, pcm, n, &r, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "voxfit transcribe: %s\n", err);
        code = rc == VF_ERR_ARG ? 2 : 1;
        goto out;
    }
    if (dump_lg && (rc = dump_logits(s, m, &r, language, pcm, n, dump_lg))) {
        fprintf(stderr, "voxfit transcribe: cannot write %s: %s\n", dump_lg, vf_status_str(rc));
        goto out;
    }
    if (json) {
        cJSON *root = result_json(m, &r, pos[0], n, tokens);
        char *txt = root ? cJSON_Print(root) : NULL;
        if (!txt) {
            fprintf(stderr, "voxfit transcribe: out of memory\n");
            cJSON_Delete(root);
            goto out;
        }
        puts(txt);
        cJSON_free(txt);
        cJSON_Delete(root);
    } else {
        for (int i = 0; i < r.n_segments; i++) {
            char a[32], b[32];
            fmt_time(r.segments[i].t0_ms, a, sizeof a);
            fmt_time(r.segments[i].t1_ms, b, sizeof b);
            printf("[%s --> %s] %s\n", a, b, r.segments[i].text);
        }
    }
    code = 0;
out:
    vf_whisper_result_free(&r);
    vf_whisper_state_free(s);
    vf_whisper_model_free(m);
    vf_free(pcm);
    return code;
}
