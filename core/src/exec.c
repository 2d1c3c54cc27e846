/* Running request documents (docs/protocol.md): parse, dispatch through the op table, hand the steps of
 * consecutive requests to the engine together, pack each response or error document. Engine-independent. */
#include "refs.h"
#include "request.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Packs text that may come from a request or the store as valid UTF-8: the error document never holds
 * anything else. */
static void pack_text(msgpack_packer *pk, const char *s, size_t len)
{
    char safe[1024];
    if (kv_utf8_valid(s, len)) {
        kv_pack_strn(pk, s, len);
        return;
    }
    kv_pack_strn(pk, safe, kv_escape(safe, sizeof(safe), s, len, SIZE_MAX, KV_ESC_ELLIPSIS));
}

int kv_pack_error(msgpack_sbuffer *resp, const kv_error *err, const char *op, size_t op_len)
{
    msgpack_packer pk;
    resp->size = 0;
    msgpack_packer_init(&pk, resp, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    kv_pack_cstr(&pk, "code");
    kv_pack_cstr(&pk, kvorm_error_name(err->code));
    kv_pack_cstr(&pk, "message");
    pack_text(&pk, err->message, strnlen(err->message, sizeof(err->message)));
    kv_pack_cstr(&pk, "model");
    if (err->model)
        pack_text(&pk, err->model, strlen(err->model));
    else
        msgpack_pack_nil(&pk);
    kv_pack_cstr(&pk, "op");
    if (op && op_len)
        pack_text(&pk, op, op_len);
    else
        msgpack_pack_nil(&pk);
    kv_pack_cstr(&pk, "fields");
    msgpack_pack_array(&pk, (size_t)err->nfields);
    for (int i = 0; i < err->nfields; i++)
        pack_text(&pk, err->fields[i], strlen(err->fields[i]));
    kv_pack_cstr(&pk, "retryable");
    err->retryable ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    return err->code;
}

static char op_names[1024];
static pthread_once_t op_names_once = PTHREAD_ONCE_INIT;

static void make_op_names(void)
{
    size_t o = 0;
    for (size_t i = 0; i < kv_nops && o < sizeof(op_names); i++)
        o += (size_t)snprintf(op_names + o, sizeof(op_names) - o, "%s%s", i ? ", " : "", kv_ops[i].name);
}

/* Every op's name, for the message of an unknown op. */
static const char *op_list(void)
{
    pthread_once(&op_names_once, make_op_names);
    return op_names;
}
static int unknown_op(request *rq)
{
    char q[96];
    kv_quote(q, sizeof(q), rq->opname, rq->opname_len);
    return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, NULL,
                      "unknown op %s (%s)", q, op_list());
}

static int dispatch(request *rq, const msgpack_object *root, msgpack_packer *pk)
{
    static const char *const top[] = {"model", "op", "args", NULL};
    const msgpack_object *model, *op;
    request tmp = *rq;
    const kv_op *which;
    if (root->type != MSGPACK_OBJECT_MAP)
        return kv_fail(rq->err, KVORM_EBAD_REQUEST, "the request must be a map with \"model\", \"op\" and \"args\"");
    tmp.args = root;
    tmp.op = "request";
    if (rq_check_args(&tmp, top) != 0)
        return rq->err->code;
    op = kv_mp_map_get(root, "op");
    if (!op || op->type != MSGPACK_OBJECT_STR || op->via.str.size == 0 || op->via.str.size >= sizeof(rq->opname))
        return kv_fail(rq->err, KVORM_EBAD_REQUEST, "the request needs \"op\", the name of an operation");
    /* kept for the error document, which is packed after the request's memory is gone */
    memcpy(rq->opname, op->via.str.ptr, op->via.str.size);
    rq->opname_len = op->via.str.size;
    which = kv_op_find(op);
    rq->op = which ? which->name : "request";
    rq->args = kv_mp_map_get(root, "args");
    if (rq->args && rq->args->type == MSGPACK_OBJECT_NIL)
        rq->args = NULL;
    if (rq->args && rq->args->type != MSGPACK_OBJECT_MAP)
        return kv_fail(rq->err, KVORM_EBAD_REQUEST, "\"args\" must be a map");
    if (which && !which->model) {
        if (rq_check_args(rq, which->args) != 0)
            return rq->err->code;
        return which->run(rq, pk);
    }
    model = kv_mp_map_get(root, "model");
    if (!model || model->type != MSGPACK_OBJECT_STR)
        return kv_fail(rq->err, KVORM_EBAD_REQUEST, "the request needs \"model\", the name of a model");
    rq->model = kv_schema_model(rq->db->schema, model->via.str.ptr, model->via.str.size);
    if (!rq->model) {
        char q[96];
        kv_quote(q, sizeof(q), model->via.str.ptr, model->via.str.size);
        return kv_fail(rq->err, KVORM_EBAD_REQUEST, "unknown model %s", q);
    }
    if (!which)
        return unknown_op(rq);
    if (rq_check_args(rq, which->args) != 0)
        return rq->err->code;
    return which->run(rq, pk);
}

/* ---- running requests ---- */

/* One request of a call: its document, parse, deferred step, error and response. */
typedef struct job {
    request rq;
    kv_error err;
    pending step;
    msgpack_zone *zone;
    msgpack_object root;
    msgpack_sbuffer *resp;
    msgpack_packer pk;
    int rc;
} job;

/* Unpacks the request document; a malformed one fails the job here. */
static void job_parse(job *j, kvorm_db *db, const char *doc, size_t len, kv_mode mode, msgpack_sbuffer *resp)
{
    memset(j, 0, sizeof(*j));
    j->rq = (request){db, mode, NULL, NULL, "", 0, NULL, &j->err, &j->step};
    msgpack_sbuffer_init(&j->step.t.ukey);
    j->resp = resp;
    msgpack_packer_init(&j->pk, resp, msgpack_sbuffer_write);
    if (len > KV_MAX_REQUEST_BYTES) {
        j->rc = kv_fail(&j->err, KVORM_EBAD_REQUEST, "the request is %zu bytes, over the limit of %u", len,
                        KV_MAX_REQUEST_BYTES);
        return;
    }
    if (!(j->zone = kv_mp_zone_take())) {
        j->rc = kv_fail(&j->err, KVORM_EINTERNAL, "out of memory");
        return;
    }
    switch (kv_mp_unpack(j->zone, doc ? doc : "", len, &j->root)) {
    case KV_MP_OK:
        break;
    case KV_MP_TRUNCATED:
        j->rc = kv_fail(&j->err, KVORM_EBAD_REQUEST,
                        "the request is not MessagePack: truncated, or a length beyond its end");
        break;
    case KV_MP_TOO_DEEP:
        j->rc = kv_fail(&j->err, KVORM_EBAD_REQUEST, "the request is nested deeper than %d levels", KV_MAX_DEPTH);
        break;
    default:
        j->rc = kv_fail(&j->err, KVORM_EBAD_REQUEST,
                        "the request is not one well-formed MessagePack document (bad type byte or trailing bytes)");
    }
}

/* Whether dispatch leaves the job's store work as a step (reads by id or unique, writes) rather than doing it
 * at once (count, capabilities). */
static bool job_defers(const job *j)
{
    const msgpack_object *op = j->rc == 0 && j->root.type == MSGPACK_OBJECT_MAP ? kv_mp_map_get(&j->root, "op") : NULL;
    const kv_op *def = op ? kv_op_find(op) : NULL;
    return def && def->deferred && !kv_refs_runs_at_once(j->rq.db->schema, &j->root);
}

/* Runs the request, except its step for the store, which waits in j->step. The document is done with after this,
 * unless a step waits: what it does when it is finished (an include's where and orderBy) points into it. */
static void job_run(job *j)
{
    if (j->rc == 0)
        j->rc = dispatch(&j->rq, &j->root, &j->pk);
    j->rq.args = NULL;
    if (j->rc == 0 && j->step.waiting)
        return;
    kv_mp_zone_give(j->zone);
    j->zone = NULL;
}

/* Packs the response: the result, or the error document. Returns the status. */
static int job_finish(job *j)
{
    if (j->rc == 0 && j->step.waiting)
        j->rc = kv_pending_finish(&j->rq, &j->pk);
    kv_pending_free(&j->step);
    kv_mp_zone_give(j->zone);
    j->zone = NULL;
    if (j->rc != 0)
        return kv_pack_error(j->resp, &j->err, j->rq.opname, j->rq.opname_len);
    return 0;
}

/* The steps waiting go to the store in one call: the engine groups them into round trips. */
static void run_waiting(kvorm_db *db, kv_step **steps, size_t *n)
{
    if (*n > 0)
        db->engine->ops->run(db->engine, steps, *n);
    *n = 0;
}

void kv_exec_many(kvorm_db *db, size_t n, const char *const *docs, const size_t *lens, kv_mode mode,
                  msgpack_sbuffer *resps, int *statuses)
{
    job one, *jobs = n == 1 ? &one : malloc(sizeof(*jobs) * n);
    kv_step *first, **waiting = n == 1 ? &first : malloc(sizeof(*waiting) * n);
    size_t last_failed = n, nwaiting = 0;
    if (!jobs || !waiting) {
        if (jobs != &one)
            free(jobs);
        if (waiting != &first)
            free(waiting);
        kv_error err = {0};
        kv_fail(&err, KVORM_EINTERNAL, "out of memory for a batch of %zu requests", n);
        for (size_t i = 0; i < n; i++)
            statuses[i] = kv_pack_error(&resps[i], &err, NULL, 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        job *j = &jobs[i];
        job_parse(j, db, docs[i], lens[i], mode, &resps[i]);
        /* a request that works on the store at once runs only after the steps before it: the batch behaves as
         * if each request ran on its own, in order */
        if (!job_defers(j))
            run_waiting(db, waiting, &nwaiting);
        job_run(j);
        if (j->rc == 0 && j->step.waiting)
            waiting[nwaiting++] = &j->step.step;
    }
    run_waiting(db, waiting, &nwaiting);
    for (size_t i = 0; i < n; i++)
        if ((statuses[i] = job_finish(&jobs[i])) != 0)
            last_failed = i;
    /* the thread's last error is that of the last request that failed, or none */
    if (last_failed < n)
        kv_error_publish(&jobs[last_failed].err);
    else
        kv_error_clear();
    if (jobs != &one)
        free(jobs);
    if (waiting != &first)
        free(waiting);
}

int kv_exec(kvorm_db *db, const char *request_doc, size_t len, kv_mode mode, msgpack_sbuffer *resp)
{
    int status;
    kv_exec_many(db, 1, &request_doc, &len, mode, resp, &status);
    return status;
}
