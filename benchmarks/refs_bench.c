/*
 * refs_bench - the writes that keep foreign keys consistent (docs/schema.md, Referential actions), beside the same
 * work written by hand: on Redis with raw hiredis, on LMDB beside SQLite with its foreign keys on.
 *
 *   refs_bench <redis-url> [--posts P] [--seconds S]
 *   refs_bench lmdb:///<empty dir> --sqlite <new file> [--posts P] [--seconds S]
 *
 * Two cases, each in ABBA rounds (the median round ratio, lo-hi):
 *   1. create of a post whose authorId must name a user:
 *        kvorm  create Post {id, authorId, title}: the target checked inside the write's script (or transaction)
 *        plain  the same create on a model without the relation (what the check costs)
 *        raw    one EVALSHA of a script that tests the user's key, then writes the post's hash, its ids entry and
 *               its authorId index entry; SQLite: one INSERT into post (author_id REFERENCES user, foreign_keys on)
 *   2. delete of a user whose P posts cascade (P default 20); only the delete is timed (the user and posts are
 *      made again between deletes, untimed):
 *        kvorm  delete User {id} with Post.author onDelete cascade
 *        raw    WATCH the index, ZRANGE BYLEX the user's posts, then MULTI: DEL the posts, ZREM their ids and index
 *               entries, DEL the user and ZREM its id, EXEC; SQLite: DELETE FROM user (ON DELETE CASCADE)
 *   3. create of a user with its P posts (made once per call, new ids each time):
 *        kvorm  create User {id, name, posts: {create: [P posts]}}: a nested write, one atomic write
 *        two    kvorm's create of the user, then createMany of the posts (two calls, not atomic together)
 *        raw    the same keys by hand in one pipeline (HSET and ZADDs; not atomic); SQLite: one transaction of
 *               the INSERTs
 * LMDB runs at sync=nosync beside SQLite WAL with synchronous=OFF: the cost of the work, not of the disk.
 *
 * Give it a throwaway server (scripts/bench-refs.sh starts one): it refuses a database that is not empty.
 * Exit status: 0 when the run completed, 1 on any error.
 */
#define _POSIX_C_SOURCE 200809L

#include <kvorm.h>

#include "bench_util.h"

#include <hiredis/hiredis.h>
#include <msgpack.h>
#include <sqlite3.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NS "rbench"
#define RAW "rraw"

static const char SCHEMA[] =
    "{\"namespace\":\"" NS "\",\"models\":{"
    "\"User\":{\"id\":{\"type\":\"string\"},\"fields\":{\"name\":{\"type\":\"string\"}},"
    "\"relations\":{\"posts\":{\"hasMany\":\"Post\"}}},"
    "\"Post\":{\"id\":{\"type\":\"integer\"},\"fields\":{\"authorId\":{\"type\":\"string\"},"
    "\"title\":{\"type\":\"string\"}},"
    "\"relations\":{\"author\":{\"belongsTo\":\"User\",\"fields\":[\"authorId\"],\"onDelete\":\"cascade\"}}},"
    "\"Plain\":{\"id\":{\"type\":\"integer\"},\"fields\":{\"authorId\":{\"type\":\"string\",\"index\":true},"
    "\"title\":{\"type\":\"string\"}}}}}";

/* The raw create: the user must exist and the post must not; then the post, its ids and index entries. */
static const char RAW_CREATE[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end\n"
    "redis.call('HSET', KEYS[2], '$v', '1', 'authorId', ARGV[1], 'title', ARGV[2])\n"
    "redis.call('ZADD', KEYS[3], 0, ARGV[3])\n"
    "redis.call('ZADD', KEYS[4], 0, ARGV[4])\n"
    "return 1\n";

typedef struct bench {
    kvorm_db *db;
    redisContext *rc; /* the raw Redis side, or NULL */
    sqlite3 *sq;      /* the SQLite side (lmdb:// URLs), or NULL */
    sqlite3_stmt *sq_post, *sq_user, *sq_delete;
    char sha[41];
    size_t posts;
    uint64_t next_id;   /* post ids, both sides */
    uint64_t next_user; /* users of the delete case */
    msgpack_sbuffer req;
    msgpack_packer pk;
} bench;

static redisReply *cmd(bench *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(b->rc, fmt, ap);
    va_end(ap);
    if (!r)
        die("redis: %s", b->rc->errstr);
    if (r->type == REDIS_REPLY_ERROR)
        die("redis error: %s", r->str);
    return r;
}

static redisReply *reply(bench *b)
{
    void *r = NULL;
    if (redisGetReply(b->rc, &r) != REDIS_OK || !r)
        die("redis: %s", b->rc->errstr[0] ? b->rc->errstr : "connection lost");
    if (((redisReply *)r)->type == REDIS_REPLY_ERROR)
        die("redis error: %s", ((redisReply *)r)->str);
    return r;
}

static void sq_exec(bench *b, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(b->sq, sql, NULL, NULL, &err) != SQLITE_OK)
        die("sqlite: %s: %s", sql, err ? err : "?");
}

static sqlite3_stmt *sq_prepare(bench *b, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(b->sq, sql, -1, &st, NULL) != SQLITE_OK)
        die("sqlite prepare: %s", sqlite3_errmsg(b->sq));
    return st;
}

static void sq_step_done(bench *b, sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        die("sqlite: %s", sqlite3_errmsg(b->sq));
    sqlite3_reset(st);
}

static void kv_run(bench *b)
{
    unsigned char *out;
    size_t len;
    kv_exec_ok(b->db, b->req.data, b->req.size, &out, &len);
    kvorm_free(out);
}

static void kv_create(bench *b, const char *model, const char *user)
{
    b->req.size = 0;
    pk_request_head(&b->pk, model, "create", 1);
    PK_LIT(&b->pk, "data");
    msgpack_pack_map(&b->pk, 3);
    PK_LIT(&b->pk, "id");
    msgpack_pack_uint64(&b->pk, ++b->next_id);
    PK_LIT(&b->pk, "authorId");
    pk_str(&b->pk, user);
    PK_LIT(&b->pk, "title");
    PK_LIT(&b->pk, "a post of the refs benchmark");
    kv_run(b);
}

/* ---- case 1: create with a checked foreign key ---- */

static void op_kv_create(bench *b) { kv_create(b, "Post", "author"); }
static void op_plain_create(bench *b) { kv_create(b, "Plain", "author"); }

static void op_raw_create(bench *b)
{
    char key[64], entry[64], id[24];
    uint64_t n = ++b->next_id;
    snprintf(id, sizeof id, "%llu", (unsigned long long)n);
    snprintf(key, sizeof key, RAW ":{Post}:r:%s", id);
    snprintf(entry, sizeof entry, "author%c%s", 0, id);
    redisReply *r = cmd(b, "EVALSHA %s 4 %s %s %s %s %b %s %s %b", b->sha, NS ":{User}:r:author", key,
                        RAW ":{Post}:ids", RAW ":{Post}:x:authorId", "\xa6" "author", (size_t)7,
                        "\xbc" "a post of the refs benchmark", id, entry, strlen("author") + 1 + strlen(id));
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1)
        die("the raw create did not write");
    freeReplyObject(r);
}

static void op_sq_create(bench *b)
{
    sqlite3_bind_int64(b->sq_post, 1, (sqlite3_int64)++b->next_id);
    sqlite3_bind_text(b->sq_post, 2, "author", -1, SQLITE_STATIC);
    sqlite3_bind_text(b->sq_post, 3, "a post of the refs benchmark", -1, SQLITE_STATIC);
    sq_step_done(b, b->sq_post);
}

/* ---- case 2: delete with a cascade ---- */

static void user_name(char *out, size_t cap, uint64_t u) { snprintf(out, cap, "d%08llu", (unsigned long long)u); }

static void kv_setup(bench *b, const char *user)
{
    b->req.size = 0;
    pk_request_head(&b->pk, "User", "create", 1);
    PK_LIT(&b->pk, "data");
    msgpack_pack_map(&b->pk, 2);
    PK_LIT(&b->pk, "id");
    pk_str(&b->pk, user);
    PK_LIT(&b->pk, "name");
    PK_LIT(&b->pk, "a user whose posts cascade");
    kv_run(b);
    b->req.size = 0;
    pk_request_head(&b->pk, "Post", "createMany", 1);
    PK_LIT(&b->pk, "data");
    msgpack_pack_array(&b->pk, b->posts);
    for (size_t i = 0; i < b->posts; i++) {
        msgpack_pack_map(&b->pk, 3);
        PK_LIT(&b->pk, "id");
        msgpack_pack_uint64(&b->pk, ++b->next_id);
        PK_LIT(&b->pk, "authorId");
        pk_str(&b->pk, user);
        PK_LIT(&b->pk, "title");
        PK_LIT(&b->pk, "a post of the refs benchmark");
    }
    kv_run(b);
}

static void kv_delete(bench *b, const char *user)
{
    b->req.size = 0;
    pk_request_head(&b->pk, "User", "delete", 2);
    PK_LIT(&b->pk, "where");
    msgpack_pack_map(&b->pk, 1);
    PK_LIT(&b->pk, "id");
    pk_str(&b->pk, user);
    PK_LIT(&b->pk, "select");
    msgpack_pack_map(&b->pk, 1);
    PK_LIT(&b->pk, "id");
    msgpack_pack_true(&b->pk);
    kv_run(b);
}

/* The raw layout of the same data: the user's hash and id, the posts' hashes, ids and authorId entries. */
static void raw_setup(bench *b, const char *user)
{
    char key[64], entry[64], id[24];
    redisAppendCommand(b->rc, "HSET " RAW ":{User}:r:%s $v 1 name %b", user, "\xba" "a user whose posts cascade",
                       (size_t)27);
    redisAppendCommand(b->rc, "ZADD " RAW ":{User}:ids 0 %s", user);
    for (size_t i = 0; i < b->posts; i++) {
        snprintf(id, sizeof id, "%llu", (unsigned long long)++b->next_id);
        snprintf(key, sizeof key, RAW ":{Post}:r:%s", id);
        int n = snprintf(entry, sizeof entry, "%s%c%s", user, 0, id);
        redisAppendCommand(b->rc, "HSET %s $v 1 authorId %s title %s", key, user, "a post of the refs benchmark");
        redisAppendCommand(b->rc, "ZADD " RAW ":{Post}:ids 0 %s", id);
        redisAppendCommand(b->rc, "ZADD " RAW ":{Post}:x:authorId 0 %b", entry, (size_t)n);
    }
    for (size_t i = 0; i < 2 + 3 * b->posts; i++)
        freeReplyObject(reply(b));
}

static void raw_delete(bench *b, const char *user)
{
    char lo[64], hi[64], key[64];
    int ln = snprintf(lo, sizeof lo, "[%s%c", user, 0), hn = snprintf(hi, sizeof hi, "(%s%c", user, 1);
    redisAppendCommand(b->rc, "WATCH " RAW ":{Post}:x:authorId");
    redisAppendCommand(b->rc, "ZRANGE " RAW ":{Post}:x:authorId %b %b BYLEX", lo, (size_t)ln, hi, (size_t)hn);
    freeReplyObject(reply(b));
    redisReply *members = reply(b);
    size_t at = strlen(user) + 1;
    redisAppendCommand(b->rc, "MULTI");
    for (size_t i = 0; i < members->elements; i++) {
        const redisReply *m = members->element[i];
        snprintf(key, sizeof key, RAW ":{Post}:r:%.*s", (int)(m->len - at), m->str + at);
        redisAppendCommand(b->rc, "DEL %s", key);
        redisAppendCommand(b->rc, "ZREM " RAW ":{Post}:ids %b", m->str + at, m->len - at);
        redisAppendCommand(b->rc, "ZREM " RAW ":{Post}:x:authorId %b", m->str, m->len);
    }
    redisAppendCommand(b->rc, "DEL " RAW ":{User}:r:%s", user);
    redisAppendCommand(b->rc, "ZREM " RAW ":{User}:ids %s", user);
    redisAppendCommand(b->rc, "EXEC");
    size_t replies = 4 + 3 * members->elements;
    for (size_t i = 0; i < replies; i++) {
        redisReply *r = reply(b);
        if (i + 1 == replies && (r->type != REDIS_REPLY_ARRAY || r->elements != replies - 2))
            die("the raw delete's EXEC did not run every command");
        freeReplyObject(r);
    }
    if (members->elements != b->posts)
        die("the raw delete found %zu posts, not %zu", members->elements, b->posts);
    freeReplyObject(members);
}

static void sq_setup(bench *b, const char *user)
{
    sq_exec(b, "BEGIN");
    sqlite3_bind_text(b->sq_user, 1, user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(b->sq_user, 2, "a user whose posts cascade", -1, SQLITE_STATIC);
    sq_step_done(b, b->sq_user);
    for (size_t i = 0; i < b->posts; i++) {
        sqlite3_bind_int64(b->sq_post, 1, (sqlite3_int64)++b->next_id);
        sqlite3_bind_text(b->sq_post, 2, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(b->sq_post, 3, "a post of the refs benchmark", -1, SQLITE_STATIC);
        sq_step_done(b, b->sq_post);
    }
    sq_exec(b, "COMMIT");
}

static void sq_delete(bench *b, const char *user)
{
    sqlite3_bind_text(b->sq_delete, 1, user, -1, SQLITE_TRANSIENT);
    sq_step_done(b, b->sq_delete);
    if (sqlite3_changes(b->sq) != 1)
        die("sqlite deleted no user");
}

typedef void (*op_fn)(bench *b);
typedef void (*user_fn)(bench *b, const char *user);

/* ---- case 3: a user created with its posts ---- */

static void kv_nested(bench *b, const char *user)
{
    b->req.size = 0;
    pk_request_head(&b->pk, "User", "create", 2);
    PK_LIT(&b->pk, "data");
    msgpack_pack_map(&b->pk, 3);
    PK_LIT(&b->pk, "id");
    pk_str(&b->pk, user);
    PK_LIT(&b->pk, "name");
    PK_LIT(&b->pk, "a user whose posts cascade");
    PK_LIT(&b->pk, "posts");
    msgpack_pack_map(&b->pk, 1);
    PK_LIT(&b->pk, "create");
    msgpack_pack_array(&b->pk, b->posts);
    for (size_t i = 0; i < b->posts; i++) {
        msgpack_pack_map(&b->pk, 2);
        PK_LIT(&b->pk, "id");
        msgpack_pack_uint64(&b->pk, ++b->next_id);
        PK_LIT(&b->pk, "title");
        PK_LIT(&b->pk, "a post of the refs benchmark");
    }
    PK_LIT(&b->pk, "select");
    msgpack_pack_map(&b->pk, 1);
    PK_LIT(&b->pk, "id");
    msgpack_pack_true(&b->pk);
    kv_run(b);
}

/* Each call makes a new user: the case 2 names, after the ones case 2 used. */
static void with_new_user(bench *b, user_fn fn)
{
    char user[24];
    user_name(user, sizeof user, ++b->next_user);
    fn(b, user);
}
static void op_kv_nested(bench *b) { with_new_user(b, kv_nested); }
static void op_kv_two_calls(bench *b) { with_new_user(b, kv_setup); }
static void op_raw_make(bench *b) { with_new_user(b, raw_setup); }
static void op_sq_make(bench *b) { with_new_user(b, sq_setup); }

/* Runs fn until about secs have passed; returns the calls. */
static uint64_t run_for(bench *b, op_fn fn, double secs, double *elapsed)
{
    uint64_t n = 0;
    double start = now_s(), t;
    do {
        fn(b);
        n++;
        t = now_s();
    } while (t - start < secs);
    *elapsed = t - start;
    return n;
}

/* Makes a user with its posts (untimed) and deletes it (timed) until about secs of deletes; returns the deletes. */
static uint64_t run_deletes(bench *b, user_fn setup, user_fn del, double secs, double *elapsed)
{
    uint64_t n = 0;
    double timed = 0;
    char user[24];
    do {
        user_name(user, sizeof user, ++b->next_user);
        setup(b, user);
        double t0 = now_s();
        del(b, user);
        timed += now_s() - t0;
        n++;
    } while (timed < secs);
    *elapsed = timed;
    return n;
}

static long long info(bench *b, const char *name)
{
    redisReply *r = cmd(b, "INFO stats");
    long long v = info_field(r->str, name);
    freeReplyObject(r);
    return v;
}

/* Redis commands and socket reads (at least the round trips) of one delete, over 20 (each INFO between counts 1). */
static void per_delete(bench *b, user_fn setup, user_fn del, double *cmds, double *reads)
{
    long long c = 0, r = 0;
    char user[24];
    for (int i = 0; i < 20; i++) {
        user_name(user, sizeof user, ++b->next_user);
        setup(b, user);
        long long c0 = info(b, "total_commands_processed"), r0 = info(b, "total_reads_processed");
        del(b, user);
        c += info(b, "total_commands_processed") - c0 - 2;
        r += info(b, "total_reads_processed") - r0 - 1;
    }
    *cmds = (double)c / 20, *reads = (double)r / 20;
}

typedef struct side {
    const char *name;
    op_fn op;                /* case 1 */
    user_fn setup, del;      /* case 2 */
} side;

/* ABBA rounds of a against o: per second of each, and the median round ratio a/o with its range in r[3]. */
static void measure(bench *b, const side *a, const side *o, bool deletes, double secs, double *a_rate,
                    double *o_rate, double r[3])
{
    double el, ratios[MAX_ROUNDS], warm = warmup_seconds(secs);
    const side *sides[2] = {a, o};
    for (int s = 0; s < 2; s++)
        deletes ? run_deletes(b, sides[s]->setup, sides[s]->del, warm, &el) : run_for(b, sides[s]->op, warm, &el);
    int rounds = round_count(secs);
    uint64_t n[2] = {0, 0};
    double t[2] = {0, 0};
    for (int k = 0; k < rounds; k++) {
        double rate[2];
        for (int turn = 0; turn < 2; turn++) {
            int s = (turn == 0) == (k % 2 == 0) ? 0 : 1;
            uint64_t c = deletes ? run_deletes(b, sides[s]->setup, sides[s]->del, secs / rounds, &el)
                                 : run_for(b, sides[s]->op, secs / rounds, &el);
            n[s] += c, t[s] += el, rate[s] = (double)c / el;
        }
        ratios[k] = rate[0] / rate[1];
    }
    qsort(ratios, (size_t)rounds, sizeof ratios[0], compare_doubles);
    *a_rate = (double)n[0] / t[0];
    *o_rate = (double)n[1] / t[1];
    r[0] = median_sorted(ratios, rounds), r[1] = ratios[0], r[2] = ratios[rounds - 1];
}

static void sq_open(bench *b, const char *path)
{
    if (sqlite3_open(path, &b->sq) != SQLITE_OK)
        die("sqlite open %s: %s", path, sqlite3_errmsg(b->sq));
    sq_exec(b, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA foreign_keys=ON;"
               "CREATE TABLE user (id TEXT PRIMARY KEY, name TEXT NOT NULL);"
               "CREATE TABLE post (id INTEGER PRIMARY KEY, author_id TEXT NOT NULL REFERENCES user(id) "
               "ON DELETE CASCADE, title TEXT NOT NULL);"
               "CREATE INDEX post_author ON post (author_id);"
               "INSERT INTO user VALUES ('author', 'the author of case 1')");
    b->sq_post = sq_prepare(b, "INSERT INTO post (id, author_id, title) VALUES (?1, ?2, ?3)");
    b->sq_user = sq_prepare(b, "INSERT INTO user (id, name) VALUES (?1, ?2)");
    b->sq_delete = sq_prepare(b, "DELETE FROM user WHERE id = ?1");
    /* the foreign key is on: a post of no user is refused */
    sqlite3_bind_int64(b->sq_post, 1, 0);
    sqlite3_bind_text(b->sq_post, 2, "nobody", -1, SQLITE_STATIC);
    sqlite3_bind_text(b->sq_post, 3, "x", -1, SQLITE_STATIC);
    if (sqlite3_step(b->sq_post) != SQLITE_CONSTRAINT)
        die("sqlite: foreign keys are not enforced");
    sqlite3_reset(b->sq_post);
}

static void print_row(const char *what, const char *a, double ar, const char *o, double or_, const double r[3])
{
    printf("| %s | %s | %.0f | %s | %.0f | %.2fx (%.2f-%.2f) |\n", what, a, ar, o, or_, r[0], r[1], r[2]);
}

int main(int argc, char **argv)
{
    bench_prog = "refs_bench";
    bench bb = {.posts = 20}, *b = &bb;
    double secs = 2;
    const char *sqlite_path = NULL;
    if (argc < 2 || argv[1][0] == '-')
        die("usage: refs_bench <redis://host:port | lmdb:///dir --sqlite FILE> [--posts P] [--seconds S]");
    for (int i = 2; i + 1 < argc; i += 2) {
        double v = strtod(argv[i + 1], NULL);
        if (strcmp(argv[i], "--sqlite") == 0)
            sqlite_path = argv[i + 1];
        else if (strcmp(argv[i], "--posts") == 0 && v >= 1 && v <= 100)
            b->posts = (size_t)v;
        else if (strcmp(argv[i], "--seconds") == 0 && v > 0)
            secs = v;
        else
            die("bad option %s %s", argv[i], argv[i + 1]);
    }
    bool lmdb = strncmp(argv[1], "lmdb://", 7) == 0;
    if (lmdb && !sqlite_path)
        die("an lmdb:// URL needs --sqlite FILE, the other side's database (a new file)");
    char url[512];
    snprintf(url, sizeof url, "%s%s", argv[1], lmdb ? "?sync=nosync" : "");
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
        redisReply *r = cmd(b, "DBSIZE");
        if (r->integer != 0)
            die("database 0 of %s is not empty: give the benchmark a server of its own", argv[1]);
        freeReplyObject(r);
        r = cmd(b, "SCRIPT LOAD %s", RAW_CREATE);
        snprintf(b->sha, sizeof b->sha, "%s", r->str);
        freeReplyObject(r);
    } else {
        sq_open(b, sqlite_path);
    }

    kvorm_schema *schema;
    if (kvorm_schema_from_json(&schema, SCHEMA, strlen(SCHEMA)) != KVORM_OK)
        die("schema: %s", kvorm_last_error_message());
    kvorm_open_options opts;
    kvorm_open_options_init(&opts, KVORM_OPEN_OPTIONS_VERSION);
    if (!lmdb)
        opts.pool_size = 1; /* one connection, as the raw side */
    if (kvorm_open(&b->db, url, schema, &opts) != KVORM_OK)
        die("open %s: %s", url, kvorm_last_error_message());
    kvorm_schema_free(schema);
    msgpack_sbuffer_init(&b->req);
    msgpack_packer_init(&b->pk, &b->req, msgpack_sbuffer_write);
    b->req.size = 0;
    pk_request_head(&b->pk, "User", "create", 1);
    PK_LIT(&b->pk, "data");
    msgpack_pack_map(&b->pk, 2);
    PK_LIT(&b->pk, "id");
    PK_LIT(&b->pk, "author");
    PK_LIT(&b->pk, "name");
    PK_LIT(&b->pk, "the author of case 1");
    kv_run(b);

    side kv = {"kvorm", op_kv_create, kv_setup, kv_delete};
    side plain = {"kvorm, no relation", op_plain_create, NULL, NULL};
    side other = lmdb ? (side){"SQLite, foreign_keys=ON", op_sq_create, sq_setup, sq_delete}
                      : (side){"raw hiredis", op_raw_create, raw_setup, raw_delete};
    double ar, or_, r[3], pr, pr2, pratio[3];
    printf("refs_bench: kvorm %s on %s vs %s, %g s per side per case, deletes cascading to %zu posts\n\n",
           kvorm_version(), lmdb ? "LMDB (sync=nosync)" : "Redis", other.name, secs, b->posts);
    printf("| case | side | ops/s | other side | ops/s | ratio (median round, lo-hi) |\n"
           "|---|---|---:|---|---:|---:|\n");
    measure(b, &kv, &other, false, secs, &ar, &or_, r);
    print_row("create, foreign key checked", "kvorm", ar, other.name, or_, r);
    measure(b, &kv, &plain, false, secs, &pr, &pr2, pratio);
    print_row("create: the check's cost", "kvorm", pr, plain.name, pr2, pratio);
    double dr, dor, d[3];
    measure(b, &kv, &other, true, secs, &dr, &dor, d);
    char what[64];
    snprintf(what, sizeof what, "delete, cascading to %zu posts", b->posts);
    print_row(what, "kvorm", dr, other.name, dor, d);
    side nested = {"kvorm nested", op_kv_nested, NULL, NULL};
    side two = {"kvorm create + createMany", op_kv_two_calls, NULL, NULL};
    side made = {other.name, lmdb ? op_sq_make : op_raw_make, NULL, NULL};
    double nr, nor, n3[3], tr, tor, t3[3];
    measure(b, &nested, &made, false, secs, &nr, &nor, n3);
    snprintf(what, sizeof what, "create of a user with %zu posts", b->posts);
    print_row(what, nested.name, nr, made.name, nor, n3);
    measure(b, &nested, &two, false, secs, &tr, &tor, t3);
    print_row(what, nested.name, tr, two.name, tor, t3);
    double kc = 0, kr = 0, oc = 0, orr = 0;
    if (!lmdb) {
        per_delete(b, kv_setup, kv_delete, &kc, &kr);
        per_delete(b, raw_setup, raw_delete, &oc, &orr);
        printf("\nOne delete cascading to %zu posts: kvorm %.1f commands in %.1f socket reads, raw hiredis %.1f "
               "commands in %.1f socket reads\n",
               b->posts, kc, kr, oc, orr);
    }
    printf("\nSUMMARY refs_bench engine=%s posts=%zu create_kv=%.0f create_other=%.0f create_median=%.3f "
           "check_median=%.3f delete_kv=%.0f delete_other=%.0f delete_median=%.3f nested_kv=%.0f nested_other=%.0f "
           "nested_median=%.3f nested_vs_two_calls=%.3f\n",
           lmdb ? "lmdb" : "redis", b->posts, ar, or_, r[0], pratio[0], dr, dor, d[0], nr, nor, n3[0], t3[0]);
    kvorm_close(b->db);
    msgpack_sbuffer_destroy(&b->req);
    if (b->rc)
        redisFree(b->rc);
    if (b->sq) {
        sqlite3_finalize(b->sq_post);
        sqlite3_finalize(b->sq_user);
        sqlite3_finalize(b->sq_delete);
        sqlite3_close(b->sq);
    }
    return 0;
}
