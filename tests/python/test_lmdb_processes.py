"""Several processes write one LMDB environment at once (docs/c-api.md, lmdb://): no corruption, no lost write.
Each child is a separate process (Python, or the C writer) with its own kvorm.open of the same directory; each
creates records of its own and increments one shared counter by read, then update with if_version, retrying on
Conflict. Afterwards every record is there, the counter holds every increment, and check finds nothing wrong."""
import json
import os
import subprocess
import sys

import kvorm
import pytest

from conftest import user_schema

CHILD = r"""
import json, sys, kvorm
url, schema, me, n, bumps = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
conflicts = 0
with kvorm.open(url, schema) as db:
    for i in range(n):
        db.User.create(data={"email": "%s-%d@x.io" % (me, i), "name": me, "age": i})
        if i < bumps:
            while True:
                c = db.User.find_unique(where={"email": "counter@x.io"}, select={"age": True, "$version": True})
                try:
                    db.User.update(where={"email": "counter@x.io"}, data={"age": c["age"] + 1},
                                   if_version=c["$version"])
                    break
                except kvorm.Conflict:
                    conflicts += 1
print(json.dumps({"conflicts": conflicts}))
"""


def run_writers(url, schema, commands, n, bumps):
    """Starts one writer per command (each given its name, n and bumps) while the parent reads, then checks that
    nothing was lost."""
    processes = len(commands)
    with kvorm.open(url, schema) as db:
        db.User.create(data={"email": "counter@x.io", "name": "counter", "age": 0})
        children = [subprocess.Popen(command + [url, json.dumps(schema), "p%d" % k, str(n), str(bumps)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    for k, command in enumerate(commands)]
        # the parent reads while the children write: every read is a consistent state
        while any(c.poll() is None for c in children):
            assert db.User.count(where={"name": "p0"}) <= n
        outcomes = [c.communicate() for c in children]
        for child, (out, err) in zip(children, outcomes):
            assert child.returncode == 0, err.decode()
            assert "conflicts" in json.loads(out)
        assert db.User.count() == processes * n + 1
        for k in range(processes):
            assert db.User.count(where={"name": "p%d" % k}) == n
            assert db.User.find_unique(where={"email": "p%d-%d@x.io" % (k, n - 1)})["age"] == n - 1
        counter = db.User.find_unique(where={"email": "counter@x.io"})
        assert counter["age"] == processes * bumps
        report = db.User.check()
        assert report["ok"] is True and report["records"] == processes * n + 1, report


def test_processes_writing_one_environment_lose_nothing(tmp_path, namespace):
    python = [sys.executable, "-c", CHILD]
    run_writers("lmdb://%s" % (tmp_path / "shared"), user_schema(namespace), [python] * 4, 150, 40)


def test_a_c_process_and_python_processes_share_one_environment(tmp_path, namespace):
    """The C writer (tests/tools/lmdb_writer.c, built by CMake; scripts/test-python.sh builds it and sets
    KVORM_C_WRITER) does the same work through kvorm_exec_json."""
    writer = os.environ.get("KVORM_C_WRITER")
    if not writer:
        pytest.skip("KVORM_C_WRITER is not set (scripts/test-python.sh builds kvorm_lmdb_writer and sets it)")
    python = [sys.executable, "-c", CHILD]
    run_writers("lmdb://%s" % (tmp_path / "shared"), user_schema(namespace), [python, [writer], python, [writer]],
                150, 40)
