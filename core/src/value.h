/* Field values: validation and canonical encoding on the way in, checked emission on the way out. */
#ifndef KVORM_VALUE_H
#define KVORM_VALUE_H

#include "datetime.h"
#include "schema.h"

#define KV_MAX_VALUE_BYTES (16u << 20)
#define KV_MAX_ID_BYTES 512

/* How values look in the caller's documents: MessagePack (timestamps and bin) or JSON text (RFC 3339
 * strings and base64). */
typedef enum kv_mode { KV_MODE_MSGPACK = 0, KV_MODE_JSON = 1 } kv_mode;

/* Validates v (not nil) for field f and appends its canonical encoding to out. */
int kv_value_encode(msgpack_sbuffer *out, const kv_model *m, const kv_field *f, const msgpack_object *v,
                    kv_mode mode, kv_error *err);

/* Validates an id value and writes its key text
 * (docs/format.md): the UTF-8 of a string id, the decimal text of an integer id. text holds
 * KV_MAX_ID_BYTES + 1 bytes. */
int kv_id_encode(char *text, size_t *text_len, const kv_model *m, const msgpack_object *v, kv_error *err);

/* Appends a stored value to a response after checking it is one well-formed object of the field's type.
 * The response is MessagePack in both modes: the JSON bridge turns timestamps and bin into text. */
int kv_value_emit(msgpack_packer *pk, const kv_model *m, const kv_field *f, const char *stored, size_t len,
                  kv_error *err);
/* Whether a stored value (one well-formed object) is of the field's type, by its first bytes. */
bool kv_value_type_ok(const kv_field *f, const char *stored, size_t len);
/* The same for a value already known to be one well-formed object (kv_record.values_checked): its type is
 * still checked. */
int kv_value_emit_checked(msgpack_packer *pk, const kv_model *m, const kv_field *f, const char *stored, size_t len,
                          kv_error *err);
/* Appends an id given as key text: a str, or an int for integer ids. */
int kv_id_emit(msgpack_packer *pk, const kv_model *m, const char *text, size_t len, kv_error *err);

/* Describes one stored or request value for an error message: its type and, for scalars, the value. */
void kv_value_describe(char *buf, size_t cap, const char *stored, size_t len);

/* Appends the canonical timestamp extension for t. */
void kv_pack_time(msgpack_packer *pk, kv_time t);

#endif
