/* MessagePack decoding (core/src/mp.h): kv_mp_check and kv_mp_unpack on the input, and what reads decoded
 * documents: kv_value_describe (error messages about stored values), kv_msgpack_to_json (the responses of
 * kvorm_exec_json) and kv_utf8_valid.
 * Oracles: kv_mp_check and msgpack-c agree (a document the check passes unpacks, and a packed object passes the
 * check and re-packs to the same bytes); kv_utf8_valid agrees with an independent validator; JSON made from a
 * document whose strings are UTF-8 is valid JSON that converts back to the same JSON. */
#include "fuzz_common.h"

#include "json_bridge.h"
#include "mp.h"
#include "value.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void check_json(const char *doc, size_t len, const msgpack_object *root)
{
    char *json = NULL, *json2 = NULL;
    size_t jlen = 0, jlen2 = 0;
    kv_error err = {0};
    const msgpack_object *bad = NULL;
    if (kv_msgpack_to_json(&json, &jlen, doc, len, &err) != 0) {
        FZ_CHECK(json == NULL && err.code == KVORM_EINTERNAL, "failed conversion: code %d", err.code);
        return;
    }
    FZ_CHECK(json && json[jlen] == '\0' && strlen(json) == jlen, "JSON of %zu bytes, strlen %zu", jlen, strlen(json));
    if (fz_mp_strings_valid(root, &bad) && !fz_mp_has_big_uint(root)) {
        json_error_t jerr;
        json_t *j = json_loadb(json, jlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        /* jansson takes no NUL in an object key, which JSON allows */
        if (!j && strstr(jerr.text, "NUL byte in object key")) {
            free(json);
            return;
        }
        FZ_CHECK(j != NULL, "invalid JSON (%s at %d): %s", jerr.text, jerr.position, fz_show(json, jlen));
        json_decref(j);
        /* JSON -> MessagePack -> JSON is the identity on JSON text (maps without repeated keys) */
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        int rc = kv_json_to_msgpack(&sb, json, jlen, KVORM_EBAD_REQUEST, &err);
        if (rc == 0) {
            FZ_CHECK(kv_msgpack_to_json(&json2, &jlen2, sb.data, sb.size, &err) == 0, "back to JSON: %s", err.message);
            FZ_CHECK(jlen2 == jlen && memcmp(json, json2, jlen) == 0, "JSON round trip: %s -> %s", json, json2);
            free(json2);
        } else {
            /* jansson refuses repeated keys and deeper nesting than the MessagePack document had */
            FZ_CHECK(strstr(err.message, "duplicate") || strstr(err.message, "nested") ||
                         strstr(err.message, "depth"),
                     "JSON made by kvorm is refused: %s: %s", err.message, fz_show(json, jlen));
        }
        msgpack_sbuffer_destroy(&sb);
    }
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *doc = malloc(size ? size : 1); /* exact size */
    size_t used = 0;
    msgpack_object root;
    if (size)
        memcpy(doc, data, size);

    FZ_CHECK(kv_utf8_valid(doc, size) == fz_utf8_valid(doc, size), "kv_utf8_valid says %d for %s",
             kv_utf8_valid(doc, size), fz_show(doc, size));

    for (int depth = 0; depth <= KV_MAX_DEPTH + 1; depth += depth < 3 ? 1 : KV_MAX_DEPTH - 2) {
        kv_mp_check_result r = kv_mp_check(doc, size, &used, depth);
        FZ_CHECK(r == KV_MP_OK || r == KV_MP_TRUNCATED || r == KV_MP_INVALID || r == KV_MP_TOO_DEEP, "result %d",
                 (int)r);
        if (r == KV_MP_OK)
            FZ_CHECK(used >= 1 && used <= size, "consumed %zu of %zu", used, size);
    }

    kv_mp_check_result r = kv_mp_check(doc, size, &used, KV_MAX_DEPTH);
    msgpack_zone *zone = msgpack_zone_new(4096);
    kv_mp_check_result u = kv_mp_unpack(zone, doc, size, &root);
    if (r == KV_MP_OK && used == size)
        FZ_CHECK(u == KV_MP_OK, "kv_mp_check passes the document but kv_mp_unpack says %d", (int)u);
    else
        FZ_CHECK(u != KV_MP_OK, "kv_mp_unpack passes what kv_mp_check refuses (%d, %zu of %zu)", (int)r, used, size);

    char desc[160];
    memset(desc, 'x', sizeof(desc));
    kv_value_describe(desc, sizeof(desc), doc, size);
    FZ_CHECK(memchr(desc, 0, sizeof(desc)) != NULL, "kv_value_describe wrote no NUL");

    if (u == KV_MP_OK) {
        size_t len, len2;
        msgpack_object again;
        char *packed = fz_mp_pack(&root, &len);
        FZ_CHECK(kv_mp_check(packed, len, &used, KV_MAX_DEPTH) == KV_MP_OK && used == len,
                 "msgpack-c's packing of the object fails kv_mp_check");
        msgpack_zone *z2 = msgpack_zone_new(4096);
        FZ_CHECK(kv_mp_unpack(z2, packed, len, &again) == KV_MP_OK, "re-packed document does not unpack");
        char *packed2 = fz_mp_pack(&again, &len2);
        FZ_CHECK(len2 == len && memcmp(packed, packed2, len) == 0, "pack(unpack(pack(x))) != pack(x)");
        check_json(doc, size, &root);
        free(packed2);
        free(packed);
        msgpack_zone_free(z2);
    }
    msgpack_zone_free(zone);
    free(doc);
    return 0;
}
