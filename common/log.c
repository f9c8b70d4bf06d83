/* log.c - JSON line logger (see log.h). The service name, region and level
 * are set once before the event loop starts and only read afterwards. */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#ifndef RXD_VERSION
#define RXD_VERSION "dev"
#endif

static struct {
    char service[32];
    char region[64];
    enum log_level level;
} log_conf = {"rxd", "-", LOG_INFO};

static const char *log_level_names[] = {"debug", "info", "warn", "error"};

int log_init(const char *service, const char *level)
{
    snprintf(log_conf.service, sizeof(log_conf.service), "%s", service);
    for (int i = 0; i < 4; i++) {
        if (level && strcmp(level, log_level_names[i]) == 0) {
            log_conf.level = (enum log_level)i;
            return 0;
        }
    }
    log_conf.level = LOG_INFO;
    return level ? -1 : 0;
}

void log_set_region(const char *region)
{
    snprintf(log_conf.region, sizeof(log_conf.region), "%s", region && *region ? region : "-");
}

static void log_format_time(char *buf, size_t len)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

void log_event(enum log_level level, const char *event, const char *fields, ...)
{
    /* a filtered line must still be packed when its fields hand over
     * references ("o"), or those values would leak */
    if (level < log_conf.level && (!fields || !strchr(fields, 'o')))
        return;
    json_t *line = NULL;
    if (fields) {
        va_list ap;
        va_start(ap, fields);
        json_error_t jerr;
        line = json_vpack_ex(&jerr, 0, fields, ap);
        va_end(ap);
        if (!line)
            line = json_pack("{s:s}", "log_error", jerr.text);
    }
    if (level < log_conf.level) {
        json_decref(line);
        return;
    }
    if (!line)
        line = json_object();
    char ts[40];
    log_format_time(ts, sizeof(ts));
    json_t *head = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "ts", ts, "level",
                             log_level_names[level], "svc", log_conf.service, "region",
                             log_conf.region, "version", RXD_VERSION, "event", event);
    json_object_update_missing(head, line);
    char *s = json_dumps(head, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) {
        fprintf(stderr, "%s\n", s);
        free(s);
    }
    json_decref(head);
    json_decref(line);
}

/* Appends s as a JSON string to buf[*at..len); stops short when full. */
static void log_put_str(char *buf, size_t len, size_t *at, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (*at < len)
        buf[(*at)++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && *at + 7 < len; p++) {
        if (*p == '"' || *p == '\\') {
            buf[(*at)++] = '\\';
            buf[(*at)++] = (char)*p;
        } else if (*p < 0x20) {
            memcpy(buf + *at, "\\u00", 4);
            buf[*at + 4] = hex[*p >> 4];
            buf[*at + 5] = hex[*p & 15];
            *at += 6;
        } else {
            buf[(*at)++] = (char)*p;
        }
    }
    if (*at < len)
        buf[(*at)++] = '"';
}

static void log_put_raw(char *buf, size_t len, size_t *at, const char *s)
{
    size_t n = strlen(s);
    if (*at + n > len)
        n = len - *at;
    memcpy(buf + *at, s, n);
    *at += n;
}

static void log_put_field(char *buf, size_t len, size_t *at, const char *key, const char *str,
                          double num)
{
    log_put_raw(buf, len, at, ",");
    log_put_str(buf, len, at, key);
    log_put_raw(buf, len, at, ":");
    if (str) {
        log_put_str(buf, len, at, str);
    } else {
        char n[32];
        snprintf(n, sizeof(n), "%.15g", num);
        log_put_raw(buf, len, at, n);
    }
}

void log_fields(enum log_level level, const char *event, const log_field *f, int n)
{
    if (level < log_conf.level)
        return;
    char buf[2048], ts[40];
    size_t at = 0, len = sizeof(buf) - 2; /* room for "}\n" */
    log_format_time(ts, sizeof(ts));
    log_put_raw(buf, len, &at, "{");
    log_put_str(buf, len, &at, "ts");
    log_put_raw(buf, len, &at, ":");
    log_put_str(buf, len, &at, ts);
    log_put_field(buf, len, &at, "level", log_level_names[level], 0);
    log_put_field(buf, len, &at, "svc", log_conf.service, 0);
    log_put_field(buf, len, &at, "region", log_conf.region, 0);
    log_put_field(buf, len, &at, "version", RXD_VERSION, 0);
    log_put_field(buf, len, &at, "event", event, 0);
    for (int i = 0; i < n; i++)
        log_put_field(buf, len, &at, f[i].key, f[i].str, f[i].num);
    buf[at++] = '}';
    buf[at++] = '\n';
    fwrite(buf, 1, at, stderr);
}
