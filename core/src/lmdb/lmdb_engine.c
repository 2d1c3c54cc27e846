/* The LMDB engine: opening and closing, its facts for the capabilities map, its entry in the registry.
 *
 * One kv_engine per kvorm_db, all of one process sharing one MDB_env per directory (lmdb_env.c), opened with
 * MDB_NOTLS so that any thread may run any call: reads run in parallel (one read transaction each),
 * writes one at a time (LMDB has one writer). Another process may open the same directory at the same time.
 * After fork() a child must open its own db: an environment is never shared across processes. */
#include "lmdb_engine.h"

#include "lmdb_internal.h"
#include "mp.h"
#include "value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void lmdb_facts(kv_engine *eng, kv_engine_facts *f)
{
    lmdb_engine *e = (lmdb_engine *)eng;
    int major = 0, minor = 0, patch = 0;
    mdb_version(&major, &minor, &patch);
    f->engine = "lmdb";
    snprintf(f->server_version, sizeof(f->server_version), "%d.%d.%d", major, minor, patch);
    f->transactions = false; /* every write is one LMDB transaction; the transaction op has not landed */
    f->snapshot_reads = true; /* a query's pages are read in one read transaction (kv_lmdb_snapshot) */
    f->read_only = e->readonly;
    f->parallel_calls = true; /* MDB_NOTLS: any thread, readers in parallel */
    f->scan_chunk = KV_LMDB_SCAN_CHUNK;
    f->writes_per_trip = KV_LMDB_WRITES_PER_TXN;
    f->atomic_many = KV_LMDB_ATOMIC_MANY;
}

static void lmdb_close(kv_engine *eng)
{
    lmdb_engine *e = (lmdb_engine *)eng;
    kv_lmdb_env_release(e->env);
    free(e->ns);
    free(e);
}

static const kv_engine_ops lmdb_ops = {
    .version = KV_ENGINE_INTERFACE_VERSION,
    .name = "lmdb",
    .run = kv_lmdb_run,
    .run_all = kv_lmdb_run_all,
    .scan = kv_lmdb_scan,
    .scan_many = kv_lmdb_scan_many,
    .count = kv_lmdb_count,
    .sync_schema = kv_lmdb_sync_schema,
    .index_states = kv_lmdb_index_states,
    .build_index = kv_lmdb_build_index,
    .snapshot = kv_lmdb_snapshot,
    .facts = lmdb_facts,
    .close = lmdb_close,
};

static int lmdb_open(kv_engine **out, const char *url, const kvorm_open_options *opts, kv_error *err)
{
    lm_config cfg;
    lmdb_engine *e;
    int rc;
    *out = NULL; /* timeouts and pools are the network engines': opts' own are read by kv_lmdb_apply_options */
    if ((rc = kv_lmdb_parse_url(&cfg, url, err)) != 0)
        return rc;
    if ((rc = kv_lmdb_apply_options(&cfg, opts, err)) != 0) {
        kv_lmdb_config_free(&cfg);
        return rc;
    }
    if (!(e = calloc(1, sizeof(*e)))) {
        kv_lmdb_config_free(&cfg);
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    }
    e->base.ops = &lmdb_ops;
    e->readonly = cfg.readonly;
    rc = kv_lmdb_env_acquire(&e->env, &cfg, err);
    kv_lmdb_config_free(&cfg);
    if (rc != 0) {
        free(e);
        return rc;
    }
    *out = &e->base;
    return 0;
}

static const char *const lmdb_schemes[] = {"lmdb", NULL};

const kv_engine_entry kv_lmdb_engine_entry = {lmdb_schemes, lmdb_open, true};
