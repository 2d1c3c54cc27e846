// Small helpers shared by the test files: the app-schema fixture and record helpers.
#ifndef KVORM_TESTS_TEST_UTIL_H
#define KVORM_TESTS_TEST_UTIL_H

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <set>
#include <string>

#include "redis_harness.h"
#include "schemas.h"

namespace kt {

// A fixture with kAppSchema open over the main server's unix socket.
class AppTest : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = Open(kAppSchema);
        ASSERT_NE(db_, nullptr);
    }

    JRes Run(const std::string &model, const std::string &op, const std::string &args = "")
    {
        return ExecJson(db_, Req(model, op, args));
    }

    // Creates a User with the given email and orgId (plus extra JSON members, e.g. ",\"age\":3").
    JRes CreateUser(const std::string &email, const std::string &org = "o_1", const std::string &extra = "")
    {
        return Run("User", "create", "{\"data\":{\"email\":" + JStr(email) + ",\"orgId\":" + JStr(org) + extra + "}}");
    }

    kvorm_db *db_ = nullptr;
};

// The member names of a JSON object.
inline std::set<std::string> KeysOf(const json_t *obj)
{
    std::set<std::string> out;
    const char *k;
    json_t *v;
    if (obj && json_is_object(obj))
        json_object_foreach(const_cast<json_t *>(obj), k, v) out.insert(k);
    return out;
}

// Parses kvorm's RFC 3339 output (YYYY-MM-DDTHH:MM:SS[.fffffffff]Z) to epoch seconds; false when it is not that.
inline bool ParseUtc(const std::string &s, long long *sec, long *ns)
{
    int y, mo, d, h, mi, se, n = 0;
    char frac[16] = {0};
    *ns = 0;
    if (s.size() == 20) {
        if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || n != 20)
            return false;
    } else if (s.size() == 30) {
        if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%9[0-9]Z%n", &y, &mo, &d, &h, &mi, &se, frac, &n) != 7 ||
            n != 30)
            return false;
        *ns = std::atol(frac);
    } else {
        return false;
    }
    *sec = UnixSeconds(y, mo, d, h, mi, se);
    return true;
}

inline std::string RecordKey(const std::string &ns, const std::string &model, const std::string &id)
{
    return ns + ":{" + model + "}:r:" + id;
}

}  // namespace kt

#endif
