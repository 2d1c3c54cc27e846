// Generated ids across fork(): a child process must not continue its parent's ULID/UUIDv7 sequence, or both
// would hand out the same ids in the same millisecond (Python's multiprocessing forks).
#include <gtest/gtest.h>

#include <string>
#include <sys/wait.h>
#include <unistd.h>

extern "C" {
#include "idgen.h"
}

namespace {

// The id a forked child generates right after the parent's last one, and the parent's own next id.
std::pair<std::string, std::string> NextIdsAfterFork(int (*gen)(char *), size_t len)
{
    char last[64], mine[64], theirs[64] = {0};
    int fds[2];
    EXPECT_EQ(gen(last), 0);
    EXPECT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        char id[64];
        ssize_t ignored = gen(id) == 0 ? write(fds[1], id, len) : -1;
        (void)ignored;
        _exit(0);
    }
    EXPECT_EQ(gen(mine), 0);
    EXPECT_EQ(read(fds[0], theirs, len), static_cast<ssize_t>(len));
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    close(fds[1]);
    return {std::string(mine, len), std::string(theirs, len)};
}

TEST(IdGen, AForkedChildNeverRepeatsTheParentsUlids)
{
    // Many tries, so that some fall in the same millisecond as the parent's last id.
    for (int i = 0; i < 20; i++) {
        auto ids = NextIdsAfterFork(kv_ulid_new, KV_ULID_LEN);
        ASSERT_NE(ids.first, ids.second) << "try " << i;
    }
}

TEST(IdGen, AForkedChildNeverRepeatsTheParentsUuidv7s)
{
    for (int i = 0; i < 20; i++) {
        auto ids = NextIdsAfterFork(kv_uuidv7_new, KV_UUID_LEN);
        ASSERT_NE(ids.first, ids.second) << "try " << i;
    }
}

} // namespace
