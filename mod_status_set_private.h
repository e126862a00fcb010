/*
 * mod_status_set_private.h -- what the module's own files tell each other:
 * the glue (mod_status_set.c), the counters (mod_status_set_metrics.c) and
 * the tracing (mod_status_set_trace.c).  Not installed.
 */
#ifndef MOD_STATUS_SET_PRIVATE_H
#define MOD_STATUS_SET_PRIVATE_H

#include "httpd.h"
#include "http_config.h"

#include "status_set_metrics.h"

/* The build hides every symbol (-fvisibility=hidden) but this one, which
 * httpd looks up when it loads the module. */
#if defined(__GNUC__) && __GNUC__ >= 4
#define SS_EXPORT __attribute__((visibility("default")))
#else
#define SS_EXPORT
#endif

extern SS_EXPORT module AP_MODULE_DECLARE_DATA status_set_module;

/* Keeps a slow path out of a hook's fast path; and a test that a fast
 * path shares with its slow path in both. */
#if defined(__GNUC__)
#define SS_NOINLINE __attribute__((noinline))
#define SS_INLINE APR_INLINE __attribute__((always_inline))
#else
#define SS_NOINLINE
#define SS_INLINE APR_INLINE
#endif

/* The status a finished request went out with, as the access log shows
 * it: code is %>s, the rest what %^SS, %^SE and %^SR show, source the
 * setter's (NULL when none acted).  One exception: when an ErrorDocument
 * fails, httpd sends the first request's error but %>s logs the
 * ErrorDocument's code; code is then the one sent, which the substatus
 * belongs to. */
typedef struct {
    request_rec *last;        /* the final request of a redirect chain */
    int code;
    int substatus;
    int error;
    const char *reason;
    const char *source;
    const ss_series_t *series; /* the source's counter, NULL when none */
} ss_outcome_t;

/* r is the request log_transaction gets (the first of the chain); reason
 * is left NULL unless want_reason (the counters do not need it). */
void ss_outcome(request_rec *r, ss_outcome_t *out, int want_reason);

/* The usual request: no internal redirect, no setter acted; its outcome is
 * r->status alone, substatus 0, no source. */
int ss_outcome_plain(const request_rec *r);

/* ---- counters (mod_status_set_metrics.c) ---- */

/* The segment in this process, NULL when StatusSetMetrics is Off. */
extern ss_metrics_t *ss_metrics_segment;

#define SS_METRICS_NOTE(which) \
    do { if (ss_metrics_segment) ss_metrics_add(ss_metrics_segment, \
                                                (which)); } while (0)

/* A (code, substatus) pair a directive of the main configuration names,
 * reserved in the segment so that it is shown before its first response
 * (a substatus of 0 reserves nothing). */
void ss_metrics_conf_pair(cmd_parms *cmd, int code, int substatus);

/* A source of the configuration being read, given its identity (key): the
 * parent hands it a counter cell after reading it.  The same key always
 * gets the same cell, across graceful restarts; a key gone from the
 * configuration frees its cell once no child counts into it. */
void ss_metrics_conf_source(cmd_parms *cmd, ss_series_t *series,
                            const char *key);

/* The API's source ("api"). */
extern ss_series_t ss_api_series;

/* The index of s among the virtual hosts the counters label
 * (StatusSetMetrics On vhost; 0: none).  The per-server configuration is
 * mod_status_set_trace.c's. */
unsigned ss_server_vhost(const server_rec *s);
void ss_server_set_vhost(server_rec *s, unsigned idx);

const char *ss_cmd_metrics(cmd_parms *cmd, void *dconf, const char *on,
                           const char *mode);
const char *ss_cmd_metrics_capacity(cmd_parms *cmd, void *dconf,
                                    const char *arg);
void ss_metrics_register_hooks(apr_pool_t *p);

/* The counters' handler, which the module's one handler hook asks about
 * every request whose handler starts with its first letter (DECLINED
 * unless r->handler is status-set-metrics). */
#define SS_METRICS_HANDLER "status-set-metrics"
int ss_metrics_handler(request_rec *r);

/* ---- tracing (mod_status_set_trace.c) ---- */

/* Non-zero when any StatusSetTrace rule exists: the one test a request
 * pays when no rule concerns it. */
extern int ss_trace_configured;

/* The StatusSetTrace rules of a per-directory configuration and the
 * codes they match (NULL: none), read through ap_get_module_config(); and
 * where a directive of that context adds its rule. */
typedef struct ss_trace_set_t ss_trace_set_t;
ss_trace_set_t *ss_dir_traces(ap_conf_vector_t *per_dir_config);
ss_trace_set_t **ss_dir_traces_slot(void *dconf);
ss_trace_set_t *ss_trace_merge(apr_pool_t *p, ss_trace_set_t *add,
                               ss_trace_set_t *base);

/* The moments a traced request's phases ended (ss_trace_phase()). */
typedef enum {
    SS_PHASE_FIXUPS,    /* access, authentication, authorization, fixups */
    SS_PHASE_HANDLER,   /* the handler starts (insert_filter) */
    SS_PHASE_COUNT
} ss_phase_e;

void ss_trace_phase_slow(request_rec *r, ss_phase_e phase);

/* Non-zero when a StatusSetTrace rule asks for phases=on. */
extern int ss_trace_phases;

/* Note when phase ended, for a request a rule with phases=on may pick:
 * one test when no rule asks for them. */
static APR_INLINE void ss_trace_phase(request_rec *r, ss_phase_e phase)
{
    if (ss_trace_phases) {
        ss_trace_phase_slow(r, phase);
    }
}

/* A step of the status chain of r (from: the status before it). */
void ss_trace_step(request_rec *r, int from, int code, int substatus,
                   int error, const char *reason, const char *source);

const char *ss_cmd_trace(cmd_parms *cmd, void *dconf, const char *args);
const char *ss_cmd_trace_log(cmd_parms *cmd, void *dconf, const char *arg);
const char *ss_cmd_trace_limit(cmd_parms *cmd, void *dconf,
                               const char *arg);
void *ss_trace_create_server(apr_pool_t *p, server_rec *s);
void *ss_trace_merge_server(apr_pool_t *p, void *basev, void *addv);
void ss_trace_register_hooks(apr_pool_t *p);

/* ---- the directives' common parts (mod_status_set.c) ---- */

/* Split a directive's arguments as httpd splits every directive's; NULL
 * on success, else the message. */
const char *ss_cmd_split(cmd_parms *cmd, const char *args, int *argc,
                         char ***argv);

/* msg prefixed with the directive's name, from cmd->pool. */
const char *ss_cmd_error(cmd_parms *cmd, const char *msg);

/* The source of the rule the directive makes: named name (a name= option,
 * unique in the configuration) or, when name is NULL, its FILE:LINE; its
 * counter is keyed by the name, or by FILE:LINE with the directive's words
 * and the sections around it, so that no other rule takes it over when an
 * edit moves the lines.  counted: the rule sets statuses, and has a
 * counter.  NULL and *err set when the name is taken. */
ss_series_t *ss_cmd_series(cmd_parms *cmd, const char *name, int counted,
                           const char **err);

/* Compile an expr= option's text (NULL: none) into *expr; NULL, or the
 * message with the directive's name. */
const char *ss_cmd_expr(cmd_parms *cmd, const char *text,
                        ap_expr_info_t **expr);

/* A rule's condition on r (NULL: true); a failure counts as false, with
 * an SS0002 warning naming the rule's source. */
int ss_expr_true(request_rec *r, const ap_expr_info_t *expr,
                 const char *source);

#endif /* MOD_STATUS_SET_PRIVATE_H */
