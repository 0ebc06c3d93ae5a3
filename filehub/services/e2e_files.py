"""Encrypted files: their signed headers, the wrapped file keys, and pending key requests.

A header (the "envelope") is stored before the upload completes; a wrapped-key row goes
only to the owner of its recipient key, and only while they may download the file, which
is checked on every request like the bytes themselves (docs/e2e.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from filehub.authz.service import AuthzService
from filehub.crypto.header import Header, WrappedKey
from filehub.crypto.keys import verify_signature
from filehub.crypto.stream import Layout
from filehub.db.models import (
    FileEnvelope,
    FileRecord,
    KeyRequestRecord,
    UploadRecord,
    UserKey,
    WrappedKeyRecord,
    utcnow,
)
from filehub.db.session import Database
from filehub.errors import (
    BadRequest,
    Conflict,
    EncryptionRequired,
    Forbidden,
    KeyAlreadyHeld,
    NoCertifiedKey,
    NotFound,
    Unprocessable,
    UploadNotFound,
)
from filehub.events import NO_AUDIT, AuditEvent, EventRecorder
from filehub.ids import is_valid_id, new_id
from filehub.services.accounts import Principal
from filehub.services.cases import case_ref, case_requires_encryption
from filehub.services.e2e_keys import KeyInfo, decoded, key_infos, usable
from filehub.services.files import ENCRYPTION_KEY, Files, file_ref
from filehub.services.pages import Page, PageRequest, page_of

FORMAT_VERSION = 1  # the format's file version: a changed source is a new upload
ENCRYPTION_VALUE = "filehub-e2e/1"
MAX_ROWS = 1000  # per request


@dataclass(frozen=True)
class EnvelopeInfo:
    file_id: str
    version: int
    header: bytes
    uploader: KeyInfo
    created_at: datetime  # when the server stored it: the time to check the uploader's chain at


@dataclass(frozen=True)
class HeldKey:
    wrapped_key: bytes
    recipient_key_id: str
    granter: KeyInfo
    created_at: datetime  # when the row was stored: the time to check the granter's chain at


@dataclass(frozen=True)
class KeyRequestInfo:
    id: str
    file_id: str
    requester: KeyInfo
    created_at: datetime


def declares_encryption(metadata: dict[str, object]) -> bool:
    return ENCRYPTION_KEY in metadata


async def check_completion(session: AsyncSession, record: UploadRecord, size: int) -> None:
    """Inside the completing transaction: an upload that declared encryption, or that goes
    into a case requiring it, completes only with a stored envelope of the right length."""
    required = declares_encryption(record.metadata_)
    if not required and record.case_id is not None:
        required = await case_requires_encryption(session, record.case_id)
    if not required:
        return
    envelope = await session.get(FileEnvelope, record.id)
    if envelope is None:
        raise EncryptionRequired()
    if Layout(envelope.plaintext_length).ciphertext_length != size:
        raise EncryptionRequired("the stored bytes do not match the signed header's length")


def _wrapped_event(file_id: str, recipients: list[UserKey], granter_keys: list[str], actor_id: str) -> AuditEvent:
    detail = {"granter_keys": granter_keys,
              "recipients": [{"key": r.key_id, "user": r.user_id} for r in recipients]}
    return AuditEvent("file.key_wrapped", actor_id, f"file:{file_id}", detail)


class Envelopes:
    def __init__(self, db: Database, authz: AuthzService, files: Files, recorder: EventRecorder = NO_AUDIT) -> None:
        self._db, self._authz, self._files, self._recorder = db, authz, files, recorder

    # --- the uploader -------------------------------------------------------------------

    async def put(self, actor: Principal, upload_id: str, header: bytes, wrapped_key: bytes) -> None:
        parsed: Header = decoded(Header, header, "header")
        row: WrappedKey = decoded(WrappedKey, wrapped_key, "wrapped key")
        async with self._db.write() as session:
            upload = await session.get(UploadRecord, upload_id) if is_valid_id(upload_id) else None
            if upload is None or upload.owner_id != actor.user_id:
                raise UploadNotFound()
            if upload.state != "active":
                raise Conflict("the upload is finished: its header can no longer change")
            if upload.case_id is not None and not await self._authz.check(case_ref(upload.case_id), "can_upload", actor.user_id):
                raise Forbidden("you may no longer upload into this case")
            if parsed.file_id != bytes.fromhex(upload_id) or parsed.version != FORMAT_VERSION:
                raise Unprocessable("the header must name this upload's id and version 1")
            uploader = await session.get(UserKey, parsed.uploader_key_id.hex())
            if not usable(uploader) or uploader.user_id != actor.user_id:  # type: ignore[union-attr]
                raise Unprocessable("the header must be signed by a certified, unrevoked key of yours")
            assert uploader is not None
            if not verify_signature(uploader.signing_key, parsed.body(), parsed.signature):
                raise Unprocessable("the header's signature does not verify")
            if upload.length is not None and parsed.layout.ciphertext_length != upload.length:
                raise Unprocessable("the header's plaintext length does not match Upload-Length")
            if row.recipient_key_id != parsed.uploader_key_id:
                raise Unprocessable("the envelope's wrapped key must be sealed to the uploader's own key")
            self._check_row(row, upload_id, uploader)
            previous = await session.get(FileEnvelope, upload_id)
            if previous is not None:
                await session.delete(previous)  # a restarted client re-sends it; the last one counts
                await session.flush()
            session.add(FileEnvelope(upload_id=upload_id, version=parsed.version, header=header,
                                     uploader_key_id=uploader.key_id, plaintext_length=parsed.plaintext_length,
                                     created_at=utcnow()))
            await self._add_row(session, upload_id, row, wrapped_key, uploader, uploader, actor.user_id)
            detail = {"key": uploader.key_id, "plaintext_length": parsed.plaintext_length}
            await self._recorder.record(session, AuditEvent("file.envelope_set", actor.user_id, f"upload:{upload_id}", detail))

    # --- readers --------------------------------------------------------------------------

    async def get(self, user_id: str, file_id: str) -> EnvelopeInfo:
        await self._files.get(user_id, file_id, "can_download")
        async with self._db.read() as session:
            envelope = await session.get(FileEnvelope, file_id)
            if envelope is None:
                raise NotFound("this file is not end-to-end encrypted")
            uploader = await session.get(UserKey, envelope.uploader_key_id)
            assert uploader is not None
            info = (await key_infos(session, [uploader]))[0]
        return EnvelopeInfo(file_id, envelope.version, envelope.header, info, envelope.created_at)

    async def mine(self, user_id: str, file_id: str) -> list[HeldKey]:
        """The caller's rows for the file, while they may download it (each fetch audited)."""
        await self._files.get(user_id, file_id, "can_download")
        async with self._db.write() as session:
            rows = list(await session.execute(
                select(WrappedKeyRecord, UserKey)
                .join(UserKey, UserKey.key_id == WrappedKeyRecord.recipient_key_id)
                .where(WrappedKeyRecord.upload_id == file_id, WrappedKeyRecord.recipient_user_id == user_id,
                       UserKey.revoked_at.is_(None))
                .order_by(WrappedKeyRecord.id)
            ))
            granters = {k.key_id: k for k in await session.scalars(
                select(UserKey).where(UserKey.key_id.in_({r.WrappedKeyRecord.granter_key_id for r in rows}))
            )}
            infos = {k.key_id: k for k in await key_infos(session, list(granters.values()))}
            if rows:
                detail = {"keys": [r.WrappedKeyRecord.recipient_key_id for r in rows]}
                await self._recorder.record(session, AuditEvent("file.key_fetched", user_id, f"file:{file_id}", detail))
        return [HeldKey(r.WrappedKeyRecord.row, r.WrappedKeyRecord.recipient_key_id,
                        infos[r.WrappedKeyRecord.granter_key_id], r.WrappedKeyRecord.created_at) for r in rows]

    # --- sharing ---------------------------------------------------------------------------

    async def add(self, actor: Principal, file_id: str, rows: list[bytes]) -> tuple[int, int]:
        """Store rows granted by the caller; (added, skipped as already present). One batch
        of statements per request, whatever the number of rows (sharing a bundle with a
        whole firm is thousands of rows)."""
        if not 1 <= len(rows) <= MAX_ROWS:
            raise BadRequest(f"send 1 to {MAX_ROWS} wrapped keys at a time")
        await self._files.get(actor.user_id, file_id, "can_download")
        parsed: list[WrappedKey] = [decoded(WrappedKey, r, "wrapped key") for r in rows]
        async with self._db.write() as session:
            if await session.get(FileEnvelope, file_id) is None:
                raise Conflict("this file is not end-to-end encrypted")
            keys = await self._keys(session, {p.granter_key_id.hex() for p in parsed} | {p.recipient_key_id.hex() for p in parsed})
            held = set(await session.scalars(
                select(WrappedKeyRecord.recipient_key_id).where(WrappedKeyRecord.upload_id == file_id)
            ))
            now, new_rows, recipients = utcnow(), [], []
            for data, row in zip(rows, parsed, strict=True):
                granter, recipient = keys.get(row.granter_key_id.hex()), keys.get(row.recipient_key_id.hex())
                if not usable(granter) or granter.user_id != actor.user_id:  # type: ignore[union-attr]
                    raise Unprocessable("each row must be signed by a certified, unrevoked key of yours")
                if not usable(recipient):
                    raise Unprocessable("each row must be sealed to a certified, unrevoked key")
                assert granter is not None and recipient is not None
                self._check_row(row, file_id, granter)
                if recipient.key_id in held:
                    continue
                held.add(recipient.key_id)
                new_rows.append({"id": new_id(), "upload_id": file_id, "recipient_key_id": recipient.key_id,
                                 "recipient_user_id": recipient.user_id, "granter_key_id": granter.key_id,
                                 "granted_by": actor.user_id, "row": data, "created_at": now})
                recipients.append(recipient)
            if new_rows:
                await session.execute(insert(WrappedKeyRecord), new_rows)
                await self._fulfil(session, file_id, [r["recipient_key_id"] for r in new_rows])
                # One event per share, naming every recipient: sharing a bundle with a firm is
                # thousands of rows, and each audit row costs eight index updates.
                granters = sorted({p.granter_key_id.hex() for p in parsed})
                await self._recorder.record(session, _wrapped_event(file_id, recipients, granters, actor.user_id))
        return len(new_rows), len(rows) - len(new_rows)

    @staticmethod
    async def _fulfil(session: AsyncSession, file_id: str, key_ids: list[str]) -> None:
        await session.execute(
            update(KeyRequestRecord)
            .where(KeyRequestRecord.upload_id == file_id, KeyRequestRecord.key_id.in_(key_ids),
                   KeyRequestRecord.fulfilled_at.is_(None))
            .values(fulfilled_at=utcnow())
        )

    @staticmethod
    def _check_row(row: WrappedKey, file_id: str, granter: UserKey) -> None:
        if row.file_id != bytes.fromhex(file_id) or row.version != FORMAT_VERSION:
            raise Unprocessable("a wrapped key must name this file's id and version 1")
        if row.granter_key_id.hex() != granter.key_id or not verify_signature(granter.signing_key, row.body(), row.signature):
            raise Unprocessable("a wrapped key's signature does not verify")

    async def _add_row(
        self, session: AsyncSession, file_id: str, row: WrappedKey, data: bytes,
        recipient: UserKey, granter: UserKey, actor_id: str,
    ) -> None:
        existing = await session.scalar(select(WrappedKeyRecord).where(
            WrappedKeyRecord.upload_id == file_id, WrappedKeyRecord.recipient_key_id == recipient.key_id))
        if existing is not None:  # the uploader's own row, re-sent with a re-sent envelope
            await session.delete(existing)
            await session.flush()
        session.add(WrappedKeyRecord(id=new_id(), upload_id=file_id, recipient_key_id=recipient.key_id,
                                     recipient_user_id=recipient.user_id, granter_key_id=granter.key_id,
                                     granted_by=actor_id, row=data, created_at=utcnow()))
        await session.flush()
        await self._fulfil(session, file_id, [recipient.key_id])
        await self._recorder.record(session, _wrapped_event(file_id, [recipient], [granter.key_id], actor_id))

    @staticmethod
    async def _keys(session: AsyncSession, key_ids: set[str]) -> dict[str, UserKey]:
        return {k.key_id: k for k in await session.scalars(select(UserKey).where(UserKey.key_id.in_(key_ids)))}

    # --- key requests ------------------------------------------------------------------------

    async def request(self, actor: Principal, file_id: str) -> KeyRequestInfo:
        """Ask holders of the file's key to seal it to the caller's newest certified key."""
        await self._files.get(actor.user_id, file_id, "can_download")
        async with self._db.write() as session:
            if await session.get(FileEnvelope, file_id) is None:
                raise Conflict("this file is not end-to-end encrypted")
            key = await session.scalar(
                select(UserKey).where(UserKey.user_id == actor.user_id, UserKey.certificate.is_not(None),
                                      UserKey.revoked_at.is_(None)).order_by(UserKey.certified_at.desc()).limit(1))
            if key is None:
                raise NoCertifiedKey()
            if await session.scalar(select(WrappedKeyRecord.id).where(
                    WrappedKeyRecord.upload_id == file_id, WrappedKeyRecord.recipient_key_id == key.key_id)):
                raise KeyAlreadyHeld()
            record = await self._open_request(session, file_id, key)
            info = (await key_infos(session, [key]))[0]
        return KeyRequestInfo(record.id, file_id, info, record.created_at)

    async def _open_request(self, session: AsyncSession, file_id: str, key: UserKey) -> KeyRequestRecord:
        record = await session.scalar(select(KeyRequestRecord).where(
            KeyRequestRecord.upload_id == file_id, KeyRequestRecord.key_id == key.key_id))
        if record is None:
            record = KeyRequestRecord(id=new_id(), upload_id=file_id, key_id=key.key_id, user_id=key.user_id,
                                      created_at=utcnow())
            session.add(record)
            await session.flush()
            await self._recorder.record(session, AuditEvent("file.key_requested", key.user_id, f"file:{file_id}", {"key": key.key_id}))
        return record

    async def request_missing(self, kid: str) -> int:
        """After a key is certified: a request for every encrypted file of a case its owner
        may download and holds no row for (so a member who joins later is covered)."""
        async with self._db.read() as session:
            key = await session.get(UserKey, kid)
        if not usable(key):
            return 0
        assert key is not None
        visible = await self._authz.list_ids("file", "can_download", key.user_id)
        if not visible:
            return 0
        async with self._db.write() as session:
            encrypted = set(await session.scalars(
                select(FileEnvelope.upload_id).join(FileRecord, FileRecord.id == FileEnvelope.upload_id)
                .where(self._db.among(FileEnvelope.upload_id, sorted(visible)))
            ))
            held = set(await session.scalars(select(WrappedKeyRecord.upload_id).where(WrappedKeyRecord.recipient_key_id == kid)))
            for file_id in sorted(encrypted - held):
                await self._open_request(session, file_id, key)
        return len(encrypted - held)

    async def pending(self, actor: Principal, page: PageRequest) -> Page[KeyRequestInfo]:
        """Requests the caller can fulfil: they hold a row for the file and may download it,
        and the requester still may (revoked access drops a request from every list)."""
        query = (
            select(KeyRequestRecord, FileRecord.case_id)
            .join(FileRecord, FileRecord.id == KeyRequestRecord.upload_id)
            .join(WrappedKeyRecord, WrappedKeyRecord.upload_id == KeyRequestRecord.upload_id)
            .join(UserKey, UserKey.key_id == KeyRequestRecord.key_id)
            .where(KeyRequestRecord.fulfilled_at.is_(None), WrappedKeyRecord.recipient_user_id == actor.user_id,
                   KeyRequestRecord.user_id != actor.user_id,
                   UserKey.certificate.is_not(None), UserKey.revoked_at.is_(None))  # a revoked key gets no rows
            .order_by(KeyRequestRecord.id)
            .distinct()
        )
        if page.after:
            query = query.where(KeyRequestRecord.id > page.after)
        decision = await self._authz.decision()
        chosen: list[KeyRequestRecord] = []
        async with self._db.read() as session:
            for record, case_id in await session.execute(query):
                if case_id is None:
                    continue  # a personal file has one reader: its owner
                target = file_ref(record.upload_id)
                if decision.check(target, "can_download", actor.user_id) and decision.check(target, "can_download", record.user_id):
                    chosen.append(record)
                    if len(chosen) > page.limit:
                        break
            keys = {k.key_id: k for k in await session.scalars(
                select(UserKey).where(UserKey.key_id.in_({r.key_id for r in chosen})))}
            infos = {k.key_id: k for k in await key_infos(session, list(keys.values()))}
        items = [KeyRequestInfo(r.id, r.upload_id, infos[r.key_id], r.created_at) for r in chosen]
        return page_of(items, page, lambda r: r.id)
