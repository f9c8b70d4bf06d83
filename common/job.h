/* job.h - the worker kit, pure part: what every job of a Kafka worker
 * (rx-router, dispatcher) shares. A backoff for retries (jittered,
 * exponential, capped), and the in-flight accounting: a count of jobs that
 * feeds the service's busy hook (the shutdown drain waits for it) and the
 * claim loops (they stop while too many jobs run), where each job holds a
 * token it gives back exactly once, so that a missed or doubled end aborts
 * at once instead of hanging a graceful shutdown. Jobs waiting to retry are
 * listed, so that a stop frees every one of them. No I/O. */
#ifndef RXD_JOB_H
#define RXD_JOB_H

typedef struct job_token job_token;
/* Frees the job that holds t (and ends t): called by job_count_drop_waiting. */
typedef void job_drop_fn(job_token *t);

typedef struct job_count {
    int running;     /* tokens held */
    int waiting;     /* of those, jobs waiting to retry: they hold no claim slot */
    job_token *wait; /* the waiting ones */
} job_count;

struct job_token {
    job_count *count; /* NULL once ended (or before the start) */
    job_token *prev, *next;
    int waiting;
    job_drop_fn *drop;
};

/* A job starts: t must not be held already. drop may be NULL for work that
 * never waits to retry. */
void job_begin(job_count *c, job_token *t, job_drop_fn *drop);
/* The job ends: gives t back (aborts when it was not held), whether or not
 * it was waiting. */
void job_end(job_token *t);
/* The job waits to retry (holds no claim slot meanwhile), then runs again. */
void job_wait(job_token *t);
void job_wake(job_token *t);
/* Jobs in flight (the busy hook), and those that hold a claim slot. */
int job_count_busy(const job_count *c);
int job_count_active(const job_count *c);
/* At stop, after the loop: frees the jobs waiting to retry (drop hook). */
void job_count_drop_waiting(job_count *c);
/* At teardown, after every callback has run: -1, said on stderr, when a job
 * never ended. */
int job_count_check(const job_count *c, const char *who);

/* The retry delays of one job: doubling from min_ms up to max_ms. */
typedef struct job_backoff {
    int nominal_ms; /* 0 before the first retry */
    unsigned seed;  /* the jitter's state, per job */
} job_backoff;

/* The next delay: the nominal doubles (capped), and the delay is drawn from
 * its upper half, so retries of many jobs that failed together spread out
 * and never wait longer than the nominal. */
int job_backoff_next(job_backoff *b, int min_ms, int max_ms);

#endif
