#include "json_bridge.h"

#include "base64.h"
#include "datetime.h"
#include "decimal.h"
#include "mp.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- numbers MessagePack cannot hold ----
 *
 * jansson refuses an integer beyond int64 and a real beyond double ("too big integer"), which would make them
 * BAD_REQUEST. One scan of the text finds such numbers outside string literals (the common document has none, and
 * that scan is all it costs); they are rewritten into marker strings that jansson takes and the packer turns into
 * a uint64 (up to UINT64_MAX) or a KV_EXT_BIG_NUMBER holding the number's text, for the value encoder to judge. A
 * marker starts with more NULs than any string of the document does, so no string of the caller is taken for one. */

typedef enum { NUM_FITS, NUM_UINT64, NUM_BIG } num_kind;

typedef struct big_token {
    const char *text; /* in the caller's JSON text */
    size_t len;
    num_kind kind;
} big_token;

typedef struct big_numbers {
    big_token *list;
    size_t n, cap;
    size_t nuls; /* the leading NULs of a marker */
} big_numbers;

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Just past the closing quote of the string literal whose opening quote is at json[i]. */
static size_t string_end(const char *json, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (json[i] == '\\')
            i++;
        else if (json[i] == '"')
            return i + 1;
    }
    return len;
}

/* The parts of a number token that follows the JSON grammar -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?. */
typedef struct number_parts {
    bool neg, real;
    const char *ip, *fp; /* integer and fraction digits */
    size_t ni, nf;
    long long exp;       /* clamped far beyond any double */
} number_parts;

static size_t digits_at(const char *t, size_t n, size_t i)
{
    while (i < n && is_digit(t[i]))
        i++;
    return i;
}

static bool parse_number(const char *t, size_t n, number_parts *p)
{
    size_t i = 0, e0;
    memset(p, 0, sizeof(*p));
    p->neg = n > 0 && t[0] == '-';
    i = p->neg;
    if (i >= n || !is_digit(t[i]) || (t[i] == '0' && i + 1 < n && is_digit(t[i + 1])))
        return false;
    p->ip = t + i;
    i = digits_at(t, n, i);
    p->ni = (size_t)(t + i - p->ip);
    if (i < n && t[i] == '.') {
        p->real = true;
        p->fp = t + i + 1;
        i = digits_at(t, n, i + 1);
        if ((p->nf = (size_t)(t + i - p->fp)) == 0)
            return false;
    }
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        bool eneg = false;
        p->real = true;
        i++;
        if (i < n && (t[i] == '+' || t[i] == '-'))
            eneg = t[i++] == '-';
        for (e0 = i; i < n && is_digit(t[i]); i++)
            if (p->exp < 1000000)
                p->exp = p->exp * 10 + (t[i] - '0');
        if (i == e0)
            return false;
        p->exp = eneg ? -p->exp : p->exp;
    }
    return i == n;
}

/* Whether the integer digits d (n of them, no leading zero) are above the limit (as many digits or fewer). */
static bool digits_above(const char *d, size_t n, const char *limit)
{
    size_t ln = strlen(limit);
    return n != ln ? n > ln : memcmp(d, limit, n) > 0;
}

/* Whether strtod overflows on the real t, read as jansson reads it (in the C locale's notation). */
static bool real_overflows(const char *t, size_t n)
{
    char *copy = malloc(n + 1), *dot;
    const char *point = localeconv()->decimal_point;
    bool inf;
    if (!copy)
        return false; /* jansson will say */
    memcpy(copy, t, n);
    copy[n] = '\0';
    if ((dot = strchr(copy, '.')) && point && point[0] && !point[1])
        *dot = point[0];
    errno = 0;
    inf = isinf(strtod(copy, NULL));
    free(copy);
    return inf;
}

static num_kind real_kind(const number_parts *p, const char *t, size_t n)
{
    /* the decimal exponent of the leading digit decides, and only 308 needs a closer look */
    long long lead;
    if (p->ni > 1 || p->ip[0] != '0') {
        lead = (long long)p->ni - 1 + p->exp;
    } else {
        size_t z = 0;
        while (z < p->nf && p->fp[z] == '0')
            z++;
        if (z == p->nf)
            return NUM_FITS; /* zero */
        lead = p->exp - (long long)z - 1;
    }
    if (lead < 308)
        return NUM_FITS;
    return lead > 308 || real_overflows(t, n) ? NUM_BIG : NUM_FITS;
}

static num_kind number_kind(const char *t, size_t n)
{
    number_parts p;
    if (!parse_number(t, n, &p))
        return NUM_FITS; /* not a number: jansson will say what is wrong */
    if (p.real)
        return real_kind(&p, t, n);
    if (p.neg)
        return digits_above(p.ip, p.ni, "9223372036854775808") ? NUM_BIG : NUM_FITS;
    if (!digits_above(p.ip, p.ni, "9223372036854775807"))
        return NUM_FITS;
    return digits_above(p.ip, p.ni, "18446744073709551615") ? NUM_BIG : NUM_UINT64;
}

static bool add_big(big_numbers *b, const char *t, size_t n, num_kind kind)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        big_token *list = realloc(b->list, cap * sizeof(*list));
        if (!list)
            return false;
        b->list = list;
        b->cap = cap;
    }
    b->list[b->n++] = (big_token){t, n, kind};
    return true;
}

/* Finds the number tokens jansson cannot hold. A short token without an exponent always fits, so most numbers
 * cost one comparison. Returns false when out of memory. */
static bool find_big_numbers(big_numbers *b, const char *json, size_t len)
{
    size_t i = 0;
    while (i < len) {
        char c = json[i];
        if (c == '"') {
            i = string_end(json, len, i);
            continue;
        }
        if (c != '-' && !is_digit(c)) {
            i++;
            continue;
        }
        size_t start = i;
        bool exp = false;
        for (; i < len && (is_digit(json[i]) || json[i] == '.' || json[i] == 'e' || json[i] == 'E' ||
                           json[i] == '+' || json[i] == '-');
             i++)
            exp = exp || json[i] == 'e' || json[i] == 'E';
        if (i - start < 19 && !exp)
            continue;
        num_kind kind = number_kind(json + start, i - start);
        if (kind != NUM_FITS && !add_big(b, json + start, i - start, kind))
            return false;
    }
    return true;
}

/* One more NUL than any string literal of the document starts with (as \u0000 escapes). */
static size_t marker_nuls(const char *json, size_t len)
{
    size_t most = 0, i = 0;
    while (i < len) {
        if (json[i] != '"') {
            i++;
            continue;
        }
        size_t k = 0, p = i + 1;
        while (p + 6 <= len && memcmp(json + p, "\\u0000", 6) == 0) {
            k++;
            p += 6;
        }
        most = k > most ? k : most;
        i = string_end(json, len, i);
    }
    return most + 1;
}

/* The text with each big number replaced by its marker string: nuls \u0000 escapes, then its index. */
static char *rewrite_big_numbers(big_numbers *b, const char *json, size_t len, size_t *out_len)
{
    msgpack_sbuffer sb;
    const char *at = json;
    b->nuls = marker_nuls(json, len);
    msgpack_sbuffer_init(&sb);
    for (size_t k = 0; k < b->n; k++) {
        char index[24];
        if (b->list[k].text > at) /* writing nothing into an empty sbuffer would offset its NULL data */
            msgpack_sbuffer_write(&sb, at, (size_t)(b->list[k].text - at));
        msgpack_sbuffer_write(&sb, "\"", 1);
        for (size_t z = 0; z < b->nuls; z++)
            msgpack_sbuffer_write(&sb, "\\u0000", 6);
        msgpack_sbuffer_write(&sb, index, (size_t)snprintf(index, sizeof(index), "%zu\"", k));
        at = b->list[k].text + b->list[k].len;
    }
    if (json + len > at)
        msgpack_sbuffer_write(&sb, at, (size_t)(json + len - at));
    *out_len = sb.size;
    return sb.data;
}

/* The big number a string stands for, or NULL when it is a string of the caller. */
static const big_token *marker(const big_numbers *b, const char *s, size_t n)
{
    size_t k = 0, i;
    if (!b || b->n == 0 || n <= b->nuls)
        return NULL;
    for (i = 0; i < b->nuls; i++)
        if (s[i] != '\0')
            return NULL;
    for (; i < n; i++) {
        if (!is_digit(s[i]) || k > b->n)
            return NULL;
        k = k * 10 + (size_t)(s[i] - '0');
    }
    return k < b->n ? &b->list[k] : NULL;
}

static void pack_big(msgpack_packer *pk, const big_token *t)
{
    if (t->kind == NUM_UINT64) {
        uint64_t v = 0;
        for (size_t i = 0; i < t->len; i++)
            v = v * 10 + (uint64_t)(t->text[i] - '0');
        msgpack_pack_uint64(pk, v);
        return;
    }
    msgpack_pack_ext(pk, t->len, KV_EXT_BIG_NUMBER);
    msgpack_pack_ext_body(pk, t->text, t->len);
}

static int pack_json(msgpack_packer *pk, const json_t *j, int depth, const big_numbers *big)
{
    if (depth > KV_MAX_DEPTH)
        return -1;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        msgpack_pack_map(pk, json_object_size(j));
        json_object_foreach((json_t *)j, key, val) {
            kv_pack_cstr(pk, key);
            if (pack_json(pk, val, depth + 1, big) != 0)
                return -1;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *val;
        msgpack_pack_array(pk, json_array_size(j));
        json_array_foreach(j, i, val) {
            if (pack_json(pk, val, depth + 1, big) != 0)
                return -1;
        }
        return 0;
    }
    case JSON_STRING: {
        const big_token *t = marker(big, json_string_value(j), json_string_length(j));
        if (t)
            pack_big(pk, t);
        else
            kv_pack_strn(pk, json_string_value(j), json_string_length(j));
        return 0;
    }
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(j));
        return 0;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(j));
        return 0;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        return 0;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        return 0;
    case JSON_NULL:
        msgpack_pack_nil(pk);
        return 0;
    }
    return -1;
}

int kv_json_to_msgpack(msgpack_sbuffer *out, const char *json, size_t len, int code, kv_error *err)
{
    json_error_t jerr;
    msgpack_packer pk;
    big_numbers big = {NULL, 0, 0, 0};
    char *rewritten = NULL, why[256];
    size_t rlen = 0;
    json_t *root = NULL;
    int rc = 0;
    if (!find_big_numbers(&big, json, len)) {
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory reading JSON");
        goto done;
    }
    if (big.n > 0 && !(rewritten = rewrite_big_numbers(&big, json, len, &rlen))) {
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory reading JSON");
        goto done;
    }
    /* NUL is allowed in strings: ids and values are binary-safe */
    root = json_loadb(rewritten ? rewritten : json, rewritten ? rlen : len,
                      JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        kv_sanitize(why, sizeof(why), jerr.text, strlen(jerr.text));
        rc = kv_fail(err, code, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, why);
        goto done;
    }
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    if (pack_json(&pk, root, 1, &big) != 0)
        rc = kv_fail(err, code, "JSON document is nested deeper than %d levels", KV_MAX_DEPTH);
done:
    if (root)
        json_decref(root);
    free(rewritten);
    free(big.list);
    return rc;
}

/* JSON output is written directly rather than through jansson, to print each float in its shortest form
 * that reads back exactly (0.1, not 0.10000000000000001). */
typedef msgpack_sbuffer outbuf;

static void put(outbuf *o, const char *s, size_t n) { msgpack_sbuffer_write(o, s, n); }
static void puts_(outbuf *o, const char *s) { put(o, s, strlen(s)); }

static void put_string(outbuf *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0, i = 0;
    put(o, "\"", 1);
    if (n == 0) { /* an empty str from msgpack-c has a NULL pointer: no arithmetic on it */
        put(o, "\"", 1);
        return;
    }
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : kv_utf8_seq(s + i, n - i);
        if (len > 1 || (len == 1 && c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)) {
            i += len;
            continue;
        }
        put(o, s + run, i - run);
        run = ++i;
        switch (c) {
        case '"': puts_(o, "\\\""); break;
        case '\\': puts_(o, "\\\\"); break;
        case '\n': puts_(o, "\\n"); break;
        case '\r': puts_(o, "\\r"); break;
        case '\t': puts_(o, "\\t"); break;
        default:
            if (len == 0) {
                /* a byte that is not UTF-8 (a value written outside kvorm): JSON text must stay UTF-8 */
                puts_(o, "\\ufffd");
            } else {
                char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
                put(o, esc, 6);
            }
        }
    }
    put(o, s + run, n - run);
    put(o, "\"", 1);
}

static void put_double(outbuf *o, double d)
{
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    puts_(o, buf);
    /* keep it a float to a reader: 1 -> 1.0 */
    if (!strpbrk(buf, ".eEn"))
        puts_(o, ".0");
}

static int write_json(outbuf *o, const msgpack_object *v)
{
    char num[32];
    switch (v->type) {
    case MSGPACK_OBJECT_NIL: puts_(o, "null"); return 0;
    case MSGPACK_OBJECT_BOOLEAN: puts_(o, v->via.boolean ? "true" : "false"); return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(num, sizeof(num), "%" PRIu64, v->via.u64);
        puts_(o, num);
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(num, sizeof(num), "%" PRId64, v->via.i64);
        puts_(o, num);
        return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(v->via.f64))
            return -1;
        put_double(o, v->via.f64);
        return 0;
    case MSGPACK_OBJECT_STR: put_string(o, v->via.str.ptr, v->via.str.size); return 0;
    case MSGPACK_OBJECT_BIN: {
        char *b = malloc(kv_base64_encoded_len(v->via.bin.size) + 1);
        if (!b)
            return -1;
        kv_base64_encode(b, (const unsigned char *)v->via.bin.ptr, v->via.bin.size);
        put_string(o, b, strlen(b));
        free(b);
        return 0;
    }
    case MSGPACK_OBJECT_EXT: {
        kv_time t;
        char text[KV_TIME_TEXT_MAX];
        if (v->via.ext.type == KV_EXT_DECIMAL) { /* a decimal: its text, as a JSON string */
            char norm[KV_DECIMAL_TEXT_MAX];
            /* only normalized decimal text, which reads back as itself; anything else is no value of ours */
            if (v->via.ext.size == 0 || v->via.ext.size >= sizeof(norm) ||
                kv_decimal_normalize(norm, v->via.ext.ptr, v->via.ext.size) != v->via.ext.size ||
                memcmp(norm, v->via.ext.ptr, v->via.ext.size) != 0)
                return -1;
            put_string(o, v->via.ext.ptr, v->via.ext.size);
            return 0;
        }
        if (v->via.ext.type != -1 || !kv_time_from_ext(&t, v->via.ext.ptr, v->via.ext.size))
            return -1;
        put_string(o, text, kv_time_format(text, t));
        return 0;
    }
    case MSGPACK_OBJECT_ARRAY:
        put(o, "[", 1);
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            if (i)
                put(o, ",", 1);
            if (write_json(o, &v->via.array.ptr[i]) != 0)
                return -1;
        }
        put(o, "]", 1);
        return 0;
    case MSGPACK_OBJECT_MAP:
        put(o, "{", 1);
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            const msgpack_object *k = &v->via.map.ptr[i].key;
            if (k->type != MSGPACK_OBJECT_STR)
                return -1;
            if (i)
                put(o, ",", 1);
            put_string(o, k->via.str.ptr, k->via.str.size);
            put(o, ":", 1);
            if (write_json(o, &v->via.map.ptr[i].val) != 0)
                return -1;
        }
        put(o, "}", 1);
        return 0;
    }
    return -1;
}

int kv_msgpack_to_json(char **out, size_t *out_len, const char *doc, size_t len, kv_error *err)
{
    msgpack_zone *zone = msgpack_zone_new(4096);
    msgpack_object root;
    outbuf o;
    int rc = 0;
    *out = NULL;
    *out_len = 0;
    msgpack_sbuffer_init(&o);
    if (!zone)
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    if (kv_mp_unpack(zone, doc, len, &root) != KV_MP_OK || write_json(&o, &root) != 0) {
        rc = kv_fail(err, KVORM_EINTERNAL, "cannot convert the response to JSON");
        msgpack_sbuffer_destroy(&o);
    } else {
        put(&o, "", 1); /* NUL */
        *out = o.data;
        *out_len = o.size - 1;
    }
    msgpack_zone_free(zone);
    return rc;
}
