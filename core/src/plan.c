/* The planner (docs/queries.md, "Plans and explain"): from the where's conjuncts, the order and the ready indexes,
 * the cheapest way to find the rows: a get by id, a unique lookup, ranges of one index, or a scan of the id
 * collection. Every condition is re-checked on the records read, so a plan only has to find a superset. */
#include "query.h"

#include "compare.h"
#include "entries.h"
#include "keycode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* After a complete element, the next byte (the first of the next element) is in [KEY_NEXT_LO, KEY_NEXT_HI]:
 * type codes and their complements. Bytes outside belong to the element itself (an escaped 0x00 or a cut mark
 * of a longer value), so "the element is exactly E" is the range [E + KEY_NEXT_LO, E + KEY_NEXT_HI + 1). */
#define KEY_NEXT_LO 0x05
#define KEY_AFTER 0xfb

/* The first and last type code of a non-null value of type t (ascending form). */
static void type_codes(kv_type t, unsigned char *lo, unsigned char *hi)
{
    switch (t) {
    case KV_T_BOOLEAN: *lo = KV_KEY_FALSE; *hi = KV_KEY_TRUE; return;
    case KV_T_INTEGER: *lo = *hi = KV_KEY_INT; return;
    case KV_T_FLOAT: *lo = *hi = KV_KEY_FLOAT; return;
    case KV_T_DATETIME: *lo = *hi = KV_KEY_TIME; return;
    case KV_T_DECIMAL: *lo = KV_KEY_DEC_NEG; *hi = KV_KEY_DEC_POS; return;
    case KV_T_BYTES: *lo = *hi = KV_KEY_BYTES; return;
    default: *lo = *hi = KV_KEY_STRING; return;
    }
}

/* ---- conjuncts ---- */

#define MAX_CONJ 128

typedef struct conjuncts {
    const kv_node *list[MAX_CONJ];
    bool used[MAX_CONJ]; /* enforced exactly by the plan's ranges */
    int n;
    bool overflow;
} conjuncts;

static void flatten(conjuncts *c, const kv_node *n)
{
    if (n->kind == KV_NODE_AND) {
        for (int i = 0; i < n->nkids; i++)
            flatten(c, n->kids[i]);
        return;
    }
    if (c->n == MAX_CONJ) {
        c->overflow = true;
        return;
    }
    c->list[c->n++] = n;
}

static const kv_pred *pred_at(const conjuncts *c, int i)
{
    return c->list[i]->kind == KV_NODE_PRED ? &c->list[i]->pred : NULL;
}

/* The first conjunct comparing field by equality (eq, in, or a null test), or -1. */
static int find_eq(const conjuncts *c, int field)
{
    for (int i = 0; i < c->n; i++) {
        const kv_pred *p = pred_at(c, i);
        if (p && p->field == field && (p->cmp == KV_CMP_EQ || p->cmp == KV_CMP_IN || p->cmp == KV_CMP_IS_NULL))
            return i;
    }
    return -1;
}

/* ---- bounds ---- */

typedef struct bytes {
    char *p;
    size_t n, cap;
} bytes;

static bool put(bytes *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2 + 32;
        char *p = realloc(b->p, cap);
        if (!p)
            return false;
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, data, n);
    b->n += n;
    return true;
}

static bool put_byte(bytes *b, unsigned char c) { return put(b, &c, 1); }

/* The element of one operand, appended; *cut when its content was cut (the range is then only a superset). An id
 * operand (m given) is id text; any other is a canonical value of type t. */
static int put_elem(bytes *b, const kv_model *m, kv_type t, const char *val, size_t len, bool desc, bool *cut,
                    kv_error *err)
{
    msgpack_sbuffer sb;
    bool truncated = false;
    int rc;
    msgpack_sbuffer_init(&sb);
    rc = m ? kv_key_append_id(&sb, m, val, len, err) : kv_key_append_value(&sb, t, val, len, desc, &truncated, err);
    if (rc == 0 && !put(b, sb.data, sb.size))
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
    msgpack_sbuffer_destroy(&sb);
    if (truncated)
        *cut = true;
    return rc;
}

/* One side of a part's range in key order. */
typedef struct side {
    bool set;
    const char *val; /* the operand (canonical), or NULL with raw set */
    size_t len;
    bool inclusive;
    bytes raw;       /* a ready suffix (startsWith, non-null limits) */
    bool has_raw;
} side;

typedef struct part_range {
    side lo, hi;
    bool any;   /* some condition narrows this part */
    bool exact; /* the range is exactly the conditions it took */
} part_range;

/* Keeps the tighter of a bound already set and a new one (value order; ids when m is given). */
static void tighten(side *s, const kv_model *m, kv_type t, const char *val, size_t len, bool inclusive, bool lower)
{
    if (s->set && !s->has_raw) {
        int c = m ? kv_id_cmp(m, val, len, s->val, s->len) : kv_value_cmp(t, val, len, s->val, s->len);
        if (lower ? c < 0 : c > 0)
            return;
        if (c == 0 && !inclusive)
            s->inclusive = false;
        if (c == 0)
            return;
    }
    s->set = true;
    s->val = val;
    s->len = len;
    s->inclusive = inclusive;
}

/* The range conditions on one field (lt, lte, gt, gte, startsWith, not null) as a range of the part. */
static int part_conditions(conjuncts *c, const kv_model *m, int field, bool desc, part_range *pr, bool *cut,
                           kv_error *err)
{
    kv_type t = field == KV_FIELD_ID ? (kv_id_is_integer(m) ? KV_T_INTEGER : KV_T_STRING) : m->fields[field].type;
    const kv_model *idm = field == KV_FIELD_ID ? m : NULL;
    side vlo = {0}, vhi = {0};
    int starts = -1;
    memset(pr, 0, sizeof(*pr));
    pr->exact = true;
    for (int i = 0; i < c->n; i++) {
        const kv_pred *p = pred_at(c, i);
        if (!p || p->field != field)
            continue;
        switch (p->cmp) {
        case KV_CMP_GT: case KV_CMP_GTE:
            tighten(&vlo, idm, t, p->vals[0], p->lens[0], p->cmp == KV_CMP_GTE, true);
            break;
        case KV_CMP_LT: case KV_CMP_LTE:
            tighten(&vhi, idm, t, p->vals[0], p->lens[0], p->cmp == KV_CMP_LTE, false);
            break;
        case KV_CMP_STARTS:
            if (starts < 0)
                starts = i;
            else
                continue;
            break;
        case KV_CMP_NOT_NULL:
            break;
        default:
            continue;
        }
        c->used[i] = true;
        pr->any = true;
    }
    if (!pr->any)
        return 0;
    if (starts >= 0) {
        /* a prefix range of string contents; other bounds on the part stay residual */
        const kv_pred *p = pred_at(c, starts);
        const char *text;
        size_t tlen;
        msgpack_sbuffer sb;
        if (vlo.set || vhi.set) {
            pr->exact = false;
            for (int i = 0; i < c->n; i++) {
                const kv_pred *q = pred_at(c, i);
                if (q && q->field == field && i != starts && q->cmp != KV_CMP_NOT_NULL)
                    c->used[i] = false;
            }
        }
        if (idm) { /* an id operand is its text */
            text = p->vals[0];
            tlen = p->lens[0];
        } else if (!kv_mp_str_payload(p->vals[0], p->lens[0], &text, &tlen))
            return kv_fail(err, KVORM_EINTERNAL, "startsWith: the operand is not text");
        msgpack_sbuffer_init(&sb);
        if (tlen > KV_KEY_CONTENT_MAX / 2) {
            /* a key keeps only the start of a long value: search by a shorter prefix, re-check the rest */
            size_t keep = KV_KEY_CONTENT_MAX / 2;
            while (keep > 0 && ((unsigned char)text[keep] & 0xc0) == 0x80)
                keep--;
            char head[KV_KEY_CONTENT_MAX + 8];
            msgpack_packer pk;
            msgpack_sbuffer hb;
            msgpack_sbuffer_init(&hb);
            msgpack_packer_init(&pk, &hb, msgpack_sbuffer_write);
            memcpy(head, text, keep);
            kv_pack_strn(&pk, head, keep);
            kv_key_append_string_prefix(&sb, hb.data, hb.size, err);
            msgpack_sbuffer_destroy(&hb);
            *cut = true;
        } else {
            msgpack_sbuffer hb;
            msgpack_packer pk;
            msgpack_sbuffer_init(&hb);
            msgpack_packer_init(&pk, &hb, msgpack_sbuffer_write);
            kv_pack_strn(&pk, text, tlen);
            int prc = kv_key_append_string_prefix(&sb, hb.data, hb.size, err);
            msgpack_sbuffer_destroy(&hb);
            if (prc != 0) {
                msgpack_sbuffer_destroy(&sb);
                return err->code;
            }
        }
        if (desc)
            for (size_t k = 0; k < sb.size; k++)
                sb.data[k] = (char)~sb.data[k];
        char end[KV_KEY_CONTENT_MAX * 2 + 16];
        size_t end_len = 0;
        kv_key_prefix_end(end, &end_len, sb.data, sb.size);
        pr->lo.set = pr->lo.has_raw = true;
        pr->lo.inclusive = true;
        put(&pr->lo.raw, sb.data, sb.size);
        if (end_len) {
            pr->hi.set = pr->hi.has_raw = true;
            pr->hi.inclusive = false;
            put(&pr->hi.raw, end, end_len);
        }
        msgpack_sbuffer_destroy(&sb);
        return 0;
    }
    /* value order to key order: a descending part is read the other way */
    pr->lo = desc ? vhi : vlo;
    pr->hi = desc ? vlo : vhi;
    /* the side without a value bound stops at the non-null values of the type */
    unsigned char clo, chi;
    type_codes(t, &clo, &chi);
    if (!pr->lo.set) {
        pr->lo.set = pr->lo.has_raw = pr->lo.inclusive = true;
        put_byte(&pr->lo.raw, desc ? (unsigned char)(0xff - chi) : clo);
    }
    if (!pr->hi.set) {
        pr->hi.set = pr->hi.has_raw = true;
        pr->hi.inclusive = false;
        put_byte(&pr->hi.raw, desc ? (unsigned char)(0xff - clo + 1) : (unsigned char)(chi + 1));
    }
    return 0;
}

/* Appends the key-order suffix of one side: lower inclusive E+0x05, lower exclusive E+0xfb, upper inclusive
 * E+0xfb (exclusive bound), upper exclusive E+0x05 (exclusive bound). A cut element is widened to inclusive. */
static int put_side(bytes *b, const side *s, bool lower, const kv_model *idm, kv_type t, bool desc, bool *cut,
                    kv_error *err)
{
    bool c = false;
    int rc;
    if (s->has_raw)
        return put(b, s->raw.p, s->raw.n) ? 0 : kv_fail(err, KVORM_EINTERNAL, "out of memory");
    if ((rc = put_elem(b, idm, t, s->val, s->len, desc, &c, err)) != 0)
        return rc;
    if (idm) {
        /* an id element ends the key of the id collection: nothing follows it, and 0x00 is below any extension */
        if (lower ? !s->inclusive : s->inclusive)
            put_byte(b, 0x00);
        return 0;
    }
    bool inclusive = s->inclusive || c;
    if (c)
        *cut = true;
    put_byte(b, lower ? (inclusive ? KEY_NEXT_LO : KEY_AFTER) : (inclusive ? KEY_AFTER : KEY_NEXT_LO));
    return 0;
}

/* ---- building the plan's ranges ---- */

typedef struct builder {
    kv_plan *p;
    bytes all;            /* every bound, end to end */
    size_t (*offs)[4];    /* per range: lo off, lo len, hi off, hi len; SIZE_MAX len = open */
    bool *lo_incl;
    const kv_index **idx; /* per range: its index, NULL for the id collection */
    int n, cap;
    const kv_index *x;    /* the index of the ranges added next */
} builder;

static int add_range(builder *bd, const bytes *lo, bool lo_open, bool lo_incl, const bytes *hi, bool hi_open,
                     kv_error *err)
{
    if (bd->n == bd->cap) {
        int cap = bd->cap ? bd->cap * 2 : 4;
        size_t (*o)[4] = realloc(bd->offs, sizeof(*o) * (size_t)cap);
        bool *li = o ? realloc(bd->lo_incl, sizeof(bool) * (size_t)cap) : NULL;
        if (o)
            bd->offs = o;
        if (li)
            bd->lo_incl = li;
        const kv_index **ix = li ? realloc(bd->idx, sizeof(*ix) * (size_t)cap) : NULL;
        if (!o || !li || !ix)
            return kv_fail(err, KVORM_EINTERNAL, "out of memory");
        bd->idx = ix;
        bd->cap = cap;
    }
    bd->offs[bd->n][0] = bd->all.n;
    bd->offs[bd->n][1] = lo_open ? SIZE_MAX : lo->n;
    if (!lo_open && !put(&bd->all, lo->p, lo->n))
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    bd->offs[bd->n][2] = bd->all.n;
    bd->offs[bd->n][3] = hi_open ? SIZE_MAX : hi->n;
    if (!hi_open && !put(&bd->all, hi->p, hi->n))
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    bd->lo_incl[bd->n] = lo_incl;
    bd->idx[bd->n] = bd->x;
    bd->n++;
    return 0;
}

/* Points the plan's ranges into the finished bytes. */
static int finish_ranges(builder *bd, kv_error *err)
{
    kv_plan *p = bd->p;
    p->nranges = bd->n;
    p->ranges = calloc((size_t)bd->n + 1, sizeof(*p->ranges));
    if (!p->ranges)
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    if (bd->all.n > 0) /* an empty sbuffer has no data to write into */
        msgpack_sbuffer_write(&p->bounds, bd->all.p, bd->all.n);
    for (int i = 0; i < bd->n; i++) {
        kv_range *r = &p->ranges[i];
        r->index = bd->idx[i];
        if (bd->offs[i][1] != SIZE_MAX)
            r->lo = (kv_bound){p->bounds.data + bd->offs[i][0], bd->offs[i][1], bd->lo_incl[i]};
        if (bd->offs[i][3] != SIZE_MAX)
            r->hi = (kv_bound){p->bounds.data + bd->offs[i][2], bd->offs[i][3], false};
    }
    return 0;
}

static void builder_free(builder *bd)
{
    free(bd->all.p);
    free(bd->offs);
    free(bd->lo_incl);
    free(bd->idx);
}

/* ---- choosing an index ---- */

typedef struct candidate {
    const kv_index *x;
    int fixed;          /* leading parts fixed by equalities */
    int eq_conj[8];     /* the conjunct fixing each */
    long combos;        /* ranges: the product of their value counts */
    bool range;         /* a range on the next part */
    bool ordered;
    bool reverse;
    int score;
} candidate;

/* Whether reading x from its part `from` on gives the query's order (forward, or backward when *reverse). */
static bool gives_order(const kv_query *q, const kv_index *x, int from, bool single_range, bool *reverse)
{
    int nkeys = q->norder - 1; /* the id tie-break is settled by sorting ties (query.c) */
    *reverse = false;
    if (!single_range)
        return false;
    if (nkeys == 0) {
        /* only the id: the keys of one range end with the id when every part is fixed */
        *reverse = q->order[0].desc;
        return from == x->nparts;
    }
    if (from + nkeys > x->nparts)
        return false;
    for (int k = 0; k < nkeys; k++) {
        const kv_order_key *o = &q->order[k];
        const kv_index_part *part = &x->parts[from + k];
        /* a part reads asc with nulls first, or backwards desc with nulls last; a desc part the other way */
        bool fwd = o->desc == part->desc && o->nulls_first == !part->desc;
        bool back = o->desc != part->desc && o->nulls_first == part->desc;
        if (o->field != part->field || (!fwd && !back))
            return false;
        if (k == 0)
            *reverse = back;
        else if (*reverse != back)
            return false;
    }
    return true;
}

static void consider(const kv_query *q, conjuncts *c, const kv_index *x, candidate *out)
{
    memset(out, 0, sizeof(*out));
    out->x = x;
    out->combos = 1;
    for (int i = 0; i < x->nparts && i < 8; i++) {
        int k = find_eq(c, x->parts[i].field);
        if (k < 0)
            break;
        const kv_pred *p = pred_at(c, k);
        long n = p->cmp == KV_CMP_IN ? p->nvals : 1;
        if (out->combos * n > KV_MAX_RANGES)
            break;
        out->combos *= n;
        out->eq_conj[out->fixed++] = k;
    }
    if (out->fixed < x->nparts) {
        for (int i = 0; i < c->n; i++) {
            const kv_pred *p = pred_at(c, i);
            if (p && p->field == x->parts[out->fixed].field &&
                (p->cmp == KV_CMP_LT || p->cmp == KV_CMP_LTE || p->cmp == KV_CMP_GT || p->cmp == KV_CMP_GTE ||
                 p->cmp == KV_CMP_STARTS || p->cmp == KV_CMP_NOT_NULL))
                out->range = true;
        }
    }
    out->ordered = gives_order(q, x, out->fixed, out->combos == 1, &out->reverse);
    out->score = out->fixed * 4 + (out->range ? 2 : 0) + (out->ordered ? 1 : 0);
    if (out->combos == 0) /* an empty in-list: nothing matches */
        out->score = 1000;
}

/* Builds the ranges of candidate cd: the product of its fixed parts' values, each followed by the next part's
 * range when there is one. */
static int index_ranges(kv_query *q, conjuncts *c, const candidate *cd, bool *cut, builder *bdp)
{
    const kv_model *m = q->model;
    const kv_index *x = cd->x;
    kv_error *err = q->rq->err;
    builder *bd = bdp;
    part_range pr = {0};
    int idx[8] = {0}, rc = 0;
    bd->x = x;
    bytes prefix = {0}, lo = {0}, hi = {0};
    bool have_range = false;
    if (cd->fixed < x->nparts) {
        const kv_index_part *part = &x->parts[cd->fixed];
        if ((rc = part_conditions(c, m, part->field, part->desc, &pr, cut, err)) != 0)
            goto done;
        have_range = pr.any;
        if (!pr.exact)
            q->plan.covered = false;
    }
    for (int i = 0; i < cd->fixed; i++)
        c->used[cd->eq_conj[i]] = true;
    for (long combo = 0; combo < cd->combos; combo++) {
        prefix.n = 0;
        for (int i = 0; i < cd->fixed; i++) {
            const kv_pred *p = pred_at(c, cd->eq_conj[i]);
            const kv_field *f = &m->fields[x->parts[i].field];
            const char *v = p->cmp == KV_CMP_IS_NULL ? NULL : p->vals[idx[i]];
            size_t vl = p->cmp == KV_CMP_IS_NULL ? 0 : p->lens[idx[i]];
            if ((rc = put_elem(&prefix, NULL, f->type, v, vl, x->parts[i].desc, cut, err)) != 0)
                goto done;
        }
        /* the next combination of in-values, last part fastest */
        for (int i = cd->fixed - 1; i >= 0; i--) {
            const kv_pred *p = pred_at(c, cd->eq_conj[i]);
            int n = p->cmp == KV_CMP_IN ? p->nvals : 1;
            if (++idx[i] < n)
                break;
            idx[i] = 0;
        }
        if (have_range) {
            const kv_index_part *part = &x->parts[cd->fixed];
            const kv_field *f = &m->fields[part->field];
            lo.n = hi.n = 0;
            put(&lo, prefix.p, prefix.n);
            put(&hi, prefix.p, prefix.n);
            if ((rc = put_side(&lo, &pr.lo, true, NULL, f->type, part->desc, cut, err)) != 0 ||
                (rc = put_side(&hi, &pr.hi, false, NULL, f->type, part->desc, cut, err)) != 0)
                goto done;
            rc = add_range(bd, &lo, false, true, &hi, false, err);
        } else if (prefix.n > 0) {
            /* the last fixed element exactly: what follows it starts a new element (KEY_NEXT_LO..KEY_AFTER) */
            lo.n = hi.n = 0;
            put(&lo, prefix.p, prefix.n);
            put_byte(&lo, KEY_NEXT_LO);
            put(&hi, prefix.p, prefix.n);
            put_byte(&hi, KEY_AFTER);
            rc = add_range(bd, &lo, false, true, &hi, false, err);
        } else {
            rc = add_range(bd, NULL, true, true, NULL, true, err);
        }
        if (rc != 0)
            goto done;
    }
done:
    free(prefix.p);
    free(lo.p);
    free(hi.p);
    free(pr.lo.raw.p);
    free(pr.hi.raw.p);
    return rc;
}

/* The id collection read whole, or within the range the conditions on the id give. */
static int scan_ranges(kv_query *q, conjuncts *c, bool *cut)
{
    builder bd = {&q->plan, {0}, NULL, NULL, NULL, 0, 0, NULL};
    part_range pr = {0};
    bytes lo = {0}, hi = {0};
    int rc = part_conditions(c, q->model, KV_FIELD_ID, false, &pr, cut, q->rq->err);
    if (rc == 0 && pr.any) {
        kv_type t = kv_id_is_integer(q->model) ? KV_T_INTEGER : KV_T_STRING;
        if ((rc = put_side(&lo, &pr.lo, true, q->model, t, false, cut, q->rq->err)) == 0 &&
            (rc = put_side(&hi, &pr.hi, false, q->model, t, false, cut, q->rq->err)) == 0)
            rc = add_range(&bd, &lo, false, true, &hi, false, q->rq->err);
        q->plan.has_range = true;
        q->plan.exact_count_ok = false; /* an id element is matched with its next-element byte: keep it simple */
    } else if (rc == 0) {
        rc = add_range(&bd, NULL, true, true, NULL, true, q->rq->err);
    }
    if (rc == 0)
        rc = finish_ranges(&bd, q->rq->err);
    builder_free(&bd);
    free(lo.p);
    free(hi.p);
    free(pr.lo.raw.p);
    free(pr.hi.raw.p);
    return rc;
}

/* An OR whose every branch an index or the id serves: the union of the branches' ranges (rows found twice are
 * dropped by the caller). Leaves the plan unchanged when some branch would need a scan. */
static int try_union(kv_query *q, const conjuncts *c, const kv_index_state *states)
{
    kv_plan *p = &q->plan;
    const kv_model *m = q->model;
    for (int i = 0; i < c->n; i++) {
        const kv_node *or = c->list[i];
        if (or->kind != KV_NODE_OR || or->nkids == 0)
            continue;
        builder bd = {p, {0}, NULL, NULL, NULL, 0, 0, NULL};
        bool ok = true, cut = false;
        int rc = 0;
        for (int k = 0; k < or->nkids && ok && rc == 0; k++) {
            conjuncts c2;
            memset(&c2, 0, sizeof(c2));
            flatten(&c2, or->kids[k]);
            int e = find_eq(&c2, KV_FIELD_ID);
            if (e >= 0 && pred_at(&c2, e)->cmp != KV_CMP_IS_NULL) {
                const kv_pred *ids = pred_at(&c2, e);
                bd.x = NULL;
                for (int v = 0; v < ids->nvals && rc == 0; v++) {
                    bytes lo = {0}, hi = {0};
                    if ((rc = put_elem(&lo, m, KV_T_STRING, ids->vals[v], ids->lens[v], false, &cut, q->rq->err)) == 0) {
                        put(&hi, lo.p, lo.n);
                        put_byte(&hi, 0x00);
                        rc = add_range(&bd, &lo, false, true, &hi, false, q->rq->err);
                    }
                    free(lo.p);
                    free(hi.p);
                }
                continue;
            }
            candidate best = {0};
            bool have = false;
            for (int x = 0; x < m->nindexes; x++) {
                candidate cd;
                if (states[x] != KV_INDEX_READY)
                    continue;
                consider(q, &c2, &m->indexes[x], &cd);
                if (cd.score >= 2 && (!have || cd.score > best.score)) {
                    best = cd;
                    have = true;
                }
            }
            if (!have || c2.overflow) {
                ok = false;
                break;
            }
            rc = index_ranges(q, &c2, &best, &cut, &bd);
        }
        if (rc == 0 && ok && bd.n <= KV_MAX_RANGES) {
            p->kind = KV_PLAN_UNION;
            p->ordered = false;
            p->covered = false;
            p->exact_count_ok = false;
            rc = finish_ranges(&bd, q->rq->err);
            builder_free(&bd);
            return rc;
        }
        builder_free(&bd);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static bool all_used(const conjuncts *c)
{
    for (int i = 0; i < c->n; i++)
        if (!c->used[i])
            return false;
    return !c->overflow;
}

int kv_plan_build(kv_query *q)
{
    kv_plan *p = &q->plan;
    const kv_model *m = q->model;
    conjuncts c;
    kv_index_state states[KV_MAX_BUILT];
    bool cut = false;
    memset(&c, 0, sizeof(c));
    flatten(&c, q->filter.root);
    msgpack_sbuffer_init(&p->bounds);
    msgpack_sbuffer_init(&p->ukey);
    p->covered = true;
    /* 1. by id */
    int k = find_eq(&c, KV_FIELD_ID);
    if (k >= 0 && pred_at(&c, k)->cmp != KV_CMP_IS_NULL) {
        p->kind = KV_PLAN_GET;
        p->ids = pred_at(&c, k);
        c.used[k] = true;
        p->covered = all_used(&c);
        return 0;
    }
    if (kv_model_nbuilt(m) > 0) {
        int rc = kv_db_index_states(q->rq->db, m, states, q->rq->err);
        if (rc != 0)
            return rc;
    }
    /* 2. a unique constraint fixed by equalities (one still being built may miss records) */
    for (int u = 0; u < m->nuniques; u++) {
        int conj[16], n = 0;
        if (states[m->nindexes + u] != KV_INDEX_READY) {
            p->skipped[p->nskipped++] = m->nindexes + u;
            continue;
        }
        for (int i = 0; i < m->uniques[u].nfields && i < 16; i++) {
            int e = find_eq(&c, m->uniques[u].fields[i]);
            if (e < 0 || pred_at(&c, e)->cmp != KV_CMP_EQ)
                break;
            conj[n++] = e;
        }
        if (n != m->uniques[u].nfields)
            continue;
        p->kind = KV_PLAN_UNIQUE;
        p->unique = u;
        for (int i = 0; i < n; i++) {
            const kv_pred *pr = pred_at(&c, conj[i]);
            msgpack_sbuffer_write(&p->ukey, pr->vals[0], pr->lens[0]);
            c.used[conj[i]] = true;
        }
        p->covered = all_used(&c);
        return 0;
    }
    /* 3. the best ready index */
    candidate best = {0};
    bool have = false;
    for (int i = 0; i < m->nindexes; i++) {
        candidate cd;
        if (states[i] != KV_INDEX_READY) {
            p->skipped[p->nskipped++] = i;
            continue;
        }
        consider(q, &c, &m->indexes[i], &cd);
        bool useful = cd.score >= 2 || (cd.ordered && q->given_order);
        if (useful && (!have || cd.score > best.score || (cd.score == best.score && cd.fixed > best.fixed))) {
            best = cd;
            have = true;
        }
    }
    /* a scan in id order serves an order by id alone better than an index that only orders */
    bool scan_ordered = q->norder == 1;
    if (have && !(best.score < 2 && scan_ordered)) {
        p->kind = KV_PLAN_INDEX;
        p->index = best.x;
        p->ordered = best.ordered;
        p->reverse = best.reverse;
        p->fixed_parts = best.fixed;
        p->has_range = best.range;
        if (best.combos == 0) {
            p->kind = KV_PLAN_EMPTY;
            return 0;
        }
        builder bd = {p, {0}, NULL, NULL, NULL, 0, 0, NULL};
        int rc = index_ranges(q, &c, &best, &cut, &bd);
        if (rc == 0)
            rc = finish_ranges(&bd, q->rq->err);
        builder_free(&bd);
        if (rc != 0)
            return rc;
        p->covered = p->covered && all_used(&c);
        p->exact_count_ok = p->covered && !cut;
        return 0;
    }
    /* 4. a union of the branches of an OR */
    if (!have || best.score < 2) {
        int rc = try_union(q, &c, states);
        if (rc != 0 || p->kind == KV_PLAN_UNION)
            return rc;
    }
    /* 5. the id collection */
    p->kind = KV_PLAN_SCAN;
    p->ordered = scan_ordered;
    p->reverse = scan_ordered && q->order[0].desc;
    int rc = scan_ranges(q, &c, &cut);
    if (rc != 0)
        return rc;
    p->covered = p->covered && all_used(&c);
    p->exact_count_ok = p->covered && !cut && !p->has_range;
    return 0;
}

void kv_plan_free(kv_plan *p)
{
    free(p->ranges);
    msgpack_sbuffer_destroy(&p->bounds);
    msgpack_sbuffer_destroy(&p->ukey);
    memset(p, 0, sizeof(*p));
}

/* ---- explain ---- */

static void pack_bound(msgpack_packer *pk, const kv_bound *b)
{
    static const char hex[] = "0123456789abcdef";
    if (!b->data) {
        msgpack_pack_nil(pk);
        return;
    }
    char *text = malloc(b->len * 2 + 2);
    if (!text) {
        msgpack_pack_nil(pk);
        return;
    }
    text[0] = b->inclusive ? '[' : '(';
    for (size_t i = 0; i < b->len; i++) {
        text[1 + 2 * i] = hex[(unsigned char)b->data[i] >> 4];
        text[2 + 2 * i] = hex[(unsigned char)b->data[i] & 15];
    }
    kv_pack_strn(pk, text, b->len * 2 + 1);
    free(text);
}

int kv_plan_explain(kv_query *q, const char *op, msgpack_packer *pk, size_t extra)
{
    static const char *const kinds[] = {"get", "unique", "index", "scan", "empty", "union"};
    const kv_plan *p = &q->plan;
    kv_engine *e = q->rq->db->engine;
    int64_t estimate = -1;
    /* the estimate is what the engine counts in the ranges: one count per range, no record read */
    if (p->kind == KV_PLAN_INDEX || p->kind == KV_PLAN_SCAN || p->kind == KV_PLAN_UNION) {
        estimate = 0;
        for (int i = 0; i < p->nranges; i++) {
            int64_t n = 0;
            const kv_range *r = &p->ranges[i];
            bool whole = !r->index && !r->lo.data && !r->hi.data;
            int rc = e->ops->count(e, q->model, whole ? NULL : r, &n, q->rq->err);
            if (rc != 0)
                return rc;
            estimate += n;
        }
    } else if (p->kind == KV_PLAN_GET) {
        estimate = p->ids->nvals;
    } else if (p->kind == KV_PLAN_UNIQUE) {
        estimate = 1;
    } else {
        estimate = 0;
    }
    bool refused = p->kind == KV_PLAN_SCAN && !p->has_range &&
                   (q->refuse_scans);
    msgpack_pack_map(pk, 14 + extra);
    kv_pack_cstr(pk, "op");
    kv_pack_cstr(pk, op);
    kv_pack_cstr(pk, "model");
    kv_pack_cstr(pk, q->model->name);
    kv_pack_cstr(pk, "plan");
    kv_pack_cstr(pk, kinds[p->kind]);
    kv_pack_cstr(pk, "index");
    if (p->kind == KV_PLAN_INDEX)
        kv_pack_cstr(pk, p->index->name);
    else if (p->kind == KV_PLAN_UNIQUE)
        kv_pack_cstr(pk, q->model->uniques[p->unique].name);
    else
        msgpack_pack_nil(pk);
    kv_pack_cstr(pk, "ranges");
    msgpack_pack_array(pk, (size_t)p->nranges);
    for (int i = 0; i < p->nranges; i++) {
        msgpack_pack_array(pk, 2);
        pack_bound(pk, &p->ranges[i].lo);
        pack_bound(pk, &p->ranges[i].hi);
    }
    kv_pack_cstr(pk, "fixedParts");
    msgpack_pack_int(pk, p->fixed_parts);
    kv_pack_cstr(pk, "ordered");
    p->ordered ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    kv_pack_cstr(pk, "reverse");
    p->reverse ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    kv_pack_cstr(pk, "sort");
    (!p->ordered && p->kind != KV_PLAN_UNIQUE) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    kv_pack_cstr(pk, "residual");
    !p->covered ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    kv_pack_cstr(pk, "estimatedRows");
    msgpack_pack_int64(pk, estimate);
    kv_pack_cstr(pk, "roundTrips");
    /* a page of keys and a get of its records per 1000 keys; a get or lookup is one; the first chunks of several
     * ranges go together (scan_many) */
    if ((p->kind == KV_PLAN_INDEX || p->kind == KV_PLAN_UNION) && p->nranges > 1 && e->ops->scan_many)
        msgpack_pack_int64(pk, 2 * (estimate / KV_SCAN_CHUNK + 1));
    else if (p->kind == KV_PLAN_INDEX || p->kind == KV_PLAN_SCAN || p->kind == KV_PLAN_UNION)
        msgpack_pack_int64(pk, 2 * (estimate / KV_SCAN_CHUNK + p->nranges));
    else
        msgpack_pack_int64(pk, p->kind == KV_PLAN_EMPTY ? 0 : 1);
    kv_pack_cstr(pk, "skippedIndexes");
    msgpack_pack_array(pk, (size_t)p->nskipped);
    for (int i = 0; i < p->nskipped; i++) {
        const kv_model *m = q->model;
        int x = p->skipped[i];
        msgpack_pack_map(pk, 2);
        kv_pack_cstr(pk, x < m->nindexes ? "index" : "unique");
        kv_pack_cstr(pk, x < m->nindexes ? m->indexes[x].name : m->uniques[x - m->nindexes].name);
        kv_pack_cstr(pk, "why");
        kv_pack_cstr(pk, "building");
    }
    kv_pack_cstr(pk, "refused");
    refused ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    return 0;
}
