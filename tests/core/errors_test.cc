// Error codes and error documents: names, thread-local last error, BAD_REQUEST for malformed documents, MISUSE,
// the documented limits.
#include <thread>

#include "test_util.h"

namespace kt {
namespace {

class Errors : public AppTest {};

TEST(ErrorNames, EveryCodeHasItsStableName)
{
    const std::pair<int, const char *> names[] = {
        {KVORM_OK, "OK"},
        {KVORM_EVALIDATION, "VALIDATION"},
        {KVORM_ENOTFOUND, "NOT_FOUND"},
        {KVORM_EUNIQUE, "UNIQUE_VIOLATION"},
        {KVORM_ECONFLICT, "CONFLICT"},
        {KVORM_ESCHEMA, "SCHEMA"},
        {KVORM_ESCHEMA_MISMATCH, "SCHEMA_MISMATCH"},
        {KVORM_EBAD_REQUEST, "BAD_REQUEST"},
        {KVORM_ECONNECTION, "CONNECTION"},
        {KVORM_ETIMEOUT, "TIMEOUT"},
        {KVORM_EUNSUPPORTED, "UNSUPPORTED"},
        {KVORM_EINTERNAL, "INTERNAL"},
        {KVORM_EMISUSE, "MISUSE"},
        {KVORM_EUNAVAILABLE, "UNAVAILABLE"},
        {KVORM_EREFUSED, "REFUSED"},
    };
    for (const auto &n : names)
        EXPECT_STREQ(kvorm_error_name(n.first), n.second) << n.first;
}

TEST(ErrorNames, CodesKeepTheirNumbers)
{
    EXPECT_EQ(KVORM_EVALIDATION, -1);
    EXPECT_EQ(KVORM_ENOTFOUND, -2);
    EXPECT_EQ(KVORM_EUNIQUE, -3);
    EXPECT_EQ(KVORM_ECONFLICT, -4);
    EXPECT_EQ(KVORM_ESCHEMA, -5);
    EXPECT_EQ(KVORM_ESCHEMA_MISMATCH, -6);
    EXPECT_EQ(KVORM_EBAD_REQUEST, -7);
    EXPECT_EQ(KVORM_ECONNECTION, -8);
    EXPECT_EQ(KVORM_ETIMEOUT, -9);
    EXPECT_EQ(KVORM_EUNSUPPORTED, -10);
    EXPECT_EQ(KVORM_EINTERNAL, -11);
    EXPECT_EQ(KVORM_EMISUSE, -12);
    EXPECT_EQ(KVORM_EUNAVAILABLE, -13);
    EXPECT_EQ(KVORM_EREFUSED, -14);
}

TEST(ErrorNames, ANumberThatIsNotACodeIsUnknown)
{
    EXPECT_STREQ(kvorm_error_name(-15), "RELATION");
    EXPECT_STREQ(kvorm_error_name(-16), "UNKNOWN");
    EXPECT_STREQ(kvorm_error_name(1), "UNKNOWN");
    EXPECT_STREQ(kvorm_error_name(-1000000), "UNKNOWN");
}

TEST(Version, IsTheHeaderVersion)
{
    std::string want = std::to_string(KVORM_VERSION_MAJOR) + "." + std::to_string(KVORM_VERSION_MINOR) + "." +
                       std::to_string(KVORM_VERSION_PATCH);
    EXPECT_EQ(std::string(kvorm_version()), want);
}

// ---- error documents -------------------------------------------------------------------------------------------

TEST_F(Errors, AValidationErrorDocumentCarriesCodeMessageModelAndFields)
{
    JRes r = CreateUser("ann@x.io", "o_1", ",\"age\":\"old\"");
    KT_ASSERT_CODE(r, KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(r.str("model"), "User");
    EXPECT_EQ(r.fields(), std::vector<std::string>{"age"});
    std::string msg = r.str("message");
    EXPECT_NE(msg.find("User"), std::string::npos) << msg;
    EXPECT_NE(msg.find("age"), std::string::npos) << msg;
    EXPECT_NE(msg.find("old"), std::string::npos) << msg;
}

TEST_F(Errors, AUniqueViolationNamesTheConstraintFields)
{
    KT_ASSERT_OK(CreateUser("ann@x.io", "o_1"));
    JRes r = CreateUser("ann@x.io", "o_2");
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_EQ(r.str("model"), "User");
    EXPECT_EQ(r.fields(), std::vector<std::string>{"email"});
    EXPECT_NE(r.str("message").find("ann@x.io"), std::string::npos) << r.text;
}

TEST_F(Errors, ACompoundUniqueViolationNamesEveryFieldInOrder)
{
    KT_ASSERT_OK(Run("Pair", "create", R"({"data":{"a":"x","b":"y"}})"));
    JRes r = Run("Pair", "create", R"({"data":{"a":"x","b":"y","c":1}})");
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_EQ(r.str("model"), "Pair");
    EXPECT_EQ(r.fields(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(Errors, ANotFoundErrorNamesTheModel)
{
    JRes r = Run("Acct", "update", R"({"where":{"handle":"h"},"data":{"note":"n"}})");
    KT_ASSERT_CODE(r, KVORM_ENOTFOUND, "NOT_FOUND");
    EXPECT_EQ(r.str("model"), "Acct");
    EXPECT_FALSE(r.str("message").empty());
}

TEST_F(Errors, TheLastErrorMatchesTheReturnedStatus)
{
    std::string req = Req("User", "create", R"({"data":{"email":5,"orgId":"o"}})");
    char *out = nullptr;
    size_t len = 0;
    int rc = kvorm_exec_json(&out, &len, db_, req.data(), req.size());
    int code = kvorm_last_error_code();
    std::string msg = kvorm_last_error_message();
    ASSERT_NE(out, nullptr);
    JsonPtr doc = ParseJson(std::string(out, len));
    kvorm_free(out);
    EXPECT_EQ(rc, KVORM_EVALIDATION);
    EXPECT_EQ(code, KVORM_EVALIDATION);
    ASSERT_TRUE(doc);
    EXPECT_EQ(msg, json_string_value(json_object_get(doc.get(), "message")));
    EXPECT_NE(msg.find("email"), std::string::npos) << msg;
}

TEST_F(Errors, TheLastErrorIsThreadLocal)
{
    JRes r = CreateUser("ann@x.io", "o", ",\"age\":\"x\"");
    ASSERT_EQ(r.rc, KVORM_EVALIDATION);
    int other_code = 12345;
    std::string other_msg = "unset";
    std::thread t([&] {
        other_code = kvorm_last_error_code();
        other_msg = kvorm_last_error_message();
    });
    t.join();
    EXPECT_EQ(other_code, KVORM_OK);
    EXPECT_EQ(other_msg, "");
}

TEST_F(Errors, MessagePackErrorDocumentsHaveTheSameShape)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    MRes r = Exec(db_, MReq("User", "create", mp::map({{"data", mp::map({{"email", "ann@x.io"}, {"orgId", "o"}})}})));
    ASSERT_EQ(r.rc, KVORM_EUNIQUE);
    ASSERT_TRUE(r.parsed);
    EXPECT_EQ(r.doc["code"], mp::str("UNIQUE_VIOLATION"));
    EXPECT_EQ(r.doc["model"], mp::str("User"));
    EXPECT_EQ(r.doc["fields"], mp::arr({mp::str("email")}));
    EXPECT_EQ(r.doc["message"].kind, mp::V::Str);
    EXPECT_FALSE(r.doc["message"].s.empty());
}

// ---- failed writes leave nothing behind ------------------------------------------------------------------------

TEST_F(Errors, AUniqueViolationOnTheSecondConstraintWritesNothing)
{
    KT_ASSERT_OK(Run("Acct", "create", R"({"data":{"handle":"h1","phone":"p1"}})"));
    auto before = raw_.Snapshot();
    long long size = raw_.DbSize();
    JRes r = Run("Acct", "create", R"({"data":{"handle":"h2","phone":"p1"}})");
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_EQ(r.fields(), std::vector<std::string>{"phone"});
    EXPECT_EQ(raw_.DbSize(), size);
    EXPECT_EQ(raw_.Snapshot(), before);
    // h2 is still free
    KT_ASSERT_OK(Run("Acct", "create", R"({"data":{"handle":"h2","phone":"p2"}})"));
}

TEST_F(Errors, AFailedUpdateWritesNothing)
{
    KT_ASSERT_OK(Run("Acct", "create", R"({"data":{"handle":"h1","phone":"p1"}})"));
    KT_ASSERT_OK(Run("Acct", "create", R"({"data":{"handle":"h2","phone":"p2"}})"));
    auto before = raw_.Snapshot();
    JRes r = Run("Acct", "update", R"({"where":{"handle":"h1"},"data":{"handle":"h9","phone":"p2","note":"n"}})");
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_EQ(raw_.Snapshot(), before);
}

TEST_F(Errors, AFailedCreateDoesNotAdvanceTheIdCounter)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_OK(Run("Ticket", "create", R"({"data":{"code":"a"}})"));
    auto before = raw_.Snapshot();
    KT_ASSERT_CODE(Run("Ticket", "create", R"({"data":{"code":"a"}})"), KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    KT_ASSERT_CODE(Run("Ticket", "create", R"({"data":{"code":7}})"), KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(raw_.Snapshot(), before);
    EXPECT_EQ(raw_.Get("app:{Ticket}:seq").value_or(""), "1");
    JRes next = Run("Ticket", "create", R"({"data":{"code":"b"}})");
    KT_ASSERT_OK(next);
    EXPECT_EQ(next.integer("id"), 2);
}

TEST_F(Errors, AValidationFailureWritesNothing)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    auto before = raw_.Snapshot();
    KT_ASSERT_CODE(CreateUser("bob@x.io", "o", ",\"role\":\"owner\""), KVORM_EVALIDATION, "VALIDATION");
    KT_ASSERT_CODE(Run("User", "update", R"({"where":{"email":"ann@x.io"},"data":{"age":1,"balance":"x"}})"),
                   KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(raw_.Snapshot(), before);
}

// ---- unique constraints ----------------------------------------------------------------------------------------

TEST_F(Errors, AUniqueValueIsReleasedByUpdate)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes a = CreateUser("ann@x.io");
    KT_ASSERT_OK(a);
    KT_ASSERT_OK(Run("User", "update", R"({"where":{"email":"ann@x.io"},"data":{"email":"anna@x.io"}})"));
    EXPECT_EQ(raw_.HGetAll("app:{User}:u:email"), (std::map<std::string, std::string>{{MpStr("anna@x.io"), a.str("id")}}));
    EXPECT_EQ(raw_.HGetAll("app:{User}:u:orgId_email"),
              (std::map<std::string, std::string>{{MpStr("o_1") + MpStr("anna@x.io"), a.str("id")}}));
    JRes b = CreateUser("ann@x.io");
    KT_ASSERT_OK(b);
    EXPECT_EQ(raw_.HLen("app:{User}:u:email"), 2);
    KT_ASSERT_CODE(CreateUser("anna@x.io", "o_3"), KVORM_EUNIQUE, "UNIQUE_VIOLATION");
}

TEST_F(Errors, AUniqueValueIsReleasedByDelete)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    KT_ASSERT_OK(Run("User", "delete", R"({"where":{"email":"ann@x.io"}})"));
    EXPECT_EQ(raw_.HLen("app:{User}:u:email"), 0);
    JRes b = CreateUser("ann@x.io");
    KT_ASSERT_OK(b);
    EXPECT_EQ(raw_.HGet("app:{User}:u:email", MpStr("ann@x.io")).value_or(""), b.str("id"));
}

TEST_F(Errors, UpdatingToATakenValueIsUniqueViolation)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    KT_ASSERT_OK(CreateUser("bob@x.io"));
    JRes r = Run("User", "update", R"({"where":{"email":"bob@x.io"},"data":{"email":"ann@x.io"}})");
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_EQ(r.fields(), std::vector<std::string>{"email"});
}

TEST_F(Errors, UpdatingAUniqueFieldToItsOwnValueIsAllowed)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes a = CreateUser("ann@x.io");
    KT_ASSERT_OK(a);
    JRes r = Run("User", "update", R"({"where":{"email":"ann@x.io"},"data":{"email":"ann@x.io","age":3}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(raw_.HGetAll("app:{User}:u:email"), (std::map<std::string, std::string>{{MpStr("ann@x.io"), a.str("id")}}));
}

TEST_F(Errors, NullsNeverCollideInACompoundUnique)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_OK(Run("Pair", "create", R"({"data":{"a":"x"}})"));
    KT_ASSERT_OK(Run("Pair", "create", R"({"data":{"a":"x","b":null}})"));
    EXPECT_EQ(raw_.HLen("app:{Pair}:u:a_b"), 0);
    JRes full = Run("Pair", "create", R"({"data":{"a":"x","b":"y"}})");
    KT_ASSERT_OK(full);
    EXPECT_EQ(raw_.HGetAll("app:{Pair}:u:a_b"),
              (std::map<std::string, std::string>{{MpStr("x") + MpStr("y"), full.str("id")}}));
    EXPECT_EQ(Run("Pair", "count").text, "3");
}

TEST_F(Errors, NullsNeverCollideInASingleFieldUnique)
{
    KT_ASSERT_OK(Run("Tag", "create", R"({"data":{"label":"a"}})"));
    KT_ASSERT_OK(Run("Tag", "create", R"({"data":{"label":"b"}})"));
    EXPECT_EQ(raw_.HLen("app:{Tag}:u:code"), 0);
}

TEST_F(Errors, ClearingAUniqueFieldRemovesItsEntry)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes t = Run("Tag", "create", R"({"data":{"code":300}})");
    KT_ASSERT_OK(t);
    EXPECT_EQ(raw_.HGetAll("app:{Tag}:u:code"), (std::map<std::string, std::string>{{Unhex("cd012c"), t.str("id")}}));
    KT_ASSERT_OK(Run("Tag", "update", "{\"where\":{\"id\":" + JStr(t.str("id")) + "},\"data\":{\"code\":null}}"));
    EXPECT_EQ(raw_.HLen("app:{Tag}:u:code"), 0);
    KT_ASSERT_OK(Run("Tag", "create", R"({"data":{"code":300}})"));
}

TEST_F(Errors, SettingACompoundFieldMovesTheCompoundEntry)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    JRes p = Run("Pair", "create", R"({"data":{"a":"x","b":"y"}})");
    KT_ASSERT_OK(p);
    KT_ASSERT_OK(Run("Pair", "update", "{\"where\":{\"id\":" + JStr(p.str("id")) + "},\"data\":{\"b\":\"z\"}}"));
    EXPECT_EQ(raw_.HGetAll("app:{Pair}:u:a_b"),
              (std::map<std::string, std::string>{{MpStr("x") + MpStr("z"), p.str("id")}}));
    KT_ASSERT_OK(Run("Pair", "create", R"({"data":{"a":"x","b":"y"}})"));
    KT_ASSERT_CODE(Run("Pair", "create", R"({"data":{"a":"x","b":"z"}})"), KVORM_EUNIQUE, "UNIQUE_VIOLATION");
}

// ---- BAD_REQUEST: malformed MessagePack ------------------------------------------------------------------------

class BadMsgpack : public AppTest {
protected:
    void ExpectBadRequest(const std::string &bytes, const char *what)
    {
        auto before = raw_.Snapshot();
        MRes r = Exec(db_, bytes);
        EXPECT_EQ(r.rc, KVORM_EBAD_REQUEST) << what << ": " << r.doc;
        EXPECT_TRUE(r.parsed) << what << ": the error document is MessagePack";
        EXPECT_EQ(r.doc["code"], mp::str("BAD_REQUEST")) << what;
        EXPECT_EQ(raw_.Snapshot(), before) << what;
    }
    std::string Valid()
    {
        return mp::pack(MReq("User", "create", mp::map({{"data", mp::map({{"email", "a@x.io"}, {"orgId", "o"}})}})));
    }
};

TEST_F(BadMsgpack, AnEmptyRequestIsBadRequest) { ExpectBadRequest("", "0 bytes"); }

TEST_F(BadMsgpack, ATruncatedRequestIsBadRequest)
{
    std::string ok = Valid();
    for (size_t cut : {size_t(1), size_t(5), ok.size() / 2, ok.size() - 1})
        ExpectBadRequest(ok.substr(0, cut), ("truncated to " + std::to_string(cut) + " bytes").c_str());
}

TEST_F(BadMsgpack, TrailingBytesAreBadRequest)
{
    ExpectBadRequest(Valid() + "\xc0", "one trailing nil");
    ExpectBadRequest(Valid() + Valid(), "two documents");
}

TEST_F(BadMsgpack, ARequestThatIsNotAMapIsBadRequest)
{
    ExpectBadRequest(mp::pack(mp::arr({"User", "create"})), "array");
    ExpectBadRequest(mp::pack(mp::str("create")), "string");
    ExpectBadRequest(mp::pack(mp::nil()), "nil");
}

TEST_F(BadMsgpack, MembersOfTheWrongTypeAreBadRequest)
{
    ExpectBadRequest(mp::pack(mp::map({{"model", mp::i(1)}, {"op", "count"}})), "model is an int");
    ExpectBadRequest(mp::pack(mp::map({{"model", "User"}, {"op", mp::bin("count")}})), "op is bin");
    ExpectBadRequest(mp::pack(mp::map({{"model", "User"}, {"op", "create"}, {"args", mp::arr({})}})), "args array");
    ExpectBadRequest(mp::pack(mp::map({{mp::i(1), "User"}, {"op", "count"}})), "integer key");
    ExpectBadRequest(mp::pack(MReq("User", "update",
                                   mp::map({{"where", mp::map({{"email", "a"}})},
                                            {"data", mp::map({{"age", mp::i(1)}})},
                                            {"ifVersion", "1"}}))),
                     "ifVersion is a string");
    ExpectBadRequest(mp::pack(MReq("User", "findUnique",
                                   mp::map({{"where", mp::map({{"email", "a"}})}, {"select", mp::arr({"email"})}}))),
                     "select is an array");
}

TEST_F(BadMsgpack, TenThousandNestedArraysAreBadRequest)
{
    std::string deep(10000, '\x91');
    deep += '\xc0';
    ExpectBadRequest(deep, "10000 nested arrays as the document");
    std::string inside = mp::pack(MReq("User", "create", mp::map({{"data", mp::map({{"email", "a"},
                                                                                      {"orgId", "o"},
                                                                                      {"profile", mp::raw(deep)}})}})));
    ExpectBadRequest(inside, "10000 nested arrays in a json field");
}

TEST_F(BadMsgpack, NestingBeyond32LevelsIsBadRequest)
{
    std::string deep(40, '\x91');
    deep += '\x01';
    std::string req = mp::pack(MReq("User", "create", mp::map({{"data", mp::map({{"email", "a"},
                                                                                   {"orgId", "o"},
                                                                                   {"profile", mp::raw(deep)}})}})));
    ExpectBadRequest(req, "40 nested arrays in a json field");
    std::string shallow(20, '\x91');
    shallow += '\x01';
    MRes ok = Exec(db_, MReq("User", "create", mp::map({{"data", mp::map({{"email", "a"},
                                                                          {"orgId", "o"},
                                                                          {"profile", mp::raw(shallow)}})}})));
    EXPECT_EQ(ok.rc, KVORM_OK) << "20 levels are within the limit: " << ok.doc;
}

TEST_F(BadMsgpack, AStr32HeaderClaimingFourGigabytesIsBadRequest)
{
    // {"model": <str32 of 4 GB>} with only a few bytes behind it
    ExpectBadRequest(Unhex("81a56d6f64656cdbffffffff") + "User", "str32 of 2^32-1 bytes");
    ExpectBadRequest(Unhex("81a56d6f64656cc6ffffffff") + "User", "bin32 of 2^32-1 bytes");
    ExpectBadRequest(Unhex("81a56d6f64656cc9ffffffffff") + "User", "ext32 of 2^32-1 bytes");
}

TEST_F(BadMsgpack, AnArray32ClaimingFourBillionElementsIsBadRequest)
{
    ExpectBadRequest(Unhex("ddffffffff") + "\x01\x02\x03", "array32 of 2^32-1 elements");
    ExpectBadRequest(Unhex("dfffffffff") + "\xa1x\x01", "map32 of 2^32-1 pairs");
    std::string in_data = Unhex("83a56d6f64656ca455736572a26f70a6637265617465a461726773") +  // model, op, args:
                          Unhex("81a464617461") +                                          // {data:
                          Unhex("dd7fffffff") + "\x01";                                     // [2^31-1 claimed]
    ExpectBadRequest(in_data, "array32 claiming 2^31-1 elements as data");
}

TEST_F(BadMsgpack, ReservedByteC1IsBadRequest)
{
    ExpectBadRequest("\xc1", "0xc1 alone");
    ExpectBadRequest(Unhex("82a56d6f64656ca455736572a26f70c1"), "0xc1 as a value");
}

TEST_F(BadMsgpack, ARequestOver64MiBIsBadRequest)
{
    std::string big = mp::pack(MReq("User", "create", mp::map({{"data", mp::map({{"email", "a"},
                                                                                  {"orgId", "o"},
                                                                                  {"avatar", mp::bin(std::string((65u << 20), 'x'))}})}})));
    ASSERT_GT(big.size(), 64u << 20);
    ExpectBadRequest(big, "a 65 MiB request");
}

// ---- BAD_REQUEST: malformed JSON -------------------------------------------------------------------------------

TEST_F(Errors, MalformedJsonIsBadRequest)
{
    const char *cases[] = {
        "",
        "{",
        "{\"model\":\"User\",\"op\":\"count\"",
        "{\"model\":}",
        "{model:\"User\",\"op\":\"count\"}",
        "{\"model\":\"User\",\"op\":\"count\"} trailing",
        "[1,2",
        "{\"model\":\"User\",\"op\":'count'}",
        "\"\xff\"",
        "{\"model\":\"User\",\"op\":\"create\",\"args\":{\"data\":{\"email\":\"a\",\"orgId\":\"o\",\"age\":01}}}",
        "null",
        "[]",
        "42",
    };
    for (const char *c : cases) {
        auto before = raw_.Snapshot();
        JRes r = ExecJson(db_, c);
        EXPECT_EQ(r.rc, KVORM_EBAD_REQUEST) << "request: " << c << "\nresponse: " << r.text;
        EXPECT_EQ(r.str("code"), "BAD_REQUEST") << c;
        EXPECT_EQ(raw_.Snapshot(), before) << c;
    }
}

TEST_F(Errors, DeeplyNestedJsonIsBadRequest)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    std::string deep = std::string(10000, '[') + std::string(10000, ']');
    JRes r = ExecJson(db_, deep);
    KT_ASSERT_CODE(r, KVORM_EBAD_REQUEST, "BAD_REQUEST");
    std::string in_field = R"({"model":"User","op":"create","args":{"data":{"email":"a","orgId":"o","profile":)" +
                           std::string(40, '[') + std::string(40, ']') + "}}}";
    JRes f = ExecJson(db_, in_field);
    KT_ASSERT_CODE(f, KVORM_EBAD_REQUEST, "BAD_REQUEST");
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

// ---- docs/errors.md: the error document and the last error --------------------------------------------------

TEST_F(Errors, TheErrorDocumentNamesTheOp)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    JRes r = CreateUser("ann@x.io");
    ASSERT_EQ(r.rc, KVORM_EUNIQUE);
    EXPECT_EQ(r.str("op"), "create") << r.text;
    JRes u = Run("User", "update", R"({"where":{"email":"x@x.io"},"data":{"age":1}})");
    ASSERT_EQ(u.rc, KVORM_ENOTFOUND);
    EXPECT_EQ(u.str("op"), "update") << u.text;
}

TEST_F(Errors, EveryErrorDocumentHasAllSixKeys)
{
    const std::string requests[] = {
        Req("User", "create", R"({"data":{"email":1,"orgId":"o"}})"),  // VALIDATION
        Req("User", "findUniqueOrThrow", R"({"where":{"email":"none"}})"),  // NOT_FOUND
        Req("User", "count", R"({"where":{"age":{"gt":1}},"refuseScans":true})"),  // REFUSED
        Req("Nobody", "count"),                                          // BAD_REQUEST, unknown model
        "{\"model\":",                                                   // BAD_REQUEST, not JSON
    };
    for (const auto &req : requests) {
        JRes r = ExecJson(db_, req);
        ASSERT_LT(r.rc, 0) << req;
        for (const char *key : {"code", "message", "model", "op", "fields", "retryable"})
            EXPECT_TRUE(r.has(key)) << "no \"" << key << "\" in " << r.text;
        EXPECT_TRUE(json_is_array(r.at("fields"))) << r.text;
        EXPECT_TRUE(json_is_false(r.at("retryable"))) << "none of these goes away by retrying: " << r.text;
    }
}

TEST_F(Errors, AnUnreadableRequestHasNoOpAndNoModel)
{
    MRes r = Exec(db_, std::string("\x82\xa5model", 7));
    ASSERT_EQ(r.rc, KVORM_EBAD_REQUEST);
    ASSERT_TRUE(r.parsed);
    EXPECT_TRUE(r.doc.has("op")) << r.doc;
    EXPECT_TRUE(r.doc["op"].is_nil()) << r.doc;
    EXPECT_TRUE(r.doc["model"].is_nil()) << r.doc;
    EXPECT_EQ(r.doc["fields"], mp::arr({}));
}

TEST_F(Errors, AnUnknownModelHasANullModel)
{
    JRes r = Run("Nobody", "count");
    ASSERT_EQ(r.rc, KVORM_EBAD_REQUEST);
    EXPECT_TRUE(r.is_null("model")) << r.text;
    EXPECT_EQ(r.str("op"), "count") << r.text;
}

TEST_F(Errors, NotFoundHasNoFields)
{
    JRes r = Run("User", "delete", R"({"where":{"email":"none@x.io"}})");
    ASSERT_EQ(r.rc, KVORM_ENOTFOUND);
    EXPECT_TRUE(r.at("fields") && json_is_array(r.at("fields")) && json_array_size(r.at("fields")) == 0) << r.text;
}

TEST_F(Errors, ASuccessClearsTheLastError)
{
    JRes bad = CreateUser("ann@x.io", "o", ",\"age\":\"x\"");
    ASSERT_EQ(bad.rc, KVORM_EVALIDATION);
    std::string req = Req("User", "count");
    char *out = nullptr;
    size_t len = 0;
    ASSERT_EQ(kvorm_exec_json(&out, &len, db_, req.data(), req.size()), KVORM_OK);
    int code = kvorm_last_error_code();
    std::string msg = kvorm_last_error_message();
    kvorm_free(out);
    EXPECT_EQ(code, KVORM_OK);
    EXPECT_EQ(msg, "");
}

TEST_F(Errors, ASuccessfulSchemaLoadClearsTheLastError)
{
    kvorm_schema *s = nullptr;
    ASSERT_EQ(kvorm_schema_from_json(&s, "{", 1), KVORM_ESCHEMA);
    ASSERT_EQ(kvorm_schema_from_json(&s, kAppSchema, std::strlen(kAppSchema)), KVORM_OK);
    EXPECT_EQ(kvorm_last_error_code(), KVORM_OK);
    EXPECT_STREQ(kvorm_last_error_message(), "");
    kvorm_schema_free(s);
}

TEST_F(Errors, LongValuesAreCutInMessages)
{
    std::string huge(10000, 'q');
    JRes r = CreateUser("ann@x.io", "o", ",\"role\":" + JStr(huge));
    ASSERT_EQ(r.rc, KVORM_EVALIDATION);
    std::string msg = r.str("message");
    EXPECT_NE(msg.find("qqqq"), std::string::npos) << "the message quotes the start of the value: " << msg;
    EXPECT_LT(msg.size(), 400u) << msg;
}

TEST_F(Errors, ValuesInMessagesAreEscaped)
{
    JRes r = CreateUser("ann@x.io", "o", ",\"role\":\"a\\nb\\u0001\"");
    ASSERT_EQ(r.rc, KVORM_EVALIDATION);
    std::string msg = r.str("message");
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\x01'), std::string::npos) << msg;
}

// ---- docs/errors.md: BAD_REQUEST cases --------------------------------------------------------------------------

TEST_F(Errors, AnUnknownTopLevelKeyIsBadRequest)
{
    JRes r = ExecJson(db_, R"({"model":"User","op":"count","trace":true})");
    KT_ASSERT_CODE(r, KVORM_EBAD_REQUEST, "BAD_REQUEST");
}

TEST_F(Errors, SelectingAnUnknownFieldIsBadRequest)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    KT_ASSERT_CODE(Run("User", "findUnique", R"({"where":{"email":"ann@x.io"},"select":{"nickname":true}})"),
                   KVORM_EBAD_REQUEST, "BAD_REQUEST");
    auto before = raw_.Snapshot();
    KT_ASSERT_CODE(CreateUser("bob@x.io", "o", "},\"select\":{\"nickname\":true"), KVORM_EBAD_REQUEST, "BAD_REQUEST");
    EXPECT_EQ(raw_.Snapshot(), before);
}

TEST_F(Errors, AFieldGivenTwiceIsBadRequest)
{
    auto before = raw_.Snapshot();
    std::string dup = mp::pack(MReq("User", "create",
                                    mp::map({{"data", mp::map({{"email", "a@x.io"}, {"orgId", "o"}, {"email", "b@x.io"}})}})));
    MRes r = Exec(db_, dup);
    EXPECT_EQ(r.rc, KVORM_EBAD_REQUEST) << r.doc;
    JRes j = ExecJson(db_, R"({"model":"User","op":"create","args":{"data":{"email":"a@x.io","orgId":"o","orgId":"p"}}})");
    EXPECT_EQ(j.rc, KVORM_EBAD_REQUEST) << j.text;
    EXPECT_EQ(raw_.Snapshot(), before);
}

TEST_F(Errors, IfVersionMustBeANonNegativeInteger)
{
    KT_ASSERT_OK(CreateUser("ann@x.io"));
    auto before = raw_.Snapshot();
    for (const char *v : {"-1", "1.5", "\"1\"", "true"}) {
        JRes r = Run("User", "update",
                     std::string(R"({"where":{"email":"ann@x.io"},"data":{"age":1},"ifVersion":)") + v + "}");
        EXPECT_EQ(r.rc, KVORM_EBAD_REQUEST) << "ifVersion " << v << ": " << r.text;
    }
    EXPECT_EQ(raw_.Snapshot(), before);
}

TEST_F(Errors, IfVersionIsNotAnArgumentOfCreate)
{
    KT_REDIS_ONLY("reads raw Redis keys");
    KT_ASSERT_CODE(Run("User", "create", R"({"data":{"email":"a@x.io","orgId":"o"},"ifVersion":1})"),
                   KVORM_EBAD_REQUEST, "BAD_REQUEST");
    EXPECT_EQ(raw_.Keys(), std::vector<std::string>{"app:$schema"});
}

// ---- MISUSE ----------------------------------------------------------------------------------------------------

TEST(Misuse, ExecOnANullDbIsMisuseWithNoDocument)
{
    std::string req = mp::pack(MReq("User", "count"));
    unsigned char *out = reinterpret_cast<unsigned char *>(0x1);
    size_t len = 77;
    EXPECT_EQ(kvorm_exec(&out, &len, nullptr, req.data(), req.size()), KVORM_EMISUSE);
    EXPECT_EQ(kvorm_last_error_code(), KVORM_EMISUSE);
    EXPECT_STRNE(kvorm_last_error_message(), "");
    EXPECT_EQ(out, nullptr) << "on failure an out-pointer is set to NULL";
    EXPECT_EQ(len, 0u);
}

TEST(Misuse, ExecJsonOnANullDbIsMisuseWithNoDocument)
{
    std::string req = Req("User", "count");
    char *out = reinterpret_cast<char *>(0x1);
    size_t len = 77;
    EXPECT_EQ(kvorm_exec_json(&out, &len, nullptr, req.data(), req.size()), KVORM_EMISUSE);
    EXPECT_EQ(kvorm_last_error_code(), KVORM_EMISUSE);
    EXPECT_EQ(out, nullptr);
    EXPECT_EQ(len, 0u);
}

TEST(Misuse, FailedLoadsAndOpensSetTheirOutPointerToNull)
{
    kvorm_schema *s = reinterpret_cast<kvorm_schema *>(0x1);
    EXPECT_EQ(kvorm_schema_from_json(&s, "{", 1), KVORM_ESCHEMA);
    EXPECT_EQ(s, nullptr);
    SchemaPtr ok = LoadSchema(kAppSchema);
    ASSERT_TRUE(ok);
    kvorm_db *db = reinterpret_cast<kvorm_db *>(0x1);
    EXPECT_EQ(kvorm_open(&db, "nope://", ok.get(), nullptr), KVORM_EMISUSE);
    EXPECT_EQ(db, nullptr);
}

TEST_F(Errors, ExecWithNullOutputPointersIsMisuse)
{
    std::string req = mp::pack(MReq("User", "count"));
    size_t len = 0;
    unsigned char *out = nullptr;
    EXPECT_EQ(kvorm_exec(nullptr, &len, db_, req.data(), req.size()), KVORM_EMISUSE);
    EXPECT_EQ(kvorm_exec(&out, nullptr, db_, req.data(), req.size()), KVORM_EMISUSE);
    kvorm_free(out);
}

TEST_F(Errors, ExecWithANullRequestIsMisuse)
{
    unsigned char *out = nullptr;
    size_t len = 0;
    EXPECT_EQ(kvorm_exec(&out, &len, db_, nullptr, 10), KVORM_EMISUSE);
    kvorm_free(out);
}

TEST(Misuse, CapabilitiesOfANullDbIsMisuse)
{
    unsigned char *out = reinterpret_cast<unsigned char *>(0x1);
    size_t len = 77;
    EXPECT_EQ(kvorm_capabilities(&out, &len, nullptr), KVORM_EMISUSE);
    EXPECT_EQ(out, nullptr);
    EXPECT_EQ(len, 0u);
}

TEST(Misuse, OpenOptionsWithAnUnknownVersionAreMisuse)
{
    kvorm_open_options o;
    EXPECT_EQ(kvorm_open_options_init(&o, KVORM_OPEN_OPTIONS_VERSION), KVORM_OK);
    EXPECT_EQ(o.version, static_cast<unsigned>(KVORM_OPEN_OPTIONS_VERSION));
    EXPECT_EQ(kvorm_open_options_init(&o, 999), KVORM_EMISUSE);
    EXPECT_EQ(kvorm_open_options_init(nullptr, KVORM_OPEN_OPTIONS_VERSION), KVORM_EMISUSE);
}

TEST(Misuse, FreeFunctionsAcceptNull)
{
    kvorm_free(nullptr);
    kvorm_close(nullptr);
    kvorm_schema_free(nullptr);
    EXPECT_STREQ(kvorm_error_name(KVORM_OK), "OK");
}

TEST(Misuse, SchemaLoadingWithNullArgumentsIsMisuse)
{
    kvorm_schema *s = nullptr;
    EXPECT_EQ(kvorm_schema_from_json(nullptr, "{}", 2), KVORM_EMISUSE);
    EXPECT_EQ(kvorm_schema_from_json(&s, nullptr, 2), KVORM_EMISUSE);
    EXPECT_EQ(kvorm_schema_from_file(&s, nullptr), KVORM_EMISUSE);
    EXPECT_EQ(kvorm_schema_from_msgpack(&s, nullptr, 3), KVORM_EMISUSE);
    EXPECT_EQ(s, nullptr);
}

}  // namespace
}  // namespace kt
