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
 *   - one cell per source the configuration names (a rule, the API, a
 *     StatusSetFromHeader header), handed out by the parent: a source is
 *     counted by its cell's index, with no look-up, and the cell's name
 *     lives in the configuration, not in the segment;
 *   - a table of sources that the configuration did not name (rules of
 *     .htaccess files, read by the children), looked up by name without a
 *     lock; a new name is claimed under the caller's lock (a process-shared
 *     mutex in httpd), once.  A slot is published with a release store
 *     after its name is written, and never changes again: a reader that
 *     sees it published (acquire) reads a whole name, and a writer that
 *     dies before publishing leaves a free slot, not a stalled one.
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
    SS_METRIC_TRACE_DROPPED,    /* trace records not written */
    SS_METRIC_COUNT
} ss_metric_e;

/* A source as the configuration knows it. */
typedef struct {
    const char *label;  /* name=, FILE:LINE, api or header:NAME, made
                         * printable by ss_metrics_label() */
    int cell;           /* its cell, given by the parent; -1: none, counted
                         * by label in the table of other sources (rules
                         * of .htaccess files); SS_SERIES_OTHER: no room,
                         * counted as "other" */
} ss_series_t;

#define SS_SERIES_OTHER (-2)

/* The room a segment is made with. */
typedef struct {
    unsigned pairs;     /* (code, substatus) pairs */
    unsigned cells;     /* sources of the configuration */
    unsigned names;     /* other sources, by name */
} ss_metrics_room_t;

/* The lock of the claim path (a process-shared mutex in httpd). */
typedef struct {
    int (*lock)(void *baton);       /* 0 when taken */
    void (*unlock)(void *baton);
    void *baton;
} ss_metrics_lock_t;

/* Bytes a segment with that room needs. */
apr_size_t ss_metrics_size(const ss_metrics_room_t *room);

/* Lay out a segment of ss_metrics_size(room) bytes at mem, which must be
 * zeroed (anonymous shared memory is): nothing else is written, so pages
 * no count reaches are never made resident. */
ss_metrics_t *ss_metrics_init(void *mem, const ss_metrics_room_t *room,
                              apr_time_t now);

/* The segment at mem if it has this code's layout (magic, version and
 * size), else NULL: a module of another layout never misreads it. */
ss_metrics_t *ss_metrics_check(void *mem, apr_size_t size);

void ss_metrics_room(const ss_metrics_t *m, ss_metrics_room_t *room);

/* Zero a source cell before it is handed to another source (the parent,
 * once no child that counted into it is left). */
void ss_metrics_cell_clear(ss_metrics_t *m, unsigned cell);

/* A label as kept: printable ASCII (any other byte becomes '?'), at most
 * SS_METRICS_NAME_MAX - 1 bytes (a long one keeps its end, where the line
 * number is). */
const char *ss_metrics_label(apr_pool_t *p, const char *name);

/* Count one final response.  vhost: 0, or the index of the virtual host
 * that answered (StatusSetMetrics On vhost), which then counts in the
 * table of pairs.  substatus 0 counts by code alone; src NULL
 * when no setter acted.  shard is any number (taken modulo).  lock is
 * taken only to claim a slot for a new label. */
void ss_metrics_count(ss_metrics_t *m, unsigned shard, unsigned vhost,
                      int code, int substatus, const ss_series_t *src,
                      const ss_metrics_lock_t *lock);

/* Count a response of code alone (substatus 0, no source, no host): what
 * ss_metrics_count() does for it, without its arguments. */
void ss_metrics_count_code(ss_metrics_t *m, unsigned shard, int code);

/* Make room for a configured pair so that it is shown, with 0, before its
 * first response; 0 when the table is full. */
int ss_metrics_reserve(ss_metrics_t *m, int code, int substatus);

void ss_metrics_add(ss_metrics_t *m, ss_metric_e which);

/* A consistent-enough copy for exposition: each cell is read once. */
typedef struct {
    const char *vhost;        /* NULL: no host label */
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
    apr_array_header_t *sources;  /* ss_metrics_source_t, by name, each
                                   * once; "other" last when any */
    apr_uint64_t counters[SS_METRIC_COUNT];
    apr_time_t start_time;
    unsigned pairs, pairs_used, source_room, sources_used;
} ss_metrics_snap_t;

/* conf: the ss_series_t * of the configuration that reads (their cells
 * and labels), or NULL; vhosts: the names of the hosts by index (const
 * char *, index 0 unused), or NULL. */
ss_metrics_snap_t *ss_metrics_snapshot(const ss_metrics_t *m,
                                       const apr_array_header_t *conf,
                                       const apr_array_header_t *vhosts,
                                       apr_pool_t *p);

#ifdef SS_METRICS_TEST
/* Unit tests only: called while the claim lock is held and the slot is
 * written but not yet published, as if its writer were descheduled (or
 * killed) there. */
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
