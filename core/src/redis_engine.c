#include "redis_engine.h"

#include "redis_conn.h"
#include "redis_scripts.h"
#include "value.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SCRIPT_WRITE, SCRIPT_GET_BY_UNIQUE, SCRIPT_SCHEMA_CAS, NSCRIPTS };

static const char *const script_source[NSCRIPTS] = {kv_script_write, kv_script_get_by_unique, kv_script_schema_cas};

typedef struct redis_engine {
    kv_engine base;
    kv_pool pool;
    pthread_mutex_t sha_mu;
    char sha[NSCRIPTS][41];
} redis_engine;

/* ---- a growing argv of (pointer, length), with the strings it formats itself ---- */

typedef struct argbuf {
    const char **argv;
    size_t *lens;
    int n, cap;
    char **owned;
    int nowned, owned_cap;
    bool oom;
} argbuf;

static void arg_add(argbuf *a, const char *s, size_t len)
{
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 32;
        const char **argv = realloc(a->argv, sizeof(*argv) * (size_t)cap);
        if (argv)
            a->argv = argv;
        size_t *lens = realloc(a->lens, sizeof(*lens) * (size_t)cap);
        if (lens)
            a->lens = lens;
        if (!argv || !lens) {
            a->oom = true;
            return;
        }
        a->cap = cap;
    }
    a->argv[a->n] = s;
    a->lens[a->n++] = len;
}

static void arg_cstr(argbuf *a, const char *s) { arg_add(a, s, strlen(s)); }

/* Adds buf (malloc'd, len bytes) as an argument the argbuf frees; NULL means out of memory. */
static void arg_own(argbuf *a, char *buf, size_t len)
{
    if (buf && a->nowned == a->owned_cap) {
        int cap = a->owned_cap ? a->owned_cap * 2 : 16;
        char **o = realloc(a->owned, sizeof(*o) * (size_t)cap);
        if (o) {
            a->owned = o;
            a->owned_cap = cap;
        }
    }
    if (!buf || a->nowned == a->owned_cap) {
        free(buf);
        a->oom = true;
        return;
    }
    a->owned[a->nowned++] = buf;
    arg_add(a, buf, len);
}

/* Adds prefix + suffix (both binary-safe). */
static void arg_concat(argbuf *a, const char *p, size_t plen, const char *s, size_t slen)
{
    char *buf = malloc(plen + slen + 1);
    if (buf) {
        memcpy(buf, p, plen);
        memcpy(buf + plen, s, slen);
        buf[plen + slen] = '\0';
    }
    arg_own(a, buf, plen + slen);
}

static void arg_int(argbuf *a, int64_t v)
{
    /* small counts are most arguments: point at constant text instead of formatting */
    static const char *const small[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    char num[24];
    if (v >= 0 && v <= 9) {
        arg_add(a, small[v], 1);
        return;
    }
    int n = snprintf(num, sizeof(num), "%" PRId64, v);
    arg_concat(a, num, (size_t)n, "", 0);
}

static void arg_free(argbuf *a)
{
    for (int i = 0; i < a->nowned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->argv);
    free(a->lens);
}

/* ---- running commands and scripts on a pooled connection ---- */

static int load_script(redis_engine *e, redisContext *c, int which, bool *broken, kv_error *err)
{
    const char *argv[3] = {"SCRIPT", "LOAD", script_source[which]};
    size_t lens[3] = {6, 4, strlen(script_source[which])};
    redisReply *r;
    if (kv_redis_run(c, 3, argv, lens, &r, broken, NULL, err) != 0)
        return err->code;
    if (r->type != REDIS_REPLY_STRING || r->len != 40) {
        kv_redis_error(err, KVORM_EINTERNAL, NULL, "SCRIPT LOAD", r);
        freeReplyObject(r);
        return err->code;
    }
    pthread_mutex_lock(&e->sha_mu);
    memcpy(e->sha[which], r->str, 40);
    e->sha[which][40] = '\0';
    pthread_mutex_unlock(&e->sha_mu);
    freeReplyObject(r);
    return 0;
}

static bool is_noscript(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && r->str && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* argv[0] and argv[1] are filled here with EVALSHA and the script's SHA1; a script flushed from the server
 * (restart, SCRIPT FLUSH) is loaded again and the call retried once. Any other error reply is left in *out for
 * the caller to read. *sent says whether the EVALSHA that failed had left (its outcome is then unknown). */
static int run_script(redis_engine *e, redisContext *c, int which, argbuf *a, redisReply **out, bool *broken,
                      bool *sent, kv_error *err)
{
    char sha[41];
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_mutex_lock(&e->sha_mu);
        memcpy(sha, e->sha[which], sizeof(sha));
        pthread_mutex_unlock(&e->sha_mu);
        a->argv[0] = "EVALSHA";
        a->lens[0] = 7;
        a->argv[1] = sha;
        a->lens[1] = 40;
        if (kv_redis_run(c, a->n, a->argv, a->lens, out, broken, sent, err) != 0)
            return err->code;
        if (!is_noscript(*out) || attempt > 0)
            return 0;
        /* Redis ran nothing: load the script and send the call again */
        freeReplyObject(*out);
        *out = NULL;
        *sent = false;
        if (load_script(e, c, which, broken, err) != 0)
            return err->code;
    }
    return 0;
}

/* A write whose command left but whose reply was lost (the connection dropped or timed out) may or may not have
 * been applied: the message says so, and sending it again is not safe. */
static void write_outcome_unknown(kv_error *err)
{
    kv_fail_at(err, err->code, err->model, NULL, "%s; the write may or may not have been applied", err->message);
    kv_error_set_retryable(err, false);
}

/* ---- records ---- */

static void release_reply(void *r) { freeReplyObject(r); }

/* Reads HGETALL pairs into per-field pointers: kvorm's own `$v` becomes the version, fields unknown to the
 * schema (left by a newer compatible schema) are skipped. */
static int fill_record(kv_record *out, const kv_model *m, const redisReply *pairs, kv_error *err)
{
    out->values = calloc((size_t)m->nfields + 1, sizeof(*out->values));
    out->lens = calloc((size_t)m->nfields + 1, sizeof(*out->lens));
    if (!out->values || !out->lens)
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

void kv_record_free(kv_record *r)
{
    if (!r)
        return;
    free(r->values);
    free(r->lens);
    if (r->release && r->owner)
        r->release(r->owner);
    memset(r, 0, sizeof(*r));
}

/* The command of a read: HGETALL of the record by id, or the unique lookup script (argv[1] is sha). */
static void read_args(argbuf *a, const kv_step *st, const char *sha)
{
    const kv_model *m = st->model;
    const kv_locator *loc = st->loc;
    char prefix[KV_MAX_NAME * 2 + 16];
    int plen = snprintf(prefix, sizeof(prefix), "%sr:", m->prefix);
    if (!loc->unique) {
        arg_cstr(a, "HGETALL");
        arg_concat(a, prefix, (size_t)plen, loc->id, loc->id_len);
        return;
    }
    arg_cstr(a, "EVALSHA");
    arg_add(a, sha, 40);
    arg_cstr(a, "1");
    arg_cstr(a, loc->unique->key);
    arg_concat(a, prefix, (size_t)plen, "", 0);
    arg_add(a, loc->ukey, loc->ukey_len);
}

/* Reads the reply to a read into st; the reply is kept as the record's storage when found, else freed. */
static void read_reply(kv_step *st, redisReply *r)
{
    const kv_model *m = st->model;
    const redisReply *pairs = NULL;
    if (!st->loc->unique) {
        if (r->type != REDIS_REPLY_ARRAY) {
            st->rc = kv_redis_error(st->err, KVORM_EINTERNAL, m->name, "HGETALL", r);
        } else if (r->elements > 0) {
            st->out.id = st->loc->id;
            st->out.id_len = st->loc->id_len;
            pairs = r;
        }
    } else if (r->type == REDIS_REPLY_ERROR) {
        st->rc = kv_redis_error(st->err, KVORM_EINTERNAL, m->name, "the lookup script", r);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
               r->element[1]->type == REDIS_REPLY_ARRAY && r->element[1]->elements > 0) {
        st->out.id = r->element[0]->str;
        st->out.id_len = r->element[0]->len;
        pairs = r->element[1];
    }
    if (pairs && (st->rc = fill_record(&st->out, m, pairs, st->err)) == 0) {
        st->found = true;
        st->out.owner = r;
        st->out.release = release_reply;
        return;
    }
    kv_record_free(&st->out);
    freeReplyObject(r);
}

static const char *id_kind_code(const kv_model *m)
{
    return m->id_kind == KV_ID_INCREMENT ? "g" : m->id_kind == KV_ID_INTEGER ? "i" : "s";
}

/* Field name and value pairs, after their count when counted (a create's pairs run to the end instead). */
static void add_pairs(argbuf *a, const kv_model *m, const kv_field_value *fv, int n, bool counted)
{
    if (counted)
        arg_int(a, n);
    for (int i = 0; i < n; i++) {
        arg_cstr(a, m->fields[fv[i].field].name);
        arg_add(a, fv[i].data, fv[i].len);
    }
}

static const kv_field_value *create_value(const kv_write *w, int f)
{
    for (int i = 0; i < w->ncreate; i++)
        if (w->create[i].field == f)
            return &w->create[i];
    return NULL;
}

/* Can the write change constraint u's entry? A delete removes every entry; an update only those of constraints
 * with a field it sets or clears, so updating other fields costs the server no unique work at all. */
static bool may_move(const kv_write *w, const kv_unique *u)
{
    if (w->op == KV_WRITE_DELETE)
        return true;
    for (int k = 0; k < u->nfields; k++) {
        for (int i = 0; i < w->nset; i++)
            if (w->set[i].field == u->fields[k])
                return true;
        for (int i = 0; i < w->nunset; i++)
            if (w->unset[i] == u->fields[k])
                return true;
    }
    return false;
}

/* Finds the value a write gives to field f, to show it in an error. */
static const kv_field_value *written_value(const kv_write *w, int f)
{
    for (int i = 0; i < w->nset; i++)
        if (w->set[i].field == f)
            return &w->set[i];
    return create_value(w, f);
}

/* The unique key the create data gives constraint u (docs/format.md): its fields' canonical values end to end,
 * or '' when one of them is null (nulls never collide; no real key is empty). */
static void add_create_key(argbuf *a, const kv_write *w, const kv_unique *u)
{
    size_t total = 0;
    for (int i = 0; i < u->nfields; i++) {
        const kv_field_value *fv = create_value(w, u->fields[i]);
        if (!fv) {
            arg_add(a, "", 0);
            return;
        }
        total += fv->len;
    }
    if (u->nfields == 1) {
        const kv_field_value *fv = create_value(w, u->fields[0]);
        arg_add(a, fv->data, fv->len);
        return;
    }
    char *key = malloc(total + 1), *p = key;
    for (int i = 0; key && i < u->nfields; i++) {
        const kv_field_value *fv = create_value(w, u->fields[i]);
        memcpy(p, fv->data, fv->len);
        p += fv->len;
    }
    arg_own(a, key, total);
}

static int unique_error(const kv_write *w, long long which, kv_error *err)
{
    const kv_model *m = w->model;
    if (which <= 0 || which > m->nuniques) {
        char q[96];
        kv_quote(q, sizeof(q), w->new_id ? w->new_id : w->loc.id ? w->loc.id : "",
                 w->new_id ? w->new_id_len : w->loc.id ? w->loc.id_len : 0);
        return kv_fail_at(err, KVORM_EUNIQUE, m->name, "id", "%s: a record with id %s already exists", m->name, q);
    }
    const kv_unique *u = &m->uniques[which - 1];
    char vals[256] = "", one[128];
    size_t o = 0;
    err->model = m->name;
    err->nfields = 0;
    for (int i = 0; i < u->nfields; i++)
        kv_error_add_field(err, m->fields[u->fields[i]].name);
    for (int i = 0; i < u->nfields && o < sizeof(vals); i++) {
        const kv_field_value *fv = written_value(w, u->fields[i]);
        if (!fv)
            continue;
        kv_value_describe(one, sizeof(one), fv->data, fv->len);
        o += (size_t)snprintf(vals + o, sizeof(vals) - o, "%s%s %s", o ? ", " : "", m->fields[u->fields[i]].name,
                              one);
    }
    if (o >= sizeof(vals)) /* cut: at a code point */
        vals[kv_utf8_cut(vals, sizeof(vals) - 1)] = '\0';
    return kv_fail(err, KVORM_EUNIQUE, "%s: unique constraint %s is violated: another record has %s", m->name,
                   u->name, vals[0] ? vals : "the same value");
}

/* The arguments of the write script for w (argv[0] and argv[1], EVALSHA and the SHA1, are left empty). */
static void write_args(argbuf *a, const kv_write *w)
{
    static const char *const opnames[] = {"create", "update", "upsert", "delete"};
    const kv_model *m = w->model;
    size_t plen = strlen(m->prefix);
    arg_cstr(a, "");
    arg_cstr(a, "");
    arg_int(a, 2 + m->nuniques);
    arg_concat(a, m->prefix, plen, "ids", 3);
    arg_concat(a, m->prefix, plen, "seq", 3);
    for (int i = 0; i < m->nuniques; i++)
        arg_cstr(a, m->uniques[i].key);
    arg_cstr(a, opnames[w->op]);
    arg_concat(a, m->prefix, plen, "r:", 2);
    arg_cstr(a, id_kind_code(m));
    if (w->op == KV_WRITE_CREATE) {
        arg_cstr(a, "");
        arg_cstr(a, "");
        arg_cstr(a, "");
    } else if (!w->loc.unique) {
        arg_cstr(a, "i");
        arg_add(a, w->loc.id, w->loc.id_len);
        arg_cstr(a, "");
    } else {
        arg_cstr(a, "u");
        arg_int(a, w->loc.unique_index + 1);
        arg_add(a, w->loc.ukey, w->loc.ukey_len);
    }
    arg_add(a, w->new_id ? w->new_id : "", w->new_id ? w->new_id_len : 0);
    if (w->has_if_version)
        arg_int(a, w->if_version);
    else
        arg_cstr(a, "");
    for (int i = 0; i < m->nuniques; i++)
        add_create_key(a, w, &m->uniques[i]);
    add_pairs(a, m, w->create, w->ncreate, w->op != KV_WRITE_CREATE);
    if (w->op != KV_WRITE_CREATE) {
        add_pairs(a, m, w->set, w->nset, true);
        arg_int(a, w->nunset);
        for (int i = 0; i < w->nunset; i++)
            arg_cstr(a, m->fields[w->unset[i]].name);
        int moved = 0;
        for (int i = 0; i < m->nuniques; i++)
            moved += may_move(w, &m->uniques[i]);
        arg_int(a, moved);
        for (int i = 0; i < m->nuniques; i++) {
            if (!may_move(w, &m->uniques[i]))
                continue;
            arg_int(a, i + 1);
            arg_int(a, m->uniques[i].nfields);
            for (int k = 0; k < m->uniques[i].nfields; k++)
                arg_cstr(a, m->fields[m->uniques[i].fields[k]].name);
        }
    }
}

/* Reads the write script's reply into st; the reply is kept as the record's storage on success, else freed. */
static int write_reply(kv_step *st, redisReply *r)
{
    const kv_write *w = st->write;
    const kv_model *m = w->model;
    kv_record *out = &st->out;
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = kv_redis_error(st->err, KVORM_EINTERNAL, m->name, "the write script", r);
    } else if (r->type == REDIS_REPLY_STRING) {
        /* created: the reply is the id; the values are the caller's create data */
        out->id = r->str;
        out->id_len = r->len;
        out->version = 1;
        out->created = true;
        out->values = calloc((size_t)m->nfields + 1, sizeof(*out->values));
        out->lens = calloc((size_t)m->nfields + 1, sizeof(*out->lens));
        if (!out->values || !out->lens) {
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
    } else if (strcmp(r->element[0]->str, "NOTFOUND") == 0) {
        rc = kv_fail_at(st->err, KVORM_ENOTFOUND, m->name, NULL, "%s: no record matches", m->name);
    } else if (strcmp(r->element[0]->str, "UNIQUE") == 0 && r->elements == 2) {
        rc = unique_error(w, r->element[1]->integer, st->err);
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
        rc = fill_record(out, m, r->element[3], st->err);
    } else {
        rc = kv_fail(st->err, KVORM_EINTERNAL, "%s: unexpected reply from the write script", m->name);
    }
    if (rc == 0) {
        out->owner = r;
        out->release = release_reply;
    } else {
        kv_record_free(out);
        freeReplyObject(r);
    }
    return st->rc = rc;
}

/* The command of a step, in RESP, appended to cmds. */
static void add_step(kv_cmdbuf *cmds, const kv_step *st, const char *read_sha, const char *write_sha)
{
    argbuf a = {0};
    if (st->write) {
        write_args(&a, st->write);
        if (a.n >= 2) {
            a.argv[0] = "EVALSHA";
            a.lens[0] = 7;
            a.argv[1] = write_sha;
            a.lens[1] = 40;
        }
    } else {
        read_args(&a, st, read_sha);
    }
    if (a.oom)
        cmds->oom = true;
    else
        kv_cmdbuf_add(cmds, a.n, a.argv, a.lens);
    arg_free(&a);
}

/* Runs one step on its own: its script is loaded again if Redis has forgotten it. On a connection that broke
 * earlier in the batch nothing is sent. */
static void run_alone(redis_engine *e, redisContext *c, kv_step *st, bool *broken)
{
    static const char placeholder_sha[41] = "0000000000000000000000000000000000000000"; /* run_script sets it */
    argbuf a = {0};
    redisReply *r = NULL;
    bool sent = false;
    if (*broken) {
        st->rc = kv_fail_at(st->err, KVORM_ECONNECTION, st->model->name, NULL,
                            "%s: the connection to Redis broke earlier in the batch; this request was not sent",
                            st->model->name);
        return;
    }
    if (st->write)
        write_args(&a, st->write);
    else
        read_args(&a, st, placeholder_sha);
    if (a.oom)
        st->rc = kv_fail(st->err, KVORM_EINTERNAL, "out of memory");
    else if (st->write || st->loc->unique)
        st->rc = run_script(e, c, st->write ? SCRIPT_WRITE : SCRIPT_GET_BY_UNIQUE, &a, &r, broken, &sent, st->err);
    else
        st->rc = kv_redis_run(c, a.n, a.argv, a.lens, &r, broken, &sent, st->err);
    arg_free(&a);
    if (st->rc != 0) {
        if (sent && st->write)
            write_outcome_unknown(st->err);
        return;
    }
    if (st->write)
        write_reply(st, r);
    else
        read_reply(st, r);
}

static void reset_step(kv_step *st)
{
    kv_record_free(&st->out);
    st->found = false;
    st->rc = 0;
}

/* Takes the reply of step i; NOSCRIPT marks it for a rerun (rc 1). */
static void take_reply(kv_step *st, redisReply *r, bool *rerun)
{
    if (is_noscript(r)) {
        freeReplyObject(r);
        st->rc = 1;
        *rerun = true;
    } else if (st->write) {
        write_reply(st, r);
    } else {
        read_reply(st, r);
    }
}

/* Reads only: the commands go out in one write and the replies come back in order, so n reads cost one round
 * trip. A read whose lookup script Redis has forgotten is rerun alone (reads change nothing: order is moot). */
static size_t run_reads(redis_engine *e, redisContext *c, kv_step **steps, size_t n, const kv_cmdbuf *cmds,
                        bool *broken)
{
    size_t done = 0;
    bool rerun = false;
    if (kv_redis_send(c, cmds, "a read", broken, steps[0]->err) != 0)
        return 0;
    for (; done < n; done++) {
        redisReply *r;
        if (kv_redis_read(c, &r, steps[done]->loc->unique ? "EVALSHA" : "HGETALL", broken, steps[done]->err) != 0)
            return done;
        take_reply(steps[done], r, &rerun);
    }
    for (size_t i = 0; rerun && i < n; i++)
        if (steps[i]->rc == 1) {
            reset_step(steps[i]);
            run_alone(e, c, steps[i], broken);
        }
    return n;
}

/* Reruns alone, in order, the steps from first on that did not get their outcome: those whose script Redis had
 * forgotten, and the reads after them (a read must see the writes before it). A done write never reruns. */
static void rerun_from(redis_engine *e, redisContext *c, kv_step **steps, size_t n, size_t first, bool *broken)
{
    for (size_t i = first; i < n; i++) {
        if (steps[i]->write && steps[i]->rc != 1)
            continue;
        reset_step(steps[i]);
        run_alone(e, c, steps[i], broken);
    }
}

/* Takes the replies of steps (EXEC's array, or the replies of commands that ran on their own) in order; returns
 * the first step to rerun (n if none). */
static size_t take_replies(kv_step **steps, size_t n, redisReply **replies)
{
    size_t first_rerun = n;
    bool rerun = false;
    for (size_t i = 0; i < n; i++) {
        take_reply(steps[i], replies[i], &rerun);
        replies[i] = NULL; /* each step keeps its own reply */
        if (rerun && first_rerun == n)
            first_rerun = i;
    }
    return first_rerun;
}

/* Redis refused MULTI itself (an ACL without it, say): the commands after it ran one by one and their replies
 * are their own; EXEC's reply is an error. Returns the steps done, as run_transaction. */
static size_t take_unqueued(redis_engine *e, redisContext *c, kv_step **steps, size_t n, bool *broken)
{
    kv_error ignored = {0};
    redisReply *r;
    bool rerun = false;
    size_t first_rerun = n;
    for (size_t i = 0; i < n; i++) {
        if (kv_redis_read(c, &r, "a write", broken, steps[i]->err) != 0)
            return i;
        take_reply(steps[i], r, &rerun);
        if (rerun && first_rerun == n)
            first_rerun = i;
    }
    if (kv_redis_read(c, &r, "EXEC", broken, &ignored) == 0)
        freeReplyObject(r);
    rerun_from(e, c, steps, n, first_rerun, broken);
    return n;
}

/* Every step fails with the error that kept the transaction from running (nothing of it ran). */
static void fail_all(kv_step **steps, size_t n, const redisReply *why)
{
    for (size_t i = 0; i < n; i++)
        steps[i]->rc = kv_redis_error(steps[i]->err, KVORM_EINTERNAL, steps[i]->model->name, "the batch", why);
}

/* EXEC failed, and nothing of the transaction ran. When Redis refused a queued command (OOM at maxmemory, LOADING)
 * it discarded the transaction ("EXECABORT ... previous errors"): each step runs alone, in order, for its own
 * outcome. When it refused EXEC itself ("EXECABORT ... because of: BUSY ..." while a script runs) the connection
 * is still in MULTI: it is dropped, and every step fails with the reason. */
static void exec_failed(redis_engine *e, redisContext *c, kv_step **steps, size_t n, const redisReply *r,
                        bool *broken)
{
    const char *because = r->str ? strstr(r->str, "because of: ") : NULL;
    if (r->str && strncmp(r->str, "EXECABORT", 9) == 0 && strstr(r->str, "previous errors")) {
        for (size_t i = 0; i < n; i++)
            run_alone(e, c, steps[i], broken);
        return;
    }
    *broken = true;
    if (because) {
        redisReply reason = *r;
        reason.str = (char *)because + 12;
        reason.len = r->len - (size_t)(reason.str - r->str);
        fail_all(steps, n, &reason);
    } else {
        fail_all(steps, n, r);
    }
}

/* Writes (and reads by id) in one MULTI/EXEC: one round trip, and no other client's command runs in between, so
 * when Redis has forgotten the write script every write from the first that failed on it to the end failed
 * alike; those steps, and the reads among them, are rerun alone in order, which keeps the batch's order. *sent
 * tells a failure after the commands left (the writes' outcome is then unknown) from one before. */
static size_t run_transaction(redis_engine *e, redisContext *c, kv_step **steps, size_t n, const kv_cmdbuf *cmds,
                              bool *broken, bool *sent)
{
    redisReply *r = NULL;
    kv_error *err = steps[0]->err;
    bool multi_ok;
    if (kv_redis_send(c, cmds, "a write", broken, err) != 0)
        return 0;
    *sent = true;
    if (kv_redis_read(c, &r, "MULTI", broken, err) != 0)
        return 0;
    multi_ok = r->type != REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (!multi_ok)
        return take_unqueued(e, c, steps, n, broken);
    /* +QUEUED for each command (or the error that refused it), then EXEC's array of replies */
    for (size_t i = 0; i < n; i++) {
        if (kv_redis_read(c, &r, "MULTI", broken, err) != 0)
            return 0;
        freeReplyObject(r);
    }
    if (kv_redis_read(c, &r, "EXEC", broken, err) != 0)
        return 0;
    if (r->type == REDIS_REPLY_ERROR) {
        exec_failed(e, c, steps, n, r, broken);
        freeReplyObject(r);
        return n;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        kv_fail(err, KVORM_EINTERNAL, "%s", "unexpected reply to EXEC from Redis");
        freeReplyObject(r);
        *broken = true; /* the connection's state is unknown: do not reuse it */
        return 0;
    }
    size_t first_rerun = take_replies(steps, n, r->element);
    freeReplyObject(r);
    rerun_from(e, c, steps, n, first_rerun, broken);
    return n;
}

/* The connection failed at step `done` (a transaction fails as a whole: done is 0): it, every step after it and
 * the reruns before it share that error. When the commands had left (sent), the writes among the steps after it
 * may or may not have been applied; the reruns before it were never sent again. */
static void fail_from(kv_step **steps, size_t n, size_t done, bool sent)
{
    const kv_error why = *steps[done]->err; /* as it was, before the steps change theirs */
    for (size_t i = 0; i < n; i++) {
        if (i < done && steps[i]->rc != 1)
            continue;
        if (i != done) {
            kv_fail_at(steps[i]->err, why.code, steps[i]->model->name, NULL, "%s", why.message);
            kv_error_set_retryable(steps[i]->err, why.retryable);
        }
        if (sent && i >= done && steps[i]->write)
            write_outcome_unknown(steps[i]->err);
        steps[i]->rc = why.code;
    }
}

static void redis_run(kv_engine *eng, kv_step **steps, size_t n)
{
    static const char *const multi[1] = {"MULTI"}, *const exec[1] = {"EXEC"};
    static const size_t multi_len[1] = {5}, exec_len[1] = {4};
    redis_engine *e = (redis_engine *)eng;
    redisContext *c;
    kv_cmdbuf cmds = {0};
    bool broken = false, writes = false, sent = false;
    char read_sha[41], write_sha[41];
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        memset(&steps[i]->out, 0, sizeof(steps[i]->out));
        steps[i]->found = false;
        steps[i]->rc = 0;
        writes = writes || steps[i]->write;
    }
    if (n == 0)
        return;
    if (kv_pool_acquire(&e->pool, &c, steps[0]->err) != 0)
        goto failed;
    if (n == 1) {
        run_alone(e, c, steps[0], &broken);
        kv_pool_release(&e->pool, c, broken);
        return;
    }
    pthread_mutex_lock(&e->sha_mu);
    memcpy(read_sha, e->sha[SCRIPT_GET_BY_UNIQUE], sizeof(read_sha));
    memcpy(write_sha, e->sha[SCRIPT_WRITE], sizeof(write_sha));
    pthread_mutex_unlock(&e->sha_mu);
    if (writes)
        kv_cmdbuf_add(&cmds, 1, multi, multi_len);
    for (size_t i = 0; i < n; i++)
        add_step(&cmds, steps[i], read_sha, write_sha);
    if (writes)
        kv_cmdbuf_add(&cmds, 1, exec, exec_len);
    done = writes ? run_transaction(e, c, steps, n, &cmds, &broken, &sent)
                  : run_reads(e, c, steps, n, &cmds, &broken);
    kv_cmdbuf_free(&cmds);
    kv_pool_release(&e->pool, c, broken);
    if (done == n)
        return;
failed:
    fail_from(steps, n, done, sent);
}

static int redis_count(kv_engine *eng, const kv_model *m, int64_t *out, kv_error *err)
{
    redis_engine *e = (redis_engine *)eng;
    redisContext *c;
    redisReply *r;
    bool broken = false;
    char key[KV_MAX_NAME * 2 + 16];
    int rc, klen = snprintf(key, sizeof(key), "%sids", m->prefix);
    const char *argv[2] = {"ZCARD", key};
    size_t lens[2] = {5, (size_t)klen};
    if ((rc = kv_pool_acquire(&e->pool, &c, err)) != 0)
        return rc;
    rc = kv_redis_run(c, 2, argv, lens, &r, &broken, NULL, err);
    kv_pool_release(&e->pool, c, broken);
    if (rc != 0)
        return rc;
    if (r->type == REDIS_REPLY_INTEGER)
        *out = r->integer;
    else
        rc = kv_redis_error(err, KVORM_EINTERNAL, m->name, "ZCARD", r);
    freeReplyObject(r);
    return rc;
}

/* ---- schema layouts ---- */

static const redisReply *stored_layout(const redisReply *all, const char *model)
{
    size_t n = strlen(model);
    for (size_t i = 0; i + 1 < all->elements; i += 2)
        if (all->element[i]->len == n && memcmp(all->element[i]->str, model, n) == 0)
            return all->element[i + 1];
    return NULL;
}

/* Checks every model first and writes only when all are compatible; a layout changed by another process
 * between the read and the write makes the whole check run again. */
static int redis_sync_schema(kv_engine *eng, const kvorm_schema *s, kv_error *err)
{
    redis_engine *e = (redis_engine *)eng;
    redisContext *c;
    bool broken = false, sent = false;
    int rc;
    char key[KV_MAX_NAME + 16];
    int klen = snprintf(key, sizeof(key), "%s:$schema", s->ns);
    if ((rc = kv_pool_acquire(&e->pool, &c, err)) != 0)
        return rc;
    for (int attempt = 0; attempt < 5; attempt++) {
        const char *argv[2] = {"HGETALL", key};
        size_t lens[2] = {7, (size_t)klen};
        redisReply *all;
        bool retry = false;
        if ((rc = kv_redis_run(c, 2, argv, lens, &all, &broken, NULL, err)) != 0)
            break;
        if (all->type != REDIS_REPLY_ARRAY) {
            rc = kv_redis_error(err, KVORM_EINTERNAL, NULL, "HGETALL of the stored schema", all);
            freeReplyObject(all);
            break;
        }
        int *verdict = calloc((size_t)s->nmodels, sizeof(int));
        if (!verdict) {
            rc = kv_fail(err, KVORM_EINTERNAL, "out of memory");
            freeReplyObject(all);
            break;
        }
        for (int i = 0; rc == 0 && i < s->nmodels; i++) {
            const redisReply *st = stored_layout(all, s->models[i].name);
            verdict[i] = st ? kv_layout_compare(&s->models[i], st->str, st->len, err) : 1;
            if (verdict[i] < 0)
                rc = verdict[i];
        }
        for (int i = 0; rc == 0 && !retry && i < s->nmodels; i++) {
            if (verdict[i] != 1)
                continue;
            const redisReply *st = stored_layout(all, s->models[i].name);
            argbuf a = {0};
            redisReply *r = NULL;
            arg_cstr(&a, "");
            arg_cstr(&a, "");
            arg_cstr(&a, "1");
            arg_add(&a, key, (size_t)klen);
            arg_cstr(&a, s->models[i].name);
            arg_add(&a, st ? st->str : "", st ? st->len : 0);
            arg_add(&a, s->models[i].layout, s->models[i].layout_len);
            /* opening again is always safe (the schema script compares before it writes): the flag stays */
            rc = a.oom ? kv_fail(err, KVORM_EINTERNAL, "out of memory")
                       : run_script(e, c, SCRIPT_SCHEMA_CAS, &a, &r, &broken, &sent, err);
            arg_free(&a);
            if (rc == 0 && r->type == REDIS_REPLY_ERROR)
                rc = kv_redis_error(err, KVORM_EINTERNAL, NULL, "the schema script", r);
            if (rc == 0)
                retry = r->type == REDIS_REPLY_INTEGER && r->integer == 0;
            if (r)
                freeReplyObject(r);
        }
        free(verdict);
        freeReplyObject(all);
        if (rc != 0 || !retry)
            break;
    }
    kv_pool_release(&e->pool, c, broken);
    return rc;
}

static void redis_capabilities(kv_engine *eng, msgpack_packer *pk)
{
    static const char *const ops[] = {"create", "findUnique", "findUniqueOrThrow", "update", "upsert", "delete",
                                      "count"};
    (void)eng;
    msgpack_pack_map(pk, 15);
    kv_pack_cstr(pk, "engine");
    kv_pack_cstr(pk, "redis");
    kv_pack_cstr(pk, "formatVersion");
    msgpack_pack_int(pk, KV_FORMAT_VERSION);
    kv_pack_cstr(pk, "atomicWrites");
    msgpack_pack_true(pk);
    kv_pack_cstr(pk, "transactions");
    msgpack_pack_false(pk);
    kv_pack_cstr(pk, "ttl");
    msgpack_pack_false(pk);
    kv_pack_cstr(pk, "generatedIntegerIds");
    msgpack_pack_true(pk);
    kv_pack_cstr(pk, "generatedStringIds");
    msgpack_pack_array(pk, 2);
    kv_pack_cstr(pk, "ulid");
    kv_pack_cstr(pk, "uuidv7");
    kv_pack_cstr(pk, "uniqueConstraints");
    msgpack_pack_true(pk);
    kv_pack_cstr(pk, "compoundUnique");
    msgpack_pack_true(pk);
    kv_pack_cstr(pk, "optimisticLocking");
    msgpack_pack_true(pk);
    kv_pack_cstr(pk, "secondaryIndexes");
    msgpack_pack_false(pk);
    kv_pack_cstr(pk, "relations");
    msgpack_pack_false(pk);
    kv_pack_cstr(pk, "parallelCalls");
    msgpack_pack_true(pk);
    kv_pack_cstr(pk, "ops");
    msgpack_pack_array(pk, sizeof(ops) / sizeof(ops[0]));
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        kv_pack_cstr(pk, ops[i]);
    kv_pack_cstr(pk, "maxValueBytes");
    msgpack_pack_uint32(pk, KV_MAX_VALUE_BYTES);
}

static void redis_close(kv_engine *eng)
{
    redis_engine *e = (redis_engine *)eng;
    kv_pool_destroy(&e->pool);
    pthread_mutex_destroy(&e->sha_mu);
    free(e);
}

static const kv_engine_ops redis_ops = {
    "redis", redis_run, redis_count, redis_sync_schema, redis_capabilities, redis_close,
};

int kv_redis_engine_open(kv_engine **out, const char *url, const kvorm_open_options *opts, kv_error *err)
{
    kv_redis_config cfg;
    redis_engine *e;
    redisContext *c;
    bool broken = false;
    int rc;
    memset(&cfg, 0, sizeof(cfg));
    cfg.connect_timeout_ms = 2000;
    cfg.command_timeout_ms = 5000;
    cfg.pool_size = 8;
    *out = NULL;
    if ((rc = kv_redis_parse_url(&cfg, url, err)) != 0)
        return rc;
    /* options set explicitly win over the URL */
    if (opts && opts->connect_timeout_ms > 0)
        cfg.connect_timeout_ms = opts->connect_timeout_ms;
    if (opts && opts->command_timeout_ms > 0)
        cfg.command_timeout_ms = opts->command_timeout_ms;
    if (opts && opts->pool_size > 0)
        cfg.pool_size = opts->pool_size;
    if (!(e = calloc(1, sizeof(*e))))
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    e->base.ops = &redis_ops;
    pthread_mutex_init(&e->sha_mu, NULL);
    if ((rc = kv_pool_init(&e->pool, &cfg, err)) != 0) {
        pthread_mutex_destroy(&e->sha_mu);
        free(e);
        return rc;
    }
    /* connect now, so that a wrong address or password fails the open, and load the scripts once */
    if ((rc = kv_pool_acquire(&e->pool, &c, err)) != 0) {
        redis_close(&e->base);
        return rc;
    }
    for (int i = 0; rc == 0 && i < NSCRIPTS; i++)
        rc = load_script(e, c, i, &broken, err);
    kv_pool_release(&e->pool, c, broken);
    if (rc != 0) {
        redis_close(&e->base);
        return rc;
    }
    *out = &e->base;
    return 0;
}
