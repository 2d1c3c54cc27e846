/* Base64 (RFC 4648, standard alphabet, padded) for bytes in JSON documents. */
#ifndef KVORM_BASE64_H
#define KVORM_BASE64_H

#include <stdbool.h>
#include <stddef.h>

size_t kv_base64_encoded_len(size_t n);
/* Writes kv_base64_encoded_len(n) bytes plus a NUL. */
void kv_base64_encode(char *out, const unsigned char *in, size_t n);
/* out holds at least len / 4 * 3 bytes. Returns false on bad characters, length or padding. */
bool kv_base64_decode(unsigned char *out, size_t *out_len, const char *in, size_t len);

#endif
