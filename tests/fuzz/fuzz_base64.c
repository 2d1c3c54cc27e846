/* Base64 (core/src/base64.h). The input is decoded as base64 text, and encoded as bytes.
 * Oracles: decode writes at most len / 4 * 3 bytes (exact-size buffers, so ASan sees any overflow); decoded bytes
 * re-encode to text of the same length that decodes to the same bytes; encode -> decode is the identity and the
 * encoding is padded, of kv_base64_encoded_len bytes, in the standard alphabet. */
#include "fuzz_common.h"

#include "base64.h"

#include <stdlib.h>
#include <string.h>

static bool in_alphabet(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static unsigned char *decode(const char *text, size_t len, size_t *n, bool *ok)
{
    size_t cap = len / 4 * 3;
    unsigned char *out = malloc(cap ? cap : 1);
    FZ_CHECK(out != NULL, "out of memory");
    *n = 0;
    *ok = kv_base64_decode(out, n, text, len);
    if (*ok)
        FZ_CHECK(*n <= cap, "decoded %zu bytes into a buffer of %zu", *n, cap);
    return out;
}

static char *encode(const unsigned char *bytes, size_t n, size_t *len)
{
    *len = kv_base64_encoded_len(n);
    FZ_CHECK(*len == (n + 2) / 3 * 4, "encoded_len(%zu) = %zu", n, *len);
    char *text = malloc(*len + 1);
    FZ_CHECK(text != NULL, "out of memory");
    kv_base64_encode(text, bytes, n);
    FZ_CHECK(text[*len] == '\0' && strlen(text) == *len, "encode wrote %zu bytes, not %zu", strlen(text), *len);
    for (size_t i = 0; i < *len; i++) {
        bool pad_ok = text[i] == '=' && i + 2 >= *len && (i + 1 == *len || text[i + 1] == '=');
        FZ_CHECK(in_alphabet(text[i]) || pad_ok, "bad character %d at %zu of %zu", text[i], i, *len);
    }
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1);
    size_t n, len, n2;
    bool ok, ok2;
    if (size)
        memcpy(in, data, size);

    /* decode, then encode the bytes and decode again */
    unsigned char *bytes = decode(in, size, &n, &ok);
    if (ok) {
        FZ_CHECK(size % 4 == 0, "%zu characters accepted", size);
        char *text = encode(bytes, n, &len);
        FZ_CHECK(len == size, "%zu characters decode to %zu bytes that encode to %zu", size, n, len);
        unsigned char *again = decode(text, len, &n2, &ok2);
        FZ_CHECK(ok2 && n2 == n && (n == 0 || memcmp(again, bytes, n) == 0), "re-encoding of %s does not decode back",
                 fz_show(in, size));
        free(again);
        free(text);
    }
    free(bytes);

    /* encode the input as bytes: decode gives it back */
    char *text = encode(data, size, &len);
    unsigned char *back = decode(text, len, &n, &ok);
    FZ_CHECK(ok && n == size && (size == 0 || memcmp(back, data, size) == 0), "round trip of %zu bytes", size);
    free(back);
    free(text);
    free(in);
    return 0;
}
