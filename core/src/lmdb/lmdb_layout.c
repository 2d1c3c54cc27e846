/* The stored layout of the LMDB engine (lmdb_internal.h): the key of everything, and record values. A record
 * value is one MessagePack map: "$v" -> the version (an int), then each field that is not null -> its canonical
 * stored value (docs/format.md) verbatim, in schema order. A reader finds each value's end with kv_mp_check; a
 * field the schema does not know is skipped, and kept by an update. */
#include "lmdb_internal.h"

#include "entries.h"
#include "mp.h"

#include <stdlib.h>
#include <string.h>

static int oom(kv_error *err)
{
    return kv_fail(err, KVORM_EINTERNAL, "out of memory");
}

static bool put(msgpack_sbuffer *out, const char *p, size_t n)
{
    return n == 0 || msgpack_sbuffer_write(out, p, n) == 0;
}

/* A name, then its NUL separator: the name's own terminator, in one write. */
static bool put_name(msgpack_sbuffer *out, const char *name)
{
    return put(out, name, strlen(name) + 1);
}

int kv_lmdb_meta_key(msgpack_sbuffer *out, const char *kind, const char *ns, const kv_model *m, kv_error *err)
{
    out->size = 0;
    bool ok = put_name(out, kind) && put_name(out, ns) && put(out, m->name, strlen(m->name));
    return ok ? 0 : oom(err);
}

int kv_lmdb_build_key_named(msgpack_sbuffer *out, const char *ns, const kv_model *m, char kind, const char *name,
                            kv_error *err)
{
    char k[2] = {kind, '\0'};
    out->size = 0;
    bool ok = put_name(out, "b") && put_name(out, ns) && put_name(out, m->name) && put_name(out, k) &&
              put(out, name, strlen(name));
    return ok ? 0 : oom(err);
}

int kv_lmdb_build_key(msgpack_sbuffer *out, const char *ns, const kv_model *m, int which, kv_error *err)
{
    if (which < m->nindexes)
        return kv_lmdb_build_key_named(out, ns, m, 'x', m->indexes[which].name, err);
    return kv_lmdb_build_key_named(out, ns, m, 'u', m->uniques[which - m->nindexes].name, err);
}

int kv_lmdb_prefix(msgpack_sbuffer *out, const char *ns, const kv_model *m, const char *name, kv_error *err)
{
    out->size = 0;
    bool ok = put_name(out, ns) && put_name(out, m->name) && (!name || put_name(out, name));
    return ok ? 0 : oom(err);
}

int kv_lmdb_record_key(msgpack_sbuffer *out, const char *ns, const kv_model *m, const char *id, size_t id_len,
                       kv_error *err)
{
    int rc = kv_lmdb_prefix(out, ns, m, NULL, err);
    return rc ? rc : kv_id_entry(out, m, id, id_len, err);
}

int kv_lmdb_entry_key(msgpack_sbuffer *out, const char *ns, const kv_model *m, const char *name, const char *data,
                      size_t len, kv_error *err)
{
    int rc = kv_lmdb_prefix(out, ns, m, name, err);
    return rc == 0 && !put(out, data, len) ? oom(err) : rc;
}

const char *kv_lmdb_ns(lmdb_engine *e, const kv_model *m, kv_error *err)
{
    if (!e->ns)
        kv_fail_at(err, KVORM_EINTERNAL, m->name, NULL, "%s: the LMDB engine has no schema yet", m->name);
    return e->ns;
}

/* ---- record values ---- */

/* The number of pairs of the map at data, and where they start; false when data does not start with a map. */
static bool map_header(const char *data, size_t len, size_t *n, size_t *off)
{
    const unsigned char *p = (const unsigned char *)data;
    if (len >= 1 && (p[0] & 0xf0) == 0x80) {
        *n = p[0] & 0x0f;
        *off = 1;
    } else if (len >= 3 && p[0] == 0xde) {
        *n = (size_t)p[1] << 8 | p[2];
        *off = 3;
    } else if (len >= 5 && p[0] == 0xdf) {
        *n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        *off = 5;
    } else {
        return false;
    }
    return true;
}

/* One pair of a record value at *off: its name and its value's bytes. */
typedef struct pair {
    const char *name, *val, *start; /* start: the pair's first byte */
    size_t name_len, vlen, size;
} pair;

static bool next_pair(const char *data, size_t len, size_t *off, pair *p)
{
    size_t kn, vn;
    if (*off >= len) /* a map that claims more pairs than its bytes hold */
        return false;
    unsigned char b = (unsigned char)data[*off];
    p->start = data + *off;
    if ((b & 0xe0) == 0xa0 && (size_t)(b & 0x1f) < len - *off) { /* a name is a short fixstr */
        p->name = data + *off + 1;
        p->name_len = b & 0x1f;
        kn = p->name_len + 1;
    } else if (kv_mp_check(data + *off, len - *off, &kn, 1) != KV_MP_OK ||
               !kv_mp_str_payload(data + *off, kn, &p->name, &p->name_len)) {
        return false;
    }
    *off += kn;
    if (kv_mp_check(data + *off, len - *off, &vn, KV_MAX_DEPTH) != KV_MP_OK)
        return false;
    p->val = data + *off;
    p->vlen = vn;
    *off += vn;
    p->size = (size_t)(data + *off - p->start);
    return true;
}

/* The int of a version ("$v"), as msgpack_pack_int64 writes it. */
static bool read_int(const char *s, size_t n, int64_t *out)
{
    const unsigned char *p = (const unsigned char *)s;
    uint64_t u = 0;
    if (n == 1 && (p[0] <= 0x7f || p[0] >= 0xe0)) {
        *out = (int8_t)p[0];
        return true;
    }
    if (n < 2 || n > 9)
        return false;
    for (size_t i = 1; i < n; i++)
        u = u << 8 | p[i];
    switch (p[0]) {
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        if (u > INT64_MAX)
            return false;
        *out = (int64_t)u;
        return true;
    case 0xd0: *out = (int8_t)u; return n == 2;
    case 0xd1: *out = (int16_t)u; return n == 3;
    case 0xd2: *out = (int32_t)u; return n == 5;
    case 0xd3: *out = (int64_t)u; return n == 9;
    default: return false;
    }
}

static bool is_version(const pair *p)
{
    return p->name_len == 2 && memcmp(p->name, "$v", 2) == 0;
}

int kv_lmdb_record_encode(msgpack_sbuffer *out, const kv_model *m, int64_t version, const char *const *values,
                          const size_t *lens, const char *keep, size_t keep_len, kv_error *err)
{
    msgpack_packer pk;
    size_t n = 1, nkeep = 0, off = 0;
    bool ok = true;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    for (int f = 0; f < m->nfields; f++)
        n += values[f] != NULL;
    if (keep && map_header(keep, keep_len, &nkeep, &off)) {
        /* the fields of the stored record that the schema does not know stay as they were */
        for (size_t i = 0; i < nkeep; i++) {
            pair p;
            if (!next_pair(keep, keep_len, &off, &p))
                break;
            n += !is_version(&p) && kv_model_field(m, p.name, p.name_len) < 0;
        }
    }
    ok = msgpack_pack_map(&pk, n) == 0 && msgpack_pack_str(&pk, 2) == 0 && msgpack_pack_str_body(&pk, "$v", 2) == 0 &&
         msgpack_pack_int64(&pk, version) == 0;
    for (int f = 0; ok && f < m->nfields; f++) {
        if (!values[f])
            continue;
        size_t nl = strlen(m->fields[f].name);
        ok = msgpack_pack_str(&pk, nl) == 0 && msgpack_pack_str_body(&pk, m->fields[f].name, nl) == 0 &&
             msgpack_sbuffer_write(out, values[f], lens[f]) == 0;
    }
    if (keep && map_header(keep, keep_len, &nkeep, &off)) {
        for (size_t i = 0; ok && i < nkeep; i++) {
            pair p;
            if (!next_pair(keep, keep_len, &off, &p))
                break;
            if (!is_version(&p) && kv_model_field(m, p.name, p.name_len) < 0)
                ok = msgpack_sbuffer_write(out, p.start, p.size) == 0;
        }
    }
    return ok ? 0 : oom(err);
}

int kv_lmdb_record_decode(const kv_model *m, const char *data, size_t len, const char **values, size_t *lens,
                          int64_t *version, kv_error *err)
{
    size_t n, off;
    bool ok = map_header(data, len, &n, &off), have_version = false;
    int guess = 0;
    memset(values, 0, sizeof(*values) * (size_t)m->nfields);
    memset(lens, 0, sizeof(*lens) * (size_t)m->nfields);
    for (size_t i = 0; ok && i < n; i++) {
        pair p;
        if (!(ok = next_pair(data, len, &off, &p)))
            break;
        if (is_version(&p)) {
            ok = read_int(p.val, p.vlen, version);
            have_version = true;
            continue;
        }
        /* values are stored in schema order: the next field is the likely one */
        const kv_field *g = guess < m->nfields ? &m->fields[guess] : NULL;
        int f = g && g->name_len == p.name_len && memcmp(g->name, p.name, p.name_len) == 0
                    ? guess
                    : kv_model_field(m, p.name, p.name_len);
        guess = f + 1;
        if (f >= 0) {
            values[f] = p.val;
            lens[f] = p.vlen;
        }
    }
    if (!ok || !have_version || off != len)
        return kv_fail_at(err, KVORM_EINTERNAL, m->name, NULL, "%s: a record stored in LMDB is unreadable", m->name);
    return 0;
}

int kv_lmdb_record_copy(kv_record *out, const kv_model *m, const char *id, size_t id_len, const char *data,
                        size_t len, kv_error *err)
{
    char *copy;
    memset(out, 0, sizeof(*out));
    out->id = id;
    out->id_len = id_len;
    /* one block: the arrays, the id and the stored bytes the values point into */
    if (!kv_record_alloc_with(out, m->nfields, len, &copy)) {
        out->id = NULL;
        return oom(err);
    }
    memcpy(copy, data, len);
    int rc = kv_lmdb_record_decode(m, copy, len, out->values, out->lens, &out->version, err);
    out->values_checked = true; /* decode found each value's end by checking it (next_pair) */
    if (rc != 0)
        kv_record_free(out);
    return rc;
}
