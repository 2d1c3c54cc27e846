/* kvorm_exec_json (JSON requests) against a live redis-server (scripts/fuzz.sh starts it).
 * Input: up to 16 JSON request texts separated by the byte 0x1e (RFC 7464's record separator, which no JSON text
 * can hold).
 * After each response: exec_common.h's response checks (valid JSON, error document shape, UTF-8); after the
 * input: the check of everything stored, then the namespace is emptied, so that each input runs on its own. */
#include "fuzz_common.h"

#include "exec_common.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_exec_setup("j");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *req[FZ_MAX_REQUESTS];
    size_t lens[FZ_MAX_REQUESTS];
    size_t n = fz_split(data, size, "\x1e", 1, req, lens, FZ_MAX_REQUESTS);
    for (size_t i = 0; i < n; i++) {
        char *copy = malloc(lens[i] ? lens[i] : 1), *out = NULL; /* exact size: not NUL-terminated */
        size_t out_len = 0;
        if (lens[i])
            memcpy(copy, req[i], lens[i]);
        int rc = kvorm_exec_json(&out, &out_len, fz_exec_db(), copy, lens[i]);
        fz_check_response_json(rc, out, out_len);
        kvorm_free(out);
        free(copy);
    }
    fz_check_store_and_reset();
    return 0;
}
