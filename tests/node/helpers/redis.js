'use strict';
// A redis-server of the test's own: a free loopback port and a unix socket in a temp directory, no persistence,
// stopped by its pid. Nothing else is touched. REDIS_SERVER names another server binary. Ready when the server
// says so in its log (no polling on a clock).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { Redis } = require('./env');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Our server answers with our pid, not some other server that won a race for the port.
async function answersAs(port, pid) {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0,
    retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    const info = await client.info('server');
    return info.includes(`process_id:${pid}\r\n`);
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

// Resolves true once the server logs that it accepts connections, false if it exits first (the port was taken).
// Its log goes to stdout, and on into redis.log.
function ready(child, logPath) {
  const log = fs.createWriteStream(logPath);
  return new Promise((resolve) => {
    let seen = '';
    let done = false;
    child.stdout.on('data', (chunk) => {
      log.write(chunk);
      if (done) return;
      seen = (seen + chunk.toString('latin1')).slice(-4096);
      if (/Ready to accept connections/.test(seen)) {
        done = true;
        resolve(true);
      }
    });
    child.on('exit', () => {
      log.end();
      if (!done) {
        done = true;
        resolve(false);
      }
    });
  });
}

// extra: more redis-server arguments (e.g. ['--maxmemory', '1mb']).
async function startRedis(extra = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvorm-node-test-'));
  const socket = path.join(dir, 'redis.sock');
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = await freePort();
    const child = spawn(process.env.REDIS_SERVER || 'redis-server', ['--port', String(port), '--bind', '127.0.0.1',
      '--unixsocket', socket, '--unixsocketperm', '700', '--dir', dir, '--save', '', '--appendonly', 'no',
      '--logfile', '', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
    let exited = false;
    child.on('exit', () => (exited = true));
    if ((await ready(child, path.join(dir, 'redis.log'))) && (await answersAs(port, child.pid))) {
      return {
        port,
        socket,
        pid: child.pid,
        url: (db = 0) => `redis://127.0.0.1:${port}/${db}`,
        unixUrl: (db = 0) => `unix://${socket}?db=${db}`,
        client: (db = 0) => new Redis({ port, host: '127.0.0.1', db }),
        async stop() {
          if (!exited) {
            const gone = new Promise((resolve) => child.once('exit', resolve));
            child.kill('SIGTERM');
            await gone;
          }
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    if (!exited) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    }
  }
  throw new Error(`could not start redis-server on a free port (log: ${path.join(dir, 'redis.log')})`);
}

module.exports = { startRedis, freePort };
