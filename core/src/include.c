/* Loading the relations of a read (include.h): parsing, the levels, packing. A to-one relation (belongsTo, hasOne)
 * is one read by id or by unique per distinct target, all of a level's reads sent to the engine together; a
 * to-many one (hasMany) is a query of its own (include_many.c). */
#include "include_internal.h"

#include "keycode.h"
#include "query.h"

#include <stdlib.h>
#include <string.h>

static int include_parse(request *rq, const kv_model *m, const msgpack_object *include,
                         const msgpack_object *select, int depth, kv_include **out);

static int bad(request *rq, const kv_model *m, const char *fmt, const char *a, const char *b)
{
    return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, fmt, a, b);
}

int kv_include_pack_one(request *rq, msgpack_packer *pk, kv_include *inc, const kv_record *r, const selection *sel)
{
    if (!inc)
        return rq_pack_record(rq, pk, r, sel);
    int rc = kv_include_load(rq, inc, rq->model, &r, 1);
    if (rc == 0)
        rc = rq_pack_record_with(rq, pk, r, sel, kv_include_count(inc));
    return rc == 0 ? kv_include_pack(rq, pk, inc, 0) : rc;
}

request kv_include_request(const request *rq, const kv_model *t, const msgpack_object *args)
{
    request sub = *rq;
    sub.model = t;
    sub.args = args;
    sub.op = "include";
    return sub;
}

int kv_include_check_args(const request *rq, const kv_model *t, const msgpack_object *args, int what)
{
    request sub = kv_include_request(rq, t, args);
    kv_query q;
    int rc = kv_query_init(&q, &sub, args, what);
    kv_query_free(&q);
    return rc;
}

/* One relation to load, from its value in `include` or `select`: true, or a map of its own arguments. */
static int parse_item(request *rq, const kv_model *m, int relation, const msgpack_object *v, int depth,
                      inc_item *it)
{
    const kv_relation *r = &m->relations[relation];
    const kv_model *t = &rq->db->schema->models[r->target];
    const msgpack_object *select = NULL, *include = NULL;
    it->rel = r;
    it->target = t;
    it->many = r->kind == KV_REL_HAS_MANY || r->kind == KV_REL_MANY_TO_MANY;
    it->through = r->kind == KV_REL_MANY_TO_MANY ? &rq->db->schema->models[r->through] : NULL;
    if (v->type == MSGPACK_OBJECT_MAP) {
        static const char *const one_keys[] = {"select", "include", NULL};
        static const char *const many_keys[] = {"select", "include", "where", "orderBy", "take", "skip", "cursor",
                                                NULL};
        const msgpack_object *k = kv_mp_unknown_key(v, it->many ? many_keys : one_keys);
        if (k) {
            char q[96] = "(not a string)";
            if (k->type == MSGPACK_OBJECT_STR)
                kv_quote(q, sizeof(q), k->via.str.ptr, k->via.str.size);
            return bad(rq, m,
                       it->many ? "include: %s takes \"select\", \"include\", \"where\", \"orderBy\", \"take\", "
                                  "\"skip\" and \"cursor\", not %s"
                                : "include: %s takes \"select\" and \"include\" (a to-one relation), not %s",
                       r->name, q);
        }
        select = kv_mp_map_get(v, "select");
        include = kv_mp_map_get(v, "include");
        if (select && select->type == MSGPACK_OBJECT_NIL)
            select = NULL;
        if (include && include->type == MSGPACK_OBJECT_NIL)
            include = NULL;
        if (it->many) {
            const msgpack_object *take = kv_mp_map_get(v, "take"), *skip = kv_mp_map_get(v, "skip");
            it->where = kv_mp_map_get(v, "where");
            it->order_by = kv_mp_map_get(v, "orderBy");
            if (take && take->type == MSGPACK_OBJECT_POSITIVE_INTEGER && take->via.u64 <= INT64_MAX) {
                it->has_take = true;
                it->take = (int64_t)take->via.u64;
            } else if (take && take->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
                it->has_take = true;
                it->take = take->via.i64;
            } else if (take && take->type != MSGPACK_OBJECT_NIL) {
                return bad(rq, m, "include: the \"take\" of %s must be an integer%s", r->name, "");
            }
            if (skip && skip->type == MSGPACK_OBJECT_POSITIVE_INTEGER && skip->via.u64 <= INT64_MAX)
                it->skip = (int64_t)skip->via.u64;
            else if (skip && skip->type != MSGPACK_OBJECT_NIL)
                return bad(rq, m, "include: the \"skip\" of %s must be a non-negative integer%s", r->name, "");
            it->cursor = kv_mp_map_get(v, "cursor");
            if (it->cursor && it->cursor->type == MSGPACK_OBJECT_NIL)
                it->cursor = NULL;
            /* checked now, and the cursor's record found once: its id is where each parent's window starts */
            request sub = kv_include_request(rq, t, v);
            kv_query q;
            int rc = kv_query_init(&q, &sub, v, KV_Q_WINDOW);
            if (rc == 0 && it->cursor) {
                memcpy(it->cursor_id, q.cursor_id, q.cursor_id_len);
                it->cursor_id_len = q.cursor_id_len;
            }
            kv_query_free(&q);
            if (rc != 0)
                return rc;
        }
    }
    int rc = rq_parse_selection(rq, t, select, &it->sel);
    if (rc == 0)
        rc = include_parse(rq, t, include, select, depth + 1, &it->nested);
    return rc;
}

/* The entries of one map (`include`, or the relation keys of `select`) into inc. */
/* A counted relation: a hasMany counts its target's records whose foreign key names the parent; a manyToMany its
 * join model's records, those whose `to` relation is the where's when one is given (ic->where points into ic). */
static int count_init(request *rq, const kv_model *m, int rel, const msgpack_object *args, inc_count *ic)
{
    const kv_relation *r = &m->relations[rel];
    const kvorm_schema *s = rq->db->schema;
    bool m2m = r->kind == KV_REL_MANY_TO_MANY;
    *ic = (inc_count){.rel = r, .target = &s->models[m2m ? r->through : r->target],
                      .inverse = m2m ? r->through_from : r->inverse};
    if (!args || !(ic->where = kv_mp_map_get(args, "where")))
        return 0;
    int rc = kv_include_check_args(rq, &s->models[r->target], args, KV_Q_WHERE);
    if (rc == 0 && m2m) {
        const kv_relation *to = &ic->target->relations[r->through_to];
        ic->is_kv = (msgpack_object_kv){{.type = MSGPACK_OBJECT_STR, .via.str = {2, "is"}}, *ic->where};
        ic->to_kv.key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {(uint32_t)to->name_len, to->name}};
        ic->to_kv.val = (msgpack_object){.type = MSGPACK_OBJECT_MAP, .via.map = {1, &ic->is_kv}};
        ic->to_where = (msgpack_object){.type = MSGPACK_OBJECT_MAP, .via.map = {1, &ic->to_kv}};
        ic->where = &ic->to_where;
    }
    return rc;
}

static bool counted(const kv_relation *r) { return r->kind == KV_REL_HAS_MANY || r->kind == KV_REL_MANY_TO_MANY; }

/* `_count`: true (every to-many relation of m) or {"select": {relation: true | {"where": ...}}}. */
static int parse_count(request *rq, const kv_model *m, const msgpack_object *v, kv_include *inc)
{
    const msgpack_object *sel = v->type == MSGPACK_OBJECT_MAP ? kv_mp_map_get(v, "select") : NULL;
    static const char *const keys[] = {"select", NULL};
    if (m->nrelations == 0)
        return bad(rq, m, "include: \"_count\": %s has no relations%s", m->name, "");
    if (inc->counts)
        return bad(rq, m, "include: \"_count\" is given in both \"include\" and \"select\"%s%s", "", "");
    if (!(v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean) &&
        !(v->type == MSGPACK_OBJECT_MAP && !kv_mp_unknown_key(v, keys) && sel && sel->type == MSGPACK_OBJECT_MAP))
        return bad(rq, m, "include: \"_count\" must be true or {\"select\": {relation: true or {\"where\": ...}}}%s%s",
                   "", "");
    if (!(inc->counts = calloc((size_t)m->nrelations + 1, sizeof(*inc->counts))))
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    for (int r = 0; r < m->nrelations && !sel; r++)
        if (counted(&m->relations[r]))
            count_init(rq, m, r, NULL, &inc->counts[inc->ncounts++]);
    for (uint32_t i = 0; sel && i < sel->via.map.size; i++) {
        const msgpack_object *k = &sel->via.map.ptr[i].key, *c = &sel->via.map.ptr[i].val;
        int rel = k->type == MSGPACK_OBJECT_STR ? kv_model_relation(m, k->via.str.ptr, k->via.str.size) : -1;
        char q[96] = "(not a string)";
        if (k->type == MSGPACK_OBJECT_STR)
            kv_quote(q, sizeof(q), k->via.str.ptr, k->via.str.size);
        if (rel < 0)
            return bad(rq, m, "include: _count: %s is not a relation of %s", q, m->name);
        if (!counted(&m->relations[rel]))
            return bad(rq, m, "include: _count: %s is a to-one relation: only hasMany and manyToMany are counted%s",
                       q, "");
        if (c->type == MSGPACK_OBJECT_BOOLEAN && !c->via.boolean)
            continue;
        static const char *const ckeys[] = {"where", NULL};
        if (!(c->type == MSGPACK_OBJECT_BOOLEAN) && !(c->type == MSGPACK_OBJECT_MAP && !kv_mp_unknown_key(c, ckeys)))
            return bad(rq, m, "include: _count: the value for %s must be true, false or {\"where\": ...}%s", q, "");
        int rc = count_init(rq, m, rel, c->type == MSGPACK_OBJECT_MAP ? c : NULL, &inc->counts[inc->ncounts++]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_map(request *rq, const kv_model *m, const msgpack_object *map, bool from_select, int depth,
                     kv_include *inc)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key, *v = &map->via.map.ptr[i].val;
        if (kv_mp_str_eq(k, "_count")) {
            int rc = v->type == MSGPACK_OBJECT_BOOLEAN && !v->via.boolean ? 0 : parse_count(rq, m, v, inc);
            if (rc != 0)
                return rc;
            continue;
        }
        int rel = k->type == MSGPACK_OBJECT_STR ? kv_model_relation(m, k->via.str.ptr, k->via.str.size) : -1;
        if (rel < 0 && from_select)
            continue; /* a field: the selection's */
        if (rel < 0) {
            char q[96] = "(not a string)";
            if (k->type == MSGPACK_OBJECT_STR)
                kv_quote(q, sizeof(q), k->via.str.ptr, k->via.str.size);
            return bad(rq, m, "include: %s is not a relation of %s", q, m->name);
        }
        if (v->type == MSGPACK_OBJECT_BOOLEAN && !v->via.boolean)
            continue;
        if (v->type != MSGPACK_OBJECT_BOOLEAN && v->type != MSGPACK_OBJECT_MAP)
            return bad(rq, m, "include: the value for %s must be true, false or a map of its arguments%s",
                       m->relations[rel].name, "");
        for (int j = 0; j < inc->n; j++)
            if (inc->items[j].rel == &m->relations[rel])
                return bad(rq, m, "include: %s is given in both \"include\" and \"select\"%s",
                           m->relations[rel].name, "");
        int rc = parse_item(rq, m, rel, v, depth, &inc->items[inc->n]);
        inc->n++; /* counted even when it failed: kv_include_free frees what it holds */
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int include_parse(request *rq, const kv_model *m, const msgpack_object *include,
                         const msgpack_object *select, int depth, kv_include **out)
{
    *out = NULL;
    if (include && include->type != MSGPACK_OBJECT_MAP)
        return bad(rq, m, "%s: \"include\" must be a map of relation names%s", rq->op, "");
    if (select && select->type != MSGPACK_OBJECT_MAP)
        select = NULL; /* rq_parse_selection said what is wrong with it */
    size_t cap = (include ? include->via.map.size : 0) + (select ? select->via.map.size : 0);
    if (cap == 0 || m->nrelations == 0) {
        if (include && include->via.map.size > 0)
            return parse_map(rq, m, include, false, depth, &(kv_include){NULL, 0, NULL, 0}); /* names the unknown key */
        return 0;
    }
    if (depth > KV_MAX_DEPTH)
        return bad(rq, m, "include: nested deeper than %s levels%s", "32", "");
    kv_include *inc = calloc(1, sizeof(*inc));
    if (!inc || !(inc->items = calloc(cap, sizeof(*inc->items)))) {
        free(inc);
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    }
    int rc = 0;
    if (include)
        rc = parse_map(rq, m, include, false, depth, inc);
    if (rc == 0 && select)
        rc = parse_map(rq, m, select, true, depth, inc);
    if (rc != 0 || (inc->n == 0 && inc->ncounts == 0)) {
        kv_include_free(inc);
        return rc;
    }
    *out = inc;
    return 0;
}

int kv_include_parse(request *rq, const kv_model *m, const msgpack_object *include, const msgpack_object *select,
                     kv_include **out)
{
    return include_parse(rq, m, include, select, 1, out);
}

/* ---- loading ---- */

/* The keys of one level's reads: for each parent, its target's key (id text or unique key), or none. */
typedef struct keyset {
    msgpack_sbuffer bytes;
    size_t *off, *len; /* per parent; len SIZE_MAX: no target */
    size_t *order;     /* parents sorted by key */
    size_t n;
} keyset;

static int key_cmp(const void *a, const void *b, void *ctx)
{
    const keyset *k = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t li = k->len[i], lj = k->len[j];
    int c = memcmp(k->bytes.data + k->off[i], k->bytes.data + k->off[j], li < lj ? li : lj);
    if (c == 0)
        c = li < lj ? -1 : li > lj;
    return c;
}

/* The id text of the target a foreign key value (canonical bytes) points at, appended to out. */
static int id_of_value(request *rq, const kv_model *t, const char *v, size_t len, msgpack_sbuffer *out)
{
    msgpack_zone *zone = kv_mp_zone_take();
    msgpack_object o;
    char text[KV_MAX_ID_BYTES + 1];
    size_t n = 0;
    int rc = !zone ? kv_fail(rq->err, KVORM_EINTERNAL, "out of memory")
             : kv_mp_unpack(zone, v, len, &o) != KV_MP_OK
                 ? kv_fail(rq->err, KVORM_EINTERNAL, "%s: a stored foreign key is not MessagePack", t->name)
                 : kv_id_encode(text, &n, t, &o, rq->err);
    kv_mp_zone_give(zone);
    if (rc == 0)
        msgpack_sbuffer_write(out, text, n);
    return rc;
}

/* The canonical value of field f (of type string or integer) that holds the id text `id`, appended to out. */
int kv_include_value_of_id(request *rq, const kv_model *owner, const kv_field *f, const kv_model *t, const char *id,
                       size_t len, msgpack_sbuffer *out)
{
    msgpack_object o;
    int64_t n;
    if (kv_id_is_integer(t)) {
        if (!kv_int_id_parse(id, len, &n))
            return kv_fail(rq->err, KVORM_EINTERNAL, "%s: stored id is not an integer", t->name);
        o.type = n < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER : MSGPACK_OBJECT_POSITIVE_INTEGER;
        if (n < 0)
            o.via.i64 = n;
        else
            o.via.u64 = (uint64_t)n;
    } else {
        o.type = MSGPACK_OBJECT_STR;
        o.via.str.ptr = id;
        o.via.str.size = (uint32_t)len;
    }
    return kv_value_encode(out, owner, f, &o, KV_MODE_MSGPACK, rq->err);
}

/* The key that finds parent p's target through relation r (a belongsTo or a hasOne): appended to out; *none
 * when p has no target (a null foreign key, or a null referenced field). */
static int target_key(request *rq, const kv_model *m, const kv_relation *r, const kv_record *p, msgpack_sbuffer *out,
                      bool *none)
{
    const kvorm_schema *s = rq->db->schema;
    const kv_model *t = &s->models[r->target];
    *none = false;
    if (r->kind == KV_REL_BELONGS_TO) {
        for (int i = 0; i < r->nfields; i++)
            if (!p->values[r->fields[i]])
                return *none = true, 0;
        if (r->references < 0) /* the target's id */
            return id_of_value(rq, t, p->values[r->fields[0]], p->lens[r->fields[0]], out);
        for (int i = 0; i < r->nfields; i++) /* the target's unique key: the values end to end */
            msgpack_sbuffer_write(out, p->values[r->fields[i]], p->lens[r->fields[i]]);
        return 0;
    }
    /* hasOne: the target's foreign key (a unique of it) holds p's referenced key */
    const kv_relation *b = &t->relations[r->inverse];
    if (b->references < 0)
        return kv_include_value_of_id(rq, t, &t->fields[b->fields[0]], m, p->id, p->id_len, out);
    const kv_unique *u = &m->uniques[b->references];
    for (int i = 0; i < u->nfields; i++)
        if (!p->values[u->fields[i]])
            return *none = true, 0;
    for (int i = 0; i < u->nfields; i++)
        msgpack_sbuffer_write(out, p->values[u->fields[i]], p->lens[u->fields[i]]);
    return 0;
}

static void keyset_free(keyset *k)
{
    msgpack_sbuffer_destroy(&k->bytes);
    free(k->off);
    free(k->len);
    free(k->order);
    memset(k, 0, sizeof(*k));
}

/* An item's reads while its level is loaded: one per distinct target key. */
typedef struct item_reads {
    inc_item *it;
    keyset k;
    kv_locator *locs;
    kv_step *steps;
    kv_error *errs;
    size_t n;
} item_reads;

static void item_reads_free(item_reads *r)
{
    for (size_t d = 0; d < r->n; d++)
        kv_record_free(&r->steps[d].out); /* what finish_item did not take */
    free(r->locs);
    free(r->steps);
    free(r->errs);
    keyset_free(&r->k);
}

/* The reads of item it for the n parents of model m: each parent's target key, one step per distinct key. */
static int prepare_item(request *rq, const kv_model *m, inc_item *it, const kv_record *const *parents, size_t n,
                        item_reads *rd)
{
    const kv_relation *r = it->rel;
    const kv_model *t = it->target;
    keyset *k = &rd->k;
    int rc = 0;
    rd->it = it;
    k->n = n;
    msgpack_sbuffer_init(&k->bytes);
    it->nparents = n;
    k->off = calloc(n + 1, sizeof(size_t));
    k->len = calloc(n + 1, sizeof(size_t));
    k->order = calloc(n + 1, sizeof(size_t));
    it->of_parent = calloc(n + 1, sizeof(long));
    if (!k->off || !k->len || !k->order || !it->of_parent)
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    size_t nkeyed = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        bool none = false;
        size_t at = k->bytes.size;
        it->of_parent[i] = -1;
        rc = target_key(rq, m, r, parents[i], &k->bytes, &none);
        k->off[i] = at;
        k->len[i] = none ? SIZE_MAX : k->bytes.size - at;
        if (!none)
            k->order[nkeyed++] = i;
    }
    if (rc != 0 || nkeyed == 0)
        return rc;
    qsort_r(k->order, nkeyed, sizeof(size_t), key_cmp, k);
    rd->locs = calloc(nkeyed, sizeof(*rd->locs));
    rd->steps = calloc(nkeyed, sizeof(*rd->steps));
    rd->errs = calloc(nkeyed, sizeof(*rd->errs));
    if (!rd->locs || !rd->steps || !rd->errs)
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    /* by the target's id, or by the unique constraint the key is of */
    int unique_index = r->kind == KV_REL_HAS_ONE ? t->relations[r->inverse].fk_unique : r->references;
    for (size_t j = 0; j < nkeyed; j++) {
        size_t i = k->order[j];
        if (j > 0 && key_cmp(&k->order[j - 1], &k->order[j], k) == 0) {
            it->of_parent[i] = (long)(rd->n - 1);
            continue;
        }
        kv_locator *loc = &rd->locs[rd->n];
        const char *key = k->bytes.data + k->off[i];
        if (unique_index >= 0) {
            loc->unique = &t->uniques[unique_index];
            loc->unique_index = unique_index;
            loc->ukey = key;
            loc->ukey_len = k->len[i];
        } else {
            loc->id = key;
            loc->id_len = k->len[i];
        }
        rd->steps[rd->n] = (kv_step){.model = t, .loc = loc, .err = &rd->errs[rd->n]};
        it->of_parent[i] = (long)rd->n++;
    }
    return 0;
}

/* Takes the records the reads found; a parent whose key found none (a dangling foreign key) has no target. */
static int finish_item(request *rq, item_reads *rd)
{
    inc_item *it = rd->it;
    int rc = 0;
    if (rd->n > 0 && !(it->recs = calloc(rd->n, sizeof(*it->recs))))
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    long *slot = rd->n > 0 ? calloc(rd->n, sizeof(long)) : NULL;
    if (rd->n > 0 && !slot)
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    for (size_t d = 0; d < rd->n; d++) {
        kv_step *st = &rd->steps[d];
        if (st->rc != 0 && rc == 0) {
            *rq->err = rd->errs[d];
            rc = st->rc;
        }
        slot[d] = -1;
        if (st->rc == 0 && st->found) {
            slot[d] = (long)it->nrecs;
            it->recs[it->nrecs++] = st->out;
            memset(&st->out, 0, sizeof(st->out));
        }
    }
    for (size_t i = 0; i < it->nparents; i++)
        if (it->of_parent[i] >= 0)
            it->of_parent[i] = slot[it->of_parent[i]];
    free(slot);
    return rc;
}

/* One include of a level and the records of the level above it. */
typedef struct level_job {
    kv_include *inc;
    const kv_model *m;
    const kv_record **parents;
    size_t n;
} level_job;

/* Loads one level: the reads of every item of every job travel to the engine together; then the next level's
 * jobs are the nested includes of what was found. */
static int load_level(request *rq, level_job *jobs, size_t njobs, level_job **next, size_t *nnext)
{
    size_t nitems = 0, nsteps = 0, k = 0;
    int rc = 0;
    *next = NULL;
    *nnext = 0;
    for (size_t j = 0; j < njobs; j++)
        nitems += (size_t)jobs[j].inc->n;
    item_reads *reads = calloc(nitems + 1, sizeof(*reads));
    if (!reads)
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    for (size_t j = 0; j < njobs && rc == 0; j++)
        if (jobs[j].inc->ncounts > 0)
            rc = kv_include_load_counts(rq, jobs[j].m, jobs[j].inc, jobs[j].parents, jobs[j].n);
    for (size_t j = 0; j < njobs && rc == 0; j++)
        for (int i = 0; i < jobs[j].inc->n && rc == 0; i++, k++) {
            inc_item *it = &jobs[j].inc->items[i];
            if (it->many) { /* queries of their own (include_many.c) */
                reads[k].it = it;
                rc = it->rel->kind == KV_REL_MANY_TO_MANY
                         ? kv_include_load_through(rq, jobs[j].m, it, jobs[j].parents, jobs[j].n)
                         : kv_include_load_many(rq, jobs[j].m, it, jobs[j].parents, jobs[j].n);
                continue;
            }
            rc = prepare_item(rq, jobs[j].m, it, jobs[j].parents, jobs[j].n, &reads[k]);
            nsteps += reads[k].n;
        }
    kv_step **ptrs = rc == 0 ? calloc(nsteps + 1, sizeof(*ptrs)) : NULL;
    if (rc == 0 && !ptrs)
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    if (rc == 0 && nsteps > 0) {
        size_t p = 0;
        for (size_t r = 0; r < nitems; r++)
            for (size_t d = 0; d < reads[r].n; d++)
                ptrs[p++] = &reads[r].steps[d];
        rq->db->engine->ops->run(rq->db->engine, ptrs, nsteps); /* one round trip on Redis */
    }
    for (size_t r = 0; r < nitems && rc == 0; r++)
        if (!reads[r].it->many)
            rc = finish_item(rq, &reads[r]);
    size_t nnested = 0;
    for (size_t r = 0; r < nitems && rc == 0; r++)
        nnested += reads[r].it && reads[r].it->nested && reads[r].it->nrecs > 0;
    if (rc == 0 && nnested > 0 && !(*next = calloc(nnested, sizeof(**next))))
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    for (size_t r = 0; r < nitems && rc == 0; r++) {
        inc_item *it = reads[r].it;
        if (!it || !it->nested || it->nrecs == 0)
            continue;
        level_job *nj = &(*next)[(*nnext)++];
        *nj = (level_job){it->nested, it->target, calloc(it->nrecs, sizeof(kv_record *)), it->nrecs};
        if (!nj->parents) {
            rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
            break;
        }
        for (size_t i = 0; i < it->nrecs; i++)
            nj->parents[i] = &it->recs[i];
    }
    for (size_t r = 0; r < nitems; r++)
        item_reads_free(&reads[r]);
    free(reads);
    free(ptrs);
    return rc;
}

static void free_jobs(level_job *jobs, size_t n)
{
    for (size_t j = 0; j < n; j++)
        free(jobs[j].parents);
    free(jobs);
}

int kv_include_load(request *rq, kv_include *inc, const kv_model *m, const kv_record *const *parents, size_t n)
{
    if (!inc || n == 0)
        return 0;
    level_job *jobs = calloc(1, sizeof(*jobs));
    size_t njobs = 1;
    int rc = 0;
    if (!jobs || !(jobs[0].parents = calloc(n, sizeof(kv_record *)))) {
        free(jobs);
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    }
    jobs[0].inc = inc;
    jobs[0].m = m;
    jobs[0].n = n;
    memcpy(jobs[0].parents, parents, n * sizeof(kv_record *));
    while (njobs > 0 && rc == 0) {
        level_job *next = NULL;
        size_t nnext = 0;
        rc = load_level(rq, jobs, njobs, &next, &nnext);
        free_jobs(jobs, njobs);
        jobs = next;
        njobs = nnext;
    }
    free_jobs(jobs, njobs);
    return rc;
}

size_t kv_include_count(const kv_include *inc) { return inc ? (size_t)inc->n + (inc->ncounts > 0) : 0; }

/* One loaded record (recs[k]) of item it, with its own include's entries. */
static int pack_one(request *rq, msgpack_packer *pk, const inc_item *it, size_t k)
{
    request sub = *rq;
    sub.model = it->target;
    int rc = rq_pack_record_with(&sub, pk, &it->recs[k], &it->sel, kv_include_count(it->nested));
    return rc ? rc : kv_include_pack(&sub, pk, it->nested, k);
}

int kv_include_pack(request *rq, msgpack_packer *pk, const kv_include *inc, size_t at)
{
    for (int i = 0; inc && i < inc->n; i++) {
        const inc_item *it = &inc->items[i];
        int rc = 0;
        msgpack_pack_str_with_body(pk, it->rel->name, it->rel->name_len);
        if (it->many) { /* an array, empty when the parent has none */
            size_t count = at < it->nparents && it->count ? it->count[at] : 0;
            msgpack_pack_array(pk, count);
            for (size_t j = 0; j < count && rc == 0; j++)
                rc = pack_one(rq, pk, it, it->members[it->first[at] + j]);
        } else {
            long k = at < it->nparents ? it->of_parent[at] : -1;
            if (k < 0)
                msgpack_pack_nil(pk);
            else
                rc = pack_one(rq, pk, it, (size_t)k);
        }
        if (rc != 0)
            return rc;
    }
    if (inc && inc->ncounts > 0) {
        kv_pack_cstr(pk, "_count");
        msgpack_pack_map(pk, (size_t)inc->ncounts);
        for (int i = 0; i < inc->ncounts; i++) {
            const inc_count *c = &inc->counts[i];
            msgpack_pack_str_with_body(pk, c->rel->name, c->rel->name_len);
            msgpack_pack_int64(pk, at < c->nparents ? c->counts[at] : 0);
        }
    }
    return 0;
}

void kv_include_explain(const kv_include *inc, msgpack_packer *pk)
{
    static const char *const kinds[] = {"belongsTo", "hasOne", "hasMany", "manyToMany"};
    msgpack_pack_array(pk, inc ? (size_t)inc->n : 0);
    for (int i = 0; inc && i < inc->n; i++) {
        const inc_item *it = &inc->items[i];
        const kv_relation *r = it->rel;
        bool by_unique = r->kind == KV_REL_HAS_ONE || (r->kind == KV_REL_BELONGS_TO && r->references >= 0);
        bool through = r->kind == KV_REL_MANY_TO_MANY;
        msgpack_pack_map(pk, 6 + through);
        kv_pack_cstr(pk, "relation");
        msgpack_pack_str_with_body(pk, r->name, r->name_len);
        kv_pack_cstr(pk, "kind");
        kv_pack_cstr(pk, kinds[r->kind]);
        kv_pack_cstr(pk, "model");
        kv_pack_cstr(pk, it->target->name);
        kv_pack_cstr(pk, "reads");
        kv_pack_cstr(pk, through ? "through" : it->many ? "query" : by_unique ? "unique" : "get");
        if (through) { /* the join records' query, then the targets' */
            kv_pack_cstr(pk, "through");
            kv_pack_cstr(pk, it->through->name);
        }
        kv_pack_cstr(pk, "roundTrips");
        msgpack_pack_int(pk, through ? 4 : it->many ? 2 : 1);
        kv_pack_cstr(pk, "include");
        kv_include_explain(it->nested, pk);
    }
}

void kv_include_free(kv_include *inc)
{
    if (!inc)
        return;
    for (int i = 0; i < inc->n; i++) {
        inc_item *it = &inc->items[i];
        for (size_t j = 0; j < it->nrecs; j++)
            kv_record_free(&it->recs[j]);
        free(it->recs);
        free(it->of_parent);
        free(it->first);
        free(it->count);
        free(it->members);
        free(it->sel.fields);
        kv_include_free(it->nested);
    }
    for (int i = 0; i < inc->ncounts; i++)
        free(inc->counts[i].counts);
    free(inc->counts);
    free(inc->items);
    free(inc);
}
