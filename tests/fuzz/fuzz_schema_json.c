/* kvorm_schema_from_json. Input: the schema document.
 * Oracles: the status is OK or SCHEMA and the last error says so; the message of a failure is valid UTF-8 (kvorm.h
 * promises it for every message); a loaded schema loads the same from its MessagePack form, and each model's
 * stored layout is well-formed and compares equal to itself. */
#include "fuzz_common.h"

#include "json_bridge.h"
#include "kvorm.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

static void check_loaded(const kvorm_schema *s)
{
    FZ_CHECK(s->nmodels > 0 && s->ns && s->ns[0], "empty schema loaded");
    for (int i = 0; i < s->nmodels; i++) {
        const kv_model *m = &s->models[i];
        size_t used = 0;
        kv_error err = {0};
        FZ_CHECK(kv_schema_model(s, m->name, strlen(m->name)) == m, "model %s is not found by name", m->name);
        FZ_CHECK(kv_mp_check(m->layout, m->layout_len, &used, KV_MAX_DEPTH) == KV_MP_OK && used == m->layout_len,
                 "layout of %s is not one MessagePack document", m->name);
        FZ_CHECK(kv_layout_compare(m, m->layout, m->layout_len, &err) == 0, "layout of %s differs from itself: %s",
                 m->name, err.message);
        for (int u = 0; u < m->nuniques; u++) {
            FZ_CHECK(m->uniques[u].nfields >= 1 && m->uniques[u].name, "unique %d of %s", u, m->name);
            for (int k = 0; k < m->uniques[u].nfields; k++)
                FZ_CHECK(m->uniques[u].fields[k] >= 0 && m->uniques[u].fields[k] < m->nfields, "unique field index");
        }
        FZ_CHECK(m->position == i, "model %s has position %d", m->name, m->position);
        for (int x = 0; x < m->nindexes; x++) {
            const kv_index *ix = &m->indexes[x];
            FZ_CHECK(ix->nparts >= 1 && ix->nparts <= KV_MAX_INDEX_PARTS && ix->name &&
                         kv_model_index(m, ix->name, strlen(ix->name)) == x,
                     "index %d of %s", x, m->name);
            for (int k = 0; k < ix->nparts; k++)
                FZ_CHECK(ix->parts[k].field >= 0 && ix->parts[k].field < m->nfields &&
                             m->fields[ix->parts[k].field].type != KV_T_JSON,
                         "index %s of %s: part %d", ix->name, m->name, k);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kvorm_schema *s = NULL;
    char *json = malloc(size ? size : 1); /* exact size, not NUL-terminated: the length is the API's */
    if (size)
        memcpy(json, data, size);
    int rc = kvorm_schema_from_json(&s, json, size);
    FZ_CHECK(rc == KVORM_OK || rc == KVORM_ESCHEMA, "status %d: %s", rc, kvorm_last_error_message());
    FZ_CHECK(kvorm_last_error_code() == rc, "last error %d, status %d", kvorm_last_error_code(), rc);
    if (rc != 0) {
        const char *msg = kvorm_last_error_message();
        FZ_CHECK(s == NULL && msg[0] != '\0', "failure without a message");
        /* kvorm.h: messages are always valid UTF-8 (jansson quotes the text near a syntax error as it is) */
        FZ_CHECK(fz_utf8_valid(msg, strlen(msg)), "error message is not UTF-8: %s", fz_show(msg, strlen(msg)));
        free(json);
        return 0;
    }
    check_loaded(s);

    /* the same document in MessagePack loads to the same layouts */
    msgpack_sbuffer sb;
    kv_error err = {0};
    kvorm_schema *s2 = NULL;
    msgpack_sbuffer_init(&sb);
    FZ_CHECK(kv_json_to_msgpack(&sb, json, size, KVORM_ESCHEMA, &err) == 0, "JSON of a loaded schema: %s",
             err.message);
    FZ_CHECK(kvorm_schema_from_msgpack(&s2, sb.data, sb.size) == 0, "MessagePack form refused: %s",
             kvorm_last_error_message());
    FZ_CHECK(s2->nmodels == s->nmodels && strcmp(s2->ns, s->ns) == 0, "different schema from MessagePack");
    for (int i = 0; i < s->nmodels; i++)
        FZ_CHECK(strcmp(s->models[i].name, s2->models[i].name) == 0 &&
                     s->models[i].layout_len == s2->models[i].layout_len &&
                     memcmp(s->models[i].layout, s2->models[i].layout, s->models[i].layout_len) == 0,
                 "model %s has another layout from MessagePack", s->models[i].name);
    msgpack_sbuffer_destroy(&sb);
    kvorm_schema_free(s2);
    kvorm_schema_free(s);
    free(json);
    return 0;
}
