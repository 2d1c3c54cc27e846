/* Redis connections: URL parsing, connecting (AUTH, SELECT, timeouts) and a small pool, so that calls from
 * several threads on one kvorm_db run in parallel, each on its own connection. */
#ifndef KVORM_REDIS_CONN_H
#define KVORM_REDIS_CONN_H

#include "error.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdbool.h>

typedef struct kv_redis_config {
    bool is_unix;
    char host[256];
    int port;
    char path[4096];
    int db;
    char user[256];
    char password[256];
    int connect_timeout_ms;
    int command_timeout_ms;
    int pool_size;
} kv_redis_config;

/* Parses redis:// and unix:// URLs (docs/c-api.md). Values already in cfg are defaults the URL may override. */
int kv_redis_parse_url(kv_redis_config *cfg, const char *url, kv_error *err);

typedef struct kv_pool {
    kv_redis_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    redisContext **idle;
    int nidle;
    int total; /* connections open, idle or lent */
} kv_pool;

int kv_pool_init(kv_pool *p, const kv_redis_config *cfg, kv_error *err);
void kv_pool_destroy(kv_pool *p);
/* Lends a connection, connecting a new one while fewer than pool_size are open, else waiting for one. */
int kv_pool_acquire(kv_pool *p, redisContext **out, kv_error *err);
/* Gives it back. A broken connection is closed, and so are the idle ones: after a drop or a server restart
 * they are likely dead too, and the next call reconnects. */
void kv_pool_release(kv_pool *p, redisContext *c, bool broken);

/* Commands formatted in RESP, back to back: one command, or a pipeline of several sent in one write. */
typedef struct kv_cmdbuf {
    char *data;
    size_t len, cap;
    bool oom; /* an append ran out of memory; sending fails with INTERNAL */
} kv_cmdbuf;

void kv_cmdbuf_add(kv_cmdbuf *b, int argc, const char *const *argv, const size_t *lens);
/* Appends the commands of more, end to end. */
void kv_cmdbuf_append(kv_cmdbuf *b, const kv_cmdbuf *more);
void kv_cmdbuf_free(kv_cmdbuf *b);
/* Sends the buffer; what names the command in error messages. On an I/O failure returns CONNECTION or TIMEOUT
 * and sets *broken. */
int kv_redis_send(redisContext *c, const kv_cmdbuf *b, const char *what, bool *broken, kv_error *err);
/* Reads the next reply (the replies of a pipeline come in the order of its commands). */
int kv_redis_read(redisContext *c, redisReply **out, const char *what, bool *broken, kv_error *err);

/* Runs one command. On an I/O failure returns CONNECTION or TIMEOUT and sets *broken; *sent (when not NULL) says
 * whether the command had left, so that a failure may have come after it ran. A Redis error reply is returned as
 * a reply (REDIS_REPLY_ERROR) for the caller to interpret. */
int kv_redis_run(redisContext *c, int argc, const char **argv, const size_t *lens, redisReply **out, bool *broken,
                 bool *sent, kv_error *err);

/* Whether an error reply says Redis is up but cannot serve now and ran nothing: LOADING, BUSY, READONLY,
 * MASTERDOWN, TRYAGAIN, CLUSTERDOWN, NOREPLICAS, OOM. */
bool kv_redis_unavailable(const redisReply *r);
/* Records the error reply (or unexpected reply) r to `what` ("the write script", "HGETALL", ...): UNAVAILABLE
 * when kv_redis_unavailable says so, else code; the message names the model (when not NULL) and quotes Redis'
 * text, sanitized. Returns the code recorded. */
int kv_redis_error(kv_error *err, int code, const char *model, const char *what, const redisReply *r);

#endif
