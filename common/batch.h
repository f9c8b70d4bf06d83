/* batch.h - many Redis reads sent at once (hiredis pipelines them on the
 * connection) with one callback when every reply is in: how the router and
 * the dispatcher gather the facts of their candidates. */
#ifndef RXD_BATCH_H
#define RXD_BATCH_H

#include "store.h"

typedef struct batch batch;
/* One reply of the batch; not called for a failed command. */
typedef void batch_reply_fn(const redisReply *reply, void *item, void *ctx);
/* Every reply is in; failed is 0, or the worst rerr_kind (rerr.h) of the
 * commands that failed: RERR_RETRY when every failure may pass, RERR_FATAL
 * when one cannot. The batch is freed right after. */
typedef void batch_done_fn(int failed, void *ctx);

batch *batch_new(store *st, batch_done_fn *done, void *ctx);
/* Sends one command (argv strings, NUL-terminated); fn(reply, item, ctx). */
void batch_cmd(batch *b, batch_reply_fn *fn, void *item, int argc, const char **argv);
/* No more commands: done runs once the last reply is in (at once when every
 * reply already is). */
void batch_end(batch *b);

#endif
