"""The audit log with IO: append events in the caller's transaction, read proofs, sign
checkpoints. The hashing and note formats are the pure cores (``merkle``, ``checkpoint``).

Sequencing: every append locks the single ``audit_head`` row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite write transactions are serialised already), reads the tree's size and
frontier, gives the event ``seq = size``, stores its leaf and the new complete nodes and
moves the head, all in the caller's transaction. The lock is held until that transaction
ends, so ``seq`` is gap-free and in commit order, whatever the number of instances; a
rolled-back action takes its event (and its ``seq``) with it. See docs/audit.md §7.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from filehub.audit import VerificationError
from filehub.audit.checkpoint import (
    Checkpoint,
    NoteSignature,
    SignerKey,
    VerifierKey,
    add_signatures,
    open_note,
    sign_checkpoint,
    verify_checkpoint_consistency,
)
from filehub.audit.merkle import Frontier, NodeId, leaf_hash, plan_consistency, plan_inclusion
from filehub.db.models import (
    AuditCheckpoint,
    AuditCosignature,
    AuditEventRecord,
    AuditHead,
    AuditLogKey,
    AuditTreeNode,
    Bundle,
    Case,
    FileRecord,
    Group,
    RequestLink,
    UploadRecord,
    User,
    utcnow,
)
from filehub.db.session import Database
from filehub.events import REQUEST_CONTEXT, AuditEvent, RequestContext
from filehub.ids import new_id

log = logging.getLogger("filehub.audit")
ENTRY_VERSION = 1
MAX_ENTRY = 16 << 10  # docs/audit.md §2: an entry is at most 16 KiB
OUTCOMES = ("success", "denied", "failure")
CHECKPOINT_LOCK = 0x6668_6175_6469_7401  # pg_advisory_xact_lock key: one signer at a time


def encode_entry(event: dict[str, Any]) -> bytes:
    """The canonical JSON of docs/audit.md §2 (RFC 8785 without floats)."""
    return json.dumps(event, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _plain(value: Any) -> Any:
    """Details as I-JSON without floats: other scalars become strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and abs(value) < 2**53:
        return value
    return str(value)


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def split_object(obj: str | None) -> tuple[str | None, str | None]:
    if not obj:
        return None, None
    kind, _, ident = obj.partition(":")
    return (kind, ident) if ident else (None, obj)


def make_entry(
    event: AuditEvent, actor_org: str | None, context: RequestContext, moment: datetime
) -> tuple[str, bytes]:
    """The event's id and v1 entry bytes (docs/audit.md §2); oversized details are dropped."""
    object_type, object_id = split_object(event.object)
    body = {
        "v": ENTRY_VERSION,
        "id": new_id(),
        "time": rfc3339(moment),
        "actor": {"user": event.actor_id, "org": actor_org},
        "action": event.action,
        "object": None if object_type is None else {"type": object_type, "id": object_id},
        "outcome": event.outcome,
        "client": {"ip": context.client_ip, "user_agent": context.user_agent},
        "request_id": context.request_id,
        "details": _plain(event.detail),
    }
    entry = encode_entry(body)
    if len(entry) > MAX_ENTRY:
        body["details"] = {"truncated": True}
        entry = encode_entry(body)
    return body["id"], entry


def _peaks(blob: bytes) -> list[bytes]:
    return [blob[i : i + 32] for i in range(0, len(blob), 32)]


class AuditLog:
    """The EventRecorder of the running server (filehub.events)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._postgres = not db.url.startswith("sqlite")

    # --- appending ------------------------------------------------------------------------

    async def record(self, session: AsyncSession, event: AuditEvent) -> int:
        """Append ``event`` in ``session``'s transaction; an error aborts the action.
        Returns its ``seq`` (final once the transaction commits)."""
        return (await self.record_many(session, [event]))[0]

    async def record_many(self, session: AsyncSession, events: Sequence[AuditEvent]) -> list[int]:
        """Append ``events`` in order in ``session``'s transaction, with one multi-row insert
        per table: the same rows, nodes and head as that many ``record`` calls."""
        context = REQUEST_CONTEXT.get()
        orgs: dict[tuple[str | None, str | None], str | None] = {}  # one lookup per object per call
        rows: list[dict[str, Any]] = []
        for event in events:
            if event.outcome not in OUTCOMES:
                raise ValueError(f"unknown outcome {event.outcome!r}")
            object_type, object_id = split_object(event.object)
            actor_org = event.actor_org or await self._cached(orgs, session, "user", event.actor_id)
            object_org = await self._cached(orgs, session, object_type, object_id)
            moment = utcnow()
            entry_id, entry = make_entry(event, actor_org, context, moment)
            rows.append({
                "id": entry_id,
                "time": moment,
                "actor_user": event.actor_id,
                "actor_org": actor_org,
                "action": event.action,
                "object_type": object_type,
                "object_id": object_id,
                "object_org": object_org,
                "outcome": event.outcome,
                "entry": entry,
                "leaf_hash": leaf_hash(entry),
            })
        if not rows:
            return []
        head = (
            await session.execute(
                select(AuditHead.size, AuditHead.peaks).where(AuditHead.id == 1).with_for_update()
            )
        ).one()
        frontier = Frontier(head.size, _peaks(head.peaks))
        nodes: list[dict[str, Any]] = []
        for row in rows:
            row["seq"] = frontier.size
            nodes += [{"level": lv, "idx": ix, "hash": h} for (lv, ix), h in frontier.append(row["leaf_hash"]) if lv > 0]
        await session.execute(insert(AuditEventRecord), rows)
        if nodes:
            await session.execute(insert(AuditTreeNode), nodes)
        await session.execute(
            update(AuditHead).where(AuditHead.id == 1).values(size=frontier.size, peaks=b"".join(frontier.peaks()))
        )
        return [row["seq"] for row in rows]

    async def record_alone(self, event: AuditEvent) -> int:
        """An event with no database change of its own (a failed sign-in, a download, a read
        of the log): its own small transaction."""
        async with self.db.write() as session:
            return await self.record(session, event)

    async def _cached(
        self, orgs: dict[tuple[str | None, str | None], str | None], session: AsyncSession,
        kind: str | None, ident: str | None,
    ) -> str | None:
        if (kind, ident) not in orgs:
            orgs[kind, ident] = await self._object_org(session, kind, ident)
        return orgs[kind, ident]

    async def _user_org(self, session: AsyncSession, user_id: str | None) -> str | None:
        if user_id is None:
            return None
        return await session.scalar(select(User.org_id).where(User.id == user_id))

    async def _object_org(self, session: AsyncSession, kind: str | None, ident: str | None) -> str | None:
        """The organisation an object belongs to: whose auditors see its events."""
        if kind is None or ident is None:
            return None
        if kind in ("organisation", "org"):
            return ident
        if kind == "user":
            return await self._user_org(session, ident)
        if kind == "case":
            return await session.scalar(select(Case.org_id).where(Case.id == ident))
        if kind == "bundle":
            return await session.scalar(select(Case.org_id).join(Bundle, Bundle.case_id == Case.id).where(Bundle.id == ident))
        if kind == "group":
            return await session.scalar(select(Group.org_id).where(Group.id == ident))
        if kind == "link":  # a request link belongs to its case's force
            return await session.scalar(select(Case.org_id).join(RequestLink, RequestLink.case_id == Case.id).where(RequestLink.id == ident))
        if kind == "file":
            row = (
                await session.execute(select(FileRecord.case_id, FileRecord.owner_id).where(FileRecord.id == ident))
            ).first()
        elif kind == "upload":
            row = (
                await session.execute(select(UploadRecord.case_id, UploadRecord.owner_id).where(UploadRecord.id == ident))
            ).first()
        else:
            return None
        if row is None:
            return None
        if row.case_id is not None:
            return await session.scalar(select(Case.org_id).where(Case.id == row.case_id))
        return await self._user_org(session, row.owner_id)

    # --- reading --------------------------------------------------------------------------

    async def head(self, session: AsyncSession) -> tuple[int, bytes]:
        """The current size and root."""
        row = (await session.execute(select(AuditHead.size, AuditHead.peaks).where(AuditHead.id == 1))).one()
        return row.size, Frontier(row.size, _peaks(row.peaks)).root()

    async def read_nodes(self, session: AsyncSession, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        """One round trip of primary-key lookups: leaves from audit_events, the rest from
        audit_tree_nodes. Plain SQL text: building the ORM expression for ~40 ids cost more
        than the query itself (a proof at 1 M events is ~20 of them)."""
        leaves = [idx for level, idx in ids if level == 0]
        inner = [(level, idx) for level, idx in ids if level > 0]
        parts: list[str] = []
        params: dict[str, Any] = {}
        if self._postgres:  # one prepared statement whatever the number of ids
            if leaves:
                parts.append("SELECT 0, seq, leaf_hash FROM audit_events WHERE seq = ANY(CAST(:seqs AS bigint[]))")
                params["seqs"] = leaves
            if inner:
                parts.append("SELECT level, idx, hash FROM audit_tree_nodes WHERE (level, idx) IN "
                             "(SELECT * FROM unnest(CAST(:levels AS smallint[]), CAST(:idxs AS bigint[])))")
                params["levels"], params["idxs"] = [lv for lv, _ in inner], [ix for _, ix in inner]
        else:  # SQLite: IN and OR of pairs are index lookups; row-value IN (VALUES …) scans
            if leaves:
                parts.append(f"SELECT 0, seq, leaf_hash FROM audit_events WHERE seq IN "
                             f"({', '.join(f':s{k}' for k in range(len(leaves)))})")
                params.update({f"s{k}": seq for k, seq in enumerate(leaves)})
            if inner:
                pairs = " OR ".join(f"(level = :l{k} AND idx = :i{k})" for k in range(len(inner)))
                parts.append(f"SELECT level, idx, hash FROM audit_tree_nodes WHERE {pairs}")
                for k, (lv, ix) in enumerate(inner):
                    params[f"l{k}"], params[f"i{k}"] = lv, ix
        found: dict[NodeId, bytes] = {}
        if parts:
            rows = await session.execute(text(" UNION ALL ".join(parts)), params)
            found = {(lv, ix): bytes(h) for lv, ix, h in rows}
        missing = [node for node in ids if node not in found]
        if missing:
            raise LookupError(f"audit tree nodes missing: {missing[:3]}")
        return found

    async def inclusion_proof(self, session: AsyncSession, index: int, size: int) -> list[bytes]:
        plan = plan_inclusion(index, size)
        return plan.assemble(await self.read_nodes(session, plan.node_ids))

    async def consistency_proof(self, session: AsyncSession, old_size: int, new_size: int) -> list[bytes]:
        plan = plan_consistency(old_size, new_size)
        return plan.assemble(await self.read_nodes(session, plan.node_ids))

    async def events(
        self,
        session: AsyncSession,
        *,
        org: str | None,
        after: int,
        limit: int,
        object_: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Row[tuple[int, bytes, bytes]]]:
        """Events (seq, entry, leaf_hash) in seq order; ``org`` limits them to that
        organisation's objects and users."""
        query = select(AuditEventRecord.seq, AuditEventRecord.entry, AuditEventRecord.leaf_hash).where(
            AuditEventRecord.seq > after
        )
        if org is not None:
            # `|| ''` keeps the planner off the two organisation indexes: OR-ing them means
            # sorting every event the organisation may see on every page (seconds per page
            # at 1 M events); walking seq from `after` reads one page's worth of rows.
            query = query.where(
                or_(AuditEventRecord.actor_org.concat("") == org, AuditEventRecord.object_org.concat("") == org)
            )
        if object_ is not None:
            kind, ident = split_object(object_)
            query = query.where(AuditEventRecord.object_type == kind, AuditEventRecord.object_id == ident)
        if actor is not None:
            query = query.where(AuditEventRecord.actor_user == actor)
        if action is not None:
            query = query.where(AuditEventRecord.action == action)
        if since is not None:
            query = query.where(AuditEventRecord.time >= since)
        if until is not None:
            query = query.where(AuditEventRecord.time < until)
        return list(await session.execute(query.order_by(AuditEventRecord.seq).limit(limit)))

    async def is_visible(self, session: AsyncSession, seq: int, org: str | None) -> bool:
        """Whether event ``seq`` exists and ``org``'s auditors may read it (None: anyone)."""
        query = select(AuditEventRecord.seq).where(AuditEventRecord.seq == seq)
        if org is not None:
            query = query.where(or_(AuditEventRecord.actor_org == org, AuditEventRecord.object_org == org))
        return await session.scalar(query) is not None

    async def leaves(self, session: AsyncSession, after: int, limit: int) -> list[tuple[int, bytes]]:
        """Leaf hashes only (they reveal nothing of the entries, which hold a random id)."""
        rows = await session.execute(
            select(AuditEventRecord.seq, AuditEventRecord.leaf_hash)
            .where(AuditEventRecord.seq > after)
            .order_by(AuditEventRecord.seq)
            .limit(limit)
        )
        return [(seq, h) for seq, h in rows]

    # --- checkpoints ----------------------------------------------------------------------

    async def sign_checkpoint(self, key: SignerKey) -> AuditCheckpoint | None:
        """Sign the current tree if it grew since the last checkpoint (or none exists yet).

        Before signing, the new tree is proved consistent with the last stored checkpoint; a
        failure raises (and is logged loudly by the caller): the server never signs two
        inconsistent checkpoints. One signer at a time across instances.
        """
        async with self.db.read() as session:  # cheap: no write lock while nothing happens
            size, _ = await self.head(session)
            last = await self.latest_checkpoint(session)
        if last is not None and last.size >= size:
            return None
        async with self.db.write() as session:
            if self._postgres:
                await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHECKPOINT_LOCK})
            size, root = await self.head(session)
            last = await session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1))
            if last is not None and last.size >= size:
                return None
            checkpoint = Checkpoint(key.name, size, root)
            if last is not None:
                previous = Checkpoint(key.name, last.size, last.root)
                proof = await self.consistency_proof(session, last.size, size)
                verify_checkpoint_consistency(previous, checkpoint, proof)
            note = sign_checkpoint(checkpoint, key).decode()
            record = AuditCheckpoint(size=size, root=root, note=note, created_at=utcnow())
            session.add(record)
        return record

    async def latest_checkpoint(self, session: AsyncSession) -> AuditCheckpoint | None:
        return await session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1))

    async def checkpoints(self, session: AsyncSession, after: int, limit: int) -> list[AuditCheckpoint]:
        rows = await session.scalars(
            select(AuditCheckpoint).where(AuditCheckpoint.size > after).order_by(AuditCheckpoint.size).limit(limit)
        )
        return list(rows)


class CosignatureRefused(ValueError):
    """Not a valid cosignature of that checkpoint by a configured witness."""


async def add_cosignature(log: AuditLog, size: int, line: str, witnesses: list[VerifierKey]) -> str:
    """Verify a witness's cosignature line over the stored checkpoint of ``size`` and keep
    it (a newer one by the same witness for the same size replaces nothing: first wins).
    Returns the witness's verifier key string."""
    try:
        signature = NoteSignature.parse(line)
    except VerificationError as exc:
        raise CosignatureRefused(str(exc)) from None
    async with log.db.write() as session:
        record = await session.get(AuditCheckpoint, size)
        if record is None:
            raise CosignatureRefused(f"no checkpoint of size {size}")
        try:
            opened = open_note(add_signatures(record.note.encode(), signature), witnesses)
        except VerificationError as exc:
            raise CosignatureRefused(f"not a valid cosignature by a configured witness: {exc}") from None
        witness = next((str(v.key) for v in opened.verified if v.key.name == signature.name), None)
        if witness is None:
            raise CosignatureRefused("not a valid cosignature by a configured witness")
        exists = await session.get(AuditCosignature, (size, witness))
        if exists is None:
            session.add(AuditCosignature(size=size, witness=witness, line=signature.line(), created_at=utcnow()))
    return witness


async def cosigned_note(session: AsyncSession, record: AuditCheckpoint) -> str:
    """The checkpoint note with the stored witness cosignatures appended."""
    lines = list(await session.scalars(select(AuditCosignature.line).where(AuditCosignature.size == record.size)))
    if not lines:
        return record.note
    return add_signatures(record.note.encode(), *(NoteSignature.parse(x) for x in lines)).decode()


async def load_log_key(db: Database, configured: str | None, default_name: str) -> SignerKey:
    """The configured key, or the one stored in the database, generated on first start."""
    if configured:
        return SignerKey.parse(configured)
    async with db.read() as session:
        stored = await session.scalar(select(AuditLogKey.signer_key).where(AuditLogKey.id == 1))
    if stored is not None:
        return SignerKey.parse(stored)
    key = SignerKey.generate(default_name)
    try:
        async with db.write() as session:
            session.add(AuditLogKey(id=1, signer_key=key.to_private_string(), created_at=utcnow()))
        log.info("generated the audit log key %s", key.verifier_key)
        return key
    except IntegrityError:  # another instance generated it first
        async with db.read() as session:
            stored = await session.scalar(select(AuditLogKey.signer_key).where(AuditLogKey.id == 1))
        assert stored is not None
        return SignerKey.parse(stored)

