/* where: parsing into a predicate tree (docs/queries.md, "where") and evaluation with SQL's three-valued logic.
 *
 * Every operand is encoded once, at parse time, into the canonical stored form of its field (an id operand into
 * id text), so evaluation is a comparison of bytes by kv_value_cmp / kv_id_cmp and the planner can turn operands
 * into index keys directly. Nodes and operands live in the filter's zone. */
#include "filter.h"

#include "compare.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* A bound on the tree's depth of our own, beside the request's MessagePack depth limit: a caller may hand us a
 * msgpack_object built by hand. */
#define MAX_FILTER_DEPTH 64

typedef struct parser {
    const kv_model *m;
    kv_mode mode;
    kv_error *err;
    msgpack_zone *zone;
    msgpack_sbuffer buf; /* scratch for encoding one operand */
    int depth;
} parser;

static int oom(parser *p)
{
    return kv_fail(p->err, KVORM_EINTERNAL, "out of memory");
}

static const char *field_name(const parser *p, int field)
{
    return field == KV_FIELD_ID ? "id" : p->m->fields[field].name;
}

static kv_node *new_node(parser *p, kv_node_kind kind, uint32_t nkids)
{
    kv_node *n = msgpack_zone_malloc(p->zone, sizeof(*n));
    if (!n)
        return NULL;
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    if (nkids > 0) {
        n->kids = msgpack_zone_malloc(p->zone, sizeof(*n->kids) * nkids);
        if (!n->kids)
            return NULL;
    }
    return n;
}

/* A predicate node with room for nvals operands. */
static kv_node *new_pred(parser *p, int field, kv_cmp cmp, int nvals)
{
    kv_node *n = new_node(p, KV_NODE_PRED, 0);
    if (!n)
        return NULL;
    n->pred.field = field;
    n->pred.cmp = cmp;
    if (nvals > 0) {
        n->pred.vals = msgpack_zone_malloc(p->zone, sizeof(*n->pred.vals) * (size_t)nvals);
        n->pred.lens = msgpack_zone_malloc(p->zone, sizeof(*n->pred.lens) * (size_t)nvals);
        if (!n->pred.vals || !n->pred.lens)
            return NULL;
    }
    return n;
}

static bool is_text_field(const parser *p, int field)
{
    return field == KV_FIELD_ID ? !kv_id_is_integer(p->m) : p->m->fields[field].type == KV_T_STRING;
}

/* Encodes operand v (not nil) of field into its canonical form, copied into the zone. startsWith, endsWith and
 * contains on the id take any text (an empty or partial id), so they are not checked as ids. */
static int encode_operand(parser *p, int field, const msgpack_object *v, bool text_op, const char **out,
                          size_t *out_len)
{
    char idtext[KV_MAX_ID_BYTES + 1];
    const char *src;
    size_t len;
    int rc;
    if (field == KV_FIELD_ID && text_op) {
        if (v->type != MSGPACK_OBJECT_STR)
            return kv_fail_at(p->err, KVORM_EVALIDATION, p->m->name, "id", "%s.id: expected text, got %s",
                              p->m->name, kv_mp_type_name(v));
        if (!kv_utf8_valid(v->via.str.ptr, v->via.str.size))
            return kv_fail_at(p->err, KVORM_EVALIDATION, p->m->name, "id", "%s.id: text is not valid UTF-8",
                              p->m->name);
        src = v->via.str.ptr;
        len = v->via.str.size;
    } else if (field == KV_FIELD_ID) {
        if ((rc = kv_id_encode(idtext, &len, p->m, v, p->err)) != 0)
            return rc;
        src = idtext;
    } else {
        p->buf.size = 0;
        if ((rc = kv_value_encode(&p->buf, p->m, &p->m->fields[field], v, p->mode, p->err)) != 0)
            return rc;
        src = p->buf.data;
        len = p->buf.size;
    }
    char *copy = msgpack_zone_malloc(p->zone, len ? len : 1);
    if (!copy)
        return oom(p);
    if (len)
        memcpy(copy, src, len);
    *out = copy;
    *out_len = len;
    return 0;
}

static int operand_cmp(const parser *p, int field, const char *a, size_t alen, const char *b, size_t blen)
{
    return field == KV_FIELD_ID ? kv_id_cmp(p->m, a, alen, b, blen)
                                : kv_value_cmp(p->m->fields[field].type, a, alen, b, blen);
}

/* Heap sort of a pred's operands by value order (in place, no recursion, O(n log n) for long in lists). */
static void sift(const parser *p, kv_pred *q, int root, int n)
{
    for (;;) {
        int child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n &&
            operand_cmp(p, q->field, q->vals[child], q->lens[child], q->vals[child + 1], q->lens[child + 1]) < 0)
            child++;
        if (operand_cmp(p, q->field, q->vals[root], q->lens[root], q->vals[child], q->lens[child]) >= 0)
            return;
        const char *tv = q->vals[root];
        size_t tl = q->lens[root];
        q->vals[root] = q->vals[child];
        q->lens[root] = q->lens[child];
        q->vals[child] = tv;
        q->lens[child] = tl;
        root = child;
    }
}

static void sort_dedup(const parser *p, kv_pred *q)
{
    int n = q->nvals;
    for (int i = n / 2 - 1; i >= 0; i--)
        sift(p, q, i, n);
    for (int end = n - 1; end > 0; end--) {
        const char *tv = q->vals[0];
        size_t tl = q->lens[0];
        q->vals[0] = q->vals[end];
        q->lens[0] = q->lens[end];
        q->vals[end] = tv;
        q->lens[end] = tl;
        sift(p, q, 0, end);
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (k > 0 && operand_cmp(p, q->field, q->vals[k - 1], q->lens[k - 1], q->vals[i], q->lens[i]) == 0)
            continue;
        q->vals[k] = q->vals[i];
        q->lens[k] = q->lens[i];
        k++;
    }
    q->nvals = k;
}

/* A one-operand comparison. */
static int make_cmp(parser *p, int field, kv_cmp cmp, const msgpack_object *v, kv_node **out)
{
    bool text_op = cmp == KV_CMP_STARTS || cmp == KV_CMP_ENDS || cmp == KV_CMP_CONTAINS;
    kv_node *n = new_pred(p, field, cmp, 1);
    if (!n)
        return oom(p);
    n->pred.nvals = 1;
    int rc = encode_operand(p, field, v, text_op, &n->pred.vals[0], &n->pred.lens[0]);
    if (rc != 0)
        return rc;
    *out = n;
    return 0;
}

static int make_null_test(parser *p, int field, bool is_null, kv_node **out)
{
    if (!(*out = new_pred(p, field, is_null ? KV_CMP_IS_NULL : KV_CMP_NOT_NULL, 0)))
        return oom(p);
    return 0;
}

static int make_in(parser *p, int field, kv_cmp cmp, const char *op, const msgpack_object *v, kv_node **out)
{
    const kv_model *m = p->m;
    if (v->type != MSGPACK_OBJECT_ARRAY)
        return kv_fail_at(p->err, KVORM_EBAD_REQUEST, m->name, field_name(p, field),
                          "where: %s.%s: %s takes an array, got %s", m->name, field_name(p, field), op,
                          kv_mp_type_name(v));
    if (v->via.array.size > INT32_MAX)
        return kv_fail_at(p->err, KVORM_EBAD_REQUEST, m->name, field_name(p, field), "where: %s.%s: %s is too long",
                          m->name, field_name(p, field), op);
    int count = (int)v->via.array.size;
    kv_node *n = new_pred(p, field, cmp, count);
    if (!n)
        return oom(p);
    for (int i = 0; i < count; i++) {
        const msgpack_object *e = &v->via.array.ptr[i];
        if (e->type == MSGPACK_OBJECT_NIL)
            return kv_fail_at(p->err, KVORM_EVALIDATION, m->name, field_name(p, field),
                              "%s.%s: %s holds null (test for null with null or {\"not\": null})", m->name,
                              field_name(p, field), op);
        int rc = encode_operand(p, field, e, false, &n->pred.vals[i], &n->pred.lens[i]);
        if (rc != 0)
            return rc;
        n->pred.nvals = i + 1;
    }
    sort_dedup(p, &n->pred);
    *out = n;
    return 0;
}

static int parse_ops(parser *p, int field, const msgpack_object *ops, kv_node **out);

/* The operators of an operator map. */
typedef enum op_kind {
    OP_EQUALS, OP_NOT, OP_IN, OP_NOT_IN, OP_LT, OP_LTE, OP_GT, OP_GTE, OP_STARTS, OP_ENDS, OP_CONTAINS, OP_UNKNOWN
} op_kind;

static const struct {
    const char *name;
    op_kind kind;
    kv_cmp cmp;
} op_table[] = {
    {"equals", OP_EQUALS, KV_CMP_EQ},    {"not", OP_NOT, KV_CMP_NE},          {"in", OP_IN, KV_CMP_IN},
    {"notIn", OP_NOT_IN, KV_CMP_NOT_IN}, {"lt", OP_LT, KV_CMP_LT},            {"lte", OP_LTE, KV_CMP_LTE},
    {"gt", OP_GT, KV_CMP_GT},            {"gte", OP_GTE, KV_CMP_GTE},         {"startsWith", OP_STARTS, KV_CMP_STARTS},
    {"endsWith", OP_ENDS, KV_CMP_ENDS},  {"contains", OP_CONTAINS, KV_CMP_CONTAINS},
};

/* One operator of field's operator map. */
static int parse_op(parser *p, int field, const msgpack_object *key, const msgpack_object *v, kv_node **out)
{
    const kv_model *m = p->m;
    const char *fname = field_name(p, field);
    char q[96];
    if (key->type != MSGPACK_OBJECT_STR)
        return kv_fail_at(p->err, KVORM_EBAD_REQUEST, m->name, fname,
                          "where: %s.%s: an operator is a string, got %s", m->name, fname, kv_mp_type_name(key));
    size_t k = 0, nops = sizeof(op_table) / sizeof(op_table[0]);
    while (k < nops && !kv_mp_str_eq(key, op_table[k].name))
        k++;
    if (k == nops) {
        kv_quote(q, sizeof(q), key->via.str.ptr, key->via.str.size);
        return kv_fail_at(p->err, KVORM_EBAD_REQUEST, m->name, fname,
                          "where: %s.%s: unknown operator %s (operators: equals, not, in, notIn, lt, lte, gt, gte, "
                          "startsWith, endsWith, contains)",
                          m->name, fname, q);
    }
    op_kind kind = op_table[k].kind;
    const char *op = op_table[k].name;
    bool json = field != KV_FIELD_ID && m->fields[field].type == KV_T_JSON;
    if (json && kind != OP_EQUALS && kind != OP_NOT)
        return kv_fail_at(p->err, KVORM_EBAD_REQUEST, m->name, fname,
                          "where: %s.%s: %s does not apply to a json field (json takes equals, not and null tests)",
                          m->name, fname, op);
    if ((kind == OP_STARTS || kind == OP_ENDS || kind == OP_CONTAINS) && !is_text_field(p, field))
        return kv_fail_at(p->err, KVORM_EBAD_REQUEST, m->name, fname,
                          "where: %s.%s: %s applies to string fields and string ids, not to %s", m->name, fname, op,
                          field == KV_FIELD_ID ? "an integer id" : kv_type_name(m->fields[field].type));
    switch (kind) {
    case OP_EQUALS:
        if (v->type == MSGPACK_OBJECT_NIL)
            return make_null_test(p, field, true, out);
        return make_cmp(p, field, KV_CMP_EQ, v, out);
    case OP_NOT:
        if (v->type == MSGPACK_OBJECT_NIL)
            return make_null_test(p, field, false, out);
        if (v->type == MSGPACK_OBJECT_MAP && !json) { /* for json a map under not is a value */
            kv_node *n = new_node(p, KV_NODE_NOT, 1);
            if (!n)
                return oom(p);
            n->nkids = 1;
            int rc = parse_ops(p, field, v, &n->kids[0]);
            if (rc != 0)
                return rc;
            *out = n;
            return 0;
        }
        return make_cmp(p, field, KV_CMP_NE, v, out);
    case OP_IN:
    case OP_NOT_IN:
        return make_in(p, field, op_table[k].cmp, op, v, out);
    default:
        if (v->type == MSGPACK_OBJECT_NIL)
            return kv_fail_at(p->err, KVORM_EVALIDATION, m->name, fname,
                              "%s.%s: %s takes a value, not null", m->name, fname, op);
        return make_cmp(p, field, op_table[k].cmp, v, out);
    }
}

/* An operator map: every operator must hold (an empty map holds for every record). */
static int parse_ops(parser *p, int field, const msgpack_object *ops, kv_node **out)
{
    int rc = 0;
    if (++p->depth > MAX_FILTER_DEPTH) {
        rc = kv_fail(p->err, KVORM_EBAD_REQUEST, "where: nested deeper than %d levels", MAX_FILTER_DEPTH);
        goto done;
    }
    uint32_t n = ops->via.map.size;
    if (n == 1) {
        rc = parse_op(p, field, &ops->via.map.ptr[0].key, &ops->via.map.ptr[0].val, out);
        goto done;
    }
    kv_node *and = new_node(p, KV_NODE_AND, n);
    if (!and) {
        rc = oom(p);
        goto done;
    }
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        rc = parse_op(p, field, &ops->via.map.ptr[i].key, &ops->via.map.ptr[i].val, &and->kids[i]);
        and->nkids = rc == 0 ? (int)i + 1 : and->nkids;
    }
    *out = and;
done:
    p->depth--;
    return rc;
}

/* "field": value | null | {operators}. */
static int parse_field(parser *p, int field, const msgpack_object *v, kv_node **out)
{
    if (v->type == MSGPACK_OBJECT_NIL)
        return make_null_test(p, field, true, out);
    if (v->type == MSGPACK_OBJECT_MAP) /* no field takes a map as a value; for json a map is operators too */
        return parse_ops(p, field, v, out);
    return make_cmp(p, field, KV_CMP_EQ, v, out);
}

static int parse_where(parser *p, const msgpack_object *where, kv_node **out);

/* The where maps of AND, OR or NOT: an array of maps (or one map for AND and NOT). NOT of several is true when
 * none of them is (so "NOT": [] is true), as in Prisma. */
static int parse_logic(parser *p, const char *name, kv_node_kind kind, const msgpack_object *v, kv_node **out)
{
    const kv_model *m = p->m;
    if (v->type == MSGPACK_OBJECT_MAP && kind != KV_NODE_OR) {
        kv_node *w;
        int rc = parse_where(p, v, &w);
        if (rc != 0)
            return rc;
        if (kind == KV_NODE_AND) {
            *out = w;
            return 0;
        }
        kv_node *n = new_node(p, KV_NODE_NOT, 1);
        if (!n)
            return oom(p);
        n->kids[0] = w;
        n->nkids = 1;
        *out = n;
        return 0;
    }
    if (v->type != MSGPACK_OBJECT_ARRAY)
        return kv_fail_at(p->err, KVORM_EBAD_REQUEST, m->name, NULL, "where: %s takes an array of where maps%s, got %s",
                          name, kind == KV_NODE_OR ? "" : " or one where map", kv_mp_type_name(v));
    uint32_t count = v->via.array.size;
    kv_node *n = new_node(p, kind == KV_NODE_OR ? KV_NODE_OR : KV_NODE_AND, count);
    if (!n)
        return oom(p);
    for (uint32_t i = 0; i < count; i++) {
        const msgpack_object *e = &v->via.array.ptr[i];
        kv_node *w;
        if (e->type != MSGPACK_OBJECT_MAP)
            return kv_fail_at(p->err, KVORM_EBAD_REQUEST, m->name, NULL,
                              "where: %s[%u] must be a where map, got %s", name, i, kv_mp_type_name(e));
        int rc = parse_where(p, e, &w);
        if (rc != 0)
            return rc;
        if (kind == KV_NODE_NOT) {
            kv_node *x = new_node(p, KV_NODE_NOT, 1);
            if (!x)
                return oom(p);
            x->kids[0] = w;
            x->nkids = 1;
            w = x;
        }
        n->kids[i] = w;
        n->nkids = (int)i + 1;
    }
    *out = n;
    return 0;
}

/* "relation": {"some"|"every"|"none": where} for a hasMany, {"is"|"isNot": where or null} for a belongsTo or a
 * hasOne; several operators are ANDed. A hasOne's is null is none of {}, its isNot null some of {}. */
static int parse_relation(parser *p, int relation, const msgpack_object *v, kv_node **out)
{
    static const msgpack_object no_where = {.type = MSGPACK_OBJECT_MAP};
    static const char *const names[] = {"some", "every", "none", "is", "isNot"};
    const kv_model *m = p->m;
    const kv_relation *r = &m->relations[relation];
    bool many = r->kind == KV_REL_HAS_MANY || r->kind == KV_REL_MANY_TO_MANY;
    if (v->type != MSGPACK_OBJECT_MAP || v->via.map.size == 0)
        return kv_fail_at(p->err, KVORM_EBAD_REQUEST, m->name, NULL,
                          "where: %s.%s takes a map of %s, got %s", m->name, r->name,
                          many ? "\"some\", \"every\" or \"none\"" : "\"is\" or \"isNot\"",
                          v->type == MSGPACK_OBJECT_MAP ? "an empty map" : kv_mp_type_name(v));
    uint32_t n = v->via.map.size;
    kv_node *and = n > 1 ? new_node(p, KV_NODE_AND, n) : NULL;
    if (n > 1 && !and)
        return oom(p);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *k = &v->via.map.ptr[i].key, *w = &v->via.map.ptr[i].val;
        int op = -1;
        for (int j = many ? 0 : 3; j < (many ? 3 : 5) && op < 0; j++)
            if (k->type == MSGPACK_OBJECT_STR && kv_mp_str_eq(k, names[j]))
                op = j;
        if (op < 0) {
            char q[96];
            if (k->type == MSGPACK_OBJECT_STR)
                kv_quote(q, sizeof(q), k->via.str.ptr, k->via.str.size);
            else
                snprintf(q, sizeof(q), "a key of type %s", kv_mp_type_name(k));
            return kv_fail_at(p->err, KVORM_EBAD_REQUEST, m->name, NULL,
                              "where: %s.%s is a %s relation: it takes %s, not %s", m->name, r->name,
                              many ? "to-many" : "to-one",
                              many ? "\"some\", \"every\" or \"none\"" : "\"is\" or \"isNot\"", q);
        }
        bool null = w->type == MSGPACK_OBJECT_NIL;
        if (!(w->type == MSGPACK_OBJECT_MAP || (null && op >= KV_REL_IS)))
            return kv_fail_at(p->err, KVORM_EBAD_REQUEST, m->name, NULL,
                              "where: %s.%s: \"%s\" takes a where map of the related model%s, got %s", m->name,
                              r->name, names[op], op >= KV_REL_IS ? " or null" : "", kv_mp_type_name(w));
        kv_node *node = new_node(p, KV_NODE_REL, 0);
        if (!node)
            return oom(p);
        node->rel.relation = relation;
        node->rel.op = (kv_rel_op)op;
        node->rel.where = null ? NULL : w;
        if (null && r->kind == KV_REL_HAS_ONE) {
            node->rel.op = op == KV_REL_IS ? KV_REL_NONE : KV_REL_SOME;
            node->rel.where = &no_where;
        }
        if (n == 1) {
            *out = node;
            return 0;
        }
        and->kids[i] = node;
        and->nkids = (int)i + 1;
    }
    *out = and;
    return 0;
}

/* One entry of a where map. */
static int parse_entry(parser *p, const msgpack_object *key, const msgpack_object *v, kv_node **out)
{
    const kv_model *m = p->m;
    char q[96];
    if (key->type != MSGPACK_OBJECT_STR)
        return kv_fail_at(p->err, KVORM_EBAD_REQUEST, m->name, NULL, "where: a key is a field name, got %s",
                          kv_mp_type_name(key));
    if (kv_mp_str_eq(key, "AND"))
        return parse_logic(p, "AND", KV_NODE_AND, v, out);
    if (kv_mp_str_eq(key, "OR"))
        return parse_logic(p, "OR", KV_NODE_OR, v, out);
    if (kv_mp_str_eq(key, "NOT"))
        return parse_logic(p, "NOT", KV_NODE_NOT, v, out);
    if (kv_mp_str_eq(key, "id"))
        return parse_field(p, KV_FIELD_ID, v, out);
    int field = kv_model_field(m, key->via.str.ptr, key->via.str.size);
    int relation = field < 0 ? kv_model_relation(m, key->via.str.ptr, key->via.str.size) : -1;
    if (relation >= 0)
        return parse_relation(p, relation, v, out);
    if (field < 0) {
        kv_quote(q, sizeof(q), key->via.str.ptr, key->via.str.size);
        kv_fail_at(p->err, KVORM_EBAD_REQUEST, m->name, NULL, "where: %s is not a field of %s", q, m->name);
        kv_error_add_field_copy(p->err, key->via.str.ptr, key->via.str.size);
        return KVORM_EBAD_REQUEST;
    }
    return parse_field(p, field, v, out);
}

/* A where map: its entries ANDed (one entry is its own node). */
static int parse_where(parser *p, const msgpack_object *where, kv_node **out)
{
    int rc = 0;
    if (++p->depth > MAX_FILTER_DEPTH) {
        rc = kv_fail(p->err, KVORM_EBAD_REQUEST, "where: nested deeper than %d levels", MAX_FILTER_DEPTH);
        goto done;
    }
    uint32_t n = where->via.map.size;
    if (n == 1) {
        rc = parse_entry(p, &where->via.map.ptr[0].key, &where->via.map.ptr[0].val, out);
        goto done;
    }
    kv_node *and = new_node(p, KV_NODE_AND, n);
    if (!and) {
        rc = oom(p);
        goto done;
    }
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        rc = parse_entry(p, &where->via.map.ptr[i].key, &where->via.map.ptr[i].val, &and->kids[i]);
        and->nkids = rc == 0 ? (int)i + 1 : and->nkids;
    }
    *out = and;
done:
    p->depth--;
    return rc;
}

int kv_filter_parse(kv_filter *f, const kv_model *m, const msgpack_object *where, kv_mode mode, kv_error *err)
{
    parser p = {.m = m, .mode = mode, .err = err};
    int rc;
    f->root = NULL;
    f->zone = NULL;
    if (where && where->type != MSGPACK_OBJECT_NIL && where->type != MSGPACK_OBJECT_MAP)
        return kv_fail_at(err, KVORM_EBAD_REQUEST, m->name, NULL, "where must be a map, got %s",
                          kv_mp_type_name(where));
    if (!(p.zone = msgpack_zone_new(4096)))
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    msgpack_sbuffer_init(&p.buf);
    if (!where || where->type == MSGPACK_OBJECT_NIL) {
        rc = (f->root = new_node(&p, KV_NODE_AND, 0)) ? 0 : oom(&p);
    } else {
        rc = parse_where(&p, where, &f->root);
    }
    msgpack_sbuffer_destroy(&p.buf);
    if (rc != 0) {
        msgpack_zone_free(p.zone);
        f->root = NULL;
        return rc;
    }
    f->zone = p.zone;
    return 0;
}

void kv_filter_free(kv_filter *f)
{
    if (!f)
        return;
    if (f->zone)
        msgpack_zone_free(f->zone);
    f->zone = NULL;
    f->root = NULL;
}

/* --- evaluation --- */

/* Whether needle occurs in hay: Rabin-Karp (expected linear time, no allocation), each hash hit checked. */
static bool contains(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    const uint64_t mod = 2147483647u, base = 257;
    if (nlen == 0)
        return true;
    if (nlen > hlen)
        return false;
    uint64_t hn = 0, hh = 0, top = 1; /* top = base^(nlen-1) */
    for (size_t i = 0; i < nlen; i++) {
        hn = (hn * base + (unsigned char)needle[i]) % mod;
        hh = (hh * base + (unsigned char)hay[i]) % mod;
        if (i > 0)
            top = top * base % mod;
    }
    for (size_t i = 0;; i++) {
        if (hh == hn && memcmp(hay + i, needle, nlen) == 0)
            return true;
        if (i + nlen == hlen)
            return false;
        hh = (hh + mod - (unsigned char)hay[i] * top % mod) % mod;
        hh = (hh * base + (unsigned char)hay[i + nlen]) % mod;
    }
}

/* The text of a string value: an id is its text, a field value a canonical str. */
static bool text_of(const kv_pred *p, const char *v, size_t len, const char **text, size_t *tlen)
{
    if (p->field == KV_FIELD_ID) {
        *text = v;
        *tlen = len;
        return true;
    }
    return kv_mp_str_payload(v, len, text, tlen);
}

static kv_truth truth(bool b)
{
    return b ? KV_TRUE : KV_FALSE;
}

static kv_truth eval_pred(const kv_pred *p, const kv_model *m, const kv_record *r)
{
    const char *v;
    size_t len;
    if (p->field == KV_FIELD_ID) {
        v = r->id;
        len = r->id_len;
    } else if (p->field >= 0 && p->field < m->nfields && r->values) {
        v = r->values[p->field];
        len = v ? r->lens[p->field] : 0;
    } else {
        v = NULL;
        len = 0;
    }
    if (p->cmp == KV_CMP_IS_NULL)
        return truth(v == NULL);
    if (p->cmp == KV_CMP_NOT_NULL)
        return truth(v != NULL);
    /* a comparison with an empty list holds for no value (in) or every value (notIn), null included: SQL's
     * "= ANY" and "<> ALL" over an empty set */
    if (p->nvals == 0)
        return truth(p->cmp == KV_CMP_NOT_IN);
    if (!v)
        return KV_UNKNOWN;
#define CMP(i) (p->field == KV_FIELD_ID ? kv_id_cmp(m, v, len, p->vals[i], p->lens[i]) \
                                        : kv_value_cmp(m->fields[p->field].type, v, len, p->vals[i], p->lens[i]))
    switch (p->cmp) {
    case KV_CMP_EQ: return truth(CMP(0) == 0);
    case KV_CMP_NE: return truth(CMP(0) != 0);
    case KV_CMP_LT: return truth(CMP(0) < 0);
    case KV_CMP_LTE: return truth(CMP(0) <= 0);
    case KV_CMP_GT: return truth(CMP(0) > 0);
    case KV_CMP_GTE: return truth(CMP(0) >= 0);
    case KV_CMP_IN:
    case KV_CMP_NOT_IN: {
        /* the operands are sorted by value order: binary search */
        int lo = 0, hi = p->nvals;
        bool found = false;
        while (lo < hi && !found) {
            int mid = lo + (hi - lo) / 2;
            int c = CMP(mid);
            if (c == 0)
                found = true;
            else if (c < 0)
                hi = mid;
            else
                lo = mid + 1;
        }
        return truth(found == (p->cmp == KV_CMP_IN));
    }
    case KV_CMP_STARTS:
    case KV_CMP_ENDS:
    case KV_CMP_CONTAINS: {
        const char *t, *o;
        size_t tl, ol;
        if (!text_of(p, v, len, &t, &tl) || !text_of(p, p->vals[0], p->lens[0], &o, &ol))
            return KV_FALSE;
        if (p->cmp == KV_CMP_CONTAINS)
            return truth(contains(t, tl, o, ol));
        if (ol > tl)
            return KV_FALSE;
        return truth(ol == 0 || memcmp(p->cmp == KV_CMP_STARTS ? t : t + tl - ol, o, ol) == 0);
    }
    default:
        return KV_FALSE;
    }
#undef CMP
}

/* Compares the concatenation of segs with key (bytes, then length). */
static int cmp_segments(const char *const *segs, const size_t *lens, int nsegs, const char *key, size_t klen)
{
    size_t at = 0;
    for (int i = 0; i < nsegs; i++) {
        size_t n = lens[i] < klen - at ? lens[i] : klen - at;
        int c = memcmp(segs[i], key + at, n);
        if (c != 0)
            return c;
        if (n < lens[i])
            return 1; /* key ended inside this segment */
        at += n;
    }
    return at < klen ? -1 : 0;
}

/* A relation filter on record r: whether r's key is among the resolved keys (see kv_rel_test). */
static kv_truth eval_rel(const kv_rel_test *t, const kv_model *m, const kv_record *r)
{
    const kv_relation *rel = &m->relations[t->relation];
    const char *segs[KV_MAX_INDEX_PARTS];
    size_t lens[KV_MAX_INDEX_PARTS];
    int nsegs = 0;
    bool null = false;
    if (rel->kind == KV_REL_BELONGS_TO) {
        for (int i = 0; i < rel->nfields; i++) {
            segs[nsegs] = r->values ? r->values[rel->fields[i]] : NULL;
            null = null || !segs[nsegs];
            lens[nsegs] = segs[nsegs] ? r->lens[rel->fields[i]] : 0;
            nsegs++;
        }
        if (!t->where) /* is null, isNot null */
            return truth(null == (t->op == KV_REL_IS));
    } else {
        /* the key the related records reference: the id, or the fields of the unique their belongsTo names */
        segs[0] = r->id;
        lens[0] = r->id_len;
        nsegs = 1;
        if (t->unique_fields) {
            nsegs = 0;
            for (int i = 0; i < t->nunique_fields; i++) {
                segs[nsegs] = r->values ? r->values[t->unique_fields[i]] : NULL;
                null = null || !segs[nsegs];
                lens[nsegs] = segs[nsegs] ? r->lens[t->unique_fields[i]] : 0;
                nsegs++;
            }
        }
    }
    bool found = false;
    size_t lo = 0, hi = null ? 0 : t->nkeys;
    while (lo < hi && !found) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_segments(segs, lens, nsegs, t->keys[mid], t->lens[mid]);
        if (c == 0)
            found = true;
        else if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    /* some, is: among the matching; none, isNot: not; every: not among those that do not match */
    return truth(found == (t->op == KV_REL_SOME || t->op == KV_REL_IS));
}

kv_truth kv_node_eval(const kv_node *n, const kv_model *m, const kv_record *r)
{
    switch (n->kind) {
    case KV_NODE_REL:
        return eval_rel(&n->rel, m, r);
    case KV_NODE_PRED:
        return eval_pred(&n->pred, m, r);
    case KV_NODE_NOT: {
        kv_truth t = n->nkids > 0 ? kv_node_eval(n->kids[0], m, r) : KV_TRUE;
        return t == KV_UNKNOWN ? KV_UNKNOWN : t == KV_TRUE ? KV_FALSE : KV_TRUE;
    }
    case KV_NODE_AND:
    case KV_NODE_OR: {
        /* Kleene: AND is false on any false, OR true on any true; else unknown if any is unknown */
        kv_truth stop = n->kind == KV_NODE_AND ? KV_FALSE : KV_TRUE, out = n->kind == KV_NODE_AND ? KV_TRUE : KV_FALSE;
        for (int i = 0; i < n->nkids; i++) {
            kv_truth t = kv_node_eval(n->kids[i], m, r);
            if (t == stop)
                return stop;
            if (t == KV_UNKNOWN)
                out = KV_UNKNOWN;
        }
        return out;
    }
    }
    return KV_FALSE;
}

kv_truth kv_filter_eval(const kv_filter *f, const kv_model *m, const kv_record *r)
{
    return f->root ? kv_node_eval(f->root, m, r) : KV_TRUE;
}

bool kv_filter_has_relations(const kv_node *n)
{
    if (n->kind == KV_NODE_REL)
        return true;
    for (int i = 0; i < n->nkids; i++)
        if (kv_filter_has_relations(n->kids[i]))
            return true;
    return false;
}
