"""Calls release the GIL and run in parallel on the core's connection pool."""
import threading

import kvorm

THREADS = 8


def test_eight_threads_have_eight_calls_in_flight_at_once(gate, server, schema):
    # The gate proxy holds back what the clients send until 8 connections have a call waiting in it. Calls made
    # in parallel (GIL released, one pooled connection each) get there together: "released 8". Calls that were
    # serialized anywhere (the GIL kept, one shared connection) would have one held at a time: "released 1" once
    # the hold times out. The verdict is a count, whatever the speed or the load of the machine.
    with kvorm.open(server.url, schema=schema) as direct:
        ids = [direct.User.create(data={"email": "u%d@example.com" % i, "name": "U%d" % i})["id"]
               for i in range(THREADS)]
    # Generous timeouts: a held call must outwait the slowest thread starting on a loaded machine.
    with kvorm.open(gate.url, schema=schema, pool_size=THREADS, connect_timeout_ms=60000,
                    command_timeout_ms=60000) as db:
        results, errors = [None] * THREADS, []

        def worker(k):
            try:
                results[k] = db.User.find_unique(where={"id": ids[k]})
            except Exception as e:  # noqa: BLE001  (reported by the assert below)
                errors.append(e)
        gate.hold(THREADS, 30)
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
        for t in threads:
            t.start()
        overlapped = gate.released()
        for t in threads:
            t.join()
        assert errors == []
        assert [r["name"] for r in results] == ["U%d" % k for k in range(THREADS)]
        assert overlapped == THREADS


def test_threads_share_one_db_without_mixing_results(db):
    ids = {i: db.User.create(data={"email": "t%d@example.com" % i, "name": "T%d" % i})["id"] for i in range(16)}
    failures = []

    def worker(i):
        for _ in range(50):
            record = db.User.find_unique(where={"id": ids[i]})
            if record["name"] != "T%d" % i:
                failures.append(record)
    threads = [threading.Thread(target=worker, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert db.User.count() == 16
