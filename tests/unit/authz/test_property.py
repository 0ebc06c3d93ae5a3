"""list_objects agrees with check, and both with a naive reference, on a random world."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from filehub.authz import FILEHUB_SCHEMA, MemoryTuples, ObjectRef, check, list_objects
from filehub.authz.rules import ComputedUserset, Exclusion, Rewrite, This, TupleToUserset, Union
from tests.unit.authz.world import World, generate

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
PERMISSIONS = [
    (type_, name)
    for type_ in ("case", "bundle", "file")
    for name in FILEHUB_SCHEMA.types[type_]
    if name.startswith("can_")
]


@pytest.fixture(scope="module")
def world() -> World:
    return generate(
        seed=20250303, now=NOW, orgs=50, groups_per_org=2, cases=200, bundles_per_case=3, files_per_case=5
    )


@pytest.fixture(scope="module")
def store(world: World) -> MemoryTuples:
    return MemoryTuples(world.tuples, schema=FILEHUB_SCHEMA)


def sample_users(world: World, count: int) -> list[str]:
    """Users who hold some grant (most interesting), plus a few chosen at random."""
    rng = random.Random(7)
    named = sorted(
        {
            t.subject.id
            for t in world.tuples
            if t.subject.type == "user" and t.object.type in ("case", "bundle")
        }
    )
    return rng.sample(named, count - 3) + rng.sample(world.users, 3)


def reference(
    store: MemoryTuples, obj: ObjectRef, relation: str, user: ObjectRef, path: frozenset = frozenset()
) -> bool:
    """Zanzibar's check read literally: recurse into every userset, cut a cycle on the path."""
    if (obj, relation) in path:
        return False
    path = path | {(obj, relation)}

    def holds(rewrite: Rewrite) -> bool:
        if isinstance(rewrite, This):
            for t in store.by_object(obj, relation):
                if not t.active_at(NOW):
                    continue
                if t.subject.relation is None and (t.subject.type, t.subject.id) == (user.type, user.id):
                    return True
                if t.subject.relation is not None and reference(
                    store, t.subject.object, t.subject.relation, user, path
                ):
                    return True
            return False
        if isinstance(rewrite, ComputedUserset):
            return reference(store, obj, rewrite.relation, user, path)
        if isinstance(rewrite, TupleToUserset):
            parents = [t.subject.object for t in store.by_object(obj, rewrite.tupleset) if t.active_at(NOW)]
            return any(reference(store, parent, rewrite.computed, user, path) for parent in parents)
        if isinstance(rewrite, Union):
            return any(holds(child) for child in rewrite.children)
        assert isinstance(rewrite, Exclusion)
        return holds(rewrite.base) and not holds(rewrite.subtract)

    return holds(FILEHUB_SCHEMA.relation(obj.type, relation).rewrite)


def test_the_world_is_big_enough_to_mean_something(world: World) -> None:
    kinds = {(t.object.type, t.relation, t.subject.relation) for t in world.tuples}
    assert len(world.tuples) > 3000
    assert ("group", "member", "member") in kinds and ("bundle", "blocked", None) in kinds
    assert any(t.expires_at and t.expires_at <= NOW for t in world.tuples)
    assert any(t.not_before and t.not_before > NOW for t in world.tuples)


@pytest.mark.parametrize(("type_", "permission"), PERMISSIONS)
def test_list_objects_agrees_with_check_and_the_reference(
    world: World, store: MemoryTuples, type_: str, permission: str
) -> None:
    granted = 0
    for name in sample_users(world, 10):
        user = ObjectRef("user", name)
        listed = list_objects(store, type_, permission, user, NOW)
        checked = {i for i in world.ids[type_] if check(store, ObjectRef(type_, i), permission, user, NOW)}
        assert listed == checked, f"{name} {type_}#{permission}"
        expected = {i for i in world.ids[type_] if reference(store, ObjectRef(type_, i), permission, user)}
        assert checked == expected, f"{name} {type_}#{permission}"
        granted += len(listed)
    assert granted, f"no sampled user holds {type_}#{permission}: the world tests nothing"
