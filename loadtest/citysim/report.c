/* report.c - summary numbers and their two renderings. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define REPORT_STUCK_MAX 50 /* stuck orders listed by name; the count is exact */

enum {
    ST_APPROVED_OFFERED,
    ST_OFFERED_ACCEPTED,
    ST_READY_ASSIGNED,
    ST_ASSIGNED_PICKED,
    ST_PICKED_DELIVERED,
    ST_READY_PICKED,       /* what the dispatch policy wins or loses */
    ST_APPROVED_DELIVERED, /* click-to-door */
    ST_N
};

static const char *const report_stage_names[ST_N] = {
    "approved_to_offered",   "offered_to_accepted",    "ready_to_assigned",
    "assigned_to_picked_up", "picked_up_to_delivered", "ready_to_picked_up",
    "approved_to_delivered"};

typedef struct report_samples {
    double *v;
    size_t n, cap;
} report_samples;

typedef struct report_acc {
    const track *t;
    const report_input *in;
    report_samples stage[ST_N];
    json_t *states;  /* state -> count */
    json_t *reasons; /* unroutable reason -> count */
    long special_not_unroutable;
} report_acc;

static void report_add(report_samples *s, int64_t from_ms, int64_t to_ms)
{
    if (from_ms <= 0 || to_ms <= 0 || to_ms < from_ms)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        double *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (double)(to_ms - from_ms) / 1000.0;
}

/* Index of the first event in state, from index from; -1 if none. */
static long report_find(const track_order *o, const char *state, size_t from)
{
    for (size_t i = from; i < o->nev; i++)
        if (strcmp(o->ev[i].state, state) == 0)
            return (long)i;
    return -1;
}

static void report_stages(report_acc *a, const track_order *o)
{
    const track_rx *rx = track_sent(a->t, o->prescription_id);
    long off = report_find(o, "OFFERED", 0);
    long acc = report_find(o, "ACCEPTED", 0);
    long rdy = report_find(o, "READY", 0);
    long asg = rdy >= 0 ? report_find(o, "COURIER_ASSIGNED", (size_t)rdy) : -1;
    long pic = report_find(o, "PICKED_UP", 0);
    long del = report_find(o, "DELIVERED", 0);
    if (off >= 0)
        report_add(&a->stage[ST_APPROVED_OFFERED], rx ? rx->approved_ms : o->ev[0].at_ms,
                   o->ev[off].at_ms);
    if (acc > 0 && strcmp(o->ev[acc - 1].state, "OFFERED") == 0)
        report_add(&a->stage[ST_OFFERED_ACCEPTED], o->ev[acc - 1].at_ms, o->ev[acc].at_ms);
    if (asg >= 0)
        report_add(&a->stage[ST_READY_ASSIGNED], o->ev[rdy].at_ms, o->ev[asg].at_ms);
    if (pic > 0) {
        long k = pic;
        while (k > 0 && strcmp(o->ev[k - 1].state, "COURIER_ASSIGNED") == 0)
            k--;
        if (k < pic)
            report_add(&a->stage[ST_ASSIGNED_PICKED], o->ev[k].at_ms, o->ev[pic].at_ms);
    }
    if (pic >= 0 && del > pic)
        report_add(&a->stage[ST_PICKED_DELIVERED], o->ev[pic].at_ms, o->ev[del].at_ms);
    if (rdy >= 0 && pic > rdy)
        report_add(&a->stage[ST_READY_PICKED], o->ev[rdy].at_ms, o->ev[pic].at_ms);
    if (del >= 0)
        report_add(&a->stage[ST_APPROVED_DELIVERED], rx ? rx->approved_ms : o->ev[0].at_ms,
                   o->ev[del].at_ms);
}

static void report_count(json_t *obj, const char *key)
{
    json_int_t n = json_integer_value(json_object_get(obj, key));
    json_object_set_new(obj, key, json_integer(n + 1));
}

static void report_on_order(const track_order *o, void *ctx)
{
    report_acc *a = ctx;
    const char *state = track_order_state(o);
    const track_rx *rx = track_sent(a->t, o->prescription_id);
    report_count(a->states, state);
    if (strcmp(state, "UNROUTABLE") == 0)
        report_count(a->reasons, o->ev[o->nev - 1].reason[0] ? o->ev[o->nev - 1].reason : "?");
    if (rx && rx->special && strcmp(state, "UNROUTABLE") != 0 && track_is_final(o, 0))
        a->special_not_unroutable++;
    report_stages(a, o);
}

static int report_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double report_rank(const report_samples *s, double q)
{
    size_t k = (size_t)ceil(q * (double)s->n);
    return s->v[k ? k - 1 : 0];
}

static json_t *report_stage_json(report_samples *s)
{
    if (s->n == 0)
        return json_pack("{s:i, s:n, s:n}", "n", 0, "median_s", "p95_s");
    qsort(s->v, s->n, sizeof(double), report_cmp);
    return json_pack("{s:I, s:f, s:f}", "n", (json_int_t)s->n, "median_s", report_rank(s, 0.5),
                     "p95_s", report_rank(s, 0.95));
}

static void report_on_stuck(const char *pid, const track_order *o, void *ctx)
{
    json_t *list = ctx;
    if (json_array_size(list) >= REPORT_STUCK_MAX)
        return;
    json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "prescription_id", pid, "order_id",
                                          o ? o->order_id : "", "state",
                                          o ? track_order_state(o) : "NO_ORDER"));
}

static json_t *report_actors(const report_input *in)
{
    const pharm_stats *p = in->pharmacies;
    json_t *j = json_pack("{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "pharmacies",
                          "offers", (json_int_t)p->offers, "accepted", (json_int_t)p->accepted,
                          "rejected", (json_int_t)p->rejected, "lapsed", (json_int_t)p->lapsed,
                          "ready", (json_int_t)p->ready, "collected", (json_int_t)p->collected,
                          "returned", (json_int_t)p->returned, "conflicts",
                          (json_int_t)p->conflicts, "errors", (json_int_t)p->errors);
    const courier_stats *c = in->couriers;
    if (c)
        json_object_set_new(
            j, "couriers",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "assignments",
                      (json_int_t)c->assignments, "accepted", (json_int_t)c->accepted, "declined",
                      (json_int_t)c->declined, "picked_up", (json_int_t)c->picked_up, "delivered",
                      (json_int_t)c->delivered, "failed", (json_int_t)c->failed, "returned",
                      (json_int_t)c->returned, "locations", (json_int_t)c->locations, "conflicts",
                      (json_int_t)c->conflicts, "errors", (json_int_t)c->errors));
    return j;
}

static json_int_t report_state_n(report_acc *a, const char *state)
{
    return json_integer_value(json_object_get(a->states, state));
}

json_t *report_build(const track *t, const report_input *in)
{
    report_acc a = {.t = t, .in = in, .states = json_object(), .reasons = json_object()};
    track_each_order(t, report_on_order, &a);
    json_t *stages = json_object();
    for (int i = 0; i < ST_N; i++) {
        json_object_set_new(stages, report_stage_names[i], report_stage_json(&a.stage[i]));
        free(a.stage[i].v);
    }
    json_t *stuck = json_array();
    long unsettled = track_unsettled(t, in->ready_final, report_on_stuck, stuck);
    json_t *j = json_pack(
        "{s:s, s:I, s:s, s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, "
        "s:o, s:I, s:o, s:I, s:o}",
        "run_id", in->run_id, "seed", (json_int_t)in->seed, "mode", in->mode, "dispatch_policy",
        in->dispatch_policy ? in->dispatch_policy : "?", "elapsed_s", in->elapsed_s,
        "prescriptions_sent", (json_int_t)in->sent, "produce_failures",
        (json_int_t)in->produce_failures, "orders_seen", (json_int_t)track_order_count(t), "events",
        (json_int_t)track_events(t), "repeated_events", (json_int_t)track_repeats(t), "delivered",
        report_state_n(&a, "DELIVERED"), "collected", report_state_n(&a, "COLLECTED"), "cancelled",
        report_state_n(&a, "CANCELLED"), "returned", report_state_n(&a, "RETURNED"), "unroutable",
        report_state_n(&a, "UNROUTABLE"), "unroutable_by_reason", a.reasons, "states", a.states,
        "stages", stages, "unsettled", (json_int_t)unsettled, "stuck", stuck,
        "special_not_unroutable", (json_int_t)a.special_not_unroutable, "actors",
        report_actors(in));
    return j;
}

/* ---- rendering ---- */

static void report_print_counts(FILE *out, const json_t *s)
{
    static const char *const rows[] = {"prescriptions_sent", "orders_seen", "delivered",
                                       "collected",          "cancelled",   "returned",
                                       "unroutable",         "unsettled"};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        fprintf(out, "  %-28s %8lld\n", rows[i],
                (long long)json_integer_value(json_object_get(s, rows[i])));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(s, "unroutable_by_reason"), k, v)
        fprintf(out, "    unroutable: %-38s %4lld\n", k, (long long)json_integer_value(v));
    fprintf(out, "  current states:");
    json_object_foreach((json_t *)json_object_get(s, "states"), k, v)
        fprintf(out, " %s=%lld", k, (long long)json_integer_value(v));
    fprintf(out, "\n");
}

static void report_print_stages(FILE *out, const json_t *s)
{
    fprintf(out, "\n  %-28s %8s %10s %10s\n", "stage", "orders", "median s", "p95 s");
    for (int i = 0; i < ST_N; i++) {
        const json_t *st = json_object_get(json_object_get(s, "stages"), report_stage_names[i]);
        long long n = json_integer_value(json_object_get(st, "n"));
        if (n == 0) {
            fprintf(out, "  %-28s %8lld %10s %10s\n", report_stage_names[i], n, "-", "-");
            continue;
        }
        fprintf(out, "  %-28s %8lld %10.2f %10.2f\n", report_stage_names[i], n,
                json_number_value(json_object_get(st, "median_s")),
                json_number_value(json_object_get(st, "p95_s")));
    }
}

static void report_print_stuck(FILE *out, const json_t *s)
{
    size_t i;
    const json_t *e;
    const json_t *stuck = json_object_get(s, "stuck");
    if (json_array_size(stuck) == 0)
        return;
    fprintf(out, "\n  not final (first %d):\n", REPORT_STUCK_MAX);
    json_array_foreach(stuck, i, e) fprintf(
        out, "    %-32s %-14s %s\n", json_string_value(json_object_get(e, "prescription_id")),
        json_string_value(json_object_get(e, "order_id")),
        json_string_value(json_object_get(e, "state")));
}

void report_print(FILE *out, const json_t *s)
{
    fprintf(out, "\ncitysim summary: run %s, seed %lld, %s mode, %s dispatch, %.0f s\n",
            json_string_value(json_object_get(s, "run_id")),
            (long long)json_integer_value(json_object_get(s, "seed")),
            json_string_value(json_object_get(s, "mode")),
            json_string_value(json_object_get(s, "dispatch_policy")),
            json_number_value(json_object_get(s, "elapsed_s")));
    report_print_counts(out, s);
    report_print_stages(out, s);
    report_print_stuck(out, s);
    long long bad = json_integer_value(json_object_get(s, "special_not_unroutable"));
    if (bad)
        fprintf(out, "\n  WARNING: %lld special-management orders ended other than UNROUTABLE\n",
                bad);
    fflush(out);
}

int report_write_json(const char *path, const json_t *summary, char *err, size_t errlen)
{
    if (json_dump_file(summary, path, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(12)) !=
        0) {
        snprintf(err, errlen, "cannot write the summary to %s: %s (check the directory exists)",
                 path, strerror(errno));
        return -1;
    }
    return 0;
}
