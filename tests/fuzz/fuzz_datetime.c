/* Datetimes (core/src/datetime.h): kv_time_parse on the input as RFC 3339 text, kv_time_from_ext on it as a
 * timestamp extension payload.
 * Oracles: a parsed value formats and re-parses to itself and matches timegm() of its fields; the formatted text
 * matches gmtime(); a decoded payload re-encodes to the shortest form of the MessagePack spec and decodes back. */
#include "fuzz_common.h"

#include "datetime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool same(kv_time a, kv_time b) { return a.sec == b.sec && a.nsec == b.nsec; }

/* Formats t and checks the text against gmtime_r, then parses it back. */
static void check_format(kv_time t)
{
    char text[KV_TIME_TEXT_MAX], want[KV_TIME_TEXT_MAX + 16];
    struct tm tm;
    time_t tt = (time_t)t.sec;
    kv_time back;
    size_t n = kv_time_format(text, t);
    FZ_CHECK(n < KV_TIME_TEXT_MAX && strlen(text) == n, "length %zu", n);
    FZ_CHECK(gmtime_r(&tt, &tm) != NULL, "gmtime_r failed for %lld", (long long)t.sec);
    int k = snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (t.nsec)
        snprintf(want + k, sizeof(want) - (size_t)k, ".%09uZ", t.nsec);
    else
        snprintf(want + k, sizeof(want) - (size_t)k, "Z");
    FZ_CHECK(strcmp(text, want) == 0, "%lld.%09u formats as %s, gmtime says %s", (long long)t.sec, t.nsec, text, want);
    FZ_CHECK(kv_time_parse(&back, text, n) && same(back, t), "%s does not parse back to %lld.%09u", text,
             (long long)t.sec, t.nsec);
}

static void check_ext(kv_time t)
{
    unsigned char payload[12];
    kv_time back;
    size_t n = kv_time_to_ext(payload, t), want;
    /* the spec's shortest form */
    if (t.sec >= 0 && t.sec < (1ll << 34))
        want = t.nsec == 0 && t.sec < (1ll << 32) ? 4 : 8;
    else
        want = 12;
    FZ_CHECK(n == want, "%lld.%09u: %zu-byte payload, want %zu", (long long)t.sec, t.nsec, n, want);
    FZ_CHECK(kv_time_from_ext(&back, (const char *)payload, n) && same(back, t), "ext round trip of %lld.%09u",
             (long long)t.sec, t.nsec);
}

/* Independent reading of the fields kv_time_parse accepted: timegm of them minus the offset. */
static void check_parse_oracle(const char *s, size_t len, kv_time t)
{
    struct tm tm = {0};
    unsigned Y, M, D, h, mi, se;
    char *z = fz_strndup(s, len);
    int got = sscanf(z, "%4u-%2u-%2u%*c%2u:%2u:%2u", &Y, &M, &D, &h, &mi, &se);
    free(z);
    FZ_CHECK(got == 6, "fields of %s", fz_show(s, len));
    tm.tm_year = (int)Y - 1900;
    tm.tm_mon = (int)M - 1;
    tm.tm_mday = (int)D;
    tm.tm_hour = (int)h;
    tm.tm_min = (int)mi;
    tm.tm_sec = (int)se;
    long long sec = (long long)timegm(&tm), offset = 0;
    /* timegm normalizes out-of-range fields; the parser must have refused those */
    FZ_CHECK(tm.tm_year == (int)Y - 1900 && tm.tm_mon == (int)M - 1 && tm.tm_mday == (int)D, "invalid date %s accepted",
             fz_show(s, len));
    char last = s[len - 1];
    if (last != 'Z' && last != 'z') {
        const char *o = s + len - 6;
        FZ_CHECK(o[0] == '+' || o[0] == '-', "no offset in %s", fz_show(s, len));
        offset = ((o[1] - '0') * 10 + (o[2] - '0')) * 3600 + ((o[4] - '0') * 10 + (o[5] - '0')) * 60;
        if (o[0] == '-')
            offset = -offset;
    }
    FZ_CHECK(t.sec == sec - offset, "%s parsed as %lld, timegm says %lld", fz_show(s, len), (long long)t.sec,
             sec - offset);
    FZ_CHECK(t.nsec < 1000000000u, "nsec %u", t.nsec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kv_time t;
    char *s = malloc(size ? size : 1); /* exact size: ASan sees any read past the text */
    if (size)
        memcpy(s, data, size);
    if (kv_time_parse(&t, s, size)) {
        FZ_CHECK(kv_time_in_range(t), "out of range: %lld", (long long)t.sec);
        check_parse_oracle(s, size, t);
        check_format(t);
        check_ext(t);
    }
    if (kv_time_from_ext(&t, s, size)) {
        FZ_CHECK(size == 4 || size == 8 || size == 12, "payload of %zu bytes accepted", size);
        FZ_CHECK(kv_time_in_range(t), "out of range: %lld", (long long)t.sec);
        check_ext(t);
        check_format(t);
    }
    free(s);
    return 0;
}
