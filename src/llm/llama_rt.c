/* llama_rt.c - see llama_rt.h. */
#include "llama_rt.h"
#include "../core/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <ggml-backend.h>
#include <llama.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc = VF_ERR_BACKEND;
static pthread_mutex_t cap_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t buf_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cap_buf;
static size_t cap_len, cap_cap;
static bool capturing;

#define CAPTURE_MAX (4u << 20)

static void on_log(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    pthread_mutex_lock(&buf_lock);
    if (capturing) {
        size_t n = strlen(text);
        if (cap_len + n + 1 > cap_cap && cap_len + n + 1 <= CAPTURE_MAX) {
            size_t nc = cap_cap ? cap_cap * 2 : 65536;
            while (nc < cap_len + n + 1)
                nc *= 2;
            char *b = realloc(cap_buf, nc);
            if (b) {
                cap_buf = b;
                cap_cap = nc;
            }
        }
        if (cap_len + n + 1 <= cap_cap) {
            memcpy(cap_buf + cap_len, text, n + 1);
            cap_len += n;
        }
    }
    pthread_mutex_unlock(&buf_lock);
    enum vf_log_level l = level == GGML_LOG_LEVEL_ERROR ? VF_LOG_ERROR
                        : level == GGML_LOG_LEVEL_WARN  ? VF_LOG_WARN
                        : VF_LOG_DEBUG;
    vf_log_raw(l, "llama", text);
}

static void do_init(void) {
    llama_log_set(on_log, NULL);
#ifdef VF_LLAMA_LIBDIR
    const char *dir = getenv("VOXFIT_GGML_BACKEND_DIR");
    ggml_backend_load_all_from_path(dir ? dir : VF_LLAMA_LIBDIR);
#else
    ggml_backend_load_all();
#endif
    llama_backend_init();
    bool cpu = false;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++)
        if (ggml_backend_dev_type(ggml_backend_dev_get(i)) == GGML_BACKEND_DEVICE_TYPE_CPU)
            cpu = true;
    if (!cpu) {
        vf_log(VF_LOG_ERROR, "llama", "no ggml CPU backend could be loaded");
        return;
    }
    init_rc = VF_OK;
}

int vf_llama_rt_init(void) {
    pthread_once(&once, do_init);
    return init_rc;
}

int vf_llama_rt_gpu_count(void) {
    if (vf_llama_rt_init())
        return 0;
    int n = 0;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++)
        if (ggml_backend_dev_type(ggml_backend_dev_get(i)) == GGML_BACKEND_DEVICE_TYPE_GPU)
            n++;
    return n;
}

void vf_llama_rt_capture_begin(void) {
    pthread_mutex_lock(&cap_lock);
    pthread_mutex_lock(&buf_lock);
    cap_len = 0;
    if (cap_buf)
        cap_buf[0] = '\0';
    capturing = true;
    pthread_mutex_unlock(&buf_lock);
}

char *vf_llama_rt_capture_end(void) {
    pthread_mutex_lock(&buf_lock);
    capturing = false;
    char *out = vf_strndup(cap_buf ? cap_buf : "", cap_len);
    pthread_mutex_unlock(&buf_lock);
    pthread_mutex_unlock(&cap_lock);
    return out;
}
