/* The relations of a schema (docs/schema.md, Relations): parsed and resolved by kv_schema_load. */
#ifndef KVORM_RELATIONS_H
#define KVORM_RELATIONS_H

#include "schema.h"

/* Parses specs[i], model i's "relations" map (NULL: none), into s->models[i].relations (allocated in zone), once
 * every model's fields and unique constraints are loaded, and resolves them: targets, foreign keys and the keys
 * they reference (types checked), the belongsTo of each hasOne and hasMany, the join model of each manyToMany.
 * Returns 0 or SCHEMA naming the model and relation. The foreign keys' indexes are schema.c's to add. */
int kv_relations_parse(kvorm_schema *s, const msgpack_object *const *specs, msgpack_zone *zone, kv_error *err);

/* Whether belongsTo `relation` of m is the inverse of a hasOne: its foreign key is then unique. */
bool kv_relation_needs_unique(const kvorm_schema *s, const kv_model *m, int relation);

#endif
