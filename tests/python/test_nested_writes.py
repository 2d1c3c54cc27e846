"""Nested writes through the Python package (docs/queries.md, Nested writes): relation names in create and update
data make, connect, disconnect and delete related records in one all-or-nothing call, on every engine, sync and
asyncio; include shapes the result; each failure is its exception class and leaves nothing behind."""
import asyncio

import pytest

import kvorm


def team_schema(namespace):
    return {"namespace": namespace, "models": {
        "User": {"fields": {"email": {"type": "string", "unique": True}, "name": {"type": "string", "optional": True}},
                 "relations": {"posts": {"hasMany": "Post", "inverse": "author"}, "profile": {"hasOne": "Profile"},
                               "teams": {"manyToMany": "Team", "through": "Membership"}}},
        "Profile": {"fields": {"userId": {"type": "string", "optional": True}, "bio": {"type": "string"}},
                    "relations": {"user": {"belongsTo": "User", "fields": ["userId"]}}},
        "Post": {"fields": {"authorId": {"type": "string"}, "title": {"type": "string"},
                            "slug": {"type": "string", "optional": True, "unique": True}},
                 "relations": {"author": {"belongsTo": "User", "fields": ["authorId"], "onDelete": "cascade"}}},
        "Team": {"fields": {"name": {"type": "string", "unique": True}},
                 "relations": {"members": {"manyToMany": "User", "through": "Membership"}}},
        "Membership": {"fields": {"userId": {"type": "string"}, "teamId": {"type": "string"},
                                  "role": {"type": "enum", "values": ["owner", "member"], "default": "member"}},
                       "unique": [["userId", "teamId"]],
                       "relations": {"user": {"belongsTo": "User", "fields": ["userId"], "onDelete": "cascade"},
                                     "team": {"belongsTo": "Team", "fields": ["teamId"], "onDelete": "cascade"}}}}}


def counts(db):
    return [db.User.count(), db.Profile.count(), db.Post.count(), db.Team.count(), db.Membership.count()]


def test_a_create_writes_its_relations_in_one_call(url, namespace):
    with kvorm.open(url, schema=team_schema(namespace)) as db:
        db.Team.create(data={"name": "core"})
        ann = db.User.create(
            data={"email": "ann@x.io",
                  "posts": {"create": [{"title": "one", "slug": "one"}, {"title": "two"}]},
                  "profile": {"create": {"bio": "hi"}},
                  "teams": {"connect": {"name": "core", "$edge": {"role": "owner"}}, "create": {"name": "web"}}},
            include={"posts": {"orderBy": {"title": "asc"}, "select": {"title": True}}, "profile": True})
        assert ann["posts"] == [{"title": "one"}, {"title": "two"}]
        assert ann["profile"]["userId"] == ann["id"] and ann["profile"]["bio"] == "hi"
        roles = db.Membership.find_many(where={"userId": ann["id"]}, order_by={"role": "asc"}, select={"role": True})
        assert roles == [{"role": "member"}, {"role": "owner"}]  # enums sort as strings
        post = db.Post.create(data={"title": "three", "author": {"connect": {"email": "ann@x.io"}}},
                              include={"author": {"select": {"email": True}}})
        assert post["authorId"] == ann["id"] and post["author"] == {"email": "ann@x.io"}


def test_an_update_connects_updates_and_deletes_through_relations(url, namespace):
    with kvorm.open(url, schema=team_schema(namespace)) as db:
        ann = db.User.create(data={"email": "ann@x.io", "posts": {"create": [{"title": "a", "slug": "a"},
                                                                            {"title": "b", "slug": "b"}]}})
        bob = db.User.create(data={"email": "bob@x.io", "posts": {"create": {"title": "c", "slug": "c"}}})
        got = db.User.update(where={"id": ann["id"]},
                             data={"name": "Ann", "posts": {"connect": {"slug": "c"},
                                                            "update": {"where": {"slug": "a"}, "data": {"title": "A"}},
                                                            "delete": {"slug": "b"}}},
                             select={"name": True, "posts": {"orderBy": {"slug": "asc"}, "select": {"title": True}}})
        assert got == {"name": "Ann", "posts": [{"title": "A"}, {"title": "c"}]}
        assert db.Post.count(where={"authorId": bob["id"]}) == 0
        db.User.update(where={"id": ann["id"]}, data={"profile": {"upsert": {"create": {"bio": "x"}, "update": {"bio": "y"}}}})
        db.User.update(where={"id": ann["id"]}, data={"profile": {"upsert": {"create": {"bio": "x"}, "update": {"bio": "y"}}}})
        assert db.Profile.find_many(select={"bio": True}) == [{"bio": "y"}]


def test_a_failing_part_raises_its_class_and_writes_nothing(url, namespace):
    with kvorm.open(url, schema=team_schema(namespace)) as db:
        ann = db.User.create(data={"email": "ann@x.io", "profile": {"create": {"bio": "hi"}}})
        before = counts(db)
        with pytest.raises(kvorm.NotFound, match=r"data\.posts\.connect"):
            db.User.create(data={"email": "bob@x.io", "posts": {"create": {"title": "a"}, "connect": {"id": "nope"}}})
        with pytest.raises(kvorm.UniqueViolation):
            db.User.create(data={"email": "bob@x.io", "posts": {"create": [{"title": "a", "slug": "s"},
                                                                          {"title": "b", "slug": "s"}]}})
        with pytest.raises(kvorm.ValidationError):
            db.User.create(data={"email": "bob@x.io", "posts": {"create": {"title": 7}}})
        with pytest.raises(kvorm.RelationError):
            db.User.update(where={"id": ann["id"]}, data={"name": "x", "profile": {"create": {"bio": "two"}}})
        with pytest.raises(kvorm.BadRequest, match="frobnicate"):
            db.User.create(data={"email": "bob@x.io", "posts": {"frobnicate": {}}})
        assert counts(db) == before
        assert db.User.find_unique(where={"id": ann["id"]})["name"] is None


def test_nested_writes_through_asyncio(url, namespace):
    async def main():
        db = await kvorm.aio.open(url, schema=team_schema(namespace))
        try:
            ann = await db.User.create(data={"email": "ann@x.io", "teams": {"create": [{"name": "a"}, {"name": "b"}]}},
                                       include={"posts": True})
            await db.User.update(where={"id": ann["id"]}, data={"teams": {"set": [{"name": "b"}]}})
            return ann, await db.Membership.count(), await db.Team.count()
        finally:
            await db.close()
    ann, memberships, teams = asyncio.run(main())
    assert ann["posts"] == [] and memberships == 1 and teams == 2
