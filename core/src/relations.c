/* The relations of a schema (docs/schema.md, Relations): each model's "relations" map parsed, then resolved
 * against the other models (targets, foreign keys and the keys they reference, inverses, join models). */
#include "relations.h"

#include <stdio.h>
#include <string.h>

typedef struct rel_loader {
    kvorm_schema *s;
    msgpack_zone *zone;
    kv_error *err;
} rel_loader;

static const char *const kind_names[] = {"belongsTo", "hasOne", "hasMany", "manyToMany"};

static int fail(rel_loader *rl, const kv_model *m, const kv_relation *r, const char *fmt, const char *a,
                const char *b)
{
    char what[320];
    snprintf(what, sizeof(what), fmt, a ? a : "", b ? b : "");
    return kv_fail_at(rl->err, KVORM_ESCHEMA, m->name, NULL, "schema: %s.%s: %s", m->name, r ? r->name : "?", what);
}

static char *zcopy(rel_loader *rl, const char *p, size_t n)
{
    char *c = msgpack_zone_malloc(rl->zone, n + 1);
    if (c) {
        memcpy(c, p, n);
        c[n] = '\0';
    }
    return c;
}

static int oom(rel_loader *rl) { return kv_fail(rl->err, KVORM_EINTERNAL, "out of memory loading the schema"); }

/* The model a relation names, by its string; -1 if there is none. */
static int model_named(const kvorm_schema *s, const msgpack_object *o)
{
    if (!o || o->type != MSGPACK_OBJECT_STR)
        return -1;
    const kv_model *t = kv_schema_model(s, o->via.str.ptr, o->via.str.size);
    return t ? t->position : -1;
}

static void quoted(char *buf, size_t cap, const msgpack_object *o)
{
    if (o && o->type == MSGPACK_OBJECT_STR)
        kv_quote(buf, cap, o->via.str.ptr, o->via.str.size);
    else
        snprintf(buf, cap, "%s", o ? "(not a string)" : "(missing)");
}

/* A list of field names of m, as field indexes (allocated in the zone). */
static int field_list(rel_loader *rl, const kv_model *m, const kv_relation *r, const char *key,
                      const msgpack_object *o, int **out, int *n)
{
    if (!o || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0 || o->via.array.size > KV_MAX_INDEX_PARTS)
        return fail(rl, m, r, "\"%s\" must be a list of 1 to 8 field names", key, NULL);
    *n = (int)o->via.array.size;
    if (!(*out = msgpack_zone_malloc(rl->zone, sizeof(int) * (size_t)*n)))
        return oom(rl);
    for (int i = 0; i < *n; i++) {
        const msgpack_object *f = &o->via.array.ptr[i];
        int idx = f->type == MSGPACK_OBJECT_STR ? kv_model_field(m, f->via.str.ptr, f->via.str.size) : -1;
        if (idx < 0) {
            char q[96];
            quoted(q, sizeof(q), f);
            return fail(rl, m, r, "\"fields\" names %s, which is not a field of the model", q, NULL);
        }
        for (int j = 0; j < i; j++)
            if ((*out)[j] == idx)
                return fail(rl, m, r, "\"fields\" lists %s twice", m->fields[idx].name, NULL);
        (*out)[i] = idx;
    }
    return 0;
}

/* The type a foreign key field must have to hold the target's id. */
static kv_type id_type(const kv_model *t) { return kv_id_is_integer(t) ? KV_T_INTEGER : KV_T_STRING; }

/* "references": the target's id (absent, or ["id"]) or the fields of one of its unique constraints, in order. */
static int parse_references(rel_loader *rl, const kv_model *m, kv_relation *r, const msgpack_object *o)
{
    const kv_model *t = &rl->s->models[r->target];
    r->references = -1;
    if (o && o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 1 && kv_mp_str_eq(&o->via.array.ptr[0], "id"))
        o = NULL;
    if (!o) {
        if (r->nfields != 1)
            return fail(rl, m, r, "a foreign key of %s fields cannot reference the id of %s (one field does)",
                        r->nfields == 2 ? "2" : "several", t->name);
        if (m->fields[r->fields[0]].type != id_type(t))
            return fail(rl, m, r, "the foreign key %s must be of type %s, the type of the id it references",
                        m->fields[r->fields[0]].name, kv_type_name(id_type(t)));
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return fail(rl, m, r, "\"references\" must be a list of field names of %s", t->name, NULL);
    for (int u = 0; u < t->nuniques; u++) {
        const kv_unique *c = &t->uniques[u];
        bool same = c->nfields == (int)o->via.array.size;
        for (int i = 0; same && i < c->nfields; i++) {
            const kv_field *f = &t->fields[c->fields[i]];
            const msgpack_object *g = &o->via.array.ptr[i];
            same = g->type == MSGPACK_OBJECT_STR && g->via.str.size == f->name_len &&
                   memcmp(g->via.str.ptr, f->name, f->name_len) == 0;
        }
        if (same) {
            r->references = u;
            break;
        }
    }
    if (r->references < 0)
        return fail(rl, m, r, "\"references\" must be the id or the fields of a unique constraint of %s, in order",
                    t->name, NULL);
    const kv_unique *c = &t->uniques[r->references];
    if (c->nfields != r->nfields)
        return fail(rl, m, r, "\"fields\" and \"references\" must have as many fields", NULL, NULL);
    for (int i = 0; i < c->nfields; i++) {
        const kv_field *own = &m->fields[r->fields[i]], *ref = &t->fields[c->fields[i]];
        if (own->type != ref->type) {
            char why[200];
            snprintf(why, sizeof(why), "the foreign key %s is of type %s, but %s.%s is of type %s", own->name,
                     kv_type_name(own->type), t->name, ref->name, kv_type_name(ref->type));
            return fail(rl, m, r, "%s", why, NULL);
        }
    }
    return 0;
}

static const char *const action_names[] = {"restrict", "cascade", "setNull", "noAction"};

/* "onDelete" / "onUpdate": one of action_names (absent: *out is left as it is). */
static int parse_action(rel_loader *rl, const kv_model *m, const kv_relation *r, const msgpack_object *o,
                        const char *key, kv_ref_action *out)
{
    if (!o)
        return 0;
    for (int i = 0; i < 4; i++)
        if (kv_mp_str_eq(o, action_names[i])) {
            *out = (kv_ref_action)i;
            if (*out == KV_REF_SET_NULL && !r->optional)
                return fail(rl, m, r, "\"%s\": \"setNull\" needs an optional foreign key (its fields optional)", key,
                            NULL);
            return 0;
        }
    char q[96];
    quoted(q, sizeof(q), o);
    return fail(rl, m, r, "\"%s\" is %s; it must be \"restrict\", \"cascade\", \"setNull\" or \"noAction\"", key, q);
}

static int parse_belongs_to(rel_loader *rl, const kv_model *m, kv_relation *r, const msgpack_object *spec)
{
    if (field_list(rl, m, r, "fields", kv_mp_map_get(spec, "fields"), &r->fields, &r->nfields) != 0 ||
        parse_references(rl, m, r, kv_mp_map_get(spec, "references")) != 0)
        return rl->err->code;
    int optional = 0;
    for (int i = 0; i < r->nfields; i++)
        optional += m->fields[r->fields[i]].optional;
    if (optional != 0 && optional != r->nfields)
        return fail(rl, m, r, "the fields of a foreign key are all optional (the relation is optional) or none is",
                    NULL, NULL);
    r->optional = optional > 0;
    /* Prisma's defaults: a required relation restricts the delete of its target, an optional one is set null */
    r->on_delete = r->optional ? KV_REF_SET_NULL : KV_REF_RESTRICT;
    r->on_update = KV_REF_RESTRICT;
    if (parse_action(rl, m, r, kv_mp_map_get(spec, "onDelete"), "onDelete", &r->on_delete) != 0 ||
        parse_action(rl, m, r, kv_mp_map_get(spec, "onUpdate"), "onUpdate", &r->on_update) != 0)
        return rl->err->code;
    return 0;
}

static const char *const belongs_keys[] = {"belongsTo", "fields", "references", "onDelete", "onUpdate", NULL};
static const char *const has_one_keys[] = {"hasOne", "inverse", NULL};
static const char *const has_many_keys[] = {"hasMany", "inverse", NULL};
static const char *const many_keys[] = {"manyToMany", "through", "from", "to", NULL};
static const char *const *const kind_keys[] = {belongs_keys, has_one_keys, has_many_keys, many_keys};

/* Phase 1: the relation's own keys (its kind, target, foreign key); inverses and join models come after. */
static int parse_relation(rel_loader *rl, kv_model *m, kv_relation *r, const msgpack_object *spec)
{
    r->target = r->inverse = r->through = r->through_from = r->through_to = -1;
    r->fk_index = r->fk_unique = r->references = -1;
    if (spec->type != MSGPACK_OBJECT_MAP)
        return fail(rl, m, r, "a relation must be a map", NULL, NULL);
    int kinds = 0;
    for (int k = 0; k < 4; k++)
        if (kv_mp_map_get(spec, kind_names[k])) {
            r->kind = (kv_relation_kind)k;
            kinds++;
        }
    if (kinds != 1)
        return fail(rl, m, r, "a relation has exactly one of \"belongsTo\", \"hasOne\", \"hasMany\", \"manyToMany\"",
                    NULL, NULL);
    const msgpack_object *unknown = kv_mp_unknown_key(spec, kind_keys[r->kind]);
    if (unknown) {
        char q[96];
        quoted(q, sizeof(q), unknown);
        return fail(rl, m, r, "a %s relation has no key %s", kind_names[r->kind], q);
    }
    const msgpack_object *target = kv_mp_map_get(spec, kind_names[r->kind]);
    if ((r->target = model_named(rl->s, target)) < 0) {
        char q[96];
        quoted(q, sizeof(q), target);
        return fail(rl, m, r, "\"%s\" names %s, which is not a model of the schema", kind_names[r->kind], q);
    }
    return r->kind == KV_REL_BELONGS_TO ? parse_belongs_to(rl, m, r, spec) : 0;
}

/* The belongsTo of model t that points at model `to`, named by `named` (a str) or, without it, the only one. */
static int find_belongs_to(rel_loader *rl, const kv_model *m, const kv_relation *r, const kv_model *t, int to,
                           const msgpack_object *named, const char *key)
{
    if (named) {
        int i = named->type == MSGPACK_OBJECT_STR ? kv_model_relation(t, named->via.str.ptr, named->via.str.size)
                                                  : -1;
        if (i < 0 || t->relations[i].kind != KV_REL_BELONGS_TO || t->relations[i].target != to) {
            char q[96], why[240];
            quoted(q, sizeof(q), named);
            snprintf(why, sizeof(why), "\"%s\" names %s, which is not a belongsTo of %s pointing to %s", key, q,
                     t->name, rl->s->models[to].name);
            fail(rl, m, r, "%s", why, NULL);
            return -1;
        }
        return i;
    }
    int found = -1, n = 0;
    for (int i = 0; i < t->nrelations; i++)
        if (t->relations[i].kind == KV_REL_BELONGS_TO && t->relations[i].target == to) {
            found = i;
            n++;
        }
    if (n != 1) {
        char why[240];
        snprintf(why, sizeof(why), "%s has %s belongsTo pointing to %s%s%s%s", t->name, n ? "more than one" : "no",
                 rl->s->models[to].name, n ? ": name the one meant with \"" : "", n ? key : "", n ? "\"" : "");
        fail(rl, m, r, "%s", why, NULL);
        return -1;
    }
    return found;
}

/* Phase 2: hasOne and hasMany find their belongsTo; manyToMany its join model's two belongsTo. */
static int resolve(rel_loader *rl, kv_model *m, kv_relation *r, const msgpack_object *spec)
{
    kv_model *t = &rl->s->models[r->target];
    if (r->kind == KV_REL_HAS_ONE || r->kind == KV_REL_HAS_MANY) {
        if ((r->inverse = find_belongs_to(rl, m, r, t, m->position, kv_mp_map_get(spec, "inverse"), "inverse")) < 0)
            return rl->err->code;
        for (int i = 0; i < m->nrelations; i++) {
            const kv_relation *o = &m->relations[i];
            if (o != r && (o->kind == KV_REL_HAS_ONE || o->kind == KV_REL_HAS_MANY) && o->target == r->target &&
                o->inverse == r->inverse)
                return fail(rl, m, r, "its inverse %s is already the inverse of %s", t->relations[r->inverse].name,
                            o->name);
        }
        return 0;
    }
    if (r->kind != KV_REL_MANY_TO_MANY)
        return 0;
    const msgpack_object *through = kv_mp_map_get(spec, "through");
    if (!through)
        return fail(rl, m, r,
                    "\"from\" and \"to\" name belongsTo of a join model: they need \"through\", the join model "
                    "(without all three, kvorm declares the join)",
                    NULL, NULL);
    if ((r->through = model_named(rl->s, through)) < 0) {
        char q[96];
        quoted(q, sizeof(q), through);
        return fail(rl, m, r, "\"through\" names %s, which is not a model of the schema", q, NULL);
    }
    const kv_model *j = &rl->s->models[r->through];
    const msgpack_object *from = kv_mp_map_get(spec, "from"), *to = kv_mp_map_get(spec, "to");
    if (r->target == m->position && (!from || !to))
        return fail(rl, m, r, "a manyToMany of a model with itself names the join's two belongsTo: \"from\", \"to\"",
                    NULL, NULL);
    if ((r->through_from = find_belongs_to(rl, m, r, j, m->position, from, "from")) < 0 ||
        (r->through_to = find_belongs_to(rl, m, r, j, r->target, to, "to")) < 0)
        return rl->err->code;
    if (r->through_from == r->through_to)
        return fail(rl, m, r, "\"from\" and \"to\" name the same belongsTo of the join model", NULL, NULL);
    return 0;
}

int kv_relations_parse(kvorm_schema *s, const msgpack_object *const *specs, msgpack_zone *zone, kv_error *err)
{
    rel_loader rl = {s, zone, err};
    for (int i = 0; i < s->nmodels; i++) {
        kv_model *m = &s->models[i];
        const msgpack_object *map = specs[i];
        if (!map)
            continue;
        if (map->type != MSGPACK_OBJECT_MAP)
            return kv_fail_at(err, KVORM_ESCHEMA, m->name, NULL, "schema: %s: \"relations\" must be a map",
                              m->name);
        if (!(m->relations = msgpack_zone_malloc(zone, sizeof(kv_relation) * (map->via.map.size + 1))))
            return oom(&rl);
        memset(m->relations, 0, sizeof(kv_relation) * (map->via.map.size + 1));
        for (uint32_t k = 0; k < map->via.map.size; k++) {
            const msgpack_object *name = &map->via.map.ptr[k].key;
            kv_relation *r = &m->relations[m->nrelations];
            if (!kv_is_identifier(name)) {
                char q[96];
                quoted(q, sizeof(q), name);
                return kv_fail_at(err, KVORM_ESCHEMA, m->name, NULL,
                                  "schema: %s: relation name %s is not an identifier", m->name, q);
            }
            if (!(r->name = zcopy(&rl, name->via.str.ptr, name->via.str.size)))
                return oom(&rl);
            r->name_len = name->via.str.size;
            if (kv_model_field(m, r->name, r->name_len) >= 0 || strcmp(r->name, "id") == 0)
                return fail(&rl, m, r, "a relation cannot have the name of a field", NULL, NULL);
            if (kv_model_relation(m, r->name, r->name_len) >= 0)
                return fail(&rl, m, r, "the relation is declared twice", NULL, NULL);
            if (parse_relation(&rl, m, r, &map->via.map.ptr[k].val) != 0)
                return err->code;
            m->nrelations++;
        }
    }
    for (int i = 0; i < s->nmodels; i++) {
        kv_model *m = &s->models[i];
        for (int k = 0; k < m->nrelations; k++)
            if (resolve(&rl, m, &m->relations[k], &specs[i]->via.map.ptr[k].val) != 0)
                return err->code;
    }
    return 0;
}

bool kv_relation_needs_unique(const kvorm_schema *s, const kv_model *m, int relation)
{
    for (int i = 0; i < s->nmodels; i++)
        for (int k = 0; k < s->models[i].nrelations; k++) {
            const kv_relation *o = &s->models[i].relations[k];
            if (o->kind == KV_REL_HAS_ONE && o->target == m->position && o->inverse == relation)
                return true;
        }
    return false;
}
