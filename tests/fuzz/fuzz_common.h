/* Shared by the libFuzzer harnesses: a pool per input, and the checks that
 * every message and status line must pass. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <assert.h>
#include <stdlib.h>

#include "apr_general.h"
#include "apr_pools.h"

static apr_pool_t *fuzz_root;

static inline apr_pool_t *fuzz_pool(void)
{
    apr_pool_t *p;

    if (!fuzz_root) {
        apr_initialize();
        apr_pool_create(&fuzz_root, NULL);
    }
    apr_pool_create(&p, fuzz_root);
    return p;
}

/* A message quotes bad input escaped: printable ASCII only. */
static inline void fuzz_assert_message(const char *msg)
{
    assert(msg && *msg);
    for (; *msg; msg++) {
        assert((unsigned char)*msg >= 0x20 && (unsigned char)*msg < 0x7f);
    }
}

/* No CR, LF, NUL-less control byte or DEL on a status line. */
static inline void fuzz_assert_status_line(const char *line)
{
    for (; *line; line++) {
        unsigned char c = (unsigned char)*line;
        assert(c == '\t' || (c >= 0x20 && c != 0x7f));
    }
}

#endif
