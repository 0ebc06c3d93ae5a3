"""Several filehub instances on one PostgreSQL database and one object store."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from filehub.errors import Locked
from filehub.settings import Settings
from filehub.web import keys
from filehub.web.app import create_app
from tests.support.databases import backend
from tests.support.tusclient import OCTETS, Api

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="several instances share PostgreSQL")


@pytest.fixture
async def two_instances(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> tuple[Api, Api]:
    settings = make_settings()
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))
    accounts = first.app[keys.ACCOUNTS]
    await accounts.create_org("Force", "police")
    await accounts.create_user("pc@force.example", "Force")
    token, _ = await accounts.create_token("pc@force.example", timedelta(hours=1))
    return Api(first, token), Api(second, token)


async def test_alternate_patches_on_two_instances(two_instances: tuple[Api, Api]) -> None:
    one, two = two_instances
    data = os.urandom(5 << 20)
    url = await one.create_url(len(data))
    step = 512 << 10
    for index, offset in enumerate(range(0, len(data), step)):
        api = (one, two)[index % 2]
        head = await api.head(url)
        assert int(head.headers["Upload-Offset"]) == offset
        response = await api.patch(url, offset, data[offset : offset + step])
        assert response.status == 204, await response.text()
    assert await (await two.get(url)).read() == data
    assert await (await one.get(url)).read() == data


async def test_concurrent_patches_on_two_instances_never_interleave(two_instances: tuple[Api, Api]) -> None:
    one, two = two_instances
    size = 48 * (64 << 10)
    url = await one.create_url(size)

    async def slow(fill: bytes):
        for _ in range(48):
            yield fill * (64 << 10)
            await asyncio.sleep(0.01)

    async def patch(api: Api, fill: bytes):
        return await api.client.patch(url, headers=api.headers(**{"Upload-Offset": "0", **OCTETS}), data=slow(fill))

    first, second = await asyncio.gather(patch(one, b"1"), patch(two, b"2"))
    assert sorted([first.status, second.status]) == [204, 423]
    body = await (await two.get(url)).read()
    assert body in (b"1" * size, b"2" * size)


async def test_only_one_reaper_runs_at_a_time(two_instances: tuple[Api, Api]) -> None:
    one, two = two_instances
    url = await one.create_url(10)
    past = datetime.now(UTC) - timedelta(minutes=1)
    await one.client.app[keys.REGISTRY].advance(url.rsplit("/", 1)[1], 0, 0, past)  # expire it
    locker = one.client.app[keys.TUS].locker
    async with contextlib.AsyncExitStack() as held:
        for _ in range(50):  # each instance's reaper makes its first round at start-up
            try:
                await held.enter_async_context(locker.lock("expiry-reaper"))
                break
            except Locked:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the reaper lock was never free")
        assert await two.client.app[keys.TUS].reap_expired() == 0  # skipped, not blocked
    assert await two.client.app[keys.TUS].reap_expired() == 1  # the lock is free: reaped
    assert (await one.head(url)).status == 410
