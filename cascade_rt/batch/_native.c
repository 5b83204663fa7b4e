/* JSON bytes straight into Arrow column buffers, for flat record schemas.
 *
 * A plan lists the record's top-level fields (kind, nullability, default, constraints). Decoding a
 * body walks the JSON once, without the GIL, appending each value to its column's buffers
 * (validity bitmap, int32 offsets, data) as Arrow lays them out; Python wraps the buffers in
 * arrays without copying. The decoder is strict and conservative: the moment anything is off
 * (malformed JSON, a wrong type, a missing required key, a bound crossed, an escape in a key, a
 * timestamp in a form it does not know) it gives up and returns None, and the caller decodes the
 * body the precise way, which either accepts it or names each bad record. So this file never has
 * to produce an error message, only to never accept what the precise decoder rejects.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    K_STR = 0,
    K_INT = 1,
    K_FLOAT = 2,
    K_BOOL = 3,
    K_DATETIME = 4,
    K_DATE = 5,
    K_JSON = 6,
    K_LIST_STR = 7,
};

enum { D_REQUIRED = 0, D_NULL = 1, D_VALUE = 2 };

#define MAX_FIELDS 64
#define MAX_DEPTH 64
#define MAX_OFFSET 2147483647LL

typedef struct {
    char *p;
    size_t len, cap;
} Buf;

typedef struct {
    /* the plan */
    char *name;
    Py_ssize_t name_len;
    int kind, nullable, dflt, unique, json_object;
    int has_lo, has_hi, lo_strict, hi_strict;
    int64_t ilo, ihi;        /* int bounds, inclusive */
    double flo, fhi;         /* float bounds */
    Py_ssize_t min_len, max_len; /* str length (code points) or list length; -1 = none */
    int64_t dint;            /* default int / bool / datetime */
    double dfloat;
    char *dstr;
    Py_ssize_t dstr_len;
} Field;

typedef struct {
    Buf validity, offsets, data, child_offsets;
    Py_ssize_t null_count;
} Col;

typedef struct {
    PyObject_HEAD
    Field fields[MAX_FIELDS];
    int nfields;
} PlanObject;

typedef struct {
    const unsigned char *p, *end;
    PlanObject *plan;
    Col *cols;
    Py_ssize_t rows;
    int oom;
    Buf scratch;
} Ctx;

/* ------------------------------------------------------------------------------------ buffers */

static int buf_grow(Buf *b, size_t extra) {
    size_t need = b->len + extra;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int buf_put(Buf *b, const void *src, size_t n) {
    if (n == 0) return 0;
    if (b->len + n > b->cap && buf_grow(b, n)) return -1;
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static inline int put_i32(Buf *b, int32_t v) { return buf_put(b, &v, 4); }
static inline int put_i64(Buf *b, int64_t v) { return buf_put(b, &v, 8); }
static inline int put_f64(Buf *b, double v) { return buf_put(b, &v, 8); }

/* Set or clear bit `i` of a bitmap, growing it byte by byte. */
static inline int put_bit(Buf *b, Py_ssize_t i, int on) {
    size_t byte = (size_t)(i >> 3);
    if (byte >= b->len) {
        if (buf_grow(b, 1)) return -1;
        b->p[b->len++] = 0;
    }
    if (on) b->p[byte] |= (char)(1 << (i & 7));
    return 0;
}

static void buf_free(Buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------------------------------ scanning */

#define FAIL (-1) /* give up: the precise decoder takes over */
#define OOM (-2)

static inline void skip_ws(Ctx *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) c->p++;
}

/* Length of the UTF-8 sequence at p (validated: no overlongs, surrogates or > U+10FFFF), 0 if invalid. */
static int utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned char c = p[0];
    if (c >= 0xC2 && c <= 0xDF) {
        return (end - p >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (end - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0;  /* overlong */
        if (c == 0xED && p[1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (end - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0;  /* overlong */
        if (c == 0xF4 && p[1] >= 0x90) return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

static int hex4(const unsigned char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char h = p[i];
        v <<= 4;
        if (h >= '0' && h <= '9') v |= h - '0';
        else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
        else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
        else return -1;
    }
    *out = v;
    return 0;
}

static void put_utf8(unsigned char *dst, size_t *n, unsigned cp) {
    if (cp < 0x80) {
        dst[(*n)++] = (unsigned char)cp;
    } else if (cp < 0x800) {
        dst[(*n)++] = (unsigned char)(0xC0 | (cp >> 6));
        dst[(*n)++] = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        dst[(*n)++] = (unsigned char)(0xE0 | (cp >> 12));
        dst[(*n)++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        dst[(*n)++] = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        dst[(*n)++] = (unsigned char)(0xF0 | (cp >> 18));
        dst[(*n)++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        dst[(*n)++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        dst[(*n)++] = (unsigned char)(0x80 | (cp & 0x3F));
    }
}

/* A string at c->p (on its opening quote), its UTF-8 text appended to `out` (NULL: only checked).
 * Sets *chars to its length in code points. */
static int scan_string(Ctx *c, Buf *out, Py_ssize_t *chars) {
    const unsigned char *p = c->p + 1, *end = c->end;
    Py_ssize_t n_chars = 0;
    for (;;) {
        const unsigned char *run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
        n_chars += p - run;
        if (out != NULL && p > run && buf_put(out, run, (size_t)(p - run))) return OOM;
        if (p >= end) return FAIL;
        unsigned char ch = *p;
        if (ch == '"') {
            c->p = p + 1;
            if (chars != NULL) *chars = n_chars;
            return 0;
        }
        if (ch == '\\') {
            if (end - p < 2) return FAIL;
            unsigned char e = p[1];
            unsigned char tmp[4];
            size_t k = 0;
            switch (e) {
            case '"': tmp[k++] = '"'; p += 2; break;
            case '\\': tmp[k++] = '\\'; p += 2; break;
            case '/': tmp[k++] = '/'; p += 2; break;
            case 'b': tmp[k++] = '\b'; p += 2; break;
            case 'f': tmp[k++] = '\f'; p += 2; break;
            case 'n': tmp[k++] = '\n'; p += 2; break;
            case 'r': tmp[k++] = '\r'; p += 2; break;
            case 't': tmp[k++] = '\t'; p += 2; break;
            case 'u': {
                unsigned cp, lo;
                if (end - p < 6 || hex4(p + 2, &cp)) return FAIL;
                p += 6;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return FAIL; /* lone low surrogate */
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo)) return FAIL;
                    if (lo < 0xDC00 || lo > 0xDFFF) return FAIL;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
                put_utf8(tmp, &k, cp);
                break;
            }
            default:
                return FAIL;
            }
            n_chars += 1;
            if (out != NULL && buf_put(out, tmp, k)) return OOM;
            continue;
        }
        if (ch < 0x20) return FAIL; /* raw control character */
        int n = utf8_len(p, end);
        if (n == 0) return FAIL;
        if (out != NULL && buf_put(out, p, (size_t)n)) return OOM;
        p += n;
        n_chars += 1;
    }
}

static int scan_literal(Ctx *c, const char *word, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return FAIL;
    c->p += n;
    return 0;
}

/* The extent of a JSON number at c->p (grammar-checked); *is_int when it has no fraction or exponent. */
static int scan_number(Ctx *c, int *is_int) {
    const unsigned char *p = c->p, *end = c->end;
    *is_int = 1;
    if (p < end && *p == '-') p++;
    if (p >= end) return FAIL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') p++;
    } else {
        return FAIL;
    }
    if (p < end && *p == '.') {
        *is_int = 0;
        p++;
        if (p >= end || *p < '0' || *p > '9') return FAIL;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *is_int = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return FAIL;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    c->p = p;
    return 0;
}

/* At an opening bracket: consume it and the whitespace after it; 1 if the container is empty (its
 * closing `close` consumed too), else 0. */
static inline int open_container(Ctx *c, unsigned char close) {
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    return 0;
}

/* After a member of a container: 1 at its closing `close` (consumed), 0 after a comma (consumed,
 * with the whitespace after it), FAIL for anything else. */
static inline int next_member(Ctx *c, unsigned char close) {
    skip_ws(c);
    if (c->p >= c->end) return FAIL;
    if (*c->p == close) {
        c->p++;
        return 1;
    }
    if (*c->p != ',') return FAIL;
    c->p++;
    skip_ws(c);
    return 0;
}

/* Skip any JSON value, checking it. */
static int skip_value(Ctx *c, int depth) {
    if (depth > MAX_DEPTH || c->p >= c->end) return FAIL;
    int r, is_int;
    switch (*c->p) {
    case '"':
        return scan_string(c, NULL, NULL);
    case 't':
        return scan_literal(c, "true", 4);
    case 'f':
        return scan_literal(c, "false", 5);
    case 'n':
        return scan_literal(c, "null", 4);
    case '[':
        if (open_container(c, ']')) return 0;
        for (;;) {
            if ((r = skip_value(c, depth + 1))) return r;
            if ((r = next_member(c, ']'))) return r == 1 ? 0 : r;
        }
    case '{':
        if (open_container(c, '}')) return 0;
        for (;;) {
            if (c->p >= c->end || *c->p != '"') return FAIL;
            if ((r = scan_string(c, NULL, NULL))) return r;
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':') return FAIL;
            c->p++;
            skip_ws(c);
            if ((r = skip_value(c, depth + 1))) return r;
            if ((r = next_member(c, '}'))) return r == 1 ? 0 : r;
        }
    default:
        return scan_number(c, &is_int);
    }
}

/* ------------------------------------------------------------------------------------ values */

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int parse_int(Ctx *c, int64_t *out) {
    const unsigned char *start = c->p;
    int is_int;
    if (scan_number(c, &is_int) || !is_int) return FAIL;
    const unsigned char *p = start;
    int neg = *p == '-';
    if (neg) p++;
    if (c->p - p > 19) return FAIL;
    uint64_t v = 0;
    for (; p < c->p; p++) v = v * 10 + (uint64_t)(*p - '0');
    if (c->p - start - neg == 19 && v < 1000000000000000000ULL) return FAIL; /* wrapped */
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return FAIL;
        *out = (int64_t)(0 - v);
    } else {
        if (v > (uint64_t)INT64_MAX) return FAIL;
        *out = (int64_t)v;
    }
    return 0;
}

/* A JSON number as the nearest double: exact arithmetic when the digits and the power of ten are
 * both exactly representable (Clinger's fast path), else strtod, which rounds correctly. */
static int parse_float(Ctx *c, double *out) {
    const unsigned char *start = c->p;
    int is_int;
    if (scan_number(c, &is_int)) return FAIL;
    const unsigned char *p = start, *end = c->p;
    int neg = *p == '-';
    if (neg) p++;
    uint64_t mant = 0;
    int digits = 0, exp10 = 0, nonzero = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (*p != '0' || nonzero) {
            nonzero = 1;
            digits++;
        }
        mant = mant * 10 + (uint64_t)(*p - '0');
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            if (*p != '0' || nonzero) {
                nonzero = 1;
                digits++;
            }
            mant = mant * 10 + (uint64_t)(*p - '0');
            exp10--;
        }
    }
    int explicit_exp = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0, e = 0;
        if (*p == '+' || *p == '-') eneg = *p++ == '-';
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (e < 100000) e = e * 10 + (*p - '0');
        }
        explicit_exp = eneg ? -e : e;
    }
    if (digits <= 15 && mant <= (1ULL << 53)) {
        int e = exp10 + explicit_exp;
        double v = (double)mant;
        if (mant == 0) {
            *out = neg ? -0.0 : 0.0;
            return 0;
        }
        if (e >= 0 && e <= 22) {
            v *= POW10[e];
            *out = neg ? -v : v;
            return isfinite(v) ? 0 : FAIL;
        }
        if (e < 0 && e >= -22) {
            v /= POW10[-e];
            *out = neg ? -v : v;
            return 0;
        }
    }
    char tmp[128];
    size_t n = (size_t)(end - start);
    if (n >= sizeof tmp) return FAIL;
    memcpy(tmp, start, n);
    tmp[n] = 0;
    errno = 0;
    double v = strtod(tmp, NULL);
    if (!isfinite(v) || errno == ERANGE) return FAIL;
    *out = v;
    return 0;
}

static inline int digits2(const unsigned char *p, int *out) {
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return -1;
    *out = (p[0] - '0') * 10 + (p[1] - '0');
    return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int parse_date_text(const unsigned char *s, int64_t *days) {
    int y1, y2, m, d;
    if (digits2(s, &y1) || digits2(s + 2, &y2) || s[4] != '-' || digits2(s + 5, &m) || s[7] != '-' ||
        digits2(s + 8, &d))
        return FAIL;
    int y = y1 * 100 + y2;
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1) return FAIL;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > dim[m - 1] + (m == 2 && leap)) return FAIL;
    *days = days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

/* RFC 3339 with an offset: YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM|-HH:MM), in UTC microseconds.
 * Other spellings give up (the precise decoder then decides). */
static int parse_datetime_text(const unsigned char *s, Py_ssize_t n, int64_t *out) {
    int64_t days;
    int hh, mi, ss;
    if (n < 20 || parse_date_text(s, &days) || s[10] != 'T' || digits2(s + 11, &hh) || s[13] != ':' ||
        digits2(s + 14, &mi) || s[16] != ':' || digits2(s + 17, &ss))
        return FAIL;
    if (hh > 23 || mi > 59 || ss > 59) return FAIL;
    Py_ssize_t i = 19;
    int64_t micros = 0;
    if (s[i] == '.') {
        int k = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++) {
            if (k >= 6) return FAIL;
            micros = micros * 10 + (s[i] - '0');
        }
        if (k == 0) return FAIL;
        for (; k < 6; k++) micros *= 10;
    }
    int64_t offset = 0;
    if (i < n && s[i] == 'Z') {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (n - i < 6 || digits2(s + i + 1, &oh) || s[i + 3] != ':' || digits2(s + i + 4, &om)) return FAIL;
        if (oh > 23 || om > 59) return FAIL;
        offset = (int64_t)(oh * 60 + om) * 60;
        if (s[i] == '-') offset = -offset;
        i += 6;
    } else {
        return FAIL;
    }
    if (i != n) return FAIL;
    int64_t secs = days * 86400 + hh * 3600 + mi * 60 + ss - offset;
    *out = secs * 1000000 + micros;
    return 0;
}

/* ------------------------------------------------------------------------------------ records */

static int put_null(Col *col, Field *f, Py_ssize_t row) {
    if (!f->nullable) return FAIL;
    if (put_bit(&col->validity, row, 0)) return OOM;
    col->null_count++;
    switch (f->kind) {
    case K_STR:
    case K_JSON:
        return put_i32(&col->offsets, (int32_t)col->data.len) ? OOM : 0;
    case K_LIST_STR:
        return put_i32(&col->offsets, (int32_t)(col->child_offsets.len / 4 - 1)) ? OOM : 0;
    case K_BOOL:
        return put_bit(&col->data, row, 0) ? OOM : 0;
    case K_DATE:
        return put_i32(&col->data, 0) ? OOM : 0;
    default:
        return put_i64(&col->data, 0) ? OOM : 0;
    }
}

static int check_length(Field *f, Py_ssize_t n) {
    if (f->min_len >= 0 && n < f->min_len) return FAIL;
    if (f->max_len >= 0 && n > f->max_len) return FAIL;
    return 0;
}

static int end_text(Col *col) {
    if ((long long)col->data.len > MAX_OFFSET) return FAIL;
    return put_i32(&col->offsets, (int32_t)col->data.len) ? OOM : 0;
}

static int put_default(Col *col, Field *f, Py_ssize_t row) {
    if (f->dflt == D_NULL) return put_null(col, f, row);
    if (put_bit(&col->validity, row, 1)) return OOM;
    switch (f->kind) {
    case K_STR:
        if (buf_put(&col->data, f->dstr, (size_t)f->dstr_len)) return OOM;
        return end_text(col);
    case K_BOOL:
        return put_bit(&col->data, row, (int)f->dint) ? OOM : 0;
    case K_FLOAT:
        return put_f64(&col->data, f->dfloat) ? OOM : 0;
    default: /* K_INT */
        return put_i64(&col->data, f->dint) ? OOM : 0;
    }
}

static int parse_field(Ctx *c, Field *f, Col *col, Py_ssize_t row) {
    int r;
    if (c->p >= c->end) return FAIL;
    if (*c->p == 'n') {
        if ((r = scan_literal(c, "null", 4))) return r;
        return put_null(col, f, row);
    }
    if (put_bit(&col->validity, row, 1)) return OOM;
    switch (f->kind) {
    case K_STR: {
        Py_ssize_t chars;
        if (*c->p != '"') return FAIL;
        if ((r = scan_string(c, &col->data, &chars))) return r;
        if ((r = check_length(f, chars))) return r;
        return end_text(col);
    }
    case K_INT: {
        int64_t v;
        if ((r = parse_int(c, &v))) return r;
        if (f->has_lo && v < f->ilo) return FAIL;
        if (f->has_hi && v > f->ihi) return FAIL;
        return put_i64(&col->data, v) ? OOM : 0;
    }
    case K_FLOAT: {
        double v;
        if ((r = parse_float(c, &v))) return r;
        if (f->has_lo && (f->lo_strict ? !(v > f->flo) : !(v >= f->flo))) return FAIL;
        if (f->has_hi && (f->hi_strict ? !(v < f->fhi) : !(v <= f->fhi))) return FAIL;
        return put_f64(&col->data, v) ? OOM : 0;
    }
    case K_BOOL:
        if (*c->p == 't') {
            if ((r = scan_literal(c, "true", 4))) return r;
            return put_bit(&col->data, row, 1) ? OOM : 0;
        }
        if ((r = scan_literal(c, "false", 5))) return r;
        return put_bit(&col->data, row, 0) ? OOM : 0;
    case K_DATETIME:
    case K_DATE: {
        if (*c->p != '"') return FAIL;
        c->scratch.len = 0;
        if ((r = scan_string(c, &c->scratch, NULL))) return r;
        const unsigned char *s = (const unsigned char *)c->scratch.p;
        if (f->kind == K_DATE) {
            int64_t days;
            if (c->scratch.len != 10 || parse_date_text(s, &days)) return FAIL;
            return put_i32(&col->data, (int32_t)days) ? OOM : 0;
        }
        int64_t micros;
        if (parse_datetime_text(s, (Py_ssize_t)c->scratch.len, &micros)) return FAIL;
        return put_i64(&col->data, micros) ? OOM : 0;
    }
    case K_JSON: {
        const unsigned char *start = c->p;
        if (f->json_object && *c->p != '{') return FAIL;
        if ((r = skip_value(c, 1))) return r;
        if (buf_put(&col->data, start, (size_t)(c->p - start))) return OOM;
        return end_text(col);
    }
    case K_LIST_STR: {
        if (*c->p != '[') return FAIL;
        Py_ssize_t count = 0;
        if (!open_container(c, ']')) {
            for (;;) {
                if (c->p >= c->end || *c->p != '"') return FAIL;
                if ((r = scan_string(c, &col->data, NULL))) return r;
                if ((long long)col->data.len > MAX_OFFSET) return FAIL;
                if (put_i32(&col->child_offsets, (int32_t)col->data.len)) return OOM;
                count++;
                if ((r = next_member(c, ']'))) {
                    if (r == 1) break;
                    return r;
                }
            }
        }
        if ((r = check_length(f, count))) return r;
        return put_i32(&col->offsets, (int32_t)(col->child_offsets.len / 4 - 1)) ? OOM : 0;
    }
    }
    return FAIL;
}

static int parse_record(Ctx *c) {
    PlanObject *plan = c->plan;
    Py_ssize_t row = c->rows;
    uint64_t seen = 0;
    int r, next = 0;
    if (c->p >= c->end || *c->p != '{') return FAIL;
    if (!open_container(c, '}')) {
        for (;;) {
            /* the key: plain ASCII without escapes, matched against the fields in declaration
             * order first (the usual case), then all of them */
            if (c->p >= c->end || *c->p != '"') return FAIL;
            const unsigned char *key = c->p + 1, *q = key;
            while (q < c->end && *q != '"' && *q != '\\' && *q >= 0x20 && *q < 0x80) q++;
            if (q >= c->end || *q != '"') return FAIL;
            Py_ssize_t klen = q - key;
            c->p = q + 1;
            int found = -1;
            for (int k = 0; k < plan->nfields; k++) {
                int i = (next + k) % plan->nfields;
                Field *f = &plan->fields[i];
                if (f->name_len == klen && memcmp(f->name, key, (size_t)klen) == 0) {
                    found = i;
                    break;
                }
            }
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':') return FAIL;
            c->p++;
            skip_ws(c);
            if (found < 0) {
                if ((r = skip_value(c, 1))) return r;
            } else {
                if (seen & (1ULL << found)) return FAIL; /* a repeated key */
                seen |= 1ULL << found;
                if ((r = parse_field(c, &plan->fields[found], &c->cols[found], row))) return r;
                next = found + 1;
            }
            if ((r = next_member(c, '}'))) {
                if (r == 1) break;
                return r;
            }
        }
    }
    for (int i = 0; i < plan->nfields; i++) {
        if (seen & (1ULL << i)) continue;
        Field *f = &plan->fields[i];
        if (f->dflt == D_REQUIRED) return FAIL;
        if ((r = put_default(&c->cols[i], f, row))) return r;
    }
    c->rows++;
    return 0;
}

/* mode: 0 one object, 1 an array of objects, 2 NDJSON (one object a line). */
static int parse_body(Ctx *c, int mode) {
    int r;
    skip_ws(c);
    if (mode == 0) {
        if ((r = parse_record(c))) return r;
        skip_ws(c);
        return c->p == c->end ? 0 : FAIL;
    }
    if (mode == 1) {
        if (c->p >= c->end || *c->p != '[') return FAIL;
        if (!open_container(c, ']')) {
            for (;;) {
                if ((r = parse_record(c))) return r;
                if ((r = next_member(c, ']'))) {
                    if (r == 1) break;
                    return r;
                }
            }
        }
        skip_ws(c);
        return c->p == c->end ? 0 : FAIL;
    }
    while (c->p < c->end) {
        const unsigned char *start = c->p;
        if ((r = parse_record(c))) return r;
        if (memchr(start, '\n', (size_t)(c->p - start)) != NULL) return FAIL; /* a record over lines */
        while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r')) c->p++;
        if (c->p < c->end && *c->p != '\n') return FAIL; /* two values on one line */
        skip_ws(c);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ uniqueness */

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

/* Whether a non-null value of the column repeats (nulls never count). -1 on no memory. */
static int has_duplicates(Field *f, Col *col, Py_ssize_t rows) {
    if (rows < 2) return 0;
    size_t size = 4;
    while (size < (size_t)rows * 2) size *= 2;
    int64_t *slots = malloc(size * sizeof(int64_t));
    if (slots == NULL) return -1;
    for (size_t i = 0; i < size; i++) slots[i] = -1;
    const int32_t *offs = (const int32_t *)col->offsets.p;
    const unsigned char *valid = (const unsigned char *)col->validity.p;
    int found = 0;
    for (Py_ssize_t r = 0; r < rows && !found; r++) {
        if (col->null_count && !(valid[r >> 3] & (1 << (r & 7)))) continue;
        uint64_t h;
        if (f->kind == K_STR) {
            h = hash_bytes(col->data.p + offs[r], (size_t)(offs[r + 1] - offs[r]));
        } else if (f->kind == K_DATE) {
            h = (uint64_t)((const int32_t *)col->data.p)[r] * 0x9E3779B97F4A7C15ULL;
        } else {
            h = (uint64_t)((const int64_t *)col->data.p)[r] * 0x9E3779B97F4A7C15ULL;
        }
        size_t i = (size_t)(h ^ (h >> 32)) & (size - 1);
        for (;; i = (i + 1) & (size - 1)) {
            int64_t other = slots[i];
            if (other < 0) {
                slots[i] = r;
                break;
            }
            int same;
            if (f->kind == K_STR) {
                int32_t a = offs[r + 1] - offs[r], b = offs[other + 1] - offs[other];
                same = a == b && (a == 0 || memcmp(col->data.p + offs[r], col->data.p + offs[other], (size_t)a) == 0);
            } else if (f->kind == K_DATE) {
                same = ((const int32_t *)col->data.p)[r] == ((const int32_t *)col->data.p)[other];
            } else {
                same = ((const int64_t *)col->data.p)[r] == ((const int64_t *)col->data.p)[other];
            }
            if (same) {
                found = 1;
                break;
            }
        }
    }
    free(slots);
    return found;
}

/* ------------------------------------------------------------------------------------ the plan */

static void plan_clear(PlanObject *self) {
    for (int i = 0; i < self->nfields; i++) {
        PyMem_RawFree(self->fields[i].name);
        PyMem_RawFree(self->fields[i].dstr);
    }
    self->nfields = 0;
}

static void plan_dealloc(PlanObject *self) {
    plan_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static char *copy_bytes(PyObject *b, Py_ssize_t *n) {
    char *src;
    if (PyBytes_AsStringAndSize(b, &src, n) < 0) return NULL;
    char *out = PyMem_RawMalloc((size_t)*n + 1);
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(out, src, (size_t)*n);
    out[*n] = 0;
    return out;
}

/* Plan(fields): each field a tuple
 * (name: bytes, kind, nullable, default_kind, default, unique, json_object,
 *  lo, lo_strict, hi, hi_strict, min_len, max_len)
 * with lo/hi None or a number (ints for int fields: inclusive), default None or a value. */
static int plan_init(PlanObject *self, PyObject *args, PyObject *kwds) {
    PyObject *fields;
    if (!PyArg_ParseTuple(args, "O!", &PyTuple_Type, &fields)) return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(fields);
    if (n > MAX_FIELDS) {
        PyErr_Format(PyExc_ValueError, "at most %d fields, got %zd", MAX_FIELDS, n);
        return -1;
    }
    plan_clear(self);
    for (Py_ssize_t i = 0; i < n; i++) {
        Field *f = &self->fields[i];
        memset(f, 0, sizeof *f);
        PyObject *name, *dflt, *lo, *hi;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(fields, i), "O!iiiOiiOiOinn", &PyBytes_Type, &name, &f->kind,
                              &f->nullable, &f->dflt, &dflt, &f->unique, &f->json_object, &lo, &f->lo_strict,
                              &hi, &f->hi_strict, &f->min_len, &f->max_len))
            return -1;
        if (f->kind < K_STR || f->kind > K_LIST_STR || f->dflt < D_REQUIRED || f->dflt > D_VALUE) {
            PyErr_SetString(PyExc_ValueError, "bad field kind or default kind");
            return -1;
        }
        self->nfields = (int)i + 1;
        if ((f->name = copy_bytes(name, &f->name_len)) == NULL) return -1;
        if (f->dflt == D_VALUE) {
            if (f->kind == K_STR) {
                if ((f->dstr = copy_bytes(dflt, &f->dstr_len)) == NULL) return -1;
            } else if (f->kind == K_FLOAT) {
                f->dfloat = PyFloat_AsDouble(dflt);
            } else if (f->kind == K_INT || f->kind == K_BOOL) {
                f->dint = PyLong_AsLongLong(dflt);
            } else {
                PyErr_SetString(PyExc_ValueError, "defaults other than null are for str, int, float and bool");
                return -1;
            }
            if (PyErr_Occurred()) return -1;
        }
        if (lo != Py_None) {
            f->has_lo = 1;
            if (f->kind == K_INT) f->ilo = PyLong_AsLongLong(lo);
            else f->flo = PyFloat_AsDouble(lo);
        }
        if (hi != Py_None) {
            f->has_hi = 1;
            if (f->kind == K_INT) f->ihi = PyLong_AsLongLong(hi);
            else f->fhi = PyFloat_AsDouble(hi);
        }
        if (PyErr_Occurred()) return -1;
    }
    return 0;
}

static PyObject *take_bytes(Buf *b) {
    return PyBytes_FromStringAndSize(b->p ? b->p : "", (Py_ssize_t)b->len);
}

static void cols_free(Col *cols, int n) {
    for (int i = 0; i < n; i++) {
        buf_free(&cols[i].validity);
        buf_free(&cols[i].offsets);
        buf_free(&cols[i].data);
        buf_free(&cols[i].child_offsets);
    }
}

/* decode(body, mode) -> None (give up) or (rows, columns, duplicated)
 * columns: per field (null_count, validity or None, offsets or None, data, child offsets or None);
 * duplicated: the indices of the unique fields whose values repeat. */
static PyObject *plan_decode(PlanObject *self, PyObject *args) {
    Py_buffer body;
    int mode;
    if (!PyArg_ParseTuple(args, "y*i", &body, &mode)) return NULL;
    if (mode < 0 || mode > 2) {
        PyBuffer_Release(&body);
        PyErr_SetString(PyExc_ValueError, "mode must be 0 (object), 1 (array) or 2 (NDJSON)");
        return NULL;
    }
    int n = self->nfields;
    Col cols[MAX_FIELDS];
    memset(cols, 0, sizeof(Col) * (size_t)n);
    Ctx c = {(const unsigned char *)body.buf, (const unsigned char *)body.buf + body.len, self, cols, 0, 0, {0}};
    int r = 0;
    for (int i = 0; i < n && !r; i++) {
        int k = self->fields[i].kind;
        if (k == K_STR || k == K_JSON || k == K_LIST_STR) r = put_i32(&cols[i].offsets, 0) ? OOM : 0;
        if (k == K_LIST_STR && !r) r = put_i32(&cols[i].child_offsets, 0) ? OOM : 0;
    }
    int dup[MAX_FIELDS];
    int release = body.len > 16384;
    PyThreadState *ts = release ? PyEval_SaveThread() : NULL;
    if (!r) r = parse_body(&c, mode);
    for (int i = 0; i < n && !r; i++) {
        dup[i] = self->fields[i].unique ? has_duplicates(&self->fields[i], &cols[i], c.rows) : 0;
        if (dup[i] < 0) r = OOM;
    }
    if (release) PyEval_RestoreThread(ts);
    buf_free(&c.scratch);
    PyBuffer_Release(&body);
    if (r) {
        cols_free(cols, n);
        if (r == OOM) return PyErr_NoMemory();
        Py_RETURN_NONE;
    }
    PyObject *columns = PyTuple_New(n), *dups = PyList_New(0), *out = NULL;
    if (columns == NULL || dups == NULL) goto done;
    for (int i = 0; i < n; i++) {
        Field *f = &self->fields[i];
        Col *col = &cols[i];
        int text = f->kind == K_STR || f->kind == K_JSON || f->kind == K_LIST_STR;
        PyObject *item = Py_BuildValue(
            "(nNNNN)", col->null_count, col->null_count ? take_bytes(&col->validity) : Py_NewRef(Py_None),
            text ? take_bytes(&col->offsets) : Py_NewRef(Py_None), take_bytes(&col->data),
            f->kind == K_LIST_STR ? take_bytes(&col->child_offsets) : Py_NewRef(Py_None));
        if (item == NULL) goto done;
        PyTuple_SET_ITEM(columns, i, item);
        if (dup[i]) {
            PyObject *idx = PyLong_FromLong(i);
            if (idx == NULL || PyList_Append(dups, idx) < 0) {
                Py_XDECREF(idx);
                goto done;
            }
            Py_DECREF(idx);
        }
    }
    out = Py_BuildValue("(nOO)", c.rows, columns, dups);
done:
    Py_XDECREF(columns);
    Py_XDECREF(dups);
    cols_free(cols, n);
    return out;
}

static PyMethodDef plan_methods[] = {
    {"decode", (PyCFunction)plan_decode, METH_VARARGS,
     "decode(body, mode) -> None or (rows, columns, duplicated): mode 0 object, 1 array, 2 NDJSON."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PlanType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "cascade_rt.batch._native.Plan",
    .tp_basicsize = sizeof(PlanObject),
    .tp_dealloc = (destructor)plan_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A flat record schema compiled for decoding JSON into Arrow column buffers.",
    .tp_methods = plan_methods,
    .tp_init = (initproc)plan_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "cascade_rt.batch._native", "JSON to Arrow column buffers.", -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&PlanType) < 0) return NULL;
    PyObject *m = PyModule_Create(&native_module);
    if (m == NULL) return NULL;
    Py_INCREF(&PlanType);
    if (PyModule_AddObject(m, "Plan", (PyObject *)&PlanType) < 0) {
        Py_DECREF(&PlanType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
