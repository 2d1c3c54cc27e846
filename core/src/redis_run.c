/* Steps to round trips (docs/format.md, "Which keys each operation touches"): the steps of a batch, in order,
 * are cut into groups of at most 1024 steps and 128 writes. A group of reads is one pipeline. A group holding
 * writes costs one round trip for the reads its writes need first (the records of deletes on a model with
 * indexes and of updates that move an index entry or compute a decimal, whose entries and values are computed
 * here from them; generated integer ids, taken from the counter
 * in advance so that their entries can be computed too), then one MULTI/EXEC of every step. A write computed
 * from a read carries the version it read: when the record changed meanwhile the script says STALE, and that
 * step is read and written again alone. */
#include "redis_internal.h"
#include "redis_resp.h"
#include "redis_steps.h"

#include "entries.h"
#include "number_ops.h"
#include "value.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


/* ---- records ---- */

static void release_reply(void *r) { freeReplyObject(r); }

int kv_redis_fill_record(kv_record *out, const kv_model *m, const redisReply *pairs, kv_error *err)
{
    if (!kv_record_alloc(out, m->nfields))
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    for (size_t i = 0; i + 1 < pairs->elements; i += 2) {
        const redisReply *k = pairs->element[i], *v = pairs->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (k->len == 2 && memcmp(k->str, "$v", 2) == 0) {
            out->version = strtoll(v->str, NULL, 10);
            continue;
        }
        int f = kv_model_field(m, k->str, k->len);
        if (f >= 0) {
            out->values[f] = v->str;
            out->lens[f] = v->len;
        }
    }
    return 0;
}

/* ---- reads ---- */

/* The command of a read by id (HGETALL) or by unique (the main script's lookup; argv[1] is sha). */
static void read_args(argbuf *a, const kv_model_keys *k, const kv_locator *loc, const char *sha)
{
    if (!loc->unique) {
        arg_cstr(a, "HGETALL");
        arg_record_key(a, k, loc->id, loc->id_len);
        return;
    }
    arg_cstr(a, "EVALSHA");
    arg_add(a, sha, 40);
    arg_cstr(a, "2");
    arg_key(a, &k->u[loc->unique_index]);
    arg_key(a, &k->xs);
    arg_cstr(a, "get");
    arg_key(a, &k->rec);
    arg_add(a, loc->ukey, loc->ukey_len);
    kv_redis_arg_unique_state(a, loc->unique);
}

/* The reply {'BUILDING'}: the step's unique constraint is still being built. */
static bool is_building(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_STRING &&
           r->element[0]->len == 8 && memcmp(r->element[0]->str, "BUILDING", 8) == 0;
}

/* Reads the reply r to a read of loc into out: *found, and the record kept in r (which is then out's storage);
 * else r is freed. Returns 0 or the error. */
static int read_into(kv_record *out, bool *found, const kv_model *m, const kv_locator *loc, redisReply *r,
                     kv_error *err)
{
    const redisReply *pairs = NULL;
    int rc = 0;
    *found = false;
    if (!loc->unique) {
        if (r->type != REDIS_REPLY_ARRAY) {
            rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "HGETALL", r);
        } else if (r->elements > 0) {
            out->id = loc->id;
            out->id_len = loc->id_len;
            pairs = r;
        }
    } else if (r->type == REDIS_REPLY_ERROR) {
        rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "the lookup script", r);
    } else if (is_building(r)) {
        rc = kv_fail_unique_building(err, m, loc->unique);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
               r->element[1]->type == REDIS_REPLY_ARRAY && r->element[1]->elements > 0) {
        out->id = r->element[0]->str;
        out->id_len = r->element[0]->len;
        pairs = r->element[1];
    }
    if (pairs && (rc = kv_redis_fill_record(out, m, pairs, err)) == 0) {
        *found = true;
        out->owner = r;
        out->release = release_reply;
        return 0;
    }
    kv_record_free(out);
    freeReplyObject(r);
    return rc;
}

static void read_reply(kv_step *st, redisReply *r)
{
    st->rc = read_into(&st->out, &st->found, st->model, st->loc, r, st->err);
}

/* The reply to a write's first read. */
static void pre_reply(stepx *sx, redisReply *r)
{
    kv_record_free(&sx->old);
    sx->old_found = false;
    sx->st->rc = read_into(&sx->old, &sx->old_found, sx->w->model, &sx->w->loc, r, sx->st->err);
    if (sx->old_found) {
        sx->old_id = sx->old.id;
        sx->old_id_len = sx->old.id_len;
    }
}

/* ---- writes ---- */

/* The unique key the create data gives constraint u (docs/format.md): its fields' canonical values end to end,
 * or '' when one of them is null (nulls never collide; no real key is empty). */
static void add_create_key(argbuf *a, const kv_write *w, const kv_unique *u)
{
    size_t total = 0;
    for (int i = 0; i < u->nfields; i++) {
        const kv_field_value *fv = kv_write_create_value(w, u->fields[i]);
        if (!fv) {
            arg_add(a, "", 0);
            return;
        }
        total += fv->len;
    }
    if (u->nfields == 1) {
        const kv_field_value *fv = kv_write_create_value(w, u->fields[0]);
        arg_add(a, fv->data, fv->len);
        return;
    }
    char *key = malloc(total + 1), *p = key;
    for (int i = 0; key && i < u->nfields; i++) {
        const kv_field_value *fv = kv_write_create_value(w, u->fields[i]);
        memcpy(p, fv->data, fv->len);
        p += fv->len;
    }
    arg_own(a, key, total);
}

/* The pairs (name, value) of fv; copy: the values do not outlive the call (the argbuf keeps copies). */
static void add_pairs(argbuf *a, const kv_model *m, const kv_field_value *fv, int n, bool copy)
{
    arg_int(a, n);
    for (int i = 0; i < n; i++) {
        arg_cstr(a, m->fields[fv[i].field].name);
        if (copy)
            arg_copy(a, fv[i].data, fv[i].len);
        else
            arg_add(a, fv[i].data, fv[i].len);
    }
}

static bool needs_preread(const kv_write *w)
{
    if (w->op == KV_WRITE_CREATE)
        return false;
    /* a delete removes the id's entry, which needs the id: by unique it is known only once read */
    if (w->op == KV_WRITE_DELETE)
        return w->model->nindexes > 0 || w->loc.unique;
    /* an update that moves no index entry and whose atomic number operations the script can compute needs none */
    if (w->op == KV_WRITE_UPSERT && w->model->nindexes > 0)
        return true;
    for (int x = 0; x < w->model->nindexes; x++)
        if (kv_index_touched(&w->model->indexes[x], w))
            return true;
    for (int i = 0; i < w->nops; i++)
        if (w->model->fields[w->ops[i].field].type == KV_T_DECIMAL)
            return true;
    return false;
}

/* The id a create (or the create branch of an upsert) writes under, or NULL when it is still to be generated. */
static const char *create_id(const stepx *sx, size_t *len)
{
    const kv_write *w = sx->w;
    if (w->op == KV_WRITE_UPSERT && !w->loc.unique) {
        *len = w->loc.id_len;
        return w->loc.id;
    }
    if (w->new_id) {
        *len = w->new_id_len;
        return w->new_id;
    }
    if (sx->have_gen) {
        *len = sx->gen_len;
        return sx->gen_id;
    }
    *len = 0;
    return NULL;
}

/* Adds the entry made by fn as an argument (copied). */
static int arg_entry(argbuf *a, msgpack_sbuffer *sb, int rc)
{
    if (rc == 0)
        arg_copy(a, sb->data ? sb->data : "", sb->size);
    sb->size = 0;
    return rc;
}

/* The values of a record after update w: the old ones with w's sets and clears applied. */
static void updated_values(const kv_write *w, const kv_record *old, const char **vals, size_t *lens)
{
    const kv_model *m = w->model;
    for (int f = 0; f < m->nfields; f++) {
        vals[f] = old->values[f];
        lens[f] = old->lens[f];
    }
    for (int i = 0; i < w->nset; i++) {
        vals[w->set[i].field] = w->set[i].data;
        lens[w->set[i].field] = w->set[i].len;
    }
    for (int i = 0; i < w->nunset; i++) {
        vals[w->unset[i]] = NULL;
        lens[w->unset[i]] = 0;
    }
}

/* The index sections of the script: a create's entries (index number, entry), then the moves of an update or
 * delete (index number, name, old entry, new entry). */
static int add_index_sections(argbuf *a, const stepx *sx, bool xcreate, bool moves, const char *cid, size_t cid_len,
                              kv_error *err)
{
    const kv_write *w = sx->w;
    const kv_model *m = w->model;
    msgpack_sbuffer sb, nb;
    const char **vals = calloc((size_t)m->nfields + 1, sizeof(*vals));
    size_t *lens = calloc((size_t)m->nfields + 1, sizeof(*lens));
    int rc = 0;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&nb);
    if (!vals || !lens) {
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
        goto out;
    }
    if (xcreate) {
        for (int i = 0; i < w->ncreate; i++) {
            vals[w->create[i].field] = w->create[i].data;
            lens[w->create[i].field] = w->create[i].len;
        }
        arg_int(a, m->nindexes);
        for (int x = 0; rc == 0 && x < m->nindexes; x++) {
            arg_int(a, x + 1);
            rc = arg_entry(a, &sb, kv_index_entry(&sb, m, &m->indexes[x], vals, lens, cid, cid_len, err));
        }
    } else {
        arg_int(a, 0);
    }
    if (rc != 0)
        goto out;
    if (!moves) {
        arg_int(a, 0);
        goto out;
    }
    if (w->op != KV_WRITE_DELETE)
        updated_values(w, &sx->old, vals, lens);
    /* the count goes before the moves; it is known once they are: patched in place */
    int count_at = a->n, nmoves = 0;
    arg_int(a, 0);
    for (int x = 0; rc == 0 && x < m->nindexes; x++) {
        const kv_index *ix = &m->indexes[x];
        if (!kv_index_touched(ix, w))
            continue;
        sb.size = nb.size = 0;
        if ((rc = kv_index_entry(&sb, m, ix, sx->old.values, sx->old.lens, sx->old_id, sx->old_id_len, err)) != 0)
            break;
        if (w->op != KV_WRITE_DELETE &&
            (rc = kv_index_entry(&nb, m, ix, vals, lens, sx->old_id, sx->old_id_len, err)) != 0)
            break;
        if (w->op != KV_WRITE_DELETE && sb.size == nb.size && memcmp(sb.data, nb.data, sb.size) == 0)
            continue; /* the entry stays */
        arg_int(a, x + 1);
        arg_cstr(a, ix->name);
        arg_copy(a, sb.data, sb.size);
        if (w->op == KV_WRITE_DELETE)
            arg_cstr(a, "");
        else
            arg_copy(a, nb.data, nb.size);
        nmoves++;
    }
    if (rc == 0 && !a->oom && nmoves > 0) {
        char num[16];
        int nl = snprintf(num, sizeof(num), "%d", nmoves);
        char *s = malloc((size_t)nl + 1);
        if (s) {
            memcpy(s, num, (size_t)nl + 1);
            /* owned by the argbuf like every formatted argument */
            arg_own(a, s, (size_t)nl);
            if (!a->oom) {
                a->n--; /* arg_own appended it: move it to the count's place instead */
                a->argv[count_at] = s;
                a->lens[count_at] = (size_t)nl;
            }
        } else {
            a->oom = true;
        }
    }
out:
    free(vals);
    free(lens);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&nb);
    return rc;
}

/* The keys of w's guards (redis_scripts.c): per guard the key it reads and its model's index states. */
static int add_guard_keys(argbuf *a, const stepx *sx, kv_error *err)
{
    for (int i = 0; i < sx->w->nguards; i++) {
        const kv_guard *g = &sx->w->guards[i];
        const kv_model_keys *gk = kv_redis_keys(sx->e, g->model, err);
        if (!gk)
            return err->code;
        if (g->kind == KV_GUARD_COUNT)
            arg_key(a, &gk->x[g->range.index - g->model->indexes]);
        else if (g->loc.unique)
            arg_key(a, &gk->u[g->loc.unique_index]);
        else
            arg_record_key(a, gk, g->loc.id, g->loc.id_len);
        arg_key(a, &gk->xs);
    }
    return 0;
}

/* The guards section: their count, then six arguments each (redis_scripts.c). */
static void add_guard_args(argbuf *a, const kv_write *w)
{
    static const char when[][2] = {"a", "c", "u"};
    arg_int(a, w->nguards);
    for (int i = 0; i < w->nguards; i++) {
        const kv_guard *g = &w->guards[i];
        arg_cstr(a, g->kind == KV_GUARD_COUNT ? "x" : g->loc.unique ? "u" : "r");
        arg_cstr(a, when[g->when == 'c' ? 1 : g->when == 'u' ? 2 : 0]);
        if (g->kind == KV_GUARD_COUNT) {
            kv_redis_arg_bound(a, &g->range.lo, true);
            kv_redis_arg_bound(a, &g->range.hi, false);
            arg_int(a, g->count);
            arg_cstr(a, g->range.index->name);
        } else if (g->loc.unique) {
            arg_add(a, g->loc.ukey, g->loc.ukey_len);
            kv_redis_arg_unique_state(a, g->loc.unique);
            arg_cstr(a, "");
            arg_cstr(a, "");
        } else {
            if (g->version)
                arg_int(a, g->version);
            else
                arg_cstr(a, "");
            arg_cstr(a, "");
            arg_cstr(a, "");
            arg_cstr(a, "");
        }
    }
}

/* The arguments of the main script for a write (argv[0] and argv[1], EVALSHA and the SHA1, are filled by the
 * caller). Returns 0, or an error (an entry that cannot be made, out of memory). */
static const char *const opnames[] = {"create", "update", "upsert", "delete"};

/* The mode argument of a write in an all-or-nothing group: '?create' ('~create' when a taken value is a skip),
 * '!<checks>create' (redis_scripts.c). Returns its length. */
static size_t group_mode(char *op, size_t cap, const stepx *sx)
{
    const kv_write *w = sx->w;
    int n = sx->mode == MODE_CHECK ? snprintf(op, cap, "%c%s", w->skip_duplicate ? '~' : '?', opnames[w->op])
                                   : snprintf(op, cap, "!%zu%s", sx->checks, opnames[w->op]);
    return n > 0 ? (size_t)n : 0;
}

static int write_args_of(argbuf *a, const stepx *sx, int *mode_at, bool copy, kv_error *err)
{
    const kv_write *w = sx->w;
    const kv_model *m = w->model;
    const kv_model_keys *k = sx->k;
    const char *lockind = "", *locval = "", *lockey = "", *expect = "", *rkid = NULL, *tid = NULL;
    size_t locval_len = 0, lockey_len = 0, rkid_len = 0, tid_len = 0, cid_len = 0;
    char expbuf[24], locnum[16];
    bool has_create = w->op == KV_WRITE_CREATE || w->op == KV_WRITE_UPSERT, xcreate = false, moves = false;
    const char *cid = has_create ? create_id(sx, &cid_len) : NULL;
    msgpack_sbuffer sb;
    int rc = 0;
    if (w->op == KV_WRITE_CREATE) {
        rkid = cid, rkid_len = cid_len;
        xcreate = true;
    } else if (sx->pre && sx->old_found) {
        /* computed from the record read: written only if it is still at that version */
        snprintf(expbuf, sizeof(expbuf), "%" PRId64, sx->old.version);
        expect = expbuf;
        lockind = "i", locval = sx->old_id, locval_len = sx->old_id_len;
        rkid = sx->old_id, rkid_len = sx->old_id_len;
        moves = true;
        if (w->op == KV_WRITE_DELETE)
            tid = sx->old_id, tid_len = sx->old_id_len;
    } else {
        if (sx->pre) {
            /* nothing was found: still nothing, or the write is computed again */
            expect = "0";
            xcreate = w->op == KV_WRITE_UPSERT;
        }
        if (!w->loc.unique) {
            lockind = "i", locval = w->loc.id, locval_len = w->loc.id_len;
            rkid = w->loc.id, rkid_len = w->loc.id_len;
            if (w->op == KV_WRITE_DELETE)
                tid = w->loc.id, tid_len = w->loc.id_len;
        } else {
            snprintf(locnum, sizeof(locnum), "%d", w->loc.unique_index + 1);
            lockind = "u", locval = locnum, locval_len = strlen(locnum);
            lockey = w->loc.ukey, lockey_len = w->loc.ukey_len;
            /* the record found by the lookup has a key known only in the script (docs/format.md) */
            rkid = cid, rkid_len = cid_len;
        }
    }
    arg_cstr(a, "");
    arg_cstr(a, "");
    arg_int(a, 3 + m->nuniques + m->nindexes + (rkid ? 1 : 0) + 2 * w->nguards + (sx->mode != MODE_ALONE));
    arg_key(a, &k->ids);
    arg_key(a, &k->seq);
    arg_key(a, &k->xs);
    for (int i = 0; i < m->nuniques; i++)
        arg_key(a, &k->u[i]);
    for (int i = 0; i < m->nindexes; i++)
        arg_key(a, &k->x[i]);
    if (rkid)
        arg_record_key(a, k, rkid, rkid_len);
    if ((rc = add_guard_keys(a, sx, err)) != 0)
        return rc;
    if (sx->mode != MODE_ALONE)
        arg_key(a, sx->guard ? sx->guard : &k->guard);
    if (sx->mode == MODE_ALONE) {
        arg_cstr(a, opnames[w->op]);
    } else {
        char op[40];
        if (mode_at) /* where the group's apply command differs from its check */
            *mode_at = a->n;
        arg_copy(a, op, group_mode(op, sizeof(op), sx));
    }
    arg_key(a, &k->rec);
    arg_cstr(a, m->id_kind == KV_ID_INCREMENT ? (sx->gen && cid ? "G" : "g") : m->id_kind == KV_ID_INTEGER ? "i" : "s");
    arg_int(a, m->nuniques);
    arg_int(a, m->nindexes);
    arg_cstr(a, lockind);
    arg_copy(a, locval, locval_len);
    arg_add(a, lockey, lockey_len);
    arg_copy(a, cid ? cid : "", cid_len);
    if (w->has_if_version)
        arg_int(a, w->if_version);
    else
        arg_cstr(a, "");
    arg_copy(a, expect, strlen(expect));
    /* the id's entry in ids: added by a create, removed by a delete */
    msgpack_sbuffer_init(&sb);
    if (cid)
        rc = arg_entry(a, &sb, kv_id_entry(&sb, m, cid, cid_len, err));
    else if (tid)
        rc = arg_entry(a, &sb, kv_id_entry(&sb, m, tid, tid_len, err));
    else
        arg_cstr(a, "");
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        return rc;
    arg_copy(a, rkid ? rkid : "", rkid_len);
    if (lockind[0] == 'u')
        kv_redis_arg_unique_state(a, w->loc.unique);
    else
        arg_cstr(a, "");
    for (int i = 0; i < m->nuniques; i++)
        add_create_key(a, w, &m->uniques[i]);
    add_pairs(a, m, w->create, has_create ? w->ncreate : 0, false);
    add_pairs(a, m, w->set, w->nset, copy);
    arg_int(a, w->nunset);
    for (int i = 0; i < w->nunset; i++)
        arg_cstr(a, m->fields[w->unset[i]].name);
    /* the ops the script computes (number_ops.h); those computed from a read are among the values set */
    arg_int(a, w->op == KV_WRITE_CREATE ? 0 : w->nops);
    for (int i = 0; w->op != KV_WRITE_CREATE && i < w->nops; i++) {
        static const char kinds[] = {'+', '-', '*', '/'};
        arg_cstr(a, m->fields[w->ops[i].field].name);
        arg_copy(a, &kinds[w->ops[i].kind], 1);
        arg_cstr(a, m->fields[w->ops[i].field].type == KV_T_INTEGER ? "i" : "f");
        arg_add(a, w->ops[i].data, w->ops[i].len);
    }
    if (w->op == KV_WRITE_CREATE) {
        arg_int(a, 0);
    } else {
        int moved = 0;
        for (int i = 0; i < m->nuniques; i++)
            moved += kv_unique_touched(&m->uniques[i], w);
        arg_int(a, moved);
        for (int i = 0; i < m->nuniques; i++) {
            if (!kv_unique_touched(&m->uniques[i], w))
                continue;
            arg_int(a, i + 1);
            arg_int(a, m->uniques[i].nfields);
            for (int f = 0; f < m->uniques[i].nfields; f++)
                arg_cstr(a, m->fields[m->uniques[i].fields[f]].name);
        }
    }
    if ((rc = add_index_sections(a, sx, xcreate && cid, moves, cid, cid_len, err)) != 0)
        return rc;
    add_guard_args(a, w);
    return a->oom ? kv_fail(err, KVORM_EINTERNAL, "out of memory") : 0;
}

/* The arguments of the write of sx. An update with atomic number operations (number_ops.h) sends their results,
 * computed from the record it read, as values it sets: written only if the record is still at that version. */
static int write_args(argbuf *a, const stepx *sx, int *mode_at, kv_error *err)
{
    const kv_write *w = sx->w;
    if (w->nops == 0 || !sx->pre || !sx->old_found || w->op == KV_WRITE_CREATE || w->op == KV_WRITE_DELETE)
        return write_args_of(a, sx, mode_at, false, err);
    const kv_model *m = w->model;
    const char **vals = calloc((size_t)m->nfields + 1, sizeof(*vals));
    size_t *lens = calloc((size_t)m->nfields + 1, sizeof(*lens));
    kv_field_value *set = calloc((size_t)(w->nset + w->nops) + 1, sizeof(*set));
    msgpack_sbuffer buf;
    int rc;
    msgpack_sbuffer_init(&buf);
    if (!vals || !lens || !set) {
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
        goto out;
    }
    updated_values(w, &sx->old, vals, lens);
    if ((rc = kv_number_ops_apply_all(w, vals, lens, &buf, err)) != 0)
        goto out;
    kv_write dw = *w;
    memcpy(set, w->set, sizeof(*set) * (size_t)w->nset);
    dw.nset = w->nset;
    for (int i = 0; i < w->nops; i++) {
        int f = w->ops[i].field;
        if (vals[f]) /* a null stays null */
            set[dw.nset++] = (kv_field_value){f, vals[f], lens[f]};
    }
    dw.set = set;
    dw.ops = NULL;
    dw.nops = 0;
    stepx one = *sx;
    one.w = &dw;
    rc = write_args_of(a, &one, mode_at, true, err);
out:
    free(vals);
    free(lens);
    free(set);
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

/* Reads the main script's reply to a write into its step; the reply is kept as the record's storage on success,
 * else freed. STALE (and a generated id found taken) leaves the step to be run again. */
void kv_redis_write_reply(stepx *sx, redisReply *r)
{
    kv_step *st = sx->st;
    const kv_write *w = sx->w;
    const kv_model *m = w->model;
    kv_record *out = &st->out;
    size_t cid_len = 0;
    const char *cid = create_id(sx, &cid_len);
    int rc = 0;
    sx->state = S_DONE;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = kv_redis_error(st->err, KVORM_EINTERNAL, m->name, "the write script", r);
    } else if (r->type == REDIS_REPLY_STRING) {
        /* created: the reply is the id; the values are the caller's create data */
        out->id = r->str;
        out->id_len = r->len;
        out->version = 1;
        out->created = true;
        if (!kv_record_alloc(out, m->nfields)) {
            rc = kv_fail(st->err, KVORM_EINTERNAL, "out of memory");
        } else {
            for (int i = 0; i < w->ncreate; i++) {
                out->values[w->create[i].field] = w->create[i].data;
                out->lens[w->create[i].field] = w->create[i].len;
            }
        }
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
               (r->element[0]->type != REDIS_REPLY_STRING && r->element[0]->type != REDIS_REPLY_STATUS)) {
        rc = kv_fail(st->err, KVORM_EINTERNAL, "%s: unexpected reply from the write script", m->name);
    } else if (strcmp(r->element[0]->str, "STALE") == 0) {
        sx->state = S_RERUN;
    } else if (strcmp(r->element[0]->str, "SLOW") == 0) {
        /* an atomic number operation the script cannot compute exactly: computed here, from a read */
        sx->pre = true;
        sx->state = S_RERUN;
    } else if (sx->mode == MODE_CHECK && strcmp(r->element[0]->str, "CHECKED") == 0) {
        /* the write would succeed: nothing to keep yet */
    } else if (is_building(r) && w->loc.unique) {
        rc = kv_fail_unique_building(st->err, m, w->loc.unique);
    } else if (r->elements == 2 && r->element[1]->type == REDIS_REPLY_INTEGER &&
               r->element[1]->integer >= 1 && r->element[1]->integer <= w->nguards &&
               (strcmp(r->element[0]->str, "NOREF") == 0 || strcmp(r->element[0]->str, "REFSTALE") == 0 ||
                strcmp(r->element[0]->str, "REFBUILDING") == 0)) {
        char what = r->element[0]->str[3] == 'E' ? 'm' : r->element[0]->str[3] == 'S' ? 'c' : 'b';
        rc = kv_fail_guard(st->err, w, &w->guards[r->element[1]->integer - 1], what);
    } else if (strcmp(r->element[0]->str, "NOTFOUND") == 0) {
        rc = kv_fail_at(st->err, KVORM_ENOTFOUND, m->name, NULL, "%s: no record matches", m->name);
    } else if (strcmp(r->element[0]->str, "UNIQUE") == 0 && r->elements == 2 &&
               r->element[1]->type == REDIS_REPLY_INTEGER) {
        if (r->element[1]->integer == 0 && sx->gen && !w->new_id) {
            /* the counter gave an id a record already has (one written without it): take the next one */
            sx->have_gen = false;
            sx->state = S_RERUN;
        } else if (w->skip_duplicate && w->op == KV_WRITE_CREATE) {
            st->found = false; /* skipped: not an error */
        } else {
            rc = kv_fail_unique_taken(st->err, w, cid, cid_len, (int)r->element[1]->integer);
        }
    } else if (strcmp(r->element[0]->str, "CONFLICT") == 0 && r->elements == 2 &&
               r->element[1]->type == REDIS_REPLY_STRING) {
        /* the stored version, which anything may have written */
        char v[32];
        kv_sanitize(v, sizeof(v), r->element[1]->str, r->element[1]->len);
        rc = kv_fail_at(st->err, KVORM_ECONFLICT, m->name, NULL,
                        "%s: the record is at version %s, not the expected version %" PRId64, m->name, v,
                        w->if_version);
    } else if (strcmp(r->element[0]->str, "OK") == 0 && r->elements == 4 &&
               r->element[1]->type == REDIS_REPLY_STRING && r->element[2]->type == REDIS_REPLY_STRING &&
               r->element[3]->type == REDIS_REPLY_ARRAY) {
        out->id = r->element[1]->str;
        out->id_len = r->element[1]->len;
        out->version = strtoll(r->element[2]->str, NULL, 10);
        rc = kv_redis_fill_record(out, m, r->element[3], st->err);
    } else {
        rc = kv_fail(st->err, KVORM_EINTERNAL, "%s: unexpected reply from the write script", m->name);
    }
    st->rc = rc;
    if (rc == 0 && sx->state == S_DONE && out->id) {
        st->found = true;
        out->owner = r;
        out->release = release_reply;
    } else {
        kv_record_free(out);
        freeReplyObject(r);
    }
}

/* ---- running steps ---- */

void kv_redis_step_reset(stepx *sx)
{
    kv_record_free(&sx->st->out);
    sx->st->found = false;
    sx->st->rc = 0;
    sx->state = S_PENDING;
}

void kv_redis_step_forget(stepx *sx)
{
    kv_record_free(&sx->old);
    sx->old_found = false;
    sx->old_id = NULL;
    sx->old_id_len = 0;
}

/* Takes n generated ids for the model of sx from its counter (one INCRBY, whose reply is r). */
static int take_ids(stepx **which, size_t n, const redisReply *r, kv_error *err)
{
    if (r->type != REDIS_REPLY_INTEGER)
        return kv_redis_error(err, KVORM_EINTERNAL, which[0]->w->model->name, "INCRBY of the id counter", r);
    long long first = r->integer - (long long)n + 1;
    for (size_t i = 0; i < n; i++) {
        which[i]->gen_len = (size_t)snprintf(which[i]->gen_id, sizeof(which[i]->gen_id), "%lld", first + (long long)i);
        which[i]->have_gen = true;
    }
    return 0;
}

static void arg_incrby(argbuf *a, const kv_model_keys *k, size_t n)
{
    arg_cstr(a, "INCRBY");
    arg_key(a, &k->seq);
    arg_int(a, (int64_t)n);
}

/* A pause before a write's next try, random and growing with the tries, so that writers racing for one record
 * (atomic number operations on a counter, say) stop meeting in the same instant. */
static void back_off(int attempt)
{
    static _Thread_local uint64_t seed;
    if (seed == 0)
        seed = (uint64_t)(uintptr_t)&seed ^ (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    long cap_us = 50L << (attempt < 8 ? attempt : 8); /* 200 us .. 12.8 ms */
    struct timespec ts = {0, (long)(seed % (uint64_t)cap_us) * 1000L};
    nanosleep(&ts, NULL);
}

/* Runs one write alone: its read first (when it needs one), an id from the counter (when it needs one), then the
 * script; again from the read while the record changes in between. */
static void write_alone(redis_engine *e, redisContext *c, stepx *sx, bool *broken)
{
    kv_step *st = sx->st;
    const kv_model *m = sx->w->model;
    for (int attempt = 0; attempt < KV_REDIS_STALE_ATTEMPTS; attempt++) {
        argbuf a = {0};
        redisReply *r = NULL;
        bool sent = false;
        char sha[41];
        if (attempt >= 2)
            back_off(attempt);
        kv_redis_step_reset(sx);
        if (sx->pre) {
            kv_redis_step_forget(sx);
            kv_redis_sha(e, KV_SCRIPT_MAIN, sha);
            read_args(&a, sx->k, &sx->w->loc, sha);
            st->rc = a.oom ? kv_fail(st->err, KVORM_EINTERNAL, "out of memory")
                     : sx->w->loc.unique ? kv_redis_script(e, c, KV_SCRIPT_MAIN, &a, &r, broken, &sent, st->err)
                                         : kv_redis_run(c, a.n, a.argv, a.lens, &r, broken, &sent, st->err);
            arg_free(&a);
            if (st->rc != 0)
                return;
            pre_reply(sx, r);
            if (st->rc != 0)
                return;
        }
        if (sx->gen && !sx->have_gen) {
            stepx *one = sx;
            arg_incrby(&a, sx->k, 1);
            st->rc = a.oom ? kv_fail(st->err, KVORM_EINTERNAL, "out of memory")
                           : kv_redis_run(c, a.n, a.argv, a.lens, &r, broken, &sent, st->err);
            arg_free(&a);
            if (st->rc != 0)
                return;
            st->rc = take_ids(&one, 1, r, st->err);
            freeReplyObject(r);
            r = NULL;
            if (st->rc != 0)
                return;
        }
        sent = false; /* what follows is the write: the reads before it changed nothing */
        if ((st->rc = write_args(&a, sx, NULL, st->err)) == 0)
            st->rc = kv_redis_script(e, c, KV_SCRIPT_MAIN, &a, &r, broken, &sent, st->err);
        arg_free(&a);
        if (st->rc != 0) {
            if (sent)
                kv_redis_outcome_unknown(st->err);
            return;
        }
        kv_redis_write_reply(sx, r);
        if (sx->state != S_RERUN)
            return;
    }
    kv_redis_step_reset(sx);
    st->rc = kv_fail_at(st->err, KVORM_EINTERNAL, m->name, NULL,
                        "%s: the record kept changing between its read and its write (%d attempts), or one of its "
                        "index entries is missing (the check op finds it); nothing was written",
                        m->name, KV_REDIS_STALE_ATTEMPTS);
    kv_error_set_retryable(st->err, true);
    sx->state = S_DONE;
}

/* Runs one step on its own; on a connection that broke earlier in the batch nothing is sent. */
static void run_alone(redis_engine *e, redisContext *c, stepx *sx, bool *broken)
{
    kv_step *st = sx->st;
    if (*broken) {
        st->rc = kv_fail_at(st->err, KVORM_ECONNECTION, st->model->name, NULL,
                            "%s: the connection to Redis broke earlier in the batch; this request was not sent",
                            st->model->name);
        return;
    }
    if (st->write) {
        write_alone(e, c, sx, broken);
        return;
    }
    argbuf a = {0};
    redisReply *r = NULL;
    char sha[41];
    kv_redis_step_reset(sx);
    kv_redis_sha(e, KV_SCRIPT_MAIN, sha);
    read_args(&a, sx->k, st->loc, sha);
    if (a.oom)
        st->rc = kv_fail(st->err, KVORM_EINTERNAL, "out of memory");
    else if (st->loc->unique)
        st->rc = kv_redis_script(e, c, KV_SCRIPT_MAIN, &a, &r, broken, NULL, st->err);
    else
        st->rc = kv_redis_run(c, a.n, a.argv, a.lens, &r, broken, NULL, st->err);
    arg_free(&a);
    if (st->rc == 0)
        read_reply(st, r);
    sx->state = S_DONE;
}

/* Takes the reply of a step of a pipeline or transaction; NOSCRIPT marks it to run again. */
static void take_reply(stepx *sx, redisReply *r)
{
    if (kv_redis_is_noscript(r)) {
        freeReplyObject(r);
        sx->state = S_RERUN;
    } else if (sx->st->write) {
        kv_redis_write_reply(sx, r);
    } else {
        read_reply(sx->st, r);
        sx->state = S_DONE;
    }
}

/* Runs alone, in order, the steps from the first one that must run again: those whose script Redis had
 * forgotten or whose record changed since it was read, and the reads after the first of them (a read must see
 * the writes before it). A write that is done never runs again. */
static void rerun(redis_engine *e, redisContext *c, stepx *sx, size_t n, bool *broken)
{
    size_t first = n;
    for (size_t i = 0; i < n && first == n; i++)
        if (sx[i].state == S_RERUN)
            first = i;
    for (size_t i = first; i < n; i++) {
        if (!sx[i].k || (sx[i].st->write && sx[i].state != S_RERUN))
            continue;
        run_alone(e, c, &sx[i], broken);
    }
}

/* The command of a step, appended to cmds; a write that cannot be formatted fails alone, with no command. */
void kv_redis_add_command(kv_cmdbuf *cmds, stepx *sx, const char *sha)
{
    argbuf a = {0};
    int rc = 0;
    if (sx->st->write) {
        if ((rc = write_args(&a, sx, NULL, sx->st->err)) == 0 && a.n >= 2) {
            a.argv[0] = "EVALSHA";
            a.lens[0] = 7;
            a.argv[1] = sha;
            a.lens[1] = 40;
        }
    } else {
        read_args(&a, sx->k, sx->st->loc, sha);
        if (a.oom)
            rc = kv_fail(sx->st->err, KVORM_EINTERNAL, "out of memory");
    }
    sx->cmd = rc == 0;
    if (rc == 0)
        kv_cmdbuf_add(cmds, a.n, a.argv, a.lens);
    else {
        sx->st->rc = rc;
        sx->state = S_DONE;
    }
    arg_free(&a);
}

void kv_redis_add_check_and_apply(kv_cmdbuf *checks, kv_cmdbuf *applies, stepx *sx, const char *sha)
{
    argbuf a = {0};
    int mode_at = -1;
    char op[40];
    sx->mode = MODE_CHECK;
    int rc = write_args(&a, sx, &mode_at, sx->st->err);
    sx->cmd = rc == 0 && mode_at >= 0;
    if (!sx->cmd) {
        sx->st->rc = rc ? rc : kv_fail(sx->st->err, KVORM_EINTERNAL, "out of memory");
        sx->state = S_DONE;
        arg_free(&a);
        return;
    }
    a.argv[0] = "EVALSHA";
    a.lens[0] = 7;
    a.argv[1] = sha;
    a.lens[1] = 40;
    kv_cmdbuf_add(checks, a.n, a.argv, a.lens);
    /* the same arguments, the apply's mode in place of the check's */
    sx->mode = MODE_APPLY;
    a.lens[mode_at] = group_mode(op, sizeof(op), sx);
    a.argv[mode_at] = op;
    kv_cmdbuf_add(applies, a.n, a.argv, a.lens);
    arg_free(&a);
}

/* The record of an HGETALL reply read by the batch reader; the record holds a reference to the batch. */
static void batch_reply(kv_step *st, kv_resp_batch *b, const kv_resp_reply *rep)
{
    const kv_model *m = st->model;
    kv_record *out = &st->out;
    if (rep->kind == KV_RESP_ERROR) {
        char text[256];
        size_t tl = rep->error.len < sizeof(text) - 1 ? rep->error.len : sizeof(text) - 1;
        memcpy(text, b->buf + rep->error.off, tl);
        text[tl] = '\0';
        redisReply r = {.type = REDIS_REPLY_ERROR, .str = text, .len = tl};
        st->rc = kv_redis_error(st->err, KVORM_EINTERNAL, m->name, "HGETALL", &r);
        return;
    }
    if (rep->n == 0)
        return; /* no such record */
    out->id = st->loc->id;
    out->id_len = st->loc->id_len;
    if (!kv_record_alloc(out, m->nfields)) {
        st->rc = kv_fail(st->err, KVORM_EINTERNAL, "out of memory");
        return;
    }
    for (size_t i = 0; i + 1 < rep->n; i += 2) {
        const kv_resp_span *k = &b->spans[rep->first + i], *v = &b->spans[rep->first + i + 1];
        const char *ks = b->buf + k->off, *vs = b->buf + v->off;
        if (k->len == 2 && memcmp(ks, "$v", 2) == 0) {
            char num[24];
            size_t nl = v->len < sizeof(num) - 1 ? v->len : sizeof(num) - 1;
            memcpy(num, vs, nl);
            num[nl] = '\0';
            out->version = strtoll(num, NULL, 10);
            continue;
        }
        int f = kv_model_field(m, ks, k->len);
        if (f >= 0) {
            out->values[f] = vs;
            out->lens[f] = v->len;
        }
    }
    b->refs++;
    out->owner = b;
    out->release = kv_resp_batch_unref;
    st->found = true;
}

/* Reads by id only, on a connection whose own reader holds nothing: the replies are read into one batch, with
 * no allocation per element. Returns as run_reads. */
static size_t run_reads_by_id(redisContext *c, stepx *sx, size_t n, bool *broken)
{
    size_t ncmd = 0, j = 0;
    kv_resp_batch *b;
    for (size_t i = 0; i < n; i++)
        ncmd += sx[i].cmd;
    if (kv_resp_read(c, ncmd, "HGETALL", &b, broken, sx[0].st->err) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!sx[i].cmd)
            continue;
        batch_reply(sx[i].st, b, &b->replies[j++]);
        sx[i].state = S_DONE;
    }
    kv_resp_batch_unref(b);
    return n;
}

/* Reads only: one pipeline, the replies in order. Returns the steps done (n, or where the connection failed). */
static size_t run_reads(redis_engine *e, redisContext *c, stepx *sx, size_t n, bool *broken)
{
    kv_cmdbuf cmds = {0};
    char sha[41];
    size_t done = 0;
    bool by_id = kv_resp_usable(c);
    kv_redis_sha(e, KV_SCRIPT_MAIN, sha);
    for (size_t i = 0; i < n; i++) {
        sx[i].cmd = false;
        if (sx[i].state != S_DONE) /* done: it has no key names */
            kv_redis_add_command(&cmds, &sx[i], sha);
        by_id = by_id && !(sx[i].cmd && sx[i].st->loc->unique);
    }
    if (cmds.oom || kv_redis_send(c, &cmds, "a read", broken, sx[0].st->err) != 0) {
        if (cmds.oom)
            kv_fail(sx[0].st->err, KVORM_EINTERNAL, "out of memory");
        kv_cmdbuf_free(&cmds);
        return 0;
    }
    kv_cmdbuf_free(&cmds);
    if (by_id)
        return run_reads_by_id(c, sx, n, broken);
    for (; done < n; done++) {
        redisReply *r;
        if (!sx[done].cmd)
            continue;
        if (kv_redis_read(c, &r, sx[done].st->loc->unique ? "EVALSHA" : "HGETALL", broken, sx[done].st->err) != 0)
            return done;
        take_reply(&sx[done], r);
    }
    /* reads change nothing: the order of their reruns is moot */
    rerun(e, c, sx, n, broken);
    return n;
}

/* The record a write works on, when known before it runs: writes of one group whose records may be the same
 * are not computed from reads taken before either ran. */
static const char *write_target(const stepx *sx, size_t *len)
{
    const kv_write *w = sx->w;
    if (w->op == KV_WRITE_CREATE)
        return create_id(sx, len);
    if (sx->pre && sx->old_found) {
        *len = sx->old_id_len;
        return sx->old_id;
    }
    if (!w->loc.unique) {
        *len = w->loc.id_len;
        return w->loc.id;
    }
    return NULL;
}

/* The first write of the group that must not share the group with the writes before it: one computed from a
 * read (or before which one was, or one with atomic number operations) that may touch the same record as an
 * earlier write. n if none. */
size_t kv_redis_conflict_at(const stepx *sx, size_t n)
{
    for (size_t p = 1; p < n; p++) {
        if (!sx[p].st->write)
            continue;
        size_t pl = 0;
        const char *pid = write_target(&sx[p], &pl);
        for (size_t q = 0; q < p; q++) {
            /* a write with atomic number operations may reply SLOW and run again alone, after the later ones */
            if (!sx[q].st->write || sx[q].w->model != sx[p].w->model ||
                (!sx[q].pre && sx[q].w->nops == 0 && !sx[p].pre))
                continue;
            size_t ql = 0;
            const char *qid = write_target(&sx[q], &ql);
            if (!pid || !qid || (pl == ql && memcmp(pid, qid, pl) == 0))
                return p;
        }
    }
    return n;
}

static bool needs_id(const stepx *sx)
{
    return sx->st->write && sx->gen && !sx->have_gen && sx->state != S_DONE;
}

/* Reads the records the group's writes are computed from, and takes its generated ids, in one pipeline.
 * Returns 0, or the error (in sx[0]'s err) that broke the connection; a step's own failure is in the step. */
int kv_redis_prepare(redis_engine *e, redisContext *c, stepx *sx, size_t n, bool *broken)
{
    kv_cmdbuf cmds = {0};
    char sha[41];
    stepx **gens = calloc(n + 1, sizeof(*gens));
    bool *redo = calloc(n + 1, sizeof(*redo));
    size_t ngen = 0, nincr = 0;
    int rc = 0;
    /* incr[i]: for the i-th INCRBY, where its steps start in gens and how many */
    size_t *incr_from = calloc(n + 1, sizeof(*incr_from)), *incr_n = calloc(n + 1, sizeof(*incr_n));
    if (!gens || !redo || !incr_from || !incr_n) {
        rc = kv_fail(sx[0].st->err, KVORM_EINTERNAL, "out of memory");
        goto out;
    }
    kv_redis_sha(e, KV_SCRIPT_MAIN, sha);
    for (size_t i = 0; i < n; i++) {
        sx[i].cmd = false;
        if (!sx[i].st->write || !sx[i].pre || sx[i].state == S_DONE)
            continue;
        argbuf a = {0};
        sx[i].cmd = true;
        kv_redis_step_forget(&sx[i]);
        read_args(&a, sx[i].k, &sx[i].w->loc, sha);
        if (a.oom)
            cmds.oom = true;
        else
            kv_cmdbuf_add(&cmds, a.n, a.argv, a.lens);
        arg_free(&a);
    }
    /* one INCRBY per model for the creates that need an id, in the order of the steps */
    for (size_t i = 0; i < n; i++) {
        if (!needs_id(&sx[i]))
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = needs_id(&sx[j]) && sx[j].w->model == sx[i].w->model;
        if (seen)
            continue;
        incr_from[nincr] = ngen;
        for (size_t j = i; j < n; j++)
            if (needs_id(&sx[j]) && sx[j].w->model == sx[i].w->model)
                gens[ngen++] = &sx[j];
        incr_n[nincr] = ngen - incr_from[nincr];
        argbuf a = {0};
        arg_incrby(&a, sx[i].k, incr_n[nincr]);
        if (a.oom)
            cmds.oom = true;
        else
            kv_cmdbuf_add(&cmds, a.n, a.argv, a.lens);
        arg_free(&a);
        nincr++;
    }
    if (cmds.len == 0 && !cmds.oom)
        goto out;
    if (cmds.oom) {
        rc = kv_fail(sx[0].st->err, KVORM_EINTERNAL, "out of memory");
        goto out;
    }
    if ((rc = kv_redis_send(c, &cmds, "a read", broken, sx[0].st->err)) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        redisReply *r;
        if (!sx[i].cmd)
            continue;
        if ((rc = kv_redis_read(c, &r, "a read", broken, sx[0].st->err)) != 0)
            goto out;
        if (kv_redis_is_noscript(r)) {
            /* Redis forgot the script: this read goes again alone, once the pipeline's replies are all in */
            freeReplyObject(r);
            redo[i] = true;
            continue;
        }
        pre_reply(&sx[i], r);
        if (sx[i].st->rc != 0)
            sx[i].state = S_DONE;
    }
    for (size_t j = 0; j < nincr; j++) {
        redisReply *r;
        if ((rc = kv_redis_read(c, &r, "INCRBY", broken, sx[0].st->err)) != 0)
            goto out;
        kv_error why = {0};
        if (take_ids(gens + incr_from[j], incr_n[j], r, &why) != 0) {
            /* no id: those creates fail alone (UNAVAILABLE when Redis refused, out of memory, say) */
            for (size_t g = 0; g < incr_n[j]; g++) {
                stepx *s = gens[incr_from[j] + g];
                *s->st->err = why;
                s->st->err->model = s->w->model->name;
                s->st->rc = why.code;
                s->state = S_DONE;
            }
        }
        freeReplyObject(r);
    }
    for (size_t i = 0; i < n; i++) {
        argbuf a = {0};
        redisReply *r = NULL;
        if (!redo[i])
            continue;
        read_args(&a, sx[i].k, &sx[i].w->loc, sha);
        sx[i].st->rc = a.oom ? kv_fail(sx[i].st->err, KVORM_EINTERNAL, "out of memory")
                             : kv_redis_script(e, c, KV_SCRIPT_MAIN, &a, &r, broken, NULL, sx[i].st->err);
        arg_free(&a);
        if (sx[i].st->rc == 0)
            pre_reply(&sx[i], r);
        if (sx[i].st->rc != 0) {
            sx[i].state = S_DONE;
            if (*broken) {
                rc = kv_fail(sx[0].st->err, sx[i].st->err->code, "%s", sx[i].st->err->message);
                goto out;
            }
        }
    }
out:
    kv_cmdbuf_free(&cmds);
    free(redo);
    free(gens);
    free(incr_from);
    free(incr_n);
    return rc;
}

/* Redis refused MULTI itself (an ACL without it, say): the commands after it ran one by one and their replies
 * are their own; EXEC's reply is an error. */
static size_t take_unqueued(redis_engine *e, redisContext *c, stepx *sx, size_t n, bool *broken)
{
    kv_error ignored = {0};
    redisReply *r;
    for (size_t i = 0; i < n; i++) {
        if (!sx[i].cmd)
            continue;
        if (kv_redis_read(c, &r, "a write", broken, sx[i].st->err) != 0)
            return i;
        take_reply(&sx[i], r);
    }
    if (kv_redis_read(c, &r, "EXEC", broken, &ignored) == 0)
        freeReplyObject(r);
    rerun(e, c, sx, n, broken);
    return n;
}

static void fail_all(stepx *sx, size_t n, const redisReply *why)
{
    for (size_t i = 0; i < n; i++)
        if (sx[i].cmd)
            sx[i].st->rc = kv_redis_error(sx[i].st->err, KVORM_EINTERNAL, sx[i].st->model->name, "the batch", why);
}

/* EXEC failed, and nothing of the transaction ran. When Redis refused a queued command (OOM at maxmemory, LOADING)
 * it discarded the transaction ("EXECABORT ... previous errors"): each step runs alone, in order, for its own
 * outcome. When it refused EXEC itself ("EXECABORT ... because of: BUSY ..." while a script runs) the connection
 * is still in MULTI: it is dropped, and every step fails with the reason. */
static void exec_failed(redis_engine *e, redisContext *c, stepx *sx, size_t n, const redisReply *r, bool *broken)
{
    const char *because = r->str ? strstr(r->str, "because of: ") : NULL;
    if (r->str && strncmp(r->str, "EXECABORT", 9) == 0 && strstr(r->str, "previous errors")) {
        for (size_t i = 0; i < n; i++)
            if (sx[i].cmd)
                run_alone(e, c, &sx[i], broken);
        return;
    }
    *broken = true;
    if (because) {
        redisReply reason = *r;
        reason.str = (char *)because + 12;
        reason.len = r->len - (size_t)(reason.str - r->str);
        fail_all(sx, n, &reason);
    } else {
        fail_all(sx, n, r);
    }
}

/* The steps of a group holding writes, in one MULTI/EXEC: one round trip, and no other client's command runs in
 * between. *sent tells a failure after the commands left (the writes' outcome is then unknown) from one
 * before. Returns n, or 0 when the connection failed (the error is in sx[0]'s err). */
static size_t run_transaction(redis_engine *e, redisContext *c, stepx *sx, size_t n, bool *broken, bool *sent)
{
    static const char *const multi[1] = {"MULTI"}, *const exec[1] = {"EXEC"};
    static const size_t multi_len[1] = {5}, exec_len[1] = {4};
    kv_cmdbuf cmds = {0};
    redisReply *r = NULL;
    kv_error *err = sx[0].st->err;
    char sha[41];
    size_t queued = 0;
    bool multi_ok;
    kv_redis_sha(e, KV_SCRIPT_MAIN, sha);
    kv_cmdbuf_add(&cmds, 1, multi, multi_len);
    for (size_t i = 0; i < n; i++) {
        if (sx[i].state == S_DONE) { /* failed while prepared */
            sx[i].cmd = false;
            continue;
        }
        kv_redis_add_command(&cmds, &sx[i], sha);
        queued += sx[i].cmd;
    }
    kv_cmdbuf_add(&cmds, 1, exec, exec_len);
    if (cmds.oom) {
        kv_cmdbuf_free(&cmds);
        kv_fail(err, KVORM_EINTERNAL, "out of memory");
        return 0;
    }
    if (queued == 0) {
        kv_cmdbuf_free(&cmds);
        return n;
    }
    int src = kv_redis_send(c, &cmds, "a write", broken, err);
    kv_cmdbuf_free(&cmds);
    if (src != 0)
        return 0;
    *sent = true;
    if (kv_redis_read(c, &r, "MULTI", broken, err) != 0)
        return 0;
    multi_ok = r->type != REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (!multi_ok)
        return take_unqueued(e, c, sx, n, broken);
    /* +QUEUED for each command (or the error that refused it), then EXEC's array of replies */
    for (size_t i = 0; i < queued; i++) {
        if (kv_redis_read(c, &r, "MULTI", broken, err) != 0)
            return 0;
        freeReplyObject(r);
    }
    if (kv_redis_read(c, &r, "EXEC", broken, err) != 0)
        return 0;
    if (r->type == REDIS_REPLY_ERROR) {
        exec_failed(e, c, sx, n, r, broken);
        freeReplyObject(r);
        return n;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != queued) {
        kv_fail(err, KVORM_EINTERNAL, "%s", "unexpected reply to EXEC from Redis");
        freeReplyObject(r);
        *broken = true; /* the connection's state is unknown: do not reuse it */
        return 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!sx[i].cmd)
            continue;
        take_reply(&sx[i], r->element[k]);
        r->element[k++] = NULL; /* each step keeps its own reply */
    }
    freeReplyObject(r);
    rerun(e, c, sx, n, broken);
    return n;
}

/* The connection failed in the group starting at `from`: every step from there on shares that error. When the
 * group's commands had left (sent), its writes may or may not have been applied; later groups were never sent.
 * Reruns already done inside the group keep their own outcome. */
void kv_redis_fail_from(stepx *sx, size_t n, size_t from, size_t group_end, const kv_error *why_in, bool sent)
{
    const kv_error why = *why_in; /* as it was, before the steps change theirs */
    for (size_t i = from; i < n; i++) {
        kv_step *st = sx[i].st;
        kv_record_free(&st->out);
        st->found = false;
        if (st->err != why_in) {
            kv_fail_at(st->err, why.code, st->model->name, NULL, "%s", why.message);
            kv_error_set_retryable(st->err, why.retryable);
        }
        if (sent && i < group_end && st->write)
            kv_redis_outcome_unknown(st->err);
        st->rc = why.code;
    }
}

void kv_redis_steps_init(redis_engine *e, stepx *sx, kv_step **steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kv_step *st = steps[i];
        memset(&st->out, 0, sizeof(st->out));
        st->found = false;
        st->rc = 0;
        sx[i].st = st;
        sx[i].w = st->write;
        sx[i].k = NULL;
        sx[i].e = e;
        sx[i].guard = NULL;
        sx[i].state = S_PENDING;
        sx[i].mode = MODE_ALONE;
        if (st->write) {
            sx[i].pre = needs_preread(st->write);
            sx[i].gen = (st->write->op == KV_WRITE_CREATE || st->write->op == KV_WRITE_UPSERT) &&
                        st->model->id_kind == KV_ID_INCREMENT && !st->write->new_id &&
                        !(st->write->op == KV_WRITE_UPSERT && !st->write->loc.unique);
        }
    }
    /* key names first: a model without them fails its steps alone */
    for (size_t i = 0; i < n; i++)
        if (!(sx[i].k = kv_redis_keys(e, steps[i]->model, steps[i]->err))) {
            steps[i]->rc = steps[i]->err->code;
            sx[i].state = S_DONE;
        }
}

void kv_redis_run_steps(kv_engine *eng, kv_step **steps, size_t n)
{
    redis_engine *e = (redis_engine *)eng;
    redisContext *c;
    stepx one, *sx;
    bool broken = false;
    if (n == 0)
        return;
    sx = n == 1 ? &one : calloc(n, sizeof(*sx));
    if (!sx) {
        for (size_t i = 0; i < n; i++) {
            memset(&steps[i]->out, 0, sizeof(steps[i]->out));
            steps[i]->found = false;
            steps[i]->rc = kv_fail(steps[i]->err, KVORM_EINTERNAL, "out of memory for a batch of %zu steps", n);
        }
        return;
    }
    if (n == 1)
        memset(&one, 0, sizeof(one));
    kv_redis_steps_init(e, sx, steps, n);
    if (kv_pool_acquire(&e->pool, &c, steps[0]->err) != 0) {
        kv_redis_fail_from(sx, n, 0, 0, steps[0]->err, false);
        goto out;
    }
    if (n == 1) {
        if (sx[0].state != S_DONE)
            run_alone(e, c, &sx[0], &broken);
        kv_pool_release(&e->pool, c, broken);
        goto out;
    }
    for (size_t i = 0; i < n;) {
        bool writes, sent = false;
        /* a round trip: at most KV_REDIS_READS_PER_TRIP steps, KV_REDIS_WRITES_PER_TRIP writes */
        size_t done, j = kv_steps_group_end(steps, n, i, KV_REDIS_READS_PER_TRIP, KV_REDIS_WRITES_PER_TRIP, &writes);
        /* steps without key names are done already; they take no part */
        if (!writes) {
            done = run_reads(e, c, sx + i, j - i, &broken);
        } else {
            if (kv_redis_prepare(e, c, sx + i, j - i, &broken) != 0) {
                kv_redis_fail_from(sx, n, i, j, steps[i]->err, false);
                break;
            }
            size_t cut = kv_redis_conflict_at(sx + i, j - i);
            if (cut < j - i) {
                /* the rest reads again after this part has run */
                for (size_t k = i + cut; k < j; k++) {
                    kv_redis_step_forget(&sx[k]);
                    if (sx[k].k) {
                        sx[k].state = S_PENDING;
                        sx[k].st->rc = 0;
                    }
                }
                j = i + cut;
            }
            done = run_transaction(e, c, sx + i, j - i, &broken, &sent);
        }
        if (done != j - i) {
            kv_redis_fail_from(sx, n, i + done, j, steps[i + done]->err, sent);
            break;
        }
        i = j;
    }
    kv_pool_release(&e->pool, c, broken);
out:
    for (size_t i = 0; i < n; i++)
        kv_redis_step_forget(&sx[i]);
    if (sx != &one)
        free(sx);
}
