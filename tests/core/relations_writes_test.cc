// Writes keep foreign keys consistent (docs/schema.md, Referential actions): a create, update, upsert or createMany
// that sets a foreign key checks its target inside the same atomic write (RELATION when it is missing, nothing
// written); a delete or a key change acts on the records that reference it as each relation's onDelete/onUpdate
// says (restrict, cascade, setNull, noAction), all or nothing, within the store's atomicManyLimit. These run on both
// engines.
#include <atomic>
#include <thread>

#include "test_util.h"

namespace kt {
namespace {

const char *const kShop = R"({"namespace":"rw","models":{
  "User": {"fields": {"email": {"type": "string", "unique": true}, "name": {"type": "string"}},
           "relations": {"profile": {"hasOne": "Profile"},
                         "posts": {"hasMany": "Post", "inverse": "author"},
                         "edited": {"hasMany": "Post", "inverse": "editor"}}},
  "Profile": {"id": {"type": "integer", "generate": "increment"},
              "fields": {"userId": {"type": "string"}, "bio": {"type": "string"}},
              "relations": {"user": {"belongsTo": "User", "fields": ["userId"]}}},
  "Post": {"id": {"type": "integer", "generate": "increment"},
           "fields": {"authorId": {"type": "string"}, "title": {"type": "string"},
                      "editorEmail": {"type": "string", "optional": true}},
           "relations": {"author": {"belongsTo": "User", "fields": ["authorId"], "onDelete": "cascade"},
                         "editor": {"belongsTo": "User", "fields": ["editorEmail"], "references": ["email"]},
                         "comments": {"hasMany": "Comment"}, "pins": {"hasMany": "Pin"}}},
  "Comment": {"id": {"type": "integer", "generate": "increment"},
              "fields": {"postId": {"type": "integer"}, "text": {"type": "string"}},
              "relations": {"post": {"belongsTo": "Post", "fields": ["postId"], "onDelete": "cascade"}}},
  "Pin": {"id": {"type": "integer", "generate": "increment"},
          "fields": {"postId": {"type": "integer"}},
          "relations": {"post": {"belongsTo": "Post", "fields": ["postId"], "onDelete": "noAction"}}},
  "Node": {"id": {"type": "integer", "generate": "increment"},
           "fields": {"parentId": {"type": "integer", "optional": true}, "name": {"type": "string"}},
           "relations": {"parent": {"belongsTo": "Node", "fields": ["parentId"], "onDelete": "cascade"},
                         "children": {"hasMany": "Node", "inverse": "parent"}}}}})";

class RelationWrites : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = Open(kShop);
        ASSERT_NE(db_, nullptr);
    }
    JRes Run(const std::string &model, const std::string &op, const std::string &args = "")
    {
        return ExecJson(db_, Req(model, op, args));
    }
    std::string User(const std::string &email)
    {
        JRes r = Run("User", "create", R"({"data":{"email":)" + JStr(email) + R"(,"name":"n"}})");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.str("id");
    }
    long long Post(const std::string &author, const std::string &editor = "")
    {
        std::string ed = editor.empty() ? "" : R"(,"editorEmail":)" + JStr(editor);
        JRes r = Run("Post", "create", R"({"data":{"authorId":)" + JStr(author) + R"(,"title":"t")" + ed + "}}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.integer("id");
    }
    long long Comment(long long post)
    {
        JRes r = Run("Comment", "create", R"({"data":{"postId":)" + std::to_string(post) + R"(,"text":"c"}})");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.integer("id");
    }
    long long Count(const std::string &model, const std::string &where = "")
    {
        JRes r = Run(model, "count", where.empty() ? "" : R"({"where":)" + where + "}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.doc ? (long long)json_integer_value(r.get()) : -1;
    }
    // Every model's index and unique entries agree with its records.
    void ExpectIntact()
    {
        for (const char *m : {"User", "Profile", "Post", "Comment", "Pin", "Node"}) {
            JRes r = Run(m, "check");
            ASSERT_EQ(r.rc, KVORM_OK) << r.text;
            EXPECT_TRUE(json_is_true(r.at("ok"))) << m << ": " << r.text;
        }
    }
    kvorm_db *db_ = nullptr;
};

TEST_F(RelationWrites, ACreateWhoseTargetIsMissingIsRelationAndWritesNothing)
{
    JRes r = Run("Post", "create", R"({"data":{"authorId":"nobody","title":"t"}})");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    EXPECT_EQ(r.str("model"), "Post");
    EXPECT_EQ(r.fields(), std::vector<std::string>{"authorId"});
    EXPECT_NE(r.str("message").find("\"nobody\""), std::string::npos) << r.text;
    EXPECT_FALSE(json_is_true(r.at("retryable"))) << r.text;
    EXPECT_EQ(Count("Post"), 0);
    // a reference by a unique key: the editor's email
    std::string ann = User("ann@x.io");
    r = Run("Post", "create", R"({"data":{"authorId":)" + JStr(ann) + R"(,"title":"t","editorEmail":"zed@x.io"}})");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    EXPECT_EQ(r.fields(), std::vector<std::string>{"editorEmail"});
    EXPECT_EQ(Count("Post"), 0);
    // the increment id was not taken by the refused writes' records: the next one is the first
    EXPECT_GE(Post(ann, "ann@x.io"), 1);
    EXPECT_EQ(Count("Post"), 1);
    // a null optional key has no target to check
    r = Run("Post", "create", R"({"data":{"authorId":)" + JStr(ann) + R"(,"title":"t","editorEmail":null}})");
    KT_EXPECT_OK(r);
    ExpectIntact();
}

TEST_F(RelationWrites, AnUpdateOrUpsertToAMissingTargetLeavesTheRecordAsItWas)
{
    std::string ann = User("ann@x.io");
    long long p = Post(ann);
    std::string where = R"({"where":{"id":)" + std::to_string(p) + "}";
    JRes r = Run("Post", "update", where + R"(,"data":{"authorId":"ghost"}})");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    r = Run("Post", "update", where + R"(,"data":{"editorEmail":"ghost@x.io","title":"new"}})");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    r = Run("Post", "findUnique", where + "}");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("authorId"), ann);
    EXPECT_EQ(r.str("title"), "t");
    EXPECT_TRUE(r.is_null("editorEmail"));
    // upsert: its create and its update both check
    r = Run("Post", "upsert", R"({"where":{"id":99},"create":{"authorId":"ghost","title":"u"},"update":{}})");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    r = Run("Post", "upsert", where + R"(,"create":{"authorId":"x","title":"u"},"update":{"authorId":"ghost"}})");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    EXPECT_EQ(Count("Post"), 1);
    // and a change to an existing target passes
    std::string bob = User("bob@x.io");
    r = Run("Post", "update", where + R"(,"data":{"authorId":)" + JStr(bob) + R"(,"editorEmail":"ann@x.io"}})");
    KT_EXPECT_OK(r);
    ExpectIntact();
}

TEST_F(RelationWrites, CreateManyIsAllOrNothingOverItsTargets)
{
    std::string ann = User("ann@x.io");
    JRes r = Run("Post", "createMany",
                 R"({"data":[{"authorId":)" + JStr(ann) + R"(,"title":"a"},{"authorId":"ghost","title":"b"},)"
                 R"({"authorId":)" + JStr(ann) + R"(,"title":"c"}]})");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    EXPECT_EQ(Count("Post"), 0);
    r = Run("Post", "createMany",
            R"({"data":[{"authorId":)" + JStr(ann) + R"(,"title":"a"},{"authorId":)" + JStr(ann) +
                R"(,"title":"b","editorEmail":"ann@x.io"}]})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 2);
    ExpectIntact();
}

TEST_F(RelationWrites, RestrictRefusesTheDeleteOfAReferencedRecord)
{
    std::string ann = User("ann@x.io");
    JRes r = Run("Profile", "create", R"({"data":{"userId":)" + JStr(ann) + R"(,"bio":"b"}})");
    KT_ASSERT_OK(r);
    r = Run("User", "delete", R"({"where":{"id":)" + JStr(ann) + "}}");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    EXPECT_EQ(r.str("model"), "User");
    EXPECT_NE(r.str("message").find("Profile.user"), std::string::npos) << r.text;
    EXPECT_NE(r.str("message").find("onDelete restrict"), std::string::npos) << r.text;
    EXPECT_EQ(Count("User"), 1);
    EXPECT_EQ(Count("Profile"), 1);
    // once the profile is gone, the user may go
    KT_ASSERT_OK(Run("Profile", "deleteMany", "{}"));
    KT_ASSERT_OK(Run("User", "delete", R"({"where":{"id":)" + JStr(ann) + "}}"));
    EXPECT_EQ(Count("User"), 0);
    ExpectIntact();
}

TEST_F(RelationWrites, CascadeDeletesTheReferencingRecordsLevelByLevel)
{
    std::string ann = User("ann@x.io"), bob = User("bob@x.io");
    long long a1 = Post(ann), a2 = Post(ann), b1 = Post(bob);
    Comment(a1);
    Comment(a1);
    Comment(a2);
    long long keep = Comment(b1);
    JRes r = Run("User", "delete", R"({"where":{"email":"ann@x.io"}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("id"), ann);  // the deleted root, as delete always returns it
    EXPECT_EQ(Count("Post"), 1);
    EXPECT_EQ(Count("Comment"), 1);
    r = Run("Comment", "findMany");
    KT_ASSERT_OK(r);
    ASSERT_EQ(json_array_size(r.get()), 1u);
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(r.get(), 0), "id")), keep);
    ExpectIntact();
}

TEST_F(RelationWrites, SetNullClearsAnOptionalKeyAndKeepsTheRecord)
{
    std::string ann = User("ann@x.io"), bob = User("bob@x.io");
    long long p = Post(ann, "bob@x.io"), q = Post(bob, "bob@x.io");
    // bob's own post cascades away; ann's post loses its editor
    JRes r = Run("User", "delete", R"({"where":{"id":)" + JStr(bob) + "}}");
    KT_ASSERT_OK(r);
    r = Run("Post", "findUnique", R"({"where":{"id":)" + std::to_string(p) + R"(},"select":{"editorEmail":true,"$version":true}})");
    KT_ASSERT_OK(r);
    EXPECT_TRUE(r.is_null("editorEmail")) << r.text;
    EXPECT_EQ(r.integer("$version"), 2);  // a set null is an update: it bumps the version
    r = Run("Post", "findUnique", R"({"where":{"id":)" + std::to_string(q) + "}}");
    KT_ASSERT_OK(r);
    EXPECT_TRUE(r.get() && json_is_null(r.get())) << r.text;
    // the cleared key left the index: nothing is found by it
    EXPECT_EQ(Count("Post", R"({"editorEmail":"bob@x.io"})"), 0);
    ExpectIntact();
}

TEST_F(RelationWrites, ARestrictDeepInACascadeRefusesTheWholeDelete)
{
    std::string ann = User("ann@x.io");
    long long a1 = Post(ann), a2 = Post(ann);
    Comment(a1);
    JRes r = Run("Pin", "create", R"({"data":{"postId":)" + std::to_string(a2) + "}}");
    KT_ASSERT_OK(r);
    r = Run("User", "delete", R"({"where":{"id":)" + JStr(ann) + "}}");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    EXPECT_NE(r.str("message").find("Pin.post"), std::string::npos) << r.text;
    EXPECT_NE(r.str("message").find("onDelete noAction"), std::string::npos) << r.text;
    EXPECT_EQ(Count("User"), 1);
    EXPECT_EQ(Count("Post"), 2);
    EXPECT_EQ(Count("Comment"), 1);
    EXPECT_EQ(Count("Pin"), 1);
    ExpectIntact();
}

TEST_F(RelationWrites, ACascadeThroughACycleEnds)
{
    JRes r = Run("Node", "create", R"({"data":{"name":"a"}})");
    KT_ASSERT_OK(r);
    long long a = r.integer("id");
    r = Run("Node", "create", R"({"data":{"name":"b","parentId":)" + std::to_string(a) + "}}");
    KT_ASSERT_OK(r);
    long long b = r.integer("id");
    r = Run("Node", "create", R"({"data":{"name":"c","parentId":)" + std::to_string(b) + "}}");
    KT_ASSERT_OK(r);
    // a's parent is c: a -> c -> b -> a
    KT_ASSERT_OK(Run("Node", "update", R"({"where":{"id":)" + std::to_string(a) + R"(},"data":{"parentId":)" +
                                           std::to_string(r.integer("id")) + "}}"));
    r = Run("Node", "create", R"({"data":{"name":"other"}})");
    KT_ASSERT_OK(r);
    KT_ASSERT_OK(Run("Node", "delete", R"({"where":{"id":)" + std::to_string(b) + "}}"));
    r = Run("Node", "findMany");
    KT_ASSERT_OK(r);
    ASSERT_EQ(json_array_size(r.get()), 1u) << r.text;
    EXPECT_STREQ(json_string_value(json_object_get(json_array_get(r.get(), 0), "name")), "other");
    // a record may reference itself
    r = Run("Node", "create", R"({"data":{"name":"self"}})");
    KT_ASSERT_OK(r);
    std::string self = std::to_string(r.integer("id"));
    KT_ASSERT_OK(Run("Node", "update", R"({"where":{"id":)" + self + R"(},"data":{"parentId":)" + self + "}}"));
    KT_ASSERT_OK(Run("Node", "delete", R"({"where":{"id":)" + self + "}}"));
    EXPECT_EQ(Count("Node"), 1);
    ExpectIntact();
}

TEST_F(RelationWrites, DeleteManyCountsItsRootsAndCascadesFromEach)
{
    std::string ann = User("ann@x.io"), bob = User("bob@x.io"), cat = User("cat@x.io");
    Comment(Post(ann));
    Post(bob);
    Post(cat, "ann@x.io");
    JRes r = Run("User", "deleteMany", R"({"where":{"email":{"in":["ann@x.io","bob@x.io"]}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 2);
    EXPECT_EQ(Count("User"), 1);
    EXPECT_EQ(Count("Comment"), 0);
    r = Run("Post", "findMany");
    KT_ASSERT_OK(r);
    ASSERT_EQ(json_array_size(r.get()), 1u);
    EXPECT_TRUE(json_is_null(json_object_get(json_array_get(r.get(), 0), "editorEmail"))) << r.text;
    ExpectIntact();
}

TEST_F(RelationWrites, OnUpdateRestrictGuardsAReferencedUniqueKey)
{
    std::string ann = User("ann@x.io");
    User("bob@x.io");
    Post(ann, "bob@x.io");
    // ann's email is referenced by nothing; bob's is an editor's key
    KT_ASSERT_OK(Run("User", "update", R"({"where":{"email":"ann@x.io"},"data":{"email":"ann2@x.io"}})"));
    JRes r = Run("User", "update", R"({"where":{"email":"bob@x.io"},"data":{"email":"bob2@x.io"}})");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    EXPECT_NE(r.str("message").find("onUpdate restrict"), std::string::npos) << r.text;
    EXPECT_EQ(Count("User", R"({"email":"bob@x.io"})"), 1);
    // a change of other fields is not a change of the key
    KT_ASSERT_OK(Run("User", "update", R"({"where":{"email":"bob@x.io"},"data":{"name":"Bob"}})"));
    r = Run("User", "updateMany", R"({"where":{},"data":{"email":"same@x.io"}})");
    EXPECT_NE(r.rc, KVORM_OK) << r.text;  // a unique violation or a restricted key: nothing is written
    EXPECT_EQ(Count("User", R"({"email":"bob@x.io"})"), 1);
    ExpectIntact();
}

TEST_F(RelationWrites, ACascadeOverTheAtomicBoundIsRefusedWholly)
{
    JRes caps = ExecJson(db_, R"({"op":"capabilities"})");
    KT_ASSERT_OK(caps);
    EXPECT_TRUE(json_is_true(caps.at("relations"))) << caps.text;
    long long bound = caps.integer("atomicManyLimit");
    ASSERT_GT(bound, 0);
    std::string ann = User("ann@x.io"), bob = User("bob@x.io");
    // ann and her posts are bound + 1 records: over the bound; bob and his, bound: within it
    auto posts = [&](const std::string &who, long long n) {
        for (long long done = 0; done < n;) {
            std::string data;
            long long k = std::min(n - done, 500LL);
            for (long long i = 0; i < k; i++)
                data += std::string(i ? "," : "") + R"({"authorId":)" + JStr(who) + R"(,"title":"t"})";
            KT_ASSERT_OK(Run("Post", "createMany", R"({"data":[)" + data + "]}"));
            done += k;
        }
    };
    posts(ann, bound);
    posts(bob, bound - 1);
    JRes r = Run("User", "delete", R"({"where":{"id":)" + JStr(ann) + "}}");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    EXPECT_NE(r.str("message").find(std::to_string(bound)), std::string::npos) << r.text;
    EXPECT_EQ(Count("Post"), 2 * bound - 1);
    EXPECT_EQ(Count("User"), 2);
    KT_ASSERT_OK(Run("User", "delete", R"({"where":{"id":)" + JStr(bob) + "}}"));
    EXPECT_EQ(Count("Post"), bound);
    // deleteMany splits its roots into writes within the bound: each root's cascade fits, so all go
    std::string cat = User("cat@x.io");
    posts(cat, bound / 2);
    KT_ASSERT_OK(Run("Post", "deleteMany", R"({"where":{"authorId":)" + JStr(ann) + "}}"));
    posts(ann, bound / 2);
    r = Run("User", "deleteMany", "{}");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 2);
    EXPECT_EQ(Count("Post"), 0);
    ExpectIntact();
}

TEST_F(RelationWrites, InChunksACascadeOverTheBoundGoesDeepestFirst)
{
    JRes caps = ExecJson(db_, R"({"op":"capabilities"})");
    KT_ASSERT_OK(caps);
    long long bound = caps.integer("atomicManyLimit");
    ASSERT_GT(bound, 0);
    std::string ann = User("ann@x.io"), bob = User("bob@x.io"), cat = User("cat@x.io");
    // posts of `who`, `n` of them, edited by `editor` when given; returns the first one's id
    auto posts = [&](const std::string &who, long long n, const std::string &editor) {
        long long first = 0;
        for (long long done = 0; done < n;) {
            std::string data, ed = editor.empty() ? "" : R"(,"editorEmail":)" + JStr(editor);
            long long k = std::min(n - done, 500LL);
            for (long long i = 0; i < k; i++)
                data += std::string(i ? "," : "") + R"({"authorId":)" + JStr(who) + R"(,"title":"t")" + ed + "}";
            KT_EXPECT_OK(Run("Post", "createMany", R"({"data":[)" + data + "]}"));
            done += k;
        }
        JRes f = Run("Post", "findFirst", R"({"where":{"authorId":)" + JStr(who) + R"(},"orderBy":{"id":"asc"}})");
        first = f.integer("id");
        return first;
    };
    // ann: 2 x bound + 3 posts, the first 5 with a comment each; bob: bound + 2 posts ann edits (set null)
    long long a0 = posts(ann, 2 * bound + 3, "");
    for (long long i = 0; i < 5; i++)
        Comment(a0 + i);
    posts(bob, bound + 2, "ann@x.io");
    std::string where = R"({"where":{"id":)" + JStr(ann) + "}";
    JRes r = Run("User", "delete", where + "}");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    r = Run("User", "delete", where + R"(,"inChunks":"yes"})");
    KT_ASSERT_CODE(r, KVORM_EBAD_REQUEST, "BAD_REQUEST");
    r = Run("User", "delete", where + R"(,"inChunks":true})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("email"), "ann@x.io");
    EXPECT_EQ(Count("Post", R"({"authorId":)" + JStr(ann) + "}"), 0);
    EXPECT_EQ(Count("Comment"), 0);
    EXPECT_EQ(Count("Post", R"({"editorEmail":null})"), bound + 2);
    EXPECT_EQ(Count("User"), 2);
    ExpectIntact();
    // a noAction met in the second chunk: the first chunk stays deleted, the rest and cat as they were, all
    // consistent; without the pin the same call goes through
    long long c0 = posts(cat, bound + 5, "");
    JRes pin = Run("Pin", "create", R"({"data":{"postId":)" + std::to_string(c0 + bound + 2) + "}}");
    KT_ASSERT_OK(pin);
    where = R"({"where":{"id":)" + JStr(cat) + "}";
    r = Run("User", "delete", where + R"(,"inChunks":true})");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    EXPECT_EQ(Count("Post", R"({"authorId":)" + JStr(cat) + "}"), 5);
    EXPECT_EQ(Count("User"), 2);
    ExpectIntact();
    KT_ASSERT_OK(Run("Pin", "delete", R"({"where":{"id":)" + std::to_string(pin.integer("id")) + "}}"));
    // a record that restricts cat's own delete (her profile) is found before any chunk: nothing is written
    JRes prof = Run("Profile", "create", R"({"data":{"userId":)" + JStr(cat) + R"(,"bio":"b"}})");
    KT_ASSERT_OK(prof);
    r = Run("User", "delete", where + R"(,"inChunks":true})");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    EXPECT_NE(r.str("message").find("Profile.user"), std::string::npos) << r.text;
    EXPECT_EQ(Count("Post", R"({"authorId":)" + JStr(cat) + "}"), 5);
    KT_ASSERT_OK(Run("Profile", "delete", R"({"where":{"id":)" + std::to_string(prof.integer("id")) + "}}"));
    // a node that is its own parent, with more children than one write holds: they go in chunks, it last
    JRes root = Run("Node", "create", R"({"data":{"name":"root"}})");
    KT_ASSERT_OK(root);
    std::string rid = std::to_string(root.integer("id"));
    KT_ASSERT_OK(Run("Node", "update", R"({"where":{"id":)" + rid + R"(},"data":{"parentId":)" + rid + "}}"));
    for (long long done = 0; done < bound + 3;) {
        std::string data;
        long long k = std::min(bound + 3 - done, 500LL);
        for (long long i = 0; i < k; i++)
            data += std::string(i ? "," : "") + R"({"parentId":)" + rid + R"(,"name":"n"})";
        KT_ASSERT_OK(Run("Node", "createMany", R"({"data":[)" + data + "]}"));
        done += k;
    }
    r = Run("Node", "delete", R"({"where":{"id":)" + rid + R"(},"inChunks":true})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.str("name"), "root");
    EXPECT_EQ(Count("Node"), 0);
    // deleteMany takes it too
    r = Run("User", "deleteMany", R"({"where":{"email":{"in":["cat@x.io","bob@x.io"]}},"inChunks":true})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 2);
    EXPECT_EQ(Count("Post"), 0);
    ExpectIntact();
}

TEST_F(RelationWrites, PostsCreatedWhileTheirAuthorIsDeletedLeaveNoOrphans)
{
    for (int round = 0; round < 5; round++) {
        std::string ann = User("ann" + std::to_string(round) + "@x.io");
        for (int i = 0; i < 20; i++)
            Post(ann);
        std::atomic<bool> go{false};
        std::atomic<int> created{0}, refused{0}, other{0};
        std::vector<std::thread> writers;
        for (int t = 0; t < 3; t++)
            writers.emplace_back([&] {
                while (!go)
                    std::this_thread::yield();
                for (int i = 0; i < 30; i++) {
                    JRes r = ExecJson(db_, Req("Post", "create",
                                               R"({"data":{"authorId":)" + JStr(ann) + R"(,"title":"race"}})"));
                    (r.rc == KVORM_OK ? created : r.rc == KVORM_ERELATION ? refused : other)++;
                }
            });
        go = true;
        JRes del = ExecJson(db_, Req("User", "delete", R"({"where":{"id":)" + JStr(ann) + "}}"));
        for (auto &w : writers)
            w.join();
        // the delete may be retried away only as a retryable CONFLICT, never leave half its cascade
        if (del.rc != KVORM_OK) {
            ASSERT_EQ(del.rc, KVORM_ECONFLICT) << del.text;
            KT_ASSERT_OK(Run("User", "delete", R"({"where":{"id":)" + JStr(ann) + "}}"));
        }
        EXPECT_EQ(other.load(), 0);
        EXPECT_EQ(created + refused, 90);
        EXPECT_EQ(Count("Post", R"({"authorId":)" + JStr(ann) + "}"), 0) << "round " << round;
    }
    ExpectIntact();
}

TEST_F(RelationWrites, CheckReportsAForeignKeyThatNamesNoRecord)
{
    std::string ann = User("ann@x.io");
    Post(ann, "ann@x.io");
    // written through a schema without the relations, on the same data: a key that names no record
    kvorm_db *plain = Open(R"({"namespace":"rw","models":{
      "Post": {"id": {"type": "integer", "generate": "increment"},
               "fields": {"authorId": {"type": "string"}, "title": {"type": "string"},
                          "editorEmail": {"type": "string", "optional": true}},
               "indexes": [["authorId"], ["editorEmail"]]}}})");
    ASSERT_NE(plain, nullptr);
    KT_ASSERT_OK(ExecJson(
        plain, Req("Post", "create", R"({"data":{"authorId":"ghost","title":"o","editorEmail":"z@x.io"}})")));
    JRes r = Run("Post", "check");
    KT_ASSERT_OK(r);
    EXPECT_FALSE(json_is_true(r.at("ok"))) << r.text;
    const json_t *problems = r.at("problems");
    ASSERT_EQ(json_array_size(problems), 2u) << r.text;
    std::set<std::string> where;
    for (size_t i = 0; i < 2; i++) {
        const json_t *p = json_array_get(problems, i);
        EXPECT_STREQ(json_string_value(json_object_get(p, "kind")), "dangling") << r.text;
        EXPECT_EQ(json_integer_value(json_object_get(p, "id")), 2) << r.text;
        where.insert(json_string_value(json_object_get(p, "index")));
    }
    EXPECT_EQ(where, (std::set<std::string>{"author", "editor"}));
    // deletes act on what references the deleted records, and leave the orphan alone
    KT_ASSERT_OK(Run("User", "deleteMany", "{}"));
    EXPECT_EQ(Count("Post"), 1);  // the cascade took ann's post, not the orphan (nothing references "ghost")
}

}  // namespace
}  // namespace kt
