"""``grant.expired`` events (issue 5): one per grant whose expiry passed, recorded by a sweeper
on the reaper's timer, exactly once across instances and restarts. Runs on both databases."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import text

from filehub.audit.log import AuditLog
from filehub.authz.model import ObjectRef, RelationTuple, SubjectRef
from filehub.db.session import Database
from filehub.ids import new_id
from filehub.services.grant_expiry import GrantExpiry
from filehub.settings import Settings
from filehub.web import keys
from filehub.web.app import create_app
from tests.support.world import NOW, World, build


async def expiries(client: TestClient) -> Counter[str]:
    """How many grant.expired events name each grant."""
    async with client.app[keys.ENGINE].connect() as connection:
        result = await connection.execute(text("SELECT entry FROM audit_events WHERE action = 'grant.expired'"))
        return Counter(json.loads(bytes(entry))["details"]["tuple_id"] for (entry,) in result)


async def grant(world: World, expires_in: timedelta, valid_for: timedelta = timedelta(days=7)) -> str:
    """A grant on bundle b1 to the spare user, ending ``expires_in`` from now."""
    end = NOW() + expires_in
    tuple_ = RelationTuple(new_id(), ObjectRef("bundle", world.ids["b1"]), "defence",
                           SubjectRef("user", world["spare"].user_id or ""), not_before=end - valid_for, expires_at=end)
    await world.client.app[keys.AUTHZ].grant(tuple_, world["prosecutor"].user_id)
    return tuple_.id


async def test_each_expiry_is_recorded_once_across_instances_and_restarts(client: TestClient, settings: Settings) -> None:
    world = await build(client, file_size=16)
    authz = client.app[keys.AUTHZ]
    instances = [AuditLog(Database(settings.effective_database_url)) for _ in range(2)]
    try:
        sweepers = [GrantExpiry(log.db, log) for log in instances]
        # the world's grant, expired yesterday (the app's own start-up sweep ran before it existed)
        assert sum(await asyncio.gather(*(s.sweep() for s in sweepers))) == 1
        assert await expiries(client) == Counter({"e" * 32: 1})
        assert await sweepers[0].sweep() == 0

        later = NOW() + timedelta(hours=2)
        lapses = await grant(world, timedelta(hours=1))
        revoked_early = await grant(world, timedelta(hours=1))
        await authz.revoke(revoked_early, world["prosecutor"].user_id)  # revoked before it expired: no expiry
        revoked_late = await grant(world, -timedelta(hours=1))
        await authz.revoke(revoked_late, world["prosecutor"].user_id)  # expired first, then revoked
        assert await sweepers[1].sweep() == 1  # revoked_late; `lapses` has not expired yet
        assert await sweepers[0].sweep(later) == 1  # now it has
        # committed after a sweep passed its expiry (within the slack): still recorded, once
        straggler = await grant(world, timedelta(minutes=50))
        restarted = AuditLog(Database(settings.effective_database_url))  # an instance started afresh
        try:
            assert await GrantExpiry(restarted.db, restarted).sweep(later) == 1
            assert await GrantExpiry(restarted.db, restarted).sweep(later) == 0
        finally:
            await restarted.db.dispose()
        assert await expiries(client) == Counter({"e" * 32: 1, revoked_late: 1, lapses: 1, straggler: 1})
    finally:
        for log in instances:
            await log.db.dispose()


async def test_the_reaper_timer_records_expired_grants(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    client = await aiohttp_client(create_app(make_settings(reaper_interval=timedelta(milliseconds=100))))
    world = await build(client, file_size=16)  # holds a grant that expired yesterday
    tuple_id = await grant(world, timedelta(milliseconds=300))
    for _ in range(100):
        if (await expiries(client)).keys() >= {"e" * 32, tuple_id}:
            break
        await asyncio.sleep(0.1)
    assert await expiries(client) == Counter({"e" * 32: 1, tuple_id: 1})
