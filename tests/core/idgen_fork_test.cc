// Generated ids across fork(): a child process must not continue its parent's ULID/UUIDv7 sequence, or both
// would hand out the same ids in the same millisecond (Python's multiprocessing forks).
#include <gtest/gtest.h>

#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_clock.h"

namespace {

struct AfterFork {
    std::string last;    // the parent's id just before the fork
    std::string mine;    // the parent's next id
    std::string theirs;  // the child's first id
};

// The id a forked child generates right after the parent's last one, and the parent's own next id.
AfterFork NextIdsAfterFork(int (*gen)(char *), size_t len)
{
    char last[64] = {0}, mine[64] = {0}, theirs[64] = {0};
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
    EXPECT_GT(pid, 0);
    EXPECT_EQ(gen(mine), 0);
    close(fds[1]);
    size_t got = 0;
    while (got < len) {  // a pipe may give the bytes in pieces; EOF when the child is gone
        ssize_t n = read(fds[0], theirs + got, len - got);
        if (n <= 0)
            break;
        got += static_cast<size_t>(n);
    }
    EXPECT_EQ(got, len) << "the child wrote no id";
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    return {std::string(last, len), std::string(mine, len), std::string(theirs, len)};
}

// The clock stands still during these tests, so the child's first id and the parent's next one always fall in
// the same millisecond as the parent's last id: the case where continuing the sequence would repeat ids. (With
// the real clock that case was only likely, not certain.)
TEST(IdGen, AForkedChildNeverRepeatsTheParentsUlids)
{
    kt::FakeIdClock clock(1700000000123ull);
    for (int i = 0; i < 20; i++) {
        AfterFork ids = NextIdsAfterFork(kv_ulid_new, KV_ULID_LEN);
        ASSERT_EQ(ids.theirs.substr(0, 10), ids.last.substr(0, 10)) << "same millisecond, try " << i;
        ASSERT_EQ(ids.mine.substr(0, 10), ids.last.substr(0, 10)) << "same millisecond, try " << i;
        ASSERT_LT(ids.last, ids.mine) << "the parent counts on, try " << i;
        ASSERT_NE(ids.mine, ids.theirs) << "try " << i;
    }
}

TEST(IdGen, AForkedChildNeverRepeatsTheParentsUuidv7s)
{
    kt::FakeIdClock clock(1700000000123ull);
    for (int i = 0; i < 20; i++) {
        AfterFork ids = NextIdsAfterFork(kv_uuidv7_new, KV_UUID_LEN);
        ASSERT_EQ(ids.theirs.substr(0, 13), ids.last.substr(0, 13)) << "same millisecond, try " << i;
        ASSERT_EQ(ids.mine.substr(0, 13), ids.last.substr(0, 13)) << "same millisecond, try " << i;
        ASSERT_LT(ids.last, ids.mine) << "the parent counts on, try " << i;
        ASSERT_NE(ids.mine, ids.theirs) << "try " << i;
    }
}

}  // namespace
