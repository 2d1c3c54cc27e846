// A schema loaded from JSON through the core's internal entry point (kv_schema_load), for tests of the loaded
// structures: schema_test.cc and relations_schema_test.cc.
#ifndef KVORM_TESTS_SCHEMA_LOADER_H
#define KVORM_TESTS_SCHEMA_LOADER_H

#include <cstring>
#include <string>

extern "C" {
#include "json_bridge.h"
#include "schema.h"
}

namespace kt {

// The schema of json, or s NULL with rc and err saying why.
struct LoadedSchema {
    kvorm_schema *s = nullptr;
    kv_error err{};
    int rc = 0;
    explicit LoadedSchema(const std::string &json)
    {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        rc = kv_json_to_msgpack(&sb, json.data(), json.size(), KVORM_ESCHEMA, &err);
        if (rc == 0)
            rc = kv_schema_load(&s, sb.data, sb.size, &err);
        msgpack_sbuffer_destroy(&sb);
    }
    ~LoadedSchema() { kv_schema_unref(s); }
    LoadedSchema(const LoadedSchema &) = delete;
    LoadedSchema &operator=(const LoadedSchema &) = delete;
    const kv_model *Model(const char *name) const { return s ? kv_schema_model(s, name, std::strlen(name)) : nullptr; }
};

}  // namespace kt

#endif
