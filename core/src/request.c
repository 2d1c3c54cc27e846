/* The parts of a request every op shares: arguments, select, data maps encoded into canonical values, unique
 * selectors, and records packed into responses (docs/protocol.md). */
#include "request.h"

#include "number_ops.h"

#include "idgen.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rq_bad_request(request *rq, const char *fmt, const char *a, const char *b)
{
    return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model ? rq->model->name : NULL, NULL, fmt, a, b);
}

/* Rejects argument names the op does not take. */
int rq_check_args(request *rq, const char *const *allowed)
{
    const msgpack_object *k = kv_mp_unknown_key(rq->args, allowed);
    char q[96] = "(not a string)";
    if (!k)
        return 0;
    if (k->type == MSGPACK_OBJECT_STR)
        kv_quote(q, sizeof(q), k->via.str.ptr, k->via.str.size);
    return rq_bad_request(rq, "%s: unknown argument %s", rq->op, q);
}

const msgpack_object *rq_arg(request *rq, const char *name)
{
    const msgpack_object *o = kv_mp_map_get(rq->args, name);
    return o && o->type != MSGPACK_OBJECT_NIL ? o : NULL;
}

int rq_need_map(request *rq, const msgpack_object *o, const char *name)
{
    if (!o)
        return rq_bad_request(rq, "%s: argument \"%s\" is required", rq->op, name);
    if (o->type != MSGPACK_OBJECT_MAP)
        return rq_bad_request(rq, "%s: argument \"%s\" must be a map", rq->op, name);
    return 0;
}

/* ---- select ---- */

int rq_parse_select(request *rq, selection *sel) { return rq_parse_selection(rq, rq->model, rq_arg(rq, "select"), sel); }

int rq_parse_selection(request *rq, const kv_model *m, const msgpack_object *o, selection *sel)
{
    sel->fields = calloc((size_t)m->nfields + 1, sizeof(bool));
    if (!sel->fields)
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    sel->all = !o;
    sel->id = !o;
    sel->version = false;
    if (!o)
        return 0;
    if (o->type != MSGPACK_OBJECT_MAP)
        return rq_bad_request(rq, "%s: \"select\" must be a map of field names to true%s", rq->op, "");
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        char q[96] = "(not a string)";
        if (k->type == MSGPACK_OBJECT_STR)
            kv_quote(q, sizeof(q), k->via.str.ptr, k->via.str.size);
        if (k->type == MSGPACK_OBJECT_STR && m->nrelations > 0 &&
            (kv_model_relation(m, k->via.str.ptr, k->via.str.size) >= 0 || kv_mp_str_eq(k, "_count")))
            continue; /* a relation, or the count of some: include.c loads them */
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            return rq_bad_request(rq, "select: the value for %s must be true or false%s", q, "");
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

void rq_encoded_init(encoded *e, int cap)
{
    msgpack_sbuffer_init(&e->buf);
    e->items = calloc((size_t)cap + 1, sizeof(*e->items));
    e->offsets = calloc((size_t)cap + 1, sizeof(*e->offsets));
    e->unset = calloc((size_t)cap + 1, sizeof(*e->unset));
    e->ops = calloc((size_t)cap + 1, sizeof(*e->ops));
    e->op_offsets = calloc((size_t)cap + 1, sizeof(*e->op_offsets));
    e->n = e->nunset = e->nops = 0;
}

void rq_encoded_free(encoded *e)
{
    msgpack_sbuffer_destroy(&e->buf);
    free(e->items);
    free(e->offsets);
    free(e->unset);
    free(e->ops);
    free(e->op_offsets);
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
    for (int i = 0; i < e->nops; i++)
        e->ops[i].data = e->buf.data + e->op_offsets[i];
}

int rq_unknown_field(request *rq, const char *where, const msgpack_object *k)
{
    char q[96] = "(not a string)";
    if (k->type != MSGPACK_OBJECT_STR)
        return rq_bad_request(rq, "%s: field names must be strings%s", where, "");
    kv_quote(q, sizeof(q), k->via.str.ptr, k->via.str.size);
    kv_fail_at(rq->err, KVORM_EVALIDATION, rq->model->name, NULL, "%s: %s is not a field of %s", where, q,
               rq->model->name);
    kv_error_add_field_copy(rq->err, k->via.str.ptr, k->via.str.size);
    return KVORM_EVALIDATION;
}

/* Walks a data map: each key is "id" or a field, given once; with relations_ok, the keys that name relations
 * (a nested write's, nested.c) are passed over. */
static int for_each_entry(request *rq, const msgpack_object *data, const char *where, bool relations_ok, bool *seen,
                          bool *id_seen, const msgpack_object **id_value,
                          int (*visit)(request *, encoded *, int, const msgpack_object *), encoded *e)
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
        if (f < 0 && relations_ok && k->type == MSGPACK_OBJECT_STR &&
            kv_model_relation(m, k->via.str.ptr, k->via.str.size) >= 0)
            continue;
        if (f < 0)
            return rq_unknown_field(rq, where, k);
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

/* Whether field f of m is part of a foreign key (its value is checked against its target, so it is set, not
 * computed in the store). */
static bool in_foreign_key(const kv_model *m, int f)
{
    for (int r = 0; r < m->nrelations; r++)
        for (int k = 0; m->relations[r].kind == KV_REL_BELONGS_TO && k < m->relations[r].nfields; k++)
            if (m->relations[r].fields[k] == f)
                return true;
    return false;
}

/* Whether field f of m is part of a unique constraint. */
static bool in_unique(const kv_model *m, int f)
{
    for (int u = 0; u < m->nuniques; u++)
        for (int k = 0; k < m->uniques[u].nfields; k++)
            if (m->uniques[u].fields[k] == f)
                return true;
    return false;
}

static int visit_update(request *rq, encoded *e, int f, const msgpack_object *v);

/* {"increment": n} and the other atomic number operations (number_ops.h) of an integer, float or decimal field;
 * {"set": v} is a plain set. */
static int visit_number_op(request *rq, encoded *e, int f, const msgpack_object *v)
{
    const kv_model *m = rq->model;
    const kv_field *fd = &m->fields[f];
    kv_number_op_kind kind;
    char q[96];
    if (v->via.map.size != 1 || v->via.map.ptr[0].key.type != MSGPACK_OBJECT_STR)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, fd->name,
                          "%s.%s: an atomic operation is a map of exactly one of set, increment, decrement, multiply, "
                          "divide",
                          m->name, fd->name);
    const msgpack_object *k = &v->via.map.ptr[0].key, *arg = &v->via.map.ptr[0].val;
    if (kv_mp_str_eq(k, "set"))
        return arg->type == MSGPACK_OBJECT_MAP
                   ? kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, fd->name, "%s.%s: set takes a value, not a map",
                                m->name, fd->name)
                   : visit_update(rq, e, f, arg);
    if (!kv_number_op_parse(k->via.str.ptr, k->via.str.size, &kind)) {
        kv_quote(q, sizeof(q), k->via.str.ptr, k->via.str.size);
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, fd->name,
                          "%s.%s: unknown atomic operation %s (set, increment, decrement, multiply, divide)", m->name,
                          fd->name, q);
    }
    if (in_unique(m, f) || in_foreign_key(m, f))
        return kv_fail_at(rq->err, KVORM_EVALIDATION, m->name, fd->name,
                          "%s.%s: %s cannot apply to a field of a %s (give its new value with set)", m->name, fd->name,
                          kv_number_op_name(kind), in_foreign_key(m, f) ? "foreign key" : "unique constraint");
    if (arg->type == MSGPACK_OBJECT_NIL)
        return kv_fail_at(rq->err, KVORM_EVALIDATION, m->name, fd->name, "%s.%s: %s takes a number, got null",
                          m->name, fd->name, kv_number_op_name(kind));
    size_t start = e->buf.size;
    int rc = kv_value_encode(&e->buf, m, fd, arg, rq->mode, rq->err);
    if (rc != 0)
        return rc;
    e->ops[e->nops].field = f;
    e->ops[e->nops].kind = kind;
    e->ops[e->nops].len = e->buf.size - start;
    e->op_offsets[e->nops++] = start;
    return 0;
}

static int visit_update(request *rq, encoded *e, int f, const msgpack_object *v)
{
    const kv_field *fd = &rq->model->fields[f];
    if (v->type == MSGPACK_OBJECT_MAP &&
        (fd->type == KV_T_INTEGER || fd->type == KV_T_FLOAT || fd->type == KV_T_DECIMAL))
        return visit_number_op(rq, e, f, v);
    if (v->type == MSGPACK_OBJECT_NIL) {
        if (!fd->optional)
            return kv_fail_at(rq->err, KVORM_EVALIDATION, rq->model->name, fd->name,
                              "%s.%s is required and cannot be set to null", rq->model->name, fd->name);
        e->unset[e->nunset++] = f;
        return 0;
    }
    return encode_into(rq, e, f, v);
}

static int encode_create(request *rq, const msgpack_object *data, const char *where, const kv_field_value *given,
                         int ngiven, encoded *e, char *id_text, size_t *id_len, const char *forced_id,
                         size_t forced_len)
{
    const kv_model *m = rq->model;
    bool *seen = calloc((size_t)m->nfields + 1, sizeof(bool)), id_seen = false;
    const msgpack_object *id_value = NULL;
    int rc;
    *id_len = 0;
    rq_encoded_init(e, m->nfields);
    if (!seen || !e->items || !e->offsets || !e->unset || !e->ops || !e->op_offsets) {
        free(seen);
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    }
    for (int i = 0; i < ngiven; i++) {
        seen[given[i].field] = true;
        add_raw(e, given[i].field, given[i].data, given[i].len);
    }
    if ((rc = for_each_entry(rq, data, where, given != NULL, seen, &id_seen, &id_value, visit_create, e)) != 0)
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

int rq_encode_create(request *rq, const msgpack_object *data, const char *where, encoded *e, char *id_text,
                     size_t *id_len, const char *forced_id, size_t forced_len)
{
    return encode_create(rq, data, where, NULL, 0, e, id_text, id_len, forced_id, forced_len);
}

int rq_encode_create_nested(request *rq, const msgpack_object *data, const char *where, const kv_field_value *given,
                            int ngiven, encoded *e, char *id_text, size_t *id_len)
{
    static const kv_field_value none;
    return encode_create(rq, data, where, given ? given : &none, ngiven, e, id_text, id_len, NULL, 0);
}

static int encode_update(request *rq, const msgpack_object *data, const char *where, bool relations_ok, encoded *e)
{
    const kv_model *m = rq->model;
    bool *seen = calloc((size_t)m->nfields + 1, sizeof(bool)), id_seen = false;
    const msgpack_object *id_value = NULL;
    int rc;
    rq_encoded_init(e, m->nfields);
    if (!seen || !e->items || !e->offsets || !e->unset || !e->ops || !e->op_offsets) {
        free(seen);
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    }
    rc = for_each_entry(rq, data, where, relations_ok, seen, &id_seen, &id_value, visit_update, e);
    if (rc == 0 && id_seen)
        rc = kv_fail_at(rq->err, KVORM_EVALIDATION, m->name, "id", "%s: the id of a record cannot be changed", where);
    if (rc == 0)
        encoded_finish(e);
    free(seen);
    return rc;
}

int rq_encode_update(request *rq, const msgpack_object *data, const char *where, encoded *e)
{
    return encode_update(rq, data, where, false, e);
}

int rq_encode_update_nested(request *rq, const msgpack_object *data, const char *where, encoded *e)
{
    return encode_update(rq, data, where, true, e);
}

/* ---- where: one unique selector ---- */


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

int rq_parse_unique_where(request *rq, const msgpack_object *where, target *t)
{
    const kv_model *m = rq->model;
    memset(&t->loc, 0, sizeof(t->loc));
    msgpack_sbuffer_init(&t->ukey);
    if (rq_need_map(rq, where, "where") != 0)
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

void rq_target_free(target *t) { msgpack_sbuffer_destroy(&t->ukey); }

/* ---- responses ---- */

/* Whether field f's stored pair (its name, then its value) is byte for byte what rq_pack_record writes for it:
 * a value checked when read, answered as it is stored (not a decimal), of the field's type, right after the name
 * as the schema packs it. The engine that checked the values put each after its field's name (the name's bytes
 * are known equal): only the header before them is compared. */
static bool stored_as_answered(const kv_record *r, const kv_field *fd, int f)
{
    const char *v = r->values[f];
    size_t hdr = fd->name_mp_len - fd->name_len;
    return v && fd->type != KV_T_DECIMAL && kv_value_type_ok(fd, v, r->lens[f]) &&
           memcmp(v - fd->name_mp_len, fd->name_mp, hdr) == 0;
}

/* The last field of the run of selected fields from f whose stored pairs lie end to end, each as it is answered
 * (so one copy writes them all), or -1 when f's own pair is not. Records read by an engine that checked their
 * values only: their stored pairs are what the values point into. */
static int stored_run(const kv_record *r, const kv_model *m, const selection *sel, int f)
{
    if (!r->values_checked || !stored_as_answered(r, &m->fields[f], f))
        return -1;
    int last = f;
    for (int g = f + 1; g < m->nfields && (sel->all || sel->fields[g]); g++) {
        const kv_field *gd = &m->fields[g];
        if (!r->values[g] || r->values[g] - gd->name_mp_len != r->values[last] + r->lens[last] ||
            !stored_as_answered(r, gd, g))
            break;
        last = g;
    }
    return last;
}

int rq_pack_record(request *rq, msgpack_packer *pk, const kv_record *r, const selection *sel)
{
    return rq_pack_record_with(rq, pk, r, sel, 0);
}

int rq_pack_record_with(request *rq, msgpack_packer *pk, const kv_record *r, const selection *sel, size_t extra)
{
    const kv_model *m = rq->model;
    size_t n = extra + (sel->id ? 1 : 0) + (sel->version ? 1 : 0);
    for (int f = 0; f < m->nfields; f++)
        n += sel->all || sel->fields[f];
    msgpack_pack_map(pk, n);
    if (sel->id) {
        pk->callback(pk->data, "\xa2id", 3);
        if (kv_id_emit(pk, m, r->id, r->id_len, rq->err) != 0)
            return rq->err->code;
    }
    for (int f = 0; f < m->nfields; f++) {
        if (!sel->all && !sel->fields[f])
            continue;
        int last = stored_run(r, m, sel, f);
        if (last >= f) { /* fields f..last as stored: one copy */
            const char *start = r->values[f] - m->fields[f].name_mp_len;
            pk->callback(pk->data, start, (size_t)(r->values[last] + r->lens[last] - start));
            f = last;
            continue;
        }
        pk->callback(pk->data, m->fields[f].name_mp, m->fields[f].name_mp_len);
        if (!r->values[f])
            msgpack_pack_nil(pk);
        else if ((r->values_checked ? kv_value_emit_checked : kv_value_emit)(pk, m, &m->fields[f], r->values[f],
                                                                              r->lens[f], rq->err) != 0)
            return rq->err->code;
    }
    if (sel->version) {
        kv_pack_cstr(pk, "$version");
        msgpack_pack_int64(pk, r->version);
    }
    return 0;
}

int rq_if_version(request *rq, kv_write *w)
{
    const msgpack_object *v = rq_arg(rq, "ifVersion");
    if (!v)
        return 0;
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > (uint64_t)INT64_MAX)
        return rq_bad_request(rq, "%s: \"ifVersion\" must be a non-negative integer%s", rq->op, "");
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

int rq_not_found(request *rq, const target *t)
{
    char what[256];
    describe_target(rq->model, t, what, sizeof(what));
    return kv_fail_at(rq->err, KVORM_ENOTFOUND, rq->model->name, NULL, "%s: no record with %s", rq->model->name, what);
}

