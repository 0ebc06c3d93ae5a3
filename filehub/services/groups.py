"""Groups of an organisation's users (and of its other groups), and who may manage them.

A membership is a row of ``group_members`` and the tuple `group:g#member@user:u` (or
`@group:h#member` for a nested group), written together; the row and the tuple share an id.
Through the API an organisation's admins manage its groups and users, and nobody else's;
its members may read its groups (to name them in grants). The CLI acts as the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from filehub.authz.model import ObjectRef, RelationTuple, SubjectRef
from filehub.authz.service import TupleWriter
from filehub.db.models import Group, GroupMember, User, utcnow
from filehub.db.session import Database
from filehub.errors import BadRequest, Conflict, Forbidden, NotFound
from filehub.events import NO_AUDIT, AuditEvent, EventRecorder
from filehub.ids import is_valid_id, new_id
from filehub.services.accounts import Principal
from filehub.services.pages import Page, PageRequest, page_of

MAX_GROUP_NAME = 200  # characters


@dataclass(frozen=True)
class GroupInfo:
    id: str
    org_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class MemberInfo:
    id: str  # the membership (and its tuple)
    group_id: str
    user_id: str | None
    member_group_id: str | None
    added_at: datetime


def require_admin_of(actor: Principal, org_id: str) -> None:
    """Organisation admins act on their own organisation only."""
    if actor.org_id != org_id or actor.role != "admin":
        raise Forbidden("only an admin of that organisation may do this")


def _group_info(group: Group) -> GroupInfo:
    return GroupInfo(group.id, group.org_id, group.name, group.created_at)


def _member_info(row: GroupMember) -> MemberInfo:
    return MemberInfo(row.id, row.group_id, row.user_id, row.member_group_id, row.added_at)


class Groups:
    def __init__(self, db: Database, writer: TupleWriter | None = None, recorder: EventRecorder = NO_AUDIT) -> None:
        self._db = db
        self._writer = writer or TupleWriter()
        self._recorder = recorder

    async def create(self, org_id: str, name: str, actor_id: str | None) -> GroupInfo:
        name = name.strip()
        if not 0 < len(name) <= MAX_GROUP_NAME:
            raise BadRequest(f"a group name is 1 to {MAX_GROUP_NAME} characters")
        group = Group(id=new_id(), org_id=org_id, name=name, created_by=actor_id, created_at=utcnow())
        try:
            async with self._db.write() as session:
                session.add(group)
                await session.flush()
                await self._recorder.record(session, AuditEvent("group.create", actor_id, f"group:{group.id}", {"name": name}))
        except IntegrityError:
            raise Conflict(f"the organisation already has a group {name!r}") from None
        return _group_info(group)

    async def get(self, group_id: str, *, seen_by: Principal | None = None) -> GroupInfo:
        """A group; through the API only its own organisation's users see it (else 404)."""
        async with self._db.read() as session:
            group = await session.get(Group, group_id) if is_valid_id(group_id) else None
        if group is None or (seen_by is not None and seen_by.org_id != group.org_id):
            raise NotFound("no such group")
        return _group_info(group)

    async def by_name(self, org_id: str, name: str) -> GroupInfo:
        async with self._db.read() as session:
            group = await session.scalar(select(Group).where(Group.org_id == org_id, Group.name == name.strip()))
        if group is None:
            raise NotFound(f"no group named {name!r}")
        return _group_info(group)

    async def list(self, org_id: str, page: PageRequest) -> Page[GroupInfo]:
        query = select(Group).where(Group.org_id == org_id).order_by(Group.id).limit(page.limit + 1)
        if page.after:
            query = query.where(Group.id > page.after)
        async with self._db.read() as session:
            groups = [_group_info(g) for g in await session.scalars(query)]
        return page_of(groups, page, lambda g: g.id)

    async def members(self, group_id: str, page: PageRequest) -> Page[MemberInfo]:
        query = select(GroupMember).where(GroupMember.group_id == group_id).order_by(GroupMember.id)
        if page.after:
            query = query.where(GroupMember.id > page.after)
        async with self._db.read() as session:
            rows = [_member_info(m) for m in await session.scalars(query.limit(page.limit + 1))]
        return page_of(rows, page, lambda m: m.id)

    async def add_member(
        self, group_id: str, *, user_id: str | None = None, member_group_id: str | None = None, actor_id: str | None
    ) -> MemberInfo:
        """Add a user or a nested group of the group's own organisation."""
        if (user_id is None) == (member_group_id is None):
            raise BadRequest("name either a user or a group")
        row = GroupMember(
            id=new_id(), group_id=group_id, user_id=user_id, member_group_id=member_group_id,
            added_by=actor_id, added_at=utcnow(),
        )
        subject = SubjectRef("user", user_id) if user_id else SubjectRef("group", str(member_group_id), "member")
        tuple_ = RelationTuple(row.id, ObjectRef("group", group_id), "member", subject)
        try:
            async with self._db.write() as session:
                group = await session.get(Group, group_id)
                if group is None:
                    raise NotFound("no such group")
                member: User | Group | None
                if user_id is not None:
                    member = await session.get(User, user_id) if is_valid_id(user_id) else None
                else:
                    member = await session.get(Group, member_group_id) if is_valid_id(str(member_group_id)) else None
                if member is None or member.org_id != group.org_id:
                    raise BadRequest("a group holds users and groups of its own organisation only")
                if member_group_id == group_id:
                    raise BadRequest("a group cannot contain itself")
                session.add(row)
                await session.flush()
                await self._writer.add(session, [tuple_], actor_id)
                detail = {"member": str(subject)}
                await self._recorder.record(session, AuditEvent("group.add_member", actor_id, f"group:{group_id}", detail))
        except IntegrityError:
            raise Conflict("already a member") from None
        return _member_info(row)

    async def remove_member(self, group_id: str, member_id: str, actor_id: str | None) -> None:
        async with self._db.write() as session:
            row = await session.get(GroupMember, member_id) if is_valid_id(member_id) else None
            if row is None or row.group_id != group_id:
                raise NotFound("no such member")
            await session.execute(delete(GroupMember).where(GroupMember.id == member_id))
            await self._writer.revoke(session, [member_id], actor_id)
            detail = {"member": f"user:{row.user_id}" if row.user_id else f"group:{row.member_group_id}#member"}
            await self._recorder.record(session, AuditEvent("group.remove_member", actor_id, f"group:{group_id}", detail))

    async def find_member(
        self, group_id: str, *, user_id: str | None = None, member_group_id: str | None = None
    ) -> str:
        """The membership id of a user or nested group (for the CLI, which names them)."""
        async with self._db.read() as session:
            member_id = await session.scalar(
                select(GroupMember.id).where(
                    GroupMember.group_id == group_id,
                    GroupMember.user_id == user_id if user_id else GroupMember.member_group_id == member_group_id,
                )
            )
        if member_id is None:
            raise NotFound("not a member")
        return member_id
