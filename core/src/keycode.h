/* The order-preserving key encoding of index entries (docs/format.md, "Index keys"; vectors in
 * tests/vectors/keys.json): memcmp order of the encoded bytes is the order of the values. Every element is
 * self-delimiting, so a key is its elements end to end: the index's field values, then the id. A descending part
 * is the complement of every byte of its element. */
#ifndef KVORM_KEYCODE_H
#define KVORM_KEYCODE_H

#include "schema.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

/* Longest content of a string, bytes or decimal element before it is cut (the element then ends with the
 * "truncated" terminator, and a query re-checks the record): keeps an index key of a few fields within LMDB's
 * 511-byte key limit. The cut is at exactly this many content bytes (digits for a decimal), even inside a UTF-8
 * code point: a cut at any shorter, value-dependent point would put the key of a long value before that of a
 * shorter exact value that it follows. Key order is then the value order, except that values sharing their first
 * KV_KEY_CONTENT_MAX bytes share one key (ordered by id after it). An element is at most 1 + 2 * 128 + 2 bytes
 * (every content byte a NUL); a string id element up to 1 + 2 * KV_MAX_ID_BYTES + 2. */
#define KV_KEY_CONTENT_MAX 128

/* Element type codes (ascending form; a descending element starts with the complement, 0xff - code). */
enum {
    KV_KEY_NULL = 0x05,
    KV_KEY_FALSE = 0x10,
    KV_KEY_TRUE = 0x11,
    KV_KEY_INT = 0x20,    /* 8 bytes big-endian, sign bit flipped */
    KV_KEY_FLOAT = 0x21,  /* 8 bytes: IEEE bits, sign flipped (positive) or all complemented (negative); -0 is 0 */
    KV_KEY_TIME = 0x30,   /* 8 bytes seconds (sign flipped) + 4 bytes nanoseconds, big-endian */
    KV_KEY_DEC_NEG = 0x40, /* complement of (exponent, digits, terminator) */
    KV_KEY_DEC_ZERO = 0x41,
    KV_KEY_DEC_POS = 0x42, /* 4-byte exponent (sign flipped), ASCII digits, terminator */
    KV_KEY_STRING = 0x50, /* bytes with 0x00 -> 0x00 0xff, then 0x00 0x00 (or 0x00 0xfe when cut) */
    KV_KEY_BYTES = 0x51
};

/* Appends the element of one stored field value (canonical MessagePack of a field of type t; NULL for null) to
 * out. *truncated (may be NULL) is set when the content was cut. Returns 0, or KVORM_EINTERNAL when stored is not
 * a well-formed value of type t (err says so). json fields cannot be indexed. */
int kv_key_append_value(msgpack_sbuffer *out, kv_type t, const char *stored, size_t len, bool desc, bool *truncated,
                        kv_error *err);

/* Appends the element of an id given as its key text (docs/format.md): an integer element for integer ids, a
 * string element (never cut) otherwise. Returns 0, or KVORM_EINTERNAL when an integer id's text is not canonical
 * int64 text ("-12", "0": no '+', no leading zero, no "-0") or a string id is not UTF-8 of at most
 * KV_MAX_ID_BYTES bytes. */
int kv_key_append_id(msgpack_sbuffer *out, const kv_model *m, const char *id, size_t id_len, kv_error *err);

/* An integer id's text: its canonical decimal form (no sign for >= 0, no leading zero) to and from int64.
 * kv_int_id_text writes at most 20 characters and a NUL, and returns the length. */
bool kv_int_id_parse(const char *s, size_t n, int64_t *out);
size_t kv_int_id_text(char *out, int64_t v);

/* Appends the unterminated start of a string element holding stored's text (a canonical str): the keys of values
 * that start with that text are exactly those starting with these bytes (ascending only; complement them for a
 * descending part). A text longer than KV_KEY_CONTENT_MAX is cut like a value, so the keys starting with these
 * bytes are then a superset, and the query re-checks. Returns 0, or KVORM_EINTERNAL when stored is not a str. */
int kv_key_append_string_prefix(msgpack_sbuffer *out, const char *stored, size_t len, kv_error *err);

/* The size of the element at p (ascending or descending), or 0 when p does not start with a well-formed one
 * (within len bytes: a datetime out of range, a decimal with a leading or, uncut, a trailing zero digit, a bad
 * escape, a cut element whose content is not exactly KV_KEY_CONTENT_MAX, an uncut string longer than
 * KV_MAX_ID_BYTES or bytes longer than KV_KEY_CONTENT_MAX...). *truncated (may be NULL) tells whether it is a cut
 * string, bytes or decimal element. */
size_t kv_key_skip(const char *p, size_t len, bool *truncated);

/* Finds the id element of an index key of nparts value elements (or of an id-collection key, nparts 0) and
 * writes its id text, NUL-terminated: text holds KV_MAX_ID_BYTES + 1 bytes (or, exactly, the key's length for a
 * string id and 21 bytes for an integer one). The id element must be ascending, an
 * integer or an uncut UTF-8 string, and end the key. Returns 0, or KVORM_EINTERNAL when key is malformed. */
int kv_key_id(char *text, size_t *text_len, const char *key, size_t len, int nparts, kv_error *err);

/* The smallest key greater than every key that starts with prefix (for a range "starts with prefix"), written to
 * out (prefix_len bytes at most): *out_len 0 means there is none (the prefix is all 0xff). */
void kv_key_prefix_end(char *out, size_t *out_len, const char *prefix, size_t prefix_len);

#endif
