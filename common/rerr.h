/* rerr.h - which Redis failures a retry can fix.
 *
 * A job that meets a Redis failure either backs off and tries again (the
 * connection dropped, the server is loading, out of memory for now, a
 * script cache flushed) or gives up with a reason (a key of the wrong type,
 * a script error, a reply of an unexpected shape): retrying those for ever
 * is how one bad order used to hold a job slot for ever. Pure: strings in. */
#ifndef RXD_RERR_H
#define RXD_RERR_H

typedef enum {
    RERR_RETRY = 1, /* transient: back off and try again */
    RERR_FATAL = 2, /* no retry fixes it: end the work with a reason */
} rerr_kind;

/* transport: the store's failure text (connection lost, timeout, not
 * connected), NULL when a reply came; reply_error: the text of an error
 * reply, NULL when the reply was not an error (then the reply had an
 * unexpected shape, which is fatal). */
rerr_kind rerr_classify(const char *transport, const char *reply_error);
/* "retry" or "fatal", for logs and metrics. */
const char *rerr_kind_name(rerr_kind kind);

#endif
