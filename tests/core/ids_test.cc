// Id strategies (docs/schema.md) and the key of a record (docs/format.md): generated ulid, uuidv7 and increment
// ids, manual string and integer ids, binary-safe ids.
#include <chrono>
#include <cstdint>

#include "fake_clock.h"
#include "id_entry.h"
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

// The part of an id after its time, as a number of up to 128 bits: hi holds the bits above the low 64.
struct Bits {
    uint64_t hi = 0, lo = 0;
    bool operator==(const Bits &o) const { return hi == o.hi && lo == o.lo; }
    bool operator<(const Bits &o) const { return hi != o.hi ? hi < o.hi : lo < o.lo; }
};

Bits Plus1(Bits b)
{
    if (++b.lo == 0)
        b.hi++;
    return b;
}

std::ostream &operator<<(std::ostream &os, const Bits &b) { return os << std::hex << b.hi << ":" << b.lo << std::dec; }

// The 80 random bits of a ULID (its last 16 characters): the counter of ids made in one millisecond.
Bits UlidRandom(const std::string &id)
{
    static const std::string alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    Bits b;
    for (size_t k = 10; k < 26; k++) {
        b.hi = (b.hi << 5) | (b.lo >> 59);
        b.lo = (b.lo << 5) | static_cast<uint64_t>(alphabet.find(id[k]));
    }
    return b;
}

// The 74 bits of a UUIDv7 after its time, version and variant: rand_a (12 bits) then rand_b (62 bits).
Bits UuidV7Counter(const std::string &id)
{
    uint64_t rand_a = std::stoull(id.substr(15, 3), nullptr, 16);
    uint64_t rand_b = std::stoull(id.substr(19, 4) + id.substr(24, 12), nullptr, 16) & 0x3fffffffffffffffull;
    return Bits{rand_a >> 2, (rand_a & 3) << 62 | rand_b};
}

// Ids compared with the real clock: only a generous window, so that a loaded machine or a small clock adjustment
// cannot fail them. The exact time, the order within a millisecond and a clock going back are tested with a
// clock set by the test (FakeIdClock).
constexpr long long kClockWindowMs = 60 * 1000;

// 2023-11-14T22:13:20.123Z
constexpr uint64_t kT = 1700000000123ull;

// ---- ulid ------------------------------------------------------------------------------------------------------

TEST_F(Ids, UlidIdsAre26CrockfordBase32CharactersWithTheCurrentTime)
{
    long long before = NowMs();
    JRes r = CreateUser("ann@x.io");
    long long after = NowMs();
    KT_ASSERT_OK(r);
    std::string id = r.str("id");
    EXPECT_TRUE(IsUlid(id)) << id;
    // the real clock, in milliseconds since the epoch
    EXPECT_GE(UlidMs(id), before - kClockWindowMs) << id;
    EXPECT_LE(UlidMs(id), after + kClockWindowMs) << id;
}

TEST_F(Ids, AUlidStartsWithTheMillisecondOfTheClockExactly)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    {
        FakeIdClock clock(kT);
        JRes r = CreateUser("ann@x.io");
        KT_ASSERT_OK(r);
        std::string id = r.str("id");
        ASSERT_TRUE(IsUlid(id)) << id;
        EXPECT_EQ(UlidMs(id), static_cast<long long>(kT)) << id;
        EXPECT_EQ(id.substr(0, 10), "01HF7YAT3V") << "1700000000123 in Crockford base32";
        EXPECT_TRUE(raw_.Exists("app:{User}:r:" + id));
    }
    {
        FakeIdClock clock((1ull << 48) - 1);  // the last millisecond a ULID holds (year 10889)
        JRes r = CreateUser("bob@x.io");
        KT_ASSERT_OK(r);
        std::string id = r.str("id");
        ASSERT_TRUE(IsUlid(id)) << id;
        EXPECT_EQ(id.substr(0, 10), "7ZZZZZZZZZ");
    }
}

TEST_F(Ids, UlidsOfOneMillisecondCountUpByOne)
{
    FakeIdClock clock(kT);
    std::vector<std::string> ids;
    for (int k = 0; k < 20; k++) {
        JRes r = Run("Slot", "create", "{\"data\":{\"tenant\":\"t\",\"slug\":\"s" + std::to_string(k) + "\"}}");
        KT_ASSERT_OK(r);
        ids.push_back(r.str("id"));
    }
    for (size_t k = 0; k < ids.size(); k++) {
        ASSERT_TRUE(IsUlid(ids[k])) << ids[k];
        EXPECT_EQ(UlidMs(ids[k]), static_cast<long long>(kT)) << ids[k];
        if (k > 0) {
            EXPECT_EQ(UlidRandom(ids[k]), Plus1(UlidRandom(ids[k - 1]))) << ids[k - 1] << " then " << ids[k];
            EXPECT_LT(ids[k - 1], ids[k]);
        }
    }
    EXPECT_LT(UlidRandom(ids[0]).hi, 1u << 15) << "the first id of a millisecond leaves room to count up";
}

TEST_F(Ids, UlidsFollowTheClockForwardButNeverGoBack)
{
    FakeIdClock clock(kT);
    JRes a = CreateUser("a@x.io");
    clock.Set(kT + 1);
    JRes b = CreateUser("b@x.io");
    clock.Set(kT - 1000);  // the clock is set back a second
    JRes c = CreateUser("c@x.io");
    KT_ASSERT_OK(a);
    KT_ASSERT_OK(b);
    KT_ASSERT_OK(c);
    std::string ia = a.str("id"), ib = b.str("id"), ic = c.str("id");
    EXPECT_EQ(UlidMs(ia), static_cast<long long>(kT));
    EXPECT_EQ(UlidMs(ib), static_cast<long long>(kT + 1)) << "a new millisecond is the clock's";
    EXPECT_EQ(UlidMs(ic), static_cast<long long>(kT + 1)) << "the time never goes back";
    EXPECT_EQ(UlidRandom(ic), Plus1(UlidRandom(ib))) << "it counts up from the last id instead";
    EXPECT_LT(ia, ib);
    EXPECT_LT(ib, ic);
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
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes r = Run("Slot", "create", R"({"data":{"tenant":"t","slug":"s"}})");
    KT_ASSERT_OK(r);
    EXPECT_TRUE(IsUlid(r.str("id"))) << r.text;
    EXPECT_EQ(raw_.ZRangeWithScores("app:{Slot}:ids"), IdMembers({IdEntry(r.str("id"))}));
}

// ---- uuidv7 ----------------------------------------------------------------------------------------------------

TEST_F(Ids, Uuidv7IdsAreVersion7UuidTextWithTheCurrentTime)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    long long before = NowMs();
    JRes r = Run("Event", "create", R"({"data":{"name":"boot"}})");
    long long after = NowMs();
    KT_ASSERT_OK(r);
    std::string id = r.str("id");
    EXPECT_TRUE(IsUuidV7(id)) << id;
    EXPECT_GE(UuidV7Ms(id), before - kClockWindowMs) << id;
    EXPECT_LE(UuidV7Ms(id), after + kClockWindowMs) << id;
    EXPECT_TRUE(raw_.Exists("app:{Event}:r:" + id));
}

TEST_F(Ids, AUuidv7StartsWithTheMillisecondOfTheClockExactly)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    FakeIdClock clock(kT);
    JRes r = Run("Event", "create", R"({"data":{"name":"boot"}})");
    KT_ASSERT_OK(r);
    std::string id = r.str("id");
    ASSERT_TRUE(IsUuidV7(id)) << id;
    EXPECT_EQ(UuidV7Ms(id), static_cast<long long>(kT)) << id;
    EXPECT_EQ(id.substr(0, 13), "018bcfe5-687b") << "1700000000123 is 0x018bcfe5687b";
    EXPECT_TRUE(raw_.Exists("app:{Event}:r:" + id));
}

TEST_F(Ids, Uuidv7sOfOneMillisecondCountUpByOne)
{
    FakeIdClock clock(kT);
    std::vector<std::string> ids;
    for (int k = 0; k < 20; k++) {
        JRes r = Run("Event", "create", R"({"data":{}})");
        KT_ASSERT_OK(r);
        ids.push_back(r.str("id"));
    }
    for (size_t k = 0; k < ids.size(); k++) {
        ASSERT_TRUE(IsUuidV7(ids[k])) << ids[k];
        EXPECT_EQ(UuidV7Ms(ids[k]), static_cast<long long>(kT)) << ids[k];
        if (k > 0) {
            EXPECT_EQ(UuidV7Counter(ids[k]), Plus1(UuidV7Counter(ids[k - 1]))) << ids[k - 1] << " then " << ids[k];
            EXPECT_LT(ids[k - 1], ids[k]);
        }
    }
    EXPECT_LT(UuidV7Counter(ids[0]).hi, 1u << 9) << "the first id of a millisecond leaves room to count up";
}

TEST_F(Ids, Uuidv7sFollowTheClockForwardButNeverGoBack)
{
    FakeIdClock clock(kT);
    JRes a = Run("Event", "create", R"({"data":{}})");
    clock.Set(kT + 1);
    JRes b = Run("Event", "create", R"({"data":{}})");
    clock.Set(kT - 1000);
    JRes c = Run("Event", "create", R"({"data":{}})");
    KT_ASSERT_OK(a);
    KT_ASSERT_OK(b);
    KT_ASSERT_OK(c);
    std::string ia = a.str("id"), ib = b.str("id"), ic = c.str("id");
    EXPECT_EQ(UuidV7Ms(ia), static_cast<long long>(kT));
    EXPECT_EQ(UuidV7Ms(ib), static_cast<long long>(kT + 1));
    EXPECT_EQ(UuidV7Ms(ic), static_cast<long long>(kT + 1));
    EXPECT_EQ(UuidV7Counter(ic), Plus1(UuidV7Counter(ib)));
    EXPECT_LT(ia, ib);
    EXPECT_LT(ib, ic);
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
    KT_REDIS_ONLY("reads raw Redis keys");
    for (int k = 1; k <= 3; k++) {
        JRes r = Run("Counter", "create", R"({"data":{"name":"c"}})");
        KT_ASSERT_OK(r);
        ASSERT_TRUE(r.at("id") && json_is_integer(r.at("id"))) << "integer ids are numbers: " << r.text;
        EXPECT_EQ(r.integer("id"), k);
        EXPECT_TRUE(raw_.Exists("app:{Counter}:r:" + std::to_string(k)));
    }
    EXPECT_EQ(raw_.Get("app:{Counter}:seq").value_or(""), "3");
    // format 2: integer ids are 8-byte key elements, in numeric order by bytes, every score 0
    EXPECT_EQ(raw_.ZRangeWithScores("app:{Counter}:ids"), IdMembers({IdEntryInt(1), IdEntryInt(2), IdEntryInt(3)}));
}

TEST_F(Ids, AnExplicitIntegerIdMovesTheCounterPastIt)
{
    KT_REDIS_ONLY("reads raw Redis keys");
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
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes r = Run("User", "create", R"({"data":{"id":"imported-1","email":"a@x.io","orgId":"o"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("id"), "imported-1");
    EXPECT_TRUE(raw_.Exists("app:{User}:r:imported-1"));
}

// ---- manual ids ------------------------------------------------------------------------------------------------

TEST_F(Ids, AManualStringIdIsRequiredOnCreate)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes r = Run("Item", "create", R"({"data":{"label":"x"}})");
    KT_ASSERT_CODE(r, KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(r.fields(), std::vector<std::string>{"id"}) << r.text;
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Ids, AManualStringIdIsStoredAsGiven)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes r = Run("Item", "create", R"({"data":{"id":"sku-42","label":"x"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("id"), "sku-42");
    EXPECT_TRUE(raw_.Exists("app:{Item}:r:sku-42"));
    EXPECT_EQ(raw_.ZRangeWithScores("app:{Item}:ids"), IdMembers({IdEntry("sku-42")}));
}

TEST_F(Ids, AnEmptyStringIdIsValidation)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_CODE(Run("Item", "create", R"({"data":{"id":""}})"), KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Ids, AStringIdOf512BytesIsAcceptedAnd513IsValidation)
{
    KT_REDIS_ONLY("reads raw Redis keys");
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
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes neg = Run("Num", "create", R"({"data":{"id":-12,"n":1}})");
    KT_ASSERT_OK(neg);
    EXPECT_EQ(neg.integer("id"), -12);
    JRes big = Run("Num", "create", R"({"data":{"id":9223372036854775807}})");
    KT_ASSERT_OK(big);
    EXPECT_TRUE(raw_.Exists("app:{Num}:r:-12"));
    EXPECT_TRUE(raw_.Exists("app:{Num}:r:9223372036854775807"));
    auto z = raw_.ZRangeWithScores("app:{Num}:ids");
    ASSERT_EQ(z.size(), 2u);
    // exact order beyond 2^53, which a double score could not keep
    EXPECT_EQ(z, IdMembers({IdEntryInt(-12), IdEntryInt(INT64_MAX)}));
    JRes f = Run("Num", "findUnique", R"({"where":{"id":-12}})");
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.integer("n"), 1);
}

TEST_F(Ids, AManualIntegerIdGivenAsAStringIsValidation)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_CODE(Run("Num", "create", R"({"data":{"id":"5"}})"), KVORM_EVALIDATION, "VALIDATION");
    KT_ASSERT_CODE(Run("Num", "create", R"({"data":{"id":1.5}})"), KVORM_EVALIDATION, "VALIDATION");
    KT_ASSERT_CODE(Run("Num", "create", R"({"data":{}})"), KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

// ---- binary-safe ids -------------------------------------------------------------------------------------------

class BinarySafeIds : public AppTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(BinarySafeIds, AreKeyedExactlyAfterThePrefixAndReadBack)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    const std::string id = GetParam();
    JRes c = Run("Item", "create", "{\"data\":{\"id\":" + JStr(id) + ",\"label\":\"v\"}}");
    KT_ASSERT_OK(c);
    EXPECT_EQ(c.str("id"), id);
    const std::string key = "app:{Item}:r:" + id;
    EXPECT_EQ(raw_.Keys(), (std::vector<std::string>{"app:$schema", "app:{Item}:ids", key}));
    EXPECT_EQ(raw_.HGet(key, "label").value_or(""), MpStr("v"));
    EXPECT_EQ(raw_.ZRangeWithScores("app:{Item}:ids"), IdMembers({IdEntry(id)}));
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
    KT_REDIS_ONLY("reads raw Redis keys");
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
    KT_REDIS_ONLY("reads raw Redis keys");
    MRes r = Exec(db_, MReq("Item", "create", mp::map({{"data", mp::map({{"id", mp::str("\xff\xfe")}})}})));
    EXPECT_EQ(r.rc, KVORM_EVALIDATION) << r.doc;
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

}  // namespace
}  // namespace kt
