/* check and reindex (docs/queries.md): the integrity of a model's index and unique entries, and the online build
 * of an index added to a model that already has records. Both are maintenance ops: check reads the whole model. */
#include "query.h"

#include "entries.h"
#include "keycode.h"
#include "mp.h"
#include "value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROBLEMS 20

/* A sorted list of keys, to compare what an index holds with what the records say it should. */
typedef struct keyset {
    kv_keys k;
    size_t *order; /* indexes into k, sorted by bytes */
} keyset;

static int cmp_key_at(const void *a, const void *b, void *k)
{
    const kv_keys *ks = k;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t n = ks->len[i] < ks->len[j] ? ks->len[i] : ks->len[j];
    int c = memcmp(ks->data + ks->off[i], ks->data + ks->off[j], n);
    return c ? c : (ks->len[i] > ks->len[j]) - (ks->len[i] < ks->len[j]);
}

static int keyset_sort(keyset *s, kv_error *err)
{
    s->order = malloc(sizeof(size_t) * (s->k.n + 1));
    if (!s->order)
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    for (size_t i = 0; i < s->k.n; i++)
        s->order[i] = i;
    qsort_r(s->order, s->k.n, sizeof(size_t), cmp_key_at, &s->k);
    return 0;
}

static void keyset_free(keyset *s)
{
    kv_keys_free(&s->k);
    free(s->order);
}

/* Every key of a range, read in bounded chunks. */
static int read_all(kv_engine *e, const kv_model *m, const kv_index *x, kv_keys *out, kv_error *err)
{
    kv_range r = {x, {NULL, 0, false}, {NULL, 0, false}};
    char *resume = NULL;
    int rc = 0;
    for (;;) {
        size_t before = out->n;
        if ((rc = e->ops->scan(e, m, &r, false, KV_SCAN_CHUNK, out, err)) != 0)
            break;
        if (out->n - before < KV_SCAN_CHUNK)
            break;
        size_t ll = out->len[out->n - 1];
        char *nr = realloc(resume, ll + 1);
        if (!nr) {
            rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
            break;
        }
        resume = nr;
        memcpy(resume, out->data + out->off[out->n - 1], ll);
        r.lo = (kv_bound){resume, ll, false};
    }
    free(resume);
    return rc;
}

typedef struct report {
    msgpack_sbuffer buf; /* the problems, packed */
    msgpack_packer pk;
    int n;
    int64_t total;
} report;

static void problem(report *rp, const kv_model *m, const char *kind, const char *where, const char *id, size_t id_len)
{
    rp->total++;
    if (rp->n >= MAX_PROBLEMS)
        return;
    rp->n++;
    msgpack_pack_map(&rp->pk, 3);
    kv_pack_cstr(&rp->pk, "kind");
    kv_pack_cstr(&rp->pk, kind);
    kv_pack_cstr(&rp->pk, "index");
    where ? kv_pack_cstr(&rp->pk, where) : msgpack_pack_nil(&rp->pk);
    kv_pack_cstr(&rp->pk, "id");
    kv_error ignore;
    if (!id || kv_id_emit(&rp->pk, m, id, id_len, &ignore) != 0)
        msgpack_pack_nil(&rp->pk);
}

/* Reads the records of ids (keys of the id collection), in chunks of one round trip each. */
static int read_records(kvorm_db *db, const kv_model *m, const kv_keys *ids, kv_record *recs, kv_error *err)
{
    kv_engine *e = db->engine;
    size_t n = ids->n;
    char *texts = malloc((n + 1) * (KV_MAX_ID_BYTES + 1));
    kv_locator *locs = calloc(n + 1, sizeof(*locs));
    kv_step *steps = calloc(n + 1, sizeof(*steps));
    kv_step **sp = calloc(n + 1, sizeof(*sp));
    kv_error *errs = calloc(n + 1, sizeof(*errs));
    int rc = 0;
    if (!texts || !locs || !steps || !sp || !errs) {
        rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *t = texts + i * (KV_MAX_ID_BYTES + 1);
        rc = kv_key_id(t, &locs[i].id_len, ids->data + ids->off[i], ids->len[i], 0, err);
        locs[i].id = t;
        steps[i].model = m;
        steps[i].loc = &locs[i];
        steps[i].err = &errs[i];
        sp[i] = &steps[i];
    }
    for (size_t from = 0; rc == 0 && from < n; from += 1000)
        e->ops->run(e, sp + from, n - from < 1000 ? n - from : 1000);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && steps[i].rc != 0) {
            *err = errs[i];
            rc = steps[i].rc;
        }
        recs[i] = steps[i].out;
        if (!steps[i].found)
            memset(&recs[i], 0, sizeof(recs[i]));
        else if (!recs[i].id_copy && !recs[i].id_in_block) {
            /* the id text lives in this function's buffer */
            char *id = malloc(recs[i].id_len + 1);
            if (id) {
                memcpy(id, recs[i].id, recs[i].id_len);
                id[recs[i].id_len] = '\0';
            }
            recs[i].id_copy = id;
            recs[i].id = id;
        }
    }
done:
    free(texts);
    free(locs);
    free(steps);
    free(sp);
    free(errs);
    return rc;
}

static bool keyset_has(const keyset *s, const char *key, size_t len)
{
    size_t lo = 0, hi = s->k.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2, i = s->order[mid];
        size_t n = s->k.len[i] < len ? s->k.len[i] : len;
        int c = memcmp(s->k.data + s->k.off[i], key, n);
        if (!c)
            c = (s->k.len[i] > len) - (s->k.len[i] < len);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Reads, chunk by chunk, the target of every live record's foreign key of belongsTo r: one with none is "dangling".
 * A target's unique constraint being built refuses lookups, so its keys wait for the build (as unique checks do). */
static int check_relation(request *rq, const kv_model *m, const kv_relation *r, const kv_record *recs, size_t n,
                          report *rp)
{
    enum { CHUNK = 1000 };
    kv_engine *e = rq->db->engine;
    const kv_model *t = &rq->db->schema->models[r->target];
    if (r->references >= 0) {
        kv_index_state ts[KV_MAX_BUILT];
        int rc = e->ops->index_states(e, t, ts, rq->err);
        if (rc != 0 || ts[t->nindexes + r->references] != KV_INDEX_READY)
            return rc;
    }
    kv_locator *locs = calloc(CHUNK, sizeof(*locs));
    kv_step *steps = calloc(CHUNK, sizeof(*steps));
    kv_step **sp = calloc(CHUNK, sizeof(*sp));
    kv_error *errs = calloc(CHUNK, sizeof(*errs));
    char *texts = malloc((size_t)CHUNK * (KV_MAX_ID_BYTES + 1));
    size_t *owner = calloc(CHUNK, sizeof(*owner));
    msgpack_sbuffer *keys = calloc(CHUNK, sizeof(*keys));
    msgpack_zone *zone = kv_mp_zone_take();
    int rc = 0;
    if (!locs || !steps || !sp || !errs || !texts || !owner || !keys || !zone)
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    for (size_t from = 0; rc == 0 && from < n;) {
        size_t k = 0;
        for (; from < n && k < CHUNK && rc == 0; from++) {
            const kv_record *rec = &recs[from];
            bool null = !rec->id;
            for (int f = 0; f < r->nfields && !null; f++)
                null = !rec->values[r->fields[f]];
            if (null)
                continue;
            kv_locator *loc = &locs[k];
            memset(loc, 0, sizeof(*loc));
            if (r->references < 0) {
                msgpack_object o;
                const char *v = rec->values[r->fields[0]];
                char *text = texts + k * (KV_MAX_ID_BYTES + 1);
                rc = kv_mp_unpack(zone, v, rec->lens[r->fields[0]], &o) != KV_MP_OK
                         ? kv_fail(rq->err, KVORM_EINTERNAL, "%s: a foreign key value is not MessagePack", m->name)
                         : kv_id_encode(text, &loc->id_len, t, &o, rq->err);
                loc->id = text;
            } else {
                msgpack_sbuffer_init(&keys[k]);
                for (int f = 0; f < r->nfields; f++)
                    msgpack_sbuffer_write(&keys[k], rec->values[r->fields[f]], rec->lens[r->fields[f]]);
                loc->unique = &t->uniques[r->references];
                loc->unique_index = r->references;
                loc->ukey = keys[k].data;
                loc->ukey_len = keys[k].size;
            }
            memset(&steps[k], 0, sizeof(steps[k]));
            memset(&errs[k], 0, sizeof(errs[k]));
            steps[k].model = t;
            steps[k].loc = loc;
            steps[k].err = &errs[k];
            sp[k] = &steps[k];
            owner[k++] = from;
        }
        if (rc == 0 && k > 0)
            e->ops->run(e, sp, k);
        for (size_t i = 0; i < k; i++) {
            if (rc == 0 && steps[i].rc != 0) {
                *rq->err = errs[i];
                rc = steps[i].rc;
            } else if (rc == 0 && !steps[i].found) {
                problem(rp, m, "dangling", r->name, recs[owner[i]].id, recs[owner[i]].id_len);
            }
            kv_record_free(&steps[i].out);
            if (r->references >= 0)
                msgpack_sbuffer_destroy(&keys[i]);
        }
    }
    if (zone)
        kv_mp_zone_give(zone);
    free(locs);
    free(steps);
    free(sp);
    free(errs);
    free(texts);
    free(owner);
    free(keys);
    return rc;
}

int kv_op_check(request *rq, msgpack_packer *pk)
{
    const kv_model *m = rq->model;
    kv_engine *e = rq->db->engine;
    kv_keys ids = {0};
    kv_record *recs = NULL;
    kv_index_state states[KV_MAX_BUILT];
    int64_t *entries = calloc((size_t)m->nindexes + 1, sizeof(int64_t));
    int64_t *unique_found = calloc((size_t)m->nuniques + 1, sizeof(int64_t));
    report rp = {0};
    int64_t live = 0;
    int rc;
    msgpack_sbuffer_init(&rp.buf);
    msgpack_packer_init(&rp.pk, &rp.buf, msgpack_sbuffer_write);
    if (!entries || !unique_found) {
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        goto done;
    }
    if ((rc = e->ops->index_states(e, m, states, rq->err)) != 0 || (rc = read_all(e, m, NULL, &ids, rq->err)) != 0)
        goto done;
    if (!(recs = calloc(ids.n + 1, sizeof(*recs)))) {
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        goto done;
    }
    if ((rc = read_records(rq->db, m, &ids, recs, rq->err)) != 0)
        goto done;
    for (size_t i = 0; i < ids.n; i++) {
        if (recs[i].id)
            live++;
        else {
            char t[KV_MAX_ID_BYTES + 1];
            size_t tl = 0;
            kv_error ignore;
            if (kv_key_id(t, &tl, ids.data + ids.off[i], ids.len[i], 0, &ignore) == 0)
                problem(&rp, m, "extra", "ids", t, tl);
        }
    }
    /* every index: the entries the records give, against the entries stored */
    for (int x = 0; x < m->nindexes; x++) {
        const kv_index *ix = &m->indexes[x];
        keyset want = {0}, have = {0};
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        for (size_t i = 0; i < ids.n && rc == 0; i++) {
            if (!recs[i].id)
                continue;
            sb.size = 0;
            if ((rc = kv_index_entry(&sb, m, ix, recs[i].values, recs[i].lens, recs[i].id, recs[i].id_len,
                                     rq->err)) == 0 &&
                !kv_keys_add(&want.k, sb.data, sb.size))
                rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        }
        msgpack_sbuffer_destroy(&sb);
        if (rc == 0)
            rc = read_all(e, m, ix, &have.k, rq->err);
        if (rc == 0 && (rc = keyset_sort(&want, rq->err)) == 0)
            rc = keyset_sort(&have, rq->err);
        entries[x] = (int64_t)have.k.n;
        for (size_t i = 0; rc == 0 && i < have.k.n; i++) {
            const char *k = have.k.data + have.k.off[i];
            if (!keyset_has(&want, k, have.k.len[i])) {
                char t[KV_MAX_ID_BYTES + 1];
                size_t tl = 0;
                kv_error ignore;
                bool ok = kv_key_id(t, &tl, k, have.k.len[i], ix->nparts, &ignore) == 0;
                /* an entry of a live record that is not its entry is stale; of no record, extra */
                bool alive = false;
                for (size_t j = 0; ok && j < ids.n && !alive; j++)
                    alive = recs[j].id && recs[j].id_len == tl && memcmp(recs[j].id, t, tl) == 0;
                problem(&rp, m, alive ? "stale" : "extra", ix->name, ok ? t : NULL, tl);
            }
        }
        /* an index being built may miss records written before it: that is not a fault yet */
        for (size_t i = 0; rc == 0 && states[x] == KV_INDEX_READY && i < want.k.n; i++) {
            const char *k = want.k.data + want.k.off[i];
            if (!keyset_has(&have, k, want.k.len[i])) {
                char t[KV_MAX_ID_BYTES + 1];
                size_t tl = 0;
                kv_error ignore;
                bool ok = kv_key_id(t, &tl, k, want.k.len[i], ix->nparts, &ignore) == 0;
                problem(&rp, m, "missing", ix->name, ok ? t : NULL, tl);
            }
        }
        keyset_free(&want);
        keyset_free(&have);
        if (rc != 0)
            goto done;
    }
    /* every unique value of a record leads back to that record */
    for (int u = 0; u < m->nuniques; u++) {
        const kv_unique *un = &m->uniques[u];
        /* one being built refuses lookups (they could miss records), and may miss entries: nothing to check yet */
        if (states[m->nindexes + u] != KV_INDEX_READY)
            continue;
        for (size_t i = 0; i < ids.n && rc == 0; i++) {
            if (!recs[i].id)
                continue;
            msgpack_sbuffer key;
            bool null = false;
            msgpack_sbuffer_init(&key);
            for (int f = 0; f < un->nfields; f++) {
                if (!recs[i].values[un->fields[f]])
                    null = true;
                else
                    msgpack_sbuffer_write(&key, recs[i].values[un->fields[f]], recs[i].lens[un->fields[f]]);
            }
            if (!null) {
                kv_locator loc = {un, u, NULL, 0, key.data, key.size};
                kv_step st = {0}, *one = &st;
                kv_error serr = {0};
                st.model = m;
                st.loc = &loc;
                st.err = &serr;
                e->ops->run(e, &one, 1);
                if (st.rc != 0) {
                    *rq->err = serr;
                    rc = st.rc;
                } else if (!st.found || st.out.id_len != recs[i].id_len ||
                           memcmp(st.out.id, recs[i].id, recs[i].id_len) != 0) {
                    problem(&rp, m, "unique", un->name, recs[i].id, recs[i].id_len);
                } else {
                    unique_found[u]++;
                }
                kv_record_free(&st.out);
            }
            msgpack_sbuffer_destroy(&key);
        }
        if (rc != 0)
            goto done;
    }
    /* every foreign key names a record */
    for (int i = 0; i < m->nrelations && rc == 0; i++)
        if (m->relations[i].kind == KV_REL_BELONGS_TO)
            rc = check_relation(rq, m, &m->relations[i], recs, ids.n, &rp);
    if (rc != 0)
        goto done;
    msgpack_pack_map(pk, 6);
    kv_pack_cstr(pk, "model");
    kv_pack_cstr(pk, m->name);
    kv_pack_cstr(pk, "records");
    msgpack_pack_int64(pk, live);
    kv_pack_cstr(pk, "indexes");
    msgpack_pack_map(pk, (size_t)m->nindexes);
    for (int x = 0; x < m->nindexes; x++) {
        kv_pack_cstr(pk, m->indexes[x].name);
        msgpack_pack_map(pk, 2);
        kv_pack_cstr(pk, "entries");
        msgpack_pack_int64(pk, entries[x]);
        kv_pack_cstr(pk, "ready");
        states[x] == KV_INDEX_READY ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    }
    kv_pack_cstr(pk, "uniques");
    msgpack_pack_map(pk, (size_t)m->nuniques);
    for (int u = 0; u < m->nuniques; u++) {
        kv_pack_cstr(pk, m->uniques[u].name);
        msgpack_pack_map(pk, 2);
        bool ready = states[m->nindexes + u] == KV_INDEX_READY;
        kv_pack_cstr(pk, "entries");
        ready ? msgpack_pack_int64(pk, unique_found[u]) : msgpack_pack_nil(pk);
        kv_pack_cstr(pk, "ready");
        ready ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    }
    kv_pack_cstr(pk, "ok");
    rp.total == 0 ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    kv_pack_cstr(pk, "problems");
    msgpack_pack_array(pk, (size_t)rp.n);
    if (rp.buf.size > 0)
        msgpack_sbuffer_write(pk->data, rp.buf.data, rp.buf.size);
done:
    for (size_t i = 0; recs && i < ids.n; i++)
        kv_record_free(&recs[i]);
    free(recs);
    kv_keys_free(&ids);
    free(entries);
    free(unique_found);
    msgpack_sbuffer_destroy(&rp.buf);
    return rc;
}

/* The name of index or unique constraint `which` (numbered as the engine's index_states). */
static const char *built_name(const kv_model *m, int which)
{
    return which < m->nindexes ? m->indexes[which].name : m->uniques[which - m->nindexes].name;
}

int kv_op_reindex(request *rq, msgpack_packer *pk)
{
    const kv_model *m = rq->model;
    kv_engine *e = rq->db->engine;
    const msgpack_object *name = rq_arg(rq, "index"), *chunk_arg = rq_arg(rq, "chunk");
    kv_index_state states[KV_MAX_BUILT];
    bool todo[KV_MAX_BUILT] = {false};
    int nbuilt = kv_model_nbuilt(m), ndone = 0;
    uint64_t chunk = 500;
    int64_t records = 0;
    int rc;
    if (chunk_arg) {
        if (chunk_arg->type != MSGPACK_OBJECT_POSITIVE_INTEGER || chunk_arg->via.u64 == 0 || chunk_arg->via.u64 > 10000)
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL, "reindex: \"chunk\" must be 1 to 10000");
        chunk = chunk_arg->via.u64;
    }
    if (nbuilt > 0 && (rc = e->ops->index_states(e, m, states, rq->err)) != 0)
        return rc;
    if (name) {
        /* an index's name, or a unique constraint's */
        int x = -1;
        if (name->type == MSGPACK_OBJECT_STR) {
            x = kv_model_index(m, name->via.str.ptr, name->via.str.size);
            int u = x < 0 ? kv_model_unique(m, name->via.str.ptr, name->via.str.size) : -1;
            if (u >= 0)
                x = m->nindexes + u;
        }
        if (x < 0) {
            char q[96] = "(not a string)";
            if (name->type == MSGPACK_OBJECT_STR)
                kv_quote(q, sizeof(q), name->via.str.ptr, name->via.str.size);
            return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, m->name, NULL,
                              "reindex: %s is neither an index nor a unique constraint of %s", q, m->name);
        }
        todo[x] = states[x] != KV_INDEX_READY;
    } else {
        for (int x = 0; x < nbuilt; x++)
            todo[x] = states[x] != KV_INDEX_READY;
    }
    /* each chunk is one bounded step; writers keep writing in between */
    for (int x = 0; x < nbuilt; x++) {
        bool done = !todo[x];
        while (!done)
            if ((rc = e->ops->build_index(e, m, x, (size_t)chunk, &done, rq->err)) != 0)
                return rc;
        ndone += todo[x];
    }
    if ((rc = e->ops->count(e, m, NULL, &records, rq->err)) != 0)
        return rc;
    msgpack_pack_map(pk, 2);
    kv_pack_cstr(pk, "built");
    msgpack_pack_array(pk, (size_t)ndone);
    for (int x = 0; x < nbuilt; x++)
        if (todo[x])
            kv_pack_cstr(pk, built_name(m, x));
    kv_pack_cstr(pk, "records");
    msgpack_pack_int64(pk, records);
    return 0;
}
