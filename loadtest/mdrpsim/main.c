/* mdrp: replays one MDRP benchmark instance in simulated time with the
 * dispatcher's policy (common/policy.h), writes the three solution files to
 * OUT_DIR and prints the measures (plus OUT_DIR/metrics.tsv for mdrp-all).
 *
 *   mdrp [--policy greedy|batch] [--round MIN] [--commit MIN]
 *        [--max-bundle N] [--candidates K] INSTANCE_DIR OUT_DIR
 *
 * Exit 0, 1 when the run broke a rule (a policy bug), 2 on a usage or
 * input error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "instance.h"
#include "report.h"
#include "sim.h"
#include "solution.h"

typedef struct mdrp_args {
    mdrp_options opt;
    const char *instance, *out;
} mdrp_args;

static int mdrp_usage(void)
{
    fprintf(stderr,
            "usage: mdrp [--policy greedy|batch] [--round MIN] [--commit MIN] "
            "[--max-bundle 1-%d] [--candidates K] INSTANCE_DIR OUT_DIR\n",
            POLICY_BUNDLE_MAX);
    return 2;
}

static int mdrp_number(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int mdrp_option(mdrp_args *a, const char *name, const char *val)
{
    long v;
    if (strcmp(name, "--policy") == 0) {
        if (strcmp(val, "greedy") == 0)
            a->opt.kind = POLICY_GREEDY;
        else if (strcmp(val, "batch") == 0)
            a->opt.kind = POLICY_BATCH;
        else
            return -1;
        return 0;
    }
    if (strcmp(name, "--round") == 0 && !mdrp_number(val, 1, 60, &v))
        a->opt.round = v;
    else if (strcmp(name, "--commit") == 0 && !mdrp_number(val, 0, 600, &v))
        a->opt.commit = v;
    else if (strcmp(name, "--max-bundle") == 0 && !mdrp_number(val, 1, POLICY_BUNDLE_MAX, &v))
        a->opt.max_bundle = (int)v;
    else if (strcmp(name, "--candidates") == 0 && !mdrp_number(val, 1, 64, &v))
        a->opt.candidates = (int)v;
    else
        return -1;
    return 0;
}

static int mdrp_parse(int argc, char **argv, mdrp_args *a)
{
    *a = (mdrp_args){.opt = {POLICY_BATCH, 1, 0, 3, 30}};
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2)
        if (mdrp_option(a, argv[i], argv[i + 1]))
            return -1;
    if (argc - i != 2)
        return -1;
    a->instance = argv[i];
    a->out = argv[i + 1];
    return 0;
}

static int mdrp_finish(const mdrp_sim *s, const char *out)
{
    char err[512], path[4096];
    mdrp_record rec = mdrp_sim_record(s);
    mdrp_metrics m;
    if (mdrp_solution_write(&rec, out, err, sizeof(err)) || mdrp_metrics_compute(&rec, &m)) {
        fprintf(stderr, "mdrp: %s\n", err);
        return 2;
    }
    mdrp_metrics_print(&m, stdout);
    snprintf(path, sizeof(path), "%s/metrics.tsv", out);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "mdrp: cannot write %s\n", path);
        return 2;
    }
    mdrp_metrics_tsv(&m, f);
    return fclose(f) ? 2 : 0;
}

int main(int argc, char **argv)
{
    mdrp_args a;
    char err[512];
    if (mdrp_parse(argc, argv, &a))
        return mdrp_usage();
    if (mkdir(a.out, 0777) && errno != EEXIST) {
        fprintf(stderr, "mdrp: cannot create %s: %s\n", a.out, strerror(errno));
        return 2;
    }
    mdrp_instance *in = mdrp_instance_new(a.instance, err, sizeof(err));
    if (!in) {
        fprintf(stderr, "mdrp: %s\n", err);
        return 2;
    }
    mdrp_sim *s = mdrp_sim_new(in, &a.opt);
    int rc = s ? 0 : 2;
    if (s && mdrp_sim_run(s, err, sizeof(err))) {
        fprintf(stderr, "mdrp: %s\n", err);
        rc = 1;
    }
    if (rc == 0)
        rc = mdrp_finish(s, a.out);
    mdrp_sim_free(s);
    mdrp_instance_free(in);
    return rc;
}
