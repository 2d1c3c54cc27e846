/* The steps of a run inside the Redis engine (redis_run.c): what it keeps about each while it runs, and the pieces
 * that running them one group at a time (redis_run.c) and all or nothing (redis_run_all.c) share. */
#ifndef KVORM_REDIS_STEPS_H
#define KVORM_REDIS_STEPS_H

#include "redis_internal.h"

/* Outcome of a step within a group, beyond its rc. */
enum { S_PENDING, S_DONE, S_RERUN };

/* How a write's script runs: alone, or as the check or the guarded write of an all-or-nothing group. */
typedef enum write_mode { MODE_ALONE, MODE_CHECK, MODE_APPLY } write_mode;

/* What the engine keeps about one step while it runs. */
typedef struct stepx {
    kv_step *st;
    const kv_write *w;       /* st->write */
    const kv_model_keys *k;
    bool pre;                /* a write computed from the record as read first */
    bool gen;                /* creates under a generated integer id */
    bool have_gen;
    char gen_id[24];
    size_t gen_len;
    kv_record old;           /* the record it read (values point into the read's reply) */
    bool old_found;
    const char *old_id;
    size_t old_id_len;
    bool cmd;                /* has a command in the transaction being built */
    int state;
    write_mode mode;
    size_t checks;           /* MODE_APPLY: the checks that must all have passed */
    redis_engine *e;         /* the key names of the models its guards read */
    const kv_rkey *guard;    /* the guard key of its all-or-nothing group (that of the group's first model) */
} stepx;

/* Sets up sx[0..n-1] for steps (their outcomes cleared) and finds their key names; a step whose model has none
 * fails, done. */
void kv_redis_steps_init(redis_engine *e, stepx *sx, kv_step **steps, size_t n);
/* Reads the records the writes of sx[0..n-1] are computed from, and takes their generated ids, in one pipeline.
 * Returns 0, or the error (in sx[0]'s err) that broke the connection; a step's own failure is in the step. */
int kv_redis_prepare(redis_engine *e, redisContext *c, stepx *sx, size_t n, bool *broken);
/* The first write that must not share a transaction with the writes before it, or n. */
size_t kv_redis_conflict_at(const stepx *sx, size_t n);
/* Appends the command of sx (its write in sx->mode, or its read); one that cannot be formatted fails alone. */
void kv_redis_add_command(kv_cmdbuf *cmds, stepx *sx, const char *sha);
/* Appends the check command of the write of sx to checks and its apply command to applies (run_all), formatting
 * its arguments once; one that cannot be formatted fails alone (sx->cmd false). */
void kv_redis_add_check_and_apply(kv_cmdbuf *checks, kv_cmdbuf *applies, stepx *sx, const char *sha);
/* Takes the main script's reply to a write into its step (S_RERUN: to run again). */
void kv_redis_write_reply(stepx *sx, redisReply *r);
void kv_redis_step_reset(stepx *sx);
void kv_redis_step_forget(stepx *sx);
/* The connection failed in the group [from, group_end): every step from `from` on shares the error why_in; sent
 * says the group's writes had left (their outcome is then unknown). */
void kv_redis_fail_from(stepx *sx, size_t n, size_t from, size_t group_end, const kv_error *why_in, bool sent);

#endif
