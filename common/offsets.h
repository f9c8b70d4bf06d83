/* offsets.h - which offset of a Kafka partition may be committed.
 *
 * Messages of a partition are handed out in offset order and finish in any
 * order; the offset to store is one past the highest of the finished prefix,
 * so nothing unfinished is ever committed past. Offsets need not be
 * consecutive (compaction, transaction markers). One offset may be in
 * flight twice (a replay after a seek): the first copy to finish counts as
 * the message processed, the other's finish is still accepted.
 *
 * Pure: no librdkafka types and no I/O, so it is unit-tested alone. */
#ifndef RXD_OFFSETS_H
#define RXD_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

typedef struct offsets_slot {
    int64_t offset;
    int done;
} offsets_slot;

/* One assigned partition: its in-flight offsets, sorted. gen tells a message
 * handed out under this assignment from one handed out under an earlier one. */
typedef struct offsets_part {
    char *topic;
    int32_t partition;
    uint64_t gen;
    offsets_slot *slots;
    size_t n, cap;
} offsets_part;

/* The set of partitions of one consumer. */
typedef struct offsets offsets;

offsets *offsets_new(void);
void offsets_free(offsets *o);

/* NULL when the partition is not tracked. */
offsets_part *offsets_find(offsets *o, const char *topic, int32_t partition);
/* The tracked partition, tracked now (with a new gen) if it was not; NULL
 * when out of memory. The pointer is valid until the next track/untrack. */
offsets_part *offsets_track(offsets *o, const char *topic, int32_t partition);
void offsets_untrack(offsets *o, const char *topic, int32_t partition);
void offsets_untrack_all(offsets *o);
size_t offsets_count(const offsets *o);

/* Records off as handed out; -1 when out of memory (nothing recorded). */
int offsets_add(offsets_part *p, int64_t off);
/* Marks one unfinished copy of off done; returns the offset to store (the
 * highest of the finished prefix, plus one), or -1 when the prefix did not
 * move or off was not in flight. */
int64_t offsets_finish(offsets_part *p, int64_t off);

#endif
