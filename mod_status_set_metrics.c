/*
 * mod_status_set_metrics.c -- the counters in httpd: StatusSetMetrics,
 * the shared segment and its life across restarts, counting in
 * log_transaction, the status-set-metrics handler and mod_status's page.
 *
 * The segment is anonymous shared memory that the parent makes in
 * post_config and keeps in ap_retained_data (ap_pglobal), so that the
 * children of the old and the new generation count into the same cells
 * across a graceful restart.  The MPM runs pre_mpm at start-up and after a
 * full restart only, never after a graceful one, with no child left: that
 * is where the counts go back to zero (and where a new size takes effect).
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
#include "mod_core.h"
#include "mod_status.h"

#include "apr_atomic.h"
#include "apr_shm.h"
#include "apr_strings.h"

#include "mod_status_set_private.h"
#include "status_set_parse.h"

APLOG_USE_MODULE(status_set);

#define SS_METRICS_HANDLER "status-set-metrics"
#define SS_RETAINED_KEY    "mod_status_set-metrics"
#define SS_DEFAULT_CAPACITY 512

typedef struct {
    apr_shm_t *shm;
    ss_metrics_t *m;
    unsigned pairs, sources;  /* the room the segment was made with */
    unsigned want_pairs;      /* the room the configuration asks for */
    unsigned want_sources;
} ss_retained_t;

ss_metrics_t *ss_metrics_segment;

/* The configuration being read (the parent's; reset in pre_config). */
static int ss_metrics_on;
static unsigned ss_metrics_capacity = SS_DEFAULT_CAPACITY;
static apr_array_header_t *ss_conf_pairs;  /* int[2] */
static apr_array_header_t *ss_conf_sources; /* const char * */
static int ss_reading_config;

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

const char *ss_cmd_metrics(cmd_parms *cmd, void *dconf, int on)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dconf;
    if (err) {
        return err;
    }
    ss_metrics_on = on;
    return NULL;
}

const char *ss_cmd_metrics_capacity(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    apr_int64_t n;

    (void)dconf;
    if (err) {
        return err;
    }
    n = apr_strtoi64(arg, &end, 10);
    if (*end || end == arg || n < 1 || n > SS_METRICS_CAPACITY_MAX) {
        return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool, "'%s' is not "
                            "a number of pairs from 1 to %d",
                            ss_escape_for_message(cmd->temp_pool, arg,
                                                  strlen(arg)),
                            SS_METRICS_CAPACITY_MAX));
    }
    ss_metrics_capacity = (unsigned)n;
    return NULL;
}

void ss_metrics_conf_pair(cmd_parms *cmd, int code, int substatus,
                          const char *source)
{
    /* .htaccess files are read by children, long after the segment was
     * made: their pairs and sources take spare room when first counted. */
    if (!ss_reading_config) {
        return;
    }
    if (substatus > 0) {
        int *pair;
        if (!ss_conf_pairs) {
            ss_conf_pairs = apr_array_make(cmd->pool, 8, sizeof(int) * 2);
        }
        pair = apr_array_push(ss_conf_pairs);
        pair[0] = code;
        pair[1] = substatus;
    }
    if (source) {
        if (!ss_conf_sources) {
            ss_conf_sources = apr_array_make(cmd->pool, 8, sizeof(char *));
        }
        APR_ARRAY_PUSH(ss_conf_sources, const char *) = source;
    }
}

/* ------------------------------------------------------------------ */
/* The segment                                                        */

static int ss_metrics_pre_config(apr_pool_t *p, apr_pool_t *plog,
                                 apr_pool_t *ptemp)
{
    (void)p;
    (void)plog;
    (void)ptemp;
    ss_metrics_on = 0;
    ss_metrics_capacity = SS_DEFAULT_CAPACITY;
    ss_conf_pairs = NULL;
    ss_conf_sources = NULL;
    ss_metrics_segment = NULL;
    ss_reading_config = 1;
    return OK;
}

static apr_status_t ss_make_segment(ss_retained_t *rt, server_rec *s)
{
    apr_size_t size = ss_metrics_size(rt->want_pairs, rt->want_sources);
    apr_status_t rv;

    rv = apr_shm_create(&rt->shm, size, NULL, ap_pglobal);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "SS0010: cannot make "
                     "%" APR_SIZE_T_FMT " bytes of shared memory for "
                     "StatusSetMetrics", size);
        rt->shm = NULL;
        rt->m = NULL;
        return rv;
    }
    rt->m = ss_metrics_init(apr_shm_baseaddr_get(rt->shm), rt->want_pairs,
                            rt->want_sources,
                            apr_time_now());
    rt->pairs = rt->want_pairs;
    rt->sources = rt->want_sources;
    return APR_SUCCESS;
}

static unsigned ss_room(const apr_array_header_t *configured)
{
    apr_size_t n = ss_metrics_capacity
                   + (configured ? (apr_size_t)configured->nelts : 0);

    return n > SS_METRICS_ROOM_MAX ? SS_METRICS_ROOM_MAX : (unsigned)n;
}

static void ss_reserve_pairs(ss_retained_t *rt, server_rec *s)
{
    int i;

    ss_metrics_reserve_source(rt->m, "api");
    for (i = 0; ss_conf_sources && i < ss_conf_sources->nelts; i++) {
        const char *name = APR_ARRAY_IDX(ss_conf_sources, i, const char *);
        if (!ss_metrics_reserve_source(rt->m, name)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "SS0011: no room "
                         "left for the source %s in the counters (%u; a new "
                         "StatusSetMetricsCapacity takes effect at a full "
                         "restart): it counts as other", name, rt->sources);
        }
    }
    for (i = 0; ss_conf_pairs && i < ss_conf_pairs->nelts; i++) {
        const int *pair = (const int *)ss_conf_pairs->elts + 2 * i;
        if (!ss_metrics_reserve(rt->m, pair[0], pair[1])) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "SS0011: no room "
                         "left for %d.%d in the counters (%u pairs; a new "
                         "StatusSetMetricsCapacity takes effect at a full "
                         "restart): it counts as %d.other", pair[0], pair[1],
                         rt->pairs, pair[0]);
        }
    }
}

static int ss_metrics_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                  apr_pool_t *ptemp, server_rec *s)
{
    ss_retained_t *rt;

    (void)pconf;
    (void)plog;
    (void)ptemp;
    ss_reading_config = 0;
    /* httpd reads its configuration twice at start-up: make nothing on
     * the first pass. */
    if (!ss_metrics_on
        || ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    rt = ap_retained_data_get(SS_RETAINED_KEY);
    if (!rt) {
        rt = ap_retained_data_create(SS_RETAINED_KEY, sizeof(*rt));
    }
    /* Room for the pairs and the sources the configuration names ("api"
     * too), and the capacity more of each. */
    rt->want_pairs = ss_room(ss_conf_pairs);
    rt->want_sources = ss_room(ss_conf_sources) + 1;
    if (!rt->m && ss_make_segment(rt, s) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* After a graceful restart the segment keeps its size: the children
     * still running count into it. */
    ss_reserve_pairs(rt, s);
    ss_metrics_segment = rt->m;
    return OK;
}

/* Start-up or a full restart: no child runs, so start from zero, at the
 * size the configuration asks for. */
static int ss_metrics_pre_mpm(apr_pool_t *p, ap_scoreboard_e sb_type)
{
    ss_retained_t *rt = ap_retained_data_get(SS_RETAINED_KEY);

    (void)p;
    (void)sb_type;
    if (!rt || !rt->m) {
        return OK;
    }
    if (!ss_metrics_segment) {
        /* Off now: what was counted is gone, and a later graceful restart
         * that turns it On starts from zero. */
        apr_shm_destroy(rt->shm);
        rt->shm = NULL;
        rt->m = NULL;
        return OK;
    }
    if (rt->pairs != rt->want_pairs || rt->sources != rt->want_sources) {
        apr_shm_destroy(rt->shm);
        if (ss_make_segment(rt, ap_server_conf) != APR_SUCCESS) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    else {
        ss_metrics_reset(rt->m, apr_time_now());
    }
    ss_reserve_pairs(rt, ap_server_conf);
    ss_metrics_segment = rt->m;
    return OK;
}

/* ------------------------------------------------------------------ */
/* Counting                                                           */

/* After the response went out, for the status %>s logs: a few atomic
 * additions, no allocation. */
static int ss_metrics_log(request_rec *r)
{
    ss_outcome_t o;

    if (!ss_metrics_segment) {
        return DECLINED;
    }
    ss_outcome(r, &o, 0);
    ss_metrics_count(ss_metrics_segment, ss_shard(r), o.code, o.substatus,
                     o.source);
    return DECLINED;
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

static int ss_metrics_handler(request_rec *r)
{
    ss_metrics_snap_t *snap;
    ss_format_e format;
    const char *body;
    apr_size_t len;

    /* Asked of every request: the first byte settles almost all. */
    if (!r->handler || r->handler[0] != SS_METRICS_HANDLER[0]
        || strcmp(r->handler, SS_METRICS_HANDLER)) {
        return DECLINED;
    }
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
    snap = ss_metrics_snapshot(ss_metrics_segment, r->pool);
    body = ss_metrics_render(snap, format, r->pool, &len);
    ap_set_content_type(r, ss_metrics_content_type(format));
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, len);
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
    return OK;
}

/* "404.13", "404.other" or "other.other": a row as mod_status shows it. */
static const char *ss_row_label(apr_pool_t *p, const ss_metrics_row_t *row)
{
    return apr_pstrcat(p, row->code ? apr_itoa(p, row->code) : "other", ".",
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
    snap = ss_metrics_snapshot(ss_metrics_segment, r->pool);
    if (flags & AP_STATUS_SHORT) {
        for (i = 0; i < snap->rows->nelts; i++) {
            const ss_metrics_row_t *row =
                &APR_ARRAY_IDX(snap->rows, i, ss_metrics_row_t);
            ap_rprintf(r, "StatusSetResponses[%s]: %" APR_UINT64_T_FMT "\n",
                       ss_row_label(r->pool, row), row->count);
        }
        ap_rprintf(r, "StatusSetHeaderRejected: %" APR_UINT64_T_FMT "\n"
                   "StatusSetApiRefused: %" APR_UINT64_T_FMT "\n"
                   "StatusSetOverflow: %" APR_UINT64_T_FMT "\n",
                   snap->counters[SS_METRIC_HEADER_REJECTED],
                   snap->counters[SS_METRIC_API_REFUSED],
                   snap->counters[SS_METRIC_OVERFLOW]);
        return OK;
    }
    ap_rputs("<hr />\n<h2>Responses by status (mod_status_set)</h2>\n"
             "<table border=\"0\"><tr><th>Status</th><th>Responses</th>"
             "</tr>\n", r);
    for (i = 0; i < snap->rows->nelts; i++) {
        const ss_metrics_row_t *row =
            &APR_ARRAY_IDX(snap->rows, i, ss_metrics_row_t);
        ap_rprintf(r, "<tr><td>%s</td><td>%" APR_UINT64_T_FMT
                   "</td></tr>\n", ss_row_label(r->pool, row), row->count);
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
               ".</p>\n", snap->counters[SS_METRIC_HEADER_REJECTED],
               snap->counters[SS_METRIC_API_REFUSED],
               snap->counters[SS_METRIC_OVERFLOW]);
    return OK;
}

void ss_metrics_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(ss_metrics_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(ss_metrics_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_mpm(ss_metrics_pre_mpm, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(ss_metrics_log, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(ss_metrics_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, ss_metrics_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
