"""kvorm's Python package on its LMDB engine beside Python's sqlite3 module (and raw py-lmdb when installed).

Usage: python lmdb_bench.py DIR [--records N] [--seconds S]

DIR must be empty or missing: the benchmark makes DIR/kvorm (the LMDB environment) and DIR/sqlite.db, and cleans
nothing up (scripts/bench-lmdb.sh gives it a temp dir). Mirrors benchmarks/lmdb_bench.c (see
benchmarks/python/README.md): the same model and table, loaded with create_many / executemany in batches of 1000;
then one call at a time, one thread, a warm-up of each side and ABBA rounds of 0.25 s turns:

  1. find_unique by id       db.Item.find_unique(where={"id": i})        vs  execute(SELECT ... WHERE id = ?).fetchone()
  2. find_many status = X    db.Item.find_many(where={"status": X}, take=100)
                                                                         vs  execute(SELECT ... WHERE status = ?
                                                                             ORDER BY id LIMIT 100).fetchall()
  3. create_many of 1000     db.Item.create_many(data=[...])             vs  BEGIN, executemany(INSERT, rows), COMMIT
     at kvorm sync=full / SQLite WAL + synchronous=FULL, then kvorm sync=nosync / SQLite synchronous=OFF
  4. (py-lmdb installed) find_unique and find_many by hand with py-lmdb in a child process (LMDB forbids opening
     one environment twice in a process): txn.get + msgpack.unpackb; a cursor over kvorm's index entries.
"""
import argparse
import multiprocessing
import os
import sqlite3
import statistics
import struct
import sys
import time

import msgpack

import kvorm

try:
    import lmdb  # py-lmdb: optional
except ImportError:
    lmdb = None

SLOT_SECONDS = 0.25
BATCH = 1000
TAKE = 100
MAPSIZE = 64 << 30
STATUS = ["active", "pending", "blocked", "archived", "trial", "premium", "invited", "deleted"]
SCHEMA = {"namespace": "lbench", "models": {"Item": {
    "id": {"type": "integer", "generate": "increment"},
    "fields": {"email": {"type": "string", "unique": True}, "status": {"type": "string", "index": True},
               "score": {"type": "integer", "index": True}, "name": {"type": "string"}}}}}
SQL_SCHEMA = """
CREATE TABLE item (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
                   score INTEGER NOT NULL, name TEXT NOT NULL);
CREATE INDEX item_status ON item(status);
CREATE INDEX item_score ON item(score);
"""
SQL_GET = "SELECT id, email, status, score, name FROM item WHERE id = ?"
SQL_MANY = "SELECT id, email, status, score, name FROM item WHERE status = ? ORDER BY id LIMIT 100"
SQL_INSERT = "INSERT INTO item (email, status, score, name) VALUES (?, ?, ?, ?)"
# docs/format.md, "Keys (LMDB)": every key of the model starts with <ns>\0<Model>\0; an integer id's element is
# 0x20 and the int64 big-endian with the sign bit flipped; an index entry is <prefix><index>\0 + the string
# element (0x50, bytes, 0x00 0x00) + the id element.
PREFIX = b"lbench\0Item\0"
SEED = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1


def fields(prefix, i):
    """email, status, score, name of record i (1-based), as benchmarks/lmdb_bench.c makes them."""
    k = i - 1
    return ("%s%09d@example.com" % (prefix, k), STATUS[k % len(STATUS)], (k * 2654435761) % 1000000,
            "Item %09d, a thing of some length" % k)


def as_dict(t):
    return {"email": t[0], "status": t[1], "score": t[2], "name": t[3]}


class Rng:
    """xorshift64, the id sequence of the C benchmark: each side starts from the same seed."""

    def __init__(self):
        self.s = SEED

    def next(self):
        x = self.s
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        self.s = x
        return x


def id_element(i):
    return b"\x20" + struct.pack(">Q", i ^ (1 << 63))


# ---- the py-lmdb side, in a child process ---------------------------------------------------------------------

def raw_child(conn, path, records):
    env = lmdb.open(path, max_dbs=4, map_size=MAPSIZE, readonly=True, lock=True)
    rdb, idb = env.open_db(b"records", create=False), env.open_db(b"index", create=False)
    prefixes = [PREFIX + b"status\0\x50" + s.encode() + b"\0\0" for s in STATUS]
    state = {"rng": Rng(), "status": 0}

    def get_one(i):
        with env.begin(db=rdb, buffers=False) as txn:
            rec = msgpack.unpackb(txn.get(PREFIX + id_element(i)))
        if len(rec) != 5:
            raise SystemExit("py-lmdb: record %d is not kvorm's" % i)
        return rec

    def many_one(s):
        pfx = prefixes[s]
        rows = []
        with env.begin(buffers=False) as txn:
            cur = txn.cursor(db=idb)
            ok = cur.set_range(pfx)
            while ok and len(rows) < TAKE:
                key = cur.key()
                if not key.startswith(pfx):
                    break
                rows.append(msgpack.unpackb(txn.get(PREFIX + key[len(pfx):], db=rdb)))
                ok = cur.next()
        if len(rows) != TAKE:
            raise SystemExit("py-lmdb: %d index entries for status %s" % (len(rows), STATUS[s]))
        return rows

    # the records kvorm wrote, by the keys of docs/format.md
    rec = get_one(1)
    e, st, sc, nm = fields("user", 1)
    if (rec.get("email"), rec.get("status"), rec.get("score"), rec.get("name")) != (e, st, sc, nm):
        raise SystemExit("py-lmdb: record 1 is %r" % rec)
    if many_one(1)[1]["email"] != fields("user", 2 + len(STATUS))[0]:
        raise SystemExit("py-lmdb: the status index is not where docs/format.md puts it")
    conn.send("ok")

    def op_get():
        get_one(state["rng"].next() % records + 1)

    def op_many():
        many_one(state["status"] % len(STATUS))
        state["status"] += 1

    while True:
        cmd = conn.recv()
        if cmd is None:
            break
        what, seconds, reset = cmd
        if reset:
            state["rng"], state["status"] = Rng(), 0
        conn.send(turn(op_get if what == "get" else op_many, seconds))
    env.close()


class RawSide:
    def __init__(self, path, records):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=raw_child, args=(child_conn, path, records), daemon=True)
        self.proc.start()
        if self.conn.recv() != "ok":
            raise SystemExit("py-lmdb child failed")

    def side(self, what):
        def run(seconds, reset):
            self.conn.send((what, seconds, reset))
            return self.conn.recv()
        return run

    def close(self):
        self.conn.send(None)
        self.proc.join(10)


# ---- measuring ------------------------------------------------------------------------------------------------

def turn(op, seconds):
    """Runs op for about `seconds` (the clock read after each call); returns (calls, elapsed, cpu seconds)."""
    n, started, cpu = 0, time.perf_counter(), time.process_time()
    deadline = started + seconds
    while True:
        op()
        n += 1
        now = time.perf_counter()
        if now >= deadline:
            return n, now - started, time.process_time() - cpu


def local(op, reset_fn):
    def run(seconds, reset):
        if reset:
            reset_fn()
        return turn(op, seconds)
    return run


def measure(kv, other, seconds):
    warm = min(0.5, max(0.05, seconds / 8))
    kv(warm, True)
    other(warm, True)
    totals = {"kv": [0, 0.0, 0.0], "o": [0, 0.0, 0.0]}
    ratios = []
    rounds = max(2, int(seconds / SLOT_SECONDS + 0.5))
    rounds += rounds % 2
    for k in range(rounds):
        order = [("kv", kv), ("o", other)] if k % 2 == 0 else [("o", other), ("kv", kv)]
        rates = {}
        for side, run in order:
            n, elapsed, cpu = run(seconds / rounds, False)
            t = totals[side]
            t[0] += n
            t[1] += elapsed
            t[2] += cpu
            rates[side] = n / elapsed
        ratios.append(rates["kv"] / rates["o"])
    return {"kv": totals["kv"][0] / totals["kv"][1], "o": totals["o"][0] / totals["o"][1],
            "median": statistics.median(ratios), "lo": min(ratios), "hi": max(ratios),
            "kv_cpu": 1e6 * totals["kv"][2] / totals["kv"][0], "o_cpu": 1e6 * totals["o"][2] / totals["o"][0]}


class Bench:
    def __init__(self, directory, records):
        os.makedirs(directory, exist_ok=True)
        self.dir = os.path.abspath(directory)
        self.kv_dir = os.path.join(self.dir, "kvorm")
        self.sq_path = os.path.join(self.dir, "sqlite.db")
        if os.path.exists(self.kv_dir) or os.path.exists(self.sq_path):
            raise SystemExit("%s already holds kvorm/ or sqlite.db: give lmdb_bench.py an empty directory"
                             % self.dir)
        self.records = records
        self.db = self.open_kvorm("full")
        self.sq = sqlite3.connect(self.sq_path, isolation_level=None)  # autocommit: BEGIN/COMMIT by hand
        self.sq.execute("PRAGMA journal_mode=WAL")
        self.sq.execute("PRAGMA synchronous=FULL")
        self.sq.executescript(SQL_SCHEMA)
        self.rng = Rng()
        self.status = 0
        self.kv_new = self.sq_new = 0

    def open_kvorm(self, sync):
        return kvorm.open("lmdb://%s?mapsize=%d&sync=%s" % (self.kv_dir, MAPSIZE, sync), schema=SCHEMA)

    def reset(self):
        self.rng = Rng()
        self.status = 0

    def load(self):
        n = self.records
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(1, n + 1, BATCH):
            m = min(BATCH, n - i + 1)
            if self.db.Item.create_many(data=[as_dict(fields("user", i + k)) for k in range(m)])["count"] != m:
                raise SystemExit("create_many did not create %d records" % m)
        t1, c1 = time.perf_counter(), time.process_time()
        for i in range(1, n + 1, BATCH):
            m = min(BATCH, n - i + 1)
            self.sq_batch("user", i, m)
        t2, c2 = time.perf_counter(), time.process_time()
        print("load of %d records in batches of %d (default durability): kvorm create_many %.1f s (%.0f records/s, "
              "CPU %.1f us/record), sqlite3 %.1f s (%.0f records/s, CPU %.1f us/record)"
              % (n, BATCH, t1 - t0, n / (t1 - t0), (c1 - c0) * 1e6 / n, t2 - t1, n / (t2 - t1),
                 (c2 - c1) * 1e6 / n))
        rec = self.db.Item.find_unique(where={"id": 1})
        if rec != dict(id=1, **as_dict(fields("user", 1))):
            raise SystemExit("kvorm find_unique of id 1: %r" % rec)
        rows = self.db.Item.find_many(where={"status": STATUS[1]}, take=TAKE)
        if len(rows) != TAKE or [r["id"] for r in rows] != [2 + len(STATUS) * j for j in range(TAKE)]:
            raise SystemExit("kvorm find_many is not the first 100 of the status")
        if self.sq.execute(SQL_MANY, (STATUS[1],)).fetchall() != [(r["id"], r["email"], r["status"], r["score"],
                                                                  r["name"]) for r in rows]:
            raise SystemExit("sqlite3 and kvorm return different rows")
        self.sq.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        mdb = os.path.join(self.kv_dir, "data.mdb")
        wal = self.sq_path + "-wal"
        sq_size = os.path.getsize(self.sq_path) + (os.path.getsize(wal) if os.path.exists(wal) else 0)
        print("file size per record: kvorm data.mdb %.1f B, sqlite.db + WAL %.1f B (benchmarks/lmdb_bench.c "
              "reports LMDB's used pages)" % (os.path.getsize(mdb) / n, sq_size / n))

    def sq_batch(self, prefix, first, m):
        rows = [fields(prefix, first + k) for k in range(m)]
        self.sq.execute("BEGIN")
        self.sq.executemany(SQL_INSERT, rows)
        self.sq.execute("COMMIT")

    # the operations
    def kv_get(self):
        if self.db.Item.find_unique(where={"id": self.rng.next() % self.records + 1}) is None:
            raise SystemExit("kvorm find_unique found nothing")

    def sq_get(self):
        if self.sq.execute(SQL_GET, (self.rng.next() % self.records + 1,)).fetchone() is None:
            raise SystemExit("sqlite3 SELECT by id found nothing")

    def kv_many(self):
        rows = self.db.Item.find_many(where={"status": STATUS[self.status % len(STATUS)]}, take=TAKE)
        self.status += 1
        if len(rows) != TAKE:
            raise SystemExit("kvorm find_many: %d rows" % len(rows))

    def sq_many(self):
        rows = self.sq.execute(SQL_MANY, (STATUS[self.status % len(STATUS)],)).fetchall()
        self.status += 1
        if len(rows) != TAKE:
            raise SystemExit("sqlite3 find_many: %d rows" % len(rows))

    def kv_create(self):
        first = self.kv_new + 1
        self.kv_new += BATCH
        if self.db.Item.create_many(data=[as_dict(fields("kvnew", first + k)) for k in range(BATCH)])["count"] \
                != BATCH:
            raise SystemExit("create_many did not create %d records" % BATCH)

    def sq_create(self):
        first = self.sq_new + 1
        self.sq_new += BATCH
        self.sq_batch("sqnew", first, BATCH)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    if args.records < 1000:
        raise SystemExit("--records takes 1000 or more")
    b = Bench(args.dir, args.records)
    print("kvorm %s (core %s), engine %s %s, atomicManyLimit %s; Python %s, sqlite3 module with SQLite %s; "
          "py-lmdb %s; %d records, %.1f s per side per case"
          % (kvorm.__version__, kvorm.core_version(), b.db.capabilities["engine"], b.db.capabilities["serverVersion"],
             b.db.capabilities["atomicManyLimit"], sys.version.split()[0], sqlite3.sqlite_version,
             lmdb.__version__ if lmdb else "not installed", args.records, args.seconds))
    sys.stdout.flush()
    b.load()
    raw = RawSide(b.kv_dir, b.records) if lmdb else None
    cases = [
        ("1. find_unique by id", "sqlite3 SELECT by PK", local(b.kv_get, b.reset), local(b.sq_get, b.reset), 1.0),
        ("2. find_many status = X take 100", "sqlite3 SELECT .. LIMIT 100", local(b.kv_many, b.reset),
         local(b.sq_many, b.reset), 1.0),
    ]
    if raw:
        cases += [("1b. find_unique by id", "py-lmdb get + unpackb", local(b.kv_get, b.reset), raw.side("get"), None),
                  ("2b. find_many status = X take 100", "py-lmdb cursor + 100 get", local(b.kv_many, b.reset),
                   raw.side("many"), None)]
    cases.append(("3. create_many of 1000 (sync=full / WAL FULL)", "sqlite3 txn, executemany 1000",
                  local(b.kv_create, b.reset), local(b.sq_create, b.reset), 1.0))
    print("\n| case | records | kvorm ops/s | other ops/s | other | kvorm/other | median round (min-max) | target "
          "| client CPU us/op k/o |")
    print("|---|---:|---:|---:|---|---:|---:|---|---:|")
    out = []

    def run_case(name, other, kv, o, target):
        r = measure(kv, o, args.seconds)
        verdict = "- (reported)" if target is None else ">= %.2fx %s" % (target,
                                                                          "MET" if r["median"] >= target else "MISS")
        line = ("| %s | %d | %.0f | %.0f | %s | %.2fx | %.2fx (%.2f-%.2f) | %s | %.1f / %.1f |"
                % (name, b.records, r["kv"], r["o"], other, r["kv"] / r["o"], r["median"], r["lo"], r["hi"],
                   verdict, r["kv_cpu"], r["o_cpu"]))
        print(line)
        sys.stdout.flush()
        out.append((name, r))

    try:
        for case in cases:
            run_case(*case)
        b.db.close()
        b.db = b.open_kvorm("nosync")
        b.sq.execute("PRAGMA synchronous=OFF")
        run_case("4. create_many of 1000 (nosync / WAL OFF)", "sqlite3 txn, executemany 1000",
                 local(b.kv_create, b.reset), local(b.sq_create, b.reset), 1.0)
    finally:
        if raw:
            raw.close()
        b.db.close()
        b.sq.close()
    print("\ncreate ops are batches of 1000 records (records/s = 1000 x ops/s); records created: kvorm %d, "
          "sqlite3 %d" % (b.kv_new, b.sq_new))
    print("SUMMARY py_lmdb_bench records=%d %s" % (b.records, " ".join(
        "c%s_kv=%.0f c%s_other=%.0f c%s_median=%.3f" % (name.split(".")[0], r["kv"], name.split(".")[0], r["o"],
                                                        name.split(".")[0], r["median"]) for name, r in out)))


if __name__ == "__main__":
    main()
