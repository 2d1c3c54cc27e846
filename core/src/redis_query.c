/* Ranges of the Redis engine: scans and counts of an index's sorted set (or of the ids) by lexical range, the
 * states of the indexes, and the online build of an index in bounded chunks. */
#include "redis_internal.h"
#include "redis_resp.h"

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
void kv_redis_arg_bound(argbuf *a, const kv_bound *b, bool low)
{
    if (!b->data) {
        arg_cstr(a, low ? "-" : "+");
        return;
    }
    arg_concat(a, b->inclusive ? "[" : "(", 1, b->data, b->len);
}

/* Runs n ZRANGEs in one round trip and appends the members of the i-th to outs[i] (gots[i]: how many). The
 * replies are read by the batch reader, with no allocation per member, unless hiredis holds bytes of its own on
 * the connection (then they run one by one). */
static int run_members(redis_engine *e, const kv_model *m, argbuf *as, size_t n, kv_keys *outs, size_t *gots,
                       kv_error *err)
{
    redisContext *c;
    kv_cmdbuf cmds = {0};
    kv_resp_batch *b = NULL;
    bool broken = false;
    int rc;
    for (size_t i = 0; i < n; i++) {
        gots[i] = 0;
        if (as[i].oom)
            return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    }
    if ((rc = kv_pool_acquire(&e->pool, &c, err)) != 0)
        return rc;
    if (!kv_resp_usable(c)) {
        kv_pool_release(&e->pool, c, false);
        for (size_t i = 0; i < n && rc == 0; i++) {
            redisReply *rep;
            if ((rc = kv_redis_command(e, m, "ZRANGE BYLEX", &as[i], &rep, err)) != 0)
                return rc;
            if (rep->type != REDIS_REPLY_ARRAY)
                rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "ZRANGE BYLEX", rep);
            for (size_t j = 0; rc == 0 && j < rep->elements; j++)
                if (rep->element[j]->type != REDIS_REPLY_STRING ||
                    !kv_keys_add(&outs[i], rep->element[j]->str, rep->element[j]->len))
                    rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
            gots[i] = rc == 0 ? rep->elements : 0;
            freeReplyObject(rep);
        }
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        kv_cmdbuf_add(&cmds, as[i].n, as[i].argv, as[i].lens);
    rc = kv_redis_send(c, &cmds, "ZRANGE BYLEX", &broken, err);
    kv_cmdbuf_free(&cmds);
    if (rc == 0)
        rc = kv_resp_read(c, n, "ZRANGE BYLEX", &b, &broken, err);
    kv_pool_release(&e->pool, c, broken);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const kv_resp_reply *r = &b->replies[i];
        if (r->kind == KV_RESP_ERROR) {
            char text[256];
            size_t tl = r->error.len < sizeof(text) - 1 ? r->error.len : sizeof(text) - 1;
            memcpy(text, b->buf + r->error.off, tl);
            text[tl] = '\0';
            redisReply er = {.type = REDIS_REPLY_ERROR, .str = text, .len = tl};
            rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "ZRANGE BYLEX", &er);
        }
        for (size_t j = 0; rc == 0 && j < r->n; j++) {
            const kv_resp_span *sp = &b->spans[r->first + j];
            if (!kv_keys_add(&outs[i], b->buf + sp->off, sp->len))
                rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
        }
        gots[i] = rc == 0 ? r->n : 0;
    }
    kv_resp_batch_unref(b);
    return rc;
}

/* ZRANGE <key> <bounds> BYLEX [REV] LIMIT 0 n of range r. */
static void zrange_args(argbuf *a, const kv_model_keys *k, const kv_model *m, const kv_range *r, bool reverse,
                        size_t n)
{
    arg_cstr(a, "ZRANGE");
    arg_key(a, range_key(k, m, r->index));
    if (reverse) {
        kv_redis_arg_bound(a, &r->hi, false);
        kv_redis_arg_bound(a, &r->lo, true);
    } else {
        kv_redis_arg_bound(a, &r->lo, true);
        kv_redis_arg_bound(a, &r->hi, false);
    }
    arg_cstr(a, "BYLEX");
    if (reverse)
        arg_cstr(a, "REV");
    arg_cstr(a, "LIMIT");
    arg_cstr(a, "0");
    arg_int(a, (int64_t)n);
}

int kv_redis_scan_many(kv_engine *eng, const kv_model *m, const kv_range *ranges, size_t n, bool reverse,
                       size_t limit, kv_keys *outs, kv_error *err)
{
    redis_engine *e = (redis_engine *)eng;
    const kv_model_keys *k = kv_redis_keys(e, m, err);
    if (!k)
        return err->code;
    if (limit > KV_REDIS_SCAN_CHUNK)
        limit = KV_REDIS_SCAN_CHUNK;
    argbuf *as = calloc(n + 1, sizeof(*as));
    size_t *gots = calloc(n + 1, sizeof(*gots));
    int rc = !as || !gots ? kv_fail(err, KVORM_EINTERNAL, "out of memory") : 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        zrange_args(&as[i], k, m, &ranges[i], reverse, limit);
    if (rc == 0 && n > 0)
        rc = run_members(e, m, as, n, outs, gots, err);
    for (size_t i = 0; as && i < n; i++)
        arg_free(&as[i]);
    free(as);
    free(gots);
    return rc;
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
        size_t n = limit < KV_REDIS_SCAN_CHUNK ? limit : KV_REDIS_SCAN_CHUNK, got = 0;
        argbuf a = {0};
        zrange_args(&a, k, m, &cur, reverse, n);
        rc = run_members(e, m, &a, 1, out, &got, err);
        arg_free(&a);
        if (rc != 0 || got < n || limit == n)
            break;
        /* the next chunk starts after the last key read */
        size_t ll = out->len[out->n - 1];
        char *nr = realloc(resume, ll + 1);
        if (!nr) {
            rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
            break;
        }
        resume = nr;
        memcpy(resume, out->data + out->off[out->n - 1], ll);
        kv_bound after = {resume, ll, false};
        if (reverse)
            cur.hi = after;
        else
            cur.lo = after;
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
        kv_redis_arg_bound(&a, &r->lo, true);
        kv_redis_arg_bound(&a, &r->hi, false);
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

/* The field of index or unique constraint `which` (numbered as in index_states) in the states hash. */
static void arg_state_field(argbuf *a, const kv_model *m, int which)
{
    if (which < m->nindexes)
        arg_cstr(a, m->indexes[which].name);
    else
        kv_redis_arg_unique_state(a, &m->uniques[which - m->nindexes]);
}

int kv_redis_index_states(kv_engine *eng, const kv_model *m, kv_index_state *states, kv_error *err)
{
    redis_engine *e = (redis_engine *)eng;
    const kv_model_keys *k = kv_redis_keys(e, m, err);
    int n = kv_model_nbuilt(m);
    argbuf a = {0};
    redisReply *rep;
    int rc;
    if (!k)
        return err->code;
    if (n == 0)
        return 0;
    arg_cstr(&a, "HMGET");
    arg_key(&a, &k->xs);
    for (int i = 0; i < n; i++)
        arg_state_field(&a, m, i);
    rc = a.oom ? kv_fail(err, KVORM_EINTERNAL, "out of memory")
               : kv_redis_command(e, m, "HMGET of the index states", &a, &rep, err);
    arg_free(&a);
    if (rc != 0)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != (size_t)n)
        rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "HMGET of the index states", rep);
    for (int i = 0; rc == 0 && i < n; i++)
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

/* One chunk of a build: the records after the stored cursor, in the ids' order. */
typedef struct build_chunk {
    redisReply *state, *range; /* the state read; the ids' members of the chunk */
    size_t n;                  /* ids in the chunk */
    char **ids;
    size_t *lens;
    redisReply **reps;         /* each record's HGETALL (no elements: deleted since) */
    kv_record *recs;           /* filled from reps */
} build_chunk;

static void chunk_free(build_chunk *b)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->ids)
            free(b->ids[i]);
        if (b->recs)
            kv_record_free(&b->recs[i]);
        if (b->reps && b->reps[i])
            freeReplyObject(b->reps[i]);
    }
    free(b->ids);
    free(b->lens);
    free(b->reps);
    free(b->recs);
    if (b->state)
        freeReplyObject(b->state);
    if (b->range)
        freeReplyObject(b->range);
    memset(b, 0, sizeof(*b));
}

/* Reads where the build of `which` is and the next chunk of records; *done when it is not being built. */
static int chunk_read(redis_engine *e, const kv_model *m, const kv_model_keys *k, int which, size_t chunk,
                      build_chunk *b, bool *done, kv_error *err)
{
    char cursor[KV_MAX_ID_BYTES * 2 + 16];
    argbuf a = {0};
    int rc;
    arg_cstr(&a, "HGET");
    arg_key(&a, &k->xs);
    arg_state_field(&a, m, which);
    rc = a.oom ? kv_fail(err, KVORM_EINTERNAL, "out of memory")
               : kv_redis_command(e, m, "HGET of the index state", &a, &b->state, err);
    arg_free(&a);
    if (rc != 0)
        return rc;
    if (b->state->type == REDIS_REPLY_NIL) {
        *done = true;
        return 0;
    }
    long clen = b->state->type == REDIS_REPLY_STRING ? cursor_decode(b->state, cursor, sizeof(cursor)) : -1;
    if (clen < 0)
        return kv_fail_at(err, KVORM_EINTERNAL, m->name, NULL, "%s: the build state of %s in Redis is unreadable",
                          m->name, which < m->nindexes ? m->indexes[which].name : m->uniques[which - m->nindexes].name);
    /* the next ids, in the id collection's order */
    kv_bound lo = {clen > 0 ? cursor : NULL, (size_t)clen, false};
    arg_cstr(&a, "ZRANGE");
    arg_key(&a, &k->ids);
    kv_redis_arg_bound(&a, &lo, true);
    arg_cstr(&a, "+");
    arg_cstr(&a, "BYLEX");
    arg_cstr(&a, "LIMIT");
    arg_cstr(&a, "0");
    arg_int(&a, (int64_t)chunk);
    rc = kv_redis_command(e, m, "ZRANGE BYLEX", &a, &b->range, err);
    arg_free(&a);
    if (rc != 0)
        return rc;
    if (b->range->type != REDIS_REPLY_ARRAY)
        return kv_redis_error(err, KVORM_EINTERNAL, m->name, "ZRANGE BYLEX", b->range);
    size_t n = b->range->elements;
    b->ids = calloc(n + 1, sizeof(*b->ids));
    b->lens = calloc(n + 1, sizeof(*b->lens));
    b->reps = calloc(n + 1, sizeof(*b->reps));
    b->recs = calloc(n + 1, sizeof(*b->recs));
    if (!b->ids || !b->lens || !b->reps || !b->recs)
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    b->n = n;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const redisReply *el = b->range->element[i];
        if (!(b->ids[i] = malloc(KV_MAX_ID_BYTES + 1)))
            rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
        else if (el->type != REDIS_REPLY_STRING)
            rc = kv_fail_at(err, KVORM_EINTERNAL, m->name, NULL, "%s: unexpected member in the ids", m->name);
        else
            rc = kv_key_id(b->ids[i], &b->lens[i], el->str, el->len, 0, err);
    }
    if (rc != 0 || n == 0 || (rc = read_chunk(e, m, k, b->ids, b->lens, n, b->reps, err)) != 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (b->reps[i]->elements > 0 && (rc = kv_redis_fill_record(&b->recs[i], m, b->reps[i], err)) == 0) {
            b->recs[i].id = b->ids[i];
            b->recs[i].id_len = b->lens[i];
        }
    return rc;
}

/* The build script's common head: KEYS (the built key, the states hash, each live record's key) and ARGV up to
 * the field names: op, state field, the cursor to store ('' when this chunk ends the ids), the fields. */
static void build_args(argbuf *a, const kv_model *m, const kv_model_keys *k, const kv_rkey *built, int which,
                       const char *op, const build_chunk *b, size_t chunk, const int *fields, int nfields)
{
    size_t live = 0;
    for (size_t i = 0; i < b->n; i++)
        live += b->recs[i].id != NULL;
    arg_cstr(a, "");
    arg_cstr(a, "");
    arg_int(a, (int64_t)(2 + live));
    arg_key(a, built);
    arg_key(a, &k->xs);
    for (size_t i = 0; i < b->n; i++)
        if (b->recs[i].id)
            arg_record_key(a, k, b->ids[i], b->lens[i]);
    arg_cstr(a, op);
    arg_state_field(a, m, which);
    if (b->n < chunk) {
        arg_cstr(a, ""); /* the end of the ids: complete */
    } else {
        size_t cl = 0;
        const redisReply *last = b->range->element[b->n - 1];
        char *cur = cursor_encode(last->str, last->len, &cl);
        arg_own(a, cur, cl);
    }
    arg_int(a, nfields);
    for (int p = 0; p < nfields; p++)
        arg_cstr(a, m->fields[fields[p]].name);
}

/* The values of fields as read ('' = null): the script adds an entry only while they still hold. */
static void arg_values(argbuf *a, const kv_record *r, const int *fields, int nfields)
{
    for (int p = 0; p < nfields; p++) {
        const char *v = r->values[fields[p]];
        arg_add(a, v ? v : "", v ? r->lens[fields[p]] : 0);
    }
}

static int build_run(redis_engine *e, argbuf *a, redisReply **rep, kv_error *err)
{
    redisContext *c;
    bool broken = false;
    int rc;
    if (a->oom)
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    if ((rc = kv_pool_acquire(&e->pool, &c, err)) != 0)
        return rc;
    rc = kv_redis_script(e, c, KV_SCRIPT_MAIN, a, rep, &broken, NULL, err);
    kv_pool_release(&e->pool, c, broken);
    return rc;
}

/* An index's chunk: the entries of the records as read, each added only if its record still has those values. */
static int build_index_chunk(redis_engine *e, const kv_model *m, const kv_model_keys *k, int which,
                             const build_chunk *b, size_t chunk, redisReply **rep, kv_error *err)
{
    const kv_index *x = &m->indexes[which];
    int fields[KV_MAX_INDEX_PARTS];
    msgpack_sbuffer entries;
    size_t *eoff = calloc(b->n + 1, sizeof(*eoff)), *elen = calloc(b->n + 1, sizeof(*elen));
    argbuf a = {0};
    int rc = 0;
    msgpack_sbuffer_init(&entries);
    if (!eoff || !elen)
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        if (!b->recs[i].id)
            continue;
        eoff[i] = entries.size;
        rc = kv_index_entry(&entries, m, x, b->recs[i].values, b->recs[i].lens, b->ids[i], b->lens[i], err);
        elen[i] = entries.size - eoff[i];
    }
    for (int p = 0; p < x->nparts; p++)
        fields[p] = x->parts[p].field;
    if (rc == 0) {
        build_args(&a, m, k, &k->x[which], which, "build", b, chunk, fields, x->nparts);
        for (size_t i = 0; i < b->n; i++)
            if (b->recs[i].id) {
                arg_add(&a, entries.data + eoff[i], elen[i]);
                arg_values(&a, &b->recs[i], fields, x->nparts);
            }
        rc = build_run(e, &a, rep, err);
    }
    arg_free(&a);
    msgpack_sbuffer_destroy(&entries);
    free(eoff);
    free(elen);
    return rc;
}

/* A unique constraint's chunk: each record's key -> id, refused as a whole when a key is another record's. */
static int build_unique_chunk(redis_engine *e, const kv_model *m, const kv_model_keys *k, int which,
                              const build_chunk *b, size_t chunk, redisReply **rep, kv_error *err)
{
    int u = which - m->nindexes;
    const kv_unique *un = &m->uniques[u];
    msgpack_sbuffer key;
    argbuf a = {0};
    int rc = 0;
    msgpack_sbuffer_init(&key);
    build_args(&a, m, k, &k->u[u], which, "ubuild", b, chunk, un->fields, un->nfields);
    for (size_t i = 0; i < b->n; i++) {
        if (!b->recs[i].id)
            continue;
        arg_add(&a, b->ids[i], b->lens[i]);
        key.size = 0;
        if (kv_unique_key(&key, un, b->recs[i].values, b->recs[i].lens))
            arg_copy(&a, key.data, key.size);
        else
            arg_cstr(&a, ""); /* a null: no entry */
        arg_values(&a, &b->recs[i], un->fields, un->nfields);
    }
    rc = build_run(e, &a, rep, err);
    if (rc == 0 && (*rep)->type == REDIS_REPLY_ARRAY && (*rep)->elements == 3 &&
        (*rep)->element[1]->type == REDIS_REPLY_INTEGER && (*rep)->element[2]->type == REDIS_REPLY_STRING) {
        /* {'UNIQUE', the record's place among the live ones (1-based), the id that holds its key} */
        long long at = (*rep)->element[1]->integer;
        for (size_t i = 0, seen = 0; i < b->n; i++)
            if (b->recs[i].id && (long long)++seen == at) {
                key.size = 0;
                kv_unique_key(&key, un, b->recs[i].values, b->recs[i].lens);
                rc = kv_fail_unique_build(err, m, un, key.data, key.size, b->recs[i].id, b->recs[i].id_len,
                                          (*rep)->element[2]->str, (*rep)->element[2]->len);
            }
        if (rc == 0)
            rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "the unique build script", *rep);
    }
    arg_free(&a);
    msgpack_sbuffer_destroy(&key);
    return rc;
}

int kv_redis_build_index(kv_engine *eng, const kv_model *m, int which, size_t chunk, bool *done, kv_error *err)
{
    redis_engine *e = (redis_engine *)eng;
    const kv_model_keys *k = kv_redis_keys(e, m, err);
    build_chunk b = {0};
    redisReply *rep = NULL;
    int rc;
    *done = false;
    if (!k)
        return err->code;
    if (which < 0 || which >= kv_model_nbuilt(m))
        return kv_fail(err, KVORM_EINTERNAL, "build of an index that %s does not have", m->name);
    if (chunk == 0)
        chunk = 1;
    if ((rc = chunk_read(e, m, k, which, chunk, &b, done, err)) != 0 || *done)
        goto out;
    rc = which < m->nindexes ? build_index_chunk(e, m, k, which, &b, chunk, &rep, err)
                             : build_unique_chunk(e, m, k, which, &b, chunk, &rep, err);
    if (rc != 0)
        goto out;
    if (rep->type != REDIS_REPLY_INTEGER) {
        rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "the index build script", rep);
        goto out;
    }
    /* -1: another process finished the build, or the index was removed */
    *done = rep->integer < 0 || b.n < chunk;
out:
    chunk_free(&b);
    if (rep)
        freeReplyObject(rep);
    return rc;
}
