// What a range read page by page meets when writers write between its pages (docs/queries.md, Consistency): the
// shim of engine_shim.h runs a write at the exact point between a page of keys and the read of its records, so
// each case is deterministic. On Redis the query reads the store as it is at each page; on LMDB (snapshotReads)
// it reads one snapshot, so it sees none of those writes.
#include "engine_shim.h"
#include "test_util.h"

namespace kt {
namespace {

const char kPagesSchema[] = R"json({"namespace": "pg", "models": {"R": {"id": {"type": "string"},
  "fields": {"k": {"type": "integer", "index": true}, "tag": {"type": "string"}}}}})json";

struct Move {
    kvorm_db *db;
    std::string req;
    JRes res;
};

void RunMove(void *arg)
{
    Move *m = static_cast<Move *>(arg);
    m->res = ExecJson(m->db, m->req);
}

class QueryPages : public KvTest {
protected:
    void SetUp() override
    {
        KvTest::SetUp();
        if (HasFatalFailure())
            return;
        db_ = OpenDb(kPagesSchema);
        ASSERT_TRUE(db_);
        writer_ = OpenDb(kPagesSchema);
        ASSERT_TRUE(writer_);
        // k = 1..40; every third record is dropped by the residual filter, so take 20 needs a second page
        std::string data = "[";
        for (int k = 1; k <= 40; k++)
            data += (k > 1 ? "," : "") + std::string("{\"id\":\"r") + (k < 10 ? "0" : "") + std::to_string(k) +
                    "\",\"k\":" + std::to_string(k) + ",\"tag\":\"" + (k % 3 == 0 ? "drop" : "keep") + "\"}";
        KT_ASSERT_OK(ExecJson(db_.get(), Req("R", "createMany", "{\"data\":" + data + "]}")));
    }
    void TearDown() override
    {
        if (db_)
            kt_shim_remove(db_.get());
        KvTest::TearDown();
    }
    DbPtr db_, writer_;
};

// A record moved forward in the index right after the first page named it: the first page reads it at its new
// place and the second page meets its new entry. It is returned once.
TEST_F(QueryPages, ARecordThatMovesAheadBetweenPagesComesOnce)
{
    Move mv{writer_.get(), Req("R", "update", R"({"where":{"id":"r02"},"data":{"k":24}})"), {}};
    kt_shim_after_next_scan(db_.get(), RunMove, &mv);
    JRes r = ExecJson(db_.get(), Req("R", "findMany",
                                     R"({"where":{"k":{"gte":1},"tag":"keep"},"orderBy":{"k":"asc"},"take":20})"));
    KT_ASSERT_OK(mv.res);
    KT_ASSERT_OK(r);
    std::vector<std::string> ids;
    long long last = 0;
    for (size_t i = 0; i < json_array_size(r.get()); i++) {
        const json_t *row = json_array_get(r.get(), i);
        ids.push_back(json_string_value(json_object_get(row, "id")));
        long long k = json_integer_value(json_object_get(row, "k"));
        EXPECT_GE(k, last) << r.text;
        last = k;
    }
    EXPECT_EQ(std::count(ids.begin(), ids.end(), "r02"), 1) << r.text;
    std::vector<std::string> sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "a row came twice: " << r.text;
    EXPECT_EQ(ids.size(), 20u) << r.text;
}

// A record deleted between its page of keys and the read of its records is simply not there.
TEST_F(QueryPages, ARecordDeletedBetweenItsKeyAndItsReadIsLeftOut)
{
    Move mv{writer_.get(), Req("R", "delete", R"({"where":{"id":"r04"}})"), {}};
    kt_shim_after_next_scan(db_.get(), RunMove, &mv);
    JRes r = ExecJson(db_.get(), Req("R", "findMany", R"({"where":{"k":{"lte":5}},"orderBy":{"k":"asc"}})"));
    KT_ASSERT_OK(mv.res);
    KT_ASSERT_OK(r);
    if (OnLmdb()) {  // one snapshot (snapshotReads): the query sees the store as it was when it began
        EXPECT_EQ(json_array_size(r.get()), 5u) << r.text;
        EXPECT_NE(r.text.find("r04"), std::string::npos) << r.text;
        return;
    }
    EXPECT_EQ(json_array_size(r.get()), 4u) << r.text;
    EXPECT_EQ(r.text.find("r04"), std::string::npos) << r.text;
}

// A record changed so that it no longer matches, between its key and its read: the where is checked again on
// the record, so it is left out (its key still said it matched).
TEST_F(QueryPages, ARecordThatStopsMatchingBeforeItsReadIsLeftOut)
{
    Move mv{writer_.get(), Req("R", "update", R"({"where":{"id":"r05"},"data":{"k":500}})"), {}};
    kt_shim_after_next_scan(db_.get(), RunMove, &mv);
    JRes r = ExecJson(db_.get(), Req("R", "findMany", R"({"where":{"k":{"lte":5}}})"));
    KT_ASSERT_OK(mv.res);
    KT_ASSERT_OK(r);
    if (OnLmdb()) {  // one snapshot: r05 as it was
        EXPECT_EQ(json_array_size(r.get()), 5u) << r.text;
        EXPECT_NE(r.text.find("\"k\":5"), std::string::npos) << r.text;
        return;
    }
    EXPECT_EQ(json_array_size(r.get()), 4u) << r.text;
    EXPECT_EQ(r.text.find("r05"), std::string::npos) << r.text;
}

std::vector<std::string> Ids(const JRes &r)
{
    std::vector<std::string> ids;
    for (size_t i = 0; i < json_array_size(r.get()); i++)
        ids.push_back(json_string_value(json_object_get(json_array_get(r.get(), i), "id")));
    return ids;
}

// A record moved far ahead right after the page of keys that named it: its record now sorts after keys the read
// has not met yet, so it must not fill the page, or a cursor taken from the page's last row would skip them.
// The first page of 16 keys holds 10 other "keep" records; the 11th row is r17, not r02 at k = 30.
TEST_F(QueryPages, ARecordMovedPastTheKeysReadDoesNotEndThePage)
{
    Move mv{writer_.get(), Req("R", "update", R"({"where":{"id":"r02"},"data":{"k":30}})"), {}};
    kt_shim_after_next_scan(db_.get(), RunMove, &mv);
    JRes r = ExecJson(db_.get(), Req("R", "findMany",
                                     R"({"where":{"k":{"gte":1},"tag":"keep"},"orderBy":{"k":"asc"},"take":11})"));
    KT_ASSERT_OK(mv.res);
    KT_ASSERT_OK(r);
    std::vector<std::string> want = {"r01", "r04", "r05", "r07", "r08", "r10", "r11", "r13", "r14", "r16", "r17"};
    if (OnLmdb())  // one snapshot: r02 still at k = 2
        want = {"r01", "r02", "r04", "r05", "r07", "r08", "r10", "r11", "r13", "r14", "r16"};
    EXPECT_EQ(Ids(r), want) << r.text;
}

// Keyset pagination: a page after a cursor reads keys from the cursor's position on, not from the start of the
// range, so a deep page costs what a first page does (the shim counts the keys the engine's scans return).
TEST_F(QueryPages, APageAfterACursorScansFromTheCursor)
{
    struct Case {
        const char *args;
        std::vector<std::string> ids;
        size_t most_keys; // the keys from the cursor to the end of the range in the read's direction
    } cases[] = {
        {R"({"orderBy":{"k":"asc"},"take":3,"cursor":{"id":"r30"}})", {"r30", "r31", "r32"}, 11},
        {R"({"orderBy":{"k":"desc"},"take":3,"cursor":{"id":"r10"}})", {"r10", "r09", "r08"}, 10},
        {R"({"where":{"k":{"gte":5}},"orderBy":{"k":"asc"},"take":2,"cursor":{"id":"r35","k":35}})",
         {"r35", "r36"}, 6},
        // the id runs against the index's: the read starts at the cursor's k and sorts the ties
        {R"({"orderBy":[{"k":"asc"},{"id":"desc"}],"take":2,"cursor":{"id":"r38"}})", {"r38", "r39"}, 3},
        // from the end: read backwards from the cursor
        {R"({"orderBy":{"k":"asc"},"take":-2,"cursor":{"id":"r12"}})", {"r11", "r12"}, 12},
        // a cursor whose record is gone resumes from the values it gives
        {R"({"orderBy":{"k":"asc"},"take":2,"cursor":{"id":"r33x","k":33}})", {"r34", "r35"}, 8},
    };
    for (const Case &c : cases) {
        kt_shim_count_keys(db_.get());
        JRes r = ExecJson(db_.get(), Req("R", "findMany", c.args));
        KT_ASSERT_OK(r) << c.args;
        EXPECT_EQ(Ids(r), c.ids) << c.args << " -> " << r.text;
        EXPECT_LE(kt_shim_keys_scanned(), c.most_keys) << c.args;
        EXPECT_GT(kt_shim_keys_scanned(), 0u) << c.args;
    }
}

}  // namespace
}  // namespace kt
