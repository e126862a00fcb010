/*
 * mod_status_set_metrics.c -- the counters in httpd: StatusSetMetrics,
 * the shared segment and its life across restarts, counting in
 * log_transaction, the status-set-metrics handler and mod_status's page.
 *
 * The segment's whole life is in ss_metrics_post_config(), in the parent:
 *
 *   - it is anonymous shared memory kept in ap_retained_data, so that the
 *     children of the old and of the new generation count into the same
 *     cells across a graceful restart;
 *   - it is made afresh (zero counts, a new start time, the size the
 *     configuration asks for) at start-up, at a full restart (no child is
 *     left then), whenever counting starts again after StatusSetMetrics
 *     Off, and when the segment kept has another layout (a module upgraded
 *     by a graceful restart);
 *   - the parent hands every source of the configuration a cell, by its
 *     identity: the same rule keeps its cell across graceful restarts and
 *     edits, a rule gone from the configuration keeps it while children
 *     of the generations that knew it are alive (the scoreboard tells),
 *     then the cell is zeroed and reused.  Sources the configuration does
 *     not name (.htaccess rules) are counted by name, claimed once under
 *     a process-shared mutex made with the segment.
 *
 * ap_slotmem would be made anew on every restart; the scoreboard has no
 * room for modules.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "scoreboard.h"
#include "unixd.h"
#include "util_mutex.h"
#include "mod_core.h"
#include "mod_status.h"

#include "apr_atomic.h"
#include "apr_global_mutex.h"
#include "apr_shm.h"
#include "apr_strings.h"

#include "mod_status_set_private.h"
#include "status_set_parse.h"

APLOG_USE_MODULE(status_set);

/* The retained data's key names its layout: a module with another layout
 * of ss_retained_t never reads this one. */
#define SS_RETAINED_KEY    "mod_status_set-metrics-3"
#define SS_MUTEX_TYPE      "status-set-metrics"
#define SS_DEFAULT_CAPACITY 512

/* A source's cell, as the parent keeps it. */
typedef struct {
    const char *key;
    int cell;
    ap_generation_t born;     /* the first generation that counted in it */
    ap_generation_t retired;  /* 0: configured; else the first generation
                               * whose configuration lacks it */
} ss_cell_t;

typedef struct {
    apr_pool_t *pool;         /* the segment's: its memory, mutex, cells */
    apr_shm_t *shm;
    ss_metrics_t *m;
    apr_global_mutex_t *mutex;
    const char *mutex_file;
    apr_pool_t *cells_pool;   /* the table below, made anew each restart */
    apr_hash_t *cells;        /* key -> ss_cell_t */
    apr_hash_t *vhosts;       /* ServerName -> index (unsigned *), kept */
    unsigned next_vhost;
    int *free_cells;          /* cells handed back, a stack */
    int nfree;
    int next_cell;            /* cells below it were handed out once */
} ss_retained_t;

ss_metrics_t *ss_metrics_segment;

/* The configuration being read (the parent's; reset in pre_config). */
static int ss_metrics_on;
static int ss_metrics_hooked;           /* its log_transaction hook is added */
static int ss_metrics_log(request_rec *r);
static int ss_metrics_vhost;               /* On vhost */
static apr_array_header_t *ss_vhost_names; /* by index, from 1 */
static unsigned ss_metrics_capacity = SS_DEFAULT_CAPACITY;
static apr_array_header_t *ss_conf_pairs;  /* int[2] */
static apr_array_header_t *ss_conf_series; /* ss_series_t * */
static apr_array_header_t *ss_conf_keys;   /* const char *, the same order */
static int ss_reading_config;

/* The lock of the claim path, in this process. */
static apr_global_mutex_t *ss_mutex;
static ss_metrics_lock_t ss_lock;

/* Codes are counted into one of SS_METRICS_SHARDS shards, picked by the
 * connection's id, which the MPM makes from the child's and the worker
 * thread's numbers: threads that run at once mostly write different cache
 * lines, and the "200" cell is not one line every thread fights over.  (A
 * __thread variable would cost a __tls_get_addr call in a module.) */
static APR_INLINE unsigned ss_shard(const request_rec *r)
{
    return (unsigned)r->connection->id;
}

/* ------------------------------------------------------------------ */
/* Directives                                                         */

const char *ss_cmd_metrics(cmd_parms *cmd, void *dconf, const char *on,
                           const char *mode)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dconf;
    if (err) {
        return err;
    }
    if (strcasecmp(on, "On") && strcasecmp(on, "Off")) {
        return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool, "'%s': "
                            "expected On, On vhost, or Off",
                            ss_escape_for_message(cmd->temp_pool, on,
                                                  strlen(on))));
    }
    if (mode && (strcasecmp(mode, "vhost") || !strcasecmp(on, "Off"))) {
        return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool, "'%s %s': "
                            "expected On, On vhost, or Off",
                            ss_escape_for_message(cmd->temp_pool, on,
                                                  strlen(on)),
                            ss_escape_for_message(cmd->temp_pool, mode,
                                                  strlen(mode))));
    }
    ss_metrics_on = !strcasecmp(on, "On");
    ss_metrics_vhost = mode != NULL;
    if (ss_metrics_on && !ss_metrics_hooked) {
        /* httpd sorts hooks added while the configuration is read (as
         * mod_perl's are); a configuration without counters pays no hook
         * call per request.  Hooks go with pconf at each restart. */
        ap_hook_log_transaction(ss_metrics_log, NULL, NULL, APR_HOOK_MIDDLE);
        ss_metrics_hooked = 1;
    }
    return NULL;
}

const char *ss_cmd_metrics_capacity(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_int64_t n;

    (void)dconf;
    if (err) {
        return err;
    }
    if (!ss_parse_int(arg, 1, SS_METRICS_CAPACITY_MAX, &n)) {
        return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool, "'%s' is not "
                            "a number of pairs from 1 to %d",
                            ss_escape_for_message(cmd->temp_pool, arg,
                                                  strlen(arg)),
                            SS_METRICS_CAPACITY_MAX));
    }
    ss_metrics_capacity = (unsigned)n;
    return NULL;
}

void ss_metrics_conf_pair(cmd_parms *cmd, int code, int substatus)
{
    int *pair;

    /* .htaccess files are read by children, long after the segment was
     * made: their pairs take spare room when first counted. */
    if (!ss_reading_config || substatus <= 0) {
        return;
    }
    if (!ss_conf_pairs) {
        ss_conf_pairs = apr_array_make(cmd->pool, 8, sizeof(int) * 2);
    }
    pair = apr_array_push(ss_conf_pairs);
    pair[0] = code;
    pair[1] = substatus;
}

void ss_metrics_conf_source(cmd_parms *cmd, ss_series_t *series,
                            const char *key)
{
    /* .htaccess rules are counted by name. */
    if (!ss_reading_config) {
        return;
    }
    if (!ss_conf_series) {
        ss_conf_series = apr_array_make(cmd->pool, 8, sizeof(ss_series_t *));
        ss_conf_keys = apr_array_make(cmd->pool, 8, sizeof(char *));
    }
    APR_ARRAY_PUSH(ss_conf_series, ss_series_t *) = series;
    APR_ARRAY_PUSH(ss_conf_keys, const char *) = key;
}

/* ------------------------------------------------------------------ */
/* The segment                                                        */

static int ss_metrics_pre_config(apr_pool_t *p, apr_pool_t *plog,
                                 apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    ss_metrics_on = 0;
    ss_metrics_hooked = 0;
    ss_metrics_vhost = 0;
    ss_vhost_names = NULL;
    ss_metrics_capacity = SS_DEFAULT_CAPACITY;
    ss_conf_pairs = NULL;
    ss_conf_series = NULL;
    ss_conf_keys = NULL;
    ss_metrics_segment = NULL;
    ss_reading_config = 1;
    ss_api_series.cell = -1;
    ap_mutex_register(p, SS_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
    return OK;
}

static void ss_drop_segment(ss_retained_t *rt)
{
    if (rt->pool) {
        /* Children still running keep their mapping of it. */
        apr_pool_destroy(rt->pool);
    }
    memset(rt, 0, sizeof(*rt));
}

static apr_status_t ss_make_segment(ss_retained_t *rt, server_rec *s,
                                    const ss_metrics_room_t *room)
{
    apr_size_t size = ss_metrics_size(room);
    apr_status_t rv;

    apr_pool_create(&rt->pool, ap_pglobal);
    apr_pool_tag(rt->pool, "status_set_metrics");
    rv = apr_shm_create(&rt->shm, size, NULL, rt->pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "SS0010: cannot make "
                     "%" APR_SIZE_T_FMT " bytes of shared memory for "
                     "StatusSetMetrics", size);
        ss_drop_segment(rt);
        return rv;
    }
    rv = ap_global_mutex_create(&rt->mutex, &rt->mutex_file, SS_MUTEX_TYPE,
                                NULL, s, rt->pool, 0);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "SS0010: cannot make "
                     "the mutex of StatusSetMetrics");
        ss_drop_segment(rt);
        return rv;
    }
    /* Anonymous shared memory comes zeroed: nothing is written but the
     * header, so that room no count reaches is never resident. */
    rt->m = ss_metrics_init(apr_shm_baseaddr_get(rt->shm), room,
                            apr_time_now());
    rt->free_cells = apr_palloc(rt->pool, sizeof(int) * (room->cells + 1));
    return APR_SUCCESS;
}

static unsigned ss_room_for(int configured)
{
    apr_size_t n = ss_metrics_capacity + (apr_size_t)configured;

    return n > SS_METRICS_ROOM_MAX ? SS_METRICS_ROOM_MAX : (unsigned)n;
}

/* Is a process of a generation from born to before retired still alive?
 * Only those knew the cell as this source's: a process older than born
 * knew it as nothing (the cell was handed out only once no process that
 * knew its former owner was left), a younger one never had it. */
static int ss_old_children(ap_generation_t born, ap_generation_t retired)
{
    int i, limit = 0;

    if (!ap_scoreboard_image) {
        return 0;
    }
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    for (i = 0; i < limit; i++) {
        const process_score *ps = ap_get_scoreboard_process(i);
        if (ps && ps->pid && ps->generation >= born
            && ps->generation < retired) {
            return 1;
        }
    }
    return 0;
}

/* Hand every source of the configuration its cell (see the head of the
 * file); sources past the room are counted by name. */
static void ss_assign_cells(ss_retained_t *rt, server_rec *s)
{
    apr_hash_t *seen;
    apr_pool_t *old_pool = rt->cells_pool, *np;
    apr_hash_t *cells;
    apr_hash_index_t *hi;
    ap_generation_t gen = 0;
    int i, late = 0;
    ss_metrics_room_t room;

    apr_pool_create(&np, rt->pool);
    seen = apr_hash_make(np);
    cells = apr_hash_make(np);
    ss_metrics_room(rt->m, &room);
    ap_mpm_query(AP_MPMQ_GENERATION, &gen);
    APR_ARRAY_PUSH(ss_conf_series, ss_series_t *) = &ss_api_series;
    APR_ARRAY_PUSH(ss_conf_keys, const char *) = "api";
    for (i = 0; i < ss_conf_keys->nelts; i++) {
        const char *key = APR_ARRAY_IDX(ss_conf_keys, i, const char *);
        apr_hash_set(seen, key, APR_HASH_KEY_STRING, key);
    }
    /* Cells of the sources kept, and of those gone. */
    for (hi = rt->cells ? apr_hash_first(np, rt->cells) : NULL; hi;
         hi = apr_hash_next(hi)) {
        ss_cell_t *c = apr_hash_this_val(hi), *k;
        if (apr_hash_get(seen, c->key, APR_HASH_KEY_STRING)) {
            c->retired = 0;
        }
        else {
            if (!c->retired) {
                c->retired = gen;
            }
            if (!ss_old_children(c->born, c->retired)) {
                rt->free_cells[rt->nfree++] = c->cell;
                continue;
            }
        }
        k = apr_pmemdup(np, c, sizeof(*c));
        k->key = apr_pstrdup(np, c->key);
        apr_hash_set(cells, k->key, APR_HASH_KEY_STRING, k);
    }
    for (i = 0; i < ss_conf_keys->nelts; i++) {
        const char *key = APR_ARRAY_IDX(ss_conf_keys, i, const char *);
        ss_series_t *series = APR_ARRAY_IDX(ss_conf_series, i,
                                            ss_series_t *);
        ss_cell_t *c = apr_hash_get(cells, key, APR_HASH_KEY_STRING);
        if (!c) {
            int cell = -1;
            if (rt->nfree) {
                cell = rt->free_cells[--rt->nfree];
            }
            else if ((unsigned)rt->next_cell < room.cells) {
                cell = rt->next_cell++;
            }
            if (cell < 0) {
                /* Never by name: another rule may have had this label. */
                series->cell = SS_SERIES_OTHER;
                late++;
                continue;
            }
            ss_metrics_cell_clear(rt->m, (unsigned)cell);
            c = apr_pcalloc(np, sizeof(*c));
            c->key = apr_pstrdup(np, key);
            c->cell = cell;
            c->born = gen;
            apr_hash_set(cells, c->key, APR_HASH_KEY_STRING, c);
        }
        series->cell = c->cell;
    }
    if (late) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "SS0011: %d sources of "
                     "the configuration found no cell of their own (room "
                     "for %u, some kept by rules that children of an older "
                     "generation still count; a full restart makes room): "
                     "they count as other", late, room.cells);
    }
    rt->cells = cells;
    rt->cells_pool = np;
    if (old_pool) {
        apr_pool_destroy(old_pool);
    }
}

static void ss_reserve_pairs(ss_retained_t *rt, server_rec *s)
{
    ss_metrics_room_t room;
    int i;

    ss_metrics_room(rt->m, &room);
    for (i = 0; ss_conf_pairs && i < ss_conf_pairs->nelts; i++) {
        const int *pair = (const int *)ss_conf_pairs->elts + 2 * i;
        if (!ss_metrics_reserve(rt->m, pair[0], pair[1])) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "SS0011: no room "
                         "left for %d.%d in the counters (%u pairs; a new "
                         "StatusSetMetricsCapacity takes effect at a full "
                         "restart): it counts as %d.other", pair[0], pair[1],
                         room.pairs, pair[0]);
        }
    }
}

/* StatusSetMetrics On vhost: each host's ServerName an index, kept with
 * the segment (a host keeps its series across graceful restarts, and an
 * index is never another host's while the segment lives); the names by
 * index for this configuration's expositions. */
static void ss_assign_vhosts(ss_retained_t *rt, server_rec *s,
                             apr_pool_t *pconf)
{
    apr_hash_index_t *hi;
    server_rec *v;

    if (!rt->vhosts) {
        rt->vhosts = apr_hash_make(rt->pool);
    }
    for (v = s; v; v = v->next) {
        /* As %v logs it: printable, and one name for one host. */
        const char *name = ap_escape_logitem(pconf, v->server_hostname
                                                    ? v->server_hostname
                                                    : "");
        unsigned *idx = apr_hash_get(rt->vhosts, name, APR_HASH_KEY_STRING);
        if (!idx) {
            idx = apr_palloc(rt->pool, sizeof(*idx));
            *idx = ++rt->next_vhost;
            apr_hash_set(rt->vhosts, apr_pstrdup(rt->pool, name),
                         APR_HASH_KEY_STRING, idx);
        }
        ss_server_set_vhost(v, *idx);
    }
    ss_vhost_names = apr_array_make(pconf, (int)rt->next_vhost + 1,
                                    sizeof(const char *));
    while (ss_vhost_names->nelts <= (int)rt->next_vhost) {
        APR_ARRAY_PUSH(ss_vhost_names, const char *) = "";
    }
    for (hi = apr_hash_first(pconf, rt->vhosts); hi; hi = apr_hash_next(hi)) {
        const void *name;
        void *idx;
        apr_hash_this(hi, &name, NULL, &idx);
        APR_ARRAY_IDX(ss_vhost_names, *(unsigned *)idx, const char *) =
            apr_pstrdup(pconf, name);
    }
}

static int ss_mutex_lock(void *baton)
{
    return apr_global_mutex_lock(baton) == APR_SUCCESS ? 0 : -1;
}

static void ss_mutex_unlock(void *baton)
{
    apr_global_mutex_unlock(baton);
}

static int ss_metrics_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                  apr_pool_t *ptemp, server_rec *s)
{
    ss_retained_t *rt;
    ss_metrics_room_t room;
    int graceful;

    (void)plog;
    (void)ptemp;
    ss_reading_config = 0;
    /* httpd reads its configuration twice at start-up: make nothing on
     * the first pass. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    rt = ap_retained_data_get(SS_RETAINED_KEY);
    if (!rt) {
        rt = ap_retained_data_create(SS_RETAINED_KEY, sizeof(*rt));
    }
    graceful = ap_unixd_mpm_get_retained_data()->was_graceful;
    if (!ss_metrics_on) {
        /* Off: what was counted is gone, and counting starts again from
         * zero with a new start time. */
        ss_drop_segment(rt);
        return OK;
    }
    if (rt->m && !graceful) {
        ss_drop_segment(rt);        /* start-up or a full restart */
    }
    if (rt->m && !ss_metrics_check(rt->m, apr_shm_size_get(rt->shm))) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "SS0013: the counters "
                     "kept across the graceful restart have another layout "
                     "(another version of mod_status_set): counting starts "
                     "again from zero");
        ss_drop_segment(rt);
    }
    if (!ss_conf_series) {
        ss_conf_series = apr_array_make(pconf, 1, sizeof(ss_series_t *));
        ss_conf_keys = apr_array_make(pconf, 1, sizeof(char *));
    }
    if (!rt->m) {
        room.pairs = ss_room_for(ss_conf_pairs ? ss_conf_pairs->nelts : 0);
        /* The configured sources twice over: an edit may replace every
         * rule at a graceful restart while the old children, still
         * counting into the old rules' cells, finish. */
        room.cells = ss_room_for(2 * (ss_conf_series->nelts + 1));
        room.names = ss_metrics_capacity;
        if (ss_make_segment(rt, s, &room) != APR_SUCCESS) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    ss_assign_cells(rt, s);
    if (ss_metrics_vhost) {
        ss_assign_vhosts(rt, s, pconf);
    }
    else {
        ss_reserve_pairs(rt, s);
    }
    ss_mutex = rt->mutex;
    ss_lock.lock = ss_mutex_lock;
    ss_lock.unlock = ss_mutex_unlock;
    ss_lock.baton = ss_mutex;
    ss_metrics_segment = rt->m;
    return OK;
}

static void ss_metrics_child_init(apr_pool_t *p, server_rec *s)
{
    ss_retained_t *rt;
    apr_status_t rv;

    if (!ss_metrics_segment
        || !(rt = ap_retained_data_get(SS_RETAINED_KEY)) || !rt->mutex) {
        return;
    }
    rv = apr_global_mutex_child_init(&ss_mutex, rt->mutex_file, p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "SS0010: cannot reopen "
                     "the mutex of StatusSetMetrics in this child: sources "
                     "new to the counters count as other");
        ss_lock.lock = NULL;
        return;
    }
    ss_lock.baton = ss_mutex;
}

/* ------------------------------------------------------------------ */
/* Counting                                                           */

static SS_NOINLINE void ss_metrics_count_request(request_rec *r);

/* After the response went out, for the status %>s logs: a few atomic
 * additions, no allocation (the outcome's local lives in the function
 * below, so this one has no stack protector to pay).  A log_transaction
 * hook that StatusSetMetrics On adds (ss_cmd_metrics()). */
static int ss_metrics_log(request_rec *r)
{
    if (!ss_metrics_segment) {
        return DECLINED;
    }
    if (!ss_metrics_vhost && ss_outcome_plain(r)) {
        /* Most responses: the code alone. */
        ss_metrics_count_code(ss_metrics_segment, ss_shard(r), r->status);
    }
    else {
        ss_metrics_count_request(r);
    }
    return DECLINED;
}

static void ss_metrics_count_request(request_rec *r)
{
    ss_outcome_t o;

    ss_outcome(r, &o, 0);
    ss_metrics_count(ss_metrics_segment, ss_shard(r),
                     ss_metrics_vhost ? ss_server_vhost(o.last->server) : 0,
                     o.code, o.substatus, o.series,
                     ss_lock.lock ? &ss_lock : NULL);
}

/* ------------------------------------------------------------------ */
/* Exposition                                                         */

/* Does the query string have the parameter format=json? */
static int ss_wants_json(const char *args)
{
    const char *p = args;

    while (p && *p) {
        apr_size_t n = strcspn(p, "&;");
        if (n == 11 && !strncmp(p, "format=json", 11)) {
            return 1;
        }
        p += n;
        p += *p != '\0';
    }
    return 0;
}

static SS_NOINLINE int ss_metrics_serve(request_rec *r)
{
    ss_metrics_snap_t *snap;
    ss_format_e format;
    const char *body;
    apr_size_t len;

    /* GET, HEAD (with GET) and OPTIONS, answered here: core's default
     * handler would add POST to what OPTIONS lists, which gets a 405. */
    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, M_OPTIONS, -1);
    if (r->method_number == M_OPTIONS) {
        return ap_send_http_options(r);
    }
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!ss_metrics_segment) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "SS0012: no counters to "
                      "show: StatusSetMetrics is Off");
        return HTTP_NOT_FOUND;
    }
    if (ss_wants_json(r->args)) {
        format = SS_FORMAT_JSON;
    }
    else {
        format = ss_metrics_format_for(apr_table_get(r->headers_in,
                                                     "Accept"));
        apr_table_mergen(r->headers_out, "Vary", "Accept");
    }
    snap = ss_metrics_snapshot(ss_metrics_segment, ss_conf_series,
                               ss_vhost_names, r->pool);
    body = ss_metrics_render(snap, format, r->pool, &len);
    ap_set_content_type(r, ss_metrics_content_type(format));
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, len);
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
    return OK;
}

int ss_metrics_handler(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, SS_METRICS_HANDLER)) {
        return DECLINED;
    }
    return ss_metrics_serve(r);
}

/* "404.13", "404.other" or "other.other": a row as mod_status shows it. */
static const char *ss_row_label(apr_pool_t *p, const ss_metrics_row_t *row)
{
    return apr_pstrcat(p, row->vhost ? row->vhost : "",
                       row->vhost ? "/" : "",
                       row->code ? apr_itoa(p, row->code) : "other", ".",
                       row->substatus < 0 ? "other"
                                          : apr_itoa(p, row->substatus),
                       NULL);
}

/* mod_status: a table on /server-status, lines in ?auto. */
static int ss_metrics_status_hook(request_rec *r, int flags)
{
    ss_metrics_snap_t *snap;
    int i;

    if (!ss_metrics_segment) {
        return OK;
    }
    snap = ss_metrics_snapshot(ss_metrics_segment, ss_conf_series,
                               ss_vhost_names, r->pool);
    if (flags & AP_STATUS_SHORT) {
        for (i = 0; i < snap->rows->nelts; i++) {
            const ss_metrics_row_t *row =
                &APR_ARRAY_IDX(snap->rows, i, ss_metrics_row_t);
            ap_rprintf(r, "StatusSetResponses[%s]: %" APR_UINT64_T_FMT "\n",
                       ss_row_label(r->pool, row), row->count);
        }
        for (i = 0; i < snap->sources->nelts; i++) {
            const ss_metrics_source_t *src =
                &APR_ARRAY_IDX(snap->sources, i, ss_metrics_source_t);
            ap_rprintf(r, "StatusSetRuleHits[%s]: %" APR_UINT64_T_FMT "\n",
                       src->name, src->count);
        }
        ap_rprintf(r, "StatusSetHeaderRejected: %" APR_UINT64_T_FMT "\n"
                   "StatusSetApiRefused: %" APR_UINT64_T_FMT "\n"
                   "StatusSetOverflow: %" APR_UINT64_T_FMT "\n"
                   "StatusSetTraceDropped: %" APR_UINT64_T_FMT "\n",
                   snap->counters[SS_METRIC_HEADER_REJECTED],
                   snap->counters[SS_METRIC_API_REFUSED],
                   snap->counters[SS_METRIC_OVERFLOW],
                   snap->counters[SS_METRIC_TRACE_DROPPED]);
        return OK;
    }
    ap_rputs("<hr />\n<h2>Responses by status (mod_status_set)</h2>\n"
             "<table border=\"0\"><tr><th>Status</th><th>Responses</th>"
             "</tr>\n", r);
    for (i = 0; i < snap->rows->nelts; i++) {
        const ss_metrics_row_t *row =
            &APR_ARRAY_IDX(snap->rows, i, ss_metrics_row_t);
        ap_rprintf(r, "<tr><td>%s</td><td>%" APR_UINT64_T_FMT
                   "</td></tr>\n", ap_escape_html(r->pool,
                   ss_row_label(r->pool, row)), row->count);
    }
    ap_rputs("</table>\n<table border=\"0\"><tr><th>Set by</th>"
             "<th>Responses</th></tr>\n", r);
    for (i = 0; i < snap->sources->nelts; i++) {
        const ss_metrics_source_t *src =
            &APR_ARRAY_IDX(snap->sources, i, ss_metrics_source_t);
        ap_rprintf(r, "<tr><td>%s</td><td>%" APR_UINT64_T_FMT "</td></tr>\n",
                   ap_escape_html(r->pool, src->name), src->count);
    }
    ap_rprintf(r, "</table>\n<p>Backend headers rejected: %"
               APR_UINT64_T_FMT ", API calls refused: %" APR_UINT64_T_FMT
               ", counted as other (tables full): %" APR_UINT64_T_FMT
               ", trace records dropped: %" APR_UINT64_T_FMT ".</p>\n",
               snap->counters[SS_METRIC_HEADER_REJECTED],
               snap->counters[SS_METRIC_API_REFUSED],
               snap->counters[SS_METRIC_OVERFLOW],
               snap->counters[SS_METRIC_TRACE_DROPPED]);
    return OK;
}

void ss_metrics_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(ss_metrics_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(ss_metrics_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(ss_metrics_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, ss_metrics_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
