// kvorm_exec_batch: n requests in one call behave exactly as n calls of kvorm_exec in order, and the reads and writes
// of consecutive requests reach Redis together (one round trip; writes in a MULTI/EXEC), which the bindings use to
// keep many requests in flight cheap.
#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "command_hold_proxy.h"
#include "test_util.h"

namespace kt {
namespace {

class Batch : public AppTest {
protected:
    // Runs the requests as one batch; each result as Exec would give it.
    std::vector<MRes> RunBatch(const std::vector<mp::V> &requests)
    {
        std::vector<std::string> bytes;
        for (const mp::V &r : requests)
            bytes.push_back(mp::pack(r));
        return RunBytes(bytes);
    }

    std::vector<MRes> RunBytes(const std::vector<std::string> &bytes)
    {
        size_t n = bytes.size();
        std::vector<const void *> reqs(n);
        std::vector<size_t> lens(n);
        for (size_t i = 0; i < n; i++) {
            reqs[i] = bytes[i].data();
            lens[i] = bytes[i].size();
        }
        std::vector<unsigned char *> outs(n, nullptr);
        std::vector<size_t> out_lens(n, 0);
        std::vector<int> statuses(n, 12345);
        int rc = kvorm_exec_batch(outs.data(), out_lens.data(), statuses.data(), db_, reqs.data(), lens.data(), n);
        EXPECT_EQ(rc, KVORM_OK) << LastError();
        std::vector<MRes> results(n);
        for (size_t i = 0; i < n; i++) {
            EXPECT_NE(outs[i], nullptr) << "request " << i;
            if (!outs[i])
                continue;
            results[i].rc = statuses[i];
            results[i].raw.assign(reinterpret_cast<const char *>(outs[i]), out_lens[i]);
            results[i].parsed = mp::unpack(results[i].raw, &results[i].doc);
            EXPECT_TRUE(results[i].parsed) << "request " << i << " has no one-document response";
            kvorm_free(outs[i]);
        }
        return results;
    }

    static mp::V FindBy(const std::string &op, const std::string &key, const mp::V &value)
    {
        return MReq("User", op, mp::map({{"where", mp::map({{key, value}})}}));
    }
    static mp::V Create(const std::string &email, long long age)
    {
        return MReq("User", "create", mp::map({{"data", mp::map({{"email", email}, {"orgId", "o_1"}, {"age", mp::i(age)}})}}));
    }

    // How many times the server ran each command (INFO commandstats: top-level commands, those of a MULTI/EXEC,
    // and those the Lua scripts call). Counts of what kvorm sent, whatever the sizes of the socket reads.
    std::map<std::string, long long> CommandCalls()
    {
        std::map<std::string, long long> out;
        std::string info = raw_.Str({"INFO", "commandstats"});
        size_t pos = 0;
        while ((pos = info.find("cmdstat_", pos)) != std::string::npos) {
            size_t colon = info.find(':', pos), calls = info.find("calls=", pos);
            if (colon == std::string::npos || calls == std::string::npos)
                break;
            out[info.substr(pos + 8, colon - pos - 8)] = std::atoll(info.c_str() + calls + 6);
            pos = colon;
        }
        return out;
    }
    static long long Delta(std::map<std::string, long long> &before, std::map<std::string, long long> &after,
                           const std::string &cmd)
    {
        return after[cmd] - before[cmd];
    }
};

TEST_F(Batch, EachRequestGetsWhatItsOwnCallWouldGive)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    MRes ann = Exec(db_, Create("ann@x.io", 31));
    ASSERT_EQ(ann.rc, KVORM_OK) << ann.doc;
    MRes bob = Exec(db_, Create("bob@x.io", 40));
    ASSERT_EQ(bob.rc, KVORM_OK) << bob.doc;
    std::vector<mp::V> requests = {
        FindBy("findUnique", "id", ann.doc["id"]),
        FindBy("findUnique", "email", "bob@x.io"),
        FindBy("findUnique", "email", "nobody@x.io"),
        FindBy("findUniqueOrThrow", "email", "nobody@x.io"),
        MReq("User", "count"),
        MReq("Nope", "findUnique", mp::map({{"where", mp::map({{"id", "x"}})}})),
        FindBy("findUnique", "age", mp::i(31)),
        mp::map({{"op", "capabilities"}}),
    };
    std::vector<MRes> got = RunBatch(requests);
    ASSERT_EQ(got.size(), requests.size());
    EXPECT_EQ(got[0].rc, KVORM_OK);
    EXPECT_EQ(got[0].doc, ann.doc);
    EXPECT_EQ(got[1].rc, KVORM_OK);
    EXPECT_EQ(got[1].doc, bob.doc);
    EXPECT_EQ(got[2].rc, KVORM_OK);
    EXPECT_TRUE(got[2].doc.is_nil()) << got[2].doc;
    EXPECT_EQ(got[3].rc, KVORM_ENOTFOUND);
    EXPECT_EQ(got[3].doc["code"], mp::str("NOT_FOUND"));
    EXPECT_EQ(got[3].doc["op"], mp::str("findUniqueOrThrow"));
    EXPECT_EQ(got[4].rc, KVORM_OK);
    EXPECT_EQ(got[4].doc, mp::i(2));
    EXPECT_EQ(got[5].rc, KVORM_EBAD_REQUEST);
    EXPECT_EQ(got[5].doc["code"], mp::str("BAD_REQUEST"));
    EXPECT_EQ(got[6].rc, KVORM_EBAD_REQUEST) << got[6].doc;  // age is not unique
    EXPECT_EQ(got[7].rc, KVORM_OK);
    EXPECT_EQ(got[7].doc["engine"], mp::str("redis"));
    // Every response is byte for byte what a call of its own returns.
    for (size_t i : {0, 1, 2, 3, 5, 6}) {
        MRes alone = Exec(db_, requests[i]);
        EXPECT_EQ(alone.rc, got[i].rc) << "request " << i;
        EXPECT_EQ(Hex(alone.raw), Hex(got[i].raw)) << "request " << i;
    }
    // The last error is that of the last request that failed.
    EXPECT_EQ(kvorm_last_error_code(), KVORM_EBAD_REQUEST);
}

TEST_F(Batch, RequestsRunInOrderAroundWrites)
{
    std::vector<MRes> got = RunBatch({
        FindBy("findUnique", "email", "cat@x.io"),
        Create("cat@x.io", 5),
        FindBy("findUnique", "email", "cat@x.io"),
        MReq("User", "update", mp::map({{"where", mp::map({{"email", "cat@x.io"}})}, {"data", mp::map({{"age", mp::i(6)}})}})),
        FindBy("findUniqueOrThrow", "email", "cat@x.io"),
        Create("cat@x.io", 7),
        MReq("User", "delete", mp::map({{"where", mp::map({{"email", "cat@x.io"}})}})),
        FindBy("findUnique", "email", "cat@x.io"),
    });
    ASSERT_EQ(got.size(), 8u);
    EXPECT_TRUE(got[0].doc.is_nil()) << got[0].doc;
    ASSERT_EQ(got[1].rc, KVORM_OK) << got[1].doc;
    EXPECT_EQ(got[2].doc, got[1].doc);
    ASSERT_EQ(got[3].rc, KVORM_OK) << got[3].doc;
    EXPECT_EQ(got[4].doc["age"], mp::i(6));
    EXPECT_EQ(got[5].rc, KVORM_EUNIQUE);
    EXPECT_EQ(got[5].doc["code"], mp::str("UNIQUE_VIOLATION"));
    EXPECT_EQ(got[6].rc, KVORM_OK) << got[6].doc;
    EXPECT_TRUE(got[7].doc.is_nil()) << got[7].doc;
    EXPECT_EQ(ExecJson(db_, Req("User", "count")).text, "0");
}

TEST_F(Batch, ManyReadsReachRedisTogether)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    std::vector<mp::V> reads;
    for (int i = 0; i < 128; i++) {
        std::string email = "u" + std::to_string(i) + "@x.io";
        MRes c = Exec(db_, Create(email, i));
        ASSERT_EQ(c.rc, KVORM_OK) << c.doc;
        reads.push_back(i % 2 ? FindBy("findUnique", "email", email) : FindBy("findUnique", "id", c.doc["id"]));
    }
    // The batch goes through a proxy that forwards nothing until one connection has sent it 128 commands: only
    // a client that sends them all before it reads a reply gets there (one that waits for each reply has one).
    CommandHoldProxy proxy(RedisEnvironment::Main().port());
    std::string why;
    ASSERT_TRUE(proxy.Start(&why)) << why;
    db_ = Open(kAppSchema, proxy.Url());
    ASSERT_NE(db_, nullptr);
    auto before = CommandCalls();
    proxy.Hold(128, kHangGuardMs);
    std::vector<MRes> got = RunBatch(reads);
    size_t held = proxy.WaitReleased();
    auto after = CommandCalls();
    for (int i = 0; i < 128; i++) {
        ASSERT_EQ(got[i].rc, KVORM_OK) << got[i].doc;
        EXPECT_EQ(got[i].doc["email"], mp::str("u" + std::to_string(i) + "@x.io"));
    }
    EXPECT_EQ(held, 128u) << "the 128 reads did not travel together (one round trip)";
    // one command per read: a lookup script per unique key, nothing else, and no transaction for reads
    EXPECT_EQ(Delta(before, after, "evalsha"), 64);
    EXPECT_EQ(Delta(before, after, "multi"), 0);
    EXPECT_EQ(Delta(before, after, "exec"), 0);
}

static mp::V ItemReq(const std::string &op, const std::string &id, const std::string &label = "")
{
    if (op == "create")
        return MReq("Item", op, mp::map({{"data", mp::map({{"id", id}, {"label", label}})}}));
    if (op == "update")
        return MReq("Item", op, mp::map({{"where", mp::map({{"id", id}})}, {"data", mp::map({{"label", label}})}}));
    return MReq("Item", op, mp::map({{"where", mp::map({{"id", id}})}}));
}

TEST_F(Batch, ManyWritesReachRedisTogetherAndEachGetsItsOwnOutcome)
{
    std::vector<mp::V> creates;
    for (int i = 0; i < 100; i++)
        creates.push_back(Create("w" + std::to_string(i % 50) + "@x.io", i));  // the second 50 repeat the first
    // As above: MULTI, the 100 writes and EXEC must all reach the proxy before any reply can come back.
    CommandHoldProxy proxy(RedisEnvironment::Main().port());
    std::string why;
    ASSERT_TRUE(proxy.Start(&why)) << why;
    db_ = Open(kAppSchema, proxy.Url());
    ASSERT_NE(db_, nullptr);
    auto before = CommandCalls();
    proxy.Hold(102, kHangGuardMs);
    std::vector<MRes> got = RunBatch(creates);
    size_t held = proxy.WaitReleased();
    auto after = CommandCalls();
    for (int i = 0; i < 100; i++) {
        if (i < 50) {
            ASSERT_EQ(got[i].rc, KVORM_OK) << got[i].doc;
            EXPECT_EQ(got[i].doc["age"], mp::i(i));
        } else {
            EXPECT_EQ(got[i].rc, KVORM_EUNIQUE) << got[i].doc;
            EXPECT_EQ(got[i].doc["fields"], mp::arr({"email"}));
        }
    }
    EXPECT_EQ(held, 102u) << "the 100 writes did not travel together (MULTI, 100 EVALSHA, EXEC in one round trip)";
    // the server ran them as one transaction: one MULTI, one EXEC, one write script call per create
    EXPECT_EQ(Delta(before, after, "multi"), 1);
    EXPECT_EQ(Delta(before, after, "exec"), 1);
    EXPECT_EQ(Delta(before, after, "evalsha"), 100);
    EXPECT_EQ(ExecJson(db_, Req("User", "count")).text, "50");
    EXPECT_EQ(raw_.HLen("app:{User}:u:email"), 50);
}

TEST_F(Batch, BatchesRacingForTheSameUniqueValuesCreateEachRecordOnce)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    std::vector<std::string> bytes;
    for (int i = 0; i < 50; i++)
        bytes.push_back(mp::pack(Create("race" + std::to_string(i) + "@x.io", i)));
    std::vector<const void *> reqs;
    std::vector<size_t> lens;
    for (const std::string &b : bytes) {
        reqs.push_back(b.data());
        lens.push_back(b.size());
    }
    std::atomic<int> created{0}, taken{0}, other{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; t++)
        threads.emplace_back([&] {
            std::vector<unsigned char *> outs(50);
            std::vector<size_t> out_lens(50);
            std::vector<int> statuses(50);
            if (kvorm_exec_batch(outs.data(), out_lens.data(), statuses.data(), db_, reqs.data(), lens.data(), 50) !=
                KVORM_OK) {
                other += 50;
                return;
            }
            for (int i = 0; i < 50; i++) {
                (statuses[i] == KVORM_OK ? created : statuses[i] == KVORM_EUNIQUE ? taken : other)++;
                kvorm_free(outs[i]);
            }
        });
    for (std::thread &t : threads)
        t.join();
    EXPECT_EQ(created.load(), 50);
    EXPECT_EQ(taken.load(), 250);
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(raw_.HLen("app:{User}:u:email"), 50);
    EXPECT_EQ(raw_.ZCard("app:{User}:ids"), 50);
}

TEST_F(Batch, WritesKeepTheirOrderWhenRedisForgetsTheWriteScript)
{
    KT_ASSERT_OK(ExecJson(db_, Req("Item", "create", R"({"data":{"id":"warm"}})")));
    raw_.Str({"SCRIPT", "FLUSH"});
    std::vector<MRes> got = RunBatch({ItemReq("create", "a", "1"), ItemReq("findUnique", "a"), ItemReq("update", "a", "2"),
                                      ItemReq("create", "a", "3"), ItemReq("findUnique", "a"), ItemReq("delete", "a"),
                                      ItemReq("findUnique", "a"), ItemReq("update", "a", "4")});
    ASSERT_EQ(got[0].rc, KVORM_OK) << got[0].doc;
    EXPECT_EQ(got[1].doc["label"], mp::str("1")) << "the read ran before the create";
    EXPECT_EQ(got[2].doc["label"], mp::str("2"));
    EXPECT_EQ(got[3].rc, KVORM_EUNIQUE) << got[3].doc;
    EXPECT_EQ(got[4].doc["label"], mp::str("2"));
    EXPECT_EQ(got[5].rc, KVORM_OK) << got[5].doc;
    EXPECT_TRUE(got[6].doc.is_nil()) << got[6].doc;
    EXPECT_EQ(got[7].rc, KVORM_ENOTFOUND) << got[7].doc;
    EXPECT_EQ(got[7].doc["message"].s.find("no record with id \"a\"") != std::string::npos, true) << got[7].doc;
    EXPECT_FALSE(raw_.Exists("app:{Item}:r:a"));
}

TEST_F(Batch, ADroppedConnectionFailsEveryWriteOfTheBatchWithConnection)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_OK(ExecJson(db_, Req("Item", "create", R"({"data":{"id":"warm"}})")));
    ASSERT_GE(raw_.Int({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}), 1);
    std::vector<MRes> got = RunBatch({ItemReq("create", "a"), ItemReq("findUnique", "warm"), ItemReq("create", "b")});
    for (const MRes &r : got)
        EXPECT_EQ(r.rc, KVORM_ECONNECTION) << r.doc;
    got = RunBatch({ItemReq("create", "a"), ItemReq("findUnique", "warm"), ItemReq("create", "b")});
    for (const MRes &r : got)
        EXPECT_EQ(r.rc, KVORM_OK) << r.doc;
}

TEST_F(Batch, WhenRedisRefusesTheWritesEachRequestGetsItsOwnOutcome)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_OK(ExecJson(db_, Req("Item", "create", R"({"data":{"id":"warm"}})")));
    raw_.Str({"CONFIG", "SET", "maxmemory", "1"});  // Redis refuses writes (OOM), and the whole MULTI with them
    std::vector<MRes> got = RunBatch({ItemReq("create", "a"), ItemReq("findUnique", "warm"), ItemReq("create", "b")});
    raw_.Str({"CONFIG", "SET", "maxmemory", "0"});
    for (int i : {0, 2}) {
        // out of memory is UNAVAILABLE (kvorm.h): nothing was written, retry later
        EXPECT_EQ(got[i].rc, KVORM_EUNAVAILABLE) << got[i].doc;
        EXPECT_EQ(got[i].doc["code"], mp::str("UNAVAILABLE")) << got[i].doc;
        EXPECT_NE(got[i].doc["message"].s.find("OOM"), std::string::npos) << got[i].doc;
    }
    EXPECT_EQ(got[1].rc, KVORM_OK) << "a read is not refused: " << got[1].doc;
    EXPECT_EQ(got[1].doc["id"], mp::str("warm"));
    EXPECT_FALSE(raw_.Exists("app:{Item}:r:a"));
    EXPECT_FALSE(raw_.Exists("app:{Item}:r:b"));
    got = RunBatch({ItemReq("create", "a"), ItemReq("create", "b")});
    EXPECT_EQ(got[0].rc, KVORM_OK) << got[0].doc;
    EXPECT_EQ(got[1].rc, KVORM_OK) << got[1].doc;
}

TEST_F(Batch, ReadsSurviveRedisForgettingTheLookupScript)
{
    MRes ann = Exec(db_, Create("ann@x.io", 31));
    ASSERT_EQ(ann.rc, KVORM_OK) << ann.doc;
    KT_ASSERT_OK(ExecJson(db_, Req("User", "findUnique", R"({"where":{"email":"ann@x.io"}})")));
    raw_.Str({"SCRIPT", "FLUSH"});
    std::vector<MRes> got = RunBatch({FindBy("findUnique", "email", "ann@x.io"), FindBy("findUnique", "id", ann.doc["id"]),
                                      FindBy("findUnique", "email", "ann@x.io"), FindBy("findUnique", "email", "no@x.io")});
    EXPECT_EQ(got[0].doc, ann.doc);
    EXPECT_EQ(got[1].doc, ann.doc);
    EXPECT_EQ(got[2].doc, ann.doc);
    EXPECT_EQ(got[3].rc, KVORM_OK);
    EXPECT_TRUE(got[3].doc.is_nil()) << got[3].doc;
}

TEST_F(Batch, ADroppedConnectionFailsTheReadsWithConnectionThenReconnects)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    MRes ann = Exec(db_, Create("ann@x.io", 31));
    ASSERT_EQ(ann.rc, KVORM_OK) << ann.doc;
    ASSERT_GE(raw_.Int({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}), 1);
    std::vector<MRes> got = RunBatch({FindBy("findUnique", "email", "ann@x.io"), FindBy("findUnique", "id", ann.doc["id"])});
    for (const MRes &r : got) {
        EXPECT_EQ(r.rc, KVORM_ECONNECTION) << r.doc;
        EXPECT_EQ(r.doc["code"], mp::str("CONNECTION"));
    }
    got = RunBatch({FindBy("findUnique", "email", "ann@x.io"), FindBy("findUnique", "id", ann.doc["id"])});
    EXPECT_EQ(got[0].doc, ann.doc);
    EXPECT_EQ(got[1].doc, ann.doc);
}

TEST_F(Batch, MalformedRequestsFailAloneAndTheRestRun)
{
    MRes ann = Exec(db_, Create("ann@x.io", 31));
    ASSERT_EQ(ann.rc, KVORM_OK) << ann.doc;
    std::string good = mp::pack(FindBy("findUnique", "email", "ann@x.io"));
    std::vector<MRes> got = RunBytes({good, std::string("\xc1", 1), good.substr(0, good.size() - 3), "", good});
    EXPECT_EQ(got[0].doc, ann.doc);
    for (int i = 1; i <= 3; i++) {
        EXPECT_EQ(got[i].rc, KVORM_EBAD_REQUEST) << "request " << i;
        EXPECT_EQ(got[i].doc["code"], mp::str("BAD_REQUEST"));
    }
    EXPECT_EQ(got[4].doc, ann.doc);
    EXPECT_EQ(kvorm_last_error_code(), KVORM_EBAD_REQUEST);
    RunBatch({FindBy("findUnique", "email", "ann@x.io")});
    EXPECT_EQ(kvorm_last_error_code(), KVORM_OK) << "a batch without failures clears the last error";
}

TEST_F(Batch, MisuseRunsNothing)
{
    std::string req = mp::pack(Create("ann@x.io", 1));
    const void *reqs[1] = {req.data()};
    size_t lens[1] = {req.size()};
    unsigned char *outs[1] = {nullptr};
    size_t out_lens[1] = {0};
    int statuses[1] = {0};
    EXPECT_EQ(kvorm_exec_batch(outs, out_lens, statuses, nullptr, reqs, lens, 1), KVORM_EMISUSE);
    EXPECT_EQ(kvorm_exec_batch(nullptr, out_lens, statuses, db_, reqs, lens, 1), KVORM_EMISUSE);
    EXPECT_EQ(kvorm_exec_batch(outs, out_lens, nullptr, db_, reqs, lens, 1), KVORM_EMISUSE);
    EXPECT_EQ(kvorm_exec_batch(outs, out_lens, statuses, db_, nullptr, lens, 1), KVORM_EMISUSE);
    const void *null_req[1] = {nullptr};
    EXPECT_EQ(kvorm_exec_batch(outs, out_lens, statuses, db_, null_req, lens, 1), KVORM_EMISUSE);
    EXPECT_EQ(kvorm_last_error_code(), KVORM_EMISUSE);
    EXPECT_EQ(outs[0], nullptr);
    EXPECT_EQ(kvorm_exec_batch(nullptr, nullptr, nullptr, db_, nullptr, nullptr, 0), KVORM_OK);
    EXPECT_EQ(ExecJson(db_, Req("User", "count")).text, "0") << "nothing ran";
}

}  // namespace
}  // namespace kt
