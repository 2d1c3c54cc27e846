"""Relations through the Python package (docs/queries.md, Relations): include and relation keys of select load
belongsTo (by id and by a unique) and hasOne relations, nested, on every engine, sync and asyncio; a bad include
is BadRequest naming it; schema errors name the relation."""
import asyncio

import pytest

import kvorm


def blog_schema(namespace):
    return {"namespace": namespace, "models": {
        "User": {"fields": {"email": {"type": "string", "unique": True}, "name": {"type": "string"}},
                 "relations": {"profile": {"hasOne": "Profile"}, "posts": {"hasMany": "Post", "inverse": "author"}}},
        "Profile": {"fields": {"userId": {"type": "string"}, "bio": {"type": "string"}},
                    "relations": {"user": {"belongsTo": "User", "fields": ["userId"]}}},
        "Post": {"id": {"type": "integer", "generate": "increment"},
                 "fields": {"authorId": {"type": "string"}, "title": {"type": "string"},
                            "editorEmail": {"type": "string", "optional": True}},
                 "relations": {"author": {"belongsTo": "User", "fields": ["authorId"]},
                               "editor": {"belongsTo": "User", "fields": ["editorEmail"],
                                          "references": ["email"]}}}}}


@pytest.fixture
def blog(url, namespace):
    with kvorm.open(url, schema=blog_schema(namespace)) as db:
        ann = db.User.create(data={"email": "ann@x.io", "name": "Ann"})
        bob = db.User.create(data={"email": "bob@x.io", "name": "Bob"})
        db.Profile.create(data={"userId": ann["id"], "bio": "hi"})
        db.Post.create(data={"authorId": ann["id"], "title": "a1", "editorEmail": "bob@x.io"})
        db.Post.create(data={"authorId": bob["id"], "title": "b1"})
        yield db, ann, bob


def test_include_loads_belongs_to_and_has_one_nested(blog):
    db, ann, bob = blog
    posts = db.Post.find_many(order_by={"id": "asc"},
                              select={"title": True, "author": {"select": {"name": True},
                                                                "include": {"profile": {"select": {"bio": True}}}}},
                              include={"editor": {"select": {"email": True}}})
    assert posts == [{"title": "a1", "author": {"name": "Ann", "profile": {"bio": "hi"}}, "editor": {"email": "bob@x.io"}},
                     {"title": "b1", "author": {"name": "Bob", "profile": None}, "editor": None}]


def test_find_unique_and_find_first_take_include(blog):
    db, ann, _ = blog
    user = db.User.find_unique(where={"email": "ann@x.io"}, include={"profile": True})
    assert user["id"] == ann["id"] and user["profile"]["bio"] == "hi" and user["profile"]["userId"] == ann["id"]
    assert db.User.find_unique_or_throw(where={"id": ann["id"]}, select={"profile": {"select": {"bio": True}}}) == \
        {"profile": {"bio": "hi"}}
    assert db.Post.find_first(where={"title": "b1"}, select={"author": {"select": {"email": True}}}) == \
        {"author": {"email": "bob@x.io"}}
    assert db.Post.find_first_or_throw(where={"title": "a1"}, include={"author": True})["author"]["name"] == "Ann"


def test_include_through_asyncio(url, namespace):
    async def main():
        db = await kvorm.aio.open(url, schema=blog_schema(namespace))
        try:
            ann = await db.User.create(data={"email": "ann@x.io", "name": "Ann"})
            await db.Post.create(data={"authorId": ann["id"], "title": "a1"})
            rows = await db.Post.find_many(select={"title": True, "author": {"select": {"name": True}}})
            one = await db.User.find_unique(where={"id": ann["id"]}, include={"profile": True})
            return rows, one
        finally:
            await db.close()
    rows, one = asyncio.run(main())
    assert rows == [{"title": "a1", "author": {"name": "Ann"}}]
    assert one["profile"] is None


def test_has_many_loads_each_parents_records_with_its_where_order_and_window(blog):
    db, ann, bob = blog
    for i in range(4):
        db.Post.create(data={"authorId": ann["id"], "title": "x%d" % i})
    users = db.User.find_many(order_by={"email": "asc"},
                              select={"name": True, "posts": {"select": {"title": True}, "where": {"title": {"startsWith": "x"}},
                                                              "orderBy": {"title": "desc"}, "take": 2}})
    assert users == [{"name": "Ann", "posts": [{"title": "x3"}, {"title": "x2"}]}, {"name": "Bob", "posts": []}]
    one = db.User.find_unique(where={"id": bob["id"]}, include={"posts": {"include": {"author": {"select": {"name": True}}}}})
    assert [(p["title"], p["author"]["name"]) for p in one["posts"]] == [("b1", "Bob")]


def test_a_cursor_walks_every_parents_records_page_by_page(blog):
    db, ann, _ = blog
    for i in range(5):
        db.Post.create(data={"authorId": ann["id"], "title": "x%d" % i})
    seen, cursor = [], None
    while True:
        page = {"select": {"title": True, "id": True}, "orderBy": {"title": "asc"}, "take": 2}
        if cursor is not None:
            page.update(cursor={"id": cursor}, skip=1)
        user = db.User.find_unique(where={"id": ann["id"]}, select={"posts": page})
        if not user["posts"]:
            break
        seen += [p["title"] for p in user["posts"]]
        cursor = user["posts"][-1]["id"]
    assert seen == ["a1", "x0", "x1", "x2", "x3", "x4"]


def test_order_by_a_relations_field_and_a_relations_count(blog):
    db, ann, bob = blog
    db.Post.create(data={"authorId": bob["id"], "title": "b2"})
    posts = db.Post.find_many(order_by=[{"author": {"name": "desc"}}, {"title": "asc"}], select={"title": True})
    assert [p["title"] for p in posts] == ["b1", "b2", "a1"]
    users = db.User.find_many(order_by={"posts": {"_count": "desc"}}, select={"name": True})
    assert [u["name"] for u in users] == ["Bob", "Ann"]
    with pytest.raises(kvorm.BadRequest, match="order by its count"):
        db.User.find_many(order_by={"posts": "asc"})


def test_a_bad_include_is_bad_request_naming_it(blog):
    db, _, _ = blog
    with pytest.raises(kvorm.BadRequest, match='"nope" is not a relation of Post'):
        db.Post.find_many(include={"nope": True})
    with pytest.raises(kvorm.BadRequest, match='not "cursor"'):
        db.Post.find_many(include={"author": {"cursor": {"id": 1}}})
    with pytest.raises(kvorm.BadRequest, match="not \"where\""):
        db.Post.find_unique(where={"id": 1}, include={"author": {"where": {}}})


def test_a_relation_that_does_not_resolve_is_a_schema_error(url, namespace):
    schema = blog_schema(namespace)
    del schema["models"]["User"]["relations"]["posts"]["inverse"]
    schema["models"]["Post"]["relations"]["editor"]["references"] = ["name"]
    with pytest.raises(kvorm.SchemaError, match="Post.editor.*unique"):
        kvorm.open(url, schema=schema)


def shop_schema(namespace):
    schema = blog_schema(namespace)
    schema["models"]["Post"]["relations"]["author"]["onDelete"] = "cascade"
    return schema


def test_a_foreign_key_that_names_no_record_is_a_relation_error_and_writes_nothing(url, namespace):
    with kvorm.open(url, schema=shop_schema(namespace)) as db:
        with pytest.raises(kvorm.RelationError, match='no User record has the id.*"ghost"') as err:
            db.Post.create(data={"authorId": "ghost", "title": "t"})
        assert (err.value.model, err.value.fields, err.value.retryable) == ("Post", ["authorId"], False)
        assert isinstance(err.value, kvorm.Error)
        ann = db.User.create(data={"email": "ann@x.io", "name": "Ann"})
        with pytest.raises(kvorm.RelationError):
            db.Post.create_many(data=[{"authorId": ann["id"], "title": "a"}, {"authorId": ann["id"], "title": "b",
                                                                             "editorEmail": "zed@x.io"}])
        assert db.Post.count() == 0
        post = db.Post.create(data={"authorId": ann["id"], "title": "a", "editorEmail": "ann@x.io"})
        with pytest.raises(kvorm.RelationError):
            db.Post.update(where={"id": post["id"]}, data={"authorId": "ghost"})
        assert db.Post.find_unique(where={"id": post["id"]})["authorId"] == ann["id"]


def test_a_delete_restricts_cascades_and_sets_null_as_the_relations_say(url, namespace):
    with kvorm.open(url, schema=shop_schema(namespace)) as db:
        ann = db.User.create(data={"email": "ann@x.io", "name": "Ann"})
        bob = db.User.create(data={"email": "bob@x.io", "name": "Bob"})
        db.Profile.create(data={"userId": bob["id"], "bio": "b"})
        db.Post.create(data={"authorId": ann["id"], "title": "a1"})
        kept = db.Post.create(data={"authorId": bob["id"], "title": "b1", "editorEmail": "ann@x.io"})
        # bob's profile restricts his delete (onDelete restrict, the default of a required key)
        with pytest.raises(kvorm.RelationError, match="Profile.user.*onDelete restrict"):
            db.User.delete(where={"id": bob["id"]})
        assert db.User.count() == 2
        # ann's post cascades; the post she edited keeps going, without its editor
        assert db.User.delete(where={"email": "ann@x.io"})["id"] == ann["id"]
        assert db.Post.find_many(select={"id": True, "editorEmail": True}) == [{"id": kept["id"], "editorEmail": None}]
        assert all(getattr(db, m).check()["ok"] for m in ("User", "Profile", "Post"))


def test_a_cascade_over_the_atomic_bound_goes_in_chunks_when_asked(url, namespace):
    with kvorm.open(url, schema=shop_schema(namespace)) as db:
        bound = db.capabilities["atomicManyLimit"]
        ann = db.User.create(data={"email": "ann@x.io", "name": "Ann"})
        for start in range(0, bound + 1, 1000):
            db.Post.create_many(data=[{"authorId": ann["id"], "title": "p%d" % i}
                                      for i in range(start, min(bound + 1, start + 1000))])
        with pytest.raises(kvorm.RelationError, match="inChunks"):
            db.User.delete(where={"id": ann["id"]})
        assert db.Post.count() == bound + 1
        with pytest.raises(kvorm.BadRequest, match="inChunks"):
            db.User.delete(where={"id": ann["id"]}, in_chunks="yes")
        assert db.User.delete(where={"id": ann["id"]}, in_chunks=True)["email"] == "ann@x.io"
        assert (db.User.count(), db.Post.count()) == (0, 0)


def test_referential_actions_through_asyncio(url, namespace):
    async def main():
        db = await kvorm.aio.open(url, schema=shop_schema(namespace))
        try:
            ann = await db.User.create(data={"email": "ann@x.io", "name": "Ann"})
            await db.Post.create_many(data=[{"authorId": ann["id"], "title": "p%d" % i} for i in range(5)])
            try:
                await db.Post.create(data={"authorId": "ghost", "title": "x"})
            except kvorm.RelationError as e:
                refused = e.code
            deleted = await db.User.delete_many(where={})
            return refused, deleted, await db.Post.count()
        finally:
            await db.close()
    assert asyncio.run(main()) == ("RELATION", {"count": 1}, 0)


def test_relation_filters_select_by_the_related_records(blog):
    db, ann, bob = blog
    names = lambda where: [u["name"] for u in db.User.find_many(where=where, order_by={"name": "asc"})]
    assert names({"posts": {"some": {"title": "a1"}}}) == ["Ann"]
    assert names({"posts": {"every": {"editorEmail": None}}}) == ["Bob"]
    assert names({"profile": {"is": None}}) == ["Bob"]
    assert [p["title"] for p in db.Post.find_many(where={"author": {"is": {"name": "Bob"}}})] == ["b1"]
    assert db.Post.count(where={"editor": {"isNot": None}}) == 1
    with pytest.raises(kvorm.BadRequest, match="User.posts.*some"):
        db.User.find_many(where={"posts": {"is": {}}})
