/*
 * libFuzzer harness: the trace record builder, driven by any input read
 * as a script (tests/unit/trace_script.h), at a budget taken from the
 * input's first byte.  Whatever the script, the record must be within the
 * budget, one line, valid UTF-8 with no control byte, and balanced: every
 * string closed, every [ and { closed in order, the object closed last.
 */
#include <assert.h>

#include "apr_strings.h"

#include "fuzz_common.h"
#include "trace_script.h"

static void check_record(const unsigned char *s, apr_size_t n,
                         apr_size_t max)
{
    char stack[SS_TRACE_DEPTH_MAX + 1];
    int depth = 0, in_string = 0;
    apr_size_t i;

    assert(n <= max && n >= 3);
    assert(s[0] == '{' && s[n - 2] == '}' && s[n - 1] == '\n');
    for (i = 0; i < n - 1; i++) {
        unsigned char c = s[i];
        assert(c >= 0x20 && c != 0x7f);
        if (c >= 0x80) {                  /* well-formed UTF-8 only */
            int need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2, k;
            assert(c >= 0xC2 && c <= 0xF4 && in_string);
            for (k = 1; k < need; k++) {
                assert(i + k < n && (s[i + k] & 0xC0) == 0x80);
            }
            i += need - 1;
            continue;
        }
        if (in_string) {
            if (c == '\\') {
                i++;
                assert(strchr("\"\\/bfnrtu", s[i]));
            }
            else if (c == '"') {
                in_string = 0;
            }
            continue;
        }
        if (c == '"') {
            in_string = 1;
        }
        else if (c == '[' || c == '{') {
            assert(depth < SS_TRACE_DEPTH_MAX);
            stack[depth++] = c == '[' ? ']' : '}';
        }
        else if (c == ']' || c == '}') {
            assert(depth > 0 && stack[--depth] == c);
            assert(depth > 0 || i == n - 2);
        }
    }
    assert(!in_string && depth == 0);
}

/* ss_scrub_queries() on the input as a message, with a needle taken
 * from its first bytes: what it returns holds no '?' followed by anything
 * but white space, nor the needle. */
static void check_scrub(apr_pool_t *p, const char *data, size_t size)
{
    const char *msg = apr_pstrndup(p, data, size), *needles[1], *out, *q;
    apr_size_t nlen = size > 12 ? 12 : size;

    needles[0] = apr_pstrndup(p, data, nlen);
    out = ss_scrub_queries(p, msg, needles, 1);
    for (q = strchr(out, '?'); q; q = strchr(q + 1, '?')) {
        assert(q[1] == '\0' || q[1] == ' ' || q[1] == '\t'
               || !strncmp(q + 1, "[query]", 7));
    }
    /* (a needle with a byte of "[query]" may be made by the replacement) */
    if (needles[0][0] && strlen(needles[0]) == nlen && !strchr(needles[0], '?')
        && !strpbrk(needles[0], "[query]")) {
        assert(!strstr(out, needles[0]));
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    apr_size_t max, len;
    const char *rec;

    if (size < 1) {
        apr_pool_destroy(p);
        return 0;
    }
    max = 32 + (apr_size_t)data[0] * 16;          /* 32 .. 4112 */
    rec = ts_run(p, max, (const char *)data + 1, size - 1, &len);
    check_record((const unsigned char *)rec, len,
                 max < SS_TRACE_RECORD_MIN ? SS_TRACE_RECORD_MIN : max);
    assert(rec[len] == '\0' && strlen(rec) == len);
    check_scrub(p, (const char *)data + 1, size - 1);
    apr_pool_destroy(p);
    return 0;
}
