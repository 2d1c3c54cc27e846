// Every error message and every error document is valid UTF-8, whatever bytes the request or the store held:
// values are quoted and cut at a code point, bytes that are not UTF-8 become \xNN, long messages lose no more than
// a whole code point, and kvorm_exec_json writes nothing a JSON reader rejects. Also: op names are compared with
// their length, and the enum message lists the allowed values.
#include "test_util.h"
#include "utf8_check.h"

namespace kt {
namespace {

const std::string kE = "\xc3\xa9";              // é, 2 bytes
const std::string kSmile = "\xf0\x9f\x98\x80";  // U+1F600, 4 bytes
// Prefixes of every length modulo 4, so that a cut at a fixed byte count falls inside a code point for some.
const char *const kPrefixes[] = {"", "a", "ab", "abc"};

std::string Repeat(const std::string &s, int n)
{
    std::string out;
    for (int i = 0; i < n; i++)
        out += s;
    return out;
}

class Utf8Errors : public AppTest {
protected:
    // Runs a MessagePack request that must fail with status: the document's strings, the message and the last
    // error are valid UTF-8, and the last error is the document's message.
    MRes Fail(const mp::V &req, int status)
    {
        MRes r = Exec(db_, req);
        std::string last = kvorm_last_error_message();
        EXPECT_EQ(r.rc, status) << r.doc;
        EXPECT_TRUE(r.parsed) << "the error document is MessagePack";
        ExpectStringsValid(r.doc, "error document");
        EXPECT_TRUE(ValidUtf8(last)) << testing::PrintToString(last);
        EXPECT_EQ(last, r.doc["message"].s);
        return r;
    }
    // The same through kvorm_exec_json: the response parses as JSON (jansson rejects text that is not UTF-8).
    JRes FailJson(const std::string &req, int status)
    {
        JRes r = ExecJson(db_, req);
        std::string last = kvorm_last_error_message();
        EXPECT_EQ(r.rc, status) << r.text;
        EXPECT_TRUE(ValidUtf8(r.text)) << testing::PrintToString(r.text);
        EXPECT_TRUE(r.doc) << "the response is not JSON: " << testing::PrintToString(r.text);
        EXPECT_TRUE(ValidUtf8(last)) << testing::PrintToString(last);
        return r;
    }
    static mp::V CreateItem(const std::string &op, const std::string &id)
    {
        return MReq("Item", op, mp::map({{"data", mp::map({{"id", id}})}}));
    }
};

// ---- values quoted in messages ---------------------------------------------------------------------------------

TEST_F(Utf8Errors, AUniqueViolationOnALongNonAsciiEmailIsValidUtf8)
{
    for (const std::string &body : {Repeat(kE, 40), Repeat(kSmile, 20)}) {
        for (const char *p : kPrefixes) {
            std::string email = p + body + "@x.io";
            KT_ASSERT_OK(CreateUser(email, "o_1"));
            JRes j = FailJson(Req("User", "create", "{\"data\":{\"email\":" + JStr(email) + ",\"orgId\":\"o_2\"}}"),
                              KVORM_EUNIQUE);
            std::string msg = j.str("message");
            EXPECT_NE(msg.find("\"" + std::string(p) + body.substr(0, 8)), std::string::npos) << msg;
            EXPECT_NE(msg.find("...\""), std::string::npos) << "the value is cut, and says so: " << msg;
            Fail(MReq("User", "create", mp::map({{"data", mp::map({{"email", email}, {"orgId", "o_3"}})}})),
                 KVORM_EUNIQUE);
        }
    }
}

TEST_F(Utf8Errors, ANotFoundOnALongNonAsciiUniqueValueIsValidUtf8)
{
    for (const std::string &body : {Repeat(kE, 40), Repeat(kSmile, 20)}) {
        for (const char *p : kPrefixes) {
            std::string email = p + body;
            JRes j = FailJson(Req("User", "findUniqueOrThrow", "{\"where\":{\"email\":" + JStr(email) + "}}"),
                              KVORM_ENOTFOUND);
            EXPECT_NE(j.str("message").find("no record with email"), std::string::npos) << j.text;
            Fail(MReq("User", "delete", mp::map({{"where", mp::map({{"email", email}})}})), KVORM_ENOTFOUND);
        }
    }
}

// Four long values of a compound unique make a description longer than the message has room for: it is cut at a
// code point, not escaped mid-way ("\xc3").
TEST_F(Utf8Errors, AWideCompoundUniqueIsDescribedAndCutAtACodePoint)
{
    kvorm_db *db = Open(R"({"namespace":"wide","models":{"W":{"fields":{"a":{"type":"string"},"b":{"type":"string"},
        "c":{"type":"string"},"d":{"type":"string"}},"unique":[["a","b","c","d"]]}}})");
    ASSERT_NE(db, nullptr);
    for (const char *p : kPrefixes) {
        std::string v = JStr(p + Repeat(kE, 40));
        std::string data = "{\"a\":" + v + ",\"b\":" + v + ",\"c\":" + v + ",\"d\":" + v + "}";
        KT_ASSERT_OK(ExecJson(db, Req("W", "create", "{\"data\":" + data + "}")));
        for (const JRes &r : {ExecJson(db, Req("W", "create", "{\"data\":" + data + "}")),
                              ExecJson(db, Req("W", "findUniqueOrThrow",
                                               "{\"where\":{\"a_b_c_d\":{\"a\":\"x\",\"b\":" + v + ",\"c\":" + v +
                                                   ",\"d\":" + v + "}}}"))}) {
            EXPECT_TRUE(r.rc == KVORM_EUNIQUE || r.rc == KVORM_ENOTFOUND) << r.text;
            std::string msg = r.str("message");
            EXPECT_TRUE(ValidUtf8(msg)) << testing::PrintToString(r.text);
            EXPECT_NE(msg.find(", c \""), std::string::npos) << msg;
            EXPECT_EQ(msg.find("\\x"), std::string::npos) << "no byte of a code point is escaped: " << msg;
        }
    }
}

TEST_F(Utf8Errors, ABadEnumValueWithInvalidBytesIsValidUtf8)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    MRes r = Fail(MReq("User", "create",
                       mp::map({{"data", mp::map({{"email", "a@x.io"}, {"orgId", "o"}, {"role", "bo\xffss"}})}})),
                  KVORM_EVALIDATION);
    EXPECT_NE(r.doc["message"].s.find("\"bo\\xffss\""), std::string::npos) << "the byte is escaped: " << r.doc;
    EXPECT_EQ(r.doc["fields"], mp::arr({"role"}));
    for (const std::string &body : {Repeat(kE, 40), Repeat(kSmile, 20)})
        for (const char *p : kPrefixes)
            FailJson(Req("User", "create",
                         "{\"data\":{\"email\":\"a@x.io\",\"orgId\":\"o\",\"role\":" + JStr(p + body) + "}}"),
                     KVORM_EVALIDATION);
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Utf8Errors, ABadValueWithInvalidBytesIsEscapedInEveryTypeMessage)
{
    // a string where a datetime, a decimal and an integer are expected
    for (const char *field : {"createdAt", "balance", "age"}) {
        MRes r = Fail(MReq("User", "create",
                           mp::map({{"data", mp::map({{"email", "a@x.io"}, {"orgId", "o"}, {field, "\xfe\xff"}})}})),
                      KVORM_EVALIDATION);
        EXPECT_NE(r.doc["message"].s.find("\\xfe\\xff"), std::string::npos) << field << ": " << r.doc;
    }
}

// ---- names taken from the request ------------------------------------------------------------------------------

TEST_F(Utf8Errors, AnUnknownFieldWithInvalidBytesIsValidUtf8)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    MRes r = Fail(MReq("User", "create",
                       mp::map({{"data", mp::map({{"email", "a@x.io"}, {"orgId", "o"}, {"nick\xffname", mp::i(1)}})}})),
                  KVORM_EVALIDATION);
    EXPECT_EQ(r.doc["fields"], mp::arr({"nick\\xffname"})) << r.doc;
    EXPECT_NE(r.doc["message"].s.find("\"nick\\xffname\""), std::string::npos) << r.doc;
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Utf8Errors, ALongNonAsciiUnknownFieldIsCutAtACodePoint)
{
    for (const std::string &body : {Repeat(kE, 60), Repeat(kSmile, 30)}) {
        for (const char *p : kPrefixes) {
            std::string name = p + body;
            MRes r = Fail(MReq("User", "update",
                               mp::map({{"where", mp::map({{"email", "a@x.io"}})}, {"data", mp::map({{name, mp::i(1)}})}})),
                          KVORM_EVALIDATION);
            ASSERT_EQ(r.doc["fields"].arr.size(), 1u) << r.doc;
            const std::string &field = r.doc["fields"].arr[0].s;
            EXPECT_EQ(field.rfind(p + body.substr(0, 4), 0), 0u) << "the field keeps its start: " << field;
            EXPECT_LT(field.size(), name.size()) << field;
            JRes j = FailJson(Req("User", "update",
                                  "{\"where\":{\"email\":\"a@x.io\"},\"data\":{" + JStr(name) + ":1}}"),
                              KVORM_EVALIDATION);
            EXPECT_EQ(j.fields(), std::vector<std::string>{field});
        }
    }
}

TEST_F(Utf8Errors, AnUnknownModelWithInvalidBytesIsValidUtf8)
{
    MRes r = Fail(MReq("Us\xfe\xff" "er", "count"), KVORM_EBAD_REQUEST);
    EXPECT_NE(r.doc["message"].s.find("\"Us\\xfe\\xffer\""), std::string::npos) << r.doc;
    EXPECT_TRUE(r.doc["model"].is_nil());
    for (const char *p : kPrefixes)
        FailJson(Req(p + Repeat(kE, 40), "count"), KVORM_EBAD_REQUEST);
}

TEST_F(Utf8Errors, AnUnknownArgumentOrSelectWithInvalidBytesIsValidUtf8)
{
    Fail(MReq("User", "findUnique", mp::map({{"where", mp::map({{"email", "a"}})}, {"w\xffhere", mp::i(1)}})),
         KVORM_EBAD_REQUEST);
    Fail(MReq("User", "findUnique",
              mp::map({{"where", mp::map({{"email", "a"}})}, {"select", mp::map({{"e\xffmail", mp::boolean(true)}})}})),
         KVORM_EBAD_REQUEST);
    Fail(mp::map({{"model", "User"}, {"op", "count"}, {"\xc3", mp::i(1)}}), KVORM_EBAD_REQUEST);
}

// ---- op names --------------------------------------------------------------------------------------------------

TEST_F(Utf8Errors, AnOpWithANulByteIsAnUnknownOpAndRunsNothing)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    const std::string nul("\0x", 2);
    for (const char *op : {"create", "findUnique", "findUniqueOrThrow", "update", "upsert", "delete", "count",
                           "capabilities"}) {
        std::string name = op + nul;
        mp::V req = mp::map({{"model", "Item"}, {"op", name}, {"args", mp::map({{"data", mp::map({{"id", "nul"}})}})}});
        MRes r = Fail(req, KVORM_EBAD_REQUEST);
        EXPECT_NE(r.doc["message"].s.find("unknown op \"" + std::string(op) + "\\x00x\""), std::string::npos)
            << r.doc;
        EXPECT_EQ(r.doc["op"], mp::str(name)) << "the document gives the op as the request did";
        JRes j = FailJson("{\"model\":\"Item\",\"op\":" + JStr(name) + ",\"args\":{\"data\":{\"id\":\"nul\"}}}",
                          KVORM_EBAD_REQUEST);
        EXPECT_EQ(j.str("code"), "BAD_REQUEST") << j.text;
    }
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

TEST_F(Utf8Errors, AnOpThatIsNotUtf8IsEscapedInTheDocument)
{
    MRes r = Fail(CreateItem("cre\xff" "ate", "x"), KVORM_EBAD_REQUEST);
    EXPECT_EQ(r.doc["op"], mp::str("cre\\xffate")) << r.doc;
    EXPECT_FALSE(raw_.Exists("app:{Item}:r:x"));
}

// ---- the enum message ------------------------------------------------------------------------------------------

TEST_F(Utf8Errors, TheEnumMessageListsTheAllowedValues)
{
    JRes r = FailJson(Req("User", "create", R"({"data":{"email":"a@x.io","orgId":"o","role":"boss"}})"),
                      KVORM_EVALIDATION);
    EXPECT_EQ(r.str("message"), "User.role: \"boss\" is not one of the enum values (admin, member)");
}

TEST(EnumMessage, ALongListIsCutReadablyAndStaysValidUtf8)
{
    std::string values;
    for (int i = 0; i < 100; i++)
        values += std::string(i ? "," : "") + "\"value" + std::to_string(i) + kE + kSmile + "\"";
    std::string schema = R"({"namespace":"en","models":{"M":{"fields":{"f":{"type":"enum","values":[)" + values +
                         R"(],"default":"nope"}}}}})";
    kvorm_schema *s = nullptr;
    ASSERT_EQ(kvorm_schema_from_json(&s, schema.data(), schema.size()), KVORM_ESCHEMA);
    std::string msg = kvorm_last_error_message();
    EXPECT_TRUE(ValidUtf8(msg)) << testing::PrintToString(msg);
    EXPECT_NE(msg.find("(value0" + kE + kSmile + ", value1"), std::string::npos) << msg;
    EXPECT_NE(msg.find(" more)"), std::string::npos) << "the list says how many it leaves out: " << msg;
    EXPECT_EQ(msg.find("value99"), std::string::npos) << msg;
}

// ---- long messages and text from elsewhere ---------------------------------------------------------------------

SchemaPtr ItemSchema()
{
    return LoadSchema(R"({"namespace":"u8","models":{"Item":{"id":{"type":"string"},"fields":{}}}})");
}

// The socket path comes back in the message: one of 300 "é" goes past the 511 bytes of a message, and the cut
// must not leave half of one.
TEST(Utf8Messages, AConnectionErrorOnALongNonAsciiPathIsValidUtf8)
{
    SchemaPtr s = ItemSchema();
    ASSERT_TRUE(s);
    for (const char *p : kPrefixes) {
        std::string url = "unix:///nonexistent-kvorm/" + std::string(p) + Repeat(kE, 300) + ".sock";
        kvorm_db *db = nullptr;
        EXPECT_EQ(kvorm_open(&db, url.c_str(), s.get(), nullptr), KVORM_ECONNECTION);
        std::string msg = kvorm_last_error_message();
        EXPECT_TRUE(ValidUtf8(msg)) << testing::PrintToString(msg);
        EXPECT_NE(msg.find("/nonexistent-kvorm/" + std::string(p) + kE), std::string::npos) << msg;
        EXPECT_LT(msg.size(), 512u);
    }
}

TEST(Utf8Messages, AConnectionErrorOnAPathWithInvalidBytesIsValidUtf8)
{
    SchemaPtr s = ItemSchema();
    ASSERT_TRUE(s);
    kvorm_db *db = nullptr;
    EXPECT_EQ(kvorm_open(&db, "unix:///nonexistent-kvorm/\xff\xfe.sock", s.get(), nullptr), KVORM_ECONNECTION);
    std::string msg = kvorm_last_error_message();
    EXPECT_TRUE(ValidUtf8(msg)) << testing::PrintToString(msg);
    EXPECT_NE(msg.find("\\xff\\xfe.sock"), std::string::npos) << msg;
    EXPECT_EQ(kvorm_open(&db, "unix:///x.sock?b\xff" "gus=1", s.get(), nullptr), KVORM_EMISUSE);
    msg = kvorm_last_error_message();
    EXPECT_TRUE(ValidUtf8(msg)) << testing::PrintToString(msg);
    EXPECT_NE(msg.find("\"b\\xffgus\""), std::string::npos) << msg;
}

TEST(Utf8Messages, ASchemaFileErrorOnAnyPathIsValidUtf8)
{
    kvorm_schema *s = nullptr;
    for (const char *p : kPrefixes) {
        std::string path = "/nonexistent-kvorm/" + std::string(p) + Repeat(kE, 300) + ".json";
        EXPECT_EQ(kvorm_schema_from_file(&s, path.c_str()), KVORM_ESCHEMA);
        std::string msg = kvorm_last_error_message();
        EXPECT_TRUE(ValidUtf8(msg)) << testing::PrintToString(msg);
        EXPECT_NE(msg.find("cannot open /nonexistent-kvorm/"), std::string::npos) << msg;
    }
    EXPECT_EQ(kvorm_schema_from_file(&s, "/nonexistent-kvorm/\xff.json"), KVORM_ESCHEMA);
    std::string msg = kvorm_last_error_message();
    EXPECT_TRUE(ValidUtf8(msg)) << testing::PrintToString(msg);
    EXPECT_NE(msg.find("/nonexistent-kvorm/\\xff.json"), std::string::npos) << msg;
}

// ---- what kvorm_exec_json writes -------------------------------------------------------------------------------

TEST_F(Utf8Errors, AStoredStringThatIsNotUtf8StillReadsAsJson)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    // written by something other than kvorm: a str holding 0xff
    raw_.Cmd({"HSET", "app:{Item}:r:bad", "$v", "1", "label", MpStr("a\xff" "b")});
    JRes r = ExecJson(db_, Req("Item", "findUnique", R"({"where":{"id":"bad"}})"));
    KT_ASSERT_OK(r);
    ASSERT_TRUE(r.doc) << "the response is not JSON: " << testing::PrintToString(r.text);
    EXPECT_EQ(r.str("label"), "a\xef\xbf\xbd" "b") << "the byte reads as U+FFFD: " << r.text;
}

}  // namespace
}  // namespace kt
