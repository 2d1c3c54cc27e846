/* Atomic number operations of an update (docs/queries.md, "Atomic number operations"): increment, decrement,
 * multiply and divide of an integer, float or decimal field, applied by the engine to the value it finds in the
 * store inside the write's atomic step, so that concurrent writers need no read and never conflict. */
#ifndef KVORM_NUMBER_OPS_H
#define KVORM_NUMBER_OPS_H

#include "engine.h"

#include <msgpack.h>

/* The fewest digits after the point a decimal divide keeps (more when the stored value has more). */
#define KV_DECIMAL_DIVIDE_DIGITS 28

/* The name of an op kind as the protocol spells it ("increment", ...). */
const char *kv_number_op_name(kv_number_op_kind k);
/* The kind the protocol name n (len bytes) spells; false when it is none. */
bool kv_number_op_parse(const char *n, size_t len, kv_number_op_kind *k);

/* Appends to out the canonical value of field f (integer, float or decimal) after op applied to cur, its stored
 * canonical value. An int64 overflow, a float result that is not finite, a division by zero or a decimal of more
 * than 1000 digits is VALIDATION naming the model, field and values; nothing is appended then. */
int kv_number_op_apply(msgpack_sbuffer *out, const kv_model *m, const kv_field *f, const char *cur, size_t cur_len,
                       const kv_field_op *op, kv_error *err);

/* Applies the ops of write w to the values vals/lens (those the record will have, indexed by field): each op's
 * field whose value is not null gets its result, written to buf (which must outlive vals). A null stays null. */
int kv_number_ops_apply_all(const kv_write *w, const char **vals, size_t *lens, msgpack_sbuffer *buf, kv_error *err);

#endif
