// Id strategies (docs/schema.md) and the key of a record (docs/format.md): generated ulid, uuidv7 and increment
// ids, manual string and integer ids, binary-safe ids.
#include <chrono>

#include "test_util.h"

namespace kt {
namespace {

class Ids : public AppTest {};

// 26 characters of Crockford's base32 alphabet (0-9 A-Z without I, L, O, U); the first one encodes 3 bits.
bool IsUlid(const std::string &id)
{
    static const std::string alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    if (id.size() != 26 || id[0] > '7')
        return false;
    for (char c : id)
        if (alphabet.find(c) == std::string::npos)
            return false;
    return true;
}

// xxxxxxxx-xxxx-7xxx-Vxxx-xxxxxxxxxxxx, lowercase hex, V in 8..b (the RFC 9562 variant).
bool IsUuidV7(const std::string &id)
{
    if (id.size() != 36)
        return false;
    for (size_t k = 0; k < id.size(); k++) {
        char c = id[k];
        if (k == 8 || k == 13 || k == 18 || k == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return id[14] == '7' && (id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
}

long long NowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The 48-bit millisecond timestamp that starts a ULID (10 Crockford base32 characters).
long long UlidMs(const std::string &id)
{
    static const std::string alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    long long v = 0;
    for (int k = 0; k < 10; k++)
        v = v * 32 + static_cast<long long>(alphabet.find(id[k]));
    return v;
}

long long UuidV7Ms(const std::string &id)
{
    return std::stoll(id.substr(0, 8) + id.substr(9, 4), nullptr, 16);
}

// ---- ulid ------------------------------------------------------------------------------------------------------

TEST_F(Ids, UlidIdsAre26CrockfordBase32Characters)
{
    long long before = NowMs();
    JRes r = CreateUser("ann@x.io");
    long long after = NowMs();
    KT_ASSERT_OK(r);
    std::string id = r.str("id");
    EXPECT_TRUE(IsUlid(id)) << id;
    EXPECT_GE(UlidMs(id), before - 5) << id;
    EXPECT_LE(UlidMs(id), after + 5) << id;
}

TEST_F(Ids, UlidIdsIncreaseStrictlyInCreationOrder)
{
    std::string prev;
    for (int k = 0; k < 300; k++) {
        JRes r = Run("Slot", "create", "{\"data\":{\"tenant\":\"t\",\"slug\":\"s" + std::to_string(k) + "\"}}");
        KT_ASSERT_OK(r);
        std::string id = r.str("id");
        ASSERT_TRUE(IsUlid(id)) << id;
        if (!prev.empty()) {
            ASSERT_LT(prev, id) << "ulid ids must be monotonic within a process (create #" << k << ")";
        }
        prev = id;
    }
}

TEST_F(Ids, TheDefaultIdStrategyIsUlid)
{
    JRes r = Run("Slot", "create", R"({"data":{"tenant":"t","slug":"s"}})");
    KT_ASSERT_OK(r);
    EXPECT_TRUE(IsUlid(r.str("id"))) << r.text;
    EXPECT_EQ(raw_.ZRangeWithScores("app:{Slot}:ids"),
              (std::vector<std::pair<std::string, std::string>>{{r.str("id"), "0"}}));
}

// ---- uuidv7 ----------------------------------------------------------------------------------------------------

TEST_F(Ids, Uuidv7IdsAreVersion7UuidText)
{
    long long before = NowMs();
    JRes r = Run("Event", "create", R"({"data":{"name":"boot"}})");
    long long after = NowMs();
    KT_ASSERT_OK(r);
    std::string id = r.str("id");
    EXPECT_TRUE(IsUuidV7(id)) << id;
    EXPECT_GE(UuidV7Ms(id), before - 5) << id;
    EXPECT_LE(UuidV7Ms(id), after + 5) << id;
    EXPECT_TRUE(raw_.Exists("app:{Event}:r:" + id));
}

TEST_F(Ids, Uuidv7IdsSortByCreationTime)
{
    std::vector<std::string> ids;
    for (int k = 0; k < 50; k++) {
        JRes r = Run("Event", "create", R"({"data":{}})");
        KT_ASSERT_OK(r);
        ids.push_back(r.str("id"));
    }
    std::set<std::string> unique(ids.begin(), ids.end());
    EXPECT_EQ(unique.size(), ids.size());
    for (size_t k = 1; k < ids.size(); k++) {
        ASSERT_TRUE(IsUuidV7(ids[k])) << ids[k];
        EXPECT_LE(UuidV7Ms(ids[k - 1]), UuidV7Ms(ids[k])) << ids[k - 1] << " then " << ids[k];
    }
}

// ---- increment -------------------------------------------------------------------------------------------------

TEST_F(Ids, IncrementIdsAre1Then2Then3)
{
    for (int k = 1; k <= 3; k++) {
        JRes r = Run("Counter", "create", R"({"data":{"name":"c"}})");
        KT_ASSERT_OK(r);
        ASSERT_TRUE(r.at("id") && json_is_integer(r.at("id"))) << "integer ids are numbers: " << r.text;
        EXPECT_EQ(r.integer("id"), k);
        EXPECT_TRUE(raw_.Exists("app:{Counter}:r:" + std::to_string(k)));
    }
    EXPECT_EQ(raw_.Get("app:{Counter}:seq").value_or(""), "3");
    EXPECT_EQ(raw_.ZRangeWithScores("app:{Counter}:ids"),
              (std::vector<std::pair<std::string, std::string>>{{"1", "1"}, {"2", "2"}, {"3", "3"}}));
}

TEST_F(Ids, AnExplicitIntegerIdMovesTheCounterPastIt)
{
    KT_ASSERT_OK(Run("Counter", "create", R"({"data":{}})"));  // 1
    JRes given = Run("Counter", "create", R"({"data":{"id":10,"name":"imported"}})");
    KT_ASSERT_OK(given);
    EXPECT_EQ(given.integer("id"), 10);
    JRes next = Run("Counter", "create", R"({"data":{}})");
    KT_ASSERT_OK(next);
    EXPECT_EQ(next.integer("id"), 11);
    // a smaller explicit id does not move the counter back
    JRes low = Run("Counter", "create", R"({"data":{"id":5}})");
    KT_ASSERT_OK(low);
    EXPECT_EQ(low.integer("id"), 5);
    JRes after = Run("Counter", "create", R"({"data":{}})");
    KT_ASSERT_OK(after);
    EXPECT_EQ(after.integer("id"), 12);
    EXPECT_EQ(raw_.Get("app:{Counter}:seq").value_or(""), "12");
}

TEST_F(Ids, AnExplicitIdThatIsTakenIsUniqueViolation)
{
    KT_ASSERT_OK(Run("Counter", "create", R"({"data":{"name":"first"}})"));
    auto before = raw_.Snapshot();
    JRes r = Run("Counter", "create", R"({"data":{"id":1,"name":"second"}})");
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_EQ(r.fields(), std::vector<std::string>{"id"}) << r.text;
    EXPECT_EQ(raw_.Snapshot(), before);
}

TEST_F(Ids, AGeneratedStringIdMayBeGivenForImports)
{
    JRes r = Run("User", "create", R"({"data":{"id":"imported-1","email":"a@x.io","orgId":"o"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("id"), "imported-1");
    EXPECT_TRUE(raw_.Exists("app:{User}:r:imported-1"));
}

// ---- manual ids ------------------------------------------------------------------------------------------------

TEST_F(Ids, AManualStringIdIsRequiredOnCreate)
{
    JRes r = Run("Item", "create", R"({"data":{"label":"x"}})");
    KT_ASSERT_CODE(r, KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(r.fields(), std::vector<std::string>{"id"}) << r.text;
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Ids, AManualStringIdIsStoredAsGiven)
{
    JRes r = Run("Item", "create", R"({"data":{"id":"sku-42","label":"x"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("id"), "sku-42");
    EXPECT_TRUE(raw_.Exists("app:{Item}:r:sku-42"));
    EXPECT_EQ(raw_.ZRangeWithScores("app:{Item}:ids"),
              (std::vector<std::pair<std::string, std::string>>{{"sku-42", "0"}}));
}

TEST_F(Ids, AnEmptyStringIdIsValidation)
{
    KT_ASSERT_CODE(Run("Item", "create", R"({"data":{"id":""}})"), KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Ids, AStringIdOf512BytesIsAcceptedAnd513IsValidation)
{
    std::string id512(512, 'k'), id513(513, 'k');
    JRes ok = Run("Item", "create", "{\"data\":{\"id\":" + JStr(id512) + "}}");
    KT_ASSERT_OK(ok);
    EXPECT_TRUE(raw_.Exists("app:{Item}:r:" + id512));
    JRes bad = Run("Item", "create", "{\"data\":{\"id\":" + JStr(id513) + "}}");
    KT_ASSERT_CODE(bad, KVORM_EVALIDATION, "VALIDATION");
    EXPECT_FALSE(raw_.Exists("app:{Item}:r:" + id513));
}

TEST_F(Ids, ADuplicateManualIdIsUniqueViolation)
{
    KT_ASSERT_OK(Run("Item", "create", R"({"data":{"id":"a","label":"first"}})"));
    auto before = raw_.Snapshot();
    JRes r = Run("Item", "create", R"({"data":{"id":"a","label":"second"}})");
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_EQ(r.str("model"), "Item");
    EXPECT_EQ(raw_.Snapshot(), before);
}

TEST_F(Ids, AManualIntegerIdKeysTheRecordByItsDecimalText)
{
    JRes neg = Run("Num", "create", R"({"data":{"id":-12,"n":1}})");
    KT_ASSERT_OK(neg);
    EXPECT_EQ(neg.integer("id"), -12);
    JRes big = Run("Num", "create", R"({"data":{"id":9223372036854775807}})");
    KT_ASSERT_OK(big);
    EXPECT_TRUE(raw_.Exists("app:{Num}:r:-12"));
    EXPECT_TRUE(raw_.Exists("app:{Num}:r:9223372036854775807"));
    auto z = raw_.ZRangeWithScores("app:{Num}:ids");
    ASSERT_EQ(z.size(), 2u);
    EXPECT_EQ(z[0], (std::pair<std::string, std::string>{"-12", "-12"}));
    EXPECT_EQ(z[1].first, "9223372036854775807");
    JRes f = Run("Num", "findUnique", R"({"where":{"id":-12}})");
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.integer("n"), 1);
}

TEST_F(Ids, AManualIntegerIdGivenAsAStringIsValidation)
{
    KT_ASSERT_CODE(Run("Num", "create", R"({"data":{"id":"5"}})"), KVORM_EVALIDATION, "VALIDATION");
    KT_ASSERT_CODE(Run("Num", "create", R"({"data":{"id":1.5}})"), KVORM_EVALIDATION, "VALIDATION");
    KT_ASSERT_CODE(Run("Num", "create", R"({"data":{}})"), KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

// ---- binary-safe ids -------------------------------------------------------------------------------------------

class BinarySafeIds : public AppTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(BinarySafeIds, AreKeyedExactlyAfterThePrefixAndReadBack)
{
    const std::string id = GetParam();
    JRes c = Run("Item", "create", "{\"data\":{\"id\":" + JStr(id) + ",\"label\":\"v\"}}");
    KT_ASSERT_OK(c);
    EXPECT_EQ(c.str("id"), id);
    const std::string key = "app:{Item}:r:" + id;
    EXPECT_EQ(raw_.Keys(), (std::vector<std::string>{"app:$schema", "app:{Item}:ids", key}));
    EXPECT_EQ(raw_.HGet(key, "label").value_or(""), MpStr("v"));
    EXPECT_EQ(raw_.ZRangeWithScores("app:{Item}:ids"),
              (std::vector<std::pair<std::string, std::string>>{{id, "0"}}));
    JRes f = Run("Item", "findUnique", "{\"where\":{\"id\":" + JStr(id) + "}}");
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.str("id"), id);
    EXPECT_EQ(f.str("label"), "v");
    JRes u = Run("Item", "update", "{\"where\":{\"id\":" + JStr(id) + "},\"data\":{\"label\":\"w\"}}");
    KT_ASSERT_OK(u);
    EXPECT_EQ(raw_.HGet(key, "label").value_or(""), MpStr("w"));
    KT_ASSERT_OK(Run("Item", "delete", "{\"where\":{\"id\":" + JStr(id) + "}}"));
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

INSTANTIATE_TEST_SUITE_P(Ids, BinarySafeIds,
                         ::testing::Values(std::string("a:b"), std::string("r:x"), std::string("*"),
                                           std::string("user:*"), std::string("{User}"), std::string("{"),
                                           std::string("}:u:email"), std::string("with space"),
                                           std::string(" "), std::string("line\nbreak"), std::string("tab\tcr\r"),
                                           std::string("\xc3\xa9t\xc3\xa9"), std::string("\xe2\x9c\x93\xf0\x9f\x98\x80"),
                                           std::string("..\\..//"), std::string("a\0b", 3),
                                           std::string("$schema"), std::string("-12")));

TEST_F(Ids, IdsThatLookLikeOtherKeysNeverReachThem)
{
    // an id made to look like the unique hash or the id set stays a record key
    KT_ASSERT_OK(Run("Item", "create", R"({"data":{"id":"x","label":"1"}})"));
    KT_ASSERT_OK(Run("Item", "create", R"({"data":{"id":"x:u:label","label":"2"}})"));
    KT_ASSERT_OK(Run("Item", "create", R"({"data":{"id":"../ids","label":"3"}})"));
    EXPECT_EQ(raw_.Keys(), (std::vector<std::string>{"app:$schema", "app:{Item}:ids", "app:{Item}:r:../ids",
                                                     "app:{Item}:r:x", "app:{Item}:r:x:u:label"}));
    EXPECT_EQ(raw_.Type("app:{Item}:ids"), "zset");
    EXPECT_EQ(raw_.ZCard("app:{Item}:ids"), 3);
    EXPECT_EQ(Run("Item", "count").text, "3");
}

TEST_F(Ids, AStringIdThatIsNotValidUtf8IsRejectedInMessagePack)
{
    MRes r = Exec(db_, MReq("Item", "create", mp::map({{"data", mp::map({{"id", mp::str("\xff\xfe")}})}})));
    EXPECT_EQ(r.rc, KVORM_EVALIDATION) << r.doc;
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

}  // namespace
}  // namespace kt
