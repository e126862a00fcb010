/*
 * status_set_metrics.h -- response counters in one shared segment, and
 * their exposition (Prometheus text 0.0.4, OpenMetrics 1.0, JSON).
 *
 * APR only: the module makes the segment (anonymous shared memory in the
 * parent, kept across graceful restarts) and counts into it from every
 * child; the unit tests and benchmarks use plain memory.  Counting is a
 * few relaxed atomic additions, with no lock and no allocation:
 *
 *   - one cell per code 100-999 for responses without a substatus, in
 *     SS_METRICS_SHARDS copies so that threads do not fight over the
 *     cache line of "200"; a read sums them;
 *   - a table of (code, substatus) pairs with room for a fixed number
 *     (the configured pairs plus StatusSetMetricsCapacity); a pair past
 *     it counts in its code's "other" cell and in the overflow counter;
 *   - a table of sources (FILE:LINE of a rule, api, header:NAME) of the
 *     same size, past which a source counts as "other".
 *
 * Labels come only from numbers and from source names the configuration
 * made: never from a phrase, an error text, a URL or a host.
 */
#ifndef STATUS_SET_METRICS_H
#define STATUS_SET_METRICS_H

#include "apr.h"
#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_time.h"

#define SS_METRICS_CODE_MIN 100
#define SS_METRICS_CODE_MAX 999
#define SS_METRICS_NCODES (SS_METRICS_CODE_MAX - SS_METRICS_CODE_MIN + 1)
#define SS_METRICS_SHARDS 8
#define SS_METRICS_NAME_MAX 240        /* bytes of a source name, NUL too */
#define SS_METRICS_CAPACITY_MAX 65536
#define SS_METRICS_ROOM_MAX (2 * SS_METRICS_CAPACITY_MAX)

typedef struct ss_metrics_t ss_metrics_t;

/* Single counters. */
typedef enum {
    SS_METRIC_HEADER_REJECTED,  /* StatusSetFromHeader values ignored */
    SS_METRIC_API_REFUSED,      /* ss_set_status() calls refused */
    SS_METRIC_OVERFLOW,         /* counted in an "other" cell */
    SS_METRIC_TRACE_DROPPED,    /* trace records past StatusSetTraceLimit */
    SS_METRIC_COUNT
} ss_metric_e;

/* Bytes a segment with room for pairs (code, substatus) pairs and sources
 * sources needs. */
apr_size_t ss_metrics_size(unsigned pairs, unsigned sources);

/* Lay out a zeroed segment of ss_metrics_size(pairs, sources) bytes at
 * mem. */
ss_metrics_t *ss_metrics_init(void *mem, unsigned pairs, unsigned sources,
                              apr_time_t now);

/* Zero every count and forget every pair and source (a full restart). */
void ss_metrics_reset(ss_metrics_t *m, apr_time_t now);

unsigned ss_metrics_pairs(const ss_metrics_t *m);

/* Count one final response.  substatus 0 counts by code alone; source
 * NULL when no setter acted.  shard is any number (taken modulo). */
void ss_metrics_count(ss_metrics_t *m, unsigned shard, int code,
                      int substatus, const char *source);

/* Make room for a configured pair so that it is shown, with 0, before its
 * first response; 0 when the table is full. */
int ss_metrics_reserve(ss_metrics_t *m, int code, int substatus);

/* The same for a source name; 0 when no room was left. */
int ss_metrics_reserve_source(ss_metrics_t *m, const char *source);

void ss_metrics_add(ss_metrics_t *m, ss_metric_e which);

/* A consistent-enough copy for exposition: each cell is read once. */
typedef struct {
    int code;                 /* 0: a code outside 100-999 */
    int substatus;            /* -1: "other" */
    apr_uint64_t count;
} ss_metrics_row_t;

typedef struct {
    const char *name;
    apr_uint64_t count;
} ss_metrics_source_t;

typedef struct {
    apr_array_header_t *rows;     /* ss_metrics_row_t, by code, substatus */
    apr_array_header_t *sources;  /* ss_metrics_source_t, by name; "other"
                                   * last when any */
    apr_uint64_t counters[SS_METRIC_COUNT];
    apr_time_t start_time;
    unsigned pairs, pairs_used, source_room, sources_used;
} ss_metrics_snap_t;

ss_metrics_snap_t *ss_metrics_snapshot(const ss_metrics_t *m, apr_pool_t *p);

#ifdef SS_METRICS_TEST
/* Unit tests only: called while a source slot is claimed and not yet
 * published, as if its writer were descheduled there. */
extern void (*ss_metrics_test_claimed)(ss_metrics_t *m, const char *name);
#endif

typedef enum {
    SS_FORMAT_PROMETHEUS,
    SS_FORMAT_OPENMETRICS,
    SS_FORMAT_JSON
} ss_format_e;

/* The format an Accept header asks for (OpenMetrics when it lists
 * application/openmetrics-text with q > 0, else Prometheus text). */
ss_format_e ss_metrics_format_for(const char *accept);

const char *ss_metrics_content_type(ss_format_e format);

/* The exposition of snap, allocated from p. */
char *ss_metrics_render(const ss_metrics_snap_t *snap, ss_format_e format,
                        apr_pool_t *p, apr_size_t *len);

#endif /* STATUS_SET_METRICS_H */
