/* offsets.c - in-flight offsets per partition and the committable offset
 * (see offsets.h).
 *
 * The one place that allocates with plain malloc and reports failure (see
 * mem.h): the consumer then drops a message uncommitted, to be delivered
 * again, rather than aborting with every other message in flight. */
#include "offsets.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

#define OFFSETS_PARTS_INIT 16
#define OFFSETS_SLOTS_INIT 64

struct offsets {
    offsets_part *parts;
    size_t n, cap;
    uint64_t next_gen;
};

offsets *offsets_new(void)
{
    return xcalloc(1, sizeof(offsets));
}

void offsets_free(offsets *o)
{
    if (!o)
        return;
    offsets_untrack_all(o);
    free(o->parts);
    free(o);
}

offsets_part *offsets_find(offsets *o, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < o->n; i++) {
        offsets_part *p = &o->parts[i];
        if (p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    }
    return NULL;
}

offsets_part *offsets_track(offsets *o, const char *topic, int32_t partition)
{
    offsets_part *p = offsets_find(o, topic, partition);
    if (p)
        return p;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : OFFSETS_PARTS_INIT;
        offsets_part *np = realloc(o->parts, cap * sizeof(*np));
        if (!np)
            return NULL;
        o->parts = np;
        o->cap = cap;
    }
    p = &o->parts[o->n];
    memset(p, 0, sizeof(*p));
    p->topic = strdup(topic);
    if (!p->topic)
        return NULL;
    p->partition = partition;
    p->gen = ++o->next_gen;
    o->n++;
    return p;
}

void offsets_untrack(offsets *o, const char *topic, int32_t partition)
{
    offsets_part *p = offsets_find(o, topic, partition);
    if (!p)
        return;
    free(p->topic);
    free(p->slots);
    *p = o->parts[--o->n];
}

void offsets_untrack_all(offsets *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->parts[i].topic);
        free(o->parts[i].slots);
    }
    o->n = 0;
}

size_t offsets_count(const offsets *o)
{
    return o->n;
}

/* Index of the first slot with offset >= off. */
static size_t offsets_lower_bound(const offsets_part *p, int64_t off)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->slots[mid].offset < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int offsets_add(offsets_part *p, int64_t off)
{
    size_t at;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : OFFSETS_SLOTS_INIT;
        offsets_slot *ns = realloc(p->slots, cap * sizeof(*ns));
        if (!ns)
            return -1;
        p->slots = ns;
        p->cap = cap;
    }
    /* Offsets normally arrive ascending: append. A replay after a seek or
     * offset reset lands in order too. */
    at = (p->n == 0 || p->slots[p->n - 1].offset < off) ? p->n : offsets_lower_bound(p, off);
    mem_assert(at <= p->n && p->n < p->cap);
    memmove(&p->slots[at + 1], &p->slots[at], (p->n - at) * sizeof(*p->slots));
    p->slots[at].offset = off;
    p->slots[at].done = 0;
    p->n++;
    return 0;
}

int64_t offsets_finish(offsets_part *p, int64_t off)
{
    size_t i = offsets_lower_bound(p, off), k = 0;
    int64_t last = -1;

    while (i < p->n && p->slots[i].offset == off && p->slots[i].done)
        i++;
    if (i >= p->n || p->slots[i].offset != off)
        return -1;
    p->slots[i].done = 1;
    while (k < p->n && p->slots[k].done)
        last = p->slots[k++].offset;
    if (k == 0)
        return -1;
    mem_assert(k <= p->n);
    memmove(p->slots, &p->slots[k], (p->n - k) * sizeof(*p->slots));
    p->n -= k;
    return last + 1;
}
