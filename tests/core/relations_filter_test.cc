// Relation filters (docs/queries.md, Relation filters): some/every/none of a hasMany, is/isNot of a belongsTo
// (by id and by a unique) and of a hasOne, nested, under NOT and OR, in count, updateMany and deleteMany; bad
// shapes are BAD_REQUEST naming the relation. These run on both engines.
#include "test_util.h"

namespace kt {
namespace {

const char *const kBlog = R"({"namespace":"rf","models":{
  "User": {"fields": {"email": {"type": "string", "unique": true}, "name": {"type": "string"}},
           "relations": {"profile": {"hasOne": "Profile"},
                         "posts": {"hasMany": "Post", "inverse": "author"},
                         "edited": {"hasMany": "Post", "inverse": "editor"}}},
  "Profile": {"id": {"type": "integer", "generate": "increment"},
              "fields": {"userId": {"type": "string"}, "bio": {"type": "string"}},
              "relations": {"user": {"belongsTo": "User", "fields": ["userId"]}}},
  "Post": {"id": {"type": "integer", "generate": "increment"},
           "fields": {"authorId": {"type": "string"}, "title": {"type": "string"}, "stars": {"type": "integer"},
                      "editorEmail": {"type": "string", "optional": true}},
           "relations": {"author": {"belongsTo": "User", "fields": ["authorId"], "onDelete": "cascade"},
                         "editor": {"belongsTo": "User", "fields": ["editorEmail"], "references": ["email"]},
                         "tags": {"manyToMany": "Tag", "through": "PostTag"}}},
  "Tag": {"fields": {"name": {"type": "string"}}},
  "PostTag": {"fields": {"postId": {"type": "integer"}, "tagId": {"type": "string"}},
              "relations": {"post": {"belongsTo": "Post", "fields": ["postId"], "onDelete": "cascade"},
                            "tag": {"belongsTo": "Tag", "fields": ["tagId"], "onDelete": "cascade"}}}}})";

class RelationFilters : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = Open(kBlog);
        ASSERT_NE(db_, nullptr);
        // ann: posts of 5 and 1 stars, a profile; bob: one post of 4 stars, edited by ann; cat: no posts
        ann_ = User("ann@x.io", "Ann");
        bob_ = User("bob@x.io", "Bob");
        cat_ = User("cat@x.io", "Cat");
        Post(ann_, "a1", 5);
        Post(ann_, "a2", 1);
        Post(bob_, "b1", 4, "ann@x.io");
        KT_EXPECT_OK(Run("Profile", "create", R"({"data":{"userId":)" + JStr(ann_) + R"(,"bio":"hi"}})"));
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
    void Post(const std::string &author, const std::string &title, int stars, const std::string &editor = "")
    {
        std::string ed = editor.empty() ? "" : R"(,"editorEmail":)" + JStr(editor);
        JRes r = Run("Post", "create", R"({"data":{"authorId":)" + JStr(author) + R"(,"title":)" + JStr(title) +
                                           R"(,"stars":)" + std::to_string(stars) + ed + "}}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
    }
    // The names of the users a where finds, in name order.
    std::string Names(const std::string &where)
    {
        JRes r = Run("User", "findMany",
                     R"({"where":)" + where + R"(,"orderBy":{"name":"asc"},"select":{"name":true}})");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        std::string out;
        for (size_t i = 0; r.doc && i < json_array_size(r.get()); i++)
            out += std::string(out.empty() ? "" : ",") +
                   json_string_value(json_object_get(json_array_get(r.get(), i), "name"));
        return out;
    }
    std::string Titles(const std::string &where)
    {
        JRes r = Run("Post", "findMany",
                     R"({"where":)" + where + R"(,"orderBy":{"title":"asc"},"select":{"title":true}})");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        std::string out;
        for (size_t i = 0; r.doc && i < json_array_size(r.get()); i++)
            out += std::string(out.empty() ? "" : ",") +
                   json_string_value(json_object_get(json_array_get(r.get(), i), "title"));
        return out;
    }
    kvorm_db *db_ = nullptr;
    std::string ann_, bob_, cat_;
};

TEST_F(RelationFilters, SomeEveryAndNoneOfAHasMany)
{
    EXPECT_EQ(Names(R"({"posts":{"some":{"stars":{"gte":4}}}})"), "Ann,Bob");
    EXPECT_EQ(Names(R"({"posts":{"some":{}}})"), "Ann,Bob");
    EXPECT_EQ(Names(R"({"posts":{"none":{}}})"), "Cat");
    EXPECT_EQ(Names(R"({"posts":{"none":{"stars":1}}})"), "Bob,Cat");
    // every holds for a user without posts, as in SQL's NOT EXISTS
    EXPECT_EQ(Names(R"({"posts":{"every":{"stars":{"gte":4}}}})"), "Bob,Cat");
    EXPECT_EQ(Names(R"({"posts":{"every":{"stars":{"gte":4}},"some":{}}})"), "Bob");
    // a hasMany through a unique: the posts ann edits reference her email
    EXPECT_EQ(Names(R"({"edited":{"some":{"title":"b1"}}})"), "Ann");
}

TEST_F(RelationFilters, IsAndIsNotOfToOneRelations)
{
    EXPECT_EQ(Titles(R"({"author":{"is":{"name":"Ann"}}})"), "a1,a2");
    EXPECT_EQ(Titles(R"({"author":{"isNot":{"name":"Ann"}}})"), "b1");
    // by a unique, with a null foreign key: is null, isNot null, and isNot of a where counts the nulls in
    EXPECT_EQ(Titles(R"({"editor":{"is":null}})"), "a1,a2");
    EXPECT_EQ(Titles(R"({"editor":{"isNot":null}})"), "b1");
    EXPECT_EQ(Titles(R"({"editor":{"is":{"name":"Ann"}}})"), "b1");
    EXPECT_EQ(Titles(R"({"editor":{"isNot":{"name":"Ann"}}})"), "a1,a2");
    // a hasOne
    EXPECT_EQ(Names(R"({"profile":{"is":{"bio":"hi"}}})"), "Ann");
    EXPECT_EQ(Names(R"({"profile":{"is":null}})"), "Bob,Cat");
    EXPECT_EQ(Names(R"({"profile":{"isNot":null}})"), "Ann");
}

TEST_F(RelationFilters, NestedAndUnderLogic)
{
    // users who edit a post whose author has a 1-star post: ann edits b1, whose author bob has none
    EXPECT_EQ(Names(R"({"edited":{"some":{"author":{"is":{"posts":{"some":{"stars":1}}}}}}})"), "");
    EXPECT_EQ(Names(R"({"edited":{"some":{"author":{"is":{"posts":{"some":{"stars":4}}}}}}})"), "Ann");
    EXPECT_EQ(Names(R"({"NOT":{"posts":{"some":{}}}})"), "Cat");
    EXPECT_EQ(Names(R"({"OR":[{"profile":{"isNot":null}},{"name":"Cat"}]})"), "Ann,Cat");
    EXPECT_EQ(Names(R"({"posts":{"some":{"stars":{"gte":4}}},"name":{"startsWith":"B"}})"), "Bob");
}

TEST_F(RelationFilters, CountUpdateManyAndDeleteManyTakeThem)
{
    JRes r = Run("User", "count", R"({"where":{"posts":{"some":{}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text, "2");
    r = Run("Post", "updateMany", R"({"where":{"author":{"is":{"email":"ann@x.io"}}},"data":{"stars":3}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 2);
    EXPECT_EQ(Titles(R"({"stars":3})"), "a1,a2");
    r = Run("User", "deleteMany", R"({"where":{"posts":{"none":{}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 1);
    EXPECT_EQ(Names("{}"), "Ann,Bob");
    // in a hasMany include's where too
    r = Run("User", "findUnique", R"({"where":{"id":)" + JStr(bob_) +
                                      R"(},"select":{"posts":{"where":{"editor":{"is":{"name":"Ann"}}},"select":{"title":true}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text, R"({"posts":[{"title":"b1"}]})");
}

TEST_F(RelationFilters, BadShapesAreBadRequestNamingTheRelation)
{
    JRes r = Run("User", "findMany", R"({"where":{"posts":{"is":{}}}})");
    KT_ASSERT_CODE(r, KVORM_EBAD_REQUEST, "BAD_REQUEST");
    EXPECT_NE(r.str("message").find("User.posts"), std::string::npos) << r.text;
    EXPECT_NE(r.str("message").find("\"some\", \"every\" or \"none\""), std::string::npos) << r.text;
    r = Run("Post", "findMany", R"({"where":{"author":{"some":{}}}})");
    KT_ASSERT_CODE(r, KVORM_EBAD_REQUEST, "BAD_REQUEST");
    EXPECT_NE(r.str("message").find("\"is\" or \"isNot\""), std::string::npos) << r.text;
    r = Run("User", "findMany", R"({"where":{"posts":{"some":null}}})");
    KT_ASSERT_CODE(r, KVORM_EBAD_REQUEST, "BAD_REQUEST");
    r = Run("User", "findMany", R"({"where":{"posts":{}}})");
    KT_ASSERT_CODE(r, KVORM_EBAD_REQUEST, "BAD_REQUEST");
    r = Run("User", "findMany", R"({"where":{"posts":3}})");
    KT_ASSERT_CODE(r, KVORM_EBAD_REQUEST, "BAD_REQUEST");
    // the related model's where is checked as its own: an unknown field of Post
    r = Run("User", "findMany", R"({"where":{"posts":{"some":{"nope":1}}}})");
    KT_ASSERT_CODE(r, KVORM_EBAD_REQUEST, "BAD_REQUEST");
    EXPECT_NE(r.str("message").find("not a field of Post"), std::string::npos) << r.text;
    r = Run("Post", "findMany", R"({"where":{"tags":{"some":{"nope":1}}}})");
    KT_ASSERT_CODE(r, KVORM_EBAD_REQUEST, "BAD_REQUEST");
    EXPECT_NE(r.str("message").find("not a field of Tag"), std::string::npos) << r.text;
}

}  // namespace
}  // namespace kt
