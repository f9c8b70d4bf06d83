/* rerr.c - which Redis failures a retry can fix (see rerr.h). */
#include "rerr.h"

#include <string.h>

/* Error reply prefixes of conditions that pass: the server is busy,
 * loading, out of memory or failing over, or the script cache was flushed
 * (store.c resends as EVAL once; a second NOSCRIPT is a race with another
 * flush). Everything else (WRONGTYPE, ERR from a script, unknown command)
 * says the data or the code is wrong, and will say so again. */
static const char *const rerr_transient[] = {
    "OOM",
    "BUSY",
    "LOADING",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "READONLY",
    "NOREPLICAS",
    "MOVED",
    "ASK",
    "NOSCRIPT",
    "NOAUTH",
    "ERR max number of clients",
};

rerr_kind rerr_classify(const char *transport, const char *reply_error)
{
    if (transport)
        return RERR_RETRY;
    if (!reply_error)
        return RERR_FATAL;
    for (size_t i = 0; i < sizeof(rerr_transient) / sizeof(rerr_transient[0]); i++) {
        size_t n = strlen(rerr_transient[i]);
        if (strncmp(reply_error, rerr_transient[i], n) == 0 &&
            (reply_error[n] == ' ' || reply_error[n] == '\0'))
            return RERR_RETRY;
    }
    return RERR_FATAL;
}

const char *rerr_kind_name(rerr_kind kind)
{
    return kind == RERR_RETRY ? "retry" : "fatal";
}
