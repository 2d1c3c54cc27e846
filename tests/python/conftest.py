"""Fixtures: one real redis-server for the session (a free loopback port and a unix socket in a temp dir, no
persistence, stopped by its pid), and per test a fresh namespace so tests never see each other's keys."""
import itertools
import os
import socket
import subprocess
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
def raw(server):
    """redis-py on the same server, for what kvorm must have stored."""
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


@pytest.fixture
def db(server, schema):
    handle = kvorm.open(server.url, schema=schema)
    yield handle
    handle.close()
