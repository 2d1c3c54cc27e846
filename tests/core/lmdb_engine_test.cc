// The LMDB engine (core/src/lmdb/) through the public API: every test opens lmdb://<a fresh directory> and runs
// MessagePack (kvorm_exec) or JSON (kvorm_exec_json) requests. CRUD, uniques, ids, versions, indexes and queries,
// batches, the stored schema, persistence, threads on two handles, a writer killed mid-write, map growth,
// read-only opens and URL errors.
#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "redis_harness.h"

extern "C" {
#include "lmdb/lmdb_internal.h"
}

namespace kt {
namespace {

constexpr const char *kSchema = R"json({
  "namespace": "lt",
  "models": {
    "User": {
      "id": {"type": "string", "generate": "ulid"},
      "fields": {
        "email": {"type": "string", "unique": true},
        "orgId": {"type": "string"},
        "age": {"type": "integer", "optional": true, "index": true},
        "name": {"type": "string", "optional": true}},
      "unique": [["orgId", "email"]]},
    "Counter": {
      "id": {"type": "integer", "generate": "increment"},
      "fields": {"code": {"type": "string", "unique": true, "optional": true}}},
    "Item": {
      "id": {"type": "string"},
      "fields": {
        "label": {"type": "string", "optional": true, "index": true},
        "n": {"type": "integer", "optional": true},
        "handle": {"type": "string", "unique": true, "optional": true}}},
    "Slot": {
      "fields": {
        "tenant": {"type": "string"},
        "slug": {"type": "string"},
        "title": {"type": "string", "optional": true}},
      "unique": [{"fields": ["tenant", "slug"], "name": "tenantSlug"}]}
  }
})json";

// The same schema with an index on Item.n and a unique constraint on Slot.title added (compatible changes).
std::string SchemaWithMore()
{
    std::string s = kSchema;
    size_t at = s.find(R"("n": {"type": "integer", "optional": true})");
    s.replace(at, std::string(R"("n": {"type": "integer", "optional": true})").size(),
              R"("n": {"type": "integer", "optional": true, "index": true})");
    at = s.find(R"("title": {"type": "string", "optional": true})");
    s.replace(at, std::string(R"("title": {"type": "string", "optional": true})").size(),
              R"("title": {"type": "string", "optional": true, "unique": true})");
    return s;
}

std::string ErrCode(const MRes &r) { return r.parsed ? r.doc["code"].s : "(unparsed)"; }
std::string ErrMessage(const MRes &r) { return r.parsed ? r.doc["message"].s : ""; }
std::vector<std::string> ErrFields(const MRes &r)
{
    std::vector<std::string> out;
    for (const auto &f : r.doc["fields"].arr)
        out.push_back(f.s);
    return out;
}

class LmdbTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/kvorm-lmdb-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        root_ = tmpl;
        path_ = root_ + "/env";  // not there yet: the open creates it
    }
    void TearDown() override
    {
        dbs_.clear();
        std::error_code ec;
        std::filesystem::remove_all(root_, ec);
    }

    std::string Url(const std::string &params = "") const
    {
        return "lmdb://" + path_ + (params.empty() ? "" : "?" + params);
    }

    kvorm_db *Open(const std::string &schema = kSchema, const std::string &params = "")
    {
        DbPtr db = OpenDb(schema, Url(params));
        if (!db)
            return nullptr;
        dbs_.push_back(std::move(db));
        return dbs_.back().get();
    }

    // kvorm_open expected to fail: its status (and the message in *msg).
    int OpenFails(const std::string &url, std::string *msg, const std::string &schema = kSchema)
    {
        SchemaPtr s = LoadSchema(schema);
        kvorm_db *db = nullptr;
        int rc = kvorm_open(&db, url.c_str(), s.get(), nullptr);
        *msg = kvorm_last_error_message();
        if (db)
            kvorm_close(db);
        return rc;
    }

    // kvorm_open with options: the db (kept until TearDown), or nullptr with the status in *rc.
    kvorm_db *OpenWith(const kvorm_open_options &opts, const std::string &params = "", int *rc = nullptr,
                       const std::string &url = "")
    {
        SchemaPtr s = LoadSchema(kSchema);
        kvorm_db *db = nullptr;
        int status = kvorm_open(&db, url.empty() ? Url(params).c_str() : url.c_str(), s.get(), &opts);
        if (rc)
            *rc = status;
        if (status != KVORM_OK)
            return nullptr;
        dbs_.push_back(DbPtr(db));
        return db;
    }

    void CloseAll() { dbs_.clear(); }

    // Creates Users of 1000-byte names (emails f0, f1, ...) until one is refused or 2000 are made: the last
    // result, and in *made how many were made.
    static MRes FillUntilRefused(kvorm_db *db, int *made)
    {
        std::string name(1000, 'n');
        MRes last;
        for (*made = 0; *made < 2000; ++*made) {
            last = Create(db, "User", mp::map({{"email", "f" + std::to_string(*made)}, {"orgId", "o"}, {"name", name}}));
            if (last.rc != KVORM_OK)
                break;
        }
        return last;
    }

    // The keys of `len` bytes in one database of the environment, read with LMDB itself (no db may be open).
    int RawKeysOfLength(const char *db, size_t len) const
    {
        MDB_env *env = nullptr;
        MDB_txn *txn = nullptr;
        MDB_cursor *cur = nullptr;
        MDB_dbi dbi;
        MDB_val k, v;
        int n = 0;
        if (mdb_env_create(&env) != 0)
            return -1;
        mdb_env_set_maxdbs(env, 8);
        if (mdb_env_open(env, path_.c_str(), MDB_RDONLY, 0664) == 0 &&
            mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0) {
            if (mdb_dbi_open(txn, db, 0, &dbi) == 0 && mdb_cursor_open(txn, dbi, &cur) == 0) {
                for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
                     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
                    n += k.mv_size == len;
                mdb_cursor_close(cur);
            }
            mdb_txn_abort(txn);
        }
        mdb_env_close(env);
        return n;
    }

    static MRes Run(kvorm_db *db, const std::string &model, const std::string &op, const mp::V &args = mp::V())
    {
        return Exec(db, MReq(model, op, args));
    }
    static JRes J(kvorm_db *db, const std::string &model, const std::string &op, const std::string &args = "")
    {
        return ExecJson(db, Req(model, op, args));
    }
    // {key: value}
    static mp::V M(const std::string &key, const mp::V &value) { return mp::map({{key, value}}); }
    static MRes Find(kvorm_db *db, const std::string &model, const std::string &key, const mp::V &value)
    {
        return Run(db, model, "findUnique", M("where", M(key, value)));
    }
    static MRes Update(kvorm_db *db, const std::string &model, const std::string &key, const mp::V &value,
                       const mp::V &data)
    {
        return Run(db, model, "update", mp::map({{"where", M(key, value)}, {"data", data}}));
    }
    static MRes Delete(kvorm_db *db, const std::string &model, const std::string &key, const mp::V &value)
    {
        return Run(db, model, "delete", M("where", M(key, value)));
    }
    static MRes Create(kvorm_db *db, const std::string &model, const mp::V &data)
    {
        return Run(db, model, "create", M("data", data));
    }
    static MRes CreateUser(kvorm_db *db, const std::string &email, const std::string &org = "o1", int64_t age = -1)
    {
        std::vector<std::pair<mp::V, mp::V>> data = {{"email", email}, {"orgId", org}};
        if (age >= 0)
            data.emplace_back("age", mp::i(age));
        return Run(db, "User", "create", mp::map({{"data", mp::map(data)}}));
    }
    static int64_t Count(kvorm_db *db, const std::string &model)
    {
        JRes r = J(db, model, "count");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        return r.doc && json_is_integer(r.get()) ? json_integer_value(r.get()) : -1;
    }
    // Runs check on a model: asserts ok and no problems, returns the report.
    static JRes CheckClean(kvorm_db *db, const std::string &model)
    {
        JRes r = J(db, model, "check");
        EXPECT_EQ(r.rc, KVORM_OK) << r.text;
        EXPECT_TRUE(r.at("ok") && json_is_true(r.at("ok"))) << r.text;
        EXPECT_EQ(json_array_size(r.at("problems")), 0u) << r.text;
        return r;
    }

    std::string root_, path_;
    std::vector<DbPtr> dbs_;
};

// ---- CRUD --------------------------------------------------------------------------------------------------------

class LmdbCrud : public LmdbTest {};

TEST_F(LmdbCrud, CreateFindUpdateDelete)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    EXPECT_TRUE(std::filesystem::is_directory(path_)) << "the open creates the directory";
    MRes c = CreateUser(db, "ann@x.io", "o1", 31);
    ASSERT_EQ(c.rc, KVORM_OK) << c.doc;
    std::string id = c.doc["id"].s;
    EXPECT_EQ(id.size(), 26u) << c.doc;
    EXPECT_EQ(c.doc["email"].s, "ann@x.io");
    EXPECT_EQ(c.doc["age"].as_int(), 31);

    MRes f = Run(db, "User", "findUnique",
                 mp::map({{"where", mp::map({{"id", id}})}, {"select", mp::map({{"$version", mp::boolean(true)},
                                                                                  {"email", mp::boolean(true)}})}}));
    ASSERT_EQ(f.rc, KVORM_OK) << f.doc;
    EXPECT_EQ(f.doc["email"].s, "ann@x.io");
    EXPECT_EQ(f.doc["$version"].as_int(), 1);

    MRes u = Run(db, "User", "update",
                 mp::map({{"where", mp::map({{"id", id}})}, {"data", mp::map({{"age", mp::i(32)}, {"name", "Ann"}})}}));
    ASSERT_EQ(u.rc, KVORM_OK) << u.doc;
    EXPECT_EQ(u.doc["age"].as_int(), 32);
    EXPECT_EQ(u.doc["name"].s, "Ann");
    EXPECT_EQ(u.doc["email"].s, "ann@x.io") << "an update returns the whole record";

    // clearing an optional field
    u = Update(db, "User", "email", "ann@x.io", M("name", mp::nil()));
    ASSERT_EQ(u.rc, KVORM_OK) << u.doc;
    EXPECT_TRUE(u.doc["name"].is_nil()) << u.doc;

    f = Find(db, "User", "email", "ann@x.io");
    ASSERT_EQ(f.rc, KVORM_OK) << f.doc;
    EXPECT_EQ(f.doc["id"].s, id);
    EXPECT_EQ(f.doc["age"].as_int(), 32);

    MRes d = Delete(db, "User", "id", id);
    ASSERT_EQ(d.rc, KVORM_OK) << d.doc;
    EXPECT_EQ(d.doc["email"].s, "ann@x.io") << "a delete returns the record as it was";
    f = Find(db, "User", "id", id);
    ASSERT_EQ(f.rc, KVORM_OK);
    EXPECT_TRUE(f.doc.is_nil()) << f.doc;

    MRes miss = Update(db, "User", "id", id, M("age", mp::i(1)));
    EXPECT_EQ(miss.rc, KVORM_ENOTFOUND);
    EXPECT_EQ(ErrCode(miss), "NOT_FOUND");
    miss = Delete(db, "User", "email", "ann@x.io");
    EXPECT_EQ(miss.rc, KVORM_ENOTFOUND);
    EXPECT_EQ(Count(db, "User"), 0);
    CheckClean(db, "User");
}

TEST_F(LmdbCrud, UpsertCreatesThenUpdates)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    auto upsert = [&](const std::string &label) {
        return Run(db, "Item", "upsert",
                   mp::map({{"where", mp::map({{"id", "it-1"}})},
                            {"create", mp::map({{"label", label}})},
                            {"update", mp::map({{"label", label}, {"n", mp::i(7)}})}}));
    };
    MRes a = upsert("first");
    ASSERT_EQ(a.rc, KVORM_OK) << a.doc;
    EXPECT_EQ(a.doc["id"].s, "it-1");
    EXPECT_EQ(a.doc["label"].s, "first");
    EXPECT_TRUE(a.doc["n"].is_nil()) << a.doc;
    MRes b = upsert("second");
    ASSERT_EQ(b.rc, KVORM_OK) << b.doc;
    EXPECT_EQ(b.doc["label"].s, "second");
    EXPECT_EQ(b.doc["n"].as_int(), 7);
    EXPECT_EQ(Count(db, "Item"), 1);
    JRes found = J(db, "Item", "findMany", R"({"where":{"label":"second"}})");
    KT_ASSERT_OK(found);
    EXPECT_EQ(json_array_size(found.get()), 1u) << found.text;
    CheckClean(db, "Item");
}

// ---- unique constraints --------------------------------------------------------------------------------------------

class LmdbUnique : public LmdbTest {};

TEST_F(LmdbUnique, ASingleFieldUniqueIsEnforcedOnCreateAndUpdate)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    ASSERT_EQ(CreateUser(db, "ann@x.io").rc, KVORM_OK);
    MRes bob = CreateUser(db, "bob@x.io");
    ASSERT_EQ(bob.rc, KVORM_OK);

    MRes dup = CreateUser(db, "ann@x.io", "o2");
    EXPECT_EQ(dup.rc, KVORM_EUNIQUE);
    EXPECT_EQ(ErrCode(dup), "UNIQUE_VIOLATION");
    EXPECT_EQ(ErrFields(dup), std::vector<std::string>{"email"});
    EXPECT_EQ(ErrMessage(dup), "User: unique constraint email is violated: another record has email \"ann@x.io\"");

    MRes take = Update(db, "User", "id", bob.doc["id"].s, M("email", "ann@x.io"));
    EXPECT_EQ(take.rc, KVORM_EUNIQUE) << take.doc;
    // the failed update wrote nothing: bob keeps his email, and his version
    MRes f = Run(db, "User", "findUnique",
                 mp::map({{"where", M("email", "bob@x.io")}, {"select", M("$version", mp::boolean(true))}}));
    ASSERT_EQ(f.rc, KVORM_OK);
    EXPECT_EQ(f.doc["$version"].as_int(), 1) << f.doc;

    // an update to its own value is no violation; a freed value can be taken
    MRes same = Update(db, "User", "email", "bob@x.io", M("email", "bob@x.io"));
    EXPECT_EQ(same.rc, KVORM_OK) << same.doc;
    MRes moved = Update(db, "User", "email", "bob@x.io", M("email", "rob@x.io"));
    ASSERT_EQ(moved.rc, KVORM_OK) << moved.doc;
    EXPECT_EQ(CreateUser(db, "bob@x.io").rc, KVORM_OK) << "bob@x.io was freed by the update";
    f = Find(db, "User", "email", "rob@x.io");
    EXPECT_EQ(f.doc["id"].s, bob.doc["id"].s);
    CheckClean(db, "User");
}

TEST_F(LmdbUnique, ACompoundUniqueComparesAllItsFields)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    auto slot = [&](const std::string &t, const std::string &s) {
        return Run(db, "Slot", "create", mp::map({{"data", mp::map({{"tenant", t}, {"slug", s}})}}));
    };
    ASSERT_EQ(slot("t1", "a").rc, KVORM_OK);
    EXPECT_EQ(slot("t1", "b").rc, KVORM_OK);
    EXPECT_EQ(slot("t2", "a").rc, KVORM_OK);
    MRes dup = slot("t1", "a");
    EXPECT_EQ(dup.rc, KVORM_EUNIQUE);
    EXPECT_EQ(ErrFields(dup), (std::vector<std::string>{"tenant", "slug"}));
    EXPECT_NE(ErrMessage(dup).find("unique constraint tenantSlug is violated"), std::string::npos) << dup.doc;

    MRes f = Run(db, "Slot", "findUnique",
                 mp::map({{"where", mp::map({{"tenantSlug", mp::map({{"tenant", "t2"}, {"slug", "a"}})}})}}));
    ASSERT_EQ(f.rc, KVORM_OK) << f.doc;
    EXPECT_EQ(f.doc["tenant"].s, "t2");
    MRes u = Run(db, "Slot", "update",
                 mp::map({{"where", mp::map({{"id", f.doc["id"].s}})}, {"data", mp::map({{"tenant", "t1"}})}}));
    EXPECT_EQ(u.rc, KVORM_EUNIQUE) << u.doc;
    EXPECT_EQ(Count(db, "Slot"), 3);
    CheckClean(db, "Slot");

    // the users' compound unique: the same email in two orgs is taken by the single-field unique first
    ASSERT_EQ(CreateUser(db, "x@x.io", "o1").rc, KVORM_OK);
    MRes both = CreateUser(db, "x@x.io", "o1");
    EXPECT_EQ(both.rc, KVORM_EUNIQUE);
}

TEST_F(LmdbUnique, SkipDuplicatesSkipsTakenValuesAndIds)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    JRes r = J(db, "Item", "createMany",
               R"({"data":[{"id":"a","handle":"h1"},{"id":"b","handle":"h1"},{"id":"a"},{"id":"c","handle":"h2"}],
                   "skipDuplicates":true})");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 2) << r.text;
    EXPECT_EQ(Count(db, "Item"), 2);
    CheckClean(db, "Item");
}

// ---- ids ---------------------------------------------------------------------------------------------------------

class LmdbIds : public LmdbTest {};

TEST_F(LmdbIds, GeneratedIntegerIdsCountOnAndSkipTakenOnes)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    auto create = [&](const mp::V &data) { return Run(db, "Counter", "create", mp::map({{"data", data}})); };
    EXPECT_EQ(create(mp::map({})).doc["id"].as_int(), 1);
    EXPECT_EQ(create(mp::map({})).doc["id"].as_int(), 2);
    // an id given moves the sequence past it
    MRes given = create(mp::map({{"id", mp::i(10)}}));
    ASSERT_EQ(given.rc, KVORM_OK) << given.doc;
    EXPECT_EQ(create(mp::map({})).doc["id"].as_int(), 11);
    // an id given below the sequence leaves it alone; the counter then skips ids that are taken
    ASSERT_EQ(create(mp::map({{"id", mp::i(12)}})).rc, KVORM_OK);
    EXPECT_EQ(create(mp::map({})).doc["id"].as_int(), 13);
    MRes taken = create(mp::map({{"id", mp::i(10)}}));
    EXPECT_EQ(taken.rc, KVORM_EUNIQUE);
    EXPECT_EQ(ErrFields(taken), std::vector<std::string>{"id"});
    EXPECT_EQ(ErrMessage(taken), "Counter: a record with id \"10\" already exists");
    // a create that fails takes no id
    ASSERT_EQ(create(mp::map({{"code", "A"}})).doc["id"].as_int(), 14);
    EXPECT_EQ(create(mp::map({{"code", "A"}})).rc, KVORM_EUNIQUE);
    EXPECT_EQ(create(mp::map({})).doc["id"].as_int(), 15);
    // ids order as numbers in the id collection
    JRes all = J(db, "Counter", "findMany", R"({"orderBy":{"id":"desc"},"take":3})");
    KT_ASSERT_OK(all);
    ASSERT_EQ(json_array_size(all.get()), 3u) << all.text;
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(all.get(), 0), "id")), 15);
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(all.get(), 2), "id")), 13);
    CheckClean(db, "Counter");
}

TEST_F(LmdbIds, UlidsAreDistinctAndOrderedInTheIdCollection)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    std::set<std::string> ids;
    for (int i = 0; i < 50; i++) {
        MRes c = CreateUser(db, "u" + std::to_string(i) + "@x.io");
        ASSERT_EQ(c.rc, KVORM_OK) << c.doc;
        ASSERT_EQ(c.doc["id"].s.size(), 26u);
        ids.insert(c.doc["id"].s);
    }
    EXPECT_EQ(ids.size(), 50u);
    JRes all = J(db, "User", "findMany", R"({"orderBy":{"id":"asc"}})");
    KT_ASSERT_OK(all);
    ASSERT_EQ(json_array_size(all.get()), 50u);
    auto it = ids.begin();
    for (size_t k = 0; k < 50; k++, ++it)
        EXPECT_EQ(json_string_value(json_object_get(json_array_get(all.get(), k), "id")), *it) << k;
}

// Ids and values longer than LMDB's 511-byte key limit still key records, unique entries and index entries, in order.
TEST_F(LmdbIds, KeysLongerThanLmdbAllowsKeepTheirOrder)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    std::string base(505, 'k');  // an id element of 510 bytes and more: its record key is over the limit too
    std::vector<std::string> ids;
    for (int i = 0; i < 12; i++) {
        // ids that share their first 505 bytes, and labels that share 300: several items per bucket
        std::string id = base + std::string(1, static_cast<char>('a' + (i * 7) % 12)) + std::to_string(i);
        std::string label = std::string(300, 'L') + std::to_string(i % 3);
        std::string handle = std::string(2000, 'h') + std::to_string(i);
        MRes c = Run(db, "Item", "create",
                     mp::map({{"data", mp::map({{"id", id}, {"label", label}, {"handle", handle}, {"n", mp::i(i)}})}}));
        ASSERT_EQ(c.rc, KVORM_OK) << c.doc;
        ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    MRes dup = Create(db, "Item", mp::map({{"id", "short"}, {"handle", std::string(2000, 'h') + "3"}}));
    EXPECT_EQ(dup.rc, KVORM_EUNIQUE) << "a 2001-byte unique value is found taken";
    MRes byHandle = Find(db, "Item", "handle", std::string(2000, 'h') + "5");
    ASSERT_EQ(byHandle.rc, KVORM_OK);
    EXPECT_EQ(byHandle.doc["n"].as_int(), 5) << byHandle.doc;

    for (const char *dir : {"asc", "desc"}) {
        JRes all = J(db, "Item", "findMany", std::string(R"({"orderBy":{"id":")") + dir + R"("}})");
        KT_ASSERT_OK(all);
        ASSERT_EQ(json_array_size(all.get()), ids.size());
        for (size_t k = 0; k < ids.size(); k++) {
            size_t want = std::string(dir) == "asc" ? k : ids.size() - 1 - k;
            EXPECT_EQ(json_string_value(json_object_get(json_array_get(all.get(), k), "id")), ids[want]) << dir << k;
        }
    }
    // a range of the label index whose entries are all in buckets
    JRes some = J(db, "Item", "findMany",
                  "{\"where\":{\"label\":" + JStr(std::string(300, 'L') + "1") + "},\"orderBy\":{\"label\":\"desc\"}}");
    KT_ASSERT_OK(some);
    EXPECT_EQ(json_array_size(some.get()), 4u) << some.text;
    JRes plan = J(db, "Item", "explain",
                  "{\"op\":\"findMany\",\"args\":{\"where\":{\"label\":" + JStr(std::string(300, 'L') + "1") + "}}}");
    EXPECT_EQ(plan.str("plan"), "index") << plan.text;
    CheckClean(db, "Item");
    for (size_t k = 0; k < ids.size(); k += 2)
        ASSERT_EQ(Delete(db, "Item", "id", ids[k]).rc, KVORM_OK);
    EXPECT_EQ(Count(db, "Item"), 6);
    CheckClean(db, "Item");
    CloseAll();
    // records, unique entries and index entries all went over the limit: LMDB holds their buckets
    for (const char *name : {"records", "uniques", "index"})
        EXPECT_GT(RawKeysOfLength(name, 511), 0) << name;
}

// ---- versions ------------------------------------------------------------------------------------------------------

class LmdbVersion : public LmdbTest {};

TEST_F(LmdbVersion, IfVersionRefusesAStaleWrite)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    ASSERT_EQ(CreateUser(db, "ann@x.io").rc, KVORM_OK);
    auto update = [&](int64_t v, int64_t age) {
        return Run(db, "User", "update",
                   mp::map({{"where", mp::map({{"email", "ann@x.io"}})}, {"data", mp::map({{"age", mp::i(age)}})},
                            {"ifVersion", mp::i(v)}, {"select", mp::map({{"$version", mp::boolean(true)}})}}));
    };
    MRes u = update(1, 5);
    ASSERT_EQ(u.rc, KVORM_OK) << u.doc;
    EXPECT_EQ(u.doc["$version"].as_int(), 2);
    MRes stale = update(1, 6);
    EXPECT_EQ(stale.rc, KVORM_ECONFLICT);
    EXPECT_EQ(ErrCode(stale), "CONFLICT");
    EXPECT_EQ(ErrMessage(stale), "User: the record is at version 2, not the expected version 1");
    MRes d = Run(db, "User", "delete", mp::map({{"where", mp::map({{"email", "ann@x.io"}})}, {"ifVersion", mp::i(1)}}));
    EXPECT_EQ(d.rc, KVORM_ECONFLICT);
    JRes age = J(db, "User", "findMany", R"({"where":{"age":5}})");
    EXPECT_EQ(json_array_size(age.get()), 1u) << "the refused writes changed nothing: " << age.text;
    d = Run(db, "User", "delete", mp::map({{"where", mp::map({{"email", "ann@x.io"}})}, {"ifVersion", mp::i(2)}}));
    EXPECT_EQ(d.rc, KVORM_OK) << d.doc;
    EXPECT_EQ(Count(db, "User"), 0);
}

// ---- indexes and queries -------------------------------------------------------------------------------------------

class LmdbQuery : public LmdbTest {};

TEST_F(LmdbQuery, IndexesServeFindManyCountAggregateAndExplain)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    for (int i = 0; i < 40; i++)
        ASSERT_EQ(CreateUser(db, "u" + std::to_string(i) + "@x.io", i % 2 ? "odd" : "even", i % 10).rc, KVORM_OK);
    JRes r = J(db, "User", "findMany", R"({"where":{"age":{"gte":3,"lt":5}},"orderBy":{"age":"desc"}})");
    KT_ASSERT_OK(r);
    ASSERT_EQ(json_array_size(r.get()), 8u) << r.text;
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(r.get(), 0), "age")), 4);
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(r.get(), 7), "age")), 3);

    JRes page = J(db, "User", "findMany", R"({"orderBy":{"age":"asc"},"skip":5,"take":3,"select":{"age":true}})");
    KT_ASSERT_OK(page);
    EXPECT_EQ(DumpJson(page.get()), R"([{"age":1},{"age":1},{"age":1}])");

    JRes c = J(db, "User", "count", R"({"where":{"age":{"in":[0,9]}}})");
    KT_ASSERT_OK(c);
    EXPECT_EQ(json_integer_value(c.get()), 8);
    EXPECT_EQ(Count(db, "User"), 40);

    JRes a = J(db, "User", "aggregate",
               R"({"where":{"orgId":"odd"},"_count":true,"_sum":{"age":true},"_max":{"age":true}})");
    KT_ASSERT_OK(a);
    JsonPtr want = ParseJson(R"({"_count":20,"_sum":{"age":100},"_max":{"age":9}})");
    EXPECT_TRUE(json_equal(want.get(), a.get())) << a.text;

    JRes x = J(db, "User", "explain", R"({"op":"findMany","args":{"where":{"age":7}}})");
    KT_ASSERT_OK(x);
    EXPECT_EQ(x.str("plan"), "index") << x.text;
    EXPECT_EQ(x.str("index"), "age") << x.text;

    // updates move index entries, deletes remove them
    JRes um = J(db, "User", "updateMany", R"({"where":{"age":9},"data":{"age":19}})");
    KT_ASSERT_OK(um);
    EXPECT_EQ(um.integer("count"), 4);
    JRes dm = J(db, "User", "deleteMany", R"({"where":{"age":{"lt":2}}})");
    KT_ASSERT_OK(dm);
    EXPECT_EQ(dm.integer("count"), 8);
    r = J(db, "User", "findMany", R"({"where":{"age":{"gt":8}}})");
    EXPECT_EQ(json_array_size(r.get()), 4u) << r.text;
    JRes rep = CheckClean(db, "User");
    EXPECT_EQ(rep.integer("records"), 32) << rep.text;
    const json_t *age = json_object_get(rep.at("indexes"), "age");
    EXPECT_EQ(json_integer_value(json_object_get(age, "entries")), 32) << rep.text;
}

TEST_F(LmdbQuery, AnIndexAddedLaterIsBuiltByReindex)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    for (int i = 0; i < 25; i++) {
        MRes c = Create(db, "Item", mp::map({{"id", "i" + std::to_string(i)}, {"n", mp::i(i % 5)}}));
        ASSERT_EQ(c.rc, KVORM_OK) << c.doc;
    }
    CloseAll();
    db = Open(SchemaWithMore());
    ASSERT_NE(db, nullptr);
    JRes x = J(db, "Item", "explain", R"({"op":"findMany","args":{"where":{"n":3}}})");
    KT_ASSERT_OK(x);
    EXPECT_EQ(x.str("plan"), "scan") << x.text;
    EXPECT_NE(x.text.find("building"), std::string::npos) << x.text;
    // a write while it is building maintains it
    KT_ASSERT_OK(J(db, "Item", "create", R"({"data":{"id":"late","n":3}})"));
    JRes rep = CheckClean(db, "Item");
    EXPECT_TRUE(json_is_false(json_object_get(json_object_get(rep.at("indexes"), "n"), "ready"))) << rep.text;

    JRes b = J(db, "Item", "reindex", R"({"index":"n","chunk":7})");
    KT_ASSERT_OK(b);
    EXPECT_EQ(DumpJson(b.at("built")), R"(["n"])");
    EXPECT_EQ(b.integer("records"), 26);
    x = J(db, "Item", "explain", R"({"op":"findMany","args":{"where":{"n":3}}})");
    EXPECT_EQ(x.str("plan"), "index") << x.text;
    JRes r = J(db, "Item", "findMany", R"({"where":{"n":3}})");
    EXPECT_EQ(json_array_size(r.get()), 6u) << r.text;
    rep = CheckClean(db, "Item");
    EXPECT_EQ(json_integer_value(json_object_get(json_object_get(rep.at("indexes"), "n"), "entries")), 26) << rep.text;
    EXPECT_TRUE(json_is_true(json_object_get(json_object_get(rep.at("indexes"), "n"), "ready"))) << rep.text;
}

TEST_F(LmdbQuery, AUniqueAddedLaterRefusesToBuildOverDuplicates)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    std::vector<std::string> ids;
    for (const char *t : {"x", "y", "x", "z"}) {
        std::string slug = std::string("s") + t + std::to_string(ids.size());
        MRes c = Create(db, "Slot", mp::map({{"tenant", "t"}, {"slug", slug}, {"title", t}}));
        ASSERT_EQ(c.rc, KVORM_OK) << c.doc;
        ids.push_back(c.doc["id"].s);
    }
    CloseAll();
    db = Open(SchemaWithMore());
    ASSERT_NE(db, nullptr);
    JRes b = J(db, "Slot", "reindex", R"({"chunk":2})");
    EXPECT_EQ(b.rc, KVORM_EUNIQUE) << b.text;
    EXPECT_NE(b.str("message").find(ids[0]), std::string::npos) << b.text;
    EXPECT_NE(b.str("message").find(ids[2]), std::string::npos) << b.text;
    EXPECT_EQ(b.fields(), std::vector<std::string>{"title"}) << b.text;
    // still building: a lookup or a write by it could miss a record, so it is refused
    MRes early = Find(db, "Slot", "title", "y");
    EXPECT_EQ(early.rc, KVORM_EUNAVAILABLE) << early.doc;
    EXPECT_EQ(ErrFields(early), std::vector<std::string>{"title"});
    EXPECT_EQ(Update(db, "Slot", "title", "y", M("slug", "other")).rc, KVORM_EUNAVAILABLE);
    EXPECT_EQ(Delete(db, "Slot", "title", "y").rc, KVORM_EUNAVAILABLE);
    // fix the data and build again
    MRes fix = Update(db, "Slot", "id", ids[2], M("title", "w"));
    ASSERT_EQ(fix.rc, KVORM_OK) << fix.doc;
    b = J(db, "Slot", "reindex");
    KT_ASSERT_OK(b);
    EXPECT_EQ(DumpJson(b.at("built")), R"(["title"])");
    MRes f = Find(db, "Slot", "title", "w");
    ASSERT_EQ(f.rc, KVORM_OK) << f.doc;
    EXPECT_EQ(f.doc["id"].s, ids[2]);
    MRes dup = Create(db, "Slot", mp::map({{"tenant", "t"}, {"slug", "new"}, {"title", "x"}}));
    EXPECT_EQ(dup.rc, KVORM_EUNIQUE) << dup.doc;
    CheckClean(db, "Slot");
}

// ---- many writes ---------------------------------------------------------------------------------------------------

class LmdbMany : public LmdbTest {};

TEST_F(LmdbMany, CreateManyCrossesTransactionGroups)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    std::string data = "[";
    for (int i = 0; i < 700; i++)
        data += std::string(i ? "," : "") + "{\"id\":\"m" + std::to_string(i) + "\",\"label\":\"l" +
                std::to_string(i % 7) + "\"}";
    data += "]";
    JRes r = J(db, "Item", "createMany", "{\"data\":" + data + "}");
    KT_ASSERT_OK(r);
    EXPECT_EQ(r.integer("count"), 700);
    EXPECT_EQ(Count(db, "Item"), 700);
    JRes c = J(db, "Item", "count", R"({"where":{"label":"l3"}})");
    EXPECT_EQ(json_integer_value(c.get()), 100) << c.text;
    // a taken id fails the call all or nothing (one transaction up to atomicManyLimit records)
    r = J(db, "Item", "createMany", R"({"data":[{"id":"n1"},{"id":"m5"},{"id":"n2"}]})");
    EXPECT_EQ(r.rc, KVORM_EUNIQUE) << r.text;
    MRes n1 = Find(db, "Item", "id", "n1");
    EXPECT_TRUE(n1.doc.is_nil()) << "nothing of the call is written";
    EXPECT_EQ(Count(db, "Item"), 700);
    JRes rep = CheckClean(db, "Item");
    EXPECT_EQ(rep.integer("records"), Count(db, "Item"));
}

TEST_F(LmdbMany, ABatchRunsInOrderWithOneOutcomePerRequest)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    std::vector<std::string> reqs = {
        mp::pack(MReq("Item", "create", M("data", mp::map({{"id", "a"}, {"label", "one"}, {"handle", "h"}})))),
        mp::pack(MReq("Item", "findUnique", mp::map({{"where", mp::map({{"id", "a"}})}}))),
        mp::pack(MReq("Item", "create", mp::map({{"data", mp::map({{"id", "b"}, {"handle", "h"}})}}))),
        mp::pack(MReq("Item", "update", mp::map({{"where", M("id", "a")}, {"data", M("label", "two")}}))),
        mp::pack(MReq("Item", "findUnique", mp::map({{"where", mp::map({{"handle", "h"}})}}))),
        mp::pack(MReq("Item", "delete", mp::map({{"where", mp::map({{"id", "zz"}})}}))),
        mp::pack(MReq("Item", "create", mp::map({{"data", mp::map({{"id", "c"}, {"label", "two"}})}}))),
    };
    size_t n = reqs.size();
    std::vector<const void *> ptrs;
    std::vector<size_t> lens;
    for (const auto &r : reqs) {
        ptrs.push_back(r.data());
        lens.push_back(r.size());
    }
    std::vector<unsigned char *> outs(n);
    std::vector<size_t> out_lens(n);
    std::vector<int> st(n);
    ASSERT_EQ(kvorm_exec_batch(outs.data(), out_lens.data(), st.data(), db, ptrs.data(), lens.data(), n), KVORM_OK);
    std::vector<mp::V> docs(n);
    for (size_t i = 0; i < n; i++) {
        EXPECT_TRUE(mp::unpack(std::string(reinterpret_cast<char *>(outs[i]), out_lens[i]), &docs[i]));
        kvorm_free(outs[i]);
    }
    EXPECT_EQ(st, (std::vector<int>{KVORM_OK, KVORM_OK, KVORM_EUNIQUE, KVORM_OK, KVORM_OK, KVORM_ENOTFOUND, KVORM_OK}));
    EXPECT_EQ(docs[1]["label"].s, "one") << "a read sees the write before it";
    EXPECT_EQ(docs[4]["label"].s, "two") << docs[4];
    EXPECT_EQ(docs[2]["code"].s, "UNIQUE_VIOLATION");
    EXPECT_EQ(Count(db, "Item"), 2);
    JRes r = J(db, "Item", "findMany", R"({"where":{"label":"two"},"orderBy":{"id":"asc"}})");
    EXPECT_EQ(DumpJson(r.get()),
              R"([{"id":"a","label":"two","n":null,"handle":"h"},{"id":"c","label":"two","n":null,"handle":null}])");
    CheckClean(db, "Item");
}

// ---- the stored schema, persistence --------------------------------------------------------------------------------

class LmdbSchema : public LmdbTest {};

TEST_F(LmdbSchema, AnIncompatibleChangeIsAMismatchAndACompatibleOneIsStored)
{
    ASSERT_NE(Open(), nullptr);
    ASSERT_EQ(CreateUser(dbs_[0].get(), "ann@x.io", "o1", 3).rc, KVORM_OK);
    CloseAll();
    std::string changed = kSchema;
    changed.replace(changed.find(R"("age": {"type": "integer")"), std::string(R"("age": {"type": "integer")").size(),
                    R"("age": {"type": "string")");
    std::string msg;
    EXPECT_EQ(OpenFails(Url(), &msg, changed), KVORM_ESCHEMA_MISMATCH) << msg;
    EXPECT_NE(msg.find("User"), std::string::npos) << msg;
    EXPECT_NE(msg.find("age"), std::string::npos) << msg;

    // a new optional field is compatible; the data is still there
    std::string added = kSchema;
    added.replace(added.find(R"("name": {"type": "string", "optional": true})"),
                  std::string(R"("name": {"type": "string", "optional": true})").size(),
                  R"("name": {"type": "string", "optional": true}, "nick": {"type": "string", "optional": true})");
    kvorm_db *db = Open(added);
    ASSERT_NE(db, nullptr);
    MRes f = Find(db, "User", "email", "ann@x.io");
    ASSERT_EQ(f.rc, KVORM_OK);
    EXPECT_EQ(f.doc["age"].as_int(), 3);
    EXPECT_TRUE(f.doc.has("nick"));
    CloseAll();
    // the stored layout now has "nick": the old schema, without it, is a mismatch (a removed field)
    EXPECT_EQ(OpenFails(Url(), &msg), KVORM_ESCHEMA_MISMATCH) << msg;
    EXPECT_NE(msg.find("nick"), std::string::npos) << msg;
}

TEST_F(LmdbSchema, ReopeningKeepsRecordsEntriesAndTheSequence)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    ASSERT_EQ(CreateUser(db, "ann@x.io", "o1", 7).rc, KVORM_OK);
    ASSERT_EQ(Create(db, "Counter", mp::map({})).doc["id"].as_int(), 1);
    ASSERT_EQ(Create(db, "Counter", mp::map({})).doc["id"].as_int(), 2);
    CloseAll();
    db = Open();
    ASSERT_NE(db, nullptr);
    MRes f = Find(db, "User", "email", "ann@x.io");
    ASSERT_EQ(f.rc, KVORM_OK);
    EXPECT_EQ(f.doc["age"].as_int(), 7) << f.doc;
    EXPECT_EQ(Create(db, "Counter", mp::map({})).doc["id"].as_int(), 3);
    EXPECT_EQ(CreateUser(db, "ann@x.io").rc, KVORM_EUNIQUE) << "unique entries persist";
    JRes r = J(db, "User", "findMany", R"({"where":{"age":7}})");
    EXPECT_EQ(json_array_size(r.get()), 1u) << r.text;
    CheckClean(db, "User");
}

TEST_F(LmdbSchema, TheCapabilitiesAreLmdbs)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    unsigned char *out = nullptr;
    size_t len = 0;
    ASSERT_EQ(kvorm_capabilities(&out, &len, db), KVORM_OK);
    mp::V caps;
    ASSERT_TRUE(mp::unpack(std::string(reinterpret_cast<char *>(out), len), &caps));
    kvorm_free(out);
    EXPECT_EQ(caps["engine"].s, "lmdb");
    EXPECT_EQ(caps["transactions"], mp::boolean(false));  // the transaction op has not landed
    EXPECT_EQ(caps["snapshotReads"], mp::boolean(true));  // a query reads its pages in one read transaction
    EXPECT_EQ(caps["ttl"], mp::boolean(false));
    EXPECT_EQ(caps["readOnly"], mp::boolean(false));
    EXPECT_EQ(caps["formatVersion"].as_int(), 2);
    EXPECT_FALSE(caps["serverVersion"].s.empty());
}

// ---- concurrency and crashes ---------------------------------------------------------------------------------------

class LmdbConcurrency : public LmdbTest {};

TEST_F(LmdbConcurrency, TwoHandlesAndFourThreadsLeaveConsistentData)
{
    kvorm_db *a = Open(), *b = Open();
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    std::atomic<int> created{0}, deleted{0}, failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++) {
        threads.emplace_back([&, t] {
            kvorm_db *db = t % 2 ? b : a;
            for (int i = 0; i < 150; i++) {
                // emails collide across threads: exactly one create of each wins
                std::string email = "e" + std::to_string(i % 60) + "@x.io";
                MRes c = CreateUser(db, email, "o" + std::to_string(t), i % 13);
                if (c.rc == KVORM_OK)
                    created++;
                else if (c.rc != KVORM_EUNIQUE)
                    failures++;
                MRes u = Update(db, "User", "email", email, M("age", mp::i(t * 100 + i)));
                if (u.rc != KVORM_OK && u.rc != KVORM_ENOTFOUND)
                    failures++;
                if (i % 5 == 0) {
                    MRes d = Delete(db, "User", "email", email);
                    if (d.rc == KVORM_OK)
                        deleted++;
                    else if (d.rc != KVORM_ENOTFOUND)
                        failures++;
                }
                JRes q = J(db, "User", "findMany", R"({"where":{"age":{"gte":0}},"take":5})");
                if (q.rc != KVORM_OK)
                    failures++;
            }
        });
    }
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_GT(created.load(), 0);
    EXPECT_EQ(Count(a, "User"), created.load() - deleted.load());
    EXPECT_EQ(Count(b, "User"), created.load() - deleted.load());
    JRes rep = CheckClean(a, "User");
    EXPECT_EQ(rep.integer("records"), created.load() - deleted.load());
}

TEST_F(LmdbConcurrency, TheMapGrowsWhileThreadsReadAndWrite)
{
    kvorm_db *a = Open(kSchema, "mapsize=65536&sync=nosync"), *b = Open();
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    std::atomic<int> failures{0};
    std::string name(300, 'g');
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++) {
        threads.emplace_back([&, t] {
            kvorm_db *db = t % 2 ? b : a;
            for (int i = 0; i < 400; i++) {
                std::string email = "t" + std::to_string(t) + "-" + std::to_string(i);
                mp::V data = mp::map({{"email", email}, {"orgId", "o"}, {"age", mp::i(i % 9)}, {"name", name}});
                if (Create(db, "User", data).rc != KVORM_OK)
                    failures++;
                if (J(db, "User", "findMany", R"({"where":{"age":3},"take":3})").rc != KVORM_OK)
                    failures++;
            }
        });
    }
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(Count(b, "User"), 1600);
    CheckClean(a, "User");
}

class LmdbCrash : public LmdbTest {};

TEST_F(LmdbCrash, AWriterKilledMidWriteLeavesACleanStore)
{
    kvorm_db *db = Open();
    ASSERT_NE(db, nullptr);
    SchemaPtr schema = LoadSchema(kSchema);
    std::string url = Url();
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // the child opens its own db (never the parent's) and writes until it is killed
        kvorm_db *mine = nullptr;
        if (kvorm_open(&mine, url.c_str(), schema.get(), nullptr) != KVORM_OK)
            _exit(2);
        for (long i = 0;; i++) {
            mp::V data = mp::map({{"email", "c" + std::to_string(i)}, {"orgId", "o"}, {"age", mp::i(i % 50)}});
            std::string req = mp::pack(MReq("User", "create", M("data", data)));
            unsigned char *out = nullptr;
            size_t len = 0;
            kvorm_exec(&out, &len, mine, req.data(), req.size());
            kvorm_free(out);
            mp::V where = mp::map({{"age", mp::i(i % 50)}, {"email", "c" + std::to_string(i - 25)}});
            std::string del = mp::pack(MReq("User", "deleteMany", M("where", where)));
            kvorm_exec(&out, &len, mine, del.data(), del.size());
            kvorm_free(out);
        }
    }
    // kill it once it has written a good deal: somewhere inside a write, likely
    bool wrote = WaitFor([&] { return Count(db, "User") >= 300; });
    kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(wrote) << "the child wrote too little";
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    // nothing half-written shows
    JRes rep = CheckClean(db, "User");
    EXPECT_GE(rep.integer("records"), 300) << rep.text;
    // the writer lock it may have held is taken over. (A child killed after writing its commit's meta page but
    // before publishing it to readers has that commit show only from this next write on: LMDB's recovery.)
    ASSERT_EQ(CreateUser(db, "after@x.io", "o", 1).rc, KVORM_OK);
    rep = CheckClean(db, "User");
    EXPECT_EQ(Count(db, "User"), rep.integer("records"));
    MRes f = Find(db, "User", "email", "after@x.io");
    EXPECT_EQ(f.doc["age"].as_int(), 1) << f.doc;
}

// Children that take every reader slot of the environment with raw LMDB read transactions, then die by SIGKILL
// holding them. Returns how many got a slot.
static int KillReadersHoldingSlots(const std::string &path, int children)
{
    std::vector<pid_t> pids;
    int held = 0;
    for (int k = 0; k < children; k++) {
        int fds[2];
        if (pipe(fds) != 0)
            return -1;
        pid_t pid = fork();
        if (pid == 0) {
            // a process of its own: its own MDB_env, never the parent's
            MDB_env *env = nullptr;
            MDB_txn *txn = nullptr;
            char got = 'n';
            if (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 8) == 0 &&
                mdb_env_open(env, path.c_str(), MDB_NOTLS, 0664) == 0 &&
                mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0)
                got = 'y';
            if (write(fds[1], &got, 1) != 1)
                _exit(3);
            pause();
            _exit(0);
        }
        close(fds[1]);
        char got = 'n';
        if (pid > 0 && read(fds[0], &got, 1) == 1 && got == 'y')
            held++;
        close(fds[0]);
        if (pid > 0)
            pids.push_back(pid);
    }
    for (pid_t pid : pids) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
    }
    return held;
}

// Readers killed while they hold read transactions leave their slots behind (a lock file table shared by every
// process). They neither block reads (a full table is cleared of dead processes' slots, mdb_reader_check) nor
// pin an old snapshot that would keep writers from reusing pages.
TEST_F(LmdbCrash, ReadersKilledHoldingSlotsBlockNeitherReadsNorWriters)
{
    kvorm_db *db = Open(kSchema, "maxreaders=3&sync=nosync");
    ASSERT_NE(db, nullptr);
    ASSERT_EQ(CreateUser(db, "ann@x.io", "o", 0).rc, KVORM_OK);
    int held = KillReadersHoldingSlots(path_, 3);
    ASSERT_GE(held, 2) << "the children did not take the reader slots";
    for (int i = 0; i < 20; i++) {
        MRes f = Find(db, "User", "email", "ann@x.io");
        ASSERT_EQ(f.rc, KVORM_OK) << "a read after the readers died: " << f.doc;
    }

    // one dead reader in a table with room to spare, after the open: the writes below must still reuse freed pages
    // instead of growing the file as its pinned snapshot would make them (several pages per update)
    std::string two = root_ + "/two";
    DbPtr db2 = OpenDb(kSchema, "lmdb://" + two + "?sync=nosync");
    ASSERT_TRUE(db2);
    ASSERT_EQ(CreateUser(db2.get(), "ann@x.io", "o", 0).rc, KVORM_OK);
    ASSERT_EQ(KillReadersHoldingSlots(two, 1), 1);
    struct stat before, after;
    ASSERT_EQ(stat((two + "/data.mdb").c_str(), &before), 0);
    for (int i = 1; i <= 2000; i++) {
        MRes u = Update(db2.get(), "User", "email", "ann@x.io",
                        mp::map({{"age", mp::i(i)}, {"name", std::string(300, (char)('a' + i % 26))}}));
        ASSERT_EQ(u.rc, KVORM_OK) << u.doc;
    }
    ASSERT_EQ(stat((two + "/data.mdb").c_str(), &after), 0);
    EXPECT_LT(after.st_size - before.st_size, 4 << 20) << "freed pages were not reused: a dead reader pins them";
    EXPECT_EQ(Find(db2.get(), "User", "email", "ann@x.io").doc["age"].as_int(), 2000);
    CheckClean(db2.get(), "User");
}

// Read transactions are reset and renewed rather than begun anew (lmdb_env.c). The ones kept idle hold reader
// slots but no snapshot: they take at most half the table, so other processes still read, and they pin no pages.
// Threads that end their reads hand their transactions to the next ones (renewed, not begun).
TEST_F(LmdbCrash, IdleReadTransactionsLeaveSlotsToOthersAndPinNoPages)
{
    kvorm_db *db = Open(kSchema, "maxreaders=4&sync=nosync");
    ASSERT_NE(db, nullptr);
    ASSERT_EQ(CreateUser(db, "ann@x.io", "o", 0).rc, KVORM_OK);
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    // as many threads as reader slots: more would be refused (UNAVAILABLE) whenever they all read at once
    for (int k = 0; k < 4; k++)
        threads.emplace_back([&] {
            for (int i = 0; i < 200; i++)
                if (Find(db, "User", "email", "ann@x.io").rc != KVORM_OK)
                    failed++;
        });
    for (auto &t : threads)
        t.join();
    ASSERT_EQ(failed.load(), 0) << "reads from 4 threads with 4 reader slots";
    EXPECT_GE(KillReadersHoldingSlots(path_, 2), 2) << "the idle read transactions took more than half the slots";

    struct stat before, after;
    ASSERT_EQ(stat((path_ + "/data.mdb").c_str(), &before), 0);
    for (int i = 1; i <= 2000; i++) {
        MRes u = Update(db, "User", "email", "ann@x.io",
                        mp::map({{"age", mp::i(i)}, {"name", std::string(300, (char)('a' + i % 26))}}));
        ASSERT_EQ(u.rc, KVORM_OK) << u.doc;
        if (i % 100 == 0) {
            ASSERT_EQ(Find(db, "User", "email", "ann@x.io").doc["age"].as_int(), i); /* an idle one, renewed */
        }
    }
    ASSERT_EQ(stat((path_ + "/data.mdb").c_str(), &after), 0);
    EXPECT_LT(after.st_size - before.st_size, 4 << 20) << "freed pages were not reused: an idle reader pins them";
    CheckClean(db, "User");
}

// ---- the map ------------------------------------------------------------------------------------------------------

class LmdbMap : public LmdbTest {};

TEST_F(LmdbMap, ATinyMapGrowsAsTheDataDoes)
{
    kvorm_db *db = Open(kSchema, "mapsize=65536&sync=nosync");
    ASSERT_NE(db, nullptr);
    std::string name(200, 'n');
    for (int i = 0; i < 3000; i += 100) {
        std::string data = "[";
        for (int k = i; k < i + 100; k++)
            data += std::string(k > i ? "," : "") + "{\"email\":\"g" + std::to_string(k) +
                    "\",\"orgId\":\"o\",\"age\":" + std::to_string(k % 17) + ",\"name\":\"" + name + "\"}";
        JRes r = J(db, "User", "createMany", "{\"data\":" + data + "]}");
        ASSERT_EQ(r.rc, KVORM_OK) << r.text;
    }
    MRes one = CreateUser(db, "single@x.io", "o", 1);
    ASSERT_EQ(one.rc, KVORM_OK) << one.doc;
    EXPECT_EQ(Count(db, "User"), 3001);
    CheckClean(db, "User");
    struct stat st;
    ASSERT_EQ(stat((path_ + "/data.mdb").c_str(), &st), 0);
    EXPECT_GT(st.st_size, 65536) << "the data outgrew the first map";
}

TEST_F(LmdbMap, AFullMapAtItsCapIsUnavailableAndWritesNothing)
{
    kvorm_db *db = Open(kSchema, "mapsize=65536&maxmapsize=262144&sync=nometasync");
    ASSERT_NE(db, nullptr);
    int ok = 0;
    MRes last = FillUntilRefused(db, &ok);
    ASSERT_EQ(last.rc, KVORM_EUNAVAILABLE) << last.doc;
    EXPECT_NE(ErrMessage(last).find("mapsize"), std::string::npos) << last.doc;
    EXPECT_GT(ok, 10);
    EXPECT_EQ(Count(db, "User"), ok) << "the refused create left nothing";
    CheckClean(db, "User");
    // reads still work; opened again with a larger map, it takes writes again
    MRes f = Find(db, "User", "email", "f0");
    EXPECT_EQ(f.doc["name"].s, std::string(1000, 'n'));
    CloseAll();
    db = Open(kSchema, "mapsize=1048576");
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(CreateUser(db, "again@x.io").rc, KVORM_OK);
    EXPECT_EQ(Count(db, "User"), ok + 1);
}

// ---- opening ------------------------------------------------------------------------------------------------------

class LmdbOpen : public LmdbTest {};

// kvorm_open with no URL: KVORM_URL when it is set, else lmdb://kvorm-data in the working directory.
TEST_F(LmdbOpen, NoUrlOpensKvormUrlElseKvormDataInTheWorkingDirectory)
{
    SchemaPtr s = LoadSchema(kSchema);
    ASSERT_TRUE(s);
    const char *saved = getenv("KVORM_URL");
    std::string had = saved ? saved : "";
    char cwd[4096];
    ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);

    ASSERT_EQ(setenv("KVORM_URL", Url().c_str(), 1), 0);
    kvorm_db *db = nullptr;
    ASSERT_EQ(kvorm_open(&db, nullptr, s.get(), nullptr), KVORM_OK) << kvorm_last_error_message();
    DbPtr from_env(db);
    EXPECT_EQ(CreateUser(db, "ann@x.io").rc, KVORM_OK);
    from_env.reset();
    kvorm_db *named = Open();
    ASSERT_NE(named, nullptr);
    EXPECT_EQ(Count(named, "User"), 1);  // the same environment
    CloseAll();

    ASSERT_EQ(setenv("KVORM_URL", "", 1), 0);  // empty is unset
    ASSERT_EQ(chdir(root_.c_str()), 0);
    db = nullptr;
    int rc = kvorm_open(&db, nullptr, s.get(), nullptr);
    std::string msg = kvorm_last_error_message();
    DbPtr by_default(db);
    if (db) {
        EXPECT_EQ(CreateUser(db, "bob@x.io").rc, KVORM_OK);
    }
    by_default.reset();
    EXPECT_EQ(chdir(cwd), 0);
    if (saved)
        setenv("KVORM_URL", had.c_str(), 1);
    else
        unsetenv("KVORM_URL");
    ASSERT_EQ(rc, KVORM_OK) << msg;
    EXPECT_TRUE(std::filesystem::is_directory(root_ + "/kvorm-data"));
    EXPECT_EQ(std::string(KVORM_DEFAULT_URL), "lmdb://kvorm-data");
    DbPtr again = OpenDb(kSchema, "lmdb://" + root_ + "/kvorm-data");
    ASSERT_TRUE(again);
    EXPECT_EQ(Count(again.get(), "User"), 1);
}

TEST_F(LmdbOpen, ReadOnlyReadsAndRefusesWrites)
{
    std::string msg;
    EXPECT_EQ(OpenFails(Url("readonly=1"), &msg), KVORM_ECONNECTION) << msg;
    EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
    EXPECT_EQ(kvorm_last_error_retryable(), 0);
    ASSERT_NE(Open(), nullptr);
    ASSERT_EQ(CreateUser(dbs_[0].get(), "ann@x.io").rc, KVORM_OK);
    CloseAll();

    kvorm_db *ro = Open(kSchema, "readonly=1");
    ASSERT_NE(ro, nullptr);
    MRes f = Find(ro, "User", "email", "ann@x.io");
    ASSERT_EQ(f.rc, KVORM_OK);
    EXPECT_EQ(f.doc["email"].s, "ann@x.io");
    MRes c = CreateUser(ro, "bob@x.io");
    EXPECT_EQ(c.rc, KVORM_EUNAVAILABLE) << c.doc;
    EXPECT_NE(ErrMessage(c).find("read-only"), std::string::npos) << c.doc;
    EXPECT_EQ(Count(ro, "User"), 1);
    CheckClean(ro, "User");
    // a read-write open of the same directory in this process is refused while the read-only one is open
    EXPECT_EQ(OpenFails(Url(), &msg), KVORM_EMISUSE) << msg;
    // a schema with changes to store cannot be stored read-only
    EXPECT_EQ(OpenFails(Url("readonly=1"), &msg, SchemaWithMore()), KVORM_EUNAVAILABLE) << msg;
    CloseAll();
    // a read-write open first, then a read-only one sharing it
    kvorm_db *rw = Open();
    ro = Open(kSchema, "readonly=1");
    ASSERT_NE(rw, nullptr);
    ASSERT_NE(ro, nullptr);
    ASSERT_EQ(CreateUser(rw, "cy@x.io").rc, KVORM_OK);
    EXPECT_EQ(Count(ro, "User"), 2);
    EXPECT_EQ(CreateUser(ro, "dee@x.io").rc, KVORM_EUNAVAILABLE);
}

TEST_F(LmdbOpen, BadUrlsAreMisuseNamingWhatIsWrong)
{
    std::string msg;
    EXPECT_EQ(OpenFails(Url("frobnicate=1"), &msg), KVORM_EMISUSE);
    EXPECT_NE(msg.find("frobnicate"), std::string::npos) << msg;
    EXPECT_EQ(OpenFails(Url("mapsize=lots"), &msg), KVORM_EMISUSE);
    EXPECT_NE(msg.find("mapsize"), std::string::npos) << msg;
    EXPECT_EQ(OpenFails(Url("mapsize=100"), &msg), KVORM_EMISUSE) << "below the minimum";
    EXPECT_EQ(OpenFails(Url("sync=sometimes"), &msg), KVORM_EMISUSE);
    EXPECT_NE(msg.find("sync"), std::string::npos) << msg;
    EXPECT_EQ(OpenFails(Url("readonly=maybe"), &msg), KVORM_EMISUSE);
    EXPECT_EQ(OpenFails(Url("maxreaders=0"), &msg), KVORM_EMISUSE);
    EXPECT_EQ(OpenFails(Url("mapsize=1048576&maxmapsize=65536"), &msg), KVORM_EMISUSE);
    EXPECT_EQ(OpenFails(Url("mapsize"), &msg), KVORM_EMISUSE);
    EXPECT_EQ(OpenFails("lmdb://", &msg), KVORM_EMISUSE);
    EXPECT_EQ(OpenFails("lmdb://%zz", &msg), KVORM_EMISUSE);
    EXPECT_FALSE(std::filesystem::exists(path_)) << "a refused URL creates nothing";
    // the good parameters open
    kvorm_db *db = Open(kSchema, "mapsize=1048576&maxmapsize=4194304&sync=nometasync&maxreaders=64&readonly=0");
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(CreateUser(db, "ann@x.io").rc, KVORM_OK);
}

// The embedded store's open options: they win over the URL's parameters, are checked as strictly, and are
// refused by a store that has none.
TEST_F(LmdbOpen, OpenOptionsWinOverTheUrlAndAreChecked)
{
    kvorm_open_options opts;
    ASSERT_EQ(kvorm_open_options_init(&opts, KVORM_OPEN_OPTIONS_VERSION), KVORM_OK);
    int rc = 0;
    opts.read_only = 1;  // a read-only open of a directory that does not exist yet
    EXPECT_EQ(OpenWith(opts, "readonly=0", &rc), nullptr);
    EXPECT_EQ(rc, KVORM_ECONNECTION) << kvorm_last_error_message();

    // a small map with a cap: it fills, and says which option to raise
    opts.read_only = 0;
    opts.map_size = 65536;
    opts.max_map_size = 262144;
    opts.sync = KVORM_SYNC_NOMETASYNC;
    kvorm_db *db = OpenWith(opts, "mapsize=1048576&maxmapsize=1073741824&sync=full", &rc);
    ASSERT_NE(db, nullptr) << kvorm_last_error_message();
    int ok = 0;
    MRes last = FillUntilRefused(db, &ok);
    ASSERT_EQ(last.rc, KVORM_EUNAVAILABLE) << "max_map_size won over maxmapsize: " << last.doc;
    EXPECT_LT(ok, 400);
    CloseAll();

    // read_only wins over readonly=0
    kvorm_open_options ro;
    kvorm_open_options_init(&ro, KVORM_OPEN_OPTIONS_VERSION);
    ro.read_only = 1;
    db = OpenWith(ro, "readonly=0", &rc);
    ASSERT_NE(db, nullptr) << kvorm_last_error_message();
    EXPECT_EQ(CreateUser(db, "ro@x.io").rc, KVORM_EUNAVAILABLE);
    EXPECT_EQ(Count(db, "User"), ok);
    CloseAll();

    // bad values are MISUSE naming the option, and open nothing
    struct Bad {
        const char *name;
        void (*set)(kvorm_open_options *);
    } bad[] = {
        {"map_size", [](kvorm_open_options *o) { o->map_size = 100; }},
        {"max_map_size", [](kvorm_open_options *o) { o->max_map_size = 1; }},
        {"max_map_size", [](kvorm_open_options *o) { o->map_size = 1 << 20, o->max_map_size = 65536; }},
        {"sync", [](kvorm_open_options *o) { o->sync = 9; }},
        {"max_readers", [](kvorm_open_options *o) { o->max_readers = -1; }},
    };
    for (const Bad &b : bad) {
        kvorm_open_options o;
        kvorm_open_options_init(&o, KVORM_OPEN_OPTIONS_VERSION);
        b.set(&o);
        EXPECT_EQ(OpenWith(o, "", &rc, "lmdb://" + root_ + "/bad"), nullptr) << b.name;
        EXPECT_EQ(rc, KVORM_EMISUSE) << b.name;
        EXPECT_NE(std::string(kvorm_last_error_message()).find(b.name), std::string::npos)
            << kvorm_last_error_message();
    }
    EXPECT_FALSE(std::filesystem::exists(root_ + "/bad")) << "refused options create nothing";

    // on Redis they are MISUSE before any connection is tried (nothing listens on port 1)
    kvorm_open_options r;
    kvorm_open_options_init(&r, KVORM_OPEN_OPTIONS_VERSION);
    r.sync = KVORM_SYNC_NOSYNC;
    EXPECT_EQ(OpenWith(r, "", &rc, "redis://127.0.0.1:1"), nullptr);
    EXPECT_EQ(rc, KVORM_EMISUSE);
    EXPECT_NE(std::string(kvorm_last_error_message()).find("sync"), std::string::npos) << kvorm_last_error_message();
}

// A caller built against version 2 passes the shorter struct: what lies after it is never read.
TEST_F(LmdbOpen, AnOlderOptionsStructIsReadOnlyAsFarAsItsVersion)
{
    unsigned char raw[sizeof(kvorm_open_options)];
    memset(raw, 0xff, sizeof(raw));
    kvorm_open_options *v2 = reinterpret_cast<kvorm_open_options *>(raw);
    ASSERT_EQ(kvorm_open_options_init(v2, 2), KVORM_OK);
    EXPECT_EQ(raw[sizeof(raw) - 1], 0xff) << "init of version 2 wrote past its struct";
    int rc = 0;
    kvorm_db *db = OpenWith(*v2, "", &rc);
    ASSERT_NE(db, nullptr) << kvorm_last_error_message();
    EXPECT_EQ(CreateUser(db, "v2@x.io").rc, KVORM_OK) << "not read-only: the 0xff bytes were not read";
}

TEST_F(LmdbOpen, APlaceThatIsNoEnvironmentIsAConnectionError)
{
    std::string msg;
    // a file where the directory should be
    std::ofstream(root_ + "/file") << "x";
    EXPECT_EQ(OpenFails("lmdb://" + root_ + "/file", &msg), KVORM_ECONNECTION) << msg;
    EXPECT_NE(msg.find("not a directory"), std::string::npos) << msg;
    // a directory that cannot be created (/proc takes no new directories, for root too)
    EXPECT_EQ(OpenFails("lmdb:///proc/kvorm-no/such", &msg), KVORM_ECONNECTION) << msg;
    // a data.mdb that is not LMDB's
    std::filesystem::create_directories(root_ + "/junk");
    std::ofstream(root_ + "/junk/data.mdb") << std::string(16384, 'j');
    EXPECT_EQ(OpenFails("lmdb://" + root_ + "/junk", &msg), KVORM_ECONNECTION) << msg;
    EXPECT_NE(msg.find("not an LMDB file"), std::string::npos) << msg;
    EXPECT_EQ(kvorm_last_error_retryable(), 0);
}

TEST_F(LmdbOpen, AnEnvironmentOfANewerFormatIsAMismatch)
{
    ASSERT_NE(Open(), nullptr);
    CloseAll();
    // what a newer kvorm would have stored
    MDB_env *env = nullptr;
    MDB_txn *txn = nullptr;
    MDB_dbi dbi;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    ASSERT_EQ(mdb_env_open(env, path_.c_str(), 0, 0664), 0);
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    MDB_val k = {6, const_cast<char *>("format")}, v = {2, const_cast<char *>("99")};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    std::string msg;
    EXPECT_EQ(OpenFails(Url(), &msg), KVORM_ESCHEMA_MISMATCH) << msg;
    EXPECT_NE(msg.find("newer"), std::string::npos) << msg;
}

TEST_F(LmdbOpen, ARelativeDirectoryIsUnderTheWorkingDirectory)
{
    char cwd[4096];
    ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
    ASSERT_EQ(chdir(root_.c_str()), 0);
    DbPtr db = OpenDb(kSchema, "lmdb://rel/dir");
    bool made = std::filesystem::exists(root_ + "/rel/dir/data.mdb");
    if (db) {
        EXPECT_EQ(CreateUser(db.get(), "ann@x.io").rc, KVORM_OK);
    }
    db.reset();
    ASSERT_EQ(chdir(cwd), 0);
    EXPECT_TRUE(made);
}

// ---- the same as Redis --------------------------------------------------------------------------------------------

constexpr const char *kParitySchema = R"json({
  "namespace": "lp",
  "models": {
    "P": {
      "id": {"type": "string"},
      "fields": {
        "a": {"type": "string", "unique": true, "optional": true},
        "b": {"type": "integer", "optional": true, "index": true},
        "t": {"type": "string"},
        "c": {"type": "enum", "values": ["x", "y", "z"], "optional": true}},
      "unique": [["t", "c"]],
      "indexes": [["t", {"field": "b", "order": "desc"}]]}}})json";

// A random request on model P: writes of every kind (taking ids and unique values from small pools, so that
// they collide), reads by unique, queries over the indexes and without them.
std::string RandomRequest(std::mt19937 &rng)
{
    auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    auto id = [&] { return JStr("p" + std::to_string(pick(40))); };
    auto a = [&] { return JStr("a" + std::to_string(pick(25))); };
    auto data = [&](bool full) {
        std::string d = "{\"t\":" + JStr(std::string(1, static_cast<char>('k' + pick(3))));
        if (!full && pick(2))
            d = "{\"b\":" + std::to_string(pick(11) - 5);
        else if (pick(4))
            d += ",\"b\":" + std::to_string(pick(11) - 5);
        if (pick(2))
            d += ",\"a\":" + (pick(5) ? a() : "null");
        if (pick(3) == 0)
            d += std::string(",\"c\":") + (pick(4) ? JStr(std::string(1, static_cast<char>('x' + pick(3)))) : "null");
        return d + "}";
    };
    auto where = [&] {
        switch (pick(6)) {
        case 0: return "{\"b\":{\"gte\":" + std::to_string(pick(11) - 5) + "}}";
        case 1: return "{\"t\":\"l\",\"b\":{\"lt\":" + std::to_string(pick(11) - 5) + "}}";
        case 2: return std::string("{\"a\":{\"startsWith\":\"a1\"}}");
        case 3: return "{\"b\":{\"in\":[" + std::to_string(pick(5)) + ",-2]}}";
        case 4: return std::string("{\"OR\":[{\"c\":\"x\"},{\"b\":null}]}");
        default: return std::string("{}");
        }
    };
    static const char *const orders[] = {"{\"b\":\"asc\"}", "{\"b\":\"desc\"}", "[{\"t\":\"asc\"},{\"b\":\"desc\"}]",
                                         "{\"id\":\"desc\"}", "{\"a\":\"asc\"}"};
    std::string ifv = pick(4) == 0 ? ",\"ifVersion\":" + std::to_string(1 + pick(3)) : "";
    std::string by = pick(3) == 0 ? "{\"a\":" + a() + "}" : "{\"id\":" + id() + "}";
    switch (pick(12)) {
    case 0:
    case 1:
        return Req("P", "create", "{\"data\":" + data(true).insert(1, "\"id\":" + id() + ",") + "}");
    case 2:
    case 3:
        return Req("P", "update", "{\"where\":" + by + ",\"data\":" + data(false) + ifv + "}");
    case 4:
        return Req("P", "upsert", "{\"where\":{\"id\":" + id() + "},\"create\":" + data(true) +
                                  ",\"update\":" + data(false) + "}");
    case 5:
        return Req("P", "delete", "{\"where\":" + by + ifv + "}");
    case 6:
        return Req("P", "findUnique", "{\"where\":" + by + ",\"select\":{\"$version\":true,\"b\":true}}");
    case 7:
    case 8:
        return Req("P", "findMany", "{\"where\":" + where() + ",\"orderBy\":" + orders[pick(5)] + ",\"take\":" +
                                    std::to_string(1 + pick(8)) + ",\"skip\":" + std::to_string(pick(3)) + "}");
    case 9:
        if (pick(2))
            return Req("P", "count", "{\"where\":" + where() + "}");
        return Req("P", "aggregate", "{\"where\":" + where() + ",\"_count\":true,\"_sum\":{\"b\":true}}");
    case 10:
        return Req("P", "createMany", "{\"data\":[" + data(true).insert(1, "\"id\":" + id() + ",") + "," +
                                      data(true).insert(1, "\"id\":" + id() + ",") + "],\"skipDuplicates\":" +
                                      (pick(2) ? "true" : "false") + "}");
    default:
        if (pick(2))
            return Req("P", "deleteMany", "{\"where\":" + where() + "}");
        return Req("P", "updateMany", "{\"where\":" + where() + ",\"data\":" + data(false) + "}");
    }
}

class LmdbParity : public LmdbTest {};

TEST_F(LmdbParity, RandomRequestsAnswerExactlyAsOnRedis)
{
    ASSERT_TRUE(RedisEnvironment::Ready()) << "the test redis-server is not running";
    Raw raw(RedisEnvironment::Main().Connect());
    ASSERT_TRUE(raw.ok());
    raw.FlushAll();
    DbPtr redis = OpenDb(kParitySchema);
    kvorm_db *lmdb = Open(kParitySchema);
    ASSERT_NE(redis, nullptr);
    ASSERT_NE(lmdb, nullptr);
    unsigned seed = getenv("KVORM_TEST_SEED") ? static_cast<unsigned>(atoi(getenv("KVORM_TEST_SEED"))) : 7u;
    std::mt19937 rng(seed);
    int failed = 0;
    for (int i = 0; i < 1500 && failed < 5; i++) {
        std::string req = RandomRequest(rng);
        JRes want = ExecJson(redis.get(), req), got = ExecJson(lmdb, req);
        if (want.rc != got.rc || want.text != got.text) {
            ADD_FAILURE() << "request " << i << " (seed " << seed << "): " << req << "\nredis: " << want.text
                          << "\nlmdb:  " << got.text;
            failed++;
        }
    }
    JRes want = ExecJson(redis.get(), Req("P", "check")), got = CheckClean(lmdb, "P");
    EXPECT_EQ(want.text, got.text);
    EXPECT_GT(Count(lmdb, "P"), 0);
    redis.reset();
    raw.FlushAll();
}

// ---- keys of any length (lmdb_keys.c), against a reference -------------------------------------------------------

// Random keys around LMDB's 511-byte limit, many sharing long prefixes (so buckets hold several), with the bytes
// that matter to the order (0x00, 0x01, 0xfe, 0xff).
std::string RandomKey(std::mt19937 &rng)
{
    static const char alphabet[] = {'\x00', '\x01', 'a', 'b', '\xfe', '\xff'};
    std::uniform_int_distribution<int> pick(0, 5), mode(0, 9), tail(0, 24);
    std::string k;
    int m = mode(rng);
    if (m < 3)
        k.assign(static_cast<size_t>(tail(rng)), 'a');
    else if (m < 6)
        k.assign(300, 'a');
    else
        k.assign(static_cast<size_t>(499 + tail(rng) % 14), 'a');  // the full key (2-byte prefix) near 511
    for (int n = tail(rng); n > 0; n--)
        k += alphabet[pick(rng)];
    return k;
}

TEST(LmdbKeys, LongKeysScanInOrderWithinBoundsBothWays)
{
    char tmpl[] = "/tmp/kvorm-lmdb-keys-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    lm_config cfg = {};
    cfg.path = strdup((dir + "/env").c_str());
    cfg.mapsize = 64u << 20;
    cfg.max_mapsize = 1u << 30;
    lm_env *env = nullptr;
    kv_error err = {};
    ASSERT_EQ(kv_lmdb_env_acquire(&env, &cfg, &err), 0) << err.message;
    free(cfg.path);
    unsigned seed = getenv("KVORM_TEST_SEED") ? static_cast<unsigned>(atoi(getenv("KVORM_TEST_SEED"))) : 20240611u;
    std::mt19937 rng(seed);
    const std::string prefix("p\0", 2);
    std::set<std::string> ref;

    lm_txn t;
    ASSERT_EQ(kv_lmdb_begin(env, true, &t, &err), 0) << err.message;
    auto put = [&](const std::string &full, const std::string &val) {
        return kv_lmdb_put(t.txn, env, LM_INDEX, full.data(), full.size(), val.data(), val.size());
    };
    for (int i = 0; i < 700; i++) {
        std::string k = RandomKey(rng);
        ASSERT_EQ(put(prefix + k, "v" + k), 0);
        ref.insert(k);
    }
    // neighbours under other prefixes must never show
    for (const std::string &other : {std::string("o\0", 2), std::string("p\x01", 2), std::string("q")})
        for (int i = 0; i < 20; i++)
            ASSERT_EQ(put(other + RandomKey(rng), "x"), 0);
    // deletes, and overwrites that keep the key once
    std::vector<std::string> keys(ref.begin(), ref.end());
    std::shuffle(keys.begin(), keys.end(), rng);
    for (size_t i = 0; i < 150; i++) {
        std::string full = prefix + keys[i];
        ASSERT_EQ(kv_lmdb_del(t.txn, env, LM_INDEX, full.data(), full.size()), 0) << i;
        ASSERT_EQ(kv_lmdb_del(t.txn, env, LM_INDEX, full.data(), full.size()), MDB_NOTFOUND) << i;
        ref.erase(keys[i]);
    }
    for (size_t i = 150; i < 200; i++)
        ASSERT_EQ(put(prefix + keys[i], "v" + keys[i]), 0);
    for (size_t i = 150; i < 300; i++) {
        std::string full = prefix + keys[i];
        MDB_val v;
        ASSERT_EQ(kv_lmdb_get(t.txn, env, LM_INDEX, full.data(), full.size(), &v), 0) << i;
        EXPECT_EQ(std::string(static_cast<char *>(v.mv_data), v.mv_size), "v" + keys[i]) << i;
    }
    ASSERT_EQ(kv_lmdb_commit(&t), 0);

    ASSERT_EQ(kv_lmdb_begin(env, false, &t, &err), 0) << err.message;
    std::vector<std::string> all(ref.begin(), ref.end());
    std::uniform_int_distribution<int> coin(0, 3), idx(0, static_cast<int>(all.size()) - 1), lim(0, 3);
    auto bound = [&](std::string *store) {
        int c = coin(rng);
        if (c == 0)
            return kv_bound{nullptr, 0, false};
        *store = c == 1 ? RandomKey(rng) : all[static_cast<size_t>(idx(rng))];
        return kv_bound{store->data(), store->size(), coin(rng) % 2 == 0};
    };
    for (int q = 0; q < 500; q++) {
        std::string los, his;
        kv_bound lo = bound(&los), hi = bound(&his);
        bool reverse = coin(rng) % 2 == 1;
        size_t limit = std::vector<size_t>{1, 3, 40, 100000}[static_cast<size_t>(lim(rng))];
        std::vector<std::string> want, got;
        for (const std::string &k : ref) {
            if (lo.data && (k < los || (k == los && !lo.inclusive)))
                continue;
            if (hi.data && (k > his || (k == his && !hi.inclusive)))
                continue;
            want.push_back(k);
        }
        if (reverse)
            std::reverse(want.begin(), want.end());
        if (want.size() > limit)
            want.resize(limit);
        lm_iter it;
        ASSERT_EQ(kv_lmdb_iter_open(&it, t.txn, env, LM_INDEX, prefix.data(), prefix.size(), &lo, &hi, reverse), 0);
        const char *k;
        size_t kl;
        MDB_val v;
        int rc = 0;
        while (got.size() < limit && (rc = kv_lmdb_iter_next(&it, &k, &kl, &v)) == 0) {
            got.emplace_back(k, kl);
            EXPECT_EQ(std::string(static_cast<char *>(v.mv_data), v.mv_size), "v" + got.back());
        }
        kv_lmdb_iter_close(&it);
        EXPECT_TRUE(rc == 0 || rc == MDB_NOTFOUND) << rc;
        ASSERT_EQ(got, want) << "query " << q << " (seed " << seed << "), reverse " << reverse << ", limit " << limit;
    }
    kv_lmdb_abort(&t);

    // a prefix is dropped whole, buckets too; its neighbours stay
    ASSERT_EQ(kv_lmdb_begin(env, true, &t, &err), 0);
    ASSERT_EQ(kv_lmdb_del_prefix(t.txn, env, LM_INDEX, prefix.data(), prefix.size()), 0);
    lm_iter it;
    const char *k;
    size_t kl;
    MDB_val v;
    kv_bound open = {nullptr, 0, false};
    ASSERT_EQ(kv_lmdb_iter_open(&it, t.txn, env, LM_INDEX, prefix.data(), prefix.size(), &open, &open, false), 0);
    EXPECT_EQ(kv_lmdb_iter_next(&it, &k, &kl, &v), MDB_NOTFOUND);
    kv_lmdb_iter_close(&it);
    ASSERT_EQ(kv_lmdb_iter_open(&it, t.txn, env, LM_INDEX, "o", 2, &open, &open, true), 0);
    EXPECT_EQ(kv_lmdb_iter_next(&it, &k, &kl, &v), 0) << "the o\\0 keys are still there";
    kv_lmdb_iter_close(&it);
    kv_lmdb_abort(&t);
    kv_lmdb_env_release(env);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace kt
