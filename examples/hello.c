/*
 * hello.c - a tour of kvorm from C.
 *
 *   hello [URL] [SCHEMA]
 *   URL     default redis://127.0.0.1:6379
 *   SCHEMA  default examples/app.schema.json
 *
 * Loads the schema, opens the store, creates a User, finds it by its unique email, updates it, shows how a
 * unique violation is reported, counts, deletes a second user and closes. Requests and results are JSON
 * (kvorm_exec_json); the request protocol is in docs/protocol.md, the error codes in docs/errors.md.
 *
 * Build in-tree: cmake --build build --target hello
 * Against an installed kvorm: cc hello.c -o hello $(pkg-config --cflags --libs kvorm)
 */
#include <kvorm.h>

#include <stdio.h>
#include <string.h>

/* Runs one request. Prints the result, or the error (code, message and error document) when the status is
 * not `expected`. Returns 0 when the status is `expected`. */
static int run(kvorm_db *db, const char *label, const char *request, int expected)
{
    char *out = NULL;
    size_t len = 0;
    int rc = kvorm_exec_json(&out, &len, db, request, strlen(request));

    if (rc == KVORM_OK)
        printf("%-9s %s\n", label, out);
    else
        printf("%-9s %s (%d): %s\n          error document: %s\n", label, kvorm_error_name(kvorm_last_error_code()),
               kvorm_last_error_code(), kvorm_last_error_message(), out ? out : "(none)");
    kvorm_free(out);
    if (rc != expected) {
        fprintf(stderr, "hello: %s: expected %s, got %s\n", label, kvorm_error_name(expected), kvorm_error_name(rc));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "redis://127.0.0.1:6379";
    const char *schema_path = argc > 2 ? argv[2] : "examples/app.schema.json";
    kvorm_schema *schema = NULL;
    kvorm_db *db = NULL;
    int status = 1;

    printf("kvorm %s\n", kvorm_version());

    if (kvorm_schema_from_file(&schema, schema_path) != KVORM_OK) {
        fprintf(stderr, "hello: cannot load %s: %s: %s\n", schema_path, kvorm_error_name(kvorm_last_error_code()),
                kvorm_last_error_message());
        goto done;
    }
    /* Checks the schema against the one stored under app:$schema, and stores it the first time. */
    if (kvorm_open(&db, url, schema, NULL) != KVORM_OK) {
        fprintf(stderr, "hello: cannot open %s: %s: %s\n", url, kvorm_error_name(kvorm_last_error_code()),
                kvorm_last_error_message());
        goto done;
    }
    printf("opened    %s\n", url);

    if (run(db, "create", "{\"model\": \"User\", \"op\": \"create\", \"args\": {\"data\": "
                          "{\"email\": \"ann@example.com\", \"name\": \"Ann\", \"age\": 36}}}", KVORM_OK) ||
        run(db, "find",
            "{\"model\": \"User\", \"op\": \"findUnique\", \"args\": {\"where\": {\"email\": \"ann@example.com\"}}}",
            KVORM_OK) ||
        run(db, "update", "{\"model\": \"User\", \"op\": \"update\", \"args\": {"
                          "\"where\": {\"email\": \"ann@example.com\"}, \"data\": {\"age\": 37, \"role\": \"admin\"},"
                          " \"select\": {\"email\": true, \"age\": true, \"role\": true, \"$version\": true}}}",
            KVORM_OK))
        goto done;

    /* The email is unique: a second Ann is refused, and nothing is written. */
    if (run(db, "duplicate", "{\"model\": \"User\", \"op\": \"create\", \"args\": {\"data\": "
                             "{\"email\": \"ann@example.com\", \"name\": \"Another Ann\"}}}", KVORM_EUNIQUE))
        goto done;

    if (run(db, "create", "{\"model\": \"User\", \"op\": \"create\", \"args\": {\"data\": "
                          "{\"email\": \"bob@example.com\", \"name\": \"Bob\"}, \"select\": {\"id\": true}}}",
            KVORM_OK) ||
        run(db, "count", "{\"model\": \"User\", \"op\": \"count\"}", KVORM_OK) ||
        run(db, "delete",
            "{\"model\": \"User\", \"op\": \"delete\", \"args\": {\"where\": {\"email\": \"bob@example.com\"}}}",
            KVORM_OK) ||
        run(db, "count", "{\"model\": \"User\", \"op\": \"count\"}", KVORM_OK))
        goto done;

    status = 0;
    printf("hello: done\n");
done:
    kvorm_close(db);
    kvorm_schema_free(schema);
    return status;
}
