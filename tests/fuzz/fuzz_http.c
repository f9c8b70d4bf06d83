/* fuzz_http.c - a gateway's request handling before any handler runs, on
 * the functions the gateways call (no copies): the framing parser that
 * reads every connection's bytes first (framing_parser_feed: request line,
 * headers, Content-Length, chunked bodies), the route lookup
 * (gw_route_find: path split, id check, method), the Authorization and
 * Content-Type checks and the wait= query parameter. The JSON bodies are
 * fuzz_body's.
 *
 * Input: byte 0 picks the method, byte 1 where the stream is cut; the rest
 * is both the byte stream of a connection and, line by line, a path, an
 * Authorization value, a Content-Type value and a query string.
 *
 * Properties: the framing verdict (status, state, requests framed) is the
 * same whether the stream arrives whole, in two pieces or byte by byte; a
 * refusal is one of 400/413/431/501/505 with a message. A route found
 * matches its pattern segment by segment, and every '*' segment is a key
 * id; 405 exactly when another method finds a route; 400 and 404 do not
 * depend on the method. Bearer tokens start after "Bearer "; a JSON media
 * type starts with application/json; wait= is within its bounds or left
 * at its default. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "framing.h"
#include "fuzz_common.h"
#include "gateway.h"
#include "http.h"
#include "ids.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The patterns and methods of services/pharmacy-gw and courier-gw (their
 * handlers are static there and never run here). */
static const gw_route fuzz_routes[] = {
    {EVHTTP_REQ_PUT, "v1/pharmacies/*", NULL, GW_BODY},
    {EVHTTP_REQ_PUT, "v1/pharmacies/*/stock", NULL, GW_BODY},
    {EVHTTP_REQ_PUT, "v1/pharmacies/*/status", NULL, GW_BODY},
    {EVHTTP_REQ_GET, "v1/pharmacies/*/orders", NULL, GW_NO_BODY},
    {EVHTTP_REQ_GET, "v1/orders/*", NULL, GW_NO_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/cancel", NULL, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/accept", NULL, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/reject", NULL, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/ready", NULL, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/collected", NULL, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/returned", NULL, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_PUT, "v1/couriers/*/location", NULL, GW_BODY},
    {EVHTTP_REQ_POST, "v1/couriers/*/locations", NULL, GW_BODY},
    {EVHTTP_REQ_PUT, "v1/couriers/*/availability", NULL, GW_BODY},
    {EVHTTP_REQ_GET, "v1/couriers/*/assignments", NULL, GW_NO_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/courier/accept", NULL, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/courier/decline", NULL, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/courier/pickup", NULL, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/courier/deliver", NULL, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/courier/fail", NULL, GW_OPTIONAL_BODY},
    {0, NULL, NULL, 0},
};

static const enum evhttp_cmd_type fuzz_methods[] = {
    EVHTTP_REQ_GET,    EVHTTP_REQ_POST,  EVHTTP_REQ_PUT,     EVHTTP_REQ_HEAD,
    EVHTTP_REQ_DELETE, EVHTTP_REQ_PATCH, EVHTTP_REQ_OPTIONS, EVHTTP_REQ_TRACE,
};
#define FUZZ_NMETHODS (sizeof(fuzz_methods) / sizeof(fuzz_methods[0]))

/* Small limits, so that the fuzzer reaches them. */
#define FUZZ_HEADER_LIMIT 256
#define FUZZ_BODY_LIMIT 64
#define FUZZ_BODY_CEILING (4 * FUZZ_BODY_LIMIT)

typedef struct verdict {
    int rc, state, requests, code;
} verdict;

static verdict feed(const char *s, size_t n, size_t cut, int bytewise)
{
    framing_parser p;
    framing_parser_init(&p, FUZZ_HEADER_LIMIT, FUZZ_BODY_CEILING, FUZZ_BODY_LIMIT);
    int rc = 0;
    if (bytewise) {
        for (size_t i = 0; i < n && !rc; i++)
            rc = framing_parser_feed(&p, s + i, 1);
    } else {
        rc = framing_parser_feed(&p, s, cut);
        if (!rc)
            rc = framing_parser_feed(&p, s + cut, n - cut);
    }
    if (rc) {
        FUZZ_CHECK(rc == 400 || rc == 413 || rc == 431 || rc == 501 || rc == 505);
        FUZZ_CHECK(p.why.code == rc && p.why.ecode && p.why.ecode[0] && p.why.msg[0]);
        FUZZ_CHECK(p.state == FRAMING_OFF);
        FUZZ_CHECK(framing_parser_feed(&p, "x", 1) == rc); /* stays refused */
    }
    return (verdict){rc, (int)p.state, p.requests, p.why.code};
}

static void check_framing(const char *s, size_t n, size_t cut)
{
    verdict whole = feed(s, n, n, 0), two = feed(s, n, cut, 0);
    FUZZ_CHECK(memcmp(&whole, &two, sizeof(whole)) == 0);
    if (n <= 4096) {
        verdict bytes = feed(s, n, 0, 1);
        FUZZ_CHECK(memcmp(&whole, &bytes, sizeof(whole)) == 0);
    }
}

static int pattern_segments(const char *pattern)
{
    int n = 1;
    for (const char *c = pattern; *c; c++)
        n += *c == '/';
    return n;
}

static void check_route(const char *path, enum evhttp_cmd_type method)
{
    http_path p;
    const gw_route *rt = NULL;
    int rc = gw_route_find(fuzz_routes, method, path, &p, &rt);
    FUZZ_CHECK(rc == 0 || rc == 400 || rc == 404 || rc == 405);
    FUZZ_CHECK((rc == 0) == (rt != NULL));
    FUZZ_CHECK(p.n >= 0 && p.n <= HTTP_MAX_SEGS);
    for (int i = 0; i < p.n; i++)
        FUZZ_CHECK(strlen(p.seg[i]) <= HTTP_SEG_MAX);
    if (rc == 0) {
        FUZZ_CHECK(rt->method == method);
        FUZZ_CHECK(pattern_segments(rt->pattern) == p.n);
        const char *pat = rt->pattern;
        for (int i = 0; i < p.n; i++) {
            size_t k = strcspn(pat, "/");
            if (k == 1 && pat[0] == '*')
                FUZZ_CHECK(ids_valid_key(p.seg[i], strlen(p.seg[i])));
            else
                FUZZ_CHECK(strlen(p.seg[i]) == k && memcmp(p.seg[i], pat, k) == 0);
            pat += k + (pat[k] == '/');
        }
    }
    int other_found = 0;
    for (size_t m = 0; m < FUZZ_NMETHODS; m++) {
        if (fuzz_methods[m] == method)
            continue;
        http_path q;
        const gw_route *r2 = NULL;
        int rc2 = gw_route_find(fuzz_routes, fuzz_methods[m], path, &q, &r2);
        other_found |= rc2 == 0;
        if (rc == 400 || rc == 404)
            FUZZ_CHECK(rc2 == rc);
        else
            FUZZ_CHECK(rc2 == 0 || rc2 == 405);
    }
    FUZZ_CHECK((rc == 405) == other_found);
}

static void check_headers(const char *auth, const char *ct, const char *query)
{
    const char *why = NULL;
    const char *tok = http_bearer_token(auth, &why);
    if (tok)
        FUZZ_CHECK(tok == auth + 7 && strncasecmp(auth, "Bearer ", 7) == 0);
    else
        FUZZ_CHECK(why && why[0]);
    FUZZ_CHECK(http_bearer_token(NULL, &why) == NULL && why && why[0]);
    if (http_media_type_is_json(ct)) {
        FUZZ_CHECK(strncasecmp(ct, "application/json", 16) == 0);
        const char *r = ct + 16 + strspn(ct + 16, " \t");
        FUZZ_CHECK(*r == '\0' || *r == ';');
    }
    long wait = -7;
    int rc = http_query_int_parse(query, "wait", 25, 0, 30, &wait);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(rc == 0 ? wait >= 0 && wait <= 30 : wait == 25);
}

/* The next line of s[*at..n) as a C string (cut at a NUL, as a header
 * value or a path from evhttp would be). */
static char *next_line(const char *s, size_t n, size_t *at)
{
    size_t b = *at, e = b;
    while (e < n && s[e] != '\n')
        e++;
    *at = e < n ? e + 1 : n;
    char *line = malloc(e - b + 1);
    if (!line)
        abort();
    memcpy(line, s + b, e - b);
    line[e - b] = '\0';
    return line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    enum evhttp_cmd_type method = fuzz_methods[data[0] % FUZZ_NMETHODS];
    const char *s = (const char *)data + 2;
    size_t n = size - 2, cut = n ? data[1] * n / 255 : 0;
    check_framing(s, n, cut);

    size_t at = 0;
    char *path = next_line(s, n, &at), *auth = next_line(s, n, &at);
    char *ct = next_line(s, n, &at), *query = next_line(s, n, &at);
    check_route(path, method);
    check_headers(auth, ct, query);
    free(path);
    free(auth);
    free(ct);
    free(query);
    return 0;
}
