/*
 * bench_util - the small helpers the C benchmarks (redis_bench, query_bench, lmdb_bench) share: the fatal-error
 * exit with the program's name, the clocks, printing MessagePack, packing kvorm requests, reading a decoded
 * MessagePack map, a checked kvorm_exec, reading INFO fields and explain's range bounds, and the arithmetic of the
 * ABBA rounds (warm-up, number of rounds,
 * median round ratio). The measuring loops stay in each benchmark.
 */
#ifndef KVORM_BENCH_UTIL_H
#define KVORM_BENCH_UTIL_H

#include <kvorm.h>

#include <msgpack.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The name die() and kv_exec_ok() put before their messages; main sets it ("redis_bench", ...). */
extern const char *bench_prog;
/* Called once by die() before it exits (e.g. to delete the benchmark's keys); NULL: none. */
extern void (*bench_on_die)(void);

/* Prints "<bench_prog>: <message>" to stderr, runs bench_on_die and exits with status 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* malloc that dies on failure (never NULL, also for n == 0). */
void *xmalloc(size_t n);

/* Seconds of CLOCK_MONOTONIC, and of the process's CPU time (user + system). */
double now_s(void);
double cpu_s(void);

/* Prints the first MessagePack object of data, or "<N bytes, not MessagePack>". */
void print_msgpack(FILE *f, const void *data, size_t len);

/* Runs a request on db; unless the status is 0, prints the status, the error, the request and the response and
 * dies. On success the caller frees *out with kvorm_free. */
void kv_exec_ok(kvorm_db *db, const void *req, size_t req_len, unsigned char **out, size_t *out_len);

/* MessagePack strings: one of n bytes, a NUL-terminated one, a string literal. */
void pk_strn(msgpack_packer *pk, const char *s, size_t n);
void pk_str(msgpack_packer *pk, const char *s);
#define PK_LIT(pk, s) pk_strn(pk, s, sizeof(s) - 1)
/* {"model":<model>,"op":<op>,"args":{<nargs entries follow>}} */
void pk_request_head(msgpack_packer *pk, const char *model, const char *op, size_t nargs);
/* An explain of op: {"model":<model>,"op":"explain","args":{"op":<op>,"args":<the query's args follow>}} */
void pk_explain_head(msgpack_packer *pk, const char *model, const char *op);

/* The value of key in a decoded MessagePack map, or NULL (also when m is not a map). */
const msgpack_object *map_get(const msgpack_object *m, const char *key);

/* A numeric field of an INFO reply ("name:value"), or -1. */
long long info_field(const char *info, const char *name);
/* A bound of explain's "ranges" ("[<hex>" inclusive, "(<hex>" exclusive, nil open) as a ZRANGE BYLEX bound
 * ("-"/"+" when open), allocated; dies on anything else. */
char *lex_bound(const msgpack_object *o, bool is_hi, size_t *len);

/* ABBA rounds: one side's turn lasts about SLOT_SECONDS; sides alternate kvorm,other | other,kvorm | ... */
#define SLOT_SECONDS 0.25
#define MAX_ROUNDS 64
/* The warm-up of each side before a case of secs per side: secs / 8, within 0.05 .. 0.5 s. */
double warmup_seconds(double secs);
/* The rounds of a case of secs per side: secs / SLOT_SECONDS rounded, made even, within 2 .. MAX_ROUNDS. */
int round_count(double secs);
/* qsort comparator of doubles, ascending. */
int compare_doubles(const void *x, const void *y);
/* The median of n > 0 sorted values (the mean of the middle two when n is even). */
double median_sorted(const double *v, int n);

#endif
