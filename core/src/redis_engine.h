/* The Redis engine (docs/format.md): records in hashes, unique constraints in hashes, atomic Lua writes. */
#ifndef KVORM_REDIS_ENGINE_H
#define KVORM_REDIS_ENGINE_H

#include "engine.h"

int kv_redis_engine_open(kv_engine **out, const char *url, const kvorm_open_options *opts, kv_error *err);

#endif
