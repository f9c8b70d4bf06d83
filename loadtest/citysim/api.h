/* api.h - a bounded pool of evhttp client connections to one HTTP API.
 *
 * Requests beyond the pool size wait in a FIFO, so a simulated city of any
 * size opens at most max_conns sockets per pool. Long-polls get a pool of
 * their own: a poll holds its connection for up to its wait, and actions
 * queued behind polls would stall the simulation. */
#ifndef CITYSIM_API_H
#define CITYSIM_API_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

typedef struct api api;

/* status is the HTTP status, or 0 when no response came (connection refused,
 * reset, timed out). body is the parsed JSON reply or NULL; borrowed for the
 * duration of the call. */
typedef void api_reply_cb(int status, json_t *body, void *ctx);

/* base_url: http://host:port. timeout_s bounds one request (a long-poll's
 * wait plus margin). */
api *api_new(struct event_base *base, const char *base_url, int max_conns, int timeout_s, char *err,
             size_t errlen);
/* Drops queued requests without calling them back and closes the sockets. */
void api_free(api *a);

/* Queues a request. body (may be NULL) is stolen. cb may be NULL. Returns 0,
 * or -1 when out of memory (cb is then not called). */
int api_request(api *a, enum evhttp_cmd_type method, const char *path, const char *token,
                json_t *body, api_reply_cb *cb, void *ctx);

/* Requests in flight or queued. */
int api_pending(const api *a);

#endif
