/* kvorm_schema_from_msgpack. Input: the schema document in MessagePack.
 * Oracles: the status is OK or SCHEMA and the last error says so, with a message in valid UTF-8; a loaded schema's layouts are well-formed and
 * compare equal to themselves, and loading its JSON form (when it has one) gives the same layouts. */
#include "fuzz_common.h"

#include "json_bridge.h"
#include "kvorm.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

/* The same checks as fuzz_schema_json.c. */
static void check_loaded(const kvorm_schema *s)
{
    FZ_CHECK(s->nmodels > 0 && s->ns && s->ns[0], "empty schema loaded");
    for (int i = 0; i < s->nmodels; i++) {
        const kv_model *m = &s->models[i];
        size_t used = 0;
        kv_error err = {0};
        FZ_CHECK(kv_mp_check(m->layout, m->layout_len, &used, KV_MAX_DEPTH) == KV_MP_OK && used == m->layout_len,
                 "layout of %s is not one MessagePack document", m->name);
        FZ_CHECK(kv_layout_compare(m, m->layout, m->layout_len, &err) == 0, "layout of %s differs from itself: %s",
                 m->name, err.message);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kvorm_schema *s = NULL;
    char *doc = malloc(size ? size : 1); /* exact size */
    if (size)
        memcpy(doc, data, size);
    int rc = kvorm_schema_from_msgpack(&s, doc, size);
    FZ_CHECK(rc == KVORM_OK || rc == KVORM_ESCHEMA, "status %d: %s", rc, kvorm_last_error_message());
    FZ_CHECK(kvorm_last_error_code() == rc, "last error %d, status %d", kvorm_last_error_code(), rc);
    if (rc != 0) {
        const char *msg = kvorm_last_error_message();
        FZ_CHECK(s == NULL && msg[0] != '\0', "failure without a message");
        FZ_CHECK(fz_utf8_valid(msg, strlen(msg)), "error message is not UTF-8: %s", fz_show(msg, strlen(msg)));
        free(doc);
        return 0;
    }
    check_loaded(s);

    /* a document without bin, ext or non-string keys has a JSON form, which must load the same */
    char *json = NULL;
    size_t jlen = 0;
    kv_error err = {0};
    if (kv_msgpack_to_json(&json, &jlen, doc, size, &err) == 0) {
        kvorm_schema *s2 = NULL;
        int rc2 = kvorm_schema_from_json(&s2, json, jlen);
        /* only jansson may refuse the JSON form (an integer beyond int64, say) */
        FZ_CHECK(rc2 == 0 || strncmp(kvorm_last_error_message(), "invalid JSON", 12) == 0,
                 "the JSON form %s is refused: %s", fz_show(json, jlen), kvorm_last_error_message());
        if (rc2 == 0) {
            FZ_CHECK(s2->nmodels == s->nmodels, "JSON form has %d models, not %d", s2->nmodels, s->nmodels);
            for (int i = 0; i < s->nmodels; i++)
                FZ_CHECK(s->models[i].layout_len == s2->models[i].layout_len &&
                             memcmp(s->models[i].layout, s2->models[i].layout, s->models[i].layout_len) == 0,
                         "model %s has another layout from JSON", s->models[i].name);
            kvorm_schema_free(s2);
        }
        free(json);
    }
    kvorm_schema_free(s);
    free(doc);
    return 0;
}
