/* The kvorm_db handle and the request executor behind kvorm_exec. */
#ifndef KVORM_DB_H
#define KVORM_DB_H

#include "engine.h"
#include "value.h"

struct kvorm_db {
    kvorm_schema *schema;
    kv_engine *engine;
    bool refuse_scans; /* kvorm_open_options.refuse_scans: the default of a query's refuseScans */
    /* per model (schema order): 1 once every index is known ready, so queries stop asking the store */
    _Atomic int *indexes_ready;
};

/* Packs the capabilities map: the engine's facts, the format version and the ops (api.c). */
void kv_pack_capabilities(kvorm_db *db, msgpack_packer *pk);

/* The state of every index and unique constraint of m (kv_model_nbuilt entries, as the engine's index_states),
 * from the store until all are ready. */
int kv_db_index_states(kvorm_db *db, const kv_model *m, kv_index_state *states, kv_error *err);

/* Runs one request document. On success the result is in resp; on failure resp holds the error document and
 * the error code is returned. */
int kv_exec(kvorm_db *db, const char *request, size_t len, kv_mode mode, msgpack_sbuffer *resp);

/* Runs n request documents as kv_exec would, in order, each with its own response and status; the reads by id
 * or unique of consecutive requests go to the store together (one round trip on Redis). */
void kv_exec_many(kvorm_db *db, size_t n, const char *const *docs, const size_t *lens, kv_mode mode,
                  msgpack_sbuffer *resps, int *statuses);

/* Replaces resp with the error document of err (docs/errors.md), every string valid UTF-8; op (op_len bytes, as
 * the request gave it) may be NULL. Returns err->code. */
int kv_pack_error(msgpack_sbuffer *resp, const kv_error *err, const char *op, size_t op_len);

#endif
