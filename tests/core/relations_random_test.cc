// A randomized differential test of relations (docs/queries.md, Include and Relation filters): users, their
// profiles (hasOne), posts (an optional belongsTo, set null when the author goes) and tags (manyToMany through a
// join model that cascades), created and changed at random and kept here as the reference; then random findMany
// and count queries with relation filters at two levels (some/every/none, is/isNot, under AND/OR/NOT), orderBy
// relation keys, includes with their own where, orderBy, skip and take, nested includes and _count, each compared
// with the brute-force answer over the reference records. Seeded like QueryRandom: the seed (KVORM_TEST_SEED) is
// printed, and a failure names it and the request.
#include <algorithm>
#include <cinttypes>
#include <random>

#include "query_util.h"
#include "test_util.h"

namespace kt {
namespace {

using q::Rec;
using q::Tri;
using q::Type;
using q::Val;

constexpr const char *kSchema = R"json({"namespace": "rr", "models": {
  "User": {"id": {"type": "integer"},
           "fields": {"name": {"type": "string", "optional": true, "index": true},
                      "age": {"type": "integer", "optional": true}},
           "relations": {"posts": {"hasMany": "Post", "inverse": "author"}, "profile": {"hasOne": "Profile"}}},
  "Profile": {"id": {"type": "integer"},
              "fields": {"userId": {"type": "integer"}, "bio": {"type": "string", "optional": true}},
              "relations": {"user": {"belongsTo": "User", "fields": ["userId"], "onDelete": "cascade"}}},
  "Post": {"id": {"type": "integer"},
           "fields": {"authorId": {"type": "integer", "optional": true}, "score": {"type": "integer", "index": true},
                      "title": {"type": "string", "optional": true}},
           "indexes": [["authorId", {"field": "score", "order": "desc"}]],
           "relations": {"author": {"belongsTo": "User", "fields": ["authorId"], "onDelete": "setNull"},
                         "tags": {"manyToMany": "Tag", "through": "PostTag"}}},
  "Tag": {"id": {"type": "integer"}, "fields": {"name": {"type": "string"}},
          "relations": {"posts": {"manyToMany": "Post", "through": "PostTag"}}},
  "PostTag": {"id": {"type": "integer"}, "fields": {"postId": {"type": "integer"}, "tagId": {"type": "integer"}},
              "unique": [["postId", "tagId"]],
              "relations": {"post": {"belongsTo": "Post", "fields": ["postId"], "onDelete": "cascade"},
                            "tag": {"belongsTo": "Tag", "fields": ["tagId"], "onDelete": "cascade"}}}}})json";

enum M { U, PR, P, T, J, NM };
const char *const kModel[NM] = {"User", "Profile", "Post", "Tag", "PostTag"};

struct Rel {
    int from;
    const char *name;
    bool many;
    int to;
};
const Rel kRels[] = {{U, "posts", true, P}, {U, "profile", false, PR}, {PR, "user", false, U},
                     {P, "author", false, U}, {P, "tags", true, T},    {T, "posts", true, P}};

q::Model MakeModel(int m)
{
    q::Model x;
    switch (m) {
    case U: x.fields = {{"id", Type::Integer}, {"name", Type::String}, {"age", Type::Integer}}; break;
    case PR: x.fields = {{"id", Type::Integer}, {"userId", Type::Integer}, {"bio", Type::String}}; break;
    case P:
        x.fields = {{"id", Type::Integer}, {"authorId", Type::Integer}, {"score", Type::Integer},
                    {"title", Type::String}};
        break;
    case T: x.fields = {{"id", Type::Integer}, {"name", Type::String}}; break;
    default: x.fields = {{"id", Type::Integer}, {"postId", Type::Integer}, {"tagId", Type::Integer}}; break;
    }
    return x;
}

// Fields of each model a where or orderBy may name (never the foreign keys: they are ids of the test's making).
const std::vector<int> kPlain[NM] = {{1, 2}, {2}, {2, 3}, {1}, {}};

struct Json {
    json_t *j;
    explicit Json(json_t *x) : j(x) {}
    ~Json() { json_decref(j); }
    Json(const Json &) = delete;
    Json &operator=(const Json &) = delete;
};

// One key of an order: a field of the record, a field of a to-one relation's target, or a to-many's count.
struct Key {
    int field = 0;
    const Rel *rel = nullptr;
    bool desc = false;
    bool nulls_first = true;
};

class RelationsRandom : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = Open(kSchema);
        ASSERT_NE(db_, nullptr);
        const char *v = std::getenv("KVORM_TEST_SEED");
        seed_ = v && *v ? std::strtoull(v, nullptr, 0) : 20261206;
        rng_.seed(seed_);
        std::printf("RelationsRandom seed=%" PRIu64 " (set KVORM_TEST_SEED to replay)\n", seed_);
        for (int m = 0; m < NM; m++)
            model_[m] = MakeModel(m);
    }

    // ---- randomness ----
    size_t Pick(size_t n) { return static_cast<size_t>(rng_() % n); }
    bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
    long long Between(long long lo, long long hi) { return lo + static_cast<long long>(rng_() % (hi - lo + 1)); }

    Val RandomValue(int m, int f)
    {
        static const char *const names[] = {"ann", "bob", "cat", "dan", "eve"};
        static const char *const tags[] = {"red", "blue", "gold"};
        static const char *const texts[] = {"a", "b", "c"};
        Type t = model_[m].fields[static_cast<size_t>(f)].type;
        bool optional = !(m == P && f == 2) && m != T;
        if (optional && Chance(0.15))
            return Val::Null();
        if (t == Type::Integer)
            return Val::Int(m == U ? Between(18, 24) : Between(0, 9));
        if (m == U)
            return Val::Str(names[Pick(5)]);
        if (m == T)
            return Val::Str(tags[Pick(3)]);
        return Val::Str(texts[Pick(3)]);
    }

    // ---- the reference ----
    std::vector<const Rec *> Related(const Rel &rel, const Rec &r) const
    {
        std::vector<const Rec *> out;
        auto by_id = [&](int m, const Val &id) {
            if (!id.null) {
                auto it = live_[m].find(q::IdKey(id));
                if (it != live_[m].end())
                    out.push_back(&it->second);
            }
        };
        auto pointing = [&](int m, int f, const Val &id, std::vector<const Rec *> *to) {
            for (const auto &kv : live_[m])
                if (!kv.second[static_cast<size_t>(f)].null && kv.second[static_cast<size_t>(f)].i == id.i)
                    to->push_back(&kv.second);
        };
        if (rel.from == U && rel.to == P)
            pointing(P, 1, r[0], &out);
        else if (rel.from == U)
            pointing(PR, 1, r[0], &out);
        else if (rel.from == PR)
            by_id(U, r[1]);
        else if (rel.from == P && rel.to == U)
            by_id(U, r[1]);
        else {
            std::vector<const Rec *> joins;
            bool from_post = rel.from == P;
            pointing(J, from_post ? 1 : 2, r[0], &joins);
            for (const Rec *j : joins)
                by_id(from_post ? T : P, (*j)[from_post ? 2 : 1]);
        }
        return out;
    }
    const Rel *FindRel(int m, const std::string &name) const
    {
        for (const Rel &r : kRels)
            if (r.from == m && name == r.name)
                return &r;
        return nullptr;
    }

    Tri Eval(int m, const json_t *where, const Rec &r)
    {
        Tri acc = Tri::True;
        const char *key;
        json_t *val;
        json_object_foreach(const_cast<json_t *>(where), key, val) acc = And(acc, Entry(m, key, val, r));
        return acc;
    }
    Tri Entry(int m, const std::string &key, const json_t *val, const Rec &r)
    {
        if (key == "AND" || key == "OR" || key == "NOT") {
            Tri acc = key == "OR" ? Tri::False : Tri::True;
            for (size_t k = 0; k < json_array_size(val); k++) {
                Tri t = Eval(m, json_array_get(val, k), r);
                acc = key == "OR" ? Or(acc, t) : And(acc, key == "NOT" ? Not(t) : t);
            }
            return acc;
        }
        const Rel *rel = FindRel(m, key);
        if (!rel) {
            Json one(json_object());
            json_object_set(one.j, key.c_str(), const_cast<json_t *>(val));
            std::string err;
            Tri t = q::Eval(model_[m], one.j, r, &err);
            EXPECT_EQ(err, "");
            return t;
        }
        std::vector<const Rec *> related = Related(*rel, r);
        bool ok = true;
        const char *op;
        json_t *sub;
        json_object_foreach(const_cast<json_t *>(val), op, sub)
        {
            std::string o = op;
            auto any = [&](Tri want) {
                for (const Rec *x : related)
                    if (Eval(rel->to, sub, *x) == want)
                        return true;
                return false;
            };
            if (o == "some")
                ok = ok && any(Tri::True);
            else if (o == "none")
                ok = ok && !any(Tri::True);
            else if (o == "every") /* none fails: the query of its NOT finds none */
                ok = ok && !any(Tri::False);
            else if (json_is_null(sub))
                ok = ok && (o == "is") == related.empty();
            else
                ok = ok && (o == "is") == any(Tri::True);
        }
        return ok ? Tri::True : Tri::False;
    }
    static Tri And(Tri a, Tri b)
    {
        return a == Tri::False || b == Tri::False ? Tri::False
               : a == Tri::Unknown || b == Tri::Unknown ? Tri::Unknown : Tri::True;
    }
    static Tri Or(Tri a, Tri b) { return Not(And(Not(a), Not(b))); }
    static Tri Not(Tri a) { return a == Tri::True ? Tri::False : a == Tri::False ? Tri::True : Tri::Unknown; }

    Val KeyValue(const Key &k, const Rec &r) const
    {
        if (!k.rel)
            return r[static_cast<size_t>(k.field)];
        std::vector<const Rec *> rel = Related(*k.rel, r);
        if (k.rel->many)
            return Val::Int(static_cast<long long>(rel.size()));
        return rel.empty() ? Val::Null() : (*rel[0])[static_cast<size_t>(k.field)];
    }
    int CmpKeys(int m, const std::vector<Key> &keys, const Rec &a, const Rec &b) const
    {
        for (const Key &k : keys) {
            Val x = KeyValue(k, a), y = KeyValue(k, b);
            if (x.null && y.null)
                continue;
            if (x.null != y.null)
                return x.null == k.nulls_first ? -1 : 1;
            int target = k.rel && !k.rel->many ? k.rel->to : m;
            Type t = k.rel && k.rel->many ? Type::Integer : model_[target].fields[static_cast<size_t>(k.field)].type;
            int c = q::Cmp(t, x, y);
            if (c)
                return k.desc ? -c : c;
        }
        bool desc = !keys.empty() && keys.back().desc;
        int c = q::Cmp(Type::Integer, a[0], b[0]);
        return desc ? -c : c;
    }
    // The rows of a query over `rows`: matching, ordered, skipped and taken (a negative take from the end).
    std::vector<const Rec *> Window(int m, std::vector<const Rec *> rows, const json_t *args)
    {
        const json_t *where = json_object_get(args, "where");
        std::vector<const Rec *> hit;
        for (const Rec *r : rows)
            if (!where || Eval(m, where, *r) == Tri::True)
                hit.push_back(r);
        std::vector<Key> keys = ParseKeys(m, json_object_get(args, "orderBy"));
        std::stable_sort(hit.begin(), hit.end(),
                         [&](const Rec *a, const Rec *b) { return CmpKeys(m, keys, *a, *b) < 0; });
        long long n = static_cast<long long>(hit.size());
        long long skip = json_integer_value(json_object_get(args, "skip"));
        const json_t *tj = json_object_get(args, "take");
        long long take = tj ? json_integer_value(tj) : n;
        long long begin = std::min(skip, n), end = n;
        if (take < 0) {
            end = std::max(0LL, n - skip);
            begin = std::max(0LL, end + take);
        } else {
            end = std::min(n, begin + take);
        }
        return std::vector<const Rec *>(hit.begin() + begin, hit.begin() + end);
    }
    std::vector<Key> ParseKeys(int m, const json_t *order) const
    {
        std::vector<Key> keys;
        for (size_t i = 0; i < json_array_size(order); i++) {
            const char *name;
            json_t *spec;
            json_object_foreach(json_array_get(order, i), name, spec)
            {
                Key k;
                k.rel = FindRel(m, name);
                if (k.rel) {
                    void *it = json_object_iter(spec);  // {field: direction} or {"_count": direction}
                    k.field = k.rel->many ? 0 : model_[k.rel->to].Find(json_object_iter_key(it));
                    spec = json_object_iter_value(it);
                } else {
                    k.field = model_[m].Find(name);
                }
                std::string sort = json_is_string(spec) ? json_string_value(spec)
                                                        : json_string_value(json_object_get(spec, "sort"));
                k.desc = sort == "desc";
                const json_t *nulls = json_is_object(spec) ? json_object_get(spec, "nulls") : nullptr;
                k.nulls_first = nulls ? std::string(json_string_value(nulls)) == "first" : !k.desc;
                keys.push_back(k);
            }
        }
        return keys;
    }

    // ---- random requests ----
    json_t *Leaf(int m, int f)
    {
        Type t = model_[m].fields[static_cast<size_t>(f)].type;
        Val v = RandomValue(m, f);
        while (v.null)
            v = RandomValue(m, f);
        json_t *val = q::ToJson(t, v);
        switch (Pick(5)) {
        case 0: return val;
        case 1: json_decref(val); return json_null();
        case 2: return json_pack("{s:o}", Chance(0.5) ? "lt" : "gte", val);
        case 3: return json_pack("{s:o}", "not", val);
        default: {
            Val other = RandomValue(m, f);  // in holds no null
            return json_pack("{s:[o,o]}", "in", val, q::ToJson(t, other.null ? v : other));
        }
        }
    }
    // A where of model m with relation filters nested up to depth levels.
    json_t *RandomWhere(int m, int depth)
    {
        json_t *w = json_object();
        size_t n = 1 + Pick(2);
        for (size_t e = 0; e < n; e++) {
            std::vector<const Rel *> rels;
            for (const Rel &r : kRels)
                if (r.from == m)
                    rels.push_back(&r);
            size_t kind = Pick(10);
            if (depth > 0 && !rels.empty() && kind < 5) {
                const Rel *rel = rels[Pick(rels.size())];
                json_t *ops = json_object();
                size_t nops = Chance(0.2) ? 2 : 1;
                for (size_t o = 0; o < nops; o++) {
                    if (rel->many) {
                        static const char *const many[] = {"some", "every", "none"};
                        json_object_set_new(ops, many[Pick(3)],
                                            Chance(0.15) ? json_object() : RandomWhere(rel->to, depth - 1));
                    } else {
                        json_object_set_new(ops, Chance(0.5) ? "is" : "isNot",
                                            Chance(0.25) ? json_null() : RandomWhere(rel->to, depth - 1));
                    }
                }
                json_object_set_new(w, rel->name, ops);
            } else if (kind < 7 && depth > 0) {
                static const char *const logic[] = {"AND", "OR", "NOT"};
                const char *op = logic[Pick(3)];
                if (json_object_get(w, op))
                    continue;
                json_t *list = json_array();
                for (size_t k = 0, nk = 1 + Pick(2); k < nk; k++)
                    json_array_append_new(list, RandomWhere(m, depth - 1));
                json_object_set_new(w, op, list);
            } else if (!kPlain[m].empty()) {
                int f = kPlain[m][Pick(kPlain[m].size())];
                json_object_set_new(w, model_[m].fields[static_cast<size_t>(f)].name.c_str(), Leaf(m, f));
            }
        }
        return w;
    }
    json_t *RandomOrder(int m)
    {
        json_t *order = json_array();
        for (size_t k = 0, n = 1 + Pick(2); k < n; k++) {
            std::vector<std::pair<std::string, std::string>> choices;  // key, inner key ("" for a field)
            for (int f : kPlain[m])
                choices.push_back({model_[m].fields[static_cast<size_t>(f)].name, ""});
            for (const Rel &r : kRels)
                if (r.from == m) {
                    if (r.many)
                        choices.push_back({r.name, "_count"});
                    else
                        for (int f : kPlain[r.to])
                            choices.push_back({r.name, model_[r.to].fields[static_cast<size_t>(f)].name});
                }
            auto c = choices[Pick(choices.size())];
            bool again = false;  // a key given twice is BAD_REQUEST
            for (size_t i = 0; i < json_array_size(order); i++)
                again = again || json_object_get(json_array_get(order, i), c.first.c_str());
            if (again)
                continue;
            const char *dir = Chance(0.5) ? "asc" : "desc";
            json_t *spec = Chance(0.3) && c.second != "_count"
                               ? json_pack("{s:s,s:s}", "sort", dir, "nulls", Chance(0.5) ? "first" : "last")
                               : json_string(dir);
            if (!c.second.empty())
                spec = json_pack("{s:o}", c.second.c_str(), spec);
            json_array_append_new(order, json_pack("{s:o}", c.first.c_str(), spec));
        }
        return order;
    }
    // where, orderBy, skip and take, each sometimes.
    void RandomWindow(int m, json_t *args, int depth)
    {
        if (Chance(0.6))
            json_object_set_new(args, "where", RandomWhere(m, depth));
        if (Chance(0.7))
            json_object_set_new(args, "orderBy", RandomOrder(m));
        if (Chance(0.3))
            json_object_set_new(args, "skip", json_integer(Between(0, 3)));
        if (Chance(0.5))
            json_object_set_new(args, "take", json_integer(Between(-4, 6)));
    }
    json_t *RandomInclude(int m, int depth)
    {
        json_t *inc = json_object();
        for (const Rel &r : kRels) {
            if (r.from != m || Chance(0.4))
                continue;
            json_t *args = json_object();
            if (r.many)
                RandomWindow(r.to, args, 1);
            if (depth > 0 && Chance(0.4))
                json_object_set_new(args, "include", RandomInclude(r.to, depth - 1));
            json_object_set_new(inc, r.name, json_object_size(args) || Chance(0.5) ? args : json_true());
            if (!json_is_object(json_object_get(inc, r.name)))
                json_decref(args);
        }
        bool has_many = m == U || m == P || m == T;
        if (has_many && Chance(0.4)) {
            const Rel *many = nullptr;
            for (const Rel &r : kRels)
                if (r.from == m && r.many)
                    many = &r;
            json_t *sel = Chance(0.5) ? json_true() : json_pack("{s:o}", "where", RandomWhere(many->to, 1));
            json_object_set_new(inc, "_count", json_pack("{s:{s:o}}", "select", many->name, sel));
        }
        return inc;
    }

    // Checks a response's records against the expected ones, with their includes; *why says the first difference.
    bool Same(int m, const std::vector<const Rec *> &want, const json_t *got, const json_t *include, std::string *why)
    {
        if (json_array_size(got) != want.size()) {
            *why = std::string(kModel[m]) + ": " + std::to_string(json_array_size(got)) + " records, want " +
                   std::to_string(want.size());
            return false;
        }
        for (size_t i = 0; i < want.size(); i++) {
            const json_t *g = json_array_get(got, i);
            const Rec &w = *want[i];
            if (json_integer_value(json_object_get(g, "id")) != w[0].i) {
                *why = std::string(kModel[m]) + "[" + std::to_string(i) + "]: id " +
                       DumpJson(json_object_get(g, "id")) + ", want " + std::to_string(w[0].i);
                return false;
            }
            const char *name;
            json_t *spec;
            json_object_foreach(const_cast<json_t *>(include), name, spec)
            {
                std::string at = std::string(kModel[m]) + " " + std::to_string(w[0].i) + "." + name + ": ";
                const json_t *sub = json_object_get(g, name);
                const json_t *sub_inc = json_is_object(spec) ? json_object_get(spec, "include") : nullptr;
                Json empty(json_object());
                if (std::string(name) == "_count") {
                    const char *rn;
                    json_t *rs;
                    json_object_foreach(json_object_get(spec, "select"), rn, rs)
                    {
                        const Rel *rel = FindRel(m, rn);
                        Json args(json_object());
                        if (json_is_object(rs))
                            json_object_set(args.j, "where", json_object_get(rs, "where"));
                        size_t n = Window(rel->to, Related(*rel, w), args.j).size();
                        if (json_integer_value(json_object_get(sub, rn)) != static_cast<long long>(n)) {
                            *why = at + rn + " " + DumpJson(json_object_get(sub, rn)) + ", want " +
                                   std::to_string(n);
                            return false;
                        }
                    }
                    continue;
                }
                const Rel *rel = FindRel(m, name);
                std::vector<const Rec *> rel_rows = Related(*rel, w);
                if (rel->many) {
                    std::vector<const Rec *> exp = Window(rel->to, rel_rows, json_is_object(spec) ? spec : empty.j);
                    if (!Same(rel->to, exp, sub, sub_inc ? sub_inc : empty.j, why)) {
                        *why = at + *why;
                        return false;
                    }
                } else if (rel_rows.empty() != json_is_null(sub)) {
                    *why = at + DumpJson(sub) + ", want " + (rel_rows.empty() ? "null" : "a record");
                    return false;
                } else if (!rel_rows.empty()) {
                    Json one(json_array());
                    json_array_append(one.j, const_cast<json_t *>(sub));
                    if (!Same(rel->to, rel_rows, one.j, sub_inc ? sub_inc : empty.j, why)) {
                        *why = at + *why;
                        return false;
                    }
                }
            }
        }
        return true;
    }

    // ---- random writes, each mirrored in the reference ----
    void Create(int m, Rec r)
    {
        Json data(q::RecordJson(model_[m], r, Chance(0.3)));
        Json req(json_pack("{s:s,s:s,s:{s:O}}", "model", kModel[m], "op", "create", "args", "data", data.j));
        JRes res = ExecJson(db_, DumpJson(req.j));
        ASSERT_EQ(res.rc, KVORM_OK) << res.text << "\nseed " << seed_ << " request " << DumpJson(req.j);
        live_[m][q::IdKey(r[0])] = r;
    }
    const Rec *Any(int m)
    {
        if (live_[m].empty())
            return nullptr;
        return &std::next(live_[m].begin(), static_cast<long>(Pick(live_[m].size())))->second;
    }
    void Delete(int m, Val id)  // a copy: the record it came from goes
    {
        JRes res = ExecJson(db_, Req(kModel[m], "delete", R"({"where":{"id":)" + std::to_string(id.i) + "}}"));
        ASSERT_EQ(res.rc, KVORM_OK) << res.text << "\nseed " << seed_;
        std::string key = q::IdKey(id);
        live_[m].erase(key);
        // the referential actions: a user's profile goes, its posts keep no author; a post's or tag's joins go
        if (m == U) {
            for (auto it = live_[PR].begin(); it != live_[PR].end();)
                it = it->second[1].i == id.i ? live_[PR].erase(it) : std::next(it);
            for (auto &kv : live_[P])
                if (!kv.second[1].null && kv.second[1].i == id.i)
                    kv.second[1] = Val::Null();
        } else if (m == P || m == T) {
            size_t f = m == P ? 1 : 2;
            for (auto it = live_[J].begin(); it != live_[J].end();)
                it = it->second[f].i == id.i ? live_[J].erase(it) : std::next(it);
        }
    }
    void Update(int m, Rec *r, int f, const Val &v)
    {
        Json data(json_object());
        json_object_set_new(data.j, model_[m].fields[static_cast<size_t>(f)].name.c_str(),
                            q::ToJson(model_[m].fields[static_cast<size_t>(f)].type, v));
        Json req(json_pack("{s:s,s:s,s:{s:{s:I},s:O}}", "model", kModel[m], "op", "update", "args", "where", "id",
                           static_cast<json_int_t>((*r)[0].i), "data", data.j));
        JRes res = ExecJson(db_, DumpJson(req.j));
        ASSERT_EQ(res.rc, KVORM_OK) << res.text << "\nseed " << seed_ << " request " << DumpJson(req.j);
        (*r)[static_cast<size_t>(f)] = v;
    }
    void RandomWrite()
    {
        long long id = ++next_id_;
        size_t kind = Pick(12);
        const Rec *u = Any(U), *p = Any(P), *t = Any(T);
        if (kind < 2 || !u) {
            Create(U, {Val::Int(id), RandomValue(U, 1), RandomValue(U, 2)});
        } else if (kind < 5) {
            Create(P, {Val::Int(id), Chance(0.85) ? (*u)[0] : Val::Null(), RandomValue(P, 2), RandomValue(P, 3)});
        } else if (kind < 6 || !t) {
            Create(T, {Val::Int(id), RandomValue(T, 1)});
        } else if (kind < 8 && p) {
            for (const auto &kv : live_[J])
                if (kv.second[1].i == (*p)[0].i && kv.second[2].i == (*t)[0].i)
                    return;
            Create(J, {Val::Int(id), (*p)[0], (*t)[0]});
        } else if (kind < 9) {
            for (const auto &kv : live_[PR])
                if (kv.second[1].i == (*u)[0].i)
                    return;
            Create(PR, {Val::Int(id), (*u)[0], RandomValue(PR, 2)});
        } else if (kind < 10 && p) {
            Rec *pp = &live_[P][q::IdKey((*p)[0])];
            if (Chance(0.5))
                Update(P, pp, 1, Chance(0.8) ? (*u)[0] : Val::Null());
            else {
                int f = 2 + static_cast<int>(Pick(2));
                Update(P, pp, f, RandomValue(P, f));
            }
        } else if (kind < 11) {
            int f = 1 + static_cast<int>(Pick(2));
            Update(U, &live_[U][q::IdKey((*u)[0])], f, RandomValue(U, f));
        } else {
            int m = Chance(0.4) ? U : Chance(0.6) ? P : T;
            const Rec *victim = Any(m);
            if (victim && live_[m].size() > 3)
                Delete(m, (*victim)[0]);
        }
    }

    void RandomQuery(int n)
    {
        static const int models[] = {U, U, P, P, T, PR};
        int m = models[Pick(6)];
        Json args(json_object());
        RandomWindow(m, args.j, 2);
        bool count = Chance(0.15);
        if (!count && Chance(0.8))
            json_object_set_new(args.j, "include", RandomInclude(m, 1));
        Json req(json_pack("{s:s,s:s,s:O}", "model", kModel[m], "op", count ? "count" : "findMany", "args", args.j));
        if (count) {  // count takes a where only
            json_object_del(args.j, "orderBy");
            json_object_del(args.j, "skip");
            json_object_del(args.j, "take");
        }
        std::string text = DumpJson(req.j);
        JRes res = ExecJson(db_, text);
        ASSERT_EQ(res.rc, KVORM_OK) << res.text << "\nseed " << seed_ << " query " << n << ": " << text;
        std::vector<const Rec *> all;
        for (const auto &kv : live_[m])
            all.push_back(&kv.second);
        std::vector<const Rec *> want = Window(m, all, args.j);
        if (count) {
            ASSERT_EQ(json_integer_value(res.get()), static_cast<long long>(want.size()))
                << "seed " << seed_ << " query " << n << ": " << text;
            return;
        }
        Json empty(json_object());
        const json_t *inc = json_object_get(args.j, "include");
        std::string why;
        ASSERT_TRUE(Same(m, want, res.get(), inc ? inc : empty.j, &why))
            << why << "\nseed " << seed_ << " query " << n << ": " << text << "\ngot " << res.text.substr(0, 2000);
    }

    kvorm_db *db_ = nullptr;
    uint64_t seed_ = 0;
    std::mt19937_64 rng_;
    q::Model model_[NM];
    std::map<std::string, Rec> live_[NM];
    long long next_id_ = 0;
};

TEST_F(RelationsRandom, QueriesMatchBruteForceUnderChurn)
{
    for (int i = 0; i < 260; i++) {
        ASSERT_NO_FATAL_FAILURE(RandomWrite());
    }
    for (int n = 0; n < 600; n++) {
        ASSERT_NO_FATAL_FAILURE(RandomQuery(n));
        if (n % 3 == 0) {
            ASSERT_NO_FATAL_FAILURE(RandomWrite());
        }
    }
    // what the churn left is consistent: every model's check finds no dangling foreign key (a join record of a
    // gone post or tag, a post of a gone author), and holds exactly the reference's records
    for (int m = 0; m < NM; m++) {
        JRes chk = ExecJson(db_, Req(kModel[m], "check"));
        KT_ASSERT_OK(chk);
        EXPECT_TRUE(json_is_true(chk.at("ok"))) << chk.text;
        JRes n = ExecJson(db_, Req(kModel[m], "count"));
        KT_ASSERT_OK(n);
        EXPECT_EQ(json_integer_value(n.get()), static_cast<long long>(live_[m].size())) << kModel[m];
    }
}

}  // namespace
}  // namespace kt
