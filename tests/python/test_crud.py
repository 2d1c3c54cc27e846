"""Every op of the request protocol through the model accessors."""
import datetime
import decimal

import pytest

import kvorm


def make_user(db, email="ann@example.com", **extra):
    return db.User.create(data={"email": email, "name": "Ann", **extra})


def test_create_returns_the_record_with_id_and_defaults(db):
    user = make_user(db, age=31)
    assert len(user["id"]) == 26
    assert user["email"] == "ann@example.com" and user["age"] == 31
    assert user["role"] == "member" and user["balance"] == decimal.Decimal("0") and user["active"] is True
    assert user["score"] == 0.0 and user["profile"] is None and user["avatar"] is None and user["orgId"] is None
    assert isinstance(user["createdAt"], datetime.datetime) and user["createdAt"].tzinfo is not None


def test_records_are_plain_dicts(db):
    assert type(make_user(db)) is dict


def test_find_unique_by_id_by_unique_field_and_by_compound_unique(db):
    user = make_user(db, orgId="o1")
    assert db.User.find_unique(where={"id": user["id"]}) == user
    assert db.User.find_unique(where={"email": "ann@example.com"}) == user
    assert db.User.find_unique(where={"orgId_email": {"orgId": "o1", "email": "ann@example.com"}}) == user
    assert db.User.find_unique(where={"orgId": "o1", "email": "ann@example.com"}) == user


def test_find_unique_of_a_missing_record_is_none(db):
    assert db.User.find_unique(where={"email": "nobody@example.com"}) is None


def test_find_unique_or_throw_raises_not_found(db):
    with pytest.raises(kvorm.NotFound) as e:
        db.User.find_unique_or_throw(where={"email": "nobody@example.com"})
    assert e.value.code == "NOT_FOUND" and e.value.model == "User" and e.value.op == "findUniqueOrThrow"


def test_select_limits_the_fields_and_can_add_the_version(db):
    user = make_user(db)
    assert db.User.find_unique(where={"id": user["id"]}, select={"email": True, "$version": True}) == {
        "email": "ann@example.com", "$version": 1}


def test_update_changes_given_fields_and_bumps_the_version(db):
    user = make_user(db, age=31)
    updated = db.User.update(where={"id": user["id"]}, data={"age": 32, "orgId": None})
    assert updated["age"] == 32 and updated["name"] == "Ann"
    assert db.User.find_unique(where={"id": user["id"]}, select={"$version": True}) == {"$version": 2}


def test_update_with_if_version(db):
    user = make_user(db)
    db.User.update(where={"id": user["id"]}, data={"age": 1}, if_version=1)
    with pytest.raises(kvorm.Conflict):
        db.User.update(where={"id": user["id"]}, data={"age": 2}, if_version=1)
    assert db.User.find_unique(where={"id": user["id"]})["age"] == 1


def test_upsert_creates_then_updates(db):
    where = {"email": "bob@example.com"}
    created = db.User.upsert(where=where, create={"email": "bob@example.com", "name": "Bob"}, update={"name": "B"})
    assert created["name"] == "Bob"
    updated = db.User.upsert(where=where, create={"email": "bob@example.com", "name": "Bob"}, update={"name": "B"})
    assert updated["id"] == created["id"] and updated["name"] == "B"


def test_delete_returns_the_record_and_removes_it(db):
    user = make_user(db)
    assert db.User.delete(where={"id": user["id"]}) == user
    assert db.User.find_unique(where={"id": user["id"]}) is None
    with pytest.raises(kvorm.NotFound):
        db.User.delete(where={"id": user["id"]})


def test_delete_with_if_version(db):
    user = make_user(db)
    with pytest.raises(kvorm.Conflict):
        db.User.delete(where={"id": user["id"]}, if_version=5)
    assert db.User.delete(where={"id": user["id"]}, if_version=1)["id"] == user["id"]


def test_count(db):
    assert db.User.count() == 0
    make_user(db, "a@example.com")
    make_user(db, "b@example.com")
    assert db.User.count() == 2
    assert db.User.count(where={}) == 2


def test_integer_ids_are_generated(db):
    assert [db.Counter.create(data={"label": x})["id"] for x in "abc"] == [1, 2, 3]


def test_generic_call_sends_any_op_by_its_protocol_name(db):
    user = make_user(db)
    assert db.User.call("findUnique", where={"id": user["id"]}) == user
    assert db.User.call("count") == 1


def test_snake_case_names_map_to_the_protocol(db):
    user = make_user(db)
    # Not an explicit method: find_unique_or_throw is also reachable generically, as future ops will be.
    assert db.User.__getattr__("find_unique_or_throw")(where={"id": user["id"]}) == user
    assert db.User.call("update", where={"id": user["id"]}, data={"age": 3}, if_version=1)["age"] == 3


def test_unknown_op_is_bad_request(db):
    with pytest.raises(kvorm.BadRequest) as e:
        db.User.find_lots(where={})  # any other name goes as its camelCase op
    assert "findLots" in e.value.message


def test_unknown_argument_is_bad_request(db):
    with pytest.raises(kvorm.BadRequest) as e:
        db.User.call("findUnique", where={"email": "a@example.com"}, order_by={"email": "asc"})
    assert "orderBy" in e.value.message


def test_unknown_model_is_attribute_error_naming_the_models(db):
    with pytest.raises(AttributeError, match="Nope.*Counter, User"):
        db.Nope
    with pytest.raises(KeyError):
        db["Nope"]


def test_models_by_item_and_list(db):
    assert db["User"] is db.User
    assert set(db.models) == {"User", "Counter"}


def test_a_model_named_like_a_db_attribute_is_reached_by_item(url, namespace):
    schema = {"namespace": namespace, "models": {"close": {"fields": {"n": {"type": "integer"}}},
                                                  "Item": {"fields": {"n": {"type": "integer"}}}}}
    with kvorm.open(url, schema=schema) as db:
        assert callable(db.close) and not isinstance(db.close, kvorm.Model)  # the method stays the method
        assert db["close"].create(data={"n": 1})["n"] == 1
        assert db.Item is db["Item"] and "Item" in vars(db)  # a plain attribute: no __getattr__ per call


def test_find_unique_with_a_value_that_cannot_be_sent_names_it(db):
    with pytest.raises(kvorm.ValidationError) as e:
        db.User.find_unique(where={"id": 1 << 70})
    assert e.value.fields == ["id"] and "int64" in e.value.message
    with pytest.raises(kvorm.BadRequest):
        db.User.find_unique(where=None)


def test_capabilities_is_a_dict(db, engine):
    caps = db.capabilities
    assert caps["engine"] == engine and caps["uniqueConstraints"] is True
    assert caps["snapshotReads"] is (engine == "lmdb")  # LMDB reads a query's pages in one read transaction
    assert {"create", "findUnique", "update", "upsert", "delete", "count"} <= set(caps["ops"])


def test_schema_as_path_json_text_and_dict(server, schema, tmp_path):
    import json
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    for source in (str(path), path, json.dumps(schema), schema):
        with kvorm.open(server.url, schema=source) as db:
            assert set(db.models) == {"User", "Counter"}
            assert db.User.count() == 0


def test_unix_socket_and_options(server, schema):
    with kvorm.open(server.unix_url, schema=schema, connect_timeout_ms=500, command_timeout_ms=1000,
                    pool_size=2) as db:
        user = make_user(db)
        assert db.User.find_unique(where={"id": user["id"]}) == user


def test_invalid_option_value_is_rejected(server, schema):
    with pytest.raises(ValueError, match="pool_size"):
        kvorm.open(server.url, schema=schema, pool_size=0)
