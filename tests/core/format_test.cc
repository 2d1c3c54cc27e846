// docs/format.md from the reading side: a record written by another implementation following the documented
// layout is read by kvorm, and stored bytes that break the format are INTERNAL errors rather than garbage.
#include "id_entry.h"
#include "test_util.h"

namespace kt {
namespace {

class Format : public AppTest {};

TEST_F(Format, ARecordWrittenByHandInTheDocumentedLayoutIsReadable)
{
    const std::string key = "app:{User}:r:01J9Z3X8K6W1Q4T3Y2E5R7N0M8";
    const long long t = UnixSeconds(2024, 5, 6, 7, 8, 9);
    ASSERT_TRUE(raw_.Cmd({"HSET", key, "email", MpStr("ann@x.io"), "orgId", MpStr("o_1"), "age", MpInt(-33), "role",
                          MpStr("admin"), "balance", MpStr("12.5"), "score", Unhex("cb3ff8000000000000"), "active",
                          Unhex("c2"), "createdAt", TsObject(t, 5), "avatar", MpBin("\x01\x02"), "profile",
                          Unhex("81a161c3"), "$v", "7"}));
    ASSERT_TRUE(raw_.Cmd({"HSET", "app:{User}:u:email", MpStr("ann@x.io"), "01J9Z3X8K6W1Q4T3Y2E5R7N0M8"}));
    ASSERT_TRUE(raw_.Cmd({"HSET", "app:{User}:u:orgId_email", MpStr("o_1") + MpStr("ann@x.io"),
                          "01J9Z3X8K6W1Q4T3Y2E5R7N0M8"}));
    ASSERT_TRUE(raw_.Cmd({"ZADD", "app:{User}:ids", "0", IdEntry("01J9Z3X8K6W1Q4T3Y2E5R7N0M8")}));

    JRes f = Run("User", "findUnique", R"({"where":{"email":"ann@x.io"},"select":{"id":true,"email":true,"age":true,)"
                                       R"("role":true,"balance":true,"score":true,"active":true,"createdAt":true,)"
                                       R"("avatar":true,"profile":true,"$version":true}})");
    KT_ASSERT_OK(f);
    JsonPtr want = ParseJson(R"({"id":"01J9Z3X8K6W1Q4T3Y2E5R7N0M8","email":"ann@x.io","age":-33,"role":"admin",)"
                             R"("balance":"12.5","score":1.5,"active":false,"createdAt":"2024-05-06T07:08:09.000000005Z",)"
                             R"("avatar":"AQI=","profile":{"a":true},"$version":7})");
    EXPECT_TRUE(json_equal(f.get(), want.get())) << f.text;
    JRes c = Run("User", "findUnique", R"({"where":{"orgId_email":{"orgId":"o_1","email":"ann@x.io"}},"select":{"id":true}})");
    KT_ASSERT_OK(c);
    EXPECT_EQ(c.str("id"), "01J9Z3X8K6W1Q4T3Y2E5R7N0M8");
    EXPECT_EQ(Run("User", "count").text, "1");
    // the hand-written unique entry is enforced
    KT_ASSERT_CODE(CreateUser("ann@x.io", "o_2"), KVORM_EUNIQUE, "UNIQUE_VIOLATION");
}

TEST_F(Format, AnUpdateOfAHandWrittenRecordBumpsItsVersion)
{
    ASSERT_TRUE(raw_.Cmd({"HSET", "app:{Item}:r:x", "label", MpStr("a"), "$v", "41"}));
    ASSERT_TRUE(raw_.Cmd({"ZADD", "app:{Item}:ids", "0", IdEntry("x")}));
    JRes u = Run("Item", "update", R"({"where":{"id":"x"},"data":{"label":"b"},"ifVersion":41,"select":{"$version":true}})");
    KT_ASSERT_OK(u);
    EXPECT_EQ(u.integer("$version"), 42);
    EXPECT_EQ(raw_.HGet("app:{Item}:r:x", "$v").value_or(""), "42");
    EXPECT_EQ(raw_.HGet("app:{Item}:r:x", "label").value_or(""), MpStr("b"));
}

TEST_F(Format, DeleteRemovesTheHandWrittenUniqueEntries)
{
    ASSERT_TRUE(raw_.Cmd({"HSET", "app:{Acct}:r:a1", "handle", MpStr("h"), "phone", MpStr("p"), "$v", "1"}));
    ASSERT_TRUE(raw_.Cmd({"HSET", "app:{Acct}:u:handle", MpStr("h"), "a1"}));
    ASSERT_TRUE(raw_.Cmd({"HSET", "app:{Acct}:u:phone", MpStr("p"), "a1"}));
    ASSERT_TRUE(raw_.Cmd({"ZADD", "app:{Acct}:ids", "0", IdEntry("a1")}));
    KT_ASSERT_OK(Run("Acct", "delete", R"({"where":{"phone":"p"}})"));
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

class CorruptValues : public AppTest, public ::testing::WithParamInterface<std::pair<const char *, std::string>> {};

TEST_P(CorruptValues, AreInternalErrorsNamingTheField)
{
    JRes c = CreateUser("ann@x.io", "o_1", ",\"age\":1");
    KT_ASSERT_OK(c);
    const std::string field = GetParam().first;
    ASSERT_TRUE(raw_.Cmd({"HSET", "app:{User}:r:" + c.str("id"), field, GetParam().second}));
    JRes f = Run("User", "findUnique", R"({"where":{"email":"ann@x.io"}})");
    KT_ASSERT_CODE(f, KVORM_EINTERNAL, "INTERNAL");
    EXPECT_EQ(f.str("model"), "User");
    EXPECT_NE(f.str("message").find(field), std::string::npos) << f.text;
    MRes m = Exec(db_, MReq("User", "findUnique", mp::map({{"where", mp::map({{"email", "ann@x.io"}})}})));
    EXPECT_EQ(m.rc, KVORM_EINTERNAL) << m.doc;
}

INSTANTIATE_TEST_SUITE_P(
    Format, CorruptValues,
    ::testing::Values(std::make_pair("age", MpStr("seven")),                 // a string in an integer field
                      std::make_pair("age", Unhex("cd01")),                  // truncated uint16
                      std::make_pair("age", Unhex("0102")),                  // two objects
                      std::make_pair("age", std::string()),                  // empty
                      std::make_pair("score", Unhex("ca3fc00000")),          // float32 is not the stored form
                      std::make_pair("active", Unhex("01")),                 // an int in a boolean field
                      std::make_pair("createdAt", MpStr("2024-01-01T00:00:00Z")),  // text, not a timestamp
                      std::make_pair("email", Unhex("c1")),                  // never-used byte
                      std::make_pair("avatar", MpStr("not bin"))));

}  // namespace
}  // namespace kt
