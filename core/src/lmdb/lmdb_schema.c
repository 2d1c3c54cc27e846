/* The LMDB engine's side of the schema: the engine's format version (checked at open), and syncing the stored
 * layouts (docs/schema.md) with the index lifecycle that follows a new or removed index or constraint. One write
 * transaction checks every model and stores the compatible changes, so no compare-and-set loop is needed. */
#include "lmdb_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_KEY "format"

static int mismatch(kv_error *err, const char *path, const char *why)
{
    char where[256];
    kv_sanitize(where, sizeof(where), path, strlen(path));
    kv_fail(err, KVORM_ESCHEMA_MISMATCH, "the LMDB environment at %s %s", where, why);
    return err->code;
}

int kv_lmdb_check_format(lm_env *le, kv_error *err)
{
    MDB_val k = {sizeof(FORMAT_KEY) - 1, FORMAT_KEY}, v;
    lm_txn t;
    char text[16];
    int rc = kv_lmdb_begin(le, !le->readonly, &t, err);
    if (rc != 0)
        return rc;
    int got = mdb_get(t.txn, le->dbi[LM_META], &k, &v);
    if (got == MDB_NOTFOUND) {
        if (le->readonly) {
            kv_lmdb_abort(&t); /* nothing is stored yet: nothing to read either */
            return 0;
        }
        int n = snprintf(text, sizeof(text), "%d", KV_LMDB_FORMAT);
        MDB_val nv = {(size_t)n, text};
        if ((got = mdb_put(t.txn, le->dbi[LM_META], &k, &nv, 0)) != 0) {
            kv_lmdb_abort(&t);
            return kv_lmdb_fail(err, got, NULL, "storing the format version");
        }
        return kv_lmdb_commit(&t) ? kv_lmdb_fail(err, t.mdb_rc, NULL, "storing the format version") : 0;
    }
    if (got != 0) {
        kv_lmdb_abort(&t);
        return kv_lmdb_fail(err, got, NULL, "reading the format version");
    }
    long format = -1;
    if (v.mv_size > 0 && v.mv_size < sizeof(text)) {
        char *end;
        memcpy(text, v.mv_data, v.mv_size);
        text[v.mv_size] = '\0';
        format = strtol(text, &end, 10);
        if (*end || format < 1)
            format = -1;
    }
    kv_lmdb_abort(&t);
    if (format < 0)
        return mismatch(err, le->path, "holds an unreadable format version (was it written by kvorm?)");
    if (format > KV_LMDB_FORMAT) {
        char why[160];
        snprintf(why, sizeof(why), "was written by a newer kvorm (LMDB layout format %ld; this version reads %d)",
                 format, KV_LMDB_FORMAT);
        return mismatch(err, le->path, why);
    }
    return 0;
}

/* ---- syncing the layouts ---- */

typedef struct sync {
    lmdb_engine *e;
    const kvorm_schema *s;
    char **stored; /* per model: a copy of its stored layout, or NULL */
    size_t *lens;
    int *verdict;  /* per model: 0 the same, 1 to store */
} sync;

static void sync_clear(sync *c)
{
    for (int i = 0; c->stored && i < c->s->nmodels; i++) {
        free(c->stored[i]);
        c->stored[i] = NULL;
    }
}

/* Reads and compares every model's stored layout; a mismatch fails the whole sync. */
static int compare_all(sync *c, lm_txn *t, kv_error *err)
{
    msgpack_sbuffer key;
    int rc = 0;
    msgpack_sbuffer_init(&key);
    sync_clear(c);
    for (int i = 0; rc == 0 && i < c->s->nmodels; i++) {
        const kv_model *m = &c->s->models[i];
        MDB_val v;
        if ((rc = kv_lmdb_meta_key(&key, "s", c->s->ns, m, err)) != 0)
            break;
        int got = kv_lmdb_get(t->txn, t->env, LM_META, key.data, key.size, &v);
        if (got != 0 && got != MDB_NOTFOUND) {
            rc = kv_lmdb_check(t, got, m->name, "reading the stored schema", err);
            break;
        }
        if (got == MDB_NOTFOUND) {
            c->verdict[i] = 1;
        } else {
            if (!(c->stored[i] = malloc(v.mv_size + 1))) {
                rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
                break;
            }
            memcpy(c->stored[i], v.mv_data, v.mv_size);
            c->lens[i] = v.mv_size;
            c->verdict[i] = kv_layout_compare(m, c->stored[i], c->lens[i], err);
            if (c->verdict[i] < 0)
                rc = c->verdict[i];
        }
    }
    msgpack_sbuffer_destroy(&key);
    return rc;
}

static bool has_records(lm_txn *t, const msgpack_sbuffer *prefix, int *rc)
{
    static const kv_bound open = {NULL, 0, false};
    lm_iter it;
    const char *k;
    size_t kl;
    MDB_val v;
    *rc = kv_lmdb_iter_open(&it, t->txn, t->env, LM_RECORDS, prefix->data, prefix->size, &open, &open, false);
    if (*rc != 0)
        return false;
    *rc = kv_lmdb_iter_next(&it, &k, &kl, &v);
    kv_lmdb_iter_close(&it);
    bool any = *rc == 0;
    if (*rc == MDB_NOTFOUND)
        *rc = 0;
    return any;
}

/* Drops the entries and the build state of an index ('x') or constraint ('u') the model no longer has. */
static int drop(lm_txn *t, const char *ns, const kv_model *m, char kind, const char *name, kv_error *err)
{
    msgpack_sbuffer key;
    int rc;
    msgpack_sbuffer_init(&key);
    if ((rc = kv_lmdb_prefix(&key, ns, m, name, err)) == 0 &&
        (rc = kv_lmdb_check(t, kv_lmdb_del_prefix(t->txn, t->env, kind == 'x' ? LM_INDEX : LM_UNIQUES, key.data,
                                                  key.size),
                            m->name, "dropping a removed index", err)) == 0 &&
        (rc = kv_lmdb_build_key_named(&key, ns, m, kind, name, err)) == 0) {
        int got = kv_lmdb_del(t->txn, t->env, LM_META, key.data, key.size);
        rc = got == MDB_NOTFOUND ? 0 : kv_lmdb_check(t, got, m->name, "dropping a removed index", err);
    }
    msgpack_sbuffer_destroy(&key);
    return rc;
}

/* Stores model m's layout; the indexes and constraints the stored layout lacks are marked building when the model
 * has records (on an empty model they are complete: empty), those it dropped lose their entries and state. */
static int store_layout(lm_txn *t, const char *ns, const kv_model *m, const char *stored, size_t stored_len,
                        kv_error *err)
{
    msgpack_zone *zone = msgpack_zone_new(1024);
    bool *is_new = calloc((size_t)kv_model_nbuilt(m) + 1, sizeof(*is_new));
    kv_layout_removed removed;
    msgpack_sbuffer key;
    int rc = 0;
    msgpack_sbuffer_init(&key);
    memset(&removed, 0, sizeof(removed));
    if (!zone || !is_new)
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
    else
        rc = kv_layout_index_changes(m, stored, stored_len, is_new, &removed, zone, err);
    for (int i = 0; rc == 0 && i < removed.nindexes; i++)
        rc = drop(t, ns, m, 'x', removed.indexes[i], err);
    for (int i = 0; rc == 0 && i < removed.nuniques; i++)
        rc = drop(t, ns, m, 'u', removed.uniques[i], err);
    bool any = false;
    if (rc == 0 && (rc = kv_lmdb_prefix(&key, ns, m, NULL, err)) == 0) {
        int got;
        any = has_records(t, &key, &got);
        rc = kv_lmdb_check(t, got, m->name, "storing the schema", err);
    }
    for (int i = 0; rc == 0 && any && i < kv_model_nbuilt(m); i++)
        if (is_new[i] && (rc = kv_lmdb_build_key(&key, ns, m, i, err)) == 0)
            rc = kv_lmdb_check(t, kv_lmdb_put(t->txn, t->env, LM_META, key.data, key.size, "", 0), m->name,
                               "storing the schema", err);
    if (rc == 0 && (rc = kv_lmdb_meta_key(&key, "s", ns, m, err)) == 0)
        rc = kv_lmdb_check(t, kv_lmdb_put(t->txn, t->env, LM_META, key.data, key.size, m->layout, m->layout_len),
                           m->name, "storing the schema", err);
    msgpack_sbuffer_destroy(&key);
    free(is_new);
    if (zone)
        msgpack_zone_free(zone);
    return rc;
}

static int sync_fn(lm_txn *t, void *ctx, kv_error *err)
{
    sync *c = ctx;
    int rc = compare_all(c, t, err);
    for (int i = 0; rc == 0 && i < c->s->nmodels; i++)
        if (c->verdict[i] == 1)
            rc = store_layout(t, c->s->ns, &c->s->models[i], c->stored[i], c->lens[i], err);
    return rc;
}

/* Read-only: the stored schema must need no change, or the planner would trust indexes that were never built. */
static int check_readonly(sync *c, kv_error *err)
{
    lm_txn t;
    int rc = kv_lmdb_begin(c->e->env, false, &t, err);
    if (rc != 0)
        return rc;
    rc = compare_all(c, &t, err);
    kv_lmdb_abort(&t);
    for (int i = 0; rc == 0 && i < c->s->nmodels; i++) {
        if (c->verdict[i] != 1)
            continue;
        char where[256];
        kv_sanitize(where, sizeof(where), c->e->env->path, strlen(c->e->env->path));
        kv_fail_at(err, KVORM_EUNAVAILABLE, c->s->models[i].name, NULL,
                   "%s: the schema has changes to store in the LMDB environment at %s, which is open read-only "
                   "(readonly=1): open it once read-write with this schema",
                   c->s->models[i].name, where);
        kv_error_set_retryable(err, false);
        rc = err->code;
    }
    return rc;
}

int kv_lmdb_sync_schema(kv_engine *eng, const kvorm_schema *s, kv_error *err)
{
    lmdb_engine *e = (lmdb_engine *)eng;
    sync c = {.e = e, .s = s};
    int rc;
    free(e->ns);
    if (!(e->ns = strdup(s->ns)))
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    c.stored = calloc((size_t)s->nmodels + 1, sizeof(*c.stored));
    c.lens = calloc((size_t)s->nmodels + 1, sizeof(*c.lens));
    c.verdict = calloc((size_t)s->nmodels + 1, sizeof(*c.verdict));
    if (!c.stored || !c.lens || !c.verdict)
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
    else if (e->readonly)
        rc = check_readonly(&c, err);
    else
        rc = kv_lmdb_write(e, NULL, sync_fn, &c, err);
    sync_clear(&c);
    free(c.stored);
    free(c.lens);
    free(c.verdict);
    return rc;
}
