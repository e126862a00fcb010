/*
 * status_set_trace.h -- one bounded JSON record (a line of StatusSetTraceLog).
 *
 * APR only, so that the unit tests and the fuzzer link it alone.  The
 * builder writes into one buffer of a fixed size and keeps room for what
 * closes the record, so that whatever is added, ss_trace_end() returns one
 * complete JSON object of at most `max` bytes, newline included:
 *
 *   - an item that does not fit is left out whole (a string is cut at a
 *     character boundary and ends in "..." first when there is room for a
 *     part of it), and the record gets "truncated":true at its end;
 *   - every string is escaped as RFC 8259 asks: quote, backslash and the
 *     control bytes (DEL too) escaped, bytes that are not UTF-8 replaced
 *     by \ufffd, so that nothing a client sent can break the line.
 *
 * Usage: ss_trace_open() returns 0 when the array or object was left out;
 * ss_trace_close() is called after every ss_trace_open() all the same.
 * Keys are given inside objects and NULL inside arrays; a call that breaks
 * this returns 0 and writes nothing.
 */
#ifndef STATUS_SET_TRACE_H
#define STATUS_SET_TRACE_H

#include "apr.h"
#include "apr_pools.h"

#define SS_TRACE_RECORD_MAX 4096   /* bytes of a record: PIPE_BUF on Linux */
#define SS_TRACE_RECORD_MIN 64     /* smaller budgets are raised to this */
#define SS_TRACE_STRING_MAX 512    /* bytes of one escaped string, quotes in */
#define SS_TRACE_DEPTH_MAX  8      /* nesting, the record's own object in */

typedef struct ss_trace_buf_t ss_trace_buf_t;

/* A record of at most max bytes, its object opened. */
ss_trace_buf_t *ss_trace_begin(apr_pool_t *p, apr_size_t max);

/* Add a member (key) or an element (key NULL).  A NULL string is null.
 * 1 when written, 0 when left out. */
int ss_trace_str(ss_trace_buf_t *b, const char *key, const char *value);
int ss_trace_strn(ss_trace_buf_t *b, const char *key, const char *value,
                  apr_size_t len);
int ss_trace_int(ss_trace_buf_t *b, const char *key, apr_int64_t value);
int ss_trace_bool(ss_trace_buf_t *b, const char *key, int value);

/* Open an array (kind '[') or an object ('{'); see above. */
int ss_trace_open(ss_trace_buf_t *b, const char *key, char kind);
void ss_trace_close(ss_trace_buf_t *b);

/* Close what is open, mark a truncated record, end the line.  The buffer
 * lives in the pool; *len is its length (no NUL counted). */
const char *ss_trace_end(ss_trace_buf_t *b, apr_size_t *len);

/* Escape len bytes of s as one JSON string, quotes included, into out,
 * at most outmax bytes (outmax >= 5): when the whole does not fit, it is
 * cut at a character boundary and ends in "...".  Returns the bytes
 * written; *cut (if not NULL) tells whether it was cut. */
apr_size_t ss_json_quote(char *out, apr_size_t outmax, const char *s,
                         apr_size_t len, int *cut);

/* The same, allocated from p and NUL-terminated. */
char *ss_json_string(apr_pool_t *p, const char *s, apr_size_t len,
                     apr_size_t max);

/* msg as a record that leaves queries out shows it: every occurrence of
 * each of the n needles (the request's query strings, as sent and as the
 * logs escape them), or its start when msg ends inside it, and every run
 * of bytes after a '?' up to white space or the end, replaced by
 * "[query]".  From p; msg itself when nothing is replaced. */
const char *ss_scrub_queries(apr_pool_t *p, const char *msg,
                             const char *const *needles, int n);

#endif /* STATUS_SET_TRACE_H */
