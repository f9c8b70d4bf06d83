/* devbroker - the embedded Kafka broker for development and tests.
 *
 * Owns a librdkafka mock cluster (its brokers run in librdkafka's own
 * threads), the project's topics on it, and a line-based control port on
 * 127.0.0.1 for fault injection. The main thread only runs the libevent loop
 * for signals and the control port.
 *
 * Usage: devbroker [--brokers N] [--partitions N] [--addr-file PATH]
 *                  [--control-port N] [--control-file PATH]
 *
 * Prints "bootstrap=127.0.0.1:PORT[,...]" on stdout once the cluster is up.
 * librdkafka 2.0.2's mock cluster always listens on random ports, so there is
 * no --port: use the printed address or --addr-file.
 *
 * Control commands (one per line; answers "ok ..." or "err <message>"):
 *   ping                                -> ok pong
 *   bootstrap                           -> ok <bootstrap servers>
 *   broker down <id> | broker up <id>
 *   rtt <broker-id> <ms>
 *   errors <api> <count> <error>        api: Produce, Fetch, JoinGroup... or a
 *                                       number; error: NOT_COORDINATOR,
 *                                       _TRANSPORT... or a number
 *   clear <api>                         drops pending injected errors
 *   topic create <name> [partitions]    creates a topic (e.g. one left out
 *                                       with RXD_DEVBROKER_SKIP_TOPICS)
 *   topic error <name> <error>          the topic's metadata answers error
 *                                       (e.g. TOPIC_AUTHORIZATION_FAILED:
 *                                       produces to it fail); NO_ERROR heals
 *   help
 *
 * RXD_DEVBROKER_SKIP_TOPICS (comma-separated names) leaves those topics out
 * at start, to test services started before their topics exist. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define DEVBROKER_LINE_MAX 1024
#define DEVBROKER_ERRORS_MAX 100000

typedef struct devbroker_opts {
    int brokers;
    int partitions;
    const char *addr_file;
    const char *control_file;
    int control_port; /* -1: no control port */
} devbroker_opts;

typedef struct ctl_conn ctl_conn;

typedef struct devbroker {
    struct event_base *base;
    rd_kafka_t *rk; /* the dummy producer the mock cluster is attached to */
    rd_kafka_mock_cluster_t *mc;
    struct evconnlistener *ctl;
    struct event *sigterm_ev, *sigint_ev;
    ctl_conn *conns;
    devbroker_opts opts;
} devbroker;

struct ctl_conn {
    devbroker *db;
    struct bufferevent *bev;
    ctl_conn *prev, *next;
};

/* ---- command-line ------------------------------------------------------ */

static int devbroker_parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static void devbroker_usage(FILE *f)
{
    fprintf(f, "usage: devbroker [--brokers N] [--partitions N] [--addr-file PATH]\n"
               "                 [--control-port N] [--control-file PATH]\n"
               "env: RXD_DEVBROKER_PARTITIONS, RXD_TOPIC_APPROVED, RXD_TOPIC_CANCELLED,\n"
               "     RXD_TOPIC_EVENTS, RXD_TOPIC_NOTIFY, RXD_TOPIC_DEADLETTER, RXD_TOPIC_CLOSED\n");
}

/* Returns 0, 1 for --help, or -1 after printing what is wrong. */
static int devbroker_opts_parse(devbroker_opts *o, int argc, char **argv)
{
    const char *env = getenv("RXD_DEVBROKER_PARTITIONS");

    o->brokers = 1;
    o->partitions = 4;
    o->addr_file = NULL;
    o->control_file = NULL;
    o->control_port = -1;
    if (env && *env && devbroker_parse_int(env, 1, 10000, &o->partitions) != 0) {
        fprintf(stderr, "devbroker: RXD_DEVBROKER_PARTITIONS=%s is not a number in 1..10000\n",
                env);
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        const char *eq = strchr(arg, '=');
        char name[64];
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (strncmp(arg, "--", 2) != 0 || nlen >= sizeof(name)) {
            fprintf(stderr, "devbroker: unexpected argument %s (see --help)\n", arg);
            return -1;
        }
        memcpy(name, arg, nlen);
        name[nlen] = '\0';
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            fprintf(stderr, "devbroker: %s needs a value\n", name);
            return -1;
        }
        if (strcmp(name, "--brokers") == 0) {
            if (devbroker_parse_int(val, 1, 32, &o->brokers) != 0) {
                fprintf(stderr, "devbroker: --brokers %s: give a number in 1..32\n", val);
                return -1;
            }
        } else if (strcmp(name, "--partitions") == 0) {
            if (devbroker_parse_int(val, 1, 10000, &o->partitions) != 0) {
                fprintf(stderr, "devbroker: --partitions %s: give a number in 1..10000\n", val);
                return -1;
            }
        } else if (strcmp(name, "--control-port") == 0) {
            if (devbroker_parse_int(val, 0, 65535, &o->control_port) != 0) {
                fprintf(stderr, "devbroker: --control-port %s: give a port in 0..65535\n", val);
                return -1;
            }
        } else if (strcmp(name, "--addr-file") == 0) {
            o->addr_file = val;
        } else if (strcmp(name, "--control-file") == 0) {
            o->control_file = val;
        } else {
            fprintf(stderr, "devbroker: unknown flag %s (see --help)\n", name);
            return -1;
        }
    }
    if (o->control_file && o->control_port < 0)
        o->control_port = 0;
    return 0;
}

/* Writes text to path through a temporary file and a rename, so a reader
 * sees either nothing or the whole content. */
static int devbroker_write_file(const char *path, const char *text)
{
    char tmp[4096];
    FILE *f;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        fprintf(stderr, "devbroker: path too long: %s\n", path);
        return -1;
    }
    f = fopen(tmp, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "devbroker: cannot write %s: %s (check the directory exists)\n", tmp,
                strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "devbroker: cannot rename %s to %s: %s\n", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- names of API keys and error codes --------------------------------- */

static const struct {
    const char *name;
    int16_t key;
} devbroker_apis[] = {
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Metadata", 3},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"LeaveGroup", 13},
    {"SyncGroup", 14},
    {"DescribeGroups", 15},
    {"ListGroups", 16},
    {"ApiVersions", 18},
    {"InitProducerId", 22},
    {"OffsetForLeaderEpoch", 23},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

static int devbroker_api_parse(const char *s, int16_t *out)
{
    int v;
    for (size_t i = 0; i < sizeof(devbroker_apis) / sizeof(devbroker_apis[0]); i++) {
        if (strcasecmp(s, devbroker_apis[i].name) == 0) {
            *out = devbroker_apis[i].key;
            return 0;
        }
    }
    if (devbroker_parse_int(s, 0, 32767, &v) != 0)
        return -1;
    *out = (int16_t)v;
    return 0;
}

/* Accepts any librdkafka error name (NOT_COORDINATOR, _TRANSPORT, with or
 * without the RD_KAFKA_RESP_ERR_ prefix) or a number. */
static int devbroker_err_parse(const char *s, rd_kafka_resp_err_t *out)
{
    const struct rd_kafka_err_desc *descs;
    size_t cnt;
    int v;

    if (strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0)
        s += 18;
    rd_kafka_get_err_descs(&descs, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        if (descs[i].name && strcasecmp(s, descs[i].name) == 0) {
            *out = descs[i].code;
            return 0;
        }
    }
    if (devbroker_parse_int(s, -200, 1000, &v) != 0)
        return -1;
    *out = (rd_kafka_resp_err_t)v;
    return 0;
}

/* ---- control commands -------------------------------------------------- */

static void ctl_reply(struct evbuffer *out, rd_kafka_resp_err_t err, const char *okmsg)
{
    if (err == RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE)
        evbuffer_add_printf(out, "err no such broker (ids start at 1, see --brokers)\n");
    else if (err)
        evbuffer_add_printf(out, "err %s\n", rd_kafka_err2str(err));
    else
        evbuffer_add_printf(out, "ok %s\n", okmsg);
}

static void ctl_cmd_broker(devbroker *db, char **argv, int argc, struct evbuffer *out)
{
    int id;
    if (argc != 3 || devbroker_parse_int(argv[2], 0, 1 << 30, &id) != 0 ||
        (strcmp(argv[1], "down") != 0 && strcmp(argv[1], "up") != 0)) {
        evbuffer_add_printf(out, "err usage: broker down|up <id>\n");
        return;
    }
    if (strcmp(argv[1], "down") == 0)
        ctl_reply(out, rd_kafka_mock_broker_set_down(db->mc, id), "broker down");
    else
        ctl_reply(out, rd_kafka_mock_broker_set_up(db->mc, id), "broker up");
}

static void ctl_cmd_rtt(devbroker *db, char **argv, int argc, struct evbuffer *out)
{
    int id, ms;
    if (argc != 3 || devbroker_parse_int(argv[1], 0, 1 << 30, &id) != 0 ||
        devbroker_parse_int(argv[2], 0, 3600000, &ms) != 0) {
        evbuffer_add_printf(out, "err usage: rtt <broker-id> <ms>\n");
        return;
    }
    ctl_reply(out, rd_kafka_mock_broker_set_rtt(db->mc, id, ms), "rtt set");
}

static void ctl_cmd_errors(devbroker *db, char **argv, int argc, struct evbuffer *out)
{
    int16_t api;
    int count;
    rd_kafka_resp_err_t code, *errs;

    if (argc != 4) {
        evbuffer_add_printf(out, "err usage: errors <api> <count> <error>\n");
        return;
    }
    if (devbroker_api_parse(argv[1], &api) != 0) {
        evbuffer_add_printf(out, "err unknown api %s: use a name like Produce or a number\n",
                            argv[1]);
        return;
    }
    if (devbroker_parse_int(argv[2], 1, DEVBROKER_ERRORS_MAX, &count) != 0) {
        evbuffer_add_printf(out, "err count %s: give a number in 1..%d\n", argv[2],
                            DEVBROKER_ERRORS_MAX);
        return;
    }
    if (devbroker_err_parse(argv[3], &code) != 0) {
        evbuffer_add_printf(
            out, "err unknown error %s: use a name like NOT_COORDINATOR or a number\n", argv[3]);
        return;
    }
    errs = malloc((size_t)count * sizeof(*errs));
    if (!errs) {
        evbuffer_add_printf(out, "err out of memory\n");
        return;
    }
    for (int i = 0; i < count; i++)
        errs[i] = code;
    rd_kafka_mock_push_request_errors_array(db->mc, api, (size_t)count, errs);
    free(errs);
    evbuffer_add_printf(out, "ok %d x %s on api %d\n", count, rd_kafka_err2name(code), api);
}

static void ctl_cmd_clear(devbroker *db, char **argv, int argc, struct evbuffer *out)
{
    int16_t api;
    if (argc != 2 || devbroker_api_parse(argv[1], &api) != 0) {
        evbuffer_add_printf(out, "err usage: clear <api>\n");
        return;
    }
    rd_kafka_mock_clear_request_errors(db->mc, api);
    evbuffer_add_printf(out, "ok cleared api %d\n", api);
}

static void ctl_cmd_topic(devbroker *db, char **argv, int argc, struct evbuffer *out)
{
    int partitions = db->opts.partitions;
    rd_kafka_resp_err_t code;
    if (argc >= 3 && strcmp(argv[1], "create") == 0) {
        if (argc == 4 && devbroker_parse_int(argv[3], 1, 1000, &partitions) != 0) {
            evbuffer_add_printf(out, "err partitions %s: give a number in 1..1000\n", argv[3]);
            return;
        }
        int rf = db->opts.brokers < 3 ? db->opts.brokers : 3;
        ctl_reply(out, rd_kafka_mock_topic_create(db->mc, argv[2], partitions, rf),
                  "topic created");
    } else if (argc == 4 && strcmp(argv[1], "error") == 0) {
        if (devbroker_err_parse(argv[3], &code) != 0) {
            evbuffer_add_printf(out, "err unknown error %s\n", argv[3]);
            return;
        }
        rd_kafka_mock_topic_set_error(db->mc, argv[2], code);
        evbuffer_add_printf(out, "ok topic %s answers %s\n", argv[2], rd_kafka_err2name(code));
    } else {
        evbuffer_add_printf(out, "err usage: topic create <name> [partitions] | topic error "
                                 "<name> <error>\n");
    }
}

static void ctl_execute(devbroker *db, char *line, struct evbuffer *out)
{
    char *argv[8], *save = NULL, *tok;
    int argc = 0;

    for (tok = strtok_r(line, " \t", &save); tok && argc < 8; tok = strtok_r(NULL, " \t", &save))
        argv[argc++] = tok;
    if (argc == 0)
        evbuffer_add_printf(out, "err empty command (try help)\n");
    else if (strcmp(argv[0], "ping") == 0)
        evbuffer_add_printf(out, "ok pong\n");
    else if (strcmp(argv[0], "bootstrap") == 0)
        evbuffer_add_printf(out, "ok %s\n", rd_kafka_mock_cluster_bootstraps(db->mc));
    else if (strcmp(argv[0], "broker") == 0)
        ctl_cmd_broker(db, argv, argc, out);
    else if (strcmp(argv[0], "rtt") == 0)
        ctl_cmd_rtt(db, argv, argc, out);
    else if (strcmp(argv[0], "errors") == 0)
        ctl_cmd_errors(db, argv, argc, out);
    else if (strcmp(argv[0], "clear") == 0)
        ctl_cmd_clear(db, argv, argc, out);
    else if (strcmp(argv[0], "topic") == 0)
        ctl_cmd_topic(db, argv, argc, out);
    else if (strcmp(argv[0], "help") == 0)
        evbuffer_add_printf(out, "ok commands: ping, bootstrap, broker down|up <id>, rtt <id> "
                                 "<ms>, errors <api> <count> <error>, clear <api>, topic create "
                                 "<name> [partitions], topic error <name> <error>\n");
    else
        evbuffer_add_printf(out, "err unknown command %s (try help)\n", argv[0]);
}

static void ctl_conn_free(ctl_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->db->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    bufferevent_free(c->bev);
    free(c);
}

static void ctl_on_read(struct bufferevent *bev, void *arg)
{
    ctl_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer *out = bufferevent_get_output(bev);
    char *line;
    size_t len;

    while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
        ctl_execute(c->db, line, out);
        free(line);
    }
    if (evbuffer_get_length(in) > DEVBROKER_LINE_MAX) {
        evbuffer_drain(in, evbuffer_get_length(in));
        evbuffer_add_printf(out, "err line longer than %d bytes\n", DEVBROKER_LINE_MAX);
    }
}

static void ctl_on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        ctl_conn_free(arg);
}

static void ctl_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                          int salen, void *arg)
{
    devbroker *db = arg;
    ctl_conn *c = calloc(1, sizeof(*c));
    (void)l;
    (void)sa;
    (void)salen;

    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->db = db;
    c->bev = bufferevent_socket_new(db->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    c->next = db->conns;
    if (db->conns)
        db->conns->prev = c;
    db->conns = c;
    bufferevent_setcb(c->bev, ctl_on_read, NULL, ctl_on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static int ctl_listen(devbroker *db)
{
    struct sockaddr_in sin;
    socklen_t slen = sizeof(sin);
    char text[32];

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)db->opts.control_port);
    db->ctl =
        evconnlistener_new_bind(db->base, ctl_on_accept, db,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                16, (struct sockaddr *)&sin, sizeof(sin));
    if (!db->ctl) {
        fprintf(stderr,
                "devbroker: cannot listen on 127.0.0.1:%d for control: %s (choose another "
                "--control-port or 0)\n",
                db->opts.control_port, strerror(errno));
        return -1;
    }
    if (getsockname(evconnlistener_get_fd(db->ctl), (struct sockaddr *)&sin, &slen) != 0)
        return -1;
    snprintf(text, sizeof(text), "%d\n", ntohs(sin.sin_port));
    fprintf(stderr, "devbroker: control port 127.0.0.1:%s", text);
    if (db->opts.control_file && devbroker_write_file(db->opts.control_file, text) != 0)
        return -1;
    return 0;
}

/* ---- cluster ----------------------------------------------------------- */

static const struct {
    const char *env;
    const char *def;
} devbroker_topics[] = {
    {"RXD_TOPIC_APPROVED", "rx.approved"},     {"RXD_TOPIC_CANCELLED", "rx.cancelled"},
    {"RXD_TOPIC_EVENTS", "order.events"},      {"RXD_TOPIC_NOTIFY", "patient.notify"},
    {"RXD_TOPIC_DEADLETTER", "rx.deadletter"}, {"RXD_TOPIC_CLOSED", "order.closed"},
};

static int devbroker_topic_skipped(const char *name)
{
    const char *skip = getenv("RXD_DEVBROKER_SKIP_TOPICS");
    size_t n = strlen(name);
    for (const char *p = skip; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p = end ? end + 1 : p + len;
    }
    return 0;
}

static int devbroker_cluster_start(devbroker *db)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    int rf = db->opts.brokers < 3 ? db->opts.brokers : 3;

    /* The handle only anchors the cluster; it never produces. */
    rd_kafka_conf_set(conf, "client.id", "devbroker", NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "4", NULL, 0); /* no bootstrap.servers notice */
    db->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!db->rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "devbroker: cannot create the anchor client: %s\n", errstr);
        return -1;
    }
    db->mc = rd_kafka_mock_cluster_new(db->rk, db->opts.brokers);
    if (!db->mc) {
        fprintf(stderr, "devbroker: cannot start the mock cluster (no free local ports?)\n");
        return -1;
    }
    for (size_t i = 0; i < sizeof(devbroker_topics) / sizeof(devbroker_topics[0]); i++) {
        const char *name = getenv(devbroker_topics[i].env);
        rd_kafka_resp_err_t err;
        if (!name || !*name)
            name = devbroker_topics[i].def;
        if (devbroker_topic_skipped(name)) {
            fprintf(stderr, "devbroker: topic %s left out (RXD_DEVBROKER_SKIP_TOPICS)\n", name);
            continue;
        }
        err = rd_kafka_mock_topic_create(db->mc, name, db->opts.partitions, rf);
        if (err) {
            fprintf(stderr, "devbroker: cannot create topic %s: %s\n", name, rd_kafka_err2str(err));
            return -1;
        }
    }
    return 0;
}

static void devbroker_on_signal(evutil_socket_t sig, short what, void *arg)
{
    devbroker *db = arg;
    (void)what;
    fprintf(stderr, "devbroker: signal %d, shutting down\n", (int)sig);
    event_base_loopexit(db->base, NULL);
}

static void devbroker_free(devbroker *db)
{
    while (db->conns)
        ctl_conn_free(db->conns);
    if (db->ctl)
        evconnlistener_free(db->ctl);
    if (db->sigterm_ev)
        event_free(db->sigterm_ev);
    if (db->sigint_ev)
        event_free(db->sigint_ev);
    if (db->mc)
        rd_kafka_mock_cluster_destroy(db->mc);
    if (db->rk)
        rd_kafka_destroy(db->rk);
    if (db->base)
        event_base_free(db->base);
}

int main(int argc, char **argv)
{
    devbroker db;
    const char *bootstrap;
    char line[4096];
    int rc;

    memset(&db, 0, sizeof(db));
    rc = devbroker_opts_parse(&db.opts, argc, argv);
    if (rc != 0) {
        devbroker_usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    db.base = event_base_new();
    if (!db.base) {
        fprintf(stderr, "devbroker: cannot create the event loop\n");
        return 1;
    }
    db.sigterm_ev = evsignal_new(db.base, SIGTERM, devbroker_on_signal, &db);
    db.sigint_ev = evsignal_new(db.base, SIGINT, devbroker_on_signal, &db);
    if (!db.sigterm_ev || !db.sigint_ev || event_add(db.sigterm_ev, NULL) != 0 ||
        event_add(db.sigint_ev, NULL) != 0) {
        fprintf(stderr, "devbroker: cannot watch signals\n");
        devbroker_free(&db);
        return 1;
    }
    if (devbroker_cluster_start(&db) != 0 || (db.opts.control_port >= 0 && ctl_listen(&db) != 0)) {
        devbroker_free(&db);
        return 1;
    }
    bootstrap = rd_kafka_mock_cluster_bootstraps(db.mc);
    snprintf(line, sizeof(line), "%s\n", bootstrap);
    if (db.opts.addr_file && devbroker_write_file(db.opts.addr_file, line) != 0) {
        devbroker_free(&db);
        return 1;
    }
    printf("bootstrap=%s\n", bootstrap);
    fflush(stdout);

    event_base_dispatch(db.base);

    if (db.opts.addr_file)
        unlink(db.opts.addr_file);
    if (db.opts.control_file)
        unlink(db.opts.control_file);
    devbroker_free(&db);
    return 0;
}
