/* A reader for the replies to a pipeline of HGETALLs (or to a ZRANGE), straight from the socket into one buffer,
 * with no allocation per element. hiredis' reader makes a reply object and a string copy for every element (two mallocs and two
 * frees each: 26 per record of 6 fields); under callgrind that was most of findMany's client time, more than
 * kvorm's own work. Only replies of the shapes HGETALL and ZRANGE give are accepted: an array of bulk strings, or an error.
 * Anything else is a protocol error: the caller drops the connection. */
#ifndef KVORM_REDIS_RESP_H
#define KVORM_REDIS_RESP_H

#include "error.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

/* Where a reply's text lies in the batch buffer: offsets, since the buffer grows while replies arrive. */
typedef struct kv_resp_span {
    size_t off, len;
} kv_resp_span;

typedef enum kv_resp_kind { KV_RESP_ARRAY, KV_RESP_ERROR } kv_resp_kind;

typedef struct kv_resp_reply {
    kv_resp_kind kind;
    size_t first, n;   /* ARRAY: its elements are spans[first .. first + n - 1] */
    kv_resp_span error; /* ERROR: the message after '-' */
} kv_resp_reply;

/* The replies of one pipeline. Records keep values that point into buf: refs counts the holders (the reader
 * holds one); the last kv_resp_batch_unref frees it. */
typedef struct kv_resp_batch {
    char *buf;
    size_t len, cap;
    kv_resp_reply *replies;
    size_t nreplies;
    kv_resp_span *spans;
    size_t nspans, spans_cap;
    int refs;
} kv_resp_batch;

/* Parses one reply from buf at *pos (len bytes in all), appending its element spans to b. Returns 1 and advances
 * *pos when a whole reply was there, 0 when more bytes are needed (nothing is kept of the partial reply), -1 when
 * the bytes are not a reply of those shapes (or out of memory: *oom is set). */
int kv_resp_parse(kv_resp_batch *b, const char *buf, size_t len, size_t *pos, kv_resp_reply *out, bool *oom);

/* Reads n replies from c (sent by the caller: `what`, for messages) into a new batch (*out, one reference).
 * hiredis must hold no unread bytes (kv_resp_usable). On failure: CONNECTION, TIMEOUT (the socket's timeout) or
 * INTERNAL (a malformed reply), *broken set, *out NULL. */
int kv_resp_read(redisContext *c, size_t n, const char *what, kv_resp_batch **out, bool *broken, kv_error *err);

/* Whether kv_resp_read may read c now: hiredis' own buffer holds no reply bytes it has not handed out. */
bool kv_resp_usable(const redisContext *c);

void kv_resp_batch_unref(void *batch);

#endif
