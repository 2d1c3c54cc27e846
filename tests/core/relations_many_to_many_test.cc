// manyToMany relations in reads (docs/queries.md, Relations): include through the join model with the target's
// where, orderBy, skip and take per parent, nested; a target referenced by a unique; more targets than one query
// takes; relation filters some/every/none; _count. These run on both engines.
#include "test_util.h"

namespace kt {
namespace {

const char *const kTeams = R"({"namespace":"mm","models":{
  "User": {"fields": {"email": {"type": "string", "unique": true}},
           "relations": {"memberships": {"hasMany": "Membership"},
                         "teams": {"manyToMany": "Team", "through": "Membership"},
                         "tags": {"manyToMany": "Tag", "through": "UserTag"}}},
  "Team": {"id": {"type": "integer", "generate": "increment"}, "fields": {"name": {"type": "string", "unique": true}},
           "relations": {"memberships": {"hasMany": "Membership"},
                         "members": {"manyToMany": "User", "through": "Membership"}}},
  "Membership": {"fields": {"userId": {"type": "string"}, "teamId": {"type": "integer"},
                            "role": {"type": "enum", "values": ["owner", "member"]}},
                 "unique": [["userId", "teamId"]],
                 "relations": {"user": {"belongsTo": "User", "fields": ["userId"], "onDelete": "cascade"},
                               "team": {"belongsTo": "Team", "fields": ["teamId"], "onDelete": "cascade"}}},
  "Tag": {"fields": {"name": {"type": "string", "unique": true}, "hot": {"type": "boolean"}}},
  "UserTag": {"fields": {"userId": {"type": "string"}, "tagName": {"type": "string"}},
              "relations": {"user": {"belongsTo": "User", "fields": ["userId"], "onDelete": "cascade"},
                            "tag": {"belongsTo": "Tag", "fields": ["tagName"], "references": ["name"],
                                    "onDelete": "cascade"}}}}})";

class ManyToMany : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = Open(kTeams);
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
        return r.rc == KVORM_OK ? r.text : "";
    }
    std::string User(const std::string &email)
    {
        JRes r = Run("User", "create", R"({"data":{"email":)" + JStr(email) + "}}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.str("id");
    }
    long long Team(const std::string &name)
    {
        JRes r = Run("Team", "create", R"({"data":{"name":)" + JStr(name) + "}}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.integer("id");
    }
    void Join(const std::string &user, long long team, const std::string &role = "member")
    {
        Make("Membership", R"({"userId":)" + JStr(user) + R"(,"teamId":)" + std::to_string(team) +
                               R"(,"role":)" + JStr(role) + "}");
    }
    // ann: core (owner), web, ops; bob: web; cat: none
    void Seed()
    {
        ann_ = User("ann@x.io");
        bob_ = User("bob@x.io");
        cat_ = User("cat@x.io");
        long long core = Team("core"), web = Team("web"), ops = Team("ops");
        Join(ann_, web);
        Join(ann_, core, "owner");
        Join(ann_, ops);
        Join(bob_, web);
    }
    std::string Teams(const std::string &include_args)
    {
        JRes r = Run("User", "findMany",
                     R"({"orderBy":{"email":"asc"},"select":{"email":true,"teams":)" + include_args + "}}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.text;
    }
    kvorm_db *db_ = nullptr;
    std::string ann_, bob_, cat_;
};

TEST_F(ManyToMany, IncludeLoadsEachParentsTargetsInTheIncludesOrder)
{
    Seed();
    EXPECT_EQ(Teams(R"({"select":{"name":true}})"),
              R"([{"email":"ann@x.io","teams":[{"name":"core"},{"name":"web"},{"name":"ops"}]},)"
              R"({"email":"bob@x.io","teams":[{"name":"web"}]},{"email":"cat@x.io","teams":[]}])");
    EXPECT_EQ(Teams(R"({"select":{"name":true},"orderBy":{"name":"desc"}})"),
              R"([{"email":"ann@x.io","teams":[{"name":"web"},{"name":"ops"},{"name":"core"}]},)"
              R"({"email":"bob@x.io","teams":[{"name":"web"}]},{"email":"cat@x.io","teams":[]}])");
    // the target's where, then skip and take per parent
    EXPECT_EQ(Teams(R"({"select":{"name":true},"where":{"name":{"not":"core"}},"orderBy":{"name":"asc"}})"),
              R"([{"email":"ann@x.io","teams":[{"name":"ops"},{"name":"web"}]},)"
              R"({"email":"bob@x.io","teams":[{"name":"web"}]},{"email":"cat@x.io","teams":[]}])");
    EXPECT_EQ(Teams(R"({"select":{"name":true},"orderBy":{"name":"asc"},"skip":1,"take":1})"),
              R"([{"email":"ann@x.io","teams":[{"name":"ops"}]},)"
              R"({"email":"bob@x.io","teams":[]},{"email":"cat@x.io","teams":[]}])");
    EXPECT_EQ(Teams(R"({"select":{"name":true},"orderBy":{"name":"asc"},"take":-2})"),
              R"([{"email":"ann@x.io","teams":[{"name":"ops"},{"name":"web"}]},)"
              R"({"email":"bob@x.io","teams":[{"name":"web"}]},{"email":"cat@x.io","teams":[]}])");
}

// A cursor over a manyToMany's targets: each parent's targets are what a findMany of them (by the relation filter
// on the other side) with the same arguments returns, past the chunk of targets one query takes.
TEST_F(ManyToMany, ACursorIsEachParentsQuerysCursor)
{
    std::string ann = User("ann@x.io"), bob = User("bob@x.io");
    std::vector<long long> teams;
    for (int i = 0; i < 300; i++) {
        teams.push_back(Team("t" + std::to_string((i * 7) % 300 + 1000)));
        if (i % 2 == 0)
            Join(ann, teams.back());
        if (i % 3 == 0)
            Join(bob, teams.back());
    }
    const std::string windows[] = {"", R"(,"take":3)", R"(,"take":-3)", R"(,"skip":1,"take":3)", R"(,"skip":1,"take":-3)"};
    for (long long cursor : {teams[6], teams[9], teams[150]}) {
        for (const std::string &order : {std::string(R"({"id":"asc"})"), std::string(R"({"name":"desc"})")}) {
            for (const std::string &w : windows) {
                std::string args = R"("orderBy":)" + order + R"(,"cursor":{"id":)" + std::to_string(cursor) + "}" + w;
                JRes r = Run("User", "findMany",
                             R"({"orderBy":{"email":"asc"},"select":{"id":true,"teams":{"select":{"id":true},)" + args +
                                 "}}}");
                KT_ASSERT_OK(r);
                ASSERT_EQ(json_array_size(r.get()), 2u) << r.text;
                for (size_t u = 0; u < 2; u++) {
                    const json_t *user = json_array_get(r.get(), u);
                    std::string id = json_string_value(json_object_get(user, "id"));
                    JRes own = Run("Team", "findMany",
                                   R"({"where":{"members":{"some":{"id":)" + JStr(id) +
                                       R"(}}},"select":{"id":true},)" + args + "}");
                    KT_ASSERT_OK(own);
                    EXPECT_EQ(DumpJson(json_object_get(user, "teams")), own.text) << args << " of user " << u;
                }
            }
        }
    }
}

TEST_F(ManyToMany, TheOtherSideAndNestedIncludesAndFindUnique)
{
    Seed();
    JRes r = Run("Team", "findMany",
                 R"({"orderBy":{"name":"asc"},"select":{"name":true,)"
                 R"("members":{"orderBy":{"email":"desc"},"select":{"email":true,)"
                 R"("teams":{"where":{"name":{"not":"web"}},"select":{"name":true}}}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text,
              R"([{"name":"core","members":[{"email":"ann@x.io","teams":[{"name":"core"},{"name":"ops"}]}]},)"
              R"({"name":"ops","members":[{"email":"ann@x.io","teams":[{"name":"core"},{"name":"ops"}]}]},)"
              R"({"name":"web","members":[{"email":"bob@x.io","teams":[]},)"
              R"({"email":"ann@x.io","teams":[{"name":"core"},{"name":"ops"}]}]}])");
    JRes u = Run("User", "findUnique", R"({"where":{"email":"bob@x.io"},"include":{"teams":true}})");
    KT_ASSERT_OK(u);
    EXPECT_EQ(u.text, R"({"id":")" + bob_ + R"(","email":"bob@x.io","teams":[{"id":2,"name":"web"}]})");
    // a join record's own fields are the join model's: include its hasMany and belongsTo
    JRes e = Run("User", "findUnique",
                 R"({"where":{"email":"ann@x.io"},"select":{"memberships":{"where":{"role":"owner"},)"
                 R"("select":{"role":true,"team":{"select":{"name":true}}}}}})");
    KT_ASSERT_OK(e);
    EXPECT_EQ(e.text, R"({"memberships":[{"role":"owner","team":{"name":"core"}}]})");
}

TEST_F(ManyToMany, ATargetReferencedByAUnique)
{
    std::string ann = User("ann@x.io"), bob = User("bob@x.io");
    Make("Tag", R"({"name":"red","hot":true})");
    Make("Tag", R"({"name":"blue","hot":false})");
    Make("UserTag", R"({"userId":")" + ann + R"(","tagName":"red"})");
    Make("UserTag", R"({"userId":")" + ann + R"(","tagName":"blue"})");
    Make("UserTag", R"({"userId":")" + bob + R"(","tagName":"blue"})");
    Make("UserTag", R"({"userId":")" + bob + R"(","tagName":"blue"})");  // no unique pair: named twice, loaded once
    JRes r = Run("User", "findMany",
                 R"({"orderBy":{"email":"asc"},"select":{"email":true,)"
                 R"("tags":{"orderBy":{"name":"asc"},"select":{"name":true}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text, R"([{"email":"ann@x.io","tags":[{"name":"blue"},{"name":"red"}]},)"
                      R"({"email":"bob@x.io","tags":[{"name":"blue"}]}])");
    JRes hot = Run("User", "findMany", R"({"where":{"tags":{"some":{"hot":true}}},"select":{"email":true}})");
    KT_ASSERT_OK(hot);
    EXPECT_EQ(hot.text, R"([{"email":"ann@x.io"}])");
}

// More distinct targets than one query takes (KV_MAX_RANGES keys): several queries, their rows in one order.
TEST_F(ManyToMany, MoreTargetsThanOneQueryTakesKeepTheOrder)
{
    std::string ann = User("ann@x.io");
    std::string teams, joins;
    for (int i = 0; i < 300; i++) {
        char name[16];
        snprintf(name, sizeof(name), "t%03d", (i * 7) % 300);
        teams += std::string(i ? "," : "") + R"({"name":")" + name + R"("})";
        joins += std::string(i ? "," : "") + R"({"userId":")" + ann + R"(","teamId":)" + std::to_string(i + 1) +
                 R"(,"role":"member"})";
    }
    KT_ASSERT_OK(Run("Team", "createMany", R"({"data":[)" + teams + "]}"));
    KT_ASSERT_OK(Run("Membership", "createMany", R"({"data":[)" + joins + "]}"));
    JRes r = Run("User", "findUnique",
                 R"({"where":{"email":"ann@x.io"},"select":{"teams":{"orderBy":{"name":"desc"},)"
                 R"("select":{"name":true}}}})");
    KT_ASSERT_OK(r);
    const json_t *got = json_object_get(r.get(), "teams");
    ASSERT_EQ(json_array_size(got), 300u) << r.text;
    for (size_t i = 0; i < 300; i++) {
        char want[16];
        snprintf(want, sizeof(want), "t%03zu", 299 - i);
        EXPECT_STREQ(json_string_value(json_object_get(json_array_get(got, i), "name")), want) << i;
    }
    JRes w = Run("User", "findUnique",
                 R"({"where":{"email":"ann@x.io"},"select":{"teams":{"where":{"name":{"gte":"t290"}},)"
                 R"("orderBy":{"name":"asc"},"skip":2,"take":3,"select":{"name":true}}}})");
    KT_ASSERT_OK(w);
    EXPECT_EQ(w.text, R"({"teams":[{"name":"t292"},{"name":"t293"},{"name":"t294"}]})");
}

TEST_F(ManyToMany, RelationFiltersSomeEveryNone)
{
    Seed();
    auto emails = [&](const std::string &where) {
        JRes r = Run("User", "findMany",
                     R"({"where":)" + where + R"(,"orderBy":{"email":"asc"},"select":{"email":true}})");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.text;
    };
    EXPECT_EQ(emails(R"({"teams":{"some":{"name":"web"}}})"), R"([{"email":"ann@x.io"},{"email":"bob@x.io"}])");
    EXPECT_EQ(emails(R"({"teams":{"some":{"name":"core"}}})"), R"([{"email":"ann@x.io"}])");
    EXPECT_EQ(emails(R"({"teams":{"some":{}}})"), R"([{"email":"ann@x.io"},{"email":"bob@x.io"}])");
    // every: vacuously true for cat, who has no teams
    EXPECT_EQ(emails(R"({"teams":{"every":{"name":"web"}}})"), R"([{"email":"bob@x.io"},{"email":"cat@x.io"}])");
    EXPECT_EQ(emails(R"({"teams":{"none":{"name":"web"}}})"), R"([{"email":"cat@x.io"}])");
    EXPECT_EQ(emails(R"({"NOT":{"teams":{"none":{}}},"teams":{"every":{"name":{"in":["web","ops","core"]}}}})"),
              R"([{"email":"ann@x.io"},{"email":"bob@x.io"}])");
    // nested: teams some of whose members are in "core"
    EXPECT_EQ(emails(R"({"teams":{"some":{"members":{"some":{"teams":{"some":{"name":"core"}}}}}}})"),
              R"([{"email":"ann@x.io"},{"email":"bob@x.io"}])");
    JRes t = Run("Team", "findMany",
                 R"({"where":{"members":{"some":{"email":"bob@x.io"}}},"select":{"name":true}})");
    KT_ASSERT_OK(t);
    EXPECT_EQ(t.text, R"([{"name":"web"}])");
    JRes n = Run("User", "count", R"({"where":{"teams":{"some":{"name":"ops"}}}})");
    KT_ASSERT_OK(n);
    EXPECT_EQ(n.text, "1");
    JRes bad = Run("User", "findMany", R"({"where":{"teams":{"is":{}}}})");
    KT_ASSERT_CODE(bad, KVORM_EBAD_REQUEST, "BAD_REQUEST");
    EXPECT_NE(bad.str("message").find("to-many"), std::string::npos) << bad.text;
}

TEST_F(ManyToMany, CountsOfAManyToMany)
{
    Seed();
    JRes r = Run("User", "findMany",
                 R"({"orderBy":{"email":"asc"},"select":{"email":true,)"
                 R"("_count":{"select":{"teams":true,"memberships":true}}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.text, R"([{"email":"ann@x.io","_count":{"teams":3,"memberships":3}},)"
                      R"({"email":"bob@x.io","_count":{"teams":1,"memberships":1}},)"
                      R"({"email":"cat@x.io","_count":{"teams":0,"memberships":0}}])");
    JRes w = Run("User", "findMany",
                 R"({"orderBy":{"email":"asc"},)"
                 R"("select":{"_count":{"select":{"teams":{"where":{"name":{"not":"web"}}}}}}})");
    KT_ASSERT_OK(w);
    EXPECT_EQ(w.text, R"([{"_count":{"teams":2}},{"_count":{"teams":0}},{"_count":{"teams":0}}])");
    JRes all = Run("Team", "findFirst", R"({"where":{"name":"web"},"select":{"_count":true}})");
    KT_ASSERT_OK(all);
    EXPECT_EQ(all.text, R"({"_count":{"memberships":2,"members":2}})");
    JRes bad = Run("User", "findMany", R"({"select":{"_count":{"select":{"teams":{"where":{"nope":1}}}}}})");
    KT_ASSERT_CODE(bad, KVORM_EBAD_REQUEST, "BAD_REQUEST");
    EXPECT_NE(bad.str("message").find("not a field of Team"), std::string::npos) << bad.text;
}

TEST_F(ManyToMany, ExplainShowsTheJoinModel)
{
    JRes r = Run("User", "explain", R"({"op":"findMany","args":{"include":{"teams":true}}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(DumpJson(json_object_get(r.get(), "include")),
              R"([{"relation":"teams","kind":"manyToMany","model":"Team","reads":"through","through":"Membership",)"
              R"("roundTrips":4,"include":[]}])");
}

// 10 users in 2 teams each: the join records of all of them in one query, the teams in one more, whatever the
// number of users.
TEST_F(ManyToMany, ALevelIsTwoQueriesForAllItsParents)
{
    KT_REDIS_ONLY("reads Redis's INFO stats");
    std::vector<long long> teams;
    for (int i = 0; i < 4; i++)
        teams.push_back(Team("t" + std::to_string(i)));
    for (int i = 0; i < 10; i++) {
        std::string u = User("u" + std::to_string(i) + "@x.io");
        Join(u, teams[i % 4]);
        Join(u, teams[(i + 1) % 4]);
    }
    auto cost = [&](const std::string &args) {
        return SocketReads(raw_, [&] {
            JRes r = Run("User", "findMany", args);
            EXPECT_EQ(r.rc, KVORM_OK) << r.text;
            EXPECT_EQ(json_array_size(r.get()), 10u) << r.text;
        });
    };
    ASSERT_GE(SocketReads(raw_, [] {}), 0) << "this Redis has no total_reads_processed";
    cost(R"({"include":{"teams":true}})");  // the index states are read once per db
    long long plain = cost("{}"), with = cost(R"({"include":{"teams":{"orderBy":{"name":"desc"}}}})");
    EXPECT_GE(with - plain, 2);
    EXPECT_LE(with - plain, 4) << "socket reads: " << plain << " without the include, " << with << " with it";
}

}  // namespace
}  // namespace kt
