/* The internal engine interface, version 2: what a store must do for the layer above it (request parsing,
 * validation, encoding, planning, filtering, ordering, pagination), which is written once. Redis is the first
 * engine; LMDB, Upstash REST, Cloudflare KV and Redis Cluster implement the same primitives.
 *
 * The primitives: run (atomic writes of one record with its unique and index entries; reads by id or unique,
 * many per round trip), scan (an ordered range of an index or of the id collection, forward or reverse, limited,
 * resumable), scan_many (the first chunk of several ranges at once), count (over the same ranges), and the index lifecycle (state, online build). Keys handed across
 * are the order-preserving encoding of keycode.h: an engine compares them as bytes and never decodes values. */
#ifndef KVORM_ENGINE_H
#define KVORM_ENGINE_H

#include "schema.h"

#include "kvorm.h"

#include <stdbool.h>
#include <stdint.h>

#define KV_ENGINE_INTERFACE_VERSION 2

/* How a write or read reaches its record: by id text, or by a unique constraint's key. */
typedef struct kv_locator {
    const kv_unique *unique; /* NULL: by id */
    int unique_index;        /* index into model->uniques when unique is set */
    const char *id;          /* id text (docs/format.md) */
    size_t id_len;
    const char *ukey;        /* concatenated canonical values of the constraint's fields */
    size_t ukey_len;
} kv_locator;

typedef struct kv_field_value {
    int field; /* index into model->fields */
    const char *data;
    size_t len;
} kv_field_value;

/* An atomic number operation of an update (number_ops.h): the engine applies it to the stored value inside the
 * write. The operand is the canonical value of the field's type. */
typedef enum kv_number_op_kind { KV_NUM_INCREMENT, KV_NUM_DECREMENT, KV_NUM_MULTIPLY, KV_NUM_DIVIDE } kv_number_op_kind;

typedef struct kv_field_op {
    int field; /* index into model->fields: an integer, float or decimal field of no unique constraint */
    kv_number_op_kind kind;
    const char *data; /* the operand */
    size_t len;
} kv_field_op;

typedef enum kv_write_op { KV_WRITE_CREATE, KV_WRITE_UPDATE, KV_WRITE_UPSERT, KV_WRITE_DELETE } kv_write_op;

/* A range of keys of one index (or of the model's id collection): encoded keys compared as bytes. A bound with
 * data NULL is open (no limit on that side). */
typedef struct kv_bound {
    const char *data;
    size_t len;
    bool inclusive;
} kv_bound;

typedef struct kv_range {
    const kv_index *index; /* NULL: the id collection, whose keys are the encoded ids (keycode.h) */
    kv_bound lo, hi;
} kv_range;

/* What a guard of a write checks in the store, in the same atomic step (relations, docs/schema.md). */
typedef enum kv_guard_kind {
    KV_GUARD_EXISTS, /* the record loc finds (in model) exists; at `version` when that is not 0 */
    KV_GUARD_COUNT   /* range (of an index of model) holds exactly `count` keys */
} kv_guard_kind;

/* A condition a write holds on other records: that the target of a foreign key it sets exists, that the records
 * referencing one it deletes are the ones the core read. Checked with the write's own checks; a guard that fails
 * fails the write (kv_fail_guard), which then writes nothing. */
typedef struct kv_guard {
    kv_guard_kind kind;
    const kv_model *model;     /* the model whose records it reads */
    const kv_model *owner;     /* the model declaring the relation it keeps (errors name it) */
    int relation;              /* index into owner->relations */
    char when;                 /* 'a' always; for an upsert 'c' only when it creates, 'u' only when it updates */
    kv_locator loc;            /* EXISTS */
    int64_t version;
    kv_range range;            /* COUNT: a range of the foreign key's index (range.index is never NULL) */
    int64_t count;
} kv_guard;

/* One atomic write, validated and encoded. The engine checks existence, uniques and the version, then writes
 * the record and moves its unique and index entries, all or nothing. */
typedef struct kv_write {
    kv_write_op op;
    const kv_model *model;
    kv_locator loc;             /* update, upsert, delete */
    const char *new_id;         /* create (and the create branch of upsert): id text, or NULL to generate */
    size_t new_id_len;
    const kv_field_value *create; /* create: every non-null field */
    int ncreate;
    const kv_field_value *set;  /* update: fields to set */
    int nset;
    const int *unset;           /* update: fields to clear */
    int nunset;
    const kv_field_op *ops;     /* update: atomic number operations, on fields it neither sets nor clears */
    int nops;
    bool has_if_version;
    int64_t if_version;
    bool skip_duplicate;        /* create: a taken id or unique value is no error; the step reports found=false */
    const kv_guard *guards;     /* checked with the write, all or nothing (none in an all-or-nothing group's apply:
                                 * its checks ran first) */
    int nguards;
} kv_write;

/* A record as stored: values are canonical bytes per field index (NULL when null). */
typedef struct kv_record {
    const char *id;
    size_t id_len;
    int64_t version;
    bool created;           /* the write created it (the values are then the caller's create data) */
    const char **values;
    size_t *lens;
    void *owner;            /* engine storage behind the pointers, freed by release */
    void (*release)(void *owner);
    char *id_copy;          /* id text owned by the record (freed by kv_record_free), when the engine made it */
    bool one_block;         /* lens (and the id, when id_in_block) live in the allocation of values */
    bool id_in_block;       /* id points into that allocation: it lives as long as the record */
    bool values_checked;    /* each value is one well-formed MessagePack object, right after its field's name in the
                               stored map the values point into: the engine checked both */
} kv_record;

/* ---- what every engine words the same (engine_errors.c) ---- */

/* The value write w gives field f: what it sets, else its create data; NULL when neither has it. */
const kv_field_value *kv_write_value(const kv_write *w, int f);
/* The value of field f in w's create data, or NULL. */
const kv_field_value *kv_write_create_value(const kv_write *w, int f);
/* UNIQUE_VIOLATION of write w: which 0 (or out of range) says its id is taken (id text: id), else constraint
 * which - 1 is, naming the values w writes and the constraint's fields. */
int kv_fail_unique_taken(kv_error *err, const kv_write *w, const char *id, size_t id_len, int which);
/* UNIQUE_VIOLATION of a unique build (build_index): records a and b (id texts) both have ukey, the constraint's
 * canonical values end to end. */
int kv_fail_unique_build(kv_error *err, const kv_model *m, const kv_unique *u, const char *ukey, size_t ulen,
                         const char *a, size_t al, const char *b, size_t bl);
/* UNIQUE_VIOLATION of two writes of one call (described as a and b, "data[3]" say) that would give constraint
 * which - 1 (0: the id, whose text is key) the same key, the constraint's canonical values end to end. */
int kv_fail_unique_pair(kv_error *err, const kv_model *m, int which, const char *key, size_t len, const char *a,
                        const char *b);
/* The error of a read or write that selects its record by unique constraint u while u is still being built (its
 * entries may miss records written before it existed): UNAVAILABLE, retryable, naming u's fields. */
int kv_fail_unique_building(kv_error *err, const kv_model *m, const kv_unique *u);

/* The error of write w whose guard g failed: a missing target (version 0) is RELATION, naming w's model, the
 * relation's foreign key fields and value; a target or a range that changed since the core read it is CONFLICT,
 * retryable (the core reads again); an index or unique constraint a guard reads while it is being built is
 * UNAVAILABLE, retryable. What: 'm' missing, 'c' changed, 'b' building. */
int kv_fail_guard(kv_error *err, const kv_write *w, const kv_guard *g, char what);

/* Gives r zeroed values and lens for nfields fields, in one allocation; when r->id is set, a copy of the id goes
 * in it too (r->id then points to the copy). False when out of memory. */
bool kv_record_alloc(kv_record *r, int nfields);
/* The same with `extra` more bytes in the block, at *room: the stored bytes the values point into, say. */
bool kv_record_alloc_with(kv_record *r, int nfields, size_t extra, char **room);
void kv_record_free(kv_record *r);

/* One step for the store, with its outcome: a write, or a read by id or unique. */
typedef struct kv_step {
    const kv_write *write; /* the write; NULL for a read */
    const kv_model *model; /* read: the model and how to reach the record */
    const kv_locator *loc;
    kv_record out;         /* the record read or written (for delete: as it was); empty when none */
    bool found;            /* read: a record matched; create with skip_duplicate: false when skipped */
    int rc;                /* 0, or the error code, described in *err */
    kv_error *err;
} kv_step;

/* Keys returned by a scan: n keys, each at data + off[i], len[i] bytes. */
typedef struct kv_keys {
    char *data;
    size_t *off, *len;
    size_t n, cap, size, data_cap;
} kv_keys;

void kv_keys_clear(kv_keys *k);
void kv_keys_free(kv_keys *k);
/* Appends one key; returns false when out of memory. */
bool kv_keys_add(kv_keys *k, const char *data, size_t len);

/* The state of a secondary index or a unique constraint in the store. One that is not ready is kept up to date by
 * every write but may miss records written before it existed: the planner does not use it, and the engine fails
 * a step whose locator is a unique constraint that is not ready (kv_fail_unique_building). */
typedef enum kv_index_state { KV_INDEX_READY, KV_INDEX_BUILDING } kv_index_state;

typedef struct kv_engine kv_engine;

/* An engine's facts: every engine answers the same keys, each truthfully (docs/protocol.md, Capabilities). */
typedef struct kv_engine_facts {
    const char *engine;         /* "redis", "lmdb" */
    char server_version[64];    /* the store's version */
    bool transactions;          /* the transaction op (not per-write atomicity, which every engine has) */
    bool snapshot_reads;        /* a query that reads several pages sees one state of the data */
    bool read_only;             /* this db refuses writes */
    bool parallel_calls;        /* calls from several threads run at the same time */
    int scan_chunk;             /* keys read per scan step */
    int writes_per_trip;        /* writes of a batch sent (or committed) together */
    int atomic_many;            /* the most writes run_all takes: createMany, updateMany and deleteMany are all or
                                 * nothing up to this many records */
} kv_engine_facts;

/* The rc run_all gives a step that would have succeeded but was not applied, because another step failed. */
#define KV_STEP_UNAPPLIED 1

typedef struct kv_engine_ops {
    unsigned version; /* KV_ENGINE_INTERFACE_VERSION */
    const char *name;
    /* Runs n steps in order, each with its own outcome, as if one by one; the engine decides how they are grouped
     * into round trips. A read that matches nothing has found false and out empty. */
    void (*run)(kv_engine *e, kv_step **steps, size_t n);
    /* Runs n writes (1 <= n <= facts.atomic_many, of any models) all or nothing: each is checked against the store as it is
     * before any of them is applied (no other client writes in between), then all are applied, or none is. The
     * caller guarantees that no two of them write the same record or give a unique constraint the same value.
     * When one fails, at least one step has its error and every other has rc KV_STEP_UNAPPLIED. A skipped
     * duplicate (skip_duplicate) is no failure. */
    void (*run_all)(kv_engine *e, kv_step **steps, size_t n);
    /* Up to limit keys of range r in order (reverse: from hi down), appended to out. Resume after the last key by
     * passing it as the exclusive bound. */
    int (*scan)(kv_engine *e, const kv_model *m, const kv_range *r, bool reverse, size_t limit, kv_keys *out,
                kv_error *err);
    /* Up to limit keys (at most KV_SCAN_CHUNK) of each of n ranges, appended to outs[i], all in one round trip:
     * the first chunk of every range of a union at once. A range that gave limit keys may have more (resume it
     * with scan). */
    int (*scan_many)(kv_engine *e, const kv_model *m, const kv_range *ranges, size_t n, bool reverse, size_t limit,
                     kv_keys *outs, kv_error *err);
    /* The number of keys in range r; r NULL counts the records of the model. */
    int (*count)(kv_engine *e, const kv_model *m, const kv_range *r, int64_t *out, kv_error *err);
    /* Compares the schema with the one stored (docs/schema.md) and stores compatible changes; a new index on a
     * model that has records is stored as building. */
    int (*sync_schema)(kv_engine *e, const kvorm_schema *s, kv_error *err);
    /* The state of every index and unique constraint of m, read from the store: states[0 .. nindexes-1] for
     * m->indexes, then states[nindexes .. nindexes+nuniques-1] for m->uniques (kv_model_nbuilt entries). */
    int (*index_states)(kv_engine *e, const kv_model *m, kv_index_state *states, kv_error *err);
    /* One bounded chunk of the online build of index or unique constraint `which` (numbered as in index_states):
     * adds the entries of up to chunk records; *done when it is complete (and marked ready). Writers may run
     * meanwhile. A unique build that meets two records with the same values fails with KVORM_EUNIQUE naming both
     * ids and the constraint, adds nothing of that chunk, and stays building (run it again once the data is
     * fixed). */
    int (*build_index)(kv_engine *e, const kv_model *m, int which, size_t chunk, bool *done, kv_error *err);
    /* Optional (NULL: each call reads the store as it is then). begin: until the matching end, the reads this
     * thread makes through e see one state of the store (facts.snapshot_reads); begins nest. A query holds one
     * while it reads its pages. Only reads may run under it. */
    int (*snapshot)(kv_engine *e, bool begin, kv_error *err);
    /* What the engine answers in the capabilities map (docs/protocol.md); the core packs them with the rest. */
    void (*facts)(kv_engine *e, kv_engine_facts *out);
    void (*close)(kv_engine *e);
} kv_engine_ops;

struct kv_engine {
    const kv_engine_ops *ops;
};

/* Where the group of steps starting at i ends when a group holds at most max_steps steps and max_writes writes
 * (an engine's round trip or transaction); *writes tells whether it holds any. */
size_t kv_steps_group_end(kv_step *const *steps, size_t n, size_t i, size_t max_steps, size_t max_writes,
                          bool *writes);

/* An engine's entry in the registry: the URL schemes it serves and how to open it. */
typedef struct kv_engine_entry {
    const char *const *schemes; /* NULL-terminated, e.g. "redis", "rediss", "unix" */
    /* opts is never NULL and always of the current version (zero where the caller's older struct ends) */
    int (*open)(kv_engine **out, const char *url, const kvorm_open_options *opts, kv_error *err);
    bool embedded_options; /* it takes map_size, max_map_size, sync, read_only and max_readers */
} kv_engine_entry;

/* The size of a kvorm_open_options struct of the given version (1 to KVORM_OPEN_OPTIONS_VERSION). */
size_t kv_open_options_size(unsigned version);

/* Opens the engine that serves url's scheme, or fails with MISUSE listing the schemes known (an invalid URL is a
 * misuse of kvorm_open, docs/errors.md), or naming an embedded store's option set for an engine that has none.
 * opts may be NULL, or of any valid version. */
int kv_engine_open(kv_engine **out, const char *url, const kvorm_open_options *opts, kv_error *err);

#endif
