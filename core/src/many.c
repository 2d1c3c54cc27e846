/* createMany, updateMany, deleteMany (docs/queries.md): many records, each written with its unique and index
 * entries atomically, sent in chunks so that no round trip (and no Redis call) does unbounded work. */
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITE_CHUNK 128
#define RETRIES 8

static void pack_count(msgpack_packer *pk, int64_t n)
{
    msgpack_pack_map(pk, 1);
    kv_pack_cstr(pk, "count");
    msgpack_pack_int64(pk, n);
}

/* Says how far a many-write got when one record failed: the error of that record, and the count written. */
static int stopped(request *rq, const kv_error *why, int64_t done, const char *what)
{
    kv_error e = *why;
    kv_fail_at(rq->err, why->code, rq->model->name, why->nfields ? why->fields[0] : NULL,
               "%s: stopped after %s %lld record(s): %s", rq->op, what, (long long)done, why->message);
    for (int i = 1; i < e.nfields; i++)
        kv_error_add_field(rq->err, e.fields[i]);
    kv_error_set_retryable(rq->err, false);
    return rq->err->code;
}

typedef struct one_create {
    encoded data;
    char id[KV_MAX_ID_BYTES + 1];
    kv_write w;
    kv_step step;
    kv_error err;
} one_create;

int kv_op_create_many(request *rq, msgpack_packer *pk)
{
    const msgpack_object *data = rq_arg(rq, "data"), *skip = rq_arg(rq, "skipDuplicates");
    kv_engine *e = rq->db->engine;
    int64_t created = 0;
    int rc = 0;
    if (!data || data->type != MSGPACK_OBJECT_ARRAY)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, NULL,
                          "createMany: \"data\" (an array of records) is required");
    if (skip && skip->type != MSGPACK_OBJECT_BOOLEAN)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, NULL,
                          "createMany: \"skipDuplicates\" must be true or false");
    bool skip_dups = skip && skip->via.boolean;
    size_t n = data->via.array.size;
    one_create *c = calloc(n + 1, sizeof(*c));
    kv_step **steps = calloc(n + 1, sizeof(*steps));
    if (!c || !steps) {
        free(c);
        free(steps);
        return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    }
    /* every record is checked before anything is written: bad input leaves nothing behind */
    for (size_t i = 0; i < n && rc == 0; i++) {
        const msgpack_object *d = &data->via.array.ptr[i];
        char where[48];
        size_t id_len = 0;
        snprintf(where, sizeof(where), "createMany.data[%zu]", i);
        if (d->type != MSGPACK_OBJECT_MAP) {
            rc = kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, NULL, "%s must be a map", where);
            break;
        }
        if ((rc = rq_encode_create(rq, d, where, &c[i].data, c[i].id, &id_len, NULL, 0)) != 0)
            break;
        c[i].w = (kv_write){.op = KV_WRITE_CREATE, .model = rq->model, .new_id = id_len ? c[i].id : NULL,
                            .new_id_len = id_len, .create = c[i].data.items, .ncreate = c[i].data.n,
                            .skip_duplicate = skip_dups};
        c[i].step.write = &c[i].w;
        c[i].step.model = rq->model;
        c[i].step.err = &c[i].err;
        steps[i] = &c[i].step;
    }
    for (size_t from = 0; rc == 0 && from < n; from += WRITE_CHUNK) {
        size_t k = n - from < WRITE_CHUNK ? n - from : WRITE_CHUNK;
        e->ops->run(e, steps + from, k);
        const kv_step *failed = NULL;
        for (size_t i = from; i < from + k; i++) {
            if (c[i].step.rc == 0 && c[i].step.out.created)
                created++;
            else if (c[i].step.rc != 0 && !failed)
                failed = &c[i].step;
        }
        if (failed)
            rc = stopped(rq, failed->err, created, "creating");
    }
    for (size_t i = 0; i < n; i++) {
        kv_record_free(&c[i].step.out);
        rq_encoded_free(&c[i].data);
    }
    free(c);
    free(steps);
    if (rc == 0)
        pack_count(pk, created);
    return rc;
}

/* updateMany and deleteMany: the rows of the where, then one write each, guarded by the version read, so a record
 * that changed meanwhile is read again and tested again before it is written. */
static int write_many(request *rq, msgpack_packer *pk, kv_write_op op)
{
    kv_engine *e = rq->db->engine;
    kv_query q;
    kv_rows rows = {0};
    encoded upd;
    int64_t written = 0;
    int rc;
    memset(&upd, 0, sizeof(upd));
    rq_encoded_init(&upd, rq->model->nfields);
    if ((rc = kv_query_init(&q, rq, rq->args, KV_Q_WHERE)) != 0)
        goto done;
    if (op == KV_WRITE_UPDATE) {
        const msgpack_object *data = rq_arg(rq, "data");
        rq_encoded_free(&upd);
        memset(&upd, 0, sizeof(upd)); /* rq_encode_update makes its own */
        if ((rc = rq_need_map(rq, data, "data")) != 0 || (rc = rq_encode_update(rq, data, "updateMany", &upd)) != 0)
            goto done;
    }
    if ((rc = kv_query_rows(&q, &rows)) != 0)
        goto done;
    kv_write *w = calloc(WRITE_CHUNK, sizeof(*w));
    kv_step *st = calloc(WRITE_CHUNK, sizeof(*st));
    kv_step **sp = calloc(WRITE_CHUNK, sizeof(*sp));
    kv_error *errs = calloc(WRITE_CHUNK, sizeof(*errs));
    if (!w || !st || !sp || !errs) {
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        goto chunk_done;
    }
    for (size_t from = 0; rc == 0 && from < rows.n; from += WRITE_CHUNK) {
        size_t k = rows.n - from < WRITE_CHUNK ? rows.n - from : WRITE_CHUNK;
        for (size_t i = 0; i < k; i++) {
            const kv_record *r = &rows.rows[from + i];
            memset(&st[i], 0, sizeof(st[i]));
            w[i] = (kv_write){.op = op, .model = rq->model, .has_if_version = true, .if_version = r->version};
            w[i].loc.id = r->id;
            w[i].loc.id_len = r->id_len;
            w[i].set = upd.items;
            w[i].nset = upd.n;
            w[i].unset = upd.unset;
            w[i].nunset = upd.nunset;
            st[i].write = &w[i];
            st[i].model = rq->model;
            st[i].loc = &w[i].loc;
            st[i].err = &errs[i];
            sp[i] = &st[i];
        }
        for (int attempt = 0; rc == 0; attempt++) {
            size_t again = 0;
            e->ops->run(e, sp, k);
            for (size_t i = 0; i < k && rc == 0; i++) {
                kv_step *s = sp[i];
                if (s->rc == 0) {
                    written++;
                } else if (s->rc == KVORM_ENOTFOUND) {
                    /* deleted meanwhile: nothing to write */
                } else if (s->rc == KVORM_ECONFLICT && attempt < RETRIES) {
                    /* changed meanwhile: read it again and write it only if it still matches */
                    kv_step rd = {0}, *one = &rd;
                    kv_error rerr = {0};
                    rd.model = rq->model;
                    rd.loc = s->loc;
                    rd.err = &rerr;
                    e->ops->run(e, &one, 1);
                    if (rd.rc != 0) {
                        rc = stopped(rq, &rerr, written, op == KV_WRITE_UPDATE ? "updating" : "deleting");
                    } else if (rd.found && kv_filter_eval(&q.filter, rq->model, &rd.out) == KV_TRUE) {
                        ((kv_write *)s->write)->if_version = rd.out.version;
                        kv_record_free(&s->out);
                        s->rc = 0;
                        sp[again++] = s;
                    }
                    kv_record_free(&rd.out);
                    continue;
                } else {
                    rc = stopped(rq, s->err, written, op == KV_WRITE_UPDATE ? "updating" : "deleting");
                }
                kv_record_free(&s->out);
            }
            if (again == 0)
                break;
            k = again;
        }
        for (size_t i = 0; i < WRITE_CHUNK; i++)
            kv_record_free(&st[i].out);
    }
chunk_done:
    free(w);
    free(st);
    free(sp);
    free(errs);
done:
    kv_rows_free(&rows);
    kv_query_free(&q);
    rq_encoded_free(&upd);
    if (rc == 0)
        pack_count(pk, written);
    return rc;
}

int kv_op_update_many(request *rq, msgpack_packer *pk) { return write_many(rq, pk, KV_WRITE_UPDATE); }
int kv_op_delete_many(request *rq, msgpack_packer *pk) { return write_many(rq, pk, KV_WRITE_DELETE); }
