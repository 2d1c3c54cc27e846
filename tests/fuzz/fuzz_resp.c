/* The HGETALL pipeline reader's parser (core/src/redis_resp.h). Input: a byte stream as Redis would send it.
 * Replies are parsed one after another until one is incomplete or malformed. Oracles: every span lies inside the
 * input and is followed by "\r\n"; an error's text has no line break; a reply parsed whole is, cut at any shorter
 * length, "need more bytes" (never malformed, never complete) and keeps no span of its own; the bytes of a
 * complete array are exactly its header and its bulk strings. */
#include "fuzz_common.h"

#include "redis_resp.h"

#include <stdlib.h>
#include <string.h>

static void check_prefixes(const char *buf, size_t from, size_t to)
{
    kv_resp_batch b = {0};
    for (size_t k = from; k < to; k++) {
        size_t pos = from;
        kv_resp_reply r;
        bool oom = false;
        int got = kv_resp_parse(&b, buf, k, &pos, &r, &oom);
        FZ_CHECK(got == 0 && pos == from && b.nspans == 0, "a prefix of %zu bytes of a reply gave %d", k - from, got);
    }
    free(b.spans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    kv_resp_batch b = {0};
    size_t pos = 0;
    for (int replies = 0; replies < 64; replies++) {
        size_t from = pos, spans_before = b.nspans;
        kv_resp_reply r;
        bool oom = false;
        int got = kv_resp_parse(&b, buf, size, &pos, &r, &oom);
        FZ_CHECK(got >= -1 && got <= 1, "result %d", got);
        if (got != 1) {
            FZ_CHECK(pos == from && b.nspans == spans_before, "a failed parse moved on");
            break;
        }
        FZ_CHECK(pos > from && pos <= size, "consumed %zu of %zu", pos - from, size - from);
        if (r.kind == KV_RESP_ERROR) {
            FZ_CHECK(buf[from] == '-' && r.error.off == from + 1 && r.error.off + r.error.len + 2 == pos,
                     "error span");
            FZ_CHECK(memcmp(buf + pos - 2, "\r\n", 2) == 0, "error line end");
        } else {
            size_t body = 0;
            FZ_CHECK(buf[from] == '*' && r.first == spans_before && r.n == b.nspans - spans_before, "array spans");
            for (size_t i = 0; i < r.n; i++) {
                const kv_resp_span *s = &b.spans[r.first + i];
                FZ_CHECK(s->off > from && s->off + s->len + 2 <= pos, "span %zu outside the reply", i);
                FZ_CHECK(memcmp(buf + s->off + s->len, "\r\n", 2) == 0, "span %zu end", i);
                body += s->len;
            }
            FZ_CHECK(body <= pos - from, "the bulk strings are longer than the reply");
        }
        if (pos - from <= 512)
            check_prefixes(buf, from, pos);
    }
    free(b.spans);
    return 0;
}
