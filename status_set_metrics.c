/*
 * status_set_metrics.c -- response counters in shared memory and their
 * exposition.  APR only; see status_set_metrics.h.
 *
 * The segment, every offset 64-byte aligned:
 *
 *   header    magic, layout version, size, room, start time, single
 *             counters, fill counts
 *   codes     SS_METRICS_SHARDS x SS_METRICS_NCODES uint64 (substatus 0)
 *   other     SS_METRICS_NCODES uint64 (pairs past the table's room)
 *   pairs     open addressing, key (vhost << 32 | code << 16 | substatus)
 *             + count
 *   cells     one uint64 per source of the configuration
 *   names     open addressing for other sources: a state and a hash per
 *             slot in one array (what a look-up reads), then counts, then
 *             names (read only for published slots)
 *
 * Children of several generations write at once, so every cell is only
 * ever changed by an atomic operation.  A pair is claimed by one
 * compare-and-swap of its key.  A name slot is claimed under the caller's
 * lock and published by a release store of its state once its hash and
 * name are written; published slots never change.  Counts use relaxed
 * order: a scrape needs each cell exact, not a cut across cells at one
 * instant.
 */
#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"

#include "status_set_metrics.h"

#define SS_MAGIC   0x53534d31u  /* "SSM1" */
#define SS_LAYOUT  3u           /* bump whenever the layout changes */
#define SS_LINE    64

#define SS_LOAD(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define SS_ACQUIRE(p)   __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define SS_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define SS_STORE(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define SS_ADD(p, n)    __atomic_fetch_add((p), (n), __ATOMIC_RELAXED)
#define SS_CAS(p, e, d) __atomic_compare_exchange_n((p), (e), (d), 0, \
                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)

typedef struct {
    apr_uint64_t key;         /* 0: free */
    apr_uint64_t count;
} ss_pair_slot_t;

/* A name slot's state and hash, together: one load tells a look-up
 * whether to stop (free), skip (another hash) or compare the name. */
typedef struct {
    apr_uint32_t state;       /* SS_NAME_FREE or SS_NAME_READY */
    apr_uint32_t hash;
} ss_name_head_t;

#define SS_NAME_FREE  0u
#define SS_NAME_READY 1u

struct ss_metrics_t {
    apr_uint32_t magic;
    apr_uint32_t layout;
    apr_uint64_t size;
    apr_uint32_t pairs;         /* room for pairs */
    apr_uint32_t pair_slots;    /* their table, a power of two */
    apr_uint32_t cells;         /* sources of the configuration */
    apr_uint32_t names;         /* room for other sources */
    apr_uint32_t name_slots;    /* their table, a power of two */
    apr_uint32_t pairs_used;
    apr_uint32_t names_used;
    apr_uint32_t pad;
    apr_int64_t start_time;
    apr_uint64_t counters[SS_METRIC_COUNT];
    apr_uint64_t code_other;    /* codes outside 100-999 */
    apr_uint64_t source_other;  /* sources past the room */
    apr_uint64_t off_codes, off_other, off_pairs, off_cells;
    apr_uint64_t off_heads, off_counts, off_names;
};

#ifdef SS_METRICS_TEST
void (*ss_metrics_test_claimed)(ss_metrics_t *m, const char *name);
#endif

static apr_size_t ss_align(apr_size_t n)
{
    return (n + SS_LINE - 1) & ~(apr_size_t)(SS_LINE - 1);
}

/* Twice the room, so that probes stay short. */
static apr_uint32_t ss_slots_for(unsigned room)
{
    apr_uint32_t n = 64;

    while (n < 2u * room + 64u) {
        n <<= 1;
    }
    return n;
}

static apr_size_t ss_layout(ss_metrics_t *m, const ss_metrics_room_t *room)
{
    apr_size_t off = ss_align(sizeof(*m));

    m->pairs = room->pairs;
    m->pair_slots = ss_slots_for(room->pairs);
    m->cells = room->cells;
    m->names = room->names;
    m->name_slots = ss_slots_for(room->names);
    m->off_codes = off;
    off += ss_align(sizeof(apr_uint64_t) * SS_METRICS_NCODES)
           * SS_METRICS_SHARDS;
    m->off_other = off;
    off += ss_align(sizeof(apr_uint64_t) * SS_METRICS_NCODES);
    m->off_pairs = off;
    off += ss_align(sizeof(ss_pair_slot_t) * m->pair_slots);
    m->off_cells = off;
    off += ss_align(sizeof(apr_uint64_t) * (room->cells ? room->cells : 1));
    m->off_heads = off;
    off += ss_align(sizeof(ss_name_head_t) * m->name_slots);
    m->off_counts = off;
    off += ss_align(sizeof(apr_uint64_t) * m->name_slots);
    m->off_names = off;
    off += ss_align((apr_size_t)SS_METRICS_NAME_MAX * m->name_slots);
    m->size = off;
    return off;
}

apr_size_t ss_metrics_size(const ss_metrics_room_t *room)
{
    ss_metrics_t m;

    return ss_layout(&m, room);
}

#define SS_AT(m, off, type) ((type)((char *)(m) + (m)->off))

static apr_uint64_t *ss_codes(const ss_metrics_t *m, unsigned shard)
{
    return (apr_uint64_t *)((char *)m + m->off_codes
        + shard * ss_align(sizeof(apr_uint64_t) * SS_METRICS_NCODES));
}

ss_metrics_t *ss_metrics_init(void *mem, const ss_metrics_room_t *room,
                              apr_time_t now)
{
    ss_metrics_t *m = mem;

    ss_layout(m, room);
    m->start_time = now;
    m->layout = SS_LAYOUT;
    m->magic = SS_MAGIC;
    return m;
}

ss_metrics_t *ss_metrics_check(void *mem, apr_size_t size)
{
    ss_metrics_t *m = mem, want;
    ss_metrics_room_t room;

    if (!m || size < sizeof(*m) || m->magic != SS_MAGIC
        || m->layout != SS_LAYOUT || m->size != size) {
        return NULL;
    }
    ss_metrics_room(m, &room);
    if (ss_layout(&want, &room) != size || want.off_names != m->off_names) {
        return NULL;
    }
    return m;
}

void ss_metrics_room(const ss_metrics_t *m, ss_metrics_room_t *room)
{
    room->pairs = m->pairs;
    room->cells = m->cells;
    room->names = m->names;
}

void ss_metrics_cell_clear(ss_metrics_t *m, unsigned cell)
{
    if (cell < m->cells) {
        SS_STORE(&SS_AT(m, off_cells, apr_uint64_t *)[cell], 0);
    }
}

void ss_metrics_add(ss_metrics_t *m, ss_metric_e which)
{
    SS_ADD(&m->counters[which], 1);
}

/* The slot of pair key, claiming a free one when room is left; NULL when
 * the table is full. */
static ss_pair_slot_t *ss_pair(ss_metrics_t *m, apr_uint64_t key)
{
    ss_pair_slot_t *t = SS_AT(m, off_pairs, ss_pair_slot_t *);
    apr_uint32_t mask = m->pair_slots - 1, n;
    apr_uint32_t i = (apr_uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32)
                     & mask;

    for (n = 0; n < m->pair_slots; n++, i = (i + 1) & mask) {
        apr_uint64_t k = SS_LOAD(&t[i].key), free_key = 0;

        if (k == key) {
            return &t[i];
        }
        if (k != 0) {
            continue;
        }
        if (SS_LOAD(&m->pairs_used) >= m->pairs) {
            return NULL;
        }
        if (SS_CAS(&t[i].key, &free_key, key)) {
            SS_ADD(&m->pairs_used, 1);
            return &t[i];
        }
        if (free_key == key) {
            return &t[i];     /* another thread claimed it for key */
        }
    }
    return NULL;
}

int ss_metrics_reserve(ss_metrics_t *m, int code, int substatus)
{
    if (code < SS_METRICS_CODE_MIN || code > SS_METRICS_CODE_MAX
        || substatus <= 0 || substatus > 65535) {
        return 1;             /* nothing to reserve: counted by code */
    }
    return ss_pair(m, ((apr_uint64_t)code << 16) | (apr_uint64_t)substatus)
           != NULL;
}

static apr_uint32_t ss_hash(const char *s)
{
    apr_uint32_t h = 2166136261u;

    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h;
}

const char *ss_metrics_label(apr_pool_t *p, const char *name)
{
    apr_size_t len = strlen(name), i = 0;
    char *dst = apr_palloc(p, SS_METRICS_NAME_MAX);

    if (len >= SS_METRICS_NAME_MAX) {
        memcpy(dst, "...", 3);
        i = 3;
        name += len - (SS_METRICS_NAME_MAX - 1 - 3);
    }
    for (; *name; name++, i++) {
        unsigned char c = (unsigned char)*name;
        dst[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    dst[i] = '\0';
    return dst;
}

/* Look name up from slot i of its probe sequence, without a lock: the
 * slot index, or -1 at the first free slot (*at: where it stopped). */
static long ss_name_find(const ss_metrics_t *m, const char *name,
                         apr_uint32_t h, apr_uint32_t *at)
{
    const ss_name_head_t *heads = SS_AT(m, off_heads, ss_name_head_t *);
    const char *names = SS_AT(m, off_names, const char *);
    apr_uint32_t mask = m->name_slots - 1, i = h & mask, n;

    for (n = 0; n < m->name_slots; n++, i = (i + 1) & mask) {
        if (SS_ACQUIRE(&heads[i].state) != SS_NAME_READY) {
            *at = i;
            return -1;
        }
        if (heads[i].hash == h
            && !strcmp(names + (apr_size_t)i * SS_METRICS_NAME_MAX, name)) {
            return (long)i;
        }
    }
    *at = m->name_slots;
    return -1;
}

/* The count of source name (already a label), claiming a slot under the
 * lock when it has none; NULL when no room is left. */
static apr_uint64_t *ss_name_count(ss_metrics_t *m, const char *name,
                                   const ss_metrics_lock_t *lock)
{
    ss_name_head_t *heads = SS_AT(m, off_heads, ss_name_head_t *);
    apr_uint64_t *counts = SS_AT(m, off_counts, apr_uint64_t *);
    apr_uint32_t h = ss_hash(name), at;
    long i = ss_name_find(m, name, h, &at);

    if (i >= 0) {
        return &counts[i];
    }
    if (!lock || SS_LOAD(&m->names_used) >= m->names) {
        return NULL;
    }
    if (lock->lock(lock->baton) != 0) {
        return NULL;
    }
    /* Another process may have claimed it since: look again. */
    i = ss_name_find(m, name, h, &at);
    if (i < 0 && at < m->name_slots && SS_LOAD(&m->names_used) < m->names) {
        char *slot = SS_AT(m, off_names, char *)
                     + (apr_size_t)at * SS_METRICS_NAME_MAX;
        heads[at].hash = h;
        memcpy(slot, name, strlen(name) + 1);
#ifdef SS_METRICS_TEST
        if (ss_metrics_test_claimed) {
            ss_metrics_test_claimed(m, name);
        }
#endif
        SS_RELEASE(&heads[at].state, SS_NAME_READY);
        SS_ADD(&m->names_used, 1);
        i = (long)at;
    }
    lock->unlock(lock->baton);
    return i >= 0 ? &counts[i] : NULL;
}

#if defined(__GNUC__)
#define SS_NOINLINE __attribute__((noinline))
#else
#define SS_NOINLINE
#endif

static SS_NOINLINE void ss_count_slow(ss_metrics_t *m, unsigned shard,
                                      unsigned vhost, int code,
                                      int substatus, const ss_series_t *src,
                                      const ss_metrics_lock_t *lock);

void ss_metrics_count(ss_metrics_t *m, unsigned shard, unsigned vhost,
                      int code, int substatus, const ss_series_t *src,
                      const ss_metrics_lock_t *lock)
{
    /* Most responses: a code, no substatus, no source; no stack frame. */
    if (substatus <= 0 && !src && !vhost && code >= SS_METRICS_CODE_MIN
        && code <= SS_METRICS_CODE_MAX) {
        SS_ADD(&ss_codes(m, shard % SS_METRICS_SHARDS)
                   [code - SS_METRICS_CODE_MIN], 1);
        return;
    }
    ss_count_slow(m, shard, vhost, code, substatus, src, lock);
}

void ss_metrics_count_code(ss_metrics_t *m, unsigned shard, int code)
{
    if (code >= SS_METRICS_CODE_MIN && code <= SS_METRICS_CODE_MAX) {
        SS_ADD(&ss_codes(m, shard % SS_METRICS_SHARDS)
                   [code - SS_METRICS_CODE_MIN], 1);
    }
    else {
        SS_ADD(&m->code_other, 1);
    }
}

static void ss_count_slow(ss_metrics_t *m, unsigned shard, unsigned vhost,
                          int code, int substatus, const ss_series_t *src,
                          const ss_metrics_lock_t *lock)
{
    if (substatus < 0) {
        substatus = 0;
    }
    if (code < SS_METRICS_CODE_MIN || code > SS_METRICS_CODE_MAX) {
        SS_ADD(&m->code_other, 1);
    }
    else if (substatus == 0 && !vhost) {
        SS_ADD(&ss_codes(m, shard % SS_METRICS_SHARDS)
                   [code - SS_METRICS_CODE_MIN], 1);
    }
    else {
        ss_pair_slot_t *slot = ss_pair(m, ((apr_uint64_t)vhost << 32)
                                          | ((apr_uint64_t)code << 16)
                                          | (apr_uint64_t)substatus);
        if (slot) {
            SS_ADD(&slot->count, 1);
        }
        else {
            SS_ADD(&SS_AT(m, off_other, apr_uint64_t *)
                       [code - SS_METRICS_CODE_MIN], 1);
            SS_ADD(&m->counters[SS_METRIC_OVERFLOW], 1);
        }
    }
    if (src) {
        apr_uint64_t *count = NULL;
        if (src->cell >= 0 && (unsigned)src->cell < m->cells) {
            count = &SS_AT(m, off_cells, apr_uint64_t *)[src->cell];
        }
        else if (src->cell == -1) {
            count = ss_name_count(m, src->label, lock);
        }
        if (count) {
            SS_ADD(count, 1);
        }
        else {
            SS_ADD(&m->source_other, 1);
            SS_ADD(&m->counters[SS_METRIC_OVERFLOW], 1);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Reading                                                            */

static int ss_row_cmp(const void *a, const void *b)
{
    const ss_metrics_row_t *x = a, *y = b;
    /* rows without a host first, then by host; code 0 ("other") last;
     * within a code, "other" (-1) last. */
    unsigned cx = x->code ? (unsigned)x->code : 100000u;
    unsigned cy = y->code ? (unsigned)y->code : 100000u;
    unsigned sx = (unsigned)x->substatus, sy = (unsigned)y->substatus;

    if (!x->vhost != !y->vhost) {
        return x->vhost ? 1 : -1;
    }
    if (x->vhost && strcmp(x->vhost, y->vhost)) {
        return strcmp(x->vhost, y->vhost);
    }
    if (cx != cy) {
        return cx < cy ? -1 : 1;
    }
    return sx < sy ? -1 : sx > sy;
}

static int ss_source_cmp(const void *a, const void *b)
{
    return strcmp(((const ss_metrics_source_t *)a)->name,
                  ((const ss_metrics_source_t *)b)->name);
}

static void ss_push_row(apr_array_header_t *rows, int code, int sub,
                        apr_uint64_t count)
{
    ss_metrics_row_t *row = apr_array_push(rows);

    row->vhost = NULL;
    row->code = code;
    row->substatus = sub;
    row->count = count;
}

/* Add a source row; rows of one label (a .htaccess rule named as one of
 * the configuration's) are summed after sorting. */
static void ss_push_source(apr_array_header_t *a, const char *name,
                           apr_uint64_t count)
{
    ss_metrics_source_t *src = apr_array_push(a);

    src->name = name;
    src->count = count;
}

ss_metrics_snap_t *ss_metrics_snapshot(const ss_metrics_t *m,
                                       const apr_array_header_t *conf,
                                       const apr_array_header_t *vhosts,
                                       apr_pool_t *p)
{
    ss_metrics_snap_t *s = apr_pcalloc(p, sizeof(*s));
    const ss_pair_slot_t *pt = SS_AT(m, off_pairs, const ss_pair_slot_t *);
    const ss_name_head_t *heads = SS_AT(m, off_heads, const ss_name_head_t *);
    const apr_uint64_t *cells = SS_AT(m, off_cells, const apr_uint64_t *);
    const apr_uint64_t *counts = SS_AT(m, off_counts, const apr_uint64_t *);
    const char *names = SS_AT(m, off_names, const char *);
    const apr_uint64_t *other = SS_AT(m, off_other, const apr_uint64_t *);
    unsigned char *shown;
    apr_uint32_t i;
    unsigned c, k;
    int n, j;

    s->rows = apr_array_make(p, 64, sizeof(ss_metrics_row_t));
    s->sources = apr_array_make(p, 16, sizeof(ss_metrics_source_t));
    for (c = 0; c < SS_METRICS_NCODES; c++) {
        apr_uint64_t sum = 0, o = SS_LOAD(&other[c]);
        for (k = 0; k < SS_METRICS_SHARDS; k++) {
            sum += SS_LOAD(&ss_codes(m, k)[c]);
        }
        if (sum) {
            ss_push_row(s->rows, (int)c + SS_METRICS_CODE_MIN, 0, sum);
        }
        if (o) {
            ss_push_row(s->rows, (int)c + SS_METRICS_CODE_MIN, -1, o);
        }
    }
    if (SS_LOAD(&m->code_other)) {
        ss_push_row(s->rows, 0, 0, SS_LOAD(&m->code_other));
    }
    /* Every pair in the table, reserved ones with 0 too. */
    for (i = 0; i < m->pair_slots; i++) {
        apr_uint64_t key = SS_LOAD(&pt[i].key);
        unsigned vh = (unsigned)(key >> 32);
        if (key) {
            ss_push_row(s->rows, (int)((key >> 16) & 0xffff),
                        (int)(key & 0xffff), SS_LOAD(&pt[i].count));
            ((ss_metrics_row_t *)s->rows->elts)[s->rows->nelts - 1].vhost =
                vh && vhosts && (int)vh < vhosts->nelts
                ? APR_ARRAY_IDX(vhosts, vh, const char *)
                : vh ? "" : NULL;    /* a host this configuration
                                        * does not know; never a name */
        }
    }
    qsort(s->rows->elts, s->rows->nelts, sizeof(ss_metrics_row_t),
          ss_row_cmp);
    /* One row per label set (an old child shows the hosts of a newer
     * configuration as vhost=""). */
    for (n = 0, j = 0; j < s->rows->nelts; j++) {
        ss_metrics_row_t *r = (ss_metrics_row_t *)s->rows->elts;
        if (n && !ss_row_cmp(&r[n - 1], &r[j])) {
            r[n - 1].count += r[j].count;
        }
        else {
            r[n++] = r[j];
        }
    }
    s->rows->nelts = n;

    /* The configuration's sources, each cell once. */
    shown = apr_pcalloc(p, m->cells + 1);
    for (j = 0; conf && j < conf->nelts; j++) {
        const ss_series_t *src = APR_ARRAY_IDX(conf, j, const ss_series_t *);
        if (src->cell >= 0 && (unsigned)src->cell < m->cells
            && !shown[src->cell]) {
            shown[src->cell] = 1;
            ss_push_source(s->sources, src->label,
                           SS_LOAD(&cells[src->cell]));
            s->sources_used++;
        }
    }
    for (i = 0; i < m->name_slots; i++) {
        if (SS_ACQUIRE(&heads[i].state) == SS_NAME_READY) {
            ss_push_source(s->sources, apr_pstrdup(p, names
                           + (apr_size_t)i * SS_METRICS_NAME_MAX),
                           SS_LOAD(&counts[i]));
            s->sources_used++;
        }
    }
    qsort(s->sources->elts, s->sources->nelts, sizeof(ss_metrics_source_t),
          ss_source_cmp);
    for (n = 0, j = 0; j < s->sources->nelts; j++) {
        ss_metrics_source_t *a = (ss_metrics_source_t *)s->sources->elts;
        if (n && !strcmp(a[n - 1].name, a[j].name)) {
            a[n - 1].count += a[j].count;
        }
        else {
            a[n++] = a[j];
        }
    }
    s->sources->nelts = n;
    if (SS_LOAD(&m->source_other)) {
        ss_push_source(s->sources, "other", SS_LOAD(&m->source_other));
    }
    for (k = 0; k < SS_METRIC_COUNT; k++) {
        s->counters[k] = SS_LOAD(&m->counters[k]);
    }
    s->start_time = m->start_time;
    s->pairs = m->pairs;
    s->source_room = m->cells + m->names;
    s->pairs_used = SS_LOAD(&m->pairs_used);
    return s;
}
