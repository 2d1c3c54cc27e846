'use strict';
// The Node runner of the conformance corpus (tests/conformance/README.md): every case of every file under
// tests/conformance/cases/ is one test, run through the public API: kvorm.open(...) and db.Model.findMany({...}).
// Tagged values of the cases become JavaScript values (decimal -> string, datetime -> Date or kvorm.Timestamp,
// bytes -> Buffer, bigint -> BigInt) and results are turned back into tagged JSON to compare. Node returns a
// decimal as a string, so an expected {"$decimal": text} matches a string holding exactly that text.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { kvorm, repoRoot } = require('./helpers/env');
const { startRedis } = require('./helpers/redis');

const corpus = path.join(repoRoot, 'tests', 'conformance', 'cases');
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const TAGS = new Set(['$decimal', '$datetime', '$bytes', '$bigint', '$any']);
const NS_PER_MS = 1000000n;

// --- values -------------------------------------------------------------------------------------------------------

const DATETIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/;

// RFC 3339 UTC text -> nanoseconds since the epoch (BigInt).
function parseDatetime(text) {
  const m = DATETIME.exec(text);
  assert.ok(m, `not a datetime of the corpus: ${text}`);
  const ms = Date.parse(`${m[1]}Z`);
  return BigInt(ms) * NS_PER_MS + BigInt((m[2] ?? '').padEnd(9, '0'));
}

function formatDatetime(ns) {
  let sec = ns / 1000000000n;
  let frac = ns % 1000000000n;
  if (frac < 0n) {
    frac += 1000000000n;
    sec -= 1n;
  }
  const whole = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  return `${whole}${frac === 0n ? '' : `.${frac.toString().padStart(9, '0')}`}Z`;
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
}

function tagOf(v) {
  if (!isPlainObject(v)) return null;
  const keys = Object.keys(v);
  return keys.length === 1 && TAGS.has(keys[0]) ? keys[0] : null;
}

// Tagged JSON -> the value a user would pass.
function toNative(v) {
  const tag = tagOf(v);
  if (tag === '$decimal') return v[tag];
  if (tag === '$datetime') {
    const ns = parseDatetime(v[tag]);
    return ns % NS_PER_MS === 0n ? new Date(Number(ns / NS_PER_MS)) : kvorm.Timestamp.fromEpochNanoseconds(ns);
  }
  if (tag === '$bytes') return Buffer.from(v[tag], 'base64');
  if (tag === '$bigint') return BigInt(v[tag]);
  if (Array.isArray(v)) return v.map(toNative);
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toNative(x)]));
  return v;
}

// A result of the package -> tagged JSON (decimals stay strings: Node cannot tell them apart).
function toTagged(v) {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return v > SAFE_MAX || v < -SAFE_MAX ? { $bigint: v.toString() } : Number(v);
  if (Buffer.isBuffer(v)) return { $bytes: v.toString('base64') };
  if (v instanceof kvorm.Timestamp) return { $datetime: formatDatetime(v.epochNanoseconds) };
  if (v instanceof Date) return { $datetime: formatDatetime(BigInt(v.getTime()) * NS_PER_MS) };
  if (Array.isArray(v)) return v.map(toTagged);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toTagged(x)]));
  throw new Error(`a result value of type ${typeof v}`);
}

function intOf(v) {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (tagOf(v) === '$bigint') return BigInt(v.$bigint);
  return null;
}

const show = (v) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));

// null when got matches the expectation want (README "Comparison"), else the first difference.
function match(want, got, where = '$') {
  const fail = (what) => `${where}: ${what}: expected ${show(want)}, got ${show(got)}`;
  const tag = tagOf(want);
  if (tag === '$any') return null;
  if (tag === '$bigint' || (typeof want === 'number' && Number.isInteger(want))) {
    const g = intOf(got);
    const w = intOf(want);
    if (g !== null) return g === w ? null : fail('another integer');
    return fail('not that number');
  }
  if (typeof want === 'number') return typeof got === 'number' && got === want ? null : fail('another number');
  if (tag === '$decimal') {
    // Node returns decimals as strings
    return got === want.$decimal ? null : fail('another decimal');
  }
  if (tag === '$bytes') return tagOf(got) === tag && got.$bytes === want.$bytes ? null : fail('other bytes');
  if (tag === '$datetime') {
    if (tagOf(got) !== tag) return fail('not a datetime');
    return parseDatetime(want.$datetime) === parseDatetime(got.$datetime) ? null : fail('another instant');
  }
  if (isPlainObject(want)) {
    if (!isPlainObject(got) || tagOf(got) !== null) return fail('not a map');
    const partial = want.$partial === true;
    for (const [key, value] of Object.entries(want)) {
      if (partial && key === '$partial') continue;
      if (!Object.prototype.hasOwnProperty.call(got, key)) return fail(`no key ${key}`);
      const why = match(value, got[key], `${where}.${key}`);
      if (why) return why;
    }
    if (!partial) {
      const extra = Object.keys(got).filter((k) => !Object.prototype.hasOwnProperty.call(want, k));
      if (extra.length > 0) return fail(`unexpected keys ${extra.join(', ')}`);
    }
    return null;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(got)) return fail('not an array');
    if (want.length !== got.length) return fail('another length');
    for (let k = 0; k < want.length; k++) {
      const why = match(want[k], got[k], `${where}[${k}]`);
      if (why) return why;
    }
    return null;
  }
  return want === got ? null : fail('another value');
}

// --- the corpus ---------------------------------------------------------------------------------------------------

const files = fs.readdirSync(corpus).filter((f) => f.endsWith('.json')).sort();
const cases = [];
for (const file of files) {
  const doc = JSON.parse(fs.readFileSync(path.join(corpus, file), 'utf8'));
  doc.cases.forEach((c, index) => cases.push({ doc, c, title: `${file.slice(0, -5)}/${String(index).padStart(3, '0')} ${c.name}` }));
}

let redis;
let namespaces = 0;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

// Every case on Redis, then again on the embedded engine (a fresh LMDB environment per case).
const runs = ['redis', 'lmdb'].flatMap((engine) => cases.map((k) => ({ engine, ...k })));
for (const { engine, doc, c, title } of runs) {
  test(`${engine}: ${title}`, async (t) => {
    const schema = structuredClone(typeof c.schema === 'string' ? doc.schemas[c.schema] : c.schema);
    schema.namespace = `cn${process.pid}_${namespaces++}`;
    const data = typeof c.data === 'string' ? doc.datasets[c.data] : (c.data ?? {});
    let url = redis.url();
    if (engine === 'lmdb') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvorm-cn-lmdb-'));
      t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
      url = `lmdb://${dir}?sync=nosync&mapsize=16777216`;
    }
    const db = await kvorm.open(url, { schema });
    try {
      for (const [model, records] of Object.entries(data)) {
        for (const record of records) await db[model].create({ data: toNative(record) });
      }
      for (const [k, s] of c.steps.entries()) {
        const where = `step ${k} (${s.model}.${s.op} ${JSON.stringify(s.args ?? null)})`;
        let result;
        try {
          result = await db[s.model][s.op](s.args === undefined ? undefined : toNative(s.args));
        } catch (err) {
          if (s.expectError === undefined) assert.fail(`${where}: failed with ${err.code}: ${err.message}`);
          assert.equal(err.code, s.expectError, `${where}: expected ${s.expectError}, got ${err.code}: ${err.message}`);
          continue;
        }
        if (s.expectError !== undefined) assert.fail(`${where}: expected ${s.expectError}, got ${show(result)}`);
        if (Object.prototype.hasOwnProperty.call(s, 'expect')) {
          const why = match(s.expect, toTagged(result));
          assert.equal(why, null, `${where}: ${why}`);
        }
      }
    } finally {
      await db.close();
    }
  });
}
