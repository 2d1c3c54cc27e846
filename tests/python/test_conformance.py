"""The Python runner of the conformance corpus (tests/conformance/README.md): every case of every file under
tests/conformance/cases/ is one test, run through the public API: kvorm.open(...) and the model accessor's
snake_case methods (db.Person.find_many(where=..., order_by=...)). Tagged values of the cases become Python values
(Decimal, datetime, bytes, int) and results are turned back into tagged JSON to compare."""
import base64
import datetime
import decimal
import inspect
import json
import os
import re

import msgpack
import pytest

import kvorm

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance", "cases")
UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
SAFE_MAX = (1 << 53) - 1
TAGS = ("$decimal", "$datetime", "$bytes", "$bigint", "$any")


def load_corpus():
    out = []
    for name in sorted(os.listdir(CORPUS)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(CORPUS, name), encoding="utf-8") as f:
            doc = json.load(f)
        topic = name[:-5]
        for index, case in enumerate(doc["cases"]):
            out.append(pytest.param(doc, case, id="%s/%03d %s" % (topic, index, case["name"])))
    return out


# --- values ------------------------------------------------------------------------------------------------------

_DATETIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$")


def parse_datetime(text):
    """RFC 3339 UTC text -> (seconds, nanoseconds) since the epoch."""
    m = _DATETIME.match(text)
    assert m, "not a datetime of the corpus: %r" % text
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    whole = datetime.datetime(y, mo, d, h, mi, s, tzinfo=UTC) - EPOCH
    return whole.days * 86400 + whole.seconds, int((m.group(7) or "").ljust(9, "0"))


def format_datetime(sec, ns):
    text = (EPOCH + datetime.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (".%09d" % ns if ns else "") + "Z"


def tag_of(value):
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key in TAGS:
            return key
    return None


def to_native(value):
    """Tagged JSON -> the Python value a user would pass."""
    tag = tag_of(value)
    if tag == "$decimal":
        return decimal.Decimal(value[tag])
    if tag == "$datetime":
        sec, ns = parse_datetime(value[tag])
        if ns % 1000:  # below a microsecond: datetime cannot hold it, msgpack's Timestamp can
            return msgpack.Timestamp(sec, ns)
        return EPOCH + datetime.timedelta(seconds=sec, microseconds=ns // 1000)
    if tag == "$bytes":
        return base64.b64decode(value[tag])
    if tag == "$bigint":
        return int(value[tag])
    if isinstance(value, dict):
        return {k: to_native(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_native(v) for v in value]
    return value


def to_tagged(value):
    """A result of the package -> tagged JSON."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return {"$bigint": str(value)} if abs(value) > SAFE_MAX else value
    if isinstance(value, decimal.Decimal):
        return {"$decimal": format(value, "f")}
    if isinstance(value, datetime.datetime):
        delta = value - EPOCH
        return {"$datetime": format_datetime(delta.days * 86400 + delta.seconds, delta.microseconds * 1000)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: to_tagged(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_tagged(v) for v in value]
    raise AssertionError("a result value of type %s" % type(value).__name__)


def int_text(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if tag_of(value) == "$bigint":
        return str(int(value["$bigint"]))
    return None


def match(want, got, path="$"):
    """None when got matches the expectation want (README "Comparison"), else the first difference."""
    def fail(what):
        return "%s: %s: expected %s, got %s" % (path, what, json.dumps(want), json.dumps(got))

    tag = tag_of(want)
    if tag == "$any":
        return None
    if tag == "$bigint" or (isinstance(want, int) and not isinstance(want, bool)):
        if int_text(got) is not None:
            return None if int_text(got) == int_text(want) else fail("another integer")
        if isinstance(got, float) and got == int(int_text(want)):
            return None
        return fail("not that number")
    if isinstance(want, float):
        ok = isinstance(got, (int, float)) and not isinstance(got, bool) and got == want
        return None if ok else fail("another number")
    if tag in ("$decimal", "$bytes"):
        return None if tag_of(got) == tag and got[tag] == want[tag] else fail("another " + tag)
    if tag == "$datetime":
        if tag_of(got) != tag:
            return fail("not a datetime")
        # Python's datetime holds microseconds: both sides cut to the microsecond
        ws, wn = parse_datetime(want[tag])
        gs, gn = parse_datetime(got[tag])
        return None if (ws, wn // 1000) == (gs, gn // 1000) else fail("another instant")
    if isinstance(want, dict):
        if not isinstance(got, dict) or tag_of(got):
            return fail("not a map")
        partial = want.get("$partial") is True
        for key, value in want.items():
            if partial and key == "$partial":
                continue
            if key not in got:
                return fail("no key %s" % key)
            why = match(value, got[key], "%s.%s" % (path, key))
            if why:
                return why
        if not partial:
            extra = sorted(set(got) - set(want))
            if extra:
                return fail("unexpected keys %s" % extra)
        return None
    if isinstance(want, list):
        if not isinstance(got, list):
            return fail("not an array")
        if len(want) != len(got):
            return fail("another length")
        for k, (w, g) in enumerate(zip(want, got)):
            why = match(w, g, "%s[%d]" % (path, k))
            if why:
                return why
        return None
    return None if type(want) is type(got) and want == got else fail("another value")


# --- requests ----------------------------------------------------------------------------------------------------

def snake(name):
    """findFirstOrThrow -> find_first_or_throw; _count stays."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def call(model, op, args):
    """The step through the public API: the snake_case method when it takes every argument of the step and the
    step gives every argument it requires; else Model.call with the protocol's op name (unknown ops, unknown or
    missing arguments: the cases where the core must refuse the request)."""
    args = to_native(args) if args is not None else {}
    method = getattr(kvorm.Model, snake(op), None)
    if op == "explain" and method is not None and set(args) <= {"op", "args"} and "op" in args:
        return model.explain(args["op"], args.get("args"))
    kwargs = {snake(k): v for k, v in args.items()}
    if method is not None:
        params = inspect.signature(method).parameters
        required = [n for n, p in params.items()
                    if p.kind is p.KEYWORD_ONLY and p.default is inspect.Parameter.empty]
        if all(k in params for k in kwargs) and all(n in kwargs for n in required):
            return getattr(model, snake(op))(**kwargs)
    return model.call(op, **kwargs)


_namespaces = iter(range(1 << 30))


@pytest.mark.parametrize("engine", ["redis", "lmdb"])
@pytest.mark.parametrize("doc,case", load_corpus())
def test_case(server, tmp_path, engine, doc, case):
    schema = case["schema"]
    schema = json.loads(json.dumps(doc["schemas"][schema] if isinstance(schema, str) else schema))
    schema["namespace"] = "cp%d_%d" % (os.getpid(), next(_namespaces))
    data = case.get("data")
    if isinstance(data, str):
        data = doc["datasets"][data]
    # the same corpus on the embedded engine: a fresh LMDB environment per case
    url = server.url if engine == "redis" else "lmdb://%s?sync=nosync&mapsize=16777216" % (tmp_path / "lmdb")
    db = kvorm.open(url, schema=schema)
    try:
        for model_name, records in (data or {}).items():
            for record in records:
                db[model_name].create(data=to_native(record))
        for k, step in enumerate(case["steps"]):
            where = "step %d (%s.%s %s)" % (k, step["model"], step["op"], json.dumps(step.get("args")))
            try:
                result = call(db[step["model"]], step["op"], step.get("args"))
            except kvorm.Error as e:
                assert "expectError" in step, "%s: failed with %s: %s" % (where, e.code, e)
                assert e.code == step["expectError"], "%s: expected %s, got %s: %s" % (
                    where, step["expectError"], e.code, e)
                continue
            assert "expectError" not in step, "%s: expected %s, got %r" % (where, step["expectError"], result)
            if "expect" in step:
                why = match(step["expect"], to_tagged(result))
                assert why is None, "%s: %s" % (where, why)
    finally:
        db.close()
