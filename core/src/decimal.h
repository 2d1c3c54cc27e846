/* Exact decimals as normalized text (docs/format.md): the canonical form compares equal exactly when the
 * numbers are equal. */
#ifndef KVORM_DECIMAL_H
#define KVORM_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>

#define KV_DECIMAL_MAX_DIGITS 1000
#define KV_DECIMAL_TEXT_MAX (KV_DECIMAL_MAX_DIGITS + 4)

/* Parses [+-]digits[.digits][e[+-]digits] and writes the normalized text to out (KV_DECIMAL_TEXT_MAX bytes,
 * NUL-terminated). Returns its length, or 0 if the text is not a decimal or needs more than 1000 digits. */
size_t kv_decimal_normalize(char *out, const char *s, size_t len);

#endif
