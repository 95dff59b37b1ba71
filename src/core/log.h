/* log.h - leveled logging to stderr, as text lines or JSON objects
 * (--log-format json), safe to call from any thread. */
#ifndef VF_LOG_H
#define VF_LOG_H

#include "vf.h"

enum vf_log_level { VF_LOG_DEBUG = 0, VF_LOG_INFO, VF_LOG_WARN, VF_LOG_ERROR, VF_LOG_OFF };

void vf_log_set_level(enum vf_log_level level);
enum vf_log_level vf_log_get_level(void);
void vf_log_set_json(bool json);
/* Parse "debug", "info", "warn", "error", "off"; VF_ERR_ARG otherwise. */
int vf_log_parse_level(const char *s, enum vf_log_level *out);

void vf_log(enum vf_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Log a message as it is (a trailing newline is dropped). */
void vf_log_raw(enum vf_log_level level, const char *component, const char *text);

#endif
