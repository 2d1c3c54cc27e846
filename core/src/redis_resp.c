/* The HGETALL pipeline reader (redis_resp.h): RESP2 arrays of bulk strings and error lines, parsed in place. */
#include "redis_resp.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_BULK ((size_t)512 * 1024 * 1024) /* Redis' proto-max-bulk-len default */
#define MAX_ELEMENTS ((size_t)1 << 30)
#define READ_CHUNK 16384

/* The end of the line starting at p (the '\r' of its "\r\n"), or NULL when it is not all there. */
static const char *line_end(const char *p, const char *end)
{
    for (const char *q = p; q + 1 < end; q++) {
        q = memchr(q, '\r', (size_t)(end - q - 1));
        if (!q)
            return NULL;
        if (q[1] == '\n')
            return q;
    }
    return NULL;
}

/* A non-negative decimal count in [p, e) no larger than max; false when it is not one. */
static bool count_of(const char *p, const char *e, size_t max, size_t *out)
{
    size_t v = 0;
    if (p == e)
        return false;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (size_t)(*p - '0');
        if (v > max)
            return false;
    }
    *out = v;
    return true;
}

static bool add_span(kv_resp_batch *b, size_t off, size_t len)
{
    if (b->nspans == b->spans_cap) {
        size_t cap = b->spans_cap ? b->spans_cap * 2 : 256;
        kv_resp_span *s = realloc(b->spans, sizeof(*s) * cap);
        if (!s)
            return false;
        b->spans = s;
        b->spans_cap = cap;
    }
    b->spans[b->nspans++] = (kv_resp_span){off, len};
    return true;
}

int kv_resp_parse(kv_resp_batch *b, const char *buf, size_t len, size_t *pos, kv_resp_reply *out, bool *oom)
{
    const char *p = buf + *pos, *end = buf + len, *e;
    size_t n, keep = b->nspans;
    *oom = false;
    if (p >= end || !(e = line_end(p + 1, end)))
        return p < end && *p != '*' && *p != '-' ? -1 : 0;
    if (*p == '-') {
        out->kind = KV_RESP_ERROR;
        out->error = (kv_resp_span){(size_t)(p + 1 - buf), (size_t)(e - p - 1)};
        out->first = out->n = 0;
        *pos = (size_t)(e + 2 - buf);
        return 1;
    }
    if (*p != '*' || !count_of(p + 1, e, MAX_ELEMENTS, &n))
        return -1;
    out->kind = KV_RESP_ARRAY;
    out->first = b->nspans;
    out->n = n;
    p = e + 2;
    for (size_t i = 0; i < n; i++) {
        size_t blen;
        if (p >= end || !(e = line_end(p + 1, end))) {
            if (p < end && *p != '$')
                goto bad;
            b->nspans = keep;
            return 0;
        }
        if (*p != '$' || !count_of(p + 1, e, MAX_BULK, &blen))
            goto bad;
        p = e + 2;
        if ((size_t)(end - p) < blen + 2) {
            b->nspans = keep;
            return 0;
        }
        if (p[blen] != '\r' || p[blen + 1] != '\n')
            goto bad;
        if (!add_span(b, (size_t)(p - buf), blen)) {
            *oom = true;
            goto bad;
        }
        p += blen + 2;
    }
    *pos = (size_t)(p - buf);
    return 1;
bad:
    b->nspans = keep;
    return -1;
}

bool kv_resp_usable(const redisContext *c)
{
    return c->reader && c->reader->pos >= c->reader->len;
}

void kv_resp_batch_unref(void *batch)
{
    kv_resp_batch *b = batch;
    if (!b || --b->refs > 0)
        return;
    free(b->buf);
    free(b->replies);
    free(b->spans);
    free(b);
}

/* Makes room for READ_CHUNK more bytes. */
static bool room(kv_resp_batch *b)
{
    if (b->cap - b->len >= READ_CHUNK)
        return true;
    size_t cap = b->cap ? b->cap * 2 : 4 * READ_CHUNK;
    while (cap - b->len < READ_CHUNK)
        cap *= 2;
    char *buf = realloc(b->buf, cap);
    if (!buf)
        return false;
    b->buf = buf;
    b->cap = cap;
    return true;
}

int kv_resp_read(redisContext *c, size_t n, const char *what, kv_resp_batch **out, bool *broken, kv_error *err)
{
    kv_resp_batch *b = calloc(1, sizeof(*b));
    size_t pos = 0;
    int rc = 0;
    *out = NULL;
    if (!b || !(b->replies = calloc(n + 1, sizeof(*b->replies)))) {
        free(b);
        *broken = true;
        return kv_fail(err, KVORM_EINTERNAL, "out of memory reading from Redis");
    }
    b->refs = 1;
    while (rc == 0 && b->nreplies < n) {
        bool oom = false;
        int got = kv_resp_parse(b, b->buf ? b->buf : "", b->len, &pos, &b->replies[b->nreplies], &oom);
        if (got == 1) {
            b->nreplies++;
            continue;
        }
        if (got < 0) {
            rc = oom ? kv_fail(err, KVORM_EINTERNAL, "out of memory reading from Redis")
                     : kv_fail(err, KVORM_EINTERNAL, "Redis sent a reply of another shape to %s (a protocol error)",
                               what);
            break;
        }
        if (!room(b)) {
            rc = kv_fail(err, KVORM_EINTERNAL, "out of memory reading from Redis");
            break;
        }
        /* the socket's receive timeout (redisSetTimeout) bounds the wait; TLS will need its own read here */
        ssize_t r = recv(c->fd, b->buf + b->len, b->cap - b->len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            rc = kv_fail(err, KVORM_ETIMEOUT, "Redis did not answer within the command timeout (%s)", what);
        else if (r <= 0) {
            char why[128];
            const char *text = r == 0 ? "the server closed it" : strerror(errno);
            kv_sanitize(why, sizeof(why), text, strlen(text));
            rc = kv_fail(err, KVORM_ECONNECTION, "the connection to Redis failed during %s: %s", what, why);
        }
        else
            b->len += (size_t)r;
    }
    if (rc == 0 && pos != b->len)
        rc = kv_fail(err, KVORM_EINTERNAL, "Redis sent more than the replies asked for (a protocol error)");
    if (rc != 0) {
        *broken = true;
        kv_resp_batch_unref(b);
        return rc;
    }
    *out = b;
    return 0;
}
