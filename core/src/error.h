/* Thread-local last error and error documents. */
#ifndef KVORM_ERROR_H
#define KVORM_ERROR_H

#include "kvorm.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define KV_ERR_MAX_FIELDS 8

/* What a failure is about: the error document is built from it. Fields point to static or schema-owned
 * strings that outlive the error. The message is always valid UTF-8. */
typedef struct kv_error {
    int code;
    bool retryable; /* the same request may succeed later: nothing was written (docs/errors.md) */
    char message[512];
    const char *model;
    const char *fields[KV_ERR_MAX_FIELDS];
    int nfields;
    char field_copy[72]; /* a field name taken from a request, which does not outlive it */
} kv_error;

/* Records an error: fills err (if not NULL), the thread-local last error, and returns code. retryable is set
 * from the code: true for UNAVAILABLE, CONNECTION and TIMEOUT. A message cut at 511 bytes loses a trailing
 * partial code point, and any byte that is not UTF-8 becomes \xNN. */
int kv_fail(kv_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kv_failv(kv_error *err, int code, const char *fmt, va_list ap);
/* Same, naming the model and one field (either may be NULL). */
int kv_fail_at(kv_error *err, int code, const char *model, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void kv_error_add_field(kv_error *err, const char *field);
/* Names a field that is not in the schema (copied, made valid UTF-8 and cut at a code point; one per error). */
void kv_error_add_field_copy(kv_error *err, const char *field, size_t len);
/* Overrides the retryable flag of a recorded error (a write whose outcome is unknown is not retryable). */
void kv_error_set_retryable(kv_error *err, bool retryable);

/* Copies an error into the thread-local last error. */
void kv_error_publish(const kv_error *err);
void kv_error_clear(void);

/* kv_escape flags: escape '"' and '\\'; escape control bytes; mark a cut with "...". */
enum { KV_ESC_QUOTES = 1, KV_ESC_CONTROL = 2, KV_ESC_ELLIPSIS = 4 };
/* Copies at most max_src bytes of src into dst (cap bytes, NUL-terminated) as valid UTF-8: a byte that is not
 * part of a valid sequence becomes \xNN, and the copy is never cut inside a code point or an escape. Returns
 * the length written. */
size_t kv_escape(char *dst, size_t cap, const char *src, size_t len, size_t max_src, int flags);
/* Formats a value for a message: quotes and escapes text, cuts it after 60 bytes (at a code point). */
void kv_quote(char *dst, size_t cap, const char *src, size_t len);
/* Text from elsewhere (a Redis reply, strerror, a path) made safe for a message: valid UTF-8, control bytes
 * escaped, cut to fit cap. */
void kv_sanitize(char *dst, size_t cap, const char *src, size_t len);
/* The length of text once a trailing partial code point (left by a cut, say snprintf's) is dropped. */
size_t kv_utf8_cut(const char *text, size_t len);

#endif
