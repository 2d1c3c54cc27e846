// Loading relations with a read (docs/queries.md, Relations): include and relation keys of select on findUnique,
// findMany and findFirst, for belongsTo (by id or by a unique), hasOne and hasMany (with its where, orderBy, skip
// and take per parent), nested, with nulls for a missing target; each level of an include is one batch of reads
// (one round trip on Redis; a to-many one, two); bad includes are BAD_REQUEST. These run on both engines.
#include <functional>

#include "test_util.h"

namespace kt {
namespace {

const char *const kBlog = R"({"namespace":"rel","models":{
  "User": {"fields": {"email": {"type": "string", "unique": true}, "name": {"type": "string"}},
           "relations": {"profile": {"hasOne": "Profile"},
                         "posts": {"hasMany": "Post", "inverse": "author"}}},
  "Profile": {"id": {"type": "integer", "generate": "increment"},
              "fields": {"userId": {"type": "string"}, "bio": {"type": "string"}},
              "relations": {"user": {"belongsTo": "User", "fields": ["userId"]}}},
  "Post": {"id": {"type": "integer", "generate": "increment"},
           "fields": {"authorId": {"type": "string"}, "title": {"type": "string"},
                      "editorEmail": {"type": "string", "optional": true}},
           "relations": {"author": {"belongsTo": "User", "fields": ["authorId"]},
                         "editor": {"belongsTo": "User", "fields": ["editorEmail"], "references": ["email"]}}},
  "Team": {"id": {"type": "integer", "generate": "increment"}, "fields": {"name": {"type": "string"}},
           "relations": {"lead": {"hasOne": "Lead"}}},
  "Lead": {"fields": {"teamId": {"type": "integer"}, "who": {"type": "string"}},
           "relations": {"team": {"belongsTo": "Team", "fields": ["teamId"]}}}}})";

class Relations : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = Open(kBlog);
        ASSERT_NE(db_, nullptr);
    }
    JRes Run(const std::string &model, const std::string &op, const std::string &args = "")
    {
        return ExecJson(db_, Req(model, op, args));
    }
    std::string User(const std::string &email, const std::string &name)
    {
        JRes r = Run("User", "create", R"({"data":{"email":)" + JStr(email) + R"(,"name":)" + JStr(name) + "}}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.str("id");
    }
    long long Post(const std::string &author, const std::string &title, const std::string &editor = "")
    {
        std::string ed = editor.empty() ? "" : R"(,"editorEmail":)" + JStr(editor);
        JRes r = Run("Post", "create",
                     R"({"data":{"authorId":)" + JStr(author) + R"(,"title":)" + JStr(title) + ed + "}}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.integer("id");
    }
    kvorm_db *db_ = nullptr;
};

TEST_F(Relations, BelongsToLoadsEachRowsTargetWithItsOwnSelect)
{
    std::string ann = User("ann@x.io", "Ann"), bob = User("bob@x.io", "Bob");
    Post(ann, "a1");
    Post(bob, "b1", "ann@x.io");
    Post(ann, "a2", "bob@x.io");
    JRes r = Run("Post", "findMany",
                 R"({"orderBy":{"id":"asc"},"include":{"author":{"select":{"name":true}},"editor":true}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text,
              R"([{"id":1,"authorId":")" + ann + R"(","title":"a1","editorEmail":null,"author":{"name":"Ann"},)"
              R"("editor":null},)"
              R"({"id":2,"authorId":")" + bob + R"(","title":"b1","editorEmail":"ann@x.io","author":{"name":"Bob"},)"
              R"("editor":{"id":")" + ann + R"(","email":"ann@x.io","name":"Ann"}},)"
              R"({"id":3,"authorId":")" + ann + R"(","title":"a2","editorEmail":"bob@x.io","author":{"name":"Ann"},)"
              R"("editor":{"id":")" + bob + R"(","email":"bob@x.io","name":"Bob"}}])");
}

TEST_F(Relations, FindUniqueAndFindFirstInclude)
{
    std::string ann = User("ann@x.io", "Ann");
    long long p = Post(ann, "a1");
    JRes u = Run("Post", "findUnique",
                 R"({"where":{"id":)" + std::to_string(p) + R"(},"select":{"title":true},"include":{"author":true}})");
    KT_ASSERT_OK(u);
    EXPECT_EQ(u.text, R"({"title":"a1","author":{"id":")" + ann + R"(","email":"ann@x.io","name":"Ann"}})");
    JRes t = Run("Post", "findUniqueOrThrow", R"({"where":{"id":)" + std::to_string(p) +
                                                  R"(},"select":{"id":true,"author":{"select":{"email":true}}}})");
    KT_ASSERT_OK(t);
    EXPECT_EQ(t.text, R"({"id":1,"author":{"email":"ann@x.io"}})");
    JRes f = Run("Post", "findFirst", R"({"where":{"title":"a1"},"select":{"author":{"select":{"name":true}}}})");
    KT_ASSERT_OK(f);
    EXPECT_EQ(f.text, R"({"author":{"name":"Ann"}})");
    JRes none = Run("Post", "findFirst", R"({"where":{"title":"zz"},"include":{"author":true}})");
    KT_ASSERT_OK(none);
    EXPECT_EQ(none.text, "null");
    JRes missing = Run("Post", "findUnique", R"({"where":{"id":99},"include":{"author":true}})");
    KT_ASSERT_OK(missing);
    EXPECT_EQ(missing.text, "null");
}

TEST_F(Relations, HasOneLoadsTheRecordWhoseForeignKeyPointsHereOrNull)
{
    std::string ann = User("ann@x.io", "Ann"), bob = User("bob@x.io", "Bob");
    KT_ASSERT_OK(Run("Profile", "create", R"({"data":{"userId":")" + ann + R"(","bio":"hi"}})"));
    // one profile per user: the hasOne made the foreign key unique
    JRes dup = Run("Profile", "create", R"({"data":{"userId":")" + ann + R"(","bio":"again"}})");
    KT_ASSERT_CODE(dup, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    JRes r = Run("User", "findMany",
                 R"({"orderBy":{"email":"asc"},"select":{"email":true,"profile":{"select":{"bio":true}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text, R"([{"email":"ann@x.io","profile":{"bio":"hi"}},{"email":"bob@x.io","profile":null}])");
    (void)bob;
    // integer ids: the foreign key holds the integer
    KT_ASSERT_OK(Run("Team", "create", R"({"data":{"name":"core"}})"));
    KT_ASSERT_OK(Run("Team", "create", R"({"data":{"name":"web"}})"));
    KT_ASSERT_OK(Run("Lead", "create", R"({"data":{"teamId":2,"who":"Cy"}})"));
    JRes t = Run("Team", "findMany", R"({"include":{"lead":{"select":{"who":true}}}})");
    KT_ASSERT_OK(t);
    EXPECT_EQ(t.text, R"([{"id":1,"name":"core","lead":null},{"id":2,"name":"web","lead":{"who":"Cy"}}])");
    JRes back = Run("Lead", "findFirst", R"({"select":{"who":true,"team":{"select":{"name":true}}}})");
    EXPECT_EQ(back.text, R"({"who":"Cy","team":{"name":"web"}})");
}

TEST_F(Relations, IncludesNestToAnyDepth)
{
    std::string ann = User("ann@x.io", "Ann");
    KT_ASSERT_OK(Run("Profile", "create", R"({"data":{"userId":")" + ann + R"(","bio":"hi"}})"));
    Post(ann, "a1");
    JRes r = Run("Post", "findMany",
                 R"({"select":{"title":true,"author":{"select":{"name":true},"include":{"profile":{)"
                 R"("select":{"bio":true},"include":{"user":{"select":{"email":true}}}}}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text, R"([{"title":"a1","author":{"name":"Ann","profile":{"bio":"hi","user":{"email":"ann@x.io"}}}}])");
}

TEST_F(Relations, AForeignKeyWithoutItsRecordLoadsNull)
{
    // written before the relation was declared (a schema without it, on the same data): it reads as no target
    kvorm_db *plain = Open(R"({"namespace":"rel","models":{
      "Post": {"id": {"type": "integer", "generate": "increment"},
               "fields": {"authorId": {"type": "string"}, "title": {"type": "string"},
                          "editorEmail": {"type": "string", "optional": true}},
               "indexes": [["authorId"], ["editorEmail"]]}}})");
    ASSERT_NE(plain, nullptr);
    KT_ASSERT_OK(ExecJson(plain, Req("Post", "create",
                                     R"({"data":{"authorId":"no-such-user","title":"orphan","editorEmail":"x@x.io"}})")));
    JRes r = Run("Post", "findMany", R"({"select":{"title":true},"include":{"author":true,"editor":true}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text, R"([{"title":"orphan","author":null,"editor":null}])");
}

TEST_F(Relations, ManyRowsWithTheSameTargetReadItOnce)
{
    std::string ann = User("ann@x.io", "Ann");
    for (int i = 0; i < 30; i++)
        Post(ann, "p" + std::to_string(i));
    JRes r = Run("Post", "findMany", R"({"select":{"id":true,"author":{"select":{"name":true}}}})");
    KT_ASSERT_OK(r);
    ASSERT_EQ(json_array_size(r.get()), 30u) << r.text;
    for (size_t i = 0; i < 30; i++)
        EXPECT_STREQ(json_string_value(json_object_get(json_object_get(json_array_get(r.get(), i), "author"), "name")),
                     "Ann");
}

TEST_F(Relations, BadIncludesAreBadRequestNamingTheRelation)
{
    struct Case {
        const char *model, *args, *mention;
    } cases[] = {
        {"Post", R"({"include":{"nope":true}})", "\"nope\" is not a relation of Post"},
        {"Post", R"({"include":{"title":true}})", "\"title\" is not a relation of Post"},
        {"Post", R"({"include":[]})", "\"include\" must be a map"},
        {"Post", R"({"include":{"author":1}})", "must be true, false or a map"},
        {"Post", R"({"include":{"author":{"where":{}}}})", "not \"where\""},
        {"Post", R"({"include":{"author":{"include":{"nope":true}}}})", "\"nope\" is not a relation of User"},
        {"Post", R"({"include":{"author":true},"select":{"author":true}})", "both"},
        {"User", R"({"include":{"posts":{"cursor":1}}})", "cursor must be a map"},
        {"Post", R"({"include":{"author":{"cursor":{"id":"x"}}}})", "not \"cursor\""},
        {"User", R"({"include":{"posts":{"take":"x"}}})", "\"take\" of posts must be an integer"},
        {"User", R"({"include":{"posts":{"skip":-1}}})", "\"skip\" of posts must be a non-negative integer"},
        {"User", R"({"include":{"posts":{"where":{"nope":1}}}})", "\"nope\" is not a field of Post"},
    };
    for (const Case &c : cases) {
        JRes r = Run(c.model, "findMany", c.args);
        EXPECT_EQ(r.rc, KVORM_EBAD_REQUEST) << c.args << " " << r.text;
        EXPECT_EQ(r.str("code"), "BAD_REQUEST") << r.text;
        EXPECT_NE(r.str("message").find(c.mention), std::string::npos) << c.args << ": " << r.text;
    }
    JRes u = Run("Post", "findUnique", R"({"where":{"id":1},"include":{"nope":true}})");
    EXPECT_EQ(u.rc, KVORM_EBAD_REQUEST) << u.text;
    // A write's include is checked before anything is written.
    JRes c = Run("Post", "create", R"({"data":{"authorId":"x","title":"t"},"include":{"nope":true}})");
    EXPECT_EQ(c.rc, KVORM_EBAD_REQUEST) << "the include is checked before the write: " << c.text;
}

TEST_F(Relations, HasManyLoadsEachParentsRecordsWithItsOwnWhereOrderAndWindow)
{
    std::string ann = User("ann@x.io", "Ann"), bob = User("bob@x.io", "Bob");
    User("cy@x.io", "Cy");
    for (int i = 0; i < 10; i++)
        Post(i % 2 ? bob : ann, "p" + std::to_string(i), i < 3 ? "cy@x.io" : "");
    // ann has posts 1, 3, 5, 7, 9 (p0 p2 p4 p6 p8), bob 2, 4, 6, 8, 10
    JRes r = Run("User", "findMany",
                 R"({"orderBy":{"email":"asc"},"select":{"name":true,)"
                 R"("posts":{"select":{"id":true},"where":{"id":{"gt":1}},"orderBy":{"id":"desc"},"take":2}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text, R"([{"name":"Ann","posts":[{"id":9},{"id":7}]},{"name":"Bob","posts":[{"id":10},{"id":8}]},)"
                      R"({"name":"Cy","posts":[]}])");
    // skip, and a negative take: the last rows, in order
    JRes w = Run("User", "findUnique",
                 R"({"where":{"email":"ann@x.io"},"select":{"posts":{"select":{"id":true},"skip":1,"take":-2}}})");
    KT_ASSERT_OK(w);
    EXPECT_EQ(w.text, R"({"posts":[{"id":5},{"id":7}]})");
    JRes all = Run("User", "findUnique", R"({"where":{"email":"bob@x.io"},"include":{"posts":{"select":{"title":true}}}})");
    KT_ASSERT_OK(all);
    EXPECT_EQ(all.text, R"({"id":")" + bob + R"(","email":"bob@x.io","name":"Bob","posts":[{"title":"p1"},{"title":"p3"},)"
                        R"({"title":"p5"},{"title":"p7"},{"title":"p9"}]})");
}

// A cursor in an include is a position in the include's order that every parent's records start at (end at, with
// a negative take), and skip counts the cursor's own place as a query's does: each parent's records are exactly
// what a findMany of that parent's records with the same arguments returns.
TEST_F(Relations, ACursorInAnIncludeIsEachParentsQuerysCursor)
{
    std::string ann = User("ann@x.io", "Ann"), bob = User("bob@x.io", "Bob");
    const char *titles[] = {"d", "a", "c", "b", "e", "c", "a", "f", "b", "d"};
    std::vector<long long> ids;
    for (int i = 0; i < 10; i++)
        ids.push_back(Post(i % 3 ? ann : bob, titles[i]));
    const std::string windows[] = {"",
                                   R"(,"take":2)",
                                   R"(,"take":-2)",
                                   R"(,"skip":1)",
                                   R"(,"skip":1,"take":2)",
                                   R"(,"skip":1,"take":-2)",
                                   R"(,"skip":2,"take":-1)"};
    const std::string orders[] = {R"({"id":"asc"})", R"({"title":"asc"})", R"([{"title":"desc"},{"id":"asc"}])"};
    for (long long cursor : {ids[2], ids[3], ids[7]}) {
        for (const std::string &order : orders) {
            for (const std::string &w : windows) {
                std::string args = R"("orderBy":)" + order + R"(,"cursor":{"id":)" + std::to_string(cursor) + "}" + w;
                JRes r = Run("User", "findMany",
                             R"({"orderBy":{"email":"asc"},"select":{"id":true,"posts":{"select":{"id":true},)" + args +
                                 "}}}");
                KT_ASSERT_OK(r);
                ASSERT_EQ(json_array_size(r.get()), 2u) << r.text;
                for (size_t u = 0; u < 2; u++) {
                    const json_t *user = json_array_get(r.get(), u);
                    std::string id = json_string_value(json_object_get(user, "id"));
                    JRes own = Run("Post", "findMany",
                                   R"({"where":{"authorId":)" + JStr(id) + R"(},"select":{"id":true},)" + args + "}");
                    KT_ASSERT_OK(own);
                    EXPECT_EQ(DumpJson(json_object_get(user, "posts")), own.text) << args << " of user " << u;
                }
            }
        }
    }
    // a cursor given by its orderBy value needs no record; one whose record is gone and lacks it is NOT_FOUND
    JRes byValue = Run("User", "findUnique",
                       R"({"where":{"email":"bob@x.io"},"select":{"posts":{"select":{"title":true},)"
                       R"("orderBy":{"title":"asc"},"cursor":{"id":999,"title":"c"}}}})");
    KT_ASSERT_OK(byValue);
    EXPECT_EQ(byValue.text, R"({"posts":[{"title":"d"},{"title":"d"}]})");
    JRes gone = Run("User", "findMany", R"({"include":{"posts":{"orderBy":{"title":"asc"},"cursor":{"id":999}}}})");
    EXPECT_EQ(gone.rc, KVORM_ENOTFOUND) << gone.text;
}

TEST_F(Relations, ToManyAndToOneNestEitherWay)
{
    std::string ann = User("ann@x.io", "Ann"), bob = User("bob@x.io", "Bob");
    Post(ann, "a1", "bob@x.io");
    Post(ann, "a2");
    Post(bob, "b1");
    // a post's author's posts; a user's posts' editors
    JRes r = Run("Post", "findFirst",
                 R"({"where":{"title":"b1"},"select":{"title":true,"author":{"select":{"name":true},)"
                 R"("include":{"posts":{"select":{"title":true}}}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text, R"({"title":"b1","author":{"name":"Bob","posts":[{"title":"b1"}]}})");
    JRes u = Run("User", "findMany",
                 R"({"orderBy":{"email":"asc"},"select":{"name":true,"posts":{"select":{"title":true},)"
                 R"("include":{"editor":{"select":{"name":true}}}}}})");
    KT_ASSERT_OK(u);
    EXPECT_EQ(u.text, R"([{"name":"Ann","posts":[{"title":"a1","editor":{"name":"Bob"}},{"title":"a2","editor":null}]},)"
                      R"({"name":"Bob","posts":[{"title":"b1","editor":null}]}])");
}

TEST_F(Relations, ExplainShowsHowAnIncludeIsRead)
{
    JRes r = Run("User", "explain",
                 R"({"op":"findMany","args":{"include":{"profile":true,)"
                 R"("posts":{"take":2,"include":{"editor":true}}}}})");
    KT_ASSERT_OK(r);
    const json_t *inc = json_object_get(r.get(), "include");
    ASSERT_TRUE(json_is_array(inc)) << r.text;
    EXPECT_EQ(DumpJson(inc),
              R"([{"relation":"profile","kind":"hasOne","model":"Profile","reads":"unique","roundTrips":1,"include":[]},)"
              R"({"relation":"posts","kind":"hasMany","model":"Post","reads":"query","roundTrips":2,"include":[)"
              R"({"relation":"editor","kind":"belongsTo","model":"User","reads":"unique","roundTrips":1,"include":[]}]}])");
    JRes bad = Run("User", "explain", R"({"op":"findMany","args":{"include":{"nope":true}}})");
    EXPECT_EQ(bad.rc, KVORM_EBAD_REQUEST) << bad.text;
    JRes none = Run("User", "explain", R"({"op":"findMany","args":{}})");
    EXPECT_EQ(DumpJson(json_object_get(none.get(), "include")), "[]") << none.text;
}

TEST_F(Relations, CountOfRelationsPerRecord)
{
    std::string ann = User("ann@x.io", "Ann"), bob = User("bob@x.io", "Bob");
    User("cy@x.io", "Cy");
    for (int i = 0; i < 7; i++)
        Post(i < 5 ? ann : bob, "p" + std::to_string(i), i < 2 ? "bob@x.io" : "");
    JRes r = Run("User", "findMany",
                 R"({"orderBy":{"email":"asc"},"select":{"name":true,"_count":{"select":{"posts":true}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text, R"([{"name":"Ann","_count":{"posts":5}},{"name":"Bob","_count":{"posts":2}},)"
                      R"({"name":"Cy","_count":{"posts":0}}])");
    // with a where (counted by its query), and every hasMany with true, in include; nested under a belongsTo
    JRes w = Run("User", "findUnique", R"({"where":{"email":"ann@x.io"},"select":{"_count":{"select":)"
                                       R"({"posts":{"where":{"title":{"in":["p0","p3","zz"]}}}}}}})");
    EXPECT_EQ(w.text, R"({"_count":{"posts":2}})");
    JRes t = Run("User", "findUnique", R"({"where":{"email":"bob@x.io"},"select":{"id":false,"name":true},)"
                                       R"("include":{"_count":true}})");
    EXPECT_EQ(t.text, R"({"name":"Bob","_count":{"posts":2}})");
    JRes n = Run("Post", "findFirst", R"({"where":{"title":"p6"},"select":{"author":{"select":{"name":true,"_count":true}}}})");
    EXPECT_EQ(n.text, R"({"author":{"name":"Bob","_count":{"posts":2}}})");
    for (const char *bad : {R"({"include":{"_count":1}})", R"({"include":{"_count":{"select":{"profile":true}}}})",
                            R"({"include":{"_count":{"select":{"nope":true}}}})",
                            R"({"include":{"_count":{"select":{"posts":{"take":1}}}}})",
                            R"({"include":{"_count":{"select":{"posts":{"where":{"zz":1}}}}}})",
                            R"({"include":{"_count":true},"select":{"_count":true}})"}) {
        JRes b = Run("User", "findMany", bad);
        EXPECT_EQ(b.rc, KVORM_EBAD_REQUEST) << bad << " " << b.text;
    }
}

// The ranges of an in-list (a union of one range per value) are read together: the first chunk of every range in
// one round trip, their records in one more, as for a single value.
TEST_F(Relations, AnInListOnAnIndexReadsItsRangesTogether)
{
    KT_REDIS_ONLY("reads Redis's INFO stats");
    std::string list;
    for (int i = 0; i < 10; i++) {
        std::string a = User("a" + std::to_string(i) + "@x.io", "A");
        Post(a, "p" + std::to_string(i));
        list += (i ? "," : "") + JStr(a);
    }
    std::string one = list.substr(0, list.find(','));
    auto run = [&](const std::string &where, size_t rows) {
        return SocketReads(raw_, [&] {
            JRes r = Run("Post", "findMany", R"({"where":{"authorId":)" + where + "}}");
            EXPECT_EQ(r.rc, KVORM_OK) << r.text;
            EXPECT_EQ(json_array_size(r.get()), rows) << r.text;
        });
    };
    run(one, 1);  // the index states are read once per db
    long long single = run(one, 1), many = run(R"({"in":[)" + list + "]}", 10);
    EXPECT_EQ(many, single) << "socket reads: " << single << " for one value, " << many << " for 10";
}

// Each level of an include is one batch: 10 posts whose author and editor are 20 different users get their 20
// users in one round trip. Server-side evidence: the reads Redis's event loop made from its clients' sockets
// (INFO stats total_reads_processed) while the request ran, beside the same findMany without the include: the 20
// reads of the include are one more socket read (one pipelined write), where a read per user would be 20 and a
// batch per relation 2.
TEST_F(Relations, ALevelOfAnIncludeIsOneRoundTripOnRedis)
{
    KT_REDIS_ONLY("reads Redis's INFO stats");
    for (int i = 0; i < 10; i++) {
        std::string a = User("a" + std::to_string(i) + "@x.io", "A"), e = "e" + std::to_string(i) + "@x.io";
        User(e, "E");
        Post(a, "p" + std::to_string(i), e);
    }
    auto cost = [&](const std::string &args) {
        return SocketReads(raw_, [&] {
            JRes r = Run("Post", "findMany", args);
            EXPECT_EQ(r.rc, KVORM_OK) << r.text;
            EXPECT_EQ(json_array_size(r.get()), 10u) << r.text;
        });
    };
    ASSERT_GE(SocketReads(raw_, [] {}), 0) << "this Redis has no total_reads_processed";
    cost(R"({"include":{"author":true,"editor":true}})");  // the index states are read once per db
    long long plain = cost("{}"), with = cost(R"({"include":{"author":true,"editor":true}})");
    EXPECT_EQ(with - plain, 1) << "socket reads: " << plain << " without the include, " << with << " with it";
}

// The counts of 10 users' posts: every user's range of the foreign key's index in one round trip, keys only.
TEST_F(Relations, ACountOfRelationsIsOneRoundTripOfKeys)
{
    KT_REDIS_ONLY("reads Redis's INFO stats");
    for (int i = 0; i < 10; i++) {
        std::string a = User("a" + std::to_string(i) + "@x.io", "A");
        for (int j = 0; j <= i; j++)
            Post(a, "p" + std::to_string(j));
    }
    auto cost = [&](const std::string &args) {
        return SocketReads(raw_, [&] {
            JRes r = Run("User", "findMany", args);
            EXPECT_EQ(r.rc, KVORM_OK) << r.text;
            EXPECT_EQ(json_array_size(r.get()), 10u) << r.text;
        });
    };
    std::string args = R"({"orderBy":{"email":"asc"},"select":{"_count":{"select":{"posts":true}}}})";
    cost(args);  // the index states are read once per db
    long long plain = cost(R"({"orderBy":{"email":"asc"}})"), with = cost(args);
    EXPECT_EQ(with - plain, 1) << "socket reads: " << plain << " without the count, " << with << " with it";
    JRes r = Run("User", "findMany", args);
    EXPECT_EQ(r.text, R"([{"_count":{"posts":1}},{"_count":{"posts":2}},{"_count":{"posts":3}},{"_count":{"posts":4}},)"
                      R"({"_count":{"posts":5}},{"_count":{"posts":6}},{"_count":{"posts":7}},{"_count":{"posts":8}},)"
                      R"({"_count":{"posts":9}},{"_count":{"posts":10}}])");
}

// A to-many relation is one query of the target for all the parents: the foreign key's index ranges of 10 users
// read together, then their posts' records: 2 round trips, where a query per user would be 20.
TEST_F(Relations, AToManyIncludeIsTwoRoundTripsForAllItsParents)
{
    KT_REDIS_ONLY("reads Redis's INFO stats");
    for (int i = 0; i < 10; i++) {
        std::string a = User("a" + std::to_string(i) + "@x.io", "A");
        Post(a, "p" + std::to_string(i));
        Post(a, "q" + std::to_string(i));
    }
    auto cost = [&](const std::string &args) {
        return SocketReads(raw_, [&] {
            JRes r = Run("User", "findMany", args);
            EXPECT_EQ(r.rc, KVORM_OK) << r.text;
            EXPECT_EQ(json_array_size(r.get()), 10u) << r.text;
        });
    };
    cost(R"({"include":{"posts":true}})");  // the index states are read once per db
    long long plain = cost("{}"), with = cost(R"({"include":{"posts":{"orderBy":{"title":"desc"},"take":1}}})");
    EXPECT_EQ(with - plain, 2) << "socket reads: " << plain << " without the include, " << with << " with it";
}

// With a take and an index that gives each parent's order (the foreign key, then the orderBy), each parent's rows
// are the first keys of its own range: read together for all parents, only what each needs. The rows equal what
// findMany on each parent gives, also when a where filters some first keys out (those parents are read again on
// their own).
const char *const kFeed = R"({"namespace":"feed","models":{
  "User": {"id": {"type": "string"}, "fields": {"name": {"type": "string"}},
           "relations": {"posts": {"hasMany": "Post"}}},
  "Post": {"id": {"type": "integer"},
           "fields": {"authorId": {"type": "string"}, "n": {"type": "integer"}},
           "indexes": [["authorId", {"field": "n", "order": "desc"}]],
           "relations": {"author": {"belongsTo": "User", "fields": ["authorId"]}}}}})";

class RelationsWindow : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = Open(kFeed);
        ASSERT_NE(db_, nullptr);
        for (int u = 0; u < 10; u++) {
            JRes r = ExecJson(db_, Req("User", "create", R"({"data":{"id":"u)" + std::to_string(u) + R"(","name":"U"}})"));
            ASSERT_EQ(r.rc, KVORM_OK) << r.text;
        }
        for (int i = 0; i < 200; i++) {
            JRes r = ExecJson(db_, Req("Post", "create", R"({"data":{"id":)" + std::to_string(i + 1) +
                                                             R"(,"authorId":"u)" + std::to_string(i % 10) +
                                                             R"(","n":)" + std::to_string(i / 10) + "}}"));
            ASSERT_EQ(r.rc, KVORM_OK) << r.text;
        }
    }
    // each user's posts as findMany on Post gives them, as the include's JSON
    std::string Expected(const std::string &args)
    {
        std::string out = "[";
        for (int u = 0; u < 10; u++) {
            std::string where = R"("authorId":"u)" + std::to_string(u) + R"(")";
            JRes r = ExecJson(db_, Req("Post", "findMany", "{" + args.substr(1, args.size() - 2) +
                                                              (args.size() > 2 ? "," : "") + R"("where":{)" + where +
                                                              (where_.empty() ? "" : "," + where_) + "}}"));
            EXPECT_EQ(r.rc, KVORM_OK) << r.text;
            out += (u ? "," : "") + std::string(R"({"id":"u)") + std::to_string(u) + R"(","posts":)" + r.text + "}";
        }
        return out + "]";
    }
    std::string where_;
    kvorm_db *db_ = nullptr;
};

TEST_F(RelationsWindow, EachParentsFirstRowsAreItsOwn)
{
    // ties: u0 has four posts at n 19 (its own, 201, 202, 203), u1 two at n 0; orderBy n breaks them by id desc
    for (int i = 201; i <= 205; i++) {
        JRes r = ExecJson(db_, Req("Post", "create", R"({"data":{"id":)" + std::to_string(i) + R"(,"authorId":"u)" +
                                                         (i <= 203 ? "0" : "1") + R"(","n":)" +
                                                         (i <= 203 ? "19" : "0") + "}}"));
        ASSERT_EQ(r.rc, KVORM_OK) << r.text;
    }
    const char *windows[] = {R"({"orderBy":{"n":"desc"},"take":3,"select":{"id":true,"n":true}})",
                             R"({"orderBy":{"n":"desc"},"skip":2,"take":4,"select":{"id":true}})",
                             R"({"orderBy":{"n":"asc"},"take":2,"select":{"n":true}})",
                             R"({"orderBy":{"n":"desc"},"take":50,"select":{"id":true}})",
                             R"({"orderBy":{"n":"desc"},"take":2,"select":{"id":true}})",
                             R"({"orderBy":{"n":"asc"},"take":1,"select":{"id":true}})",
                             R"({"take":3,"select":{"id":true}})"};
    for (const char *w : windows) {
        std::string args = w;
        JRes r = ExecJson(db_, Req("User", "findMany",
                                   R"({"orderBy":{"id":"asc"},"select":{"id":true,"posts":)" + args + "}}"));
        KT_ASSERT_OK(r);
        EXPECT_EQ(r.text, Expected(args)) << w;
    }
    // a where the first keys do not settle: odd n only
    where_ = R"("n":{"in":[1,3,5,7,9,11]})";
    std::string args = R"({"orderBy":{"n":"desc"},"take":2,"select":{"n":true},"where":{"n":{"in":[1,3,5,7,9,11]}}})";
    JRes r = ExecJson(db_, Req("User", "findMany", R"({"orderBy":{"id":"asc"},"select":{"id":true,"posts":)" + args + "}}"));
    KT_ASSERT_OK(r);
    where_.clear();
    std::string plain = R"({"orderBy":{"n":"desc"},"take":2,"select":{"n":true}})";
    where_ = R"("n":{"in":[1,3,5,7,9,11]})";
    EXPECT_EQ(r.text, Expected(plain));
}

// Two round trips, and only the records needed: 10 ranges of 3 keys and their 30 records, not the 200 posts.
TEST_F(RelationsWindow, TheFirstRowsOfEveryParentAreTwoRoundTripsAndReadNoMore)
{
    KT_REDIS_ONLY("reads Redis's INFO stats");
    auto stat = [&](const char *name) {
        std::string info = raw_.Str({"INFO", "stats"});
        size_t at = info.find(std::string(name) + ":");
        return at == std::string::npos ? -1LL : std::atoll(info.c_str() + at + strlen(name) + 1);
    };
    long long commands = 0;
    auto cost = [&](const std::string &args) {
        long long c0 = stat("total_commands_processed");
        long long reads = SocketReads(raw_, [&] {
            JRes r = ExecJson(db_, Req("User", "findMany", args));
            EXPECT_EQ(r.rc, KVORM_OK) << r.text;
            EXPECT_EQ(json_array_size(r.get()), 10u) << r.text;
        });
        commands = stat("total_commands_processed") - c0 - 3; /* the INFO calls */
        return reads;
    };
    std::string inc = R"({"include":{"posts":{"orderBy":{"n":"desc"},"take":3}}})";
    cost(inc);  // the index states are read once per db
    long long plain = cost("{}"), plain_cmds = commands, with = cost(inc), with_cmds = commands;
    EXPECT_EQ(with - plain, 2) << "socket reads: " << plain << " without the include, " << with << " with it";
    EXPECT_EQ(with_cmds - plain_cmds, 10 + 30) << "commands: " << plain_cmds << " without, " << with_cmds << " with";
}

}  // namespace
}  // namespace kt
