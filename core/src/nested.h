/* Nested writes (docs/queries.md, Nested writes): a create or update whose data names relations of its model,
 * each with what to do to the related records (create, createMany, connect, connectOrCreate, disconnect, set,
 * update, updateMany, upsert, delete, deleteMany, as Prisma names them). Everything the call writes, and what
 * its deletes do to the records referencing them, runs as one all-or-nothing write. Engine-independent. */
#ifndef KVORM_NESTED_H
#define KVORM_NESTED_H

#include "request.h"

/* Whether data (a create or update data map of model m) names a relation: the write is then a nested one. */
bool kv_nested_in(const kv_model *m, const msgpack_object *data);

/* The create and update ops of a nested write: read what they name, write it all or nothing, pack the record
 * (select and include as the op gives them). They run at once, not with their neighbours. */
int kv_nested_create(request *rq, msgpack_packer *pk);
int kv_nested_update(request *rq, msgpack_packer *pk);

#endif
