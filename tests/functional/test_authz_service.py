"""authz/service.py against a real database: replicas that are never stale, versions that
never skip a late commit, one query for many concurrent checks, deep nesting denied."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from filehub.authz.model import ObjectRef, RelationTuple
from filehub.authz.service import AuthzService, Replica
from filehub.db.migrate import migrate
from filehub.db.models import RelationTupleRow
from filehub.db.session import Database

CASE = ObjectRef("case", "c1")


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[list[Database]]:
    """Three instances' connections to one database."""
    dbs = [Database(database_url) for _ in range(3)]
    await migrate(dbs[0].engine)
    yield dbs
    for db in dbs:
        await db.dispose()


def custodian(user: str, **window: datetime) -> RelationTuple:
    return RelationTuple.parse(f"case:c1#custodian@user:{user}", **window)


async def test_a_grant_and_a_revoke_on_one_instance_count_on_the_next_check_of_another(databases: list[Database]) -> None:
    one, two = AuthzService(databases[0]), AuthzService(databases[1])
    await two.start()
    grant = await one.grant(custodian("ann"), None)
    assert await two.check(CASE, "can_view", "ann")
    await one.revoke(grant.id, None)
    assert not await two.check(CASE, "can_view", "ann")
    assert await one.revoke(grant.id, None) is None  # revoking twice changes nothing


async def test_expiry_is_evaluated_at_each_check(databases: list[Database]) -> None:
    service = AuthzService(databases[0])
    soon = datetime.now(UTC) + timedelta(seconds=0.5)
    await service.grant(custodian("ann", expires_at=soon), None)
    assert await service.check(CASE, "can_view", "ann")
    await asyncio.sleep(0.6)
    assert not await service.check(CASE, "can_view", "ann")


async def test_concurrent_writers_on_two_instances_never_leave_a_replica_behind(databases: list[Database]) -> None:
    """Versions are handed out under the counter's row lock, so they become visible in order:
    a replica pulling ``version > last`` while writers commit never skips one of them."""
    writers = [AuthzService(databases[0]), AuthzService(databases[1])]
    reader = AuthzService(databases[2])
    await reader.start()
    done = asyncio.Event()

    async def keep_pulling() -> None:
        while not done.is_set():
            await reader.decision()
            await asyncio.sleep(0)

    async def write(n: int) -> None:
        service = writers[n % 2]
        grant = await service.grant(custodian(f"u{n}"), None)
        if n % 3 == 0:
            await service.revoke(grant.id, None)

    puller = asyncio.create_task(keep_pulling())
    await asyncio.gather(*(write(n) for n in range(60)))
    done.set()
    await puller
    await reader.decision()
    async with databases[2].read() as session:
        live = set(await session.scalars(select(RelationTupleRow.id).where(RelationTupleRow.revoked_at.is_(None))))
    assert {t.id for t in reader._replica.tuples} == live
    assert len(live) == 40


async def test_concurrent_checks_share_one_pull_and_none_is_answered_from_an_older_one(
    databases: list[Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = AuthzService(databases[0])
    await service.start()
    pulls = 0
    original = Replica._pull

    async def counted(self: Replica) -> None:
        nonlocal pulls
        pulls += 1
        await original(self)

    monkeypatch.setattr(Replica, "_pull", counted)
    results = await asyncio.gather(*(service.check(CASE, "can_view", "ann") for _ in range(50)))
    assert results == [False] * 50 and pulls <= 2
    await AuthzService(databases[1]).grant(custodian("ann"), None)
    assert await service.check(CASE, "can_view", "ann")  # arrived after the commit: sees it


async def test_nesting_deeper_than_the_bound_is_a_logged_deny(
    databases: list[Database], caplog: pytest.LogCaptureFixture
) -> None:
    service = AuthzService(databases[0])
    chain = [RelationTuple.parse("group:g0#member@user:ann")]
    chain += [RelationTuple.parse(f"group:g{n + 1}#member@group:g{n}#member") for n in range(40)]
    chain.append(RelationTuple.parse("case:c1#custodian@group:g40#member"))
    async with databases[0].write() as session:
        await service.writer.add(session, chain, None)
    with caplog.at_level(logging.ERROR, logger="filehub.authz"):
        assert not await service.check(CASE, "can_view", "ann")
    assert "too deep" in caplog.text


async def test_the_migration_gives_existing_users_their_organisation_tuples(database_url: str) -> None:
    db = Database(database_url)
    try:
        await migrate(db.engine, "0001")
        async with db.engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO organisations (id, name, kind, created_at) VALUES ('o1', 'Force', 'police', :now)"
            ), {"now": datetime(2026, 1, 1)})
            await connection.execute(text(
                "INSERT INTO users (id, email, org_id, role, created_at) VALUES ('u1', 'a@f.example', 'o1', 'admin', :now)"
            ), {"now": datetime(2026, 1, 1)})
        await migrate(db.engine)
        service = AuthzService(db)
        async with db.write() as session:
            await service.writer.add(session, [RelationTuple.parse("case:c1#owner_org@organisation:o1")], None)
        assert await service.check(CASE, "can_manage", "u1")  # an admin of the owning force
    finally:
        await db.dispose()
