#include "error.h"

#include <stdio.h>
#include <string.h>

static _Thread_local int last_code;
static _Thread_local char last_message[512];

static const char *const code_names[] = {
    "OK", "VALIDATION", "NOT_FOUND", "UNIQUE_VIOLATION", "CONFLICT", "SCHEMA", "SCHEMA_MISMATCH",
    "BAD_REQUEST", "CONNECTION", "TIMEOUT", "UNSUPPORTED", "INTERNAL", "MISUSE",
};

const char *kvorm_error_name(int code)
{
    int n = (int)(sizeof(code_names) / sizeof(code_names[0]));
    if (code > 0 || -code >= n)
        return "UNKNOWN";
    return code_names[-code];
}

int kvorm_last_error_code(void) { return last_code; }
const char *kvorm_last_error_message(void) { return last_message; }

void kv_error_clear(void)
{
    last_code = KVORM_OK;
    last_message[0] = '\0';
}

void kv_error_publish(const kv_error *err)
{
    size_t n = strnlen(err->message, sizeof(last_message) - 1);
    last_code = err->code;
    memcpy(last_message, err->message, n);
    last_message[n] = '\0';
}

int kv_failv(kv_error *err, int code, const char *fmt, va_list ap)
{
    kv_error local;
    kv_error *e = err ? err : &local;
    e->code = code;
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    if (!err) {
        e->model = NULL;
        e->nfields = 0;
    }
    kv_error_publish(e);
    return code;
}

int kv_fail(kv_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kv_failv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int kv_fail_at(kv_error *err, int code, const char *model, const char *field, const char *fmt, ...)
{
    va_list ap;
    if (err) {
        err->model = model;
        err->nfields = 0;
        if (field)
            kv_error_add_field(err, field);
    }
    va_start(ap, fmt);
    kv_failv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void kv_error_add_field(kv_error *err, const char *field)
{
    if (err && err->nfields < KV_ERR_MAX_FIELDS)
        err->fields[err->nfields++] = field;
}

void kv_quote(char *dst, size_t cap, const char *src, size_t len)
{
    /* Keeps messages short and printable: at most ~60 visible bytes, control bytes escaped. */
    size_t o = 0, i;
    if (cap < 8) {
        if (cap) dst[0] = '\0';
        return;
    }
    dst[o++] = '"';
    for (i = 0; i < len && o + 8 < cap && i < 60; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    if (i < len && o + 4 < cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o++] = '"';
    dst[o] = '\0';
}

void kv_error_add_field_copy(kv_error *err, const char *field, size_t len)
{
    if (!err || err->nfields >= KV_ERR_MAX_FIELDS)
        return;
    if (len >= sizeof(err->field_copy))
        len = sizeof(err->field_copy) - 1;
    memcpy(err->field_copy, field, len);
    err->field_copy[len] = '\0';
    err->fields[err->nfields++] = err->field_copy;
}
