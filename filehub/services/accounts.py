"""Organisations, users and API tokens (one transaction per use-case)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from filehub.db.models import ApiToken, Organisation, User, utcnow
from filehub.db.session import Database
from filehub.errors import BadRequest, Conflict, NotFound, Unauthenticated
from filehub.ids import new_id, new_secret

ORG_KINDS = ("police", "prosecution", "defence", "court", "audit")
ROLES = ("member", "admin", "auditor")
TOKEN_PREFIX = "fh_"  # makes a leaked token recognisable to secret scanners
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: str
    org_id: str
    role: str
    token_id: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, db: Database) -> None:
        self._db = db

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
        except IntegrityError:
            raise Conflict(f"organisation {name!r} already exists") from None
        return org.id

    async def create_user(self, email: str, org_name: str, role: str = "member") -> str:
        email = email.strip().lower()
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}")
        if "@" not in email or len(email) > 320:
            raise BadRequest("not an e-mail address")
        try:
            async with self._db.write() as session:
                org_id = await session.scalar(
                    select(Organisation.id).where(Organisation.name == org_name.strip())
                )
                if org_id is None:
                    raise NotFound(f"no organisation named {org_name!r}")
                user = User(id=new_id(), email=email, org_id=org_id, role=role)
                session.add(user)
        except IntegrityError:
            raise Conflict(f"user {email!r} already exists") from None
        return user.id

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
            session.add(
                ApiToken(id=new_id(), user_id=user_id, token_hash=hash_token(token), expires_at=expires_at)
            )
        return token, expires_at

    async def revoke_token(self, token: str) -> bool:
        async with self._db.write() as session:
            result = await session.execute(
                update(ApiToken)
                .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        return bool(result.rowcount)

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
        return int(result.rowcount)

    async def authenticate(self, token: str) -> Principal:
        """The principal of a live token; Unauthenticated for unknown, expired or revoked ones."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("invalid token")
        async with self._db.read() as session:
            row = (
                await session.execute(
                    select(ApiToken.id, ApiToken.expires_at, ApiToken.revoked_at, User)
                    .join(User, User.id == ApiToken.user_id)
                    .where(ApiToken.token_hash == hash_token(token))
                )
            ).first()
        if row is None or row.revoked_at is not None or row.User.disabled_at is not None:
            raise Unauthenticated("invalid token")
        if row.expires_at <= utcnow():
            raise Unauthenticated("token expired")
        return Principal(user_id=row.User.id, org_id=row.User.org_id, role=row.User.role, token_id=row.id)
