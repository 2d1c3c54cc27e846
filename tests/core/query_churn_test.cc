// Queries while records churn (docs/queries.md "Consistency"): 8 threads create, update (moving indexed values)
// and delete while 4 threads query. Every record a query returns must match its where when re-evaluated here; a
// cursor walk never goes backwards and returns each record that stayed unchanged throughout exactly once; and
// afterwards `check` finds nothing wrong and the counts are those the writers expect. The verdicts are about
// what was returned, never about timing; each thread does a bounded amount of work.
#include <mutex>
#include <random>
#include <thread>

#include "query_util.h"
#include "test_util.h"

namespace kt {
namespace {

using q::Rec;
using q::Type;
using q::Val;

constexpr const char *kSchema = R"json({
  "namespace": "qc",
  "models": {
    "C": {
      "id": {"type": "string", "generate": "ulid"},
      "fields": {
        "k": {"type": "integer", "index": true},
        "g": {"type": "string", "index": true},
        "tag": {"type": "string"},
        "w": {"type": "integer", "optional": true}},
      "indexes": [["g", "k"], {"name": "kdesc_g", "fields": [{"field": "k", "order": "desc"}, "g"]}]}}})json";

enum F { ID, K, G, TAG, W, NF };

constexpr int kWriters = 8;
constexpr int kReaders = 4;
constexpr int kWriterOps = 120;
constexpr int kReaderOps = 30;
constexpr int kStable = 200;  // records no writer touches: a cursor walk must return each exactly once
constexpr int kKs = 10;
constexpr int kGs = 5;

q::Model MakeModel()
{
    q::Model m;
    m.fields = {{"id", Type::String}, {"k", Type::Integer}, {"g", Type::String}, {"tag", Type::String},
                {"w", Type::Integer}};
    return m;
}

std::string GName(long long g) { return "g" + std::to_string(g); }

struct Failures {
    std::mutex mu;
    std::vector<std::string> list;
    void Add(const std::string &s)
    {
        std::lock_guard<std::mutex> lock(mu);
        if (list.size() < 20)
            list.push_back(s);
    }
};

bool ToRec(const q::Model &m, const json_t *j, Rec *out)
{
    out->assign(NF, Val());
    for (int f = 0; f < NF; f++)
        if (!q::FromJson(m.fields[f].type, json_object_get(j, m.fields[f].name.c_str()), &(*out)[f]))
            return false;
    return true;
}

class QueryChurn : public KvTest {
protected:
    JRes Run(const std::string &op, const std::string &args) { return ExecJson(db_, Req("C", op, args)); }

    std::string Create(long long k, long long g, const std::string &tag, std::string *id)
    {
        JRes r = Run("create", "{\"data\":{\"k\":" + std::to_string(k) + ",\"g\":\"" + GName(g) + "\",\"tag\":\"" +
                                   tag + "\"}}");
        if (r.rc != KVORM_OK)
            return "create: " + r.text;
        *id = r.str("id");
        return "";
    }

    void Writer(int t, Failures *fail, std::map<std::string, std::pair<long long, long long>> *mine)
    {
        std::mt19937_64 rng(1000 + static_cast<uint64_t>(t));
        auto pick = [&](long long n) { return static_cast<long long>(rng() % static_cast<uint64_t>(n)); };
        std::string tag = "w" + std::to_string(t);
        for (int op = 0; op < kWriterOps; op++) {
            long long what = pick(10);
            if (mine->empty() || what < 4) {
                std::string id;
                long long k = pick(kKs), g = pick(kGs);
                std::string e = Create(k, g, tag, &id);
                if (!e.empty())
                    fail->Add(e);
                else
                    (*mine)[id] = {k, g};
                continue;
            }
            auto it = std::next(mine->begin(), static_cast<long>(pick(static_cast<long long>(mine->size()))));
            if (what < 7) {  // move the record's indexed values
                long long k = pick(kKs), g = pick(kGs);
                JRes r = Run("update", "{\"where\":{\"id\":" + JStr(it->first) + "},\"data\":{\"k\":" +
                                           std::to_string(k) + ",\"g\":\"" + GName(g) + "\",\"w\":" +
                                           std::to_string(op) + "}}");
                if (r.rc != KVORM_OK)
                    fail->Add("update: " + r.text);
                else
                    it->second = {k, g};
            } else if (what < 9) {
                JRes r = Run("delete", "{\"where\":{\"id\":" + JStr(it->first) + "}}");
                if (r.rc != KVORM_OK)
                    fail->Add("delete: " + r.text);
                mine->erase(it);
            } else {  // updateMany over this writer's records with one k: they all move to another k
                long long from = it->second.first, to = pick(kKs);
                long long expect = 0;
                for (auto &kv : *mine)
                    if (kv.second.first == from)
                        expect++;
                JRes r = Run("updateMany", "{\"where\":{\"tag\":\"" + tag + "\",\"k\":" + std::to_string(from) +
                                               "},\"data\":{\"k\":" + std::to_string(to) + "}}");
                if (r.rc != KVORM_OK || r.integer("count") != expect)
                    fail->Add("updateMany: want " + std::to_string(expect) + ", got " + r.text);
                for (auto &kv : *mine)
                    if (kv.second.first == from)
                        kv.second.first = to;
            }
        }
    }

    // Checks every row of a findMany response against its where; returns the rows.
    bool Rows(const JRes &r, const json_t *where, const std::string &req, Failures *fail, std::vector<Rec> *out)
    {
        if (r.rc != KVORM_OK || !r.doc || !json_is_array(r.get())) {
            fail->Add(req + " -> " + r.text.substr(0, 500));
            return false;
        }
        for (size_t k = 0; k < json_array_size(r.get()); k++) {
            Rec rec;
            std::string err;
            const json_t *row = json_array_get(r.get(), k);
            if (!ToRec(model_, row, &rec)) {
                fail->Add(req + ": unreadable row " + DumpJson(row));
                return false;
            }
            if (!q::Matches(model_, where, rec, &err) || !err.empty()) {
                fail->Add(req + ": row does not match: " + DumpJson(row) + " " + err);
                return false;
            }
            out->push_back(rec);
        }
        return true;
    }

    void Reader(int t, Failures *fail)
    {
        std::mt19937_64 rng(5000 + static_cast<uint64_t>(t));
        auto pick = [&](long long n) { return static_cast<long long>(rng() % static_cast<uint64_t>(n)); };
        for (int op = 0; op < kReaderOps; op++) {
            long long a = pick(kKs), b = a + pick(4), g = pick(kGs);
            std::string where;
            switch (pick(4)) {
            case 0:
                where = "{\"k\":" + std::to_string(a) + "}";
                break;
            case 1:
                where = "{\"k\":{\"gte\":" + std::to_string(a) + ",\"lt\":" + std::to_string(b) + "}}";
                break;
            case 2:
                where = "{\"g\":\"" + GName(g) + "\",\"k\":{\"in\":[" + std::to_string(a) + "," +
                        std::to_string(b) + "]}}";
                break;
            default:
                where = "{\"OR\":[{\"k\":" + std::to_string(a) + "},{\"g\":\"" + GName(g) + "\"}]}";
            }
            JsonPtr w = ParseJson(where);
            int stable_matching = 0;
            {
                std::string err;
                for (const Rec &s : stable_)
                    stable_matching += q::Matches(model_, w.get(), s, &err);
            }
            long long kind = pick(3);
            if (kind == 0) {
                std::string req = Req("C", "findMany", "{\"where\":" + where + "}");
                std::vector<Rec> rows;
                Rows(ExecJson(db_, req), w.get(), req, fail, &rows);
            } else if (kind == 1) {
                std::string req = Req("C", "count", "{\"where\":" + where + "}");
                JRes r = ExecJson(db_, req);
                // the stable records match throughout, so they are always counted
                if (r.rc != KVORM_OK || !r.doc || !json_is_integer(r.get()) ||
                    json_integer_value(r.get()) < stable_matching)
                    fail->Add(req + " -> " + r.text + " (at least " + std::to_string(stable_matching) + ")");
            } else {
                Walk(where, w.get(), t % 2 == 1, fail);
            }
        }
    }

    // A cursor walk in pages of 7 (ordered by k then id, or g desc then k), each page's cursor the id and order
    // values of the previous page's last row: keys never go back and each stable record that matches comes
    // exactly once.
    void Walk(const std::string &where, const json_t *w, bool by_g, Failures *fail)
    {
        std::string order = by_g ? "[{\"g\":\"desc\"},{\"k\":\"asc\"}]" : "[{\"k\":\"asc\"}]";
        std::string orderj = by_g ? "[{\"g\":\"desc\"},{\"k\":\"asc\"}]" : "{\"k\":\"asc\"}";
        JsonPtr ob = ParseJson(orderj);
        std::vector<q::OrderKey> keys;
        std::string err;
        q::ParseOrder(model_, ob.get(), &keys, &err);
        std::map<std::string, int> seen_stable;
        Rec last;
        bool have_last = false;
        for (int page = 0; page < 400; page++) {
            std::string args = "{\"where\":" + where + ",\"orderBy\":" + order + ",\"take\":7";
            if (have_last)
                args += ",\"cursor\":{\"id\":" + JStr(last[ID].s) + ",\"k\":" +
                        std::to_string(last[K].i) + (by_g ? ",\"g\":" + JStr(last[G].s) : std::string()) + "}";
            args += "}";
            std::string req = Req("C", "findMany", args);
            std::vector<Rec> rows;
            if (!Rows(ExecJson(db_, req), w, req, fail, &rows))
                return;
            for (size_t k = 0; k < rows.size(); k++) {
                const Rec &r = rows[k];
                // the cursor is inclusive: the row at its position is the last one of the previous page (when
                // that record still holds those values); skip it here rather than with skip: 1, which would
                // drop a real row when the cursor's record is gone
                if (k == 0 && have_last && q::CmpOrder(model_, keys, last, r) == 0)
                    continue;
                if (have_last && q::CmpOrder(model_, keys, last, r) >= 0) {
                    fail->Add(req + ": the walk went back to " + r[ID].s);
                    return;
                }
                last = r;
                have_last = true;
                if (stable_ids_.count(r[ID].s))
                    seen_stable[r[ID].s]++;
            }
            if (rows.size() < 7)
                break;
        }
        for (const Rec &s : stable_) {
            bool match = q::Matches(model_, w, s, &err);
            int n = seen_stable.count(s[ID].s) ? seen_stable[s[ID].s] : 0;
            if (n != (match ? 1 : 0)) {
                fail->Add("walk " + where + " by " + order + ": stable record " + s[ID].s + " came " +
                          std::to_string(n) + " times");
                return;
            }
        }
    }

    kvorm_db *db_ = nullptr;
    q::Model model_ = MakeModel();
    std::vector<Rec> stable_;
    std::set<std::string> stable_ids_;
};

TEST_F(QueryChurn, QueriesDuringWritesReturnOnlyMatchingRecords)
{
    SchemaPtr schema = LoadSchema(kSchema);
    ASSERT_TRUE(schema);
    kvorm_open_options o;
    ASSERT_EQ(kvorm_open_options_init(&o, KVORM_OPEN_OPTIONS_VERSION), KVORM_OK);
    o.pool_size = kWriters + kReaders;
    kvorm_db *raw = nullptr;
    ASSERT_EQ(kvorm_open(&raw, DefaultUrl().c_str(), schema.get(), &o), KVORM_OK)
        << LastError();
    DbPtr pooled(raw);
    db_ = pooled.get();

    for (int s = 0; s < kStable; s++) {
        std::string id;
        std::string e = Create(s % kKs, (s / kKs) % kGs, "stable", &id);
        ASSERT_EQ(e, "");
        Rec r(NF);
        r[ID] = Val::Str(id);
        r[K] = Val::Int(s % kKs);
        r[G] = Val::Str(GName((s / kKs) % kGs));
        r[TAG] = Val::Str("stable");
        stable_.push_back(r);
        stable_ids_.insert(id);
    }

    Failures fail;
    std::vector<std::map<std::string, std::pair<long long, long long>>> mine(kWriters);
    std::vector<std::thread> threads;
    for (int t = 0; t < kWriters; t++)
        threads.emplace_back([&, t] { Writer(t, &fail, &mine[static_cast<size_t>(t)]); });
    for (int t = 0; t < kReaders; t++)
        threads.emplace_back([&, t] { Reader(t, &fail); });
    for (auto &th : threads)
        th.join();
    for (const auto &f : fail.list)
        ADD_FAILURE() << f;

    // the final state is known exactly: each writer owns its records
    long long total = kStable;
    std::vector<long long> per_k(kKs, 0);
    for (const Rec &s : stable_)
        per_k[static_cast<size_t>(s[K].i)]++;
    for (const auto &m : mine)
        for (const auto &kv : m) {
            total++;
            per_k[static_cast<size_t>(kv.second.first)]++;
        }
    EXPECT_EQ(Run("count", "").text, std::to_string(total));
    for (int k = 0; k < kKs; k++) {
        EXPECT_EQ(Run("count", "{\"where\":{\"k\":" + std::to_string(k) + "}}").text,
                  std::to_string(per_k[static_cast<size_t>(k)]))
            << "k = " << k;
        JRes r = Run("findMany", "{\"where\":{\"k\":" + std::to_string(k) + "}}");
        ASSERT_TRUE(r.doc && json_is_array(r.get())) << r.text.substr(0, 500);
        EXPECT_EQ(static_cast<long long>(json_array_size(r.get())), per_k[static_cast<size_t>(k)]) << "k = " << k;
    }
    for (int t = 0; t < kWriters; t++)
        EXPECT_EQ(Run("count", "{\"where\":{\"tag\":\"w" + std::to_string(t) + "\"}}").text,
                  std::to_string(mine[static_cast<size_t>(t)].size()));
    JRes chk = Run("check", "");
    KT_ASSERT_OK(chk);
    EXPECT_TRUE(json_is_true(chk.at("ok"))) << chk.text.substr(0, 4000);
    EXPECT_EQ(chk.integer("records"), total) << chk.text.substr(0, 2000);
    db_ = nullptr;
}

}  // namespace
}  // namespace kt
