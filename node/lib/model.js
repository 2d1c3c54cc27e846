'use strict';
// A model's accessor: db.User.create(args), db.User.findUnique(args), ... Every property is an op of the request
// protocol, sent as is with its args, so an op the core adds later works without a change here.

// Names a Promise-aware caller probes for: an accessor is not a thenable, and not an op named like these.
const NOT_OPS = new Set(['then', 'catch', 'finally', 'toJSON', 'constructor']);

function modelAccessor(execute, modelName) {
  const methods = new Map();
  const target = Object.create(null);
  return new Proxy(target, {
    get(_target, op) {
      if (typeof op !== 'string' || NOT_OPS.has(op)) return undefined;
      let method = methods.get(op);
      if (method === undefined) {
        method = (args) => execute(modelName, op, args);
        methods.set(op, method);
      }
      return method;
    },
  });
}

module.exports = { modelAccessor };
