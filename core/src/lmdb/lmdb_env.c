/* LMDB environments and transactions: one MDB_env per directory and process, shared by every engine that opens
 * it (LMDB forbids opening one environment twice in a process: closing the second would drop the first's
 * locks); transactions that hold the map still; growing the map when it is full; LMDB errors as kvorm errors.
 *
 * fork(): an environment is never used across fork(). A child finds no environment of its parent here (entries
 * remember their process) and opens its own; a db inherited from the parent must not be used in the child, and
 * closing it there only frees memory. */
#include "lmdb_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static lm_env *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* The registry lock is never held across fork(): a child of a threaded parent can still open its own db. */
static void lock_registry(void) { pthread_mutex_lock(&registry_mu); }
static void unlock_registry(void) { pthread_mutex_unlock(&registry_mu); }
static void register_atfork(void) { pthread_atfork(lock_registry, unlock_registry, unlock_registry); }

static const char *const db_names[LM_NDBS] = {"meta", "records", "uniques", "index"};

/* ---- errors ---- */

int kv_lmdb_fail(kv_error *err, int rc, const char *model, const char *what)
{
    const char *m = model ? model : "", *sep = model ? ": " : "";
    if (rc == ENOMEM)
        return kv_fail_at(err, KVORM_EINTERNAL, model, NULL, "%s%sout of memory during %s", m, sep, what);
    /* a full map or disk, a read-only file: nothing was written (the transaction is gone), the store is up */
    if (rc == MDB_MAP_FULL || rc == MDB_READERS_FULL || rc == ENOSPC || rc == EROFS || rc == EACCES)
        return kv_fail_at(err, KVORM_EUNAVAILABLE, model, NULL, "%s%sLMDB refused %s: %s", m, sep, what,
                          mdb_strerror(rc));
    return kv_fail_at(err, KVORM_EINTERNAL, model, NULL, "%s%sLMDB error during %s: %s", m, sep, what,
                      mdb_strerror(rc));
}

int kv_lmdb_check(lm_txn *t, int rc, const char *model, const char *what, kv_error *err)
{
    if (rc == 0)
        return 0;
    if (t->mdb_rc == 0)
        t->mdb_rc = rc;
    return kv_lmdb_fail(err, rc, model, what);
}

/* An open that fails: the store cannot be reached there, and trying again will not change that. */
static int open_failed(kv_error *err, const char *path, const char *why)
{
    char where[256];
    kv_sanitize(where, sizeof(where), path, strlen(path));
    kv_fail(err, KVORM_ECONNECTION, "cannot open the LMDB environment at %s: %s", where, why);
    kv_error_set_retryable(err, false);
    return err->code;
}

/* ---- opening ---- */

/* mkdir -p: the directory and any missing parent. Returns 0 or errno. */
static int make_dirs(const char *path)
{
    char *p = strdup(path);
    int rc = 0;
    if (!p)
        return ENOMEM;
    for (char *s = p + 1; *s && rc == 0; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0775) != 0 && errno != EEXIST)
            rc = errno;
        *s = '/';
    }
    if (rc == 0 && mkdir(p, 0775) != 0 && errno != EEXIST)
        rc = errno;
    free(p);
    return rc;
}

static int open_dbs(lm_env *le, kv_error *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(le->env, NULL, le->readonly ? MDB_RDONLY : 0, &txn);
    if (rc != 0)
        return open_failed(err, le->path, mdb_strerror(rc));
    for (int i = 0; i < LM_NDBS && rc == 0; i++)
        rc = mdb_dbi_open(txn, db_names[i], le->readonly ? 0 : MDB_CREATE, &le->dbi[i]);
    if (rc != 0) {
        mdb_txn_abort(txn);
        if (rc == MDB_NOTFOUND)
            return open_failed(err, le->path, "it holds no kvorm data yet (open it once without readonly=1)");
        if (rc == MDB_INCOMPATIBLE)
            return open_failed(err, le->path, "it holds databases kvorm did not write");
        return open_failed(err, le->path, mdb_strerror(rc));
    }
    /* the handles become everyone's once this transaction commits (a read one too) */
    if ((rc = mdb_txn_commit(txn)) != 0)
        return open_failed(err, le->path, mdb_strerror(rc));
    return 0;
}

static int open_env(lm_env *le, const lm_config *cfg, kv_error *err)
{
    unsigned flags = MDB_NOTLS; /* read transactions are not tied to threads: any thread may use the db */
    int rc;
    if (cfg->sync == LM_SYNC_NOSYNC)
        flags |= MDB_NOSYNC;
    else if (cfg->sync == LM_SYNC_NOMETASYNC)
        flags |= MDB_NOMETASYNC;
    if (cfg->readonly)
        flags |= MDB_RDONLY;
    if ((rc = mdb_env_create(&le->env)) != 0)
        return open_failed(err, cfg->path, mdb_strerror(rc));
    rc = mdb_env_set_maxdbs(le->env, LM_NDBS);
    if (rc == 0)
        rc = mdb_env_set_mapsize(le->env, cfg->mapsize);
    if (rc == 0 && cfg->maxreaders)
        rc = mdb_env_set_maxreaders(le->env, cfg->maxreaders);
    if (rc == 0)
        rc = mdb_env_open(le->env, cfg->path, flags, 0664);
    if (rc != 0) {
        mdb_env_close(le->env);
        le->env = NULL;
        if (rc == MDB_INVALID)
            return open_failed(err, cfg->path, "its data.mdb is not an LMDB file");
        if (rc == MDB_VERSION_MISMATCH)
            return open_failed(err, cfg->path, "it was written by an incompatible LMDB version");
        if (rc == ENOENT)
            return open_failed(err, cfg->path, "it holds no LMDB environment (open it once without readonly=1)");
        return open_failed(err, cfg->path, mdb_strerror(rc));
    }
    int dead = 0;
    mdb_reader_check(le->env, &dead); /* reader slots of processes that died */
    le->maxkey = (size_t)mdb_env_get_maxkeysize(le->env);
    mdb_env_get_maxreaders(le->env, &le->maxreaders);
    le->idle_cap = le->maxreaders / 2 < LM_IDLE_READS ? le->maxreaders / 2 : LM_IDLE_READS;
    if ((rc = open_dbs(le, err)) != 0) {
        mdb_env_close(le->env);
        le->env = NULL;
    }
    return rc;
}

/* Frees the idle read transactions (their reader slots with them). Returns how many there were. */
static unsigned drop_idle_reads(lm_env *le)
{
    pthread_mutex_lock(&le->idle_mu);
    unsigned n = le->nidle;
    while (le->nidle > 0)
        mdb_txn_abort(le->idle[--le->nidle]);
    pthread_mutex_unlock(&le->idle_mu);
    return n;
}

static MDB_txn *take_idle_read(lm_env *le)
{
    MDB_txn *txn = NULL;
    pthread_mutex_lock(&le->idle_mu);
    if (le->nidle > 0)
        txn = le->idle[--le->nidle];
    pthread_mutex_unlock(&le->idle_mu);
    return txn;
}

/* Ends a read transaction: reset and kept for the next read, or aborted when enough are kept. */
static void end_read(lm_env *le, MDB_txn *txn)
{
    mdb_txn_reset(txn);
    pthread_mutex_lock(&le->idle_mu);
    if (le->nidle < le->idle_cap) {
        le->idle[le->nidle++] = txn;
        txn = NULL;
    }
    pthread_mutex_unlock(&le->idle_mu);
    if (txn)
        mdb_txn_abort(txn);
}

static void env_free(lm_env *le)
{
    if (le->env) {
        drop_idle_reads(le);
        mdb_env_close(le->env);
    }
    pthread_mutex_destroy(&le->idle_mu);
    pthread_rwlock_destroy(&le->resize);
    free(le->path);
    free(le);
}

int kv_lmdb_env_acquire(lm_env **out, const lm_config *cfg, kv_error *err)
{
    struct stat st;
    int rc;
    *out = NULL;
    if (cfg->readonly) {
        if (stat(cfg->path, &st) != 0)
            return open_failed(err, cfg->path, "the directory does not exist (readonly=1 opens an existing one)");
    } else if ((rc = make_dirs(cfg->path)) != 0) {
        char why[160];
        snprintf(why, sizeof(why), "cannot create the directory: %s", strerror(rc));
        return open_failed(err, cfg->path, why);
    }
    if (stat(cfg->path, &st) != 0)
        return open_failed(err, cfg->path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return open_failed(err, cfg->path, "it is not a directory");
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&registry_mu);
    for (lm_env *le = registry; le; le = le->next) {
        if (le->dev != st.st_dev || le->ino != st.st_ino || le->pid != getpid())
            continue;
        if (le->readonly && !cfg->readonly) {
            pthread_mutex_unlock(&registry_mu);
            char where[256];
            kv_sanitize(where, sizeof(where), cfg->path, strlen(cfg->path));
            return kv_fail(err, KVORM_EMISUSE,
                           "the LMDB environment at %s is already open read-only in this process: close that db "
                           "first, or open the read-write one first",
                           where);
        }
        le->refs++;
        pthread_mutex_unlock(&registry_mu);
        *out = le;
        return 0;
    }
    lm_env *le = calloc(1, sizeof(*le));
    pthread_rwlockattr_t attr;
    if (!le || !(le->path = strdup(cfg->path))) {
        pthread_mutex_unlock(&registry_mu);
        free(le);
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    }
    /* writer preference: a thread waiting to grow the map is not starved by a stream of readers */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&le->resize, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&le->idle_mu, NULL);
    le->dev = st.st_dev;
    le->ino = st.st_ino;
    le->pid = getpid();
    le->refs = 1;
    le->readonly = cfg->readonly;
    le->max_mapsize = cfg->max_mapsize;
    /* opened under the registry lock, so that two threads opening one directory share one environment */
    if ((rc = open_env(le, cfg, err)) == 0 && (rc = kv_lmdb_check_format(le, err)) == 0) {
        le->next = registry;
        registry = le;
        *out = le;
    }
    pthread_mutex_unlock(&registry_mu);
    if (rc != 0)
        env_free(le);
    return rc;
}

void kv_lmdb_env_release(lm_env *le)
{
    if (!le)
        return;
    if (le->pid != getpid()) {
        /* inherited across fork(): the parent's environment is not ours to close */
        return;
    }
    pthread_mutex_lock(&registry_mu);
    bool last = --le->refs == 0;
    if (last)
        for (lm_env **p = &registry; *p; p = &(*p)->next)
            if (*p == le) {
                *p = le->next;
                break;
            }
    pthread_mutex_unlock(&registry_mu);
    if (last)
        env_free(le);
}

/* ---- transactions ---- */

/* The snapshot this thread holds (one at a time, on one environment): depth counts nested begins. */
static _Thread_local struct {
    lm_env *env;
    lm_txn txn;
    int depth;
} snapshot;

int kv_lmdb_begin(lm_env *le, bool write, lm_txn *t, kv_error *err)
{
    if (!write && snapshot.depth > 0 && snapshot.env == le) {
        *t = snapshot.txn;
        t->borrowed = true;
        return 0;
    }
    memset(t, 0, sizeof(*t));
    t->env = le;
    t->read = !write;
    if (write && __atomic_fetch_add(&le->writes, 1, __ATOMIC_RELAXED) % KV_LMDB_READER_CHECK_EVERY == 0) {
        /* A process killed in a read leaves its slot, and its snapshot keeps every page freed since from reuse:
         * the file would grow with each write. Clearing dead slots costs a lock test per reading process. */
        int dead = 0;
        mdb_reader_check(le->env, &dead);
    }
    for (int attempt = 0;; attempt++) {
        MDB_envinfo info;
        pthread_rwlock_rdlock(&le->resize);
        mdb_env_info(le->env, &info);
        t->mapsize = info.me_mapsize;
        MDB_txn *idle = write ? NULL : take_idle_read(le);
        if (idle && mdb_txn_renew(idle) == 0) {
            t->txn = t->root = idle;
            return 0;
        }
        if (idle)
            mdb_txn_abort(idle); /* (the map was resized, say): a new transaction says what is wrong */
        int rc = mdb_txn_begin(le->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
        if (rc == 0) {
            t->root = t->txn;
            return 0;
        }
        pthread_rwlock_unlock(&le->resize);
        if (rc == MDB_MAP_RESIZED && attempt < 8) {
            /* another process grew the map: take its size (no transaction of ours may be active) */
            pthread_rwlock_wrlock(&le->resize);
            mdb_env_set_mapsize(le->env, 0);
            pthread_rwlock_unlock(&le->resize);
            continue;
        }
        if (rc == MDB_READERS_FULL) {
            int dead = 0;
            if (attempt < 8 && drop_idle_reads(le) > 0)
                continue; /* the idle read transactions' slots were freed */
            if (attempt < 8 && mdb_reader_check(le->env, &dead) == 0 && dead > 0)
                continue; /* slots of dead processes were freed */
            char where[256];
            kv_sanitize(where, sizeof(where), le->path, strlen(le->path));
            return kv_fail(err, KVORM_EUNAVAILABLE,
                           "every reader slot of the LMDB environment at %s is taken (maxreaders=%u): raise the "
                           "maxreaders URL parameter, or run fewer reads at once",
                           where, le->maxreaders);
        }
        return kv_lmdb_fail(err, rc, NULL, write ? "beginning a write transaction" : "beginning a read transaction");
    }
}

int kv_lmdb_commit(lm_txn *t)
{
    /* a failed commit frees the transaction too */
    int rc = mdb_txn_commit(t->root);
    if (rc != 0 && t->mdb_rc == 0)
        t->mdb_rc = rc;
    t->txn = t->root = NULL;
    pthread_rwlock_unlock(&t->env->resize);
    return rc;
}

void kv_lmdb_abort(lm_txn *t)
{
    if (t->borrowed) {
        t->txn = t->root = NULL;
        return;
    }
    if (!t->root)
        return;
    if (t->read)
        end_read(t->env, t->root);
    else
        mdb_txn_abort(t->root); /* and a nested transaction still open under it */
    t->txn = t->root = NULL;
    pthread_rwlock_unlock(&t->env->resize);
}

int kv_lmdb_snapshot(kv_engine *eng, bool begin, kv_error *err)
{
    lm_env *le = ((lmdb_engine *)eng)->env;
    if (snapshot.depth > 0 && snapshot.env != le)
        return 0; /* another environment's: this one's reads go on one by one (its end is a no-op too) */
    if (!begin) {
        if (snapshot.depth > 0 && --snapshot.depth == 0)
            kv_lmdb_abort(&snapshot.txn);
        return 0;
    }
    if (snapshot.depth == 0) {
        int rc = kv_lmdb_begin(le, false, &snapshot.txn, err);
        if (rc != 0)
            return rc;
        snapshot.env = le;
    }
    snapshot.depth++;
    return 0;
}

int kv_lmdb_grow(lm_env *le, size_t seen, kv_error *err)
{
    MDB_envinfo info;
    int rc = 0;
    pthread_rwlock_wrlock(&le->resize);
    mdb_env_info(le->env, &info);
    size_t cur = info.me_mapsize;
    if (cur <= seen) {
        if (cur >= le->max_mapsize) {
            pthread_rwlock_unlock(&le->resize);
            char where[256];
            kv_sanitize(where, sizeof(where), le->path, strlen(le->path));
            return kv_fail(err, KVORM_EUNAVAILABLE,
                           "the LMDB environment at %s is full: its map is %zu bytes, the most maxmapsize allows; "
                           "open it with larger mapsize and maxmapsize URL parameters (nothing was written)",
                           where, cur);
        }
        size_t next = cur > le->max_mapsize / 2 ? le->max_mapsize : cur * 2;
        rc = mdb_env_set_mapsize(le->env, next);
    }
    pthread_rwlock_unlock(&le->resize);
    return rc ? kv_lmdb_fail(err, rc, NULL, "growing the map") : 0;
}

int kv_lmdb_refuse_readonly(lmdb_engine *e, const char *model, kv_error *err)
{
    char where[256];
    kv_sanitize(where, sizeof(where), e->env->path, strlen(e->env->path));
    kv_fail_at(err, KVORM_EUNAVAILABLE, model, NULL,
               "%s%sthe LMDB environment at %s is open read-only (readonly=1): nothing was written",
               model ? model : "", model ? ": " : "", where);
    kv_error_set_retryable(err, false);
    return err->code;
}

int kv_lmdb_write(lmdb_engine *e, const char *model, lm_write_fn fn, void *ctx, kv_error *err)
{
    if (e->readonly)
        return kv_lmdb_refuse_readonly(e, model, err);
    for (;;) {
        lm_txn t;
        int rc = kv_lmdb_begin(e->env, true, &t, err);
        if (rc != 0)
            return rc;
        if ((rc = fn(&t, ctx, err)) == 0) {
            if (kv_lmdb_commit(&t) == 0)
                return 0;
            rc = kv_lmdb_fail(err, t.mdb_rc, model, "the commit");
        } else {
            kv_lmdb_abort(&t);
        }
        if (t.mdb_rc != MDB_MAP_FULL)
            return rc;
        /* nothing was written: grow the map and run it all again (the growth ends at the cap) */
        if ((rc = kv_lmdb_grow(e->env, t.mapsize, err)) != 0)
            return rc;
    }
}
