#include "mp.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static uint32_t be16(const unsigned char *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Pending element counts per open container live on an explicit stack, so the check itself never recurses. */
kv_mp_check_result kv_mp_check(const char *data, size_t len, size_t *consumed, int max_depth)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t pos = 0;
    uint64_t pending[KV_MAX_DEPTH + 1];
    int depth = 0;
    uint64_t left = 1; /* objects left to read at the current level */

    if (max_depth > KV_MAX_DEPTH)
        max_depth = KV_MAX_DEPTH;
    /* the common case on every read path: one short scalar (a field name, most stored values) */
    if (len > 0 && (p[0] <= 0x7f || p[0] >= 0xe0 || p[0] == 0xc0 || p[0] == 0xc2 || p[0] == 0xc3)) {
        *consumed = 1;
        return KV_MP_OK;
    }
    if (len > 0 && ((p[0] & 0xe0) == 0xa0 || p[0] == 0xd9 || (p[0] >= 0xca && p[0] <= 0xd3))) {
        static const unsigned char fixed[] = {5, 9, 2, 3, 5, 9, 2, 3, 5, 9}; /* 0xca float32 .. 0xd3 int64 */
        size_t n = (p[0] & 0xe0) == 0xa0 ? (size_t)(p[0] & 0x1f) + 1
                 : p[0] == 0xd9          ? (len >= 2 ? (size_t)p[1] + 2 : len + 1)
                                         : fixed[p[0] - 0xca];
        if (n > len)
            return KV_MP_TRUNCATED;
        *consumed = n;
        return KV_MP_OK;
    }
    for (;;) {
        while (left == 0) {
            if (depth == 0) {
                *consumed = pos;
                return KV_MP_OK;
            }
            left = pending[--depth];
        }
        left--;
        if (pos >= len)
            return KV_MP_TRUNCATED;
        unsigned char b = p[pos++];
        uint64_t skip = 0, children = 0;
        size_t hdr = 0;
        bool container = false;
        if (b == 0xc1) {
            return KV_MP_INVALID; /* the one byte MessagePack never uses */
        } else if (b <= 0x7f || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3)) {
            /* fixint, nil, bool */
        } else if ((b & 0xe0) == 0xa0) {
            skip = b & 0x1f;
        } else if ((b & 0xf0) == 0x90) {
            children = b & 0x0f;
            container = true;
        } else if ((b & 0xf0) == 0x80) {
            children = 2u * (b & 0x0f);
            container = true;
        } else {
            switch (b) {
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xca: case 0xce: case 0xd2: skip = 4; break;
            case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xc4: case 0xd9: hdr = 1; break;
            case 0xc5: case 0xda: hdr = 2; break;
            case 0xc6: case 0xdb: hdr = 4; break;
            case 0xc7: hdr = 1; break;
            case 0xc8: hdr = 2; break;
            case 0xc9: hdr = 4; break;
            case 0xdc: case 0xde: hdr = 2; break;
            case 0xdd: case 0xdf: hdr = 4; break;
            default: return KV_MP_INVALID;
            }
            if (hdr) {
                if (len - pos < hdr)
                    return KV_MP_TRUNCATED;
                uint64_t n = hdr == 1 ? p[pos] : hdr == 2 ? be16(p + pos) : be32(p + pos);
                pos += hdr;
                container = b >= 0xdc && b <= 0xdf;
                if (b == 0xdc || b == 0xdd)
                    children = n;
                else if (b == 0xde || b == 0xdf)
                    children = 2 * n;
                else if (b >= 0xc7 && b <= 0xc9)
                    skip = n + 1; /* ext: type byte + data */
                else
                    skip = n;
            }
        }
        if (skip) {
            if (len - pos < skip)
                return KV_MP_TRUNCATED;
            pos += (size_t)skip;
        }
        /* an empty container counts against the depth too: msgpack-c's stack holds every open one */
        if (container && depth >= max_depth)
            return KV_MP_TOO_DEEP;
        if (children) {
            /* Every child takes at least one byte: a count beyond the bytes left is a lie. */
            if (children > len - pos)
                return KV_MP_TRUNCATED;
            pending[depth++] = left;
            left = children;
        }
    }
}

kv_mp_check_result kv_mp_unpack(msgpack_zone *zone, const char *data, size_t len, msgpack_object *out)
{
    size_t used = 0, off = 0;
    kv_mp_check_result r = kv_mp_check(data, len, &used, KV_MAX_DEPTH);
    if (r != KV_MP_OK)
        return r;
    if (used != len)
        return KV_MP_INVALID;
    if (msgpack_unpack(data, len, &off, zone, out) != MSGPACK_UNPACK_SUCCESS || off != len)
        return KV_MP_INVALID;
    return KV_MP_OK;
}

/* What a thread keeps between calls: a zone and a few buffers, freed when the thread ends. */
#define KEPT_BUFFERS 4
typedef struct kept {
    msgpack_zone *zone;
    char *buffers[KEPT_BUFFERS];
    int nbuffers;
} kept;

static pthread_key_t kept_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;

static void free_kept(void *p)
{
    kept *k = p;
    if (k->zone)
        msgpack_zone_free(k->zone);
    while (k->nbuffers > 0)
        free(k->buffers[--k->nbuffers]);
    free(k);
}

static void make_kept_key(void) { pthread_key_create(&kept_key, free_kept); }

/* This thread's kept things, made at its first call; NULL when out of memory (nothing is kept then). */
static kept *thread_kept(void)
{
    pthread_once(&kept_once, make_kept_key);
    kept *k = pthread_getspecific(kept_key);
    if (!k && (k = calloc(1, sizeof(*k))) != NULL && pthread_setspecific(kept_key, k) != 0) {
        free(k);
        k = NULL;
    }
    return k;
}

msgpack_zone *kv_mp_zone_take(void)
{
    kept *k = thread_kept();
    msgpack_zone *zone = k ? k->zone : NULL;
    if (!zone)
        return msgpack_zone_new(KV_MP_ZONE_CHUNK);
    k->zone = NULL;
    return zone;
}

void kv_mp_zone_give(msgpack_zone *zone)
{
    if (!zone)
        return;
    kept *k = thread_kept();
    if (k && !k->zone) {
        msgpack_zone_clear(zone); /* keeps its first chunk, frees the others */
        k->zone = zone;
        return;
    }
    msgpack_zone_free(zone);
}

void kv_mp_buffer_take(msgpack_sbuffer *sb)
{
    kept *k = thread_kept();
    msgpack_sbuffer_init(sb);
    if (k && k->nbuffers > 0) {
        sb->data = k->buffers[--k->nbuffers];
        sb->alloc = MSGPACK_SBUFFER_INIT_SIZE;
    }
}

void kv_mp_buffer_give(msgpack_sbuffer *sb)
{
    kept *k = sb->data && sb->alloc == MSGPACK_SBUFFER_INIT_SIZE ? thread_kept() : NULL;
    if (k && k->nbuffers < KEPT_BUFFERS)
        k->buffers[k->nbuffers++] = sb->data;
    else
        free(sb->data);
    msgpack_sbuffer_init(sb);
}

bool kv_mp_str_eq(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

const msgpack_object *kv_mp_map_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (kv_mp_str_eq(&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    return NULL;
}

const msgpack_object *kv_mp_unknown_key(const msgpack_object *map, const char *const *allowed)
{
    for (uint32_t i = 0; map && map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        const char *const *a = allowed;
        while (*a && !kv_mp_str_eq(k, *a))
            a++;
        if (!*a)
            return k;
    }
    return NULL;
}

const char *kv_mp_type_name(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "null";
    case MSGPACK_OBJECT_BOOLEAN: return "boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "float";
    case MSGPACK_OBJECT_STR: return "string";
    case MSGPACK_OBJECT_BIN: return "bytes";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_EXT: return o->via.ext.type == -1 ? "timestamp" : "extension";
    }
    return "unknown";
}

size_t kv_utf8_seq(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c;
    size_t n;
    uint32_t cp;
    if (len == 0)
        return 0;
    c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
    else return 0;
    if (len <= n)
        return 0;
    for (size_t k = 1; k <= n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n + 1;
}

bool kv_utf8_valid(const char *str, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if ((unsigned char)str[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = kv_utf8_seq(str + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

void kv_pack_strn(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    if (len) /* an empty str from msgpack-c has a NULL pointer */
        msgpack_pack_str_body(pk, s, len);
}

void kv_pack_cstr(msgpack_packer *pk, const char *s) { kv_pack_strn(pk, s, strlen(s)); }

void kv_pack_decimal(msgpack_packer *pk, const char *text, size_t len)
{
    msgpack_pack_ext(pk, len, KV_EXT_DECIMAL);
    msgpack_pack_ext_body(pk, text, len);
}

bool kv_mp_str_payload(const char *data, size_t len, const char **text, size_t *text_len)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t head, n;
    if (len == 0)
        return false;
    if (p[0] >= 0xa0 && p[0] <= 0xbf) {
        head = 1;
        n = p[0] & 0x1f;
    } else if (p[0] == 0xd9 && len >= 2) {
        head = 2;
        n = p[1];
    } else if (p[0] == 0xda && len >= 3) {
        head = 3;
        n = (size_t)p[1] << 8 | p[2];
    } else if (p[0] == 0xdb && len >= 5) {
        head = 5;
        n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
    } else {
        return false;
    }
    if (len - head != n)
        return false;
    *text = data + head;
    *text_len = n;
    return true;
}
