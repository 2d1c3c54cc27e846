/* Loading a manyToMany relation of a read. Its join records come first, as a hasMany of the join model would load
 * them (include_many.c); then the targets they name, in one query of the target model per KV_MAX_RANGES distinct
 * keys: its where the include's own and the target's key in those keys, its order the include's. Each parent's
 * targets are then taken in that order, each once, and cut to the include's skip and take. Two queries per level,
 * whatever the number of parents. */
#include "include_internal.h"

#include "query.h"

#include <stdlib.h>
#include <string.h>

/* Keys end to end: the canonical values a join record's foreign key to the target holds, or a target's own. */
typedef struct keys {
    msgpack_sbuffer bytes;
    size_t *off, *len; /* len SIZE_MAX: none (a null part) */
    size_t *sorted;    /* the keyed entries, by key */
    size_t nsorted;
} keys;

static int keys_init(keys *k, size_t n)
{
    msgpack_sbuffer_init(&k->bytes);
    k->off = calloc(n + 1, sizeof(size_t));
    k->len = calloc(n + 1, sizeof(size_t));
    k->sorted = calloc(n + 1, sizeof(size_t));
    k->nsorted = 0;
    return k->off && k->len && k->sorted ? 0 : -1;
}

static void keys_free(keys *k)
{
    msgpack_sbuffer_destroy(&k->bytes);
    free(k->off);
    free(k->len);
    free(k->sorted);
    memset(k, 0, sizeof(*k));
}

static int key_cmp_at(const keys *k, size_t i, const char *key, size_t len)
{
    size_t l = k->len[i];
    int c = memcmp(k->bytes.data + k->off[i], key, l < len ? l : len);
    return c ? c : (l > len) - (l < len);
}

static int by_key(const void *a, const void *b, void *ctx)
{
    const keys *k = ctx;
    size_t j = *(const size_t *)b;
    return key_cmp_at(k, *(const size_t *)a, k->bytes.data + k->off[j], k->len[j]);
}

static void keys_sort(keys *k) { qsort_r(k->sorted, k->nsorted, sizeof(size_t), by_key, k); }

/* The entry with this key, or SIZE_MAX. */
static size_t keys_find(const keys *k, const char *key, size_t len)
{
    size_t lo = 0, hi = k->nsorted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp_at(k, k->sorted[mid], key, len);
        if (c == 0)
            return k->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

/* Appends entry i: the values of fields of record r end to end, or none when one is null. */
static void key_of_fields(keys *k, size_t i, const kv_record *r, const int *fields, int nfields)
{
    size_t at = k->bytes.size;
    k->off[i] = at;
    k->len[i] = SIZE_MAX;
    for (int f = 0; f < nfields; f++)
        if (!r->values[fields[f]])
            return;
    for (int f = 0; f < nfields; f++)
        msgpack_sbuffer_write(&k->bytes, r->values[fields[f]], r->lens[fields[f]]);
    k->len[i] = k->bytes.size - at;
    k->sorted[k->nsorted++] = i;
}

/* The target query's args for the distinct join keys sorted[from, to): {"where": {"AND": [where, keys]},
 * "orderBy": ...}, keys {"id": {"in": [...]}} (or the referenced unique's one field), or {"OR": [{f1: v1, ...}]}. */
static void pack_args(msgpack_sbuffer *sb, const inc_item *it, const kv_relation *to, const keys *jk, size_t from,
                      size_t to_end)
{
    const kv_model *t = it->target;
    const kv_unique *u = to->references >= 0 ? &t->uniques[to->references] : NULL;
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1 + kv_include_order_entries(it));
    kv_pack_cstr(&pk, "where");
    msgpack_pack_map(&pk, 1);
    kv_pack_cstr(&pk, "AND");
    msgpack_pack_array(&pk, it->where ? 2 : 1);
    if (it->where)
        msgpack_pack_object(&pk, *it->where);
    if (!u || u->nfields == 1) {
        msgpack_pack_map(&pk, 1);
        kv_pack_cstr(&pk, u ? t->fields[u->fields[0]].name : "id");
        msgpack_pack_map(&pk, 1);
        kv_pack_cstr(&pk, "in");
        msgpack_pack_array(&pk, to_end - from);
        for (size_t i = from; i < to_end; i++)
            msgpack_sbuffer_write(sb, jk->bytes.data + jk->off[jk->sorted[i]], jk->len[jk->sorted[i]]);
    } else {
        msgpack_pack_map(&pk, 1);
        kv_pack_cstr(&pk, "OR");
        msgpack_pack_array(&pk, to_end - from);
        for (size_t i = from; i < to_end; i++)
            kv_include_pack_key_map(&pk, sb, t, u->fields, u->nfields, jk->bytes.data + jk->off[jk->sorted[i]],
                                    jk->len[jk->sorted[i]]);
    }
    kv_include_pack_order(&pk, it);
}

/* Runs the target's query for the join keys sorted[from, to) and appends its rows to it->recs; *q is the query,
 * kept by the caller for the order of the rows of several chunks. */
static int query_chunk(request *rq, inc_item *it, const kv_relation *to, const keys *jk, size_t from, size_t to_end,
                       kv_query *q)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_args(&sb, it, to, jk, from, to_end);
    int rc = kv_include_query_into(rq, it, &sb, q);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int by_position(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return (i > j) - (i < j);
}

/* The targets of all parents: one query per KV_MAX_RANGES distinct join keys, the rows in the include's order. */
static int load_targets(request *rq, inc_item *it, const kv_relation *to, const keys *jk)
{
    kv_query first, q;
    int rc = 0;
    memset(&first, 0, sizeof(first));
    for (size_t from = 0; rc == 0 && from < jk->nsorted; from += KV_MAX_RANGES) {
        size_t end = jk->nsorted - from < KV_MAX_RANGES ? jk->nsorted : from + KV_MAX_RANGES;
        memset(&q, 0, sizeof(q));
        rc = query_chunk(rq, it, to, jk, from, end, from == 0 ? &first : &q);
        if (from > 0)
            kv_query_free(&q);
    }
    if (rc == 0 && jk->nsorted > KV_MAX_RANGES) { /* each chunk is in order; all of them together are not */
        rc = kv_query_sort(&first, it->recs, it->nrecs);
        for (size_t i = 0; rc == 0 && first.from_end && i < it->nrecs / 2; i++) {
            kv_record r = it->recs[i]; /* read backwards from a cursor: the rows come back flipped */
            it->recs[i] = it->recs[it->nrecs - 1 - i];
            it->recs[it->nrecs - 1 - i] = r;
        }
    }
    kv_query_free(&first);
    return rc;
}

int kv_include_load_through(request *rq, const kv_model *m, inc_item *it, const kv_record *const *parents, size_t n)
{
    const kv_relation *r = it->rel;
    const kv_model *j = &rq->db->schema->models[r->through], *t = it->target;
    const kv_relation *to = &j->relations[r->through_to];
    /* the join records, as the join model's hasMany of m would load them */
    kv_relation edges = {.name = r->name, .name_len = r->name_len, .kind = KV_REL_HAS_MANY, .target = r->through,
                         .inverse = r->through_from};
    inc_item ji = {.rel = &edges, .target = j, .many = true};
    keys jk, tk;
    size_t *picked = NULL;
    int rc = kv_include_load_many(rq, m, &ji, parents, n);
    bool ok = keys_init(&jk, ji.nrecs) == 0;
    ok = keys_init(&tk, 0) == 0 && ok;
    it->nparents = n;
    if (rc == 0 && !ok)
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    /* the distinct keys of the targets the join records name */
    for (size_t i = 0; rc == 0 && i < ji.nrecs; i++)
        key_of_fields(&jk, i, &ji.recs[i], to->fields, to->nfields);
    keys_sort(&jk);
    size_t distinct = 0;
    for (size_t i = 0; rc == 0 && i < jk.nsorted; i++)
        if (i == 0 || by_key(&jk.sorted[distinct - 1], &jk.sorted[i], &jk) != 0)
            jk.sorted[distinct++] = jk.sorted[i];
    size_t nkeyed = jk.nsorted;
    jk.nsorted = distinct;
    if (rc == 0)
        rc = load_targets(rq, it, to, &jk);
    /* each target's key, as a join record holds it */
    keys_free(&tk);
    if (rc == 0 && keys_init(&tk, it->nrecs) != 0)
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    for (size_t i = 0; rc == 0 && i < it->nrecs; i++) {
        if (to->references >= 0) {
            const kv_unique *u = &t->uniques[to->references];
            key_of_fields(&tk, i, &it->recs[i], u->fields, u->nfields);
            continue;
        }
        tk.off[i] = tk.bytes.size;
        rc = kv_include_value_of_id(rq, j, &j->fields[to->fields[0]], t, it->recs[i].id, it->recs[i].id_len,
                                    &tk.bytes);
        tk.len[i] = tk.bytes.size - tk.off[i];
        tk.sorted[tk.nsorted++] = i;
    }
    keys_sort(&tk);
    /* per parent: its targets (each once) in the query's order, windowed */
    it->first = calloc(n + 1, sizeof(size_t));
    it->count = calloc(n + 1, sizeof(size_t));
    it->members = calloc(nkeyed + 1, sizeof(size_t));
    picked = calloc(nkeyed + 1, sizeof(size_t));
    if (rc == 0 && (!it->first || !it->count || !it->members || !picked))
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    size_t used = 0;
    for (size_t p = 0; rc == 0 && p < n; p++) {
        size_t np = 0, from = 0, count = 0;
        for (size_t e = 0; ji.count && e < ji.count[p]; e++) {
            size_t jr = ji.members[ji.first[p] + e];
            size_t found = jk.len[jr] == SIZE_MAX ? SIZE_MAX
                                                  : keys_find(&tk, jk.bytes.data + jk.off[jr], jk.len[jr]);
            if (found != SIZE_MAX)
                picked[np++] = found;
        }
        qsort(picked, np, sizeof(size_t), by_position);
        size_t d = 0;
        for (size_t i = 0; i < np; i++)
            if (i == 0 || picked[i] != picked[d - 1])
                picked[d++] = picked[i]; /* two join records of one pair name the target once */
        kv_include_window(it, d ? &it->recs[picked[0]] : NULL, d ? &it->recs[picked[d - 1]] : NULL, d, &from,
                          &count);
        it->first[p] = used;
        it->count[p] = count;
        for (size_t i = 0; i < count; i++)
            it->members[used++] = picked[from + i];
    }
    free(picked);
    keys_free(&jk);
    keys_free(&tk);
    for (size_t i = 0; i < ji.nrecs; i++)
        kv_record_free(&ji.recs[i]);
    free(ji.recs);
    free(ji.first);
    free(ji.count);
    free(ji.members);
    return rc;
}
