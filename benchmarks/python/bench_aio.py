"""kvorm.aio beside redis-py's asyncio client (redis.asyncio, hiredis parser) on one Redis server, in one run:
find_unique by id against HGETALL of the same record hash, with 1 and with 64 awaits in flight.

Usage: python bench_aio.py redis://127.0.0.1:PORT/0 [seconds-per-side]   (scripts/bench-python.sh runs it)
Writes under the namespace bench_aio and cleans nothing up: give it a throwaway server.
"""
import asyncio
import sys
import time
import urllib.parse

import redis.asyncio as aredis

import kvorm.aio

SCHEMA = {"namespace": "bench_aio", "models": {"User": {
    "id": {"type": "string", "generate": "ulid"},
    "fields": {"email": {"type": "string", "unique": True}, "name": {"type": "string"}, "age": {"type": "integer"}}}}}
RECORDS = 1000


async def throughput(op, in_flight, seconds):
    """Operations per second of op(i) with in_flight awaits always outstanding."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def lane():
        nonlocal done
        while time.perf_counter() < deadline:
            await op(done)
            done += 1
    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(in_flight)))
    return done / (time.perf_counter() - started)


async def main(url, seconds):
    port = urllib.parse.urlparse(url).port
    async with kvorm.aio.open(url, schema=SCHEMA) as db:
        users = await asyncio.gather(*(db.User.create(data={"email": "u%d@example.com" % i, "name": "U", "age": 30})
                                       for i in range(RECORDS)))
        ids = [u["id"] for u in users]
        keys = ["bench_aio:{User}:r:" + i for i in ids]
        raw = aredis.Redis(port=port)
        print("| case | in flight | kvorm.aio ops/s | redis.asyncio ops/s | kvorm/raw |")
        print("|---|---:|---:|---:|---:|")
        for in_flight in (1, 64):
            await throughput(lambda i: db.User.find_unique(where={"id": ids[i % RECORDS]}), in_flight, 0.2)  # warm-up
            await throughput(lambda i: raw.hgetall(keys[i % RECORDS]), in_flight, 0.2)
            kv = await throughput(lambda i: db.User.find_unique(where={"id": ids[i % RECORDS]}), in_flight, seconds)
            rw = await throughput(lambda i: raw.hgetall(keys[i % RECORDS]), in_flight, seconds)
            print("| find_unique by id | %d | %.0f | %.0f | %.2fx |" % (in_flight, kv, rw, kv / rw))
        await raw.aclose()


if __name__ == "__main__":
    if len(sys.argv) < 2 or not sys.argv[1].startswith("redis://"):
        sys.exit("usage: python bench_aio.py redis://127.0.0.1:PORT/0 [seconds-per-side]")
    asyncio.run(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 2.0))
