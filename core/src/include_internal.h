/* What include.c and include_many.c share: the parsed include and what its loading keeps. */
#ifndef KVORM_INCLUDE_INTERNAL_H
#define KVORM_INCLUDE_INTERNAL_H

#include "include.h"
#include "query.h"

typedef struct inc_item {
    const kv_relation *rel;
    const kv_model *target;
    const kv_model *through; /* a manyToMany's join model, or NULL */
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
    /* the include's cursor (the request's) and the id of its record: the position every parent's records start
     * at (a negative take: end at) */
    const msgpack_object *cursor;
    char cursor_id[KV_MAX_ID_BYTES + 1];
    size_t cursor_id_len;
    size_t *first, *count, *members;
} inc_item;

/* A relation counted in `_count`: its records per parent (a hasMany's; a manyToMany's join records), those
 * matching where when given. */
typedef struct inc_count {
    const kv_relation *rel;
    const kv_model *target;      /* the model whose records are counted: a manyToMany's join model */
    int inverse;                 /* the target's belongsTo that names the parent */
    const msgpack_object *where; /* the request's, or to_where: a manyToMany's {to: {"is": where}} */
    msgpack_object_kv is_kv, to_kv;
    msgpack_object to_where;
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
/* {f1: v1, f2: v2...}: the fields of model t with the values of key (canonical values end to end, each one
 * MessagePack object: written into sb as they are), packed by pk. */
void kv_include_pack_key_map(msgpack_packer *pk, msgpack_sbuffer *sb, const kv_model *t, const int *fields,
                             int nfields, const char *key, size_t len);
/* Runs a query of it's target whose args are the MessagePack document doc (q: initialised here, freed by the
 * caller) and appends its rows to it->recs. */
int kv_include_query_into(request *rq, inc_item *it, const msgpack_sbuffer *doc, kv_query *q);
/* The window of one parent's `total` records in order, `head` and `tail` its first and last (NULL when none): the
 * first `*from` skipped, `*count` taken (the item's skip and take; a negative take counts, and skips, from the
 * end). With a cursor, skip counts the cursor's own position, as a query's does: one is spent on it when its
 * record is not at the group's start (with a negative take: its end). */
void kv_include_window(const inc_item *it, const kv_record *head, const kv_record *tail, size_t total,
                       size_t *from, size_t *count);
/* The entries a target query's args get after its where: orderBy, cursor (and, with a cursor and a negative take,
 * a take that reads backwards from it without a bound), packed by pk; how many is kv_include_order_entries. */
uint32_t kv_include_order_entries(const inc_item *it);
void kv_include_pack_order(msgpack_packer *pk, const inc_item *it);
/* Loads to-many item it for the n parents of model m: one query of the target per 256 distinct keys, with the
 * item's where and the foreign key in the parents' keys; its rows grouped by parent, each group windowed. */
int kv_include_load_many(request *rq, const kv_model *m, inc_item *it, const kv_record *const *parents, size_t n);

/* Loads manyToMany item it for the n parents of model m (include_through.c): the join records, then the targets
 * they name in one query of the target (per KV_MAX_RANGES keys), grouped by parent in the query's order. */
int kv_include_load_through(request *rq, const kv_model *m, inc_item *it, const kv_record *const *parents,
                            size_t n);

/* Counts every relation of inc's `_count` for the n parents of model m: per parent, the keys of its range of the
 * foreign key's index, all parents' first chunks in one engine call (a where that the range does not decide
 * counts parent by parent). */
int kv_include_load_counts(request *rq, const kv_model *m, kv_include *inc, const kv_record *const *parents,
                           size_t n);

#endif
