'use strict';
// Hands requests to the addon. The requests made in one tick (say 64 promises answered by one batch, each sending
// its next request) go together: each batch is one Node-API async work running kvorm_exec_batch in the core, and
// one callback back. Per-request async work would cost the main thread more than the request itself once many
// are in flight.
//
// Reads by id or unique go in one batch (up to 128), which the core sends to Redis in one round trip: one worker
// thread and one wake-up for them all. The other requests are split into one batch per threadpool thread, so
// that their round trips (one per write) overlap on the core's connection pool.

const native = require('./native');

// libuv's threadpool size (UV_THREADPOOL_SIZE, default 4): more write batches than threads would only wait.
const THREADS = Math.min(Math.max(Number.parseInt(process.env.UV_THREADPOOL_SIZE, 10) || 4, 1), 1024);
// The ops kvorm_exec_batch sends together, and how many it sends in one round trip.
const PIPELINED_OPS = new Set(['findUnique', 'findUniqueOrThrow']);
const READS_PER_TRIP = 128;

class Dispatcher {
  #handle;
  #reads = { requests: [], callbacks: [] };
  #others = { requests: [], callbacks: [] };
  #scheduled = false;

  constructor(handle) {
    this.#handle = handle;
  }

  // callback(status, response) runs once the core answered the request.
  submit(op, request, callback) {
    const queue = PIPELINED_OPS.has(op) ? this.#reads : this.#others;
    queue.requests.push(request);
    queue.callbacks.push(callback);
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(() => this.#flush());
    }
  }

  #flush() {
    const reads = this.#reads;
    const others = this.#others;
    this.#reads = { requests: [], callbacks: [] };
    this.#others = { requests: [], callbacks: [] };
    this.#scheduled = false;
    this.#send(reads, READS_PER_TRIP);
    this.#send(others, Math.ceil(others.requests.length / THREADS));
  }

  #send({ requests, callbacks }, size) {
    for (let start = 0; start < requests.length; start += size) {
      const batch = callbacks.slice(start, start + size);
      native.execAsync(this.#handle, requests.slice(start, start + size), (statuses, responses) => {
        for (let i = 0; i < batch.length; i++) batch[i](statuses[i], responses[i]);
      });
    }
  }
}

module.exports = { Dispatcher };
