/* The values the writes of one all-or-nothing chunk claim (the id, each unique constraint's key), so that two
 * writes of the chunk that would take the same one are found before anything is sent: the store checks each
 * write against what it holds, not against the other writes of the chunk. */
#ifndef KVORM_CLAIMS_H
#define KVORM_CLAIMS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct kv_claim {
    int which;      /* 0: the id; else unique constraint which - 1 */
    size_t off, len; /* the key, in the arena */
    size_t owner;   /* the write that claimed it */
} kv_claim;

typedef struct kv_claims {
    kv_claim *slots; /* open addressing; len SIZE_MAX = empty */
    size_t nslots, n;
    char *arena;
    size_t size, cap;
} kv_claims;

void kv_claims_init(kv_claims *c);
void kv_claims_clear(kv_claims *c);
void kv_claims_free(kv_claims *c);
/* The claim on (which, key), or NULL. */
const kv_claim *kv_claims_find(const kv_claims *c, int which, const char *key, size_t len);
/* Claims (which, key) for owner; false when out of memory. */
bool kv_claims_add(kv_claims *c, int which, const char *key, size_t len, size_t owner);
/* The bytes of a claim's key. */
const char *kv_claim_key(const kv_claims *c, const kv_claim *k);

#endif
