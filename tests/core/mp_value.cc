#include "mp_value.h"

#include <msgpack.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <sstream>

namespace mp {

const V &V::operator[](const std::string &key) const
{
    static const V none;
    if (kind != Map)
        return none;
    for (const auto &kv : map)
        if (kv.first.kind == Str && kv.first.s == key)
            return kv.second;
    return none;
}

bool V::has(const std::string &key) const
{
    if (kind != Map)
        return false;
    for (const auto &kv : map)
        if (kv.first.kind == Str && kv.first.s == key)
            return true;
    return false;
}

static void render(std::ostream &os, const V &v)
{
    switch (v.kind) {
    case V::Nil: os << "nil"; break;
    case V::Bool: os << (v.b ? "true" : "false"); break;
    case V::Int: os << v.i; break;
    case V::UInt: os << v.u; break;
    case V::F32: os << v.d << "f32"; break;
    case V::F64: {
        char buf[40];
        std::snprintf(buf, sizeof(buf), "%.17g", v.d);
        os << buf << "f64";
        break;
    }
    case V::Str: {
        os << '"';
        for (unsigned char c : v.s) {
            if (c == '"' || c == '\\')
                os << '\\' << c;
            else if (c < 0x20 || c == 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof(buf), "\\x%02x", c);
                os << buf;
            } else
                os << c;
        }
        os << '"';
        break;
    }
    case V::Bin:
    case V::Ext: {
        if (v.kind == V::Ext)
            os << "ext(" << int(v.ext_type) << ", ";
        else
            os << "bin(";
        for (size_t k = 0; k < v.s.size() && k < 64; k++) {
            char buf[4];
            std::snprintf(buf, sizeof(buf), "%02x", static_cast<unsigned char>(v.s[k]));
            os << buf;
        }
        if (v.s.size() > 64)
            os << "...(" << v.s.size() << " bytes)";
        os << ")";
        break;
    }
    case V::Raw:
        os << "raw(" << v.s.size() << " bytes)";
        break;
    case V::Arr:
        os << '[';
        for (size_t k = 0; k < v.arr.size(); k++) {
            if (k)
                os << ", ";
            render(os, v.arr[k]);
        }
        os << ']';
        break;
    case V::Map:
        os << '{';
        for (size_t k = 0; k < v.map.size(); k++) {
            if (k)
                os << ", ";
            render(os, v.map[k].first);
            os << ": ";
            render(os, v.map[k].second);
        }
        os << '}';
        break;
    }
}

std::string V::ToString() const
{
    std::ostringstream os;
    render(os, *this);
    return os.str();
}

std::ostream &operator<<(std::ostream &os, const V &v)
{
    render(os, v);
    return os;
}

bool operator==(const V &a, const V &b)
{
    if (a.is_int() && b.is_int()) {
        if (a.kind == b.kind)
            return a.kind == V::Int ? a.i == b.i : a.u == b.u;
        const V &s = a.kind == V::Int ? a : b, &w = a.kind == V::Int ? b : a;
        return s.i >= 0 && static_cast<uint64_t>(s.i) == w.u;
    }
    if (a.kind != b.kind)
        return false;
    switch (a.kind) {
    case V::Nil: return true;
    case V::Bool: return a.b == b.b;
    case V::F32:
    case V::F64:
        // bitwise, so that -0.0 != 0.0 and NaN == NaN
        return std::memcmp(&a.d, &b.d, sizeof(double)) == 0;
    case V::Str:
    case V::Bin:
    case V::Raw: return a.s == b.s;
    case V::Ext: return a.ext_type == b.ext_type && a.s == b.s;
    case V::Arr: return a.arr == b.arr;
    case V::Map: return a.map == b.map;
    default: return false;
    }
}

V nil() { return V(); }
V boolean(bool x) { V v; v.kind = V::Bool; v.b = x; return v; }
V i(int64_t x) { V v; v.kind = V::Int; v.i = x; return v; }
V u(uint64_t x) { V v; v.kind = V::UInt; v.u = x; return v; }
V f64(double x) { V v; v.kind = V::F64; v.d = x; return v; }
V f32(float x) { V v; v.kind = V::F32; v.d = static_cast<double>(x); return v; }
V str(const std::string &x) { V v; v.kind = V::Str; v.s = x; return v; }
V bin(const std::string &x) { V v; v.kind = V::Bin; v.s = x; return v; }
V ext(int8_t type, const std::string &payload) { V v; v.kind = V::Ext; v.ext_type = type; v.s = payload; return v; }
V arr(std::initializer_list<V> items) { V v; v.kind = V::Arr; v.arr = items; return v; }
V arr(std::vector<V> items) { V v; v.kind = V::Arr; v.arr = std::move(items); return v; }
V map(std::initializer_list<std::pair<V, V>> items) { V v; v.kind = V::Map; v.map = items; return v; }
V map(std::vector<std::pair<V, V>> items) { V v; v.kind = V::Map; v.map = std::move(items); return v; }
V raw(const std::string &bytes) { V v; v.kind = V::Raw; v.s = bytes; return v; }

static void pack_into(msgpack_packer *pk, const V &v)
{
    switch (v.kind) {
    case V::Nil: msgpack_pack_nil(pk); break;
    case V::Bool: v.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
    case V::Int: msgpack_pack_int64(pk, v.i); break;
    case V::UInt: msgpack_pack_uint64(pk, v.u); break;
    case V::F32: msgpack_pack_float(pk, static_cast<float>(v.d)); break;
    case V::F64: msgpack_pack_double(pk, v.d); break;
    case V::Str:
        msgpack_pack_str(pk, v.s.size());
        msgpack_pack_str_body(pk, v.s.data(), v.s.size());
        break;
    case V::Bin:
        msgpack_pack_bin(pk, v.s.size());
        msgpack_pack_bin_body(pk, v.s.data(), v.s.size());
        break;
    case V::Ext:
        msgpack_pack_ext(pk, v.s.size(), v.ext_type);
        msgpack_pack_ext_body(pk, v.s.data(), v.s.size());
        break;
    case V::Arr:
        msgpack_pack_array(pk, v.arr.size());
        for (const auto &x : v.arr)
            pack_into(pk, x);
        break;
    case V::Raw:
        pk->callback(pk->data, v.s.data(), v.s.size());
        break;
    case V::Map:
        msgpack_pack_map(pk, v.map.size());
        for (const auto &kv : v.map) {
            pack_into(pk, kv.first);
            pack_into(pk, kv.second);
        }
        break;
    }
}

std::string pack(const V &v)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_into(&pk, v);
    std::string out(sb.data ? sb.data : "", sb.size);
    msgpack_sbuffer_destroy(&sb);
    return out;
}

static V from_object(const msgpack_object &o)
{
    switch (o.type) {
    case MSGPACK_OBJECT_NIL: return nil();
    case MSGPACK_OBJECT_BOOLEAN: return boolean(o.via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return u(o.via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return i(o.via.i64);
    case MSGPACK_OBJECT_FLOAT32: { V v = f64(o.via.f64); v.kind = V::F32; return v; }
    case MSGPACK_OBJECT_FLOAT64: return f64(o.via.f64);
    case MSGPACK_OBJECT_STR: return str(std::string(o.via.str.ptr, o.via.str.size));
    case MSGPACK_OBJECT_BIN: return bin(std::string(o.via.bin.ptr, o.via.bin.size));
    case MSGPACK_OBJECT_EXT: return ext(o.via.ext.type, std::string(o.via.ext.ptr, o.via.ext.size));
    case MSGPACK_OBJECT_ARRAY: {
        std::vector<V> items;
        for (uint32_t k = 0; k < o.via.array.size; k++)
            items.push_back(from_object(o.via.array.ptr[k]));
        return arr(std::move(items));
    }
    case MSGPACK_OBJECT_MAP: {
        std::vector<std::pair<V, V>> items;
        for (uint32_t k = 0; k < o.via.map.size; k++)
            items.emplace_back(from_object(o.via.map.ptr[k].key), from_object(o.via.map.ptr[k].val));
        return map(std::move(items));
    }
    }
    return nil();
}

bool unpack(const std::string &data, V *out)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, data.data(), data.size(), &off);
    bool ok = r == MSGPACK_UNPACK_SUCCESS && off == data.size();
    if (ok)
        *out = from_object(u.data);
    msgpack_unpacked_destroy(&u);
    return ok;
}

}  // namespace mp
