/* fairuse.c - per-holder budgets (see fairuse.h): a hash table of holders,
 * each with one token bucket per kind and a parked count. */
#include "fairuse.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

#define FAIRUSE_BUCKETS 4096

typedef struct fairuse_holder {
    char key[FAIRUSE_HOLDER_MAX + 1];
    double tokens[FAIRUSE_KINDS];
    int64_t at_ms[FAIRUSE_KINDS]; /* when tokens[] was last brought up to date */
    int parked;
    struct fairuse_holder *next;
} fairuse_holder;

struct fairuse {
    fairuse_limits l;
    int parked_total;
    fairuse_holder *bucket[FAIRUSE_BUCKETS];
};

fairuse *fairuse_new(const fairuse_limits *l)
{
    fairuse *f = xcalloc(1, sizeof(*f));
    f->l = *l;
    return f;
}

void fairuse_free(fairuse *f)
{
    if (!f)
        return;
    for (size_t b = 0; b < FAIRUSE_BUCKETS; b++)
        while (f->bucket[b]) {
            fairuse_holder *h = f->bucket[b];
            f->bucket[b] = h->next;
            free(h);
        }
    free(f);
}

static fairuse_holder **fairuse_slot(fairuse *f, const char *key)
{
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        hash = (hash ^ *p) * 16777619u;
    fairuse_holder **pp = &f->bucket[hash % FAIRUSE_BUCKETS];
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* The holder's entry, made with full buckets when it is new. */
static fairuse_holder *fairuse_holder_get(fairuse *f, const char *key, int64_t now_ms)
{
    fairuse_holder **pp = fairuse_slot(f, key);
    if (*pp)
        return *pp;
    fairuse_holder *h = xcalloc(1, sizeof(*h));
    strncpy(h->key, key, FAIRUSE_HOLDER_MAX);
    for (int k = 0; k < FAIRUSE_KINDS; k++) {
        h->tokens[k] = f->l.rate[k].burst;
        h->at_ms[k] = now_ms;
    }
    *pp = h;
    return h;
}

static void fairuse_refill(const fairuse *f, fairuse_holder *h, int k, int64_t now_ms)
{
    const fairuse_rate *r = &f->l.rate[k];
    if (now_ms > h->at_ms[k]) {
        h->tokens[k] += r->per_s * (double)(now_ms - h->at_ms[k]) / 1000.0;
        if (h->tokens[k] > r->burst)
            h->tokens[k] = r->burst;
    }
    h->at_ms[k] = now_ms;
}

int fairuse_take(fairuse *f, fairuse_kind kind, const char *holder, double n, int64_t now_ms,
                 int64_t *retry_ms)
{
    const fairuse_rate *r = &f->l.rate[kind];
    *retry_ms = 0;
    if (r->per_s <= 0)
        return 0;
    if (n > r->burst) {
        *retry_ms = -1;
        return -1;
    }
    fairuse_holder *h = fairuse_holder_get(f, holder, now_ms);
    fairuse_refill(f, h, kind, now_ms);
    if (h->tokens[kind] >= n) {
        h->tokens[kind] -= n;
        return 0;
    }
    *retry_ms = (int64_t)((n - h->tokens[kind]) * 1000.0 / r->per_s) + 1;
    return -1;
}

int fairuse_park(fairuse *f, const char *holder)
{
    if (f->l.parked_total > 0 && f->parked_total >= f->l.parked_total)
        return FAIRUSE_TOTAL_FULL;
    fairuse_holder *h = fairuse_holder_get(f, holder, 0);
    if (f->l.parked_per_holder > 0 && h->parked >= f->l.parked_per_holder)
        return FAIRUSE_HOLDER_FULL;
    h->parked++;
    f->parked_total++;
    return FAIRUSE_PARKED;
}

void fairuse_unpark(fairuse *f, const char *holder)
{
    fairuse_holder *h = *fairuse_slot(f, holder);
    if (h && h->parked > 0)
        h->parked--;
    if (f->parked_total > 0)
        f->parked_total--;
}

int fairuse_parked_total(const fairuse *f)
{
    return f->parked_total;
}

size_t fairuse_sweep(fairuse *f, int64_t now_ms)
{
    size_t left = 0;
    for (size_t b = 0; b < FAIRUSE_BUCKETS; b++) {
        fairuse_holder **pp = &f->bucket[b];
        while (*pp) {
            fairuse_holder *h = *pp;
            int idle = h->parked == 0;
            for (int k = 0; k < FAIRUSE_KINDS && idle; k++) {
                fairuse_refill(f, h, k, now_ms);
                idle = h->tokens[k] >= f->l.rate[k].burst;
            }
            if (idle) {
                *pp = h->next;
                free(h);
            } else {
                pp = &h->next;
                left++;
            }
        }
    }
    return left;
}
