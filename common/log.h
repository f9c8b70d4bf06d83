/* log.h - one JSON line per event worth logging, on stderr.
 *
 * A line is {"ts":"...","level":"info","svc":"rx-router","region":"...",
 * "version":"...","event":"...", ...} where the extra fields come from a jansson json_pack format.
 * Patient data (patient_ref, address, drug names) is never passed here. */
#ifndef RXD_LOG_H
#define RXD_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Set once at start-up, before the loop runs. level: debug|info|warn|error. */
int log_init(const char *service, const char *level);
/* The region the process serves, set once at start-up (before, lines say
 * "-"). The version is the project's, from CMake. */
void log_set_region(const char *region);
/* fields: json_pack format for an object ("{s:s, s:I}") or NULL. */
void log_event(enum log_level level, const char *event, const char *fields, ...);

/* The same line without jansson, for hot paths (a gateway's access log at
 * tens of thousands of requests a second: about a fifth of log_event's
 * cost). A field with str NULL is the number num. Strings are UTF-8. */
typedef struct log_field {
    const char *key;
    const char *str;
    double num;
} log_field;
void log_fields(enum log_level level, const char *event, const log_field *f, int n);

#endif
