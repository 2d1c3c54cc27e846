'use strict';
// kvorm stores datetimes with nanoseconds; a JavaScript Date holds milliseconds. A stored value with a
// sub-millisecond part is returned as a Timestamp: a Date (its milliseconds rounded down) that also carries the
// exact instant, and is written back exactly.

const NS_PER_MS = 1000000n;

class Timestamp extends Date {
  #epochNanoseconds;

  constructor(epochNanoseconds) {
    if (typeof epochNanoseconds !== 'bigint') {
      throw new TypeError('Timestamp: epochNanoseconds must be a bigint');
    }
    // Floor division, so the Date part never lies after the exact instant (also before 1970).
    let ms = epochNanoseconds / NS_PER_MS;
    if (ms * NS_PER_MS > epochNanoseconds) ms -= 1n;
    super(Number(ms));
    this.#epochNanoseconds = epochNanoseconds;
  }

  static fromEpochNanoseconds(epochNanoseconds) {
    return new Timestamp(epochNanoseconds);
  }

  // Nanoseconds since 1970-01-01T00:00:00Z, exact.
  get epochNanoseconds() {
    return this.#epochNanoseconds;
  }

  // RFC 3339 with all nine fraction digits, e.g. 2024-05-06T07:08:09.123456789Z.
  toISOStringNs() {
    const nsInSecond = ((this.#epochNanoseconds % 1000000000n) + 1000000000n) % 1000000000n;
    return this.toISOString().slice(0, 19) + '.' + nsInSecond.toString().padStart(9, '0') + 'Z';
  }
}

// Nanoseconds since the epoch of any Date: exact for a Timestamp, the milliseconds for a plain Date. Mutating a
// Timestamp with a setter changes its Date part: the Date part then wins.
function epochNanosecondsOf(date) {
  const ms = date.getTime();
  if (date instanceof Timestamp) {
    const ns = date.epochNanoseconds;
    let nsMs = ns / NS_PER_MS;
    if (nsMs * NS_PER_MS > ns) nsMs -= 1n;
    if (Number(nsMs) === ms) return ns;
  }
  return BigInt(ms) * NS_PER_MS;
}

module.exports = { Timestamp, epochNanosecondsOf };
