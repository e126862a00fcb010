/*
 * libFuzzer harness: the StatusSetResponse MATCH list parser.
 * Every item that parses covers codes within 200-599, low to high, with a
 * substatus of -1 (any) or 0-65535; refusals carry a printable message.
 * The code set made from the list (filled a word at a time) holds exactly
 * the codes of its items.
 */
#include <assert.h>
#include <string.h>

#include "apr_strings.h"

#include "status_set_parse.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *text = apr_pstrmemdup(p, (const char *)data, size);
    apr_array_header_t *list = NULL;
    const char *err = ss_parse_match(p, text, &list);
    int i, code;

    if (err) {
        fuzz_assert_message(err);
    }
    else {
        assert(list && list->nelts > 0);
        for (i = 0; i < list->nelts; i++) {
            const ss_match_t *m = &APR_ARRAY_IDX(list, i, ss_match_t);
            assert(m->lo >= SS_CODE_MIN && m->hi <= SS_CODE_MAX);
            assert(m->lo <= m->hi);
            assert(m->substatus >= -1 && m->substatus <= SS_SUBSTATUS_MAX);
            assert(m->substatus == -1 || m->lo == m->hi);
        }
        {
            ss_codeset_t set;
            memset(&set, 0, sizeof(set));
            ss_codeset_add_match(&set, list);
            for (code = 0; code < SS_CODESET_MAX; code++) {
                int in = 0;
                for (i = 0; i < list->nelts; i++) {
                    const ss_match_t *m = &APR_ARRAY_IDX(list, i, ss_match_t);
                    in |= code >= m->lo && code <= m->hi;
                }
                assert(ss_codeset_has(&set, code) == in);
            }
        }
    }
    apr_pool_destroy(p);
    return 0;
}
