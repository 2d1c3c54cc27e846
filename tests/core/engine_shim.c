// The engine shim of engine_shim.h: a copy of the engine's ops whose scan (and scan_many) calls the real one,
// counts its keys, then calls the hook, and whose run_all calls its hook, then the real one.
#include "engine_shim.h"

#include "db.h"

#include <stddef.h>

static const kv_engine_ops *real_ops;
static kv_engine_ops shim_ops;
static void (*hook)(void *);
static void *hook_arg;
static void (*all_hook)(void *);
static void *all_hook_arg;
static size_t keys_scanned;

static int shim_scan(kv_engine *e, const kv_model *m, const kv_range *r, bool reverse, size_t limit, kv_keys *out,
                     kv_error *err)
{
    size_t before = out->n;
    int rc = real_ops->scan(e, m, r, reverse, limit, out, err);
    keys_scanned += out->n - before;
    void (*fn)(void *) = hook;
    hook = NULL;
    if (fn)
        fn(hook_arg);
    return rc;
}

static int shim_scan_many(kv_engine *e, const kv_model *m, const kv_range *r, size_t n, bool reverse, size_t limit,
                          kv_keys *outs, kv_error *err)
{
    size_t before = 0, after = 0;
    for (size_t i = 0; i < n; i++)
        before += outs[i].n;
    int rc = real_ops->scan_many(e, m, r, n, reverse, limit, outs, err);
    for (size_t i = 0; i < n; i++)
        after += outs[i].n;
    keys_scanned += after - before;
    void (*fn)(void *) = hook;
    hook = NULL;
    if (fn)
        fn(hook_arg);
    return rc;
}

static void shim_run_all(kv_engine *e, kv_step **steps, size_t n)
{
    void (*fn)(void *) = all_hook;
    all_hook = NULL;
    if (fn)
        fn(all_hook_arg);
    real_ops->run_all(e, steps, n);
}

static void install(kvorm_db *db)
{
    if (db->engine->ops != &shim_ops) {
        real_ops = db->engine->ops;
        shim_ops = *real_ops;
        shim_ops.scan = shim_scan;
        if (real_ops->scan_many)
            shim_ops.scan_many = shim_scan_many;
        shim_ops.run_all = shim_run_all;
        db->engine->ops = &shim_ops;
    }
}

void kt_shim_after_next_scan(kvorm_db *db, void (*fn)(void *), void *arg)
{
    install(db);
    hook = fn;
    hook_arg = arg;
}

void kt_shim_before_next_run_all(kvorm_db *db, void (*fn)(void *), void *arg)
{
    install(db);
    all_hook = fn;
    all_hook_arg = arg;
}

void kt_shim_count_keys(kvorm_db *db)
{
    install(db);
    keys_scanned = 0;
}

size_t kt_shim_keys_scanned(void) { return keys_scanned; }

void kt_shim_remove(kvorm_db *db)
{
    if (db->engine->ops == &shim_ops)
        db->engine->ops = real_ops;
    hook = NULL;
    all_hook = NULL;
}
