/* service.h - what every rxdispatch process has: one event loop, its
 * configuration, Redis and the state machine, optionally a Kafka producer
 * with the outbox relay, the admin port, and graceful shutdown.
 *
 * Shutdown on SIGTERM/SIGINT: the service's stop hook stops intake; the loop
 * keeps running until the busy hook reports no work in flight and no message
 * waits for its events' acknowledgement, then until the relay has no
 * unacknowledged entries (or until RXD_SHUTDOWN_TIMEOUT_MS passes); then the
 * loop ends and the caller closes its consumer (kafka_consumer_close: bounded
 * by KAFKA_CLOSE_TIMEOUT_MS), then service_free flushes the producer for at
 * most SERVICE_FLUSH_MS. Work still in flight then is dropped, its offsets
 * not stored, so it is consumed again after the restart. The whole exit
 * takes at most RXD_SHUTDOWN_TIMEOUT_MS + SERVICE_EXIT_BOUND_MS
 * (docs/operations.md, "Shutdown"). */
#ifndef RXD_SERVICE_H
#define RXD_SERVICE_H

#include <event2/event.h>

#include "config.h"
#include "http.h"
#include "kafka.h"
#include "metrics.h"
#include "orders.h"
#include "outbox.h"
#include "store.h"

/* SERVICE_PRODUCER: a Kafka producer whose state is reported (metric
 * rxd_kafka_up, a log line on change) but is no part of readiness: the
 * gateways, whose work needs Redis only. SERVICE_RELAY: a producer with the
 * outbox relay; Kafka (broker, topics, produce health) is part of readiness. */
enum { SERVICE_PRODUCER = 1, SERVICE_RELAY = 2 };

/* After the drain: the last flush of the producer, then the purge of what
 * is left (KAFKA_PURGE_SERVE_MS). */
#define SERVICE_FLUSH_MS 1000
/* What the exit may take beyond RXD_SHUTDOWN_TIMEOUT_MS: the drain timer's
 * tick, the consumer's close, the flush and purge, and the handles'
 * destruction (well under a second with a healthy broker). A watchdog
 * started by the signal ends the process SERVICE_FORCE_MARGIN_MS before
 * that if it is still running (log event shutdown_forced). */
#define SERVICE_EXIT_BOUND_MS 6000
#define SERVICE_FORCE_MARGIN_MS 500

/* Exit codes (docs/operations.md): 0 after a graceful shutdown, 1 when the
 * admin port cannot listen, 2 for bad configuration, 3 after a fatal Kafka
 * client error (the supervisor restarts the process; work in flight is
 * consumed again, no offset was stored for it). */
enum {
    SERVICE_EXIT_OK = 0,
    SERVICE_EXIT_LISTEN = 1,
    SERVICE_EXIT_CONFIG = 2,
    SERVICE_EXIT_KAFKA_FATAL = 3
};

typedef struct service service;
typedef void service_stop_fn(service *svc, void *ctx);
typedef int service_busy_fn(service *svc, void *ctx);
typedef int service_ready_fn(service *svc, void *ctx, const char **why);

struct service {
    const char *name;
    struct event_base *base;
    config *cfg;
    metrics *metrics;
    store *store;
    orders *orders;
    kafka_producer *producer;   /* with SERVICE_PRODUCER */
    outbox_relay *relay;        /* with SERVICE_RELAY */
    struct stategauges *gauges; /* with SERVICE_RELAY */
    outbox_acks *acks;          /* with SERVICE_RELAY: see service_msg_done */
    struct topic_check *topics; /* with SERVICE_RELAY: see service_require_topics */
    const char *topic_names[16];
    size_t ntopics;
    int kafka_in_readiness;
    int kafka_was_up; /* last state logged: -1 unknown */
    int topics_were_ok;
    int exit_code;
    struct event *fatal_ev, *status_timer;
    char fatal_client[64], fatal_error[64], fatal_reason[512];
    char topics_logged[256];
    char ready_why[320];
    metric *m_kafka_up;
    http_admin *admin;
    int admin_port;
    char instance[96];
    long long redis_timeout_ms;
    long long shutdown_timeout_ms;
    int stopping;
    int closed; /* the loop has ended: work still in flight is dropped */
    struct event *sig_term, *sig_int, *drain_timer;
    long long stop_started_ms;
    service_stop_fn *on_stop;
    service_busy_fn *busy;
    service_ready_fn *ready;
    void *hook_ctx;
};

/* Reads the common settings (KAFKA_BROKERS, REDIS_URL, ADMIN_PORT,
 * LOG_LEVEL, REGION, REDIS_TIMEOUT_MS, SHUTDOWN_TIMEOUT_MS, topic names)
 * and builds the parts named by flags. NULL with a message in err. */
/* The event loop every service runs on (epoll with a change list). */
struct event_base *service_base_new(void);

service *service_new(const char *name, int argc, char **argv, int flags, char *err, size_t errlen);
void service_set_hooks(service *svc, service_stop_fn *stop, service_busy_fn *busy,
                       service_ready_fn *ready, void *ctx);
/* Starts the admin port (after the hooks are set) and runs the loop until
 * shutdown completes. Returns the process exit code. */
int service_run(service *svc);
void service_free(service *svc);

/* Finishes a consumed message whose effects are written: its offset is
 * stored once the events those writes put in the outbox are acknowledged by
 * Kafka (SPEC section 7). Needs SERVICE_RELAY. */
void service_msg_done(service *svc, kafka_consumer *kc, kafka_msg *msg);
/* Same as service_msg_done without the wait, for a message whose effects
 * are already durable (its dead letter acknowledged); after the loop has
 * ended both drop the message instead (kafka_consumer_drop). */
void service_msg_finish(service *svc, kafka_consumer *kc, kafka_msg *msg);
/* A fatal error of kc's client ends the process as a producer's does
 * (exit code SERVICE_EXIT_KAFKA_FATAL). */
void service_watch_consumer(service *svc, kafka_consumer *kc);

/* Adds topics the service consumes or produces (besides the relay's, which
 * are added by SERVICE_RELAY) to the start-up check: until each exists the
 * service reports not ready and asks again (see topic_check.h). Call before
 * service_run. */
void service_require_topics(service *svc, const char *const *topics);

/* Topic names (RXD_TOPIC_APPROVED etc., defaults of SPEC section 2). */
const char *service_topic(const service *svc, const char *which);
/* Milliseconds since the epoch. */
long long service_now_ms(void);
/* Reads an integer setting or exits with the message (start-up only). */
long long service_int(service *svc, const char *name, long long def);

#endif
