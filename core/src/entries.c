/* The index entries of a record (docs/format.md, "Index keys"): its parts' key elements, then the id's, made
 * with keycode.h for every engine alike. */
#include "entries.h"

#include "keycode.h"

int kv_index_entry(msgpack_sbuffer *out, const kv_model *m, const kv_index *x, const char *const *values,
                   const size_t *lens, const char *id, size_t id_len, kv_error *err)
{
    for (int i = 0; i < x->nparts; i++) {
        int f = x->parts[i].field;
        /* a cut value still sorts right; a query re-checks the record, so the flag is not needed here */
        int rc = kv_key_append_value(out, m->fields[f].type, values[f], values[f] ? lens[f] : 0, x->parts[i].desc,
                                     NULL, err);
        if (rc != 0)
            return rc;
    }
    return kv_key_append_id(out, m, id, id_len, err);
}

int kv_id_entry(msgpack_sbuffer *out, const kv_model *m, const char *id, size_t id_len, kv_error *err)
{
    return kv_key_append_id(out, m, id, id_len, err);
}

static bool names_field(const kv_index *x, int f)
{
    for (int i = 0; i < x->nparts; i++)
        if (x->parts[i].field == f)
            return true;
    return false;
}

bool kv_index_touched(const kv_index *x, const kv_write *w)
{
    /* a create adds every entry and a delete removes every one; an update moves those of the fields it changes */
    if (w->op == KV_WRITE_CREATE || w->op == KV_WRITE_DELETE)
        return true;
    for (int i = 0; i < w->nset; i++)
        if (names_field(x, w->set[i].field))
            return true;
    for (int i = 0; i < w->nunset; i++)
        if (names_field(x, w->unset[i]))
            return true;
    for (int i = 0; i < w->nops; i++)
        if (names_field(x, w->ops[i].field))
            return true;
    return false;
}

bool kv_unique_touched(const kv_unique *u, const kv_write *w)
{
    if (w->op == KV_WRITE_DELETE)
        return true;
    for (int k = 0; k < u->nfields; k++) {
        for (int i = 0; i < w->nset; i++)
            if (w->set[i].field == u->fields[k])
                return true;
        for (int i = 0; i < w->nunset; i++)
            if (w->unset[i] == u->fields[k])
                return true;
    }
    return false;
}

bool kv_unique_key(msgpack_sbuffer *out, const kv_unique *u, const char *const *values, const size_t *lens)
{
    for (int i = 0; i < u->nfields; i++)
        if (!values[u->fields[i]])
            return false;
    for (int i = 0; i < u->nfields; i++)
        msgpack_sbuffer_write(out, values[u->fields[i]], lens[u->fields[i]]);
    return true;
}
