/* Steps on LMDB: each write does what the Redis write script does (redis_scripts.c), inside a transaction, so
 * that it needs no read first and never goes stale: existence, unique checks, the version (ifVersion), the record,
 * its unique entries and its index entries (the old ones computed from the record as read in the transaction),
 * generated integer ids from the model's sequence. A failed write leaves nothing behind.
 *
 * The steps of one run are cut into groups of up to KV_LMDB_WRITES_PER_TXN writes: a group is one write
 * transaction (one commit, one fsync), each write in a nested transaction of its own, so that a write that fails
 * is undone alone and the others keep their outcome; reads in the group see the writes before them. When LMDB
 * itself fails in a group (a full map is grown first) nothing of it was written, and its steps run one by one. A
 * group of reads is one read transaction.
 *
 * run_all is one write transaction without nesting: the first write that fails aborts it, so none is written. */
#include "lmdb_internal.h"

#include "entries.h"
#include "keycode.h"
#include "number_ops.h"
#include "value.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEPS_PER_GROUP 4096

/* What a step works with inside its transaction. */
typedef struct op {
    lm_txn *t;
    const lm_env *env;
    const char *ns;
    const kv_model *m;
    kv_error *err;
    msgpack_sbuffer key, a, b; /* scratch: a key, two entries */
} op;

/* A record as read in the transaction: a copy of its value, decoded. */
typedef struct stored {
    char *data;
    size_t len;
    const char **values;
    size_t *lens;
    int64_t version;
    char id[KV_MAX_ID_BYTES + 1];
    size_t id_len;
} stored;

static void op_init(op *o, lmdb_engine *e, lm_txn *t, const kv_model *m, kv_error *err)
{
    memset(o, 0, sizeof(*o));
    o->t = t;
    o->env = e->env;
    o->ns = e->ns;
    o->m = m;
    o->err = err;
    msgpack_sbuffer_init(&o->key);
    msgpack_sbuffer_init(&o->a);
    msgpack_sbuffer_init(&o->b);
}

/* The buffers of an op that writes (it builds keys and values in each), kept ones when the thread has them. */
static void op_take_buffers(op *o)
{
    kv_mp_buffer_take(&o->key);
    kv_mp_buffer_take(&o->a);
    kv_mp_buffer_take(&o->b);
}

static void op_free(op *o)
{
    kv_mp_buffer_give(&o->key);
    kv_mp_buffer_give(&o->a);
    kv_mp_buffer_give(&o->b);
}

static void stored_free(stored *s)
{
    free(s->data);
    free(s->values);
    free(s->lens);
    s->data = NULL;
    s->values = NULL;
    s->lens = NULL;
}

static int oom(kv_error *err)
{
    return kv_fail(err, KVORM_EINTERNAL, "out of memory");
}

/* ---- reading and writing the key in o->key ---- */

static int get(op *o, int db, MDB_val *v, bool *found, const char *what)
{
    int rc = kv_lmdb_get(o->t->txn, o->env, db, o->key.data, o->key.size, v);
    *found = rc == 0;
    return rc == MDB_NOTFOUND ? 0 : kv_lmdb_check(o->t, rc, o->m->name, what, o->err);
}

static int put(op *o, int db, const char *val, size_t len, const char *what)
{
    return kv_lmdb_check(o->t, kv_lmdb_put(o->t->txn, o->env, db, o->key.data, o->key.size, val, len), o->m->name,
                         what, o->err);
}

/* Deletes the key; one that is not there is no error (an entry an index build has not added yet). */
static int del(op *o, int db, const char *what)
{
    int rc = kv_lmdb_del(o->t->txn, o->env, db, o->key.data, o->key.size);
    return rc == MDB_NOTFOUND ? 0 : kv_lmdb_check(o->t, rc, o->m->name, what, o->err);
}

/* The id that holds key ukey of constraint u, copied into id (KV_MAX_ID_BYTES + 1 bytes). */
static int unique_owner(op *o, int u, const char *ukey, size_t ulen, char *id, size_t *id_len, bool *found)
{
    MDB_val v;
    int rc = kv_lmdb_entry_key(&o->key, o->ns, o->m, o->m->uniques[u].name, ukey, ulen, o->err);
    if (rc == 0)
        rc = get(o, LM_UNIQUES, &v, found, "a unique lookup");
    if (rc == 0 && *found) {
        if (v.mv_size == 0 || v.mv_size > KV_MAX_ID_BYTES)
            return kv_fail_at(o->err, KVORM_EINTERNAL, o->m->name, NULL,
                              "%s: an entry of unique constraint %s in LMDB holds no id", o->m->name,
                              o->m->uniques[u].name);
        memcpy(id, v.mv_data, v.mv_size);
        id[v.mv_size] = '\0';
        *id_len = v.mv_size;
    }
    return rc;
}

/* A step located by constraint u while u is being built could miss its record: it fails (UNAVAILABLE). */
static int check_unique_ready(op *o, int u)
{
    MDB_val v;
    bool building;
    int rc = kv_lmdb_build_key(&o->key, o->ns, o->m, o->m->nindexes + u, o->err);
    if (rc == 0)
        rc = get(o, LM_META, &v, &building, "reading the state of a unique constraint");
    return rc == 0 && building ? kv_fail_unique_building(o->err, o->m, &o->m->uniques[u]) : rc;
}

static int record_exists(op *o, const char *id, size_t id_len, bool *found)
{
    MDB_val v;
    int rc = kv_lmdb_record_key(&o->key, o->ns, o->m, id, id_len, o->err);
    return rc ? rc : get(o, LM_RECORDS, &v, found, "a record read");
}

/* Reads record id into s (a copy: the transaction writes after it). */
static int read_record(op *o, const char *id, size_t id_len, stored *s, bool *found)
{
    MDB_val v;
    int rc = kv_lmdb_record_key(&o->key, o->ns, o->m, id, id_len, o->err);
    if (rc == 0)
        rc = get(o, LM_RECORDS, &v, found, "a record read");
    if (rc != 0 || !*found)
        return rc;
    if (id_len > KV_MAX_ID_BYTES) /* the key encoder refuses such ids: never reached */
        return kv_fail_at(o->err, KVORM_EINTERNAL, o->m->name, NULL, "%s: an id over %d bytes", o->m->name,
                          KV_MAX_ID_BYTES);
    memcpy(s->id, id, id_len);
    s->id[id_len] = '\0';
    s->id_len = id_len;
    s->len = v.mv_size;
    s->data = malloc(v.mv_size + 1);
    s->values = calloc((size_t)o->m->nfields + 1, sizeof(*s->values));
    s->lens = calloc((size_t)o->m->nfields + 1, sizeof(*s->lens));
    if (!s->data || !s->values || !s->lens)
        return oom(o->err);
    memcpy(s->data, v.mv_data, v.mv_size);
    return kv_lmdb_record_decode(o->m, s->data, s->len, s->values, s->lens, &s->version, o->err);
}

/* The key of index x's entry for a record (values, id) in o->key; the entry is left in buf. */
static int index_key(op *o, msgpack_sbuffer *buf, const kv_index *x, const char *const *values, const size_t *lens,
                     const char *id, size_t id_len)
{
    buf->size = 0;
    int rc = kv_index_entry(buf, o->m, x, values, lens, id, id_len, o->err);
    return rc ? rc : kv_lmdb_entry_key(&o->key, o->ns, o->m, x->name, buf->data, buf->size, o->err);
}

/* The key of constraint u for a record in o->key; *has false (no key) when one of its fields is null. */
static int unique_key(op *o, int u, const char *const *values, const size_t *lens, bool *has)
{
    o->a.size = 0;
    *has = kv_unique_key(&o->a, &o->m->uniques[u], values, lens);
    return *has ? kv_lmdb_entry_key(&o->key, o->ns, o->m, o->m->uniques[u].name, o->a.data, o->a.size, o->err) : 0;
}

/* ---- the sequence of generated integer ids ---- */

static int seq_read(op *o, int64_t *seq)
{
    MDB_val v;
    bool found;
    char text[24];
    int rc = kv_lmdb_meta_key(&o->key, "q", o->ns, o->m, o->err);
    if (rc == 0)
        rc = get(o, LM_META, &v, &found, "the id sequence");
    *seq = 0;
    if (rc != 0 || !found)
        return rc;
    if (v.mv_size == 0 || v.mv_size >= sizeof(text))
        return kv_fail_at(o->err, KVORM_EINTERNAL, o->m->name, NULL, "%s: the id sequence in LMDB is unreadable",
                          o->m->name);
    memcpy(text, v.mv_data, v.mv_size);
    text[v.mv_size] = '\0';
    *seq = strtoll(text, NULL, 10);
    return 0;
}

static int seq_write(op *o, int64_t seq)
{
    char text[24];
    size_t n = kv_int_id_text(text, seq);
    int rc = kv_lmdb_meta_key(&o->key, "q", o->ns, o->m, o->err);
    return rc ? rc : put(o, LM_META, text, n, "the id sequence");
}

static int check_version(const kv_write *w, const stored *s, kv_error *err)
{
    if (!w->has_if_version || s->version == w->if_version)
        return 0;
    return kv_fail_at(err, KVORM_ECONFLICT, w->model->name, NULL,
                      "%s: the record is at version %" PRId64 ", not the expected version %" PRId64, w->model->name,
                      s->version, w->if_version);
}

/* ---- writes ---- */

typedef struct wstep {
    op o;
    const kv_write *w;
    kv_step *st;
    bool wrote; /* false: nothing to keep (a create skipped as a duplicate) */
    bool checked; /* its guards that hold always ('a') were checked before any write of its group */
} wstep;

/* ---- guards (relations, engine.h) ---- */

/* Whether the index or constraint `which` (index_states' numbering) of g's model is being built. */
static int guard_building(op *o, const kv_guard *g, int which, bool *building)
{
    MDB_val v;
    int rc = kv_lmdb_build_key(&o->key, o->ns, g->model, which, o->err);
    return rc ? rc : get(o, LM_META, &v, building, "reading the state of an index");
}

/* The keys of range r of g's model, counted up to limit. */
static int guard_count(op *o, const kv_guard *g, int64_t limit, int64_t *n)
{
    lm_iter it;
    int rc = kv_lmdb_prefix(&o->key, o->ns, g->model, g->range.index->name, o->err);
    *n = 0;
    if (rc != 0)
        return rc;
    if ((rc = kv_lmdb_iter_open(&it, o->t->txn, o->env, LM_INDEX, o->key.data, o->key.size, &g->range.lo,
                                &g->range.hi, false)) != 0)
        return kv_lmdb_check(o->t, rc, o->m->name, "a guard's count", o->err);
    const char *k;
    size_t kl;
    MDB_val v;
    while (*n < limit && (rc = kv_lmdb_iter_next(&it, &k, &kl, &v)) == 0)
        ++*n;
    kv_lmdb_iter_close(&it);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : kv_lmdb_check(o->t, rc, o->m->name, "a guard's count", o->err);
}

/* One guard: 0 when it holds, else the write's error (kv_fail_guard). */
static int check_guard(op *o, const kv_write *w, const kv_guard *g)
{
    MDB_val v;
    bool found = false, building = false;
    int rc;
    if (g->kind == KV_GUARD_COUNT) {
        int64_t n = 0;
        if ((rc = guard_building(o, g, (int)(g->range.index - g->model->indexes), &building)) != 0)
            return rc;
        if (building)
            return kv_fail_guard(o->err, w, g, 'b');
        if ((rc = guard_count(o, g, g->count + 1, &n)) != 0)
            return rc;
        return n == g->count ? 0 : kv_fail_guard(o->err, w, g, 'c');
    }
    if (g->loc.unique) {
        if ((rc = guard_building(o, g, g->model->nindexes + g->loc.unique_index, &building)) != 0)
            return rc;
        if (building)
            return kv_fail_guard(o->err, w, g, 'b');
        if ((rc = kv_lmdb_entry_key(&o->key, o->ns, g->model, g->loc.unique->name, g->loc.ukey, g->loc.ukey_len,
                                    o->err)) != 0 ||
            (rc = get(o, LM_UNIQUES, &v, &found, "a guard's lookup")) != 0)
            return rc;
        return found ? 0 : kv_fail_guard(o->err, w, g, 'm');
    }
    if ((rc = kv_lmdb_record_key(&o->key, o->ns, g->model, g->loc.id, g->loc.id_len, o->err)) != 0 ||
        (rc = get(o, LM_RECORDS, &v, &found, "a guard's read")) != 0)
        return rc;
    if (!found)
        return kv_fail_guard(o->err, w, g, 'm');
    if (g->version == 0)
        return 0;
    const char **vals = calloc((size_t)g->model->nfields + 1, sizeof(*vals));
    size_t *lens = calloc((size_t)g->model->nfields + 1, sizeof(*lens));
    int64_t version = 0;
    rc = !vals || !lens ? oom(o->err)
                        : kv_lmdb_record_decode(g->model, v.mv_data, v.mv_size, vals, lens, &version, o->err);
    free(vals);
    free(lens);
    return rc ? rc : version == g->version ? 0 : kv_fail_guard(o->err, w, g, 'c');
}

/* The guards of s's write for branch ('c' it creates, 'u' it updates, 'd' it deletes): those that hold always
 * unless they were checked before the group wrote anything, and those of the branch. */
static int check_guards(wstep *s, char branch)
{
    for (int i = 0; i < s->w->nguards; i++) {
        const kv_guard *g = &s->w->guards[i];
        bool now = g->when == 'a' ? !s->checked : g->when == branch;
        int rc = now ? check_guard(&s->o, s->w, g) : 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A taken id (which 0) or unique value (constraint which - 1): an error, or a create skipped as a duplicate. */
static int taken(wstep *s, const char *cid, size_t cid_len, int which)
{
    if (s->w->skip_duplicate && s->w->op == KV_WRITE_CREATE) {
        kv_record_free(&s->st->out); /* found stays false: skipped */
        return 0;
    }
    return kv_fail_unique_taken(s->o.err, s->w, cid, cid_len, which);
}

/* A create under cid (NULL: the next id of the sequence). */
static int do_create(wstep *s, const char *cid, size_t cid_len)
{
    op *o = &s->o;
    const kv_write *w = s->w;
    const kv_model *m = o->m;
    kv_record *out = &s->st->out;
    char gen[24], owner[KV_MAX_ID_BYTES + 1];
    size_t owner_len;
    int64_t seq = 0;
    bool found, has, increment = m->id_kind == KV_ID_INCREMENT, generated = !cid;
    int rc;
    if (!kv_record_alloc(out, m->nfields)) /* the id is known later: it goes in id_copy */
        return oom(o->err);
    for (int i = 0; i < w->ncreate; i++) {
        out->values[w->create[i].field] = w->create[i].data;
        out->lens[w->create[i].field] = w->create[i].len;
    }
    if (increment && (rc = seq_read(o, &seq)) != 0)
        return rc;
    if (generated) {
        if (!increment)
            return kv_fail_at(o->err, KVORM_EINTERNAL, m->name, NULL, "%s: a create without an id", m->name);
        /* an id a record already holds (one written with its id given) is skipped */
        do {
            seq++;
            cid_len = kv_int_id_text(gen, seq);
            cid = gen;
            if ((rc = record_exists(o, cid, cid_len, &found)) != 0)
                return rc;
        } while (found);
    } else {
        if ((rc = record_exists(o, cid, cid_len, &found)) != 0)
            return rc;
        if (found)
            return taken(s, cid, cid_len, 0);
    }
    for (int u = 0; u < m->nuniques; u++) {
        if ((rc = unique_key(o, u, out->values, out->lens, &has)) != 0)
            return rc;
        if (has && (rc = unique_owner(o, u, o->a.data, o->a.size, owner, &owner_len, &found)) != 0)
            return rc;
        if (has && found)
            return taken(s, cid, cid_len, u + 1);
    }
    if ((rc = check_guards(s, 'c')) != 0)
        return rc;
    if (increment) {
        /* a create with its id given moves the sequence past it */
        int64_t last = generated ? seq : strtoll(cid, NULL, 10);
        if ((generated || last > seq) && (rc = seq_write(o, last)) != 0)
            return rc;
    }
    o->b.size = 0;
    if ((rc = kv_lmdb_record_encode(&o->b, m, 1, out->values, out->lens, NULL, 0, o->err)) != 0 ||
        (rc = kv_lmdb_record_key(&o->key, o->ns, m, cid, cid_len, o->err)) != 0 ||
        (rc = put(o, LM_RECORDS, o->b.data, o->b.size, "the record write")) != 0)
        return rc;
    for (int u = 0; u < m->nuniques; u++) {
        if ((rc = unique_key(o, u, out->values, out->lens, &has)) != 0)
            return rc;
        if (has && (rc = put(o, LM_UNIQUES, cid, cid_len, "a unique entry")) != 0)
            return rc;
    }
    for (int x = 0; x < m->nindexes; x++)
        if ((rc = index_key(o, &o->a, &m->indexes[x], out->values, out->lens, cid, cid_len)) != 0 ||
            (rc = put(o, LM_INDEX, "", 0, "an index entry")) != 0)
            return rc;
    if (!(out->id_copy = malloc(cid_len + 1)))
        return oom(o->err);
    memcpy(out->id_copy, cid, cid_len);
    out->id_copy[cid_len] = '\0';
    out->id = out->id_copy;
    out->id_len = cid_len;
    out->version = 1;
    out->created = true;
    s->st->found = true;
    s->wrote = true;
    return 0;
}

/* Whether two optional byte strings differ. */
static bool differ(bool ha, const char *a, size_t al, bool hb, const char *b, size_t bl)
{
    return ha != hb || (ha && (al != bl || memcmp(a, b, al) != 0));
}

static int do_update(wstep *s, stored *old)
{
    op *o = &s->o;
    const kv_write *w = s->w;
    const kv_model *m = o->m;
    const char **vals = calloc((size_t)m->nfields + 1, sizeof(*vals));
    size_t *lens = calloc((size_t)m->nfields + 1, sizeof(*lens));
    msgpack_sbuffer was, opvals;
    char owner[KV_MAX_ID_BYTES + 1];
    size_t owner_len;
    bool found, has_was, has_now;
    int rc = 0;
    msgpack_sbuffer_init(&was);
    msgpack_sbuffer_init(&opvals);
    if (!vals || !lens) {
        rc = oom(o->err);
        goto out;
    }
    if ((rc = check_version(w, old, o->err)) != 0)
        goto out;
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
    /* atomic number operations apply to the value stored now, inside the transaction */
    if (w->nops > 0 && (rc = kv_number_ops_apply_all(w, vals, lens, &opvals, o->err)) != 0)
        goto out;
    /* every check first: a taken unique value writes nothing */
    for (int u = 0; u < m->nuniques; u++) {
        if (!kv_unique_touched(&m->uniques[u], w))
            continue;
        was.size = 0;
        has_was = kv_unique_key(&was, &m->uniques[u], old->values, old->lens);
        if ((rc = unique_key(o, u, vals, lens, &has_now)) != 0)
            goto out;
        if (!has_now || !differ(has_was, was.data, was.size, has_now, o->a.data, o->a.size))
            continue;
        if ((rc = unique_owner(o, u, o->a.data, o->a.size, owner, &owner_len, &found)) != 0)
            goto out;
        if (found && (owner_len != old->id_len || memcmp(owner, old->id, owner_len) != 0)) {
            rc = kv_fail_unique_taken(o->err, w, old->id, old->id_len, u + 1);
            goto out;
        }
    }
    if ((rc = check_guards(s, 'u')) != 0)
        goto out;
    o->b.size = 0;
    if ((rc = kv_lmdb_record_encode(&o->b, m, old->version + 1, vals, lens, old->data, old->len, o->err)) != 0 ||
        (rc = kv_lmdb_record_key(&o->key, o->ns, m, old->id, old->id_len, o->err)) != 0 ||
        (rc = put(o, LM_RECORDS, o->b.data, o->b.size, "the record write")) != 0)
        goto out;
    /* the record's new value is its outcome (copied: o->b is scratch) */
    if ((rc = kv_lmdb_record_copy(&s->st->out, m, old->id, old->id_len, o->b.data, o->b.size, o->err)) != 0)
        goto out;
    for (int u = 0; u < m->nuniques; u++) {
        if (!kv_unique_touched(&m->uniques[u], w))
            continue;
        was.size = 0;
        has_was = kv_unique_key(&was, &m->uniques[u], old->values, old->lens);
        if ((rc = unique_key(o, u, vals, lens, &has_now)) != 0)
            goto out;
        if (!differ(has_was, was.data, was.size, has_now, o->a.data, o->a.size))
            continue;
        if (has_now && (rc = put(o, LM_UNIQUES, old->id, old->id_len, "a unique entry")) != 0)
            goto out;
        if (has_was) {
            /* the old value's entry goes only if it is this record's */
            if ((rc = unique_owner(o, u, was.data, was.size, owner, &owner_len, &found)) != 0)
                goto out;
            if (found && owner_len == old->id_len && memcmp(owner, old->id, owner_len) == 0 &&
                (rc = del(o, LM_UNIQUES, "a unique entry")) != 0)
                goto out;
        }
    }
    for (int x = 0; x < m->nindexes; x++) {
        const kv_index *ix = &m->indexes[x];
        if (!kv_index_touched(ix, w))
            continue;
        /* the new entry's key is built last, so o->key holds it for the put */
        o->a.size = o->b.size = 0;
        if ((rc = kv_index_entry(&o->a, m, ix, old->values, old->lens, old->id, old->id_len, o->err)) != 0 ||
            (rc = kv_index_entry(&o->b, m, ix, vals, lens, old->id, old->id_len, o->err)) != 0)
            goto out;
        if (!differ(true, o->a.data, o->a.size, true, o->b.data, o->b.size))
            continue;
        if ((rc = kv_lmdb_entry_key(&o->key, o->ns, m, ix->name, o->a.data, o->a.size, o->err)) != 0 ||
            (rc = del(o, LM_INDEX, "an index entry")) != 0 ||
            (rc = kv_lmdb_entry_key(&o->key, o->ns, m, ix->name, o->b.data, o->b.size, o->err)) != 0 ||
            (rc = put(o, LM_INDEX, "", 0, "an index entry")) != 0)
            goto out;
    }
    s->st->found = true;
    s->wrote = true;
out:
    free(vals);
    free(lens);
    msgpack_sbuffer_destroy(&was);
    msgpack_sbuffer_destroy(&opvals);
    return rc;
}

static int do_delete(wstep *s, stored *old)
{
    op *o = &s->o;
    const kv_model *m = o->m;
    char owner[KV_MAX_ID_BYTES + 1];
    size_t owner_len;
    bool found, has;
    int rc;
    if ((rc = check_version(s->w, old, o->err)) != 0 || (rc = check_guards(s, 'd')) != 0)
        return rc;
    for (int u = 0; u < m->nuniques; u++) {
        if ((rc = unique_key(o, u, old->values, old->lens, &has)) != 0)
            return rc;
        if (!has)
            continue;
        if ((rc = unique_owner(o, u, o->a.data, o->a.size, owner, &owner_len, &found)) != 0)
            return rc;
        if (found && owner_len == old->id_len && memcmp(owner, old->id, owner_len) == 0 &&
            (rc = del(o, LM_UNIQUES, "a unique entry")) != 0)
            return rc;
    }
    for (int x = 0; x < m->nindexes; x++)
        if ((rc = index_key(o, &o->a, &m->indexes[x], old->values, old->lens, old->id, old->id_len)) != 0 ||
            (rc = del(o, LM_INDEX, "an index entry")) != 0)
            return rc;
    if ((rc = kv_lmdb_record_key(&o->key, o->ns, m, old->id, old->id_len, o->err)) != 0 ||
        (rc = del(o, LM_RECORDS, "the record delete")) != 0)
        return rc;
    /* the outcome is the record as it was */
    if ((rc = kv_lmdb_record_copy(&s->st->out, m, old->id, old->id_len, old->data, old->len, o->err)) != 0)
        return rc;
    s->st->found = true;
    s->wrote = true;
    return 0;
}

static int do_write(wstep *s)
{
    op *o = &s->o;
    const kv_write *w = s->w;
    stored old = {0};
    bool exists = false, found = false;
    int rc = 0;
    if (w->op == KV_WRITE_CREATE)
        return do_create(s, w->new_id, w->new_id_len);
    if (w->loc.unique) {
        char id[KV_MAX_ID_BYTES + 1];
        size_t id_len = 0;
        if ((rc = check_unique_ready(o, w->loc.unique_index)) == 0)
            rc = unique_owner(o, w->loc.unique_index, w->loc.ukey, w->loc.ukey_len, id, &id_len, &found);
        if (rc == 0 && found)
            rc = read_record(o, id, id_len, &old, &exists);
    } else {
        rc = read_record(o, w->loc.id, w->loc.id_len, &old, &exists);
    }
    if (rc == 0) {
        if (w->op == KV_WRITE_UPSERT && !exists)
            rc = w->loc.unique ? do_create(s, w->new_id, w->new_id_len) : do_create(s, w->loc.id, w->loc.id_len);
        else if (!exists)
            rc = kv_fail_at(o->err, KVORM_ENOTFOUND, o->m->name, NULL, "%s: no record matches", o->m->name);
        else if (w->op == KV_WRITE_DELETE)
            rc = do_delete(s, &old);
        else
            rc = do_update(s, &old);
    }
    stored_free(&old);
    return rc;
}

static void reset_step(kv_step *st)
{
    kv_record_free(&st->out);
    st->found = false;
    st->rc = 0;
}

/* Runs write st in the transaction t holds; returns whether there is anything to keep. checked: its guards that
 * hold always were checked already. */
static bool run_write(lmdb_engine *e, lm_txn *t, kv_step *st, bool checked)
{
    wstep s = {.w = st->write, .st = st, .checked = checked};
    reset_step(st);
    op_init(&s.o, e, t, st->model, st->err);
    op_take_buffers(&s.o);
    st->rc = do_write(&s);
    op_free(&s.o);
    if (st->rc != 0) {
        kv_record_free(&st->out);
        st->found = false;
    }
    return st->rc == 0 && s.wrote;
}

/* ---- reads ---- */

/* What the reads of one page share: a key buffer (one allocation) and a cursor on the records. */
typedef struct page_reads {
    msgpack_sbuffer key;
    MDB_cursor *records; /* NULL until the first read by id, or when it could not be opened */
    bool cursor;         /* worth one: several reads */
} page_reads;

/* pr (may be NULL): what the reads of a page share. */
static void run_read(lmdb_engine *e, lm_txn *t, kv_step *st, page_reads *pr)
{
    const kv_locator *loc = st->loc;
    char idb[KV_MAX_ID_BYTES + 1];
    const char *id = loc->id;
    size_t id_len = loc->id_len;
    MDB_val v;
    bool found = true;
    op o;
    reset_step(st);
    op_init(&o, e, t, st->model, st->err);
    if (pr) {
        o.key = pr->key;
        o.key.size = 0;
    }
    int rc = 0;
    if (loc->unique) {
        if ((rc = check_unique_ready(&o, loc->unique_index)) == 0)
            rc = unique_owner(&o, loc->unique_index, loc->ukey, loc->ukey_len, idb, &id_len, &found);
        id = idb;
    }
    if (rc == 0 && found && (rc = kv_lmdb_record_key(&o.key, o.ns, o.m, id, id_len, o.err)) == 0) {
        if (pr && pr->cursor && !pr->records && mdb_cursor_open(t->txn, e->env->dbi[LM_RECORDS], &pr->records) != 0)
            pr->records = NULL;
        if (pr && pr->records) {
            int mrc = kv_lmdb_cursor_get(pr->records, t->txn, e->env, LM_RECORDS, o.key.data, o.key.size, &v);
            found = mrc == 0;
            rc = mrc == MDB_NOTFOUND ? 0 : kv_lmdb_check(t, mrc, o.m->name, "a record read", o.err);
        } else {
            rc = get(&o, LM_RECORDS, &v, &found, "a record read");
        }
    }
    if (rc == 0 && found && (rc = kv_lmdb_record_copy(&st->out, o.m, id, id_len, v.mv_data, v.mv_size, o.err)) == 0)
        st->found = true;
    st->rc = rc;
    if (pr) { /* handed back, with whatever it grew to */
        pr->key = o.key;
        msgpack_sbuffer_init(&o.key);
    }
    op_free(&o);
}

/* ---- running steps ---- */

typedef struct alone {
    lmdb_engine *e;
    kv_step *st;
} alone;

static int write_alone_fn(lm_txn *t, void *ctx, kv_error *err)
{
    alone *c = ctx;
    (void)err; /* the step's own */
    run_write(c->e, t, c->st, false);
    return c->st->rc;
}

/* One step in a transaction of its own. */
static void run_alone(lmdb_engine *e, kv_step *st)
{
    if (st->write) {
        alone c = {e, st};
        int rc = kv_lmdb_write(e, st->model->name, write_alone_fn, &c, st->err);
        if (rc != 0) {
            kv_record_free(&st->out);
            st->found = false;
            st->rc = rc;
        }
        return;
    }
    lm_txn t;
    reset_step(st);
    if ((st->rc = kv_lmdb_begin(e->env, false, &t, st->err)) != 0)
        return;
    run_read(e, &t, st, NULL);
    kv_lmdb_abort(&t);
}

/* Reads only: one read transaction, one snapshot. */
static void run_reads(lmdb_engine *e, kv_step **steps, size_t n)
{
    lm_txn t;
    kv_error why = {0};
    if (kv_lmdb_begin(e->env, false, &t, &why) != 0) {
        for (size_t i = 0; i < n; i++) {
            reset_step(steps[i]);
            *steps[i]->err = why;
            steps[i]->rc = why.code;
        }
        return;
    }
    page_reads pr = {.records = NULL, .cursor = n > 1};
    msgpack_sbuffer_init(&pr.key);
    for (size_t i = 0; i < n; i++)
        run_read(e, &t, steps[i], &pr);
    msgpack_sbuffer_destroy(&pr.key);
    if (pr.records)
        mdb_cursor_close(pr.records);
    kv_lmdb_abort(&t);
}

/* A group holding writes, in one write transaction (each write nested). Returns 0 when it committed; else
 * nothing of it was written (the steps are reset) and they are to run alone. */
static int run_group(lmdb_engine *e, kv_step **steps, size_t n)
{
    for (;;) {
        lm_txn t;
        kv_error why = {0};
        bool broken = false;
        if (kv_lmdb_begin(e->env, true, &t, &why) != 0)
            return -1;
        for (size_t i = 0; i < n && !broken; i++) {
            kv_step *st = steps[i];
            if (!st->write) {
                run_read(e, &t, st, NULL);
                broken = t.mdb_rc != 0;
                continue;
            }
            MDB_txn *child;
            int rc = mdb_txn_begin(e->env->env, t.root, 0, &child);
            if (rc != 0) {
                t.mdb_rc = rc;
                broken = true;
                break;
            }
            t.txn = child;
            bool keep = run_write(e, &t, st, false);
            if (t.mdb_rc != 0) {
                mdb_txn_abort(child);
                broken = true;
            } else if (keep) {
                if ((rc = mdb_txn_commit(child)) != 0) {
                    t.mdb_rc = rc;
                    broken = true;
                }
            } else {
                mdb_txn_abort(child); /* a failed or skipped write leaves nothing */
            }
            t.txn = t.root;
        }
        if (!broken && kv_lmdb_commit(&t) == 0)
            return 0;
        if (broken)
            kv_lmdb_abort(&t);
        for (size_t i = 0; i < n; i++)
            reset_step(steps[i]);
        if (t.mdb_rc != MDB_MAP_FULL || kv_lmdb_grow(e->env, t.mapsize, &why) != 0)
            return -1;
    }
}

/* ---- all or nothing ---- */

typedef struct all {
    lmdb_engine *e;
    kv_step **steps;
    size_t n;
} all;

/* Every write in the one transaction, stopping at the first that fails (the transaction is then aborted). */
static int write_all_fn(lm_txn *t, void *ctx, kv_error *err)
{
    all *c = ctx;
    (void)err; /* the steps' own */
    for (size_t i = 0; i < c->n; i++)
        reset_step(c->steps[i]);
    /* the guards see the store as it is before any of the writes, as on Redis (whose checks all run first) */
    for (size_t i = 0; i < c->n; i++) {
        kv_step *st = c->steps[i];
        op o;
        op_init(&o, c->e, t, st->model, st->err);
        for (int g = 0; g < st->write->nguards && st->rc == 0; g++)
            if (st->write->guards[g].when == 'a')
                st->rc = check_guard(&o, st->write, &st->write->guards[g]);
        op_free(&o);
        if (st->rc != 0)
            return st->rc;
    }
    for (size_t i = 0; i < c->n; i++) {
        run_write(c->e, t, c->steps[i], true);
        if (c->steps[i]->rc != 0)
            return c->steps[i]->rc;
    }
    return 0;
}

void kv_lmdb_run_all(kv_engine *eng, kv_step **steps, size_t n)
{
    lmdb_engine *e = (lmdb_engine *)eng;
    all c = {e, steps, n};
    kv_error why = {0};
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        memset(&steps[i]->out, 0, sizeof(steps[i]->out));
        steps[i]->found = false;
        steps[i]->rc = 0;
    }
    if (!kv_lmdb_ns(e, steps[0]->model, &why)) {
        kv_fail_at(&why, KVORM_EINTERNAL, steps[0]->model->name, NULL, "%s: the LMDB engine has no schema yet",
                   steps[0]->model->name);
    } else if (kv_lmdb_write(e, steps[0]->model->name, write_all_fn, &c, &why) == 0) {
        return;
    }
    /* nothing was written: the write that failed keeps its error, the others were not applied; a failure of the
     * transaction itself (begin, commit, read-only) is every step's */
    bool own = false;
    for (size_t i = 0; i < n && why.code == 0; i++)
        own = own || (steps[i]->rc != 0 && steps[i]->rc != KV_STEP_UNAPPLIED);
    for (size_t i = 0; i < n; i++) {
        kv_step *st = steps[i];
        kv_record_free(&st->out);
        st->found = false;
        if (own && st->rc != 0)
            continue;
        if (own) {
            st->rc = KV_STEP_UNAPPLIED;
        } else {
            *st->err = why;
            st->rc = why.code;
        }
    }
}

void kv_lmdb_run(kv_engine *eng, kv_step **steps, size_t n)
{
    lmdb_engine *e = (lmdb_engine *)eng;
    for (size_t i = 0; i < n; i++) {
        memset(&steps[i]->out, 0, sizeof(steps[i]->out));
        steps[i]->found = false;
        steps[i]->rc = 0;
    }
    if (n > 0 && !kv_lmdb_ns(e, steps[0]->model, steps[0]->err)) {
        for (size_t i = 0; i < n; i++)
            steps[i]->rc = kv_fail_at(steps[i]->err, KVORM_EINTERNAL, steps[i]->model->name, NULL,
                                      "%s: the LMDB engine has no schema yet", steps[i]->model->name);
        return;
    }
    for (size_t i = 0; i < n;) {
        bool writes;
        size_t j = kv_steps_group_end(steps, n, i, STEPS_PER_GROUP, KV_LMDB_WRITES_PER_TXN, &writes);
        if (!writes) {
            run_reads(e, steps + i, j - i);
        } else if (e->readonly) {
            for (size_t k = i; k < j; k++) {
                if (steps[k]->write)
                    steps[k]->rc = kv_lmdb_refuse_readonly(e, steps[k]->model->name, steps[k]->err);
                else
                    run_alone(e, steps[k]);
            }
        } else if (run_group(e, steps + i, j - i) != 0) {
            for (size_t k = i; k < j; k++)
                run_alone(e, steps[k]);
        }
        i = j;
    }
}
