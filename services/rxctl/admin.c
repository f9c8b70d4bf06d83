/* admin.c - rxctl's Kafka cluster commands: creating the project's topics and
 * reading the cluster's metadata (partition leaders, group coordinators).
 * scripts/kafka and the chaos run use them to aim faults at the node that
 * matters; they take milliseconds where the JVM tools take seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "kafka.h"
#include "mem.h"

#define ADMIN_TIMEOUT_MS 15000

static int admin_fail(const char *what, const char *detail)
{
    fprintf(stderr, "rxctl: %s: %s\n", what, detail);
    return 1;
}

/* A plain client handle: admin requests and metadata need no consumer or
 * producer role, only the bootstrap servers and pass-through properties. */
static rd_kafka_t *admin_client_new(const config *cfg)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_conf_apply(conf, cfg, err, sizeof(err)) != 0) {
        rd_kafka_conf_destroy(conf);
        admin_fail("kafka settings", err);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        admin_fail("kafka client", err);
    }
    return rk;
}

static int admin_setting(const config *cfg, const char *name, long long def, long long *out)
{
    char err[256];
    if (config_int(cfg, name, def, out, err, sizeof(err)) != 0)
        return admin_fail("setting", err);
    return 0;
}

/* rxctl topics create [--partitions N] [--replication-factor R]
 *                     [--min-insync-replicas M] TOPIC...
 * An existing topic counts as created (the command is safe to repeat). */
int admin_topics_create(const config *cfg, int first_topic_arg)
{
    long long parts, rf, isr;
    if (admin_setting(cfg, "PARTITIONS", 12, &parts) ||
        admin_setting(cfg, "REPLICATION_FACTOR", 3, &rf) ||
        admin_setting(cfg, "MIN_INSYNC_REPLICAS", 2, &isr))
        return 2;
    int n = config_argc(cfg) - first_topic_arg;
    if (n < 1)
        return admin_fail("topics create", "name at least one topic"), 2;
    rd_kafka_t *rk = admin_client_new(cfg);
    if (!rk)
        return 1;
    rd_kafka_NewTopic_t **topics = xcalloc((size_t)n, sizeof(*topics));
    char isr_s[24], err[256];
    snprintf(isr_s, sizeof(isr_s), "%lld", isr);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        topics[i] = rd_kafka_NewTopic_new(config_arg(cfg, first_topic_arg + i), (int)parts, (int)rf,
                                          err, sizeof(err));
        if (!topics[i] || rd_kafka_NewTopic_set_config(topics[i], "min.insync.replicas", isr_s))
            rc = admin_fail(config_arg(cfg, first_topic_arg + i), topics[i] ? "bad config" : err);
    }
    if (rc == 0) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opt =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(opt, ADMIN_TIMEOUT_MS, err, sizeof(err));
        rd_kafka_AdminOptions_set_operation_timeout(opt, ADMIN_TIMEOUT_MS, err, sizeof(err));
        rd_kafka_CreateTopics(rk, topics, (size_t)n, opt, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
        if (!ev) {
            rc = admin_fail("topics create", "no answer from the cluster");
        } else if (rd_kafka_event_error(ev)) {
            rc = admin_fail("topics create", rd_kafka_event_error_string(ev));
        } else {
            size_t cnt;
            const rd_kafka_topic_result_t **res =
                rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
            for (size_t i = 0; i < cnt; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
                const char *name = rd_kafka_topic_result_name(res[i]);
                if (e == RD_KAFKA_RESP_ERR_NO_ERROR ||
                    e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                    printf("%s %s\n", name, e ? "exists" : "created");
                } else {
                    const char *why = rd_kafka_topic_result_error_string(res[i]);
                    rc = admin_fail(name, why ? why : rd_kafka_err2str(e));
                }
            }
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(opt);
        rd_kafka_queue_destroy(q);
    }
    rd_kafka_NewTopic_destroy_array(topics, (size_t)n);
    free(topics);
    rd_kafka_destroy(rk);
    return rc;
}

static int admin_print_leader(const rd_kafka_metadata_t *md, const char *topic, long long part)
{
    for (int t = 0; t < md->topic_cnt; t++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[t];
        if (strcmp(mt->topic, topic) != 0)
            continue;
        if (mt->err)
            return admin_fail(topic, rd_kafka_err2str(mt->err));
        for (int p = 0; p < mt->partition_cnt; p++) {
            if (mt->partitions[p].id == part) {
                if (mt->partitions[p].leader < 0)
                    return admin_fail(topic, "the partition has no leader now");
                printf("%d\n", (int)mt->partitions[p].leader);
                return 0;
            }
        }
    }
    return admin_fail(topic, "no such topic or partition");
}

static void admin_print_ids(const int32_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", (int)ids[i]);
}

/* Whole metadata as one JSON object: brokers, and per topic each partition's
 * leader, replicas and in-sync replicas. */
static void admin_print_metadata(const rd_kafka_metadata_t *md)
{
    printf("{\"controller\":%d,\"brokers\":[", (int)md->orig_broker_id);
    for (int b = 0; b < md->broker_cnt; b++)
        printf("%s{\"id\":%d,\"host\":\"%s\",\"port\":%d}", b ? "," : "", (int)md->brokers[b].id,
               md->brokers[b].host, md->brokers[b].port);
    printf("],\"topics\":{");
    int first = 1;
    for (int t = 0; t < md->topic_cnt; t++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[t];
        if (mt->topic[0] == '_')
            continue;
        printf("%s\"%s\":[", first ? "" : ",", mt->topic);
        first = 0;
        for (int p = 0; p < mt->partition_cnt; p++) {
            const rd_kafka_metadata_partition_t *mp = &mt->partitions[p];
            printf("%s{\"partition\":%d,\"leader\":%d,\"replicas\":[", p ? "," : "", (int)mp->id,
                   (int)mp->leader);
            admin_print_ids(mp->replicas, mp->replica_cnt);
            printf("],\"isr\":[");
            admin_print_ids(mp->isrs, mp->isr_cnt);
            printf("]}");
        }
        printf("]");
    }
    printf("}}\n");
}

static int admin_print_coordinator(rd_kafka_t *rk, const char *group)
{
    char err[256];
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_AdminOptions_set_request_timeout(opt, ADMIN_TIMEOUT_MS, err, sizeof(err));
    const char *groups[1] = {group};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
    int rc = 0;
    if (!ev) {
        rc = admin_fail(group, "no answer from the cluster");
    } else if (rd_kafka_event_error(ev)) {
        rc = admin_fail(group, rd_kafka_event_error_string(ev));
    } else {
        size_t cnt;
        const rd_kafka_ConsumerGroupDescription_t **d =
            rd_kafka_DescribeConsumerGroups_result_groups(
                rd_kafka_event_DescribeConsumerGroups_result(ev), &cnt);
        const rd_kafka_error_t *e = cnt == 1 ? rd_kafka_ConsumerGroupDescription_error(d[0]) : NULL;
        const rd_kafka_Node_t *node =
            cnt == 1 ? rd_kafka_ConsumerGroupDescription_coordinator(d[0]) : NULL;
        if (e)
            rc = admin_fail(group, rd_kafka_error_string(e));
        else if (!node)
            rc = admin_fail(group, "no coordinator known");
        else
            printf("%d\n", rd_kafka_Node_id(node));
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    return rc;
}

/* rxctl metadata                                  the cluster as JSON
 * rxctl metadata --topic T --partition P --leader  the node id leading it
 * rxctl metadata --group G --coordinator           the group's coordinator */
int admin_metadata(const config *cfg)
{
    const char *topic = config_str(cfg, "TOPIC", NULL);
    const char *group = config_str(cfg, "GROUP", NULL);
    long long part, want_leader, want_coord;
    if (admin_setting(cfg, "PARTITION", 0, &part) ||
        admin_setting(cfg, "LEADER", 0, &want_leader) ||
        admin_setting(cfg, "COORDINATOR", 0, &want_coord))
        return 2;
    rd_kafka_t *rk = admin_client_new(cfg);
    if (!rk)
        return 1;
    int rc;
    if (group) {
        rc = admin_print_coordinator(rk, group);
    } else {
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, ADMIN_TIMEOUT_MS);
        if (e) {
            rc = admin_fail("metadata", rd_kafka_err2str(e));
        } else {
            rc = 0;
            if (topic)
                rc = admin_print_leader(md, topic, part);
            else
                admin_print_metadata(md);
            rd_kafka_metadata_destroy(md);
        }
    }
    rd_kafka_destroy(rk);
    return rc;
}

/* The partitions of topics, with offset set to ts_ms (for offsets_for_times). */
static rd_kafka_topic_partition_list_t *admin_partitions_at(rd_kafka_t *rk, const config *cfg,
                                                            int first_topic_arg, long long ts_ms)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, ADMIN_TIMEOUT_MS);
    if (e) {
        admin_fail("metadata", rd_kafka_err2str(e));
        return NULL;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int i = first_topic_arg; i < config_argc(cfg); i++) {
        const char *name = config_arg(cfg, i);
        int found = 0;
        for (int t = 0; t < md->topic_cnt; t++) {
            if (strcmp(md->topics[t].topic, name) != 0)
                continue;
            found = 1;
            for (int p = 0; p < md->topics[t].partition_cnt; p++)
                rd_kafka_topic_partition_list_add(l, name, md->topics[t].partitions[p].id)->offset =
                    ts_ms;
        }
        if (!found) {
            admin_fail(name, "no such topic");
            rd_kafka_topic_partition_list_destroy(l);
            l = NULL;
            break;
        }
    }
    rd_kafka_metadata_destroy(md);
    return l;
}

/* Offsets for times answers -1 where no message is as new as the time:
 * there the group starts at the end (nothing to replay). */
static int admin_offsets_resolve(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, ADMIN_TIMEOUT_MS);
    if (e)
        return admin_fail("offsets for times", rd_kafka_err2str(e));
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *p = &l->elems[i];
        if (p->err)
            return admin_fail(p->topic, rd_kafka_err2str(p->err));
        if (p->offset < 0) {
            int64_t lo, hi;
            e = rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi,
                                                 ADMIN_TIMEOUT_MS);
            if (e)
                return admin_fail(p->topic, rd_kafka_err2str(e));
            p->offset = hi;
        }
    }
    return 0;
}

static int admin_offsets_commit(rd_kafka_t *rk, const char *group,
                                const rd_kafka_topic_partition_list_t *l)
{
    char err[256];
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    rd_kafka_AdminOptions_set_request_timeout(opt, ADMIN_TIMEOUT_MS, err, sizeof(err));
    rd_kafka_AlterConsumerGroupOffsets_t *alter = rd_kafka_AlterConsumerGroupOffsets_new(group, l);
    rd_kafka_AlterConsumerGroupOffsets(rk, &alter, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
    int rc = 0;
    if (!ev) {
        rc = admin_fail(group, "no answer from the cluster");
    } else if (rd_kafka_event_error(ev)) {
        rc = admin_fail(group, rd_kafka_event_error_string(ev));
    } else {
        size_t cnt;
        const rd_kafka_group_result_t **g = rd_kafka_AlterConsumerGroupOffsets_result_groups(
            rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &cnt);
        const rd_kafka_error_t *ge = cnt == 1 ? rd_kafka_group_result_error(g[0]) : NULL;
        const rd_kafka_topic_partition_list_t *got =
            cnt == 1 ? rd_kafka_group_result_partitions(g[0]) : NULL;
        if (ge)
            rc = admin_fail(group, rd_kafka_error_string(ge));
        for (int i = 0; got && i < got->cnt; i++) {
            const rd_kafka_topic_partition_t *p = &got->elems[i];
            if (p->err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
                p->err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
                rc = admin_fail(p->topic, "the group still has members: stop every one of its "
                                          "consumers, wait for the session timeout, try again");
            else if (p->err)
                rc = admin_fail(p->topic, rd_kafka_err2str(p->err));
            else
                printf("{\"topic\":\"%s\",\"partition\":%d,\"offset\":%lld}\n", p->topic,
                       (int)p->partition, (long long)p->offset);
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AlterConsumerGroupOffsets_destroy(alter);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    return rc;
}

/* rxctl offsets rewind --group G --to-ms T TOPIC...: the group's committed
 * offsets on every partition of the topics set to the first message at or
 * after T (a restore of Redis to T, docs/operations.md "Redis failover and
 * restore"). The group must have no running member; Kafka refuses
 * otherwise. Prints one JSON line per partition. */
int admin_offsets_rewind(const config *cfg, int first_topic_arg)
{
    const char *group = config_str(cfg, "GROUP", NULL);
    long long to_ms;
    if (admin_setting(cfg, "TO_MS", -1, &to_ms))
        return 2;
    if (!group || to_ms < 0 || config_argc(cfg) <= first_topic_arg)
        return admin_fail("offsets rewind", "give --group G --to-ms UNIX_MS and a topic"), 2;
    rd_kafka_t *rk = admin_client_new(cfg);
    if (!rk)
        return 1;
    rd_kafka_topic_partition_list_t *l = admin_partitions_at(rk, cfg, first_topic_arg, to_ms);
    int rc = !l || admin_offsets_resolve(rk, l) || admin_offsets_commit(rk, group, l);
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return rc;
}
