"""A world of agencies, people, one case and its bundles, built over the real HTTP API.

Met Police investigates case c1. The CPS (the whole office) prosecutes it, one CPS lawyer
is blocked. Bundle b1 ("disclosure") is disclosed to Smith Solicitors; b2 ("trial") may be
viewed by the Crown Court. f1 is in b1, f2 in b1 and b2, f3 is unused material. Brown
Solicitors has one user whose b1 grant expired and one whose grant was revoked. A request
link into c1 exists. Accounts and tokens are made through the services (as the CLI would);
everything else goes through the API, as clients would.
"""

from __future__ import annotations

import base64
import io
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from filehub.authz.model import ObjectRef, RelationTuple, SubjectRef
from filehub.web import keys
from tests.support.tusclient import OCTETS, TUS, path_of

ORGS = {
    "met": ("Met Police", "police"),
    "kent": ("Kent Police", "police"),
    "cps": ("CPS", "prosecution"),
    "smith": ("Smith Solicitors", "defence"),
    "jones": ("Jones Solicitors", "defence"),
    "brown": ("Brown Solicitors", "defence"),
    "court": ("Crown Court", "court"),
    "lab": ("Forensic Lab", "police"),
}
# role -> (organisation, account role)
PEOPLE = {
    "custodian": ("met", "member"),
    "colleague": ("met", "member"),
    "met_admin": ("met", "admin"),
    "auditor": ("met", "auditor"),
    "prosecutor": ("cps", "member"),
    "blocked": ("cps", "member"),
    "defence": ("smith", "member"),
    "smith_admin": ("smith", "admin"),
    "other_defence": ("jones", "member"),
    "court": ("court", "member"),
    "outsider": ("kent", "member"),
    "expired": ("brown", "member"),
    "revoked": ("brown", "member"),
    "spare": ("lab", "member"),  # a grantee for grants the matrix writes; never a caller
}
ROLES = [p for p in PEOPLE if p != "spare"] + ["link", "anonymous"]
NOW = lambda: datetime.now(UTC)  # noqa: E731 - read at each use


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Caller:
    """One role's way in: a bearer token, a link token, or nothing."""

    client: TestClient
    authorization: str | None
    user_id: str | None = None

    def headers(self, **extra: str) -> dict[str, str]:
        base = {"Authorization": self.authorization} if self.authorization else {}
        return {**base, **extra}

    async def request(self, method: str, path: str, *, json: Any = None, **headers: str) -> ClientResponse:
        return await self.client.request(method, path, json=json, headers=self.headers(**headers))

    async def call(self, method: str, path: str, json: Any = None, expect: int = 200) -> Any:
        response = await self.request(method, path, json=json)
        text = await response.text()
        assert response.status == expect, f"{method} {path}: {response.status} {text}"
        return await response.json() if text and response.content_type == "application/json" else None

    async def upload(self, data: bytes, case_id: str | None = None, **metadata: str) -> tuple[str, str | None]:
        """A whole tus upload; returns (upload path, file id)."""
        pairs = dict(metadata)
        if case_id is not None:
            pairs["case"] = case_id
        meta = ",".join(f"{k} {b64(v)}" for k, v in pairs.items())
        created = await self.request("POST", "/api/v1/uploads", **TUS, **{"Upload-Length": str(len(data))},
                                     **({"Upload-Metadata": meta} if meta else {}))
        assert created.status == 201, await created.text()
        url = path_of(created.headers["Location"])
        if not data:
            return url, created.headers.get("Filehub-File-Id")
        body = io.BytesIO(data) if len(data) > 1 << 16 else data  # aiohttp warns on large raw bytes
        done = await self.client.patch(url, data=body, headers=self.headers(**TUS, **OCTETS, **{"Upload-Offset": "0"}))
        assert done.status == 204, await done.text()
        return url, done.headers.get("Filehub-File-Id")


@dataclass
class World:
    client: TestClient
    callers: dict[str, Caller] = field(default_factory=dict)
    orgs: dict[str, str] = field(default_factory=dict)  # key -> organisation id
    ids: dict[str, str] = field(default_factory=dict)  # named objects: c1, b1, f1, group, ...
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. keys a test made
    counter: itertools.count = field(default_factory=itertools.count)

    def __getitem__(self, role: str) -> Caller:
        return self.callers[role]

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.counter)}"

    async def grant(self, who: str, on: str, relation: str, subject_type: str, subject_id: str,
                    **window: str) -> str:
        kind = "cases" if on.startswith("c") else "bundles"
        body = {"relation": relation, "subject": {"type": subject_type, "id": subject_id}, **window}
        return (await self[who].call("POST", f"/api/v1/{kind}/{self.ids[on]}/grants", body, 201))["id"]


async def add_people(world: World) -> None:
    accounts = world.client.app[keys.ACCOUNTS]
    for key, (name, kind) in ORGS.items():
        world.orgs[key] = await accounts.create_org(name, kind)
    for role, (org, account_role) in PEOPLE.items():
        email = f"{role}@{org}.example"
        user_id = await accounts.create_user(email, ORGS[org][0], account_role)
        token, _ = await accounts.create_token(email, timedelta(hours=2))
        world.callers[role] = Caller(world.client, f"Bearer {token}", user_id)
    world.callers["anonymous"] = Caller(world.client, None)


async def build(client: TestClient, *, file_size: int = 1024) -> World:
    world = World(client)
    await add_people(world)
    cus = world["custodian"]
    c1 = (await cus.call("POST", "/api/v1/cases", {"reference": "URN-01", "title": "R v Doe", "require_encryption": False}, 201))["id"]
    world.ids["c1"] = c1
    await world.grant("custodian", "c1", "prosecutor", "organisation", world.orgs["cps"])
    await world.grant("custodian", "c1", "blocked", "user", world["blocked"].user_id)  # type: ignore[arg-type]
    for name in ("f1", "f2", "f3"):
        _, world.ids[name] = await cus.upload(bytes([ord(name[1])]) * file_size, c1, filename=f"{name}.bin",
                                              exhibit_ref=f"JD/{name[1]}")
    pro = world["prosecutor"]
    for bundle, files in (("b1", ("f1", "f2")), ("b2", ("f2",))):
        world.ids[bundle] = (await pro.call("POST", f"/api/v1/cases/{c1}/bundles", {"name": bundle}, 201))["id"]
        for f in files:
            await pro.call("POST", f"/api/v1/bundles/{world.ids[bundle]}/files", {"file_id": world.ids[f]}, 204)
    await world.grant("prosecutor", "b1", "defence", "organisation", world.orgs["smith"])
    await world.grant("prosecutor", "b2", "viewer", "organisation", world.orgs["court"])
    revoked = await world.grant("prosecutor", "b1", "defence", "user", world["revoked"].user_id)  # type: ignore[arg-type]
    await pro.call("DELETE", f"/api/v1/bundles/{world.ids['b1']}/grants/{revoked}", expect=204)
    await _expired_grant(world)
    link = await cus.call("POST", f"/api/v1/cases/{c1}/links", {
        "note": "Please upload the doorbell footage", "expires_at": (NOW() + timedelta(days=1)).isoformat(),
        "max_files": 100, "max_bytes": 1 << 30}, 201)
    world.ids["link"] = link["id"]
    world.callers["link"] = Caller(client, f"Link {link['token']}")
    group = await world["met_admin"].call("POST", "/api/v1/groups", {"name": "Major Crimes"}, 201)
    world.ids["met_group"] = group["id"]
    return world


async def _expired_grant(world: World) -> None:
    """The API refuses a window that has already ended, so this one is written as the
    service would have stored it a while ago: valid last week, expired yesterday."""
    authz = world.client.app[keys.AUTHZ]
    now = NOW()
    await authz.grant(
        RelationTuple("e" * 32, ObjectRef("bundle", world.ids["b1"]), "defence",
                      SubjectRef("user", world["expired"].user_id or ""),
                      not_before=now - timedelta(days=7), expires_at=now - timedelta(days=1)),
        world["prosecutor"].user_id,
    )
