"""Evidence request links: expiring, upload-only capabilities into one case.

An investigator (`case#can_manage`) creates a link with a note for the uploader and limits
on files and bytes; the token is shown once and stored as a SHA-256 hash, like API tokens.
Whoever holds it sends ``Authorization: Link <token>`` and may create uploads into that
case through tus (and resume, or cancel, their own), and read the link's note; nothing else.
The link is checked on every request, so revoking it stops uploads at their next PATCH. It
also stops if its creator is disabled or loses upload permission on the case (checked by
the upload policy), since a link only lends its creator's permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from filehub.authz.service import AuthzService
from filehub.db.models import RequestLink, User, utcnow
from filehub.db.session import Database
from filehub.errors import BadRequest, EncryptionRequired, Forbidden, NotFound, PayloadTooLarge, Unauthenticated
from filehub.events import NO_AUDIT, AuditEvent, EventRecorder
from filehub.ids import is_valid_id, new_id, new_secret
from filehub.services.accounts import MAX_TOKEN_LENGTH, hash_token
from filehub.services.cases import case_ref, case_requires_encryption
from filehub.services.pages import Page, PageRequest, page_of

LINK_PREFIX = "fhl_"  # recognisable to secret scanners, and never a valid API token
MAX_LINK_LIFETIME = timedelta(days=90)
MAX_LINK_FILES = 10_000  # uploads per link
MAX_LINK_BYTES = 1 << 50  # bytes per link (1 PiB): a sanity bound, each upload has its own
MAX_NOTE = 2_000  # characters


@dataclass(frozen=True)
class LinkPrincipal:
    """The holder of a live request link (no account)."""

    link_id: str
    case_id: str
    created_by: str


@dataclass(frozen=True)
class LinkInfo:
    id: str
    case_id: str
    note: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    max_files: int
    max_bytes: int
    files_used: int
    bytes_used: int
    revoked: bool


def _info(link: RequestLink) -> LinkInfo:
    return LinkInfo(
        link.id, link.case_id, link.note, link.created_by, link.created_at, link.expires_at,
        link.max_files, link.max_bytes, link.files_used, link.bytes_used, link.revoked_at is not None,
    )


def _validate(note: str, expires_at: datetime, max_files: int, max_bytes: int) -> None:
    now = utcnow()
    if not now < expires_at <= now + MAX_LINK_LIFETIME:
        raise BadRequest(f"expires_at must be in the future and at most {MAX_LINK_LIFETIME.days} days away")
    if not 1 <= max_files <= MAX_LINK_FILES:
        raise BadRequest(f"max_files must be 1 to {MAX_LINK_FILES}")
    if not 1 <= max_bytes <= MAX_LINK_BYTES:
        raise BadRequest(f"max_bytes must be 1 to {MAX_LINK_BYTES}")
    if len(note) > MAX_NOTE:
        raise BadRequest(f"the note is at most {MAX_NOTE} characters")


class RequestLinks:
    def __init__(self, db: Database, authz: AuthzService, recorder: EventRecorder = NO_AUDIT) -> None:
        self._db, self._authz, self._recorder = db, authz, recorder

    async def create(
        self, user_id: str, case_id: str, note: str, expires_at: datetime, max_files: int, max_bytes: int
    ) -> tuple[LinkInfo, str]:
        """A new link and its token (shown only here)."""
        await self._authz.require(case_ref(case_id), "can_manage", user_id)
        _validate(note, expires_at, max_files, max_bytes)
        async with self._db.read() as session:
            if await case_requires_encryption(session, case_id):
                raise EncryptionRequired("this case takes end-to-end-encrypted files only, which a link cannot send")
        token = LINK_PREFIX + new_secret()
        link = RequestLink(
            id=new_id(), case_id=case_id, token_hash=hash_token(token), note=note.strip(),
            created_by=user_id, created_at=utcnow(), expires_at=expires_at, max_files=max_files,
            max_bytes=max_bytes, files_used=0, bytes_used=0,
        )
        async with self._db.write() as session:
            session.add(link)
            await session.flush()
            detail = {"link": link.id, "expires_at": expires_at.isoformat(), "max_files": max_files}
            await self._recorder.record(session, AuditEvent("link.create", user_id, f"case:{case_id}", detail))
        return _info(link), token

    async def list(self, user_id: str, case_id: str, page: PageRequest) -> Page[LinkInfo]:
        await self._authz.require(case_ref(case_id), "can_manage", user_id)
        query = select(RequestLink).where(RequestLink.case_id == case_id).order_by(RequestLink.id)
        if page.after:
            query = query.where(RequestLink.id > page.after)
        async with self._db.read() as session:
            links = [_info(link) for link in await session.scalars(query.limit(page.limit + 1))]
        return page_of(links, page, lambda link: link.id)

    async def revoke(self, user_id: str, case_id: str, link_id: str) -> None:
        await self._authz.require(case_ref(case_id), "can_manage", user_id)
        async with self._db.write() as session:
            link = await session.get(RequestLink, link_id) if is_valid_id(link_id) else None
            if link is None or link.case_id != case_id:
                raise NotFound("no such link")
            if link.revoked_at is None:
                link.revoked_at, link.revoked_by = utcnow(), user_id
                detail = {"link": link.id}
                await self._recorder.record(session, AuditEvent("link.revoke", user_id, f"case:{case_id}", detail))

    async def authenticate(self, token: str) -> LinkPrincipal:
        """The holder of a live link; Unauthenticated for unknown, expired or revoked ones."""
        if not token.startswith(LINK_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("invalid link")
        async with self._db.read() as session:
            row = (
                await session.execute(
                    select(RequestLink, User.disabled_at)
                    .join(User, User.id == RequestLink.created_by)
                    .where(RequestLink.token_hash == hash_token(token))
                )
            ).first()
        if row is None or row.RequestLink.revoked_at is not None or row.disabled_at is not None:
            raise Unauthenticated("invalid link")
        if row.RequestLink.expires_at <= utcnow():
            raise Unauthenticated("link expired")
        link = row.RequestLink
        return LinkPrincipal(link.id, link.case_id, link.created_by)

    async def describe(self, holder: LinkPrincipal) -> LinkInfo:
        async with self._db.read() as session:
            link = await session.get(RequestLink, holder.link_id)
        if link is None:
            raise NotFound("no such link")
        return _info(link)

    async def reserve(self, link_id: str, length: int) -> None:
        """Count one more upload of ``length`` bytes against the link's limits, atomically
        (several instances may take uploads through one link at once)."""
        async with self._db.write() as session:
            result = await session.execute(
                update(RequestLink)
                .where(
                    RequestLink.id == link_id,
                    RequestLink.revoked_at.is_(None),
                    RequestLink.expires_at > utcnow(),
                    RequestLink.files_used < RequestLink.max_files,
                    RequestLink.bytes_used + length <= RequestLink.max_bytes,
                )
                .values(files_used=RequestLink.files_used + 1, bytes_used=RequestLink.bytes_used + length)
            )
            if result.rowcount != 1:
                await self._refuse(session, link_id, length)

    async def _refuse(self, session: AsyncSession, link_id: str, length: int) -> None:
        link = await session.get(RequestLink, link_id)
        if link is None or link.revoked_at is not None or link.expires_at <= utcnow():
            raise Unauthenticated("invalid link")
        if link.files_used >= link.max_files:
            raise Forbidden("this link takes no more files")
        raise PayloadTooLarge(f"this link takes at most {link.max_bytes - link.bytes_used} more bytes")
