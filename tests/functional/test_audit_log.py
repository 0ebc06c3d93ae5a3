"""The audit trail end to end (issue 5): every action leaves its event in its own
transaction, the tables refuse changes, checkpoints are signed, auditors read only their
organisation's events, and the verifier detects tampering done directly in the database
(triggers dropped, as a superuser could). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from filehub.audit.checkpoint import Checkpoint, VerifierKey, open_checkpoint
from filehub.audit.log import AuditLog
from filehub.audit.merkle import Frontier, leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion
from filehub.audit.verify import Report, verify_log
from filehub.db.session import Database
from filehub.events import AuditEvent
from filehub.services.grant_expiry import GrantExpiry
from filehub.web import keys
from tests.support.databases import backend
from tests.support.tusclient import TUS, Api
from tests.support.world import Caller, World, build

PROTECTED = ("audit_events", "audit_tree_nodes", "audit_checkpoints", "audit_cosignatures", "audit_log_key")


async def sign(client: TestClient) -> None:
    await client.app[keys.AUDIT].sign_checkpoint(client.app[keys.LOG_KEY])


async def pages(caller: Caller, path: str, limit: int = 500) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = await caller.call("GET", f"{path}{'&' if '?' in path else '?'}limit={limit}" + (f"&after={after}" if after else ""))
        found += page["items"]
        after = page["next"]
        if after is None:
            return found


async def audit(world: World, previous: Checkpoint | None = None) -> Report:
    """What `filehub audit verify` does: checkpoints first, then every leaf, then entries."""
    auditor = world["auditor"]
    key = VerifierKey.parse((await auditor.call("GET", "/api/v1/audit/key"))["verifier_key"])
    notes = [c["note"].encode() for c in await pages(auditor, "/api/v1/audit/checkpoints")]
    leaves = [(x["seq"], base64.b64decode(x["leaf_hash"])) for x in await pages(auditor, "/api/v1/audit/leaves")]
    entries = {x["seq"]: base64.b64decode(x["entry"]) for x in await pages(auditor, "/api/v1/audit/events")}
    return verify_log(leaves, entries, notes, key, previous)


async def rows(client: TestClient) -> list[dict[str, Any]]:
    async with client.app[keys.ENGINE].connect() as connection:
        result = await connection.execute(text("SELECT seq, entry FROM audit_events ORDER BY seq"))
        return [{"seq": seq, **json.loads(bytes(entry))} for seq, entry in result]


async def superuser(client: TestClient, *statements: str) -> None:
    """Tamper as the database's owner would: switch the protecting triggers off first."""
    async with client.app[keys.ENGINE].begin() as connection:
        for table in PROTECTED:
            if backend() == "sqlite":
                await connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                await connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
            else:
                await connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        for statement in statements:
            await connection.execute(text(statement))


@pytest.fixture
async def world(client: TestClient) -> World:
    return await build(client, file_size=64)


async def test_every_action_leaves_its_event(client: TestClient, world: World) -> None:
    cus, f1 = world["custodian"], world.ids["f1"]
    await cus.call("GET", f"/api/v1/files/{f1}")
    ranged = await cus.request("GET", f"/api/v1/files/{f1}/content", Range="bytes=10-19")
    assert ranged.status == 206
    await ranged.read()
    bad = await client.get("/api/v1/me", headers={"Authorization": "Bearer fh_nope", "User-Agent": "probe/1",
                                                 "X-Request-Id": "req-42"})
    assert bad.status == 401
    created = await cus.request("POST", "/api/v1/uploads", **TUS, **{"Upload-Length": "5"})
    upload = created.headers["Location"].rsplit("/", 1)[1]
    assert (await cus.request("DELETE", f"/api/v1/uploads/{upload}", **TUS)).status == 204
    expiring = (await cus.request("POST", "/api/v1/uploads", **TUS, **{"Upload-Length": "5"})).headers["Location"]
    await client.app[keys.REGISTRY].set_state(expiring.rsplit("/", 1)[1], "expired")
    await world["auditor"].call("GET", "/api/v1/audit/events?action=case.create")
    accounts, spare = client.app[keys.ACCOUNTS], world["spare"].user_id or ""
    await accounts.set_role(spare, "admin", world["met_admin"].user_id)
    await accounts.revoke_user_tokens("spare@lab.example")
    await accounts.disable_user(spare)
    await world["met_admin"].call("POST", f"/api/v1/groups/{world.ids['met_group']}/members",
                                  {"user_id": world["colleague"].user_id}, 201)
    token, _ = await accounts.create_token("colleague@met.example", timedelta(hours=1))
    assert await accounts.revoke_token(token)
    _, linked = await world["link"].upload(b"doorbell")
    audit_log = client.app[keys.AUDIT]
    assert await GrantExpiry(audit_log.db, audit_log).sweep() == 1  # the world's grant that expired yesterday

    events = await rows(client)
    assert [e["seq"] for e in events] == list(range(len(events)))  # gap-free
    seen = {(e["action"], (e["object"] or {}).get("type"), e["outcome"]) for e in events}
    expected = {  # action -> (object type, outcome): one table for every recorded action
        "case.create": ("case", "success"),
        "authz.grant": ("case", "success"),
        "upload.created": ("upload", "success"),
        "upload.completed": ("file", "success"),
        "bundle.create": ("bundle", "success"),
        "bundle.add_file": ("file", "success"),
        "authz.revoke": ("bundle", "success"),
        "link.create": ("case", "success"),
        "file.viewed": ("file", "success"),
        "file.downloaded": ("file", "success"),
        "auth.failure": (None, "denied"),
        "upload.terminated": ("upload", "success"),
        "upload.expired": ("upload", "success"),
        "audit.read": (None, "success"),
        "organisation.created": ("organisation", "success"),
        "user.created": ("user", "success"),
        "token.created": ("user", "success"),
        "user.role_changed": ("user", "success"),
        "token.revoked_all": ("user", "success"),
        "user.disabled": ("user", "success"),
        "token.revoked": ("user", "success"),
        "group.create": ("group", "success"),
        "group.add_member": ("group", "success"),
        "link.used": ("link", "success"),
        "grant.expired": ("bundle", "success"),
    }
    for action, (kind, outcome) in expected.items():
        assert (action, kind, outcome) in seen, action
    download = next(e for e in events if e["action"] == "file.downloaded")
    assert download["details"]["range"] == {"first": 10, "last": 19}
    assert download["actor"] == {"user": cus.user_id, "org": world.orgs["met"]}
    assert download["object"] == {"type": "file", "id": f1}
    failure = next(e for e in events if e["action"] == "auth.failure")
    assert failure["actor"] == {"user": None, "org": None}
    assert failure["client"]["user_agent"] == "probe/1" and failure["client"]["ip"]
    assert failure["request_id"] == "req-42"
    expired = next(e for e in events if e["action"] == "upload.expired")
    assert expired["actor"]["user"] is None  # the reaper, not a person
    used = next(e for e in events if e["action"] == "link.used")
    assert used["object"] == {"type": "link", "id": world.ids["link"]} and used["actor"]["user"] is None
    assert used["details"]["case"] == world.ids["c1"] and used["details"]["length"] == 8
    created = next(e for e in events if e["action"] == "upload.created" and e["details"]["link"] == world.ids["link"])
    assert used["seq"] == created["seq"] + 1  # the upload's own transaction
    lapsed = next(e for e in events if e["action"] == "grant.expired")
    assert lapsed["object"] == {"type": "bundle", "id": world.ids["b1"]} and lapsed["actor"]["user"] is None
    assert lapsed["details"]["tuple_id"] == "e" * 32
    assert lapsed["details"]["subject"] == f"user:{world['expired'].user_id}"
    served = await pages(world["auditor"], "/api/v1/audit/events")
    visible = {json.loads(base64.b64decode(e["entry"]))["action"] for e in served}
    assert {"link.used", "grant.expired"} <= visible  # about Met's link and Met's case
    assert linked


async def test_a_failed_action_leaves_no_event(client: TestClient, world: World) -> None:
    audit_log = client.app[keys.AUDIT]
    before = await rows(client)
    with pytest.raises(RuntimeError):
        async with audit_log.db.write() as session:
            await audit_log.record(session, AuditEvent("case.create", world["custodian"].user_id, "case:x"))
            raise RuntimeError("the action fails after its event was written")
    # an action refused by the service: a duplicate case reference
    await world["custodian"].call("POST", "/api/v1/cases", {"reference": "URN-01", "title": "again"}, 409)
    assert await rows(client) == before
    async with audit_log.db.read() as session:
        size, _ = await audit_log.head(session)
    assert size == len(before)


async def test_the_tables_refuse_update_delete_and_truncate(client: TestClient, world: World) -> None:
    engine = client.app[keys.ENGINE]
    statements = ["UPDATE audit_events SET action = 'x' WHERE seq = 0", "DELETE FROM audit_events WHERE seq = 0",
                  "UPDATE audit_tree_nodes SET hash = hash", "DELETE FROM audit_checkpoints"]
    if backend() != "sqlite":
        statements.append("TRUNCATE audit_events CASCADE")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text(statement))


async def test_checkpoints_proofs_and_a_clean_verification(client: TestClient, world: World) -> None:
    await sign(client)
    auditor = world["auditor"]
    key_reply = await client.get("/api/v1/audit/key")  # public: no token needed
    key = VerifierKey.parse((await key_reply.json())["verifier_key"])
    latest = await auditor.call("GET", "/api/v1/audit/checkpoint")
    checkpoint = open_checkpoint(latest["note"].encode(), key).checkpoint
    assert checkpoint.size == latest["size"] > 0
    mine = await pages(auditor, f"/api/v1/audit/events?object=case:{world.ids['c1']}")
    event = mine[0]
    proof = await auditor.call("GET", f"/api/v1/audit/proofs/inclusion?seq={event['seq']}&size={checkpoint.size}")
    verify_inclusion(leaf_hash(base64.b64decode(event["entry"])), event["seq"], checkpoint.size,
                     [base64.b64decode(h) for h in proof["proof"]], checkpoint.root_hash)
    await world["custodian"].call("GET", f"/api/v1/files/{world.ids['f1']}")
    await sign(client)
    newer = open_checkpoint((await auditor.call("GET", "/api/v1/audit/checkpoint"))["note"].encode(), key).checkpoint
    consistency = await auditor.call("GET", f"/api/v1/audit/proofs/consistency?old={checkpoint.size}&new={newer.size}")
    verify_consistency(checkpoint.size, newer.size, checkpoint.root_hash, newer.root_hash,
                       [base64.b64decode(h) for h in consistency["proof"]])
    report = await audit(world, previous=checkpoint)
    assert report.ok, report.problems
    assert report.checked_checkpoints >= 2 and report.checked_entries > 0


async def test_auditors_see_only_their_organisation_and_nobody_else_reads(client: TestClient, world: World) -> None:
    for role in ("custodian", "met_admin", "prosecutor", "defence"):
        assert (await world[role].request("GET", "/api/v1/audit/events")).status == 403
    met = world.orgs["met"]
    seen = {e["seq"] for e in await pages(world["auditor"], "/api/v1/audit/events")}
    async with client.app[keys.ENGINE].connect() as connection:
        result = await connection.execute(text("SELECT seq, actor_org, object_org FROM audit_events"))
        scopes = {seq: (actor_org, object_org) for seq, actor_org, object_org in result}
    assert seen and all(met in scopes[seq] for seq in seen)
    assert seen == {seq for seq, scope in scopes.items() if met in scope and seq <= max(seen)}
    assert any(met not in scope for scope in scopes.values())  # there is something hidden
    reads = [e for e in await rows(client) if e["action"] == "audit.read"]
    assert reads and reads[-1]["actor"] == {"user": world["auditor"].user_id, "org": met}


async def truncate_as_superuser(client: TestClient, size: int) -> None:
    """Cut the tail and rebuild everything derived, as a careful attacker would."""
    async with client.app[keys.ENGINE].connect() as connection:
        result = await connection.execute(text(f"SELECT leaf_hash FROM audit_events WHERE seq < {size} ORDER BY seq"))
        frontier = Frontier()
        for (hashed,) in result:
            frontier.append(bytes(hashed))
    peaks = b"".join(frontier.peaks()).hex()
    hx = "X'" if backend() == "sqlite" else "'\\x"
    await superuser(
        client,
        f"DELETE FROM audit_events WHERE seq >= {size}",
        f"DELETE FROM audit_tree_nodes WHERE (idx + 1) * (CAST(1 AS BIGINT) << level) > {size}",
        f"DELETE FROM audit_checkpoints WHERE size > {size}",
        f"UPDATE audit_head SET size = {size}, peaks = {hx}{peaks}'",
    )


@pytest.mark.parametrize("tamper", ["edited", "edited_and_rehashed", "deleted", "truncated", "reordered"])
async def test_the_verifier_detects_tampering(client: TestClient, world: World, tamper: str) -> None:
    await sign(client)
    clean = await audit(world)
    assert clean.ok, clean.problems
    await sign(client)
    events = await rows(client)
    victim = next(e for e in events if e["action"] == "case.create")["seq"]
    edited = next(e for e in events if e["seq"] == victim)
    edited["title"] = "forged"
    forged = json.dumps(edited | {"seq": None}).encode()
    hx = "X'" if backend() == "sqlite" else "'\\x"
    if tamper == "edited":
        await superuser(client, f"UPDATE audit_events SET entry = {hx}{forged.hex()}' WHERE seq = {victim}")
    elif tamper == "edited_and_rehashed":
        await superuser(client, f"UPDATE audit_events SET entry = {hx}{forged.hex()}', "
                                f"leaf_hash = {hx}{leaf_hash(forged).hex()}' WHERE seq = {victim}")
    elif tamper == "deleted":
        await superuser(client, f"DELETE FROM audit_events WHERE seq = {victim}")
    elif tamper == "truncated":
        await truncate_as_superuser(client, victim + 1)
    else:
        await superuser(client, f"UPDATE audit_events SET seq = -1 WHERE seq = {victim}",
                        f"UPDATE audit_events SET seq = {victim} WHERE seq = {victim + 1}",
                        f"UPDATE audit_events SET seq = {victim + 1} WHERE seq = -1")
    report = await audit(world, previous=clean.largest)
    assert not report.ok
    words = {"edited": "edited", "edited_and_rehashed": "does not match", "deleted": "sequence broken",
             "truncated": "truncated", "reordered": "does not match"}
    assert any(words[tamper] in problem for problem in report.problems), report.problems


async def test_concurrent_appends_from_two_instances_are_gap_free(client: TestClient, settings: Any) -> None:
    """Two AuditLogs on their own engines (two instances) append at once; commit order is seq
    order with no gap, one transaction rolls back mid-way, and the stored tree is the tree of
    the leaves."""
    instances = [AuditLog(Database(settings.effective_database_url)) for _ in range(2)]

    async def append(log: AuditLog, n: int) -> None:
        for i in range(n):
            async with log.db.write() as session:
                await log.record(session, AuditEvent("test.append", None, f"thing:{i}"))

    async def rolled_back(log: AuditLog) -> None:
        with pytest.raises(RuntimeError):
            async with log.db.write() as session:
                await log.record(session, AuditEvent("test.rollback", None, "thing:x"))
                await asyncio.sleep(0.05)
                raise RuntimeError

    try:
        await asyncio.gather(append(instances[0], 25), append(instances[1], 25), rolled_back(instances[1]))
        events = await rows(client)
        assert [e["seq"] for e in events] == list(range(len(events)))
        assert sum(e["action"] == "test.append" for e in events) == 50
        assert not any(e["action"] == "test.rollback" for e in events)
        async with client.app[keys.ENGINE].connect() as connection:
            leaves = [bytes(h) for (h,) in await connection.execute(text("SELECT leaf_hash FROM audit_events ORDER BY seq"))]
        async with instances[0].db.read() as session:
            size, root = await instances[0].head(session)
        assert size == len(leaves) and root == root_from_leaf_hashes(leaves)
        checkpoint = await instances[1].sign_checkpoint(client.app[keys.LOG_KEY])
        assert checkpoint is None or checkpoint.size == size
    finally:
        for log in instances:
            await log.db.dispose()


async def test_reading_bytes_through_the_upload_url_is_an_audited_download(client: TestClient, api: Api) -> None:
    url = await api.create_url(100)
    file_id = (await api.patch(url, 0, bytes(100))).headers["Filehub-File-Id"]
    response = await api.get(url, Range="bytes=0-49")
    assert response.status == 206
    await response.read()
    downloads = [e for e in await rows(client) if e["action"] == "file.downloaded"]
    assert len(downloads) == 1
    assert downloads[0]["object"] == {"type": "file", "id": file_id}
    assert downloads[0]["details"]["range"] == {"first": 0, "last": 49}
    assert downloads[0]["details"]["via"] == "upload"
