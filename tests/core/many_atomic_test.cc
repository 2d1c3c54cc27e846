// createMany, updateMany and deleteMany all or nothing (docs/queries.md, "All or nothing"), on both engines: a
// call of up to atomicManyLimit records is one atomic write; above it, the chunks before a failure stay, and the
// error says how many records they hold. The shim of engine_shim.h changes records at the exact point between the
// call's read and its write, so the re-read cases are deterministic.
#include "engine_shim.h"
#include "test_util.h"

#include <atomic>
#include <thread>

namespace kt {
namespace {

const char kSchema[] = R"json({"namespace": "ma", "models": {"R": {"id": {"type": "string"},
  "fields": {"tag": {"type": "string", "index": true}, "note": {"type": "string", "optional": true},
             "handle": {"type": "string", "unique": true, "optional": true},
             "a": {"type": "integer", "optional": true}, "b": {"type": "integer", "optional": true}},
  "unique": [["a", "b"]]}}})json";

struct Write {
    kvorm_db *db;
    std::vector<std::string> reqs;
    std::vector<JRes> res;
};

void RunWrites(void *arg)
{
    Write *w = static_cast<Write *>(arg);
    for (const auto &r : w->reqs)
        w->res.push_back(ExecJson(w->db, r));
}

std::string Id(int i)
{
    char b[16];
    snprintf(b, sizeof(b), "r%04d", i);
    return b;
}

// {"data": [...n records r0000.. with tag, and handle h<i> when handles]}
std::string Records(int from, int n, bool handles)
{
    std::string d = "{\"data\":[";
    for (int i = from; i < from + n; i++)
        d += std::string(i > from ? "," : "") + "{\"id\":\"" + Id(i) + "\",\"tag\":\"t" + std::to_string(i % 2) +
             "\"" + (handles ? ",\"handle\":\"h" + std::to_string(i) + "\"" : "") + "}";
    return d + "]}";
}

class ManyAtomic : public KvTest, public ::testing::WithParamInterface<std::string> {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        url_ = "";
        if (GetParam() == "lmdb") {
            char tmpl[] = "/tmp/kvorm-many-XXXXXX";
            const char *d = mkdtemp(tmpl);
            ASSERT_NE(d, nullptr);
            dir_ = d;
            url_ = "lmdb://" + dir_ + "?sync=nosync&mapsize=67108864";
        }
        db_ = OpenDb(kSchema, url_);
        ASSERT_TRUE(db_);
        writer_ = OpenDb(kSchema, url_);
        ASSERT_TRUE(writer_);
        JRes caps = ExecJson(db_.get(), Req("R", "capabilities"));
        KT_ASSERT_OK(caps);
        limit_ = caps.integer("atomicManyLimit");
        ASSERT_GT(limit_, 1) << caps.text;
    }
    void TearDown() override
    {
        if (db_)
            kt_shim_remove(db_.get());
        db_.reset();
        writer_.reset();
        KvTest::TearDown();
        if (!dir_.empty()) {
            EXPECT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0);
        }
    }
    bool Redis() const { return GetParam() == "redis"; }
    JRes Run(const std::string &op, const std::string &args = "") { return ExecJson(db_.get(), Req("R", op, args)); }
    long long Count(const std::string &where = "{}")
    {
        JRes r = Run("count", "{\"where\":" + where + "}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.doc ? json_integer_value(r.get()) : -1;
    }
    void ExpectClean()
    {
        JRes c = Run("check");
        KT_ASSERT_OK(c);
        EXPECT_TRUE(json_is_true(c.at("ok"))) << c.text;
        if (Redis()) {
            EXPECT_FALSE(raw_.Exists("ma:{R}:guard")) << "the guard key lives inside one MULTI only";
        }
    }
    std::string url_, dir_;
    DbPtr db_, writer_;
    long long limit_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Engines, ManyAtomic, ::testing::Values("redis", "lmdb"),
                         [](const ::testing::TestParamInfo<std::string> &p) { return p.param; });

// What only Redis has: MULTI/EXEC, a script cache, index entries apart from the record.
class ManyAtomicRedis : public ManyAtomic {};
INSTANTIATE_TEST_SUITE_P(Engines, ManyAtomicRedis, ::testing::Values("redis"),
                         [](const ::testing::TestParamInfo<std::string> &p) { return p.param; });

TEST_P(ManyAtomic, TheLimitIsACapability)
{
    EXPECT_EQ(limit_, Redis() ? 128 : 4096);
}

// The last record of a full chunk takes a handle the store holds: the store finds it, and none of the chunk is
// written, not even the records before it.
TEST_P(ManyAtomic, AValueTakenInTheStoreFailsTheWholeCall)
{
    KT_ASSERT_OK(Run("create", R"({"data":{"id":"x","tag":"t0","handle":"taken"}})"));
    std::map<std::string, std::string> before;
    if (Redis())
        before = raw_.Snapshot();
    int n = (int)limit_;
    std::string data = Records(0, n - 1, true);
    data.insert(data.size() - 2, ",{\"id\":\"last\",\"tag\":\"t0\",\"handle\":\"taken\"}");
    JRes r = Run("createMany", data);
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_NE(r.str("message").find("after creating 0 record(s)"), std::string::npos) << r.text;
    EXPECT_NE(r.str("message").find("taken"), std::string::npos) << "names the value: " << r.text;
    EXPECT_EQ(r.fields(), std::vector<std::string>{"handle"}) << r.text;
    EXPECT_EQ(Count(), 1);
    if (Redis()) {
        EXPECT_EQ(raw_.Snapshot(), before) << "not one key changed";
    }
    ExpectClean();
}

// Above the limit the chunks before the failing one stay, and the message says how many records they hold.
TEST_P(ManyAtomic, AboveTheLimitTheChunksBeforeAFailureStay)
{
    KT_ASSERT_OK(Run("create", R"({"data":{"id":"x","tag":"t0","handle":"taken"}})"));
    int n = (int)limit_ + 10;
    std::string data = Records(0, n, true);
    data.insert(data.size() - 2, ",{\"id\":\"late\",\"tag\":\"t0\",\"handle\":\"taken\"}");
    JRes r = Run("createMany", data);
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_NE(r.str("message").find("after creating " + std::to_string(limit_) + " record(s)"), std::string::npos)
        << r.text;
    EXPECT_FALSE(json_is_true(r.at("retryable"))) << "running it again is not the same call: " << r.text;
    EXPECT_EQ(Count(), 1 + limit_);
    EXPECT_EQ(Count("{\"id\":\"" + Id((int)limit_) + "\"}"), 0) << "nothing of the failing chunk";
    ExpectClean();
}

// Two records of one chunk would take the same value: found before anything is sent, naming both.
TEST_P(ManyAtomic, TwoRecordsOfTheCallWithOneValueFailNamingBoth)
{
    JRes r = Run("createMany", R"({"data":[{"id":"p","tag":"t0","handle":"same"},{"id":"q","tag":"t0"},
        {"id":"s","tag":"t1","handle":"same"}]})");
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_NE(r.str("message").find("data[0] and data[2]"), std::string::npos) << r.text;
    EXPECT_EQ(Count(), 0);
    // a compound unique: updateMany sets a, and two records share b
    KT_ASSERT_OK(Run("createMany", R"({"data":[{"id":"p","tag":"t0","b":1},{"id":"q","tag":"t0","b":2},
        {"id":"s","tag":"t0","b":1},{"id":"u","tag":"t1","b":1}]})"));
    r = Run("updateMany", R"({"where":{"tag":"t0"},"data":{"a":7,"note":"moved"}})");
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_NE(r.str("message").find("\"p\""), std::string::npos) << r.text;
    EXPECT_NE(r.str("message").find("\"s\""), std::string::npos) << r.text;
    EXPECT_EQ(r.fields(), (std::vector<std::string>{"a", "b"})) << r.text;
    EXPECT_EQ(Count(R"({"note":"moved"})"), 0);
    // without the clash it goes through; a null in the constraint claims nothing
    KT_ASSERT_OK(Run("updateMany", R"({"where":{"id":{"in":["p","q"]}},"data":{"a":7}})"));
    KT_ASSERT_OK(Run("updateMany", R"({"where":{"tag":"t0"},"data":{"a":null,"note":"moved"}})"));
    EXPECT_EQ(Count(R"({"note":"moved"})"), 3);
    ExpectClean();
}

// A record that changed between the call's read and its write is read again: written at its new version when it
// still matches, left alone when it no longer does; one deleted meanwhile is not counted.
TEST_P(ManyAtomic, RecordsChangedAfterTheReadAreReadAgain)
{
    KT_ASSERT_OK(Run("createMany", Records(0, 10, false)));
    Write w{writer_.get(),
            {Req("R", "update", R"({"where":{"id":"r0002"},"data":{"tag":"t9"}})"),
             Req("R", "update", R"({"where":{"id":"r0004"},"data":{"note":"theirs"}})"),
             Req("R", "delete", R"({"where":{"id":"r0006"}})")},
            {}};
    kt_shim_before_next_run_all(db_.get(), RunWrites, &w);
    JRes r = Run("updateMany", R"({"where":{"tag":"t0"},"data":{"note":"ours"}})");
    KT_ASSERT_OK(r);
    for (const auto &x : w.res)
        KT_EXPECT_OK(x);
    EXPECT_EQ(r.integer("count"), 3) << "r0000 r0004 r0008; r0002 left the where, r0006 went: " << r.text;
    EXPECT_EQ(Count(R"({"note":"ours"})"), 3);
    EXPECT_EQ(Count(R"({"id":"r0002","note":null})"), 1);
    JRes four = Run("findUnique", R"({"where":{"id":"r0004"},"select":{"note":true,"$version":true}})");
    EXPECT_EQ(four.str("note"), "ours") << four.text;
    EXPECT_EQ(four.integer("$version"), 3) << "written at the version it was read again at: " << four.text;

    Write d{writer_.get(), {Req("R", "delete", R"({"where":{"id":"r0001"}})")}, {}};
    kt_shim_before_next_run_all(db_.get(), RunWrites, &d);
    r = Run("deleteMany", R"({"where":{"tag":"t1"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 4) << r.text;
    EXPECT_EQ(Count(R"({"tag":"t1"})"), 0);
    ExpectClean();
}

// While one client runs updateMany over a set of records again and again, another reads them all at once (Redis:
// a raw MULTI of HGETs; LMDB: one findMany by id, one read transaction): every read sees all of them written by
// the same call, never a mix.
TEST_P(ManyAtomic, AReaderNeverSeesHalfACall)
{
    const int n = 40, rounds = 60;
    KT_ASSERT_OK(Run("createMany", Records(0, n, false)));
    KT_ASSERT_OK(Run("updateMany", R"({"data":{"note":"v0"}})"));
    std::atomic<bool> done{false};
    std::atomic<int> fails{0};
    std::thread writer([&] {
        for (int i = 1; i <= rounds; i++) {
            JRes r = ExecJson(writer_.get(), Req("R", "updateMany", "{\"data\":{\"note\":\"v" + std::to_string(i) +
                                                                        "\"}}"));
            if (r.rc != KVORM_OK || r.integer("count") != n)
                fails++;
        }
        done = true;
    });
    std::string ids = "[";
    for (int i = 0; i < n; i++)
        ids += std::string(i ? "," : "") + "\"" + Id(i) + "\"";
    ids += "]";
    Raw reader(Redis() ? RedisEnvironment::Main().Connect() : nullptr);
    int reads = 0, mixed = 0;
    while (!done || reads == 0) {
        std::set<std::string> notes;
        if (Redis()) {
            ASSERT_TRUE(reader.ok());
            reader.Cmd({"MULTI"});
            for (int i = 0; i < n; i++)
                reader.Cmd({"HGET", "ma:{R}:r:" + Id(i), "note"});
            ReplyPtr all = reader.Cmd({"EXEC"});
            ASSERT_TRUE(all && all->type == REDIS_REPLY_ARRAY && all->elements == (size_t)n);
            for (size_t i = 0; i < all->elements; i++)
                notes.insert(std::string(all->element[i]->str, all->element[i]->len));
        } else {
            JRes r = ExecJson(db_.get(), Req("R", "findMany", "{\"where\":{\"id\":{\"in\":" + ids + "}}}"));
            ASSERT_EQ(r.rc, KVORM_OK) << r.text;
            ASSERT_EQ(json_array_size(r.get()), (size_t)n) << r.text;
            for (size_t i = 0; i < json_array_size(r.get()); i++)
                notes.insert(json_string_value(json_object_get(json_array_get(r.get(), i), "note")));
        }
        reads++;
        mixed += notes.size() != 1;
    }
    writer.join();
    EXPECT_EQ(fails.load(), 0);
    EXPECT_EQ(mixed, 0) << "of " << reads << " reads";
    EXPECT_EQ(Count("{\"note\":\"v" + std::to_string(rounds) + "\"}"), n);
    ExpectClean();
}

// Redis: a call of up to the limit is one MULTI/EXEC, as the server counts them.
TEST_P(ManyAtomicRedis, AChunkIsOneTransaction)
{
    KT_ASSERT_OK(Run("createMany", Records(0, (int)limit_, true)));
    auto execs = [&] {
        std::string info = raw_.Str({"INFO", "commandstats"});
        size_t at = info.find("cmdstat_exec:calls=");
        return at == std::string::npos ? 0LL : std::atoll(info.c_str() + at + 19);
    };
    long long before = execs();
    KT_ASSERT_OK(Run("updateMany", R"({"data":{"note":"one"}})"));
    EXPECT_EQ(execs() - before, 1);
    before = execs();
    KT_ASSERT_OK(Run("deleteMany", R"({"where":{"tag":"t1"}})"));
    EXPECT_EQ(execs() - before, 1);
    EXPECT_EQ(Count(), limit_ / 2);
    ExpectClean();
}

// Redis forgot the script (a restart, SCRIPT FLUSH): every call of the transaction misses it, nothing runs, and the
// group goes again once it is loaded.
TEST_P(ManyAtomicRedis, AForgottenScriptIsLoadedAndTheCallGoesThrough)
{
    KT_ASSERT_OK(Run("createMany", Records(0, 20, true)));
    EXPECT_EQ(raw_.Str({"SCRIPT", "FLUSH"}), "OK");
    JRes r = Run("updateMany", R"({"where":{"tag":"t0"},"data":{"note":"after"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 10);
    EXPECT_EQ(raw_.Str({"SCRIPT", "FLUSH"}), "OK");
    r = Run("createMany", Records(100, 5, false));
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 5);
    EXPECT_EQ(Count(R"({"note":"after"})"), 10);
    ExpectClean();
}

// Redis: an index entry that is not where the record says (damage the check op reports) makes the record's write
// stale every time; the call gives up after its attempts, retryable, with nothing of the chunk written.
TEST_P(ManyAtomicRedis, AWriteThatStaysStaleFailsTheCallWritingNothing)
{
    KT_ASSERT_OK(Run("createMany", Records(0, 6, false)));
    auto entries = raw_.ZRangeWithScores("ma:{R}:x:tag");
    ASSERT_EQ(entries.size(), 6u);
    EXPECT_EQ(raw_.Int({"ZREM", "ma:{R}:x:tag", entries[0].first}), 1);
    auto before = raw_.Snapshot();
    JRes r = Run("updateMany", R"({"data":{"tag":"t5"}})");
    KT_ASSERT_CODE(r, KVORM_EINTERNAL, "INTERNAL");
    EXPECT_NE(r.str("message").find("nothing was written"), std::string::npos) << r.text;
    EXPECT_TRUE(json_is_true(r.at("retryable"))) << r.text;
    EXPECT_EQ(raw_.Snapshot(), before);
}

}  // namespace
}  // namespace kt
