/*
 * lmdb_bench - kvorm's LMDB engine beside raw LMDB (mdb_get + msgpack-c) and beside SQLite, in one run.
 *
 *   lmdb_bench <dir> [--records N] [--seconds S] [--sqlite-mmap BYTES]
 *
 * <dir> must be empty or missing: the benchmark makes <dir>/kvorm (kvorm's LMDB environment) and <dir>/sqlite.db,
 * and cleans nothing up (scripts/bench-lmdb.sh gives it a temp dir and removes it).
 *
 * Model (one unique, two indexes): Item {id: integer, generated; email: string, unique; status: string, index (8
 * values); score: integer, index; name: string}, the same table in SQLite (INTEGER PRIMARY KEY id, UNIQUE email,
 * INDEX status, INDEX score). N records (default 1,000,000) are loaded into kvorm with createMany of 1000 (one
 * kvorm_exec, one LMDB write transaction: atomicManyLimit is 4096) and into SQLite in transactions of 1000
 * prepared INSERTs. Then, single thread, one call at a time:
 *   1. findUnique by id          kvorm_exec        vs  raw LMDB: read txn + mdb_get + msgpack_unpack of the value
 *   2. findUnique by id          kvorm_exec        vs  SQLite: prepared SELECT by primary key, all columns read
 *   3. findMany status = X, 100  kvorm_exec        vs  SQLite: prepared SELECT ... WHERE status = ? ORDER BY id
 *                                                      LIMIT 100, every row and column read
 *   4. findMany status = X, 100  kvorm_exec        vs  raw LMDB: one read txn, a cursor over kvorm's index entries,
 *                                                      100 mdb_get + msgpack_unpack (reported, no target)
 *   5. create, batches of 1000   createMany        vs  SQLite: BEGIN, 1000 prepared INSERTs, COMMIT
 *      at the default durability: kvorm sync=full, SQLite journal_mode=WAL + synchronous=FULL
 *   6. the same at the speed setting: kvorm sync=nosync, SQLite synchronous=OFF (still WAL)
 * and the database file size per record after the load (LMDB's used pages and its file; SQLite's pages, after a
 * WAL checkpoint).
 *
 * The raw LMDB side runs in a child process forked at start: LMDB forbids opening one environment twice in a
 * process, and a second process is exactly what a user's own raw code would be. It opens kvorm's environment
 * (plain flags: no MDB_NOTLS) and reads the very record bytes kvorm wrote, by the keys docs/format.md gives
 * ("Keys (LMDB)"); at set-up it checks that the records it decodes are those kvorm returns. The parent asks it to
 * run a turn and waits (blocked on a pipe, no CPU) for its count, time and CPU.
 *
 * Method as query_bench / redis_bench: a warm-up of each side, then ABBA rounds of 0.25 s turns, the target judged
 * on the median round ratio; "client CPU" is the CPU time (user + system) of the process that ran the side.
 * Exit status: 0 when every case ran (a MISS is reported, not an error), 1 on any error.
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include <kvorm.h>

#include "bench_util.h"

#include <lmdb.h>
#include <msgpack.h>
#include <sqlite3.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define NS "lbench"
#define MODEL "Item"
#define BATCH 1000           /* records per createMany / SQLite transaction, load and create case */
#define TAKE 100
#define NSTATUS 8
#define MAPSIZE (64ull << 30) /* virtual only: the file grows with the data; no resize while the child reads */

static const char SCHEMA_JSON[] =
    "{\"namespace\":\"" NS "\",\"models\":{\"" MODEL "\":{\"id\":{\"type\":\"integer\",\"generate\":\"increment\"},"
    "\"fields\":{\"email\":{\"type\":\"string\",\"unique\":true},\"status\":{\"type\":\"string\",\"index\":true},"
    "\"score\":{\"type\":\"integer\",\"index\":true},\"name\":{\"type\":\"string\"}}}}}";

static const char SQL_SCHEMA[] =
    "CREATE TABLE item (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, status TEXT NOT NULL, "
    "score INTEGER NOT NULL, name TEXT NOT NULL);"
    "CREATE INDEX item_status ON item(status);"
    "CREATE INDEX item_score ON item(score);";
static const char SQL_GET[] = "SELECT id, email, status, score, name FROM item WHERE id = ?";
static const char SQL_MANY[] = "SELECT id, email, status, score, name FROM item WHERE status = ? ORDER BY id LIMIT 100";
static const char SQL_INSERT[] = "INSERT INTO item (email, status, score, name) VALUES (?, ?, ?, ?)";

static const char *const STATUS[NSTATUS] = {"active", "pending", "blocked", "archived",
                                            "trial",  "premium", "invited", "deleted"};

/* ---------------------------------------------------------------------------------------------------------- */
/* the data: record with id i (1-based) */

typedef struct rec {
    char email[40], name[64];
    const char *status;
    int64_t score;
    int email_len, name_len;
} rec;

/* id i of the load; fresh records of the create cases are made from (prefix, n) */
static void rec_make(rec *r, const char *prefix, uint64_t i)
{
    uint64_t k = i - 1;
    r->email_len = snprintf(r->email, sizeof r->email, "%s%09llu@example.com", prefix, (unsigned long long)k);
    r->status = STATUS[k % NSTATUS];
    r->score = (int64_t)((k * 2654435761u) % 1000000);
    r->name_len = snprintf(r->name, sizeof r->name, "Item %09llu, a thing of some length", (unsigned long long)k);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

#define SEED 0x9e3779b97f4a7c15ull

/* ---------------------------------------------------------------------------------------------------------- */
/* MessagePack helpers */

static bool obj_str_is(const msgpack_object *o, const char *s, size_t n)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

static bool obj_int_is(const msgpack_object *o, int64_t v)
{
    return o && ((o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v >= 0 && o->via.u64 == (uint64_t)v) ||
                 (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 == v));
}

/* A decoded record (kvorm's response or the raw stored value) holds record i's fields. */
static bool obj_is_rec(const msgpack_object *o, uint64_t i)
{
    rec r;
    rec_make(&r, "user", i);
    return obj_str_is(map_get(o, "email"), r.email, (size_t)r.email_len) &&
           obj_str_is(map_get(o, "status"), r.status, strlen(r.status)) && obj_int_is(map_get(o, "score"), r.score) &&
           obj_str_is(map_get(o, "name"), r.name, (size_t)r.name_len);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* LMDB keys (docs/format.md, "Index keys" and "Keys (LMDB)") */

#define PREFIX NS "\0" MODEL "\0"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

/* the id element of an integer id: 0x20, then the int64 big-endian with the sign bit flipped */
static size_t id_element(unsigned char *out, int64_t id)
{
    uint64_t u = (uint64_t)id ^ (1ull << 63);
    out[0] = 0x20;
    for (int b = 0; b < 8; b++)
        out[1 + b] = (unsigned char)(u >> (56 - 8 * b));
    return 9;
}

static size_t record_key(unsigned char *out, int64_t id)
{
    memcpy(out, PREFIX, PREFIX_LEN);
    return PREFIX_LEN + id_element(out + PREFIX_LEN, id);
}

/* "<ns>\0<Model>\0status\0" + the string element of the value (0x50, bytes, 0x00 0x00): every entry of that
 * status starts with it, and the id element follows. */
static size_t status_prefix(unsigned char *out, const char *status)
{
    size_t n = PREFIX_LEN, sl = strlen(status);
    memcpy(out, PREFIX, PREFIX_LEN);
    memcpy(out + n, "status", 7); /* with its NUL */
    n += 7;
    out[n++] = 0x50;
    memcpy(out + n, status, sl);
    n += sl;
    out[n++] = 0;
    out[n++] = 0;
    return n;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* the raw LMDB side: a child process, driven by commands on a pipe */

enum { CH_OPEN = 1, CH_GET, CH_MANY, CH_QUIT };

typedef struct ch_cmd {
    int op;
    double secs;
    uint64_t records; /* the ids read are 1..records */
    int reset_seq;    /* start the id / status sequence again */
    char path[PATH_MAX];
} ch_cmd;

typedef struct ch_rep {
    int ok;
    uint64_t n;
    double elapsed, cpu;
    /* CH_OPEN: sizes */
    uint64_t psize, last_pgno, file_size, file_alloc, pages[4], entries[4], depth[4];
    char msg[256];
} ch_rep;

typedef struct child {
    MDB_env *env;
    MDB_dbi records, index;
    uint64_t records_n, rng;
    size_t next_status;
    msgpack_zone zone;
    uint64_t sink;
} child;

static void ch_fail(ch_rep *rep, const char *what, int rc)
{
    rep->ok = 0;
    snprintf(rep->msg, sizeof rep->msg, "raw LMDB: %s: %s", what, rc ? mdb_strerror(rc) : "unexpected data");
}

static int ch_begin(child *c, MDB_txn **txn)
{
    int rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_MAP_RESIZED) {
        mdb_env_set_mapsize(c->env, 0);
        rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, txn);
    }
    return rc;
}

/* findUnique by id, by hand: read txn, mdb_get, msgpack_unpack into a zone (reused: cleared after each read),
 * the five pairs of the map read as a user would. */
static int ch_get_one(child *c, int64_t id, bool check)
{
    unsigned char key[32];
    MDB_val k = {record_key(key, id), key}, v;
    MDB_txn *txn;
    int rc = ch_begin(c, &txn);
    if (rc)
        return rc;
    rc = mdb_get(txn, c->records, &k, &v);
    if (rc == 0) {
        msgpack_object obj;
        size_t off = 0;
        if (msgpack_unpack(v.mv_data, v.mv_size, &off, &c->zone, &obj) != MSGPACK_UNPACK_SUCCESS ||
            obj.type != MSGPACK_OBJECT_MAP || obj.via.map.size != 5 || (check && !obj_is_rec(&obj, (uint64_t)id)))
            rc = -1;
        else
            for (uint32_t i = 0; i < obj.via.map.size; i++)
                c->sink += obj.via.map.ptr[i].val.type == MSGPACK_OBJECT_STR ? obj.via.map.ptr[i].val.via.str.size
                                                                              : obj.via.map.ptr[i].val.via.u64;
        msgpack_zone_clear(&c->zone);
    }
    mdb_txn_abort(txn);
    return rc;
}

/* findMany status = X take 100, by hand: one read txn, a cursor from the status's first index entry, and for
 * each of the first 100 entries the record by the id element at the entry's end, decoded. */
static int ch_many_one(child *c, size_t s, bool check)
{
    unsigned char pfx[64], key[32];
    size_t plen = status_prefix(pfx, STATUS[s]);
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = ch_begin(c, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, c->index, &cur)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    MDB_val k = {plen, pfx}, v;
    int got = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && got < TAKE) {
        if (k.mv_size != plen + 9 || memcmp(k.mv_data, pfx, plen) != 0)
            break;
        memcpy(key, PREFIX, PREFIX_LEN);
        memcpy(key + PREFIX_LEN, (const char *)k.mv_data + plen, 9);
        MDB_val rk = {PREFIX_LEN + 9, key}, rv;
        if ((rc = mdb_get(txn, c->records, &rk, &rv)) != 0)
            break;
        msgpack_object obj;
        size_t off = 0;
        if (msgpack_unpack(rv.mv_data, rv.mv_size, &off, &c->zone, &obj) != MSGPACK_UNPACK_SUCCESS ||
            obj.type != MSGPACK_OBJECT_MAP || obj.via.map.size != 5) {
            rc = -1;
            break;
        }
        if (check) {
            /* the status's records are ids s+1, s+1+8, ...: the first 100 in id order */
            uint64_t id = s + 1 + (uint64_t)got * NSTATUS;
            unsigned char el[9];
            id_element(el, (int64_t)id);
            if (memcmp(el, (const char *)k.mv_data + plen, 9) != 0 || !obj_is_rec(&obj, id)) {
                rc = -1;
                break;
            }
        }
        for (uint32_t i = 0; i < obj.via.map.size; i++)
            c->sink += obj.via.map.ptr[i].val.type == MSGPACK_OBJECT_STR ? obj.via.map.ptr[i].val.via.str.size
                                                                          : obj.via.map.ptr[i].val.via.u64;
        got++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    msgpack_zone_clear(&c->zone);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND || rc == 0)
        rc = got == TAKE ? 0 : -1;
    return rc;
}

static void ch_open(child *c, const ch_cmd *cmd, ch_rep *rep)
{
    int rc;
    MDB_txn *txn;
    c->records_n = cmd->records;
    if ((rc = mdb_env_create(&c->env)) != 0 || (rc = mdb_env_set_maxdbs(c->env, 4)) != 0 ||
        (rc = mdb_env_set_mapsize(c->env, MAPSIZE)) != 0 || (rc = mdb_env_open(c->env, cmd->path, 0, 0664)) != 0)
        return ch_fail(rep, "opening kvorm's environment", rc);
    if ((rc = ch_begin(c, &txn)) != 0)
        return ch_fail(rep, "read txn", rc);
    static const char *const names[4] = {"meta", "records", "uniques", "index"};
    MDB_dbi dbi[4];
    for (int i = 0; i < 4; i++) {
        if ((rc = mdb_dbi_open(txn, names[i], 0, &dbi[i])) != 0) {
            mdb_txn_abort(txn);
            return ch_fail(rep, "mdb_dbi_open of kvorm's named databases", rc);
        }
        MDB_stat st;
        mdb_stat(txn, dbi[i], &st);
        rep->pages[i] = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
        rep->entries[i] = st.ms_entries;
        rep->depth[i] = st.ms_depth;
    }
    mdb_txn_commit(txn); /* keeps the handles */
    c->records = dbi[1];
    c->index = dbi[3];
    MDB_envinfo info;
    MDB_stat est;
    mdb_env_info(c->env, &info);
    mdb_env_stat(c->env, &est);
    rep->psize = est.ms_psize;
    rep->last_pgno = info.me_last_pgno;
    char file[PATH_MAX + 16];
    snprintf(file, sizeof file, "%s/data.mdb", cmd->path);
    struct stat sb;
    if (stat(file, &sb) == 0) {
        rep->file_size = (uint64_t)sb.st_size;
        rep->file_alloc = (uint64_t)sb.st_blocks * 512;
    }
    /* the records kvorm wrote, by the keys of docs/format.md */
    uint64_t probe[3] = {1, cmd->records / 2 + 1, cmd->records};
    for (int i = 0; i < 3; i++)
        if ((rc = ch_get_one(c, (int64_t)probe[i], true)) != 0)
            return ch_fail(rep, "reading a record kvorm wrote by its key (docs/format.md)", rc > 0 ? rc : 0);
    for (size_t s = 0; s < NSTATUS; s++)
        if ((rc = ch_many_one(c, s, true)) != 0)
            return ch_fail(rep, "reading kvorm's status index entries (docs/format.md)", rc > 0 ? rc : 0);
    rep->ok = 1;
}

static void ch_run(child *c, const ch_cmd *cmd, ch_rep *rep)
{
    if (cmd->reset_seq) {
        c->rng = SEED;
        c->next_status = 0;
    }
    uint64_t n = 0;
    double cpu0 = cpu_s(), start = now_s(), end = start + cmd->secs, t;
    do {
        int rc;
        if (cmd->op == CH_GET)
            rc = ch_get_one(c, (int64_t)(rng_next(&c->rng) % c->records_n + 1), false);
        else
            rc = ch_many_one(c, c->next_status++ % NSTATUS, false);
        if (rc)
            return ch_fail(rep, cmd->op == CH_GET ? "mdb_get" : "index cursor", rc > 0 ? rc : 0);
        n++;
        t = now_s();
    } while (t < end);
    rep->ok = 1;
    rep->n = n;
    rep->elapsed = t - start;
    rep->cpu = cpu_s() - cpu0;
}

/* The whole of n bytes through the pipe fd (read or write, again on EINTR); false at its end or on an error. */
static bool pipe_full(int fd, void *p, size_t n, bool writing)
{
    char *q = p;
    while (n) {
        ssize_t r = writing ? write(fd, q, n) : read(fd, q, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        q += r;
        n -= (size_t)r;
    }
    return true;
}

static bool read_full(int fd, void *p, size_t n)
{
    return pipe_full(fd, p, n, false);
}

static bool write_full(int fd, const void *p, size_t n)
{
    return pipe_full(fd, (void *)p, n, true);
}

static void child_main(int in, int out)
{
    static child C;
    child *c = &C;
    msgpack_zone_init(&c->zone, 4096);
    c->rng = SEED;
    ch_cmd cmd;
    while (read_full(in, &cmd, sizeof cmd) && cmd.op != CH_QUIT) {
        ch_rep rep;
        memset(&rep, 0, sizeof rep);
        if (cmd.op == CH_OPEN)
            ch_open(c, &cmd, &rep);
        else if (!c->env)
            ch_fail(&rep, "not open", 0);
        else
            ch_run(c, &cmd, &rep);
        if (!write_full(out, &rep, sizeof rep))
            break;
    }
    msgpack_zone_destroy(&c->zone);
    if (c->env)
        mdb_env_close(c->env);
    _exit(0);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* the parent */

typedef struct bench {
    kvorm_db *db;
    sqlite3 *sq;
    sqlite3_stmt *st_get, *st_many, *st_insert, *st_begin, *st_commit;
    char kv_dir[PATH_MAX], sq_path[PATH_MAX + 16];
    uint64_t records;      /* loaded */
    uint64_t kv_created, sq_created; /* by the create cases */
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer many_req[NSTATUS];
    uint64_t rng;
    size_t next_status;
    uint64_t sink;
    pid_t child;
    int to_child, from_child;
    int child_op; /* the op the child side of the case runs */
} bench;

static void sq_exec(bench *b, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(b->sq, sql, NULL, NULL, &msg) != SQLITE_OK)
        die("sqlite: %s: %s", sql, msg ? msg : sqlite3_errmsg(b->sq));
}

static sqlite3_stmt *sq_prepare(bench *b, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(b->sq, sql, -1, &st, NULL) != SQLITE_OK)
        die("sqlite: prepare %s: %s", sql, sqlite3_errmsg(b->sq));
    return st;
}

static void sq_step_done(bench *b, sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        die("sqlite: %s: %s", sqlite3_sql(st), sqlite3_errmsg(b->sq));
    sqlite3_reset(st);
}

static int64_t sq_int(bench *b, const char *sql)
{
    sqlite3_stmt *st = sq_prepare(b, sql);
    if (sqlite3_step(st) != SQLITE_ROW)
        die("sqlite: %s: %s", sql, sqlite3_errmsg(b->sq));
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void child_call(bench *b, const ch_cmd *cmd, ch_rep *rep)
{
    if (!write_full(b->to_child, cmd, sizeof *cmd) || !read_full(b->from_child, rep, sizeof *rep))
        die("the raw LMDB child process is gone");
    if (!rep->ok)
        die("%s", rep->msg);
}

/* ---- loading ---- */

static void pack_create_many(bench *b, const char *prefix, uint64_t first, size_t n)
{
    msgpack_sbuffer_clear(&b->buf);
    pk_request_head(&b->pk, MODEL, "createMany", 1);
    PK_LIT(&b->pk, "data");
    msgpack_pack_array(&b->pk, n);
    for (size_t k = 0; k < n; k++) {
        rec r;
        rec_make(&r, prefix, first + k);
        msgpack_pack_map(&b->pk, 4);
        PK_LIT(&b->pk, "email");
        pk_strn(&b->pk, r.email, (size_t)r.email_len);
        PK_LIT(&b->pk, "status");
        pk_str(&b->pk, r.status);
        PK_LIT(&b->pk, "score");
        msgpack_pack_int64(&b->pk, r.score);
        PK_LIT(&b->pk, "name");
        pk_strn(&b->pk, r.name, (size_t)r.name_len);
    }
}

/* one createMany of n records: the request packed, run, its {"count": n} checked */
static void kv_create_batch(bench *b, const char *prefix, uint64_t first, size_t n)
{
    pack_create_many(b, prefix, first, n);
    unsigned char *out;
    size_t out_len, off = 0;
    kv_exec_ok(b->db, b->buf.data, b->buf.size, &out, &out_len);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)out, out_len, &off) != MSGPACK_UNPACK_SUCCESS ||
        !obj_int_is(map_get(&u.data, "count"), (int64_t)n))
        die("createMany of %zu records did not answer {\"count\": %zu}", n, n);
    msgpack_unpacked_destroy(&u);
    kvorm_free(out);
}

/* one SQLite transaction of n prepared INSERTs */
static void sq_create_batch(bench *b, const char *prefix, uint64_t first, size_t n)
{
    sq_step_done(b, b->st_begin);
    for (size_t k = 0; k < n; k++) {
        rec r;
        rec_make(&r, prefix, first + k);
        sqlite3_bind_text(b->st_insert, 1, r.email, r.email_len, SQLITE_STATIC);
        sqlite3_bind_text(b->st_insert, 2, r.status, -1, SQLITE_STATIC);
        sqlite3_bind_int64(b->st_insert, 3, r.score);
        sqlite3_bind_text(b->st_insert, 4, r.name, r.name_len, SQLITE_STATIC);
        sq_step_done(b, b->st_insert);
    }
    sq_step_done(b, b->st_commit);
}

static void load(bench *b, uint64_t n)
{
    double t0 = now_s(), c0 = cpu_s();
    for (uint64_t i = 1; i <= n; i += BATCH) {
        size_t m = n - i + 1 < BATCH ? (size_t)(n - i + 1) : BATCH;
        kv_create_batch(b, "user", i, m);
        if ((i + m - 1) % 200000 == 0)
            fprintf(stderr, "  kvorm: %llu records\n", (unsigned long long)(i + m - 1));
    }
    double t1 = now_s(), c1 = cpu_s();
    for (uint64_t i = 1; i <= n; i += BATCH) {
        size_t m = n - i + 1 < BATCH ? (size_t)(n - i + 1) : BATCH;
        sq_create_batch(b, "user", i, m);
        if ((i + m - 1) % 200000 == 0)
            fprintf(stderr, "  sqlite: %llu records\n", (unsigned long long)(i + m - 1));
    }
    double t2 = now_s(), c2 = cpu_s();
    b->records = n;
    printf("load of %llu records in batches of %d (default durability): kvorm createMany %.1f s (%.0f records/s, "
           "CPU %.1f us/record), SQLite %.1f s (%.0f records/s, CPU %.1f us/record)\n",
           (unsigned long long)n, BATCH, t1 - t0, (double)n / (t1 - t0), (c1 - c0) * 1e6 / (double)n, t2 - t1,
           (double)n / (t2 - t1), (c2 - c1) * 1e6 / (double)n);
}

/* ---- the operations measured ---- */

typedef void (*op_fn)(bench *b);

static void pack_find_unique(bench *b, int64_t id)
{
    msgpack_sbuffer_clear(&b->buf);
    pk_request_head(&b->pk, MODEL, "findUnique", 1);
    PK_LIT(&b->pk, "where");
    msgpack_pack_map(&b->pk, 1);
    PK_LIT(&b->pk, "id");
    msgpack_pack_int64(&b->pk, id);
}

/* kvorm findUnique by id: the request packed, kvorm_exec, the response (a map of 5 pairs: id and the four
 * fields) checked by its first byte, freed. Producing the document is the work counted. */
static void op_kv_get(bench *b)
{
    pack_find_unique(b, (int64_t)(rng_next(&b->rng) % b->records + 1));
    unsigned char *out;
    size_t out_len;
    kv_exec_ok(b->db, b->buf.data, b->buf.size, &out, &out_len);
    if (out_len < 2 || out[0] != 0x85)
        die("kvorm findUnique returned other than a record");
    b->sink += out_len;
    kvorm_free(out);
}

static void sq_read_row(bench *b, sqlite3_stmt *st)
{
    int64_t id = sqlite3_column_int64(st, 0);
    const unsigned char *email = sqlite3_column_text(st, 1);
    int email_len = sqlite3_column_bytes(st, 1);
    const unsigned char *status = sqlite3_column_text(st, 2);
    int status_len = sqlite3_column_bytes(st, 2);
    int64_t score = sqlite3_column_int64(st, 3);
    const unsigned char *name = sqlite3_column_text(st, 4);
    int name_len = sqlite3_column_bytes(st, 4);
    if (!email || !status || !name)
        die("sqlite: a NULL column");
    b->sink += (uint64_t)id + (uint64_t)score + (uint64_t)(email_len + status_len + name_len) + email[0] + name[0];
}

/* SQLite findUnique by id: bind, step, every column read (int64 / text + its length), reset */
static void op_sq_get(bench *b)
{
    sqlite3_stmt *st = b->st_get;
    sqlite3_bind_int64(st, 1, (int64_t)(rng_next(&b->rng) % b->records + 1));
    if (sqlite3_step(st) != SQLITE_ROW)
        die("sqlite: SELECT by id found nothing: %s", sqlite3_errmsg(b->sq));
    sq_read_row(b, st);
    sqlite3_reset(st);
}

/* kvorm findMany where {status: X} take 100: the prebuilt request (X cycling over the 8 statuses), kvorm_exec,
 * the response's array header of 100 checked, freed */
static void op_kv_many(bench *b)
{
    const msgpack_sbuffer *req = &b->many_req[b->next_status++ % NSTATUS];
    unsigned char *out;
    size_t out_len;
    kv_exec_ok(b->db, req->data, req->size, &out, &out_len);
    if (out_len < 3 || out[0] != 0xdc || out[1] != 0 || out[2] != TAKE)
        die("kvorm findMany returned other than %d rows", TAKE);
    b->sink += out_len;
    kvorm_free(out);
}

static void op_sq_many(bench *b)
{
    sqlite3_stmt *st = b->st_many;
    sqlite3_bind_text(st, 1, STATUS[b->next_status++ % NSTATUS], -1, SQLITE_STATIC);
    int rows = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sq_read_row(b, st);
        rows++;
    }
    if (rc != SQLITE_DONE || rows != TAKE)
        die("sqlite: findMany gave %d rows: %s", rows, sqlite3_errmsg(b->sq));
    sqlite3_reset(st);
}

static void op_kv_create(bench *b)
{
    kv_create_batch(b, "kvnew", b->kv_created + 1, BATCH);
    b->kv_created += BATCH;
}

static void op_sq_create(bench *b)
{
    sq_create_batch(b, "sqnew", b->sq_created + 1, BATCH);
    b->sq_created += BATCH;
}

/* ---- measuring ---- */

typedef struct side {
    op_fn op;     /* in this process, or */
    int child_op; /* in the raw LMDB child */
} side;

static uint64_t run_for(bench *b, const side *s, double secs, bool reset, double *elapsed, double *cpu)
{
    if (s->child_op) {
        ch_cmd cmd;
        ch_rep rep;
        memset(&cmd, 0, sizeof cmd);
        cmd.op = s->child_op;
        cmd.secs = secs;
        cmd.reset_seq = reset;
        child_call(b, &cmd, &rep);
        *elapsed = rep.elapsed;
        *cpu = rep.cpu;
        return rep.n;
    }
    if (reset) {
        b->rng = SEED;
        b->next_status = 0;
    }
    uint64_t n = 0;
    double cpu0 = cpu_s(), start = now_s(), end = start + secs, t;
    do {
        s->op(b);
        n++;
        t = now_s();
    } while (t < end);
    *elapsed = t - start;
    *cpu = cpu_s() - cpu0;
    return n;
}

typedef struct result {
    const char *name, *other;
    double kv_ops, o_ops, lo, median, hi, kv_cpu_us, o_cpu_us, target; /* target 0: reported */
    int rounds;
} result;

static result measure(bench *b, const char *name, const char *other, side kv, side o, double secs, double target)
{
    result res;
    memset(&res, 0, sizeof res);
    res.name = name;
    res.other = other;
    res.target = target;
    double warm = warmup_seconds(secs), el, cpu;
    run_for(b, &kv, warm, true, &el, &cpu);
    run_for(b, &o, warm, true, &el, &cpu);
    int rounds = round_count(secs);
    uint64_t kn = 0, on = 0;
    double kt = 0, ot = 0, kc = 0, oc = 0, ratios[MAX_ROUNDS];
    for (int round = 0; round < rounds; round++) {
        double k_rate = 0, o_rate = 0;
        for (int turn = 0; turn < 2; turn++) {
            bool is_kv = (turn == 0) == (round % 2 == 0);
            uint64_t n = run_for(b, is_kv ? &kv : &o, secs / rounds, false, &el, &cpu);
            if (is_kv) {
                kn += n, kt += el, kc += cpu;
                k_rate = (double)n / el;
            } else {
                on += n, ot += el, oc += cpu;
                o_rate = (double)n / el;
            }
        }
        ratios[round] = k_rate / o_rate;
    }
    qsort(ratios, (size_t)rounds, sizeof ratios[0], compare_doubles);
    res.rounds = rounds;
    res.kv_ops = (double)kn / kt;
    res.o_ops = (double)on / ot;
    res.kv_cpu_us = kc * 1e6 / (double)kn;
    res.o_cpu_us = oc * 1e6 / (double)on;
    res.lo = ratios[0];
    res.hi = ratios[rounds - 1];
    res.median = median_sorted(ratios, rounds);
    fprintf(stderr, "  %-52s %.2fx (%d rounds)\n", name, res.median, rounds);
    return res;
}

static void print_results(const result *res, int n, uint64_t records)
{
    printf("\n| %-50s | %9s | %11s | %11s | %-28s | %9s | %-16s | %-22s | %-17s | %-19s |\n", "case", "records",
           "kvorm ops/s", "other ops/s", "other", "kvorm/oth", "target (median)", "round ratios lo/med/hi",
           "us/op k/o", "client CPU us/op k/o");
    printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "----------------------------------------------------",
           "----------:", "------------:", "------------:", "------------------------------", "----------:",
           "------------------", "------------------------", "------------------:", "--------------------:");
    for (int i = 0; i < n; i++) {
        const result *r = &res[i];
        char target[32] = "- (reported)", spread[48], us[40], cpu[40];
        if (r->target > 0)
            snprintf(target, sizeof target, ">= %.2fx %s", r->target, r->median >= r->target ? "MET" : "MISS");
        snprintf(spread, sizeof spread, "%.2f / %.3f / %.2fx", r->lo, r->median, r->hi);
        snprintf(us, sizeof us, "%.1f / %.1f", 1e6 / r->kv_ops, 1e6 / r->o_ops);
        snprintf(cpu, sizeof cpu, "%.1f / %.1f", r->kv_cpu_us, r->o_cpu_us);
        printf("| %-50s | %9llu | %11.0f | %11.0f | %-28s | %8.2fx | %-16s | %-22s | %17s | %19s |\n", r->name,
               (unsigned long long)records, r->kv_ops, r->o_ops, r->other, r->kv_ops / r->o_ops, target, spread, us,
               cpu);
    }
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s <dir (empty or missing)> [--records N (default 1000000)] [--seconds S (per side per case, "
            "default 2)] [--sqlite-mmap BYTES (SQLite's mmap_size, default 0: SQLite's default)]\n",
            argv0);
}

static uint64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static void open_kvorm(bench *b, const char *sync)
{
    char url[PATH_MAX + 128];
    snprintf(url, sizeof url, "lmdb://%s?mapsize=%llu&sync=%s", b->kv_dir, (unsigned long long)MAPSIZE, sync);
    kvorm_schema *schema = NULL;
    if (kvorm_schema_from_json(&schema, SCHEMA_JSON, strlen(SCHEMA_JSON)) != KVORM_OK)
        die("schema: %s", kvorm_last_error_message());
    int st = kvorm_open(&b->db, url, schema, NULL);
    if (st != KVORM_OK)
        die("kvorm_open %s: status %d (%s): %s", url, st, kvorm_error_name(st), kvorm_last_error_message());
    kvorm_schema_free(schema);
}

/* the engine's facts: LMDB version, atomicManyLimit (a createMany of BATCH must be one write transaction) */
static void print_capabilities(bench *b)
{
    unsigned char *out;
    size_t len, off = 0;
    if (kvorm_capabilities(&out, &len, b->db) != KVORM_OK)
        die("kvorm_capabilities: %s", kvorm_last_error_message());
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)out, len, &off) != MSGPACK_UNPACK_SUCCESS)
        die("capabilities: not MessagePack");
    const msgpack_object *eng = map_get(&u.data, "engine"), *ver = map_get(&u.data, "serverVersion"),
                         *lim = map_get(&u.data, "atomicManyLimit");
    printf("kvorm %s, engine %.*s (%.*s), atomicManyLimit %llu; SQLite %s (journal_mode=WAL); msgpack-c %s\n",
           kvorm_version(), eng && eng->type == MSGPACK_OBJECT_STR ? (int)eng->via.str.size : 1,
           eng && eng->type == MSGPACK_OBJECT_STR ? eng->via.str.ptr : "?",
           ver && ver->type == MSGPACK_OBJECT_STR ? (int)ver->via.str.size : 1,
           ver && ver->type == MSGPACK_OBJECT_STR ? ver->via.str.ptr : "?",
           lim && lim->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (unsigned long long)lim->via.u64 : 0ull,
           sqlite3_libversion(), msgpack_version());
    if (!lim || lim->type != MSGPACK_OBJECT_POSITIVE_INTEGER || lim->via.u64 < BATCH)
        fprintf(stderr, "lmdb_bench: warning: atomicManyLimit is below %d: a createMany of %d is more than one "
                        "write transaction\n", BATCH, BATCH);
    msgpack_unpacked_destroy(&u);
    kvorm_free(out);
}

/* kvorm's answers are the data loaded: a findUnique and the findMany of each status (ids s+1, s+9, ...) */
static void check_kvorm(bench *b)
{
    uint64_t probe[2] = {1, b->records};
    for (int i = 0; i < 2; i++) {
        pack_find_unique(b, (int64_t)probe[i]);
        unsigned char *out;
        size_t len, off = 0;
        kv_exec_ok(b->db, b->buf.data, b->buf.size, &out, &len);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        if (msgpack_unpack_next(&u, (const char *)out, len, &off) != MSGPACK_UNPACK_SUCCESS ||
            !obj_is_rec(&u.data, probe[i]) || !obj_int_is(map_get(&u.data, "id"), (int64_t)probe[i]))
            die("kvorm's findUnique of id %llu is not the record loaded", (unsigned long long)probe[i]);
        if (i == 0) {
            printf("findUnique {id: 1} -> ");
            msgpack_object_print(stdout, u.data);
            printf(" (%zu bytes)\n", len);
        }
        msgpack_unpacked_destroy(&u);
        kvorm_free(out);
    }
    for (size_t s = 0; s < NSTATUS; s++) {
        unsigned char *out;
        size_t len, off = 0;
        kv_exec_ok(b->db, b->many_req[s].data, b->many_req[s].size, &out, &len);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        if (msgpack_unpack_next(&u, (const char *)out, len, &off) != MSGPACK_UNPACK_SUCCESS ||
            u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size != TAKE)
            die("kvorm's findMany of status %s did not return %d rows", STATUS[s], TAKE);
        for (uint32_t i = 0; i < TAKE; i++) {
            uint64_t id = s + 1 + (uint64_t)i * NSTATUS;
            if (!obj_is_rec(&u.data.via.array.ptr[i], id) || !obj_int_is(map_get(&u.data.via.array.ptr[i], "id"),
                                                                         (int64_t)id))
                die("kvorm's findMany of status %s: row %u is not record %llu", STATUS[s], i,
                    (unsigned long long)id);
        }
        msgpack_unpacked_destroy(&u);
        kvorm_free(out);
    }
    /* the plan: the status index */
    msgpack_sbuffer req;
    msgpack_sbuffer_init(&req);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &req, msgpack_sbuffer_write);
    pk_explain_head(&pk, MODEL, "findMany");
    msgpack_pack_map(&pk, 2);
    PK_LIT(&pk, "where");
    msgpack_pack_map(&pk, 1);
    PK_LIT(&pk, "status");
    pk_str(&pk, STATUS[0]);
    PK_LIT(&pk, "take");
    msgpack_pack_int(&pk, TAKE);
    unsigned char *out;
    size_t len;
    kv_exec_ok(b->db, req.data, req.size, &out, &len);
    printf("kvorm explain findMany: ");
    print_msgpack(stdout, out, len);
    kvorm_free(out);
    msgpack_sbuffer_destroy(&req);
    sqlite3_stmt *st = sq_prepare(b, "EXPLAIN QUERY PLAN SELECT id, email, status, score, name FROM item WHERE "
                                     "status = 'active' ORDER BY id LIMIT 100");
    printf("\nSQLite query plan:");
    while (sqlite3_step(st) == SQLITE_ROW)
        printf(" [%s]", (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    printf("\n");
}

static void sizes(bench *b, const ch_rep *rep)
{
    double n = (double)b->records;
    uint64_t used = (rep->last_pgno + 1) * rep->psize, trees = 0;
    for (int i = 0; i < 4; i++)
        trees += rep->pages[i] * rep->psize;
    sq_exec(b, "PRAGMA wal_checkpoint(TRUNCATE)");
    int64_t pc = sq_int(b, "PRAGMA page_count"), ps = sq_int(b, "PRAGMA page_size"),
            fl = sq_int(b, "PRAGMA freelist_count");
    char wal[PATH_MAX + 32];
    snprintf(wal, sizeof wal, "%s-wal", b->sq_path);
    uint64_t sq_file = file_size(b->sq_path), sq_wal = file_size(wal);
    printf("\ndatabase size after the load of %llu records (bytes per record):\n\n", (unsigned long long)b->records);
    printf("| store | measure | bytes | B/record |\n|---|---|---:|---:|\n");
    printf("| kvorm LMDB | used pages: (last page + 1) x %llu B (mdb_env_info, mdb_env_stat) | %llu | %.1f |\n",
           (unsigned long long)rep->psize, (unsigned long long)used, (double)used / n);
    printf("| kvorm LMDB | pages of the 4 named databases' B-trees (mdb_stat; the rest is free pages and metas) "
           "| %llu | %.1f |\n", (unsigned long long)trees, (double)trees / n);
    printf("| kvorm LMDB | data.mdb file size (st_size) / allocated (st_blocks) | %llu / %llu | %.1f / %.1f |\n",
           (unsigned long long)rep->file_size, (unsigned long long)rep->file_alloc, (double)rep->file_size / n,
           (double)rep->file_alloc / n);
    printf("| SQLite | page_count x page_size (%lld x %lld, %lld free) | %lld | %.1f |\n", (long long)pc,
           (long long)ps, (long long)fl, (long long)(pc * ps), (double)(pc * ps) / n);
    printf("| SQLite | sqlite.db + WAL after wal_checkpoint(TRUNCATE) | %llu + %llu | %.1f |\n",
           (unsigned long long)sq_file, (unsigned long long)sq_wal, (double)(sq_file + sq_wal) / n);
    static const char *const names[4] = {"meta", "records", "uniques", "index"};
    printf("\nkvorm's named databases (mdb_stat): ");
    for (int i = 0; i < 4; i++)
        printf("%s%s %llu entries, depth %llu, %.1f B/record", i ? "; " : "", names[i],
               (unsigned long long)rep->entries[i], (unsigned long long)rep->depth[i],
               (double)(rep->pages[i] * rep->psize) / n);
    printf("\n");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(b->sq, "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY name", -1, &st,
                           NULL) == SQLITE_OK) {
        printf("SQLite's b-trees (dbstat): ");
        int k = 0;
        while (sqlite3_step(st) == SQLITE_ROW)
            printf("%s%s %.1f B/record", k++ ? "; " : "", (const char *)sqlite3_column_text(st, 0),
                   (double)sqlite3_column_int64(st, 1) / n);
        printf("\n");
        sqlite3_finalize(st);
    }
    printf("SUMMARY_SIZE records=%llu kv_used=%llu kv_trees=%llu kv_file=%llu sq_pages=%lld sq_file=%llu "
           "kv_per_record=%.1f sq_per_record=%.1f\n",
           (unsigned long long)b->records, (unsigned long long)used, (unsigned long long)trees,
           (unsigned long long)rep->file_size, (long long)(pc * ps), (unsigned long long)(sq_file + sq_wal),
           (double)used / n, (double)(pc * ps) / n);
}

int main(int argc, char **argv)
{
    bench_prog = "lmdb_bench";
    static bench B;
    bench *b = &B;
    double secs = 2;
    uint64_t records = 1000000;
    long long sq_mmap = 0;
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argv[0]);
        return argc < 2 ? 2 : 0;
    }
    const char *dir = argv[1];
    for (int i = 2; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--records") == 0 && i + 1 < argc) {
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v < 1000 || v > 100000000)
                die("--records takes 1000 to 100000000");
            records = v;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            secs = strtod(argv[++i], &end);
            if (*end || !(secs > 0) || secs > 3600)
                die("--seconds takes a positive number of seconds up to 3600");
        } else if (strcmp(argv[i], "--sqlite-mmap") == 0 && i + 1 < argc) {
            sq_mmap = strtoll(argv[++i], &end, 10);
            if (*end || sq_mmap < 0)
                die("--sqlite-mmap takes a number of bytes");
        } else {
            usage(argv[0]);
            return 2;
        }
    }

    /* the raw LMDB child, before anything is opened */
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0)
        die("pipe: %s", strerror(errno));
    fflush(NULL);
    b->child = fork();
    if (b->child < 0)
        die("fork: %s", strerror(errno));
    if (b->child == 0) {
        close(down[1]);
        close(up[0]);
        child_main(down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);
    b->to_child = down[1];
    b->from_child = up[0];

    if (mkdir(dir, 0775) != 0 && errno != EEXIST)
        die("mkdir %s: %s", dir, strerror(errno));
    char absdir[PATH_MAX];
    if (!realpath(dir, absdir))
        die("realpath %s: %s", dir, strerror(errno));
    if (strlen(absdir) > PATH_MAX - 64 ||
        snprintf(b->kv_dir, sizeof b->kv_dir, "%s/kvorm", absdir) >= (int)sizeof b->kv_dir ||
        snprintf(b->sq_path, sizeof b->sq_path, "%s/sqlite.db", absdir) >= (int)sizeof b->sq_path)
        die("%s: the path is too long", absdir);
    /* it writes a gigabyte or so and removes nothing: never into a directory that holds anything */
    DIR *d = opendir(absdir);
    if (!d)
        die("opendir %s: %s", absdir, strerror(errno));
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            die("%s is not empty (it holds %s): give lmdb_bench an empty or missing directory", absdir, de->d_name);
    closedir(d);

    msgpack_sbuffer_init(&b->buf);
    msgpack_packer_init(&b->pk, &b->buf, msgpack_sbuffer_write);
    for (size_t s = 0; s < NSTATUS; s++) {
        msgpack_sbuffer_init(&b->many_req[s]);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &b->many_req[s], msgpack_sbuffer_write);
        pk_request_head(&pk, MODEL, "findMany", 2);
        PK_LIT(&pk, "where");
        msgpack_pack_map(&pk, 1);
        PK_LIT(&pk, "status");
        pk_str(&pk, STATUS[s]);
        PK_LIT(&pk, "take");
        msgpack_pack_int(&pk, TAKE);
    }

    open_kvorm(b, "full");
    if (sqlite3_open_v2(b->sq_path, &b->sq, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        die("sqlite3_open %s: %s", b->sq_path, sqlite3_errmsg(b->sq));
    sq_exec(b, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL");
    if (sq_mmap > 0) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA mmap_size=%lld", sq_mmap);
        sq_exec(b, pragma);
    }
    sq_exec(b, SQL_SCHEMA);
    b->st_get = sq_prepare(b, SQL_GET);
    b->st_many = sq_prepare(b, SQL_MANY);
    b->st_insert = sq_prepare(b, SQL_INSERT);
    b->st_begin = sq_prepare(b, "BEGIN");
    b->st_commit = sq_prepare(b, "COMMIT");

    print_capabilities(b);
    printf("lmdb_bench: %llu records, %g s per side per case, batches of %d, take %d, in %s\n",
           (unsigned long long)records, secs, BATCH, TAKE, absdir);
    printf("schema: %s\n", SCHEMA_JSON);
    printf("SQLite: %s %s %s (cache_size %lld, mmap_size %lld)\n", SQL_SCHEMA, SQL_GET, SQL_MANY,
           (long long)sq_int(b, "PRAGMA cache_size"), (long long)sq_int(b, "PRAGMA mmap_size"));
    fflush(stdout);

    fprintf(stderr, "lmdb_bench: loading %llu records\n", (unsigned long long)records);
    load(b, records);
    check_kvorm(b);

    ch_cmd cmd;
    ch_rep rep;
    memset(&cmd, 0, sizeof cmd);
    cmd.op = CH_OPEN;
    cmd.records = records;
    if (snprintf(cmd.path, sizeof cmd.path, "%s", b->kv_dir) >= (int)sizeof cmd.path)
        die("%s: the path is too long", b->kv_dir);
    child_call(b, &cmd, &rep);
    printf("raw LMDB (a child process, plain mdb_env_open of kvorm's environment): the records and index entries "
           "of docs/format.md found\n");
    sizes(b, &rep);
    fflush(stdout);

    fprintf(stderr, "lmdb_bench: measuring\n");
    result res[8];
    int n = 0;
    side kv_get = {op_kv_get, 0}, kv_many = {op_kv_many, 0}, kv_create = {op_kv_create, 0};
    side raw_get = {NULL, CH_GET}, raw_many = {NULL, CH_MANY}, sq_get = {op_sq_get, 0}, sq_many = {op_sq_many, 0},
         sq_create = {op_sq_create, 0};
    res[n++] = measure(b, "1. findUnique by id", "raw mdb_get + msgpack_unpack", kv_get, raw_get, secs, 0.3);
    res[n++] = measure(b, "2. findUnique by id", "SQLite SELECT by PK", kv_get, sq_get, secs, 1.0);
    res[n++] = measure(b, "3. findMany status = X take 100", "SQLite SELECT .. LIMIT 100", kv_many, sq_many, secs,
                       1.0);
    res[n++] = measure(b, "4. findMany status = X take 100", "raw cursor + 100 mdb_get", kv_many, raw_many, secs,
                       0);
    res[n++] = measure(b, "5. create, batch of 1000 (sync=full / WAL FULL)", "SQLite txn of 1000 INSERT",
                       kv_create, sq_create, secs, 1.0);
    /* the speed setting: kvorm reopened with sync=nosync, SQLite synchronous=OFF */
    kvorm_close(b->db);
    open_kvorm(b, "nosync");
    sq_exec(b, "PRAGMA synchronous=OFF");
    res[n++] = measure(b, "6. create, batch of 1000 (nosync / WAL OFF)", "SQLite txn of 1000 INSERT", kv_create,
                       sq_create, secs, 1.0);
    print_results(res, n, records);
    printf("\nops of cases 5 and 6 are batches of 1000 records: records/s = 1000 x ops/s. Records created by the "
           "create cases: kvorm %llu, SQLite %llu.\n",
           (unsigned long long)b->kv_created, (unsigned long long)b->sq_created);
    printf("\nSUMMARY lmdb_bench records=%llu", (unsigned long long)records);
    static const char *const keys[6] = {"get_raw", "get_sqlite", "many_sqlite", "many_raw", "create_full",
                                        "create_nosync"};
    for (int i = 0; i < n; i++)
        printf(" %s_kv=%.0f %s_other=%.0f %s_median=%.3f", keys[i], res[i].kv_ops, keys[i], res[i].o_ops, keys[i],
               res[i].median);
    printf("\n");
    fflush(stdout);

    memset(&cmd, 0, sizeof cmd);
    cmd.op = CH_QUIT;
    write_full(b->to_child, &cmd, sizeof cmd);
    close(b->to_child);
    close(b->from_child);
    waitpid(b->child, NULL, 0);
    kvorm_close(b->db);
    sqlite3_finalize(b->st_get);
    sqlite3_finalize(b->st_many);
    sqlite3_finalize(b->st_insert);
    sqlite3_finalize(b->st_begin);
    sqlite3_finalize(b->st_commit);
    sqlite3_close(b->sq);
    msgpack_sbuffer_destroy(&b->buf);
    for (size_t s = 0; s < NSTATUS; s++)
        msgpack_sbuffer_destroy(&b->many_req[s]);
    if (b->sink == 42)
        printf("\n"); /* keeps the reads */
    return 0;
}
