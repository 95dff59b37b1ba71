/* serve_direct.c - the baseline for bench/serve_bench.sh: a plain libllama
 * decode loop (one sequence, the model's chat template, the same sampler
 * chain the server builds for temperature 1 / top_p 1 with a seed) on the
 * same model, context and threads as the server, printing time to first
 * text and decode tokens/s. Built by serve_bench.sh against the same
 * llama.cpp libraries voxfit links.
 *
 * Measured as the client measures the server: the first text is the first
 * token after which the output holds something to show (a server holds back
 * a UTF-8 character whose bytes are split over tokens, and special tokens
 * print nothing, which random-weight models sample often), and decode
 * tokens/s = (tokens - 1) / (last token - first text).
 *
 * usage: serve_direct MODEL.gguf N_TOKENS THREADS CTX [REPEATS]
 *        serve_direct MODEL.gguf --eog     (print the end-of-generation token ids) */
#include <ggml-backend.h>
#include <llama.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void quiet(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

/* Has the text produced so far (bytes held[0..n)) something to show? Not
 * when it is empty or one UTF-8 character still missing bytes. */
static int visible(const unsigned char *held, size_t n) {
    if (!n)
        return 0;
    unsigned char c = held[0];
    size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 1;
    if (n >= len)
        return 1;
    for (size_t i = 1; i < n; i++)
        if ((held[i] & 0xC0) != 0x80)
            return 1; /* invalid: shown as U+FFFD */
    return 0;
}

static int print_eog(const char *path) {
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    struct llama_model *m = llama_model_load_from_file(path, mp);
    if (!m)
        return 1;
    const struct llama_vocab *v = llama_model_get_vocab(m);
    const char *sep = "";
    for (int i = 0; i < llama_vocab_n_tokens(v); i++)
        if (llama_vocab_is_eog(v, i)) {
            printf("%s%d", sep, i);
            sep = ",";
        }
    printf("\n");
    llama_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[2], "--eog")) {
        llama_log_set(quiet, NULL);
        return print_eog(argv[1]);
    }
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL.gguf N_TOKENS THREADS CTX [REPEATS]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    int n_gen = atoi(argv[2]), threads = atoi(argv[3]), n_ctx = atoi(argv[4]);
    int repeats = argc > 5 ? atoi(argv[5]) : 3;
    llama_log_set(quiet, NULL);
    const char *dir = getenv("VOXFIT_GGML_BACKEND_DIR");
    if (dir)
        ggml_backend_load_all_from_path(dir);
    else
        ggml_backend_load_all();
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = getenv("NGL") ? atoi(getenv("NGL")) : 0;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model)
        return 1;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = 2048;
    cp.n_threads = cp.n_threads_batch = threads;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    struct llama_chat_message msg = {"user", "Write a long story about a voice assistant."};
    char prompt[4096];
    const char *tmpl = llama_model_chat_template(model, NULL);
    int n = llama_chat_apply_template(tmpl ? tmpl : "chatml", &msg, 1, true, prompt, sizeof prompt);
    if (n < 0 || n >= (int)sizeof prompt)
        n = llama_chat_apply_template("chatml", &msg, 1, true, prompt, sizeof prompt);
    llama_token toks[1024];
    int nt = llama_tokenize(vocab, prompt, n, toks, 1024, true, true);
    double best_tps = 0, best_ttft = 1e30, ttft_sum = 0, tps_sum = 0;
    for (int r = 0; r <= repeats; r++) { /* round 0 warms up */
        llama_memory_clear(llama_get_memory(ctx), true);
        struct llama_sampler *s = llama_sampler_chain_init(llama_sampler_chain_default_params());
        struct llama_logit_bias bias[16];
        int nb = 0;
        for (int i = 0; i < llama_vocab_n_tokens(vocab) && nb < 16; i++)
            if (llama_vocab_is_eog(vocab, i))
                bias[nb++] = (struct llama_logit_bias){i, -100.0f};
        llama_sampler_chain_add(s, llama_sampler_init_logit_bias(llama_vocab_n_tokens(vocab), nb, bias));
        llama_sampler_chain_add(s, llama_sampler_init_temp(1.0f));
        llama_sampler_chain_add(s, llama_sampler_init_dist(42));
        struct llama_batch b = llama_batch_init(2048, 0, 1);
        double t0 = now_s();
        for (int i = 0; i < nt; i++) {
            b.token[i] = toks[i];
            b.pos[i] = i;
            b.n_seq_id[i] = 1;
            b.seq_id[i][0] = 0;
            b.logits[i] = i == nt - 1;
        }
        b.n_tokens = nt;
        if (llama_decode(ctx, b))
            return 1;
        llama_token t = llama_sampler_sample(s, ctx, nt - 1);
        char piece[256];
        unsigned char held[8];
        size_t n_held = 0;
        int np = llama_token_to_piece(vocab, t, piece, sizeof piece, 0, false);
        double t1 = 0;
        for (int k = 0; k < np && n_held < sizeof held; k++)
            held[n_held++] = (unsigned char)piece[k];
        if (visible(held, n_held))
            t1 = now_s();
        int pos = nt;
        for (int i = 1; i < n_gen; i++) {
            b.token[0] = t;
            b.pos[0] = pos++;
            b.n_seq_id[0] = 1;
            b.seq_id[0][0] = 0;
            b.logits[0] = 1;
            b.n_tokens = 1;
            if (llama_decode(ctx, b))
                return 1;
            t = llama_sampler_sample(s, ctx, 0);
            np = llama_token_to_piece(vocab, t, piece, sizeof piece, 0, false);
            if (!t1) {
                for (int k = 0; k < np && n_held < sizeof held; k++)
                    held[n_held++] = (unsigned char)piece[k];
                if (visible(held, n_held))
                    t1 = now_s();
            }
        }
        double t2 = now_s();
        if (!t1)
            t1 = t2;
        double tps = (n_gen - 1) / (t2 - t1);
        if (r > 0) {
            ttft_sum += t1 - t0;
            tps_sum += tps;
            if (tps > best_tps)
                best_tps = tps;
            if (t1 - t0 < best_ttft)
                best_ttft = t1 - t0;
        }
        llama_batch_free(b);
        llama_sampler_free(s);
    }
    printf("{\"prompt_tokens\":%d,\"ttft_ms\":%.2f,\"decode_tps\":%.2f,\"best_decode_tps\":%.2f,"
           "\"best_ttft_ms\":%.2f}\n", nt, ttft_sum / repeats * 1e3, tps_sum / repeats, best_tps, best_ttft * 1e3);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
