/* The argv of a Redis command, built piece by piece: constant text is pointed at, formatted text is owned. */
#include "redis_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void arg_add(argbuf *a, const char *s, size_t len)
{
    if (a->cap == 0) {
        a->argv = a->in_argv;
        a->lens = a->in_lens;
        a->cap = KV_ARG_INLINE;
    }
    if (a->n == a->cap) {
        int cap = a->cap * 2;
        bool inline_now = a->argv == a->in_argv;
        const char **argv = inline_now ? malloc(sizeof(*argv) * (size_t)cap)
                                       : realloc(a->argv, sizeof(*argv) * (size_t)cap);
        if (argv) {
            if (inline_now)
                memcpy(argv, a->in_argv, sizeof(a->in_argv));
            a->argv = argv;
        }
        size_t *lens = inline_now ? malloc(sizeof(*lens) * (size_t)cap) : realloc(a->lens, sizeof(*lens) * (size_t)cap);
        if (lens) {
            if (inline_now)
                memcpy(lens, a->in_lens, sizeof(a->in_lens));
            a->lens = lens;
        }
        if (!argv || !lens) {
            /* keep argv and lens both inline or both allocated, so arg_free knows which to free */
            if (argv && inline_now) {
                free(argv);
                a->argv = a->in_argv;
            }
            if (lens && inline_now) {
                free(lens);
                a->lens = a->in_lens;
            }
            a->oom = true;
            return;
        }
        a->cap = cap;
    }
    a->argv[a->n] = s;
    a->lens[a->n++] = len;
}

void arg_cstr(argbuf *a, const char *s) { arg_add(a, s, strlen(s)); }

void arg_key(argbuf *a, const kv_rkey *k) { arg_add(a, k->s, k->len); }

void arg_own(argbuf *a, char *buf, size_t len)
{
    if (buf && a->nowned == a->owned_cap) {
        int cap = a->owned_cap ? a->owned_cap * 2 : 16;
        char **o = realloc(a->owned, sizeof(*o) * (size_t)cap);
        if (o) {
            a->owned = o;
            a->owned_cap = cap;
        }
    }
    if (!buf || a->nowned == a->owned_cap) {
        free(buf);
        a->oom = true;
        return;
    }
    a->owned[a->nowned++] = buf;
    arg_add(a, buf, len);
}

void arg_concat(argbuf *a, const char *p, size_t plen, const char *s, size_t slen)
{
    size_t need = plen + slen + 1;
    char *buf;
    bool in_scratch = need <= sizeof(a->scratch) - a->scratch_used;
    if (in_scratch) {
        buf = a->scratch + a->scratch_used;
        a->scratch_used += need;
    } else {
        buf = malloc(need);
    }
    if (buf) {
        if (plen)
            memcpy(buf, p, plen);
        if (slen)
            memcpy(buf + plen, s, slen);
        buf[plen + slen] = '\0';
    }
    if (in_scratch)
        arg_add(a, buf, plen + slen);
    else
        arg_own(a, buf, plen + slen);
}

void arg_copy(argbuf *a, const char *s, size_t len) { arg_concat(a, s, len, "", 0); }

void arg_int(argbuf *a, int64_t v)
{
    /* small counts are most arguments: point at constant text instead of formatting */
    static const char *const small[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    char num[24];
    if (v >= 0 && v <= 9) {
        arg_add(a, small[v], 1);
        return;
    }
    int n = snprintf(num, sizeof(num), "%" PRId64, v);
    arg_concat(a, num, (size_t)n, "", 0);
}

void arg_free(argbuf *a)
{
    for (int i = 0; i < a->nowned; i++)
        free(a->owned[i]);
    free(a->owned);
    if (a->argv != a->in_argv)
        free(a->argv);
    if (a->lens != a->in_lens)
        free(a->lens);
    a->argv = NULL;
    a->lens = NULL;
    a->n = a->cap = a->nowned = a->owned_cap = 0;
    a->owned = NULL;
    a->oom = false;
    a->scratch_used = 0;
}
