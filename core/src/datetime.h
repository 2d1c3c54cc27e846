/* Datetimes: UTC seconds + nanoseconds, RFC 3339 text and the MessagePack timestamp extension (type -1). */
#ifndef KVORM_DATETIME_H
#define KVORM_DATETIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kv_time {
    int64_t sec;   /* seconds since 1970-01-01T00:00:00Z */
    uint32_t nsec; /* 0..999999999 */
} kv_time;

#define KV_TIME_MIN_SEC (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define KV_TIME_MAX_SEC 253402300799LL   /* 9999-12-31T23:59:59Z */
#define KV_TIME_TEXT_MAX 40

bool kv_time_in_range(kv_time t);
bool kv_time_parse(kv_time *out, const char *s, size_t len);
/* Writes NUL-terminated RFC 3339 text, returns its length. buf holds KV_TIME_TEXT_MAX bytes. */
size_t kv_time_format(char *buf, kv_time t);
/* Timestamp extension payload: the shortest of 4, 8 or 12 bytes. Returns the payload size. */
size_t kv_time_to_ext(unsigned char payload[12], kv_time t);
bool kv_time_from_ext(kv_time *out, const char *payload, size_t len);
kv_time kv_time_now(void);

#endif
