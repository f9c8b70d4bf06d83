/* framing.c - the per-connection framing watch (see framing.h).
 *
 * libevent tells nobody when a connection's bufferevent is freed, so the
 * watch of a connection cannot be freed with it. Each watch is kept on a
 * list and swept: one whose socket is gone (fstat fails, or the descriptor
 * now names another socket) or that never saw a byte within the idle
 * limit (evhttp has closed it by then) is freed. The sweep never touches
 * a connection, only the descriptor number it recorded. */
#include "framing.h"
#include "mem.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#define FRAMING_SWEEP_S 30

/* ---- the parser ---- */

/* The methods evhttp reads and the gateways route (others: 501). */
static const struct {
    const char *name;
    int has_body;
} framing_methods[] = {
    {"GET", 0}, {"HEAD", 0}, {"DELETE", 0}, {"OPTIONS", 0}, {"POST", 1}, {"PUT", 1}, {"PATCH", 1},
};

void framing_parser_init(framing_parser *p, size_t header_limit, unsigned long long body_ceiling,
                         size_t body_limit)
{
    memset(p, 0, sizeof(*p));
    p->header_limit = header_limit;
    p->body_ceiling = body_ceiling;
    p->body_limit = body_limit;
    p->state = FRAMING_HEADERS;
}

static int framing_refuse_with(framing_parser *p, framing_refusal *why, int code, const char *ecode,
                               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int framing_refuse_with(framing_parser *p, framing_refusal *why, int code, const char *ecode,
                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->msg, sizeof(why->msg), fmt, ap);
    va_end(ap);
    why->code = code;
    why->ecode = ecode;
    p->state = FRAMING_OFF;
    return code;
}

static int framing_body_too_large(framing_parser *p, framing_refusal *why, unsigned long long len)
{
    return framing_refuse_with(p, why, 413, "body_too_large",
                               "body of %llu bytes is over the limit of %zu", len, p->body_limit);
}

/* "HTTP/1.0" or "HTTP/1.1" ends the request line (evhttp reads any
 * major.minor; no client of this API sends another). */
static int framing_on_request_line(framing_parser *p, framing_refusal *why)
{
    if (p->spaces != 2)
        return framing_refuse_with(p, why, 400, "bad_request",
                                   "the request line must be '<method> <path> HTTP/1.1'");
    size_t m = 0, n = sizeof(framing_methods) / sizeof(framing_methods[0]);
    for (; m < n; m++) {
        size_t k = strlen(framing_methods[m].name);
        if (strncmp(p->line, framing_methods[m].name, k) == 0 && p->line[k] == ' ')
            break;
    }
    if (m == n)
        return framing_refuse_with(p, why, 501, "not_implemented",
                                   "the method is not one of GET, HEAD, POST, PUT, PATCH, "
                                   "DELETE, OPTIONS");
    p->has_body = framing_methods[m].has_body;
    if (strcmp(p->tail, " HTTP/1.1") != 0 && strcmp(p->tail, " HTTP/1.0") != 0)
        return strncmp(p->tail, " HTTP/", 6) == 0
                   ? framing_refuse_with(p, why, 505, "http_version_not_supported",
                                         "only HTTP/1.0 and HTTP/1.1 are served")
                   : framing_refuse_with(p, why, 400, "bad_request",
                                         "the request line must end in HTTP/1.1");
    return 0;
}

/* The value of a header line "<name>:<value>" when its name is name (the
 * kept part of the line, trimmed), else NULL. */
static const char *framing_header_value(framing_parser *p, const char *name)
{
    size_t k = strlen(name);
    if (strncasecmp(p->line, name, k) != 0 || p->line[k] != ':')
        return NULL;
    char *v = p->line + k + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t e = strlen(v);
    while (e > 0 && (v[e - 1] == ' ' || v[e - 1] == '\t'))
        v[--e] = '\0';
    return v;
}

/* One complete header line (without its CRLF; only its first bytes). */
static int framing_on_header_line(framing_parser *p, framing_refusal *why)
{
    if (p->line[0] == ' ' || p->line[0] == '\t')
        return 0; /* a folded continuation of the previous header */
    if (!p->colon)
        return framing_refuse_with(p, why, 400, "bad_request",
                                   "a header line without ':' (header %d)", p->line_no);
    if (p->state == FRAMING_TRAILER || !p->has_body)
        return 0; /* evhttp reads no body after these: their framing is moot */
    const char *v = framing_header_value(p, "Transfer-Encoding");
    if (v) {
        if (++p->n_te > 1 || strcasecmp(v, "chunked") != 0)
            return framing_refuse_with(p, why, 400, "bad_request",
                                       "the only Transfer-Encoding served is one 'chunked'");
        p->chunked = 1;
    }
    v = framing_header_value(p, "Content-Length");
    if (v) {
        char *end = NULL;
        errno = 0;
        p->len = strtoull(v, &end, 10);
        int overflow = errno == ERANGE;
        if (++p->n_len > 1 || *v < '0' || *v > '9' || *end || p->line_full > FRAMING_LINE)
            return framing_refuse_with(p, why, 400, "bad_request",
                                       "Content-Length must be one decimal number");
        if (overflow || p->len > p->body_ceiling)
            return framing_body_too_large(p, why, p->len);
    }
    return 0;
}

/* The header block (or the trailer) is complete: sets up its body. */
static void framing_on_block_end(framing_parser *p)
{
    framing_state next = FRAMING_HEADERS;
    if (p->state == FRAMING_HEADERS && p->has_body && p->chunked)
        next = FRAMING_CHUNK_SIZE;
    else if (p->state == FRAMING_HEADERS && p->has_body && p->len > 0)
        next = FRAMING_BODY;
    if (p->state == FRAMING_HEADERS)
        p->requests++;
    p->body_left = p->len;
    p->chunked_total = 0;
    p->hlen = 0;
    p->line_no = 0;
    p->has_body = p->chunked = p->n_te = p->n_len = 0;
    p->len = 0;
    p->state = next;
}

/* A chunk-size line: hex digits, then the end or a space (evhttp reads
 * no ';' extensions). */
static int framing_on_chunk_size(framing_parser *p, framing_refusal *why)
{
    const char *s = p->line;
    size_t digits = strspn(s, "0123456789abcdefABCDEF");
    if (digits == 0 || (s[digits] != '\0' && s[digits] != ' ') ||
        (s[digits] == '\0' && p->line_full > digits))
        return framing_refuse_with(p, why, 400, "bad_request", "a malformed chunk size");
    unsigned long long size = digits > 15 ? ULLONG_MAX : strtoull(s, NULL, 16);
    if (size > p->body_ceiling - p->chunked_total)
        return framing_body_too_large(p, why, size == ULLONG_MAX ? size : p->chunked_total + size);
    p->chunked_total += size;
    p->body_left = size;
    if (size == 0) { /* the last chunk: its trailer ends with an empty line */
        p->state = FRAMING_TRAILER;
        p->line_no = 1;
        p->hlen = 0;
    } else {
        p->state = FRAMING_CHUNK_DATA;
    }
    return 0;
}

/* A complete line of the current state. */
static int framing_on_line(framing_parser *p, framing_refusal *why)
{
    p->line[p->line_len] = '\0';
    if (p->state == FRAMING_CHUNK_SIZE)
        return p->line_full == 0 ? 0 : framing_on_chunk_size(p, why); /* CRLF after data */
    if (p->line_full == 0) {
        if (p->line_no > 0)
            framing_on_block_end(p);
        return 0; /* empty lines before a request line are skipped */
    }
    if (p->line_no++ == 0)
        return framing_on_request_line(p, why);
    return framing_on_header_line(p, why);
}

static void framing_line_reset(framing_parser *p)
{
    p->line_len = p->line_full = 0;
    p->spaces = p->colon = 0;
    p->tail[0] = '\0';
}

/* One byte of a line. */
static int framing_line_byte(framing_parser *p, char c, framing_refusal *why)
{
    if (p->state != FRAMING_CHUNK_SIZE && ++p->hlen > p->header_limit)
        return framing_refuse_with(p, why, 431, "headers_too_large",
                                   "request line and headers are over the limit of %zu bytes",
                                   p->header_limit);
    if (c == '\n') {
        int rc = framing_on_line(p, why);
        framing_line_reset(p);
        return rc;
    }
    if (c == '\r')
        return 0;
    if (p->state == FRAMING_CHUNK_SIZE && p->line_full >= FRAMING_CHUNK_LINE)
        return framing_refuse_with(p, why, 400, "bad_request", "a chunk-size line is too long");
    p->line_full++;
    if (p->line_len < FRAMING_LINE)
        p->line[p->line_len++] = c;
    p->spaces += c == ' ';
    p->colon |= c == ':';
    size_t t = strlen(p->tail);
    if (t == sizeof(p->tail) - 1) {
        memmove(p->tail, p->tail + 1, t - 1);
        t--;
    }
    p->tail[t] = c;
    p->tail[t + 1] = '\0';
    return 0;
}

int framing_parser_feed(framing_parser *p, const char *s, size_t n)
{
    framing_refusal *why = &p->why;
    size_t i = 0;
    while (i < n && p->state != FRAMING_OFF) {
        if (p->state == FRAMING_BODY || p->state == FRAMING_CHUNK_DATA) {
            size_t k = n - i < p->body_left ? n - i : (size_t)p->body_left;
            p->body_left -= k;
            i += k;
            if (p->body_left == 0)
                p->state = p->state == FRAMING_BODY ? FRAMING_HEADERS : FRAMING_CHUNK_SIZE;
            continue;
        }
        int rc = framing_line_byte(p, s[i++], why);
        if (rc)
            return rc;
    }
    return p->state == FRAMING_OFF ? why->code : 0;
}

/* ---- the watch of each connection ---- */

typedef struct framing_conn {
    struct framing *f;
    struct bufferevent *bev; /* only used from its own input callback */
    evutil_socket_t fd;      /* -1 until its first bytes */
    ino_t ino;
    time_t born;
    framing_parser p;
    struct framing_conn *next, **pprev;
} framing_conn;

struct framing {
    size_t header_limit;
    size_t body_ceiling; /* refused up front */
    size_t body_limit;   /* named in the message */
    int idle_s;          /* evhttp's timeout: a silent connection is gone after it */
    framing_conn *conns;
    struct event *sweep;
};

static void framing_conn_free(framing_conn *c)
{
    *c->pprev = c->next;
    if (c->next)
        c->next->pprev = c->pprev;
    free(c);
}

static int framing_conn_gone(const framing_conn *c, time_t now, int idle_s)
{
    struct stat st;
    if (c->fd < 0)
        return now - c->born > 2 * idle_s + FRAMING_SWEEP_S;
    return fstat(c->fd, &st) != 0 || st.st_ino != c->ino;
}

static void framing_on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    framing *f = arg;
    time_t now = time(NULL);
    for (framing_conn *c = f->conns, *next; c; c = next) {
        next = c->next;
        if (framing_conn_gone(c, now, f->idle_s))
            framing_conn_free(c);
    }
}

framing *framing_new(struct event_base *base, size_t header_limit, size_t body_ceiling,
                     size_t body_limit, int idle_s)
{
    framing *f = xcalloc(1, sizeof(*f));
    *f = (framing){header_limit, body_ceiling, body_limit, idle_s, NULL, NULL};
    struct timeval every = {FRAMING_SWEEP_S, 0};
    f->sweep = event_new(base, -1, EV_PERSIST, framing_on_sweep, f);
    if (!f->sweep) {
        free(f);
        return NULL;
    }
    event_add(f->sweep, &every);
    return f;
}

void framing_free(framing *f)
{
    if (!f)
        return;
    while (f->conns)
        framing_conn_free(f->conns);
    event_free(f->sweep);
    free(f);
}

static const char *framing_reason(int code)
{
    switch (code) {
    case 413:
        return "Payload Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Bad Request";
    }
}

/* Answers on the socket itself and shuts it: evhttp then reads an end of
 * stream and drops the connection without a page of its own. With a reply
 * of evhttp's still queued the error is left out (the close stays). */
static void framing_refuse(framing_conn *c, struct evbuffer *in, const framing_refusal *why)
{
    char body[384], reply[640];
    int blen = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n",
                        why->ecode, why->msg);
    int n = snprintf(reply, sizeof(reply),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
                     why->code, framing_reason(why->code), blen, body);
    evbuffer_drain(in, evbuffer_get_length(in));
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        (void)send(c->fd, reply, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(c->fd, SHUT_RDWR);
}

/* The n bytes just added at the end of in. */
static void framing_on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
    framing_conn *c = arg;
    size_t len = evbuffer_get_length(in), n = info->n_added, done = 0;
    if (n == 0 || n > len || c->p.state == FRAMING_OFF)
        return;
    if (c->fd < 0) {
        struct stat st;
        c->fd = bufferevent_getfd(c->bev);
        if (c->fd < 0 || fstat(c->fd, &st) != 0) {
            c->p.state = FRAMING_OFF;
            return;
        }
        c->ino = st.st_ino;
    }
    struct evbuffer_iovec v[8];
    struct evbuffer_ptr at;
    if (evbuffer_ptr_set(in, &at, len - n, EVBUFFER_PTR_SET) != 0)
        return;
    /* the new bytes, a few extents at a time, without copying them */
    while (done < n) {
        int k = evbuffer_peek(in, (ev_ssize_t)(n - done), &at, v, 8);
        if (k <= 0)
            return;
        for (int i = 0; i < k && i < 8 && done < n; i++) {
            size_t m = v[i].iov_len < n - done ? v[i].iov_len : n - done;
            if (framing_parser_feed(&c->p, v[i].iov_base, m)) {
                framing_refuse(c, in, &c->p.why);
                return;
            }
            done += m;
        }
        if (done < n && evbuffer_ptr_set(in, &at, len - n + done, EVBUFFER_PTR_SET) != 0)
            return;
    }
}

static struct bufferevent *framing_on_connection(struct event_base *base, void *arg)
{
    framing *f = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
    framing_conn *c = xcalloc(1, sizeof(*c));
    if (!bev) {
        free(c);
        return bev; /* unwatched rather than refused */
    }
    c->f = f;
    c->bev = bev;
    c->fd = -1;
    framing_parser_init(&c->p, f->header_limit, f->body_ceiling, f->body_limit);
    c->born = time(NULL);
    c->next = f->conns;
    if (c->next)
        c->next->pprev = &c->next;
    f->conns = c;
    c->pprev = &f->conns;
    if (!evbuffer_add_cb(bufferevent_get_input(bev), framing_on_input, c))
        framing_conn_free(c);
    return bev;
}

void framing_install(framing *f, struct evhttp *http)
{
    evhttp_set_bevcb(http, framing_on_connection, f);
}
