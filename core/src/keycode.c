/* The order-preserving key encoding of index entries (docs/format.md, "Index keys"). The ideas are the usual ones
 * of ordered key-value stores (FoundationDB's tuple layer, CockroachDB's and SQLite4's key encodings): a type code
 * first, fixed-width big-endian numbers with the sign bit flipped, NUL-escaped terminated text, a decimal as a
 * normalized exponent and digit string, and a descending part as the complement of its bytes. */
#include "keycode.h"

#include "datetime.h"
#include "decimal.h"
#include "value.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define SIGN64 0x8000000000000000ull
#define SIGN32 0x80000000u

/* Escaped content of the longest element (a string id: every byte a NUL) plus its code and terminator. */
#define ELEM_MAX (1 + 2 * KV_MAX_ID_BYTES + 2)

/* ---- writing ---- */

static int put(msgpack_sbuffer *out, const void *b, size_t n, kv_error *err)
{
    if (msgpack_sbuffer_write(out, (const char *)b, n) != 0)
        return kv_fail(err, KVORM_EINTERNAL, "index key: out of memory");
    return 0;
}

static void be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static void be32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get_be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static int put_int(msgpack_sbuffer *out, int64_t v, kv_error *err)
{
    unsigned char b[9];
    b[0] = KV_KEY_INT;
    be64(b + 1, (uint64_t)v ^ SIGN64);
    return put(out, b, sizeof b, err);
}

/* Text and bytes: a NUL in the content would read as the terminator, so it is written 0x00 0xff (and sorts after
 * the terminator 0x00 0x00, as "a\0" sorts after "a"). A value is cut at exactly KV_KEY_CONTENT_MAX bytes, even
 * inside a code point: a cut at a code point boundary (126 bytes, say) would put a long value before an exact
 * 127-byte value sharing those 126 bytes that sorts before it. The cut terminator 0x00 0xfe sorts after the exact
 * value equal to the kept bytes and before any value that differs within them, which is where the value belongs. */
static int put_text(msgpack_sbuffer *out, unsigned char code, const char *s, size_t n, bool cut, kv_error *err)
{
    unsigned char b[ELEM_MAX];
    size_t o = 0;
    b[o++] = code;
    for (size_t i = 0; i < n; i++) {
        b[o++] = (unsigned char)s[i];
        if (s[i] == 0)
            b[o++] = 0xff;
    }
    b[o++] = 0x00;
    b[o++] = cut ? 0xfe : 0x00;
    return put(out, b, o, err);
}

/* Splits normalized decimal text (not zero) into 0.<digits> x 10^exp with digits[0] != 0. */
static void dec_split(const char *s, size_t n, const char **digits, size_t *ndigits, int32_t *exp, char *scratch)
{
    const char *dot = memchr(s, '.', n);
    size_t ip = dot ? (size_t)(dot - s) : n;
    if (!(ip == 1 && s[0] == '0')) {
        /* an integer part without leading zeros: its length is the exponent; the digits are the integer part
         * then the fraction, less the trailing zeros of an integer ("1000" is 0.1 x 10^4) */
        memcpy(scratch, s, ip);
        size_t nd = ip;
        if (dot) {
            memcpy(scratch + nd, dot + 1, n - ip - 1);
            nd += n - ip - 1;
        }
        while (nd > 0 && scratch[nd - 1] == '0')
            nd--;
        *digits = scratch;
        *ndigits = nd;
        *exp = (int32_t)ip;
        return;
    }
    /* "0.00123" is 0.123 x 10^-2: the leading zeros of the fraction are the negative exponent */
    const char *f = dot + 1;
    size_t fn = n - 2, k = 0;
    while (k < fn && f[k] == '0')
        k++;
    *digits = f + k;
    *ndigits = fn - k;
    *exp = -(int32_t)k;
}

static int put_decimal(msgpack_sbuffer *out, const char *text, size_t n, bool *cut, kv_error *err)
{
    unsigned char b[1 + 4 + KV_KEY_CONTENT_MAX + 1];
    char scratch[KV_DECIMAL_TEXT_MAX];
    const char *digits;
    size_t nd, o = 0;
    int32_t exp;
    bool neg = text[0] == '-';

    if (n == 1 && text[0] == '0') {
        b[0] = KV_KEY_DEC_ZERO;
        return put(out, b, 1, err);
    }
    dec_split(text + neg, n - neg, &digits, &nd, &exp, scratch);
    /* Cut digits keep their zeros: 0.1000...01 cut to 0.1000... must still sort after 0.10...02 (fewer zeros) */
    *cut = nd > KV_KEY_CONTENT_MAX;
    if (*cut)
        nd = KV_KEY_CONTENT_MAX;
    b[o++] = neg ? KV_KEY_DEC_NEG : KV_KEY_DEC_POS;
    be32(b + o, (uint32_t)exp ^ SIGN32);
    o += 4;
    memcpy(b + o, digits, nd);
    o += nd;
    b[o++] = *cut ? 0xfe : 0x00;
    /* a larger magnitude is a smaller negative number: complement all but the code */
    if (neg)
        for (size_t i = 1; i < o; i++)
            b[i] = (unsigned char)~b[i];
    return put(out, b, o, err);
}

/* ---- reading the stored MessagePack ---- */

static bool mp_int(const unsigned char *p, size_t len, int64_t *v)
{
    if (len == 0)
        return false;
    unsigned char c = p[0];
    if (c <= 0x7f || c >= 0xe0) {
        *v = (int8_t)c;
        return len == 1;
    }
    size_t w;
    bool sign;
    switch (c) {
    case 0xcc: w = 1; sign = false; break;
    case 0xcd: w = 2; sign = false; break;
    case 0xce: w = 4; sign = false; break;
    case 0xcf: w = 8; sign = false; break;
    case 0xd0: w = 1; sign = true; break;
    case 0xd1: w = 2; sign = true; break;
    case 0xd2: w = 4; sign = true; break;
    case 0xd3: w = 8; sign = true; break;
    default: return false;
    }
    if (len != 1 + w)
        return false;
    uint64_t u = get_be(p + 1, w);
    if (sign) {
        /* sign-extend from w bytes */
        if (w < 8 && (u >> (8 * w - 1)) & 1)
            u |= ~0ull << (8 * w);
        *v = (int64_t)u;
    } else {
        if (u > INT64_MAX)
            return false;
        *v = (int64_t)u;
    }
    return true;
}

static bool mp_bin(const unsigned char *p, size_t len, const char **data, size_t *n)
{
    size_t head;
    if (len >= 2 && p[0] == 0xc4)
        head = 2;
    else if (len >= 3 && p[0] == 0xc5)
        head = 3;
    else if (len >= 5 && p[0] == 0xc6)
        head = 5;
    else
        return false;
    size_t m = (size_t)get_be(p + 1, head - 1);
    if (len - head != m)
        return false;
    *data = (const char *)p + head;
    *n = m;
    return true;
}

static bool mp_time(const unsigned char *p, size_t len, kv_time *t)
{
    if (len == 6 && p[0] == 0xd6 && p[1] == 0xff)
        return kv_time_from_ext(t, (const char *)p + 2, 4);
    if (len == 10 && p[0] == 0xd7 && p[1] == 0xff)
        return kv_time_from_ext(t, (const char *)p + 2, 8);
    if (len == 15 && p[0] == 0xc7 && p[1] == 12 && p[2] == 0xff)
        return kv_time_from_ext(t, (const char *)p + 3, 12);
    return false;
}

static int malformed(kv_error *err, kv_type t)
{
    return kv_fail(err, KVORM_EINTERNAL, "index key: the stored value is not a well-formed %s", kv_type_name(t));
}

static int append_stored(msgpack_sbuffer *out, kv_type t, const char *stored, size_t len, bool *cut, kv_error *err)
{
    const unsigned char *p = (const unsigned char *)stored;
    unsigned char b[13];
    const char *s;
    size_t n;

    switch (t) {
    case KV_T_INTEGER: {
        int64_t v;
        if (!mp_int(p, len, &v))
            return malformed(err, t);
        return put_int(out, v, err);
    }
    case KV_T_FLOAT: {
        if (len != 9 || p[0] != 0xcb)
            return malformed(err, t);
        uint64_t bits = get_be(p + 1, 8);
        if ((bits & 0x7ff0000000000000ull) == 0x7ff0000000000000ull)
            return malformed(err, t); /* NaN and infinities are never stored */
        if (bits == SIGN64)
            bits = 0; /* -0.0 == 0.0: one key */
        /* positive: above every negative; negative: a larger magnitude is smaller */
        bits = (bits & SIGN64) ? ~bits : bits ^ SIGN64;
        b[0] = KV_KEY_FLOAT;
        be64(b + 1, bits);
        return put(out, b, 9, err);
    }
    case KV_T_BOOLEAN:
        if (len != 1 || (p[0] != 0xc2 && p[0] != 0xc3))
            return malformed(err, t);
        b[0] = p[0] == 0xc3 ? KV_KEY_TRUE : KV_KEY_FALSE;
        return put(out, b, 1, err);
    case KV_T_DATETIME: {
        kv_time tm;
        if (!mp_time(p, len, &tm))
            return malformed(err, t);
        b[0] = KV_KEY_TIME;
        be64(b + 1, (uint64_t)tm.sec ^ SIGN64);
        be32(b + 9, tm.nsec);
        return put(out, b, 13, err);
    }
    case KV_T_DECIMAL: {
        char norm[KV_DECIMAL_TEXT_MAX];
        if (!kv_mp_str_payload(stored, len, &s, &n) || n == 0 || n >= KV_DECIMAL_TEXT_MAX)
            return malformed(err, t);
        /* canonical text only: it normalizes to itself */
        if (kv_decimal_normalize(norm, s, n) != n || memcmp(norm, s, n) != 0)
            return malformed(err, t);
        return put_decimal(out, s, n, cut, err);
    }
    case KV_T_STRING:
    case KV_T_ENUM:
        if (!kv_mp_str_payload(stored, len, &s, &n) || !kv_utf8_valid(s, n))
            return malformed(err, t);
        *cut = n > KV_KEY_CONTENT_MAX;
        return put_text(out, KV_KEY_STRING, s, *cut ? KV_KEY_CONTENT_MAX : n, *cut, err);
    case KV_T_BYTES:
        if (!mp_bin(p, len, &s, &n))
            return malformed(err, t);
        *cut = n > KV_KEY_CONTENT_MAX;
        return put_text(out, KV_KEY_BYTES, s, *cut ? KV_KEY_CONTENT_MAX : n, *cut, err);
    case KV_T_JSON:
        return kv_fail(err, KVORM_EINTERNAL, "index key: a json field cannot be indexed");
    }
    return kv_fail(err, KVORM_EINTERNAL, "index key: unknown field type %d", (int)t);
}

int kv_key_append_value(msgpack_sbuffer *out, kv_type t, const char *stored, size_t len, bool desc, bool *truncated,
                        kv_error *err)
{
    size_t start = out->size;
    bool cut = false;
    int rc;
    if (truncated)
        *truncated = false;
    if (!stored) {
        unsigned char b = KV_KEY_NULL;
        rc = put(out, &b, 1, err);
    } else {
        rc = append_stored(out, t, stored, len, &cut, err);
    }
    if (rc != 0) {
        out->size = start;
        return rc;
    }
    if (desc)
        for (size_t i = start; i < out->size; i++)
            out->data[i] = (char)~(unsigned char)out->data[i];
    if (truncated)
        *truncated = cut;
    return 0;
}

/* Parses canonical int64 decimal text ("0", "-12", "42": no sign on zero, no '+', no leading zero). */
bool kv_int_id_parse(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == n || n - i > 19 || s[i] < '0' || s[i] > '9')
        return false;
    if (s[i] == '0' && (n - i > 1 || neg))
        return false;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits cannot overflow uint64 */
    }
    if (v > (neg ? SIGN64 : (uint64_t)INT64_MAX))
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

size_t kv_int_id_text(char *out, int64_t v)
{
    char digits[20];
    size_t n = 0, o = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v; /* INT64_MIN too */
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0)
        out[o++] = '-';
    while (n > 0)
        out[o++] = digits[--n];
    out[o] = '\0';
    return o;
}

int kv_key_append_id(msgpack_sbuffer *out, const kv_model *m, const char *id, size_t id_len, kv_error *err)
{
    if (kv_id_is_integer(m)) {
        int64_t v;
        if (!kv_int_id_parse(id, id_len, &v))
            return kv_fail_at(err, KVORM_EINTERNAL, m->name, "id", "index key: the integer id text is not an int64");
        return put_int(out, v, err);
    }
    if (id_len > KV_MAX_ID_BYTES || !kv_utf8_valid(id, id_len))
        return kv_fail_at(err, KVORM_EINTERNAL, m->name, "id",
                          "index key: a string id must be UTF-8 of at most %d bytes", KV_MAX_ID_BYTES);
    return put_text(out, KV_KEY_STRING, id, id_len, false, err);
}

int kv_key_append_string_prefix(msgpack_sbuffer *out, const char *stored, size_t len, kv_error *err)
{
    unsigned char b[1 + 2 * KV_KEY_CONTENT_MAX];
    const char *s;
    size_t n, o = 0;
    if (!kv_mp_str_payload(stored, len, &s, &n) || !kv_utf8_valid(s, n))
        return kv_fail(err, KVORM_EINTERNAL, "index key: the prefix is not a well-formed string");
    /* a longer prefix is cut like the values: every value starting with it has a key starting with these bytes */
    if (n > KV_KEY_CONTENT_MAX)
        n = KV_KEY_CONTENT_MAX;
    b[o++] = KV_KEY_STRING;
    for (size_t i = 0; i < n; i++) {
        b[o++] = (unsigned char)s[i];
        if (s[i] == 0)
            b[o++] = 0xff;
    }
    return put(out, b, o, err);
}

/* ---- reading keys ---- */

/* Walks the text element at p (after its code), whose bytes are XORed with x: the content length and the
 * element size, or 0 when it is not terminated or its content is longer than max. */
static size_t skip_text(const unsigned char *p, size_t len, unsigned char x, size_t max, size_t *content, bool *cut)
{
    size_t n = 0;
    for (size_t i = 1; i + 1 < len; i++) {
        unsigned char c = p[i] ^ x;
        if (c != 0) {
            if (++n > max)
                return 0;
            continue;
        }
        unsigned char d = p[i + 1] ^ x;
        if (d == 0xff) {
            if (++n > max)
                return 0;
            i++;
            continue;
        }
        if (d == 0x00) {
            *cut = false;
        } else if (d == 0xfe && n == KV_KEY_CONTENT_MAX) {
            *cut = true; /* only a content of exactly the limit is ever cut */
        } else {
            return 0;
        }
        *content = n;
        return i + 2;
    }
    return 0;
}

size_t kv_key_skip(const char *key, size_t len, bool *truncated)
{
    const unsigned char *p = (const unsigned char *)key;
    bool cut = false;
    size_t size = 0;
    if (truncated)
        *truncated = false;
    if (len == 0)
        return 0;
    unsigned char x = p[0] >= 0x80 ? 0xff : 0x00; /* a descending element is complemented */
    switch (p[0] ^ x) {
    case KV_KEY_NULL:
    case KV_KEY_FALSE:
    case KV_KEY_TRUE:
    case KV_KEY_DEC_ZERO:
        size = 1;
        break;
    case KV_KEY_INT:
        size = len >= 9 ? 9 : 0;
        break;
    case KV_KEY_FLOAT:
        size = len >= 9 ? 9 : 0;
        break;
    case KV_KEY_TIME: {
        if (len < 13)
            return 0;
        unsigned char b[12];
        for (int i = 0; i < 12; i++)
            b[i] = p[1 + i] ^ x;
        int64_t sec = (int64_t)(get_be(b, 8) ^ SIGN64);
        kv_time t = {sec, (uint32_t)get_be(b + 8, 4)};
        size = kv_time_in_range(t) ? 13 : 0;
        break;
    }
    case KV_KEY_DEC_NEG:
    case KV_KEY_DEC_POS: {
        /* exponent, then digits: a non-zero first one, no trailing zero unless cut, at most the limit */
        unsigned char dx = (p[0] ^ x) == KV_KEY_DEC_NEG ? (unsigned char)(x ^ 0xff) : x;
        size_t i = 5, nd = 0;
        if (len < 7)
            return 0;
        for (; i < len; i++) {
            unsigned char c = p[i] ^ dx;
            if (c < '0' || c > '9')
                break;
            if (nd == 0 && c == '0')
                return 0;
            if (++nd > KV_KEY_CONTENT_MAX)
                return 0;
        }
        if (i == len || nd == 0)
            return 0;
        unsigned char term = p[i] ^ dx;
        if (term == 0x00 && (p[i - 1] ^ dx) != '0')
            cut = false;
        else if (term == 0xfe && nd == KV_KEY_CONTENT_MAX)
            cut = true;
        else
            return 0;
        size = i + 1;
        break;
    }
    case KV_KEY_STRING:
    case KV_KEY_BYTES: {
        size_t n;
        /* an exact string may be an id (up to KV_MAX_ID_BYTES); a value is at most the limit */
        size_t max = (p[0] ^ x) == KV_KEY_STRING ? KV_MAX_ID_BYTES : KV_KEY_CONTENT_MAX;
        size = skip_text(p, len, x, max, &n, &cut);
        if (size && cut && n != KV_KEY_CONTENT_MAX)
            return 0;
        break;
    }
    default:
        return 0;
    }
    if (size && truncated)
        *truncated = cut;
    return size;
}

int kv_key_id(char *text, size_t *text_len, const char *key, size_t len, int nparts, kv_error *err)
{
    const unsigned char *p = (const unsigned char *)key;
    size_t off = 0;
    if (nparts < 0)
        return kv_fail(err, KVORM_EINTERNAL, "index key: negative part count %d", nparts);
    for (int i = 0; i < nparts; i++) {
        size_t n = kv_key_skip(key + off, len - off, NULL);
        if (n == 0)
            return kv_fail(err, KVORM_EINTERNAL, "index key: part %d is malformed", i + 1);
        off += n;
    }
    size_t n = kv_key_skip(key + off, len - off, NULL);
    if (n == 0 || off + n != len)
        return kv_fail(err, KVORM_EINTERNAL, "index key: the id element is malformed or followed by other bytes");
    if (p[off] == KV_KEY_INT) {
        *text_len = kv_int_id_text(text, (int64_t)(get_be(p + off + 1, 8) ^ SIGN64));
        return 0;
    }
    if (p[off] != KV_KEY_STRING)
        return kv_fail(err, KVORM_EINTERNAL, "index key: the id element is neither an integer nor a string");
    /* skip checked the escapes, the terminator and the length (an exact string: at most KV_MAX_ID_BYTES) */
    size_t o = 0;
    for (size_t i = off + 1; i + 2 < len; i++) {
        text[o++] = key[i];
        if (p[i] == 0)
            i++;
    }
    if (p[len - 1] != 0x00)
        return kv_fail(err, KVORM_EINTERNAL, "index key: the id element is cut");
    if (!kv_utf8_valid(text, o))
        return kv_fail(err, KVORM_EINTERNAL, "index key: the string id is not UTF-8");
    text[o] = 0;
    *text_len = o;
    return 0;
}

void kv_key_prefix_end(char *out, size_t *out_len, const char *prefix, size_t prefix_len)
{
    /* drop the trailing 0xff bytes (nothing is above them at that position), then add one to the last byte */
    size_t n = prefix_len;
    while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
        n--;
    if (n > 0) {
        memmove(out, prefix, n);
        out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
    }
    *out_len = n;
}
