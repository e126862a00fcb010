/*
 * status_set_trace.c -- the bounded JSON record of a traced request.
 * APR only; see status_set_trace.h for the contract.
 *
 * The invariant that makes every record complete: at any time
 *     len + depth + SS_TAIL <= max
 * where depth counts the open arrays and objects (each closes with one
 * byte) and SS_TAIL is the room for ,"truncated":true and "\n".  Every
 * write checks against room(), which is what is left above that.
 */
#include <string.h>

#include "apr_strings.h"

#include "status_set_trace.h"

#define SS_TRUNCATED       ",\"truncated\":true"
#define SS_TAIL            (sizeof(SS_TRUNCATED) - 1 + 1)
#define SS_CUT_MIN         16   /* a string cut to fit gets at least this */

struct ss_trace_buf_t {
    char *buf;                  /* max + 1 bytes: the NUL after the line */
    apr_size_t len;
    apr_size_t max;
    int depth;                  /* open containers, the record's own in */
    int dead;                   /* opens left out and not yet closed */
    int truncated;
    char closer[SS_TRACE_DEPTH_MAX];
    int count[SS_TRACE_DEPTH_MAX];
};

/* ------------------------------------------------------------------ */
/* Strings                                                            */

/* The length of the well-formed UTF-8 sequence at s (n bytes left), or
 * minus the length of the maximal ill-formed part there (Unicode 15,
 * table 3-7 and "U+FFFD substitution of maximal subparts", as browsers
 * and Python decode): each such part becomes one U+FFFD. */
static int ss_utf8_len(const unsigned char *s, apr_size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    apr_size_t need, i;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        }
        else if (c == 0xED) {
            hi = 0x9F;          /* no surrogates */
        }
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) {
            lo = 0x90;
        }
        else if (c == 0xF4) {
            hi = 0x8F;          /* nothing past U+10FFFF */
        }
    }
    else {
        return -1;
    }
    for (i = 1; i < need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            return -(int)i;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return (int)need;
}

/* The escaped form of the character at s: written to piece (6 bytes), or
 * pointed to in s itself.  Returns its length; *used is what it took. */
static apr_size_t ss_json_char(const unsigned char *s, apr_size_t n,
                               char *piece, const char **out,
                               apr_size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c = s[0];
    int u;

    *out = piece;
    *used = 1;
    switch (c) {
    case '"':  memcpy(piece, "\\\"", 2); return 2;
    case '\\': memcpy(piece, "\\\\", 2); return 2;
    case '\b': memcpy(piece, "\\b", 2);  return 2;
    case '\f': memcpy(piece, "\\f", 2);  return 2;
    case '\n': memcpy(piece, "\\n", 2);  return 2;
    case '\r': memcpy(piece, "\\r", 2);  return 2;
    case '\t': memcpy(piece, "\\t", 2);  return 2;
    default:
        break;
    }
    if (c < 0x20 || c == 0x7F) {
        memcpy(piece, "\\u00", 4);
        piece[4] = hex[c >> 4];
        piece[5] = hex[c & 0xF];
        return 6;
    }
    u = ss_utf8_len(s, n);
    if (u < 0) {
        *used = (apr_size_t)-u;
        memcpy(piece, "\\ufffd", 6);
        return 6;
    }
    *out = (const char *)s;
    *used = (apr_size_t)u;
    return (apr_size_t)u;
}

apr_size_t ss_json_quote(char *out, apr_size_t outmax, const char *s,
                         apr_size_t len, int *cut)
{
    const unsigned char *in = (const unsigned char *)s;
    apr_size_t i, o, total = 2, plen, used;
    const char *p;
    char piece[6];

    /* Pass 1: does the whole fit? */
    for (i = 0; i < len && total <= outmax; i += used) {
        total += ss_json_char(in + i, len - i, piece, &p, &used);
    }
    if (cut) {
        *cut = total > outmax;
    }
    out[0] = '"';
    o = 1;
    for (i = 0; i < len; i += used) {
        plen = ss_json_char(in + i, len - i, piece, &p, &used);
        if (total > outmax && o + plen + 4 > outmax) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, p, plen);
        o += plen;
    }
    out[o++] = '"';
    return o;
}

char *ss_json_string(apr_pool_t *p, const char *s, apr_size_t len,
                     apr_size_t max)
{
    char *out;
    apr_size_t n;

    if (max < 5) {
        max = 5;
    }
    out = apr_palloc(p, max + 1);
    n = ss_json_quote(out, max, s, len, NULL);
    out[n] = '\0';
    return out;
}

/* ------------------------------------------------------------------ */
/* The record                                                         */

ss_trace_buf_t *ss_trace_begin(apr_pool_t *p, apr_size_t max)
{
    ss_trace_buf_t *b = apr_pcalloc(p, sizeof(*b));

    if (max < SS_TRACE_RECORD_MIN) {
        max = SS_TRACE_RECORD_MIN;
    }
    b->max = max;
    b->buf = apr_palloc(p, max + 1);
    b->buf[0] = '{';
    b->len = 1;
    b->closer[0] = '}';
    b->depth = 1;
    return b;
}

static apr_size_t ss_room(const ss_trace_buf_t *b)
{
    return b->max - b->len - (apr_size_t)b->depth - SS_TAIL;
}

/* The comma and the key of a new item, if at least `need` bytes are left
 * for its value; else nothing is written.  *start is where it began. */
static int ss_item_begin(ss_trace_buf_t *b, const char *key, apr_size_t need,
                         apr_size_t *start)
{
    int top, cut = 0;
    apr_size_t n, room;

    if (b->dead || b->depth == 0) {
        return 0;
    }
    top = b->depth - 1;
    if ((b->closer[top] == '}') != (key != NULL)) {
        return 0;                           /* a key in an array, or none */
    }
    *start = b->len;
    room = ss_room(b);
    if (b->count[top]) {
        if (room < 1) {
            goto full;
        }
        b->buf[b->len++] = ',';
        room--;
    }
    if (key) {
        if (room < 6) {
            goto full;
        }
        n = ss_json_quote(b->buf + b->len, room - 1, key, strlen(key), &cut);
        if (cut) {
            goto full;
        }
        b->len += n;
        b->buf[b->len++] = ':';
        room -= n + 1;
    }
    if (room < need) {
        goto full;
    }
    return 1;
full:
    b->len = *start;
    b->truncated = 1;
    return 0;
}

static int ss_item_raw(ss_trace_buf_t *b, const char *key, const char *raw,
                       apr_size_t n)
{
    apr_size_t start;

    if (!ss_item_begin(b, key, n, &start)) {
        return 0;
    }
    memcpy(b->buf + b->len, raw, n);
    b->len += n;
    b->count[b->depth - 1]++;
    return 1;
}

int ss_trace_strn(ss_trace_buf_t *b, const char *key, const char *value,
                  apr_size_t len)
{
    apr_size_t start, room, cap, n;
    char tiny[5];
    int cut;

    if (!value) {
        return ss_item_raw(b, key, "null", 4);
    }
    if (!ss_item_begin(b, key, 2, &start)) {
        return 0;
    }
    room = ss_room(b);
    if (room < sizeof(tiny)) {
        /* no room for "...": only a whole, short string */
        n = ss_json_quote(tiny, sizeof(tiny), value, len, &cut);
        if (cut || n > room) {
            goto full;
        }
        memcpy(b->buf + b->len, tiny, n);
        b->len += n;
    }
    else {
        cap = room < SS_TRACE_STRING_MAX ? room : SS_TRACE_STRING_MAX;
        n = ss_json_quote(b->buf + b->len, cap, value, len, &cut);
        if (cut && cap == room) {
            /* cut for want of room: a part of it, or nothing */
            if (room < SS_CUT_MIN) {
                goto full;
            }
            b->truncated = 1;
        }
        b->len += n;
    }
    b->count[b->depth - 1]++;
    return 1;
full:
    b->len = start;
    b->truncated = 1;
    return 0;
}

int ss_trace_str(ss_trace_buf_t *b, const char *key, const char *value)
{
    return ss_trace_strn(b, key, value, value ? strlen(value) : 0);
}

int ss_trace_int(ss_trace_buf_t *b, const char *key, apr_int64_t value)
{
    char num[32];
    apr_size_t n = apr_snprintf(num, sizeof(num), "%" APR_INT64_T_FMT,
                                value);

    return ss_item_raw(b, key, num, n);
}

int ss_trace_bool(ss_trace_buf_t *b, const char *key, int value)
{
    return value ? ss_item_raw(b, key, "true", 4)
                 : ss_item_raw(b, key, "false", 5);
}

int ss_trace_open(ss_trace_buf_t *b, const char *key, char kind)
{
    apr_size_t start;

    if (b->dead || (kind != '[' && kind != '{')) {
        b->dead++;
        return 0;
    }
    if (b->depth >= SS_TRACE_DEPTH_MAX) {
        b->truncated = 1;
        b->dead++;
        return 0;
    }
    /* the opening byte now, and the closing one kept in room() */
    if (!ss_item_begin(b, key, 2, &start)) {
        b->dead++;
        return 0;
    }
    b->buf[b->len++] = kind;
    b->count[b->depth - 1]++;
    b->closer[b->depth] = kind == '[' ? ']' : '}';
    b->count[b->depth] = 0;
    b->depth++;
    return 1;
}

void ss_trace_close(ss_trace_buf_t *b)
{
    if (b->dead) {
        b->dead--;
        return;
    }
    if (b->depth > 1) {
        b->depth--;
        b->buf[b->len++] = b->closer[b->depth];
    }
}

const char *ss_trace_end(ss_trace_buf_t *b, apr_size_t *len)
{
    if (b->depth > 0) {
        b->dead = 0;
        while (b->depth > 1) {
            ss_trace_close(b);
        }
        if (b->truncated) {
            const char *t = &SS_TRUNCATED[b->count[0] ? 0 : 1];
            apr_size_t n = strlen(t);
            memcpy(b->buf + b->len, t, n);
            b->len += n;
        }
        b->buf[b->len++] = '}';
        b->buf[b->len++] = '\n';
        b->buf[b->len] = '\0';
        b->depth = 0;
    }
    *len = b->len;
    return b->buf;
}

const char *ss_scrub_queries(apr_pool_t *p, const char *msg,
                             const char *const *needles, int n)
{
    apr_size_t len = strlen(msg), i, j, o = 0;
    unsigned char *mark;
    char *out;
    int k, any = 0;

    if (!len) {
        return msg;
    }
    mark = apr_pcalloc(p, len);
    for (k = 0; k < n; k++) {
        const char *q = needles[k];
        apr_size_t qlen = q ? strlen(q) : 0;
        if (!qlen) {
            continue;
        }
        for (i = 0; i < len; i++) {
            apr_size_t m = 0;
            while (m < qlen && i + m < len && msg[i + m] == q[m]) {
                m++;
            }
            /* the whole needle, or a cut one of 8 bytes or more at the end */
            if (m == qlen || (i + m == len && m >= 8)) {
                memset(mark + i, 1, m);
                any = 1;
            }
        }
    }
    for (i = 0; i + 1 < len; i++) {
        if (msg[i] == '?' && msg[i + 1] != ' ' && msg[i + 1] != '\t') {
            for (j = i + 1; j < len && msg[j] != ' ' && msg[j] != '\t'; j++) {
                mark[j] = 1;
            }
            any = 1;
            i = j;
        }
    }
    if (!any) {
        return msg;
    }
    out = apr_palloc(p, len * 7 + 1);
    for (i = 0; i < len; i++) {
        if (!mark[i]) {
            out[o++] = msg[i];
        }
        else if (i == 0 || !mark[i - 1]) {
            memcpy(out + o, "[query]", 7);
            o += 7;
        }
    }
    out[o] = '\0';
    return out;
}
