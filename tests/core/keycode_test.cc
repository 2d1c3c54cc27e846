// The order-preserving index key encoding (core/src/keycode.h, docs/format.md "Index keys"): the vectors of
// tests/vectors/keys.json, randomized order properties against reference comparisons written here, skipping,
// prefixes, id extraction, and malformed input. Needs no Redis.
#include <gtest/gtest.h>
#include <jansson.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "datetime.h"
#include "decimal.h"
#include "keycode.h"
#include "value.h"
}

namespace {

using Bytes = std::string;

std::string Hex(const Bytes &b)
{
    static const char *d = "0123456789abcdef";
    std::string s;
    for (unsigned char c : b) {
        s += d[c >> 4];
        s += d[c & 15];
    }
    return s;
}

Bytes Unhex(const std::string &h)
{
    Bytes b;
    for (size_t i = 0; i + 1 < h.size(); i += 2)
        b += (char)std::stoi(h.substr(i, 2), nullptr, 16);
    return b;
}

// ---- canonical stored MessagePack of each type (docs/format.md, "Values") ----

Bytes Packed(const std::function<void(msgpack_packer *)> &f)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    f(&pk);
    Bytes b(sb.data ? sb.data : "", sb.size);
    msgpack_sbuffer_destroy(&sb);
    return b;
}

Bytes MpInt(int64_t v)
{
    return Packed([&](msgpack_packer *pk) {
        if (v >= 0)
            msgpack_pack_uint64(pk, (uint64_t)v);
        else
            msgpack_pack_int64(pk, v);
    });
}
Bytes MpFloat(double v) { return Packed([&](msgpack_packer *pk) { msgpack_pack_double(pk, v); }); }
Bytes MpBool(bool v) { return Bytes(1, v ? '\xc3' : '\xc2'); }
Bytes MpStr(const std::string &s)
{
    return Packed([&](msgpack_packer *pk) {
        msgpack_pack_str(pk, s.size());
        msgpack_pack_str_body(pk, s.data(), s.size());
    });
}
Bytes MpBin(const Bytes &s)
{
    return Packed([&](msgpack_packer *pk) {
        msgpack_pack_bin(pk, s.size());
        msgpack_pack_bin_body(pk, s.data(), s.size());
    });
}
Bytes MpTime(kv_time t)
{
    unsigned char payload[12];
    size_t n = kv_time_to_ext(payload, t);
    return Packed([&](msgpack_packer *pk) {
        msgpack_pack_ext(pk, n, -1);
        msgpack_pack_ext_body(pk, payload, n);
    });
}

struct Enc {
    int rc = 0;
    Bytes key;
    bool truncated = false;
};

Enc Encode(kv_type t, const Bytes *stored, bool desc)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    Enc e;
    kv_error err{};
    e.rc = kv_key_append_value(&sb, t, stored ? stored->data() : nullptr, stored ? stored->size() : 0, desc,
                               &e.truncated, &err);
    e.key.assign(sb.data ? sb.data : "", sb.size);
    msgpack_sbuffer_destroy(&sb);
    return e;
}

Bytes Key(kv_type t, const Bytes &stored, bool desc = false)
{
    Enc e = Encode(t, &stored, desc);
    EXPECT_EQ(e.rc, 0) << Hex(stored);
    return e.key;
}

int Sign(int v) { return (v > 0) - (v < 0); }
int KeyCmp(const Bytes &a, const Bytes &b)
{
    int c = memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
    if (c != 0)
        return Sign(c);
    return Sign((int)(a.size() > b.size()) - (int)(a.size() < b.size()));
}

kv_type TypeOf(const std::string &name)
{
    static const std::pair<const char *, kv_type> types[] = {
        {"string", KV_T_STRING},     {"integer", KV_T_INTEGER}, {"float", KV_T_FLOAT}, {"boolean", KV_T_BOOLEAN},
        {"datetime", KV_T_DATETIME}, {"decimal", KV_T_DECIMAL}, {"enum", KV_T_ENUM},   {"bytes", KV_T_BYTES}};
    for (auto &p : types)
        if (name == p.first)
            return p.second;
    ADD_FAILURE() << "unknown type " << name;
    return KV_T_JSON;
}

// The stored bytes of a vector's JSON input (false for null).
bool StoredOf(kv_type t, const json_t *in, Bytes *out)
{
    if (json_is_null(in))
        return false;
    switch (t) {
    case KV_T_INTEGER: *out = MpInt(json_integer_value(in)); break;
    case KV_T_FLOAT: *out = MpFloat(json_real_value(in)); break;
    case KV_T_BOOLEAN: *out = MpBool(json_is_true(in)); break;
    case KV_T_DATETIME: {
        kv_time tm;
        EXPECT_TRUE(kv_time_parse(&tm, json_string_value(in), json_string_length(in))) << json_string_value(in);
        *out = MpTime(tm);
        break;
    }
    case KV_T_DECIMAL: {
        char norm[KV_DECIMAL_TEXT_MAX];
        size_t n = kv_decimal_normalize(norm, json_string_value(in), json_string_length(in));
        EXPECT_GT(n, 0u) << json_string_value(in);
        *out = MpStr(std::string(norm, n));
        break;
    }
    case KV_T_BYTES: *out = MpBin(Unhex(json_string_value(in))); break;
    default: *out = MpStr(std::string(json_string_value(in), json_string_length(in))); break;
    }
    return true;
}

class KeyVectors : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        json_error_t e;
        std::string path = std::string(KVORM_TEST_VECTORS_DIR) + "/keys.json";
        doc_ = json_load_file(path.c_str(), JSON_ALLOW_NUL, &e);
        if (!doc_)
            ADD_FAILURE() << path << ":" << e.line << ": " << e.text;
    }
    static void TearDownTestSuite()
    {
        json_decref(doc_);
        doc_ = nullptr;
    }
    void SetUp() override { ASSERT_NE(doc_, nullptr); }
    static const json_t *Section(const char *name) { return json_object_get(doc_, name); }

    static Bytes EncodeJson(const json_t *v, bool *truncated = nullptr)
    {
        kv_type t = TypeOf(json_string_value(json_object_get(v, "type")));
        Bytes stored;
        bool has = StoredOf(t, json_object_get(v, "input"), &stored);
        Enc e = Encode(t, has ? &stored : nullptr, json_is_true(json_object_get(v, "desc")));
        EXPECT_EQ(e.rc, 0);
        if (truncated)
            *truncated = e.truncated;
        return e.key;
    }

    static json_t *doc_;
};
json_t *KeyVectors::doc_ = nullptr;

TEST_F(KeyVectors, ContentLimitMatchesTheHeader)
{
    EXPECT_EQ(json_integer_value(json_object_get(doc_, "contentMax")), KV_KEY_CONTENT_MAX);
}

TEST_F(KeyVectors, EachValueEncodesToTheExactBytes)
{
    size_t i;
    json_t *v;
    const json_t *list = Section("vectors");
    ASSERT_GE(json_array_size(list), 80u);
    json_array_foreach(list, i, v) {
        char *dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        std::string what = std::string(dump).substr(0, 160);
        free(dump);
        bool truncated = false;
        Bytes key = EncodeJson(v, &truncated);
        EXPECT_EQ(Hex(key), json_string_value(json_object_get(v, "key_hex"))) << what;
        EXPECT_EQ(truncated, json_is_true(json_object_get(v, "truncated"))) << what;
        bool skip_cut = !truncated;
        EXPECT_EQ(kv_key_skip(key.data(), key.size(), &skip_cut), key.size()) << what;
        EXPECT_EQ(skip_cut, truncated) << what;
        // every proper prefix of an element is incomplete
        for (size_t n = 0; n < key.size(); n++)
            ASSERT_EQ(kv_key_skip(key.data(), n, nullptr), 0u) << what << " cut to " << n;
    }
}

TEST_F(KeyVectors, OrderedListsSortInKeyOrder)
{
    size_t i, j;
    json_t *o, *v;
    json_array_foreach(Section("ordered"), i, o) {
        kv_type t = TypeOf(json_string_value(json_object_get(o, "type")));
        bool desc = json_is_true(json_object_get(o, "desc"));
        std::vector<Bytes> keys;
        json_array_foreach(json_object_get(o, "values"), j, v) {
            Bytes stored;
            bool has = StoredOf(t, v, &stored);
            Enc e = Encode(t, has ? &stored : nullptr, desc);
            ASSERT_EQ(e.rc, 0);
            keys.push_back(e.key);
        }
        for (size_t k = 1; k < keys.size(); k++)
            EXPECT_LT(KeyCmp(keys[k - 1], keys[k]), 0)
                << json_string_value(json_object_get(o, "type")) << (desc ? " desc" : "") << " item " << k;
    }
}

TEST_F(KeyVectors, CompositeKeysAreTheirPartsEndToEnd)
{
    size_t i, j;
    json_t *c, *p;
    json_array_foreach(Section("composite"), i, c) {
        Bytes key;
        const json_t *parts = json_object_get(c, "parts");
        json_array_foreach(parts, j, p) key += EncodeJson(p);
        EXPECT_EQ(Hex(key), json_string_value(json_object_get(c, "key_hex")));
        size_t off = 0;
        for (j = 0; j < json_array_size(parts); j++) {
            size_t n = kv_key_skip(key.data() + off, key.size() - off, nullptr);
            ASSERT_GT(n, 0u);
            off += n;
        }
        EXPECT_EQ(off, key.size());
    }
}

kv_model Model(kv_id_kind kind)
{
    kv_model m{};
    m.name = "M";
    m.id_kind = kind;
    return m;
}

Bytes IdKey(const kv_model &m, const std::string &id, int *rc = nullptr)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    kv_error err{};
    int r = kv_key_append_id(&sb, &m, id.data(), id.size(), &err);
    if (rc)
        *rc = r;
    else
        EXPECT_EQ(r, 0) << id << ": " << err.message;
    Bytes b(sb.data ? sb.data : "", sb.size);
    msgpack_sbuffer_destroy(&sb);
    return b;
}

std::string IdOf(const Bytes &key, int nparts, int *rc = nullptr)
{
    char text[KV_MAX_ID_BYTES + 1];
    size_t n = 0;
    kv_error err{};
    int r = kv_key_id(text, &n, key.data(), key.size(), nparts, &err);
    if (rc)
        *rc = r;
    else
        EXPECT_EQ(r, 0) << Hex(key) << ": " << err.message;
    return r == 0 ? std::string(text, n) : std::string();
}

TEST_F(KeyVectors, IdsEncodeAndComeBack)
{
    size_t i;
    json_t *v;
    json_array_foreach(Section("ids"), i, v) {
        std::string kind = json_string_value(json_object_get(v, "id_kind"));
        std::string id(json_string_value(json_object_get(v, "id")), json_string_length(json_object_get(v, "id")));
        kv_model m = Model(kind == "integer" ? KV_ID_INTEGER : KV_ID_STRING);
        Bytes key = IdKey(m, id);
        EXPECT_EQ(Hex(key), json_string_value(json_object_get(v, "key_hex"))) << id;
        EXPECT_EQ(IdOf(key, 0), id);
        // behind two value parts, one of them descending and cut
        Bytes full = Key(KV_T_STRING, MpStr(std::string(300, 'q')), true) + Key(KV_T_INTEGER, MpInt(-5)) + key;
        EXPECT_EQ(IdOf(full, 2), id);
    }
}

TEST_F(KeyVectors, InvalidKeysAreRejectedBySkip)
{
    size_t i;
    json_t *v;
    json_array_foreach(Section("invalid_keys"), i, v) {
        Bytes key = Unhex(json_string_value(json_object_get(v, "hex")));
        EXPECT_EQ(kv_key_skip(key.data(), key.size(), nullptr), 0u) << json_string_value(json_object_get(v, "note"));
        int rc = 0;
        IdOf(key, 0, &rc);
        EXPECT_EQ(rc, KVORM_EINTERNAL);
    }
}

// ---- randomized order properties against reference comparisons ----

std::mt19937_64 &Rng()
{
    static std::mt19937_64 rng(20240506);
    return rng;
}
uint64_t R(uint64_t n) { return n ? Rng()() % n : Rng()(); }

// Checks that key order agrees with cmp on every pair: strictly for exact keys; for keys cut at the content limit
// only monotonically (a < b gives key(a) <= key(b)), as the format promises.
template <class V>
void CheckOrder(const std::vector<V> &vals, kv_type t, const std::function<Bytes(const V &)> &stored,
                const std::function<int(const V &, const V &)> &cmp)
{
    for (bool desc : {false, true}) {
        std::vector<Enc> enc;
        for (const V &v : vals) {
            Bytes s = stored(v);
            enc.push_back(Encode(t, &s, desc));
            ASSERT_EQ(enc.back().rc, 0);
            bool cut = false;
            ASSERT_EQ(kv_key_skip(enc.back().key.data(), enc.back().key.size(), &cut), enc.back().key.size());
            ASSERT_EQ(cut, enc.back().truncated);
        }
        for (size_t i = 0; i < vals.size(); i++) {
            for (size_t j = 0; j < vals.size(); j++) {
                int want = cmp(vals[i], vals[j]) * (desc ? -1 : 1);
                int got = KeyCmp(enc[i].key, enc[j].key);
                if (want == 0) {
                    ASSERT_EQ(got, 0) << "pair " << i << "," << j << ": equal values, different keys";
                } else if (enc[i].truncated || enc[j].truncated) {
                    ASSERT_NE(got, -want) << "pair " << i << "," << j << (desc ? " desc" : "") << ": "
                                          << Hex(enc[i].key) << " vs " << Hex(enc[j].key);
                } else {
                    ASSERT_EQ(got, want) << "pair " << i << "," << j << (desc ? " desc" : "") << ": "
                                         << Hex(enc[i].key) << " vs " << Hex(enc[j].key);
                }
            }
        }
    }
}

TEST(KeyOrder, IntegersOrderAsNumbers)
{
    std::vector<int64_t> v = {0, 1, -1, INT64_MAX, INT64_MIN, 127, 128, -32, -33, 255, 256, 65535, 65536};
    while (v.size() < 300) {
        int bits = (int)R(64);
        v.push_back((int64_t)(R(0) >> (63 - bits)) * (R(2) ? -1 : 1));
    }
    CheckOrder<int64_t>(v, KV_T_INTEGER, MpInt, [](const int64_t &a, const int64_t &b) { return (a > b) - (a < b); });
}

TEST(KeyOrder, FloatsOrderAsNumbersWithNegativeZeroEqualToZero)
{
    std::vector<double> v = {0.0, -0.0, 1.0, -1.0, 5e-324, -5e-324, std::numeric_limits<double>::max(),
                             -std::numeric_limits<double>::max(), std::numeric_limits<double>::min()};
    while (v.size() < 300) {
        uint64_t bits = R(0);
        double d;
        memcpy(&d, &bits, 8);
        if (std::isfinite(d))
            v.push_back(R(3) ? d : std::ldexp((double)(int64_t)R(2000) - 1000, (int)R(20) - 10));
    }
    CheckOrder<double>(v, KV_T_FLOAT, MpFloat, [](const double &a, const double &b) { return (a > b) - (a < b); });
}

TEST(KeyOrder, DatetimesOrderBySecondsThenNanoseconds)
{
    std::vector<kv_time> v = {{0, 0}, {-1, 999999999}, {-1, 0}, {KV_TIME_MIN_SEC, 0}, {KV_TIME_MAX_SEC, 999999999},
                              {4294967296LL, 0}, {17179869184LL, 1}};
    while (v.size() < 300) {
        kv_time t;
        t.sec = KV_TIME_MIN_SEC + (int64_t)R((uint64_t)(KV_TIME_MAX_SEC - KV_TIME_MIN_SEC + 1));
        if (R(3) == 0)
            t.sec = (int64_t)R(200) - 100;
        t.nsec = R(2) ? 0 : (uint32_t)R(1000000000);
        v.push_back(t);
    }
    CheckOrder<kv_time>(v, KV_T_DATETIME, MpTime, [](const kv_time &a, const kv_time &b) {
        if (a.sec != b.sec)
            return a.sec < b.sec ? -1 : 1;
        return (a.nsec > b.nsec) - (a.nsec < b.nsec);
    });
}

// Reference decimal comparison on normalized text: sign, then the integer part by length and digits, then the
// fraction digit by digit (a missing digit is 0).
int DecCmpAbs(const std::string &a, const std::string &b)
{
    auto split = [](const std::string &s, std::string *ip, std::string *fp) {
        size_t dot = s.find('.');
        *ip = s.substr(0, dot);
        *fp = dot == std::string::npos ? "" : s.substr(dot + 1);
        if (*ip == "0")
            ip->clear();
    };
    std::string ai, af, bi, bf;
    split(a, &ai, &af);
    split(b, &bi, &bf);
    if (ai.size() != bi.size())
        return ai.size() < bi.size() ? -1 : 1;
    if (int c = ai.compare(bi))
        return Sign(c);
    size_t n = std::max(af.size(), bf.size());
    af.resize(n, '0');
    bf.resize(n, '0');
    return Sign(af.compare(bf));
}
int DecCmp(const std::string &a, const std::string &b)
{
    bool na = a[0] == '-', nb = b[0] == '-';
    bool za = a == "0", zb = b == "0";
    int sa = za ? 0 : na ? -1 : 1, sb = zb ? 0 : nb ? -1 : 1;
    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (sa == 0)
        return 0;
    int c = DecCmpAbs(a.substr(na), b.substr(nb));
    return sa < 0 ? -c : c;
}

std::string RandomDecimal()
{
    std::string s = R(2) ? "-" : "";
    auto digits = [](size_t n, bool zeros) {
        std::string d;
        for (size_t i = 0; i < n; i++)
            d += (char)('0' + (zeros && R(3) ? 0 : R(10)));
        return d;
    };
    size_t long_len = R(8) == 0 ? 100 + R(80) : 0; // sometimes beyond the content limit
    s += digits(R(4) == 0 ? 0 : R(6) + (long_len ? long_len / 2 : 0), R(4) == 0);
    if (s.empty() || s == "-")
        s += "0";
    if (R(2))
        s += "." + (R(4) == 0 ? std::string(R(10), '0') : "") + digits(1 + R(6) + long_len / 2, R(4) == 0);
    char out[KV_DECIMAL_TEXT_MAX];
    size_t n = kv_decimal_normalize(out, s.data(), s.size());
    EXPECT_GT(n, 0u) << s;
    return std::string(out, n);
}

TEST(KeyOrder, DecimalsOrderNumericallyAtAnyPrecision)
{
    std::vector<std::string> v = {"0", "1", "10", "1.5", "-1.5", "-2", "-1", "0.001", "-0.001", "100", "99.99",
                                  "0.1", "0.09", std::string(128, '7'), std::string(129, '7'),
                                  std::string(129, '7') + "1", "7" + std::string(150, '0') + "1",
                                  "7" + std::string(150, '0') + "2", "-" + std::string(140, '3')};
    while (v.size() < 300)
        v.push_back(RandomDecimal());
    CheckOrder<std::string>(v, KV_T_DECIMAL, MpStr, DecCmp);
    // the reference itself: 1.5 < 10 and -2 < -1.5, never by text
    EXPECT_LT(DecCmp("1.5", "10"), 0);
    EXPECT_LT(DecCmp("-2", "-1.5"), 0);
}

std::string RandomText(bool utf8)
{
    static const char *pieces[] = {"\0", "\x01", "a", "b", "z", "\xc3\xa9", "\xf0\x9f\x98\x80", "\x7f"};
    static const int npieces = 8;
    std::string s;
    size_t len = R(6) == 0 ? 120 + R(20) : R(6);
    std::string base = R(2) ? std::string(R(6) == 0 ? 126 : 0, 'a') : "";
    s = base;
    while (s.size() < base.size() + len) {
        if (utf8) {
            const char *p = pieces[R(npieces)];
            s += p[0] ? std::string(p) : std::string(1, '\0');
        } else {
            s += (char)(R(3) == 0 ? 0 : R(3) == 0 ? 0xff : R(256));
        }
    }
    return s;
}

int ByteCmp(const std::string &a, const std::string &b)
{
    return KeyCmp(a, b); // unsigned lexicographic, a prefix first
}

TEST(KeyOrder, StringsOrderByTheirUtf8Bytes)
{
    std::vector<std::string> v = {"", std::string(1, '\0'), std::string(2, '\0'), "a", std::string("a\0", 2), "ab",
                                  std::string(128, 'a'), std::string(129, 'a'), std::string(127, 'a') + "b",
                                  std::string(127, 'a') + "\xc3\xa9", std::string(126, 'a') + "\xf0\x9f\x98\x80"};
    while (v.size() < 300)
        v.push_back(RandomText(true));
    CheckOrder<std::string>(v, KV_T_STRING, MpStr, ByteCmp);
    CheckOrder<std::string>(v, KV_T_ENUM, MpStr, ByteCmp);
}

TEST(KeyOrder, BytesOrderLexicographically)
{
    std::vector<std::string> v = {"", std::string(1, '\0'), std::string("\0\xff", 2), "\xff", std::string(128, '\0'),
                                  std::string(129, '\0')};
    while (v.size() < 300)
        v.push_back(RandomText(false));
    CheckOrder<std::string>(v, KV_T_BYTES, MpBin, ByteCmp);
}

TEST(KeyOrder, BooleansAndNullsComeInTheirPlace)
{
    Bytes f = Key(KV_T_BOOLEAN, MpBool(false)), t = Key(KV_T_BOOLEAN, MpBool(true));
    Enc null = Encode(KV_T_BOOLEAN, nullptr, false), null_desc = Encode(KV_T_BOOLEAN, nullptr, true);
    EXPECT_LT(KeyCmp(null.key, f), 0);
    EXPECT_LT(KeyCmp(f, t), 0);
    EXPECT_GT(KeyCmp(Key(KV_T_BOOLEAN, MpBool(false), true), Key(KV_T_BOOLEAN, MpBool(true), true)), 0);
    EXPECT_GT(KeyCmp(null_desc.key, Key(KV_T_BOOLEAN, MpBool(false), true)), 0); // nulls last descending
    // null is first for every type, ascending
    for (const Bytes &k : {Key(KV_T_INTEGER, MpInt(INT64_MIN)), Key(KV_T_STRING, MpStr("")),
                           Key(KV_T_DECIMAL, MpStr("-" + std::string(300, '9'))), Key(KV_T_BYTES, MpBin(""))})
        EXPECT_LT(KeyCmp(null.key, k), 0);
}

TEST(KeyOrder, CompositeKeysOrderByPartsWithADescendingPart)
{
    struct Row {
        std::string room;
        int64_t score;
        std::string id;
    };
    std::vector<Row> rows;
    const char *ids[] = {"a", "b", "ab", ""};
    while (rows.size() < 200)
        rows.push_back({R(2) ? "r" : std::string(R(3), 'r') + (R(2) ? std::string(1, '\0') : ""),
                        (int64_t)R(7) - 3, ids[R(4)]});
    kv_model m = Model(KV_ID_STRING);
    std::vector<Bytes> keys;
    for (const Row &r : rows)
        keys.push_back(Key(KV_T_STRING, MpStr(r.room)) + Key(KV_T_INTEGER, MpInt(r.score), true) + IdKey(m, r.id));
    for (size_t i = 0; i < rows.size(); i++) {
        for (size_t j = 0; j < rows.size(); j++) {
            const Row &a = rows[i], &b = rows[j];
            int want = ByteCmp(a.room, b.room);
            if (!want)
                want = (a.score < b.score) - (a.score > b.score);
            if (!want)
                want = ByteCmp(a.id, b.id);
            ASSERT_EQ(KeyCmp(keys[i], keys[j]), want) << i << "," << j;
        }
        EXPECT_EQ(IdOf(keys[i], 2), rows[i].id);
    }
}

// ---- prefixes ----

Bytes Prefix(const std::string &text)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    kv_error err{};
    Bytes s = MpStr(text);
    EXPECT_EQ(kv_key_append_string_prefix(&sb, s.data(), s.size(), &err), 0);
    Bytes b(sb.data ? sb.data : "", sb.size);
    msgpack_sbuffer_destroy(&sb);
    return b;
}

Bytes PrefixEnd(const Bytes &p)
{
    std::vector<char> out(p.size() + 1);
    size_t n = 99;
    kv_key_prefix_end(out.data(), &n, p.data(), p.size());
    return Bytes(out.data(), n);
}

bool StartsWith(const std::string &s, const std::string &p) { return s.compare(0, p.size(), p) == 0; }

TEST(KeyPrefix, AStringPrefixMatchesExactlyTheValuesStartingWithIt)
{
    std::vector<std::string> vals;
    while (vals.size() < 300)
        vals.push_back(RandomText(true));
    for (int round = 0; round < 200; round++) {
        std::string p = vals[R(vals.size())];
        p = p.substr(0, R(p.size() + 1));
        while (!p.empty() && ((unsigned char)p.back() & 0xc0) == 0x80)
            p.pop_back(); // keep it UTF-8: drop continuation bytes, then the lead byte
        if (!p.empty() && (unsigned char)p.back() >= 0xc0)
            p.pop_back();
        Bytes pk = Prefix(p), end = PrefixEnd(pk);
        for (const std::string &v : vals) {
            Bytes k = Key(KV_T_STRING, MpStr(v));
            bool in_range = KeyCmp(k, pk) >= 0 && (end.empty() || KeyCmp(k, end) < 0);
            EXPECT_EQ(StartsWith(k, pk), in_range);
            if (p.size() <= KV_KEY_CONTENT_MAX) {
                EXPECT_EQ(StartsWith(k, pk), StartsWith(v, p)) << Hex(Bytes(p)) << " / " << Hex(Bytes(v));
            } else if (StartsWith(v, p)) {
                EXPECT_TRUE(StartsWith(k, pk)); // a long prefix finds a superset: the query re-checks
            }
        }
    }
}

TEST(KeyPrefix, PrefixEndIncrementsTheLastByteBelow0xff)
{
    EXPECT_EQ(PrefixEnd("ab"), "ac");
    EXPECT_EQ(PrefixEnd("a\xff\xff"), "b");
    EXPECT_EQ(PrefixEnd(std::string("\x50\x00", 2)), "\x50\x01");
    EXPECT_EQ(PrefixEnd("\xfe"), "\xff");
    EXPECT_EQ(PrefixEnd("\xff\xff"), "");
    EXPECT_EQ(PrefixEnd(""), "");
}

// ---- skipping and ids ----

TEST(KeySkip, ReportsCutElementsAndStopsAtTheirEnd)
{
    Bytes a = Key(KV_T_BYTES, MpBin(std::string(200, '\0')), true), b = Key(KV_T_DECIMAL, MpStr(std::string(200, '9')));
    Bytes k = a + b;
    bool cut = false;
    ASSERT_EQ(kv_key_skip(k.data(), k.size(), &cut), a.size());
    EXPECT_TRUE(cut);
    EXPECT_EQ(a.size(), 1 + 2 * KV_KEY_CONTENT_MAX + 2u);
    ASSERT_EQ(kv_key_skip(b.data(), b.size(), &cut), b.size());
    EXPECT_TRUE(cut);
    Bytes c = Key(KV_T_STRING, MpStr("x"));
    ASSERT_EQ(kv_key_skip(c.data(), c.size(), &cut), c.size());
    EXPECT_FALSE(cut);
}

TEST(KeyId, IntegerIdsAreCanonicalInt64Text)
{
    kv_model m = Model(KV_ID_INCREMENT);
    for (const char *ok : {"0", "1", "-1", "9223372036854775807", "-9223372036854775808"})
        EXPECT_EQ(IdOf(IdKey(m, ok), 0), ok);
    for (const char *bad : {"", "-", "01", "-0", "+1", "1a", " 1", "9223372036854775808", "-9223372036854775809",
                            "99999999999999999999"}) {
        int rc = 0;
        IdKey(m, bad, &rc);
        EXPECT_EQ(rc, KVORM_EINTERNAL) << bad;
    }
    // integer ids order as numbers
    EXPECT_LT(KeyCmp(IdKey(m, "-12"), IdKey(m, "9")), 0);
    EXPECT_LT(KeyCmp(IdKey(m, "9"), IdKey(m, "10")), 0);
}

TEST(KeyId, StringIdsAreNeverCut)
{
    kv_model m = Model(KV_ID_ULID);
    std::string id(KV_MAX_ID_BYTES, '\0');
    Bytes k = IdKey(m, id);
    EXPECT_EQ(k.size(), 1 + 2 * KV_MAX_ID_BYTES + 2u);
    EXPECT_EQ(IdOf(k, 0), id);
    int rc = 0;
    IdKey(m, std::string(KV_MAX_ID_BYTES + 1, 'x'), &rc);
    EXPECT_EQ(rc, KVORM_EINTERNAL);
    IdKey(m, "\xff", &rc);
    EXPECT_EQ(rc, KVORM_EINTERNAL);
}

TEST(KeyId, MalformedKeysAreRejected)
{
    kv_model m = Model(KV_ID_STRING);
    Bytes id = IdKey(m, "abc");
    Bytes part = Key(KV_T_INTEGER, MpInt(5));
    std::vector<std::pair<Bytes, int>> bad = {
        {id + "x", 0},                                 // bytes after the id
        {part + id, 0},                                // a part where the id should be
        {id, 1},                                       // no id after the part
        {part + id.substr(0, id.size() - 1), 1},       // id cut short
        {Key(KV_T_STRING, MpStr("abc"), true), 0},     // a descending id
        {Key(KV_T_STRING, MpStr(std::string(200, 'x'))), 0}, // a cut id
        {Key(KV_T_BOOLEAN, MpBool(true)), 0},          // not an id type
        {part + id, -1},                               // negative part count
        {Unhex("50ff0000"), 0},                        // a string id that is not UTF-8
    };
    for (auto &b : bad) {
        int rc = 0;
        IdOf(b.first, b.second, &rc);
        EXPECT_EQ(rc, KVORM_EINTERNAL) << Hex(b.first) << " parts " << b.second;
    }
    EXPECT_EQ(IdOf(part + id, 1), "abc");
}

// ---- malformed stored values ----

TEST(KeyValue, MalformedStoredValuesAreRejectedAndAppendNothing)
{
    std::vector<std::pair<kv_type, Bytes>> bad = {
        {KV_T_INTEGER, ""},
        {KV_T_INTEGER, "\x01\x02"},                       // trailing byte
        {KV_T_INTEGER, Unhex("cfffffffffffffffff")},      // uint64 above int64
        {KV_T_INTEGER, Unhex("cd01")},                    // short
        {KV_T_INTEGER, Unhex("c0")},                      // nil
        {KV_T_FLOAT, Unhex("ca3f800000")},                // float32
        {KV_T_FLOAT, Unhex("cb7ff8000000000000")},        // NaN
        {KV_T_FLOAT, Unhex("cbfff0000000000000")},        // -inf
        {KV_T_FLOAT, Unhex("cb3ff00000000000")},          // short
        {KV_T_BOOLEAN, Unhex("c0")},
        {KV_T_BOOLEAN, Unhex("c3c3")},
        {KV_T_DATETIME, Unhex("d6fe00000000")},           // ext type -2
        {KV_T_DATETIME, Unhex("c70cff3b9aca000000000000000000")}, // nanoseconds 10^9
        {KV_T_DATETIME, Unhex("d6ff0000")},               // short
        {KV_T_DECIMAL, MpStr("")},
        {KV_T_DECIMAL, MpStr("1.50")},
        {KV_T_DECIMAL, MpStr("01")},
        {KV_T_DECIMAL, MpStr("-0")},
        {KV_T_DECIMAL, MpStr("1e3")},
        {KV_T_DECIMAL, MpStr("+1")},
        {KV_T_DECIMAL, MpStr(".5")},
        {KV_T_DECIMAL, MpBin("1")},
        {KV_T_STRING, MpStr("\xff")},                     // not UTF-8
        {KV_T_STRING, Unhex("a3616263ff")},               // longer than its header
        {KV_T_STRING, MpBin("a")},
        {KV_T_ENUM, Unhex("a2")},
        {KV_T_BYTES, MpStr("a")},
        {KV_T_BYTES, Unhex("c40361")},
        {KV_T_JSON, MpStr("a")},                          // json cannot be indexed
    };
    for (auto &b : bad) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_sbuffer_write(&sb, "K", 1);
        kv_error err{};
        bool cut = true;
        int rc = kv_key_append_value(&sb, b.first, b.second.data(), b.second.size(), false, &cut, &err);
        EXPECT_EQ(rc, KVORM_EINTERNAL) << (int)b.first << " " << Hex(b.second);
        EXPECT_EQ(err.code, KVORM_EINTERNAL);
        EXPECT_NE(err.message[0], 0);
        EXPECT_EQ(sb.size, 1u) << "nothing appended";
        EXPECT_FALSE(cut);
        msgpack_sbuffer_destroy(&sb);
    }
}

TEST(KeyValue, NonShortestStoredFormsGiveTheSameKey)
{
    EXPECT_EQ(Key(KV_T_INTEGER, Unhex("d3ffffffffffffffff")), Key(KV_T_INTEGER, MpInt(-1)));
    EXPECT_EQ(Key(KV_T_INTEGER, Unhex("cd0005")), Key(KV_T_INTEGER, MpInt(5)));
    EXPECT_EQ(Key(KV_T_STRING, Unhex("d90161")), Key(KV_T_STRING, MpStr("a")));
    EXPECT_EQ(Key(KV_T_DATETIME, Unhex("c70cff000000000000000000000000")), Key(KV_T_DATETIME, MpTime({0, 0})));
    EXPECT_EQ(Key(KV_T_FLOAT, MpFloat(-0.0)), Key(KV_T_FLOAT, MpFloat(0.0)));
}

} // namespace
