/*
 * status_set_metrics.c -- response counters in shared memory and their
 * exposition.  APR only; see status_set_metrics.h.
 *
 * The segment, every offset 64-byte aligned:
 *
 *   header    sizes, start time, single counters, fill counts
 *   codes     SS_METRICS_SHARDS x SS_METRICS_NCODES uint64 (substatus 0)
 *   other     SS_METRICS_NCODES uint64 (pairs past the table's room)
 *   pairs     open addressing, key (code << 16 | substatus) + count
 *   sources   open addressing, state + hash + count + name
 *
 * Children of several generations write at once, so every cell is only
 * ever changed by an atomic operation, and a slot of a table is claimed by
 * a compare-and-swap before it is filled in.  Counts use relaxed order: a
 * scrape needs each cell exact, not a cut across cells at one instant.
 */
#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"

#include "status_set_metrics.h"

#define SS_MAGIC  0x53534d31u  /* "SSM1" */
#define SS_LINE   64

#define SS_LOAD(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define SS_ADD(p, n)    __atomic_fetch_add((p), (n), __ATOMIC_RELAXED)
#define SS_CAS(p, e, d) __atomic_compare_exchange_n((p), (e), (d), 0, \
                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)

typedef struct {
    apr_uint32_t key;         /* 0: free */
    apr_uint32_t pad;
    apr_uint64_t count;
} ss_pair_slot_t;

#define SS_SLOT_FREE  0u
#define SS_SLOT_BUSY  1u      /* claimed, name being written */
#define SS_SLOT_READY 2u

typedef struct {
    apr_uint32_t state;
    apr_uint32_t hash;
    apr_uint64_t count;
    char name[SS_METRICS_NAME_MAX];
} ss_source_slot_t;

struct ss_metrics_t {
    apr_uint32_t magic;
    apr_uint32_t pairs;         /* room for pairs */
    apr_uint32_t sources;       /* room for sources */
    apr_uint32_t slots;         /* table size, a power of two */
    apr_uint32_t pairs_used;
    apr_uint32_t sources_used;
    apr_uint32_t pad;
    apr_int64_t start_time;
    apr_uint64_t counters[SS_METRIC_COUNT];
    apr_uint64_t code_other;    /* codes outside 100-999 */
    apr_uint64_t source_other;  /* sources past the table's room */
    apr_size_t off_codes, off_other, off_pairs, off_sources;
};

#ifdef SS_METRICS_TEST
void (*ss_metrics_test_claimed)(ss_metrics_t *m, const char *name);
#endif

static apr_size_t ss_align(apr_size_t n)
{
    return (n + SS_LINE - 1) & ~(apr_size_t)(SS_LINE - 1);
}

/* Twice the room, so that probes stay short and racing inserts past the
 * room (each checks the fill count before it claims) still find a slot. */
static apr_uint32_t ss_slots_for(unsigned pairs)
{
    apr_uint32_t n = 64;

    while (n < 2u * pairs + 64u) {
        n <<= 1;
    }
    return n;
}

static apr_size_t ss_layout(ss_metrics_t *m, unsigned pairs,
                            unsigned sources)
{
    apr_uint32_t slots = ss_slots_for(pairs > sources ? pairs : sources);
    apr_size_t off = ss_align(sizeof(*m));

    m->off_codes = off;
    off += ss_align(sizeof(apr_uint64_t) * SS_METRICS_NCODES)
           * SS_METRICS_SHARDS;
    m->off_other = off;
    off += ss_align(sizeof(apr_uint64_t) * SS_METRICS_NCODES);
    m->off_pairs = off;
    off += ss_align(sizeof(ss_pair_slot_t) * slots);
    m->off_sources = off;
    off += ss_align(sizeof(ss_source_slot_t) * slots);
    m->pairs = pairs;
    m->sources = sources;
    m->slots = slots;
    return off;
}

apr_size_t ss_metrics_size(unsigned pairs, unsigned sources)
{
    ss_metrics_t m;

    return ss_layout(&m, pairs, sources);
}

static apr_uint64_t *ss_codes(const ss_metrics_t *m, unsigned shard)
{
    return (apr_uint64_t *)((char *)m + m->off_codes
        + shard * ss_align(sizeof(apr_uint64_t) * SS_METRICS_NCODES));
}

static apr_uint64_t *ss_other(const ss_metrics_t *m)
{
    return (apr_uint64_t *)((char *)m + m->off_other);
}

static ss_pair_slot_t *ss_pair_slots(const ss_metrics_t *m)
{
    return (ss_pair_slot_t *)((char *)m + m->off_pairs);
}

static ss_source_slot_t *ss_source_slots(const ss_metrics_t *m)
{
    return (ss_source_slot_t *)((char *)m + m->off_sources);
}

ss_metrics_t *ss_metrics_init(void *mem, unsigned pairs, unsigned sources,
                              apr_time_t now)
{
    ss_metrics_t *m = mem;

    memset(m, 0, sizeof(*m));
    memset(m, 0, ss_layout(m, pairs, sources));
    ss_layout(m, pairs, sources);
    m->magic = SS_MAGIC;
    m->start_time = now;
    return m;
}

/* Only while no child runs (the parent, before a full restart's MPM). */
void ss_metrics_reset(ss_metrics_t *m, apr_time_t now)
{
    ss_metrics_init(m, m->pairs, m->sources, now);
}

unsigned ss_metrics_pairs(const ss_metrics_t *m)
{
    return m->pairs;
}

void ss_metrics_add(ss_metrics_t *m, ss_metric_e which)
{
    SS_ADD(&m->counters[which], 1);
}

/* The slot of pair key, claiming a free one when room is left; NULL when
 * the table is full. */
static ss_pair_slot_t *ss_pair(ss_metrics_t *m, apr_uint32_t key)
{
    ss_pair_slot_t *t = ss_pair_slots(m);
    apr_uint32_t mask = m->slots - 1, i = (key * 2654435761u) & mask, n;

    for (n = 0; n < m->slots; n++, i = (i + 1) & mask) {
        apr_uint32_t k = SS_LOAD(&t[i].key), free_key = 0;

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
    return ss_pair(m, ((apr_uint32_t)code << 16) | (apr_uint32_t)substatus)
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

/* A source's name as kept: printable ASCII (any other byte becomes '?',
 * so that every exposition format can carry it with two escapes), and a
 * long one keeps its end, where the line number is. */
static void ss_clean_name(char *dst, const char *src)
{
    apr_size_t len = strlen(src), i = 0;

    if (len >= SS_METRICS_NAME_MAX) {
        memcpy(dst, "...", 3);
        i = 3;
        src += len - (SS_METRICS_NAME_MAX - 1 - 3);
    }
    for (; *src; src++, i++) {
        unsigned char c = (unsigned char)*src;
        dst[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    dst[i] = '\0';
}

/* The slot of source name (already clean), as ss_pair(). */
static ss_source_slot_t *ss_source(ss_metrics_t *m, const char *name)
{
    ss_source_slot_t *t = ss_source_slots(m);
    apr_uint32_t h = ss_hash(name), mask = m->slots - 1, i = h & mask, n;

    for (n = 0; n < m->slots; n++, i = (i + 1) & mask) {
        apr_uint32_t st = SS_LOAD(&t[i].state), spin;

        /* A slot being written is a moment from ready.  If its writer is
         * slow (descheduled, or died), count as "other" rather than look
         * further: the slot may be getting this very name, and a second
         * slot for it would show one source twice. */
        for (spin = 0; st == SS_SLOT_BUSY && spin < 100000; spin++) {
            st = __atomic_load_n(&t[i].state, __ATOMIC_ACQUIRE);
        }
        if (st == SS_SLOT_BUSY) {
            return NULL;
        }
        if (st == SS_SLOT_READY) {
            if (t[i].hash == h && strcmp(t[i].name, name) == 0) {
                return &t[i];
            }
            continue;
        }
        if (st != SS_SLOT_FREE) {
            continue;
        }
        if (SS_LOAD(&m->sources_used) >= m->sources) {
            return NULL;
        }
        if (SS_CAS(&t[i].state, &st, SS_SLOT_BUSY)) {
            SS_ADD(&m->sources_used, 1);
            t[i].hash = h;
            memcpy(t[i].name, name, strlen(name) + 1);
#ifdef SS_METRICS_TEST
            if (ss_metrics_test_claimed) {
                ss_metrics_test_claimed(m, name);
            }
#endif
            __atomic_store_n(&t[i].state, SS_SLOT_READY, __ATOMIC_RELEASE);
            return &t[i];
        }
        /* Lost the race for this slot: look at it again. */
        n--;
        i = (i - 1) & mask;
    }
    return NULL;
}

int ss_metrics_reserve_source(ss_metrics_t *m, const char *source)
{
    char name[SS_METRICS_NAME_MAX];

    ss_clean_name(name, source);
    return ss_source(m, name) != NULL;
}

#if defined(__GNUC__)
#define SS_NOINLINE __attribute__((noinline))
#else
#define SS_NOINLINE
#endif

static SS_NOINLINE void ss_count_slow(ss_metrics_t *m, unsigned shard,
                                      int code, int substatus,
                                      const char *source);

void ss_metrics_count(ss_metrics_t *m, unsigned shard, int code,
                      int substatus, const char *source)
{
    /* Most responses: a code, no substatus, no source; no stack frame. */
    if (substatus <= 0 && !source && code >= SS_METRICS_CODE_MIN
        && code <= SS_METRICS_CODE_MAX) {
        SS_ADD(&ss_codes(m, shard % SS_METRICS_SHARDS)
                   [code - SS_METRICS_CODE_MIN], 1);
        return;
    }
    ss_count_slow(m, shard, code, substatus, source);
}

static void ss_count_slow(ss_metrics_t *m, unsigned shard, int code,
                          int substatus, const char *source)
{
    if (code < SS_METRICS_CODE_MIN || code > SS_METRICS_CODE_MAX) {
        SS_ADD(&m->code_other, 1);
    }
    else if (substatus <= 0) {
        SS_ADD(&ss_codes(m, shard % SS_METRICS_SHARDS)
                   [code - SS_METRICS_CODE_MIN], 1);
    }
    else {
        ss_pair_slot_t *slot = ss_pair(m, ((apr_uint32_t)code << 16)
                                          | (apr_uint32_t)substatus);
        if (slot) {
            SS_ADD(&slot->count, 1);
        }
        else {
            SS_ADD(&ss_other(m)[code - SS_METRICS_CODE_MIN], 1);
            SS_ADD(&m->counters[SS_METRIC_OVERFLOW], 1);
        }
    }
    if (source) {
        char name[SS_METRICS_NAME_MAX];
        ss_source_slot_t *slot;

        ss_clean_name(name, source);
        slot = ss_source(m, name);
        if (slot) {
            SS_ADD(&slot->count, 1);
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
    /* code 0 ("other") last; within a code, "other" (-1) last. */
    unsigned cx = x->code ? (unsigned)x->code : 100000u;
    unsigned cy = y->code ? (unsigned)y->code : 100000u;
    unsigned sx = (unsigned)x->substatus, sy = (unsigned)y->substatus;

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

    row->code = code;
    row->substatus = sub;
    row->count = count;
}

ss_metrics_snap_t *ss_metrics_snapshot(const ss_metrics_t *m, apr_pool_t *p)
{
    ss_metrics_snap_t *s = apr_pcalloc(p, sizeof(*s));
    const ss_pair_slot_t *pt = ss_pair_slots(m);
    const ss_source_slot_t *st = ss_source_slots(m);
    apr_uint32_t i;
    unsigned c, k;

    s->rows = apr_array_make(p, 64, sizeof(ss_metrics_row_t));
    s->sources = apr_array_make(p, 16, sizeof(ss_metrics_source_t));
    for (c = 0; c < SS_METRICS_NCODES; c++) {
        apr_uint64_t sum = 0, other = SS_LOAD(&ss_other(m)[c]);
        for (k = 0; k < SS_METRICS_SHARDS; k++) {
            sum += SS_LOAD(&ss_codes(m, k)[c]);
        }
        if (sum) {
            ss_push_row(s->rows, (int)c + SS_METRICS_CODE_MIN, 0, sum);
        }
        if (other) {
            ss_push_row(s->rows, (int)c + SS_METRICS_CODE_MIN, -1, other);
        }
    }
    if (SS_LOAD(&m->code_other)) {
        ss_push_row(s->rows, 0, 0, SS_LOAD(&m->code_other));
    }
    /* Every pair in the table, reserved ones with 0 too. */
    for (i = 0; i < m->slots; i++) {
        apr_uint32_t key = SS_LOAD(&pt[i].key);
        if (key) {
            ss_push_row(s->rows, (int)(key >> 16), (int)(key & 0xffff),
                        SS_LOAD(&pt[i].count));
        }
    }
    qsort(s->rows->elts, s->rows->nelts, sizeof(ss_metrics_row_t),
          ss_row_cmp);

    for (i = 0; i < m->slots; i++) {
        if (__atomic_load_n(&st[i].state, __ATOMIC_ACQUIRE)
            == SS_SLOT_READY) {
            ss_metrics_source_t *src = apr_array_push(s->sources);
            src->name = apr_pstrdup(p, st[i].name);
            src->count = SS_LOAD(&st[i].count);
        }
    }
    qsort(s->sources->elts, s->sources->nelts, sizeof(ss_metrics_source_t),
          ss_source_cmp);
    if (SS_LOAD(&m->source_other)) {
        ss_metrics_source_t *src = apr_array_push(s->sources);
        src->name = "other";
        src->count = SS_LOAD(&m->source_other);
    }
    for (k = 0; k < SS_METRIC_COUNT; k++) {
        s->counters[k] = SS_LOAD(&m->counters[k]);
    }
    s->start_time = m->start_time;
    s->pairs = m->pairs;
    s->source_room = m->sources;
    s->pairs_used = SS_LOAD(&m->pairs_used);
    s->sources_used = SS_LOAD(&m->sources_used);
    return s;
}
