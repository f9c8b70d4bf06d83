/* api.c - evhttp client pool: one request per connection at a time (evhttp
 * would queue more on one connection, but then a long-poll would block the
 * requests behind it), and a FIFO of the rest. */
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

typedef struct api_call api_call;

typedef struct api_slot {
    api *a;
    struct evhttp_connection *conn;
    api_call *call; /* the request in flight, or NULL when idle */
} api_slot;

struct api_call {
    api_call *next;
    enum evhttp_cmd_type method;
    char *path;
    char *token;
    char *body; /* serialized JSON or NULL */
    api_reply_cb *cb;
    void *ctx;
};

struct api {
    struct event_base *base;
    char host[256];
    int port;
    int timeout_s;
    int nslots;
    api_slot *slots;
    api_call *head, *tail;
    int queued, inflight;
    int closing;
};

static void api_call_free(api_call *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->token);
    free(c->body);
    free(c);
}

static int api_parse_url(api *a, const char *url, char *err, size_t errlen)
{
    struct evhttp_uri *u = evhttp_uri_parse(url);
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    if (!host || !*host) {
        snprintf(err, errlen, "'%s' is not an http://host:port URL", url);
        evhttp_uri_free(u);
        return -1;
    }
    snprintf(a->host, sizeof(a->host), "%s", host);
    a->port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : 80;
    evhttp_uri_free(u);
    return 0;
}

api *api_new(struct event_base *base, const char *base_url, int max_conns, int timeout_s, char *err,
             size_t errlen)
{
    api *a = calloc(1, sizeof(*a));
    if (!a || max_conns < 1) {
        snprintf(err, errlen, "cannot build an HTTP pool of %d connections", max_conns);
        free(a);
        return NULL;
    }
    a->base = base;
    a->timeout_s = timeout_s;
    if (api_parse_url(a, base_url, err, errlen) != 0) {
        free(a);
        return NULL;
    }
    a->nslots = max_conns;
    a->slots = calloc((size_t)max_conns, sizeof(*a->slots));
    if (!a->slots) {
        snprintf(err, errlen, "out of memory for %d connections", max_conns);
        free(a);
        return NULL;
    }
    for (int i = 0; i < max_conns; i++)
        a->slots[i].a = a;
    return a;
}

void api_free(api *a)
{
    if (!a)
        return;
    a->closing = 1; /* callbacks fired while connections close only free */
    for (int i = 0; i < a->nslots; i++)
        if (a->slots[i].conn)
            evhttp_connection_free(a->slots[i].conn);
    for (int i = 0; i < a->nslots; i++)
        api_call_free(a->slots[i].call);
    while (a->head) {
        api_call *c = a->head;
        a->head = c->next;
        api_call_free(c);
    }
    free(a->slots);
    free(a);
}

int api_pending(const api *a)
{
    return a->queued + a->inflight;
}

static void api_pump(api *a);

static json_t *api_read_body(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = in ? evbuffer_get_length(in) : 0;
    if (len == 0)
        return NULL;
    const char *data = (const char *)evbuffer_pullup(in, -1);
    return json_loadb(data, len, 0, NULL);
}

static void api_on_response(struct evhttp_request *req, void *arg)
{
    api_slot *s = arg;
    api *a = s->a;
    if (a->closing)
        return;
    api_call *c = s->call;
    s->call = NULL;
    a->inflight--;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    json_t *body = req && status ? api_read_body(req) : NULL;
    if (c && c->cb)
        c->cb(status, body, c->ctx);
    json_decref(body);
    api_call_free(c);
    api_pump(a);
}

static struct evhttp_connection *api_slot_conn(api_slot *s)
{
    api *a = s->a;
    if (!s->conn) {
        s->conn = evhttp_connection_base_new(a->base, NULL, a->host, (unsigned short)a->port);
        if (!s->conn)
            return NULL;
        evhttp_connection_set_timeout(s->conn, a->timeout_s);
        evhttp_connection_set_retries(s->conn, 0);
    }
    return s->conn;
}

/* Sends c on slot s; on failure c is answered with status 0. */
static void api_send(api_slot *s, api_call *c)
{
    api *a = s->a;
    struct evhttp_connection *conn = api_slot_conn(s);
    struct evhttp_request *req = conn ? evhttp_request_new(api_on_response, s) : NULL;
    if (!req) {
        if (c->cb)
            c->cb(0, NULL, c->ctx);
        api_call_free(c);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char auth[600];
    snprintf(auth, sizeof(auth), "Bearer %s", c->token ? c->token : "");
    evhttp_add_header(h, "Host", a->host);
    evhttp_add_header(h, "Authorization", auth);
    if (c->body) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), c->body, strlen(c->body));
    }
    s->call = c;
    a->inflight++;
    if (evhttp_make_request(conn, req, c->method, c->path) != 0) {
        /* evhttp frees req on failure; answer the caller and reuse the slot */
        s->call = NULL;
        a->inflight--;
        if (c->cb)
            c->cb(0, NULL, c->ctx);
        api_call_free(c);
    }
}

static void api_pump(api *a)
{
    for (int i = 0; i < a->nslots && a->head; i++) {
        if (a->slots[i].call)
            continue;
        api_call *c = a->head;
        a->head = c->next;
        if (!a->head)
            a->tail = NULL;
        a->queued--;
        api_send(&a->slots[i], c);
    }
}

int api_request(api *a, enum evhttp_cmd_type method, const char *path, const char *token,
                json_t *body, api_reply_cb *cb, void *ctx)
{
    api_call *c = calloc(1, sizeof(*c));
    if (!c) {
        json_decref(body);
        return -1;
    }
    c->method = method;
    c->path = strdup(path);
    c->token = token ? strdup(token) : NULL;
    c->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    c->cb = cb;
    c->ctx = ctx;
    if (!c->path || (token && !c->token)) {
        api_call_free(c);
        return -1;
    }
    if (a->tail)
        a->tail->next = c;
    else
        a->head = c;
    a->tail = c;
    a->queued++;
    api_pump(a);
    return 0;
}
