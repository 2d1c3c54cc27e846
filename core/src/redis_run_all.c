/* All or nothing, the engine's run_all (docs/format.md, "All or nothing"): the writes (of one model, or of
 * several: a delete with its cascade) in one MULTI/EXEC, as DEL guard (the first model's), the check of each write ('?'), each write guarded by the number of checks that
 * passed ('!n'), DEL guard. No other client's command runs in between, so the checks see the store as the writes
 * will; a write runs only when every check passed, so all are applied or none is. A record that changed since it
 * was read (STALE), a script Redis forgot, or a generated id found taken make the whole group run again. */
#include "redis_steps.h"

#include <stdlib.h>
#include <string.h>

static void unapplied(stepx *sx)
{
    kv_record_free(&sx->st->out);
    sx->st->found = false;
    sx->st->rc = KV_STEP_UNAPPLIED;
}

static void free_replies(redisReply **reps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (reps[i])
            freeReplyObject(reps[i]);
    memset(reps, 0, n * sizeof(*reps));
}

/* The whole group failed with err's error before anything of it ran. */
static void fail_every(stepx *sx, size_t n, const kv_error *why_in)
{
    const kv_error why = *why_in;
    for (size_t i = 0; i < n; i++) {
        kv_step *st = sx[i].st;
        kv_record_free(&st->out);
        st->found = false;
        if (st->err != why_in) {
            kv_fail_at(st->err, why.code, st->model->name, NULL, "%s", why.message);
            kv_error_set_retryable(st->err, why.retryable);
        }
        st->rc = why.code;
    }
}

/* Builds the transaction. False when a write cannot be formatted (that step has its error) or out of memory. */
static bool build(kv_cmdbuf *cmds, stepx *sx, size_t n, const char *sha, kv_error *err)
{
    static const char *const multi[1] = {"MULTI"}, *const exec[1] = {"EXEC"};
    static const size_t multi_len[1] = {5}, exec_len[1] = {4};
    const char *del[2] = {"DEL", sx[0].k->guard.s};
    size_t del_len[2] = {3, sx[0].k->guard.len};
    kv_cmdbuf applies = {0};
    kv_cmdbuf_add(cmds, 1, multi, multi_len);
    kv_cmdbuf_add(cmds, 2, del, del_len);
    for (size_t i = 0; i < n; i++) {
        sx[i].checks = n;
        kv_redis_add_check_and_apply(cmds, &applies, &sx[i], sha);
        if (!sx[i].cmd) {
            kv_cmdbuf_free(&applies);
            return false;
        }
    }
    kv_cmdbuf_append(cmds, &applies);
    kv_cmdbuf_free(&applies);
    kv_cmdbuf_add(cmds, 2, del, del_len);
    kv_cmdbuf_add(cmds, 1, exec, exec_len);
    if (cmds->oom) {
        kv_fail(err, KVORM_EINTERNAL, "out of memory");
        return false;
    }
    return true;
}

/* Sends the group and reads its nrep replies into reps. Returns 0; or -1 when the connection failed (the error is
 * in err; *sent says whether the commands had left) or EXEC failed and nothing ran (the error is in err). */
static int exchange(redisContext *c, const kv_cmdbuf *cmds, redisReply **reps, size_t nrep, bool *broken,
                    bool *sent, kv_error *err)
{
    redisReply *r = NULL;
    if (kv_redis_send(c, cmds, "a write", broken, err) != 0)
        return -1;
    *sent = true;
    if (kv_redis_read(c, &r, "MULTI", broken, err) != 0)
        return -1;
    bool multi_ok = r->type != REDIS_REPLY_ERROR;
    freeReplyObject(r);
    /* Redis refused MULTI (an ACL without it): each command ran on its own, the guard still holding the writes
     * back unless every check passed; EXEC's reply is an error */
    for (size_t i = 0; i < nrep; i++) {
        if (kv_redis_read(c, &r, multi_ok ? "MULTI" : "a write", broken, err) != 0)
            return -1;
        if (multi_ok)
            freeReplyObject(r); /* +QUEUED */
        else
            reps[i] = r;
    }
    if (kv_redis_read(c, &r, "EXEC", broken, err) != 0)
        return -1;
    if (!multi_ok) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        /* nothing ran: a queued command was refused (OOM, LOADING), or EXEC itself (BUSY: the connection is
         * still in MULTI and is dropped) */
        if (!(r->str && strstr(r->str, "previous errors")))
            *broken = true;
        kv_redis_error(err, KVORM_EINTERNAL, NULL, "the all-or-nothing write", r);
        freeReplyObject(r);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != nrep) {
        kv_fail(err, KVORM_EINTERNAL, "%s", "unexpected reply to EXEC from Redis");
        freeReplyObject(r);
        *broken = true;
        return -1;
    }
    for (size_t i = 0; i < nrep; i++) {
        reps[i] = r->element[i];
        r->element[i] = NULL;
    }
    freeReplyObject(r);
    return 0;
}

/* One attempt: 0 done (every step has its outcome), 1 to run again (a record changed, a generated id was taken,
 * Redis forgot the script), -1 when the connection failed (every step has the error). */
static int attempt(redis_engine *e, redisContext *c, stepx *sx, size_t n, redisReply **reps, bool *broken)
{
    kv_error *err = sx[0].st->err;
    kv_cmdbuf cmds = {0};
    char sha[41];
    bool sent = false, failed = false, again = false, noscript = false;
    size_t nrep = 2 * n + 2;
    for (size_t i = 0; i < n; i++) {
        kv_redis_step_reset(&sx[i]);
        sx[i].mode = MODE_ALONE;
    }
    if (kv_redis_prepare(e, c, sx, n, broken) != 0) {
        kv_redis_fail_from(sx, n, 0, n, err, false);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        failed = failed || sx[i].st->rc != 0;
    if (!failed && kv_redis_conflict_at(sx, n) != n) {
        kv_fail_at(err, KVORM_EINTERNAL, sx[0].w->model->name, NULL,
                   "%s: two writes of one all-or-nothing group write the same record", sx[0].w->model->name);
        fail_every(sx, n, err);
        return 0;
    }
    kv_redis_sha(e, KV_SCRIPT_MAIN, sha);
    if (!failed && !build(&cmds, sx, n, sha, err)) {
        failed = true;
        if (cmds.oom)
            fail_every(sx, n, err);
    }
    if (failed) {
        kv_cmdbuf_free(&cmds);
        for (size_t i = 0; i < n; i++)
            if (sx[i].st->rc == 0)
                unapplied(&sx[i]);
        return 0;
    }
    int rc = exchange(c, &cmds, reps, nrep, broken, &sent, err);
    kv_cmdbuf_free(&cmds);
    if (rc != 0) {
        free_replies(reps, nrep);
        if (*broken)
            kv_redis_fail_from(sx, n, 0, n, err, sent);
        else
            fail_every(sx, n, err); /* EXECABORT: nothing ran */
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        noscript = noscript || kv_redis_is_noscript(reps[1 + i]);
    if (noscript) {
        /* every call of the transaction missed it (the script cache cannot change during EXEC): nothing ran */
        free_replies(reps, nrep);
        if (kv_redis_load_script(e, c, KV_SCRIPT_MAIN, broken, err) != 0) {
            fail_every(sx, n, err);
            return -1;
        }
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        sx[i].mode = MODE_CHECK;
        kv_redis_write_reply(&sx[i], reps[1 + i]);
        reps[1 + i] = NULL;
        failed = failed || sx[i].st->rc != 0;
        again = again || sx[i].state == S_RERUN;
    }
    if (!failed && !again) {
        for (size_t i = 0; i < n; i++) {
            kv_redis_step_reset(&sx[i]);
            sx[i].mode = MODE_APPLY;
            kv_redis_write_reply(&sx[i], reps[1 + n + i]);
            reps[1 + n + i] = NULL;
            if (sx[i].state == S_RERUN) /* a write the checks let through cannot need another go */
                sx[i].st->rc = kv_fail_at(sx[i].st->err, KVORM_EINTERNAL, sx[i].w->model->name, NULL,
                                          "%s: a checked write could not be applied", sx[i].w->model->name);
        }
        free_replies(reps, nrep);
        return 0;
    }
    free_replies(reps, nrep); /* the writes replied ABORTED */
    if (failed) {
        for (size_t i = 0; i < n; i++)
            if (sx[i].st->rc == 0)
                unapplied(&sx[i]);
        return 0;
    }
    return 1;
}

void kv_redis_run_all(kv_engine *eng, kv_step **steps, size_t n)
{
    redis_engine *e = (redis_engine *)eng;
    redisContext *c;
    bool broken = false;
    if (n == 0)
        return;
    stepx *sx = calloc(n, sizeof(*sx));
    redisReply **reps = calloc(2 * n + 2, sizeof(*reps));
    if (!sx || !reps) {
        for (size_t i = 0; i < n; i++) {
            memset(&steps[i]->out, 0, sizeof(steps[i]->out));
            steps[i]->found = false;
            steps[i]->rc = kv_fail(steps[i]->err, KVORM_EINTERNAL, "out of memory for %zu writes", n);
        }
        free(sx);
        free(reps);
        return;
    }
    kv_redis_steps_init(e, sx, steps, n);
    for (size_t i = 0; i < n; i++) {
        if (!steps[i]->write || sx[i].state == S_DONE) {
            if (sx[i].state != S_DONE)
                kv_fail_at(steps[i]->err, KVORM_EINTERNAL, steps[i]->model->name, NULL, "run_all takes writes only");
            fail_every(sx, n, steps[i]->err);
            goto out;
        }
        sx[i].guard = &sx[0].k->guard; /* one count of the checks passed, whatever model each writes */
    }
    if (kv_pool_acquire(&e->pool, &c, steps[0]->err) != 0) {
        fail_every(sx, n, steps[0]->err);
        goto out;
    }
    int rc = 1;
    for (int tries = 0; rc == 1 && tries < KV_REDIS_STALE_ATTEMPTS; tries++)
        rc = attempt(e, c, sx, n, reps, &broken);
    if (rc == 1) {
        kv_error *err = steps[0]->err;
        kv_fail_at(err, KVORM_EINTERNAL, steps[0]->model->name, NULL,
                   "%s: records kept changing between their read and their write (%d attempts), or an index "
                   "entry is missing (the check op finds it); nothing was written",
                   steps[0]->model->name, KV_REDIS_STALE_ATTEMPTS);
        kv_error_set_retryable(err, true);
        fail_every(sx, n, err);
    }
    kv_pool_release(&e->pool, c, broken);
out:
    for (size_t i = 0; i < n; i++)
        kv_redis_step_forget(&sx[i]);
    free(sx);
    free(reps);
}
