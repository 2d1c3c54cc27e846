/* What the two request fuzzers (fuzz_exec_msgpack.c, fuzz_exec_json.c) share: a db over the live redis-server that
 * scripts/fuzz.sh starts (KVORM_FUZZ_REDIS_SOCKET), a fixed schema with every field type, single and compound
 * uniques and every id strategy, the checks of each response, and the check of everything stored. */
#ifndef KVORM_FUZZ_EXEC_COMMON_H
#define KVORM_FUZZ_EXEC_COMMON_H

#include "kvorm.h"

#include <stddef.h>

/* Most requests one input runs. */
#define FZ_MAX_REQUESTS 16

/* Opens the db (namespace fz<tag>_<pid>, so that parallel fuzzers never share keys) and a raw hiredis
 * connection. Exits with a message when KVORM_FUZZ_REDIS_SOCKET is not set. */
void fz_exec_setup(const char *tag);
kvorm_db *fz_exec_db(void);

/* A response of kvorm_exec: a known status of a request (no INTERNAL, CONNECTION, ...), one well-formed
 * MessagePack document whose strings are all UTF-8, an error document of the documented shape when the status
 * is not OK. last_error says whether the thread's last error must be this response's (not in a batch). */
void fz_check_response_mp(int rc, const unsigned char *out, size_t len, int last_error);
/* The same for kvorm_exec_json: a NUL-terminated, valid JSON document. */
void fz_check_response_json(int rc, const char *out, size_t len);

/* Reads every key of the namespace (SCAN) and checks the stored layout of docs/format.md: records hold known
 * fields in canonical encoding and every required field, each unique hash holds exactly the entries the records
 * produce (no two records share one), the ids sorted set holds exactly the records' ids with the right scores,
 * the counter is past every generated id. Then deletes those keys, so each input starts from an empty store. */
void fz_check_store_and_reset(void);

/* SCRIPT FLUSH on the server: the next write finds its script gone and must load it again. */
void fz_exec_flush_scripts(void);

#endif
