/* whisper_oracle.c - drives upstream whisper.cpp as the reference that
 * voxfit's Whisper is compared with. The registry package
 * @fugood/node-whisper-linux-x64 ships whisper.cpp built into a Node addon
 * (index.node) that also exports whisper.cpp's whole C API; this program
 * dlopen()s it (the addon's Node symbols stay unresolved, they are never
 * called) and uses the API directly, which the addon's JavaScript surface
 * does not expose: token ids, logits, and the mel spectrogram.
 *
 * Built at test time against the whisper.h of @fugood/whisper.node (the
 * same release): cc -I... whisper_oracle.c -ldl. Usage:
 *   whisper_oracle ADDON MODEL info
 *   whisper_oracle ADDON MODEL mel AUDIO.wav OUT.f32      (n_mel, n_len, n_len_org, data)
 *   whisper_oracle ADDON MODEL logits AUDIO.wav OUT.f32 TOKEN...
 *   whisper_oracle ADDON MODEL full AUDIO.wav [key=value ...]   (JSON on stdout)
 * keys: threads, fa (0/1), strategy (greedy/beam), beam, best_of, temp,
 * temp_inc, lang, prompt, no_ts, nst, max_tokens, offset_ms, duration_ms, audio_ctx.
 *
 * whisper.cpp keeps the spectrogram in its opaque state; "mel" finds it by
 * looking in the state for the three ints (n_len, n_len_org, n_mel) that
 * precede a std::vector<float> of n_len * n_mel values, all of which are
 * known from the number of samples, and refuses to guess otherwise. */
#include "whisper.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FN(name) static __typeof__(&name) p_##name
FN(whisper_init_from_file_with_params_no_state);
FN(whisper_context_default_params);
FN(whisper_init_state);
FN(whisper_free_state);
FN(whisper_free);
FN(whisper_pcm_to_mel_with_state);
FN(whisper_encode_with_state);
FN(whisper_decode_with_state);
FN(whisper_get_logits_from_state);
FN(whisper_full_default_params);
FN(whisper_full_with_state);
FN(whisper_full_n_segments_from_state);
FN(whisper_full_get_segment_t0_from_state);
FN(whisper_full_get_segment_t1_from_state);
FN(whisper_full_get_segment_text_from_state);
FN(whisper_full_n_tokens_from_state);
FN(whisper_full_get_token_data_from_state);
FN(whisper_full_lang_id_from_state);
FN(whisper_n_vocab);
FN(whisper_model_n_mels);
FN(whisper_version);
FN(whisper_log_set);
FN(whisper_print_system_info);

static void *lib;

static void load(const char *path) {
    lib = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "oracle: dlopen %s: %s\n", path, dlerror());
        exit(3);
    }
#define L(name)                                                                  \
    do {                                                                         \
        p_##name = (__typeof__(p_##name))dlsym(lib, #name);                      \
        if (!p_##name) {                                                         \
            fprintf(stderr, "oracle: %s missing from %s\n", #name, path);        \
            exit(3);                                                             \
        }                                                                        \
    } while (0)
    L(whisper_init_from_file_with_params_no_state); L(whisper_context_default_params);
    L(whisper_init_state); L(whisper_free_state); L(whisper_free);
    L(whisper_pcm_to_mel_with_state); L(whisper_encode_with_state); L(whisper_decode_with_state);
    L(whisper_get_logits_from_state); L(whisper_full_default_params); L(whisper_full_with_state);
    L(whisper_full_n_segments_from_state); L(whisper_full_get_segment_t0_from_state);
    L(whisper_full_get_segment_t1_from_state); L(whisper_full_get_segment_text_from_state);
    L(whisper_full_n_tokens_from_state); L(whisper_full_get_token_data_from_state);
    L(whisper_full_lang_id_from_state); L(whisper_n_vocab); L(whisper_model_n_mels);
    L(whisper_version); L(whisper_log_set); L(whisper_print_system_info);
}

static void quiet(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    if (level == GGML_LOG_LEVEL_ERROR || getenv("ORACLE_VERBOSE"))
        fputs(text, stderr);
}

/* A 16-bit PCM mono 16 kHz WAV (what the tests make with sox). */
static float *read_wav(const char *path, int *n_out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(3);
    }
    unsigned char h[12];
    if (fread(h, 1, 12, f) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4)) {
        fprintf(stderr, "oracle: %s is not a WAV file\n", path);
        exit(3);
    }
    int channels = 0, rate = 0, bits = 0;
    for (;;) {
        unsigned char ch[8];
        if (fread(ch, 1, 8, f) != 8) {
            fprintf(stderr, "oracle: %s has no data chunk\n", path);
            exit(3);
        }
        unsigned len = ch[4] | ch[5] << 8 | ch[6] << 16 | (unsigned)ch[7] << 24;
        if (!memcmp(ch, "fmt ", 4)) {
            unsigned char fm[64];
            if (len > sizeof fm || fread(fm, 1, len, f) != len)
                exit(3);
            channels = fm[2] | fm[3] << 8;
            rate = fm[4] | fm[5] << 8 | fm[6] << 16 | fm[7] << 24;
            bits = fm[14] | fm[15] << 8;
        } else if (!memcmp(ch, "data", 4)) {
            if (channels != 1 || rate != 16000 || bits != 16) {
                fprintf(stderr, "oracle: %s must be 16-bit mono 16 kHz\n", path);
                exit(3);
            }
            int n = (int)(len / 2);
            short *s = malloc((size_t)len + 2);
            float *x = malloc((size_t)n * sizeof *x + 4);
            if (!s || !x || fread(s, 2, (size_t)n, f) != (size_t)n)
                exit(3);
            for (int i = 0; i < n; i++)
                x[i] = s[i] / 32768.0f;
            free(s);
            fclose(f);
            *n_out = n;
            return x;
        } else {
            fseek(f, (long)(len + (len & 1)), SEEK_CUR);
        }
    }
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static const char *opt(int argc, char **argv, const char *key, const char *def) {
    size_t k = strlen(key);
    for (int i = 0; i < argc; i++)
        if (!strncmp(argv[i], key, k) && argv[i][k] == '=')
            return argv[i] + k + 1;
    return def;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: whisper_oracle ADDON MODEL info|mel|logits|full ...\n");
        return 2;
    }
    load(argv[1]);
    p_whisper_log_set(quiet, NULL);
    const char *cmd = argv[3];
    struct whisper_context_params cp = p_whisper_context_default_params();
    cp.use_gpu = false;
    cp.flash_attn = atoi(opt(argc - 4, argv + 4, "fa", "0")) != 0;
    struct whisper_context *ctx = p_whisper_init_from_file_with_params_no_state(argv[2], cp);
    if (!ctx) {
        fprintf(stderr, "oracle: whisper.cpp could not load %s\n", argv[2]);
        return 4;
    }
    struct whisper_state *st = p_whisper_init_state(ctx);
    if (!st)
        return 4;
    const int threads = atoi(opt(argc - 4, argv + 4, "threads", "2"));
    if (!strcmp(cmd, "info")) {
        printf("{\"version\": \"%s\", \"system\": \"%s\", \"n_vocab\": %d}\n", p_whisper_version(),
               p_whisper_print_system_info(), p_whisper_n_vocab(ctx));
    } else if (!strcmp(cmd, "mel") && argc >= 6) {
        int n;
        float *x = read_wav(argv[4], &n);
        if (p_whisper_pcm_to_mel_with_state(ctx, st, x, n, threads))
            return 4;
        const int n_mel = p_whisper_model_n_mels(ctx);
        const int n_len = (n + 30 * 16000) / 160, n_org = 1 + (n + 200 - 400) / 160;
        const unsigned char *b = (const unsigned char *)st;
        const float *data = NULL;
        for (size_t off = 0; off + 40 <= 4096 && !data; off += 4) {
            int v[3];
            memcpy(v, b + off, sizeof v);
            if (v[0] != n_len || v[1] != n_org || v[2] != n_mel)
                continue;
            for (size_t q = off + 12; q <= off + 16; q += 4) {
                const float *beg, *end;
                memcpy(&beg, b + q, sizeof beg);
                memcpy(&end, b + q + sizeof beg, sizeof end);
                if (beg && end - beg == (long)n_len * n_mel)
                    data = beg;
            }
        }
        if (!data) {
            fprintf(stderr, "oracle: the spectrogram was not found in whisper.cpp's state\n");
            return 5;
        }
        FILE *o = fopen(argv[5], "wb");
        int hdr[3] = {n_mel, n_len, n_org};
        if (!o || fwrite(hdr, 4, 3, o) != 3 || fwrite(data, 4, (size_t)n_len * n_mel, o) != (size_t)n_len * n_mel)
            return 3;
        fclose(o);
    } else if (!strcmp(cmd, "logits") && argc >= 7) {
        int n;
        float *x = read_wav(argv[4], &n);
        int nt = argc - 6;
        whisper_token *t = calloc((size_t)nt, sizeof *t);
        for (int i = 0; i < nt; i++)
            t[i] = atoi(argv[6 + i]);
        if (p_whisper_pcm_to_mel_with_state(ctx, st, x, n, threads) ||
            p_whisper_encode_with_state(ctx, st, 0, threads) ||
            p_whisper_decode_with_state(ctx, st, t, nt, 0, threads))
            return 4;
        const int nv = p_whisper_n_vocab(ctx);
        const float *lg = p_whisper_get_logits_from_state(st) + (size_t)(nt - 1) * nv;
        FILE *o = fopen(argv[5], "wb");
        if (!o || fwrite(lg, 4, (size_t)nv, o) != (size_t)nv)
            return 3;
        fclose(o);
    } else if (!strcmp(cmd, "full") && argc >= 5) {
        int n;
        float *x = read_wav(argv[4], &n);
        int ac = argc - 5;
        char **av = argv + 5;
        const bool beam = !strcmp(opt(ac, av, "strategy", "greedy"), "beam");
        struct whisper_full_params p = p_whisper_full_default_params(beam ? WHISPER_SAMPLING_BEAM_SEARCH
                                                                          : WHISPER_SAMPLING_GREEDY);
        p.n_threads = threads;
        p.print_progress = false;
        p.print_timestamps = false;
        p.beam_search.beam_size = atoi(opt(ac, av, "beam", "5"));
        p.greedy.best_of = atoi(opt(ac, av, "best_of", "5"));
        p.temperature = (float)atof(opt(ac, av, "temp", "0"));
        p.temperature_inc = (float)atof(opt(ac, av, "temp_inc", "0.2"));
        p.language = opt(ac, av, "lang", "en");
        p.initial_prompt = opt(ac, av, "prompt", NULL);
        p.no_timestamps = atoi(opt(ac, av, "no_ts", "0")) != 0;
        p.suppress_nst = atoi(opt(ac, av, "nst", "0")) != 0;
        p.max_tokens = atoi(opt(ac, av, "max_tokens", "0"));
        p.offset_ms = atoi(opt(ac, av, "offset_ms", "0"));
        p.duration_ms = atoi(opt(ac, av, "duration_ms", "0"));
        p.audio_ctx = atoi(opt(ac, av, "audio_ctx", "0"));
        double t0 = now_ms();
        if (p_whisper_full_with_state(ctx, st, p, x, n))
            return 4;
        double ms = now_ms() - t0;
        int ns = p_whisper_full_n_segments_from_state(st);
        printf("{\"engine\": \"whisper.cpp %s\", \"ms\": %.1f, \"lang_id\": %d, \"segments\": [",
               p_whisper_version(), ms, p_whisper_full_lang_id_from_state(st));
        for (int i = 0; i < ns; i++) {
            printf("%s\n  {\"t0_ms\": %lld, \"t1_ms\": %lld, \"text_hex\": \"", i ? "," : "",
                   (long long)p_whisper_full_get_segment_t0_from_state(st, i) * 10,
                   (long long)p_whisper_full_get_segment_t1_from_state(st, i) * 10);
            for (const unsigned char *c = (const unsigned char *)p_whisper_full_get_segment_text_from_state(st, i); *c; c++)
                printf("%02x", *c);
            printf("\", \"tokens\": [");
            int nt = p_whisper_full_n_tokens_from_state(st, i);
            for (int k = 0; k < nt; k++) {
                whisper_token_data d = p_whisper_full_get_token_data_from_state(st, i, k);
                printf("%s[%d, %d, %.6g, %.6g]", k ? ", " : "", d.id, d.tid, d.p, d.plog);
            }
            printf("]}");
        }
        printf("\n]}\n");
    } else {
        fprintf(stderr, "oracle: unknown command or missing arguments\n");
        return 2;
    }
    p_whisper_free_state(st);
    p_whisper_free(ctx);
    return 0;
}
