/* kv_redis_parse_url (core/src/redis_conn.h). Input: the URL (cut at its first NUL, as a C string).
 * Oracles: the status is OK or MISUSE with a message in valid UTF-8; a parsed config is in range and NUL-terminated; a URL
 * rebuilt from it (every value percent-encoded) parses to the same config; an error never echoes the password. */
#include "fuzz_common.h"

#include "redis_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        FZ_CHECK(b->p != NULL, "out of memory");
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* Percent-encodes everything but unreserved characters (and '/' where keep_slash). */
static void put_enc(sbuf *b, const char *s, bool keep_slash)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~' || (keep_slash && c == '/')) {
            put(b, s, 1);
        } else {
            char e[4];
            snprintf(e, sizeof(e), "%%%02X", c);
            put(b, e, 3);
        }
    }
}

static void put_int(sbuf *b, const char *key, int v, bool *first)
{
    char t[48];
    snprintf(t, sizeof(t), "%s%s=%d", *first ? "?" : "&", key, v);
    *first = false;
    puts_(b, t);
}

static void check_config(const kv_redis_config *c)
{
    FZ_CHECK(memchr(c->host, 0, sizeof(c->host)) && memchr(c->path, 0, sizeof(c->path)) &&
                 memchr(c->user, 0, sizeof(c->user)) && memchr(c->password, 0, sizeof(c->password)),
             "a string of the config is not NUL-terminated");
    if (!c->is_unix)
        FZ_CHECK(c->port >= 1 && c->port <= 65535, "port %d", c->port);
    else
        FZ_CHECK(c->path[0] == '/', "unix path %s", c->path);
    FZ_CHECK(c->db >= 0 && c->db <= (1 << 20), "db %d", c->db);
    FZ_CHECK(c->command_timeout_ms >= 0 && c->command_timeout_ms <= 86400000, "timeout %d", c->command_timeout_ms);
    FZ_CHECK(c->connect_timeout_ms >= 0 && c->connect_timeout_ms <= 86400000, "connect_timeout %d",
             c->connect_timeout_ms);
    FZ_CHECK(c->pool_size >= 0 && c->pool_size <= 1024, "pool %d", c->pool_size);
}

static char *rebuild(const kv_redis_config *c)
{
    sbuf b = {0};
    bool first = true;
    if (c->is_unix) {
        puts_(&b, "unix://");
        put_enc(&b, c->path, true);
        put_int(&b, "db", c->db, &first);
        puts_(&b, "&user=");
        put_enc(&b, c->user, false);
        puts_(&b, "&password=");
        put_enc(&b, c->password, false);
    } else {
        puts_(&b, "redis://");
        put_enc(&b, c->user, false);
        puts_(&b, ":");
        put_enc(&b, c->password, false);
        puts_(&b, "@[");
        put_enc(&b, c->host, false);
        char port[32];
        snprintf(port, sizeof(port), "]:%d/%d", c->port, c->db);
        puts_(&b, port);
    }
    if (c->command_timeout_ms)
        put_int(&b, "timeout", c->command_timeout_ms, &first);
    if (c->connect_timeout_ms)
        put_int(&b, "connect_timeout", c->connect_timeout_ms, &first);
    if (c->pool_size)
        put_int(&b, "pool", c->pool_size, &first);
    return b.p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = fz_strndup(data, size);
    kv_redis_config cfg, again;
    kv_error err = {0};
    memset(&cfg, 0, sizeof(cfg));
    int rc = kv_redis_parse_url(&cfg, url, &err);
    FZ_CHECK(rc == 0 || rc == KVORM_EMISUSE, "status %d for %s", rc, fz_show(url, strlen(url)));
    if (rc != 0) {
        FZ_CHECK(err.code == rc && err.message[0] != '\0' && memchr(err.message, 0, sizeof(err.message)) &&
                     fz_utf8_valid(err.message, strlen(err.message)),
                 "error code %d, message \"%s\"", err.code, err.message);
        /* a password given as redis://user:PASSWORD@host/... never appears in the message: put a sentinel in its
         * place and parse again */
        bool redis = strncmp(url, "redis://", 8) == 0;
        const char *auth = redis ? url + 8 : url, *end = redis ? auth + strcspn(auth, "/?") : url;
        const char *at = NULL, *colon = NULL;
        for (const char *p = auth; p < end; p++)
            if (*p == '@')
                at = p;
        if (at)
            colon = memchr(auth, ':', (size_t)(at - auth));
        if (at && colon) {
            static const char sentinel[] = "Pw5entinel";
            sbuf b = {0};
            kv_redis_config c2;
            kv_error e2 = {0};
            put(&b, url, (size_t)(colon + 1 - url));
            puts_(&b, sentinel);
            puts_(&b, at);
            memset(&c2, 0, sizeof(c2));
            if (kv_redis_parse_url(&c2, b.p, &e2) != 0)
                FZ_CHECK(strstr(e2.message, sentinel) == NULL || strstr(at, sentinel) != NULL,
                         "the message echoes the password: %s", e2.message);
            free(b.p);
        }
        free(url);
        return 0;
    }
    check_config(&cfg);

    char *url2 = rebuild(&cfg);
    memset(&again, 0, sizeof(again));
    int rc2 = kv_redis_parse_url(&again, url2, &err);
    FZ_CHECK(rc2 == 0, "rebuilt URL %s of %s fails: %s", url2, fz_show(url, strlen(url)), err.message);
    FZ_CHECK(again.is_unix == cfg.is_unix && again.db == cfg.db && strcmp(again.user, cfg.user) == 0 &&
                 strcmp(again.password, cfg.password) == 0 && again.command_timeout_ms == cfg.command_timeout_ms &&
                 again.connect_timeout_ms == cfg.connect_timeout_ms && again.pool_size == cfg.pool_size,
             "rebuilt URL %s parses differently", url2);
    if (cfg.is_unix)
        FZ_CHECK(strcmp(again.path, cfg.path) == 0, "path %s != %s", again.path, cfg.path);
    else
        FZ_CHECK(strcmp(again.host, cfg.host) == 0 && again.port == cfg.port, "host %s:%d != %s:%d", again.host,
                 again.port, cfg.host, cfg.port);
    free(url2);
    free(url);
    return 0;
}
