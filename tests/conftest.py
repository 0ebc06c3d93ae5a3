"""Shared fixtures: a real filehub app on a real socket, on SQLite or PostgreSQL.

Select the database with FILEHUB_TEST_DB=sqlite|postgresql (scripts/test runs both).
"""

from __future__ import annotations

import contextlib

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from filehub.errors import Conflict
from filehub.settings import Settings
from filehub.web import keys
from filehub.web.app import create_app
from tests.support.databases import backend, fresh_database_url
from tests.support.tusclient import Api


def pytest_report_header(config: pytest.Config) -> str:
    from tests.support.objectstores import storage_backend

    return f"filehub test database: {backend()}, storage: {storage_backend()}"


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database_url(tmp_path) as url:
        yield url


@pytest.fixture
def make_settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    # FILEHUB_TEST_STORAGE=local|s3: a folder in tmp_path, or a fresh prefix in the
    # session's SeaweedFS bucket (started on first use).
    from tests.support.objectstores import storage_settings

    storage = storage_settings(request.config, tmp_path)

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            **storage,
            "reaper_interval": timedelta(hours=1),
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def server_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Storage environment for `filehub serve` subprocesses (S3 when FILEHUB_TEST_STORAGE=s3)."""
    from tests.support.objectstores import storage_env

    return storage_env(request.config)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(settings))


UserFactory = Callable[..., Awaitable[Api]]


@pytest.fixture
def make_user(client: TestClient) -> UserFactory:
    """Creates an organisation (if new), a user in it and a token; returns an Api for them."""
    counter = iter(range(1_000_000))

    async def make(org: str = "Met Police", kind: str = "police", lifetime: timedelta = timedelta(hours=1)) -> Api:
        accounts = client.app[keys.ACCOUNTS]
        with contextlib.suppress(Conflict):  # the organisation exists already
            await accounts.create_org(org, kind)
        email = f"user{next(counter)}@{org.replace(' ', '').lower()}.example"
        await accounts.create_user(email, org)
        token, _ = await accounts.create_token(email, lifetime)
        return Api(client, token)

    return make


@pytest.fixture
async def api(make_user: UserFactory) -> Api:
    return await make_user()
