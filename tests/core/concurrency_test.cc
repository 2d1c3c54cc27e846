// One kvorm_db shared by several threads: writes are atomic, unique constraints hold under races, and calls run
// in parallel without losing or duplicating anything.
#include <atomic>
#include <thread>

#include "test_util.h"

namespace kt {
namespace {

class Concurrency : public AppTest {
protected:
    static int Call(kvorm_db *db, const std::string &req)
    {
        char *out = nullptr;
        size_t len = 0;
        int rc = kvorm_exec_json(&out, &len, db, req.data(), req.size());
        kvorm_free(out);
        return rc;
    }
};

// Calls from 8 threads on one db (pool_size 8) run in parallel. The db talks to Redis through the gate proxy
// (tests/tools/gate_proxy.py), which holds back what clients send until 8 connections have something held:
// "released 8" proves that the 8 calls were in flight at the same time; calls run one after another give 1.
// The verdict is a count: no CPU speed or load changes it (the hold's timeout only ends a failing test).
TEST_F(Concurrency, CallsFromEightThreadsRunInParallel)
{
    constexpr int kThreads = 8;
    GateProxy gate;
    std::string why;
    ASSERT_TRUE(gate.Start(RedisEnvironment::Main().port(), &why)) << why;
    SchemaPtr schema = LoadSchema(kAppSchema);
    ASSERT_TRUE(schema);
    kvorm_open_options o;
    ASSERT_EQ(kvorm_open_options_init(&o, KVORM_OPEN_OPTIONS_VERSION), KVORM_OK);
    o.pool_size = kThreads;
    o.command_timeout_ms = 2 * kHangGuardMs;  // longer than the hold: a held call waits for the verdict
    kvorm_db *raw_db = nullptr;
    std::string url = "redis://127.0.0.1:" + std::to_string(gate.port());
    ASSERT_EQ(kvorm_open(&raw_db, url.c_str(), schema.get(), &o), KVORM_OK) << LastError();
    DbPtr db(raw_db);
    KT_ASSERT_OK(ExecJson(db.get(), Req("User", "count")));

    ASSERT_TRUE(gate.Hold(kThreads, kHangGuardMs / 1000, &why)) << why;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&, t] {
            std::string email = "p" + std::to_string(t) + "@x.io";
            if (Call(db.get(), Req("User", "create", "{\"data\":{\"email\":\"" + email + "\",\"orgId\":\"o\"}}")) != KVORM_OK)
                failures++;
        });
    int released = gate.WaitReleased(&why);
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(released, kThreads) << why << " (the most calls that were in flight at once)";
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(ExecJson(db.get(), Req("User", "count")).text, std::to_string(kThreads));
}

// The control of the test above: with one connection the calls of two threads run one after the other, so the
// gate never has two held and gives up at its timeout ("released 1"). The timeout only decides how long this
// takes, not the verdict.
TEST_F(Concurrency, APoolOfOneRunsTheCallsOfTwoThreadsOneAfterTheOther)
{
    GateProxy gate;
    std::string why;
    ASSERT_TRUE(gate.Start(RedisEnvironment::Main().port(), &why)) << why;
    SchemaPtr schema = LoadSchema(kAppSchema);
    ASSERT_TRUE(schema);
    kvorm_open_options o;
    ASSERT_EQ(kvorm_open_options_init(&o, KVORM_OPEN_OPTIONS_VERSION), KVORM_OK);
    o.pool_size = 1;
    o.command_timeout_ms = 2 * kHangGuardMs;
    kvorm_db *raw_db = nullptr;
    std::string url = "redis://127.0.0.1:" + std::to_string(gate.port());
    ASSERT_EQ(kvorm_open(&raw_db, url.c_str(), schema.get(), &o), KVORM_OK) << LastError();
    DbPtr db(raw_db);
    KT_ASSERT_OK(ExecJson(db.get(), Req("User", "count")));

    ASSERT_TRUE(gate.Hold(2, 1, &why)) << why;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; t++)
        threads.emplace_back([&] {
            if (Call(db.get(), Req("User", "count")) != KVORM_OK)
                failures++;
        });
    int released = gate.WaitReleased(&why);
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(released, 1) << why;
    EXPECT_EQ(failures.load(), 0);
}

TEST_F(Concurrency, EightThreadsRacingForOneEmailGiveExactlyOneRecord)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    constexpr int kThreads = 8, kPerThread = 1000;
    std::atomic<int> ok{0}, unique{0}, other{0};
    std::atomic<int> other_code{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&, t] {
            for (int k = 0; k < kPerThread; k++) {
                std::string req = Req("User", "create",
                                      "{\"data\":{\"email\":\"race@x.io\",\"orgId\":\"o" + std::to_string(t) + "\"}}");
                int rc = Call(db_, req);
                if (rc == KVORM_OK)
                    ok++;
                else if (rc == KVORM_EUNIQUE)
                    unique++;
                else {
                    other++;
                    other_code = rc;
                }
            }
        });
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(ok.load(), 1);
    EXPECT_EQ(unique.load(), kThreads * kPerThread - 1);
    EXPECT_EQ(other.load(), 0) << "last other status: " << kvorm_error_name(other_code.load());
    EXPECT_EQ(ExecJson(db_, Req("User", "count")).text, "1");
    EXPECT_EQ(raw_.ZCard("app:{User}:ids"), 1);
    EXPECT_EQ(raw_.HLen("app:{User}:u:email"), 1);
    EXPECT_EQ(raw_.HLen("app:{User}:u:orgId_email"), 1);
    // no orphan: the one unique entry points at the one record
    std::string id = raw_.HGet("app:{User}:u:email", MpStr("race@x.io")).value_or("");
    ASSERT_FALSE(id.empty());
    EXPECT_TRUE(raw_.Exists("app:{User}:r:" + id));
    auto compound = raw_.HGetAll("app:{User}:u:orgId_email");
    ASSERT_EQ(compound.size(), 1u);
    EXPECT_EQ(compound.begin()->second, id);
    int records = 0;
    for (const auto &k : raw_.Keys())
        if (k.rfind("app:{User}:r:", 0) == 0)
            records++;
    EXPECT_EQ(records, 1);
}

TEST_F(Concurrency, EightThreadsCreatingDifferentRecordsAllSucceed)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    constexpr int kThreads = 8, kPerThread = 250;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&, t] {
            for (int k = 0; k < kPerThread; k++) {
                std::string email = "u" + std::to_string(t) + "-" + std::to_string(k) + "@x.io";
                if (Call(db_, Req("User", "create", "{\"data\":{\"email\":\"" + email + "\",\"orgId\":\"o\"}}")) !=
                    KVORM_OK)
                    failures++;
            }
        });
    for (auto &th : threads)
        th.join();
    const int total = kThreads * kPerThread;
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(ExecJson(db_, Req("User", "count")).text, std::to_string(total));
    EXPECT_EQ(raw_.ZCard("app:{User}:ids"), total);
    EXPECT_EQ(raw_.HLen("app:{User}:u:email"), total);
    EXPECT_EQ(raw_.HLen("app:{User}:u:orgId_email"), total);
}

TEST_F(Concurrency, ParallelIncrementIdsAreDistinctAndDense)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    constexpr int kThreads = 8, kPerThread = 100;
    std::vector<std::vector<long long>> ids(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&, t] {
            for (int k = 0; k < kPerThread; k++) {
                std::string req = Req("Counter", "create", R"({"data":{}})");
                char *out = nullptr;
                size_t len = 0;
                if (kvorm_exec_json(&out, &len, db_, req.data(), req.size()) == KVORM_OK) {
                    JsonPtr doc = ParseJson(std::string(out, len));
                    json_t *id = doc ? json_object_get(doc.get(), "id") : nullptr;
                    ids[t].push_back(id && json_is_integer(id) ? json_integer_value(id) : -1);
                }
                kvorm_free(out);
            }
        });
    for (auto &th : threads)
        th.join();
    std::set<long long> all;
    size_t n = 0;
    for (const auto &v : ids) {
        n += v.size();
        all.insert(v.begin(), v.end());
    }
    const long long total = kThreads * kPerThread;
    EXPECT_EQ(n, static_cast<size_t>(total));
    EXPECT_EQ(all.size(), static_cast<size_t>(total));
    EXPECT_EQ(*all.begin(), 1);
    EXPECT_EQ(*all.rbegin(), total);
    EXPECT_EQ(raw_.Get("app:{Counter}:seq").value_or(""), std::to_string(total));
}

TEST_F(Concurrency, OnlyOneOfManyUpdatesAtTheSameVersionWins)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    constexpr int kThreads = 8;
    std::atomic<int> ok{0}, conflict{0}, other{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&, t] {
            int rc = Call(db_, Req("User", "update",
                                   "{\"where\":{\"email\":\"ann@x.io\"},\"data\":{\"age\":" + std::to_string(t) +
                                       "},\"ifVersion\":1}"));
            (rc == KVORM_OK ? ok : rc == KVORM_ECONFLICT ? conflict : other)++;
        });
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(ok.load(), 1);
    EXPECT_EQ(conflict.load(), kThreads - 1);
    EXPECT_EQ(other.load(), 0);
    JRes f = Run("User", "findUnique", R"({"where":{"email":"ann@x.io"},"select":{"$version":true}})");
    EXPECT_EQ(f.integer("$version"), 2);
}

TEST_F(Concurrency, ConcurrentUpdatesOfDifferentFieldsAreBothKept)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    constexpr int kRounds = 200;
    std::thread a([&] {
        for (int k = 0; k < kRounds; k++)
            Call(db_, Req("User", "update", "{\"where\":{\"email\":\"ann@x.io\"},\"data\":{\"age\":" +
                                                std::to_string(k) + "}}"));
    });
    std::thread b([&] {
        for (int k = 0; k < kRounds; k++)
            Call(db_, Req("User", "update", "{\"where\":{\"email\":\"ann@x.io\"},\"data\":{\"balance\":\"" +
                                                std::to_string(k) + "\"}}"));
    });
    a.join();
    b.join();
    JRes f = Run("User", "findUnique", R"({"where":{"email":"ann@x.io"},"select":{"age":true,"balance":true,"$version":true}})");
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.integer("age"), kRounds - 1);
    EXPECT_EQ(f.str("balance"), std::to_string(kRounds - 1));
    EXPECT_EQ(f.integer("$version"), 1 + 2 * kRounds);
}

// Creates, updates and deletes racing on a handful of emails: whatever interleaving happened, the unique indexes
// and the id set must describe exactly the records that exist.
TEST_F(Concurrency, UniqueIndexesStayExactUnderCreateUpdateDeleteChurn)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    constexpr int kThreads = 8, kPerThread = 300;
    std::atomic<int> unexpected{0};
    std::atomic<int> last_unexpected{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&, t] {
            for (int k = 0; k < kPerThread; k++) {
                std::string e = "\"e" + std::to_string((k + t) % 5) + "@x.io\"";
                std::string e2 = "\"e" + std::to_string((k + t + 1) % 5) + "@x.io\"";
                std::string req;
                switch ((t + k) % 3) {
                case 0:
                    req = Req("User", "create", "{\"data\":{\"email\":" + e + ",\"orgId\":\"o" + std::to_string(t % 2) + "\"}}");
                    break;
                case 1:
                    req = Req("User", "update", "{\"where\":{\"email\":" + e + "},\"data\":{\"email\":" + e2 + "}}");
                    break;
                default:
                    req = Req("User", "delete", "{\"where\":{\"email\":" + e + "}}");
                }
                int rc = Call(db_, req);
                if (rc != KVORM_OK && rc != KVORM_EUNIQUE && rc != KVORM_ENOTFOUND) {
                    unexpected++;
                    last_unexpected = rc;
                }
            }
        });
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(unexpected.load(), 0) << "last unexpected status: " << kvorm_error_name(last_unexpected.load());

    std::vector<std::string> records;
    for (const auto &k : raw_.Keys())
        if (k.rfind("app:{User}:r:", 0) == 0)
            records.push_back(k.substr(std::string("app:{User}:r:").size()));
    auto by_email = raw_.HGetAll("app:{User}:u:email");
    auto by_org_email = raw_.HGetAll("app:{User}:u:orgId_email");
    EXPECT_EQ(by_email.size(), records.size());
    EXPECT_EQ(by_org_email.size(), records.size());
    EXPECT_EQ(raw_.ZCard("app:{User}:ids"), static_cast<long long>(records.size()));
    EXPECT_EQ(ExecJson(db_, Req("User", "count")).text, std::to_string(records.size()));
    for (const auto &id : records) {
        std::string key = "app:{User}:r:" + id;
        std::string email = raw_.HGet(key, "email").value_or("?");
        std::string org = raw_.HGet(key, "orgId").value_or("?");
        EXPECT_EQ(by_email[email], id) << "u:email entry of record " << id;
        EXPECT_EQ(by_org_email[org + email], id) << "u:orgId_email entry of record " << id;
    }
}

}  // namespace
}  // namespace kt
