// The reference evaluator of docs/queries.md (see query_util.h). Written from the spec only: it shares no code
// with the core, so a misreading of the spec on either side shows up as a difference.
#include "query_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "test_util.h"

namespace kt {
namespace q {

Val Val::Int(long long v)
{
    Val x;
    x.null = false;
    x.i = v;
    return x;
}
Val Val::Flt(double v)
{
    Val x;
    x.null = false;
    x.f = v;
    return x;
}
Val Val::Str(const std::string &v)
{
    Val x;
    x.null = false;
    x.s = v;
    return x;
}
Val Val::Dec(const std::string &text)
{
    Val x;
    x.null = false;
    x.s = DecNormalize(text);
    return x;
}
Val Val::Bool(bool v)
{
    Val x;
    x.null = false;
    x.i = v ? 1 : 0;
    return x;
}
Val Val::Time(long long ns)
{
    Val x;
    x.null = false;
    x.i = ns;
    return x;
}

int Model::Find(const std::string &name) const
{
    for (size_t k = 0; k < fields.size(); k++)
        if (fields[k].name == name)
            return static_cast<int>(k);
    return -1;
}

// ---- decimals: sign, magnitude digits, scale (value = digits * 10^-scale) ----------------------------------------

namespace {

struct D {
    bool neg = false;
    std::string mag = "0";  // no leading zeros
    int scale = 0;
};

std::string StripLeading(const std::string &s)
{
    size_t k = 0;
    while (k + 1 < s.size() && s[k] == '0')
        k++;
    return s.substr(k);
}

bool ParseD(const std::string &text, D *out)
{
    size_t k = 0;
    D d;
    if (k < text.size() && (text[k] == '-' || text[k] == '+'))
        d.neg = text[k++] == '-';
    std::string digits;
    int scale = 0;
    bool dot = false, any = false;
    for (; k < text.size(); k++) {
        char c = text[k];
        if (c >= '0' && c <= '9') {
            digits += c;
            any = true;
            if (dot)
                scale++;
        } else if (c == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (!any)
        return false;
    if (k < text.size()) {
        if (text[k] != 'e' && text[k] != 'E')
            return false;
        k++;
        bool eneg = false;
        if (k < text.size() && (text[k] == '-' || text[k] == '+'))
            eneg = text[k++] == '-';
        if (k >= text.size())
            return false;
        long e = 0;
        for (; k < text.size(); k++) {
            if (text[k] < '0' || text[k] > '9' || e > 100000)
                return false;
            e = e * 10 + (text[k] - '0');
        }
        scale += static_cast<int>(eneg ? e : -e);
    }
    if (scale < 0) {
        digits.append(static_cast<size_t>(-scale), '0');
        scale = 0;
    }
    d.mag = StripLeading(digits);
    d.scale = scale;
    if (d.mag == "0")
        d.neg = false;
    *out = d;
    return true;
}

std::string TextD(const D &d)
{
    std::string m = d.mag;
    if (static_cast<int>(m.size()) <= d.scale)
        m.insert(0, static_cast<size_t>(d.scale - static_cast<int>(m.size()) + 1), '0');
    std::string ip = m.substr(0, m.size() - static_cast<size_t>(d.scale));
    std::string fp = m.substr(m.size() - static_cast<size_t>(d.scale));
    while (!fp.empty() && fp.back() == '0')
        fp.pop_back();
    ip = StripLeading(ip);
    std::string out = ip;
    if (!fp.empty())
        out += "." + fp;
    if (out != "0" && d.neg)
        out = "-" + out;
    return out;
}

int CmpMag(const std::string &a, const std::string &b)
{
    std::string x = StripLeading(a), y = StripLeading(b);
    if (x.size() != y.size())
        return x.size() < y.size() ? -1 : 1;
    int c = x.compare(y);
    return c < 0 ? -1 : c > 0;
}

std::string AddMag(const std::string &a, const std::string &b)
{
    std::string out;
    int carry = 0;
    for (size_t k = 0; k < std::max(a.size(), b.size()) || carry; k++) {
        int s = carry;
        if (k < a.size())
            s += a[a.size() - 1 - k] - '0';
        if (k < b.size())
            s += b[b.size() - 1 - k] - '0';
        out += static_cast<char>('0' + s % 10);
        carry = s / 10;
    }
    std::reverse(out.begin(), out.end());
    return StripLeading(out);
}

std::string SubMag(const std::string &a, const std::string &b)  // a >= b
{
    std::string out;
    int borrow = 0;
    for (size_t k = 0; k < a.size(); k++) {
        int s = (a[a.size() - 1 - k] - '0') - borrow - (k < b.size() ? b[b.size() - 1 - k] - '0' : 0);
        borrow = s < 0;
        if (s < 0)
            s += 10;
        out += static_cast<char>('0' + s);
    }
    std::reverse(out.begin(), out.end());
    return StripLeading(out);
}

void Rescale(D *d, int scale)
{
    if (d->mag != "0")
        d->mag.append(static_cast<size_t>(scale - d->scale), '0');
    d->scale = scale;
}

}  // namespace

std::string DecNormalize(const std::string &text)
{
    D d;
    return ParseD(text, &d) ? TextD(d) : std::string();
}

int DecCmp(const std::string &a, const std::string &b)
{
    D x, y;
    ParseD(a, &x);
    ParseD(b, &y);
    if (x.neg != y.neg)
        return x.neg ? -1 : 1;
    int s = std::max(x.scale, y.scale);
    Rescale(&x, s);
    Rescale(&y, s);
    int c = CmpMag(x.mag, y.mag);
    return x.neg ? -c : c;
}

std::string DecAdd(const std::string &a, const std::string &b)
{
    D x, y;
    ParseD(a, &x);
    ParseD(b, &y);
    int s = std::max(x.scale, y.scale);
    Rescale(&x, s);
    Rescale(&y, s);
    D r;
    r.scale = s;
    if (x.neg == y.neg) {
        r.mag = AddMag(x.mag, y.mag);
        r.neg = x.neg;
    } else if (CmpMag(x.mag, y.mag) >= 0) {
        r.mag = SubMag(x.mag, y.mag);
        r.neg = x.neg;
    } else {
        r.mag = SubMag(y.mag, x.mag);
        r.neg = y.neg;
    }
    if (r.mag == "0")
        r.neg = false;
    return TextD(r);
}

std::string DecDiv(const std::string &a, long long n, int digits)
{
    D x;
    ParseD(a, &x);
    if (x.scale > digits)
        return "(reference: scale above the division's digits)";
    Rescale(&x, digits);
    std::string q;
    long long r = 0;
    for (char c : x.mag) {
        r = r * 10 + (c - '0');
        q += static_cast<char>('0' + r / n);
        r %= n;
    }
    q = StripLeading(q);
    bool up = 2 * r > n || (2 * r == n && ((q.back() - '0') % 2 == 1));
    if (up)
        q = AddMag(q, "1");
    D out;
    out.neg = x.neg;
    out.mag = q;
    out.scale = digits;
    if (out.mag == "0")
        out.neg = false;
    return TextD(out);
}

// ---- datetimes -------------------------------------------------------------------------------------------------

namespace {

long long FloorDiv(long long a, long long b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Howard Hinnant's civil_from_days.
void CivilFromDays(long long z, long long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = static_cast<unsigned>(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long yy = static_cast<long long>(yoe) + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

}  // namespace

std::string TimeText(long long ns)
{
    long long sec = FloorDiv(ns, 1000000000LL);
    long long frac = ns - sec * 1000000000LL;
    long long days = FloorDiv(sec, 86400);
    long long rem = sec - days * 86400;
    long long y;
    unsigned mo, d;
    CivilFromDays(days, &y, &mo, &d);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld", y, mo, d, rem / 3600, rem / 60 % 60,
                  rem % 60);
    std::string out = buf;
    if (frac) {
        std::snprintf(buf, sizeof buf, ".%09lld", frac);
        out += buf;
    }
    return out + "Z";
}

bool ParseTime(const std::string &text, long long *ns)
{
    long long sec;
    long n;
    if (!ParseUtc(text, &sec, &n))
        return false;
    *ns = sec * 1000000000LL + n;
    return true;
}

// ---- values ----------------------------------------------------------------------------------------------------

namespace {

int Sign(long long v) { return v < 0 ? -1 : v > 0; }

bool Unbase64(const std::string &in, std::string *out)
{
    static const std::string abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (in.size() % 4)
        return false;
    out->clear();
    for (size_t k = 0; k < in.size(); k += 4) {
        unsigned v = 0;
        int pad = 0;
        for (size_t j = 0; j < 4; j++) {
            char c = in[k + j];
            v <<= 6;
            if (c == '=') {
                pad++;
            } else {
                size_t p = abc.find(c);
                if (p == std::string::npos || pad)
                    return false;
                v |= static_cast<unsigned>(p);
            }
        }
        out->push_back(static_cast<char>(v >> 16));
        if (pad < 2)
            out->push_back(static_cast<char>(v >> 8 & 0xff));
        if (pad < 1)
            out->push_back(static_cast<char>(v & 0xff));
    }
    return true;
}

}  // namespace

int Cmp(Type t, const Val &a, const Val &b)
{
    switch (t) {
    case Type::Integer:
    case Type::Boolean:
    case Type::Datetime:
        return a.i < b.i ? -1 : a.i > b.i;
    case Type::Float:
        return a.f < b.f ? -1 : a.f > b.f;  // -0.0 == 0.0
    case Type::Decimal:
        return DecCmp(a.s, b.s);
    default: {
        int c = a.s.compare(b.s);  // char_traits<char> compares as unsigned char: UTF-8 byte order
        return Sign(c);
    }
    }
}

json_t *ToJson(Type t, const Val &v)
{
    if (v.null)
        return json_null();
    switch (t) {
    case Type::Integer:
        return json_integer(v.i);
    case Type::Boolean:
        return json_boolean(v.i);
    case Type::Float:
        return json_real(v.f);
    case Type::Datetime:
        return json_string(TimeText(v.i).c_str());
    case Type::Bytes:
        return json_string(Base64(v.s).c_str());
    default:
        return json_stringn(v.s.data(), v.s.size());
    }
}

bool FromJson(Type t, const json_t *j, Val *out)
{
    if (!j)
        return false;
    if (json_is_null(j)) {
        *out = Val::Null();
        return true;
    }
    switch (t) {
    case Type::Integer:
        if (!json_is_integer(j))
            return false;
        *out = Val::Int(json_integer_value(j));
        return true;
    case Type::Boolean:
        if (!json_is_boolean(j))
            return false;
        *out = Val::Bool(json_is_true(j));
        return true;
    case Type::Float:
        if (!json_is_number(j))
            return false;
        *out = Val::Flt(json_number_value(j));
        return true;
    case Type::Datetime: {
        long long ns;
        if (!json_is_string(j) || !ParseTime(json_string_value(j), &ns))
            return false;
        *out = Val::Time(ns);
        return true;
    }
    case Type::Decimal: {
        std::string text;
        if (json_is_string(j))
            text.assign(json_string_value(j), json_string_length(j));
        else if (json_is_integer(j))
            text = std::to_string(json_integer_value(j));
        else
            return false;
        std::string n = DecNormalize(text);
        if (n.empty())
            return false;
        Val v;
        v.null = false;
        v.s = n;
        *out = v;
        return true;
    }
    case Type::Bytes: {
        std::string raw;
        if (!json_is_string(j) || !Unbase64(json_string_value(j), &raw))
            return false;
        *out = Val::Str(raw);
        return true;
    }
    default:
        if (!json_is_string(j))
            return false;
        *out = Val::Str(std::string(json_string_value(j), json_string_length(j)));
        return true;
    }
}

std::string Show(Type t, const Val &v)
{
    json_t *j = ToJson(t, v);
    std::string s = DumpJson(j);
    json_decref(j);
    return s;
}

std::string IdKey(const Val &id) { return id.s.empty() && !id.null ? "i:" + std::to_string(id.i) : "s:" + id.s; }

// ---- where -----------------------------------------------------------------------------------------------------

namespace {

Tri And(Tri a, Tri b)
{
    if (a == Tri::False || b == Tri::False)
        return Tri::False;
    if (a == Tri::Unknown || b == Tri::Unknown)
        return Tri::Unknown;
    return Tri::True;
}
Tri Or(Tri a, Tri b)
{
    if (a == Tri::True || b == Tri::True)
        return Tri::True;
    if (a == Tri::Unknown || b == Tri::Unknown)
        return Tri::Unknown;
    return Tri::False;
}
Tri Not(Tri a) { return a == Tri::True ? Tri::False : a == Tri::False ? Tri::True : Tri::Unknown; }
Tri Of(bool b) { return b ? Tri::True : Tri::False; }

Tri EvalOps(const Model &m, int f, const json_t *ops, const Rec &r, std::string *err);

Tri EvalOp(const Model &m, int f, const std::string &op, const json_t *arg, const Rec &r, std::string *err)
{
    Type t = m.fields[f].type;
    const Val &v = r[f];
    auto operand = [&](const json_t *j, Val *out) {
        if (!FromJson(t, j, out)) {
            *err = "reference: operand " + DumpJson(j) + " of " + op + " does not fit " + m.fields[f].name;
            return false;
        }
        return true;
    };
    Val x;
    if (op == "equals") {
        if (json_is_null(arg))
            return Of(v.null);
        if (!operand(arg, &x))
            return Tri::Unknown;
        return v.null ? Tri::Unknown : Of(Eq(t, v, x));
    }
    if (op == "not") {
        if (json_is_null(arg))
            return Of(!v.null);
        if (json_is_object(arg))
            return Not(EvalOps(m, f, arg, r, err));
        if (!operand(arg, &x))
            return Tri::Unknown;
        return v.null ? Tri::Unknown : Of(!Eq(t, v, x));
    }
    if (op == "in" || op == "notIn") {
        if (!json_is_array(arg)) {
            *err = "reference: " + op + " takes an array";
            return Tri::Unknown;
        }
        if (v.null)
            return Tri::Unknown;
        bool found = false;
        for (size_t k = 0; k < json_array_size(arg); k++) {
            if (!operand(json_array_get(arg, k), &x))
                return Tri::Unknown;
            if (!x.null && Eq(t, v, x))
                found = true;
        }
        return Of(op == "in" ? found : !found);
    }
    if (op == "lt" || op == "lte" || op == "gt" || op == "gte") {
        if (!operand(arg, &x) || x.null)
            return Tri::Unknown;
        if (v.null)
            return Tri::Unknown;
        int c = Cmp(t, v, x);
        return Of(op == "lt" ? c < 0 : op == "lte" ? c <= 0 : op == "gt" ? c > 0 : c >= 0);
    }
    if (op == "startsWith" || op == "endsWith" || op == "contains") {
        if (!operand(arg, &x) || x.null)
            return Tri::Unknown;
        if (v.null)
            return Tri::Unknown;
        const std::string &s = v.s, &p = x.s;
        if (op == "startsWith")
            return Of(s.compare(0, p.size(), p) == 0 && s.size() >= p.size());
        if (op == "endsWith")
            return Of(s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0);
        return Of(s.find(p) != std::string::npos);
    }
    *err = "reference: unknown operator " + op;
    return Tri::Unknown;
}

Tri EvalOps(const Model &m, int f, const json_t *ops, const Rec &r, std::string *err)
{
    Tri acc = Tri::True;
    const char *k;
    json_t *v;
    json_object_foreach(const_cast<json_t *>(ops), k, v) acc = And(acc, EvalOp(m, f, k, v, r, err));
    return acc;
}

Tri EvalEntry(const Model &m, const std::string &key, const json_t *val, const Rec &r, std::string *err)
{
    if (key == "AND") {
        if (json_is_object(val))
            return Eval(m, val, r, err);
        Tri acc = Tri::True;
        for (size_t k = 0; k < json_array_size(val); k++)
            acc = And(acc, Eval(m, json_array_get(val, k), r, err));
        return acc;
    }
    if (key == "OR") {
        Tri acc = Tri::False;
        for (size_t k = 0; k < json_array_size(val); k++)
            acc = Or(acc, Eval(m, json_array_get(val, k), r, err));
        return acc;
    }
    if (key == "NOT") {
        if (json_is_object(val))
            return Not(Eval(m, val, r, err));
        // a list: none of its wheres holds (NOT [] is true)
        Tri acc = Tri::True;
        for (size_t k = 0; k < json_array_size(val); k++)
            acc = And(acc, Not(Eval(m, json_array_get(val, k), r, err)));
        return acc;
    }
    int f = m.Find(key);
    if (f < 0) {
        *err = "reference: unknown field " + key;
        return Tri::Unknown;
    }
    if (json_is_null(val))
        return Of(r[f].null);
    if (json_is_object(val))
        return EvalOps(m, f, val, r, err);
    return EvalOp(m, f, "equals", val, r, err);
}

}  // namespace

Tri Eval(const Model &m, const json_t *where, const Rec &r, std::string *err)
{
    Tri acc = Tri::True;
    const char *k;
    json_t *v;
    json_object_foreach(const_cast<json_t *>(where), k, v) acc = And(acc, EvalEntry(m, k, v, r, err));
    return acc;
}

// ---- order and window ------------------------------------------------------------------------------------------

namespace {

bool ParseOrderEntry(const Model &m, const char *k, const json_t *v, std::vector<OrderKey> *out, std::string *err)
{
    OrderKey o;
    o.field = m.Find(k);
    if (o.field < 0) {
        *err = std::string("reference: orderBy field ") + k;
        return false;
    }
    std::string sort, nulls;
    if (json_is_string(v)) {
        sort = json_string_value(v);
    } else if (json_is_object(v)) {
        const json_t *s = json_object_get(v, "sort"), *n = json_object_get(v, "nulls");
        sort = s && json_is_string(s) ? json_string_value(s) : "";
        nulls = n && json_is_string(n) ? json_string_value(n) : "";
    }
    if (sort != "asc" && sort != "desc") {
        *err = "reference: orderBy direction of " + std::string(k);
        return false;
    }
    o.desc = sort == "desc";
    o.nulls_first = nulls.empty() ? !o.desc : nulls == "first";
    out->push_back(o);
    return true;
}

}  // namespace

bool ParseOrder(const Model &m, const json_t *order_by, std::vector<OrderKey> *out, std::string *err)
{
    out->clear();
    std::vector<const json_t *> maps;
    if (order_by && json_is_array(order_by))
        for (size_t k = 0; k < json_array_size(order_by); k++)
            maps.push_back(json_array_get(order_by, k));
    else if (order_by)
        maps.push_back(order_by);
    for (const json_t *mp : maps) {
        const char *k;
        json_t *v;
        json_object_foreach(const_cast<json_t *>(mp), k, v) if (!ParseOrderEntry(m, k, v, out, err)) return false;
    }
    bool desc = !out->empty() && out->back().desc;
    out->push_back(OrderKey{0, desc, true});
    return true;
}

int CmpOrder(const Model &m, const std::vector<OrderKey> &o, const Rec &a, const Rec &b)
{
    for (const OrderKey &k : o) {
        const Val &x = a[k.field], &y = b[k.field];
        if (x.null && y.null)
            continue;
        if (x.null != y.null)
            return x.null == k.nulls_first ? -1 : 1;
        int c = Cmp(m.fields[k.field].type, x, y);
        if (c)
            return k.desc ? -c : c;
    }
    return 0;
}

namespace {
bool SameId(const Rec &a, const Rec &b) { return IdKey(a[0]) == IdKey(b[0]); }
}  // namespace


std::vector<const Rec *> FindMany(const Model &m, const std::map<std::string, Rec> &live, const Window &w,
                                  bool *not_found, std::string *err)
{
    *not_found = false;
    std::vector<OrderKey> order;
    std::vector<const Rec *> rows;
    if (!ParseOrder(m, w.order_by, &order, err))
        return rows;
    for (const auto &kv : live)
        if (Matches(m, w.where, kv.second, err))
            rows.push_back(&kv.second);
    std::sort(rows.begin(), rows.end(),
              [&](const Rec *a, const Rec *b) { return CmpOrder(m, order, *a, *b) < 0; });

    Rec cur;
    bool has_cursor = w.cursor != nullptr;
    if (has_cursor) {
        Val id;
        if (!FromJson(m.fields[0].type, json_object_get(w.cursor, "id"), &id) || id.null) {
            *err = "reference: cursor without an id";
            return {};
        }
        auto it = live.find(IdKey(id));
        bool gives_all = true; /* ordered by the id alone, the id is the whole position */
        for (const OrderKey &k : order) {
            if (k.field == 0) /* nothing after the id can tie, so its keys play no part */
                break;
            if (!json_object_get(w.cursor, m.fields[k.field].name.c_str()))
                gives_all = false;
        }
        if (it == live.end() && !gives_all) {
            *not_found = true;
            return {};
        }
        cur = it != live.end() ? it->second : Rec(m.fields.size());
        cur[0] = id;
        const char *k;
        json_t *v;
        json_object_foreach(const_cast<json_t *>(w.cursor), k, v)
        {
            int f = m.Find(k);
            if (f > 0 && !FromJson(m.fields[f].type, v, &cur[f]))
                *err = std::string("reference: cursor value of ") + k;
        }
    }
    std::vector<const Rec *> out;
    if (!w.has_take || w.take >= 0) {
        size_t start = 0;
        if (has_cursor)
            while (start < rows.size() && CmpOrder(m, order, *rows[start], cur) < 0)
                start++;
        long long skip = w.skip;
        /* skip counts the cursor's own position: a cursor whose record is not the first row spends one skip */
        if (has_cursor && skip > 0 && (start >= rows.size() || !SameId(*rows[start], cur)))
            skip--;
        start += static_cast<size_t>(std::min<long long>(skip, static_cast<long long>(rows.size())));
        for (size_t k = start; k < rows.size(); k++) {
            if (w.has_take && static_cast<long long>(out.size()) >= w.take)
                break;
            out.push_back(rows[k]);
        }
        return out;
    }
    // a negative take: |take| rows ending at the cursor (inclusive) or at the end, skip counted from there
    long long end = static_cast<long long>(rows.size());
    if (has_cursor) {
        end = 0;
        while (end < static_cast<long long>(rows.size()) && CmpOrder(m, order, *rows[end], cur) <= 0)
            end++;
    }
    long long skip = w.skip;
    if (has_cursor && skip > 0 && (end == 0 || !SameId(*rows[static_cast<size_t>(end - 1)], cur)))
        skip--;
    end -= skip;
    long long begin = std::max(0LL, end + w.take);
    for (long long k = begin; k < end; k++)
        out.push_back(rows[static_cast<size_t>(k)]);
    return out;
}

// ---- aggregates ------------------------------------------------------------------------------------------------

namespace {

std::string Int128Text(__int128 v)
{
    if (v == 0)
        return "0";
    bool neg = v < 0;
    unsigned __int128 u = neg ? -static_cast<unsigned __int128>(v) : static_cast<unsigned __int128>(v);
    std::string s;
    while (u) {
        s += static_cast<char>('0' + static_cast<int>(u % 10));
        u /= 10;
    }
    if (neg)
        s += '-';
    std::reverse(s.begin(), s.end());
    return s;
}

json_t *Approx(double v, double tol)
{
    json_t *o = json_object();
    json_object_set_new(o, "$approx", json_real(v));
    json_object_set_new(o, "$tol", json_real(tol));
    return o;
}

json_t *FieldAgg(const Model &m, const std::string &agg, int f, const std::vector<const Rec *> &rows,
                 std::string *err)
{
    Type t = m.fields[f].type;
    std::vector<const Val *> vals;
    for (const Rec *r : rows)
        if (!(*r)[f].null)
            vals.push_back(&(*r)[f]);
    if (agg == "_count")
        return json_integer(static_cast<json_int_t>(vals.size()));
    if (vals.empty())
        return json_null();
    if (agg == "_min" || agg == "_max") {
        const Val *best = vals[0];
        for (const Val *v : vals) {
            int c = Cmp(t, *v, *best);
            if ((agg == "_min" && c < 0) || (agg == "_max" && c > 0))
                best = v;
        }
        return ToJson(t, *best);
    }
    if (t == Type::Integer) {
        __int128 s = 0;
        for (const Val *v : vals)
            s += v->i;
        if (agg == "_sum")
            return s >= std::numeric_limits<long long>::min() && s <= std::numeric_limits<long long>::max()
                       ? json_integer(static_cast<json_int_t>(s))
                       : json_string(Int128Text(s).c_str());
        long double avg = static_cast<long double>(s) / static_cast<long double>(vals.size());
        // relative to the magnitudes, not to the average: an engine may add in float64 (values near 2^63 that
        // cancel lose their low digits); the spec only says the average is a float
        long double mag = 0;
        for (const Val *v : vals)
            mag += std::fabs(static_cast<long double>(v->i));
        return Approx(static_cast<double>(avg), static_cast<double>(mag / vals.size()) * 1e-12 + 1e-12);
    }
    if (t == Type::Float) {
        long double s = 0, mag = 0;
        for (const Val *v : vals) {
            s += v->f;
            mag += std::fabs(v->f);
        }
        double tol = static_cast<double>(mag) * 1e-12 + 1e-300;
        if (agg == "_sum")
            return Approx(static_cast<double>(s), tol);
        return Approx(static_cast<double>(s / vals.size()), tol / static_cast<double>(vals.size()));
    }
    if (t == Type::Decimal) {
        std::string s = "0";
        for (const Val *v : vals)
            s = DecAdd(s, v->s);
        if (agg == "_sum")
            return json_string(s.c_str());
        return json_string(DecDiv(s, static_cast<long long>(vals.size()), 32).c_str());
    }
    *err = "reference: " + agg + " of a non-numeric field " + m.fields[f].name;
    return json_null();
}

}  // namespace

json_t *Aggregate(const Model &m, const json_t *spec, const std::vector<const Rec *> &rows, std::string *err)
{
    json_t *out = json_object();
    const char *agg;
    json_t *sel;
    json_object_foreach(const_cast<json_t *>(spec), agg, sel)
    {
        std::string a = agg;
        if (a == "_count" && json_is_true(sel)) {
            json_object_set_new(out, agg, json_integer(static_cast<json_int_t>(rows.size())));
            continue;
        }
        json_t *o = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(sel, k, v)
        {
            if (a == "_count" && std::string(k) == "_all") {
                json_object_set_new(o, k, json_integer(static_cast<json_int_t>(rows.size())));
                continue;
            }
            int f = m.Find(k);
            if (f < 0) {
                *err = std::string("reference: aggregate of an unknown field ") + k;
                continue;
            }
            json_object_set_new(o, k, FieldAgg(m, a, f, rows, err));
        }
        json_object_set_new(out, agg, o);
    }
    return out;
}

namespace {

bool SameValue(const Model &m, const std::string &agg, const std::string &field, const json_t *want,
               const json_t *got, std::string *why)
{
    std::string where = agg + "." + field + ": want " + DumpJson(want) + ", got " + DumpJson(got);
    if (!got) {
        *why = where;
        return false;
    }
    if (json_is_object(want) && json_object_get(want, "$approx")) {
        double w = json_real_value(json_object_get(want, "$approx"));
        double tol = json_real_value(json_object_get(want, "$tol"));
        if (!json_is_number(got) || std::fabs(json_number_value(got) - w) > tol) {
            *why = where;
            return false;
        }
        return true;
    }
    if (json_is_null(want) || json_is_integer(want) || agg == "_sum" || agg == "_avg") {
        if (!json_equal(const_cast<json_t *>(want), const_cast<json_t *>(got))) {
            *why = where;
            return false;
        }
        return true;
    }
    int f = m.Find(field);
    Val a, b;
    Type t = f >= 0 ? m.fields[f].type : Type::Integer;
    if (f < 0 || !FromJson(t, want, &a) || !FromJson(t, got, &b) || a.null != b.null ||
        (!a.null && Cmp(t, a, b) != 0) || (t == Type::Decimal && a.s != b.s)) {
        *why = where;
        return false;
    }
    return true;
}

}  // namespace

bool SameAggregate(const Model &m, const json_t *spec, const json_t *want, const json_t *got, std::string *why)
{
    (void)spec;
    if (!got || !json_is_object(got)) {
        *why = "the result is not a map: " + DumpJson(got);
        return false;
    }
    if (KeysOf(want) != KeysOf(got)) {
        *why = "keys differ: want " + DumpJson(want) + ", got " + DumpJson(got);
        return false;
    }
    const char *agg;
    json_t *w;
    json_object_foreach(const_cast<json_t *>(want), agg, w)
    {
        const json_t *g = json_object_get(got, agg);
        if (json_is_integer(w)) {
            if (!SameValue(m, agg, "", w, g, why))
                return false;
            continue;
        }
        if (!json_is_object(g) || KeysOf(w) != KeysOf(g)) {
            *why = std::string(agg) + ": want " + DumpJson(w) + ", got " + DumpJson(g);
            return false;
        }
        const char *k;
        json_t *v;
        json_object_foreach(w, k, v) if (!SameValue(m, agg, k, v, json_object_get(g, k), why)) return false;
    }
    return true;
}

// ---- records ---------------------------------------------------------------------------------------------------

json_t *RecordJson(const Model &m, const Rec &r, bool explicit_nulls)
{
    json_t *o = json_object();
    for (size_t k = 0; k < m.fields.size(); k++)
        if (!r[k].null || explicit_nulls)
            json_object_set_new(o, m.fields[k].name.c_str(), ToJson(m.fields[k].type, r[k]));
    return o;
}

bool SameRecord(const Model &m, const Rec &want, const json_t *got, std::string *why)
{
    if (!got || !json_is_object(got)) {
        *why = "not a record: " + DumpJson(got);
        return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach(const_cast<json_t *>(got), k, v)
    {
        if (std::string(k) == "$version")
            continue;
        int f = m.Find(k);
        if (f < 0) {
            *why = std::string("unexpected key ") + k + " in " + DumpJson(got);
            return false;
        }
        Type t = m.fields[f].type;
        Val x;
        const Val &w = want[f];
        if (!FromJson(t, v, &x) || x.null != w.null || (!w.null && Cmp(t, x, w) != 0) ||
            (!w.null && (t == Type::Decimal || t == Type::String || t == Type::Bytes) && x.s != w.s)) {
            *why = std::string("field ") + k + ": want " + Show(t, w) + ", got " + DumpJson(v) + " in " +
                   DumpJson(got);
            return false;
        }
    }
    return true;
}

}  // namespace q
}  // namespace kt
