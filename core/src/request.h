/* One request being run (docs/protocol.md), and the parsing every op shares. Engine-independent. */
#ifndef KVORM_REQUEST_H
#define KVORM_REQUEST_H

#include "db.h"

typedef struct pending pending;
typedef struct kv_op kv_op;

typedef struct request {
    kvorm_db *db;
    kv_mode mode;
    const kv_model *model;
    const char *op;  /* the op's name once known (static), for messages */
    char opname[64]; /* the op as the request gives it, for the error document */
    size_t opname_len;
    const msgpack_object *args;
    kv_error *err;
    pending *step;   /* where a read or write leaves its step for the store */
} request;

/* What the caller wants back. */
typedef struct selection {
    bool all, id, version;
    bool *fields;
} selection;

/* Encoded field values of one data map; values live in buf and are addressed by offset until finished. */
typedef struct encoded {
    msgpack_sbuffer buf;
    kv_field_value *items;
    size_t *offsets;
    int n;
    int *unset;
    int nunset;
    kv_field_op *ops; /* update: atomic number operations (number_ops.h), operands in buf like the values */
    size_t *op_offsets;
    int nops;
} encoded;

/* A unique selector (where of findUnique, update, upsert, delete; a cursor). */
typedef struct target {
    kv_locator loc;
    char id_text[KV_MAX_ID_BYTES + 1];
    msgpack_sbuffer ukey;
} target;

/* The guards of one write (refs.c), with the bytes they point into. */
typedef struct kv_ref_guards {
    kv_guard *g;
    int n, cap;
    char **owned; /* copies the guards point into */
    int nowned, owned_cap;
} kv_ref_guards;

/* A read or write, parsed and encoded, waiting for the store. The steps are run by the caller of dispatch
 * (kv_exec_many), so that the steps of consecutive requests travel to the store together. Everything the step
 * points at lives here until the response is packed. */
struct pending {
    bool waiting;
    bool or_throw;    /* findUniqueOrThrow */
    bool has_target;  /* NOT_FOUND names the where (update, upsert, delete) */
    selection sel;
    struct kv_include *include; /* findUnique: the relations to load with the record */
    target t;
    encoded data, update; /* create or update data; upsert: both */
    char id[KV_MAX_ID_BYTES + 1];
    kv_write w;
    kv_ref_guards guards; /* of the foreign keys the write sets */
    kv_step step;
};

/* An operation of the protocol: the one table behind dispatch, the capabilities' op list and batching. */
struct kv_op {
    const char *name;
    const char *const *args; /* the argument names it takes (NULL-terminated) */
    bool model;              /* needs "model" */
    bool writes;             /* may write */
    bool deferred;           /* leaves one step (a read or write by id or unique) to run with its neighbours */
    int (*run)(request *rq, msgpack_packer *pk);
};

extern const kv_op kv_ops[];
extern const size_t kv_nops;
const kv_op *kv_op_find(const msgpack_object *name);

int rq_bad_request(request *rq, const char *fmt, const char *a, const char *b);
/* Rejects argument names the op does not take. */
int rq_check_args(request *rq, const char *const *allowed);
/* The argument, or NULL when absent or nil. */
const msgpack_object *rq_arg(request *rq, const char *name);
int rq_need_map(request *rq, const msgpack_object *o, const char *name);
int rq_unknown_field(request *rq, const char *where, const msgpack_object *k);

int rq_parse_select(request *rq, selection *sel);
/* The selection of model m's fields that select map o gives (NULL: every field and the id). Relation keys are
 * left to include.c. */
int rq_parse_selection(request *rq, const kv_model *m, const msgpack_object *o, selection *sel);
int rq_pack_record(request *rq, msgpack_packer *pk, const kv_record *r, const selection *sel);
/* The same with `extra` more entries in the record's map, which the caller packs after it (an include's). */
int rq_pack_record_with(request *rq, msgpack_packer *pk, const kv_record *r, const selection *sel, size_t extra);

void rq_encoded_init(encoded *e, int cap);
void rq_encoded_free(encoded *e);
/* Create data: every required field, defaults filled in, the id checked or generated. id_text receives the
 * id (empty when the store generates it). forced_id, when given, is the id to create under (upsert by id). */
int rq_encode_create(request *rq, const msgpack_object *data, const char *where, encoded *e, char *id_text,
                     size_t *id_len, const char *forced_id, size_t forced_len);
int rq_encode_update(request *rq, const msgpack_object *data, const char *where, encoded *e);
/* The same for a nested write (nested.c): keys naming relations are passed over, and a create takes the values
 * given (canonical bytes: foreign keys its relations set) as if data had them; data giving one too is an error. */
int rq_encode_create_nested(request *rq, const msgpack_object *data, const char *where, const kv_field_value *given,
                            int ngiven, encoded *e, char *id_text, size_t *id_len);
int rq_encode_update_nested(request *rq, const msgpack_object *data, const char *where, encoded *e);

/* Parses a where naming exactly one unique selector (id, a unique field, a compound unique). */
int rq_parse_unique_where(request *rq, const msgpack_object *where, target *t);
void rq_target_free(target *t);
int rq_not_found(request *rq, const target *t);
int rq_if_version(request *rq, kv_write *w);

/* The single-record ops (single.c). */
int kv_op_create(request *rq, msgpack_packer *pk);
int kv_op_find_unique(request *rq, msgpack_packer *pk);
int kv_op_find_unique_or_throw(request *rq, msgpack_packer *pk);
int kv_op_update(request *rq, msgpack_packer *pk);
int kv_op_upsert(request *rq, msgpack_packer *pk);
int kv_op_delete(request *rq, msgpack_packer *pk);
/* Packs the result of a deferred step once the store ran it; frees what the step held. */
int kv_pending_finish(request *rq, msgpack_packer *pk);
void kv_pending_free(pending *p);

/* The query ops (query.c, aggregate.c, many.c, check.c). */
int kv_op_find_many(request *rq, msgpack_packer *pk);
int kv_op_find_first(request *rq, msgpack_packer *pk);
int kv_op_find_first_or_throw(request *rq, msgpack_packer *pk);
int kv_op_count(request *rq, msgpack_packer *pk);
int kv_op_aggregate(request *rq, msgpack_packer *pk);
int kv_op_group_by(request *rq, msgpack_packer *pk);
int kv_op_create_many(request *rq, msgpack_packer *pk);
int kv_op_update_many(request *rq, msgpack_packer *pk);
int kv_op_delete_many(request *rq, msgpack_packer *pk);
int kv_op_explain(request *rq, msgpack_packer *pk);
int kv_op_check(request *rq, msgpack_packer *pk);
int kv_op_reindex(request *rq, msgpack_packer *pk);
int kv_op_capabilities(request *rq, msgpack_packer *pk);

#endif
