/*
 * libFuzzer harness: the status value parser and its tokenizer.
 *
 * Properties checked on every input, for each set of allowed options:
 * no crash or sanitizer report; a value that parses is in range and its
 * phrase passes ss_check_reason(), so "CODE REASON" is a clean status line;
 * a refusal comes with a message of printable ASCII only (bad bytes are
 * quoted escaped).
 */
#include <assert.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "status_set_parse.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const unsigned allows[] = {
        0, SS_ALLOW_ERROR, SS_ALLOW_ERROR | SS_ALLOW_EXPR,
        SS_ALLOW_ERROR | SS_ALLOW_LOCATION | SS_ALLOW_EXPR
    };
    apr_pool_t *p = fuzz_pool();
    const char *text = apr_pstrmemdup(p, (const char *)data, size);
    const char *line = text, *word, *err;
    size_t i;
    int quoted;

    /* The tokenizer alone: it always ends. */
    while ((word = ss_next_word(p, &line, &quoted, &err)) != NULL) {
        assert(strlen(word) <= strlen(text));
    }
    if (err) {
        fuzz_assert_message(err);
    }

    for (i = 0; i < sizeof(allows) / sizeof(allows[0]); i++) {
        ss_spec_t spec;

        err = ss_parse_spec(p, text, allows[i], &spec);
        if (err) {
            fuzz_assert_message(err);
            continue;
        }
        assert(spec.code >= SS_CODE_MIN && spec.code <= SS_CODE_MAX);
        assert(spec.substatus >= 0 && spec.substatus <= SS_SUBSTATUS_MAX);
        assert(spec.has_error || spec.error == 0);
        assert(!spec.has_error || (allows[i] & SS_ALLOW_ERROR));
        assert(!spec.location || (allows[i] & SS_ALLOW_LOCATION));
        assert(!spec.expr || (allows[i] & SS_ALLOW_EXPR));
        if (spec.reason) {
            assert(ss_check_reason(p, spec.reason,
                                   strlen(spec.reason)) == NULL);
            fuzz_assert_status_line(apr_psprintf(p, "%03d %s", spec.code,
                                                 spec.reason));
        }
        if (spec.location) {
            const char *s;
            for (s = spec.location; *s; s++) {
                assert((unsigned char)*s > 0x20 && *s != 0x7f);
            }
        }
    }
    apr_pool_destroy(p);
    return 0;
}
