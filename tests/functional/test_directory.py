"""Organisations, users, roles and groups: the operator's CLI, and organisation admins over the
API, who manage their own organisation and cannot touch another."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner, Result

from filehub.cli.main import cli
from filehub.web import keys
from filehub.web.app import create_app
from tests.support.world import Caller, World, add_people


async def run(env: dict[str, str], *args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, cli, ["admin", *args], env=env)


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"FILEHUB_DATABASE_URL": database_url, "FILEHUB_DATA_DIR": str(tmp_path / "data")}


async def ok(env: dict[str, str], *args: str) -> str:
    result = await run(env, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_operator_manages_roles_and_groups_with_effect_on_running_servers(
    env: dict[str, str], aiohttp_client: Any, make_settings: Any
) -> None:
    await ok(env, "create-org", "Kent Police", "--kind", "police")
    await ok(env, "create-org", "CPS", "--kind", "prosecution")
    for email, org in (("pc@kent.example", "Kent Police"), ("sgt@kent.example", "Kent Police"),
                       ("lawyer@cps.example", "CPS")):
        await ok(env, "create-user", email, "--org", org)
    client = await aiohttp_client(create_app(make_settings(database_url=env["FILEHUB_DATABASE_URL"])))
    accounts = client.app[keys.ACCOUNTS]
    pc, sgt = [Caller(client, f"Bearer {(await accounts.create_token(e, timedelta(hours=1)))[0]}")
               for e in ("pc@kent.example", "sgt@kent.example")]
    case = await pc.call("POST", "/api/v1/cases", {"reference": "K-1", "title": "t"}, 201)
    assert (await sgt.request("GET", f"/api/v1/cases/{case['id']}")).status == 404

    await ok(env, "set-role", "SGT@kent.example", "admin")  # admins manage their force's cases
    assert (await sgt.call("GET", "/api/v1/me"))["role"] == "admin"
    assert "can_manage" in (await sgt.call("GET", f"/api/v1/cases/{case['id']}"))["permissions"]
    await ok(env, "set-role", "sgt@kent.example", "member")
    assert (await sgt.request("GET", f"/api/v1/cases/{case['id']}")).status == 404

    await ok(env, "create-group", "Major Crimes", "--org", "Kent Police")
    await ok(env, "create-group", "Night Shift", "--org", "Kent Police")
    await ok(env, "add-member", "Night Shift", "--org", "Kent Police", "--user", "sgt@kent.example")
    await ok(env, "add-member", "Major Crimes", "--org", "Kent Police", "--group", "Night Shift")
    groups = dict(line.split("\t")[::-1] for line in (await ok(env, "list-groups", "--org", "Kent Police")).splitlines())
    await pc.call("POST", f"/api/v1/cases/{case['id']}/grants",
                  {"relation": "custodian", "subject": {"type": "group", "id": groups["Major Crimes"]}}, 201)
    assert (await sgt.request("GET", f"/api/v1/cases/{case['id']}")).status == 200  # through nested groups
    members = (await ok(env, "list-members", "Major Crimes", "--org", "Kent Police")).splitlines()
    assert [m.split("\t")[1:] for m in members] == [["group", groups["Night Shift"]]]
    await ok(env, "remove-member", "Night Shift", "--org", "Kent Police", "--user", "sgt@kent.example")
    assert (await sgt.request("GET", f"/api/v1/cases/{case['id']}")).status == 404

    foreign = await run(env, "add-member", "Night Shift", "--org", "Kent Police", "--user", "lawyer@cps.example")
    assert foreign.exit_code == 1 and "own organisation" in foreign.output
    users = (await ok(env, "list-users", "--org", "Kent Police")).splitlines()
    assert sorted(u.split("\t")[1] for u in users) == ["pc@kent.example", "sgt@kent.example"]
    assert "Kent Police\tpolice" in await ok(env, "list-orgs")
    await ok(env, "disable-user", "pc@kent.example")
    assert (await pc.request("GET", "/api/v1/me")).status == 401
    assert "disabled" in await ok(env, "list-users")


@pytest.fixture
async def world(client: TestClient) -> World:
    world = World(client)
    await add_people(world)
    return world


async def test_an_organisation_admin_manages_their_own_organisation_only(world: World) -> None:
    admin, met, smith = world["met_admin"], world.orgs["met"], world.orgs["smith"]
    new = await admin.call("POST", f"/api/v1/organisations/{met}/users", {"email": "New@met.example"}, 201)
    assert (new["email"], new["role"]) == ("new@met.example", "member")
    listed = await admin.call("GET", f"/api/v1/organisations/{met}/users")
    assert new["id"] in {u["id"] for u in listed["items"]}
    promoted = await admin.call("PATCH", f"/api/v1/users/{new['id']}", {"role": "admin"})
    assert promoted["role"] == "admin"
    colleague = world["colleague"]
    assert (await admin.call("PATCH", f"/api/v1/users/{colleague.user_id}", {"disabled": True}))["disabled"]
    assert (await colleague.request("GET", "/api/v1/me")).status == 401

    # another organisation: its users are not even found; its list and creation are refused
    assert (await admin.request("PATCH", f"/api/v1/users/{world['defence'].user_id}", json={"role": "admin"})).status == 404
    assert (await admin.request("GET", f"/api/v1/organisations/{smith}/users")).status == 403
    created = await admin.request("POST", f"/api/v1/organisations/{smith}/users", json={"email": "x@smith.example"})
    assert created.status == 403
    smith_group = await world["smith_admin"].call("POST", "/api/v1/groups", {"name": "Team"}, 201)
    assert (await admin.request("GET", f"/api/v1/groups/{smith_group['id']}")).status == 404
    added = await admin.request("POST", f"/api/v1/groups/{smith_group['id']}/members",
                                json={"user_id": world["custodian"].user_id})
    assert added.status == 404
    assert (await admin.call("GET", "/api/v1/groups"))["items"] == []
    # a member of the organisation is not its admin
    assert (await world["custodian"].request("POST", "/api/v1/groups", json={"name": "x"})).status == 403


async def test_bodies_are_validated_and_errors_are_json(world: World) -> None:
    admin, met = world["met_admin"], world.orgs["met"]
    bad = await admin.request("POST", f"/api/v1/organisations/{met}/users", json={"email": "a@b.c", "role": "god"})
    assert bad.status == 400
    body = await bad.json()
    assert body["error"]["code"] == "bad_request" and "role" in body["error"]["message"]
    extra = await admin.request("POST", "/api/v1/groups", json={"name": "g", "colour": "red"})
    assert extra.status == 400
    text = await admin.client.post("/api/v1/groups", data=b"name=g", headers=admin.headers())
    assert text.status == 415
    duplicate = await admin.request("POST", f"/api/v1/organisations/{met}/users", json={"email": "custodian@met.example"})
    assert duplicate.status == 409
    paged = await admin.request("GET", "/api/v1/organisations?limit=0")
    assert paged.status == 400
