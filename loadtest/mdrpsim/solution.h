/* solution.h - the three solution files of a run, in the format of the
 * MDRP README (read by the published evaluator and tests/mdrp/check.py). */
#ifndef MDRP_SOLUTION_H
#define MDRP_SOLUTION_H

#include <stddef.h>

#include "sim.h"

/* Writes dir/solution_info_{assignments,orders,couriers}.txt; 0 or -1 with
 * a message in err. */
int mdrp_solution_write(const mdrp_record *rec, const char *dir, char *err, size_t errlen);

#endif
