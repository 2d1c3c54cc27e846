#include "datetime.h"

#include <stdio.h>
#include <time.h>

/* Howard Hinnant's civil-calendar algorithms: exact over the whole proleptic Gregorian range. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

bool kv_time_in_range(kv_time t)
{
    return t.sec >= KV_TIME_MIN_SEC && t.sec <= KV_TIME_MAX_SEC && t.nsec < 1000000000u;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

static bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool kv_time_parse(kv_time *out, const char *s, size_t len)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned Y, M, D, h, mi, se, nsec = 0;
    size_t i = 19;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        s[13] != ':' || s[16] != ':')
        return false;
    if (!digits(s, 4, &Y) || !digits(s + 5, 2, &M) || !digits(s + 8, 2, &D) || !digits(s + 11, 2, &h) ||
        !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return false;
    if (Y < 1 || M < 1 || M > 12 || D < 1 || h > 23 || mi > 59 || se > 59)
        return false;
    if (D > mdays[M - 1] + (M == 2 && leap(Y)))
        return false;
    if (s[i] == '.') {
        size_t n = 0;
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (++n > 9)
                return false;
            nsec = nsec * 10 + (unsigned)(s[i++] - '0');
        }
        if (n == 0)
            return false;
        for (; n < 9; n++)
            nsec *= 10;
    }
    int64_t offset = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        unsigned oh, om;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        offset = (int64_t)(oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return false;
    }
    if (i != len)
        return false;
    kv_time t;
    t.sec = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + se - offset;
    t.nsec = nsec;
    if (!kv_time_in_range(t))
        return false;
    *out = t;
    return true;
}

size_t kv_time_format(char *buf, kv_time t)
{
    int64_t days = t.sec >= 0 ? t.sec / 86400 : -((-t.sec + 86399) / 86400);
    int64_t rem = t.sec - days * 86400, y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int n = snprintf(buf, KV_TIME_TEXT_MAX, "%04lld-%02u-%02uT%02u:%02u:%02u", (long long)y, m, d,
                     (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60), (unsigned)(rem % 60));
    if (t.nsec)
        n += snprintf(buf + n, KV_TIME_TEXT_MAX - (size_t)n, ".%09u", t.nsec);
    buf[n++] = 'Z';
    buf[n] = '\0';
    return (size_t)n;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

size_t kv_time_to_ext(unsigned char payload[12], kv_time t)
{
    if (t.sec >= 0 && (t.sec >> 34) == 0) {
        uint64_t v = (uint64_t)t.nsec << 34 | (uint64_t)t.sec;
        if ((v & 0xffffffff00000000ull) == 0) {
            put_be32(payload, (uint32_t)v);
            return 4;
        }
        put_be32(payload, (uint32_t)(v >> 32));
        put_be32(payload + 4, (uint32_t)v);
        return 8;
    }
    put_be32(payload, t.nsec);
    put_be32(payload + 4, (uint32_t)((uint64_t)t.sec >> 32));
    put_be32(payload + 8, (uint32_t)(uint64_t)t.sec);
    return 12;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool kv_time_from_ext(kv_time *out, const char *payload, size_t len)
{
    const unsigned char *p = (const unsigned char *)payload;
    kv_time t;
    if (len == 4) {
        t.sec = get_be32(p);
        t.nsec = 0;
    } else if (len == 8) {
        uint64_t v = (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
        t.nsec = (uint32_t)(v >> 34);
        t.sec = (int64_t)(v & 0x3ffffffffull);
    } else if (len == 12) {
        t.nsec = get_be32(p);
        t.sec = (int64_t)((uint64_t)get_be32(p + 4) << 32 | get_be32(p + 8));
    } else {
        return false;
    }
    if (!kv_time_in_range(t))
        return false;
    *out = t;
    return true;
}

kv_time kv_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    kv_time t = {(int64_t)ts.tv_sec, (uint32_t)ts.tv_nsec};
    return t;
}
