// The query ops of docs/queries.md one feature at a time, over eight hand-made records whose answers are written
// out: every operator alone and combined, null semantics, every aggregate, groupBy, pagination edge cases,
// explain, refused scans, reindex of an index added later, the many-record writes, and every error.
#include <algorithm>

#include "test_util.h"

namespace kt {
namespace {

constexpr const char *kSchema = R"json({
  "namespace": "qo",
  "models": {
    "P": {
      "id": {"type": "integer"},
      "fields": {
        "name": {"type": "string", "index": true},
        "cat": {"type": "enum", "values": ["c", "b", "a"], "index": true},
        "qty": {"type": "integer", "optional": true, "index": true},
        "price": {"type": "decimal", "optional": true},
        "w": {"type": "float", "optional": true},
        "ok": {"type": "boolean", "optional": true},
        "at": {"type": "datetime", "optional": true},
        "raw": {"type": "bytes", "optional": true},
        "meta": {"type": "json", "optional": true},
        "sku": {"type": "string", "unique": true, "optional": true},
        "note": {"type": "string", "optional": true}},
      "indexes": [["cat", "qty"], {"name": "cat_price", "fields": ["cat", {"field": "price", "order": "desc"}]}]},
    "Big": {
      "id": {"type": "integer"},
      "fields": {"v": {"type": "integer"}, "s": {"type": "string", "optional": true}}}}})json";

// The records every test starts with (enum values are declared c, b, a: the order is still by bytes).
constexpr const char *kRecords = R"json([
  {"id": 1, "name": "apple", "cat": "a", "qty": 5, "price": "1.50", "w": 1.5, "ok": true,
   "at": "2024-01-01T00:00:00Z", "raw": "AQI=", "meta": {"x": 1}, "sku": "A1", "note": "red fruit"},
  {"id": 2, "name": "banana", "cat": "a", "qty": 12, "price": "0.25", "w": -0.0, "ok": false,
   "at": "2024-06-01T12:00:00Z", "sku": "B2"},
  {"id": 3, "name": "cherry", "cat": "b", "price": "10", "w": 0.0, "note": "small red"},
  {"id": 4, "name": "date", "cat": "b", "qty": 7, "price": "9.99", "w": 2.0, "ok": true,
   "at": "2023-12-31T23:59:59.5Z", "raw": "AA=="},
  {"id": 5, "name": "elder", "cat": "c", "qty": 0, "ok": false, "note": ""},
  {"id": 6, "name": "fig", "cat": "c", "qty": -3, "price": "100.001", "w": 3.25, "ok": true},
  {"id": 7, "name": "grape", "cat": "a", "qty": 12, "price": "1.5", "w": 1.5},
  {"id": 8, "name": "Apple", "cat": "b", "qty": 5, "price": "-2", "sku": "A8"}])json";

using Ids = std::vector<long long>;

class QueryOps : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = Open(kSchema);
        ASSERT_NE(db_, nullptr);
        JRes r = Run("createMany", std::string("{\"data\":") + kRecords + "}");
        KT_ASSERT_OK(r);
        ASSERT_EQ(r.integer("count"), 8) << r.text;
    }

    JRes Run(const std::string &op, const std::string &args = "", const std::string &model = "P")
    {
        return ExecJson(db_, Req(model, op, args));
    }

    // The ids of a findMany response, in order ({-1} when it is not an array of records).
    static Ids IdsOf(const JRes &r)
    {
        Ids out;
        if (!r.doc || !json_is_array(r.get()))
            return {-1};
        for (size_t k = 0; k < json_array_size(r.get()); k++) {
            const json_t *id = json_object_get(json_array_get(r.get(), k), "id");
            out.push_back(id && json_is_integer(id) ? json_integer_value(id) : -1);
        }
        return out;
    }

    // findMany with the given where (JSON text) and more args (",\"take\":2"): the ids.
    Ids Where(const std::string &where, const std::string &more = "")
    {
        JRes r = Run("findMany", "{\"where\":" + where + more + "}");
        EXPECT_EQ(r.rc, KVORM_OK) << where << more << " -> " << r.text;
        return IdsOf(r);
    }

    Ids Args(const std::string &args)
    {
        JRes r = Run("findMany", args);
        EXPECT_EQ(r.rc, KVORM_OK) << args << " -> " << r.text;
        return IdsOf(r);
    }

    long long Count(const std::string &args)
    {
        JRes r = Run("count", args);
        EXPECT_EQ(r.rc, KVORM_OK) << args << " -> " << r.text;
        return r.doc && json_is_integer(r.get()) ? json_integer_value(r.get()) : -1;
    }

    JsonPtr Explain(const std::string &op, const std::string &args)
    {
        JRes r = Run("explain", "{\"op\":" + JStr(op) + ",\"args\":" + args + "}");
        EXPECT_EQ(r.rc, KVORM_OK) << args << " -> " << r.text;
        return r.doc;
    }

    // The error is `code` and names `culprit` in its message or its fields.
    static void ExpectError(const JRes &r, int status, const std::string &code, const std::string &culprit)
    {
        EXPECT_EQ(r.rc, status) << r.text;
        EXPECT_EQ(r.str("code"), code) << r.text;
        std::vector<std::string> f = r.fields();
        bool named = r.str("message").find(culprit) != std::string::npos ||
                     std::find(f.begin(), f.end(), culprit) != f.end();
        EXPECT_TRUE(named) << "the error does not name " << culprit << ": " << r.text;
    }

    kvorm_db *db_ = nullptr;
};

// The response is this JSON (maps compared whatever their key order).
void ExpectJson(const JRes &r, const std::string &want)
{
    JsonPtr w = ParseJson(want);
    ASSERT_TRUE(w) << "bad expected JSON: " << want;
    EXPECT_TRUE(r.doc && json_equal(w.get(), r.doc.get())) << "want " << want << "\ngot  " << r.text;
}

std::string PlanStr(const JsonPtr &p, const char *key)
{
    const json_t *v = p ? json_object_get(p.get(), key) : nullptr;
    return v && json_is_string(v) ? json_string_value(v) : "(" + DumpJson(v) + ")";
}

// ---- every operator alone --------------------------------------------------------------------------------------

TEST_F(QueryOps, EqualityShorthandAndEquals)
{
    EXPECT_EQ(Where(R"({"qty":12})"), (Ids{2, 7}));
    EXPECT_EQ(Where(R"({"qty":{"equals":12}})"), (Ids{2, 7}));
    EXPECT_EQ(Where(R"({"name":"apple"})"), (Ids{1}));
    EXPECT_EQ(Where(R"({"name":"nope"})"), (Ids{}));
    EXPECT_EQ(Where(R"({"cat":"b","qty":5})"), (Ids{8}));
}

TEST_F(QueryOps, NullTests)
{
    EXPECT_EQ(Where(R"({"qty":null})"), (Ids{3}));
    EXPECT_EQ(Where(R"({"qty":{"equals":null}})"), (Ids{3}));
    EXPECT_EQ(Where(R"({"qty":{"not":null}})"), (Ids{1, 2, 4, 5, 6, 7, 8}));
    EXPECT_EQ(Where(R"({"note":null})"), (Ids{2, 4, 6, 7, 8}));  // "" is not null
    EXPECT_EQ(Where(R"({"meta":null})"), (Ids{2, 3, 4, 5, 6, 7, 8}));
}

// SQL's three-valued logic: a comparison with a null field is unknown, and NOT unknown is unknown.
TEST_F(QueryOps, ComparisonsWithANullFieldAreUnknown)
{
    EXPECT_EQ(Where(R"({"qty":{"not":12}})"), (Ids{1, 4, 5, 6, 8}));
    EXPECT_EQ(Where(R"({"qty":{"not":{"in":[5,12]}}})"), (Ids{4, 5, 6}));
    EXPECT_EQ(Where(R"({"NOT":{"qty":12}})"), (Ids{1, 4, 5, 6, 8}));
    EXPECT_EQ(Where(R"({"NOT":{"qty":{"lt":100}}})"), (Ids{}));
    EXPECT_EQ(Where(R"({"qty":{"notIn":[5]}})"), (Ids{2, 4, 5, 6, 7}));
    EXPECT_EQ(Where(R"({"ok":{"not":true}})"), (Ids{2, 5}));
    EXPECT_EQ(Where(R"({"OR":[{"qty":{"gt":100}},{"NOT":{"qty":{"gt":100}}}]})"), (Ids{1, 2, 4, 5, 6, 7, 8}));
}

TEST_F(QueryOps, InAndNotIn)
{
    EXPECT_EQ(Where(R"({"qty":{"in":[5,7]}})"), (Ids{1, 4, 8}));
    EXPECT_EQ(Where(R"({"qty":{"notIn":[5,7]}})"), (Ids{2, 5, 6, 7}));
    EXPECT_EQ(Where(R"({"qty":{"in":[]}})"), (Ids{}));
    EXPECT_EQ(Where(R"({"name":{"in":["fig","apple","zzz"]}})"), (Ids{1, 6}));
    EXPECT_EQ(Where(R"({"cat":{"in":["a","c"]}})"), (Ids{1, 2, 5, 6, 7}));
}

TEST_F(QueryOps, RangesOnIntegers)
{
    EXPECT_EQ(Where(R"({"qty":{"lt":5}})"), (Ids{5, 6}));
    EXPECT_EQ(Where(R"({"qty":{"lte":5}})"), (Ids{1, 5, 6, 8}));
    EXPECT_EQ(Where(R"({"qty":{"gt":5}})"), (Ids{2, 4, 7}));
    EXPECT_EQ(Where(R"({"qty":{"gte":5,"lt":12}})"), (Ids{1, 4, 8}));
    EXPECT_EQ(Where(R"({"qty":{"gt":12}})"), (Ids{}));
}

// Decimals compare by value at any precision: 10 > 9.99, "1.50" equals "1.5".
TEST_F(QueryOps, DecimalsCompareByValue)
{
    EXPECT_EQ(Where(R"({"price":{"gt":"1.5"}})"), (Ids{3, 4, 6}));
    EXPECT_EQ(Where(R"({"price":{"gte":"1.50"}})"), (Ids{1, 3, 4, 6, 7}));
    EXPECT_EQ(Where(R"({"price":"1.5"})"), (Ids{1, 7}));
    EXPECT_EQ(Where(R"({"price":{"lt":0}})"), (Ids{8}));
    EXPECT_EQ(Where(R"({"price":{"gt":"100.0009999999999999999999"}})"), (Ids{6}));
    EXPECT_EQ(Where(R"({"price":{"gt":"100.001"}})"), (Ids{}));
    JRes r = Run("findMany", R"({"where":{"id":1}})");
    ASSERT_TRUE(r.doc && json_is_array(r.get()) && json_array_size(r.get()) == 1) << r.text;
    const json_t *p = json_object_get(json_array_get(r.get(), 0), "price");
    ASSERT_TRUE(p && json_is_string(p)) << r.text;
    EXPECT_STREQ(json_string_value(p), "1.5");  // normalized
}

TEST_F(QueryOps, StringOperatorsAreCaseSensitiveOnBytes)
{
    EXPECT_EQ(Where(R"({"name":{"startsWith":"a"}})"), (Ids{1}));
    EXPECT_EQ(Where(R"({"name":{"startsWith":"A"}})"), (Ids{8}));
    EXPECT_EQ(Where(R"({"name":{"startsWith":""}})"), (Ids{1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(Where(R"({"name":{"endsWith":"e"}})"), (Ids{1, 4, 7, 8}));
    EXPECT_EQ(Where(R"({"name":{"contains":"an"}})"), (Ids{2}));
    EXPECT_EQ(Where(R"({"note":{"contains":"red"}})"), (Ids{1, 3}));
    EXPECT_EQ(Where(R"({"note":{"startsWith":""}})"), (Ids{1, 3, 5}));  // nulls never match
    EXPECT_EQ(Where(R"({"name":{"lt":"b"}})"), (Ids{1, 8}));            // "Apple" < "apple" < "b"
    EXPECT_EQ(Where(R"({"name":{"gte":"banana","lt":"date"}})"), (Ids{2, 3}));
}

TEST_F(QueryOps, DatetimesCompareByTimeWhateverTheOffset)
{
    EXPECT_EQ(Where(R"({"at":{"gte":"2024-01-01T00:00:00Z"}})"), (Ids{1, 2}));
    EXPECT_EQ(Where(R"({"at":"2024-01-01T01:00:00+01:00"})"), (Ids{1}));
    EXPECT_EQ(Where(R"({"at":{"lt":"2024-01-01T00:00:00Z"}})"), (Ids{4}));
    EXPECT_EQ(Where(R"({"at":{"gt":"2023-12-31T23:59:59.499999999Z","lt":"2023-12-31T23:59:59.500000001Z"}})"),
              (Ids{4}));
}

TEST_F(QueryOps, FloatsBooleansBytesEnumsAndJson)
{
    EXPECT_EQ(Where(R"({"w":0.0})"), (Ids{2, 3}));  // -0.0 equals 0.0
    EXPECT_EQ(Where(R"({"w":{"lt":0.0}})"), (Ids{}));
    EXPECT_EQ(Where(R"({"w":{"gte":1.5}})"), (Ids{1, 4, 6, 7}));
    EXPECT_EQ(Where(R"({"ok":false})"), (Ids{2, 5}));
    EXPECT_EQ(Where(R"({"ok":{"lt":true}})"), (Ids{2, 5}));  // false < true
    EXPECT_EQ(Where(R"({"raw":"AQI="})"), (Ids{1}));
    EXPECT_EQ(Where(R"({"raw":{"lt":"AQI="}})"), (Ids{4}));  // 00 < 01 02
    EXPECT_EQ(Where(R"({"cat":{"gt":"a"}})"), (Ids{3, 4, 5, 6, 8}));  // by bytes, not declaration order
    EXPECT_EQ(Where(R"({"meta":{"equals":{"x":1}}})"), (Ids{1}));
    EXPECT_EQ(Where(R"({"meta":{"not":{"x":1}}})"), (Ids{}));  // the others are null
}

TEST_F(QueryOps, OperatorsOnTheId)
{
    EXPECT_EQ(Where(R"({"id":3})"), (Ids{3}));
    EXPECT_EQ(Where(R"({"id":{"in":[3,1,99]}})"), (Ids{1, 3}));
    EXPECT_EQ(Where(R"({"id":{"gt":6}})"), (Ids{7, 8}));
    EXPECT_EQ(Where(R"({"id":{"not":1,"lte":3}})"), (Ids{2, 3}));
}

// ---- combined --------------------------------------------------------------------------------------------------

TEST_F(QueryOps, AndOrNotNestedToAnyDepth)
{
    EXPECT_EQ(Where(R"({"AND":[{"cat":"a"},{"qty":12}]})"), (Ids{2, 7}));
    EXPECT_EQ(Where(R"({"AND":{"cat":"a","qty":12}})"), (Ids{2, 7}));
    EXPECT_EQ(Where(R"({"OR":[{"cat":"c"},{"qty":12}]})"), (Ids{2, 5, 6, 7}));
    // NOT of a list: none of them holds
    EXPECT_EQ(Where(R"({"NOT":[{"cat":"a"},{"qty":5}]})"), (Ids{4, 5, 6}));
    EXPECT_EQ(Where(R"({"NOT":{"cat":"a","qty":12}})"), (Ids{1, 3, 4, 5, 6, 8}));  // 3: false AND unknown
    EXPECT_EQ(Where(R"({"cat":"b","OR":[{"qty":{"gt":6}},{"price":{"lt":0}}]})"), (Ids{4, 8}));
    EXPECT_EQ(Where(R"({"OR":[{"AND":[{"cat":"a"},{"NOT":{"OR":[{"qty":5},{"w":1.5}]}}]},{"id":6}]})"),
              (Ids{2, 6}));
    EXPECT_EQ(Where(R"({"AND":[]})"), (Ids{1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(Where(R"({"OR":[]})"), (Ids{}));
    EXPECT_EQ(Where(R"({"NOT":[]})"), (Ids{1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(Where(R"({})"), (Ids{1, 2, 3, 4, 5, 6, 7, 8}));
}

// ---- orderBy, take, skip, cursor ------------------------------------------------------------------------------

TEST_F(QueryOps, OrderByWithNullsAndTies)
{
    // qty asc: nulls first by default; ties by id
    EXPECT_EQ(Args(R"({"orderBy":{"qty":"asc"}})"), (Ids{3, 6, 5, 1, 8, 4, 2, 7}));
    // desc: nulls last; the id tie-breaker follows the last key (desc)
    EXPECT_EQ(Args(R"({"orderBy":{"qty":"desc"}})"), (Ids{7, 2, 4, 8, 1, 5, 6, 3}));
    EXPECT_EQ(Args(R"({"orderBy":{"qty":{"sort":"asc","nulls":"last"}}})"), (Ids{6, 5, 1, 8, 4, 2, 7, 3}));
    EXPECT_EQ(Args(R"({"orderBy":{"qty":{"sort":"desc","nulls":"first"}}})"), (Ids{3, 7, 2, 4, 8, 1, 5, 6}));
    EXPECT_EQ(Args(R"({"orderBy":[{"cat":"asc"},{"qty":"desc"}]})"), (Ids{7, 2, 1, 4, 8, 3, 5, 6}));
    EXPECT_EQ(Args(R"({"orderBy":[{"price":"desc"},{"name":"asc"}]})"), (Ids{6, 3, 4, 1, 7, 2, 8, 5}));
    EXPECT_EQ(Args(R"({"orderBy":{"name":"asc"}})"), (Ids{8, 1, 2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(Args(R"({"orderBy":{"id":"desc"}})"), (Ids{8, 7, 6, 5, 4, 3, 2, 1}));
    EXPECT_EQ(Args(R"({"where":{"cat":"a"},"orderBy":{"qty":"desc"},"take":2})"), (Ids{7, 2}));
}

TEST_F(QueryOps, TakeAndSkipEdges)
{
    EXPECT_EQ(Args(R"({"take":0})"), (Ids{}));
    EXPECT_EQ(Args(R"({"take":3})"), (Ids{1, 2, 3}));
    EXPECT_EQ(Args(R"({"take":-2})"), (Ids{7, 8}));  // from the end, in the query's order
    EXPECT_EQ(Args(R"({"take":-2,"skip":1})"), (Ids{6, 7}));
    EXPECT_EQ(Args(R"({"take":-20})"), (Ids{1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(Args(R"({"skip":2,"take":2})"), (Ids{3, 4}));
    EXPECT_EQ(Args(R"({"skip":8})"), (Ids{}));
    EXPECT_EQ(Args(R"({"skip":100,"take":5})"), (Ids{}));
    EXPECT_EQ(Args(R"({"where":{"cat":"a"},"orderBy":{"qty":"asc"},"take":-1})"), (Ids{7}));
    EXPECT_EQ(Count(R"({"take":-3})"), 3);
    EXPECT_EQ(Count(R"({"skip":6})"), 2);
}

TEST_F(QueryOps, CursorPositions)
{
    EXPECT_EQ(Args(R"({"cursor":{"id":3}})"), (Ids{3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(Args(R"({"cursor":{"id":3},"skip":1,"take":2})"), (Ids{4, 5}));
    EXPECT_EQ(Args(R"({"cursor":{"id":1},"take":-1})"), (Ids{1}));
    EXPECT_EQ(Args(R"({"cursor":{"id":1},"take":-5})"), (Ids{1}));
    EXPECT_EQ(Args(R"({"cursor":{"id":8},"take":5})"), (Ids{8}));
    EXPECT_EQ(Args(R"({"cursor":{"id":5},"take":-3})"), (Ids{3, 4, 5}));
    EXPECT_EQ(Args(R"({"cursor":{"id":5},"take":-3,"skip":1})"), (Ids{2, 3, 4}));
    // with an orderBy the position is the cursor record's values
    EXPECT_EQ(Args(R"({"orderBy":{"qty":"asc"},"cursor":{"id":8},"take":3})"), (Ids{8, 4, 2}));
    EXPECT_EQ(Args(R"({"orderBy":{"qty":"asc"},"cursor":{"id":8},"take":-3})"), (Ids{5, 1, 8}));
    // the cursor's record need not match the where
    EXPECT_EQ(Args(R"({"where":{"cat":"a"},"cursor":{"id":3}})"), (Ids{7}));
    // a unique selector
    EXPECT_EQ(Args(R"({"cursor":{"sku":"B2"},"take":2})"), (Ids{2, 3}));
    EXPECT_EQ(Count(R"({"cursor":{"id":6}})"), 3);
}

// A cursor made from a deleted record's id and order values keeps its place; its id alone is NOT_FOUND.
TEST_F(QueryOps, CursorOnADeletedRecord)
{
    KT_ASSERT_OK(Run("delete", R"({"where":{"id":1}})"));
    EXPECT_EQ(Args(R"({"orderBy":{"qty":"asc"},"cursor":{"id":1,"qty":5}})"), (Ids{8, 4, 2, 7}));
    EXPECT_EQ(Args(R"({"orderBy":{"qty":"asc"},"cursor":{"id":1,"qty":5},"take":-2})"), (Ids{6, 5}));
    EXPECT_EQ(Args(R"({"orderBy":{"qty":"asc"},"cursor":{"id":1,"qty":null},"take":2})"), (Ids{3, 6}));
    EXPECT_EQ(Args(R"({"orderBy":[{"cat":"asc"},{"qty":"desc"}],"cursor":{"id":1,"cat":"a","qty":5}})"),
              (Ids{4, 8, 3, 5, 6}));
    // ordered by the id alone, the id is the whole position: no record is needed
    EXPECT_EQ(Args(R"({"cursor":{"id":1},"take":2})"), (Ids{2, 3}));
    ExpectError(Run("findMany", R"({"orderBy":{"qty":"asc"},"cursor":{"id":1}})"), KVORM_ENOTFOUND, "NOT_FOUND",
                "1");
}

TEST_F(QueryOps, FindFirstAndFindFirstOrThrow)
{
    JRes r = Run("findFirst", R"({"where":{"cat":"a"},"orderBy":{"qty":"desc"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("id"), 7) << r.text;
    r = Run("findFirst", R"({"where":{"cat":"a","qty":99}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text, "null");
    r = Run("findFirstOrThrow", R"({"where":{"name":"fig"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("id"), 6);
    ExpectError(Run("findFirstOrThrow", R"({"where":{"name":"kiwi"}})"), KVORM_ENOTFOUND, "NOT_FOUND", "P");
}

TEST_F(QueryOps, SelectOnTheFindManyFamily)
{
    JRes r = Run("findMany", R"({"where":{"id":1},"select":{"name":true,"price":true}})");
    KT_ASSERT_OK(r);
    ASSERT_TRUE(json_is_array(r.get()) && json_array_size(r.get()) == 1) << r.text;
    EXPECT_EQ(KeysOf(json_array_get(r.get(), 0)), (std::set<std::string>{"name", "price"})) << r.text;
    r = Run("findFirst", R"({"where":{"id":2},"select":{"id":true,"$version":true}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(KeysOf(r.get()), (std::set<std::string>{"id", "$version"})) << r.text;
    EXPECT_EQ(r.integer("$version"), 1);
    ExpectError(Run("findMany", R"({"select":{"nope":true}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "nope");
}

// ---- aggregates and groupBy -------------------------------------------------------------------------------------

TEST_F(QueryOps, EveryAggregate)
{
    JRes r = Run("aggregate", R"({"_count":{"_all":true,"qty":true,"price":true},
        "_min":{"qty":true,"price":true,"name":true,"at":true,"cat":true},
        "_max":{"qty":true,"price":true,"name":true,"at":true,"w":true},
        "_sum":{"qty":true,"price":true,"w":true}, "_avg":{"qty":true,"price":true,"w":true}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(KeysOf(r.get()), (std::set<std::string>{"_count", "_min", "_max", "_sum", "_avg"})) << r.text;
    JsonPtr want = ParseJson(R"({"_count":{"_all":8,"qty":7,"price":7},
        "_min":{"qty":-3,"price":"-2","name":"Apple","at":"2023-12-31T23:59:59.500000000Z","cat":"a"},
        "_max":{"qty":12,"price":"100.001","name":"grape","at":"2024-06-01T12:00:00Z","w":3.25},
        "_sum":{"qty":38,"price":"121.241","w":8.25},
        "_avg":{"price":"17.32014285714285714285714285714286"}})");
    for (const char *agg : {"_count", "_min", "_max", "_sum"}) {
        const json_t *w = json_object_get(want.get(), agg), *g = r.at(agg);
        EXPECT_TRUE(g && json_equal(const_cast<json_t *>(w), const_cast<json_t *>(g)))
            << agg << ": want " << DumpJson(w) << ", got " << DumpJson(g);
    }
    const json_t *avg = r.at("_avg");
    ASSERT_TRUE(avg && json_is_object(avg)) << r.text;
    EXPECT_NEAR(json_number_value(json_object_get(avg, "qty")), 38.0 / 7, 1e-12) << r.text;
    EXPECT_NEAR(json_number_value(json_object_get(avg, "w")), 8.25 / 6, 1e-12) << r.text;
    EXPECT_TRUE(json_equal(json_object_get(avg, "price"), json_object_get(json_object_get(want.get(), "_avg"),
                                                                          "price")))
        << r.text;
}

TEST_F(QueryOps, AggregatesOverAWhereAWindowAndNoRows)
{
    JRes r = Run("aggregate", R"({"where":{"cat":"a"},"_count":true,"_sum":{"qty":true}})");
    KT_ASSERT_OK(r);
    ExpectJson(r, R"({"_count":3,"_sum":{"qty":29}})");
    r = Run("aggregate", R"({"orderBy":{"qty":"desc"},"take":2,"_sum":{"qty":true},"_min":{"name":true}})");
    KT_ASSERT_OK(r);
    JsonPtr want = ParseJson(R"({"_sum":{"qty":24},"_min":{"name":"banana"}})");
    EXPECT_TRUE(json_equal(want.get(), r.doc.get())) << r.text;
    r = Run("aggregate", R"({"where":{"qty":99},"_count":{"_all":true,"qty":true},"_min":{"qty":true},
        "_max":{"price":true},"_sum":{"qty":true},"_avg":{"price":true}})");
    KT_ASSERT_OK(r);
    want = ParseJson(R"({"_count":{"_all":0,"qty":0},"_min":{"qty":null},"_max":{"price":null},
        "_sum":{"qty":null},"_avg":{"price":null}})");
    EXPECT_TRUE(json_equal(want.get(), r.doc.get())) << r.text;
    r = Run("aggregate", R"({"where":{"id":3},"_sum":{"qty":true},"_avg":{"qty":true}})");  // only nulls
    KT_ASSERT_OK(r);
    ExpectJson(r, R"({"_sum":{"qty":null},"_avg":{"qty":null}})");
}

TEST_F(QueryOps, SumOfIntegersLeavingInt64IsADecimal)
{
    KT_ASSERT_OK(Run("createMany",
                     R"({"data":[{"id":1,"v":9223372036854775807},{"id":2,"v":9223372036854775807},{"id":3,"v":1}]})",
                     "Big"));
    JRes r = Run("aggregate", R"({"_sum":{"v":true},"_avg":{"v":true}})", "Big");
    KT_ASSERT_OK(r);
    const json_t *sum = json_object_get(r.at("_sum"), "v");
    ASSERT_TRUE(sum && json_is_string(sum)) << r.text;
    EXPECT_STREQ(json_string_value(sum), "18446744073709551615");
    EXPECT_NEAR(json_number_value(json_object_get(r.at("_avg"), "v")), 6148914691236517205.0, 1e4) << r.text;
    r = Run("aggregate", R"({"where":{"id":{"in":[1,3]}},"_sum":{"v":true}})", "Big");
    KT_ASSERT_OK(r);
    ExpectJson(r, R"({"_sum":{"v":"9223372036854775808"}})");
    r = Run("aggregate", R"({"where":{"id":{"in":[2]}},"_sum":{"v":true}})", "Big");
    KT_ASSERT_OK(r);
    ExpectJson(r, R"({"_sum":{"v":9223372036854775807}})");
}

TEST_F(QueryOps, AverageOfDecimalsRoundsHalfEvenAt32Digits)
{
    KT_ASSERT_OK(Run("deleteMany", R"({"where":{"id":{"notIn":[1,2,3]}}})"));
    KT_ASSERT_OK(Run("updateMany", R"({"where":{"id":1},"data":{"price":"1"}})"));
    KT_ASSERT_OK(Run("updateMany", R"({"where":{"id":{"in":[2,3]}},"data":{"price":"0"}})"));
    JRes r = Run("aggregate", R"({"_avg":{"price":true}})");
    KT_ASSERT_OK(r);
    ExpectJson(r, R"({"_avg":{"price":"0.33333333333333333333333333333333"}})");
    KT_ASSERT_OK(Run("updateMany", R"({"where":{"id":2},"data":{"price":"1"}})"));
    r = Run("aggregate", R"({"_avg":{"price":true}})");
    KT_ASSERT_OK(r);
    ExpectJson(r, R"({"_avg":{"price":"0.66666666666666666666666666666667"}})");
    KT_ASSERT_OK(Run("updateMany", R"({"where":{"id":{"in":[1,2,3]}},"data":{"price":"0.5"}})"));
    r = Run("aggregate", R"({"_avg":{"price":true}})");
    KT_ASSERT_OK(r);
    ExpectJson(r, R"({"_avg":{"price":"0.5"}})");
}

TEST_F(QueryOps, GroupByWithAggregatesHavingOrderByAndTake)
{
    JRes r = Run("groupBy", R"({"by":["cat"],"_count":{"_all":true},"_sum":{"qty":true}})");
    KT_ASSERT_OK(r);
    JsonPtr want = ParseJson(R"([{"cat":"a","_count":{"_all":3},"_sum":{"qty":29}},
        {"cat":"b","_count":{"_all":3},"_sum":{"qty":12}},{"cat":"c","_count":{"_all":2},"_sum":{"qty":-3}}])");
    EXPECT_TRUE(json_equal(want.get(), r.doc.get())) << r.text;

    r = Run("groupBy", R"({"by":["cat"],"_sum":{"qty":true},"having":{"qty":{"_sum":{"gt":5}}}})");
    KT_ASSERT_OK(r);
    want = ParseJson(R"([{"cat":"a","_sum":{"qty":29}},{"cat":"b","_sum":{"qty":12}}])");
    EXPECT_TRUE(json_equal(want.get(), r.doc.get())) << r.text;

    r = Run("groupBy", R"({"by":["cat"],"_count":{"_all":true},"having":{"_count":{"_all":{"gte":3}},"cat":{"not":"a"}}})");
    KT_ASSERT_OK(r);
    want = ParseJson(R"([{"cat":"b","_count":{"_all":3}}])");
    EXPECT_TRUE(json_equal(want.get(), r.doc.get())) << r.text;

    r = Run("groupBy", R"({"by":["cat"],"_sum":{"qty":true},"orderBy":{"_sum":{"qty":"asc"}},"take":2})");
    KT_ASSERT_OK(r);
    want = ParseJson(R"([{"cat":"c","_sum":{"qty":-3}},{"cat":"b","_sum":{"qty":12}}])");
    EXPECT_TRUE(json_equal(want.get(), r.doc.get())) << r.text;

    r = Run("groupBy", R"({"by":["cat"],"_count":{"_all":true},"orderBy":[{"_count":{"_all":"desc"}},{"cat":"desc"}],"skip":1})");
    KT_ASSERT_OK(r);
    want = ParseJson(R"([{"cat":"a","_count":{"_all":3}},{"cat":"c","_count":{"_all":2}}])");
    EXPECT_TRUE(json_equal(want.get(), r.doc.get())) << r.text;

    // two by fields, a where, min/max/avg; a null ok is a group of its own
    r = Run("groupBy", R"({"by":["cat","ok"],"where":{"cat":{"in":["b","c"]}},"_max":{"price":true},"_min":{"qty":true}})");
    KT_ASSERT_OK(r);
    want = ParseJson(R"([{"cat":"b","ok":null,"_max":{"price":"10"},"_min":{"qty":5}},
        {"cat":"b","ok":true,"_max":{"price":"9.99"},"_min":{"qty":7}},
        {"cat":"c","ok":false,"_max":{"price":null},"_min":{"qty":0}},
        {"cat":"c","ok":true,"_max":{"price":"100.001"},"_min":{"qty":-3}}])");
    EXPECT_TRUE(json_equal(want.get(), r.doc.get())) << r.text;
}

// ---- explain and the planner ------------------------------------------------------------------------------------

// Values longer than an index key keeps (128 bytes) share one cut key and follow each other by id there, not by
// value: an ordered read with take reads the whole run of a cut key it ends in, and sorts it by the values.
TEST_F(QueryOps, OrderByALongValueWithTakeSortsTheRunOfItsCutKey)
{
    const std::string p(130, 'x');
    std::vector<std::pair<std::string, long long>> rows;  // (name, id), made so that id order is not name order
    std::string data = "[";
    for (int i = 0; i < 40; i++) {
        std::string name = p + static_cast<char>('a' + (i * 7) % 26) + std::to_string(i);
        rows.push_back({name, 100 + i});
        data += (i ? "," : "") + std::string("{\"id\":") + std::to_string(100 + i) + ",\"name\":" + JStr(name) +
                ",\"cat\":\"c\"}";
    }
    KT_ASSERT_OK(Run("createMany", "{\"data\":" + data + "]}"));
    std::sort(rows.begin(), rows.end());
    auto want = [&](size_t from, size_t n, bool desc) {
        Ids ids;
        for (size_t k = 0; k < n; k++)
            ids.push_back(desc ? rows[rows.size() - 1 - from - k].second : rows[from + k].second);
        return ids;
    };
    const std::string where = "{\"name\":{\"startsWith\":\"xxx\"}}";
    // the name index, and the composite (cat, qty) is no help: ordered by name through the name index
    EXPECT_EQ(Where(where, ",\"orderBy\":{\"name\":\"asc\"},\"take\":3"), want(0, 3, false));
    EXPECT_EQ(Where(where, ",\"orderBy\":{\"name\":\"desc\"},\"take\":3"), want(0, 3, true));
    EXPECT_EQ(Where(where, ",\"orderBy\":{\"name\":\"asc\"},\"skip\":5,\"take\":4"), want(5, 4, false));
    EXPECT_EQ(Where(where, ",\"orderBy\":{\"name\":\"asc\"},\"take\":-2"), want(38, 2, false));
    EXPECT_EQ(Args("{\"orderBy\":{\"name\":\"desc\"},\"take\":2}"), want(0, 2, true));
    // a walk by cursor meets every row once, in order
    Ids walked;
    std::string cursor;
    for (int page = 0; page < 20 && walked.size() < rows.size(); page++) {
        Ids got = Where(where, ",\"orderBy\":{\"name\":\"asc\"},\"take\":7" +
                                   (cursor.empty() ? "" : ",\"skip\":1,\"cursor\":{\"id\":" + cursor + "}"));
        if (got.empty() || got[0] == -1)
            break;
        walked.insert(walked.end(), got.begin(), got.end());
        cursor = std::to_string(got.back());
    }
    EXPECT_EQ(walked, want(0, rows.size(), false));
}

TEST_F(QueryOps, ExplainNamesThePlanKinds)
{
    JsonPtr p = Explain("findMany", R"({"where":{"id":{"in":[1,2]}}})");
    EXPECT_EQ(PlanStr(p, "plan"), "get") << DumpJson(p.get());
    EXPECT_EQ(PlanStr(p, "op"), "findMany");
    EXPECT_EQ(PlanStr(p, "model"), "P");
    p = Explain("findMany", R"({"where":{"sku":"A1"}})");
    EXPECT_EQ(PlanStr(p, "plan"), "unique") << DumpJson(p.get());
    p = Explain("findMany", R"({"where":{"qty":{"gt":3}}})");
    EXPECT_EQ(PlanStr(p, "plan"), "index") << DumpJson(p.get());
    EXPECT_EQ(PlanStr(p, "index"), "qty") << DumpJson(p.get());
    // the equality prefix then a range on the next part wins over one fixed part alone
    p = Explain("findMany", R"({"where":{"cat":"a","qty":{"gte":5}}})");
    EXPECT_EQ(PlanStr(p, "plan"), "index") << DumpJson(p.get());
    EXPECT_EQ(PlanStr(p, "index"), "cat_qty") << DumpJson(p.get());
    p = Explain("count", R"({"where":{"OR":[{"qty":5},{"name":"fig"}]}})");
    EXPECT_EQ(PlanStr(p, "plan"), "union") << DumpJson(p.get());
    p = Explain("findMany", R"({"where":{"note":"x"}})");
    EXPECT_EQ(PlanStr(p, "plan"), "scan") << DumpJson(p.get());
    EXPECT_TRUE(json_is_null(json_object_get(p.get(), "index"))) << DumpJson(p.get());
    EXPECT_TRUE(json_is_false(json_object_get(p.get(), "refused"))) << DumpJson(p.get());
    EXPECT_TRUE(json_is_true(json_object_get(p.get(), "residual"))) << DumpJson(p.get());
    for (const char *k : {"op", "model", "plan", "index", "ranges", "ordered", "sort", "residual", "estimatedRows",
                          "roundTrips", "skippedIndexes", "refused"})
        EXPECT_TRUE(json_object_get(p.get(), k)) << k << " missing: " << DumpJson(p.get());
    // an index whose order gives the orderBy is read in order, no sort
    p = Explain("findMany", R"({"where":{"cat":"a"},"orderBy":{"qty":"asc"},"take":2})");
    EXPECT_EQ(PlanStr(p, "index"), "cat_qty") << DumpJson(p.get());
    EXPECT_TRUE(json_is_true(json_object_get(p.get(), "ordered"))) << DumpJson(p.get());
    EXPECT_TRUE(json_is_false(json_object_get(p.get(), "sort"))) << DumpJson(p.get());
    p = Explain("findMany", R"({"where":{"cat":"a"},"orderBy":{"price":"desc"}})");
    EXPECT_EQ(PlanStr(p, "index"), "cat_price") << DumpJson(p.get());
    p = Explain("findMany", R"({"where":{"note":"x"},"orderBy":{"w":"asc"}})");
    EXPECT_TRUE(json_is_true(json_object_get(p.get(), "sort"))) << DumpJson(p.get());
    ExpectError(Run("explain", R"({"op":"frobnicate","args":{}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST",
                "frobnicate");
}

TEST_F(QueryOps, RefuseScansPerQuery)
{
    JRes r = Run("findMany", R"({"where":{"note":"x"},"refuseScans":true})");
    ExpectError(r, KVORM_EREFUSED, "REFUSED", "P");
    ExpectError(Run("count", R"({"where":{"w":1.5},"refuseScans":true})"), KVORM_EREFUSED, "REFUSED", "P");
    EXPECT_EQ(Args(R"({"where":{"qty":12},"refuseScans":true})"), (Ids{2, 7}));
    EXPECT_EQ(Args(R"({"where":{"id":1,"note":"x"},"refuseScans":true})"), (Ids{}));
    EXPECT_EQ(Args(R"({"where":{"note":""},"refuseScans":false})"), (Ids{5}));
    JsonPtr p = Explain("findMany", R"({"where":{"note":"x"},"refuseScans":true})");
    EXPECT_TRUE(json_is_true(json_object_get(p.get(), "refused"))) << DumpJson(p.get());
}

TEST_F(QueryOps, RefuseScansOpenOption)
{
    SchemaPtr s = LoadSchema(kSchema);
    ASSERT_TRUE(s);
    kvorm_open_options o;
    ASSERT_EQ(kvorm_open_options_init(&o, KVORM_OPEN_OPTIONS_VERSION), KVORM_OK);
    EXPECT_EQ(o.refuse_scans, 0);
    o.refuse_scans = 1;
    kvorm_db *raw = nullptr;
    ASSERT_EQ(kvorm_open(&raw, DefaultUrl().c_str(), s.get(), &o), KVORM_OK) << LastError();
    DbPtr db(raw);
    JRes r = ExecJson(db.get(), Req("P", "findMany", R"({"where":{"note":"x"}})"));
    ExpectError(r, KVORM_EREFUSED, "REFUSED", "P");
    EXPECT_EQ(kvorm_last_error_code(), KVORM_EREFUSED);
    EXPECT_STREQ(kvorm_error_name(KVORM_EREFUSED), "REFUSED");
    r = ExecJson(db.get(), Req("P", "deleteMany", R"({"where":{"note":"x"}})"));
    EXPECT_EQ(r.rc, KVORM_EREFUSED) << r.text;
    r = ExecJson(db.get(), Req("P", "findMany", R"({"where":{"note":""},"refuseScans":false})"));
    KT_EXPECT_OK(r);
    EXPECT_EQ(IdsOf(r), (Ids{5}));
    r = ExecJson(db.get(), Req("P", "findMany", R"({"where":{"cat":"c"}})"));
    KT_EXPECT_OK(r);
    EXPECT_EQ(IdsOf(r), (Ids{5, 6}));
    // a version 1 struct (no refuse_scans) still opens, with scans allowed
    kvorm_open_options v1;
    ASSERT_EQ(kvorm_open_options_init(&v1, 1), KVORM_OK);
    kvorm_db *raw1 = nullptr;
    ASSERT_EQ(kvorm_open(&raw1, DefaultUrl().c_str(), s.get(), &v1), KVORM_OK) << LastError();
    DbPtr db1(raw1);
    r = ExecJson(db1.get(), Req("P", "findMany", R"({"where":{"note":""}})"));
    KT_EXPECT_OK(r);
}

// An index added to a model that already has records is built by reindex; until then the planner skips it.
TEST_F(QueryOps, ReindexBuildsAnIndexAddedLater)
{
    const std::string v1 = R"json({"namespace": "qx", "models": {"M": {"id": {"type": "integer"},
        "fields": {"tag": {"type": "string"}, "n": {"type": "integer"}}}}})json";
    const std::string v2 = R"json({"namespace": "qx", "models": {"M": {"id": {"type": "integer"},
        "fields": {"tag": {"type": "string", "index": true}, "n": {"type": "integer"}}}}})json";
    {
        DbPtr db = OpenDb(v1);
        ASSERT_TRUE(db);
        std::string data = "[";
        for (int k = 1; k <= 1200; k++)
            data += (k > 1 ? "," : "") + std::string("{\"id\":") + std::to_string(k) + ",\"tag\":\"t" +
                    std::to_string(k % 7) + "\",\"n\":" + std::to_string(k) + "}";
        JRes r = ExecJson(db.get(), Req("M", "createMany", "{\"data\":" + data + "]}"));
        KT_ASSERT_OK(r);
        ASSERT_EQ(r.integer("count"), 1200);
    }
    DbPtr db = OpenDb(v2);  // a compatible change: only an index added
    ASSERT_TRUE(db);
    JRes p = ExecJson(db.get(), Req("M", "explain", R"({"op":"findMany","args":{"where":{"tag":"t3"}}})"));
    KT_ASSERT_OK(p);
    EXPECT_EQ(p.str("plan"), "scan") << p.text;
    JsonPtr skipped = ParseJson(R"([{"index":"tag","why":"building"}])");
    EXPECT_TRUE(json_equal(skipped.get(), const_cast<json_t *>(p.at("skippedIndexes")))) << p.text;
    JRes c = ExecJson(db.get(), Req("M", "check"));
    KT_ASSERT_OK(c);
    EXPECT_TRUE(json_is_false(json_object_get(json_object_get(c.at("indexes"), "tag"), "ready"))) << c.text;
    // writes meanwhile keep the new index up to date
    KT_ASSERT_OK(ExecJson(db.get(), Req("M", "create", R"({"data":{"id":5000,"tag":"t3","n":0}})")));
    KT_ASSERT_OK(ExecJson(db.get(), Req("M", "update", R"({"where":{"id":3},"data":{"tag":"t4"}})")));
    KT_ASSERT_OK(ExecJson(db.get(), Req("M", "delete", R"({"where":{"id":10}})")));  // 10 % 7 == 3
    JRes before = ExecJson(db.get(), Req("M", "count", R"({"where":{"tag":"t3"}})"));
    KT_ASSERT_OK(before);
    EXPECT_EQ(before.text, "171");  // 172 of 1..1200 with k % 7 == 3, minus 3 and 10, plus 5000

    JRes r = ExecJson(db.get(), Req("M", "reindex", R"({"chunk":100})"));
    KT_ASSERT_OK(r);
    JsonPtr built = ParseJson(R"(["tag"])");
    EXPECT_TRUE(json_equal(built.get(), const_cast<json_t *>(r.at("built")))) << r.text;
    EXPECT_EQ(r.integer("records"), 1200) << r.text;
    p = ExecJson(db.get(), Req("M", "explain", R"({"op":"findMany","args":{"where":{"tag":"t3"}}})"));
    KT_ASSERT_OK(p);
    EXPECT_EQ(p.str("plan"), "index") << p.text;
    EXPECT_EQ(p.str("index"), "tag") << p.text;
    EXPECT_EQ(json_array_size(p.at("skippedIndexes")), 0u) << p.text;
    EXPECT_EQ(ExecJson(db.get(), Req("M", "count", R"({"where":{"tag":"t3"},"refuseScans":true})")).text, "171");
    JRes f = ExecJson(db.get(), Req("M", "findMany", R"({"where":{"tag":"t4"},"take":2})"));
    KT_ASSERT_OK(f);
    EXPECT_EQ(IdsOf(f), (Ids{3, 4}));
    c = ExecJson(db.get(), Req("M", "check"));
    KT_ASSERT_OK(c);
    EXPECT_TRUE(json_is_true(c.at("ok"))) << c.text;
    EXPECT_TRUE(json_is_true(json_object_get(json_object_get(c.at("indexes"), "tag"), "ready"))) << c.text;
    EXPECT_EQ(json_integer_value(json_object_get(json_object_get(c.at("indexes"), "tag"), "entries")), 1200)
        << c.text;
    // nothing left to build
    r = ExecJson(db.get(), Req("M", "reindex"));
    KT_ASSERT_OK(r);
    EXPECT_EQ(json_array_size(r.at("built")), 0u) << r.text;
}

TEST_F(QueryOps, CheckReportsCountsAndOk)
{
    JRes c = Run("check");
    KT_ASSERT_OK(c);
    EXPECT_TRUE(json_is_true(c.at("ok"))) << c.text;
    EXPECT_EQ(c.str("model"), "P");
    EXPECT_EQ(c.integer("records"), 8);
    for (const char *ix : {"name", "cat", "qty", "cat_qty", "cat_price"}) {
        const json_t *e = json_object_get(c.at("indexes"), ix);
        EXPECT_EQ(json_integer_value(json_object_get(e, "entries")), 8) << ix << ": " << c.text;
        EXPECT_TRUE(json_is_true(json_object_get(e, "ready"))) << ix << ": " << c.text;
    }
    const json_t *sku = json_object_get(c.at("uniques"), "sku");
    EXPECT_EQ(json_integer_value(json_object_get(sku, "entries")), 3) << c.text;  // nulls have none
    EXPECT_TRUE(json_is_true(json_object_get(sku, "ready"))) << c.text;
    EXPECT_EQ(json_array_size(c.at("problems")), 0u) << c.text;
}

// ---- the many-record writes -------------------------------------------------------------------------------------

TEST_F(QueryOps, CreateManyCountsAndSkipsDuplicates)
{
    JRes r = Run("createMany", R"({"data":[{"id":20,"name":"kiwi","cat":"a"},{"id":1,"name":"dup","cat":"a"},
        {"id":21,"name":"lime","cat":"b","sku":"A1"},{"id":22,"name":"mango","cat":"c","sku":"M22"}],
        "skipDuplicates":true})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 2) << r.text;  // id 1 and sku A1 are taken
    EXPECT_EQ(Where(R"({"id":{"gte":20}})"), (Ids{20, 22}));
    EXPECT_EQ(Where(R"({"name":"dup"})"), (Ids{}));
    // without skipDuplicates a taken value fails the whole call: nothing of it is created (docs/queries.md)
    r = Run("createMany", R"({"data":[{"id":30,"name":"n30","cat":"a"},{"id":31,"name":"n31","cat":"a"},
        {"id":2,"name":"dup","cat":"a"},{"id":32,"name":"n32","cat":"a"}]})");
    EXPECT_EQ(r.rc, KVORM_EUNIQUE) << r.text;
    EXPECT_EQ(r.str("code"), "UNIQUE_VIOLATION") << r.text;
    EXPECT_NE(r.str("message").find("\"2\""), std::string::npos) << "the message names the id: " << r.text;
    EXPECT_NE(r.str("message").find("0 record"), std::string::npos) << r.text;
    EXPECT_EQ(Where(R"({"id":{"gte":30}})"), (Ids{}));
    r = Run("createMany", R"({"data":[]})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 0);
    JRes c = Run("check");
    KT_ASSERT_OK(c);
    EXPECT_TRUE(json_is_true(c.at("ok"))) << c.text;
}

TEST_F(QueryOps, UpdateManyMovesIndexEntries)
{
    JRes r = Run("updateMany", R"({"where":{"cat":"a"},"data":{"note":"upd"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 3);
    EXPECT_EQ(Where(R"({"note":"upd"})"), (Ids{1, 2, 7}));
    r = Run("updateMany", R"({"where":{"qty":12},"data":{"qty":13,"cat":"c"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 2);
    EXPECT_EQ(Where(R"({"qty":12})"), (Ids{}));
    EXPECT_EQ(Where(R"({"qty":13})"), (Ids{2, 7}));
    EXPECT_EQ(Where(R"({"cat":"c","qty":{"gt":0}})"), (Ids{2, 7}));
    EXPECT_EQ(Where(R"({"cat":"a"})"), (Ids{1}));
    r = Run("updateMany", R"({"where":{"qty":99},"data":{"qty":1}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 0);
    r = Run("updateMany", R"({"data":{"ok":null}})");  // no where: every record
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 8);
    EXPECT_EQ(Count(R"({"where":{"ok":null}})"), 8);
    JRes f = Run("findFirst", R"({"where":{"id":2},"select":{"$version":true}})");
    EXPECT_EQ(f.integer("$version"), 4) << f.text;
    JRes c = Run("check");
    KT_ASSERT_OK(c);
    EXPECT_TRUE(json_is_true(c.at("ok"))) << c.text;
}

TEST_F(QueryOps, DeleteManyCounts)
{
    JRes r = Run("deleteMany", R"({"where":{"qty":{"lt":1}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 2);
    EXPECT_EQ(Args("{}"), (Ids{1, 2, 3, 4, 7, 8}));
    r = Run("deleteMany", R"({"where":{"name":"nope"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 0);
    r = Run("deleteMany", "");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 6);
    EXPECT_EQ(Count("{}"), 0);
    JRes c = Run("check");
    KT_ASSERT_OK(c);
    EXPECT_TRUE(json_is_true(c.at("ok"))) << c.text;
    EXPECT_EQ(c.integer("records"), 0);
}

// More records than one chunk (128 per round trip): every one is written with its index entries.
TEST_F(QueryOps, ManyWritesAcrossChunks)
{
    std::string data = "[";
    for (int k = 100; k < 500; k++)
        data += (k > 100 ? "," : "") + std::string("{\"id\":") + std::to_string(k) + ",\"name\":\"n" +
                std::to_string(k) + "\",\"cat\":\"b\",\"qty\":" + std::to_string(k % 3) + "}";
    JRes r = Run("createMany", "{\"data\":" + data + "]}");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 400);
    r = Run("updateMany", R"({"where":{"qty":1,"id":{"gte":100}},"data":{"qty":50}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 134);
    EXPECT_EQ(Count(R"({"where":{"qty":50}})"), 134);
    EXPECT_EQ(Count(R"({"where":{"cat":"b","qty":50}})"), 134);
    r = Run("deleteMany", R"({"where":{"cat":"b","id":{"gte":100}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 400);
    EXPECT_EQ(Count("{}"), 8);
    JRes c = Run("check");
    KT_ASSERT_OK(c);
    EXPECT_TRUE(json_is_true(c.at("ok"))) << c.text;
}

// ---- errors -----------------------------------------------------------------------------------------------------

TEST_F(QueryOps, UnknownNamesAreBadRequestsNamingThem)
{
    ExpectError(Run("findMany", R"({"where":{"nope":1}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "nope");
    ExpectError(Run("findMany", R"({"where":{"OR":[{"deep":{"gt":1}}]}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST",
                "deep");
    ExpectError(Run("findMany", R"({"where":{"qty":{"like":1}}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "like");
    ExpectError(Run("findMany", R"({"where":{"qty":{"not":{"between":1}}}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST",
                "between");
    ExpectError(Run("findMany", R"({"wher":{}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "wher");
    ExpectError(Run("count", R"({"select":{"id":true}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "select");
    ExpectError(Run("aggregate", R"({"_median":{"qty":true}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "_median");
    ExpectError(Run("aggregate", R"({"_min":{"nope":true}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "nope");
    ExpectError(Run("findMany", R"({"orderBy":{"nope":"asc"}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "nope");
    ExpectError(Run("findMany", R"({"orderBy":{"qty":"up"}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "qty");
    ExpectError(Run("findMany", R"({"orderBy":{"qty":{"sort":"asc","nulls":"middle"}}})"), KVORM_EBAD_REQUEST,
                "BAD_REQUEST", "nulls");
    ExpectError(Run("groupBy", R"({"_count":true})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "by");
    ExpectError(Run("groupBy", R"({"by":["nope"]})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "nope");
    ExpectError(Run("updateMany", R"({"where":{}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "data");
    ExpectError(Run("createMany", R"({})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "data");
    ExpectError(Run("reindex", R"({"index":"nope"})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "nope");
}

TEST_F(QueryOps, MalformedArgumentsAreBadRequests)
{
    ExpectError(Run("findMany", R"({"where":{"qty":{"in":5}}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "in");
    ExpectError(Run("findMany", R"({"where":{"qty":{"notIn":{"a":1}}}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST",
                "notIn");
    ExpectError(Run("findMany", R"({"where":{"OR":{"qty":1}}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "OR");
    ExpectError(Run("findMany", R"({"where":{"AND":5}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "AND");
    ExpectError(Run("findMany", R"({"where":{"qty":{"AND":[]}}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "AND");
    ExpectError(Run("findMany", R"({"where":[]})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "where");
    ExpectError(Run("findMany", R"({"take":"3"})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "take");
    ExpectError(Run("findMany", R"({"skip":-1})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "skip");
    ExpectError(Run("findMany", R"({"cursor":5})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "cursor");
    ExpectError(Run("findMany", R"({"cursor":{"name":"apple"}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "name");
    ExpectError(Run("findMany", R"({"refuseScans":"yes"})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "refuseScans");
    ExpectError(Run("createMany", R"({"data":{"id":1}})"), KVORM_EBAD_REQUEST, "BAD_REQUEST", "data");
    ExpectError(Run("createMany", R"({"data":[],"skipDuplicates":1})"), KVORM_EBAD_REQUEST, "BAD_REQUEST",
                "skipDuplicates");
    ExpectError(Run("explain", R"({"op":"findMany","args":{"where":{"nope":1}}})"), KVORM_EBAD_REQUEST,
                "BAD_REQUEST", "nope");
}

TEST_F(QueryOps, WrongValueTypesAreValidationErrorsNamingTheField)
{
    ExpectError(Run("findMany", R"({"where":{"qty":"five"}})"), KVORM_EVALIDATION, "VALIDATION", "qty");
    ExpectError(Run("findMany", R"({"where":{"qty":{"gt":1.5}}})"), KVORM_EVALIDATION, "VALIDATION", "qty");
    ExpectError(Run("findMany", R"({"where":{"qty":{"in":[1,"x"]}}})"), KVORM_EVALIDATION, "VALIDATION", "qty");
    ExpectError(Run("findMany", R"({"where":{"price":{"lt":"abc"}}})"), KVORM_EVALIDATION, "VALIDATION", "price");
    ExpectError(Run("findMany", R"({"where":{"at":{"gt":"yesterday"}}})"), KVORM_EVALIDATION, "VALIDATION", "at");
    ExpectError(Run("findMany", R"({"where":{"cat":"z"}})"), KVORM_EVALIDATION, "VALIDATION", "cat");
    ExpectError(Run("findMany", R"({"where":{"ok":1}})"), KVORM_EVALIDATION, "VALIDATION", "ok");
    ExpectError(Run("findMany", R"({"where":{"raw":"not base64!"}})"), KVORM_EVALIDATION, "VALIDATION", "raw");
    ExpectError(Run("findMany", R"({"where":{"name":{"startsWith":5}}})"), KVORM_EVALIDATION, "VALIDATION",
                "name");
    ExpectError(Run("findMany", R"({"where":{"id":"one"}})"), KVORM_EVALIDATION, "VALIDATION", "id");
    ExpectError(Run("findMany", R"({"cursor":{"id":"one"}})"), KVORM_EVALIDATION, "VALIDATION", "id");
    ExpectError(Run("updateMany", R"({"where":{"cat":"a"},"data":{"qty":"x"}})"), KVORM_EVALIDATION, "VALIDATION",
                "qty");
    ExpectError(Run("updateMany", R"({"where":{"cat":"a"},"data":{"cat":null}})"), KVORM_EVALIDATION,
                "VALIDATION", "cat");
    ExpectError(Run("createMany", R"({"data":[{"id":40,"name":"x","cat":"a"},{"id":41,"name":5,"cat":"a"}]})"),
                KVORM_EVALIDATION, "VALIDATION", "name");
    EXPECT_EQ(Count("{}"), 8);  // every record is checked first: a bad one leaves nothing behind
    EXPECT_EQ(Where(R"({"cat":"a","note":null,"qty":null})"), (Ids{}));
}

// Operators that do not apply to a field's type are refused, naming the field (never silently ignored).
TEST_F(QueryOps, OperatorsThatDoNotFitTheFieldAreRefused)
{
    for (const char *w : {R"({"qty":{"startsWith":"1"}})", R"({"ok":{"contains":"t"}})",
                          R"({"meta":{"gt":{"x":1}}})", R"({"meta":{"in":[{"x":1}]}})"}) {
        JRes r = Run("findMany", std::string("{\"where\":") + w + "}");
        EXPECT_TRUE(r.rc == KVORM_EBAD_REQUEST || r.rc == KVORM_EVALIDATION) << w << " -> " << r.text;
        std::string field = std::string(w).substr(2, std::string(w).find('"', 2) - 2);
        std::vector<std::string> f = r.fields();
        EXPECT_TRUE(r.str("message").find(field) != std::string::npos ||
                    std::find(f.begin(), f.end(), field) != f.end())
            << w << " -> " << r.text;
    }
    for (const char *a : {R"({"_sum":{"name":true}})", R"({"_avg":{"ok":true}})", R"({"_min":{"meta":true}})"}) {
        JRes r = Run("aggregate", a);
        EXPECT_TRUE(r.rc == KVORM_EBAD_REQUEST || r.rc == KVORM_EVALIDATION) << a << " -> " << r.text;
    }
}

}  // namespace
}  // namespace kt
