"""Every exception class, each raised by a real situation against a real server."""
import builtins
import socket
import threading

import pytest

import kvorm
from conftest import user_schema


def test_every_core_code_has_its_class():
    from kvorm._native import ffi, lib
    codes = {ffi.string(lib.kvorm_error_name(n)).decode() for n in ffi.typeof("kvorm_status").relements.values()}
    codes.discard("OK")
    classes = {cls.code: cls for cls in (kvorm.ValidationError, kvorm.NotFound, kvorm.UniqueViolation,
                                         kvorm.Conflict, kvorm.SchemaError, kvorm.SchemaMismatch, kvorm.BadRequest,
                                         kvorm.ConnectionError, kvorm.TimeoutError, kvorm.Unsupported,
                                         kvorm.InternalError, kvorm.MisuseError)}
    assert set(classes) == codes
    assert all(issubclass(cls, kvorm.Error) for cls in classes.values())


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


def test_timeout_error_when_the_server_does_not_answer(server, schema, raw):
    with kvorm.open(server.url, schema=schema, command_timeout_ms=100) as db:
        raw.execute_command("CLIENT", "PAUSE", "1000", "ALL")
        try:
            with pytest.raises(kvorm.TimeoutError) as e:
                db.User.count()
        finally:
            raw.execute_command("CLIENT", "UNPAUSE")
        assert isinstance(e.value, builtins.TimeoutError)
        assert db.User.count() == 0  # the pool connects again


def test_unsupported_for_count_with_a_where(db):
    with pytest.raises(kvorm.Unsupported):
        db.User.count(where={"email": "a@example.com"})


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
