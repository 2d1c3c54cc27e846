/* The table of ops: one place says what each op is called, which arguments it takes, whether it writes, and
 * whether it leaves a step to run with its neighbours. Dispatch, the capabilities' op list and batching read it. */
#include "request.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NO_ARGS ((const char *const[]){NULL})

/* the arguments of the findMany family, which count, aggregate and the many-writes share in part */
#define QUERY_ARGS "where", "orderBy", "take", "skip", "cursor", "refuseScans"
#define AGGREGATES "_count", "_min", "_max", "_sum", "_avg"

const kv_op kv_ops[] = {
    {"capabilities", NO_ARGS, false, false, false, kv_op_capabilities},
    {"create", ARGS("data", "select", "include"), true, true, true, kv_op_create},
    {"findUnique", ARGS("where", "select", "include"), true, false, true, kv_op_find_unique},
    {"findUniqueOrThrow", ARGS("where", "select", "include"), true, false, true, kv_op_find_unique_or_throw},
    {"update", ARGS("where", "data", "select", "include", "ifVersion"), true, true, true, kv_op_update},
    {"upsert", ARGS("where", "create", "update", "select"), true, true, true, kv_op_upsert},
    {"delete", ARGS("where", "select", "ifVersion", "inChunks"), true, true, true, kv_op_delete},
    {"findMany", ARGS(QUERY_ARGS, "select", "include"), true, false, false, kv_op_find_many},
    {"findFirst", ARGS(QUERY_ARGS, "select", "include"), true, false, false, kv_op_find_first},
    {"findFirstOrThrow", ARGS(QUERY_ARGS, "select", "include"), true, false, false, kv_op_find_first_or_throw},
    {"count", ARGS(QUERY_ARGS), true, false, false, kv_op_count},
    {"aggregate", ARGS(QUERY_ARGS, AGGREGATES), true, false, false, kv_op_aggregate},
    {"groupBy", ARGS("by", "where", "having", "orderBy", "take", "skip", "refuseScans", AGGREGATES), true, false,
     false, kv_op_group_by},
    {"createMany", ARGS("data", "skipDuplicates"), true, true, false, kv_op_create_many},
    {"updateMany", ARGS("where", "data", "refuseScans"), true, true, false, kv_op_update_many},
    {"deleteMany", ARGS("where", "refuseScans", "inChunks"), true, true, false, kv_op_delete_many},
    {"explain", ARGS("op", "args"), true, false, false, kv_op_explain},
    {"check", NO_ARGS, true, false, false, kv_op_check},
    {"reindex", ARGS("index", "chunk"), true, true, false, kv_op_reindex},
};

int kv_op_capabilities(request *rq, msgpack_packer *pk)
{
    kv_pack_capabilities(rq->db, pk);
    return 0;
}

const size_t kv_nops = sizeof(kv_ops) / sizeof(kv_ops[0]);

/* The op named by o, compared with its length (a NUL inside the name is no match), or NULL. */
const kv_op *kv_op_find(const msgpack_object *name)
{
    for (size_t i = 0; i < kv_nops; i++)
        if (kv_mp_str_eq(name, kv_ops[i].name))
            return &kv_ops[i];
    return NULL;
}
