/* lmdb_writer: a C process that writes an LMDB environment beside others (tests/python/test_lmdb_processes.py).
 *
 *   kvorm_lmdb_writer URL SCHEMA_JSON NAME N BUMPS
 *
 * Creates N User records {email: NAME-i@x.io, name: NAME, age: i} and, for the first BUMPS of them, adds 1 to
 * the age of the record counter@x.io by a read then an update with ifVersion, again on CONFLICT. Prints
 * {"conflicts": n} and exits 0; on any other error prints it to stderr and exits 1. */
#include <kvorm.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kvorm_db *db;

/* Runs one JSON request; the parsed response (NULL on a status other than OK, with *status set). */
static json_t *run(const char *request, int *status)
{
    char *out = NULL;
    size_t len = 0;
    *status = kvorm_exec_json(&out, &len, db, request, strlen(request));
    json_t *doc = *status == KVORM_OK ? json_loadb(out, len, 0, NULL) : NULL;
    if (*status != KVORM_OK && *status != KVORM_ECONFLICT)
        fprintf(stderr, "lmdb_writer: %s -> %s\n", request, out ? out : kvorm_last_error_message());
    kvorm_free(out);
    return doc;
}

static int bump(int *conflicts)
{
    char req[512];
    int status;
    for (;;) {
        json_t *c = run("{\"op\":\"findUnique\",\"model\":\"User\",\"args\":{\"where\":{\"email\":\"counter@x.io\"},"
                        "\"select\":{\"age\":true,\"$version\":true}}}", &status);
        if (!c)
            return 1;
        snprintf(req, sizeof(req),
                 "{\"op\":\"update\",\"model\":\"User\",\"args\":{\"where\":{\"email\":\"counter@x.io\"},"
                 "\"data\":{\"age\":%lld},\"ifVersion\":%lld}}",
                 (long long)json_integer_value(json_object_get(c, "age")) + 1,
                 (long long)json_integer_value(json_object_get(c, "$version")));
        json_decref(c);
        json_decref(run(req, &status));
        if (status == KVORM_OK)
            return 0;
        if (status != KVORM_ECONFLICT)
            return 1;
        ++*conflicts;
    }
}

int main(int argc, char **argv)
{
    kvorm_schema *schema = NULL;
    char req[512];
    int status, conflicts = 0, rc = 0;
    if (argc != 6) {
        fprintf(stderr, "usage: kvorm_lmdb_writer URL SCHEMA_JSON NAME N BUMPS\n");
        return 2;
    }
    int n = atoi(argv[4]), bumps = atoi(argv[5]);
    if (kvorm_schema_from_json(&schema, argv[2], strlen(argv[2])) != KVORM_OK ||
        kvorm_open(&db, argv[1], schema, NULL) != KVORM_OK) {
        fprintf(stderr, "lmdb_writer: %s\n", kvorm_last_error_message());
        return 1;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        snprintf(req, sizeof(req),
                 "{\"op\":\"create\",\"model\":\"User\",\"args\":{\"data\":{\"email\":\"%s-%d@x.io\",\"name\":\"%s\","
                 "\"age\":%d}}}",
                 argv[3], i, argv[3], i);
        json_t *r = run(req, &status);
        rc = r ? 0 : 1;
        json_decref(r);
        if (rc == 0 && i < bumps)
            rc = bump(&conflicts);
    }
    if (rc == 0)
        printf("{\"conflicts\": %d}\n", conflicts);
    kvorm_close(db);
    kvorm_schema_free(schema);
    return rc;
}
