// Field values (docs/format.md, docs/protocol.md#values): the test vectors of tests/vectors/values.json through
// kvorm_exec_json, and the MessagePack forms (timestamps, bin, float32, non-canonical input) through kvorm_exec.
#include <cmath>
#include <limits>

#include "test_util.h"

extern "C" {
#include "json_bridge.h"
}

namespace kt {
namespace {

std::string VectorSchema(const json_t *enum_values)
{
    return R"({"namespace":"vec","models":{"V":{"id":{"type":"integer"},"fields":{)"
           R"("string":{"type":"string","optional":true},)"
           R"("integer":{"type":"integer","optional":true},)"
           R"("float":{"type":"float","optional":true},)"
           R"("boolean":{"type":"boolean","optional":true},)"
           R"("datetime":{"type":"datetime","optional":true},)"
           R"("decimal":{"type":"decimal","optional":true},)"
           R"("enum":{"type":"enum","optional":true,"values":)" +
           DumpJson(enum_values) +
           R"(},)"
           R"("json":{"type":"json","optional":true},)"
           R"("bytes":{"type":"bytes","optional":true}}}}})";
}

class Values : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        json_error_t e;
        std::string path = std::string(KVORM_TEST_VECTORS_DIR) + "/values.json";
        vectors_ = JsonPtr(json_load_file(path.c_str(), JSON_ALLOW_NUL, &e), JsonDeleter());
        ASSERT_TRUE(vectors_) << path << ":" << e.line << ": " << e.text;
        db_ = Open(VectorSchema(json_object_get(vectors_.get(), "enumValues")));
        ASSERT_NE(db_, nullptr);
    }

    const json_t *Section(const char *name) const { return json_object_get(vectors_.get(), name); }

    static std::string Describe(const json_t *v)
    {
        std::string s = DumpJson(json_object_get(v, "input"));
        if (s.size() > 80)
            s = s.substr(0, 80) + "...";
        const json_t *note = json_object_get(v, "note");
        return std::string(json_string_value(json_object_get(v, "type"))) + " " + s +
               (note ? std::string(" (") + json_string_value(note) + ")" : "");
    }

    JRes CreateV(long long id, const std::string &field, const json_t *value)
    {
        return ExecJson(db_, Req("V", "create", "{\"data\":{\"id\":" + std::to_string(id) + "," + JStr(field) + ":" +
                                                    DumpJson(value) + "}}"));
    }

    MRes CreateM(long long id, const std::string &field, const mp::V &value)
    {
        return Exec(db_, MReq("V", "create", mp::map({{"data", mp::map({{"id", mp::i(id)}, {field, value}})}})));
    }

    mp::V FindM(long long id, const std::string &field)
    {
        MRes r = Exec(db_, MReq("V", "findUnique", mp::map({{"where", mp::map({{"id", mp::i(id)}})}})));
        EXPECT_EQ(r.rc, KVORM_OK) << r.doc;
        EXPECT_TRUE(r.parsed);
        return r.doc[field];
    }

    // Creates V id with field set to JSON text (numbers jansson cannot hold, for one).
    JRes CreateText(long long id, const std::string &field, const std::string &json_value)
    {
        return ExecJson(db_, Req("V", "create", "{\"data\":{\"id\":" + std::to_string(id) + "," + JStr(field) + ":" +
                                                    json_value + "}}"));
    }

    std::string Stored(long long id, const std::string &field)
    {
        return Hex(raw_.HGet("vec:{V}:r:" + std::to_string(id), field).value_or("<absent>"));
    }

    JsonPtr vectors_;
    kvorm_db *db_ = nullptr;
};

// ---- the vectors -----------------------------------------------------------------------------------------------

TEST_F(Values, VectorsFileCoversEveryType)
{
    std::set<std::string> types;
    const json_t *vals = Section("values");
    ASSERT_TRUE(json_is_array(vals));
    for (size_t k = 0; k < json_array_size(vals); k++)
        types.insert(json_string_value(json_object_get(json_array_get(vals, k), "type")));
    EXPECT_EQ(types, (std::set<std::string>{"string", "integer", "float", "boolean", "datetime", "decimal", "enum",
                                            "json", "bytes"}));
    EXPECT_GE(json_array_size(Section("invalid")), 40u);
}

TEST_F(Values, EveryVectorIsStoredAsItsDocumentedBytes)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    const json_t *vals = Section("values");
    for (size_t k = 0; k < json_array_size(vals); k++) {
        const json_t *v = json_array_get(vals, k);
        std::string type = json_string_value(json_object_get(v, "type"));
        JRes r = CreateV(static_cast<long long>(k) + 1, type, json_object_get(v, "input"));
        EXPECT_EQ(r.rc, KVORM_OK) << Describe(v) << "\n" << r.text;
        if (r.rc != KVORM_OK)
            continue;
        std::string want = json_string_value(json_object_get(v, "stored_hex"));
        std::string got = Stored(static_cast<long long>(k) + 1, type);
        EXPECT_EQ(got, want) << Describe(v);
    }
}

TEST_F(Values, EveryVectorReadsBackAsItsJsonValue)
{
    const json_t *vals = Section("values");
    for (size_t k = 0; k < json_array_size(vals); k++) {
        const json_t *v = json_array_get(vals, k);
        std::string type = json_string_value(json_object_get(v, "type"));
        long long id = static_cast<long long>(k) + 1;
        JRes c = CreateV(id, type, json_object_get(v, "input"));
        EXPECT_EQ(c.rc, KVORM_OK) << Describe(v) << "\n" << c.text;
        if (c.rc != KVORM_OK)
            continue;
        const json_t *want = json_object_get(v, "output");
        if (!want)
            want = json_object_get(v, "input");
        // the create result and a later read give the same value
        EXPECT_TRUE(json_equal(c.at(type.c_str()), want))
            << Describe(v) << "\ncreate returned " << DumpJson(c.at(type.c_str())) << "\nexpected " << DumpJson(want);
        JRes f = ExecJson(db_, Req("V", "findUnique", "{\"where\":{\"id\":" + std::to_string(id) + "}}"));
        EXPECT_EQ(f.rc, KVORM_OK) << f.text;
        EXPECT_TRUE(json_equal(f.at(type.c_str()), want))
            << Describe(v) << "\nread " << DumpJson(f.at(type.c_str())) << "\nexpected " << DumpJson(want);
    }
}

TEST_F(Values, EveryInvalidVectorIsRejectedAndNamesItsField)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    const json_t *bad = Section("invalid");
    for (size_t k = 0; k < json_array_size(bad); k++) {
        const json_t *v = json_array_get(bad, k);
        std::string type = json_string_value(json_object_get(v, "type"));
        std::string code = json_string_value(json_object_get(v, "code"));
        JRes r = CreateV(static_cast<long long>(k) + 1, type, json_object_get(v, "input"));
        EXPECT_EQ(std::string(kvorm_error_name(r.rc)), code) << Describe(v) << "\n" << r.text;
        EXPECT_EQ(r.str("code"), code) << Describe(v) << "\n" << r.text;
        EXPECT_EQ(r.str("model"), "V") << Describe(v) << "\n" << r.text;
        EXPECT_EQ(r.fields(), std::vector<std::string>{type}) << Describe(v) << "\n" << r.text;
    }
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"vec:$schema"});
}

TEST_F(Values, NullIsNotStored)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes r = ExecJson(db_, Req("V", "create", R"({"data":{"id":1,"string":null,"json":null,"bytes":null}})"));
    KT_ASSERT_OK(r);
    EXPECT_EQ(raw_.HGetAll("vec:{V}:r:1"), (std::map<std::string, std::string>{{"$v", "1"}}));
    EXPECT_TRUE(r.is_null("json")) << r.text;
}

TEST_F(Values, JsonOutputListsMapKeysSorted)
{
    KT_ASSERT_OK(ExecJson(db_, Req("V", "create", R"({"data":{"id":1,"json":{"b":1,"c":{"z":0,"y":1},"a":2}}})")));
    JRes f = ExecJson(db_, Req("V", "findUnique", R"({"where":{"id":1},"select":{"json":true}})"));
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.text, R"({"json":{"a":2,"b":1,"c":{"y":1,"z":0}}})");
}

TEST_F(Values, ADatetimeIsOutputInUtcWithNineFractionDigits)
{
    KT_ASSERT_OK(ExecJson(db_, Req("V", "create", R"({"data":{"id":1,"datetime":"2024-05-06T09:08:09.25+02:00"}})")));
    JRes f = ExecJson(db_, Req("V", "findUnique", R"({"where":{"id":1},"select":{"datetime":true}})"));
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.text, R"({"datetime":"2024-05-06T07:08:09.250000000Z"})");
}

// ---- MessagePack values ----------------------------------------------------------------------------------------

TEST_F(Values, EveryTypeRoundTripsThroughMessagePack)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    const long long year1 = UnixSeconds(1, 1, 1);
    std::string all_bytes;
    for (int k = 0; k < 256; k++)
        all_bytes += static_cast<char>(k);
    mp::V data = mp::map({{"id", mp::i(1)},
                          {"string", mp::str("h\xc3\xa9llo")},
                          {"integer", mp::i(std::numeric_limits<int64_t>::min())},
                          {"float", mp::f64(-0.0)},
                          {"boolean", mp::boolean(true)},
                          {"datetime", mp::ext(-1, TsPayload(year1, 7))},
                          {"decimal", mp::str("001.50")},
                          {"enum", mp::str("blue")},
                          {"json", mp::map({{"z", mp::arr({mp::nil(), mp::f64(1.5), mp::i(-1)})},
                                            {"a", mp::map({{"y", mp::boolean(false)}, {"x", mp::str("s")}})}})},
                          {"bytes", mp::bin(all_bytes)}});
    MRes c = Exec(db_, MReq("V", "create", mp::map({{"data", data}})));
    ASSERT_EQ(c.rc, KVORM_OK) << c.doc;
    mp::V want = mp::map({{"id", mp::i(1)},
                          {"string", mp::str("h\xc3\xa9llo")},
                          {"integer", mp::i(std::numeric_limits<int64_t>::min())},
                          {"float", mp::f64(-0.0)},
                          {"boolean", mp::boolean(true)},
                          {"datetime", mp::ext(-1, TsPayload(year1, 7))},
                          {"decimal", mp::ext(1, "1.5")},  // KV_EXT_DECIMAL: the normalized text
                          {"enum", mp::str("blue")},
                          {"json", mp::map({{"a", mp::map({{"x", mp::str("s")}, {"y", mp::boolean(false)}})},
                                            {"z", mp::arr({mp::nil(), mp::f64(1.5), mp::i(-1)})}})},
                          {"bytes", mp::bin(all_bytes)}});
    for (const auto &kv : want.map)
        EXPECT_EQ(c.doc[kv.first.s], kv.second) << "create result, field " << kv.first.s;
    MRes f = Exec(db_, MReq("V", "findUnique", mp::map({{"where", mp::map({{"id", mp::i(1)}})}})));
    ASSERT_EQ(f.rc, KVORM_OK) << f.doc;
    for (const auto &kv : want.map)
        EXPECT_EQ(f.doc[kv.first.s], kv.second) << "read back, field " << kv.first.s;
    EXPECT_EQ(Stored(1, "datetime"), Hex(TsObject(year1, 7)));
    EXPECT_EQ(Stored(1, "bytes"), "c50100" + Hex(all_bytes));
}

struct TsCase {
    const char *name;
    std::string payload;  // as sent
    long long sec;
    unsigned ns;
};

std::string BE(uint64_t v, int n)
{
    std::string out;
    for (int k = n - 1; k >= 0; k--)
        out += static_cast<char>((v >> (8 * k)) & 0xff);
    return out;
}

TEST_F(Values, TimestampInputIsStoredInItsShortestForm)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    const TsCase cases[] = {
        {"timestamp64 holding whole seconds", BE(1, 8), 1, 0},
        {"timestamp96 holding the epoch", BE(0, 4) + BE(0, 8), 0, 0},
        {"timestamp96 holding 2024 with ns", BE(5, 4) + BE(1704067200, 8), 1704067200, 5},
        {"timestamp96 holding 2^33 s", BE(0, 4) + BE(1ull << 33, 8), 1LL << 33, 0},
        {"timestamp32", BE(1704067200, 4), 1704067200, 0},
        {"timestamp64 with ns", BE((123ull << 34) | 1704067200ull, 8), 1704067200, 123},
        {"timestamp96 before 1970", BE(999999999, 4) + BE(static_cast<uint64_t>(-1LL), 8), -1, 999999999},
    };
    long long id = 1;
    for (const auto &c : cases) {
        MRes r = CreateM(id, "datetime", mp::ext(-1, c.payload));
        EXPECT_EQ(r.rc, KVORM_OK) << c.name << ": " << r.doc;
        EXPECT_EQ(Stored(id, "datetime"), Hex(TsObject(c.sec, c.ns))) << c.name;
        EXPECT_EQ(FindM(id, "datetime"), mp::ext(-1, TsPayload(c.sec, c.ns))) << c.name;
        id++;
    }
}

TEST_F(Values, MalformedTimestampsAreValidation)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    const std::pair<const char *, mp::V> cases[] = {
        {"5-byte payload", mp::ext(-1, std::string(5, '\0'))},
        {"empty payload", mp::ext(-1, "")},
        {"timestamp64 with 10^9 ns", mp::ext(-1, BE((1000000000ull << 34) | 1ull, 8))},
        {"timestamp96 with 10^9 ns", mp::ext(-1, BE(1000000000, 4) + BE(1, 8))},
        {"year 10000", mp::ext(-1, BE(0, 4) + BE(static_cast<uint64_t>(UnixSeconds(10000, 1, 1)), 8))},
        {"year 0", mp::ext(-1, BE(0, 4) + BE(static_cast<uint64_t>(UnixSeconds(1, 1, 1) - 1), 8))},
        {"another ext type", mp::ext(5, BE(1, 4))},
        {"an integer", mp::i(1704067200)},
        {"a float", mp::f64(1.5)},
        {"bin", mp::bin(BE(1, 4))},
    };
    long long id = 1;
    for (const auto &c : cases) {
        MRes r = CreateM(id++, "datetime", c.second);
        EXPECT_EQ(r.rc, KVORM_EVALIDATION) << c.first << ": " << r.doc;
        EXPECT_EQ(r.doc["code"], mp::str("VALIDATION")) << c.first;
        EXPECT_EQ(r.doc["fields"], mp::arr({mp::str("datetime")})) << c.first;
    }
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"vec:$schema"});
}

TEST_F(Values, AnRfc3339StringIsAcceptedForADatetimeInMessagePack)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    MRes r = CreateM(1, "datetime", mp::str("2024-01-01T02:00:00+02:00"));
    ASSERT_EQ(r.rc, KVORM_OK) << r.doc;
    EXPECT_EQ(Stored(1, "datetime"), "d6ff" + Hex(BE(1704067200, 4)));
    EXPECT_EQ(r.doc["datetime"], mp::ext(-1, BE(1704067200, 4))) << "MessagePack responses carry timestamps";
}

TEST_F(Values, BytesAreBinInMessagePackAndAStringIsValidation)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    MRes ok = CreateM(1, "bytes", mp::bin(std::string("\x00\x01\xff", 3)));
    ASSERT_EQ(ok.rc, KVORM_OK) << ok.doc;
    EXPECT_EQ(Stored(1, "bytes"), "c4030001ff");
    EXPECT_EQ(FindM(1, "bytes"), mp::bin(std::string("\x00\x01\xff", 3)));
    MRes bad = CreateM(2, "bytes", mp::str("AAH/"));
    EXPECT_EQ(bad.rc, KVORM_EVALIDATION) << "base64 text is for the JSON entry point only: " << bad.doc;
}

TEST_F(Values, BytesAreBase64InJsonResponses)
{
    MRes ok = CreateM(1, "bytes", mp::bin(std::string("\x00\x01\xff", 3)));
    ASSERT_EQ(ok.rc, KVORM_OK) << ok.doc;
    JRes f = ExecJson(db_, Req("V", "findUnique", R"({"where":{"id":1},"select":{"bytes":true}})"));
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.text, R"({"bytes":"AAH/"})");
}

TEST_F(Values, AFloat32IsStoredAsFloat64)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    MRes r = CreateM(1, "float", mp::f32(1.5f));
    ASSERT_EQ(r.rc, KVORM_OK) << r.doc;
    EXPECT_EQ(Stored(1, "float"), "cb3ff8000000000000");
    EXPECT_EQ(FindM(1, "float"), mp::f64(1.5));
}

TEST_F(Values, AnExactlyRepresentableIntegerIsAcceptedForAFloat)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    ASSERT_EQ(CreateM(1, "float", mp::i(3)).rc, KVORM_OK);
    EXPECT_EQ(Stored(1, "float"), "cb4008000000000000");
    ASSERT_EQ(CreateM(2, "float", mp::i(-(1LL << 53))).rc, KVORM_OK);
    EXPECT_EQ(Stored(2, "float"), "cbc340000000000000");
    EXPECT_EQ(CreateM(3, "float", mp::i((1LL << 53) + 1)).rc, KVORM_EVALIDATION);
    EXPECT_EQ(CreateM(4, "float", mp::u(std::numeric_limits<uint64_t>::max())).rc, KVORM_EVALIDATION);
}

TEST_F(Values, NanAndInfinitiesAreValidation)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    const std::pair<const char *, mp::V> cases[] = {
        {"NaN", mp::f64(nan)},
        {"+inf", mp::f64(inf)},
        {"-inf", mp::f64(-inf)},
        {"float32 NaN", mp::f32(std::numeric_limits<float>::quiet_NaN())},
        {"float32 +inf", mp::f32(std::numeric_limits<float>::infinity())},
    };
    long long id = 1;
    for (const auto &c : cases) {
        MRes r = CreateM(id++, "float", c.second);
        EXPECT_EQ(r.rc, KVORM_EVALIDATION) << c.first << ": " << r.doc;
        EXPECT_EQ(r.doc["fields"], mp::arr({mp::str("float")})) << c.first;
        MRes j = CreateM(id++, "json", mp::map({{"x", c.second}}));
        EXPECT_EQ(j.rc, KVORM_EVALIDATION) << "json holding " << c.first << ": " << j.doc;
    }
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"vec:$schema"});
}

TEST_F(Values, IntegersOutsideInt64AreValidation)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    MRes a = CreateM(1, "integer", mp::u(1ull << 63));
    EXPECT_EQ(a.rc, KVORM_EVALIDATION) << a.doc;
    MRes b = CreateM(2, "integer", mp::u(std::numeric_limits<uint64_t>::max()));
    EXPECT_EQ(b.rc, KVORM_EVALIDATION) << b.doc;
    MRes c = CreateM(3, "integer", mp::u((1ull << 63) - 1));
    EXPECT_EQ(c.rc, KVORM_OK) << c.doc;
    EXPECT_EQ(Stored(3, "integer"), "cf7fffffffffffffff");
}

TEST_F(Values, NonCanonicalInputIsStoredCanonically)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    struct Case {
        const char *name;
        const char *field;
        std::string sent;
        std::string stored_hex;
    };
    const Case cases[] = {
        {"5 as int64", "integer", Unhex("d30000000000000005"), "05"},
        {"5 as uint16", "integer", Unhex("cd0005"), "05"},
        {"5 as int8", "integer", Unhex("d005"), "05"},
        {"255 as uint64", "integer", Unhex("cf00000000000000ff"), "ccff"},
        {"-1 as int64", "integer", Unhex("d3ffffffffffffffff"), "ff"},
        {"-128 as int16", "integer", Unhex("d1ff80"), "d080"},
        {"200 as int16", "integer", Unhex("d100c8"), "ccc8"},
        {"str8 of 3 bytes", "string", Unhex("d903616263"), "a3616263"},
        {"str32 of 1 byte", "string", Unhex("db0000000178"), "a178"},
        {"str16 of 40 bytes", "string", Unhex("da0028") + std::string(40, 'q'), "d928" + Hex(std::string(40, 'q'))},
        {"bin16 of 2 bytes", "bytes", Unhex("c500020102"), "c4020102"},
        {"bin32 of 0 bytes", "bytes", Unhex("c600000000"), "c400"},
        {"decimal as str8", "decimal", Unhex("d904312e3530"), "a3312e35"},
        {"json int as int64", "json", Unhex("d30000000000000007"), "07"},
        {"json float32", "json", Unhex("ca3f000000"), "cb3fe0000000000000"},
        {"json map16 unsorted", "json", Unhex("de0002a162c3a161c2"), "82a161c2a162c3"},
        {"json array32", "json", Unhex("dd0000000101"), "9101"},
    };
    long long id = 1;
    for (const auto &c : cases) {
        MRes r = CreateM(id, c.field, mp::raw(c.sent));
        EXPECT_EQ(r.rc, KVORM_OK) << c.name << ": " << r.doc;
        EXPECT_EQ(Stored(id, c.field), c.stored_hex) << c.name;
        id++;
    }
}

TEST_F(Values, StringsThatAreNotUtf8AreValidation)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    const std::pair<const char *, std::string> cases[] = {
        {"lone continuation byte", "\x80"},
        {"truncated sequence", "\xc3"},
        {"bad continuation", "\xc3\x28"},
        {"overlong slash", "\xc0\xaf"},
        {"overlong NUL", "\xe0\x80\x80"},
        {"UTF-16 surrogate", "\xed\xa0\x80"},
        {"beyond U+10FFFF", "\xf4\x90\x80\x80"},
        {"0xff byte", "a\xff"},
    };
    long long id = 1;
    for (const auto &c : cases) {
        MRes r = CreateM(id++, "string", mp::str(c.second));
        EXPECT_EQ(r.rc, KVORM_EVALIDATION) << c.first << ": " << r.doc;
        MRes j = CreateM(id++, "json", mp::arr({mp::str(c.second)}));
        EXPECT_EQ(j.rc, KVORM_EVALIDATION) << "json string, " << c.first << ": " << j.doc;
        MRes k = CreateM(id++, "json", mp::map({{mp::str(c.second), mp::i(1)}}));
        EXPECT_EQ(k.rc, KVORM_EVALIDATION) << "json key, " << c.first << ": " << k.doc;
    }
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"vec:$schema"});
}

TEST_F(Values, JsonValuesHoldNoBinExtNonStringKeysOrDuplicateKeys)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    const std::pair<const char *, mp::V> cases[] = {
        {"bin", mp::bin("x")},
        {"nested bin", mp::arr({mp::bin("x")})},
        {"timestamp", mp::ext(-1, BE(1, 4))},
        {"other ext", mp::map({{"a", mp::ext(3, "xy")}})},
        {"integer key", mp::map({{mp::i(1), mp::str("a")}})},
        {"nil key", mp::map({{mp::nil(), mp::str("a")}})},
        {"duplicate key", mp::map({{"a", mp::i(1)}, {"a", mp::i(2)}})},
    };
    long long id = 1;
    for (const auto &c : cases) {
        MRes r = CreateM(id++, "json", c.second);
        EXPECT_EQ(r.rc, KVORM_EVALIDATION) << c.first << ": " << r.doc;
        EXPECT_EQ(r.doc["fields"], mp::arr({mp::str("json")})) << c.first;
    }
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"vec:$schema"});
}

TEST_F(Values, ADecimalAcceptsAnIntegerButNotAFloat)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    MRes a = CreateM(1, "decimal", mp::i(-42));
    ASSERT_EQ(a.rc, KVORM_OK) << a.doc;
    EXPECT_EQ(Stored(1, "decimal"), Hex(MpStr("-42")));
    EXPECT_EQ(FindM(1, "decimal"), mp::ext(1, "-42"));
    MRes b = CreateM(2, "decimal", mp::f64(1.5));
    EXPECT_EQ(b.rc, KVORM_EVALIDATION) << b.doc;
}

TEST_F(Values, ABooleanIsOnlyABoolean)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    EXPECT_EQ(CreateM(1, "boolean", mp::i(1)).rc, KVORM_EVALIDATION);
    EXPECT_EQ(CreateM(2, "boolean", mp::nil()).rc, KVORM_OK);  // null: not stored
    EXPECT_EQ(CreateM(3, "boolean", mp::boolean(false)).rc, KVORM_OK);
    EXPECT_EQ(Stored(3, "boolean"), "c2");
    EXPECT_EQ(Stored(2, "boolean"), Hex("<absent>"));
}

TEST_F(Values, AValueOver16MiBIsValidationAndNothingIsWritten)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    std::string big((17u << 20), 'b');
    MRes r = CreateM(1, "bytes", mp::bin(big));
    EXPECT_EQ(r.rc, KVORM_EVALIDATION) << r.doc;
    EXPECT_EQ(r.doc["fields"], mp::arr({mp::str("bytes")}));
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"vec:$schema"});
}

TEST_F(Values, AFourMiBValueRoundTrips)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    std::string big;
    big.reserve(4u << 20);
    for (size_t k = 0; k < (4u << 20); k++)
        big += static_cast<char>((k * 131) & 0xff);
    MRes r = CreateM(1, "bytes", mp::bin(big));
    ASSERT_EQ(r.rc, KVORM_OK) << r.doc;
    EXPECT_EQ(raw_.HGet("vec:{V}:r:1", "bytes").value_or(""), MpBin(big));
    EXPECT_EQ(FindM(1, "bytes"), mp::bin(big));
}

TEST_F(Values, AnEnumTakesOnlyItsDeclaredValues)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    EXPECT_EQ(CreateM(1, "enum", mp::str("green")).rc, KVORM_OK);
    EXPECT_EQ(Stored(1, "enum"), Hex(MpStr("green")));
    MRes bad = CreateM(2, "enum", mp::str("greenish"));
    EXPECT_EQ(bad.rc, KVORM_EVALIDATION) << bad.doc;
    std::string msg = bad.doc["message"].s;
    EXPECT_NE(msg.find("greenish"), std::string::npos) << "the message names the value: " << msg;
}

TEST_F(Values, ValidationMessagesNameModelFieldAndValue)
{
    std::string req = mp::pack(
        MReq("V", "create", mp::map({{"data", mp::map({{"id", mp::i(1)}, {"integer", mp::str("seven")}})}})));
    unsigned char *out = nullptr;
    size_t len = 0;
    int rc = kvorm_exec(&out, &len, db_, req.data(), req.size());
    // read the thread-local error before any other kvorm call
    int last_code = kvorm_last_error_code();
    std::string last_msg = kvorm_last_error_message();
    ASSERT_NE(out, nullptr);
    mp::V doc;
    bool parsed = mp::unpack(std::string(reinterpret_cast<char *>(out), len), &doc);
    kvorm_free(out);
    ASSERT_EQ(rc, KVORM_EVALIDATION);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(last_code, KVORM_EVALIDATION);
    std::string msg = doc["message"].s;
    EXPECT_EQ(last_msg, msg);
    EXPECT_NE(msg.find("V"), std::string::npos) << msg;
    EXPECT_NE(msg.find("integer"), std::string::npos) << msg;
    EXPECT_NE(msg.find("seven"), std::string::npos) << msg;
    EXPECT_EQ(doc["model"], mp::str("V"));
    EXPECT_EQ(doc["fields"], mp::arr({mp::str("integer")}));
}

// ---- JSON numbers beyond what MessagePack holds ----------------------------------------------------------------

TEST_F(Values, JsonNumbersBeyondInt64AreValidationNamingModelFieldAndValue)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    struct Case {
        const char *field, *number, *says;
    };
    const Case cases[] = {
        {"integer", "9223372036854775808", "V.integer: 9223372036854775808 is out of the int64 range"},
        {"integer", "18446744073709551615", "V.integer: 18446744073709551615 is out of the int64 range"},
        {"integer", "18446744073709551616", "V.integer: 18446744073709551616 is out of the int64 range"},
        {"integer", "-9223372036854775809", "V.integer: -9223372036854775809 is out of the int64 range"},
        {"integer", "1e400", "V.integer: 1e400 is out of the int64 range"},
        {"float", "1e400", "V.float: 1e400 is out of the float64 range"},
        {"float", "-1.5E+309", "V.float: -1.5E+309 is out of the float64 range"},
        {"float", "99999999999999999999999", "V.float: 99999999999999999999999 cannot be held exactly by a float"},
        {"decimal", "1e400", "V.decimal: a decimal must be given as a string or an integer, not a float 1e400"},
        {"json", "[1, 1e400]", "V.json: json holds the number 1e400, beyond the int64, uint64 and float64 ranges"},
        {"json", "{\"a\": -99999999999999999999}", "V.json: json holds the number -99999999999999999999, beyond"},
        {"string", "1e400", "V.string: expected string, got number 1e400"},
        {"id", "99999999999999999999", "V.id: 99999999999999999999 is out of the int64 range"},
    };
    long long id = 1;
    for (const auto &c : cases) {
        JRes r = std::string(c.field) == "id"
                     ? ExecJson(db_, Req("V", "create", std::string("{\"data\":{\"id\":") + c.number + "}}"))
                     : CreateText(id++, c.field, c.number);
        EXPECT_EQ(r.rc, KVORM_EVALIDATION) << c.field << " " << c.number << ": " << r.text;
        EXPECT_EQ(r.str("message").rfind(c.says, 0), 0u) << c.field << " " << c.number << ": " << r.text;
        EXPECT_EQ(r.fields(), std::vector<std::string>{c.field}) << r.text;
        EXPECT_EQ(r.str("model"), "V") << r.text;
    }
    JRes w = ExecJson(db_, Req("V", "findUnique", R"({"where":{"id":1e400}})"));
    EXPECT_EQ(w.rc, KVORM_EVALIDATION) << w.text;
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"vec:$schema"});
}

TEST_F(Values, ABigJsonIntegerIsExactDecimalText)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes r = CreateText(1, "decimal", "-123456789012345678901234567890");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Stored(1, "decimal"), Hex(MpStr("-123456789012345678901234567890")));
    EXPECT_EQ(r.str("decimal"), "-123456789012345678901234567890");
    KT_ASSERT_OK(CreateText(2, "decimal", "18446744073709551616"));
    EXPECT_EQ(Stored(2, "decimal"), Hex(MpStr("18446744073709551616")));
}

TEST_F(Values, AJsonFieldStoresAUint64AndReadsItBackThroughJson)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_OK(CreateText(1, "json", R"({"max":18446744073709551615,"min":-9223372036854775808,"n":[9223372036854775808]})"));
    EXPECT_EQ(Stored(1, "json"),
              "83a36d6178cfffffffffffffffffa36d696ed38000000000000000a16e91cf8000000000000000");
    // JSON -> store -> JSON -> store: what kvorm_exec_json writes, it reads back the same
    JRes f = ExecJson(db_, Req("V", "findUnique", R"({"where":{"id":1},"select":{"json":true}})"));
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.text, R"({"json":{"max":18446744073709551615,"min":-9223372036854775808,"n":[9223372036854775808]}})");
    std::string text = f.text.substr(8, f.text.size() - 9);
    KT_ASSERT_OK(CreateText(2, "json", text));
    EXPECT_EQ(Stored(2, "json"), Stored(1, "json"));
    JRes g = ExecJson(db_, Req("V", "findUnique", R"({"where":{"id":2},"select":{"json":true}})"));
    EXPECT_EQ(g.text, f.text);
}

TEST_F(Values, NumbersInsideStringsAndMarkerLookalikesAreLeftAlone)
{
    // a big number elsewhere in the document turns the rewriting on: strings, even ones that start with NULs,
    // stay strings
    KT_ASSERT_OK(CreateText(1, "json", R"(["1e400","\u00000","\u0000\u00001",18446744073709551615,"99999999999999999999"])"));
    mp::V got = FindM(1, "json");
    EXPECT_EQ(got, mp::arr({"1e400", std::string("\0" "0", 2), std::string("\0\0" "1", 3), mp::u(18446744073709551615ull),
                            "99999999999999999999"}))
        << got;
    KT_ASSERT_OK(CreateText(2, "string", R"("1e400")"));
    EXPECT_EQ(FindM(2, "string"), mp::str("1e400"));
}

TEST_F(Values, AJsonNumberThatIsMalformedIsStillBadRequest)
{
    for (const char *n : {"01", "1.", "-", "1e", "1e400x", "00000000000000000001"}) {
        JRes r = CreateText(1, "json", n);
        EXPECT_EQ(r.rc, KVORM_EBAD_REQUEST) << n << ": " << r.text;
    }
}

TEST_F(Values, ANulInAJsonMapKeyIsValidation)
{
    // JSON readers (jansson, which kvorm_exec_json uses) reject a NUL in an object key: never store one
    const mp::V cases[] = {
        mp::map({{std::string("a\0b", 3), mp::i(1)}}),
        mp::arr({mp::map({{"ok", mp::map({{std::string("\0", 1), mp::nil()}})}})}),
    };
    long long id = 1;
    for (const auto &v : cases) {
        MRes r = CreateM(id++, "json", v);
        EXPECT_EQ(r.rc, KVORM_EVALIDATION) << r.doc;
        EXPECT_EQ(r.doc["fields"], mp::arr({"json"})) << r.doc;
        EXPECT_NE(r.doc["message"].s.find("NUL"), std::string::npos) << r.doc;
    }
    MRes s = CreateM(id, "json", mp::map({{"k", mp::str(std::string("v\0", 2))}}));
    EXPECT_EQ(s.rc, KVORM_OK) << "a NUL in a json string value is fine: " << s.doc;
    EXPECT_FALSE(raw_.Exists("vec:{V}:r:1"));
    EXPECT_FALSE(raw_.Exists("vec:{V}:r:2"));
}

// ---- base64 ----------------------------------------------------------------------------------------------------

TEST_F(Values, Base64WithNonZeroPaddingBitsIsValidation)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_OK(CreateText(1, "bytes", R"("QQ==")"));
    EXPECT_EQ(Stored(1, "bytes"), Hex(MpBin("A")));
    KT_ASSERT_OK(CreateText(2, "bytes", R"("QUI=")"));
    EXPECT_EQ(Stored(2, "bytes"), Hex(MpBin("AB")));
    for (const char *text : {"QR==", "QZ==", "QUJ=", "QUL="}) {
        JRes r = CreateText(3, "bytes", std::string("\"") + text + "\"");
        EXPECT_EQ(r.rc, KVORM_EVALIDATION) << text << " decodes to the bytes of a canonical text: " << r.text;
        EXPECT_EQ(r.fields(), std::vector<std::string>{"bytes"});
    }
    EXPECT_FALSE(raw_.Exists("vec:{V}:r:3"));
}

// ---- empty values through kvorm_exec_json ----------------------------------------------------------------------

TEST_F(Values, AnEmptyStringReadsBackThroughJson)
{
    // msgpack-c gives an empty str a NULL pointer: the JSON writer must not do arithmetic on it
    KT_ASSERT_OK(CreateText(1, "string", R"("")"));
    KT_ASSERT_OK(CreateText(2, "json", R"({"":[""]})"));
    JRes a = ExecJson(db_, Req("V", "findUnique", R"({"where":{"id":1},"select":{"string":true}})"));
    EXPECT_EQ(a.text, R"({"string":""})");
    JRes b = ExecJson(db_, Req("V", "findUnique", R"({"where":{"id":2},"select":{"json":true}})"));
    EXPECT_EQ(b.text, R"({"json":{"":[""]}})");
}

TEST(JsonBridge, AnEmptyStrFirstInADocumentConvertsWithoutArithmeticOnNull)
{
    // msgpack-c gives a str of length 0 a NULL pointer when no str came before it in the document
    const std::pair<std::string, std::string> cases[] = {
        {Unhex("a0"), R"("")"}, {Unhex("91a0"), R"([""])"}, {Unhex("81a0a0"), R"({"":""})"}};
    for (const auto &c : cases) {
        char *out = nullptr;
        size_t len = 0;
        kv_error err{};
        ASSERT_EQ(kv_msgpack_to_json(&out, &len, c.first.data(), c.first.size(), &err), 0) << err.message;
        EXPECT_EQ(std::string(out, len), c.second);
        free(out);
    }
}

}  // namespace
}  // namespace kt
