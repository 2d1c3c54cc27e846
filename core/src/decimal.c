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

/* ---- arithmetic for aggregates (_sum, _avg): digits as text, most significant first ---- */

typedef struct dec {
    bool neg;
    char *d;      /* digits, no point */
    size_t n;
    size_t scale; /* digits after the point */
} dec;

static bool dec_parse(dec *x, const char *s, size_t len)
{
    size_t i = 0;
    x->neg = len > 0 && s[0] == '-';
    i = x->neg ? 1 : 0;
    x->d = malloc(len + 1);
    x->n = x->scale = 0;
    if (!x->d)
        return false;
    bool frac = false;
    for (; i < len; i++) {
        if (s[i] == '.') {
            frac = true;
            continue;
        }
        x->d[x->n++] = s[i];
        if (frac)
            x->scale++;
    }
    return true;
}

/* Writes digits d (n, scale) with their sign as normalized text into out (KV_DECIMAL_TEXT_MAX). */
static size_t dec_text(char *out, bool neg, const char *d, size_t n, size_t scale)
{
    char *t = malloc(n + scale + 4), *p = t;
    size_t r;
    if (!t)
        return 0;
    if (neg)
        *p++ = '-';
    if (n <= scale) {
        *p++ = '0';
        *p++ = '.';
        for (size_t i = n; i < scale; i++)
            *p++ = '0';
        memcpy(p, d, n);
        p += n;
    } else {
        memcpy(p, d, n - scale);
        p += n - scale;
        if (scale) {
            *p++ = '.';
            memcpy(p, d + n - scale, scale);
            p += scale;
        }
    }
    r = kv_decimal_normalize(out, t, (size_t)(p - t));
    free(t);
    return r;
}

/* The digit of x at position k from the point (k >= 0: 10^k; k < 0: fraction), 0 outside. */
static int dec_digit(const dec *x, long k)
{
    long idx = (long)x->n - 1 - ((long)x->scale + k);
    return idx >= 0 && idx < (long)x->n ? x->d[idx] - '0' : 0;
}

/* |a| compared with |b|. */
static int dec_cmp_abs(const dec *a, const dec *b, long hi, long lo)
{
    for (long k = hi; k >= lo; k--) {
        int c = dec_digit(a, k) - dec_digit(b, k);
        if (c)
            return c;
    }
    return 0;
}

size_t kv_decimal_add(char *out, const char *a, size_t alen, const char *b, size_t blen)
{
    dec x, y;
    size_t r = 0;
    if (!dec_parse(&x, a, alen) || !dec_parse(&y, b, blen)) {
        free(x.d);
        return 0;
    }
    long lo = -(long)(x.scale > y.scale ? x.scale : y.scale);
    long hx = (long)x.n - (long)x.scale, hy = (long)y.n - (long)y.scale;
    long hi = (hx > hy ? hx : hy); /* one more place for a carry */
    size_t width = (size_t)(hi - lo + 1);
    char *d = malloc(width + 1);
    if (d) {
        bool neg = x.neg;
        const dec *big = &x, *small = &y;
        int sub = x.neg != y.neg;
        if (sub && dec_cmp_abs(&x, &y, hi, lo) < 0) {
            big = &y;
            small = &x;
            neg = y.neg;
        }
        int carry = 0;
        for (long k = lo; k <= hi; k++) {
            int v = dec_digit(big, k) + (sub ? -(dec_digit(small, k) + carry) : dec_digit(small, k) + carry);
            carry = 0;
            if (v < 0) {
                v += 10;
                carry = 1;
            } else if (v > 9) {
                v -= 10;
                carry = 1;
            }
            d[hi - k] = (char)('0' + v);
        }
        r = dec_text(out, neg, d, width, (size_t)-lo);
        free(d);
    }
    free(x.d);
    free(y.d);
    return r;
}

size_t kv_decimal_div(char *out, const char *a, size_t alen, uint64_t n, size_t frac)
{
    dec x;
    size_t r = 0;
    if (n == 0 || !dec_parse(&x, a, alen)) {
        if (n == 0)
            return 0;
        free(x.d);
        return 0;
    }
    /* long division of the digits, then extra digits until there are frac + 1 after the point */
    size_t extra = frac + 1 > x.scale ? frac + 1 - x.scale : 0;
    size_t total = x.n + extra, fdigits = x.scale + extra;
    char *q = malloc(total + 2);
    unsigned __int128 rem = 0;
    if (q) {
        for (size_t i = 0; i < total; i++) {
            rem = rem * 10 + (unsigned)(i < x.n ? x.d[i] - '0' : 0);
            q[i + 1] = (char)('0' + (int)(rem / n));
            rem %= n;
        }
        q[0] = '0'; /* room for a carry */
        /* keep frac digits after the point; round half to even on the dropped ones and the remainder */
        size_t keep = 1 + total - (fdigits - frac);
        bool up = false;
        if (keep < total + 1) {
            int first = q[keep] - '0';
            bool rest = rem != 0;
            for (size_t i = keep + 1; i < total + 1; i++)
                rest = rest || q[i] != '0';
            up = first > 5 || (first == 5 && (rest || ((q[keep - 1] - '0') & 1)));
        }
        for (size_t i = keep; up && i-- > 0;) {
            if (q[i] == '9') {
                q[i] = '0';
            } else {
                q[i]++;
                up = false;
            }
        }
        r = dec_text(out, x.neg, q, keep, frac);
        free(q);
    }
    free(x.d);
    return r;
}

size_t kv_decimal_mul(char *out, const char *a, size_t alen, const char *b, size_t blen)
{
    dec x, y;
    size_t r = 0;
    if (!dec_parse(&x, a, alen) || !dec_parse(&y, b, blen)) {
        free(x.d);
        return 0;
    }
    size_t n = x.n + y.n;
    int *acc = calloc(n + 1, sizeof(*acc));
    char *d = malloc(n + 1);
    if (acc && d) {
        /* schoolbook, least significant place last: acc[i + j + 1] collects x[i] * y[j] */
        for (size_t i = 0; i < x.n; i++)
            for (size_t j = 0; j < y.n; j++)
                acc[i + j + 1] += (x.d[i] - '0') * (y.d[j] - '0');
        int carry = 0;
        for (size_t k = n; k-- > 0;) {
            int v = acc[k] + carry;
            d[k] = (char)('0' + v % 10);
            carry = v / 10;
        }
        r = dec_text(out, x.neg != y.neg, d, n, x.scale + y.scale);
    }
    free(acc);
    free(d);
    free(x.d);
    free(y.d);
    return r;
}

/* r (width digits, leading zeros kept) compared with b (width digits). */
static int digits_cmp(const char *r, const char *b, size_t width)
{
    int c = memcmp(r, b, width);
    return c < 0 ? -1 : c > 0;
}

/* r -= b, both width digits, r >= b. */
static void digits_sub(char *r, const char *b, size_t width)
{
    int borrow = 0;
    for (size_t k = width; k-- > 0;) {
        int v = (r[k] - '0') - (b[k] - '0') - borrow;
        borrow = v < 0;
        r[k] = (char)('0' + (v < 0 ? v + 10 : v));
    }
}

size_t kv_decimal_quot(char *out, const char *a, size_t alen, const char *b, size_t blen, size_t frac)
{
    dec x, y;
    size_t r = 0;
    if (!dec_parse(&x, a, alen) || !dec_parse(&y, b, blen)) {
        free(x.d);
        return 0;
    }
    /* q * 10^frac = X * 10^(sy - sx + frac) / Y for the digit integers X and Y; frac >= sx keeps it whole */
    size_t shift = y.scale + frac - (frac >= x.scale ? x.scale : frac);
    size_t nn = x.n + shift, width = y.n + 1;
    char *q = malloc(nn + 2), *rem = malloc(width + 1), *div = malloc(width + 1);
    bool zero = true;
    for (size_t i = 0; i < y.n; i++)
        zero = zero && y.d[i] == '0';
    if (q && rem && div && !zero && frac >= x.scale) {
        memset(rem, '0', width);
        div[0] = '0';
        memcpy(div + 1, y.d, y.n);
        for (size_t i = 0; i < nn; i++) {
            memmove(rem, rem + 1, width - 1);
            rem[width - 1] = i < x.n ? x.d[i] : '0';
            int digit = 0;
            while (digits_cmp(rem, div, width) >= 0) {
                digits_sub(rem, div, width);
                digit++;
            }
            q[i + 1] = (char)('0' + digit);
        }
        q[0] = '0'; /* room for a carry */
        /* half to even: compare twice the remainder with the divisor */
        char *twice = malloc(width + 1);
        if (twice) {
            int carry = 0;
            for (size_t k = width; k-- > 0;) {
                int v = 2 * (rem[k] - '0') + carry;
                twice[k] = (char)('0' + v % 10);
                carry = v / 10;
            }
            int c = carry ? 1 : digits_cmp(twice, div, width);
            bool up = c > 0 || (c == 0 && ((q[nn] - '0') & 1));
            for (size_t i = nn + 1; up && i-- > 0;) {
                if (q[i] == '9') {
                    q[i] = '0';
                } else {
                    q[i]++;
                    up = false;
                }
            }
            r = dec_text(out, x.neg != y.neg, q, nn + 1, frac);
            free(twice);
        }
    }
    free(q);
    free(rem);
    free(div);
    free(x.d);
    free(y.d);
    return r;
}

size_t kv_decimal_scale(const char *a, size_t alen)
{
    const char *dot = memchr(a, '.', alen);
    return dot ? alen - (size_t)(dot - a) - 1 : 0;
}
