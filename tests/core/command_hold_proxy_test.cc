// The test tool of batch_test.cc, tested: CommandHoldProxy counts the commands a connection sends before it gets
// an answer, so a client that waits for each reply gives 1 and a pipeline of n gives n. Neither depends on timing:
// the hold's short timeout here only decides how soon a waiting client gets its first answer.
#include <hiredis/hiredis.h>

#include "command_hold_proxy.h"
#include "redis_harness.h"

namespace kt {
namespace {

TEST(CommandHoldProxy, CountsCompleteCommands)
{
    const std::string ping = "*1\r\n$4\r\nPING\r\n", get = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    EXPECT_EQ(CountCommands(""), 0u);
    EXPECT_EQ(CountCommands(ping), 1u);
    EXPECT_EQ(CountCommands(ping + get + ping), 3u);
    for (size_t cut = 0; cut < get.size(); cut++)
        EXPECT_EQ(CountCommands(ping + get.substr(0, cut)), 1u) << "cut at " << cut;
    EXPECT_EQ(CountCommands("*1\r\n$4\r\nPI\r\n\r\n"), 1u) << "the length counts, not the line";
    EXPECT_EQ(CountCommands("PING\r\nPIN"), 1u) << "inline commands are lines";
}

class HoldProxyTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_TRUE(RedisEnvironment::Ready());
        std::string why;
        ASSERT_TRUE(proxy_.Start(&why)) << why;
        c_ = redisConnect("127.0.0.1", proxy_.port());
        ASSERT_TRUE(c_ && !c_->err) << (c_ ? c_->errstr : "out of memory");
    }
    void TearDown() override
    {
        if (c_)
            redisFree(c_);
    }
    bool Pong(void *reply)
    {
        auto *r = static_cast<redisReply *>(reply);
        bool ok = r && r->type == REDIS_REPLY_STATUS && std::string(r->str, r->len) == "PONG";
        freeReplyObject(r);
        return ok;
    }
    CommandHoldProxy proxy_{RedisEnvironment::Main().port()};
    redisContext *c_ = nullptr;
};

TEST_F(HoldProxyTest, AClientThatWaitsForEachReplyHasOneCommandHeld)
{
    proxy_.Hold(3, 200);  // never reached: the first PING waits until the hold gives up
    for (int k = 0; k < 3; k++)
        EXPECT_TRUE(Pong(redisCommand(c_, "PING"))) << k;
    EXPECT_EQ(proxy_.WaitReleased(), 1u);
}

TEST_F(HoldProxyTest, APipelineHasAllItsCommandsHeld)
{
    proxy_.Hold(3, kHangGuardMs);
    for (int k = 0; k < 3; k++)
        ASSERT_EQ(redisAppendCommand(c_, "PING"), REDIS_OK);
    for (int k = 0; k < 3; k++) {
        void *reply = nullptr;
        ASSERT_EQ(redisGetReply(c_, &reply), REDIS_OK);
        EXPECT_TRUE(Pong(reply)) << k;
    }
    EXPECT_EQ(proxy_.WaitReleased(), 3u);
}

}  // namespace
}  // namespace kt
