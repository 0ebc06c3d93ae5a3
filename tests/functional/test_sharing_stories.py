"""Stories over HTTP: a prosecutor discloses one bundle to a defence firm; the firm's members
download those files and nothing else; the grant expires or is revoked with effect on the
very next request, on any instance, and a download in progress stops at its next block."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from filehub.settings import Settings
from filehub.web.app import create_app
from tests.support.world import NOW, Caller, World, build


@pytest.fixture
async def world(client: TestClient) -> World:
    return await build(client)


async def visible_files(caller: Caller) -> set[str]:
    return {item["id"] for item in (await caller.call("GET", "/api/v1/files?limit=200"))["items"]}


async def status(caller: Caller, path: str) -> int:
    return (await caller.request("GET", path)).status


async def test_the_defence_firm_downloads_the_disclosed_bundle_and_nothing_else(world: World) -> None:
    f1, f2, f3 = (world.ids[f] for f in ("f1", "f2", "f3"))
    for member in ("defence", "smith_admin"):  # the grant names the whole firm
        caller = world[member]
        assert await visible_files(caller) == {f1, f2}
        for file_id, byte in ((f1, b"1"), (f2, b"2")):
            response = await caller.request("GET", f"/api/v1/files/{file_id}/content")
            assert response.status == 200 and await response.read() == byte * 1024
        assert await status(caller, f"/api/v1/files/{f3}") == 404  # unused material: not even its name
        assert await status(caller, f"/api/v1/files/{f3}/content") == 404
        assert await status(caller, f"/api/v1/cases/{world.ids['c1']}") == 404
        assert await status(caller, f"/api/v1/bundles/{world.ids['b2']}") == 404
        bundles = (await caller.call("GET", "/api/v1/bundles"))["items"]
        assert [b["id"] for b in bundles] == [world.ids["b1"]]
        assert bundles[0]["permissions"] == ["can_view", "can_download"]
        listed = (await caller.call("GET", f"/api/v1/bundles/{world.ids['b1']}/files"))["items"]
        assert {f["id"] for f in listed} == {f1, f2}
        assert {f["exhibit_ref"] for f in listed} == {"JD/1", "JD/2"}
    for stranger in ("other_defence", "expired", "revoked", "blocked", "colleague", "outsider"):
        assert await visible_files(world[stranger]) == set(), stranger
        assert await status(world[stranger], f"/api/v1/files/{f1}/content") == 404, stranger


async def test_the_court_views_the_trial_bundle_but_downloads_nothing(world: World) -> None:
    court, f2 = world["court"], world.ids["f2"]
    assert await visible_files(court) == {f2}
    assert (await court.call("GET", f"/api/v1/files/{f2}"))["permissions"] == ["can_view"]
    assert await status(court, f"/api/v1/files/{f2}/content") == 403


async def test_revoking_the_grant_counts_on_the_next_request(world: World) -> None:
    defence, prosecutor, f1 = world["defence"], world["prosecutor"], world.ids["f1"]
    b1 = world.ids["b1"]
    grants = (await prosecutor.call("GET", f"/api/v1/bundles/{b1}/grants"))["items"]
    smith = next(g for g in grants if g["subject_id"] == world.orgs["smith"])
    assert await status(defence, f"/api/v1/files/{f1}/content") == 200
    await prosecutor.call("DELETE", f"/api/v1/bundles/{b1}/grants/{smith['id']}", expect=204)
    assert await status(defence, f"/api/v1/files/{f1}/content") == 404
    assert await visible_files(defence) == set()
    assert (await prosecutor.call("GET", f"/api/v1/bundles/{b1}/grants"))["items"] == [
        g for g in grants if g["id"] != smith["id"]
    ]


async def test_a_grant_expires_at_its_fixed_instant(world: World) -> None:
    jones, f1 = world["other_defence"], world.ids["f1"]
    expires = NOW() + timedelta(seconds=1.5)
    await world.grant("prosecutor", "b1", "defence", "organisation", world.orgs["jones"],
                      expires_at=expires.isoformat())
    assert await status(jones, f"/api/v1/files/{f1}/content") == 200
    await asyncio.sleep(max(0.0, (expires - NOW()).total_seconds()) + 0.05)
    assert await status(jones, f"/api/v1/files/{f1}/content") == 404
    assert await visible_files(jones) == set()


async def test_a_grant_not_yet_valid_counts_from_its_start(world: World) -> None:
    jones, f1 = world["other_defence"], world.ids["f1"]
    starts = NOW() + timedelta(seconds=1)
    await world.grant("prosecutor", "b1", "defence", "user", world["other_defence"].user_id or "",
                      not_before=starts.isoformat())
    assert await status(jones, f"/api/v1/files/{f1}") == 404
    await asyncio.sleep(max(0.0, (starts - NOW()).total_seconds()) + 0.05)
    assert await status(jones, f"/api/v1/files/{f1}") == 200


async def test_a_download_in_progress_stops_at_its_next_block(world: World) -> None:
    big = bytes(range(256)) * (32 * 4096)  # 32 MiB: far more than the socket buffers hold
    _, file_id = await world["custodian"].upload(big, world.ids["c1"], filename="cctv.mp4")
    b1 = world.ids["b1"]
    await world["prosecutor"].call("POST", f"/api/v1/bundles/{b1}/files", {"file_id": file_id}, 204)
    grants = (await world["prosecutor"].call("GET", f"/api/v1/bundles/{b1}/grants"))["items"]
    smith = next(g for g in grants if g["subject_id"] == world.orgs["smith"])

    received = 0
    response = await world["defence"].request("GET", f"/api/v1/files/{file_id}/content")
    assert response.status == 200 and response.content_length == len(big)
    with pytest.raises(aiohttp.ClientPayloadError):
        async for chunk in response.content.iter_chunked(1 << 16):
            if received == 0:  # the first bytes are in: revoke now
                await world["prosecutor"].call("DELETE", f"/api/v1/bundles/{b1}/grants/{smith['id']}", expect=204)
            received += len(chunk)
    assert 0 < received < len(big) // 2


async def test_a_removed_custodian_never_sees_files_that_arrive_later(world: World) -> None:
    """The new-enemy problem: access is checked against the current tuples, not a cache."""
    c1, colleague = world.ids["c1"], world["colleague"]
    grant = await world.grant("custodian", "c1", "custodian", "user", colleague.user_id or "")
    assert await status(colleague, f"/api/v1/cases/{c1}") == 200
    await world["custodian"].call("DELETE", f"/api/v1/cases/{c1}/grants/{grant}", expect=204)
    _, late = await world["custodian"].upload(b"late evidence", c1)
    assert await status(colleague, f"/api/v1/files/{late}") == 404
    assert await status(colleague, f"/api/v1/cases/{c1}/files") == 404
    assert await visible_files(colleague) == set()


async def test_groups_nest_and_membership_changes_count_at_once(world: World) -> None:
    admin, dan = world["smith_admin"], world["defence"]
    team = (await admin.call("POST", "/api/v1/groups", {"name": "R v Doe team"}, 201))["id"]
    trainees = (await admin.call("POST", "/api/v1/groups", {"name": "Trainees"}, 201))["id"]
    await admin.call("POST", f"/api/v1/groups/{team}/members", {"group_id": trainees}, 201)
    member = await admin.call("POST", f"/api/v1/groups/{trainees}/members", {"user_id": dan.user_id}, 201)
    b2 = world.ids["b2"]
    await world.grant("prosecutor", "b2", "downloader", "group", team)
    f2 = world.ids["f2"]
    assert (await dan.call("GET", f"/api/v1/bundles/{b2}"))["permissions"] == ["can_view", "can_download"]
    await admin.call("DELETE", f"/api/v1/groups/{trainees}/members/{member['id']}", expect=204)
    assert await status(dan, f"/api/v1/bundles/{b2}") == 404
    assert await status(dan, f"/api/v1/files/{f2}/content") == 200  # still through b1 (firm-wide)
    # a group holds its own organisation's people only
    other = await admin.call("POST", f"/api/v1/groups/{team}/members", {"user_id": world["outsider"].user_id}, 400)
    assert other["error"]["code"] == "bad_request"


async def test_a_contributor_uploads_into_the_case_and_reads_nothing(world: World) -> None:
    c1, lab = world.ids["c1"], world["spare"]
    await world.grant("custodian", "c1", "contributor", "organisation", world.orgs["lab"])
    url, file_id = await lab.upload(b"lab report", c1, filename="report.pdf")
    assert file_id is not None
    assert await status(lab, f"/api/v1/files/{file_id}") == 404
    assert await status(lab, url) == 404  # not even through its own upload URL
    assert await status(lab, f"/api/v1/cases/{c1}") == 404
    files = (await world["custodian"].call("GET", f"/api/v1/cases/{c1}/files"))["items"]
    assert file_id in {f["id"] for f in files}


async def test_uploading_into_a_case_needs_permission_on_every_patch(world: World) -> None:
    c1, colleague = world.ids["c1"], world["colleague"]
    grant = await world.grant("custodian", "c1", "custodian", "user", colleague.user_id or "")
    meta = {"Upload-Metadata": f"case {__import__('base64').b64encode(c1.encode()).decode()}"}
    created = await colleague.request("POST", "/api/v1/uploads", **{"Tus-Resumable": "1.0.0", "Upload-Length": "6"}, **meta)
    assert created.status == 201
    url = "/" + created.headers["Location"].split("://", 1)[1].split("/", 1)[1]
    headers = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}
    first = await colleague.client.patch(url, data=b"abc", headers=colleague.headers(**headers, **{"Upload-Offset": "0"}))
    assert first.status == 204
    await world["custodian"].call("DELETE", f"/api/v1/cases/{c1}/grants/{grant}", expect=204)
    second = await colleague.client.patch(url, data=b"def", headers=colleague.headers(**headers, **{"Upload-Offset": "3"}))
    assert second.status == 403
    head = await colleague.client.head(url, headers=colleague.headers(**{"Tus-Resumable": "1.0.0"}))
    assert head.status == 403
    denied = await world["prosecutor"].request("POST", "/api/v1/uploads", **{"Tus-Resumable": "1.0.0", "Upload-Length": "1"}, **meta)
    assert denied.status == 403  # views the case, may not upload into it
    hidden = await world["defence"].request("POST", "/api/v1/uploads", **{"Tus-Resumable": "1.0.0", "Upload-Length": "1"}, **meta)
    assert hidden.status == 404


async def test_revocation_reaches_every_instance_on_the_next_request(
    world: World, aiohttp_client: Any, settings: Settings
) -> None:
    other = await aiohttp_client(create_app(settings))  # a second instance on the same database
    defence = Caller(other, world["defence"].authorization)
    f1, b1 = world.ids["f1"], world.ids["b1"]
    assert await status(defence, f"/api/v1/files/{f1}/content") == 200
    grants = (await world["prosecutor"].call("GET", f"/api/v1/bundles/{b1}/grants"))["items"]
    smith = next(g for g in grants if g["subject_id"] == world.orgs["smith"])
    await world["prosecutor"].call("DELETE", f"/api/v1/bundles/{b1}/grants/{smith['id']}", expect=204)
    assert await status(defence, f"/api/v1/files/{f1}/content") == 404
    regrant: Callable[..., Any] = world.grant
    await regrant("custodian", "b1", "defence", "organisation", world.orgs["smith"])
    assert await status(defence, f"/api/v1/files/{f1}/content") == 200


async def test_hidden_objects_answer_exactly_like_missing_ones(world: World) -> None:
    """Same status and body (but for the request id) for a hidden object and a missing one."""
    defence, missing = world["defence"], "0" * 32
    hidden = {"case_id": world.ids["c1"], "bundle_id": world.ids["b2"], "file_id": world.ids["f3"]}
    templates = ["/api/v1/cases/{case_id}", "/api/v1/cases/{case_id}/files", "/api/v1/cases/{case_id}/grants",
                 "/api/v1/bundles/{bundle_id}", "/api/v1/bundles/{bundle_id}/files", "/api/v1/files/{file_id}",
                 "/api/v1/files/{file_id}/content"]

    async def answer(path: str) -> tuple[int, dict[str, Any]]:
        response = await defence.request("GET", path)
        body = await response.json()
        body.pop("request_id")
        return response.status, body

    for template in templates:
        key = template.split("{")[1].split("}")[0]
        seen = await answer(template.format(**{key: hidden[key]}))
        assert seen == await answer(template.format(**{key: missing})), template
        assert seen[0] == 404, template
