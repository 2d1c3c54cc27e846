/*
 * query_bench - kvorm's query engine against the same reads done by hand with raw hiredis, on one Redis server.
 *
 *   query_bench <url> [--records N] [--seconds S] [--queries Q] [--three-indexes]
 *
 * Loads N records (default 1,000,000) of a chat-message model with createMany (batches of 1000 through
 * kvorm_exec), 200 messages per room, and measures, in one run:
 *   A. findMany where {roomId} take 100             vs  a pipeline of 100 HGETALL (the ids known in advance)
 *   B. findMany where {roomId, sentAt >= T} orderBy sentAt desc take 100 on the composite index
 *                                                    vs  ZRANGE BYLEX REV LIMIT on the index key + 100 HGETALL
 *   C. count where {roomId, sentAt >= T}             vs  ZLEXCOUNT on the index key
 *   D. Redis commands and round trips per query (INFO commandstats and total_reads_processed deltas)
 *   E. memory per record (INFO memory used_memory delta / N) beside the floor: one HSET per record of the same
 *      field bytes, no index, no unique, in the next database number
 * A, B and C run at 10,000 records first, then (when N is larger) again at N records, so the two sizes can be
 * compared: the time of a query must not grow with N. See benchmarks/README.md.
 *
 * The raw side's bounds for B and C are the "ranges" kvorm's explain prints (hex of the encoded index keys,
 * docs/queries.md), so the raw side reads exactly the index entries kvorm reads; the raw side checks at setup
 * that it finds the same records as kvorm does.
 *
 * Give it a throwaway server (scripts/bench-query.sh starts one): it refuses to run unless the URL's database
 * and the next one are empty, and it cleans nothing up (deleting a million records costs more than the server).
 *
 * Exit status: 0 when every case ran (a MISS against a target is reported, not an error), 1 on any error.
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
#include <unistd.h>

#define ROOM_SIZE 200       /* messages per room: take 100 never returns a whole room */
#define TAKE 100
#define GTE_J 50            /* sentAt >= T matches the messages 50..199 of a room: 150 rows */
#define BASE_TIME 1767225600LL /* 2026-01-01T00:00:00Z */
#define SMALL_N 10000       /* the first measured size */
#define LOAD_BATCH 1000     /* records per createMany request */
#define SAMPLE_ROOMS 256    /* the rooms the queries cycle over */

#define NS "qbench"
#define MODEL "Message"
/* docs/format.md: record keys and index keys of the Redis engine. */
#define K_RECORD NS ":{" MODEL "}:r:"
#define K_INDEX_PREFIX NS ":{" MODEL "}:x:"
#define COMPOSITE "roomId_sentAt"

static const char SCHEMA_HEAD[] =
    "{\"namespace\":\"" NS "\",\"models\":{\"" MODEL "\":{\"id\":{\"type\":\"string\",\"generate\":\"ulid\"},"
    "\"fields\":{\"roomId\":{\"type\":\"string\",\"index\":true},";
static const char SCHEMA_SENTAT_2[] = "\"sentAt\":{\"type\":\"datetime\"},";
static const char SCHEMA_SENTAT_3[] = "\"sentAt\":{\"type\":\"datetime\",\"index\":true},";
static const char SCHEMA_TAIL[] =
    "\"score\":{\"type\":\"decimal\",\"optional\":true},\"body\":{\"type\":\"string\"},"
    "\"ref\":{\"type\":\"string\",\"unique\":true}},"
    "\"indexes\":[[\"roomId\",\"sentAt\"]]}}}";

typedef struct room_q {
    size_t room;
    msgpack_sbuffer req_a, req_b, req_c; /* prebuilt kvorm requests */
    char *ids_a[TAKE];                   /* the ids findMany A returns: what the raw side fetches */
    char *keys_a[TAKE];                  /* their record keys */
    size_t keylen_a[TAKE];
    char *lo, *hi;                       /* raw ZRANGE/ZLEXCOUNT bounds of B and C ("[<bytes>", "-", ...) */
    size_t lo_len, hi_len;
} room_q;

typedef struct phase {
    size_t records;
    room_q q[SAMPLE_ROOMS];
    size_t nq;
} phase;

typedef struct bench {
    const char *url;
    kvorm_db *db;
    redisContext *rc;
    int dbnum, floor_db;
    size_t records_target;
    size_t loaded;      /* records created through kvorm so far */
    size_t floor_loaded;
    bool three_indexes;
    char index_key[128];
    bool raw_index_ok;  /* the composite index key is where docs/format.md puts it */
    msgpack_sbuffer buf;
    msgpack_packer pk;
    /* per-op state */
    phase *ph;
    size_t next;
} bench;

/* ---------------------------------------------------------------------------------------------------------- */
/* MessagePack helpers */

/* A datetime of whole seconds as the canonical timestamp32 (docs/format.md). */
static void pk_time(msgpack_packer *pk, int64_t secs)
{
    unsigned char b[4] = {(unsigned char)(secs >> 24), (unsigned char)(secs >> 16), (unsigned char)(secs >> 8),
                          (unsigned char)secs};
    msgpack_pack_ext(pk, 4, -1);
    msgpack_pack_ext_body(pk, b, 4);
}

static char *obj_strdup(const msgpack_object *o)
{
    if (!o || o->type != MSGPACK_OBJECT_STR)
        return NULL;
    char *s = xmalloc(o->via.str.size + 1);
    memcpy(s, o->via.str.ptr, o->via.str.size);
    s[o->via.str.size] = '\0';
    return s;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* the data set: record i is message i % 200 of room i / 200 */

static void room_name(char *out, size_t cap, size_t room)
{
    snprintf(out, cap, "room-%06zu", room);
}

static int64_t sent_at(size_t i)
{
    return BASE_TIME + 60 * (int64_t)(i % ROOM_SIZE) + (int64_t)((i / ROOM_SIZE) % 60);
}

static int64_t gte_time(void)
{
    return BASE_TIME + 60 * GTE_J;
}

/* Packs the data of record i; the floor packs the same bytes by the same function (values only). */
typedef struct rec_fields {
    char room[32], score[32], body[96], ref[32];
    bool has_score;
} rec_fields;

static void rec_make(rec_fields *f, size_t i)
{
    room_name(f->room, sizeof f->room, i / ROOM_SIZE);
    f->has_score = i % 4 != 3; /* a quarter of the scores are null */
    snprintf(f->score, sizeof f->score, "%zu.5", i % 1000);
    snprintf(f->body, sizeof f->body, "message %07zu of %s: see you at the usual place", i, f->room);
    snprintf(f->ref, sizeof f->ref, "ref-%09zu", i);
}

static void pk_record(msgpack_packer *pk, size_t i)
{
    rec_fields f;
    rec_make(&f, i);
    msgpack_pack_map(pk, f.has_score ? 5 : 4);
    pk_str(pk, "roomId");
    pk_str(pk, f.room);
    pk_str(pk, "sentAt");
    pk_time(pk, sent_at(i));
    if (f.has_score) {
        pk_str(pk, "score");
        pk_str(pk, f.score);
    }
    pk_str(pk, "body");
    pk_str(pk, f.body);
    pk_str(pk, "ref");
    pk_str(pk, f.ref);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* kvorm calls */

/* A response unpacked: its objects point into out (msgpack-c does not copy strings), so both live together. */
typedef struct resp {
    unsigned char *out;
    size_t len;
    msgpack_unpacked u;
} resp;

static const msgpack_object *kv_exec_obj(bench *b, const msgpack_sbuffer *req, resp *r)
{
    size_t off = 0;
    kv_exec_ok(b->db, req->data, req->size, &r->out, &r->len);
    msgpack_unpacked_init(&r->u);
    if (msgpack_unpack_next(&r->u, (const char *)r->out, r->len, &off) != MSGPACK_UNPACK_SUCCESS)
        die("kvorm's response is not MessagePack");
    return &r->u.data;
}

static void resp_free(resp *r)
{
    msgpack_unpacked_destroy(&r->u);
    kvorm_free(r->out);
    r->out = NULL;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* raw hiredis */

static redisReply *cmd_argv(bench *b, int argc, const char **argv, const size_t *lens)
{
    redisReply *r = redisCommandArgv(b->rc, argc, argv, lens);
    if (!r)
        die("redis: %s", b->rc->errstr[0] ? b->rc->errstr : "connection lost");
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "query_bench: redis error for %s: %s\n", argv[0], r->str);
        die("aborting");
    }
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
        fprintf(stderr, "query_bench: redis error for \"%s\": %s\n", fmt, r->str);
        die("aborting");
    }
    return r;
}

static redisReply *get_reply(bench *b)
{
    void *r = NULL;
    if (redisGetReply(b->rc, &r) != REDIS_OK || !r)
        die("redis: %s", b->rc->errstr[0] ? b->rc->errstr : "connection lost");
    return r;
}

static void select_db(bench *b, int n)
{
    freeReplyObject(cmd(b, "SELECT %d", n));
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
    cfg.command_timeout_ms = 60000; /* INFO and the floor's pipelines at 1M records */
    cfg.pool_size = 1;
    if (kv_redis_parse_url(&cfg, b->url, &err) != 0 || kv_pool_init(&pool, &cfg, &err) != 0)
        die("raw connect to %s: %s", b->url, err.message);
    int rc = kv_pool_acquire(&pool, &b->rc, &err);
    kv_pool_destroy(&pool); /* the connection is ours now: the pool only lent it */
    if (rc != 0)
        die("raw connect to %s: %s", b->url, err.message);
    b->dbnum = cfg.db;
    b->floor_db = cfg.db + 1;
}

static long long used_memory(bench *b)
{
    redisReply *r = cmd(b, "INFO memory");
    long long v = info_field(r->str, "used_memory");
    freeReplyObject(r);
    if (v < 0)
        die("INFO memory has no used_memory");
    return v;
}

/* Counters of the server: every command call (cmdstat_*, without INFO itself), a few by name, and read events
 * (total_reads_processed: one per round trip of a client that sends a request at a time). */
#define MAX_CMDS 24
typedef struct counters {
    long long calls, reads;
    int n;
    char name[MAX_CMDS][24];
    long long by[MAX_CMDS];
} counters;

static void read_counters(bench *b, counters *c)
{
    memset(c, 0, sizeof *c);
    redisReply *r = cmd(b, "INFO stats commandstats");
    c->reads = info_field(r->str, "total_reads_processed");
    for (const char *p = r->str; (p = strstr(p, "cmdstat_")) != NULL;) {
        p += 8;
        size_t nl = strcspn(p, ":");
        const char *calls = strstr(p, "calls=");
        if (!calls)
            break;
        long long v = strtoll(calls + 6, NULL, 10);
        if (!(nl == 4 && memcmp(p, "info", 4) == 0)) {
            c->calls += v;
            if (c->n < MAX_CMDS) {
                snprintf(c->name[c->n], sizeof c->name[0], "%.*s", (int)(nl < 23 ? nl : 23), p);
                c->by[c->n++] = v;
            }
        }
        p = calls;
    }
    freeReplyObject(r);
}

/* after - before, per query: commands, round trips (the INFO call after the run is one read of its own), and
 * the commands by name ("zrange 1, hgetall 100"). */
static void counters_delta(const counters *before, const counters *after, size_t queries, double *cmds,
                           double *rts, char *detail, size_t cap)
{
    *cmds = (double)(after->calls - before->calls) / (double)queries;
    *rts = (double)(after->reads - before->reads - 1) / (double)queries;
    size_t used = 0;
    detail[0] = '\0';
    for (int i = 0; i < after->n; i++) {
        long long was = 0;
        for (int j = 0; j < before->n; j++)
            if (strcmp(before->name[j], after->name[i]) == 0)
                was = before->by[j];
        double d = (double)(after->by[i] - was) / (double)queries;
        if (d < 0.005)
            continue;
        int w = snprintf(detail + used, cap - used, "%s%s %.3g", used ? ", " : "", after->name[i], d);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
    }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* loading */

/* Creates records [b->loaded, upto) with createMany, LOAD_BATCH per request. */
static void load_kvorm(bench *b, size_t upto)
{
    double t0 = now_s();
    size_t first = b->loaded;
    while (b->loaded < upto) {
        size_t n = upto - b->loaded < LOAD_BATCH ? upto - b->loaded : LOAD_BATCH;
        msgpack_sbuffer_clear(&b->buf);
        pk_request_head(&b->pk, MODEL, "createMany", 1);
        pk_str(&b->pk, "data");
        msgpack_pack_array(&b->pk, n);
        for (size_t k = 0; k < n; k++)
            pk_record(&b->pk, b->loaded + k);
        resp u;
        const msgpack_object *res = kv_exec_obj(b, &b->buf, &u);
        const msgpack_object *count = map_get(res, "count");
        if (!count || count->type != MSGPACK_OBJECT_POSITIVE_INTEGER || count->via.u64 != n)
            die("createMany of %zu records did not answer {\"count\": %zu}", n, n);
        resp_free(&u);
        b->loaded += n;
        if (b->loaded % 100000 == 0)
            fprintf(stderr, "  %zu records\n", b->loaded);
    }
    double dt = now_s() - t0;
    fprintf(stderr, "query_bench: created %zu records with createMany in %.1f s (%.0f records/s)\n",
            b->loaded - first, dt, (double)(b->loaded - first) / dt);
}

/* The floor: record i's field bytes (the same canonical values kvorm stores) in one HSET, under a key as long as
 * kvorm's record key, in the next database; no $v, no unique, no index, no id collection. */
static void pack_floor(msgpack_sbuffer *vals, size_t *off, size_t i)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, vals, msgpack_sbuffer_write);
    rec_fields f;
    rec_make(&f, i);
    off[0] = vals->size;
    pk_str(&pk, f.room);
    off[1] = vals->size;
    pk_time(&pk, sent_at(i));
    off[2] = vals->size;
    if (f.has_score)
        pk_str(&pk, f.score);
    off[3] = vals->size;
    pk_str(&pk, f.body);
    off[4] = vals->size;
    pk_str(&pk, f.ref);
    off[5] = vals->size;
}

static void load_floor(bench *b, size_t upto)
{
    static const char *const names[5] = {"roomId", "sentAt", "score", "body", "ref"};
    select_db(b, b->floor_db);
    msgpack_sbuffer vals;
    msgpack_sbuffer_init(&vals);
    while (b->floor_loaded < upto) {
        size_t n = upto - b->floor_loaded < LOAD_BATCH ? upto - b->floor_loaded : LOAD_BATCH;
        for (size_t k = 0; k < n; k++) {
            size_t i = b->floor_loaded + k, off[6];
            char key[96];
            /* a 26-character id like a ULID, so the key has kvorm's length */
            int klen = snprintf(key, sizeof key, K_RECORD "01FLOOR%019zu", i);
            msgpack_sbuffer_clear(&vals);
            pack_floor(&vals, off, i);
            const char *argv[12];
            size_t lens[12];
            int argc = 0;
            argv[argc] = "HSET";
            lens[argc++] = 4;
            argv[argc] = key;
            lens[argc++] = (size_t)klen;
            for (int fi = 0; fi < 5; fi++) {
                if (off[fi + 1] == off[fi])
                    continue; /* null: not stored */
                argv[argc] = names[fi];
                lens[argc++] = strlen(names[fi]);
                argv[argc] = vals.data + off[fi];
                lens[argc++] = off[fi + 1] - off[fi];
            }
            redisAppendCommandArgv(b->rc, argc, argv, lens);
        }
        for (size_t k = 0; k < n; k++) {
            redisReply *r = get_reply(b);
            if (r->type != REDIS_REPLY_INTEGER)
                die("floor HSET: unexpected reply");
            freeReplyObject(r);
        }
        b->floor_loaded += n;
    }
    msgpack_sbuffer_destroy(&vals);
    select_db(b, b->dbnum);
}

/* The floor is only fair if its values are kvorm's bytes: compares kvorm's stored hash of the record with ref
 * `ref` (record i) with what the floor stores. */
static void check_floor_bytes(bench *b, const char *id, size_t i)
{
    static const char *const names[5] = {"roomId", "sentAt", "score", "body", "ref"};
    redisReply *r = cmd(b, "HGETALL " K_RECORD "%s", id);
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        die("kvorm's record %s is not the hash " K_RECORD "<id> of docs/format.md", id);
    msgpack_sbuffer vals;
    msgpack_sbuffer_init(&vals);
    size_t off[6];
    pack_floor(&vals, off, i);
    for (int fi = 0; fi < 5; fi++) {
        bool found = false;
        for (size_t k = 0; k + 1 < r->elements; k += 2) {
            if (strcmp(r->element[k]->str, names[fi]) != 0)
                continue;
            found = true;
            const redisReply *v = r->element[k + 1];
            if (v->len != off[fi + 1] - off[fi] || memcmp(v->str, vals.data + off[fi], v->len) != 0)
                fprintf(stderr, "query_bench: warning: kvorm stores %s of record %zu differently from the floor\n",
                        names[fi], i);
        }
        if (!found && off[fi + 1] != off[fi])
            fprintf(stderr, "query_bench: warning: kvorm's record %zu has no field %s\n", i, names[fi]);
    }
    msgpack_sbuffer_destroy(&vals);
    freeReplyObject(r);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* query set-up */

static void build_where_range(msgpack_packer *pk, const char *room)
{
    pk_str(pk, "where");
    msgpack_pack_map(pk, 2);
    pk_str(pk, "roomId");
    pk_str(pk, room);
    pk_str(pk, "sentAt");
    msgpack_pack_map(pk, 1);
    pk_str(pk, "gte");
    pk_time(pk, gte_time());
}

static void build_req_b_args(msgpack_packer *pk, const char *room)
{
    msgpack_pack_map(pk, 3);
    build_where_range(pk, room);
    pk_str(pk, "orderBy");
    msgpack_pack_map(pk, 1);
    pk_str(pk, "sentAt");
    pk_str(pk, "desc");
    pk_str(pk, "take");
    msgpack_pack_int(pk, TAKE);
}

static void build_requests(room_q *q)
{
    char room[32];
    room_name(room, sizeof room, q->room);
    msgpack_packer pk;

    msgpack_sbuffer_init(&q->req_a);
    msgpack_packer_init(&pk, &q->req_a, msgpack_sbuffer_write);
    pk_request_head(&pk, MODEL, "findMany", 2);
    pk_str(&pk, "where");
    msgpack_pack_map(&pk, 1);
    pk_str(&pk, "roomId");
    pk_str(&pk, room);
    pk_str(&pk, "take");
    msgpack_pack_int(&pk, TAKE);

    msgpack_sbuffer_init(&q->req_b);
    msgpack_packer_init(&pk, &q->req_b, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    pk_str(&pk, "model");
    pk_str(&pk, MODEL);
    pk_str(&pk, "op");
    pk_str(&pk, "findMany");
    pk_str(&pk, "args");
    build_req_b_args(&pk, room);

    msgpack_sbuffer_init(&q->req_c);
    msgpack_packer_init(&pk, &q->req_c, msgpack_sbuffer_write);
    pk_request_head(&pk, MODEL, "count", 1);
    build_where_range(&pk, room);
}

/* explain of query B: checks the plan (the composite index, in order, one range) and takes its bounds. */
static void explain_b(bench *b, room_q *q, bool print)
{
    char room[32];
    room_name(room, sizeof room, q->room);
    msgpack_sbuffer req;
    msgpack_sbuffer_init(&req);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &req, msgpack_sbuffer_write);
    pk_explain_head(&pk, MODEL, "findMany");
    build_req_b_args(&pk, room);
    resp u;
    const msgpack_object *plan = kv_exec_obj(b, &req, &u);
    if (print) {
        printf("explain B: ");
        msgpack_object_print(stdout, *plan);
        printf("\n");
    }
    const msgpack_object *kind = map_get(plan, "plan"), *index = map_get(plan, "index"),
                         *ranges = map_get(plan, "ranges");
    if (!kind || kind->type != MSGPACK_OBJECT_STR || kind->via.str.size != 5 ||
        memcmp(kind->via.str.ptr, "index", 5) != 0 || !index || index->type != MSGPACK_OBJECT_STR ||
        index->via.str.size != strlen(COMPOSITE) || memcmp(index->via.str.ptr, COMPOSITE, index->via.str.size) != 0)
        fprintf(stderr, "query_bench: warning: query B is not planned on the index " COMPOSITE "\n");
    if (!ranges || ranges->type != MSGPACK_OBJECT_ARRAY || ranges->via.array.size != 1 ||
        ranges->via.array.ptr[0].type != MSGPACK_OBJECT_ARRAY || ranges->via.array.ptr[0].via.array.size != 2)
        die("explain of query B has no single [lo, hi] range");
    const msgpack_object *r = ranges->via.array.ptr[0].via.array.ptr;
    q->lo = lex_bound(&r[0], false, &q->lo_len);
    q->hi = lex_bound(&r[1], true, &q->hi_len);
    resp_free(&u);
    msgpack_sbuffer_destroy(&req);
}

static void explain_print(bench *b, const char *label, const char *op, const msgpack_sbuffer *query)
{
    /* query is a full request: re-wrap its args as explain's */
    msgpack_unpacked qu;
    msgpack_unpacked_init(&qu);
    size_t off = 0;
    if (msgpack_unpack_next(&qu, query->data, query->size, &off) != MSGPACK_UNPACK_SUCCESS)
        die("bad prebuilt request");
    msgpack_sbuffer req;
    msgpack_sbuffer_init(&req);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &req, msgpack_sbuffer_write);
    pk_explain_head(&pk, MODEL, op);
    msgpack_pack_object(&pk, *map_get(&qu.data, "args"));
    resp u;
    const msgpack_object *plan = kv_exec_obj(b, &req, &u);
    printf("explain %s: ", label);
    msgpack_object_print(stdout, *plan);
    printf("\n");
    resp_free(&u);
    msgpack_unpacked_destroy(&qu);
    msgpack_sbuffer_destroy(&req);
}

/* The id of a member of the composite index: the member ends with the id element, for a string id 0x50, the
 * id's bytes (a ULID has no 0x00 to escape) and the string terminator 0x00 0x00 (docs/format.md, "Index keys"). */
static bool member_id(const redisReply *m, const char **id, size_t *len)
{
    if (m->type != REDIS_REPLY_STRING || m->len < 29 || m->str[m->len - 1] != 0 || m->str[m->len - 2] != 0 ||
        (unsigned char)m->str[m->len - 29] != 0x50)
        return false;
    *id = m->str + m->len - 28;
    *len = 26;
    return true;
}

/* Prepares the queries of one phase: SAMPLE_ROOMS rooms spread over the full rooms, kvorm's A answer (its ids
 * for the raw side) and B's bounds from explain; checks that the raw side finds what kvorm finds. */
static void setup_phase(bench *b, phase *ph)
{
    size_t rooms = b->loaded / ROOM_SIZE;
    ph->records = b->loaded;
    ph->nq = rooms < SAMPLE_ROOMS ? rooms : SAMPLE_ROOMS;
    for (size_t k = 0; k < ph->nq; k++) {
        room_q *q = &ph->q[k];
        q->room = k * rooms / ph->nq;
        build_requests(q);

        resp u;
        const msgpack_object *rows = kv_exec_obj(b, &q->req_a, &u);
        if (rows->type != MSGPACK_OBJECT_ARRAY || rows->via.array.size != TAKE)
            die("findMany A of room %zu returned %u rows, expected %d", q->room,
                rows->type == MSGPACK_OBJECT_ARRAY ? rows->via.array.size : 0, TAKE);
        for (size_t i = 0; i < TAKE; i++) {
            const msgpack_object *row = &rows->via.array.ptr[i];
            q->ids_a[i] = obj_strdup(map_get(row, "id"));
            if (!q->ids_a[i])
                die("findMany A returned a row without a string id");
            size_t n = strlen(K_RECORD) + strlen(q->ids_a[i]);
            q->keys_a[i] = xmalloc(n + 1);
            snprintf(q->keys_a[i], n + 1, K_RECORD "%s", q->ids_a[i]);
            q->keylen_a[i] = n;
            if (k == 0 && i < 3) {
                char *ref = obj_strdup(map_get(row, "ref"));
                if (!ref || strncmp(ref, "ref-", 4) != 0)
                    die("findMany A returned a row without its ref");
                check_floor_bytes(b, q->ids_a[i], strtoul(ref + 4, NULL, 10));
                free(ref);
            }
        }
        resp_free(&u);

        explain_b(b, q, false);
        if (!b->raw_index_ok)
            continue;
        /* raw B must return the records kvorm's B returns, in the same order */
        rows = kv_exec_obj(b, &q->req_b, &u);
        const char *argv[9] = {"ZRANGE", b->index_key, q->hi, q->lo, "BYLEX", "REV", "LIMIT", "0", "100"};
        size_t lens[9] = {6, strlen(b->index_key), q->hi_len, q->lo_len, 5, 3, 5, 1, 3};
        redisReply *r = cmd_argv(b, 9, argv, lens);
        if (r->type != REDIS_REPLY_ARRAY || rows->type != MSGPACK_OBJECT_ARRAY || rows->via.array.size != TAKE)
            die("query B of room %zu: kvorm returned %u rows", q->room,
                rows->type == MSGPACK_OBJECT_ARRAY ? rows->via.array.size : 0);
        for (size_t i = 0; i < TAKE && b->raw_index_ok; i++) {
            const char *id;
            size_t len;
            const msgpack_object *kid = map_get(&rows->via.array.ptr[i], "id");
            if (i >= r->elements || !member_id(r->element[i], &id, &len) || !kid ||
                kid->type != MSGPACK_OBJECT_STR || kid->via.str.size != len ||
                memcmp(kid->via.str.ptr, id, len) != 0) {
                /* the members are not explain's keys followed by the id: the raw side cannot do B and C */
                fprintf(stderr, "query_bench: warning: query B of room %zu: raw ZRANGE BYLEX REV on %s with "
                        "explain's bounds does not give kvorm's rows (row %zu): B and C run without their raw "
                        "side\n", q->room, b->index_key, i);
                b->raw_index_ok = false;
            }
        }
        freeReplyObject(r);
        resp_free(&u);
    }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* the operations measured */

static room_q *next_q(bench *b)
{
    return &b->ph->q[b->next++ % b->ph->nq];
}

static void kv_run_rows(bench *b, const msgpack_sbuffer *req, size_t expect)
{
    unsigned char *out;
    size_t out_len;
    kv_exec_ok(b->db, req->data, req->size, &out, &out_len);
    /* an array header of `expect` rows: fixarray (<16) or array16 */
    bool ok = out_len > 3 && (expect < 16 ? out[0] == (0x90 | expect)
                                          : out[0] == 0xdc && ((size_t)out[1] << 8 | out[2]) == expect);
    if (!ok)
        die("kvorm returned other than %zu rows", expect);
    kvorm_free(out);
}

static void op_kv_a(bench *b)
{
    kv_run_rows(b, &next_q(b)->req_a, TAKE);
}

/* 100 HGETALL in one pipeline: one write, one round trip */
static void raw_fetch(bench *b, char *const *keys, const size_t *keylens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *argv[2] = {"HGETALL", keys[i]};
        size_t lens[2] = {7, keylens[i]};
        redisAppendCommandArgv(b->rc, 2, argv, lens);
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *r = get_reply(b);
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 8)
            die("raw HGETALL: unexpected reply");
        freeReplyObject(r);
    }
}

static void op_raw_a(bench *b)
{
    room_q *q = next_q(b);
    raw_fetch(b, q->keys_a, q->keylen_a, TAKE);
}

static void op_kv_b(bench *b)
{
    kv_run_rows(b, &next_q(b)->req_b, TAKE);
}

static void op_raw_b(bench *b)
{
    room_q *q = next_q(b);
    const char *argv[10] = {"ZRANGE", b->index_key, q->hi, q->lo, "BYLEX", "REV", "LIMIT", "0", "100"};
    size_t lens[10] = {6, strlen(b->index_key), q->hi_len, q->lo_len, 5, 3, 5, 1, 3};
    redisReply *r = cmd_argv(b, 9, argv, lens);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != TAKE)
        die("raw ZRANGE BYLEX: %zu members, expected %d", r->type == REDIS_REPLY_ARRAY ? r->elements : 0, TAKE);
    char keys[TAKE][64];
    char *kp[TAKE];
    size_t kl[TAKE];
    for (size_t i = 0; i < TAKE; i++) {
        const char *id;
        size_t len;
        if (!member_id(r->element[i], &id, &len))
            die("raw ZRANGE BYLEX: a member that does not end with a ULID element");
        memcpy(keys[i], K_RECORD, strlen(K_RECORD));
        memcpy(keys[i] + strlen(K_RECORD), id, len);
        kp[i] = keys[i];
        kl[i] = strlen(K_RECORD) + len;
    }
    freeReplyObject(r);
    raw_fetch(b, kp, kl, TAKE);
}

static void op_kv_c(bench *b)
{
    room_q *q = next_q(b);
    unsigned char *out;
    size_t out_len;
    kv_exec_ok(b->db, q->req_c.data, q->req_c.size, &out, &out_len);
    /* the answer is the integer 150: uint8 in MessagePack's shortest form; any other form is unpacked */
    if (out_len != 2 || out[0] != 0xcc || out[1] != ROOM_SIZE - GTE_J) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        bool ok = msgpack_unpack_next(&u, (const char *)out, out_len, &off) == MSGPACK_UNPACK_SUCCESS &&
                  u.data.type == MSGPACK_OBJECT_POSITIVE_INTEGER && u.data.via.u64 == ROOM_SIZE - GTE_J;
        msgpack_unpacked_destroy(&u);
        if (!ok)
            die("kvorm count returned other than %d", ROOM_SIZE - GTE_J);
    }
    kvorm_free(out);
}

static void op_raw_c(bench *b)
{
    room_q *q = next_q(b);
    const char *argv[4] = {"ZLEXCOUNT", b->index_key, q->lo, q->hi};
    size_t lens[4] = {9, strlen(b->index_key), q->lo_len, q->hi_len};
    redisReply *r = cmd_argv(b, 4, argv, lens);
    if (r->type != REDIS_REPLY_INTEGER || r->integer != ROOM_SIZE - GTE_J)
        die("raw ZLEXCOUNT returned other than %d", ROOM_SIZE - GTE_J);
    freeReplyObject(r);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* measuring */

typedef void (*op_fn)(bench *b);

/* Runs fn for secs; the count, the wall time and the CPU time of this process (user + system: the client's own
 * work with its syscalls, without the wait for the server). */
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
    size_t records;
    bool has_raw;
    double kv_ops, raw_ops, lo, median, hi; /* median/lo/hi: round ratios kvorm/raw */
    double kv_cmds, kv_rts, raw_cmds, raw_rts;
    double kv_cpu_us, raw_cpu_us; /* client CPU time per query */
    char kv_detail[160], raw_detail[160];
    double target; /* 0: none */
} result;

/* Commands and round trips per query of fn, over `queries` calls. */
static void count_commands(bench *b, op_fn fn, size_t queries, double *cmds, double *rts, char *detail, size_t cap)
{
    counters before, after;
    read_counters(b, &before);
    for (size_t i = 0; i < queries; i++)
        fn(b);
    read_counters(b, &after);
    counters_delta(&before, &after, queries, cmds, rts, detail, cap);
}

/* Warm-up, then ABBA rounds of one kvorm turn and one raw turn, secs in all per side; then the counters. */
static result measure(bench *b, const char *name, op_fn kv, op_fn raw, double secs, size_t queries, double target)
{
    result res;
    memset(&res, 0, sizeof res);
    res.name = name;
    res.records = b->loaded;
    res.target = target;
    res.has_raw = raw != NULL;
    double warm = warmup_seconds(secs), el, cpu;
    run_for(b, kv, warm, &el, &cpu);
    if (raw)
        run_for(b, raw, warm, &el, &cpu);
    int rounds = round_count(secs);
    uint64_t kn = 0, rn = 0;
    double kt = 0, rt = 0, kc = 0, rc = 0, ratios[MAX_ROUNDS];
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
            } else if (raw) {
                uint64_t n = run_for(b, raw, secs / rounds, &el, &cpu);
                rn += n;
                rt += el;
                rc += cpu;
                r_rate = (double)n / el;
            }
        }
        ratios[round] = raw ? k_rate / r_rate : 0;
    }
    qsort(ratios, (size_t)rounds, sizeof ratios[0], compare_doubles);
    res.kv_ops = (double)kn / kt;
    res.kv_cpu_us = kc * 1e6 / (double)kn;
    if (raw) {
        res.raw_ops = (double)rn / rt;
        res.raw_cpu_us = rc * 1e6 / (double)rn;
        res.lo = ratios[0];
        res.hi = ratios[rounds - 1];
        res.median = median_sorted(ratios, rounds);
    }
    count_commands(b, kv, queries, &res.kv_cmds, &res.kv_rts, res.kv_detail, sizeof res.kv_detail);
    if (raw)
        count_commands(b, raw, queries, &res.raw_cmds, &res.raw_rts, res.raw_detail, sizeof res.raw_detail);
    fprintf(stderr, "  %-44s done at %zu records (%d rounds)\n", name, b->loaded, rounds);
    return res;
}

static int run_phase(bench *b, phase *ph, double secs, size_t queries, result *out)
{
    b->ph = ph;
    b->next = 0;
    int n = 0;
    op_fn raw_b = b->raw_index_ok ? op_raw_b : NULL, raw_c = b->raw_index_ok ? op_raw_c : NULL;
    out[n++] = measure(b, "A. findMany where roomId take 100", op_kv_a, op_raw_a, secs, queries, 0.7);
    out[n++] = measure(b, "B. roomId + sentAt>=T, sentAt desc, take 100", op_kv_b, raw_b, secs, queries, 0);
    out[n++] = measure(b, "C. count roomId + sentAt>=T", op_kv_c, raw_c, secs, queries, 0);
    return n;
}

static void print_results(const result *res, int n)
{
    printf("\n| %-44s | %9s | %11s | %11s | %9s | %-16s | %-22s | %-17s | %-17s |\n", "case", "records",
           "kvorm ops/s", "raw ops/s", "kvorm/raw", "target (median)", "round ratios lo/med/hi", "us/query k/r",
           "client CPU us/q k/r");
    printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "----------------------------------------------", "----------:",
           "------------:", "------------:", "----------:", "------------------", "------------------------",
           "------------------:", "------------------:");
    for (int i = 0; i < n; i++) {
        const result *r = &res[i];
        char target[32] = "- (report)", spread[48] = "-", raw_ops[24] = "-", ratio[16] = "-", raw_us[24] = "-";
        if (r->has_raw) {
            if (r->target > 0)
                snprintf(target, sizeof target, ">= %.2fx %s", r->target, r->median >= r->target ? "PASS" : "MISS");
            snprintf(spread, sizeof spread, "%.2f / %.2f / %.2fx", r->lo, r->median, r->hi);
            snprintf(raw_ops, sizeof raw_ops, "%.0f", r->raw_ops);
            snprintf(ratio, sizeof ratio, "%.2fx", r->kv_ops / r->raw_ops);
            snprintf(raw_us, sizeof raw_us, "%.0f", 1e6 / r->raw_ops);
        } else {
            snprintf(target, sizeof target, "no raw side");
        }
        char kv_us[48], cpu[48];
        snprintf(kv_us, sizeof kv_us, "%.0f / %s", 1e6 / r->kv_ops, raw_us);
        snprintf(cpu, sizeof cpu, "%.0f / %s", r->kv_cpu_us, "-");
        if (r->has_raw)
            snprintf(cpu, sizeof cpu, "%.0f / %.0f", r->kv_cpu_us, r->raw_cpu_us);
        printf("| %-44s | %9zu | %11.0f | %11s | %9s | %-16s | %-22s | %17s | %17s |\n", r->name, r->records,
               r->kv_ops, raw_ops, ratio, target, spread, kv_us, cpu);
    }
    printf("\nRedis commands and round trips per query (INFO commandstats, total_reads_processed):\n\n");
    printf("| %-44s | %9s | %-6s | %8s | %11s | %s\n", "case", "records", "side", "commands", "round trips",
           "commands by name");
    printf("|%s|%s|%s|%s|%s|%s\n", "----------------------------------------------", "----------:", "--------",
           "---------:", "------------:", "---");
    for (int i = 0; i < n; i++) {
        const result *r = &res[i];
        printf("| %-44s | %9zu | %-6s | %8.2f | %11.2f | %s\n", r->name, r->records, "kvorm", r->kv_cmds, r->kv_rts,
               r->kv_detail);
        if (r->has_raw)
            printf("| %-44s | %9zu | %-6s | %8.2f | %11.2f | %s\n", r->name, r->records, "raw", r->raw_cmds,
                   r->raw_rts, r->raw_detail);
    }
}

static void server_version(bench *b, char *ver, size_t cap)
{
    snprintf(ver, cap, "?");
    redisReply *r = cmd(b, "INFO server");
    const char *p = strstr(r->str, "redis_version:");
    if (p) {
        p += strlen("redis_version:");
        size_t n = strcspn(p, "\r\n");
        snprintf(ver, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
    }
    freeReplyObject(r);
}

static void require_empty(bench *b, int dbnum)
{
    select_db(b, dbnum);
    redisReply *r = cmd(b, "DBSIZE");
    long long n = r->integer;
    freeReplyObject(r);
    select_db(b, b->dbnum);
    if (n != 0)
        die("database %d holds %lld keys: query_bench needs a throwaway server whose databases %d and %d are empty "
            "(scripts/bench-query.sh starts one)", dbnum, n, b->dbnum, b->floor_db);
}

/* The raw side's index key: where docs/format.md puts it; failing that (the layout changed), the one sorted set
 * of the model whose name ends with the index name, found by SCAN: only here, once, at 10k records, on the
 * throwaway server this benchmark requires. */
static void find_index_key(bench *b)
{
    redisReply *r = cmd(b, "TYPE %s", b->index_key);
    b->raw_index_ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "zset") == 0;
    freeReplyObject(r);
    if (b->raw_index_ok)
        return;
    char cursor[32] = "0";
    int found = 0;
    do {
        r = cmd(b, "SCAN %s MATCH %s COUNT 1000 TYPE zset", cursor, NS ":{" MODEL "}:*");
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
            die("SCAN: unexpected reply");
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const redisReply *k = r->element[1]->element[i];
            size_t n = strlen(COMPOSITE);
            if (k->len > n && memcmp(k->str + k->len - n, COMPOSITE, n) == 0 && k->len < sizeof b->index_key) {
                memcpy(b->index_key, k->str, k->len);
                b->index_key[k->len] = '\0';
                found++;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    b->raw_index_ok = found == 1;
    if (b->raw_index_ok)
        fprintf(stderr, "query_bench: warning: the index is not at " K_INDEX_PREFIX COMPOSITE " but at %s: update "
                        "K_INDEX_PREFIX (docs/format.md, \"Index keys\")\n", b->index_key);
    else
        fprintf(stderr, "query_bench: warning: no sorted set for the index " COMPOSITE " (docs/format.md, \"Index "
                        "keys\"): B and C run without their raw side\n");
}

/* Where the bytes go: MEMORY USAGE (exact, SAMPLES 0) of the model's shared keys and of a few records, per
 * record. Redis' own estimate, close to but not the used_memory delta. */
static void memory_breakdown(bench *b, const char *sample_id)
{
    const char *keys[] = {"ids", "u:ref", "x:roomId", "x:roomId_sentAt", "x:sentAt", "xs"};
    printf("where the bytes go (MEMORY USAGE ... SAMPLES 0, per record):");
    double sum = 0;
    redisReply *r = cmd(b, "MEMORY USAGE " K_RECORD "%s SAMPLES 0", sample_id);
    if (r->type == REDIS_REPLY_INTEGER) {
        printf(" record hash %lld", r->integer);
        sum += (double)r->integer;
    }
    freeReplyObject(r);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        r = cmd(b, "MEMORY USAGE " NS ":{" MODEL "}:%s SAMPLES 0", keys[i]);
        if (r->type == REDIS_REPLY_INTEGER) {
            printf(", %s %.1f", keys[i], (double)r->integer / (double)b->loaded);
            sum += (double)r->integer / (double)b->loaded;
        }
        freeReplyObject(r);
    }
    select_db(b, b->floor_db);
    char key[96];
    snprintf(key, sizeof key, K_RECORD "01FLOOR%019zu", (size_t)0); /* hiredis' format knows no %zu */
    r = cmd(b, "MEMORY USAGE %s SAMPLES 0", key);
    printf("; sum %.0f; the floor's hash %lld\n", sum, r->type == REDIS_REPLY_INTEGER ? r->integer : -1);
    freeReplyObject(r);
    select_db(b, b->dbnum);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s <redis://host:port[/db] | unix:///path> [--records N (default 1000000)] [--seconds S "
            "(per side per case, default 2)] [--queries Q (for the command counts, default 200)] "
            "[--three-indexes (sentAt indexed alone too)]\n",
            argv0);
}

int main(int argc, char **argv)
{
    bench_prog = "query_bench";
    static bench B;
    bench *b = &B;
    double secs = 2;
    size_t queries = 200;
    b->records_target = 1000000;
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argv[0]);
        return argc < 2 ? 2 : 0;
    }
    b->url = argv[1];
    for (int i = 2; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--records") == 0 && i + 1 < argc) {
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v < 1000 || v > 100000000)
                die("--records takes 1000 to 100000000");
            b->records_target = (size_t)v;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            secs = strtod(argv[++i], &end);
            if (*end || !(secs > 0) || secs > 3600)
                die("--seconds takes a positive number of seconds up to 3600");
        } else if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc) {
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000000)
                die("--queries takes 1 to 1000000");
            queries = (size_t)v;
        } else if (strcmp(argv[i], "--three-indexes") == 0) {
            b->three_indexes = true;
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    msgpack_sbuffer_init(&b->buf);
    msgpack_packer_init(&b->pk, &b->buf, msgpack_sbuffer_write);
    snprintf(b->index_key, sizeof b->index_key, K_INDEX_PREFIX COMPOSITE);

    raw_connect(b);
    require_empty(b, b->dbnum);
    require_empty(b, b->floor_db);

    char schema_json[1024];
    snprintf(schema_json, sizeof schema_json, "%s%s%s", SCHEMA_HEAD, b->three_indexes ? SCHEMA_SENTAT_3 : SCHEMA_SENTAT_2,
             SCHEMA_TAIL);
    long long m0 = used_memory(b);
    kvorm_schema *schema = NULL;
    if (kvorm_schema_from_json(&schema, schema_json, strlen(schema_json)) != KVORM_OK)
        die("schema: %s", kvorm_last_error_message());
    kvorm_open_options opts;
    kvorm_open_options_init(&opts, KVORM_OPEN_OPTIONS_VERSION);
    opts.pool_size = 1; /* one request at a time on one connection, like the raw side */
    int st = kvorm_open(&b->db, b->url, schema, &opts);
    if (st != KVORM_OK)
        die("kvorm_open %s: status %d (%s): %s", b->url, st, kvorm_error_name(st), kvorm_last_error_message());
    kvorm_schema_free(schema);

    char ver[64];
    server_version(b, ver, sizeof ver);
    printf("query_bench: kvorm %s vs raw hiredis, Redis %s over %s (%s), %g s per side per case, %zu records "
           "(%d per room), one unique and %d indexes\n",
           kvorm_version(), ver, strncmp(b->url, "unix://", 7) == 0 ? "unix socket" : "TCP", b->url, secs,
           b->records_target, ROOM_SIZE, b->three_indexes ? 3 : 2);
    printf("schema: %s\n", schema_json);
    fflush(stdout);

    /* Memory is the sum of the load segments' deltas, so what the measurements in between allocate (scripts,
     * client buffers) is not counted. */
    long long kv_mem = 0, floor_mem = 0, m;
    size_t small = b->records_target < SMALL_N ? b->records_target : SMALL_N;
    fprintf(stderr, "query_bench: loading %zu records\n", small);
    load_kvorm(b, small);
    m = used_memory(b);
    kv_mem += m - m0;
    load_floor(b, small);
    floor_mem += used_memory(b) - m;
    long long kv_mem_small = kv_mem, floor_mem_small = floor_mem;

    find_index_key(b);

    static phase ph_small, ph_big;
    setup_phase(b, &ph_small);
    explain_print(b, "A", "findMany", &ph_small.q[0].req_a);
    explain_b(b, &ph_small.q[0], true);
    explain_print(b, "C", "count", &ph_small.q[0].req_c);
    fflush(stdout);
    result res[6];
    int n = run_phase(b, &ph_small, secs, queries, res);

    if (b->records_target > small) {
        m = used_memory(b);
        fprintf(stderr, "query_bench: loading up to %zu records\n", b->records_target);
        load_kvorm(b, b->records_target);
        long long m2 = used_memory(b);
        kv_mem += m2 - m;
        load_floor(b, b->records_target);
        floor_mem += used_memory(b) - m2;
        setup_phase(b, &ph_big);
        n += run_phase(b, &ph_big, secs, queries, res + n);
    }
    print_results(res, n);

    /* C at both sizes: the count must not grow with N */
    double c_small = 1e6 / res[2].kv_ops, c_big = n > 3 ? 1e6 / res[5].kv_ops : c_small;
    if (n > 3)
        printf("\ncount (C) kvorm: %.1f us at %zu records, %.1f us at %zu records: %.2fx (%s)\n", c_small,
               res[2].records, c_big, res[5].records, c_big / c_small,
               c_big / c_small <= 1.5 ? "flat: PASS" : "grows: MISS");

    double per_kv = (double)kv_mem / (double)b->loaded, per_floor = (double)floor_mem / (double)b->floor_loaded;
    double mem_ratio = per_kv / per_floor;
    printf("\nmemory per record (INFO memory used_memory delta / N):\n\n");
    printf("| records | kvorm B/record (one unique, %d indexes) | floor B/record (one HSET, no index) | ratio | "
           "target |\n|---:|---:|---:|---:|---|\n",
           b->three_indexes ? 3 : 2);
    if (b->loaded > small)
        printf("| %zu | %.0f | %.0f | %.2fx | |\n", small, (double)kv_mem_small / (double)small,
               (double)floor_mem_small / (double)small, (double)kv_mem_small / (double)floor_mem_small);
    printf("| %zu | %.0f | %.0f | %.2fx | <= 2.50x %s |\n", b->loaded, per_kv, per_floor, mem_ratio,
           mem_ratio <= 2.5 ? "PASS" : "MISS");

    memory_breakdown(b, (n > 3 ? &ph_big : &ph_small)->q[0].ids_a[0]);

    /* one line for scripts: key=value, ratios as plain numbers */
    const result *a = &res[n - 3], *bb = &res[n - 2], *c = &res[n - 1];
    printf("\nSUMMARY query_bench records=%zu a_kv_ops=%.0f a_raw_ops=%.0f a_ratio=%.3f a_median=%.3f a_target=0.7 "
           "a_pass=%d b_kv_ops=%.0f b_raw_ops=%.0f b_ratio=%.3f c_kv_us_10k=%.1f c_kv_us_n=%.1f c_growth=%.3f "
           "a_cmds=%.2f a_rts=%.2f b_cmds=%.2f b_rts=%.2f c_cmds=%.2f c_rts=%.2f "
           "mem_kv=%.0f mem_floor=%.0f mem_ratio=%.3f mem_pass=%d\n",
           b->loaded, a->kv_ops, a->raw_ops, a->kv_ops / a->raw_ops, a->median, a->median >= 0.7, bb->kv_ops,
           bb->has_raw ? bb->raw_ops : 0, bb->has_raw ? bb->kv_ops / bb->raw_ops : 0, c_small, c_big,
           c_big / c_small, a->kv_cmds, a->kv_rts, bb->kv_cmds, bb->kv_rts, c->kv_cmds, c->kv_rts, per_kv, per_floor,
           mem_ratio, mem_ratio <= 2.5);
    fflush(stdout);

    kvorm_close(b->db);
    redisFree(b->rc);
    msgpack_sbuffer_destroy(&b->buf);
    return 0;
}
