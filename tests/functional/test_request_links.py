"""Evidence request links: upload into one case with no account, read nothing, stop when revoked."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from filehub.web import keys
from tests.support.tusclient import OCTETS, TUS, path_of
from tests.support.world import NOW, Caller, World, add_people, b64


@pytest.fixture
async def world(client: TestClient) -> World:
    world = World(client)
    await add_people(world)
    case = await world["custodian"].call("POST", "/api/v1/cases", {"reference": "URN-7", "title": "R v Roe", "require_encryption": False}, 201)
    world.ids["c1"] = case["id"]
    return world


async def make_link(world: World, by: str = "custodian", **overrides: Any) -> Caller:
    body = {"note": "Doorbell footage from 12 May, please", "max_files": 3, "max_bytes": 1000,
            "expires_at": (NOW() + timedelta(days=2)).isoformat(), **overrides}
    link = await world[by].call("POST", f"/api/v1/cases/{world.ids['c1']}/links", body, 201)
    assert link["token"].startswith("fhl_") and "token" not in str(
        (await world[by].call("GET", f"/api/v1/cases/{world.ids['c1']}/links"))["items"])
    world.ids["link"] = link["id"]
    return Caller(world.client, f"Link {link['token']}")


async def create(holder: Caller, length: int | None, **headers: str) -> Any:
    extra = {"Upload-Length": str(length)} if length is not None else {"Upload-Defer-Length": "1"}
    return await holder.request("POST", "/api/v1/uploads", **TUS, **extra, **headers)


async def patch(holder: Caller, url: str, offset: int, data: bytes) -> int:
    response = await holder.client.patch(url, data=data, headers=holder.headers(**TUS, **OCTETS, **{"Upload-Offset": str(offset)}))
    return response.status


async def test_a_link_holder_uploads_into_the_case_and_reads_nothing(world: World) -> None:
    holder = await make_link(world)
    view = await holder.call("GET", "/api/v1/link")
    assert view["note"] == "Doorbell footage from 12 May, please"
    assert (view["files_left"], view["bytes_left"]) == (3, 1000)
    url, file_id = await holder.upload(b"footage", filename="door.mp4")
    assert file_id is not None
    files = (await world["custodian"].call("GET", f"/api/v1/cases/{world.ids['c1']}/files"))["items"]
    assert [(f["id"], f["filename"]) for f in files] == [(file_id, "door.mp4")]
    for path in ("/api/v1/files", f"/api/v1/files/{file_id}", f"/api/v1/files/{file_id}/content",
                 f"/api/v1/cases/{world.ids['c1']}", "/api/v1/me", "/api/v1/bundles"):
        assert (await holder.request("GET", path)).status == 401, path
    assert (await holder.request("GET", url)).status == 404  # not even the bytes it sent
    assert (await holder.call("GET", "/api/v1/link"))["files_left"] == 2


async def test_revoking_the_link_stops_an_upload_at_its_next_patch(world: World) -> None:
    holder = await make_link(world)
    url = path_of((await create(holder, 6)).headers["Location"])
    assert await patch(holder, url, 0, b"abc") == 204
    await world["custodian"].call("DELETE", f"/api/v1/cases/{world.ids['c1']}/links/{world.ids['link']}", expect=204)
    assert await patch(holder, url, 3, b"def") == 401
    assert (await holder.request("HEAD", url, **TUS)).status == 401
    assert (await create(holder, 1)).status == 401
    links = (await world["custodian"].call("GET", f"/api/v1/cases/{world.ids['c1']}/links"))["items"]
    assert links[0]["revoked"] is True and links[0]["files_used"] == 1


async def test_limits_on_files_and_bytes(world: World) -> None:
    holder = await make_link(world, max_files=2, max_bytes=10)
    assert (await create(holder, 8)).status == 201
    too_big = await create(holder, 3)
    assert too_big.status == 413
    assert (await create(holder, 2)).status == 201
    assert (await create(holder, 0)).status == 403  # no more files
    fresh = await make_link(world)
    assert (await create(fresh, None)).status == 400  # the length must be known to count it
    assert (await create(fresh, 1, **{"Upload-Concat": "partial"})).status == 403
    other = await world["custodian"].call("POST", "/api/v1/cases", {"reference": "URN-8", "title": "x", "require_encryption": False}, 201)
    elsewhere = await create(fresh, 1, **{"Upload-Metadata": f"case {b64(other['id'])}"})
    assert elsewhere.status == 404


async def test_a_link_expires(world: World) -> None:
    expires = NOW() + timedelta(seconds=1)
    holder = await make_link(world, expires_at=expires.isoformat())
    assert (await holder.request("GET", "/api/v1/link")).status == 200
    await asyncio.sleep(max(0.0, (expires - NOW()).total_seconds()) + 0.05)
    response = await holder.request("GET", "/api/v1/link")
    assert response.status == 401 and (await response.json())["error"]["message"] == "link expired"


async def test_a_link_lends_its_creators_permission_and_no_more(world: World) -> None:
    colleague = world["colleague"]
    grant = await world.grant("custodian", "c1", "custodian", "user", colleague.user_id or "")
    holder = await make_link(world, by="colleague")
    url = path_of((await create(holder, 4)).headers["Location"])
    await world["custodian"].call("DELETE", f"/api/v1/cases/{world.ids['c1']}/grants/{grant}", expect=204)
    assert await patch(holder, url, 0, b"abcd") == 403
    assert (await create(holder, 1)).status == 403
    await world.client.app[keys.ACCOUNTS].disable_user(colleague.user_id or "")
    assert (await holder.request("GET", "/api/v1/link")).status == 401  # a disabled creator's links die


async def test_credentials_are_not_interchangeable(world: World) -> None:
    holder = await make_link(world)
    link_token = (holder.authorization or "").split(" ", 1)[1]
    bearer_token = (world["custodian"].authorization or "").split(" ", 1)[1]
    as_bearer = Caller(world.client, f"Bearer {link_token}")
    assert (await as_bearer.request("GET", "/api/v1/files")).status == 401
    assert (await create(as_bearer, 1)).status == 401
    as_link = Caller(world.client, f"Link {bearer_token}")
    assert (await create(as_link, 1)).status == 401
    assert (await world["prosecutor"].request("POST", f"/api/v1/cases/{world.ids['c1']}/links", json={
        "max_files": 1, "max_bytes": 1, "expires_at": (NOW() + timedelta(days=1)).isoformat()})).status == 404
    too_long = await world["custodian"].request("POST", f"/api/v1/cases/{world.ids['c1']}/links", json={
        "max_files": 1, "max_bytes": 1, "expires_at": (NOW() + timedelta(days=365)).isoformat()})
    assert too_long.status == 400
