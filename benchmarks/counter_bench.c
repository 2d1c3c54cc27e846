/*
 * counter_bench - 8 writers incrementing one counter (docs/queries.md, Atomic number operations), three ways on one
 * Redis server, each for the same time:
 *
 *   counter_bench <redis-url> [--threads N] [--seconds S]
 *
 *   increment  kvorm update {data: {n: {increment: 1}}}: computed inside the write script, no read, no conflict
 *   hincrby    raw hiredis HINCRBY on a hash field: what Redis itself does (no record, no version, no format)
 *   ifversion  kvorm read-modify-write: findUnique, then update {n: n + 1, ifVersion}, again on CONFLICT
 *
 * Each thread has its own connection (kvorm: a db with pool_size N). Reported: increments per second, the ratio to
 * HINCRBY, and for ifversion the CONFLICT retries per increment. The final counter must equal the increments made
 * (checked: the run fails otherwise). Give it a throwaway server (scripts/bench-counter.sh starts one).
 * Exit status: 0 when the run completed, 1 on any error.
 */
#define _POSIX_C_SOURCE 200809L

#include <kvorm.h>

#include "bench_util.h"

#include <hiredis/hiredis.h>
#include <msgpack.h>
#include <pthread.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NS "cbench"
#define MAX_THREADS 64

static const char SCHEMA[] = "{\"namespace\":\"" NS "\",\"models\":{\"Counter\":{\"id\":{\"type\":\"string\"},"
                             "\"fields\":{\"n\":{\"type\":\"integer\",\"default\":0}}}}}";

typedef enum way { INCREMENT, HINCRBY, IFVERSION } way;

static const char *url;
static kvorm_db *db;
static double seconds = 2;
static atomic_bool stop;
static atomic_llong done_total, retries_total;

static void pack_update(msgpack_sbuffer *sb, bool increment, long long n, long long version)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pk_request_head(&pk, "Counter", "update", increment ? 3 : 4);
    PK_LIT(&pk, "where");
    msgpack_pack_map(&pk, 1);
    PK_LIT(&pk, "id");
    PK_LIT(&pk, "c");
    PK_LIT(&pk, "data");
    msgpack_pack_map(&pk, 1);
    PK_LIT(&pk, "n");
    if (increment) {
        msgpack_pack_map(&pk, 1);
        PK_LIT(&pk, "increment");
        msgpack_pack_int64(&pk, 1);
    } else {
        msgpack_pack_int64(&pk, n);
        PK_LIT(&pk, "ifVersion");
        msgpack_pack_int64(&pk, version);
    }
    PK_LIT(&pk, "select");
    msgpack_pack_map(&pk, 1);
    PK_LIT(&pk, "id");
    msgpack_pack_true(&pk);
}

/* The counter and its version, read with findUnique. */
static void read_counter(msgpack_sbuffer *sb, long long *n, long long *version)
{
    msgpack_packer pk;
    unsigned char *out;
    size_t len;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pk_request_head(&pk, "Counter", "findUnique", 2);
    PK_LIT(&pk, "where");
    msgpack_pack_map(&pk, 1);
    PK_LIT(&pk, "id");
    PK_LIT(&pk, "c");
    PK_LIT(&pk, "select");
    msgpack_pack_map(&pk, 2);
    PK_LIT(&pk, "n");
    msgpack_pack_true(&pk);
    PK_LIT(&pk, "$version");
    msgpack_pack_true(&pk);
    kv_exec_ok(db, sb->data, sb->size, &out, &len);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)out, len, NULL) != MSGPACK_UNPACK_SUCCESS)
        die("findUnique: not MessagePack");
    const msgpack_object *nv = map_get(&u.data, "n"), *vv = map_get(&u.data, "$version");
    if (!nv || !vv)
        die("findUnique: no n or $version");
    *n = nv->via.i64;
    *version = vv->via.i64;
    msgpack_unpacked_destroy(&u);
    kvorm_free(out);
}

static void *writer(void *arg)
{
    way w = (way)(intptr_t)arg;
    msgpack_sbuffer sb;
    redisContext *rc = NULL;
    long long done = 0, retries = 0;
    msgpack_sbuffer_init(&sb);
    if (w == HINCRBY) {
        const char *port = strrchr(url, ':');
        if (!port || !(rc = redisConnect("127.0.0.1", atoi(port + 1))) || rc->err)
            die("connect to %s", url);
    }
    if (w == INCREMENT)
        pack_update(&sb, true, 0, 0);
    while (!atomic_load(&stop)) {
        if (w == HINCRBY) {
            redisReply *r = redisCommand(rc, "HINCRBY rawcounter n 1");
            if (!r || r->type != REDIS_REPLY_INTEGER)
                die("HINCRBY failed");
            freeReplyObject(r);
        } else if (w == INCREMENT) {
            unsigned char *out;
            size_t len;
            kv_exec_ok(db, sb.data, sb.size, &out, &len);
            kvorm_free(out);
        } else {
            for (;;) {
                long long n, version;
                msgpack_sbuffer rb;
                unsigned char *out = NULL;
                size_t len = 0;
                msgpack_sbuffer_init(&rb);
                read_counter(&rb, &n, &version);
                msgpack_sbuffer_destroy(&rb);
                pack_update(&sb, false, n + 1, version);
                int st = kvorm_exec(&out, &len, db, (const unsigned char *)sb.data, sb.size);
                kvorm_free(out);
                if (st == KVORM_OK)
                    break;
                if (st != KVORM_ECONFLICT)
                    die("update: %s", kvorm_last_error_message());
                retries++;
            }
        }
        done++;
    }
    atomic_fetch_add(&done_total, done);
    atomic_fetch_add(&retries_total, retries);
    if (rc)
        redisFree(rc);
    msgpack_sbuffer_destroy(&sb);
    return NULL;
}

/* Increments per second of way w with n threads; *retries: CONFLICT retries per increment. */
static double run(way w, int n, double *retries)
{
    pthread_t t[MAX_THREADS];
    atomic_store(&stop, false);
    atomic_store(&done_total, 0);
    atomic_store(&retries_total, 0);
    double start = now_s();
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, writer, (void *)(intptr_t)w) != 0)
            die("pthread_create");
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    double elapsed = now_s() - start;
    *retries = atomic_load(&done_total) ? (double)atomic_load(&retries_total) / (double)atomic_load(&done_total) : 0;
    return (double)atomic_load(&done_total) / elapsed;
}

int main(int argc, char **argv)
{
    int threads = 8;
    bench_prog = "counter_bench";
    if (argc < 2)
        die("usage: counter_bench <redis-url> [--threads N] [--seconds S]");
    url = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else
            die("unknown option %s", argv[i]);
    }
    if (threads < 1 || threads > MAX_THREADS || seconds <= 0)
        die("--threads 1..%d, --seconds > 0", MAX_THREADS);
    kvorm_schema *schema = NULL;
    kvorm_open_options o;
    if (kvorm_schema_from_json(&schema, SCHEMA, sizeof(SCHEMA) - 1) != KVORM_OK ||
        kvorm_open_options_init(&o, KVORM_OPEN_OPTIONS_VERSION) != KVORM_OK)
        die("schema: %s", kvorm_last_error_message());
    o.pool_size = threads;
    if (kvorm_open(&db, url, schema, &o) != KVORM_OK)
        die("open %s: %s", url, kvorm_last_error_message());
    static const char create[] = "{\"model\":\"Counter\",\"op\":\"create\",\"args\":{\"data\":{\"id\":\"c\"}}}";
    char *out = NULL;
    size_t len;
    if (kvorm_exec_json(&out, &len, db, create, sizeof(create) - 1) != KVORM_OK)
        die("create the counter (is the server empty?): %s", kvorm_last_error_message());
    kvorm_free(out);

    double r_inc, r_raw, r_rmw, inc, raw, rmw;
    inc = run(INCREMENT, threads, &r_inc);
    raw = run(HINCRBY, threads, &r_raw);
    rmw = run(IFVERSION, threads, &r_rmw);
    long long n, version;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    read_counter(&sb, &n, &version);
    msgpack_sbuffer_destroy(&sb);
    printf("%d writers on one counter, %.1f s each\n", threads, seconds);
    printf("  increment   %9.0f increments/s   %.2fx HINCRBY\n", inc, inc / raw);
    printf("  hincrby     %9.0f increments/s   (raw hiredis)\n", raw);
    printf("  ifversion   %9.0f increments/s   %.2fx HINCRBY, %.2f CONFLICT retries per increment\n", rmw, rmw / raw,
           r_rmw);
    /* every successful update adds 1 to both the counter and its version (created at 0, version 1) */
    printf("  counter: %lld (version %lld): every kvorm increment counted: %s\n", n, version,
           n == version - 1 ? "yes" : "NO");
    kvorm_close(db);
    kvorm_schema_free(schema);
    return n == version - 1 ? 0 : 1;
}
