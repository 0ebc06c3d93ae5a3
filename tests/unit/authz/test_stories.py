"""Stateful stories on one store: every request (every chunk of a download) is checked anew."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from filehub.authz import MemoryTuples, ObjectRef, RelationTuple, check, list_objects
from tests.unit.authz.test_vectors import EXP, NOW, WORLD

DAN, JON, ANN = ObjectRef("user", "dan"), ObjectRef("user", "jon"), ObjectRef("user", "ann")
F1 = ObjectRef("file", "f1")
CHUNKS = 8


def world() -> MemoryTuples:
    return MemoryTuples((RelationTuple.parse(text, id=f"w{n}") for n, text in enumerate(WORLD)))


def grant_id(store: MemoryTuples, text: str) -> str:
    return next(t.id for t in store if str(t) == text)


def download(
    store: MemoryTuples,
    user: ObjectRef,
    *,
    at: Callable[[int], datetime] = lambda chunk: NOW,
    between: Callable[[int], None] = lambda chunk: None,
) -> int:
    """Serve chunks while the check before each one passes; return how many were served."""
    served = 0
    for chunk in range(CHUNKS):
        if not check(store, F1, "can_download", user, at(chunk)):
            break
        served += 1
        between(chunk)
    return served


def test_download_stops_at_the_next_chunk_after_revocation() -> None:
    store = world()
    grant = grant_id(store, "bundle:b1#defence@organisation:smith#member")

    def revoke_after_third(chunk: int) -> None:
        if chunk == 2:
            store.remove(grant)

    assert download(store, DAN) == CHUNKS
    assert download(store, DAN, between=revoke_after_third) == 3
    assert download(store, DAN) == 0


def test_download_stops_at_the_next_chunk_after_expiry() -> None:
    store = world()
    store.add(RelationTuple.parse("bundle:b1#defence@user:jon", id="g1", expires_at=EXP))
    minute = timedelta(minutes=1)
    assert download(store, JON, at=lambda chunk: EXP - 5 * minute + chunk * minute) == 5


def test_download_stops_when_a_block_arrives() -> None:
    store = world()

    def block_after_first(chunk: int) -> None:
        if chunk == 0:
            store.add(RelationTuple.parse("bundle:b1#blocked@user:dan", id="blk"))

    assert download(store, DAN, between=block_after_first) == 1


def test_removed_custodian_never_sees_files_that_arrive_later() -> None:
    store = world()
    assert check(store, ObjectRef("case", "c1"), "can_view", ANN, NOW)
    store.remove(grant_id(store, "case:c1#custodian@user:ann"))
    for n in range(3):
        store.add(RelationTuple.parse(f"file:new{n}#case@case:c1", id=f"new{n}"))
        store.add(RelationTuple.parse(f"file:new{n}#bundle@bundle:b1", id=f"newb{n}"))
    assert not any(check(store, ObjectRef("file", f"new{n}"), "can_view", ANN, NOW) for n in range(3))
    assert list_objects(store, "file", "can_view", ANN, NOW) == frozenset()
    # the defence, still granted b1, does see the new disclosures
    assert {"new0", "new1", "new2"} <= list_objects(store, "file", "can_download", DAN, NOW)


def test_regranting_restores_access_and_revoking_again_removes_it() -> None:
    store = world()
    grant = grant_id(store, "bundle:b1#defence@organisation:smith#member")
    removed = store.remove(grant)
    assert not check(store, F1, "can_download", DAN, NOW)
    store.add(removed)
    assert check(store, F1, "can_download", DAN, NOW)
    store.remove(grant)
    assert not check(store, F1, "can_download", DAN, NOW)
