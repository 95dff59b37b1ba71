/* log.c - see log.h. One line per message; JSON lines carry ts, level,
 * component and msg, with the message escaped. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum vf_log_level min_level = VF_LOG_INFO;
static bool as_json;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *names[] = {"debug", "info", "warn", "error", "off"};

void vf_log_set_level(enum vf_log_level level) { min_level = level; }
enum vf_log_level vf_log_get_level(void) { return min_level; }
void vf_log_set_json(bool json) { as_json = json; }

int vf_log_parse_level(const char *s, enum vf_log_level *out) {
    for (int i = 0; i <= VF_LOG_OFF; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum vf_log_level)i;
            return VF_OK;
        }
    }
    return VF_ERR_ARG;
}

static void json_escape(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

static void emit(enum vf_log_level level, const char *component, const char *msg, size_t n) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    pthread_mutex_lock(&lock);
    if (as_json) {
        fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"",
                when, ts.tv_nsec / 1000000, names[level], component);
        json_escape(stderr, msg, n);
        fputs("\"}\n", stderr);
    } else {
        fprintf(stderr, "%s.%03ldZ %-5s %s: %.*s\n", when, ts.tv_nsec / 1000000, names[level],
                component, (int)n, msg);
    }
    pthread_mutex_unlock(&lock);
}

void vf_log(enum vf_log_level level, const char *component, const char *fmt, ...) {
    if (level < min_level || level >= VF_LOG_OFF)
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    emit(level, component, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

void vf_log_raw(enum vf_log_level level, const char *component, const char *text) {
    if (level < min_level || level >= VF_LOG_OFF)
        return;
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    if (n)
        emit(level, component, text, n);
}
