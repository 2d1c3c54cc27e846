/* A plan of writes run all or nothing with what they do to the records that reference them (refs.c): the deletes
 * and updates of records as read, the creates a nested write adds (nested.c), and the cascades and setNulls the
 * referential actions add, level by level, before all of them run in one run_all. */
#ifndef KVORM_REFS_PLAN_H
#define KVORM_REFS_PLAN_H

#include "claims.h"
#include "refs.h"

#define KV_REFPLAN_RETRIES 8 /* plans made again after a record changed, before CONFLICT */
#define KV_REFPLAN_TOO_BIG 1 /* a plan over the engine's bound (not an error code: the caller splits or refuses) */

typedef struct ref_item {
    const kv_model *m;
    const kv_record *rec; /* as read (NULL for a create) */
    kv_record own;        /* the record, when the plan read it */
    bool del;             /* a delete; else an update */
    const kv_write *create; /* a create the caller built (with its guards): written as it is */
    kv_field_value *set;
    int nset, set_cap;
    int *unset;
    int nunset, unset_cap;
    const kv_field_op *ops; /* a root update's atomic number operations (the caller's) */
    int nops;
    kv_ref_guards guards;
    kv_write w;
    kv_step step;
    kv_error err;
} ref_item;

/* A referencing record that noAction lets go only if the plan deletes it (or clears that foreign key). */
typedef struct ref_pending {
    size_t parent;
    const kv_model *m;
    int relation;
    char *id;
    size_t id_len;
} ref_pending;

typedef struct ref_plan {
    request *rq;
    ref_item *items;
    size_t n, cap;
    kv_claims seen; /* (model position, id) -> item */
    size_t bound;
    ref_pending *pend;
    size_t npend, pend_cap;
} ref_plan;

void kv_refplan_init(ref_plan *p, request *rq);
void kv_refplan_free(ref_plan *p);
/* A new item (its index is p->n - 1; item pointers move as items are added) for record rec of m, a delete or an
 * update; the plan owns rec when own is set (rec is then moved in). NULL when out of memory. */
ref_item *kv_refplan_add(ref_plan *p, const kv_model *m, kv_record *rec, bool own, bool del);
/* A new item that creates what w says (w and what it points to outlive the plan's run). */
ref_item *kv_refplan_add_create(ref_plan *p, const kv_write *w);
/* The item of the record of m with that id, or NULL. */
ref_item *kv_refplan_find(ref_plan *p, const kv_model *m, const char *id, size_t len);
bool kv_refplan_set(ref_item *it, const kv_field_value *v);
bool kv_refplan_unset(ref_item *it, int f);
/* A guard the item's write carries (zeroed); and a copy of n bytes that lives as long as the item's guards. */
kv_guard *kv_refplan_guard(ref_item *it);
char *kv_refplan_keep(ref_item *it, const char *bytes, size_t n);
/* Plans what the deletes and key changes among the items do to the records referencing them (the creates act
 * on nothing). 0, KV_REFPLAN_TOO_BIG, or an error. */
int kv_refplan_build(ref_plan *p);
/* Runs every item all or nothing. *again: a record changed since it was read (read again and plan again). */
int kv_refplan_run(ref_plan *p, bool *again);
/* RELATION: the plan would change more records than one atomic write may. */
int kv_refplan_fail_too_big(request *rq, const ref_plan *p);

#endif
