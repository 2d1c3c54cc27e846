'use strict';
// Timing shared by the Node benchmarks: throughput with a number of requests in flight, and two sides compared in
// ABBA rounds so that drift of the machine falls on both alike.

// Operations per second of op(i) with `inFlight` requests always outstanding, for `secs` seconds.
async function throughput(op, inFlight, secs) {
  const deadline = performance.now() + secs * 1000;
  let next = 0;
  const lane = async () => {
    while (performance.now() < deadline) await op(next++);
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, lane));
  return next / ((performance.now() - start) / 1000);
}

// kvorm and the other side alternately in ABBA rounds over `seconds` per side (`turn` s turns, longer for a slow
// side), after a warm-up. Returns the mean operations per second of each.
async function compare(kvOp, otherOp, inFlight, seconds, turn = 0.25) {
  const rounds = Math.max(2, Math.round(seconds / turn / 2) * 2);
  await throughput(kvOp, inFlight, 0.2);
  await throughput(otherOp, inFlight, Math.min(turn, 0.5));
  let kv = 0;
  let other = 0;
  for (let r = 0; r < rounds; r++) {
    for (const isKv of r % 2 === 0 ? [true, false] : [false, true]) {
      if (isKv) kv += await throughput(kvOp, inFlight, turn);
      else other += await throughput(otherOp, inFlight, turn);
    }
  }
  return { kv: kv / rounds, other: other / rounds };
}

const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

module.exports = { throughput, compare, fmt };
