/* fuzz_common.h - shared bits of the libFuzzer targets: the fixed clock and
 * secret (the seed tokens in corpus/fuzz_token are made with them) and a
 * check that aborts so libFuzzer records a property violation as a crash. */
#ifndef RXD_FUZZ_COMMON_H
#define RXD_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

/* 2023-11-14T22:13:20Z; never the real clock, so every run is reproducible. */
#define FUZZ_NOW_S 1700000000LL
#define FUZZ_NOW_MS (FUZZ_NOW_S * 1000LL)
#define FUZZ_SECRET "rxd-fuzz-secret-0123456789abcdef"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
