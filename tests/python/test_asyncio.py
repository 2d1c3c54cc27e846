"""kvorm.aio: awaitable methods that run off the event loop."""
import asyncio
import decimal

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
                await db.User.find_lots()  # no such op
            with pytest.raises(AttributeError):
                db.Nope
        finally:
            await db.close()
        await db.close()  # idempotent
        with pytest.raises(kvorm.MisuseError):
            await db.User.count()
    run(main())


def test_the_loop_keeps_running_while_calls_wait_for_the_server(gate, server, schema):
    # Each await starts in a turn of its own, so each is a batch of its own on a thread of its own. The gate proxy
    # holds the first batch's call in front of Redis until 8 connections have one held: the loop can only have
    # sent the other 7 if it kept running while the first waited, and the executor's threads run them in
    # parallel. A blocked loop (or batches run one at a time) gets "released 1" when the hold times out.
    async def main():
        async with kvorm.aio.open(gate.url, schema=schema, pool_size=8, connect_timeout_ms=60000,
                                  command_timeout_ms=60000) as db:
            await db.User.count()  # connects
            gate.hold(8, 30)
            pending = []
            for _ in range(8):
                pending.append(asyncio.ensure_future(db.User.count()))
                for _ in range(3):  # the task runs and its batch goes to the executor before the next starts
                    await asyncio.sleep(0)
            overlapped = await asyncio.get_running_loop().run_in_executor(None, gate.released)
            return await asyncio.gather(*pending), overlapped
    results, overlapped = run(main())
    assert results == [0] * 8
    assert overlapped == 8


def commands(raw, name):
    """How many times the server ran a command (INFO commandstats)."""
    return raw.info("commandstats").get("cmdstat_%s" % name, {}).get("calls", 0)


def test_the_awaits_of_one_turn_travel_together(server, schema, raw, monkeypatch):
    async def main():
        async with kvorm.aio.open(server.url, schema=schema) as db:
            batches = []
            exec_batch = db.sync._exec_batch

            def counted(requests):
                batches.append(len(requests))
                return exec_batch(requests)
            monkeypatch.setattr(db.sync, "_exec_batch", counted)  # a spy: the real call still runs
            before = commands(raw, "exec")
            users = await asyncio.gather(*(db.User.create(data={"email": "u%d@example.com" % i, "name": "U"})
                                           for i in range(100)))
            transactions = commands(raw, "exec") - before
            writes = list(batches)
            del batches[:]
            found = await asyncio.gather(*(db.User.find_unique(where={"id": u["id"]}) for u in users))
            return users, found, writes, transactions, list(batches)
    users, found, writes, transactions, reads = run(main())
    assert len({u["id"] for u in users}) == 100
    assert found == users
    # One kvorm_exec_batch each, and the 100 creates in one MULTI/EXEC (one call each would be 100 batches and
    # no EXEC at all: a lone write is one EVALSHA).
    assert writes == [100] and reads == [100]
    assert transactions == 1


def test_a_failed_request_does_not_fail_its_neighbours_in_a_batch(server, schema):
    async def main():
        async with kvorm.aio.open(server.url, schema=schema) as db:
            await db.User.create(data={"email": "taken@example.com", "name": "First"})
            gathered = await asyncio.gather(
                db.User.create(data={"email": "ok1@example.com", "name": "Ok 1"}),
                db.User.create(data={"email": "taken@example.com", "name": "Duplicate"}),
                db.User.create(data={"email": "ok2@example.com", "name": "Ok 2"}),
                return_exceptions=True)
            # The same batch again, each await on its own: the duplicate raises, its neighbours return.
            one, two, three = (asyncio.ensure_future(db.User.create(data={"email": e, "name": "N"}))
                               for e in ("ok3@example.com", "taken@example.com", "ok4@example.com"))
            first = await one
            with pytest.raises(kvorm.UniqueViolation) as e:
                await two
            third = await three
            return gathered, first, e.value, third, await db.User.count()
    (ok1, dup, ok2), first, dup_alone, third, count = run(main())
    assert isinstance(dup, kvorm.UniqueViolation) and dup.fields == ["email"]
    assert ok1["email"] == "ok1@example.com" and ok2["email"] == "ok2@example.com"
    assert first["email"] == "ok3@example.com" and third["email"] == "ok4@example.com"
    assert dup_alone.fields == ["email"] and dup_alone is not dup
    assert count == 5


def test_an_error_document_with_non_ascii_text_fails_only_its_own_await(server, schema):
    # The message quotes the taken email, cut after 60 bytes: here in the middle of a two-byte character.
    email = "a" + "\u00e9" * 40 + "@example.com"

    async def main():
        async with kvorm.aio.open(server.url, schema=schema) as db:
            await db.User.create(data={"email": email, "name": "First"})
            return await asyncio.gather(
                db.User.create(data={"email": "ok1@example.com", "name": "Ok 1"}),
                db.User.create(data={"email": email, "name": "Duplicate"}),
                db.User.create(data={"email": "ok2@example.com", "name": "Ok 2"}),
                return_exceptions=True)
    ok1, dup, ok2 = run(main())
    assert isinstance(dup, kvorm.UniqueViolation), repr(dup)
    assert isinstance(dup.message, str) and dup.fields == ["email"] and "User" in dup.message
    assert ok1["email"] == "ok1@example.com" and ok2["email"] == "ok2@example.com"


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
