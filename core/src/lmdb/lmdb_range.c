/* Ranges of the LMDB engine: scans and counts of an index's entries (or of the record keys, the id collection)
 * as cursor ranges, the states of the indexes and unique constraints, and their online build in bounded chunks.
 * Bounds compare as ZRANGE BYLEX does (bytes, then length), which is LMDB's own key order. */
#include "lmdb_internal.h"

#include "entries.h"
#include "keycode.h"
#include "mp.h"
#include "value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The keys of range r: the prefix of its index's entries, or of the records. */
static int range_prefix(lmdb_engine *e, const kv_model *m, const kv_index *x, msgpack_sbuffer *out, kv_error *err)
{
    const char *ns = kv_lmdb_ns(e, m, err);
    return ns ? kv_lmdb_prefix(out, ns, m, x ? x->name : NULL, err) : err->code;
}

/* Runs fn over the keys of range r (all records when r is NULL) in one read transaction, up to limit. */
static int each_key(lmdb_engine *e, const kv_model *m, const kv_range *r, bool reverse, size_t limit,
                    int (*fn)(void *ctx, const char *key, size_t len, kv_error *err), void *ctx, kv_error *err)
{
    static const kv_bound open = {NULL, 0, false};
    msgpack_sbuffer prefix;
    lm_iter it;
    lm_txn t;
    int rc;
    msgpack_sbuffer_init(&prefix);
    if ((rc = range_prefix(e, m, r ? r->index : NULL, &prefix, err)) != 0 ||
        (rc = kv_lmdb_begin(e->env, false, &t, err)) != 0) {
        msgpack_sbuffer_destroy(&prefix);
        return rc;
    }
    rc = kv_lmdb_iter_open(&it, t.txn, e->env, r && r->index ? LM_INDEX : LM_RECORDS, prefix.data, prefix.size,
                           r ? &r->lo : &open, r ? &r->hi : &open, reverse);
    if (rc != 0) {
        rc = kv_lmdb_fail(err, rc, m->name, "a scan");
    } else {
        const char *k;
        size_t kl;
        MDB_val v;
        for (; limit > 0 && rc == 0; limit--) {
            int got = kv_lmdb_iter_next(&it, &k, &kl, &v);
            if (got == MDB_NOTFOUND)
                break;
            rc = got ? kv_lmdb_fail(err, got, m->name, "a scan") : fn(ctx, k, kl, err);
        }
        kv_lmdb_iter_close(&it);
    }
    kv_lmdb_abort(&t);
    msgpack_sbuffer_destroy(&prefix);
    return rc;
}

static int add_key(void *ctx, const char *key, size_t len, kv_error *err)
{
    return kv_keys_add(ctx, key, len) ? 0 : kv_fail(err, KVORM_EINTERNAL, "out of memory");
}

static int count_key(void *ctx, const char *key, size_t len, kv_error *err)
{
    (void)key, (void)len, (void)err;
    ++*(int64_t *)ctx;
    return 0;
}

int kv_lmdb_scan(kv_engine *eng, const kv_model *m, const kv_range *r, bool reverse, size_t limit, kv_keys *out,
                 kv_error *err)
{
    return each_key((lmdb_engine *)eng, m, r, reverse, limit, add_key, out, err);
}

int kv_lmdb_scan_many(kv_engine *eng, const kv_model *m, const kv_range *ranges, size_t n, bool reverse,
                      size_t limit, kv_keys *outs, kv_error *err)
{
    int rc = kv_lmdb_snapshot(eng, true, err); /* one read transaction for them all */
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = kv_lmdb_scan(eng, m, &ranges[i], reverse, limit, &outs[i], err);
    kv_lmdb_snapshot(eng, false, err);
    return rc;
}

/* LMDB's B-tree keeps no counts: a count walks its range (the keys only, on the pages already mapped). */
int kv_lmdb_count(kv_engine *eng, const kv_model *m, const kv_range *r, int64_t *out, kv_error *err)
{
    *out = 0;
    return each_key((lmdb_engine *)eng, m, r, false, SIZE_MAX, count_key, out, err);
}

int kv_lmdb_index_states(kv_engine *eng, const kv_model *m, kv_index_state *states, kv_error *err)
{
    lmdb_engine *e = (lmdb_engine *)eng;
    const char *ns = kv_lmdb_ns(e, m, err);
    msgpack_sbuffer key;
    lm_txn t;
    int rc;
    if (!ns)
        return err->code;
    if (kv_model_nbuilt(m) == 0)
        return 0;
    if ((rc = kv_lmdb_begin(e->env, false, &t, err)) != 0)
        return rc;
    msgpack_sbuffer_init(&key);
    for (int i = 0; rc == 0 && i < kv_model_nbuilt(m); i++) {
        MDB_val v;
        if ((rc = kv_lmdb_build_key(&key, ns, m, i, err)) != 0)
            break;
        int got = kv_lmdb_get(t.txn, e->env, LM_META, key.data, key.size, &v);
        if (got == 0 || got == MDB_NOTFOUND)
            states[i] = got == 0 ? KV_INDEX_BUILDING : KV_INDEX_READY;
        else
            rc = kv_lmdb_fail(err, got, m->name, "reading the index states");
    }
    kv_lmdb_abort(&t);
    msgpack_sbuffer_destroy(&key);
    return rc;
}

/* ---- online build ---- */

typedef struct build {
    lmdb_engine *e;
    const kv_model *m;
    int which;
    size_t chunk;
    bool *done;
    kv_keys ids, keys; /* per record of the chunk: its id text, and its entry (index) or unique key ("" = none) */
    char *last;        /* the id element of the chunk's last record */
    size_t last_len;
    bool more;         /* records follow the chunk */
} build;


/* Reads the chunk's records after the cursor (a copy of what the build needs: it writes after). */
static int read_chunk(build *b, lm_txn *t, const char *ns, const char *cursor, size_t clen, kv_error *err)
{
    const kv_model *m = b->m;
    kv_bound lo = {clen ? cursor : NULL, clen, false}, hi = {NULL, 0, false};
    const char **vals = calloc((size_t)m->nfields + 1, sizeof(*vals));
    size_t *lens = calloc((size_t)m->nfields + 1, sizeof(*lens));
    msgpack_sbuffer prefix, entry;
    lm_iter it;
    int rc;
    msgpack_sbuffer_init(&prefix);
    msgpack_sbuffer_init(&entry);
    if (!vals || !lens)
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
    else if ((rc = kv_lmdb_prefix(&prefix, ns, m, NULL, err)) == 0 &&
             (rc = kv_lmdb_iter_open(&it, t->txn, b->e->env, LM_RECORDS, prefix.data, prefix.size, &lo, &hi,
                                     false)) != 0)
        rc = kv_lmdb_check(t, rc, m->name, "an index build", err);
    if (rc != 0)
        goto out;
    while (rc == 0) {
        const char *k;
        size_t kl;
        MDB_val v;
        char id[KV_MAX_ID_BYTES + 1];
        size_t id_len;
        int64_t version;
        int got = kv_lmdb_iter_next(&it, &k, &kl, &v);
        if (got != 0) {
            if (got != MDB_NOTFOUND)
                rc = kv_lmdb_check(t, got, m->name, "an index build", err);
            break;
        }
        if (b->ids.n == b->chunk) {
            b->more = true;
            break;
        }
        if ((rc = kv_key_id(id, &id_len, k, kl, 0, err)) != 0 ||
            (rc = kv_lmdb_record_decode(m, v.mv_data, v.mv_size, vals, lens, &version, err)) != 0)
            break;
        entry.size = 0;
        if (b->which < m->nindexes)
            rc = kv_index_entry(&entry, m, &m->indexes[b->which], vals, lens, id, id_len, err);
        else
            kv_unique_key(&entry, &m->uniques[b->which - m->nindexes], vals, lens);
        if (rc != 0)
            break;
        char *last = realloc(b->last, kl + 1);
        if (last)
            b->last = last;
        if (!last || !kv_keys_add(&b->ids, id, id_len) ||
            !kv_keys_add(&b->keys, entry.data ? entry.data : "", entry.size)) {
            rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
            break;
        }
        memcpy(b->last, k, kl);
        b->last_len = kl;
    }
    kv_lmdb_iter_close(&it);
out:
    free(vals);
    free(lens);
    msgpack_sbuffer_destroy(&prefix);
    msgpack_sbuffer_destroy(&entry);
    return rc;
}

/* Adds the chunk's entries: an index's, or a constraint's (refused as a whole when a key is another record's). */
static int add_entries(build *b, lm_txn *t, const char *ns, kv_error *err)
{
    const kv_model *m = b->m;
    bool unique = b->which >= m->nindexes;
    const char *name = unique ? m->uniques[b->which - m->nindexes].name : m->indexes[b->which].name;
    msgpack_sbuffer key;
    int rc = 0;
    msgpack_sbuffer_init(&key);
    for (size_t i = 0; rc == 0 && i < b->ids.n; i++) {
        const char *ek = b->keys.data + b->keys.off[i], *id = b->ids.data + b->ids.off[i];
        size_t el = b->keys.len[i], il = b->ids.len[i];
        MDB_val v;
        if (unique && el == 0)
            continue; /* a null: no entry */
        if ((rc = kv_lmdb_entry_key(&key, ns, m, name, ek, el, err)) != 0)
            break;
        if (!unique) {
            rc = kv_lmdb_check(t, kv_lmdb_put(t->txn, b->e->env, LM_INDEX, key.data, key.size, "", 0), m->name,
                               "an index build", err);
            continue;
        }
        int got = kv_lmdb_get(t->txn, b->e->env, LM_UNIQUES, key.data, key.size, &v);
        if (got == 0 && (v.mv_size != il || memcmp(v.mv_data, id, il) != 0))
            rc = kv_fail_unique_build(err, m, &m->uniques[b->which - m->nindexes], ek, el, id, il, v.mv_data,
                                      v.mv_size);
        else if (got != 0 && got != MDB_NOTFOUND)
            rc = kv_lmdb_check(t, got, m->name, "a unique build", err);
        else if (got == MDB_NOTFOUND)
            rc = kv_lmdb_check(t, kv_lmdb_put(t->txn, b->e->env, LM_UNIQUES, key.data, key.size, id, il), m->name,
                               "a unique build", err);
    }
    msgpack_sbuffer_destroy(&key);
    return rc;
}

/* One chunk in one write transaction: nothing writes in between, so no entry can go stale. */
static int build_fn(lm_txn *t, void *ctx, kv_error *err)
{
    build *b = ctx;
    const char *ns = b->e->ns;
    msgpack_sbuffer skey;
    char *cursor = NULL;
    MDB_val v;
    int rc;
    kv_keys_clear(&b->ids);
    kv_keys_clear(&b->keys);
    b->more = false;
    b->last_len = 0;
    *b->done = false;
    msgpack_sbuffer_init(&skey);
    if ((rc = kv_lmdb_build_key(&skey, ns, b->m, b->which, err)) != 0)
        goto out;
    int got = kv_lmdb_get(t->txn, b->e->env, LM_META, skey.data, skey.size, &v);
    if (got == MDB_NOTFOUND) {
        *b->done = true; /* ready: built already (by another process too), or never needed */
        goto out;
    }
    if ((rc = kv_lmdb_check(t, got, b->m->name, "reading the index state", err)) != 0)
        goto out;
    size_t clen = v.mv_size;
    if (!(cursor = malloc(clen + 1))) {
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
        goto out;
    }
    memcpy(cursor, v.mv_data, clen);
    if ((rc = read_chunk(b, t, ns, cursor, clen, err)) != 0 || (rc = add_entries(b, t, ns, err)) != 0)
        goto out;
    if (b->more) {
        rc = kv_lmdb_check(t, kv_lmdb_put(t->txn, b->e->env, LM_META, skey.data, skey.size, b->last, b->last_len),
                           b->m->name, "storing the index state", err);
    } else {
        rc = kv_lmdb_check(t, kv_lmdb_del(t->txn, b->e->env, LM_META, skey.data, skey.size), b->m->name,
                           "storing the index state", err);
        *b->done = rc == 0;
    }
out:
    free(cursor);
    msgpack_sbuffer_destroy(&skey);
    return rc;
}

int kv_lmdb_build_index(kv_engine *eng, const kv_model *m, int which, size_t chunk, bool *done, kv_error *err)
{
    lmdb_engine *e = (lmdb_engine *)eng;
    build b = {.e = e, .m = m, .which = which, .chunk = chunk ? chunk : 1, .done = done};
    *done = false;
    if (!kv_lmdb_ns(e, m, err))
        return err->code;
    if (which < 0 || which >= kv_model_nbuilt(m))
        return kv_fail(err, KVORM_EINTERNAL, "build of an index that %s does not have", m->name);
    int rc = kv_lmdb_write(e, m->name, build_fn, &b, err);
    if (rc != 0)
        *done = false;
    kv_keys_free(&b.ids);
    kv_keys_free(&b.keys);
    free(b.last);
    return rc;
}
