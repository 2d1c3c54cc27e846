"""close(): idempotent, waits for calls in flight, and later calls raise MisuseError instead of crashing."""
import threading
import time

import pytest

import kvorm


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
    db = kvorm.open(server.url, schema=schema)
    results, errors = [], []

    def worker():
        try:
            results.append(db.User.count())
        except kvorm.Error as e:
            errors.append(e)
    raw.execute_command("CLIENT", "PAUSE", "300", "ALL")  # keeps the calls in flight for a while
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    started = time.monotonic()
    db.close()  # must wait for the 4 paused calls rather than free the db under them
    waited = time.monotonic() - started
    for t in threads:
        t.join()
    assert results == [0, 0, 0, 0] and errors == []
    assert waited > 0.05
    with pytest.raises(kvorm.MisuseError):
        db.User.count()


def test_calls_racing_with_close_either_finish_or_raise_misuse(server, schema):
    db = kvorm.open(server.url, schema=schema)
    outcomes = []

    def worker():
        while True:  # until the close is seen
            try:
                db.User.count()
                outcomes.append("ok")
            except kvorm.MisuseError:
                outcomes.append("misuse")
                return
    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    db.close()
    for t in threads:
        t.join()
    assert set(outcomes) <= {"ok", "misuse"} and outcomes.count("misuse") == 6
