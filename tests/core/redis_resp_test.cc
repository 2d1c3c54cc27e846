// The HGETALL pipeline reader (core/src/redis_resp.h): parsed in place from what Redis sends, with every shape
// a findMany meets: records larger than one read, records gone, an error reply in the middle, and a server that
// closes the connection.
#include "test_util.h"

extern "C" {
#include "redis_resp.h"
}

namespace kt {
namespace {

int Parse(const std::string &in, size_t *pos, kv_resp_reply *r, kv_resp_batch *b)
{
    bool oom = false;
    return kv_resp_parse(b, in.data(), in.size(), pos, r, &oom);
}

TEST(RedisResp, ParsesArraysAndErrorsAndWaitsForTheRest)
{
    const std::string in = "*4\r\n$2\r\n$v\r\n$1\r\n1\r\n$4\r\nname\r\n$5\r\na\r\nbc\r\n-ERR no\r\n*0\r\n";
    kv_resp_batch b{};
    kv_resp_reply r{};
    size_t pos = 0;
    ASSERT_EQ(Parse(in, &pos, &r, &b), 1);
    EXPECT_EQ(r.kind, KV_RESP_ARRAY);
    ASSERT_EQ(r.n, 4u);
    EXPECT_EQ(std::string(in.data() + b.spans[3].off, b.spans[3].len), "a\r\nbc");  // binary-safe
    ASSERT_EQ(Parse(in, &pos, &r, &b), 1);
    EXPECT_EQ(r.kind, KV_RESP_ERROR);
    EXPECT_EQ(std::string(in.data() + r.error.off, r.error.len), "ERR no");
    ASSERT_EQ(Parse(in, &pos, &r, &b), 1);
    EXPECT_EQ(r.n, 0u);
    EXPECT_EQ(pos, in.size());
    // every cut of a reply waits for more bytes and keeps nothing
    for (size_t k = 0; k < 40; k++) {
        size_t p = 0;
        size_t spans = b.nspans;
        EXPECT_EQ(Parse(in.substr(0, k), &p, &r, &b), 0) << k;
        EXPECT_EQ(p, 0u);
        EXPECT_EQ(b.nspans, spans);
    }
    free(b.spans);
}

TEST(RedisResp, RefusesWhatAnHgetallNeverSends)
{
    for (const char *bad : {"+OK\r\n", ":1\r\n", "$3\r\nabc\r\n", "*1\r\n:1\r\n", "*1\r\n*0\r\n", "*-1\r\n",
                            "*1\r\n$-1\r\n", "*1\r\n$3\r\nabcd\r\n", "*x\r\n", "*99999999999999999999\r\n"}) {
        kv_resp_batch b{};
        kv_resp_reply r{};
        size_t pos = 0;
        EXPECT_EQ(Parse(bad, &pos, &r, &b), -1) << bad;
        EXPECT_EQ(pos, 0u);
        free(b.spans);
    }
}

class RespReads : public KvTest {};

TEST_F(RespReads, FindManyReadsRecordsLargerThanOneReadAndSkipsTheGone)
{
    DbPtr db = OpenDb(R"({"namespace":"rr","models":{"D":{"id":{"type":"string"},)"
                      R"("fields":{"tag":{"type":"string","index":true},"body":{"type":"string"}}}}})");
    ASSERT_TRUE(db);
    std::string big(200000, 'x');
    for (int i = 0; i < 5; i++) {
        std::string n = std::to_string(i);
        KT_ASSERT_OK(ExecJson(db.get(), Req("D", "create", "{\"data\":{\"id\":\"d" + n +
                                                               "\",\"tag\":\"t\",\"body\":\"" + big + n + "\"}}")));
    }
    JRes all = ExecJson(db.get(), Req("D", "findMany", R"({"where":{"tag":"t"}})"));
    KT_ASSERT_OK(all);
    ASSERT_EQ(json_array_size(all.get()), 5u) << all.text.substr(0, 200);
    for (size_t i = 0; i < 5; i++)
        EXPECT_EQ(json_string_value(json_object_get(json_array_get(all.get(), i), "body")), big + std::to_string(i));
    // ids of which some do not exist: those are left out
    JRes some = ExecJson(db.get(), Req("D", "findMany", R"({"where":{"id":{"in":["d1","nope","d3"]}}})"));
    KT_ASSERT_OK(some);
    EXPECT_EQ(json_array_size(some.get()), 2u);
}

TEST_F(RespReads, AnErrorReplyInThePipelineIsAnInternalErrorNamingIt)
{
    DbPtr db =
        OpenDb(R"({"namespace":"rw","models":{"D":{"id":{"type":"string"},"fields":{"n":{"type":"integer"}}}}})");
    ASSERT_TRUE(db);
    KT_ASSERT_OK(ExecJson(db.get(), Req("D", "create", R"({"data":{"id":"a","n":1}})")));
    KT_ASSERT_OK(ExecJson(db.get(), Req("D", "create", R"({"data":{"id":"b","n":2}})")));
    // a record key that something else overwrote with a string
    raw_.Str({"SET", "rw:{D}:r:b", "not a hash"});
    JRes r = ExecJson(db.get(), Req("D", "findMany", R"({"where":{"id":{"in":["a","b"]}}})"));
    EXPECT_EQ(r.rc, KVORM_EINTERNAL) << r.text;
    EXPECT_NE(r.text.find("WRONGTYPE"), std::string::npos) << r.text;
    // the connection is still good
    JRes again = ExecJson(db.get(), Req("D", "findMany", R"({"where":{"id":{"in":["a"]}}})"));
    KT_ASSERT_OK(again);
    EXPECT_EQ(json_array_size(again.get()), 1u);
}

TEST_F(RespReads, AnErrorReplyToARangeIsAnInternalErrorNamingIt)
{
    DbPtr db = OpenDb(R"({"namespace":"rz","models":{"D":{"id":{"type":"string"},)"
                      R"("fields":{"tag":{"type":"string","index":true}}}}})");
    ASSERT_TRUE(db);
    KT_ASSERT_OK(ExecJson(db.get(), Req("D", "create", R"({"data":{"id":"a","tag":"t"}})")));
    // the index's sorted set overwritten by a string
    raw_.Str({"SET", "rz:{D}:x:tag", "not a zset"});
    JRes r = ExecJson(db.get(), Req("D", "findMany", R"({"where":{"tag":"t"}})"));
    EXPECT_EQ(r.rc, KVORM_EINTERNAL) << r.text;
    EXPECT_NE(r.text.find("WRONGTYPE"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("ZRANGE"), std::string::npos) << r.text;
    JRes byid = ExecJson(db.get(), Req("D", "findUnique", R"({"where":{"id":"a"}})"));
    KT_ASSERT_OK(byid);
}

}  // namespace
}  // namespace kt
