/* aggregate and groupBy (docs/queries.md): _count, _min, _max, _sum, _avg over the rows of a query, whole or in
 * groups, with having and an order over groups. A count alone over a where that an index serves reads no record. */
#include "query.h"

#include "compare.h"
#include "decimal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AVG_DECIMAL_DIGITS 32

enum { AGG_COUNT, AGG_MIN, AGG_MAX, AGG_SUM, AGG_AVG, NAGG };
static const char *const agg_names[NAGG] = {"_count", "_min", "_max", "_sum", "_avg"};

/* What was asked: per aggregate, the fields (and for _count, _all). */
typedef struct asked {
    bool any[NAGG];
    bool count_true; /* _count: true */
    bool count_all;  /* _count: {_all: true} */
    bool *fields[NAGG];
} asked;

/* One aggregate's value over a set of rows, for one field. */
typedef struct acc {
    int64_t count;   /* non-null values */
    const char *min, *max;
    size_t min_len, max_len;
    __int128 isum;
    double fsum;
    char *dsum;      /* decimal text */
    size_t dsum_len;
    bool overflow;
} acc;

static void asked_free(asked *a)
{
    for (int i = 0; i < NAGG; i++)
        free(a->fields[i]);
}

static bool numeric(kv_type t) { return t == KV_T_INTEGER || t == KV_T_FLOAT || t == KV_T_DECIMAL; }

static int parse_asked(request *rq, const msgpack_object *args, asked *a)
{
    const kv_model *m = rq->model;
    memset(a, 0, sizeof(*a));
    for (int g = 0; g < NAGG; g++) {
        const msgpack_object *o = args ? kv_mp_map_get(args, agg_names[g]) : NULL;
        if (!o || o->type == MSGPACK_OBJECT_NIL)
            continue;
        if (!(a->fields[g] = calloc((size_t)m->nfields + 1, sizeof(bool))))
            return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        if (g == AGG_COUNT && o->type == MSGPACK_OBJECT_BOOLEAN) {
            a->any[g] = a->count_true = o->via.boolean;
            continue;
        }
        if (o->type != MSGPACK_OBJECT_MAP)
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "%s: \"%s\" must be a map of field to true%s",
                              rq->op, agg_names[g], g == AGG_COUNT ? " (or true)" : "");
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
            if (v->type != MSGPACK_OBJECT_BOOLEAN)
                return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "%s: the values of \"%s\" must be true",
                                  rq->op, agg_names[g]);
            if (g == AGG_COUNT && kv_mp_str_eq(k, "_all")) {
                a->count_all = v->via.boolean;
                a->any[g] = a->any[g] || v->via.boolean;
                continue;
            }
            int f = k->type == MSGPACK_OBJECT_STR ? kv_model_field(m, k->via.str.ptr, k->via.str.size) : -1;
            if (f < 0) {
                char q[96] = "(not a string)";
                if (k->type == MSGPACK_OBJECT_STR)
                    kv_quote(q, sizeof(q), k->via.str.ptr, k->via.str.size);
                kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "%s: %s.%s is not a field of %s", rq->op,
                           agg_names[g], q, m->name);
                if (k->type == MSGPACK_OBJECT_STR)
                    kv_error_add_field_copy(rq->err, k->via.str.ptr, k->via.str.size);
                return rq->err->code;
            }
            kv_type t = m->fields[f].type;
            if ((g == AGG_SUM || g == AGG_AVG) && !numeric(t))
                return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, m->fields[f].name,
                                  "%s: %s of %s: only integer, float and decimal fields can be summed or averaged",
                                  rq->op, agg_names[g], m->fields[f].name);
            if ((g == AGG_MIN || g == AGG_MAX) && t == KV_T_JSON)
                return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, m->fields[f].name,
                                  "%s: %s of %s: a json field has no order", rq->op, agg_names[g], m->fields[f].name);
            a->fields[g][f] = v->via.boolean;
            a->any[g] = a->any[g] || v->via.boolean;
        }
    }
    return 0;
}

/* ---- accumulating ---- */

/* The value of a stored integer (canonical MessagePack: any int form). */
static int64_t int_of(const char *v, size_t len)
{
    const unsigned char *p = (const unsigned char *)v;
    uint64_t u = 0;
    size_t n;
    if (len == 0)
        return 0;
    if (p[0] <= 0x7f)
        return p[0];
    if (p[0] >= 0xe0)
        return (int8_t)p[0];
    switch (p[0]) {
    case 0xcc: case 0xd0: n = 1; break;
    case 0xcd: case 0xd1: n = 2; break;
    case 0xce: case 0xd2: n = 4; break;
    default: n = 8; break;
    }
    for (size_t i = 1; i <= n && i < len; i++)
        u = u << 8 | p[i];
    if (p[0] >= 0xd0) /* signed: extend from n bytes */
        return n == 8 ? (int64_t)u : (int64_t)(u << (64 - 8 * n)) >> (64 - 8 * n);
    return (int64_t)u;
}

static double float_of(const char *v, size_t len)
{
    uint64_t bits = 0;
    double d;
    if (len != 9)
        return 0;
    for (int i = 1; i < 9; i++)
        bits = bits << 8 | (unsigned char)v[i];
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static int add_value(acc *a, kv_type t, const char *v, size_t len, kv_error *err)
{
    a->count++;
    if (!a->min || kv_value_cmp(t, v, len, a->min, a->min_len) < 0) {
        a->min = v;
        a->min_len = len;
    }
    if (!a->max || kv_value_cmp(t, v, len, a->max, a->max_len) > 0) {
        a->max = v;
        a->max_len = len;
    }
    if (t == KV_T_INTEGER) {
        a->isum += int_of(v, len);
    } else if (t == KV_T_FLOAT) {
        a->fsum += float_of(v, len);
    } else if (t == KV_T_DECIMAL) {
        const char *text;
        size_t tl;
        char out[KV_DECIMAL_TEXT_MAX];
        if (!kv_mp_str_payload(v, len, &text, &tl))
            return kv_fail(err, KVORM_EINTERNAL, "a stored decimal is not text");
        size_t n = a->dsum ? kv_decimal_add(out, a->dsum, a->dsum_len, text, tl) : 0;
        if (a->dsum && n == 0) {
            a->overflow = true;
            return 0;
        }
        char *s = realloc(a->dsum, (a->dsum ? n : tl) + 1);
        if (!s)
            return kv_fail(err, KVORM_EINTERNAL, "out of memory");
        memcpy(s, a->dsum ? out : text, a->dsum ? n : tl);
        a->dsum_len = a->dsum ? n : tl;
        a->dsum = s;
    }
    return 0;
}

/* The aggregates of rows[from, to) per field: accs[f]. */
static int accumulate(const kv_model *m, const asked *a, const kv_rows *rows, size_t from, size_t to, acc *accs,
                      kv_error *err)
{
    memset(accs, 0, sizeof(*accs) * (size_t)m->nfields);
    for (int f = 0; f < m->nfields; f++) {
        bool need = false;
        for (int g = 0; g < NAGG; g++)
            need = need || (a->fields[g] && a->fields[g][f]);
        if (!need)
            continue;
        for (size_t i = from; i < to; i++) {
            const kv_record *r = &rows->rows[i];
            if (r->values[f]) {
                int rc = add_value(&accs[f], m->fields[f].type, r->values[f], r->lens[f], err);
                if (rc != 0)
                    return rc;
            }
        }
    }
    return 0;
}

static void accs_free(acc *accs, int n)
{
    for (int i = 0; i < n; i++)
        free(accs[i].dsum);
}

/* Packs an integer sum: an integer while it fits int64, else its exact decimal text. */
/* Writes v as decimal text ending at end; returns where it starts. */
static char *int128_text(char *end, __int128 v)
{
    char *p = end;
    bool neg = v < 0;
    unsigned __int128 u = neg ? -(unsigned __int128)v : (unsigned __int128)v;
    do {
        *--p = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (neg)
        *--p = '-';
    return p;
}

static void pack_int128(msgpack_packer *pk, __int128 v)
{
    char buf[64], *p;
    if (v >= INT64_MIN && v <= INT64_MAX) {
        msgpack_pack_int64(pk, (int64_t)v);
        return;
    }
    p = int128_text(buf + sizeof(buf), v);
    kv_pack_decimal(pk, p, (size_t)(buf + sizeof(buf) - p));
}

/* The value of aggregate g of field f as packed in a response. */
static int pack_agg(msgpack_packer *pk, const kv_model *m, int g, int f, const acc *a, kv_error *err)
{
    const kv_field *fd = &m->fields[f];
    if (g == AGG_COUNT) {
        msgpack_pack_int64(pk, a->count);
        return 0;
    }
    if (a->count == 0) {
        msgpack_pack_nil(pk);
        return 0;
    }
    if (g == AGG_MIN || g == AGG_MAX)
        return kv_value_emit(pk, m, fd, g == AGG_MIN ? a->min : a->max, g == AGG_MIN ? a->min_len : a->max_len,
                             err);
    if (fd->type == KV_T_DECIMAL && a->overflow)
        return kv_fail_at(err, KVORM_EVALIDATION, m->name, fd->name,
                          "%s of %s needs more than %d digits", agg_names[g], fd->name, KV_DECIMAL_MAX_DIGITS);
    if (g == AGG_SUM) {
        if (fd->type == KV_T_INTEGER)
            pack_int128(pk, a->isum);
        else if (fd->type == KV_T_FLOAT)
            msgpack_pack_double(pk, a->fsum);
        else
            kv_pack_decimal(pk, a->dsum, a->dsum_len);
        return 0;
    }
    /* _avg */
    if (fd->type == KV_T_DECIMAL) {
        char out[KV_DECIMAL_TEXT_MAX];
        size_t n = kv_decimal_div(out, a->dsum, a->dsum_len, (uint64_t)a->count, AVG_DECIMAL_DIGITS);
        if (n == 0)
            return kv_fail_at(err, KVORM_EVALIDATION, m->name, fd->name, "_avg of %s needs more than %d digits",
                              fd->name, KV_DECIMAL_MAX_DIGITS);
        kv_pack_decimal(pk, out, n);
        return 0;
    }
    msgpack_pack_double(pk, fd->type == KV_T_INTEGER ? (double)a->isum / (double)a->count : a->fsum / (double)a->count);
    return 0;
}

static int nfields_asked(const kv_model *m, const bool *fields)
{
    int n = 0;
    for (int f = 0; f < m->nfields; f++)
        n += fields[f];
    return n;
}

/* The aggregate keys of one result map (rows[from, to) with their accumulators). */
static int pack_aggregates(msgpack_packer *pk, const kv_model *m, const asked *a, int64_t rows, const acc *accs,
                           kv_error *err)
{
    for (int g = 0; g < NAGG; g++) {
        if (!a->any[g])
            continue;
        kv_pack_cstr(pk, agg_names[g]);
        if (g == AGG_COUNT && a->count_true) {
            msgpack_pack_int64(pk, rows);
            continue;
        }
        msgpack_pack_map(pk, (size_t)nfields_asked(m, a->fields[g]) + (g == AGG_COUNT && a->count_all));
        if (g == AGG_COUNT && a->count_all) {
            kv_pack_cstr(pk, "_all");
            msgpack_pack_int64(pk, rows);
        }
        for (int f = 0; f < m->nfields; f++) {
            if (!a->fields[g][f])
                continue;
            kv_pack_cstr(pk, m->fields[f].name);
            int rc = pack_agg(pk, m, g, f, &accs[f], err);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int nasked(const asked *a)
{
    int n = 0;
    for (int g = 0; g < NAGG; g++)
        n += a->any[g];
    return n;
}

int kv_op_aggregate(request *rq, msgpack_packer *pk)
{
    const kv_model *m = rq->model;
    kv_query q;
    kv_rows rows = {0};
    asked a;
    acc *accs = calloc((size_t)m->nfields + 1, sizeof(*accs));
    int rc;
    memset(&q, 0, sizeof(q));
    if (!accs)
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    if ((rc = parse_asked(rq, rq->args, &a)) != 0 || (rc = kv_query_init(&q, rq, rq->args, KV_Q_WINDOW)) != 0)
        goto done;
    bool count_only = true;
    for (int g = 1; g < NAGG; g++)
        count_only = count_only && !a.any[g];
    count_only = count_only && (!a.fields[AGG_COUNT] || nfields_asked(m, a.fields[AGG_COUNT]) == 0);
    int64_t n = 0;
    if (count_only) {
        /* no value needed: a count, which reads no record when an index serves the where */
        if ((rc = kv_query_count(&q, &n)) != 0)
            goto done;
    } else {
        if ((rc = kv_query_rows(&q, &rows)) != 0 || (rc = accumulate(m, &a, &rows, 0, rows.n, accs, rq->err)) != 0)
            goto done;
        n = (int64_t)rows.n;
    }
    msgpack_pack_map(pk, (size_t)nasked(&a));
    rc = pack_aggregates(pk, m, &a, n, accs, rq->err);
done:
    accs_free(accs, m->nfields);
    free(accs);
    kv_rows_free(&rows);
    kv_query_free(&q);
    asked_free(&a);
    return rc;
}

/* ---- groupBy ---- */

typedef struct group {
    size_t from, to; /* rows of the group, sorted by the by fields */
    acc *accs;
    bool keep;
} group;

typedef struct grouping {
    const kv_model *m;
    int by[16];
    int nby;
    asked a;
    /* the order over groups */
    struct gkey {
        int agg;     /* -1: a by field */
        int field;   /* -1 with _count._all */
        bool desc;
    } order[16];
    int norder;
    const kv_rows *rows;
} grouping;

static int cmp_by(const grouping *g, const kv_record *a, const kv_record *b)
{
    for (int i = 0; i < g->nby; i++) {
        int f = g->by[i];
        const char *x = a->values[f], *y = b->values[f];
        int c;
        if (!x || !y)
            c = !x && !y ? 0 : !x ? -1 : 1;
        else
            c = kv_value_cmp(g->m->fields[f].type, x, a->lens[f], y, b->lens[f]);
        if (c)
            return c;
    }
    return 0;
}

static int cmp_rows_by(const void *a, const void *b, void *g) { return cmp_by(g, a, b); }

/* An aggregate's value as a comparable: numbers as canonical decimal text (packed str), min/max as stored. */
typedef struct num {
    char text[KV_DECIMAL_TEXT_MAX + 8];
    const char *v;
    size_t len;
    kv_type t;
    bool null;
} num;

static void num_from_text(num *n, const char *s, size_t len)
{
    char norm[KV_DECIMAL_TEXT_MAX];
    size_t k = kv_decimal_normalize(norm, s, len);
    msgpack_sbuffer sb = {0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    kv_pack_strn(&pk, norm, k ? k : 1);
    if (!k)
        memcpy(sb.data + sb.size - 1, "0", 1);
    memcpy(n->text, sb.data, sb.size < sizeof(n->text) ? sb.size : sizeof(n->text));
    n->v = n->text;
    n->len = sb.size < sizeof(n->text) ? sb.size : sizeof(n->text);
    n->t = KV_T_DECIMAL;
    msgpack_sbuffer_destroy(&sb);
}

static void group_value(const grouping *g, const group *gr, int agg, int f, num *out)
{
    memset(out, 0, sizeof(*out));
    char buf[64];
    if (agg == AGG_COUNT) {
        int64_t c = f < 0 ? (int64_t)(gr->to - gr->from) : gr->accs[f].count;
        num_from_text(out, buf, (size_t)snprintf(buf, sizeof(buf), "%" PRId64, c));
        return;
    }
    const acc *a = &gr->accs[f];
    const kv_field *fd = &g->m->fields[f];
    if (a->count == 0) {
        out->null = true;
        return;
    }
    if (agg == AGG_MIN || agg == AGG_MAX) {
        out->v = agg == AGG_MIN ? a->min : a->max;
        out->len = agg == AGG_MIN ? a->min_len : a->max_len;
        out->t = fd->type;
        return;
    }
    if (fd->type == KV_T_DECIMAL) {
        char o[KV_DECIMAL_TEXT_MAX];
        size_t k = agg == AGG_SUM ? 0 : kv_decimal_div(o, a->dsum, a->dsum_len, (uint64_t)a->count, AVG_DECIMAL_DIGITS);
        if (agg == AGG_SUM)
            num_from_text(out, a->dsum, a->dsum_len);
        else
            num_from_text(out, o, k);
        return;
    }
    double d = fd->type == KV_T_FLOAT ? a->fsum : (double)a->isum;
    if (agg == AGG_AVG)
        d /= (double)a->count;
    if (fd->type == KV_T_INTEGER && agg == AGG_SUM) {
        char t[64], *p = int128_text(t + sizeof(t), a->isum);
        num_from_text(out, p, (size_t)(t + sizeof(t) - p));
        return;
    }
    num_from_text(out, buf, (size_t)snprintf(buf, sizeof(buf), "%.17g", d));
}

static int cmp_groups(const void *pa, const void *pb, void *pg)
{
    const grouping *g = pg;
    const group *a = pa, *b = pb;
    for (int i = 0; i < g->norder; i++) {
        const struct gkey *k = &g->order[i];
        int c;
        if (k->agg < 0) {
            const kv_record *x = &g->rows->rows[a->from], *y = &g->rows->rows[b->from];
            const char *u = x->values[k->field], *v = y->values[k->field];
            c = !u || !v ? (!u && !v ? 0 : !u ? -1 : 1)
                         : kv_value_cmp(g->m->fields[k->field].type, u, x->lens[k->field], v, y->lens[k->field]);
            if (k->desc) /* nulls: first ascending, last descending */
                c = -c;
        } else {
            num x, y;
            group_value(g, a, k->agg, k->field, &x);
            group_value(g, b, k->agg, k->field, &y);
            c = x.null || y.null ? (x.null && y.null ? 0 : x.null ? -1 : 1) : kv_value_cmp(x.t, x.v, x.len, y.v, y.len);
            if (k->desc)
                c = -c;
        }
        if (c)
            return c;
    }
    return cmp_by(g, &g->rows->rows[a->from], &g->rows->rows[b->from]);
}

static int by_field(request *rq, const msgpack_object *o, int *out)
{
    const kv_model *m = rq->model;
    int f = o->type == MSGPACK_OBJECT_STR ? kv_model_field(m, o->via.str.ptr, o->via.str.size) : -1;
    if (f < 0) {
        char q[96] = "(not a string)";
        if (o->type == MSGPACK_OBJECT_STR)
            kv_quote(q, sizeof(q), o->via.str.ptr, o->via.str.size);
        kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "groupBy: %s is not a field of %s", q, m->name);
        if (o->type == MSGPACK_OBJECT_STR)
            kv_error_add_field_copy(rq->err, o->via.str.ptr, o->via.str.size);
        return rq->err->code;
    }
    if (m->fields[f].type == KV_T_JSON)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, m->fields[f].name,
                          "groupBy: %s is a json field, which cannot be grouped by", m->fields[f].name);
    *out = f;
    return 0;
}

static int parse_group_order(request *rq, grouping *g, const msgpack_object *o)
{
    const kv_model *m = rq->model;
    if (!o)
        return 0;
    const msgpack_object *items = o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.ptr : o;
    uint32_t n = o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.size : 1;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *e = &items[i];
        if (e->type != MSGPACK_OBJECT_MAP)
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "groupBy: orderBy entries must be maps");
        for (uint32_t j = 0; j < e->via.map.size; j++) {
            const msgpack_object *k = &e->via.map.ptr[j].key, *v = &e->via.map.ptr[j].val;
            struct gkey key = {-1, -1, false};
            const msgpack_object *dir = v;
            for (int a = 0; a < NAGG; a++)
                if (kv_mp_str_eq(k, agg_names[a]))
                    key.agg = a;
            if (key.agg >= 0) {
                if (v->type != MSGPACK_OBJECT_MAP || v->via.map.size != 1)
                    return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL,
                                      "groupBy: orderBy {\"%s\": {field: direction}} takes one field",
                                      agg_names[key.agg]);
                const msgpack_object *fk = &v->via.map.ptr[0].key;
                dir = &v->via.map.ptr[0].val;
                if (!(key.agg == AGG_COUNT && kv_mp_str_eq(fk, "_all"))) {
                    int rc = by_field(rq, fk, &key.field);
                    if (rc != 0)
                        return rc;
                }
            } else {
                int rc = by_field(rq, k, &key.field);
                if (rc != 0)
                    return rc;
                bool in_by = false;
                for (int b = 0; b < g->nby; b++)
                    in_by = in_by || g->by[b] == key.field;
                if (!in_by)
                    return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, m->fields[key.field].name,
                                      "groupBy: orderBy %s: only the by fields or aggregates order groups",
                                      m->fields[key.field].name);
            }
            if (!kv_mp_str_eq(dir, "asc") && !kv_mp_str_eq(dir, "desc"))
                return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL,
                                  "groupBy: an orderBy direction must be \"asc\" or \"desc\"");
            key.desc = kv_mp_str_eq(dir, "desc");
            if (g->norder == 16)
                return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "groupBy: at most 16 order keys");
            /* an aggregate a group is ordered by must be computed */
            if (key.agg > 0 && key.field >= 0) {
                if (!g->a.fields[key.agg] && !(g->a.fields[key.agg] = calloc((size_t)m->nfields + 1, sizeof(bool))))
                    return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
            }
            g->order[g->norder++] = key;
        }
    }
    return 0;
}

/* ---- having ---- */

static int having_ops(request *rq, const grouping *g, const num *val, kv_type t, const kv_field *fd,
                      const msgpack_object *ops, bool *ok);

/* Encodes an operand for comparison with a group's value: a field's value as stored, or a number as decimal. */
static int operand(request *rq, const kv_field *fd, kv_type t, const msgpack_object *v, num *out)
{
    memset(out, 0, sizeof(*out));
    if (v->type == MSGPACK_OBJECT_NIL) {
        out->null = true;
        return 0;
    }
    if (t == KV_T_DECIMAL && (!fd || fd->type != KV_T_DECIMAL || true)) {
        char buf[64];
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            num_from_text(out, buf, (size_t)snprintf(buf, sizeof(buf), "%" PRIu64, v->via.u64));
        else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            num_from_text(out, buf, (size_t)snprintf(buf, sizeof(buf), "%" PRId64, v->via.i64));
        else if ((v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32) && isfinite(v->via.f64))
            num_from_text(out, buf, (size_t)snprintf(buf, sizeof(buf), "%.17g", v->via.f64));
        else if (v->type == MSGPACK_OBJECT_STR && kv_decimal_normalize(buf, v->via.str.ptr, v->via.str.size) > 0 &&
                 v->via.str.size < 60)
            num_from_text(out, v->via.str.ptr, v->via.str.size);
        else if (v->type == MSGPACK_OBJECT_EXT && v->via.ext.type == KV_EXT_DECIMAL && v->via.ext.size < 60)
            num_from_text(out, v->via.ext.ptr, v->via.ext.size);
        else
            return kv_fail_at(rq->err, KVORM_EVALIDATION, rq->model->name, fd ? fd->name : NULL,
                              "having: a number is needed to compare with an aggregate");
        return 0;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int rc = kv_value_encode(&sb, rq->model, fd, v, rq->mode, rq->err);
    if (rc == 0) {
        size_t n = sb.size < sizeof(out->text) ? sb.size : sizeof(out->text);
        memcpy(out->text, sb.data, n);
        out->v = out->text;
        out->len = n;
        out->t = fd->type;
    }
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int having_ops(request *rq, const grouping *g, const num *val, kv_type t, const kv_field *fd,
                      const msgpack_object *ops, bool *ok)
{
    static const char *const names[] = {"equals", "not", "lt", "lte", "gt", "gte", "in", "notIn", NULL};
    (void)g;
    if (ops->type != MSGPACK_OBJECT_MAP) {
        num o;
        int rc = operand(rq, fd, t, ops, &o);
        if (rc != 0)
            return rc;
        *ok = *ok && (o.null ? val->null : !val->null && kv_value_cmp(t, val->v, val->len, o.v, o.len) == 0);
        return 0;
    }
    const msgpack_object *bad = kv_mp_unknown_key(ops, names);
    if (bad) {
        char q[96] = "(not a string)";
        if (bad->type == MSGPACK_OBJECT_STR)
            kv_quote(q, sizeof(q), bad->via.str.ptr, bad->via.str.size);
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, fd ? fd->name : NULL,
                          "having: unknown operator %s", q);
    }
    for (uint32_t i = 0; i < ops->via.map.size; i++) {
        const msgpack_object *k = &ops->via.map.ptr[i].key, *v = &ops->via.map.ptr[i].val;
        bool in = kv_mp_str_eq(k, "in"), not_in = kv_mp_str_eq(k, "notIn");
        if (in || not_in) {
            if (v->type != MSGPACK_OBJECT_ARRAY)
                return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, fd ? fd->name : NULL,
                                  "having: \"%s\" takes an array", in ? "in" : "notIn");
            bool any = false;
            for (uint32_t j = 0; j < v->via.array.size; j++) {
                num o;
                int rc = operand(rq, fd, t, &v->via.array.ptr[j], &o);
                if (rc != 0)
                    return rc;
                any = any || (!o.null && !val->null && kv_value_cmp(t, val->v, val->len, o.v, o.len) == 0);
            }
            *ok = *ok && !val->null && (in ? any : !any);
            continue;
        }
        num o;
        int rc = operand(rq, fd, t, v, &o);
        if (rc != 0)
            return rc;
        if (kv_mp_str_eq(k, "equals") || kv_mp_str_eq(k, "not")) {
            bool eq = o.null ? val->null : !val->null && kv_value_cmp(t, val->v, val->len, o.v, o.len) == 0;
            bool want = kv_mp_str_eq(k, "equals");
            *ok = *ok && (o.null ? eq == want : !val->null && eq == want);
            continue;
        }
        if (val->null || o.null) {
            *ok = false;
            continue;
        }
        int c = kv_value_cmp(t, val->v, val->len, o.v, o.len);
        if (kv_mp_str_eq(k, "lt"))
            *ok = *ok && c < 0;
        else if (kv_mp_str_eq(k, "lte"))
            *ok = *ok && c <= 0;
        else if (kv_mp_str_eq(k, "gt"))
            *ok = *ok && c > 0;
        else
            *ok = *ok && c >= 0;
    }
    return 0;
}

static int having_eval(request *rq, const grouping *g, const group *gr, const msgpack_object *h, bool *ok);

static int having_list(request *rq, const grouping *g, const group *gr, const msgpack_object *v, int kind,
                       bool *ok)
{
    /* kind 0 AND, 1 OR, 2 NOT */
    const msgpack_object *items = v->type == MSGPACK_OBJECT_ARRAY ? v->via.array.ptr : v;
    uint32_t n = v->type == MSGPACK_OBJECT_ARRAY ? v->via.array.size : 1;
    bool acc_ok = kind != 1;
    if (v->type != MSGPACK_OBJECT_ARRAY && v->type != MSGPACK_OBJECT_MAP)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, NULL,
                          "having: AND, OR and NOT take a map or an array of maps");
    for (uint32_t i = 0; i < n; i++) {
        bool one = true;
        int rc = having_eval(rq, g, gr, &items[i], &one);
        if (rc != 0)
            return rc;
        if (kind == 1)
            acc_ok = acc_ok || one;
        else if (kind == 2)
            acc_ok = acc_ok && !one;
        else
            acc_ok = acc_ok && one;
    }
    *ok = *ok && acc_ok;
    return 0;
}

static int having_eval(request *rq, const grouping *g, const group *gr, const msgpack_object *h, bool *ok)
{
    const kv_model *m = g->m;
    if (h->type != MSGPACK_OBJECT_MAP)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "having must be a map");
    for (uint32_t i = 0; i < h->via.map.size; i++) {
        const msgpack_object *k = &h->via.map.ptr[i].key, *v = &h->via.map.ptr[i].val;
        int rc;
        if (kv_mp_str_eq(k, "AND") || kv_mp_str_eq(k, "OR") || kv_mp_str_eq(k, "NOT")) {
            if ((rc = having_list(rq, g, gr, v, kv_mp_str_eq(k, "AND") ? 0 : kv_mp_str_eq(k, "OR") ? 1 : 2, ok)) != 0)
                return rc;
            continue;
        }
        if (kv_mp_str_eq(k, "_count")) {
            /* {_count: {_all: ops, field: ops}} */
            if (v->type != MSGPACK_OBJECT_MAP)
                return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL,
                                  "having: _count takes a map of _all or fields to operators");
            for (uint32_t j = 0; j < v->via.map.size; j++) {
                const msgpack_object *fk = &v->via.map.ptr[j].key;
                int f = -1;
                if (!kv_mp_str_eq(fk, "_all") && (rc = by_field(rq, fk, &f)) != 0)
                    return rc;
                num val;
                if (f >= 0) {
                    int64_t c = 0;
                    for (size_t r = gr->from; r < gr->to; r++)
                        c += g->rows->rows[r].values[f] != NULL;
                    char buf[32];
                    num_from_text(&val, buf, (size_t)snprintf(buf, sizeof(buf), "%" PRId64, c));
                } else {
                    group_value(g, gr, AGG_COUNT, -1, &val);
                }
                if ((rc = having_ops(rq, g, &val, KV_T_DECIMAL, NULL, &v->via.map.ptr[j].val, ok)) != 0)
                    return rc;
            }
            continue;
        }
        int f;
        if ((rc = by_field(rq, k, &f)) != 0)
            return rc;
        const kv_field *fd = &m->fields[f];
        /* {field: {_sum: ops, ...}} or {field: ops} on a by field */
        bool aggs = v->type == MSGPACK_OBJECT_MAP && v->via.map.size > 0 && v->via.map.ptr[0].key.type == MSGPACK_OBJECT_STR &&
                    v->via.map.ptr[0].key.via.str.size > 0 && v->via.map.ptr[0].key.via.str.ptr[0] == '_';
        if (aggs) {
            for (uint32_t j = 0; j < v->via.map.size; j++) {
                const msgpack_object *ak = &v->via.map.ptr[j].key;
                int agg = -1;
                for (int a = 0; a < NAGG; a++)
                    if (kv_mp_str_eq(ak, agg_names[a]))
                        agg = a;
                if (agg < 0)
                    return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, fd->name,
                                      "having: %s takes aggregates (_count, _min, _max, _sum, _avg)", fd->name);
                if ((agg == AGG_SUM || agg == AGG_AVG) && !numeric(fd->type))
                    return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, fd->name,
                                      "having: %s of %s: not a number field", agg_names[agg], fd->name);
                num val;
                group_value(g, gr, agg, f, &val);
                kv_type t = agg == AGG_MIN || agg == AGG_MAX ? fd->type : KV_T_DECIMAL;
                if ((rc = having_ops(rq, g, &val, t, fd, &v->via.map.ptr[j].val, ok)) != 0)
                    return rc;
            }
            continue;
        }
        bool in_by = false;
        for (int b = 0; b < g->nby; b++)
            in_by = in_by || g->by[b] == f;
        if (!in_by)
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, fd->name,
                              "having: %s is not a by field; test an aggregate of it ({\"_sum\": {...}})", fd->name);
        /* a by field is tested as a where would test it, with every operator, on the group's value */
        const kv_record *r = &g->rows->rows[gr->from];
        msgpack_object_kv entry = {*k, *v};
        msgpack_object one;
        kv_filter flt;
        one.type = MSGPACK_OBJECT_MAP;
        one.via.map.size = 1;
        one.via.map.ptr = &entry;
        memset(&flt, 0, sizeof(flt));
        if ((rc = kv_filter_parse(&flt, m, &one, rq->mode, rq->err)) != 0)
            return rc;
        *ok = *ok && kv_filter_eval(&flt, m, r) == KV_TRUE;
        kv_filter_free(&flt);
    }
    return 0;
}

int kv_op_group_by(request *rq, msgpack_packer *pk)
{
    const kv_model *m = rq->model;
    grouping g;
    kv_query q;
    kv_rows rows = {0};
    group *groups = NULL;
    size_t ngroups = 0;
    int64_t take = -1, skip = 0;
    int rc;
    memset(&g, 0, sizeof(g));
    memset(&q, 0, sizeof(q));
    g.m = m;
    g.rows = &rows;
    const msgpack_object *by = rq_arg(rq, "by");
    if (!by)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "groupBy: \"by\" (a field or a list) is required");
    const msgpack_object *list = by->type == MSGPACK_OBJECT_ARRAY ? by->via.array.ptr : by;
    uint32_t nby = by->type == MSGPACK_OBJECT_ARRAY ? by->via.array.size : 1;
    if (nby == 0 || nby > 16)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "groupBy: \"by\" names 1 to 16 fields");
    for (uint32_t i = 0; i < nby; i++) {
        if ((rc = by_field(rq, &list[i], &g.by[g.nby])) != 0)
            return rc;
        for (int j = 0; j < g.nby; j++)
            if (g.by[j] == g.by[g.nby])
                return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, m->fields[g.by[j]].name,
                                  "groupBy: %s is in \"by\" twice", m->fields[g.by[j]].name);
        g.nby++;
    }
    if ((rc = parse_asked(rq, rq->args, &g.a)) != 0 || (rc = parse_group_order(rq, &g, rq_arg(rq, "orderBy"))) != 0)
        goto done;
    const msgpack_object *v;
    if ((v = rq_arg(rq, "take"))) {
        if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > INT64_MAX) {
            rc = kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "groupBy: \"take\" must be a non-negative integer");
            goto done;
        }
        take = (int64_t)v->via.u64;
    }
    if ((v = rq_arg(rq, "skip"))) {
        if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > INT64_MAX) {
            rc = kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "groupBy: \"skip\" must be a non-negative integer");
            goto done;
        }
        skip = (int64_t)v->via.u64;
    }
    /* every row of the where, then groups of equal by values */
    if ((rc = kv_query_init(&q, rq, rq->args, KV_Q_WHERE)) != 0 || (rc = kv_query_rows(&q, &rows)) != 0)
        goto done;
    if (rows.n > 1)
        qsort_r(rows.rows, rows.n, sizeof(*rows.rows), cmp_rows_by, &g);
    if (!(groups = calloc(rows.n + 1, sizeof(*groups)))) {
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < rows.n;) {
        size_t j = i + 1;
        while (j < rows.n && cmp_by(&g, &rows.rows[i], &rows.rows[j]) == 0)
            j++;
        group *gr = &groups[ngroups++];
        gr->from = i;
        gr->to = j;
        gr->keep = true;
        /* every field's accumulators: having and orderBy may test aggregates not asked for */
        asked all = g.a;
        bool *every = calloc((size_t)m->nfields + 1, sizeof(bool));
        if (!every || !(gr->accs = calloc((size_t)m->nfields + 1, sizeof(acc)))) {
            free(every);
            rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
            goto done;
        }
        for (int f = 0; f < m->nfields; f++)
            every[f] = m->fields[f].type != KV_T_JSON;
        for (int a = 0; a < NAGG; a++)
            all.fields[a] = every;
        rc = accumulate(m, &all, &rows, i, j, gr->accs, rq->err);
        free(every);
        if (rc != 0)
            goto done;
        i = j;
    }
    const msgpack_object *having = rq_arg(rq, "having");
    size_t kept = 0;
    for (size_t i = 0; i < ngroups; i++) {
        bool ok = true;
        if (having && (rc = having_eval(rq, &g, &groups[i], having, &ok)) != 0)
            goto done;
        if (ok)
            groups[kept++] = groups[i];
        else {
            accs_free(groups[i].accs, m->nfields);
            free(groups[i].accs);
        }
    }
    for (size_t i = kept; i < ngroups; i++)
        groups[i].accs = NULL;
    ngroups = kept;
    if (g.norder > 0 && ngroups > 1)
        qsort_r(groups, ngroups, sizeof(*groups), cmp_groups, &g);
    size_t from = (uint64_t)skip < ngroups ? (size_t)skip : ngroups, to = ngroups;
    if (take >= 0 && (uint64_t)take < to - from)
        to = from + (size_t)take;
    msgpack_pack_array(pk, to - from);
    for (size_t i = from; i < to && rc == 0; i++) {
        const group *gr = &groups[i];
        const kv_record *r = &rows.rows[gr->from];
        msgpack_pack_map(pk, (size_t)(g.nby + nasked(&g.a)));
        for (int b = 0; b < g.nby && rc == 0; b++) {
            const kv_field *fd = &m->fields[g.by[b]];
            kv_pack_cstr(pk, fd->name);
            if (!r->values[g.by[b]])
                msgpack_pack_nil(pk);
            else
                rc = kv_value_emit(pk, m, fd, r->values[g.by[b]], r->lens[g.by[b]], rq->err);
        }
        if (rc == 0)
            rc = pack_aggregates(pk, m, &g.a, (int64_t)(gr->to - gr->from), gr->accs, rq->err);
    }
done:
    for (size_t i = 0; i < ngroups; i++) {
        if (groups[i].accs)
            accs_free(groups[i].accs, m->nfields);
        free(groups[i].accs);
    }
    free(groups);
    kv_rows_free(&rows);
    kv_query_free(&q);
    asked_free(&g.a);
    return rc;
}
