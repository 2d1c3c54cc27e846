/* Referential integrity (docs/schema.md, "Writes keep relations consistent").
 *
 * A write that sets a foreign key carries a guard that its target exists, checked by the engine inside the same
 * atomic write (a create racing the delete of its target either sees it or is refused).
 *
 * A delete of a record others reference (or an update of a key they reference) is planned first: the records
 * referencing it are found in their foreign key's index, level by level (a cascade goes on through theirs, chains
 * and cycles included), each level's ranges in one engine call and its records in one more. Restrict refuses at
 * once; cascade deletes, setNull clears the foreign key; noAction refuses unless the plan deletes the referencing
 * record anyway. Then every write of the plan runs all or nothing (run_all), each at the version it was read at,
 * each deleted (or re-keyed) record guarded by the count of its referencing range as read: a record that changed,
 * or one that started to reference it meanwhile, makes the whole plan run again from a new read. */
#include "refs_plan.h"

#include "entries.h"
#include "filter.h"
#include "include_internal.h"
#include "keycode.h"
#include "nested.h"
#include "value.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRIES KV_REFPLAN_RETRIES
#define TOO_BIG KV_REFPLAN_TOO_BIG

static int oom(request *rq) { return kv_fail(rq->err, KVORM_EINTERNAL, "out of memory"); }

/* ---- guards ---- */

void kv_ref_guards_free(kv_ref_guards *g)
{
    for (int i = 0; i < g->nowned; i++)
        free(g->owned[i]);
    free(g->owned);
    free(g->g);
    memset(g, 0, sizeof(*g));
}

static char *keep(kv_ref_guards *g, const char *p, size_t n)
{
    if (g->nowned == g->owned_cap) {
        int cap = g->owned_cap ? 2 * g->owned_cap : 8;
        char **o = realloc(g->owned, sizeof(*o) * (size_t)cap);
        if (!o)
            return NULL;
        g->owned = o;
        g->owned_cap = cap;
    }
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, p, n);
        c[n] = '\0';
        g->owned[g->nowned++] = c;
    }
    return c;
}

static kv_guard *push(kv_ref_guards *g)
{
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 4;
        kv_guard *n = realloc(g->g, sizeof(*n) * (size_t)cap);
        if (!n)
            return NULL;
        g->g = n;
        g->cap = cap;
    }
    memset(&g->g[g->n], 0, sizeof(kv_guard));
    return &g->g[g->n++];
}

kv_guard *kv_refplan_guard(ref_item *it) { return push(&it->guards); }

char *kv_refplan_keep(ref_item *it, const char *bytes, size_t n) { return keep(&it->guards, bytes, n); }

/* The id text of model t that a foreign key's canonical value holds. */
static int id_text(request *rq, const kv_model *t, const char *v, size_t len, char *text, size_t *n)
{
    msgpack_zone *zone = kv_mp_zone_take();
    msgpack_object o;
    int rc = !zone ? oom(rq)
             : kv_mp_unpack(zone, v, len, &o) != KV_MP_OK
                 ? kv_fail(rq->err, KVORM_EINTERNAL, "%s: a foreign key value is not MessagePack", t->name)
                 : kv_id_encode(text, n, t, &o, rq->err);
    kv_mp_zone_give(zone);
    return rc;
}

static const kv_field_value *value_of(const kv_field_value *fv, int n, int f)
{
    for (int i = 0; i < n; i++)
        if (fv[i].field == f)
            return &fv[i];
    return NULL;
}

static bool cleared(const int *unset, int n, int f)
{
    for (int i = 0; i < n; i++)
        if (unset[i] == f)
            return true;
    return false;
}

/* Whether foreign key r of m holds, in fv, exactly the values fv gives the unique it references on m itself. */
static bool names_itself(const kv_model *m, const kv_relation *r, const kv_field_value *fv, int n)
{
    if (r->target != m->position || r->references < 0)
        return false;
    for (int i = 0; i < r->nfields; i++) {
        const kv_field_value *key = value_of(fv, n, m->uniques[r->references].fields[i]);
        const kv_field_value *fk = value_of(fv, n, r->fields[i]);
        if (!key || !fk || key->len != fk->len || memcmp(key->data, fk->data, fk->len) != 0)
            return false;
    }
    return true;
}

int kv_refs_guard_values(request *rq, const kv_model *m, const kv_field_value *fv, int n, const int *unset,
                         int nunset, bool whole, char when, kv_ref_guards *out)
{
    const kvorm_schema *s = rq->db->schema;
    for (int k = 0; k < m->nrelations; k++) {
        const kv_relation *r = &m->relations[k];
        if (r->kind != KV_REL_BELONGS_TO)
            continue;
        int given = 0, gone = 0;
        for (int i = 0; i < r->nfields; i++) {
            given += value_of(fv, n, r->fields[i]) != NULL;
            gone += cleared(unset, nunset, r->fields[i]);
        }
        if (given == 0)
            continue;
        if (given < r->nfields) {
            if (whole || gone > 0)
                continue; /* a null in the foreign key: it names no record */
            return kv_fail_at(rq->err, KVORM_EVALIDATION, m->name, m->fields[r->fields[0]].name,
                              "%s.%s: an update sets every field of the foreign key or none (or clears it)",
                              m->name, r->name);
        }
        if (names_itself(m, r, fv, n))
            continue; /* the record's own key, which this very write gives it */
        const kv_model *t = &s->models[r->target];
        kv_guard *g = push(out);
        if (!g)
            return oom(rq);
        *g = (kv_guard){.kind = KV_GUARD_EXISTS, .model = t, .owner = m, .relation = k, .when = when};
        if (r->references < 0) {
            const kv_field_value *v = value_of(fv, n, r->fields[0]);
            char text[KV_MAX_ID_BYTES + 1];
            size_t tn = 0;
            int rc = id_text(rq, t, v->data, v->len, text, &tn);
            if (rc != 0)
                return rc;
            if (!(g->loc.id = keep(out, text, tn)))
                return oom(rq);
            g->loc.id_len = tn;
        } else {
            msgpack_sbuffer key;
            msgpack_sbuffer_init(&key);
            for (int i = 0; i < r->nfields; i++) {
                const kv_field_value *v = value_of(fv, n, r->fields[i]);
                msgpack_sbuffer_write(&key, v->data, v->len);
            }
            g->loc.unique = &t->uniques[r->references];
            g->loc.unique_index = r->references;
            g->loc.ukey = keep(out, key.data ? key.data : "", key.size);
            g->loc.ukey_len = key.size;
            msgpack_sbuffer_destroy(&key);
            if (!g->loc.ukey)
                return oom(rq);
        }
    }
    return 0;
}

int kv_refs_guard_write(request *rq, kv_write *w, kv_ref_guards *out)
{
    int rc = 0;
    if (w->op == KV_WRITE_CREATE)
        rc = kv_refs_guard_values(rq, w->model, w->create, w->ncreate, NULL, 0, true, 'a', out);
    else if (w->op == KV_WRITE_UPDATE)
        rc = kv_refs_guard_values(rq, w->model, w->set, w->nset, w->unset, w->nunset, false, 'a', out);
    else if (w->op == KV_WRITE_UPSERT &&
             (rc = kv_refs_guard_values(rq, w->model, w->create, w->ncreate, NULL, 0, true, 'c', out)) == 0)
        rc = kv_refs_guard_values(rq, w->model, w->set, w->nset, w->unset, w->nunset, false, 'u', out);
    w->guards = out->g;
    w->nguards = out->n;
    return rc;
}

/* ---- who references what ---- */

bool kv_refs_referenced(const kvorm_schema *s, const kv_model *m)
{
    for (int i = 0; i < s->nmodels; i++)
        for (int k = 0; k < s->models[i].nrelations; k++)
            if (s->models[i].relations[k].kind == KV_REL_BELONGS_TO &&
                s->models[i].relations[k].target == m->position)
                return true;
    return false;
}

/* Whether fields set or cleared (by a write's set/unset) touch unique u of m. */
static bool touches(const kv_unique *u, const kv_write *w)
{
    for (int i = 0; i < u->nfields; i++)
        if (value_of(w->set, w->nset, u->fields[i]) || cleared(w->unset, w->nunset, u->fields[i]))
            return true;
    return false;
}

bool kv_refs_key_changed(const kvorm_schema *s, const kv_model *m, const kv_write *w)
{
    for (int i = 0; i < s->nmodels; i++)
        for (int k = 0; k < s->models[i].nrelations; k++) {
            const kv_relation *r = &s->models[i].relations[k];
            if (r->kind == KV_REL_BELONGS_TO && r->target == m->position && r->references >= 0 &&
                touches(&m->uniques[r->references], w))
                return true;
        }
    return false;
}

/* Whether data (an update map) names a field of a unique constraint of m that some belongsTo references. */
static bool data_names_referenced(const kvorm_schema *s, const kv_model *m, const msgpack_object *data)
{
    if (!data || data->type != MSGPACK_OBJECT_MAP)
        return false;
    for (uint32_t j = 0; j < data->via.map.size; j++) {
        const msgpack_object *key = &data->via.map.ptr[j].key;
        int f = key->type == MSGPACK_OBJECT_STR ? kv_model_field(m, key->via.str.ptr, key->via.str.size) : -1;
        if (f < 0)
            continue;
        kv_field_value one = {f, "", 0};
        kv_write w = {.set = &one, .nset = 1};
        if (kv_refs_key_changed(s, m, &w))
            return true;
    }
    return false;
}

bool kv_refs_runs_at_once(const kvorm_schema *s, const msgpack_object *root)
{
    const msgpack_object *op = kv_mp_map_get(root, "op"), *model = kv_mp_map_get(root, "model");
    const msgpack_object *args = kv_mp_map_get(root, "args");
    if (!s || !op || !model || model->type != MSGPACK_OBJECT_STR)
        return false;
    const kv_model *m = kv_schema_model(s, model->via.str.ptr, model->via.str.size);
    if (!m)
        return false;
    if (kv_mp_str_eq(op, "delete"))
        return kv_refs_referenced(s, m);
    if (!args || args->type != MSGPACK_OBJECT_MAP)
        return false;
    if ((kv_mp_str_eq(op, "create") || kv_mp_str_eq(op, "update")) && kv_nested_in(m, kv_mp_map_get(args, "data")))
        return true; /* a nested write reads first, then writes */
    if (kv_mp_str_eq(op, "update"))
        return data_names_referenced(s, m, kv_mp_map_get(args, "data"));
    if (kv_mp_str_eq(op, "upsert"))
        return data_names_referenced(s, m, kv_mp_map_get(args, "update"));
    return false;
}

/* ---- plans ---- */

static void item_free(ref_item *it)
{
    kv_record_free(&it->own);
    kv_record_free(&it->step.out);
    free(it->set);
    free(it->unset);
    kv_ref_guards_free(&it->guards);
}

void kv_refplan_free(ref_plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        item_free(&p->items[i]);
    free(p->items);
    kv_claims_free(&p->seen);
    for (size_t i = 0; i < p->npend; i++)
        free(p->pend[i].id);
    free(p->pend);
    memset(p, 0, sizeof(*p));
}

void kv_refplan_init(ref_plan *p, request *rq)
{
    memset(p, 0, sizeof(*p));
    p->rq = rq;
    kv_claims_init(&p->seen);
    kv_engine_facts f = {0};
    rq->db->engine->ops->facts(rq->db->engine, &f);
    p->bound = f.atomic_many > 0 ? (size_t)f.atomic_many : 1;
}

/* A new item for record rec of m (the plan owns it when own is set: rec is then moved in). */
static bool grow(ref_plan *p)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        ref_item *n = realloc(p->items, sizeof(*n) * cap);
        if (!n)
            return false;
        p->items = n;
        p->cap = cap;
        /* items moved: rec of an owned record points at its own */
        for (size_t i = 0; i < p->n; i++)
            if (p->items[i].own.id)
                p->items[i].rec = &p->items[i].own;
    }
    return true;
}

ref_item *kv_refplan_add_create(ref_plan *p, const kv_write *w)
{
    if (!grow(p))
        return NULL;
    ref_item *it = &p->items[p->n++];
    memset(it, 0, sizeof(*it));
    it->m = w->model;
    it->create = w;
    return it;
}

ref_item *kv_refplan_find(ref_plan *p, const kv_model *m, const char *id, size_t len)
{
    const kv_claim *c = kv_claims_find(&p->seen, m->position, id, len);
    return c ? &p->items[c->owner] : NULL;
}

ref_item *kv_refplan_add(ref_plan *p, const kv_model *m, kv_record *rec, bool own, bool del)
{
    if (!grow(p))
        return NULL;
    if (!kv_claims_add(&p->seen, m->position, rec->id, rec->id_len, p->n))
        return NULL;
    ref_item *it = &p->items[p->n++];
    memset(it, 0, sizeof(*it));
    it->m = m;
    it->del = del;
    if (own) {
        it->own = *rec;
        memset(rec, 0, sizeof(*rec));
        it->rec = &it->own;
    } else {
        it->rec = rec;
    }
    return it;
}

bool kv_refplan_unset(ref_item *it, int f)
{
    if (cleared(it->unset, it->nunset, f))
        return true;
    if (it->nunset == it->unset_cap) {
        int cap = it->unset_cap ? 2 * it->unset_cap : 4;
        int *n = realloc(it->unset, sizeof(int) * (size_t)cap);
        if (!n)
            return false;
        it->unset = n;
        it->unset_cap = cap;
    }
    it->unset[it->nunset++] = f;
    return true;
}

bool kv_refplan_set(ref_item *it, const kv_field_value *v)
{
    if (it->nset == it->set_cap) {
        int cap = it->set_cap ? 2 * it->set_cap : 4;
        kv_field_value *n = realloc(it->set, sizeof(*n) * (size_t)cap);
        if (!n)
            return false;
        it->set = n;
        it->set_cap = cap;
    }
    it->set[it->nset++] = *v;
    return true;
}

/* The write item it makes: its record's delete, or update, at the version it was read at, with its guards. */
static void item_write(ref_item *it)
{
    if (it->create) {
        it->w = *it->create;
        it->w.guards = it->guards.g;
        it->w.nguards = it->guards.n;
        kv_record_free(&it->step.out);
        it->step = (kv_step){.write = &it->w, .model = it->m, .loc = &it->w.loc, .err = &it->err};
        return;
    }
    it->w = (kv_write){.op = it->del ? KV_WRITE_DELETE : KV_WRITE_UPDATE, .model = it->m, .has_if_version = true,
                       .if_version = it->rec->version, .guards = it->guards.g, .nguards = it->guards.n};
    if (!it->del) {
        it->w.set = it->set;
        it->w.nset = it->nset;
        it->w.unset = it->unset;
        it->w.nunset = it->nunset;
        it->w.ops = it->ops;
        it->w.nops = it->nops;
    }
    it->w.loc.id = it->rec->id;
    it->w.loc.id_len = it->rec->id_len;
    kv_record_free(&it->step.out);
    it->step = (kv_step){.write = &it->w, .model = it->m, .loc = &it->w.loc, .err = &it->err};
}

/* Whether item it takes away (or changes) the key that relation r (a belongsTo targeting its model) references. */
static bool item_moves_key(const ref_item *it, const kv_relation *r)
{
    if (it->del)
        return true;
    kv_write w = {.set = it->set, .nset = it->nset, .unset = it->unset, .nunset = it->nunset};
    return r->references >= 0 && touches(&it->m->uniques[r->references], &w);
}

/* One search of a level: the records of model c referencing item `parent` through relation `rel`. */
typedef struct ref_search {
    size_t parent;
    const kv_model *c;
    int rel;
    msgpack_sbuffer lo;   /* the range's low bound: the key's elements */
    char *hi;             /* its high bound (hi_len 0: none), as long as lo */
    size_t hi_len;
    msgpack_sbuffer key;  /* the referenced key's canonical values, end to end (to tell a cut key's neighbours) */
    kv_keys keys;
    size_t first_read, nread;
} ref_search;

/* Prepares search s of item it: false when the item's key is null (nothing references it). */
static int search_init(ref_plan *p, ref_search *s, const ref_item *it, const kv_model *c, int rel, bool *none)
{
    request *rq = p->rq;
    const kv_relation *r = &c->relations[rel];
    const kv_index *x = &c->indexes[r->fk_index];
    int rc = 0;
    *none = false;
    s->c = c;
    s->rel = rel;
    for (int i = 0; i < r->nfields && rc == 0; i++) {
        const kv_field *f = &c->fields[r->fields[i]];
        size_t at = s->key.size;
        if (r->references < 0) {
            rc = kv_include_value_of_id(rq, c, f, it->m, it->rec->id, it->rec->id_len, &s->key);
        } else {
            int tf = it->m->uniques[r->references].fields[i];
            if (!it->rec->values[tf])
                return *none = true, 0;
            msgpack_sbuffer_write(&s->key, it->rec->values[tf], it->rec->lens[tf]);
        }
        if (rc == 0)
            rc = kv_key_append_value(&s->lo, f->type, s->key.data + at, s->key.size - at, x->parts[i].desc, NULL,
                                     rq->err);
    }
    if (rc == 0 && !(s->hi = malloc(s->lo.size + 1)))
        rc = oom(rq);
    if (rc == 0)
        kv_key_prefix_end(s->hi, &s->hi_len, s->lo.data, s->lo.size);
    return rc;
}

static kv_range search_range(const ref_search *s)
{
    const kv_relation *r = &s->c->relations[s->rel];
    kv_range range = {.index = &s->c->indexes[r->fk_index]};
    range.lo = (kv_bound){s->lo.data, s->lo.size, true};
    range.hi = s->hi_len ? (kv_bound){s->hi, s->hi_len, false} : (kv_bound){NULL, 0, false};
    return range;
}

/* Whether record rec (of s's model) holds exactly the referenced key: a key element cut at 128 bytes also takes
 * in its neighbours. */
static bool references_exactly(const ref_search *s, const kv_record *rec)
{
    const kv_relation *r = &s->c->relations[s->rel];
    size_t at = 0;
    for (int i = 0; i < r->nfields; i++) {
        const char *v = rec->values[r->fields[i]];
        size_t n = rec->lens[r->fields[i]];
        if (!v || at + n > s->key.size || memcmp(s->key.data + at, v, n) != 0)
            return false;
        at += n;
    }
    return at == s->key.size;
}

static int fail_restricted(ref_plan *p, const ref_item *it, const ref_search *s, size_t n, bool more)
{
    const kv_relation *r = &s->c->relations[s->rel];
    char q[96];
    kv_quote(q, sizeof(q), it->rec->id, it->rec->id_len);
    const char *action = it->del ? (r->on_delete == KV_REF_NO_ACTION ? "onDelete noAction" : "onDelete restrict")
                                 : (r->on_update == KV_REF_NO_ACTION ? "onUpdate noAction" : "onUpdate restrict");
    kv_fail_at(p->rq->err, KVORM_ERELATION, it->m->name, NULL,
               "%s: the record with id %s cannot be %s: %zu%s %s record(s) reference it through %s.%s (%s); "
               "nothing was written",
               it->m->name, q, it->del ? "deleted" : "given a new key", n, more ? " or more" : "", s->c->name,
               s->c->name, r->name, action);
    kv_error_add_field(p->rq->err, s->c->fields[r->fields[0]].name);
    return KVORM_ERELATION;
}

/* onUpdate cascade: the referencing record's foreign key takes the parent's new key, each part the value the
 * parent's update sets or, for a part it leaves, the one it has. A key that becomes null sets the foreign key
 * null (RELATION when it is required). The record joins the next level when its foreign key changed (it may be
 * a key others reference); a field already set or cleared is not set again, which ends the walk around a cycle. */
static int follow_key(ref_plan *p, ref_search *s, kv_record *child, ref_item *it, size_t *frontier, size_t *nfront)
{
    const kv_relation *r = &s->c->relations[s->rel];
    const ref_item *parent = &p->items[s->parent];
    kv_field_value to[KV_MAX_INDEX_PARTS];
    bool null = false;
    for (int i = 0; i < r->nfields; i++) {
        int uf = parent->m->uniques[r->references].fields[i];
        const kv_field_value *v = value_of(parent->set, parent->nset, uf);
        to[i] = v ? (kv_field_value){r->fields[i], v->data, v->len}
                  : (kv_field_value){r->fields[i], parent->rec->values[uf], parent->rec->lens[uf]};
        null = null || !to[i].data || cleared(parent->unset, parent->nunset, uf);
    }
    if (null && !r->optional) {
        char q[96];
        kv_quote(q, sizeof(q), parent->rec->id, parent->rec->id_len);
        kv_fail_at(p->rq->err, KVORM_ERELATION, parent->m->name, NULL,
                   "%s: the record with id %s cannot have a null key: %s records reference it through %s.%s "
                   "(onUpdate cascade), whose foreign key is required; nothing was written",
                   parent->m->name, q, s->c->name, s->c->name, r->name);
        kv_error_add_field(p->rq->err, s->c->fields[r->fields[0]].name);
        return KVORM_ERELATION;
    }
    if (it && it->del)
        return 0;
    bool changed = false;
    if (!it && !(it = kv_refplan_add(p, s->c, child, true, false)))
        return oom(p->rq);
    for (int i = 0; i < r->nfields; i++) {
        int f = r->fields[i];
        /* a foreign key the write already sets or clears (the caller's, or this plan's from another path) stays:
         * the record then no longer holds the old key */
        if (value_of(it->set, it->nset, f) || cleared(it->unset, it->nunset, f))
            continue;
        changed = true;
        if (null ? !kv_refplan_unset(it, f) : !kv_refplan_set(it, &to[i]))
            return oom(p->rq);
    }
    if (changed)
        frontier[(*nfront)++] = (size_t)(it - p->items);
    return 0;
}

/* Acts on one referencing record (read, referencing the parent exactly) as its relation says. */
static int act_on(ref_plan *p, ref_search *s, kv_record *child, size_t *frontier, size_t *nfront)
{
    const kv_relation *r = &s->c->relations[s->rel];
    bool del = p->items[s->parent].del;
    kv_ref_action a = del ? r->on_delete : r->on_update;
    const kv_claim *seen = kv_claims_find(&p->seen, s->c->position, child->id, child->id_len);
    ref_item *it = seen ? &p->items[seen->owner] : NULL;
    if (a == KV_REF_CASCADE && !del)
        return follow_key(p, s, child, it, frontier, nfront);
    if (a == KV_REF_RESTRICT)
        return fail_restricted(p, &p->items[s->parent], s, 1, false);
    if (a == KV_REF_NO_ACTION) {
        if (p->npend == p->pend_cap) {
            size_t cap = p->pend_cap ? 2 * p->pend_cap : 8;
            ref_pending *n = realloc(p->pend, sizeof(*n) * cap);
            if (!n)
                return oom(p->rq);
            p->pend = n;
            p->pend_cap = cap;
        }
        ref_pending *pd = &p->pend[p->npend];
        if (!(pd->id = malloc(child->id_len + 1)))
            return oom(p->rq);
        memcpy(pd->id, child->id, child->id_len);
        pd->id_len = child->id_len;
        pd->parent = s->parent;
        pd->m = s->c;
        pd->relation = s->rel;
        p->npend++;
        return 0;
    }
    if (a == KV_REF_CASCADE) {
        if (it && it->del)
            return 0;
        if (it) { /* cleared by another relation first: deleted after all */
            it->del = true;
            frontier[(*nfront)++] = (size_t)(it - p->items);
            return 0;
        }
        if (!kv_refplan_add(p, s->c, child, true, true))
            return oom(p->rq);
        frontier[(*nfront)++] = p->n - 1;
        return 0;
    }
    /* setNull */
    if (it && it->del)
        return 0;
    if (!it) {
        if (!(it = kv_refplan_add(p, s->c, child, true, false)))
            return oom(p->rq);
        frontier[(*nfront)++] = p->n - 1;
    }
    for (int i = 0; i < r->nfields; i++)
        if (!kv_refplan_unset(it, r->fields[i]))
            return oom(p->rq);
    return 0;
}

/* The items of the frontier, the level at hand, find the records that reference them; those a cascade or a
 * setNull writes make the next frontier. Returns 0, TOO_BIG, or an error. */
static int plan_level(ref_plan *p, size_t *frontier, size_t *nfront)
{
    request *rq = p->rq;
    const kvorm_schema *sc = rq->db->schema;
    kv_engine *e = rq->db->engine;
    ref_search *ss = NULL;
    size_t ns = 0, cap = 0, nreads = 0;
    kv_step *reads = NULL, **rp = NULL;
    kv_error *errs = NULL;
    kv_locator *locs = NULL;
    char (*ids)[KV_MAX_ID_BYTES + 1] = NULL;
    size_t *next = NULL, nnext = 0;
    int rc = 0;
    for (size_t f = 0; f < *nfront && rc == 0; f++) {
        const ref_item *it = &p->items[frontier[f]];
        for (int ci = 0; ci < sc->nmodels && rc == 0; ci++) {
            const kv_model *c = &sc->models[ci];
            for (int k = 0; k < c->nrelations && rc == 0; k++) {
                const kv_relation *r = &c->relations[k];
                if (r->kind != KV_REL_BELONGS_TO || r->target != it->m->position || !item_moves_key(it, r))
                    continue;
                if (ns == cap) {
                    size_t nc = cap ? 2 * cap : 8;
                    ref_search *n = realloc(ss, sizeof(*n) * nc);
                    if (!n) {
                        rc = oom(rq);
                        break;
                    }
                    ss = n;
                    cap = nc;
                }
                ref_search *s = &ss[ns];
                memset(s, 0, sizeof(*s));
                msgpack_sbuffer_init(&s->lo);
                msgpack_sbuffer_init(&s->key);
                s->parent = frontier[f];
                ns++;
                bool none = false;
                rc = search_init(p, s, it, c, k, &none);
                if (none) {
                    ns--;
                    msgpack_sbuffer_destroy(&s->lo);
                    msgpack_sbuffer_destroy(&s->key);
                    free(s->hi);
                }
            }
        }
    }
    /* the ranges, each up to one more key than a plan may write: one engine call per referencing model */
    size_t limit = p->bound + 1 < KV_SCAN_CHUNK ? p->bound + 1 : KV_SCAN_CHUNK;
    for (size_t i = 0; i < ns && rc == 0; i++) {
        if (ss[i].keys.n || ss[i].nread == SIZE_MAX)
            continue;
        kv_range *ranges = calloc(ns, sizeof(*ranges));
        kv_keys *outs = calloc(ns, sizeof(*outs));
        size_t *which = calloc(ns, sizeof(*which)), nr = 0;
        if (!ranges || !outs || !which) {
            free(ranges), free(outs), free(which);
            rc = oom(rq);
            break;
        }
        for (size_t j = i; j < ns; j++)
            if (ss[j].c == ss[i].c) {
                ranges[nr] = search_range(&ss[j]);
                which[nr++] = j;
                ss[j].nread = SIZE_MAX; /* scanned */
            }
        rc = e->ops->scan_many ? e->ops->scan_many(e, ss[i].c, ranges, nr, false, limit, outs, rq->err) : 0;
        for (size_t j = 0; j < nr && rc == 0; j++) {
            if (!e->ops->scan_many)
                rc = e->ops->scan(e, ss[i].c, &ranges[j], false, limit, &outs[j], rq->err);
            ss[which[j]].keys = outs[j];
            memset(&outs[j], 0, sizeof(outs[j]));
            /* more than a chunk: the rest, up to the bound */
            while (rc == 0 && ss[which[j]].keys.n < p->bound + 1 && ss[which[j]].keys.n % KV_SCAN_CHUNK == 0 &&
                   ss[which[j]].keys.n > 0) {
                kv_keys *kk = &ss[which[j]].keys;
                size_t before = kk->n;
                kv_range rest = ranges[j];
                rest.lo = (kv_bound){kk->data + kk->off[kk->n - 1], kk->len[kk->n - 1], false};
                rc = e->ops->scan(e, ss[i].c, &rest, false, KV_SCAN_CHUNK, kk, rq->err);
                if (kk->n == before)
                    break;
            }
        }
        for (size_t j = 0; j < nr; j++)
            kv_keys_free(&outs[j]);
        free(ranges), free(outs), free(which);
    }
    size_t total = 0;
    for (size_t i = 0; i < ns; i++)
        total += ss[i].keys.n;
    size_t acting = 0; /* keys of relations that write what they find (cascade, setNull) */
    for (size_t i = 0; i < ns; i++) {
        const kv_relation *r = &ss[i].c->relations[ss[i].rel];
        kv_ref_action a = p->items[ss[i].parent].del ? r->on_delete : r->on_update;
        acting += a == KV_REF_CASCADE || a == KV_REF_SET_NULL ? ss[i].keys.n : 0;
    }
    if (rc == 0 && acting > p->bound)
        rc = TOO_BIG;
    /* the records the keys name, all in one run */
    if (rc == 0 && total > 0) {
        reads = calloc(total, sizeof(*reads));
        rp = calloc(total, sizeof(*rp));
        errs = calloc(total, sizeof(*errs));
        locs = calloc(total, sizeof(*locs));
        ids = calloc(total, sizeof(*ids));
        next = calloc(total + *nfront + 1, sizeof(*next));
        if (!reads || !rp || !errs || !locs || !ids || !next)
            rc = oom(rq);
    }
    for (size_t i = 0; i < ns && rc == 0; i++) {
        const kv_index *x = &ss[i].c->indexes[ss[i].c->relations[ss[i].rel].fk_index];
        ss[i].first_read = nreads;
        for (size_t k = 0; k < ss[i].keys.n && rc == 0; k++) {
            size_t len = 0;
            rc = kv_key_id(ids[nreads], &len, ss[i].keys.data + ss[i].keys.off[k], ss[i].keys.len[k], x->nparts,
                           rq->err);
            locs[nreads] = (kv_locator){.id = ids[nreads], .id_len = len};
            reads[nreads] = (kv_step){.model = ss[i].c, .loc = &locs[nreads], .err = &errs[nreads]};
            rp[nreads] = &reads[nreads];
            nreads++;
        }
        ss[i].nread = nreads - ss[i].first_read;
    }
    if (rc == 0 && nreads > 0)
        e->ops->run(e, rp, nreads);
    for (size_t i = 0; i < ns && rc == 0; i++) {
        ref_item *parent = &p->items[ss[i].parent];
        kv_guard *g = push(&parent->guards);
        if (!g) {
            rc = oom(rq);
            break;
        }
        *g = (kv_guard){.kind = KV_GUARD_COUNT, .model = ss[i].c, .owner = ss[i].c, .relation = ss[i].rel,
                        .when = 'a', .count = (int64_t)ss[i].keys.n};
        g->range = search_range(&ss[i]);
        /* the bounds live in the search, which goes: the guard keeps copies */
        char *lo = keep(&parent->guards, ss[i].lo.data ? ss[i].lo.data : "", ss[i].lo.size);
        char *hi = ss[i].hi_len ? keep(&parent->guards, ss[i].hi, ss[i].hi_len) : NULL;
        if (!lo || (ss[i].hi_len && !hi)) {
            rc = oom(rq);
            break;
        }
        g->range.lo.data = lo;
        if (hi)
            g->range.hi.data = hi;
        for (size_t k = 0; k < ss[i].nread && rc == 0; k++) {
            kv_step *st = &reads[ss[i].first_read + k];
            if (st->rc != 0) {
                *rq->err = *st->err;
                rc = st->rc;
            } else if (!st->found) {
                continue; /* gone since the scan: the count guard sees the change */
            } else if (!references_exactly(&ss[i], &st->out)) {
                /* a neighbour of a cut key: it must stay as it is, or the count says nothing */
                parent = &p->items[ss[i].parent];
                kv_guard *v = push(&parent->guards);
                char *id = v ? keep(&parent->guards, st->out.id, st->out.id_len) : NULL;
                if (!v || !id) {
                    rc = oom(rq);
                    break;
                }
                *v = (kv_guard){.kind = KV_GUARD_EXISTS, .model = ss[i].c, .owner = ss[i].c, .relation = ss[i].rel,
                                .when = 'a', .version = st->out.version};
                v->loc.id = id;
                v->loc.id_len = st->out.id_len;
            } else {
                rc = act_on(p, &ss[i], &st->out, next, &nnext);
            }
        }
    }
    for (size_t i = 0; i < nreads; i++)
        kv_record_free(&reads[i].out);
    for (size_t i = 0; i < ns; i++) {
        msgpack_sbuffer_destroy(&ss[i].lo);
        msgpack_sbuffer_destroy(&ss[i].key);
        free(ss[i].hi);
        kv_keys_free(&ss[i].keys);
    }
    free(ss), free(reads), free(rp), free(errs), free(locs), free(ids);
    if (rc == 0 && p->n > p->bound)
        rc = TOO_BIG;
    if (rc == 0) {
        memcpy(frontier, next ? next : frontier, nnext * sizeof(*next));
        *nfront = nnext;
    }
    free(next);
    return rc;
}

/* Plans the items added so far (the roots) and everything their writes act on. */
int kv_refplan_build(ref_plan *p)
{
    size_t *frontier = calloc(p->n + 1, sizeof(*frontier)), nfront = p->n;
    int rc = 0;
    if (!frontier)
        return oom(p->rq);
    nfront = 0;
    for (size_t i = 0; i < p->n; i++)
        if (!p->items[i].create)
            frontier[nfront++] = i; /* a create takes nothing away */
    while (rc == 0 && nfront > 0) {
        /* the next frontier holds at most every item the plan may have */
        size_t *grown = realloc(frontier, sizeof(*frontier) * (p->bound + nfront + 2));
        if (!grown) {
            rc = oom(p->rq);
            break;
        }
        frontier = grown;
        rc = plan_level(p, frontier, &nfront);
    }
    free(frontier);
    /* noAction: what still references a record the plan takes away must be deleted (or cleared) by the plan */
    for (size_t i = 0; rc == 0 && i < p->npend; i++) {
        const ref_pending *pd = &p->pend[i];
        const kv_claim *c = kv_claims_find(&p->seen, pd->m->position, pd->id, pd->id_len);
        const kv_relation *r = &pd->m->relations[pd->relation];
        bool gone = c && p->items[c->owner].del;
        for (int f = 0; c && !gone && f < r->nfields; f++)
            gone = cleared(p->items[c->owner].unset, p->items[c->owner].nunset, r->fields[f]);
        if (!gone) {
            ref_search s = {.c = pd->m, .rel = pd->relation};
            rc = fail_restricted(p, &p->items[pd->parent], &s, 1, false);
        }
    }
    return rc;
}

int kv_refplan_fail_too_big(request *rq, const ref_plan *p)
{
    kv_fail_at(rq->err, KVORM_ERELATION, rq->model->name, NULL,
               "%s: this write and what it does to the records that reference it would change more than %zu "
               "records, the most one atomic write changes on this store; nothing was written (a delete may pass "
               "\"inChunks\": true to write its cascade in chunks, or delete or detach the referencing records "
               "first, in smaller calls)",
               rq->model->name, p->bound);
    return KVORM_ERELATION;
}

/* Runs the plan all or nothing. *again: a record changed since it was read (read again and plan again). */
int kv_refplan_run(ref_plan *p, bool *again)
{
    kv_engine *e = p->rq->db->engine;
    kv_step **sp = calloc(p->n + 1, sizeof(*sp));
    int rc = 0;
    *again = false;
    if (!sp)
        return oom(p->rq);
    for (size_t i = 0; i < p->n; i++) {
        item_write(&p->items[i]);
        sp[i] = &p->items[i].step;
    }
    e->ops->run_all(e, sp, p->n);
    for (size_t i = 0; i < p->n && rc == 0; i++) {
        int src = sp[i]->rc;
        if (src == KVORM_ECONFLICT || src == KVORM_ENOTFOUND)
            *again = true;
        else if (src != 0 && src != KV_STEP_UNAPPLIED) {
            *p->rq->err = *sp[i]->err;
            rc = src;
        }
    }
    free(sp);
    return rc;
}

/* ---- roots ---- */

/* What a call writes on its roots: a delete, or an update (set/unset, with guards for foreign keys it sets). */
typedef struct root_write {
    bool del;
    bool once;                   /* a record changed since read: leave it to the caller (no reading again) */
    const kv_write *tmpl;        /* update: its set and unset */
    const kv_ref_guards *guards; /* of the foreign keys the update sets */
} root_write;

static int add_roots(ref_plan *p, const kv_model *m, const kv_record *const *roots, size_t n, const root_write *rw)
{
    for (size_t i = 0; i < n; i++) {
        ref_item *it = kv_refplan_add(p, m, (kv_record *)roots[i], false, rw->del);
        if (!it)
            return oom(p->rq);
        for (int j = 0; !rw->del && j < rw->tmpl->nset; j++)
            if (!kv_refplan_set(it, &rw->tmpl->set[j]))
                return oom(p->rq);
        for (int j = 0; !rw->del && j < rw->tmpl->nunset; j++)
            if (!kv_refplan_unset(it, rw->tmpl->unset[j]))
                return oom(p->rq);
        if (!rw->del) {
            it->ops = rw->tmpl->ops;
            it->nops = rw->tmpl->nops;
        }
        for (int j = 0; rw->guards && j < rw->guards->n; j++) {
            kv_guard *g = push(&it->guards);
            if (!g)
                return oom(p->rq);
            *g = rw->guards->g[j];
            g->when = 'a';
        }
    }
    return 0;
}

/* Reads the records of model m by id (ids of recs); out[i] the fresh record, found[i] whether there is one. */
static int read_by_id(request *rq, const kv_model *m, const kv_record *const *recs, size_t n, kv_record *out,
                      bool *found)
{
    kv_step *st = calloc(n + 1, sizeof(*st));
    kv_step **sp = calloc(n + 1, sizeof(*sp));
    kv_locator *locs = calloc(n + 1, sizeof(*locs));
    kv_error *errs = calloc(n + 1, sizeof(*errs));
    int rc = 0;
    if (!st || !sp || !locs || !errs)
        rc = oom(rq);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        locs[i] = (kv_locator){.id = recs[i]->id, .id_len = recs[i]->id_len};
        st[i] = (kv_step){.model = m, .loc = &locs[i], .err = &errs[i]};
        sp[i] = &st[i];
    }
    if (rc == 0)
        rq->db->engine->ops->run(rq->db->engine, sp, n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (st[i].rc != 0) {
            *rq->err = *st[i].err;
            rc = st[i].rc;
            break;
        }
        found[i] = st[i].found;
        out[i] = st[i].out;
        memset(&st[i].out, 0, sizeof(st[i].out));
    }
    for (size_t i = 0; st && i < n; i++)
        kv_record_free(&st[i].out);
    free(st), free(sp), free(locs), free(errs);
    return rc;
}

/* Writes roots (records of rq->model as read) with everything they act on: in one plan when it fits the bound,
 * else in halves (each all or nothing). q (may be NULL): a root that changed is kept only while it matches its
 * where. *written counts the roots written; out (may be NULL, one root) receives its write's outcome. */
/* The records being cleared in chunks, each inside the one above: a record of the chain is no child of its own
 * (a cycle, a record referencing itself); the plan of the record above deletes it. */
typedef struct chain {
    const kv_model *m;
    const kv_record *rec;
    const struct chain *up;
} chain;

static bool in_chain(const chain *ch, const kv_model *m, const kv_record *r)
{
    for (; ch; ch = ch->up)
        if (ch->m == m && ch->rec->id_len == r->id_len && memcmp(ch->rec->id, r->id, r->id_len) == 0)
            return true;
    return false;
}

static int clear_references(request *rq, const kv_model *m, const kv_record *rec, size_t bound, const chain *up);

/* Whether the call asks for a cascade too big for one atomic write to be written in chunks (docs/schema.md). */
static bool wants_chunks(const request *rq)
{
    const msgpack_object *v = rq->args ? kv_mp_map_get(rq->args, "inChunks") : NULL;
    return v && v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
}

int kv_refs_chunks_arg(request *rq)
{
    const msgpack_object *v = rq->args ? kv_mp_map_get(rq->args, "inChunks") : NULL;
    if (v && v->type != MSGPACK_OBJECT_BOOLEAN && v->type != MSGPACK_OBJECT_NIL)
        return kv_fail_at(rq->err, KVORM_EBAD_REQUEST, rq->model->name, NULL, "%s: \"inChunks\" must be true or false",
                          rq->op);
    return 0;
}

static int write_roots(request *rq, const kv_query *q, const kv_record *const *roots, size_t n, const root_write *rw,
                       int64_t *written, kv_record *out, const chain *up)
{
    const kv_record **live = calloc(n + 1, sizeof(*live));
    kv_record *fresh = calloc(n + 1, sizeof(*fresh));
    bool *found = calloc(n + 1, sizeof(*found));
    int rc = 0;
    if (!live || !fresh || !found) {
        free(live), free(fresh), free(found);
        return oom(rq);
    }
    memcpy(live, roots, n * sizeof(*live));
    for (int attempt = 0; n > 0; attempt++) {
        ref_plan p;
        bool again = false;
        kv_refplan_init(&p, rq);
        if ((rc = add_roots(&p, rq->model, live, n, rw)) == 0 && (rc = kv_refplan_build(&p)) == 0)
            rc = kv_refplan_run(&p, &again);
        if (rc == 0 && !again) {
            *written += (int64_t)n;
            if (out) {
                *out = p.items[0].step.out;
                memset(&p.items[0].step.out, 0, sizeof(*out));
            }
            kv_refplan_free(&p);
            break;
        }
        if (rc == TOO_BIG && n == 1 && rw->del && wants_chunks(rq) && attempt < RETRIES) {
            /* what references the record goes first, in writes of its own; then the record's plan fits */
            size_t bound = p.bound;
            kv_refplan_free(&p);
            if ((rc = clear_references(rq, rq->model, live[0], bound, up)) != 0)
                break;
            continue;
        }
        if (rc == TOO_BIG) {
            rc = n == 1 ? kv_refplan_fail_too_big(rq, &p) : 0;
            kv_refplan_free(&p);
            if (rc == 0 && (rc = write_roots(rq, q, live, n / 2, rw, written, NULL, up)) == 0)
                rc = write_roots(rq, q, live + n / 2, n - n / 2, rw, written, NULL, up);
            break;
        }
        kv_refplan_free(&p);
        if (rc != 0 || rw->once)
            break;
        if (attempt == RETRIES) {
            kv_fail_at(rq->err, KVORM_ECONFLICT, rq->model->name, NULL,
                       "%s: records kept changing while this call wrote them and what references them (%d "
                       "attempts); nothing of them was written",
                       rq->model->name, RETRIES + 1);
            kv_error_set_retryable(rq->err, true);
            rc = KVORM_ECONFLICT;
            break;
        }
        /* read again: a root gone, or no longer matching, is dropped */
        kv_record *now = calloc(n + 1, sizeof(*now));
        if (!now) {
            rc = oom(rq);
            break;
        }
        if ((rc = read_by_id(rq, rq->model, live, n, now, found)) != 0) {
            for (size_t i = 0; i < n; i++)
                kv_record_free(&now[i]);
            free(now);
            break;
        }
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            if (!found[i] || (q && kv_filter_eval(&q->filter, rq->model, &now[i]) != KV_TRUE)) {
                kv_record_free(&now[i]);
                continue;
            }
            now[kept++] = now[i];
        }
        for (size_t i = 0; i < n; i++)
            kv_record_free(&fresh[i]);
        memcpy(fresh, now, kept * sizeof(*now));
        memset(fresh + kept, 0, (n - kept) * sizeof(*now));
        free(now);
        for (size_t i = 0; i < kept; i++)
            live[i] = &fresh[i];
        if (kept < n && out) { /* the one record went: as if it had not been there */
            rc = KVORM_ENOTFOUND;
            kv_fail_at(rq->err, KVORM_ENOTFOUND, rq->model->name, NULL, "%s: no record matches", rq->model->name);
            break;
        }
        n = kept;
    }
    for (size_t i = 0; i < n; i++)
        kv_record_free(&fresh[i]);
    free(live), free(fresh), free(found);
    return rc;
}

/* ---- chunks: a cascade larger than one atomic write, when the call asks for it (inChunks) ---- */

#define CHUNK_DEPTH 64 /* levels of records cleared in chunks, each inside the one above */

/* Up to limit records of model c referencing rec (of m) through its relation k, as read now (*n of them). */
static int referencing(request *rq, const kv_model *m, const kv_record *rec, const kv_model *c, int k, size_t limit,
                       const chain *chain, kv_record *out, size_t *n)
{
    ref_plan p;
    kv_refplan_init(&p, rq);
    ref_item it = {.m = m, .rec = rec, .del = true};
    ref_search s;
    memset(&s, 0, sizeof(s));
    msgpack_sbuffer_init(&s.lo);
    msgpack_sbuffer_init(&s.key);
    kv_keys keys = {0};
    kv_record *ids = NULL;
    const kv_record **idp = NULL;
    bool none = false, *found = NULL;
    char (*idbuf)[KV_MAX_ID_BYTES + 1] = NULL;
    int rc = search_init(&p, &s, &it, c, k, &none);
    *n = 0;
    if (rc == 0 && !none) {
        kv_range range = search_range(&s);
        rc = rq->db->engine->ops->scan(rq->db->engine, c, &range, false, limit, &keys, rq->err);
    }
    if (rc == 0 && keys.n > 0) {
        ids = calloc(keys.n, sizeof(*ids));
        idp = calloc(keys.n, sizeof(*idp));
        found = calloc(keys.n, sizeof(*found));
        idbuf = calloc(keys.n, sizeof(*idbuf));
        if (!ids || !idp || !found || !idbuf)
            rc = oom(rq);
    }
    const kv_index *x = &c->indexes[c->relations[k].fk_index];
    for (size_t i = 0; rc == 0 && i < keys.n; i++) {
        rc = kv_key_id(idbuf[i], &ids[i].id_len, keys.data + keys.off[i], keys.len[i], x->nparts, rq->err);
        ids[i].id = idbuf[i];
        idp[i] = &ids[i];
    }
    if (rc == 0 && keys.n > 0) {
        memset(out, 0, sizeof(*out) * keys.n); /* a read that fails part way leaves the rest empty */
        rc = read_by_id(rq, c, idp, keys.n, out, found);
    }
    for (size_t i = 0; i < keys.n && found; i++) {
        if (rc == 0 && found[i] && references_exactly(&s, &out[i]) && !in_chain(chain, c, &out[i]))
            out[(*n)++] = out[i];
        else
            kv_record_free(&out[i]); /* also what a read that failed part way moved out */
    }
    if (rc != 0)
        *n = 0;
    msgpack_sbuffer_destroy(&s.lo);
    msgpack_sbuffer_destroy(&s.key);
    free(s.hi);
    kv_keys_free(&keys);
    free(ids), free(idp), free(found), free(idbuf);
    kv_refplan_free(&p);
    return rc;
}

/* Deletes (cascade) or clears (setNull) what references rec, a record of m, in writes within the bound, each all or
 * nothing with what it does in turn (chunked again when that is too big): deepest first, so that no write leaves
 * a foreign key naming a record that is gone. A restrict or noAction on rec is checked first: nothing is written
 * then; one met deeper stops the chunks there. */
static int clear_references(request *rq, const kv_model *m, const kv_record *rec, size_t bound, const chain *up)
{
    const kvorm_schema *sc = rq->db->schema;
    chain here = {m, rec, up};
    int depth = 0, rc = 0;
    for (const chain *ch = up; ch; ch = ch->up)
        depth++;
    if (depth >= CHUNK_DEPTH)
        return kv_fail_at(rq->err, KVORM_ERELATION, m->name, NULL,
                          "%s: the cascade runs through more than %d levels of records too big for one write each; "
                          "the chunks written so far stay written",
                          m->name, CHUNK_DEPTH);
    kv_record *kids = calloc(bound, sizeof(*kids));
    const kv_record **roots = calloc(bound, sizeof(*roots));
    if (!kids || !roots)
        rc = oom(rq);
    for (int pass = 0; pass < 2; pass++) /* the records that restrict it first, then the chunks */
        for (int ci = 0; ci < sc->nmodels && rc == 0; ci++) {
            const kv_model *c = &sc->models[ci];
            for (int k = 0; k < c->nrelations && rc == 0; k++) {
                const kv_relation *r = &c->relations[k];
                bool acts = r->on_delete == KV_REF_CASCADE || r->on_delete == KV_REF_SET_NULL;
                if (r->kind != KV_REL_BELONGS_TO || r->target != m->position || acts != (pass == 1))
                    continue;
                kv_write clear = {.op = KV_WRITE_UPDATE, .unset = r->fields, .nunset = r->nfields};
                root_write rw = {.del = r->on_delete == KV_REF_CASCADE, .once = true, .tmpl = &clear};
                for (int stale = 0; rc == 0 && stale <= RETRIES;) {
                    size_t n = 0;
                    if ((rc = referencing(rq, m, rec, c, k, bound, &here, kids, &n)) != 0 || n == 0)
                        break;
                    if (pass == 0) {
                        char q[96];
                        kv_quote(q, sizeof(q), rec->id, rec->id_len);
                        rc = kv_fail_at(rq->err, KVORM_ERELATION, m->name, NULL,
                                        "%s: the record with id %s cannot be deleted: %s records reference it "
                                        "through %s.%s (onDelete %s); nothing was written",
                                        m->name, q, c->name, c->name, r->name,
                                        r->on_delete == KV_REF_NO_ACTION ? "noAction" : "restrict");
                        kv_error_add_field(rq->err, c->fields[r->fields[0]].name);
                    }
                    for (size_t i = 0; i < n; i++)
                        roots[i] = &kids[i];
                    const kv_model *caller = rq->model;
                    int64_t written = 0;
                    rq->model = c;
                    if (rc == 0)
                        rc = write_roots(rq, NULL, roots, n, &rw, &written, NULL, &here);
                    rq->model = caller;
                    stale += written == 0; /* each changed since read: read again, a few times */
                    for (size_t i = 0; i < n; i++)
                        kv_record_free(&kids[i]);
                }
            }
        }
    free(kids);
    free(roots);
    return rc;
}

int kv_refs_write_rows(request *rq, const kv_query *q, const kv_rows *rows, size_t from, size_t k,
                       const kv_write *tmpl, int64_t *written)
{
    const kv_record **roots = calloc(k + 1, sizeof(*roots));
    kv_ref_guards guards = {0};
    int rc = 0;
    if (!roots)
        return oom(rq);
    for (size_t i = 0; i < k; i++)
        roots[i] = &rows->rows[from + i];
    root_write rw = {.del = tmpl->op == KV_WRITE_DELETE, .tmpl = tmpl};
    if (!rw.del) {
        rc = kv_refs_guard_values(rq, rq->model, tmpl->set, tmpl->nset, tmpl->unset, tmpl->nunset, false, 'a',
                                  &guards);
        rw.guards = &guards;
    }
    if (rc == 0)
        rc = write_roots(rq, q, roots, k, &rw, written, NULL, NULL);
    kv_ref_guards_free(&guards);
    free(roots);
    return rc;
}

/* ---- the single-record ops ---- */

/* Reads the record the request's where names. */
static int read_target(request *rq, kv_record *out, bool *found)
{
    pending *p = rq->step;
    kv_error err = {0};
    kv_step st = {.model = rq->model, .loc = &p->t.loc, .err = &err};
    kv_step *sp = &st;
    rq->db->engine->ops->run(rq->db->engine, &sp, 1);
    if (st.rc != 0) {
        *rq->err = err;
        return st.rc;
    }
    *found = st.found;
    *out = st.out;
    return 0;
}

/* An upsert whose record is not there: its create, guarded by the foreign keys it sets. *taken: the id or a
 * unique value was taken meanwhile (the record came: try the update again). */
static int upsert_create(request *rq, kv_record *out, bool *taken)
{
    pending *p = rq->step;
    kv_write w = p->w;
    kv_ref_guards guards = {0};
    kv_error err = {0};
    kv_step st = {.write = &w, .model = rq->model, .loc = &w.loc, .err = &err};
    kv_step *sp = &st;
    w.op = KV_WRITE_CREATE;
    w.set = NULL, w.nset = 0, w.unset = NULL, w.nunset = 0, w.ops = NULL, w.nops = 0;
    if (!p->t.loc.unique) { /* upsert by id creates under that id */
        w.new_id = p->t.loc.id;
        w.new_id_len = p->t.loc.id_len;
    }
    int rc = kv_refs_guard_write(rq, &w, &guards);
    *taken = false;
    if (rc == 0) {
        rq->db->engine->ops->run(rq->db->engine, &sp, 1);
        if (st.rc == KVORM_EUNIQUE) {
            *taken = true;
        } else if (st.rc != 0) {
            *rq->err = err;
            rc = st.rc;
        } else {
            *out = st.out;
            memset(&st.out, 0, sizeof(st.out));
        }
    }
    kv_record_free(&st.out);
    kv_ref_guards_free(&guards);
    return rc;
}

int kv_refs_run_single(request *rq, msgpack_packer *pk)
{
    pending *p = rq->step;
    kv_record rec = {0}, out = {0};
    kv_ref_guards guards = {0};
    int rc = 0;
    root_write rw = {.del = p->w.op == KV_WRITE_DELETE, .tmpl = &p->w};
    if (!rw.del) {
        rc = kv_refs_guard_values(rq, rq->model, p->w.set, p->w.nset, p->w.unset, p->w.nunset, false, 'a', &guards);
        rw.guards = &guards;
    }
    for (int attempt = 0; rc == 0; attempt++) {
        bool found = false, taken = false;
        int64_t written = 0;
        kv_record_free(&rec);
        if ((rc = read_target(rq, &rec, &found)) != 0)
            break;
        if (!found && p->w.op == KV_WRITE_UPSERT) {
            if ((rc = upsert_create(rq, &out, &taken)) != 0 || !taken)
                break;
            if (attempt == RETRIES) {
                rc = kv_fail_at(rq->err, KVORM_ECONFLICT, rq->model->name, NULL,
                                "%s: the record kept coming and going (%d attempts)", rq->model->name, RETRIES + 1);
                kv_error_set_retryable(rq->err, true);
                break;
            }
            continue;
        }
        if (!found) {
            rc = rq_not_found(rq, &p->t);
            break;
        }
        if (p->w.has_if_version && rec.version != p->w.if_version) {
            rc = kv_fail_at(rq->err, KVORM_ECONFLICT, rq->model->name, NULL,
                            "%s: the record is at version %" PRId64 ", not the expected version %" PRId64,
                            rq->model->name, rec.version, p->w.if_version);
            break;
        }
        const kv_record *root = &rec;
        rc = write_roots(rq, NULL, &root, 1, &rw, &written, &out, NULL);
        if (rc == KVORM_ENOTFOUND && attempt < RETRIES) {
            rc = 0; /* gone meanwhile: read again (an upsert then creates it) */
            continue;
        }
        if (rc == 0 && rw.del) { /* the outcome of a delete is the record as it was */
            kv_record_free(&out);
            out = rec;
            memset(&rec, 0, sizeof(rec));
        }
        break;
    }
    if (rc == 0) /* an update's include is read after its write, as on the path without references */
        rc = kv_include_pack_one(rq, pk, p->include, &out, &p->sel);
    kv_record_free(&rec);
    kv_record_free(&out);
    kv_ref_guards_free(&guards);
    return rc;
}
