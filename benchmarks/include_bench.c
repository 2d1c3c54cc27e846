/*
 * include_bench - loading a relation with findMany's include, beside the same data fetched by hand with raw
 * pipelined hiredis commands, on one Redis server.
 *
 *   include_bench <url> [--users U] [--posts P] [--take T] [--seconds S]
 *
 * U users (default 100), each with P posts (default 50) whose `at` counts up; the posts' index is
 * [authorId, at desc], the foreign key of their belongsTo author (docs/schema.md, Relations). The query:
 *   kvorm  findMany User {where: {id: {in: [the U ids]}}, include: {posts: {orderBy: {at: "desc"}, take: T}}}
 *   raw    1. a pipeline of U HGETALL of the users' records
 *          2. a pipeline of U ZRANGE BYLEX LIMIT 0 T on the posts' index (its at part is descending), with the
 *             bounds kvorm's explain gives for {where: {authorId}, orderBy: {at: "desc"}}
 *          3. a pipeline of the U x T HGETALL of the posts those keys name
 * Both answer the same rows (checked at setup); the raw side returns the raw hashes (values still MessagePack),
 * kvorm a decoded-ready response document. Reported: queries/s of each side and their ratio (ABBA rounds, the
 * median round ratio), Redis commands and round trips per query (INFO commandstats, total_reads_processed).
 *
 * Give it a throwaway server (scripts/bench-include.sh starts one): it refuses a database that is not empty.
 * Exit status: 0 when the run completed, 1 on any error.
 */
#define _POSIX_C_SOURCE 200809L

#include <kvorm.h>

#include "bench_util.h"

#include <hiredis/hiredis.h>
#include <msgpack.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NS "ibench"
#define POST_INDEX NS ":{Post}:x:authorId_at"

static const char SCHEMA[] =
    "{\"namespace\":\"" NS "\",\"models\":{"
    "\"User\":{\"id\":{\"type\":\"string\"},\"fields\":{\"name\":{\"type\":\"string\"}},"
    "\"relations\":{\"posts\":{\"hasMany\":\"Post\"}}},"
    "\"Post\":{\"id\":{\"type\":\"integer\"},\"fields\":{\"authorId\":{\"type\":\"string\"},"
    "\"at\":{\"type\":\"integer\"},\"title\":{\"type\":\"string\"}},"
    "\"indexes\":[[\"authorId\",{\"field\":\"at\",\"order\":\"desc\"}]],"
    "\"relations\":{\"author\":{\"belongsTo\":\"User\",\"fields\":[\"authorId\"]}}}}}";

typedef struct bench {
    kvorm_db *db;
    redisContext *rc;
    size_t users, posts, take;
    msgpack_sbuffer query;   /* the kvorm request */
    char **user_keys;        /* raw: the users' record keys */
    char **lo, **hi;         /* raw: per user, the index range's bounds (explain's) */
    size_t *lo_len, *hi_len;
} bench;

static void user_id(char *out, size_t cap, size_t u) { snprintf(out, cap, "u%05zu", u); }

static redisReply *reply(bench *b)
{
    void *r = NULL;
    if (redisGetReply(b->rc, &r) != REDIS_OK || !r)
        die("redis: %s", b->rc->errstr[0] ? b->rc->errstr : "connection lost");
    if (((redisReply *)r)->type == REDIS_REPLY_ERROR)
        die("redis error: %s", ((redisReply *)r)->str);
    return r;
}

static long long info(bench *b, const char *section, const char *name)
{
    redisReply *r = redisCommand(b->rc, "INFO %s", section);
    if (!r || r->type != REDIS_REPLY_STRING)
        die("INFO %s failed", section);
    long long v = info_field(r->str, name);
    freeReplyObject(r);
    return v;
}

/* Runs req; returns the decoded response in *u (the caller destroys it and frees *out). */
static const msgpack_object *exec_obj(bench *b, const msgpack_sbuffer *req, msgpack_unpacked *u, unsigned char **out)
{
    size_t len, off = 0;
    kv_exec_ok(b->db, req->data, req->size, out, &len);
    msgpack_unpacked_init(u);
    if (msgpack_unpack_next(u, (const char *)*out, len, &off) != MSGPACK_UNPACK_SUCCESS)
        die("kvorm's response is not MessagePack");
    return &u->data;
}

static void load(bench *b)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    unsigned char *out;
    size_t len;
    char id[32], title[48];
    pk_request_head(&pk, "User", "createMany", 1);
    PK_LIT(&pk, "data");
    msgpack_pack_array(&pk, b->users);
    for (size_t u = 0; u < b->users; u++) {
        user_id(id, sizeof id, u);
        msgpack_pack_map(&pk, 2);
        PK_LIT(&pk, "id");
        pk_str(&pk, id);
        PK_LIT(&pk, "name");
        pk_str(&pk, "a user of the include benchmark");
    }
    kv_exec_ok(b->db, sb.data, sb.size, &out, &len);
    kvorm_free(out);
    size_t total = b->users * b->posts;
    for (size_t from = 0; from < total; from += 1000) {
        size_t n = total - from < 1000 ? total - from : 1000;
        sb.size = 0;
        pk_request_head(&pk, "Post", "createMany", 1);
        PK_LIT(&pk, "data");
        msgpack_pack_array(&pk, n);
        for (size_t i = from; i < from + n; i++) {
            user_id(id, sizeof id, i % b->users);
            snprintf(title, sizeof title, "post %zu, of some length", i);
            msgpack_pack_map(&pk, 4);
            PK_LIT(&pk, "id");
            msgpack_pack_uint64(&pk, i + 1);
            PK_LIT(&pk, "authorId");
            pk_str(&pk, id);
            PK_LIT(&pk, "at");
            msgpack_pack_uint64(&pk, i / b->users);
            PK_LIT(&pk, "title");
            pk_str(&pk, title);
        }
        kv_exec_ok(b->db, sb.data, sb.size, &out, &len);
        kvorm_free(out);
    }
    msgpack_sbuffer_destroy(&sb);
}

/* The kvorm query and, per user, the raw side's keys and bounds (from explain). */
static void prepare(bench *b)
{
    msgpack_packer pk;
    char id[32];
    msgpack_sbuffer_init(&b->query);
    msgpack_packer_init(&pk, &b->query, msgpack_sbuffer_write);
    pk_request_head(&pk, "User", "findMany", 3);
    PK_LIT(&pk, "where");
    msgpack_pack_map(&pk, 1);
    PK_LIT(&pk, "id");
    msgpack_pack_map(&pk, 1);
    PK_LIT(&pk, "in");
    msgpack_pack_array(&pk, b->users);
    for (size_t u = 0; u < b->users; u++) {
        user_id(id, sizeof id, u);
        pk_str(&pk, id);
    }
    PK_LIT(&pk, "orderBy");
    msgpack_pack_map(&pk, 1);
    PK_LIT(&pk, "id");
    PK_LIT(&pk, "asc");
    PK_LIT(&pk, "include");
    msgpack_pack_map(&pk, 1);
    PK_LIT(&pk, "posts");
    msgpack_pack_map(&pk, 2);
    PK_LIT(&pk, "orderBy");
    msgpack_pack_map(&pk, 1);
    PK_LIT(&pk, "at");
    PK_LIT(&pk, "desc");
    PK_LIT(&pk, "take");
    msgpack_pack_uint64(&pk, b->take);

    b->user_keys = xmalloc(b->users * sizeof(char *));
    b->lo = xmalloc(b->users * sizeof(char *));
    b->hi = xmalloc(b->users * sizeof(char *));
    b->lo_len = xmalloc(b->users * sizeof(size_t));
    b->hi_len = xmalloc(b->users * sizeof(size_t));
    msgpack_sbuffer ex;
    msgpack_sbuffer_init(&ex);
    msgpack_packer_init(&pk, &ex, msgpack_sbuffer_write);
    for (size_t u = 0; u < b->users; u++) {
        user_id(id, sizeof id, u);
        b->user_keys[u] = xmalloc(64);
        snprintf(b->user_keys[u], 64, NS ":{User}:r:%s", id);
        ex.size = 0;
        pk_explain_head(&pk, "Post", "findMany");
        msgpack_pack_map(&pk, 2);
        PK_LIT(&pk, "where");
        msgpack_pack_map(&pk, 1);
        PK_LIT(&pk, "authorId");
        pk_str(&pk, id);
        PK_LIT(&pk, "orderBy");
        msgpack_pack_map(&pk, 1);
        PK_LIT(&pk, "at");
        PK_LIT(&pk, "desc");
        msgpack_unpacked un;
        unsigned char *out;
        const msgpack_object *plan = exec_obj(b, &ex, &un, &out);
        const msgpack_object *ranges = map_get(plan, "ranges"), *index = map_get(plan, "index");
        if (!index || index->type != MSGPACK_OBJECT_STR || index->via.str.size != 11 ||
            memcmp(index->via.str.ptr, "authorId_at", 11) != 0 || !ranges || ranges->type != MSGPACK_OBJECT_ARRAY ||
            ranges->via.array.size != 1 || ranges->via.array.ptr[0].type != MSGPACK_OBJECT_ARRAY ||
            ranges->via.array.ptr[0].via.array.size != 2)
            die("explain of a user's posts is not one range of authorId_at");
        const msgpack_object *rev = map_get(plan, "reverse");
        if (!rev || rev->type != MSGPACK_OBJECT_BOOLEAN || rev->via.boolean)
            die("explain of a user's posts reads the index in reverse: the raw side reads it forward");
        const msgpack_object *r = ranges->via.array.ptr[0].via.array.ptr;
        b->lo[u] = lex_bound(&r[0], false, &b->lo_len[u]);
        b->hi[u] = lex_bound(&r[1], true, &b->hi_len[u]);
        msgpack_unpacked_destroy(&un);
        kvorm_free(out);
    }
    msgpack_sbuffer_destroy(&ex);
}

/* kvorm's side: the query, its response checked by its array header. */
static void op_kv(bench *b)
{
    unsigned char *out;
    size_t len;
    kv_exec_ok(b->db, b->query.data, b->query.size, &out, &len);
    if (len < 3 || (b->users < 16 ? out[0] != (0x90 | b->users) : out[0] != 0xdc))
        die("kvorm returned other than %zu users", b->users);
    kvorm_free(out);
}

/* An integer id's record key from the end of an index member: the id element is 0x20 + 8 bytes big-endian with
 * the sign bit flipped (docs/format.md, "Index keys"). */
static size_t post_key(char *out, size_t cap, const redisReply *m)
{
    if (m->type != REDIS_REPLY_STRING || m->len < 9 || (unsigned char)m->str[m->len - 9] != 0x20)
        die("an index member does not end with an integer id element");
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | (unsigned char)m->str[m->len - 8 + i];
    return (size_t)snprintf(out, cap, NS ":{Post}:r:%lld", (long long)(v ^ (1ull << 63)));
}

/* The raw side, three pipelines; returns the posts read (their keys in keys). */
static size_t raw_fetch(bench *b, char (*keys)[64], redisReply **users, redisReply **posts)
{
    for (size_t u = 0; u < b->users; u++)
        redisAppendCommand(b->rc, "HGETALL %s", b->user_keys[u]);
    for (size_t u = 0; u < b->users; u++)
        users[u] = reply(b);
    char limit[24];
    snprintf(limit, sizeof limit, "%zu", b->take);
    for (size_t u = 0; u < b->users; u++) {
        /* at desc is the index's own order (a desc part): a forward range */
        const char *argv[8] = {"ZRANGE", POST_INDEX, b->lo[u], b->hi[u], "BYLEX", "LIMIT", "0", limit};
        size_t lens[8] = {6, strlen(POST_INDEX), b->lo_len[u], b->hi_len[u], 5, 5, 1, strlen(limit)};
        redisAppendCommandArgv(b->rc, 8, argv, lens);
    }
    size_t n = 0;
    for (size_t u = 0; u < b->users; u++) {
        redisReply *r = reply(b);
        for (size_t i = 0; i < r->elements; i++)
            post_key(keys[n++], 64, r->element[i]);
        freeReplyObject(r);
    }
    for (size_t i = 0; i < n; i++)
        redisAppendCommand(b->rc, "HGETALL %s", keys[i]);
    for (size_t i = 0; i < n; i++)
        posts[i] = reply(b);
    return n;
}

static char (*raw_keys)[64];
static redisReply **raw_users, **raw_posts;

static void op_raw(bench *b)
{
    size_t n = raw_fetch(b, raw_keys, raw_users, raw_posts);
    if (n != b->users * b->take)
        die("raw: %zu posts", n);
    for (size_t u = 0; u < b->users; u++)
        freeReplyObject(raw_users[u]);
    for (size_t i = 0; i < n; i++)
        freeReplyObject(raw_posts[i]);
}

/* The same posts both ways: kvorm's posts of each user are the raw side's keys, in order. */
static void check(bench *b)
{
    msgpack_unpacked un;
    unsigned char *out;
    const msgpack_object *rows = exec_obj(b, &b->query, &un, &out);
    size_t n = raw_fetch(b, raw_keys, raw_users, raw_posts);
    if (rows->type != MSGPACK_OBJECT_ARRAY || rows->via.array.size != b->users || n != b->users * b->take)
        die("setup: kvorm and raw do not find the same users and posts");
    for (size_t u = 0; u < b->users; u++) {
        const msgpack_object *posts = map_get(&rows->via.array.ptr[u], "posts");
        if (!posts || posts->type != MSGPACK_OBJECT_ARRAY || posts->via.array.size != b->take)
            die("setup: user %zu has no %zu posts", u, b->take);
        for (size_t i = 0; i < b->take; i++) {
            const msgpack_object *pid = map_get(&posts->via.array.ptr[i], "id");
            char want[64];
            snprintf(want, sizeof want, NS ":{Post}:r:%llu", pid ? (unsigned long long)pid->via.u64 : 0ull);
            if (strcmp(want, raw_keys[u * b->take + i]) != 0)
                die("setup: user %zu's post %zu: kvorm %s, raw %s", u, i, want, raw_keys[u * b->take + i]);
        }
        freeReplyObject(raw_users[u]);
    }
    for (size_t i = 0; i < n; i++)
        freeReplyObject(raw_posts[i]);
    msgpack_unpacked_destroy(&un);
    kvorm_free(out);
}

typedef void (*op_fn)(bench *b);

static uint64_t run_for(bench *b, op_fn fn, double secs, double *elapsed, double *cpu)
{
    uint64_t n = 0;
    double c0 = cpu_s(), start = now_s(), t;
    do {
        fn(b);
        n++;
        t = now_s();
    } while (t - start < secs);
    *elapsed = t - start;
    *cpu = cpu_s() - c0;
    return n;
}

/* Commands and round trips per query of fn over q queries (the INFO after them is a read of its own). */
static void per_query(bench *b, op_fn fn, size_t q, double *cmds, double *rts)
{
    long long c0 = info(b, "stats", "total_commands_processed"), r0 = info(b, "stats", "total_reads_processed");
    for (size_t i = 0; i < q; i++)
        fn(b);
    long long r1 = info(b, "stats", "total_reads_processed"), c1 = info(b, "stats", "total_commands_processed");
    *rts = (double)(r1 - r0 - 1) / (double)q;
    *cmds = (double)(c1 - c0 - 2) / (double)q; /* the INFO calls in between */
}

int main(int argc, char **argv)
{
    bench_prog = "include_bench";
    bench bb = {.users = 100, .posts = 50, .take = 10}, *b = &bb;
    double secs = 2;
    if (argc < 2 || argv[1][0] == '-')
        die("usage: include_bench <redis://host:port> [--users U] [--posts P] [--take T] [--seconds S]");
    for (int i = 2; i + 1 < argc; i += 2) {
        double v = strtod(argv[i + 1], NULL);
        if (strcmp(argv[i], "--users") == 0 && v >= 1 && v <= 1000)
            b->users = (size_t)v;
        else if (strcmp(argv[i], "--posts") == 0 && v >= 1 && v <= 10000)
            b->posts = (size_t)v;
        else if (strcmp(argv[i], "--take") == 0 && v >= 1 && v <= 1000)
            b->take = (size_t)v;
        else if (strcmp(argv[i], "--seconds") == 0 && v > 0)
            secs = v;
        else
            die("bad option %s %s", argv[i], argv[i + 1]);
    }
    if (b->take > b->posts)
        die("--take must be at most --posts");
    const char *hostport = strncmp(argv[1], "redis://", 8) == 0 ? argv[1] + 8 : argv[1];
    char host[128];
    int port = 6379;
    const char *colon = strrchr(hostport, ':');
    snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - hostport) : (int)strlen(hostport), hostport);
    if (colon)
        port = atoi(colon + 1);
    if (!(b->rc = redisConnect(host, port)) || b->rc->err)
        die("cannot connect to %s:%d", host, port);
    if (info(b, "keyspace", "db0") != -1)
        die("database 0 of %s is not empty: give the benchmark a server of its own", argv[1]);

    kvorm_schema *schema;
    if (kvorm_schema_from_json(&schema, SCHEMA, strlen(SCHEMA)) != KVORM_OK)
        die("schema: %s", kvorm_last_error_message());
    kvorm_open_options opts;
    kvorm_open_options_init(&opts, KVORM_OPEN_OPTIONS_VERSION);
    opts.pool_size = 1; /* one connection, as the raw side */
    if (kvorm_open(&b->db, argv[1], schema, &opts) != KVORM_OK)
        die("open %s: %s", argv[1], kvorm_last_error_message());
    kvorm_schema_free(schema);
    load(b);
    prepare(b);
    raw_keys = xmalloc(b->users * b->take * sizeof(*raw_keys));
    raw_users = xmalloc(b->users * sizeof(*raw_users));
    raw_posts = xmalloc(b->users * b->take * sizeof(*raw_posts));
    check(b);

    double el, cpu, ratios[MAX_ROUNDS], warm = warmup_seconds(secs);
    run_for(b, op_kv, warm, &el, &cpu);
    run_for(b, op_raw, warm, &el, &cpu);
    int rounds = round_count(secs);
    uint64_t kn = 0, rn = 0;
    double kt = 0, rt = 0, kc = 0, rc = 0;
    for (int r = 0; r < rounds; r++) {
        double kr = 0, rr = 0;
        for (int side = 0; side < 2; side++) {
            bool kv = (side == 0) == (r % 2 == 0);
            uint64_t n = run_for(b, kv ? op_kv : op_raw, secs / rounds, &el, &cpu);
            if (kv) {
                kn += n, kt += el, kc += cpu, kr = (double)n / el;
            } else {
                rn += n, rt += el, rc += cpu, rr = (double)n / el;
            }
        }
        ratios[r] = kr / rr;
    }
    qsort(ratios, (size_t)rounds, sizeof ratios[0], compare_doubles);
    double kcmds, krts, rcmds, rrts;
    per_query(b, op_kv, 20, &kcmds, &krts);
    per_query(b, op_raw, 20, &rcmds, &rrts);

    printf("include_bench: kvorm %s vs raw hiredis, %zu users x %zu posts, include of the latest %zu posts each, "
           "%g s per side\n\n",
           kvorm_version(), b->users, b->posts, b->take, secs);
    printf("| side | queries/s | ratio kvorm/raw (median round, lo-hi) | commands/query | socket reads/query (>= round trips) | "
           "client CPU us/query |\n|---|---:|---:|---:|---:|---:|\n");
    printf("| kvorm findMany + include | %.0f | %.2fx (%.2f-%.2f) | %.1f | %.1f | %.0f |\n", (double)kn / kt,
           median_sorted(ratios, rounds), ratios[0], ratios[rounds - 1], kcmds, krts, kc * 1e6 / (double)kn);
    printf("| raw hiredis, 3 pipelines | %.0f | | %.1f | %.1f | %.0f |\n", (double)rn / rt, rcmds, rrts,
           rc * 1e6 / (double)rn);
    printf("\nSUMMARY include_bench users=%zu posts=%zu take=%zu kv_qps=%.0f raw_qps=%.0f median=%.3f kv_rts=%.1f "
           "raw_rts=%.1f kv_cmds=%.1f raw_cmds=%.1f\n",
           b->users, b->posts, b->take, (double)kn / kt, (double)rn / rt, median_sorted(ratios, rounds), krts, rrts,
           kcmds, rcmds);
    kvorm_close(b->db);
    redisFree(b->rc);
    return 0;
}
