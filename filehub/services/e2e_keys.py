"""Users' public keys, their certificates and revocations, and organisations' root keys.

The server checks structure and signatures so that nonsense is refused early, but clients
never take its word: they verify every chain against roots they pinned (docs/e2e.md).
Public keys are public, so any signed-in user may read any of them (sharing needs that).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from filehub.crypto import CryptoError
from filehub.crypto.keys import Certificate, PublicIdentity, Revocation, key_id, verify_chain, verify_signature
from filehub.db.models import OrgRootKeyRecord, UserKey, utcnow
from filehub.db.session import Database
from filehub.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from filehub.events import NO_AUDIT, AuditEvent, EventRecorder
from filehub.ids import is_valid_id
from filehub.services.accounts import Principal
from filehub.services.pages import Page, PageRequest, page_of

PUBLIC_KEY_SIZE = 32


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    user_id: str
    org_id: str
    signing_key: bytes
    encryption_key: bytes
    certificate: bytes | None
    intermediates: list[bytes]
    revocations: list[bytes]
    created_at: datetime
    certified_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class OrgKeyInfo:
    org_id: str
    public_key: bytes
    key_id: str
    created_at: datetime


def is_key_id(value: str) -> bool:
    return is_valid_id(value)  # 32 lowercase hex digits, like every id


def usable(key: UserKey | None) -> bool:
    """Certified and not revoked: the only keys that may sign or receive rows."""
    return key is not None and key.certificate is not None and key.revoked_at is None


async def org_trust_material(session: AsyncSession, org_ids: Iterable[str]) -> dict[str, tuple[list[bytes], list[bytes]]]:
    """org id -> (certificates of its certifying administrators, revocations of its keys)."""
    wanted = set(org_ids)
    found: dict[str, tuple[list[bytes], list[bytes]]] = {org: ([], []) for org in wanted}
    if not wanted:
        return found
    rows = await session.execute(
        select(UserKey.org_id, UserKey.certificate, UserKey.may_certify, UserKey.revocation).where(
            UserKey.org_id.in_(wanted), (UserKey.may_certify.is_(True)) | (UserKey.revocation.is_not(None))
        ).order_by(UserKey.key_id)
    )
    for org, certificate, may_certify, revocation in rows:
        if may_certify and certificate is not None:
            found[org][0].append(certificate)
        if revocation is not None:
            found[org][1].append(revocation)
    return found


async def key_infos(session: AsyncSession, keys: list[UserKey]) -> list[KeyInfo]:
    material = await org_trust_material(session, {k.org_id for k in keys})
    return [
        KeyInfo(k.key_id, k.user_id, k.org_id, k.signing_key, k.encryption_key, k.certificate,
                *material[k.org_id], k.created_at, k.certified_at, k.revoked_at)
        for k in keys
    ]


def decoded(kind: type, data: bytes, what: str):  # type: ignore[no-untyped-def]
    """``kind.decode(data)``, or 422 saying which object is not well formed."""
    try:
        return kind.decode(data)
    except CryptoError as exc:
        raise Unprocessable(f"the {what} is not well formed: {exc}") from None


class KeyDirectory:
    def __init__(self, db: Database, recorder: EventRecorder = NO_AUDIT) -> None:
        self._db, self._recorder = db, recorder

    async def register(self, actor: Principal, signing_key: bytes, encryption_key: bytes) -> tuple[KeyInfo, bool]:
        """The caller's public identity; (its record, whether it is new)."""
        if len(signing_key) != PUBLIC_KEY_SIZE or len(encryption_key) != PUBLIC_KEY_SIZE:
            raise BadRequest("signing_key and encryption_key are 32-byte public keys")
        identity = PublicIdentity(signing_key, encryption_key)
        kid = identity.key_id.hex()
        async with self._db.write() as session:
            existing = await session.get(UserKey, kid)
            if existing is not None:
                if existing.user_id != actor.user_id:
                    raise Conflict("this key is registered to another user")
                return (await key_infos(session, [existing]))[0], False
            key = UserKey(key_id=kid, user_id=actor.user_id, org_id=actor.org_id, signing_key=signing_key,
                          encryption_key=encryption_key, created_at=utcnow())
            session.add(key)
            await session.flush()
            await self._recorder.record(session, AuditEvent("key.registered", actor.user_id, f"key:{kid}"))
            return (await key_infos(session, [key]))[0], True

    async def get(self, kid: str) -> KeyInfo:
        async with self._db.read() as session:
            key = await session.get(UserKey, kid) if is_key_id(kid) else None
            if key is None:
                raise NotFound("no such key")
            return (await key_infos(session, [key]))[0]

    async def list(self, page: PageRequest, *, user_id: str | None = None, org_id: str | None = None) -> Page[KeyInfo]:
        if (user_id is None) == (org_id is None):
            raise BadRequest("list keys by exactly one of ?user=, ?org= or ?mine=1")
        query = select(UserKey).order_by(UserKey.key_id).limit(page.limit + 1)
        query = query.where(UserKey.user_id == user_id) if user_id else query.where(UserKey.org_id == org_id)
        if page.after:
            query = query.where(UserKey.key_id > page.after)
        async with self._db.read() as session:
            keys = list(await session.scalars(query))
            return page_of(await key_infos(session, keys), page, lambda k: k.key_id)

    async def certify(self, actor: Principal, kid: str, certificate: bytes) -> KeyInfo:
        cert: Certificate = decoded(Certificate, certificate, "certificate")
        async with self._db.write() as session:
            key = await self._administered(session, actor, kid)
            if key.revoked_at is not None:
                raise Conflict("this key has been revoked")
            if (cert.subject.signing_key, cert.subject.encryption_key) != (key.signing_key, key.encryption_key):
                raise Unprocessable("the certificate is for another key")
            if (cert.org_id, cert.user_id) != (key.org_id, key.user_id):
                raise Unprocessable("the certificate must name the key owner's organisation id and user id")
            now = int(time.time())
            if not cert.not_before <= now < cert.not_after:
                raise Unprocessable("the certificate is not valid now")
            await self._check_chain(session, key.org_id, certificate, now)
            key.certificate, key.may_certify = certificate, cert.may_certify
            key.certified_at, key.certified_by = utcnow(), actor.user_id
            detail = {"user": key.user_id, "may_certify": cert.may_certify,
                      "not_after": datetime.fromtimestamp(cert.not_after, UTC).isoformat()}
            await self._recorder.record(session, AuditEvent("key.certified", actor.user_id, f"key:{kid}", detail))
            await session.flush()
            info = (await key_infos(session, [key]))[0]
        return info

    async def _check_chain(self, session: AsyncSession, org_id: str, certificate: bytes, now: int) -> None:
        root = await session.get(OrgRootKeyRecord, org_id)
        if root is None:
            return  # clients verify against their pinned root in any case
        intermediates, revocations = (await org_trust_material(session, [org_id]))[org_id]
        try:
            verify_chain(certificate, root.public_key, org_id=org_id, now=now,
                         intermediates=intermediates, revocations=revocations)
        except CryptoError as exc:
            raise Unprocessable(f"the certificate does not chain to the organisation's root key: {exc}") from None

    async def revoke(self, actor: Principal, kid: str, revocation: bytes) -> KeyInfo:
        statement: Revocation = decoded(Revocation, revocation, "revocation")
        async with self._db.write() as session:
            key = await session.get(UserKey, kid) if is_key_id(kid) else None
            if key is None:
                raise NotFound("no such key")
            if key.user_id != actor.user_id and not (actor.role == "admin" and actor.org_id == key.org_id):
                raise Forbidden("only the key's owner or an admin of its organisation may revoke it")
            if statement.subject_key_id.hex() != kid:
                raise Unprocessable("the revocation is for another key")
            signers = await self._revokers(session, key)
            public_key = signers.get(statement.signer_key_id)
            if public_key is None or not verify_signature(public_key, statement.body(), statement.signature):
                raise Unprocessable("the revocation must verify under the key, its certifier or the organisation root")
            if key.revoked_at is None:
                key.revocation, key.revoked_at = revocation, utcnow()
                detail = {"user": key.user_id, "reason": statement.reason}
                await self._recorder.record(session, AuditEvent("key.revoked", actor.user_id, f"key:{kid}", detail))
                await session.flush()
            return (await key_infos(session, [key]))[0]

    async def _revokers(self, session: AsyncSession, key: UserKey) -> dict[bytes, bytes]:
        """Key id -> Ed25519 public key of who may revoke ``key``: itself, its certifier, the root."""
        signers = {bytes.fromhex(key.key_id): key.signing_key}
        root = await session.get(OrgRootKeyRecord, key.org_id)
        if root is not None:
            signers[key_id(root.public_key)] = root.public_key
        if key.certificate is not None:
            issuer = Certificate.decode(key.certificate).issuer_key_id
            certifier = await session.get(UserKey, issuer.hex())
            if certifier is not None:
                signers[issuer] = certifier.signing_key
        return signers

    async def _administered(self, session: AsyncSession, actor: Principal, kid: str) -> UserKey:
        key = await session.get(UserKey, kid) if is_key_id(kid) else None
        if key is None:
            raise NotFound("no such key")
        if actor.role != "admin" or actor.org_id != key.org_id:
            raise Forbidden("only an admin of the key owner's organisation may certify it")
        return key

    async def set_root(self, actor: Principal, org_id: str, public_key: bytes) -> OrgKeyInfo:
        if len(public_key) != PUBLIC_KEY_SIZE:
            raise BadRequest("public_key is a 32-byte Ed25519 public key")
        if actor.role != "admin" or actor.org_id != org_id:
            raise Forbidden("only an admin of the organisation may publish its root key")
        async with self._db.write() as session:
            existing = await session.get(OrgRootKeyRecord, org_id)
            if existing is not None:
                if existing.public_key != public_key:
                    raise Conflict("the organisation's root key is already published")
                return _org_key(existing)
            record = OrgRootKeyRecord(org_id=org_id, public_key=public_key, key_id=key_id(public_key).hex(),
                                      created_by=actor.user_id, created_at=utcnow())
            session.add(record)
            await session.flush()
            detail = {"key_id": record.key_id}
            await self._recorder.record(session, AuditEvent("org.root_key_set", actor.user_id, f"organisation:{org_id}", detail))
            return _org_key(record)

    async def root(self, org_id: str) -> OrgKeyInfo:
        async with self._db.read() as session:
            record = await session.get(OrgRootKeyRecord, org_id) if is_valid_id(org_id) else None
        if record is None:
            raise NotFound("this organisation has published no root key")
        return _org_key(record)


def _org_key(record: OrgRootKeyRecord) -> OrgKeyInfo:
    return OrgKeyInfo(record.org_id, record.public_key, record.key_id, record.created_at)
