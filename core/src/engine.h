/* The internal engine interface: what a store must do for the layer above it (request parsing, validation,
 * encoding), which is written once. Redis is the first engine; LMDB will be the second. */
#ifndef KVORM_ENGINE_H
#define KVORM_ENGINE_H

#include "schema.h"

#include <stdbool.h>
#include <stdint.h>

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

typedef enum kv_write_op { KV_WRITE_CREATE, KV_WRITE_UPDATE, KV_WRITE_UPSERT, KV_WRITE_DELETE } kv_write_op;

/* One atomic write, validated and encoded. The engine checks existence, uniques and the version, then writes
 * the record and moves its unique entries, all or nothing. */
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
    bool has_if_version;
    int64_t if_version;
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
} kv_record;

void kv_record_free(kv_record *r);

/* One step for the store, with its outcome: a write, or a read by id or unique. */
typedef struct kv_step {
    const kv_write *write; /* the write; NULL for a read */
    const kv_model *model; /* read: the model and how to reach the record */
    const kv_locator *loc;
    kv_record out;         /* the record read or written (for delete: as it was); empty when none */
    bool found;            /* read: a record matched */
    int rc;                /* 0, or the error code, described in *err */
    kv_error *err;
} kv_step;

typedef struct kv_engine kv_engine;

typedef struct kv_engine_ops {
    const char *name;
    /* Runs n steps in order, each with its own outcome, as if one by one; an engine may send them together
     * (Redis: one round trip). A read that matches nothing has found false and out empty. */
    void (*run)(kv_engine *e, kv_step **steps, size_t n);
    int (*count)(kv_engine *e, const kv_model *m, int64_t *out, kv_error *err);
    /* Compares the schema with the one stored (docs/schema.md) and stores compatible changes. */
    int (*sync_schema)(kv_engine *e, const kvorm_schema *s, kv_error *err);
    /* Packs the capabilities map. */
    void (*capabilities)(kv_engine *e, msgpack_packer *pk);
    void (*close)(kv_engine *e);
} kv_engine_ops;

struct kv_engine {
    const kv_engine_ops *ops;
};

#endif
