"""kvorm's Python package against redis-py doing the raw equivalent, on the same Redis server, in the same run.

Usage: python bench.py URL [seconds-per-case]    (URL: redis://host:port[/db] or unix:///path/to/redis.sock)

Mirrors benchmarks/redis_bench.c (see benchmarks/python/README.md): one connection per side, one request at a
time, one thread; ABBA rounds of 0.25 s turns after a warm-up; ops/s, ratio kvorm/raw and the median round ratio.
Writes only under the namespaces `pybench` (kvorm) and `pyraw` (redis-py), cleaned at start and end without KEYS,
SCAN or FLUSH*.
"""
import os
import statistics
import sys
import time
import urllib.parse

import msgpack
import redis

import kvorm

SLOT_SECONDS = 0.25
NRECORDS = 1000
SCHEMA = {"namespace": "pybench", "models": {"User": {
    "id": {"type": "string", "generate": "ulid"},
    "fields": {"email": {"type": "string", "unique": True}, "name": {"type": "string"},
               "age": {"type": "integer"}}}}}
K_PREFIX, K_UNIQUE, K_IDS = "pybench:{User}:r:", "pybench:{User}:u:email", "pybench:{User}:ids"
R_PREFIX, R_UNIQUE, R_IDS = "pyraw:{User}:r:", "pyraw:{User}:u:email", "pyraw:{User}:ids"
FIXED_KEYS = ["pybench:$schema", "pybench:{User}:seq", K_UNIQUE, K_IDS, R_UNIQUE, R_IDS]

# The raw create of benchmarks/redis_bench.c: KEYS record, unique hash, ids; ARGV unique key, id, field/values.
LUA_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('id taken') end
if redis.call('HGET', KEYS[2], ARGV[1]) then return redis.error_reply('unique taken') end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
return 1
"""
B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def raw_client(url):
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    if parts.scheme == "unix":
        return redis.Redis(unix_socket_path=parts.path, db=int(query.get("db", ["0"])[0]))
    return redis.Redis(host=parts.hostname or "127.0.0.1", port=parts.port or 6379,
                       db=int(parts.path.strip("/") or 0))


def drain(r, ids_key, prefix):
    ids = r.zrange(ids_key, 0, -1)
    for i in range(0, len(ids), 500):
        r.delete(*[prefix.encode() + x for x in ids[i:i + 500]])


def cleanup(r):
    drain(r, K_IDS, K_PREFIX)
    drain(r, R_IDS, R_PREFIX)
    r.delete(*FIXED_KEYS)


def raw_id(n):
    """ULID-like 26-character id: 48-bit milliseconds (10 chars) + a counter (16 chars)."""
    ms = time.time_ns() // 1_000_000
    head = "".join(B32[(ms >> (5 * (9 - i))) & 31] for i in range(10))
    return head + "".join(B32[(n >> (5 * (15 - i))) & 31] for i in range(16))


class Bench:
    def __init__(self, url):
        self.r = raw_client(url)
        cleanup(self.r)
        self.db = kvorm.open(url, schema=SCHEMA, pool_size=1)
        self.tag = "%x" % os.getpid()
        self.seq = 0
        self.ids, self.raw_keys = [], []
        for i in range(NRECORDS):
            user = self.db.User.create(data={"email": "user%d-%s@example.com" % (i, self.tag),
                                             "name": "User %06d" % i, "age": i % 100})
            self.ids.append(user["id"])
        # Byte-for-byte copies under pyraw, so both sides read identical hashes.
        for record_id in self.ids:
            fields = self.r.hgetall(K_PREFIX + record_id)
            self.r.hset(R_PREFIX + record_id, mapping=fields)
            self.r.zadd(R_IDS, {record_id: 0})
            self.raw_keys.append(R_PREFIX + record_id)
        self.r.hset(R_UNIQUE, mapping=self.r.hgetall(K_UNIQUE))
        assert self.r.hgetall(self.raw_keys[0]) == self.r.hgetall(K_PREFIX + self.ids[0])
        self.create_sha = self.r.script_load(LUA_CREATE)
        self.i = 0

    def close(self):
        self.db.close()
        cleanup(self.r)
        self.r.close()

    # 1. findUnique by id
    def kv_find_id(self):
        self.i = (self.i + 1) % NRECORDS
        if self.db.User.find_unique(where={"id": self.ids[self.i]}) is None:
            raise SystemExit("kvorm findUnique found nothing")

    def raw_find_id(self):
        self.i = (self.i + 1) % NRECORDS
        if not self.r.hgetall(self.raw_keys[self.i]):
            raise SystemExit("raw HGETALL found nothing")

    # 2. create with one unique
    def kv_create(self):
        n = self.seq = self.seq + 1
        self.db.User.create(data={"email": "k%d-%s@example.com" % (n, self.tag), "name": "New User %06d" % n,
                                  "age": n % 100})

    def raw_create(self):
        n = self.seq = self.seq + 1
        record_id = raw_id(n)
        email = msgpack.packb("r%d-%s@example.com" % (n, self.tag))
        reply = self.r.evalsha(self.create_sha, 3, R_PREFIX + record_id, R_UNIQUE, R_IDS, email, record_id,
                               "email", email, "name", msgpack.packb("New User %06d" % n),
                               "age", msgpack.packb(n % 100), "$v", "1")
        if reply != 1:
            raise SystemExit("raw create: unexpected reply %r" % reply)


def turn(op, seconds):
    """Runs op for about `seconds`; returns (operations, elapsed, cpu seconds)."""
    n, started, cpu = 0, time.perf_counter(), time.process_time()
    deadline = started + seconds
    while True:
        for _ in range(50):
            op()
        n += 50
        now = time.perf_counter()
        if now >= deadline:
            return n, now - started, time.process_time() - cpu


def measure(kv, raw, seconds):
    warm = min(0.5, max(0.05, seconds / 8))
    turn(kv, warm)
    turn(raw, warm)
    totals = {"kv": [0, 0.0, 0.0], "raw": [0, 0.0, 0.0]}
    ratios = []
    rounds = max(1, round(seconds / SLOT_SECONDS))
    for k in range(rounds):
        order = [("kv", kv), ("raw", raw)] if k % 2 == 0 else [("raw", raw), ("kv", kv)]
        rates = {}
        for side, op in order:
            n, elapsed, cpu = turn(op, SLOT_SECONDS)
            totals[side][0] += n
            totals[side][1] += elapsed
            totals[side][2] += cpu
            rates[side] = n / elapsed
        ratios.append(rates["kv"] / rates["raw"])
    kv_rate = totals["kv"][0] / totals["kv"][1]
    raw_rate = totals["raw"][0] / totals["raw"][1]
    cpu = (1e6 * totals["kv"][2] / totals["kv"][0], 1e6 * totals["raw"][2] / totals["raw"][0])
    return kv_rate, raw_rate, statistics.median(ratios), min(ratios), max(ratios), cpu


def main():
    url = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    connection = "unix socket" if url.startswith("unix:") else "TCP"
    parser = "hiredis" if redis.utils.HIREDIS_AVAILABLE else "pure Python"
    print("kvorm %s (core %s), redis-py %s with the %s parser, %s, %.1f s per side per case"
          % (kvorm.__version__, kvorm.core_version(), redis.__version__, parser, connection, seconds))
    bench = Bench(url)
    try:
        cases = [("1. find_unique by id", bench.kv_find_id, bench.raw_find_id, 1.0),
                 ("2. create (one unique)", bench.kv_create, bench.raw_create, None)]
        print("| case | connection | kvorm ops/s | redis-py ops/s | kvorm/redis-py | median round (min-max) | target "
              "| client CPU us/op k/r |")
        print("|---|---|---:|---:|---:|---:|---|---|")
        for name, kv, raw, target in cases:
            kv_rate, raw_rate, median, low, high, cpu = measure(kv, raw, seconds)
            verdict = "-" if target is None else ">= %.2fx %s" % (target, "PASS" if median >= target else "MISS")
            print("| %s | %s | %.0f | %.0f | %.2fx | %.2fx (%.2f-%.2f) | %s | %.1f / %.1f |"
                  % (name, connection, kv_rate, raw_rate, kv_rate / raw_rate, median, low, high, verdict, *cpu))
            sys.stdout.flush()
    finally:
        bench.close()


if __name__ == "__main__":
    main()
