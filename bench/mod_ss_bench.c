/*
 * mod_ss_bench.c -- two handlers that answer the same "404 Bench" with the
 * same body, for `make bench`: "ss-bench-api" through mod_status_set's
 * ss_set_status(), "ss-bench-plain" by setting r->status and
 * r->status_line itself.  Built by bench/bench.py with apxs.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"

#include "mod_status_set.h"

module AP_MODULE_DECLARE_DATA ss_bench_module;

static APR_OPTIONAL_FN_TYPE(ss_set_status) *bench_set;

static int bench_handler(request_rec *r)
{
    if (!r->handler || strncmp(r->handler, "ss-bench-", 9) != 0) {
        return DECLINED;
    }
    if (strcmp(r->handler + 9, "api") == 0 && bench_set) {
        if (bench_set(r, HTTP_NOT_FOUND, "Bench", 1, 0) != APR_SUCCESS) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    else {
        r->status = HTTP_NOT_FOUND;
        r->status_line = "404 Bench";
    }
    ap_set_content_type(r, "text/plain");
    ap_rputs("bench body\n", r);
    return OK;
}

static void bench_retrieve(void)
{
    bench_set = APR_RETRIEVE_OPTIONAL_FN(ss_set_status);
}

static void bench_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_optional_fn_retrieve(bench_retrieve, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(bench_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(ss_bench) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    bench_register_hooks,
    AP_MODULE_FLAG_NONE
};
