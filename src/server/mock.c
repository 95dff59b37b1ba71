/* mock.c - a scripted LLM stage (tests, fuzzing) and the HTTP fuzz entry
 * point. The mock answers every request with "tok0 tok1 ..." at a fixed
 * pace from one thread, honours slots, the queue bound and cancellation
 * like the real engine, and needs no model, so the HTTP layer can be tested
 * and fuzzed in isolation. */
#include "server.h"
#include "../core/str.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MOCK_MAX 64

struct mock_job {
    struct vf_job *j;
    int32_t max, n;
    int32_t prompt;
    bool started;
};

struct mock {
    pthread_t th;
    pthread_mutex_t mu;
    bool stop, admitting;
    char model_id[128];
    int delay_ms;
    uint32_t slots, queue_max;
    struct mock_job jobs[MOCK_MAX];
    int n;
};

static void *mock_main(void *arg) {
    struct mock *m = arg;
    for (;;) {
        struct timespec ts = {m->delay_ms / 1000, (long)(m->delay_ms % 1000) * 1000000L + 100000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&m->mu);
        if (m->stop) {
            for (int i = 0; i < m->n; i++) {
                vf__job_finish(m->jobs[i].j, VF_FINISH_CANCELLED, NULL);
                vf_job_release(m->jobs[i].j);
            }
            m->n = 0;
            pthread_mutex_unlock(&m->mu);
            return NULL;
        }
        uint32_t running = 0;
        for (int i = 0; i < m->n;) {
            struct mock_job *mj = &m->jobs[i];
            if (vf__job_cancelled(mj->j)) {
                vf__job_finish(mj->j, VF_FINISH_CANCELLED, NULL);
                vf_job_release(mj->j);
                m->jobs[i] = m->jobs[--m->n];
                continue;
            }
            if (running >= m->slots) {
                i++;
                continue;
            }
            running++;
            if (!mj->started) {
                vf__job_start(mj->j, mj->prompt);
                mj->started = true;
            }
            char w[32];
            int k = snprintf(w, sizeof w, "%stok%d", mj->n ? " " : "", mj->n);
            vf__job_push(mj->j, w, (size_t)k);
            mj->n++;
            vf__job_count(mj->j, mj->prompt, mj->n);
            if (mj->n >= mj->max) {
                vf__job_finish(mj->j, VF_FINISH_LENGTH, NULL);
                vf_job_release(mj->j);
                m->jobs[i] = m->jobs[--m->n];
                continue;
            }
            i++;
        }
        pthread_mutex_unlock(&m->mu);
    }
}

static int mock_submit(void *impl, const struct vf_chat_req *r, struct vf_job **out,
                       struct vf_llm_error *err) {
    struct mock *m = impl;
    memset(err, 0, sizeof *err);
    pthread_mutex_lock(&m->mu);
    uint32_t queued = (uint32_t)m->n > m->slots ? (uint32_t)m->n - m->slots : 0;
    if (!m->admitting || m->n >= MOCK_MAX || ((uint32_t)m->n >= m->slots && queued >= m->queue_max)) {
        err->kind = m->admitting ? VF_LLM_EBUSY : VF_LLM_EUNAVAIL;
        err->retry_after_s = 1;
        vf_strlcpy(err->message, m->admitting ? "all slots are busy" : "shutting down", sizeof err->message);
        pthread_mutex_unlock(&m->mu);
        return VF_ERR_TOOBIG;
    }
    struct vf_job *j = vf__job_new();
    if (!j) {
        pthread_mutex_unlock(&m->mu);
        err->kind = VF_LLM_EINTERNAL;
        return VF_ERR_NOMEM;
    }
    size_t chars = 0;
    for (int i = 0; i < r->n_msgs; i++)
        chars += strlen(r->msgs[i].content);
    struct mock_job *mj = &m->jobs[m->n++];
    memset(mj, 0, sizeof *mj);
    mj->j = j;
    mj->max = r->gen.max_tokens > 0 ? VF_MIN(r->gen.max_tokens, 100000) : 8;
    mj->prompt = (int32_t)(chars / 4 + 1);
    pthread_mutex_unlock(&m->mu);
    *out = j;
    return VF_OK;
}

static void mock_status(void *impl, struct vf_llm_status *st) {
    struct mock *m = impl;
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&m->mu);
    st->state = m->admitting ? VF_LLM_READY : VF_LLM_STOPPING;
    vf_strlcpy(st->backend, "mock", sizeof st->backend);
    vf_strlcpy(st->model_id, m->model_id, sizeof st->model_id);
    st->n_slots = m->slots;
    st->n_active = (uint32_t)VF_MIN((uint32_t)m->n, m->slots);
    st->n_queued = (uint32_t)m->n - st->n_active;
    st->queue_max = m->queue_max;
    st->n_ctx = st->n_ctx_seq = 4096;
    pthread_mutex_unlock(&m->mu);
}

static void mock_cancel_all(void *impl) {
    struct mock *m = impl;
    pthread_mutex_lock(&m->mu);
    m->admitting = false;
    for (int i = 0; i < m->n; i++)
        vf_job_cancel(m->jobs[i].j);
    pthread_mutex_unlock(&m->mu);
}

static void mock_free(void *impl) {
    struct mock *m = impl;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->th, NULL);
    pthread_mutex_destroy(&m->mu);
    vf_free(m);
}

static const struct vf_llm_ops mock_ops = {mock_submit, mock_status, mock_cancel_all, mock_free};

struct vf_llm *vf__mock_llm_new(const char *model_id, int delay_ms, uint32_t slots, uint32_t queue_max) {
    struct mock *m = vf_calloc(1, sizeof *m);
    struct vf_llm *l = vf_calloc(1, sizeof *l);
    if (!m || !l) {
        vf_free(m);
        vf_free(l);
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    vf_strlcpy(m->model_id, model_id, sizeof m->model_id);
    m->delay_ms = delay_ms;
    m->slots = slots ? slots : 1;
    m->queue_max = queue_max;
    m->admitting = true;
    if (pthread_create(&m->th, NULL, mock_main, m) != 0) {
        pthread_mutex_destroy(&m->mu);
        vf_free(m);
        vf_free(l);
        return NULL;
    }
    l->ops = &mock_ops;
    l->impl = m;
    return l;
}

/* ==== HTTP fuzzing ======================================================== */

static struct vf_server *fuzz_server;
static struct vf_llm *fuzz_llm;
static struct vf_metrics *fuzz_metrics;

static void fuzz_init(void) {
    struct vf_server_params p;
    vf_server_default_params(&p);
    p.http.port = 0;
    p.http.max_connections = 8;
    p.http.max_body_bytes = 64 * 1024;
    p.http.request_timeout_ms = 2000;
    p.http.keep_alive_timeout_ms = 2000;
    p.api_key = "fuzz-key";
    char err[256];
    fuzz_llm = vf__mock_llm_new("mock", 0, 4, 4);
    fuzz_metrics = vf_metrics_new();
    if (!fuzz_llm || vf_server_init(&p, fuzz_llm, fuzz_metrics, &fuzz_server, err, sizeof err) ||
        vf_server_start(fuzz_server, err, sizeof err)) {
        fprintf(stderr, "fuzz: cannot start the server: %s\n", err);
        __builtin_trap();
    }
}

int vf__fuzz_http_request(const uint8_t *data, size_t size) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fuzz_init);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)vf_server_port(fuzz_server))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0;
    }
    size_t off = 0;
    while (off < size) {
        ssize_t k = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    shutdown(fd, SHUT_WR);
    char head[16];
    size_t got = 0;
    char buf[4096];
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k <= 0)
            break;
        if (got < sizeof head)
            memcpy(head + got, buf, VF_MIN((size_t)k, sizeof head - got));
        got += (size_t)k;
    }
    close(fd);
    if (got >= 7 && memcmp(head, "HTTP/1.", 7) != 0)
        __builtin_trap(); /* something that is not an HTTP response came back */
    return 0;
}
