'use strict';
// Hands requests to the addon. The requests made in one tick (say 64 promises answered by one batch, each sending
// its next request) go together as one batch of up to 128: one Node-API async work running kvorm_exec_batch in
// the core, and one callback back. The core sends a batch's reads and writes to Redis together (one round trip;
// writes in a MULTI/EXEC), so many requests in flight cost one worker thread and one round trip, not one each.

const native = require('./native');

// What kvorm_exec_batch sends in one round trip; a bigger tick becomes several batches, run in parallel.
const BATCH_SIZE = 128;

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

  // Sends requests in order, after what is queued: 128 at a time, each slice once the one before it is answered,
  // so that a later request sees the writes of those before it. done() runs after the last callback.
  submitInOrder(requests, callbacks, done) {
    this.#flush();
    const send = (start) => {
      if (start >= requests.length) {
        done();
        return;
      }
      const slice = callbacks.slice(start, start + BATCH_SIZE);
      native.execAsync(this.#handle, requests.slice(start, start + BATCH_SIZE), (statuses, responses) => {
        for (let i = 0; i < slice.length; i++) slice[i](statuses[i], responses[i]);
        send(start + BATCH_SIZE);
      });
    };
    send(0);
  }

  #flush() {
    const requests = this.#requests;
    const callbacks = this.#callbacks;
    this.#requests = [];
    this.#callbacks = [];
    this.#scheduled = false;
    for (let start = 0; start < requests.length; start += BATCH_SIZE) {
      const batch = callbacks.slice(start, start + BATCH_SIZE);
      native.execAsync(this.#handle, requests.slice(start, start + BATCH_SIZE), (statuses, responses) => {
        for (let i = 0; i < batch.length; i++) batch[i](statuses[i], responses[i]);
      });
    }
  }
}

module.exports = { Dispatcher };
