/*
 * mod_ss_test.c -- a module that calls mod_status_set's C API as the
 * request headers say, for the test suite (tests/test_api.py).  Built with
 * apxs against mod_status_set.h by the suite itself; never installed.
 *
 *   X-SS-Phase: post_read_request | fixups | handler | filter
 *   X-SS-Call1, X-SS-Call2: "STATUS SUBSTATUS ERROR REASON"
 *       REASON is %-encoded, "-" for NULL; STATUS "nullr" calls with a
 *       NULL request.  The calls are made in that order, in the phase.
 *   X-SS-Return: what the phase's hook returns afterwards (default: OK,
 *       or DECLINED where OK would end the phase)
 *   X-SS-Flush: 1 -- the handler writes and flushes "early\n" first
 *   X-SS-Handler-Return: what the "ss-test" handler returns, also on an
 *       internally redirected request
 *   X-SS-Target: 1 -- the phase's calls are made on the request that an
 *       internal redirect made, not on the first
 *   X-SS-Emit: the handler sends this (%-decoded) as the response header
 *       X-App-Status, for StatusSetFromHeader; X-SS-Emit2: a second one
 *   X-SS-Phase: subreq_fixups -- the calls are made in the fixups hook of
 *       every subrequest (mod_dir's index look-up, say), not the main one
 *   X-SS-Phase: log_transaction -- the calls are made when the request is
 *       logged (before mod_log_config writes the line), after the response
 *   X-SS-Read-Body: 1 -- after its calls the handler reads the request
 *       body (Expect: 100-continue) and writes "body=N"
 *   X-SS-Redirect: URL -- after its calls the handler internally
 *       redirects to URL (ap_internal_redirect) and returns OK
 *
 * The return codes go out in the header X-SS-RC ("0,22"), in
 * err_headers_out so that error responses carry it too.  The "ss-test"
 * handler writes what ss_get_status() reports, and "getnull=RC" for a call
 * with every output pointer NULL.
 */

#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "apr_strings.h"

#include "mod_status_set.h"

module AP_MODULE_DECLARE_DATA ss_test_module;

static APR_OPTIONAL_FN_TYPE(ss_set_status) *t_set;
static APR_OPTIONAL_FN_TYPE(ss_get_status) *t_get;

static int t_hex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* %-decode, keeping every byte (CR, LF, NUL-free control bytes). */
static char *t_decode(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) + 1), *d = out;

    while (*s) {
        if (s[0] == '%' && t_hex(s[1]) >= 0 && t_hex(s[2]) >= 0) {
            *d++ = (char)(t_hex(s[1]) * 16 + t_hex(s[2]));
            s += 3;
        }
        else {
            *d++ = *s++;
        }
    }
    *d = '\0';
    return out;
}

static int t_is_phase(request_rec *r, const char *phase)
{
    const char *want = apr_table_get(r->headers_in, "X-SS-Phase");
    /* X-SS-Target: 1 -- call on the request an internal redirect made,
     * instead of on the first. */
    int on_target = apr_table_get(r->headers_in, "X-SS-Target") != NULL;

    return !r->main && (on_target ? r->prev != NULL : r->prev == NULL)
           && want && strcmp(want, phase) == 0;
}

static void t_call(request_rec *r, const char *header)
{
    const char *spec = apr_table_get(r->headers_in, header);
    char *copy, *status, *sub, *err, *reason, *last;
    apr_status_t rv;
    const char *rcs;

    if (!spec) {
        return;
    }
    copy = apr_pstrdup(r->pool, spec);
    status = apr_strtok(copy, " ", &last);
    sub = apr_strtok(NULL, " ", &last);
    err = apr_strtok(NULL, " ", &last);
    reason = apr_strtok(NULL, " ", &last);
    if (!status || !sub || !err || !reason) {
        rv = -1;
    }
    else {
        rv = t_set(strcmp(status, "nullr") == 0 ? NULL : r,
                   atoi(status), strcmp(reason, "-") == 0 ? NULL
                                 : t_decode(r->pool, reason),
                   atoi(sub), atoi(err));
    }
    rcs = apr_table_get(r->err_headers_out, "X-SS-RC");
    apr_table_setn(r->err_headers_out, "X-SS-RC",
                   rcs ? apr_psprintf(r->pool, "%s,%d", rcs, rv)
                       : apr_psprintf(r->pool, "%d", rv));
}

static int t_calls(request_rec *r, int otherwise)
{
    const char *ret = apr_table_get(r->headers_in, "X-SS-Return");

    t_call(r, "X-SS-Call1");
    t_call(r, "X-SS-Call2");
    return ret ? atoi(ret) : otherwise;
}

static int t_post_read_request(request_rec *r)
{
    return t_is_phase(r, "post_read_request") ? t_calls(r, DECLINED)
                                              : DECLINED;
}

static int t_log_transaction(request_rec *r)
{
    if (t_is_phase(r, "log_transaction")) {
        t_calls(r, OK);
    }
    return DECLINED;
}

static int t_fixups(request_rec *r)
{
    const char *want = apr_table_get(r->headers_in, "X-SS-Phase");

    if (r->main && want && strcmp(want, "subreq_fixups") == 0) {
        t_calls(r, OK);
        return DECLINED;
    }
    return t_is_phase(r, "fixups") ? t_calls(r, OK) : DECLINED;
}

/* Read the whole request body as a handler does; -1 on error. */
static long t_read_body(request_rec *r)
{
    char buf[8192];
    long total = 0, n;

    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK) {
        return -1;
    }
    if (!ap_should_client_block(r)) {
        return 0;
    }
    while ((n = ap_get_client_block(r, buf, sizeof(buf))) > 0) {
        total += n;
    }
    return n < 0 ? -1 : total;
}

static apr_status_t t_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    t_calls(f->r, OK);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

static void t_insert_filter(request_rec *r)
{
    if (t_is_phase(r, "filter")) {
        ap_add_output_filter("SS_TEST", NULL, r, r->connection);
    }
}

static int t_handler(request_rec *r)
{
    int status = -1, sub = -1, rv;
    const char *reason = "(unset)";
    apr_status_t error = -1;

    if (!r->handler || strcmp(r->handler, "ss-test") != 0) {
        return DECLINED;
    }
    ap_set_content_type(r, "text/plain");
    if ((reason = apr_table_get(r->headers_in, "X-SS-Emit")) != NULL) {
        apr_table_setn(r->headers_out, "X-App-Status",
                       t_decode(r->pool, reason));
        reason = apr_table_get(r->headers_in, "X-SS-Emit2");
        if (reason) {
            apr_table_add(r->headers_out, "X-App-Status",
                          t_decode(r->pool, reason));
        }
        reason = "(unset)";
    }
    if (apr_table_get(r->headers_in, "X-SS-Flush")) {
        ap_rputs("early\n", r);
        ap_rflush(r);
    }
    if (t_is_phase(r, "handler")) {
        rv = t_calls(r, OK);
        if (rv != OK) {
            return rv;
        }
        if ((reason = apr_table_get(r->headers_in, "X-SS-Redirect"))) {
            ap_internal_redirect(t_decode(r->pool, reason), r);
            return OK;
        }
        if (apr_table_get(r->headers_in, "X-SS-Read-Body")) {
            ap_rprintf(r, "body=%ld\n", t_read_body(r));
        }
    }
    if ((reason = apr_table_get(r->headers_in, "X-SS-Handler-Return"))) {
        return atoi(reason);
    }
    rv = t_get(r, &status, &reason, &sub, &error);
    ap_rprintf(r, "get=%d status=%d reason=%s sub=%d error=%d\n", rv, status,
               reason, sub, (int)error);
    ap_rprintf(r, "getnull=%d\n", t_get(r, NULL, NULL, NULL, NULL));
    ap_rprintf(r, "getnullr=%d\n", t_get(NULL, &status, NULL, NULL, NULL));
    ap_rprintf(r, "rc=%s\n", apr_table_get(r->err_headers_out, "X-SS-RC"));
    return OK;
}

/* Before the request has a configuration: ss_get_status() must cope. */
static int t_create_request(request_rec *r)
{
    int status;
    const char *reason;

    if (t_get && t_get(r, &status, &reason, NULL, NULL) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static void t_retrieve(void)
{
    t_set = APR_RETRIEVE_OPTIONAL_FN(ss_set_status);
    t_get = APR_RETRIEVE_OPTIONAL_FN(ss_get_status);
}

static void t_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_optional_fn_retrieve(t_retrieve, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_create_request(t_create_request, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(t_post_read_request, NULL, NULL,
                              APR_HOOK_MIDDLE);
    ap_hook_fixups(t_fixups, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(t_log_transaction, NULL, NULL,
                            APR_HOOK_REALLY_FIRST);
    ap_hook_insert_filter(t_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(t_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_register_output_filter("SS_TEST", t_filter, NULL,
                              AP_FTYPE_CONTENT_SET);
}

AP_DECLARE_MODULE(ss_test) = {
    STANDARD20_MODULE_STUFF,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    t_register_hooks,
    AP_MODULE_FLAG_NONE
};
