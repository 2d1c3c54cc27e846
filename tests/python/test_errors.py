"""Every exception class, each raised by a real situation against a real server."""
import builtins
import socket
import threading

import pytest
import redis

import kvorm
from conftest import user_schema, wait_until


ERROR_CLASSES = [getattr(kvorm, name) for name in kvorm.__all__
                 if isinstance(getattr(kvorm, name), type) and issubclass(getattr(kvorm, name), kvorm.Error)
                 and getattr(kvorm, name) is not kvorm.Error]


def test_every_core_code_has_its_class():
    from kvorm._native import ffi, lib
    codes = {ffi.string(lib.kvorm_error_name(n)).decode() for n in ffi.typeof("kvorm_status").relements.values()}
    codes.discard("OK")
    classes = {cls.code: cls for cls in ERROR_CLASSES}
    assert len(classes) == len(ERROR_CLASSES) == 15
    assert set(classes) == codes
    assert classes["UNAVAILABLE"] is kvorm.Unavailable
    assert classes["REFUSED"] is kvorm.Refused
    assert all(issubclass(cls, kvorm.Error) for cls in classes.values())


def test_every_error_says_whether_it_is_retryable(db):
    db.User.create(data={"email": "a@example.com", "name": "Ann"})
    with pytest.raises(kvorm.UniqueViolation) as e:
        db.User.create(data={"email": "a@example.com", "name": "Ann"})
    assert e.value.retryable is False
    assert kvorm.Error("x").retryable is False and kvorm.Unavailable("x", retryable=True).retryable is True


def test_validation_error_carries_the_error_document(db):
    with pytest.raises(kvorm.ValidationError) as e:
        db.User.create(data={"email": "a@example.com", "name": "Ann", "age": "thirty"})
    err = e.value
    assert (err.code, err.model, err.op, err.fields) == ("VALIDATION", "User", "create", ["age"])
    assert "thirty" in err.message and str(err).startswith("VALIDATION: ")
    assert isinstance(err, ValueError)


def test_missing_required_field_is_a_validation_error(db):
    with pytest.raises(kvorm.ValidationError) as e:
        db.User.create(data={"email": "a@example.com"})
    assert e.value.fields == ["name"]


def test_unique_violation_names_the_constraint_fields(db):
    db.User.create(data={"email": "a@example.com", "name": "Ann", "orgId": "o"})
    with pytest.raises(kvorm.UniqueViolation) as e:
        db.User.create(data={"email": "a@example.com", "name": "Ann 2"})
    assert e.value.fields == ["email"] and e.value.code == "UNIQUE_VIOLATION"


def test_not_found_on_update_of_a_missing_record(db):
    with pytest.raises(kvorm.NotFound) as e:
        db.User.update(where={"id": "01J00000000000000000000000"}, data={"age": 1})
    assert e.value.fields == [] and isinstance(e.value, LookupError)


def test_conflict_on_a_stale_version(db):
    user = db.User.create(data={"email": "a@example.com", "name": "Ann"})
    with pytest.raises(kvorm.Conflict):
        db.User.update(where={"id": user["id"]}, data={"age": 1}, if_version=2)


def test_schema_error_for_an_invalid_schema(server, namespace):
    bad = {"namespace": namespace, "models": {"User": {"fields": {"age": {"type": "integr"}}}}}
    with pytest.raises(kvorm.SchemaError) as e:
        kvorm.open(server.url, schema=bad)
    assert e.value.code == "SCHEMA" and "integr" in e.value.message


def test_schema_error_for_a_missing_schema_file(server, tmp_path):
    with pytest.raises(kvorm.SchemaError):
        kvorm.open(server.url, schema=str(tmp_path / "missing.json"))


def test_schema_mismatch_when_a_field_changes_type(server, namespace):
    kvorm.open(server.url, schema=user_schema(namespace)).close()
    changed = user_schema(namespace)
    changed["models"]["User"]["fields"]["age"]["type"] = "string"
    with pytest.raises(kvorm.SchemaMismatch) as e:
        kvorm.open(server.url, schema=changed)
    assert "age" in e.value.message


def test_bad_request_for_a_where_that_is_not_unique(db):
    with pytest.raises(kvorm.BadRequest) as e:
        db.User.find_unique(where={"name": "Ann"})
    assert e.value.code == "BAD_REQUEST" and e.value.op == "findUnique"


def test_bad_request_for_a_missing_required_argument(db):
    with pytest.raises(kvorm.BadRequest):
        db.User.call("update", where={"email": "a@example.com"})


def test_connection_error_when_nothing_listens(schema):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(kvorm.ConnectionError) as e:
            kvorm.open("redis://127.0.0.1:%d/0" % port, schema=schema, connect_timeout_ms=500)
    assert isinstance(e.value, builtins.ConnectionError) and e.value.code == "CONNECTION"
    assert e.value.retryable is True  # from kvorm_last_error_retryable: open returns no error document


def test_timeout_error_when_the_server_does_not_answer(server, schema, raw):
    with kvorm.open(server.url, schema=schema, command_timeout_ms=100) as db:
        db.User.count()  # connects
        # Redis holds the write back until the UNPAUSE, far longer than the 100 ms the call may wait.
        raw.execute_command("CLIENT", "PAUSE", "120000", "WRITE")
        try:
            with pytest.raises(kvorm.TimeoutError) as e:
                db.User.create(data={"email": "a@example.com", "name": "Ann"})
        finally:
            raw.execute_command("CLIENT", "UNPAUSE")
        assert isinstance(e.value, builtins.TimeoutError)
        assert db.User.count() in (0, 1)  # the pool connects again


def test_unsupported_from_its_error_document():
    # No request of this core is UNSUPPORTED (count with a where, the last one, is answered since the query
    # engine): the class is checked from the document the core would send.
    from kvorm.errors import from_document
    err = from_document({"code": "UNSUPPORTED", "message": "not on this engine", "model": "User", "op": "x"})
    assert isinstance(err, kvorm.Unsupported) and err.op == "x" and err.retryable is False


def test_refused_for_a_scan_when_scans_are_refused(db):
    db.User.create(data={"email": "a@example.com", "name": "Ann"})
    with pytest.raises(kvorm.Refused) as e:
        db.User.count(where={"name": "Ann"}, refuse_scans=True)  # name has no index: a scan
    assert e.value.code == "REFUSED" and e.value.model == "User" and e.value.retryable is False
    assert db.User.count(where={"name": "Ann"}) == 1


@pytest.mark.redis_only
def test_internal_error_for_stored_data_changed_outside_kvorm(db, raw, namespace):
    user = db.User.create(data={"email": "a@example.com", "name": "Ann"})
    raw.hset("%s:{User}:r:%s" % (namespace, user["id"]), "age", b"\xc1")  # 0xc1: never valid MessagePack
    with pytest.raises(kvorm.InternalError):
        db.User.find_unique(where={"id": user["id"]})


def test_misuse_error_for_an_invalid_url(schema):
    with pytest.raises(kvorm.MisuseError):
        kvorm.open("http://127.0.0.1/", schema=schema)


def test_misuse_error_after_close(db):
    db.close()
    with pytest.raises(kvorm.MisuseError, match="closed"):
        db.User.count()


def test_errors_are_raised_in_the_thread_that_made_the_call(db):
    # The core's last error is thread-local: an error in one thread must not leak into another's result.
    db.User.create(data={"email": "a@example.com", "name": "Ann"})
    results = []

    def dup():
        try:
            db.User.create(data={"email": "a@example.com", "name": "Ann"})
        except kvorm.UniqueViolation as e:
            results.append(e.code)
    threads = [threading.Thread(target=dup) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["UNIQUE_VIOLATION"] * 4


def test_a_message_cut_inside_a_character_is_still_the_kvorm_error(db):
    # The message quotes the taken value, cut after 60 bytes: here in the middle of a two-byte character.
    email = "a" + "\u00e9" * 40 + "@example.com"
    db.User.create(data={"email": email, "name": "Ann"})
    with pytest.raises(kvorm.UniqueViolation) as e:
        db.User.create(data={"email": email, "name": "Ann again"})
    assert isinstance(e.value.message, str) and isinstance(str(e.value), str)
    assert e.value.fields == ["email"] and e.value.model == "User"
    str(e.value).encode("utf-8")  # printable: no lone surrogates


def test_an_error_document_with_invalid_utf8_is_decoded_with_replacement():
    from kvorm.errors import from_document
    err = from_document({b"code": b"UNIQUE_VIOLATION", b"message": b"email \"a\xc3\"", b"model": b"User",
                         b"op": b"create", b"fields": [b"email"], b"retryable": False})
    assert type(err) is kvorm.UniqueViolation and err.message == "email \"a\ufffd\"" and err.fields == ["email"]
    assert from_document("not a map", "INTERNAL").code == "INTERNAL"


def test_a_dropped_connection_is_a_retryable_connection_error(own_server, schema):
    client = redis.Redis(port=own_server.port)
    try:
        with kvorm.open(own_server.url, schema=schema, pool_size=1) as db:
            db.User.count()  # the pool's one connection is open
            me = client.client_id()
            killed = [c["id"] for c in client.client_list() if int(c["id"]) != me]
            assert killed
            for client_id in killed:
                client.client_kill_filter(_id=client_id)
            with pytest.raises(kvorm.ConnectionError) as e:
                db.User.find_unique(where={"email": "a@example.com"})
            assert e.value.retryable is True and e.value.code == "CONNECTION"
            assert db.User.count() == 0  # and retrying does work
    finally:
        client.close()


def test_out_of_memory_is_unavailable_and_retryable(own_server, schema):
    with kvorm.open(own_server.url, schema=schema) as db:
        client = redis.Redis(port=own_server.port)
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", 1)  # every write is refused with OOM
        try:
            with pytest.raises(kvorm.Unavailable) as e:
                db.User.create(data={"email": "a@example.com", "name": "Ann"})
            assert e.value.retryable is True and e.value.code == "UNAVAILABLE" and e.value.model == "User"
            assert db.User.count() == 0  # nothing was written, and reads still answer
        finally:
            client.config_set("maxmemory", 0)
            client.close()
        assert db.User.create(data={"email": "a@example.com", "name": "Ann"})["name"] == "Ann"  # the retry works


def test_a_server_busy_with_a_script_is_unavailable_and_retryable(own_server, schema):
    with kvorm.open(own_server.url, schema=schema) as db:
        control = redis.Redis(port=own_server.port)
        control.config_set("lua-time-limit", 10)  # BUSY replies after 10 ms of script
        scripted = redis.Redis(port=own_server.port)
        script_ended = []

        def run_forever():
            try:
                scripted.eval("while true do end", 0)
            except redis.ResponseError as e:  # killed
                script_ended.append(str(e))
        runner = threading.Thread(target=run_forever)
        runner.start()
        try:
            def busy():
                try:
                    control.ping()
                    return False
                except redis.ResponseError as e:
                    return str(e).startswith("BUSY")
            wait_until(busy, "Redis answering BUSY")
            with pytest.raises(kvorm.Unavailable) as e:
                db.User.find_unique(where={"email": "a@example.com"})
            assert e.value.retryable is True
        finally:
            try:
                control.script_kill()
            except redis.ResponseError:  # NOTBUSY: the script never started
                pass
            runner.join()
            control.close()
            scripted.close()
        assert script_ended and db.User.find_unique(where={"email": "a@example.com"}) is None  # the retry works


def test_a_read_only_replica_is_unavailable_for_writes(own_server, schema):
    with kvorm.open(own_server.url, schema=schema) as db:
        client = redis.Redis(port=own_server.port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))  # bound but not listening: the master never answers, the data stays
            client.execute_command("REPLICAOF", "127.0.0.1", str(s.getsockname()[1]))
            try:
                with pytest.raises(kvorm.Unavailable) as e:  # READONLY
                    db.User.create(data={"email": "a@example.com", "name": "Ann"})
                assert e.value.retryable is True
                assert db.User.find_unique(where={"email": "a@example.com"}) is None  # reads still answer
            finally:
                client.execute_command("REPLICAOF", "NO", "ONE")
                client.close()
        assert db.User.create(data={"email": "a@example.com", "name": "Ann"})["name"] == "Ann"  # the retry works
