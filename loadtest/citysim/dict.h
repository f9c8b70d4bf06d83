/* dict.h - a string-keyed hash table (open addressing, linear probing).
 * Keys are copied; values are the caller's pointers. No deletion: the
 * simulation only ever learns about more orders during a run. */
#ifndef CITYSIM_DICT_H
#define CITYSIM_DICT_H

#include <stddef.h>

typedef struct dict dict;

/* val_free (may be NULL) is called for every value by dict_free. */
dict *dict_new(void (*val_free)(void *));
void dict_free(dict *d);
void *dict_get(const dict *d, const char *key);
/* Inserts or replaces (the old value is freed with val_free). -1 when out
 * of memory. */
int dict_set(dict *d, const char *key, void *val);
size_t dict_size(const dict *d);

/* Iteration: i from 0 while dict_next returns 1. */
int dict_next(const dict *d, size_t *i, const char **key, void **val);

#endif
