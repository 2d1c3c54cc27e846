'use strict';
// The gate proxy of tests/tools/gate_proxy.py in front of a test redis-server: proves that calls overlap by a
// count, not a clock. `hold(n, seconds)` holds back what clients send until n distinct connections have something
// held (or the seconds pass, which only bounds how long a failing test waits), then lets it all go and resolves
// `released` with the most connections that were held at once: n when n calls were in flight together, 1 when
// they ran one after the other. Stopped by its pid.

const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const { repoRoot } = require('./env');

const script = path.join(repoRoot, 'tests', 'tools', 'gate_proxy.py');

async function startGate(upstreamPort) {
  const child = spawn(process.env.PYTHON || 'python3', [script, '--upstream', `127.0.0.1:${upstreamPort}`],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = []; // resolvers of the lines asked for, in order
  const early = []; // lines read before anyone asked
  let exited = null;
  const lines = readline.createInterface({ input: child.stdout });
  lines.on('line', (line) => (waiting.length > 0 ? waiting.shift().resolve(line) : early.push(line)));
  child.on('exit', (code, signal) => {
    exited = new Error(`gate_proxy.py exited (${signal ?? code})`);
    for (const { reject } of waiting.splice(0)) reject(exited);
  });
  const nextLine = () => {
    if (early.length > 0) return Promise.resolve(early.shift());
    if (exited !== null) return Promise.reject(exited);
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  };
  const expect = async (pattern) => {
    const line = await nextLine();
    const match = pattern.exec(line);
    if (match === null) throw new Error(`gate_proxy.py said "${line}", expected ${pattern}`);
    return match;
  };

  const port = Number((await expect(/^port (\d+)$/))[1]);
  return {
    port,
    pid: child.pid,
    url: (db = 0) => `redis://127.0.0.1:${port}/${db}`,
    // Arms the gate; resolves once it holds, with { released }: a promise of the peak count.
    async hold(connections, seconds = 30) {
      child.stdin.write(`hold ${connections} ${seconds}\n`);
      await expect(/^holding$/);
      const released = expect(/^released (\d+)$/).then((match) => Number(match[1]));
      released.catch(() => {}); // awaited by the test; never an unhandled rejection if it is not
      return { released };
    },
    async stop() {
      if (exited === null) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        process.kill(child.pid, 'SIGTERM');
        await gone;
      }
    },
  };
}

module.exports = { startGate };
