// orderBy a relation (docs/queries.md, "orderBy a relation"): a to-one relation's field (belongsTo by id and by a
// unique, hasOne; nulls where there is no target) and a to-many relation's _count (hasMany, manyToMany), beside
// plain keys, with take, skip and a negative take; in an include's orderBy; checked against brute force over
// random data; bad ones are BAD_REQUEST. These run on both engines.
#include <algorithm>
#include <map>
#include <random>
#include <tuple>

#include "test_util.h"

namespace kt {
namespace {

const char *const kShop = R"({"namespace":"ord","models":{
  "User": {"fields": {"email": {"type": "string", "unique": true}, "name": {"type": "string"},
                      "age": {"type": "integer", "optional": true}, "meta": {"type": "json", "optional": true}},
           "relations": {"profile": {"hasOne": "Profile"},
                         "posts": {"hasMany": "Post", "inverse": "author"},
                         "tags": {"manyToMany": "Tag", "through": "UserTag"}}},
  "Profile": {"fields": {"userId": {"type": "string"}, "bio": {"type": "string"}},
              "relations": {"user": {"belongsTo": "User", "fields": ["userId"]}}},
  "Post": {"id": {"type": "integer", "generate": "increment"},
           "fields": {"authorId": {"type": "string"}, "title": {"type": "string"},
                      "editorEmail": {"type": "string", "optional": true}},
           "relations": {"author": {"belongsTo": "User", "fields": ["authorId"]},
                         "editor": {"belongsTo": "User", "fields": ["editorEmail"], "references": ["email"]}}},
  "Tag": {"fields": {"name": {"type": "string", "unique": true}}},
  "UserTag": {"fields": {"userId": {"type": "string"}, "tagId": {"type": "string"}},
              "relations": {"user": {"belongsTo": "User", "fields": ["userId"]},
                            "tag": {"belongsTo": "Tag", "fields": ["tagId"]}}}}})";

class RelationsOrder : public KvTest {
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
    std::string Make(const std::string &model, const std::string &data)
    {
        JRes r = Run(model, "create", R"({"data":)" + data + "}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.rc == KVORM_OK ? r.str("id") : "";
    }
    long long Post(const std::string &author, const std::string &title, const std::string &editor = "")
    {
        std::string ed = editor.empty() ? "" : R"(,"editorEmail":)" + JStr(editor);
        JRes r = Run("Post", "create",
                     R"({"data":{"authorId":)" + JStr(author) + R"(,"title":)" + JStr(title) + ed + "}}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.integer("id");
    }
    // The ids of a findMany's rows, in order.
    std::vector<std::string> Ids(const std::string &model, const std::string &args)
    {
        JRes r = Run(model, "findMany", args);
        EXPECT_EQ(r.rc, KVORM_OK) << args << ": " << r.text;
        std::vector<std::string> out;
        for (size_t i = 0; r.rc == KVORM_OK && i < json_array_size(r.get()); i++) {
            const json_t *id = json_object_get(json_array_get(r.get(), i), "id");
            out.push_back(json_is_string(id) ? json_string_value(id) : std::to_string(json_integer_value(id)));
        }
        return out;
    }
    kvorm_db *db_ = nullptr;
};

TEST_F(RelationsOrder, ByAToOneRelationsField)
{
    std::string cy = Make("User", R"({"email":"c@x.io","name":"Cy"})");
    std::string ann = Make("User", R"({"email":"a@x.io","name":"Ann"})");
    std::string bob = Make("User", R"({"email":"b@x.io","name":"Bob"})");
    long long p1 = Post(cy, "p1", "a@x.io"), p2 = Post(ann, "p2"), p3 = Post(bob, "p3", "c@x.io"),
              p4 = Post(ann, "p4", "b@x.io");
    auto S = [](long long v) { return std::to_string(v); };
    using V = std::vector<std::string>;
    EXPECT_EQ(Ids("Post", R"({"orderBy":{"author":{"name":"asc"}}})"), (V{S(p2), S(p4), S(p3), S(p1)}));
    EXPECT_EQ(Ids("Post", R"({"orderBy":[{"author":{"name":"desc"}},{"id":"desc"}]})"),
              (V{S(p1), S(p3), S(p4), S(p2)}));
    // by a unique's belongsTo; a null foreign key has no target: null, first ascending unless nulls says otherwise
    EXPECT_EQ(Ids("Post", R"({"orderBy":{"editor":{"name":"asc"}}})"), (V{S(p2), S(p1), S(p4), S(p3)}));
    EXPECT_EQ(Ids("Post", R"({"orderBy":{"editor":{"name":{"sort":"asc","nulls":"last"}}}})"),
              (V{S(p1), S(p4), S(p3), S(p2)}));
    // with a where, take, skip and a negative take
    EXPECT_EQ(Ids("Post", R"({"where":{"id":{"not":)" + S(p3) +
                              R"(}},"orderBy":{"author":{"email":"desc"}},"take":2})"),
              (V{S(p1), S(p4)})); // the id breaks ties in the last key's direction
    EXPECT_EQ(Ids("Post", R"({"orderBy":{"author":{"name":"asc"}},"skip":1,"take":-2})"), (V{S(p4), S(p3)}));
    JRes first = Run("Post", "findFirst", R"({"orderBy":{"author":{"name":"desc"}},"select":{"title":true}})");
    EXPECT_EQ(first.text, R"({"title":"p1"})");
    // a hasOne: users without a profile are null
    Make("Profile", R"({"userId":)" + JStr(bob) + R"(,"bio":"a"})");
    Make("Profile", R"({"userId":)" + JStr(cy) + R"(,"bio":"b"})");
    EXPECT_EQ(Ids("User", R"({"orderBy":{"profile":{"bio":"desc"}}})"), (V{cy, bob, ann}));
    // by the target's id
    EXPECT_EQ(Ids("Post", R"({"orderBy":[{"author":{"id":"asc"}},{"id":"asc"}]})").size(), 4u);
}

TEST_F(RelationsOrder, ByAToManyRelationsCount)
{
    std::string ann = Make("User", R"({"email":"a@x.io","name":"Ann"})");
    std::string bob = Make("User", R"({"email":"b@x.io","name":"Bob"})");
    std::string cy = Make("User", R"({"email":"c@x.io","name":"Cy"})");
    for (int i = 0; i < 3; i++)
        Post(bob, "b" + std::to_string(i));
    Post(ann, "a0");
    using V = std::vector<std::string>;
    EXPECT_EQ(Ids("User", R"({"orderBy":[{"posts":{"_count":"desc"}},{"email":"asc"}]})"), (V{bob, ann, cy}));
    EXPECT_EQ(Ids("User", R"({"orderBy":{"posts":{"_count":"asc"}},"take":1})"), (V{cy}));
    // a manyToMany counts its join records
    std::string t1 = Make("Tag", R"({"name":"t1"})"), t2 = Make("Tag", R"({"name":"t2"})");
    for (const std::string &t : {t1, t2})
        Make("UserTag", R"({"userId":)" + JStr(cy) + R"(,"tagId":)" + JStr(t) + "}");
    Make("UserTag", R"({"userId":)" + JStr(ann) + R"(,"tagId":)" + JStr(t1) + "}");
    EXPECT_EQ(Ids("User", R"({"orderBy":[{"tags":{"_count":"desc"}},{"posts":{"_count":"desc"}}]})"),
              (V{cy, ann, bob}));
    // the rows of an include, by a relation of theirs
    JRes r = Run("User", "findUnique",
                 R"({"where":{"email":"c@x.io"},"select":{"tags":{"select":{"name":true},)"
                 R"("orderBy":{"userTags":{"_count":"desc"}}}}})");
    EXPECT_EQ(r.rc, KVORM_EBAD_REQUEST) << "Tag has no relation userTags: " << r.text;
    JRes p = Run("User", "findUnique",
                 R"({"where":{"email":"b@x.io"},"select":{"posts":{"select":{"title":true},)"
                 R"("orderBy":[{"author":{"name":"asc"}},{"title":"desc"}]}}})");
    KT_ASSERT_OK(p);
    EXPECT_EQ(p.text, R"({"posts":[{"title":"b2"},{"title":"b1"},{"title":"b0"}]})");
}

TEST_F(RelationsOrder, BadOrdersOnARelationAreBadRequest)
{
    struct Case {
        const char *model, *args, *mention;
    } cases[] = {
        {"User", R"({"orderBy":{"posts":"asc"}})", "order by its count"},
        {"User", R"({"orderBy":{"posts":{"title":"asc"}}})", "order by its count"},
        {"Post", R"({"orderBy":{"author":"asc"}})", "order by one field of User"},
        {"Post", R"({"orderBy":{"author":{"nope":"asc"}}})", "order by one field of User"},
        {"Post", R"({"orderBy":{"author":{"meta":"asc"}}})", "order by one field of User"},
        {"Post", R"({"orderBy":{"author":{"name":"asc","email":"asc"}}})", "order by one field of User"},
        {"Post", R"({"orderBy":{"author":{"name":"up"}}})", "must be \"asc\" or \"desc\""},
        {"Post", R"({"orderBy":[{"author":{"name":"asc"}},{"author":{"name":"desc"}}]})", "given twice"},
        {"Post", R"({"orderBy":{"author":{"name":"asc"}},"cursor":{"id":1}})", "not with an orderBy on a relation"},
    };
    for (const Case &c : cases) {
        JRes r = Run(c.model, "findMany", c.args);
        EXPECT_EQ(r.rc, KVORM_EBAD_REQUEST) << c.args << " " << r.text;
        EXPECT_NE(r.str("message").find(c.mention), std::string::npos) << c.args << ": " << r.text;
    }
}

// Random users, posts and editors: every order on a relation, against the order computed here.
TEST_F(RelationsOrder, MatchesBruteForce)
{
    std::mt19937 rng(20261206);
    std::vector<std::string> users, emails, names;
    for (int i = 0; i < 12; i++) {
        emails.push_back("u" + std::to_string(i) + "@x.io");
        names.push_back(std::string(1, char('a' + rng() % 5)));
        users.push_back(Make("User", R"({"email":)" + JStr(emails.back()) + R"(,"name":)" + JStr(names.back()) + "}"));
    }
    struct P {
        long long id;
        int author, editor; // editor -1: none
    };
    std::vector<P> posts;
    std::map<int, int> count;
    for (int i = 0; i < 60; i++) {
        int a = (int)(rng() % 12), e = rng() % 3 ? (int)(rng() % 12) : -1;
        posts.push_back({Post(users[a], "t", e < 0 ? "" : emails[e]), a, e});
        count[a]++;
    }
    // posts by author's name desc, editor's name (nulls last), id
    std::vector<P> want = posts;
    std::stable_sort(want.begin(), want.end(), [&](const P &x, const P &y) {
        if (names[x.author] != names[y.author])
            return names[x.author] > names[y.author];
        if ((x.editor < 0) != (y.editor < 0))
            return y.editor < 0;
        if (x.editor >= 0 && names[x.editor] != names[y.editor])
            return names[x.editor] < names[y.editor];
        return x.id < y.id;
    });
    std::vector<std::string> ids;
    for (const P &p : want)
        ids.push_back(std::to_string(p.id));
    EXPECT_EQ(Ids("Post", R"({"orderBy":[{"author":{"name":"desc"}},{"editor":{"name":{"sort":"asc","nulls":"last"}}},)"
                          R"({"id":"asc"}]})"),
              ids);
    std::vector<std::string> page(ids.begin() + 10, ids.begin() + 25);
    EXPECT_EQ(Ids("Post", R"({"orderBy":[{"author":{"name":"desc"}},{"editor":{"name":{"sort":"asc","nulls":"last"}}},)"
                          R"({"id":"asc"}],"skip":10,"take":15})"),
              page);
    // users by their number of posts desc, then email
    std::vector<int> order(12);
    for (int i = 0; i < 12; i++)
        order[i] = i;
    std::sort(order.begin(), order.end(), [&](int x, int y) {
        return std::make_tuple(-count[x], emails[x]) < std::make_tuple(-count[y], emails[y]);
    });
    std::vector<std::string> uw;
    for (int i : order)
        uw.push_back(users[i]);
    EXPECT_EQ(Ids("User", R"({"orderBy":[{"posts":{"_count":"desc"}},{"email":"asc"}]})"), uw);
}

} // namespace
} // namespace kt
