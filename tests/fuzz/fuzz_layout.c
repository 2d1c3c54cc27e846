/* kv_layout_compare (core/src/schema.h): the stored layout read from <ns>:$schema at kvorm_open is a document
 * from the store, decoded here. Input: a stored layout, compared with every model of a fixed schema.
 * Oracles: the result is 0 (same), 1 (compatible) or SCHEMA_MISMATCH with a message in valid UTF-8; 0 only for the exact bytes
 * of the model's own layout; kv_layout_index_changes (the indexes to build and drop) accepts exactly what
 * kv_layout_compare accepts, never calls a current index removed, and finds nothing new in the model's own layout. */
#include "fuzz_common.h"

#include "kvorm.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

static kvorm_schema *schema;

static const char schema_json[] =
    "{\"namespace\": \"fz\", \"models\": {"
    "\"User\": {\"id\": {\"type\": \"string\", \"generate\": \"ulid\"}, \"fields\": {"
    "  \"email\": {\"type\": \"string\", \"unique\": true}, \"org\": {\"type\": \"string\", \"optional\": true},"
    "  \"age\": {\"type\": \"integer\", \"optional\": true}, \"score\": {\"type\": \"float\", \"default\": 0},"
    "  \"active\": {\"type\": \"boolean\", \"default\": true}, \"at\": {\"type\": \"datetime\", \"optional\": true},"
    "  \"balance\": {\"type\": \"decimal\", \"default\": \"0\"},"
    "  \"role\": {\"type\": \"enum\", \"values\": [\"admin\", \"member\"], \"default\": \"member\"},"
    "  \"profile\": {\"type\": \"json\", \"optional\": true}, \"avatar\": {\"type\": \"bytes\", \"optional\": true}},"
    " \"unique\": [[\"org\", \"email\"], {\"fields\": [\"role\", \"at\"], \"name\": \"roleAt\"}],"
    " \"indexes\": [[\"org\", {\"field\": \"age\", \"order\": \"desc\"}], {\"name\": \"by_at\", \"fields\": [\"at\"]}]},"
    "\"Counter\": {\"id\": {\"type\": \"integer\", \"generate\": \"increment\"},"
    " \"fields\": {\"n\": {\"type\": \"integer\", \"optional\": true, \"index\": true}}},"
    "\"Item\": {\"id\": {\"type\": \"string\"}, \"fields\": {\"kind\": {\"type\": \"enum\", \"values\": [\"a\"]}}},"
    "\"Num\": {\"id\": {\"type\": \"integer\"}, \"fields\": {}},"
    "\"Ev\": {\"id\": {\"type\": \"string\", \"generate\": \"uuidv7\"}, \"fields\": {\"x\": {\"type\": \"string\"}}}}}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FZ_CHECK(kvorm_schema_from_json(&schema, schema_json, strlen(schema_json)) == 0, "fixed schema: %s",
             kvorm_last_error_message());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *doc = malloc(size ? size : 1); /* exact size */
    if (size)
        memcpy(doc, data, size);
    for (int i = 0; i < schema->nmodels; i++) {
        const kv_model *m = &schema->models[i];
        kv_error err = {0};
        int rc = kv_layout_compare(m, doc, size, &err);
        FZ_CHECK(rc == 0 || rc == 1 || rc == KVORM_ESCHEMA_MISMATCH, "%s: result %d", m->name, rc);
        bool same = size == m->layout_len && memcmp(doc, m->layout, size) == 0;
        FZ_CHECK((rc == 0) == same, "%s: result %d for %s the layout", m->name, rc, same ? "exactly" : "not");
        {
            /* kv_layout_index_changes accepts exactly what kv_layout_compare accepts */
            bool is_new[KV_MAX_BUILT];
            kv_layout_removed removed = {0};
            kv_error err2 = {0};
            msgpack_zone *zone = msgpack_zone_new(1024);
            FZ_CHECK(zone, "zone");
            int rc2 = kv_layout_index_changes(m, doc, size, is_new, &removed, zone, &err2);
            FZ_CHECK(size == 0 ? rc2 == 0 : rc2 == (rc < 0 ? rc : 0), "%s: index changes %d, compare %d", m->name,
                     rc2, rc);
            for (int k = 0; rc2 == 0 && k < removed.nindexes; k++)
                FZ_CHECK(removed.indexes[k][0] &&
                             kv_model_index(m, removed.indexes[k], strlen(removed.indexes[k])) < 0,
                         "%s: removed index %s is current", m->name, removed.indexes[k]);
            for (int k = 0; rc2 == 0 && k < removed.nuniques; k++)
                FZ_CHECK(removed.uniques[k][0] &&
                             kv_model_unique(m, removed.uniques[k], strlen(removed.uniques[k])) < 0,
                         "%s: removed unique %s is current", m->name, removed.uniques[k]);
            for (int k = 0; rc == 0 && k < kv_model_nbuilt(m); k++)
                FZ_CHECK(!is_new[k], "%s: index or unique %d is new in its own layout", m->name, k);
            msgpack_zone_free(zone);
        }
        if (rc < 0)
            FZ_CHECK(err.code == rc && err.message[0] && memchr(err.message, 0, sizeof(err.message)) &&
                         err.model == m->name && fz_utf8_valid(err.message, strlen(err.message)),
                     "%s: error %d \"%s\"", m->name, err.code, err.message);
    }
    free(doc);
    return 0;
}
