"""Grant expiry as audit events: one ``grant.expired`` per grant whose ``expires_at`` passed.

A grant expires passively (every decision compares ``expires_at`` with its own now,
docs/authz.md), so no transaction marks the moment. This sweeper, run by the upload reaper's
timer on every instance, records it after the fact: the event's time is when it was
recorded, its details carry the grant's ``expires_at``; its object is the grant's object,
like ``authz.grant`` and ``authz.revoke``. A grant revoked before it expired never expires.

Idempotent across instances and restarts with no bookkeeping column: the log itself says
which grants have their event. One sweeper at a time (a transaction-scoped advisory lock on
PostgreSQL; SQLite serialises write transactions), and inside its transaction:

- the watermark W is the ``expires_at`` of the last ``grant.expired`` event: grants are
  recorded in ``expires_at`` order, so every grant that expired before W and was visible
  to that sweep has its event;
- the candidates are the grants with ``expires_at`` in (W − SLACK, now], minus those named
  by ``grant.expired`` events written after W − SLACK (an event is written after its
  grant expired, so any event for a candidate is among them).

SLACK covers a grant that commits after a sweep already passed its ``expires_at``: grants are
stored with ``expires_at`` in the future, so that is at most the length of the grant's own
transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from filehub.db.models import AuditEventRecord, RelationTupleRow, utcnow
from filehub.db.session import Database
from filehub.events import AuditEvent

ACTION = "grant.expired"
SLACK = timedelta(hours=1)
BATCH = 500  # events per transaction: the audit head stays locked for one batch only
SWEEP_LOCK = 0x6668_6772_6578_7001  # pg_advisory_xact_lock key: one sweeper at a time


class BatchRecorder(Protocol):
    """The audit log (``audit.log.AuditLog``): appends a batch in the caller's transaction."""

    async def record_many(self, session: AsyncSession, events: Sequence[AuditEvent]) -> list[int]: ...


class GrantExpiry:
    def __init__(self, db: Database, recorder: BatchRecorder) -> None:
        self._db, self._recorder = db, recorder
        self._postgres = not db.url.startswith("sqlite")

    async def sweep(self, now: datetime | None = None) -> int:
        """Record every expiry not recorded yet; returns how many were recorded."""
        recorded = 0
        while True:
            async with self._db.write() as session:
                if self._postgres and not await session.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SWEEP_LOCK}
                ):
                    return recorded  # another instance is sweeping
                done = await self._batch(session, now or utcnow())
            recorded += done
            if done < BATCH:
                return recorded

    async def _batch(self, session: AsyncSession, now: datetime) -> int:
        lower = await self._lower_bound(session)
        query = select(RelationTupleRow).where(
            RelationTupleRow.expires_at <= now,
            or_(RelationTupleRow.revoked_at.is_(None), RelationTupleRow.revoked_at > RelationTupleRow.expires_at),
        )
        seen: set[str] = set()
        if lower is not None:
            query = query.where(RelationTupleRow.expires_at > lower)
            seen = await self._recorded_since(session, lower)
        grants = [
            row for row in await session.scalars(query.order_by(RelationTupleRow.expires_at, RelationTupleRow.id))
            if row.id not in seen
        ][:BATCH]
        if grants:
            await self._recorder.record_many(session, [_event(row) for row in grants])
        return len(grants)

    async def _lower_bound(self, session: AsyncSession) -> datetime | None:
        last = await session.scalar(
            select(AuditEventRecord.entry).where(AuditEventRecord.action == ACTION)
            .order_by(AuditEventRecord.seq.desc()).limit(1)
        )
        if last is None:
            return None
        return datetime.fromisoformat(json.loads(last)["details"]["expires_at"]) - SLACK

    async def _recorded_since(self, session: AsyncSession, lower: datetime) -> set[str]:
        entries = await session.scalars(
            select(AuditEventRecord.entry).where(AuditEventRecord.action == ACTION, AuditEventRecord.time > lower)
        )
        return {json.loads(entry)["details"]["tuple_id"] for entry in entries}


def _event(row: RelationTupleRow) -> AuditEvent:
    assert row.expires_at is not None
    subject = f"{row.subject_type}:{row.subject_id}" + (f"#{row.subject_relation}" if row.subject_relation else "")
    detail = {"tuple_id": row.id, "relation": row.relation, "subject": subject,
              "expires_at": row.expires_at.isoformat(), "granted_by": row.created_by}
    return AuditEvent(ACTION, None, f"{row.object_type}:{row.object_id}", detail)
