#include "claims.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EMPTY SIZE_MAX

void kv_claims_init(kv_claims *c) { memset(c, 0, sizeof(*c)); }

void kv_claims_clear(kv_claims *c)
{
    for (size_t i = 0; i < c->nslots; i++)
        c->slots[i].len = EMPTY;
    c->n = 0;
    c->size = 0;
}

void kv_claims_free(kv_claims *c)
{
    free(c->slots);
    free(c->arena);
    kv_claims_init(c);
}

/* FNV-1a over the constraint's number and the key. */
static size_t hash(int which, const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(unsigned)which;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

const char *kv_claim_key(const kv_claims *c, const kv_claim *k) { return c->arena + k->off; }

static kv_claim *slot_of(const kv_claims *c, int which, const char *key, size_t len)
{
    size_t mask = c->nslots - 1;
    for (size_t i = hash(which, key, len) & mask;; i = (i + 1) & mask) {
        kv_claim *s = &c->slots[i];
        if (s->len == EMPTY ||
            (s->which == which && s->len == len && (len == 0 || memcmp(c->arena + s->off, key, len) == 0)))
            return s;
    }
}

const kv_claim *kv_claims_find(const kv_claims *c, int which, const char *key, size_t len)
{
    if (c->nslots == 0)
        return NULL;
    const kv_claim *s = slot_of(c, which, key, len);
    return s->len == EMPTY ? NULL : s;
}

/* Doubles the table, keeping it at most half full. */
static bool grow(kv_claims *c)
{
    size_t n = c->nslots ? 2 * c->nslots : 64;
    kv_claim *old = c->slots, *fresh = malloc(n * sizeof(*fresh));
    size_t nold = c->nslots;
    if (!fresh)
        return false;
    for (size_t i = 0; i < n; i++)
        fresh[i].len = EMPTY;
    c->slots = fresh;
    c->nslots = n;
    for (size_t i = 0; i < nold; i++)
        if (old[i].len != EMPTY)
            *slot_of(c, old[i].which, c->arena + old[i].off, old[i].len) = old[i];
    free(old);
    return true;
}

bool kv_claims_add(kv_claims *c, int which, const char *key, size_t len, size_t owner)
{
    if ((c->n + 1) * 2 > c->nslots && !grow(c))
        return false;
    if (c->size + len > c->cap) {
        size_t cap = c->cap ? c->cap : 1024;
        while (cap < c->size + len)
            cap *= 2;
        char *a = realloc(c->arena, cap);
        if (!a)
            return false;
        c->arena = a;
        c->cap = cap;
    }
    kv_claim *s = slot_of(c, which, key, len);
    if (len)
        memcpy(c->arena + c->size, key, len);
    *s = (kv_claim){.which = which, .off = c->size, .len = len, .owner = owner};
    c->size += len;
    c->n++;
    return true;
}
