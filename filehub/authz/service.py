"""Authorisation against the database: check, list, grant and revoke (docs/authz.md).

Every tuple is a row of ``relation_tuples``; a revoke marks the row, it never deletes it.
Each instance keeps a replica of the live rows (a ``MemoryTuples``) and, before every
decision, pulls the rows changed since the version it last saw: one indexed query that
usually returns nothing. Every transaction that writes or revokes tuples first increments
the one-row counter ``authz_version`` and stamps its rows with the new value. The row lock
that the increment takes makes those transactions commit one after the other, so versions
become visible in order and ``version > last seen`` never skips a row that commits late
(a sequence would not give that on PostgreSQL). A revoke or an expiry therefore counts on
the very next request on any instance; expiry is evaluated at the ``now`` of each decision.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from filehub.authz.model import (
    MemoryTuples,
    ObjectRef,
    RelationTuple,
    ResolutionTooDeep,
    SubjectRef,
    check,
    list_objects,
    validate_tuple,
)
from filehub.authz.rules import FILEHUB_SCHEMA, Schema
from filehub.db.models import AuthzVersion, RelationTupleRow, utcnow
from filehub.db.session import Database
from filehub.errors import Forbidden, NotFound
from filehub.events import NO_AUDIT, AuditEvent, EventRecorder

log = logging.getLogger("filehub.authz")

_COLUMNS = (
    RelationTupleRow.id,
    RelationTupleRow.object_type,
    RelationTupleRow.object_id,
    RelationTupleRow.relation,
    RelationTupleRow.subject_type,
    RelationTupleRow.subject_id,
    RelationTupleRow.subject_relation,
    RelationTupleRow.not_before,
    RelationTupleRow.expires_at,
)


def user_ref(user_id: str) -> ObjectRef:
    return ObjectRef("user", user_id)


def _tuple(row: Any) -> RelationTuple:
    subject = SubjectRef(row.subject_type, row.subject_id, row.subject_relation)
    obj = ObjectRef(row.object_type, row.object_id)
    return RelationTuple(row.id, obj, row.relation, subject, row.not_before, row.expires_at)


@dataclass(frozen=True)
class TupleRecord:
    """A stored tuple with who wrote it and when (for listing grants)."""

    tuple: RelationTuple
    created_by: str | None
    created_at: datetime


# --- writing: inside the caller's transaction --------------------------------------------------


async def _next_version(session: AsyncSession) -> int:
    """Increment the counter; its row lock is held to commit, ordering tuple writers."""
    result = await session.execute(
        update(AuthzVersion)
        .where(AuthzVersion.id == 1)
        .values(value=AuthzVersion.value + 1)
        .returning(AuthzVersion.value)
    )
    return int(result.scalar_one())


class TupleWriter:
    """Adds and revokes tuples in the caller's transaction, and audits each change there.

    Callers write tuples last in their transaction: the counter lock is then held only for
    the few statements before the commit.
    """

    def __init__(self, recorder: EventRecorder = NO_AUDIT, schema: Schema = FILEHUB_SCHEMA) -> None:
        self._recorder = recorder
        self._schema = schema

    async def add(self, session: AsyncSession, tuples: Sequence[RelationTuple], actor_id: str | None) -> None:
        if not tuples:
            return
        for tuple_ in tuples:
            validate_tuple(tuple_, self._schema)  # InvalidTuple: a bug or a bad request
        version = await _next_version(session)
        now = utcnow()
        await session.execute(insert(RelationTupleRow), [_row(t, actor_id, now, version) for t in tuples])
        for tuple_ in tuples:
            await self._recorder.record(session, _event("authz.grant", tuple_, actor_id))

    async def revoke(
        self, session: AsyncSession, tuple_ids: Iterable[str], actor_id: str | None
    ) -> list[RelationTuple]:
        """Revoke the live tuples among ``tuple_ids``; returns those it revoked."""
        ids = sorted(set(tuple_ids))
        if not ids:
            return []
        version = await _next_version(session)  # first: no other writer interleaves below
        live = RelationTupleRow.id.in_(ids), RelationTupleRow.revoked_at.is_(None)
        revoked = [_tuple(row) for row in await session.execute(select(*_COLUMNS).where(*live))]
        if revoked:
            await session.execute(
                update(RelationTupleRow)
                .where(*live)
                .values(revoked_at=utcnow(), revoked_by=actor_id, version=version)
            )
        for tuple_ in revoked:
            await self._recorder.record(session, _event("authz.revoke", tuple_, actor_id))
        return revoked


    async def revoke_matching(
        self,
        session: AsyncSession,
        obj: ObjectRef,
        relations: Iterable[str],
        subject: SubjectRef,
        actor_id: str | None,
    ) -> list[RelationTuple]:
        """Revoke every live `obj#relation@subject` for the given relations."""
        ids = await session.scalars(
            select(RelationTupleRow.id).where(
                RelationTupleRow.object_type == obj.type,
                RelationTupleRow.object_id == obj.id,
                RelationTupleRow.relation.in_(list(relations)),
                RelationTupleRow.subject_type == subject.type,
                RelationTupleRow.subject_id == subject.id,
                _same_relation(subject.relation),
                RelationTupleRow.revoked_at.is_(None),
            )
        )
        return await self.revoke(session, list(ids), actor_id)


def _same_relation(relation: str | None) -> Any:
    column = RelationTupleRow.subject_relation
    return column.is_(None) if relation is None else column == relation


def _row(t: RelationTuple, actor_id: str | None, now: datetime, version: int) -> dict[str, Any]:
    return {
        "id": t.id,
        "object_type": t.object.type,
        "object_id": t.object.id,
        "relation": t.relation,
        "subject_type": t.subject.type,
        "subject_id": t.subject.id,
        "subject_relation": t.subject.relation,
        "not_before": t.not_before,
        "expires_at": t.expires_at,
        "created_by": actor_id,
        "created_at": now,
        "version": version,
    }


def _event(action: str, t: RelationTuple, actor_id: str | None) -> AuditEvent:
    detail: dict[str, Any] = {"tuple_id": t.id, "relation": t.relation, "subject": str(t.subject)}
    if t.not_before is not None:
        detail["not_before"] = t.not_before.isoformat()
    if t.expires_at is not None:
        detail["expires_at"] = t.expires_at.isoformat()
    return AuditEvent(action, actor_id, str(t.object), detail)


# --- reading: a replica kept current before every decision -----------------------------------


class Replica:
    """The live tuples of this instance, caught up with the database on demand."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.tuples = MemoryTuples()
        self.version: int | None = None  # None until the first full load
        self._lock = asyncio.Lock()
        self._arrived = 0  # callers of sync() so far
        self._covered = 0  # every caller up to this number has seen a pull that began after it

    async def sync(self) -> None:
        """Return once a pull that began after this call has completed.

        Callers that arrive while a pull runs share the next one, so concurrent requests
        cost one query, and no caller is answered from a pull that began before it arrived.
        """
        self._arrived += 1
        ticket = self._arrived
        async with self._lock:
            if self._covered >= ticket:
                return
            begun = self._arrived
            await (self._pull() if self.version is not None else self._load())
            self._covered = begun

    async def _load(self) -> None:
        now = utcnow()
        async with self._db.read() as session:
            version = await session.scalar(select(AuthzVersion.value).where(AuthzVersion.id == 1))
            rows = await session.execute(
                select(*_COLUMNS).where(
                    RelationTupleRow.revoked_at.is_(None),
                    or_(RelationTupleRow.expires_at.is_(None), RelationTupleRow.expires_at > now),
                )
            )
            tuples = MemoryTuples(_tuple(row) for row in rows)
        self.tuples, self.version = tuples, int(version or 0)

    async def _pull(self) -> None:
        """Usually one primary-key read of the counter; the changed rows only if it moved.

        Reading the counter first is safe: a transaction that wrote tuples committed its
        counter value with them, so once a value is visible its rows are too."""
        assert self.version is not None
        async with self._db.poll() as connection:
            latest = await connection.scalar(select(AuthzVersion.value).where(AuthzVersion.id == 1))
            if latest is None or latest <= self.version:
                return
            rows = (
                await connection.execute(
                    select(*_COLUMNS, RelationTupleRow.revoked_at, RelationTupleRow.version)
                    .where(RelationTupleRow.version > self.version)
                    .order_by(RelationTupleRow.version)
                )
            ).all()
        self._apply(rows)

    def _apply(self, rows: Sequence[Any]) -> None:
        assert self.version is not None
        for row in rows:  # idempotent: a row may come again after a load
            if row.id in self.tuples:
                self.tuples.remove(row.id)
            if row.revoked_at is None:
                self.tuples.add(_tuple(row))
            self.version = max(self.version, int(row.version))


class Decision:
    """Answers at one instant, from a replica that was current when the request arrived."""

    def __init__(self, store: MemoryTuples, now: datetime, schema: Schema) -> None:
        self._store, self.now, self._schema = store, now, schema
        self._lists: dict[tuple[str, str, str], frozenset[str]] = {}  # same instant, same answer

    def check(self, obj: ObjectRef, permission: str, user_id: str) -> bool:
        try:
            return check(self._store, obj, permission, user_ref(user_id), self.now, schema=self._schema)
        except ResolutionTooDeep:
            log.error("authorisation too deep: %s#%s for user %s: denied", obj, permission, user_id)
            return False

    def ids(self, object_type: str, permission: str, user_id: str) -> frozenset[str]:
        key = (object_type, permission, user_id)
        known = self._lists.get(key)
        if known is None:
            try:
                known = list_objects(
                    self._store, object_type, permission, user_ref(user_id), self.now, schema=self._schema
                )
            except ResolutionTooDeep:
                log.error("authorisation too deep listing %s#%s for user %s: none", object_type, permission, user_id)
                known = frozenset()
            self._lists[key] = known
        return known

    def held(self, object_type: str, object_id: str, user_id: str, permissions: Iterable[str]) -> tuple[str, ...]:
        """Which of ``permissions`` the user holds on the object, from whole lists: cheaper
        than one check each when a page shows many objects of one type."""
        return tuple(p for p in permissions if object_id in self.ids(object_type, p, user_id))


class AuthzService:
    """check / list against a current replica; grant / revoke, each in a transaction of its own."""

    def __init__(self, db: Database, recorder: EventRecorder = NO_AUDIT, *, schema: Schema = FILEHUB_SCHEMA):
        self._db = db
        self._schema = schema
        self.writer = TupleWriter(recorder, schema)
        self._replica = Replica(db)

    async def start(self) -> None:
        """Load the replica now rather than on the first request."""
        await self._replica.sync()

    @property
    def replica_size(self) -> int:
        return len(self._replica.tuples)

    async def decision(self) -> Decision:
        await self._replica.sync()
        return Decision(self._replica.tuples, utcnow(), self._schema)

    async def check(self, obj: ObjectRef, permission: str, user_id: str) -> bool:
        return (await self.decision()).check(obj, permission, user_id)

    async def list_ids(self, object_type: str, permission: str, user_id: str) -> frozenset[str]:
        return (await self.decision()).ids(object_type, permission, user_id)

    async def require(self, obj: ObjectRef, permission: str, user_id: str) -> Decision:
        """The decision, if ``user_id`` holds ``permission`` on ``obj``. Otherwise 404 when
        they may not even view it (exactly as if it did not exist), else 403."""
        decision = await self.decision()
        if decision.check(obj, permission, user_id):
            return decision
        if permission != "can_view" and decision.check(obj, "can_view", user_id):
            raise Forbidden(f"you may not do this to this {obj.type}")
        raise NotFound(f"no such {obj.type}")

    async def grant(self, tuple_: RelationTuple, actor_id: str | None) -> RelationTuple:
        async with self._db.write() as session:
            await self.writer.add(session, [tuple_], actor_id)
        return tuple_

    async def revoke(self, tuple_id: str, actor_id: str | None) -> RelationTuple | None:
        async with self._db.write() as session:
            revoked = await self.writer.revoke(session, [tuple_id], actor_id)
        return revoked[0] if revoked else None

    async def live_tuples(
        self, session: AsyncSession, obj: ObjectRef, relations: Iterable[str]
    ) -> list[TupleRecord]:
        """Unrevoked tuples on ``obj`` (expired ones included: they are still grants on record)."""
        rows = await session.execute(
            select(*_COLUMNS, RelationTupleRow.created_by, RelationTupleRow.created_at)
            .where(
                RelationTupleRow.object_type == obj.type,
                RelationTupleRow.object_id == obj.id,
                RelationTupleRow.relation.in_(list(relations)),
                RelationTupleRow.revoked_at.is_(None),
            )
            .order_by(RelationTupleRow.created_at, RelationTupleRow.id)
        )
        return [TupleRecord(_tuple(row), row.created_by, row.created_at) for row in rows]
