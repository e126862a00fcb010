/*
 * libFuzzer harness: the reason phrase validator, against an independent
 * statement of SPEC section 2 (1-256 bytes of HTAB / SP / VCHAR /
 * obs-text, no white space at either end, none of < > &).  Both the
 * message-building (pool) and the static (NULL pool, API) forms must agree.
 */
#include <assert.h>

#include "status_set_parse.h"
#include "fuzz_common.h"

static int spec_says_valid(const unsigned char *s, size_t n)
{
    size_t i;

    if (n < 1 || n > 256) {
        return 0;
    }
    if (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t') {
        return 0;
    }
    for (i = 0; i < n; i++) {
        int ok = s[i] == '\t' || s[i] == ' '
                 || (s[i] >= 0x21 && s[i] <= 0x7e) || s[i] >= 0x80;
        if (!ok || s[i] == '<' || s[i] == '>' || s[i] == '&') {
            return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *with_pool = ss_check_reason(p, (const char *)data, size);
    const char *without = ss_check_reason(NULL, (const char *)data, size);
    int valid = spec_says_valid(data, size);

    assert((with_pool == NULL) == valid);
    assert((without == NULL) == valid);
    if (with_pool) {
        fuzz_assert_message(with_pool);
        fuzz_assert_message(without);
    }
    apr_pool_destroy(p);
    return 0;
}
