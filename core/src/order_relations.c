/* The values of an orderBy on a relation (docs/queries.md, "orderBy a relation"): a to-one relation's field
 * ({"author": {"name": "asc"}}) or a to-many relation's count ({"posts": {"_count": "desc"}}). No index holds them,
 * so the query reads every row it matches and these are loaded for all of them the way an include loads the
 * relation: one batch of reads (one round trip on Redis) per key, whatever the number of rows. */
#include "include_internal.h"

#include <stdlib.h>
#include <string.h>

/* The include that loads key k: {relation: {"select": {field: true}}}, or {"_count": {"select": {relation: true}}}. */
static void pack_include(msgpack_sbuffer *sb, const kvorm_schema *s, const kv_model *m, const kv_order_key *k)
{
    const kv_relation *r = &m->relations[k->relation];
    const kv_model *t = &s->models[r->target];
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    if (k->count)
        kv_pack_cstr(&pk, "_count");
    else
        msgpack_pack_str_with_body(&pk, r->name, r->name_len);
    msgpack_pack_map(&pk, 1);
    kv_pack_cstr(&pk, "select");
    msgpack_pack_map(&pk, 1);
    if (k->count)
        msgpack_pack_str_with_body(&pk, r->name, r->name_len);
    else
        kv_pack_cstr(&pk, k->target_field == KV_FIELD_ID ? "id" : t->fields[k->target_field].name);
    msgpack_pack_true(&pk);
}

int kv_order_relation_values(kv_query *q, const kv_order_key *k, kv_record *rows, size_t n, kv_order_value *out,
                             kv_include **keep)
{
    request *rq = q->rq;
    msgpack_sbuffer doc;
    msgpack_object include;
    msgpack_zone *zone = kv_mp_zone_take();
    const kv_record **parents = calloc(n + 1, sizeof(*parents));
    int rc = 0;
    *keep = NULL;
    msgpack_sbuffer_init(&doc);
    pack_include(&doc, rq->db->schema, q->model, k);
    if (!zone || !parents || !doc.data)
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "out of memory");
    else if (kv_mp_unpack(zone, doc.data, doc.size, &include) != KV_MP_OK)
        rc = kv_fail(rq->err, KVORM_EINTERNAL, "orderBy: the include of %s did not pack",
                     q->model->relations[k->relation].name);
    for (size_t i = 0; rc == 0 && i < n; i++)
        parents[i] = &rows[i];
    if (rc == 0 && (rc = kv_include_parse(rq, q->model, &include, NULL, keep)) == 0)
        rc = kv_include_load(rq, *keep, q->model, parents, n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        out[i] = (kv_order_value){NULL, 0, 0};
        if (k->count) {
            out[i].n = (*keep)->counts[0].counts[i];
            continue;
        }
        const inc_item *it = &(*keep)->items[0];
        if (it->of_parent[i] < 0)
            continue; /* no target: null */
        const kv_record *t = &it->recs[it->of_parent[i]];
        out[i].v = k->target_field == KV_FIELD_ID ? t->id : t->values[k->target_field];
        out[i].len = k->target_field == KV_FIELD_ID ? t->id_len : t->lens[k->target_field];
    }
    free(parents);
    msgpack_sbuffer_destroy(&doc);
    if (zone)
        kv_mp_zone_give(zone); /* the parsed include keeps nothing of the document once loaded */
    return rc;
}
