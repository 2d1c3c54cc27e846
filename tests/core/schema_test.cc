// The schema language (docs/schema.md): loading from JSON, a file and MessagePack; SCHEMA errors that name the
// model and field; the stored layout and SCHEMA_MISMATCH on reopening.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "test_util.h"

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
        BadSchema{"UnknownModelKey", M("\"User\":{\"fields\":{\"a\":{\"type\":\"string\"}},\"indexes\":[]}"),
                  {"User", "indexes"}},
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
        Change{"AddedUniqueField", R"("body":{"type":"string","optional":true})",
               R"("body":{"type":"string","optional":true,"unique":true})", {"Doc"}},
        Change{"RemovedUniqueField", R"("title":{"type":"string","unique":true})", R"("title":{"type":"string"})",
               {"Doc"}},
        Change{"RemovedCompoundUnique", R"(,"unique":[["kind","pages"]])", "", {"Doc"}},
        Change{"AddedCompoundUnique", R"("unique":[["kind","pages"]])", R"("unique":[["kind","pages"],["title","body"]])",
               {"Doc"}}),
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
        Crafted{"NotAMap", [](mp::V &l) { l = mp::arr({mp::i(1)}); }}),
    [](const ::testing::TestParamInfo<Crafted> &info) { return std::string(info.param.name); });

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

}  // namespace
}  // namespace kt
