#include "number_ops.h"

#include "decimal.h"
#include "error.h"
#include "mp.h"
#include "value.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"increment", "decrement", "multiply", "divide"};

const char *kv_number_op_name(kv_number_op_kind k) { return names[k]; }

bool kv_number_op_parse(const char *n, size_t len, kv_number_op_kind *k)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == len && memcmp(names[i], n, len) == 0) {
            *k = (kv_number_op_kind)i;
            return true;
        }
    return false;
}

/* VALIDATION naming the field, the op and both values. */
static int refuse(kv_error *err, const kv_model *m, const kv_field *f, const char *cur, size_t cur_len,
                  const kv_field_op *op, const char *why)
{
    char a[96], b[96];
    kv_value_describe(a, sizeof(a), cur, cur_len);
    kv_value_describe(b, sizeof(b), op->data, op->len);
    return kv_fail_at(err, KVORM_EVALIDATION, m->name, f->name, "%s.%s: %s of %s by %s %s", m->name, f->name,
                      kv_number_op_name(op->kind), a, b, why);
}

static bool as_int64(const msgpack_object *o, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *v = (int64_t)o->via.u64;
        return true;
    }
    return false;
}

static bool as_double(const msgpack_object *o, double *v)
{
    if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) {
        *v = o->via.f64;
        return true;
    }
    return false;
}

static int integer_op(int64_t a, int64_t b, kv_number_op_kind k, int64_t *r)
{
    switch (k) {
    case KV_NUM_INCREMENT: return __builtin_add_overflow(a, b, r) ? 1 : 0;
    case KV_NUM_DECREMENT: return __builtin_sub_overflow(a, b, r) ? 1 : 0;
    case KV_NUM_MULTIPLY: return __builtin_mul_overflow(a, b, r) ? 1 : 0;
    case KV_NUM_DIVIDE:
        if (b == 0)
            return 2;
        if (a == INT64_MIN && b == -1)
            return 1;
        *r = a / b; /* C truncates toward zero, as SQL's integer division */
        return 0;
    }
    return 1;
}

static int float_op(double a, double b, kv_number_op_kind k, double *r)
{
    switch (k) {
    case KV_NUM_INCREMENT: *r = a + b; break;
    case KV_NUM_DECREMENT: *r = a - b; break;
    case KV_NUM_MULTIPLY: *r = a * b; break;
    case KV_NUM_DIVIDE:
        if (b == 0)
            return 2;
        *r = a / b;
        break;
    }
    return isfinite(*r) ? 0 : 1;
}

/* The result of a decimal op in out (KV_DECIMAL_TEXT_MAX): its length, 0 on overflow, (size_t)-1 for a division by
 * zero. */
static size_t decimal_op(char *out, const char *a, size_t al, const char *b, size_t bl, kv_number_op_kind k)
{
    char neg[KV_DECIMAL_TEXT_MAX + 2];
    switch (k) {
    case KV_NUM_INCREMENT: return kv_decimal_add(out, a, al, b, bl);
    case KV_NUM_DECREMENT:
        if (bl == 1 && b[0] == '0')
            return kv_decimal_add(out, a, al, b, bl);
        if (b[0] == '-')
            return kv_decimal_add(out, a, al, b + 1, bl - 1);
        neg[0] = '-';
        memcpy(neg + 1, b, bl);
        return kv_decimal_add(out, a, al, neg, bl + 1);
    case KV_NUM_MULTIPLY: return kv_decimal_mul(out, a, al, b, bl);
    case KV_NUM_DIVIDE: {
        if (bl == 1 && b[0] == '0')
            return (size_t)-1;
        size_t scale = kv_decimal_scale(a, al);
        return kv_decimal_quot(out, a, al, b, bl, scale > KV_DECIMAL_DIVIDE_DIGITS ? scale : KV_DECIMAL_DIVIDE_DIGITS);
    }
    }
    return 0;
}

int kv_number_op_apply(msgpack_sbuffer *out, const kv_model *m, const kv_field *f, const char *cur, size_t cur_len,
                       const kv_field_op *op, kv_error *err)
{
    msgpack_object x = {0}, y = {0}, res = {0};
    char text[KV_DECIMAL_TEXT_MAX];
    int bad = 3, rc;
    msgpack_zone *zone = kv_mp_zone_take();
    if (!zone)
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    if (kv_mp_unpack(zone, cur, cur_len, &x) == KV_MP_OK && kv_mp_unpack(zone, op->data, op->len, &y) == KV_MP_OK) {
        if (f->type == KV_T_INTEGER) {
            int64_t a, b, r = 0;
            if (as_int64(&x, &a) && as_int64(&y, &b) && (bad = integer_op(a, b, op->kind, &r)) == 0) {
                res.type = r < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER : MSGPACK_OBJECT_POSITIVE_INTEGER;
                res.via.i64 = r;
            }
        } else if (f->type == KV_T_FLOAT) {
            double a, b, r = 0;
            if (as_double(&x, &a) && as_double(&y, &b) && (bad = float_op(a, b, op->kind, &r)) == 0) {
                res.type = MSGPACK_OBJECT_FLOAT64;
                res.via.f64 = r;
            }
        } else if (f->type == KV_T_DECIMAL && x.type == MSGPACK_OBJECT_STR && y.type == MSGPACK_OBJECT_STR) {
            size_t n = decimal_op(text, x.via.str.ptr, x.via.str.size, y.via.str.ptr, y.via.str.size, op->kind);
            bad = n == (size_t)-1 ? 2 : n == 0 ? 1 : 0;
            res.type = MSGPACK_OBJECT_STR;
            res.via.str.ptr = text;
            res.via.str.size = (uint32_t)(bad ? 0 : n);
        }
    }
    if (bad == 0)
        rc = kv_value_encode(out, m, f, &res, KV_MODE_MSGPACK, err);
    else
        rc = refuse(err, m, f, cur, cur_len, op,
                    bad == 2   ? "divides by zero"
                    : bad == 1 ? (f->type == KV_T_INTEGER ? "overflows int64"
                                  : f->type == KV_T_FLOAT ? "is not a finite number"
                                                             : "needs more than 1000 digits")
                               : "is not a number of the field's type");
    kv_mp_zone_give(zone);
    return rc;
}

int kv_number_ops_apply_all(const kv_write *w, const char **vals, size_t *lens, msgpack_sbuffer *buf, kv_error *err)
{
    size_t *at = calloc((size_t)w->nops + 1, sizeof(*at));
    int rc = 0;
    if (!at)
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    buf->size = 0;
    for (int i = 0; i < w->nops && rc == 0; i++) {
        const kv_field_op *op = &w->ops[i];
        at[i] = buf->size;
        if (vals[op->field]) /* null stays null, as in SQL */
            rc = kv_number_op_apply(buf, w->model, &w->model->fields[op->field], vals[op->field], lens[op->field],
                                    op, err);
    }
    /* the buffer may have moved while it grew: the values point into it only now */
    for (int i = 0; i < w->nops && rc == 0; i++) {
        int f = w->ops[i].field;
        if (!vals[f])
            continue;
        size_t end = i + 1 < w->nops ? at[i + 1] : buf->size;
        vals[f] = buf->data + at[i];
        lens[f] = end - at[i];
    }
    free(at);
    return rc;
}
