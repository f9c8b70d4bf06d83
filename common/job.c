/* job.c - the worker kit's pure part: backoff and in-flight accounting
 * (job.h). */
#include "job.h"

#include <stdio.h>
#include <stdlib.h>

/* A broken count is a bug that would hang the drain or free a job twice:
 * stop loudly, in every build type. */
static void job_fail(const char *what)
{
    fprintf(stderr, "job accounting: %s\n", what);
    abort();
}

void job_begin(job_count *c, job_token *t, job_drop_fn *drop)
{
    if (t->count)
        job_fail("a job started twice");
    *t = (job_token){.count = c, .drop = drop};
    c->running++;
}

static void job_unlist(job_token *t)
{
    job_count *c = t->count;
    if (t->prev)
        t->prev->next = t->next;
    else
        c->wait = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    t->waiting = 0;
    c->waiting--;
}

void job_end(job_token *t)
{
    if (!t->count)
        job_fail("a job ended twice (or never started)");
    if (t->waiting)
        job_unlist(t);
    t->count->running--;
    t->count = NULL;
}

void job_wait(job_token *t)
{
    if (!t->count || t->waiting)
        job_fail("a job that is not running waits");
    job_count *c = t->count;
    t->waiting = 1;
    t->prev = NULL;
    t->next = c->wait;
    if (c->wait)
        c->wait->prev = t;
    c->wait = t;
    c->waiting++;
}

void job_wake(job_token *t)
{
    if (!t->count || !t->waiting)
        job_fail("a job that does not wait wakes");
    job_unlist(t);
}

int job_count_busy(const job_count *c)
{
    return c->running;
}

int job_count_active(const job_count *c)
{
    return c->running - c->waiting;
}

void job_count_drop_waiting(job_count *c)
{
    while (c->wait) {
        job_token *t = c->wait;
        if (!t->drop)
            job_fail("a waiting job cannot be dropped");
        t->drop(t);
        if (c->wait == t)
            job_fail("a drop hook did not end its job");
    }
}

int job_count_check(const job_count *c, const char *who)
{
    if (c->running == 0 && c->waiting == 0)
        return 0;
    /* not an abort: a Redis call queued while the store closed never
     * answers, and the exit must stay orderly */
    fprintf(stderr, "%s: %d jobs (%d waiting to retry) never ended: a missed job_end\n", who,
            c->running, c->waiting);
    return -1;
}

int job_backoff_next(job_backoff *b, int min_ms, int max_ms)
{
    if (!b->seed)
        b->seed = (unsigned)(size_t)b ^ 0x9e3779b9u;
    b->nominal_ms = b->nominal_ms ? b->nominal_ms * 2 : min_ms;
    if (b->nominal_ms > max_ms)
        b->nominal_ms = max_ms;
    int half = b->nominal_ms / 2;
    return b->nominal_ms - half + rand_r(&b->seed) % (half + 1);
}
