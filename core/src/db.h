/* The kvorm_db handle and the request executor behind kvorm_exec. */
#ifndef KVORM_DB_H
#define KVORM_DB_H

#include "engine.h"
#include "value.h"

struct kvorm_db {
    kvorm_schema *schema;
    kv_engine *engine;
};

/* Runs one request document. On success the result is in resp; on failure resp holds the error document and
 * the error code is returned. */
int kv_exec(kvorm_db *db, const char *request, size_t len, kv_mode mode, msgpack_sbuffer *resp);

/* Replaces resp with the error document of err (docs/errors.md); op may be NULL. Returns err->code. */
int kv_pack_error(msgpack_sbuffer *resp, const kv_error *err, const char *op);

#endif
