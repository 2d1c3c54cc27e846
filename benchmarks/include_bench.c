/*
 * include_bench - loading a relation with findMany's include, beside the same data fetched by hand with raw
 * pipelined hiredis commands, on one Redis server.
 *
 *   include_bench <redis-url> [--users U] [--posts P] [--take T] [--seconds S]
 *   include_bench lmdb:///<empty dir> --sqlite <new file> [--users U] [--posts P] [--take T] [--seconds S]
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
 * With an lmdb:// URL, the other side is SQLite (Debian's libsqlite3, WAL) with the same tables and index,
 * answering the same rows with one prepared JOIN: users by id (json_each of the ids), each one's posts from a
 * subquery ordered by at desc with LIMIT T on the index (author_id, at DESC); every column of every row read.
 *
 * Give it a throwaway server (scripts/bench-include.sh starts one): it refuses a database that is not empty.
 * Exit status: 0 when the run completed, 1 on any error.
 */
#define _POSIX_C_SOURCE 200809L

#include <kvorm.h>

#include "bench_util.h"

#include <hiredis/hiredis.h>
#include <msgpack.h>
#include <sqlite3.h>

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
    redisContext *rc;        /* the raw Redis side, or NULL */
    sqlite3 *sq;             /* the SQLite side (lmdb:// URLs), or NULL */
    sqlite3_stmt *join;
    char *ids_json;
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

/* ---- the SQLite side ---- */

static void sq_exec(bench *b, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(b->sq, sql, NULL, NULL, &msg) != SQLITE_OK)
        die("sqlite: %s: %s", sql, msg ? msg : "?");
}

static void sq_load(bench *b, const char *path)
{
    if (sqlite3_open_v2(path, &b->sq, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE, NULL) !=
        SQLITE_OK)
        die("sqlite3_open %s (it must not exist): %s", path, b->sq ? sqlite3_errmsg(b->sq) : "?");
    sq_exec(b, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
               "CREATE TABLE user (id TEXT PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID;"
               "CREATE TABLE post (id INTEGER PRIMARY KEY, author_id TEXT NOT NULL, at INTEGER NOT NULL,"
               " title TEXT NOT NULL);"
               "CREATE INDEX post_author_at ON post (author_id, at DESC); BEGIN");
    sqlite3_stmt *u, *p;
    if (sqlite3_prepare_v2(b->sq, "INSERT INTO user VALUES (?, ?)", -1, &u, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(b->sq, "INSERT INTO post VALUES (?, ?, ?, ?)", -1, &p, NULL) != SQLITE_OK)
        die("sqlite prepare: %s", sqlite3_errmsg(b->sq));
    char id[32], title[48];
    size_t used = 1;
    b->ids_json = xmalloc(b->users * 12 + 3);
    b->ids_json[0] = '[';
    for (size_t i = 0; i < b->users; i++) {
        user_id(id, sizeof id, i);
        used += (size_t)sprintf(b->ids_json + used, "%s\"%s\"", i ? "," : "", id);
        sqlite3_bind_text(u, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(u, 2, "a user of the include benchmark", -1, SQLITE_STATIC);
        if (sqlite3_step(u) != SQLITE_DONE)
            die("sqlite insert: %s", sqlite3_errmsg(b->sq));
        sqlite3_reset(u);
    }
    strcpy(b->ids_json + used, "]");
    for (size_t i = 0; i < b->users * b->posts; i++) {
        user_id(id, sizeof id, i % b->users);
        snprintf(title, sizeof title, "post %zu, of some length", i);
        sqlite3_bind_int64(p, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_text(p, 2, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(p, 3, (sqlite3_int64)(i / b->users));
        sqlite3_bind_text(p, 4, title, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(p) != SQLITE_DONE)
            die("sqlite insert: %s", sqlite3_errmsg(b->sq));
        sqlite3_reset(p);
    }
    sqlite3_finalize(u);
    sqlite3_finalize(p);
    sq_exec(b, "COMMIT; ANALYZE");
    if (sqlite3_prepare_v2(b->sq,
                           "SELECT u.id, u.name, p.id, p.author_id, p.at, p.title FROM user u JOIN post p ON p.id IN "
                           "(SELECT id FROM post WHERE author_id = u.id ORDER BY at DESC LIMIT ?1) "
                           "WHERE u.id IN (SELECT value FROM json_each(?2)) ORDER BY u.id, p.at DESC",
                           -1, &b->join, NULL) != SQLITE_OK)
        die("sqlite prepare: %s", sqlite3_errmsg(b->sq));
}

/* The JOIN, every column of every row read; returns the rows, the post ids in posts (when given). */
static size_t sq_run(bench *b, int64_t *posts)
{
    size_t n = 0;
    sqlite3_bind_int64(b->join, 1, (sqlite3_int64)b->take);
    sqlite3_bind_text(b->join, 2, b->ids_json, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(b->join)) == SQLITE_ROW) {
        for (int c = 0; c < 6; c++) {
            if (c == 2 || c == 4)
                (void)sqlite3_column_int64(b->join, c);
            else if (!sqlite3_column_text(b->join, c))
                die("sqlite: a NULL column");
        }
        if (posts)
            posts[n] = sqlite3_column_int64(b->join, 2);
        n++;
    }
    if (rc != SQLITE_DONE)
        die("sqlite: %s", sqlite3_errmsg(b->sq));
    sqlite3_reset(b->join);
    return n;
}

/* What SQLite plans for the JOIN (EXPLAIN QUERY PLAN), printed: it must use the index of (author_id, at). */
static void sq_plan(bench *b)
{
    sqlite3_stmt *st;
    const char *sql = sqlite3_sql(b->join);
    char *q = xmalloc(strlen(sql) + 24);
    sprintf(q, "EXPLAIN QUERY PLAN %s", sql);
    if (sqlite3_prepare_v2(b->sq, q, -1, &st, NULL) != SQLITE_OK)
        die("sqlite: %s", sqlite3_errmsg(b->sq));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)b->take);
    sqlite3_bind_text(st, 2, b->ids_json, -1, SQLITE_STATIC);
    printf("SQLite query plan:");
    while (sqlite3_step(st) == SQLITE_ROW)
        printf(" [%s]", sqlite3_column_text(st, 3));
    printf("\n");
    sqlite3_finalize(st);
    free(q);
}

static void op_sq(bench *b)
{
    if (sq_run(b, NULL) != b->users * b->take)
        die("sqlite: other than %zu rows", b->users * b->take);
}

/* The same posts as SQLite's, user by user, newest first. */
static void sq_check(bench *b)
{
    int64_t *posts = xmalloc(b->users * b->take * sizeof(*posts));
    if (sq_run(b, posts) != b->users * b->take)
        die("setup: sqlite found other than %zu rows", b->users * b->take);
    msgpack_unpacked un;
    unsigned char *out;
    const msgpack_object *rows = exec_obj(b, &b->query, &un, &out);
    for (size_t u = 0; u < b->users; u++) {
        const msgpack_object *ps = map_get(&rows->via.array.ptr[u], "posts");
        for (size_t i = 0; i < b->take; i++) {
            const msgpack_object *pid = ps && i < ps->via.array.size ? map_get(&ps->via.array.ptr[i], "id") : NULL;
            if (!pid || (int64_t)pid->via.u64 != posts[u * b->take + i])
                die("setup: user %zu's post %zu differs between kvorm and sqlite", u, i);
        }
    }
    msgpack_unpacked_destroy(&un);
    kvorm_free(out);
    free(posts);
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
    const char *sqlite_path = NULL;
    if (argc < 2 || argv[1][0] == '-')
        die("usage: include_bench <redis://host:port | lmdb:///dir --sqlite FILE> [--users U] [--posts P] "
            "[--take T] [--seconds S]");
    for (int i = 2; i + 1 < argc; i += 2) {
        double v = strtod(argv[i + 1], NULL);
        if (strcmp(argv[i], "--sqlite") == 0)
            sqlite_path = argv[i + 1];
        else if (strcmp(argv[i], "--users") == 0 && v >= 1 && v <= 1000)
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
    bool lmdb = strncmp(argv[1], "lmdb://", 7) == 0;
    if (lmdb && !sqlite_path)
        die("an lmdb:// URL needs --sqlite FILE, the other side's database (a new file)");
    if (!lmdb) {
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
    }

    kvorm_schema *schema;
    if (kvorm_schema_from_json(&schema, SCHEMA, strlen(SCHEMA)) != KVORM_OK)
        die("schema: %s", kvorm_last_error_message());
    kvorm_open_options opts;
    kvorm_open_options_init(&opts, KVORM_OPEN_OPTIONS_VERSION);
    if (!lmdb)
        opts.pool_size = 1; /* one connection, as the raw side */
    if (kvorm_open(&b->db, argv[1], schema, &opts) != KVORM_OK)
        die("open %s: %s", argv[1], kvorm_last_error_message());
    kvorm_schema_free(schema);
    load(b);
    prepare(b);
    op_fn other = op_raw;
    if (lmdb) {
        sq_load(b, sqlite_path);
        sq_check(b);
        sq_plan(b);
        other = op_sq;
    } else {
        raw_keys = xmalloc(b->users * b->take * sizeof(*raw_keys));
        raw_users = xmalloc(b->users * sizeof(*raw_users));
        raw_posts = xmalloc(b->users * b->take * sizeof(*raw_posts));
        check(b);
    }

    double el, cpu, ratios[MAX_ROUNDS], warm = warmup_seconds(secs);
    run_for(b, op_kv, warm, &el, &cpu);
    run_for(b, other, warm, &el, &cpu);
    int rounds = round_count(secs);
    uint64_t kn = 0, rn = 0;
    double kt = 0, rt = 0, kc = 0, rc = 0;
    for (int r = 0; r < rounds; r++) {
        double kr = 0, rr = 0;
        for (int side = 0; side < 2; side++) {
            bool kv = (side == 0) == (r % 2 == 0);
            uint64_t n = run_for(b, kv ? op_kv : other, secs / rounds, &el, &cpu);
            if (kv) {
                kn += n, kt += el, kc += cpu, kr = (double)n / el;
            } else {
                rn += n, rt += el, rc += cpu, rr = (double)n / el;
            }
        }
        ratios[r] = kr / rr;
    }
    qsort(ratios, (size_t)rounds, sizeof ratios[0], compare_doubles);
    double kcmds = 0, krts = 0, rcmds = 0, rrts = 0;
    if (!lmdb) {
        per_query(b, op_kv, 20, &kcmds, &krts);
        per_query(b, op_raw, 20, &rcmds, &rrts);
    }
    const char *vs = lmdb ? "SQLite JOIN (prepared)" : "raw hiredis, 3 pipelines";
    printf("include_bench: kvorm %s on %s vs %s, %zu users x %zu posts, include of the latest %zu posts each, "
           "%g s per side\n\n",
           kvorm_version(), lmdb ? "LMDB" : "Redis", vs, b->users, b->posts, b->take, secs);
    printf("| side | queries/s | ratio kvorm/other (median round, lo-hi) | commands/query | socket reads/query "
           "(>= round trips) | client CPU us/query |\n|---|---:|---:|---:|---:|---:|\n");
    if (lmdb) {
        printf("| kvorm findMany + include | %.0f | %.2fx (%.2f-%.2f) | - | - | %.0f |\n", (double)kn / kt,
               median_sorted(ratios, rounds), ratios[0], ratios[rounds - 1], kc * 1e6 / (double)kn);
        printf("| %s | %.0f | | - | - | %.0f |\n", vs, (double)rn / rt, rc * 1e6 / (double)rn);
    } else {
        printf("| kvorm findMany + include | %.0f | %.2fx (%.2f-%.2f) | %.1f | %.1f | %.0f |\n", (double)kn / kt,
               median_sorted(ratios, rounds), ratios[0], ratios[rounds - 1], kcmds, krts, kc * 1e6 / (double)kn);
        printf("| %s | %.0f | | %.1f | %.1f | %.0f |\n", vs, (double)rn / rt, rcmds, rrts, rc * 1e6 / (double)rn);
    }
    printf("\nSUMMARY include_bench engine=%s users=%zu posts=%zu take=%zu kv_qps=%.0f other_qps=%.0f median=%.3f "
           "kv_rts=%.1f raw_rts=%.1f kv_cmds=%.1f raw_cmds=%.1f\n",
           lmdb ? "lmdb" : "redis", b->users, b->posts, b->take, (double)kn / kt, (double)rn / rt,
           median_sorted(ratios, rounds), krts, rrts, kcmds, rcmds);
    kvorm_close(b->db);
    if (b->rc)
        redisFree(b->rc);
    if (b->sq) {
        sqlite3_finalize(b->join);
        sqlite3_close(b->sq);
    }
    free(b->ids_json);
    return 0;
}
