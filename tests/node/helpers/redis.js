'use strict';
// A redis-server of the test's own: a free loopback port and a unix socket in a temp directory, no persistence,
// stopped by its pid. Nothing else is touched. REDIS_SERVER names another server binary.

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

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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

async function startRedis() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvorm-node-test-'));
  const socket = path.join(dir, 'redis.sock');
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = await freePort();
    const child = spawn(process.env.REDIS_SERVER || 'redis-server', ['--port', String(port), '--bind', '127.0.0.1',
      '--unixsocket', socket, '--unixsocketperm', '700', '--dir', dir, '--save', '', '--appendonly', 'no',
      '--logfile', path.join(dir, 'redis.log')], { stdio: 'ignore' });
    let exited = false;
    child.on('exit', () => (exited = true));
    for (let i = 0; i < 100 && !exited; i++) {
      if (await answersAs(port, child.pid)) {
        return {
          port,
          socket,
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
      await sleep(50);
    }
    if (!exited) child.kill('SIGKILL');
  }
  throw new Error('could not start redis-server on a free port');
}

module.exports = { startRedis, freePort };
