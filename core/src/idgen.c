#include "idgen.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* The random part is a counter within one millisecond: a second id in the same millisecond is the previous
 * one plus one, so ids from one process sort in creation order (the ULID spec's monotonic mode). */
typedef struct id_state {
    uint64_t ms;
    uint64_t hi, lo; /* random bits: hi holds the bits above 64 */
} id_state;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static id_state ulid_state, uuid_state;

/* Random bytes come from getrandom() in batches: one system call per 16 new milliseconds, not per id. */
static unsigned char pool[256];
static size_t pool_used = sizeof(pool);

/* A forked child must not continue the parent's sequence or reuse its random bytes: the two would make the
 * same ids. */
static void reset_in_child(void)
{
    pthread_mutex_init(&lock, NULL);
    memset(&ulid_state, 0, sizeof(ulid_state));
    memset(&uuid_state, 0, sizeof(uuid_state));
    pool_used = sizeof(pool);
}

static void register_fork_handler(void) { pthread_atfork(NULL, NULL, reset_in_child); }

static int random_words(uint64_t out[2])
{
    if (pool_used + 16 > sizeof(pool)) {
        if (getrandom(pool, sizeof(pool), 0) != (ssize_t)sizeof(pool))
            return -1;
        pool_used = 0;
    }
    memcpy(out, pool + pool_used, 16);
    memset(pool + pool_used, 0, 16); /* used bytes do not linger */
    pool_used += 16;
    return 0;
}

static uint64_t real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The clock the ids read: the real one unless a test set another (kv_idgen_set_clock_for_testing). */
static uint64_t (*_Atomic clock_fn)(void) = real_now_ms;

static uint64_t now_ms(void) { return atomic_load(&clock_fn)(); }

void kv_idgen_set_clock_for_testing(uint64_t (*fn)(void))
{
    pthread_once(&once, register_fork_handler);
    pthread_mutex_lock(&lock);
    atomic_store(&clock_fn, fn ? fn : real_now_ms);
    memset(&ulid_state, 0, sizeof(ulid_state));
    memset(&uuid_state, 0, sizeof(uuid_state));
    pthread_mutex_unlock(&lock);
}

/* Next (ms, random) pair, hi_bits wide above the low 64 bits. */
static int next(id_state *st, unsigned hi_bits, uint64_t *ms, uint64_t *hi, uint64_t *lo)
{
    uint64_t t = now_ms(), mask = (1ull << hi_bits) - 1;
    pthread_once(&once, register_fork_handler);
    pthread_mutex_lock(&lock);
    if (t <= st->ms) {
        /* same millisecond (or the clock went back): count up from the last id */
        if (++st->lo == 0 && ((++st->hi) & mask) == 0) {
            st->ms++; /* 2^74 ids in one ms: borrow the next millisecond */
            st->hi = 0;
        }
    } else {
        uint64_t r[2];
        if (random_words(r) != 0) {
            pthread_mutex_unlock(&lock);
            return -1;
        }
        st->ms = t;
        st->lo = r[0];
        st->hi = r[1] & (mask >> 1); /* top bit clear leaves room to count up */
    }
    *ms = st->ms;
    *hi = st->hi & mask;
    *lo = st->lo;
    pthread_mutex_unlock(&lock);
    return 0;
}

int kv_ulid_new(char *out)
{
    static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint64_t ms, hi, lo;
    if (next(&ulid_state, 16, &ms, &hi, &lo) != 0)
        return -1;
    /* 128 bits = 48-bit time | 80-bit random, as 26 base32 digits (the first holds 3 bits). */
    uint64_t top = (ms & 0xffffffffffffull) << 16 | hi; /* upper 64 bits */
    for (int i = 25; i >= 0; i--) {
        out[i] = crockford[lo & 31];
        lo = lo >> 5 | top << 59;
        top >>= 5;
    }
    out[KV_ULID_LEN] = '\0';
    return 0;
}

int kv_uuidv7_new(char *out)
{
    uint64_t ms, hi, lo;
    if (next(&uuid_state, 10, &ms, &hi, &lo) != 0)
        return -1;
    /* 74 counter bits: rand_a (12) holds hi (10 bits) and the top 2 bits of lo; rand_b holds the other 62. */
    uint64_t rand_a = hi << 2 | lo >> 62, rand_b = lo & 0x3fffffffffffffffull;
    uint64_t upper = (ms & 0xffffffffffffull) << 16 | 0x7000u | (rand_a & 0xfff);
    uint64_t lower = 0x8000000000000000ull | rand_b;
    snprintf(out, KV_UUID_LEN + 1, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(upper >> 32),
             (unsigned)(upper >> 16) & 0xffff, (unsigned)upper & 0xffff, (unsigned)(lower >> 48),
             (unsigned long long)(lower & 0xffffffffffffull));
    return 0;
}
