/* cors.h - which browser origins may call an API from another origin
 * (RXD_CORS_ORIGINS: the web service's pages calling the gateways). Pure:
 * a parsed list and an exact match, no I/O. */
#ifndef RXD_CORS_H
#define RXD_CORS_H

#include <stddef.h>

#define CORS_ORIGINS_MAX 16
#define CORS_ORIGIN_LEN 256

typedef struct cors {
    int n;
    char origin[CORS_ORIGINS_MAX][CORS_ORIGIN_LEN];
} cors;

/* The request headers a page may send (the ones the APIs read) and the
 * methods of their routes: the preflight's answer. */
#define CORS_ALLOW_METHODS "GET, POST, PUT, DELETE"
#define CORS_ALLOW_HEADERS "Authorization, Content-Type, X-Request-Id"
#define CORS_EXPOSE_HEADERS "Retry-After, X-Request-Id"
#define CORS_MAX_AGE_S "600"

/* Parses a comma-separated list of origins ("scheme://host[:port]", no
 * path, no "*": a token-bearing API never answers any origin); spaces
 * around entries are ignored, NULL or "" is the empty list (no CORS at all).
 * 0, or -1 with what to fix in err. */
int cors_parse(cors *c, const char *list, char *err, size_t errlen);
/* 1 when origin (the request's Origin header; NULL: none) is listed,
 * compared exactly. */
int cors_allows(const cors *c, const char *origin);

#endif
