// UNAVAILABLE and the retryable flag (docs/errors.md): a real Redis that is loading its dataset, busy with a
// script, a read-only replica or out of memory answers kvorm with UNAVAILABLE, retryable, and nothing written;
// a dropped connection on a read is retryable, a write whose reply was lost is not, and says so.
#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "test_util.h"
#include "utf8_check.h"

namespace kt {
namespace {

// Checks cond until it holds; the bound only stops a test that would otherwise hang, it decides nothing.
bool Eventually(const std::function<bool()> &cond)
{
    auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!cond()) {
        if (std::chrono::steady_clock::now() > guard)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

bool ReplyStartsWith(const ReplyPtr &r, const std::string &prefix)
{
    return r && (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING) &&
           std::string(r->str, r->len).rfind(prefix, 0) == 0;
}

// A JSON call with the thread's retryable flag read right after it.
struct Call {
    JRes res;
    int last_retryable = -1;
};

Call RunCall(kvorm_db *db, const std::string &req)
{
    Call c;
    c.res = ExecJson(db, req);
    c.last_retryable = kvorm_last_error_retryable();
    return c;
}

// kvorm_exec_batch of MessagePack requests.
std::vector<MRes> Batch(kvorm_db *db, const std::vector<mp::V> &reqs)
{
    std::vector<std::string> packed;
    std::vector<const void *> ptrs;
    std::vector<size_t> lens;
    for (const auto &r : reqs)
        packed.push_back(mp::pack(r));
    for (const auto &p : packed) {
        ptrs.push_back(p.data());
        lens.push_back(p.size());
    }
    std::vector<unsigned char *> outs(reqs.size());
    std::vector<size_t> out_lens(reqs.size());
    std::vector<int> statuses(reqs.size());
    EXPECT_EQ(kvorm_exec_batch(outs.data(), out_lens.data(), statuses.data(), db, ptrs.data(), lens.data(), reqs.size()),
              KVORM_OK);
    std::vector<MRes> got(reqs.size());
    for (size_t i = 0; i < reqs.size(); i++) {
        got[i].rc = statuses[i];
        got[i].raw.assign(reinterpret_cast<char *>(outs[i]), out_lens[i]);
        got[i].parsed = mp::unpack(got[i].raw, &got[i].doc);
        kvorm_free(outs[i]);
    }
    return got;
}

mp::V ItemCreate(const std::string &id) { return MReq("Item", "create", mp::map({{"data", mp::map({{"id", id}})}})); }
mp::V ItemFind(const std::string &id) { return MReq("Item", "findUnique", mp::map({{"where", mp::map({{"id", id}})}})); }

void ExpectUnavailable(const Call &c, const char *redis_error, const std::string &what)
{
    EXPECT_EQ(c.res.rc, KVORM_EUNAVAILABLE) << what << ": " << c.res.text;
    EXPECT_EQ(c.res.str("code"), "UNAVAILABLE") << what << ": " << c.res.text;
    EXPECT_TRUE(json_is_true(c.res.at("retryable"))) << what << ": " << c.res.text;
    EXPECT_EQ(c.last_retryable, 1) << what;
    EXPECT_NE(c.res.str("message").find(redis_error), std::string::npos) << what << ": " << c.res.text;
    EXPECT_NE(c.res.str("message").find("nothing was written"), std::string::npos) << what << ": " << c.res.text;
}

void ExpectUnavailable(const MRes &r, const char *redis_error, const std::string &what)
{
    EXPECT_EQ(r.rc, KVORM_EUNAVAILABLE) << what << ": " << r.doc;
    EXPECT_EQ(r.doc["retryable"], mp::boolean(true)) << what << ": " << r.doc;
    EXPECT_NE(r.doc["message"].s.find(redis_error), std::string::npos) << what << ": " << r.doc;
    ExpectStringsValid(r.doc, what);
}

// Opens a db with a schema of its own namespace (its layout is not stored yet) and returns the status.
int OpenFresh(const std::string &url)
{
    SchemaPtr s = LoadSchema(R"({"namespace":"fresh","models":{"T":{"fields":{"x":{"type":"string"}}}}})");
    kvorm_db *db = nullptr;
    int rc = kvorm_open(&db, url.c_str(), s.get(), nullptr);
    kvorm_close(db);
    return rc;
}

// ---- a server of its own, which the tests make unavailable -----------------------------------------------------

class Unavailable : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        spare_ = new RedisServer("spare", {"--enable-debug-command", "local"});
        if (!spare_->Start(&why_))
            why_ = "the spare redis-server did not start: " + why_;
    }
    static void TearDownTestSuite()
    {
        delete spare_;
        spare_ = nullptr;
    }

    void SetUp() override
    {
        ASSERT_TRUE(why_.empty()) << why_;
        raw_ = Raw(spare_->Connect());
        ASSERT_TRUE(raw_.ok());
        raw_.FlushAll();
        db_ = OpenDb(kAppSchema, spare_->UnixUrl());
        ASSERT_TRUE(db_);
        KT_ASSERT_OK(ExecJson(db_.get(), Req("Item", "create", R"({"data":{"id":"warm","label":"w"}})")));
        before_ = raw_.Snapshot();
    }

    void TearDown() override
    {
        db_.reset();
        Raw reset(spare_->Connect());
        if (!reset.ok())
            return;
        reset.Cmd({"REPLICAOF", "NO", "ONE"});
        for (auto kv : std::vector<std::pair<const char *, const char *>>{{"maxmemory", "0"},
                                                                          {"replica-serve-stale-data", "yes"},
                                                                          {"key-load-delay", "0"},
                                                                          {"busy-reply-threshold", "5000"}})
            reset.Cmd({"CONFIG", "SET", kv.first, kv.second});
    }

    // The calls a test makes while the server cannot serve: a write, a read, a count, a batch of both, and an
    // open; every one UNAVAILABLE, retryable, naming the Redis error. Reads that a replica or a full memory still
    // serve are expected to work instead.
    void ExpectEverythingUnavailable(const char *redis_error, bool reads_work)
    {
        ExpectUnavailable(RunCall(db_.get(), Req("Item", "create", R"({"data":{"id":"new"}})")), redis_error, "create");
        ExpectUnavailable(RunCall(db_.get(), Req("Item", "update", R"({"where":{"id":"warm"},"data":{"label":"x"}})")),
                          redis_error, "update");
        std::vector<MRes> got = Batch(db_.get(), {ItemCreate("b1"), ItemFind("warm"), ItemCreate("b2")});
        ExpectUnavailable(got[0], redis_error, "batched create");
        ExpectUnavailable(got[2], redis_error, "batched create");
        Call find = RunCall(db_.get(), Req("Item", "findUnique", R"({"where":{"id":"warm"}})"));
        if (reads_work) {
            EXPECT_EQ(got[1].rc, KVORM_OK) << got[1].doc;
            KT_EXPECT_OK(find.res);
            EXPECT_EQ(find.res.str("label"), "w");
            return;
        }
        ExpectUnavailable(got[1], redis_error, "batched read");
        ExpectUnavailable(find, redis_error, "findUnique");
        ExpectUnavailable(RunCall(db_.get(), Req("Item", "count")), redis_error, "count");
        EXPECT_EQ(OpenFresh(spare_->UnixUrl()), KVORM_EUNAVAILABLE) << LastError();
        EXPECT_EQ(kvorm_last_error_retryable(), 1);
    }

    // Nothing was written, and the db works again.
    void ExpectNothingWrittenAndServedAgain()
    {
        EXPECT_EQ(raw_.Snapshot(), before_);
        KT_EXPECT_OK(ExecJson(db_.get(), Req("Item", "create", R"({"data":{"id":"after"}})")));
        std::vector<MRes> got = Batch(db_.get(), {ItemCreate("after2"), ItemFind("warm")});
        EXPECT_EQ(got[0].rc, KVORM_OK) << got[0].doc;
        EXPECT_EQ(got[1].doc["label"], mp::str("w")) << got[1].doc;
    }

    static RedisServer *spare_;
    static std::string why_;
    Raw raw_;
    DbPtr db_;
    std::map<std::string, std::string> before_;
};

RedisServer *Unavailable::spare_ = nullptr;
std::string Unavailable::why_;

TEST_F(Unavailable, AServerLoadingItsDatasetIsUnavailableAndRetryable)
{
    // a reload that takes as long as the test wants: 2000 keys of 2 KiB, uncompressed, each delayed, with events
    // served after every key; setting the delay to 0 lets it finish
    Raw loader(spare_->Connect());
    ASSERT_TRUE(loader.ok());
    timeval long_wait{120, 0};
    redisSetTimeout(loader.ctx(), long_wait);
    loader.Select(9);
    ASSERT_EQ(loader.Str({"DEBUG", "POPULATE", "2000", "k", "2048"}), "OK");
    for (auto kv : std::vector<std::pair<const char *, const char *>>{
             {"rdbcompression", "no"}, {"loading-process-events-interval-bytes", "1024"}, {"key-load-delay", "20000"}})
        ASSERT_EQ(raw_.Str({"CONFIG", "SET", kv.first, kv.second}), "OK") << kv.first;
    std::thread reload([&] { EXPECT_EQ(loader.Str({"DEBUG", "RELOAD"}), "OK"); });
    ASSERT_TRUE(Eventually([&] {
        auto r = raw_.Cmd({"INFO", "persistence"});
        return r && std::string(r->str, r->len).find("loading:1") != std::string::npos;
    }));
    ExpectEverythingUnavailable("LOADING", false);
    EXPECT_EQ(raw_.Str({"CONFIG", "SET", "key-load-delay", "0"}), "OK");
    reload.join();
    ExpectNothingWrittenAndServedAgain();
}

TEST_F(Unavailable, AServerBusyWithAScriptIsUnavailableAndRetryable)
{
    ASSERT_EQ(raw_.Str({"CONFIG", "SET", "busy-reply-threshold", "10"}), "OK");
    Raw runner(spare_->Connect());
    ASSERT_TRUE(runner.ok());
    timeval long_wait{120, 0};
    redisSetTimeout(runner.ctx(), long_wait);
    std::thread script([&] {
        auto r = runner.Cmd({"EVAL", "while true do end", "0"});
        EXPECT_TRUE(ReplyStartsWith(r, "ERR Script killed")) << "the script ends by SCRIPT KILL";
    });
    ASSERT_TRUE(Eventually([&] { return ReplyStartsWith(raw_.Cmd({"PING"}), "BUSY"); }));
    ExpectEverythingUnavailable("BUSY", false);
    // connecting anew: SELECT is refused too
    EXPECT_EQ(OpenFresh(spare_->UnixUrl("db=1")), KVORM_EUNAVAILABLE) << LastError();
    EXPECT_NE(std::string(kvorm_last_error_message()).find("Redis cannot serve selecting database 1 now: BUSY"),
              std::string::npos)
        << kvorm_last_error_message();
    EXPECT_EQ(kvorm_last_error_retryable(), 1);
    EXPECT_TRUE(Eventually([&] { return ReplyStartsWith(raw_.Cmd({"SCRIPT", "KILL"}), "OK"); }));
    script.join();
    ExpectNothingWrittenAndServedAgain();
}

TEST_F(Unavailable, AReadOnlyReplicaIsUnavailableForWritesAndServesReads)
{
    // a replica of a port nothing listens on: it never syncs, keeps its data, and refuses writes
    ASSERT_EQ(raw_.Str({"REPLICAOF", "127.0.0.1", std::to_string(FreePort())}), "OK");
    ExpectEverythingUnavailable("READONLY", true);
    ExpectUnavailable(RunCall(db_.get(), Req("Item", "delete", R"({"where":{"id":"warm"}})")), "READONLY", "delete");
    EXPECT_EQ(OpenFresh(spare_->UnixUrl()), KVORM_EUNAVAILABLE) << "the schema cannot be stored: " << LastError();
    // cut off from its master and told not to serve stale data, it refuses reads too
    ASSERT_EQ(raw_.Str({"CONFIG", "SET", "replica-serve-stale-data", "no"}), "OK");
    ExpectUnavailable(RunCall(db_.get(), Req("Item", "findUnique", R"({"where":{"id":"warm"}})")), "MASTERDOWN",
                      "findUnique on a stale replica");
    ASSERT_EQ(raw_.Str({"REPLICAOF", "NO", "ONE"}), "OK");
    ExpectNothingWrittenAndServedAgain();
}

TEST_F(Unavailable, AServerOutOfMemoryIsUnavailableForWritesAndServesReads)
{
    ASSERT_EQ(raw_.Str({"CONFIG", "SET", "maxmemory-policy", "noeviction"}), "OK");
    ASSERT_EQ(raw_.Str({"CONFIG", "SET", "maxmemory", "1"}), "OK");
    ExpectEverythingUnavailable("OOM", true);
    KT_EXPECT_OK(ExecJson(db_.get(), Req("Item", "count")));
    ASSERT_EQ(raw_.Str({"CONFIG", "SET", "maxmemory", "0"}), "OK");
    ExpectNothingWrittenAndServedAgain();
}

// ---- dropped connections and timeouts on the main server -------------------------------------------------------

class Retryable : public KvTest {
protected:
    // Waits until kvorm's connections are gone from the server (CLIENT LIST holds only ours).
    bool OnlyOurClientLeft()
    {
        return Eventually([&] {
            std::string list = raw_.Str({"CLIENT", "LIST"});
            return std::count(list.begin(), list.end(), '\n') == 1;
        });
    }
};

TEST_F(Retryable, AReadOnAKilledConnectionIsConnectionAndRetryable)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().TcpUrl());
    ASSERT_NE(db, nullptr);
    KT_ASSERT_OK(ExecJson(db, Req("Item", "create", R"({"data":{"id":"k"}})")));
    ASSERT_GE(raw_.Int({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}), 1);
    Call c = RunCall(db, Req("Item", "findUnique", R"({"where":{"id":"k"}})"));
    KT_ASSERT_CODE(c.res, KVORM_ECONNECTION, "CONNECTION");
    EXPECT_TRUE(json_is_true(c.res.at("retryable"))) << c.res.text;
    EXPECT_EQ(c.last_retryable, 1);
    EXPECT_EQ(c.res.str("message").find("may or may not"), std::string::npos) << c.res.text;
    KT_EXPECT_OK(ExecJson(db, Req("Item", "findUnique", R"({"where":{"id":"k"}})")));
}

TEST_F(Retryable, AWriteThatNeverLeftIsRetryable)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    kvorm_db *db = Open(kAppSchema);
    ASSERT_NE(db, nullptr);
    KT_ASSERT_OK(ExecJson(db, Req("Item", "count")));
    ASSERT_GE(raw_.Int({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}), 1);
    ASSERT_TRUE(OnlyOurClientLeft());
    // the server closed the unix socket: the write cannot be sent at all
    Call c = RunCall(db, Req("Item", "create", R"({"data":{"id":"unsent"}})"));
    KT_ASSERT_CODE(c.res, KVORM_ECONNECTION, "CONNECTION");
    EXPECT_TRUE(json_is_true(c.res.at("retryable"))) << c.res.text;
    EXPECT_EQ(c.last_retryable, 1);
    EXPECT_FALSE(raw_.Exists("app:{Item}:r:unsent"));
}

TEST_F(Retryable, AWriteThatTimedOutAfterItLeftMayHaveBeenAppliedAndIsNotRetryable)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().UnixUrl("timeout=100"));
    ASSERT_NE(db, nullptr);
    KT_ASSERT_OK(ExecJson(db, Req("Item", "create", R"({"data":{"id":"warm"}})")));
    // writes wait (the scripts among them), reads and this connection's CLIENT UNPAUSE do not
    ASSERT_EQ(raw_.Str({"CLIENT", "PAUSE", "60000", "WRITE"}), "OK");
    Call c = RunCall(db, Req("Item", "create", R"({"data":{"id":"late"}})"));
    KT_EXPECT_OK(ExecJson(db, Req("Item", "findUnique", R"({"where":{"id":"warm"}})")));
    std::vector<MRes> got = Batch(db, {ItemCreate("late2"), ItemFind("warm")});
    ASSERT_EQ(raw_.Str({"CLIENT", "UNPAUSE"}), "OK");
    KT_ASSERT_CODE(c.res, KVORM_ETIMEOUT, "TIMEOUT");
    EXPECT_NE(c.res.str("message").find("the write may or may not have been applied"), std::string::npos)
        << c.res.text;
    EXPECT_TRUE(json_is_false(c.res.at("retryable"))) << c.res.text;
    EXPECT_EQ(c.last_retryable, 0);
    // in a batch, the write is as unsure; the read beside it is retryable
    EXPECT_EQ(got[0].rc, KVORM_ETIMEOUT) << got[0].doc;
    EXPECT_EQ(got[0].doc["retryable"], mp::boolean(false)) << got[0].doc;
    EXPECT_NE(got[0].doc["message"].s.find("may or may not"), std::string::npos) << got[0].doc;
    EXPECT_EQ(got[1].rc, KVORM_ETIMEOUT) << got[1].doc;
    EXPECT_EQ(got[1].doc["retryable"], mp::boolean(true)) << got[1].doc;
    EXPECT_EQ(got[1].doc["message"].s.find("may or may not"), std::string::npos) << got[1].doc;
    KT_EXPECT_OK(ExecJson(db, Req("Item", "create", R"({"data":{"id":"after"}})")));
}

TEST_F(Retryable, AReadThatTimedOutIsRetryable)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().UnixUrl("timeout=50"));
    ASSERT_NE(db, nullptr);
    KT_ASSERT_OK(ExecJson(db, Req("Item", "count")));
    {
        Raw pauser(RedisEnvironment::Main().Connect());
        ASSERT_EQ(pauser.Str({"CLIENT", "PAUSE", "300", "ALL"}), "OK");
    }
    Call c = RunCall(db, Req("Item", "findUnique", R"({"where":{"id":"x"}})"));
    raw_.Cmd({"PING"});  // answered once the pause is over
    KT_ASSERT_CODE(c.res, KVORM_ETIMEOUT, "TIMEOUT");
    EXPECT_TRUE(json_is_true(c.res.at("retryable"))) << c.res.text;
    EXPECT_EQ(c.last_retryable, 1);
    KT_EXPECT_OK(ExecJson(db, Req("Item", "count")));
}

TEST_F(Retryable, AWrongPasswordIsNotRetryable)
{
    SchemaPtr s = LoadSchema(kAppSchema);
    kvorm_db *db = nullptr;
    EXPECT_EQ(kvorm_open(&db, RedisEnvironment::Auth().UnixUrl("password=nope").c_str(), s.get(), nullptr),
              KVORM_ECONNECTION);
    EXPECT_EQ(kvorm_last_error_retryable(), 0) << "the same password fails the same way";
}

TEST_F(Retryable, ASuccessClearsTheFlag)
{
    kvorm_db *db = Open(kAppSchema, RedisEnvironment::Main().TcpUrl());
    ASSERT_NE(db, nullptr);
    ASSERT_GE(raw_.Int({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}), 1);
    EXPECT_EQ(RunCall(db, Req("Item", "count")).last_retryable, 1);
    EXPECT_EQ(RunCall(db, Req("Item", "count")).last_retryable, 0);
}

}  // namespace
}  // namespace kt
