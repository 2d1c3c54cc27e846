"""Calls release the GIL and run in parallel on the core's connection pool."""
import threading
import time

import kvorm

THREADS = 8
CALLS = 2400  # in all, per run


def run_sequential(db, ids):
    for i in range(CALLS):
        db.User.find_unique(where={"id": ids[i % len(ids)]})


def run_parallel(db, ids):
    barrier = threading.Barrier(THREADS)

    def worker(k):
        barrier.wait()
        for i in range(k, CALLS, THREADS):
            db.User.find_unique(where={"id": ids[i % len(ids)]})
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def timed(fn, *args):
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def test_eight_threads_finish_clearly_faster_than_the_same_calls_in_sequence(server, schema):
    # Plain round trips, no server-side sleep: each call waits on the network and Redis, and with the GIL
    # released those waits overlap. Best of three alternating runs keeps a noisy shared machine from failing it.
    with kvorm.open(server.url, schema=schema, pool_size=THREADS) as db:
        ids = [db.User.create(data={"email": "u%d@example.com" % i, "name": "U"})["id"] for i in range(50)]
        run_parallel(db, ids)  # warm-up: fills the pool
        sequential, parallel = [], []
        for _ in range(3):
            sequential.append(timed(run_sequential, db, ids))
            parallel.append(timed(run_parallel, db, ids))
            if min(parallel) < 0.8 * min(sequential):
                break
        print("sequential %.3fs, %d threads %.3fs" % (min(sequential), THREADS, min(parallel)))
        assert min(parallel) < 0.8 * min(sequential)


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
