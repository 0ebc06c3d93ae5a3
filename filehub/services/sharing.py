"""Grants on cases and bundles: add, list, revoke (each in a transaction of its own, audited).

Who may write which grant (docs/authz.md, "What the service must enforce"):
- on a case (custodian, prosecutor, contributor, blocked): its managers (`case#can_manage`);
- on a bundle (defence, viewer, downloader, blocked): whoever may share it
  (`bundle#can_reshare`: the case's managers and its prosecutor).
A grant names a user, a group (its members) or a whole organisation (its members), with a
window fixed at creation. Someone who may not view the object gets 404, as if it did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from filehub.authz.model import InvalidTuple, ObjectRef, RelationTuple, SubjectRef, validate_tuple
from filehub.authz.service import AuthzService, TupleRecord
from filehub.db.models import Group, Organisation, User, utcnow
from filehub.db.session import Database
from filehub.errors import BadRequest, NotFound
from filehub.ids import is_valid_id, new_id
from filehub.services.pages import Page, PageRequest, page_of_ids

GRANTS = {
    "case": ("custodian", "prosecutor", "contributor", "blocked"),
    "bundle": ("defence", "viewer", "downloader", "blocked"),
}
MANAGE = {"case": "can_manage", "bundle": "can_reshare"}  # the permission to grant on each
SUBJECT_KINDS = {"user": None, "group": "member", "organisation": "member"}  # -> the userset named


@dataclass(frozen=True)
class GrantInfo:
    id: str
    object_type: str
    object_id: str
    relation: str
    subject_type: str
    subject_id: str
    not_before: datetime | None
    expires_at: datetime | None
    created_by: str | None
    created_at: datetime
    active: bool  # inside its window now


def _grant_info(record: TupleRecord, now: datetime) -> GrantInfo:
    t = record.tuple
    return GrantInfo(
        t.id, t.object.type, t.object.id, t.relation, t.subject.type, t.subject.id,
        t.not_before, t.expires_at, record.created_by, record.created_at, t.active_at(now),
    )


class Sharing:
    def __init__(self, db: Database, authz: AuthzService) -> None:
        self._db = db
        self._authz = authz

    async def grant(
        self,
        user_id: str,
        obj: ObjectRef,
        relation: str,
        subject_type: str,
        subject_id: str,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> GrantInfo:
        await self._authz.require(obj, MANAGE[obj.type], user_id)
        if relation not in GRANTS[obj.type]:
            raise BadRequest(f"a {obj.type} grants one of: {', '.join(GRANTS[obj.type])}")
        if subject_type not in SUBJECT_KINDS or not is_valid_id(subject_id):
            raise BadRequest("a grant names a user, a group or an organisation by id")
        now = utcnow()
        if expires_at is not None and expires_at <= now:
            raise BadRequest("expires_at must be in the future")
        try:
            subject = SubjectRef(subject_type, subject_id, SUBJECT_KINDS[subject_type])
            tuple_ = RelationTuple(new_id(), obj, relation, subject, not_before, expires_at)
            validate_tuple(tuple_)
        except InvalidTuple as exc:
            raise BadRequest(str(exc)) from None
        async with self._db.write() as session:
            await _require_subject(session, subject)
            await self._authz.writer.add(session, [tuple_], user_id)
        return _grant_info(TupleRecord(tuple_, user_id, now), utcnow())

    async def list(self, user_id: str, obj: ObjectRef, page: PageRequest) -> Page[GrantInfo]:
        """Unrevoked grants on the object (expired ones too, marked inactive)."""
        await self._authz.require(obj, MANAGE[obj.type], user_id)
        async with self._db.read() as session:
            records = await self._authz.live_tuples(session, obj, GRANTS[obj.type])
        by_id = {r.tuple.id: r for r in records}
        ids, cursor = page_of_ids(by_id, page)
        now = utcnow()
        return Page([_grant_info(by_id[i], now) for i in ids], cursor)

    async def revoke(self, user_id: str, obj: ObjectRef, grant_id: str) -> None:
        await self._authz.require(obj, MANAGE[obj.type], user_id)
        async with self._db.write() as session:
            records = await self._authz.live_tuples(session, obj, GRANTS[obj.type])
            if grant_id not in {r.tuple.id for r in records}:
                raise NotFound("no such grant")
            await self._authz.writer.revoke(session, [grant_id], user_id)


async def _require_subject(session: AsyncSession, subject: SubjectRef) -> None:
    """Tuples carry no foreign keys: check here that the subject exists (and is active)."""
    if subject.type == "user":
        user = await session.get(User, subject.id)
        found = user is not None and user.disabled_at is None
    elif subject.type == "group":
        found = await session.get(Group, subject.id) is not None
    else:
        found = await session.get(Organisation, subject.id) is not None
    if not found:
        raise BadRequest(f"no such {subject.type} to grant to")
