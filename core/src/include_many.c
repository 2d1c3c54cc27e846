/* Loading a to-many relation of a read (a hasMany). With a positive take, a query per parent (its where the
 * include's own and the foreign key = the parent's key, its skip and take the include's), all run together by
 * kv_query_rows_many: the first keys of every parent's range in one round trip on Redis, the records they name in
 * one more. Otherwise one query of the target for the keys of up to KV_MAX_RANGES parents at a time, the foreign
 * key in those keys, read as a union of ranges (their first chunks together too), its rows grouped by parent and
 * each group cut to the include's skip and take. */
#include "include_internal.h"

#include "compare.h"
#include "query.h"

#include <stdlib.h>
#include <string.h>

/* The parents' keys: what the target's foreign key holds for each (its fields' canonical values end to end). */
typedef struct parent_keys {
    msgpack_sbuffer bytes;
    size_t *off, *len; /* per parent; len SIZE_MAX: no key (a null referenced field) */
} parent_keys;

static int key_of_parent(request *rq, const kv_model *m, const kv_model *t, const kv_relation *b, const kv_record *p,
                         msgpack_sbuffer *out, bool *none)
{
    *none = false;
    if (b->references < 0)
        return kv_include_value_of_id(rq, t, &t->fields[b->fields[0]], m, p->id, p->id_len, out);
    const kv_unique *u = &m->uniques[b->references];
    for (int i = 0; i < u->nfields; i++)
        if (!p->values[u->fields[i]]) {
            *none = true;
            return 0;
        }
    for (int i = 0; i < u->nfields; i++)
        msgpack_sbuffer_write(out, p->values[u->fields[i]], p->lens[u->fields[i]]);
    return 0;
}

/* The key a child record's foreign key holds (its fields' values end to end), or false when one is null. */
static bool key_of_child(const kv_relation *b, const kv_record *c, msgpack_sbuffer *out)
{
    out->size = 0;
    for (int i = 0; i < b->nfields; i++) {
        if (!c->values[b->fields[i]])
            return false;
        msgpack_sbuffer_write(out, c->values[b->fields[i]], c->lens[b->fields[i]]);
    }
    return true;
}

void kv_include_pack_key_map(msgpack_packer *pk, msgpack_sbuffer *sb, const kv_model *t, const int *fields,
                             int nfields, const char *key, size_t len)
{
    size_t used = 0;
    msgpack_pack_map(pk, (size_t)nfields);
    for (int f = 0; f < nfields; f++) {
        kv_mp_check(key, len, &used, KV_MAX_DEPTH); /* our own canonical values: one object each */
        kv_pack_cstr(pk, t->fields[fields[f]].name);
        msgpack_sbuffer_write(sb, key, used);
        key += used;
        len -= used;
    }
}

/* "where": {"AND": [the include's where, ...]}: the include's where (when it has one) and the condition packed next. */
static void pack_where_and(msgpack_packer *pk, const inc_item *it)
{
    kv_pack_cstr(pk, "where");
    msgpack_pack_map(pk, 1);
    kv_pack_cstr(pk, "AND");
    msgpack_pack_array(pk, it->where ? 2 : 1);
    if (it->where)
        msgpack_pack_object(pk, *it->where);
}

/* The query's args for the parents [from, to): {"where": {"AND": [where, keys]}, "orderBy": orderBy}, where keys
 * is {fk: {"in": [...]}} for a one-field foreign key and {"OR": [{f1: v1, f2: v2}, ...]} for a compound one. The
 * keys' bytes are canonical values, each one MessagePack object: they go into the document as they are. */
static void pack_args(msgpack_sbuffer *sb, const inc_item *it, const kv_relation *b, const parent_keys *k,
                      const size_t *order, size_t from, size_t to)
{
    msgpack_packer pk;
    const kv_model *t = it->target;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1 + kv_include_order_entries(it));
    pack_where_and(&pk, it); /* then the foreign key condition */
    if (b->nfields == 1) {
        msgpack_pack_map(&pk, 1);
        kv_pack_cstr(&pk, t->fields[b->fields[0]].name);
        msgpack_pack_map(&pk, 1);
        kv_pack_cstr(&pk, "in");
        msgpack_pack_array(&pk, to - from);
        for (size_t i = from; i < to; i++)
            msgpack_sbuffer_write(sb, k->bytes.data + k->off[order[i]], k->len[order[i]]);
    } else {
        msgpack_pack_map(&pk, 1);
        kv_pack_cstr(&pk, "OR");
        msgpack_pack_array(&pk, to - from);
        for (size_t i = from; i < to; i++) {
            kv_include_pack_key_map(&pk, sb, t, b->fields, b->nfields, k->bytes.data + k->off[order[i]],
                                    k->len[order[i]]);
        }
    }
    kv_include_pack_order(&pk, it);
}

int kv_include_query_into(request *rq, inc_item *it, const msgpack_sbuffer *doc, kv_query *q)
{
    msgpack_object args;
    msgpack_zone *zone = kv_mp_zone_take();
    kv_rows rows = {0};
    int rc = 0;
    if (!zone || !doc->data)
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    else if (kv_mp_unpack(zone, doc->data, doc->size, &args) != KV_MP_OK)
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "include: the query of %s did not pack", it->rel->name);
    request sub = kv_include_request(rq, it->target, &args);
    if (rc == 0 && (rc = kv_query_init(q, &sub, &args, KV_Q_WINDOW)) == 0)
        rc = kv_query_rows(q, &rows);
    if (rc == 0 && rows.n > 0) {
        kv_record *grown = realloc(it->recs, (it->nrecs + rows.n) * sizeof(*grown));
        if (!grown) {
            rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        } else {
            it->recs = grown;
            memcpy(it->recs + it->nrecs, rows.rows, rows.n * sizeof(*rows.rows)); /* the records move */
            it->nrecs += rows.n;
            rows.n = 0;
        }
    }
    kv_rows_free(&rows);
    kv_mp_zone_give(zone);
    return rc;
}

/* Runs the target's query for the parents order[from, to) and appends its rows to it->recs. */
static int query_chunk(request *rq, inc_item *it, const kv_relation *b, const parent_keys *k, const size_t *order,
                       size_t from, size_t to)
{
    msgpack_sbuffer sb;
    kv_query q;
    memset(&q, 0, sizeof(q));
    msgpack_sbuffer_init(&sb);
    pack_args(&sb, it, b, k, order, from, to);
    int rc = kv_include_query_into(rq, it, &sb, &q);
    kv_query_free(&q);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

typedef struct sort_ctx {
    const char *bytes;
    const size_t *off, *len;
} sort_ctx;

/* By key bytes, then by position: the records of one key stay in the query's order. */
static int by_key(const void *a, const void *b, void *ctx)
{
    const sort_ctx *c = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t li = c->len[i], lj = c->len[j];
    int r = memcmp(c->bytes + c->off[i], c->bytes + c->off[j], li < lj ? li : lj);
    if (r == 0)
        r = li < lj ? -1 : li > lj;
    return r ? r : i < j ? -1 : i > j;
}

void kv_include_window(const inc_item *it, const kv_record *head, const kv_record *tail, size_t total,
                       size_t *from, size_t *count)
{
    int64_t skip = it->skip;
    const kv_record *near = it->has_take && it->take < 0 ? tail : head;
    if (it->cursor && skip > 0 &&
        (!near || kv_id_cmp(it->target, near->id, near->id_len, it->cursor_id, it->cursor_id_len) != 0))
        skip--;
    /* skip, then take; a negative take counts (and skips) from the end, in order still */
    size_t skipped = (uint64_t)skip < total ? (size_t)skip : total;
    *from = skipped;
    *count = total - skipped;
    if (it->has_take && it->take >= 0 && (uint64_t)it->take < *count) {
        *count = (size_t)it->take;
    } else if (it->has_take && it->take < 0) {
        uint64_t mag = (uint64_t)(-(it->take + 1)) + 1;
        *count = mag < total - skipped ? (size_t)mag : total - skipped;
        *from = total - skipped - *count;
    }
}

uint32_t kv_include_order_entries(const inc_item *it)
{
    return (it->order_by ? 1 : 0) + (it->cursor ? 1 : 0) + (it->cursor && it->has_take && it->take < 0 ? 1 : 0);
}

void kv_include_pack_order(msgpack_packer *pk, const inc_item *it)
{
    if (it->order_by) {
        kv_pack_cstr(pk, "orderBy");
        msgpack_pack_object(pk, *it->order_by);
    }
    if (it->cursor) {
        kv_pack_cstr(pk, "cursor");
        msgpack_pack_object(pk, *it->cursor);
    }
    if (it->cursor && it->has_take && it->take < 0) {
        /* the records up to the cursor, read backwards from it; the window is cut per parent afterwards */
        kv_pack_cstr(pk, "take");
        msgpack_pack_int64(pk, -INT64_MAX);
    }
}

/* Groups the records by the parent their foreign key names and cuts each group to skip and take. */
static int group(request *rq, inc_item *it, const kv_relation *b, const parent_keys *k, size_t n)
{
    msgpack_sbuffer ck;
    size_t *coff = calloc(it->nrecs + 1, sizeof(size_t)), *clen = calloc(it->nrecs + 1, sizeof(size_t));
    size_t *sorted = calloc(it->nrecs + 1, sizeof(size_t));
    int rc = 0;
    msgpack_sbuffer_init(&ck);
    it->first = calloc(n + 1, sizeof(size_t));
    it->count = calloc(n + 1, sizeof(size_t));
    it->members = calloc(it->nrecs + 1, sizeof(size_t));
    if (!coff || !clen || !sorted || !it->first || !it->count || !it->members) {
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        goto done;
    }
    msgpack_sbuffer one;
    msgpack_sbuffer_init(&one);
    size_t nkeyed = 0;
    for (size_t r = 0; r < it->nrecs; r++) {
        if (!key_of_child(b, &it->recs[r], &one))
            continue;
        coff[r] = ck.size;
        clen[r] = one.size;
        msgpack_sbuffer_write(&ck, one.data, one.size);
        sorted[nkeyed++] = r;
    }
    msgpack_sbuffer_destroy(&one);
    sort_ctx sc = {ck.data, coff, clen};
    qsort_r(sorted, nkeyed, sizeof(size_t), by_key, &sc);
    size_t used = 0;
    for (size_t p = 0; p < n; p++) {
        it->first[p] = used;
        if (k->len[p] == SIZE_MAX)
            continue;
        /* the first record of the parent's key: a binary search over the sorted keys */
        const char *key = k->bytes.data + k->off[p];
        size_t kl = k->len[p], lo = 0, hi = nkeyed;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2, r = sorted[mid], l = clen[r];
            int c = memcmp(ck.data + coff[r], key, l < kl ? l : kl);
            if (c == 0)
                c = l < kl ? -1 : l > kl;
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        size_t end = lo;
        while (end < nkeyed && clen[sorted[end]] == kl && memcmp(ck.data + coff[sorted[end]], key, kl) == 0)
            end++;
        size_t from, count;
        kv_include_window(it, end > lo ? &it->recs[sorted[lo]] : NULL, end > lo ? &it->recs[sorted[end - 1]] : NULL,
                          end - lo, &from, &count);
        for (size_t j = 0; j < count; j++)
            it->members[used++] = sorted[lo + from + j];
        it->count[p] = count;
        /* a parent shares its key with no other (ids and unique values are distinct), so each record is taken once */
    }
done:
    msgpack_sbuffer_destroy(&ck);
    free(coff);
    free(clen);
    free(sorted);
    return rc;
}

/* One parent's query args: {"where": {"AND": [where, {fk: key}]}, "orderBy": ..., "skip": ..., "take": ...}. */
static void pack_parent_args(msgpack_sbuffer *sb, const inc_item *it, const kv_relation *b, const char *key,
                             size_t len)
{
    msgpack_packer pk;
    const kv_model *t = it->target;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    inc_item windowed = *it;
    windowed.has_take = false; /* its own take follows */
    msgpack_pack_map(&pk, 3 + kv_include_order_entries(&windowed));
    pack_where_and(&pk, it); /* then the foreign key condition */
    kv_include_pack_key_map(&pk, sb, t, b->fields, b->nfields, key, len);
    kv_include_pack_order(&pk, &windowed);
    kv_pack_cstr(&pk, "skip");
    msgpack_pack_int64(&pk, it->skip);
    kv_pack_cstr(&pk, "take");
    msgpack_pack_int64(&pk, it->take);
}

/* With a take, each parent's rows are its own query's, their first keys read together for all of them
 * (kv_query_rows_many): only the rows each parent needs are read, where one query for all would read them all.
 * Returns 1, having loaded nothing, when no index gives a parent's rows in order (the caller runs one query). */
static int load_windowed(request *rq, inc_item *it, const kv_relation *b, const parent_keys *k, size_t n)
{
    msgpack_sbuffer *docs = calloc(n + 1, sizeof(*docs));
    msgpack_object *args = calloc(n + 1, sizeof(*args));
    kv_query *qs = calloc(n + 1, sizeof(*qs));
    kv_rows *outs = calloc(n + 1, sizeof(*outs));
    size_t *of = calloc(n + 1, sizeof(*of)), nq = 0, total = 0;
    msgpack_zone *zone = msgpack_zone_new(KV_MP_ZONE_CHUNK);
    request sub = kv_include_request(rq, it->target, NULL);
    int rc = 0;
    if (!docs || !args || !qs || !outs || !of || !zone) {
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        goto done;
    }
    for (size_t p = 0; p < n && rc == 0; p++) {
        if (k->len[p] == SIZE_MAX)
            continue;
        msgpack_sbuffer_init(&docs[nq]);
        pack_parent_args(&docs[nq], it, b, k->bytes.data + k->off[p], k->len[p]);
        if (kv_mp_unpack(zone, docs[nq].data, docs[nq].size, &args[nq]) != KV_MP_OK) {
            rc = kv_fail(rq->err, KVORM_EINTERNAL, "include: the query of %s did not pack", it->rel->name);
            nq++;
            break;
        }
        sub.args = &args[nq];
        rc = kv_query_init(&qs[nq], &sub, &args[nq], KV_Q_WINDOW);
        of[nq++] = p;
        if (rc == 0 && nq == 1 && !kv_query_first_keys_decide(&qs[0])) {
            rc = 1; /* no index gives each parent's order: one query for them all reads less (the caller's) */
            break;
        }
    }
    if (rc == 0 && (!(it->first = calloc(n + 1, sizeof(size_t))) || !(it->count = calloc(n + 1, sizeof(size_t)))))
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    if (rc == 0)
        rc = kv_query_rows_many(qs, nq, outs);
    for (size_t i = 0; rc == 0 && i < nq; i++)
        total += outs[i].n;
    if (rc == 0 && total > 0 &&
        (!(it->recs = calloc(total, sizeof(*it->recs))) || !(it->members = calloc(total, sizeof(size_t)))))
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    for (size_t i = 0; rc == 0 && i < nq; i++) {
        it->first[of[i]] = it->nrecs;
        it->count[of[i]] = outs[i].n;
        for (size_t j = 0; j < outs[i].n; j++) {
            it->members[it->nrecs] = it->nrecs;
            it->recs[it->nrecs++] = outs[i].rows[j]; /* the records move */
        }
        outs[i].n = 0;
    }
done:
    for (size_t i = 0; i < nq; i++) {
        kv_rows_free(&outs[i]);
        kv_query_free(&qs[i]);
        msgpack_sbuffer_destroy(&docs[i]);
    }
    if (zone)
        msgpack_zone_free(zone);
    free(docs);
    free(args);
    free(qs);
    free(outs);
    free(of);
    return rc;
}

int kv_include_load_many(request *rq, const kv_model *m, inc_item *it, const kv_record *const *parents, size_t n)
{
    const kv_model *t = it->target;
    const kv_relation *b = &t->relations[it->rel->inverse];
    parent_keys k;
    size_t *order = calloc(n + 1, sizeof(size_t)), nkeyed = 0;
    int rc = 0;
    msgpack_sbuffer_init(&k.bytes);
    k.off = calloc(n + 1, sizeof(size_t));
    k.len = calloc(n + 1, sizeof(size_t));
    it->nparents = n;
    if (!order || !k.off || !k.len) {
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        bool none = false;
        size_t at = k.bytes.size;
        rc = key_of_parent(rq, m, t, b, parents[i], &k.bytes, &none);
        k.off[i] = at;
        k.len[i] = none ? SIZE_MAX : k.bytes.size - at;
        if (!none)
            order[nkeyed++] = i;
    }
    if (rc == 0 && it->has_take && it->take > 0 && (rc = load_windowed(rq, it, b, &k, n)) != 1)
        goto done;
    rc = rc == 1 ? 0 : rc;
    for (size_t from = 0; rc == 0 && from < nkeyed; from += KV_MAX_RANGES) {
        size_t to = nkeyed - from < KV_MAX_RANGES ? nkeyed : from + KV_MAX_RANGES;
        rc = query_chunk(rq, it, b, &k, order, from, to);
    }
    if (rc == 0)
        rc = group(rq, it, b, &k, n);
done:
    msgpack_sbuffer_destroy(&k.bytes);
    free(k.off);
    free(k.len);
    free(order);
    return rc;
}

/* ---- _count ---- */

/* The parents' counts of relation c: a query per parent; where its range decides the count (one range of keys
 * that are the where exactly, no cut value), every range's first chunk is read in one engine call and the keys
 * counted (a range with more goes on with the engine's count); any other parent's count is its query's own. */
static int count_one(request *rq, const kv_model *m, inc_count *c, const kv_record *const *parents, size_t n)
{
    const kv_relation *b = &c->target->relations[c->inverse];
    kv_engine *e = rq->db->engine;
    msgpack_sbuffer doc, key;
    msgpack_zone *zone = msgpack_zone_new(KV_MP_ZONE_CHUNK);
    kv_query *qs = calloc(n + 1, sizeof(*qs));
    kv_range *ranges = calloc(n + 1, sizeof(*ranges));
    kv_keys *keys = calloc(n + 1, sizeof(*keys));
    size_t *by_range = calloc(n + 1, sizeof(size_t)), nranges = 0;
    request sub = kv_include_request(rq, c->target, NULL);
    int rc = 0;
    msgpack_sbuffer_init(&doc);
    msgpack_sbuffer_init(&key);
    c->nparents = n;
    if (!zone || !qs || !ranges || !keys || !by_range || !(c->counts = calloc(n + 1, sizeof(int64_t)))) {
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
        goto done;
    }
    for (size_t p = 0; p < n && rc == 0; p++) {
        bool none = false;
        msgpack_object args;
        key.size = 0;
        if ((rc = key_of_parent(rq, m, c->target, b, parents[p], &key, &none)) != 0 || none)
            continue; /* no key: nothing points here */
        size_t at = doc.size;
        msgpack_packer pk;
        msgpack_packer_init(&pk, &doc, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 1);
        inc_item it = {.target = c->target, .where = c->where};
        pack_where_and(&pk, &it);
        kv_include_pack_key_map(&pk, &doc, c->target, b->fields, b->nfields, key.data, key.size);
        /* the zone copies nothing: the document must stay put, so each is unpacked from a copy in the zone */
        char *copy = msgpack_zone_malloc(zone, doc.size - at);
        if (!copy) {
            rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
            break;
        }
        memcpy(copy, doc.data + at, doc.size - at);
        if (kv_mp_unpack(zone, copy, doc.size - at, &args) != KV_MP_OK) {
            rc = kv_fail(rq->err, KVORM_EINTERNAL, "include: the count of %s did not pack", c->rel->name);
            break;
        }
        msgpack_object *kept = msgpack_zone_malloc(zone, sizeof(*kept));
        if (!kept) {
            rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
            break;
        }
        *kept = args;
        sub.args = kept;
        if ((rc = kv_query_init(&qs[p], &sub, kept, KV_Q_WHERE)) != 0)
            break;
        const kv_plan *pl = &qs[p].plan;
        if (e->ops->scan_many && pl->kind == KV_PLAN_INDEX && pl->nranges == 1 && pl->exact_count_ok) {
            ranges[nranges] = pl->ranges[0];
            by_range[nranges++] = p;
        } else {
            rc = kv_query_count(&qs[p], &c->counts[p]);
        }
    }
    if (rc == 0 && nranges > 0)
        rc = e->ops->scan_many(e, c->target, ranges, nranges, false, KV_SCAN_CHUNK, keys, rq->err);
    for (size_t r = 0; rc == 0 && r < nranges; r++) {
        c->counts[by_range[r]] = (int64_t)keys[r].n;
        if (keys[r].n < KV_SCAN_CHUNK)
            continue;
        kv_range rest = ranges[r]; /* the keys after the first chunk, counted by the engine */
        rest.lo = (kv_bound){keys[r].data + keys[r].off[keys[r].n - 1], keys[r].len[keys[r].n - 1], false};
        int64_t more = 0;
        if ((rc = e->ops->count(e, c->target, &rest, &more, rq->err)) == 0)
            c->counts[by_range[r]] += more;
    }
done:
    for (size_t i = 0; qs && i < n; i++) /* (zeroed where no query was made) */
        kv_query_free(&qs[i]);
    for (size_t r = 0; keys && r < nranges; r++)
        kv_keys_free(&keys[r]);
    if (zone)
        msgpack_zone_free(zone);
    msgpack_sbuffer_destroy(&doc);
    msgpack_sbuffer_destroy(&key);
    free(qs);
    free(ranges);
    free(keys);
    free(by_range);
    return rc;
}

int kv_include_load_counts(request *rq, const kv_model *m, kv_include *inc, const kv_record *const *parents,
                           size_t n)
{
    for (int i = 0; i < inc->ncounts; i++) {
        int rc = count_one(rq, m, &inc->counts[i], parents, n);
        if (rc != 0)
            return rc;
    }
    return 0;
}
