#!/usr/bin/env python3
"""A TCP proxy in front of the test redis-server that proves calls overlap without reading a clock.

    python3 tests/tools/gate_proxy.py --upstream 127.0.0.1:6379

It listens on a free loopback port and prints "port <n>" as its first line. It then reads commands, one per
line, on stdin and answers each on stdout:

    hold <n> <seconds>   From now on, what clients send is held back, not forwarded, until <n> distinct
                         connections have something held (or <seconds> pass); then everything held goes to the
                         server at once. Answers "holding" at once, and "released <k>" when it lets go, <k>
                         being the most connections that had something held at the same time.
    stats                Answers "connections <total accepted> <open now>".
    quit                 Closes everything and exits (so does the end of stdin).

A client that runs calls one after another never has two connections held at once, so it gets "released 1"
after the timeout; one that runs <n> calls in parallel gets "released <n>" as soon as the last call is sent. The
verdict is a count, so it does not depend on how fast or loaded the machine is; the timeout only bounds how long
a failing test waits.
"""
import argparse
import asyncio
import sys


class Gate:
    def __init__(self):
        self.want = 0          # connections to wait for; 0 = not holding
        self.held = {}         # connection -> list of chunks held back
        self.peak = 0
        self.timer = None
        self.accepted = 0
        self.open = 0

    def arm(self, want, seconds, loop):
        self.want = want
        self.held = {}
        self.peak = 0
        self.timer = loop.call_later(seconds, self.release)

    def offer(self, conn, data):
        """Forwards data now, or holds it while the gate is armed."""
        if not self.want:
            conn.forward(data)
            return
        self.held.setdefault(conn, []).append(data)
        self.peak = max(self.peak, len(self.held))
        if len(self.held) >= self.want:
            self.release()

    def release(self):
        if not self.want:
            return
        if self.timer:
            self.timer.cancel()
            self.timer = None
        held, self.held, self.want = self.held, {}, 0
        for conn, chunks in held.items():
            for data in chunks:
                conn.forward(data)
        say("released %d" % self.peak)


class Connection:
    def __init__(self, gate, reader, writer, upstream):
        self.gate = gate
        self.client_reader, self.client_writer = reader, writer
        self.server_reader, self.server_writer = upstream

    def forward(self, data):
        if not self.server_writer.is_closing():
            self.server_writer.write(data)

    async def client_to_server(self):
        while True:
            data = await self.client_reader.read(65536)
            if not data:
                break
            self.gate.offer(self, data)
        self.server_writer.close()

    async def server_to_client(self):
        while True:
            data = await self.server_reader.read(65536)
            if not data:
                break
            self.client_writer.write(data)
            await self.client_writer.drain()
        self.client_writer.close()


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the server")
    args = parser.parse_args()
    host, port = args.upstream.rsplit(":", 1)
    gate = Gate()
    loop = asyncio.get_running_loop()

    async def serve(reader, writer):
        gate.accepted += 1
        gate.open += 1
        try:
            upstream = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            gate.open -= 1
            return
        conn = Connection(gate, reader, writer, upstream)
        try:
            await asyncio.gather(conn.client_to_server(), conn.server_to_client())
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # a peer went away, or the proxy is quitting
        finally:
            gate.held.pop(conn, None)
            conn.server_writer.close()
            writer.close()
            gate.open -= 1

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    say("port %d" % server.sockets[0].getsockname()[1])
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while True:
        raw = await stdin.readline()
        line = raw.decode().split()
        if not raw or line[:1] == ["quit"]:
            break
        if not line:
            continue
        if line[0] == "hold" and len(line) == 3:
            gate.arm(int(line[1]), float(line[2]), loop)
            say("holding")
        elif line[0] == "stats":
            say("connections %d %d" % (gate.accepted, gate.open))
        else:
            say("error unknown command")
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
