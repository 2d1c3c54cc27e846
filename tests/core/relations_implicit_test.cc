// manyToMany without "through" (docs/schema.md, "manyToMany without a join model"): kvorm's join model
// "_PostToTag" is a model as any other: its records are written by nested writes of either side, read by
// include, relation filters and _count of both, deleted with either end; a self-relation's two sides are its two
// directions. These run on both engines.
#include "test_util.h"

namespace kt {
namespace {

const char *const kTags = R"({"namespace":"ij","models":{
  "Post": {"id": {"type": "integer"}, "fields": {"title": {"type": "string"}},
           "relations": {"tags": {"manyToMany": "Tag"}}},
  "Tag": {"id": {"type": "string"}, "fields": {"label": {"type": "string", "optional": true}},
          "relations": {"posts": {"manyToMany": "Post"}}},
  "User": {"id": {"type": "string"}, "fields": {},
           "relations": {"following": {"manyToMany": "User"}, "followers": {"manyToMany": "User"}}}}})";

class ImplicitManyToMany : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = Open(kTags);
        ASSERT_NE(db_, nullptr);
        for (const char *t : {"go", "c", "rust"})
            KT_ASSERT_OK(Run("Tag", "create", std::string(R"({"data":{"id":")") + t + R"("}})"));
    }
    JRes Run(const std::string &model, const std::string &op, const std::string &args = "")
    {
        return ExecJson(db_, Req(model, op, args));
    }
    long long Count(const std::string &model, const std::string &where = "{}")
    {
        JRes r = Run(model, "count", R"({"where":)" + where + "}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return json_integer_value(r.get());
    }
    // The ids of a record's related records, joined by ",".
    static std::string Ids(const json_t *records)
    {
        std::string out;
        for (size_t i = 0; i < json_array_size(records); i++) {
            const json_t *id = json_object_get(json_array_get(records, i), "id");
            out += (out.empty() ? "" : ",") +
                   (json_is_string(id) ? std::string(json_string_value(id)) : std::to_string(json_integer_value(id)));
        }
        return out;
    }
    kvorm_db *db_ = nullptr;
};

TEST_F(ImplicitManyToMany, NestedWritesOfEitherSideKeepOneJoinRecordPerPair)
{
    JRes p = Run("Post", "create", R"({"data":{"id":1,"title":"a","tags":{"connect":[{"id":"go"},{"id":"c"}],
        "create":{"id":"zig"}}},"include":{"tags":{"orderBy":{"id":"asc"}}}})");
    KT_ASSERT_OK(p);
    EXPECT_EQ(Ids(p.at("tags")), "c,go,zig");
    // the join records are kvorm's model's, A the post's id and B the tag's
    JRes j = Run("_PostToTag", "findMany", R"({"orderBy":{"B":"asc"}})");
    KT_ASSERT_OK(j);
    ASSERT_EQ(json_array_size(j.get()), 3u) << j.text;
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(j.get(), 0), "A")), p.integer("id"));
    EXPECT_STREQ(json_string_value(json_object_get(json_array_get(j.get(), 0), "B")), "c");
    // from the other side: the tag connects a second post; connecting a linked pair again adds nothing
    KT_ASSERT_OK(Run("Tag", "update", R"({"where":{"id":"go"},"data":{"posts":{"create":{"id":2,"title":"b"}}}})"));
    std::string where = R"({"where":{"id":)" + std::to_string(p.integer("id")) + "}";
    KT_ASSERT_OK(Run("Post", "update", where + R"(,"data":{"tags":{"connect":{"id":"go"}}}})"));
    EXPECT_EQ(Count("_PostToTag"), 4);
    // a target named twice in one call is linked once
    KT_ASSERT_OK(Run("Post", "update", R"({"where":{"id":2},"data":{"tags":{"connect":[{"id":"rust"},{"id":"rust"}]}}})"));
    EXPECT_EQ(Count("_PostToTag", R"({"A":2})"), 2);
    KT_ASSERT_OK(Run("Post", "update", R"({"where":{"id":2},"data":{"tags":{"disconnect":{"id":"rust"}}}})"));
    EXPECT_EQ(Count("_PostToTag"), 4);
    JRes t = Run("Tag", "findUnique", R"({"where":{"id":"go"},"include":{"posts":{"orderBy":{"title":"desc"}},
        "_count":true}})");
    KT_ASSERT_OK(t);
    EXPECT_EQ(json_array_size(t.at("posts")), 2u) << t.text;
    EXPECT_STREQ(json_string_value(json_object_get(json_array_get(t.at("posts"), 0), "title")), "b");
    EXPECT_EQ(json_integer_value(json_object_get(t.at("_count"), "posts")), 2) << t.text;
    // disconnect and set: join records go, tags stay
    KT_ASSERT_OK(Run("Post", "update", where + R"(,"data":{"tags":{"disconnect":{"id":"zig"}}}})"));
    EXPECT_EQ(Count("_PostToTag"), 3);
    JRes s = Run("Post", "update", where + R"(,"data":{"tags":{"set":[{"id":"rust"}]}},"include":{"tags":true}})");
    KT_ASSERT_OK(s);
    EXPECT_EQ(Ids(s.at("tags")), "rust");
    EXPECT_EQ(Count("_PostToTag"), 2);
    EXPECT_EQ(Count("Tag"), 4);
    // a target that is not there: nothing written
    JRes bad = Run("Post", "update", where + R"(,"data":{"tags":{"connect":[{"id":"c"},{"id":"nope"}]}}})");
    EXPECT_EQ(bad.rc, KVORM_ENOTFOUND) << bad.text;
    EXPECT_EQ(Count("_PostToTag"), 2);
}

TEST_F(ImplicitManyToMany, FiltersCountsAndDeletesOfEitherEnd)
{
    KT_ASSERT_OK(Run("Post", "create", R"({"data":{"id":1,"title":"a","tags":{"connect":[{"id":"go"},{"id":"c"}]}}})"));
    KT_ASSERT_OK(Run("Post", "create", R"({"data":{"id":2,"title":"b","tags":{"connect":[{"id":"go"}]}}})"));
    KT_ASSERT_OK(Run("Post", "create", R"({"data":{"id":3,"title":"c"}})"));
    EXPECT_EQ(Count("Post", R"({"tags":{"some":{"id":"c"}}})"), 1);
    EXPECT_EQ(Count("Post", R"({"tags":{"none":{}}})"), 1);
    EXPECT_EQ(Count("Post", R"({"tags":{"every":{"id":"go"}}})"), 2);  // b, and c with none
    EXPECT_EQ(Count("Tag", R"({"posts":{"some":{"title":"b"}}})"), 1);
    JRes o = Run("Tag", "findMany", R"({"orderBy":[{"posts":{"_count":"desc"}},{"id":"asc"}],"select":{"id":true}})");
    KT_ASSERT_OK(o);
    EXPECT_EQ(Ids(o.get()), "go,c,rust");
    // deleting either end takes its join records with it
    KT_ASSERT_OK(Run("Tag", "delete", R"({"where":{"id":"go"}})"));
    EXPECT_EQ(Count("_PostToTag"), 1);
    KT_ASSERT_OK(Run("Post", "deleteMany", R"({"where":{"title":"a"}})"));
    EXPECT_EQ(Count("_PostToTag"), 0);
    JRes chk = Run("_PostToTag", "check");
    KT_ASSERT_OK(chk);
    EXPECT_TRUE(json_is_true(chk.at("ok"))) << chk.text;
}

TEST_F(ImplicitManyToMany, ASelfRelationsTwoSidesAreItsTwoDirections)
{
    for (const char *u : {"ann", "bob", "cat"})
        KT_ASSERT_OK(Run("User", "create", std::string(R"({"data":{"id":")") + u + R"("}})"));
    KT_ASSERT_OK(Run("User", "update",
                     R"({"where":{"id":"ann"},"data":{"following":{"connect":[{"id":"bob"},{"id":"cat"}]}}})"));
    KT_ASSERT_OK(Run("User", "update", R"({"where":{"id":"bob"},"data":{"following":{"connect":{"id":"cat"}}}})"));
    JRes r = Run("User", "findMany", R"({"orderBy":{"id":"asc"},"include":{"following":{"orderBy":{"id":"asc"}},
        "followers":{"orderBy":{"id":"asc"}}}})");
    KT_ASSERT_OK(r);
    const json_t *ann = json_array_get(r.get(), 0), *bob = json_array_get(r.get(), 1), *cat = json_array_get(r.get(), 2);
    EXPECT_EQ(Ids(json_object_get(ann, "following")), "bob,cat");
    EXPECT_EQ(Ids(json_object_get(ann, "followers")), "");
    EXPECT_EQ(Ids(json_object_get(bob, "followers")), "ann");
    EXPECT_EQ(Ids(json_object_get(cat, "followers")), "ann,bob");
    EXPECT_EQ(Ids(json_object_get(cat, "following")), "");
    // the join record goes from the follower (A) to the followed (B)
    EXPECT_EQ(Count("_UserToUser", R"({"A":"bob","B":"cat"})"), 1);
    EXPECT_EQ(Count("User", R"({"followers":{"some":{"id":"bob"}}})"), 1);
}

}  // namespace
}  // namespace kt
