/* kvorm_exec (MessagePack requests) against a live redis-server (scripts/fuzz.sh starts it).
 * Input: one flags byte, then up to 16 request documents separated by the two bytes 0xc1 0xc1 (0xc1 is never
 * used by MessagePack, so a separator is rarely part of a document; a lone 0xc1 still reaches the decoder).
 * Flags bit 0: run the requests as one kvorm_exec_batch instead of one kvorm_exec each; bit 1: SCRIPT FLUSH first
 * (Redis lost the scripts, as after a restart: kvorm must load them again, in a batch rerunning what failed).
 * After each response: exec_common.h's response checks; after the input: the check of everything stored, then
 * the namespace is emptied, so that each input runs (and reproduces) on its own. */
#include "fuzz_common.h"

#include "exec_common.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_exec_setup("m");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *req[FZ_MAX_REQUESTS];
    size_t lens[FZ_MAX_REQUESTS];
    if (size < 1)
        return 0;
    bool batch = data[0] & 1;
    if (data[0] & 2)
        fz_exec_flush_scripts();
    size_t n = fz_split(data + 1, size - 1, "\xc1\xc1", 2, req, lens, FZ_MAX_REQUESTS);
    /* exact-size copies, so that ASan sees a read past a document */
    void *copies[FZ_MAX_REQUESTS];
    for (size_t i = 0; i < n; i++) {
        copies[i] = malloc(lens[i] ? lens[i] : 1);
        if (lens[i])
            memcpy(copies[i], req[i], lens[i]);
    }
    if (batch) {
        unsigned char *outs[FZ_MAX_REQUESTS];
        size_t out_lens[FZ_MAX_REQUESTS];
        int statuses[FZ_MAX_REQUESTS], last_failed = 0;
        int rc = kvorm_exec_batch(outs, out_lens, statuses, fz_exec_db(), (const void *const *)copies, lens, n);
        FZ_CHECK(rc == KVORM_OK, "kvorm_exec_batch: %d", rc);
        for (size_t i = 0; i < n; i++) {
            fz_check_response_mp(statuses[i], outs[i], out_lens[i], 0);
            if (statuses[i] != 0)
                last_failed = statuses[i];
            kvorm_free(outs[i]);
        }
        FZ_CHECK(kvorm_last_error_code() == last_failed, "batch: last error %d, last failure %d",
                 kvorm_last_error_code(), last_failed);
    } else {
        for (size_t i = 0; i < n; i++) {
            unsigned char *out = NULL;
            size_t out_len = 0;
            int rc = kvorm_exec(&out, &out_len, fz_exec_db(), copies[i], lens[i]);
            fz_check_response_mp(rc, out, out_len, 1);
            kvorm_free(out);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(copies[i]);
    fz_check_store_and_reset();
    return 0;
}
