/*
 * mod_status_echo.c -- the IIS SetStatus() sample, ported to httpd with
 * mod_status_set's C API.
 *
 * Used as the target of an ErrorDocument, the "status-echo" handler writes
 * the status of the request that failed, as text/plain:
 *
 *     HTTP Status: 403.6 IP address rejected
 *
 * and sets "200 OK" so that the client always receives that text.
 *
 *     LoadModule status_echo_module modules/mod_status_echo.so
 *     <Location /status-echo>
 *         SetHandler status-echo
 *     </Location>
 *     ErrorDocument 403 /status-echo
 *
 * Without mod_status_set it still answers, from httpd's own fields and
 * with no substatus.
 */

#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"

#include "mod_status_set.h"

module AP_MODULE_DECLARE_DATA status_echo_module;

static APR_OPTIONAL_FN_TYPE(ss_get_status) *echo_get_status;
static APR_OPTIONAL_FN_TYPE(ss_set_status) *echo_set_status;

static int echo_handler(request_rec *r)
{
    /* The request the ErrorDocument answers; r itself when called directly. */
    request_rec *failed = r->prev ? r->prev : r;
    int status = failed->status, substatus = 0;
    const char *reason = NULL;

    if (!r->handler || strcmp(r->handler, "status-echo") != 0) {
        return DECLINED;
    }
    if (echo_get_status) {
        echo_get_status(failed, &status, &reason, &substatus, NULL);
    }
    if (!reason) {
        reason = ap_get_status_line(status) + 4;
    }

    /* Whatever the error was, this response is the answer: 200 OK. */
    if (!echo_set_status
        || echo_set_status(r, HTTP_OK, NULL, 0, 0) != APR_SUCCESS) {
        r->status = HTTP_OK;
        r->status_line = NULL;
    }
    ap_set_content_type(r, "text/plain");
    if (!r->header_only) {
        ap_rprintf(r, "HTTP Status: %d.%d %s\n", status, substatus, reason);
    }
    return OK;
}

static void echo_retrieve(void)
{
    echo_get_status = APR_RETRIEVE_OPTIONAL_FN(ss_get_status);
    echo_set_status = APR_RETRIEVE_OPTIONAL_FN(ss_set_status);
}

static void echo_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_optional_fn_retrieve(echo_retrieve, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(echo_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(status_echo) = {
    STANDARD20_MODULE_STUFF,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    echo_register_hooks,
    AP_MODULE_FLAG_NONE
};
