/* lsap.h - the linear sum assignment problem: rows to distinct columns at
 * least total cost (the Hungarian method with potentials, shortest
 * augmenting paths, O(n^2 m)). Pure and deterministic: equal inputs give
 * equal outputs. Used by the batch policy to match couriers to bundles. */
#ifndef RXD_LSAP_H
#define RXD_LSAP_H

#include <stddef.h>

/* A cost at or above this marks a pair that must not be chosen; the caller
 * keeps a finite way out for every row (a dummy column) so it never is. */
#define LSAP_FORBIDDEN 1e12

/* cost is n rows by m columns, row-major, n <= m. Writes each row's column
 * to col_of_row. Returns 0, or -1 when n > m. */
int lsap_solve(size_t n, size_t m, const double *cost, size_t *col_of_row);

#endif
