#include "fuzz_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\n==== fuzz check failed at %s:%d: %s\n==== ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(stderr);
    abort();
}

char *fz_strndup(const void *data, size_t size)
{
    char *s = malloc(size + 1);
    FZ_CHECK(s != NULL, "out of memory");
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

bool fz_utf8_valid(const void *str, size_t n)
{
    const unsigned char *s = str;
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        unsigned lo = 0x80, hi = 0xbf;
        size_t extra;
        if (b <= 0x7f) {
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf) {
            extra = 1;
        } else if (b == 0xe0) {
            extra = 2;
            lo = 0xa0;
        } else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) {
            extra = 2;
        } else if (b == 0xed) {
            extra = 2;
            hi = 0x9f;
        } else if (b == 0xf0) {
            extra = 3;
            lo = 0x90;
        } else if (b >= 0xf1 && b <= 0xf3) {
            extra = 3;
        } else if (b == 0xf4) {
            extra = 3;
            hi = 0x8f;
        } else {
            return false;
        }
        if (n - i < extra + 1)
            return false;
        /* only the second byte has a narrowed range */
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= extra; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return false;
        i += extra + 1;
    }
    return true;
}

bool fz_mp_strings_valid(const msgpack_object *o, const msgpack_object **bad)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        if (!fz_utf8_valid(o->via.str.ptr, o->via.str.size)) {
            *bad = o;
            return false;
        }
        return true;
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (!fz_mp_strings_valid(&o->via.array.ptr[i], bad))
                return false;
        return true;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++)
            if (!fz_mp_strings_valid(&o->via.map.ptr[i].key, bad) || !fz_mp_strings_valid(&o->via.map.ptr[i].val, bad))
                return false;
        return true;
    default:
        return true;
    }
}

bool fz_mp_has_big_uint(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return o->via.u64 > (uint64_t)INT64_MAX;
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (fz_mp_has_big_uint(&o->via.array.ptr[i]))
                return true;
        return false;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++)
            if (fz_mp_has_big_uint(&o->via.map.ptr[i].key) || fz_mp_has_big_uint(&o->via.map.ptr[i].val))
                return true;
        return false;
    default:
        return false;
    }
}

char *fz_mp_pack(const msgpack_object *o, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    FZ_CHECK(msgpack_pack_object(&pk, *o) == 0, "msgpack_pack_object failed");
    *len = sb.size;
    if (!sb.data)
        return fz_strndup("", 0);
    return sb.data;
}

const char *fz_show(const void *data, size_t n)
{
    static char buf[64 * 4 + 8];
    const unsigned char *p = data;
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < n && i < 64; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
            buf[o++] = (char)p[i];
        else
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", p[i]);
    }
    buf[o++] = '"';
    if (n > 64) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

size_t fz_split(const uint8_t *data, size_t size, const char *sep, size_t sep_len, const uint8_t **pieces,
                size_t *lens, size_t max)
{
    size_t n = 0, start = 0, i = 0;
    if (max == 0)
        return 0;
    while (n + 1 < max && i + sep_len <= size) {
        if (memcmp(data + i, sep, sep_len) == 0) {
            pieces[n] = data + start;
            lens[n++] = i - start;
            i += sep_len;
            start = i;
        } else {
            i++;
        }
    }
    pieces[n] = data + start;
    lens[n++] = size - start;
    return n;
}
