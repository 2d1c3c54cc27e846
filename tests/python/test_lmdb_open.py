"""kvorm.open's options for the embedded store (docs/python.md): map_size, max_map_size, sync, read_only and
max_readers, each winning over the URL parameter of the same name; refused on Redis and when malformed."""
import kvorm
import pytest

from conftest import user_schema


def fill(db, n):
    """Creates records of 1000 bytes until a write fails or n were made; returns how many were made and the
    error (or None)."""
    for i in range(n):
        try:
            db.User.create(data={"email": "f%d@x.io" % i, "name": "n" * 1000})
        except kvorm.Error as e:
            return i, e
    return n, None


def test_map_size_and_sync_win_over_the_url(tmp_path, namespace):
    url = "lmdb://%s?mapsize=1048576&maxmapsize=1073741824&sync=full" % (tmp_path / "env")
    with kvorm.open(url, user_schema(namespace), map_size=65536, max_map_size=262144, sync="nometasync") as db:
        made, error = fill(db, 2000)
        assert isinstance(error, kvorm.Unavailable), error
        assert "mapsize" in str(error)
        assert 10 < made < 400  # the cap is max_map_size's, not the URL's
        assert db.User.count() == made  # the refused write left nothing


def test_read_only_opens_an_existing_store_and_refuses_writes(tmp_path, namespace):
    url = "lmdb://%s" % (tmp_path / "env")
    schema = user_schema(namespace)
    with pytest.raises(kvorm.ConnectionError, match="does not exist"):
        kvorm.open(url, schema, read_only=True)
    with kvorm.open(url + "?sync=nosync", schema) as db:
        db.User.create(data={"email": "ann@x.io", "name": "Ann"})
    with kvorm.open(url + "?readonly=0", schema, read_only=True, max_readers=16) as db:
        assert db.capabilities["readOnly"] is True
        assert db.User.find_unique(where={"email": "ann@x.io"})["name"] == "Ann"
        with pytest.raises(kvorm.Unavailable, match="read-only"):
            db.User.create(data={"email": "bob@x.io", "name": "Bob"})
        assert db.User.count() == 1


@pytest.mark.parametrize("options, message", [
    ({"map_size": 100}, "map_size"),
    ({"map_size": 1 << 20, "max_map_size": 65536}, "max_map_size"),
    ({"sync": "sometimes"}, "sync must be"),
    ({"sync": 2}, "sync must be"),
    ({"read_only": 1}, "read_only must be"),
    ({"max_readers": 0}, "max_readers must be"),
    ({"map_size": -1}, "map_size must be"),
    ({"max_map_size": True}, "max_map_size must be"),
])
def test_bad_options_are_refused_and_create_nothing(tmp_path, namespace, options, message):
    with pytest.raises((kvorm.MisuseError, ValueError), match=message):
        kvorm.open("lmdb://%s" % (tmp_path / "env"), user_schema(namespace), **options)
    assert not (tmp_path / "env").exists()


def test_the_embedded_options_are_refused_on_redis(namespace):
    # before any connection is tried: nothing listens on port 1
    with pytest.raises(kvorm.MisuseError, match="sync is an option of the embedded store"):
        kvorm.open("redis://127.0.0.1:1", user_schema(namespace), sync="nosync")


async def _aio_open(url, schema):
    async with kvorm.aio.open(url, schema, sync="nosync", map_size=1 << 20) as db:
        await db.User.create(data={"email": "a@x.io", "name": "A"})
        return await db.User.count()


def test_aio_open_takes_the_same_options(tmp_path, namespace):
    import asyncio
    assert asyncio.run(_aio_open("lmdb://%s" % (tmp_path / "env"), user_schema(namespace))) == 1
