"""Files: the records complete uploads become. A file is visible to its owner only (until
the access-control model arrives); anyone else gets the same answer as for a missing one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from filehub.db.models import FileRecord
from filehub.db.session import Database
from filehub.errors import NotFound
from filehub.ids import is_valid_id

MAX_PAGE = 200


@dataclass(frozen=True)
class FileInfo:
    id: str
    upload_id: str
    owner_id: str
    size: int
    sha256: str
    metadata: dict[str, Any]
    created_at: datetime


def _info(record: FileRecord) -> FileInfo:
    return FileInfo(
        id=record.id,
        upload_id=record.upload_id,
        owner_id=record.owner_id,
        size=record.size,
        sha256=record.sha256,
        metadata=dict(record.metadata_),
        created_at=record.created_at,
    )


class Files:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str, file_id: str) -> FileInfo:
        if not is_valid_id(file_id):
            raise NotFound("no such file")
        async with self._db.read() as session:
            record = await session.get(FileRecord, file_id)
        if record is None or record.owner_id != user_id:
            raise NotFound("no such file")
        return _info(record)

    async def list(self, user_id: str, *, limit: int, after: str | None) -> list[FileInfo]:
        """A page of the user's files in id order; ``after`` is the last id of the previous page."""
        query = select(FileRecord).where(FileRecord.owner_id == user_id)
        if after:
            query = query.where(FileRecord.id > after)
        query = query.order_by(FileRecord.id).limit(max(1, min(limit, MAX_PAGE)))
        async with self._db.read() as session:
            return [_info(r) for r in await session.scalars(query)]
