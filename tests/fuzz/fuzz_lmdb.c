/* The LMDB engine's decoders (core/src/lmdb/). Input: a mode byte, then the payload:
 *   mode 0: an lmdb:// URL (kv_lmdb_parse_url);
 *   mode 1: a stored record value (kv_lmdb_record_decode) for a fixed model;
 *   mode 2: a stored bucket of long keys (lmdb_keys.c), put raw into a real environment and read back with
 *           kv_lmdb_get and an iterator, inside a write transaction that is aborted.
 * Oracles: a URL is accepted with a path, or refused with MISUSE and a valid UTF-8 message; a decoded record's
 * values lie inside the input, and encoding them again decodes to the same values and version; a bucket reads as
 * found, not found or corrupted, never more, and every key an iterator returns is a long key of the prefix. */
#include "fuzz_common.h"

#include "kvorm.h"
#include "lmdb/lmdb_internal.h"
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static kvorm_schema *schema;
static const kv_model *model;
static lm_env *env;
static char dir[64];

static const char schema_json[] =
    "{\"namespace\": \"fz\", \"models\": {\"M\": {\"id\": {\"type\": \"string\"}, \"fields\": {"
    " \"a\": {\"type\": \"string\"}, \"b\": {\"type\": \"integer\", \"optional\": true},"
    " \"c\": {\"type\": \"json\", \"optional\": true}}}}}";

static void remove_dir(void)
{
    char path[96];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FZ_CHECK(kvorm_schema_from_json(&schema, schema_json, strlen(schema_json)) == 0, "schema: %s",
             kvorm_last_error_message());
    model = kv_schema_model(schema, "M", 1);
    snprintf(dir, sizeof(dir), "/tmp/kvorm-fuzz-lmdb-%d", (int)getpid());
    char url[96];
    snprintf(url, sizeof(url), "lmdb://%s?sync=nosync&mapsize=67108864", dir);
    lm_config cfg = {0};
    kv_error err = {0};
    FZ_CHECK(kv_lmdb_parse_url(&cfg, url, &err) == 0, "url: %s", err.message);
    FZ_CHECK(kv_lmdb_env_acquire(&env, &cfg, &err) == 0, "env: %s", err.message);
    kv_lmdb_config_free(&cfg);
    atexit(remove_dir);
    return 0;
}

static void fuzz_url(const char *data, size_t size)
{
    char *url = fz_strndup(data, size);
    lm_config cfg = {0};
    kv_error err = {0};
    int rc = kv_lmdb_parse_url(&cfg, url, &err);
    if (rc == 0)
        FZ_CHECK(cfg.path && cfg.path[0], "accepted without a path");
    else
        FZ_CHECK(rc == KVORM_EMISUSE && fz_utf8_valid(err.message, strlen(err.message)), "refused with %d", rc);
    kv_lmdb_config_free(&cfg);
    free(url);
}

static void fuzz_record(const char *data, size_t size)
{
    const char *values[3], *again[3];
    size_t lens[3], lens2[3];
    int64_t version = 0, version2 = 0;
    kv_error err = {0};
    if (kv_lmdb_record_decode(model, data, size, values, lens, &version, &err) != 0) {
        FZ_CHECK(err.code == KVORM_EINTERNAL, "decode failed with %d", err.code);
        return;
    }
    for (int f = 0; f < 3; f++)
        FZ_CHECK(!values[f] || (values[f] >= data && values[f] + lens[f] <= data + size), "value %d outside", f);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    FZ_CHECK(kv_lmdb_record_encode(&sb, model, version, values, lens, NULL, 0, &err) == 0, "encode: %s",
             err.message);
    FZ_CHECK(kv_lmdb_record_decode(model, sb.data, sb.size, again, lens2, &version2, &err) == 0, "decode again");
    FZ_CHECK(version2 == version, "version %lld, then %lld", (long long)version, (long long)version2);
    for (int f = 0; f < 3; f++)
        FZ_CHECK((!values[f] && !again[f]) ||
                     (values[f] && again[f] && lens[f] == lens2[f] && memcmp(values[f], again[f], lens[f]) == 0),
                 "field %d changed", f);
    msgpack_sbuffer_destroy(&sb);
}

static void fuzz_bucket(const char *data, size_t size)
{
    static const char prefix[] = "fz\0M\0ix\0";
    size_t plen = sizeof(prefix) - 1, klen = env->maxkey + 8;
    char *key = malloc(klen);
    lm_txn t;
    kv_error err = {0};
    memset(key, 'k', klen);
    memcpy(key, prefix, plen);
    FZ_CHECK(kv_lmdb_begin(env, true, &t, &err) == 0, "begin: %s", err.message);
    MDB_val k = {env->maxkey, key}, v = {size, (void *)data};
    FZ_CHECK(mdb_put(t.txn, env->dbi[LM_INDEX], &k, &v, 0) == 0, "raw put");
    MDB_val got;
    int rc = kv_lmdb_get(t.txn, env, LM_INDEX, key, klen, &got);
    FZ_CHECK(rc == 0 || rc == MDB_NOTFOUND || rc == MDB_CORRUPTED, "get gave %d", rc);
    if (rc == 0)
        FZ_CHECK((const char *)got.mv_data >= data || got.mv_size <= size, "value size");
    lm_iter it;
    if (kv_lmdb_iter_open(&it, t.txn, env, LM_INDEX, prefix, plen, &(kv_bound){0}, &(kv_bound){0}, size & 1) == 0) {
        const char *ik;
        size_t il;
        MDB_val iv;
        for (int n = 0; n < 10000 && (rc = kv_lmdb_iter_next(&it, &ik, &il, &iv)) == 0; n++)
            FZ_CHECK(il + plen >= env->maxkey, "a short key from a bucket: %zu bytes", il);
        FZ_CHECK(rc == 0 || rc == MDB_NOTFOUND || rc == MDB_CORRUPTED, "iterator gave %d", rc);
        kv_lmdb_iter_close(&it);
    }
    kv_lmdb_abort(&t);
    free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *payload = (const char *)data + 1;
    switch (data[0] % 3) {
    case 0:
        fuzz_url(payload, size - 1);
        break;
    case 1:
        fuzz_record(payload, size - 1);
        break;
    default:
        fuzz_bucket(payload, size - 1);
    }
    return 0;
}
