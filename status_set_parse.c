/*
 * status_set_parse.c -- the status value grammar (see status_set_parse.h).
 *
 * APR only.  Every message returned names the offending value, escaped so
 * that no control byte reaches a terminal or a log, and says what is
 * allowed.
 */
#include <string.h>

#include "apr_strings.h"
#include "apr_lib.h"

#include "status_set_parse.h"

#define SS_MESSAGE_VALUE_MAX 64   /* bytes of a bad value quoted in a message */

static const char ss_spec_syntax[] =
    "CODE[.SUBSTATUS] [\"REASON\"] [error=N]";

const char *ss_escape_for_message(apr_pool_t *p, const char *s, apr_size_t len)
{
    static const char hex[] = "0123456789abcdef";
    apr_size_t shown = len > SS_MESSAGE_VALUE_MAX ? SS_MESSAGE_VALUE_MAX : len;
    char *out = apr_palloc(p, shown * 4 + 4), *d = out;
    apr_size_t i;

    for (i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            *d++ = (char)c;
        }
        else {
            *d++ = '\\';
            *d++ = 'x';
            *d++ = hex[c >> 4];
            *d++ = hex[c & 0x0f];
        }
    }
    if (shown < len) {
        memcpy(d, "...", 3);
        d += 3;
    }
    *d = '\0';
    return out;
}

static const char *ss_esc(apr_pool_t *p, const char *s)
{
    return ss_escape_for_message(p, s, strlen(s));
}

const char *ss_class_reason(int code)
{
    switch (code / 100) {
    case 1: return "Informational";
    case 2: return "Successful";
    case 3: return "Redirection";
    case 4: return "Client Error";
    default: return "Server Error";
    }
}

/* All of s[0..len) is decimal digits, and len is 1..maxdigits. */
static int ss_all_digits(const char *s, apr_size_t len, apr_size_t maxdigits)
{
    apr_size_t i;

    if (len == 0 || len > maxdigits) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!apr_isdigit(s[i])) {
            return 0;
        }
    }
    return 1;
}

const char *ss_check_status(apr_pool_t *p, int code, int substatus)
{
    if (code < SS_CODE_MIN || code > SS_CODE_MAX) {
        return p ? apr_psprintf(p, "status code %d is out of range: "
                                "allowed are %d to %d (final responses)",
                                code, SS_CODE_MIN, SS_CODE_MAX)
                 : "status code out of range";
    }
    if (substatus < 0 || substatus > SS_SUBSTATUS_MAX) {
        return p ? apr_psprintf(p, "substatus %d is out of range: allowed "
                                "are 0 to %d", substatus, SS_SUBSTATUS_MAX)
                 : "substatus out of range";
    }
    return NULL;
}

const char *ss_parse_code(apr_pool_t *p, const char *word, int *code,
                          int *substatus, int *has_sub)
{
    const char *dot = strchr(word, '.');
    apr_size_t clen = dot ? (apr_size_t)(dot - word) : strlen(word);
    const char *err;
    int c, sub = 0;

    if (!ss_all_digits(word, clen, 3) || clen != 3) {
        return apr_psprintf(p, "'%s' is not a status: expected 3 digits "
                            "from %d to %d, optionally followed by "
                            ".SUBSTATUS (0-%d)", ss_esc(p, word),
                            SS_CODE_MIN, SS_CODE_MAX, SS_SUBSTATUS_MAX);
    }
    c = (word[0] - '0') * 100 + (word[1] - '0') * 10 + (word[2] - '0');
    if (dot) {
        const char *s = dot + 1;
        apr_size_t slen = strlen(s), i;

        if (!ss_all_digits(s, slen, 5)) {
            return apr_psprintf(p, "substatus in '%s' is not a number "
                                "from 0 to %d", ss_esc(p, word),
                                SS_SUBSTATUS_MAX);
        }
        for (i = 0; i < slen; i++) {
            sub = sub * 10 + (s[i] - '0');
        }
    }
    if ((err = ss_check_status(p, c, sub)) != NULL) {
        return apr_pstrcat(p, err, " (in '", ss_esc(p, word), "')", NULL);
    }
    *code = c;
    *substatus = sub;
    if (has_sub) {
        *has_sub = dot != NULL;
    }
    return NULL;
}

/* The bytes a reason phrase may not hold: controls but tab, DEL, and
 * < > & (section 2).  One load a byte: the API checks every phrase. */
static const unsigned char ss_reason_bad[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['&'] = 1, ['<'] = 1, ['>'] = 1, [0x7f] = 1
};

const char *ss_check_reason(apr_pool_t *p, const char *reason, apr_size_t len)
{
    apr_size_t i;

    if (len == 0) {
        return "the reason phrase is empty: give 1 to 256 bytes of text, "
               "or leave it out to get the default phrase";
    }
    if (len > SS_REASON_MAX) {
        return p ? apr_psprintf(p, "the reason phrase '%s' is %"
                                APR_SIZE_T_FMT " bytes long: at most %d are "
                                "allowed", ss_escape_for_message(p, reason,
                                len), len, SS_REASON_MAX)
                 : "reason phrase too long";
    }
    for (i = 0; i < len && !ss_reason_bad[(unsigned char)reason[i]]; i++) {
    }
    if (i < len) {
        unsigned char c = (unsigned char)reason[i];
        if (c != '<' && c != '>' && c != '&') {
            return p ? apr_psprintf(p, "the reason phrase '%s' contains the "
                                    "control byte 0x%02x at offset %"
                                    APR_SIZE_T_FMT ": allowed are tab, "
                                    "space, visible ASCII and bytes "
                                    "0x80-0xff", ss_escape_for_message(p,
                                    reason, len), c, i)
                     : "control byte in reason phrase";
        }
        return p ? apr_psprintf(p, "the reason phrase '%s' contains "
                                "'%c': < > & are not allowed, because "
                                "Apache pastes the phrase unescaped "
                                "into its error page",
                                ss_escape_for_message(p, reason, len), c)
                 : "< > & in reason phrase";
    }
    if (reason[0] == ' ' || reason[0] == '\t'
        || reason[len - 1] == ' ' || reason[len - 1] == '\t') {
        return p ? apr_psprintf(p, "the reason phrase '%s' starts or ends "
                                "with white space: trim it",
                                ss_escape_for_message(p, reason, len))
                 : "white space around reason phrase";
    }
    return NULL;
}

/* Words are separated by space and tab only: any other control byte is an
 * error (ss_parse_spec), never a separator. */
static int ss_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Copy a quoted run starting at s (which points at the quote) into *d,
 * undoing \-escapes of the quote and of \ as ap_getword_conf() does;
 * returns the byte after the closing quote, or NULL if there is none. */
static const char *ss_copy_quoted(const char *s, char **d)
{
    char q = *s++;

    while (*s && *s != q) {
        if (*s == '\\' && (s[1] == q || s[1] == '\\')) {
            s++;
        }
        *(*d)++ = *s++;
    }
    return *s == q ? s + 1 : NULL;
}

const char *ss_next_word(apr_pool_t *p, const char **line, int *quoted,
                         const char **err)
{
    const char *s = *line, *start;
    char *word, *d;

    *err = NULL;
    *quoted = 0;
    while (ss_blank(*s)) {
        s++;
    }
    if (!*s) {
        *line = s;
        return NULL;
    }
    start = s;
    /* The unescaped word is never longer than its source. */
    word = d = apr_palloc(p, strlen(s) + 1);
    if (*s == '"' || *s == '\'') {
        /* As httpd splits directive arguments: a quote counts only at the
         * start of a word. */
        *quoted = 1;
        s = ss_copy_quoted(s, &d);
    }
    else {
        while (*s && !ss_blank(*s)) {
            if (*s == '\\' && s[1] == '\\') {
                s++;
            }
            *d++ = *s++;
        }
    }
    if (!s) {
        *err = apr_psprintf(p, "unterminated quote in '%s': close it, "
                            "and write a quote inside quotes as \\\"",
                            ss_esc(p, start));
        return NULL;
    }
    *d = '\0';
    *line = s;
    return word;
}

/* Parse a signed 32-bit decimal integer, all of s. */
int ss_parse_int(const char *s, apr_int64_t min, apr_int64_t max,
                 apr_int64_t *out)
{
    int neg = 0;
    apr_int64_t v = 0;

    if (*s == '-' && min < 0) {
        neg = 1;
        s++;
    }
    if (!*s) {
        return 0;
    }
    for (; *s; s++) {
        if (!apr_isdigit(*s)) {
            return 0;
        }
        v = v * 10 + (*s - '0');
        if (v > (apr_int64_t)1 << 40) {
            return 0;         /* past any bound, before it can overflow */
        }
    }
    v = neg ? -v : v;
    if (v < min || v > max) {
        return 0;
    }
    *out = v;
    return 1;
}

static int ss_parse_int32(const char *s, int *out)
{
    apr_int64_t v;

    if (!ss_parse_int(s, -(apr_int64_t)2147483647 - 1, 2147483647, &v)) {
        return 0;
    }
    *out = (int)v;
    return 1;
}

/* If word is key=VALUE, return VALUE.  Option names are lower case, as
 * written in the manual; "Error=5" is an unknown option, not error=5. */
static const char *ss_option_value(const char *word, const char *key)
{
    apr_size_t klen = strlen(key);

    if (strncmp(word, key, klen) == 0 && word[klen] == '=') {
        return word + klen + 1;
    }
    return NULL;
}

/* Does word look like NAME=VALUE (an option, known or not)? */
static int ss_is_option(const char *word)
{
    const char *s = word;

    if (!apr_isalpha(*s)) {
        return 0;
    }
    while (apr_isalnum(*s) || *s == '_' || *s == '-') {
        s++;
    }
    return *s == '=';
}

/* What a caller accepts, for the message about an unknown option. */
static const char *ss_allowed_options(apr_pool_t *p, unsigned allow)
{
    const char *list = NULL;

    if (allow & SS_ALLOW_ERROR) {
        list = "error=N";
    }
    if (allow & SS_ALLOW_LOCATION) {
        list = list ? apr_pstrcat(p, list, ", location=URL", NULL)
                    : "location=URL";
    }
    if (allow & SS_ALLOW_EXPR) {
        list = list ? apr_pstrcat(p, list, ", expr=EXPRESSION", NULL)
                    : "expr=EXPRESSION";
    }
    if (allow & SS_ALLOW_NAME) {
        list = list ? apr_pstrcat(p, list, ", name=NAME", NULL)
                    : "name=NAME";
    }
    return list ? apr_pstrcat(p, "allowed are ", list, NULL)
                : "no option is allowed here";
}

const char *ss_check_name(apr_pool_t *p, const char *name)
{
    const char *s;

    for (s = name; *s; s++) {
        if (!apr_isalnum(*s) && !strchr("_.:-", *s)) {
            break;
        }
    }
    if (!*name || *s || s - name > SS_NAME_MAX) {
        return apr_psprintf(p, "name=%s is not a rule name: 1 to %d "
                            "letters, digits and _ . : -", ss_esc(p, name),
                            SS_NAME_MAX);
    }
    /* The names of the sources that are not rules. */
    if (!strcasecmp(name, "other") || !strcasecmp(name, "api")
        || !strncasecmp(name, "header:", 7)) {
        return apr_psprintf(p, "name=%s is reserved: other, api and "
                            "header:NAME name the counters' own sources",
                            name);
    }
    if (!strncasecmp(name, "env:", 4)) {
        return apr_psprintf(p, "name=%s is reserved: env:NAME names "
                            "StatusSetFromEnv's source", name);
    }
    return NULL;
}

/* location=URL: a non-empty URL or path, no white space or control byte. */
static const char *ss_check_location(apr_pool_t *p, const char *v)
{
    const char *s;

    if (!*v) {
        return "location= is empty: give an absolute URL or a path "
               "starting with /";
    }
    for (s = v; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == 0x7f) {
            return apr_psprintf(p, "location=%s contains white space or a "
                                "control byte: give a URL with those "
                                "bytes %%-encoded", ss_esc(p, v));
        }
    }
    return NULL;
}

/* A message for a word that is neither an option nor the phrase. */
static const char *ss_stray_word(apr_pool_t *p, const char *word,
                                 const ss_spec_t *out, const char *last_opt)
{
    if (last_opt && out->expr && last_opt == out->expr) {
        /* httpd cut the expression at a space: the usual mistake. */
        return apr_psprintf(p, "unexpected '%s' after expr=%s: httpd splits "
                            "arguments at spaces, so quote the whole "
                            "option, as in \"expr=%s %s ...\"",
                            ss_esc(p, word), ss_esc(p, out->expr),
                            ss_esc(p, out->expr), ss_esc(p, word));
    }
    if (out->reason) {
        return apr_psprintf(p, "unexpected '%s' after the reason phrase "
                            "'%s': quote a phrase that has spaces, as in "
                            "\"%s %s\"", ss_esc(p, word),
                            ss_esc(p, out->reason), ss_esc(p, out->reason),
                            ss_esc(p, word));
    }
    return apr_psprintf(p, "unexpected '%s' after the options: the reason "
                        "phrase comes right after the code, as in %s",
                        ss_esc(p, word), ss_spec_syntax);
}

const char *ss_parse_words(apr_pool_t *p, int argc, const char *const *argv,
                           unsigned allow, ss_spec_t *out)
{
    const char *word, *err, *v, *last_opt = NULL;
    int i;

    memset(out, 0, sizeof(*out));
    if (argc < 1) {
        return apr_psprintf(p, "a status is required: %s", ss_spec_syntax);
    }
    /* A status value is text: CR, LF, other control bytes and DEL are
     * refused wherever they stand, not only in the phrase. */
    for (i = 0; i < argc; i++) {
        for (v = argv[i]; *v; v++) {
            unsigned char c = (unsigned char)*v;
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return apr_psprintf(p, "'%s' contains the control byte "
                                    "0x%02x at offset %" APR_SIZE_T_FMT ": "
                                    "a status value is text (tab, space, "
                                    "visible ASCII, bytes 0x80-0xff)",
                                    ss_esc(p, argv[i]), c,
                                    (apr_size_t)(v - argv[i]));
            }
        }
    }
    err = ss_parse_code(p, argv[0], &out->code, &out->substatus,
                        &out->has_substatus);
    if (err) {
        return err;
    }

    for (i = 1; i < argc; i++) {
        word = argv[i];
        if (!ss_is_option(word)) {
            /* The phrase is the word right after the code. */
            if (i != 1) {
                return ss_stray_word(p, word, out, last_opt);
            }
            if ((err = ss_check_reason(p, word, strlen(word))) != NULL) {
                return err;
            }
            out->reason = word;
        }
        else if ((v = ss_option_value(word, "error")) != NULL
                 && (allow & SS_ALLOW_ERROR)) {
            if (out->has_error) {
                return "error= is given twice: give it at most once";
            }
            if (!ss_parse_int32(v, &out->error)) {
                return apr_psprintf(p, "error=%s is not a number: expected "
                                    "a decimal integer from -2147483648 to "
                                    "2147483647", ss_esc(p, v));
            }
            out->has_error = 1;
            last_opt = v;
        }
        else if ((v = ss_option_value(word, "location")) != NULL
                 && (allow & SS_ALLOW_LOCATION)) {
            if (out->location) {
                return "location= is given twice: give it at most once";
            }
            if ((err = ss_check_location(p, v)) != NULL) {
                return err;
            }
            out->location = v;
            last_opt = v;
        }
        else if ((v = ss_option_value(word, "expr")) != NULL
                 && (allow & SS_ALLOW_EXPR)) {
            if (out->expr) {
                return "expr= is given twice: combine the conditions "
                       "with && or ||";
            }
            if (!*v) {
                return "expr= is empty: give an ap_expr condition";
            }
            out->expr = v;
            last_opt = v;
        }
        else if ((v = ss_option_value(word, "name")) != NULL
                 && (allow & SS_ALLOW_NAME)) {
            if (out->name) {
                return "name= is given twice: a rule has one name";
            }
            if ((err = ss_check_name(p, v)) != NULL) {
                return err;
            }
            out->name = v;
            last_opt = v;
        }
        else {
            return apr_psprintf(p, "unknown option '%s': %s (option names "
                                "are lower case; a reason phrase cannot "
                                "start with NAME=)", ss_esc(p, word),
                                ss_allowed_options(p, allow));
        }
    }
    return NULL;
}

const char *ss_parse_spec(apr_pool_t *p, const char *text, unsigned allow,
                          ss_spec_t *out)
{
    apr_array_header_t *words = apr_array_make(p, 4, sizeof(const char *));
    const char *line = text, *word, *err;
    int quoted;

    /* Only space and tab separate words: any other control byte stays in
     * its word, where ss_parse_words() refuses it. */
    while ((word = ss_next_word(p, &line, &quoted, &err)) != NULL) {
        APR_ARRAY_PUSH(words, const char *) = word;
    }
    if (err) {
        memset(out, 0, sizeof(*out));
        return err;
    }
    return ss_parse_words(p, words->nelts, (const char *const *)words->elts,
                          allow, out);
}

static const char ss_match_syntax[] =
    "a comma-separated list of 404, 404.13, 4xx, 500-504 or *";

/* A 3-digit code in range, all of s[0..len). */
static int ss_match_code(const char *s, apr_size_t len, int *code)
{
    if (len != 3 || !ss_all_digits(s, 3, 3)) {
        return 0;
    }
    *code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    return *code >= SS_CODE_MIN && *code <= SS_CODE_MAX;
}

static const char *ss_parse_match_item(apr_pool_t *p, const char *item,
                                       apr_size_t len, ss_match_t *m)
{
    const char *dash = memchr(item, '-', len);
    const char *shown = ss_escape_for_message(p, item, len);

    m->substatus = -1;
    if (len == 1 && item[0] == '*') {
        m->lo = SS_CODE_MIN;
        m->hi = SS_CODE_MAX;
        return NULL;
    }
    if (len == 3 && item[0] >= '2' && item[0] <= '5'
        && (item[1] == 'x' || item[1] == 'X')
        && (item[2] == 'x' || item[2] == 'X')) {
        m->lo = (item[0] - '0') * 100;
        m->hi = m->lo + 99;
        return NULL;
    }
    if (dash) {
        if (!ss_match_code(item, (apr_size_t)(dash - item), &m->lo)
            || !ss_match_code(dash + 1, len - (apr_size_t)(dash - item) - 1,
                              &m->hi)) {
            return apr_psprintf(p, "'%s' is not a range: expected two codes "
                                "from %d to %d, as in 500-504", shown,
                                SS_CODE_MIN, SS_CODE_MAX);
        }
        if (m->lo > m->hi) {
            return apr_psprintf(p, "the range '%s' runs backwards: write the "
                                "lower code first", shown);
        }
        return NULL;
    }
    {
        char *word = apr_pstrmemdup(p, item, len);
        int has_sub;
        const char *err = ss_parse_code(p, word, &m->lo, &m->substatus,
                                        &has_sub);
        if (err) {
            return apr_psprintf(p, "bad item '%s' in the MATCH list: %s; "
                                "MATCH is %s", shown, err, ss_match_syntax);
        }
        m->hi = m->lo;
        if (!has_sub) {
            m->substatus = -1;
        }
    }
    return NULL;
}

const char *ss_parse_match(apr_pool_t *p, const char *text,
                           apr_array_header_t **out)
{
    apr_array_header_t *list = apr_array_make(p, 2, sizeof(ss_match_t));
    const char *s = text;

    if (!*s) {
        return apr_psprintf(p, "the MATCH list is empty: it is %s",
                            ss_match_syntax);
    }
    for (;;) {
        const char *comma = strchr(s, ',');
        apr_size_t len = comma ? (apr_size_t)(comma - s) : strlen(s);
        const char *err;

        if (len == 0) {
            return apr_psprintf(p, "empty item in the MATCH list '%s': it "
                                "is %s", ss_esc(p, text), ss_match_syntax);
        }
        err = ss_parse_match_item(p, s, len, apr_array_push(list));
        if (err) {
            return err;
        }
        if (!comma) {
            break;
        }
        s = comma + 1;
    }
    *out = list;
    return NULL;
}

int ss_match_list(const apr_array_header_t *match, int code, int substatus)
{
    int i;

    for (i = 0; match && i < match->nelts; i++) {
        if (ss_match_item(&APR_ARRAY_IDX(match, i, ss_match_t), code,
                          substatus)) {
            return 1;
        }
    }
    return 0;
}

/* A word at a time: .htaccess rules (`*`, 4xx) are added on every
 * request that reads them. */
void ss_codeset_add(ss_codeset_t *set, int lo, int hi)
{
    int w, last;

    if (lo < 0) {
        lo = 0;
    }
    if (hi >= SS_CODESET_MAX) {
        hi = SS_CODESET_MAX - 1;
    }
    if (lo > hi) {
        return;
    }
    last = hi >> 5;
    for (w = lo >> 5; w <= last; w++) {
        apr_uint32_t mask = 0xffffffffu;
        if (w == lo >> 5) {
            mask &= 0xffffffffu << (lo & 31);
        }
        if (w == last) {
            mask &= 0xffffffffu >> (31 - (hi & 31));
        }
        set->bits[w] |= mask;
    }
}

void ss_codeset_add_match(ss_codeset_t *set, const apr_array_header_t *match)
{
    int i;

    for (i = 0; i < match->nelts; i++) {
        const ss_match_t *m = &APR_ARRAY_IDX(match, i, ss_match_t);
        ss_codeset_add(set, m->lo, m->hi);
    }
}

void ss_codeset_union(ss_codeset_t *dst, const ss_codeset_t *a,
                      const ss_codeset_t *b)
{
    apr_size_t i;

    for (i = 0; i < sizeof(dst->bits) / sizeof(dst->bits[0]); i++) {
        dst->bits[i] = a->bits[i] | b->bits[i];
    }
}
