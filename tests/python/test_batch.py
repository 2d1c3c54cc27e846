"""Db.batch: several requests sent together, each with its own outcome (not a transaction), in order."""
import asyncio

import pytest

import kvorm


def test_each_request_has_its_own_outcome_in_order(db):
    ann = db.User.create(data={"email": "ann@example.com", "name": "Ann"})
    out = db.batch([
        ("User", "create", {"data": {"email": "bob@example.com", "name": "Bob"}}),
        ("User", "create", {"data": {"email": "ann@example.com", "name": "Again"}}),
        ("User", "update", {"where": {"id": ann["id"]}, "data": {"age": {"increment": 1}}}),
        ("User", "find_unique", {"where": {"email": "bob@example.com"}, "select": {"name": True}}),
        ("User", "count"),
        (None, "capabilities"),
    ])
    assert out[0]["name"] == "Bob"
    assert isinstance(out[1], kvorm.UniqueViolation)
    assert out[2]["age"] is None  # a null stays null
    assert out[3] == {"name": "Bob"}  # a later request sees the writes before it
    assert out[4] == 2
    assert "ops" in out[5]
    assert db.batch([]) == []
    with pytest.raises(TypeError):
        db.batch([("User",)])


def test_a_value_that_cannot_be_sent_fails_only_its_request(db):
    out = db.batch([("User", "create", {"data": {"email": object()}}), ("User", "count", {})])
    assert isinstance(out[0], kvorm.Error)
    assert out[1] == 0


@pytest.mark.redis_only
def test_a_batch_is_one_round_trip(server, schema, raw):
    with kvorm.open(server.url, schema=schema) as db:
        ids = [db.User.create(data={"email": "r%d@example.com" % i, "name": "R"})["id"] for i in range(8)]

        def reads(fn):
            before = raw.info("stats")["total_reads_processed"]
            fn()
            return raw.info("stats")["total_reads_processed"] - before - 1  # the INFO that ends it

        one_by_one = reads(lambda: [db.User.find_unique(where={"id": i}) for i in ids])
        together = reads(lambda: db.batch([("User", "findUnique", {"where": {"id": i}}) for i in ids]))
        assert one_by_one >= 8
        assert together < one_by_one


def test_the_async_db_batches_too(url, schema):
    async def main():
        async with kvorm.aio.open(url, schema=schema) as db:
            out = await db.batch([("User", "create", {"data": {"email": "a@example.com", "name": "A"}}),
                                  ("User", "count")])
            return out
    out = asyncio.run(main())
    assert out[0]["email"] == "a@example.com"
    assert out[1] == 1


def test_a_closed_db_refuses_a_batch(url, schema):
    db = kvorm.open(url, schema=schema)
    db.close()
    with pytest.raises(kvorm.MisuseError):
        db.batch([("User", "count")])

    async def main():
        adb = await kvorm.aio.open(url, schema=schema)
        await adb.close()
        await adb.batch([("User", "count")])
    with pytest.raises(kvorm.MisuseError):
        asyncio.run(main())
