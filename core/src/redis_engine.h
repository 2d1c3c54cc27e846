/* The Redis engine (docs/format.md): records in hashes, unique constraints in hashes, the id collection and the
 * secondary indexes in sorted sets read by lexical range, atomic Lua writes. */
#ifndef KVORM_REDIS_ENGINE_H
#define KVORM_REDIS_ENGINE_H

#include "engine.h"

/* Serves redis:// and unix:// (docs/c-api.md). */
extern const kv_engine_entry kv_redis_engine_entry;

int kv_redis_engine_open(kv_engine **out, const char *url, const kvorm_open_options *opts, kv_error *err);

#endif
