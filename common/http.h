/* http.h - what every HTTP front of rxdispatch shares on top of evhttp:
 * JSON replies and errors in the SPEC section 6 shape, bearer-token checks,
 * bounded JSON bodies, path and query parsing, and the admin port
 * (/healthz, /readyz, /metrics). */
#ifndef RXD_HTTP_H
#define RXD_HTTP_H

#include <stddef.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "auth.h"
#include "metrics.h"

#define HTTP_MAX_SEGS 8
#define HTTP_SEG_MAX 128

typedef struct http_path {
    int n;
    char seg[HTTP_MAX_SEGS][HTTP_SEG_MAX + 1];
} http_path;

/* Binds evhttp to 127.0.0.1 or addr:port (port 0 picks one). body_limit
 * bounds request bodies: evhttp refuses bodies over 4x the limit itself,
 * with an HTML page, unless a framing watch (framing.h, installed by the
 * gateways) refuses them first as JSON; up to 4x, http_read_json answers
 * the JSON 413. timeout_s bounds slow clients. */
struct evhttp *http_listen(struct event_base *base, const char *addr, int port, size_t body_limit,
                           int timeout_s, int *bound_port, char *err, size_t errlen);

/* Splits a request path (NULL: none) into decoded segments. -1 when it has
 * too many segments (the caller answers 404), -2 when a segment is too long
 * or decodes to a NUL byte (the caller answers 400). Pure: the fuzzer
 * drives it. */
int http_path_split(const char *path, http_path *p);

/* Replies with body (reference stolen) and code. */
void http_reply_json(struct evhttp_request *req, int code, json_t *body);
/* {"error":{"code":ecode,"message":...}} */
void http_reply_error(struct evhttp_request *req, int code, const char *ecode, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Checks the bearer token. On success fills claims and returns 0; otherwise
 * replies 401 and returns -1. */
int http_authenticate(struct evhttp_request *req, const char *secret, auth_claims *claims);
/* 0 when claims are of `role` with id `id` (id NULL: any id of that role);
 * else replies 403 and returns -1. */
int http_authorize(struct evhttp_request *req, const auth_claims *claims, auth_role role,
                   const char *id);

/* 1 when the JSON text s[0..n) nests arrays and objects at most
 * HTTP_JSON_DEPTH_MAX deep (checked before parsing, so a hostile body cannot
 * make the parser recurse). */
#define HTTP_JSON_DEPTH_MAX 16
int http_json_depth_ok(const char *s, size_t n);

/* 1 when a Content-Type header is application/json (any case), maybe with
 * parameters such as charset. */
int http_media_type_is_json(const char *ct);

/* The token of an "Authorization: Bearer <token>" header value, or NULL
 * with the reason in *why. */
const char *http_bearer_token(const char *header, const char **why);

/* Reads the body as a JSON object: 415 for a content type other than
 * application/json, 413 over body_limit, 400 for malformed JSON or a non-object
 * (with the parser's message). Returns the object or NULL after replying. */
json_t *http_read_json(struct evhttp_request *req, size_t body_limit);

/* Integer query parameter within [min,max]; -1 when malformed (the caller
 * answers 400). http_query_int_parse is the same on a query string (NULL:
 * none). */
int http_query_int(struct evhttp_request *req, const char *name, long def, long min, long max,
                   long *out);
int http_query_int_parse(const char *query, const char *name, long def, long min, long max,
                         long *out);

/* Request ids (the access log's, echoed in X-Request-Id): an incoming id
 * is kept when it is 1..HTTP_REQUEST_ID_MAX of [A-Za-z0-9._:-], else the
 * caller makes one. */
#define HTTP_REQUEST_ID_MAX 64
int http_request_id_ok(const char *s);
/* Takes req's X-Request-Id when well-formed, else "<prefix>-<seq in hex>",
 * into out (HTTP_REQUEST_ID_MAX + 1 bytes), and sets it on the reply. */
void http_request_id(struct evhttp_request *req, const char *prefix, unsigned long long seq,
                     char *out);
/* "2xx".."5xx" (index 0..4 for 1xx..5xx): the status class label. */
int http_status_class(int code);
extern const char *const http_status_class_names[5];
/* What the reply of req sent (its Content-Length), read after sending. */
long long http_reply_bytes(struct evhttp_request *req);

/* Admin endpoints: /healthz (alive), /readyz (ready_fn says Kafka and Redis
 * are reachable; 503 otherwise), /metrics (Prometheus text). */
typedef int http_ready_fn(void *ctx, const char **why);
typedef struct http_admin http_admin;
http_admin *http_admin_new(struct event_base *base, const char *addr, int port, metrics *m,
                           http_ready_fn *ready, void *ctx, int *bound_port, char *err,
                           size_t errlen);
void http_admin_free(http_admin *a);

#endif
