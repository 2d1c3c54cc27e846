/* Value order (docs/queries.md): the order index keys encode (keycode.h), computed on canonical values. */
#ifndef KVORM_COMPARE_H
#define KVORM_COMPARE_H

#include "schema.h"

#include <stddef.h>

/* Compares two stored values of type t (canonical MessagePack, neither null): <0, 0, >0. Numbers numerically
 * (decimals exactly), strings, enums and bytes by their bytes, datetimes by time, false < true, -0.0 == 0.0.
 * json values compare equal only when their bytes are equal (0), else by bytes (used for equality only). */
int kv_value_cmp(kv_type t, const char *a, size_t alen, const char *b, size_t blen);

/* Compares two ids given as key text: integer ids numerically, string ids by bytes. */
int kv_id_cmp(const kv_model *m, const char *a, size_t alen, const char *b, size_t blen);

#endif
