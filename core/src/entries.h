/* The index entries of a record (docs/format.md, "Index keys"), computed in C for every engine: a write passes
 * the entries to add and to remove, so no engine ever encodes a value. */
#ifndef KVORM_ENTRIES_H
#define KVORM_ENTRIES_H

#include "engine.h"

/* Appends to out the key of record (values by field index, NULL = null; id text) in index x: its parts' elements,
 * then the id's element. Returns 0 or KVORM_EINTERNAL (a stored value that is not well-formed). */
int kv_index_entry(msgpack_sbuffer *out, const kv_model *m, const kv_index *x, const char *const *values,
                   const size_t *lens, const char *id, size_t id_len, kv_error *err);

/* Appends the key of an id in the model's id collection (the id's element alone). */
int kv_id_entry(msgpack_sbuffer *out, const kv_model *m, const char *id, size_t id_len, kv_error *err);

/* Appends to out the key of record (values by field index, NULL = null) in unique constraint u: the canonical
 * values of its fields, end to end (docs/format.md). Returns false, appending nothing, when one of them is null:
 * such a record has no entry. */
bool kv_unique_key(msgpack_sbuffer *out, const kv_unique *u, const char *const *values, const size_t *lens);

/* Whether an update (or delete) can change constraint u's entry: a delete removes every entry; an update only
 * those of constraints with a field it sets or clears, so updating other fields costs no unique work at all. */
bool kv_unique_touched(const kv_unique *u, const kv_write *w);

/* Whether a write that sets or clears the given fields can change x's entry (a part's field is among them). */
bool kv_index_touched(const kv_index *x, const kv_write *w);

#endif
