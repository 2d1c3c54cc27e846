"""Values through Python: tests/vectors/values.json written as Python values, the stored bytes checked against
the vectors' canonical MessagePack, and read back as the Python types of docs/python.md."""
import base64
import datetime
import decimal
import json
import math
import os
import re

import pytest

import kvorm
from conftest import REPO

VECTORS = json.load(open(os.path.join(REPO, "tests", "vectors", "values.json"), encoding="utf-8"))
TYPES = ["string", "integer", "float", "boolean", "datetime", "decimal", "enum", "json", "bytes"]
UTC = datetime.timezone.utc


def vector_schema(namespace):
    fields = {t: {"type": t, "optional": True} for t in TYPES}
    fields["enum"]["values"] = VECTORS["enumValues"]
    return {"namespace": namespace, "models": {"V": {"id": {"type": "string"}, "fields": fields}}}


@pytest.fixture
def vdb(server, namespace):
    handle = kvorm.open(server.url, schema=vector_schema(namespace))
    yield handle
    handle.close()


RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)$")


def parse_datetime(text):
    """A datetime when Python can hold the value exactly (at most 6 fraction digits), else None."""
    m = RFC3339.match(text)
    date, time, fraction, offset = m.groups()
    if fraction and len(fraction.rstrip("0")) > 6:
        return None
    micro = ("." + (fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime.datetime.fromisoformat("%sT%s%s%s" % (date, time, micro, "+00:00" if offset in "Zz"
                                                                else offset))
    except (ValueError, OverflowError):
        return None


def to_python(kind, value):
    """The vector's JSON input as the Python value one would write."""
    if kind == "datetime":
        return parse_datetime(value) or value  # nanosecond values go as RFC 3339 text, which kvorm accepts
    if kind == "bytes":
        return base64.b64decode(value)
    if kind == "decimal" and isinstance(value, str):
        return decimal.Decimal(value)
    return value


def expected_python(kind, value):
    """What reading back gives for the vector's output."""
    if kind == "datetime":
        m = RFC3339.match(value)
        date, time, fraction, _ = m.groups()
        micro = int((fraction or "0")[:6].ljust(6, "0"))  # truncated: Python holds microseconds
        return datetime.datetime.fromisoformat("%sT%s+00:00" % (date, time)).replace(microsecond=micro)
    if kind == "bytes":
        return base64.b64decode(value)
    if kind == "decimal":
        return decimal.Decimal(str(value))
    return value


def vector_id(v):
    return "%s:%s" % (v["type"], v.get("note") or json.dumps(v["input"])[:40])


@pytest.mark.parametrize("vector", VECTORS["values"], ids=vector_id)
def test_valid_vector_is_stored_canonically_and_read_back(vdb, raw, namespace, vector):
    kind = vector["type"]
    record_id = "v1"
    vdb.V.create(data={"id": record_id, kind: to_python(kind, vector["input"])})
    stored = raw.hget("%s:{V}:r:%s" % (namespace, record_id), kind)
    assert stored.hex() == vector["stored_hex"]

    got = vdb.V.find_unique(where={"id": record_id})[kind]
    want = expected_python(kind, vector.get("output", vector["input"]))
    assert got == want
    assert type(got) is type(want) or kind == "json"
    if kind == "float":
        assert math.copysign(1.0, got) == math.copysign(1.0, want)  # -0.0 keeps its sign
    if kind == "decimal":
        assert format(got, "f") == str(vector.get("output", vector["input"]))


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=vector_id)
def test_invalid_vector_is_a_validation_error(vdb, raw, namespace, vector):
    kind = vector["type"]
    with pytest.raises(kvorm.ValidationError) as e:
        vdb.V.create(data={"id": "bad", kind: vector["input"]})
    assert e.value.code == vector["code"] == "VALIDATION"
    assert e.value.fields == [kind] and e.value.model == "V" and e.value.op == "create"
    assert raw.exists("%s:{V}:r:bad" % namespace) == 0


def test_datetime_round_trip_keeps_microseconds_and_returns_utc(vdb):
    local = datetime.timezone(datetime.timedelta(hours=2))
    sent = datetime.datetime(2024, 5, 6, 9, 8, 9, 123456, tzinfo=local)
    got = vdb.V.create(data={"id": "d", "datetime": sent})["datetime"]
    assert got == sent and got.tzinfo == UTC and got.hour == 7 and got.microsecond == 123456


def test_stored_nanoseconds_are_truncated_to_microseconds(vdb):
    got = vdb.V.create(data={"id": "n", "datetime": "2024-05-06T07:08:09.123456789Z"})["datetime"]
    assert got == datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def test_datetimes_before_1970_and_at_the_ends_of_the_range(vdb):
    for i, dt in enumerate([datetime.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
                            datetime.datetime(1, 1, 1, tzinfo=UTC),
                            datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]):
        assert vdb.V.create(data={"id": "e%d" % i, "datetime": dt})["datetime"] == dt


def test_naive_datetime_is_rejected_before_sending(vdb, raw, namespace):
    with pytest.raises(kvorm.ValidationError, match="naive datetime") as e:
        vdb.V.create(data={"id": "x", "datetime": datetime.datetime(2024, 1, 1)})
    assert e.value.fields == ["datetime"]
    assert raw.exists("%s:{V}:r:x" % namespace) == 0


def test_decimal_values_come_back_as_decimal(vdb):
    got = vdb.V.create(data={"id": "m", "decimal": decimal.Decimal("1E+3")})["decimal"]
    assert got == decimal.Decimal(1000) and isinstance(got, decimal.Decimal)
    assert vdb.V.update(where={"id": "m"}, data={"decimal": "0.10"})["decimal"] == decimal.Decimal("0.1")
    assert vdb.V.update(where={"id": "m"}, data={"decimal": 7})["decimal"] == decimal.Decimal(7)


@pytest.mark.parametrize("value", [decimal.Decimal("NaN"), decimal.Decimal("Infinity"), decimal.Decimal("-inf")])
def test_non_finite_decimals_are_rejected(vdb, value):
    with pytest.raises(kvorm.ValidationError):
        vdb.V.create(data={"id": "x", "decimal": value})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_rejected(vdb, value):
    with pytest.raises(kvorm.ValidationError):
        vdb.V.create(data={"id": "x", "float": value})


@pytest.mark.parametrize("value", [1 << 63, -(1 << 63) - 1, 1 << 64, 1 << 100, -(1 << 100)])
def test_integers_outside_int64_are_validation_errors(vdb, value):
    with pytest.raises(kvorm.ValidationError) as e:
        vdb.V.create(data={"id": "x", "integer": value})
    assert e.value.fields == ["integer"]


def test_int64_extremes_round_trip(vdb):
    for i, value in enumerate([(1 << 63) - 1, -(1 << 63)]):
        assert vdb.V.create(data={"id": "i%d" % i, "integer": value})["integer"] == value


def test_bytes_like_values_are_sent_as_bytes(vdb):
    assert vdb.V.create(data={"id": "b1", "bytes": bytearray(b"\x00\x01")})["bytes"] == b"\x00\x01"
    assert vdb.V.create(data={"id": "b2", "bytes": memoryview(b"\xff")})["bytes"] == b"\xff"


def test_bytes_in_a_string_field_are_rejected(vdb):
    with pytest.raises(kvorm.ValidationError) as e:
        vdb.V.create(data={"id": "x", "string": b"abc"})
    assert e.value.fields == ["string"]


def test_a_string_in_a_bytes_field_is_rejected(vdb):
    with pytest.raises(kvorm.ValidationError):
        vdb.V.create(data={"id": "x", "bytes": "YQ=="})


def test_json_holds_nested_values_and_tuples_become_lists(vdb):
    value = {"b": [1, 2.5, None, "x", True], "a": {"nested": (1, 2)}}
    assert vdb.V.create(data={"id": "j", "json": value})["json"] == {"a": {"nested": [1, 2]},
                                                                     "b": [1, 2.5, None, "x", True]}


def test_bytes_inside_json_are_rejected(vdb):
    with pytest.raises(kvorm.ValidationError):
        vdb.V.create(data={"id": "x", "json": {"a": b"raw"}})


def test_a_python_type_msgpack_cannot_send_is_a_validation_error(vdb):
    with pytest.raises(kvorm.ValidationError, match="set") as e:
        vdb.V.create(data={"id": "x", "json": {"tags": {1, 2}}})
    assert e.value.fields == ["json"]


def test_enum_values_are_strings(vdb):
    assert vdb.V.create(data={"id": "en", "enum": "ünïcöde"})["enum"] == "ünïcöde"


def test_unknown_field_is_a_validation_error(vdb):
    with pytest.raises(kvorm.ValidationError) as e:
        vdb.V.create(data={"id": "x", "nope": 1})
    assert "nope" in e.value.message


@pytest.mark.parametrize("kind,value", [("string", "\ud800"), ("string", "ok \udfff then"), ("enum", "\udc80"),
                                        ("json", {"k": "\ud83d"}), ("datetime", "2024-01-01T00:00:00\ud800Z")])
def test_a_lone_surrogate_in_a_value_is_a_validation_error_naming_the_field(vdb, raw, namespace, kind, value):
    # A str with a lone surrogate is not text: the core sees bytes that are not UTF-8 and says so, like for C or
    # Node callers, instead of the binding failing to encode the request (BAD_REQUEST, UnicodeEncodeError).
    with pytest.raises(kvorm.ValidationError) as e:
        vdb.V.create(data={"id": "s", kind: value})
    assert (e.value.model, e.value.op, e.value.fields) == ("V", "create", [kind])
    str(e.value).encode("utf-8")  # the message is printable
    assert raw.exists("%s:{V}:r:s" % namespace) == 0


def test_a_lone_surrogate_in_a_field_name_is_an_unknown_field(vdb, raw, namespace):
    with pytest.raises(kvorm.ValidationError) as e:
        vdb.V.create(data={"id": "s", "string": "fine", "bad\ud800": 1})
    assert (e.value.model, e.value.op) == ("V", "create")
    assert len(e.value.fields) == 1 and e.value.fields[0].startswith("bad")  # named, its invalid bytes shown
    assert "bad" in e.value.message and "not a field" in e.value.message
    str(e.value).encode("utf-8")
    assert raw.exists("%s:{V}:r:s" % namespace) == 0


def test_a_lone_surrogate_in_a_where_value_is_a_validation_error(vdb):
    with pytest.raises(kvorm.ValidationError) as e:
        vdb.V.find_unique(where={"id": "\ud800"})
    assert (e.value.model, e.value.fields) == ("V", ["id"])
