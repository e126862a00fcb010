/*
 * mod_status_set_trace.c -- failed-request tracing in the manner of IIS's
 * Failed Request Tracing: StatusSetTrace rules pick finished requests by
 * their final status (and time taken, an expression, a sample), and each
 * one picked gets one JSON line in StatusSetTraceLog, with the chain of
 * status changes and who made each (IIS's MODULE_SET_RESPONSE_ERROR_STATUS).
 *
 * The record is written in log_transaction, after the response went out,
 * with one write() of at most SS_TRACE_RECORD_MAX bytes (PIPE_BUF on
 * Linux): lines from many children never tear or interleave, in a file
 * opened O_APPEND or in a pipe.  The chain is kept only while some rule
 * exists (ss_trace_configured); a request whose code no rule of its
 * context matches pays one bit test in log_transaction.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_expr.h"
#include "unixd.h"

#include "apr_atomic.h"
#include "apr_lib.h"
#include "apr_shm.h"
#include "apr_strings.h"

#include "mod_status_set_private.h"
#include "status_set_parse.h"
#include "status_set_trace.h"

APLOG_USE_MODULE(status_set);

#define SS_CHAIN_KEY       "mod_status_set-chain"
#define SS_DEFAULT_LIMIT   100
#define SS_REDACTED        "[redacted]"
#define SS_TRACE_OPTIONS   "[time>=DURATION] [expr=EXPRESSION] " \
                           "[sample=1/N] [query=on|off] [headers=NAME,...] " \
                           "[phases=on|off] [name=NAME]"

int ss_trace_configured;
int ss_trace_phases;

static int ss_trace_log(request_rec *r);

/* One StatusSetTrace rule. */
typedef struct {
    apr_array_header_t *match;      /* ss_match_t */
    apr_interval_time_t min_time;   /* -1: any */
    ap_expr_info_t *expr;           /* NULL: always */
    apr_uint32_t sample;            /* 1 in N; 1: every request */
    int query;                      /* keep the query string */
    int phases;                     /* phases=on */
    apr_array_header_t *headers;    /* names to keep; NULL: all */
    const char *name;               /* name=, or NULL */
    const char *source;             /* the name, or FILE:LINE */
} ss_trace_rule_t;

/* The rules of a context, and a bit for each code one of them matches: a
 * finished request whose code none matches pays one test. */
struct ss_trace_set_t {
    apr_array_header_t *rules;      /* ss_trace_rule_t *, nearest first */
    ss_codeset_t codes;
    int phases;                     /* a rule asks for phases=on */
};

static APR_INLINE int ss_trace_wants(const ss_trace_set_t *set, int code)
{
    return set && ss_codeset_has(&set->codes, code);
}

ss_trace_set_t *ss_trace_merge(apr_pool_t *p, ss_trace_set_t *add,
                               ss_trace_set_t *base)
{
    ss_trace_set_t *set;

    if (!add || !base) {
        return add ? add : base;
    }
    set = apr_palloc(p, sizeof(*set));
    set->rules = apr_array_append(p, add->rules, base->rules);
    ss_codeset_union(&set->codes, &add->codes, &base->codes);
    set->phases = add->phases || base->phases;
    return set;
}

/* Per server: where records go, and how many a second. */
typedef struct {
    const char *log_name;           /* NULL: unset */
    int limit;                      /* -1: unset */
    apr_file_t *log;                /* opened in open_logs */
    apr_uint64_t *limiter;          /* second << 32 | records, shared */
    int nonblock;                   /* a pipe: one write, never a wait */
    unsigned vhost;                 /* the counters' host index, 0: none */
    int has_rules;                  /* StatusSetTrace rules apply here */
} ss_trace_server_t;

/* One step of a request's status chain. */
typedef struct {
    int from, code, substatus, error;
    const char *reason, *source;
} ss_step_t;

/* ------------------------------------------------------------------ */
/* Configuration                                                      */

void *ss_trace_create_server(apr_pool_t *p, server_rec *s)
{
    ss_trace_server_t *c = apr_pcalloc(p, sizeof(*c));

    (void)s;
    c->limit = -1;
    return c;
}

void *ss_trace_merge_server(apr_pool_t *p, void *basev, void *addv)
{
    ss_trace_server_t *base = basev, *add = addv;
    ss_trace_server_t *c = apr_pcalloc(p, sizeof(*c));

    c->log_name = add->log_name ? add->log_name : base->log_name;
    c->limit = add->limit >= 0 ? add->limit : base->limit;
    /* The main server's sections apply to every virtual host. */
    c->has_rules = add->has_rules || base->has_rules;
    return c;
}

unsigned ss_server_vhost(const server_rec *s)
{
    const ss_trace_server_t *c = ap_get_module_config(s->module_config,
                                                      &status_set_module);
    return c->vhost;
}

void ss_server_set_vhost(server_rec *s, unsigned idx)
{
    ss_trace_server_t *c = ap_get_module_config(s->module_config,
                                                &status_set_module);
    c->vhost = idx;
}

/* An on|off option of StatusSetTrace (its value at w + at) into *flag;
 * what on means for the message. */
static const char *ss_trace_flag(cmd_parms *cmd, const char *w,
                                 apr_size_t at, const char *on, int *flag)
{
    if (strcmp(w + at, "on") && strcmp(w + at, "off")) {
        return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool, "'%s': %.*s "
                            "is on (%s) or off (the default)",
                            ss_escape_for_message(cmd->temp_pool, w,
                                                  strlen(w)),
                            (int)at, w, on));
    }
    *flag = w[at + 1] == 'n';
    return NULL;
}

/* One option word of StatusSetTrace into rule, or the whole message. */
static const char *ss_trace_option(cmd_parms *cmd, ss_trace_rule_t *rule,
                                   const char *w)
{
    apr_pool_t *tp = cmd->temp_pool;

    if (!strncmp(w, "time>=", 6)) {
        /* ap_timeout_parameter_parse() reads only a unit's first letter
         * ("5soon" is 5 s): check the whole word first. */
        const char *u = w + 6;
        while (apr_isdigit(*u)) {
            u++;
        }
        if (u == w + 6 || u - (w + 6) > 9
            || (*u && strcmp(u, "ms") && strcmp(u, "s") && strcmp(u, "mi")
                && strcmp(u, "h"))
            || ap_timeout_parameter_parse(w + 6, &rule->min_time, "s")
               != APR_SUCCESS || rule->min_time < 0) {
            return ss_cmd_error(cmd, apr_psprintf(tp, "'%s': a duration is "
                                "a number with an optional unit ms, s (the "
                                "default), mi or h, as in time>=500ms",
                                ss_escape_for_message(tp, w, strlen(w))));
        }
        return NULL;
    }
    if (!strncmp(w, "sample=", 7)) {
        apr_int64_t n;
        if (strncmp(w + 7, "1/", 2) || !ss_parse_int(w + 9, 1, 1000000, &n)) {
            return ss_cmd_error(cmd, apr_psprintf(tp, "'%s': write "
                                "sample=1/N with N from 1 to 1000000 (one "
                                "request in N is traced)",
                                ss_escape_for_message(tp, w, strlen(w))));
        }
        rule->sample = (apr_uint32_t)n;
        return NULL;
    }
    if (!strncmp(w, "expr=", 5)) {
        return ss_cmd_expr(cmd, w + 5, &rule->expr);
    }
    if (!strncmp(w, "name=", 5)) {
        const char *err = ss_check_name(tp, w + 5);
        if (err || rule->name) {
            return ss_cmd_error(cmd, err ? err : "name= is given twice: a "
                                "rule has one name");
        }
        rule->name = apr_pstrdup(cmd->pool, w + 5);
        return NULL;
    }
    if (!strncmp(w, "phases=", 7)) {
        return ss_trace_flag(cmd, w, 7, "the record gives when each phase "
                             "ended, at a cost on every request of the "
                             "context", &rule->phases);
    }
    if (!strncmp(w, "query=", 6)) {
        return ss_trace_flag(cmd, w, 6, "the record keeps the query string",
                             &rule->query);
    }
    if (!strncmp(w, "headers=", 8)) {
        char *list = apr_pstrdup(cmd->pool, w + 8), *last, *name;
        rule->headers = apr_array_make(cmd->pool, 4, sizeof(char *));
        for (name = apr_strtok(list, ",", &last); name;
             name = apr_strtok(NULL, ",", &last)) {
            APR_ARRAY_PUSH(rule->headers, char *) = name;
        }
        if (apr_is_empty_array(rule->headers)) {
            return ss_cmd_error(cmd, apr_psprintf(tp, "'%s' names no "
                                "header: write headers=NAME[,NAME...], or "
                                "leave the option out to keep every header",
                                ss_escape_for_message(tp, w, strlen(w))));
        }
        return NULL;
    }
    return ss_cmd_error(cmd, apr_psprintf(tp, "unknown option '%s': "
                        "allowed are " SS_TRACE_OPTIONS,
                        ss_escape_for_message(tp, w, strlen(w))));
}

const char *ss_cmd_trace(cmd_parms *cmd, void *dconf, const char *args)
{
    ss_trace_set_t **traces = ss_dir_traces_slot(dconf);
    ss_trace_rule_t *rule;
    const char *err;
    char **argv;
    int argc, i;

    if ((err = ss_cmd_split(cmd, args, &argc, &argv)) != NULL) {
        return ss_cmd_error(cmd, err);
    }
    if (argc < 1) {
        return ss_cmd_error(cmd, "a MATCH list is required: "
                              "StatusSetTrace MATCH " SS_TRACE_OPTIONS);
    }
    rule = apr_pcalloc(cmd->pool, sizeof(*rule));
    rule->min_time = -1;
    rule->sample = 1;
    if ((err = ss_parse_match(cmd->pool, argv[0], &rule->match)) != NULL) {
        return ss_cmd_error(cmd, err);
    }
    for (i = 1; i < argc; i++) {
        if ((err = ss_trace_option(cmd, rule, argv[i])) != NULL) {
            return err;
        }
    }
    {
        const ss_series_t *series = ss_cmd_series(cmd, rule->name, 0, &err);
        if (!series) {
            return ss_cmd_error(cmd, err);
        }
        rule->source = series->label;
    }
    if (!*traces) {
        *traces = apr_pcalloc(cmd->pool, sizeof(ss_trace_set_t));
        (*traces)->rules = apr_array_make(cmd->pool, 2,
                                          sizeof(ss_trace_rule_t *));
    }
    APR_ARRAY_PUSH((*traces)->rules, ss_trace_rule_t *) = rule;
    ((ss_trace_server_t *)ap_get_module_config(cmd->server->module_config,
                                               &status_set_module))
        ->has_rules = 1;
    ss_codeset_add_match(&(*traces)->codes, rule->match);
    if (rule->phases) {
        (*traces)->phases = 1;
        ss_trace_phases = 1;
    }
    if (!ss_trace_configured) {
        /* httpd sorts hooks added while the configuration is read (as
         * mod_perl's are); a configuration without StatusSetTrace pays no
         * hook call per request.  Hooks go with pconf at each restart. */
        ap_hook_log_transaction(ss_trace_log, NULL, NULL, APR_HOOK_MIDDLE);
        ss_trace_configured = 1;
    }
    return NULL;
}

const char *ss_cmd_trace_log(cmd_parms *cmd, void *dconf, const char *arg)
{
    ss_trace_server_t *c = ap_get_module_config(cmd->server->module_config,
                                                &status_set_module);

    (void)dconf;
    if (!*arg || (*arg == '|' && !arg[1])) {
        return ss_cmd_error(cmd, "a file name or \"|PROGRAM\" is "
                              "required");
    }
    c->log_name = arg;
    return NULL;
}

const char *ss_cmd_trace_limit(cmd_parms *cmd, void *dconf, const char *arg)
{
    ss_trace_server_t *c = ap_get_module_config(cmd->server->module_config,
                                                &status_set_module);
    apr_int64_t n;

    (void)dconf;
    if (!ss_parse_int(arg, 0, 1000000, &n)) {
        return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool, "'%s' is "
                              "not a number of records per second from 0 "
                              "(no limit) to 1000000",
                              ss_escape_for_message(cmd->temp_pool, arg,
                                                    strlen(arg))));
    }
    c->limit = (int)n;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The chain                                                          */

void ss_trace_step(request_rec *r, int from, int code, int substatus,
                   int error, const char *reason, const char *source)
{
    apr_array_header_t *chain = NULL;
    ss_step_t *step;

    /* A subrequest's status is not the response's (nor its pool r's). */
    if (r->main) {
        return;
    }
    apr_pool_userdata_get((void **)&chain, SS_CHAIN_KEY, r->pool);
    if (!chain) {
        chain = apr_array_make(r->pool, 4, sizeof(ss_step_t));
        apr_pool_userdata_setn(chain, SS_CHAIN_KEY, NULL, r->pool);
    }
    step = apr_array_push(chain);
    step->from = from;
    step->code = code;
    step->substatus = substatus;
    step->error = error;
    step->reason = reason;
    step->source = source;
}

/* ------------------------------------------------------------------ */
/* Events and phases: what happened to a request while it ran          */

/*
 * For a request that a StatusSetTrace rule may pick (its server has
 * rules), every error-log line that httpd or a module writes for it (its
 * subrequests and internal redirects too: they log with the same main
 * request, and redirects share its pool) is kept in the first request's
 * pool, at most SS_EVENTS_MAX of them: when full, the least severe (the
 * oldest of those) gives way to a line at least as severe, and what is
 * left out is counted.  LogLevel decides what is written, so a
 * per-directory LogLevel deepens the record as FREB's verbosity does.
 */
#define SS_TCTX_KEY     "mod_status_set-trace"
#define SS_EVENTS_MAX   16
#define SS_EVENT_MSG    300           /* bytes of one message shown */
#define SS_EVENT_RAW    1024          /* bytes kept until it is scrubbed */
#define SS_SUB_QUERIES  8             /* subrequests' queries kept */

typedef struct {
    apr_interval_time_t t_us;
    int level;
    int module_index;
    const char *msg;
} ss_event_t;

typedef struct {
    ss_event_t events[SS_EVENTS_MAX];
    int nevents;
    int dropped;
    const char *sub_queries[SS_SUB_QUERIES]; /* of subrequests that logged */
    int nsub;
    apr_interval_time_t phase[SS_PHASE_COUNT];  /* -1: not reached */
} ss_tctx_t;

static const char *const ss_phase_names[SS_PHASE_COUNT] = {
    "fixups", "handler"
};

/* The first request of r's chain: the main request, then the first of its
 * internal redirects (which share its pool). */
static request_rec *ss_first(request_rec *r)
{
    while (r->main) {
        r = r->main;
    }
    while (r->prev) {
        r = r->prev;
    }
    return r;
}

static ss_tctx_t *ss_tctx(request_rec *r, int create)
{
    ss_tctx_t *t = NULL;
    int i;

    apr_pool_userdata_get((void **)&t, SS_TCTX_KEY, r->pool);
    if (!t && create) {
        t = apr_palloc(r->pool, sizeof(*t));
        t->nevents = t->dropped = t->nsub = 0;
        for (i = 0; i < SS_PHASE_COUNT; i++) {
            t->phase[i] = -1;
        }
        apr_pool_userdata_setn(t, SS_TCTX_KEY, NULL, r->pool);
    }
    return t;
}

static int ss_server_traced(const server_rec *s)
{
    const ss_trace_server_t *c = ap_get_module_config(s->module_config,
                                                      &status_set_module);
    return c->has_rules;
}

void ss_trace_phase_slow(request_rec *r, ss_phase_e phase)
{
    const ss_trace_set_t *set;
    ss_tctx_t *t;

    if (r->main || !(set = ss_dir_traces(r->per_dir_config))
        || !set->phases) {
        return;
    }
    r = ss_first(r);
    t = ss_tctx(r, 1);
    if (t->phase[phase] < 0) {
        t->phase[phase] = apr_time_now() - r->request_time;
    }
}

static void ss_trace_error_log(const ap_errorlog_info *info,
                               const char *errstr)
{
    request_rec *r;
    ss_tctx_t *t;
    ss_event_t *e;
    int i;

    if (!ss_trace_configured || !info->r || !errstr
        || !ss_server_traced(info->r->server)) {
        return;
    }
    r = ss_first((request_rec *)info->r);
    t = ss_tctx(r, 1);
    if (info->r->main) {
        /* A subrequest's query may be in the line: keep it to scrub. */
        const char *q[2];
        q[0] = info->r->args;
        q[1] = info->r->parsed_uri.query;
        for (i = 0; i < 2; i++) {
            int k, known = 0;
            for (k = 0; q[i] && k < t->nsub; k++) {
                known |= !strcmp(t->sub_queries[k], q[i]);
            }
            if (q[i] && *q[i] && !known && t->nsub < SS_SUB_QUERIES) {
                t->sub_queries[t->nsub++] = apr_pstrdup(r->pool, q[i]);
            }
        }
    }
    if (t->nevents < SS_EVENTS_MAX) {
        e = &t->events[t->nevents++];
    }
    else {
        /* The least severe, the oldest of those, gives way. */
        e = &t->events[0];
        for (i = 1; i < SS_EVENTS_MAX; i++) {
            if (t->events[i].level > e->level) {
                e = &t->events[i];
            }
        }
        t->dropped++;
        if (info->level > e->level) {
            return;
        }
        memmove(e, e + 1, (apr_size_t)((t->events + SS_EVENTS_MAX)
                                       - (e + 1)) * sizeof(*e));
        e = &t->events[SS_EVENTS_MAX - 1];
    }
    e->t_us = apr_time_now() - r->request_time;
    e->level = info->level;
    e->module_index = info->module_index;
    e->msg = apr_pstrndup(r->pool, errstr, SS_EVENT_RAW);
}

static const char *ss_level_name(int level)
{
    static const char *const names[] = {
        "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
    };

    if (level >= 0 && level < 8) {
        return names[level];
    }
    return level <= APLOG_TRACE8 ? "trace" : "unknown";
}

/* events, events_dropped and phases of the record. */
static void ss_trace_events(ss_trace_buf_t *b, request_rec *r, int query)
{
    const ss_tctx_t *t = ss_tctx(r, 0);
    const char *queries[24 + 2 * SS_SUB_QUERIES];
    int i, nq = 0;
    request_rec *q;

    /* The queries of the request, its redirects and the subrequests that
     * logged, as sent and as the logs escape them. */
    for (q = r; !query && q && nq < 16; q = q->next) {
        const char *a = q->args, *b = q == r ? q->parsed_uri.query : NULL;
        if (a && *a) {
            queries[nq++] = a;
            queries[nq++] = ap_escape_logitem(r->pool, a);
        }
        if (b && *b && (!a || strcmp(a, b))) {
            queries[nq++] = b;
            queries[nq++] = ap_escape_logitem(r->pool, b);
        }
    }
    for (i = 0; !query && t && i < t->nsub; i++) {
        queries[nq++] = t->sub_queries[i];
        queries[nq++] = ap_escape_logitem(r->pool, t->sub_queries[i]);
    }

    if (ss_trace_open(b, "events", '[')) {
        for (i = 0; t && i < t->nevents; i++) {
            const ss_event_t *e = &t->events[i];
            const char *mod = e->module_index == APLOG_NO_MODULE ? NULL
                : ap_find_module_short_name(e->module_index);
            if (ss_trace_open(b, NULL, '{')) {
                /* Scrubbed whole, then cut: a cut query is still found. */
                const char *msg = query ? e->msg
                    : ss_scrub_queries(r->pool, e->msg, queries, nq);
                apr_size_t len = strlen(msg);
                ss_trace_int(b, "t_us", e->t_us);
                ss_trace_str(b, "module", mod ? mod : "core");
                ss_trace_str(b, "level", ss_level_name(e->level));
                ss_trace_strn(b, "msg", msg,
                              len > SS_EVENT_MSG ? SS_EVENT_MSG : len);
            }
            ss_trace_close(b);
        }
    }
    ss_trace_close(b);
    if (t && t->dropped) {
        ss_trace_int(b, "events_dropped", t->dropped);
    }
    if (ss_trace_open(b, "phases", '{')) {
        for (i = 0; t && i < SS_PHASE_COUNT; i++) {
            if (t->phase[i] >= 0) {
                ss_trace_int(b, ss_phase_names[i], t->phase[i]);
            }
        }
        ss_trace_int(b, "log", apr_time_now() - r->request_time);
    }
    ss_trace_close(b);
}

/* ------------------------------------------------------------------ */
/* Logs                                                               */

static int ss_trace_pre_config(apr_pool_t *p, apr_pool_t *plog,
                               apr_pool_t *ptemp)
{
    (void)p;
    (void)plog;
    (void)ptemp;
    ss_trace_configured = 0;
    ss_trace_phases = 0;
    return OK;
}

/*
 * The logs live in the parent's retained data (ap_pglobal), one entry per
 * StatusSetTraceLog target, so that a graceful restart changes nothing a
 * running child relies on:
 *
 *   - a piped log keeps its program and its pipe while the command stays
 *     the same: the children of the old and of the new generation write
 *     into one pipe, and nothing either writes is lost when the
 *     configuration is read again (a changed command starts a new
 *     program; the old one goes, as a piped CustomLog's does);
 *   - a file is opened again at every restart (so that logrotate's
 *     graceful reload moves it), in the generation's pool;
 *   - StatusSetTraceLimit's word, one for each virtual host (by its
 *     ServerName and port) and log it writes to, is in shared memory made
 *     once: the limit holds across graceful restarts, as the counters do.
 *
 * A full restart has already stopped every child and the piped programs
 * (the MPM's reclaim): everything is made anew.  Entries that no server
 * names any more go at the next restart.
 *
 * Writes never block: the pipe is non-blocking, and a record (at most
 * PIPE_BUF bytes, so one write() either takes it whole or not at all) that
 * does not fit is dropped and counted.
 */
#define SS_TLOG_KEY "mod_status_set-trace-logs-1"

typedef struct ss_tlog_t ss_tlog_t;
struct ss_tlog_t {
    ss_tlog_t *next;
    apr_pool_t *pool;         /* the entry's own, under ap_pglobal */
    const char *name;         /* as StatusSetTraceLog gave it */
    apr_pool_t *pipe_pool;    /* the piped program's; NULL: a file */
    apr_file_t *pipe;         /* its write end, non-blocking */
    apr_uint64_t *limiter;    /* a limiter's entry: second << 32 |
                               * records, shared; NULL for a log's */
    int seen;                 /* configuration generation last named in */
};

typedef struct {
    ss_tlog_t *logs;
} ss_tlog_list_t;

/* The entry named name, made when there is none; a limiter's has its
 * word of shared memory. */
static ss_tlog_t *ss_tlog_get(ss_tlog_list_t *list, const char *name,
                              int limiter, server_rec *s)
{
    ss_tlog_t *l;
    apr_pool_t *p;
    apr_shm_t *shm;
    apr_status_t rv;

    for (l = list->logs; l; l = l->next) {
        if (!strcmp(l->name, name)) {
            return l;
        }
    }
    apr_pool_create(&p, ap_pglobal);
    apr_pool_tag(p, "status_set_trace_log");
    l = apr_pcalloc(p, sizeof(*l));
    if (limiter) {
        rv = apr_shm_create(&shm, sizeof(apr_uint64_t), NULL, p);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "SS0021: cannot make "
                         "the shared memory of StatusSetTraceLimit");
            apr_pool_destroy(p);
            return NULL;
        }
        l->limiter = apr_shm_baseaddr_get(shm);
        *l->limiter = 0;
    }
    l->pool = p;
    l->name = apr_pstrdup(p, name);
    l->next = list->logs;
    list->logs = l;
    return l;
}

/* The write end of l's piped program, started when there is none (or the
 * MPM stopped it at a full restart). */
static apr_file_t *ss_tlog_pipe(ss_tlog_t *l, int graceful, server_rec *s)
{
    piped_log *pl;

    if (l->pipe && graceful) {
        return l->pipe;
    }
    if (l->pipe_pool) {
        apr_pool_destroy(l->pipe_pool);   /* stops the old program */
        l->pipe_pool = NULL;
        l->pipe = NULL;
    }
    apr_pool_create(&l->pipe_pool, l->pool);
    pl = ap_open_piped_log(l->pipe_pool, l->name + 1);
    if (!pl) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "SS0021: cannot start "
                     "StatusSetTraceLog %s", l->name);
        apr_pool_destroy(l->pipe_pool);
        l->pipe_pool = NULL;
        return NULL;
    }
    l->pipe = ap_piped_log_write_fd(pl);
    /* O_NONBLOCK on the pipe's write end, shared by every child. */
    apr_file_pipe_timeout_set(l->pipe, 0);
    return l->pipe;
}

/* Is f a pipe or a socket (a "file" such as /dev/stdout under a container's
 * log collector)?  Writing there can wait on a reader as a piped log can. */
static int ss_is_stream(apr_file_t *f)
{
    apr_os_file_t fd;
    struct stat st;

    return apr_os_file_get(&fd, f) == APR_SUCCESS && fstat(fd, &st) == 0
           && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

/* A pipe or socket opened by name gets its own open file description:
 * O_NONBLOCK on it touches no other user of the pipe. */
static void ss_file_nonblock(apr_file_t *f)
{
    apr_os_file_t fd;
    int flags;

    if (ss_is_stream(f) && apr_os_file_get(&fd, f) == APR_SUCCESS
        && (flags = fcntl(fd, F_GETFL)) >= 0) {
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
}

static int ss_trace_open_logs(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *opened = apr_hash_make(ptemp);
    ss_tlog_list_t *list;
    ss_tlog_t **lp;
    int gen, graceful;
    server_rec *v;

    (void)plog;
    /* httpd reads its configuration twice at start-up: open nothing on
     * the first pass, which only checks it. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    list = ap_retained_data_get(SS_TLOG_KEY);
    if (!list) {
        list = ap_retained_data_create(SS_TLOG_KEY, sizeof(*list));
    }
    gen = ap_state_query(AP_SQ_CONFIG_GEN);
    graceful = ap_unixd_mpm_get_retained_data()->was_graceful;
    for (v = s; v; v = v->next) {
        ss_trace_server_t *c = ap_get_module_config(v->module_config,
                                                    &status_set_module);
        ss_tlog_t *l, *lim;
        apr_file_t *f;

        if (!c->log_name) {
            if (c->has_rules) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, v, "SS0020: "
                             "StatusSetTrace rules apply to %s:%u, which "
                             "has no StatusSetTraceLog: its records are not "
                             "written", v->server_hostname, v->port);
            }
            continue;
        }
        if (!(l = ss_tlog_get(list, c->log_name, 0, v))) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        l->seen = gen;
        /* StatusSetTraceLimit's word: each virtual host's own, for each
         * log it writes to, kept while the host keeps its name. */
        lim = ss_tlog_get(list, apr_psprintf(ptemp, "\001%s:%u\n%s",
                                             v->server_hostname, v->port,
                                             c->log_name), 1, v);
        if (!lim) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (lim->seen != gen) {
            lim->seen = gen;
            if (!graceful) {
                *lim->limiter = 0;
            }
        }
        c->limiter = lim->limiter;
        f = apr_hash_get(opened, c->log_name, APR_HASH_KEY_STRING);
        if (!f && c->log_name[0] == '|') {
            if (!(f = ss_tlog_pipe(l, graceful, v))) {
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        else if (!f) {
            const char *path = ap_server_root_relative(pconf, c->log_name);
            apr_status_t rv = path
                ? apr_file_open(&f, path, APR_WRITE | APR_APPEND | APR_CREATE
                                | APR_LARGEFILE, APR_OS_DEFAULT, pconf)
                : APR_EBADPATH;
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_ERR, rv, v, "SS0021: cannot "
                             "open StatusSetTraceLog %s", c->log_name);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            ss_file_nonblock(f);
        }
        apr_hash_set(opened, c->log_name, APR_HASH_KEY_STRING, f);
        c->log = f;
        c->nonblock = c->log_name[0] == '|' || ss_is_stream(f);
    }
    /* Targets no server names any more: their programs stop now.  (The
     * children of the old generation that still write there drop what
     * does not fit, as they would with any reader that stopped.) */
    for (lp = &list->logs; *lp;) {
        ss_tlog_t *l = *lp;
        if (l->seen != gen) {
            *lp = l->next;
            apr_pool_destroy(l->pool);
        }
        else {
            lp = &l->next;
        }
    }
    return OK;
}

/* StatusSetTraceLimit, for the whole server (all its children): one
 * 64-bit word in shared memory holds the current second and the records
 * written in it, updated by compare-and-swap, so that no more than the
 * limit is ever written in a second, whatever the number of children. */
static int ss_trace_admit(const ss_trace_server_t *c)
{
    apr_uint64_t now, old, new;
    int limit = c->limit < 0 ? SS_DEFAULT_LIMIT : c->limit;

    if (limit == 0) {
        return 1;
    }
    now = (apr_uint64_t)apr_time_sec(apr_time_now()) & 0xFFFFFFFFu;
    do {
        old = apr_atomic_read64(c->limiter);
        if (old >> 32 != now) {
            new = now << 32 | 1;
        }
        else if ((old & 0xFFFFFFFFu) >= (apr_uint64_t)limit) {
            return 0;
        }
        else {
            new = old + 1;
        }
    } while (apr_atomic_cas64(c->limiter, new, old) != old);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Records                                                            */

static int ss_trace_match(const ss_trace_rule_t *rule, const ss_outcome_t *o,
                          request_rec *r, apr_interval_time_t taken)
{
    if (!ss_match_list(rule->match, o->code, o->substatus)
        || (rule->min_time >= 0 && taken < rule->min_time)
        || !ss_expr_true(r, rule->expr, rule->source)) {
        return 0;
    }
    return rule->sample <= 1 || ap_random_pick(0, rule->sample - 1) == 0;
}

typedef struct {
    ss_trace_buf_t *b;
    const ss_trace_rule_t *rule;
    apr_pool_t *pool;
} ss_hdr_ctx_t;

/* Headers whose value is a credential: any name holding one of these,
 * whatever its case (Authorization, Proxy-Authorization, Cookie,
 * Set-Cookie, X-Api-Key, X-Auth-Token, X-Amz-Security-Token,
 * Private-Token, X-Vault-Token, X-CSRF-Token, a session id...). */
static const char *const ss_secret_words[] = {
    "auth", "cookie", "token", "secret", "passw", "api-key", "apikey",
    "session", "credential", "signature", NULL
};

/* Headers whose value is or holds a URL, which may carry a query or a
 * password. */
static const char *const ss_url_headers[] = {
    "Referer", "Location", "Content-Location", "Refresh", "Link",
    "X-Original-URL", "X-Rewrite-URL", "X-Forwarded-Uri", "Origin", NULL
};

static int ss_secret_name(const char *name)
{
    const char *const *w;

    for (w = ss_secret_words; *w; w++) {
        if (ap_strcasestr(name, *w)) {
            return 1;
        }
    }
    return 0;
}

static int ss_name_in(const char *name, const char *const *list)
{
    for (; *list; list++) {
        if (!strcasecmp(name, *list)) {
            return 1;
        }
    }
    return 0;
}

/* A URL as a record shows it: the password of user:password masked as %r
 * masks it (XXXXXXXX), and the query left out unless the rule keeps it.
 * Works on any string (a bad request's target, a Refresh value). */
static const char *ss_safe_url(apr_pool_t *p, const char *url, int query)
{
    const char *auth, *at = NULL, *colon, *x;
    apr_size_t n;

    if (!url) {
        return NULL;
    }
    if (!query && url[strcspn(url, "?#")]) {
        url = apr_pstrmemdup(p, url, strcspn(url, "?#"));
    }
    /* The authority: after "scheme://", or "//" (a protocol-relative
     * URL); its userinfo ends at its last '@', as apr_uri_parse() and %r
     * read it. */
    if ((auth = strstr(url, "://")) != NULL) {
        auth += 3;
    }
    else if ((auth = strstr(url, "//")) != NULL) {
        auth += 2;
    }
    else {
        return url;
    }
    n = strcspn(auth, "/?#");
    for (x = auth; x < auth + n; x++) {
        if (*x == '@') {
            at = x;
        }
    }
    colon = at ? memchr(auth, ':', (apr_size_t)(at - auth)) : NULL;
    if (!colon) {
        return url;
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, url,
                                         (apr_size_t)(colon + 1 - url)),
                       "XXXXXXXX", at, NULL);
}

static int ss_trace_header(void *v, const char *name, const char *value)
{
    ss_hdr_ctx_t *ctx = v;
    int i, keep = !ctx->rule->headers;

    for (i = 0; !keep && i < ctx->rule->headers->nelts; i++) {
        keep = !strcasecmp(name, APR_ARRAY_IDX(ctx->rule->headers, i,
                                               const char *));
    }
    if (!keep) {
        return 1;
    }
    if (ss_secret_name(name)) {
        value = SS_REDACTED;
    }
    else if (ss_name_in(name, ss_url_headers)) {
        value = ss_safe_url(ctx->pool, value, ctx->rule->query);
    }
    if (!ss_trace_open(ctx->b, NULL, '[')) {
        ss_trace_close(ctx->b);
        return 0;
    }
    ss_trace_str(ctx->b, NULL, name);
    ss_trace_str(ctx->b, NULL, value);
    ss_trace_close(ctx->b);
    return 1;
}

static void ss_trace_headers(apr_pool_t *p, ss_trace_buf_t *b,
                             const char *key, const ss_trace_rule_t *rule,
                             const apr_table_t *t1, const apr_table_t *t2)
{
    ss_hdr_ctx_t ctx;

    ctx.b = b;
    ctx.rule = rule;
    ctx.pool = p;
    if (ss_trace_open(b, key, '[')) {
        if (apr_table_do(ss_trace_header, &ctx, t1, NULL) && t2) {
            apr_table_do(ss_trace_header, &ctx, t2, NULL);
        }
    }
    ss_trace_close(b);
}

/* The status tuple's members, the same in the record and in each step of
 * its chain. */
static void ss_trace_status(ss_trace_buf_t *b, int code, int substatus,
                            const char *reason, int error,
                            const char *source)
{
    ss_trace_int(b, "status", code);
    ss_trace_int(b, "substatus", substatus);
    ss_trace_str(b, "reason", reason);
    ss_trace_int(b, "error", error);
    ss_trace_str(b, "source", source);
}

/* The request line as the client sent it (%r), made safe as ss_safe_url()
 * makes a URL: the whole line up to its protocol, so that a line httpd
 * refused (no space, no method, a space in the target) is cut at its query
 * all the same. */
static const char *ss_request_line(apr_pool_t *p, const char *line,
                                   int query)
{
    const char *proto;

    if (!line) {
        return NULL;
    }
    proto = strrchr(line, ' ');
    if (!proto || strncmp(proto, " HTTP/", 6) != 0) {
        proto = line + strlen(line);
    }
    return apr_pstrcat(p, ss_safe_url(p, apr_pstrmemdup(p, line,
                                      (apr_size_t)(proto - line)), query),
                       proto, NULL);
}

/* r->uri, which for a forward proxy's request is the whole URL. */
static const char *ss_record_uri(apr_pool_t *p, const char *uri, int query)
{
    return uri && uri[0] != '/' ? ss_safe_url(p, uri, query) : uri;
}

static const char *ss_trace_record(request_rec *r, const ss_outcome_t *o,
                                   const ss_trace_rule_t *rule,
                                   apr_interval_time_t taken,
                                   apr_size_t *len)
{
    ss_trace_buf_t *b = ss_trace_begin(r->pool, SS_TRACE_RECORD_MAX);
    request_rec *last = o->last, *q;
    apr_array_header_t *chain = NULL;
    char stamp[APR_RFC822_DATE_LEN + 16];
    apr_time_exp_t t;
    int i;

    apr_time_exp_gmt(&t, r->request_time);
    apr_snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                 t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                 t.tm_min, t.tm_sec, t.tm_usec);
    ss_trace_str(b, "time", stamp);
    ss_trace_str(b, "unique_id", apr_table_get(r->subprocess_env,
                                               "UNIQUE_ID"));
    for (q = r; q && !q->log_id; q = q->next) {
    }
    ss_trace_str(b, "log_id", q ? q->log_id : NULL);
    ss_trace_str(b, "vhost", last->server->server_hostname);
    ss_trace_int(b, "port", r->connection->local_addr->port);
    ss_trace_str(b, "client", r->useragent_ip);
    ss_trace_str(b, "request", ss_request_line(r->pool, r->the_request,
                                               rule->query));
    /* A line httpd refused may have no space before its query. */
    ss_trace_str(b, "method", ss_safe_url(r->pool, r->method, rule->query));
    ss_trace_str(b, "uri", ss_record_uri(r->pool, r->uri, rule->query));
    if (rule->query) {
        ss_trace_str(b, "query", r->args);
    }
    ss_trace_str(b, "protocol", r->protocol);
    ss_trace_status(b, o->code, o->substatus, o->reason, o->error,
                    o->source);
    ss_trace_str(b, "handler", r->handler);
    ss_trace_int(b, "time_taken_us", taken);
    ss_trace_int(b, "bytes_sent", last->bytes_sent);
    ss_trace_str(b, "rule", rule->source);

    apr_pool_userdata_get((void **)&chain, SS_CHAIN_KEY, r->pool);
    if (ss_trace_open(b, "chain", '[')) {
        for (i = 0; chain && i < chain->nelts; i++) {
            const ss_step_t *s = &APR_ARRAY_IDX(chain, i, ss_step_t);
            if (ss_trace_open(b, NULL, '{')) {
                ss_trace_int(b, "from", s->from);
                ss_trace_status(b, s->code, s->substatus, s->reason,
                                s->error, s->source);
            }
            ss_trace_close(b);
        }
    }
    ss_trace_close(b);
    if (r->next) {
        if (ss_trace_open(b, "redirects", '[')) {
            for (q = r; q; q = q->next) {
                if (ss_trace_open(b, NULL, '{')) {
                    ss_trace_str(b, "uri", ss_record_uri(r->pool, q->uri,
                                                       rule->query));
                    ss_trace_int(b, "status", q->status);
                    ss_trace_str(b, "handler", q->handler);
                }
                ss_trace_close(b);
            }
        }
        ss_trace_close(b);
    }
    ss_trace_events(b, r, rule->query);
    ss_trace_headers(r->pool, b, "request_headers", rule, r->headers_in, NULL);
    ss_trace_headers(r->pool, b, "response_headers", rule, last->headers_out,
                     last->err_headers_out);
    return ss_trace_end(b, len);
}

/* The first rule of dconf that picks this request, or NULL. */
static const ss_trace_rule_t *ss_trace_pick(const ss_trace_set_t *set,
                                            const ss_outcome_t *o,
                                            request_rec *r,
                                            apr_interval_time_t taken)
{
    const apr_array_header_t *rules = set ? set->rules : NULL;
    int i;

    for (i = 0; rules && i < rules->nelts; i++) {
        const ss_trace_rule_t *rule = APR_ARRAY_IDX(rules, i,
                                                    ss_trace_rule_t *);
        if (ss_trace_match(rule, o, r, taken)) {
            return rule;
        }
    }
    return NULL;
}

/*
 * The rules are those of the URL the client asked for, then (after an
 * internal redirect: ErrorDocument, a handler's redirect) those of the
 * final one: a rule on /app/ traces /app/x even when its error page
 * comes from /errors/, and a rule on the error page's location traces
 * every request that ends there.
 */
static int ss_trace_write(request_rec *r, const ss_outcome_t *o,
                          const ss_trace_set_t *first,
                          const ss_trace_set_t *final);

/* After an internal redirect: the rules of the first URL and the final's,
 * for the code that went out (when an ErrorDocument fails, httpd sends the
 * first request's error, not the failed page's code that %>s logs). */
static SS_NOINLINE int ss_trace_redirected(request_rec *r)
{
    const ss_trace_set_t *first, *final;
    ss_outcome_t o;

    ss_outcome(r, &o, 1);
    first = ss_dir_traces(r->per_dir_config);
    final = ss_dir_traces(o.last->per_dir_config);
    if (!ss_trace_wants(first, o.code) && !ss_trace_wants(final, o.code)) {
        return DECLINED;
    }
    return ss_trace_write(r, &o, first, final);
}

/* A request without a redirect whose code a rule of its context names. */
static SS_NOINLINE int ss_trace_direct(request_rec *r,
                                       const ss_trace_set_t *set)
{
    ss_outcome_t o;

    ss_outcome(r, &o, 1);
    return ss_trace_write(r, &o, set, NULL);
}

/* The fast path, kept small (no local whose address is taken, so no stack
 * protector either): a request that no rule of its context wants costs a
 * few loads and one bit test.  A log_transaction hook that the first
 * StatusSetTrace adds (ss_cmd_trace()). */
static int ss_trace_log(request_rec *r)
{
    const ss_trace_set_t *set;

    if (!ss_trace_configured) {
        return DECLINED;
    }
    if (r->next) {
        return ss_trace_redirected(r);
    }
    set = ss_dir_traces(r->per_dir_config);
    if (!ss_trace_wants(set, r->status)) {
        return DECLINED;
    }
    return ss_trace_direct(r, set);
}

/* A record that could not be written: counted, and said at most once a
 * minute per child (a reader that stopped would otherwise fill the error
 * log with one line per request). */
static void ss_trace_dropped(request_rec *r, const ss_trace_server_t *c,
                             apr_status_t rv)
{
    static apr_uint32_t said_at;
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    apr_uint32_t then = apr_atomic_read32(&said_at);

    SS_METRICS_NOTE(SS_METRIC_TRACE_DROPPED);
    if ((then == 0 || now - then >= 60)
        && apr_atomic_cas32(&said_at, now, then) == then) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, "SS0022: cannot "
                      "write to StatusSetTraceLog %s%s: record dropped "
                      "(counted in trace_dropped; said once a minute)",
                      c->log_name, APR_STATUS_IS_EAGAIN(rv)
                      ? ", whose reader does not keep up" : "");
    }
}

static SS_NOINLINE int ss_trace_write(request_rec *r, const ss_outcome_t *o,
                                      const ss_trace_set_t *first,
                                      const ss_trace_set_t *final)
{
    const ss_trace_rule_t *rule;
    const ss_trace_server_t *c;
    apr_interval_time_t taken;
    const char *rec;
    apr_size_t len;
    apr_status_t rv;

    taken = apr_time_now() - r->request_time;
    rule = ss_trace_pick(first, o, r, taken);
    if (!rule) {
        rule = ss_trace_pick(final, o, o->last, taken);
    }
    if (!rule) {
        return DECLINED;
    }
    c = ap_get_module_config(o->last->server->module_config,
                             &status_set_module);
    if (!c->log) {
        return DECLINED;
    }
    if (!ss_trace_admit(c)) {
        SS_METRICS_NOTE(SS_METRIC_TRACE_DROPPED);
        return DECLINED;
    }
    rec = ss_trace_record(r, o, rule, taken, &len);
    if (c->nonblock) {
        /* One non-blocking write() of at most PIPE_BUF bytes: all or
         * nothing, and never a wait for a slow or stopped reader. */
        apr_size_t n = len;
        rv = apr_file_write(c->log, rec, &n);
        if (rv == APR_SUCCESS && n != len) {
            rv = APR_EAGAIN;
        }
    }
    else {
        rv = apr_file_write_full(c->log, rec, len, NULL);
    }
    if (rv != APR_SUCCESS) {
        ss_trace_dropped(r, c, rv);
    }
    return DECLINED;
}

void ss_trace_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(ss_trace_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_open_logs(ss_trace_open_logs, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_error_log(ss_trace_error_log, NULL, NULL, APR_HOOK_MIDDLE);
}
