/* What the files of the Redis engine share: the engine's state (pool, script SHA1s, every model's key names),
 * a growing argv, and running scripts. Not for the rest of the core: it sees only engine.h. */
#ifndef KVORM_REDIS_INTERNAL_H
#define KVORM_REDIS_INTERNAL_H

#include "engine.h"
#include "redis_conn.h"

#include <msgpack.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* The scripts (redis_scripts.c). One script serves every write and the lookups by unique, so the calls of one
 * MULTI either all find it or all miss it (the script cache cannot change during an EXEC). */
enum { KV_SCRIPT_MAIN, KV_SCRIPT_SCHEMA, KV_NSCRIPTS };

/* Steps per round trip: writes go inside one MULTI/EXEC, reads alone in a pipeline. */
#define KV_REDIS_WRITES_PER_TRIP 128
#define KV_REDIS_READS_PER_TRIP 1024
#define KV_REDIS_SCAN_CHUNK 1000
/* How often a write whose record changed between its read and its write is tried again. */
#define KV_REDIS_STALE_ATTEMPTS 16

typedef struct kv_rkey {
    char *s;
    size_t len;
} kv_rkey;

/* Every key name of one model (docs/format.md, "Keys (Redis)"), made once from the namespace and model name. */
typedef struct kv_model_keys {
    kv_rkey rec; /* "<ns>:{<M>}:r:", the prefix of record keys */
    kv_rkey ids, seq, xs;
    kv_rkey guard; /* "<ns>:{<M>}:guard": counts the checks of an all-or-nothing write, inside its MULTI only */
    kv_rkey *u;  /* per unique constraint: "<ns>:{<M>}:u:<name>" */
    kv_rkey *x;  /* per index: "<ns>:{<M>}:x:<name>" */
    int nu, nx;
} kv_model_keys;

typedef struct redis_engine {
    kv_engine base;
    kv_pool pool;
    pthread_mutex_t sha_mu;
    char sha[KV_NSCRIPTS][41];
    /* key names per model, by model->position; set by sync_schema, which kvorm_open calls before any other op */
    kv_model_keys *keys;
    int nkeys;
    char *schema_key; /* "<ns>:$schema" */
    size_t schema_key_len;
    char server_version[32]; /* from INFO at open, for the capabilities ("" when unknown) */
} redis_engine;

/* ---- argv (redis_args.c) ---- */

#define KV_ARG_INLINE 16   /* arguments kept in the argbuf itself before it allocates */
#define KV_ARG_SCRATCH 256 /* bytes of short formatted arguments (keys, numbers) kept in it */

/* A growing argv of (pointer, length), with the strings it formats itself. An append that runs out of memory
 * sets oom; the caller checks once before sending. Most commands (a read, a count) fit in the inline space, so
 * formatting them allocates nothing: `argbuf a = {0}` and never copy one that is in use (argv may point into it). */
typedef struct argbuf {
    const char **argv;
    size_t *lens;
    int n, cap;
    char **owned;
    int nowned, owned_cap;
    bool oom;
    size_t scratch_used;
    const char *in_argv[KV_ARG_INLINE];
    size_t in_lens[KV_ARG_INLINE];
    char scratch[KV_ARG_SCRATCH];
} argbuf;

void arg_add(argbuf *a, const char *s, size_t len);
void arg_cstr(argbuf *a, const char *s);
void arg_key(argbuf *a, const kv_rkey *k);
/* Adds buf (malloc'd, len bytes) as an argument the argbuf frees; NULL means out of memory. */
void arg_own(argbuf *a, char *buf, size_t len);
/* Adds a copy of p + s (both binary-safe). */
void arg_concat(argbuf *a, const char *p, size_t plen, const char *s, size_t slen);
void arg_copy(argbuf *a, const char *s, size_t len);
void arg_int(argbuf *a, int64_t v);
void arg_free(argbuf *a);

/* ---- the engine (redis_engine.c) ---- */

/* The key names of m, or NULL (err says why) before sync_schema made them. */
const kv_model_keys *kv_redis_keys(redis_engine *e, const kv_model *m, kv_error *err);
/* The field of unique constraint u in the index states hash: "u:<name>" (an index's field is its name, an
 * identifier: never with ':'). */
void kv_redis_arg_unique_state(argbuf *a, const kv_unique *u);
/* A lexical bound for ZRANGE BYLEX / ZLEXCOUNT: '[' inclusive, '(' exclusive, '-' / '+' open. */
void kv_redis_arg_bound(argbuf *a, const kv_bound *b, bool low);
/* The record key of id, as a copy the argbuf owns. */
void arg_record_key(argbuf *a, const kv_model_keys *k, const char *id, size_t id_len);
/* Copies the SHA1 of a script under the lock (another thread may be reloading it). */
void kv_redis_sha(redis_engine *e, int which, char out[41]);
int kv_redis_load_script(redis_engine *e, redisContext *c, int which, bool *broken, kv_error *err);
bool kv_redis_is_noscript(const redisReply *r);
/* Runs a script with argv a (argv[0] and argv[1] are set here to EVALSHA and its SHA1); a script Redis has
 * forgotten is loaded again and the call sent once more. Any error reply is left in *out. *sent says whether
 * the call that failed had left. */
int kv_redis_script(redis_engine *e, redisContext *c, int which, argbuf *a, redisReply **out, bool *broken,
                    bool *sent, kv_error *err);
/* Runs one command on a pooled connection; an error reply is INTERNAL (or UNAVAILABLE) naming what. */
int kv_redis_command(redis_engine *e, const kv_model *m, const char *what, argbuf *a, redisReply **out,
                     kv_error *err);
/* A write whose command left but whose reply was lost may or may not have been applied: says so. */
void kv_redis_outcome_unknown(kv_error *err);

/* ---- steps (redis_run.c) ---- */

void kv_redis_run_steps(kv_engine *eng, kv_step **steps, size_t n);
/* The engine's run_all (redis_run_all.c). */
void kv_redis_run_all(kv_engine *eng, kv_step **steps, size_t n);
/* Reads HGETALL pairs into per-field pointers (values point into pairs): `$v` becomes the version, fields
 * unknown to the schema are skipped. */
int kv_redis_fill_record(kv_record *out, const kv_model *m, const redisReply *pairs, kv_error *err);

/* ---- queries (redis_query.c) ---- */

int kv_redis_scan(kv_engine *eng, const kv_model *m, const kv_range *r, bool reverse, size_t limit, kv_keys *out,
                  kv_error *err);
int kv_redis_scan_many(kv_engine *eng, const kv_model *m, const kv_range *ranges, size_t n, bool reverse,
                       size_t limit, kv_keys *outs, kv_error *err);
int kv_redis_count(kv_engine *eng, const kv_model *m, const kv_range *r, int64_t *out, kv_error *err);
int kv_redis_index_states(kv_engine *eng, const kv_model *m, kv_index_state *states, kv_error *err);
int kv_redis_build_index(kv_engine *eng, const kv_model *m, int which, size_t chunk, bool *done, kv_error *err);

/* ---- the schema (redis_schema.c) ---- */

int kv_redis_sync_schema(kv_engine *eng, const kvorm_schema *s, kv_error *err);
void kv_redis_keys_free(redis_engine *e);

#endif
