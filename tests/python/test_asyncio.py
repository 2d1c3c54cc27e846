"""kvorm.aio: awaitable methods that run off the event loop."""
import asyncio
import decimal
import time

import pytest

import kvorm


def run(coro):
    return asyncio.run(coro)


def test_async_crud(server, schema):
    async def main():
        async with kvorm.aio.open(server.url, schema=schema) as db:
            user = await db.User.create(data={"email": "a@example.com", "name": "Ann", "balance": "2.50"})
            assert user["balance"] == decimal.Decimal("2.5")
            assert await db.User.find_unique(where={"email": "a@example.com"}) == user
            assert await db.User.find_unique_or_throw(where={"id": user["id"]}) == user
            assert (await db.User.update(where={"id": user["id"]}, data={"age": 3}, if_version=1))["age"] == 3
            assert (await db.User.upsert(where={"email": "b@example.com"}, create={"email": "b@example.com",
                                         "name": "Bob"}, update={}))["name"] == "Bob"
            assert await db.User.count() == 2
            assert await db.User.call("count") == 2
            assert (await db.User.delete(where={"id": user["id"]}))["id"] == user["id"]
            assert db.capabilities["engine"] == "redis"
        return db
    db = run(main())
    assert db.closed


def test_async_errors_are_kvorm_errors(server, schema):
    async def main():
        db = await kvorm.aio.open(server.url, schema=schema)
        try:
            with pytest.raises(kvorm.NotFound):
                await db.User.find_unique_or_throw(where={"email": "nobody@example.com"})
            with pytest.raises(kvorm.BadRequest):
                await db.User.find_many()
            with pytest.raises(AttributeError):
                db.Nope
        finally:
            await db.close()
        await db.close()  # idempotent
        with pytest.raises(kvorm.MisuseError):
            await db.User.count()
    run(main())


def test_the_loop_keeps_running_while_calls_wait_for_the_server(server, schema, raw):
    async def main():
        async with kvorm.aio.open(server.url, schema=schema) as db:
            await db.User.count()  # connects
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.005)
                    ticks += 1
            task = asyncio.create_task(ticker())
            await asyncio.sleep(0)
            raw.execute_command("CLIENT", "PAUSE", "400", "ALL")  # every call now waits ~0.4 s for Redis
            started = time.monotonic()
            results = await asyncio.gather(*(db.User.count() for _ in range(50)))
            elapsed = time.monotonic() - started
            task.cancel()
            return results, elapsed, ticks
    results, elapsed, ticks = run(main())
    assert results == [0] * 50
    assert elapsed > 0.2  # the calls really were held up by the server...
    assert ticks >= 20  # ...and the loop ticked all along (a blocked loop would not tick at all)


def test_the_awaits_of_one_turn_travel_together(server, schema, raw):
    async def main():
        async with kvorm.aio.open(server.url, schema=schema) as db:
            users = await asyncio.gather(*(db.User.create(data={"email": "u%d@example.com" % i, "name": "U"})
                                           for i in range(100)))
            before = raw.info("stats")["total_reads_processed"]
            found = await asyncio.gather(*(db.User.find_unique(where={"id": u["id"]}) for u in users))
            after = raw.info("stats")["total_reads_processed"]
            return users, found, after - before
    users, found, reads = run(main())
    assert len({u["id"] for u in users}) == 100
    assert found == users
    # One call each would be 100 socket reads on the server; one batch is a few (plus this test's own INFO).
    assert reads < 12


def test_each_await_of_a_batch_gets_its_own_outcome(server, schema):
    async def main():
        async with kvorm.aio.open(server.url, schema=schema) as db:
            return await asyncio.gather(
                db.User.create(data={"email": "ann@example.com", "name": "Ann"}),
                db.User.create(data={"email": "ann@example.com", "name": "Ann again"}),
                db.User.find_unique_or_throw(where={"email": "nobody@example.com"}),
                db.User.find_unique(where={"email": "ann@example.com"}),
                db.User.count(),
                return_exceptions=True)
    ann, taken, missing, found, count = run(main())
    assert ann["name"] == "Ann"
    assert isinstance(taken, kvorm.UniqueViolation) and taken.fields == ["email"]
    assert isinstance(missing, kvorm.NotFound)
    assert found == ann
    assert count == 1


def test_awaits_started_before_close_settle_and_later_ones_are_refused(server, schema):
    async def main():
        db = await kvorm.aio.open(server.url, schema=schema)
        pending = [asyncio.ensure_future(db.User.count()) for _ in range(10)]
        await db.close()
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        with pytest.raises(kvorm.MisuseError):
            await db.User.count()
        return outcomes
    outcomes = run(main())
    # Each either ran before the close or was refused by it; none hangs or crashes.
    assert all(o == 0 or isinstance(o, kvorm.MisuseError) for o in outcomes), outcomes
