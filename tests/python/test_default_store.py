"""kvorm.open with no URL (docs/c-api.md, kvorm_open): the URL in KVORM_URL, else lmdb://kvorm-data, an
embedded store in the working directory."""
import kvorm
import pytest

from conftest import user_schema


def test_no_url_opens_kvorm_data_in_the_working_directory(tmp_path, monkeypatch, namespace):
    monkeypatch.delenv("KVORM_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    schema = user_schema(namespace)
    with kvorm.open(schema=schema) as db:
        db.User.create(data={"email": "ann@x.io", "name": "Ann"})
    assert (tmp_path / "kvorm-data").is_dir()
    with kvorm.open("lmdb://%s" % (tmp_path / "kvorm-data"), schema) as db:
        assert db.User.find_unique(where={"email": "ann@x.io"})["name"] == "Ann"


def test_no_url_opens_the_url_in_kvorm_url(tmp_path, monkeypatch, namespace):
    url = "lmdb://%s" % (tmp_path / "from-env")
    monkeypatch.setenv("KVORM_URL", url)
    monkeypatch.chdir(tmp_path)
    schema = user_schema(namespace)
    with kvorm.open(None, schema) as db:
        db.User.create(data={"email": "bob@x.io", "name": "Bob"})
    assert not (tmp_path / "kvorm-data").exists()
    with kvorm.open(url, schema) as db:
        assert db.User.count() == 1


def test_kvorm_url_may_name_a_redis_server(server, monkeypatch, namespace):
    monkeypatch.setenv("KVORM_URL", server.url)
    with kvorm.open(schema=user_schema(namespace)) as db:
        assert db.capabilities["engine"] == "redis"


def test_open_without_a_schema_is_a_type_error():
    with pytest.raises(TypeError, match="schema is required"):
        kvorm.open()
    with pytest.raises(TypeError, match="url must be a str"):
        kvorm.open(5, {"namespace": "x", "models": {}})
