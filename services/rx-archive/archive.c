/* archive.c - rx-archive's PostgreSQL side (archive.h): the connection and
 * the idempotent write of one closed order. */
#include "archive.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

#define ARCHIVE_NPARAMS 31

struct archive_db {
    char *conninfo;
    char *password; /* NULL: libpq's own (PGPASSFILE, ~/.pgpass) */
    PGconn *conn;
    char why[512];
};

/* ms since the epoch as a timestamptz, NULL for 0 (never set) */
static const char archive_insert_sql[] =
    "INSERT INTO orders_closed (order_id, prescription_id, state, reason, closed_at, created_at, "
    "approved_at, expires_at, hospital_id, nominated_pharmacy_id, pharmacy_id, courier_id, "
    "fulfilment, priority, cold_chain, insurance_covered, attempts, distance_m, "
    "courier_distance_m, last_seq, pickup_proof, handover_code_verified, wrong_codes, "
    "patient_ref, delivery_address, delivery_lat, delivery_lon, items, state_times, timeline, "
    "pharmacies_tried) VALUES ($1, $2, $3, $4, to_timestamp($5::bigint / 1000.0), "
    "to_timestamp(NULLIF($6::bigint, 0) / 1000.0), to_timestamp(NULLIF($7::bigint, 0) / 1000.0), "
    "to_timestamp(NULLIF($8::bigint, 0) / 1000.0), $9, $10, $11, $12, $13, $14, $15, $16, $17, "
    "$18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31) "
    "ON CONFLICT (order_id) DO NOTHING";

static char *archive_read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read RXD_ARCHIVE_PG_PASSWORD_FILE %s", path);
        return NULL;
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0'; /* one line, as secrets are mounted */
    return xstrdup(buf);
}

archive_db *archive_db_new(const char *conninfo, const char *password_file, char *err,
                           size_t errlen)
{
    char *password = NULL;
    if (password_file && *password_file &&
        !(password = archive_read_file(password_file, err, errlen)))
        return NULL;
    archive_db *db = xcalloc(1, sizeof(*db));
    db->conninfo = xstrdup(conninfo);
    db->password = password;
    snprintf(db->why, sizeof(db->why), "not connected to PostgreSQL yet");
    return db;
}

void archive_db_free(archive_db *db)
{
    if (!db)
        return;
    if (db->conn)
        PQfinish(db->conn);
    free(db->conninfo);
    free(db->password);
    free(db);
}

int archive_db_connected(const archive_db *db)
{
    return db->conn && PQstatus(db->conn) == CONNECTION_OK;
}

const char *archive_db_why(const archive_db *db)
{
    return db->why;
}

static void archive_db_drop(archive_db *db, const char *what)
{
    snprintf(db->why, sizeof(db->why), "%s: %s", what,
             db->conn ? PQerrorMessage(db->conn) : "no connection");
    db->why[strcspn(db->why, "\n")] = '\0';
    if (db->conn)
        PQfinish(db->conn);
    db->conn = NULL;
}

/* One statement whose result is not needed; 0 on success. */
static int archive_db_exec(archive_db *db, const char *sql, ExecStatusType want)
{
    PGresult *r = PQexec(db->conn, sql);
    int ok = PQresultStatus(r) == want;
    if (!ok)
        snprintf(db->why, sizeof(db->why), "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

int archive_db_connect(archive_db *db)
{
    if (archive_db_connected(db))
        return 0;
    if (db->conn)
        PQfinish(db->conn);
    /* the bounds come first: the operator's conninfo (expanded from dbname)
     * may override them */
    char timeout[16], user_timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", ARCHIVE_PG_TIMEOUT_S);
    snprintf(user_timeout, sizeof(user_timeout), "%d", ARCHIVE_PG_TIMEOUT_S * 1000);
    const char *keys[] = {"connect_timeout", "tcp_user_timeout", "application_name",
                          "dbname",          "password",         NULL};
    const char *vals[] = {timeout, user_timeout, "rx-archive", db->conninfo, db->password, NULL};
    db->conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        archive_db_drop(db, "cannot connect to RXD_ARCHIVE_PG");
        return -1;
    }
    char sql[96];
    snprintf(sql, sizeof(sql), "SET statement_timeout = %d", ARCHIVE_PG_TIMEOUT_S * 1000);
    if (archive_db_exec(db, sql, PGRES_COMMAND_OK) != 0) {
        archive_db_drop(db, "cannot set statement_timeout");
        return -1;
    }
    PGresult *r = PQexec(db->conn, "SELECT to_regclass('orders_closed') IS NOT NULL");
    int there = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!there) {
        snprintf(db->why, sizeof(db->why),
                 "table orders_closed missing: apply deploy/postgres/archive.sql with psql "
                 "(docs/operations.md, \"The archive\")");
        PQfinish(db->conn);
        db->conn = NULL;
        return -1;
    }
    db->why[0] = '\0';
    return 0;
}

/* ---- the row ---- */

static const char *archive_enum_name(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    return ev ? ev->name : "UNKNOWN";
}

static const char *archive_state(int v)
{
    return archive_enum_name(&rxdispatch__v1__order_state__descriptor, v);
}

/* An element that is not valid UTF-8 (json_pack refuses it): the whole
 * record is refused rather than archived with a hole. */
static char *archive_json_fail(json_t *a)
{
    json_decref(a);
    return NULL;
}

static char *archive_json_items(const Rxdispatch__V1__OrderClosed *rec)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rec->n_items; i++) {
        const Rxdispatch__V1__Item *it = rec->items[i];
        if (json_array_append_new(a,
                                  json_pack("{s:s, s:s, s:I, s:b}", "drug_code", it->drug_code,
                                            "name", it->name, "quantity", (json_int_t)it->quantity,
                                            "cold_chain", it->cold_chain)) != 0)
            return archive_json_fail(a);
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static char *archive_json_state_times(const Rxdispatch__V1__OrderClosed *rec)
{
    json_t *o = json_object();
    for (size_t i = 0; i < rec->n_state_times; i++)
        json_object_set_new(o, archive_state(rec->state_times[i]->state),
                            json_integer(rec->state_times[i]->at_ms));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static char *archive_json_timeline(const Rxdispatch__V1__OrderClosed *rec)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rec->n_timeline; i++) {
        const Rxdispatch__V1__TimelineEntry *t = rec->timeline[i];
        if (json_array_append_new(a, json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "seq",
                                               (json_int_t)t->seq, "at_ms", (json_int_t)t->at_ms,
                                               "state", archive_state(t->state), "kind", t->kind,
                                               "pharmacy_id", t->pharmacy_id, "courier_id",
                                               t->courier_id, "reason", t->reason)) != 0)
            return archive_json_fail(a);
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static char *archive_json_tried(const Rxdispatch__V1__OrderClosed *rec)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rec->n_pharmacies_tried; i++)
        if (json_array_append_new(a, json_string(rec->pharmacies_tried[i])) != 0)
            return archive_json_fail(a);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* A class 22 (data exception) or 23 (integrity) error is the record's own
 * and fails the same way every time; anything else may pass. */
static archive_result archive_db_failed(archive_db *db, PGresult *r)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(db->why, sizeof(db->why), "%s", PQresultErrorMessage(r));
    db->why[strcspn(db->why, "\n")] = '\0';
    if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
        return ARCHIVE_REFUSED;
    if (PQstatus(db->conn) != CONNECTION_OK)
        archive_db_drop(db, "PostgreSQL connection lost");
    return ARCHIVE_RETRY;
}

archive_result archive_db_write(archive_db *db, const Rxdispatch__V1__OrderClosed *rec)
{
    if (!rec->order_id[0] || !rec->prescription_id[0]) {
        snprintf(db->why, sizeof(db->why), "OrderClosed without order_id or prescription_id");
        return ARCHIVE_REFUSED;
    }
    if (archive_db_connect(db) != 0)
        return ARCHIVE_RETRY;
    char num[13][24];
    long long nums[] = {
        rec->closed_at_ms, rec->created_at_ms, rec->approved_at_ms,     rec->expires_at_ms,
        rec->attempts,     rec->distance_m,    rec->courier_distance_m, (long long)rec->last_seq,
        rec->wrong_codes};
    for (size_t i = 0; i < sizeof(nums) / sizeof(*nums); i++)
        snprintf(num[i], sizeof(num[i]), "%lld", nums[i]);
    char lat[32], lon[32];
    snprintf(lat, sizeof(lat), "%.9g", rec->delivery ? rec->delivery->lat : 0.0);
    snprintf(lon, sizeof(lon), "%.9g", rec->delivery ? rec->delivery->lon : 0.0);
    char *items = archive_json_items(rec), *times = archive_json_state_times(rec),
         *timeline = archive_json_timeline(rec), *tried = archive_json_tried(rec);
    archive_result res;
    if (!items || !times || !timeline || !tried) {
        snprintf(db->why, sizeof(db->why), "OrderClosed with a string that is not UTF-8");
        res = ARCHIVE_REFUSED;
        goto done;
    }
    const char *p[ARCHIVE_NPARAMS] = {
        rec->order_id,
        rec->prescription_id,
        archive_state(rec->state),
        rec->reason,
        num[0],
        num[1],
        num[2],
        num[3],
        rec->hospital_id,
        rec->nominated_pharmacy_id,
        rec->pharmacy_id,
        rec->courier_id,
        archive_enum_name(&rxdispatch__v1__fulfilment__descriptor, rec->fulfilment),
        archive_enum_name(&rxdispatch__v1__priority__descriptor, rec->priority),
        rec->cold_chain ? "t" : "f",
        rec->insurance_covered ? "t" : "f",
        num[4],
        num[5],
        num[6],
        num[7],
        rec->pickup_proof,
        rec->handover_code_verified ? "t" : "f",
        num[8],
        rec->patient_ref,
        rec->delivery_address,
        rec->delivery ? lat : NULL,
        rec->delivery ? lon : NULL,
        items,
        times,
        timeline,
        tried,
    };
    /* one statement: its own transaction, committed when it returns */
    PGresult *r =
        PQexecParams(db->conn, archive_insert_sql, ARCHIVE_NPARAMS, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_COMMAND_OK)
        res = strcmp(PQcmdTuples(r), "1") == 0 ? ARCHIVE_WRITTEN : ARCHIVE_DUPLICATE;
    else
        res = archive_db_failed(db, r);
    PQclear(r);
done:
    free(items);
    free(times);
    free(timeline);
    free(tried);
    return res;
}
