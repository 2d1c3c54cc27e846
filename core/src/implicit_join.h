/* Implicit join models: a manyToMany without "through" goes through a join model kvorm declares for it
 * (docs/schema.md, "manyToMany without a join model"). */
#ifndef KVORM_IMPLICIT_JOIN_H
#define KVORM_IMPLICIT_JOIN_H

#include "schema.h"

/* The number of manyToMany relations in a schema's "models" map that name no "through": at most that many join
 * models are added. */
uint32_t kv_implicit_join_bound(const msgpack_object *models);

/* For every such relation of s's models (their "relations" maps in specs, s->nmodels of them, already parsed as
 * models): declares its join model, once per pair of models, as the document of a model (names[i], docs[i], *n of
 * them, at most cap: kv_implicit_join_bound), and rewrites the relation's spec to go through it. */
int kv_implicit_joins(const kvorm_schema *s, const msgpack_object **specs, msgpack_zone *zone, uint32_t cap,
                      msgpack_object *names, msgpack_object *docs, int *n, kv_error *err);

#endif
