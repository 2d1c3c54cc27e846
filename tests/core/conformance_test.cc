// The C runner of the conformance corpus (tests/conformance/README.md): every case of every file under
// tests/conformance/cases/ is one test. Requests go through kvorm_exec as MessagePack built from the case's JSON
// (tagged values -> their wire types); responses are turned back into tagged JSON and compared with the case.
#include <gtest/gtest.h>
#include <jansson.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <ostream>
#include <string>
#include <vector>

#include "redis_harness.h"

#ifndef KVORM_TEST_CONFORMANCE_DIR
#error "KVORM_TEST_CONFORMANCE_DIR must name tests/conformance (tests/CMakeLists.txt)"
#endif

namespace {

using kt::JsonPtr;

JsonPtr Own(json_t *j) { return JsonPtr(j, json_decref); }

// One case: its file's document (for the named schemas and datasets) and its index in "cases".
struct CaseRef {
    std::string file;   // topic, from the file name
    std::string name;   // the case's name
    std::string test;   // the GoogleTest name: [A-Za-z0-9_] only, unique
    JsonPtr doc;        // the whole file
    size_t index = 0;
};

// What GoogleTest prints for a failing case, instead of the struct's bytes.
void PrintTo(const CaseRef &c, std::ostream *os) { *os << c.file << ": " << c.name; }

// ---- values -----------------------------------------------------------------------------------------------------

constexpr long long kSafeMax = 9007199254740991LL;  // 2^53 - 1: what every language holds as a plain number

// Days from 1970-01-01 to y-m-d and back (proleptic Gregorian; H. Hinnant's algorithms).
long long DaysFromCivil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<long long>(doe) - 719468;
}

void CivilFromDays(long long z, long long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const long long era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = static_cast<long long>(yoe) + era * 400 + (*m <= 2);
}

// YYYY-MM-DDTHH:MM:SS[.1-9 digits]Z -> seconds and nanoseconds since the epoch.
bool ParseDatetime(const std::string &s, long long *sec, long *ns)
{
    int y, mo, d, h, mi, se, n = 0;
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || n != 19)
        return false;
    size_t i = 19;
    long frac = 0;
    int digits = 0;
    if (i < s.size() && s[i] == '.') {
        for (i++; i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 9; i++, digits++)
            frac = frac * 10 + (s[i] - '0');
        if (digits == 0)
            return false;
    }
    if (i + 1 != s.size() || s[i] != 'Z')
        return false;
    for (; digits < 9; digits++)
        frac *= 10;
    *sec = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60 + se;
    *ns = frac;
    return true;
}

std::string FormatDatetime(long long sec, long ns)
{
    long long days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
    long long rem = sec - days * 86400;
    long long y;
    unsigned m, d;
    CivilFromDays(days, &y, &m, &d);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld", y, m, d, rem / 3600, rem / 60 % 60,
                  rem % 60);
    std::string out = buf;
    if (ns != 0) {
        std::snprintf(buf, sizeof buf, ".%09ld", ns);
        out += buf;
    }
    return out + "Z";
}

bool DecodeTimestamp(const std::string &p, long long *sec, long *ns)
{
    auto be = [&](size_t off, size_t n) {
        uint64_t v = 0;
        for (size_t k = 0; k < n; k++)
            v = (v << 8) | static_cast<unsigned char>(p[off + k]);
        return v;
    };
    if (p.size() == 4) {
        *sec = static_cast<long long>(be(0, 4));
        *ns = 0;
    } else if (p.size() == 8) {
        uint64_t v = be(0, 8);
        *ns = static_cast<long>(v >> 34);
        *sec = static_cast<long long>(v & ((1ULL << 34) - 1));
    } else if (p.size() == 12) {
        *ns = static_cast<long>(be(0, 4));
        *sec = static_cast<long long>(be(4, 8));
    } else {
        return false;
    }
    return true;
}

bool Unbase64(const std::string &in, std::string *out)
{
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    if (in.size() % 4 != 0)
        return false;
    out->clear();
    for (size_t i = 0; i < in.size(); i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = in[i + k];
            if (c == '=' && i + 4 == in.size() && k >= 2) {
                v[k] = 0;
                pad++;
            } else if ((v[k] = val(c)) < 0 || pad > 0) {
                return false;
            }
        }
        uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
        out->push_back(static_cast<char>(n >> 16));
        if (pad < 2)
            out->push_back(static_cast<char>((n >> 8) & 0xff));
        if (pad < 1)
            out->push_back(static_cast<char>(n & 0xff));
    }
    return true;
}

// The tag of a single-key map {"$decimal": ...} and the like, or "" for an ordinary map.
std::string TagOf(const json_t *j)
{
    if (!json_is_object(j) || json_object_size(j) != 1)
        return "";
    const char *key = json_object_iter_key(json_object_iter(const_cast<json_t *>(j)));
    if (std::strcmp(key, "$decimal") == 0 || std::strcmp(key, "$datetime") == 0 || std::strcmp(key, "$bytes") == 0 ||
        std::strcmp(key, "$bigint") == 0 || std::strcmp(key, "$any") == 0)
        return key;
    return "";
}

std::string TagText(const json_t *j, const std::string &tag)
{
    const json_t *v = json_object_get(j, tag.c_str());
    return json_is_string(v) ? json_string_value(v) : "";
}

// Tagged JSON -> the MessagePack value of a request. *err says what could not be converted.
mp::V ToMp(const json_t *j, std::string *err)
{
    switch (json_typeof(j)) {
    case JSON_NULL:
        return mp::nil();
    case JSON_TRUE:
        return mp::boolean(true);
    case JSON_FALSE:
        return mp::boolean(false);
    case JSON_INTEGER:
        return mp::i(json_integer_value(j));
    case JSON_REAL:
        return mp::f64(json_real_value(j));
    case JSON_STRING:
        return mp::str(std::string(json_string_value(j), json_string_length(j)));
    case JSON_ARRAY: {
        std::vector<mp::V> items;
        for (size_t k = 0; k < json_array_size(j); k++)
            items.push_back(ToMp(json_array_get(j, k), err));
        return mp::arr(std::move(items));
    }
    case JSON_OBJECT: {
        std::string tag = TagOf(j);
        std::string text = TagText(j, tag);
        if (tag == "$decimal")
            return mp::str(text);  // requests take a decimal as its text
        if (tag == "$datetime") {
            long long sec;
            long ns;
            if (!ParseDatetime(text, &sec, &ns))
                *err = "bad $datetime " + text;
            return mp::ext(-1, kt::TsPayload(sec, static_cast<unsigned>(ns)));
        }
        if (tag == "$bytes") {
            std::string raw;
            if (!Unbase64(text, &raw))
                *err = "bad $bytes " + text;
            return mp::bin(raw);
        }
        if (tag == "$bigint") {
            errno = 0;
            char *end = nullptr;
            if (!text.empty() && text[0] != '-') {
                unsigned long long u = std::strtoull(text.c_str(), &end, 10);
                if (errno != 0 || *end != '\0')
                    *err = "bad $bigint " + text;
                return u > static_cast<unsigned long long>(INT64_MAX) ? mp::u(u) : mp::i(static_cast<int64_t>(u));
            }
            long long v = std::strtoll(text.c_str(), &end, 10);
            if (errno != 0 || end == nullptr || *end != '\0')
                *err = "bad $bigint " + text;
            return mp::i(v);
        }
        std::vector<std::pair<mp::V, mp::V>> items;
        const char *key;
        json_t *v;
        json_object_foreach(const_cast<json_t *>(j), key, v) items.emplace_back(mp::str(key), ToMp(v, err));
        return mp::map(std::move(items));
    }
    }
    return mp::nil();
}

json_t *Tagged(const char *tag, const std::string &text)
{
    json_t *o = json_object();
    json_object_set_new(o, tag, json_stringn(text.data(), text.size()));
    return o;
}

json_t *IntJson(long long v)
{
    if (v > kSafeMax || v < -kSafeMax)
        return Tagged("$bigint", std::to_string(v));
    return json_integer(v);
}

// A response value -> tagged JSON. *err says what has no JSON form.
json_t *FromMp(const mp::V &v, std::string *err)
{
    switch (v.kind) {
    case mp::V::Nil:
        return json_null();
    case mp::V::Bool:
        return json_boolean(v.b);
    case mp::V::Int:
        return IntJson(v.i);
    case mp::V::UInt:
        if (v.u > static_cast<uint64_t>(kSafeMax))
            return Tagged("$bigint", std::to_string(v.u));
        return json_integer(static_cast<json_int_t>(v.u));
    case mp::V::F32:
    case mp::V::F64:
        return json_real(v.d);
    case mp::V::Str:
        return json_stringn(v.s.data(), v.s.size());
    case mp::V::Bin:
        return Tagged("$bytes", kt::Base64(v.s));
    case mp::V::Ext:
        if (v.ext_type == 1)
            return Tagged("$decimal", v.s);
        if (v.ext_type == -1) {
            long long sec;
            long ns;
            if (DecodeTimestamp(v.s, &sec, &ns))
                return Tagged("$datetime", FormatDatetime(sec, ns));
        }
        *err = "an extension of type " + std::to_string(v.ext_type);
        return json_null();
    case mp::V::Arr: {
        json_t *a = json_array();
        for (const mp::V &item : v.arr)
            json_array_append_new(a, FromMp(item, err));
        return a;
    }
    case mp::V::Map: {
        json_t *o = json_object();
        for (const auto &kv : v.map) {
            if (kv.first.kind != mp::V::Str) {
                *err = "a map key that is not a string";
                continue;
            }
            json_object_setn_new(o, kv.first.s.data(), kv.first.s.size(), FromMp(kv.second, err));
        }
        return o;
    }
    default:
        *err = "a value of kind " + std::to_string(static_cast<int>(v.kind));
        return json_null();
    }
}

std::string Dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    std::string out = s ? s : "?";
    free(s);
    return out;
}

// The integer text of a JSON integer or a $bigint, "" for anything else.
std::string IntText(const json_t *j)
{
    if (json_is_integer(j))
        return std::to_string(json_integer_value(j));
    if (TagOf(j) == "$bigint")
        return TagText(j, "$bigint");
    return "";
}

// Compares an expectation with an actual result (README "Comparison"); *why names the first difference by path.
bool Match(const json_t *want, const json_t *got, const std::string &path, std::string *why)
{
    auto fail = [&](const std::string &what) {
        *why = (path.empty() ? std::string("$") : path) + ": " + what + ": expected " + Dump(want) + ", got " +
               Dump(got);
        return false;
    };
    std::string tag = TagOf(want);
    if (tag == "$any")
        return true;
    if (tag == "$bigint" || json_is_integer(want)) {
        std::string g = IntText(got);
        if (!g.empty())
            return g == IntText(want) ? true : fail("another integer");
        if (json_is_real(got) && json_is_integer(want) &&
            json_real_value(got) == static_cast<double>(json_integer_value(want)))
            return true;
        return fail("not that number");
    }
    if (json_is_real(want)) {
        if (json_is_real(got) || json_is_integer(got))
            return json_number_value(got) == json_real_value(want) ? true : fail("another number");
        return fail("not a number");
    }
    if (tag == "$decimal" || tag == "$bytes") {
        if (TagOf(got) != tag)
            return fail("not " + tag);
        return TagText(want, tag) == TagText(got, tag) ? true : fail("another value");
    }
    if (tag == "$datetime") {
        long long ws, gs;
        long wn, gn;
        if (TagOf(got) != tag)
            return fail("not a datetime");
        if (!ParseDatetime(TagText(want, tag), &ws, &wn))
            return fail("the case's datetime is not readable");
        if (!ParseDatetime(TagText(got, tag), &gs, &gn))
            return fail("the result's datetime is not readable");
        return ws == gs && wn == gn ? true : fail("another instant");
    }
    if (json_is_object(want)) {
        if (!json_is_object(got) || !TagOf(got).empty())
            return fail("not a map");
        bool partial = json_is_true(json_object_get(want, "$partial"));
        const char *key;
        json_t *v;
        json_object_foreach(const_cast<json_t *>(want), key, v)
        {
            if (partial && std::strcmp(key, "$partial") == 0)
                continue;
            const json_t *g = json_object_get(got, key);
            if (!g)
                return fail(std::string("no key ") + key);
            if (!Match(v, g, path + "." + key, why))
                return false;
        }
        if (!partial) {
            json_object_foreach(const_cast<json_t *>(got), key, v)
            {
                if (!json_object_get(want, key))
                    return fail(std::string("an unexpected key ") + key);
            }
        }
        return true;
    }
    if (json_is_array(want)) {
        if (!json_is_array(got))
            return fail("not an array");
        if (json_array_size(want) != json_array_size(got))
            return fail("another length");
        for (size_t k = 0; k < json_array_size(want); k++)
            if (!Match(json_array_get(want, k), json_array_get(got, k), path + "[" + std::to_string(k) + "]", why))
                return false;
        return true;
    }
    return json_equal(want, got) ? true : fail("another value");
}

// ---- loading the corpus -----------------------------------------------------------------------------------------

std::string TestName(const std::string &file, size_t index, const std::string &name)
{
    char num[16];
    std::snprintf(num, sizeof num, "_%03zu_", index);
    std::string out = file + num;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        out += ok ? c : '_';
    }
    return out.substr(0, 120);
}

std::vector<CaseRef> LoadCorpus()
{
    std::vector<CaseRef> out;
    std::string dir = std::string(KVORM_TEST_CONFORMANCE_DIR) + "/cases";
    std::vector<std::string> files;
    if (DIR *d = opendir(dir.c_str())) {
        while (dirent *e = readdir(d)) {
            std::string n = e->d_name;
            if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0)
                files.push_back(n);
        }
        closedir(d);
    }
    std::sort(files.begin(), files.end());
    for (const std::string &f : files) {
        json_error_t jerr;
        JsonPtr doc = Own(json_load_file((dir + "/" + f).c_str(), 0, &jerr));
        std::string topic = f.substr(0, f.size() - 5);
        const json_t *cases = doc ? json_object_get(doc.get(), "cases") : nullptr;
        if (!json_is_array(cases)) {
            // A file that does not load is one failing test, named after it.
            CaseRef bad;
            bad.file = topic;
            bad.name = std::string("unreadable: ") + jerr.text;
            bad.test = TestName(topic, 0, "unreadable");
            out.push_back(bad);
            continue;
        }
        for (size_t k = 0; k < json_array_size(cases); k++) {
            CaseRef c;
            c.file = topic;
            const json_t *name = json_object_get(json_array_get(cases, k), "name");
            c.name = json_is_string(name) ? json_string_value(name) : "(no name)";
            c.test = TestName(topic, k, c.name);
            c.doc = doc;
            c.index = k;
            out.push_back(c);
        }
    }
    if (out.empty()) {
        CaseRef none;
        none.file = "corpus";
        none.name = "no case files under " + dir;
        none.test = "no_cases";
        out.push_back(none);
    }
    return out;
}

// A named entry of the file (schemas, datasets) or the value itself when it is given inline.
const json_t *Resolve(const json_t *doc, const char *section, const json_t *v)
{
    if (json_is_string(v))
        return json_object_get(json_object_get(doc, section), json_string_value(v));
    return v;
}

std::atomic<int> g_namespaces{0};

class Conformance : public kt::KvTest, public ::testing::WithParamInterface<CaseRef> {
protected:
    // Runs one request; on success *result is its tagged JSON, on failure *code is the error's code.
    int Run(kvorm_db *db, const std::string &model, const std::string &op, const json_t *args, JsonPtr *result,
            std::string *code, std::string *err)
    {
        std::vector<std::pair<mp::V, mp::V>> items = {{"model", model}, {"op", op}};
        if (args)
            items.emplace_back("args", ToMp(args, err));
        kt::MRes r = kt::Exec(db, mp::map(std::move(items)));
        if (!r.parsed) {
            *err = "the response is not one MessagePack document";
            return r.rc;
        }
        if (r.rc != KVORM_OK) {
            const mp::V &c = r.doc["code"];
            *code = c.kind == mp::V::Str ? c.s : "(no code)";
            *result = Own(FromMp(r.doc, err));
            return r.rc;
        }
        *result = Own(FromMp(r.doc, err));
        return r.rc;
    }

    // Where the case's db is opened: "" for the main Redis server.
    virtual std::string Url() { return ""; }
    void RunCase();
};

// The same corpus on the embedded LMDB engine: a fresh environment per case (docs/c-api.md, lmdb://).
class ConformanceLmdb : public Conformance {
protected:
    void TearDown() override
    {
        Conformance::TearDown(); // closes the db first
        if (!dir_.empty()) {
            EXPECT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0);
        }
    }
    std::string Url() override
    {
        char tmpl[] = "/tmp/kvorm-cf-lmdb-XXXXXX";
        const char *d = mkdtemp(tmpl);
        if (!d)
            return "lmdb:///nonexistent-mkdtemp-failed";
        dir_ = d;
        return "lmdb://" + dir_ + "?sync=nosync&mapsize=16777216";
    }
    std::string dir_;
};

TEST_P(Conformance, Case) { RunCase(); }
TEST_P(ConformanceLmdb, Case) { RunCase(); }

void Conformance::RunCase()
{
    const CaseRef &ref = GetParam();
    ASSERT_TRUE(ref.doc) << ref.file << ": " << ref.name;
    const json_t *doc = ref.doc.get();
    const json_t *c = json_array_get(json_object_get(doc, "cases"), ref.index);
    SCOPED_TRACE(ref.file + ": " + ref.name);

    const json_t *schema = Resolve(doc, "schemas", json_object_get(c, "schema"));
    ASSERT_TRUE(json_is_object(schema)) << "the case has no schema";
    JsonPtr own_schema = Own(json_deep_copy(schema));
    std::string ns = "cf" + std::to_string(getpid()) + "_" + std::to_string(g_namespaces++);
    json_object_set_new(own_schema.get(), "namespace", json_string(ns.c_str()));
    kvorm_db *db = Open(Dump(own_schema.get()), Url());
    ASSERT_NE(db, nullptr) << kt::LastError();

    if (const json_t *data = Resolve(doc, "datasets", json_object_get(c, "data"))) {
        const char *model;
        json_t *records;
        json_object_foreach(const_cast<json_t *>(data), model, records)
        {
            for (size_t k = 0; k < json_array_size(records); k++) {
                JsonPtr args = Own(json_pack("{sO}", "data", json_array_get(records, k)));
                JsonPtr result;
                std::string code, err;
                int rc = Run(db, model, "create", args.get(), &result, &code, &err);
                ASSERT_TRUE(err.empty()) << err;
                ASSERT_EQ(rc, KVORM_OK) << "creating " << model << " " << Dump(json_array_get(records, k)) << ": "
                                        << (result ? Dump(result.get()) : "");
            }
        }
    }

    const json_t *steps = json_object_get(c, "steps");
    for (size_t k = 0; k < json_array_size(steps); k++) {
        const json_t *s = json_array_get(steps, k);
        const char *model = json_string_value(json_object_get(s, "model"));
        const char *op = json_string_value(json_object_get(s, "op"));
        ASSERT_TRUE(model && op) << "step " << k << " has no model or op";
        const json_t *args = json_object_get(s, "args");
        std::string where = "step " + std::to_string(k) + " (" + model + "." + op + " " +
                            (args ? Dump(args) : std::string("")) + ")";
        JsonPtr result;
        std::string code, err;
        int rc = Run(db, model, op, args, &result, &code, &err);
        ASSERT_TRUE(err.empty()) << where << ": " << err;
        if (const json_t *want_code = json_object_get(s, "expectError")) {
            EXPECT_NE(rc, KVORM_OK) << where << ": expected " << json_string_value(want_code) << ", got "
                                    << (result ? Dump(result.get()) : "");
            if (rc != KVORM_OK) {
                EXPECT_EQ(code, json_string_value(want_code)) << where << ": " << Dump(result.get());
            }
            continue;
        }
        EXPECT_EQ(rc, KVORM_OK) << where << ": " << (result ? Dump(result.get()) : "");
        if (rc != KVORM_OK)
            continue;
        if (const json_t *want = json_object_get(s, "expect")) {
            std::string why;
            EXPECT_TRUE(Match(want, result.get(), "", &why)) << where << ": " << why;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Corpus, Conformance, ::testing::ValuesIn(LoadCorpus()),
                         [](const ::testing::TestParamInfo<CaseRef> &info) { return info.param.test; });
INSTANTIATE_TEST_SUITE_P(Corpus, ConformanceLmdb, ::testing::ValuesIn(LoadCorpus()),
                         [](const ::testing::TestParamInfo<CaseRef> &info) { return info.param.test; });

}  // namespace
