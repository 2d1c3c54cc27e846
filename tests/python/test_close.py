"""close(): idempotent, waits for calls in flight, and later calls raise MisuseError instead of crashing."""
import threading

import pytest

import kvorm
from conftest import clients_blocked_in_redis, wait_until


def test_close_is_idempotent_and_context_manager_closes(server, schema):
    with kvorm.open(server.url, schema=schema) as db:
        assert not db.closed
    assert db.closed
    db.close()
    db.close()
    assert db.closed


def test_every_call_after_close_is_a_misuse_error(db):
    db.close()
    for call in (lambda: db.User.create(data={"email": "a@example.com", "name": "A"}),
                 lambda: db.User.find_unique(where={"id": "x"}),
                 lambda: db.User.call("count"),
                 lambda: db.capabilities):
        with pytest.raises(kvorm.MisuseError) as e:
            call()
        assert e.value.code == "MISUSE"


def test_close_waits_for_calls_in_flight(server, schema, raw):
    db = kvorm.open(server.url, schema=schema, pool_size=4)
    created, errors = [], []

    def worker(i):
        try:
            created.append(db.User.create(data={"email": "w%d@example.com" % i, "name": "W"})["email"])
        except kvorm.Error as e:
            errors.append(e)
    # Redis holds every write back until CLIENT UNPAUSE (reads, like CLIENT LIST, still answer): the calls stay
    # in flight for as long as the test needs, whatever the machine's speed.
    raw.execute_command("CLIENT", "PAUSE", "120000", "WRITE")
    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda: len(clients_blocked_in_redis(raw)) == 4, "the 4 creates held by Redis")
        # close() must wait for the 4 held calls rather than free the db under them
        closing = threading.Thread(target=db.close)
        closing.start()
        wait_until(lambda: db.closed, "close() has begun")
        with pytest.raises(kvorm.MisuseError):  # a closing db refuses new calls at once...
            db.User.count()
        # ...while close() itself still waits: the 4 calls cannot end before the unpause below.
        assert closing.is_alive() and created == [] and errors == []
    finally:
        raw.execute_command("CLIENT", "UNPAUSE")
    closing.join()
    for t in threads:
        t.join()
    # The calls that were in flight when close() began all finished, with their results, and were stored.
    assert errors == [] and sorted(created) == ["w%d@example.com" % i for i in range(4)]
    with pytest.raises(kvorm.MisuseError):
        db.User.count()
    with kvorm.open(server.url, schema=schema) as again:
        assert again.User.count() == 4


def test_calls_racing_with_close_either_finish_or_raise_misuse(server, schema):
    db = kvorm.open(server.url, schema=schema)
    outcomes = []
    workers = 6
    each_made_a_call = threading.Barrier(workers + 1)

    def worker():
        first = True
        while True:  # until the close is seen
            try:
                db.User.count()
                outcomes.append("ok")
            except kvorm.MisuseError:
                outcomes.append("misuse")
                return
            if first:
                first = False
                each_made_a_call.wait()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    each_made_a_call.wait()  # every worker is running calls: close() now races with them
    db.close()
    for t in threads:
        t.join()
    assert set(outcomes) <= {"ok", "misuse"} and outcomes.count("misuse") == workers
    assert outcomes.count("ok") >= workers
