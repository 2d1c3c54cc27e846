/* Thread-local last error and error documents. */
#ifndef KVORM_ERROR_H
#define KVORM_ERROR_H

#include "kvorm.h"

#include <stdarg.h>

#define KV_ERR_MAX_FIELDS 8

/* What a failure is about: the error document is built from it. Fields point to static or schema-owned
 * strings that outlive the error. */
typedef struct kv_error {
    int code;
    char message[512];
    const char *model;
    const char *fields[KV_ERR_MAX_FIELDS];
    int nfields;
    char field_copy[72]; /* a field name taken from a request, which does not outlive it */
} kv_error;

/* Records an error: fills err (if not NULL), the thread-local last error, and returns code. */
int kv_fail(kv_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kv_failv(kv_error *err, int code, const char *fmt, va_list ap);
/* Same, naming the model and one field (either may be NULL). */
int kv_fail_at(kv_error *err, int code, const char *model, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void kv_error_add_field(kv_error *err, const char *field);
/* Names a field that is not in the schema (copied; one per error). */
void kv_error_add_field_copy(kv_error *err, const char *field, size_t len);

/* Copies an error into the thread-local last error. */
void kv_error_publish(const kv_error *err);
void kv_error_clear(void);

/* Formats a value for a message: quotes and escapes text, cuts it at a readable length. */
void kv_quote(char *dst, size_t cap, const char *src, size_t len);

#endif
