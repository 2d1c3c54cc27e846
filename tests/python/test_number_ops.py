"""Atomic number operations in update data: increment, decrement, multiply, divide and set, applied to the stored
value inside the write, so that threads incrementing one counter lose nothing (docs/queries.md)."""
import threading
from decimal import Decimal

import pytest

import kvorm

MODELS = {
    "Room": {"fields": {"name": {"type": "string", "unique": True},
                        "posts": {"type": "integer", "default": 0},
                        "score": {"type": "float", "default": 0, "index": True},
                        "balance": {"type": "decimal", "default": "0"}}}}


@pytest.fixture
def rooms(url, namespace):
    with kvorm.open(url, schema={"namespace": namespace, "models": MODELS}, pool_size=8) as db:
        yield db


def test_each_operation_applies_to_the_stored_value(rooms):
    room = rooms.Room.create(data={"name": "lobby", "posts": 5, "score": 1.5, "balance": Decimal("10.25")})
    out = rooms.Room.update(where={"id": room["id"]}, data={"posts": {"increment": 3}, "score": {"multiply": 2},
                                                            "balance": {"decrement": Decimal("0.35")}})
    assert (out["posts"], out["score"], out["balance"]) == (8, 3.0, Decimal("9.9"))
    out = rooms.Room.update(where={"name": "lobby"}, data={"posts": {"divide": 3}, "balance": {"divide": 4}})
    assert (out["posts"], out["balance"]) == (2, Decimal("2.475"))
    assert rooms.Room.find_many(where={"score": {"gt": 2}}, select={"name": True}) == [{"name": "lobby"}]
    with pytest.raises(kvorm.ValidationError, match="divides by zero"):
        rooms.Room.update(where={"name": "lobby"}, data={"posts": {"divide": 0}})
    with pytest.raises(kvorm.BadRequest, match="unknown atomic operation"):
        rooms.Room.update(where={"name": "lobby"}, data={"posts": {"add": 1}})
    assert rooms.Room.find_unique(where={"name": "lobby"})["posts"] == 2


def test_eight_threads_incrementing_one_counter_lose_nothing(rooms):
    room = rooms.Room.create(data={"name": "busy"})
    errors = []

    def worker():
        try:
            for _ in range(200):
                rooms.Room.update(where={"id": room["id"]}, data={"posts": {"increment": 1}}, select={"id": True})
        except Exception as e:  # noqa: BLE001  (reported by the assert below)
            errors.append(e)
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert rooms.Room.find_unique(where={"id": room["id"]})["posts"] == 1600
    assert rooms.Room.update_many(where={}, data={"posts": {"increment": 1}}) == {"count": 1}
