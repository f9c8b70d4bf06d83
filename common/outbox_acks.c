/* outbox_acks.c - queue of waiters released by reports of the outbox stream
 * (see outbox_acks.h). */
#include "outbox_acks.h"
#include "mem.h"

#include <stdlib.h>

typedef struct outbox_waiter {
    outbox_ackq_fn *fn;
    void *ctx;
    int has_target;
    outbox_stream_id target; /* the stream's last id when the work was done */
    struct outbox_waiter *next;
} outbox_waiter;

struct outbox_ackq {
    int pending;
    outbox_waiter *head, **tail;
};

outbox_stream_id outbox_stream_id_parse(const char *s)
{
    outbox_stream_id id = {0, 0};
    char *end;
    id.ms = strtoull(s, &end, 10);
    if (*end == '-')
        id.seq = strtoull(end + 1, NULL, 10);
    return id;
}

int outbox_stream_id_less(outbox_stream_id a, outbox_stream_id b)
{
    return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq);
}

outbox_ackq *outbox_ackq_new(void)
{
    outbox_ackq *q = xcalloc(1, sizeof(*q));
    q->tail = &q->head;
    return q;
}

void outbox_ackq_free(outbox_ackq *q)
{
    if (!q)
        return;
    while (q->head) {
        outbox_waiter *w = q->head;
        q->head = w->next;
        free(w);
    }
    free(q);
}

int outbox_ackq_push(outbox_ackq *q, outbox_ackq_fn *fn, void *ctx)
{
    outbox_waiter *w = xcalloc(1, sizeof(*w));
    w->fn = fn;
    w->ctx = ctx;
    *q->tail = w;
    q->tail = &w->next;
    q->pending++;
    return 0;
}

int outbox_ackq_release(outbox_ackq *q, int empty, outbox_stream_id first, outbox_stream_id last)
{
    int released = 0;
    for (outbox_waiter *w = q->head; w; w = w->next)
        if (!w->has_target) {
            w->target = last;
            w->has_target = 1;
        }
    while (q->head && q->head->has_target &&
           (empty || outbox_stream_id_less(q->head->target, first))) {
        outbox_waiter *w = q->head;
        q->head = w->next;
        if (!q->head)
            q->tail = &q->head;
        mem_assert(q->pending > 0);
        q->pending--;
        released++;
        w->fn(w->ctx);
        free(w);
    }
    return released;
}

int outbox_ackq_pending(const outbox_ackq *q)
{
    return q ? q->pending : 0;
}
