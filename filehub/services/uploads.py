"""The offset of record: uploads and the files they become, in the database.

An upload that names a case (set by the upload policy at creation) becomes a file of that
case: the file row and its tuple `file:f#case@case:c` are written in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from filehub.authz.model import ObjectRef, RelationTuple, SubjectRef
from filehub.authz.service import TupleWriter
from filehub.db.models import FileRecord, UploadRecord, utcnow
from filehub.db.session import Database
from filehub.errors import Conflict, OffsetMismatch, UploadNotFound
from filehub.events import NO_AUDIT, AuditEvent, EventRecorder
from filehub.ids import new_id
from filehub.services.e2e_files import check_completion
from filehub.storage.base import UploadInfo, UploadState
from filehub.tus.protocol import metadata_text

EXHIBIT_KEY = "exhibit_ref"  # Upload-Metadata key of the exhibit reference, e.g. "JS/1"
MAX_EXHIBIT_REF = 100  # characters


def _info(record: UploadRecord, file: FileRecord | None) -> UploadInfo:
    return UploadInfo(
        id=record.id,
        owner_id=record.owner_id,
        offset=record.offset,
        length=record.length,
        metadata=dict(record.metadata_),
        concat=record.concat,  # type: ignore[arg-type]
        partial_ids=tuple(record.partial_ids),
        state=record.state,  # type: ignore[arg-type]
        expires_at=record.expires_at,
        created_at=record.created_at,
        file_id=file.id if file else None,
        sha256=file.sha256 if file else None,
        case_id=record.case_id,
        link_id=record.link_id,
    )


def case_file_tuple(file_id: str, case_id: str) -> RelationTuple:
    return RelationTuple(new_id(), ObjectRef("file", file_id), "case", SubjectRef("case", case_id))


class DbUploadRegistry:
    """UploadRegistry on SQLAlchemy. Offsets only move by compare-and-set."""

    def __init__(self, db: Database, writer: TupleWriter | None = None, recorder: EventRecorder = NO_AUDIT) -> None:
        self._db = db
        self._writer = writer or TupleWriter()
        self._recorder = recorder

    async def create(self, info: UploadInfo) -> None:
        async with self._db.write() as session:
            session.add(
                UploadRecord(
                    id=info.id,
                    owner_id=info.owner_id,
                    offset=info.offset,
                    length=info.length,
                    metadata_=info.metadata,
                    concat=info.concat,
                    partial_ids=list(info.partial_ids),
                    state=info.state,
                    expires_at=info.expires_at,
                    case_id=info.case_id,
                    link_id=info.link_id,
                )
            )
            await session.flush()
            detail = {"length": info.length, "case": info.case_id, "link": info.link_id, "concat": info.concat}
            await self._recorder.record(session, AuditEvent("upload.created", info.owner_id, f"upload:{info.id}", detail))
            if info.link_id is not None:  # a use of the request link, whose holder has no account
                used = {"upload": info.id, "length": info.length, "case": info.case_id}
                await self._recorder.record(session, AuditEvent("link.used", None, f"link:{info.link_id}", used))

    async def get(self, upload_id: str) -> UploadInfo | None:
        async with self._db.read() as session:
            row = (
                await session.execute(
                    select(UploadRecord, FileRecord)
                    .outerjoin(FileRecord, FileRecord.upload_id == UploadRecord.id)
                    .where(UploadRecord.id == upload_id)
                )
            ).first()
        return None if row is None else _info(row[0], row[1])

    async def get_many(self, upload_ids: list[str]) -> dict[str, UploadInfo]:
        async with self._db.read() as session:
            records = await session.scalars(select(UploadRecord).where(UploadRecord.id.in_(upload_ids)))
            return {r.id: _info(r, None) for r in records}

    async def _update(
        self, upload_id: str, *conditions: Any, event: tuple[str, str | None] | None = None, **values: Any
    ) -> None:
        async with self._db.write() as session:
            result = await session.execute(
                update(UploadRecord)
                .where(UploadRecord.id == upload_id, *conditions)
                .values(updated_at=utcnow(), **values)
            )
            if result.rowcount != 1:
                raise OffsetMismatch() if conditions else UploadNotFound()
            if event is not None:
                action, actor = event
                await self._recorder.record(session, AuditEvent(action, actor, f"upload:{upload_id}"))

    async def advance(
        self, upload_id: str, from_offset: int, to_offset: int, expires_at: datetime | None
    ) -> None:
        await self._update(
            upload_id,
            UploadRecord.offset == from_offset,
            UploadRecord.state == "active",
            offset=to_offset,
            expires_at=expires_at,
        )

    async def declare_length(self, upload_id: str, length: int) -> None:
        try:
            await self._update(upload_id, UploadRecord.length.is_(None), length=length)
        except OffsetMismatch:
            raise Conflict("Upload-Length is already set") from None

    async def finish_concat(self, upload_id: str, length: int) -> None:
        await self._update(upload_id, offset=length, length=length)

    async def set_state(self, upload_id: str, state: UploadState) -> None:
        """Terminated (by its owner) and expired (by the reaper) are audit events."""
        event = None
        if state in ("terminated", "expired"):
            actor = None
            if state == "terminated":
                async with self._db.read() as session:
                    actor = await session.scalar(select(UploadRecord.owner_id).where(UploadRecord.id == upload_id))
            event = (f"upload.{state}", actor)
        await self._update(upload_id, state=state, event=event)

    async def complete(self, upload_id: str, size: int, sha256: str) -> str:
        """The file record of a finished upload. Its id is the upload's: an encrypted file's
        header and rows bind that id before the file exists (docs/e2e.md)."""
        file_id = upload_id
        async with self._db.write() as session:
            record = await session.get(UploadRecord, upload_id, with_for_update=True)
            if record is None or record.state != "active":
                raise UploadNotFound()
            existing = await session.scalar(select(FileRecord.id).where(FileRecord.upload_id == upload_id))
            if existing is not None:  # a retried completion: the file exists already
                return existing
            await check_completion(session, record, size)
            record.state = "complete"
            record.expires_at = None
            record.updated_at = utcnow()
            exhibit = metadata_text(record.metadata_, EXHIBIT_KEY)
            session.add(
                FileRecord(
                    id=file_id,
                    upload_id=upload_id,
                    owner_id=record.owner_id,
                    size=size,
                    sha256=sha256,
                    metadata_=dict(record.metadata_),
                    case_id=record.case_id,
                    exhibit_ref=exhibit[:MAX_EXHIBIT_REF] if exhibit else None,
                )
            )
            if record.case_id is not None:
                await session.flush()
                tuple_ = case_file_tuple(file_id, record.case_id)
                await self._writer.add(session, [tuple_], record.owner_id)
            await session.flush()
            detail = {"upload": upload_id, "size": size, "sha256": sha256, "case": record.case_id}
            await self._recorder.record(session, AuditEvent("upload.completed", record.owner_id, f"file:{file_id}", detail))
        return file_id

    async def expired(self, now: datetime, limit: int) -> list[UploadInfo]:
        """Unfinished uploads past expiry, and partial uploads past expiry (their bytes were
        copied into any final upload that used them)."""
        async with self._db.read() as session:
            records = await session.scalars(
                select(UploadRecord)
                .where(
                    UploadRecord.expires_at.is_not(None),
                    UploadRecord.expires_at <= now,
                    UploadRecord.state.in_(("active", "complete")),
                )
                .order_by(UploadRecord.expires_at)
                .limit(limit)
            )
            return [_info(r, None) for r in records if r.state == "active" or r.concat == "partial"]
