/* What include.c and include_many.c share: the parsed include and what its loading keeps. */
#ifndef KVORM_INCLUDE_INTERNAL_H
#define KVORM_INCLUDE_INTERNAL_H

#include "include.h"

typedef struct inc_item {
    const kv_relation *rel;
    const kv_model *target;
    selection sel;        /* of the target's fields */
    kv_include *nested;   /* the target records' own include, or NULL */
    kv_record *recs;      /* the records loaded (distinct for a to-one relation) */
    size_t nrecs;
    size_t nparents;
    /* to-one: per record of the level above, its record in recs, or -1 */
    long *of_parent;
    /* to-many: the include's own where and orderBy (the request's), its window per parent, and per parent its
     * records, in the query's order: members[first[i] .. first[i] + count[i]) index recs */
    bool many;
    const msgpack_object *where, *order_by;
    bool has_take;
    int64_t take, skip;
    size_t *first, *count, *members;
} inc_item;

/* A relation counted in `_count`: its records per parent (a hasMany's), those matching where when given. */
typedef struct inc_count {
    const kv_relation *rel;
    const kv_model *target;
    const msgpack_object *where;
    int64_t *counts;   /* per record of the level above */
    size_t nparents;
} inc_count;

struct kv_include {
    inc_item *items;
    int n;
    inc_count *counts; /* `_count`: the relations counted, or none */
    int ncounts;
};

/* rq as a query of target model t with args: what the target's own query sees (its messages say "include"). */
request kv_include_request(const request *rq, const kv_model *t, const msgpack_object *args);
/* Checks args (a where; with KV_Q_WINDOW orderBy, take and skip too) as the target's query would, now, not only
 * once there are parents to load: 0, or its BAD_REQUEST or VALIDATION. */
int kv_include_check_args(const request *rq, const kv_model *t, const msgpack_object *args, int what);

/* The canonical value of field f of model owner (of type string or integer) that holds the id text `id` of a
 * record of model t, appended to out. */
int kv_include_value_of_id(request *rq, const kv_model *owner, const kv_field *f, const kv_model *t, const char *id,
                           size_t len, msgpack_sbuffer *out);
/* Loads to-many item it for the n parents of model m: one query of the target per 256 distinct keys, with the
 * item's where and the foreign key in the parents' keys; its rows grouped by parent, each group windowed. */
int kv_include_load_many(request *rq, const kv_model *m, inc_item *it, const kv_record *const *parents, size_t n);

/* Counts every relation of inc's `_count` for the n parents of model m: per parent, the keys of its range of the
 * foreign key's index, all parents' first chunks in one engine call (a where that the range does not decide
 * counts parent by parent). */
int kv_include_load_counts(request *rq, const kv_model *m, kv_include *inc, const kv_record *const *parents,
                           size_t n);

#endif
