/* Implicit join models, as Prisma's implicit many-to-many: a manyToMany that names no "through" goes through
 * "_<First>To<Second>" (the two models in byte order of their names), fields "A" (the first's id) and "B" (the
 * second's), unique together, and belongsTo "a" and "b" to each side that cascade a delete. Both sides of a pair
 * share it; a self-relation's two sides are its two directions. The join model is declared by building its
 * schema document here, so it is loaded, laid out, stored and checked as any model the schema declares. */
#include "implicit_join.h"

#include <stdio.h>
#include <string.h>

/* Whether a relation's spec is a manyToMany that leaves its join model to kvorm. */
static bool is_implicit(const msgpack_object *spec)
{
    return spec->type == MSGPACK_OBJECT_MAP && kv_mp_map_get(spec, "manyToMany") && !kv_mp_map_get(spec, "through") &&
           !kv_mp_map_get(spec, "from") && !kv_mp_map_get(spec, "to");
}

uint32_t kv_implicit_join_bound(const msgpack_object *models)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < models->via.map.size; i++) {
        const msgpack_object *m = &models->via.map.ptr[i].val;
        const msgpack_object *rels = m->type == MSGPACK_OBJECT_MAP ? kv_mp_map_get(m, "relations") : NULL;
        if (rels && rels->type == MSGPACK_OBJECT_MAP)
            for (uint32_t k = 0; k < rels->via.map.size; k++)
                n += is_implicit(&rels->via.map.ptr[k].val);
    }
    return n;
}

/* ---- building MessagePack objects in the schema's zone ---- */

static msgpack_object str_of(const char *s)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_STR};
    o.via.str.ptr = s;
    o.via.str.size = (uint32_t)strlen(s);
    return o;
}

/* A map of n entries whose keys and values are given as pairs of objects. */
static int map_of(msgpack_zone *z, msgpack_object *out, uint32_t n, const msgpack_object *pairs)
{
    msgpack_object_kv *kv = msgpack_zone_malloc(z, sizeof(*kv) * n);
    if (!kv)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        kv[i].key = pairs[2 * i];
        kv[i].val = pairs[2 * i + 1];
    }
    out->type = MSGPACK_OBJECT_MAP;
    out->via.map.size = n;
    out->via.map.ptr = kv;
    return 0;
}

static int array_of(msgpack_zone *z, msgpack_object *out, uint32_t n, const msgpack_object *items)
{
    msgpack_object *a = msgpack_zone_malloc(z, sizeof(*a) * n);
    if (!a)
        return -1;
    memcpy(a, items, sizeof(*a) * n);
    out->type = MSGPACK_OBJECT_ARRAY;
    out->via.array.size = n;
    out->via.array.ptr = a;
    return 0;
}

/* {"belongsTo": target, "fields": [field], "onDelete": "cascade"} */
static int belongs_to(msgpack_zone *z, msgpack_object *out, const char *target, const char *field)
{
    msgpack_object fields, f = str_of(field);
    if (array_of(z, &fields, 1, &f) != 0)
        return -1;
    msgpack_object p[] = {str_of("belongsTo"), str_of(target), str_of("fields"), fields,
                          str_of("onDelete"), str_of("cascade")};
    return map_of(z, out, 3, p);
}

/* The document of the join model of first and second (see the top of this file). */
static int join_doc(msgpack_zone *z, msgpack_object *out, const kv_model *first, const kv_model *second)
{
    msgpack_object ta = str_of(kv_id_is_integer(first) ? "integer" : "string");
    msgpack_object tb = str_of(kv_id_is_integer(second) ? "integer" : "string");
    msgpack_object fa, fb, fields, pair, unique, ra, rb, rels;
    msgpack_object type_a[] = {str_of("type"), ta}, type_b[] = {str_of("type"), tb};
    msgpack_object ab[] = {str_of("A"), str_of("B")};
    if (map_of(z, &fa, 1, type_a) != 0 || map_of(z, &fb, 1, type_b) != 0 || array_of(z, &pair, 2, ab) != 0 ||
        array_of(z, &unique, 1, &pair) != 0 || belongs_to(z, &ra, first->name, "A") != 0 ||
        belongs_to(z, &rb, second->name, "B") != 0)
        return -1;
    msgpack_object fp[] = {str_of("A"), fa, str_of("B"), fb}, rp[] = {str_of("a"), ra, str_of("b"), rb};
    if (map_of(z, &fields, 2, fp) != 0 || map_of(z, &rels, 2, rp) != 0)
        return -1;
    msgpack_object mp[] = {str_of("fields"), fields, str_of("unique"), unique, str_of("relations"), rels};
    return map_of(z, out, 3, mp);
}

/* The relation's spec with "through", "from" and "to" added. */
static int point_at(msgpack_zone *z, msgpack_object *spec, const char *join, const char *from, const char *to)
{
    uint32_t n = spec->via.map.size;
    msgpack_object_kv *kv = msgpack_zone_malloc(z, sizeof(*kv) * (n + 3));
    if (!kv)
        return -1;
    memcpy(kv, spec->via.map.ptr, sizeof(*kv) * n);
    kv[n] = (msgpack_object_kv){str_of("through"), str_of(join)};
    kv[n + 1] = (msgpack_object_kv){str_of("from"), str_of(from)};
    kv[n + 2] = (msgpack_object_kv){str_of("to"), str_of(to)};
    spec->via.map.ptr = kv;
    spec->via.map.size = n + 3;
    return 0;
}

typedef struct join {
    int first, second; /* model positions, first's name sorting first */
    char *name;
    int sides; /* bit 0: a relation of first's goes through it, bit 1: of second's; a self join counts in bits */
} join;

static int refuse(kv_error *err, const kv_model *m, const msgpack_object *rel, const char *why, const char *join)
{
    return kv_fail_at(err, KVORM_ESCHEMA, m->name, NULL, "schema: %s.%.*s: %s%s", m->name, (int)rel->via.str.size,
                      rel->via.str.ptr, why, join);
}

int kv_implicit_joins(const kvorm_schema *s, const msgpack_object **specs, msgpack_zone *zone, uint32_t cap,
                      msgpack_object *names, msgpack_object *docs, int *n, kv_error *err)
{
    join *joins = NULL;
    int njoins = 0;
    *n = 0;
    for (int i = 0; i < s->nmodels; i++) {
        const msgpack_object *rels = specs[i];
        if (!rels || rels->type != MSGPACK_OBJECT_MAP)
            continue;
        const kv_model *m = &s->models[i];
        for (uint32_t k = 0; k < rels->via.map.size; k++) {
            msgpack_object *spec = (msgpack_object *)&rels->via.map.ptr[k].val; /* our copy of the document */
            const msgpack_object *rel = &rels->via.map.ptr[k].key;
            const msgpack_object *target = kv_mp_map_get(spec, "manyToMany");
            if (!is_implicit(spec) || rel->type != MSGPACK_OBJECT_STR || target->type != MSGPACK_OBJECT_STR)
                continue; /* the relation's own errors are said where relations are parsed */
            const kv_model *t = kv_schema_model(s, target->via.str.ptr, target->via.str.size);
            if (!t)
                continue;
            int first = strcmp(m->name, t->name) <= 0 ? i : t->position, second = first == i ? t->position : i;
            join *j = NULL;
            for (int x = 0; x < njoins; x++)
                if (joins[x].first == first && joins[x].second == second)
                    j = &joins[x];
            if (!j) {
                if (!joins && !(joins = msgpack_zone_malloc(zone, sizeof(*joins) * cap)))
                    return kv_fail(err, KVORM_EINTERNAL, "out of memory loading the schema");
                const char *a = s->models[first].name, *b = s->models[second].name;
                size_t len = 1 + strlen(a) + 2 + strlen(b);
                char *name = msgpack_zone_malloc(zone, len + 1);
                if (!name)
                    return kv_fail(err, KVORM_EINTERNAL, "out of memory loading the schema");
                snprintf(name, len + 1, "_%sTo%s", a, b);
                if (len > KV_MAX_NAME)
                    return refuse(err, m, rel, "its join model's name would be longer than 64 bytes: give it a "
                                               "join model with \"through\": ", name);
                if (kv_schema_model(s, name, len))
                    return refuse(err, m, rel, "a model of the schema has the name of its join model: ", name);
                for (int x = 0; x < njoins; x++) /* _AToToB is the join of A and ToB, and of ATo and B */
                    if (strcmp(joins[x].name, name) == 0)
                        return refuse(err, m, rel, "the join model of another pair of models has its join model's "
                                                   "name (give one of them \"through\"): ", name);
                j = &joins[njoins++];
                *j = (join){first, second, name, 0};
                names[*n] = str_of(name);
                if (join_doc(zone, &docs[*n], &s->models[first], &s->models[second]) != 0)
                    return kv_fail(err, KVORM_EINTERNAL, "out of memory loading the schema");
                (*n)++;
            }
            int side = first == second ? (j->sides & 1 ? 2 : 1) : i == first ? 1 : 2;
            if (j->sides & side)
                return refuse(err, m, rel,
                              first == second ? "a third manyToMany of a model with itself without \"through\" "
                                                "(one join holds two directions): give it a join model of its own, "
                                                "not "
                                              : "a second manyToMany without \"through\" between the same two "
                                                "models: give it a join model of its own, not ",
                              j->name);
            j->sides |= side;
            /* the first model's relation (and a self join's first direction) goes from A to B */
            bool from_a = side == 1;
            if (point_at(zone, spec, j->name, from_a ? "a" : "b", from_a ? "b" : "a") != 0)
                return kv_fail(err, KVORM_EINTERNAL, "out of memory loading the schema");
        }
    }
    return 0;
}
