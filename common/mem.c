/* mem.c - allocation that aborts on failure, and always-on assertions (see
 * mem.h). */
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

/* No allocation here: the line is written with what is on the stack. */
static _Noreturn void mem_oom(size_t size)
{
    fprintf(stderr,
            "{\"level\":\"error\",\"event\":\"out_of_memory\",\"bytes\":%zu,"
            "\"action\":\"aborting; the restarted process resumes from Kafka offsets and "
            "Redis\"}\n",
            size);
    fflush(stderr);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        mem_oom(size);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        mem_oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        mem_oom(size);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static void *mem_event_realloc(void *p, size_t size)
{
    return xrealloc(p, size);
}

void mem_init(void)
{
    json_set_alloc_funcs(xmalloc, free);
    event_set_mem_functions(xmalloc, mem_event_realloc, free);
}

void mem_assert_fail(const char *cond, const char *file, int line)
{
    fputs("{\"level\":\"error\",\"event\":\"assertion_failed\",\"condition\":\"", stderr);
    for (const char *c = cond; *c; c++) {
        if (*c == '"' || *c == '\\')
            fputc('\\', stderr);
        fputc(*c, stderr);
    }
    fprintf(stderr, "\",\"at\":\"%s:%d\"}\n", file, line);
    fflush(stderr);
    abort();
}
