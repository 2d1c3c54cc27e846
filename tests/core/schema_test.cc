// The schema language (docs/schema.md): loading from JSON, a file and MessagePack; SCHEMA errors that name the
// model and field; the stored layout and SCHEMA_MISMATCH on reopening.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "schema_loader.h"
#include "test_util.h"

extern "C" {
#include "json_bridge.h"
#include "schema.h"
}

namespace kt {
namespace {

// ---- loading ---------------------------------------------------------------------------------------------------

TEST(SchemaLoad, TheDocumentedExampleLoads)
{
    SchemaPtr s = LoadSchema(kAppSchema);
    EXPECT_NE(s, nullptr);
}

TEST(SchemaLoad, AMinimalSchemaLoads)
{
    kvorm_schema *s = nullptr;
    std::string j = R"({"namespace":"n","models":{"M":{"fields":{"f":{"type":"string"}}}}})";
    ASSERT_EQ(kvorm_schema_from_json(&s, j.data(), j.size()), KVORM_OK) << LastError();
    EXPECT_NE(s, nullptr);
    kvorm_schema_free(s);
}

TEST(SchemaLoad, NullableIsTheSameAsOptional)
{
    SchemaPtr s = LoadSchema(R"({"namespace":"n","models":{"M":{"id":{"type":"string"},)"
                             R"("fields":{"f":{"type":"string","nullable":true}}}}})");
    ASSERT_TRUE(s);
}

class SchemaSources : public KvTest {};

TEST_F(SchemaSources, ASchemaLoadsFromAFile)
{
    std::string path = "/tmp/kvorm-schema-test-" + std::to_string(getpid()) + ".json";
    {
        std::ofstream f(path);
        f << kAppSchema;
    }
    kvorm_schema *s = nullptr;
    int rc = kvorm_schema_from_file(&s, path.c_str());
    std::remove(path.c_str());
    ASSERT_EQ(rc, KVORM_OK) << LastError();
    SchemaPtr owned(s);
    DbPtr db = OpenDb(s);
    ASSERT_TRUE(db);
    JRes r = ExecJson(db.get(), Req("User", "create", R"({"data":{"email":"a@x.io","orgId":"o"}})"));
    KT_EXPECT_OK(r);
}

TEST_F(SchemaSources, AFileThatCannotBeReadIsSchema)
{
    kvorm_schema *s = nullptr;
    int rc = kvorm_schema_from_file(&s, "/nonexistent/kvorm/schema.json");
    EXPECT_EQ(rc, KVORM_ESCHEMA);
    EXPECT_EQ(s, nullptr);
    EXPECT_EQ(kvorm_last_error_code(), rc);
    EXPECT_STRNE(kvorm_last_error_message(), "");
}

TEST_F(SchemaSources, AFileThatIsNotJsonIsSchema)
{
    std::string path = "/tmp/kvorm-schema-test-bad-" + std::to_string(getpid()) + ".json";
    {
        std::ofstream f(path);
        f << "namespace: app\n";
    }
    kvorm_schema *s = nullptr;
    int rc = kvorm_schema_from_file(&s, path.c_str());
    std::remove(path.c_str());
    EXPECT_EQ(rc, KVORM_ESCHEMA);
    EXPECT_EQ(s, nullptr);
}

TEST_F(SchemaSources, ASchemaLoadsFromMessagePackAndMatchesItsJsonTwin)
{
    mp::V doc = mp::map(
        {{"namespace", "app"},
         {"models",
          mp::map({{"Note",
                    mp::map({{"id", mp::map({{"type", "integer"}, {"generate", "increment"}})},
                             {"fields", mp::map({{"title", mp::map({{"type", "string"}, {"unique", mp::boolean(true)}})},
                                                 {"stars", mp::map({{"type", "integer"}, {"default", mp::i(0)}})},
                                                 {"kind", mp::map({{"type", "enum"},
                                                                   {"values", mp::arr({"a", "b"})},
                                                                   {"optional", mp::boolean(true)}})}})}})}})}});
    std::string bytes = mp::pack(doc);
    kvorm_schema *s = nullptr;
    ASSERT_EQ(kvorm_schema_from_msgpack(&s, bytes.data(), bytes.size()), KVORM_OK) << LastError();
    SchemaPtr owned(s);
    DbPtr db = OpenDb(s);
    ASSERT_TRUE(db);
    JRes r = ExecJson(db.get(), Req("Note", "create", R"({"data":{"title":"t"}})"));
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("id"), 1);
    EXPECT_EQ(r.integer("stars"), 0);
    auto stored = raw_.HGetAll("app:$schema");
    db.reset();
    // the same schema as JSON: same layout, so the open changes nothing
    DbPtr again = OpenDb(R"({"namespace":"app","models":{"Note":{"id":{"type":"integer","generate":"increment"},)"
                         R"("fields":{"title":{"type":"string","unique":true},"stars":{"type":"integer","default":0},)"
                         R"("kind":{"type":"enum","values":["a","b"],"optional":true}}}}})");
    ASSERT_TRUE(again);
    EXPECT_EQ(raw_.HGetAll("app:$schema"), stored);
}

TEST_F(SchemaSources, MalformedMessagePackIsSchema)
{
    kvorm_schema *s = nullptr;
    std::string bytes = Unhex("82a96e616d657370616365");  // truncated
    EXPECT_EQ(kvorm_schema_from_msgpack(&s, bytes.data(), bytes.size()), KVORM_ESCHEMA);
    EXPECT_EQ(s, nullptr);
    std::string deep(10000, '\x91');
    EXPECT_EQ(kvorm_schema_from_msgpack(&s, deep.data(), deep.size()), KVORM_ESCHEMA);
    EXPECT_EQ(s, nullptr);
}

TEST_F(SchemaSources, OneSchemaServesTwoDbsAndOutlivesItsHandle)
{
    SchemaPtr s = LoadSchema(kAppSchema);
    ASSERT_TRUE(s);
    DbPtr a = OpenDb(s.get());
    DbPtr b = OpenDb(s.get(), RedisEnvironment::Main().TcpUrl());
    ASSERT_TRUE(a && b);
    s.reset();  // each db keeps its own reference
    KT_ASSERT_OK(ExecJson(a.get(), Req("Item", "create", R"({"data":{"id":"x"}})")));
    JRes f = ExecJson(b.get(), Req("Item", "findUnique", R"({"where":{"id":"x"}})"));
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.str("id"), "x");
}

// ---- invalid schemas -------------------------------------------------------------------------------------------

struct BadSchema {
    const char *name;
    const char *json;
    std::vector<std::string> mentions;  // words the message must contain (model, field, ...)
};

void PrintTo(const BadSchema &b, std::ostream *os) { *os << b.name; }

class InvalidSchemas : public ::testing::TestWithParam<BadSchema> {};

TEST_P(InvalidSchemas, AreSchemaErrorsNamingWhatIsWrong)
{
    const BadSchema &b = GetParam();
    kvorm_schema *s = nullptr;
    int rc = kvorm_schema_from_json(&s, b.json, std::strlen(b.json));
    int code = kvorm_last_error_code();
    std::string msg = kvorm_last_error_message();
    EXPECT_EQ(rc, KVORM_ESCHEMA) << b.json << "\n" << msg;
    EXPECT_EQ(code, KVORM_ESCHEMA);
    EXPECT_EQ(s, nullptr);
    kvorm_schema_free(s);
    for (const auto &w : b.mentions)
        EXPECT_NE(msg.find(w), std::string::npos) << "the message should name \"" << w << "\": " << msg;
}

#define M(models) "{\"namespace\":\"app\",\"models\":{" models "}}"

INSTANTIATE_TEST_SUITE_P(
    Schema, InvalidSchemas,
    ::testing::Values(
        BadSchema{"NotJson", "{\"namespace\":", {}},
        BadSchema{"NotAnObject", "[1,2]", {}},
        BadSchema{"MissingNamespace", "{\"models\":{\"User\":{\"fields\":{\"a\":{\"type\":\"string\"}}}}}",
                  {"namespace"}},
        BadSchema{"MissingModels", "{\"namespace\":\"app\"}", {"models"}},
        BadSchema{"NoModels", M(""), {"models"}},
        BadSchema{"UnknownTopLevelKey",
                  "{\"namespace\":\"app\",\"version\":2,\"models\":{\"User\":{\"fields\":{\"a\":{\"type\":\"string\"}}}}}",
                  {"version"}},
        BadSchema{"InvalidNamespace", "{\"namespace\":\"a:b\",\"models\":{\"User\":{\"fields\":{\"a\":{\"type\":\"string\"}}}}}",
                  {"a:b"}},
        BadSchema{"NamespaceWithBrace", "{\"namespace\":\"a{b}\",\"models\":{\"User\":{\"fields\":{\"a\":{\"type\":\"string\"}}}}}",
                  {}},
        BadSchema{"InvalidModelName", M("\"Bad Model\":{\"fields\":{\"a\":{\"type\":\"string\"}}}"), {"Bad Model"}},
        BadSchema{"ModelNameWithBrace", M("\"U}ser\":{\"fields\":{\"a\":{\"type\":\"string\"}}}"), {"U}ser"}},
        BadSchema{"ModelNameStartingWithDigit", M("\"1User\":{\"fields\":{\"a\":{\"type\":\"string\"}}}"), {"1User"}},
        BadSchema{"IdentifierOver64Chars",
                  M("\"User\":{\"fields\":{\"a23456789012345678901234567890123456789012345678901234567890123456\":"
                    "{\"type\":\"string\"}}}"),
                  {"User"}},
        BadSchema{"InvalidFieldName", M("\"User\":{\"fields\":{\"e-mail\":{\"type\":\"string\"}}}"),
                  {"User", "e-mail"}},
        BadSchema{"FieldNameWithDollar", M("\"User\":{\"fields\":{\"$v\":{\"type\":\"string\"}}}"), {"User", "$v"}},
        BadSchema{"ModelWithoutFields", M("\"User\":{}"), {"User"}},
        BadSchema{"UnknownModelKey", M("\"User\":{\"fields\":{\"a\":{\"type\":\"string\"}},\"views\":[]}"),
                  {"User", "views"}},
        BadSchema{"IndexOnAMissingField",
                  M("\"User\":{\"fields\":{\"email\":{\"type\":\"string\"}},\"indexes\":[[\"email\",\"nope\"]]}"),
                  {"User", "nope"}},
        BadSchema{"IndexOnAJsonField", M("\"User\":{\"fields\":{\"p\":{\"type\":\"json\",\"index\":true}}}"),
                  {"User", "p", "json"}},
        BadSchema{"UnknownType", M("\"User\":{\"fields\":{\"age\":{\"type\":\"int\"}}}"), {"User", "age", "int"}},
        BadSchema{"MissingType", M("\"User\":{\"fields\":{\"age\":{\"optional\":true}}}"), {"User", "age"}},
        BadSchema{"UnknownFieldKey", M("\"User\":{\"fields\":{\"email\":{\"type\":\"string\",\"unqiue\":true}}}"),
                  {"User", "email", "unqiue"}},
        BadSchema{"OptionalNotABoolean", M("\"User\":{\"fields\":{\"age\":{\"type\":\"integer\",\"optional\":\"yes\"}}}"),
                  {"User", "age"}},
        BadSchema{"EnumWithoutValues", M("\"User\":{\"fields\":{\"role\":{\"type\":\"enum\"}}}"), {"User", "role"}},
        BadSchema{"EnumWithEmptyValues", M("\"User\":{\"fields\":{\"role\":{\"type\":\"enum\",\"values\":[]}}}"),
                  {"User", "role"}},
        BadSchema{"EnumWithDuplicateValues",
                  M("\"User\":{\"fields\":{\"role\":{\"type\":\"enum\",\"values\":[\"a\",\"b\",\"a\"]}}}"),
                  {"User", "role"}},
        BadSchema{"EnumWithNonStringValue", M("\"User\":{\"fields\":{\"role\":{\"type\":\"enum\",\"values\":[\"a\",1]}}}"),
                  {"User", "role"}},
        BadSchema{"IntegerDefaultOfWrongType",
                  M("\"User\":{\"fields\":{\"age\":{\"type\":\"integer\",\"default\":\"x\"}}}"), {"User", "age"}},
        BadSchema{"StringDefaultOfWrongType",
                  M("\"User\":{\"fields\":{\"name\":{\"type\":\"string\",\"default\":3}}}"), {"User", "name"}},
        BadSchema{"EnumDefaultNotAValue",
                  M("\"User\":{\"fields\":{\"role\":{\"type\":\"enum\",\"values\":[\"a\"],\"default\":\"b\"}}}"),
                  {"User", "role"}},
        BadSchema{"NowDefaultOnANonDatetime",
                  M("\"User\":{\"fields\":{\"name\":{\"type\":\"integer\",\"default\":\"now\"}}}"), {"User", "name"}},
        BadSchema{"InvalidDatetimeDefault",
                  M("\"User\":{\"fields\":{\"at\":{\"type\":\"datetime\",\"default\":\"tomorrow\"}}}"), {"User", "at"}},
        BadSchema{"InvalidDecimalDefault",
                  M("\"User\":{\"fields\":{\"bal\":{\"type\":\"decimal\",\"default\":\"1.2.3\"}}}"), {"User", "bal"}},
        BadSchema{"FloatDefaultIsAString",
                  M("\"User\":{\"fields\":{\"score\":{\"type\":\"float\",\"default\":\"0\"}}}"), {"User", "score"}},
        BadSchema{"FieldCalledId", M("\"User\":{\"fields\":{\"id\":{\"type\":\"string\"}}}"), {"User", "id"}},
        BadSchema{"UniqueOnAMissingField",
                  M("\"User\":{\"fields\":{\"email\":{\"type\":\"string\"}},\"unique\":[[\"email\",\"nope\"]]}"),
                  {"User", "nope"}},
        BadSchema{"NamedUniqueOnAMissingField",
                  M("\"User\":{\"fields\":{\"email\":{\"type\":\"string\"}},"
                    "\"unique\":[{\"fields\":[\"ghost\"],\"name\":\"byGhost\"}]}"),
                  {"User", "ghost"}},
        BadSchema{"DuplicateConstraint",
                  M("\"User\":{\"fields\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"string\"}},"
                    "\"unique\":[[\"a\",\"b\"],[\"a\",\"b\"]]}"),
                  {"User"}},
        BadSchema{"EmptyCompoundUnique",
                  M("\"User\":{\"fields\":{\"a\":{\"type\":\"string\"}},\"unique\":[[]]}"), {"User"}},
        BadSchema{"InvalidConstraintName",
                  M("\"User\":{\"fields\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"string\"}},"
                    "\"unique\":[{\"fields\":[\"a\",\"b\"],\"name\":\"by:ab\"}]}"),
                  {"User", "by:ab"}},
        BadSchema{"UnknownConstraintKey",
                  M("\"User\":{\"fields\":{\"a\":{\"type\":\"string\"}},"
                    "\"unique\":[{\"fields\":[\"a\"],\"name\":\"x\",\"where\":{}}]}"),
                  {"User", "where"}},
        BadSchema{"StringIdWithIncrement", M("\"User\":{\"id\":{\"type\":\"string\",\"generate\":\"increment\"},"
                                             "\"fields\":{\"a\":{\"type\":\"string\"}}}"),
                  {"User", "increment"}},
        BadSchema{"IntegerIdWithUlid", M("\"User\":{\"id\":{\"type\":\"integer\",\"generate\":\"ulid\"},"
                                         "\"fields\":{\"a\":{\"type\":\"string\"}}}"),
                  {"User", "ulid"}},
        BadSchema{"UnknownIdType", M("\"User\":{\"id\":{\"type\":\"float\"},\"fields\":{\"a\":{\"type\":\"string\"}}}"),
                  {"User", "id"}},
        BadSchema{"UnknownGenerator", M("\"User\":{\"id\":{\"type\":\"string\",\"generate\":\"uuidv4\"},"
                                        "\"fields\":{\"a\":{\"type\":\"string\"}}}"),
                  {"User", "id"}},
        BadSchema{"UnknownIdKey", M("\"User\":{\"id\":{\"type\":\"string\",\"prefix\":\"u_\"},"
                                    "\"fields\":{\"a\":{\"type\":\"string\"}}}"),
                  {"User", "prefix"}}),
    [](const ::testing::TestParamInfo<BadSchema> &info) { return std::string(info.param.name); });

#undef M

// ---- the stored layout and SCHEMA_MISMATCH ---------------------------------------------------------------------

// A base schema and variants of it: each variant changes one thing.
const char *const kBase = R"({"namespace":"mig","models":{
  "Doc":{"id":{"type":"string","generate":"ulid"},
         "fields":{"title":{"type":"string","unique":true},
                   "body":{"type":"string","optional":true},
                   "kind":{"type":"enum","values":["a","b"],"default":"a"},
                   "pages":{"type":"integer"}},"unique":[["kind","pages"]]},
  "Other":{"fields":{"x":{"type":"string"}}}}})";

std::string Variant(const std::string &from, const std::string &to)
{
    std::string s = kBase;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos)
        s.replace(at, from.size(), to);
    return s;
}

class StoredSchema : public KvTest {
protected:
    int OpenRc(const std::string &schema_json, std::string *msg)
    {
        SchemaPtr s = LoadSchema(schema_json);
        if (!s)
            return -999;
        kvorm_db *db = nullptr;
        int rc = kvorm_open(&db, RedisEnvironment::Main().UnixUrl().c_str(), s.get(), nullptr);
        *msg = kvorm_last_error_message();
        if (rc != KVORM_OK) {
            EXPECT_EQ(db, nullptr);
        }
        kvorm_close(db);
        return rc;
    }
};

TEST_F(StoredSchema, OpeningStoresEachModelLayoutUnderTheSchemaKey)
{
    DbPtr db = OpenDb(kBase);
    ASSERT_TRUE(db);
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"mig:$schema"});
    EXPECT_EQ(raw_.Type("mig:$schema"), "hash");
    auto h = raw_.HGetAll("mig:$schema");
    ASSERT_EQ(h.size(), 2u);
    for (const char *model : {"Doc", "Other"}) {
        ASSERT_EQ(h.count(model), 1u) << model;
        mp::V layout;
        EXPECT_TRUE(mp::unpack(h[model], &layout)) << model << ": the layout is one MessagePack document";
        EXPECT_TRUE(layout.is_map()) << model << ": " << layout;
    }
}

TEST_F(StoredSchema, ReopeningWithTheSameSchemaChangesNothing)
{
    ASSERT_TRUE(OpenDb(kBase));
    auto before = raw_.Snapshot();
    std::string msg;
    EXPECT_EQ(OpenRc(kBase, &msg), KVORM_OK) << msg;
    EXPECT_EQ(raw_.Snapshot(), before);
}

TEST_F(StoredSchema, AChangedDefaultIsCompatibleAndNotPartOfTheLayout)
{
    ASSERT_TRUE(OpenDb(kBase));
    auto before = raw_.Snapshot();
    std::string msg;
    EXPECT_EQ(OpenRc(Variant(R"("default":"a")", R"("default":"b")"), &msg), KVORM_OK) << msg;
    EXPECT_EQ(raw_.Snapshot(), before);
}

struct Change {
    const char *name;
    const char *from;
    const char *to;
    std::vector<std::string> mentions;
};

void PrintTo(const Change &c, std::ostream *os) { *os << c.name; }

class CompatibleChanges : public StoredSchema, public ::testing::WithParamInterface<Change> {};

TEST_P(CompatibleChanges, AreStoredAndTheOpenSucceeds)
{
    const Change &c = GetParam();
    DbPtr first = OpenDb(kBase);
    ASSERT_TRUE(first);
    KT_ASSERT_OK(ExecJson(first.get(), Req("Doc", "create", R"({"data":{"title":"t","pages":3}})")));
    first.reset();
    auto before = raw_.HGetAll("mig:$schema");
    std::string changed = Variant(c.from, c.to);
    std::string msg;
    ASSERT_EQ(OpenRc(changed, &msg), KVORM_OK) << c.name << ": " << msg;
    auto after = raw_.HGetAll("mig:$schema");
    EXPECT_NE(after, before) << c.name << ": the new layout is stored";
    EXPECT_EQ(after["Other"], before["Other"]) << "an unchanged model keeps its layout";
    // opening again with the changed schema is now a no-op, and the old data is still readable
    EXPECT_EQ(OpenRc(changed, &msg), KVORM_OK) << msg;
    EXPECT_EQ(raw_.HGetAll("mig:$schema"), after);
    DbPtr db = OpenDb(changed);
    ASSERT_TRUE(db);
    JRes f = ExecJson(db.get(), Req("Doc", "findUnique", R"({"where":{"title":"t"}})"));
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.integer("pages"), 3);
}

INSTANTIATE_TEST_SUITE_P(
    Schema, CompatibleChanges,
    ::testing::Values(
        Change{"NewOptionalField", R"("body":{"type":"string","optional":true},)",
               R"("body":{"type":"string","optional":true},"note":{"type":"json","optional":true},)", {}},
        Change{"RequiredMadeOptional", R"("pages":{"type":"integer"})", R"("pages":{"type":"integer","optional":true})",
               {}},
        Change{"NewEnumValue", R"("values":["a","b"])", R"("values":["a","b","c"])", {}},
        // an added index is built online (`reindex`); the records stay readable meanwhile
        Change{"AddedIndex", R"("pages":{"type":"integer"})", R"("pages":{"type":"integer","index":true})", {}},
        // so is an added unique constraint (findUnique by it waits for the build; by title it works meanwhile)
        Change{"AddedUniqueField", R"("body":{"type":"string","optional":true})",
               R"("body":{"type":"string","optional":true,"unique":true})", {}},
        Change{"AddedCompoundUnique", R"("unique":[["kind","pages"]])",
               R"("unique":[["kind","pages"],["title","body"]])", {}},
        Change{"RemovedCompoundUnique", R"(,"unique":[["kind","pages"]])", "", {}},
        Change{"NewModel", R"("Other":{"fields":{"x":{"type":"string"}}})",
               R"("Other":{"fields":{"x":{"type":"string"}}},"Extra":{"fields":{"y":{"type":"integer"}}})", {}}),
    [](const ::testing::TestParamInfo<Change> &info) { return std::string(info.param.name); });

class IncompatibleChanges : public StoredSchema, public ::testing::WithParamInterface<Change> {};

TEST_P(IncompatibleChanges, AreSchemaMismatchAndWriteNothing)
{
    const Change &c = GetParam();
    ASSERT_TRUE(OpenDb(kBase));
    auto before = raw_.Snapshot();
    std::string msg;
    EXPECT_EQ(OpenRc(Variant(c.from, c.to), &msg), KVORM_ESCHEMA_MISMATCH) << c.name << ": " << msg;
    EXPECT_EQ(kvorm_last_error_code(), KVORM_ESCHEMA_MISMATCH);
    for (const auto &w : c.mentions)
        EXPECT_NE(msg.find(w), std::string::npos) << c.name << ": the message should name \"" << w << "\": " << msg;
    EXPECT_EQ(raw_.Snapshot(), before) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Schema, IncompatibleChanges,
    ::testing::Values(
        Change{"ChangedIdStrategy", R"("id":{"type":"string","generate":"ulid"})",
               R"("id":{"type":"string","generate":"uuidv7"})", {"Doc"}},
        Change{"IdMadeInteger", R"("id":{"type":"string","generate":"ulid"})",
               R"("id":{"type":"integer","generate":"increment"})", {"Doc"}},
        Change{"RemovedField", R"("body":{"type":"string","optional":true},)", "", {"Doc", "body"}},
        Change{"ChangedFieldType", R"("pages":{"type":"integer"})", R"("pages":{"type":"float"})", {"Doc", "pages"}},
        Change{"OptionalMadeRequired", R"("body":{"type":"string","optional":true})", R"("body":{"type":"string"})",
               {"Doc", "body"}},
        Change{"NewRequiredField", R"("pages":{"type":"integer"})",
               R"("pages":{"type":"integer"},"isbn":{"type":"string"})", {"Doc", "isbn"}},
        Change{"RemovedEnumValue", R"("values":["a","b"])", R"("values":["a"])", {"Doc", "kind"}},
        Change{"CompoundUniqueChangedUnderItsName", R"("unique":[["kind","pages"]])",
               R"("unique":[{"name":"kind_pages","fields":["kind","title"]}])", {"Doc", "kind_pages", "another name"}}),
    [](const ::testing::TestParamInfo<Change> &info) { return std::string(info.param.name); });

TEST_F(StoredSchema, AMismatchInOneModelWritesNothingForAnyModel)
{
    ASSERT_TRUE(OpenDb(kBase));
    auto before = raw_.Snapshot();
    // a compatible addition to Other, an incompatible change to Doc
    std::string s = Variant(R"("pages":{"type":"integer"})", R"("pages":{"type":"string"})");
    size_t at = s.find(R"("x":{"type":"string"})");
    ASSERT_NE(at, std::string::npos);
    s.replace(at, std::strlen(R"("x":{"type":"string"})"), R"("x":{"type":"string"},"y":{"type":"string","optional":true})");
    std::string msg;
    EXPECT_EQ(OpenRc(s, &msg), KVORM_ESCHEMA_MISMATCH) << msg;
    EXPECT_EQ(raw_.Snapshot(), before);
}

TEST_F(StoredSchema, ModelsAbsentFromTheSchemaAreLeftAlone)
{
    ASSERT_TRUE(OpenDb(kBase));
    auto before = raw_.HGetAll("mig:$schema");
    std::string only_other = R"({"namespace":"mig","models":{"Other":{"fields":{"x":{"type":"string"}}}}})";
    std::string msg;
    EXPECT_EQ(OpenRc(only_other, &msg), KVORM_OK) << msg;
    EXPECT_EQ(raw_.HGetAll("mig:$schema"), before);
}

TEST_F(StoredSchema, NamespacesAreIndependent)
{
    ASSERT_TRUE(OpenDb(kBase));
    std::string other_ns = Variant(R"("namespace":"mig")", R"("namespace":"mig2")");
    size_t at = other_ns.find(R"("pages":{"type":"integer"})");
    ASSERT_NE(at, std::string::npos);
    other_ns.replace(at, std::strlen(R"("pages":{"type":"integer"})"), R"("pages":{"type":"string"})");
    std::string msg;
    EXPECT_EQ(OpenRc(other_ns, &msg), KVORM_OK) << msg;
    EXPECT_TRUE(raw_.Exists("mig2:$schema"));
}

// ---- a stored layout that anything may have changed ------------------------------------------------------------

// The member of a MessagePack map with a string key (nullptr when absent).
mp::V *Member(mp::V &map, const std::string &key)
{
    for (auto &kv : map.map)
        if (kv.first.kind == mp::V::Str && kv.first.s == key)
            return &kv.second;
    return nullptr;
}

struct Crafted {
    const char *name;
    void (*change)(mp::V &layout);
};

void PrintTo(const Crafted &c, std::ostream *os) { *os << c.name; }

class CraftedLayouts : public StoredSchema, public ::testing::WithParamInterface<Crafted> {};

// Every type of the stored layout is checked before it is read: a crafted one is SCHEMA_MISMATCH, never a crash
// or a read of the wrong union member, and nothing is written.
TEST_P(CraftedLayouts, AreUnreadableSchemaMismatch)
{
    ASSERT_TRUE(OpenDb(kBase));
    mp::V layout;
    ASSERT_TRUE(mp::unpack(raw_.HGet("mig:$schema", "Doc").value_or(""), &layout));
    GetParam().change(layout);
    raw_.Cmd({"HSET", "mig:$schema", "Doc", mp::pack(layout)});
    auto before = raw_.Snapshot();
    std::string msg;
    EXPECT_EQ(OpenRc(kBase, &msg), KVORM_ESCHEMA_MISMATCH) << msg;
    EXPECT_NE(msg.find("Doc: "), std::string::npos) << msg;
    EXPECT_NE(msg.find("the stored layout is unreadable"), std::string::npos) << msg;
    EXPECT_EQ(raw_.Snapshot(), before);
}

INSTANTIATE_TEST_SUITE_P(
    Schema, CraftedLayouts,
    ::testing::Values(
        Crafted{"EnumValuesThatAreNotStrings",
                [](mp::V &l) { *Member(*Member(*Member(l, "fields"), "kind"), "values") = mp::arr({mp::i(1), mp::i(2)}); }},
        Crafted{"AnEnumValuesThatIsNotAList",
                [](mp::V &l) { *Member(*Member(*Member(l, "fields"), "kind"), "values") = mp::str("a"); }},
        Crafted{"AFieldThatIsNotAMap", [](mp::V &l) { *Member(*Member(l, "fields"), "body") = mp::i(5); }},
        Crafted{"ATypeThatIsNotAString",
                [](mp::V &l) { *Member(*Member(*Member(l, "fields"), "pages"), "type") = mp::i(3); }},
        Crafted{"OptionalThatIsNotABoolean",
                [](mp::V &l) { *Member(*Member(*Member(l, "fields"), "body"), "optional") = mp::str("yes"); }},
        Crafted{"AFieldNameThatIsNotAString",
                [](mp::V &l) {
                    Member(l, "fields")->map.emplace_back(mp::i(7), mp::map({{"type", "string"}, {"optional", mp::boolean(true)}}));
                }},
        Crafted{"FieldsThatAreNotAMap", [](mp::V &l) { *Member(l, "fields") = mp::arr({}); }},
        Crafted{"AnIdThatIsNotAString", [](mp::V &l) { *Member(l, "id") = mp::i(5); }},
        Crafted{"AFormatThatIsNotANumber", [](mp::V &l) { *Member(l, "format") = mp::str("1"); }},
        Crafted{"UniqueThatIsNotAList", [](mp::V &l) { *Member(l, "unique") = mp::str("x"); }},
        Crafted{"AUniqueOfTheWrongShape", [](mp::V &l) { *Member(l, "unique") = mp::arr({mp::arr({mp::i(1), mp::arr({"title"})})}); }},
        Crafted{"IndexesThatAreNotAList", [](mp::V &l) { *Member(l, "indexes") = mp::i(1); }},
        Crafted{"AnIndexNameThatIsNotAnIdentifier",
                [](mp::V &l) { Member(l, "indexes")->arr.push_back(mp::arr({"a:b", mp::arr({mp::arr({"title", "asc"})})})); }},
        Crafted{"NotAMap", [](mp::V &l) { l = mp::arr({mp::i(1)}); }}),
    [](const ::testing::TestParamInfo<Crafted> &info) { return std::string(info.param.name); });

// kvorm 0.1 stored format 1 layouts (no indexes): such a dataset must be exported and reimported.
TEST_F(StoredSchema, AFormat1LayoutIsAMismatchAskingForAnExport)
{
    ASSERT_TRUE(OpenDb(kBase));
    mp::V layout;
    ASSERT_TRUE(mp::unpack(raw_.HGet("mig:$schema", "Doc").value_or(""), &layout));
    *Member(layout, "format") = mp::i(1);
    auto &members = layout.map;
    for (auto it = members.begin(); it != members.end(); ++it)
        if (it->first.kind == mp::V::Str && it->first.s == "indexes") {
            members.erase(it);
            break;
        }
    raw_.Cmd({"HSET", "mig:$schema", "Doc", mp::pack(layout)});
    auto before = raw_.Snapshot();
    std::string msg;
    EXPECT_EQ(OpenRc(kBase, &msg), KVORM_ESCHEMA_MISMATCH) << msg;
    EXPECT_NE(msg.find("kvorm 0.1 (format 1)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("export"), std::string::npos) << msg;
    EXPECT_EQ(raw_.Snapshot(), before);
}

TEST_F(StoredSchema, ANameInAStoredLayoutIsSanitizedInTheMessage)
{
    ASSERT_TRUE(OpenDb(kBase));
    mp::V layout;
    ASSERT_TRUE(mp::unpack(raw_.HGet("mig:$schema", "Doc").value_or(""), &layout));
    Member(layout, "fields")->map.emplace_back(mp::str("gone\xff\n"), mp::map({{"type", "string"}, {"optional", mp::boolean(true)}}));
    raw_.Cmd({"HSET", "mig:$schema", "Doc", mp::pack(layout)});
    std::string msg;
    EXPECT_EQ(OpenRc(kBase, &msg), KVORM_ESCHEMA_MISMATCH) << msg;
    EXPECT_NE(msg.find("field gone\\xff\\x0a was removed"), std::string::npos) << msg;
}

// ---- secondary indexes (internals: kv_schema_load, kv_layout_compare, kv_layout_index_changes) ---------------
// BEGIN-INTERNAL-INDEX-TESTS (these tests need neither Redis nor the engine)

using Internal = LoadedSchema;

std::string LayoutOf(const kv_model *m) { return std::string(m->layout, m->layout_len); }

// One model M with the given fields and model keys (e.g. `,"indexes":[...]`).
std::string OneModel(const std::string &fields, const std::string &rest = "")
{
    return R"({"namespace":"n","models":{"M":{"fields":{)" + fields + "}" + rest + "}}}";
}

const char *const kIndexedFields =
    R"("a":{"type":"string"},"b":{"type":"integer","optional":true},"c":{"type":"decimal","optional":true},)"
    R"("j":{"type":"json","optional":true})";

TEST(SchemaIndexes, TheDocumentedExampleLoads)
{
    Internal l(R"({"namespace":"n","models":{"Room":{"fields":{"x":{"type":"string"}}},"Message":{)"
               R"("id":{"type":"string","generate":"ulid"},)"
               R"("fields":{"roomId":{"type":"string","index":true},"sentAt":{"type":"datetime","index":true},)"
               R"("score":{"type":"decimal","index":true,"optional":true}},)"
               R"("indexes":[["roomId","sentAt"],)"
               R"({"name":"by_score","fields":["roomId",{"field":"score","order":"desc"}]}]}}})");
    ASSERT_EQ(l.rc, 0) << l.err.message;
    const kv_model *m = l.Model("Message");
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->position, 1);
    EXPECT_EQ(l.Model("Room")->position, 0);
    EXPECT_EQ(l.s->models[m->position].name, m->name);
    ASSERT_EQ(m->nindexes, 5);
    // the field flags first, in field order, then the list
    const char *names[] = {"roomId", "sentAt", "score", "roomId_sentAt", "by_score"};
    for (int i = 0; i < 5; i++) {
        EXPECT_STREQ(m->indexes[i].name, names[i]);
        EXPECT_EQ(kv_model_index(m, names[i], std::strlen(names[i])), i);
    }
    EXPECT_EQ(kv_model_index(m, "roomId_", 7), -1);
    EXPECT_EQ(kv_model_index(m, "room", 4), -1);
    EXPECT_EQ(kv_model_index(m, "id", 2), -1);
    const kv_index &ix = m->indexes[4];
    ASSERT_EQ(ix.nparts, 2);
    EXPECT_EQ(ix.parts[0].field, kv_model_field(m, "roomId", 6));
    EXPECT_FALSE(ix.parts[0].desc);
    EXPECT_EQ(ix.parts[1].field, kv_model_field(m, "score", 5));
    EXPECT_TRUE(ix.parts[1].desc);
    EXPECT_EQ(m->indexes[3].nparts, 2);
    EXPECT_EQ(m->indexes[0].nparts, 1);
}

TEST(SchemaIndexes, EveryScalarTypeCanBeIndexedWithUpTo8Parts)
{
    Internal l(OneModel(R"("s":{"type":"string"},"i":{"type":"integer"},"f":{"type":"float"},)"
                        R"("b":{"type":"boolean"},"t":{"type":"datetime"},"d":{"type":"decimal"},)"
                        R"("e":{"type":"enum","values":["x"]},"y":{"type":"bytes","optional":true})",
                        R"(,"indexes":[["s","i","f","b","t","d","e","y"]])"));
    ASSERT_EQ(l.rc, 0) << l.err.message;
    ASSERT_EQ(l.Model("M")->nindexes, 1);
    EXPECT_STREQ(l.Model("M")->indexes[0].name, "s_i_f_b_t_d_e_y");
    EXPECT_EQ(l.Model("M")->indexes[0].nparts, 8);
}

TEST(SchemaIndexes, AModelWithoutIndexesHasNone)
{
    Internal l(OneModel(R"("a":{"type":"string","index":false})", R"(,"indexes":[])"));
    ASSERT_EQ(l.rc, 0) << l.err.message;
    EXPECT_EQ(l.Model("M")->nindexes, 0);
}

TEST(SchemaIndexes, ADescPartIsAnotherIndexWhenNamed)
{
    Internal l(OneModel(kIndexedFields, R"(,"indexes":[["a","b"],)"
                                        R"({"name":"a_b_desc","fields":["a",{"field":"b","order":"desc"}]},)"
                                        R"([{"field":"b","order":"asc"}]])"));
    ASSERT_EQ(l.rc, 0) << l.err.message;
    const kv_model *m = l.Model("M");
    ASSERT_EQ(m->nindexes, 3);
    EXPECT_STREQ(m->indexes[2].name, "b");
    EXPECT_FALSE(m->indexes[0].parts[1].desc);
    EXPECT_TRUE(m->indexes[1].parts[1].desc);
}

// The stored layout: format 2, with "indexes" as [name, [[field, dir]...]] sorted by name.
TEST(SchemaIndexes, TheLayoutIsFormat2WithTheIndexesSortedByName)
{
    Internal l(OneModel(R"("b":{"type":"integer","index":true},"a":{"type":"string"})",
                        R"(,"indexes":[{"name":"z","fields":["a"]},["a",{"field":"b","order":"desc"}]])"));
    ASSERT_EQ(l.rc, 0) << l.err.message;
    mp::V want = mp::map(
        {{"format", mp::i(2)},
         {"id", "ulid"},
         {"fields", mp::map({{"a", mp::map({{"type", "string"}, {"optional", mp::boolean(false)}})},
                             {"b", mp::map({{"type", "integer"}, {"optional", mp::boolean(false)}})}})},
         {"unique", mp::arr({})},
         {"indexes", mp::arr({mp::arr({"a_b", mp::arr({mp::arr({"a", "asc"}), mp::arr({"b", "desc"})})}),
                              mp::arr({"b", mp::arr({mp::arr({"b", "asc"})})}),
                              mp::arr({"z", mp::arr({mp::arr({"a", "asc"})})})})}});
    mp::V got;
    ASSERT_TRUE(mp::unpack(LayoutOf(l.Model("M")), &got));
    EXPECT_TRUE(LayoutOf(l.Model("M")) == mp::pack(want)) << "got " << got << "\nwant " << want;
}

TEST(SchemaIndexes, TheLayoutDoesNotDependOnHowAnIndexIsWritten)
{
    Internal a(OneModel(R"("x":{"type":"string","index":true},"y":{"type":"string"})", R"(,"indexes":[["y","x"]])"));
    Internal b(OneModel(R"("y":{"type":"string"},"x":{"type":"string"})",
                        R"(,"indexes":[{"fields":[{"field":"y"},{"field":"x","order":"asc"}]},)"
                        R"({"name":"x","fields":["x"]}])"));
    ASSERT_EQ(a.rc, 0) << a.err.message;
    ASSERT_EQ(b.rc, 0) << b.err.message;
    EXPECT_EQ(LayoutOf(a.Model("M")), LayoutOf(b.Model("M")));
    kv_error err{};
    EXPECT_EQ(kv_layout_compare(a.Model("M"), b.Model("M")->layout, b.Model("M")->layout_len, &err), 0);
}

TEST(SchemaIndexes, AnIndexChangesTheLayout)
{
    Internal a(OneModel(R"("x":{"type":"string"})"));
    Internal b(OneModel(R"("x":{"type":"string","index":true})"));
    Internal c(OneModel(R"("x":{"type":"string"})", R"(,"indexes":[[{"field":"x","order":"desc"}]])"));
    ASSERT_EQ(a.rc | b.rc | c.rc, 0);
    EXPECT_NE(LayoutOf(a.Model("M")), LayoutOf(b.Model("M")));
    EXPECT_NE(LayoutOf(b.Model("M")), LayoutOf(c.Model("M")));
}

struct BadIndex {
    const char *name;
    std::string json;
    std::vector<std::string> mentions;
};

void PrintTo(const BadIndex &b, std::ostream *os) { *os << b.name; }

class InvalidIndexes : public ::testing::TestWithParam<BadIndex> {};

TEST_P(InvalidIndexes, AreSchemaErrorsNamingTheModel)
{
    const BadIndex &b = GetParam();
    Internal l(b.json);
    EXPECT_EQ(l.rc, KVORM_ESCHEMA) << b.json;
    EXPECT_EQ(l.err.code, KVORM_ESCHEMA);
    EXPECT_EQ(l.s, nullptr);
    EXPECT_EQ(l.err.model, nullptr) << "names in the freed schema are not kept";
    std::string msg = l.err.message;
    for (const auto &w : b.mentions)
        EXPECT_NE(msg.find(w), std::string::npos) << "the message should name \"" << w << "\": " << msg;
}

std::string WithIndexes(const std::string &list) { return OneModel(kIndexedFields, ",\"indexes\":" + list); }

INSTANTIATE_TEST_SUITE_P(
    Schema, InvalidIndexes,
    ::testing::Values(
        BadIndex{"UnknownField", WithIndexes(R"([["a","ghost"]])"), {"M", "ghost", "not a field"}},
        BadIndex{"UnknownFieldInAPartMap", WithIndexes(R"([[{"field":"ghost"}]])"), {"M", "ghost"}},
        BadIndex{"JsonField", WithIndexes(R"([["a","j"]])"), {"M", "j", "json"}},
        BadIndex{"JsonFieldFlag", OneModel(R"("j":{"type":"json","index":true})"), {"M", "j", "json"}},
        BadIndex{"TheId", WithIndexes(R"([["id"]])"), {"M", "id", "id collection"}},
        BadIndex{"TheIdInACompound", WithIndexes(R"([["a",{"field":"id","order":"desc"}]])"), {"M", "id"}},
        BadIndex{"AFieldTwice", WithIndexes(R"([["a","b","a"]])"), {"M", "a", "twice"}},
        BadIndex{"AFieldTwiceInBothDirections", WithIndexes(R"([["b",{"field":"b","order":"desc"}]])"),
                 {"M", "b", "twice"}},
        BadIndex{"NineParts",
                 OneModel(R"("f1":{"type":"string"},"f2":{"type":"string"},"f3":{"type":"string"},)"
                          R"("f4":{"type":"string"},"f5":{"type":"string"},"f6":{"type":"string"},)"
                          R"("f7":{"type":"string"},"f8":{"type":"string"},"f9":{"type":"string"})",
                          R"(,"indexes":[["f1","f2","f3","f4","f5","f6","f7","f8","f9"]])"),
                 {"M", "at most 8"}},
        BadIndex{"IdenticalParts", WithIndexes(R"([["a","b"],{"name":"other","fields":["a","b"]}])"),
                 {"M", "other", "a_b", "same fields"}},
        BadIndex{"IdenticalToAFieldFlag", OneModel(R"("a":{"type":"string","index":true})", R"(,"indexes":[["a"]])"),
                 {"M", "same fields"}},
        BadIndex{"IdenticalWithExplicitAsc", WithIndexes(R"([["a"],[{"field":"a","order":"asc"}]])"),
                 {"M", "same fields"}},
        BadIndex{"DuplicateNames",
                 WithIndexes(R"([{"name":"x","fields":["a"]},{"name":"x","fields":["b"]}])"), {"M", "named x"}},
        BadIndex{"ANameOfAFieldFlag",
                 OneModel(R"("a":{"type":"string","index":true},"b":{"type":"string"})",
                          R"(,"indexes":[{"name":"a","fields":["b"]}])"),
                 {"M", "named a"}},
        BadIndex{"DefaultNamesClashWhenOnlyTheDirectionDiffers",
                 WithIndexes(R"([["a","b"],["a",{"field":"b","order":"desc"}]])"), {"M", "a_b", "\"name\""}},
        BadIndex{"DefaultNameClashesWithAFieldFlag",
                 OneModel(R"("a":{"type":"string"},"b":{"type":"string"},"a_b":{"type":"string","index":true})",
                          R"(,"indexes":[["a","b"]])"),
                 {"M", "a_b", "\"name\""}},
        BadIndex{"DefaultNameTooLong",
                 OneModel(R"("f123456789012345678901234567890123456789":{"type":"string"},)"
                          R"("g123456789012345678901234567890123456789":{"type":"string"})",
                          R"(,"indexes":[["f123456789012345678901234567890123456789",)"
                          R"("g123456789012345678901234567890123456789"]])"),
                 {"M", "\"name\""}},
        BadIndex{"InvalidName", WithIndexes(R"([{"name":"by-a","fields":["a"]}])"), {"M", "by-a", "identifier"}},
        BadIndex{"EmptyName", WithIndexes(R"([{"name":"","fields":["a"]}])"), {"M", "identifier"}},
        BadIndex{"NameNotAString", WithIndexes(R"([{"name":3,"fields":["a"]}])"), {"M", "identifier"}},
        BadIndex{"UnknownIndexKey", WithIndexes(R"([{"fields":["a"],"unique":true}])"), {"M", "unique"}},
        BadIndex{"RepeatedIndexKey", R"({"namespace":"n","models":{"M":{"fields":{"a":{"type":"string"}},)"
                                     R"("indexes":[{"fields":["a"],"fields":["a"]}]}}})",
                 {}},  // jansson refuses the duplicate key before the schema sees it
        BadIndex{"UnknownPartKey", WithIndexes(R"([[{"field":"a","sort":"desc"}]])"), {"M", "sort"}},
        BadIndex{"BadOrder", WithIndexes(R"([[{"field":"a","order":"down"}]])"), {"M", "a", "asc", "desc"}},
        BadIndex{"OrderNotAString", WithIndexes(R"([[{"field":"a","order":true}]])"), {"M", "a", "order"}},
        BadIndex{"PartNotAString", WithIndexes(R"([["a",1]])"), {"M", "field name"}},
        BadIndex{"PartMapWithoutField", WithIndexes(R"([[{"order":"asc"}]])"), {"M", "\"field\""}},
        BadIndex{"PartFieldNotAString", WithIndexes(R"([[{"field":["a"]}]])"), {"M", "\"field\""}},
        BadIndex{"IndexesNotAList", WithIndexes(R"({"a":["a"]})"), {"M", "indexes"}},
        BadIndex{"IndexNotAListOrMap", WithIndexes(R"(["a"])"), {"M", "list of fields"}},
        BadIndex{"EmptyIndex", WithIndexes(R"([[]])"), {"M", "non-empty"}},
        BadIndex{"MapWithoutFields", WithIndexes(R"([{"name":"x"}])"), {"M", "x", "non-empty"}},
        BadIndex{"FieldsNotAList", WithIndexes(R"([{"name":"x","fields":"a"}])"), {"M", "x"}},
        BadIndex{"IndexFlagNotABoolean", OneModel(R"("a":{"type":"string","index":"yes"})"), {"M", "a", "index"}}),
    [](const ::testing::TestParamInfo<BadIndex> &info) { return std::string(info.param.name); });

// Compatibility through kv_layout_compare: the stored layout of kIndexBase against a changed schema.
const char *const kIndexBase =
    R"("a":{"type":"string"},"b":{"type":"integer","optional":true},"c":{"type":"string","unique":true})";

struct IndexChange {
    const char *name;
    std::string fields;                // the changed model's fields
    std::string rest;                  // its other keys
    int want;                          // 0, 1 or KVORM_ESCHEMA_MISMATCH
    std::vector<std::string> mentions; // for a mismatch
    std::vector<std::string> added;    // the indexes (then "u:" + unique constraints) kv_layout_index_changes calls new
    std::vector<std::string> removed;  // and removed
};

void PrintTo(const IndexChange &c, std::ostream *os) { *os << c.name; }

class IndexCompat : public ::testing::TestWithParam<IndexChange> {};

TEST_P(IndexCompat, FollowsTheRulesOfDocsSchema)
{
    const IndexChange &c = GetParam();
    Internal base(OneModel(kIndexBase, R"(,"indexes":[["a","b"],{"name":"by_b","fields":[{"field":"b","order":"desc"}]}])"));
    Internal cur(OneModel(c.fields, c.rest));
    ASSERT_EQ(base.rc, 0) << base.err.message;
    ASSERT_EQ(cur.rc, 0) << cur.err.message;
    const kv_model *m = cur.Model("M"), *old = base.Model("M");
    kv_error err{};
    int rc = kv_layout_compare(m, old->layout, old->layout_len, &err);
    EXPECT_EQ(rc, c.want) << err.message;
    std::string msg = err.message;
    for (const auto &w : c.mentions)
        EXPECT_NE(msg.find(w), std::string::npos) << "the message should name \"" << w << "\": " << msg;

    std::vector<char> is_new_bytes(static_cast<size_t>(kv_model_nbuilt(m)) + 1);
    bool *is_new = reinterpret_cast<bool *>(is_new_bytes.data());
    kv_layout_removed removed{};
    removed.nindexes = removed.nuniques = -1;
    msgpack_zone *zone = msgpack_zone_new(1024);
    kv_error err2{};
    int rc2 = kv_layout_index_changes(m, old->layout, old->layout_len, is_new, &removed, zone, &err2);
    if (c.want < 0) {
        EXPECT_EQ(rc2, c.want);
        EXPECT_EQ(removed.nindexes + removed.nuniques, 0);
    } else {
        EXPECT_EQ(rc2, 0) << err2.message;
        std::vector<std::string> added, gone;
        for (int i = 0; i < m->nindexes; i++)
            if (is_new[i])
                added.push_back(m->indexes[i].name);
        for (int i = 0; i < m->nuniques; i++)
            if (is_new[m->nindexes + i])
                added.push_back(std::string("u:") + m->uniques[i].name);
        for (int i = 0; i < removed.nindexes; i++)
            gone.push_back(removed.indexes[i]);
        for (int i = 0; i < removed.nuniques; i++)
            gone.push_back(std::string("u:") + removed.uniques[i]);
        EXPECT_EQ(added, c.added);
        EXPECT_EQ(gone, c.removed);
    }
    msgpack_zone_free(zone);
}

const std::string kSameIndexes = R"(,"indexes":[["a","b"],{"name":"by_b","fields":[{"field":"b","order":"desc"}]}])";

INSTANTIATE_TEST_SUITE_P(
    Schema, IndexCompat,
    ::testing::Values(
        IndexChange{"Same", kIndexBase, kSameIndexes, 0, {}, {}, {}},
        IndexChange{"SameWrittenOtherwise", kIndexBase,
                    R"(,"indexes":[{"fields":[{"field":"b","order":"desc"}],"name":"by_b"},{"fields":["a","b"]}])", 0, {}, {}, {}},
        IndexChange{"AddedIndex", kIndexBase,
                    R"(,"indexes":[["a","b"],["c","a"],{"name":"by_b","fields":[{"field":"b","order":"desc"}]}])", 1,
                    {}, {"c_a"}, {}},
        IndexChange{"AddedByAFieldFlag",
                    R"("a":{"type":"string","index":true},"b":{"type":"integer","optional":true},)"
                    R"("c":{"type":"string","unique":true})",
                    kSameIndexes, 1, {}, {"a"}, {}},
        IndexChange{"AddedWithANewOptionalField",
                    std::string(kIndexBase) + R"(,"d":{"type":"datetime","optional":true,"index":true})",
                    kSameIndexes, 1, {}, {"d"}, {}},
        IndexChange{"RemovedIndex", kIndexBase, R"(,"indexes":[["a","b"]])", 1, {}, {}, {"by_b"}},
        IndexChange{"RemovedAll", kIndexBase, "", 1, {}, {}, {"a_b", "by_b"}},
        IndexChange{"Renamed", kIndexBase,
                    R"(,"indexes":[{"name":"ab","fields":["a","b"]},)"
                    R"({"name":"by_b","fields":[{"field":"b","order":"desc"}]}])",
                    1, {}, {"ab"}, {"a_b"}},
        IndexChange{"ChangedPartsUnderTheSameName", kIndexBase,
                    R"(,"indexes":[["a","b"],{"name":"by_b","fields":["b","a"]}])", KVORM_ESCHEMA_MISMATCH,
                    {"M", "index by_b", "another name"}, {}, {}},
        IndexChange{"ChangedDirectionUnderTheSameName", kIndexBase,
                    R"(,"indexes":[["a","b"],{"name":"by_b","fields":["b"]}])", KVORM_ESCHEMA_MISMATCH,
                    {"M", "by_b"}, {}, {}},
        IndexChange{"ChangedDefaultNamedParts", kIndexBase,
                    R"(,"indexes":[["a",{"field":"b","order":"desc"}],)"
                    R"({"name":"by_b","fields":[{"field":"b","order":"desc"}]}])",
                    KVORM_ESCHEMA_MISMATCH, {"M", "a_b"}, {}, {}},
        IndexChange{"OtherPartsUnderANewNameAndTheOldRemoved", kIndexBase,
                    R"(,"indexes":[["a","b"],{"name":"by_b2","fields":["b"]}])", 1, {}, {"by_b2"}, {"by_b"}},
        IndexChange{"AddedUnique", kIndexBase, kSameIndexes + R"(,"unique":[["a","b"]])", 1, {}, {"u:a_b"}, {}},
        IndexChange{"AddedByAFieldFlagUnique",
                    R"("a":{"type":"string","unique":true},"b":{"type":"integer","optional":true},)"
                    R"("c":{"type":"string","unique":true})",
                    kSameIndexes, 1, {}, {"u:a"}, {}},
        IndexChange{"RemovedUnique",
                    R"("a":{"type":"string"},"b":{"type":"integer","optional":true},"c":{"type":"string"})",
                    kSameIndexes, 1, {}, {}, {"u:c"}},
        IndexChange{"UniqueChangedFieldsUnderTheSameName",
                    R"("a":{"type":"string"},"b":{"type":"integer","optional":true},"c":{"type":"string"})",
                    kSameIndexes + R"(,"unique":[{"name":"c","fields":["a"]}])", KVORM_ESCHEMA_MISMATCH,
                    {"M", "unique constraint c", "another name"}, {}, {}},
        IndexChange{"AnIndexedFieldRemovedIsAMismatch", R"("a":{"type":"string"},"c":{"type":"string","unique":true})",
                    R"(,"indexes":[["a"]])", KVORM_ESCHEMA_MISMATCH, {"M", "b", "removed"}, {}, {}}),
    [](const ::testing::TestParamInfo<IndexChange> &info) { return std::string(info.param.name); });

// The member of a MessagePack map with a string key (nullptr when absent).
mp::V *MemberOf(mp::V &map, const std::string &key)
{
    for (auto &kv : map.map)
        if (kv.first.kind == mp::V::Str && kv.first.s == key)
            return &kv.second;
    return nullptr;
}

// The layout of kIndexBase's model changed by change, compared with the model itself.
int CompareCrafted(void (*change)(mp::V &), std::string *msg)
{
    Internal l(OneModel(kIndexBase, kSameIndexes));
    EXPECT_EQ(l.rc, 0) << l.err.message;
    if (l.rc != 0)
        return -999;
    const kv_model *m = l.Model("M");
    mp::V layout;
    EXPECT_TRUE(mp::unpack(LayoutOf(m), &layout));
    change(layout);
    std::string bytes = mp::pack(layout);
    kv_error err{};
    int rc = kv_layout_compare(m, bytes.data(), bytes.size(), &err);
    *msg = err.message;
    if (rc < 0) {
        EXPECT_EQ(err.code, rc);
        EXPECT_EQ(err.model, m->name);
        // kv_layout_index_changes refuses the same layout the same way
        std::vector<char> is_new(static_cast<size_t>(kv_model_nbuilt(m)) + 1);
        kv_layout_removed removed{};
        msgpack_zone *zone = msgpack_zone_new(1024);
        kv_error err2{};
        EXPECT_EQ(kv_layout_index_changes(m, bytes.data(), bytes.size(), reinterpret_cast<bool *>(is_new.data()),
                                          &removed, zone, &err2),
                  rc);
        EXPECT_EQ(removed.nindexes + removed.nuniques, 0);
        msgpack_zone_free(zone);
    }
    return rc;
}

TEST(SchemaIndexes, AFormat1LayoutIsAMismatchAskingForAnExport)
{
    std::string msg;
    // a format 1 layout has no "indexes"
    int rc = CompareCrafted(
        [](mp::V &l) {
            *MemberOf(l, "format") = mp::i(1);
            l.map.pop_back();
        },
        &msg);
    EXPECT_EQ(rc, KVORM_ESCHEMA_MISMATCH) << msg;
    for (const char *w : {"M: ", "kvorm 0.1", "format 1", "export", "reimport", "migrate"})
        EXPECT_NE(msg.find(w), std::string::npos) << w << ": " << msg;
}

TEST(SchemaIndexes, ANewerFormatIsAMismatch)
{
    std::string msg;
    EXPECT_EQ(CompareCrafted([](mp::V &l) { *MemberOf(l, "format") = mp::i(3); }, &msg), KVORM_ESCHEMA_MISMATCH);
    EXPECT_NE(msg.find("newer kvorm"), std::string::npos) << msg;
    EXPECT_NE(msg.find("format 3"), std::string::npos) << msg;
    // even when the rest has another shape
    EXPECT_EQ(CompareCrafted(
                  [](mp::V &l) {
                      l = mp::map({{"format", mp::i(7)}, {"models", mp::arr({})}});
                  },
                  &msg),
              KVORM_ESCHEMA_MISMATCH);
    EXPECT_NE(msg.find("newer kvorm"), std::string::npos) << msg;
}

TEST(SchemaIndexes, NoStoredLayoutMakesEveryIndexNew)
{
    Internal l(OneModel(kIndexBase, kSameIndexes));
    ASSERT_EQ(l.rc, 0) << l.err.message;
    const kv_model *m = l.Model("M");
    ASSERT_EQ(kv_model_nbuilt(m), 3); // two indexes, one unique
    bool is_new[3] = {false, false, false};
    kv_layout_removed removed{};
    msgpack_zone *zone = msgpack_zone_new(1024);
    kv_error err{};
    EXPECT_EQ(kv_layout_index_changes(m, nullptr, 0, is_new, &removed, zone, &err), 0);
    EXPECT_TRUE(is_new[0] && is_new[1] && is_new[2]);
    EXPECT_EQ(removed.nindexes + removed.nuniques, 0);
    // its own layout: nothing new, nothing removed
    EXPECT_EQ(kv_layout_index_changes(m, m->layout, m->layout_len, is_new, &removed, zone, &err), 0);
    EXPECT_FALSE(is_new[0] || is_new[1] || is_new[2]);
    EXPECT_EQ(removed.nindexes + removed.nuniques, 0);
    msgpack_zone_free(zone);
}

struct CraftedIndexes {
    const char *name;
    void (*change)(mp::V &layout);
};

void PrintTo(const CraftedIndexes &c, std::ostream *os) { *os << c.name; }

class CraftedIndexLayouts : public ::testing::TestWithParam<CraftedIndexes> {};

// Every type of the stored indexes is checked before it is read.
TEST_P(CraftedIndexLayouts, AreUnreadableSchemaMismatch)
{
    std::string msg;
    EXPECT_EQ(CompareCrafted(GetParam().change, &msg), KVORM_ESCHEMA_MISMATCH) << msg;
    EXPECT_NE(msg.find("the stored layout is unreadable"), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(
    Schema, CraftedIndexLayouts,
    ::testing::Values(
        CraftedIndexes{"NoIndexes", [](mp::V &l) { l.map.pop_back(); }},
        CraftedIndexes{"IndexesNotAList", [](mp::V &l) { *MemberOf(l, "indexes") = mp::map({}); }},
        CraftedIndexes{"AnIndexNotAList", [](mp::V &l) { MemberOf(l, "indexes")->arr[0] = mp::str("a_b"); }},
        CraftedIndexes{"AnIndexOfThreeItems",
                       [](mp::V &l) { MemberOf(l, "indexes")->arr[0].arr.push_back(mp::i(1)); }},
        CraftedIndexes{"ANameNotAString", [](mp::V &l) { MemberOf(l, "indexes")->arr[0].arr[0] = mp::i(1); }},
        CraftedIndexes{"ANameNotAnIdentifier",
                       [](mp::V &l) { MemberOf(l, "indexes")->arr[0].arr[0] = mp::str("a:b\xff"); }},
        CraftedIndexes{"AnEmptyName", [](mp::V &l) { MemberOf(l, "indexes")->arr[0].arr[0] = mp::str(""); }},
        CraftedIndexes{"PartsNotAList", [](mp::V &l) { MemberOf(l, "indexes")->arr[0].arr[1] = mp::str("a"); }},
        CraftedIndexes{"NoParts", [](mp::V &l) { MemberOf(l, "indexes")->arr[0].arr[1] = mp::arr({}); }},
        CraftedIndexes{"NineParts",
                       [](mp::V &l) {
                           mp::V &parts = MemberOf(l, "indexes")->arr[0].arr[1];
                           while (parts.arr.size() < 9)
                               parts.arr.push_back(mp::arr({"a", "asc"}));
                       }},
        CraftedIndexes{"APartNotAPair",
                       [](mp::V &l) { MemberOf(l, "indexes")->arr[0].arr[1].arr[0] = mp::arr({"a"}); }},
        CraftedIndexes{"APartFieldNotAString",
                       [](mp::V &l) { MemberOf(l, "indexes")->arr[0].arr[1].arr[0] = mp::arr({mp::i(1), "asc"}); }},
        CraftedIndexes{"ADirectionNotAString",
                       [](mp::V &l) {
                           MemberOf(l, "indexes")->arr[0].arr[1].arr[0] = mp::arr({"a", mp::boolean(true)});
                       }},
        CraftedIndexes{"FormatZero", [](mp::V &l) { *MemberOf(l, "format") = mp::i(0); }},
        CraftedIndexes{"FormatNegative", [](mp::V &l) { *MemberOf(l, "format") = mp::i(-2); }}),
    [](const ::testing::TestParamInfo<CraftedIndexes> &info) { return std::string(info.param.name); });

// A stored index the model no longer has is compatible even with parts that name unknown fields or directions:
// the engine only drops it by name.
TEST(SchemaIndexes, AStoredIndexThatIsGoneIsNotReadFurther)
{
    std::string msg;
    EXPECT_EQ(CompareCrafted(
                  [](mp::V &l) {
                      MemberOf(l, "indexes")->arr.push_back(mp::arr({"old", mp::arr({mp::arr({"zz", "sideways"})})}));
                  },
                  &msg),
              1)
        << msg;
}

// END-INTERNAL-INDEX-TESTS

}  // namespace
}  // namespace kt
