/* The errors every engine gives in the same words (docs/errors.md): a taken id or unique value, a unique build
 * that met two records with one value, two writes of one call giving the same value, a lookup by a unique
 * constraint still being built. And the two look-ups
 * of a write's values they are worded from. */
#include "engine.h"

#include "mp.h"
#include "value.h"

#include <stdio.h>
#include <string.h>

const kv_field_value *kv_write_create_value(const kv_write *w, int f)
{
    for (int i = 0; i < w->ncreate; i++)
        if (w->create[i].field == f)
            return &w->create[i];
    return NULL;
}

const kv_field_value *kv_write_value(const kv_write *w, int f)
{
    for (int i = 0; i < w->nset; i++)
        if (w->set[i].field == f)
            return &w->set[i];
    return kv_write_create_value(w, f);
}

/* "field value, field value" of the constraint's fields, cut at a code point; value(i) gives field i's stored
 * bytes (NULL: skipped). */
static void describe_values(char *vals, size_t cap, const kv_model *m, const kv_unique *u,
                            const char *(*value)(const void *ctx, int i, size_t *len), const void *ctx)
{
    char one[128];
    size_t o = 0;
    vals[0] = '\0';
    for (int i = 0; i < u->nfields && o < cap; i++) {
        size_t len = 0;
        const char *v = value(ctx, i, &len);
        if (!v)
            continue;
        kv_value_describe(one, sizeof(one), v, len);
        o += (size_t)snprintf(vals + o, cap - o, "%s%s %s", o ? ", " : "", m->fields[u->fields[i]].name, one);
    }
    if (o >= cap)
        vals[kv_utf8_cut(vals, cap - 1)] = '\0';
}

/* Names the model and the constraint's fields, before the message: kv_fail publishes the error as it is then. */
static void name_fields(kv_error *err, const kv_model *m, const kv_unique *u)
{
    err->model = m->name;
    err->nfields = 0;
    for (int i = 0; i < u->nfields; i++)
        kv_error_add_field(err, m->fields[u->fields[i]].name);
}

typedef struct written {
    const kv_write *w;
    const kv_unique *u;
} written;

static const char *written_of(const void *ctx, int i, size_t *len)
{
    const written *x = ctx;
    const kv_field_value *fv = kv_write_value(x->w, x->u->fields[i]);
    *len = fv ? fv->len : 0;
    return fv ? fv->data : NULL;
}

int kv_fail_unique_taken(kv_error *err, const kv_write *w, const char *id, size_t id_len, int which)
{
    const kv_model *m = w->model;
    if (which <= 0 || which > m->nuniques) {
        char q[96];
        kv_quote(q, sizeof(q), id ? id : "", id ? id_len : 0);
        return kv_fail_at(err, KVORM_EUNIQUE, m->name, "id", "%s: a record with id %s already exists", m->name, q);
    }
    const kv_unique *u = &m->uniques[which - 1];
    written x = {w, u};
    char vals[256];
    describe_values(vals, sizeof(vals), m, u, written_of, &x);
    name_fields(err, m, u);
    return kv_fail(err, KVORM_EUNIQUE, "%s: unique constraint %s is violated: another record has %s", m->name,
                   u->name, vals[0] ? vals : "the same value");
}

typedef struct key_values {
    const char *key;
    size_t len;
    size_t off;
} key_values;

/* The key's values one after another (they are self-delimiting MessagePack objects). */
static const char *key_value(const void *ctx, int i, size_t *len)
{
    key_values *k = (key_values *)ctx;
    size_t n = 0;
    (void)i;
    if (k->off >= k->len || kv_mp_check(k->key + k->off, k->len - k->off, &n, KV_MAX_DEPTH) != KV_MP_OK)
        return NULL;
    const char *v = k->key + k->off;
    k->off += n;
    *len = n;
    return v;
}

int kv_fail_unique_build(kv_error *err, const kv_model *m, const kv_unique *u, const char *ukey, size_t ulen,
                         const char *a, size_t al, const char *b, size_t bl)
{
    char vals[256], qa[96], qb[96];
    key_values k = {ukey, ulen, 0};
    describe_values(vals, sizeof(vals), m, u, key_value, &k);
    kv_quote(qa, sizeof(qa), a, al);
    kv_quote(qb, sizeof(qb), b, bl);
    name_fields(err, m, u);
    return kv_fail(err, KVORM_EUNIQUE,
                   "%s: cannot build unique constraint %s: records %s and %s both have %s; change or delete one, then "
                   "run reindex again",
                   m->name, u->name, qa, qb, vals[0] ? vals : "the same value");
}

int kv_fail_unique_pair(kv_error *err, const kv_model *m, int which, const char *key, size_t len, const char *a,
                        const char *b)
{
    if (which <= 0 || which > m->nuniques) {
        char q[96];
        kv_quote(q, sizeof(q), key, len);
        return kv_fail_at(err, KVORM_EUNIQUE, m->name, "id", "%s: %s and %s both have id %s", m->name, a, b, q);
    }
    const kv_unique *u = &m->uniques[which - 1];
    char vals[256];
    key_values k = {key, len, 0};
    describe_values(vals, sizeof(vals), m, u, key_value, &k);
    name_fields(err, m, u);
    return kv_fail(err, KVORM_EUNIQUE, "%s: unique constraint %s would be violated: %s and %s would both have %s",
                   m->name, u->name, a, b, vals[0] ? vals : "the same value");
}

int kv_fail_unique_building(kv_error *err, const kv_model *m, const kv_unique *u)
{
    name_fields(err, m, u);
    return kv_fail(err, KVORM_EUNAVAILABLE,
                   "%s: unique constraint %s is still being built, so a lookup by it could miss a record; run reindex "
                   "(or wait for the process that runs it), or select the record by id",
                   m->name, u->name);
}

int kv_fail_guard(kv_error *err, const kv_write *w, const kv_guard *g, char what)
{
    const kv_model *m = w->model, *o = g->owner;
    const kv_relation *r = &o->relations[g->relation];
    if (what == 'b') {
        kv_fail_at(err, KVORM_EUNAVAILABLE, m->name, NULL,
                   "%s: the keys of %s.%s are being indexed; a write that relation keeps consistent waits for the "
                   "build (retry later)",
                   m->name, o->name, r->name);
        kv_error_set_retryable(err, true);
        return err->code;
    }
    if (what == 'c') {
        kv_fail_at(err, KVORM_ECONFLICT, m->name, NULL,
                   "%s: the records of %s.%s it was checked against changed before the write; nothing was written",
                   m->name, o->name, r->name);
        kv_error_set_retryable(err, true);
        return err->code;
    }
    /* a missing target: the write sets the foreign key of r, whose values it has */
    char vals[200], one[128];
    size_t at = 0;
    vals[0] = '\0';
    for (int i = 0; i < r->nfields && at < sizeof(vals); i++) {
        const kv_field_value *fv = kv_write_value(w, r->fields[i]);
        if (!fv)
            continue;
        kv_value_describe(one, sizeof(one), fv->data, fv->len);
        at += (size_t)snprintf(vals + at, sizeof(vals) - at, "%s%s %s", at ? ", " : "", o->fields[r->fields[i]].name,
                               one);
    }
    if (at >= sizeof(vals))
        vals[kv_utf8_cut(vals, sizeof(vals) - 1)] = '\0';
    const char *keys[KV_MAX_INDEX_PARTS];
    for (int i = 0; i < r->nfields; i++)
        keys[i] = o->fields[r->fields[i]].name;
    kv_fail_at(err, KVORM_ERELATION, m->name, keys[0], "%s.%s: no %s record has the %s that %s holds", m->name,
               r->name, g->model->name, r->references < 0 ? "id" : "key", vals);
    for (int i = 1; i < r->nfields; i++)
        kv_error_add_field(err, keys[i]);
    return err->code;
}
