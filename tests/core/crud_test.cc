// The operations of docs/protocol.md through kvorm_exec_json: create, findUnique, findUniqueOrThrow, update,
// upsert, delete, count, select and $version, ifVersion.
#include <chrono>

#include "id_entry.h"
#include "test_util.h"

namespace kt {
namespace {

class Crud : public AppTest {};

long long UnixNowSeconds()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

constexpr long long kNowWindowSeconds = 60;

// ---- create ----------------------------------------------------------------------------------------------------

TEST_F(Crud, CreateReturnsTheRecordWithItsIdAndEveryField)
{
    JRes r = CreateUser("ann@x.io", "o_1", ",\"age\":31");
    KT_ASSERT_OK(r);
    EXPECT_EQ(KeysOf(r.get()), (std::set<std::string>{"id", "email", "orgId", "age", "role", "balance", "profile",
                                                       "avatar", "score", "active", "createdAt"}))
        << r.text;
    EXPECT_EQ(r.str("id").size(), 26u) << r.text;
    EXPECT_EQ(r.str("email"), "ann@x.io");
    EXPECT_EQ(r.str("orgId"), "o_1");
    EXPECT_EQ(r.integer("age"), 31);
    EXPECT_TRUE(r.is_null("profile")) << r.text;
    EXPECT_TRUE(r.is_null("avatar")) << r.text;
}

TEST_F(Crud, CreateFillsDefaultsForMissingFields)
{
    long long before = UnixNowSeconds();
    JRes r = CreateUser("ann@x.io");
    long long after = UnixNowSeconds();
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("role"), "member");
    EXPECT_EQ(r.str("balance"), "0");
    ASSERT_TRUE(r.at("score") && json_is_real(r.at("score"))) << r.text;
    EXPECT_EQ(json_real_value(r.at("score")), 0.0);
    EXPECT_TRUE(r.at("active") && json_is_true(r.at("active"))) << r.text;
    long long sec = 0;
    long ns = 0;
    ASSERT_TRUE(ParseUtc(r.str("createdAt"), &sec, &ns)) << r.text;
    // "now" is the real clock (UTC, seconds since the epoch): a generous window, so that neither a loaded machine
    // nor a small clock adjustment can fail it, while a wrong epoch, unit or time zone still does
    EXPECT_GE(sec, before - kNowWindowSeconds) << r.str("createdAt");
    EXPECT_LE(sec, after + kNowWindowSeconds) << r.str("createdAt");
}

TEST_F(Crud, CreateStoresTheDocumentedKeysAndBytes)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes r = CreateUser("ann@x.io", "o_1", ",\"age\":31");
    KT_ASSERT_OK(r);
    std::string id = r.str("id");
    std::string rec = "app:{User}:r:" + id;
    EXPECT_EQ(raw_.Keys(), (std::vector<std::string>{"app:$schema", "app:{User}:ids", rec, "app:{User}:u:email",
                                                     "app:{User}:u:orgId_email"}));
    EXPECT_EQ(raw_.Type(rec), "hash");
    auto h = raw_.HGetAll(rec);
    std::set<std::string> names;
    for (const auto &kv : h)
        names.insert(kv.first);
    // null optional fields (profile, avatar) are not stored
    EXPECT_EQ(names, (std::set<std::string>{"$v", "email", "orgId", "age", "role", "balance", "score", "active",
                                            "createdAt"}));
    EXPECT_EQ(h["$v"], "1");
    EXPECT_EQ(Hex(h["email"]), Hex(MpStr("ann@x.io")));
    EXPECT_EQ(Hex(h["email"]), "a8" + Hex("ann@x.io"));
    EXPECT_EQ(Hex(h["orgId"]), "a36f5f31");
    EXPECT_EQ(Hex(h["age"]), "1f");
    EXPECT_EQ(Hex(h["role"]), Hex(MpStr("member")));
    EXPECT_EQ(Hex(h["balance"]), "a130");
    EXPECT_EQ(Hex(h["score"]), "cb0000000000000000");
    EXPECT_EQ(Hex(h["active"]), "c3");
    ASSERT_EQ(h["createdAt"].size(), 10u) << Hex(h["createdAt"]) << " (a current time with ns is a timestamp64)";
    EXPECT_EQ(Hex(h["createdAt"].substr(0, 2)), "d7ff");

    EXPECT_EQ(raw_.Type("app:{User}:u:email"), "hash");
    EXPECT_EQ(raw_.HGetAll("app:{User}:u:email"),
              (std::map<std::string, std::string>{{MpStr("ann@x.io"), id}}));
    EXPECT_EQ(raw_.HGetAll("app:{User}:u:orgId_email"),
              (std::map<std::string, std::string>{{MpStr("o_1") + MpStr("ann@x.io"), id}}));
    EXPECT_EQ(raw_.Type("app:{User}:ids"), "zset");
    // format 2: the member is the id's key element (a string element for a string id), every score 0
    EXPECT_EQ(raw_.ZRangeWithScores("app:{User}:ids"), IdMembers({IdEntry(id)}));
}

TEST_F(Crud, CreateWithoutARequiredFieldIsValidationAndNamesIt)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes r = Run("User", "create", R"({"data":{"email":"ann@x.io"}})");
    KT_ASSERT_CODE(r, KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(r.str("model"), "User");
    EXPECT_EQ(r.fields(), std::vector<std::string>{"orgId"}) << r.text;
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Crud, CreateWithAnUnknownFieldIsValidation)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes r = Run("User", "create", R"({"data":{"email":"ann@x.io","orgId":"o","nickname":"a"}})");
    KT_ASSERT_CODE(r, KVORM_EVALIDATION, "VALIDATION");
    EXPECT_NE(r.str("message").find("nickname"), std::string::npos) << r.text;
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Crud, CreateWithNullInARequiredFieldIsValidation)
{
    JRes r = Run("User", "create", R"({"data":{"email":"ann@x.io","orgId":null}})");
    KT_ASSERT_CODE(r, KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(r.fields(), std::vector<std::string>{"orgId"}) << r.text;
}

TEST_F(Crud, CreateWithNullInAnOptionalFieldStoresNothingForIt)
{
    JRes r = CreateUser("ann@x.io", "o_1", ",\"age\":null");
    KT_ASSERT_OK(r);
    EXPECT_TRUE(r.is_null("age")) << r.text;
    EXPECT_FALSE(raw_.HGet("app:{User}:r:" + r.str("id"), "age").has_value());
}

TEST_F(Crud, CreateWithAnExplicitValueOverridesTheDefault)
{
    JRes r = CreateUser("ann@x.io", "o_1", ",\"role\":\"admin\",\"active\":false,\"score\":2.5");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("role"), "admin");
    EXPECT_TRUE(json_is_false(r.at("active"))) << r.text;
    EXPECT_EQ(json_real_value(r.at("score")), 2.5);
}

// ---- findUnique / findUniqueOrThrow ----------------------------------------------------------------------------

TEST_F(Crud, FindUniqueByIdReturnsTheCreatedRecord)
{
    JRes c = CreateUser("ann@x.io", "o_1", ",\"age\":7,\"profile\":{\"a\":[1,2]}");
    KT_ASSERT_OK(c);
    JRes f = Run("User", "findUnique", "{\"where\":{\"id\":" + JStr(c.str("id")) + "}}");
    KT_ASSERT_OK(f);
    EXPECT_TRUE(json_equal(c.get(), f.get())) << "created: " << c.text << "\nfound:   " << f.text;
}

TEST_F(Crud, FindUniqueByAUniqueField)
{
    JRes c = CreateUser("ann@x.io");
    KT_ASSERT_OK(c);
    KT_ASSERT_OK(CreateUser("bob@x.io"));
    JRes f = Run("User", "findUnique", R"({"where":{"email":"ann@x.io"}})");
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.str("id"), c.str("id"));
    EXPECT_EQ(f.str("email"), "ann@x.io");
}

TEST_F(Crud, FindUniqueByACompoundUniqueUnderItsDefaultName)
{
    JRes c = CreateUser("ann@x.io", "o_1");
    KT_ASSERT_OK(c);
    JRes f = Run("User", "findUnique", R"({"where":{"orgId_email":{"orgId":"o_1","email":"ann@x.io"}}})");
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.str("id"), c.str("id"));
    JRes miss = Run("User", "findUnique", R"({"where":{"orgId_email":{"orgId":"o_2","email":"ann@x.io"}}})");
    KT_ASSERT_OK(miss);
    EXPECT_TRUE(json_is_null(miss.get())) << miss.text;
}

TEST_F(Crud, FindUniqueByACompoundUniqueUnderItsGivenName)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes c = Run("Slot", "create", R"({"data":{"tenant":"t1","slug":"home"}})");
    KT_ASSERT_OK(c);
    KT_ASSERT_OK(Run("Slot", "create", R"({"data":{"tenant":"t2","slug":"home"}})"));
    JRes f = Run("Slot", "findUnique", R"({"where":{"tenantSlug":{"tenant":"t1","slug":"home"}}})");
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.str("id"), c.str("id"));
    EXPECT_EQ(raw_.HGetAll("app:{Slot}:u:tenantSlug").count(MpStr("t1") + MpStr("home")), 1u);
}

TEST_F(Crud, FindUniqueByACompoundUniqueGivenFlat)
{
    JRes c = Run("Slot", "create", R"({"data":{"tenant":"t1","slug":"home"}})");
    KT_ASSERT_OK(c);
    JRes f = Run("Slot", "findUnique", R"({"where":{"slug":"home","tenant":"t1"}})");
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.str("id"), c.str("id"));
}

TEST_F(Crud, FindUniqueReturnsNullWhenNothingMatches)
{
    JRes f = Run("User", "findUnique", R"({"where":{"id":"01J9Z3X8K6W1Q4T3Y2E5R7N0M8"}})");
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.text, "null");
    JRes g = Run("User", "findUnique", R"({"where":{"email":"nobody@x.io"}})");
    KT_ASSERT_OK(g);
    EXPECT_EQ(g.text, "null");
}

TEST_F(Crud, FindUniqueOrThrowReturnsTheRecord)
{
    JRes c = CreateUser("ann@x.io");
    KT_ASSERT_OK(c);
    JRes f = Run("User", "findUniqueOrThrow", R"({"where":{"email":"ann@x.io"}})");
    KT_ASSERT_OK(f);
    EXPECT_TRUE(json_equal(c.get(), f.get())) << c.text << "\n" << f.text;
}

TEST_F(Crud, FindUniqueOrThrowWithoutAMatchIsNotFound)
{
    JRes f = Run("User", "findUniqueOrThrow", R"({"where":{"email":"nobody@x.io"}})");
    KT_ASSERT_CODE(f, KVORM_ENOTFOUND, "NOT_FOUND");
    EXPECT_EQ(f.str("model"), "User");
    EXPECT_FALSE(f.str("message").empty());
}

TEST_F(Crud, WhereWithoutAnyKeyIsBadRequest)
{
    KT_ASSERT_CODE(Run("User", "findUnique", R"({"where":{}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
}

TEST_F(Crud, WhereWithTwoSelectorsIsBadRequest)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    JRes c = Run("User", "findUnique", R"({"where":{"email":"ann@x.io"}})");
    JRes r = Run("User", "findUnique", "{\"where\":{\"id\":" + JStr(c.str("id")) + ",\"email\":\"ann@x.io\"}}");
    KT_ASSERT_CODE(r, KVORM_EBAD_REQUEST, "BAD_REQUEST");
}

TEST_F(Crud, WhereOnANonUniqueFieldIsBadRequest)
{
    KT_ASSERT_CODE(Run("User", "findUnique", R"({"where":{"orgId":"o_1"}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
}

TEST_F(Crud, WhereWithPartOfACompoundIsBadRequest)
{
    KT_ASSERT_CODE(Run("Slot", "findUnique", R"({"where":{"tenant":"t1"}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
    KT_ASSERT_CODE(Run("Slot", "findUnique", R"({"where":{"tenantSlug":{"tenant":"t1"}}})"), KVORM_EBAD_REQUEST,
                   "BAD_REQUEST");
}

TEST_F(Crud, WhereWithAnOperatorObjectIsBadRequest)
{
    KT_ASSERT_CODE(Run("User", "findUnique", R"({"where":{"email":{"equals":"ann@x.io"}}})"), KVORM_EBAD_REQUEST,
                   "BAD_REQUEST");
}

TEST_F(Crud, WhereWithAValueOfTheWrongTypeIsValidation)
{
    KT_ASSERT_CODE(Run("User", "findUnique", R"({"where":{"email":42}})"), KVORM_EVALIDATION, "VALIDATION");
    KT_ASSERT_CODE(Run("Counter", "findUnique", R"({"where":{"id":"1"}})"), KVORM_EVALIDATION, "VALIDATION");
}

TEST_F(Crud, FindUniqueWithoutWhereIsBadRequest)
{
    KT_ASSERT_CODE(Run("User", "findUnique", "{}"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
    KT_ASSERT_CODE(Run("User", "findUnique"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
}

// ---- update ----------------------------------------------------------------------------------------------------

TEST_F(Crud, UpdateChangesOnlyTheGivenFields)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes c = CreateUser("ann@x.io", "o_1", ",\"age\":30,\"role\":\"admin\"");
    KT_ASSERT_OK(c);
    std::string id = c.str("id");
    auto before = raw_.HGetAll("app:{User}:r:" + id);
    JRes u = Run("User", "update", "{\"where\":{\"id\":" + JStr(id) + "},\"data\":{\"age\":31}}");
    KT_ASSERT_OK(u);
    EXPECT_EQ(u.integer("age"), 31);
    EXPECT_EQ(u.str("role"), "admin");
    EXPECT_EQ(u.str("email"), "ann@x.io");
    EXPECT_EQ(u.str("createdAt"), c.str("createdAt"));
    auto after = raw_.HGetAll("app:{User}:r:" + id);
    for (const auto &kv : before) {
        if (kv.first == "age" || kv.first == "$v")
            continue;
        EXPECT_EQ(Hex(after[kv.first]), Hex(kv.second)) << "field " << kv.first << " changed";
    }
    EXPECT_EQ(Hex(after["age"]), "1f");
    EXPECT_EQ(after.size(), before.size());
}

TEST_F(Crud, UpdateIncrementsTheVersionByOne)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes c = CreateUser("ann@x.io");
    KT_ASSERT_OK(c);
    std::string key = "app:{User}:r:" + c.str("id");
    EXPECT_EQ(raw_.HGet(key, "$v").value_or("?"), "1");
    for (int v = 2; v <= 4; v++) {
        KT_ASSERT_OK(Run("User", "update", "{\"where\":{\"email\":\"ann@x.io\"},\"data\":{\"age\":" +
                                              std::to_string(v) + "}}"));
        EXPECT_EQ(raw_.HGet(key, "$v").value_or("?"), std::to_string(v));
    }
}

TEST_F(Crud, UpdateWithNullClearsAnOptionalField)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes c = CreateUser("ann@x.io", "o_1", ",\"age\":30,\"profile\":{\"x\":1}");
    KT_ASSERT_OK(c);
    std::string key = "app:{User}:r:" + c.str("id");
    ASSERT_TRUE(raw_.HGet(key, "age").has_value());
    JRes u = Run("User", "update", R"({"where":{"email":"ann@x.io"},"data":{"age":null,"profile":null}})");
    KT_ASSERT_OK(u);
    EXPECT_TRUE(u.is_null("age")) << u.text;
    EXPECT_TRUE(u.is_null("profile")) << u.text;
    EXPECT_FALSE(raw_.HGet(key, "age").has_value());
    EXPECT_FALSE(raw_.HGet(key, "profile").has_value());
    JRes f = Run("User", "findUnique", R"({"where":{"email":"ann@x.io"}})");
    EXPECT_TRUE(f.is_null("age")) << f.text;
}

TEST_F(Crud, UpdateWithNullInARequiredFieldIsValidation)
{
    JRes c = CreateUser("ann@x.io");
    KT_ASSERT_OK(c);
    auto before = raw_.Snapshot();
    JRes u = Run("User", "update", R"({"where":{"email":"ann@x.io"},"data":{"orgId":null}})");
    KT_ASSERT_CODE(u, KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(u.fields(), std::vector<std::string>{"orgId"}) << u.text;
    EXPECT_EQ(raw_.Snapshot(), before);
}

TEST_F(Crud, UpdateCannotChangeTheId)
{
    JRes c = CreateUser("ann@x.io");
    KT_ASSERT_OK(c);
    auto before = raw_.Snapshot();
    JRes u = Run("User", "update", R"({"where":{"email":"ann@x.io"},"data":{"id":"01J9Z3X8K6W1Q4T3Y2E5R7N0M8"}})");
    KT_ASSERT_CODE(u, KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(raw_.Snapshot(), before);
}

TEST_F(Crud, UpdateOfAMissingRecordIsNotFound)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes u = Run("User", "update", R"({"where":{"email":"nobody@x.io"},"data":{"age":1}})");
    KT_ASSERT_CODE(u, KVORM_ENOTFOUND, "NOT_FOUND");
    EXPECT_EQ(u.str("model"), "User");
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Crud, UpdateByCompoundUnique)
{
    KT_ASSERT_OK(Run("Slot", "create", R"({"data":{"tenant":"t1","slug":"home"}})"));
    JRes u = Run("Slot", "update", R"({"where":{"tenantSlug":{"tenant":"t1","slug":"home"}},"data":{"title":"Hi"}})");
    KT_ASSERT_OK(u);
    EXPECT_EQ(u.str("title"), "Hi");
}

TEST_F(Crud, UpdateWithoutDataIsBadRequest)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    KT_ASSERT_CODE(Run("User", "update", R"({"where":{"email":"ann@x.io"}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
}

// ---- ifVersion -------------------------------------------------------------------------------------------------

TEST_F(Crud, UpdateWithTheCurrentVersionSucceeds)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    JRes u = Run("User", "update",
                 R"({"where":{"email":"ann@x.io"},"data":{"age":5},"ifVersion":1,"select":{"$version":true}})");
    KT_ASSERT_OK(u);
    EXPECT_EQ(u.integer("$version"), 2);
}

TEST_F(Crud, UpdateWithAStaleVersionIsConflictAndChangesNothing)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    KT_ASSERT_OK(Run("User", "update", R"({"where":{"email":"ann@x.io"},"data":{"age":5}})"));
    auto before = raw_.Snapshot();
    JRes u = Run("User", "update", R"({"where":{"email":"ann@x.io"},"data":{"age":6},"ifVersion":1})");
    KT_ASSERT_CODE(u, KVORM_ECONFLICT, "CONFLICT");
    EXPECT_EQ(u.str("model"), "User");
    EXPECT_EQ(raw_.Snapshot(), before);
}

TEST_F(Crud, DeleteWithAStaleVersionIsConflictAndKeepsTheRecord)
{
    JRes c = CreateUser("ann@x.io");
    KT_ASSERT_OK(c);
    auto before = raw_.Snapshot();
    JRes d = Run("User", "delete", R"({"where":{"email":"ann@x.io"},"ifVersion":2})");
    KT_ASSERT_CODE(d, KVORM_ECONFLICT, "CONFLICT");
    EXPECT_EQ(raw_.Snapshot(), before);
    JRes ok = Run("User", "delete", R"({"where":{"email":"ann@x.io"},"ifVersion":1})");
    KT_ASSERT_OK(ok);
    EXPECT_FALSE(raw_.Exists("app:{User}:r:" + c.str("id")));
}

TEST_F(Crud, IfVersionOfAMissingRecordIsNotFound)
{
    KT_ASSERT_CODE(Run("User", "update", R"({"where":{"email":"x@x.io"},"data":{"age":5},"ifVersion":1})"),
                   KVORM_ENOTFOUND, "NOT_FOUND");
}

// ---- upsert ----------------------------------------------------------------------------------------------------

TEST_F(Crud, UpsertCreatesWhenNothingMatches)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes u = Run("User", "upsert",
                 R"({"where":{"email":"ann@x.io"},"create":{"email":"ann@x.io","orgId":"o_1","age":1},)"
                 R"("update":{"age":2},"select":{"id":true,"age":true,"$version":true}})");
    KT_ASSERT_OK(u);
    EXPECT_EQ(u.integer("age"), 1);
    EXPECT_EQ(u.integer("$version"), 1);
    EXPECT_EQ(raw_.HGet("app:{User}:u:email", MpStr("ann@x.io")).value_or(""), u.str("id"));
    EXPECT_EQ(raw_.ZCard("app:{User}:ids"), 1);
}

TEST_F(Crud, UpsertUpdatesWhenARecordMatches)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes c = CreateUser("ann@x.io", "o_1", ",\"age\":1");
    KT_ASSERT_OK(c);
    JRes u = Run("User", "upsert",
                 R"({"where":{"email":"ann@x.io"},"create":{"email":"ann@x.io","orgId":"o_9","age":100},)"
                 R"("update":{"age":2},"select":{"id":true,"age":true,"orgId":true,"$version":true}})");
    KT_ASSERT_OK(u);
    EXPECT_EQ(u.str("id"), c.str("id"));
    EXPECT_EQ(u.integer("age"), 2);
    EXPECT_EQ(u.str("orgId"), "o_1");
    EXPECT_EQ(u.integer("$version"), 2);
    EXPECT_EQ(raw_.ZCard("app:{User}:ids"), 1);
}

TEST_F(Crud, UpsertWithAMissingBranchIsBadRequest)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_CODE(Run("User", "upsert", R"({"where":{"email":"ann@x.io"},"update":{"age":2}})"), KVORM_EBAD_REQUEST,
                   "BAD_REQUEST");
    KT_ASSERT_CODE(Run("User", "upsert", R"({"where":{"email":"ann@x.io"},"create":{"email":"a","orgId":"o"}})"),
                   KVORM_EBAD_REQUEST, "BAD_REQUEST");
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Crud, UpsertWithInvalidCreateDataIsValidationEvenWhenTheUpdateBranchRuns)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    auto before = raw_.Snapshot();
    JRes u = Run("User", "upsert",
                 R"({"where":{"email":"ann@x.io"},"create":{"email":"ann@x.io","orgId":"o","age":"old"},)"
                 R"("update":{"age":2}})");
    KT_ASSERT_CODE(u, KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(raw_.Snapshot(), before);
}

TEST_F(Crud, UpdatingOneFieldOfACompoundUniqueMovesOnlyThatConstraintsEntry)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes c = CreateUser("ann@x.io", "o_1");
    KT_ASSERT_OK(c);
    KT_ASSERT_OK(Run("User", "update", R"({"where":{"email":"ann@x.io"},"data":{"orgId":"o_2"}})"));
    EXPECT_FALSE(raw_.HGet("app:{User}:u:orgId_email", MpStr("o_1") + MpStr("ann@x.io")).has_value());
    EXPECT_EQ(raw_.HGet("app:{User}:u:orgId_email", MpStr("o_2") + MpStr("ann@x.io")).value_or(""), c.str("id"));
    EXPECT_EQ(raw_.HGet("app:{User}:u:email", MpStr("ann@x.io")).value_or(""), c.str("id"));
    EXPECT_EQ(raw_.HLen("app:{User}:u:orgId_email"), 1);
    // the old pair is free again, the new one is taken
    KT_ASSERT_OK(CreateUser("bob@x.io", "o_1"));
    KT_ASSERT_CODE(Run("User", "update", R"({"where":{"email":"bob@x.io"},"data":{"orgId":"o_2","email":"ann@x.io"}})"),
                   KVORM_EUNIQUE, "UNIQUE_VIOLATION");
}

TEST_F(Crud, UpsertByIdCreatesTheRecordUnderThatId)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes u = Run("Item", "upsert", R"({"where":{"id":"sku:42"},"create":{"label":"new"},"update":{"label":"upd"}})");
    KT_ASSERT_OK(u);
    EXPECT_EQ(u.str("id"), "sku:42");
    EXPECT_EQ(u.str("label"), "new");
    JRes again = Run("Item", "upsert", R"({"where":{"id":"sku:42"},"create":{"label":"new"},"update":{"label":"upd"}})");
    KT_ASSERT_OK(again);
    EXPECT_EQ(again.str("label"), "upd");
    EXPECT_EQ(raw_.ZCard("app:{Item}:ids"), 1);
}

TEST_F(Crud, UpsertByIdWithADifferentIdInCreateIsBadRequest)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_CODE(Run("Item", "upsert", R"({"where":{"id":"a"},"create":{"id":"b"},"update":{}})"),
                   KVORM_EBAD_REQUEST, "BAD_REQUEST");
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Crud, UpsertByIdOfAnIncrementModelMovesTheCounterPastIt)
{
    KT_ASSERT_OK(Run("Counter", "upsert", R"({"where":{"id":10},"create":{"name":"ten"},"update":{}})"));
    JRes next = Run("Counter", "create", R"({"data":{}})");
    KT_ASSERT_OK(next);
    EXPECT_EQ(next.integer("id"), 11);
}

TEST_F(Crud, UpsertByCompoundUniqueCreatesThenUpdates)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    const char *args = R"({"where":{"tenantSlug":{"tenant":"t1","slug":"home"}},)"
                       R"("create":{"tenant":"t1","slug":"home","title":"first"},"update":{"title":"second"}})";
    JRes c = Run("Slot", "upsert", args);
    KT_ASSERT_OK(c);
    EXPECT_EQ(c.str("title"), "first");
    JRes u = Run("Slot", "upsert", args);
    KT_ASSERT_OK(u);
    EXPECT_EQ(u.str("id"), c.str("id"));
    EXPECT_EQ(u.str("title"), "second");
    EXPECT_EQ(raw_.HLen("app:{Slot}:u:tenantSlug"), 1);
}

TEST_F(Crud, UpsertWhoseUpdateMovesAUniqueReleasesTheOldValue)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    JRes u = Run("User", "upsert",
                 R"({"where":{"email":"ann@x.io"},"create":{"email":"ann@x.io","orgId":"o_1"},)"
                 R"("update":{"email":"anne@x.io"}})");
    KT_ASSERT_OK(u);
    EXPECT_FALSE(raw_.HGet("app:{User}:u:email", MpStr("ann@x.io")).has_value());
    EXPECT_EQ(raw_.HGet("app:{User}:u:email", MpStr("anne@x.io")).value_or(""), u.str("id"));
    KT_ASSERT_OK(CreateUser("ann@x.io"));
}

// A restarted Redis (or SCRIPT FLUSH) has forgotten kvorm's scripts: the next write and the next unique lookup
// load them again and succeed, without an error reaching the caller.
TEST_F(Crud, WritesAndLookupsSurviveTheServerForgettingTheScripts)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    EXPECT_EQ(raw_.Str({"SCRIPT", "FLUSH"}), "OK");
    KT_ASSERT_OK(CreateUser("bob@x.io"));
    EXPECT_EQ(raw_.Str({"SCRIPT", "FLUSH"}), "OK");
    JRes f = Run("User", "findUnique", R"({"where":{"email":"ann@x.io"}})");
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.str("email"), "ann@x.io");
    EXPECT_EQ(raw_.ZCard("app:{User}:ids"), 2);
}

// ---- delete ----------------------------------------------------------------------------------------------------

TEST_F(Crud, DeleteReturnsTheDeletedRecordAndRemovesAllItsKeys)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes c = CreateUser("ann@x.io", "o_1", ",\"age\":4");
    KT_ASSERT_OK(c);
    std::string id = c.str("id");
    JRes d = Run("User", "delete", "{\"where\":{\"id\":" + JStr(id) + "}}");
    KT_ASSERT_OK(d);
    EXPECT_TRUE(json_equal(c.get(), d.get())) << c.text << "\n" << d.text;
    EXPECT_FALSE(raw_.Exists("app:{User}:r:" + id));
    EXPECT_EQ(raw_.HLen("app:{User}:u:email"), 0);
    EXPECT_EQ(raw_.HLen("app:{User}:u:orgId_email"), 0);
    EXPECT_EQ(raw_.ZCard("app:{User}:ids"), 0);
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
    JRes f = Run("User", "findUnique", "{\"where\":{\"id\":" + JStr(id) + "}}");
    EXPECT_EQ(f.text, "null");
}

TEST_F(Crud, DeleteByAUniqueField)
{
    JRes c = CreateUser("ann@x.io");
    KT_ASSERT_OK(c);
    JRes d = Run("User", "delete", R"({"where":{"email":"ann@x.io"},"select":{"id":true}})");
    KT_ASSERT_OK(d);
    EXPECT_EQ(d.str("id"), c.str("id"));
    EXPECT_FALSE(raw_.Exists("app:{User}:r:" + c.str("id")));
}

TEST_F(Crud, DeleteOfAMissingRecordIsNotFound)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes d = Run("User", "delete", R"({"where":{"id":"nope"}})");
    KT_ASSERT_CODE(d, KVORM_ENOTFOUND, "NOT_FOUND");
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Crud, DeleteTwiceIsNotFoundTheSecondTime)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    KT_ASSERT_OK(Run("User", "delete", R"({"where":{"email":"ann@x.io"}})"));
    KT_ASSERT_CODE(Run("User", "delete", R"({"where":{"email":"ann@x.io"}})"), KVORM_ENOTFOUND, "NOT_FOUND");
}

// ---- count -----------------------------------------------------------------------------------------------------

TEST_F(Crud, CountCountsTheRecordsOfTheModel)
{
    JRes zero = Run("User", "count");
    KT_ASSERT_OK(zero);
    EXPECT_EQ(zero.text, "0");
    KT_ASSERT_OK(CreateUser("a@x.io"));
    KT_ASSERT_OK(CreateUser("b@x.io"));
    KT_ASSERT_OK(CreateUser("c@x.io"));
    KT_ASSERT_OK(Run("Slot", "create", R"({"data":{"tenant":"t","slug":"s"}})"));
    JRes three = Run("User", "count");
    KT_ASSERT_OK(three);
    EXPECT_EQ(three.text, "3");
    KT_ASSERT_OK(Run("User", "delete", R"({"where":{"email":"b@x.io"}})"));
    EXPECT_EQ(Run("User", "count").text, "2");
}

TEST_F(Crud, CountWithAnEmptyWhereIsAllowed)
{
    KT_ASSERT_OK(CreateUser("a@x.io"));
    JRes r = Run("User", "count", R"({"where":{}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text, "1");
}

TEST_F(Crud, CountWithAWhereCountsTheMatchingRecords)
{
    KT_ASSERT_OK(CreateUser("a@x.io"));
    KT_ASSERT_OK(CreateUser("b@x.io"));
    JRes r = Run("User", "count", R"({"where":{"email":"a@x.io"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text, "1");
}

// ---- select and $version ---------------------------------------------------------------------------------------

TEST_F(Crud, SelectReturnsOnlyTheSelectedFields)
{
    JRes r = Run("User", "create", R"({"data":{"email":"ann@x.io","orgId":"o"},"select":{"email":true,"age":true}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(KeysOf(r.get()), (std::set<std::string>{"email", "age"})) << r.text;
    EXPECT_TRUE(r.is_null("age"));
    JRes f = Run("User", "findUnique", R"({"where":{"email":"ann@x.io"},"select":{"id":true}})");
    KT_ASSERT_OK(f);
    EXPECT_EQ(KeysOf(f.get()), std::set<std::string>{"id"}) << f.text;
}

TEST_F(Crud, SelectVersionAddsTheRecordVersion)
{
    JRes c = Run("User", "create",
                 R"({"data":{"email":"ann@x.io","orgId":"o"},"select":{"$version":true,"email":true}})");
    KT_ASSERT_OK(c);
    EXPECT_EQ(KeysOf(c.get()), (std::set<std::string>{"$version", "email"})) << c.text;
    EXPECT_EQ(c.integer("$version"), 1);
    KT_ASSERT_OK(Run("User", "update", R"({"where":{"email":"ann@x.io"},"data":{"age":1}})"));
    JRes f = Run("User", "findUnique", R"({"where":{"email":"ann@x.io"},"select":{"$version":true}})");
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.text, R"({"$version":2})");
}

TEST_F(Crud, ARecordWithoutSelectHoldsNoVersion)
{
    JRes c = CreateUser("ann@x.io");
    KT_ASSERT_OK(c);
    EXPECT_FALSE(c.has("$version")) << c.text;
    EXPECT_FALSE(c.has("$v")) << c.text;
}

TEST_F(Crud, SelectOnDeleteAppliesToTheDeletedRecord)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    JRes d = Run("User", "delete", R"({"where":{"email":"ann@x.io"},"select":{"email":true,"$version":true}})");
    KT_ASSERT_OK(d);
    EXPECT_EQ(KeysOf(d.get()), (std::set<std::string>{"email", "$version"})) << d.text;
    EXPECT_EQ(d.integer("$version"), 1);
}

// ---- request shape ---------------------------------------------------------------------------------------------

TEST_F(Crud, AnUnknownOpIsBadRequest)
{
    KT_ASSERT_CODE(Run("User", "findAll", "{}"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
    KT_ASSERT_CODE(Run("User", "destroy", R"({"where":{"id":"x"}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
}

TEST_F(Crud, AnUnknownArgumentIsBadRequest)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes r = Run("User", "create", R"({"data":{"email":"a@x.io","orgId":"o"},"include":{"posts":true}})");
    KT_ASSERT_CODE(r, KVORM_EBAD_REQUEST, "BAD_REQUEST");
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Crud, AnUnknownModelIsBadRequest)
{
    KT_ASSERT_CODE(Run("Nobody", "count"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
}

TEST_F(Crud, AMissingModelIsBadRequest)
{
    KT_ASSERT_CODE(ExecJson(db_, R"({"op":"count"})"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
}

TEST_F(Crud, AMissingOpIsBadRequest)
{
    KT_ASSERT_CODE(ExecJson(db_, R"({"model":"User"})"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
}

TEST_F(Crud, CreateWithoutDataIsBadRequest)
{
    KT_ASSERT_CODE(Run("User", "create", "{}"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
}

TEST_F(Crud, ArgsThatAreNotAMapAreBadRequest)
{
    KT_ASSERT_CODE(Run("User", "create", "[1,2]"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
    KT_ASSERT_CODE(Run("User", "count", "\"x\""), KVORM_EBAD_REQUEST, "BAD_REQUEST");
}

TEST_F(Crud, DataThatIsNotAMapIsRejected)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes r = Run("User", "create", R"({"data":"ann"})");
    EXPECT_TRUE(r.rc == KVORM_EBAD_REQUEST || r.rc == KVORM_EVALIDATION) << r.text;
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Crud, TheCapabilitiesOpNeedsNoModel)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes r = ExecJson(db_, R"({"op":"capabilities"})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("engine"), "redis");
    EXPECT_EQ(r.integer("formatVersion"), 2);
}

}  // namespace
}  // namespace kt
