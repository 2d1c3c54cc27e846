/* kv_decimal_normalize (core/src/decimal.h). Input: the decimal text.
 * Oracles: the output is canonical (docs/format.md) and normalizes to itself; it has the value of the input
 * (strtod of both gives the same double); the negation normalizes to "-" + output. */
#include "fuzz_common.h"

#include "decimal.h"

#include <stdlib.h>
#include <string.h>

/* -?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?, not -0, at most KV_DECIMAL_MAX_DIGITS digits */
static void check_canonical(const char *t, size_t n)
{
    size_t i = 0, digits = 0;
    FZ_CHECK(n > 0 && strlen(t) == n, "length %zu, strlen %zu", n, strlen(t));
    if (t[0] == '-') {
        FZ_CHECK(strcmp(t, "-0") != 0, "negative zero");
        i++;
    }
    FZ_CHECK(i < n && t[i] >= '0' && t[i] <= '9', "no integer part: %s", t);
    FZ_CHECK(!(t[i] == '0' && i + 1 < n && t[i + 1] != '.'), "leading zero: %s", t);
    for (; i < n && t[i] >= '0' && t[i] <= '9'; i++)
        digits++;
    if (i < n) {
        FZ_CHECK(t[i] == '.' && i + 1 < n, "bad character or empty fraction: %s", t);
        for (i++; i < n; i++) {
            FZ_CHECK(t[i] >= '0' && t[i] <= '9', "bad fraction: %s", t);
            digits++;
        }
        FZ_CHECK(t[n - 1] != '0', "trailing fractional zero: %s", t);
    }
    FZ_CHECK(digits <= KV_DECIMAL_MAX_DIGITS, "%zu digits", digits);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[KV_DECIMAL_TEXT_MAX], again[KV_DECIMAL_TEXT_MAX], neg[KV_DECIMAL_TEXT_MAX + 1];
    /* exact-size copy: a read past the input is an ASan report */
    char *in = malloc(size ? size : 1);
    if (size)
        memcpy(in, data, size);
    size_t n = kv_decimal_normalize(out, in, size);
    if (n == 0) {
        free(in);
        return 0;
    }
    check_canonical(out, n);

    size_t m = kv_decimal_normalize(again, out, n);
    FZ_CHECK(m == n && memcmp(again, out, n) == 0, "not idempotent: %s -> %s", out, again);

    if (strcmp(out, "0") != 0) {
        size_t k;
        if (out[0] == '-') {
            k = kv_decimal_normalize(neg, out + 1, n - 1);
            FZ_CHECK(k == n - 1 && memcmp(neg, out + 1, k) == 0, "|%s| normalizes to %s", out, neg);
        } else {
            neg[0] = '-';
            memcpy(neg + 1, out, n + 1);
            k = kv_decimal_normalize(again, neg, n + 1);
            FZ_CHECK(k == n + 1 && memcmp(again, neg, k) == 0, "-(%s) normalizes to %s", out, again);
        }
    }

    /* the same value: strtod rounds both to the same double (the grammar accepted is a subset of strtod's) */
    char *text = fz_strndup(data, size);
    double a = strtod(text, NULL), b = strtod(out, NULL);
    FZ_CHECK(a == b, "value changed: %s (%.17g) -> %s (%.17g)", fz_show(data, size), a, out, b);
    free(text);
    free(in);
    return 0;
}
