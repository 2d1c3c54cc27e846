// A small MessagePack value tree for the tests: build requests with the exact wire types wanted (int vs uint,
// float32 vs float64, bin, ext), pack them with msgpack-c's packer, and unpack responses for comparison.
#ifndef KVORM_TESTS_MP_VALUE_H
#define KVORM_TESTS_MP_VALUE_H

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace mp {

struct V {
    enum Kind { Nil, Bool, Int, UInt, F32, F64, Str, Bin, Ext, Arr, Map, Raw };
    Kind kind = Nil;
    bool b = false;
    int64_t i = 0;
    uint64_t u = 0;
    double d = 0;
    std::string s;  // Str, Bin, Ext payload, Raw bytes
    int8_t ext_type = 0;
    std::vector<V> arr;
    std::vector<std::pair<V, V>> map;

    V() = default;
    V(const char *str) : kind(Str), s(str) {}       // NOLINT: implicit on purpose, for readable requests
    V(const std::string &str) : kind(Str), s(str) {} // NOLINT

    bool is_nil() const { return kind == Nil; }
    bool is_map() const { return kind == Map; }
    // Map lookup by string key; a static nil when absent.
    const V &operator[](const std::string &key) const;
    bool has(const std::string &key) const;
    // An integer of either family as int64 (UInt above INT64_MAX is not expected in tests).
    int64_t as_int() const { return kind == UInt ? static_cast<int64_t>(u) : i; }
    bool is_int() const { return kind == Int || kind == UInt; }

    // Readable rendering for failure messages.
    std::string ToString() const;
};

// Structural equality; Int and UInt holding the same number are equal (the unpacker decides the family).
bool operator==(const V &a, const V &b);
inline bool operator!=(const V &a, const V &b) { return !(a == b); }
std::ostream &operator<<(std::ostream &os, const V &v);

V nil();
V boolean(bool v);
V i(int64_t v);   // packed with msgpack_pack_int64 (shortest form)
V u(uint64_t v);  // packed with msgpack_pack_uint64
V f64(double v);
V f32(float v);
V str(const std::string &v);
V bin(const std::string &v);
V ext(int8_t type, const std::string &payload);
V arr(std::initializer_list<V> items);
V arr(std::vector<V> items);
V map(std::initializer_list<std::pair<V, V>> items);
V map(std::vector<std::pair<V, V>> items);
// Bytes packed verbatim: to send non-canonical or malformed encodings.
V raw(const std::string &bytes);

std::string pack(const V &v);
// Unpacks exactly one object filling all of data; false when data is not that.
bool unpack(const std::string &data, V *out);

}  // namespace mp

#endif
