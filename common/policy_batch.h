/* policy_batch.h - the batch matching round (POLICY_BATCH, see policy.h and
 * docs/dispatch.md). Private to policy.c, which selects the kind. */
#ifndef RXD_POLICY_BATCH_H
#define RXD_POLICY_BATCH_H

#include "policy.h"

/* As policy_match for POLICY_BATCH. */
int policy_batch_match(const policy_params *p, const policy_order *o, size_t no,
                       const policy_courier *c, size_t nc, policy_assignment *out);

#endif
