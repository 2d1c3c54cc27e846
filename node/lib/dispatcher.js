'use strict';
// Hands requests to the addon. The requests made in one tick (say 64 promises answered by one batch, each sending
// its next request) go together, split into one batch per libuv threadpool thread: each batch is one Node-API
// async work running its requests one after the other in the core, and one callback back. Per-request async
// work would cost the main thread more than the request itself once many are in flight.

const native = require('./native');

// libuv's threadpool size (UV_THREADPOOL_SIZE, default 4): more batches than threads would only wait.
const THREADS = Math.min(Math.max(Number.parseInt(process.env.UV_THREADPOOL_SIZE, 10) || 4, 1), 1024);

class Dispatcher {
  #handle;
  #requests = [];
  #callbacks = [];
  #scheduled = false;

  constructor(handle) {
    this.#handle = handle;
  }

  // callback(status, response) runs once the core answered the request.
  submit(request, callback) {
    this.#requests.push(request);
    this.#callbacks.push(callback);
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(() => this.#flush());
    }
  }

  #flush() {
    const requests = this.#requests;
    const callbacks = this.#callbacks;
    this.#requests = [];
    this.#callbacks = [];
    this.#scheduled = false;
    const size = Math.ceil(requests.length / THREADS);
    for (let start = 0; start < requests.length; start += size) {
      const batch = callbacks.slice(start, start + size);
      native.execAsync(this.#handle, requests.slice(start, start + size), (statuses, responses) => {
        for (let i = 0; i < batch.length; i++) batch[i](statuses[i], responses[i]);
      });
    }
  }
}

module.exports = { Dispatcher };
