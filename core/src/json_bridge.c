#include "json_bridge.h"

#include "base64.h"
#include "datetime.h"
#include "mp.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pack_json(msgpack_packer *pk, const json_t *j, int depth)
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
            if (pack_json(pk, val, depth + 1) != 0)
                return -1;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *val;
        msgpack_pack_array(pk, json_array_size(j));
        json_array_foreach(j, i, val) {
            if (pack_json(pk, val, depth + 1) != 0)
                return -1;
        }
        return 0;
    }
    case JSON_STRING:
        kv_pack_strn(pk, json_string_value(j), json_string_length(j));
        return 0;
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
    /* NUL is allowed in strings: ids and values are binary-safe */
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!root)
        return kv_fail(err, code, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    int rc = pack_json(&pk, root, 1);
    json_decref(root);
    if (rc != 0)
        return kv_fail(err, code, "JSON document is nested deeper than %d levels", KV_MAX_DEPTH);
    return 0;
}

/* JSON output is written directly rather than through jansson, to print each float in its shortest form
 * that reads back exactly (0.1, not 0.10000000000000001). */
typedef msgpack_sbuffer outbuf;

static void put(outbuf *o, const char *s, size_t n) { msgpack_sbuffer_write(o, s, n); }
static void puts_(outbuf *o, const char *s) { put(o, s, strlen(s)); }

static void put_string(outbuf *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    put(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        put(o, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': puts_(o, "\\\""); break;
        case '\\': puts_(o, "\\\\"); break;
        case '\n': puts_(o, "\\n"); break;
        case '\r': puts_(o, "\\r"); break;
        case '\t': puts_(o, "\\t"); break;
        default: {
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
