// Schemas shared by the tests.
#ifndef KVORM_TESTS_SCHEMAS_H
#define KVORM_TESTS_SCHEMAS_H

namespace kt {

// The example of docs/schema.md (User) plus one model per id strategy and unique shape.
inline constexpr const char *kAppSchema = R"json({
  "namespace": "app",
  "models": {
    "User": {
      "id": {"type": "string", "generate": "ulid"},
      "fields": {
        "email": {"type": "string", "unique": true},
        "orgId": {"type": "string"},
        "age": {"type": "integer", "optional": true},
        "role": {"type": "enum", "values": ["admin", "member"], "default": "member"},
        "balance": {"type": "decimal", "default": "0"},
        "profile": {"type": "json", "optional": true},
        "avatar": {"type": "bytes", "optional": true},
        "score": {"type": "float", "default": 0},
        "active": {"type": "boolean", "default": true},
        "createdAt": {"type": "datetime", "default": "now"}},
      "unique": [["orgId", "email"]]},
    "Counter": {
      "id": {"type": "integer", "generate": "increment"},
      "fields": {"name": {"type": "string", "optional": true}}},
    "Ticket": {
      "id": {"type": "integer", "generate": "increment"},
      "fields": {"code": {"type": "string", "unique": true}}},
    "Item": {
      "id": {"type": "string"},
      "fields": {"label": {"type": "string", "optional": true}}},
    "Num": {
      "id": {"type": "integer"},
      "fields": {"n": {"type": "integer", "optional": true}}},
    "Event": {
      "id": {"type": "string", "generate": "uuidv7"},
      "fields": {"name": {"type": "string", "optional": true}}},
    "Slot": {
      "fields": {
        "tenant": {"type": "string"},
        "slug": {"type": "string"},
        "title": {"type": "string", "optional": true}},
      "unique": [{"fields": ["tenant", "slug"], "name": "tenantSlug"}]},
    "Pair": {
      "fields": {
        "a": {"type": "string"},
        "b": {"type": "string", "optional": true},
        "c": {"type": "integer", "optional": true}},
      "unique": [["a", "b"]]},
    "Acct": {
      "fields": {
        "handle": {"type": "string", "unique": true},
        "phone": {"type": "string", "unique": true},
        "note": {"type": "string", "optional": true}}},
    "Tag": {
      "fields": {
        "code": {"type": "integer", "unique": true, "optional": true},
        "label": {"type": "string", "optional": true}}}
  }
})json";

}  // namespace kt

#endif
