/* framing.h - the request framing of a gateway connection, watched as
 * bytes arrive, before evhttp parses them. evhttp 2.1 answers a header
 * block over its limit, or a body announced over its ceiling, with an HTML
 * page that no callback can replace (its bufferevent filters cannot take a
 * socket either). So a callback on each connection's input buffer
 * (evhttp_set_bevcb, evbuffer_add_cb) counts the header block of each
 * request and reads its Content-Length; over the header limit, or
 * announcing a body over the ceiling, the connection gets SPEC section 6's
 * JSON error (431 or 413) written to its socket, its input is dropped and
 * it is shut down, which evhttp sees as a client that left. evhttp's own,
 * higher limits stay as a backstop. A chunked body cannot be judged up
 * front: after one, the connection is no longer watched and evhttp's own
 * limits apply (docs/security.md). */
#ifndef RXD_FRAMING_H
#define RXD_FRAMING_H

#include <stddef.h>
#include <event2/event.h>
#include <event2/http.h>

typedef struct framing framing;

/* Header blocks over header_limit bytes get 431; a Content-Length over
 * body_ceiling gets 413 naming body_limit. idle_s is evhttp's timeout.
 * NULL when out of memory. Must outlive the evhttp it is installed on. */
framing *framing_new(struct event_base *base, size_t header_limit, size_t body_ceiling,
                     size_t body_limit, int idle_s);
void framing_free(framing *f);
/* Watches every connection http accepts from now on. */
void framing_install(framing *f, struct evhttp *http);

#endif
