/* Ranges of the Redis engine: scans and counts of an index's sorted set (or of the ids) by lexical range, the
 * states of the indexes, and the online build of an index in bounded chunks. */
#include "redis_internal.h"

#include "entries.h"
#include "keycode.h"
#include "value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The sorted set of range r: the index's, or the ids'. */
static const kv_rkey *range_key(const kv_model_keys *k, const kv_model *m, const kv_index *x)
{
    return x ? &k->x[x - m->indexes] : &k->ids;
}

/* A lexical bound for ZRANGE BYLEX / ZLEXCOUNT: '[' inclusive, '(' exclusive, '-' / '+' open. */
static void arg_bound(argbuf *a, const kv_bound *b, bool low)
{
    if (!b->data) {
        arg_cstr(a, low ? "-" : "+");
        return;
    }
    arg_concat(a, b->inclusive ? "[" : "(", 1, b->data, b->len);
}

int kv_redis_scan(kv_engine *eng, const kv_model *m, const kv_range *r, bool reverse, size_t limit, kv_keys *out,
                  kv_error *err)
{
    redis_engine *e = (redis_engine *)eng;
    const kv_model_keys *k = kv_redis_keys(e, m, err);
    kv_range cur = *r;
    char *resume = NULL;
    int rc = 0;
    if (!k)
        return err->code;
    while (limit > 0) {
        size_t n = limit < KV_REDIS_SCAN_CHUNK ? limit : KV_REDIS_SCAN_CHUNK;
        argbuf a = {0};
        redisReply *rep;
        arg_cstr(&a, "ZRANGE");
        arg_key(&a, range_key(k, m, cur.index));
        if (reverse) {
            arg_bound(&a, &cur.hi, false);
            arg_bound(&a, &cur.lo, true);
        } else {
            arg_bound(&a, &cur.lo, true);
            arg_bound(&a, &cur.hi, false);
        }
        arg_cstr(&a, "BYLEX");
        if (reverse)
            arg_cstr(&a, "REV");
        arg_cstr(&a, "LIMIT");
        arg_cstr(&a, "0");
        arg_int(&a, (int64_t)n);
        rc = kv_redis_command(e, m, "ZRANGE BYLEX", &a, &rep, err);
        arg_free(&a);
        if (rc != 0)
            break;
        if (rep->type != REDIS_REPLY_ARRAY) {
            rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "ZRANGE BYLEX", rep);
            freeReplyObject(rep);
            break;
        }
        for (size_t i = 0; rc == 0 && i < rep->elements; i++)
            if (rep->element[i]->type != REDIS_REPLY_STRING ||
                !kv_keys_add(out, rep->element[i]->str, rep->element[i]->len))
                rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
        size_t got = rep->elements;
        if (rc == 0 && got == n && limit > n) {
            /* the next chunk starts after the last key read */
            const redisReply *last = rep->element[got - 1];
            char *nr = realloc(resume, last->len + 1);
            if (!nr) {
                rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
            } else {
                resume = nr;
                memcpy(resume, last->str, last->len);
                kv_bound after = {resume, last->len, false};
                if (reverse)
                    cur.hi = after;
                else
                    cur.lo = after;
            }
        }
        freeReplyObject(rep);
        if (rc != 0 || got < n)
            break;
        limit -= n;
    }
    free(resume);
    return rc;
}

int kv_redis_count(kv_engine *eng, const kv_model *m, const kv_range *r, int64_t *out, kv_error *err)
{
    redis_engine *e = (redis_engine *)eng;
    const kv_model_keys *k = kv_redis_keys(e, m, err);
    argbuf a = {0};
    redisReply *rep;
    int rc;
    if (!k)
        return err->code;
    if (!r) {
        arg_cstr(&a, "ZCARD");
        arg_key(&a, &k->ids);
    } else {
        arg_cstr(&a, "ZLEXCOUNT");
        arg_key(&a, range_key(k, m, r->index));
        arg_bound(&a, &r->lo, true);
        arg_bound(&a, &r->hi, false);
    }
    rc = kv_redis_command(e, m, r ? "ZLEXCOUNT" : "ZCARD", &a, &rep, err);
    arg_free(&a);
    if (rc != 0)
        return rc;
    if (rep->type == REDIS_REPLY_INTEGER)
        *out = rep->integer;
    else
        rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, r ? "ZLEXCOUNT" : "ZCARD", rep);
    freeReplyObject(rep);
    return rc;
}

int kv_redis_index_states(kv_engine *eng, const kv_model *m, kv_index_state *states, kv_error *err)
{
    redis_engine *e = (redis_engine *)eng;
    const kv_model_keys *k = kv_redis_keys(e, m, err);
    argbuf a = {0};
    redisReply *rep;
    int rc;
    if (!k)
        return err->code;
    if (m->nindexes == 0)
        return 0;
    arg_cstr(&a, "HMGET");
    arg_key(&a, &k->xs);
    for (int i = 0; i < m->nindexes; i++)
        arg_cstr(&a, m->indexes[i].name);
    rc = kv_redis_command(e, m, "HMGET of the index states", &a, &rep, err);
    arg_free(&a);
    if (rc != 0)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != (size_t)m->nindexes)
        rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "HMGET of the index states", rep);
    for (int i = 0; rc == 0 && i < m->nindexes; i++)
        states[i] = rep->element[i]->type == REDIS_REPLY_NIL ? KV_INDEX_READY : KV_INDEX_BUILDING;
    freeReplyObject(rep);
    return rc;
}

/* ---- online build ---- */

#define BUILDING "building"

static const char hexdigits[] = "0123456789abcdef";

static int unhex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The build's cursor, stored in the index states hash as "building:<hex of the last id entry done>" ("building"
 * alone: from the start). Returns the entry's length, 0 for the start, or -1 when the value is not one. */
static long cursor_decode(const redisReply *v, char *out, size_t cap)
{
    size_t pl = sizeof(BUILDING) - 1;
    if (v->len < pl || memcmp(v->str, BUILDING, pl) != 0)
        return -1;
    if (v->len == pl)
        return 0;
    if (v->str[pl] != ':' || (v->len - pl - 1) % 2 != 0 || (v->len - pl - 1) / 2 > cap)
        return -1;
    size_t n = (v->len - pl - 1) / 2;
    for (size_t i = 0; i < n; i++) {
        int hi = unhex(v->str[pl + 1 + 2 * i]), lo = unhex(v->str[pl + 2 + 2 * i]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (char)(hi * 16 + lo);
    }
    return (long)n;
}

static char *cursor_encode(const char *entry, size_t len, size_t *out_len)
{
    size_t pl = sizeof(BUILDING) - 1;
    char *s = malloc(pl + 1 + 2 * len + 1);
    if (!s)
        return NULL;
    memcpy(s, BUILDING ":", pl + 1);
    for (size_t i = 0; i < len; i++) {
        s[pl + 1 + 2 * i] = hexdigits[(unsigned char)entry[i] >> 4];
        s[pl + 2 + 2 * i] = hexdigits[(unsigned char)entry[i] & 15];
    }
    *out_len = pl + 1 + 2 * len;
    s[*out_len] = '\0';
    return s;
}

/* Reads the records of ids (pipelined HGETALL, one round trip): reps[i] is the reply for ids[i]. */
static int read_chunk(redis_engine *e, const kv_model *m, const kv_model_keys *k, char **ids, size_t *lens, size_t n,
                      redisReply **reps, kv_error *err)
{
    redisContext *c;
    kv_cmdbuf cmds = {0};
    bool broken = false;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        argbuf a = {0};
        arg_cstr(&a, "HGETALL");
        arg_record_key(&a, k, ids[i], lens[i]);
        if (a.oom)
            cmds.oom = true;
        else
            kv_cmdbuf_add(&cmds, a.n, a.argv, a.lens);
        arg_free(&a);
    }
    if (cmds.oom) {
        kv_cmdbuf_free(&cmds);
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    }
    if ((rc = kv_pool_acquire(&e->pool, &c, err)) != 0) {
        kv_cmdbuf_free(&cmds);
        return rc;
    }
    rc = kv_redis_send(c, &cmds, "HGETALL", &broken, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((rc = kv_redis_read(c, &reps[i], "HGETALL", &broken, err)) == 0 && reps[i]->type != REDIS_REPLY_ARRAY)
            rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "HGETALL", reps[i]);
    kv_pool_release(&e->pool, c, broken);
    kv_cmdbuf_free(&cmds);
    return rc;
}

int kv_redis_build_index(kv_engine *eng, const kv_model *m, const kv_index *x, size_t chunk, bool *done,
                         kv_error *err)
{
    redis_engine *e = (redis_engine *)eng;
    const kv_model_keys *k = kv_redis_keys(e, m, err);
    char cursor[KV_MAX_ID_BYTES * 2 + 16];
    char **ids = NULL;
    size_t *lens = NULL, n = 0;
    redisReply *state = NULL, *range = NULL, **reps = NULL, *rep = NULL;
    msgpack_sbuffer entries;
    size_t *eoff = NULL, *elen = NULL;
    argbuf a = {0};
    int rc;
    msgpack_sbuffer_init(&entries);
    *done = false;
    if (!k)
        return err->code;
    if (chunk == 0)
        chunk = 1;
    /* where the build is: not building (done), from the start, or after an id entry */
    arg_cstr(&a, "HGET");
    arg_key(&a, &k->xs);
    arg_cstr(&a, x->name);
    rc = kv_redis_command(e, m, "HGET of the index state", &a, &state, err);
    arg_free(&a);
    if (rc != 0)
        return rc;
    if (state->type == REDIS_REPLY_NIL) {
        *done = true;
        goto out;
    }
    long clen = state->type == REDIS_REPLY_STRING ? cursor_decode(state, cursor, sizeof(cursor)) : -1;
    if (clen < 0) {
        rc = kv_fail_at(err, KVORM_EINTERNAL, m->name, NULL, "%s: the state of index %s in Redis is unreadable",
                        m->name, x->name);
        goto out;
    }
    /* the next ids, in the id collection's order */
    kv_bound lo = {clen > 0 ? cursor : NULL, (size_t)clen, false};
    arg_cstr(&a, "ZRANGE");
    arg_key(&a, &k->ids);
    arg_bound(&a, &lo, true);
    arg_cstr(&a, "+");
    arg_cstr(&a, "BYLEX");
    arg_cstr(&a, "LIMIT");
    arg_cstr(&a, "0");
    arg_int(&a, (int64_t)chunk);
    rc = kv_redis_command(e, m, "ZRANGE BYLEX", &a, &range, err);
    arg_free(&a);
    if (rc != 0)
        goto out;
    if (range->type != REDIS_REPLY_ARRAY) {
        rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "ZRANGE BYLEX", range);
        goto out;
    }
    n = range->elements;
    ids = calloc(n + 1, sizeof(*ids));
    lens = calloc(n + 1, sizeof(*lens));
    reps = calloc(n + 1, sizeof(*reps));
    eoff = calloc(n + 1, sizeof(*eoff));
    elen = calloc(n + 1, sizeof(*elen));
    if (!ids || !lens || !reps || !eoff || !elen) {
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const redisReply *el = range->element[i];
        if (!(ids[i] = malloc(KV_MAX_ID_BYTES + 1)))
            rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
        else if (el->type != REDIS_REPLY_STRING)
            rc = kv_fail_at(err, KVORM_EINTERNAL, m->name, NULL, "%s: unexpected member in the ids", m->name);
        else
            rc = kv_key_id(ids[i], &lens[i], el->str, el->len, 0, err);
    }
    if (rc != 0 || (n > 0 && (rc = read_chunk(e, m, k, ids, lens, n, reps, err)) != 0))
        goto out;
    /* the entries of the records as read; the script adds each only if its record is still at that version */
    size_t nfound = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        kv_record r = {0};
        if (reps[i]->elements == 0)
            continue; /* deleted since the ids were read */
        size_t before = entries.size;
        if ((rc = kv_redis_fill_record(&r, m, reps[i], err)) == 0)
            rc = kv_index_entry(&entries, m, x, r.values, r.lens, ids[i], lens[i], err);
        eoff[i] = before;
        elen[i] = entries.size - before;
        kv_record_free(&r);
        nfound++;
    }
    if (rc != 0)
        goto out;
    arg_cstr(&a, "");
    arg_cstr(&a, "");
    arg_int(&a, (int64_t)(2 + nfound));
    arg_key(&a, &k->x[x - m->indexes]);
    arg_key(&a, &k->xs);
    for (size_t i = 0; i < n; i++)
        if (reps[i]->elements > 0)
            arg_record_key(&a, k, ids[i], lens[i]);
    arg_cstr(&a, "build");
    arg_cstr(&a, x->name);
    if (n < chunk) {
        arg_cstr(&a, ""); /* the end of the ids: the index is complete */
    } else {
        size_t cl = 0;
        const redisReply *last = range->element[n - 1];
        char *cur = cursor_encode(last->str, last->len, &cl);
        arg_own(&a, cur, cl);
    }
    arg_int(&a, x->nparts);
    for (int p = 0; p < x->nparts; p++)
        arg_cstr(&a, m->fields[x->parts[p].field].name);
    for (size_t i = 0; i < n; i++) {
        if (reps[i]->elements == 0)
            continue;
        kv_record r = {0};
        if ((rc = kv_redis_fill_record(&r, m, reps[i], err)) != 0)
            goto out;
        arg_add(&a, entries.data + eoff[i], elen[i]);
        /* the values point into reps[i], which lives until the command is sent */
        for (int p = 0; p < x->nparts; p++) {
            int f = x->parts[p].field;
            arg_add(&a, r.values[f] ? r.values[f] : "", r.values[f] ? r.lens[f] : 0);
        }
        kv_record_free(&r);
    }
    if (a.oom) {
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
        goto out;
    }
    {
        redisContext *c;
        bool broken = false;
        if ((rc = kv_pool_acquire(&e->pool, &c, err)) != 0)
            goto out;
        rc = kv_redis_script(e, c, KV_SCRIPT_MAIN, &a, &rep, &broken, NULL, err);
        kv_pool_release(&e->pool, c, broken);
    }
    if (rc != 0)
        goto out;
    if (rep->type != REDIS_REPLY_INTEGER) {
        rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "the index build script", rep);
        goto out;
    }
    /* -1: another process finished the build, or the index was removed */
    *done = rep->integer < 0 || n < chunk;
out:
    arg_free(&a);
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    for (size_t i = 0; reps && i < n; i++)
        if (reps[i])
            freeReplyObject(reps[i]);
    free(ids);
    free(lens);
    free(reps);
    free(eoff);
    free(elen);
    if (state)
        freeReplyObject(state);
    if (range)
        freeReplyObject(range);
    if (rep)
        freeReplyObject(rep);
    msgpack_sbuffer_destroy(&entries);
    return rc;
}
