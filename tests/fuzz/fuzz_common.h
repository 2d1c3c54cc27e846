/* Helpers shared by the fuzz targets: checks that abort with a message (libFuzzer then saves the input), an
 * independent UTF-8 validator, and walks over MessagePack objects. */
#ifndef KVORM_FUZZ_COMMON_H
#define KVORM_FUZZ_COMMON_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Prints "fuzz check failed at file:line: cond: message" and aborts. */
void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

#define FZ_CHECK(cond, ...)                                      \
    do {                                                         \
        if (!(cond))                                             \
            fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);     \
    } while (0)

/* A NUL-terminated malloc'd copy of data (the caller frees it). */
char *fz_strndup(const void *data, size_t size);

/* Well-formed UTF-8 by the table of the Unicode Standard (Table 3-7), written independently of kv_utf8_valid. */
bool fz_utf8_valid(const void *s, size_t n);

/* Whether every str (keys included) in o is well-formed UTF-8. On false, *bad is the offending string. */
bool fz_mp_strings_valid(const msgpack_object *o, const msgpack_object **bad);

/* Whether o holds a positive integer above INT64_MAX (JSON readers such as jansson refuse those). */
bool fz_mp_has_big_uint(const msgpack_object *o);

/* The MessagePack encoding of o (msgpack-c's packer): a malloc'd buffer of *len bytes. */
char *fz_mp_pack(const msgpack_object *o, size_t *len);

/* Prints up to 64 bytes as a C string literal for a failure message (static buffer). */
const char *fz_show(const void *data, size_t n);

/* Splits data at every occurrence of sep (sep_len bytes) into at most max pieces; returns the count. The rest
 * after the last allowed separator is the last piece. */
size_t fz_split(const uint8_t *data, size_t size, const char *sep, size_t sep_len, const uint8_t **pieces,
                size_t *lens, size_t max);

#endif
