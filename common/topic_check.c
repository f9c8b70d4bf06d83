/* topic_check.c - start-up check of a service's topics (see topic_check.h). */
#include "topic_check.h"
#include "mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOPIC_CHECK_TIMEOUT_MS 5000 /* one metadata request */
#define TOPIC_CHECK_EVERY_MS 2000   /* between requests while a topic is missing */
#define TOPIC_CHECK_MAX 16

struct topic_check {
    kafka_producer *kp;
    const char *topics[TOPIC_CHECK_MAX + 1];
    char *copies[TOPIC_CHECK_MAX];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int ok;
    char why[256];
};

static int topic_check_sleep(topic_check *tc, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&tc->mu);
    while (!tc->stop && pthread_cond_timedwait(&tc->cv, &tc->mu, &until) == 0)
        ;
    int stop = tc->stop;
    pthread_mutex_unlock(&tc->mu);
    return stop;
}

static void *topic_check_run(void *arg)
{
    topic_check *tc = arg;
    char missing[200], why[256];
    do {
        int rc = kafka_producer_topics_missing(tc->kp, tc->topics, missing, sizeof(missing),
                                               TOPIC_CHECK_TIMEOUT_MS);
        if (rc == 1)
            snprintf(why, sizeof(why), "topic %s does not exist: create it (docs/operations.md)",
                     missing);
        else if (rc == 2)
            snprintf(why, sizeof(why), "topic %s (docs/operations.md)", missing);
        else if (rc < 0)
            snprintf(why, sizeof(why), "topics not checked yet: %s", missing);
        pthread_mutex_lock(&tc->mu);
        tc->ok = rc == 0;
        snprintf(tc->why, sizeof(tc->why), "%s", rc == 0 ? "" : why);
        pthread_mutex_unlock(&tc->mu);
        if (rc == 0)
            break;
    } while (!topic_check_sleep(tc, TOPIC_CHECK_EVERY_MS));
    return NULL;
}

topic_check *topic_check_start(kafka_producer *kp, const char *const *topics, size_t n)
{
    if (n > TOPIC_CHECK_MAX)
        return NULL;
    topic_check *tc = xcalloc(1, sizeof(*tc));
    tc->kp = kp;
    for (size_t i = 0; i < n; i++)
        tc->topics[i] = tc->copies[i] = xstrdup(topics[i]);
    snprintf(tc->why, sizeof(tc->why), "topics not checked yet");
    pthread_mutex_init(&tc->mu, NULL);
    pthread_cond_init(&tc->cv, NULL);
    if (pthread_create(&tc->thread, NULL, topic_check_run, tc) != 0) {
        tc->stop = -1; /* no thread to join */
        topic_check_free(tc);
        return NULL;
    }
    return tc;
}

int topic_check_ok(topic_check *tc, char *why, size_t len)
{
    pthread_mutex_lock(&tc->mu);
    int ok = tc->ok;
    if (!ok)
        snprintf(why, len, "%s", tc->why);
    pthread_mutex_unlock(&tc->mu);
    return ok;
}

void topic_check_free(topic_check *tc)
{
    if (!tc)
        return;
    if (tc->stop != -1) {
        pthread_mutex_lock(&tc->mu);
        tc->stop = 1;
        pthread_cond_signal(&tc->cv);
        pthread_mutex_unlock(&tc->mu);
        pthread_join(tc->thread, NULL);
    }
    pthread_mutex_destroy(&tc->mu);
    pthread_cond_destroy(&tc->cv);
    for (size_t i = 0; i < TOPIC_CHECK_MAX; i++)
        free(tc->copies[i]);
    free(tc);
}
