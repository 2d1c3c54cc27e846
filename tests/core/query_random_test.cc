// A randomized differential test of the query engine (docs/queries.md): a few thousand random records of every
// indexable type, created through the protocol and kept here as the reference; then random findMany, findFirst,
// count and aggregate queries (where trees of every operator, orderBy, take, skip, cursor), each compared with the
// brute-force answer of query_util.h over the same records, with random writes in between. Seeded: the seed
// (KVORM_TEST_SEED, default fixed) is printed, and a failure names it and the request, so it replays exactly.
#include <cinttypes>
#include <cstdint>
#include <limits>
#include <random>

#include "query_util.h"
#include "test_util.h"

namespace kt {
namespace {

using q::Rec;
using q::Type;
using q::Val;

constexpr const char *kSchema = R"json({
  "namespace": "qr",
  "models": {
    "R": {
      "id": {"type": "integer"},
      "fields": {
        "s": {"type": "string", "optional": true, "index": true},
        "i": {"type": "integer", "index": true},
        "f": {"type": "float", "optional": true, "index": true},
        "b": {"type": "boolean", "optional": true},
        "d": {"type": "datetime", "optional": true, "index": true},
        "dec": {"type": "decimal", "optional": true, "index": true},
        "e": {"type": "enum", "values": ["red", "green", "blue", "amber"]},
        "by": {"type": "bytes", "optional": true, "index": true},
        "u": {"type": "string", "optional": true, "unique": true},
        "n": {"type": "integer", "optional": true},
        "t": {"type": "string", "optional": true}},
      "indexes": [["e", "i"],
                  {"name": "s_d", "fields": ["s", {"field": "d", "order": "desc"}]},
                  ["b", {"field": "dec", "order": "desc"}, "i"]]}}})json";

enum F { ID, S, I, FL, B, D, DEC, E, BY, U, N, T, NF };

q::Model MakeModel()
{
    q::Model m;
    m.fields = {{"id", Type::Integer}, {"s", Type::String},   {"i", Type::Integer}, {"f", Type::Float},
                {"b", Type::Boolean},  {"d", Type::Datetime}, {"dec", Type::Decimal}, {"e", Type::Enum},
                {"by", Type::Bytes},   {"u", Type::String},   {"n", Type::Integer}, {"t", Type::String}};
    return m;
}

bool Optional(int f) { return f != ID && f != I && f != E; }

long long EnvInt(const char *name, long long dflt)
{
    const char *v = std::getenv(name);
    return v && *v ? std::strtoll(v, nullptr, 0) : dflt;
}

struct JsonOwner {
    json_t *j;
    explicit JsonOwner(json_t *x) : j(x) {}
    ~JsonOwner() { json_decref(j); }
    JsonOwner(const JsonOwner &) = delete;
    JsonOwner &operator=(const JsonOwner &) = delete;
};

class QueryRandom : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = Open(kSchema, Url());
        ASSERT_NE(db_, nullptr);
        seed_ = static_cast<uint64_t>(EnvInt("KVORM_TEST_SEED", 20240917));
        rng_.seed(seed_);
        std::printf("QueryRandom seed=%" PRIu64 " (set KVORM_TEST_SEED to replay)\n", seed_);
        MakePools();
    }

    // Where the db is opened: "" for the main Redis server.
    virtual std::string Url() { return ""; }
    // The test: load random records, then random queries (and some writes) against the brute force.
    void Body();

    // ---- randomness ----
    uint64_t R() { return rng_(); }
    size_t Pick(size_t n) { return static_cast<size_t>(R() % n); }
    bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
    long long Between(long long lo, long long hi) { return lo + static_cast<long long>(R() % (hi - lo + 1)); }

    void MakePools()
    {
        std::string longp(520, 'p');  // longer than an index key may be: entries are cut and re-checked
        strings_ = {"",    "a",  "ab",  "abc", "abd",   "b",        "ba",        "bab",        "c",
                    "Z",   "é",  "éa",  "日本", "日本語", "a b",      "%_",        longp + "x",  longp + "y",
                    longp + "xy", "ca", "abcab"};
        floats_ = {-0.0, 0.0, 1.5, -1.5, 0.1, 2.25, 1e300, -1e300, 1e-300, 3.0, 100.0, -7.75};
        decimals_ = {"0",    "1",    "-1",  "1.5",  "10", "2", "-0.001", "0.001", "99999999999999999999.99",
                     "1.00000000000000000000001", "-123.456", "123456789012345678901234567890.5", "0.5", "-0.5",
                     "7", "1.49999999999999999999999", "15"};
        bytes_ = {std::string(), std::string(1, '\0'), std::string(2, '\0'), std::string("\0\1", 2), "\x01",
                  "\xff", std::string("\xff\0", 2), "a", "ab", "b"};
        enums_ = {"red", "green", "blue", "amber"};
        texts_ = {"x", "y", "xy", "yx", "", "hello"};
        for (int k = 0; k < 24; k++) {
            long long sec = Between(-2208988800LL, 4102444800LL);  // 1900 to 2100
            long long ns = Chance(0.5) ? 0 : Between(0, 999999999);
            times_.push_back(sec * 1000000000LL + ns);
            if (k % 6 == 0)
                times_.push_back(sec * 1000000000LL + (ns + 1) % 1000000000LL);  // one nanosecond apart
        }
    }

    Val RandomInt()
    {
        static const long long extremes[] = {std::numeric_limits<long long>::min(),
                                             std::numeric_limits<long long>::max(), 9007199254740993LL,
                                             -9007199254740993LL, 9007199254740992LL};
        if (Chance(0.03))
            return Val::Int(extremes[Pick(5)]);
        return Val::Int(Between(-20, 20));
    }

    // A non-null value for field f from its pool.
    Val RandomValue(int f)
    {
        switch (f) {
        case ID:
            if (!live_.empty() && Chance(0.7))
                return std::next(live_.begin(), static_cast<long>(Pick(live_.size())))->second[ID];
            return Val::Int(Between(-100000, 100000));
        case S:
            return Val::Str(strings_[Pick(strings_.size())]);
        case I:
        case N:
            return f == N ? Val::Int(Between(0, 9)) : RandomInt();
        case FL:
            return Val::Flt(floats_[Pick(floats_.size())]);
        case B:
            return Val::Bool(Chance(0.5));
        case D:
            return Val::Time(times_[Pick(times_.size())]);
        case DEC:
            return Val::Dec(decimals_[Pick(decimals_.size())]);
        case E:
            return Val::Str(enums_[Pick(enums_.size())]);
        case BY:
            return Val::Str(bytes_[Pick(bytes_.size())]);
        case U:
            return Val::Str("u" + std::to_string(Between(-100000, 100000)));
        default:
            return Val::Str(texts_[Pick(texts_.size())]);
        }
    }

    // The JSON of a value in a request: sometimes not in the normalized form (a decimal "1.50", an integer
    // decimal as a JSON number), which the engine must read as the same value.
    json_t *RequestValue(int f, const Val &v)
    {
        if (f == DEC && !v.null && Chance(0.2)) {
            if (v.s.find('.') != std::string::npos)
                return json_string((v.s + "00").c_str());
            if (v.s.size() < 15)
                return json_integer(std::strtoll(v.s.c_str(), nullptr, 10));
            return json_string((v.s + ".0").c_str());
        }
        return q::ToJson(model_.fields[f].type, v);
    }

    Rec RandomRecord(long long id)
    {
        Rec r(NF);
        r[ID] = Val::Int(id);
        for (int f = S; f < NF; f++)
            r[f] = Optional(f) && Chance(0.2) ? Val::Null() : RandomValue(f);
        if (!r[U].null)
            r[U] = Val::Str("u" + std::to_string(id));  // unique by construction
        return r;
    }

    long long NewId()
    {
        static const long long special[] = {std::numeric_limits<long long>::max(),
                                            std::numeric_limits<long long>::min() + 1, 9007199254740993LL,
                                            9007199254740992LL, -9007199254740993LL, 0};
        for (;;) {
            long long id = used_ids_.size() < 6 ? special[used_ids_.size()] : Between(-1000000, 1000000);
            if (used_ids_.insert(id).second)
                return id;
        }
    }

    json_t *DataJson(const Rec &r)
    {
        json_t *o = json_object();
        for (int f = ID; f < NF; f++) {
            if (r[f].null) {
                if (Chance(0.5))
                    json_object_set_new(o, model_.fields[f].name.c_str(), json_null());
                continue;
            }
            json_object_set_new(o, model_.fields[f].name.c_str(), RequestValue(f, r[f]));
        }
        return o;
    }

    JRes Send(const std::string &op, json_t *args)
    {
        std::string a = args ? DumpJson(args) : "";
        last_req_ = Req("R", op, a);
        return ExecJson(db_, last_req_);
    }

    // ---- where trees ----
    const std::vector<std::string> &OpsFor(int f)
    {
        static const std::vector<std::string> base = {"equals", "not", "in", "notIn", "lt", "lte", "gt", "gte"};
        static const std::vector<std::string> str = {"equals", "not",   "in",         "notIn",    "lt",
                                                     "lte",    "gt",    "gte",        "startsWith", "endsWith",
                                                     "contains"};
        return model_.fields[f].type == Type::String ? str : base;
    }

    json_t *Operand(int f, const std::string &op)
    {
        if (op == "in" || op == "notIn") {
            json_t *a = json_array();
            size_t n = 1 + Pick(4);
            for (size_t k = 0; k < n; k++)
                json_array_append_new(a, RequestValue(f, RandomValue(f)));
            return a;
        }
        if (op == "startsWith" || op == "endsWith" || op == "contains") {
            std::string s = RandomValue(f).s;
            size_t len = s.empty() ? 0 : Pick(std::min<size_t>(s.size(), 530) + 1);
            if (op == "startsWith")
                s = s.substr(0, len);
            else if (op == "endsWith")
                s = s.substr(s.size() - len);
            else
                s = s.substr(Pick(s.size() - len + 1), len);
            return json_stringn(s.data(), s.size());
        }
        if ((op == "equals" || op == "not") && Optional(f) && Chance(0.15))
            return json_null();
        return RequestValue(f, RandomValue(f));
    }

    json_t *OpMap(int f, int depth)
    {
        json_t *o = json_object();
        size_t n = 1 + Pick(2);
        for (size_t k = 0; k < n; k++) {
            const auto &ops = OpsFor(f);
            std::string op = ops[Pick(ops.size())];
            if (op == "not" && depth < 2 && Chance(0.3))
                json_object_set_new(o, "not", OpMap(f, depth + 1));
            else
                json_object_set_new(o, op.c_str(), Operand(f, op));
        }
        return o;
    }

    int RandomField()
    {
        // indexed fields more often, so that plans other than a scan are exercised
        static const int biased[] = {ID, S, I, FL, D, DEC, E, BY, U, S, I, E, B, N, T, D, DEC};
        return biased[Pick(sizeof biased / sizeof biased[0])];
    }

    json_t *Where(int depth)
    {
        json_t *w = json_object();
        size_t n = 1 + Pick(depth == 0 ? 3 : 2);
        for (size_t k = 0; k < n; k++) {
            if (depth < 3 && Chance(0.25)) {
                static const char *combs[] = {"AND", "OR", "NOT"};
                const char *c = combs[Pick(3)];
                if (json_object_get(w, c))
                    continue;
                if (std::string(c) != "OR" && Chance(0.3)) {
                    json_object_set_new(w, c, Where(depth + 1));
                } else {
                    json_t *a = json_array();
                    size_t m = Pick(4);
                    for (size_t j = 0; j < m; j++)
                        json_array_append_new(a, Where(depth + 1));
                    json_object_set_new(w, c, a);
                }
                continue;
            }
            int f = RandomField();
            const char *name = model_.fields[f].name.c_str();
            if (json_object_get(w, name))
                continue;
            double p = static_cast<double>(R() % 100) / 100;
            if (p < 0.3)
                json_object_set_new(w, name, RequestValue(f, RandomValue(f)));
            else if (p < 0.38)
                json_object_set_new(w, name, json_null());
            else
                json_object_set_new(w, name, OpMap(f, 0));
        }
        return w;
    }

    json_t *OrderBy(std::vector<int> *fields)
    {
        size_t n = 1 + Pick(3);
        json_t *arr = json_array();
        std::set<int> seen;
        for (size_t k = 0; k < n; k++) {
            int f = Chance(0.1) ? ID : static_cast<int>(S + Pick(NF - S));
            if (!seen.insert(f).second)
                continue;
            fields->push_back(f);
            const char *dir = Chance(0.5) ? "asc" : "desc";
            json_t *v;
            if (Chance(0.4) && f != ID)
                v = json_pack("{s:s,s:s}", "sort", dir, "nulls", Chance(0.5) ? "first" : "last");
            else
                v = json_string(dir);
            json_t *entry = json_object();
            json_object_set_new(entry, model_.fields[f].name.c_str(), v);
            json_array_append_new(arr, entry);
        }
        if (json_array_size(arr) == 1 && Chance(0.5)) {
            json_t *one = json_incref(json_array_get(arr, 0));
            json_decref(arr);
            return one;
        }
        return arr;
    }

    json_t *Cursor(const std::vector<int> &order_fields)
    {
        bool ghost = !ghosts_.empty() && Chance(0.3);
        const Rec *r;
        if (ghost)
            r = &ghosts_[Pick(ghosts_.size())];
        else if (!live_.empty())
            r = &std::next(live_.begin(), static_cast<long>(Pick(live_.size())))->second;
        else
            return nullptr;
        json_t *c = json_object();
        json_object_set_new(c, "id", json_integer((*r)[ID].i));
        if (Chance(ghost ? 0.85 : 0.5))
            for (int f : order_fields)
                if (f != ID)
                    json_object_set_new(c, model_.fields[f].name.c_str(), RequestValue(f, (*r)[f]));
        return c;
    }

    json_t *AggSpec()
    {
        json_t *spec = json_object();
        static const int numeric[] = {I, FL, DEC, N};
        static const int any[] = {S, I, FL, B, D, DEC, E, BY, U, N, T, S};
        if (Chance(0.6)) {
            if (Chance(0.5)) {
                json_object_set_new(spec, "_count", json_true());
            } else {
                json_t *c = json_object();
                json_object_set_new(c, "_all", json_true());
                json_object_set_new(c, model_.fields[any[Pick(12)]].name.c_str(), json_true());
                json_object_set_new(spec, "_count", c);
            }
        }
        for (const char *agg : {"_min", "_max", "_sum", "_avg"}) {
            if (!Chance(0.5))
                continue;
            bool num = agg[1] == 's' || agg[1] == 'a';
            json_t *o = json_object();
            size_t n = 1 + Pick(2);
            for (size_t k = 0; k < n; k++)
                json_object_set_new(o, model_.fields[num ? numeric[Pick(4)] : any[Pick(12)]].name.c_str(),
                                    json_true());
            json_object_set_new(spec, agg, o);
        }
        if (json_object_size(spec) == 0)
            json_object_set_new(spec, "_count", json_true());
        return spec;
    }

    // ---- checks ----
    std::string Context() const { return "seed " + std::to_string(seed_) + ", step " + std::to_string(step_) +
                                         "\nrequest: " + last_req_; }

    std::string Ids(const std::vector<const Rec *> &rows) const
    {
        std::string s = "[";
        for (size_t k = 0; k < rows.size() && k < 40; k++)
            s += (k ? "," : "") + std::to_string((*rows[k])[ID].i);
        return s + (rows.size() > 40 ? ",...]" : "]") + " (" + std::to_string(rows.size()) + " rows)";
    }

    std::vector<const Rec *> Expect(const q::Window &w, bool *not_found)
    {
        std::string err;
        auto rows = q::FindMany(model_, live_, w, not_found, &err);
        EXPECT_EQ(err, "") << Context();
        return rows;
    }

    // One random read, compared with the reference. Returns false after a mismatch.
    bool RandomQuery()
    {
        static const char *ops[] = {"findMany", "findMany", "findMany", "findMany", "findMany", "findMany",
                                    "findMany", "findFirst", "count", "count", "aggregate", "aggregate",
                                    "findFirstOrThrow"};
        std::string op = ops[Pick(sizeof ops / sizeof ops[0])];
        JsonOwner args(json_object());
        q::Window w;
        if (Chance(0.85)) {
            json_object_set_new(args.j, "where", Where(0));
            w.where = json_object_get(args.j, "where");
        }
        std::vector<int> order_fields;
        if (Chance(0.6)) {
            json_object_set_new(args.j, "orderBy", OrderBy(&order_fields));
            w.order_by = json_object_get(args.j, "orderBy");
        }
        bool first = op == "findFirst" || op == "findFirstOrThrow";
        if (!first && Chance(0.5)) {
            w.has_take = true;
            w.take = Between(-25, 25);
            json_object_set_new(args.j, "take", json_integer(w.take));
        }
        if (Chance(0.25)) {
            w.skip = Between(0, 15);
            json_object_set_new(args.j, "skip", json_integer(w.skip));
        }
        if (Chance(0.2)) {
            json_t *c = Cursor(order_fields);
            if (c) {
                json_object_set_new(args.j, "cursor", c);
                w.cursor = c;
            }
        }
        bool select = op == "findMany" && Chance(0.15);
        if (select)
            json_object_set_new(args.j, "select", json_pack("{s:b,s:b,s:b}", "id", 1, "s", 1, "dec", 1));
        json_t *spec = nullptr;
        if (op == "aggregate") {
            spec = AggSpec();
            json_object_update(args.j, spec);
        }
        JsonOwner spec_owner(spec);
        if (first) {
            w.has_take = true;
            w.take = 1;
        }

        bool not_found = false;
        auto want = Expect(w, &not_found);
        JRes r = Send(op, args.j);
        if (not_found || (op == "findFirstOrThrow" && want.empty())) {
            EXPECT_EQ(r.rc, KVORM_ENOTFOUND) << Context() << "\nresponse: " << r.text;
            return r.rc == KVORM_ENOTFOUND;
        }
        EXPECT_EQ(r.rc, KVORM_OK) << Context() << "\nresponse: " << r.text;
        if (r.rc != KVORM_OK || !r.doc)
            return false;
        if (op == "count") {
            bool ok = json_is_integer(r.get()) && json_integer_value(r.get()) == static_cast<json_int_t>(want.size());
            EXPECT_TRUE(ok) << Context() << "\nwant " << want.size() << ", got " << r.text << "\nrows " << Ids(want);
            return ok;
        }
        if (op == "aggregate") {
            std::string err, why;
            JsonOwner exp(q::Aggregate(model_, spec, want, &err));
            EXPECT_EQ(err, "") << Context();
            bool ok = q::SameAggregate(model_, spec, exp.j, r.get(), &why);
            EXPECT_TRUE(ok) << Context() << "\n" << why << "\nrows " << Ids(want);
            return ok;
        }
        std::vector<const json_t *> got;
        if (first) {
            if (!json_is_null(r.get()))
                got.push_back(r.get());
        } else if (json_is_array(r.get())) {
            for (size_t k = 0; k < json_array_size(r.get()); k++)
                got.push_back(json_array_get(r.get(), k));
        } else {
            ADD_FAILURE() << Context() << "\nnot an array: " << r.text;
            return false;
        }
        std::string got_ids = "[";
        bool same = got.size() == want.size();
        for (size_t k = 0; k < got.size(); k++) {
            const json_t *id = json_object_get(got[k], "id");
            got_ids += (k ? "," : "") + DumpJson(id);
            if (k < want.size() && (!id || !json_is_integer(id) || json_integer_value(id) != (*want[k])[ID].i))
                same = false;
        }
        got_ids += "]";
        EXPECT_TRUE(same) << Context() << "\nwant " << Ids(want) << "\ngot  " << got_ids << " (" << got.size()
                          << " rows)";
        if (!same)
            return false;
        for (size_t k = 0; k < got.size() && k < 30; k++) {
            std::string why;
            if (!q::SameRecord(model_, *want[k], got[k], &why)) {
                ADD_FAILURE() << Context() << "\nrow " << k << ": " << why;
                return false;
            }
            if (select && KeysOf(got[k]) != std::set<std::string>{"id", "s", "dec"}) {
                ADD_FAILURE() << Context() << "\nselect: " << DumpJson(got[k]);
                return false;
            }
        }
        return true;
    }

    // A where that matches at most `limit` live records (an id in-list when random ones match too many).
    json_t *NarrowWhere(size_t limit, std::vector<std::string> *keys)
    {
        for (int attempt = 0; attempt < 6; attempt++) {
            json_t *w = Where(1);
            keys->clear();
            std::string err;
            for (const auto &kv : live_)
                if (q::Matches(model_, w, kv.second, &err))
                    keys->push_back(kv.first);
            EXPECT_EQ(err, "");
            if (keys->size() <= limit)
                return w;
            json_decref(w);
        }
        keys->clear();
        json_t *in = json_array();
        for (int k = 0; k < 3 && !live_.empty(); k++) {
            auto it = std::next(live_.begin(), static_cast<long>(Pick(live_.size())));
            if (std::find(keys->begin(), keys->end(), it->first) == keys->end()) {
                keys->push_back(it->first);
                json_array_append_new(in, json_integer(it->second[ID].i));
            }
        }
        return json_pack("{s:{s:o}}", "id", "in", in);
    }

    // Random new values for 1 to 3 fields (never the id; u stays unique by construction).
    json_t *UpdateData(long long id_for_u, Rec *apply_to_template, std::vector<int> *fields)
    {
        json_t *data = json_object();
        size_t n = 1 + Pick(3);
        for (size_t k = 0; k < n; k++) {
            int f = static_cast<int>(S + Pick(NF - S));
            Val v = Optional(f) && Chance(0.25) ? Val::Null() : RandomValue(f);
            if (f == U && !v.null)
                v = Val::Str("u" + std::to_string(id_for_u) + "_" + std::to_string(++u_counter_));
            (*apply_to_template)[f] = v;
            fields->push_back(f);
            json_object_set_new(data, model_.fields[f].name.c_str(), RequestValue(f, v));
        }
        return data;
    }

    bool RandomWrite()
    {
        int kind = static_cast<int>(Pick(6));
        if (live_.size() < 50)
            kind = 4;
        if (kind == 0 || kind == 1) {  // updateMany / deleteMany
            std::vector<std::string> keys;
            JsonOwner args(json_object());
            json_object_set_new(args.j, "where", NarrowWhere(kind == 0 ? 60 : 15, &keys));
            Rec tmpl(NF);
            std::vector<int> fields;
            if (kind == 0) {
                // u in updateMany data would collide across records: leave it out
                json_t *data = UpdateData(0, &tmpl, &fields);
                json_object_del(data, "u");
                fields.erase(std::remove(fields.begin(), fields.end(), static_cast<int>(U)), fields.end());
                if (json_object_size(data) == 0)
                    json_object_set_new(data, "n", json_integer(1)), tmpl[N] = Val::Int(1), fields.push_back(N);
                json_object_set_new(args.j, "data", data);
            }
            JRes r = Send(kind == 0 ? "updateMany" : "deleteMany", args.j);
            EXPECT_EQ(r.rc, KVORM_OK) << Context() << "\n" << r.text;
            EXPECT_EQ(r.integer("count"), static_cast<long long>(keys.size())) << Context() << "\n" << r.text;
            for (const auto &k : keys) {
                if (kind == 0) {
                    for (int f : fields)
                        live_[k][f] = tmpl[f];
                } else {
                    ghosts_.push_back(live_[k]);
                    live_.erase(k);
                }
            }
            return r.rc == KVORM_OK && r.integer("count") == static_cast<long long>(keys.size());
        }
        if (kind == 2 || kind == 3) {  // update / delete one record by id
            auto it = std::next(live_.begin(), static_cast<long>(Pick(live_.size())));
            JsonOwner args(json_object());
            json_object_set_new(args.j, "where", json_pack("{s:I}", "id", static_cast<json_int_t>(it->second[ID].i)));
            Rec after = it->second;
            std::vector<int> fields;
            if (kind == 2)
                json_object_set_new(args.j, "data", UpdateData(after[ID].i, &after, &fields));
            JRes r = Send(kind == 2 ? "update" : "delete", args.j);
            EXPECT_EQ(r.rc, KVORM_OK) << Context() << "\n" << r.text;
            std::string why;
            bool ok = r.rc == KVORM_OK && q::SameRecord(model_, after, r.get(), &why);
            EXPECT_TRUE(r.rc != KVORM_OK || ok) << Context() << "\n" << why;
            if (kind == 2) {
                it->second = after;
            } else {
                ghosts_.push_back(it->second);
                live_.erase(it);
            }
            return ok;
        }
        // create one, or createMany of a few (with a duplicate skipped)
        std::vector<Rec> recs;
        size_t n = kind == 4 ? 1 + Pick(5) : 1;
        for (size_t k = 0; k < n; k++)
            recs.push_back(RandomRecord(NewId()));
        if (kind == 5) {
            JsonOwner args(json_object());
            json_object_set_new(args.j, "data", DataJson(recs[0]));
            JRes r = Send("create", args.j);
            std::string why;
            bool ok = r.rc == KVORM_OK && q::SameRecord(model_, recs[0], r.get(), &why);
            EXPECT_TRUE(ok) << Context() << "\n" << r.text << "\n" << why;
            live_[q::IdKey(recs[0][ID])] = recs[0];
            return ok;
        }
        JsonOwner args(json_object());
        json_t *data = json_array();
        for (const Rec &rec : recs)
            json_array_append_new(data, DataJson(rec));
        bool dup = !live_.empty() && Chance(0.5);
        if (dup) {  // an existing record again: skipped, not counted
            const Rec &old = std::next(live_.begin(), static_cast<long>(Pick(live_.size())))->second;
            json_array_insert_new(data, Pick(json_array_size(data) + 1), DataJson(old));
            json_object_set_new(args.j, "skipDuplicates", json_true());
        }
        json_object_set_new(args.j, "data", data);
        JRes r = Send("createMany", args.j);
        EXPECT_EQ(r.rc, KVORM_OK) << Context() << "\n" << r.text;
        EXPECT_EQ(r.integer("count"), static_cast<long long>(recs.size())) << Context() << "\n" << r.text;
        for (const Rec &rec : recs)
            live_[q::IdKey(rec[ID])] = rec;
        return r.rc == KVORM_OK && r.integer("count") == static_cast<long long>(recs.size());
    }

    kvorm_db *db_ = nullptr;
    q::Model model_ = MakeModel();
    uint64_t seed_ = 0;
    std::mt19937_64 rng_;
    std::vector<std::string> strings_, decimals_, bytes_, enums_, texts_;
    std::vector<double> floats_;
    std::vector<long long> times_;
    std::map<std::string, Rec> live_;
    std::vector<Rec> ghosts_;  // deleted records, for cursors that outlive their record
    std::set<long long> used_ids_;
    long long u_counter_ = 0;
    long long step_ = 0;
    std::string last_req_;
};

// The same on the embedded LMDB engine, in a fresh environment.
class QueryRandomLmdb : public QueryRandom {
protected:
    void TearDown() override
    {
        QueryRandom::TearDown(); // closes the db first
        if (!dir_.empty()) {
            EXPECT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0);
        }
    }
    std::string Url() override
    {
        char tmpl[] = "/tmp/kvorm-qr-lmdb-XXXXXX";
        const char *d = mkdtemp(tmpl);
        if (!d)
            return "lmdb:///nonexistent-mkdtemp-failed";
        dir_ = d;
        return "lmdb://" + dir_ + "?sync=nosync";
    }
    std::string dir_;
};

TEST_F(QueryRandom, QueriesMatchABruteForceEvaluation) { Body(); }
TEST_F(QueryRandomLmdb, QueriesMatchABruteForceEvaluation) { Body(); }

void QueryRandom::Body()
{
    const long long records = EnvInt("KVORM_TEST_RECORDS", 2000);
    const long long queries = EnvInt("KVORM_TEST_QUERIES", 1200);

    // load through createMany, in a few calls
    for (long long done = 0; done < records;) {
        long long n = std::min<long long>(250, records - done);
        JsonOwner args(json_object());
        json_t *data = json_array();
        for (long long k = 0; k < n; k++) {
            Rec r = RandomRecord(NewId());
            json_array_append_new(data, DataJson(r));
            live_[q::IdKey(r[ID])] = r;
        }
        json_object_set_new(args.j, "data", data);
        JRes r = Send("createMany", args.j);
        ASSERT_EQ(r.rc, KVORM_OK) << r.text.substr(0, 2000);
        ASSERT_EQ(r.integer("count"), n) << r.text;
        done += n;
    }

    int failures = 0;
    for (step_ = 0; step_ < queries && failures < 5; step_++) {
        if (Chance(0.06) && !RandomWrite())
            failures++;
        if (!RandomQuery())
            failures++;
    }
    EXPECT_EQ(failures, 0) << "seed " << seed_;

    JRes c = Send("count", nullptr);
    EXPECT_EQ(c.text, std::to_string(live_.size())) << "seed " << seed_;
    JRes chk = Send("check", nullptr);
    KT_ASSERT_OK(chk);
    EXPECT_TRUE(json_is_true(chk.at("ok"))) << "seed " << seed_ << "\n" << chk.text.substr(0, 4000);
    EXPECT_EQ(chk.integer("records"), static_cast<long long>(live_.size())) << chk.text.substr(0, 2000);
}

}  // namespace
}  // namespace kt
