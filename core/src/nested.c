/* Nested writes (docs/queries.md, Nested writes).
 *
 * The data of a create or update may name relations of its model; each names what to do to the related records.
 * The call first reads what it names (the records to connect, disconnect, update or delete, each by a unique
 * selector; the related records an updateMany, deleteMany or set works on, by a query on the foreign key's index),
 * and makes one plan of writes (refs_plan.h): the creates, with their foreign keys filled in from the records they
 * are created under; the updates and deletes at the versions read; then what those deletes do to the records
 * referencing them (cascade, setNull, restrict, noAction). The plan runs as one all-or-nothing write. A record that
 * changed since it was read makes the whole call read and plan again; nothing is ever half written. */
#include "nested.h"

#include "entries.h"
#include "include.h"
#include "include_internal.h"
#include "mp.h"
#include "query.h"
#include "refs_plan.h"
#include "value.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NW_MAX_DEPTH 16 /* relations nested within one another in one call */
#define NW_PATH 200     /* where in the data a message points, "data.posts.create[3].comments" */
#define EDGE "$edge"    /* a manyToMany's edge fields, beside the target's (no field is named so) */

/* What one create or update of the call owns until the plan has run: its encoded data, the guards of the
 * foreign keys it sets, and a create's write. */
typedef struct nw_owned {
    encoded e;
    kv_ref_guards g;
    kv_write w;
    char id[KV_MAX_ID_BYTES + 1];
    struct nw_owned *next;
} nw_owned;

/* A record of the call: an item of the plan, read from the store or created by the call, with its values as
 * they will be written. */
typedef struct nw_rec {
    const kv_model *m;
    size_t item;
    bool created;
    const char *id; /* NULL: a create whose id the store generates */
    size_t id_len;
    const char **vals;
    size_t *lens;
} nw_rec;

/* The values a belongsTo's foreign key holds to reference one record: canonical bytes, field by field. */
typedef struct nw_key {
    const kv_model *m; /* the referencing model */
    int relation;      /* its belongsTo */
    kv_field_value v[KV_MAX_INDEX_PARTS];
    int n;
    bool to_planned;   /* the record referenced is written by the call: its own write stands for a guard */
} nw_key;

typedef struct nw {
    request *rq;
    ref_plan plan;
    msgpack_zone *zone; /* copies and made-up request objects, kept until the call has run */
    nw_owned *owned;
} nw;

static int oom(nw *c) { return kv_fail(c->rq->err, KVORM_EINTERNAL, "out of memory"); }

static int bad(nw *c, const kv_model *m, const char *fmt, const char *a, const char *b)
{
    return kv_fail_at(c->rq->err, KVORM_EBAD_REQUEST, m->name, NULL, fmt, a, b);
}

static void *zalloc(nw *c, size_t n) { return msgpack_zone_malloc(c->zone, n ? n : 1); }

static const char *zcopy(nw *c, const char *p, size_t n)
{
    char *d = zalloc(c, n + 1);
    if (d) {
        if (n)
            memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

static nw_owned *own(nw *c)
{
    nw_owned *o = calloc(1, sizeof(*o));
    if (o) {
        o->next = c->owned;
        c->owned = o;
    }
    return o;
}

static int nw_init(nw *c, request *rq)
{
    memset(c, 0, sizeof(*c));
    c->rq = rq;
    kv_refplan_init(&c->plan, rq);
    return (c->zone = msgpack_zone_new(4096)) ? 0 : oom(c);
}

static void nw_free(nw *c)
{
    kv_refplan_free(&c->plan);
    while (c->owned) {
        nw_owned *o = c->owned;
        c->owned = o->next;
        rq_encoded_free(&o->e);
        kv_ref_guards_free(&o->g);
        free(o);
    }
    if (c->zone)
        msgpack_zone_free(c->zone);
}

/* Puts where in the data an error happened in front of its message. */
static int at(nw *c, const char *path, int rc)
{
    kv_error *e = c->rq->err;
    if (rc == 0 || strncmp(e->message, path, strlen(path)) == 0)
        return rc;
    char msg[sizeof(e->message)];
    int n = snprintf(msg, sizeof(msg), "%s: %s", path, e->message);
    size_t len = kv_utf8_cut(msg, n < 0 ? 0 : (size_t)n >= sizeof(msg) ? sizeof(msg) - 1 : (size_t)n);
    memcpy(e->message, msg, len);
    e->message[len] = '\0';
    kv_error_publish(e);
    return rc;
}

/* ---- records and keys ---- */

/* The view of a record read (its values as read). */
static nw_rec view_of(const kv_model *m, const kv_record *r, size_t item)
{
    return (nw_rec){.m = m, .item = item, .id = r->id, .id_len = r->id_len, .vals = r->values, .lens = r->lens};
}

/* The key that belongsTo bi of model cm holds to reference record t; VALIDATION when t has no such key. */
static int key_of(nw *c, const kv_model *cm, int bi, const nw_rec *t, bool planned, const char *path, nw_key *out)
{
    request *rq = c->rq;
    const kv_relation *b = &cm->relations[bi];
    memset(out, 0, sizeof(*out));
    out->m = cm;
    out->relation = bi;
    out->n = b->nfields;
    out->to_planned = planned;
    if (b->references < 0) {
        if (!t->id)
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, t->m->name, "id",
                              "%s: the store gives %s its ids (increment), so a record created in this call cannot "
                              "be referenced by %s.%s yet; create it first, or give its id",
                              path, t->m->name, cm->name, b->name);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        int rc = kv_include_value_of_id(rq, cm, &cm->fields[b->fields[0]], t->m, t->id, t->id_len, &sb);
        const char *v = rc == 0 ? zcopy(c, sb.data ? sb.data : "", sb.size) : NULL;
        out->v[0] = (kv_field_value){b->fields[0], v, sb.size};
        msgpack_sbuffer_destroy(&sb);
        return rc != 0 ? rc : v ? 0 : oom(c);
    }
    const kv_unique *u = &t->m->uniques[b->references];
    for (int i = 0; i < u->nfields; i++) {
        int tf = u->fields[i];
        if (!t->vals[tf])
            return kv_fail_at(rq->err, KVORM_EVALIDATION, t->m->name, t->m->fields[tf].name,
                              "%s: the %s record has no %s, which %s.%s references", path, t->m->name,
                              t->m->fields[tf].name, cm->name, b->name);
        const char *v = zcopy(c, t->vals[tf], t->lens[tf]);
        if (!v)
            return oom(c);
        out->v[i] = (kv_field_value){b->fields[i], v, t->lens[tf]};
    }
    return 0;
}

/* Whether record r (of k's model) holds key k. */
static bool holds(const kv_record *r, const nw_key *k)
{
    for (int i = 0; i < k->n; i++) {
        int f = k->v[i].field;
        if (!r->values[f] || r->lens[f] != k->v[i].len || memcmp(r->values[f], k->v[i].data, k->v[i].len) != 0)
            return false;
    }
    return true;
}

/* The locator of the record of model t that belongsTo bi of m references from record r; *none when its foreign
 * key is null. */
static int referenced_loc(nw *c, const kv_model *m, int bi, const kv_record *r, kv_locator *loc, char *id_text,
                          bool *none)
{
    request *rq = c->rq;
    const kv_relation *b = &m->relations[bi];
    const kv_model *t = &rq->db->schema->models[b->target];
    msgpack_sbuffer key;
    *none = false;
    memset(loc, 0, sizeof(*loc));
    for (int i = 0; i < b->nfields; i++)
        if (!r->values[b->fields[i]])
            return *none = true, 0;
    if (b->references < 0) {
        msgpack_object o;
        const char *v = r->values[b->fields[0]];
        if (kv_mp_unpack(c->zone, v, r->lens[b->fields[0]], &o) != KV_MP_OK)
            return kv_fail(rq->err, KVORM_EINTERNAL, "%s: a foreign key value is not MessagePack", m->name);
        int rc = kv_id_encode(id_text, &loc->id_len, t, &o, rq->err);
        loc->id = id_text;
        return rc;
    }
    msgpack_sbuffer_init(&key);
    for (int i = 0; i < b->nfields; i++)
        msgpack_sbuffer_write(&key, r->values[b->fields[i]], r->lens[b->fields[i]]);
    loc->unique = &t->uniques[b->references];
    loc->unique_index = b->references;
    loc->ukey = zcopy(c, key.data ? key.data : "", key.size);
    loc->ukey_len = key.size;
    msgpack_sbuffer_destroy(&key);
    return loc->ukey ? 0 : oom(c);
}

/* ---- reads ---- */

static int read_loc(nw *c, const kv_model *m, const kv_locator *loc, kv_record *out, bool *found)
{
    kv_error err = {0};
    kv_step st = {.model = m, .loc = loc, .err = &err};
    kv_step *sp = &st;
    c->rq->db->engine->ops->run(c->rq->db->engine, &sp, 1);
    if (st.rc != 0) {
        *c->rq->err = err;
        kv_error_publish(c->rq->err);
        return st.rc;
    }
    *found = st.found;
    *out = st.out;
    return 0;
}

/* Reads the record of m that unique selector `where` names; with must, none is NOT_FOUND. */
static int read_where(nw *c, const kv_model *m, const msgpack_object *where, bool must, const char *path,
                      kv_record *out, bool *found)
{
    request *rq = c->rq;
    const kv_model *saved = rq->model;
    target t;
    rq->model = m;
    int rc = rq_parse_unique_where(rq, where, &t);
    if (rc == 0)
        rc = read_loc(c, m, &t.loc, out, found);
    if (rc == 0 && must && !*found)
        rc = rq_not_found(rq, &t);
    rq_target_free(&t);
    rq->model = saved;
    return at(c, path, rc);
}

/* The record of cm that holds key k in hasOne's unique foreign key, if any. */
static int read_one_child(nw *c, const kv_model *cm, const nw_key *k, kv_record *out, bool *found)
{
    const kv_relation *b = &cm->relations[k->relation];
    const kv_unique *u = &cm->uniques[b->fk_unique];
    msgpack_sbuffer key;
    msgpack_sbuffer_init(&key);
    for (int i = 0; i < u->nfields; i++)
        for (int j = 0; j < k->n; j++)
            if (k->v[j].field == u->fields[i])
                msgpack_sbuffer_write(&key, k->v[j].data, k->v[j].len);
    kv_locator loc = {.unique = u, .unique_index = b->fk_unique, .ukey = key.data ? key.data : "",
                      .ukey_len = key.size};
    int rc = read_loc(c, cm, &loc, out, found);
    msgpack_sbuffer_destroy(&key);
    return rc;
}

/* The records of cm holding key k that also match where (NULL: all of them), at most one more than the plan may
 * write: a query planned on the foreign key's index. */
/* The where {field: value, ...} of key k's fields of cm (in the zone). */
static int key_where(nw *c, const kv_model *cm, const nw_key *k, msgpack_object *out)
{
    msgpack_object_kv *eq = zalloc(c, sizeof(*eq) * (size_t)k->n);
    if (!eq)
        return oom(c);
    for (int i = 0; i < k->n; i++) {
        const kv_field *f = &cm->fields[k->v[i].field];
        eq[i].key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {(uint32_t)strlen(f->name), f->name}};
        if (kv_mp_unpack(c->zone, k->v[i].data, k->v[i].len, &eq[i].val) != KV_MP_OK)
            return kv_fail(c->rq->err, KVORM_EINTERNAL, "%s: a key value is not MessagePack", cm->name);
    }
    *out = (msgpack_object){.type = MSGPACK_OBJECT_MAP, .via.map = {(uint32_t)k->n, eq}};
    return 0;
}

static int read_children(nw *c, const kv_model *cm, const nw_key *k, const msgpack_object *where, const char *path,
                         kv_rows *rows)
{
    request *rq = c->rq;
    int parts = where ? 2 : 1;
    msgpack_object_kv *top = zalloc(c, sizeof(*top) * 2);
    msgpack_object *and = zalloc(c, sizeof(*and) * 2);
    if (!top || !and)
        return oom(c);
    int krc = key_where(c, cm, k, &and[0]);
    if (krc != 0)
        return krc;
    if (where)
        and[1] = *where;
    msgpack_object_kv and_kv = {{.type = MSGPACK_OBJECT_STR, .via.str = {3, "AND"}},
                                {.type = MSGPACK_OBJECT_ARRAY, .via.array = {(uint32_t)parts, and}}};
    top[0].key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {5, "where"}};
    top[0].val = (msgpack_object){.type = MSGPACK_OBJECT_MAP, .via.map = {1, &and_kv}};
    top[1].key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {4, "take"}};
    top[1].val = (msgpack_object){.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = c->plan.bound + 1};
    msgpack_object args = {.type = MSGPACK_OBJECT_MAP, .via.map = {2, top}};
    request sub = kv_include_request(rq, cm, &args);
    sub.op = rq->op;
    kv_query q;
    int rc = kv_query_init(&q, &sub, &args, KV_Q_WINDOW);
    if (rc == 0)
        rc = kv_query_rows(&q, rows);
    kv_query_free(&q);
    return at(c, path, rc);
}

/* ---- items ---- */

/* The item that writes record rec of m (moved into the plan): one record written twice by a call is refused. */
static int add_read(nw *c, const kv_model *m, kv_record *rec, bool del, const char *path, size_t *item)
{
    if (kv_refplan_find(&c->plan, m, rec->id, rec->id_len)) {
        char q[96];
        kv_quote(q, sizeof(q), rec->id, rec->id_len);
        kv_record_free(rec);
        return kv_fail_at(c->rq->err, KVORM_EBAD_REQUEST, m->name, NULL,
                          "%s: this call names the %s record with id %s twice; write it once", path, m->name, q);
    }
    if (!kv_refplan_add(&c->plan, m, rec, true, del))
        return oom(c);
    *item = c->plan.n - 1;
    return 0;
}

/* Copies the guards of g into item's write, but those of relation skip (of its model; -1: none), whose target
 * the call writes itself. */
static int take_guards(nw *c, size_t item, const kv_ref_guards *g, const bool *skip)
{
    for (int i = 0; i < g->n; i++) {
        if (skip && skip[g->g[i].relation])
            continue;
        kv_guard *to = kv_refplan_guard(&c->plan.items[item]);
        if (!to)
            return oom(c);
        *to = g->g[i];
    }
    return 0;
}

/* Sets key k on item (a record of k's model), guarded unless its target is written by the call. */
static int set_key(nw *c, size_t item, const nw_key *k)
{
    for (int i = 0; i < k->n; i++)
        if (!kv_refplan_set(&c->plan.items[item], &k->v[i]))
            return oom(c);
    if (k->to_planned)
        return 0;
    nw_owned *o = own(c);
    if (!o)
        return oom(c);
    int rc = kv_refs_guard_values(c->rq, k->m, k->v, k->n, NULL, 0, false, 'a', &o->g);
    return rc != 0 ? rc : take_guards(c, item, &o->g, NULL);
}

static int clear_key(nw *c, size_t item, const nw_key *k)
{
    for (int i = 0; i < k->n; i++)
        if (!kv_refplan_unset(&c->plan.items[item], k->v[i].field))
            return oom(c);
    return 0;
}

/* A required foreign key cannot be cleared: VALIDATION naming the relation. */
static int need_optional(nw *c, const kv_model *m, int bi, const char *path, const char *what)
{
    const kv_relation *b = &m->relations[bi];
    if (b->optional)
        return 0;
    return kv_fail_at(c->rq->err, KVORM_EVALIDATION, m->name, m->fields[b->fields[0]].name,
                      "%s: %s.%s is required, so a %s cannot be %s (delete it, or connect it elsewhere)", path,
                      m->name, b->name, m->name, what);
}

/* ---- the walk ---- */

typedef struct nw_fill {
    const nw_key *keys; /* foreign keys the records are created with (a to-many's parent, a join's two sides) */
    int n;
} nw_fill;

static int nw_create(nw *c, const kv_model *m, const msgpack_object *data, const nw_fill *fill, bool skip_dup,
                     int depth, const char *path, nw_rec *out);
static int nw_update(nw *c, const kv_model *m, kv_record *rec, const msgpack_object *data, int depth,
                     const char *path, size_t *item);

/* The elements of an op's argument that takes one value or a list: v itself, or each of its elements. */
static size_t count_of(const msgpack_object *v, bool list_ok)
{
    return list_ok && v->type == MSGPACK_OBJECT_ARRAY ? v->via.array.size : 1;
}

static const msgpack_object *elem(const msgpack_object *v, bool list_ok, size_t i)
{
    return list_ok && v->type == MSGPACK_OBJECT_ARRAY ? &v->via.array.ptr[i] : v;
}

/* path.name, or path.name[i] for an element of a list; cut to fit (a message's pointer, not a key). */
static void sub_path(char *buf, const char *path, const char *name, size_t len, bool list, size_t i)
{
    char index[32] = "";
    size_t o = strlen(path);
    if (o > NW_PATH - 1)
        o = NW_PATH - 1;
    memmove(buf, path, o);
    if (list)
        snprintf(index, sizeof(index), "[%zu]", i);
    size_t room = NW_PATH - 1 - o, il = strlen(index);
    if (room > 0) {
        buf[o++] = '.';
        room--;
    }
    if (len > room)
        len = room;
    memcpy(buf + o, name, len);
    o += len;
    room -= len;
    if (il <= room) {
        memcpy(buf + o, index, il);
        o += il;
    }
    buf[o] = '\0';
}

static int need_map(nw *c, const kv_model *m, const msgpack_object *v, const char *path, const char *what)
{
    if (v->type == MSGPACK_OBJECT_MAP)
        return 0;
    return bad(c, m, "%s must be %s", path, what);
}

/* {where, create} (connectOrCreate), {create, update} (a to-one upsert) ...: the map's entry `key`, or NULL when
 * absent; an entry not in `allowed` is BAD_REQUEST. */
static int args_of(nw *c, const kv_model *m, const msgpack_object *v, const char *path, const char *const *allowed,
                   const char *const *required)
{
    int rc = need_map(c, m, v, path, "a map");
    for (uint32_t i = 0; rc == 0 && i < v->via.map.size; i++) {
        const msgpack_object *k = &v->via.map.ptr[i].key;
        bool ok = false;
        for (int j = 0; allowed[j] && !ok; j++)
            ok = kv_mp_str_eq(k, allowed[j]);
        if (!ok) {
            rq_unknown_field(c->rq, path, k);
            c->rq->err->code = KVORM_EBAD_REQUEST;
            rc = KVORM_EBAD_REQUEST;
        }
    }
    for (int j = 0; rc == 0 && required[j]; j++)
        if (!kv_mp_map_get(v, required[j]))
            rc = kv_fail_at(c->rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "%s needs \"%s\"", path, required[j]);
    return rc;
}

/* v without its "$edge" entry (a manyToMany element), and that entry (NULL when absent). */
static int split_edge(nw *c, const msgpack_object *v, msgpack_object *rest, const msgpack_object **edge)
{
    *rest = *v;
    *edge = NULL;
    if (v->type != MSGPACK_OBJECT_MAP)
        return 0;
    msgpack_object_kv *kv = zalloc(c, sizeof(*kv) * (v->via.map.size + 1));
    uint32_t n = 0;
    if (!kv)
        return oom(c);
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        if (kv_mp_str_eq(&v->via.map.ptr[i].key, EDGE))
            *edge = &v->via.map.ptr[i].val;
        else
            kv[n++] = v->via.map.ptr[i];
    }
    rest->via.map.ptr = kv;
    rest->via.map.size = n;
    return 0;
}

/* ---- belongsTo ---- */

/* What to do to the foreign key of a belongsTo given in data. */
typedef enum { FK_SET, FK_CLEAR, FK_KEEP } fk_change;

/* A belongsTo (relation bi of m) given in data: create, connect, connectOrCreate; in an update (cur: the record
 * as read) also disconnect, update, upsert, delete. *out is the key its foreign key gets when *change is FK_SET. */
static int belongs_to(nw *c, const kv_model *m, int bi, const msgpack_object *v, const kv_record *cur, int depth,
                      const char *path, nw_key *out, fk_change *change)
{
    request *rq = c->rq;
    const kv_relation *b = &m->relations[bi];
    const kv_model *t = &rq->db->schema->models[b->target];
    char sub[NW_PATH], id_text[KV_MAX_ID_BYTES + 1];
    kv_locator now = {0};
    bool none = true;
    int rc;
    if (v->type != MSGPACK_OBJECT_MAP || v->via.map.size != 1)
        return bad(c, m, "%s must be a map of one of create, connect, connectOrCreate%s", path,
                   cur ? ", disconnect, update, upsert, delete" : "");
    const msgpack_object *op = &v->via.map.ptr[0].key, *arg = &v->via.map.ptr[0].val;
    const char *name = op->type == MSGPACK_OBJECT_STR ? op->via.str.ptr : "";
    size_t nlen = op->type == MSGPACK_OBJECT_STR ? op->via.str.size : 0;
    sub_path(sub, path, name, nlen, false, 0);
    *change = FK_SET;
    /* the record the foreign key names now: read before anything moves the record cur points into */
    if (cur && (rc = referenced_loc(c, m, bi, cur, &now, id_text, &none)) != 0)
        return rc;
    if (kv_mp_str_eq(op, "create")) {
        nw_rec tr;
        if ((rc = nw_create(c, t, arg, NULL, false, depth + 1, sub, &tr)) != 0)
            return rc;
        return key_of(c, m, bi, &tr, true, sub, out);
    }
    if (kv_mp_str_eq(op, "connect") || kv_mp_str_eq(op, "connectOrCreate")) {
        static const char *const cc_args[] = {"where", "create", NULL};
        bool cc = kv_mp_str_eq(op, "connectOrCreate"), found = false;
        const msgpack_object *where = arg;
        if (cc && (rc = args_of(c, m, arg, sub, cc_args, cc_args)) != 0)
            return rc;
        if (cc)
            where = kv_mp_map_get(arg, "where");
        kv_record r = {0};
        if ((rc = read_where(c, t, where, !cc, sub, &r, &found)) != 0)
            return rc;
        if (!found) {
            nw_rec tr;
            if ((rc = nw_create(c, t, kv_mp_map_get(arg, "create"), NULL, false, depth + 1, sub, &tr)) != 0)
                return rc;
            return key_of(c, m, bi, &tr, true, sub, out);
        }
        nw_rec tr = view_of(t, &r, 0);
        rc = key_of(c, m, bi, &tr, false, sub, out);
        kv_record_free(&r);
        return rc;
    }
    if (!cur)
        return bad(c, m, "%s: a record being created can only create, connect or connectOrCreate its %s", sub,
                   b->name);
    if (kv_mp_str_eq(op, "disconnect")) {
        if (arg->type != MSGPACK_OBJECT_BOOLEAN || !arg->via.boolean)
            return bad(c, m, "%s must be true%s", sub, "");
        *change = FK_CLEAR;
        return need_optional(c, m, bi, sub, "disconnected");
    }
    bool upsert = kv_mp_str_eq(op, "upsert");
    if (kv_mp_str_eq(op, "update") || upsert || kv_mp_str_eq(op, "delete")) {
        static const char *const up_args[] = {"create", "update", NULL};
        bool del = kv_mp_str_eq(op, "delete"), found = false;
        kv_record r = {0};
        if (upsert && (rc = args_of(c, m, arg, sub, up_args, up_args)) != 0)
            return rc;
        if (del && (arg->type != MSGPACK_OBJECT_BOOLEAN || !arg->via.boolean))
            return bad(c, m, "%s must be true%s", sub, "");
        if (del && (rc = need_optional(c, m, bi, sub, "left without it")) != 0)
            return rc;
        if (!none && (rc = read_loc(c, t, &now, &r, &found)) != 0)
            return rc;
        if (!found && !upsert)
            return at(c, sub,
                      kv_fail_at(rq->err, KVORM_ENOTFOUND, t->name, NULL, "the %s record has no %s to %s", m->name,
                                 b->name, del ? "delete" : "update"));
        if (!found) {
            nw_rec tr;
            if ((rc = nw_create(c, t, kv_mp_map_get(arg, "create"), NULL, false, depth + 1, sub, &tr)) != 0)
                return rc;
            return key_of(c, m, bi, &tr, true, sub, out);
        }
        size_t item;
        *change = del ? FK_CLEAR : FK_KEEP;
        if (del)
            return add_read(c, t, &r, true, sub, &item);
        return nw_update(c, t, &r, upsert ? kv_mp_map_get(arg, "update") : arg, depth + 1, sub, &item);
    }
    return bad(c, m, "%s: unknown nested write (create, connect, connectOrCreate, disconnect, update, upsert, "
                     "delete)%s",
               sub, "");
}

/* ---- hasOne, hasMany ---- */

/* Connects record r (of the child model, read) to the parent: its foreign key set to k. */
static int connect_read(nw *c, kv_record *r, const nw_key *k, const char *path)
{
    size_t item;
    if (holds(r, k)) { /* connected already: nothing to write */
        kv_record_free(r);
        return 0;
    }
    int rc = add_read(c, k->m, r, false, path, &item);
    return rc != 0 ? rc : set_key(c, item, k);
}

/* A hasOne of a record that exists: a second record cannot take its unique foreign key in the same write that
 * frees it (the store checks every write before it applies any), so one already there must go first. */
static int one_free(nw *c, const kv_relation *r, const nw_key *k, const kv_record *incoming, const char *path)
{
    kv_record cur = {0};
    bool found = false;
    int rc = read_one_child(c, k->m, k, &cur, &found);
    if (rc == 0 && found && !(incoming && incoming->id_len == cur.id_len && memcmp(incoming->id, cur.id, cur.id_len) == 0)) {
        char q[96];
        kv_quote(q, sizeof(q), cur.id, cur.id_len);
        rc = kv_fail_at(c->rq->err, KVORM_ERELATION, k->m->name, NULL,
                        "%s: the record already has a %s (%s with id %s); disconnect or delete it first, or update "
                        "it",
                        path, r->name, k->m->name, q);
    }
    kv_record_free(&cur);
    return rc;
}

static int to_many_op(nw *c, const kv_model *m, int ri, const nw_rec *self, const nw_key *k, const msgpack_object *op,
                      const msgpack_object *arg, bool creating, int depth, const char *path)
{
    request *rq = c->rq;
    const kv_relation *r = &m->relations[ri];
    const kv_model *cm = k->m;
    bool one = r->kind == KV_REL_HAS_ONE;
    char sub[NW_PATH];
    int rc = 0;
    const char *name = op->via.str.ptr;
    size_t nlen = op->via.str.size;
    nw_fill fill = {k, 1};
    (void)self;
    if (kv_mp_str_eq(op, "createMany")) {
        static const char *const cm_args[] = {"data", "skipDuplicates", NULL}, *const cm_req[] = {"data", NULL};
        sub_path(sub, path, name, nlen, false, 0);
        if (one)
            return bad(c, m, "%s: %s is a hasOne: create its one record with create%s", sub, "");
        if ((rc = args_of(c, m, arg, sub, cm_args, cm_req)) != 0)
            return rc;
        const msgpack_object *data = kv_mp_map_get(arg, "data"), *skip = kv_mp_map_get(arg, "skipDuplicates");
        if (skip && skip->type != MSGPACK_OBJECT_BOOLEAN)
            return bad(c, m, "%s.skipDuplicates must be true or false%s", sub, "");
        for (size_t i = 0; i < count_of(data, true); i++) {
            char one_path[NW_PATH];
            sub_path(one_path, sub, "data", 4, data->type == MSGPACK_OBJECT_ARRAY, i);
            const msgpack_object *d = elem(data, true, i);
            if (kv_nested_in(cm, d))
                return bad(c, cm, "%s: createMany takes no nested writes (use create)%s", one_path, "");
            nw_rec cr;
            if ((rc = nw_create(c, cm, d, &fill, skip && skip->via.boolean, depth + 1, one_path, &cr)) != 0)
                return rc;
        }
        return 0;
    }
    if (kv_mp_str_eq(op, "set")) {
        sub_path(sub, path, name, nlen, false, 0);
        if (one || creating)
            return bad(c, m, "%s: set replaces the records of a hasMany in an update%s", sub, "");
        if (arg->type != MSGPACK_OBJECT_ARRAY)
            return bad(c, m, "%s must be a list of unique selectors%s", sub, "");
        if ((rc = need_optional(c, cm, k->relation, sub, "disconnected by set")) != 0)
            return rc;
        kv_rows now = {0};
        kv_record *want = calloc(arg->via.array.size + 1, sizeof(*want));
        bool *found = calloc(arg->via.array.size + 1, sizeof(*found));
        if (!want || !found)
            rc = oom(c);
        for (uint32_t i = 0; rc == 0 && i < arg->via.array.size; i++) {
            char one_path[NW_PATH];
            sub_path(one_path, path, name, nlen, true, i);
            rc = read_where(c, cm, &arg->via.array.ptr[i], true, one_path, &want[i], &found[i]);
        }
        if (rc == 0)
            rc = read_children(c, cm, k, NULL, sub, &now);
        /* the records no longer wanted are disconnected, the others connected */
        for (size_t i = 0; rc == 0 && i < now.n; i++) {
            bool keep = false;
            for (uint32_t j = 0; j < arg->via.array.size && !keep; j++)
                keep = want[j].id_len == now.rows[i].id_len && memcmp(want[j].id, now.rows[i].id, want[j].id_len) == 0;
            size_t item;
            if (!keep && (rc = add_read(c, cm, &now.rows[i], false, sub, &item)) == 0)
                rc = clear_key(c, item, k);
        }
        for (uint32_t i = 0; rc == 0 && i < arg->via.array.size; i++)
            rc = connect_read(c, &want[i], k, sub);
        for (uint32_t i = 0; want && i < arg->via.array.size; i++)
            kv_record_free(&want[i]);
        free(want);
        free(found);
        kv_rows_free(&now);
        return rc;
    }
    bool list_ok = !one;
    bool updating_only = kv_mp_str_eq(op, "disconnect") || kv_mp_str_eq(op, "update") ||
                         kv_mp_str_eq(op, "updateMany") || kv_mp_str_eq(op, "upsert") || kv_mp_str_eq(op, "delete") ||
                         kv_mp_str_eq(op, "deleteMany");
    bool known = updating_only || kv_mp_str_eq(op, "create") || kv_mp_str_eq(op, "connect") ||
                 kv_mp_str_eq(op, "connectOrCreate");
    sub_path(sub, path, name, nlen, false, 0);
    if (!known)
        return bad(c, m, "%s: unknown nested write (create, createMany, connect, connectOrCreate, disconnect, set, "
                         "update, updateMany, upsert, delete, deleteMany)%s",
                   sub, "");
    if (updating_only && creating)
        return bad(c, m, "%s: a record being created has no related records to change yet (create, createMany, "
                         "connect, connectOrCreate)%s",
                   sub, "");
    if (one && (kv_mp_str_eq(op, "updateMany") || kv_mp_str_eq(op, "deleteMany")))
        return bad(c, m, "%s: %s is a hasOne (update or delete its record)%s", sub, r->name);
    size_t n = count_of(arg, list_ok);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const msgpack_object *a = elem(arg, list_ok, i);
        kv_record rec = {0};
        bool found = false;
        sub_path(sub, path, name, nlen, list_ok && arg->type == MSGPACK_OBJECT_ARRAY, i);
        if (kv_mp_str_eq(op, "create")) {
            nw_rec cr;
            if (one && !creating && (rc = one_free(c, r, k, NULL, sub)) != 0)
                break;
            rc = nw_create(c, cm, a, &fill, false, depth + 1, sub, &cr);
        } else if (kv_mp_str_eq(op, "connect") || kv_mp_str_eq(op, "connectOrCreate")) {
            static const char *const cc_args[] = {"where", "create", NULL};
            bool cc = kv_mp_str_eq(op, "connectOrCreate");
            if (cc && (rc = args_of(c, m, a, sub, cc_args, cc_args)) != 0)
                break;
            if ((rc = read_where(c, cm, cc ? kv_mp_map_get(a, "where") : a, !cc, sub, &rec, &found)) != 0)
                break;
            if (one && !creating && (rc = one_free(c, r, k, found ? &rec : NULL, sub)) != 0) {
                kv_record_free(&rec);
                break;
            }
            nw_rec cr;
            rc = found ? connect_read(c, &rec, k, sub)
                       : nw_create(c, cm, kv_mp_map_get(a, "create"), &fill, false, depth + 1, sub, &cr);
        } else if (kv_mp_str_eq(op, "updateMany") || kv_mp_str_eq(op, "deleteMany")) {
            static const char *const um_args[] = {"where", "data", NULL}, *const um_req[] = {"where", "data", NULL};
            bool del = kv_mp_str_eq(op, "deleteMany");
            const msgpack_object *where = a, *data = NULL;
            kv_rows rows = {0};
            if (!del && (rc = args_of(c, m, a, sub, um_args, um_req)) != 0)
                break;
            if (!del) {
                where = kv_mp_map_get(a, "where");
                data = kv_mp_map_get(a, "data");
                if (kv_nested_in(cm, data)) {
                    rc = bad(c, cm, "%s: updateMany takes no nested writes (use update)%s", sub, "");
                    break;
                }
            }
            rc = read_children(c, cm, k, where, sub, &rows);
            for (size_t j = 0; rc == 0 && j < rows.n; j++) {
                size_t item;
                const ref_item *was = kv_refplan_find(&c->plan, cm, rows.rows[j].id, rows.rows[j].id_len);
                if (del && was && was->del)
                    continue; /* deleted by this call already */
                rc = del ? add_read(c, cm, &rows.rows[j], true, sub, &item)
                         : nw_update(c, cm, &rows.rows[j], data, depth + 1, sub, &item);
            }
            kv_rows_free(&rows);
        } else {
            /* disconnect, update, upsert, delete: one record, which must be connected to this one */
            static const char *const many_up[] = {"where", "data", NULL}, *const many_ups[] = {"where", "create", "update", NULL};
            static const char *const one_ups[] = {"create", "update", NULL};
            bool disconnect = kv_mp_str_eq(op, "disconnect"), del = kv_mp_str_eq(op, "delete");
            bool upsert = kv_mp_str_eq(op, "upsert"), update = kv_mp_str_eq(op, "update");
            const msgpack_object *where = a, *data = a;
            if (update && !one && (rc = args_of(c, m, a, sub, many_up, many_up)) != 0)
                break;
            if (upsert && (rc = args_of(c, m, a, sub, one ? one_ups : many_ups, one ? one_ups : many_ups)) != 0)
                break;
            if (!one && (update || upsert)) {
                where = kv_mp_map_get(a, "where");
                data = kv_mp_map_get(a, update ? "data" : "update");
            } else if (upsert) {
                data = kv_mp_map_get(a, "update");
            }
            if (one && (disconnect || del) && (a->type != MSGPACK_OBJECT_BOOLEAN || !a->via.boolean)) {
                rc = bad(c, m, "%s must be true%s", sub, "");
                break;
            }
            if (disconnect && (rc = need_optional(c, cm, k->relation, sub, "disconnected")) != 0)
                break;
            rc = one ? read_one_child(c, cm, k, &rec, &found) : read_where(c, cm, where, false, sub, &rec, &found);
            if (rc == 0 && found && !holds(&rec, k)) {
                kv_record_free(&rec);
                found = false;
            }
            if (rc != 0)
                break;
            if (!found && upsert) {
                nw_rec cr;
                rc = nw_create(c, cm, kv_mp_map_get(a, "create"), &fill, false, depth + 1, sub, &cr);
                continue;
            }
            if (!found) {
                rc = at(c, sub,
                        kv_fail_at(rq->err, KVORM_ENOTFOUND, cm->name, NULL,
                                   "no %s record %s is connected to this %s through %s", cm->name,
                                   one ? "" : "that the where names", m->name, r->name));
                break;
            }
            size_t item;
            if (del)
                rc = add_read(c, cm, &rec, true, sub, &item);
            else if (disconnect) {
                if ((rc = add_read(c, cm, &rec, false, sub, &item)) == 0)
                    rc = clear_key(c, item, k);
            } else
                rc = nw_update(c, cm, &rec, data, depth + 1, sub, &item);
        }
    }
    return rc;
}

/* ---- manyToMany (through its join model) ---- */

#define KV_MAX_NESTED_LINKS 256 /* targets of one op remembered to tell one named twice */

static bool same_key(const nw_key *a, const nw_key *b)
{
    if (a->n != b->n)
        return false;
    for (int i = 0; i < a->n; i++)
        if (a->v[i].len != b->v[i].len || memcmp(a->v[i].data, b->v[i].data, a->v[i].len) != 0)
            return false;
    return true;
}

/* A copy of key k whose values live in the zone (k's may point into a record freed before the call ends). */
static int keep_key(nw *c, const nw_key *k, nw_key *out)
{
    *out = *k;
    for (int i = 0; i < k->n; i++)
        if (!(out->v[i].data = zcopy(c, k->v[i].data, k->v[i].len)))
            return oom(c);
    return 0;
}

/* Whether a join record of j links from (this record) and to (the target): one query of that pair. */
static int pair_linked(nw *c, const kv_model *j, const nw_key *from, const nw_key *to, const char *path, bool *linked)
{
    msgpack_object where;
    kv_rows rows = {0};
    int rc = key_where(c, j, to, &where);
    if (rc == 0)
        rc = read_children(c, j, from, &where, path, &rows);
    *linked = rc == 0 && rows.n > 0;
    kv_rows_free(&rows);
    return rc;
}

/* Creates the join record between self and the target record tr, with the edge's fields. */
static int join_create(nw *c, const kv_relation *r, const nw_key *from, const nw_rec *tr, bool tr_planned,
                       const msgpack_object *edge, int depth, const char *path)
{
    const kv_model *j = &c->rq->db->schema->models[r->through];
    nw_key keys[2] = {*from};
    static const msgpack_object empty = {.type = MSGPACK_OBJECT_MAP};
    int rc = key_of(c, j, r->through_to, tr, tr_planned, path, &keys[1]);
    if (rc != 0)
        return rc;
    if (edge && kv_nested_in(j, edge))
        return bad(c, j, "%s." EDGE " holds the join record's own fields only%s", path, "");
    nw_fill fill = {keys, 2};
    nw_rec jr;
    return nw_create(c, j, edge ? edge : &empty, &fill, false, depth + 1, path, &jr);
}

static int many_to_many(nw *c, const kv_model *m, int ri, const nw_rec *self, const msgpack_object *ops,
                        bool creating, int depth, const char *path)
{
    request *rq = c->rq;
    const kv_relation *r = &m->relations[ri];
    const kv_model *t = &rq->db->schema->models[r->target], *j = &rq->db->schema->models[r->through];
    nw_key from;
    int rc = key_of(c, j, r->through_from, self, true, path, &from);
    for (uint32_t o = 0; rc == 0 && o < ops->via.map.size; o++) {
        const msgpack_object *op = &ops->via.map.ptr[o].key, *arg = &ops->via.map.ptr[o].val;
        const char *name = op->type == MSGPACK_OBJECT_STR ? op->via.str.ptr : "";
        size_t nlen = op->type == MSGPACK_OBJECT_STR ? op->via.str.size : 0;
        bool set = kv_mp_str_eq(op, "set"), disconnect = kv_mp_str_eq(op, "disconnect");
        char sub[NW_PATH];
        sub_path(sub, path, name, nlen, false, 0);
        if (!kv_mp_str_eq(op, "create") && !kv_mp_str_eq(op, "connect") && !kv_mp_str_eq(op, "connectOrCreate") &&
            !set && !disconnect)
            return bad(c, m, "%s: a manyToMany takes create, connect, connectOrCreate, disconnect and set (write "
                             "the related records themselves through %s)",
                       sub, j->name);
        if ((set || disconnect) && creating)
            return bad(c, m, "%s: a record being created has no related records to change yet%s", sub, "");
        if (set && arg->type != MSGPACK_OBJECT_ARRAY)
            return bad(c, m, "%s must be a list of unique selectors%s", sub, "");
        kv_rows joins = {0};
        if (set || disconnect) { /* the join records there are now */
            if ((rc = read_children(c, j, &from, NULL, sub, &joins)) != 0)
                return rc;
        }
        nw_key made[KV_MAX_NESTED_LINKS]; /* the targets this op linked so far */
        size_t nmade = 0;
        bool *kept = joins.n ? calloc(joins.n, sizeof(*kept)) : NULL;
        if (joins.n && !kept)
            rc = oom(c);
        size_t n = count_of(arg, true);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            const msgpack_object *a = elem(arg, true, i), *edge = NULL;
            msgpack_object rest;
            kv_record tr = {0};
            bool found = false, cc = kv_mp_str_eq(op, "connectOrCreate");
            sub_path(sub, path, name, nlen, arg->type == MSGPACK_OBJECT_ARRAY, i);
            if ((rc = split_edge(c, a, &rest, &edge)) != 0)
                break;
            if (disconnect && edge) {
                rc = bad(c, m, "%s: disconnect takes a unique selector only%s", sub, "");
                break;
            }
            if (kv_mp_str_eq(op, "create")) {
                nw_rec cr;
                if ((rc = nw_create(c, t, &rest, NULL, false, depth + 1, sub, &cr)) == 0)
                    rc = join_create(c, r, &from, &cr, true, edge, depth, sub);
                continue;
            }
            static const char *const cc_args[] = {"where", "create", NULL};
            if (cc && (rc = args_of(c, m, &rest, sub, cc_args, cc_args)) != 0)
                break;
            if ((rc = read_where(c, t, cc ? kv_mp_map_get(&rest, "where") : &rest, !cc, sub, &tr, &found)) != 0)
                break;
            if (!found) {
                nw_rec cr;
                if ((rc = nw_create(c, t, kv_mp_map_get(&rest, "create"), NULL, false, depth + 1, sub, &cr)) == 0)
                    rc = join_create(c, r, &from, &cr, true, edge, depth, sub);
                continue;
            }
            nw_rec view = view_of(t, &tr, 0);
            nw_key to;
            if ((rc = key_of(c, j, r->through_to, &view, false, sub, &to)) != 0) {
                kv_record_free(&tr);
                break;
            }
            bool linked = false;
            for (size_t k = 0; k < joins.n; k++)
                if (holds(&joins.rows[k], &to)) {
                    linked = true;
                    kept[k] = true;
                }
            if (!set && !disconnect && !creating && (rc = pair_linked(c, j, &from, &to, sub, &linked)) != 0) {
                kv_record_free(&tr);
                break;
            }
            for (size_t k = 0; k < nmade && !disconnect; k++) /* named twice in this call */
                linked = linked || same_key(&made[k], &to);
            if (disconnect && !linked)
                rc = at(c, sub,
                        kv_fail_at(rq->err, KVORM_ENOTFOUND, t->name, NULL,
                                   "that %s record is not connected to this %s through %s", t->name, m->name,
                                   r->name));
            else if (!disconnect && !(linked && (set || !edge))) { /* connecting a linked pair again: nothing */
                rc = join_create(c, r, &from, &view, false, edge, depth, sub);
                if (rc == 0 && nmade < KV_MAX_NESTED_LINKS && (rc = keep_key(c, &to, &made[nmade])) == 0)
                    nmade++;
            }
            kv_record_free(&tr);
        }
        /* disconnect: the join records of the targets named go; set: those of every target not named */
        for (size_t k = 0; rc == 0 && k < joins.n; k++) {
            size_t item;
            if ((disconnect && kept[k]) || (set && !kept[k]))
                rc = add_read(c, j, &joins.rows[k], true, sub, &item);
        }
        free(kept);
        kv_rows_free(&joins);
    }
    return rc;
}

/* The relation of m that key i of data names (-1: none), and sub, the place in the data it is at. */
static int relation_at(const kv_model *m, const msgpack_object *data, uint32_t i, const char *path, char *sub)
{
    const msgpack_object *key = &data->via.map.ptr[i].key;
    int ri = key->type == MSGPACK_OBJECT_STR ? kv_model_relation(m, key->via.str.ptr, key->via.str.size) : -1;
    if (ri >= 0)
        sub_path(sub, path, m->relations[ri].name, m->relations[ri].name_len, false, 0);
    return ri;
}

/* The relations of m that data names other than its belongsTo, done once the record (self) is planned. */
static int to_many(nw *c, const kv_model *m, const nw_rec *self, const msgpack_object *data, bool creating,
                   int depth, const char *path)
{
    for (uint32_t i = 0; i < data->via.map.size; i++) {
        const msgpack_object *v = &data->via.map.ptr[i].val;
        char sub[NW_PATH];
        int ri = relation_at(m, data, i, path, sub);
        if (ri < 0 || m->relations[ri].kind == KV_REL_BELONGS_TO)
            continue;
        const kv_relation *r = &m->relations[ri];
        int rc = v->type == MSGPACK_OBJECT_MAP && v->via.map.size > 0
                     ? 0
                     : bad(c, m, "%s must be a map of nested writes (create, connect, ...)%s", sub, "");
        if (rc == 0 && r->kind == KV_REL_MANY_TO_MANY)
            rc = many_to_many(c, m, ri, self, v, creating, depth, sub);
        else if (rc == 0) {
            const kv_model *cm = &c->rq->db->schema->models[r->target];
            nw_key k;
            rc = key_of(c, cm, r->inverse, self, true, sub, &k);
            for (uint32_t o = 0; rc == 0 && o < v->via.map.size; o++) {
                const msgpack_object *op = &v->via.map.ptr[o].key;
                if (op->type != MSGPACK_OBJECT_STR)
                    rc = bad(c, m, "%s: a nested write's name is text%s", sub, "");
                else
                    rc = to_many_op(c, m, ri, self, &k, op, &v->via.map.ptr[o].val, creating, depth, sub);
            }
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- create and update ---- */

static int nw_create(nw *c, const kv_model *m, const msgpack_object *data, const nw_fill *fill, bool skip_dup,
                     int depth, const char *path, nw_rec *out)
{
    request *rq = c->rq;
    if (depth > NW_MAX_DEPTH)
        return bad(c, m, "%s: nested writes go at most 16 relations deep%s", path, "");
    if (!data || data->type != MSGPACK_OBJECT_MAP)
        return bad(c, m, "%s must be a map of the record's fields%s", path, "");
    kv_field_value *given = zalloc(c, sizeof(*given) * ((size_t)m->nfields + 1));
    bool *skip = zalloc(c, sizeof(*skip) * ((size_t)m->nrelations + 1));
    int ngiven = 0, rc = 0;
    if (!given || !skip)
        return oom(c);
    memset(skip, 0, sizeof(*skip) * ((size_t)m->nrelations + 1));
    for (int i = 0; fill && i < fill->n; i++) {
        for (int j = 0; j < fill->keys[i].n; j++)
            given[ngiven++] = fill->keys[i].v[j];
        skip[fill->keys[i].relation] = fill->keys[i].to_planned;
    }
    /* its belongsTo first: the keys they give its foreign keys */
    for (uint32_t i = 0; i < data->via.map.size && rc == 0; i++) {
        char sub[NW_PATH];
        int ri = relation_at(m, data, i, path, sub);
        if (ri < 0 || m->relations[ri].kind != KV_REL_BELONGS_TO)
            continue;
        const kv_relation *r = &m->relations[ri];
        for (int j = 0; fill && j < fill->n; j++)
            if (fill->keys[j].relation == ri)
                return bad(c, m, "%s: this record is created through %s, which sets it", sub, r->name);
        nw_key k;
        fk_change ch;
        if ((rc = belongs_to(c, m, ri, &data->via.map.ptr[i].val, NULL, depth, sub, &k, &ch)) != 0)
            return rc;
        for (int j = 0; j < k.n; j++) {
            for (int g = 0; g < ngiven; g++)
                if (given[g].field == k.v[j].field)
                    return bad(c, m, "%s: field %s is set twice by this record's relations", sub,
                               m->fields[k.v[j].field].name);
            given[ngiven++] = k.v[j];
        }
        skip[ri] = k.to_planned;
    }
    nw_owned *o = own(c);
    size_t id_len = 0;
    if (!o)
        return oom(c);
    const kv_model *saved = rq->model;
    rq->model = m;
    rc = rq_encode_create_nested(rq, data, path, given, ngiven, &o->e, o->id, &id_len);
    rq->model = saved;
    if (rc != 0)
        return rc;
    o->w = (kv_write){.op = KV_WRITE_CREATE, .model = m, .new_id = id_len ? o->id : NULL, .new_id_len = id_len,
                      .create = o->e.items, .ncreate = o->e.n, .skip_duplicate = skip_dup};
    if ((rc = kv_refs_guard_values(rq, m, o->e.items, o->e.n, NULL, 0, true, 'a', &o->g)) != 0)
        return rc;
    if (!kv_refplan_add_create(&c->plan, &o->w))
        return oom(c);
    size_t item = c->plan.n - 1;
    if ((rc = take_guards(c, item, &o->g, skip)) != 0)
        return rc;
    *out = (nw_rec){.m = m, .item = item, .created = true, .id = id_len ? o->id : NULL, .id_len = id_len};
    out->vals = zalloc(c, sizeof(*out->vals) * ((size_t)m->nfields + 1));
    out->lens = zalloc(c, sizeof(*out->lens) * ((size_t)m->nfields + 1));
    if (!out->vals || !out->lens)
        return oom(c);
    memset(out->vals, 0, sizeof(*out->vals) * ((size_t)m->nfields + 1));
    for (int i = 0; i < o->e.n; i++) {
        out->vals[o->e.items[i].field] = o->e.items[i].data;
        out->lens[o->e.items[i].field] = o->e.items[i].len;
    }
    return to_many(c, m, out, data, true, depth, path);
}

static int nw_update(nw *c, const kv_model *m, kv_record *rec, const msgpack_object *data, int depth,
                     const char *path, size_t *item)
{
    request *rq = c->rq;
    if (depth > NW_MAX_DEPTH) {
        kv_record_free(rec);
        return bad(c, m, "%s: nested writes go at most 16 relations deep%s", path, "");
    }
    if (!data || data->type != MSGPACK_OBJECT_MAP) {
        kv_record_free(rec);
        return bad(c, m, "%s must be a map of the fields to change%s", path, "");
    }
    nw_owned *o = own(c);
    if (!o) {
        kv_record_free(rec);
        return oom(c);
    }
    const kv_model *saved = rq->model;
    rq->model = m;
    int rc = rq_encode_update_nested(rq, data, path, &o->e);
    rq->model = saved;
    if (rc == 0)
        rc = kv_refs_guard_values(rq, m, o->e.items, o->e.n, o->e.unset, o->e.nunset, false, 'a', &o->g);
    if (rc != 0) {
        kv_record_free(rec);
        return rc;
    }
    if ((rc = add_read(c, m, rec, false, path, item)) != 0)
        return rc;
    for (int i = 0; i < o->e.n; i++)
        if (!kv_refplan_set(&c->plan.items[*item], &o->e.items[i]))
            return oom(c);
    for (int i = 0; i < o->e.nunset; i++)
        if (!kv_refplan_unset(&c->plan.items[*item], o->e.unset[i]))
            return oom(c);
    if (o->e.nops > 0) {
        if (c->plan.items[*item].nops > 0)
            return bad(c, m, "%s: a record of %s gets atomic number operations twice in one write", path, m->name);
        c->plan.items[*item].ops = o->e.ops;
        c->plan.items[*item].nops = o->e.nops;
    }
    if ((rc = take_guards(c, *item, &o->g, NULL)) != 0)
        return rc;
    for (uint32_t i = 0; i < data->via.map.size; i++) {
        char sub[NW_PATH];
        int ri = relation_at(m, data, i, path, sub);
        if (ri < 0 || m->relations[ri].kind != KV_REL_BELONGS_TO)
            continue;
        const kv_relation *r = &m->relations[ri];
        for (int f = 0; f < r->nfields; f++) {
            for (int j = 0; j < o->e.n; j++)
                if (o->e.items[j].field == r->fields[f])
                    return bad(c, m, "%s: %s is given too, which this relation sets", sub, m->fields[r->fields[f]].name);
            for (int j = 0; j < o->e.nunset; j++)
                if (o->e.unset[j] == r->fields[f])
                    return bad(c, m, "%s: %s is given too, which this relation sets", sub, m->fields[r->fields[f]].name);
        }
        /* the record as read, copied: the plan's items move as it grows */
        kv_record cur = *c->plan.items[*item].rec;
        nw_key k;
        fk_change ch;
        if ((rc = belongs_to(c, m, ri, &data->via.map.ptr[i].val, &cur, depth, sub, &k, &ch)) != 0)
            return rc;
        if (ch == FK_SET)
            rc = set_key(c, *item, &k);
        else if (ch == FK_CLEAR)
            for (int f = 0; f < r->nfields && rc == 0; f++)
                rc = kv_refplan_unset(&c->plan.items[*item], r->fields[f]) ? 0 : oom(c);
        if (rc != 0)
            return rc;
    }
    /* its values once written: the key its other relations give their records */
    const ref_item *it = &c->plan.items[*item];
    nw_rec self = view_of(m, it->rec, *item);
    self.vals = zalloc(c, sizeof(*self.vals) * ((size_t)m->nfields + 1));
    self.lens = zalloc(c, sizeof(*self.lens) * ((size_t)m->nfields + 1));
    if (!self.vals || !self.lens)
        return oom(c);
    for (int f = 0; f < m->nfields; f++) {
        self.vals[f] = it->rec->values[f];
        self.lens[f] = it->rec->lens[f];
    }
    for (int i = 0; i < it->nset; i++) {
        self.vals[it->set[i].field] = it->set[i].data;
        self.lens[it->set[i].field] = it->set[i].len;
    }
    for (int i = 0; i < it->nunset; i++)
        self.vals[it->unset[i]] = NULL;
    return to_many(c, m, &self, data, false, depth, path);
}

/* ---- the plan ---- */

/* Two writes of the call that would give one record's id or unique value to two records fail it (the store
 * checks each write against what it holds, not against the others). */
static int check_claims(nw *c)
{
    kv_claims claims;
    msgpack_sbuffer key;
    const char **vals = NULL;
    size_t *lens = NULL;
    int rc = 0, width = KV_MAX_UNIQUES + 1;
    kv_claims_init(&claims);
    msgpack_sbuffer_init(&key);
    for (size_t i = 0; i < c->plan.n && rc == 0; i++) {
        const ref_item *it = &c->plan.items[i];
        const kv_model *m = it->m;
        if (it->del)
            continue;
        free(vals);
        free(lens);
        vals = calloc((size_t)m->nfields + 1, sizeof(*vals));
        lens = calloc((size_t)m->nfields + 1, sizeof(*lens));
        if (!vals || !lens) {
            rc = oom(c);
            break;
        }
        kv_write w = {.op = it->create ? KV_WRITE_CREATE : KV_WRITE_UPDATE, .model = m, .set = it->set,
                      .nset = it->nset, .unset = it->unset, .nunset = it->nunset};
        if (it->create) {
            for (int j = 0; j < it->create->ncreate; j++) {
                vals[it->create->create[j].field] = it->create->create[j].data;
                lens[it->create->create[j].field] = it->create->create[j].len;
            }
        } else {
            for (int f = 0; f < m->nfields; f++) {
                vals[f] = it->rec->values[f];
                lens[f] = it->rec->lens[f];
            }
            for (int j = 0; j < it->nset; j++) {
                vals[it->set[j].field] = it->set[j].data;
                lens[it->set[j].field] = it->set[j].len;
            }
            for (int j = 0; j < it->nunset; j++)
                vals[it->unset[j]] = NULL;
        }
        for (int u = -1; u < m->nuniques && rc == 0; u++) {
            key.size = 0;
            if (u < 0) { /* a create's id: not one another create of the call or a record it reads has */
                if (!it->create || !it->create->new_id)
                    continue;
                if (kv_refplan_find(&c->plan, m, it->create->new_id, it->create->new_id_len)) {
                    rc = kv_fail_unique_pair(c->rq->err, m, 0, it->create->new_id, it->create->new_id_len,
                                             "a record this call creates", "one it changes or deletes");
                    break;
                }
                msgpack_sbuffer_write(&key, it->create->new_id, it->create->new_id_len);
            } else if ((!it->create && !kv_unique_touched(&m->uniques[u], &w)) ||
                       !kv_unique_key(&key, &m->uniques[u], vals, lens)) {
                continue;
            }
            int which = m->position * width + u + 1;
            if (kv_claims_find(&claims, which, key.data, key.size))
                rc = kv_fail_unique_pair(c->rq->err, m, u + 1, key.data, key.size, "two records this call writes",
                                         "(nested)");
            else if (!kv_claims_add(&claims, which, key.data ? key.data : "", key.size, i))
                rc = oom(c);
        }
    }
    free(vals);
    free(lens);
    kv_claims_free(&claims);
    msgpack_sbuffer_destroy(&key);
    return rc;
}

/* Plans what the call's deletes do to the records referencing them and runs everything all or nothing. */
static int nw_run(nw *c, bool *again)
{
    request *rq = c->rq;
    size_t mine = c->plan.n;
    *again = false;
    if (mine > c->plan.bound)
        return kv_refplan_fail_too_big(rq, &c->plan);
    int rc = check_claims(c);
    bool *del = rc == 0 ? calloc(mine + 1, sizeof(*del)) : NULL;
    if (rc == 0 && !del)
        return oom(c);
    for (size_t i = 0; rc == 0 && i < mine; i++)
        del[i] = c->plan.items[i].del;
    if (rc == 0 && (rc = kv_refplan_build(&c->plan)) == KV_REFPLAN_TOO_BIG)
        rc = kv_refplan_fail_too_big(rq, &c->plan);
    for (size_t i = 0; rc == 0 && i < mine; i++) {
        const ref_item *it = &c->plan.items[i];
        if (del[i] || !it->del)
            continue;
        char q[96];
        kv_quote(q, sizeof(q), it->rec->id, it->rec->id_len);
        rc = kv_fail_at(rq->err, KVORM_ERELATION, it->m->name, NULL,
                        "%s: a delete of this call cascades to the %s record with id %s, which the call also "
                        "writes; nothing was written",
                        rq->model->name, it->m->name, q);
    }
    free(del);
    return rc == 0 ? kv_refplan_run(&c->plan, again) : rc;
}

static int fail_changing(request *rq)
{
    kv_fail_at(rq->err, KVORM_ECONFLICT, rq->model->name, NULL,
               "%s: the records this nested write reads kept changing (%d attempts); nothing was written",
               rq->model->name, KV_REFPLAN_RETRIES + 1);
    kv_error_set_retryable(rq->err, true);
    return KVORM_ECONFLICT;
}

/* ---- the ops ---- */

bool kv_nested_in(const kv_model *m, const msgpack_object *data)
{
    if (!data || data->type != MSGPACK_OBJECT_MAP || m->nrelations == 0)
        return false;
    for (uint32_t i = 0; i < data->via.map.size; i++) {
        const msgpack_object *k = &data->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && kv_model_field(m, k->via.str.ptr, k->via.str.size) < 0 &&
            kv_model_relation(m, k->via.str.ptr, k->via.str.size) >= 0)
            return true;
    }
    return false;
}

/* Parses select and include; packs the record the call wrote. */
static int pack_result(request *rq, msgpack_packer *pk, const kv_record *out)
{
    selection sel = {0};
    kv_include *inc = NULL;
    int rc = rq_parse_select(rq, &sel);
    if (rc == 0)
        rc = kv_include_parse(rq, rq->model, rq_arg(rq, "include"), rq_arg(rq, "select"), &inc);
    if (rc == 0)
        rc = kv_include_pack_one(rq, pk, inc, out, &sel);
    kv_include_free(inc);
    free(sel.fields);
    return rc;
}

/* select and include are checked before anything is written. */
static int check_result_args(request *rq)
{
    selection sel = {0};
    kv_include *inc = NULL;
    int rc = rq_parse_select(rq, &sel);
    if (rc == 0)
        rc = kv_include_parse(rq, rq->model, rq_arg(rq, "include"), rq_arg(rq, "select"), &inc);
    kv_include_free(inc);
    free(sel.fields);
    return rc;
}

int kv_nested_create(request *rq, msgpack_packer *pk)
{
    int rc = check_result_args(rq);
    for (int attempt = 0; rc == 0; attempt++) {
        nw c;
        nw_rec root;
        bool again = false;
        if ((rc = nw_init(&c, rq)) == 0 && (rc = nw_create(&c, rq->model, rq_arg(rq, "data"), NULL, false, 0, "data",
                                                           &root)) == 0)
            rc = nw_run(&c, &again);
        /* the record written points into the call's data: packed before that goes */
        if (rc == 0 && !again)
            rc = pack_result(rq, pk, &c.plan.items[root.item].step.out);
        nw_free(&c);
        if (rc != 0 || !again)
            break;
        if (attempt == KV_REFPLAN_RETRIES)
            rc = fail_changing(rq);
    }
    return rc;
}

int kv_nested_update(request *rq, msgpack_packer *pk)
{
    target t;
    kv_write ifv = {0};
    int rc = check_result_args(rq);
    if (rc != 0)
        return rc;
    if ((rc = rq_parse_unique_where(rq, rq_arg(rq, "where"), &t)) != 0 || (rc = rq_if_version(rq, &ifv)) != 0) {
        rq_target_free(&t);
        return rc;
    }
    for (int attempt = 0; rc == 0; attempt++) {
        nw c;
        kv_record rec = {0};
        bool found = false, again = false;
        size_t item = 0;
        if ((rc = nw_init(&c, rq)) == 0)
            rc = read_loc(&c, rq->model, &t.loc, &rec, &found);
        if (rc == 0 && !found)
            rc = rq_not_found(rq, &t);
        if (rc == 0 && ifv.has_if_version && rec.version != ifv.if_version)
            rc = kv_fail_at(rq->err, KVORM_ECONFLICT, rq->model->name, NULL,
                            "%s: the record is at version %" PRId64 ", not the expected version %" PRId64,
                            rq->model->name, rec.version, ifv.if_version);
        if (rc == 0 && (rc = nw_update(&c, rq->model, &rec, rq_arg(rq, "data"), 0, "data", &item)) == 0)
            rc = nw_run(&c, &again);
        kv_record_free(&rec); /* nw_update moved it into the plan, or it was not read */
        if (rc == 0 && !again)
            rc = pack_result(rq, pk, &c.plan.items[item].step.out);
        nw_free(&c);
        if (rc != 0 || !again)
            break;
        if (attempt == KV_REFPLAN_RETRIES)
            rc = fail_changing(rq);
    }
    rq_target_free(&t);
    return rc;
}
