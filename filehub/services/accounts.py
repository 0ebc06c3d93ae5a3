"""Organisations, users and API tokens (one transaction per use-case).

A user's organisation and role are also relation tuples (`organisation:o#member|admin|auditor
@user:u`), written in the same transaction as the user row, so the authorisation model sees
them (``admin from owner_org``) without reading this table.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from filehub.authz.model import ObjectRef, RelationTuple, SubjectRef
from filehub.authz.service import TupleWriter
from filehub.db.models import ApiToken, Organisation, User, utcnow
from filehub.db.session import Database
from filehub.events import NO_AUDIT, AuditEvent, EventRecorder
from filehub.errors import BadRequest, Conflict, NotFound, Unauthenticated
from filehub.ids import is_valid_id, new_id, new_secret
from filehub.services.pages import Page, PageRequest, page_of

ORG_KINDS = ("police", "prosecution", "defence", "court", "audit")
ROLES = ("member", "admin", "auditor")
# The organisation relation each role holds. An auditor is not a member: grants made to a
# whole organisation do not reach its auditors, who read the audit trail, not the evidence.
ROLE_RELATION = {"member": "member", "admin": "admin", "auditor": "auditor"}
TOKEN_PREFIX = "fh_"  # makes a leaked token recognisable to secret scanners
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: str
    org_id: str
    role: str
    token_id: str
    org_kind: str = ""  # police|prosecution|defence|court|audit


@dataclass(frozen=True)
class OrgInfo:
    id: str
    name: str
    kind: str


@dataclass(frozen=True)
class UserInfo:
    id: str
    email: str
    org_id: str
    role: str
    disabled: bool
    created_at: datetime


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def role_tuple(user_id: str, org_id: str, role: str) -> RelationTuple:
    return RelationTuple(
        new_id(), ObjectRef("organisation", org_id), ROLE_RELATION[role], SubjectRef("user", user_id)
    )


def _user_info(user: User) -> UserInfo:
    return UserInfo(user.id, user.email, user.org_id, user.role, user.disabled_at is not None, user.created_at)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}")


class Accounts:
    def __init__(self, db: Database, writer: TupleWriter | None = None, recorder: EventRecorder = NO_AUDIT) -> None:
        self._db = db
        self._writer = writer or TupleWriter()
        self._recorder = recorder

    async def create_org(self, name: str, kind: str) -> str:
        name = name.strip()
        if kind not in ORG_KINDS:
            raise BadRequest(f"organisation kind must be one of {', '.join(ORG_KINDS)}")
        if not 0 < len(name) <= 200:
            raise BadRequest("organisation name must be 1 to 200 characters")
        org = Organisation(id=new_id(), name=name, kind=kind)
        try:
            async with self._db.write() as session:
                session.add(org)
                await session.flush()
                detail = {"name": name, "kind": kind}
                await self._recorder.record(session, AuditEvent("organisation.created", None, f"organisation:{org.id}", detail))
        except IntegrityError:
            raise Conflict(f"organisation {name!r} already exists") from None
        return org.id

    async def create_user(
        self, email: str, org_name: str, role: str = "member", actor_id: str | None = None
    ) -> str:
        async with self._db.read() as session:
            org_id = await session.scalar(select(Organisation.id).where(Organisation.name == org_name.strip()))
        if org_id is None:
            raise NotFound(f"no organisation named {org_name!r}")
        return (await self.create_user_in(org_id, email, role, actor_id)).id

    async def create_user_in(self, org_id: str, email: str, role: str, actor_id: str | None) -> UserInfo:
        email = email.strip().lower()
        _check_role(role)
        if "@" not in email or len(email) > 320:
            raise BadRequest("not an e-mail address")
        user = User(id=new_id(), email=email, org_id=org_id, role=role, created_at=utcnow())
        try:
            async with self._db.write() as session:
                if await session.get(Organisation, org_id) is None:
                    raise NotFound("no such organisation")
                session.add(user)
                await session.flush()
                await self._writer.add(session, [role_tuple(user.id, org_id, role)], actor_id)
                detail = {"role": role}
                await self._recorder.record(session, AuditEvent("user.created", actor_id, f"user:{user.id}", detail))
        except IntegrityError:
            raise Conflict(f"user {email!r} already exists") from None
        return _user_info(user)

    async def set_role(self, user_id: str, role: str, actor_id: str | None) -> UserInfo:
        """Change a user's role: the old organisation tuple is revoked, a new one written."""
        _check_role(role)
        async with self._db.write() as session:
            user = await self._user(session, user_id)
            if user.role != role:
                detail = {"from": user.role, "to": role}
                await self._recorder.record(session, AuditEvent("user.role_changed", actor_id, f"user:{user.id}", detail))
                user.role = role
                await session.flush()
                org = ObjectRef("organisation", user.org_id)
                me = SubjectRef("user", user.id)
                await self._writer.revoke_matching(session, org, ROLE_RELATION.values(), me, actor_id)
                await self._writer.add(session, [role_tuple(user.id, user.org_id, role)], actor_id)
        return _user_info(user)

    async def disable_user(self, user_id: str) -> UserInfo:
        """Refuse the user's tokens from the next request on; their links stop too."""
        async with self._db.write() as session:
            user = await self._user(session, user_id)
            if user.disabled_at is None:
                user.disabled_at = utcnow()
                await session.execute(
                    update(ApiToken)
                    .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                    .values(revoked_at=user.disabled_at)
                )
                await self._recorder.record(session, AuditEvent("user.disabled", None, f"user:{user.id}"))
        return _user_info(user)

    async def _user(self, session: AsyncSession, user_id: str) -> User:
        user = await session.get(User, user_id) if is_valid_id(user_id) else None
        if user is None:
            raise NotFound("no such user")
        return user

    async def get_user(self, user_id: str) -> UserInfo:
        async with self._db.read() as session:
            return _user_info(await self._user(session, user_id))

    async def user_by_email(self, email: str) -> UserInfo:
        async with self._db.read() as session:
            user = await session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise NotFound(f"no user {email!r}")
        return _user_info(user)

    async def list_users(self, org_id: str | None, page: PageRequest) -> Page[UserInfo]:
        query = select(User).order_by(User.id).limit(page.limit + 1)
        if org_id is not None:
            query = query.where(User.org_id == org_id)
        if page.after:
            query = query.where(User.id > page.after)
        async with self._db.read() as session:
            users = [_user_info(u) for u in await session.scalars(query)]
        return page_of(users, page, lambda u: u.id)

    async def get_org(self, org_id: str) -> OrgInfo:
        async with self._db.read() as session:
            org = await session.get(Organisation, org_id) if is_valid_id(org_id) else None
        if org is None:
            raise NotFound("no such organisation")
        return OrgInfo(org.id, org.name, org.kind)

    async def org_by_name(self, name: str) -> OrgInfo:
        async with self._db.read() as session:
            org = await session.scalar(select(Organisation).where(Organisation.name == name.strip()))
        if org is None:
            raise NotFound(f"no organisation named {name!r}")
        return OrgInfo(org.id, org.name, org.kind)

    async def list_orgs(self, page: PageRequest) -> Page[OrgInfo]:
        """The directory of organisations (names and kinds are not secret: grants name them)."""
        query = select(Organisation).order_by(Organisation.id).limit(page.limit + 1)
        if page.after:
            query = query.where(Organisation.id > page.after)
        async with self._db.read() as session:
            orgs = [OrgInfo(o.id, o.name, o.kind) for o in await session.scalars(query)]
        return page_of(orgs, page, lambda o: o.id)

    async def create_token(self, email: str, lifetime: timedelta) -> tuple[str, datetime]:
        """A new token for the user; returns (token, expiry). The token is shown only here."""
        if lifetime <= timedelta(0):
            raise BadRequest("token lifetime must be positive")
        token = TOKEN_PREFIX + new_secret()
        expires_at = utcnow() + lifetime
        async with self._db.write() as session:
            user_id = await session.scalar(
                select(User.id).where(User.email == email.strip().lower(), User.disabled_at.is_(None))
            )
            if user_id is None:
                raise NotFound(f"no active user {email!r}")
            token_id = new_id()
            session.add(
                ApiToken(id=token_id, user_id=user_id, token_hash=hash_token(token), expires_at=expires_at)
            )
            await session.flush()
            detail = {"token": token_id, "expires_at": expires_at.isoformat()}
            await self._recorder.record(session, AuditEvent("token.created", None, f"user:{user_id}", detail))
        return token, expires_at

    async def revoke_token(self, token: str) -> bool:
        async with self._db.write() as session:
            found = (
                await session.execute(
                    select(ApiToken.id, ApiToken.user_id).where(
                        ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
                    )
                )
            ).first()
            if found is None:
                return False
            await session.execute(update(ApiToken).where(ApiToken.id == found.id).values(revoked_at=utcnow()))
            detail = {"token": found.id}
            await self._recorder.record(session, AuditEvent("token.revoked", None, f"user:{found.user_id}", detail))
        return True

    async def revoke_user_tokens(self, email: str) -> int:
        async with self._db.write() as session:
            user_id = await session.scalar(select(User.id).where(User.email == email.strip().lower()))
            if user_id is None:
                raise NotFound(f"no user {email!r}")
            result = await session.execute(
                update(ApiToken)
                .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            detail = {"count": int(result.rowcount)}
            await self._recorder.record(session, AuditEvent("token.revoked_all", None, f"user:{user_id}", detail))
        return int(result.rowcount)

    async def authenticate(self, token: str) -> Principal:
        """The principal of a live token; Unauthenticated for unknown, expired or revoked ones."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("invalid token")
        async with self._db.read() as session:
            row = (
                await session.execute(
                    select(ApiToken.id, ApiToken.expires_at, ApiToken.revoked_at, User, Organisation.kind)
                    .join(User, User.id == ApiToken.user_id)
                    .join(Organisation, Organisation.id == User.org_id)
                    .where(ApiToken.token_hash == hash_token(token))
                )
            ).first()
        if row is None or row.revoked_at is not None or row.User.disabled_at is not None:
            raise Unauthenticated("invalid token")
        if row.expires_at <= utcnow():
            raise Unauthenticated("token expired")
        user = row.User
        return Principal(user_id=user.id, org_id=user.org_id, role=user.role, token_id=row.id, org_kind=row.kind)
