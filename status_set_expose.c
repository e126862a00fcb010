/*
 * status_set_expose.c -- the counters as Prometheus text 0.0.4,
 * OpenMetrics 1.0 or JSON.  APR only; see status_set_metrics.h.
 *
 * Label values are numbers, "other", and source names that the segment
 * keeps as printable ASCII: the only escapes any of the three formats
 * needs for them are \\ and \".
 */
#include <stdlib.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"

#include "status_set_metrics.h"

#define SS_PREFIX "apache_status_set_"

/* An append-only buffer from a pool, doubled as it fills. */
typedef struct {
    apr_pool_t *p;
    char *s;
    apr_size_t len, cap;
} ss_out_t;

static void ss_put(ss_out_t *o, const char *s, apr_size_t n)
{
    if (o->len + n + 1 > o->cap) {
        apr_size_t cap = o->cap * 2;
        char *s2;
        while (cap < o->len + n + 1) {
            cap *= 2;
        }
        s2 = apr_palloc(o->p, cap);
        memcpy(s2, o->s, o->len);
        o->s = s2;
        o->cap = cap;
    }
    memcpy(o->s + o->len, s, n);
    o->len += n;
    o->s[o->len] = '\0';
}

static void ss_puts(ss_out_t *o, const char *s)
{
    ss_put(o, s, strlen(s));
}

static void ss_put_u64(ss_out_t *o, apr_uint64_t v)
{
    char buf[24];

    ss_put(o, buf, apr_snprintf(buf, sizeof(buf), "%" APR_UINT64_T_FMT, v));
}

static void ss_put_int(ss_out_t *o, int v)
{
    char buf[16];

    ss_put(o, buf, apr_snprintf(buf, sizeof(buf), "%d", v));
}

/* A row's code or substatus, or the word for "other" (v == other). */
static void ss_put_cell(ss_out_t *o, int v, int other, const char *word)
{
    if (v == other) {
        ss_puts(o, word);
    }
    else {
        ss_put_int(o, v);
    }
}

/* A quoted label value or JSON string of a clean name. */
static void ss_put_quoted(ss_out_t *o, const char *s)
{
    const char *run = s;

    ss_put(o, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            ss_put(o, run, s - run);
            ss_put(o, "\\", 1);
            run = s;
        }
    }
    ss_put(o, run, s - run);
    ss_put(o, "\"", 1);
}

static void ss_put_time(ss_out_t *o, apr_time_t t)
{
    char buf[48];

    ss_put(o, buf, apr_snprintf(buf, sizeof(buf), "%" APR_TIME_T_FMT ".%06d",
                                apr_time_sec(t), (int)apr_time_usec(t)));
}

/* ------------------------------------------------------------------ */
/* Content negotiation                                                */

/* The q of the media range starting at item (up to its comma). */
static double ss_accept_q(const char *item, const char *end)
{
    const char *q;

    for (q = item; q < end; q++) {
        if (*q == ';') {
            const char *v = q + 1;
            while (v < end && (*v == ' ' || *v == '\t')) {
                v++;
            }
            if (end - v >= 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
                return strtod(v + 2, NULL);
            }
        }
    }
    return 1.0;
}

static int ss_accept_is(const char *item, const char *end, const char *type)
{
    apr_size_t n = strlen(type);

    while (item < end && (*item == ' ' || *item == '\t')) {
        item++;
    }
    return (apr_size_t)(end - item) >= n && strncasecmp(item, type, n) == 0
           && (item + n == end || item[n] == ';' || item[n] == ' ');
}

ss_format_e ss_metrics_format_for(const char *accept)
{
    double om = -1, text = -1;
    const char *item = accept;

    while (item && *item) {
        const char *end = strchr(item, ',');
        if (!end) {
            end = item + strlen(item);
        }
        if (ss_accept_is(item, end, "application/openmetrics-text")) {
            double q = ss_accept_q(item, end);
            om = q > om ? q : om;
        }
        else if (ss_accept_is(item, end, "text/plain")
                 || ss_accept_is(item, end, "text/*")
                 || ss_accept_is(item, end, "*/*")) {
            double q = ss_accept_q(item, end);
            text = q > text ? q : text;
        }
        item = *end ? end + 1 : end;
    }
    return om > 0 && om >= text ? SS_FORMAT_OPENMETRICS
                                : SS_FORMAT_PROMETHEUS;
}

const char *ss_metrics_content_type(ss_format_e format)
{
    switch (format) {
    case SS_FORMAT_OPENMETRICS:
        return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    case SS_FORMAT_JSON:
        return "application/json";
    default:
        return "text/plain; version=0.0.4; charset=utf-8";
    }
}

/* ------------------------------------------------------------------ */
/* Prometheus text and OpenMetrics                                     */

/* HELP and TYPE of a family.  OpenMetrics names a counter's family
 * without "_total"; its samples keep it. */
static void ss_family(ss_out_t *o, int om, const char *name,
                      const char *type, const char *help)
{
    int counter = strcmp(type, "counter") == 0;
    const char *family = apr_pstrcat(o->p, SS_PREFIX, name,
                                     counter && !om ? "_total" : "", NULL);

    ss_puts(o, "# HELP ");
    ss_puts(o, family);
    ss_puts(o, " ");
    ss_puts(o, help);
    ss_puts(o, "\n# TYPE ");
    ss_puts(o, family);
    ss_puts(o, " ");
    ss_puts(o, type);
    ss_puts(o, "\n");
}

static void ss_single(ss_out_t *o, int om, const char *name,
                      const char *help, apr_uint64_t v)
{
    ss_family(o, om, name, "counter", help);
    ss_puts(o, SS_PREFIX);
    ss_puts(o, name);
    ss_puts(o, "_total ");
    ss_put_u64(o, v);
    ss_puts(o, "\n");
}

static void ss_render_text(ss_out_t *o, const ss_metrics_snap_t *s, int om)
{
    int i;

    ss_family(o, om, "responses", "counter",
              "Final responses by status code and substatus (substatus "
              "other: pairs past the table's room), and by virtual host "
              "with StatusSetMetrics On vhost.");
    for (i = 0; i < s->rows->nelts; i++) {
        const ss_metrics_row_t *r = &APR_ARRAY_IDX(s->rows, i,
                                                   ss_metrics_row_t);
        ss_puts(o, SS_PREFIX "responses_total{");
        if (r->vhost) {
            ss_puts(o, "vhost=");
            ss_put_quoted(o, r->vhost);
            ss_puts(o, ",");
        }
        ss_puts(o, "code=\"");
        ss_put_cell(o, r->code, 0, "other");
        ss_puts(o, "\",substatus=\"");
        ss_put_cell(o, r->substatus, -1, "other");
        ss_puts(o, "\"} ");
        ss_put_u64(o, r->count);
        ss_puts(o, "\n");
    }
    ss_family(o, om, "rule_hits", "counter",
              "Final responses whose status a rule or source set, by "
              "source (a rule's name= or FILE:LINE, api, header:NAME).");
    for (i = 0; i < s->sources->nelts; i++) {
        const ss_metrics_source_t *src =
            &APR_ARRAY_IDX(s->sources, i, ss_metrics_source_t);
        ss_puts(o, SS_PREFIX "rule_hits_total{source=");
        ss_put_quoted(o, src->name);
        ss_puts(o, "} ");
        ss_put_u64(o, src->count);
        ss_puts(o, "\n");
    }
    ss_single(o, om, "header_rejected", "Backend status headers "
              "(StatusSetFromHeader) ignored as invalid.",
              s->counters[SS_METRIC_HEADER_REJECTED]);
    ss_single(o, om, "api_refused", "Calls of ss_set_status() refused.",
              s->counters[SS_METRIC_API_REFUSED]);
    ss_single(o, om, "overflow", "Counts that went to a cell labelled "
              "other because a table was full.",
              s->counters[SS_METRIC_OVERFLOW]);
    ss_single(o, om, "trace_dropped", "Trace records not written: past "
              "StatusSetTraceLimit, or a piped log's reader not keeping up.", s->counters[SS_METRIC_TRACE_DROPPED]);
    ss_family(o, om, "start_time_seconds", "gauge",
              "When counting started; a full restart starts from zero.");
    ss_puts(o, SS_PREFIX "start_time_seconds ");
    ss_put_time(o, s->start_time);
    ss_puts(o, "\n");
    if (om) {
        ss_puts(o, "# EOF\n");
    }
}

/* ------------------------------------------------------------------ */
/* JSON                                                               */

static void ss_render_json(ss_out_t *o, const ss_metrics_snap_t *s)
{
    int i;

    ss_puts(o, "{\"start_time\":");
    ss_put_time(o, s->start_time);
    ss_puts(o, ",\"capacity\":");
    ss_put_int(o, (int)s->pairs);
    ss_puts(o, ",\"pairs_used\":");
    ss_put_int(o, (int)s->pairs_used);
    ss_puts(o, ",\"source_capacity\":");
    ss_put_int(o, (int)s->source_room);
    ss_puts(o, ",\"sources_used\":");
    ss_put_int(o, (int)s->sources_used);
    ss_puts(o, ",\n\"responses\":[");
    for (i = 0; i < s->rows->nelts; i++) {
        const ss_metrics_row_t *r = &APR_ARRAY_IDX(s->rows, i,
                                                   ss_metrics_row_t);
        ss_puts(o, i ? ",\n {" : "\n {");
        if (r->vhost) {
            ss_puts(o, "\"vhost\":");
            ss_put_quoted(o, r->vhost);
            ss_puts(o, ",");
        }
        ss_puts(o, "\"code\":");
        ss_put_cell(o, r->code, 0, "\"other\"");
        ss_puts(o, ",\"substatus\":");
        ss_put_cell(o, r->substatus, -1, "\"other\"");
        ss_puts(o, ",\"count\":");
        ss_put_u64(o, r->count);
        ss_puts(o, "}");
    }
    ss_puts(o, "],\n\"sources\":[");
    for (i = 0; i < s->sources->nelts; i++) {
        const ss_metrics_source_t *src =
            &APR_ARRAY_IDX(s->sources, i, ss_metrics_source_t);
        ss_puts(o, i ? ",\n {\"source\":" : "\n {\"source\":");
        ss_put_quoted(o, src->name);
        ss_puts(o, ",\"count\":");
        ss_put_u64(o, src->count);
        ss_puts(o, "}");
    }
    ss_puts(o, "],\n\"header_rejected\":");
    ss_put_u64(o, s->counters[SS_METRIC_HEADER_REJECTED]);
    ss_puts(o, ",\"api_refused\":");
    ss_put_u64(o, s->counters[SS_METRIC_API_REFUSED]);
    ss_puts(o, ",\"overflow\":");
    ss_put_u64(o, s->counters[SS_METRIC_OVERFLOW]);
    ss_puts(o, ",\"trace_dropped\":");
    ss_put_u64(o, s->counters[SS_METRIC_TRACE_DROPPED]);
    ss_puts(o, "}\n");
}

char *ss_metrics_render(const ss_metrics_snap_t *snap, ss_format_e format,
                        apr_pool_t *p, apr_size_t *len)
{
    ss_out_t o;

    o.p = p;
    o.cap = 4096 + (apr_size_t)(snap->rows->nelts + snap->sources->nelts) * 96;
    o.s = apr_palloc(p, o.cap);
    o.len = 0;
    o.s[0] = '\0';
    if (format == SS_FORMAT_JSON) {
        ss_render_json(&o, snap);
    }
    else {
        ss_render_text(&o, snap, format == SS_FORMAT_OPENMETRICS);
    }
    *len = o.len;
    return o.s;
}
