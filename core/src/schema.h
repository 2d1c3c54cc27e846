/* The loaded schema: models, fields, id strategies, unique constraints, and each model's stored layout. */
#ifndef KVORM_SCHEMA_H
#define KVORM_SCHEMA_H

#include "error.h"
#include "mp.h"

#include <stdbool.h>
#include <stddef.h>

#define KV_MAX_NAME 64
#define KV_FORMAT_VERSION 2
#define KV_MAX_INDEX_PARTS 8 /* parts of one index */
#define KV_MAX_INDEXES 32    /* secondary indexes of one model */
#define KV_MAX_UNIQUES 32    /* unique constraints of one model */
#define KV_MAX_BUILT (KV_MAX_INDEXES + KV_MAX_UNIQUES)

typedef enum kv_type {
    KV_T_STRING, KV_T_INTEGER, KV_T_FLOAT, KV_T_BOOLEAN, KV_T_DATETIME, KV_T_DECIMAL, KV_T_ENUM, KV_T_JSON, KV_T_BYTES
} kv_type;

typedef enum kv_id_kind {
    KV_ID_ULID, KV_ID_UUIDV7, KV_ID_STRING, KV_ID_INCREMENT, KV_ID_INTEGER
} kv_id_kind;

typedef enum kv_default_kind { KV_DEFAULT_NONE, KV_DEFAULT_LITERAL, KV_DEFAULT_NOW } kv_default_kind;

typedef struct kv_field {
    const char *name;
    size_t name_len;
    const char *name_mp; /* the name as a packed MessagePack str (its header, then name_len bytes) */
    size_t name_mp_len;
    kv_type type;
    bool optional;
    bool unique;
    const char **values; /* enum values */
    size_t *value_lens;
    int nvalues;
    kv_default_kind default_kind;
    const char *default_bytes; /* canonical encoding of a literal default */
    size_t default_len;
} kv_field;

typedef struct kv_unique {
    const char *name;   /* constraint name: the field, the given name, or fields joined by '_' */
    int *fields;        /* field indexes, in declaration order */
    int nfields;
} kv_unique;

/* One part of an index key: a field and its direction. */
typedef struct kv_index_part {
    int field; /* index into model->fields */
    bool desc;
} kv_index_part;

/* A secondary index (docs/schema.md): an ordered list of fields. Each record has exactly one entry in it,
 * nulls included (docs/format.md, index keys). */
typedef struct kv_index {
    const char *name;   /* the field for `"index": true`, the given name, or the fields joined by '_' */
    kv_index_part *parts;
    int nparts;
} kv_index;

/* What a delete (or a change of the referenced key) of a target does to the records that reference it. */
typedef enum kv_ref_action { KV_REF_RESTRICT, KV_REF_CASCADE, KV_REF_SET_NULL, KV_REF_NO_ACTION } kv_ref_action;

typedef enum kv_relation_kind {
    KV_REL_BELONGS_TO, KV_REL_HAS_ONE, KV_REL_HAS_MANY, KV_REL_MANY_TO_MANY
} kv_relation_kind;

/* A relation of a model (docs/schema.md, Relations). A belongsTo holds the foreign key: fields of its own model
 * whose values are the referenced key of a target record (its id, or a unique constraint's fields). hasOne and
 * hasMany are the other side of a belongsTo of the target (their inverse); manyToMany goes through a join model
 * that has a belongsTo to each side. */
typedef struct kv_relation {
    const char *name;
    size_t name_len;
    kv_relation_kind kind;
    int target;       /* index into schema->models */
    /* belongsTo */
    int *fields;      /* the foreign key: field indexes of this model, in the order of the referenced key */
    int nfields;
    int references;   /* -1: the target's id; else an index into the target's uniques */
    bool optional;    /* the foreign key's fields are optional: a record may have no target */
    kv_ref_action on_delete, on_update;
    int fk_index;     /* an index of this model whose leading parts are the foreign key, or -1 */
    int fk_unique;    /* a unique constraint of this model of exactly the foreign key, or -1 */
    /* hasOne, hasMany: the belongsTo of the target they are the inverse of (an index into its relations) */
    int inverse;
    /* manyToMany: the join model, its belongsTo to this model (from) and to the target (to) */
    int through, through_from, through_to;
} kv_relation;

typedef struct kv_model {
    const char *name;
    kv_id_kind id_kind;
    kv_field *fields;
    int nfields;
    kv_unique *uniques;
    int nuniques;
    kv_index *indexes;
    int nindexes;
    kv_relation *relations;
    int nrelations;
    int position;           /* index into schema->models */
    const char *layout;     /* stored layout, canonical MessagePack (docs/schema.md) */
    size_t layout_len;
} kv_model;

struct kvorm_schema {
    int refcount;
    msgpack_zone *zone; /* owns every string and array above */
    const char *ns;
    kv_model *models;
    int nmodels;
};

int kv_schema_load(kvorm_schema **out, const char *msgpack_doc, size_t len, kv_error *err);
kvorm_schema *kv_schema_ref(const kvorm_schema *s);
void kv_schema_unref(kvorm_schema *s);

const kv_model *kv_schema_model(const kvorm_schema *s, const char *name, size_t len);
int kv_model_field(const kv_model *m, const char *name, size_t len); /* index or -1 */
int kv_model_index(const kv_model *m, const char *name, size_t len); /* index into m->indexes or -1 */
int kv_model_unique(const kv_model *m, const char *name, size_t len); /* index into m->uniques or -1 */
int kv_model_relation(const kv_model *m, const char *name, size_t len); /* index into m->relations or -1 */
/* What the store builds for a model: its indexes, then its unique constraints (the engine's index_states). */
static inline int kv_model_nbuilt(const kv_model *m) { return m->nindexes + m->nuniques; }
const char *kv_type_name(kv_type t);
/* Whether o is a str matching [A-Za-z_][A-Za-z0-9_]* of at most KV_MAX_NAME bytes. */
bool kv_is_identifier(const msgpack_object *o);
bool kv_id_is_integer(const kv_model *m);

/* Compares the stored layout of a model with the current one. Returns 0 if the same, 1 if the current one
 * is a compatible extension (store it), or KVORM_ESCHEMA_MISMATCH with err naming what changed. */
int kv_layout_compare(const kv_model *m, const char *stored, size_t stored_len, kv_error *err);

/* The stored indexes and unique constraints a model no longer has: names (NUL-terminated identifiers). */
typedef struct kv_layout_removed {
    const char **indexes;
    int nindexes;
    const char **uniques;
    int nuniques;
} kv_layout_removed;

/* Which indexes and unique constraints an open must build or drop, once kv_layout_compare accepted the stored
 * layout (it is called again here, so a mismatch is returned, never a wrong answer). For a model whose stored
 * layout is `stored`:
 * - is_new (kv_model_nbuilt(m) entries: indexes, then uniques; filled by the call): true when that index or
 *   constraint is not in the stored layout, so its entries do not exist yet (build it: `reindex`; until then the
 *   planner must not use it);
 * - *removed: the names (allocated in zone) of the stored ones the model no longer has, whose entries the engine
 *   drops.
 * stored == NULL or stored_len == 0 (no layout stored yet: a new model): everything is new, nothing removed.
 * Returns 0, SCHEMA_MISMATCH (as kv_layout_compare) or INTERNAL (out of memory). */
int kv_layout_index_changes(const kv_model *m, const char *stored, size_t stored_len, bool *is_new,
                            kv_layout_removed *removed, msgpack_zone *zone, kv_error *err);

#endif
