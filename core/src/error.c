#include "error.h"

#include "mp.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static _Thread_local int last_code;
static _Thread_local bool last_retryable;
static _Thread_local char last_message[512];

static const char *const code_names[] = {
    "OK", "VALIDATION", "NOT_FOUND", "UNIQUE_VIOLATION", "CONFLICT", "SCHEMA", "SCHEMA_MISMATCH",
    "BAD_REQUEST", "CONNECTION", "TIMEOUT", "UNSUPPORTED", "INTERNAL", "MISUSE", "UNAVAILABLE", "REFUSED",
    "RELATION",
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
int kvorm_last_error_retryable(void) { return last_retryable ? 1 : 0; }

void kv_error_clear(void)
{
    last_code = KVORM_OK;
    last_retryable = false;
    last_message[0] = '\0';
}

void kv_error_publish(const kv_error *err)
{
    size_t n = strnlen(err->message, sizeof(last_message) - 1);
    last_code = err->code;
    last_retryable = err->retryable;
    memcpy(last_message, err->message, n);
    last_message[n] = '\0';
}

void kv_error_set_retryable(kv_error *err, bool retryable)
{
    err->retryable = retryable;
    kv_error_publish(err);
}

size_t kv_utf8_cut(const char *text, size_t len)
{
    size_t start = len;
    while (start > 0 && len - start < 3 && ((unsigned char)text[start - 1] & 0xc0) == 0x80)
        start--;
    if (start > 0 && (unsigned char)text[start - 1] >= 0xc0 && kv_utf8_seq(text + start - 1, len - start + 1) == 0)
        return start - 1;
    return len;
}

int kv_failv(kv_error *err, int code, const char *fmt, va_list ap)
{
    kv_error local;
    kv_error *e = err ? err : &local;
    char raw[sizeof(e->message)];
    int n = vsnprintf(raw, sizeof(raw), fmt, ap);
    size_t len = n < 0 ? 0 : (size_t)n;
    /* formatted apart from e->message, so that an argument may be the previous message */
    if (len >= sizeof(raw))
        len = kv_utf8_cut(raw, sizeof(raw) - 1);
    e->code = code;
    e->retryable = code == KVORM_EUNAVAILABLE || code == KVORM_ECONNECTION || code == KVORM_ETIMEOUT;
    kv_escape(e->message, sizeof(e->message), raw, len, SIZE_MAX, 0);
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

/* The escaped form of the code point or byte at src: writes it to unit, returns its length and sets *used to
 * the bytes of src it stands for. */
static size_t escape_unit(char unit[4], const char *src, size_t len, int flags, size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c = (unsigned char)src[0];
    size_t n = kv_utf8_seq(src, len);
    *used = n ? n : 1;
    if (n == 1 && (flags & KV_ESC_QUOTES) && (c == '"' || c == '\\')) {
        unit[0] = '\\';
        unit[1] = (char)c;
        return 2;
    }
    if (n == 0 || ((flags & KV_ESC_CONTROL) && (c < 0x20 || c == 0x7f))) {
        unit[0] = '\\';
        unit[1] = 'x';
        unit[2] = hex[c >> 4];
        unit[3] = hex[c & 15];
        return 4;
    }
    memcpy(unit, src, n);
    return n;
}

size_t kv_escape(char *dst, size_t cap, const char *src, size_t len, size_t max_src, int flags)
{
    size_t o = 0, i = 0, reserve = (flags & KV_ESC_ELLIPSIS) ? 4 : 1; /* "..." and the NUL */
    if (cap < reserve + 1) {
        if (cap)
            dst[0] = '\0';
        return 0;
    }
    while (i < len) {
        char unit[4];
        size_t used, u = escape_unit(unit, src + i, len - i, flags, &used);
        if (i + used > max_src || o + u + reserve > cap)
            break;
        memcpy(dst + o, unit, u);
        o += u;
        i += used;
    }
    if (i < len && (flags & KV_ESC_ELLIPSIS)) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return o;
}

void kv_quote(char *dst, size_t cap, const char *src, size_t len)
{
    /* keeps messages short and printable: at most 60 bytes of the value, control bytes escaped */
    size_t o;
    if (cap < 8) {
        if (cap)
            dst[0] = '\0';
        return;
    }
    dst[0] = '"';
    o = 1 + kv_escape(dst + 1, cap - 2, src, len, 60, KV_ESC_QUOTES | KV_ESC_CONTROL | KV_ESC_ELLIPSIS);
    dst[o++] = '"';
    dst[o] = '\0';
}

void kv_sanitize(char *dst, size_t cap, const char *src, size_t len)
{
    kv_escape(dst, cap, src ? src : "", src ? len : 0, SIZE_MAX, KV_ESC_CONTROL | KV_ESC_ELLIPSIS);
}

void kv_error_add_field_copy(kv_error *err, const char *field, size_t len)
{
    if (!err || err->nfields >= KV_ERR_MAX_FIELDS)
        return;
    kv_escape(err->field_copy, sizeof(err->field_copy), field, len, SIZE_MAX, KV_ESC_ELLIPSIS);
    err->fields[err->nfields++] = err->field_copy;
}
