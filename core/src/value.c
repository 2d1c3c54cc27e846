#include "value.h"

#include "base64.h"
#include "decimal.h"
#include "keycode.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A number of a JSON request beyond what MessagePack holds (KV_EXT_BIG_NUMBER): its JSON text. */
static bool big_number(const msgpack_object *v)
{
    return v->type == MSGPACK_OBJECT_EXT && v->via.ext.type == KV_EXT_BIG_NUMBER;
}

/* Whether a big number's text is an integer (no fraction, no exponent). */
static bool big_is_integer(const msgpack_object *v)
{
    for (uint32_t i = 0; i < v->via.ext.size; i++)
        if (v->via.ext.ptr[i] == '.' || v->via.ext.ptr[i] == 'e' || v->via.ext.ptr[i] == 'E')
            return false;
    return true;
}

/* The text of a big number for a message, cut after 60 bytes. */
static void big_text(char *buf, size_t cap, const msgpack_object *v)
{
    kv_escape(buf, cap, v->via.ext.ptr, v->via.ext.size, 60, KV_ESC_CONTROL | KV_ESC_ELLIPSIS);
}

/* Describes a bad value for a message: its type and, for scalars, the value itself. */
static void describe(char *buf, size_t cap, const msgpack_object *v)
{
    char q[96];
    if (big_number(v)) {
        big_text(q, sizeof(q), v);
        snprintf(buf, cap, "number %s", q);
        return;
    }
    switch (v->type) {
    case MSGPACK_OBJECT_STR:
        kv_quote(q, sizeof(q), v->via.str.ptr, v->via.str.size);
        snprintf(buf, cap, "string %s", q);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(buf, cap, "integer %" PRIu64, v->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(buf, cap, "integer %" PRId64, v->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        snprintf(buf, cap, "float %.17g", v->via.f64);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        snprintf(buf, cap, "boolean %s", v->via.boolean ? "true" : "false");
        break;
    default:
        snprintf(buf, cap, "%s", kv_mp_type_name(v));
    }
}

void kv_value_describe(char *buf, size_t cap, const char *stored, size_t len)
{
    msgpack_zone *zone = msgpack_zone_new(256);
    msgpack_object o;
    if (zone && kv_mp_unpack(zone, stored, len, &o) == KV_MP_OK) {
        /* the value alone: a string quoted, a number as is, else its type */
        char *space;
        describe(buf, cap, &o);
        if (o.type != MSGPACK_OBJECT_NIL && o.type != MSGPACK_OBJECT_ARRAY && o.type != MSGPACK_OBJECT_MAP &&
            o.type != MSGPACK_OBJECT_BIN && o.type != MSGPACK_OBJECT_EXT && (space = strchr(buf, ' ')))
            memmove(buf, space + 1, strlen(space + 1) + 1);
    } else
        snprintf(buf, cap, "(unreadable value)");
    if (zone)
        msgpack_zone_free(zone);
}

static int type_error(const kv_model *m, const kv_field *f, const msgpack_object *v, const char *expected,
                      kv_error *err)
{
    char got[128];
    describe(got, sizeof(got), v);
    return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name, "%s.%s: expected %s, got %s", m->name, f->name,
                      expected, got);
}

static int encode_string(msgpack_packer *pk, const kv_model *m, const kv_field *f, const msgpack_object *v,
                         kv_error *err)
{
    if (v->type != MSGPACK_OBJECT_STR)
        return type_error(m, f, v, "string", err);
    if (!kv_utf8_valid(v->via.str.ptr, v->via.str.size))
        return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name, "%s.%s: string is not valid UTF-8", m->name,
                          f->name);
    kv_pack_strn(pk, v->via.str.ptr, v->via.str.size);
    return 0;
}

static int encode_integer(msgpack_packer *pk, const kv_model *m, const kv_field *f, const msgpack_object *v,
                          kv_error *err)
{
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (v->via.u64 > (uint64_t)INT64_MAX)
            return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                              "%s.%s: %" PRIu64 " is out of the int64 range", m->name, f->name, v->via.u64);
        msgpack_pack_int64(pk, (int64_t)v->via.u64);
        return 0;
    }
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        msgpack_pack_int64(pk, v->via.i64);
        return 0;
    }
    if (big_number(v)) {
        char t[96];
        big_text(t, sizeof(t), v);
        return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name, "%s.%s: %s is out of the int64 range", m->name,
                          f->name, t);
    }
    return type_error(m, f, v, "integer", err);
}

static int encode_float(msgpack_packer *pk, const kv_model *m, const kv_field *f, const msgpack_object *v,
                        kv_error *err)
{
    double d;
    if (v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64) {
        d = v->via.f64;
    } else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER || v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        /* integers are welcome where they convert exactly */
        bool neg = v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
        uint64_t mag = neg ? (uint64_t)0 - (uint64_t)v->via.i64 : v->via.u64;
        if (mag > (1ull << 53)) {
            char got[128];
            describe(got, sizeof(got), v);
            return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                              "%s.%s: %s cannot be held exactly by a float", m->name, f->name, got);
        }
        d = neg ? -(double)mag : (double)mag;
    } else if (big_number(v)) {
        char t[96];
        big_text(t, sizeof(t), v);
        return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name, "%s.%s: %s %s", m->name, f->name, t,
                          big_is_integer(v) ? "cannot be held exactly by a float" : "is out of the float64 range");
    } else {
        return type_error(m, f, v, "float", err);
    }
    if (!isfinite(d))
        return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name, "%s.%s: %s is not a finite number", m->name,
                          f->name, isnan(d) ? "NaN" : "infinity");
    msgpack_pack_double(pk, d);
    return 0;
}

void kv_pack_time(msgpack_packer *pk, kv_time t)
{
    unsigned char payload[12];
    size_t n = kv_time_to_ext(payload, t);
    msgpack_pack_ext(pk, n, -1);
    msgpack_pack_ext_body(pk, payload, n);
}

static int encode_datetime(msgpack_packer *pk, const kv_model *m, const kv_field *f, const msgpack_object *v,
                           kv_error *err)
{
    kv_time t;
    if (v->type == MSGPACK_OBJECT_EXT && v->via.ext.type == -1) {
        if (!kv_time_from_ext(&t, v->via.ext.ptr, v->via.ext.size))
            return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                              "%s.%s: timestamp is malformed or outside years 0001-9999", m->name, f->name);
    } else if (v->type == MSGPACK_OBJECT_STR) {
        if (!kv_time_parse(&t, v->via.str.ptr, v->via.str.size)) {
            char q[96];
            kv_quote(q, sizeof(q), v->via.str.ptr, v->via.str.size);
            return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                              "%s.%s: %s is not an RFC 3339 datetime in years 0001-9999 "
                              "(YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM))",
                              m->name, f->name, q);
        }
    } else {
        return type_error(m, f, v, "datetime (timestamp or RFC 3339 string)", err);
    }
    kv_pack_time(pk, t);
    return 0;
}

static int encode_decimal(msgpack_packer *pk, const kv_model *m, const kv_field *f, const msgpack_object *v,
                          kv_mode mode, kv_error *err)
{
    char text[KV_DECIMAL_TEXT_MAX], num[32];
    const char *src;
    size_t srclen, n;
    if (v->type == MSGPACK_OBJECT_STR) {
        src = v->via.str.ptr;
        srclen = v->via.str.size;
    } else if (v->type == MSGPACK_OBJECT_EXT && v->via.ext.type == KV_EXT_DECIMAL) {
        /* a decimal as a response carries it: a value read can be written back as is */
        src = v->via.ext.ptr;
        srclen = v->via.ext.size;
    } else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        srclen = (size_t)snprintf(num, sizeof(num), "%" PRIu64, v->via.u64);
        src = num;
    } else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        srclen = (size_t)snprintf(num, sizeof(num), "%" PRId64, v->via.i64);
        src = num;
    } else if (v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64) {
        return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                          "%s.%s: a decimal must be given as a string or an integer, not a float %.17g "
                          "(floats are not exact)",
                          m->name, f->name, v->via.f64);
    } else if (big_number(v) && mode == KV_MODE_JSON && big_is_integer(v)) {
        /* a JSON integer beyond 64 bits is exact as decimal text */
        src = v->via.ext.ptr;
        srclen = v->via.ext.size;
    } else if (big_number(v) && mode == KV_MODE_JSON) {
        char t[96];
        big_text(t, sizeof(t), v);
        return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                          "%s.%s: a decimal must be given as a string or an integer, not a float %s "
                          "(floats are not exact)",
                          m->name, f->name, t);
    } else {
        return type_error(m, f, v, "decimal (string or integer)", err);
    }
    n = kv_decimal_normalize(text, src, srclen);
    if (n == 0) {
        char q[96];
        kv_quote(q, sizeof(q), src, srclen);
        return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                          "%s.%s: %s is not a decimal number of at most %d digits", m->name, f->name, q,
                          KV_DECIMAL_MAX_DIGITS);
    }
    kv_pack_strn(pk, text, n);
    return 0;
}

/* The enum's values for a message, "(a, b, c)", cut readably ("(a, b, and 7 more)") to fit cap. */
static void enum_list(char *buf, size_t cap, const kv_field *f)
{
    size_t o = 0;
    int i = 0;
    buf[o++] = '(';
    for (; i < f->nvalues; i++) {
        char one[96];
        size_t n = kv_escape(one, sizeof(one), f->values[i], f->value_lens[i], 60, KV_ESC_CONTROL | KV_ESC_ELLIPSIS);
        /* room for this value, ", and N more)" and the NUL */
        if (o + 2 + n + 24 > cap)
            break;
        if (i > 0) {
            memcpy(buf + o, ", ", 2);
            o += 2;
        }
        memcpy(buf + o, one, n);
        o += n;
    }
    if (i < f->nvalues)
        o += (size_t)snprintf(buf + o, cap - o, "%sand %d more", i > 0 ? ", " : "", f->nvalues - i);
    buf[o++] = ')';
    buf[o] = '\0';
}

static int encode_enum(msgpack_packer *pk, const kv_model *m, const kv_field *f, const msgpack_object *v,
                       kv_error *err)
{
    char q[96], list[256];
    if (v->type != MSGPACK_OBJECT_STR)
        return type_error(m, f, v, "enum value (string)", err);
    for (int i = 0; i < f->nvalues; i++) {
        if (f->value_lens[i] == v->via.str.size &&
            (v->via.str.size == 0 || memcmp(f->values[i], v->via.str.ptr, v->via.str.size) == 0)) {
            kv_pack_strn(pk, v->via.str.ptr, v->via.str.size);
            return 0;
        }
    }
    kv_quote(q, sizeof(q), v->via.str.ptr, v->via.str.size);
    enum_list(list, sizeof(list), f);
    return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name, "%s.%s: %s is not one of the enum values %s",
                      m->name, f->name, q, list);
}

static int compare_keys(const void *a, const void *b)
{
    const msgpack_object_str *x = &(*(const msgpack_object_kv *const *)a)->key.via.str;
    const msgpack_object_str *y = &(*(const msgpack_object_kv *const *)b)->key.via.str;
    size_t n = x->size < y->size ? x->size : y->size;
    int c = n ? memcmp(x->ptr, y->ptr, n) : 0;
    if (c)
        return c;
    return x->size < y->size ? -1 : x->size > y->size;
}

/* JSON values are canonical so that equal values are equal bytes whichever language wrote them: map keys
 * sorted by their bytes, floats as float64, integers in their shortest form. */
static int encode_json(msgpack_packer *pk, const kv_model *m, const kv_field *f, const msgpack_object *v,
                       kv_error *err)
{
    switch (v->type) {
    case MSGPACK_OBJECT_NIL:
        msgpack_pack_nil(pk);
        return 0;
    case MSGPACK_OBJECT_BOOLEAN:
        v->via.boolean ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        msgpack_pack_uint64(pk, v->via.u64);
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        msgpack_pack_int64(pk, v->via.i64);
        return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(v->via.f64))
            return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                              "%s.%s: json holds a non-finite number", m->name, f->name);
        msgpack_pack_double(pk, v->via.f64);
        return 0;
    case MSGPACK_OBJECT_STR:
        if (!kv_utf8_valid(v->via.str.ptr, v->via.str.size))
            return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                              "%s.%s: json holds a string that is not valid UTF-8", m->name, f->name);
        kv_pack_strn(pk, v->via.str.ptr, v->via.str.size);
        return 0;
    case MSGPACK_OBJECT_ARRAY:
        msgpack_pack_array(pk, v->via.array.size);
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            int rc = encode_json(pk, m, f, &v->via.array.ptr[i], err);
            if (rc != 0)
                return rc;
        }
        return 0;
    case MSGPACK_OBJECT_MAP: {
        uint32_t n = v->via.map.size;
        int rc = 0;
        const msgpack_object_kv **sorted = malloc((n ? n : 1) * sizeof(*sorted));
        if (!sorted)
            return kv_fail(err, KVORM_EINTERNAL, "out of memory");
        for (uint32_t i = 0; i < n; i++) {
            const msgpack_object *k = &v->via.map.ptr[i].key;
            if (k->type != MSGPACK_OBJECT_STR || !kv_utf8_valid(k->via.str.ptr, k->via.str.size)) {
                rc = kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                                "%s.%s: json map keys must be UTF-8 strings, got %s", m->name, f->name,
                                kv_mp_type_name(k));
                goto done;
            }
            /* JSON readers (jansson among them) cannot read a NUL in a key back */
            if (k->via.str.size > 0 && memchr(k->via.str.ptr, 0, k->via.str.size)) {
                char q[96];
                kv_quote(q, sizeof(q), k->via.str.ptr, k->via.str.size);
                rc = kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                                "%s.%s: json map key %s holds a NUL byte, which JSON cannot carry in a key", m->name,
                                f->name, q);
                goto done;
            }
            sorted[i] = &v->via.map.ptr[i];
        }
        qsort(sorted, n, sizeof(*sorted), compare_keys);
        msgpack_pack_map(pk, n);
        for (uint32_t i = 0; i < n; i++) {
            if (i > 0 && compare_keys(&sorted[i - 1], &sorted[i]) == 0) {
                char q[96];
                kv_quote(q, sizeof(q), sorted[i]->key.via.str.ptr, sorted[i]->key.via.str.size);
                rc = kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name, "%s.%s: json map repeats the key %s",
                                m->name, f->name, q);
                goto done;
            }
            kv_pack_strn(pk, sorted[i]->key.via.str.ptr, sorted[i]->key.via.str.size);
            if ((rc = encode_json(pk, m, f, &sorted[i]->val, err)) != 0)
                goto done;
        }
    done:
        free(sorted);
        return rc;
    }
    case MSGPACK_OBJECT_EXT:
        if (big_number(v)) {
            char t[96];
            big_text(t, sizeof(t), v);
            return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                              "%s.%s: json holds the number %s, beyond the int64, uint64 and float64 ranges",
                              m->name, f->name, t);
        }
        /* fall through */
    case MSGPACK_OBJECT_BIN:
        return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                          "%s.%s: json values hold no %s (use a bytes or datetime field)", m->name, f->name,
                          kv_mp_type_name(v));
    }
    return kv_fail(err, KVORM_EINTERNAL, "unknown MessagePack type");
}

static int encode_bytes(msgpack_packer *pk, const kv_model *m, const kv_field *f, const msgpack_object *v,
                        kv_mode mode, kv_error *err)
{
    if (v->type == MSGPACK_OBJECT_BIN) {
        msgpack_pack_bin(pk, v->via.bin.size);
        msgpack_pack_bin_body(pk, v->via.bin.ptr, v->via.bin.size);
        return 0;
    }
    if (v->type == MSGPACK_OBJECT_STR && mode == KV_MODE_JSON) {
        /* JSON has no bytes: the JSON entry point takes them as base64 text */
        size_t n = 0;
        unsigned char *buf = malloc(v->via.str.size / 4 * 3 + 1);
        if (!buf)
            return kv_fail(err, KVORM_EINTERNAL, "out of memory");
        if (!kv_base64_decode(buf, &n, v->via.str.ptr, v->via.str.size)) {
            free(buf);
            return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name, "%s.%s: bytes must be base64 text",
                              m->name, f->name);
        }
        msgpack_pack_bin(pk, n);
        msgpack_pack_bin_body(pk, buf, n);
        free(buf);
        return 0;
    }
    return type_error(m, f, v, "bytes", err);
}

int kv_value_encode(msgpack_sbuffer *out, const kv_model *m, const kv_field *f, const msgpack_object *v,
                    kv_mode mode, kv_error *err)
{
    msgpack_packer pk;
    size_t start = out->size;
    int rc;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    switch (f->type) {
    case KV_T_STRING: rc = encode_string(&pk, m, f, v, err); break;
    case KV_T_INTEGER: rc = encode_integer(&pk, m, f, v, err); break;
    case KV_T_FLOAT: rc = encode_float(&pk, m, f, v, err); break;
    case KV_T_BOOLEAN:
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            return type_error(m, f, v, "boolean", err);
        v->via.boolean ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
        rc = 0;
        break;
    case KV_T_DATETIME: rc = encode_datetime(&pk, m, f, v, err); break;
    case KV_T_DECIMAL: rc = encode_decimal(&pk, m, f, v, mode, err); break;
    case KV_T_ENUM: rc = encode_enum(&pk, m, f, v, err); break;
    case KV_T_JSON: rc = encode_json(&pk, m, f, v, err); break;
    case KV_T_BYTES: rc = encode_bytes(&pk, m, f, v, mode, err); break;
    default: rc = kv_fail(err, KVORM_EINTERNAL, "unknown field type");
    }
    if (rc == 0 && out->size - start > KV_MAX_VALUE_BYTES)
        rc = kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name,
                        "%s.%s: value is %zu bytes, over the limit of %u bytes", m->name, f->name,
                        out->size - start, KV_MAX_VALUE_BYTES);
    if (rc != 0)
        out->size = start;
    return rc;
}

int kv_id_encode(char *text, size_t *text_len, const kv_model *m, const msgpack_object *v, kv_error *err)
{
    static const kv_field id_field = {.name = "id", .name_len = 2};
    if (kv_id_is_integer(m)) {
        int64_t n;
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= (uint64_t)INT64_MAX)
            n = (int64_t)v->via.u64;
        else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            n = v->via.i64;
        else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            return kv_fail_at(err, KVORM_EVALIDATION, m->name, "id", "%s.id: %" PRIu64 " is out of the int64 range",
                              m->name, v->via.u64);
        else if (big_number(v)) {
            char t[96];
            big_text(t, sizeof(t), v);
            return kv_fail_at(err, KVORM_EVALIDATION, m->name, "id", "%s.id: %s is out of the int64 range", m->name,
                              t);
        } else
            return type_error(m, &id_field, v, "integer id", err);
        *text_len = kv_int_id_text(text, n); /* KV_MAX_ID_BYTES >= 20 */
        return 0;
    }
    if (v->type != MSGPACK_OBJECT_STR)
        return type_error(m, &id_field, v, "string id", err);
    if (v->via.str.size == 0 || v->via.str.size > KV_MAX_ID_BYTES)
        return kv_fail_at(err, KVORM_EVALIDATION, m->name, "id", "%s.id: an id is 1 to %d bytes, got %u", m->name,
                          KV_MAX_ID_BYTES, v->via.str.size);
    if (!kv_utf8_valid(v->via.str.ptr, v->via.str.size))
        return kv_fail_at(err, KVORM_EVALIDATION, m->name, "id", "%s.id: id is not valid UTF-8", m->name);
    memcpy(text, v->via.str.ptr, v->via.str.size);
    text[v->via.str.size] = '\0';
    *text_len = v->via.str.size;
    return 0;
}

int kv_id_emit(msgpack_packer *pk, const kv_model *m, const char *text, size_t len, kv_error *err)
{
    if (!kv_id_is_integer(m)) {
        kv_pack_strn(pk, text, len);
        return 0;
    }
    int64_t n;
    if (!kv_int_id_parse(text, len, &n))
        return kv_fail(err, KVORM_EINTERNAL, "%s: stored id is not an integer", m->name);
    msgpack_pack_int64(pk, n);
    return 0;
}

/* Does the first byte of a stored object belong to the field's type? */
static bool type_matches(kv_type t, const unsigned char *p, size_t len)
{
    unsigned char b = p[0];
    switch (t) {
    case KV_T_STRING:
    case KV_T_DECIMAL:
    case KV_T_ENUM:
        return (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb);
    case KV_T_INTEGER:
        return b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xcf) || (b >= 0xd0 && b <= 0xd3);
    case KV_T_FLOAT:
        return b == 0xcb;
    case KV_T_BOOLEAN:
        return b == 0xc2 || b == 0xc3;
    case KV_T_DATETIME:
        return ((b == 0xd6 || b == 0xd7) && len > 1 && p[1] == 0xff) || (b == 0xc7 && len > 2 && p[2] == 0xff);
    case KV_T_JSON:
        return true;
    case KV_T_BYTES:
        return b >= 0xc4 && b <= 0xc6;
    }
    return false;
}

bool kv_value_type_ok(const kv_field *f, const char *stored, size_t len)
{
    return len > 0 && type_matches(f->type, (const unsigned char *)stored, len);
}

static int not_well_formed(const kv_model *m, const kv_field *f, kv_error *err)
{
    return kv_fail_at(err, KVORM_EINTERNAL, m->name, f->name,
                      "%s.%s: the stored value is not a well-formed %s (written outside kvorm?)", m->name, f->name,
                      kv_type_name(f->type));
}

int kv_value_emit(msgpack_packer *pk, const kv_model *m, const kv_field *f, const char *stored, size_t len,
                  kv_error *err)
{
    size_t used = 0;
    if (len == 0 || kv_mp_check(stored, len, &used, KV_MAX_DEPTH) != KV_MP_OK || used != len)
        return not_well_formed(m, f, err);
    return kv_value_emit_checked(pk, m, f, stored, len, err);
}

int kv_value_emit_checked(msgpack_packer *pk, const kv_model *m, const kv_field *f, const char *stored, size_t len,
                          kv_error *err)
{
    if (!kv_value_type_ok(f, stored, len))
        return not_well_formed(m, f, err);
    if (f->type == KV_T_DECIMAL) {
        /* stored as str; answered as the decimal extension, so bindings convert by type */
        const char *text;
        size_t tlen;
        if (!kv_mp_str_payload(stored, len, &text, &tlen))
            return kv_fail_at(err, KVORM_EINTERNAL, m->name, f->name, "%s.%s: the stored decimal is not text",
                              m->name, f->name);
        kv_pack_decimal(pk, text, tlen);
        return 0;
    }
    return pk->callback(pk->data, stored, len);
}
