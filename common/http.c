/* http.c - shared evhttp plumbing (see http.h). */
#include "http.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "listenguard.h"
#include "mem.h"

struct evhttp *http_listen(struct event_base *base, const char *addr, int port, size_t body_limit,
                           int timeout_s, int *bound_port, char *err, size_t errlen)
{
    struct evhttp *h = evhttp_new(base);
    if (!h) {
        snprintf(err, errlen, "cannot create HTTP server");
        return NULL;
    }
    struct evhttp_bound_socket *sock =
        evhttp_bind_socket_with_handle(h, addr ? addr : "127.0.0.1", (ev_uint16_t)port);
    if (!sock) {
        snprintf(err, errlen,
                 "cannot listen on %s:%d: is the port in use? pick another with the "
                 "port setting",
                 addr ? addr : "127.0.0.1", port);
        evhttp_free(h);
        return NULL;
    }
    if (bound_port) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len);
        *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    listenguard_install(h);
    evhttp_set_max_body_size(h, (ev_ssize_t)(body_limit * 4));
    evhttp_set_max_headers_size(h, 16 * 1024);
    evhttp_set_timeout(h, timeout_s);
    /* the other standard methods reach the handler too, so that a wrong
     * method gets the JSON 405 (evhttp itself would answer an HTML 501) */
    evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                      EVHTTP_REQ_HEAD | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                      EVHTTP_REQ_PATCH);
    return h;
}

int http_path_split(const char *path, http_path *p)
{
    p->n = 0;
    if (!path)
        return -1;
    const char *s = path;
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (p->n == HTTP_MAX_SEGS)
            return -1;
        if (len > HTTP_SEG_MAX * 3)
            return -2;
        char raw[HTTP_SEG_MAX * 3 + 1];
        memcpy(raw, s, len);
        raw[len] = '\0';
        size_t dlen = 0;
        char *dec = evhttp_uridecode(raw, 0, &dlen);
        if (!dec || dlen > HTTP_SEG_MAX || memchr(dec, '\0', dlen)) {
            free(dec);
            return -2;
        }
        memcpy(p->seg[p->n], dec, dlen + 1);
        free(dec);
        p->n++;
        s += len;
    }
    return 0;
}

/* evhttp 2.1 sends the body of a HEAD reply without its length, which
 * leaves the client unable to find the next reply: the length only, and no
 * body. */
static void http_send(struct evhttp_request *req, int code, const char *reason,
                      struct evbuffer *buf)
{
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        char len[24];
        snprintf(len, sizeof(len), "%zu", evbuffer_get_length(buf));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", len);
        evbuffer_drain(buf, evbuffer_get_length(buf));
    }
    evhttp_send_reply(req, code, reason, buf);
}

int http_request_id_ok(const char *s)
{
    size_t n = 0;
    if (!s)
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n == HTTP_REQUEST_ID_MAX ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return n > 0;
}

void http_request_id(struct evhttp_request *req, const char *prefix, unsigned long long seq,
                     char *out)
{
    const char *in = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
    if (http_request_id_ok(in))
        snprintf(out, HTTP_REQUEST_ID_MAX + 1, "%s", in);
    else
        snprintf(out, HTTP_REQUEST_ID_MAX + 1, "%s-%llx", prefix, seq);
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Request-Id", out);
}

const char *const http_status_class_names[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

int http_status_class(int code)
{
    int c = code / 100 - 1;
    return c < 0 ? 0 : c > 4 ? 4 : c;
}

long long http_reply_bytes(struct evhttp_request *req)
{
    const char *len = evhttp_find_header(evhttp_request_get_output_headers(req), "Content-Length");
    return len ? atoll(len) : 0;
}

void http_reply_json(struct evhttp_request *req, int code, json_t *body)
{
    struct evbuffer *buf = evbuffer_new();
    if (!buf) { /* out of memory: an empty reply still answers */
        json_decref(body);
        evhttp_send_reply(req, code, "Server Error", NULL);
        return;
    }
    char *s = json_dumps(body, JSON_COMPACT);
    if (s) {
        evbuffer_add(buf, s, strlen(s));
        evbuffer_add(buf, "\n", 1);
        free(s);
    }
    json_decref(body);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    const char *reason = code == 200 ? "OK" : code < 500 ? "Client Error" : "Server Error";
    http_send(req, code, reason, buf);
    evbuffer_free(buf);
}

void http_reply_error(struct evhttp_request *req, int code, const char *ecode, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *body = json_pack("{s:{s:s, s:s}}", "error", "code", ecode, "message", msg);
    if (!body) /* a message with invalid UTF-8 from the client */
        body = json_pack("{s:{s:s, s:s}}", "error", "code", ecode, "message", "invalid request");
    http_reply_json(req, code, body);
}

const char *http_bearer_token(const char *h, const char **why)
{
    if (!h) {
        *why = "missing Authorization: Bearer <token> header";
        return NULL;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        *why = "Authorization must be 'Bearer <token>'";
        return NULL;
    }
    return h + 7;
}

int http_authenticate(struct evhttp_request *req, const char *secret, auth_claims *claims)
{
    const char *why = NULL;
    const char *tok = http_bearer_token(
        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"), &why);
    if (!tok) {
        http_reply_error(req, 401, "unauthenticated", "%s", why);
        return -1;
    }
    if (auth_token_verify(secret, tok, strlen(tok), (int64_t)time(NULL), claims, &why)) {
        http_reply_error(req, 401, "unauthenticated", "%s", why);
        return -1;
    }
    return 0;
}

int http_authorize(struct evhttp_request *req, const auth_claims *claims, auth_role role,
                   const char *id)
{
    if (claims->role != role) {
        http_reply_error(req, 403, "forbidden", "this endpoint is for %s tokens, not %s tokens",
                         auth_role_name(role), auth_role_name(claims->role));
        return -1;
    }
    if (id && strcmp(claims->id, id) != 0) {
        http_reply_error(req, 403, "forbidden", "token of %s %s cannot act for %s",
                         auth_role_name(role), claims->id, id);
        return -1;
    }
    return 0;
}

/* jansson has no depth limit of its own that callers can lower, so deeply
 * nested bodies are refused before parsing. */
int http_json_depth_ok(const char *s, size_t n)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > HTTP_JSON_DEPTH_MAX)
                return 0;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}

/* "application/json", then only whitespace before the end or a ';' that
 * starts the parameters. */
int http_media_type_is_json(const char *ct)
{
    if (strncasecmp(ct, "application/json", 16) != 0)
        return 0;
    const char *p = ct + 16;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\0' || *p == ';';
}

json_t *http_read_json(struct evhttp_request *req, size_t body_limit)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    /* the media type exactly (parameters such as charset may follow) */
    if (ct && !http_media_type_is_json(ct)) {
        http_reply_error(req, 415, "unsupported_media_type",
                         "Content-Type must be application/json, got '%.64s'", ct);
        return NULL;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    if (n > body_limit) {
        http_reply_error(req, 413, "body_too_large", "body of %zu bytes is over the limit of %zu",
                         n, body_limit);
        return NULL;
    }
    const char *s = (const char *)evbuffer_pullup(in, -1);
    if (n == 0 || !s) {
        http_reply_error(req, 400, "bad_request", "a JSON object body is required");
        return NULL;
    }
    if (!http_json_depth_ok(s, n)) {
        http_reply_error(req, 400, "bad_request", "JSON nested deeper than %d levels",
                         HTTP_JSON_DEPTH_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        http_reply_error(req, 400, "bad_json", "invalid JSON at line %d column %d: %s", jerr.line,
                         jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        http_reply_error(req, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    return j;
}

int http_query_int(struct evhttp_request *req, const char *name, long def, long min, long max,
                   long *out)
{
    return http_query_int_parse(evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)), name, def,
                                min, max, out);
}

int http_query_int_parse(const char *q, const char *name, long def, long min, long max, long *out)
{
    *out = def;
    if (!q)
        return 0;
    struct evkeyvalq params;
    if (evhttp_parse_query_str(q, &params) != 0)
        return -1;
    const char *v = evhttp_find_header(&params, name);
    int rc = 0;
    if (v) {
        char *end;
        long x = strtol(v, &end, 10);
        if (end == v || *end || x < min || x > max)
            rc = -1;
        else
            *out = x;
    }
    evhttp_clear_headers(&params);
    return rc;
}

struct http_admin {
    struct evhttp *http;
    metrics *m;
    http_ready_fn *ready;
    void *ctx;
};

static void http_admin_on_request(struct evhttp_request *req, void *arg)
{
    http_admin *a = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (!path)
        path = "";
    if (strcmp(path, "/healthz") == 0) {
        http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
    } else if (strcmp(path, "/readyz") == 0) {
        const char *why = NULL;
        if (a->ready(a->ctx, &why))
            http_reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
        else
            http_reply_error(req, 503, "not_ready", "%s", why ? why : "not ready");
    } else if (strcmp(path, "/metrics") == 0) {
        struct evbuffer *buf = evbuffer_new();
        if (!buf) {
            http_reply_error(req, 503, "unavailable", "out of memory");
            return;
        }
        metrics_render(a->m, buf);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "text/plain; version=0.0.4");
        http_send(req, 200, "OK", buf);
        evbuffer_free(buf);
    } else {
        http_reply_error(req, 404, "not_found", "admin port serves /healthz, /readyz, /metrics");
    }
}

http_admin *http_admin_new(struct event_base *base, const char *addr, int port, metrics *m,
                           http_ready_fn *ready, void *ctx, int *bound_port, char *err,
                           size_t errlen)
{
    struct evhttp *h = http_listen(base, addr, port, 1024, 10, bound_port, err, errlen);
    if (!h)
        return NULL;
    http_admin *a = xcalloc(1, sizeof(*a));
    *a = (http_admin){h, m, ready, ctx};
    evhttp_set_gencb(h, http_admin_on_request, a);
    return a;
}

void http_admin_free(http_admin *a)
{
    if (!a)
        return;
    evhttp_free(a->http);
    free(a);
}
