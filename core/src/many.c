/* createMany, updateMany, deleteMany (docs/queries.md): many records, written in chunks of the engine's
 * atomic_many records, each chunk all or nothing (the engine's run_all), so that a call of up to that many records
 * is one atomic write. Two records of a chunk that would take the same id or unique value are found here, before
 * anything is sent: the store checks each write against what it holds, not against the others of its chunk. */
#include "query.h"

#include "claims.h"
#include "entries.h"
#include "refs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often a chunk whose records changed since they were read is read again and written again. */
#define RETRIES 8

static void pack_count(msgpack_packer *pk, int64_t n)
{
    msgpack_pack_map(pk, 1);
    kv_pack_cstr(pk, "count");
    msgpack_pack_int64(pk, n);
}

static size_t atomic_chunk(kv_engine *e)
{
    kv_engine_facts f = {0};
    e->ops->facts(e, &f);
    return f.atomic_many > 0 ? (size_t)f.atomic_many : 1;
}

/* Says how far a many-write got when one record failed: the error of that record, and the count written (by the
 * chunks before: nothing of the failing chunk is). */
static int stopped(request *rq, const kv_error *why, int64_t done, const char *what)
{
    kv_error e = *why;
    kv_fail_at(rq->err, why->code, rq->model->name, why->nfields ? why->fields[0] : NULL,
               "%s: stopped after %s %lld record(s): %s", rq->op, what, (long long)done, why->message);
    for (int i = 1; i < e.nfields; i++)
        kv_error_add_field(rq->err, e.fields[i]);
    /* once records are written, running the call again is not the same call */
    kv_error_set_retryable(rq->err, e.retryable && done == 0);
    return rq->err->code;
}

/* ---- the values a chunk claims ---- */

typedef struct chunk_keys {
    kv_claims claims;
    msgpack_sbuffer key;             /* the keys of the record at hand, end to end */
    int which[KV_MAX_UNIQUES + 1];   /* 0: the id; else unique constraint which - 1 */
    size_t off[KV_MAX_UNIQUES + 2];
    int n;
    const char **vals;               /* the record's values once written, by field */
    size_t *lens;
} chunk_keys;

static bool chunk_keys_init(chunk_keys *ck, const kv_model *m)
{
    memset(ck, 0, sizeof(*ck));
    kv_claims_init(&ck->claims);
    msgpack_sbuffer_init(&ck->key);
    ck->vals = calloc((size_t)m->nfields + 1, sizeof(*ck->vals));
    ck->lens = calloc((size_t)m->nfields + 1, sizeof(*ck->lens));
    return ck->vals && ck->lens;
}

static void chunk_keys_free(chunk_keys *ck)
{
    kv_claims_free(&ck->claims);
    msgpack_sbuffer_destroy(&ck->key);
    free(ck->vals);
    free(ck->lens);
}

/* The keys write w gives its record (ck->vals): its id when it is given, and each unique constraint's key it
 * sets (an update only of the constraints it touches: the others keep keys the store already holds apart). */
static void record_keys(chunk_keys *ck, const kv_write *w, const char *id, size_t id_len)
{
    const kv_model *m = w->model;
    ck->key.size = 0;
    ck->n = 0;
    if (id_len) {
        ck->which[ck->n] = 0;
        ck->off[ck->n++] = 0;
        msgpack_sbuffer_write(&ck->key, id, id_len);
    }
    for (int u = 0; u < m->nuniques; u++) {
        size_t before = ck->key.size;
        if (w->op == KV_WRITE_UPDATE && !kv_unique_touched(&m->uniques[u], w))
            continue;
        if (kv_unique_key(&ck->key, &m->uniques[u], ck->vals, ck->lens)) {
            ck->which[ck->n] = u + 1;
            ck->off[ck->n++] = before;
        }
    }
    ck->off[ck->n] = ck->key.size;
}

/* The claim an earlier record of the chunk holds on one of the keys at hand, or NULL; *at says which key. */
static const kv_claim *clash(const chunk_keys *ck, int *at)
{
    for (int i = 0; i < ck->n; i++) {
        const kv_claim *c =
            kv_claims_find(&ck->claims, ck->which[i], ck->key.data + ck->off[i], ck->off[i + 1] - ck->off[i]);
        if (c) {
            *at = i;
            return c;
        }
    }
    return NULL;
}

static bool claim(chunk_keys *ck, size_t owner)
{
    for (int i = 0; i < ck->n; i++)
        if (!kv_claims_add(&ck->claims, ck->which[i], ck->key.data + ck->off[i], ck->off[i + 1] - ck->off[i], owner))
            return false;
    return true;
}

static int fail_pair(request *rq, const chunk_keys *ck, int at, const char *a, const char *b)
{
    return kv_fail_unique_pair(rq->err, rq->model, ck->which[at], ck->key.data + ck->off[at],
                               ck->off[at + 1] - ck->off[at], a, b);
}

/* ---- createMany ---- */

typedef struct one_create {
    encoded data;
    char id[KV_MAX_ID_BYTES + 1];
    size_t id_len;
    kv_ref_guards guards; /* of the foreign keys it sets */
    kv_write w;
    kv_step step;
    kv_error err;
} one_create;

/* The records of chunk [from, to) to send, in sp: each claims its id and unique values; one that takes a value an
 * earlier one of the chunk took is skipped (skipDuplicates) or fails the call. Returns 0 or the error. */
static int create_chunk(request *rq, chunk_keys *ck, one_create *c, size_t from, size_t to, bool skip,
                        kv_step **sp, size_t *k)
{
    const kv_model *m = rq->model;
    kv_claims_clear(&ck->claims);
    *k = 0;
    for (size_t i = from; i < to; i++) {
        int at = 0;
        for (int f = 0; f < m->nfields; f++)
            ck->vals[f] = NULL;
        for (int j = 0; j < c[i].w.ncreate; j++) {
            ck->vals[c[i].w.create[j].field] = c[i].w.create[j].data;
            ck->lens[c[i].w.create[j].field] = c[i].w.create[j].len;
        }
        record_keys(ck, &c[i].w, c[i].id, c[i].id_len);
        const kv_claim *taken = clash(ck, &at);
        if (taken && skip)
            continue;
        if (taken) {
            char a[32], b[32];
            snprintf(a, sizeof(a), "data[%zu]", taken->owner);
            snprintf(b, sizeof(b), "data[%zu]", i);
            return fail_pair(rq, ck, at, a, b);
        }
        if (!claim(ck, i))
            return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        sp[(*k)++] = &c[i].step;
    }
    return 0;
}

/* The error of a chunk that run_all refused: the first step with its own error. */
static const kv_step *first_failed(kv_step *const *sp, size_t k)
{
    for (size_t i = 0; i < k; i++)
        if (sp[i]->rc != 0 && sp[i]->rc != KV_STEP_UNAPPLIED)
            return sp[i];
    return NULL;
}

int kv_op_create_many(request *rq, msgpack_packer *pk)
{
    const msgpack_object *data = rq_arg(rq, "data"), *skip = rq_arg(rq, "skipDuplicates");
    kv_engine *e = rq->db->engine;
    chunk_keys ck;
    int64_t created = 0;
    int rc = 0;
    if (!data || data->type != MSGPACK_OBJECT_ARRAY)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, NULL,
                          "createMany: \"data\" (an array of records) is required");
    if (skip && skip->type != MSGPACK_OBJECT_BOOLEAN)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, NULL,
                          "createMany: \"skipDuplicates\" must be true or false");
    bool skip_dups = skip && skip->via.boolean;
    size_t n = data->via.array.size, chunk = atomic_chunk(e);
    one_create *c = calloc(n + 1, sizeof(*c));
    kv_step **sp = calloc(chunk, sizeof(*sp));
    if (!c || !sp || !chunk_keys_init(&ck, rq->model)) {
        free(c);
        free(sp);
        chunk_keys_free(&ck);
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    }
    /* every record is checked before anything is written: bad input leaves nothing behind */
    for (size_t i = 0; i < n && rc == 0; i++) {
        const msgpack_object *d = &data->via.array.ptr[i];
        char where[48];
        snprintf(where, sizeof(where), "createMany.data[%zu]", i);
        if (d->type != MSGPACK_OBJECT_MAP) {
            rc = kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, NULL, "%s must be a map", where);
            break;
        }
        if ((rc = rq_encode_create(rq, d, where, &c[i].data, c[i].id, &c[i].id_len, NULL, 0)) != 0)
            break;
        c[i].w = (kv_write){.op = KV_WRITE_CREATE, .model = rq->model, .new_id = c[i].id_len ? c[i].id : NULL,
                            .new_id_len = c[i].id_len, .create = c[i].data.items, .ncreate = c[i].data.n,
                            .skip_duplicate = skip_dups};
        if ((rc = kv_refs_guard_write(rq, &c[i].w, &c[i].guards)) != 0)
            break;
        c[i].step.write = &c[i].w;
        c[i].step.model = rq->model;
        c[i].step.err = &c[i].err;
    }
    for (size_t from = 0; rc == 0 && from < n; from += chunk) {
        size_t to = n - from < chunk ? n : from + chunk, k = 0;
        if ((rc = create_chunk(rq, &ck, c, from, to, skip_dups, sp, &k)) != 0) {
            kv_error why = *rq->err;
            rc = stopped(rq, &why, created, "creating");
            break;
        }
        if (k == 0)
            continue;
        e->ops->run_all(e, sp, k);
        const kv_step *failed = first_failed(sp, k);
        if (failed) {
            rc = stopped(rq, failed->err, created, "creating");
            break;
        }
        for (size_t i = 0; i < k; i++)
            created += sp[i]->out.created;
    }
    for (size_t i = 0; i < n; i++) {
        kv_record_free(&c[i].step.out);
        rq_encoded_free(&c[i].data);
        kv_ref_guards_free(&c[i].guards);
    }
    free(c);
    free(sp);
    chunk_keys_free(&ck);
    if (rc == 0)
        pack_count(pk, created);
    return rc;
}

/* ---- updateMany, deleteMany ---- */

/* One record of a chunk: its write, guarded by the version it was read at, and the record as read. */
typedef struct one_write {
    kv_write w;
    kv_step step;
    kv_error err;
    const kv_record *rec; /* as read: the query's row, or fresh */
    kv_record fresh;      /* read again after it changed */
} one_write;

/* The values record r has once update w is applied, in ck->vals. */
static void updated_values(chunk_keys *ck, const kv_write *w, const kv_record *r)
{
    for (int f = 0; f < w->model->nfields; f++) {
        ck->vals[f] = r->values[f];
        ck->lens[f] = r->lens[f];
    }
    for (int i = 0; i < w->nset; i++) {
        ck->vals[w->set[i].field] = w->set[i].data;
        ck->lens[w->set[i].field] = w->set[i].len;
    }
    for (int i = 0; i < w->nunset; i++)
        ck->vals[w->unset[i]] = NULL;
}

/* An update giving two records of the chunk the same unique value fails the call, naming both. */
static int update_clash(request *rq, chunk_keys *ck, one_write *const *live, size_t k)
{
    kv_claims_clear(&ck->claims);
    for (size_t i = 0; i < k; i++) {
        const kv_record *r = live[i]->rec;
        int at = 0;
        updated_values(ck, &live[i]->w, r);
        record_keys(ck, &live[i]->w, NULL, 0);
        const kv_claim *taken = clash(ck, &at);
        if (taken) {
            const kv_record *o = live[taken->owner]->rec;
            char a[96], b[96], qa[80], qb[80];
            kv_quote(qa, sizeof(qa), o->id, o->id_len);
            kv_quote(qb, sizeof(qb), r->id, r->id_len);
            snprintf(a, sizeof(a), "records %s", qa);
            snprintf(b, sizeof(b), "%s", qb);
            return fail_pair(rq, ck, at, a, b);
        }
        if (!claim(ck, i))
            return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    }
    return 0;
}

/* After run_all refused the chunk because some records changed (CONFLICT) or went (NOT_FOUND) since they were
 * read: those are read again, and kept, with their new version, only if they still match. Returns the records
 * still to write (in live) through *k, or an error. */
static int read_again(request *rq, const kv_query *q, one_write **live, size_t *k)
{
    kv_engine *e = rq->db->engine;
    size_t n = *k, nread = 0, kept = 0;
    kv_step *rd = calloc(n, sizeof(*rd));
    kv_step **rp = calloc(n, sizeof(*rp));
    kv_error *errs = calloc(n, sizeof(*errs));
    int rc = 0;
    if (!rd || !rp || !errs) {
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (live[i]->step.rc != KVORM_ECONFLICT)
            continue;
        rd[nread] = (kv_step){.model = rq->model, .loc = &live[i]->w.loc, .err = &errs[nread]};
        rp[nread] = &rd[nread];
        nread++;
    }
    if (nread)
        e->ops->run(e, rp, nread);
    for (size_t i = 0, j = 0; i < n; i++) {
        one_write *o = live[i];
        if (o->step.rc == KVORM_ENOTFOUND)
            continue; /* deleted meanwhile: nothing to write */
        if (o->step.rc == KVORM_ECONFLICT) {
            kv_step *s = &rd[j++];
            if (s->rc != 0) {
                *rq->err = *s->err;
                rc = s->rc;
                goto out;
            }
            if (!s->found || kv_filter_eval(&q->filter, rq->model, &s->out) != KV_TRUE)
                continue; /* gone, or no longer matching */
            kv_record_free(&o->fresh);
            o->fresh = s->out;
            memset(&s->out, 0, sizeof(s->out));
            o->rec = &o->fresh;
            o->w.if_version = o->fresh.version;
            /* the locator names the id of the record first read, which fresh shares */
        }
        live[kept++] = o;
    }
    *k = kept;
out:
    for (size_t i = 0; rd && i < nread; i++)
        kv_record_free(&rd[i].out);
    free(rd);
    free(rp);
    free(errs);
    return rc;
}

/* Writes the records rows[from, from + k) all or nothing, each guarded by the version it was read at; a record
 * that changed meanwhile is read again and kept only if it still matches the where. Adds the records written to
 * *written. */
static int write_chunk(request *rq, const kv_query *q, one_write *slots, one_write **live, kv_step **sp,
                       const kv_rows *rows, size_t from, size_t k, const encoded *upd, const kv_ref_guards *guards,
                       kv_write_op op, chunk_keys *ck, int64_t *written)
{
    kv_engine *e = rq->db->engine;
    const char *what = op == KV_WRITE_UPDATE ? "updating" : "deleting";
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        one_write *o = &slots[i];
        const kv_record *r = &rows->rows[from + i];
        kv_record_free(&o->fresh);
        memset(o, 0, sizeof(*o));
        o->w = (kv_write){.op = op, .model = rq->model, .has_if_version = true, .if_version = r->version,
                          .set = upd->items, .nset = upd->n, .unset = upd->unset, .nunset = upd->nunset,
                          .ops = upd->ops, .nops = upd->nops,
                          .guards = guards->g, .nguards = guards->n};
        o->w.loc.id = r->id;
        o->w.loc.id_len = r->id_len;
        o->step = (kv_step){.write = &o->w, .model = rq->model, .loc = &o->w.loc, .err = &o->err};
        o->rec = r;
        live[i] = o;
    }
    for (int attempt = 0; k > 0; attempt++) {
        if (op == KV_WRITE_UPDATE && (rc = update_clash(rq, ck, live, k)) != 0) {
            kv_error why = *rq->err;
            return stopped(rq, &why, *written, what);
        }
        for (size_t i = 0; i < k; i++)
            sp[i] = &live[i]->step;
        e->ops->run_all(e, sp, k);
        const kv_step *failed = NULL;
        bool changed = false;
        for (size_t i = 0; i < k; i++) {
            int src = sp[i]->rc;
            if (src == KVORM_ECONFLICT || src == KVORM_ENOTFOUND)
                changed = true;
            else if (src != 0 && src != KV_STEP_UNAPPLIED && !failed)
                failed = sp[i];
        }
        if (failed)
            return stopped(rq, failed->err, *written, what);
        if (!changed) {
            *written += (int64_t)k;
            break;
        }
        if (attempt == RETRIES) {
            kv_fail_at(rq->err, KVORM_ECONFLICT, rq->model->name, NULL,
                       "%s: records kept changing while this call wrote them (%d attempts); nothing of their "
                       "chunk was written",
                       rq->model->name, RETRIES + 1);
            kv_error_set_retryable(rq->err, true);
            kv_error why = *rq->err;
            return stopped(rq, &why, *written, what);
        }
        if ((rc = read_again(rq, q, live, &k)) != 0) {
            kv_error why = *rq->err;
            return stopped(rq, &why, *written, what);
        }
    }
    for (size_t i = 0; i < k; i++)
        kv_record_free(&live[i]->step.out);
    return 0;
}

/* updateMany and deleteMany: the rows of the where, then one all-or-nothing write per chunk of them. */
static int write_many(request *rq, msgpack_packer *pk, kv_write_op op)
{
    kv_engine *e = rq->db->engine;
    size_t chunk = atomic_chunk(e);
    kv_query q;
    kv_rows rows = {0};
    encoded upd;
    chunk_keys ck;
    int64_t written = 0;
    one_write *slots = NULL;
    one_write **live = NULL;
    kv_step **sp = NULL;
    kv_ref_guards guards = {0};
    bool acts = false; /* the writes act on the records that reference them (refs.c) */
    int rc;
    memset(&upd, 0, sizeof(upd));
    if (!chunk_keys_init(&ck, rq->model)) {
        chunk_keys_free(&ck);
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    }
    if ((rc = kv_query_init(&q, rq, rq->args, KV_Q_WHERE)) != 0 || (rc = kv_refs_chunks_arg(rq)) != 0)
        goto done;
    if (op == KV_WRITE_UPDATE) {
        const msgpack_object *data = rq_arg(rq, "data");
        if ((rc = rq_need_map(rq, data, "data")) != 0 || (rc = rq_encode_update(rq, data, "updateMany", &upd)) != 0 ||
            (rc = kv_refs_guard_values(rq, rq->model, upd.items, upd.n, upd.unset, upd.nunset, false, 'a',
                                       &guards)) != 0)
            goto done;
    }
    kv_write tmpl = {.op = op, .model = rq->model, .set = upd.items, .nset = upd.n, .unset = upd.unset,
                     .nunset = upd.nunset, .ops = upd.ops, .nops = upd.nops};
    acts = op == KV_WRITE_DELETE ? kv_refs_referenced(rq->db->schema, rq->model)
                                 : kv_refs_key_changed(rq->db->schema, rq->model, &tmpl);
    if ((rc = kv_query_rows(&q, &rows)) != 0)
        goto done;
    size_t cap = rows.n < chunk ? rows.n : chunk;
    slots = calloc(cap + 1, sizeof(*slots));
    live = calloc(cap + 1, sizeof(*live));
    sp = calloc(cap + 1, sizeof(*sp));
    if (!slots || !live || !sp) {
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        goto done;
    }
    for (size_t from = 0; rc == 0 && from < rows.n; from += chunk) {
        size_t k = rows.n - from < chunk ? rows.n - from : chunk;
        if (acts) {
            if ((rc = kv_refs_write_rows(rq, &q, &rows, from, k, &tmpl, &written)) != 0) {
                kv_error why = *rq->err;
                rc = stopped(rq, &why, written, op == KV_WRITE_UPDATE ? "updating" : "deleting");
            }
        } else {
            rc = write_chunk(rq, &q, slots, live, sp, &rows, from, k, &upd, &guards, op, &ck, &written);
        }
    }
done:
    for (size_t i = 0; slots && i < (rows.n < chunk ? rows.n : chunk); i++) {
        kv_record_free(&slots[i].fresh);
        kv_record_free(&slots[i].step.out);
    }
    free(slots);
    free(live);
    free(sp);
    chunk_keys_free(&ck);
    kv_rows_free(&rows);
    kv_query_free(&q);
    rq_encoded_free(&upd);
    kv_ref_guards_free(&guards);
    if (rc == 0)
        pack_count(pk, written);
    return rc;
}

int kv_op_update_many(request *rq, msgpack_packer *pk) { return write_many(rq, pk, KV_WRITE_UPDATE); }
int kv_op_delete_many(request *rq, msgpack_packer *pk) { return write_many(rq, pk, KV_WRITE_DELETE); }
