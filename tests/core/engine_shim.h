// A shim around a db's engine for tests that need a write to land at an exact point of a read (C, since the
// db handle's layout is the core's C header): the query layer reads ranges page by page, and what happens between
// two pages is what these tests are about. The engine underneath is the real one.
#ifndef KVORM_TESTS_ENGINE_SHIM_H
#define KVORM_TESTS_ENGINE_SHIM_H

#include "kvorm.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// From now on, after db's engine has answered its next range scan, calls fn(arg) once (before the query reads
// the records the scan named). Call kt_shim_remove before closing db.
void kt_shim_after_next_scan(kvorm_db *db, void (*fn)(void *), void *arg);
// From now on, before db's engine runs its next all-or-nothing group (createMany, updateMany, deleteMany, after
// their records were read), calls fn(arg) once.
void kt_shim_before_next_run_all(kvorm_db *db, void (*fn)(void *), void *arg);
// Installs the shim (if it is not yet) and starts counting the keys db's range scans return.
void kt_shim_count_keys(kvorm_db *db);
// The keys db's range scans returned since kt_shim_count_keys.
size_t kt_shim_keys_scanned(void);
void kt_shim_remove(kvorm_db *db);

#ifdef __cplusplus
}
#endif

#endif
