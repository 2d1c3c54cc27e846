// The Redis engine's secondary indexes (docs/format.md, format 2): every write keeps each index's sorted set
// holding exactly the entry of each record (checked against kv_index_entry on the raw members), a write computed
// from a record that changed meanwhile is tried again, generated integer ids get their entries, an index added
// later is built online while writers run, ranges are scanned and counted forward and reverse in chunks, and
// every key a script touches is one it declared.
#include <algorithm>
#include <atomic>
#include <set>
#include <sstream>
#include <thread>

#include "id_entry.h"
#include "test_util.h"

extern "C" {
#include "engine.h"
#include "entries.h"
#include "keycode.h"
#include "schema.h"
}

namespace kt {
namespace {

const char kIxSchema[] = R"json({"namespace": "ix", "models": {
  "Msg": {"id": {"type": "string"},
          "fields": {"room": {"type": "string", "index": true}, "at": {"type": "integer"},
                     "score": {"type": "float", "optional": true},
                     "email": {"type": "string", "unique": true, "optional": true}},
          "indexes": [["room", "at"], {"name": "by_score", "fields": ["room", {"field": "score", "order": "desc"}]}]},
  "Seq": {"id": {"type": "integer", "generate": "increment"},
          "fields": {"tag": {"type": "string", "index": true}, "n": {"type": "integer", "optional": true}}},
  "Plain": {"id": {"type": "string"},
            "fields": {"k": {"type": "string", "unique": true}, "v": {"type": "integer", "optional": true}}}}})json";

// A record's values as the engine stores them, by field name (absent = null).
using Values = std::map<std::string, std::string>;

class RedisIndex : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        schema_ = LoadSchema(kIxSchema);
        ASSERT_TRUE(schema_);
        db_ = OpenDb(schema_.get());
        ASSERT_TRUE(db_);
    }

    JRes Run(const std::string &model, const std::string &op, const std::string &args = "")
    {
        return ExecJson(db_.get(), Req(model, op, args));
    }

    const kv_model *Model(const char *name) { return kv_schema_model(schema_.get(), name, strlen(name)); }

    // kv_index_entry of a record in index `index` of `model`.
    std::string Entry(const char *model, const char *index, const std::string &id, const Values &vals)
    {
        const kv_model *m = Model(model);
        EXPECT_NE(m, nullptr) << model;
        int x = kv_model_index(m, index, strlen(index));
        EXPECT_GE(x, 0) << index;
        std::vector<const char *> v(m->nfields, nullptr);
        std::vector<size_t> l(m->nfields, 0);
        for (const auto &kv : vals) {
            int f = kv_model_field(m, kv.first.data(), kv.first.size());
            EXPECT_GE(f, 0) << kv.first;
            v[f] = kv.second.data();
            l[f] = kv.second.size();
        }
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        kv_error err = {};
        EXPECT_EQ(kv_index_entry(&sb, m, &m->indexes[x], v.data(), l.data(), id.data(), id.size(), &err), 0)
            << err.message;
        std::string out(sb.data ? sb.data : "", sb.size);
        msgpack_sbuffer_destroy(&sb);
        return out;
    }

    std::set<std::string> Members(const std::string &key)
    {
        std::set<std::string> out;
        for (const auto &kv : raw_.ZRangeWithScores(key)) {
            EXPECT_EQ(kv.second, "0") << key;
            out.insert(kv.first);
        }
        return out;
    }

    SchemaPtr schema_;
    DbPtr db_;
};

TEST_F(RedisIndex, ACreateWritesOneEntryPerIndexAndItsIdEntry)
{
    KT_ASSERT_OK(Run("Msg", "create", R"({"data":{"id":"m1","room":"r1","at":5,"score":1.5}})"));
    KT_ASSERT_OK(Run("Msg", "create", R"({"data":{"id":"m2","room":"r1","at":-7}})"));  // score null
    Values m1 = {{"room", MpStr("r1")}, {"at", MpInt(5)}, {"score", Unhex("cb3ff8000000000000")}};
    Values m2 = {{"room", MpStr("r1")}, {"at", MpInt(-7)}};
    EXPECT_EQ(Members("ix:{Msg}:x:room"), (std::set<std::string>{Entry("Msg", "room", "m1", m1),
                                                                Entry("Msg", "room", "m2", m2)}));
    EXPECT_EQ(Members("ix:{Msg}:x:room_at"), (std::set<std::string>{Entry("Msg", "room_at", "m1", m1),
                                                                   Entry("Msg", "room_at", "m2", m2)}));
    EXPECT_EQ(Members("ix:{Msg}:x:by_score"), (std::set<std::string>{Entry("Msg", "by_score", "m1", m1),
                                                                    Entry("Msg", "by_score", "m2", m2)}));
    EXPECT_EQ(Members("ix:{Msg}:ids"), (std::set<std::string>{IdEntry("m1"), IdEntry("m2")}));
    // the entries sort as the values do: at -7 before at 5 in room_at
    auto z = raw_.ZRangeWithScores("ix:{Msg}:x:room_at");
    ASSERT_EQ(z.size(), 2u);
    EXPECT_EQ(z[0].first, Entry("Msg", "room_at", "m2", m2));
    // nothing is being built: no state hash
    EXPECT_FALSE(raw_.Exists("ix:{Msg}:xs"));
}

TEST_F(RedisIndex, AnUpdateMovesTheEntriesOfTheIndexesItTouches)
{
    KT_ASSERT_OK(Run("Msg", "create", R"({"data":{"id":"m1","room":"r1","at":5,"score":1.5}})"));
    Values before = {{"room", MpStr("r1")}, {"at", MpInt(5)}, {"score", Unhex("cb3ff8000000000000")}};
    KT_ASSERT_OK(Run("Msg", "update", R"({"where":{"id":"m1"},"data":{"at":6,"score":null}})"));
    Values after = {{"room", MpStr("r1")}, {"at", MpInt(6)}};
    EXPECT_EQ(Members("ix:{Msg}:x:room"), std::set<std::string>{Entry("Msg", "room", "m1", after)});
    EXPECT_EQ(Members("ix:{Msg}:x:room_at"), std::set<std::string>{Entry("Msg", "room_at", "m1", after)});
    EXPECT_EQ(Members("ix:{Msg}:x:by_score"), std::set<std::string>{Entry("Msg", "by_score", "m1", after)});
    EXPECT_NE(Entry("Msg", "room_at", "m1", before), Entry("Msg", "room_at", "m1", after));
}

TEST_F(RedisIndex, AnUpdateLeavesTheIndexesItDoesNotTouchAlone)
{
    KT_ASSERT_OK(Run("Msg", "create", R"({"data":{"id":"m1","room":"r1","at":5}})"));
    // remove room's entry by hand: an update of `score` must not look at room's index at all (had it, the missing
    // entry would read as a record changed meanwhile, and the write would be refused)
    std::string room = Entry("Msg", "room", "m1", {{"room", MpStr("r1")}, {"at", MpInt(5)}});
    ASSERT_EQ(raw_.Int({"ZREM", "ix:{Msg}:x:room", room}), 1);
    KT_ASSERT_OK(Run("Msg", "update", R"({"where":{"id":"m1"},"data":{"score":2.0}})"));
    EXPECT_FALSE(raw_.Exists("ix:{Msg}:x:room"));
    Values after = {{"room", MpStr("r1")}, {"at", MpInt(5)}, {"score", Unhex("cb4000000000000000")}};
    EXPECT_EQ(Members("ix:{Msg}:x:by_score"), std::set<std::string>{Entry("Msg", "by_score", "m1", after)});
    // an update that does touch it finds its entry missing: refused after its retries, nothing written
    JRes r = Run("Msg", "update", R"({"where":{"id":"m1"},"data":{"room":"r2"}})");
    KT_ASSERT_CODE(r, KVORM_EINTERNAL, "INTERNAL");
    EXPECT_NE(r.str("message").find("nothing was written"), std::string::npos) << r.text;
    EXPECT_EQ(raw_.HGet("ix:{Msg}:r:m1", "room").value_or(""), MpStr("r1"));
}

TEST_F(RedisIndex, ADeleteRemovesEveryEntry)
{
    KT_ASSERT_OK(Run("Msg", "create", R"({"data":{"id":"m1","room":"r1","at":5,"email":"a@x"}})"));
    KT_ASSERT_OK(Run("Msg", "create", R"({"data":{"id":"m2","room":"r2","at":1}})"));
    KT_ASSERT_OK(Run("Msg", "delete", R"({"where":{"email":"a@x"}})"));  // by unique: read first, then by id
    Values m2 = {{"room", MpStr("r2")}, {"at", MpInt(1)}};
    EXPECT_EQ(Members("ix:{Msg}:x:room"), std::set<std::string>{Entry("Msg", "room", "m2", m2)});
    EXPECT_EQ(Members("ix:{Msg}:x:room_at"), std::set<std::string>{Entry("Msg", "room_at", "m2", m2)});
    EXPECT_EQ(Members("ix:{Msg}:ids"), std::set<std::string>{IdEntry("m2")});
    KT_ASSERT_OK(Run("Msg", "delete", R"({"where":{"id":"m2"}})"));
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"ix:$schema"});
}

TEST_F(RedisIndex, AnUpsertWritesTheEntriesOfTheBranchItTakes)
{
    const char *up = R"({"where":{"email":"u@x"},"create":{"id":"u1","room":"r1","at":1,"email":"u@x"},
                         "update":{"at":2}})";
    KT_ASSERT_OK(Run("Msg", "upsert", up));  // creates
    KT_ASSERT_OK(Run("Msg", "upsert", up));  // updates
    Values now = {{"room", MpStr("r1")}, {"at", MpInt(2)}, {"email", MpStr("u@x")}};
    EXPECT_EQ(Members("ix:{Msg}:x:room_at"), std::set<std::string>{Entry("Msg", "room_at", "u1", now)});
    EXPECT_EQ(Members("ix:{Msg}:ids"), std::set<std::string>{IdEntry("u1")});
}

TEST_F(RedisIndex, IncrementIdsAreTakenBeforeTheWriteAndIndexed)
{
    JRes a = Run("Seq", "create", R"({"data":{"tag":"x"}})");
    KT_ASSERT_OK(a);
    EXPECT_EQ(a.integer("id"), 1);
    JRes many = Run("Seq", "createMany", R"({"data":[{"tag":"y"},{"tag":"z"},{"id":10,"tag":"w"},{"tag":"v"}]})");
    KT_ASSERT_OK(many);
    EXPECT_EQ(many.integer("count"), 4);
    std::set<std::string> want_ids, want_tags;
    for (auto p : std::vector<std::pair<long long, const char *>>{{1, "x"}, {2, "y"}, {3, "z"}, {10, "w"}, {4, "v"}}) {
        want_ids.insert(IdEntryInt(p.first));
        want_tags.insert(Entry("Seq", "tag", std::to_string(p.first), {{"tag", MpStr(p.second)}}));
    }
    EXPECT_EQ(Members("ix:{Seq}:ids"), want_ids);
    EXPECT_EQ(Members("ix:{Seq}:x:tag"), want_tags);
    // the manual id 10 moved the counter past it
    EXPECT_EQ(raw_.Get("ix:{Seq}:seq").value_or(""), "10");
    JRes next = Run("Seq", "create", R"({"data":{"tag":"u"}})");
    KT_ASSERT_OK(next);
    EXPECT_EQ(next.integer("id"), 11);
    // an id the counter gives that a record already holds (written by hand, say) is skipped
    ASSERT_TRUE(raw_.Cmd({"HSET", "ix:{Seq}:r:12", "tag", MpStr("hand"), "$v", "1"}));
    JRes skip = Run("Seq", "create", R"({"data":{"tag":"t"}})");
    KT_ASSERT_OK(skip);
    EXPECT_EQ(skip.integer("id"), 13);
}

TEST_F(RedisIndex, ABatchReadSeesTheWritesBeforeItInTheBatch)
{
    auto where = [](const char *id) { return mp::map({{"id", id}}); };
    const std::vector<mp::V> reqs = {
        MReq("Msg", "create", mp::map({{"data", mp::map({{"id", "b1"}, {"room", "r1"}, {"at", mp::i(1)}})}})),
        MReq("Msg", "update", mp::map({{"where", where("b1")}, {"data", mp::map({{"at", mp::i(2)}})}})),
        MReq("Msg", "update", mp::map({{"where", where("b1")}, {"data", mp::map({{"at", mp::i(3)}})}})),
        MReq("Msg", "findUnique",
             mp::map({{"where", where("b1")}, {"select", mp::map({{"at", mp::boolean(true)}, {"$version", mp::boolean(true)}})}})),
        MReq("Msg", "delete", mp::map({{"where", where("b1")}})),
        MReq("Msg", "findUnique", mp::map({{"where", where("b1")}})),
    };
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
    std::vector<int> st(reqs.size());
    ASSERT_EQ(kvorm_exec_batch(outs.data(), out_lens.data(), st.data(), db_.get(), ptrs.data(), lens.data(),
                               reqs.size()),
              KVORM_OK);
    std::vector<mp::V> got(reqs.size());
    for (size_t i = 0; i < reqs.size(); i++) {
        EXPECT_TRUE(mp::unpack(std::string(reinterpret_cast<char *>(outs[i]), out_lens[i]), &got[i]));
        kvorm_free(outs[i]);
        EXPECT_EQ(st[i], KVORM_OK) << i << ": " << got[i];
    }
    EXPECT_EQ(got[3]["at"], mp::i(3)) << got[3];
    EXPECT_EQ(got[3]["$version"], mp::i(3)) << got[3];
    EXPECT_TRUE(got[5].is_nil()) << got[5];
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"ix:$schema"});
}

// Redis forgets its scripts (restart, SCRIPT FLUSH) between the batch's reads and writes: the reads by unique
// are sent again once the script is loaded, and the writes rerun in order.
TEST_F(RedisIndex, ABatchSurvivesTheServerForgettingTheScripts)
{
    KT_ASSERT_OK(Run("Msg", "create", R"({"data":{"id":"f1","room":"r","at":1,"email":"f1@x"}})"));
    KT_ASSERT_OK(Run("Msg", "create", R"({"data":{"id":"f2","room":"r","at":2,"email":"f2@x"}})"));
    ASSERT_EQ(raw_.Str({"SCRIPT", "FLUSH"}), "OK");
    std::vector<mp::V> reqs;
    for (const char *e : {"f1@x", "f2@x"})
        reqs.push_back(MReq("Msg", "update", mp::map({{"where", mp::map({{"email", e}})},
                                                       {"data", mp::map({{"room", "s"}})}})));
    reqs.push_back(MReq("Msg", "findUnique", mp::map({{"where", mp::map({{"email", "f2@x"}})}})));
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
    std::vector<int> st(reqs.size());
    ASSERT_EQ(kvorm_exec_batch(outs.data(), out_lens.data(), st.data(), db_.get(), ptrs.data(), lens.data(),
                               reqs.size()),
              KVORM_OK);
    for (size_t i = 0; i < reqs.size(); i++) {
        mp::V v;
        EXPECT_TRUE(mp::unpack(std::string(reinterpret_cast<char *>(outs[i]), out_lens[i]), &v));
        kvorm_free(outs[i]);
        EXPECT_EQ(st[i], KVORM_OK) << i << ": " << v;
        if (i == 2) {
            EXPECT_EQ(v["room"], mp::str("s")) << v;
        }
    }
    JRes c = Run("Msg", "check");
    KT_ASSERT_OK(c);
    EXPECT_TRUE(json_is_true(c.at("ok"))) << c.text;
}

// Two handles write the same records at once: every write computed from a record another one changed meanwhile
// is read and computed again, so each index ends holding exactly the entry of each record.
TEST_F(RedisIndex, ConcurrentWritersOfTheSameRecordsLeaveExactEntries)
{
    DbPtr other = OpenDb(schema_.get());
    ASSERT_TRUE(other);
    for (int k = 0; k < 4; k++)
        KT_ASSERT_OK(Run("Msg", "create", "{\"data\":{\"id\":\"c" + std::to_string(k) + "\",\"room\":\"r\",\"at\":0}}"));
    std::atomic<int> failures{0};
    auto writer = [&](kvorm_db *db, int seed) {
        for (int i = 0; i < 150; i++) {
            int k = (i * 7 + seed) % 4;
            std::string req = Req("Msg", "update", "{\"where\":{\"id\":\"c" + std::to_string(k) + "\"},\"data\":{\"room\":\"r" +
                                                       std::to_string((i + seed) % 3) + "\",\"at\":" + std::to_string(i) + "}}");
            JRes r = ExecJson(db, req);
            if (r.rc != KVORM_OK) {
                failures++;
                ADD_FAILURE() << r.text;
            }
        }
    };
    std::thread a(writer, db_.get(), 0), b(writer, other.get(), 1);
    a.join();
    b.join();
    EXPECT_EQ(failures.load(), 0);
    JRes c = Run("Msg", "check");
    KT_ASSERT_OK(c);
    EXPECT_TRUE(json_is_true(c.at("ok"))) << c.text;
    for (const char *ix : {"ix:{Msg}:x:room", "ix:{Msg}:x:room_at", "ix:{Msg}:x:by_score"})
        EXPECT_EQ(raw_.ZCard(ix), 4) << ix;
}

// An index added to a model with records is built in chunks while a writer changes records: the build adds only
// entries of records as they still are, the writer maintains the index meanwhile, and the result is exact.
TEST_F(RedisIndex, AnIndexIsBuiltOnlineWhileAnotherThreadWrites)
{
    const std::string v1 = R"json({"namespace": "ob", "models": {"T": {"id": {"type": "integer"},
        "fields": {"g": {"type": "string"}, "n": {"type": "integer"}}}}})json";
    const std::string v2 = R"json({"namespace": "ob", "models": {"T": {"id": {"type": "integer"},
        "fields": {"g": {"type": "string", "index": true}, "n": {"type": "integer"}}}}})json";
    const int kRecords = 2000;
    {
        DbPtr db = OpenDb(v1);
        ASSERT_TRUE(db);
        for (int from = 1; from <= kRecords; from += 500) {
            std::string data = "[";
            for (int k = from; k < from + 500; k++)
                data += (k > from ? "," : "") + std::string("{\"id\":") + std::to_string(k) + ",\"g\":\"g" +
                        std::to_string(k % 5) + "\",\"n\":" + std::to_string(k) + "}";
            KT_ASSERT_OK(ExecJson(db.get(), Req("T", "createMany", "{\"data\":" + data + "]}")));
        }
    }
    DbPtr db = OpenDb(v2);
    ASSERT_TRUE(db);
    EXPECT_EQ(raw_.HGet("ob:{T}:xs", "g").value_or(""), "building");
    DbPtr wdb = OpenDb(v2);
    ASSERT_TRUE(wdb);
    std::atomic<bool> stop{false};
    std::atomic<int> writes{0}, failures{0};
    std::thread writer([&] {
        for (int i = 0; !stop.load() || i < 200; i++) {
            int id = 1 + (i * 37) % kRecords;
            std::string req;
            switch (i % 4) {
            case 0:
            case 1:
                req = Req("T", "update", "{\"where\":{\"id\":" + std::to_string(id) + "},\"data\":{\"g\":\"w" +
                                             std::to_string(i % 3) + "\"}}");
                break;
            case 2:
                req = Req("T", "delete", "{\"where\":{\"id\":" + std::to_string(id) + "}}");
                break;
            default:
                req = Req("T", "upsert", "{\"where\":{\"id\":" + std::to_string(id) + "},\"create\":{\"g\":\"u\",\"n\":1}," +
                                             "\"update\":{\"n\":2}}");
            }
            JRes r = ExecJson(wdb.get(), req);
            if (r.rc != KVORM_OK && r.rc != KVORM_ENOTFOUND) {
                failures++;
                ADD_FAILURE() << r.text;
            }
            writes++;
        }
    });
    JRes built = ExecJson(db.get(), Req("T", "reindex", R"({"index":"g","chunk":50})"));
    stop = true;
    writer.join();
    KT_ASSERT_OK(built);
    EXPECT_EQ(failures.load(), 0);
    EXPECT_GE(writes.load(), 200);
    EXPECT_FALSE(raw_.Exists("ob:{T}:xs")) << "the build is complete";
    JRes c = ExecJson(db.get(), Req("T", "check"));
    KT_ASSERT_OK(c);
    EXPECT_TRUE(json_is_true(c.at("ok"))) << c.text;
    EXPECT_EQ(raw_.ZCard("ob:{T}:x:g"), raw_.ZCard("ob:{T}:ids"));
}

TEST_F(RedisIndex, ARemovedIndexLosesItsEntries)
{
    KT_ASSERT_OK(Run("Msg", "create", R"({"data":{"id":"m1","room":"r1","at":5}})"));
    db_.reset();
    std::string v2 = kIxSchema;
    // the same schema less the by_score index
    size_t at = v2.find(", {\"name\": \"by_score\"");
    ASSERT_NE(at, std::string::npos);
    size_t end = v2.find("}]}]}", at);
    ASSERT_NE(end, std::string::npos);
    v2.erase(at, end + 3 - at);
    DbPtr db = OpenDb(v2);
    ASSERT_TRUE(db) << v2;
    EXPECT_FALSE(raw_.Exists("ix:{Msg}:x:by_score"));
    EXPECT_TRUE(raw_.Exists("ix:{Msg}:x:room_at"));
}

// A unique constraint added to a model that has records: built online while another thread writes; until then
// lookups by it are refused (they could miss a record) and the planner says it skipped it.
TEST_F(RedisIndex, AUniqueIsBuiltOnlineWhileAnotherThreadWrites)
{
    const std::string v1 = R"json({"namespace": "ou", "models": {"T": {"id": {"type": "integer"},
        "fields": {"code": {"type": "string"}, "n": {"type": "integer"}}}}})json";
    const std::string v2 = R"json({"namespace": "ou", "models": {"T": {"id": {"type": "integer"},
        "fields": {"code": {"type": "string", "unique": true}, "n": {"type": "integer"}}}}})json";
    const int kRecords = 1500;
    {
        DbPtr db = OpenDb(v1);
        ASSERT_TRUE(db);
        for (int from = 1; from <= kRecords; from += 500) {
            std::string data = "[";
            for (int k = from; k < from + 500; k++)
                data += (k > from ? "," : "") + std::string("{\"id\":") + std::to_string(k) + ",\"code\":\"c" +
                        std::to_string(k) + "\",\"n\":" + std::to_string(k) + "}";
            KT_ASSERT_OK(ExecJson(db.get(), Req("T", "createMany", "{\"data\":" + data + "]}")));
        }
    }
    DbPtr db = OpenDb(v2);
    ASSERT_TRUE(db);
    EXPECT_EQ(raw_.HGet("ou:{T}:xs", "u:code").value_or(""), "building");
    JRes early = ExecJson(db.get(), Req("T", "findUnique", R"({"where":{"code":"c7"}})"));
    EXPECT_EQ(early.rc, KVORM_EUNAVAILABLE) << early.text;
    EXPECT_NE(early.text.find("code"), std::string::npos) << early.text;
    EXPECT_NE(early.text.find("reindex"), std::string::npos) << early.text;
    JRes plan = ExecJson(db.get(), Req("T", "explain", R"({"op":"findMany","args":{"where":{"code":"c7"}}})"));
    KT_ASSERT_OK(plan);
    EXPECT_EQ(plan.str("plan"), "scan") << plan.text;
    EXPECT_NE(plan.text.find(R"("unique":"code")"), std::string::npos) << plan.text;
    // the planner's answer is still right: it scans
    JRes found = ExecJson(db.get(), Req("T", "findMany", R"({"where":{"code":"c7"}})"));
    KT_ASSERT_OK(found);
    EXPECT_NE(found.text.find(R"("id":7)"), std::string::npos) << found.text;
    DbPtr wdb = OpenDb(v2);
    ASSERT_TRUE(wdb);
    std::atomic<bool> stop{false};
    std::atomic<int> writes{0}, failures{0};
    std::thread writer([&] {
        for (int i = 0; !stop.load() || i < 200; i++) {
            int id = 1 + (i * 37) % kRecords;
            std::string req;
            switch (i % 4) {
            case 0: // a new code no other record has
                req = Req("T", "update", "{\"where\":{\"id\":" + std::to_string(id) + "},\"data\":{\"code\":\"w" +
                                             std::to_string(i) + "\"}}");
                break;
            case 1: // another field: the entry stays
                req = Req("T", "update", "{\"where\":{\"id\":" + std::to_string(id) + "},\"data\":{\"n\":" +
                                             std::to_string(-i) + "}}");
                break;
            case 2:
                req = Req("T", "delete", "{\"where\":{\"id\":" + std::to_string(id) + "}}");
                break;
            default:
                req = Req("T", "create", "{\"data\":{\"id\":" + std::to_string(100000 + i) + ",\"code\":\"n" +
                                             std::to_string(i) + "\",\"n\":1}}");
            }
            JRes r = ExecJson(wdb.get(), req);
            if (r.rc != KVORM_OK && r.rc != KVORM_ENOTFOUND) {
                failures++;
                ADD_FAILURE() << r.text;
            }
            writes++;
        }
    });
    JRes built = ExecJson(db.get(), Req("T", "reindex", R"({"index":"code","chunk":50})"));
    stop = true;
    writer.join();
    KT_ASSERT_OK(built);
    EXPECT_NE(built.text.find(R"("built":["code"])"), std::string::npos) << built.text;
    EXPECT_EQ(failures.load(), 0);
    EXPECT_FALSE(raw_.Exists("ou:{T}:xs")) << "the build is complete";
    JRes c = ExecJson(db.get(), Req("T", "check"));
    KT_ASSERT_OK(c);
    EXPECT_TRUE(json_is_true(c.at("ok"))) << c.text;
    EXPECT_TRUE(json_is_true(json_object_get(json_object_get(c.at("uniques"), "code"), "ready"))) << c.text;
    EXPECT_EQ(raw_.HLen("ou:{T}:u:code"), raw_.ZCard("ou:{T}:ids"));
    // the constraint now holds and serves lookups
    DbPtr fresh = OpenDb(v2);
    ASSERT_TRUE(fresh);
    JRes one = ExecJson(fresh.get(), Req("T", "findMany", R"({"where":{"code":"n3"}})"));
    KT_ASSERT_OK(one);
    JRes dup = ExecJson(fresh.get(), Req("T", "create", R"({"data":{"id":999999,"code":"n3","n":1}})"));
    EXPECT_EQ(dup.rc, KVORM_EUNIQUE) << dup.text;
    JRes plan2 = ExecJson(fresh.get(), Req("T", "explain", R"({"op":"findMany","args":{"where":{"code":"n3"}}})"));
    EXPECT_EQ(plan2.str("plan"), "unique") << plan2.text;
}

// Records that break the new constraint: the build stops naming both and adds nothing of that chunk; once one is
// fixed, reindex finishes.
TEST_F(RedisIndex, AUniqueBuildThatMeetsADuplicateNamesBothRecords)
{
    const std::string v1 = R"json({"namespace": "du", "models": {"T": {"id": {"type": "string"},
        "fields": {"code": {"type": "string", "optional": true}}}}})json";
    const std::string v2 = R"json({"namespace": "du", "models": {"T": {"id": {"type": "string"},
        "fields": {"code": {"type": "string", "optional": true, "unique": true}}}}})json";
    {
        DbPtr db = OpenDb(v1);
        ASSERT_TRUE(db);
        KT_ASSERT_OK(ExecJson(db.get(), Req("T", "createMany",
                                            R"({"data":[{"id":"a","code":"x"},{"id":"b","code":"y"},{"id":"c"},)"
                                            R"({"id":"d"},{"id":"e","code":"x"}]})")));
    }
    DbPtr db = OpenDb(v2);
    ASSERT_TRUE(db);
    JRes r = ExecJson(db.get(), Req("T", "reindex", R"({"chunk":2})"));
    EXPECT_EQ(r.rc, KVORM_EUNIQUE) << r.text;
    for (const char *w : {"\\\"a\\\"", "\\\"e\\\"", "code", "\\\"x\\\"", "reindex"})
        EXPECT_NE(r.text.find(w), std::string::npos) << w << ": " << r.text;
    EXPECT_EQ(raw_.HGet("du:{T}:xs", "u:code").value_or("").rfind("building", 0), 0u);
    EXPECT_FALSE(raw_.HGet("du:{T}:u:code", "\xa1x").has_value() &&
                 raw_.HGet("du:{T}:u:code", "\xa1x").value() == "e")
        << "the chunk with the duplicate adds nothing";
    JRes c = ExecJson(db.get(), Req("T", "check"));
    KT_ASSERT_OK(c);
    EXPECT_TRUE(json_is_false(json_object_get(json_object_get(c.at("uniques"), "code"), "ready"))) << c.text;
    KT_ASSERT_OK(ExecJson(db.get(), Req("T", "delete", R"({"where":{"id":"e"}})")));
    JRes again = ExecJson(db.get(), Req("T", "reindex", R"({"chunk":2})"));
    KT_ASSERT_OK(again);
    EXPECT_EQ(raw_.HLen("du:{T}:u:code"), 2) << "x and y; nulls have no entry";
    JRes c2 = ExecJson(db.get(), Req("T", "check"));
    EXPECT_TRUE(json_is_true(c2.at("ok"))) << c2.text;
    JRes byu = ExecJson(db.get(), Req("T", "findUnique", R"({"where":{"code":"x"}})"));
    KT_ASSERT_OK(byu);
    EXPECT_NE(byu.text.find(R"("id":"a")"), std::string::npos) << byu.text;
}

TEST_F(RedisIndex, AUniqueAddedToAnEmptyModelIsReadyAndARemovedOneLosesItsEntries)
{
    const std::string v1 = R"json({"namespace": "eu", "models": {"T": {"id": {"type": "string"},
        "fields": {"code": {"type": "string"}}}}})json";
    const std::string v2 = R"json({"namespace": "eu", "models": {"T": {"id": {"type": "string"},
        "fields": {"code": {"type": "string", "unique": true}}}}})json";
    {
        DbPtr db = OpenDb(v1);
        ASSERT_TRUE(db);
    }
    {
        DbPtr db = OpenDb(v2);
        ASSERT_TRUE(db);
        EXPECT_FALSE(raw_.Exists("eu:{T}:xs")) << "an empty model's new constraint is complete";
        KT_ASSERT_OK(ExecJson(db.get(), Req("T", "create", R"({"data":{"id":"a","code":"x"}})")));
        KT_ASSERT_OK(ExecJson(db.get(), Req("T", "findUnique", R"({"where":{"code":"x"}})")));
        EXPECT_TRUE(raw_.Exists("eu:{T}:u:code"));
    }
    DbPtr db = OpenDb(v1);
    ASSERT_TRUE(db);
    EXPECT_FALSE(raw_.Exists("eu:{T}:u:code"));
    KT_ASSERT_OK(ExecJson(db.get(), Req("T", "create", R"({"data":{"id":"b","code":"x"}})")));
}

// ---- scan and count, through the engine interface ----------------------------------------------------------

class RedisRanges : public RedisIndex {
protected:
    void SetUp() override
    {
        RedisIndex::SetUp();
        if (HasFatalFailure())
            return;
        kv_error err = {};
        ASSERT_EQ(kv_engine_open(&eng_, RedisEnvironment::Main().UnixUrl().c_str(), nullptr, &err), 0) << err.message;
        ASSERT_EQ(eng_->ops->sync_schema(eng_, schema_.get(), &err), 0) << err.message;
        // 2500 records: more than two chunks of 1000
        for (int from = 0; from < 2500; from += 500) {
            std::string data = "[";
            for (int k = from; k < from + 500; k++)
                data += (k > from ? "," : "") + std::string("{\"tag\":\"t\",\"n\":") + std::to_string(k) + "}";
            KT_ASSERT_OK(Run("Seq", "createMany", "{\"data\":" + data + "]}"));
        }
    }
    void TearDown() override
    {
        if (eng_)
            eng_->ops->close(eng_);
        RedisIndex::TearDown();
    }
    std::string Elem(const std::string &stored, kv_type t)
    {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        kv_error err = {};
        EXPECT_EQ(kv_key_append_value(&sb, t, stored.data(), stored.size(), false, nullptr, &err), 0) << err.message;
        std::string out(sb.data ? sb.data : "", sb.size);
        msgpack_sbuffer_destroy(&sb);
        return out;
    }
    std::vector<long long> Ids(const kv_keys &k, int nparts)
    {
        std::vector<long long> out;
        for (size_t i = 0; i < k.n; i++) {
            char text[KV_MAX_ID_BYTES_FOR_TEST + 1];
            size_t len = 0;
            kv_error err = {};
            EXPECT_EQ(kv_key_id(text, &len, k.data + k.off[i], k.len[i], nparts, &err), 0) << err.message;
            out.push_back(std::stoll(std::string(text, len)));
        }
        return out;
    }
    static constexpr int KV_MAX_ID_BYTES_FOR_TEST = 512;
    kv_engine *eng_ = nullptr;
};

TEST_F(RedisRanges, ScansForwardAndReverseWithLimitsAcrossChunks)
{
    const kv_model *m = Model("Seq");
    ASSERT_NE(m, nullptr);
    // the ids 1..2500: the whole id collection, forward, more than a chunk
    kv_range all = {nullptr, {nullptr, 0, false}, {nullptr, 0, false}};
    kv_keys k = {};
    kv_error err = {};
    ASSERT_EQ(eng_->ops->scan(eng_, m, &all, false, 2400, &k, &err), 0) << err.message;
    std::vector<long long> got = Ids(k, 0);
    ASSERT_EQ(got.size(), 2400u);
    for (size_t i = 0; i < got.size(); i++)
        ASSERT_EQ(got[i], static_cast<long long>(i + 1));
    // reverse, limited
    kv_keys_clear(&k);
    ASSERT_EQ(eng_->ops->scan(eng_, m, &all, true, 3, &k, &err), 0) << err.message;
    EXPECT_EQ(Ids(k, 0), (std::vector<long long>{2500, 2499, 2498}));
    // an id range: [10, 20) forward; (10, 20] reverse
    std::string e10 = IdEntryInt(10), e20 = IdEntryInt(20);
    kv_range ids = {nullptr, {e10.data(), e10.size(), true}, {e20.data(), e20.size(), false}};
    kv_keys_clear(&k);
    ASSERT_EQ(eng_->ops->scan(eng_, m, &ids, false, 100, &k, &err), 0) << err.message;
    EXPECT_EQ(Ids(k, 0), (std::vector<long long>{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}));
    ids.lo.inclusive = false;
    ids.hi.inclusive = true;
    kv_keys_clear(&k);
    ASSERT_EQ(eng_->ops->scan(eng_, m, &ids, true, 4, &k, &err), 0) << err.message;
    EXPECT_EQ(Ids(k, 0), (std::vector<long long>{20, 19, 18, 17}));
    int64_t n = 0;
    ASSERT_EQ(eng_->ops->count(eng_, m, &ids, &n, &err), 0) << err.message;
    EXPECT_EQ(n, 10);
    ASSERT_EQ(eng_->ops->count(eng_, m, nullptr, &n, &err), 0) << err.message;
    EXPECT_EQ(n, 2500);
    kv_keys_free(&k);
}

TEST_F(RedisRanges, ScansAndCountsAnIndexRange)
{
    const kv_model *m = Model("Seq");
    ASSERT_NE(m, nullptr);
    const kv_index *x = &m->indexes[kv_model_index(m, "tag", 3)];
    // every record has tag "t": the range of keys starting with that element is all of them, in id order
    std::string lo = Elem(MpStr("t"), KV_T_STRING);
    char end[64];
    size_t end_len = 0;
    kv_key_prefix_end(end, &end_len, lo.data(), lo.size());
    kv_range r = {x, {lo.data(), lo.size(), true}, {end, end_len, false}};
    kv_keys k = {};
    kv_error err = {};
    ASSERT_EQ(eng_->ops->scan(eng_, m, &r, true, 1500, &k, &err), 0) << err.message;
    std::vector<long long> got = Ids(k, 1);
    ASSERT_EQ(got.size(), 1500u);
    EXPECT_EQ(got.front(), 2500);
    EXPECT_EQ(got.back(), 1001);
    int64_t n = 0;
    ASSERT_EQ(eng_->ops->count(eng_, m, &r, &n, &err), 0) << err.message;
    EXPECT_EQ(n, 2500);
    // a range past every key is empty
    std::string z = Elem(MpStr("u"), KV_T_STRING);
    kv_range none = {x, {z.data(), z.size(), true}, {nullptr, 0, false}};
    kv_keys_clear(&k);
    ASSERT_EQ(eng_->ops->scan(eng_, m, &none, false, 10, &k, &err), 0) << err.message;
    EXPECT_EQ(k.n, 0u);
    ASSERT_EQ(eng_->ops->count(eng_, m, &none, &n, &err), 0) << err.message;
    EXPECT_EQ(n, 0);
    kv_index_state states[1];
    ASSERT_EQ(eng_->ops->index_states(eng_, m, states, &err), 0) << err.message;
    EXPECT_EQ(states[0], KV_INDEX_READY);
    kv_keys_free(&k);
}

// ---- every key a script touches is declared ---------------------------------------------------------------------

// Reads MONITOR's quoted arguments: "a" "b\x00c" ...
std::vector<std::string> MonitorArgs(const std::string &line)
{
    std::vector<std::string> out;
    size_t i = line.find('"');
    while (i != std::string::npos && i < line.size()) {
        std::string a;
        size_t j = i + 1;
        for (; j < line.size() && line[j] != '"'; j++) {
            if (line[j] != '\\' || j + 1 >= line.size()) {
                a += line[j];
                continue;
            }
            char c = line[++j];
            if (c == 'x' && j + 2 < line.size()) {
                a += static_cast<char>(std::stoi(line.substr(j + 1, 2), nullptr, 16));
                j += 2;
            } else {
                a += c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c == 'a' ? '\a' : c == 'b' ? '\b' : c;
            }
        }
        out.push_back(a);
        i = line.find('"', j + 1);
    }
    return out;
}

TEST_F(RedisIndex, EveryKeyAScriptTouchesIsInItsKeys)
{
    Raw mon(RedisEnvironment::Main().Connect());
    ASSERT_TRUE(mon.ok());
    ReplyPtr ok(static_cast<redisReply *>(redisCommand(mon.ctx(), "MONITOR")));
    ASSERT_TRUE(ok);
    // writes of every kind, on models with indexes and uniques (through reads first) and without (one trip)
    KT_ASSERT_OK(Run("Msg", "create", R"({"data":{"id":"k1","room":"r","at":1,"email":"k@x"}})"));
    KT_ASSERT_OK(Run("Msg", "update", R"({"where":{"email":"k@x"},"data":{"room":"s","email":"k2@x"}})"));
    KT_ASSERT_OK(Run("Msg", "upsert", R"({"where":{"id":"k3"},"create":{"room":"r","at":3},"update":{"at":4}})"));
    KT_ASSERT_OK(Run("Msg", "delete", R"({"where":{"id":"k1"}})"));
    KT_ASSERT_OK(Run("Seq", "create", R"({"data":{"tag":"a"}})"));
    KT_ASSERT_OK(Run("Plain", "create", R"({"data":{"id":"p1","k":"a"}})"));
    KT_ASSERT_OK(Run("Plain", "update", R"({"where":{"id":"p1"},"data":{"k":"b"}})"));
    KT_ASSERT_OK(Run("Plain", "update", R"({"where":{"k":"b"},"data":{"v":1}})"));  // the documented exception
    KT_ASSERT_OK(Run("Plain", "delete", R"({"where":{"k":"b"}})"));
    ASSERT_EQ(raw_.Str({"ECHO", "kvorm-monitor-end"}), "kvorm-monitor-end");
    std::vector<std::string> declared;
    bool by_unique = false;
    int scripts = 0, checked = 0, exempt = 0;
    for (;;) {
        void *rp = nullptr;
        ASSERT_EQ(redisGetReply(mon.ctx(), &rp), REDIS_OK);
        ReplyPtr r(static_cast<redisReply *>(rp));
        ASSERT_EQ(r->type, REDIS_REPLY_STATUS);
        std::string line(r->str, r->len);
        if (line.find("kvorm-monitor-end") != std::string::npos)
            break;
        std::vector<std::string> a = MonitorArgs(line);
        if (a.empty())
            continue;
        bool lua = line.find(" lua] ") != std::string::npos;
        if (!lua) {
            if (a[0] == "EVALSHA" && a.size() >= 3) {
                int nk = std::stoi(a[2]);
                declared.assign(a.begin() + 3, a.begin() + 3 + nk);
                // the locator kind of a write ('u': through a unique), or the lookup op
                size_t op = size_t(3 + nk);  // ARGV[1]; ARGV[6] is a write's locator kind
                by_unique = (a.size() > op && a[op] == "get") || (a.size() > op + 5 && a[op + 5] == "u");
                scripts++;
            } else {
                declared.clear();
            }
            continue;
        }
        ASSERT_GE(a.size(), 2u) << line;
        const std::string &key = a[1];
        bool found = std::find(declared.begin(), declared.end(), key) != declared.end();
        if (!found && by_unique && key.find(":r:") != std::string::npos) {
            // a record reached through a unique: its id is known only in the script; same hash tag
            EXPECT_EQ(key.substr(0, key.find("}") + 1), declared[0].substr(0, declared[0].find("}") + 1)) << line;
            exempt++;
            continue;
        }
        EXPECT_TRUE(found) << "undeclared key " << key << " in: " << line;
        checked++;
    }
    EXPECT_GE(scripts, 9);
    EXPECT_GT(checked, 30);
    EXPECT_GE(exempt, 1) << "the lookup exception was exercised";
}

}  // namespace
}  // namespace kt
