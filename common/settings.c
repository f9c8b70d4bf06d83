/* settings.c - the RXD_* names rxdispatch knows (see settings.h). */
#include "settings.h"

#include <stdio.h>
#include <string.h>

/* Every exact name a service, tool or script reads; sorted by area as in
 * docs/configuration.md. */
const char *const settings_names[] = {
    /* every service */
    "RXD_KAFKA_BROKERS", "RXD_REDIS_URL", "RXD_REDIS_PASSWORD", "RXD_REDIS_PASSWORD_FILE",
    "RXD_REDIS_TIMEOUT_MS", "RXD_REDIS_REGIONS", "RXD_REGION", "RXD_REGION_BOXES", "RXD_ADMIN_ADDR",
    "RXD_ADMIN_PORT", "RXD_LOG_LEVEL", "RXD_SHUTDOWN_TIMEOUT_MS", "RXD_CONSUMER_MAX_INFLIGHT",
    "RXD_TOPIC_APPROVED", "RXD_TOPIC_CANCELLED", "RXD_TOPIC_EVENTS", "RXD_TOPIC_NOTIFY",
    "RXD_TOPIC_DEADLETTER", "RXD_TOPIC_CLOSED", "RXD_TOKEN_SECRET", "RXD_ORDER_RETENTION_S",
    "RXD_RX_DEDUPE_TTL_S",
    /* gateways */
    "RXD_HTTP_ADDR", "RXD_HTTP_PORT", "RXD_HTTP_TIMEOUT_S", "RXD_BODY_LIMIT", "RXD_HEADER_LIMIT",
    "RXD_RATE_REQUESTS_PER_S", "RXD_RATE_REQUESTS_BURST", "RXD_RATE_POSITIONS_PER_S",
    "RXD_RATE_POSITIONS_BURST", "RXD_LONGPOLL_PER_HOLDER", "RXD_LONGPOLL_MAX",
    "RXD_HANDOVER_MAX_WRONG", "RXD_PICKUP_PROOF", "RXD_PICKUP_RADIUS_M",
    "RXD_PICKUP_POSITION_MAX_AGE_S", "RXD_POSITION_FUTURE_MS", "RXD_CORS_ORIGINS",
    /* web */
    "RXD_WEB_ROOT", "RXD_WEB_TZ", "RXD_WEB_PHARMACY_API", "RXD_WEB_COURIER_API",
    "RXD_WEB_OPERATOR_API", "RXD_WEB_TILES", "RXD_WEB_TILES_CRS", "RXD_WEB_URL", "RXD_WEB",
    /* rx-router */
    "RXD_RADII_M", "RXD_OFFER_DEADLINE_MS", "RXD_MAX_ATTEMPTS", "RXD_ROUTE_LEASE_MS",
    "RXD_CANDIDATES_MAX", "RXD_ROUTER_GROUP",
    /* dispatcher */
    "RXD_DISPATCH_POLICY", "RXD_DISPATCH_WINDOW_MS", "RXD_DISPATCH_GATHER_MS",
    "RXD_COURIER_SPEED_M_PER_MIN", "RXD_DISPATCH_MAX_BUNDLE", "RXD_COURIER_RADIUS_M",
    "RXD_COURIER_DEADLINE_MS", "RXD_POSITION_STALE_MS", "RXD_COURIER_MAX_MISSES",
    "RXD_DISPATCH_LEASE_MS", "RXD_COURIER_DUE_LEASE_MS", "RXD_COURIER_CANDIDATES_MAX",
    "RXD_DISPATCHER_GROUP", "RXD_DEADLINE_PACK_S", "RXD_DEADLINE_PACK_REMIND_S",
    "RXD_DEADLINE_COLLECT_S", "RXD_DEADLINE_PICKUP_S", "RXD_DEADLINE_DELIVER_S",
    "RXD_DEADLINE_RETURN_S", "RXD_HOLD_MAX_S", "RXD_COURIER_STALE_S",
    /* rx-archive */
    "RXD_ARCHIVE_PG", "RXD_ARCHIVE_PG_PASSWORD_FILE", "RXD_ARCHIVE_GROUP",
    /* development: scripts/stack, devbroker, the test runs */
    "RXD_BUILD_DIR", "RXD_KEEP_STACK", "RXD_DEVBROKER_PARTITIONS", "RXD_DEVBROKER_CONTROL",
    "RXD_DEVBROKER_SKIP_TOPICS", NULL};

/* Prefixes: librdkafka's properties, and the namespaces of the development
 * tools, which write or read their own names (RXD_ADMIN_<INSTANCE> and
 * RXD_PHARMACY_API_<N> come from scripts/stack's env file). */
const char *const settings_families[] = {
    "RXD_KAFKA_", "RXD_STACK_",       "RXD_CLUSTER_",    "RXD_PODMAN_",      "RXD_TEST_",
    "RXD_ADMIN_", "RXD_PHARMACY_API", "RXD_COURIER_API", "RXD_OPERATOR_API", NULL};

int settings_known(const char *name)
{
    for (const char *const *n = settings_names; *n; n++)
        if (strcmp(*n, name) == 0)
            return 1;
    for (const char *const *f = settings_families; *f; f++)
        if (strncmp(*f, name, strlen(*f)) == 0)
            return 1;
    return 0;
}

/* Edit distance, capped: names are short and only near misses matter. */
static size_t settings_distance(const char *a, const char *b)
{
    enum { MAXLEN = 64 };
    size_t la = strlen(a), lb = strlen(b), row[MAXLEN + 1];
    if (la > MAXLEN || lb > MAXLEN)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *settings_nearest(const char *name)
{
    const char *best = NULL;
    size_t best_d = 4; /* more than three edits away is not a typo */
    for (const char *const *n = settings_names; *n; n++) {
        size_t d = settings_distance(name, *n);
        if (d < best_d) {
            best_d = d;
            best = *n;
        }
    }
    return best;
}

int settings_check_env(char *const *env, char *err, size_t errlen)
{
    for (char *const *e = env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char name[128];
        if (strncmp(*e, "RXD_", 4) != 0 || !eq || (size_t)(eq - *e) >= sizeof(name))
            continue;
        snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
        if (settings_known(name))
            continue;
        const char *near = settings_nearest(name);
        snprintf(err, errlen,
                 "%s is not a setting of rxdispatch%s%s%s; remove it or see "
                 "docs/configuration.md",
                 name, near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
        return -1;
    }
    return 0;
}
