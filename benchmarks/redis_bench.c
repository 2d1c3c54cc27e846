/*
 * redis_bench - kvorm against raw hiredis on the same Redis server.
 *
 *   redis_bench <url> [seconds-per-case]
 *
 * <url> is redis://[user:password@]host[:port][/db] or unix:///path/to/redis.sock[?db=n&user=u&password=p]. Both
 * sides use the same kind of connection (TCP or unix socket), one request at a time, no pipelining. For every
 * case kvorm and raw hiredis run alternately (ABBA rounds, so a drift of the machine hits both sides alike), each
 * for the given time in total (default 2 s) after a warm-up, and a table of ops/s, the ratio kvorm/raw and the
 * target is printed. See benchmarks/README.md for what each case compares.
 *
 * Keys: kvorm writes under the namespace "bench", the raw side under "raw" (same layout, docs/format.md). Both
 * are cleaned up at the start (left-overs of an interrupted run) and at the end, by DEL of the keys known from
 * the ids sorted sets; never KEYS, SCAN or FLUSHALL.
 *
 * Exit status: 0 when every case ran (a MISS is reported, not an error), 1 on any error.
 */
#define _POSIX_C_SOURCE 200809L

#include <kvorm.h>

#include "bench_util.h"
#include "redis_conn.h" /* core/src: internal, for raw_connect */

#include <hiredis/hiredis.h>
#include <msgpack.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NRECORDS 1000
#define MANY 100 /* records per createMany (case 5) */

static const char SCHEMA_JSON[] =
    "{\"namespace\":\"bench\",\"models\":{\"User\":{\"id\":{\"type\":\"string\",\"generate\":\"ulid\"},"
    "\"fields\":{\"email\":{\"type\":\"string\",\"unique\":true},\"name\":{\"type\":\"string\"},"
    "\"age\":{\"type\":\"integer\"}}}}}";

/* kvorm's keys (namespace "bench") and the raw side's (namespace "raw"). */
#define K_PREFIX "bench:{User}:r:"
#define K_UNIQUE "bench:{User}:u:email"
#define K_IDS "bench:{User}:ids"
#define K_SEQ "bench:{User}:seq"
#define K_SCHEMA "bench:$schema"
#define R_PREFIX "raw:{User}:r:"
#define R_UNIQUE "raw:{User}:u:email"
#define R_IDS "raw:{User}:ids"

/* Raw equivalent of findUnique by a unique field: one round trip, as kvorm's own script does.
 * KEYS[1] unique hash; ARGV[1] record key prefix, ARGV[2] unique key. */
static const char LUA_GET_BY_UNIQUE[] =
    "local id = redis.call('HGET', KEYS[1], ARGV[2])\n"
    "if not id then return false end\n"
    "return {id, redis.call('HGETALL', ARGV[1] .. id)}\n";

/* Raw equivalent of create with one unique: KEYS[1] record key, KEYS[2] unique hash, KEYS[3] ids;
 * ARGV[1] unique key, ARGV[2] id, ARGV[3..] field/value pairs (with $v 1). */
static const char LUA_CREATE[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('id taken') end\n"
    "if redis.call('HGET', KEYS[2], ARGV[1]) then return redis.error_reply('unique taken') end\n"
    "redis.call('HSET', KEYS[1], unpack(ARGV, 3))\n"
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n"
    "redis.call('ZADD', KEYS[3], 0, ARGV[2])\n"
    "return 1\n";

/* Raw equivalent of update of one non-unique field: KEYS[1] record key; ARGV[1] field, ARGV[2] value. */
static const char LUA_UPDATE[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('not found') end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "return redis.call('HINCRBY', KEYS[1], '$v', 1)\n";

typedef struct script {
    const char *src;
    char sha[41];
} script;

typedef struct bench {
    const char *url;
    kvorm_db *db;
    redisContext *rc;
    char tag[16]; /* distinguishes this run's emails */

    /* The N records made for cases 1, 2 and 4: kvorm's and raw copies with the same ids and bytes. */
    char *ids[NRECORDS];
    char *emails[NRECORDS];
    msgpack_sbuffer req_by_id[NRECORDS];    /* prebuilt findUnique by id */
    msgpack_sbuffer req_by_email[NRECORDS]; /* prebuilt findUnique by email */
    char *raw_keys[NRECORDS];               /* raw:{User}:r:<id> */
    msgpack_sbuffer ukeys[NRECORDS];        /* canonical msgpack of the email = unique key */

    script get_by_unique, create, update;

    /* per-op state */
    size_t next;       /* record index, round robin */
    uint64_t seq;      /* counter for fresh emails, names and raw ids */
    msgpack_sbuffer buf;  /* per-op request (kvorm) or values (raw) */
    msgpack_sbuffer buf2;
    msgpack_packer pk;
    msgpack_packer pk2;
} bench;

static bench *g_bench; /* for the cleanup on a fatal error */
static void cleanup(bench *b);

/* bench_on_die: deletes the benchmark's keys when a fatal error ends the run. */
static void cleanup_on_die(void)
{
    bench *b = g_bench;
    g_bench = NULL;
    if (b)
        cleanup(b);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* kvorm's responses */

/* The string value of key in a MessagePack map (malloc'd), or NULL. */
static char *map_get_str(const void *data, size_t len, const char *key)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    char *res = NULL;
    if (msgpack_unpack_next(&u, data, len, &off) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_MAP) {
        size_t klen = strlen(key);
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            const msgpack_object *k = &u.data.via.map.ptr[i].key, *v = &u.data.via.map.ptr[i].val;
            if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen && memcmp(k->via.str.ptr, key, klen) == 0 &&
                v->type == MSGPACK_OBJECT_STR) {
                res = malloc(v->via.str.size + 1);
                if (!res)
                    die("out of memory");
                memcpy(res, v->via.str.ptr, v->via.str.size);
                res[v->via.str.size] = '\0';
                break;
            }
        }
    }
    msgpack_unpacked_destroy(&u);
    return res;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* raw hiredis */

static redisReply *cmd_argv(bench *b, int argc, const char **argv, const size_t *lens)
{
    redisReply *r = redisCommandArgv(b->rc, argc, argv, lens);
    if (!r)
        die("redis: %s", b->rc->errstr[0] ? b->rc->errstr : "connection lost");
    return r;
}

static redisReply *cmd(bench *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(b->rc, fmt, ap);
    va_end(ap);
    if (!r)
        die("redis: %s", b->rc->errstr[0] ? b->rc->errstr : "connection lost");
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "redis_bench: redis error for \"%s\": %s\n", fmt, r->str);
        freeReplyObject(r);
        die("aborting");
    }
    return r;
}

static void load_script(bench *b, script *s)
{
    redisReply *r = cmd(b, "SCRIPT LOAD %s", s->src);
    if (r->type != REDIS_REPLY_STRING || r->len != 40)
        die("SCRIPT LOAD: unexpected reply");
    memcpy(s->sha, r->str, 40);
    s->sha[40] = '\0';
    freeReplyObject(r);
}

/* EVALSHA sha nkeys keys... args...: argv[0..1] are filled in here. Reloads the script once on NOSCRIPT. */
static redisReply *evalsha(bench *b, script *s, int argc, const char **argv, size_t *lens)
{
    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[1] = s->sha;
    lens[1] = 40;
    redisReply *r = cmd_argv(b, argc, argv, lens);
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        load_script(b, s);
        argv[1] = s->sha;
        r = cmd_argv(b, argc, argv, lens);
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "redis_bench: raw EVALSHA failed: %s\n", r->str);
        freeReplyObject(r);
        die("aborting");
    }
    return r;
}

/* The raw side connects through kvorm's own URL parsing and connection set-up (AUTH, SELECT, timeouts), so both
 * sides use the same kind of connection; from then on it speaks plain hiredis. */
static void raw_connect(bench *b)
{
    kv_redis_config cfg;
    kv_pool pool;
    kv_error err;
    memset(&cfg, 0, sizeof cfg);
    memset(&err, 0, sizeof err);
    cfg.connect_timeout_ms = 2000;
    cfg.command_timeout_ms = 5000;
    cfg.pool_size = 1;
    if (kv_redis_parse_url(&cfg, b->url, &err) != 0 || kv_pool_init(&pool, &cfg, &err) != 0)
        die("raw connect to %s: %s", b->url, err.message);
    int rc = kv_pool_acquire(&pool, &b->rc, &err);
    kv_pool_destroy(&pool); /* the connection is ours now: the pool only lent it */
    if (rc != 0)
        die("raw connect to %s: %s", b->url, err.message);
}

/* Deletes every record listed in an ids sorted set (in batches), then the set itself. */
static void drain_ids(bench *b, const char *ids_key, const char *prefix)
{
    size_t plen = strlen(prefix);
    for (;;) {
        redisReply *r = cmd(b, "ZRANGE %s 0 499", ids_key);
        if (r->type != REDIS_REPLY_ARRAY)
            die("ZRANGE %s: unexpected reply", ids_key);
        size_t n = r->elements;
        if (n == 0) {
            freeReplyObject(r);
            break;
        }
        const char **argv = malloc((n + 2) * sizeof *argv);
        size_t *lens = malloc((n + 2) * sizeof *lens);
        char **keys = malloc(n * sizeof *keys);
        if (!argv || !lens || !keys)
            die("out of memory");
        argv[0] = "DEL";
        lens[0] = 3;
        for (size_t i = 0; i < n; i++) {
            const redisReply *e = r->element[i];
            keys[i] = malloc(plen + e->len);
            if (!keys[i])
                die("out of memory");
            memcpy(keys[i], prefix, plen);
            memcpy(keys[i] + plen, e->str, e->len);
            argv[i + 1] = keys[i];
            lens[i + 1] = plen + e->len;
        }
        freeReplyObject(cmd_argv(b, (int)n + 1, argv, lens));
        /* then ZREM the same members */
        argv[0] = "ZREM";
        lens[0] = 4;
        argv[1] = ids_key;
        lens[1] = strlen(ids_key);
        for (size_t i = 0; i < n; i++) {
            argv[i + 2] = r->element[i]->str;
            lens[i + 2] = r->element[i]->len;
        }
        freeReplyObject(cmd_argv(b, (int)n + 2, argv, lens));
        for (size_t i = 0; i < n; i++)
            free(keys[i]);
        free(keys);
        free(argv);
        free(lens);
        freeReplyObject(r);
    }
    freeReplyObject(cmd(b, "DEL %s", ids_key));
}

static void cleanup(bench *b)
{
    if (!b->rc || b->rc->err)
        return;
    drain_ids(b, K_IDS, K_PREFIX);
    drain_ids(b, R_IDS, R_PREFIX);
    freeReplyObject(cmd(b, "DEL %s %s %s %s", K_UNIQUE, K_SEQ, K_SCHEMA, R_UNIQUE));
}

/* ---------------------------------------------------------------------------------------------------------- */
/* the operations measured */

static void make_email(char *out, size_t cap, char side, const char *tag, uint64_t n)
{
    snprintf(out, cap, "%c%s-%08llu@bench.example", side, tag, (unsigned long long)n);
}

/* 1. findUnique by id */
static void op_kv_find_id(bench *b)
{
    size_t i = b->next++ % NRECORDS;
    unsigned char *out;
    size_t out_len;
    kv_exec_ok(b->db, b->req_by_id[i].data, b->req_by_id[i].size, &out, &out_len);
    if (out_len < 2 || out[0] == 0xc0)
        die("kvorm findUnique by id %s returned no record", b->ids[i]);
    kvorm_free(out);
}

static void op_raw_find_id(bench *b)
{
    size_t i = b->next++ % NRECORDS;
    const char *argv[2] = {"HGETALL", b->raw_keys[i]};
    size_t lens[2] = {7, strlen(b->raw_keys[i])};
    redisReply *r = cmd_argv(b, 2, argv, lens);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 8)
        die("raw HGETALL %s: unexpected reply", b->raw_keys[i]);
    freeReplyObject(r);
}

/* 2. findUnique by email */
static void op_kv_find_email(bench *b)
{
    size_t i = b->next++ % NRECORDS;
    unsigned char *out;
    size_t out_len;
    kv_exec_ok(b->db, b->req_by_email[i].data, b->req_by_email[i].size, &out, &out_len);
    if (out_len < 2 || out[0] == 0xc0)
        die("kvorm findUnique by email %s returned no record", b->emails[i]);
    kvorm_free(out);
}

static void op_raw_find_email(bench *b)
{
    size_t i = b->next++ % NRECORDS;
    const char *argv[6] = {NULL, NULL, "1", R_UNIQUE, R_PREFIX, b->ukeys[i].data};
    size_t lens[6] = {0, 0, 1, strlen(R_UNIQUE), strlen(R_PREFIX), b->ukeys[i].size};
    redisReply *r = evalsha(b, &b->get_by_unique, 6, argv, lens);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_ARRAY ||
        r->element[1]->elements != 8)
        die("raw get-by-unique %s: unexpected reply", b->emails[i]);
    freeReplyObject(r);
}

/* 3. create with one unique */

/* Packs the data of kvorm's new user n: {email, name, age}. */
static void pk_new_user(bench *b, uint64_t n)
{
    char email[96], name[32];
    make_email(email, sizeof email, 'k', b->tag, n);
    snprintf(name, sizeof name, "New User %06llu", (unsigned long long)(n % 1000000));
    msgpack_pack_map(&b->pk, 3);
    pk_str(&b->pk, "email");
    pk_str(&b->pk, email);
    pk_str(&b->pk, "name");
    pk_str(&b->pk, name);
    pk_str(&b->pk, "age");
    msgpack_pack_int64(&b->pk, (int64_t)(n % 100));
}

static void op_kv_create(bench *b)
{
    msgpack_sbuffer_clear(&b->buf);
    pk_request_head(&b->pk, "User", "create", 1);
    pk_str(&b->pk, "data");
    pk_new_user(b, b->seq++);
    unsigned char *out;
    size_t out_len;
    kv_exec_ok(b->db, b->buf.data, b->buf.size, &out, &out_len);
    kvorm_free(out);
}

static const char B32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* ULID-like 26-character text: 48-bit milliseconds (10 chars) + a counter (16 chars). */
static void make_raw_id(char out[27], uint64_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (int i = 9; i >= 0; i--, ms >>= 5)
        out[i] = B32[ms & 31];
    for (int i = 25; i >= 10; i--, n >>= 5)
        out[i] = B32[n & 31];
    out[26] = '\0';
}

/* The raw create of user n, as an EVALSHA of LUA_CREATE: appended to the connection's output when append,
 * else run and checked. */
static void raw_create(bench *b, uint64_t n, bool append)
{
    char email[96], name[32], id[27], key[64];
    make_email(email, sizeof email, 'r', b->tag, n);
    snprintf(name, sizeof name, "New User %06llu", (unsigned long long)(n % 1000000));
    make_raw_id(id, n);
    int klen = snprintf(key, sizeof key, R_PREFIX "%s", id);
    /* values, canonical msgpack: buf = email (also the unique key), buf2 = name then age */
    msgpack_sbuffer_clear(&b->buf);
    msgpack_sbuffer_clear(&b->buf2);
    pk_str(&b->pk, email);
    pk_str(&b->pk2, name);
    size_t name_len = b->buf2.size;
    msgpack_pack_int64(&b->pk2, (int64_t)(n % 100));
    const char *argv[16] = {NULL, NULL, "3", key, R_UNIQUE, R_IDS, b->buf.data, id,
                            "email", b->buf.data, "name", b->buf2.data, "age", b->buf2.data + name_len, "$v", "1"};
    size_t lens[16] = {0, 0, 1, (size_t)klen, strlen(R_UNIQUE), strlen(R_IDS), b->buf.size, 26,
                       5, b->buf.size, 4, name_len, 3, b->buf2.size - name_len, 2, 1};
    if (append) {
        argv[0] = "EVALSHA";
        lens[0] = 7;
        argv[1] = b->create.sha;
        lens[1] = 40;
        redisAppendCommandArgv(b->rc, 16, argv, lens); /* copies the arguments */
        return;
    }
    redisReply *r = evalsha(b, &b->create, 16, argv, lens);
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1)
        die("raw create: unexpected reply");
    freeReplyObject(r);
}

static void op_raw_create(bench *b)
{
    raw_create(b, b->seq++, false);
}

/* 5. createMany of MANY users: all or nothing. The raw side sends the same MANY creates as one MULTI/EXEC of
 * LUA_CREATE calls in one round trip: atomic as a group, but a failing create would not undo the others. */
static void op_kv_create_many(bench *b)
{
    msgpack_sbuffer_clear(&b->buf);
    pk_request_head(&b->pk, "User", "createMany", 1);
    pk_str(&b->pk, "data");
    msgpack_pack_array(&b->pk, MANY);
    for (int k = 0; k < MANY; k++)
        pk_new_user(b, b->seq++);
    unsigned char *out;
    size_t out_len;
    kv_exec_ok(b->db, b->buf.data, b->buf.size, &out, &out_len);
    kvorm_free(out);
}

static void op_raw_create_many(bench *b)
{
    redisAppendCommand(b->rc, "MULTI");
    for (int k = 0; k < MANY; k++)
        raw_create(b, b->seq++, true);
    redisAppendCommand(b->rc, "EXEC");
    redisReply *r = NULL;
    for (int k = 0; k < MANY + 2; k++) {
        if (redisGetReply(b->rc, (void **)&r) != REDIS_OK || !r)
            die("raw createMany: %s", b->rc->errstr);
        if (k < MANY + 1)
            freeReplyObject(r);
    }
    bool ok = r->type == REDIS_REPLY_ARRAY && r->elements == MANY;
    for (size_t k = 0; ok && k < r->elements; k++)
        ok = r->element[k]->type == REDIS_REPLY_INTEGER && r->element[k]->integer == 1;
    freeReplyObject(r);
    if (!ok)
        die("raw createMany: EXEC did not answer %d creates", MANY);
}

/* 4. update of one non-unique field (name) by id */
static void op_kv_update(bench *b)
{
    size_t i = b->next++ % NRECORDS;
    char name[32];
    snprintf(name, sizeof name, "Renamed %06llu", (unsigned long long)(b->seq++ % 1000000));
    msgpack_sbuffer_clear(&b->buf);
    pk_request_head(&b->pk, "User", "update", 2);
    pk_str(&b->pk, "where");
    msgpack_pack_map(&b->pk, 1);
    pk_str(&b->pk, "id");
    pk_str(&b->pk, b->ids[i]);
    pk_str(&b->pk, "data");
    msgpack_pack_map(&b->pk, 1);
    pk_str(&b->pk, "name");
    pk_str(&b->pk, name);
    unsigned char *out;
    size_t out_len;
    kv_exec_ok(b->db, b->buf.data, b->buf.size, &out, &out_len);
    kvorm_free(out);
}

static void op_raw_update(bench *b)
{
    size_t i = b->next++ % NRECORDS;
    char name[32];
    snprintf(name, sizeof name, "Renamed %06llu", (unsigned long long)(b->seq++ % 1000000));
    msgpack_sbuffer_clear(&b->buf);
    pk_str(&b->pk, name);
    const char *argv[6] = {NULL, NULL, "1", b->raw_keys[i], "name", b->buf.data};
    size_t lens[6] = {0, 0, 1, strlen(b->raw_keys[i]), 4, b->buf.size};
    redisReply *r = evalsha(b, &b->update, 6, argv, lens);
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 2)
        die("raw update: unexpected reply");
    freeReplyObject(r);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* setup */

/* Creates the N records through kvorm, then copies each stored hash and unique entry byte for byte to the raw
 * namespace under the same id, so both sides read the same data. Prebuilds the read requests. */
static void setup_records(bench *b)
{
    for (size_t i = 0; i < NRECORDS; i++) {
        char email[96], name[32];
        make_email(email, sizeof email, 'u', b->tag, i);
        snprintf(name, sizeof name, "Bench User %06zu", i);
        msgpack_sbuffer_clear(&b->buf);
        pk_request_head(&b->pk, "User", "create", 1);
        pk_str(&b->pk, "data");
        msgpack_pack_map(&b->pk, 3);
        pk_str(&b->pk, "email");
        pk_str(&b->pk, email);
        pk_str(&b->pk, "name");
        pk_str(&b->pk, name);
        pk_str(&b->pk, "age");
        msgpack_pack_int64(&b->pk, (int64_t)(i % 100));
        unsigned char *out;
        size_t out_len;
        kv_exec_ok(b->db, b->buf.data, b->buf.size, &out, &out_len);
        b->ids[i] = map_get_str(out, out_len, "id");
        if (!b->ids[i]) {
            fputs("redis_bench: create returned no string id: ", stderr);
            print_msgpack(stderr, out, out_len);
            fputc('\n', stderr);
            kvorm_free(out);
            die("aborting");
        }
        kvorm_free(out);
        b->emails[i] = strdup(email);
        if (!b->emails[i])
            die("out of memory");

        msgpack_packer pk;
        msgpack_sbuffer_init(&b->ukeys[i]);
        msgpack_packer_init(&pk, &b->ukeys[i], msgpack_sbuffer_write);
        pk_str(&pk, email);

        msgpack_sbuffer_init(&b->req_by_id[i]);
        msgpack_packer_init(&pk, &b->req_by_id[i], msgpack_sbuffer_write);
        pk_request_head(&pk, "User", "findUnique", 1);
        pk_str(&pk, "where");
        msgpack_pack_map(&pk, 1);
        pk_str(&pk, "id");
        pk_str(&pk, b->ids[i]);

        msgpack_sbuffer_init(&b->req_by_email[i]);
        msgpack_packer_init(&pk, &b->req_by_email[i], msgpack_sbuffer_write);
        pk_request_head(&pk, "User", "findUnique", 1);
        pk_str(&pk, "where");
        msgpack_pack_map(&pk, 1);
        pk_str(&pk, "email");
        pk_str(&pk, email);

        size_t idlen = strlen(b->ids[i]);
        b->raw_keys[i] = malloc(strlen(R_PREFIX) + idlen + 1);
        if (!b->raw_keys[i])
            die("out of memory");
        strcpy(b->raw_keys[i], R_PREFIX);
        strcat(b->raw_keys[i], b->ids[i]);

        /* copy kvorm's stored record */
        char kkey[600];
        snprintf(kkey, sizeof kkey, K_PREFIX "%s", b->ids[i]);
        redisReply *r = cmd(b, "HGETALL %s", kkey);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 8)
            die("kvorm's stored record %s has %zu entries, expected 8 (email, name, age, $v)", kkey,
                r->type == REDIS_REPLY_ARRAY ? r->elements : 0);
        const char *argv[10];
        size_t lens[10];
        argv[0] = "HSET";
        lens[0] = 4;
        argv[1] = b->raw_keys[i];
        lens[1] = strlen(b->raw_keys[i]);
        for (size_t k = 0; k < 8; k++) {
            argv[k + 2] = r->element[k]->str;
            lens[k + 2] = r->element[k]->len;
        }
        redisReply *w = cmd_argv(b, 10, argv, lens);
        if (w->type == REDIS_REPLY_ERROR)
            die("HSET %s: %s", b->raw_keys[i], w->str);
        freeReplyObject(w);

        /* the layout check: the stored values are the canonical msgpack the raw create writes */
        if (i == 0) {
            for (size_t k = 0; k < 8; k += 2) {
                const redisReply *f = r->element[k], *v = r->element[k + 1];
                if (f->len == 5 && memcmp(f->str, "email", 5) == 0 &&
                    (v->len != b->ukeys[i].size || memcmp(v->str, b->ukeys[i].data, v->len) != 0))
                    fprintf(stderr, "redis_bench: warning: kvorm stores email differently from the raw side\n");
                if (f->len == 2 && memcmp(f->str, "$v", 2) == 0 && (v->len != 1 || v->str[0] != '1'))
                    fprintf(stderr, "redis_bench: warning: kvorm's $v after create is not \"1\"\n");
            }
        }
        freeReplyObject(r);

        /* copy kvorm's unique entry (proves the unique key is what the raw side computes) */
        const char *hg[3] = {"HGET", K_UNIQUE, b->ukeys[i].data};
        size_t hgl[3] = {4, strlen(K_UNIQUE), b->ukeys[i].size};
        r = cmd_argv(b, 3, hg, hgl);
        if (r->type != REDIS_REPLY_STRING || r->len != idlen || memcmp(r->str, b->ids[i], idlen) != 0)
            die("kvorm's unique entry for %s is not where docs/format.md puts it (HGET %s <msgpack email>)", email,
                K_UNIQUE);
        freeReplyObject(r);
        const char *hs[4] = {"HSET", R_UNIQUE, b->ukeys[i].data, b->ids[i]};
        size_t hsl[4] = {4, strlen(R_UNIQUE), b->ukeys[i].size, idlen};
        freeReplyObject(cmd_argv(b, 4, hs, hsl));
        freeReplyObject(cmd(b, "ZADD %s 0 %s", R_IDS, b->ids[i]));
    }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* measuring */

typedef void (*op_fn)(bench *b);

/* Runs fn for secs; returns the count, the wall time and the CPU time of this process (user + system: the
 * client's own work with its syscalls, without the wait for the server). */
static uint64_t run_for(bench *b, op_fn fn, double secs, double *elapsed, double *cpu)
{
    uint64_t n = 0;
    double cpu0 = cpu_s();
    double start = now_s(), end = start + secs, t;
    do {
        fn(b);
        n++;
        t = now_s();
    } while (t < end);
    *elapsed = t - start;
    *cpu = cpu_s() - cpu0;
    return n;
}

typedef struct result {
    const char *name;
    double kv_ops, raw_ops;
    double lo, hi;   /* lowest and highest ratio of one round (kvorm turn / raw turn): the noise */
    double median;   /* the median round ratio: what a burst of noise on one side cannot move */
    double kv_cpu_us, raw_cpu_us; /* client CPU time (user + system) per operation */
    double target;   /* 0: none */
} result;

/* Warm-up, then rounds of one kvorm turn and one raw turn (alternating which goes first), secs in all per side. */
static result measure(bench *b, const char *name, op_fn kv, op_fn raw, double secs, double target)
{
    double warm = warmup_seconds(secs), el, cpu;
    run_for(b, kv, warm, &el, &cpu);
    run_for(b, raw, warm, &el, &cpu);
    int rounds = round_count(secs);
    uint64_t kn = 0, rn = 0;
    double kt = 0, rt = 0, kc = 0, rc = 0, lo = 1e300, hi = 0, ratios[MAX_ROUNDS];
    for (int round = 0; round < rounds; round++) {
        double k_rate = 0, r_rate = 0;
        for (int side = 0; side < 2; side++) {
            bool is_kv = (side == 0) == (round % 2 == 0);
            if (is_kv) {
                uint64_t n = run_for(b, kv, secs / rounds, &el, &cpu);
                kn += n;
                kt += el;
                kc += cpu;
                k_rate = (double)n / el;
            } else {
                uint64_t n = run_for(b, raw, secs / rounds, &el, &cpu);
                rn += n;
                rt += el;
                rc += cpu;
                r_rate = (double)n / el;
            }
        }
        double ratio = k_rate / r_rate;
        ratios[round] = ratio;
        if (ratio < lo)
            lo = ratio;
        if (ratio > hi)
            hi = ratio;
    }
    qsort(ratios, (size_t)rounds, sizeof ratios[0], compare_doubles);
    double median = median_sorted(ratios, rounds);
    result res = {name, (double)kn / kt, (double)rn / rt, lo, hi, median, kc * 1e6 / (double)kn,
                  rc * 1e6 / (double)rn, target};
    fprintf(stderr, "  %-34s done (%d rounds)\n", name, rounds);
    return res;
}

static void server_info(bench *b, char *ver, size_t cap)
{
    snprintf(ver, cap, "?");
    redisReply *r = cmd(b, "INFO server");
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        const char *p = strstr(r->str, "redis_version:");
        if (p) {
            p += strlen("redis_version:");
            size_t n = strcspn(p, "\r\n");
            if (n >= cap)
                n = cap - 1;
            memcpy(ver, p, n);
            ver[n] = '\0';
        }
    }
    freeReplyObject(r);
}

int main(int argc, char **argv)
{
    bench_prog = "redis_bench";
    bench_on_die = cleanup_on_die;
    if (argc < 2 || argc > 3 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: %s <redis://host:port | unix:///path> [seconds-per-case (default 2)]\n", argv[0]);
        return argc == 2 ? 0 : 2;
    }
    double secs = 2.0;
    if (argc == 3) {
        char *end;
        secs = strtod(argv[2], &end);
        if (*end || !(secs > 0) || secs > 3600) {
            fprintf(stderr, "redis_bench: bad seconds-per-case: %s\n", argv[2]);
            return 2;
        }
    }

    static bench B;
    bench *b = &B;
    b->url = argv[1];
    snprintf(b->tag, sizeof b->tag, "%05x", (unsigned)getpid() & 0xfffffu);
    msgpack_sbuffer_init(&b->buf);
    msgpack_sbuffer_init(&b->buf2);
    msgpack_packer_init(&b->pk, &b->buf, msgpack_sbuffer_write);
    msgpack_packer_init(&b->pk2, &b->buf2, msgpack_sbuffer_write);
    b->get_by_unique.src = LUA_GET_BY_UNIQUE;
    b->create.src = LUA_CREATE;
    b->update.src = LUA_UPDATE;

    raw_connect(b);
    g_bench = b;
    cleanup(b); /* left-overs of an interrupted run (and a stale bench:$schema) */
    load_script(b, &b->get_by_unique);
    load_script(b, &b->create);
    load_script(b, &b->update);

    kvorm_schema *schema = NULL;
    if (kvorm_schema_from_json(&schema, SCHEMA_JSON, strlen(SCHEMA_JSON)) != KVORM_OK)
        die("schema: %s", kvorm_last_error_message());
    kvorm_open_options opts;
    kvorm_open_options_init(&opts, KVORM_OPEN_OPTIONS_VERSION);
    opts.pool_size = 1; /* one request at a time on one connection, like the raw side */
    int st = kvorm_open(&b->db, b->url, schema, &opts);
    if (st != KVORM_OK)
        die("kvorm_open %s: status %d (%s): %s", b->url, st, kvorm_error_name(st), kvorm_last_error_message());
    kvorm_schema_free(schema);

    char ver[64];
    server_info(b, ver, sizeof ver);
    printf("kvorm %s vs raw hiredis, Redis %s over %s (%s), %g s per side per case, %d records\n", kvorm_version(),
           ver, strncmp(b->url, "unix://", 7) == 0 ? "unix socket" : "TCP", b->url, secs, NRECORDS);
    fflush(stdout);

    fprintf(stderr, "redis_bench: creating %d records\n", NRECORDS);
    setup_records(b);

    result res[5];
    res[0] = measure(b, "1. findUnique by id", op_kv_find_id, op_raw_find_id, secs, 0.9);
    res[1] = measure(b, "2. findUnique by unique (email)", op_kv_find_email, op_raw_find_email, secs, 0);
    res[2] = measure(b, "3. create (one unique)", op_kv_create, op_raw_create, secs, 0.8);
    res[3] = measure(b, "4. update one field by id", op_kv_update, op_raw_update, secs, 0);
    res[4] = measure(b, "5. createMany of 100 (one unique)", op_kv_create_many, op_raw_create_many, secs, 0);

    printf("\n| %-33s | %12s | %12s | %9s | %-21s | %-20s | %-19s |\n", "case", "kvorm ops/s", "raw ops/s",
           "kvorm/raw", "target (median)", "round ratios", "client CPU us/op k/r");
    printf("|%s|%s|%s|%s|%s|%s|%s|\n", "-----------------------------------", "-------------:", "-------------:",
           "----------:", "-----------------------", "----------------------", "---------------------");
    for (int i = 0; i < 5; i++) {
        double ratio = res[i].kv_ops / res[i].raw_ops;
        char target[48], spread[64];
        /* judged on the median round ratio: one noisy turn cannot decide it */
        if (res[i].target > 0)
            snprintf(target, sizeof target, ">= %.2fx %s", res[i].target,
                     res[i].median >= res[i].target ? "PASS" : "MISS");
        else
            snprintf(target, sizeof target, "- (report)");
        char cpu[48];
        snprintf(spread, sizeof spread, "%.2f / %.2f / %.2fx", res[i].lo, res[i].median, res[i].hi);
        snprintf(cpu, sizeof cpu, "%.1f / %.1f", res[i].kv_cpu_us, res[i].raw_cpu_us);
        printf("| %-33s | %12.0f | %12.0f | %8.2fx | %-21s | %-20s | %-19s |\n", res[i].name, res[i].kv_ops,
               res[i].raw_ops, ratio, target, spread, cpu);
    }
    fflush(stdout);

    g_bench = NULL;
    kvorm_close(b->db);
    cleanup(b);
    redisFree(b->rc);
    for (size_t i = 0; i < NRECORDS; i++) {
        free(b->ids[i]);
        free(b->emails[i]);
        free(b->raw_keys[i]);
        msgpack_sbuffer_destroy(&b->req_by_id[i]);
        msgpack_sbuffer_destroy(&b->req_by_email[i]);
        msgpack_sbuffer_destroy(&b->ukeys[i]);
    }
    msgpack_sbuffer_destroy(&b->buf);
    msgpack_sbuffer_destroy(&b->buf2);
    return 0;
}
