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
              key_make(&k->seq, ns, m->name, "seq", "") && key_make(&k->xs, ns, m->name, "xs", "");
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

/* ---- index changes between two layouts ---- */

/* One index of a layout: its name and its definition as stored (compared as MessagePack objects). */
typedef struct layout_index {
    const char *name;
    size_t len;
    const msgpack_object *def;
} layout_index;

#define MAX_LAYOUT_INDEXES 64

/* The indexes a layout lists under "indexes": a map name -> definition, or an array of definitions that carry
 * a "name" (or of bare names). A layout without indexes has none. Returns how many. */
static int layout_indexes(msgpack_zone *zone, const char *layout, size_t len, layout_index *out)
{
    msgpack_object root;
    size_t off = 0;
    int n = 0;
    if (!layout || len == 0 || msgpack_unpack(layout, len, &off, zone, &root) != MSGPACK_UNPACK_SUCCESS ||
        root.type != MSGPACK_OBJECT_MAP)
        return 0;
    const msgpack_object *x = kv_mp_map_get(&root, "indexes");
    if (x && x->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < x->via.map.size && n < MAX_LAYOUT_INDEXES; i++) {
            const msgpack_object *k = &x->via.map.ptr[i].key;
            if (k->type == MSGPACK_OBJECT_STR)
                out[n++] = (layout_index){k->via.str.ptr, k->via.str.size, &x->via.map.ptr[i].val};
        }
    } else if (x && x->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < x->via.array.size && n < MAX_LAYOUT_INDEXES; i++) {
            const msgpack_object *d = &x->via.array.ptr[i];
            const msgpack_object *name = d->type == MSGPACK_OBJECT_MAP ? kv_mp_map_get(d, "name") : d;
            if (name && name->type == MSGPACK_OBJECT_STR)
                out[n++] = (layout_index){name->via.str.ptr, name->via.str.size, d};
        }
    }
    return n;
}

static const layout_index *find_index(const layout_index *list, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (list[i].len == len && memcmp(list[i].name, name, len) == 0)
            return &list[i];
    return NULL;
}

/* The indexes of the current layout that the stored one lacks (or defines otherwise): they need a build; and
 * those the stored layout has that the current one lacks (or redefines): their entries go. */
typedef struct index_changes {
    msgpack_zone *zone;
    layout_index cur[MAX_LAYOUT_INDEXES], old[MAX_LAYOUT_INDEXES];
    int ncur, nold;
    const layout_index *added[MAX_LAYOUT_INDEXES], *removed[MAX_LAYOUT_INDEXES];
    int nadded, nremoved;
} index_changes;

static int index_changes_find(index_changes *c, const kv_model *m, const char *stored, size_t stored_len,
                              kv_error *err)
{
    memset(c, 0, sizeof(*c));
    if (!(c->zone = msgpack_zone_new(4096)))
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    c->ncur = layout_indexes(c->zone, m->layout, m->layout_len, c->cur);
    c->nold = layout_indexes(c->zone, stored, stored_len, c->old);
    for (int i = 0; i < c->ncur; i++) {
        const layout_index *o = find_index(c->old, c->nold, c->cur[i].name, c->cur[i].len);
        if (!o || !msgpack_object_equal(*o->def, *c->cur[i].def))
            c->added[c->nadded++] = &c->cur[i];
    }
    for (int i = 0; i < c->nold; i++) {
        const layout_index *n = find_index(c->cur, c->ncur, c->old[i].name, c->old[i].len);
        if (!n || !msgpack_object_equal(*n->def, *c->old[i].def))
            c->removed[c->nremoved++] = &c->old[i];
    }
    return 0;
}

static void index_changes_free(index_changes *c)
{
    if (c->zone)
        msgpack_zone_free(c->zone);
    c->zone = NULL;
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

/* Stores model m's layout if the stored one is still `st` (NULL: none). *changed is set when it is not. */
static int store_layout(redis_engine *e, redisContext *c, const kvorm_schema *s, const kv_model *m,
                        const redisReply *st, bool *broken, bool *changed, kv_error *err)
{
    const kv_model_keys *k = &e->keys[m->position];
    index_changes ch;
    argbuf a = {0};
    redisReply *r = NULL;
    bool sent = false;
    int rc;
    (void)s;
    /* a model stored for the first time has no records: its indexes are ready (empty) */
    if ((rc = index_changes_find(&ch, m, st ? st->str : NULL, st ? st->len : 0, err)) != 0)
        return rc;
    if (!st)
        ch.nadded = 0;
    arg_cstr(&a, "");
    arg_cstr(&a, "");
    arg_int(&a, 3 + ch.nremoved);
    arg_add(&a, e->schema_key, e->schema_key_len);
    arg_key(&a, &k->ids);
    arg_key(&a, &k->xs);
    for (int i = 0; i < ch.nremoved; i++) {
        char kind[] = "x:";
        char *key = NULL;
        size_t plen = k->xs.len - 2; /* "<ns>:{<M>}:" */
        if ((key = malloc(plen + 2 + ch.removed[i]->len + 1))) {
            memcpy(key, k->xs.s, plen);
            memcpy(key + plen, kind, 2);
            memcpy(key + plen + 2, ch.removed[i]->name, ch.removed[i]->len);
            key[plen + 2 + ch.removed[i]->len] = '\0';
        }
        arg_own(&a, key, plen + 2 + ch.removed[i]->len);
    }
    arg_cstr(&a, m->name);
    arg_add(&a, st ? st->str : "", st ? st->len : 0);
    arg_add(&a, m->layout, m->layout_len);
    arg_int(&a, ch.nadded);
    for (int i = 0; i < ch.nadded; i++)
        arg_add(&a, ch.added[i]->name, ch.added[i]->len);
    arg_int(&a, ch.nremoved);
    for (int i = 0; i < ch.nremoved; i++)
        arg_add(&a, ch.removed[i]->name, ch.removed[i]->len);
    /* opening again is always safe (the schema script compares before it writes) */
    rc = a.oom ? kv_fail(err, KVORM_EINTERNAL, "out of memory")
               : kv_redis_script(e, c, KV_SCRIPT_SCHEMA, &a, &r, broken, &sent, err);
    arg_free(&a);
    index_changes_free(&ch);
    if (rc == 0 && r->type == REDIS_REPLY_ERROR)
        rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "the schema script", r);
    if (rc == 0)
        *changed = r->type == REDIS_REPLY_INTEGER && r->integer == 0;
    if (r)
        freeReplyObject(r);
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
                rc = store_layout(e, c, s, &s->models[i], stored_layout(all, s->models[i].name), &broken, &retry,
                                  err);
        free(verdict);
        freeReplyObject(all);
        if (rc != 0 || !retry)
            break;
    }
    kv_pool_release(&e->pool, c, broken);
    return rc;
}
