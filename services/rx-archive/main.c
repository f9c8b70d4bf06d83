/* rx-archive: the reference archive consumer (docs/operations.md, "The
 * archive"). Consumes order.closed in its own group and writes every
 * OrderClosed as one row of orders_closed in PostgreSQL (archive.c); a
 * message's offset is stored only once its row is committed or was there
 * already, so a redelivery makes no second row. A message that is not an
 * OrderClosed, or whose row PostgreSQL refuses as data, goes to the dead
 * letter topic and the partition moves on.
 *
 * Not worker_main: that is the life of a process around Redis (the state
 * machine, the outbox relay and its lease, Redis in readiness), none of
 * which this service touches; it needs the consumer, a producer for dead
 * letters, PostgreSQL and the admin port only.
 *
 * Messages are written in order, one blocking call each on the loop (fine
 * at a few closed orders a second; each call is bounded by
 * ARCHIVE_PG_TIMEOUT_S). While PostgreSQL is away the head message is
 * retried with backoff and the rest wait behind it, bounded by
 * RXD_CONSUMER_MAX_INFLIGHT (the consumer stops fetching beyond it). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "archive.h"
#include "config.h"
#include "deadletter.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "settings.h"

extern char **environ;

#define ARCHIVER_BACKOFF_MIN_MS 100
/* up to 30 s: an unreachable server blocks each attempt for up to
 * ARCHIVE_PG_TIMEOUT_S, and the loop must stay free for the probes */
#define ARCHIVER_BACKOFF_MAX_MS 30000
#define ARCHIVER_LETTER_RETRY_MS 5000
#define ARCHIVER_STATUS_MS 2000
#define ARCHIVER_DRAIN_TICK_MS 50

typedef struct pending {
    kafka_msg *msg;
    struct pending *next;
} pending;

typedef struct archiver archiver;

/* A message on its way to the dead letter topic. */
typedef struct letter {
    archiver *a;
    kafka_msg *msg;
    deadletter *dl;
    struct event *retry;
    struct letter *prev, *next;
} letter;

struct archiver {
    struct event_base *base;
    config *cfg;
    metrics *m;
    kafka_consumer *consumer;
    kafka_producer *producer;
    archive_db *db;
    http_admin *admin;
    const char *dlq_topic;
    pending *head, *tail;
    letter *letters;
    int npending;
    long long backoff_ms, next_connect_ms;
    long long shutdown_timeout_ms, stop_started_ms;
    int stopping, closed, exit_code, pg_was_up;
    int failing; /* the head message's last write failed (e.g. permission denied) */
    struct event *retry, *status, *drain, *fatal_ev, *sig_term, *sig_int;
    metric *m_written, *m_duplicate, *m_deadletter, *m_pg_errors, *m_pending, *m_pg_up;
};

static long long archiver_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void archiver_arm(struct event *ev, long long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(ev, &tv);
}

/* ---- dead letters ---- */

static void letter_free(letter *l)
{
    archiver *a = l->a;
    if (l->prev)
        l->prev->next = l->next;
    else
        a->letters = l->next;
    if (l->next)
        l->next->prev = l->prev;
    deadletter_free(l->dl);
    event_free(l->retry);
    free(l);
}

static void letter_send(letter *l);

static void letter_on_result(deadletter_result r, void *ctx)
{
    letter *l = ctx;
    archiver *a = l->a;
    if (a->closed) { /* shutdown: consumed again after the restart */
        kafka_consumer_drop(a->consumer, l->msg);
        letter_free(l);
        return;
    }
    if (r == DEADLETTER_RETRY) {
        log_event(LOG_WARN, "deadletter_retry", "{s:s}", "error", deadletter_error(l->dl));
        archiver_arm(l->retry, ARCHIVER_LETTER_RETRY_MS);
        return;
    }
    if (r == DEADLETTER_SENT)
        metric_add(a->m_deadletter, 1);
    kafka_consumer_done(a->consumer, l->msg);
    letter_free(l);
}

static void letter_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    letter_send(arg);
}

static void letter_send(letter *l)
{
    deadletter_result r =
        deadletter_send(l->dl, l->a->producer, l->a->dlq_topic, letter_on_result, l);
    if (r != DEADLETTER_QUEUED)
        letter_on_result(r, l);
}

static void archiver_deadletter(archiver *a, kafka_msg *msg, const char *why)
{
    log_event(LOG_ERROR, "message_deadlettered", "{s:s, s:i, s:I, s:s}", "topic", msg->topic,
              "partition", (int)msg->partition, "offset", (json_int_t)msg->offset, "error", why);
    letter *l = xcalloc(1, sizeof(*l));
    l->a = a;
    l->msg = msg;
    l->dl = deadletter_new(msg, why);
    l->retry = evtimer_new(a->base, letter_on_retry, l);
    l->next = a->letters;
    if (l->next)
        l->next->prev = l;
    a->letters = l;
    letter_send(l);
}

/* ---- the queue of messages to write, in order ---- */

static kafka_msg *archiver_pop(archiver *a)
{
    pending *p = a->head;
    kafka_msg *msg = p->msg;
    a->head = p->next;
    if (!a->head)
        a->tail = NULL;
    free(p);
    metric_set(a->m_pending, --a->npending);
    return msg;
}

static void archiver_backoff(archiver *a)
{
    a->backoff_ms =
        a->backoff_ms * 2 > ARCHIVER_BACKOFF_MAX_MS ? ARCHIVER_BACKOFF_MAX_MS : a->backoff_ms * 2;
}

static void archiver_log_pg(archiver *a, int up)
{
    metric_set(a->m_pg_up, up);
    if (up == a->pg_was_up)
        return;
    a->pg_was_up = up;
    if (up)
        log_event(LOG_INFO, "postgres_connected", NULL);
    else
        log_event(LOG_ERROR, "postgres_unavailable", "{s:s, s:s}", "error", archive_db_why(a->db),
                  "action", "messages wait (offsets not stored) and are retried with backoff");
}

/* Writes the head messages until the queue is empty or PostgreSQL is away
 * (then the retry timer comes back to the same head). */
static void archiver_drain_queue(archiver *a)
{
    while (a->head && !evtimer_pending(a->retry, NULL)) {
        kafka_msg *msg = a->head->msg;
        Rxdispatch__V1__OrderClosed *rec =
            rxdispatch__v1__order_closed__unpack(NULL, msg->value_len, msg->value);
        if (!rec) {
            archiver_deadletter(a, archiver_pop(a), "not an OrderClosed protobuf");
            continue;
        }
        archive_result r = archive_db_write(a->db, rec);
        rxdispatch__v1__order_closed__free_unpacked(rec, NULL);
        a->failing = r == ARCHIVE_RETRY;
        if (r == ARCHIVE_RETRY) {
            metric_add(a->m_pg_errors, 1);
            archiver_log_pg(a, 0);
            archiver_arm(a->retry, a->backoff_ms);
            archiver_backoff(a);
            return;
        }
        a->backoff_ms = ARCHIVER_BACKOFF_MIN_MS;
        archiver_log_pg(a, archive_db_connected(a->db)); /* a refusal may come before connecting */
        if (r == ARCHIVE_REFUSED) {
            char why[600];
            snprintf(why, sizeof(why), "PostgreSQL refused the row: %s", archive_db_why(a->db));
            archiver_deadletter(a, archiver_pop(a), why);
            continue;
        }
        metric_add(r == ARCHIVE_WRITTEN ? a->m_written : a->m_duplicate, 1);
        kafka_consumer_done(a->consumer, archiver_pop(a)); /* the row is committed */
    }
}

static void archiver_on_message(kafka_msg *msg, void *ctx)
{
    archiver *a = ctx;
    if (a->closed) {
        kafka_consumer_drop(a->consumer, msg);
        return;
    }
    pending *p = xcalloc(1, sizeof(*p));
    p->msg = msg;
    if (a->tail)
        a->tail->next = p;
    else
        a->head = p;
    a->tail = p;
    metric_set(a->m_pending, ++a->npending);
    archiver_drain_queue(a);
}

static void archiver_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    archiver_drain_queue(arg);
}

/* Keeps the connection (and readiness) current while no message comes. */
static void archiver_on_status(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    archiver *a = arg;
    if (a->head || archive_db_connected(a->db) || archiver_now_ms() < a->next_connect_ms)
        return;
    int up = archive_db_connect(a->db) == 0;
    archiver_log_pg(a, up);
    a->next_connect_ms = up ? 0 : archiver_now_ms() + a->backoff_ms;
    if (up)
        a->backoff_ms = ARCHIVER_BACKOFF_MIN_MS;
    else
        archiver_backoff(a);
}

/* ---- admin, signals, shutdown ---- */

static int archiver_ready(void *ctx, const char **why)
{
    archiver *a = ctx;
    if (a->stopping) {
        *why = "shutting down";
        return 0;
    }
    if (!archive_db_connected(a->db) || a->failing) {
        *why = archive_db_why(a->db);
        return 0;
    }
    if (!kafka_consumer_ready(a->consumer)) {
        *why = "kafka consumer has no assignment yet";
        return 0;
    }
    return 1;
}

static void archiver_on_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    archiver *a = arg;
    int idle = !a->head && !a->letters;
    if (idle || archiver_now_ms() - a->stop_started_ms > a->shutdown_timeout_ms)
        event_base_loopbreak(a->base);
}

static void archiver_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    archiver *a = arg;
    if (a->stopping)
        return;
    a->stopping = 1;
    a->stop_started_ms = archiver_now_ms();
    log_event(LOG_INFO, "shutdown_started", "{s:i, s:i}", "signal", (int)sig, "pending",
              a->npending);
    kafka_consumer_pause(a->consumer);
    archiver_arm(a->drain, ARCHIVER_DRAIN_TICK_MS);
}

static void archiver_on_fatal(const char *client, const char *error, const char *reason, void *ctx)
{
    archiver *a = ctx;
    log_event(LOG_ERROR, "kafka_fatal_exit", "{s:s, s:s, s:s}", "client", client, "error", error,
              "reason", reason);
    a->exit_code = 3; /* SERVICE_EXIT_KAFKA_FATAL: the supervisor restarts it */
    event_active(a->fatal_ev, EV_TIMEOUT, 0);
}

static void archiver_on_fatal_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(((archiver *)arg)->base);
}

static void archiver_make_metrics(archiver *a)
{
    a->m = metrics_new("rxd");
    a->m_written =
        metrics_counter(a->m, "archive_rows_written_total", NULL, "closed orders archived");
    a->m_duplicate = metrics_counter(a->m, "archive_rows_duplicate_total", NULL,
                                     "redelivered closed orders whose row was there already");
    a->m_deadletter = metrics_counter(a->m, "archive_deadletters_total", NULL,
                                      "messages of order.closed sent to the dead letter topic");
    a->m_pg_errors = metrics_counter(a->m, "archive_postgres_errors_total", NULL,
                                     "writes that failed and are retried");
    a->m_pending =
        metrics_gauge(a->m, "archive_pending", NULL, "messages waiting for their row write");
    a->m_pg_up = metrics_gauge(a->m, "archive_postgres_up", NULL, "1 while PostgreSQL answers");
}

/* Settings, PostgreSQL, Kafka; -1 with a message in err. */
static int archiver_open(archiver *a, char *err, size_t errlen)
{
    const char *pg = config_str(a->cfg, "ARCHIVE_PG", "");
    if (!*pg) {
        snprintf(err, errlen,
                 "set RXD_ARCHIVE_PG to a libpq conninfo or URL without the password, e.g. "
                 "postgresql://rx_archive@db:5432/rxd (password: RXD_ARCHIVE_PG_PASSWORD_FILE "
                 "or PGPASSFILE)");
        return -1;
    }
    if (config_int(a->cfg, "SHUTDOWN_TIMEOUT_MS", 10000, &a->shutdown_timeout_ms, err, errlen))
        return -1;
    a->db = archive_db_new(pg, config_str(a->cfg, "ARCHIVE_PG_PASSWORD_FILE", ""), err, errlen);
    if (!a->db)
        return -1;
    a->dlq_topic = config_str(a->cfg, "TOPIC_DEADLETTER", "rx.deadletter");
    const char *topics[] = {config_str(a->cfg, "TOPIC_CLOSED", "order.closed"), NULL};
    a->producer = kafka_producer_new(a->base, a->cfg, err, errlen);
    if (!a->producer)
        return -1;
    kafka_producer_set_fatal_handler(a->producer, archiver_on_fatal, a);
    a->consumer =
        kafka_consumer_new(a->base, a->cfg, config_str(a->cfg, "ARCHIVE_GROUP", "rx-archive"),
                           topics, archiver_on_message, a, err, errlen);
    if (!a->consumer)
        return -1;
    kafka_consumer_set_fatal_handler(a->consumer, archiver_on_fatal, a);
    kafka_consumer_set_metrics(a->consumer, a->m);
    return 0;
}

static void archiver_events_new(archiver *a)
{
    a->retry = evtimer_new(a->base, archiver_on_retry, a);
    a->status = event_new(a->base, -1, EV_PERSIST, archiver_on_status, a);
    a->drain = event_new(a->base, -1, EV_PERSIST, archiver_on_drain, a);
    a->fatal_ev = event_new(a->base, -1, 0, archiver_on_fatal_event, a);
    a->sig_term = evsignal_new(a->base, SIGTERM, archiver_on_signal, a);
    a->sig_int = evsignal_new(a->base, SIGINT, archiver_on_signal, a);
    event_add(a->sig_term, NULL);
    event_add(a->sig_int, NULL);
    archiver_arm(a->status, ARCHIVER_STATUS_MS);
    signal(SIGPIPE, SIG_IGN);
}

/* What is still unwritten is given up: no offset stored, consumed again
 * after the restart (its row, if it was committed, makes it a duplicate). */
static void archiver_close(archiver *a)
{
    a->closed = 1;
    while (a->head)
        kafka_consumer_drop(a->consumer, archiver_pop(a));
    for (letter *l = a->letters, *next; l; l = next) {
        next = l->next;
        if (evtimer_pending(l->retry, NULL)) { /* not in the producer */
            kafka_consumer_drop(a->consumer, l->msg);
            letter_free(l);
        }
    }
    kafka_consumer_close(a->consumer);
}

static void archiver_free(archiver *a)
{
    /* the producer's purge reports the letters still in it (dropped) */
    if (a->producer)
        kafka_producer_free(a->producer, 1000);
    kafka_consumer_free(a->consumer);
    archive_db_free(a->db);
    http_admin_free(a->admin);
    struct event *evs[] = {a->retry, a->status, a->drain, a->fatal_ev, a->sig_term, a->sig_int};
    for (size_t i = 0; i < sizeof(evs) / sizeof(*evs); i++)
        if (evs[i])
            event_free(evs[i]);
    metrics_free(a->m);
    config_free(a->cfg);
    if (a->base)
        event_base_free(a->base);
}

int main(int argc, char **argv)
{
    mem_init(); /* first: libevent takes its allocators only before its first call */
    char err[512];
    archiver a = {.pg_was_up = -1, .backoff_ms = ARCHIVER_BACKOFF_MIN_MS};
    a.cfg = config_new(argc, argv, err, sizeof(err));
    if (!a.cfg || settings_check_env(environ, err, sizeof(err)) != 0) {
        fprintf(stderr, "rx-archive: %s\n", err);
        config_free(a.cfg);
        return 2;
    }
    log_set_region(config_str(a.cfg, "REGION", "default"));
    log_init("rx-archive", config_str(a.cfg, "LOG_LEVEL", "info"));
    a.base = event_base_new();
    archiver_make_metrics(&a);
    archiver_events_new(&a);
    if (archiver_open(&a, err, sizeof(err)) != 0) {
        fprintf(stderr, "rx-archive: %s\n", err);
        archiver_free(&a);
        return 2;
    }
    long long port = 0;
    int bound = 0;
    if (config_int(a.cfg, "ADMIN_PORT", 0, &port, err, sizeof(err)) == 0)
        a.admin = http_admin_new(a.base, config_str(a.cfg, "ADMIN_ADDR", "127.0.0.1"), (int)port,
                                 a.m, archiver_ready, &a, &bound, err, sizeof(err));
    if (!a.admin) {
        log_event(LOG_ERROR, "admin_listen_failed", "{s:s}", "error", err);
        kafka_consumer_close(a.consumer);
        archiver_free(&a);
        return 1;
    }
    const char *unread = config_unread_flag(a.cfg);
    if (unread) {
        fprintf(stderr, "rx-archive: unknown setting --%s (see docs/configuration.md)\n", unread);
        kafka_consumer_close(a.consumer);
        archiver_free(&a);
        return 2;
    }
    archiver_log_pg(&a, archive_db_connect(a.db) == 0);
    log_event(LOG_INFO, "started", "{s:i}", "admin_port", bound);
    event_base_dispatch(a.base);
    archiver_close(&a);
    log_event(LOG_INFO, "stopped", "{s:i}", "exit_code", a.exit_code);
    int rc = a.exit_code;
    archiver_free(&a);
    return rc;
}
