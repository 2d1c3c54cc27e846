"""The query ops of docs/queries.md through the public API (sync and kvorm.aio): every op, values by type at any
depth (a decimal in an aggregate's _sum, a datetime as a groupBy key, bytes in findMany rows), the errors
(Refused, BadRequest for an unknown operator, ValidationError), the refuse_scans option, and how snake_case
argument names map to the protocol's camelCase (field names inside where, data, order_by... never change).

The first block needs no server: it checks the request documents and the response decoding of the binding."""
import asyncio
import datetime
import decimal

import msgpack
import pytest

import kvorm
from kvorm import aio
from kvorm._codec import pack_request, unpack
from kvorm.db import encode_request
from kvorm.errors import error_class, from_document

UTC = datetime.timezone.utc
T0 = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def message_schema(namespace):
    """docs/queries.md's Message: one-field indexes, a composite index and a named one with a desc part; body is
    not indexed (a where on it alone is a scan), reply_to is a snake_case field name (user data, never renamed)."""
    return {"namespace": namespace, "models": {
        "Message": {
            "id": {"type": "string", "generate": "ulid"},
            "fields": {
                "roomId": {"type": "string", "index": True},
                "sentAt": {"type": "datetime", "index": True},
                "score": {"type": "decimal", "index": True, "optional": True},
                "likes": {"type": "integer", "optional": True},
                "body": {"type": "string", "optional": True},
                "blob": {"type": "bytes", "optional": True},
                "slug": {"type": "string", "unique": True, "optional": True},
                "reply_to": {"type": "string", "optional": True, "index": True}},
            "indexes": [["roomId", "sentAt"],
                        {"name": "by_score", "fields": ["roomId", {"field": "score", "order": "desc"}]}]}}}


# --- the binding alone: request documents and response values -----------------------------------------------

def request_of(packed):
    return msgpack.unpackb(packed, raw=False, timestamp=3)


class _Recorder:
    """Stands in for a Db: records what a Model sends, as the request document."""

    def __init__(self):
        self.sent = []

    def _request(self, model, op, args):
        self.sent.append(request_of(encode_request(model, op, args)))
        return None


class _AsyncRecorder:
    """Stands in for the batcher of kvorm.aio."""

    def __init__(self):
        self.sent = []

    def submit(self, request):
        self.sent.append(request_of(request))
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def all_ops(model):
    """Every query op with every snake_case argument; returns what each is expected to send (op, args)."""
    where = {"reply_to": "x", "roomId": {"in": ["a"]}, "OR": [{"likes": {"notIn": [1]}}]}
    order_by = [{"reply_to": "asc"}, {"sentAt": {"sort": "desc", "nulls": "first"}}]
    cursor = {"id": "01", "reply_to": "x"}
    page = {"where": where, "orderBy": order_by, "take": -2, "skip": 1, "cursor": cursor}
    aggregates = {"_count": {"_all": True, "reply_to": True}, "_min": {"sentAt": True}, "_max": {"score": True},
                  "_sum": {"score": True}, "_avg": {"likes": True}}
    calls = [
        (lambda: model.find_many(where=where, order_by=order_by, take=-2, skip=1, cursor=cursor,
                                 select={"reply_to": True}, refuse_scans=True),
         "findMany", dict(page, select={"reply_to": True}, refuseScans=True)),
        (lambda: model.find_first(where=where, order_by=order_by, take=-2, skip=1, cursor=cursor,
                                  refuse_scans=False),
         "findFirst", dict(page, refuseScans=False)),
        (lambda: model.find_first_or_throw(where=where), "findFirstOrThrow", {"where": where}),
        (lambda: model.count(where=where, order_by=order_by, take=-2, skip=1, cursor=cursor, refuse_scans=True),
         "count", dict(page, refuseScans=True)),
        (lambda: model.aggregate(where=where, order_by=order_by, take=-2, skip=1, cursor=cursor, refuse_scans=True,
                                 **aggregates),
         "aggregate", dict(page, refuseScans=True, **aggregates)),
        (lambda: model.group_by(by=["reply_to", "roomId"], where=where, having={"_count": {"_all": {"gte": 2}}},
                                order_by={"_sum": {"score": "desc"}}, take=3, skip=0, refuse_scans=False,
                                **aggregates),
         "groupBy", dict({"by": ["reply_to", "roomId"], "where": where, "having": {"_count": {"_all": {"gte": 2}}},
                          "orderBy": {"_sum": {"score": "desc"}}, "take": 3, "skip": 0, "refuseScans": False},
                         **aggregates)),
        (lambda: model.create_many(data=[{"reply_to": "x", "roomId": "a"}], skip_duplicates=True),
         "createMany", {"data": [{"reply_to": "x", "roomId": "a"}], "skipDuplicates": True}),
        (lambda: model.update_many(where={"reply_to": None}, data={"reply_to": "y"}),
         "updateMany", {"where": {"reply_to": None}, "data": {"reply_to": "y"}}),
        (lambda: model.delete_many(where={"reply_to": "y"}), "deleteMany", {"where": {"reply_to": "y"}}),
        (lambda: model.delete_many(), "deleteMany", {}),
        (lambda: model.explain("find_many", where=where, order_by=order_by, refuse_scans=True),
         "explain", {"op": "findMany", "args": {"where": where, "orderBy": order_by, "refuseScans": True}}),
        (lambda: model.explain("groupBy", args={"by": ["roomId"], "order_by": {"roomId": "asc"}}),
         "explain", {"op": "groupBy", "args": {"by": ["roomId"], "orderBy": {"roomId": "asc"}}}),
        (lambda: model.check(), "check", {}),
        (lambda: model.reindex(index="by_score", chunk=10), "reindex", {"index": "by_score", "chunk": 10}),
        (lambda: model.reindex(), "reindex", {}),
    ]
    return calls


def test_every_query_op_sends_its_protocol_name_and_camel_case_argument_names():
    recorder = _Recorder()
    model = kvorm.Model(recorder, "Message")
    for call, op, args in all_ops(model):
        call()
        assert recorder.sent[-1] == {"op": op, "model": "Message", "args": args}, op


def test_every_query_op_of_kvorm_aio_sends_the_same():
    recorder = _AsyncRecorder()
    model = aio.AsyncModel(kvorm.Model(None, "Message"), recorder)

    async def run():
        for call, op, args in all_ops(model):
            await call()
            assert recorder.sent[-1] == {"op": op, "model": "Message", "args": args}, op

    asyncio.run(run())


def test_other_names_go_through_as_their_camel_case_op():
    recorder = _Recorder()
    model = kvorm.Model(recorder, "Message")
    model.some_future_op(order_by={"a_b": "asc"}, _count=True)
    assert recorder.sent[-1] == {"op": "someFutureOp", "model": "Message",
                                 "args": {"orderBy": {"a_b": "asc"}, "_count": True}}
    model.call("findMany", skip_duplicates=False)
    assert recorder.sent[-1]["args"] == {"skipDuplicates": False}


def test_decimals_are_sent_as_text_and_the_decimal_extension_goes_as_it_is():
    sent = request_of(pack_request({"args": {"where": {"score": {"gte": decimal.Decimal("1E+3")}},
                                             "data": {"score": msgpack.ExtType(1, b"2.5")}}}))
    assert sent["args"]["where"]["score"]["gte"] == "1000"
    assert sent["args"]["data"]["score"] == msgpack.ExtType(1, b"2.5")


def test_response_values_are_converted_by_type_at_any_depth():
    ts = msgpack.Timestamp.from_datetime(T0)
    doc = msgpack.packb({
        "rows": [{"blob": b"\x00\xff", "score": msgpack.ExtType(1, b"12.50"), "sentAt": ts, "body": "12.50"}],
        "_sum": {"score": msgpack.ExtType(1, b"-0.000000000000000000000000000001")},
        "groups": [{"sentAt": ts, "_count": {"_all": 2}, "_avg": {"score": msgpack.ExtType(1, b"3")}}],
        "json": {"nested": [[{"x": msgpack.ExtType(1, b"1")}]]},
        "other": msgpack.ExtType(7, b"?")}, use_bin_type=True, datetime=False)
    got = unpack(doc)
    row = got["rows"][0]
    assert row["blob"] == b"\x00\xff" and isinstance(row["blob"], bytes)
    assert row["score"] == decimal.Decimal("12.50") and isinstance(row["score"], decimal.Decimal)
    assert row["body"] == "12.50"  # a string stays a string, even when it looks like a number
    assert row["sentAt"] == T0 and row["sentAt"].tzinfo is not None
    assert got["_sum"]["score"] == decimal.Decimal("-1E-30")
    assert got["groups"][0]["sentAt"] == T0 and got["groups"][0]["_avg"]["score"] == decimal.Decimal(3)
    assert got["json"]["nested"][0][0]["x"] == decimal.Decimal(1)
    assert got["other"] == msgpack.ExtType(7, b"?")  # an extension this version does not know, as is


def test_refused_is_an_error_class_of_its_own():
    assert issubclass(kvorm.Refused, kvorm.Error) and kvorm.Refused.code == "REFUSED"
    assert error_class("REFUSED") is kvorm.Refused and "Refused" in kvorm.__all__
    err = from_document({"code": "REFUSED", "message": "Message: would scan", "model": "Message",
                         "op": "findMany", "retryable": False})
    assert isinstance(err, kvorm.Refused) and err.model == "Message" and err.retryable is False


def test_the_refuse_scans_open_option_must_be_a_boolean():
    with pytest.raises(ValueError, match="refuse_scans"):
        kvorm.open("redis://127.0.0.1:1/0", schema=message_schema("x"), refuse_scans="yes")


# --- against the core --------------------------------------------------------------------------------------

ROWS = [
    # roomId, minutes after T0, score, likes, body, blob, slug, reply_to
    ("a", 0, "1.5", 3, "hello", b"\x00\x01", "s0", None),
    ("a", 1, "10", 1, "help", None, "s1", "m0"),
    ("a", 2, None, None, "world", b"\xff", None, "m0"),
    ("b", 3, "2.25", 5, "hello again", b"", "s3", None),
    ("b", 4, "0.001", 0, None, None, None, "m3"),
]


@pytest.fixture
def qdb(server, namespace):
    handle = kvorm.open(server.url, schema=message_schema(namespace))
    yield handle
    handle.close()


@pytest.fixture
def rows(qdb):
    data = []
    for room, minutes, score, likes, body, blob, slug, reply_to in ROWS:
        record = {"roomId": room, "sentAt": T0 + datetime.timedelta(minutes=minutes), "score": score,
                  "likes": likes, "body": body, "blob": blob, "slug": slug, "reply_to": reply_to}
        data.append({k: v for k, v in record.items() if v is not None})
    assert qdb.Message.create_many(data=data) == {"count": len(data)}
    return qdb.Message.find_many(order_by={"sentAt": "asc"})


def test_find_many_rows_carry_their_types(qdb, rows):
    assert [r["roomId"] for r in rows] == ["a", "a", "a", "b", "b"]
    first = rows[0]
    assert first["blob"] == b"\x00\x01" and isinstance(first["blob"], bytes)
    assert first["score"] == decimal.Decimal("1.5") and isinstance(first["score"], decimal.Decimal)
    assert first["sentAt"] == T0 and first["sentAt"].utcoffset() == datetime.timedelta(0)
    assert rows[2]["score"] is None and rows[3]["blob"] == b""


def test_find_many_where_order_by_take_skip(qdb, rows):
    got = qdb.Message.find_many(where={"roomId": "a"}, order_by={"sentAt": "desc"}, take=2)
    assert [r["id"] for r in got] == [rows[2]["id"], rows[1]["id"]]
    got = qdb.Message.find_many(where={"roomId": "a"}, order_by={"sentAt": "asc"}, take=-2)
    assert [r["id"] for r in got] == [rows[1]["id"], rows[2]["id"]]  # from the end, in the query's order
    got = qdb.Message.find_many(where={"roomId": "a"}, order_by={"sentAt": "asc"}, skip=1, take=1)
    assert [r["id"] for r in got] == [rows[1]["id"]]
    got = qdb.Message.find_many(where={"score": {"gte": decimal.Decimal("2")}}, order_by={"score": "asc"})
    assert [r["score"] for r in got] == [decimal.Decimal("2.25"), decimal.Decimal("10")]
    got = qdb.Message.find_many(where={"OR": [{"body": {"startsWith": "hel"}}, {"likes": {"in": [0]}}],
                                       "NOT": {"roomId": "a"}}, order_by={"sentAt": "asc"})
    assert [r["id"] for r in got] == [rows[3]["id"], rows[4]["id"]]
    got = qdb.Message.find_many(where={"score": None})
    assert [r["id"] for r in got] == [rows[2]["id"]]
    assert len(qdb.Message.find_many(where={"likes": {"not": 3}})) == 3  # a null likes is not "not 3"


def test_find_many_select_and_cursor(qdb, rows):
    page = qdb.Message.find_many(order_by={"sentAt": "asc"}, take=2, select={"id": True, "sentAt": True})
    assert [sorted(r) for r in page] == [["id", "sentAt"], ["id", "sentAt"]]
    assert qdb.Message.find_first(where={"slug": "s0"}, select={"blob": True}) == {"blob": b"\x00\x01"}
    last = page[-1]
    rest = qdb.Message.find_many(order_by={"sentAt": "asc"}, cursor={"id": last["id"], "sentAt": last["sentAt"]},
                                 skip=1)
    assert [r["id"] for r in rest] == [r["id"] for r in rows[2:]]


def test_field_names_in_where_data_and_order_by_are_not_renamed(qdb, rows):
    got = qdb.Message.find_many(where={"reply_to": "m0"}, order_by=[{"reply_to": "asc"}, {"sentAt": "desc"}])
    assert [r["id"] for r in got] == [rows[2]["id"], rows[1]["id"]]
    assert qdb.Message.update_many(where={"reply_to": "m0"}, data={"reply_to": "m9"}) == {"count": 2}
    assert qdb.Message.count(where={"reply_to": "m9"}) == 2
    groups = qdb.Message.group_by(by=["reply_to"], _count={"_all": True})
    assert {g["reply_to"]: g["_count"]["_all"] for g in groups} == {None: 2, "m3": 1, "m9": 2}


def test_find_first_and_find_first_or_throw(qdb, rows):
    assert qdb.Message.find_first(where={"roomId": "b"}, order_by={"sentAt": "desc"})["id"] == rows[4]["id"]
    assert qdb.Message.find_first(where={"roomId": "zzz"}) is None
    assert qdb.Message.find_first_or_throw(where={"slug": "s1"})["id"] == rows[1]["id"]
    with pytest.raises(kvorm.NotFound):
        qdb.Message.find_first_or_throw(where={"roomId": "zzz"})


def test_count_with_where_and_paging(qdb, rows):
    assert qdb.Message.count() == 5
    assert qdb.Message.count(where={"roomId": "a"}) == 3
    assert qdb.Message.count(where={"roomId": "a"}, take=2) == 2
    assert qdb.Message.count(where={"sentAt": {"gt": T0}}, skip=1) == 3


def test_aggregate_values_carry_their_types(qdb, rows):
    got = qdb.Message.aggregate(where={"roomId": "a"}, _count=True, _sum={"score": True, "likes": True},
                                _avg={"likes": True}, _min={"sentAt": True, "score": True},
                                _max={"sentAt": True, "blob": True})
    assert got["_count"] == 3
    assert got["_sum"]["score"] == decimal.Decimal("11.5") and isinstance(got["_sum"]["score"], decimal.Decimal)
    assert got["_sum"]["likes"] == 4 and isinstance(got["_sum"]["likes"], int)
    assert got["_avg"]["likes"] == 2.0 and isinstance(got["_avg"]["likes"], float)
    assert got["_min"] == {"sentAt": T0, "score": decimal.Decimal("1.5")}
    assert got["_max"]["sentAt"] == T0 + datetime.timedelta(minutes=2) and got["_max"]["blob"] == b"\xff"
    avg = qdb.Message.aggregate(_avg={"score": True})["_avg"]["score"]
    assert isinstance(avg, decimal.Decimal)  # the average of decimals is a decimal
    empty = qdb.Message.aggregate(where={"roomId": "zzz"}, _count={"_all": True, "score": True}, _sum={"score": True})
    assert empty == {"_count": {"_all": 0, "score": 0}, "_sum": {"score": None}}


def test_group_by_keys_and_aggregates_carry_their_types(qdb, rows):
    by_time = qdb.Message.group_by(by=["sentAt"], where={"roomId": "b"}, _sum={"score": True})
    assert [g["sentAt"] for g in by_time] == [r["sentAt"] for r in rows[3:]]
    assert all(isinstance(g["sentAt"], datetime.datetime) for g in by_time)
    assert [g["_sum"]["score"] for g in by_time] == [decimal.Decimal("2.25"), decimal.Decimal("0.001")]
    rooms = qdb.Message.group_by(by=["roomId"], _count={"_all": True}, _sum={"score": True},
                                 having={"_count": {"_all": {"gte": 3}}})
    assert rooms == [{"roomId": "a", "_count": {"_all": 3}, "_sum": {"score": decimal.Decimal("11.5")}}]
    ordered = qdb.Message.group_by(by="roomId", _count={"_all": True}, order_by={"_count": {"_all": "asc"}})
    assert [g["roomId"] for g in ordered] == ["b", "a"]


def test_create_many_skip_duplicates(qdb, rows):
    data = [{"roomId": "c", "sentAt": T0, "slug": "s0"}, {"roomId": "c", "sentAt": T0, "slug": "new"}]
    with pytest.raises(kvorm.UniqueViolation):
        qdb.Message.create_many(data=[{"roomId": "c", "sentAt": T0, "slug": "s1"}])
    assert qdb.Message.create_many(data=data, skip_duplicates=True) == {"count": 1}
    assert qdb.Message.count(where={"roomId": "c"}) == 1
    with pytest.raises(kvorm.ValidationError):  # a bad record fails the call with nothing written
        qdb.Message.create_many(data=[{"roomId": "d", "sentAt": T0}, {"roomId": "d", "sentAt": "not a date"}])
    assert qdb.Message.count(where={"roomId": "d"}) == 0


def test_update_many_and_delete_many(qdb, rows):
    assert qdb.Message.update_many(where={"roomId": "a", "likes": {"gte": 1}}, data={"likes": 100}) == {"count": 2}
    assert qdb.Message.count(where={"likes": 100}) == 2
    assert qdb.Message.delete_many(where={"roomId": "b"}) == {"count": 2}
    assert qdb.Message.count() == 3
    assert qdb.Message.delete_many() == {"count": 3}
    assert qdb.Message.check()["ok"] is True


def test_explain_check_and_reindex(qdb, rows):
    plan = qdb.Message.explain("find_many", where={"roomId": "a"}, order_by={"sentAt": "asc"}, take=1)
    assert plan["plan"] == "index" and plan["index"] == "roomId_sentAt" and plan["sort"] is False
    assert plan["op"] == "findMany" and plan["model"] == "Message"
    scan = qdb.Message.explain("count", args={"where": {"body": "hello"}, "refuse_scans": True})
    assert scan["plan"] == "scan" and scan["refused"] is True
    report = qdb.Message.check()
    assert report["ok"] is True and report["records"] == 5 and report["problems"] == []
    assert report["indexes"]["by_score"]["entries"] == 5
    built = qdb.Message.reindex()
    assert built["built"] == [] and isinstance(built["records"], int)


def test_refused_per_query_and_per_db(server, namespace, qdb, rows):
    with pytest.raises(kvorm.Refused) as e:
        qdb.Message.find_many(where={"body": "hello"}, refuse_scans=True)
    assert e.value.code == "REFUSED" and e.value.model == "Message" and e.value.retryable is False
    assert len(qdb.Message.find_many(where={"body": "hello"})) == 1  # a scan, allowed by default
    assert len(qdb.Message.find_many(where={"roomId": "a"}, refuse_scans=True)) == 3  # an index serves it
    with kvorm.open(server.url, schema=message_schema(namespace), refuse_scans=True) as strict:
        for query in (lambda: strict.Message.find_many(where={"body": "hello"}),
                      lambda: strict.Message.count(where={"likes": {"gt": 1}}),
                      lambda: strict.Message.aggregate(where={"body": "x"}, _count=True)):
            with pytest.raises(kvorm.Refused):
                query()
        assert strict.Message.count(where={"body": "hello"}, refuse_scans=False) == 1
        assert strict.Message.count(where={"roomId": "b"}) == 2


def test_an_unknown_operator_is_a_bad_request_naming_it(qdb, rows):
    with pytest.raises(kvorm.BadRequest, match="like") as e:
        qdb.Message.find_many(where={"body": {"like": "hel%"}})
    assert e.value.op == "findMany"
    with pytest.raises(kvorm.BadRequest, match="in"):
        qdb.Message.find_many(where={"likes": {"in": 3}})  # in takes an array
    with pytest.raises(kvorm.BadRequest):
        qdb.Message.find_many(where={"nope": 1})
    with pytest.raises(kvorm.BadRequest):
        qdb.Message.find_many(order_by={"body": "sideways"})


def test_a_value_of_the_wrong_type_is_a_validation_error(qdb, rows):
    with pytest.raises(kvorm.ValidationError) as e:
        qdb.Message.find_many(where={"likes": {"gt": "many"}})
    assert "likes" in e.value.message
    with pytest.raises(kvorm.ValidationError):
        qdb.Message.count(where={"sentAt": {"lt": "yesterday"}})


def test_every_query_op_through_kvorm_aio(server, namespace, rows):
    async def run():
        async with aio.open(server.url, schema=message_schema(namespace), refuse_scans=True) as db:
            m = db.Message
            got = await m.find_many(where={"roomId": "a"}, order_by={"sentAt": "desc"}, take=1)
            assert got[0]["blob"] == b"\xff" and got[0]["sentAt"] == T0 + datetime.timedelta(minutes=2)
            assert (await m.find_first(where={"roomId": "b"}))["roomId"] == "b"
            assert (await m.find_first_or_throw(where={"slug": "s3"}))["score"] == decimal.Decimal("2.25")
            assert await m.count(where={"roomId": "a"}) == 3
            agg = await m.aggregate(where={"roomId": "b"}, _sum={"score": True})
            assert agg["_sum"]["score"] == decimal.Decimal("2.251")
            groups = await m.group_by(by=["roomId"], _count={"_all": True}, refuse_scans=False)
            assert [(g["roomId"], g["_count"]["_all"]) for g in groups] == [("a", 3), ("b", 2)]
            assert await m.create_many(data=[{"roomId": "z", "sentAt": T0}], skip_duplicates=True) == {"count": 1}
            assert await m.update_many(where={"roomId": "z"}, data={"likes": 1}) == {"count": 1}
            assert await m.delete_many(where={"roomId": "z"}) == {"count": 1}
            assert (await m.explain("find_first", where={"roomId": "a"}))["plan"] == "index"
            assert (await m.check())["ok"] is True
            assert "built" in await m.reindex()
            with pytest.raises(kvorm.Refused):
                await m.find_many(where={"body": "hello"})
            assert len(await m.find_many(where={"body": "hello"}, refuse_scans=False)) == 1
    asyncio.run(run())
