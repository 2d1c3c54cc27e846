#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ (standard library only; the output is committed).

    python3 tests/fuzz/gen_corpus.py        # rewrites every generated seed; files added by hand are kept

Each seed is a small, meaningful input: valid requests of every op for the fixed schema of exec_common.c, schemas
that load, values of every decoder. A generated file is named g-<name>; add a hand-written seed under another
name (tests/fuzz/README.md).
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


# ---- a MessagePack encoder (canonical: shortest forms), with bin and timestamps ----

class Bin(bytes):
    pass


class Ts:
    def __init__(self, sec, nsec=0):
        self.sec, self.nsec = sec, nsec


class Ext:
    def __init__(self, code, data):
        self.code, self.data = code, data


class F32(float):
    pass


def mp(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v <= 0x7F:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if v >= 0:
            for code, fmt, lim in ((0xCC, ">B", 1 << 8), (0xCD, ">H", 1 << 16), (0xCE, ">I", 1 << 32),
                                   (0xCF, ">Q", 1 << 64)):
                if v < lim:
                    return bytes([code]) + struct.pack(fmt, v)
        for code, fmt, lim in ((0xD0, ">b", 1 << 7), (0xD1, ">h", 1 << 15), (0xD2, ">i", 1 << 31),
                               (0xD3, ">q", 1 << 63)):
            if v >= -lim:
                return bytes([code]) + struct.pack(fmt, v)
    if isinstance(v, F32):
        return b"\xca" + struct.pack(">f", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, Bin):
        n = len(v)
        head = bytes([0xC4, n]) if n < 256 else b"\xc5" + struct.pack(">H", n)
        return head + bytes(v)
    if isinstance(v, str):
        b = v.encode("utf-8", "surrogateescape")
        return str_head(len(b)) + b
    if isinstance(v, bytes):  # raw str bytes (maybe invalid UTF-8)
        return str_head(len(v)) + v
    if isinstance(v, Ts):
        if v.sec >= 0 and v.sec < (1 << 34):
            x = (v.nsec << 34) | v.sec
            if x < (1 << 32):
                return b"\xd6\xff" + struct.pack(">I", x)
            return b"\xd7\xff" + struct.pack(">Q", x)
        return b"\xc7\x0c\xff" + struct.pack(">Iq", v.nsec, v.sec)
    if isinstance(v, Ext):
        return b"\xc7" + bytes([len(v.data)]) + struct.pack("b", v.code) + v.data
    if isinstance(v, (list, tuple)):
        n = len(v)
        head = bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n)
        return head + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        n = len(v)
        head = bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)
        return head + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(type(v))


def str_head(n):
    if n < 32:
        return bytes([0xA0 | n])
    if n < 256:
        return bytes([0xD9, n])
    return b"\xda" + struct.pack(">H", n)


def to_json(v):
    """The JSON twin of a request value: timestamps as RFC 3339, bin as base64."""
    import base64
    import datetime
    if isinstance(v, Ts):
        t = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=v.sec)
        frac = ".%09d" % v.nsec if v.nsec else ""
        return t.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"
    if isinstance(v, Bin):
        return base64.b64encode(bytes(v)).decode()
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_json(x) for x in v]
    return v


def jdump(v):
    return json.dumps(to_json(v), ensure_ascii=False, separators=(",", ":")).encode()


# ---- requests for the schema of exec_common.c ----

def req(model, op, args=None):
    d = {"model": model, "op": op}
    if args is not None:
        d["args"] = args
    return d


USER_FULL = {"email": "ann@example.com", "org": "o_1", "age": 42, "score": 1.5, "active": False,
             "born": Ts(946684800, 500), "balance": "12.50", "role": "admin",
             "profile": {"tags": ["a", "b"], "n": 1, "x": None, "f": 0.25},
             "avatar": Bin(b"\x00\x01\xfe\xff")}

# Each entry: a name and a list of requests run in one input (state lives for one input only).
SEQUENCES = [
    ("create-user-min", [req("User", "create", {"data": {"email": "a@x.io"}})]),
    ("create-user-full", [req("User", "create", {"data": USER_FULL, "select": {"id": True, "email": True,
                                                                            "$version": True}})]),
    ("create-find", [req("User", "create", {"data": {"email": "b@x.io", "org": "o"}}),
                     req("User", "findUnique", {"where": {"email": "b@x.io"}}),
                     req("User", "findUniqueOrThrow", {"where": {"org_email": {"org": "o", "email": "b@x.io"}}}),
                     req("User", "findUnique", {"where": {"org": "o", "email": "b@x.io"}, "select": {"role": True}})]),
    ("unique-violation", [req("User", "create", {"data": {"email": "c@x.io", "age": 7}}),
                          req("User", "create", {"data": {"email": "d@x.io", "age": 7}}),
                          req("User", "create", {"data": {"email": "c@x.io"}})]),
    ("update-move-unique", [req("User", "create", {"data": {"email": "e@x.io", "org": "o", "age": 1,
                                                            "born": Ts(0), "role": "g\u00e4st"}}),
                            req("User", "update", {"where": {"email": "e@x.io"},
                                                   "data": {"email": "f@x.io", "age": None, "role": "admin",
                                                            "avatar": Bin(b"zz")}}),
                            req("User", "findUnique", {"where": {"email": "e@x.io"}}),
                            req("User", "update", {"where": {"roleBorn": {"role": "admin", "born": Ts(0)}},
                                                   "data": {"born": None}, "ifVersion": 2})]),
    ("update-conflict", [req("User", "create", {"data": {"email": "g@x.io"}}),
                         req("User", "update", {"where": {"email": "g@x.io"}, "data": {"org": "p"},
                                                "ifVersion": 5})]),
    ("upsert", [req("User", "upsert", {"where": {"email": "h@x.io"}, "create": {"email": "h@x.io", "age": 3},
                                       "update": {"age": 4}}),
                req("User", "upsert", {"where": {"email": "h@x.io"}, "create": {"email": "h@x.io"},
                                       "update": {"age": 3, "balance": "-0.0010"}, "select": {"$version": True}})]),
    ("delete", [req("User", "create", {"data": {"email": "i@x.io", "org": "q", "avatar": Bin(b"")}}),
                req("User", "delete", {"where": {"avatar": Bin(b"")}, "select": {"email": True}}),
                req("User", "delete", {"where": {"email": "i@x.io"}})]),
    ("count", [req("User", "create", {"data": {"email": "j@x.io"}}), req("User", "count"),
               req("User", "count", {"where": {}})]),
    ("number-ops", [req("User", "create", {"data": {"email": "n@x.io", "age": 9, "balance": "1.5"}}),
                    req("User", "update", {"where": {"email": "n@x.io"},
                                           "data": {"age": {"increment": 2}, "balance": {"divide": "7"}}}),
                    req("User", "update", {"where": {"email": "n@x.io"},
                                           "data": {"age": {"multiply": 2 ** 62}, "balance": {"multiply": "-3"}}}),
                    req("User", "updateMany", {"where": {}, "data": {"age": {"decrement": 1}}}),
                    req("User", "update", {"where": {"email": "n@x.io"}, "data": {"age": {"divide": 0}}})]),
    ("capabilities", [req(None, "capabilities")]),
    ("counter", [req("Counter", "create", {"data": {"code": "k1"}}),
                 req("Counter", "create", {"data": {"id": 10, "n": -5}}),
                 req("Counter", "create", {"data": {}}),
                 req("Counter", "update", {"where": {"id": 10}, "data": {"code": "k2"}}),
                 req("Counter", "upsert", {"where": {"id": 12}, "create": {"n": 1}, "update": {"n": 2}}),
                 req("Counter", "delete", {"where": {"code": "k1"}, "ifVersion": 1}),
                 req("Counter", "findUnique", {"where": {"id": 11}})]),
    ("item", [req("Item", "create", {"data": {"id": "it:1 {x}\n", "price": "1e3", "blob": Bin(b"\x00")}}),
              req("Item", "create", {"data": {"id": "it2", "price": "1000.000"}}),
              req("Item", "findUnique", {"where": {"price": 1000}}),
              req("Item", "upsert", {"where": {"id": "it3"}, "create": {"label": "L"}, "update": {}}),
              req("Item", "delete", {"where": {"id": "it:1 {x}\n"}})]),
    ("num", [req("Num", "create", {"data": {"id": -7, "a": {"z": 1, "a": [True, None]}, "b": 2.0, "c": True}}),
             req("Num", "create", {"data": {"id": 9007199254740993, "a": {"a": [True, None], "z": 1}, "b": 2}}),
             req("Num", "findUnique", {"where": {"a_b": {"a": {"z": 1, "a": [True, None]}, "b": 2.0}}}),
             req("Num", "update", {"where": {"id": -7}, "data": {"b": -0.0, "a": "s"}})]),
    ("ev", [req("Ev", "create", {"data": {"at": Ts(1700000000, 123456789), "kind": "x", "tag": Bin(b"t")}}),
            req("Ev", "create", {"data": {"at": "2023-11-14T22:13:20.123456789+00:00", "kind": "x",
                                          "tag": Bin(b"u")}}),
            req("Ev", "findUnique", {"where": {"kind": "x", "tag": Bin(b"t")}}),
            req("Ev", "update", {"where": {"at": Ts(1700000000, 123456789)}, "data": {"at": Ts(-62135596800)}})]),
    ("errors", [req("User", "create", {"data": {"email": 5}}),
                req("User", "create", {"data": {"nope": 1, "email": "x"}}),
                req("User", "findUnique", {"where": {"org": "o"}}),
                req("User", "frob"),
                req("Nope", "count"),
                req("User", "update", {"where": {"id": "missing"}, "data": {"org": None}}),
                req("User", "create", {"data": {"email": "e\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
                                                          "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
                                                          "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
                                                          "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", "role": "none"}})]),
    # relations loaded with a read: belongsTo by id (Item.owner) and by a unique (Counter.user), hasOne
    # (User.counter), nested, in select, and the to-many one that is refused
    ("include", [req("User", "create", {"data": {"email": "a@x.io"}}),
                 req("Counter", "create", {"data": {"code": "a@x.io"}}),
                 req("Item", "create", {"data": {"id": "i1", "label": "nobody"}}),
                 req("Counter", "findMany", {"include": {"user": {"select": {"email": True},
                                                                  "include": {"counter": True}}}}),
                 req("User", "findUnique", {"where": {"email": "a@x.io"}, "select": {"counter": True}}),
                 req("Item", "findFirst", {"include": {"owner": True}}),
                 req("User", "findMany", {"include": {"items": {"where": {"label": {"not": None}}, "orderBy": {"id": "desc"},
                                                                "take": -1, "skip": 1, "include": {"owner": True}}}}),
                 req("Item", "findMany", {"where": {"label": {"in": ["a", "b", "nobody"]}}}),
                 req("User", "findMany", {"select": {"email": True, "_count": {"select": {"items": {"where": {"blob": None}}}}},
                                          "include": {"items": {"take": 2}}})]),
    # writes that keep foreign keys (a missing target refused, a delete that cascades and sets null) and relation
    # filters (some/every/none, is/isNot, nested)
    ("relations-writes", [req("User", "create", {"data": {"id": "u1", "email": "a@x.io"}}),
                          req("Item", "create", {"data": {"id": "i1", "label": "u1"}}),
                          req("Item", "create", {"data": {"id": "i2", "label": "nobody"}}),
                          req("Counter", "create", {"data": {"code": "a@x.io"}}),
                          req("User", "findMany", {"where": {"items": {"some": {"label": "u1"}},
                                                             "counter": {"isNot": None}}}),
                          req("Item", "findMany", {"where": {"owner": {"is": {"items": {"every": {"blob": None}}}}}}),
                          req("User", "count", {"where": {"NOT": {"items": {"none": {}}}}}),
                          req("User", "delete", {"where": {"id": "u1"}}),
                          req("Counter", "findMany", {"where": {"user": {"is": None}}})]),
    # nested writes: a create that makes and connects what it names, an update that connects, disconnects, sets,
    # upserts and deletes through each kind of relation, and ones that fail part way
    ("nested-writes", [req("User", "create", {"data": {"id": "u1", "email": "a@x.io",
                                                      "items": {"create": [{"id": "i1"}, {"id": "i2"}]},
                                                      "counter": {"create": {"n": 1}}},
                                             "include": {"items": True, "counter": True}}),
                       req("Item", "create", {"data": {"id": "i3", "owner": {"connectOrCreate": {
                           "where": {"email": "b@x.io"}, "create": {"id": "u2", "email": "b@x.io"}}}}}),
                       req("User", "update", {"where": {"id": "u1"}, "data": {
                           "items": {"connect": {"id": "i3"}, "disconnect": [{"id": "i1"}],
                                     "update": {"where": {"id": "i2"}, "data": {"blob": None}},
                                     "upsert": {"where": {"id": "i9"}, "create": {"id": "i9"}, "update": {}},
                                     "createMany": {"data": [{"id": "i4"}], "skipDuplicates": True}},
                           "counter": {"update": {"n": 2}}}}),
                       req("User", "update", {"where": {"id": "u1"}, "data": {"items": {"set": [{"id": "i2"}],
                                                                               "deleteMany": {"price": None}}}}),
                       req("Counter", "create", {"data": {"user": {"connect": {"email": "b@x.io"}}}}),
                       req("User", "create", {"data": {"email": "c@x.io", "items": {"connect": {"id": "nope"}}}}),
                       req("Item", "update", {"where": {"id": "i2"}, "data": {"owner": {"delete": True}}})]),
    # a manyToMany through Pin: nested connects with edge data, include with its own arguments, filters, _count
    ("many-to-many", [req("User", "create", {"data": {"id": "u1", "email": "a@x.io",
                                                     "items": {"create": [{"id": "i1"}, {"id": "i2"}]}}}),
                      req("User", "create", {"data": {"id": "u2", "email": "b@x.io", "pins": {
                          "connect": [{"id": "i1", "$edge": {"note": "n"}}, {"id": "i2"}]}}}),
                      req("User", "findMany", {"select": {"email": True, "pins": {
                          "where": {"label": {"not": None}}, "orderBy": {"id": "desc"}, "skip": 1, "take": -1,
                          "include": {"pinnedBy": {"select": {"email": True}}}},
                          "_count": {"select": {"pins": {"where": {"blob": None}}}}}}),
                      req("User", "findMany", {"where": {"pins": {"some": {"label": "u1"}, "every": {"blob": None}},
                                                         "NOT": {"pins": {"none": {}}}}}),
                      req("Item", "findUnique", {"where": {"id": "i1"}, "include": {"pinnedBy": True,
                                                                                     "_count": True}}),
                      req("Item", "delete", {"where": {"id": "i1"}}),
                      req("User", "findMany", {"where": {"pins": {"is": {}}}})]),
    # User.friends: a manyToMany without through, its join model _UserToUser declared by kvorm
    ("implicit-join", [req("User", "create", {"data": {"id": "u1", "email": "a@x.io"}}),
                       req("User", "create", {"data": {"id": "u2", "email": "b@x.io", "friends": {
                           "connect": {"id": "u1"}, "create": {"id": "u3", "email": "c@x.io"}}}}),
                       req("User", "update", {"where": {"id": "u2"}, "data": {"friends": {
                           "connect": {"id": "u1"}, "disconnect": {"id": "u3"}}}}),
                       req("User", "findMany", {"where": {"friends": {"some": {"email": "a@x.io"}}},
                                                "include": {"friends": {"orderBy": {"email": "desc"}}, "_count": True}}),
                       req("_UserToUser", "findMany", {"where": {"A": "u2"}}),
                       req("User", "delete", {"where": {"id": "u1"}})]),
    ("order-by-relation", [req("User", "create", {"data": {"id": "u1", "email": "a@x.io",
                                                           "items": {"create": [{"id": "i1"}, {"id": "i2"}]}}}),
                           req("Item", "findMany", {"orderBy": [{"owner": {"email": {"sort": "desc", "nulls": "last"}}},
                                                                {"label": "asc"}], "skip": 1, "take": -1}),
                           req("User", "findMany", {"orderBy": [{"items": {"_count": "desc"}}, {"pins": {"_count": "asc"}}],
                                                    "include": {"items": {"orderBy": {"owner": {"id": "asc"}}}}}),
                           req("Item", "findMany", {"orderBy": {"owner": {"email": "asc"}}, "cursor": {"id": "i1"}}),
                           req("User", "findMany", {"orderBy": {"items": {"label": "asc"}}})]),
    # messages quote values cut after 60 bytes and copy unknown field names cut at 71: a cut inside a code point
    ("cut-in-code-point", [req("User", "create", {"data": {"email": "a", "role": "x" + "\u00e9" * 40}}),
                           req("User", "create", {"data": {"email": "a", "x" + "\u20ac" * 30: 1}}),
                           req("M" + "\u00e9" * 40, "count"),
                           req("User", "findUnique", {"where": {"email": "a"}, "select": {"y" + "\u00e9" * 40: True}})]),
]


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "g-" + name), "wb") as f:
        f.write(data)


def clean(target):
    d = os.path.join(CORPUS, target)
    if os.path.isdir(d):
        for n in os.listdir(d):
            if n.startswith("g-"):
                os.remove(os.path.join(d, n))


def exec_seeds():
    for name, reqs in SEQUENCES:
        docs = [mp({k: v for k, v in r.items() if v is not None}) for r in reqs]
        write("exec_msgpack", name, b"\x00" + b"\xc1\xc1".join(docs))
        write("exec_msgpack", name + "-batch", b"\x01" + b"\xc1\xc1".join(docs))
        if name in ("update-move-unique", "counter", "upsert"):
            # after SCRIPT FLUSH: one by one, and as a batch
            write("exec_msgpack", name + "-flushed", b"\x02" + b"\xc1\xc1".join(docs))
            write("exec_msgpack", name + "-batch-flushed", b"\x03" + b"\xc1\xc1".join(docs))
        texts = [jdump({k: v for k, v in r.items() if v is not None}) for r in reqs]
        write("exec_json", name, b"\x1e".join(texts))
    # malformed documents
    write("exec_msgpack", "truncated", b"\x00\x83\xa5model\xa4User\xa2op")
    write("exec_msgpack", "forged-array", b"\x00\xdd\xff\xff\xff\xff")
    write("exec_msgpack", "invalid-utf8-model", b"\x00" + mp({"model": b"\xff\xfe", "op": "count"}))
    write("exec_json", "not-json", b'{"model": "User", "op": ')
    # numbers beyond int64 and float64 (JSON only): a decimal takes them exactly, other types refuse them
    big = [req("Item", "create", {"data": {"id": "b1", "price": 123456789012345678901234567890}}),
           req("Item", "findUnique", {"where": {"price": "123456789012345678901234567890"}}),
           req("User", "create", {"data": {"email": "", "age": 18446744073709551615}}),
           req("User", "create", {"data": {"email": "", "score": 1e308}})]
    texts = [jdump({k: v for k, v in r.items() if v is not None}) for r in big]
    texts[-1] = texts[-1].replace(b"1e+308", b"1e400")
    write("exec_json", "big-numbers", b"\x1e".join(texts))


SCHEMAS = {
    "doc-example": {"namespace": "app", "models": {"User": {
        "id": {"type": "string", "generate": "ulid"},
        "fields": {"email": {"type": "string", "unique": True}, "orgId": {"type": "string"},
                   "age": {"type": "integer", "optional": True},
                   "role": {"type": "enum", "values": ["admin", "member"], "default": "member"},
                   "balance": {"type": "decimal", "default": "0"}, "profile": {"type": "json", "optional": True},
                   "avatar": {"type": "bytes", "optional": True}, "score": {"type": "float", "default": 0},
                   "active": {"type": "boolean", "default": True},
                   "createdAt": {"type": "datetime", "default": "now"}},
        "unique": [["orgId", "email"]]}}},
    "id-strategies": {"namespace": "n_1", "models": {
        "A": {"id": {"type": "integer", "generate": "increment"}, "fields": {}},
        "B": {"id": {"type": "integer"}, "fields": {"x": {"type": "integer", "nullable": True, "unique": True}}},
        "C": {"id": {"type": "string"}, "fields": {"y": {"type": "string", "optional": True}}},
        "D": {"id": {"type": "string", "generate": "uuidv7"}, "fields": {"z": {"type": "json", "default": {"k": [1]}}}}}},
    "named-unique": {"namespace": "s", "models": {"Slot": {"fields": {
        "tenant": {"type": "string"}, "slug": {"type": "string"},
        "at": {"type": "datetime", "default": "2024-01-01T00:00:00Z"}, "b": {"type": "bytes", "default": "AAE="},
        "d": {"type": "decimal", "default": 12}, "f": {"type": "float", "default": 0.5}},
        "unique": [{"fields": ["tenant", "slug"], "name": "tenantSlug"}, ["slug", "at"]]}}},
    # manyToMany without through: the join models kvorm declares (a pair's, a self-relation's two directions)
    "implicit-join": {"namespace": "j", "models": {
        "Post": {"id": {"type": "integer"}, "fields": {"t": {"type": "string"}},
                 "relations": {"tags": {"manyToMany": "Tag"}}},
        "Tag": {"fields": {}, "relations": {"posts": {"manyToMany": "Post"}}},
        "User": {"fields": {}, "relations": {"following": {"manyToMany": "User"},
                                             "followers": {"manyToMany": "User"}}}}},
    "bad-type": {"namespace": "x", "models": {"M": {"fields": {"a": {"type": "strin"}}}}},
    "bad-default": {"namespace": "x", "models": {"M": {"fields": {"a": {"type": "integer", "default": "1"}}}}},
    "bad-unique": {"namespace": "x", "models": {"M": {"fields": {"a": {"type": "string"}}, "unique": [["a", "b"]]}}},
}


def schema_seeds():
    for name, doc in SCHEMAS.items():
        write("schema_json", name, json.dumps(doc, indent=1).encode())
        write("schema_msgpack", name, mp(doc))
    write("schema_json", "duplicate-key", b'{"namespace": "a", "namespace": "b", "models": {}}')
    bin_default = {"namespace": "x", "models": {"M": {"fields": {
        "b": {"type": "bytes", "default": Bin(b"\x01\x02")}, "t": {"type": "datetime", "default": Ts(86400, 1)}}}}}
    write("schema_msgpack", "bin-and-ts-defaults", mp(bin_default))


def layouts():
    # the stored layout of docs/schema.md (format 2), for the models of fuzz_layout.c
    def layout(idname, fields, uniques, indexes=(), fmt=2):
        doc = {"format": fmt, "id": idname, "fields": fields, "unique": uniques}
        if fmt >= 2:
            doc["indexes"] = list(indexes)
        return mp(doc)
    f = lambda t, o=False: {"type": t, "optional": o}
    write("layout", "counter", layout("increment", {"n": f("integer", True)}, [], [["n", [["n", "asc"]]]]))
    write("layout", "counter-index-removed", layout("increment", {"n": f("integer", True)}, []))
    write("layout", "counter-index-redefined", layout("increment", {"n": f("integer", True)}, [],
                                                      [["n", [["n", "desc"]]]]))
    write("layout", "item", layout("string", {"kind": {"type": "enum", "optional": False, "values": ["a"]}}, []))
    write("layout", "item-enum-removed", layout("string", {"kind": {"type": "enum", "optional": False,
                                                                   "values": ["a", "b"]}}, []))
    write("layout", "item-unique-removed", layout("string", {"kind": {"type": "enum", "optional": False,
                                                                     "values": ["a"]}}, [["kind", ["kind"]]]))
    write("layout", "num", layout("integer", {}, []))
    user_fields = {"email": f("string"), "org": f("string", True)}
    user_indexes = [["by_at", [["at", "asc"]]], ["org_age", [["org", "asc"], ["age", "desc"]]]]
    write("layout", "user-fewer-fields", layout("ulid", user_fields,
                                                [["email", ["email"]], ["org_email", ["org", "email"]],
                                                 ["roleAt", ["role", "at"]]], user_indexes))
    write("layout", "user-unique-redefined", layout("ulid", user_fields,
                                                    [["email", ["email"]], ["org_email", ["email", "org"]]],
                                                    user_indexes))
    write("layout", "format-1", layout("ulid", {}, [], fmt=1))
    write("layout", "newer-format", layout("ulid", {}, [], fmt=3))


def nest(depth):
    v = 0
    for _ in range(depth):
        v = [v]
    return v


def values():
    for name, text in [("int", "42"), ("neg-frac", "-0012.3400"), ("exp", "1.5e-7"), ("big-exp", "+7E+3"),
                       ("zero", "-0.000"), ("dot", ".5"), ("long", "9" * 1000), ("too-long", "1" * 1001),
                       ("tiny", "1e-999")]:
        write("decimal", name, text.encode())
    for name, text in [("utc", "2024-02-29T23:59:59Z"), ("frac", "1970-01-01T00:00:00.000000001Z"),
                       ("offset", "0001-01-01T00:30:00+00:30"), ("space", "9999-12-31 23:59:59.999999999z"),
                       ("neg-offset", "2000-03-01t00:00:00-23:59"), ("bad-day", "2023-02-29T00:00:00Z")]:
        write("datetime", name, text.encode())
    write("datetime", "ext32", struct.pack(">I", 1700000000))
    write("datetime", "ext64", struct.pack(">Q", (999999999 << 34) | 17179869183))
    write("datetime", "ext96", struct.pack(">Iq", 5, -62135596800))
    for name, text in [("empty", ""), ("one", "QQ=="), ("two", "QUI="), ("three", "QUJD"),
                       ("all", "+/+/AAAA"), ("bad-pad", "Q===")]:
        write("base64", name, text.encode())
    for name, url in [("tcp", "redis://127.0.0.1:6379/0"), ("auth", "redis://alice:p%40ss%20w@host:1/2?timeout=5"),
                      ("password-only", "redis://:secret@[::1]:6380"), ("query", "redis://h?db=3&pool=4&connect_timeout=100&user=u&password=p"),
                      ("unix", "unix:///tmp/redis.sock?db=1&password=x%26y"), ("empty-host", "redis://:7"),
                      ("long-path", "unix:///" + "p" * 4094), ("bad-scheme", "http://x")]:
        write("redis_url", name, url.encode())
    for name, doc in [("map", {"a": [1, -1, 1.5, None, True], "b": Bin(b"\x00"), "t": Ts(1, 2)}),
                      ("f32", [F32(0.5), -0.0, 1e300]), ("ext", Ext(5, b"abc")),
                      ("deep", nest(32)),
                      ("utf8", ["\u00e9\u20ac\U0001F600", b"\xed\xa0\x80", b"\xc0\xaf"]),
                      ("big-uint", 18446744073709551615), ("empty-str", ""), ("empty-containers", [[], {}, Bin(b"")])]:
        write("mp", name, mp(doc))
    write("mp", "forged-map", b"\xdf\xff\xff\xff\xff")
    write("mp", "trailing", b"\x01\x02")


def main():
    for t in ("exec_msgpack", "exec_json", "schema_json", "schema_msgpack", "layout", "decimal", "datetime",
              "base64", "redis_url", "mp"):
        clean(t)
    exec_seeds()
    schema_seeds()
    layouts()
    values()
    return 0


if __name__ == "__main__":
    sys.exit(main())
