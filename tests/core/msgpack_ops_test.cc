// The operations through kvorm_exec with real MessagePack requests and responses: timestamps as ext -1, bytes as
// bin, integers of any wire width, and unique keys built from canonical bytes whatever form the input took.
#include <ctime>

#include "test_util.h"

namespace kt {
namespace {

class MsgpackOps : public AppTest {
protected:
    MRes M(const std::string &model, const std::string &op, const mp::V &args = mp::V())
    {
        return Exec(db_, MReq(model, op, args));
    }
    static mp::V Where(const std::string &key, const mp::V &value) { return mp::map({{"where", mp::map({{key, value}})}}); }
};

const long long kT2024 = 1704067200;  // 2024-01-01T00:00:00Z

TEST_F(MsgpackOps, CreateTakesTimestampsAndBinAndReturnsThem)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    std::string avatar("\x89PNG\r\n\x1a\n\x00\x00", 10);
    mp::V data = mp::map({{"email", "ann@x.io"},
                          {"orgId", "o_1"},
                          {"age", mp::i(40)},
                          {"score", mp::f64(9.75)},
                          {"createdAt", mp::ext(-1, TsPayload(kT2024, 250))},
                          {"avatar", mp::bin(avatar)},
                          {"profile", mp::map({{"tags", mp::arr({"a", "b"})}, {"n", mp::i(-5)}})}});
    MRes c = M("User", "create", mp::map({{"data", data}}));
    ASSERT_EQ(c.rc, KVORM_OK) << c.doc;
    ASSERT_TRUE(c.parsed);
    EXPECT_EQ(c.doc["id"].kind, mp::V::Str);
    EXPECT_EQ(c.doc["createdAt"], mp::ext(-1, TsPayload(kT2024, 250)));
    EXPECT_EQ(c.doc["avatar"], mp::bin(avatar));
    EXPECT_EQ(c.doc["score"], mp::f64(9.75));
    EXPECT_EQ(c.doc["age"], mp::i(40));
    EXPECT_EQ(c.doc["profile"], mp::map({{"n", mp::i(-5)}, {"tags", mp::arr({"a", "b"})}}));
    EXPECT_EQ(c.doc["balance"], mp::ext(1, "0"));  // a decimal comes back as extension type 1
    EXPECT_EQ(c.doc["active"], mp::boolean(true));
    std::string key = "app:{User}:r:" + c.doc["id"].s;
    EXPECT_EQ(Hex(raw_.HGet(key, "createdAt").value_or("")), Hex(TsObject(kT2024, 250)));
    EXPECT_EQ(Hex(raw_.HGet(key, "avatar").value_or("")), Hex(MpBin(avatar)));
    MRes f = M("User", "findUnique", Where("email", "ann@x.io"));
    ASSERT_EQ(f.rc, KVORM_OK) << f.doc;
    EXPECT_EQ(f.doc, c.doc);
}

TEST_F(MsgpackOps, TheNowDefaultIsACurrentTimestamp)
{
    long long before = static_cast<long long>(std::time(nullptr));
    MRes c = M("User", "create", mp::map({{"data", mp::map({{"email", "a@x.io"}, {"orgId", "o"}})}}));
    long long after = static_cast<long long>(std::time(nullptr));
    ASSERT_EQ(c.rc, KVORM_OK) << c.doc;
    const mp::V &t = c.doc["createdAt"];
    ASSERT_EQ(t.kind, mp::V::Ext) << t;
    EXPECT_EQ(t.ext_type, -1);
    ASSERT_TRUE(t.s.size() == 4 || t.s.size() == 8) << t;
    uint64_t v = 0;
    for (unsigned char b : t.s)
        v = (v << 8) | b;
    long long sec = t.s.size() == 4 ? static_cast<long long>(v) : static_cast<long long>(v & ((1ull << 34) - 1));
    EXPECT_GE(sec, before - 2);
    EXPECT_LE(sec, after + 2);
}

TEST_F(MsgpackOps, IntegerIdsAreMessagePackIntegers)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    MRes a = M("Counter", "create", mp::map({{"data", mp::map({})}}));
    ASSERT_EQ(a.rc, KVORM_OK) << a.doc;
    EXPECT_TRUE(a.doc["id"].is_int()) << a.doc;
    EXPECT_EQ(a.doc["id"], mp::i(1));
    MRes b = M("Counter", "create", mp::map({{"data", mp::map({{"id", mp::u(300)}})}}));
    ASSERT_EQ(b.rc, KVORM_OK) << b.doc;
    EXPECT_EQ(b.doc["id"], mp::i(300));
    EXPECT_TRUE(raw_.Exists("app:{Counter}:r:300"));
}

TEST_F(MsgpackOps, AnIdGivenInAnyIntegerWidthFindsTheSameRecord)
{
    ASSERT_EQ(M("Num", "create", mp::map({{"data", mp::map({{"id", mp::i(-12)}, {"n", mp::i(1)}})}})).rc, KVORM_OK);
    ASSERT_EQ(M("Num", "create", mp::map({{"data", mp::map({{"id", mp::i(70000)}, {"n", mp::i(2)}})}})).rc, KVORM_OK);
    MRes a = M("Num", "findUnique", Where("id", mp::raw(Unhex("d3fffffffffffffff4"))));  // -12 as int64
    ASSERT_EQ(a.rc, KVORM_OK) << a.doc;
    EXPECT_EQ(a.doc["n"], mp::i(1));
    MRes b = M("Num", "findUnique", Where("id", mp::raw(Unhex("cf0000000000011170"))));  // 70000 as uint64
    ASSERT_EQ(b.rc, KVORM_OK) << b.doc;
    EXPECT_EQ(b.doc["n"], mp::i(2));
}

TEST_F(MsgpackOps, UniqueKeysUseCanonicalBytesWhateverTheInputForm)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    // 300 sent as int64 is stored and indexed as uint16 (cd 01 2c)
    MRes c = M("Tag", "create", mp::map({{"data", mp::map({{"code", mp::raw(Unhex("d3000000000000012c"))}})}}));
    ASSERT_EQ(c.rc, KVORM_OK) << c.doc;
    EXPECT_EQ(raw_.HGetAll("app:{Tag}:u:code"), (std::map<std::string, std::string>{{Unhex("cd012c"), c.doc["id"].s}}));
    MRes f = M("Tag", "findUnique", Where("code", mp::raw(Unhex("ce0000012c"))));
    ASSERT_EQ(f.rc, KVORM_OK) << f.doc;
    EXPECT_EQ(f.doc["id"], c.doc["id"]);
    MRes dup = M("Tag", "create", mp::map({{"data", mp::map({{"code", mp::i(300)}})}}));
    EXPECT_EQ(dup.rc, KVORM_EUNIQUE) << dup.doc;
}

TEST_F(MsgpackOps, AStringUniqueIsFoundWhateverItsStrHeader)
{
    ASSERT_EQ(M("Acct", "create", mp::map({{"data", mp::map({{"handle", "h"}, {"phone", "p"}})}})).rc, KVORM_OK);
    MRes f = M("Acct", "findUnique", Where("handle", mp::raw(Unhex("d90168"))));  // "h" as str8
    ASSERT_EQ(f.rc, KVORM_OK) << f.doc;
    EXPECT_EQ(f.doc["handle"], mp::str("h"));
}

TEST_F(MsgpackOps, FindUniqueWithoutAMatchIsNil)
{
    MRes f = M("User", "findUnique", Where("email", "nobody@x.io"));
    ASSERT_EQ(f.rc, KVORM_OK) << f.doc;
    EXPECT_EQ(Hex(f.raw), "c0");
}

TEST_F(MsgpackOps, CountIsAnInteger)
{
    for (const char *e : {"a@x.io", "b@x.io"})
        ASSERT_EQ(M("User", "create", mp::map({{"data", mp::map({{"email", e}, {"orgId", "o"}})}})).rc, KVORM_OK);
    MRes n = M("User", "count");
    ASSERT_EQ(n.rc, KVORM_OK) << n.doc;
    EXPECT_EQ(Hex(n.raw), "02");
}

TEST_F(MsgpackOps, UpdateWithIfVersionAndSelectVersion)
{
    ASSERT_EQ(M("User", "create", mp::map({{"data", mp::map({{"email", "a@x.io"}, {"orgId", "o"}})}})).rc, KVORM_OK);
    MRes u = M("User", "update",
               mp::map({{"where", mp::map({{"email", "a@x.io"}})},
                        {"data", mp::map({{"avatar", mp::bin("\x01\x02")}, {"age", mp::nil()}})},
                        {"ifVersion", mp::i(1)},
                        {"select", mp::map({{"avatar", mp::boolean(true)}, {"$version", mp::boolean(true)}})}}));
    ASSERT_EQ(u.rc, KVORM_OK) << u.doc;
    EXPECT_EQ(u.doc["avatar"], mp::bin("\x01\x02"));
    EXPECT_EQ(u.doc["$version"], mp::i(2));
    EXPECT_EQ(u.doc.map.size(), 2u) << u.doc;
    MRes stale = M("User", "update",
                   mp::map({{"where", mp::map({{"email", "a@x.io"}})},
                            {"data", mp::map({{"age", mp::i(1)}})},
                            {"ifVersion", mp::u(1)}}));
    EXPECT_EQ(stale.rc, KVORM_ECONFLICT) << stale.doc;
    EXPECT_EQ(stale.doc["code"], mp::str("CONFLICT"));
    EXPECT_EQ(stale.doc["model"], mp::str("User"));
}

TEST_F(MsgpackOps, UpsertCreatesThenUpdates)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    mp::V args = mp::map({{"where", mp::map({{"id", "sku-1"}})},
                          {"create", mp::map({{"id", "sku-1"}, {"label", "new"}})},
                          {"update", mp::map({{"label", "again"}})},
                          {"select", mp::map({{"label", mp::boolean(true)}, {"$version", mp::boolean(true)}})}});
    MRes first = M("Item", "upsert", args);
    ASSERT_EQ(first.rc, KVORM_OK) << first.doc;
    EXPECT_EQ(first.doc["label"], mp::str("new"));
    EXPECT_EQ(first.doc["$version"], mp::i(1));
    MRes second = M("Item", "upsert", args);
    ASSERT_EQ(second.rc, KVORM_OK) << second.doc;
    EXPECT_EQ(second.doc["label"], mp::str("again"));
    EXPECT_EQ(second.doc["$version"], mp::i(2));
    EXPECT_EQ(raw_.ZCard("app:{Item}:ids"), 1);
}

TEST_F(MsgpackOps, DeleteReturnsTheRecordAndFindUniqueOrThrowThenFails)
{
    MRes c = M("Slot", "create", mp::map({{"data", mp::map({{"tenant", "t"}, {"slug", "s"}, {"title", "T"}})}}));
    ASSERT_EQ(c.rc, KVORM_OK) << c.doc;
    mp::V where = mp::map({{"tenantSlug", mp::map({{"tenant", "t"}, {"slug", "s"}})}});
    MRes d = M("Slot", "delete", mp::map({{"where", where}}));
    ASSERT_EQ(d.rc, KVORM_OK) << d.doc;
    EXPECT_EQ(d.doc, c.doc);
    MRes f = M("Slot", "findUniqueOrThrow", mp::map({{"where", where}}));
    EXPECT_EQ(f.rc, KVORM_ENOTFOUND) << f.doc;
    EXPECT_EQ(f.doc["code"], mp::str("NOT_FOUND"));
    EXPECT_EQ(raw_.HLen("app:{Slot}:u:tenantSlug"), 0);
}

TEST_F(MsgpackOps, ADatetimeMayBeGivenAsTextInMessagePackAndComesBackAsATimestamp)
{
    MRes c = M("User", "create",
               mp::map({{"data", mp::map({{"email", "a@x.io"}, {"orgId", "o"}, {"createdAt", "2024-01-01T00:00:00Z"}})}}));
    ASSERT_EQ(c.rc, KVORM_OK) << c.doc;
    EXPECT_EQ(c.doc["createdAt"], mp::ext(-1, TsPayload(kT2024, 0)));
}

TEST_F(MsgpackOps, BooleansAndFloatsKeepTheirWireTypes)
{
    MRes c = M("User", "create",
               mp::map({{"data", mp::map({{"email", "a@x.io"}, {"orgId", "o"}, {"active", mp::boolean(false)},
                                          {"score", mp::i(2)}})}}));
    ASSERT_EQ(c.rc, KVORM_OK) << c.doc;
    EXPECT_EQ(c.doc["active"], mp::boolean(false));
    EXPECT_EQ(c.doc["score"], mp::f64(2.0)) << "a float field answers float64 even when given an integer";
}

}  // namespace
}  // namespace kt
