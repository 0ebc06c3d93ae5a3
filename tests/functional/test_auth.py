"""Authentication on every /api/ route; uploads and files are private to their owner."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from filehub.web import keys
from tests.conftest import UserFactory
from tests.support.tusclient import TUS, Api

API_ROUTES = [
    ("POST", "/api/v1/uploads"),
    ("HEAD", "/api/v1/uploads/" + "a" * 32),
    ("PATCH", "/api/v1/uploads/" + "a" * 32),
    ("DELETE", "/api/v1/uploads/" + "a" * 32),
    ("GET", "/api/v1/uploads/" + "a" * 32),
    ("GET", "/api/v1/files"),
    ("GET", "/api/v1/files/" + "a" * 32),
    ("GET", "/api/v1/files/" + "a" * 32 + "/content"),
    ("GET", "/api/v1/nonexistent"),
]


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer fh_not-a-real-token", "Basic dXNlcjpwYXNz"])
async def test_api_routes_need_a_valid_bearer_token(
    client: TestClient, method: str, path: str, authorization: str | None
) -> None:
    headers = dict(TUS)
    if authorization:
        headers["Authorization"] = authorization
    response = await client.request(method, path, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if method != "HEAD":
        assert (await response.json())["error"]["code"] == "unauthenticated"


async def test_expired_token_is_refused(make_user: UserFactory) -> None:
    api = await make_user(lifetime=timedelta(seconds=1))
    assert (await api.get("/api/v1/files")).status == 200
    await asyncio.sleep(1.2)
    response = await api.get("/api/v1/files")
    assert response.status == 401
    assert (await response.json())["error"]["message"] == "token expired"


async def test_revoked_token_is_refused_on_the_next_request(client: TestClient, api: Api) -> None:
    assert (await api.get("/api/v1/files")).status == 200
    assert await client.app[keys.ACCOUNTS].revoke_token(api.token)
    assert (await api.get("/api/v1/files")).status == 401


async def test_tokens_are_stored_hashed(client: TestClient, api: Api) -> None:
    from sqlalchemy import text

    async with client.app[keys.ENGINE].connect() as connection:
        stored = [row[0] for row in await connection.execute(text("SELECT token_hash FROM api_tokens"))]
    assert stored and api.token not in stored
    assert all(len(value) == 64 for value in stored)


async def test_another_users_upload_is_indistinguishable_from_a_missing_one(
    api: Api, make_user: UserFactory
) -> None:
    url = await api.create_url(6)
    await api.patch(url, 0, b"abc")
    stranger = await make_user(org="Defence Firm", kind="defence")
    missing = "/api/v1/uploads/" + "b" * 32
    for target in (url, missing):
        assert (await stranger.head(target)).status == 404
        assert (await stranger.patch(target, 3, b"def")).status == 404
        assert (await stranger.client.delete(target, headers=stranger.headers())).status == 404
        assert (await stranger.get(target)).status == 404
    assert (await api.head(url)).headers["Upload-Offset"] == "3"
    done = await api.patch(url, 3, b"def")
    file_id = done.headers["Filehub-File-Id"]
    assert (await stranger.get(f"/api/v1/files/{file_id}")).status == 404
    assert (await stranger.get(f"/api/v1/files/{file_id}/content")).status == 404
    assert (await (await stranger.get("/api/v1/files")).json())["items"] == []


async def test_probes_are_open(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"database": "ok", "storage": "ok"}
    metrics = await client.get("/metrics")
    assert metrics.status == 200
    assert "filehub_http_requests_total" in await metrics.text()


async def test_metrics_count_durable_upload_bytes(client: TestClient, api: Api) -> None:
    url = await api.create_url(10)
    await api.patch(url, 0, b"0123456789")
    text = await (await client.get("/metrics")).text()
    assert "filehub_upload_bytes_total 10.0" in text.splitlines()


async def test_errors_are_json_with_a_request_id(api: Api) -> None:
    response = await api.client.get("/api/v1/files/not-an-id", headers={"Authorization": f"Bearer {api.token}", "X-Request-Id": "trace-123"})
    assert response.status == 404
    body = await response.json()
    assert body["error"]["code"] == "not_found"
    assert body["request_id"] == "trace-123" == response.headers["X-Request-Id"]


async def test_a_busy_upload_is_still_404_to_a_stranger(api: Api, make_user: UserFactory) -> None:
    url = await api.create_url(1 << 20)
    release = asyncio.Event()

    async def slow():
        yield b"x" * 1024
        await release.wait()
        yield b"y" * 1024

    owner = asyncio.ensure_future(
        api.client.patch(url, headers=api.headers(**{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}), data=slow())
    )
    await asyncio.sleep(0.3)  # the owner's PATCH now holds the lock
    stranger = await make_user(org="Elsewhere")
    assert (await stranger.patch(url, 0, b"z")).status == 404
    assert (await api.patch(url, 0, b"z")).status == 423
    release.set()
    assert (await owner).status == 204
