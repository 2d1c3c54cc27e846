#include "decimal.h"

#include <stdlib.h>
#include <string.h>

/* The value is 0.<dig> x 10^point; trailing zeros of dig change nothing and are dropped, leading zeros move
 * the point. */
size_t kv_decimal_normalize(char *out, const char *s, size_t len)
{
    char dig[KV_DECIMAL_MAX_DIGITS + 1];
    size_t nd = 0, i = 0, o = 0;
    long point = 0, exp = 0;
    bool neg = false, any = false, seen_nonzero = false;

    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        any = true;
        if (s[i] == '0' && !seen_nonzero)
            continue;
        seen_nonzero = true;
        if (nd >= KV_DECIMAL_MAX_DIGITS)
            return 0;
        dig[nd++] = s[i];
        point++;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            any = true;
            if (s[i] == '0' && !seen_nonzero) {
                point--;
                continue;
            }
            seen_nonzero = true;
            if (nd >= KV_DECIMAL_MAX_DIGITS)
                return 0;
            dig[nd++] = s[i];
        }
    }
    if (!any)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false, edig = false;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            edig = true;
            exp = exp * 10 + (s[i] - '0');
            if (exp > 100000)
                return 0;
        }
        if (!edig)
            return 0;
        if (eneg)
            exp = -exp;
    }
    if (i != len)
        return 0;
    while (nd > 0 && dig[nd - 1] == '0')
        nd--;
    if (nd == 0) {
        strcpy(out, "0");
        return 1;
    }
    point += exp;
    /* digits written: max(point, nd) plus leading zeros after "0." */
    long total = point <= 0 ? 1 + (-point) + (long)nd : (point > (long)nd ? point : (long)nd);
    if (total > KV_DECIMAL_MAX_DIGITS)
        return 0;
    if (neg)
        out[o++] = '-';
    if (point <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (long z = 0; z < -point; z++)
            out[o++] = '0';
        memcpy(out + o, dig, nd);
        o += nd;
    } else if ((size_t)point >= nd) {
        memcpy(out + o, dig, nd);
        o += nd;
        for (long z = (long)nd; z < point; z++)
            out[o++] = '0';
    } else {
        memcpy(out + o, dig, (size_t)point);
        o += (size_t)point;
        out[o++] = '.';
        memcpy(out + o, dig + point, nd - (size_t)point);
        o += nd - (size_t)point;
    }
    out[o] = '\0';
    return o;
}
