/* bare204 - the HTTP stack's own ceiling: an evhttp server on one event
 * loop, like the gateways, that answers every request 204 after reading
 * its body, and does nothing else. loadtest/bench points wrk at it with the
 * same requests it sends to courier-gw.
 *
 *   bare204 PORT */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static void bare_on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    evbuffer_drain(in, evbuffer_get_length(in));
    evhttp_send_reply(req, 204, "No Content", NULL);
}

static void bare_on_term(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bare204 PORT\n");
        return 2;
    }
    /* the same loop settings as the services (service_base_new) */
    struct event_config *cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    struct evhttp *http = evhttp_new(base);
    if (!base || !http || evhttp_bind_socket(http, "127.0.0.1", (ev_uint16_t)atoi(argv[1])) != 0) {
        fprintf(stderr, "bare204: cannot listen on 127.0.0.1:%s (port in use?)\n", argv[1]);
        return 1;
    }
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_POST);
    evhttp_set_gencb(http, bare_on_request, NULL);
    struct event *term = evsignal_new(base, SIGTERM, bare_on_term, base);
    event_add(term, NULL);
    event_base_dispatch(base);
    event_free(term);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}
