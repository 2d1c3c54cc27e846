/* The engine registry (which engine serves a URL's scheme) and the small types every engine shares: the keys
 * a scan returns and the records a step holds. */
#include "engine.h"

#include "lmdb/lmdb_engine.h"
#include "redis_engine.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const kv_engine_entry *const engines[] = {&kv_redis_engine_entry, &kv_lmdb_engine_entry};
#define NENGINES (sizeof(engines) / sizeof(engines[0]))

/* Whether url starts with "<scheme>://". */
static bool has_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}

size_t kv_open_options_size(unsigned version)
{
    switch (version) {
    case 1:
        return offsetof(kvorm_open_options, refuse_scans);
    case 2:
        return offsetof(kvorm_open_options, map_size);
    default:
        return sizeof(kvorm_open_options);
    }
}

/* The name of the first embedded store's option that opts sets, or NULL. */
static const char *embedded_option_set(const kvorm_open_options *o)
{
    return o->map_size ? "map_size" : o->max_map_size ? "max_map_size" : o->sync ? "sync"
         : o->read_only ? "read_only" : o->max_readers ? "max_readers" : NULL;
}

static int open_entry(const kv_engine_entry *entry, kv_engine **out, const char *url, const kvorm_open_options *opts,
                      kv_error *err)
{
    kvorm_open_options full; /* engines read every field of the current version */
    const char *embedded;
    memset(&full, 0, sizeof(full));
    if (opts)
        memcpy(&full, opts, kv_open_options_size(opts->version));
    full.version = KVORM_OPEN_OPTIONS_VERSION;
    if (!entry->embedded_options && (embedded = embedded_option_set(&full)) != NULL)
        return kv_fail(err, KVORM_EMISUSE,
                       "invalid options: %s is an option of the embedded store (lmdb://), not of %.*s://", embedded,
                       (int)strcspn(url, ":"), url);
    return entry->open(out, url, &full, err);
}

int kv_engine_open(kv_engine **out, const char *url, const kvorm_open_options *opts, kv_error *err)
{
    char known[256];
    size_t o = 0;
    *out = NULL;
    for (size_t i = 0; i < NENGINES; i++)
        for (const char *const *s = engines[i]->schemes; *s; s++)
            if (has_scheme(url, *s))
                return open_entry(engines[i], out, url, opts, err);
    known[0] = '\0';
    for (size_t i = 0; i < NENGINES; i++)
        for (const char *const *s = engines[i]->schemes; *s && o < sizeof(known); s++)
            o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s://", o ? ", " : "", *s);
    /* a wrong URL is the caller's mistake, as every other malformed URL (docs/c-api.md) */
    return kv_fail(err, KVORM_EMISUSE, "invalid URL: the scheme must be one of %s", known);
}

/* ---- keys of a scan ---- */

void kv_keys_clear(kv_keys *k)
{
    k->n = 0;
    k->size = 0;
}

void kv_keys_free(kv_keys *k)
{
    free(k->data);
    free(k->off);
    free(k->len);
    memset(k, 0, sizeof(*k));
}

bool kv_keys_add(kv_keys *k, const char *data, size_t len)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        size_t *off = realloc(k->off, sizeof(*off) * cap);
        if (off)
            k->off = off;
        size_t *lens = realloc(k->len, sizeof(*lens) * cap);
        if (lens)
            k->len = lens;
        if (!off || !lens)
            return false;
        k->cap = cap;
    }
    if (k->size + len > k->data_cap || !k->data) {
        size_t cap = k->data_cap ? k->data_cap : 4096;
        while (cap < k->size + len)
            cap *= 2;
        char *d = realloc(k->data, cap);
        if (!d)
            return false;
        k->data = d;
        k->data_cap = cap;
    }
    if (len)
        memcpy(k->data + k->size, data, len);
    k->off[k->n] = k->size;
    k->len[k->n++] = len;
    k->size += len;
    return true;
}

/* ---- steps ---- */

size_t kv_steps_group_end(kv_step *const *steps, size_t n, size_t i, size_t max_steps, size_t max_writes,
                          bool *writes)
{
    size_t j = i, nw = 0;
    *writes = false;
    while (j < n && j - i < max_steps) {
        if (steps[j]->write) {
            if (nw == max_writes)
                break;
            nw++;
            *writes = true;
        }
        j++;
    }
    return j;
}

/* ---- records ---- */

bool kv_record_alloc(kv_record *r, int nfields)
{
    return kv_record_alloc_with(r, nfields, 0, NULL);
}

bool kv_record_alloc_with(kv_record *r, int nfields, size_t extra, char **room)
{
    size_t n = (size_t)nfields + 1, arrays = n * (sizeof(*r->values) + sizeof(*r->lens));
    size_t id_room = r->id ? r->id_len + 1 : 0;
    /* the lens after the values (a pointer's alignment suits a size_t), then the id's text, then the extra */
    char *block = malloc(arrays + id_room + extra);
    if (!block)
        return false;
    if (room)
        *room = block + arrays + id_room;
    memset(block, 0, arrays);
    r->values = (const char **)(void *)block;
    r->lens = (size_t *)(void *)(block + n * sizeof(*r->values));
    r->one_block = true;
    if (r->id) {
        char *id = block + arrays;
        memcpy(id, r->id, r->id_len);
        id[r->id_len] = '\0';
        r->id = id;
        r->id_in_block = true;
    }
    return true;
}

void kv_record_free(kv_record *r)
{
    if (!r)
        return;
    free(r->values);
    if (!r->one_block)
        free(r->lens);
    if (r->release && r->owner)
        r->release(r->owner);
    free(r->id_copy);
    memset(r, 0, sizeof(*r));
}
