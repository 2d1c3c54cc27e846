/* The LMDB engine: an embedded store in one directory (lmdb_internal.h gives the layout), with the semantics of
 * the Redis engine: atomic writes with unique and index entries, ordered ranges, online index builds. */
#ifndef KVORM_LMDB_ENGINE_H
#define KVORM_LMDB_ENGINE_H

#include "engine.h"

/* Serves lmdb:// (lmdb:///absolute/dir, lmdb://relative/dir; parameters in lmdb_url.c). */
extern const kv_engine_entry kv_lmdb_engine_entry;

#endif
