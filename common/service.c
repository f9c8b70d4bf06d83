/* service.c - process skeleton shared by every service (see service.h). */
#include "service.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "settings.h"
#include "stategauges.h"
#include "topic_check.h"
#include "mem.h"

extern char **environ;

long long service_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

long long service_int(service *svc, const char *name, long long def)
{
    char err[256];
    long long v;
    if (config_int(svc->cfg, name, def, &v, err, sizeof(err))) {
        log_event(LOG_ERROR, "bad_config", "{s:s}", "error", err);
        fprintf(stderr, "%s: %s\n", svc->name, err);
        exit(2);
    }
    return v;
}

const char *service_topic(const service *svc, const char *which)
{
    static const char *defaults[][2] = {
        {"APPROVED", "rx.approved"}, {"CANCELLED", "rx.cancelled"},
        {"EVENTS", "order.events"},  {"NOTIFY", "patient.notify"},
        {"CLOSED", "order.closed"},  {"DEADLETTER", "rx.deadletter"}};
    char name[64];
    snprintf(name, sizeof(name), "TOPIC_%s", which);
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (strcmp(defaults[i][0], which) == 0)
            return config_str(svc->cfg, name, defaults[i][1]);
    return config_str(svc->cfg, name, which);
}

/* The region's data lifecycle (common/lua/lifecycle.lua): how long a closed
 * order's record stays, and the rx: dedupe key, which must outlive it and
 * every replay window of the input topics. */
/* The state and queue gauges: fresh enough for an alert's 5-minute window. */
#define SERVICE_GAUGES_MS 5000
#define SERVICE_ORDER_RETENTION_S (72LL * 3600)
#define SERVICE_RX_DEDUPE_TTL_S (45LL * 86400)

static void service_lifecycle_read(service *svc, long long *retention_s, long long *rx_ttl_s)
{
    *retention_s = service_int(svc, "ORDER_RETENTION_S", SERVICE_ORDER_RETENTION_S);
    *rx_ttl_s = service_int(svc, "RX_DEDUPE_TTL_S", SERVICE_RX_DEDUPE_TTL_S);
    if (*retention_s < 1 || *rx_ttl_s <= *retention_s) {
        log_event(LOG_ERROR, "bad_config", "{s:s}", "error",
                  "RXD_RX_DEDUPE_TTL_S must be above RXD_ORDER_RETENTION_S, which must be >= 1");
        fprintf(stderr,
                "%s: RXD_RX_DEDUPE_TTL_S (%lld) must be above RXD_ORDER_RETENTION_S "
                "(%lld), which must be at least 1 (docs/configuration.md)\n",
                svc->name, *rx_ttl_s, *retention_s);
        exit(2);
    }
}

static void service_on_lifecycle_stored(void *ctx, const orders_result *res)
{
    (void)ctx;
    const char *why = res->err                                              ? res->err
                      : res->reply && res->reply->type == REDIS_REPLY_ERROR ? res->reply->str
                                                                            : res->word;
    if (res->status != ORDERS_OK)
        log_event(LOG_WARN, "lifecycle_settings_not_stored", "{s:s, s:s}", "error",
                  why && *why ? why : "no reply", "hint",
                  "until a service stores them the library uses its defaults (72 h, 45 days); "
                  "they are stored again on the next connect");
}

/* On every connect (a Redis restored or failed over gets them again). */
static void service_on_store_state(store *st, int connected, void *arg)
{
    (void)st;
    service *svc = arg;
    long long retention_s, rx_ttl_s;
    if (!connected)
        return;
    service_lifecycle_read(svc, &retention_s, &rx_ttl_s);
    orders_lifecycle_set(svc->orders, retention_s * 1000, rx_ttl_s * 1000,
                         service_on_lifecycle_stored, svc);
}

static void service_on_acked(void *arg)
{
    kafka_msg_done(arg);
}

void service_msg_done(service *svc, kafka_consumer *kc, kafka_msg *msg)
{
    if (svc->closed)
        kafka_consumer_drop(kc, msg);
    else
        outbox_acks_wait(svc->acks, service_on_acked, msg);
}

void service_msg_finish(service *svc, kafka_consumer *kc, kafka_msg *msg)
{
    if (svc->closed)
        kafka_consumer_drop(kc, msg);
    else
        kafka_consumer_done(kc, msg);
}

/* Two phases: first the work in flight (and its acknowledgements, which
 * need this relay if it holds the lease), then the relay itself. */
static void service_on_drain_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    service *svc = arg;
    int busy = (svc->busy ? svc->busy(svc, svc->hook_ctx) : 0) + outbox_acks_pending(svc->acks);
    long long waited = service_now_ms() - svc->stop_started_ms;
    if (busy == 0 && svc->relay)
        outbox_relay_stop(svc->relay);
    int relay = svc->relay ? outbox_relay_inflight(svc->relay) : 0;
    int producing = svc->producer ? kafka_producer_outstanding(svc->producer) : 0;
    if ((busy == 0 && relay == 0 && producing == 0) || waited > svc->shutdown_timeout_ms) {
        log_event(LOG_INFO, "shutdown_drained", "{s:i, s:i, s:i, s:I}", "in_flight", busy,
                  "relay_in_flight", relay, "producing", producing, "waited_ms",
                  (json_int_t)waited);
        event_base_loopexit(svc->base, NULL);
    }
}

/* The last resort of a bounded shutdown: librdkafka's handle destruction
 * waits for requests to a broker that stopped answering (measured: about 7 s
 * after its last answer, whatever the settings), so a thread ends the process
 * if the exit has not happened by then. Safe as a SIGKILL is: nothing
 * unfinished was committed (docs/operations.md, "Shutdown"). The deadline
 * travels in the pointer, so the thread reads nothing the main thread frees. */
static void *service_watchdog(void *arg)
{
    long long ms = (long long)(intptr_t)arg;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    log_event(LOG_WARN, "shutdown_forced", "{s:I, s:s}", "after_ms", (json_int_t)ms, "hint",
              "the Kafka or Redis client did not close in time; unfinished work was not "
              "committed and is consumed again after the restart");
    _exit(SERVICE_EXIT_OK);
}

static void service_watchdog_start(service *svc)
{
    pthread_t t;
    long long ms = svc->shutdown_timeout_ms + SERVICE_EXIT_BOUND_MS - SERVICE_FORCE_MARGIN_MS;
    if (pthread_create(&t, NULL, service_watchdog, (void *)(intptr_t)ms) != 0) {
        log_event(LOG_WARN, "shutdown_watchdog_failed", "{s:s}", "hint",
                  "no thread for the shutdown deadline; the exit may take longer");
        return;
    }
    pthread_detach(t);
}

static void service_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    service *svc = arg;
    if (svc->stopping)
        return;
    svc->stopping = 1;
    svc->stop_started_ms = service_now_ms();
    log_event(LOG_INFO, "shutdown_started", "{s:i}", "signal", (int)sig);
    service_watchdog_start(svc);
    if (svc->on_stop)
        svc->on_stop(svc, svc->hook_ctx);
    struct timeval tv = {0, 50000};
    svc->drain_timer = event_new(svc->base, -1, EV_PERSIST, service_on_drain_timer, svc);
    event_add(svc->drain_timer, &tv);
}

/* Kafka as the relaying services see it: the broker, their topics, and
 * whether the relay's produces go through. */
static int service_kafka_ready(service *svc, const char **why)
{
    if (!kafka_producer_ready(svc->producer)) {
        *why = "kafka not reachable";
        return 0;
    }
    if (svc->topics && !topic_check_ok(svc->topics, svc->ready_why, sizeof(svc->ready_why))) {
        *why = svc->ready_why;
        return 0;
    }
    if (svc->relay && outbox_relay_failing(svc->relay, svc->ready_why, sizeof(svc->ready_why))) {
        *why = svc->ready_why;
        return 0;
    }
    return 1;
}

/* A gateway's readiness is Redis only: the state machine lives there and
 * its events wait in the outbox while Kafka is away, so a Kafka outage must
 * not take the HTTP APIs out of the load balancer. */
static int service_admin_ready(void *ctx, const char **why)
{
    service *svc = ctx;
    if (svc->stopping) {
        *why = "shutting down";
        return 0;
    }
    if (!store_connected(svc->store)) {
        *why = store_why(svc->store); /* e.g. an authentication failure, said as such */
        return 0;
    }
    if (svc->kafka_in_readiness && !service_kafka_ready(svc, why))
        return 0;
    if (svc->ready)
        return svc->ready(svc, svc->hook_ctx, why);
    return 1;
}

/* Called by librdkafka's error callback, which our poll calls serve on the
 * loop thread; the exit itself happens from the loop, outside librdkafka. */
static void service_on_kafka_fatal(const char *client, const char *error, const char *reason,
                                   void *ctx)
{
    service *svc = ctx;
    snprintf(svc->fatal_client, sizeof(svc->fatal_client), "%s", client);
    snprintf(svc->fatal_error, sizeof(svc->fatal_error), "%s", error);
    snprintf(svc->fatal_reason, sizeof(svc->fatal_reason), "%s", reason);
    event_active(svc->fatal_ev, EV_TIMEOUT, 0);
}

void service_watch_consumer(service *svc, kafka_consumer *kc)
{
    kafka_consumer_set_fatal_handler(kc, service_on_kafka_fatal, svc);
    kafka_consumer_set_metrics(kc, svc->metrics);
}

/* No drain: the client cannot deliver what is in flight. Offsets of that
 * work are not stored (its fatal state), so it is consumed again after the
 * supervisor's restart. */
static void service_on_fatal_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    service *svc = arg;
    log_event(LOG_ERROR, "kafka_fatal_exit", "{s:s, s:s, s:s, s:i, s:s}", "client",
              svc->fatal_client, "error", svc->fatal_error, "reason", svc->fatal_reason,
              "exit_code", SERVICE_EXIT_KAFKA_FATAL, "hint",
              "the Kafka client cannot continue; exiting for the supervisor to restart the "
              "service; unfinished work is consumed again");
    svc->exit_code = SERVICE_EXIT_KAFKA_FATAL;
    svc->stopping = 1;
    event_base_loopbreak(svc->base);
}

static void service_log_kafka_state(service *svc)
{
    int up = kafka_producer_ready(svc->producer);
    metric_set(svc->m_kafka_up, up);
    if (up == svc->kafka_was_up)
        return;
    svc->kafka_was_up = up;
    log_event(up ? LOG_INFO : LOG_WARN, "kafka_reachability", "{s:b, s:s}", "reachable", up,
              "readiness",
              svc->kafka_in_readiness ? "not ready while kafka is unreachable"
                                      : "unaffected: this service needs Redis only; events wait "
                                        "in the Redis outbox");
}

static void service_log_topics_state(service *svc)
{
    char why[256] = "";
    int ok = topic_check_ok(svc->topics, why, sizeof(why));
    if (ok && svc->topics_were_ok != 1)
        log_event(LOG_INFO, "kafka_topics_present", "{s:i}", "topics", (int)svc->ntopics);
    else if (!ok && strncmp(why, "topic ", 6) == 0 && strcmp(why, svc->topics_logged) != 0)
        log_event(LOG_ERROR, "kafka_topic_missing", "{s:s, s:s}", "error", why, "hint",
                  "the service stays not ready and checks again every 2 s");
    svc->topics_were_ok = ok;
    snprintf(svc->topics_logged, sizeof(svc->topics_logged), "%s", ok ? "" : why);
}

static void service_on_status_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    service *svc = arg;
    if (svc->producer)
        service_log_kafka_state(svc);
    if (svc->topics)
        service_log_topics_state(svc);
}

void service_require_topics(service *svc, const char *const *topics)
{
    for (size_t i = 0; topics[i]; i++) {
        int dup = 0;
        for (size_t k = 0; k < svc->ntopics; k++)
            dup |= strcmp(svc->topic_names[k], topics[i]) == 0;
        /* one slot stays free for the NULL that ends the list */
        if (!dup && svc->ntopics + 1 < sizeof(svc->topic_names) / sizeof(svc->topic_names[0]))
            svc->topic_names[svc->ntopics++] = topics[i];
    }
}

static int service_build_kafka(service *svc, int flags, char *err, size_t errlen)
{
    if (!(flags & (SERVICE_PRODUCER | SERVICE_RELAY)))
        return 0;
    svc->producer = kafka_producer_new(svc->base, svc->cfg, err, errlen);
    if (!svc->producer)
        return -1;
    svc->m_kafka_up =
        metrics_gauge(svc->metrics, "kafka_up", NULL, "1 while the Kafka producer sees a broker");
    kafka_producer_set_fatal_handler(svc->producer, service_on_kafka_fatal, svc);
    kafka_producer_set_metrics(svc->producer, svc->metrics);
    if (!(flags & SERVICE_RELAY))
        return 0;
    svc->kafka_in_readiness = 1;
    const char *relay_topics[] = {service_topic(svc, "EVENTS"), service_topic(svc, "NOTIFY"),
                                  service_topic(svc, "CLOSED"), NULL};
    service_require_topics(svc, relay_topics);
    outbox_config oc = {
        .redis_url = config_str(svc->cfg, "REDIS_URL", "redis://127.0.0.1:6379"),
        .redis_timeout_ms = (int)svc->redis_timeout_ms,
        .prefix = orders_prefix(svc->orders),
        .events_topic = service_topic(svc, "EVENTS"),
        .notify_topic = service_topic(svc, "NOTIFY"),
        .closed_topic = service_topic(svc, "CLOSED"),
        .instance = svc->instance,
    };
    svc->relay = outbox_relay_new(svc->base, &oc, svc->producer, svc->metrics, err, errlen);
    if (!svc->relay)
        return -1;
    svc->gauges = stategauges_new(svc->base, svc->orders, svc->metrics, SERVICE_GAUGES_MS);
    if (!svc->gauges) {
        snprintf(err, errlen, "cannot start the state gauges' timer");
        return -1;
    }
    svc->acks = outbox_acks_new(svc->base, svc->store, orders_prefix(svc->orders));
    if (!svc->acks) {
        snprintf(err, errlen, "out of memory for the outbox acknowledgements");
        return -1;
    }
    return 0;
}

/* epoll with a change list: the interest changes of one loop pass (evhttp
 * adds and removes write interest around every reply) go to the kernel
 * once at the next epoll_wait instead of one epoll_ctl each; a gateway
 * under load spent an eighth of its time in epoll_ctl. */
struct event_base *service_base_new(void)
{
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

service *service_new(const char *name, int argc, char **argv, int flags, char *err, size_t errlen)
{
    mem_init(); /* first: libevent takes its allocators only before its first call */
    service *svc = xcalloc(1, sizeof(*svc));
    svc->name = name;
    svc->cfg = config_new(argc, argv, err, errlen);
    if (!svc->cfg) {
        free(svc);
        return NULL;
    }
    if (settings_check_env(environ, err, errlen) != 0) {
        config_free(svc->cfg);
        free(svc);
        return NULL;
    }
    log_set_region(config_str(svc->cfg, "REGION", "default"));
    if (log_init(name, config_str(svc->cfg, "LOG_LEVEL", "info")))
        log_event(LOG_WARN, "bad_config", "{s:s}", "error",
                  "RXD_LOG_LEVEL must be debug, info, warn or error; using info");
    /* The instance id holds leases (the outbox relay's): containers on one
     * host network share the host name and are all pid 1, so a random part
     * keeps two instances from ever taking each other's lease for their own. */
    char host[64] = "host";
    unsigned char nonce[4] = {0};
    gethostname(host, sizeof(host) - 1);
    if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
        snprintf(err, errlen, "no entropy for the instance id (RAND_bytes failed)");
        config_free(svc->cfg);
        free(svc);
        return NULL;
    }
    snprintf(svc->instance, sizeof(svc->instance), "%s:%s:%d:%02x%02x%02x%02x", name, host,
             (int)getpid(), nonce[0], nonce[1], nonce[2], nonce[3]);
    svc->redis_timeout_ms = service_int(svc, "REDIS_TIMEOUT_MS", 2000);
    svc->shutdown_timeout_ms = service_int(svc, "SHUTDOWN_TIMEOUT_MS", 10000);
    svc->admin_port = (int)service_int(svc, "ADMIN_PORT", 0);
    svc->base = service_base_new();
    svc->topics_were_ok = -1;
    svc->fatal_ev = event_new(svc->base, -1, 0, service_on_fatal_event, svc);
    svc->status_timer = event_new(svc->base, -1, EV_PERSIST, service_on_status_timer, svc);
    struct timeval status_tv = {1, 0};
    event_add(svc->status_timer, &status_tv);
    svc->metrics = metrics_new("rxd");
    svc->store = store_new(svc->base, config_str(svc->cfg, "REDIS_URL", "redis://127.0.0.1:6379"),
                           (int)svc->redis_timeout_ms, err, errlen);
    if (svc->store)
        store_set_metrics(svc->store, svc->metrics, "main");
    if (svc->store)
        svc->orders =
            orders_new(svc->store, config_str(svc->cfg, "REGION", "default"), err, errlen);
    if (svc->orders) {
        long long retention_s, rx_ttl_s;
        service_lifecycle_read(svc, &retention_s, &rx_ttl_s); /* a bad pair stops here */
        store_on_state(svc->store, service_on_store_state, svc);
    }
    if (!svc->orders || service_build_kafka(svc, flags, err, errlen)) {
        service_free(svc);
        return NULL;
    }
    svc->sig_term = evsignal_new(svc->base, SIGTERM, service_on_signal, svc);
    svc->sig_int = evsignal_new(svc->base, SIGINT, service_on_signal, svc);
    event_add(svc->sig_term, NULL);
    event_add(svc->sig_int, NULL);
    signal(SIGPIPE, SIG_IGN);
    return svc;
}

void service_set_hooks(service *svc, service_stop_fn *stop, service_busy_fn *busy,
                       service_ready_fn *ready, void *ctx)
{
    svc->on_stop = stop;
    svc->busy = busy;
    svc->ready = ready;
    svc->hook_ctx = ctx;
}

int service_run(service *svc)
{
    char err[256];
    int bound = 0;
    /* loopback by default: the admin port has no authentication; a
     * container sets RXD_ADMIN_ADDR=0.0.0.0 for its probes */
    svc->admin =
        http_admin_new(svc->base, config_str(svc->cfg, "ADMIN_ADDR", "127.0.0.1"), svc->admin_port,
                       svc->metrics, service_admin_ready, svc, &bound, err, sizeof(err));
    if (!svc->admin) {
        log_event(LOG_ERROR, "admin_listen_failed", "{s:s}", "error", err);
        return SERVICE_EXIT_LISTEN;
    }
    const char *unread = config_unread_flag(svc->cfg);
    if (unread) {
        log_event(LOG_ERROR, "unknown_flag", "{s:s}", "flag", unread);
        fprintf(stderr, "%s: unknown setting --%s (see docs/configuration.md)\n", svc->name,
                unread);
        return SERVICE_EXIT_CONFIG;
    }
    if (svc->kafka_in_readiness && svc->ntopics > 0) {
        svc->topic_names[svc->ntopics] = NULL;
        svc->topics = topic_check_start(svc->producer, svc->topic_names, svc->ntopics);
        if (!svc->topics)
            log_event(LOG_WARN, "topic_check_not_started", "{s:s}", "hint",
                      "no thread for the start-up topic check; readiness skips it");
    }
    log_event(LOG_INFO, "started", "{s:s, s:i}", "instance", svc->instance, "admin_port", bound);
    event_base_dispatch(svc->base);
    svc->closed = 1;
    log_event(LOG_INFO, "stopped", "{s:i}", "exit_code", svc->exit_code);
    return svc->exit_code;
}

void service_free(service *svc)
{
    if (!svc)
        return;
    topic_check_free(svc->topics); /* before the producer it asks through */
    /* after a fatal error nothing can be delivered: do not wait for it;
     * otherwise the drain had RXD_SHUTDOWN_TIMEOUT_MS already */
    if (svc->producer)
        kafka_producer_free(svc->producer,
                            svc->exit_code == SERVICE_EXIT_KAFKA_FATAL ? 0 : SERVICE_FLUSH_MS);
    outbox_relay_free(svc->relay);
    stategauges_free(svc->gauges); /* before the store answers its read */
    http_admin_free(svc->admin);
    if (svc->drain_timer)
        event_free(svc->drain_timer);
    if (svc->fatal_ev)
        event_free(svc->fatal_ev);
    if (svc->status_timer)
        event_free(svc->status_timer);
    if (svc->sig_term)
        event_free(svc->sig_term);
    if (svc->sig_int)
        event_free(svc->sig_int);
    orders_free(svc->orders);
    store_free(svc->store);
    outbox_acks_free(svc->acks); /* after the store: its last reply reaches it */
    metrics_free(svc->metrics);
    config_free(svc->cfg);
    if (svc->base)
        event_base_free(svc->base);
    free(svc);
}
