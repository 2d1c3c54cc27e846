// Atomic number operations in update, updateMany and upsert data (docs/queries.md, "Atomic number operations"):
// increment, decrement, multiply, divide and set on integer (int64 overflow is an error), float and decimal (exact)
// fields, applied to the stored value inside the write; indexes move with them; concurrent writers lose nothing.
// These run on both engines.
#include "mp_value.h"
#include "test_util.h"

#include <atomic>
#include <thread>

namespace kt {
namespace {

const char *const kCounters = R"({"namespace":"no","models":{
  "Room": {"fields": {"name": {"type": "string", "unique": true},
                      "posts": {"type": "integer", "default": 0},
                      "score": {"type": "float", "default": 0, "index": true},
                      "balance": {"type": "decimal", "default": "0"},
                      "likes": {"type": "integer", "optional": true},
                      "rank": {"type": "integer", "optional": true, "unique": true},
                      "ownerId": {"type": "string", "optional": true}},
           "relations": {"owner": {"belongsTo": "Owner", "fields": ["ownerId"], "onDelete": "setNull"}}},
  "Owner": {"fields": {"n": {"type": "integer", "default": 0}},
            "relations": {"rooms": {"hasMany": "Room"}}}}})";

class NumberOps : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = Open(kCounters);
        ASSERT_NE(db_, nullptr);
        JRes r = Run("Room", "create", R"({"data":{"id":"r","name":"lobby","posts":5,"score":1.5,"balance":"10.25"}})");
        KT_ASSERT_OK(r);
    }
    JRes Run(const std::string &model, const std::string &op, const std::string &args = "")
    {
        return ExecJson(db_, Req(model, op, args));
    }
    JRes Update(const std::string &data)
    {
        return Run("Room", "update", R"({"where":{"id":"r"},"data":)" + data + "}");
    }
    std::string Field(const std::string &f)
    {
        JRes r = Run("Room", "findUnique", R"({"where":{"id":"r"}})");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return Dump(r.at(f.c_str()));
    }
    static std::string Dump(const json_t *v)
    {
        char *s = v ? json_dumps(v, JSON_ENCODE_ANY) : nullptr;
        std::string out = s ? s : "(none)";
        free(s);
        return out;
    }
    void ExpectIntact()
    {
        JRes r = Run("Room", "check");
        KT_ASSERT_OK(r);
        EXPECT_TRUE(json_is_true(r.at("ok"))) << r.text;
    }
    // On Redis a db of its own whose pool lets n calls run at once (kept in *own); on LMDB db_ itself: an
    // environment is opened once per process.
    kvorm_db *Pooled(int n, DbPtr *own)
    {
        if (OnLmdb())
            return db_;
        SchemaPtr schema = LoadSchema(kCounters);
        kvorm_open_options o;
        kvorm_db *raw = nullptr;
        if (!schema || kvorm_open_options_init(&o, KVORM_OPEN_OPTIONS_VERSION) != KVORM_OK)
            return nullptr;
        o.pool_size = n;
        if (kvorm_open(&raw, DefaultUrl().c_str(), schema.get(), &o) != KVORM_OK) {
            ADD_FAILURE() << LastError();
            return nullptr;
        }
        own->reset(raw);
        return raw;
    }
    kvorm_db *db_ = nullptr;
};

TEST_F(NumberOps, EachOperationAppliesToTheStoredValue)
{
    JRes r = Update(R"({"posts":{"increment":3},"score":{"multiply":2},"balance":{"decrement":"0.35"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("posts"), 8) << r.text;
    EXPECT_EQ(Dump(r.at("score")), "3.0") << r.text;
    EXPECT_EQ(Dump(r.at("balance")), "\"9.9\"") << r.text;
    KT_ASSERT_OK(Update(R"({"posts":{"decrement":10},"score":{"divide":4},"balance":{"multiply":"1.5"}})"));
    EXPECT_EQ(Field("posts"), "-2");
    EXPECT_EQ(Field("score"), "0.75");
    EXPECT_EQ(Field("balance"), "\"14.85\"");
    // integer divide truncates toward zero; a decimal divide keeps 28 digits after the point, half to even
    KT_ASSERT_OK(Update(R"({"posts":{"set":-7}})"));
    KT_ASSERT_OK(Update(R"({"posts":{"divide":2},"balance":{"divide":"3"}})"));
    EXPECT_EQ(Field("posts"), "-3");
    EXPECT_EQ(Field("balance"), "\"4.95\"");
    KT_ASSERT_OK(Update(R"({"balance":{"divide":"7"}})"));
    EXPECT_EQ(Field("balance"), "\"0.7071428571428571428571428571\"");
    ExpectIntact();
}

// Past 2^53 a double is no longer exact: the Redis script hands such values back to the core, which computes
// them in int64 from a read; the result is exact either way.
TEST_F(NumberOps, IntegersBeyondTwoToThe53AreExact)
{
    KT_ASSERT_OK(Update(R"({"posts":{"set":9007199254740990}})"));
    KT_ASSERT_OK(Update(R"({"posts":{"increment":5}})"));
    EXPECT_EQ(Field("posts"), "9007199254740995");
    KT_ASSERT_OK(Update(R"({"posts":{"decrement":9007199254740995}})"));
    EXPECT_EQ(Field("posts"), "0");
    KT_ASSERT_OK(Update(R"({"posts":{"set":-4611686018427387904}})"));
    KT_ASSERT_OK(Update(R"({"posts":{"multiply":2}})"));
    EXPECT_EQ(Field("posts"), "-9223372036854775808");
    KT_ASSERT_OK(Update(R"({"posts":{"divide":-3}})"));
    EXPECT_EQ(Field("posts"), "3074457345618258602");
    // the same in an all-or-nothing group (updateMany): its checks find it too, the group runs again from reads
    KT_ASSERT_OK(Run("Room", "create", R"({"data":{"id":"s","name":"hall","posts":9007199254740991}})"));
    JRes n = Run("Room", "updateMany", R"({"where":{},"data":{"posts":{"increment":2}}})");
    KT_ASSERT_OK(n);
    EXPECT_EQ(Field("posts"), "3074457345618258604");
    EXPECT_EQ(Run("Room", "findUnique", R"({"where":{"id":"s"}})").integer("posts"), 9007199254740993LL);
    ExpectIntact();
}

TEST_F(NumberOps, ANullStaysNullAndSetWritesAValue)
{
    KT_ASSERT_OK(Update(R"({"likes":{"increment":1}})"));
    EXPECT_EQ(Field("likes"), "null");
    KT_ASSERT_OK(Update(R"({"likes":{"set":4}})"));
    KT_ASSERT_OK(Update(R"({"likes":{"increment":1}})"));
    EXPECT_EQ(Field("likes"), "5");
    KT_ASSERT_OK(Update(R"({"likes":{"set":null}})"));
    EXPECT_EQ(Field("likes"), "null");
}

TEST_F(NumberOps, BadOperationsAreRefusedAndWriteNothing)
{
    struct Case {
        const char *data;
        int code;
        const char *says;
    } cases[] = {
        {R"({"posts":{"set":9223372036854775807}})", KVORM_OK, ""},
        {R"({"posts":{"increment":1}})", KVORM_EVALIDATION, "overflows int64"},
        {R"({"posts":{"multiply":2}})", KVORM_EVALIDATION, "overflows int64"},
        {R"({"posts":{"divide":0}})", KVORM_EVALIDATION, "divides by zero"},
        {R"({"score":{"divide":0}})", KVORM_EVALIDATION, "divides by zero"},
        {R"({"score":{"multiply":1e308}})", KVORM_OK, ""},
        {R"({"score":{"multiply":1e308}})", KVORM_EVALIDATION, "not a finite number"},
        {R"({"balance":{"divide":"0"}})", KVORM_EVALIDATION, "divides by zero"},
        {R"({"posts":{"increment":1.5}})", KVORM_EVALIDATION, "posts"},
        {R"({"posts":{"increment":null}})", KVORM_EVALIDATION, "takes a number"},
        {R"({"posts":{"add":1}})", KVORM_EBAD_REQUEST, "unknown atomic operation"},
        {R"({"posts":{"increment":1,"decrement":1}})", KVORM_EBAD_REQUEST, "exactly one"},
        {R"({"rank":{"increment":1}})", KVORM_EVALIDATION, "unique constraint"},
        {R"({"name":{"increment":1}})", KVORM_EVALIDATION, "name"},
    };
    for (const Case &c : cases) {
        JRes before = Run("Room", "findUnique", R"({"where":{"id":"r"},"select":{"$version":true}})");
        JRes r = Update(c.data);
        EXPECT_EQ(r.rc, c.code) << c.data << ": " << r.text;
        if (c.code == KVORM_OK)
            continue;
        EXPECT_NE(r.text.find(c.says), std::string::npos) << c.data << ": " << r.text;
        JRes after = Run("Room", "findUnique", R"({"where":{"id":"r"},"select":{"$version":true}})");
        EXPECT_EQ(after.integer("$version"), before.integer("$version")) << c.data << ": nothing written";
    }
    // a foreign key is set, never computed
    KT_ASSERT_OK(Run("Owner", "create", R"({"data":{"id":"o"}})"));
    JRes fk = Run("Owner", "update", R"({"where":{"id":"o"},"data":{"n":{"increment":2}}})");
    KT_ASSERT_OK(fk);
    EXPECT_EQ(fk.integer("n"), 2);
    ExpectIntact();
}

TEST_F(NumberOps, AnIndexedFieldMovesItsEntry)
{
    KT_ASSERT_OK(Run("Room", "create", R"({"data":{"id":"s","name":"hall","score":2.0}})"));
    KT_ASSERT_OK(Update(R"({"score":{"increment":10}})"));
    JRes top = Run("Room", "findMany", R"({"orderBy":{"score":"desc"},"take":1,"select":{"id":true}})");
    KT_ASSERT_OK(top);
    EXPECT_EQ(top.text, R"([{"id":"r"}])");
    EXPECT_EQ(json_integer_value(Run("Room", "count", R"({"where":{"score":{"gt":11}}})").get()), 1);
    ExpectIntact();
}

TEST_F(NumberOps, UpdateManyAndUpsertApplyThemToEachRecord)
{
    KT_ASSERT_OK(Run("Room", "create", R"({"data":{"id":"s","name":"hall","posts":1}})"));
    JRes n = Run("Room", "updateMany", R"({"where":{},"data":{"posts":{"increment":100},"score":{"increment":1}}})");
    KT_ASSERT_OK(n);
    EXPECT_EQ(json_integer_value(n.at("count")), 2) << n.text;
    EXPECT_EQ(Field("posts"), "105");
    JRes s = Run("Room", "findUnique", R"({"where":{"id":"s"}})");
    EXPECT_EQ(s.integer("posts"), 101) << s.text;
    JRes u = Run("Room", "upsert",
                 R"({"where":{"name":"lobby"},"create":{"name":"lobby"},"update":{"posts":{"increment":1}}})");
    KT_ASSERT_OK(u);
    EXPECT_EQ(u.integer("posts"), 106) << u.text;
    JRes c = Run("Room", "upsert",
                 R"({"where":{"name":"attic"},"create":{"name":"attic","posts":7},"update":{"posts":{"increment":1}}})");
    KT_ASSERT_OK(c);
    EXPECT_EQ(c.integer("posts"), 7) << c.text;
    ExpectIntact();
}

TEST_F(NumberOps, ANestedUpdateAppliesThem)
{
    KT_ASSERT_OK(Run("Owner", "create", R"({"data":{"id":"o"}})"));
    KT_ASSERT_OK(Update(R"({"ownerId":"o"})"));
    JRes r = Run("Owner", "update",
                 R"({"where":{"id":"o"},"data":{"n":{"increment":1},"rooms":{"update":{"where":{"id":"r"},"data":{"posts":{"increment":2}}}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("n"), 1) << r.text;
    EXPECT_EQ(Field("posts"), "7");
}

// In one kvorm_exec_batch, a write whose result the Redis script hands back (SLOW, beyond 2^53) runs again before
// the later writes of its record, not after them: the batch keeps its order.
TEST_F(NumberOps, ABatchKeepsItsOrderWhenAResultIsComputedFromARead)
{
    KT_ASSERT_OK(Update(R"({"posts":{"set":1099511627776}})"));
    auto upd = [](const mp::V &data) {
        return mp::pack(MReq("Room", "update", mp::map({{"where", mp::map({{"id", "r"}})}, {"data", data}})));
    };
    std::vector<std::string> bytes = {upd(mp::map({{"posts", mp::map({{"multiply", mp::i(1048576)}})}})),
                                      upd(mp::map({{"posts", mp::i(1)}})),
                                      upd(mp::map({{"posts", mp::map({{"increment", mp::i(2)}})}}))};
    std::vector<const void *> reqs;
    std::vector<size_t> lens;
    for (const std::string &b : bytes) {
        reqs.push_back(b.data());
        lens.push_back(b.size());
    }
    std::vector<unsigned char *> outs(bytes.size(), nullptr);
    std::vector<size_t> out_lens(bytes.size(), 0);
    std::vector<int> statuses(bytes.size(), -99);
    ASSERT_EQ(kvorm_exec_batch(outs.data(), out_lens.data(), statuses.data(), db_, reqs.data(), lens.data(),
                               bytes.size()),
              KVORM_OK);
    for (size_t i = 0; i < bytes.size(); i++) {
        EXPECT_EQ(statuses[i], KVORM_OK) << i;
        kvorm_free(outs[i]);
    }
    EXPECT_EQ(Field("posts"), "3");
}

// A refusal computed from a read says exactly what it says on LMDB: nothing was written, and it names the field.
TEST_F(NumberOps, ARefusalComputedFromAReadNamesItsField)
{
    KT_ASSERT_OK(Update(R"({"posts":{"set":9223372036854775807}})"));
    JRes r = Update(R"({"posts":{"increment":1}})");
    EXPECT_EQ(r.rc, KVORM_EVALIDATION);
    EXPECT_EQ(r.text.find("may or may not"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("\"posts\""), std::string::npos) << r.text;
}

// 8 threads x 500 increments of one counter end at exactly 4000: no lost update, no error (on Redis a conflict
// between the read and the write is retried inside kvorm).
TEST_F(NumberOps, EightThreadsIncrementingOneCounterLoseNothing)
{
    constexpr int kThreads = 8, kPerThread = 500;
    DbPtr own;
    kvorm_db *pooled = Pooled(kThreads, &own);
    ASSERT_NE(pooled, nullptr);
    std::atomic<int> failed{0};
    std::atomic<int> last{0};
    std::vector<std::thread> threads;
    std::string req = Req("Room", "update", R"({"where":{"id":"r"},"data":{"posts":{"increment":1}},"select":{"id":true}})");
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&] {
            for (int k = 0; k < kPerThread; k++) {
                char *out = nullptr;
                size_t len = 0;
                int rc = kvorm_exec_json(&out, &len, pooled, req.data(), req.size());
                kvorm_free(out);
                if (rc != KVORM_OK) {
                    failed++;
                    last = rc;
                }
            }
        });
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(failed.load(), 0) << kvorm_error_name(last.load());
    EXPECT_EQ(Field("posts"), std::to_string(5 + kThreads * kPerThread - failed.load()));
    EXPECT_EQ(Field("posts"), "4005");
}

// The same total by read-modify-write: each of 8 threads reads the counter, writes it + 1 with ifVersion, and
// reads again on CONFLICT. The total is exact; the retries are what increment saves.
TEST_F(NumberOps, EightThreadsReadModifyWriteWithIfVersionEndExact)
{
    constexpr int kThreads = 8, kPerThread = 40;
    DbPtr own;
    kvorm_db *pooled = Pooled(kThreads, &own);
    ASSERT_NE(pooled, nullptr);
    std::atomic<int> failed{0}, conflicts{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&] {
            for (int k = 0; k < kPerThread; k++) {
                for (;;) {
                    JRes r = ExecJson(pooled, Req("Room", "findUnique",
                                                  R"({"where":{"id":"r"},"select":{"posts":true,"$version":true}})"));
                    if (r.rc != KVORM_OK) {
                        failed++;
                        break;
                    }
                    JRes w = ExecJson(pooled, Req("Room", "update",
                                                  R"({"where":{"id":"r"},"ifVersion":)" +
                                                      std::to_string(r.integer("$version")) + R"(,"data":{"posts":)" +
                                                      std::to_string(r.integer("posts") + 1) + "}}"));
                    if (w.rc == KVORM_OK)
                        break;
                    if (w.rc != KVORM_ECONFLICT) {
                        failed++;
                        break;
                    }
                    conflicts++;
                }
            }
        });
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(Field("posts"), std::to_string(5 + kThreads * kPerThread)) << conflicts.load() << " conflicts";
}

} // namespace
} // namespace kt
