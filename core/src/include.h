/* The relations a read loads with its records (docs/queries.md, Relations): `include`, and relation keys of
 * `select`. Each level of an include is loaded for all the records of the level above in one batch of reads (one
 * round trip on Redis), never one read per record. Engine-independent. */
#ifndef KVORM_INCLUDE_H
#define KVORM_INCLUDE_H

#include "request.h"

typedef struct kv_include kv_include;

/* The include of a read of model m from its `include` and `select` arguments (either may be NULL). *out is NULL
 * when there is nothing to load. BAD_REQUEST names an unknown relation or argument. */
int kv_include_parse(request *rq, const kv_model *m, const msgpack_object *include, const msgpack_object *select,
                     kv_include **out);
/* Loads every relation of inc (and theirs, level by level) for the n records of m; NULL inc loads nothing. */
int kv_include_load(request *rq, kv_include *inc, const kv_model *m, const kv_record *const *parents, size_t n);
/* How many map entries the include adds to each record (0 for NULL). */
size_t kv_include_count(const kv_include *inc);
/* Packs the include's entries (relation name: record or nil) of the record at `at` of the load. rq->model is the
 * model of that record. */
int kv_include_pack(request *rq, msgpack_packer *pk, const kv_include *inc, size_t at);
/* Packs record r of rq->model with selection sel and, when inc is not NULL, the relations it loads for it. */
int kv_include_pack_one(request *rq, msgpack_packer *pk, kv_include *inc, const kv_record *r, const selection *sel);
/* What explain says of the include: an array, one map per relation ({"relation", "kind", "model", "reads",
 * "roundTrips", "include": its own}); empty for NULL. roundTrips is per 256 records of the level above for a
 * to-many relation (a query of the target: its ranges' first chunks, then their records), 1 for a to-one one. */
void kv_include_explain(const kv_include *inc, msgpack_packer *pk);
void kv_include_free(kv_include *inc);

#endif
