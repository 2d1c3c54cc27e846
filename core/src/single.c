/* The single-record ops: create, findUnique(OrThrow), update, upsert, delete. Each leaves one step for the store
 * (pending), which kv_exec_many sends with the steps of its neighbours. */
#include "request.h"

#include "include.h"
#include "nested.h"
#include "refs.h"

#include <stdlib.h>
#include <string.h>

/* Leaves the step to run with its neighbours; a write that acts on the records referencing its record runs now,
 * planned with them (refs.c). */
static int defer(request *rq, msgpack_packer *pk, kv_write *w)
{
    pending *p = rq->step;
    const kvorm_schema *s = rq->db->schema;
    if (w && ((w->op == KV_WRITE_DELETE && kv_refs_referenced(s, rq->model)) ||
              ((w->op == KV_WRITE_UPDATE || w->op == KV_WRITE_UPSERT) && kv_refs_key_changed(s, rq->model, w))))
        return kv_refs_run_single(rq, pk);
    int rc = w ? kv_refs_guard_write(rq, w, &p->guards) : 0; /* the foreign keys it sets are checked with it */
    if (rc != 0)
        return rc;
    p->step.write = w;
    p->step.model = rq->model;
    p->step.loc = &p->t.loc;
    p->step.err = rq->err;
    p->waiting = true;
    return 0;
}

static int find_unique(request *rq, bool or_throw)
{
    pending *p = rq->step;
    int rc;
    if ((rc = rq_parse_select(rq, &p->sel)) != 0 ||
        (rc = kv_include_parse(rq, rq->model, rq_arg(rq, "include"), rq_arg(rq, "select"), &p->include)) != 0 ||
        (rc = rq_parse_unique_where(rq, rq_arg(rq, "where"), &p->t)) != 0)
        return rc;
    p->or_throw = or_throw;
    return defer(rq, NULL, NULL);
}

/* Packs the result of a step once the store ran it. */
int kv_pending_finish(request *rq, msgpack_packer *pk)
{
    pending *p = rq->step;
    int rc = p->step.rc;
    if (rc == KVORM_ENOTFOUND && p->has_target)
        return rq_not_found(rq, &p->t);
    if (rc != 0)
        return rc;
    if (p->step.write || p->step.found)
        rc = kv_include_pack_one(rq, pk, p->include, &p->step.out, &p->sel);
    else if (p->or_throw)
        rc = rq_not_found(rq, &p->t);
    else
        msgpack_pack_nil(pk);
    return rc;
}

void kv_pending_free(pending *p)
{
    kv_include_free(p->include);
    p->include = NULL;
    kv_record_free(&p->step.out);
    free(p->sel.fields);
    rq_target_free(&p->t);
    rq_encoded_free(&p->data);
    rq_encoded_free(&p->update);
    kv_ref_guards_free(&p->guards);
}

int kv_op_create(request *rq, msgpack_packer *pk)
{
    pending *p = rq->step;
    size_t id_len = 0;
    int rc;
    if (kv_nested_in(rq->model, rq_arg(rq, "data")))
        return kv_nested_create(rq, pk);
    if ((rc = rq_parse_select(rq, &p->sel)) != 0 ||
        (rc = kv_include_parse(rq, rq->model, rq_arg(rq, "include"), rq_arg(rq, "select"), &p->include)) != 0 ||
        (rc = rq_need_map(rq, rq_arg(rq, "data"), "data")) != 0 ||
        (rc = rq_encode_create(rq, rq_arg(rq, "data"), "create", &p->data, p->id, &id_len, NULL, 0)) != 0)
        return rc;
    p->w.op = KV_WRITE_CREATE;
    p->w.model = rq->model;
    p->w.new_id = id_len ? p->id : NULL;
    p->w.new_id_len = id_len;
    p->w.create = p->data.items;
    p->w.ncreate = p->data.n;
    return defer(rq, pk, &p->w);
}

/* The fields an update sets and clears, from its encoded data. */
static void take_update(kv_write *w, const encoded *e)
{
    w->set = e->items;
    w->nset = e->n;
    w->unset = e->unset;
    w->nunset = e->nunset;
    w->ops = e->ops;
    w->nops = e->nops;
}

int kv_op_update(request *rq, msgpack_packer *pk)
{
    pending *p = rq->step;
    int rc;
    if (kv_nested_in(rq->model, rq_arg(rq, "data")))
        return kv_nested_update(rq, pk);
    if ((rc = rq_parse_select(rq, &p->sel)) != 0 ||
        (rc = kv_include_parse(rq, rq->model, rq_arg(rq, "include"), rq_arg(rq, "select"), &p->include)) != 0 ||
        (rc = rq_parse_unique_where(rq, rq_arg(rq, "where"), &p->t)) != 0 || (rc = rq_need_map(rq, rq_arg(rq, "data"), "data")) != 0 ||
        (rc = rq_encode_update(rq, rq_arg(rq, "data"), "update", &p->update)) != 0 || (rc = rq_if_version(rq, &p->w)) != 0)
        return rc;
    p->w.op = KV_WRITE_UPDATE;
    p->w.model = rq->model;
    p->w.loc = p->t.loc;
    take_update(&p->w, &p->update);
    p->has_target = true;
    return defer(rq, pk, &p->w);
}

int kv_op_upsert(request *rq, msgpack_packer *pk)
{
    pending *p = rq->step;
    size_t id_len = 0;
    int rc;
    if ((rc = rq_parse_select(rq, &p->sel)) != 0 ||
        (rc = rq_parse_unique_where(rq, rq_arg(rq, "where"), &p->t)) != 0 || (rc = rq_need_map(rq, rq_arg(rq, "create"), "create")) != 0 ||
        (rc = rq_need_map(rq, rq_arg(rq, "update"), "update")) != 0)
        return rc;
    /* upsert by id creates the record under that id */
    if ((rc = rq_encode_create(rq, rq_arg(rq, "create"), "upsert.create", &p->data, p->id, &id_len,
                            p->t.loc.unique ? NULL : p->t.loc.id, p->t.loc.id_len)) != 0)
        return rc;
    if ((rc = rq_encode_update(rq, rq_arg(rq, "update"), "upsert.update", &p->update)) != 0)
        return rc;
    p->w.op = KV_WRITE_UPSERT;
    p->w.model = rq->model;
    p->w.loc = p->t.loc;
    p->w.new_id = id_len ? p->id : NULL;
    p->w.new_id_len = id_len;
    p->w.create = p->data.items;
    p->w.ncreate = p->data.n;
    take_update(&p->w, &p->update);
    p->has_target = true;
    return defer(rq, pk, &p->w);
}

int kv_op_delete(request *rq, msgpack_packer *pk)
{
    pending *p = rq->step;
    int rc;
    if ((rc = rq_parse_select(rq, &p->sel)) != 0 ||
        (rc = rq_parse_unique_where(rq, rq_arg(rq, "where"), &p->t)) != 0 || (rc = rq_if_version(rq, &p->w)) != 0 ||
        (rc = kv_refs_chunks_arg(rq)) != 0)
        return rc;
    p->w.op = KV_WRITE_DELETE;
    p->w.model = rq->model;
    p->w.loc = p->t.loc;
    p->has_target = true;
    return defer(rq, pk, &p->w);
}

int kv_op_find_unique(request *rq, msgpack_packer *pk)
{
    (void)pk;
    return find_unique(rq, false);
}

int kv_op_find_unique_or_throw(request *rq, msgpack_packer *pk)
{
    (void)pk;
    return find_unique(rq, true);
}
