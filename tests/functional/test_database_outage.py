"""Losing PostgreSQL answers 503 with Retry-After (never 500), and service resumes after."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from filehub.settings import Settings
from filehub.web import keys
from filehub.web.app import create_app
from tests.support.databases import backend
from tests.support.tcpproxy import TcpProxy
from tests.support.tusclient import Api

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="a network database to lose")


async def test_postgresql_loss_is_503_then_recovers(
    aiohttp_client: Any, make_settings: Callable[..., Settings], database_url: str
) -> None:
    parts = urlsplit(database_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    via_proxy = database_url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
    client = await aiohttp_client(create_app(make_settings(database_url=via_proxy)))
    accounts = client.app[keys.ACCOUNTS]
    await accounts.create_org("Force", "police")
    await accounts.create_user("pc@force.example", "Force")
    api = Api(client, (await accounts.create_token("pc@force.example", timedelta(hours=1)))[0])
    url = await api.create_url(10)
    assert (await api.patch(url, 0, b"01234")).status == 204

    await proxy.cut()
    for response in (await api.head(url), await api.patch(url, 5, b"56789"), await api.get("/api/v1/files")):
        assert response.status == 503, response
        assert response.headers["Retry-After"]
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert (await ready.json())["checks"]["database"] == "unavailable"

    await proxy.restore()
    assert (await api.head(url)).headers["Upload-Offset"] == "5"
    assert (await api.patch(url, 5, b"56789")).status == 204
    assert await (await api.get(url)).read() == b"0123456789"
    await proxy.cut()
