// A reference implementation of docs/queries.md for the query tests, written from the spec and independent of the
// core: values of every indexable type, their order, where trees in three-valued logic, orderBy, take/skip/cursor
// windows and aggregates, all evaluated by brute force over records kept in the test.
#ifndef KVORM_TESTS_QUERY_UTIL_H
#define KVORM_TESTS_QUERY_UTIL_H

#include <jansson.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kt {
namespace q {

enum class Type { String, Integer, Float, Boolean, Datetime, Decimal, Enum, Bytes };

// One value; null when null is set. string/enum: s (UTF-8); bytes: s (raw); decimal: s (normalized text);
// integer, boolean: i; datetime: i (nanoseconds since the epoch, UTC); float: f.
struct Val {
    bool null = true;
    long long i = 0;
    double f = 0;
    std::string s;

    static Val Null() { return Val(); }
    static Val Int(long long v);
    static Val Flt(double v);
    static Val Str(const std::string &v);  // string, enum, bytes
    static Val Dec(const std::string &text);  // normalizes
    static Val Bool(bool v);
    static Val Time(long long ns);
};

struct Field {
    std::string name;
    Type type;
};

// The fields of a model the reference knows, the id first (index 0, named "id").
struct Model {
    std::vector<Field> fields;
    int Find(const std::string &name) const;  // -1 when unknown
    bool IdIsInt() const { return fields[0].type == Type::Integer; }
};

// A record: one value per field of the model, the id at 0.
using Rec = std::vector<Val>;

// ---- values ----------------------------------------------------------------------------------------------------

// Total order of two non-null values of one type (docs/queries.md "Order of values"): <0, 0, >0.
int Cmp(Type t, const Val &a, const Val &b);
// Equality as the where sees it (-0.0 == 0.0, decimals by value).
inline bool Eq(Type t, const Val &a, const Val &b) { return Cmp(t, a, b) == 0; }

// The JSON of a value as kvorm_exec_json writes it (a new reference).
json_t *ToJson(Type t, const Val &v);
// Reads a value of type t from JSON (a request operand or a response value); false when it does not fit.
bool FromJson(Type t, const json_t *j, Val *out);
std::string Show(Type t, const Val &v);  // for failure messages

// Decimals as normalized text: exact compare, sum and average.
std::string DecNormalize(const std::string &text);  // "" when not a decimal
int DecCmp(const std::string &a, const std::string &b);
std::string DecAdd(const std::string &a, const std::string &b);
// a / n rounded half even to at most `digits` fractional digits, normalized.
std::string DecDiv(const std::string &a, long long n, int digits);

// RFC 3339 UTC text of nanoseconds since the epoch, as kvorm writes it; and back (Z only).
std::string TimeText(long long ns);
bool ParseTime(const std::string &text, long long *ns);

// ---- where -----------------------------------------------------------------------------------------------------

enum class Tri { False, True, Unknown };

// Evaluates a where tree (as sent in a request) on a record; *err names what the reference cannot read.
Tri Eval(const Model &m, const json_t *where, const Rec &r, std::string *err);
inline bool Matches(const Model &m, const json_t *where, const Rec &r, std::string *err)
{
    return where == nullptr || Eval(m, where, r, err) == Tri::True;
}

// ---- order and window ------------------------------------------------------------------------------------------

struct OrderKey {
    int field;  // index into the model
    bool desc;
    bool nulls_first;
};

// Parses an orderBy (a map or an array of maps) and appends the id tie-breaker; false (and *err) when invalid.
bool ParseOrder(const Model &m, const json_t *order_by, std::vector<OrderKey> *out, std::string *err);
int CmpOrder(const Model &m, const std::vector<OrderKey> &o, const Rec &a, const Rec &b);

// The rows of a findMany: the records that match `where`, in the order of `order_by`, from the cursor, skipped
// and taken (negative take from the end). live: every record. A cursor's id with no live record and no values
// for some order field sets *not_found.
struct Window {
    const json_t *where = nullptr;
    const json_t *order_by = nullptr;
    bool has_take = false;
    long long take = 0;
    long long skip = 0;
    const json_t *cursor = nullptr;
};
std::vector<const Rec *> FindMany(const Model &m, const std::map<std::string, Rec> &live, const Window &w,
                                  bool *not_found, std::string *err);

// A key of a record's id for maps (integers ordered by text do not matter: maps are only lookup tables).
std::string IdKey(const Val &id);

// ---- aggregates ------------------------------------------------------------------------------------------------

// The expected result of an aggregate spec ({_count, _min, _max, _sum, _avg}) over rows, as JSON.
json_t *Aggregate(const Model &m, const json_t *spec, const std::vector<const Rec *> &rows, std::string *err);
// Compares an aggregate result with the expected one: floats within a relative tolerance (sums depend on the
// order of addition), everything else exactly. *why says the first difference.
bool SameAggregate(const Model &m, const json_t *spec, const json_t *want, const json_t *got, std::string *why);

// ---- records ---------------------------------------------------------------------------------------------------

// Builds the JSON of a record's data (every non-null field, and the id); nulls are written or omitted.
json_t *RecordJson(const Model &m, const Rec &r, bool explicit_nulls);
// Compares a returned record with the reference one on the keys it holds; *why says the first difference.
bool SameRecord(const Model &m, const Rec &want, const json_t *got, std::string *why);

}  // namespace q
}  // namespace kt

#endif
