/* A query of the findMany family (docs/queries.md): its where, order, window and cursor, the plan chosen for it,
 * and the rows it finds. Written once, above the engine interface. */
#ifndef KVORM_QUERY_H
#define KVORM_QUERY_H

#include "filter.h"
#include "request.h"

#define KV_MAX_ORDER 16      /* orderBy keys, the id included */
#define KV_MAX_RANGES 256    /* ranges of one plan (the product of the in-lists of an index's parts) */
#define KV_SCAN_CHUNK 1000   /* keys read per command (docs/queries.md: no call does unbounded work) */

#define KV_ORDER_RELATION (-2) /* an order key on a relation: a to-one one's field, or a to-many one's count */

typedef struct kv_order_key {
    int field; /* index into model->fields, KV_FIELD_ID, or KV_ORDER_RELATION */
    bool desc;
    bool nulls_first;
    /* KV_ORDER_RELATION: the model's relation, and the field of its target (KV_FIELD_ID for the id) or its count */
    int relation;
    int target_field;
    bool count;
} kv_order_key;

typedef enum kv_plan_kind {
    KV_PLAN_GET, KV_PLAN_UNIQUE, KV_PLAN_INDEX, KV_PLAN_SCAN, KV_PLAN_EMPTY, KV_PLAN_UNION
} kv_plan_kind;

typedef struct kv_plan {
    kv_plan_kind kind;
    const kv_index *index;  /* INDEX */
    kv_range *ranges;       /* INDEX and SCAN (one open range of the id collection) */
    int nranges;
    msgpack_sbuffer bounds; /* the bytes the ranges point into */
    size_t *bound_off;      /* per range: lo offset, lo len, hi offset, hi len (NULL data = open) */
    const kv_pred *ids;     /* GET: the id equality or in-list */
    int unique;             /* UNIQUE: the constraint; its values in ukey */
    msgpack_sbuffer ukey;
    bool ordered;           /* the ranges, read in order, give the query's order: reading can stop early */
    bool reverse;           /* read the ranges from their high end */
    bool covered;           /* the ranges are exactly the where: counting keys counts rows */
    bool exact_count_ok;    /* covered, and no cut keys: an engine count is the answer */
    int fixed_parts;        /* leading index parts fixed by equalities */
    bool has_range;         /* a range on the part after them */
    int skipped[KV_MAX_BUILT]; /* indexes, then uniques (numbered as index_states) not used: still being built */
    int nskipped;
} kv_plan;

typedef struct kv_query {
    request *rq;
    const kv_model *model;
    kv_filter filter;
    kv_order_key order[KV_MAX_ORDER];
    int norder;              /* the last key is always the id */
    bool given_order;        /* orderBy was given */
    bool relation_order;     /* a key is a relation's: no index gives the order, the rows are sorted once read */
    bool has_take;
    int64_t take;            /* as given (negative: from the end) */
    int64_t skip;
    bool from_end;           /* negative take: the order was reversed to read, the rows are flipped back */
    bool has_cursor;
    const char *cursor_vals[KV_MAX_ORDER]; /* per order key: the cursor's value (NULL = null) */
    size_t cursor_lens[KV_MAX_ORDER];
    msgpack_sbuffer cursor_buf;
    char cursor_id[KV_MAX_ID_BYTES + 1];
    size_t cursor_id_len;
    kv_record cursor_record;
    bool refuse_scans;
    kv_plan plan;
    bool in_snapshot;   /* the engine reads this query in one snapshot: no record moves while it is read */
    bool rows_in_order; /* collect found the rows in the query's order already: no sort */
} kv_query;

/* The rows found, in the query's order. */
/* Rows found, each record once: a record that moves within an index while a range is read page by page (or
 * matches two branches of a union) is met again, and the copy met later is dropped. */
typedef struct kv_rows {
    kv_record *rows;
    size_t n, cap;
    size_t *slots; /* open addressing by id hash: row index + 1, 0 = empty */
    size_t nslots; /* a power of two, at least twice n */
    bool distinct; /* each id comes once (one range read in one snapshot): the slots are not kept */
} kv_rows;

void kv_rows_free(kv_rows *r);

/* What a query op takes: orderBy, take, skip, cursor, or only the where (updateMany, deleteMany). */
enum { KV_Q_WHERE = 0, KV_Q_WINDOW = 1 };

/* Parses the where (and, with KV_Q_WINDOW, orderBy, take, skip, cursor) of rq's args and plans the query. */
int kv_query_init(kv_query *q, request *rq, const msgpack_object *args, int what);
void kv_query_free(kv_query *q);

/* Runs the plan: the rows that match, ordered, skipped and taken. */
int kv_query_rows(kv_query *q, kv_rows *out);
/* Runs n queries as kv_query_rows would, outs[i] the rows of qs[i]; those whose rows are the first keys of one
 * ordered range (a take, no cursor) read their first keys together (one engine call) and their records in
 * batches of KV_SCAN_CHUNK, and a query that these do not settle (rows filtered out, a cut value) runs on its own
 * afterwards. An include's to-many relation with a take runs its parents' queries so. */
int kv_query_rows_many(kv_query *qs, size_t n, kv_rows *outs);
/* Whether q is one kv_query_rows_many reads by its first keys: a take, no cursor, one range of an index whose key
 * order is the query's order. */
bool kv_query_first_keys_decide(const kv_query *q);
/* The number of rows kv_query_rows would return, without reading records when the plan allows. */
int kv_query_count(kv_query *q, int64_t *out);

/* Compares two records in the query's order (the id last); not for an order on a relation (kv_query_sort). */
int kv_query_cmp(const kv_query *q, const kv_record *a, const kv_record *b);
/* Sorts rows in the query's order, the values of its relation keys loaded for them first (order_relations.c). */
int kv_query_sort(kv_query *q, kv_record *rows, size_t n);

/* One record's value of an order key on a relation: the target's field (v NULL: null, or no target), or the
 * count of its related records. */
typedef struct kv_order_value {
    const char *v;
    size_t len;
    int64_t n;
} kv_order_value;
/* Loads relation key k's value for each of the n rows into out[0 .. n), as an include would load the relation (one
 * batch of reads for all rows). The values may point into *keep, which the caller frees (kv_include_free). */
struct kv_include;
int kv_order_relation_values(kv_query *q, const kv_order_key *k, kv_record *rows, size_t n, kv_order_value *out,
                             struct kv_include **keep);

/* Planning (plan.c). */
int kv_plan_build(kv_query *q);
void kv_plan_free(kv_plan *p);
/* Packs the plan as explain returns it (a map with `extra` more entries, which the caller packs after it); the
 * estimate asks the engine for the number of keys in the ranges. */
int kv_plan_explain(kv_query *q, const char *op, msgpack_packer *pk, size_t extra);
/* The id of the KV_PLAN_GET's i-th value as a locator (text in the pred). */

/* Reads what each relation filter of f needs (relation_filter.c): the related records its where matches. */
int kv_relation_filters_resolve(request *rq, const kv_model *m, kv_filter *f);

/* Whether scans are refused for this query (refuseScans, else the db's option); fills err with REFUSED. */
int kv_query_refuse(kv_query *q);

#endif
