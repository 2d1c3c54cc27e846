// where parsing and evaluation (docs/queries.md, "where") and the value order (compare.h), without a store.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "compare.h"
#include "filter.h"
#include "json_bridge.h"
#include "schema.h"
#include "value.h"
}

namespace {

constexpr const char *kSchema = R"json({
  "namespace": "ft",
  "models": {
    "Row": {
      "id": {"type": "string"},
      "fields": {
        "s": {"type": "string", "optional": true},
        "n": {"type": "integer", "optional": true},
        "x": {"type": "float", "optional": true},
        "b": {"type": "boolean", "optional": true},
        "t": {"type": "datetime", "optional": true},
        "d": {"type": "decimal", "optional": true},
        "e": {"type": "enum", "values": ["b", "a", "c"], "optional": true},
        "j": {"type": "json", "optional": true},
        "y": {"type": "bytes", "optional": true}}},
    "Num": {
      "id": {"type": "integer"},
      "fields": {"n": {"type": "integer", "optional": true}}}
  }
})json";

std::string Pack(const std::string &json)
{
    msgpack_sbuffer sb;
    kv_error err = {};
    msgpack_sbuffer_init(&sb);
    int rc = kv_json_to_msgpack(&sb, json.data(), json.size(), KVORM_EBAD_REQUEST, &err);
    std::string out = rc == 0 ? std::string(sb.data, sb.size) : std::string();
    msgpack_sbuffer_destroy(&sb);
    EXPECT_EQ(rc, 0) << json << ": " << err.message;
    return out;
}

// One unpacked MessagePack document (its strings point into bytes, which it keeps).
struct Doc {
    std::string bytes;
    msgpack_zone *zone = msgpack_zone_new(1024);
    msgpack_object obj{};
    explicit Doc(std::string packed) : bytes(std::move(packed))
    {
        EXPECT_EQ(kv_mp_unpack(zone, bytes.data(), bytes.size(), &obj), KV_MP_OK);
    }
    ~Doc() { msgpack_zone_free(zone); }
    Doc(const Doc &) = delete;
    Doc &operator=(const Doc &) = delete;
};

// What a failed parse reported (copied: a kv_error's fields may point into itself).
struct Err {
    int code = 0;
    std::string message, model;
    std::vector<std::string> fields;
};

// A record: canonical values by field index (absent: null) and an id.
struct Rec {
    std::string id = "r1";
    std::map<int, std::string> vals;
};

class Filter : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string doc = Pack(kSchema);
        kv_error err = {};
        ASSERT_EQ(kv_schema_load(&schema_, doc.data(), doc.size(), &err), 0) << err.message;
        row_ = kv_schema_model(schema_, "Row", 3);
        num_ = kv_schema_model(schema_, "Num", 3);
        ASSERT_NE(row_, nullptr);
        ASSERT_NE(num_, nullptr);
    }
    void TearDown() override { kv_schema_unref(schema_); }

    int F(const kv_model *m, const char *name) { return kv_model_field(m, name, std::strlen(name)); }

    // The canonical bytes of a JSON value (JSON mode: datetimes as RFC 3339, bytes as base64) for a field.
    std::string Enc(const char *field, const std::string &json, const kv_model *m = nullptr, kv_mode mode = KV_MODE_JSON)
    {
        m = m ? m : row_;
        Doc d(Pack(json));
        return EncObj(m, field, &d.obj, mode);
    }
    std::string EncObj(const kv_model *m, const char *field, const msgpack_object *o, kv_mode mode)
    {
        msgpack_sbuffer sb;
        kv_error err = {};
        msgpack_sbuffer_init(&sb);
        int rc = kv_value_encode(&sb, m, &m->fields[F(m, field)], o, mode, &err);
        std::string out(sb.data ? sb.data : "", sb.size);
        msgpack_sbuffer_destroy(&sb);
        EXPECT_EQ(rc, 0) << field << " " << err.message;
        return out;
    }

    // Builds a record from a JSON data map.
    Rec Make(const std::string &data_json, const std::string &id = "r1", const kv_model *m = nullptr)
    {
        m = m ? m : row_;
        Rec r;
        r.id = id;
        Doc d(Pack(data_json));
        for (uint32_t i = 0; i < d.obj.via.map.size; i++) {
            const msgpack_object_kv &kv = d.obj.via.map.ptr[i];
            std::string name(kv.key.via.str.ptr, kv.key.via.str.size);
            if (kv.val.type == MSGPACK_OBJECT_NIL)
                continue;
            r.vals[F(m, name.c_str())] = EncObj(m, name.c_str(), &kv.val, KV_MODE_JSON);
        }
        return r;
    }

    kv_truth EvalObj(const msgpack_object *where, const Rec &r, const kv_model *m, kv_mode mode)
    {
        kv_filter f{};
        kv_error err = {};
        int rc = kv_filter_parse(&f, m, where, mode, &err);
        EXPECT_EQ(rc, 0) << err.message;
        if (rc != 0)
            return KV_FALSE;
        std::vector<const char *> values(m->nfields, nullptr);
        std::vector<size_t> lens(m->nfields, 0);
        for (const auto &kv : r.vals) {
            values[kv.first] = kv.second.data();
            lens[kv.first] = kv.second.size();
        }
        kv_record rec{};
        rec.id = r.id.data();
        rec.id_len = r.id.size();
        rec.values = values.data();
        rec.lens = lens.data();
        kv_truth t = kv_filter_eval(&f, m, &rec);
        kv_filter_free(&f);
        return t;
    }

    kv_truth Eval(const std::string &where, const Rec &r, const kv_model *m = nullptr)
    {
        Doc d(Pack(where));
        return EvalObj(&d.obj, r, m ? m : row_, KV_MODE_JSON);
    }
    bool Match(const std::string &where, const std::string &data, const std::string &id = "r1")
    {
        return Eval(where, Make(data, id)) == KV_TRUE;
    }

    // Parses where and expects it to fail with code; returns the error.
    Err Fail(const std::string &where, int code, const kv_model *m = nullptr)
    {
        Doc d(Pack(where));
        kv_filter f{};
        kv_error err = {};
        int rc = kv_filter_parse(&f, m ? m : row_, &d.obj, KV_MODE_JSON, &err);
        EXPECT_EQ(rc, code) << where << ": " << err.message;
        EXPECT_EQ(err.code, code);
        EXPECT_EQ(f.root, nullptr);
        kv_filter_free(&f);
        Err out;
        out.code = err.code;
        out.message = err.message;
        out.model = err.model ? err.model : "";
        for (int i = 0; i < err.nfields; i++)
            out.fields.push_back(err.fields[i]);
        return out;
    }

    static bool Names(const Err &e, const char *field)
    {
        for (const std::string &f : e.fields)
            if (f == field)
                return true;
        return false;
    }

    int Cmp(kv_type t, const std::string &a, const std::string &b)
    {
        return kv_value_cmp(t, a.data(), a.size(), b.data(), b.size());
    }
    int DecCmp(const std::string &a, const std::string &b)
    {
        return Cmp(KV_T_DECIMAL, Enc("d", "\"" + a + "\""), Enc("d", "\"" + b + "\""));
    }

    kvorm_schema *schema_ = nullptr;
    const kv_model *row_ = nullptr;
    const kv_model *num_ = nullptr;
};

int Sign(int c) { return c < 0 ? -1 : c > 0 ? 1 : 0; }

// ---- the value order ----

TEST_F(Filter, IntegersCompareNumericallyAcrossEncodingWidths)
{
    const char *ordered[] = {"-9223372036854775808", "-2147483649", "-40000", "-200", "-33", "-1", "0", "1",
                             "127", "128", "255", "256", "65536", "4294967296", "9223372036854775807"};
    for (size_t i = 0; i < sizeof(ordered) / sizeof(*ordered); i++)
        for (size_t k = 0; k < sizeof(ordered) / sizeof(*ordered); k++)
            EXPECT_EQ(Sign(Cmp(KV_T_INTEGER, Enc("n", ordered[i]), Enc("n", ordered[k]))), i < k ? -1 : i > k ? 1 : 0)
                << ordered[i] << " vs " << ordered[k];
}

TEST_F(Filter, FloatsCompareNumericallyAndNegativeZeroEqualsZero)
{
    EXPECT_EQ(Cmp(KV_T_FLOAT, Enc("x", "-0.0"), Enc("x", "0.0")), 0);
    EXPECT_NE(Enc("x", "-0.0"), Enc("x", "0.0")); // the bytes differ, the values do not
    EXPECT_LT(Cmp(KV_T_FLOAT, Enc("x", "-1.5"), Enc("x", "-0.0")), 0);
    EXPECT_LT(Cmp(KV_T_FLOAT, Enc("x", "-2.5"), Enc("x", "-1.5")), 0);
    EXPECT_LT(Cmp(KV_T_FLOAT, Enc("x", "0.0"), Enc("x", "1e-300")), 0);
    EXPECT_GT(Cmp(KV_T_FLOAT, Enc("x", "1e300"), Enc("x", "2")), 0);
    EXPECT_TRUE(Match("{\"x\": 0}", "{\"x\": -0.0}"));
    EXPECT_TRUE(Match("{\"x\": {\"in\": [-0.0]}}", "{\"x\": 0.0}"));
    EXPECT_FALSE(Match("{\"x\": {\"lt\": 0}}", "{\"x\": -0.0}"));
}

TEST_F(Filter, BooleansOrderFalseBeforeTrue)
{
    EXPECT_LT(Cmp(KV_T_BOOLEAN, Enc("b", "false"), Enc("b", "true")), 0);
    EXPECT_EQ(Cmp(KV_T_BOOLEAN, Enc("b", "true"), Enc("b", "true")), 0);
    EXPECT_TRUE(Match("{\"b\": {\"gt\": false}}", "{\"b\": true}"));
    EXPECT_FALSE(Match("{\"b\": {\"lt\": false}}", "{\"b\": false}"));
}

TEST_F(Filter, StringsAndEnumsCompareByTheirBytes)
{
    EXPECT_LT(Cmp(KV_T_STRING, Enc("s", "\"B\""), Enc("s", "\"a\"")), 0);
    EXPECT_LT(Cmp(KV_T_STRING, Enc("s", "\"ab\""), Enc("s", "\"abc\"")), 0);
    EXPECT_LT(Cmp(KV_T_STRING, Enc("s", "\"z\""), Enc("s", "\"\\u00e9\"")), 0);
    // a 40-byte string (str8) after a 10-byte one (fixstr): the header width does not count
    EXPECT_GT(Cmp(KV_T_STRING, Enc("s", "\"b\""), Enc("s", "\"" + std::string(40, 'a') + "\"")), 0);
    // enums by text, not by declaration order (b, a, c)
    EXPECT_LT(Cmp(KV_T_ENUM, Enc("e", "\"a\""), Enc("e", "\"b\"")), 0);
    EXPECT_TRUE(Match("{\"e\": {\"lt\": \"b\"}}", "{\"e\": \"a\"}"));
}

TEST_F(Filter, BytesCompareByTheirBytes)
{
    // base64: "AA==" = 00, "AAA=" = 00 00, "/w==" = ff
    EXPECT_LT(Cmp(KV_T_BYTES, Enc("y", "\"AA==\""), Enc("y", "\"AAA=\"")), 0);
    EXPECT_LT(Cmp(KV_T_BYTES, Enc("y", "\"AAA=\""), Enc("y", "\"/w==\"")), 0);
    EXPECT_EQ(Cmp(KV_T_BYTES, Enc("y", "\"/w==\""), Enc("y", "\"/w==\"")), 0);
    // 300 zero bytes (bin16) before one 0xff byte (bin8): the header width does not count
    EXPECT_LT(Cmp(KV_T_BYTES, Enc("y", "\"" + std::string(400, 'A') + "\""), Enc("y", "\"/w==\"")), 0);
}

TEST_F(Filter, DecimalsCompareExactly)
{
    EXPECT_LT(DecCmp("1.5", "10"), 0);
    EXPECT_LT(DecCmp("-2", "-1.5"), 0);
    EXPECT_LT(DecCmp("0.001", "0.01"), 0);
    EXPECT_LT(DecCmp("-0.01", "-0.001"), 0);
    EXPECT_LT(DecCmp("-1", "0"), 0);
    EXPECT_LT(DecCmp("0", "0.0000001"), 0);
    EXPECT_LT(DecCmp("9.99", "10"), 0);
    EXPECT_LT(DecCmp("12", "12.5"), 0);
    EXPECT_LT(DecCmp("12.34", "12.5"), 0);
    EXPECT_LT(DecCmp("-12.5", "-12"), 0);
    EXPECT_LT(DecCmp("-100", "-99.999"), 0);
    EXPECT_EQ(DecCmp("1.50", "1.5"), 0);
    EXPECT_EQ(DecCmp("-0.0", "0"), 0);
    EXPECT_EQ(DecCmp("1e3", "1000"), 0);
    // beyond any float: differ in the 40th digit
    std::string a = "1." + std::string(38, '0') + "1", b = "1." + std::string(38, '0') + "2";
    EXPECT_LT(DecCmp(a, b), 0);
    EXPECT_GT(DecCmp(std::string(60, '9'), "1" + std::string(59, '0')), 0);
    EXPECT_LT(DecCmp("-" + std::string(60, '9'), "-1" + std::string(59, '0')), 0);
    EXPECT_TRUE(Match("{\"d\": {\"gt\": \"1.5\", \"lt\": \"10\"}}", "{\"d\": \"9.999999999999999999999\"}"));
    EXPECT_TRUE(Match("{\"d\": \"1.5\"}", "{\"d\": \"1.50\"}"));
    EXPECT_TRUE(Match("{\"d\": 1000}", "{\"d\": \"1e3\"}"));
}

TEST_F(Filter, DatetimesOfEveryTimestampWidthCompareByTime)
{
    std::string t32 = Enc("t", "\"1970-01-01T00:00:01Z\"");
    std::string t64 = Enc("t", "\"2000-01-01T00:00:00.5Z\"");
    std::string t64b = Enc("t", "\"2000-01-01T00:00:00.25Z\"");
    std::string neg96 = Enc("t", "\"1960-01-01T00:00:00.000000001Z\"");
    std::string big96 = Enc("t", "\"9999-12-31T23:59:59.999999999Z\"");
    std::string t32b = Enc("t", "\"2000-01-01T00:00:00Z\"");
    EXPECT_EQ((unsigned char)t32[0], 0xd6);  // timestamp32
    EXPECT_EQ((unsigned char)t64[0], 0xd7);  // timestamp64
    EXPECT_EQ((unsigned char)neg96[0], 0xc7); // timestamp96
    EXPECT_EQ((unsigned char)big96[0], 0xc7);
    std::vector<std::string> ordered = {neg96, t32, t32b, t64b, t64, big96};
    for (size_t i = 0; i < ordered.size(); i++)
        for (size_t k = 0; k < ordered.size(); k++)
            EXPECT_EQ(Sign(Cmp(KV_T_DATETIME, ordered[i], ordered[k])), i < k ? -1 : i > k ? 1 : 0) << i << " " << k;
    EXPECT_TRUE(Match("{\"t\": {\"gte\": \"2000-01-01T00:00:00Z\", \"lt\": \"2000-01-01T00:00:00.5Z\"}}",
                      "{\"t\": \"2000-01-01T00:00:00.25Z\"}"));
    EXPECT_TRUE(Match("{\"t\": {\"lt\": \"1970-01-01T00:00:00Z\"}}", "{\"t\": \"1960-01-01T00:00:00Z\"}"));
}

TEST_F(Filter, MessagePackOperandsTakeTimestampsAndBin)
{
    // where {"t": {"gt": <timestamp32 of 1>}, "y": <bin 01 02>} in MessagePack mode
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "t", 1);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "gt", 2);
    const char ts[4] = {0, 0, 0, 1};
    msgpack_pack_ext_with_body(&pk, ts, 4, -1);
    msgpack_pack_str_with_body(&pk, "y", 1);
    msgpack_pack_bin_with_body(&pk, "\x01\x02", 2);
    Doc d(std::string(sb.data, sb.size));
    msgpack_sbuffer_destroy(&sb);
    Rec r = Make("{\"t\": \"1970-01-01T00:00:02Z\", \"y\": \"AQI=\"}");
    EXPECT_EQ(EvalObj(&d.obj, r, row_, KV_MODE_MSGPACK), KV_TRUE);
    r = Make("{\"t\": \"1970-01-01T00:00:01Z\", \"y\": \"AQI=\"}");
    EXPECT_EQ(EvalObj(&d.obj, r, row_, KV_MODE_MSGPACK), KV_FALSE);
}

TEST_F(Filter, IntegerIdsCompareNumericallyStringIdsByBytes)
{
    EXPECT_LT(kv_id_cmp(num_, "9", 1, "10", 2), 0);
    EXPECT_LT(kv_id_cmp(num_, "-10", 3, "-9", 2), 0);
    EXPECT_LT(kv_id_cmp(num_, "-9223372036854775808", 20, "9223372036854775807", 19), 0);
    EXPECT_EQ(kv_id_cmp(num_, "42", 2, "42", 2), 0);
    EXPECT_GT(kv_id_cmp(row_, "9", 1, "10", 2), 0);
    EXPECT_LT(kv_id_cmp(row_, "ab", 2, "abc", 3), 0);
}

// ---- operators ----

TEST_F(Filter, EqualityShorthandAndEquals)
{
    EXPECT_TRUE(Match("{\"n\": 5}", "{\"n\": 5}"));
    EXPECT_FALSE(Match("{\"n\": 5}", "{\"n\": 6}"));
    EXPECT_TRUE(Match("{\"n\": {\"equals\": 5}}", "{\"n\": 5}"));
    EXPECT_TRUE(Match("{\"s\": \"hi\", \"n\": 5}", "{\"s\": \"hi\", \"n\": 5}"));
    EXPECT_FALSE(Match("{\"s\": \"hi\", \"n\": 5}", "{\"s\": \"hi\", \"n\": 4}"));
    EXPECT_TRUE(Match("{\"x\": 2}", "{\"x\": 2.0}")); // an integer operand of a float field
    EXPECT_TRUE(Match("{\"b\": true}", "{\"b\": true}"));
    EXPECT_TRUE(Match("{\"y\": \"AQI=\"}", "{\"y\": \"AQI=\"}"));
}

TEST_F(Filter, NullShorthandAndNullTests)
{
    EXPECT_TRUE(Match("{\"n\": null}", "{}"));
    EXPECT_FALSE(Match("{\"n\": null}", "{\"n\": 1}"));
    EXPECT_TRUE(Match("{\"n\": {\"equals\": null}}", "{}"));
    EXPECT_TRUE(Match("{\"n\": {\"not\": null}}", "{\"n\": 0}"));
    EXPECT_FALSE(Match("{\"n\": {\"not\": null}}", "{}"));
    EXPECT_FALSE(Match("{\"id\": null}", "{}"));
    EXPECT_TRUE(Match("{\"id\": {\"not\": null}}", "{}"));
}

TEST_F(Filter, NotTakesAValueNullOrAnOperatorMap)
{
    EXPECT_TRUE(Match("{\"n\": {\"not\": 5}}", "{\"n\": 4}"));
    EXPECT_FALSE(Match("{\"n\": {\"not\": 5}}", "{\"n\": 5}"));
    EXPECT_TRUE(Match("{\"n\": {\"not\": {\"in\": [1, 2]}}}", "{\"n\": 3}"));
    EXPECT_FALSE(Match("{\"n\": {\"not\": {\"in\": [1, 2]}}}", "{\"n\": 2}"));
    EXPECT_TRUE(Match("{\"n\": {\"not\": {\"gt\": 1, \"lt\": 5}}}", "{\"n\": 5}"));
    EXPECT_FALSE(Match("{\"n\": {\"not\": {\"gt\": 1, \"lt\": 5}}}", "{\"n\": 3}"));
    EXPECT_TRUE(Match("{\"n\": {\"not\": {\"not\": 3}}}", "{\"n\": 3}"));
}

TEST_F(Filter, RangeOperators)
{
    EXPECT_TRUE(Match("{\"n\": {\"lt\": 5}}", "{\"n\": 4}"));
    EXPECT_FALSE(Match("{\"n\": {\"lt\": 5}}", "{\"n\": 5}"));
    EXPECT_TRUE(Match("{\"n\": {\"lte\": 5}}", "{\"n\": 5}"));
    EXPECT_FALSE(Match("{\"n\": {\"lte\": 5}}", "{\"n\": 6}"));
    EXPECT_TRUE(Match("{\"n\": {\"gt\": -5}}", "{\"n\": -4}"));
    EXPECT_FALSE(Match("{\"n\": {\"gt\": 5}}", "{\"n\": 5}"));
    EXPECT_TRUE(Match("{\"n\": {\"gte\": 5}}", "{\"n\": 5}"));
    EXPECT_FALSE(Match("{\"n\": {\"gte\": 5}}", "{\"n\": 4}"));
    EXPECT_TRUE(Match("{\"s\": {\"gte\": \"b\", \"lt\": \"c\"}}", "{\"s\": \"bzz\"}"));
    EXPECT_FALSE(Match("{\"s\": {\"gte\": \"b\", \"lt\": \"c\"}}", "{\"s\": \"c\"}"));
}

TEST_F(Filter, SeveralOperatorsAreAnded)
{
    const char *w = "{\"n\": {\"gt\": 1, \"lt\": 10, \"not\": 5, \"notIn\": [7]}}";
    EXPECT_TRUE(Match(w, "{\"n\": 2}"));
    EXPECT_FALSE(Match(w, "{\"n\": 5}"));
    EXPECT_FALSE(Match(w, "{\"n\": 7}"));
    EXPECT_FALSE(Match(w, "{\"n\": 10}"));
    EXPECT_TRUE(Match("{\"n\": {}}", "{}")); // no operator: nothing to hold
}

TEST_F(Filter, InAndNotIn)
{
    EXPECT_TRUE(Match("{\"n\": {\"in\": [3, 1, 2]}}", "{\"n\": 2}"));
    EXPECT_FALSE(Match("{\"n\": {\"in\": [3, 1, 2]}}", "{\"n\": 4}"));
    EXPECT_TRUE(Match("{\"n\": {\"notIn\": [3, 1, 2]}}", "{\"n\": 4}"));
    EXPECT_FALSE(Match("{\"n\": {\"notIn\": [3, 1, 2]}}", "{\"n\": 1}"));
    EXPECT_FALSE(Match("{\"n\": {\"in\": []}}", "{\"n\": 1}"));
    EXPECT_TRUE(Match("{\"n\": {\"notIn\": []}}", "{\"n\": 1}"));
    EXPECT_TRUE(Match("{\"d\": {\"in\": [\"10\", \"1.50\", 2]}}", "{\"d\": \"1.5\"}"));
    EXPECT_TRUE(Match("{\"s\": {\"in\": [\"b\", \"a\"]}}", "{\"s\": \"a\"}"));
}

TEST_F(Filter, InListsAreSortedAndDeduplicated)
{
    Doc d(Pack("{\"n\": {\"in\": [300, -1, 5, 300, 70000, -1, 5, 0]}}"));
    kv_filter f{};
    kv_error err = {};
    ASSERT_EQ(kv_filter_parse(&f, row_, &d.obj, KV_MODE_JSON, &err), 0) << err.message;
    ASSERT_EQ(f.root->kind, KV_NODE_PRED);
    const kv_pred &p = f.root->pred;
    EXPECT_EQ(p.cmp, KV_CMP_IN);
    EXPECT_EQ(p.field, F(row_, "n"));
    ASSERT_EQ(p.nvals, 5);
    const char *want[] = {"-1", "0", "5", "300", "70000"};
    for (int i = 0; i < 5; i++)
        EXPECT_EQ(std::string(p.vals[i], p.lens[i]), Enc("n", want[i])) << i;
    kv_filter_free(&f);
}

TEST_F(Filter, StartsWithEndsWithContainsOnStrings)
{
    EXPECT_TRUE(Match("{\"s\": {\"startsWith\": \"he\"}}", "{\"s\": \"hello\"}"));
    EXPECT_FALSE(Match("{\"s\": {\"startsWith\": \"lo\"}}", "{\"s\": \"hello\"}"));
    EXPECT_TRUE(Match("{\"s\": {\"endsWith\": \"lo\"}}", "{\"s\": \"hello\"}"));
    EXPECT_FALSE(Match("{\"s\": {\"endsWith\": \"he\"}}", "{\"s\": \"hello\"}"));
    EXPECT_TRUE(Match("{\"s\": {\"contains\": \"ell\"}}", "{\"s\": \"hello\"}"));
    EXPECT_FALSE(Match("{\"s\": {\"contains\": \"elo\"}}", "{\"s\": \"hello\"}"));
    EXPECT_TRUE(Match("{\"s\": {\"contains\": \"\"}}", "{\"s\": \"\"}"));
    EXPECT_FALSE(Match("{\"s\": {\"startsWith\": \"hello!\"}}", "{\"s\": \"hello\"}"));
    // long values (str16) and a needle at the very end
    std::string big(70000, 'a');
    EXPECT_TRUE(Match("{\"s\": {\"contains\": \"aab\"}}", "{\"s\": \"" + big + "b\"}"));
    EXPECT_FALSE(Match("{\"s\": {\"contains\": \"aab\"}}", "{\"s\": \"" + big + "\"}"));
    EXPECT_TRUE(Match("{\"s\": {\"startsWith\": \"a\", \"endsWith\": \"b\"}}", "{\"s\": \"" + big + "b\"}"));
}

TEST_F(Filter, TheIdIsAFieldWithOperators)
{
    EXPECT_TRUE(Match("{\"id\": \"r1\"}", "{}", "r1"));
    EXPECT_FALSE(Match("{\"id\": \"r1\"}", "{}", "r2"));
    EXPECT_TRUE(Match("{\"id\": {\"startsWith\": \"user_\"}}", "{}", "user_7"));
    EXPECT_TRUE(Match("{\"id\": {\"endsWith\": \"_7\", \"contains\": \"er\"}}", "{}", "user_7"));
    EXPECT_TRUE(Match("{\"id\": {\"startsWith\": \"\"}}", "{}", "x"));
    EXPECT_TRUE(Match("{\"id\": {\"in\": [\"b\", \"a\"]}}", "{}", "a"));
    EXPECT_TRUE(Match("{\"id\": {\"gt\": \"10\"}}", "{}", "9")); // string ids: by bytes
    // integer ids: numerically, operands encoded as id text
    EXPECT_EQ(Eval("{\"id\": {\"gt\": 9}}", Make("{}", "10", num_), num_), KV_TRUE);
    EXPECT_EQ(Eval("{\"id\": {\"lt\": -9}}", Make("{}", "-10", num_), num_), KV_TRUE);
    EXPECT_EQ(Eval("{\"id\": {\"in\": [10, 3, 10]}}", Make("{}", "10", num_), num_), KV_TRUE);
    EXPECT_EQ(Eval("{\"id\": 10}", Make("{}", "11", num_), num_), KV_FALSE);
    Doc d(Pack("{\"id\": {\"in\": [10, 3, 10, -4]}}"));
    kv_filter f{};
    kv_error err = {};
    ASSERT_EQ(kv_filter_parse(&f, num_, &d.obj, KV_MODE_JSON, &err), 0) << err.message;
    ASSERT_EQ(f.root->kind, KV_NODE_PRED);
    EXPECT_EQ(f.root->pred.field, KV_FIELD_ID);
    ASSERT_EQ(f.root->pred.nvals, 3);
    EXPECT_EQ(std::string(f.root->pred.vals[0], f.root->pred.lens[0]), "-4");
    EXPECT_EQ(std::string(f.root->pred.vals[1], f.root->pred.lens[1]), "3");
    EXPECT_EQ(std::string(f.root->pred.vals[2], f.root->pred.lens[2]), "10");
    kv_filter_free(&f);
}

TEST_F(Filter, JsonFieldsTakeEqualityNotAndNullTests)
{
    EXPECT_TRUE(Match("{\"j\": {\"equals\": {\"b\": [1, 2], \"a\": 1}}}", "{\"j\": {\"a\": 1, \"b\": [1, 2]}}"));
    EXPECT_FALSE(Match("{\"j\": {\"equals\": {\"a\": 2}}}", "{\"j\": {\"a\": 1}}"));
    EXPECT_TRUE(Match("{\"j\": [1, \"x\"]}", "{\"j\": [1, \"x\"]}"));
    EXPECT_TRUE(Match("{\"j\": {\"not\": 3}}", "{\"j\": \"3\"}"));
    EXPECT_TRUE(Match("{\"j\": {\"not\": {\"equals\": {\"a\": 2}}}}", "{\"j\": {\"a\": 1}}"));
    EXPECT_TRUE(Match("{\"j\": null}", "{}"));
    EXPECT_TRUE(Match("{\"j\": {\"not\": null}}", "{\"j\": false}"));
}

// ---- logic ----

TEST_F(Filter, AndOrNotAsArraysAndMaps)
{
    const char *data = "{\"n\": 5, \"s\": \"x\"}";
    EXPECT_TRUE(Match("{\"AND\": [{\"n\": 5}, {\"s\": \"x\"}]}", data));
    EXPECT_FALSE(Match("{\"AND\": [{\"n\": 5}, {\"s\": \"y\"}]}", data));
    EXPECT_TRUE(Match("{\"AND\": {\"n\": 5, \"s\": \"x\"}}", data));
    EXPECT_TRUE(Match("{\"OR\": [{\"n\": 6}, {\"s\": \"x\"}]}", data));
    EXPECT_FALSE(Match("{\"OR\": [{\"n\": 6}, {\"s\": \"y\"}]}", data));
    EXPECT_TRUE(Match("{\"NOT\": {\"n\": 6}}", data));
    EXPECT_FALSE(Match("{\"NOT\": {\"n\": 5, \"s\": \"x\"}}", data));
    EXPECT_TRUE(Match("{\"NOT\": {\"n\": 5, \"s\": \"y\"}}", data));
    EXPECT_FALSE(Match("{\"NOT\": [{\"n\": 6}, {\"s\": \"x\"}]}", data)); // none of them may hold
    EXPECT_TRUE(Match("{\"NOT\": [{\"n\": 6}, {\"s\": \"y\"}]}", data));
}

TEST_F(Filter, EmptyLogicAndEmptyWhere)
{
    EXPECT_TRUE(Match("{\"AND\": []}", "{}"));
    EXPECT_FALSE(Match("{\"OR\": []}", "{}"));
    EXPECT_TRUE(Match("{\"NOT\": []}", "{}"));
    EXPECT_TRUE(Match("{}", "{}"));
    kv_filter f{};
    kv_error err = {};
    ASSERT_EQ(kv_filter_parse(&f, row_, nullptr, KV_MODE_JSON, &err), 0);
    ASSERT_NE(f.root, nullptr);
    EXPECT_EQ(f.root->kind, KV_NODE_AND);
    EXPECT_EQ(f.root->nkids, 0);
    kv_filter_free(&f);
    kv_filter_free(&f); // safe twice
}

TEST_F(Filter, NestedLogic)
{
    const char *w = R"({"OR": [{"AND": [{"n": {"gte": 10}}, {"NOT": {"s": {"startsWith": "tmp"}}}]},
                             {"NOT": [{"OR": [{"n": {"lt": 100}}, {"b": true}]}]}],
                        "e": {"not": "c"}})";
    EXPECT_TRUE(Match(w, R"({"n": 10, "s": "real", "e": "a"})"));
    EXPECT_FALSE(Match(w, R"({"n": 10, "s": "tmp1", "e": "a"})"));
    EXPECT_FALSE(Match(w, R"({"n": 10, "s": "real", "e": "c"})"));
    EXPECT_TRUE(Match(w, R"({"n": 100, "s": "tmp1", "b": false, "e": "b"})")); // by the second branch
    EXPECT_FALSE(Match(w, R"({"n": 5, "s": "x", "b": false, "e": "b"})"));
    EXPECT_TRUE(Match(w, R"({"n": 500, "s": "tmp", "b": false, "e": "a"})"));
}

// ---- three-valued logic ----

TEST_F(Filter, EveryComparisonWithANullFieldIsUnknown)
{
    Rec none = Make("{}");
    const char *ops[] = {"{\"n\": 5}",         "{\"n\": {\"not\": 5}}", "{\"n\": {\"lt\": 5}}",
                         "{\"n\": {\"lte\": 5}}", "{\"n\": {\"gt\": 5}}", "{\"n\": {\"gte\": 5}}",
                         "{\"n\": {\"in\": [5]}}", "{\"n\": {\"notIn\": [5]}}", "{\"s\": {\"startsWith\": \"a\"}}",
                         "{\"s\": {\"endsWith\": \"a\"}}", "{\"s\": {\"contains\": \"a\"}}",
                         "{\"j\": {\"equals\": {\"a\": 1}}}", "{\"j\": {\"not\": 1}}"};
    for (const char *w : ops) {
        EXPECT_EQ(Eval(w, none), KV_UNKNOWN) << w;
        EXPECT_EQ(Eval(std::string("{\"NOT\": ") + w + "}", none), KV_UNKNOWN) << w;
    }
    EXPECT_EQ(Eval("{\"n\": null}", none), KV_TRUE);
    EXPECT_EQ(Eval("{\"n\": {\"not\": null}}", none), KV_FALSE);
    EXPECT_EQ(Eval("{\"n\": {\"not\": {\"in\": [1]}}}", none), KV_UNKNOWN);
}

TEST_F(Filter, AndOrFollowKleeneLogic)
{
    Rec r = Make("{\"s\": \"x\"}"); // n is null: {"n": 1} is unknown
    EXPECT_EQ(Eval("{\"AND\": [{\"n\": 1}, {\"s\": \"x\"}]}", r), KV_UNKNOWN);
    EXPECT_EQ(Eval("{\"AND\": [{\"n\": 1}, {\"s\": \"y\"}]}", r), KV_FALSE);
    EXPECT_EQ(Eval("{\"OR\": [{\"n\": 1}, {\"s\": \"x\"}]}", r), KV_TRUE);
    EXPECT_EQ(Eval("{\"OR\": [{\"n\": 1}, {\"s\": \"y\"}]}", r), KV_UNKNOWN);
    EXPECT_EQ(Eval("{\"NOT\": {\"OR\": [{\"n\": 1}, {\"s\": \"y\"}]}}", r), KV_UNKNOWN);
    EXPECT_EQ(Eval("{\"NOT\": [{\"n\": 1}, {\"s\": \"y\"}]}", r), KV_UNKNOWN);
    EXPECT_EQ(Eval("{\"NOT\": [{\"n\": 1}, {\"s\": \"x\"}]}", r), KV_FALSE);
    // the documented example: not 5 does not match a null age; null does
    EXPECT_FALSE(Match("{\"n\": {\"not\": 5}}", "{}"));
    EXPECT_TRUE(Match("{\"n\": null}", "{}"));
}

// ---- errors ----

TEST_F(Filter, AnUnknownFieldIsBadRequestNamingIt)
{
    Err e = Fail("{\"nope\": 1}", KVORM_EBAD_REQUEST);
    EXPECT_NE(std::strstr(e.message.c_str(), "\"nope\""), nullptr) << e.message;
    EXPECT_TRUE(Names(e, "nope"));
    EXPECT_EQ(e.model, "Row");
    e = Fail("{\"OR\": [{\"AND\": {\"deep\": null}}]}", KVORM_EBAD_REQUEST);
    EXPECT_TRUE(Names(e, "deep"));
    e = Fail("{\"and\": []}", KVORM_EBAD_REQUEST); // combinators are upper case
    EXPECT_TRUE(Names(e, "and"));
}

TEST_F(Filter, AnUnknownFieldWithInvalidUtf8GivesAValidMessage)
{
    std::string where = "\x81\xa3\x6e\xff\x6f\x01"; // {"n\xffo": 1}
    Doc d(where);
    kv_filter f{};
    kv_error err = {};
    EXPECT_EQ(kv_filter_parse(&f, row_, &d.obj, KV_MODE_MSGPACK, &err), KVORM_EBAD_REQUEST);
    EXPECT_TRUE(kv_utf8_valid(err.message, std::strlen(err.message))) << err.message;
    EXPECT_NE(std::strstr(err.message, "\\xff"), nullptr) << err.message;
    kv_filter_free(&f);
}

TEST_F(Filter, AnUnknownOperatorIsBadRequestNamingIt)
{
    Err e = Fail("{\"n\": {\"gt\": 1, \"between\": [1, 2]}}", KVORM_EBAD_REQUEST);
    EXPECT_NE(std::strstr(e.message.c_str(), "\"between\""), nullptr) << e.message;
    EXPECT_TRUE(Names(e, "n"));
    e = Fail("{\"n\": {\"not\": {\"AND\": []}}}", KVORM_EBAD_REQUEST);
    EXPECT_NE(std::strstr(e.message.c_str(), "\"AND\""), nullptr) << e.message;
    e = Fail("{\"j\": {\"a\": 1}}", KVORM_EBAD_REQUEST); // a map is operators for a json field
    EXPECT_NE(std::strstr(e.message.c_str(), "\"a\""), nullptr) << e.message;
}

TEST_F(Filter, InAndNotInWithoutAnArrayAreBadRequest)
{
    Err e = Fail("{\"n\": {\"in\": 5}}", KVORM_EBAD_REQUEST);
    EXPECT_NE(std::strstr(e.message.c_str(), "in takes an array"), nullptr) << e.message;
    EXPECT_TRUE(Names(e, "n"));
    e = Fail("{\"id\": {\"notIn\": \"a\"}}", KVORM_EBAD_REQUEST);
    EXPECT_NE(std::strstr(e.message.c_str(), "notIn takes an array"), nullptr) << e.message;
}

TEST_F(Filter, JsonFieldsRefuseRangeAndTextOperators)
{
    for (const char *op : {"lt", "lte", "gt", "gte", "in", "notIn", "startsWith", "endsWith", "contains"}) {
        Err e = Fail(std::string("{\"j\": {\"") + op + "\": [1]}}", KVORM_EBAD_REQUEST);
        EXPECT_NE(std::strstr(e.message.c_str(), op), nullptr) << e.message;
        EXPECT_NE(std::strstr(e.message.c_str(), "json"), nullptr) << e.message;
        EXPECT_TRUE(Names(e, "j"));
    }
}

TEST_F(Filter, TextOperatorsOnOtherTypesAreBadRequest)
{
    Err e = Fail("{\"n\": {\"startsWith\": \"1\"}}", KVORM_EBAD_REQUEST);
    EXPECT_NE(std::strstr(e.message.c_str(), "startsWith"), nullptr) << e.message;
    EXPECT_NE(std::strstr(e.message.c_str(), "integer"), nullptr) << e.message;
    EXPECT_TRUE(Names(e, "n"));
    e = Fail("{\"e\": {\"contains\": \"a\"}}", KVORM_EBAD_REQUEST);
    EXPECT_NE(std::strstr(e.message.c_str(), "enum"), nullptr) << e.message;
    e = Fail("{\"id\": {\"endsWith\": \"1\"}}", KVORM_EBAD_REQUEST, num_);
    EXPECT_NE(std::strstr(e.message.c_str(), "integer id"), nullptr) << e.message;
}

TEST_F(Filter, AValueOfTheWrongTypeIsValidationNamingModelAndField)
{
    struct {
        const char *where, *field;
    } cases[] = {{"{\"n\": \"5\"}", "n"},
                 {"{\"n\": {\"gt\": 1.5}}", "n"},
                 {"{\"s\": {\"in\": [\"a\", 1]}}", "s"},
                 {"{\"s\": {\"startsWith\": 1}}", "s"},
                 {"{\"b\": {\"not\": 0}}", "b"},
                 {"{\"t\": \"yesterday\"}", "t"},
                 {"{\"d\": {\"lt\": \"1.2.3\"}}", "d"},
                 {"{\"e\": \"z\"}", "e"},
                 {"{\"y\": \"not base64!\"}", "y"},
                 {"{\"n\": {\"lt\": null}}", "n"},
                 {"{\"n\": {\"in\": [1, null]}}", "n"},
                 {"{\"id\": 5}", "id"},
                 {"{\"id\": {\"contains\": 5}}", "id"},
                 {"{\"n\": {\"equals\": {\"lt\": 1}}}", "n"}};
    for (const auto &c : cases) {
        Err e = Fail(c.where, KVORM_EVALIDATION);
        EXPECT_EQ(e.model, "Row") << c.where;
        EXPECT_TRUE(Names(e, c.field)) << c.where << ": " << e.message;
        EXPECT_NE(std::strstr(e.message.c_str(), (std::string("Row.") + c.field).c_str()), nullptr) << e.message;
    }
    Err e = Fail("{\"id\": \"x\"}", KVORM_EVALIDATION, num_);
    EXPECT_NE(std::strstr(e.message.c_str(), "Num.id"), nullptr) << e.message;
    e = Fail("{\"id\": {\"in\": [99999999999999999999]}}", KVORM_EVALIDATION, num_);
    EXPECT_NE(std::strstr(e.message.c_str(), "Num.id"), nullptr) << e.message;
}

TEST_F(Filter, MisplacedLogicAndBadShapesAreBadRequest)
{
    Err e = Fail("{\"OR\": {\"n\": 1}}", KVORM_EBAD_REQUEST);
    EXPECT_NE(std::strstr(e.message.c_str(), "OR"), nullptr) << e.message;
    e = Fail("{\"AND\": 5}", KVORM_EBAD_REQUEST);
    EXPECT_NE(std::strstr(e.message.c_str(), "AND"), nullptr) << e.message;
    e = Fail("{\"NOT\": [{\"n\": 1}, 2]}", KVORM_EBAD_REQUEST);
    EXPECT_NE(std::strstr(e.message.c_str(), "NOT[1]"), nullptr) << e.message;
    e = Fail("[1]", KVORM_EBAD_REQUEST);
    EXPECT_NE(std::strstr(e.message.c_str(), "where"), nullptr) << e.message;
}

TEST_F(Filter, ANonStringKeyIsBadRequest)
{
    Doc d(std::string("\x81\x01\x01", 3)); // {1: 1}
    kv_filter f{};
    kv_error err = {};
    EXPECT_EQ(kv_filter_parse(&f, row_, &d.obj, KV_MODE_MSGPACK, &err), KVORM_EBAD_REQUEST);
    kv_filter_free(&f);
}

TEST_F(Filter, DeepNestingIsRefusedNotOverflowed)
{
    // nested beyond the MessagePack limit by hand-built objects: the parser stops on its own bound
    const int depth = 200;
    std::vector<msgpack_object> maps(depth + 1);
    std::vector<msgpack_object_kv> kvs(depth);
    for (int i = 0; i < depth; i++) {
        kvs[i].key.type = MSGPACK_OBJECT_STR;
        kvs[i].key.via.str.ptr = "AND";
        kvs[i].key.via.str.size = 3;
    }
    maps[depth].type = MSGPACK_OBJECT_MAP;
    maps[depth].via.map.size = 0;
    maps[depth].via.map.ptr = nullptr;
    for (int i = depth - 1; i >= 0; i--) {
        kvs[i].val = maps[i + 1];
        maps[i].type = MSGPACK_OBJECT_MAP;
        maps[i].via.map.size = 1;
        maps[i].via.map.ptr = &kvs[i];
    }
    kv_filter f{};
    kv_error err = {};
    EXPECT_EQ(kv_filter_parse(&f, row_, &maps[0], KV_MODE_MSGPACK, &err), KVORM_EBAD_REQUEST);
    EXPECT_NE(std::strstr(err.message, "nested"), nullptr) << err.message;
    kv_filter_free(&f);
}

}  // namespace
