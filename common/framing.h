/* framing.h - the request framing of a gateway connection, watched as
 * bytes arrive, before evhttp parses them. evhttp 2.1 answers a header
 * block over its limit, a body over its ceiling (announced, or sent in
 * chunks), a malformed request line or header, or a method it does not
 * know with an HTML page that no callback can replace (its bufferevent
 * filters cannot take a socket either). So a callback on each connection's
 * input buffer (evhttp_set_bevcb, evbuffer_add_cb) runs the bytes through
 * a framing parser first: the request line, the header block and its
 * Content-Length or Transfer-Encoding, and every chunk size of a chunked
 * body. What evhttp would refuse, the connection gets as SPEC section 6's
 * JSON error (400, 413, 431, 501 or 505) written to its socket; its input
 * is dropped and it is shut down, which evhttp sees as a client that left.
 * evhttp's own limits (the same body ceiling, a higher header limit) stay
 * as a backstop.
 *
 * The parser is pure (bytes in, a verdict out) so the fuzzer drives the
 * code the gateway runs. It is stricter than evhttp where evhttp is
 * lenient in ways a client of this API never needs (only HTTP/1.0 and 1.1,
 * one Content-Length, no Transfer-Encoding but chunked). */
#ifndef RXD_FRAMING_H
#define RXD_FRAMING_H

#include <stddef.h>
#include <event2/event.h>
#include <event2/http.h>

#define FRAMING_LINE 48        /* kept of a header line: its name and a length */
#define FRAMING_CHUNK_LINE 256 /* a chunk-size line, extensions included */

typedef enum framing_state {
    FRAMING_HEADERS,    /* a request line and its header block */
    FRAMING_BODY,       /* body_left bytes of a body with a length */
    FRAMING_CHUNK_SIZE, /* the size line of the next chunk */
    FRAMING_CHUNK_DATA, /* body_left bytes of a chunk */
    FRAMING_TRAILER,    /* the header lines after the last chunk */
    FRAMING_OFF         /* refused: no longer parsed */
} framing_state;

/* What a refused request is answered. */
typedef struct framing_refusal {
    int code; /* 400, 413, 431, 501 or 505 */
    const char *ecode;
    char msg[192];
} framing_refusal;

/* The state of one connection's byte stream. */
typedef struct framing_parser {
    size_t header_limit;
    unsigned long long body_ceiling; /* refused beyond */
    size_t body_limit;               /* named in the message */
    framing_state state;
    unsigned long long body_left;
    unsigned long long chunked_total; /* chunk sizes of this body so far */
    size_t hlen;                      /* bytes of the header block so far */
    int line_no;                      /* 0: the request line */
    size_t line_full;                 /* bytes of the line so far */
    int spaces;                       /* in the request line */
    int colon;                        /* the header line has a ':' */
    int has_body;                     /* the method reads a body (evhttp 2.1: POST, PUT, PATCH) */
    int chunked;                      /* Transfer-Encoding: chunked */
    int n_te, n_len;
    unsigned long long len;
    int requests; /* header blocks complete so far */
    size_t line_len;
    char line[FRAMING_LINE + 1];
    char tail[10];       /* the request line's last 9 bytes */
    framing_refusal why; /* once refused */
} framing_parser;

void framing_parser_init(framing_parser *p, size_t header_limit, unsigned long long body_ceiling,
                         size_t body_limit);
/* Parses the next n bytes of the stream. 0 while it may go on; else the
 * status of the refusal described in p->why (the parser is then off and
 * answers every later call the same). */
int framing_parser_feed(framing_parser *p, const char *s, size_t n);

typedef struct framing framing;

/* Header blocks over header_limit bytes get 431; a body over body_ceiling
 * (announced or chunked) gets 413 naming body_limit. idle_s is evhttp's
 * timeout. Must outlive the evhttp it is installed
 * on. */
framing *framing_new(struct event_base *base, size_t header_limit, size_t body_ceiling,
                     size_t body_limit, int idle_s);
void framing_free(framing *f);
/* Watches every connection http accepts from now on. */
void framing_install(framing *f, struct evhttp *http);

#endif
