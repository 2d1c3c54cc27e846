/* Referential integrity (docs/schema.md, "Writes keep relations consistent"): the guards a write carries so that
 * the foreign keys it sets name existing records, and the deletes (and changes of referenced keys) that act on
 * the records referencing them: restrict, cascade, setNull, noAction, all in one atomic write. */
#ifndef KVORM_REFS_H
#define KVORM_REFS_H

#include "query.h"

void kv_ref_guards_free(kv_ref_guards *g);

/* Adds to out an EXISTS guard for each foreign key of m that the values give in full (a create's data, an
 * update's set: fv), when `when` ('a', 'c', 'u'). whole: fv is a whole record (a create), where a foreign key
 * partly given is null; an update that sets some fields of a compound foreign key but neither sets nor clears the
 * others is VALIDATION, naming the relation. Returns 0 or the error. */
int kv_refs_guard_values(request *rq, const kv_model *m, const kv_field_value *fv, int n, const int *unset,
                         int nunset, bool whole, char when, kv_ref_guards *out);
/* The guards of write w (create data, update set, or both for an upsert) attached to it (w->guards). */
int kv_refs_guard_write(request *rq, kv_write *w, kv_ref_guards *out);

/* Whether some belongsTo of the schema targets m: its deletes act on the records that reference it. */
bool kv_refs_referenced(const kvorm_schema *s, const kv_model *m);
/* Whether update w of a record of m (set, unset) changes a key that a belongsTo references (a unique's field). */
bool kv_refs_key_changed(const kvorm_schema *s, const kv_model *m, const kv_write *w);
/* Whether request document root (an op map) must run at once rather than wait with its neighbours: a delete of
 * a referenced model, an update or upsert that may change a referenced key. */
bool kv_refs_runs_at_once(const kvorm_schema *s, const msgpack_object *root);

/* Checks a delete's "inChunks" (true, false or null): BAD_REQUEST when it is anything else. */
int kv_refs_chunks_arg(request *rq);

/* The single-record delete, update or upsert of a record others reference (single.c parsed it into rq->step):
 * read, planned with what references it, written all or nothing, its result packed. */
int kv_refs_run_single(request *rq, msgpack_packer *pk);

/* deleteMany, updateMany of referenced records: rows[from, from + k) and what references them, in as few atomic
 * writes as the engine's bound allows (each all or nothing); a record changed since read is read again and kept
 * only while it matches q's where. Adds the rows written to *written. */
int kv_refs_write_rows(request *rq, const kv_query *q, const kv_rows *rows, size_t from, size_t k,
                       const kv_write *tmpl, int64_t *written);

#endif
