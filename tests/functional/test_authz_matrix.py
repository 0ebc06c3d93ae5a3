"""Every route x every role, with the expected status, from ONE table.

The world (tests/support/world.py) is built once; every cell is then one real HTTP request,
and every mismatch is reported together. A route registered in the router without a row
here fails ``test_every_route_has_a_row``, so no route ships unexamined.

Reading the expectations: 404 means "you may not even know it exists" (the same answer as
for a missing object), 403 "you see it but may not do this", 401 "no credential valid here"
(a request link is a credential for uploads and its own note only).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from filehub.crypto.keys import Identity
from tests.support import e2e
from tests.support.tusclient import OCTETS, TUS
from tests.support.world import NOW, ROLES, World, b64, build


@dataclass
class Call:
    params: dict[str, str] = field(default_factory=dict)  # path parameters
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None
    query: dict[str, str] = field(default_factory=dict)


Prepare = Callable[[World, str], Awaitable[Call]]


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # the route exactly as registered
    expect: dict[str, int]  # one status per role in ROLES
    prepare: Prepare | None = None  # builds the request for one role (fresh targets where needed)
    target: dict[str, str] = field(default_factory=dict)  # path parameter -> world.ids key

    async def call_for(self, world: World, role: str) -> Call:
        call = await self.prepare(world, role) if self.prepare else Call()
        return Call({**{p: world.ids[k] for p, k in self.target.items()}, **call.params},
                    call.json, call.headers, call.data, call.query)


def users(default: int, **statuses: int) -> dict[str, int]:
    """``default`` for every user; 401 for the link holder and the anonymous caller."""
    table = {role: default for role in ROLES} | {"link": 401, "anonymous": 401}
    return table | statuses


EVERYONE_200 = {role: 200 for role in ROLES}
EVERYONE_204 = {role: 204 for role in ROLES}
CASE_READERS = {"custodian": 200, "met_admin": 200, "prosecutor": 200}
B1_READERS = CASE_READERS | {"defence": 200, "smith_admin": 200}


def managers(status: int) -> dict[str, int]:  # case#can_manage; the prosecutor sees but may not
    return {"custodian": status, "met_admin": status, "prosecutor": 403}


def sharers(status: int) -> dict[str, int]:  # bundle#can_reshare; the defence sees but may not
    return {"custodian": status, "met_admin": status, "prosecutor": status, "defence": 403, "smith_admin": 403}


# --- request builders ---------------------------------------------------------------------------


def body(make: Callable[[World, str], Any]) -> Prepare:
    async def prepare(world: World, role: str) -> Call:
        return Call(json=make(world, role))
    return prepare


async def fresh_case_grant(world: World, role: str) -> Call:
    grant = await world.grant("custodian", "c1", "contributor", "user", world["spare"].user_id or "")
    return Call({"grant_id": grant})


async def fresh_bundle_grant(world: World, role: str) -> Call:
    grant = await world.grant("prosecutor", "b1", "viewer", "user", world["spare"].user_id or "")
    return Call({"grant_id": grant})


async def fresh_link(world: World, role: str) -> Call:
    link = await world["custodian"].call("POST", f"/api/v1/cases/{world.ids['c1']}/links", LINK_BODY(world, role), 201)
    return Call({"link_id": link["id"]})


async def fresh_upload(world: World, role: str) -> Call:
    created = await world["custodian"].request("POST", "/api/v1/uploads", **TUS, **{"Upload-Length": "5"})
    return Call({"upload_id": created.headers["Location"].rsplit("/", 1)[1]}, headers=dict(TUS))


def case_upload(world: World, role: str) -> Call:
    return Call(headers={**TUS, "Upload-Length": "3", "Upload-Metadata": f"case {b64(world.ids['c1'])}"})


async def create_in_case(world: World, role: str) -> Call:
    return case_upload(world, role)


async def empty_patch(world: World, role: str) -> Call:
    return Call(headers={**TUS, **OCTETS, "Upload-Offset": "0"}, data=b"")


async def tus_head(world: World, role: str) -> Call:
    return Call(headers=dict(TUS))


async def method_override(world: World, role: str) -> Call:
    return Call(headers={**TUS, "X-HTTP-Method-Override": "HEAD"})


def spare_file(prefix: str, fallback: str) -> Prepare:
    """Each role allowed to change b1 gets a file of its own; the others name ``fallback``."""
    async def prepare(world: World, role: str) -> Call:
        key = f"{prefix}_{role}" if f"{prefix}_{role}" in world.ids else fallback
        return Call({"file_id": world.ids[key]}, json={"file_id": world.ids[key]})
    return prepare


def LINK_BODY(world: World, role: str) -> dict[str, Any]:  # noqa: N802 - reads like a constant
    return {"note": "n", "expires_at": (NOW() + timedelta(days=1)).isoformat(), "max_files": 1, "max_bytes": 10}


async def met_event(world: World, role: str) -> Call:
    """The seq of an event about case c1 (a Met object), as the Met auditor finds it."""
    found = await world["auditor"].call("GET", f"/api/v1/audit/events?object=case:{world.ids['c1']}&limit=1")
    return Call(query={"seq": str(found["items"][0]["seq"])})


async def two_sizes(world: World, role: str) -> Call:
    return Call(query={"old": "1", "new": "2"})


AUDITORS_200 = users(403, auditor=200)  # only auditors read the log (docs/audit.md §7)

C1, B1 = {"case_id": "c1"}, {"bundle_id": "b1"}


async def mine_query(world: World, role: str) -> Call:
    return Call(query={"mine": "1"})


def new_key_body() -> dict[str, str]:
    public = Identity.generate().public
    return {"signing_key": e2e.enc(public.signing_key), "encryption_key": e2e.enc(public.encryption_key)}


async def colleague_certificate(world: World, role: str) -> Call:
    colleague = world["colleague"]
    identity = await e2e.register(colleague)
    cert = e2e.certificate_for(identity, world.extra["met_root"], world.orgs["met"], colleague.user_id or "")
    return Call({"key_id": identity.key_id.hex()}, json={"certificate": e2e.enc(cert)})


async def colleague_revocation(world: World, role: str) -> Call:
    identity = await e2e.register(world["colleague"])
    return Call({"key_id": identity.key_id.hex()}, json={"revocation": e2e.enc(e2e.revocation_of(identity))})


async def fresh_envelope(world: World, role: str) -> Call:
    custodian = world.extra["custodian_member"]
    upload_id = await e2e.create_encrypted(custodian.caller, 10, world.ids["c1"])
    sealed = e2e.seal(b"0123456789", upload_id, custodian, world.extra["met_root"])
    return Call({"upload_id": upload_id}, json={"header": e2e.enc(sealed.header), "wrapped_key": e2e.enc(sealed.own_row)})



TABLE: list[Row] = [
    Row("GET", "/healthz", EVERYONE_200),
    Row("GET", "/readyz", EVERYONE_200),
    Row("GET", "/metrics", EVERYONE_200),
    Row("GET", "/api/v1/openapi.json", EVERYONE_200),
    Row("GET", "/api/v1/me", users(200)),
    # organisations, users, groups: an organisation's admins manage their own only
    Row("GET", "/api/v1/organisations", users(200)),
    Row("GET", "/api/v1/organisations/{org_id}/users", users(403, met_admin=200), target={"org_id": "met"}),
    Row("POST", "/api/v1/organisations/{org_id}/users", users(403, met_admin=201), target={"org_id": "met"},
        prepare=body(lambda w, r: {"email": f"{w.unique('new')}@met.example"})),
    Row("PATCH", "/api/v1/users/{user_id}", users(404, custodian=403, colleague=403, auditor=403, met_admin=200),
        target={"user_id": "colleague"}, prepare=body(lambda w, r: {"role": "member"})),
    Row("GET", "/api/v1/groups", users(200)),
    Row("POST", "/api/v1/groups", users(403, met_admin=201, smith_admin=201),
        prepare=body(lambda w, r: {"name": w.unique("group")})),
    Row("GET", "/api/v1/groups/{group_id}", users(404, custodian=200, colleague=200, met_admin=200, auditor=200),
        target={"group_id": "met_group"}),
    Row("GET", "/api/v1/groups/{group_id}/members",
        users(404, custodian=200, colleague=200, met_admin=200, auditor=200), target={"group_id": "met_group"}),
    Row("POST", "/api/v1/groups/{group_id}/members",
        users(404, custodian=403, colleague=403, auditor=403, met_admin=201), target={"group_id": "met_group"},
        prepare=body(lambda w, r: {"user_id": w["colleague"].user_id})),
    Row("DELETE", "/api/v1/groups/{group_id}/members/{member_id}",
        users(404, custodian=403, colleague=403, auditor=403, met_admin=204),
        target={"group_id": "met_group", "member_id": "met_group_member"}),
    # cases
    Row("GET", "/api/v1/cases", users(200)),
    Row("POST", "/api/v1/cases", users(403, custodian=201, colleague=201, met_admin=201, outsider=201),
        prepare=body(lambda w, r: {"reference": w.unique("URN"), "title": "t"})),
    Row("GET", "/api/v1/cases/{case_id}", users(404, **CASE_READERS), target=C1),
    Row("GET", "/api/v1/cases/{case_id}/files", users(404, **CASE_READERS), target=C1),
    Row("GET", "/api/v1/cases/{case_id}/bundles", users(404, **CASE_READERS), target=C1),
    Row("POST", "/api/v1/cases/{case_id}/bundles", users(404, custodian=201, met_admin=201, prosecutor=201),
        target=C1, prepare=body(lambda w, r: {"name": w.unique("bundle")})),
    Row("GET", "/api/v1/cases/{case_id}/grants", users(404, **managers(200)), target=C1),
    Row("POST", "/api/v1/cases/{case_id}/grants", users(404, **managers(201)), target=C1,
        prepare=body(lambda w, r: {"relation": "contributor", "subject": {"type": "user", "id": w["spare"].user_id}})),
    Row("DELETE", "/api/v1/cases/{case_id}/grants/{grant_id}", users(404, **managers(204)), target=C1,
        prepare=fresh_case_grant),
    Row("GET", "/api/v1/cases/{case_id}/links", users(404, **managers(200)), target=C1),
    Row("POST", "/api/v1/cases/{case_id}/links", users(404, **managers(201)), target=C1, prepare=body(LINK_BODY)),
    Row("DELETE", "/api/v1/cases/{case_id}/links/{link_id}", users(404, **managers(204)), target=C1,
        prepare=fresh_link),
    Row("GET", "/api/v1/link", users(404, link=200)),
    # bundles
    Row("GET", "/api/v1/bundles", users(200)),
    Row("GET", "/api/v1/bundles/{bundle_id}", users(404, **B1_READERS), target=B1),
    Row("GET", "/api/v1/bundles/{bundle_id}/files", users(404, **B1_READERS), target=B1),
    Row("POST", "/api/v1/bundles/{bundle_id}/files", users(404, **sharers(204)), target=B1,
        prepare=spare_file("add", "f3")),
    Row("DELETE", "/api/v1/bundles/{bundle_id}/files/{file_id}", users(404, **sharers(204)), target=B1,
        prepare=spare_file("rm", "f1")),
    Row("GET", "/api/v1/bundles/{bundle_id}/grants", users(404, **sharers(200)), target=B1),
    Row("POST", "/api/v1/bundles/{bundle_id}/grants", users(404, **sharers(201)), target=B1,
        prepare=body(lambda w, r: {"relation": "viewer", "subject": {"type": "user", "id": w["spare"].user_id}})),
    Row("DELETE", "/api/v1/bundles/{bundle_id}/grants/{grant_id}", users(404, **sharers(204)), target=B1,
        prepare=fresh_bundle_grant),
    # files: f1 is disclosed (b1), f2 is also in the court's trial bundle (b2), f3 is unused material
    Row("GET", "/api/v1/files", users(200)),
    Row("GET", "/api/v1/files/{file_id}", users(404, **B1_READERS), target={"file_id": "f1"}),
    Row("GET", "/api/v1/files/{file_id}", users(404, **B1_READERS, court=200), target={"file_id": "f2"}),
    Row("GET", "/api/v1/files/{file_id}", users(404, **CASE_READERS), target={"file_id": "f3"}),
    Row("GET", "/api/v1/files/{file_id}/content", users(404, **B1_READERS, court=403), target={"file_id": "f2"}),
    Row("HEAD", "/api/v1/files/{file_id}/content", users(404, **B1_READERS, court=403), target={"file_id": "f2"}),
    Row("GET", "/api/v1/files/{file_id}/content", users(404, **CASE_READERS), target={"file_id": "f3"}),
    # tus: uploads are their uploader's; naming a case needs case#can_upload; a link uploads into its case
    Row("OPTIONS", "/api/v1/uploads", EVERYONE_204),
    Row("POST", "/api/v1/uploads", users(404, custodian=201, met_admin=201, prosecutor=403, link=201),
        prepare=create_in_case),
    Row("OPTIONS", "/api/v1/uploads/{upload_id}", EVERYONE_204, target={"upload_id": "u_open"}),
    Row("HEAD", "/api/v1/uploads/{upload_id}", users(404, custodian=200, link=404), target={"upload_id": "u_open"},
        prepare=tus_head),
    Row("HEAD", "/api/v1/uploads/{upload_id}", users(404, link=200), target={"upload_id": "u_link"},
        prepare=tus_head),
    Row("PATCH", "/api/v1/uploads/{upload_id}", users(404, custodian=204, link=404), target={"upload_id": "u_open"},
        prepare=empty_patch),
    Row("DELETE", "/api/v1/uploads/{upload_id}", users(404, custodian=204, link=404), prepare=fresh_upload),
    Row("GET", "/api/v1/uploads/{upload_id}", users(404, custodian=200, link=404), target={"upload_id": "u_f1"}),
    Row("POST", "/api/v1/uploads/{upload_id}", users(404, custodian=200, link=404), target={"upload_id": "u_open"},
        prepare=method_override),
    # audit: the key is public; everything else is for auditors only
    Row("GET", "/api/v1/audit/key", EVERYONE_200),
    Row("GET", "/api/v1/audit/checkpoint", AUDITORS_200),
    Row("GET", "/api/v1/audit/checkpoints", AUDITORS_200),
    Row("GET", "/api/v1/audit/events", AUDITORS_200),
    Row("GET", "/api/v1/audit/leaves", AUDITORS_200),
    Row("GET", "/api/v1/audit/proofs/inclusion", AUDITORS_200, prepare=met_event),
    Row("GET", "/api/v1/audit/proofs/consistency", AUDITORS_200, prepare=two_sizes),
    # the matrix's app trusts no witness: an auditor's well-formed cosignature is refused (400)
    Row("POST", "/api/v1/audit/cosignatures", users(403, auditor=400), prepare=body(
        lambda world, role: {"size": 0, "signature": "— cps.example/witness AAAAAAAA"})),
    # end-to-end encryption (docs/e2e.md): public keys are public; rows go to their recipients only
    Row("POST", "/api/v1/keys", users(201), prepare=body(lambda w, r: new_key_body())),
    Row("GET", "/api/v1/keys", users(200), prepare=mine_query),
    Row("GET", "/api/v1/keys/{key_id}", users(200), target={"key_id": "custodian_key"}),
    Row("PUT", "/api/v1/keys/{key_id}/certificate", users(403, met_admin=200), prepare=colleague_certificate),
    Row("POST", "/api/v1/keys/{key_id}/revocation", users(403, colleague=200, met_admin=200),
        prepare=colleague_revocation),
    Row("PUT", "/api/v1/organisations/{org_id}/root-key", users(403, met_admin=200), target={"org_id": "met"},
        prepare=body(lambda w, r: {"public_key": e2e.enc(w.extra["met_root"].public_key)})),
    Row("GET", "/api/v1/organisations/{org_id}/root-key", users(200), target={"org_id": "met"}),
    Row("PUT", "/api/v1/uploads/{upload_id}/envelope", users(404, custodian=204), prepare=fresh_envelope),
    Row("GET", "/api/v1/files/{file_id}/envelope", users(404, **B1_READERS), target={"file_id": "fe"}),
    Row("GET", "/api/v1/files/{file_id}/keys/mine", users(404, **B1_READERS), target={"file_id": "fe"}),
    Row("POST", "/api/v1/files/{file_id}/keys", users(404, **{r: 422 for r in B1_READERS}), target={"file_id": "fe"},
        prepare=body(lambda w, r: {"wrapped_keys": [e2e.enc(b"not a row")]})),
    Row("POST", "/api/v1/files/{file_id}/key-requests",
        users(404, custodian=409, met_admin=409, prosecutor=201, defence=409, smith_admin=409),
        target={"file_id": "fe"}),
    Row("GET", "/api/v1/key-requests", users(200)),
]


async def setup_targets(world: World) -> None:
    """The few extra objects the table names, beyond the shared world."""
    cus, pro, c1 = world["custodian"], world["prosecutor"], world.ids["c1"]
    world.ids["met"] = world.orgs["met"]
    world.ids["colleague"] = world["colleague"].user_id or ""
    member = await world["met_admin"].call(
        "POST", f"/api/v1/groups/{world.ids['met_group']}/members", {"user_id": world["auditor"].user_id}, 201)
    world.ids["met_group_member"] = member["id"]
    for role in ("custodian", "met_admin", "prosecutor"):
        _, world.ids[f"add_{role}"] = await cus.upload(b"add", c1)
        _, world.ids[f"rm_{role}"] = await cus.upload(b"rm", c1)
        await pro.call("POST", f"/api/v1/bundles/{world.ids['b1']}/files", {"file_id": world.ids[f"rm_{role}"]}, 204)
    created = await cus.request("POST", "/api/v1/uploads", **TUS, **{"Upload-Length": "10"})
    world.ids["u_open"] = created.headers["Location"].rsplit("/", 1)[1]
    files = (await cus.call("GET", f"/api/v1/files/{world.ids['f1']}"))
    world.ids["u_f1"] = files["upload_id"]
    by_link = await world["link"].request("POST", "/api/v1/uploads", **case_upload(world, "link").headers)
    assert by_link.status == 201, await by_link.text()
    world.ids["u_link"] = by_link.headers["Location"].rsplit("/", 1)[1]
    await _encrypted_targets(world)


async def _encrypted_targets(world: World) -> None:
    """fe: an encrypted file in b1, its key held by the custodian and the defence member."""
    met_root = await e2e.publish_root(world["met_admin"], world.orgs["met"])
    smith_root = await e2e.publish_root(world["smith_admin"], world.orgs["smith"])
    custodian = await e2e.certified_member(world["custodian"], world["met_admin"], met_root, world.orgs["met"])
    defence = await e2e.certified_member(world["defence"], world["smith_admin"], smith_root, world.orgs["smith"])
    await e2e.certified_by_service(world, "prosecutor", "cps")  # the CPS has no admin in the world
    world.extra.update(met_root=met_root, custodian_member=custodian)
    world.ids["custodian_key"] = custodian.key_id
    upload_id, sealed = await e2e.encrypted_file(custodian, met_root, b"exhibit JD/9" * 100, world.ids["c1"])
    world.ids["fe"] = upload_id
    await world["prosecutor"].call("POST", f"/api/v1/bundles/{world.ids['b1']}/files", {"file_id": upload_id}, 204)
    row = e2e.wrap_to(sealed, upload_id, defence.certified(smith_root), custodian)
    await world["custodian"].call("POST", f"/api/v1/files/{upload_id}/keys", {"wrapped_keys": [e2e.enc(row)]})


async def run_cell(world: World, row: Row, role: str) -> int:
    call = await row.call_for(world, role)
    path = row.path.format(**call.params)
    caller = world[role]
    response = await caller.client.request(
        row.method, path, json=call.json, data=call.data, headers=caller.headers(**call.headers), params=call.query
    )
    await response.read()
    return response.status


def test_every_role_has_a_status_in_every_row() -> None:
    for row in TABLE:
        assert set(row.expect) == set(ROLES), (row.method, row.path)


async def test_every_route_has_a_row(client: TestClient) -> None:
    registered = {(r.method, r.resource.canonical) for r in client.app.router.routes() if r.resource}
    tabled = {(row.method, row.path) for row in TABLE}
    assert registered - tabled == set(), "routes without a row in the authorisation matrix"
    assert tabled - registered == set(), "rows for routes that do not exist"


async def test_the_authorisation_matrix(client: TestClient) -> None:
    world = await build(client)
    await setup_targets(world)
    mismatches = []
    cells = 0
    for row in TABLE:
        for role in ROLES:
            got = await run_cell(world, row, role)
            cells += 1
            if got != row.expect[role]:
                mismatches.append(f"{row.method} {row.path} {row.target or ''} as {role}: "
                                  f"expected {row.expect[role]}, got {got}")
    assert not mismatches, f"{len(mismatches)} of {cells} cells differ:\n" + "\n".join(mismatches)
