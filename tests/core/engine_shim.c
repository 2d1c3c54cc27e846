// The engine shim of engine_shim.h: a copy of the engine's ops whose scan calls the real one, then the hook.
#include "engine_shim.h"

#include "db.h"

#include <stddef.h>

static const kv_engine_ops *real_ops;
static kv_engine_ops shim_ops;
static void (*hook)(void *);
static void *hook_arg;

static int shim_scan(kv_engine *e, const kv_model *m, const kv_range *r, bool reverse, size_t limit, kv_keys *out,
                     kv_error *err)
{
    int rc = real_ops->scan(e, m, r, reverse, limit, out, err);
    void (*fn)(void *) = hook;
    hook = NULL;
    if (fn)
        fn(hook_arg);
    return rc;
}

void kt_shim_after_next_scan(kvorm_db *db, void (*fn)(void *), void *arg)
{
    if (db->engine->ops != &shim_ops) {
        real_ops = db->engine->ops;
        shim_ops = *real_ops;
        shim_ops.scan = shim_scan;
        db->engine->ops = &shim_ops;
    }
    hook = fn;
    hook_arg = arg;
}

void kt_shim_remove(kvorm_db *db)
{
    if (db->engine->ops == &shim_ops)
        db->engine->ops = real_ops;
    hook = NULL;
}
