// The suite's main: one redis-server pair for the whole run (see redis_harness.h).
#include <gtest/gtest.h>

#include "redis_harness.h"

int main(int argc, char **argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new kt::RedisEnvironment());  // gtest owns it
    return RUN_ALL_TESTS();
}
