/* lmdb:// URLs: lmdb:///absolute/dir or lmdb://relative/dir, then ?mapsize=bytes&maxmapsize=bytes&
 * sync=full|nosync|nometasync&readonly=1&maxreaders=n. The path and values may be percent-encoded. */
#include "lmdb_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KNOWN "mapsize, maxmapsize, sync, readonly, maxreaders"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes s (n bytes) into a new string; NULL when malformed (a bad escape, a NUL) or out of memory. */
static char *decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

static bool parse_size(const char *s, size_t n, unsigned long long min, unsigned long long max,
                       unsigned long long *out)
{
    unsigned long long v = 0;
    if (n == 0 || n > 20)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v < min)
        return false;
    *out = v;
    return true;
}

static int bad(kv_error *err, const char *why)
{
    return kv_fail(err, KVORM_EMISUSE, "invalid URL: %s", why);
}

static int parse_query(lm_config *cfg, const char *q, kv_error *err)
{
    while (q && *q) {
        const char *amp = strchr(q, '&'), *end = amp ? amp : q + strlen(q);
        const char *eq = memchr(q, '=', (size_t)(end - q));
        if (!eq)
            return bad(err, "a query parameter has no '='");
        size_t klen = (size_t)(eq - q), vlen = (size_t)(end - eq - 1);
        const char *v = eq + 1;
        unsigned long long n = 0;
#define KEY_IS(k) (klen == strlen(k) && memcmp(q, k, klen) == 0)
#define VAL_IS(s) (vlen == strlen(s) && memcmp(v, s, vlen) == 0)
        if (KEY_IS("mapsize")) {
            if (!parse_size(v, vlen, KV_LMDB_MIN_MAPSIZE, SIZE_MAX / 2, &n))
                return bad(err, "mapsize must be a number of bytes, at least 65536");
            cfg->mapsize = (size_t)n;
        } else if (KEY_IS("maxmapsize")) {
            if (!parse_size(v, vlen, KV_LMDB_MIN_MAPSIZE, SIZE_MAX / 2, &n))
                return bad(err, "maxmapsize must be a number of bytes, at least 65536");
            cfg->max_mapsize = (size_t)n;
        } else if (KEY_IS("sync")) {
            if (VAL_IS("full"))
                cfg->sync = LM_SYNC_FULL;
            else if (VAL_IS("nosync"))
                cfg->sync = LM_SYNC_NOSYNC;
            else if (VAL_IS("nometasync"))
                cfg->sync = LM_SYNC_NOMETASYNC;
            else
                return bad(err, "sync must be full, nosync or nometasync");
        } else if (KEY_IS("readonly")) {
            if (VAL_IS("1") || VAL_IS("true"))
                cfg->readonly = true;
            else if (VAL_IS("0") || VAL_IS("false"))
                cfg->readonly = false;
            else
                return bad(err, "readonly must be 1 or 0");
        } else if (KEY_IS("maxreaders")) {
            if (!parse_size(v, vlen, 1, 1u << 20, &n))
                return bad(err, "maxreaders must be 1 to 1048576");
            cfg->maxreaders = (unsigned)n;
        } else {
            char name[96];
            kv_quote(name, sizeof(name), q, klen);
            return kv_fail(err, KVORM_EMISUSE, "invalid URL: unknown parameter %s (" KNOWN ")", name);
        }
#undef KEY_IS
#undef VAL_IS
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* The map's bounds once the URL (or the options) are read: maxmapsize defaults to at least mapsize. */
static int settle_map(lm_config *cfg, bool max_given, kv_error *err)
{
    if (!max_given)
        cfg->max_mapsize = cfg->mapsize > KV_LMDB_DEFAULT_MAX_MAPSIZE ? cfg->mapsize : KV_LMDB_DEFAULT_MAX_MAPSIZE;
    if (cfg->max_mapsize < cfg->mapsize)
        return kv_fail(err, KVORM_EMISUSE, "invalid URL or options: maxmapsize (max_map_size) must not be below "
                       "mapsize (map_size)");
    return 0;
}

int kv_lmdb_apply_options(lm_config *cfg, const kvorm_open_options *o, kv_error *err)
{
    if (o->map_size && (o->map_size < KV_LMDB_MIN_MAPSIZE || o->map_size > SIZE_MAX / 2))
        return kv_fail(err, KVORM_EMISUSE, "invalid options: map_size must be a number of bytes, at least 65536");
    if (o->max_map_size && (o->max_map_size < KV_LMDB_MIN_MAPSIZE || o->max_map_size > SIZE_MAX / 2))
        return kv_fail(err, KVORM_EMISUSE, "invalid options: max_map_size must be a number of bytes, at least 65536");
    if (o->sync < KVORM_SYNC_DEFAULT || o->sync > KVORM_SYNC_NOMETASYNC)
        return kv_fail(err, KVORM_EMISUSE, "invalid options: sync must be a KVORM_SYNC_* value, not %d", o->sync);
    if (o->max_readers < 0 || o->max_readers > 1 << 20)
        return kv_fail(err, KVORM_EMISUSE, "invalid options: max_readers must be 1 to 1048576, not %d", o->max_readers);
    if (!o->map_size && !o->max_map_size && !o->sync && !o->read_only && !o->max_readers)
        return 0;
    bool max_given = cfg->max_given || o->max_map_size;
    if (o->map_size)
        cfg->mapsize = (size_t)o->map_size;
    if (o->max_map_size)
        cfg->max_mapsize = (size_t)o->max_map_size;
    if (o->sync)
        cfg->sync = o->sync == KVORM_SYNC_FULL ? LM_SYNC_FULL : o->sync == KVORM_SYNC_NOSYNC ? LM_SYNC_NOSYNC
                                                                                              : LM_SYNC_NOMETASYNC;
    if (o->read_only)
        cfg->readonly = true;
    if (o->max_readers)
        cfg->maxreaders = (unsigned)o->max_readers;
    return settle_map(cfg, max_given, err);
}

int kv_lmdb_parse_url(lm_config *cfg, const char *url, kv_error *err)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mapsize = KV_LMDB_DEFAULT_MAPSIZE;
    if (strncmp(url, "lmdb://", 7) != 0)
        return bad(err, "the scheme must be lmdb://");
    const char *rest = url + 7, *query = strchr(rest, '?');
    size_t n = query ? (size_t)(query - rest) : strlen(rest);
    if (n == 0)
        return bad(err, "lmdb:// needs a directory, as lmdb:///var/lib/app or lmdb://data/app");
    if (!(cfg->path = decode(rest, n)))
        return bad(err, "the directory of an lmdb:// URL has a bad percent escape");
    int rc = parse_query(cfg, query ? query + 1 : NULL, err);
    cfg->max_given = cfg->max_mapsize != 0;
    if (rc == 0)
        rc = settle_map(cfg, cfg->max_given, err);
    if (rc != 0)
        kv_lmdb_config_free(cfg);
    return rc;
}

void kv_lmdb_config_free(lm_config *cfg)
{
    free(cfg->path);
    cfg->path = NULL;
}
