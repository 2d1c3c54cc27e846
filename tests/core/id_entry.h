// The members of a model's `ids` sorted set (docs/format.md, format 2), written out by hand from the documented
// key encoding so that the tests check the engine against the format, not against the encoder it uses.
#ifndef KVORM_TESTS_ID_ENTRY_H
#define KVORM_TESTS_ID_ENTRY_H

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kt {

// A string id: 0x50, the bytes with 0x00 written 0x00 0xff, then the terminator 0x00 0x00.
inline std::string IdEntry(const std::string &id)
{
    std::string out(1, '\x50');
    for (char c : id) {
        out += c;
        if (c == '\0')
            out += '\xff';
    }
    out += std::string(2, '\0');
    return out;
}

// An integer id: 0x20, then 8 bytes big-endian with the sign bit flipped.
inline std::string IdEntryInt(int64_t v)
{
    uint64_t u = static_cast<uint64_t>(v) ^ (uint64_t(1) << 63);
    std::string out(1, '\x20');
    for (int i = 7; i >= 0; i--)
        out += static_cast<char>((u >> (8 * i)) & 0xff);
    return out;
}

// ZRANGE WITHSCORES of ids holding these members (score 0), in the set's order (the caller gives them sorted).
inline std::vector<std::pair<std::string, std::string>> IdMembers(const std::vector<std::string> &entries)
{
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto &e : entries)
        out.emplace_back(e, "0");
    return out;
}

}  // namespace kt

#endif
