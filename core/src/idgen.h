/* Generated string ids that sort by creation time: ULID and UUIDv7, monotonic within the process. */
#ifndef KVORM_IDGEN_H
#define KVORM_IDGEN_H

#define KV_ULID_LEN 26
#define KV_UUID_LEN 36

/* Write the id text plus a NUL into out (at least 27 / 37 bytes). Return 0, or -1 if no randomness. */
int kv_ulid_new(char *out);
int kv_uuidv7_new(char *out);

#endif
