/* metrics_text.h - for the unit tests: the Prometheus text of a metrics
 * registry as a NUL-terminated string (the caller frees it). */
#ifndef RXD_TEST_METRICS_TEXT_H
#define RXD_TEST_METRICS_TEXT_H

#include <stdlib.h>

#include <event2/buffer.h>

#include "metrics.h"

static inline char *render(const metrics *m)
{
    struct evbuffer *b = evbuffer_new();
    metrics_render(m, b);
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

#endif
