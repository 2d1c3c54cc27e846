/* where: parsed once into a tree of predicates over canonical values, evaluated on records with SQL's
 * three-valued logic (docs/queries.md, "where"). The planner reads the tree to find index ranges. */
#ifndef KVORM_FILTER_H
#define KVORM_FILTER_H

#include "engine.h"
#include "value.h"

#define KV_FIELD_ID (-1) /* a predicate on the id */

typedef enum kv_cmp {
    KV_CMP_EQ, KV_CMP_NE, KV_CMP_IN, KV_CMP_NOT_IN, KV_CMP_LT, KV_CMP_LTE, KV_CMP_GT, KV_CMP_GTE,
    KV_CMP_STARTS, KV_CMP_ENDS, KV_CMP_CONTAINS, KV_CMP_IS_NULL, KV_CMP_NOT_NULL
} kv_cmp;

/* One comparison of a field with operands in canonical form (an id operand is id text, docs/format.md). */
typedef struct kv_pred {
    int field;           /* index into model->fields, or KV_FIELD_ID */
    kv_cmp cmp;
    const char **vals;   /* operands: 1, or the list of in/notIn (deduplicated, sorted by value) */
    size_t *lens;
    int nvals;
} kv_pred;

typedef enum kv_node_kind { KV_NODE_AND, KV_NODE_OR, KV_NODE_NOT, KV_NODE_PRED, KV_NODE_REL } kv_node_kind;

/* A relation filter (docs/queries.md, Relation filters): some/every/none of a to-many relation's records, is/isNot
 * of a to-one's, against a where of the related model. Parsing keeps the where; before the query runs,
 * kv_relation_filters_resolve (relation_filter.c) reads the related records it matches and keeps their keys. */
typedef enum kv_rel_op { KV_REL_SOME, KV_REL_EVERY, KV_REL_NONE, KV_REL_IS, KV_REL_IS_NOT } kv_rel_op;

typedef struct kv_rel_test {
    int relation;                /* index into model->relations */
    kv_rel_op op;
    const msgpack_object *where; /* the related records' where; NULL: is/isNot null of a belongsTo */
    /* resolved: sorted, distinct keys of the related records that match (every: that do not). A belongsTo's are
     * the values its foreign key holds for them (concatenated); a hasOne's or hasMany's are the keys those
     * records reference: id text, or the referenced unique's values concatenated. */
    const char **keys;
    size_t *lens;
    size_t nkeys;
    const int *unique_fields; /* a hasOne's or hasMany's: the fields of this model its inverse references (NULL:
                               * the id) */
    int nunique_fields;
    bool resolved;
} kv_rel_test;

typedef struct kv_node {
    kv_node_kind kind;
    struct kv_node **kids; /* AND, OR: any number (AND of none is true, OR of none false); NOT: exactly one */
    int nkids;
    kv_pred pred;          /* KV_NODE_PRED */
    kv_rel_test rel;       /* KV_NODE_REL */
} kv_node;

typedef enum kv_truth { KV_FALSE = 0, KV_TRUE = 1, KV_UNKNOWN = 2 } kv_truth;

typedef struct kv_filter {
    kv_node *root;       /* never NULL after a successful parse: an empty where is an AND of nothing */
    msgpack_zone *zone;  /* owns the nodes and operand bytes */
} kv_filter;

/* Parses where (a map, or NULL for none) for model m. Errors: BAD_REQUEST for an unknown field, operator or
 * shape (naming it), VALIDATION for a value of the wrong type (naming model and field). On failure nothing is
 * left to free beyond kv_filter_free, which is always safe to call. */
int kv_filter_parse(kv_filter *f, const kv_model *m, const msgpack_object *where, kv_mode mode, kv_error *err);
void kv_filter_free(kv_filter *f);

/* The truth of the filter for record r (values by field index, id text). */
kv_truth kv_filter_eval(const kv_filter *f, const kv_model *m, const kv_record *r);
kv_truth kv_node_eval(const kv_node *n, const kv_model *m, const kv_record *r);
/* Whether the tree holds a relation filter (kv_relation_filters_resolve must run before it is evaluated). */
bool kv_filter_has_relations(const kv_node *n);

#endif
