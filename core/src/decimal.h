/* Exact decimals as normalized text (docs/format.md): the canonical form compares equal exactly when the
 * numbers are equal. */
#ifndef KVORM_DECIMAL_H
#define KVORM_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_DECIMAL_MAX_DIGITS 1000
#define KV_DECIMAL_TEXT_MAX (KV_DECIMAL_MAX_DIGITS + 4)

/* Parses [+-]digits[.digits][e[+-]digits] and writes the normalized text to out (KV_DECIMAL_TEXT_MAX bytes,
 * NUL-terminated). Returns its length, or 0 if the text is not a decimal or needs more than 1000 digits. */
size_t kv_decimal_normalize(char *out, const char *s, size_t len);

/* a + b of two normalized decimals, written normalized to out (KV_DECIMAL_TEXT_MAX). Returns its length, or 0
 * when the result needs more than 1000 digits. */
size_t kv_decimal_add(char *out, const char *a, size_t alen, const char *b, size_t blen);

/* a / n rounded half to even at frac digits after the point, normalized (0 on overflow or n == 0). */
size_t kv_decimal_div(char *out, const char *a, size_t alen, uint64_t n, size_t frac);

/* a * b exactly, normalized (0 when the product needs more than 1000 digits). */
size_t kv_decimal_mul(char *out, const char *a, size_t alen, const char *b, size_t blen);

/* a / b rounded half to even at frac digits after the point (frac >= the digits after a's point), normalized;
 * 0 when b is zero or the quotient needs more than 1000 digits. */
size_t kv_decimal_quot(char *out, const char *a, size_t alen, const char *b, size_t blen, size_t frac);

/* The digits after the point of a normalized decimal. */
size_t kv_decimal_scale(const char *a, size_t alen);

#endif
