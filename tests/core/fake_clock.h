// A clock the tests set by hand for the generated ids (ULID, UUIDv7), through the core's internal hook
// kv_idgen_set_clock_for_testing (core/src/idgen.h): ids whose time part is known exactly, ids made in one
// millisecond on purpose, a clock that goes back.
#ifndef KVORM_TESTS_FAKE_CLOCK_H
#define KVORM_TESTS_FAKE_CLOCK_H

#include <atomic>
#include <cstdint>

extern "C" {
#include "idgen.h"
}

namespace kt {

// While one exists, the ids read their time from it (milliseconds since the epoch); its destruction gives the ids
// the real clock back. Both switches restart the id sequences.
class FakeIdClock {
public:
    explicit FakeIdClock(uint64_t ms)
    {
        Now().store(ms);
        kv_idgen_set_clock_for_testing(&FakeIdClock::Read);
    }
    ~FakeIdClock() { kv_idgen_set_clock_for_testing(nullptr); }
    FakeIdClock(const FakeIdClock &) = delete;
    FakeIdClock &operator=(const FakeIdClock &) = delete;

    void Set(uint64_t ms) { Now().store(ms); }
    uint64_t Get() const { return Now().load(); }

private:
    static std::atomic<uint64_t> &Now()
    {
        static std::atomic<uint64_t> now{0};
        return now;
    }
    static uint64_t Read() { return Now().load(); }
};

}  // namespace kt

#endif
