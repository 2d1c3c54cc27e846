// Nested writes (docs/queries.md, Nested writes): a create or update whose data names relations, with create,
// createMany, connect, connectOrCreate, disconnect, set, update, updateMany, upsert, delete and deleteMany on
// belongsTo, hasOne, hasMany and manyToMany (through a join model with edge fields). Each call is one
// all-or-nothing write: a failing part leaves nothing behind. These run on both engines.
#include <atomic>
#include <thread>

#include "test_util.h"

namespace kt {
namespace {

const char *const kTeamSchema = R"({"namespace":"nw","models":{
  "User": {"fields": {"email": {"type": "string", "unique": true}, "name": {"type": "string", "optional": true}},
           "relations": {"posts": {"hasMany": "Post", "inverse": "author"},
                         "profile": {"hasOne": "Profile"},
                         "tasks": {"hasMany": "Task"},
                         "memberships": {"hasMany": "Membership"},
                         "teams": {"manyToMany": "Team", "through": "Membership"}}},
  "Profile": {"fields": {"userId": {"type": "string", "optional": true}, "bio": {"type": "string"}},
              "relations": {"user": {"belongsTo": "User", "fields": ["userId"]}}},
  "Post": {"fields": {"authorId": {"type": "string"}, "title": {"type": "string"},
                      "slug": {"type": "string", "optional": true, "unique": true}},
           "relations": {"author": {"belongsTo": "User", "fields": ["authorId"], "onDelete": "cascade"},
                         "comments": {"hasMany": "Comment"}}},
  "Comment": {"fields": {"postId": {"type": "string"}, "text": {"type": "string"}},
              "relations": {"post": {"belongsTo": "Post", "fields": ["postId"], "onDelete": "cascade"}}},
  "Task": {"fields": {"ownerId": {"type": "string", "optional": true}, "title": {"type": "string"}},
           "relations": {"owner": {"belongsTo": "User", "fields": ["ownerId"]}}},
  "Team": {"fields": {"name": {"type": "string", "unique": true}},
           "relations": {"memberships": {"hasMany": "Membership"},
                         "members": {"manyToMany": "User", "through": "Membership"}}},
  "Membership": {"fields": {"userId": {"type": "string"}, "teamId": {"type": "string"},
                            "role": {"type": "enum", "values": ["owner", "member"], "default": "member"}},
                 "unique": [["userId", "teamId"]],
                 "relations": {"user": {"belongsTo": "User", "fields": ["userId"], "onDelete": "cascade"},
                               "team": {"belongsTo": "Team", "fields": ["teamId"], "onDelete": "cascade"}}},
  "Counter": {"id": {"type": "integer", "generate": "increment"},
              "fields": {"n": {"type": "integer"}},
              "relations": {"ticks": {"hasMany": "Tick"}}},
  "Tick": {"fields": {"counterId": {"type": "integer"}},
           "relations": {"counter": {"belongsTo": "Counter", "fields": ["counterId"]}}}}})";

const char *const kModels[] = {"User", "Profile", "Post", "Comment", "Task", "Team", "Membership", "Counter", "Tick"};

class NestedWrites : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = Open(kTeamSchema);
        ASSERT_NE(db_, nullptr);
    }
    JRes Run(const std::string &model, const std::string &op, const std::string &args = "")
    {
        return ExecJson(db_, Req(model, op, args));
    }
    long long Count(const std::string &model, const std::string &where = "")
    {
        JRes r = Run(model, "count", where.empty() ? "" : R"({"where":)" + where + "}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.doc ? (long long)json_integer_value(r.get()) : -1;
    }
    // How many records of each model there are, in kModels' order.
    std::vector<long long> Counts()
    {
        std::vector<long long> out;
        for (const char *m : kModels)
            out.push_back(Count(m));
        return out;
    }
    std::string User(const std::string &email)
    {
        JRes r = Run("User", "create", R"({"data":{"email":)" + JStr(email) + "}}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.str("id");
    }
    std::string Field(const std::string &model, const std::string &id, const char *field)
    {
        JRes r = Run(model, "findUnique", R"({"where":{"id":)" + JStr(id) + "}}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        const json_t *v = r.at(field);
        return v && json_is_string(v) ? json_string_value(v) : v && json_is_null(v) ? "null" : "?";
    }
    void ExpectIntact()
    {
        for (const char *m : kModels) {
            JRes r = Run(m, "check");
            ASSERT_EQ(r.rc, KVORM_OK) << r.text;
            EXPECT_TRUE(json_is_true(r.at("ok"))) << m << ": " << r.text;
        }
    }
    kvorm_db *db_ = nullptr;
};

// Array member `key` of the response's top-level object.
size_t Len(const JRes &r, const char *key)
{
    const json_t *a = r.at(key);
    return a && json_is_array(a) ? json_array_size(a) : (size_t)-1;
}

TEST_F(NestedWrites, ACreateMakesItsRelatedRecordsOfEveryKindInOneWrite)
{
    JRes r = Run("User", "create", R"({"data":{"email":"ann@x.io",
        "posts":{"create":[{"title":"one","comments":{"create":[{"text":"a"},{"text":"b"}]}},{"title":"two"}]},
        "profile":{"create":{"bio":"hi"}},
        "tasks":{"createMany":{"data":[{"title":"t1"},{"title":"t2"},{"title":"t3"}]}},
        "teams":{"create":[{"name":"core","$edge":{"role":"owner"}},{"name":"web"}]}},
      "include":{"posts":{"include":{"comments":true},"orderBy":{"title":"asc"}},"profile":true,"tasks":true,
                 "memberships":{"include":{"team":true}}}})");
    KT_ASSERT_OK(r);
    std::string ann = r.str("id");
    EXPECT_EQ(r.str("email"), "ann@x.io");
    ASSERT_EQ(Len(r, "posts"), 2u) << r.text;
    const json_t *one = json_array_get(r.at("posts"), 0);
    EXPECT_STREQ(json_string_value(json_object_get(one, "title")), "one");
    EXPECT_STREQ(json_string_value(json_object_get(one, "authorId")), ann.c_str());
    EXPECT_EQ(json_array_size(json_object_get(one, "comments")), 2u) << r.text;
    EXPECT_STREQ(json_string_value(json_object_get(r.at("profile"), "userId")), ann.c_str());
    EXPECT_EQ(Len(r, "tasks"), 3u);
    ASSERT_EQ(Len(r, "memberships"), 2u);
    EXPECT_EQ(Count("Membership", R"({"role":"owner"})"), 1);
    EXPECT_EQ(Count("Membership", R"({"role":"member"})"), 1);
    EXPECT_EQ(Count("Team"), 2);
    EXPECT_EQ(Count("Comment"), 2);
    ExpectIntact();
}

TEST_F(NestedWrites, ACreateConnectsOrCreatesWhatItBelongsTo)
{
    std::string ann = User("ann@x.io");
    JRes r = Run("Post", "create", R"({"data":{"title":"p","author":{"connect":{"email":"ann@x.io"}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("authorId"), ann);
    r = Run("Post", "create", R"({"data":{"title":"q","author":{"create":{"email":"bob@x.io"}}}})");
    KT_ASSERT_OK(r);
    std::string bob = r.str("authorId");
    EXPECT_EQ(Field("User", bob, "email"), "bob@x.io");
    // connectOrCreate: finds ann, then creates cid
    r = Run("Post", "create", R"({"data":{"title":"r","author":{"connectOrCreate":{"where":{"email":"ann@x.io"},
        "create":{"email":"ann@x.io"}}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("authorId"), ann);
    r = Run("Post", "create", R"({"data":{"title":"s","author":{"connectOrCreate":{"where":{"email":"cid@x.io"},
        "create":{"email":"cid@x.io","name":"Cid"}}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Field("User", r.str("authorId"), "name"), "Cid");
    EXPECT_EQ(Count("User"), 3);
    // a team and its member's edge, from the join model's side
    r = Run("Membership", "create", R"({"data":{"role":"owner","user":{"connect":{"email":"cid@x.io"}},
        "team":{"create":{"name":"ops"}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("role"), "owner");
    ExpectIntact();
}

TEST_F(NestedWrites, AFailingPartWritesNothing)
{
    User("ann@x.io");
    std::vector<long long> before = Counts();
    // a connect that finds nothing, after creates that would have worked
    JRes r = Run("User", "create", R"({"data":{"email":"bob@x.io","posts":{"create":[{"title":"a"}],
        "connect":[{"id":"nope"}]}}})");
    KT_ASSERT_CODE(r, KVORM_ENOTFOUND, "NOT_FOUND");
    EXPECT_NE(r.str("message").find("data.posts.connect"), std::string::npos) << r.text;
    EXPECT_EQ(Counts(), before);
    // two records of the call with one unique value
    r = Run("User", "create", R"({"data":{"email":"bob@x.io","posts":{"create":[{"title":"a","slug":"s"},
        {"title":"b","slug":"s"}]}}})");
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_EQ(Counts(), before);
    // a value taken in the store, deep down
    r = Run("User", "create", R"({"data":{"email":"bob@x.io","posts":{"create":[{"title":"a","slug":"x",
        "comments":{"create":{"text":"c"}}}]},"teams":{"create":{"name":"core"}}}})");
    KT_ASSERT_OK(r);
    before = Counts();
    r = Run("User", "create", R"({"data":{"email":"cid@x.io","posts":{"create":[{"title":"a",
        "comments":{"create":{"text":"c"}}}]},"teams":{"create":{"name":"core"}}}})");
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_EQ(Counts(), before);
    // a create of a record the same call connects (createMany skips what the store holds, not what the call writes)
    r = Run("Task", "create", R"({"data":{"id":"t1","title":"t"}})");
    KT_ASSERT_OK(r);
    before = Counts();
    r = Run("User", "create", R"({"data":{"email":"cid@x.io","tasks":{"connect":{"id":"t1"},
        "createMany":{"data":[{"id":"t1","title":"again"}],"skipDuplicates":true}}}})");
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_NE(r.str("message").find("t1"), std::string::npos) << r.text;
    EXPECT_EQ(Counts(), before);
    // a validation error in a nested record
    r = Run("User", "create", R"({"data":{"email":"cid@x.io","posts":{"create":[{"title":7}]}}})");
    KT_ASSERT_CODE(r, KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(Counts(), before);
    ExpectIntact();
}

TEST_F(NestedWrites, AnUpdateWorksOnAHasMany)
{
    JRes r = Run("User", "create", R"({"data":{"email":"ann@x.io","posts":{"create":[{"title":"a","slug":"a"},
        {"title":"b","slug":"b"},{"title":"c","slug":"c","comments":{"create":[{"text":"x"},{"text":"y"}]}}]}}})");
    KT_ASSERT_OK(r);
    std::string ann = r.str("id");
    std::string bob = User("bob@x.io");
    r = Run("Post", "create", R"({"data":{"title":"d","slug":"d","authorId":)" + JStr(bob) + "}}");
    KT_ASSERT_OK(r);
    // connect moves bob's post to ann; update and updateMany change hers only
    r = Run("User", "update", R"({"where":{"email":"ann@x.io"},"data":{"name":"Ann",
        "posts":{"connect":{"slug":"d"},"update":{"where":{"slug":"a"},"data":{"title":"A"}},
                 "updateMany":{"where":{"title":{"in":["b","c"]}},"data":{"title":"BC"}}}},
        "include":{"posts":{"orderBy":{"slug":"asc"}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("name"), "Ann");
    ASSERT_EQ(Len(r, "posts"), 4u) << r.text;
    EXPECT_EQ(Count("Post", R"({"title":"BC"})"), 2);
    EXPECT_EQ(Count("Post", R"({"title":"A"})"), 1);
    EXPECT_EQ(Count("Post", R"({"authorId":)" + JStr(bob) + "}"), 0);
    // update of a post that is not hers: NOT_FOUND, nothing written
    r = Run("Post", "create", R"({"data":{"title":"e","slug":"e","authorId":)" + JStr(bob) + "}}");
    KT_ASSERT_OK(r);
    std::vector<long long> before = Counts();
    r = Run("User", "update", R"({"where":{"id":)" + JStr(ann) + R"(},"data":{"name":"X",
        "posts":{"update":{"where":{"slug":"e"},"data":{"title":"stolen"}}}}})");
    KT_ASSERT_CODE(r, KVORM_ENOTFOUND, "NOT_FOUND");
    EXPECT_EQ(Field("User", ann, "name"), "Ann");
    EXPECT_EQ(Count("Post", R"({"title":"stolen"})"), 0);
    // the author of a post is required: disconnect is VALIDATION
    r = Run("User", "update", R"({"where":{"id":)" + JStr(ann) + R"(},"data":{"posts":{"disconnect":{"slug":"a"}}}})");
    KT_ASSERT_CODE(r, KVORM_EVALIDATION, "VALIDATION");
    // upsert: updates hers, creates a missing one
    r = Run("User", "update", R"({"where":{"id":)" + JStr(ann) + R"(},"data":{"posts":{"upsert":[
        {"where":{"slug":"a"},"create":{"title":"new a"},"update":{"title":"A2"}},
        {"where":{"slug":"z"},"create":{"title":"Z","slug":"z"},"update":{"title":"never"}}]}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Count("Post", R"({"title":"A2"})"), 1);
    EXPECT_EQ(Count("Post", R"({"slug":"z","authorId":)" + JStr(ann) + "}"), 1);
    // delete cascades to the comments; deleteMany takes the rest of the matches
    EXPECT_EQ(Count("Comment"), 2);
    r = Run("User", "update", R"({"where":{"id":)" + JStr(ann) + R"(},"data":{"posts":{"delete":{"slug":"c"},
        "deleteMany":{"title":"BC"}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Count("Comment"), 0);
    EXPECT_EQ(Count("Post", R"({"authorId":)" + JStr(ann) + "}"), 3); // a, d, z
    ExpectIntact();
}

TEST_F(NestedWrites, AnOptionalHasManyDisconnectsAndSets)
{
    std::string ann = User("ann@x.io");
    JRes r = Run("User", "update", R"({"where":{"id":)" + JStr(ann) + R"(},"data":{"tasks":{"create":[
        {"id":"t1","title":"1"},{"id":"t2","title":"2"},{"id":"t3","title":"3"}]}}})");
    KT_ASSERT_OK(r);
    r = Run("Task", "create", R"({"data":{"id":"t4","title":"4"}})");
    KT_ASSERT_OK(r);
    r = Run("User", "update", R"({"where":{"id":)" + JStr(ann) + R"(},"data":{"tasks":{"disconnect":[{"id":"t1"}]}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Field("Task", "t1", "ownerId"), "null");
    // disconnecting one that is not hers is NOT_FOUND
    r = Run("User", "update", R"({"where":{"id":)" + JStr(ann) + R"(},"data":{"tasks":{"disconnect":{"id":"t4"}}}})");
    KT_ASSERT_CODE(r, KVORM_ENOTFOUND, "NOT_FOUND");
    // set: t2 stays, t3 goes, t4 comes
    r = Run("User", "update", R"({"where":{"id":)" + JStr(ann) + R"(},"data":{"tasks":{"set":[{"id":"t2"},{"id":"t4"}]}},
        "include":{"tasks":{"orderBy":{"title":"asc"}}}})");
    KT_ASSERT_OK(r);
    ASSERT_EQ(Len(r, "tasks"), 2u) << r.text;
    EXPECT_EQ(Field("Task", "t3", "ownerId"), "null");
    EXPECT_EQ(Field("Task", "t4", "ownerId"), ann);
    r = Run("User", "update", R"({"where":{"id":)" + JStr(ann) + R"(},"data":{"tasks":{"set":[]}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Count("Task", R"({"ownerId":)" + JStr(ann) + "}"), 0);
    EXPECT_EQ(Count("Task"), 4);
    ExpectIntact();
}

TEST_F(NestedWrites, AHasOneIsCreatedUpdatedAndDisconnected)
{
    std::string ann = User("ann@x.io");
    std::string where = R"({"where":{"id":)" + JStr(ann) + "}";
    JRes r = Run("User", "update", where + R"(,"data":{"profile":{"create":{"bio":"one"}}},"include":{"profile":true}})");
    KT_ASSERT_OK(r);
    std::string p1 = json_string_value(json_object_get(r.at("profile"), "id"));
    // a second one while the first is there: RELATION, nothing written
    r = Run("User", "update", where + R"(,"data":{"profile":{"create":{"bio":"two"}}}})");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    EXPECT_EQ(Count("Profile"), 1);
    r = Run("User", "update", where + R"(,"data":{"profile":{"update":{"bio":"uno"}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Field("Profile", p1, "bio"), "uno");
    r = Run("User", "update", where + R"(,"data":{"profile":{"upsert":{"create":{"bio":"x"},"update":{"bio":"u2"}}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Field("Profile", p1, "bio"), "u2");
    r = Run("User", "update", where + R"(,"data":{"profile":{"disconnect":true}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Field("Profile", p1, "userId"), "null");
    r = Run("User", "update", where + R"(,"data":{"profile":{"upsert":{"create":{"bio":"fresh"},"update":{"bio":"no"}}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Count("Profile", R"({"userId":)" + JStr(ann) + "}"), 1);
    r = Run("User", "update", where + R"(,"data":{"profile":{"delete":true}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Count("Profile"), 1); // the disconnected one is left
    // connect the old one back
    r = Run("User", "update", where + R"(,"data":{"profile":{"connect":{"id":)" + JStr(p1) + "}}}}");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Field("Profile", p1, "userId"), ann);
    ExpectIntact();
}

TEST_F(NestedWrites, AnUpdateWorksOnWhatItBelongsTo)
{
    std::string ann = User("ann@x.io"), bob = User("bob@x.io");
    JRes r = Run("Task", "create", R"({"data":{"id":"t","title":"t","owner":{"connect":{"id":)" + JStr(ann) + "}}}}");
    KT_ASSERT_OK(r);
    r = Run("Task", "update", R"({"where":{"id":"t"},"data":{"owner":{"connect":{"email":"bob@x.io"}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("ownerId"), bob);
    r = Run("Task", "update", R"({"where":{"id":"t"},"data":{"owner":{"update":{"name":"Bob"}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Field("User", bob, "name"), "Bob");
    r = Run("Task", "update", R"({"where":{"id":"t"},"data":{"owner":{"disconnect":true}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("ownerId"), "");
    EXPECT_TRUE(r.is_null("ownerId")) << r.text;
    r = Run("Task", "update", R"({"where":{"id":"t"},"data":{"owner":{"upsert":{"create":{"email":"cid@x.io"},
        "update":{"name":"never"}}}}})");
    KT_ASSERT_OK(r);
    std::string cid = r.str("ownerId");
    EXPECT_EQ(Field("User", cid, "email"), "cid@x.io");
    // delete the owner: the task stays, without one
    r = Run("Task", "update", R"({"where":{"id":"t"},"data":{"title":"orphan","owner":{"delete":true}}})");
    KT_ASSERT_OK(r);
    EXPECT_TRUE(r.is_null("ownerId")) << r.text;
    EXPECT_EQ(Count("User", R"({"id":)" + JStr(cid) + "}"), 0);
    // a post's author is required: it cannot be disconnected
    r = Run("Post", "create", R"({"data":{"id":"p","title":"p","authorId":)" + JStr(ann) + "}}");
    KT_ASSERT_OK(r);
    r = Run("Post", "update", R"({"where":{"id":"p"},"data":{"author":{"disconnect":true}}})");
    KT_ASSERT_CODE(r, KVORM_EVALIDATION, "VALIDATION");
    // nor deleted through it (it would leave the post without one); updated through it, it can
    r = Run("Post", "update", R"({"where":{"id":"p"},"data":{"title":"x","author":{"update":{"name":"A"}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Field("User", ann, "name"), "A");
    std::vector<long long> before = Counts();
    r = Run("Post", "update", R"({"where":{"id":"p"},"data":{"author":{"delete":true}}})");
    KT_ASSERT_CODE(r, KVORM_EVALIDATION, "VALIDATION");
    EXPECT_EQ(Counts(), before);
    ExpectIntact();
}

TEST_F(NestedWrites, AManyToManyConnectsWithEdgeDataDisconnectsAndSets)
{
    std::string ann = User("ann@x.io");
    for (const char *t : {"a", "b", "c"}) {
        JRes r = Run("Team", "create", std::string(R"({"data":{"name":")") + t + R"("}})");
        KT_ASSERT_OK(r);
    }
    std::string where = R"({"where":{"id":)" + JStr(ann) + "}";
    JRes r = Run("User", "update", where + R"(,"data":{"teams":{"connect":[{"name":"a","$edge":{"role":"owner"}},
        {"name":"b"}],"connectOrCreate":{"where":{"name":"d"},"create":{"name":"d"}}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Count("Membership", R"({"userId":)" + JStr(ann) + "}"), 3);
    EXPECT_EQ(Count("Membership", R"({"role":"owner"})"), 1);
    EXPECT_EQ(Count("Team"), 4);
    // connecting one already connected does nothing; with an edge, it would be a second join record, which the
    // join's unique stops: nothing written
    r = Run("User", "update", where + R"(,"data":{"teams":{"connect":{"name":"a"}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Count("Membership", R"({"userId":)" + JStr(ann) + "}"), 3);
    EXPECT_EQ(Count("Membership", R"({"role":"owner"})"), 1);
    r = Run("User", "update", where + R"(,"data":{"teams":{"connect":{"name":"b","$edge":{"role":"owner"}}}}})");
    KT_ASSERT_CODE(r, KVORM_EUNIQUE, "UNIQUE_VIOLATION");
    EXPECT_EQ(Count("Membership", R"({"role":"owner"})"), 1);
    r = Run("User", "update", where + R"(,"data":{"teams":{"disconnect":{"name":"b"}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(Count("Membership", R"({"userId":)" + JStr(ann) + "}"), 2);
    r = Run("User", "update", where + R"(,"data":{"teams":{"disconnect":{"name":"c"}}}})");
    KT_ASSERT_CODE(r, KVORM_ENOTFOUND, "NOT_FOUND");
    // set: a stays (with its edge), d goes, c comes
    r = Run("User", "update", where + R"(,"data":{"teams":{"set":[{"name":"a"},{"name":"c","$edge":{"role":"owner"}}]}},
        "include":{"memberships":{"include":{"team":true}}}})");
    KT_ASSERT_OK(r);
    ASSERT_EQ(Len(r, "memberships"), 2u) << r.text;
    EXPECT_EQ(Count("Membership", R"({"role":"owner"})"), 2);
    EXPECT_EQ(Count("Team"), 4); // teams are never deleted by a disconnect
    ExpectIntact();
}

TEST_F(NestedWrites, BadNestedWritesAreBadRequestsAndWriteNothing)
{
    std::string ann = User("ann@x.io");
    std::vector<long long> before = Counts();
    struct Case {
        const char *model, *op, *args, *code;
    } cases[] = {
        {"User", "create", R"({"data":{"email":"b","posts":{"frobnicate":{}}}})", "BAD_REQUEST"},
        {"User", "create", R"({"data":{"email":"b","posts":{"delete":{"id":"x"}}}})", "BAD_REQUEST"},
        {"User", "create", R"({"data":{"email":"b","posts":[]}})", "BAD_REQUEST"},
        {"User", "create", R"({"data":{"email":"b","posts":{}}})", "BAD_REQUEST"},
        {"User", "create", R"({"data":{"email":"b","posts":{"createMany":{"data":[{"title":"t",
            "comments":{"create":{"text":"c"}}}]}}}})", "BAD_REQUEST"},
        {"User", "create", R"({"data":{"email":"b","profile":{"create":[{"bio":"a"},{"bio":"b"}]}}})", "BAD_REQUEST"},
        {"User", "create", R"({"data":{"email":"b","teams":{"set":[]}}})", "BAD_REQUEST"},
        {"User", "create", R"({"data":{"email":"b","teams":{"create":{"name":"t","$edge":{"bogus":1}}}}})",
         "VALIDATION"},
        {"Post", "create", R"({"data":{"title":"t","authorId":"x","author":{"connect":{"email":"ann@x.io"}}}})",
         "BAD_REQUEST"},
        {"Post", "create", R"({"data":{"title":"t","author":{"connect":{"email":"ann@x.io"},"create":{"email":"z"}}}})",
         "BAD_REQUEST"},
        {"Post", "create", R"({"data":{"title":"t","author":{"disconnect":true}}})", "BAD_REQUEST"},
        {"Post", "create", R"({"data":{"title":"t","author":{"connect":{"name":"x"}}}})", "BAD_REQUEST"},
        {"Comment", "create", R"({"data":{"text":"t","post":{"create":{"title":"p",
            "author":{"connect":{"email":"ann@x.io"}},"comments":{"create":{"text":"x",
            "post":{"connect":{"id":"y"}}}}}}}})", "BAD_REQUEST"},
        // a counter's id comes from the store: its ticks cannot name it in the same call
        {"Counter", "create", R"({"data":{"n":1,"ticks":{"create":{}}}})", "BAD_REQUEST"},
    };
    for (const Case &c : cases) {
        JRes r = Run(c.model, c.op, c.args);
        ASSERT_NE(r.rc, KVORM_OK) << c.args;
        EXPECT_EQ(r.str("code"), c.code) << c.args << " -> " << r.text;
        EXPECT_EQ(r.str("model").empty(), false) << r.text;
    }
    EXPECT_EQ(Counts(), before);
    ExpectIntact();
}

// A nested connect of a record that another client deletes meanwhile: the call either connects it (the delete then
// cascades to the post) or is refused; never a post whose author is gone.
TEST_F(NestedWrites, AConnectRacingTheDeleteOfItsTargetLeavesNoOrphan)
{
    const int rounds = 30;
    for (int i = 0; i < rounds; i++) {
        std::string email = "u" + std::to_string(i) + "@x.io";
        std::string u = User(email);
        std::atomic<bool> go{false};
        std::thread killer([&] {
            while (!go)
                std::this_thread::yield();
            ExecJson(db_, Req("User", "delete", R"({"where":{"id":)" + JStr(u) + "}}"));
        });
        go = true;
        JRes r = Run("Post", "create", R"({"data":{"title":"p","author":{"connect":{"email":)" + JStr(email) + "}}}}");
        killer.join();
        if (r.rc != KVORM_OK) {
            EXPECT_TRUE(r.str("code") == "NOT_FOUND" || r.str("code") == "RELATION" || r.str("code") == "CONFLICT")
                << r.text;
        }
    }
    EXPECT_EQ(Count("User"), 0);
    EXPECT_EQ(Count("Post"), 0);
    ExpectIntact();
}

} // namespace
} // namespace kt
