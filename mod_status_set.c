/*
 * mod_status_set.c -- set a response's status code, reason phrase,
 * substatus and error code from httpd.conf, in the manner of IIS's
 * IHttpResponse::SetStatus(status, reason, substatus, error).
 *
 * Directives (status values are CODE[.SUB] ["REASON"] [error=N]):
 *
 *   StatusSet CODE[.SUB] ["REASON"] [error=N] [location=URL] [expr=EXPR]
 *       Fixups hook.  The first matching rule (the section httpd merges
 *       last first, then file order) ends the request with that status:
 *       4xx/5xx and 3xx through Apache's error machinery (ErrorDocument
 *       applies), 2xx with an empty body from this module's handler.
 *
 *   StatusSetReason CODE "REASON"
 *       The phrase for CODE whenever no setter chose one, including codes
 *       Apache has no name for (which it would otherwise send as 500).
 *
 *   StatusSetResponse MATCH CODE[.SUB] ["REASON"] [error=N] [location=URL]
 *                     [expr=EXPR]
 *       Output filter.  The first rule whose MATCH (404, 404.13, 4xx,
 *       500-504, *) fits the status about to be written rewrites it.
 *
 *   StatusSetFromHeader HEADER-NAME [keep] | off
 *       Output filter.  A response header holding a status value is
 *       applied as a setter and removed.
 *
 *   StatusSetFromEnv NAME | off
 *       Output filter.  A request environment variable (or else a note)
 *       holding a status value is applied as a setter.
 *
 * Directive words are split by ap_getword_conf(), as for every directive.
 * The C API (mod_status_set.h) sets the same tuple from other modules; it
 * keeps the state and never writes r->status before the handler returns.
 *
 * Whatever a setter applies is recorded as request notes
 * (status-set-substatus, -error, -reason, -source), environment variables
 * (STATUS_SET_SUBSTATUS, _ERROR, _REASON), the log format tags %^SS %^SE
 * %^SR, and one error-log line per step at LogLevel status_set:info
 * (SS0001).
 *
 * Where the status is decided:
 *   - Apache's error path (insert_error_filter): a StatusSet 4xx/5xx, a
 *     hook's error, ProxyErrorOverride: the setter's state and the bridge
 *     header apply there, before the canned page is made.
 *   - STATUS_SET_ORIGIN (AP_FTYPE_CONTENT_SET - 1), on the response's first
 *     data: the API's state and the bridge header, before mod_cache's
 *     CACHE_SAVE stores the response and before BYTERANGE cuts it.
 *   - STATUS_SET_FINAL, linked in right before HTTP_HEADER (or mod_http2's
 *     H2_C2_RESPONSE_OUT), after every filter that can change the status:
 *     StatusSetResponse, StatusSetReason, and r->status_line.  Apache keeps
 *     a reason phrase only in r->status_line, which ap_internal_redirect()
 *     does not copy and HTTP_HEADER replaces with "500 Internal Server
 *     Error" for any code missing from its table: so it is written here.
 * Requests that no setter or response-phase directive concerns get neither
 * filter; a response whose code no rule of its context names, without a
 * setter, passes STATUS_SET_FINAL with one bit test (ss_final_idle()).
 *
 * This file is the module's glue.  The counters (StatusSetMetrics, the
 * status-set-metrics handler, mod_status lines) are in
 * mod_status_set_metrics.c over the APR-only status_set_metrics.c and
 * status_set_expose.c; the tracing (StatusSetTrace*) in
 * mod_status_set_trace.c over the APR-only status_set_trace.c; what they
 * share with this file is in mod_status_set_private.h (ss_outcome(): the
 * status a finished request went out with).
 */

#include <stddef.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_expr.h"
#include "mod_log_config.h"

#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_optional.h"

#include "mod_status_set.h"
#include "mod_status_set_private.h"
#include "status_set_parse.h"

#define SS_ORIGIN_FILTER "STATUS_SET_ORIGIN"
#define SS_FINAL_FILTER  "STATUS_SET_FINAL"

#define SS_NOTE_SUBSTATUS "status-set-substatus"
#define SS_NOTE_ERROR     "status-set-error"
#define SS_NOTE_REASON    "status-set-reason"
#define SS_NOTE_SOURCE    "status-set-source"
#define SS_ENV_SUBSTATUS  "STATUS_SET_SUBSTATUS"
#define SS_ENV_ERROR      "STATUS_SET_ERROR"
#define SS_ENV_REASON     "STATUS_SET_REASON"


/* ------------------------------------------------------------------ */
/* Types                                                              */

/* A status as a setter chose it, with the strings that the status line,
 * notes, environment and log tags need, made once. */
typedef struct {
    int code;
    int substatus;
    int error;
    const char *reason;       /* a rule's may be NULL: default at request */
    const char *status_line;  /* "CODE REASON"; NULL while reason is */
    const char *default_line; /* without reason: "CODE" and the phrase of
                               * Apache or the class, made at config time */
    const char *sub_str;
    const char *err_str;
    const char *source;       /* name, FILE:LINE, api, header:NAME */
    const ss_series_t *series; /* the source's counter */
} ss_status_t;

/* One StatusSet rule, all computed at config time, so that a matching
 * request only copies pointers. */
typedef struct {
    ss_status_t st;
    const char *location;     /* 3xx only */
    ap_expr_info_t *expr;     /* NULL: always matches */
} ss_rule_t;



typedef struct {
    int code;
    const char *reason;
} ss_reason_t;

#define SS_NCODES (SS_CODE_MAX - SS_CODE_MIN + 1)

/* StatusSetReason phrases, the section merged last first, with a bit per
 * code that has one: most responses have none, and learn it in one test. */
typedef struct {
    apr_array_header_t *list;             /* ss_reason_t */
    ss_codeset_t codes;
} ss_reasons_t;

/* One StatusSetResponse rule. */
typedef struct {
    ss_status_t st;           /* reason may be NULL */
    const char *location;     /* 3xx only */
    ap_expr_info_t *expr;     /* NULL: always matches */
} ss_resp_rule_t;

/* One item of a rule's MATCH list, and the rule's place in its context
 * (file order). */
typedef struct {
    const ss_resp_rule_t *rule;
    ss_match_t m;
    int seq;
} ss_resp_entry_t;

/* The StatusSetResponse rules of one context.  Items naming one code are
 * indexed by code, so that a response finds its rules at the same cost with
 * one rule or a thousand; items spanning codes (4xx, 500-504, *) are kept
 * in one list.  Building it is linear in the rules: .htaccess files are
 * read on every request. */
typedef struct {
    apr_array_header_t **by_code;   /* SS_NCODES lists, or NULL */
    apr_array_header_t *spans;      /* ss_resp_entry_t, or NULL */
    int nrules;
} ss_resp_set_t;

/* Per-directory configuration.  Arrays are NULL when a context has none,
 * so that a merge can share the parent's array without copying it.  Every
 * array lists the entries of the section merged last first; lookups take the
 * first hit. */
typedef struct {
    ss_trace_set_t *traces;         /* StatusSetTrace */
    apr_array_header_t *rules;      /* ss_rule_t *, StatusSet */
    ss_reasons_t *reasons;          /* StatusSetReason */
    apr_array_header_t *resp_sets;  /* ss_resp_set_t *, StatusSetResponse */
    ss_resp_set_t *own_set;         /* this context's set, while parsing */
    ss_codeset_t *final_codes;      /* the codes StatusSetResponse and
                                     * StatusSetReason name: a response of
                                     * another code, without a setter, goes
                                     * out as it is (one test) */
    const char *from_header;        /* StatusSetFromHeader; NULL: off */
    const ss_series_t *from_source; /* "header:NAME" */
    int from_keep;
    int from_set;                   /* StatusSetFromHeader given here */
    const char *from_env;           /* StatusSetFromEnv; NULL: off */
    const ss_series_t *env_source;  /* "env:NAME" */
    int env_set;                    /* StatusSetFromEnv given here */
} ss_dir_conf_t;

/* Per-request state, in r->request_config.  A setter allocates one (in
 * r->pool); an internal redirect's new request adopts the pointer (they
 * share r->pool), so the final request sees what was set on the first.
 * Without a setter the slot holds NULL or one of the static markers
 * below, which cost no allocation. */
#define SS_F_STARTED    0x1   /* insert_filter ran: the handler is next */
#define SS_F_COMMITTED  0x2   /* the status went out: too late to set */
#define SS_F_FORGOTTEN  0x4   /* a later error response replaced the setter */
#define SS_F_SUBREQ     0x8   /* a subrequest of r recorded a status */
#define SS_F_BRIDGED    0x10  /* StatusSetFromHeader was read for r */
#define SS_F_ENVREAD    0x20  /* StatusSetFromEnv found its value for r */
#define SS_F_MARKERS    0x40  /* the flags a marker can carry */
#define SS_F_APPLIED    0x40  /* the setter's status is in r->status */
#define SS_F_NOCACHE    0x80  /* the module set r->no_cache for it */

typedef struct {
    request_rec *owner;       /* the request that set it */
    ss_status_t st;           /* reason and status_line always set */
    int has_status;           /* 0 in the markers */
    unsigned flags;           /* SS_F_* */
    int send_empty;           /* 2xx StatusSet: our handler sends no body */
} ss_req_t;

/* Markers, indexed by their flags; never written at request time. */
static ss_req_t ss_markers[SS_F_MARKERS];

/* ------------------------------------------------------------------ */
/* Configuration                                                      */

ss_trace_set_t *ss_dir_traces(ap_conf_vector_t *per_dir_config)
{
    const ss_dir_conf_t *dc = ap_get_module_config(per_dir_config,
                                                   &status_set_module);
    return dc->traces;
}

ss_trace_set_t **ss_dir_traces_slot(void *dconf)
{
    return &((ss_dir_conf_t *)dconf)->traces;
}

static void *ss_create_dir_conf(apr_pool_t *p, char *dir)
{
    (void)dir;
    return apr_pcalloc(p, sizeof(ss_dir_conf_t));
}

/* Concatenate child then parent, sharing either array when the other is
 * empty: per-request merges of contexts without rules allocate nothing. */
static apr_array_header_t *ss_merge_list(apr_pool_t *p,
                                         apr_array_header_t *child,
                                         apr_array_header_t *parent)
{
    if (!child || apr_is_empty_array(child)) {
        return parent;
    }
    if (!parent || apr_is_empty_array(parent)) {
        return child;
    }
    return apr_array_append(p, child, parent);
}

static ss_reasons_t *ss_merge_reasons(apr_pool_t *p, ss_reasons_t *child,
                                      ss_reasons_t *parent)
{
    ss_reasons_t *merged;

    if (!child || !parent) {
        return child ? child : parent;
    }
    merged = apr_palloc(p, sizeof(*merged));
    merged->list = apr_array_append(p, child->list, parent->list);
    ss_codeset_union(&merged->codes, &child->codes, &parent->codes);
    return merged;
}

static int ss_conf_empty(const ss_dir_conf_t *c)
{
    return !c->rules && !c->reasons && !c->resp_sets && !c->from_set
           && !c->env_set
           && !c->traces;
}

static void *ss_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    ss_dir_conf_t *base = basev, *add = addv, *conf;

    /* Configs are read-only once merged, so a section of other modules'
     * directives can share its parent's: no allocation per request. */
    if (ss_conf_empty(add)) {
        return base;
    }
    if (ss_conf_empty(base)) {
        return add;
    }
    conf = apr_pcalloc(p, sizeof(*conf));
    conf->rules = ss_merge_list(p, add->rules, base->rules);
    conf->reasons = ss_merge_reasons(p, add->reasons, base->reasons);
    conf->resp_sets = ss_merge_list(p, add->resp_sets, base->resp_sets);
    if (!add->final_codes || !base->final_codes) {
        conf->final_codes = add->final_codes ? add->final_codes
                                             : base->final_codes;
    }
    else {
        conf->final_codes = apr_palloc(p, sizeof(*conf->final_codes));
        ss_codeset_union(conf->final_codes, add->final_codes,
                         base->final_codes);
    }
    conf->traces = ss_trace_merge(p, add->traces, base->traces);
    /* The nearer StatusSetFromHeader wins, "off" included. */
    if (add->from_set) {
        conf->from_header = add->from_header;
        conf->from_source = add->from_source;
        conf->from_keep = add->from_keep;
        conf->from_set = 1;
    }
    else {
        conf->from_header = base->from_header;
        conf->from_source = base->from_source;
        conf->from_keep = base->from_keep;
        conf->from_set = base->from_set;
    }
    /* The nearer StatusSetFromEnv wins, "off" included. */
    if (add->env_set) {
        conf->from_env = add->from_env;
        conf->env_source = add->env_source;
        conf->env_set = 1;
    }
    else {
        conf->from_env = base->from_env;
        conf->env_source = base->env_source;
        conf->env_set = base->env_set;
    }
    return conf;
}

/* Apache's own phrase for code, or NULL when its table has none (it then
 * answers with "500 Internal Server Error"). */
static const char *ss_apache_reason(int code)
{
    const char *line = ap_get_status_line(code);

    if (line && (line[0] - '0') * 100 + (line[1] - '0') * 10
                + (line[2] - '0') == code) {
        return line + 4;
    }
    return NULL;
}

/* "CODE REASON" in p, code 200-599: what apr_psprintf("%03d %s") gives,
 * without a formatter (the API makes one per call). */
static char *ss_status_line(apr_pool_t *p, int code, const char *reason)
{
    apr_size_t len = strlen(reason);
    char *line = apr_palloc(p, len + 5);

    if (line) {
        line[0] = (char)('0' + code / 100);
        line[1] = (char)('0' + code / 10 % 10);
        line[2] = (char)('0' + code % 10);
        line[3] = ' ';
        memcpy(line + 4, reason, len + 1);
    }
    return line;
}

/* n as a string: the usual substatus and error codes (0-99) from a table,
 * others made in p. */
#define SS_TENS(t) #t "0", #t "1", #t "2", #t "3", #t "4", #t "5", #t "6", \
                   #t "7", #t "8", #t "9"
static const char ss_small_num[100][3] = {
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    SS_TENS(1), SS_TENS(2), SS_TENS(3), SS_TENS(4), SS_TENS(5), SS_TENS(6),
    SS_TENS(7), SS_TENS(8), SS_TENS(9)
};

static const char *ss_num_str(apr_pool_t *p, int n)
{
    return n >= 0 && n < 100 ? ss_small_num[n] : apr_itoa(p, n);
}

/* Fill st, copying reason (NULL stays NULL: default phrase later).
 * Returns APR_ENOMEM if p cannot give the memory. */
static apr_status_t ss_status_init(apr_pool_t *p, ss_status_t *st, int code,
                                   int substatus, int error,
                                   const char *reason,
                                   const ss_series_t *series)
{
    st->code = code;
    st->substatus = substatus;
    st->error = error;
    st->source = series->label;
    st->series = series;
    st->reason = NULL;
    st->status_line = NULL;
    st->default_line = NULL;
    if (reason) {
        st->status_line = ss_status_line(p, code, reason);
        if (!st->status_line) {
            return APR_ENOMEM;
        }
        st->reason = st->status_line + 4;
    }
    else {
        /* A rule's phrase is found at request time (a StatusSetReason of
         * the request's context may name the code); where none does, it is
         * this one, made once. */
        const char *apache = ss_apache_reason(code);
        st->default_line = ss_status_line(p, code, apache ? apache
                                              : ss_class_reason(code));
    }
    st->sub_str = ss_num_str(p, substatus);
    st->err_str = ss_num_str(p, error);
    return st->sub_str && st->err_str ? APR_SUCCESS : APR_ENOMEM;
}

const char *ss_cmd_error(cmd_parms *cmd, const char *msg)
{
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", msg, NULL);
}

ss_series_t ss_api_series = { "api", -1 };

/* The names given in the configuration being read (reset in pre_config;
 * .htaccess files are read by the children, one at a time, and their
 * names are not checked against it). */
static apr_hash_t *ss_names;

ss_series_t *ss_cmd_series(cmd_parms *cmd, const char *name, int counted,
                           const char **err)
{
    const ap_directive_t *d = cmd->directive;
    ss_series_t *series = apr_pcalloc(cmd->pool, sizeof(*series));
    const char *where = d ? apr_psprintf(cmd->pool, "%s:%d", d->filename,
                                         d->line_num) : "(unknown)";
    const char *key;

    *err = NULL;
    series->cell = -1;
    if (name) {
        const char *taken = NULL;
        if (ss_names) {
            taken = apr_hash_get(ss_names, name, APR_HASH_KEY_STRING);
            if (!taken) {
                apr_hash_set(ss_names, apr_pstrdup(cmd->pool, name),
                             APR_HASH_KEY_STRING, where);
            }
        }
        if (taken) {
            *err = apr_psprintf(cmd->temp_pool, "name=%s is already the "
                                "name of the rule at %s: a name is unique "
                                "in the configuration", name, taken);
            return NULL;
        }
        series->label = ss_metrics_label(cmd->pool, name);
    }
    else {
        series->label = ss_metrics_label(cmd->pool, where);
    }
    /* A cell for the rule, keyed by its identity: only the configuration
     * the parent reads (an .htaccess rule, read on every request it
     * applies to, is counted by its label). */
    if (counted && ss_names) {
        if (name) {
            key = apr_pstrcat(cmd->pool, "name\n", name, NULL);
        }
        else {
            /* FILE:LINE, with what the rule says and where it stands:
             * after an edit that moves lines, another rule at this line
             * has another key, and this rule's counter is never its. */
            key = apr_pstrcat(cmd->pool, "line\n", where, "\n",
                              d ? d->directive : "", " ", d ? d->args : "",
                              NULL);
            for (d = d ? d->parent : NULL; d; d = d->parent) {
                key = apr_pstrcat(cmd->pool, key, "\n", d->directive, " ",
                                  d->args, NULL);
            }
        }
        ss_metrics_conf_source(cmd, series, key);
    }
    return series;
}

/* Compile an expr= option, or say why not. */
const char *ss_cmd_expr(cmd_parms *cmd, const char *text,
                        ap_expr_info_t **expr)
{
    const char *experr = NULL;

    *expr = NULL;
    if (!text) {
        return NULL;
    }
    *expr = ap_expr_parse_cmd(cmd, text, 0, &experr, NULL);
    if (experr) {
        return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool,
                            "cannot parse expr=%s: %s", text, experr));
    }
    return NULL;
}

/* A 3xx needs somewhere to send the client; nothing else takes one. */
static const char *ss_cmd_location(cmd_parms *cmd, const ss_spec_t *spec)
{
    if (ap_is_HTTP_REDIRECT(spec->code) && !spec->location) {
        return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool,
                            "status %d is a redirection and needs "
                            "location=URL", spec->code));
    }
    if (!ap_is_HTTP_REDIRECT(spec->code) && spec->location) {
        return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool,
                            "location= is allowed only with a 3xx status, "
                            "not with %d", spec->code));
    }
    return NULL;
}

/* A directive's words, split by ap_getword_conf() as httpd splits every
 * other directive's (TAKE_ARGV does too, but drops a last empty "" and
 * stops at 64 words), so that quoting and backslashes mean here what they
 * mean for mod_headers or mod_setenvif. */
static int ss_cmd_words(cmd_parms *cmd, const char *args, char ***argv,
                        const char **err)
{
    apr_array_header_t *words = apr_array_make(cmd->temp_pool, 4,
                                               sizeof(char *));

    *err = NULL;
    *argv = NULL;

    while (apr_isspace(*args)) {
        args++;
    }
    while (*args) {
        if (*args == '"' || *args == '\'') {
            /* httpd takes an unterminated quote to the end of the line
             * silently: say so instead. */
            const char *s = args + 1;
            while (*s && *s != *args) {
                s += (*s == '\\' && (s[1] == *args || s[1] == '\\')) ? 2 : 1;
            }
            if (!*s) {
                int i, in_expr = 0;
                for (i = 0; i < words->nelts; i++) {
                    in_expr |= !strncmp(APR_ARRAY_IDX(words, i, char *),
                                        "expr=", 5);
                }
                *err = apr_psprintf(cmd->temp_pool, "unterminated quote in "
                                    "'%s': close it, and write a quote "
                                    "inside quotes as \\\"%s",
                                    ss_escape_for_message(cmd->temp_pool,
                                    args, strlen(args)), in_expr
                                    ? "; httpd takes a quote only at the "
                                      "start of a word, so quote the whole "
                                      "option, as in \"expr=%{HTTP:X} == "
                                      "'y'\"" : "");
                return 0;
            }
        }
        APR_ARRAY_PUSH(words, char *) = ap_getword_conf(cmd->temp_pool,
                                                        &args);
    }
    *argv = (char **)words->elts;
    return words->nelts;
}

const char *ss_cmd_split(cmd_parms *cmd, const char *args, int *argc,
                         char ***argv)
{
    const char *err;

    *argc = ss_cmd_words(cmd, args, argv, &err);
    return err;
}

static const char *ss_cmd_status_set(cmd_parms *cmd, void *dconf,
                                     const char *args)
{
    ss_dir_conf_t *dc = dconf;
    ss_spec_t spec;
    ss_rule_t *rule;
    ss_series_t *series;
    const char *err;
    char **argv;
    int argc = ss_cmd_words(cmd, args, &argv, &err);

    if (!err) {
        err = ss_parse_words(cmd->temp_pool, argc, (const char *const *)argv,
                             SS_ALLOW_ERROR | SS_ALLOW_LOCATION
                             | SS_ALLOW_EXPR | SS_ALLOW_NAME, &spec);
    }
    if (err) {
        return ss_cmd_error(cmd, err);
    }
    if ((err = ss_cmd_location(cmd, &spec)) != NULL) {
        return err;
    }

    if ((series = ss_cmd_series(cmd, spec.name, 1, &err)) == NULL) {
        return ss_cmd_error(cmd, err);
    }
    rule = apr_pcalloc(cmd->pool, sizeof(*rule));
    ss_status_init(cmd->pool, &rule->st, spec.code, spec.substatus,
                   spec.error, spec.reason, series);
    rule->location = apr_pstrdup(cmd->pool, spec.location);
    if ((err = ss_cmd_expr(cmd, spec.expr, &rule->expr)) != NULL) {
        return err;
    }

    ss_metrics_conf_pair(cmd, spec.code, spec.substatus);
    if (!dc->rules) {
        dc->rules = apr_array_make(cmd->pool, 2, sizeof(ss_rule_t *));
    }
    APR_ARRAY_PUSH(dc->rules, ss_rule_t *) = rule;
    return NULL;
}

/* The final-phase code set of a context being read. */
static ss_codeset_t *ss_final_codes(cmd_parms *cmd, ss_dir_conf_t *dc)
{
    if (!dc->final_codes) {
        dc->final_codes = apr_pcalloc(cmd->pool, sizeof(*dc->final_codes));
    }
    return dc->final_codes;
}

static const char *ss_cmd_reason(cmd_parms *cmd, void *dconf,
                                 const char *args)
{
    ss_dir_conf_t *dc = dconf;
    ss_spec_t spec;
    ss_reason_t *entry = NULL;
    const char *err;
    char **argv;
    int argc = ss_cmd_words(cmd, args, &argv, &err), i;

    if (!err) {
        err = ss_parse_words(cmd->temp_pool, argc, (const char *const *)argv,
                             0, &spec);
    }
    if (err) {
        return ss_cmd_error(cmd, err);
    }
    if (spec.has_substatus) {
        return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool,
                            "'%s' names a substatus: a reason "
                            "belongs to a bare code, as in "
                            "StatusSetReason 499 \"Client Closed Request\"",
                            ss_escape_for_message(cmd->temp_pool, argv[0],
                                                  strlen(argv[0]))));
    }
    if (!spec.reason) {
        return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool,
                            "no reason phrase for %d: expected "
                            "CODE \"REASON\"", spec.code));
    }

    /* Within one context the last phrase for a code wins. */
    if (!dc->reasons) {
        dc->reasons = apr_pcalloc(cmd->pool, sizeof(*dc->reasons));
        dc->reasons->list = apr_array_make(cmd->pool, 4,
                                           sizeof(ss_reason_t));
    }
    for (i = 0; i < dc->reasons->list->nelts; i++) {
        ss_reason_t *e = &APR_ARRAY_IDX(dc->reasons->list, i, ss_reason_t);
        if (e->code == spec.code) {
            entry = e;
        }
    }
    if (!entry) {
        entry = apr_array_push(dc->reasons->list);
    }
    ss_codeset_add(&dc->reasons->codes, spec.code, spec.code);
    ss_codeset_add(ss_final_codes(cmd, dc), spec.code, spec.code);
    entry->code = spec.code;
    entry->reason = apr_pstrdup(cmd->pool, spec.reason);
    return NULL;
}

/* Add one MATCH item of rule to set: a single code to that code's list,
 * anything wider to the list of spans.  Both stay in file order. */
static void ss_resp_index(apr_pool_t *p, ss_resp_set_t *set,
                          const ss_resp_rule_t *rule, const ss_match_t *m)
{
    apr_array_header_t **list;
    ss_resp_entry_t *e;

    if (m->lo == m->hi) {
        if (!set->by_code) {
            set->by_code = apr_pcalloc(p, SS_NCODES * sizeof(*set->by_code));
        }
        list = &set->by_code[m->lo - SS_CODE_MIN];
    }
    else {
        list = &set->spans;
    }
    if (!*list) {
        *list = apr_array_make(p, 1, sizeof(ss_resp_entry_t));
    }
    e = apr_array_push(*list);
    e->rule = rule;
    e->m = *m;
    e->seq = set->nrules;
}

static const char *ss_cmd_response(cmd_parms *cmd, void *dconf,
                                   const char *args)
{
    ss_dir_conf_t *dc = dconf;
    apr_array_header_t *matches;
    ss_resp_rule_t *rule;
    ss_series_t *series;
    ss_spec_t spec;
    const char *err;
    char **argv;
    int argc = ss_cmd_words(cmd, args, &argv, &err), i;

    if (err) {
        return ss_cmd_error(cmd, err);
    }
    if (argc < 2) {
        return ss_cmd_error(cmd, "a MATCH list and a status are required: "
                            "StatusSetResponse MATCH CODE[.SUBSTATUS] "
                            "[\"REASON\"] [error=N] [location=URL] "
                            "[expr=EXPRESSION] [name=NAME]");
    }
    if ((err = ss_parse_match(cmd->temp_pool, argv[0], &matches)) != NULL) {
        return ss_cmd_error(cmd, err);
    }
    err = ss_parse_words(cmd->temp_pool, argc - 1,
                         (const char *const *)argv + 1,
                         SS_ALLOW_ERROR | SS_ALLOW_LOCATION | SS_ALLOW_EXPR
                         | SS_ALLOW_NAME, &spec);
    if (err) {
        return ss_cmd_error(cmd, err);
    }
    if ((err = ss_cmd_location(cmd, &spec)) != NULL) {
        return err;
    }

    if ((series = ss_cmd_series(cmd, spec.name, 1, &err)) == NULL) {
        return ss_cmd_error(cmd, err);
    }
    rule = apr_pcalloc(cmd->pool, sizeof(*rule));
    ss_status_init(cmd->pool, &rule->st, spec.code, spec.substatus,
                   spec.error, spec.reason, series);
    rule->location = apr_pstrdup(cmd->pool, spec.location);
    if ((err = ss_cmd_expr(cmd, spec.expr, &rule->expr)) != NULL) {
        return err;
    }

    ss_metrics_conf_pair(cmd, spec.code, spec.substatus);
    /* A context's rules form one set, shared by reference in merges. */
    if (!dc->own_set) {
        dc->own_set = apr_pcalloc(cmd->pool, sizeof(ss_resp_set_t));
        dc->resp_sets = apr_array_make(cmd->pool, 1,
                                       sizeof(ss_resp_set_t *));
        APR_ARRAY_PUSH(dc->resp_sets, ss_resp_set_t *) = dc->own_set;
    }
    for (i = 0; i < matches->nelts; i++) {
        ss_resp_index(cmd->pool, dc->own_set, rule,
                      &APR_ARRAY_IDX(matches, i, ss_match_t));
    }
    ss_codeset_add_match(ss_final_codes(cmd, dc), matches);
    dc->own_set->nrules++;
    return NULL;
}

/* The counter source "PREFIX:NAME" of a bridge directive. */
static const ss_series_t *ss_bridge_source(cmd_parms *cmd,
                                           const char *prefix,
                                           const char *name)
{
    ss_series_t *series = apr_pcalloc(cmd->pool, sizeof(*series));

    series->label = ss_metrics_label(cmd->pool,
                                     apr_pstrcat(cmd->temp_pool, prefix,
                                                 name, NULL));
    series->cell = -1;
    ss_metrics_conf_source(cmd, series, series->label);
    return series;
}

static const char *ss_cmd_from_env(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    ss_dir_conf_t *dc = dconf;
    const char *s;

    dc->env_set = 1;
    if (!strcasecmp(arg, "off")) {
        dc->from_env = NULL;
        return NULL;
    }
    if (!*arg) {
        return ss_cmd_error(cmd, "a variable name is required: expected "
                            "NAME, or off");
    }
    for (s = arg; *s; s++) {
        /* What SetEnv, mod_rewrite's [E=] and setenv: can name. */
        if (!apr_isalnum(*s) && *s != '_' && *s != '-' && *s != '.') {
            return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool,
                                "'%s' is not a variable name: allowed are "
                                "letters, digits, _ - and ., or off",
                                ss_escape_for_message(cmd->temp_pool, arg,
                                                      strlen(arg))));
        }
    }
    dc->from_env = apr_pstrdup(cmd->pool, arg);
    dc->env_source = ss_bridge_source(cmd, "env:", arg);
    return NULL;
}

static const char *ss_cmd_from_header(cmd_parms *cmd, void *dconf,
                                      const char *args)
{
    ss_dir_conf_t *dc = dconf;
    char **argv;
    const char *err;
    int argc = ss_cmd_words(cmd, args, &argv, &err);
    const char *name = argc > 0 ? argv[0] : NULL;
    const char *keep = argc > 1 ? argv[1] : NULL, *s;

    if (err) {
        return ss_cmd_error(cmd, err);
    }
    if (!name || !*name) {
        return ss_cmd_error(cmd, "a header name is required: expected "
                            "HEADER-NAME [keep], or off");
    }
    if (argc > 2) {
        return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool,
                            "unexpected '%s': expected HEADER-NAME [keep], "
                            "or off", ss_escape_for_message(cmd->temp_pool,
                            argv[2], strlen(argv[2]))));
    }
    if (keep && strcasecmp(keep, "keep") != 0) {
        return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool,
                            "unknown option '%s': the only option is keep",
                            ss_escape_for_message(cmd->temp_pool, keep,
                                                  strlen(keep))));
    }
    dc->from_set = 1;
    if (strcasecmp(name, "off") == 0) {
        if (keep) {
            return ss_cmd_error(cmd, "keep with off: off takes no option");
        }
        dc->from_header = NULL;
        return NULL;
    }
    for (s = name; *s; s++) {
        /* RFC 9110 token characters */
        if (!apr_isalnum(*s) && !strchr("!#$%&'*+-.^_`|~", *s)) {
            return ss_cmd_error(cmd, apr_psprintf(cmd->temp_pool,
                                "'%s' is not a header name: allowed are "
                                "letters, digits and !#$%%&'*+-.^_`|~, or "
                                "off", ss_escape_for_message(cmd->temp_pool,
                                name, strlen(name))));
        }
    }
    dc->from_header = apr_pstrdup(cmd->pool, name);
    dc->from_source = ss_bridge_source(cmd, "header:", name);
    dc->from_keep = keep != NULL;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Request state                                                      */

static const char *ss_conf_reason(const ss_dir_conf_t *dc, int code)
{
    int i;

    if (!dc->reasons || code < SS_CODE_MIN || code > SS_CODE_MAX
        || !ss_codeset_has(&dc->reasons->codes, code)) {
        return NULL;
    }
    for (i = 0; i < dc->reasons->list->nelts; i++) {
        const ss_reason_t *e = &APR_ARRAY_IDX(dc->reasons->list, i,
                                              ss_reason_t);
        if (e->code == code) {
            return e->reason;
        }
    }
    return NULL;
}

/* The StatusSetReason phrase for code in r's context, or NULL.  (In
 * create_request hooks r has no configuration yet.) */
static const char *ss_request_reason(const request_rec *r, int code)
{
    if (!r->per_dir_config) {
        return NULL;
    }
    return ss_conf_reason(ap_get_module_config(r->per_dir_config,
                                               &status_set_module), code);
}

/* A rule's status without a phrase gets its default for r. */
static void ss_default_phrase(request_rec *r, ss_status_t *st)
{
    const char *reason = ss_request_reason(r, st->code);

    if (reason) {
        st->reason = reason;
        st->status_line = apr_psprintf(r->pool, "%03d %s", st->code, reason);
    }
    else {
        st->status_line = st->default_line;
        st->reason = st->default_line + 4;
    }
}

/* SPEC 2: StatusSetReason, else Apache's phrase, else the class phrase. */
static const char *ss_default_reason(request_rec *r, int code)
{
    const char *reason = ss_request_reason(r, code);

    if (!reason) {
        reason = ss_apache_reason(code);
    }
    return reason ? reason : ss_class_reason(code);
}

/* r->status_line is a phrase someone chose for r->status (the same test
 * that the HTTP_HEADER filter applies, plus a non-empty phrase). */
static int ss_status_line_chosen(const request_rec *r)
{
    const char *l = r->status_line;

    return l && l[0] == '0' + r->status / 100
             && l[1] == '0' + r->status / 10 % 10
             && l[2] == '0' + r->status % 10
             && l[3] == ' ' && l[4] != '\0';
}

/* The notes of SPEC 4.  fresh: r's notes hold none of ours yet, so adding
 * skips apr_table_setn()'s search for an old value. */
static void ss_set_notes(request_rec *r, const ss_status_t *st, int fresh)
{
    void (*put)(apr_table_t *, const char *, const char *) =
        fresh ? apr_table_addn : apr_table_setn;

    put(r->notes, SS_NOTE_SUBSTATUS, st->sub_str);
    put(r->notes, SS_NOTE_ERROR, st->err_str);
    put(r->notes, SS_NOTE_REASON, st->reason);
    put(r->notes, SS_NOTE_SOURCE, st->source);
}

static ss_req_t *ss_slot(const request_rec *r)
{
    return ap_get_module_config(r->request_config, &status_set_module);
}

static void ss_slot_set(request_rec *r, ss_req_t *rq)
{
    ap_set_module_config(r->request_config, &status_set_module, rq);
}

static unsigned ss_flags(const request_rec *r)
{
    const ss_req_t *slot = ss_slot(r);

    return slot ? slot->flags : 0;
}

/* Add a flag to r's state, or move r to the marker that carries it. */
static void ss_mark(request_rec *r, unsigned flag)
{
    ss_req_t *slot = ss_slot(r);

    if (slot && slot->has_status) {
        slot->flags |= flag;
    }
    else {
        ss_slot_set(r, &ss_markers[(slot ? slot->flags : 0) | flag]);
    }
}

/* rq was set on a request that then failed with another error code and
 * was redirected to that code's ErrorDocument: rq no longer applies. */
static int ss_superseded(const ss_req_t *rq)
{
    const request_rec *o = rq->owner;

    return o->next && o->status != HTTP_OK && o->status != rq->st.code;
}

/* The state that applies to r: its own, or that of a request r was
 * redirected from (log tags, ss_get_status(), adoption). */
static ss_req_t *ss_req_find(const request_rec *r)
{
    for (; r; r = r->prev) {
        ss_req_t *rq = ss_slot(r);
        if (rq && rq->has_status) {
            return ss_superseded(rq) ? NULL : rq;
        }
        if (rq && (rq->flags & SS_F_FORGOTTEN)) {
            break;
        }
    }
    return NULL;
}

/* What a setter chose for r, adopting the state of the request r was
 * internally redirected from (ErrorDocument, mod_rewrite), whose status it
 * carries.  NULL when nothing was set, or when it was dropped. */
static ss_req_t *ss_req_get(request_rec *r)
{
    ss_req_t *slot = ss_slot(r);
    ss_req_t *rq;

    if (slot && slot->has_status) {
        return slot;
    }
    rq = ss_req_find(r);
    if (rq) {
        /* r's own copy, so that its flags (committed, bridged...) are its
         * own; owner stays the request that set it. */
        ss_req_t *copy = apr_palloc(r->pool, sizeof(*copy));
        *copy = *rq;
        copy->flags = slot ? slot->flags : 0;
        ss_slot_set(r, copy);
        /* SPEC 4: notes are on the final request.  The environment
         * reaches it renamed to REDIRECT_*, as Apache does it. */
        ss_set_notes(r, &copy->st, 0);
        rq = copy;
    }
    return rq;
}


/* The URI the client asked for, for messages: that of the first request
 * of an internal redirect chain, before mod_dir or mod_rewrite mapped it. */
static const char *ss_client_uri(const request_rec *r)
{
    while (r->prev) {
        r = r->prev;
    }
    return r->unparsed_uri ? r->unparsed_uri : r->uri;
}

/* Does env hold one of our variables?  (apr_table_setn() would compare
 * each of ours with the others, whose names begin alike.) */
static int ss_env_has_ours(const apr_table_t *env)
{
    const apr_array_header_t *a = apr_table_elts(env);
    const apr_table_entry_t *e = (const apr_table_entry_t *)a->elts;
    int i;

    for (i = 0; i < a->nelts; i++) {
        if (e[i].key && (e[i].key[0] | 0x20) == 's'
            && !strncasecmp(e[i].key, "STATUS_SET_", 11)) {
            return 1;
        }
    }
    return 0;
}

static void ss_set_env(request_rec *r, const ss_status_t *st)
{
    void (*put)(apr_table_t *, const char *, const char *) =
        ss_env_has_ours(r->subprocess_env) ? apr_table_setn : apr_table_addn;

    put(r->subprocess_env, SS_ENV_SUBSTATUS, st->sub_str);
    put(r->subprocess_env, SS_ENV_ERROR, st->err_str);
    put(r->subprocess_env, SS_ENV_REASON, st->reason);
}

/* Record an applied status on r: state, notes, environment, error log.
 * st must have its reason; it is copied.  NULL when out of memory. */
static ss_req_t *ss_record(request_rec *r, const ss_status_t *st)
{
    ss_req_t *slot = ss_slot(r);
    ss_req_t *rq = apr_pcalloc(r->pool, sizeof(*rq));
    request_rec *m;

    if (!rq) {
        return NULL;
    }
    if (ss_trace_configured) {
        ss_trace_step(r, slot && slot->has_status ? slot->st.code : r->status,
                      st->code, st->substatus, st->error, st->reason,
                      st->source);
    }
    rq->owner = r;
    rq->st = *st;
    rq->has_status = 1;
    rq->flags = ss_flags(r) & ~(SS_F_FORGOTTEN | SS_F_APPLIED);
    ss_slot_set(r, rq);

    /* The first setter of r finds none of our notes there. */
    ss_set_notes(r, st, !(slot && slot->has_status));
    ss_set_env(r, st);
    if (r->next) {
        /* httpd answers for r after its ErrorDocument failed: the logger
         * reads the notes of the last request. */
        request_rec *last = r->next;
        while (last->next) {
            last = last->next;
        }
        ss_set_notes(last, st, 0);
    }

    /* A fast redirect (mod_dir, mod_negotiation) copies a subrequest's
     * notes and environment into its main request: tell the main request
     * to take ours out again (ss_scrub). */
    for (m = r->main; m; m = m->main) {
        if (!m->main) {
            ss_mark(m, SS_F_SUBREQ);
        }
    }

    /* Escaped: a backend's phrase may hold a quote that would forge a
     * field of the line. */
    if (APLOGrinfo(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "SS0001: status %d.%s \"%s\" error=%s set by %s for %s",
                      st->code, st->sub_str,
                      ap_escape_logitem(r->pool, st->reason), st->err_str,
                      ap_escape_logitem(r->pool, st->source),
                      ap_escape_logitem(r->pool, ss_client_uri(r)));
    }
    return rq;
}

static void ss_unset_notes_env(request_rec *r)
{
    apr_table_unset(r->notes, SS_NOTE_SUBSTATUS);
    apr_table_unset(r->notes, SS_NOTE_ERROR);
    apr_table_unset(r->notes, SS_NOTE_REASON);
    apr_table_unset(r->notes, SS_NOTE_SOURCE);
    apr_table_unset(r->subprocess_env, SS_ENV_SUBSTATUS);
    apr_table_unset(r->subprocess_env, SS_ENV_ERROR);
    apr_table_unset(r->subprocess_env, SS_ENV_REASON);
}

/* Undo ss_record() on r, and hide what requests before r set: a later
 * error response is the answer, with nothing of ours in it. */
static void ss_forget(request_rec *r)
{
    ss_slot_set(r, &ss_markers[(ss_flags(r) | SS_F_FORGOTTEN)
                               & (SS_F_MARKERS - 1)]);
    ss_unset_notes_env(r);
}

/* SPEC 6: a status set on a subrequest stays there.  After a fast
 * redirect copied the subrequest's notes and environment into r, put
 * back r's own (or none).  Only requests whose subrequest set a status
 * pay for this. */
static void ss_scrub(request_rec *r)
{
    ss_req_t *slot = ss_slot(r);

    if (!(ss_flags(r) & SS_F_SUBREQ)) {
        return;
    }
    if (slot && slot->has_status) {
        ss_unset_notes_env(r);
        ss_set_notes(r, &slot->st, 0);
        if (slot->owner == r) {
            /* (An adopted status reached r's environment as REDIRECT_*.) */
            ss_set_env(r, &slot->st);
        }
    }
    else {
        ss_unset_notes_env(r);
    }
}

/* ------------------------------------------------------------------ */
/* Request phase: StatusSet in fixups, 2xx bodies in the handler       */

static int ss_apply_rule(request_rec *r, const ss_rule_t *rule)
{
    ss_status_t st = rule->st;
    ss_req_t *rq;

    if (!st.reason) {
        ss_default_phrase(r, &st);
    }
    rq = ss_record(r, &st);
    if (!rq) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    r->status_line = st.status_line;

    if (ap_is_HTTP_SUCCESS(st.code)) {
        /* No error machinery for success: the handler sends no body. */
        rq->send_empty = 1;
        return OK;
    }
    if (ap_is_HTTP_REDIRECT(st.code)) {
        apr_table_setn(r->headers_out, "Location", rule->location);
    }
    /* ap_die() sends the error or redirect, through ErrorDocument. */
    return st.code;
}

/* Evaluate a rule's condition; a failure counts as false, with a warning
 * (ap_expr_exec() logs the cause itself). */
int ss_expr_true(request_rec *r, const ap_expr_info_t *expr,
                 const char *source)
{
    const char *err = NULL;
    int rc;

    if (!expr) {
        return 1;
    }
    rc = ap_expr_exec(r, expr, &err);
    if (rc < 0 || err) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "SS0002: cannot evaluate the expr= of the rule at %s, "
                      "skipping it: %s", source, err ? err : "unknown error");
        return 0;
    }
    return rc;
}

/* The first StatusSet rule of r's context whose expr= holds ends r. */
static SS_NOINLINE int ss_fixups_rules(request_rec *r,
                                       const ss_dir_conf_t *dc)
{
    int i;

    for (i = 0; i < dc->rules->nelts; i++) {
        const ss_rule_t *rule = APR_ARRAY_IDX(dc->rules, i, ss_rule_t *);

        if (ss_expr_true(r, rule->expr, rule->st.source)) {
            return ss_apply_rule(r, rule);
        }
    }
    return DECLINED;
}

/* fixups for a request with a state, or redirected. */
static SS_NOINLINE int ss_fixups_chain(request_rec *r)
{
    const ss_dir_conf_t *dc;

    /* After mod_dir's and mod_negotiation's fast redirects (fixups and
     * type_checker, both before this hook). */
    ss_scrub(r);
    /* An ErrorDocument's own request is already the answer to a failure:
     * httpd's test for it, as ap_die() makes it (a redirect from a request
     * whose status is not 200).  The API never writes r->status early, so
     * a handler's plain internal redirect is not taken for one. */
    if (r->prev && r->status != HTTP_OK) {
        /* Nor may it switch protocols: core's upgrade handler would take
         * the client's "Upgrade: h2c" on this request, and mod_http2 then
         * replays its URL as a fresh request, sending the error page as
         * "200" (an httpd quirk, the same without this module). */
        if (apr_table_get(r->headers_in, "Upgrade")) {
            apr_table_unset(r->headers_in, "Upgrade");
        }
        return DECLINED;
    }
    dc = ap_get_module_config(r->per_dir_config, &status_set_module);
    return dc->rules ? ss_fixups_rules(r, dc) : DECLINED;
}

static int ss_fixups(request_rec *r)
{
    const ss_dir_conf_t *dc;

    if (r->main) {
        /* Subrequests never change the response. */
        return DECLINED;
    }
    ss_trace_phase(r, SS_PHASE_FIXUPS);
    if (ss_slot(r) || r->prev) {
        return ss_fixups_chain(r);
    }
    dc = ap_get_module_config(r->per_dir_config, &status_set_module);
    return dc->rules ? ss_fixups_rules(r, dc) : DECLINED;
}

/* A 2xx StatusSet rule's response: no body. */
static SS_NOINLINE int ss_send_empty(request_rec *r, const ss_req_t *rq)
{
    int rv;

    /* A handler reads what it does not use of a request body; a body that
     * cannot be read (too large, bad chunking) is httpd's error to send. */
    if ((rv = ap_discard_request_body(r)) != OK) {
        return rv;
    }
    r->status = rq->st.code;
    r->status_line = rq->st.status_line;
    /* No body: the CONTENT_LENGTH filter sends "Content-Length: 0" (none
     * for 204, none for HEAD unless HttpContentLengthHeadZero says so). */
    return OK;
}

/* The module's one handler hook (each hook costs every request its
 * dispatch): a 2xx StatusSet rule's empty response, or the counters'
 * status-set-metrics handler. */
static int ss_handler(request_rec *r)
{
    const ss_req_t *rq = ss_slot(r);

    if (rq && rq->send_empty && rq->owner == r) {
        return ss_send_empty(r, rq);
    }
    /* Asked of every request: the first byte settles almost all. */
    if (!r->handler || r->handler[0] != SS_METRICS_HANDLER[0]) {
        return DECLINED;
    }
    return ss_metrics_handler(r);
}

/* ------------------------------------------------------------------ */
/* Response phase: the output filter                                  */

/* Put the status line the request should carry into r: a setter's, or a
 * StatusSetReason phrase when nobody chose one. */
static void ss_assert_status(request_rec *r, ss_req_t *rq)
{
    if (rq) {
        r->status = rq->st.code;
        r->status_line = rq->st.status_line;
        rq->flags |= SS_F_APPLIED;
    }
    else if (!ss_status_line_chosen(r)) {
        const char *reason = ss_request_reason(r, r->status);
        if (reason) {
            r->status_line = apr_psprintf(r->pool, "%03d %s", r->status,
                                          reason);
        }
    }
}

/* Does dc give the response phase anything to do? */
static int ss_conf_filters(const ss_dir_conf_t *dc)
{
    /* (StatusSetResponse and StatusSetReason make final_codes.) */
    return dc->final_codes || dc->from_header || dc->from_env;
}

static void ss_warn_header(request_rec *r, const char *name, const char *why)
{
    SS_METRICS_NOTE(SS_METRIC_HEADER_REJECTED);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "SS0004: ignoring the response header %s: %s", name, why);
}

static int ss_count_one(void *count, const char *key, const char *value)
{
    (void)key;
    (void)value;
    ++*(int *)count;
    return 1;
}

static int ss_count_header(const apr_table_t *t, const char *name)
{
    int count = 0;

    apr_table_do(ss_count_one, &count, t, name, NULL);
    return count;
}

/* StatusSetFromHeader: the setter a handler or backend wrote into a
 * response header.  Fills *st and returns 1 if there is a valid one, -1 if
 * there is an invalid one (ignored, with one warning), 0 if there is none.  Either way the header is
 * removed (unless keep).  Request headers are never read: only headers_out
 * and err_headers_out. */
static int ss_from_header(request_rec *r, const ss_dir_conf_t *dc,
                          ss_status_t *st)
{
    const char *name = dc->from_header, *v1, *v2, *err, *reason;
    ss_spec_t spec;

    v1 = apr_table_get(r->headers_out, name);
    v2 = apr_table_get(r->err_headers_out, name);
    if (!v1 && !v2) {
        return 0;
    }
    /* Twice, in one table or across both, is ambiguous. */
    if (ss_count_header(r->headers_out, name)
        + ss_count_header(r->err_headers_out, name) > 1) {
        err = "it is repeated: send it once";
    }
    else {
        err = ss_parse_spec(r->pool, v1 ? v1 : v2, SS_ALLOW_ERROR, &spec);
    }
    if (!dc->from_keep) {
        apr_table_unset(r->headers_out, name);
        apr_table_unset(r->err_headers_out, name);
    }
    if (err) {
        ss_warn_header(r, name, err);
        return -1;
    }
    reason = spec.reason ? spec.reason : ss_default_reason(r, spec.code);
    return ss_status_init(r->pool, st, spec.code, spec.substatus, spec.error,
                          reason, dc->from_source) == APR_SUCCESS ? 1 : -1;
}

/* StatusSetFromHeader for r, once: in STATUS_SET_ORIGIN for what the
 * handler wrote, else in STATUS_SET_FINAL or the error path for a header
 * that arrived later (mod_headers' Header set, which runs after ORIGIN;
 * such a response may have been stored by mod_cache already).  Returns the
 * state that applies now. */
static ss_req_t *ss_bridge_header(request_rec *r, const ss_dir_conf_t *dc,
                                  ss_req_t *rq)
{
    ss_status_t st;
    int found;

    if ((ss_flags(r) & SS_F_BRIDGED) && dc->from_keep) {
        /* keep leaves the header in place: read it once. */
        return rq;
    }
    found = ss_from_header(r, dc, &st);
    if (found > 0) {
        rq = ss_record(r, &st);
    }
    if (found) {
        ss_mark(r, SS_F_BRIDGED);
    }
    return rq;
}

/* StatusSetFromEnv's value in r's own variables, else its notes; NULL when
 * there is none or it is empty (mod_rewrite's [E=NAME:%{ENV:X}] with X
 * unset).  An ErrorDocument's request is not asked for the variables of
 * the request it answers (it has them as REDIRECT_*): ss_bridge_failed()
 * reads those with that request's configuration. */
static const char *ss_env_value(const request_rec *r, const char *name)
{
    const char *v = apr_table_get(r->subprocess_env, name);

    if (!v || !*v) {
        v = apr_table_get(r->notes, name);
    }
    return v && *v ? v : NULL;
}

/* Is r an ErrorDocument's request (ap_die() redirected a request that
 * failed)?  It already answers an error. */
static int ss_answers_error(const request_rec *r)
{
    return r->prev && r->prev->status != HTTP_OK;
}

/* How a variable's status meets the response: */
typedef enum {
    SS_VAR_RESPONSE,   /* the handler's response: it is a setter */
    SS_VAR_ERROR,      /* Apache's error response: it may only name that
                        * error's substatus, phrase and error code */
    SS_VAR_AGAIN       /* applied already; a header applied since, and the
                        * variable comes after it (SPEC 3) */
} ss_var_how_e;

/* The status value of dc's variable for r, marked read; 1 and *st when it
 * applies.  An invalid value is ignored with one warning (none again). */
static int ss_env_status(request_rec *r, const ss_dir_conf_t *dc,
                         ss_var_how_e how, ss_status_t *st)
{
    const char *value, *err, *reason;
    ss_spec_t spec;

    if ((how != SS_VAR_AGAIN && (ss_flags(r) & SS_F_ENVREAD))
        || ss_answers_error(r)
        || !(value = ss_env_value(r, dc->from_env))) {
        /* (An ErrorDocument's own request already answers an error, as
         * for StatusSet: the variable of the request that failed applies,
         * with that request's configuration, in ss_bridge_failed().) */
        return 0;
    }
    ss_mark(r, SS_F_ENVREAD);
    if ((err = ss_parse_spec(r->pool, value, SS_ALLOW_ERROR, &spec))) {
        if (how != SS_VAR_AGAIN) {
            SS_METRICS_NOTE(SS_METRIC_HEADER_REJECTED);
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          "SS0005: ignoring the variable %s: %s",
                          dc->from_env, err);
        }
        return 0;
    }
    /* Apache's own error stays Apache's: the variable names its substatus
     * (mod_security2's deny,status:403 with setenv:...=403.18) or nothing;
     * and a 304 answers the client's own copy, which a 2xx without a body
     * would replace. */
    if (how == SS_VAR_ERROR ? spec.code != r->status
        : (r->status == HTTP_NOT_MODIFIED && spec.code != r->status)) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "SS0003: status %d stays: the variable %s names %d",
                      r->status, dc->from_env, spec.code);
        return 0;
    }
    reason = spec.reason ? spec.reason : ss_default_reason(r, spec.code);
    return ss_status_init(r->pool, st, spec.code, spec.substatus, spec.error,
                          reason, dc->env_source) == APR_SUCCESS;
}

/* StatusSetFromEnv for r, once its value is there: in STATUS_SET_ORIGIN
 * for what was set before the response (mod_rewrite, a script), on the
 * error path for Apache's error (mod_security2's deny), else in
 * STATUS_SET_FINAL for a value set later.  Returns the state that applies
 * now. */
static ss_req_t *ss_bridge_env(request_rec *r, const ss_dir_conf_t *dc,
                               ss_req_t *rq, ss_var_how_e how)
{
    ss_status_t st;

    return ss_env_status(r, dc, how, &st) ? ss_record(r, &st) : rq;
}

/* StatusSetFromHeader, then StatusSetFromEnv (SPEC 3's order; a header
 * that mod_headers adds is found only in STATUS_SET_FINAL, and the
 * variable read before applies again after it).  error: Apache's error
 * response. */
static ss_req_t *ss_bridge(request_rec *r, const ss_dir_conf_t *dc,
                           ss_req_t *rq, int error)
{
    ss_req_t *before = rq;

    if (dc->from_header) {
        rq = ss_bridge_header(r, dc, rq);
    }
    if (dc->from_env) {
        rq = ss_bridge_env(r, dc, rq,
                           error ? SS_VAR_ERROR
                           : rq != before && (ss_flags(r) & SS_F_ENVREAD)
                             ? SS_VAR_AGAIN : SS_VAR_RESPONSE);
        if (error) {
            /* Read once for the error page; nothing later applies. */
            ss_mark(r, SS_F_ENVREAD);
        }
    }
    return rq;
}

/* Does dc read a setter from a header or a variable? */
static int ss_dc_bridges(const ss_dir_conf_t *dc)
{
    return dc->from_header || dc->from_env;
}

/* The entry of list at *i that fits code.substatus, advancing *i; NULL at
 * the end. */
static const ss_resp_entry_t *ss_next_entry(const apr_array_header_t *list,
                                            int *i, int code, int substatus)
{
    for (; list && *i < list->nelts; ++*i) {
        const ss_resp_entry_t *e = &APR_ARRAY_IDX(list, *i, ss_resp_entry_t);
        if (ss_match_item(&e->m, code, substatus)) {
            return e;
        }
    }
    return NULL;
}

/* The first StatusSetResponse rule for code.substatus whose expr= holds:
 * within a context, in file order, taking the code's own list and the list
 * of spans together. */
static const ss_resp_rule_t *ss_find_resp_rule(request_rec *r,
                                               const ss_dir_conf_t *dc,
                                               int code, int substatus)
{
    int i;

    if (code < SS_CODE_MIN || code > SS_CODE_MAX) {
        return NULL;
    }
    for (i = 0; i < dc->resp_sets->nelts; i++) {
        const ss_resp_set_t *set = APR_ARRAY_IDX(dc->resp_sets, i,
                                                 ss_resp_set_t *);
        const apr_array_header_t *one =
            set->by_code ? set->by_code[code - SS_CODE_MIN] : NULL;
        const ss_resp_entry_t *a, *b, *e;
        int ia = 0, ib = 0, last = -1;

        a = ss_next_entry(one, &ia, code, substatus);
        b = ss_next_entry(set->spans, &ib, code, substatus);
        while (a || b) {
            if (a && (!b || a->seq < b->seq)) {
                e = a;
                ia++;
                a = ss_next_entry(one, &ia, code, substatus);
            }
            else {
                e = b;
                ib++;
                b = ss_next_entry(set->spans, &ib, code, substatus);
            }
            /* A rule whose MATCH items overlap (404,4xx) is tried once. */
            if (e->seq == last) {
                continue;
            }
            last = e->seq;
            if (ss_expr_true(r, e->rule->expr, e->rule->st.source)) {
                return e->rule;
            }
        }
    }
    return NULL;
}

/* A response whose status a setter chose is not stored by mod_cache: a
 * hit would be served without the state.  Undone if the state is dropped
 * for Apache's own error (ss_insert_error_filter), so that httpd does not
 * mark that error with Expires. */
static void ss_no_cache(request_rec *r, ss_req_t *rq)
{
    if (!r->no_cache) {
        r->no_cache = 1;
        rq->flags |= SS_F_NOCACHE;
    }
}

/* The setter's state that applies to r now, or NULL.  A state whose code
 * r->status no longer carries is dropped when the status changed after it
 * was applied (a byte range made 206 of a 200), or when the target of a
 * redirect chose its own status (an ErrorDocument script, say): that
 * status is the response, as without this module. */
static ss_req_t *ss_current(request_rec *r)
{
    ss_req_t *rq = ss_req_get(r);

    if (rq && rq->st.code != r->status
        && ((rq->flags & SS_F_APPLIED)
            || (rq->owner != r && r->prev
                && r->status != r->prev->status))) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "SS0003: status %d replaces status %d set by %s",
                      r->status, rq->st.code, rq->st.source);
        ss_forget(r);
        rq = NULL;
    }
    return rq;
}

/* The status of the handler's response, before mod_cache stores it and
 * before byte ranges are cut from it: the handler's, then the API's (or a
 * 2xx StatusSet rule's), then StatusSetFromHeader's.  Such a status is not
 * cached: mod_cache would serve it on hits without this module's state. */
static void ss_origin_phase(request_rec *r)
{
    const ss_dir_conf_t *dc = ap_get_module_config(r->per_dir_config,
                                                   &status_set_module);
    ss_req_t *rq = ss_current(r);

    if (ss_dc_bridges(dc)) {
        rq = ss_bridge(r, dc, rq, 0);
    }
    if (rq) {
        ss_assert_status(r, rq);
        ss_no_cache(r, rq);
    }
}

/* The status about to be written, after every filter that can change it
 * (SPEC 3): StatusSetResponse, then StatusSetReason for the phrase. */
static void ss_final_phase(request_rec *r)
{
    const ss_dir_conf_t *dc = ap_get_module_config(r->per_dir_config,
                                                   &status_set_module);
    ss_req_t *rq = ss_current(r);
    const ss_resp_rule_t *rule;
    ss_status_t st;

    if (rq && !(rq->flags & SS_F_APPLIED)) {
        /* Set where STATUS_SET_ORIGIN had passed already (by a filter). */
        ss_assert_status(r, rq);
    }
    if (ss_dc_bridges(dc) && (rq = ss_bridge(r, dc, rq, 0)) != NULL) {
        ss_assert_status(r, rq);
    }
    if (dc->resp_sets
        && (rule = ss_find_resp_rule(r, dc, r->status,
                                     rq ? rq->st.substatus : 0))) {
        st = rule->st;
        if (!st.reason) {
            ss_default_phrase(r, &st);
        }
        if (rule->location) {
            apr_table_setn(r->headers_out, "Location", rule->location);
        }
        rq = ss_record(r, &st);
    }
    ss_assert_status(r, rq);
}

/* A filter of ours that acted on a response which ended in the same
 * brigade stays in the chain, passing on whatever comes (nothing should):
 * unlinking it would cost a second walk of the filter list.  Its ctx says
 * so; it counts as gone. */
static char ss_filter_done;

static ap_filter_rec_t *ss_origin_handle, *ss_final_handle;
static ap_filter_rec_t *ss_writer_h1, *ss_writer_h2;

/* Is f, of handle h, r's own and still to act?  (After an internal
 * redirect the protocol filters, and ours among them, belong to the new
 * request.) */
static int ss_filter_live(const ap_filter_t *f, const ap_filter_rec_t *h,
                          const request_rec *r)
{
    return f->frec == h && f->r == r && f->ctx != &ss_filter_done;
}

/* Does the filter of handle h write the status line (HTTP_HEADER, or
 * mod_http2's H2_C2_RESPONSE_OUT that replaces it)?  (h is never NULL,
 * ss_writer_h2 is without mod_http2.) */
static int ss_is_writer(const ap_filter_rec_t *h)
{
    return h == ss_writer_h1 || h == ss_writer_h2;
}

static ap_filter_t *ss_find_filter(request_rec *r, ap_filter_rec_t *h)
{
    ap_filter_t *f;

    for (f = r->output_filters; f; f = f->next) {
        if (ss_filter_live(f, h, r)) {
            return f;
        }
    }
    return NULL;
}

/* Link a filter of handle h for r in at *pp, as ap_add_output_filter()
 * links one (ap_filter_t is a plain list node in httpd 2.4). */
static void ss_link_filter(request_rec *r, ap_filter_t **pp,
                           ap_filter_rec_t *h)
{
    ap_filter_t *ours = apr_palloc(r->pool, sizeof(*ours));

    ours->frec = h;
    ours->ctx = NULL;
    ours->r = r;
    ours->c = r->connection;
    ours->next = *pp;
    if (h->ftype >= AP_FTYPE_PROTOCOL && r->proto_output_filters == *pp) {
        r->proto_output_filters = ours;
    }
    *pp = ours;
}

/* Put STATUS_SET_FINAL right before the filter that writes the status line:
 * after BYTERANGE and every other filter that can still change the status.
 * httpd adds its protocol filters when it makes the request, and
 * ap_add_output_filter() would put a later one after all filters of its
 * type, after HTTP_HEADER: so the filter is linked in by hand, in one walk.
 * Without a writer in the chain (it left: the status line went out) it is
 * added the ordinary way, to mark the status as gone out.  check: it may
 * be there already. */
static void ss_add_final_filter(request_rec *r, int check)
{
    ap_filter_t **pp;

    for (pp = &r->output_filters; *pp; pp = &(*pp)->next) {
        if ((*pp)->r != r) {
            continue;
        }
        if (ss_is_writer((*pp)->frec)) {
            break;
        }
        if (check && ss_filter_live(*pp, ss_final_handle, r)) {
            return;
        }
    }
    if (!*pp) {
        if (!check || !ss_find_filter(r, ss_final_handle)) {
            ap_add_output_filter_handle(ss_final_handle, NULL, r,
                                        r->connection);
        }
        return;
    }
    ss_link_filter(r, pp, ss_final_handle);
}

/* ss_add_final_filter() for the usual request (no redirect, none of our
 * filters yet), the one every response of a context with StatusSetResponse
 * or StatusSetReason pays: every filter in its chain is its own or the
 * connection's, and a writer is there. */
static void ss_add_final_filter_fresh(request_rec *r)
{
    ap_filter_t **pp;

    for (pp = &r->output_filters; *pp; pp = &(*pp)->next) {
        if (ss_is_writer((*pp)->frec)) {
            ss_link_filter(r, pp, ss_final_handle);
            return;
        }
    }
    ss_add_final_filter(r, 0);
}

/* STATUS_SET_ORIGIN for r, where ap_add_output_filter_handle() would put
 * it (after r's filters of its type or lower), unless r has one that has
 * not acted yet (check). */
static void ss_add_origin_filter(request_rec *r, int check)
{
    ap_filter_t **pp;

    for (pp = &r->output_filters;
         *pp && (*pp)->r == r
         && (*pp)->frec->ftype <= ss_origin_handle->ftype;
         pp = &(*pp)->next) {
        if (check && ss_filter_live(*pp, ss_origin_handle, r)) {
            return;
        }
    }
    ss_link_filter(r, pp, ss_origin_handle);
}

/* The filters a request with a setter's state, or a context with
 * response-phase directives, needs. */
static void ss_add_filters(request_rec *r, int origin, int check)
{
    if (origin) {
        ss_add_origin_filter(r, check);
    }
    ss_add_final_filter(r, check);
}

/* An ErrorDocument that is a local URL: ap_die() redirected the failing
 * request before its response phase.  With ProxyErrorOverride, read the
 * backend's header from that request now, for the ErrorDocument's request
 * (whose page is the one chosen for the backend's code); and
 * StatusSetFromEnv's variable of that request. */
static void ss_bridge_failed(request_rec *r)
{
    request_rec *p = r->prev;
    const ss_dir_conf_t *pdc;
    ss_status_t st;

    if (!ss_answers_error(r)) {
        return;
    }
    pdc = ap_get_module_config(p->per_dir_config, &status_set_module);
    if (pdc->from_header && !(ss_flags(p) & SS_F_BRIDGED)) {
        ss_mark(p, SS_F_BRIDGED);
        /* Recorded on the ErrorDocument's request, whose status it is:
         * on p it would look replaced by p's own error. */
        if (ss_from_header(p, pdc, &st) > 0) {
            ss_record(r, &st);
        }
    }
    /* StatusSetFromEnv of the failing request, with its configuration: a
     * variable that names its error's substatus is recorded on it, as a
     * StatusSet rule's is, so that the ErrorDocument's request (a page, a
     * CGI, mod_status_echo) finds it there and adopts it. */
    if (pdc->from_env && ss_env_status(p, pdc, SS_VAR_ERROR, &st)) {
        ss_record(p, &st);
    }
}

/* insert_filter for a request with a state, or redirected. */
static SS_NOINLINE void ss_insert_filter_chain(request_rec *r)
{
    const ss_dir_conf_t *dc;
    ss_req_t *rq;

    ss_scrub(r);
    ss_bridge_failed(r);
    rq = ss_req_get(r);
    ss_mark(r, SS_F_STARTED);
    if (rq) {
        ss_no_cache(r, rq);
        ss_add_filters(r, 1, 1);
        return;
    }
    dc = ap_get_module_config(r->per_dir_config, &status_set_module);
    if (ss_conf_filters(dc)) {
        ss_add_filters(r, ss_dc_bridges(dc), 1);
    }
}

/* Runs as the handler is invoked.  Only requests that a setter or a
 * response-phase directive concerns get the filters. */
static void ss_insert_filter(request_rec *r)
{
    const ss_dir_conf_t *dc;

    if (r->main) {
        return;
    }
    ss_trace_phase(r, SS_PHASE_HANDLER);
    if (ss_slot(r) || r->prev) {
        ss_insert_filter_chain(r);
        return;
    }
    /* The usual request: no setter, no request before it, none of our
     * filters yet (the API adds them only from here on). */
    ss_slot_set(r, &ss_markers[SS_F_STARTED]);
    dc = ap_get_module_config(r->per_dir_config, &status_set_module);
    if (dc->from_header || dc->from_env) {
        ss_add_filters(r, 1, 0);
    }
    else if (dc->final_codes) {
        ss_add_final_filter_fresh(r);
    }
}

/* ap_send_error_response() runs this after it dropped the content filters
 * and before it replaces headers_out with err_headers_out and writes the
 * canned page, whose title is r->status_line: here the error's status is
 * decided, so the setter's state and a backend's header (ProxyErrorOverride
 * sends the backend's error this way) apply here. */
static void ss_insert_error_filter(request_rec *r)
{
    const ss_dir_conf_t *dc;
    ss_req_t *rq;

    if (r->main) {
        return;
    }
    rq = ss_req_get(r);
    if (rq && rq->st.code != r->status) {
        /* The request failed with another code after the setter acted:
         * Apache's error response is the answer, with nothing of ours. */
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "SS0003: error response %d replaces status %d set "
                      "by %s", r->status, rq->st.code, rq->st.source);
        if (rq->flags & SS_F_NOCACHE) {
            r->no_cache = 0;
        }
        ss_forget(r);
        rq = NULL;
    }
    dc = ap_get_module_config(r->per_dir_config, &status_set_module);
    if (ss_dc_bridges(dc)) {
        rq = ss_bridge(r, dc, rq, 1);
    }
    ss_assert_status(r, rq);
    if (ss_conf_filters(dc)) {
        ss_add_final_filter(r, 1);
    }
    else if (rq) {
        /* Nothing later changes the status of an error response. */
        ss_mark(r, SS_F_COMMITTED);
    }
}

/* APR's ring macros subtract from a null pointer (APR_OFFSETOF), which
 * clang's -Wextra reports. */
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunknown-warning-option"
#pragma clang diagnostic ignored "-Wnull-pointer-subtraction"
#endif
static int ss_has_error_bucket(apr_bucket_brigade *bb)
{
    apr_bucket *e;

    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        if (AP_BUCKET_IS_ERROR(e)) {
            return 1;
        }
    }
    return 0;
}

/* The brigade starts with EOS: the response has no body (left). */
static int ss_starts_with_eos(apr_bucket_brigade *bb)
{
    return !APR_BRIGADE_EMPTY(bb) && APR_BUCKET_IS_EOS(APR_BRIGADE_FIRST(bb));
}

/* The brigade ends the response. */
static int ss_ends_with_eos(apr_bucket_brigade *bb)
{
    return !APR_BRIGADE_EMPTY(bb) && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(bb));
}
#if defined(__clang__)
#pragma clang diagnostic pop
#endif

/* Both filters act once, on the first brigade, then leave the chain (or
 * stay, done, when that brigade ended the response).  An error bucket (a
 * request body too large, a failed backend) makes HTTP_HEADER call
 * ap_die(), which starts the response over through insert_error_filter:
 * leave r->status to it, or ap_die() would take ours for a failed
 * ErrorDocument. */
static void ss_filter_acted(ap_filter_t *f, apr_bucket_brigade *bb)
{
    if (ss_ends_with_eos(bb)) {
        f->ctx = &ss_filter_done;
    }
    else {
        ap_remove_output_filter(f);
    }
}

static apr_status_t ss_origin_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    if (!f->ctx && !ss_has_error_bucket(bb)) {
        ss_origin_phase(f->r);
        ss_filter_acted(f, bb);
    }
    return ap_pass_brigade(f->next, bb);
}

/* The usual response: no setter, no redirect, no StatusSetFromHeader, and
 * a code that no StatusSetResponse or StatusSetReason of its context
 * names.  It goes out as it is. */
static SS_INLINE int ss_final_idle(const request_rec *r)
{
    const ss_dir_conf_t *dc;

    if (ss_slot(r) != &ss_markers[SS_F_STARTED] || r->prev) {
        return 0;
    }
    dc = ap_get_module_config(r->per_dir_config, &status_set_module);
    return !dc->from_header && !dc->from_env
           && !(dc->final_codes && ss_codeset_has(dc->final_codes,
                                                  r->status));
}

/* Everything but the usual response, out of the filter's fast path (whose
 * calls would cost every response a stack frame). */
static SS_NOINLINE apr_status_t ss_final_slow(ap_filter_t *f,
                                              apr_bucket_brigade *bb)
{
    request_rec *r = f->r;

    if (!f->ctx && !ss_has_error_bucket(bb)) {
        if (ss_final_idle(r)) {
            ss_slot_set(r, &ss_markers[SS_F_STARTED | SS_F_COMMITTED]);
        }
        else {
            int was_bodiless = AP_STATUS_IS_HEADER_ONLY(r->status);

            ss_final_phase(r);
            if (was_bodiless && !AP_STATUS_IS_HEADER_ONLY(r->status)
                && r->bytes_sent == 0 && ss_starts_with_eos(bb)) {
                /* CONTENT_LENGTH left the length alone for a 204 or 304;
                 * the status that replaces it says there is a body, and
                 * it is empty. */
                ap_set_content_length(r, 0);
            }
            ss_mark(r, SS_F_COMMITTED);
        }
        ss_filter_acted(f, bb);
    }
    return ap_pass_brigade(f->next, bb);
}

static apr_status_t ss_final_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;

    /* The usual response, complete in its first brigade (a static file,
     * a small page): nothing to change, and nothing follows. */
    if (!f->ctx && ss_final_idle(r) && ss_ends_with_eos(bb)
        && !ss_has_error_bucket(bb)) {
        ss_slot_set(r, &ss_markers[SS_F_STARTED | SS_F_COMMITTED]);
        f->ctx = &ss_filter_done;
        return ap_pass_brigade(f->next, bb);
    }
    return ss_final_slow(f, bb);
}

/* ------------------------------------------------------------------ */
/* The C API (mod_status_set.h)                                        */

/* The status line has gone out: a body followed it (HTTP_HEADER and
 * mod_http2 set sent_bodyct), or our filter passed it on (HEAD, 204 and
 * 304 responses have no body). */
static int ss_status_sent(const request_rec *r)
{
    const ap_filter_t *f;

    /* A subrequest has no status line of its own: only its own state
     * counts, not that of the page that includes it. */
    if (r->sent_bodyct || (ss_flags(r) & SS_F_COMMITTED)) {
        return 1;
    }
    if (r->main || !r->per_dir_config) {
        return 0;
    }
    /* HTTP_HEADER leaves the chain once it wrote the status line and the
     * end of a bodiless response (HEAD, 204, 304), for which it does not
     * set sent_bodyct (ap_die() makes the same test).  httpd adds it in
     * create_request, before r gets its configuration, so from then on its
     * absence is telling; mod_http2 sets sent_bodyct for every response.
     * Not seen: a HEAD whose handler flushed before the call (HTTP_HEADER
     * stays until the end of the response). */
    for (f = r->output_filters; f; f = f->next) {
        if (ss_is_writer(f->frec)) {
            return 0;
        }
    }
    return 1;
}

/* SPEC 5: the state is kept, never written into r->status before the
 * handler returns (httpd reads it: a request body is not read for a non-2xx
 * status, and ap_die() takes a non-200 status on a redirected request for a
 * failed ErrorDocument).  It is applied where the status is decided: the
 * error path, or the first brigade of the response. */
static apr_status_t ss_set_status(request_rec *r, int status,
                                  const char *reason, int substatus,
                                  apr_status_t error)
{
    ss_status_t st;
    ss_req_t *rq;
    apr_status_t rv;

    if (!r || ss_check_status(NULL, status, substatus)
        || (reason && ss_check_reason(NULL, reason, strlen(reason)))) {
        SS_METRICS_NOTE(SS_METRIC_API_REFUSED);
        return APR_EINVAL;
    }
    if (ss_status_sent(r)) {
        SS_METRICS_NOTE(SS_METRIC_API_REFUSED);
        return APR_EGENERAL;
    }
    if (!reason) {
        reason = ss_default_reason(r, status);
    }
    rv = ss_status_init(r->pool, &st, status, substatus, error, reason,
                        &ss_api_series);
    if (rv != APR_SUCCESS || !(rq = ss_record(r, &st))) {
        return APR_ENOMEM;
    }
    if (!r->main && (ss_flags(r) & SS_F_STARTED)) {
        /* insert_filter has run: add what it would have added. */
        ss_no_cache(r, rq);
        ss_add_filters(r, 1, 1);
    }
    return APR_SUCCESS;
}

static apr_status_t ss_get_status(request_rec *r, int *status,
                                  const char **reason, int *substatus,
                                  apr_status_t *error)
{
    const ss_req_t *rq;
    ss_status_t st;

    if (!r) {
        return APR_EINVAL;
    }
    rq = ss_req_find(r);
    if (rq) {
        st = rq->st;
    }
    else {
        st.code = r->status;
        st.substatus = 0;
        st.error = 0;
        st.reason = ss_status_line_chosen(r) ? r->status_line + 4
                                             : ss_default_reason(r, r->status);
    }
    if (status) {
        *status = st.code;
    }
    if (reason) {
        *reason = st.reason;
    }
    if (substatus) {
        *substatus = st.substatus;
    }
    if (error) {
        *error = st.error;
    }
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Log format tags                                                    */

/* The request whose status line went out: the last of the redirect chain
 * whose header the protocol filter wrote (it sets sent_bodyct, but not for
 * a bodiless response) or whose status the module committed.  Usually
 * the final request; the first one when an ErrorDocument failed and httpd
 * answered with the first request's error. */
static request_rec *ss_wire_request(request_rec *r)
{
    request_rec *q;

    for (q = r; q; q = q->prev) {
        if (q->sent_bodyct || (ss_flags(q) & SS_F_COMMITTED)) {
            return q;
        }
    }
    return r;
}

static const char *ss_log_substatus(request_rec *r, char *arg)
{
    const ss_req_t *rq = ss_req_find(ss_wire_request(r));

    (void)arg;
    return rq ? rq->st.sub_str : "0";
}

static const char *ss_log_error(request_rec *r, char *arg)
{
    const ss_req_t *rq = ss_req_find(ss_wire_request(r));

    (void)arg;
    return rq ? rq->st.err_str : "0";
}

/* The phrase of the status line as HTTP_HEADER writes it (or would have:
 * HTTP/2 sends none): r->status_line if it is "CODE" or "CODE phrase" for
 * r->status (a bare "499" goes out as "499 ", and a bare known code gets
 * Apache's phrase), else Apache's line for the code, "500 Internal Server
 * Error" for codes it does not know. */
static const char *ss_wire_reason(const request_rec *r)
{
    const char *l = r->status_line, *std = ap_get_status_line(r->status);
    apr_size_t len = l ? strlen(l) : 0;

    if (l && len >= 3 && apr_isdigit(l[0]) && apr_isdigit(l[1])
        && apr_isdigit(l[2])
        && (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0') == r->status
        && (len == 3 || apr_isspace(l[3]))) {
        if (len > 4 && l[4]) {
            return l + 4;
        }
        return strncmp(std, l, 3) == 0 ? std + 4 : "";
    }
    return std + 4;
}

static const char *ss_log_reason(request_rec *r, char *arg)
{
    (void)arg;
    return ap_escape_logitem(r->pool, ss_wire_reason(ss_wire_request(r)));
}

int ss_outcome_plain(const request_rec *r)
{
    const ss_req_t *rq = ss_slot(r);

    return !r->next && !r->prev
           && (!rq || (rq >= ss_markers && rq < ss_markers + SS_F_MARKERS));
}

void ss_outcome(request_rec *r, ss_outcome_t *out, int want_reason)
{
    request_rec *last = r, *wire;
    const ss_req_t *rq;

    if (ss_outcome_plain(r)) {
        /* The usual request: no redirect, no setter (and so none in a
         * request before it, which would have left its state here). */
        out->last = r;
        out->code = r->status;
        out->substatus = out->error = 0;
        out->reason = want_reason ? ss_wire_reason(r) : NULL;
        out->source = NULL;
        out->series = NULL;
        return;
    }
    while (last->next) {
        last = last->next;
    }
    wire = ss_wire_request(last);
    rq = ss_req_find(wire);
    out->last = last;
    /* The code that went out, as the substatus is that of the status that
     * went out: last->status (%>s) but when an ErrorDocument failed, where
     * httpd sends the first request's error and %>s logs the
     * ErrorDocument's own code. */
    out->code = wire->status;
    out->substatus = rq ? rq->st.substatus : 0;
    out->error = rq ? rq->st.error : 0;
    out->reason = want_reason ? ss_wire_reason(wire) : NULL;
    out->source = rq ? rq->st.source : NULL;
    out->series = rq ? rq->st.series : NULL;
}

static int ss_pre_config(apr_pool_t *p, apr_pool_t *plog, apr_pool_t *ptemp)
{
    APR_OPTIONAL_FN_TYPE(ap_register_log_handler) *reg;

    (void)plog;
    (void)ptemp;
    ss_names = apr_hash_make(p);
    reg = APR_RETRIEVE_OPTIONAL_FN(ap_register_log_handler);
    if (reg) {
        /* want_orig 0: the tags read the final request of a redirect. */
        reg(p, "^SS", ss_log_substatus, 0);
        reg(p, "^SE", ss_log_error, 0);
        reg(p, "^SR", ss_log_reason, 0);
    }
    return OK;
}

/* The filters that write the status line, registered by then. */
static int ss_post_config(apr_pool_t *p, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s)
{
    (void)p;
    (void)plog;
    (void)ptemp;
    (void)s;
    ss_names = NULL;          /* what is read from now on is .htaccess */
    ss_writer_h1 = ap_get_output_filter_handle("HTTP_HEADER");
    ss_writer_h2 = ap_get_output_filter_handle("H2_C2_RESPONSE_OUT");
    return OK;
}

/* ------------------------------------------------------------------ */
/* Registration                                                       */

static const command_rec ss_cmds[] = {
    AP_INIT_RAW_ARGS("StatusSet", ss_cmd_status_set, NULL, OR_FILEINFO,
                     "CODE[.SUB] [\"REASON\"] [error=N] [location=URL] "
                     "[expr=EXPRESSION] [name=NAME]: end matching requests "
                     "with this "
                     "status in the fixups phase"),
    AP_INIT_RAW_ARGS("StatusSetReason", ss_cmd_reason, NULL, OR_FILEINFO,
                     "CODE \"REASON\": the reason phrase for CODE when no "
                     "setter chose one"),
    AP_INIT_RAW_ARGS("StatusSetResponse", ss_cmd_response, NULL, OR_FILEINFO,
                     "MATCH CODE[.SUB] [\"REASON\"] [error=N] "
                     "[location=URL] [expr=EXPRESSION] [name=NAME]: rewrite "
                     "a response "
                     "whose status fits MATCH (404, 404.13, 4xx, 500-504, *)"),
    AP_INIT_RAW_ARGS("StatusSetFromHeader", ss_cmd_from_header, NULL,
                     RSRC_CONF | ACCESS_CONF,
                     "HEADER-NAME [keep] | off: apply the status value a "
                     "response header holds"),
    AP_INIT_TAKE1("StatusSetFromEnv", ss_cmd_from_env, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "NAME | off: apply the status value the request's "
                  "environment variable (or else note) NAME holds"),
    AP_INIT_TAKE12("StatusSetMetrics", ss_cmd_metrics, NULL, RSRC_CONF,
                   "On [vhost] | Off: count every final response by code, "
                   "substatus and source in shared memory, and with vhost "
                   "by virtual host too (server config only)"),
    AP_INIT_TAKE1("StatusSetMetricsCapacity", ss_cmd_metrics_capacity, NULL,
                  RSRC_CONF, "N: room for (code, substatus) pairs and "
                  "sources besides the configured ones (default 512)"),
    AP_INIT_RAW_ARGS("StatusSetTrace", ss_cmd_trace, NULL,
                     RSRC_CONF | ACCESS_CONF,
                     "MATCH [time>=DURATION] [expr=EXPRESSION] [sample=1/N] "
                     "[query=on|off] [headers=NAME,...] [phases=on|off] "
                     "[name=NAME]: trace "
                     "matching "
                     "responses to StatusSetTraceLog"),
    AP_INIT_TAKE1("StatusSetTraceLog", ss_cmd_trace_log, NULL, RSRC_CONF,
                  "FILE or \"|PROGRAM\": where trace records go"),
    AP_INIT_TAKE1("StatusSetTraceLimit", ss_cmd_trace_limit, NULL, RSRC_CONF,
                  "N: at most N trace records per second for this "
                  "server, all its children together (default 100); 0: "
                  "no limit"),
    {NULL, {NULL}, NULL, 0, RAW_ARGS, NULL}
};

static const char *const ss_fixups_pre[] = {
    "mod_rewrite.c", "mod_env.c", "mod_headers.c", "mod_dir.c", NULL
};

static void ss_register_hooks(apr_pool_t *p)
{
    unsigned i;

    (void)p;
    for (i = 0; i < sizeof(ss_markers) / sizeof(ss_markers[0]); i++) {
        ss_markers[i].flags = i;
    }
    APR_REGISTER_OPTIONAL_FN(ss_set_status);
    APR_REGISTER_OPTIONAL_FN(ss_get_status);
    /* Log tags must exist before mod_log_config parses LogFormat, which
     * happens while the configuration is read: register them first. */
    ap_hook_pre_config(ss_pre_config, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* Late in fixups, after the fixups a rule's expr= may read (mod_rewrite,
     * mod_env's SetEnv, mod_headers' RequestHeader) and after mod_dir's:
     * its DirectoryIndex look-up swaps in the index file's configuration,
     * whose rules must apply to the directory's URL too. */
    ap_hook_fixups(ss_fixups, ss_fixups_pre, NULL, APR_HOOK_LAST);
    /* First, so that a 2xx rule's empty response wins over any handler. */
    ap_hook_handler(ss_handler, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* The counters' and the tracing's log_transaction hooks are added by
     * their directives (StatusSetMetrics On, StatusSetTrace), so that a
     * configuration without them pays no hook call per request. */
    /* Both paths: normal responses and ap_send_error_response(). */
    ap_hook_insert_filter(ss_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(ss_insert_error_filter, NULL, NULL,
                                APR_HOOK_MIDDLE);
    /* ORIGIN after the handler's resource filters (mod_include), before
     * CONTENT_SET filters: mod_cache's CACHE_SAVE (CONTENT_SET+1) must not
     * store a header StatusSetFromHeader removes, nor BYTERANGE cut ranges
     * from a response whose status a setter changed.  FINAL is a protocol
     * filter moved right before HTTP_HEADER (ss_add_final_filter). */
    ss_origin_handle = ap_register_output_filter(SS_ORIGIN_FILTER,
                           ss_origin_filter, NULL, AP_FTYPE_CONTENT_SET - 1);
    ss_final_handle = ap_register_output_filter(SS_FINAL_FILTER,
                          ss_final_filter, NULL, AP_FTYPE_PROTOCOL);
    ap_hook_post_config(ss_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ss_metrics_register_hooks(p);
    ss_trace_register_hooks(p);
}

SS_EXPORT AP_DECLARE_MODULE(status_set) = {
    STANDARD20_MODULE_STUFF,
    ss_create_dir_conf,
    ss_merge_dir_conf,
    ss_trace_create_server,
    ss_trace_merge_server,
    ss_cmds,
    ss_register_hooks,
    /* Every virtual host its own server config, even one without our
     * directives: StatusSetTraceLimit's word is per host. */
    AP_MODULE_FLAG_ALWAYS_MERGE
};
