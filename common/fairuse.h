/* fairuse.h - what one token holder may take from a gateway: a request
 * rate and a position rate (token buckets per holder, so one holder's
 * burst never spends another's budget) and a number of parked long-polls
 * per holder and in total. Pure: the caller passes the time, so the unit
 * tests run on a clock of their own. */
#ifndef RXD_FAIRUSE_H
#define RXD_FAIRUSE_H

#include <stddef.h>
#include <stdint.h>

/* A holder is named "role:id" (ids are at most 64 chars). */
#define FAIRUSE_HOLDER_MAX 80

typedef enum fairuse_kind {
    FAIRUSE_REQUESTS = 0, /* HTTP requests of the holder */
    FAIRUSE_POSITIONS,    /* courier positions (a batch spends one per point) */
    FAIRUSE_KINDS
} fairuse_kind;

typedef struct fairuse_rate {
    double per_s; /* refill per second; 0 turns the limit off */
    double burst; /* bucket size: what an idle holder may spend at once */
} fairuse_rate;

typedef struct fairuse_limits {
    fairuse_rate rate[FAIRUSE_KINDS];
    int parked_per_holder; /* long-polls one holder may have parked */
    int parked_total;      /* long-polls parked in this gateway */
} fairuse_limits;

typedef struct fairuse fairuse;

fairuse *fairuse_new(const fairuse_limits *l);
void fairuse_free(fairuse *f);

/* 0 when holder may spend n of kind now (and spends it); otherwise -1 with
 * *retry_ms the wait until it could, or -1 for n beyond the burst (never). */
int fairuse_take(fairuse *f, fairuse_kind kind, const char *holder, double n, int64_t now_ms,
                 int64_t *retry_ms);

enum { FAIRUSE_PARKED = 0, FAIRUSE_HOLDER_FULL = -1, FAIRUSE_TOTAL_FULL = -2 };
/* Counts one more parked long-poll of holder, or refuses it. */
int fairuse_park(fairuse *f, const char *holder);
void fairuse_unpark(fairuse *f, const char *holder);
int fairuse_parked_total(const fairuse *f);

/* Forgets holders with nothing parked whose buckets are full again (their
 * entry would be made afresh just the same). Returns how many remain. */
size_t fairuse_sweep(fairuse *f, int64_t now_ms);

#endif
