/*
 * Unit test driver for the counters (status_set_metrics.c, built with
 * -DSS_METRICS_TEST): tests/test_metrics_unit.py runs each case and reads
 * the JSON exposition it prints.
 *
 *   metrics_unit race     a source slot claimed and not yet published when
 *                         another writer counts the same source: that one
 *                         counts as "other", and the source is listed once
 *   metrics_unit threads  8 threads counting codes, pairs and sources into
 *                         one segment at once: every count is there
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "status_set_metrics.h"

#define THREADS 8
#define ROUNDS 20000

static ss_metrics_t *seg;

static void print(apr_pool_t *p)
{
    apr_size_t len;
    char *out = ss_metrics_render(ss_metrics_snapshot(seg, p),
                                  SS_FORMAT_JSON, p, &len);
    fwrite(out, 1, len, stdout);
}

static void nested(ss_metrics_t *m, const char *name)
{
    ss_metrics_test_claimed = NULL;
    ss_metrics_count(m, 1, 403, 0, name);
}

static void *worker(void *arg)
{
    unsigned id = (unsigned)(apr_uintptr_t)arg, i;
    char name[32];

    for (i = 0; i < ROUNDS; i++) {
        snprintf(name, sizeof(name), "site.conf:%u", i % 50);
        ss_metrics_count(seg, id, 200, 0, NULL);
        ss_metrics_count(seg, id, 404, 1 + (int)(i % 30), name);
        ss_metrics_count(seg, id, 503, 0, "api");
    }
    return NULL;
}

int main(int argc, char **argv)
{
    apr_pool_t *p;
    pthread_t t[THREADS];
    unsigned pairs = 64, sources = 64, i;

    if (argc != 2) {
        return 2;
    }
    apr_initialize();
    apr_pool_create(&p, NULL);
    seg = ss_metrics_init(calloc(1, ss_metrics_size(pairs, sources)),
                          pairs, sources, 0);
    if (!strcmp(argv[1], "race")) {
        ss_metrics_test_claimed = nested;
        ss_metrics_count(seg, 0, 403, 0, "a.conf:7");
    }
    else if (!strcmp(argv[1], "threads")) {
        for (i = 0; i < THREADS; i++) {
            pthread_create(&t[i], NULL, worker, (void *)(apr_uintptr_t)i);
        }
        for (i = 0; i < THREADS; i++) {
            pthread_join(t[i], NULL);
        }
    }
    else {
        return 2;
    }
    print(p);
    return 0;
}
