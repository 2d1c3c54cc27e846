/* Generated string ids that sort by creation time: ULID and UUIDv7, monotonic within the process. */
#ifndef KVORM_IDGEN_H
#define KVORM_IDGEN_H

#include <stdint.h>

#define KV_ULID_LEN 26
#define KV_UUID_LEN 36

/* Write the id text plus a NUL into out (at least 27 / 37 bytes). Return 0, or -1 if no randomness. */
int kv_ulid_new(char *out);
int kv_uuidv7_new(char *out);

/* For tests only: not in kvorm.h and, like every kv_ function, hidden from the shared library. From now on the
 * ids read their time (milliseconds since the Unix epoch) from now_ms instead of the real clock; NULL restores
 * the real clock. Either way both sequences restart, as in a forked child, so that the next id carries the new
 * clock's time instead of counting up from an id made under the other clock. */
void kv_idgen_set_clock_for_testing(uint64_t (*now_ms)(void));

#endif
