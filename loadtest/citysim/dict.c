/* dict.c - open addressing with FNV-1a; grows at 50% load so probes stay
 * short. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"

typedef struct dict_slot {
    char *key;
    void *val;
} dict_slot;

struct dict {
    dict_slot *slots;
    size_t cap; /* a power of two */
    size_t used;
    void (*val_free)(void *);
};

static uint64_t dict_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

dict *dict_new(void (*val_free)(void *))
{
    dict *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cap = 64;
    d->slots = calloc(d->cap, sizeof(*d->slots));
    if (!d->slots) {
        free(d);
        return NULL;
    }
    d->val_free = val_free;
    return d;
}

void dict_free(dict *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->cap; i++) {
        if (!d->slots[i].key)
            continue;
        free(d->slots[i].key);
        if (d->val_free)
            d->val_free(d->slots[i].val);
    }
    free(d->slots);
    free(d);
}

static dict_slot *dict_find(dict_slot *slots, size_t cap, const char *key)
{
    size_t i = dict_hash(key) & (cap - 1);
    while (slots[i].key && strcmp(slots[i].key, key) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

void *dict_get(const dict *d, const char *key)
{
    dict_slot *s = dict_find(d->slots, d->cap, key);
    return s->key ? s->val : NULL;
}

static int dict_grow(dict *d)
{
    size_t cap = d->cap * 2;
    dict_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t i = 0; i < d->cap; i++)
        if (d->slots[i].key)
            *dict_find(slots, cap, d->slots[i].key) = d->slots[i];
    free(d->slots);
    d->slots = slots;
    d->cap = cap;
    return 0;
}

int dict_set(dict *d, const char *key, void *val)
{
    if ((d->used + 1) * 2 > d->cap && dict_grow(d) != 0)
        return -1;
    dict_slot *s = dict_find(d->slots, d->cap, key);
    if (s->key) {
        if (d->val_free && s->val != val)
            d->val_free(s->val);
        s->val = val;
        return 0;
    }
    s->key = strdup(key);
    if (!s->key)
        return -1;
    s->val = val;
    d->used++;
    return 0;
}

size_t dict_size(const dict *d)
{
    return d->used;
}

int dict_next(const dict *d, size_t *i, const char **key, void **val)
{
    for (; *i < d->cap; (*i)++) {
        if (!d->slots[*i].key)
            continue;
        *key = d->slots[*i].key;
        *val = d->slots[*i].val;
        (*i)++;
        return 1;
    }
    return 0;
}
