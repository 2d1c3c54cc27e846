/* bench_util: the helpers the C benchmarks share (see bench_util.h). */
#define _POSIX_C_SOURCE 200809L

#include "bench_util.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *bench_prog = "bench";
void (*bench_on_die)(void);

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", bench_prog);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (bench_on_die) {
        void (*hook)(void) = bench_on_die;
        bench_on_die = NULL; /* a die() inside the hook must not run it again */
        hook();
    }
    exit(1);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

double cpu_s(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

void print_msgpack(FILE *f, const void *data, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (data && msgpack_unpack_next(&u, data, len, &off) == MSGPACK_UNPACK_SUCCESS)
        msgpack_object_print(f, u.data);
    else
        fprintf(f, "<%zu bytes, not MessagePack>", len);
    msgpack_unpacked_destroy(&u);
}

void kv_exec_ok(kvorm_db *db, const void *req, size_t req_len, unsigned char **out, size_t *out_len)
{
    int st = kvorm_exec(out, out_len, db, req, req_len);
    if (st == KVORM_OK)
        return;
    fprintf(stderr, "%s: kvorm_exec failed: status %d (%s): %s\n  request:  ", bench_prog, st, kvorm_error_name(st),
            kvorm_last_error_message());
    if (req_len < 4096)
        print_msgpack(stderr, req, req_len);
    else
        fprintf(stderr, "<%zu bytes>", req_len);
    fputs("\n  response: ", stderr);
    if (*out)
        print_msgpack(stderr, *out, *out_len);
    fputc('\n', stderr);
    kvorm_free(*out);
    *out = NULL;
    die("aborting: kvorm must return status 0 for the benchmark to measure real work");
}

void pk_strn(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void pk_str(msgpack_packer *pk, const char *s)
{
    pk_strn(pk, s, strlen(s));
}

void pk_request_head(msgpack_packer *pk, const char *model, const char *op, size_t nargs)
{
    msgpack_pack_map(pk, 3);
    PK_LIT(pk, "model");
    pk_str(pk, model);
    PK_LIT(pk, "op");
    pk_str(pk, op);
    PK_LIT(pk, "args");
    msgpack_pack_map(pk, nargs);
}

void pk_explain_head(msgpack_packer *pk, const char *model, const char *op)
{
    pk_request_head(pk, model, "explain", 2);
    PK_LIT(pk, "op");
    pk_str(pk, op);
    PK_LIT(pk, "args");
}

const msgpack_object *map_get(const msgpack_object *m, const char *key)
{
    if (m->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen && memcmp(k->via.str.ptr, key, klen) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

int compare_doubles(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

double warmup_seconds(double secs)
{
    return secs / 8 < 0.05 ? 0.05 : secs / 8 > 0.5 ? 0.5 : secs / 8;
}

int round_count(double secs)
{
    int rounds = (int)(secs / SLOT_SECONDS + 0.5);
    rounds += rounds % 2;
    return rounds < 2 ? 2 : rounds > MAX_ROUNDS ? MAX_ROUNDS : rounds;
}

double median_sorted(const double *v, int n)
{
    return (v[(n - 1) / 2] + v[n / 2]) / 2;
}

/* ---- Redis and explain ---- */

long long info_field(const char *info, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = info; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == info || p[-1] == '\n') && p[n] == ':')
            return strtoll(p + n + 1, NULL, 10);
    }
    return -1;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

char *lex_bound(const msgpack_object *o, bool is_hi, size_t *len)
{
    if (o->type == MSGPACK_OBJECT_NIL) {
        char *s = xmalloc(2);
        s[0] = is_hi ? '+' : '-';
        s[1] = '\0';
        *len = 1;
        return s;
    }
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size < 1 || o->via.str.size % 2 != 1 ||
        (o->via.str.ptr[0] != '[' && o->via.str.ptr[0] != '('))
        die("explain's range bound is not \"[<hex>\", \"(<hex>\" or nil");
    size_t n = o->via.str.size / 2;
    char *s = xmalloc(n + 2);
    s[0] = o->via.str.ptr[0];
    for (size_t i = 0; i < n; i++) {
        int h = hexval(o->via.str.ptr[1 + 2 * i]), l = hexval(o->via.str.ptr[2 + 2 * i]);
        if (h < 0 || l < 0)
            die("explain's range bound is not hex");
        s[1 + i] = (char)(h << 4 | l);
    }
    s[n + 1] = '\0';
    *len = n + 1;
    return s;
}
