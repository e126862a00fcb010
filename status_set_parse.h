/*
 * status_set_parse.h -- the status value grammar of mod_status_set.
 *
 * Everything here needs APR and nothing else: no request, no server, no
 * config tree.  The module calls it at config time (directives) and at
 * request time (API, backend header); fuzzers and unit tests link it alone.
 *
 * A status value is written the same way everywhere:
 *
 *     CODE[.SUBSTATUS] ["REASON"] [error=N] [OPTION=VALUE ...]
 *
 * where the options a caller accepts are chosen with the SS_ALLOW_* flags.
 */
#ifndef STATUS_SET_PARSE_H
#define STATUS_SET_PARSE_H

#include "apr.h"
#include "apr_pools.h"
#include "apr_tables.h"

#define SS_CODE_MIN        200
#define SS_CODE_MAX        599
#define SS_SUBSTATUS_MAX   65535
#define SS_REASON_MAX      256

/* The options a caller accepts after CODE[.SUB] ["REASON"]. */
#define SS_ALLOW_ERROR     0x01   /* error=N (every setter) */
#define SS_ALLOW_LOCATION  0x02   /* location=URL (StatusSet) */
#define SS_ALLOW_EXPR      0x04   /* expr=EXPRESSION (directives) */
#define SS_ALLOW_NAME      0x08   /* name=NAME (rules) */
#define SS_NAME_MAX        64     /* bytes of a rule's name */

typedef struct {
    int code;              /* 200..599 */
    int substatus;         /* 0..65535, 0 when not given */
    int error;             /* signed 32-bit, 0 when not given */
    const char *reason;    /* NULL: the default phrase applies */
    int has_substatus;     /* ".SUB" was written */
    int has_error;         /* "error=" was written */
    const char *location;  /* location=, or NULL */
    const char *expr;      /* expr=, or NULL (not compiled here) */
    const char *name;      /* name=, or NULL */
} ss_spec_t;

/*
 * Parse a whole status value from text.  On success returns NULL and fills
 * *out; on failure returns a message (allocated from p) that names the bad
 * value and says what is allowed, and *out is unspecified.
 */
const char *ss_parse_spec(apr_pool_t *p, const char *text, unsigned allow,
                          ss_spec_t *out);

/*
 * The same, from words already split (a directive's arguments, split by
 * httpd's ap_getword_conf()): argv[0] is CODE[.SUB], argv[1] the phrase
 * unless it is an option (NAME=VALUE), then options only.
 */
const char *ss_parse_words(apr_pool_t *p, int argc, const char *const *argv,
                           unsigned allow, ss_spec_t *out);

/*
 * Parse "CODE" or "CODE.SUBSTATUS" (the whole of word).  Returns NULL or an
 * error message from p.  has_sub may be NULL.
 */
const char *ss_parse_code(apr_pool_t *p, const char *word, int *code,
                          int *substatus, int *has_sub);

/*
 * Check the ranges of SPEC section 2: code 200-599, substatus 0-65535.
 * Returns NULL when valid, else a message from p (a static one when p is
 * NULL: the API validates without allocating).
 */
const char *ss_check_status(apr_pool_t *p, int code, int substatus);

/*
 * Check a reason phrase of len bytes against SPEC section 2: 1-256 bytes of
 * HTAB / SP / VCHAR / obs-text, no leading or trailing white space, none of
 * < > &.  Returns NULL when valid, else a message from p (a static one
 * when p is NULL).
 */
const char *ss_check_reason(apr_pool_t *p, const char *reason, apr_size_t len);

/*
 * Split the next word off *line as httpd's ap_getword_conf() splits
 * directive arguments, for status values read from a header or the API:
 * spaces and tabs separate words; a word that starts with " or ' runs to the
 * matching quote (a quote elsewhere is an ordinary byte); \\ stands for \,
 * and inside quotes \" (or \') for the quote.  Returns the word
 * (unescaped, from p) or NULL at the end of the line.  *quoted is set
 * when the word began with a quote.  On an unterminated quote returns NULL
 * and sets *err.
 */
const char *ss_next_word(apr_pool_t *p, const char **line, int *quoted,
                         const char **err);

/* One item of a StatusSetResponse MATCH list: codes lo..hi, and the
 * substatus, or -1 for any. */
typedef struct {
    int lo;
    int hi;
    int substatus;
} ss_match_t;

/*
 * A rule's name= value: 1-64 bytes of letters, digits and _ . : -, not one
 * of the counters' own sources (other, api, header:...).  NULL or a
 * message from p.
 */
const char *ss_check_name(apr_pool_t *p, const char *name);

/*
 * Parse a MATCH list: comma-separated items, each "404", "404.13", "4xx",
 * "500-504" or "*" (all of 200-599).  On success returns NULL and sets
 * *out to an array of ss_match_t from p; else a message from p.
 */
const char *ss_parse_match(apr_pool_t *p, const char *text,
                           apr_array_header_t **out);

/* The one reader of a directive's integer: decimal digits (leading zeros
 * allowed), after a '-' only where min is negative; nothing else (no
 * space, no '+', no unit); from min to max.  1 and *out set, or 0. */
int ss_parse_int(const char *s, apr_int64_t min, apr_int64_t max,
                 apr_int64_t *out);

/* The one evaluation of a MATCH item and of a MATCH list, for
 * StatusSetResponse and StatusSetTrace alike. */
static APR_INLINE int ss_match_item(const ss_match_t *m, int code,
                                    int substatus)
{
    return code >= m->lo && code <= m->hi
           && (m->substatus < 0 || m->substatus == substatus);
}

int ss_match_list(const apr_array_header_t *match, int code, int substatus);

/* A set of status codes 0-999, a bit each: a response learns with one test
 * that no rule of a context can concern its code (StatusSetTrace,
 * StatusSetReason). */
#define SS_CODESET_MAX 1000
typedef struct {
    apr_uint32_t bits[SS_CODESET_MAX / 32 + 1];
} ss_codeset_t;

static APR_INLINE int ss_codeset_has(const ss_codeset_t *set, int code)
{
    return code >= 0 && code < SS_CODESET_MAX
           && (set->bits[code >> 5] >> (code & 31)) & 1;
}

void ss_codeset_add(ss_codeset_t *set, int lo, int hi);

/* The codes a MATCH list names. */
void ss_codeset_add_match(ss_codeset_t *set, const apr_array_header_t *match);

/* dst = a | b */
void ss_codeset_union(ss_codeset_t *dst, const ss_codeset_t *a,
                      const ss_codeset_t *b);

/* Copy s with every byte outside printable ASCII written as \xHH, for use
 * in messages about bad input.  Long input is cut with "...". */
const char *ss_escape_for_message(apr_pool_t *p, const char *s, apr_size_t len);

/* The generic phrase of a status class: "Successful", "Client Error"... */
const char *ss_class_reason(int code);

#endif /* STATUS_SET_PARSE_H */
