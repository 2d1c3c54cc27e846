/* MessagePack helpers over msgpack-c: a safe structural check before unpacking, lookups, packing shortcuts. */
#ifndef KVORM_MP_H
#define KVORM_MP_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#define KV_MAX_DEPTH 32                      /* msgpack-c's own unpacker stack depth */
#define KV_MAX_REQUEST_BYTES (64u << 20)

/* The private extension type the JSON bridge gives a number that MessagePack cannot hold (an integer beyond
 * uint64 or below int64, a real beyond float64): its payload is the number's JSON text, which the value encoder
 * rejects with a precise message (or, for a decimal field, takes as decimal text). JSON requests only. */
#define KV_EXT_BIG_NUMBER 100

/* The extension type of a decimal in a response (and, optionally, a request): its payload is the normalized
 * decimal text (docs/queries.md, "Values in responses"), so a binding tells a decimal from a string by type. */
#define KV_EXT_DECIMAL 1

typedef enum { KV_MP_OK = 0, KV_MP_TRUNCATED = -1, KV_MP_INVALID = -2, KV_MP_TOO_DEEP = -3 } kv_mp_check_result;

/* Walks one MessagePack object at data without allocating: every length must fit in the bytes left and
 * nesting must stay within max_depth. On KV_MP_OK *consumed is the object's size. Run before msgpack_unpack so
 * that a forged header (an array claiming 2^32 elements) cannot make it allocate gigabytes. */
kv_mp_check_result kv_mp_check(const char *data, size_t len, size_t *consumed, int max_depth);

/* Checks and unpacks exactly one object filling all of data. Returns a kv_mp_check_result. */
kv_mp_check_result kv_mp_unpack(msgpack_zone *zone, const char *data, size_t len, msgpack_object *out);

/* A zone for unpacking (KV_MP_ZONE_CHUNK bytes a chunk), and its return when done with: each thread keeps one
 * between calls, which saves a request the malloc and free of its zone. kv_mp_zone_take returns NULL when out
 * of memory; kv_mp_zone_give accepts NULL. */
#define KV_MP_ZONE_CHUNK 4096
msgpack_zone *kv_mp_zone_take(void);
void kv_mp_zone_give(msgpack_zone *zone);

/* Buffers kept per thread between calls, for the keys and values a call builds and drops: taking one skips the
 * malloc and free of a new sbuffer's first MSGPACK_SBUFFER_INIT_SIZE bytes. kv_mp_buffer_take starts sb empty
 * (with a kept buffer when there is one); kv_mp_buffer_give keeps sb's buffer if it is still of that size (it
 * frees it otherwise) and leaves sb empty. A buffer taken may be given or destroyed. */
void kv_mp_buffer_take(msgpack_sbuffer *sb);
void kv_mp_buffer_give(msgpack_sbuffer *sb);

const msgpack_object *kv_mp_map_get(const msgpack_object *map, const char *key);
/* The first key of map that is not one of allowed (NULL-terminated), or NULL when all are known. */
const msgpack_object *kv_mp_unknown_key(const msgpack_object *map, const char *const *allowed);
bool kv_mp_str_eq(const msgpack_object *o, const char *s);
const char *kv_mp_type_name(const msgpack_object *o);

bool kv_utf8_valid(const char *s, size_t len);
/* The length (1 to 4) of the valid UTF-8 sequence that starts s, or 0 when s does not start with one. */
size_t kv_utf8_seq(const char *s, size_t len);

void kv_pack_cstr(msgpack_packer *pk, const char *s);
void kv_pack_strn(msgpack_packer *pk, const char *s, size_t len);
/* The payload of one well-formed packed str (any header width) filling all of data; false when it is not one. */
bool kv_mp_str_payload(const char *data, size_t len, const char **text, size_t *text_len);
/* Packs decimal text as the KV_EXT_DECIMAL extension. */
void kv_pack_decimal(msgpack_packer *pk, const char *text, size_t len);

#endif
