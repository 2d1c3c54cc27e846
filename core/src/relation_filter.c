/* Relation filters (docs/queries.md, Relation filters): before a query runs, each relation filter of its where
 * reads the related records its own where matches (a query of the related model, planned as any other) and keeps
 * their keys, sorted, in the filter; kv_node_eval then tests each record by a binary search. The cost grows with
 * the related records matched, never with the parent model. */
#include "include_internal.h"
#include "query.h"

#include "mp.h"

#include <stdlib.h>
#include <string.h>

typedef struct keylist {
    msgpack_sbuffer data;
    size_t *off, *len, n, cap;
} keylist;

static bool keylist_add(keylist *k, const char *const *segs, const size_t *lens, int nsegs)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        size_t *o = realloc(k->off, cap * sizeof(*o)), *l = o ? realloc(k->len, cap * sizeof(*l)) : NULL;
        if (o)
            k->off = o;
        if (!o || !l)
            return false;
        k->len = l;
        k->cap = cap;
    }
    k->off[k->n] = k->data.size;
    for (int i = 0; i < nsegs; i++)
        if (msgpack_sbuffer_write(&k->data, segs[i], lens[i]) != 0)
            return false;
    k->len[k->n] = k->data.size - k->off[k->n];
    k->n++;
    return true;
}

static int cmp_keys(const void *a, const void *b, void *ctx)
{
    const keylist *k = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t n = k->len[i] < k->len[j] ? k->len[i] : k->len[j];
    int c = memcmp(k->data.data + k->off[i], k->data.data + k->off[j], n);
    return c ? c : (k->len[i] > k->len[j]) - (k->len[i] < k->len[j]);
}

/* The keys of one related record (see kv_rel_test), appended to k; none when a part is null. */
static int add_key(request *rq, const kv_model *m, const kv_relation *r, const kv_model *t, const kv_record *row,
                   keylist *k)
{
    const char *segs[KV_MAX_INDEX_PARTS];
    size_t lens[KV_MAX_INDEX_PARTS];
    int nsegs = 0, rc = 0;
    if (r->kind == KV_REL_BELONGS_TO) {
        /* the values this model's foreign key holds for row: its id's, or its unique's */
        if (r->references < 0) {
            msgpack_sbuffer sb;
            msgpack_sbuffer_init(&sb);
            if ((rc = kv_include_value_of_id(rq, m, &m->fields[r->fields[0]], t, row->id, row->id_len, &sb)) == 0) {
                segs[0] = sb.data ? sb.data : "";
                lens[0] = sb.size;
                if (!keylist_add(k, segs, lens, 1))
                    rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
            }
            msgpack_sbuffer_destroy(&sb);
            return rc;
        }
        const kv_unique *u = &t->uniques[r->references];
        for (int i = 0; i < u->nfields; i++) {
            if (!(segs[nsegs] = row->values[u->fields[i]]))
                return 0;
            lens[nsegs++] = row->lens[u->fields[i]];
        }
    } else {
        /* the key row's belongsTo references: this model's id (as text), or its unique's values */
        const kv_relation *b = &t->relations[r->inverse];
        for (int i = 0; i < b->nfields; i++) {
            if (!(segs[nsegs] = row->values[b->fields[i]]))
                return 0;
            lens[nsegs++] = row->lens[b->fields[i]];
        }
        if (b->references < 0) {
            char text[KV_MAX_ID_BYTES + 1];
            size_t tl = 0;
            msgpack_zone *zone = kv_mp_zone_take();
            msgpack_object o;
            rc = !zone ? kv_fail(rq->err, KVORM_EINTERNAL, "out of memory")
                 : kv_mp_unpack(zone, segs[0], lens[0], &o) != KV_MP_OK
                     ? kv_fail(rq->err, KVORM_EINTERNAL, "%s: a foreign key value is not MessagePack", t->name)
                     : kv_id_encode(text, &tl, m, &o, rq->err);
            kv_mp_zone_give(zone);
            if (rc != 0)
                return rc;
            segs[0] = text;
            lens[0] = tl;
            return keylist_add(k, segs, lens, 1) ? 0 : kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        }
    }
    return keylist_add(k, segs, lens, nsegs) ? 0 : kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
}

/* Reads the related records of one relation filter and keeps their keys in it (in the filter's zone). */
static int resolve(request *rq, const kv_model *m, kv_rel_test *t, msgpack_zone *zone)
{
    const kv_relation *r = &m->relations[t->relation];
    /* a manyToMany is its join model's hasMany whose records' `to` relation is (every: is not) the where */
    const kv_relation *m2m = r->kind == KV_REL_MANY_TO_MANY ? r : NULL;
    kv_relation edges;
    if (m2m) {
        edges = (kv_relation){.name = r->name, .name_len = r->name_len, .kind = KV_REL_HAS_MANY,
                              .target = r->through, .inverse = r->through_from};
        r = &edges;
    }
    const kv_model *target = &rq->db->schema->models[r->target];
    if (r->kind != KV_REL_BELONGS_TO) {
        const kv_relation *b = &target->relations[r->inverse];
        if (b->references >= 0) {
            t->unique_fields = m->uniques[b->references].fields;
            t->nunique_fields = m->uniques[b->references].nfields;
        }
    }
    t->resolved = true;
    if (!t->where)
        return 0; /* is null, isNot null: the foreign key tells */
    /* every: the records that do not match (none of them may be there) */
    msgpack_object_kv not_kv = {{.type = MSGPACK_OBJECT_STR, .via.str = {3, "NOT"}}, *t->where};
    msgpack_object not_where = {.type = MSGPACK_OBJECT_MAP, .via.map = {1, &not_kv}};
    msgpack_object related = t->op == KV_REL_EVERY ? not_where : *t->where;
    msgpack_object_kv is_kv = {{.type = MSGPACK_OBJECT_STR, .via.str = {2, "is"}}, related};
    msgpack_object_kv to_kv;
    if (m2m) { /* {to: {"is": where}} of the join model */
        const kv_relation *to = &target->relations[m2m->through_to];
        to_kv.key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {(uint32_t)to->name_len, to->name}};
        to_kv.val = (msgpack_object){.type = MSGPACK_OBJECT_MAP, .via.map = {1, &is_kv}};
        related = (msgpack_object){.type = MSGPACK_OBJECT_MAP, .via.map = {1, &to_kv}};
    }
    msgpack_object_kv where_kv = {{.type = MSGPACK_OBJECT_STR, .via.str = {5, "where"}}, related};
    msgpack_object args = {.type = MSGPACK_OBJECT_MAP, .via.map = {1, &where_kv}};
    request sub = kv_include_request(rq, target, &args);
    sub.op = rq->op;
    kv_query q;
    kv_rows rows = {0};
    keylist k = {0};
    msgpack_sbuffer_init(&k.data);
    int rc = kv_query_init(&q, &sub, &args, KV_Q_WHERE);
    if (rc == 0)
        rc = kv_query_rows(&q, &rows);
    for (size_t i = 0; rc == 0 && i < rows.n; i++)
        rc = add_key(rq, m, r, target, &rows.rows[i], &k);
    size_t *order = rc == 0 ? malloc((k.n + 1) * sizeof(*order)) : NULL;
    if (rc == 0 && !order)
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    if (rc == 0) {
        for (size_t i = 0; i < k.n; i++)
            order[i] = i;
        qsort_r(order, k.n, sizeof(*order), cmp_keys, &k);
        char *bytes = msgpack_zone_malloc(zone, k.data.size + 1);
        t->keys = msgpack_zone_malloc(zone, (k.n + 1) * sizeof(*t->keys));
        t->lens = msgpack_zone_malloc(zone, (k.n + 1) * sizeof(*t->lens));
        if (!bytes || !t->keys || !t->lens) {
            rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        } else {
            if (k.data.size)
                memcpy(bytes, k.data.data, k.data.size);
            t->nkeys = 0;
            for (size_t i = 0; i < k.n; i++) {
                size_t j = order[i];
                if (i > 0 && cmp_keys(&order[i - 1], &order[i], &k) == 0)
                    continue; /* distinct */
                t->keys[t->nkeys] = bytes + k.off[j];
                t->lens[t->nkeys++] = k.len[j];
            }
        }
    }
    free(order);
    free(k.off);
    free(k.len);
    msgpack_sbuffer_destroy(&k.data);
    kv_rows_free(&rows);
    kv_query_free(&q);
    return rc;
}

static int resolve_node(request *rq, const kv_model *m, kv_node *n, msgpack_zone *zone)
{
    if (n->kind == KV_NODE_REL)
        return n->rel.resolved ? 0 : resolve(rq, m, &n->rel, zone);
    for (int i = 0; i < n->nkids; i++) {
        int rc = resolve_node(rq, m, n->kids[i], zone);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int kv_relation_filters_resolve(request *rq, const kv_model *m, kv_filter *f)
{
    return f->root ? resolve_node(rq, m, f->root, f->zone) : 0;
}
