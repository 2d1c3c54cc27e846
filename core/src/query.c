/* Running a query of the findMany family (docs/queries.md): parse its order, window and cursor, read the plan's
 * ranges page by page, fetch each page's records in one round trip, keep those the where holds for, sort, skip and
 * take. */
#include "query.h"

#include "include.h"

#include "compare.h"
#include "entries.h"
#include "keycode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- index states ---- */

int kv_db_index_states(kvorm_db *db, const kv_model *m, kv_index_state *states, kv_error *err)
{
    /* indexes only ever go from building to ready: once all are ready the store need not be asked again */
    if (db->indexes_ready && db->indexes_ready[m->position]) {
        for (int i = 0; i < kv_model_nbuilt(m); i++)
            states[i] = KV_INDEX_READY;
        return 0;
    }
    int rc = db->engine->ops->index_states(db->engine, m, states, err);
    if (rc != 0)
        return rc;
    bool all = true;
    for (int i = 0; i < kv_model_nbuilt(m); i++)
        all = all && states[i] == KV_INDEX_READY;
    if (all && db->indexes_ready)
        db->indexes_ready[m->position] = 1;
    return 0;
}

/* ---- rows ---- */

void kv_rows_free(kv_rows *r)
{
    for (size_t i = 0; i < r->n; i++)
        kv_record_free(&r->rows[i]);
    free(r->rows);
    free(r->slots);
    memset(r, 0, sizeof(*r));
}

static size_t id_hash(const char *id, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)id[i]) * 1099511628211ull;
    return (size_t)h;
}

/* The slot of id: the one holding its row, or the empty one where it would go. */
static size_t *id_slot(const kv_rows *r, const char *id, size_t len)
{
    size_t mask = r->nslots - 1;
    for (size_t i = id_hash(id, len) & mask;; i = (i + 1) & mask) {
        size_t *s = &r->slots[i];
        if (*s == 0)
            return s;
        const kv_record *row = &r->rows[*s - 1];
        if (row->id_len == len && memcmp(row->id, id, len) == 0)
            return s;
    }
}

/* Room for one more id in the slots (rehashed when half full). */
static bool slots_grow(kv_rows *r)
{
    if (r->nslots >= 2 * (r->n + 1))
        return true;
    size_t n = r->nslots ? r->nslots * 2 : 128;
    size_t *slots = calloc(n, sizeof(*slots));
    if (!slots)
        return false;
    free(r->slots);
    r->slots = slots;
    r->nslots = n;
    for (size_t i = 0; i < r->n; i++)
        *id_slot(r, r->rows[i].id, r->rows[i].id_len) = i + 1;
    return true;
}

/* Takes the record (the step's reply stays with it), unless a copy of it is already among the rows; its id gets
 * its own copy, since it may point into a buffer that the next page reuses. */
static int rows_take(kv_rows *r, kv_record *rec, kv_error *err)
{
    size_t *slot = NULL;
    if (!r->distinct) {
        if (!slots_grow(r))
            return kv_fail(err, KVORM_EINTERNAL, "out of memory");
        slot = id_slot(r, rec->id, rec->id_len);
        if (*slot != 0)
            return 0; /* met again: the caller frees this copy */
    }
    if (!rec->id_copy && !rec->id_in_block) {
        char *id = malloc(rec->id_len + 1);
        if (!id)
            return kv_fail(err, KVORM_EINTERNAL, "out of memory");
        memcpy(id, rec->id, rec->id_len);
        id[rec->id_len] = '\0';
        rec->id_copy = id;
        rec->id = id;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        kv_record *rows = realloc(r->rows, sizeof(*rows) * cap);
        if (!rows)
            return kv_fail(err, KVORM_EINTERNAL, "out of memory");
        r->rows = rows;
        r->cap = cap;
    }
    r->rows[r->n++] = *rec;
    if (slot)
        *slot = r->n;
    memset(rec, 0, sizeof(*rec));
    return 0;
}

/* ---- order ---- */

static int field_type(const kv_model *m, int field)
{
    return field == KV_FIELD_ID ? -1 : (int)m->fields[field].type;
}

/* Compares a record's value of order key k with a value (NULL = null), in the key's direction. */
static int cmp_key(const kv_query *q, const kv_order_key *k, const kv_record *a, const char *bv, size_t bl)
{
    const kv_model *m = q->model;
    int c;
    if (k->field == KV_FIELD_ID) {
        c = kv_id_cmp(m, a->id, a->id_len, bv, bl);
        return k->desc ? -c : c;
    }
    const char *av = a->values[k->field];
    size_t al = a->lens[k->field];
    if (!av || !bv) {
        if (!av && !bv)
            return 0;
        /* nulls first: a null is before any value, whatever the direction */
        c = !av ? -1 : 1;
        return k->nulls_first ? c : -c;
    }
    c = kv_value_cmp((kv_type)field_type(m, k->field), av, al, bv, bl);
    return k->desc ? -c : c;
}

int kv_query_cmp(const kv_query *q, const kv_record *a, const kv_record *b)
{
    for (int i = 0; i < q->norder; i++) {
        const kv_order_key *k = &q->order[i];
        const char *bv = k->field == KV_FIELD_ID ? b->id : b->values[k->field];
        size_t bl = k->field == KV_FIELD_ID ? b->id_len : b->lens[k->field];
        int c = cmp_key(q, k, a, bv, bl);
        if (c != 0)
            return c;
    }
    return 0;
}

/* Sorting with relation keys: the rows by position, each with its relation keys' values. */
typedef struct sort_ctx {
    const kv_query *q;
    const kv_record *rows;
    kv_order_value *vals[KV_MAX_ORDER]; /* per order key on a relation: per row */
} sort_ctx;

static int cmp_relation_value(const kv_query *q, const kv_order_key *k, const kv_order_value *a,
                              const kv_order_value *b)
{
    int c;
    if (k->count) {
        c = (a->n > b->n) - (a->n < b->n);
        return k->desc ? -c : c;
    }
    if (!a->v || !b->v) {
        if (!a->v && !b->v)
            return 0;
        c = !a->v ? -1 : 1;
        return k->nulls_first ? c : -c;
    }
    const kv_model *t = &q->rq->db->schema->models[q->model->relations[k->relation].target];
    c = k->target_field == KV_FIELD_ID ? kv_id_cmp(t, a->v, a->len, b->v, b->len)
                                       : kv_value_cmp(t->fields[k->target_field].type, a->v, a->len, b->v, b->len);
    return k->desc ? -c : c;
}

static int cmp_positions(const void *pa, const void *pb, void *ctx)
{
    const sort_ctx *s = ctx;
    size_t i = *(const size_t *)pa, j = *(const size_t *)pb;
    for (int k = 0; k < s->q->norder; k++) {
        const kv_order_key *o = &s->q->order[k];
        const kv_record *b = &s->rows[j];
        int c = o->field == KV_ORDER_RELATION ? cmp_relation_value(s->q, o, &s->vals[k][i], &s->vals[k][j])
                : cmp_key(s->q, o, &s->rows[i], o->field == KV_FIELD_ID ? b->id : b->values[o->field],
                          o->field == KV_FIELD_ID ? b->id_len : b->lens[o->field]);
        if (c != 0)
            return c;
    }
    return 0;
}

static int cmp_rows(const void *a, const void *b, void *q);

int kv_query_sort(kv_query *q, kv_record *rows, size_t n)
{
    if (!q->relation_order) {
        qsort_r(rows, n, sizeof(*rows), cmp_rows, q);
        return 0;
    }
    sort_ctx s = {q, rows, {NULL}};
    kv_include *keep[KV_MAX_ORDER] = {NULL};
    size_t *pos = calloc(n + 1, sizeof(size_t));
    kv_record *sorted = calloc(n + 1, sizeof(*sorted));
    int rc = pos && sorted ? 0 : kv_fail(q->rq->err, KVORM_EINTERNAL, "out of memory");
    for (int k = 0; rc == 0 && k < q->norder; k++) {
        if (q->order[k].field != KV_ORDER_RELATION)
            continue;
        if (!(s.vals[k] = calloc(n + 1, sizeof(kv_order_value))))
            rc = kv_fail(q->rq->err, KVORM_EINTERNAL, "out of memory");
        else
            rc = kv_order_relation_values(q, &q->order[k], rows, n, s.vals[k], &keep[k]);
    }
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            pos[i] = i;
        qsort_r(pos, n, sizeof(size_t), cmp_positions, &s);
        for (size_t i = 0; i < n; i++)
            sorted[i] = rows[pos[i]];
        memcpy(rows, sorted, n * sizeof(*rows)); /* the records move */
    }
    for (int k = 0; k < q->norder; k++) {
        free(s.vals[k]);
        kv_include_free(keep[k]);
    }
    free(pos);
    free(sorted);
    return rc;
}

static int cmp_rows(const void *a, const void *b, void *q)
{
    return kv_query_cmp(q, a, b);
}

/* Whether a record is at or after the cursor's position, in the query's order. */
static bool after_cursor(const kv_query *q, const kv_record *r)
{
    for (int i = 0; i < q->norder; i++) {
        int c = cmp_key(q, &q->order[i], r, q->cursor_vals[i], q->cursor_lens[i]);
        if (c != 0)
            return c > 0;
    }
    return true;
}

/* ---- parsing ---- */

static int parse_direction(request *rq, const msgpack_object *v, const char *field, kv_order_key *k)
{
    const msgpack_object *sort = v, *nulls = NULL;
    if (v->type == MSGPACK_OBJECT_MAP) {
        static const char *const keys[] = {"sort", "nulls", NULL};
        const msgpack_object *bad = kv_mp_unknown_key(v, keys);
        if (bad)
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, field,
                              "orderBy: %s takes \"sort\" and \"nulls\" only", field);
        sort = kv_mp_map_get(v, "sort");
        nulls = kv_mp_map_get(v, "nulls");
    }
    if (!sort || (!kv_mp_str_eq(sort, "asc") && !kv_mp_str_eq(sort, "desc")))
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, field,
                          "orderBy: the direction of %s must be \"asc\" or \"desc\"", field);
    k->desc = kv_mp_str_eq(sort, "desc");
    k->nulls_first = !k->desc;
    if (nulls) {
        if (!kv_mp_str_eq(nulls, "first") && !kv_mp_str_eq(nulls, "last"))
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, field,
                              "orderBy: \"nulls\" of %s must be \"first\" or \"last\"", field);
        k->nulls_first = kv_mp_str_eq(nulls, "first");
    }
    return 0;
}

/* An order key on relation rel of the model: {"field": direction} of a to-one relation's target, or
 * {"_count": direction} of a to-many one. */
static int parse_relation_order(kv_query *q, int rel, const msgpack_object *v, kv_order_key *o)
{
    request *rq = q->rq;
    const kv_model *m = q->model;
    const kv_relation *r = &m->relations[rel];
    const kv_model *t = &rq->db->schema->models[r->target];
    bool many = r->kind == KV_REL_HAS_MANY || r->kind == KV_REL_MANY_TO_MANY;
    const msgpack_object *k = v->type == MSGPACK_OBJECT_MAP && v->via.map.size == 1 ? &v->via.map.ptr[0].key : NULL;
    *o = (kv_order_key){.field = KV_ORDER_RELATION, .relation = rel, .target_field = KV_FIELD_ID, .count = many};
    if (many && (!k || !kv_mp_str_eq(k, "_count")))
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, r->name,
                          "orderBy: %s is a to-many relation: order by its count, {\"%s\": {\"_count\": \"asc\"}}",
                          r->name, r->name);
    if (!many) {
        bool id = k && kv_mp_str_eq(k, "id");
        int f = id                                    ? KV_FIELD_ID
                : k && k->type == MSGPACK_OBJECT_STR ? kv_model_field(t, k->via.str.ptr, k->via.str.size)
                                                     : -1;
        if ((!id && f < 0) || (f >= 0 && t->fields[f].type == KV_T_JSON))
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, r->name,
                              "orderBy: %s is a relation: order by one field of %s that has an order, "
                              "{\"%s\": {\"field\": \"asc\"}}",
                              r->name, t->name, r->name);
        o->target_field = f;
    }
    o->relation = rel;
    return parse_direction(rq, &v->via.map.ptr[0].val, r->name, o);
}

static int add_order_entry(kv_query *q, const msgpack_object *k, const msgpack_object *v)
{
    request *rq = q->rq;
    const kv_model *m = q->model;
    char name[96] = "(not a string)";
    int f, rel = -1;
    if (k->type == MSGPACK_OBJECT_STR)
        kv_quote(name, sizeof(name), k->via.str.ptr, k->via.str.size);
    if (kv_mp_str_eq(k, "id"))
        f = KV_FIELD_ID;
    else if ((f = k->type == MSGPACK_OBJECT_STR ? kv_model_field(m, k->via.str.ptr, k->via.str.size) : -1) >= 0 &&
             m->fields[f].type == KV_T_JSON)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, m->fields[f].name,
                          "orderBy: %s is a json field, which has no order", m->fields[f].name);
    else if (f < 0 && (rel = k->type == MSGPACK_OBJECT_STR ? kv_model_relation(m, k->via.str.ptr, k->via.str.size)
                                                           : -1) < 0) {
        kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "orderBy: %s is not a field of %s", name, m->name);
        if (k->type == MSGPACK_OBJECT_STR)
            kv_error_add_field_copy(rq->err, k->via.str.ptr, k->via.str.size);
        return rq->err->code;
    }
    if (q->norder == KV_MAX_ORDER - 1)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "orderBy: at most %d keys",
                          KV_MAX_ORDER - 1);
    kv_order_key *o = &q->order[q->norder];
    int rc;
    if (rel >= 0) {
        rc = parse_relation_order(q, rel, v, o);
        for (int i = 0; rc == 0 && i < q->norder; i++)
            if (q->order[i].field == KV_ORDER_RELATION && q->order[i].relation == rel &&
                q->order[i].target_field == o->target_field)
                rc = kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, m->relations[rel].name,
                                "orderBy: %s is given twice", name);
        q->relation_order = q->relation_order || rc == 0;
    } else {
        for (int i = 0; i < q->norder; i++)
            if (q->order[i].field == f)
                return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, f >= 0 ? m->fields[f].name : "id",
                                  "orderBy: %s is given twice", name);
        *o = (kv_order_key){.field = f};
        rc = parse_direction(rq, v, f >= 0 ? m->fields[f].name : "id", o);
    }
    if (rc == 0)
        q->norder++;
    return rc;
}

static int parse_order(kv_query *q, const msgpack_object *o)
{
    request *rq = q->rq;
    q->norder = 0;
    if (o) {
        const msgpack_object *items = o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.ptr : o;
        uint32_t n = o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.size : 1;
        if (o->type != MSGPACK_OBJECT_ARRAY && o->type != MSGPACK_OBJECT_MAP)
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, q->model->name, NULL,
                              "orderBy must be a map of field to direction, or an array of such maps");
        for (uint32_t i = 0; i < n; i++) {
            const msgpack_object *e = &items[i];
            if (e->type != MSGPACK_OBJECT_MAP)
                return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, q->model->name, NULL,
                                  "orderBy: each entry must be a map of field to direction");
            for (uint32_t j = 0; j < e->via.map.size; j++) {
                int rc = add_order_entry(q, &e->via.map.ptr[j].key, &e->via.map.ptr[j].val);
                if (rc != 0)
                    return rc;
            }
        }
        q->given_order = q->norder > 0;
    }
    /* the id last makes the order total; after an id key nothing can tie */
    for (int i = 0; i < q->norder; i++)
        if (q->order[i].field == KV_FIELD_ID) {
            q->norder = i + 1;
            return 0;
        }
    bool desc = q->norder > 0 && q->order[q->norder - 1].desc;
    q->order[q->norder++] = (kv_order_key){.field = KV_FIELD_ID, .desc = desc, .nulls_first = !desc};
    return 0;
}

static int parse_int(request *rq, const msgpack_object *v, const char *name, bool negative_ok, int64_t *out)
{
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v->via.u64;
        return 0;
    }
    if (negative_ok && v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && v->via.i64 > INT64_MIN) {
        *out = v->via.i64;
        return 0;
    }
    return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, NULL, "%s: \"%s\" must be %s integer", rq->op,
                      name, negative_ok ? "an" : "a non-negative");
}

/* The cursor's position: the value of each order key, from the cursor map or else from its record. */
static int parse_cursor(kv_query *q, const msgpack_object *c)
{
    request *rq = q->rq;
    const kv_model *m = q->model;
    size_t offs[KV_MAX_ORDER];
    bool given[KV_MAX_ORDER] = {false}, need_record = false, has_id = false;
    size_t id_len = 0;
    int rc;
    if (c->type != MSGPACK_OBJECT_MAP || c->via.map.size == 0)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL,
                          "cursor must be a map with the id (or a unique selector) and optionally the orderBy fields");
    if (q->relation_order)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL,
                          "cursor: not with an orderBy on a relation (page with skip and take)");
    msgpack_sbuffer_init(&q->cursor_buf);
    q->has_cursor = true;
    for (uint32_t i = 0; i < c->via.map.size; i++) {
        const msgpack_object *k = &c->via.map.ptr[i].key, *v = &c->via.map.ptr[i].val;
        if (kv_mp_str_eq(k, "id")) {
            if ((rc = kv_id_encode(q->cursor_id, &id_len, m, v, rq->err)) != 0)
                return rc;
            has_id = true;
            continue;
        }
        int f = k->type == MSGPACK_OBJECT_STR ? kv_model_field(m, k->via.str.ptr, k->via.str.size) : -1;
        if (f < 0) {
            char q2[96] = "(not a string)";
            if (k->type == MSGPACK_OBJECT_STR)
                kv_quote(q2, sizeof(q2), k->via.str.ptr, k->via.str.size);
            kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "cursor: %s is not a field of %s", q2, m->name);
            if (k->type == MSGPACK_OBJECT_STR)
                kv_error_add_field_copy(rq->err, k->via.str.ptr, k->via.str.size);
            return rq->err->code;
        }
        for (int j = 0; j < q->norder; j++) {
            if (q->order[j].field != f)
                continue;
            given[j] = true;
            offs[j] = q->cursor_buf.size;
            q->cursor_lens[j] = SIZE_MAX; /* null */
            if (v->type != MSGPACK_OBJECT_NIL) {
                if ((rc = kv_value_encode(&q->cursor_buf, m, &m->fields[f], v, rq->mode, rq->err)) != 0)
                    return rc;
                q->cursor_lens[j] = q->cursor_buf.size - offs[j];
            }
        }
    }
    for (int j = 0; j < q->norder; j++)
        if (!given[j] && q->order[j].field != KV_FIELD_ID)
            need_record = true;
    if (need_record || !has_id) {
        target t;
        kv_step st = {0}, *one = &st;
        memset(&t, 0, sizeof(t));
        msgpack_sbuffer_init(&t.ukey);
        if (has_id) {
            t.loc.id = q->cursor_id;
            t.loc.id_len = id_len;
        } else if ((rc = rq_parse_unique_where(rq, c, &t)) != 0) {
            const msgpack_object *k0 = &c->via.map.ptr[0].key;
            char names[96] = "(not a string)";
            rq_target_free(&t);
            if (k0->type == MSGPACK_OBJECT_STR)
                kv_quote(names, sizeof(names), k0->via.str.ptr, k0->via.str.size);
            kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL,
                       "cursor: %s is neither the id nor a unique selector: give the id (or a unique selector "
                       "alone) to find the cursor's record",
                       names);
            if (k0->type == MSGPACK_OBJECT_STR)
                kv_error_add_field_copy(rq->err, k0->via.str.ptr, k0->via.str.size);
            return rq->err->code;
        }
        st.model = m;
        st.loc = &t.loc;
        st.err = rq->err;
        rq->db->engine->ops->run(rq->db->engine, &one, 1);
        if (st.rc == 0 && !st.found)
        {
            char what[128] = "";
            if (has_id && kv_id_is_integer(m))
                snprintf(what, sizeof(what), " (id %.*s)", (int)id_len, q->cursor_id);
            else if (has_id) {
                char qq[96];
                kv_quote(qq, sizeof(qq), q->cursor_id, id_len);
                snprintf(what, sizeof(what), " (id %s)", qq);
            }
            st.rc = kv_fail_at(rq->err, KVORM_ENOTFOUND, m->name, NULL,
                               "cursor: its record%s does not exist (any more); give the orderBy fields' values in "
                               "the cursor to resume from its position",
                               what);
        }
        rq_target_free(&t);
        if (st.rc != 0) {
            kv_record_free(&st.out);
            return st.rc;
        }
        q->cursor_record = st.out;
        if (!has_id) {
            memcpy(q->cursor_id, st.out.id, st.out.id_len);
            q->cursor_id[st.out.id_len] = '\0';
            id_len = st.out.id_len;
        }
    }
    q->cursor_id_len = id_len;
    for (int j = 0; j < q->norder; j++) {
        int f = q->order[j].field;
        if (f == KV_FIELD_ID) {
            q->cursor_vals[j] = q->cursor_id;
            q->cursor_lens[j] = id_len;
        } else if (given[j]) {
            q->cursor_vals[j] = q->cursor_lens[j] == SIZE_MAX ? NULL : q->cursor_buf.data + offs[j];
            if (q->cursor_lens[j] == SIZE_MAX)
                q->cursor_lens[j] = 0;
        } else {
            q->cursor_vals[j] = q->cursor_record.values[f];
            q->cursor_lens[j] = q->cursor_record.lens[f];
        }
    }
    return 0;
}

int kv_query_init(kv_query *q, request *rq, const msgpack_object *args, int what)
{
    const msgpack_object *v;
    int rc;
    memset(q, 0, sizeof(*q));
    q->rq = rq;
    q->model = rq->model;
    msgpack_sbuffer_init(&q->cursor_buf);
    q->refuse_scans = rq->db->refuse_scans;
    const msgpack_object *where = args ? kv_mp_map_get(args, "where") : NULL;
    if (where && where->type == MSGPACK_OBJECT_NIL)
        where = NULL;
    if ((rc = kv_filter_parse(&q->filter, q->model, where, rq->mode, rq->err)) != 0)
        return rc;
    if (args && (v = kv_mp_map_get(args, "refuseScans")) && v->type != MSGPACK_OBJECT_NIL) {
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, q->model->name, NULL,
                              "%s: \"refuseScans\" must be true or false", rq->op);
        q->refuse_scans = v->via.boolean;
    }
    if ((rc = parse_order(q, what & KV_Q_WINDOW && args ? kv_mp_map_get(args, "orderBy") : NULL)) != 0)
        return rc;
    if (what & KV_Q_WINDOW && args) {
        if ((v = kv_mp_map_get(args, "take")) && v->type != MSGPACK_OBJECT_NIL) {
            if ((rc = parse_int(rq, v, "take", true, &q->take)) != 0)
                return rc;
            q->has_take = true;
        }
        if ((v = kv_mp_map_get(args, "skip")) && v->type != MSGPACK_OBJECT_NIL &&
            (rc = parse_int(rq, v, "skip", false, &q->skip)) != 0)
            return rc;
        if (q->has_take && q->take < 0) {
            /* from the end: read in the reverse order, flip the rows back at the end */
            q->from_end = true;
            q->take = -q->take;
            for (int i = 0; i < q->norder; i++) {
                q->order[i].desc = !q->order[i].desc;
                q->order[i].nulls_first = !q->order[i].nulls_first;
            }
        }
        if ((v = kv_mp_map_get(args, "cursor")) && v->type != MSGPACK_OBJECT_NIL &&
            (rc = parse_cursor(q, v)) != 0)
            return rc;
    }
    /* the related records a relation filter needs, read once every argument is known good */
    if (kv_filter_has_relations(q->filter.root) &&
        (rc = kv_relation_filters_resolve(rq, q->model, &q->filter)) != 0)
        return rc;
    return kv_plan_build(q);
}

void kv_query_free(kv_query *q)
{
    kv_filter_free(&q->filter);
    kv_plan_free(&q->plan);
    msgpack_sbuffer_destroy(&q->cursor_buf);
    kv_record_free(&q->cursor_record);
}

int kv_query_refuse(kv_query *q)
{
    if (q->plan.kind != KV_PLAN_SCAN || q->plan.has_range || !q->refuse_scans)
        return 0;
    return kv_fail_at(q->rq->err, KVORM_EREFUSED, q->model->name, NULL,
                      "%s: no index serves this where, so it would scan every record of %s, and scans are refused "
                      "(refuseScans); add an index on a field it tests by equality or range, or pass refuseScans: "
                      "false",
                      q->rq->op, q->model->name);
}

/* ---- reading ---- */

/* How far an ordered read of an index has got: the bytes that fix the place (run_len) of the last key it has
 * read. A record that now sorts after them was moved there by a write after the scan, past keys the read has not
 * met yet: keeping it would put it in a page before records it should follow, and a cursor taken from that page
 * would skip them. It is left out; the read meets it again at its new key if it goes that far. */
typedef struct frontier {
    const kv_index *index;
    const char *run;
    size_t run_len;
    int run_parts;
    bool reverse;
    msgpack_sbuffer key; /* scratch: a record's key in the index */
    kv_error ignored;
} frontier;

static size_t run_len(const char *key, size_t len, int parts);

/* Whether one of the elements from..to-1 of key is cut. */
static bool cut_within(const char *key, size_t len, int from, int to)
{
    size_t off = 0;
    for (int i = 0; i < to && off < len; i++) {
        bool cut = false;
        size_t n = kv_key_skip(key + off, len - off, &cut);
        if (n == 0)
            return false;
        if (cut && i >= from)
            return true;
        off += n;
    }
    return false;
}

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen);

static bool beyond(const kv_query *q, frontier *fr, const kv_record *r)
{
    fr->key.size = 0;
    if (kv_index_entry(&fr->key, q->model, fr->index, r->values, r->lens, r->id, r->id_len, &fr->ignored) != 0)
        return false; /* a malformed value: the row is judged as any other, not dropped here */
    int c = key_cmp(fr->key.data, run_len(fr->key.data, fr->key.size, fr->run_parts), fr->run, fr->run_len);
    return fr->reverse ? c < 0 : c > 0;
}

/* Reads the records of n ids (text) in one call to the engine, keeping those that match (and, for an ordered
 * read, that are not beyond its frontier). keys_decide: the keys the ids came from match the where exactly, and
 * the records were read in the same snapshot as the keys, so the where need not be evaluated again. */
/* Takes the record a read by id found into out when it is a row of q: it matches the where (unless the keys read
 * decide it), comes after the cursor, and has not moved past the frontier of the keys read. */
static int take_found(kv_query *q, kv_step *st, frontier *fr, bool keys_decide, kv_rows *out)
{
    if (st->found && (keys_decide || kv_filter_eval(&q->filter, q->model, &st->out) == KV_TRUE) &&
        (!q->has_cursor || after_cursor(q, &st->out)) && !(fr && beyond(q, fr, &st->out)))
        return rows_take(out, &st->out, q->rq->err);
    return 0;
}

static int read_ids(kv_query *q, const char *const *ids, const size_t *lens, size_t n, frontier *fr, bool keys_decide,
                    kv_rows *out)
{
    kv_engine *e = q->rq->db->engine;
    /* one block: the locators, the steps, the pointers to the steps */
    char *block = calloc(n + 1, sizeof(kv_locator) + sizeof(kv_step) + sizeof(kv_step *));
    kv_step *steps = (kv_step *)(void *)block;
    kv_locator *locs = (kv_locator *)(void *)(block + (n + 1) * sizeof(kv_step));
    kv_step **ptrs = (kv_step **)(void *)(block + (n + 1) * (sizeof(kv_step) + sizeof(kv_locator)));
    kv_error shared = {0}; /* a read fails only with the store: any one failure says why */
    int rc = 0;
    if (!block) {
        rc = kv_fail(q->rq->err, KVORM_EINTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        locs[i].id = ids[i];
        locs[i].id_len = lens[i];
        steps[i].model = q->model;
        steps[i].loc = &locs[i];
        steps[i].err = &shared;
        ptrs[i] = &steps[i];
    }
    if (n > 0)
        e->ops->run(e, ptrs, n);
    for (size_t i = 0; i < n; i++) {
        kv_step *st = &steps[i];
        if (rc == 0 && st->rc != 0) {
            *q->rq->err = shared;
            rc = shared.code ? shared.code : st->rc;
        }
        if (rc == 0)
            rc = take_found(q, st, fr, keys_decide, out);
        kv_record_free(&st->out);
    }
done:
    free(block);
    return rc;
}

static int read_unique(kv_query *q, kv_rows *out)
{
    kv_locator loc = {0};
    kv_step st = {0}, *one = &st;
    const kv_plan *p = &q->plan;
    loc.unique = &q->model->uniques[p->unique];
    loc.unique_index = p->unique;
    loc.ukey = p->ukey.data;
    loc.ukey_len = p->ukey.size;
    st.model = q->model;
    st.loc = &loc;
    st.err = q->rq->err;
    q->rq->db->engine->ops->run(q->rq->db->engine, &one, 1);
    int rc = st.rc;
    if (rc == 0 && st.found && kv_filter_eval(&q->filter, q->model, &st.out) == KV_TRUE &&
        (!q->has_cursor || after_cursor(q, &st.out)))
        rc = rows_take(out, &st.out, q->rq->err);
    kv_record_free(&st.out);
    return rc;
}

/* The bytes of a key that decide its place in the query's order: with the id when the scan gives the id in the
 * query's direction too, else the index's first `parts` elements; keys with equal such bytes are sorted later. */
static size_t run_len(const char *key, size_t len, int parts)
{
    size_t off = 0;
    for (int i = 0; i < parts && off < len; i++) {
        size_t n = kv_key_skip(key + off, len - off, NULL);
        if (n == 0)
            return len;
        off += n;
    }
    return off;
}

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : alen < blen ? -1 : alen > blen;
}

/* Keyset pagination: an ordered read with a cursor starts at the cursor's key, not at the range's start, so a
 * page costs what it returns however deep the walk. The cursor's key is the range's fixed elements, then the
 * elements of the cursor's order values (and its id when the read meets ids in order after them), ending after
 * a cut element, since values sharing its first bytes may sort either way. Rows before the cursor that share
 * its key start are still dropped by after_cursor. buf holds the bounds written into cur. */
static void seek_cursor(const kv_query *q, const kv_range *r, kv_range *cur, msgpack_sbuffer *buf)
{
    const kv_plan *p = &q->plan;
    const kv_index *x = r->index;
    const char *fixed = r->lo.data ? r->lo.data : r->hi.data;
    size_t fixed_len = 0, avail = r->lo.data ? r->lo.len : r->hi.len;
    kv_error ignored = {0};
    bool cut = false;
    int nparts = x ? x->nparts : 0, nkeys = q->norder - 1;
    for (int i = 0; i < p->fixed_parts; i++) {
        size_t n = fixed ? kv_key_skip(fixed + fixed_len, avail - fixed_len, NULL) : 0;
        if (n == 0)
            return;
        fixed_len += n;
    }
    if (fixed_len > 0)
        msgpack_sbuffer_write(buf, fixed, fixed_len);
    for (int k = 0; k < nkeys && !cut; k++) {
        const kv_index_part *part = &x->parts[p->fixed_parts + k];
        if (kv_key_append_value(buf, q->model->fields[part->field].type, q->cursor_vals[k], q->cursor_lens[k],
                                part->desc, &cut, &ignored) != 0)
            return;
    }
    /* the id only when the read meets ids in the query's direction too */
    bool id_too = p->fixed_parts + nkeys == nparts && q->order[q->norder - 1].desc == p->reverse;
    if (!cut && id_too &&
        kv_key_append_id(buf, q->model, q->cursor_id, q->cursor_id_len, &ignored) != 0)
        return;
    size_t n = buf->size;
    if (n == 0)
        return;
    if (!p->reverse) {
        if (!r->lo.data || key_cmp(buf->data, n, r->lo.data, r->lo.len) > 0)
            cur->lo = (kv_bound){buf->data, n, true};
        return;
    }
    /* backwards: from just after every key that starts with the cursor's */
    char *end = malloc(n + 1);
    size_t end_len = 0;
    if (!end)
        return;
    kv_key_prefix_end(end, &end_len, buf->data, n);
    if (end_len > 0) {
        buf->size = 0;
        msgpack_sbuffer_write(buf, end, end_len);
        if (!r->hi.data || key_cmp(buf->data, end_len, r->hi.data, r->hi.len) < 0)
            cur->hi = (kv_bound){buf->data, end_len, false};
    }
    free(end);
}

/* Reads one range page by page. need: the rows wanted in order (skip + take), or -1 for every match. *in_order
 * (when given) tells whether the rows come out in the query's order. */
static int read_range(kv_query *q, const kv_range *r, int64_t need, kv_rows *out, bool *in_order)
{
    kv_engine *e = q->rq->db->engine;
    const kv_plan *p = &q->plan;
    int nparts = r->index ? r->index->nparts : 0;
    bool ordered = p->ordered && need >= 0;
    /* how many key elements fix a row's place: every one when the scan's id order is the query's */
    int run_parts = nparts + 1;
    if (ordered && (p->fixed_parts + q->norder - 1 < nparts || q->order[q->norder - 1].desc != p->reverse))
        run_parts = p->fixed_parts + q->norder - 1;
    /* keys in exactly the query's order: the rows needed end the read, no tie can follow, unless a key holds a
     * cut value (a long string, say): keys sharing its bytes follow each other by id, not by value */
    bool exact = ordered && run_parts == nparts + 1;
    int order_parts = p->fixed_parts + q->norder - 1; /* the elements that hold the order's values */
    bool check_cut = exact && order_parts > p->fixed_parts, saw_cut = false;
    int cutoff_parts = run_parts;
    int64_t want = exact ? need : need + 1;
    size_t chunk = ordered ? (size_t)(want < 16 ? 16 : want > KV_SCAN_CHUNK ? KV_SCAN_CHUNK : want) : KV_SCAN_CHUNK;
    kv_keys keys = {0};
    kv_range cur = *r;
    char *resume = NULL, *cutoff = NULL;
    size_t cutoff_len = 0;
    bool have_cutoff = false;
    const char **ids = malloc(KV_SCAN_CHUNK * sizeof(*ids)); /* each page's filled before it is read */
    size_t *lens = malloc(KV_SCAN_CHUNK * sizeof(*lens));
    /* the page's ids, end to end: a string id's text is shorter than its key, an integer's at most 21 bytes */
    char *texts = NULL;
    size_t texts_cap = 0;
    frontier fr = {r->index, NULL, 0, run_parts, p->reverse, {0}, {0}};
    msgpack_sbuffer seek;
    int rc = 0;
    msgpack_sbuffer_init(&fr.key);
    msgpack_sbuffer_init(&seek);
    if (p->ordered && q->has_cursor)
        seek_cursor(q, r, &cur, &seek);
    if (!ids || !lens) {
        rc = kv_fail(q->rq->err, KVORM_EINTERNAL, "out of memory");
        goto done;
    }
    for (;;) {
        kv_keys_clear(&keys);
        if ((rc = e->ops->scan(e, q->model, &cur, p->reverse, chunk, &keys, q->rq->err)) != 0)
            goto done;
        if (keys.n == 0)
            break;
        size_t n = 0, used = 0;
        bool stop = false;
        if (keys.size + keys.n * 22 > texts_cap) {
            char *t = realloc(texts, keys.size + keys.n * 22);
            if (!t) {
                rc = kv_fail(q->rq->err, KVORM_EINTERNAL, "out of memory");
                goto done;
            }
            texts = t;
            texts_cap = keys.size + keys.n * 22;
        }
        for (size_t i = 0; i < keys.n; i++) {
            const char *key = keys.data + keys.off[i];
            size_t klen = keys.len[i];
            if (check_cut && !saw_cut)
                saw_cut = cut_within(key, klen, p->fixed_parts, order_parts);
            if (have_cutoff) {
                size_t rl = run_len(key, klen, cutoff_parts);
                if (rl != cutoff_len || memcmp(key, cutoff, rl) != 0) {
                    stop = true;
                    break;
                }
            }
            char *text = texts + used;
            if ((rc = kv_key_id(text, &lens[n], key, klen, nparts, q->rq->err)) != 0)
                goto done;
            used += lens[n] + 1;
            ids[n++] = text;
        }
        /* an index's keys move with their records (the id collection's never do), except in a snapshot */
        bool bounded = ordered && r->index && n > 0 && !q->in_snapshot;
        if (bounded) {
            fr.run = keys.data + keys.off[n - 1];
            fr.run_len = run_len(fr.run, keys.len[n - 1], run_parts);
        }
        if ((rc = read_ids(q, ids, lens, n, bounded ? &fr : NULL, q->in_snapshot && p->exact_count_ok, out)) != 0)
            goto done;
        if (stop)
            break;
        if (ordered && !have_cutoff && (int64_t)out->n >= need) {
            /* enough rows: read on only while keys tie with the last one needed (they may sort before it) */
            const char *last = keys.data + keys.off[keys.n - 1];
            if (need == 0)
                break;
            if (exact) {
                if (!check_cut || !cut_within(last, keys.len[keys.n - 1], p->fixed_parts, order_parts))
                    break;
                cutoff_parts = order_parts; /* the keys sharing its cut value, whatever their ids */
            }
            size_t rl = run_len(last, keys.len[keys.n - 1], cutoff_parts);
            cutoff = malloc(rl + 1);
            if (!cutoff) {
                rc = kv_fail(q->rq->err, KVORM_EINTERNAL, "out of memory");
                goto done;
            }
            memcpy(cutoff, last, rl);
            cutoff_len = rl;
            have_cutoff = true;
        }
        if (keys.n < chunk)
            break;
        /* resume after the last key */
        size_t ll = keys.len[keys.n - 1];
        char *nr = realloc(resume, ll + 1);
        if (!nr) {
            rc = kv_fail(q->rq->err, KVORM_EINTERNAL, "out of memory");
            goto done;
        }
        resume = nr;
        memcpy(resume, keys.data + keys.off[keys.n - 1], ll);
        if (p->reverse)
            cur.hi = (kv_bound){resume, ll, false};
        else
            cur.lo = (kv_bound){resume, ll, false};
        if (chunk < KV_SCAN_CHUNK)
            chunk = chunk * 4 > KV_SCAN_CHUNK ? KV_SCAN_CHUNK : chunk * 4;
    }
done:
    /* in a snapshot, records are read as their keys are: in the keys' order */
    if (in_order)
        *in_order = rc == 0 && exact && q->in_snapshot && !saw_cut;
    msgpack_sbuffer_destroy(&fr.key);
    msgpack_sbuffer_destroy(&seek);
    kv_keys_free(&keys);
    free(resume);
    free(cutoff);
    free(ids);
    free(lens);
    free(texts);
    return rc;
}

/* The ranges of a plan read whole, in no particular order (a union, an in-list): the first chunk of every range in
 * one engine call (one round trip on Redis), their records a page of KV_SCAN_CHUNK at a time, then what a range
 * holds beyond its first chunk as read_range reads it. */
static int read_ranges(kv_query *q, kv_rows *out)
{
    kv_engine *e = q->rq->db->engine;
    const kv_plan *p = &q->plan;
    size_t n = (size_t)p->nranges, total = 0, size = 0, at = 0;
    kv_keys *outs = calloc(n, sizeof(*outs));
    const char **ids = NULL;
    size_t *lens = NULL;
    char *texts = NULL;
    int rc = outs ? e->ops->scan_many(e, q->model, p->ranges, n, p->reverse, KV_SCAN_CHUNK, outs, q->rq->err)
                  : kv_fail(q->rq->err, KVORM_EINTERNAL, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        total += outs[i].n;
        size += outs[i].size + outs[i].n * 22; /* an id's text is shorter than its key, an integer's <= 21 bytes */
    }
    if (rc == 0 && total > 0 &&
        (!(ids = malloc(total * sizeof(*ids))) || !(lens = malloc(total * sizeof(*lens))) || !(texts = malloc(size))))
        rc = kv_fail(q->rq->err, KVORM_EINTERNAL, "out of memory");
    size_t used = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int nparts = p->ranges[i].index ? p->ranges[i].index->nparts : 0;
        for (size_t j = 0; rc == 0 && j < outs[i].n; j++, at++) {
            rc = kv_key_id(texts + used, &lens[at], outs[i].data + outs[i].off[j], outs[i].len[j], nparts,
                           q->rq->err);
            ids[at] = texts + used;
            used += lens[at] + 1;
        }
    }
    for (size_t from = 0; rc == 0 && from < total; from += KV_SCAN_CHUNK) {
        size_t page = total - from < KV_SCAN_CHUNK ? total - from : KV_SCAN_CHUNK;
        rc = read_ids(q, ids + from, lens + from, page, NULL, q->in_snapshot && p->exact_count_ok, out);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (outs[i].n < KV_SCAN_CHUNK)
            continue; /* read whole */
        kv_range rest = p->ranges[i];
        kv_bound after = {outs[i].data + outs[i].off[outs[i].n - 1], outs[i].len[outs[i].n - 1], false};
        if (p->reverse)
            rest.hi = after;
        else
            rest.lo = after;
        rc = read_range(q, &rest, -1, out, NULL);
    }
    for (size_t i = 0; outs && i < n; i++)
        kv_keys_free(&outs[i]);
    free(outs);
    free(ids);
    free(lens);
    free(texts);
    return rc;
}

/* Every candidate row the plan finds (all of them, or enough in order for need). */
static int collect(kv_query *q, int64_t need, kv_rows *out)
{
    const kv_plan *p = &q->plan;
    switch (p->kind) {
    case KV_PLAN_EMPTY:
        return 0;
    case KV_PLAN_GET: {
        const kv_pred *ids = p->ids;
        return read_ids(q, (const char *const *)ids->vals, ids->lens, (size_t)ids->nvals, NULL, false, out);
    }
    case KV_PLAN_UNIQUE:
        return read_unique(q, out);
    default:
        out->distinct = p->nranges == 1 && q->in_snapshot; /* an index has one entry per record */
        if (p->nranges > 1 && q->rq->db->engine->ops->scan_many)
            return read_ranges(q, out);
        for (int i = 0; i < p->nranges; i++) {
            bool *in_order = p->nranges == 1 ? &q->rows_in_order : NULL;
            int rc = read_range(q, &p->ranges[i], p->nranges == 1 ? need : -1, out, in_order);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
}

/* Begins or ends the engine's snapshot, where it has one: the pages of one query then see one state. */
static int snapshot(kv_query *q, bool begin)
{
    kv_engine *e = q->rq->db->engine;
    int rc = e->ops->snapshot ? e->ops->snapshot(e, begin, q->rq->err) : 0;
    q->in_snapshot = begin && rc == 0 && e->ops->snapshot;
    return rc;
}

static int window(kv_query *q, kv_rows *out);

int kv_query_rows(kv_query *q, kv_rows *out)
{
    int64_t need = q->has_take ? q->skip + q->take : -1;
    int rc;
    memset(out, 0, sizeof(*out));
    if (q->has_take && q->take == 0)
        return 0;
    if ((rc = kv_query_refuse(q)) != 0 || (rc = snapshot(q, true)) != 0)
        return rc;
    q->rows_in_order = false;
    rc = collect(q, need, out);
    snapshot(q, false);
    return rc ? rc : window(q, out);
}

/* The rows collected, in the query's order, cut to skip and take. */
static int window(kv_query *q, kv_rows *out)
{
    int rc;
    if (out->n > 1 && !q->rows_in_order && (rc = kv_query_sort(q, out->rows, out->n)) != 0)
        return rc;
    /* skip counts the cursor's own position: when its record is not among the rows (deleted meanwhile, say), the
     * first skip is spent on it, so a page walk with skip: 1 never drops a row */
    int64_t skip = q->skip;
    if (q->has_cursor && skip > 0 &&
        (out->n == 0 || kv_id_cmp(q->model, out->rows[0].id, out->rows[0].id_len, q->cursor_id, q->cursor_id_len) != 0))
        skip--;
    /* skip, then take */
    size_t from = skip > 0 && (uint64_t)skip < out->n ? (size_t)skip : skip > 0 ? out->n : 0;
    size_t to = out->n;
    if (q->has_take && (uint64_t)q->take < to - from)
        to = from + (size_t)q->take;
    for (size_t i = 0; i < from; i++)
        kv_record_free(&out->rows[i]);
    for (size_t i = to; i < out->n; i++)
        kv_record_free(&out->rows[i]);
    if (from > 0 && to > from)
        memmove(out->rows, out->rows + from, sizeof(*out->rows) * (to - from));
    out->n = to - from;
    if (q->from_end) /* the rows back in the order the caller asked for */
        for (size_t i = 0; i < out->n / 2; i++) {
            kv_record t = out->rows[i];
            out->rows[i] = out->rows[out->n - 1 - i];
            out->rows[out->n - 1 - i] = t;
        }
    return 0;
}

/* ---- many queries at once ---- */

/* Whether q's rows are the first skip + take keys of its one range, in order: a take, no cursor, one range of an
 * index whose key order is the query's order (as read_range's `exact`). */
bool kv_query_first_keys_decide(const kv_query *q)
{
    const kv_plan *p = &q->plan;
    return p->kind == KV_PLAN_INDEX && p->nranges == 1 && p->ordered && q->has_take && !q->has_cursor &&
           q->take > 0 && q->skip + q->take < KV_SCAN_CHUNK;
}

/* How many key elements fix a row's place in q's order (read_range's run_parts): all of them when the index's
 * order, then the id's, is the query's (exact: the keys are in the query's order); else the fixed parts and the
 * order's, and the rows of one run of equal elements are sorted. */
static int order_run_parts(const kv_query *q, bool *exact)
{
    const kv_plan *p = &q->plan;
    int nparts = p->ranges[0].index->nparts;
    *exact = !(p->fixed_parts + q->norder - 1 < nparts || q->order[q->norder - 1].desc != p->reverse);
    return *exact ? nparts + 1 : p->fixed_parts + q->norder - 1;
}

/* One query of the batch read together: its keys, and what was taken. */
typedef struct many_q {
    kv_keys keys;
    size_t used;      /* the keys whose records are read: at most skip + take */
    bool cut;         /* a used key holds a cut value in an order part, or a tie runs past them: not settled */
    bool exact;       /* the keys are in the query's order (else the rows are sorted) */
    frontier fr;
} many_q;

/* Reads the records of the used keys of the batch's queries, KV_SCAN_CHUNK per engine call. */
static int read_many(kv_query *qs, const size_t *fast, size_t nfast, many_q *mq, kv_rows *outs)
{
    kv_engine *e = qs[fast[0]].rq->db->engine;
    size_t total = 0;
    int rc = 0;
    for (size_t k = 0; k < nfast; k++)
        total += mq[k].used;
    kv_locator *locs = calloc(total + 1, sizeof(*locs));
    kv_step *steps = calloc(total + 1, sizeof(*steps));
    kv_step **ptrs = calloc(total + 1, sizeof(*ptrs));
    size_t *owner = calloc(total + 1, sizeof(*owner));
    char *texts = NULL;
    size_t tsize = 0, used = 0, at = 0;
    kv_error shared = {0};
    for (size_t k = 0; k < nfast; k++)
        tsize += mq[k].keys.size + mq[k].used * 22;
    if (!locs || !steps || !ptrs || !owner || !(texts = malloc(tsize + 1))) {
        rc = kv_fail(qs[fast[0]].rq->err, KVORM_EINTERNAL, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < nfast && rc == 0; k++) {
        kv_query *q = &qs[fast[k]];
        int nparts = q->plan.ranges[0].index->nparts;
        for (size_t j = 0; j < mq[k].used && rc == 0; j++, at++) {
            rc = kv_key_id(texts + used, &locs[at].id_len, mq[k].keys.data + mq[k].keys.off[j], mq[k].keys.len[j],
                           nparts, q->rq->err);
            locs[at].id = texts + used;
            used += locs[at].id_len + 1;
            steps[at] = (kv_step){.model = q->model, .loc = &locs[at], .err = &shared};
            ptrs[at] = &steps[at];
            owner[at] = k;
        }
    }
    for (size_t from = 0; rc == 0 && from < total; from += KV_SCAN_CHUNK) {
        size_t page = total - from < KV_SCAN_CHUNK ? total - from : KV_SCAN_CHUNK;
        e->ops->run(e, ptrs + from, page);
        for (size_t i = from; i < from + page; i++) {
            kv_query *q = &qs[fast[owner[i]]];
            if (rc == 0 && steps[i].rc != 0) {
                *q->rq->err = shared;
                rc = shared.code ? shared.code : steps[i].rc;
            }
            frontier *fr = q->in_snapshot ? NULL : &mq[owner[i]].fr;
            if (rc == 0)
                rc = take_found(q, &steps[i], fr, q->in_snapshot && q->plan.exact_count_ok, &outs[fast[owner[i]]]);
            kv_record_free(&steps[i].out);
        }
    }
done:
    for (size_t i = 0; steps && i < total; i++)
        kv_record_free(&steps[i].out);
    free(locs);
    free(steps);
    free(ptrs);
    free(owner);
    free(texts);
    return rc;
}

/* The first keys of the batch's queries that read in `reverse`, in one engine call, and which of them to use. */
static int scan_first(kv_query *qs, const size_t *fast, size_t nfast, bool reverse, many_q *mq)
{
    kv_engine *e = qs[fast[0]].rq->db->engine;
    kv_range *ranges = calloc(nfast + 1, sizeof(*ranges));
    kv_keys *got = calloc(nfast + 1, sizeof(*got));
    size_t *which = calloc(nfast + 1, sizeof(*which)), n = 0, limit = 1;
    int rc = !ranges || !got || !which ? kv_fail(qs[fast[0]].rq->err, KVORM_EINTERNAL, "out of memory") : 0;
    for (size_t k = 0; rc == 0 && k < nfast; k++) {
        const kv_query *q = &qs[fast[k]];
        if (q->plan.reverse != reverse)
            continue;
        ranges[n] = q->plan.ranges[0];
        which[n++] = k;
        if ((size_t)(q->skip + q->take) + 1 > limit) /* one more: whether a tie runs past the rows needed */
            limit = (size_t)(q->skip + q->take) + 1;
    }
    if (rc == 0 && n > 0)
        rc = e->ops->scan_many(e, qs[fast[0]].model, ranges, n, reverse, limit, got, qs[fast[0]].rq->err);
    for (size_t i = 0; i < n; i++) {
        many_q *m = &mq[which[i]];
        const kv_query *q = &qs[fast[which[i]]];
        const kv_plan *p = &q->plan;
        int order_parts = p->fixed_parts + q->norder - 1, run_parts = order_run_parts(q, &m->exact);
        size_t need = (size_t)(q->skip + q->take);
        m->keys = got[i];
        m->used = got[i].n < need ? got[i].n : need;
        for (size_t j = 0; j < m->used && order_parts > p->fixed_parts; j++)
            m->cut = m->cut || cut_within(m->keys.data + m->keys.off[j], m->keys.len[j], p->fixed_parts, order_parts);
        if (!m->exact && m->used == need && got[i].n > need) { /* the next key in the last one's run: a tie */
            const char *a = m->keys.data + m->keys.off[need - 1], *b = m->keys.data + m->keys.off[need];
            size_t al = run_len(a, m->keys.len[need - 1], run_parts), bl = run_len(b, m->keys.len[need], run_parts);
            m->cut = m->cut || (al == bl && memcmp(a, b, al) == 0);
        }
        m->fr = (frontier){p->ranges[0].index, NULL, 0, run_parts, p->reverse, {0}, {0}};
        msgpack_sbuffer_init(&m->fr.key);
        if (m->used > 0) {
            m->fr.run = m->keys.data + m->keys.off[m->used - 1];
            m->fr.run_len = run_len(m->fr.run, m->keys.len[m->used - 1], run_parts);
        }
    }
    free(ranges);
    free(got);
    free(which);
    return rc;
}

int kv_query_rows_many(kv_query *qs, size_t n, kv_rows *outs)
{
    size_t *fast = calloc(n + 1, sizeof(*fast)), nfast = 0;
    many_q *mq = calloc(n + 1, sizeof(*mq));
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        memset(&outs[i], 0, sizeof(outs[i]));
    if (!fast || !mq) {
        rc = n ? kv_fail(qs[0].rq->err, KVORM_EINTERNAL, "out of memory") : 0;
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (qs[i].rq->db->engine->ops->scan_many && kv_query_first_keys_decide(&qs[i]))
            fast[nfast++] = i;
    if (nfast > 0) {
        kv_query *q0 = &qs[fast[0]];
        if ((rc = snapshot(q0, true)) != 0)
            goto done;
        for (size_t k = 0; k < nfast; k++) {
            qs[fast[k]].in_snapshot = q0->in_snapshot;
            outs[fast[k]].distinct = q0->in_snapshot; /* one range: one entry per record */
        }
        if ((rc = scan_first(qs, fast, nfast, false, mq)) == 0 && (rc = scan_first(qs, fast, nfast, true, mq)) == 0)
            rc = read_many(qs, fast, nfast, mq, outs);
        snapshot(q0, false);
    }
    /* a query is settled by its first keys when it found every row it needs, or read every key its range has,
     * with no cut value that could tie; else it runs on its own */
    for (size_t k = 0; rc == 0 && k < nfast; k++) {
        kv_query *q = &qs[fast[k]];
        size_t need = (size_t)(q->skip + q->take);
        bool settled = !mq[k].cut && (outs[fast[k]].n >= need || (mq[k].used == mq[k].keys.n && mq[k].keys.n < need));
        if (settled) {
            q->rows_in_order = mq[k].exact;
            rc = window(q, &outs[fast[k]]);
        } else {
            kv_rows_free(&outs[fast[k]]);
            rc = kv_query_rows(q, &outs[fast[k]]);
        }
    }
    for (size_t i = 0, k = 0; rc == 0 && i < n; i++) {
        if (k < nfast && fast[k] == i) { /* read above */
            k++;
            continue;
        }
        rc = kv_query_rows(&qs[i], &outs[i]);
    }
done:
    for (size_t k = 0; mq && k < n; k++) {
        kv_keys_free(&mq[k].keys);
        msgpack_sbuffer_destroy(&mq[k].fr.key);
    }
    free(fast);
    free(mq);
    return rc;
}

int kv_query_count(kv_query *q, int64_t *out)
{
    const kv_plan *p = &q->plan;
    kv_engine *e = q->rq->db->engine;
    int rc;
    *out = 0;
    if ((rc = kv_query_refuse(q)) != 0)
        return rc;
    if (!q->has_cursor && !q->has_take && q->skip == 0 && p->exact_count_ok &&
        (p->kind == KV_PLAN_INDEX || p->kind == KV_PLAN_SCAN)) {
        /* every condition is in the ranges: count keys, read no record */
        if ((rc = snapshot(q, true)) != 0)
            return rc;
        for (int i = 0; i < p->nranges && rc == 0; i++) {
            const kv_range *r = &p->ranges[i];
            bool whole = !r->index && !r->lo.data && !r->hi.data;
            int64_t n = 0;
            if ((rc = e->ops->count(e, q->model, whole ? NULL : r, &n, q->rq->err)) == 0)
                *out += n;
        }
        snapshot(q, false);
        return rc;
    }
    if (p->kind == KV_PLAN_EMPTY)
        return 0;
    kv_rows rows;
    if ((rc = kv_query_rows(q, &rows)) != 0)
        return rc;
    *out = (int64_t)rows.n;
    kv_rows_free(&rows);
    return 0;
}

/* ---- the findMany family ---- */

static int find(request *rq, msgpack_packer *pk, int first, bool or_throw)
{
    kv_query q;
    kv_rows rows = {0};
    selection sel = {0};
    kv_include *inc = NULL;
    const kv_record **parents = NULL;
    int rc;
    memset(&q, 0, sizeof(q));
    if ((rc = rq_parse_select(rq, &sel)) != 0 ||
        (rc = kv_include_parse(rq, rq->model, rq_arg(rq, "include"), rq_arg(rq, "select"), &inc)) != 0 ||
        (rc = kv_query_init(&q, rq, rq->args, KV_Q_WINDOW)) != 0)
        goto done;
    if (first) {
        /* the first row in the order (the last when take is negative) */
        q.has_take = true;
        q.take = 1;
    }
    if ((rc = kv_query_rows(&q, &rows)) != 0)
        goto done;
    if (inc && rows.n > 0) { /* the relations of every row, level by level */
        if (!(parents = calloc(rows.n, sizeof(*parents)))) {
            rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < rows.n; i++)
            parents[i] = &rows.rows[i];
        if ((rc = kv_include_load(rq, inc, rq->model, parents, rows.n)) != 0)
            goto done;
    }
    if (first) {
        if (rows.n == 0 && or_throw)
            rc = kv_fail_at(rq->err, KVORM_ENOTFOUND, rq->model->name, NULL, "%s: no %s matches the where",
                            rq->op, rq->model->name);
        else if (rows.n == 0)
            msgpack_pack_nil(pk);
        else if ((rc = rq_pack_record_with(rq, pk, &rows.rows[0], &sel, kv_include_count(inc))) == 0)
            rc = kv_include_pack(rq, pk, inc, 0);
        goto done;
    }
    msgpack_pack_array(pk, rows.n);
    for (size_t i = 0; i < rows.n && rc == 0; i++)
        if ((rc = rq_pack_record_with(rq, pk, &rows.rows[i], &sel, kv_include_count(inc))) == 0)
            rc = kv_include_pack(rq, pk, inc, i);
done:
    free(parents);
    kv_include_free(inc);
    kv_rows_free(&rows);
    kv_query_free(&q);
    free(sel.fields);
    return rc;
}

int kv_op_find_many(request *rq, msgpack_packer *pk) { return find(rq, pk, 0, false); }
int kv_op_find_first(request *rq, msgpack_packer *pk) { return find(rq, pk, 1, false); }
int kv_op_find_first_or_throw(request *rq, msgpack_packer *pk) { return find(rq, pk, 1, true); }

int kv_op_count(request *rq, msgpack_packer *pk)
{
    kv_query q;
    int64_t n = 0;
    int rc = kv_query_init(&q, rq, rq->args, KV_Q_WINDOW);
    if (rc == 0)
        rc = kv_query_count(&q, &n);
    if (rc == 0)
        msgpack_pack_int64(pk, n);
    kv_query_free(&q);
    return rc;
}

/* explain: the plan of a query op, without running it. */
int kv_op_explain(request *rq, msgpack_packer *pk)
{
    static const char *const explainable[] = {"findMany", "findFirst", "findFirstOrThrow", "count", "aggregate",
                                              "groupBy", "updateMany", "deleteMany", NULL};
    const msgpack_object *op = rq_arg(rq, "op"), *args = rq_arg(rq, "args");
    const kv_op *def = op ? kv_op_find(op) : NULL;
    bool ok = false;
    for (int i = 0; def && explainable[i]; i++)
        ok = ok || strcmp(def->name, explainable[i]) == 0;
    if (!ok) {
        char qq[96] = "nothing";
        if (op && op->type == MSGPACK_OBJECT_STR)
            kv_quote(qq, sizeof(qq), op->via.str.ptr, op->via.str.size);
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, NULL,
                          "explain: \"op\" is %s; it must name a query op (findMany, findFirst, findFirstOrThrow, "
                          "count, aggregate, groupBy, updateMany, deleteMany)",
                          qq);
    }
    if (args && args->type != MSGPACK_OBJECT_MAP)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, NULL, "explain: \"args\" must be a map");
    /* the inner op's arguments are checked as the op itself would */
    request inner = *rq;
    inner.args = args;
    inner.op = def->name;
    int rc;
    if ((rc = rq_check_args(&inner, def->args)) != 0)
        return rc;
    kv_query q;
    kv_include *inc = NULL;
    bool window = def->run != kv_op_group_by && def->run != kv_op_update_many && def->run != kv_op_delete_many;
    bool finds = def->run == kv_op_find_many || def->run == kv_op_find_first || def->run == kv_op_find_first_or_throw;
    if (finds && (rc = kv_include_parse(&inner, inner.model, rq_arg(&inner, "include"), rq_arg(&inner, "select"),
                                        &inc)) != 0)
        return rc;
    if ((rc = kv_query_init(&q, &inner, args, window ? KV_Q_WINDOW : KV_Q_WHERE)) == 0 &&
        (rc = kv_plan_explain(&q, def->name, pk, finds ? 1 : 0)) == 0 && finds) {
        kv_pack_cstr(pk, "include");
        kv_include_explain(inc, pk);
    }
    kv_query_free(&q);
    kv_include_free(inc);
    return rc;
}
