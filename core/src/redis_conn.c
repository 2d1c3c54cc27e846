#include "redis_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Copies s[0..n) into dst, decoding %XX (user names and passwords may hold any byte). */
static bool decode_part(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap)
            return false;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return true;
}

static bool parse_int(const char *s, size_t n, int min, int max, int *out)
{
    long v = 0;
    if (n == 0 || n > 9)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

static int bad_url(kv_error *err, const char *url, const char *why)
{
    /* never echo the URL: it may hold a password */
    (void)url;
    return kv_fail(err, KVORM_EMISUSE, "invalid URL: %s", why);
}

static int parse_query(kv_redis_config *cfg, const char *q, kv_error *err, const char *url)
{
    while (q && *q) {
        const char *amp = strchr(q, '&'), *end = amp ? amp : q + strlen(q);
        const char *eq = memchr(q, '=', (size_t)(end - q));
        if (!eq)
            return bad_url(err, url, "a query parameter has no '='");
        size_t klen = (size_t)(eq - q), vlen = (size_t)(end - eq - 1);
        const char *v = eq + 1;
#define KEY_IS(k) (klen == strlen(k) && memcmp(q, k, klen) == 0)
        if (KEY_IS("db")) {
            if (!parse_int(v, vlen, 0, 1 << 20, &cfg->db))
                return bad_url(err, url, "db must be a non-negative integer");
        } else if (KEY_IS("timeout")) {
            if (!parse_int(v, vlen, 1, 86400000, &cfg->command_timeout_ms))
                return bad_url(err, url, "timeout must be milliseconds > 0");
        } else if (KEY_IS("connect_timeout")) {
            if (!parse_int(v, vlen, 1, 86400000, &cfg->connect_timeout_ms))
                return bad_url(err, url, "connect_timeout must be milliseconds > 0");
        } else if (KEY_IS("pool")) {
            if (!parse_int(v, vlen, 1, 1024, &cfg->pool_size))
                return bad_url(err, url, "pool must be 1 to 1024");
        } else if (KEY_IS("user")) {
            if (!decode_part(cfg->user, sizeof(cfg->user), v, vlen))
                return bad_url(err, url, "bad user");
        } else if (KEY_IS("password")) {
            if (!decode_part(cfg->password, sizeof(cfg->password), v, vlen))
                return bad_url(err, url, "bad password");
        } else {
        {
            char name[96];
            kv_quote(name, sizeof(name), q, klen);
            return kv_fail(err, KVORM_EMISUSE,
                           "invalid URL: unknown parameter %s (db, timeout, connect_timeout, pool, user, password)",
                           name);
        }
        }
#undef KEY_IS
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}

int kv_redis_parse_url(kv_redis_config *cfg, const char *url, kv_error *err)
{
    const char *rest, *query;
    if (strncmp(url, "unix://", 7) == 0) {
        rest = url + 7;
        query = strchr(rest, '?');
        size_t n = query ? (size_t)(query - rest) : strlen(rest);
        if (n == 0 || rest[0] != '/' || !decode_part(cfg->path, sizeof(cfg->path), rest, n))
            return bad_url(err, url, "unix:// needs an absolute socket path, as unix:///run/redis.sock");
        cfg->is_unix = true;
        return parse_query(cfg, query ? query + 1 : NULL, err, url);
    }
    if (strncmp(url, "redis://", 8) != 0)
        return kv_fail(err, KVORM_EMISUSE, "invalid URL: the scheme must be redis:// or unix://");
    rest = url + 8;
    query = strchr(rest, '?');
    const char *end = query ? query : rest + strlen(rest);
    const char *slash = memchr(rest, '/', (size_t)(end - rest));
    const char *auth_end = slash ? slash : end;
    const char *at = NULL;
    for (const char *p = rest; p < auth_end; p++)
        if (*p == '@')
            at = p; /* the last '@': passwords may contain one when not percent-encoded */
    const char *hostpart = rest;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (colon) {
            if (!decode_part(cfg->user, sizeof(cfg->user), rest, (size_t)(colon - rest)) ||
                !decode_part(cfg->password, sizeof(cfg->password), colon + 1, (size_t)(at - colon - 1)))
                return bad_url(err, url, "bad user or password");
        } else if (!decode_part(cfg->password, sizeof(cfg->password), rest, (size_t)(at - rest))) {
            return bad_url(err, url, "bad password");
        }
        hostpart = at + 1;
    }
    const char *hend = auth_end, *portsep = NULL;
    if (hostpart < hend && *hostpart == '[') {
        const char *close = memchr(hostpart, ']', (size_t)(hend - hostpart));
        if (!close)
            return bad_url(err, url, "unclosed '[' in the host");
        if (!decode_part(cfg->host, sizeof(cfg->host), hostpart + 1, (size_t)(close - hostpart - 1)))
            return bad_url(err, url, "bad host");
        portsep = close + 1 < hend && close[1] == ':' ? close + 1 : NULL;
    } else {
        portsep = memchr(hostpart, ':', (size_t)(hend - hostpart));
        size_t hlen = (size_t)((portsep ? portsep : hend) - hostpart);
        if (hlen == 0)
            memcpy(cfg->host, "127.0.0.1", 10);
        else if (!decode_part(cfg->host, sizeof(cfg->host), hostpart, hlen))
            return bad_url(err, url, "bad host");
    }
    cfg->port = 6379;
    if (portsep && !parse_int(portsep + 1, (size_t)(hend - portsep - 1), 1, 65535, &cfg->port))
        return bad_url(err, url, "the port must be 1 to 65535");
    if (slash && slash + 1 < end && !parse_int(slash + 1, (size_t)(end - slash - 1), 0, 1 << 20, &cfg->db))
        return bad_url(err, url, "the path must be a database number, as redis://host:6379/0");
    cfg->is_unix = false;
    return parse_query(cfg, query ? query + 1 : NULL, err, url);
}

static struct timeval ms_to_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* The server's address for a message (the host or path come from the caller's URL: sanitized). */
static const char *where(const kv_redis_config *cfg, char *buf, size_t cap)
{
    char safe[512];
    if (cfg->is_unix) {
        kv_sanitize(safe, sizeof(safe), cfg->path, strlen(cfg->path));
        snprintf(buf, cap, "unix:%s", safe);
    } else {
        kv_sanitize(safe, sizeof(safe), cfg->host, strlen(cfg->host));
        snprintf(buf, cap, "%s:%d", safe, cfg->port);
    }
    return buf;
}

/* The first word of a Redis error reply is its code: these say Redis is up but cannot serve the command now,
 * and ran nothing of it (a script stops at its first write, before anything is written). */
bool kv_redis_unavailable(const redisReply *r)
{
    static const char *const codes[] = {"LOADING", "BUSY", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN",
                                        "NOREPLICAS", "OOM", NULL};
    if (r->type != REDIS_REPLY_ERROR || !r->str)
        return false;
    for (const char *const *c = codes; *c; c++) {
        size_t n = strlen(*c);
        if (r->len >= n && memcmp(r->str, *c, n) == 0 && (r->len == n || r->str[n] == ' '))
            return true;
    }
    return false;
}

int kv_redis_error(kv_error *err, int code, const char *model, const char *what, const redisReply *r)
{
    char text[256];
    const char *sep = model ? ": " : "";
    if (r->type == REDIS_REPLY_ERROR && r->str)
        kv_sanitize(text, sizeof(text), r->str, r->len);
    else
        snprintf(text, sizeof(text), "an unexpected reply (type %d)", r->type);
    if (kv_redis_unavailable(r))
        return kv_fail_at(err, KVORM_EUNAVAILABLE, model, NULL,
                          "%s%sRedis cannot serve %s now: %s (nothing was written; retry later)", model ? model : "",
                          sep, what, text);
    return kv_fail_at(err, code, model, NULL, "%s%sRedis error from %s: %s", model ? model : "", sep, what, text);
}

/* The error of a refused AUTH or SELECT: UNAVAILABLE when Redis cannot serve now, else CONNECTION, which
 * retrying with the same URL would not change. */
static int setup_error(kv_error *err, const char *what, const redisReply *r)
{
    char text[256];
    if (kv_redis_unavailable(r))
        return kv_redis_error(err, KVORM_ECONNECTION, NULL, what, r);
    kv_sanitize(text, sizeof(text), r->str ? r->str : "", r->str ? r->len : 0);
    kv_fail(err, KVORM_ECONNECTION, "%s failed: %s", what, text);
    kv_error_set_retryable(err, false);
    return err->code;
}

static int setup(redisContext *c, const kv_redis_config *cfg, kv_error *err)
{
    redisReply *r;
    bool broken = false;
    char dbtext[16], what[48];
    int rc = 0;
    if (cfg->password[0]) {
        const char *argv[3] = {"AUTH", cfg->user, cfg->password};
        size_t lens[3] = {4, strlen(cfg->user), strlen(cfg->password)};
        int argc = cfg->user[0] ? 3 : 2;
        if (argc == 2) {
            argv[1] = cfg->password;
            lens[1] = lens[2];
        }
        if (kv_redis_run(c, argc, argv, lens, &r, &broken, NULL, err) != 0)
            return err->code;
        rc = r->type == REDIS_REPLY_ERROR ? setup_error(err, "authentication", r) : 0;
        freeReplyObject(r);
        if (rc != 0)
            return rc;
    }
    if (cfg->db != 0) {
        const char *argv[2] = {"SELECT", dbtext};
        size_t lens[2] = {6, (size_t)snprintf(dbtext, sizeof(dbtext), "%d", cfg->db)};
        if (kv_redis_run(c, 2, argv, lens, &r, &broken, NULL, err) != 0)
            return err->code;
        snprintf(what, sizeof(what), "selecting database %d", cfg->db);
        rc = r->type == REDIS_REPLY_ERROR ? setup_error(err, what, r) : 0;
        freeReplyObject(r);
    }
    return rc;
}

static int connect_one(const kv_redis_config *cfg, redisContext **out, kv_error *err)
{
    char w[4200];
    redisContext *c = cfg->is_unix ? redisConnectUnixWithTimeout(cfg->path, ms_to_tv(cfg->connect_timeout_ms))
                                   : redisConnectWithTimeout(cfg->host, cfg->port, ms_to_tv(cfg->connect_timeout_ms));
    if (!c)
        return kv_fail(err, KVORM_EINTERNAL, "out of memory connecting to Redis");
    if (c->err) {
        int code = (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EINPROGRESS || errno == ETIMEDOUT))
                       ? KVORM_ETIMEOUT
                       : KVORM_ECONNECTION;
        char why[256];
        kv_sanitize(why, sizeof(why), c->errstr, strlen(c->errstr));
        kv_fail(err, code, "cannot connect to Redis at %s: %s", where(cfg, w, sizeof(w)), why);
        redisFree(c);
        return code;
    }
    if (redisSetTimeout(c, ms_to_tv(cfg->command_timeout_ms)) != REDIS_OK) {
        redisFree(c);
        return kv_fail(err, KVORM_ECONNECTION, "cannot set up the connection to %s", where(cfg, w, sizeof(w)));
    }
    if (setup(c, cfg, err) != 0) {
        redisFree(c);
        return err->code;
    }
    *out = c;
    return 0;
}

int kv_pool_init(kv_pool *p, const kv_redis_config *cfg, kv_error *err)
{
    memset(p, 0, sizeof(*p));
    p->cfg = *cfg;
    if (p->cfg.pool_size <= 0)
        p->cfg.pool_size = 8;
    p->idle = calloc((size_t)p->cfg.pool_size, sizeof(*p->idle));
    if (!p->idle)
        return kv_fail(err, KVORM_EINTERNAL, "out of memory");
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return 0;
}

void kv_pool_destroy(kv_pool *p)
{
    for (int i = 0; i < p->nidle; i++)
        redisFree(p->idle[i]);
    free(p->idle);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    memset(p, 0, sizeof(*p));
}

int kv_pool_acquire(kv_pool *p, redisContext **out, kv_error *err)
{
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->nidle > 0) {
            *out = p->idle[--p->nidle];
            pthread_mutex_unlock(&p->mu);
            return 0;
        }
        if (p->total < p->cfg.pool_size)
            break;
        pthread_cond_wait(&p->cv, &p->mu);
    }
    p->total++; /* reserve the slot, connect outside the lock */
    pthread_mutex_unlock(&p->mu);
    int rc = connect_one(&p->cfg, out, err);
    if (rc != 0) {
        pthread_mutex_lock(&p->mu);
        p->total--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return rc;
}

void kv_pool_release(kv_pool *p, redisContext *c, bool broken)
{
    redisContext *stale[64];
    int nstale = 0;
    pthread_mutex_lock(&p->mu);
    if (broken) {
        p->total--;
        while (p->nidle > 0 && nstale < 64) {
            stale[nstale++] = p->idle[--p->nidle];
            p->total--;
        }
        pthread_cond_broadcast(&p->cv);
    } else {
        p->idle[p->nidle++] = c;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    if (broken)
        redisFree(c);
    for (int i = 0; i < nstale; i++)
        redisFree(stale[i]);
}

/* Writes n as decimal text at p, returns the length. */
static size_t put_uint(char *p, size_t n)
{
    char tmp[24];
    size_t len = 0;
    do {
        tmp[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    for (size_t i = 0; i < len; i++)
        p[i] = tmp[len - 1 - i];
    return len;
}

/* Appends the command in RESP. We format it ourselves: hiredis' redisCommandArgv formats every argument through
 * sdscatfmt, which cost more than the rest of a kvorm write put together. */
/* Room for need more bytes; false (and oom set) when there is none. */
static bool cmdbuf_reserve(kv_cmdbuf *b, size_t need)
{
    if (b->oom)
        return false;
    if (b->len + need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + need)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) {
            b->oom = true;
            return false;
        }
        b->data = data;
        b->cap = cap;
    }
    return true;
}

void kv_cmdbuf_append(kv_cmdbuf *b, const kv_cmdbuf *more)
{
    if (more->oom)
        b->oom = true;
    if (more->len > 0 && cmdbuf_reserve(b, more->len)) {
        memcpy(b->data + b->len, more->data, more->len);
        b->len += more->len;
    }
}

void kv_cmdbuf_add(kv_cmdbuf *b, int argc, const char *const *argv, const size_t *lens)
{
    size_t need = 1 + 20 + 2;
    for (int i = 0; i < argc; i++)
        need += 1 + 20 + 2 + lens[i] + 2;
    if (!cmdbuf_reserve(b, need))
        return;
    char *p = b->data + b->len;
    *p++ = '*';
    p += put_uint(p, (size_t)argc);
    *p++ = '\r';
    *p++ = '\n';
    for (int i = 0; i < argc; i++) {
        *p++ = '$';
        p += put_uint(p, lens[i]);
        *p++ = '\r';
        *p++ = '\n';
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    b->len = (size_t)(p - b->data);
}

void kv_cmdbuf_free(kv_cmdbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

int kv_redis_send(redisContext *c, const kv_cmdbuf *b, const char *what, bool *broken, kv_error *err)
{
    if (b->oom)
        return kv_fail(err, KVORM_EINTERNAL, "out of memory formatting a Redis command");
    /* Sent by us with MSG_NOSIGNAL: hiredis' own write() would raise SIGPIPE on a connection the server closed,
     * and a library must not kill its host process. The socket's send timeout (redisSetTimeout) applies. */
    const char *p = b->data;
    size_t left = b->len;
    while (left > 0) {
        ssize_t n = send(c->fd, p, left, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            char why[128];
            *broken = true;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return kv_fail(err, KVORM_ETIMEOUT, "Redis did not take the command within the timeout (%s)", what);
            kv_sanitize(why, sizeof(why), strerror(e), strlen(strerror(e)));
            return kv_fail(err, KVORM_ECONNECTION, "the connection to Redis failed during %s: %s", what, why);
        }
        p += n;
        left -= (size_t)n;
    }
    return 0;
}

int kv_redis_read(redisContext *c, redisReply **out, const char *what, bool *broken, kv_error *err)
{
    void *reply = NULL;
    *out = NULL;
    if (redisGetReply(c, &reply) == REDIS_OK && reply) {
        *out = reply;
        return 0;
    }
    *broken = true;
    if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT))
        return kv_fail(err, KVORM_ETIMEOUT, "Redis did not answer within the command timeout (%s)", what);
    if (c->err == REDIS_ERR_OOM)
        return kv_fail(err, KVORM_EINTERNAL, "out of memory talking to Redis");
    char why[256];
    const char *text = c->errstr[0] ? c->errstr : "connection lost";
    kv_sanitize(why, sizeof(why), text, strlen(text));
    return kv_fail(err, KVORM_ECONNECTION, "the connection to Redis failed during %s: %s", what, why);
}

int kv_redis_run(redisContext *c, int argc, const char **argv, const size_t *lens, redisReply **out, bool *broken,
                 bool *sent, kv_error *err)
{
    kv_cmdbuf b = {0};
    int rc;
    *out = NULL;
    if (sent)
        *sent = false;
    kv_cmdbuf_add(&b, argc, argv, lens);
    rc = kv_redis_send(c, &b, argv[0], broken, err);
    kv_cmdbuf_free(&b);
    if (rc != 0)
        return rc;
    if (sent)
        *sent = true;
    return kv_redis_read(c, out, argv[0], broken, err);
}
