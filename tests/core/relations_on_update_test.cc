// onUpdate cascade and setNull (docs/schema.md, Referential actions): a change of a key that belongsTo relations
// reference (a unique's fields) carries to the records that reference it, or clears their foreign key, in the
// same all-or-nothing write: through a compound key changed in part, a chain of keys (a referencing record whose
// foreign key is itself a referenced key), a record referencing its own key, and updateMany; a key that becomes
// null under a required foreign key refuses the whole write. These run on both engines.
#include "test_util.h"

namespace kt {
namespace {

const char *const kKeys = R"({"namespace":"ou","models":{
  "Account": {"fields": {"email": {"type": "string", "unique": true},
                         "handle": {"type": "string", "optional": true, "unique": true}},
              "relations": {"orders": {"hasMany": "Order"}, "notes": {"hasMany": "Note"},
                            "tickets": {"hasMany": "Ticket"}}},
  "Order": {"fields": {"email": {"type": "string"}, "n": {"type": "integer"}},
            "relations": {"account": {"belongsTo": "Account", "fields": ["email"], "references": ["email"],
                                      "onUpdate": "cascade", "onDelete": "cascade"}}},
  "Note": {"fields": {"email": {"type": "string", "optional": true}},
           "relations": {"account": {"belongsTo": "Account", "fields": ["email"], "references": ["email"],
                                     "onUpdate": "setNull"}}},
  "Ticket": {"fields": {"handle": {"type": "string"}},
             "relations": {"account": {"belongsTo": "Account", "fields": ["handle"], "references": ["handle"],
                                       "onUpdate": "cascade"}}},
  "Team": {"fields": {"slug": {"type": "string", "unique": true}, "region": {"type": "string"}},
           "unique": [["region", "slug"]],
           "relations": {"members": {"hasMany": "Member"}, "offices": {"hasMany": "Office"}}},
  "Office": {"fields": {"region": {"type": "string"}, "slug": {"type": "string"}},
             "relations": {"team": {"belongsTo": "Team", "fields": ["region", "slug"], "references": ["region", "slug"],
                                    "onUpdate": "cascade"}}},
  "Member": {"fields": {"teamSlug": {"type": "string"}, "tag": {"type": "string"}},
             "unique": [["teamSlug", "tag"]],
             "relations": {"team": {"belongsTo": "Team", "fields": ["teamSlug"], "references": ["slug"],
                                    "onUpdate": "cascade"},
                           "badges": {"hasMany": "Badge"}}},
  "Badge": {"fields": {"teamSlug": {"type": "string"}, "tag": {"type": "string"}},
            "relations": {"member": {"belongsTo": "Member", "fields": ["teamSlug", "tag"],
                                     "references": ["teamSlug", "tag"], "onUpdate": "cascade"}}},
  "Person": {"fields": {"email": {"type": "string", "unique": true}, "mentorEmail": {"type": "string", "optional": true}},
             "relations": {"mentor": {"belongsTo": "Person", "fields": ["mentorEmail"], "references": ["email"],
                                      "onUpdate": "cascade"},
                           "mentees": {"hasMany": "Person", "inverse": "mentor"}}}}})";

class RelationsOnUpdate : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = Open(kKeys);
        ASSERT_NE(db_, nullptr);
    }
    JRes Run(const std::string &model, const std::string &op, const std::string &args = "")
    {
        return ExecJson(db_, Req(model, op, args));
    }
    void Make(const std::string &model, const std::string &data)
    {
        JRes r = Run(model, "create", R"({"data":)" + data + "}");
        EXPECT_EQ(r.rc, KVORM_OK) << model << " " << data << ": " << r.text;
    }
    long long Count(const std::string &model, const std::string &where)
    {
        JRes r = Run(model, "count", R"({"where":)" + where + "}");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return json_integer_value(r.get());
    }
    void ExpectIntact()
    {
        for (const char *m : {"Account", "Order", "Note", "Ticket", "Team", "Office", "Member", "Badge", "Person"}) {
            JRes r = Run(m, "check");
            KT_ASSERT_OK(r);
            EXPECT_TRUE(json_is_true(r.at("ok"))) << m << ": " << r.text;
        }
    }
    kvorm_db *db_ = nullptr;
};

TEST_F(RelationsOnUpdate, ANewKeyCarriesToItsOrdersAndClearsItsNotes)
{
    Make("Account", R"({"id":"a","email":"ann@x.io"})");
    Make("Account", R"({"id":"b","email":"bob@x.io"})");
    for (int i = 0; i < 3; i++)
        Make("Order", R"({"email":"ann@x.io","n":)" + std::to_string(i) + "}");
    Make("Order", R"({"email":"bob@x.io","n":9})");
    Make("Note", R"({"email":"ann@x.io"})");
    JRes r = Run("Account", "update",
                 R"({"where":{"id":"a"},"data":{"email":"ann@y.io"},"include":{"orders":true,"notes":true}})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(json_array_size(r.at("orders")), 3u) << r.text;
    EXPECT_EQ(json_array_size(r.at("notes")), 0u) << r.text;
    EXPECT_EQ(Count("Order", R"({"email":"ann@y.io"})"), 3);
    EXPECT_EQ(Count("Order", R"({"email":"ann@x.io"})"), 0);
    EXPECT_EQ(Count("Order", R"({"email":"bob@x.io"})"), 1);
    EXPECT_EQ(Count("Note", R"({"email":null})"), 1);
    // the orders' versions went up: a write at the version read before fails
    JRes o = Run("Order", "findFirst", R"({"where":{"n":0},"select":{"$version":true}})");
    KT_ASSERT_OK(o);
    EXPECT_EQ(o.integer("$version"), 2) << o.text;
    // the old key is free again, and a delete still cascades on the new one
    Make("Account", R"({"id":"c","email":"ann@x.io"})");
    KT_ASSERT_OK(Run("Account", "delete", R"({"where":{"id":"a"}})"));
    EXPECT_EQ(Count("Order", R"({})"), 1);
    ExpectIntact();
}

TEST_F(RelationsOnUpdate, AKeyThatBecomesNullUnderARequiredForeignKeyWritesNothing)
{
    Make("Account", R"({"id":"a","email":"ann@x.io","handle":"ann"})");
    Make("Ticket", R"({"id":"t","handle":"ann"})");
    Make("Order", R"({"email":"ann@x.io","n":1})");
    JRes r = Run("Account", "update", R"({"where":{"id":"a"},"data":{"handle":null,"email":"ann@y.io"}})");
    KT_ASSERT_CODE(r, KVORM_ERELATION, "RELATION");
    EXPECT_NE(r.str("message").find("Ticket.account"), std::string::npos) << r.text;
    EXPECT_EQ(Count("Account", R"({"handle":"ann","email":"ann@x.io"})"), 1);
    EXPECT_EQ(Count("Order", R"({"email":"ann@x.io"})"), 1);
    // a new handle carries
    KT_ASSERT_OK(Run("Account", "update", R"({"where":{"id":"a"},"data":{"handle":"anna"}})"));
    EXPECT_EQ(Count("Ticket", R"({"handle":"anna"})"), 1);
    ExpectIntact();
}

TEST_F(RelationsOnUpdate, ACompoundKeyChangedInPartAndAChainOfKeys)
{
    Make("Team", R"({"id":"t","slug":"core","region":"eu"})");
    Make("Office", R"({"id":"o","region":"eu","slug":"core"})");
    Make("Member", R"({"id":"m1","teamSlug":"core","tag":"lead"})");
    Make("Member", R"({"id":"m2","teamSlug":"core","tag":"dev"})");
    Make("Badge", R"({"id":"b1","teamSlug":"core","tag":"lead"})");
    Make("Badge", R"({"id":"b2","teamSlug":"core","tag":"dev"})");
    // one part of the compound key: the office keeps its region and takes the new slug; the members' own key
    // (teamSlug, tag) changes with it, and the badges follow that
    KT_ASSERT_OK(Run("Team", "update", R"({"where":{"id":"t"},"data":{"slug":"platform"}})"));
    EXPECT_EQ(Count("Office", R"({"region":"eu","slug":"platform"})"), 1);
    EXPECT_EQ(Count("Member", R"({"teamSlug":"platform"})"), 2);
    EXPECT_EQ(Count("Badge", R"({"teamSlug":"platform","tag":"lead"})"), 1);
    EXPECT_EQ(Count("Badge", R"({"teamSlug":"platform","tag":"dev"})"), 1);
    // the region part alone
    KT_ASSERT_OK(Run("Team", "update", R"({"where":{"id":"t"},"data":{"region":"us"}})"));
    EXPECT_EQ(Count("Office", R"({"region":"us","slug":"platform"})"), 1);
    EXPECT_EQ(Count("Member", R"({"teamSlug":"platform"})"), 2);
    // a member's tag is a key of the badge's
    KT_ASSERT_OK(Run("Member", "update", R"({"where":{"id":"m2"},"data":{"tag":"ops"}})"));
    EXPECT_EQ(Count("Badge", R"({"tag":"ops"})"), 1);
    ExpectIntact();
}

TEST_F(RelationsOnUpdate, ARecordReferencingItsOwnKeyAndUpdateMany)
{
    // a record may reference its own key from its create on (the write gives it that key)
    Make("Person", R"({"id":"p1","email":"ann@x.io","mentorEmail":"ann@x.io"})");
    JRes self = Run("Person", "create", R"({"data":{"id":"p0","email":"zed@x.io","mentorEmail":"zoe@x.io"}})");
    KT_ASSERT_CODE(self, KVORM_ERELATION, "RELATION");
    Make("Person", R"({"id":"p2","email":"bob@x.io","mentorEmail":"ann@x.io"})");
    Make("Person", R"({"id":"p3","email":"cat@x.io","mentorEmail":"bob@x.io"})");
    KT_ASSERT_OK(Run("Person", "update", R"({"where":{"id":"p1"},"data":{"email":"ann@y.io"}})"));
    EXPECT_EQ(Count("Person", R"({"mentorEmail":"ann@y.io"})"), 2);  // herself and bob
    JRes p1 = Run("Person", "findUnique", R"({"where":{"id":"p1"},"select":{"$version":true}})");
    KT_ASSERT_OK(p1);
    EXPECT_EQ(p1.integer("$version"), 2) << p1.text;  // one write of her own, both fields in it
    // a foreign key the update sets itself stays as given: the record no longer holds the old key
    KT_ASSERT_OK(Run("Person", "update", R"({"where":{"id":"p1"},"data":{"email":"ann@z.io","mentorEmail":"cat@x.io"}})"));
    EXPECT_EQ(Count("Person", R"({"id":"p1","mentorEmail":"cat@x.io"})"), 1);
    EXPECT_EQ(Count("Person", R"({"id":"p2","mentorEmail":"ann@z.io"})"), 1);
    // updateMany goes the same way
    KT_ASSERT_OK(Run("Person", "updateMany", R"({"where":{"id":"p2"},"data":{"email":"bob@y.io"}})"));
    EXPECT_EQ(Count("Person", R"({"mentorEmail":"bob@y.io"})"), 1);
    ExpectIntact();
}

}  // namespace
}  // namespace kt
