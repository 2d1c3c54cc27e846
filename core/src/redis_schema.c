/* The Redis engine's side of the schema: every model's key names (docs/format.md, "Keys (Redis)"), and syncing
 * the stored layouts (docs/schema.md), with the index lifecycle that follows a new or removed index. */
#include "redis_internal.h"

#include "redis_scripts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- key names ---- */

static bool key_make(kv_rkey *k, const char *ns, const char *model, const char *kind, const char *name)
{
    int n = snprintf(NULL, 0, "%s:{%s}:%s%s", ns, model, kind, name);
    if (n < 0 || !(k->s = malloc((size_t)n + 1)))
        return false;
    snprintf(k->s, (size_t)n + 1, "%s:{%s}:%s%s", ns, model, kind, name);
    k->len = (size_t)n;
    return true;
}

static void model_keys_free(kv_model_keys *k)
{
    free(k->rec.s);
    free(k->ids.s);
    free(k->seq.s);
    free(k->xs.s);
    free(k->guard.s);
    for (int i = 0; k->u && i < k->nu; i++)
        free(k->u[i].s);
    for (int i = 0; k->x && i < k->nx; i++)
        free(k->x[i].s);
    free(k->u);
    free(k->x);
    memset(k, 0, sizeof(*k));
}

void kv_redis_keys_free(redis_engine *e)
{
    for (int i = 0; e->keys && i < e->nkeys; i++)
        model_keys_free(&e->keys[i]);
    free(e->keys);
    free(e->schema_key);
    e->keys = NULL;
    e->nkeys = 0;
    e->schema_key = NULL;
}

static bool model_keys_make(kv_model_keys *k, const char *ns, const kv_model *m)
{
    bool ok = key_make(&k->rec, ns, m->name, "r:", "") && key_make(&k->ids, ns, m->name, "ids", "") &&
              key_make(&k->seq, ns, m->name, "seq", "") && key_make(&k->xs, ns, m->name, "xs", "") &&
              key_make(&k->guard, ns, m->name, "guard", "");
    k->u = calloc((size_t)m->nuniques + 1, sizeof(*k->u));
    k->x = calloc((size_t)m->nindexes + 1, sizeof(*k->x));
    ok = ok && k->u && k->x;
    if (ok)
        k->nu = m->nuniques, k->nx = m->nindexes;
    for (int i = 0; ok && i < m->nuniques; i++)
        ok = key_make(&k->u[i], ns, m->name, "u:", m->uniques[i].name);
    for (int i = 0; ok && i < m->nindexes; i++)
        ok = key_make(&k->x[i], ns, m->name, "x:", m->indexes[i].name);
    return ok;
}

/* Names every key of every model of s, once per engine (a db has one schema). */
static int keys_make(redis_engine *e, const kvorm_schema *s, kv_error *err)
{
    int n = snprintf(NULL, 0, "%s:$schema", s->ns);
    kv_redis_keys_free(e);
    e->keys = calloc((size_t)s->nmodels + 1, sizeof(*e->keys));
    e->schema_key = malloc((size_t)n + 1);
    if (!e->keys || !e->schema_key) {
        kv_redis_keys_free(e);
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    }
    snprintf(e->schema_key, (size_t)n + 1, "%s:$schema", s->ns);
    e->schema_key_len = (size_t)n;
    e->nkeys = s->nmodels;
    for (int i = 0; i < s->nmodels; i++)
        if (!model_keys_make(&e->keys[s->models[i].position], s->ns, &s->models[i])) {
            kv_redis_keys_free(e);
            return kv_fail(err, KVORM_EINTERNAL, "out of memory");
        }
    return 0;
}

/* ---- syncing the layouts ---- */

static const redisReply *stored_layout(const redisReply *all, const char *model)
{
    size_t n = strlen(model);
    for (size_t i = 0; i + 1 < all->elements; i += 2)
        if (all->element[i]->len == n && memcmp(all->element[i]->str, model, n) == 0)
            return all->element[i + 1];
    return NULL;
}

/* The key of an index ("x:") or unique constraint ("u:") the model no longer has: "<ns>:{<M>}:<kind><name>". */
static void arg_dropped_key(argbuf *a, const kv_model_keys *k, const char *kind, const char *name)
{
    size_t plen = k->xs.len - 2, nl = strlen(name); /* the states key "<ns>:{<M>}:xs" less "xs" */
    char *key = malloc(plen + 2 + nl + 1);
    if (key) {
        memcpy(key, k->xs.s, plen);
        memcpy(key + plen, kind, 2);
        memcpy(key + plen + 2, name, nl + 1);
    }
    arg_own(a, key, plen + 2 + nl);
}

void kv_redis_arg_unique_state(argbuf *a, const kv_unique *u) { arg_concat(a, "u:", 2, u->name, strlen(u->name)); }

static void arg_removed_unique_state(argbuf *a, const char *name) { arg_concat(a, "u:", 2, name, strlen(name)); }

/* Stores model m's layout if the stored one is still `st` (NULL: none); *changed is set when it is not. The
 * indexes and unique constraints the stored layout lacks are marked building when the model has records (an
 * empty model's are complete: empty); the entries and state of those the model dropped are deleted. */
static int store_layout(redis_engine *e, redisContext *c, const kv_model *m, const redisReply *st, bool *broken,
                        bool *changed, kv_error *err)
{
    const kv_model_keys *k = &e->keys[m->position];
    msgpack_zone *zone = msgpack_zone_new(1024);
    bool *is_new = calloc((size_t)kv_model_nbuilt(m) + 1, sizeof(*is_new));
    kv_layout_removed rm = {0};
    int nnew = 0;
    argbuf a = {0};
    redisReply *r = NULL;
    bool sent = false;
    int rc = 0;
    if (!zone || !is_new)
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
    else
        rc = kv_layout_index_changes(m, st ? st->str : NULL, st ? st->len : 0, is_new, &rm, zone, err);
    if (rc != 0)
        goto out;
    for (int i = 0; i < kv_model_nbuilt(m); i++)
        nnew += is_new[i];
    arg_cstr(&a, "");
    arg_cstr(&a, "");
    arg_int(&a, 3 + rm.nindexes + rm.nuniques);
    arg_add(&a, e->schema_key, e->schema_key_len);
    arg_key(&a, &k->ids);
    arg_key(&a, &k->xs);
    for (int i = 0; i < rm.nindexes; i++)
        arg_dropped_key(&a, k, "x:", rm.indexes[i]);
    for (int i = 0; i < rm.nuniques; i++)
        arg_dropped_key(&a, k, "u:", rm.uniques[i]);
    arg_cstr(&a, m->name);
    arg_add(&a, st ? st->str : "", st ? st->len : 0);
    arg_add(&a, m->layout, m->layout_len);
    arg_int(&a, nnew);
    for (int i = 0; i < m->nindexes; i++)
        if (is_new[i])
            arg_cstr(&a, m->indexes[i].name);
    for (int i = 0; i < m->nuniques; i++)
        if (is_new[m->nindexes + i])
            kv_redis_arg_unique_state(&a, &m->uniques[i]);
    arg_int(&a, rm.nindexes + rm.nuniques);
    for (int i = 0; i < rm.nindexes; i++)
        arg_cstr(&a, rm.indexes[i]);
    for (int i = 0; i < rm.nuniques; i++)
        arg_removed_unique_state(&a, rm.uniques[i]);
    /* opening again is always safe (the schema script compares before it writes) */
    rc = a.oom ? kv_fail(err, KVORM_EINTERNAL, "out of memory")
               : kv_redis_script(e, c, KV_SCRIPT_SCHEMA, &a, &r, broken, &sent, err);
    if (rc == 0 && r->type == REDIS_REPLY_ERROR)
        rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "the schema script", r);
    if (rc == 0)
        *changed = r->type == REDIS_REPLY_INTEGER && r->integer == 0;
out:
    arg_free(&a);
    if (r)
        freeReplyObject(r);
    if (zone)
        msgpack_zone_free(zone);
    free(is_new);
    return rc;
}

/* Checks every model first and writes only when all are compatible; a layout changed by another process
 * between the read and the write makes the whole check run again. */
int kv_redis_sync_schema(kv_engine *eng, const kvorm_schema *s, kv_error *err)
{
    redis_engine *e = (redis_engine *)eng;
    redisContext *c;
    bool broken = false;
    int rc;
    if ((rc = keys_make(e, s, err)) != 0)
        return rc;
    if ((rc = kv_pool_acquire(&e->pool, &c, err)) != 0)
        return rc;
    for (int attempt = 0; attempt < 5; attempt++) {
        const char *argv[2] = {"HGETALL", e->schema_key};
        size_t lens[2] = {7, e->schema_key_len};
        redisReply *all;
        bool retry = false;
        if ((rc = kv_redis_run(c, 2, argv, lens, &all, &broken, NULL, err)) != 0)
            break;
        if (all->type != REDIS_REPLY_ARRAY) {
            rc = kv_redis_error(err, KVORM_EINTERNAL, NULL, "HGETALL of the stored schema", all);
            freeReplyObject(all);
            break;
        }
        int *verdict = calloc((size_t)s->nmodels + 1, sizeof(int));
        if (!verdict) {
            rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
            freeReplyObject(all);
            break;
        }
        for (int i = 0; rc == 0 && i < s->nmodels; i++) {
            const redisReply *st = stored_layout(all, s->models[i].name);
            verdict[i] = st ? kv_layout_compare(&s->models[i], st->str, st->len, err) : 1;
            if (verdict[i] < 0)
                rc = verdict[i];
        }
        for (int i = 0; rc == 0 && !retry && i < s->nmodels; i++)
            if (verdict[i] == 1)
                rc = store_layout(e, c, &s->models[i], stored_layout(all, s->models[i].name), &broken, &retry, err);
        free(verdict);
        freeReplyObject(all);
        if (rc != 0 || !retry)
            break;
    }
    kv_pool_release(&e->pool, c, broken);
    return rc;
}
