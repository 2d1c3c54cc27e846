/* What the files of the LMDB engine share: the environment (one per directory and process), transactions that
 * grow the map when it is full, keys of any length over LMDB's 511-byte limit, and the stored layout of keys and
 * records. Not for the rest of the core: it sees only engine.h.
 *
 * The layout (every key of a model starts with "<ns>\0<Model>\0"; names are identifiers, so never hold a NUL):
 *
 *   meta     "format"                          -> the engine's layout version, decimal text ("1")
 *            "s\0<ns>\0<Model>"                -> the model's stored layout (docs/schema.md)
 *            "q\0<ns>\0<Model>"                -> the last generated integer id, decimal text
 *            "b\0<ns>\0<Model>\0x\0<index>"    -> present while that index is being built: the id element of
 *            "b\0<ns>\0<Model>\0u\0<unique>"      the last record done ("" = from the start); same for a constraint
 *   records  "<ns>\0<Model>\0" + id element    -> the record (lmdb_layout.c): a MessagePack map, "$v" -> version,
 *                                                 then field name -> its canonical stored value, verbatim
 *   uniques  "<ns>\0<Model>\0<unique>\0" + key -> id text (key: the constraint's canonical values end to end)
 *   index    "<ns>\0<Model>\0<index>\0" + entry -> empty (entry: entries.c, the index key of the record)
 *
 * The id element is keycode.h's, so the records of a model are in id order and the id collection is the record
 * keys themselves. Keys longer than LMDB allows are kept in order by lmdb_keys.c. */
#ifndef KVORM_LMDB_INTERNAL_H
#define KVORM_LMDB_INTERNAL_H

#include "engine.h"

#include <lmdb.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define KV_LMDB_FORMAT 1                        /* the "format" in meta; a newer one is refused */
#define KV_LMDB_DEFAULT_MAPSIZE (1ull << 30)    /* 1 GiB, grown on demand */
#define KV_LMDB_MIN_MAPSIZE (64ull << 10)
#define KV_LMDB_DEFAULT_MAX_MAPSIZE (1ull << 40) /* growth stops here unless maxmapsize says otherwise */
#define KV_LMDB_WRITES_PER_TXN 256              /* writes of a batch committed together */
#define KV_LMDB_READER_CHECK_EVERY 64u         /* write transactions between two mdb_reader_check calls */
#define KV_LMDB_ATOMIC_MANY 4096                /* writes of one all-or-nothing transaction (run_all); far below
                                                 * LMDB's limit of dirty pages per transaction */
#define KV_LMDB_SCAN_CHUNK 1000                 /* what the capabilities report; a scan is one read txn */

enum { LM_META, LM_RECORDS, LM_UNIQUES, LM_INDEX, LM_NDBS };

typedef enum lm_sync { LM_SYNC_FULL, LM_SYNC_NOSYNC, LM_SYNC_NOMETASYNC } lm_sync;

/* What the URL says (lmdb_url.c). */
typedef struct lm_config {
    char *path; /* malloc'd, percent-decoded */
    size_t mapsize, max_mapsize;
    lm_sync sync;
    bool readonly;
    unsigned maxreaders; /* 0: LMDB's default */
    bool max_given; /* maxmapsize was given (else it follows mapsize) */
} lm_config;

int kv_lmdb_parse_url(lm_config *cfg, const char *url, kv_error *err);
/* The open options set (non-zero) override what the URL said; the same bounds as the URL parameters. */
int kv_lmdb_apply_options(lm_config *cfg, const kvorm_open_options *opts, kv_error *err);
void kv_lmdb_config_free(lm_config *cfg);

/* One MDB_env for every engine of this process that opens the same directory (LMDB forbids opening one twice in
 * a process). Every transaction holds `resize` shared: the map size may change only while none is active. */
#define LM_IDLE_READS 16 /* reset read transactions an environment keeps (at most half its reader slots) */

typedef struct lm_env {
    struct lm_env *next;
    dev_t dev;
    ino_t ino;
    pid_t pid; /* the process that opened it: a forked child never reuses its parent's env */
    int refs;
    MDB_env *env;
    MDB_dbi dbi[LM_NDBS];
    bool readonly; /* opened MDB_RDONLY */
    size_t maxkey;
    size_t max_mapsize;
    unsigned maxreaders;
    unsigned writes; /* (atomic) write transactions begun: every KV_LMDB_READER_CHECK_EVERY, dead readers are cleared */
    pthread_rwlock_t resize;
    /* Read transactions ended with mdb_txn_reset, renewed by the next reads: renewing one skips the allocation
     * and the reader table's lock that a new one costs (a third of a findUnique's own work). Each holds its
     * reader slot, with no snapshot (it keeps no page from reuse). */
    pthread_mutex_t idle_mu;
    MDB_txn *idle[LM_IDLE_READS];
    unsigned nidle, idle_cap;
    char *path;
} lm_env;

typedef struct lmdb_engine {
    kv_engine base;
    lm_env *env;
    bool readonly; /* this db was opened readonly=1 (the env may be shared with a read-write one) */
    char *ns;      /* the schema's namespace, set by sync_schema */
} lmdb_engine;

/* A transaction with the lock that keeps the map still. The first LMDB failure inside it is kept in mdb_rc, so
 * that the caller can tell a full map (grow and run it again) from anything else. */
typedef struct lm_txn {
    lm_env *env;
    MDB_txn *txn;  /* the innermost transaction (a nested one while a step of a batch runs) */
    MDB_txn *root;
    size_t mapsize; /* when it began: a full map grows from there */
    int mdb_rc;
    bool borrowed;  /* the thread's snapshot (kv_lmdb_snapshot): abort leaves it open */
    bool read;      /* a read transaction: abort resets it into the environment's idle ones */
} lm_txn;

/* ---- environments and transactions (lmdb_env.c) ---- */

int kv_lmdb_env_acquire(lm_env **out, const lm_config *cfg, kv_error *err);
void kv_lmdb_env_release(lm_env *env);

int kv_lmdb_begin(lm_env *env, bool write, lm_txn *t, kv_error *err);
/* Commits (and releases the lock); returns 0 or the LMDB error (kept in t->mdb_rc too). */
int kv_lmdb_commit(lm_txn *t);
void kv_lmdb_abort(lm_txn *t);
/* The engine's snapshot op: while this thread holds one, its read transactions on the environment are that one
 * read transaction. */
int kv_lmdb_snapshot(kv_engine *e, bool begin, kv_error *err);
/* After MDB_MAP_FULL in a transaction that began at map size `seen`: doubles the map (unless another thread
 * already grew it) up to the cap. Returns 0, or UNAVAILABLE naming the mapsize parameters. */
int kv_lmdb_grow(lm_env *env, size_t seen, kv_error *err);
/* Records LMDB result rc of `what` in t: 0 stays 0; anything else fills err (kv_lmdb_fail) and returns its code. */
int kv_lmdb_check(lm_txn *t, int rc, const char *model, const char *what, kv_error *err);
/* The kvorm error for an LMDB result: UNAVAILABLE for a full map or disk, INTERNAL for the rest. */
int kv_lmdb_fail(kv_error *err, int rc, const char *model, const char *what);

/* A write transaction run by fn, committed when fn returns 0, again from the start (after growing the map) while
 * the map is full. fn returns 0 or an error code (err filled); *t is the transaction. */
typedef int (*lm_write_fn)(lm_txn *t, void *ctx, kv_error *err);
int kv_lmdb_write(lmdb_engine *e, const char *model, lm_write_fn fn, void *ctx, kv_error *err);
/* Refuses a write on a db opened readonly=1: UNAVAILABLE, not retryable. */
int kv_lmdb_refuse_readonly(lmdb_engine *e, const char *model, kv_error *err);

/* ---- keys of any length (lmdb_keys.c) ---- */

/* Every function returns 0 or an LMDB result (MDB_NOTFOUND when the key is absent, ENOMEM, MDB_CORRUPTED for a
 * bucket that cannot be read). Values point into the map: valid until the next write of the transaction. */
int kv_lmdb_get(MDB_txn *txn, const lm_env *env, int db, const char *key, size_t klen, MDB_val *val);
/* kv_lmdb_get through a cursor of txn on db: reads of keys near the cursor's last one (ascending ids, say) skip
 * the descent from the root when the key is on the cursor's page. */
int kv_lmdb_cursor_get(MDB_cursor *cur, MDB_txn *txn, const lm_env *env, int db, const char *key, size_t klen,
                       MDB_val *val);
int kv_lmdb_put(MDB_txn *txn, const lm_env *env, int db, const char *key, size_t klen, const char *val,
                size_t vlen);
int kv_lmdb_del(MDB_txn *txn, const lm_env *env, int db, const char *key, size_t klen);
/* Deletes every key that starts with prefix (which must end with a NUL: it is a model's or a name's prefix). */
int kv_lmdb_del_prefix(MDB_txn *txn, const lm_env *env, int db, const char *prefix, size_t plen);

/* The keys that start with prefix (ending with a NUL), within bounds (on the rest of the key, as kv_range's), in
 * order or reverse. */
typedef struct lm_iter {
    MDB_cursor *cur;
    const lm_env *env;
    char *prefix;
    size_t plen;
    kv_bound lo, hi; /* copied; data NULL = open */
    bool reverse, started, done;
    MDB_val k, v;         /* the LMDB entry at the cursor */
    const char *bucket;   /* the bucket being read (k is its key), or NULL */
    size_t *items;        /* offsets of its items */
    size_t nitems, item_cap;
    size_t at;            /* the next item of the bucket, in the scan's direction */
    char *key;            /* the full key of a bucket item */
    size_t key_cap;
} lm_iter;

int kv_lmdb_iter_open(lm_iter *it, MDB_txn *txn, const lm_env *env, int db, const char *prefix, size_t plen,
                      const kv_bound *lo, const kv_bound *hi, bool reverse);
/* The next key (the part after the prefix) and its value; MDB_NOTFOUND at the end. */
int kv_lmdb_iter_next(lm_iter *it, const char **key, size_t *klen, MDB_val *val);
void kv_lmdb_iter_close(lm_iter *it);

/* ---- keys and records (lmdb_layout.c) ---- */

/* Every key builder resets out first, and returns 0 or INTERNAL (out of memory; an id kvorm cannot key). */

/* The key of a model's meta entry: "<kind>\0<ns>\0<Model>" (kind "s" layout, "q" sequence). */
int kv_lmdb_meta_key(msgpack_sbuffer *out, const char *kind, const char *ns, const kv_model *m, kv_error *err);
/* The meta key of the build of index or constraint `which` (index_states' numbering), or of one by kind ('x' an
 * index, 'u' a constraint) and name. */
int kv_lmdb_build_key(msgpack_sbuffer *out, const char *ns, const kv_model *m, int which, kv_error *err);
int kv_lmdb_build_key_named(msgpack_sbuffer *out, const char *ns, const kv_model *m, char kind, const char *name,
                            kv_error *err);
/* "<ns>\0<Model>\0", then "<name>\0" when name is not NULL: the prefix of the records (no name), of an index's
 * or a constraint's entries. */
int kv_lmdb_prefix(msgpack_sbuffer *out, const char *ns, const kv_model *m, const char *name, kv_error *err);
/* The record key of id text: the records' prefix, then the id element. */
int kv_lmdb_record_key(msgpack_sbuffer *out, const char *ns, const kv_model *m, const char *id, size_t id_len,
                       kv_error *err);
/* The key of an index entry or of a constraint's unique key: the prefix with the name, then the bytes. */
int kv_lmdb_entry_key(msgpack_sbuffer *out, const char *ns, const kv_model *m, const char *name, const char *data,
                      size_t len, kv_error *err);

/* A record value: "$v" -> version, then the fields that are not null (schema order), then `keep`'s pairs of
 * fields the schema does not know (a stored record: an update keeps them; NULL: none). Appends to out. */
int kv_lmdb_record_encode(msgpack_sbuffer *out, const kv_model *m, int64_t version, const char *const *values,
                          const size_t *lens, const char *keep, size_t keep_len, kv_error *err);
/* Reads a record value: values and lens (m->nfields entries, zeroed first) point into data. Returns 0 or
 * INTERNAL (not a record value). */
int kv_lmdb_record_decode(const kv_model *m, const char *data, size_t len, const char **values, size_t *lens,
                          int64_t *version, kv_error *err);
/* Fills out (empty) with a copy of a stored record, value and id text, owned by out. */
int kv_lmdb_record_copy(kv_record *out, const kv_model *m, const char *id, size_t id_len, const char *data,
                        size_t len, kv_error *err);
/* The engine's namespace, or NULL (err says why) before sync_schema set it. */
const char *kv_lmdb_ns(lmdb_engine *e, const kv_model *m, kv_error *err);

/* ---- the ops ---- */

void kv_lmdb_run(kv_engine *eng, kv_step **steps, size_t n);
void kv_lmdb_run_all(kv_engine *eng, kv_step **steps, size_t n);
int kv_lmdb_scan(kv_engine *eng, const kv_model *m, const kv_range *r, bool reverse, size_t limit, kv_keys *out,
                 kv_error *err);
/* scan_many: the ranges one after the other, in one read transaction. */
int kv_lmdb_scan_many(kv_engine *eng, const kv_model *m, const kv_range *ranges, size_t n, bool reverse,
                      size_t limit, kv_keys *outs, kv_error *err);
int kv_lmdb_count(kv_engine *eng, const kv_model *m, const kv_range *r, int64_t *out, kv_error *err);
int kv_lmdb_index_states(kv_engine *eng, const kv_model *m, kv_index_state *states, kv_error *err);
int kv_lmdb_build_index(kv_engine *eng, const kv_model *m, int which, size_t chunk, bool *done, kv_error *err);
int kv_lmdb_sync_schema(kv_engine *eng, const kvorm_schema *s, kv_error *err);
/* At open: checks (and, read-write, stores) the format version. */
int kv_lmdb_check_format(lm_env *env, kv_error *err);

#endif
