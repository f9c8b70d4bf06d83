/* framing.c - the per-connection framing watch (see framing.h).
 *
 * libevent tells nobody when a connection's bufferevent is freed, so the
 * watch of a connection cannot be freed with it. Each watch is kept on a
 * list and swept: one whose socket is gone (fstat fails, or the descriptor
 * now names another socket) or that never saw a byte within the idle
 * limit (evhttp has closed it by then) is freed. The sweep never touches
 * a connection, only the descriptor number it recorded. */
#include "framing.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#define FRAMING_LINE 48 /* enough of a header line for its name and a length */
#define FRAMING_SWEEP_S 30

typedef enum framing_state {
    FRAMING_HEADERS, /* counting a header block */
    FRAMING_BODY,    /* counting body_left bytes of a body */
    FRAMING_OFF      /* a chunked body or a refusal: no longer watched */
} framing_state;

typedef struct framing_conn {
    struct framing *f;
    struct bufferevent *bev; /* only used from its own input callback */
    evutil_socket_t fd;      /* -1 until its first bytes */
    ino_t ino;
    time_t born;
    framing_state state;
    unsigned long long body_left;
    size_t hlen;  /* bytes of the header block so far */
    int line_no;  /* 0: the request line */
    int has_body; /* the method reads a body (evhttp 2.1: POST, PUT, PATCH) */
    int chunked;  /* a Transfer-Encoding was announced */
    int bad_len;  /* a Content-Length evhttp will refuse itself */
    unsigned long long len;
    size_t line_len;
    char line[FRAMING_LINE + 1];
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
    framing *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
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

/* Answers on the socket itself and shuts it: evhttp then reads an end of
 * stream and drops the connection without a page of its own. With a reply
 * of evhttp's still queued the error is left out (the close stays). */
static void framing_refuse(framing_conn *c, struct evbuffer *in, int code, const char *ecode,
                           const char *msg)
{
    char body[384], reply[640];
    int blen = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n",
                        ecode, msg);
    int n = snprintf(reply, sizeof(reply),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
                     code, code == 431 ? "Request Header Fields Too Large" : "Payload Too Large",
                     blen, body);
    c->state = FRAMING_OFF;
    evbuffer_drain(in, evbuffer_get_length(in));
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        (void)send(c->fd, reply, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(c->fd, SHUT_RDWR);
}

/* One complete header line (without its CRLF; only its first bytes). */
static void framing_on_line(framing_conn *c)
{
    c->line[c->line_len] = '\0';
    if (c->line_no++ == 0) {
        c->has_body = strncmp(c->line, "POST ", 5) == 0 || strncmp(c->line, "PUT ", 4) == 0 ||
                      strncmp(c->line, "PATCH ", 6) == 0;
        return;
    }
    if (strncasecmp(c->line, "Transfer-Encoding:", 18) == 0)
        c->chunked = 1;
    if (strncasecmp(c->line, "Content-Length:", 15) == 0) {
        const char *v = c->line + 15;
        while (*v == ' ' || *v == '\t')
            v++;
        char *end;
        c->len = strtoull(v, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        c->bad_len |= end == v || *end;
    }
}

/* The header block is complete: sets up its body, or refuses it. */
static void framing_on_headers(framing_conn *c, struct evbuffer *in)
{
    int has_body = c->has_body;
    unsigned long long len = c->len;
    framing_state next = FRAMING_HEADERS;
    if (has_body && (c->chunked || c->bad_len))
        next = FRAMING_OFF; /* evhttp frames (or refuses) it itself */
    else if (has_body && len > 0)
        next = FRAMING_BODY;
    c->hlen = 0;
    c->line_no = 0;
    c->line_len = 0;
    c->has_body = c->chunked = c->bad_len = 0;
    c->len = 0;
    if (next == FRAMING_BODY && len > c->f->body_ceiling) {
        char msg[160];
        snprintf(msg, sizeof(msg), "body of %llu bytes is over the limit of %zu", len,
                 c->f->body_limit);
        framing_refuse(c, in, 413, "body_too_large", msg);
        return;
    }
    c->state = next;
    c->body_left = len;
}

/* Walks header bytes; returns how many it used (it stops after a block). */
static size_t framing_walk_headers(framing_conn *c, struct evbuffer *in, const char *p, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        if (++c->hlen > c->f->header_limit) {
            char msg[160];
            snprintf(msg, sizeof(msg), "request line and headers are over the limit of %zu bytes",
                     c->f->header_limit);
            framing_refuse(c, in, 431, "headers_too_large", msg);
            return k;
        }
        if (p[i] != '\n') {
            if (p[i] != '\r' && c->line_len < FRAMING_LINE)
                c->line[c->line_len++] = p[i];
            continue;
        }
        if (c->line_len == 0 && c->line_no > 0) {
            framing_on_headers(c, in);
            return i + 1;
        }
        if (c->line_len > 0) /* empty lines before a request line are skipped */
            framing_on_line(c);
        c->line_len = 0;
    }
    return k;
}

/* The n bytes just added at the end of in. */
static void framing_on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
    framing_conn *c = arg;
    size_t len = evbuffer_get_length(in), n = info->n_added, done = 0;
    if (n == 0 || n > len || c->state == FRAMING_OFF)
        return;
    if (c->fd < 0) {
        struct stat st;
        c->fd = bufferevent_getfd(c->bev);
        if (c->fd < 0 || fstat(c->fd, &st) != 0) {
            c->state = FRAMING_OFF;
            return;
        }
        c->ino = st.st_ino;
    }
    while (done < n && c->state != FRAMING_OFF) {
        if (c->state == FRAMING_BODY) {
            size_t k = n - done < c->body_left ? n - done : (size_t)c->body_left;
            c->body_left -= k;
            done += k;
            if (c->body_left == 0)
                c->state = FRAMING_HEADERS;
            continue;
        }
        char chunk[512];
        size_t k = n - done < sizeof(chunk) ? n - done : sizeof(chunk);
        struct evbuffer_ptr at;
        if (evbuffer_ptr_set(in, &at, len - n + done, EVBUFFER_PTR_SET) != 0 ||
            evbuffer_copyout_from(in, &at, chunk, k) != (ev_ssize_t)k)
            return;
        done += framing_walk_headers(c, in, chunk, k);
    }
}

static struct bufferevent *framing_on_connection(struct event_base *base, void *arg)
{
    framing *f = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
    framing_conn *c = calloc(1, sizeof(*c));
    if (!bev || !c) {
        free(c);
        return bev; /* unwatched rather than refused */
    }
    c->f = f;
    c->bev = bev;
    c->fd = -1;
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
