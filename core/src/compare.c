/* Value order on canonical stored values (docs/format.md "Values"), the same order the index keys encode
 * (keycode.h). Values are read in place without allocating; a value that is not well formed for its type (which
 * a canonical store never holds) falls back to byte order rather than failing, so a comparison never crashes. */
#include "compare.h"

#include "datetime.h"

#include <stdint.h>
#include <string.h>

static uint64_t be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* An integer: *big is set for a uint64 beyond int64 (only json values hold one). */
static bool read_int(const char *s, size_t len, int64_t *out, bool *big)
{
    const unsigned char *p = (const unsigned char *)s;
    *big = false;
    if (len == 0)
        return false;
    unsigned char b = p[0];
    if (b <= 0x7f || b >= 0xe0) {
        *out = (int8_t)b;
        return len == 1;
    }
    static const unsigned char widths[] = {1, 2, 4, 8};
    if (b >= 0xcc && b <= 0xcf) {
        size_t w = widths[b - 0xcc];
        if (len != 1 + w)
            return false;
        uint64_t u = be(p + 1, w);
        *big = u > (uint64_t)INT64_MAX;
        *out = *big ? INT64_MAX : (int64_t)u;
        return true;
    }
    if (b >= 0xd0 && b <= 0xd3) {
        size_t w = widths[b - 0xd0];
        if (len != 1 + w)
            return false;
        uint64_t u = be(p + 1, w);
        /* sign-extend from w bytes */
        if (w < 8 && (u >> (8 * w - 1)) & 1)
            u |= ~(uint64_t)0 << (8 * w);
        *out = (int64_t)u;
        return true;
    }
    return false;
}

static bool read_float(const char *s, size_t len, double *out)
{
    if (len != 9 || (unsigned char)s[0] != 0xcb)
        return false;
    uint64_t bits = be((const unsigned char *)s + 1, 8);
    memcpy(out, &bits, sizeof(*out));
    return true;
}

/* The payload of a bin (bin8/16/32) filling all of s. */
static bool read_bin(const char *s, size_t len, const char **data, size_t *n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t w;
    if (len < 2)
        return false;
    switch (p[0]) {
    case 0xc4: w = 1; break;
    case 0xc5: w = 2; break;
    case 0xc6: w = 4; break;
    default: return false;
    }
    if (len < 1 + w || be(p + 1, w) != len - 1 - w)
        return false;
    *data = s + 1 + w;
    *n = len - 1 - w;
    return true;
}

/* A timestamp extension (fixext4, fixext8, ext8 of 12 bytes; type -1) filling all of s. */
static bool read_time(const char *s, size_t len, kv_time *t)
{
    const unsigned char *p = (const unsigned char *)s;
    if (len == 6 && p[0] == 0xd6 && p[1] == 0xff)
        return kv_time_from_ext(t, s + 2, 4);
    if (len == 10 && p[0] == 0xd7 && p[1] == 0xff)
        return kv_time_from_ext(t, s + 2, 8);
    if (len == 15 && p[0] == 0xc7 && p[1] == 12 && p[2] == 0xff)
        return kv_time_from_ext(t, s + 3, 12);
    return false;
}

/* Two normalized decimals (docs/format.md): the sign first; then, for two of one sign, the one with more integer
 * digits is larger in magnitude; with as many integer digits the points line up, so the texts compare as bytes
 * (no trailing fractional zeros: a text that is a prefix of the other is the smaller magnitude). */
static int decimal_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    bool an = alen > 0 && a[0] == '-', bn = blen > 0 && b[0] == '-';
    if (an != bn)
        return an ? -1 : 1;
    if (an) {
        a++, alen--;
        b++, blen--;
    }
    const char *ad = memchr(a, '.', alen), *bd = memchr(b, '.', blen);
    size_t ai = ad ? (size_t)(ad - a) : alen, bi = bd ? (size_t)(bd - b) : blen;
    int c = ai != bi ? (ai < bi ? -1 : 1) : bytes_cmp(a, alen, b, blen);
    return an ? -c : c;
}

int kv_value_cmp(kv_type t, const char *a, size_t alen, const char *b, size_t blen)
{
    switch (t) {
    case KV_T_INTEGER: {
        int64_t x, y;
        bool xb, yb;
        if (!read_int(a, alen, &x, &xb) || !read_int(b, blen, &y, &yb))
            break;
        if (xb || yb)
            return xb && yb ? bytes_cmp(a, alen, b, blen) : xb ? 1 : -1;
        return x < y ? -1 : x > y ? 1 : 0;
    }
    case KV_T_FLOAT: {
        double x, y;
        if (!read_float(a, alen, &x) || !read_float(b, blen, &y))
            break;
        /* -0.0 == 0.0 holds for IEEE comparison; NaN is never stored */
        return x < y ? -1 : x > y ? 1 : 0;
    }
    case KV_T_BOOLEAN:
        if (alen != 1 || blen != 1)
            break;
        return (unsigned char)a[0] < (unsigned char)b[0] ? -1 : a[0] != b[0] ? 1 : 0; /* 0xc2 false < 0xc3 true */
    case KV_T_DATETIME: {
        kv_time x, y;
        if (!read_time(a, alen, &x) || !read_time(b, blen, &y))
            break;
        if (x.sec != y.sec)
            return x.sec < y.sec ? -1 : 1;
        return x.nsec < y.nsec ? -1 : x.nsec > y.nsec ? 1 : 0;
    }
    case KV_T_DECIMAL:
    case KV_T_STRING:
    case KV_T_ENUM: {
        const char *x, *y;
        size_t xl, yl;
        if (!kv_mp_str_payload(a, alen, &x, &xl) || !kv_mp_str_payload(b, blen, &y, &yl))
            break;
        return t == KV_T_DECIMAL ? decimal_cmp(x, xl, y, yl) : bytes_cmp(x, xl, y, yl);
    }
    case KV_T_BYTES: {
        const char *x, *y;
        size_t xl, yl;
        if (!read_bin(a, alen, &x, &xl) || !read_bin(b, blen, &y, &yl))
            break;
        return bytes_cmp(x, xl, y, yl);
    }
    case KV_T_JSON:
        break; /* canonical: equal values have equal bytes */
    }
    return bytes_cmp(a, alen, b, blen);
}

/* The int64 of an integer id's text (canonical decimal: optional '-', digits). */
static bool id_int(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = len > 0 && s[0] == '-';
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (neg)
        i++;
    if (i == len || len - i > 19)
        return false;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

int kv_id_cmp(const kv_model *m, const char *a, size_t alen, const char *b, size_t blen)
{
    int64_t x, y;
    if (kv_id_is_integer(m) && id_int(a, alen, &x) && id_int(b, blen, &y))
        return x < y ? -1 : x > y ? 1 : 0;
    return bytes_cmp(a, alen, b, blen);
}
