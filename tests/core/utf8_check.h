// UTF-8 checks for the tests, written from RFC 3629 and independent of kvorm's own validator: every string of an
// error document, and every message, must pass.
#ifndef KVORM_TESTS_UTF8_CHECK_H
#define KVORM_TESTS_UTF8_CHECK_H

#include <gtest/gtest.h>
#include <jansson.h>

#include <string>

#include "mp_value.h"

namespace kt {

// Whether s is well-formed UTF-8: no stray continuation, no truncated sequence, no overlong form, no surrogate,
// nothing beyond U+10FFFF.
inline bool ValidUtf8(const std::string &s)
{
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        size_t n;
        unsigned long cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (s.size() - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            unsigned char d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (d & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

// Every str of a MessagePack document (keys too) is valid UTF-8; what names where a bad one was found.
inline void ExpectStringsValid(const mp::V &v, const std::string &what)
{
    switch (v.kind) {
    case mp::V::Str:
        EXPECT_TRUE(ValidUtf8(v.s)) << what << ": not UTF-8: " << testing::PrintToString(v.s);
        break;
    case mp::V::Arr:
        for (const auto &e : v.arr)
            ExpectStringsValid(e, what);
        break;
    case mp::V::Map:
        for (const auto &kv : v.map) {
            ExpectStringsValid(kv.first, what);
            ExpectStringsValid(kv.second, what);
        }
        break;
    default:
        break;
    }
}

}  // namespace kt

#endif
