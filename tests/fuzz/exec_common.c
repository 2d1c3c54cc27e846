#include "exec_common.h"

#include "fuzz_common.h"

#include "db.h"
#include "keycode.h"
#include "schema.h"
#include "value.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every field type; a unique on a string, an integer, a decimal, a datetime and bytes; compound uniques by their
 * joined name and by a given name, over fields of different types (optional ones, so that nulls are exercised);
 * every id strategy; relations of every kind (belongsTo by id and by a unique, hasOne, hasMany, a manyToMany through
 * Pin, whose edge has a field of its own, and User.friends without one, through _UserToUser), whose deletes cascade
 * (Item.owner, Pin's, the join's) and set null (Counter.user).
 * %s is the namespace. */
static const char schema_fmt[] =
    "{\"namespace\": \"%s\", \"models\": {"
    "\"User\": {\"id\": {\"type\": \"string\", \"generate\": \"ulid\"}, \"fields\": {"
    "  \"email\": {\"type\": \"string\", \"unique\": true},"
    "  \"org\": {\"type\": \"string\", \"optional\": true},"
    "  \"age\": {\"type\": \"integer\", \"optional\": true, \"unique\": true},"
    "  \"score\": {\"type\": \"float\", \"default\": 0},"
    "  \"active\": {\"type\": \"boolean\", \"default\": true},"
    "  \"born\": {\"type\": \"datetime\", \"optional\": true},"
    "  \"seen\": {\"type\": \"datetime\", \"default\": \"now\"},"
    "  \"balance\": {\"type\": \"decimal\", \"default\": \"0\"},"
    "  \"role\": {\"type\": \"enum\", \"values\": [\"admin\", \"member\", \"g\\u00e4st\"], \"default\": \"member\"},"
    "  \"profile\": {\"type\": \"json\", \"optional\": true},"
    "  \"avatar\": {\"type\": \"bytes\", \"optional\": true, \"unique\": true}},"
    " \"unique\": [[\"org\", \"email\"], {\"fields\": [\"role\", \"born\"], \"name\": \"roleBorn\"}],"
    " \"relations\": {\"items\": {\"hasMany\": \"Item\"}, \"counter\": {\"hasOne\": \"Counter\"},"
    "  \"pins\": {\"manyToMany\": \"Item\", \"through\": \"Pin\"}, \"friends\": {\"manyToMany\": \"User\"}}},"
    "\"Counter\": {\"id\": {\"type\": \"integer\", \"generate\": \"increment\"}, \"fields\": {"
    "  \"code\": {\"type\": \"string\", \"optional\": true, \"unique\": true},"
    "  \"n\": {\"type\": \"integer\", \"optional\": true}},"
    " \"relations\": {\"user\": {\"belongsTo\": \"User\", \"fields\": [\"code\"], \"references\": [\"email\"]}}},"
    "\"Item\": {\"id\": {\"type\": \"string\"}, \"fields\": {"
    "  \"label\": {\"type\": \"string\", \"optional\": true},"
    "  \"price\": {\"type\": \"decimal\", \"optional\": true, \"unique\": true},"
    "  \"blob\": {\"type\": \"bytes\", \"optional\": true}},"
    " \"relations\": {\"owner\": {\"belongsTo\": \"User\", \"fields\": [\"label\"], \"onDelete\": \"cascade\"},"
    "  \"pinnedBy\": {\"manyToMany\": \"User\", \"through\": \"Pin\"}}},"
    "\"Pin\": {\"id\": {\"type\": \"string\", \"generate\": \"ulid\"}, \"fields\": {"
    "  \"userId\": {\"type\": \"string\"}, \"itemId\": {\"type\": \"string\"},"
    "  \"note\": {\"type\": \"string\", \"optional\": true}},"
    " \"unique\": [[\"userId\", \"itemId\"]],"
    " \"relations\": {\"user\": {\"belongsTo\": \"User\", \"fields\": [\"userId\"], \"onDelete\": \"cascade\"},"
    "  \"item\": {\"belongsTo\": \"Item\", \"fields\": [\"itemId\"], \"onDelete\": \"cascade\"}}},"
    "\"Num\": {\"id\": {\"type\": \"integer\"}, \"fields\": {"
    "  \"a\": {\"type\": \"json\", \"optional\": true},"
    "  \"b\": {\"type\": \"float\", \"optional\": true},"
    "  \"c\": {\"type\": \"boolean\", \"optional\": true}},"
    " \"unique\": [[\"a\", \"b\"]]},"
    "\"Ev\": {\"id\": {\"type\": \"string\", \"generate\": \"uuidv7\"}, \"fields\": {"
    "  \"at\": {\"type\": \"datetime\", \"unique\": true},"
    "  \"kind\": {\"type\": \"enum\", \"values\": [\"x\", \"y\"], \"optional\": true},"
    "  \"tag\": {\"type\": \"bytes\", \"optional\": true}},"
    " \"unique\": [{\"fields\": [\"kind\", \"tag\"], \"name\": \"kindTag\"}]}}}";

static kvorm_schema *schema;
static kvorm_db *db;
static redisContext *raw;
static char ns[64];

void fz_exec_setup(const char *tag)
{
    const char *sock = getenv("KVORM_FUZZ_REDIS_SOCKET");
    char json[sizeof(schema_fmt) + 64], url[4200];
    if (!sock || !*sock) {
        fprintf(stderr, "set KVORM_FUZZ_REDIS_SOCKET to the unix socket of a redis-server used by nothing else "
                        "(scripts/fuzz.sh starts one)\n");
        exit(2);
    }
    snprintf(ns, sizeof(ns), "fz%s_%ld", tag, (long)getpid());
    snprintf(json, sizeof(json), schema_fmt, ns);
    FZ_CHECK(kvorm_schema_from_json(&schema, json, strlen(json)) == 0, "fixed schema: %s", kvorm_last_error_message());
    snprintf(url, sizeof(url), "unix://%s?pool=2", sock);
    FZ_CHECK(kvorm_open(&db, url, schema, NULL) == 0, "kvorm_open %s: %s", url, kvorm_last_error_message());
    raw = redisConnectUnix(sock);
    FZ_CHECK(raw && !raw->err, "cannot connect to %s", sock);
}

kvorm_db *fz_exec_db(void) { return db; }

void fz_exec_flush_scripts(void)
{
    redisReply *r = redisCommand(raw, "SCRIPT FLUSH");
    FZ_CHECK(r && r->type == REDIS_REPLY_STATUS, "SCRIPT FLUSH failed");
    freeReplyObject(r);
}

/* ---- responses ---- */

static void check_status(int rc)
{
    FZ_CHECK(rc == KVORM_OK || rc == KVORM_EVALIDATION || rc == KVORM_ENOTFOUND || rc == KVORM_EUNIQUE ||
                 rc == KVORM_ECONFLICT || rc == KVORM_EBAD_REQUEST || rc == KVORM_EUNSUPPORTED || rc == KVORM_ERELATION,
             "status %d (%s) is not one a request may get from a healthy store: %s", rc, kvorm_error_name(rc),
             kvorm_last_error_message());
}

static const msgpack_object *mp_get(const msgpack_object *map, const char *key)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) && memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

void fz_check_response_mp(int rc, const unsigned char *out, size_t len, int last_error)
{
    size_t used = 0;
    msgpack_object root;
    const msgpack_object *bad = NULL;
    check_status(rc);
    FZ_CHECK(out != NULL, "no response (status %d)", rc);
    FZ_CHECK(kv_mp_check((const char *)out, len, &used, KV_MAX_DEPTH) == KV_MP_OK && used == len,
             "response is not one MessagePack document: %s", fz_show(out, len));
    msgpack_zone *zone = msgpack_zone_new(4096);
    FZ_CHECK(kv_mp_unpack(zone, (const char *)out, len, &root) == KV_MP_OK, "response does not unpack");
    FZ_CHECK(fz_mp_strings_valid(&root, &bad), "response (status %d) holds a string that is not UTF-8: %s in %s", rc,
             fz_show(bad->via.str.ptr, bad->via.str.size), kvorm_last_error_message());
    if (last_error)
        FZ_CHECK(kvorm_last_error_code() == rc, "last error %d, status %d", kvorm_last_error_code(), rc);
    if (rc != 0) {
        /* docs/errors.md: these five always; readers ignore keys they do not know */
        static const char *const keys[] = {"code", "message", "model", "op", "fields"};
        FZ_CHECK(root.type == MSGPACK_OBJECT_MAP, "error document is not a map");
        for (int i = 0; i < 5; i++)
            FZ_CHECK(mp_get(&root, keys[i]) != NULL, "error document has no %s", keys[i]);
        for (uint32_t i = 0; i < root.via.map.size; i++)
            FZ_CHECK(root.via.map.ptr[i].key.type == MSGPACK_OBJECT_STR, "error document has a key that is not a string");
        const msgpack_object *retryable = mp_get(&root, "retryable");
        FZ_CHECK(!retryable || retryable->type == MSGPACK_OBJECT_BOOLEAN, "retryable is not a boolean");
        const msgpack_object *code = mp_get(&root, "code"), *msg = mp_get(&root, "message"),
                             *model = mp_get(&root, "model"), *op = mp_get(&root, "op"),
                             *fields = mp_get(&root, "fields");
        const char *name = kvorm_error_name(rc);
        FZ_CHECK(code->type == MSGPACK_OBJECT_STR && code->via.str.size == strlen(name) &&
                     memcmp(code->via.str.ptr, name, code->via.str.size) == 0,
                 "code is not %s", name);
        FZ_CHECK(msg->type == MSGPACK_OBJECT_STR && msg->via.str.size > 0, "message is not a non-empty string");
        FZ_CHECK(memchr(msg->via.str.ptr, 0, msg->via.str.size) == NULL, "message holds a NUL");
        if (last_error)
            FZ_CHECK(strlen(kvorm_last_error_message()) == msg->via.str.size &&
                         memcmp(kvorm_last_error_message(), msg->via.str.ptr, msg->via.str.size) == 0,
                     "last error message %s differs from the document's", kvorm_last_error_message());
        FZ_CHECK(model->type == MSGPACK_OBJECT_STR || model->type == MSGPACK_OBJECT_NIL, "model is not a string or nil");
        FZ_CHECK(op->type == MSGPACK_OBJECT_STR || op->type == MSGPACK_OBJECT_NIL, "op is not a string or nil");
        FZ_CHECK(fields->type == MSGPACK_OBJECT_ARRAY, "fields is not an array");
        for (uint32_t i = 0; i < fields->via.array.size; i++)
            FZ_CHECK(fields->via.array.ptr[i].type == MSGPACK_OBJECT_STR, "fields[%u] is not a string", i);
    }
    msgpack_zone_free(zone);
}

void fz_check_response_json(int rc, const char *out, size_t len)
{
    json_error_t jerr;
    check_status(rc);
    FZ_CHECK(out != NULL, "no response (status %d)", rc);
    FZ_CHECK(out[len] == '\0' && strlen(out) == len, "response of %zu bytes has strlen %zu", len, strlen(out));
    FZ_CHECK(kvorm_last_error_code() == rc, "last error %d, status %d", kvorm_last_error_code(), rc);
    /* jansson checks the UTF-8 of every string */
    json_t *doc = json_loadb(out, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    FZ_CHECK(doc != NULL, "response (status %d) is not valid JSON (%s at %d): %s", rc, jerr.text, jerr.position,
             fz_show(out + (jerr.position > 20 ? jerr.position - 20 : 0), len - (jerr.position > 20 ? jerr.position - 20 : 0)));
    if (rc != 0) {
        const char *name = kvorm_error_name(rc);
        json_t *code = json_object_get(doc, "code"), *msg = json_object_get(doc, "message"),
               *model = json_object_get(doc, "model"), *op = json_object_get(doc, "op"),
               *fields = json_object_get(doc, "fields");
        json_t *retryable = json_object_get(doc, "retryable");
        FZ_CHECK(json_is_object(doc) && code && msg && model && op && fields,
                 "error document lacks one of code, message, model, op, fields: %s", out);
        FZ_CHECK(!retryable || json_is_boolean(retryable), "retryable is not a boolean: %s", out);
        FZ_CHECK(json_is_string(code) && strcmp(json_string_value(code), name) == 0, "code is not %s: %s", name, out);
        FZ_CHECK(json_is_string(msg) && json_string_length(msg) > 0 &&
                     strcmp(json_string_value(msg), kvorm_last_error_message()) == 0,
                 "message differs from the last error: %s", out);
        FZ_CHECK(json_is_string(model) || json_is_null(model), "model: %s", out);
        FZ_CHECK(json_is_string(op) || json_is_null(op), "op: %s", out);
        FZ_CHECK(json_is_array(fields), "fields: %s", out);
        for (size_t i = 0; i < json_array_size(fields); i++)
            FZ_CHECK(json_is_string(json_array_get(fields, i)), "fields[%zu]: %s", i, out);
    }
    json_decref(doc);
}

/* ---- the store ---- */

typedef struct key {
    char *name;
    size_t len;
    const kv_model *m;
    char kind;          /* 'r' record, 'u' unique, 'i' ids, 's' seq */
    const char *rest;   /* record: the id; unique: the constraint name */
    size_t rest_len;
    redisReply *reply;
} key;

typedef struct keys {
    key *v;
    size_t n, cap;
} keys;

static void scan(keys *ks)
{
    char cursor[32] = "0", match[80];
    snprintf(match, sizeof(match), "%s:{*", ns);
    do {
        redisReply *r = redisCommand(raw, "SCAN %s MATCH %s COUNT 1000", cursor, match);
        FZ_CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2, "SCAN failed");
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            redisReply *k = r->element[1]->element[i];
            if (ks->n == ks->cap) {
                ks->cap = ks->cap ? ks->cap * 2 : 64;
                ks->v = realloc(ks->v, ks->cap * sizeof(*ks->v));
                FZ_CHECK(ks->v != NULL, "out of memory");
            }
            memset(&ks->v[ks->n], 0, sizeof(key));
            ks->v[ks->n].name = fz_strndup(k->str, k->len);
            ks->v[ks->n].len = k->len;
            ks->n++;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
}

/* Sorts a key into its model and kind (docs/format.md). */
static void classify(key *k)
{
    size_t nl = strlen(ns);
    const char *p = k->name + nl + 2, *end = k->name + k->len;
    const char *close = memchr(p, '}', (size_t)(end - p));
    FZ_CHECK(close && close + 1 < end && close[1] == ':', "key %s has no {model}:", fz_show(k->name, k->len));
    k->m = kv_schema_model(schema, p, (size_t)(close - p));
    FZ_CHECK(k->m != NULL, "key %s names no model", fz_show(k->name, k->len));
    const char *rest = close + 2;
    size_t left = (size_t)(end - rest);
    if (left >= 2 && rest[0] == 'r' && rest[1] == ':') {
        k->kind = 'r';
    } else if (left >= 2 && rest[0] == 'u' && rest[1] == ':') {
        k->kind = 'u';
    } else if (left == 3 && memcmp(rest, "ids", 3) == 0) {
        k->kind = 'i';
    } else if (left == 3 && memcmp(rest, "seq", 3) == 0) {
        k->kind = 's';
    } else if (left >= 2 && rest[0] == 'x' && rest[1] == ':') {
        k->kind = 'x'; /* an index: the relations' foreign keys have one */
    } else {
        FZ_CHECK(0, "key %s is of no known kind", fz_show(k->name, k->len));
    }
    if (k->kind == 'r' || k->kind == 'u' || k->kind == 'x') {
        k->rest = rest + 2;
        k->rest_len = left - 2;
    }
}

static void fetch(keys *ks)
{
    for (size_t i = 0; i < ks->n; i++) {
        key *k = &ks->v[i];
        const char *cmd = k->kind == 'i' ? "ZRANGE" : k->kind == 's' ? "GET" : k->kind == 'x' ? "ZCARD" : "HGETALL";
        if (k->kind == 'i')
            redisAppendCommand(raw, "ZRANGE %b 0 -1 WITHSCORES", k->name, k->len);
        else
            redisAppendCommand(raw, "%s %b", cmd, k->name, k->len);
    }
    for (size_t i = 0; i < ks->n; i++) {
        void *r = NULL;
        FZ_CHECK(redisGetReply(raw, &r) == REDIS_OK && r, "reading %s failed", ks->v[i].name);
        ks->v[i].reply = r;
        FZ_CHECK(ks->v[i].reply->type != REDIS_REPLY_ERROR, "%s: %s (a key of the wrong type?)",
                 fz_show(ks->v[i].name, ks->v[i].len), ks->v[i].reply->str);
    }
}

static bool parse_i64(const char *s, size_t n, int64_t *out)
{
    char buf[32];
    char *end;
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    long long v = strtoll(buf, &end, 10);
    if (*end)
        return false;
    char again[32];
    snprintf(again, sizeof(again), "%lld", v);
    if (strcmp(again, buf) != 0)
        return false; /* not canonical: "+1", "01", "-0", out of range */
    *out = v;
    return true;
}

/* The stored value of field f of record r, or NULL. */
static const redisReply *field_value(const key *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->reply->elements; i += 2)
        if (r->reply->element[i]->len == strlen(name) && memcmp(r->reply->element[i]->str, name, strlen(name)) == 0)
            return r->reply->element[i + 1];
    return NULL;
}

static void check_record(const key *r)
{
    const kv_model *m = r->m;
    bool seen_version = false;
    if (kv_id_is_integer(m)) {
        int64_t id;
        FZ_CHECK(parse_i64(r->rest, r->rest_len, &id), "%s: id %s is not canonical integer text", m->name,
                 fz_show(r->rest, r->rest_len));
    } else {
        FZ_CHECK(r->rest_len >= 1 && r->rest_len <= KV_MAX_ID_BYTES && fz_utf8_valid(r->rest, r->rest_len),
                 "%s: id %s", m->name, fz_show(r->rest, r->rest_len));
    }
    FZ_CHECK(r->reply->type == REDIS_REPLY_ARRAY && r->reply->elements % 2 == 0, "record reply");
    for (size_t i = 0; i < r->reply->elements; i += 2) {
        const redisReply *name = r->reply->element[i], *val = r->reply->element[i + 1];
        if (name->len == 2 && memcmp(name->str, "$v", 2) == 0) {
            int64_t v;
            FZ_CHECK(parse_i64(val->str, val->len, &v) && v >= 1, "%s %s: version %s", m->name,
                     fz_show(r->rest, r->rest_len), val->str);
            seen_version = true;
            continue;
        }
        int f = kv_model_field(m, name->str, name->len);
        FZ_CHECK(f >= 0, "%s %s: stored field %s is not in the schema", m->name, fz_show(r->rest, r->rest_len),
                 name->str);
        /* canonical: encoding the decoded value again gives the same bytes */
        msgpack_zone *zone = msgpack_zone_new(1024);
        msgpack_object o;
        msgpack_sbuffer sb;
        kv_error err = {0};
        FZ_CHECK(kv_mp_unpack(zone, val->str, val->len, &o) == KV_MP_OK, "%s.%s: stored value is not one document",
                 m->name, m->fields[f].name);
        FZ_CHECK(o.type != MSGPACK_OBJECT_NIL || m->fields[f].type == KV_T_JSON, "%s.%s: a null is stored", m->name,
                 m->fields[f].name);
        msgpack_sbuffer_init(&sb);
        FZ_CHECK(kv_value_encode(&sb, m, &m->fields[f], &o, KV_MODE_MSGPACK, &err) == 0,
                 "%s.%s: stored value %s is not valid: %s", m->name, m->fields[f].name, fz_show(val->str, val->len),
                 err.message);
        FZ_CHECK(sb.size == val->len && memcmp(sb.data, val->str, val->len) == 0,
                 "%s.%s: stored value %s is not canonical", m->name, m->fields[f].name, fz_show(val->str, val->len));
        msgpack_sbuffer_destroy(&sb);
        msgpack_zone_free(zone);
    }
    FZ_CHECK(seen_version, "%s %s has no $v", m->name, fz_show(r->rest, r->rest_len));
    for (int f = 0; f < m->nfields; f++)
        if (!m->fields[f].optional)
            FZ_CHECK(field_value(r, m->fields[f].name) != NULL, "%s %s lacks required field %s", m->name,
                     fz_show(r->rest, r->rest_len), m->fields[f].name);
}

/* The unique key of constraint u for record r (malloc'd), or NULL when a field of it is null. */
static char *unique_key(const key *r, const kv_unique *u, size_t *len)
{
    size_t n = 0;
    for (int i = 0; i < u->nfields; i++) {
        const redisReply *v = field_value(r, r->m->fields[u->fields[i]].name);
        if (!v)
            return NULL;
        n += v->len;
    }
    char *k = malloc(n ? n : 1), *p = k;
    FZ_CHECK(k != NULL, "out of memory");
    for (int i = 0; i < u->nfields; i++) {
        const redisReply *v = field_value(r, r->m->fields[u->fields[i]].name);
        memcpy(p, v->str, v->len);
        p += v->len;
    }
    *len = n;
    return k;
}

static const key *find(const keys *ks, const kv_model *m, char kind, const char *rest, size_t rest_len)
{
    for (size_t i = 0; i < ks->n; i++)
        if (ks->v[i].m == m && ks->v[i].kind == kind &&
            (!rest || (ks->v[i].rest_len == rest_len && memcmp(ks->v[i].rest, rest, rest_len) == 0)))
            return &ks->v[i];
    return NULL;
}

static void check_model(const keys *ks, const kv_model *m)
{
    size_t nrec = 0;
    int64_t max_id = 0;
    for (size_t i = 0; i < ks->n; i++)
        if (ks->v[i].m == m && ks->v[i].kind == 'r') {
            nrec++;
            int64_t id;
            if (kv_id_is_integer(m) && parse_i64(ks->v[i].rest, ks->v[i].rest_len, &id) && id > max_id)
                max_id = id;
        }

    /* each unique hash: exactly the entries the records produce */
    for (int u = 0; u < m->nuniques; u++) {
        const kv_unique *c = &m->uniques[u];
        const key *h = find(ks, m, 'u', c->name, strlen(c->name));
        size_t expected = 0;
        for (size_t i = 0; i < ks->n; i++) {
            const key *r = &ks->v[i];
            size_t klen;
            char *uk;
            if (r->m != m || r->kind != 'r' || !(uk = unique_key(r, c, &klen)))
                continue;
            expected++;
            /* no other record produces the same key */
            for (size_t j = i + 1; j < ks->n; j++) {
                const key *o = &ks->v[j];
                size_t olen;
                char *ok;
                if (o->m != m || o->kind != 'r' || !(ok = unique_key(o, c, &olen)))
                    continue;
                FZ_CHECK(olen != klen || memcmp(ok, uk, klen) != 0, "%s: records %s and %s share unique %s %s",
                         m->name, r->name, o->name, c->name, fz_show(uk, klen));
                free(ok);
            }
            const redisReply *owner = NULL;
            for (size_t e = 0; h && e + 1 < h->reply->elements; e += 2)
                if (h->reply->element[e]->len == klen && memcmp(h->reply->element[e]->str, uk, klen) == 0)
                    owner = h->reply->element[e + 1];
            FZ_CHECK(owner != NULL, "%s: record %s has no entry %s in unique %s", m->name, r->name, fz_show(uk, klen),
                     c->name);
            FZ_CHECK(owner->len == r->rest_len && memcmp(owner->str, r->rest, r->rest_len) == 0,
                     "%s: unique %s entry %s points to %s, not to its record %s", m->name, c->name,
                     fz_show(uk, klen), owner->str, r->name);
            free(uk);
        }
        size_t stored = h ? h->reply->elements / 2 : 0;
        FZ_CHECK(stored == expected, "%s: unique %s holds %zu entries, the records produce %zu (a stale entry)",
                 m->name, c->name, stored, expected);
    }
    for (size_t i = 0; i < ks->n; i++)
        if (ks->v[i].m == m && ks->v[i].kind == 'u') {
            bool known = false;
            for (int u = 0; u < m->nuniques; u++)
                known = known || (strlen(m->uniques[u].name) == ks->v[i].rest_len &&
                                  memcmp(m->uniques[u].name, ks->v[i].rest, ks->v[i].rest_len) == 0);
            FZ_CHECK(known, "unique hash %s is of no constraint", ks->v[i].name);
        }

    /* the ids sorted set (format 2): each member the encoded id of a record (keycode.h), score 0 */
    const key *ids = find(ks, m, 'i', NULL, 0);
    size_t nids = ids ? ids->reply->elements / 2 : 0;
    FZ_CHECK(nids == nrec, "%s: %zu ids in the sorted set, %zu records", m->name, nids, nrec);
    for (size_t e = 0; ids && e + 1 < ids->reply->elements; e += 2) {
        const redisReply *member = ids->reply->element[e], *score = ids->reply->element[e + 1];
        char id[KV_MAX_ID_BYTES + 1];
        size_t id_len = 0;
        kv_error err;
        FZ_CHECK(kv_key_id(id, &id_len, member->str, member->len, 0, &err) == 0, "%s: ids member %s is no id: %s",
                 m->name, fz_show(member->str, member->len), err.message);
        FZ_CHECK(find(ks, m, 'r', id, id_len) != NULL, "%s: id %s in the sorted set has no record", m->name,
                 fz_show(id, id_len));
        FZ_CHECK(strtod(score->str, NULL) == 0, "%s: id %s has score %s", m->name, fz_show(id, id_len), score->str);
    }

    /* each index: one entry per record (its keys are checked by the query tests and the LMDB target) */
    for (int x = 0; x < m->nindexes; x++) {
        const key *z = find(ks, m, 'x', m->indexes[x].name, strlen(m->indexes[x].name));
        long long n = z ? z->reply->integer : 0;
        FZ_CHECK(n == (long long)nrec, "%s: index %s has %lld entries for %zu records", m->name,
                 m->indexes[x].name, n, nrec);
    }
    for (size_t i = 0; i < ks->n; i++)
        if (ks->v[i].m == m && ks->v[i].kind == 'x')
            FZ_CHECK(kv_model_index(m, ks->v[i].rest, ks->v[i].rest_len) >= 0, "index key %s is of no index",
                     ks->v[i].name);

    /* the counter: only for generated integer ids, past every id */
    const key *seq = find(ks, m, 's', NULL, 0);
    if (m->id_kind != KV_ID_INCREMENT) {
        FZ_CHECK(seq == NULL, "%s has a counter", m->name);
    } else if (max_id > 0) {
        int64_t v;
        FZ_CHECK(seq && seq->reply->type == REDIS_REPLY_STRING && parse_i64(seq->reply->str, seq->reply->len, &v) &&
                     v >= max_id,
                 "%s: counter %s is not past id %" PRId64, m->name, seq ? seq->reply->str : "(none)", max_id);
    }
}

/* Every foreign key names a record of its target: writes keep them so (docs/schema.md, Referential actions). */
static void check_foreign_keys(const keys *ks, const kv_model *m)
{
    for (int x = 0; x < m->nrelations; x++) {
        const kv_relation *rel = &m->relations[x];
        if (rel->kind != KV_REL_BELONGS_TO)
            continue;
        const kv_model *t = &schema->models[rel->target];
        for (size_t i = 0; i < ks->n; i++) {
            const key *r = &ks->v[i];
            if (r->m != m || r->kind != 'r')
                continue;
            bool null = false;
            for (int f = 0; f < rel->nfields; f++)
                null = null || !field_value(r, m->fields[rel->fields[f]].name);
            if (null)
                continue;
            bool found = false;
            if (rel->references < 0) {
                const redisReply *v = field_value(r, m->fields[rel->fields[0]].name);
                msgpack_zone *zone = msgpack_zone_new(256);
                msgpack_object o;
                char id[KV_MAX_ID_BYTES + 1];
                size_t id_len = 0;
                kv_error err = {0};
                FZ_CHECK(kv_mp_unpack(zone, v->str, v->len, &o) == KV_MP_OK &&
                             kv_id_encode(id, &id_len, t, &o, &err) == 0,
                         "%s %s: foreign key %s is no id of %s", m->name, r->name, rel->name, t->name);
                found = find(ks, t, 'r', id, id_len) != NULL;
                msgpack_zone_free(zone);
            } else {
                size_t klen = 0;
                char *k = malloc(1), *p;
                FZ_CHECK(k != NULL, "out of memory");
                for (int f = 0; f < rel->nfields; f++) {
                    const redisReply *v = field_value(r, m->fields[rel->fields[f]].name);
                    FZ_CHECK((p = realloc(k, klen + v->len + 1)) != NULL, "out of memory");
                    k = p;
                    memcpy(k + klen, v->str, v->len);
                    klen += v->len;
                }
                const kv_unique *u = &t->uniques[rel->references];
                const key *h = find(ks, t, 'u', u->name, strlen(u->name));
                for (size_t e = 0; h && !found && e + 1 < h->reply->elements; e += 2)
                    found = h->reply->element[e]->len == klen && memcmp(h->reply->element[e]->str, k, klen) == 0;
                free(k);
            }
            FZ_CHECK(found, "%s %s: foreign key %s names no %s record", m->name, r->name, rel->name, t->name);
        }
    }
}

void fz_check_store_and_reset(void)
{
    keys ks = {0};
    scan(&ks);
    if (ks.n == 0)
        return;
    for (size_t i = 0; i < ks.n; i++)
        classify(&ks.v[i]);
    fetch(&ks);
    for (size_t i = 0; i < ks.n; i++)
        if (ks.v[i].kind == 'r')
            check_record(&ks.v[i]);
    for (int i = 0; i < schema->nmodels; i++) {
        check_model(&ks, &schema->models[i]);
        check_foreign_keys(&ks, &schema->models[i]);
    }

    const char **argv = malloc((ks.n + 1) * sizeof(*argv));
    size_t *lens = malloc((ks.n + 1) * sizeof(*lens));
    argv[0] = "DEL";
    lens[0] = 3;
    for (size_t i = 0; i < ks.n; i++) {
        argv[i + 1] = ks.v[i].name;
        lens[i + 1] = ks.v[i].len;
    }
    redisReply *r = redisCommandArgv(raw, (int)ks.n + 1, argv, lens);
    FZ_CHECK(r && r->type == REDIS_REPLY_INTEGER, "DEL failed");
    freeReplyObject(r);
    free(argv);
    free(lens);
    for (size_t i = 0; i < ks.n; i++) {
        freeReplyObject(ks.v[i].reply);
        free(ks.v[i].name);
    }
    free(ks.v);
}
