/*
 * Unit test driver for the trace record builder: runs the script on stdin
 * (tests/unit/trace_script.h) with the budget argv[1] and writes the
 * record to stdout.  tests/test_trace_json.py checks its output.
 */
#include <stdio.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "trace_script.h"

int main(int argc, char **argv)
{
    apr_pool_t *p;
    char buf[1 << 16];
    apr_size_t n, len;
    const char *rec;

    if (argc != 2) {
        fprintf(stderr, "usage: trace_json MAX < script\n");
        return 2;
    }
    apr_initialize();
    apr_pool_create(&p, NULL);
    n = fread(buf, 1, sizeof(buf), stdin);
    rec = ts_run(p, (apr_size_t)apr_atoi64(argv[1]), buf, n, &len);
    fwrite(rec, 1, len, stdout);
    apr_pool_destroy(p);
    apr_terminate();
    return 0;
}
