/* cors.c - the allowed-origins list (see cors.h). */
#include "cors.h"

#include <stdio.h>
#include <string.h>

/* "http(s)://" then a host[:port] of [A-Za-z0-9.-:[]] and nothing more:
 * what a browser sends as Origin, so an exact compare finds it. */
static int cors_origin_ok(const char *s, size_t n)
{
    size_t skip = 0;
    if (n > 7 && strncmp(s, "http://", 7) == 0)
        skip = 7;
    else if (n > 8 && strncmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return 0;
    for (size_t i = skip; i < n; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']';
        if (!ok)
            return 0;
    }
    return 1;
}

int cors_parse(cors *c, const char *list, char *err, size_t errlen)
{
    c->n = 0;
    for (const char *s = list ? list : ""; *s;) {
        while (*s == ' ' || *s == ',')
            s++;
        if (!*s)
            break;
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        while (n > 0 && s[n - 1] == ' ')
            n--;
        if (n >= CORS_ORIGIN_LEN || !cors_origin_ok(s, n)) {
            snprintf(err, errlen,
                     "RXD_CORS_ORIGINS: '%.*s' is not an origin; list origins as "
                     "http(s)://host[:port], comma-separated, without a path or '*'",
                     (int)(n > 80 ? 80 : n), s);
            return -1;
        }
        if (c->n == CORS_ORIGINS_MAX) {
            snprintf(err, errlen, "RXD_CORS_ORIGINS: at most %d origins", CORS_ORIGINS_MAX);
            return -1;
        }
        memcpy(c->origin[c->n], s, n);
        c->origin[c->n][n] = '\0';
        c->n++;
        s += n;
    }
    return 0;
}

int cors_allows(const cors *c, const char *origin)
{
    if (!origin)
        return 0;
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->origin[i], origin) == 0)
            return 1;
    return 0;
}
