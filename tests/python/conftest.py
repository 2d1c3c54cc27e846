"""Fixtures: one real redis-server for the session (a free loopback port and a unix socket in a temp dir, no
persistence, stopped by its pid), and per test a fresh namespace so tests never see each other's keys; a redis-server
of a test's own for tests that put the server in a state others must not see; the gate proxy (tests/tools), which
proves calls overlap by a count instead of a clock."""
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
import redis

import kvorm

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class RedisServer:
    def __init__(self, directory):
        self.directory = directory
        self.socket_path = os.path.join(directory, "redis.sock")
        self.process = None
        self.port = None

    def start(self):
        for _ in range(20):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            self.process = subprocess.Popen(
                [os.environ.get("REDIS_SERVER", "redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                 "--unixsocket", self.socket_path, "--unixsocketperm", "700", "--dir", self.directory,
                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                 "--logfile", os.path.join(self.directory, "redis.log")],
                stdin=subprocess.DEVNULL)
            if self._answers_as_ours(port):
                self.port = port
                return
            self.stop()
        raise RuntimeError("could not start redis-server on a free port")

    def _answers_as_ours(self, port):
        for _ in range(100):
            if self.process.poll() is not None:
                return False
            try:
                info = redis.Redis(port=port, socket_timeout=1).info("server")
                return info["process_id"] == self.process.pid  # not another server that won the port
            except redis.ConnectionError:
                time.sleep(0.05)
        return False

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    @property
    def unix_url(self):
        return "unix://%s" % self.socket_path


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = RedisServer(str(tmp_path_factory.mktemp("redis")))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def own_server(tmp_path_factory):
    """A redis-server for this test alone (say, one made to refuse writes), stopped by its pid afterwards."""
    srv = RedisServer(str(tmp_path_factory.mktemp("own")))
    srv.start()
    yield srv
    srv.stop()


def wait_until(condition, what, tries=10000):
    """Waits for a state of the server or of other threads (a client blocked in Redis, a db marked closed), checked
    again and again: the verdict is the state, never how long it took. The short pause between checks only spares
    the CPU, and the bound only keeps a broken test from hanging."""
    for _ in range(tries):
        if condition():
            return
        time.sleep(0.002)
    raise AssertionError("never happened: %s" % what)


def clients_blocked_in_redis(client):
    """The connections whose command Redis holds back (CLIENT PAUSE), from CLIENT LIST: flag b."""
    return [c for c in client.client_list() if "b" in c["flags"]]


class GateProxy:
    """tests/tools/gate_proxy.py in front of a server: hold(n, seconds) holds back what clients send until n
    connections have something held; released() is the most that were held at once (n when n calls overlapped,
    1 for calls made one after another)."""

    SCRIPT = os.path.join(REPO, "tests", "tools", "gate_proxy.py")

    def __init__(self, upstream_port):
        self.process = subprocess.Popen([sys.executable, self.SCRIPT, "--upstream", "127.0.0.1:%d" % upstream_port],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self._expect("port"))

    def _expect(self, word):
        line = self.process.stdout.readline()
        if line.split()[:1] != [word]:
            raise RuntimeError("gate proxy: expected %r, got %r" % (word, line))
        return line.split(None, 1)[1].strip() if " " in line.strip() else ""

    def _send(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def hold(self, connections, seconds=30):
        self._send("hold %d %s" % (connections, seconds))
        self._expect("holding")

    def released(self):
        """Blocks until the gate lets go (at the latest `seconds` after hold): the peak count of held connections."""
        return int(self._expect("released"))

    def stop(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=10)
        self.process.stdin.close()
        self.process.stdout.close()


@pytest.fixture
def gate(server):
    """The gate proxy in front of the session's server, stopped by its pid afterwards."""
    proxy = GateProxy(server.port)
    yield proxy
    proxy.stop()


@pytest.fixture
def raw(server, request):
    """redis-py on the same server, for what kvorm must have stored."""
    callspec = getattr(request.node, "callspec", None)
    if callspec and callspec.params.get("engine", "redis") != "redis":
        pytest.fail("this test reads raw Redis keys beside a db of another engine: mark it redis_only")
    client = redis.Redis(port=server.port)
    yield client
    client.close()


_counter = itertools.count()


@pytest.fixture
def namespace():
    return "t%d_%s" % (next(_counter), uuid.uuid4().hex[:8])


def user_schema(namespace):
    """Every field type, a unique field and a compound unique."""
    return {"namespace": namespace, "models": {
        "User": {
            "id": {"type": "string", "generate": "ulid"},
            "fields": {
                "email": {"type": "string", "unique": True},
                "orgId": {"type": "string", "optional": True},
                "name": {"type": "string"},
                "age": {"type": "integer", "optional": True},
                "role": {"type": "enum", "values": ["admin", "member"], "default": "member"},
                "balance": {"type": "decimal", "default": "0"},
                "profile": {"type": "json", "optional": True},
                "avatar": {"type": "bytes", "optional": True},
                "score": {"type": "float", "default": 0},
                "active": {"type": "boolean", "default": True},
                "createdAt": {"type": "datetime", "default": "now"}},
            "unique": [["orgId", "email"]]},
        "Counter": {
            "id": {"type": "integer", "generate": "increment"},
            "fields": {"label": {"type": "string"}}}}}


@pytest.fixture
def schema(namespace):
    return user_schema(namespace)


ENGINES = ["redis", "lmdb"]


def store_url(engine, server, tmp_path):
    """The URL of a store for one test: the session's redis-server, or a fresh LMDB environment."""
    if engine == "redis":
        return server.url
    return "lmdb://%s?sync=nosync&mapsize=16777216" % (tmp_path / "lmdb")


@pytest.fixture(params=ENGINES)
def engine(request):
    """Each behaviour test runs on every engine; a test that reads raw Redis keys is marked redis_only."""
    return request.param


@pytest.fixture
def url(engine, server, tmp_path):
    return store_url(engine, server, tmp_path)


@pytest.fixture
def db(url, schema):
    handle = kvorm.open(url, schema=schema)
    yield handle
    handle.close()


def pytest_configure(config):
    config.addinivalue_line("markers", "redis_only: reads or drives raw Redis (keys, a proxy): runs on Redis only")


def pytest_collection_modifyitems(config, items):
    """redis_only tests run once, on Redis: their other engines' variants are deselected, not skipped."""
    keep, drop = [], []
    for item in items:
        engine = getattr(item, "callspec", None) and item.callspec.params.get("engine")
        (drop if engine not in (None, "redis") and item.get_closest_marker("redis_only") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
