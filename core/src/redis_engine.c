/* The Redis engine: opening and closing, its facts for the capabilities map, its entry in the registry, and the
 * helpers its other files share (scripts, one-off commands, key names). */
#include "redis_engine.h"

#include "redis_internal.h"
#include "redis_scripts.h"
#include "value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const script_source[KV_NSCRIPTS] = {kv_script_main, kv_script_schema_cas};

/* ---- scripts ---- */

void kv_redis_sha(redis_engine *e, int which, char out[41])
{
    pthread_mutex_lock(&e->sha_mu);
    memcpy(out, e->sha[which], 41);
    pthread_mutex_unlock(&e->sha_mu);
}

int kv_redis_load_script(redis_engine *e, redisContext *c, int which, bool *broken, kv_error *err)
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

bool kv_redis_is_noscript(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && r->str && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

int kv_redis_script(redis_engine *e, redisContext *c, int which, argbuf *a, redisReply **out, bool *broken,
                    bool *sent, kv_error *err)
{
    char sha[41];
    bool ignored;
    if (!sent)
        sent = &ignored;
    for (int attempt = 0; attempt < 2; attempt++) {
        kv_redis_sha(e, which, sha);
        a->argv[0] = "EVALSHA";
        a->lens[0] = 7;
        a->argv[1] = sha;
        a->lens[1] = 40;
        if (kv_redis_run(c, a->n, a->argv, a->lens, out, broken, sent, err) != 0)
            return err->code;
        if (!kv_redis_is_noscript(*out) || attempt > 0)
            return 0;
        /* Redis ran nothing: load the script and send the call again */
        freeReplyObject(*out);
        *out = NULL;
        *sent = false;
        if (kv_redis_load_script(e, c, which, broken, err) != 0)
            return err->code;
    }
    return 0;
}

int kv_redis_command(redis_engine *e, const kv_model *m, const char *what, argbuf *a, redisReply **out,
                     kv_error *err)
{
    redisContext *c;
    bool broken = false;
    int rc;
    *out = NULL;
    if (a->oom)
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    if ((rc = kv_pool_acquire(&e->pool, &c, err)) != 0)
        return rc;
    rc = kv_redis_run(c, a->n, a->argv, a->lens, out, &broken, NULL, err);
    kv_pool_release(&e->pool, c, broken);
    if (rc != 0)
        return rc;
    if ((*out)->type == REDIS_REPLY_ERROR) {
        rc = kv_redis_error(err, KVORM_EINTERNAL, m ? m->name : NULL, what, *out);
        freeReplyObject(*out);
        *out = NULL;
    }
    return rc;
}

void kv_redis_outcome_unknown(kv_error *err)
{
    kv_fail_at(err, err->code, err->model, NULL, "%s; the write may or may not have been applied", err->message);
    kv_error_set_retryable(err, false);
}

/* ---- key names ---- */

const kv_model_keys *kv_redis_keys(redis_engine *e, const kv_model *m, kv_error *err)
{
    if (m->position < 0 || m->position >= e->nkeys || !e->keys[m->position].rec.s) {
        kv_fail_at(err, KVORM_EINTERNAL, m->name, NULL, "%s: the Redis engine has no key names for this model",
                   m->name);
        return NULL;
    }
    return &e->keys[m->position];
}

void arg_record_key(argbuf *a, const kv_model_keys *k, const char *id, size_t id_len)
{
    arg_concat(a, k->rec.s, k->rec.len, id, id_len);
}

/* ---- facts, open, close ---- */

static void redis_facts(kv_engine *eng, kv_engine_facts *f)
{
    redis_engine *e = (redis_engine *)eng;
    f->engine = "redis";
    snprintf(f->server_version, sizeof(f->server_version), "%s", e->server_version);
    f->parallel_calls = true; /* a pooled connection per call */
    f->scan_chunk = KV_REDIS_SCAN_CHUNK;
    f->writes_per_trip = KV_REDIS_WRITES_PER_TRIP;
    f->atomic_many = KV_REDIS_WRITES_PER_TRIP; /* one MULTI/EXEC: Redis serves nobody else meanwhile */
}

static void redis_close(kv_engine *eng)
{
    redis_engine *e = (redis_engine *)eng;
    kv_pool_destroy(&e->pool);
    pthread_mutex_destroy(&e->sha_mu);
    kv_redis_keys_free(e);
    free(e);
}

static const kv_engine_ops redis_ops = {
    .version = KV_ENGINE_INTERFACE_VERSION,
    .name = "redis",
    .run = kv_redis_run_steps,
    .run_all = kv_redis_run_all,
    .scan = kv_redis_scan,
    .scan_many = kv_redis_scan_many,
    .count = kv_redis_count,
    .sync_schema = kv_redis_sync_schema,
    .index_states = kv_redis_index_states,
    .build_index = kv_redis_build_index,
    .facts = redis_facts,
    .close = redis_close,
};

/* The server's version from INFO (for the capabilities); unknown stays "". */
static void read_server_version(redis_engine *e, redisContext *c, bool *broken)
{
    const char *argv[2] = {"INFO", "server"};
    size_t lens[2] = {4, 6};
    redisReply *r;
    kv_error ignored = {0};
    if (kv_redis_run(c, 2, argv, lens, &r, broken, NULL, &ignored) != 0)
        return;
    const char *v = r->type == REDIS_REPLY_STRING ? strstr(r->str, "redis_version:")
                                                                                   : NULL;
    if (v) {
        v += 14;
        size_t n = strcspn(v, "\r\n");
        kv_sanitize(e->server_version, sizeof(e->server_version), v, n);
    }
    freeReplyObject(r);
}

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
    for (int i = 0; rc == 0 && i < KV_NSCRIPTS; i++)
        rc = kv_redis_load_script(e, c, i, &broken, err);
    if (rc == 0 && !broken)
        read_server_version(e, c, &broken);
    kv_pool_release(&e->pool, c, broken);
    if (rc != 0) {
        redis_close(&e->base);
        return rc;
    }
    *out = &e->base;
    return 0;
}

static const char *const redis_schemes[] = {"redis", "unix", NULL};

const kv_engine_entry kv_redis_engine_entry = {redis_schemes, kv_redis_engine_open, false};
