/* Keys of any length, in order, over LMDB's key limit (511 bytes): a unique key holds whole field values, an id
 * element up to 1027 bytes, an index entry of eight long parts thousands.
 *
 * A key shorter than the limit is an LMDB key. A longer one lives in a bucket: the LMDB key is its first `limit`
 * bytes, and the value lists every key that starts with them, as items [u32 tail length][tail][u32 value
 * length][value] (big-endian lengths; the tail is the rest of the key), sorted by tail. The order of LMDB keys
 * and buckets is then the order of the full keys: a shorter LMDB key that is a prefix of a bucket's key sorts
 * before it, and before each key of the bucket; otherwise they differ within the first `limit` bytes. Buckets
 * are rare (keys sharing their first 511 bytes), and small. */
#include "lmdb_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct item {
    const char *tail;
    size_t tlen;
    const char *val;
    size_t vlen;
} item;

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static uint32_t get32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static void put32(char *p, size_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

/* Reads the item at *off of a bucket of n bytes; false when the bucket is malformed. */
static bool read_item(const char *b, size_t n, size_t *off, item *it)
{
    size_t o = *off;
    if (n - o < 4)
        return false;
    it->tlen = get32(b + o);
    o += 4;
    if (n - o < it->tlen)
        return false;
    it->tail = b + o;
    o += it->tlen;
    if (n - o < 4)
        return false;
    it->vlen = get32(b + o);
    o += 4;
    if (n - o < it->vlen)
        return false;
    it->val = b + o;
    *off = o + it->vlen;
    return true;
}

static void append_item(char **p, const char *tail, size_t tlen, const char *val, size_t vlen)
{
    put32(*p, tlen);
    memcpy(*p + 4, tail, tlen);
    put32(*p + 4 + tlen, vlen);
    if (vlen)
        memcpy(*p + 8 + tlen, val, vlen);
    *p += 8 + tlen + vlen;
}

/* Writes bucket `key` (limit bytes) with tail's item replaced by (val, vlen), or removed when val is NULL.
 * *found tells whether it was there. */
static int bucket_update(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, const char *tail, size_t tlen, const char *val,
                         size_t vlen, bool *found)
{
    MDB_val old = {0, NULL};
    int rc = mdb_get(txn, dbi, key, &old);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    const char *b = old.mv_data;
    size_t n = rc == 0 ? old.mv_size : 0, off = 0;
    char *buf = malloc(n + (val ? 8 + tlen + vlen : 0) + 1), *p = buf;
    bool placed = false;
    *found = false;
    if (!buf)
        return ENOMEM;
    while (off < n) {
        item it;
        if (!read_item(b, n, &off, &it)) {
            free(buf);
            return MDB_CORRUPTED;
        }
        int c = cmp_bytes(it.tail, it.tlen, tail, tlen);
        if (c >= 0 && !placed) {
            if (val)
                append_item(&p, tail, tlen, val, vlen);
            placed = true;
        }
        if (c == 0)
            *found = true;
        else
            append_item(&p, it.tail, it.tlen, it.val, it.vlen);
    }
    if (!placed && val)
        append_item(&p, tail, tlen, val, vlen);
    if (p == buf) {
        rc = n ? mdb_del(txn, dbi, key, NULL) : 0;
    } else {
        MDB_val v = {(size_t)(p - buf), buf};
        rc = mdb_put(txn, dbi, key, &v, 0);
    }
    free(buf);
    return rc;
}

int kv_lmdb_get(MDB_txn *txn, const lm_env *env, int db, const char *key, size_t klen, MDB_val *val)
{
    MDB_val k = {klen, (void *)key};
    if (klen < env->maxkey)
        return mdb_get(txn, env->dbi[db], &k, val);
    MDB_val b;
    k.mv_size = env->maxkey;
    int rc = mdb_get(txn, env->dbi[db], &k, &b);
    if (rc != 0)
        return rc;
    for (size_t off = 0; off < b.mv_size;) {
        item it;
        if (!read_item(b.mv_data, b.mv_size, &off, &it))
            return MDB_CORRUPTED;
        int c = cmp_bytes(it.tail, it.tlen, key + env->maxkey, klen - env->maxkey);
        if (c == 0) {
            val->mv_data = (void *)it.val;
            val->mv_size = it.vlen;
            return 0;
        }
        if (c > 0)
            break;
    }
    return MDB_NOTFOUND;
}

int kv_lmdb_cursor_get(MDB_cursor *cur, MDB_txn *txn, const lm_env *env, int db, const char *key, size_t klen,
                       MDB_val *val)
{
    MDB_val k = {klen, (void *)key};
    if (klen >= env->maxkey) /* a bucket of long keys: rare, and read as kv_lmdb_get does */
        return kv_lmdb_get(txn, env, db, key, klen, val);
    return mdb_cursor_get(cur, &k, val, MDB_SET_KEY);
}

int kv_lmdb_put(MDB_txn *txn, const lm_env *env, int db, const char *key, size_t klen, const char *val,
                size_t vlen)
{
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)(val ? val : "")};
    bool found;
    if (klen < env->maxkey)
        return mdb_put(txn, env->dbi[db], &k, &v, 0);
    k.mv_size = env->maxkey;
    return bucket_update(txn, env->dbi[db], &k, key + env->maxkey, klen - env->maxkey, val ? val : "", vlen, &found);
}

int kv_lmdb_del(MDB_txn *txn, const lm_env *env, int db, const char *key, size_t klen)
{
    MDB_val k = {klen, (void *)key};
    bool found;
    if (klen < env->maxkey)
        return mdb_del(txn, env->dbi[db], &k, NULL);
    k.mv_size = env->maxkey;
    int rc = bucket_update(txn, env->dbi[db], &k, key + env->maxkey, klen - env->maxkey, NULL, 0, &found);
    return rc == 0 && !found ? MDB_NOTFOUND : rc;
}

int kv_lmdb_del_prefix(MDB_txn *txn, const lm_env *env, int db, const char *prefix, size_t plen)
{
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, env->dbi[db], &cur);
    bool opened = rc == 0;
    while (rc == 0) {
        /* sought again after each delete: simple, and every key with the prefix goes, buckets too */
        MDB_val k = {plen, (void *)prefix}, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
            rc = MDB_NOTFOUND;
        if (rc == 0)
            rc = mdb_cursor_del(cur, 0);
    }
    if (opened)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- iteration ---- */

static int seek(lm_iter *it, const char *key, size_t klen)
{
    MDB_val k = {klen < it->env->maxkey ? klen : it->env->maxkey, (void *)key};
    int rc = mdb_cursor_get(it->cur, &k, &it->v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND && it->reverse)
        rc = mdb_cursor_get(it->cur, &k, &it->v, MDB_LAST);
    it->k = k;
    if (rc == MDB_NOTFOUND)
        it->done = true;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static bool copy_bound(kv_bound *dst, const kv_bound *src)
{
    *dst = (kv_bound){NULL, 0, false};
    if (!src || !src->data)
        return true;
    char *d = malloc(src->len + 1);
    if (!d)
        return false;
    memcpy(d, src->data, src->len);
    *dst = (kv_bound){d, src->len, src->inclusive};
    return true;
}

int kv_lmdb_iter_open(lm_iter *it, MDB_txn *txn, const lm_env *env, int db, const char *prefix, size_t plen,
                      const kv_bound *lo, const kv_bound *hi, bool reverse)
{
    memset(it, 0, sizeof(*it));
    it->env = env;
    it->reverse = reverse;
    it->plen = plen;
    const kv_bound *from = reverse ? hi : lo;
    size_t slen = plen + (from && from->data ? from->len : 0);
    char *s = malloc(slen + 1);
    it->prefix = malloc(plen + 1);
    if (!s || !it->prefix || !copy_bound(&it->lo, lo) || !copy_bound(&it->hi, hi)) {
        free(s);
        kv_lmdb_iter_close(it);
        return ENOMEM;
    }
    memcpy(it->prefix, prefix, plen);
    memcpy(s, prefix, plen);
    if (from && from->data)
        memcpy(s + plen, from->data, from->len);
    else if (reverse)
        s[plen - 1]++; /* the prefix ends with a NUL: the first key after all of its keys */
    int rc = mdb_cursor_open(txn, env->dbi[db], &it->cur);
    if (rc == 0)
        rc = seek(it, s, slen);
    free(s);
    if (rc != 0)
        kv_lmdb_iter_close(it);
    else
        it->started = false;
    return rc;
}

/* Where key (after the prefix) stands: -1 before the range (skip it), 0 in it, 1 past it (the end). */
static int place(const lm_iter *it, const char *key, size_t klen)
{
    const kv_bound *first = it->reverse ? &it->hi : &it->lo, *last = it->reverse ? &it->lo : &it->hi;
    int dir = it->reverse ? -1 : 1;
    if (first->data) {
        int c = cmp_bytes(key, klen, first->data, first->len) * dir;
        if (c < 0 || (c == 0 && !first->inclusive))
            return -1;
    }
    if (last->data) {
        int c = cmp_bytes(key, klen, last->data, last->len) * dir;
        if (c > 0 || (c == 0 && !last->inclusive))
            return 1;
    }
    return 0;
}

/* Reads the offsets of the items of the bucket at the cursor. */
static int load_bucket(lm_iter *it)
{
    const char *b = it->v.mv_data;
    it->nitems = 0;
    for (size_t off = 0; off < it->v.mv_size;) {
        item x;
        if (it->nitems == it->item_cap) {
            size_t cap = it->item_cap ? it->item_cap * 2 : 8;
            size_t *n = realloc(it->items, cap * sizeof(*n));
            if (!n)
                return ENOMEM;
            it->items = n;
            it->item_cap = cap;
        }
        it->items[it->nitems++] = off;
        if (!read_item(b, it->v.mv_size, &off, &x))
            return MDB_CORRUPTED;
    }
    it->bucket = b;
    it->at = 0;
    return 0;
}

/* The next item of the bucket being read, as a full key in it->key. 1 when the bucket is done. */
static int bucket_next(lm_iter *it, const char **key, size_t *klen, MDB_val *val)
{
    while (it->at < it->nitems) {
        size_t idx = it->reverse ? it->nitems - 1 - it->at : it->at, off = it->items[idx];
        item x;
        it->at++;
        read_item(it->bucket, it->v.mv_size, &off, &x);
        size_t full = it->k.mv_size + x.tlen;
        if (full > it->key_cap) {
            char *k = realloc(it->key, full);
            if (!k)
                return ENOMEM;
            it->key = k;
            it->key_cap = full;
        }
        memcpy(it->key, it->k.mv_data, it->k.mv_size);
        memcpy(it->key + it->k.mv_size, x.tail, x.tlen);
        int p = place(it, it->key + it->plen, full - it->plen);
        if (p < 0)
            continue;
        if (p > 0) {
            it->done = true;
            return MDB_NOTFOUND;
        }
        *key = it->key + it->plen;
        *klen = full - it->plen;
        val->mv_data = (void *)x.val;
        val->mv_size = x.vlen;
        return 0;
    }
    it->bucket = NULL;
    return 1;
}

int kv_lmdb_iter_next(lm_iter *it, const char **key, size_t *klen, MDB_val *val)
{
    for (;;) {
        int rc;
        if (it->done)
            return MDB_NOTFOUND;
        if (it->bucket && (rc = bucket_next(it, key, klen, val)) != 1)
            return rc;
        if (it->started) {
            rc = mdb_cursor_get(it->cur, &it->k, &it->v, it->reverse ? MDB_PREV : MDB_NEXT);
            if (rc != 0) {
                it->done = true;
                return rc;
            }
        }
        it->started = true;
        const char *k = it->k.mv_data;
        size_t kl = it->k.mv_size;
        if (kl < it->plen || memcmp(k, it->prefix, it->plen) != 0) {
            /* outside the prefix: the end, or (going back from just past the prefix) not there yet */
            if (it->reverse && cmp_bytes(k, kl, it->prefix, it->plen) > 0)
                continue;
            it->done = true;
            return MDB_NOTFOUND;
        }
        if (kl == it->env->maxkey) {
            if ((rc = load_bucket(it)) != 0)
                return rc;
            continue;
        }
        int p = place(it, k + it->plen, kl - it->plen);
        if (p < 0)
            continue;
        if (p > 0) {
            it->done = true;
            return MDB_NOTFOUND;
        }
        *key = k + it->plen;
        *klen = kl - it->plen;
        *val = it->v;
        return 0;
    }
}

void kv_lmdb_iter_close(lm_iter *it)
{
    if (it->cur)
        mdb_cursor_close(it->cur);
    free(it->prefix);
    free((void *)it->lo.data);
    free((void *)it->hi.data);
    free(it->items);
    free(it->key);
    memset(it, 0, sizeof(*it));
}
