/* batch.c - a counted group of Redis commands (see batch.h). */
#include "batch.h"

#include <stdlib.h>

#include "rerr.h"
#include "mem.h"

struct batch {
    store *st;
    batch_done_fn *done;
    void *ctx;
    int pending;
    int ended;
    int failed; /* 0, or the worst rerr_kind of the failed commands */
};

typedef struct batch_call {
    batch *b;
    batch_reply_fn *fn;
    void *item;
} batch_call;

batch *batch_new(store *st, batch_done_fn *done, void *ctx)
{
    batch *b = xcalloc(1, sizeof(*b));
    *b = (batch){.st = st, .done = done, .ctx = ctx};
    return b;
}

static void batch_finish_if_complete(batch *b)
{
    if (!b->ended || b->pending > 0)
        return;
    b->done(b->failed, b->ctx);
    free(b);
}

static void batch_on_reply(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    batch_call *call = ctx;
    batch *b = call->b;
    if (err || !reply || reply->type == REDIS_REPLY_ERROR) {
        rerr_kind k = rerr_classify(err     ? err
                                    : reply ? NULL
                                            : "no reply",
                                    reply && reply->type == REDIS_REPLY_ERROR ? reply->str : NULL);
        if ((int)k > b->failed)
            b->failed = (int)k;
    } else
        call->fn(reply, call->item, b->ctx);
    free(call);
    mem_assert(b->pending > 0);
    b->pending--;
    batch_finish_if_complete(b);
}

void batch_cmd(batch *b, batch_reply_fn *fn, void *item, int argc, const char **argv)
{
    batch_call *call = xmalloc(sizeof(*call));
    *call = (batch_call){b, fn, item};
    b->pending++;
    /* store_cmd_argv never calls back from inside itself */
    if (store_cmd_argv(b->st, batch_on_reply, call, argc, argv, NULL) != 0) {
        free(call);
        b->pending--;
        if (b->failed < RERR_RETRY)
            b->failed = RERR_RETRY; /* out of memory here: may pass */
    }
}

void batch_end(batch *b)
{
    b->ended = 1;
    batch_finish_if_complete(b);
}
