/* listenguard.c - accept() back-off (see listenguard.h). libevent hands the
 * error callback only the listener and evhttp's own argument, so the state
 * of a pause travels with the pause's one-shot timer, not in an object. */
#include "listenguard.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

typedef struct listenguard_pause {
    struct evconnlistener *l;
    int pause_ms; /* this pause */
    int total_ms; /* since accepting stopped */
} listenguard_pause;

static void listenguard_on_resume(evutil_socket_t fd, short what, void *arg);

static int listenguard_schedule(listenguard_pause *p)
{
    struct timeval tv = {p->pause_ms / 1000, (p->pause_ms % 1000) * 1000};
    return event_base_once(evconnlistener_get_base(p->l), -1, EV_TIMEOUT, listenguard_on_resume, p,
                           &tv);
}

/* A descriptor is free when a socket can be made (then closed at once). */
static int listenguard_fd_free(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return 0;
    close(s);
    return 1;
}

static void listenguard_on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    listenguard_pause *p = arg;
    p->total_ms += p->pause_ms;
    if (!listenguard_fd_free()) {
        p->pause_ms *= 2;
        if (p->pause_ms > LISTENGUARD_PAUSE_MAX_MS)
            p->pause_ms = LISTENGUARD_PAUSE_MAX_MS;
        if (listenguard_schedule(p) == 0)
            return;
    }
    log_event(LOG_INFO, "accept_resumed", "{s:i}", "paused_ms", p->total_ms);
    evconnlistener_enable(p->l);
    free(p);
}

static void listenguard_on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    listenguard_pause *p = xcalloc(1, sizeof(*p));
    *p = (listenguard_pause){l, LISTENGUARD_PAUSE_MIN_MS, 0};
    if (listenguard_schedule(p) != 0) {
        free(p);
        return;
    }
    evconnlistener_disable(l);
    log_event(LOG_WARN, "accept_paused", "{s:s, s:s}", "error", strerror(err), "hint",
              err == EMFILE || err == ENFILE
                  ? "out of descriptors: raise the open-files limit or lower RXD_LONGPOLL_MAX"
                  : "accept() failed; retrying after a pause");
}

static void listenguard_on_bound(struct evhttp_bound_socket *sock, void *arg)
{
    (void)arg;
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(sock),
                                listenguard_on_accept_error);
}

void listenguard_install(struct evhttp *http)
{
    evhttp_foreach_bound_socket(http, listenguard_on_bound, NULL);
}
