/* The request protocol (docs/protocol.md): parse and check a request, encode its values, run it on the
 * engine and pack the response. Engine-independent. */
#include "db.h"

#include "idgen.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pending pending;

typedef struct request {
    kvorm_db *db;
    kv_mode mode;
    const kv_model *model;
    const char *op; /* the op's name once known (static), for messages */
    char opname[64]; /* the op as the request gives it, for the error document */
    size_t opname_len;
    const msgpack_object *args;
    kv_error *err;
    pending *step; /* where a read or write leaves its step for the store */
} request;

/* What the caller wants back. */
typedef struct selection {
    bool all, id, version;
    bool *fields;
} selection;

/* Encoded field values of one data map; values live in buf and are addressed by offset until finished. */
typedef struct encoded {
    msgpack_sbuffer buf;
    kv_field_value *items;
    size_t *offsets;
    int n;
    int *unset;
    int nunset;
} encoded;

static int bad_request(request *rq, const char *fmt, const char *a, const char *b)
{
    return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model ? rq->model->name : NULL, NULL, fmt, a, b);
}

/* Rejects argument names the op does not take. */
static int check_args(request *rq, const char *const *allowed)
{
    const msgpack_object *k = kv_mp_unknown_key(rq->args, allowed);
    char q[96] = "(not a string)";
    if (!k)
        return 0;
    if (k->type == MSGPACK_OBJECT_STR)
        kv_quote(q, sizeof(q), k->via.str.ptr, k->via.str.size);
    return bad_request(rq, "%s: unknown argument %s", rq->op, q);
}

static const msgpack_object *arg(request *rq, const char *name)
{
    const msgpack_object *o = kv_mp_map_get(rq->args, name);
    return o && o->type != MSGPACK_OBJECT_NIL ? o : NULL;
}

static int need_map(request *rq, const msgpack_object *o, const char *name)
{
    if (!o)
        return bad_request(rq, "%s: argument \"%s\" is required", rq->op, name);
    if (o->type != MSGPACK_OBJECT_MAP)
        return bad_request(rq, "%s: argument \"%s\" must be a map", rq->op, name);
    return 0;
}

/* ---- select ---- */

static int parse_select(request *rq, selection *sel)
{
    const kv_model *m = rq->model;
    const msgpack_object *o = arg(rq, "select");
    sel->fields = calloc((size_t)m->nfields + 1, sizeof(bool));
    if (!sel->fields)
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    sel->all = !o;
    sel->id = !o;
    sel->version = false;
    if (!o)
        return 0;
    if (o->type != MSGPACK_OBJECT_MAP)
        return bad_request(rq, "%s: \"select\" must be a map of field names to true%s", rq->op, "");
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        char q[96] = "(not a string)";
        if (k->type == MSGPACK_OBJECT_STR)
            kv_quote(q, sizeof(q), k->via.str.ptr, k->via.str.size);
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            return bad_request(rq, "select: the value for %s must be true or false%s", q, "");
        int f = k->type == MSGPACK_OBJECT_STR ? kv_model_field(m, k->via.str.ptr, k->via.str.size) : -1;
        if (f >= 0)
            sel->fields[f] = v->via.boolean;
        else if (kv_mp_str_eq(k, "id"))
            sel->id = v->via.boolean;
        else if (kv_mp_str_eq(k, "$version"))
            sel->version = v->via.boolean;
        else
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "select: %s is not a field of %s", q,
                              m->name);
    }
    return 0;
}

/* ---- encoding data maps ---- */

static void encoded_init(encoded *e, int cap)
{
    msgpack_sbuffer_init(&e->buf);
    e->items = calloc((size_t)cap + 1, sizeof(*e->items));
    e->offsets = calloc((size_t)cap + 1, sizeof(*e->offsets));
    e->unset = calloc((size_t)cap + 1, sizeof(*e->unset));
    e->n = e->nunset = 0;
}

static void encoded_free(encoded *e)
{
    msgpack_sbuffer_destroy(&e->buf);
    free(e->items);
    free(e->offsets);
    free(e->unset);
}

static int encode_into(request *rq, encoded *e, int f, const msgpack_object *v)
{
    size_t start = e->buf.size;
    int rc = kv_value_encode(&e->buf, rq->model, &rq->model->fields[f], v, rq->mode, rq->err);
    if (rc != 0)
        return rc;
    e->items[e->n].field = f;
    e->items[e->n].len = e->buf.size - start;
    e->offsets[e->n++] = start;
    return 0;
}

static void add_raw(encoded *e, int f, const char *bytes, size_t len)
{
    size_t start = e->buf.size;
    msgpack_sbuffer_write(&e->buf, bytes, len);
    e->items[e->n].field = f;
    e->items[e->n].len = len;
    e->offsets[e->n++] = start;
}

/* The buffer may have moved while growing: point the items at it only once it is complete. */
static void encoded_finish(encoded *e)
{
    for (int i = 0; i < e->n; i++)
        e->items[i].data = e->buf.data + e->offsets[i];
}

static int unknown_field(request *rq, const char *where, const msgpack_object *k)
{
    char q[96] = "(not a string)";
    if (k->type != MSGPACK_OBJECT_STR)
        return bad_request(rq, "%s: field names must be strings%s", where, "");
    kv_quote(q, sizeof(q), k->via.str.ptr, k->via.str.size);
    kv_fail_at(rq->err, KVORM_EVALIDATION, rq->model->name, NULL, "%s: %s is not a field of %s", where, q,
               rq->model->name);
    kv_error_add_field_copy(rq->err, k->via.str.ptr, k->via.str.size);
    return KVORM_EVALIDATION;
}

/* Walks a data map: each key is "id" or a field, given once. */
static int for_each_entry(request *rq, const msgpack_object *data, const char *where, bool *seen, bool *id_seen,
                          const msgpack_object **id_value, int (*visit)(request *, encoded *, int, const msgpack_object *),
                          encoded *e)
{
    const kv_model *m = rq->model;
    for (uint32_t i = 0; i < data->via.map.size; i++) {
        const msgpack_object *k = &data->via.map.ptr[i].key, *v = &data->via.map.ptr[i].val;
        int f = k->type == MSGPACK_OBJECT_STR ? kv_model_field(m, k->via.str.ptr, k->via.str.size) : -1;
        if (f < 0 && kv_mp_str_eq(k, "id")) {
            if (*id_seen)
                return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, "id", "%s: id is given twice", where);
            *id_seen = true;
            *id_value = v;
            continue;
        }
        if (f < 0)
            return unknown_field(rq, where, k);
        if (seen[f])
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, m->fields[f].name, "%s: %s is given twice", where,
                              m->fields[f].name);
        seen[f] = true;
        int rc = visit(rq, e, f, v);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int visit_create(request *rq, encoded *e, int f, const msgpack_object *v)
{
    const kv_field *fd = &rq->model->fields[f];
    if (v->type == MSGPACK_OBJECT_NIL) {
        if (fd->optional)
            return 0;
        return kv_fail_at(rq->err, KVORM_EVALIDATION, rq->model->name, fd->name, "%s.%s is required, got null",
                          rq->model->name, fd->name);
    }
    return encode_into(rq, e, f, v);
}

static int visit_update(request *rq, encoded *e, int f, const msgpack_object *v)
{
    const kv_field *fd = &rq->model->fields[f];
    if (v->type == MSGPACK_OBJECT_NIL) {
        if (!fd->optional)
            return kv_fail_at(rq->err, KVORM_EVALIDATION, rq->model->name, fd->name,
                              "%s.%s is required and cannot be set to null", rq->model->name, fd->name);
        e->unset[e->nunset++] = f;
        return 0;
    }
    return encode_into(rq, e, f, v);
}

/* Create data: every required field, defaults filled in, the id checked or generated. id_text receives the
 * id (empty when the store generates it). forced_id, when given, is the id to create under (upsert by id). */
static int encode_create(request *rq, const msgpack_object *data, const char *where, encoded *e, char *id_text,
                         size_t *id_len, const char *forced_id, size_t forced_len)
{
    const kv_model *m = rq->model;
    bool *seen = calloc((size_t)m->nfields + 1, sizeof(bool)), id_seen = false;
    const msgpack_object *id_value = NULL;
    int rc;
    *id_len = 0;
    encoded_init(e, m->nfields);
    if (!seen || !e->items || !e->offsets || !e->unset) {
        free(seen);
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    }
    if ((rc = for_each_entry(rq, data, where, seen, &id_seen, &id_value, visit_create, e)) != 0)
        goto done;
    for (int f = 0; f < m->nfields; f++) {
        const kv_field *fd = &m->fields[f];
        if (seen[f])
            continue;
        if (fd->default_kind == KV_DEFAULT_LITERAL) {
            add_raw(e, f, fd->default_bytes, fd->default_len);
        } else if (fd->default_kind == KV_DEFAULT_NOW) {
            msgpack_packer pk;
            size_t start = e->buf.size;
            msgpack_packer_init(&pk, &e->buf, msgpack_sbuffer_write);
            kv_pack_time(&pk, kv_time_now());
            e->items[e->n].field = f;
            e->items[e->n].len = e->buf.size - start;
            e->offsets[e->n++] = start;
        } else if (!fd->optional) {
            rc = kv_fail_at(rq->err, KVORM_EVALIDATION, m->name, fd->name, "%s.%s is required", m->name, fd->name);
            goto done;
        }
    }
    if (id_value && id_value->type != MSGPACK_OBJECT_NIL) {
        if ((rc = kv_id_encode(id_text, id_len, m, id_value, rq->err)) != 0)
            goto done;
        if (forced_id && (*id_len != forced_len || memcmp(id_text, forced_id, forced_len) != 0)) {
            rc = kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, "id", "%s: the id differs from where.id", where);
            goto done;
        }
    } else if (forced_id) {
        memcpy(id_text, forced_id, forced_len);
        id_text[forced_len] = '\0';
        *id_len = forced_len;
    } else if (m->id_kind == KV_ID_STRING || m->id_kind == KV_ID_INTEGER) {
        rc = kv_fail_at(rq->err, KVORM_EVALIDATION, m->name, "id", "%s.id is required: the id strategy is manual",
                        m->name);
        goto done;
    } else if (m->id_kind == KV_ID_ULID || m->id_kind == KV_ID_UUIDV7) {
        if ((m->id_kind == KV_ID_ULID ? kv_ulid_new(id_text) : kv_uuidv7_new(id_text)) != 0) {
            rc = kv_fail(rq->err, KVORM_EINTERNAL, "no randomness available to generate an id");
            goto done;
        }
        *id_len = strlen(id_text);
    }
    encoded_finish(e);
done:
    free(seen);
    return rc;
}

static int encode_update(request *rq, const msgpack_object *data, const char *where, encoded *e)
{
    const kv_model *m = rq->model;
    bool *seen = calloc((size_t)m->nfields + 1, sizeof(bool)), id_seen = false;
    const msgpack_object *id_value = NULL;
    int rc;
    encoded_init(e, m->nfields);
    if (!seen || !e->items || !e->offsets || !e->unset) {
        free(seen);
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    }
    rc = for_each_entry(rq, data, where, seen, &id_seen, &id_value, visit_update, e);
    if (rc == 0 && id_seen)
        rc = kv_fail_at(rq->err, KVORM_EVALIDATION, m->name, "id", "%s: the id of a record cannot be changed", where);
    if (rc == 0)
        encoded_finish(e);
    free(seen);
    return rc;
}

/* ---- where: one unique selector ---- */

typedef struct target {
    kv_locator loc;
    char id_text[KV_MAX_ID_BYTES + 1];
    msgpack_sbuffer ukey;
} target;

/* Encodes the values of constraint u taken from map (keys = the constraint's fields exactly). */
static int locate_unique(request *rq, target *t, int ui, const msgpack_object *map)
{
    const kv_model *m = rq->model;
    const kv_unique *u = &m->uniques[ui];
    if (map->via.map.size != (uint32_t)u->nfields)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "where: unique %s needs exactly its fields",
                          u->name);
    for (int i = 0; i < u->nfields; i++) {
        const kv_field *f = &m->fields[u->fields[i]];
        const msgpack_object *v = kv_mp_map_get(map, f->name);
        if (!v)
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, f->name, "where: unique %s needs field %s", u->name,
                              f->name);
        if (v->type == MSGPACK_OBJECT_NIL)
            return kv_fail_at(rq->err, KVORM_EVALIDATION, m->name, f->name,
                              "where: %s cannot be null (null values are never unique)", f->name);
        if (v->type == MSGPACK_OBJECT_MAP && f->type != KV_T_JSON)
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, f->name,
                              "where: %s must be a plain value: %s selects one record by equality (filter operators "
                              "are not part of this version)",
                              f->name, rq->op);
        int rc = kv_value_encode(&t->ukey, m, f, v, rq->mode, rq->err);
        if (rc != 0)
            return rc;
    }
    t->loc.unique = u;
    t->loc.unique_index = ui;
    t->loc.ukey = t->ukey.data;
    t->loc.ukey_len = t->ukey.size;
    return 0;
}

static bool keys_are_fields_of(const kv_model *m, const kv_unique *u, const msgpack_object *map)
{
    if (map->via.map.size != (uint32_t)u->nfields)
        return false;
    for (int i = 0; i < u->nfields; i++)
        if (!kv_mp_map_get(map, m->fields[u->fields[i]].name))
            return false;
    return true;
}

static int parse_where(request *rq, const msgpack_object *where, target *t)
{
    const kv_model *m = rq->model;
    memset(&t->loc, 0, sizeof(t->loc));
    msgpack_sbuffer_init(&t->ukey);
    if (need_map(rq, where, "where") != 0)
        return rq->err->code;
    if (where->via.map.size == 1) {
        const msgpack_object *k = &where->via.map.ptr[0].key, *v = &where->via.map.ptr[0].val;
        if (kv_mp_str_eq(k, "id")) {
            if (v->type == MSGPACK_OBJECT_NIL)
                return kv_fail_at(rq->err, KVORM_EVALIDATION, m->name, "id", "where: id cannot be null%s", "");
            if (v->type == MSGPACK_OBJECT_MAP)
                return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, "id",
                                  "where: id must be a plain value: %s selects one record by equality", rq->op);
            int rc = kv_id_encode(t->id_text, &t->loc.id_len, m, v, rq->err);
            if (rc != 0)
                return rc;
            t->loc.id = t->id_text;
            return 0;
        }
        for (int i = 0; i < m->nuniques; i++) {
            const kv_unique *u = &m->uniques[i];
            if (u->nfields == 1 && kv_mp_str_eq(k, m->fields[u->fields[0]].name))
                return locate_unique(rq, t, i, where);
            if (u->nfields > 1 && kv_mp_str_eq(k, u->name)) {
                if (v->type != MSGPACK_OBJECT_MAP)
                    return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL,
                                      "where: %s must be a map of its fields", u->name);
                return locate_unique(rq, t, i, v);
            }
        }
    }
    for (int i = 0; i < m->nuniques; i++)
        if (m->uniques[i].nfields > 1 && keys_are_fields_of(m, &m->uniques[i], where))
            return locate_unique(rq, t, i, where);
    /* name what would have worked */
    char list[512] = "id";
    size_t o = 2;
    for (int i = 0; i < m->nuniques && o < sizeof(list); i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, ", %s", m->uniques[i].name);
    return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL,
                      "where: must name exactly one unique selector of %s by equality (%s)", m->name, list);
}

static void target_free(target *t) { msgpack_sbuffer_destroy(&t->ukey); }

/* ---- responses ---- */

static int pack_record(request *rq, msgpack_packer *pk, const kv_record *r, const selection *sel)
{
    const kv_model *m = rq->model;
    size_t n = (sel->id ? 1 : 0) + (sel->version ? 1 : 0);
    for (int f = 0; f < m->nfields; f++)
        n += sel->all || sel->fields[f];
    msgpack_pack_map(pk, n);
    if (sel->id) {
        kv_pack_cstr(pk, "id");
        if (kv_id_emit(pk, m, r->id, r->id_len, rq->err) != 0)
            return rq->err->code;
    }
    for (int f = 0; f < m->nfields; f++) {
        if (!sel->all && !sel->fields[f])
            continue;
        kv_pack_cstr(pk, m->fields[f].name);
        if (!r->values[f])
            msgpack_pack_nil(pk);
        else if (kv_value_emit(pk, m, &m->fields[f], r->values[f], r->lens[f], rq->err) != 0)
            return rq->err->code;
    }
    if (sel->version) {
        kv_pack_cstr(pk, "$version");
        msgpack_pack_int64(pk, r->version);
    }
    return 0;
}

static int if_version(request *rq, kv_write *w)
{
    const msgpack_object *v = arg(rq, "ifVersion");
    if (!v)
        return 0;
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > (uint64_t)INT64_MAX)
        return bad_request(rq, "%s: \"ifVersion\" must be a non-negative integer%s", rq->op, "");
    w->has_if_version = true;
    w->if_version = (int64_t)v->via.u64;
    return 0;
}

/* Names what a where selected, as `email "ann@example.com"`. Built only for a NOT_FOUND message, never on the
 * hot path: the unique key's values are self-delimiting MessagePack, read back one by one. */
static void describe_target(const kv_model *m, const target *t, char *buf, size_t cap)
{
    char v[160];
    size_t o = 0;
    if (!t->loc.unique) {
        if (kv_id_is_integer(m))
            snprintf(buf, cap, "id %.*s", (int)t->loc.id_len, t->loc.id);
        else {
            kv_quote(v, sizeof(v), t->loc.id, t->loc.id_len);
            snprintf(buf, cap, "id %s", v);
        }
        return;
    }
    const char *p = t->loc.ukey;
    size_t left = t->loc.ukey_len, used;
    buf[0] = '\0';
    for (int i = 0; i < t->loc.unique->nfields && o < cap; i++) {
        if (kv_mp_check(p, left, &used, KV_MAX_DEPTH) != KV_MP_OK)
            break;
        kv_value_describe(v, sizeof(v), p, used);
        o += (size_t)snprintf(buf + o, cap - o, "%s%s %s", i ? ", " : "", m->fields[t->loc.unique->fields[i]].name, v);
        p += used;
        left -= used;
    }
    if (o >= cap) /* cut: at a code point */
        buf[kv_utf8_cut(buf, cap - 1)] = '\0';
}

static int not_found(request *rq, const target *t)
{
    char what[256];
    describe_target(rq->model, t, what, sizeof(what));
    return kv_fail_at(rq->err, KVORM_ENOTFOUND, rq->model->name, NULL, "%s: no record with %s", rq->model->name, what);
}

/* ---- operations ---- */

/* A read or write, parsed and encoded, waiting for the store. The steps are run by the caller of dispatch
 * (kv_exec_many), so that the steps of consecutive requests travel to the store together. Everything the step
 * points at lives here until the response is packed. */
struct pending {
    bool waiting;
    bool or_throw;    /* findUniqueOrThrow */
    bool has_target;  /* NOT_FOUND names the where (update, upsert, delete) */
    selection sel;
    target t;
    encoded data, update; /* create or update data; upsert: both */
    char id[KV_MAX_ID_BYTES + 1];
    kv_write w;
    kv_step step;
};

static void defer(request *rq, const kv_write *w)
{
    pending *p = rq->step;
    p->step.write = w;
    p->step.model = rq->model;
    p->step.loc = &p->t.loc;
    p->step.err = rq->err;
    p->waiting = true;
}

static int op_find_unique(request *rq, bool or_throw)
{
    static const char *const allowed[] = {"where", "select", NULL};
    pending *p = rq->step;
    int rc;
    if ((rc = check_args(rq, allowed)) != 0 || (rc = parse_select(rq, &p->sel)) != 0 ||
        (rc = parse_where(rq, arg(rq, "where"), &p->t)) != 0)
        return rc;
    p->or_throw = or_throw;
    defer(rq, NULL);
    return 0;
}

/* Packs the result of a step once the store ran it. */
static int finish_step(request *rq, msgpack_packer *pk)
{
    pending *p = rq->step;
    int rc = p->step.rc;
    if (rc == KVORM_ENOTFOUND && p->has_target)
        return not_found(rq, &p->t);
    if (rc != 0)
        return rc;
    if (p->step.write || p->step.found)
        rc = pack_record(rq, pk, &p->step.out, &p->sel);
    else if (p->or_throw)
        rc = not_found(rq, &p->t);
    else
        msgpack_pack_nil(pk);
    return rc;
}

static void pending_free(pending *p)
{
    kv_record_free(&p->step.out);
    free(p->sel.fields);
    target_free(&p->t);
    encoded_free(&p->data);
    encoded_free(&p->update);
}

static int op_create(request *rq)
{
    static const char *const allowed[] = {"data", "select", NULL};
    pending *p = rq->step;
    size_t id_len = 0;
    int rc;
    if ((rc = check_args(rq, allowed)) != 0 || (rc = parse_select(rq, &p->sel)) != 0 ||
        (rc = need_map(rq, arg(rq, "data"), "data")) != 0 ||
        (rc = encode_create(rq, arg(rq, "data"), "create", &p->data, p->id, &id_len, NULL, 0)) != 0)
        return rc;
    p->w.op = KV_WRITE_CREATE;
    p->w.model = rq->model;
    p->w.new_id = id_len ? p->id : NULL;
    p->w.new_id_len = id_len;
    p->w.create = p->data.items;
    p->w.ncreate = p->data.n;
    defer(rq, &p->w);
    return 0;
}

/* The fields an update sets and clears, from its encoded data. */
static void take_update(kv_write *w, const encoded *e)
{
    w->set = e->items;
    w->nset = e->n;
    w->unset = e->unset;
    w->nunset = e->nunset;
}

static int op_update(request *rq)
{
    static const char *const allowed[] = {"where", "data", "select", "ifVersion", NULL};
    pending *p = rq->step;
    int rc;
    if ((rc = check_args(rq, allowed)) != 0 || (rc = parse_select(rq, &p->sel)) != 0 ||
        (rc = parse_where(rq, arg(rq, "where"), &p->t)) != 0 || (rc = need_map(rq, arg(rq, "data"), "data")) != 0 ||
        (rc = encode_update(rq, arg(rq, "data"), "update", &p->update)) != 0 || (rc = if_version(rq, &p->w)) != 0)
        return rc;
    p->w.op = KV_WRITE_UPDATE;
    p->w.model = rq->model;
    p->w.loc = p->t.loc;
    take_update(&p->w, &p->update);
    p->has_target = true;
    defer(rq, &p->w);
    return 0;
}

static int op_upsert(request *rq)
{
    static const char *const allowed[] = {"where", "create", "update", "select", NULL};
    pending *p = rq->step;
    size_t id_len = 0;
    int rc;
    if ((rc = check_args(rq, allowed)) != 0 || (rc = parse_select(rq, &p->sel)) != 0 ||
        (rc = parse_where(rq, arg(rq, "where"), &p->t)) != 0 || (rc = need_map(rq, arg(rq, "create"), "create")) != 0 ||
        (rc = need_map(rq, arg(rq, "update"), "update")) != 0)
        return rc;
    /* upsert by id creates the record under that id */
    if ((rc = encode_create(rq, arg(rq, "create"), "upsert.create", &p->data, p->id, &id_len,
                            p->t.loc.unique ? NULL : p->t.loc.id, p->t.loc.id_len)) != 0)
        return rc;
    if ((rc = encode_update(rq, arg(rq, "update"), "upsert.update", &p->update)) != 0)
        return rc;
    p->w.op = KV_WRITE_UPSERT;
    p->w.model = rq->model;
    p->w.loc = p->t.loc;
    p->w.new_id = id_len ? p->id : NULL;
    p->w.new_id_len = id_len;
    p->w.create = p->data.items;
    p->w.ncreate = p->data.n;
    take_update(&p->w, &p->update);
    p->has_target = true;
    defer(rq, &p->w);
    return 0;
}

static int op_delete(request *rq)
{
    static const char *const allowed[] = {"where", "select", "ifVersion", NULL};
    pending *p = rq->step;
    int rc;
    if ((rc = check_args(rq, allowed)) != 0 || (rc = parse_select(rq, &p->sel)) != 0 ||
        (rc = parse_where(rq, arg(rq, "where"), &p->t)) != 0 || (rc = if_version(rq, &p->w)) != 0)
        return rc;
    p->w.op = KV_WRITE_DELETE;
    p->w.model = rq->model;
    p->w.loc = p->t.loc;
    p->has_target = true;
    defer(rq, &p->w);
    return 0;
}

static int op_count(request *rq, msgpack_packer *pk)
{
    static const char *const allowed[] = {"where", NULL};
    const msgpack_object *where = arg(rq, "where");
    int64_t n = 0;
    int rc;
    if ((rc = check_args(rq, allowed)) != 0)
        return rc;
    if (where && (where->type != MSGPACK_OBJECT_MAP || where->via.map.size > 0))
        return kv_fail_at(rq->err, KVORM_EUNSUPPORTED, rq->model->name, NULL,
                          "count: filtering by \"where\" needs secondary indexes, which this version does not have "
                          "yet; count() without where counts every record of %s",
                          rq->model->name);
    if ((rc = rq->db->engine->ops->count(rq->db->engine, rq->model, &n, rq->err)) != 0)
        return rc;
    msgpack_pack_int64(pk, n);
    return 0;
}

/* ---- entry ---- */

/* Packs text that may come from a request or the store as valid UTF-8: the error document never holds
 * anything else. */
static void pack_text(msgpack_packer *pk, const char *s, size_t len)
{
    char safe[1024];
    if (kv_utf8_valid(s, len)) {
        kv_pack_strn(pk, s, len);
        return;
    }
    kv_pack_strn(pk, safe, kv_escape(safe, sizeof(safe), s, len, SIZE_MAX, KV_ESC_ELLIPSIS));
}

int kv_pack_error(msgpack_sbuffer *resp, const kv_error *err, const char *op, size_t op_len)
{
    msgpack_packer pk;
    resp->size = 0;
    msgpack_packer_init(&pk, resp, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    kv_pack_cstr(&pk, "code");
    kv_pack_cstr(&pk, kvorm_error_name(err->code));
    kv_pack_cstr(&pk, "message");
    pack_text(&pk, err->message, strnlen(err->message, sizeof(err->message)));
    kv_pack_cstr(&pk, "model");
    if (err->model)
        pack_text(&pk, err->model, strlen(err->model));
    else
        msgpack_pack_nil(&pk);
    kv_pack_cstr(&pk, "op");
    if (op && op_len)
        pack_text(&pk, op, op_len);
    else
        msgpack_pack_nil(&pk);
    kv_pack_cstr(&pk, "fields");
    msgpack_pack_array(&pk, (size_t)err->nfields);
    for (int i = 0; i < err->nfields; i++)
        pack_text(&pk, err->fields[i], strlen(err->fields[i]));
    kv_pack_cstr(&pk, "retryable");
    err->retryable ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    return err->code;
}

enum { OP_CAPABILITIES, OP_CREATE, OP_FIND_UNIQUE, OP_FIND_UNIQUE_OR_THROW, OP_UPDATE, OP_UPSERT, OP_DELETE, OP_COUNT,
       NOPS };

static const char *const op_names[NOPS] = {"capabilities", "create", "findUnique", "findUniqueOrThrow",
                                           "update", "upsert", "delete", "count"};

/* The op named by o, compared with its length (a NUL inside the name is no match), or -1. */
static int find_op(const msgpack_object *o)
{
    for (int i = 0; i < NOPS; i++)
        if (kv_mp_str_eq(o, op_names[i]))
            return i;
    return -1;
}

static int unknown_op(request *rq)
{
    char q[96];
    kv_quote(q, sizeof(q), rq->opname, rq->opname_len);
    return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, NULL,
                      "unknown op %s (create, findUnique, findUniqueOrThrow, update, upsert, delete, count, "
                      "capabilities)",
                      q);
}

static int run_op(request *rq, int op, msgpack_packer *pk)
{
    switch (op) {
    case OP_CREATE: return op_create(rq);
    case OP_FIND_UNIQUE: return op_find_unique(rq, false);
    case OP_FIND_UNIQUE_OR_THROW: return op_find_unique(rq, true);
    case OP_UPDATE: return op_update(rq);
    case OP_UPSERT: return op_upsert(rq);
    case OP_DELETE: return op_delete(rq);
    case OP_COUNT: return op_count(rq, pk);
    }
    return unknown_op(rq);
}

static int dispatch(request *rq, const msgpack_object *root, msgpack_packer *pk)
{
    static const char *const top[] = {"model", "op", "args", NULL};
    const msgpack_object *model, *op;
    request tmp = *rq;
    int which;
    if (root->type != MSGPACK_OBJECT_MAP)
        return kv_fail(rq->err, KVORM_EBAD_REQUEST, "the request must be a map with \"model\", \"op\" and \"args\"");
    tmp.args = root;
    tmp.op = "request";
    if (check_args(&tmp, top) != 0)
        return rq->err->code;
    op = kv_mp_map_get(root, "op");
    if (!op || op->type != MSGPACK_OBJECT_STR || op->via.str.size == 0 || op->via.str.size >= sizeof(rq->opname))
        return kv_fail(rq->err, KVORM_EBAD_REQUEST, "the request needs \"op\", the name of an operation");
    /* kept for the error document, which is packed after the request's memory is gone */
    memcpy(rq->opname, op->via.str.ptr, op->via.str.size);
    rq->opname_len = op->via.str.size;
    which = find_op(op);
    rq->op = which >= 0 ? op_names[which] : "request";
    rq->args = kv_mp_map_get(root, "args");
    if (rq->args && rq->args->type == MSGPACK_OBJECT_NIL)
        rq->args = NULL;
    if (rq->args && rq->args->type != MSGPACK_OBJECT_MAP)
        return kv_fail(rq->err, KVORM_EBAD_REQUEST, "\"args\" must be a map");
    if (which == OP_CAPABILITIES) {
        rq->db->engine->ops->capabilities(rq->db->engine, pk);
        return 0;
    }
    model = kv_mp_map_get(root, "model");
    if (!model || model->type != MSGPACK_OBJECT_STR)
        return kv_fail(rq->err, KVORM_EBAD_REQUEST, "the request needs \"model\", the name of a model");
    rq->model = kv_schema_model(rq->db->schema, model->via.str.ptr, model->via.str.size);
    if (!rq->model) {
        char q[96];
        kv_quote(q, sizeof(q), model->via.str.ptr, model->via.str.size);
        return kv_fail(rq->err, KVORM_EBAD_REQUEST, "unknown model %s", q);
    }
    return run_op(rq, which, pk);
}

/* ---- running requests ---- */

/* One request of a call: its document, parse, deferred step, error and response. */
typedef struct job {
    request rq;
    kv_error err;
    pending step;
    msgpack_zone *zone;
    msgpack_object root;
    msgpack_sbuffer *resp;
    msgpack_packer pk;
    int rc;
} job;

/* Unpacks the request document; a malformed one fails the job here. */
static void job_parse(job *j, kvorm_db *db, const char *doc, size_t len, kv_mode mode, msgpack_sbuffer *resp)
{
    memset(j, 0, sizeof(*j));
    j->rq = (request){db, mode, NULL, NULL, "", 0, NULL, &j->err, &j->step};
    msgpack_sbuffer_init(&j->step.t.ukey);
    j->resp = resp;
    msgpack_packer_init(&j->pk, resp, msgpack_sbuffer_write);
    if (len > KV_MAX_REQUEST_BYTES) {
        j->rc = kv_fail(&j->err, KVORM_EBAD_REQUEST, "the request is %zu bytes, over the limit of %u", len,
                        KV_MAX_REQUEST_BYTES);
        return;
    }
    if (!(j->zone = msgpack_zone_new(4096))) {
        j->rc = kv_fail(&j->err, KVORM_EINTERNAL, "out of memory");
        return;
    }
    switch (kv_mp_unpack(j->zone, doc ? doc : "", len, &j->root)) {
    case KV_MP_OK:
        break;
    case KV_MP_TRUNCATED:
        j->rc = kv_fail(&j->err, KVORM_EBAD_REQUEST,
                        "the request is not MessagePack: truncated, or a length beyond its end");
        break;
    case KV_MP_TOO_DEEP:
        j->rc = kv_fail(&j->err, KVORM_EBAD_REQUEST, "the request is nested deeper than %d levels", KV_MAX_DEPTH);
        break;
    default:
        j->rc = kv_fail(&j->err, KVORM_EBAD_REQUEST,
                        "the request is not one well-formed MessagePack document (bad type byte or trailing bytes)");
    }
}

/* Whether dispatch leaves the job's store work as a step (reads by id or unique, writes) rather than doing it
 * at once (count, capabilities). */
static bool job_defers(const job *j)
{
    static const char *const deferred[] = {"findUnique", "findUniqueOrThrow", "create", "update", "upsert", "delete"};
    const msgpack_object *op = j->rc == 0 && j->root.type == MSGPACK_OBJECT_MAP ? kv_mp_map_get(&j->root, "op") : NULL;
    for (size_t i = 0; op && i < sizeof(deferred) / sizeof(deferred[0]); i++)
        if (kv_mp_str_eq(op, deferred[i]))
            return true;
    return false;
}

/* Runs the request, except its step for the store, which waits in j->step. The document is done with after this. */
static void job_run(job *j)
{
    if (j->rc == 0)
        j->rc = dispatch(&j->rq, &j->root, &j->pk);
    j->rq.args = NULL;
    if (j->zone)
        msgpack_zone_free(j->zone);
    j->zone = NULL;
}

/* Packs the response: the result, or the error document. Returns the status. */
static int job_finish(job *j)
{
    if (j->rc == 0 && j->step.waiting)
        j->rc = finish_step(&j->rq, &j->pk);
    pending_free(&j->step);
    if (j->rc != 0)
        return kv_pack_error(j->resp, &j->err, j->rq.opname, j->rq.opname_len);
    return 0;
}

/* Steps sent to the store together: at most this many in one round trip. */
#define KV_STEPS_PER_TRIP 128

/* The steps waiting to go to the store together. On Redis, writes go in a MULTI/EXEC, whose order survives Redis
 * losing the write script; a read by unique uses another script, so it never joins a group holding a write (and
 * a write never joins one holding such a read). */
typedef struct step_group {
    kv_step *steps[KV_STEPS_PER_TRIP];
    size_t n;
    bool writes, unique_reads;
} step_group;

static void run_group(kvorm_db *db, step_group *g)
{
    if (g->n > 0)
        db->engine->ops->run(db->engine, g->steps, g->n);
    g->n = 0;
    g->writes = g->unique_reads = false;
}

static void add_to_group(kvorm_db *db, step_group *g, kv_step *st)
{
    bool unique_read = !st->write && st->loc->unique;
    if ((st->write && g->unique_reads) || (unique_read && g->writes))
        run_group(db, g);
    g->steps[g->n++] = st;
    g->writes = g->writes || st->write;
    g->unique_reads = g->unique_reads || unique_read;
    if (g->n == KV_STEPS_PER_TRIP)
        run_group(db, g);
}

void kv_exec_many(kvorm_db *db, size_t n, const char *const *docs, const size_t *lens, kv_mode mode,
                  msgpack_sbuffer *resps, int *statuses)
{
    job one, *jobs = n == 1 ? &one : malloc(sizeof(*jobs) * n);
    step_group group = {{0}, 0, false, false};
    size_t last_failed = n;
    if (!jobs) {
        kv_error err = {0};
        kv_fail(&err, KVORM_EINTERNAL, "out of memory for a batch of %zu requests", n);
        for (size_t i = 0; i < n; i++)
            statuses[i] = kv_pack_error(&resps[i], &err, NULL, 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        job *j = &jobs[i];
        job_parse(j, db, docs[i], lens[i], mode, &resps[i]);
        /* a request that works on the store at once runs only after the steps before it: the batch behaves as
         * if each request ran on its own, in order */
        if (!job_defers(j))
            run_group(db, &group);
        job_run(j);
        if (j->rc == 0 && j->step.waiting)
            add_to_group(db, &group, &j->step.step);
    }
    run_group(db, &group);
    for (size_t i = 0; i < n; i++)
        if ((statuses[i] = job_finish(&jobs[i])) != 0)
            last_failed = i;
    /* the thread's last error is that of the last request that failed, or none */
    if (last_failed < n)
        kv_error_publish(&jobs[last_failed].err);
    else
        kv_error_clear();
    if (jobs != &one)
        free(jobs);
}

int kv_exec(kvorm_db *db, const char *request_doc, size_t len, kv_mode mode, msgpack_sbuffer *resp)
{
    int status;
    kv_exec_many(db, 1, &request_doc, &len, mode, resp, &status);
    return status;
}
