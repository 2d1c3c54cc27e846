/* The public C API (kvorm.h): argument checks, handle lifetimes and buffers; the work is done in exec.c. */
#include "kvorm.h"

#include "db.h"
#include "json_bridge.h"
#include "request.h"

#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const char *kvorm_version(void) { return "0.1.0"; }

void kvorm_free(void *buf) { free(buf); }

static int misuse(const char *what) { return kv_fail(NULL, KVORM_EMISUSE, "%s", what); }

int kvorm_schema_from_msgpack(kvorm_schema **out, const void *data, size_t len)
{
    kv_error err = {0};
    if (!out)
        return misuse("kvorm_schema_from_msgpack: out is NULL");
    *out = NULL;
    if (!data && len)
        return misuse("kvorm_schema_from_msgpack: data is NULL");
    if (kv_schema_load(out, data ? data : "", len, &err) != 0)
        return err.code;
    kv_error_clear();
    return 0;
}

int kvorm_schema_from_json(kvorm_schema **out, const char *json, size_t len)
{
    kv_error err = {0};
    msgpack_sbuffer sb;
    int rc;
    if (!out)
        return misuse("kvorm_schema_from_json: out is NULL");
    *out = NULL;
    if (!json)
        return misuse("kvorm_schema_from_json: json is NULL");
    msgpack_sbuffer_init(&sb);
    if ((rc = kv_json_to_msgpack(&sb, json, len, KVORM_ESCHEMA, &err)) == 0)
        rc = kv_schema_load(out, sb.data, sb.size, &err);
    msgpack_sbuffer_destroy(&sb);
    if (rc == 0)
        kv_error_clear();
    return rc;
}

int kvorm_schema_from_file(kvorm_schema **out, const char *path)
{
    FILE *f;
    char *buf = NULL, shown[256], why[128];
    size_t len = 0, cap = 0, n;
    int rc;
    if (!out || !path)
        return misuse("kvorm_schema_from_file: out or path is NULL");
    *out = NULL;
    /* the path and strerror's text (in the locale's language) may be any bytes: messages stay UTF-8 */
    kv_sanitize(shown, sizeof(shown), path, strlen(path));
    if (!(f = fopen(path, "rb"))) {
        kv_sanitize(why, sizeof(why), strerror(errno), strlen(strerror(errno)));
        return kv_fail(NULL, KVORM_ESCHEMA, "schema: cannot open %s: %s", shown, why);
    }
    do {
        if (len == cap) {
            char *grown = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!grown || cap > (64u << 20)) {
                free(grown ? grown : buf);
                fclose(f);
                return kv_fail(NULL, grown ? KVORM_ESCHEMA : KVORM_EINTERNAL, "schema: %s is too large to load", shown);
            }
            buf = grown;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    rc = ferror(f) ? kv_fail(NULL, KVORM_ESCHEMA, "schema: cannot read %s", shown) : 0;
    fclose(f);
    if (rc == 0)
        rc = kvorm_schema_from_json(out, buf, len);
    free(buf);
    return rc;
}

void kvorm_schema_free(kvorm_schema *schema) { kv_schema_unref(schema); }

int kvorm_open_options_init(kvorm_open_options *opts, unsigned int version)
{
    if (!opts)
        return misuse("kvorm_open_options_init: opts is NULL");
    if (version < 1 || version > KVORM_OPEN_OPTIONS_VERSION)
        return kv_fail(NULL, KVORM_EMISUSE, "kvorm_open_options_init: unknown options version %u", version);
    memset(opts, 0, kv_open_options_size(version)); /* an older caller's struct is shorter */
    opts->version = version;
    return 0;
}

int kvorm_open(kvorm_db **out, const char *url, const kvorm_schema *schema, const kvorm_open_options *opts)
{
    kv_error err = {0};
    kvorm_db *db;
    int rc;
    if (!out)
        return misuse("kvorm_open: out is NULL");
    *out = NULL;
    if (!schema)
        return misuse("kvorm_open: schema is required");
    if (!url) /* no URL: the environment's, else the embedded store in the working directory */
        url = getenv("KVORM_URL") && *getenv("KVORM_URL") ? getenv("KVORM_URL") : KVORM_DEFAULT_URL;
    if (opts && (opts->version < 1 || opts->version > KVORM_OPEN_OPTIONS_VERSION))
        return kv_fail(NULL, KVORM_EMISUSE, "kvorm_open: options version %u is not 1 to %d (use kvorm_open_options_init)",
                       opts->version, KVORM_OPEN_OPTIONS_VERSION);
    if (!(db = calloc(1, sizeof(*db))))
        return kv_fail(NULL, KVORM_EINTERNAL, "out of memory");
    db->schema = kv_schema_ref(schema);
    db->refuse_scans = opts && opts->version >= 2 && opts->refuse_scans;
    db->indexes_ready = calloc((size_t)db->schema->nmodels + 1, sizeof(*db->indexes_ready));
    if (!db->indexes_ready) {
        kvorm_close(db);
        return kv_fail(NULL, KVORM_EINTERNAL, "out of memory");
    }
    if ((rc = kv_engine_open(&db->engine, url, opts, &err)) != 0 ||
        (rc = db->engine->ops->sync_schema(db->engine, db->schema, &err)) != 0) {
        kv_error_publish(&err);
        kvorm_close(db);
        return rc;
    }
    *out = db;
    kv_error_clear();
    return 0;
}

void kvorm_close(kvorm_db *db)
{
    if (!db)
        return;
    if (db->engine)
        db->engine->ops->close(db->engine);
    kv_schema_unref(db->schema);
    free((void *)db->indexes_ready);
    free(db);
}

/* Hands the response buffer to the caller without a copy. */
static void take(msgpack_sbuffer *sb, unsigned char **out, size_t *out_len)
{
    *out = (unsigned char *)sb->data;
    *out_len = sb->size;
    if (!*out)
        *out = malloc(1);
    sb->data = NULL;
    sb->size = sb->alloc = 0;
}

int kvorm_exec(unsigned char **out, size_t *out_len, kvorm_db *db, const void *request, size_t request_len)
{
    msgpack_sbuffer sb;
    int rc;
    if (!out || !out_len)
        return misuse("kvorm_exec: out and out_len are required");
    *out = NULL;
    *out_len = 0;
    if (!db)
        return misuse("kvorm_exec: db is NULL");
    if (!request && request_len)
        return misuse("kvorm_exec: request is NULL");
    msgpack_sbuffer_init(&sb);
    rc = kv_exec(db, request ? request : "", request_len, KV_MODE_MSGPACK, &sb);
    take(&sb, out, out_len);
    if (!*out)
        return kv_fail(NULL, KVORM_EINTERNAL, "out of memory");
    return rc;
}

int kvorm_exec_batch(unsigned char **outs, size_t *out_lens, int *statuses, kvorm_db *db,
                     const void *const *requests, const size_t *request_lens, size_t n)
{
    msgpack_sbuffer *resps;
    if (n == 0)
        return db ? KVORM_OK : misuse("kvorm_exec_batch: db is NULL");
    if (!outs || !out_lens || !statuses || !requests || !request_lens)
        return misuse("kvorm_exec_batch: outs, out_lens, statuses, requests and request_lens are required");
    if (!db)
        return misuse("kvorm_exec_batch: db is NULL");
    for (size_t i = 0; i < n; i++)
        if (!requests[i] && request_lens[i])
            return misuse("kvorm_exec_batch: a request is NULL");
    if (!(resps = calloc(n, sizeof(*resps))))
        return kv_fail(NULL, KVORM_EINTERNAL, "out of memory for a batch of %zu requests", n);
    for (size_t i = 0; i < n; i++)
        msgpack_sbuffer_init(&resps[i]);
    /* a NULL request of length 0 is read as an empty (malformed) document, as kvorm_exec does */
    kv_exec_many(db, n, (const char *const *)requests, request_lens, KV_MODE_MSGPACK, resps, statuses);
    for (size_t i = 0; i < n; i++) {
        take(&resps[i], &outs[i], &out_lens[i]);
        if (!outs[i])
            statuses[i] = kv_fail(NULL, KVORM_EINTERNAL, "out of memory");
    }
    free(resps);
    return KVORM_OK;
}

int kvorm_exec_json(char **out, size_t *out_len, kvorm_db *db, const char *request, size_t request_len)
{
    kv_error err = {0};
    msgpack_sbuffer req, resp;
    int rc, conv;
    if (!out || !out_len)
        return misuse("kvorm_exec_json: out and out_len are required");
    *out = NULL;
    *out_len = 0;
    if (!db || !request)
        return misuse("kvorm_exec_json: db and request are required");
    msgpack_sbuffer_init(&req);
    msgpack_sbuffer_init(&resp);
    if (request_len > KV_MAX_REQUEST_BYTES) {
        rc = kv_fail(&err, KVORM_EBAD_REQUEST, "the request is %zu bytes, over the limit of %u", request_len,
                     KV_MAX_REQUEST_BYTES);
        goto error_doc;
    }
    if ((rc = kv_json_to_msgpack(&req, request, request_len, KVORM_EBAD_REQUEST, &err)) != 0)
        goto error_doc;
    rc = kv_exec(db, req.data, req.size, KV_MODE_JSON, &resp);
    goto convert;
error_doc:
    /* an unreadable JSON request still gets an error document */
    kv_pack_error(&resp, &err, NULL, 0);
convert:
    /* the conversion publishes an error only when it fails itself; the request's own error stays readable */
    conv = kv_msgpack_to_json(out, out_len, resp.data, resp.size, &err);
    if (conv != 0)
        rc = conv;
    msgpack_sbuffer_destroy(&req);
    msgpack_sbuffer_destroy(&resp);
    return rc;
}

int kvorm_capabilities(unsigned char **out, size_t *out_len, kvorm_db *db)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!out || !out_len || !db)
        return misuse("kvorm_capabilities: out, out_len and db are required");
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    kv_pack_capabilities(db, &pk);
    take(&sb, out, out_len);
    kv_error_clear();
    return *out ? 0 : kv_fail(NULL, KVORM_EINTERNAL, "out of memory");
}

/* The capabilities map (docs/protocol.md): the engine's facts, then what the core adds, the format version and
 * every op of the table. */
static void pack_bool(msgpack_packer *pk, bool v) { v ? msgpack_pack_true(pk) : msgpack_pack_false(pk); }

void kv_pack_capabilities(kvorm_db *db, msgpack_packer *pk)
{
    kv_engine_facts f = {0};
    db->engine->ops->facts(db->engine, &f);
    msgpack_pack_map(pk, 21); /* 19 facts, formatVersion, ops */
    kv_pack_cstr(pk, "engine");
    kv_pack_cstr(pk, f.engine);
    kv_pack_cstr(pk, "serverVersion");
    kv_pack_cstr(pk, f.server_version);
    /* what the core does the same way on every engine */
    kv_pack_cstr(pk, "atomicWrites");
    msgpack_pack_true(pk);
    kv_pack_cstr(pk, "transactions");
    pack_bool(pk, f.transactions);
    kv_pack_cstr(pk, "snapshotReads");
    pack_bool(pk, f.snapshot_reads);
    kv_pack_cstr(pk, "readOnly");
    pack_bool(pk, f.read_only);
    kv_pack_cstr(pk, "ttl");
    msgpack_pack_false(pk);
    kv_pack_cstr(pk, "generatedIntegerIds");
    msgpack_pack_true(pk);
    kv_pack_cstr(pk, "generatedStringIds");
    msgpack_pack_array(pk, 2);
    kv_pack_cstr(pk, "ulid");
    kv_pack_cstr(pk, "uuidv7");
    kv_pack_cstr(pk, "uniqueConstraints");
    msgpack_pack_true(pk);
    kv_pack_cstr(pk, "compoundUnique");
    msgpack_pack_true(pk);
    kv_pack_cstr(pk, "optimisticLocking");
    msgpack_pack_true(pk);
    kv_pack_cstr(pk, "secondaryIndexes");
    msgpack_pack_true(pk);
    kv_pack_cstr(pk, "relations");
    msgpack_pack_true(pk);
    kv_pack_cstr(pk, "parallelCalls");
    pack_bool(pk, f.parallel_calls);
    kv_pack_cstr(pk, "maxValueBytes");
    msgpack_pack_uint32(pk, KV_MAX_VALUE_BYTES);
    kv_pack_cstr(pk, "scanChunk");
    msgpack_pack_int(pk, f.scan_chunk);
    kv_pack_cstr(pk, "writesPerTrip");
    msgpack_pack_int(pk, f.writes_per_trip);
    kv_pack_cstr(pk, "atomicManyLimit");
    msgpack_pack_int(pk, f.atomic_many);
    kv_pack_cstr(pk, "formatVersion");
    msgpack_pack_int(pk, KV_FORMAT_VERSION);
    kv_pack_cstr(pk, "ops");
    msgpack_pack_array(pk, kv_nops);
    for (size_t i = 0; i < kv_nops; i++)
        kv_pack_cstr(pk, kv_ops[i].name);
}
