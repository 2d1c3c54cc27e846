/* The index key encoding (core/src/keycode.h). Input: a mode byte, a parameter byte, then the payload:
 *   mode 0: an index key of (parameter % 4) parts: kv_key_skip over it, then kv_key_id;
 *   mode 1: a stored value of type (parameter % 9), descending when bit 4 is set: kv_key_append_value;
 *   mode 2: an id's key text, for an integer id when bit 0 is set: kv_key_append_id, then kv_key_id;
 *   mode 3: a stored str: kv_key_append_string_prefix and kv_key_prefix_end.
 * Oracles: a skipped element has the same size complemented (the other direction) and skips alone to that size;
 * an id read back from a key re-encodes to the very same bytes; an encoded value skips to exactly its size with
 * the same "cut" flag, and its descending form is its complement; the key of a string starts with the prefix
 * element of that string and lies below the prefix's end. */
#include "fuzz_common.h"

#include "keycode.h"
#include "value.h"

#include <stdlib.h>
#include <string.h>

static void complement(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)~(unsigned char)p[i];
}

static void check_skip_and_id(const char *key, size_t len, int nparts)
{
    size_t off = 0;
    while (off < len) {
        bool cut = false, cut2 = false;
        size_t n = kv_key_skip(key + off, len - off, &cut);
        FZ_CHECK(n <= len - off, "skip %zu past the %zu bytes left", n, len - off);
        if (n == 0) {
            FZ_CHECK(!cut, "cut set on a malformed element");
            break;
        }
        FZ_CHECK(kv_key_skip(key + off, n, &cut2) == n && cut2 == cut, "the element alone skips differently");
        char *c = malloc(n);
        memcpy(c, key + off, n);
        complement(c, n);
        FZ_CHECK(kv_key_skip(c, n, &cut2) == n && cut2 == cut, "the complemented element skips differently");
        free(c);
        off += n;
    }

    char text[KV_MAX_ID_BYTES + 1];
    size_t tl = 0;
    kv_error err;
    if (kv_key_id(text, &tl, key, len, nparts, &err) != 0) {
        FZ_CHECK(err.code == KVORM_EINTERNAL, "kv_key_id failed with %d", err.code);
        return;
    }
    FZ_CHECK(tl <= KV_MAX_ID_BYTES && text[tl] == 0, "id text of %zu bytes", tl);
    /* the id element is the tail of the key: rebuild it from the text */
    size_t head = 0;
    for (int i = 0; i < nparts; i++)
        head += kv_key_skip(key + head, len - head, NULL);
    kv_model m;
    memset(&m, 0, sizeof m);
    m.name = "F";
    m.id_kind = (unsigned char)key[head] == KV_KEY_INT ? KV_ID_INTEGER : KV_ID_STRING;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    FZ_CHECK(kv_key_append_id(&sb, &m, text, tl, &err) == 0, "id %s does not encode: %s", fz_show(text, tl),
             err.message);
    FZ_CHECK(sb.size == len - head && memcmp(sb.data, key + head, sb.size) == 0, "id %s re-encodes differently",
             fz_show(text, tl));
    msgpack_sbuffer_destroy(&sb);
}

static void check_value(kv_type t, bool desc, const char *stored, size_t len)
{
    msgpack_sbuffer a, b;
    kv_error err;
    bool cut = false, cut2 = false;
    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&b);
    int rc = kv_key_append_value(&a, t, stored, len, desc, &cut, &err);
    if (rc != 0) {
        FZ_CHECK(rc == KVORM_EINTERNAL && a.size == 0 && !cut, "failure %d appended %zu bytes", rc, a.size);
    } else {
        FZ_CHECK(a.size > 0 && kv_key_skip(a.data, a.size, &cut2) == a.size, "the element does not skip to its size");
        FZ_CHECK(cut2 == cut, "cut flags differ");
        FZ_CHECK(kv_key_append_value(&b, t, stored, len, !desc, NULL, &err) == 0, "the other direction fails");
        FZ_CHECK(b.size == a.size, "directions differ in size");
        complement(b.data, b.size);
        FZ_CHECK(memcmp(a.data, b.data, a.size) == 0, "descending is not the complement");
    }
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
}

static void check_id(bool integer, const char *id, size_t len)
{
    kv_model m;
    memset(&m, 0, sizeof m);
    m.name = "F";
    m.id_kind = integer ? KV_ID_INCREMENT : KV_ID_ULID;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    kv_error err;
    if (kv_key_append_id(&sb, &m, id, len, &err) == 0) {
        char text[KV_MAX_ID_BYTES + 1];
        size_t tl = 0;
        FZ_CHECK(kv_key_id(text, &tl, sb.data, sb.size, 0, &err) == 0, "the id element does not read back: %s",
                 err.message);
        FZ_CHECK(tl == len && memcmp(text, id, len) == 0, "id %s reads back as %s", fz_show(id, len),
                 fz_show(text, tl));
    } else {
        FZ_CHECK(sb.size == 0, "a failed id appended bytes");
    }
    msgpack_sbuffer_destroy(&sb);
}

static void check_prefix(const char *stored, size_t len)
{
    msgpack_sbuffer p, k;
    kv_error err;
    msgpack_sbuffer_init(&p);
    msgpack_sbuffer_init(&k);
    int rc = kv_key_append_string_prefix(&p, stored, len, &err);
    int rk = kv_key_append_value(&k, KV_T_STRING, stored, len, false, NULL, &err);
    FZ_CHECK((rc == 0) == (rk == 0), "prefix and value disagree on the input (%d, %d)", rc, rk);
    if (rc == 0) {
        FZ_CHECK(k.size >= p.size && memcmp(k.data, p.data, p.size) == 0, "the key does not start with its prefix");
        char *end = malloc(p.size);
        size_t el = 0;
        kv_key_prefix_end(end, &el, p.data, p.size);
        FZ_CHECK(el <= p.size, "prefix end longer than the prefix");
        if (el > 0) {
            size_t n = el < k.size ? el : k.size;
            int c = memcmp(k.data, end, n);
            FZ_CHECK(c < 0 || (c == 0 && k.size < el), "the key is not below the prefix end");
        }
        free(end);
    }
    msgpack_sbuffer_destroy(&p);
    msgpack_sbuffer_destroy(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned mode = data[0] % 4, param = data[1];
    size_t n = size - 2;
    /* exact-size copy: a read past the input is an ASan report */
    char *in = malloc(n ? n : 1);
    if (n)
        memcpy(in, data + 2, n);
    switch (mode) {
    case 0: check_skip_and_id(in, n, (int)(param % 4)); break;
    case 1: check_value((kv_type)(param % 9), (param & 0x10) != 0, in, n); break;
    case 2: check_id((param & 1) != 0, in, n); break;
    default: check_prefix(in, n); break;
    }
    free(in);
    return 0;
}
