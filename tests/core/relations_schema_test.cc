// Relations in the schema (docs/schema.md, Relations): belongsTo, hasOne, hasMany and manyToMany resolved against
// the other models, the foreign keys' indexes and uniques added, and the SCHEMA errors that name the relation.
#include <cstring>
#include <string>
#include <vector>

#include "schema_loader.h"
#include "test_util.h"

namespace kt {
namespace {

struct Loaded : LoadedSchema {
    using LoadedSchema::LoadedSchema;
    const kv_relation *Rel(const char *model, const char *name) const
    {
        const kv_model *m = Model(model);
        int i = m ? kv_model_relation(m, name, std::strlen(name)) : -1;
        return i < 0 ? nullptr : &m->relations[i];
    }
};

// The issue's example, less the referential actions (refused until writes check foreign keys).
const char *const kBlog = R"({"namespace":"blog","models":{
  "User": {"fields": {"email": {"type": "string", "unique": true}},
           "relations": {"posts": {"hasMany": "Post", "inverse": "author"},
                         "memberships": {"hasMany": "Membership"},
                         "profile": {"hasOne": "Profile"},
                         "teams": {"manyToMany": "Team", "through": "Membership"}}},
  "Profile": {"fields": {"userId": {"type": "string"}, "bio": {"type": "string"}},
              "relations": {"user": {"belongsTo": "User", "fields": ["userId"]}}},
  "Post": {"fields": {"authorId": {"type": "string"}, "title": {"type": "string"},
                      "editorEmail": {"type": "string", "optional": true}},
           "relations": {"author": {"belongsTo": "User", "fields": ["authorId"]},
                         "editor": {"belongsTo": "User", "fields": ["editorEmail"], "references": ["email"]}}},
  "Team": {"fields": {"name": {"type": "string"}},
           "relations": {"members": {"manyToMany": "User", "through": "Membership"}}},
  "Membership": {"fields": {"userId": {"type": "string"}, "teamId": {"type": "string"},
                            "role": {"type": "enum", "values": ["owner", "member"]}},
                 "unique": [["userId", "teamId"]],
                 "relations": {"user": {"belongsTo": "User", "fields": ["userId"]},
                               "team": {"belongsTo": "Team", "fields": ["teamId"]}}}}})";

TEST(RelationsSchema, TheExampleResolvesEveryKind)
{
    Loaded l(kBlog);
    ASSERT_EQ(l.rc, 0) << l.err.message;
    const kv_model *user = l.Model("User"), *post = l.Model("Post"), *ms = l.Model("Membership");
    ASSERT_EQ(user->nrelations, 4);

    const kv_relation *author = l.Rel("Post", "author");
    ASSERT_NE(author, nullptr);
    EXPECT_EQ(author->kind, KV_REL_BELONGS_TO);
    EXPECT_EQ(author->target, user->position);
    ASSERT_EQ(author->nfields, 1);
    EXPECT_EQ(author->fields[0], kv_model_field(post, "authorId", 8));
    EXPECT_EQ(author->references, -1) << "the id by default";
    EXPECT_FALSE(author->optional);

    const kv_relation *editor = l.Rel("Post", "editor");
    EXPECT_EQ(editor->references, kv_model_unique(user, "email", 5));
    EXPECT_TRUE(editor->optional);

    const kv_relation *posts = l.Rel("User", "posts");
    EXPECT_EQ(posts->kind, KV_REL_HAS_MANY);
    EXPECT_EQ(posts->target, post->position);
    EXPECT_EQ(&post->relations[posts->inverse], author);
    // without "inverse": the one belongsTo of Membership that points to User
    EXPECT_EQ(&ms->relations[l.Rel("User", "memberships")->inverse], l.Rel("Membership", "user"));

    const kv_relation *teams = l.Rel("User", "teams");
    EXPECT_EQ(teams->kind, KV_REL_MANY_TO_MANY);
    EXPECT_EQ(teams->through, ms->position);
    EXPECT_EQ(&ms->relations[teams->through_from], l.Rel("Membership", "user"));
    EXPECT_EQ(&ms->relations[teams->through_to], l.Rel("Membership", "team"));
    const kv_relation *members = l.Rel("Team", "members");
    EXPECT_EQ(&ms->relations[members->through_from], l.Rel("Membership", "team"));
    EXPECT_EQ(&ms->relations[members->through_to], l.Rel("Membership", "user"));
}

TEST(RelationsSchema, ForeignKeysGetAnIndexAndAHasOnesAUnique)
{
    Loaded l(kBlog);
    ASSERT_EQ(l.rc, 0) << l.err.message;
    const kv_model *post = l.Model("Post"), *ms = l.Model("Membership"), *profile = l.Model("Profile");
    // Post: an index per foreign key, named like "index": true names it
    const kv_relation *author = l.Rel("Post", "author"), *editor = l.Rel("Post", "editor");
    ASSERT_GE(author->fk_index, 0);
    EXPECT_STREQ(post->indexes[author->fk_index].name, "authorId");
    EXPECT_STREQ(post->indexes[editor->fk_index].name, "editorEmail");
    EXPECT_EQ(author->fk_unique, -1);
    // Membership: userId leads the compound unique's fields but the unique is not only userId: an index is added;
    // teamId gets its own
    EXPECT_STREQ(ms->indexes[l.Rel("Membership", "user")->fk_index].name, "userId");
    EXPECT_STREQ(ms->indexes[l.Rel("Membership", "team")->fk_index].name, "teamId");
    // Profile: the inverse of a hasOne: its foreign key is unique (one profile per user), and indexed too (a delete
    // of the user counts its range)
    const kv_relation *user = l.Rel("Profile", "user");
    ASSERT_GE(user->fk_unique, 0);
    EXPECT_STREQ(profile->uniques[user->fk_unique].name, "userId");
    ASSERT_GE(user->fk_index, 0);
    EXPECT_STREQ(profile->indexes[user->fk_index].name, "userId");
    EXPECT_EQ(profile->nindexes, 1);
    // the added index and unique are part of the stored layout, like declared ones
    std::string layout(post->layout, post->layout_len);
    EXPECT_NE(layout.find("authorId"), std::string::npos);
}

TEST(RelationsSchema, AnIndexLedByTheForeignKeyOrAUniqueOfItIsUsed)
{
    Loaded l(R"({"namespace":"n","models":{
      "U": {"fields": {"n": {"type": "string"}}},
      "P": {"fields": {"uid": {"type": "string"}, "at": {"type": "datetime"}},
            "indexes": [["uid", {"field": "at", "order": "desc"}]],
            "relations": {"u": {"belongsTo": "U", "fields": ["uid"]}}},
      "Q": {"fields": {"uid": {"type": "string", "unique": true}},
            "relations": {"u": {"belongsTo": "U", "fields": ["uid"]}}}}})");
    ASSERT_EQ(l.rc, 0) << l.err.message;
    EXPECT_EQ(l.Model("P")->nindexes, 1);
    EXPECT_EQ(l.Rel("P", "u")->fk_index, 0);
    EXPECT_EQ(l.Model("Q")->nindexes, 1);
    EXPECT_EQ(l.Rel("Q", "u")->fk_unique, 0);
    EXPECT_EQ(l.Rel("Q", "u")->fk_index, 0);
}

TEST(RelationsSchema, SelfRelationsAndTwoRelationsBetweenTheSameModels)
{
    Loaded l(R"({"namespace":"n","models":{
      "Person": {"id": {"type": "integer", "generate": "increment"},
                 "fields": {"name": {"type": "string"}, "managerId": {"type": "integer", "optional": true}},
                 "relations": {"manager": {"belongsTo": "Person", "fields": ["managerId"]},
                               "reports": {"hasMany": "Person", "inverse": "manager"},
                               "follows": {"manyToMany": "Person", "through": "Follow", "from": "follower",
                                           "to": "followed"}}},
      "Follow": {"fields": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                 "relations": {"follower": {"belongsTo": "Person", "fields": ["a"]},
                               "followed": {"belongsTo": "Person", "fields": ["b"]}}}}})");
    ASSERT_EQ(l.rc, 0) << l.err.message;
    const kv_model *person = l.Model("Person");
    EXPECT_EQ(&person->relations[l.Rel("Person", "reports")->inverse], l.Rel("Person", "manager"));
    EXPECT_TRUE(l.Rel("Person", "manager")->optional);
    EXPECT_EQ(&l.Model("Follow")->relations[l.Rel("Person", "follows")->through_to], l.Rel("Follow", "followed"));
}

TEST(RelationsSchema, AManyToManyWithoutThroughGetsAJoinModelOfItsPair)
{
    Loaded l(R"({"namespace":"n","models":{
      "Post": {"id": {"type": "integer", "generate": "increment"}, "fields": {"title": {"type": "string"}},
               "relations": {"tags": {"manyToMany": "Tag"}}},
      "Tag": {"fields": {"name": {"type": "string"}}, "relations": {"posts": {"manyToMany": "Post"}}},
      "User": {"fields": {}, "relations": {"following": {"manyToMany": "User"}, "followers": {"manyToMany": "User"}}}}})");
    ASSERT_EQ(l.rc, 0) << l.err.message;
    // one join per pair, named by the two models in byte order, fields A and B the ids of each side
    const kv_model *pt = l.Model("_PostToTag"), *uu = l.Model("_UserToUser");
    ASSERT_NE(pt, nullptr);
    ASSERT_NE(uu, nullptr);
    EXPECT_EQ(l.s->nmodels, 5);
    EXPECT_EQ(pt->fields[kv_model_field(pt, "A", 1)].type, KV_T_INTEGER);
    EXPECT_EQ(pt->fields[kv_model_field(pt, "B", 1)].type, KV_T_STRING);
    ASSERT_EQ(pt->nuniques, 1);
    EXPECT_STREQ(pt->uniques[0].name, "A_B");
    EXPECT_EQ(l.Rel("_PostToTag", "a")->on_delete, KV_REF_CASCADE);
    EXPECT_EQ(l.Rel("_PostToTag", "b")->on_delete, KV_REF_CASCADE);
    // both sides go through it, each from its own belongsTo
    EXPECT_EQ(l.Rel("Post", "tags")->through, pt->position);
    EXPECT_EQ(l.Rel("Tag", "posts")->through, pt->position);
    EXPECT_EQ(&pt->relations[l.Rel("Post", "tags")->through_from], l.Rel("_PostToTag", "a"));
    EXPECT_EQ(&pt->relations[l.Rel("Tag", "posts")->through_from], l.Rel("_PostToTag", "b"));
    // a self-relation's two sides are the join's two directions
    EXPECT_EQ(&uu->relations[l.Rel("User", "following")->through_from], l.Rel("_UserToUser", "a"));
    EXPECT_EQ(&uu->relations[l.Rel("User", "followers")->through_from], l.Rel("_UserToUser", "b"));
}

struct BadRelation {
    const char *name;
    std::string models;                 // the "models" map's content
    std::vector<std::string> mentions;  // what the message must name
};

void PrintTo(const BadRelation &b, std::ostream *os) { *os << b.name; }

class InvalidRelations : public ::testing::TestWithParam<BadRelation> {};

TEST_P(InvalidRelations, AreSchemaErrorsNamingTheRelation)
{
    const BadRelation &b = GetParam();
    Loaded l(R"({"namespace":"n","models":{)" + b.models + "}}");
    EXPECT_EQ(l.rc, KVORM_ESCHEMA) << b.models;
    EXPECT_EQ(l.s, nullptr);
    std::string msg = l.err.message;
    for (const auto &w : b.mentions)
        EXPECT_NE(msg.find(w), std::string::npos) << "the message should name \"" << w << "\": " << msg;
}

const std::string kU = R"("U": {"fields": {"email": {"type": "string", "unique": true}, "n": {"type": "integer"}}})";
std::string P(const std::string &relations, const std::string &fields = R"("uid": {"type": "string"})")
{
    return kU + R"(, "P": {"fields": {)" + fields + R"(}, "relations": {)" + relations + "}}";
}

INSTANTIATE_TEST_SUITE_P(
    Schema, InvalidRelations,
    ::testing::Values(
        BadRelation{"NotAMap", kU + R"(, "P": {"fields": {"x": {"type": "string"}}, "relations": []})",
                    {"P", "\"relations\" must be a map"}},
        BadRelation{"NameNotIdentifier", P(R"("a-b": {"belongsTo": "U", "fields": ["uid"]})"),
                    {"P", "a-b", "identifier"}},
        BadRelation{"NameOfAField", P(R"("uid": {"belongsTo": "U", "fields": ["uid"]})"), {"P.uid", "field"}},
        BadRelation{"NoKind", P(R"("u": {"fields": ["uid"]})"), {"P.u", "exactly one of"}},
        BadRelation{"TwoKinds", P(R"("u": {"belongsTo": "U", "hasMany": "U", "fields": ["uid"]})"),
                    {"P.u", "exactly one of"}},
        BadRelation{"UnknownTarget", P(R"("u": {"belongsTo": "Nope", "fields": ["uid"]})"), {"P.u", "Nope"}},
        BadRelation{"UnknownKey", P(R"("u": {"belongsTo": "U", "fields": ["uid"], "via": 1})"),
                    {"P.u", "via"}},
        BadRelation{"KeyOfAnotherKind", P(R"("u": {"belongsTo": "U", "fields": ["uid"], "inverse": "x"})"),
                    {"P.u", "inverse"}},
        BadRelation{"NoFields", P(R"("u": {"belongsTo": "U"})"), {"P.u", "fields"}},
        BadRelation{"UnknownField", P(R"("u": {"belongsTo": "U", "fields": ["nope"]})"), {"P.u", "nope"}},
        BadRelation{"FieldTwice", P(R"("u": {"belongsTo": "U", "fields": ["uid", "uid"]})"), {"P.u", "twice"}},
        BadRelation{"IdOfAnotherType", P(R"("u": {"belongsTo": "U", "fields": ["uid"]})", R"("uid": {"type": "integer"})"),
                    {"P.u", "uid", "string"}},
        BadRelation{"ReferencesNoUnique", P(R"("u": {"belongsTo": "U", "fields": ["uid"], "references": ["n"]})"),
                    {"P.u", "references", "unique"}},
        BadRelation{"ReferencesOfAnotherType",
                    P(R"("u": {"belongsTo": "U", "fields": ["uid"], "references": ["email"]})",
                      R"("uid": {"type": "integer"})"),
                    {"P.u", "uid", "U.email", "string"}},
        BadRelation{"HalfOptional",
                    kU + R"(, "P": {"fields": {"a": {"type": "string"}, "b": {"type": "integer", "optional": true}},)"
                         R"("relations": {"u": {"belongsTo": "U2", "fields": ["a", "b"], "references": ["a", "b"]}}},)"
                         R"("U2": {"fields": {"a": {"type": "string"}, "b": {"type": "integer"}}, "unique": [["a", "b"]]})",
                    {"P.u", "optional"}},
        BadRelation{"OnDeleteUnknown", P(R"("u": {"belongsTo": "U", "fields": ["uid"], "onDelete": "drop"})"),
                    {"P.u", "onDelete", "\"drop\"", "restrict"}},
        BadRelation{"SetNullOnARequiredKey", P(R"("u": {"belongsTo": "U", "fields": ["uid"], "onDelete": "setNull"})"),
                    {"P.u", "onDelete", "optional"}},
        BadRelation{"OnUpdateSetNullOnARequiredKey",
                    P(R"("u": {"belongsTo": "U", "fields": ["uid"], "onUpdate": "setNull"})"),
                    {"P.u", "onUpdate", "optional"}},
        BadRelation{"InverseMissing", kU.substr(0, kU.size() - 1) + R"(, "relations": {"ps": {"hasMany": "P"}}})" +
                                          R"(, "P": {"fields": {"x": {"type": "string"}}})",
                    {"U.ps", "no belongsTo"}},
        BadRelation{"InverseNotABelongsTo",
                    kU.substr(0, kU.size() - 1) + R"(, "relations": {"ps": {"hasMany": "P", "inverse": "x"}}})" +
                        R"(, "P": {"fields": {"uid": {"type": "string"}},)"
                        R"("relations": {"u": {"belongsTo": "U", "fields": ["uid"]}}})",
                    {"U.ps", "\"x\"", "belongsTo"}},
        BadRelation{"InverseAmbiguous",
                    kU.substr(0, kU.size() - 1) + R"(, "relations": {"ps": {"hasMany": "P"}}})" +
                        R"(, "P": {"fields": {"a": {"type": "string"}, "b": {"type": "string"}},)"
                        R"("relations": {"x": {"belongsTo": "U", "fields": ["a"]},)"
                        R"("y": {"belongsTo": "U", "fields": ["b"]}}})",
                    {"U.ps", "more than one", "inverse"}},
        BadRelation{"InverseTwice",
                    kU.substr(0, kU.size() - 1) +
                        R"(, "relations": {"ps": {"hasMany": "P"}, "qs": {"hasMany": "P"}}})" +
                        R"(, "P": {"fields": {"uid": {"type": "string"}},)"
                        R"("relations": {"u": {"belongsTo": "U", "fields": ["uid"]}}})",
                    {"already the inverse"}},
        BadRelation{"FromWithoutThrough",
                    kU.substr(0, kU.size() - 1) + R"(, "relations": {"ts": {"manyToMany": "T", "from": "u"}}})" +
                        R"(, "T": {"fields": {"x": {"type": "string"}}})",
                    {"U.ts", "through"}},
        BadRelation{"TwoImplicitJoinsOfOnePair",
                    kU.substr(0, kU.size() - 1) +
                        R"(, "relations": {"ts": {"manyToMany": "T"}, "us": {"manyToMany": "T"}}})" +
                        R"(, "T": {"fields": {"x": {"type": "string"}}})",
                    {"U.us", "a second manyToMany", "_TToU"}},
        BadRelation{"ThreeImplicitSelfJoins",
                    kU.substr(0, kU.size() - 1) + R"(, "relations": {"a": {"manyToMany": "U"}, )" +
                        R"("b": {"manyToMany": "U"}, "c": {"manyToMany": "U"}}})",
                    {"U.c", "third", "_UToU"}},
        BadRelation{"ImplicitJoinNameTaken",
                    kU.substr(0, kU.size() - 1) + R"(, "relations": {"ts": {"manyToMany": "T"}}})" +
                        R"(, "T": {"fields": {"x": {"type": "string"}}}, "_TToU": {"fields": {}})",
                    {"U.ts", "_TToU"}},
        BadRelation{"TwoPairsWithOneJoinName",
                    R"("A": {"fields": {}, "relations": {"bs": {"manyToMany": "ToB"}}}, "ToB": {"fields": {}}, )"
                    R"("ATo": {"fields": {}, "relations": {"bs": {"manyToMany": "B"}}}, "B": {"fields": {}})",
                    {"_AToToB", "through"}},
        BadRelation{"ImplicitJoinNameTooLong",
                    kU.substr(0, kU.size() - 1) + R"(, "relations": {"ts": {"manyToMany": ")" + std::string(62, 'T') +
                        R"("}}}, ")" + std::string(62, 'T') + R"(": {"fields": {"x": {"type": "string"}}})",
                    {"U.ts", "longer than 64"}},
        BadRelation{"ThroughWithoutItsBelongsTo",
                    kU.substr(0, kU.size() - 1) + R"(, "relations": {"ts": {"manyToMany": "T", "through": "J"}}})" +
                        R"(, "T": {"fields": {"x": {"type": "string"}}},)"
                        R"("J": {"fields": {"uid": {"type": "string"}},)"
                        R"("relations": {"u": {"belongsTo": "U", "fields": ["uid"]}}})",
                    {"U.ts", "J has no belongsTo pointing to T"}}));

}  // namespace
}  // namespace kt
