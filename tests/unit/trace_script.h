/*
 * A small script that drives the trace record builder, shared by the unit
 * test driver (tests/unit/trace_json.c) and the fuzzer
 * (tests/fuzz/fuzz_trace.c).  One operation a line:
 *
 *   s KEY HEX     a string (its bytes in hex)     r KEY RAW   the same, raw
 *   i KEY N       an integer                      n KEY       a null string
 *   b KEY 0|1     a boolean                       o KEY [|{   open
 *   c             close
 *
 * KEY "-" is no key (an element of an array).  Anything else on a line is
 * skipped, so that every input is a script.
 */
#ifndef TRACE_SCRIPT_H
#define TRACE_SCRIPT_H

#include <stdlib.h>
#include <string.h>

#include "status_set_trace.h"

static int ts_hex(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Run the script of n bytes; returns the record and its length. */
static const char *ts_run(apr_pool_t *p, apr_size_t max, const char *s,
                          apr_size_t n, apr_size_t *len)
{
    ss_trace_buf_t *b = ss_trace_begin(p, max);
    const char *end = s + n;

    while (s < end) {
        const char *eol = memchr(s, '\n', (apr_size_t)(end - s));
        const char *line = s, *key, *arg, *sp;
        apr_size_t ll, kl;
        char *k = NULL;

        if (!eol) {
            eol = end;
        }
        s = eol + 1;
        ll = (apr_size_t)(eol - line);
        if (ll == 1 && line[0] == 'c') {
            ss_trace_close(b);
            continue;
        }
        if (ll < 3 || line[1] != ' ') {
            continue;
        }
        key = line + 2;
        sp = memchr(key, ' ', (apr_size_t)(eol - key));
        arg = sp ? sp + 1 : eol;
        kl = (apr_size_t)((sp ? sp : eol) - key);
        if (!(kl == 1 && key[0] == '-')) {
            k = apr_pstrmemdup(p, key, kl);
        }
        switch (line[0]) {
        case 's': {
            apr_size_t hl = (apr_size_t)(eol - arg), i, m = 0;
            char *v = apr_palloc(p, hl / 2 + 1);
            for (i = 0; i + 1 < hl; i += 2) {
                int hi = ts_hex(arg[i]), lo = ts_hex(arg[i + 1]);
                if (hi < 0 || lo < 0) {
                    break;
                }
                v[m++] = (char)(hi << 4 | lo);
            }
            ss_trace_strn(b, k, v, m);
            break;
        }
        case 'r':
            ss_trace_strn(b, k, arg, (apr_size_t)(eol - arg));
            break;
        case 'n':
            ss_trace_str(b, k, NULL);
            break;
        case 'i':
            ss_trace_int(b, k, apr_atoi64(apr_pstrmemdup(
                p, arg, (apr_size_t)(eol - arg))));
            break;
        case 'b':
            ss_trace_bool(b, k, arg < eol && *arg == '1');
            break;
        case 'o':
            ss_trace_open(b, k, arg < eol ? *arg : '?');
            break;
        default:
            break;
        }
    }
    return ss_trace_end(b, len);
}

#endif /* TRACE_SCRIPT_H */
