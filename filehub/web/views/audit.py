"""The auditors' API (docs/audit.md §7): the log key, checkpoints, events, leaves, proofs.

Only users with the role ``auditor`` read the log; an organisation's auditor sees the events
whose actor or object belongs to their organisation (leaf hashes, checkpoints and
consistency proofs reveal no event, so every auditor may fetch all of them to verify the
whole tree). Every read is itself an audit event (``audit.read``).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from aiohttp import web

from filehub.audit.checkpoint import VerifierKey
from filehub.audit.log import CosignatureRefused, add_cosignature, cosigned_note
from filehub.errors import BadRequest, Forbidden, NotFound
from filehub.events import AuditEvent
from filehub.web import keys
from filehub.web import schemas as s
from filehub.web.views.common import body, reply

MAX_PAGE = 1000


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _int(request: web.Request, name: str, default: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadRequest(f"{name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if value < 0:
        raise BadRequest(f"{name} must not be negative")
    return value


def _time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an RFC 3339 time") from None
    if value.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone")
    return value


def _after(request: web.Request) -> int:
    """``after``: the last seq (or size) the caller has; absent: from the start."""
    return _int(request, "after") if request.query.get("after") else -1


async def _auditor(request: web.Request, what: str, detail: dict[str, Any]) -> str:
    """The caller's organisation, after recording the read; 403 for anyone not an auditor."""
    principal = keys.principal(request)
    if principal.role != "auditor":
        raise Forbidden("only auditors read the audit log")
    event = AuditEvent("audit.read", principal.user_id, "", {"what": what, **detail}, actor_org=principal.org_id)
    await request.app[keys.AUDIT].record_alone(event)
    return principal.org_id


async def log_key(request: web.Request) -> web.Response:
    key = request.app[keys.LOG_KEY].verifier_key
    return reply(s.LogKeyOut, {"verifier_key": str(key), "origin": key.name})


async def _checkpoint(session: Any, record: Any) -> dict[str, Any]:
    return {"size": record.size, "root": _b64(record.root), "note": await cosigned_note(session, record)}


async def latest_checkpoint(request: web.Request) -> web.Response:
    await _auditor(request, "checkpoint", {})
    audit = request.app[keys.AUDIT]
    async with audit.db.read() as session:
        record = await audit.latest_checkpoint(session)
        if record is None:
            raise NotFound("no checkpoint signed yet")
        return reply(s.CheckpointOut, await _checkpoint(session, record))


async def list_checkpoints(request: web.Request) -> web.Response:
    after, limit = _after(request), min(_int(request, "limit", 100), MAX_PAGE)
    await _auditor(request, "checkpoints", {"after": after})
    audit = request.app[keys.AUDIT]
    async with audit.db.read() as session:
        found = await audit.checkpoints(session, after, limit)
        items = [await _checkpoint(session, r) for r in found]
    following = str(found[-1].size) if len(found) == limit else None
    return reply(s.CheckpointPage, {"items": items, "next": following})


async def list_events(request: web.Request) -> web.Response:
    """?object=file:<id>&actor=<user id>&action=&since=&until=&after=<seq>&limit="""
    filters = {k: request.query[k] for k in ("object", "actor", "action", "since", "until") if request.query.get(k)}
    # pages as large as the leaves': a whole-log verification downloads every visible entry
    after, limit = _after(request), min(_int(request, "limit", 100), 10 * MAX_PAGE)
    org = await _auditor(request, "events", filters)
    audit = request.app[keys.AUDIT]
    async with audit.db.read() as session:
        found = await audit.events(
            session, org=org, after=after, limit=limit,
            object_=filters.get("object"), actor=filters.get("actor"), action=filters.get("action"),
            since=_time(request, "since"), until=_time(request, "until"),
        )  # fmt: skip
    items = [{"seq": r.seq, "entry": _b64(r.entry), "leaf_hash": _b64(r.leaf_hash)} for r in found]
    following = str(found[-1].seq) if len(found) == limit else None
    return reply(s.AuditEventPage, {"items": items, "next": following})


async def list_leaves(request: web.Request) -> web.Response:
    after, limit = _after(request), min(_int(request, "limit", 1000), 10 * MAX_PAGE)
    await _auditor(request, "leaves", {"after": after})
    audit = request.app[keys.AUDIT]
    async with audit.db.read() as session:
        found = await audit.leaves(session, after, limit)
    items = [{"seq": seq, "leaf_hash": _b64(h)} for seq, h in found]
    following = str(found[-1][0]) if len(found) == limit else None
    return reply(s.LeafPage, {"items": items, "next": following})


async def inclusion_proof(request: web.Request) -> web.Response:
    """The proof that event ``seq`` is in the tree of ``size`` (default: the current size)."""
    org = await _auditor(request, "inclusion", {"seq": request.query.get("seq", "")[:20]})
    seq = _int(request, "seq")
    audit = request.app[keys.AUDIT]
    async with audit.db.read() as session:
        if not await audit.is_visible(session, seq, org):
            raise NotFound("no such event")
        current, _ = await audit.head(session)
        size = _int(request, "size", current)
        if not seq < size <= current:
            raise BadRequest(f"size must be in ({seq}, {current}]")
        proof = await audit.inclusion_proof(session, seq, size)
    return reply(s.ProofOut, {"size": size, "proof": [_b64(h) for h in proof]})


async def consistency_proof(request: web.Request) -> web.Response:
    await _auditor(request, "consistency", {k: request.query.get(k, "")[:20] for k in ("old", "new")})
    old, new = _int(request, "old"), _int(request, "new")
    audit = request.app[keys.AUDIT]
    async with audit.db.read() as session:
        current, _ = await audit.head(session)
        if not old <= new <= current:
            raise BadRequest(f"need old <= new <= {current}")
        proof = await audit.consistency_proof(session, old, new)
    return reply(s.ProofOut, {"size": new, "proof": [_b64(h) for h in proof]})


async def add_witness_cosignature(request: web.Request) -> web.Response:
    """A witness (another agency's auditor, running `filehub audit witness`) hands in its
    cosignature of a checkpoint; only configured witness keys are accepted."""
    await _auditor(request, "cosign", {})
    cosignature = await body(request, s.CosignatureIn)
    witnesses = [VerifierKey.parse(k) for k in request.app[keys.SETTINGS].audit_witness_keys]
    try:
        witness = await add_cosignature(request.app[keys.AUDIT], cosignature.size, cosignature.signature, witnesses)
    except CosignatureRefused as exc:
        raise BadRequest(str(exc)) from None
    return reply(s.CosignatureOut, {"size": cosignature.size, "witness": witness}, status=201)
