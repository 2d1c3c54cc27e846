#include "schema.h"

#include "implicit_join.h"
#include "relations.h"

#include "value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {"string", "integer", "float", "boolean", "datetime",
                                         "decimal", "enum", "json", "bytes"};
static const char *const id_names[] = {"ulid", "uuidv7", "string", "increment", "integer"};

const char *kv_type_name(kv_type t) { return type_names[t]; }
bool kv_id_is_integer(const kv_model *m) { return m->id_kind == KV_ID_INCREMENT || m->id_kind == KV_ID_INTEGER; }

/* Parsing state: the zone owns everything the schema keeps. */
typedef struct loader {
    msgpack_zone *zone;
    kv_error *err;
} loader;

static char *zstrn(loader *ld, const char *s, size_t n)
{
    char *p = msgpack_zone_malloc(ld->zone, n + 1);
    if (p) {
        if (n) /* an empty str from msgpack-c has a NULL pointer */
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void *zalloc(loader *ld, size_t n)
{
    void *p = msgpack_zone_malloc(ld->zone, n ? n : 1);
    if (p)
        memset(p, 0, n ? n : 1);
    return p;
}

_Static_assert(KV_MAX_NAME < 256, "a packed name has a str8 header at most");

/* A name (at most KV_MAX_NAME bytes) as a MessagePack str: responses write it with one copy. */
static const char *packed_name(loader *ld, const char *name, size_t n, size_t *out_len)
{
    size_t hdr = n < 32 ? 1 : 2;
    unsigned char *p = msgpack_zone_malloc(ld->zone, hdr + n);
    if (!p)
        return NULL;
    if (hdr == 1) {
        p[0] = (unsigned char)(0xa0 | n);
    } else {
        p[0] = 0xd9;
        p[1] = (unsigned char)n;
    }
    memcpy(p + hdr, name, n);
    *out_len = hdr + n;
    return (const char *)p;
}

static int oom(loader *ld) { return kv_fail(ld->err, KVORM_EINTERNAL, "out of memory loading the schema"); }

bool kv_is_identifier(const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 || o->via.str.size > KV_MAX_NAME)
        return false;
    for (uint32_t i = 0; i < o->via.str.size; i++) {
        char c = o->via.str.ptr[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static int bad_name(loader *ld, const char *what, const char *model, const msgpack_object *o)
{
    char q[96] = "(not a string)";
    if (o->type == MSGPACK_OBJECT_STR)
        kv_quote(q, sizeof(q), o->via.str.ptr, o->via.str.size);
    return kv_fail_at(ld->err, KVORM_ESCHEMA, model, NULL,
                      "schema: %s%s%s name %s is not an identifier ([A-Za-z_][A-Za-z0-9_]*, at most %d characters)",
                      model ? model : "", model ? ": " : "", what, q, KV_MAX_NAME);
}

/* Rejects map keys outside allowed (NULL-terminated) and repeated keys, naming where. */
static int check_keys(loader *ld, const msgpack_object *map, const char *const *allowed, const char *model,
                      const char *field, const char *where)
{
    const msgpack_object *unknown = kv_mp_unknown_key(map, allowed);
    if (unknown) {
        char q[96] = "(not a string)";
        if (unknown->type == MSGPACK_OBJECT_STR)
            kv_quote(q, sizeof(q), unknown->via.str.ptr, unknown->via.str.size);
        return kv_fail_at(ld->err, KVORM_ESCHEMA, model, field, "schema: %s has an unknown key %s", where, q);
    }
    /* every key is now one of the allowed strings: a repeat is the same string twice */
    for (uint32_t i = 0; i < map->via.map.size; i++)
        for (uint32_t j = 0; j < i; j++)
            if (msgpack_object_equal(map->via.map.ptr[i].key, map->via.map.ptr[j].key))
                return kv_fail_at(ld->err, KVORM_ESCHEMA, model, field, "schema: %s repeats the key \"%.*s\"", where,
                                  (int)map->via.map.ptr[i].key.via.str.size, map->via.map.ptr[i].key.via.str.ptr);
    return 0;
}

static int parse_bool(loader *ld, const msgpack_object *o, bool *out, const char *model, const char *field,
                      const char *key)
{
    if (!o)
        return 0;
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, model, field, "schema: %s.%s: \"%s\" must be true or false",
                          model, field, key);
    *out = o->via.boolean;
    return 0;
}

static int parse_id(loader *ld, kv_model *m, const msgpack_object *o)
{
    static const char *const keys[] = {"type", "generate", NULL};
    char where[128];
    if (!o) {
        m->id_kind = KV_ID_ULID;
        return 0;
    }
    snprintf(where, sizeof(where), "%s.id", m->name);
    if (o->type != MSGPACK_OBJECT_MAP)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, "id", "schema: %s must be a map", where);
    if (check_keys(ld, o, keys, m->name, "id", where) != 0)
        return ld->err->code;
    const msgpack_object *type = kv_mp_map_get(o, "type"), *gen = kv_mp_map_get(o, "generate");
    bool str = type && kv_mp_str_eq(type, "string"), integer = type && kv_mp_str_eq(type, "integer");
    if (!str && !integer)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, "id",
                          "schema: %s.id: type must be \"string\" or \"integer\"", m->name);
    if (!gen) {
        m->id_kind = str ? KV_ID_STRING : KV_ID_INTEGER;
    } else if (str && kv_mp_str_eq(gen, "ulid")) {
        m->id_kind = KV_ID_ULID;
    } else if (str && kv_mp_str_eq(gen, "uuidv7")) {
        m->id_kind = KV_ID_UUIDV7;
    } else if (integer && kv_mp_str_eq(gen, "increment")) {
        m->id_kind = KV_ID_INCREMENT;
    } else {
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, "id",
                          "schema: %s.id: generate must be \"ulid\" or \"uuidv7\" for a string id, \"increment\" "
                          "for an integer id",
                          m->name);
    }
    return 0;
}

/* Whether v is one of the first n values of enum f. */
static bool enum_has(const kv_field *f, int n, const msgpack_object *v)
{
    for (int i = 0; i < n; i++)
        if (v->type == MSGPACK_OBJECT_STR && f->value_lens[i] == v->via.str.size &&
            (v->via.str.size == 0 || memcmp(f->values[i], v->via.str.ptr, v->via.str.size) == 0))
            return true;
    return false;
}

static int parse_enum_values(loader *ld, kv_model *m, kv_field *f, const msgpack_object *vals)
{
    if (!vals || vals->type != MSGPACK_OBJECT_ARRAY || vals->via.array.size == 0)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, f->name,
                          "schema: %s.%s: an enum needs \"values\", a non-empty list of strings", m->name, f->name);
    f->nvalues = (int)vals->via.array.size;
    f->values = zalloc(ld, sizeof(char *) * (size_t)f->nvalues);
    f->value_lens = zalloc(ld, sizeof(size_t) * (size_t)f->nvalues);
    if (!f->values || !f->value_lens)
        return oom(ld);
    for (int i = 0; i < f->nvalues; i++) {
        const msgpack_object *v = &vals->via.array.ptr[i];
        if (v->type != MSGPACK_OBJECT_STR || !kv_utf8_valid(v->via.str.ptr, v->via.str.size))
            return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, f->name,
                              "schema: %s.%s: enum values must be UTF-8 strings", m->name, f->name);
        if (enum_has(f, i, v)) {
            char q[96];
            kv_quote(q, sizeof(q), v->via.str.ptr, v->via.str.size);
            return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, f->name, "schema: %s.%s: enum value %s is listed twice",
                              m->name, f->name, q);
        }
        if (!(f->values[i] = zstrn(ld, v->via.str.ptr, v->via.str.size)))
            return oom(ld);
        f->value_lens[i] = v->via.str.size;
    }
    return 0;
}

static int parse_default(loader *ld, kv_model *m, kv_field *f, const msgpack_object *def)
{
    if (!def)
        return 0;
    if (def->type == MSGPACK_OBJECT_NIL)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, f->name,
                          "schema: %s.%s: a default cannot be null (make the field optional instead)", m->name,
                          f->name);
    if (f->type == KV_T_DATETIME && kv_mp_str_eq(def, "now")) {
        f->default_kind = KV_DEFAULT_NOW;
        return 0;
    }
    msgpack_sbuffer sb;
    kv_error verr;
    msgpack_sbuffer_init(&sb);
    /* schemas are usually JSON, so a bytes default may be base64 text */
    if (kv_value_encode(&sb, m, f, def, KV_MODE_JSON, &verr) != 0) {
        msgpack_sbuffer_destroy(&sb);
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, f->name, "schema: invalid default: %s", verr.message);
    }
    f->default_kind = KV_DEFAULT_LITERAL;
    f->default_bytes = zstrn(ld, sb.data, sb.size);
    f->default_len = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return f->default_bytes ? 0 : oom(ld);
}

/* *index: whether the field asks for a one-field index ("index": true), added once all fields are known. */
static int parse_field(loader *ld, kv_model *m, kv_field *f, const msgpack_object *name, const msgpack_object *o,
                       bool *index)
{
    static const char *const keys[] = {"type", "optional", "nullable", "default", "unique", "values", "index", NULL};
    char where[160];
    if (!kv_is_identifier(name))
        return bad_name(ld, "field", m->name, name);
    if (!(f->name = zstrn(ld, name->via.str.ptr, name->via.str.size)))
        return oom(ld);
    f->name_len = name->via.str.size;
    if (!(f->name_mp = packed_name(ld, f->name, f->name_len, &f->name_mp_len)))
        return oom(ld);
    if (strcmp(f->name, "id") == 0)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, "id",
                          "schema: %s: \"id\" is the record id; declare it under \"id\", not \"fields\"", m->name);
    for (kv_field *g = m->fields; g < f; g++)
        if (strcmp(g->name, f->name) == 0)
            return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, f->name, "schema: %s.%s is declared twice", m->name,
                              f->name);
    snprintf(where, sizeof(where), "%s.%s", m->name, f->name);
    if (o->type != MSGPACK_OBJECT_MAP)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, f->name, "schema: %s must be a map", where);
    if (check_keys(ld, o, keys, m->name, f->name, where) != 0)
        return ld->err->code;
    const msgpack_object *type = kv_mp_map_get(o, "type");
    int t = -1;
    for (int i = 0; type && i < (int)(sizeof(type_names) / sizeof(type_names[0])); i++)
        if (kv_mp_str_eq(type, type_names[i]))
            t = i;
    if (t < 0) {
        char q[96] = "(missing)";
        if (type && type->type == MSGPACK_OBJECT_STR)
            kv_quote(q, sizeof(q), type->via.str.ptr, type->via.str.size);
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, f->name,
                          "schema: %s: unknown type %s (string, integer, float, boolean, datetime, decimal, enum, "
                          "json, bytes)",
                          where, q);
    }
    f->type = (kv_type)t;
    bool nullable = false;
    if (parse_bool(ld, kv_mp_map_get(o, "optional"), &f->optional, m->name, f->name, "optional") != 0 ||
        parse_bool(ld, kv_mp_map_get(o, "nullable"), &nullable, m->name, f->name, "nullable") != 0 ||
        parse_bool(ld, kv_mp_map_get(o, "unique"), &f->unique, m->name, f->name, "unique") != 0 ||
        parse_bool(ld, kv_mp_map_get(o, "index"), index, m->name, f->name, "index") != 0)
        return ld->err->code;
    f->optional = f->optional || nullable;
    const msgpack_object *vals = kv_mp_map_get(o, "values");
    if (f->type == KV_T_ENUM) {
        if (parse_enum_values(ld, m, f, vals) != 0)
            return ld->err->code;
    } else if (vals) {
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, f->name, "schema: %s: \"values\" is only for enums", where);
    }
    return parse_default(ld, m, f, kv_mp_map_get(o, "default"));
}

static bool same_fields(const kv_unique *a, const kv_unique *b)
{
    if (a->nfields != b->nfields)
        return false;
    for (int i = 0; i < a->nfields; i++)
        if (a->fields[i] != b->fields[i])
            return false;
    return true;
}

/* Adds a constraint after checking it names real, distinct fields and repeats no other constraint. */
static int add_unique(loader *ld, kv_model *m, const msgpack_object *fields, const msgpack_object *name)
{
    kv_unique *u = &m->uniques[m->nuniques];
    if (!fields || fields->type != MSGPACK_OBJECT_ARRAY || fields->via.array.size == 0)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL,
                          "schema: %s: each unique constraint is a non-empty list of field names", m->name);
    u->nfields = (int)fields->via.array.size;
    if (!(u->fields = zalloc(ld, sizeof(int) * (size_t)u->nfields)))
        return oom(ld);
    size_t joined_len = 0;
    for (int i = 0; i < u->nfields; i++) {
        const msgpack_object *fo = &fields->via.array.ptr[i];
        int idx = fo->type == MSGPACK_OBJECT_STR ? kv_model_field(m, fo->via.str.ptr, fo->via.str.size) : -1;
        if (idx < 0) {
            char q[96] = "(not a string)";
            if (fo->type == MSGPACK_OBJECT_STR)
                kv_quote(q, sizeof(q), fo->via.str.ptr, fo->via.str.size);
            return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL,
                              "schema: %s: unique constraint names %s, which is not a field of %s%s", m->name, q,
                              m->name, kv_mp_str_eq(fo, "id") ? " (the id is always unique)" : "");
        }
        for (int j = 0; j < i; j++)
            if (u->fields[j] == idx)
                return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, m->fields[idx].name,
                                  "schema: %s: unique constraint lists %s twice", m->name, m->fields[idx].name);
        u->fields[i] = idx;
        joined_len += strlen(m->fields[idx].name) + 1;
    }
    if (name) {
        if (!kv_is_identifier(name))
            return bad_name(ld, "unique", m->name, name);
        u->name = zstrn(ld, name->via.str.ptr, name->via.str.size);
    } else {
        char *j = zalloc(ld, joined_len);
        if (!j)
            return oom(ld);
        for (int i = 0; i < u->nfields; i++) {
            if (i)
                strcat(j, "_");
            strcat(j, m->fields[u->fields[i]].name);
        }
        u->name = j;
    }
    if (!u->name)
        return oom(ld);
    for (int k = 0; k < m->nuniques; k++) {
        if (same_fields(&m->uniques[k], u))
            return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, m->fields[u->fields[0]].name,
                              "schema: %s: unique constraint %s repeats constraint %s", m->name, u->name,
                              m->uniques[k].name);
        if (strcmp(m->uniques[k].name, u->name) == 0)
            return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL,
                              "schema: %s: two unique constraints are named %s", m->name, u->name);
    }
    if (kv_model_field(m, u->name, strlen(u->name)) >= 0 && u->nfields > 1)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, u->name,
                          "schema: %s: compound unique %s has the name of a field", m->name, u->name);
    if (m->nuniques == KV_MAX_UNIQUES)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL,
                          "schema: %s: more than %d unique constraints", m->name, KV_MAX_UNIQUES);
    m->nuniques++;
    return 0;
}

/* Field names of m as the MessagePack strs add_index and add_unique read (n <= KV_MAX_INDEX_PARTS). */
static void field_names(const kv_model *m, const int *fields, int n, msgpack_object *names, msgpack_object *list)
{
    for (int i = 0; i < n; i++) {
        names[i].type = MSGPACK_OBJECT_STR;
        names[i].via.str.ptr = m->fields[fields[i]].name;
        names[i].via.str.size = (uint32_t)m->fields[fields[i]].name_len;
    }
    list->type = MSGPACK_OBJECT_ARRAY;
    list->via.array.size = (uint32_t)n;
    list->via.array.ptr = names;
}

/* extra: room for the constraints the relations may add (add_foreign_keys) */
static int parse_uniques(loader *ld, kv_model *m, const msgpack_object *list, size_t extra)
{
    size_t cap = (size_t)m->nfields + extra + (list && list->type == MSGPACK_OBJECT_ARRAY ? list->via.array.size : 0);
    if (!(m->uniques = zalloc(ld, sizeof(kv_unique) * cap)))
        return oom(ld);
    for (int i = 0; i < m->nfields; i++) {
        if (!m->fields[i].unique)
            continue;
        msgpack_object one, arr;
        field_names(m, &i, 1, &one, &arr);
        if (add_unique(ld, m, &arr, NULL) != 0)
            return ld->err->code;
    }
    if (!list)
        return 0;
    if (list->type != MSGPACK_OBJECT_ARRAY)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL,
                          "schema: %s: \"unique\" must be a list of constraints", m->name);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *c = &list->via.array.ptr[i];
        if (c->type == MSGPACK_OBJECT_MAP) {
            static const char *const keys[] = {"fields", "name", NULL};
            char where[KV_MAX_NAME + 32];
            snprintf(where, sizeof(where), "%s: a unique constraint", m->name);
            if (check_keys(ld, c, keys, m->name, NULL, where) != 0)
                return ld->err->code;
            if (add_unique(ld, m, kv_mp_map_get(c, "fields"), kv_mp_map_get(c, "name")) != 0)
                return ld->err->code;
        } else if (add_unique(ld, m, c, NULL) != 0) {
            return ld->err->code;
        }
    }
    return 0;
}

/* ---- secondary indexes ---- */

static const char *part_dir(const kv_index_part *p) { return p->desc ? "desc" : "asc"; }

static bool same_parts(const kv_index *a, const kv_index *b)
{
    if (a->nparts != b->nparts)
        return false;
    for (int i = 0; i < a->nparts; i++)
        if (a->parts[i].field != b->parts[i].field || a->parts[i].desc != b->parts[i].desc)
            return false;
    return true;
}

/* Reads one part of an index: a field name or {"field": name, "order": "asc"|"desc"}. */
static int parse_part(loader *ld, kv_model *m, const char *what, const msgpack_object *po, kv_index_part *part)
{
    static const char *const keys[] = {"field", "order", NULL};
    const msgpack_object *fo = po, *order = NULL;
    char q[96] = "(not a string)", where[KV_MAX_NAME * 2 + 160];
    if (po->type == MSGPACK_OBJECT_MAP) {
        snprintf(where, sizeof(where), "%s: a part of %s", m->name, what);
        if (check_keys(ld, po, keys, m->name, NULL, where) != 0)
            return ld->err->code;
        fo = kv_mp_map_get(po, "field");
        order = kv_mp_map_get(po, "order");
        if (!fo || fo->type != MSGPACK_OBJECT_STR)
            return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL,
                              "schema: %s: a part of %s needs \"field\", a field name", m->name, what);
    } else if (po->type != MSGPACK_OBJECT_STR) {
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL,
                          "schema: %s: a part of %s must be a field name or {\"field\": name, \"order\": \"asc\"|"
                          "\"desc\"}",
                          m->name, what);
    }
    int idx = kv_model_field(m, fo->via.str.ptr, fo->via.str.size);
    if (idx < 0) {
        kv_quote(q, sizeof(q), fo->via.str.ptr, fo->via.str.size);
        if (kv_mp_str_eq(fo, "id"))
            return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, "id",
                              "schema: %s: %s names the id, which needs no index (the id collection orders the "
                              "records by id)",
                              m->name, what);
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL, "schema: %s: %s names %s, which is not a field of %s",
                          m->name, what, q, m->name);
    }
    if (m->fields[idx].type == KV_T_JSON)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, m->fields[idx].name,
                          "schema: %s: %s names the json field %s; json fields cannot be indexed", m->name, what,
                          m->fields[idx].name);
    part->field = idx;
    part->desc = false;
    if (order) {
        if (kv_mp_str_eq(order, "desc"))
            part->desc = true;
        else if (!kv_mp_str_eq(order, "asc"))
            return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, m->fields[idx].name,
                              "schema: %s: %s: the order of %s must be \"asc\" or \"desc\"", m->name, what,
                              m->fields[idx].name);
    }
    return 0;
}

/* Adds an index after checking its parts (real, scalar, distinct fields, at most KV_MAX_INDEX_PARTS), its name
 * and that it repeats no other index. field_flag: the field of `"index": true`, or NULL for an `indexes` item. */
static int add_index(loader *ld, kv_model *m, const msgpack_object *parts, const msgpack_object *name,
                     const char *field_flag, uint32_t item)
{
    kv_index *x = &m->indexes[m->nindexes];
    char what[KV_MAX_NAME + 48];
    if (m->nindexes == KV_MAX_INDEXES)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL, "schema: %s: more than %d indexes", m->name,
                          KV_MAX_INDEXES);
    /* how messages call it: by its field, its name, or its place in "indexes" */
    if (field_flag)
        snprintf(what, sizeof(what), "the index of field %s", field_flag);
    else if (name && kv_is_identifier(name))
        snprintf(what, sizeof(what), "index %.*s", (int)name->via.str.size, name->via.str.ptr);
    else
        snprintf(what, sizeof(what), "\"indexes\" item %u", (unsigned)item + 1);
    if (!parts || parts->type != MSGPACK_OBJECT_ARRAY || parts->via.array.size == 0)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL,
                          "schema: %s: %s needs a non-empty list of fields", m->name, what);
    if (parts->via.array.size > KV_MAX_INDEX_PARTS)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL, "schema: %s: %s has %u parts; at most %d are allowed",
                          m->name, what, (unsigned)parts->via.array.size, KV_MAX_INDEX_PARTS);
    x->nparts = (int)parts->via.array.size;
    if (!(x->parts = zalloc(ld, sizeof(kv_index_part) * (size_t)x->nparts)))
        return oom(ld);
    size_t joined_len = 0;
    for (int i = 0; i < x->nparts; i++) {
        if (parse_part(ld, m, what, &parts->via.array.ptr[i], &x->parts[i]) != 0)
            return ld->err->code;
        for (int j = 0; j < i; j++)
            if (x->parts[j].field == x->parts[i].field)
                return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, m->fields[x->parts[i].field].name,
                                  "schema: %s: %s lists %s twice", m->name, what, m->fields[x->parts[i].field].name);
        joined_len += strlen(m->fields[x->parts[i].field].name) + 1;
    }
    if (name) {
        if (!kv_is_identifier(name))
            return bad_name(ld, "index", m->name, name);
        x->name = zstrn(ld, name->via.str.ptr, name->via.str.size);
    } else {
        /* the fields joined by '_'; the direction adds nothing, so [a, b] and [a, {b desc}] need names */
        char *j = zalloc(ld, joined_len);
        if (!j)
            return oom(ld);
        for (int i = 0; i < x->nparts; i++) {
            if (i)
                strcat(j, "_");
            strcat(j, m->fields[x->parts[i].field].name);
        }
        if (strlen(j) > KV_MAX_NAME)
            return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL,
                              "schema: %s: the default name of %s (its fields joined by '_') is longer than %d "
                              "characters; give the index a \"name\"",
                              m->name, what, KV_MAX_NAME);
        x->name = j;
    }
    if (!x->name)
        return oom(ld);
    for (int k = 0; k < m->nindexes; k++) {
        if (same_parts(&m->indexes[k], x))
            return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, m->fields[x->parts[0].field].name,
                              "schema: %s: %s has the same fields as index %s", m->name, what,
                              m->indexes[k].name);
        if (strcmp(m->indexes[k].name, x->name) == 0)
            return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL,
                              name ? "schema: %s: two indexes are named %s"
                                   : "schema: %s: two indexes are named %s (the fields joined by '_'); give one a "
                                     "\"name\"",
                              m->name, x->name);
    }
    m->nindexes++;
    return 0;
}

/* The one-field indexes of `"index": true` (in field order), then the `indexes` list. */
static int parse_indexes(loader *ld, kv_model *m, const bool *flags, const msgpack_object *list, size_t extra)
{
    size_t cap = (size_t)m->nfields + extra + (list && list->type == MSGPACK_OBJECT_ARRAY ? list->via.array.size : 0);
    if (!(m->indexes = zalloc(ld, sizeof(kv_index) * cap)))
        return oom(ld);
    for (int i = 0; i < m->nfields; i++) {
        if (!flags[i])
            continue;
        msgpack_object one, arr;
        field_names(m, &i, 1, &one, &arr);
        if (add_index(ld, m, &arr, NULL, m->fields[i].name, 0) != 0)
            return ld->err->code;
    }
    if (!list)
        return 0;
    if (list->type != MSGPACK_OBJECT_ARRAY)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL,
                          "schema: %s: \"indexes\" must be a list of indexes", m->name);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *c = &list->via.array.ptr[i];
        if (c->type == MSGPACK_OBJECT_MAP) {
            static const char *const keys[] = {"fields", "name", NULL};
            char where[KV_MAX_NAME + 32];
            snprintf(where, sizeof(where), "%s: an index", m->name);
            if (check_keys(ld, c, keys, m->name, NULL, where) != 0)
                return ld->err->code;
            if (add_index(ld, m, kv_mp_map_get(c, "fields"), kv_mp_map_get(c, "name"), NULL, i) != 0)
                return ld->err->code;
        } else if (c->type == MSGPACK_OBJECT_ARRAY) {
            if (add_index(ld, m, c, NULL, NULL, i) != 0)
                return ld->err->code;
        } else {
            return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL,
                              "schema: %s: each index is a list of fields or {\"fields\": [...], \"name\": ...}",
                              m->name);
        }
    }
    return 0;
}

static int compare_field_names(const void *a, const void *b)
{
    return strcmp((*(const kv_field *const *)a)->name, (*(const kv_field *const *)b)->name);
}

static int compare_unique_names(const void *a, const void *b)
{
    return strcmp((*(const kv_unique *const *)a)->name, (*(const kv_unique *const *)b)->name);
}

static int compare_index_names(const void *a, const void *b)
{
    return strcmp((*(const kv_index *const *)a)->name, (*(const kv_index *const *)b)->name);
}

/* The stored layout: what the data depends on, in a canonical order (names sorted), so that equal layouts are
 * equal bytes. Defaults are left out: changing one never changes stored data. */
static int build_layout(loader *ld, kv_model *m)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc = 0;
    const kv_field **fs = calloc((size_t)m->nfields + 1, sizeof(*fs));
    const kv_unique **us = calloc((size_t)m->nuniques + 1, sizeof(*us));
    const kv_index **xs = calloc((size_t)m->nindexes + 1, sizeof(*xs));
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (!fs || !us || !xs) {
        rc = oom(ld);
        goto done;
    }
    for (int i = 0; i < m->nfields; i++)
        fs[i] = &m->fields[i];
    for (int i = 0; i < m->nuniques; i++)
        us[i] = &m->uniques[i];
    qsort(fs, (size_t)m->nfields, sizeof(*fs), compare_field_names);
    for (int i = 0; i < m->nindexes; i++)
        xs[i] = &m->indexes[i];
    qsort(us, (size_t)m->nuniques, sizeof(*us), compare_unique_names);
    qsort(xs, (size_t)m->nindexes, sizeof(*xs), compare_index_names);
    msgpack_pack_map(&pk, 5);
    kv_pack_cstr(&pk, "format");
    msgpack_pack_int(&pk, KV_FORMAT_VERSION);
    kv_pack_cstr(&pk, "id");
    kv_pack_cstr(&pk, id_names[m->id_kind]);
    kv_pack_cstr(&pk, "fields");
    msgpack_pack_map(&pk, (size_t)m->nfields);
    for (int i = 0; i < m->nfields; i++) {
        const kv_field *f = fs[i];
        kv_pack_cstr(&pk, f->name);
        msgpack_pack_map(&pk, f->type == KV_T_ENUM ? 3 : 2);
        kv_pack_cstr(&pk, "type");
        kv_pack_cstr(&pk, kv_type_name(f->type));
        kv_pack_cstr(&pk, "optional");
        f->optional ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
        if (f->type == KV_T_ENUM) {
            kv_pack_cstr(&pk, "values");
            msgpack_pack_array(&pk, (size_t)f->nvalues);
            for (int v = 0; v < f->nvalues; v++)
                kv_pack_strn(&pk, f->values[v], f->value_lens[v]);
        }
    }
    kv_pack_cstr(&pk, "unique");
    msgpack_pack_array(&pk, (size_t)m->nuniques);
    for (int i = 0; i < m->nuniques; i++) {
        msgpack_pack_array(&pk, 2);
        kv_pack_cstr(&pk, us[i]->name);
        msgpack_pack_array(&pk, (size_t)us[i]->nfields);
        for (int k = 0; k < us[i]->nfields; k++)
            kv_pack_cstr(&pk, m->fields[us[i]->fields[k]].name);
    }
    /* format 2: [name, [[field, "asc"|"desc"]...]] per index */
    kv_pack_cstr(&pk, "indexes");
    msgpack_pack_array(&pk, (size_t)m->nindexes);
    for (int i = 0; i < m->nindexes; i++) {
        msgpack_pack_array(&pk, 2);
        kv_pack_cstr(&pk, xs[i]->name);
        msgpack_pack_array(&pk, (size_t)xs[i]->nparts);
        for (int k = 0; k < xs[i]->nparts; k++) {
            msgpack_pack_array(&pk, 2);
            kv_pack_cstr(&pk, m->fields[xs[i]->parts[k].field].name);
            kv_pack_cstr(&pk, part_dir(&xs[i]->parts[k]));
        }
    }
    if (!(m->layout = zstrn(ld, sb.data, sb.size)))
        rc = oom(ld);
    m->layout_len = sb.size;
done:
    free(fs);
    free(us);
    free(xs);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* A model's own parts; its relations (*relations, the "relations" map or NULL) are resolved once every model is
 * loaded, and its layout built after that. */
static int parse_model(loader *ld, kv_model *m, const msgpack_object *name, const msgpack_object *o,
                       const msgpack_object **relations)
{
    static const char *const keys[] = {"id", "fields", "unique", "indexes", "relations", NULL};
    bool *index_flags;
    if (!kv_is_identifier(name))
        return bad_name(ld, "model", NULL, name);
    if (!(m->name = zstrn(ld, name->via.str.ptr, name->via.str.size)))
        return oom(ld);
    if (o->type != MSGPACK_OBJECT_MAP)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL, "schema: model %s must be a map", m->name);
    if (check_keys(ld, o, keys, m->name, NULL, m->name) != 0 || parse_id(ld, m, kv_mp_map_get(o, "id")) != 0)
        return ld->err->code;
    const msgpack_object *fields = kv_mp_map_get(o, "fields");
    if (!fields || fields->type != MSGPACK_OBJECT_MAP)
        return kv_fail_at(ld->err, KVORM_ESCHEMA, m->name, NULL, "schema: model %s needs \"fields\", a map", m->name);
    if (!(m->fields = zalloc(ld, sizeof(kv_field) * fields->via.map.size)) ||
        !(index_flags = zalloc(ld, sizeof(bool) * fields->via.map.size)))
        return oom(ld);
    for (uint32_t i = 0; i < fields->via.map.size; i++) {
        if (parse_field(ld, m, &m->fields[i], &fields->via.map.ptr[i].key, &fields->via.map.ptr[i].val,
                        &index_flags[i]) != 0)
            return ld->err->code;
        m->nfields++;
    }
    *relations = kv_mp_map_get(o, "relations");
    size_t extra = *relations && (*relations)->type == MSGPACK_OBJECT_MAP ? (*relations)->via.map.size : 0;
    if (parse_uniques(ld, m, kv_mp_map_get(o, "unique"), extra) != 0 ||
        parse_indexes(ld, m, index_flags, kv_mp_map_get(o, "indexes"), extra) != 0)
        return ld->err->code;
    return 0;
}

static bool same_list(const int *a, int na, const int *b, int nb)
{
    return na == nb && memcmp(a, b, sizeof(int) * (size_t)na) == 0;
}

/* Each belongsTo's foreign key has an index whose leading parts are its fields (one is added when the model has
 * none), and a unique constraint of exactly its fields when a hasOne is the inverse (one record at most may point
 * at each target): lookups use the unique, deletes of the target the index. */
static int add_foreign_keys(loader *ld, const kvorm_schema *s, kv_model *m)
{
    for (int k = 0; k < m->nrelations; k++) {
        kv_relation *r = &m->relations[k];
        msgpack_object names[KV_MAX_INDEX_PARTS], list;
        if (r->kind != KV_REL_BELONGS_TO)
            continue;
        for (int u = 0; u < m->nuniques && r->fk_unique < 0; u++)
            if (same_list(m->uniques[u].fields, m->uniques[u].nfields, r->fields, r->nfields))
                r->fk_unique = u;
        for (int x = 0; x < m->nindexes && r->fk_index < 0; x++) {
            const kv_index *ix = &m->indexes[x];
            bool leads = ix->nparts >= r->nfields;
            for (int i = 0; leads && i < r->nfields; i++)
                leads = ix->parts[i].field == r->fields[i];
            if (leads)
                r->fk_index = x;
        }
        field_names(m, r->fields, r->nfields, names, &list);
        if (r->fk_unique < 0 && kv_relation_needs_unique(s, m, k)) {
            if (add_unique(ld, m, &list, NULL) != 0)
                return ld->err->code;
            r->fk_unique = m->nuniques - 1;
        }
        /* the index also when a unique serves lookups: a delete of the target counts its range */
        if (r->fk_index < 0) {
            if (add_index(ld, m, &list, NULL, NULL, 0) != 0)
                return ld->err->code;
            r->fk_index = m->nindexes - 1;
        }
    }
    return 0;
}

int kv_schema_load(kvorm_schema **out, const char *doc, size_t len, kv_error *err)
{
    static const char *const keys[] = {"namespace", "models", NULL};
    msgpack_object root;
    kvorm_schema *s = calloc(1, sizeof(*s));
    loader ld = {NULL, err};
    char *copy;
    *out = NULL;
    if (!s || !(s->zone = ld.zone = msgpack_zone_new(8192)) || !(copy = msgpack_zone_malloc(ld.zone, len ? len : 1))) {
        kv_fail(err, KVORM_EINTERNAL, "out of memory loading the schema");
        goto fail;
    }
    memcpy(copy, doc, len);
    if (kv_mp_unpack(ld.zone, copy, len, &root) != KV_MP_OK) {
        kv_fail(err, KVORM_ESCHEMA, "schema: not a well-formed MessagePack document (or nested deeper than %d)",
                KV_MAX_DEPTH);
        goto fail;
    }
    if (root.type != MSGPACK_OBJECT_MAP) {
        kv_fail(err, KVORM_ESCHEMA, "schema: the document must be a map with \"namespace\" and \"models\"");
        goto fail;
    }
    if (check_keys(&ld, &root, keys, NULL, NULL, "the schema") != 0)
        goto fail;
    const msgpack_object *ns = kv_mp_map_get(&root, "namespace"), *models = kv_mp_map_get(&root, "models");
    if (!ns) {
        kv_fail(err, KVORM_ESCHEMA, "schema: \"namespace\" is required");
        goto fail;
    }
    if (!kv_is_identifier(ns)) {
        bad_name(&ld, "namespace", NULL, ns);
        goto fail;
    }
    if (!models || models->type != MSGPACK_OBJECT_MAP || models->via.map.size == 0) {
        kv_fail(err, KVORM_ESCHEMA, "schema: \"models\" must be a map with at least one model");
        goto fail;
    }
    uint32_t joins = kv_implicit_join_bound(models);
    if (!(s->ns = zstrn(&ld, ns->via.str.ptr, ns->via.str.size)) ||
        !(s->models = zalloc(&ld, sizeof(kv_model) * (models->via.map.size + joins)))) {
        oom(&ld);
        goto fail;
    }
    const msgpack_object **relations = zalloc(&ld, sizeof(*relations) * (models->via.map.size + joins));
    msgpack_object *join_names = zalloc(&ld, sizeof(msgpack_object) * (joins + 1));
    msgpack_object *join_docs = zalloc(&ld, sizeof(msgpack_object) * (joins + 1));
    if (!relations || !join_names || !join_docs) {
        oom(&ld);
        goto fail;
    }
    for (uint32_t i = 0; i < models->via.map.size; i++) {
        const msgpack_object *name = &models->via.map.ptr[i].key;
        if (name->type == MSGPACK_OBJECT_STR && kv_schema_model(s, name->via.str.ptr, name->via.str.size)) {
            kv_fail_at(err, KVORM_ESCHEMA, NULL, NULL, "schema: model %.*s is declared twice", (int)name->via.str.size,
                       name->via.str.ptr);
            goto fail;
        }
        s->models[i].position = (int)i;
        if (parse_model(&ld, &s->models[i], name, &models->via.map.ptr[i].val, &relations[i]) != 0)
            goto fail;
        s->nmodels++;
    }
    /* the join models of manyToMany relations without "through", then parsed as the schema's own */
    int njoins = 0;
    if (kv_implicit_joins(s, relations, ld.zone, joins, join_names, join_docs, &njoins, err) != 0)
        goto fail;
    for (int i = 0; i < njoins; i++) {
        s->models[s->nmodels].position = s->nmodels;
        if (parse_model(&ld, &s->models[s->nmodels], &join_names[i], &join_docs[i], &relations[s->nmodels]) != 0)
            goto fail;
        s->nmodels++;
    }
    if (kv_relations_parse(s, relations, ld.zone, err) != 0)
        goto fail;
    for (int i = 0; i < s->nmodels; i++)
        if (add_foreign_keys(&ld, s, &s->models[i]) != 0 || build_layout(&ld, &s->models[i]) != 0)
            goto fail;
    s->refcount = 1;
    *out = s;
    return 0;
fail:
    /* the model and field names of err live in the zone freed here: the message names them */
    err->model = NULL;
    err->nfields = 0;
    if (s && s->zone)
        msgpack_zone_free(s->zone);
    free(s);
    return err->code;
}

kvorm_schema *kv_schema_ref(const kvorm_schema *cs)
{
    kvorm_schema *s = (kvorm_schema *)cs;
    __atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED);
    return s;
}

void kv_schema_unref(kvorm_schema *s)
{
    if (s && __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
        msgpack_zone_free(s->zone);
        free(s);
    }
}

const kv_model *kv_schema_model(const kvorm_schema *s, const char *name, size_t len)
{
    for (int i = 0; i < s->nmodels; i++)
        if (strlen(s->models[i].name) == len && memcmp(s->models[i].name, name, len) == 0)
            return &s->models[i];
    return NULL;
}

int kv_model_field(const kv_model *m, const char *name, size_t len)
{
    for (int i = 0; i < m->nfields; i++)
        if (m->fields[i].name_len == len && memcmp(m->fields[i].name, name, len) == 0)
            return i;
    return -1;
}

int kv_model_index(const kv_model *m, const char *name, size_t len)
{
    for (int i = 0; i < m->nindexes; i++)
        if (strlen(m->indexes[i].name) == len && memcmp(m->indexes[i].name, name, len) == 0)
            return i;
    return -1;
}

int kv_model_relation(const kv_model *m, const char *name, size_t len)
{
    for (int i = 0; i < m->nrelations; i++)
        if (m->relations[i].name_len == len && memcmp(m->relations[i].name, name, len) == 0)
            return i;
    return -1;
}

int kv_model_unique(const kv_model *m, const char *name, size_t len)
{
    for (int i = 0; i < m->nuniques; i++)
        if (strlen(m->uniques[i].name) == len && memcmp(m->uniques[i].name, name, len) == 0)
            return i;
    return -1;
}

/* ---- compatibility of a stored layout with the current one ---- */

static int mismatch(kv_error *err, const kv_model *m, const char *field, const char *what)
{
    return kv_fail_at(err, KVORM_ESCHEMA_MISMATCH, m->name, field,
                      "%s: the stored data was written with an incompatible schema: %s (docs/schema.md)", m->name, what);
}

static bool all_strings(const msgpack_object *arr)
{
    if (arr->type != MSGPACK_OBJECT_ARRAY)
        return false;
    for (uint32_t i = 0; i < arr->via.array.size; i++)
        if (arr->via.array.ptr[i].type != MSGPACK_OBJECT_STR)
            return false;
    return true;
}

/* A field of a stored layout: {"type": str, "optional": bool[, "values": [str...]]}. */
static bool field_readable(const msgpack_object *name, const msgpack_object *desc)
{
    const msgpack_object *type, *opt, *vals;
    if (name->type != MSGPACK_OBJECT_STR || desc->type != MSGPACK_OBJECT_MAP)
        return false;
    type = kv_mp_map_get(desc, "type");
    opt = kv_mp_map_get(desc, "optional");
    vals = kv_mp_map_get(desc, "values");
    return type && type->type == MSGPACK_OBJECT_STR && opt && opt->type == MSGPACK_OBJECT_BOOLEAN &&
           (!vals || all_strings(vals));
}

/* An index of a stored layout: [name, [[field, "asc"|"desc"]...]]. The name must be an identifier: the engine
 * names keys after the indexes it drops. */
static bool index_readable(const msgpack_object *x)
{
    if (x->type != MSGPACK_OBJECT_ARRAY || x->via.array.size != 2 || !kv_is_identifier(&x->via.array.ptr[0]))
        return false;
    const msgpack_object *parts = &x->via.array.ptr[1];
    if (parts->type != MSGPACK_OBJECT_ARRAY || parts->via.array.size == 0 || parts->via.array.size > KV_MAX_INDEX_PARTS)
        return false;
    for (uint32_t i = 0; i < parts->via.array.size; i++) {
        const msgpack_object *p = &parts->via.array.ptr[i];
        if (p->type != MSGPACK_OBJECT_ARRAY || p->via.array.size != 2 || !all_strings(p))
            return false;
    }
    return true;
}

/* Checks every type of a stored layout of this format (it lives in Redis, where anything may have changed it)
 * before reading it: {format: uint, id: str, fields: {name: field}, unique: [[name, [field...]]...],
 * indexes: [index...]}. */
static bool layout_readable(const msgpack_object *root)
{
    const msgpack_object *format, *id, *fields, *uniques, *indexes;
    if (root->type != MSGPACK_OBJECT_MAP || !(format = kv_mp_map_get(root, "format")) ||
        format->type != MSGPACK_OBJECT_POSITIVE_INTEGER || !(id = kv_mp_map_get(root, "id")) ||
        id->type != MSGPACK_OBJECT_STR || !(fields = kv_mp_map_get(root, "fields")) ||
        fields->type != MSGPACK_OBJECT_MAP || !(uniques = kv_mp_map_get(root, "unique")) ||
        uniques->type != MSGPACK_OBJECT_ARRAY || !(indexes = kv_mp_map_get(root, "indexes")) ||
        indexes->type != MSGPACK_OBJECT_ARRAY)
        return false;
    for (uint32_t i = 0; i < indexes->via.array.size; i++)
        if (!index_readable(&indexes->via.array.ptr[i]))
            return false;
    for (uint32_t i = 0; i < fields->via.map.size; i++)
        if (!field_readable(&fields->via.map.ptr[i].key, &fields->via.map.ptr[i].val))
            return false;
    for (uint32_t i = 0; i < uniques->via.array.size; i++) {
        const msgpack_object *u = &uniques->via.array.ptr[i];
        if (u->type != MSGPACK_OBJECT_ARRAY || u->via.array.size != 2 ||
            u->via.array.ptr[0].type != MSGPACK_OBJECT_STR || !all_strings(&u->via.array.ptr[1]))
            return false;
    }
    return true;
}

/* A name read from the stored layout, for a message. */
static void stored_name(char *buf, size_t cap, const msgpack_object *s)
{
    kv_sanitize(buf, cap, s->via.str.ptr, s->via.str.size);
}

/* What makes a stored field incompatible with f, written to what; false when nothing does. */
static bool field_changed(const kv_field *f, const msgpack_object *desc, char *what, size_t cap)
{
    const msgpack_object *opt = kv_mp_map_get(desc, "optional"), *vals = kv_mp_map_get(desc, "values");
    char v[96];
    if (!kv_mp_str_eq(kv_mp_map_get(desc, "type"), kv_type_name(f->type))) {
        snprintf(what, cap, "field %s changed type to %s", f->name, kv_type_name(f->type));
        return true;
    }
    if (opt->via.boolean && !f->optional) {
        snprintf(what, cap, "optional field %s became required", f->name);
        return true;
    }
    for (uint32_t i = 0; vals && i < vals->via.array.size; i++) {
        if (!enum_has(f, f->nvalues, &vals->via.array.ptr[i])) {
            stored_name(v, sizeof(v), &vals->via.array.ptr[i]);
            snprintf(what, cap, "enum value %s of field %s was removed", v, f->name);
            return true;
        }
    }
    return false;
}

/* Whether the parts of stored index sx (checked by index_readable) are those of x. */
static bool index_same(const kv_model *m, const kv_index *x, const msgpack_object *sx)
{
    const msgpack_object *parts = &sx->via.array.ptr[1];
    if ((int)parts->via.array.size != x->nparts)
        return false;
    for (int i = 0; i < x->nparts; i++) {
        const msgpack_object *p = parts->via.array.ptr[i].via.array.ptr;
        if (!kv_mp_str_eq(&p[0], m->fields[x->parts[i].field].name) || !kv_mp_str_eq(&p[1], part_dir(&x->parts[i])))
            return false;
    }
    return true;
}

static bool unique_same(const kv_model *m, const kv_unique *u, const msgpack_object *su)
{
    const msgpack_object *fields = &su->via.array.ptr[1];
    if ((int)fields->via.array.size != u->nfields)
        return false;
    for (int i = 0; i < u->nfields; i++)
        if (!kv_mp_str_eq(&fields->via.array.ptr[i], m->fields[u->fields[i]].name))
            return false;
    return true;
}

/* Decodes a stored layout into root (in zone) once its format is this one and every type is checked;
 * SCHEMA_MISMATCH otherwise. */
static int read_stored(const kv_model *m, const char *stored, size_t len, msgpack_zone *zone, msgpack_object *root,
                       kv_error *err)
{
    char what[256];
    const msgpack_object *format;
    if (kv_mp_unpack(zone, stored, len, root) != KV_MP_OK || !(format = kv_mp_map_get(root, "format")) ||
        format->type != MSGPACK_OBJECT_POSITIVE_INTEGER || format->via.u64 == 0)
        return mismatch(err, m, NULL, "the stored layout is unreadable");
    /* the format is checked before the rest: another format has other keys */
    if (format->via.u64 == 1)
        return mismatch(err, m, NULL,
                        "the dataset was written by kvorm 0.1 (format 1); this version reads format 2 and does not "
                        "migrate it automatically: export the data with kvorm 0.1 and reimport it");
    if (format->via.u64 > KV_FORMAT_VERSION) {
        snprintf(what, sizeof(what), "it was written by a newer kvorm (format %llu; this version reads format %d)",
                 (unsigned long long)format->via.u64, KV_FORMAT_VERSION);
        return mismatch(err, m, NULL, what);
    }
    if (!layout_readable(root))
        return mismatch(err, m, NULL, "the stored layout is unreadable");
    return 0;
}

int kv_layout_compare(const kv_model *m, const char *stored, size_t stored_len, kv_error *err)
{
    char what[256], name[96];
    msgpack_zone *zone;
    msgpack_object root;
    int rc = 1;
    if (stored_len == m->layout_len && memcmp(stored, m->layout, stored_len) == 0)
        return 0;
    if (!(zone = msgpack_zone_new(2048)))
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    if ((rc = read_stored(m, stored, stored_len, zone, &root, err)) != 0)
        goto done;
    rc = 1;
    const msgpack_object *id = kv_mp_map_get(&root, "id"), *fields = kv_mp_map_get(&root, "fields");
    const msgpack_object *uniques = kv_mp_map_get(&root, "unique"), *indexes = kv_mp_map_get(&root, "indexes");
    if (!kv_mp_str_eq(id, id_names[m->id_kind])) {
        stored_name(name, sizeof(name), id);
        snprintf(what, sizeof(what), "the id strategy changed from %s to %s", name, id_names[m->id_kind]);
        rc = mismatch(err, m, "id", what);
        goto done;
    }
    for (uint32_t i = 0; i < fields->via.map.size; i++) {
        const msgpack_object *key = &fields->via.map.ptr[i].key;
        int idx = kv_model_field(m, key->via.str.ptr, key->via.str.size);
        if (idx < 0) {
            stored_name(name, sizeof(name), key);
            snprintf(what, sizeof(what), "field %s was removed", name);
            rc = mismatch(err, m, NULL, what);
            goto done;
        }
        if (field_changed(&m->fields[idx], &fields->via.map.ptr[i].val, what, sizeof(what))) {
            rc = mismatch(err, m, m->fields[idx].name, what);
            goto done;
        }
    }
    for (int i = 0; i < m->nfields; i++) {
        if (!kv_mp_map_get(fields, m->fields[i].name) && !m->fields[i].optional) {
            snprintf(what, sizeof(what), "new field %s is required (new fields must be optional)", m->fields[i].name);
            rc = mismatch(err, m, m->fields[i].name, what);
            goto done;
        }
    }
    /* An added or removed unique constraint is compatible (the engine builds or drops its entries); other fields
     * under the same name are not: the stored entries hold other values. */
    for (uint32_t i = 0; i < uniques->via.array.size; i++) {
        const msgpack_object *su = &uniques->via.array.ptr[i], *sname = &su->via.array.ptr[0];
        int k = kv_model_unique(m, sname->via.str.ptr, sname->via.str.size);
        if (k >= 0 && !unique_same(m, &m->uniques[k], su)) {
            snprintf(what, sizeof(what),
                     "unique constraint %s changed its fields; give the changed constraint another name (the old one "
                     "is then dropped and the new one built)",
                     m->uniques[k].name);
            rc = mismatch(err, m, NULL, what);
            goto done;
        }
    }
    /* An added or removed index is compatible (the engine builds or drops it); other parts under the same name
     * are not: the entries already stored would be in another order. */
    for (uint32_t i = 0; i < indexes->via.array.size; i++) {
        const msgpack_object *sx = &indexes->via.array.ptr[i], *sname = &sx->via.array.ptr[0];
        int k = kv_model_index(m, sname->via.str.ptr, sname->via.str.size);
        if (k >= 0 && !index_same(m, &m->indexes[k], sx)) {
            snprintf(what, sizeof(what),
                     "index %s changed its fields or their order; give the changed index another name (the old one "
                     "is then dropped and the new one built)",
                     m->indexes[k].name);
            rc = mismatch(err, m, NULL, what);
            goto done;
        }
    }
done:
    msgpack_zone_free(zone);
    return rc;
}

/* The names (copied into zone) of the stored items (indexes or uniques: [name, ...] each) that find() does not
 * know any more; marks the others not new. */
static int removed_names(const msgpack_object *list, const kv_model *m, int (*find)(const kv_model *, const char *,
                         size_t), bool *is_new, const char ***out, int *nout, msgpack_zone *zone, kv_error *err)
{
    const char **gone = msgpack_zone_malloc(zone, sizeof(char *) * (list->via.array.size + 1));
    *out = gone;
    *nout = 0;
    if (!gone)
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *sname = &list->via.array.ptr[i].via.array.ptr[0];
        int k = find(m, sname->via.str.ptr, sname->via.str.size);
        if (k >= 0) {
            is_new[k] = false; /* same definition: kv_layout_compare said so */
            continue;
        }
        char *copy = msgpack_zone_malloc(zone, sname->via.str.size + 1);
        if (!copy)
            return kv_fail(err, KVORM_EINTERNAL, "out of memory");
        memcpy(copy, sname->via.str.ptr, sname->via.str.size); /* an identifier: never empty */
        copy[sname->via.str.size] = '\0';
        gone[(*nout)++] = copy;
    }
    return 0;
}

int kv_layout_index_changes(const kv_model *m, const char *stored, size_t stored_len, bool *is_new,
                            kv_layout_removed *removed, msgpack_zone *zone, kv_error *err)
{
    msgpack_object root;
    memset(removed, 0, sizeof(*removed));
    for (int i = 0; i < kv_model_nbuilt(m); i++)
        is_new[i] = true;
    if (!stored || stored_len == 0)
        return 0;
    int rc = kv_layout_compare(m, stored, stored_len, err);
    if (rc < 0)
        return rc;
    if (read_stored(m, stored, stored_len, zone, &root, err) != 0)
        return err->code;
    if ((rc = removed_names(kv_mp_map_get(&root, "indexes"), m, kv_model_index, is_new, &removed->indexes,
                            &removed->nindexes, zone, err)) != 0)
        return rc;
    return removed_names(kv_mp_map_get(&root, "unique"), m, kv_model_unique, is_new + m->nindexes,
                         &removed->uniques, &removed->nuniques, zone, err);
}
