"""Files: the records complete uploads become, and who may see them.

A file of a case is visible to whoever the authorisation model says (`file#can_view`) and
downloadable likewise (`file#can_download`), checked again before every block served. A
personal upload (no case) stays its owner's alone, as before cases existed. Anyone else
gets exactly the answer given for a missing file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from filehub.authz.model import ObjectRef
from filehub.authz.service import AuthzService, Decision
from filehub.db.models import FileRecord
from filehub.db.session import Database
from filehub.errors import NotFound
from filehub.ids import is_valid_id
from filehub.services.cases import case_ref, permissions
from filehub.services.pages import MAX_PAGE, Page, PageRequest, page_of_ids

__all__ = ["MAX_PAGE", "FileInfo", "Files"]

FILE_PERMISSIONS = ("can_view", "can_download")
ENCRYPTION_KEY = "encryption"  # the Upload-Metadata key an encrypted upload declares


@dataclass(frozen=True)
class FileInfo:
    id: str
    upload_id: str
    owner_id: str
    case_id: str | None
    exhibit_ref: str | None
    size: int
    sha256: str
    metadata: dict[str, Any]
    created_at: datetime
    permissions: tuple[str, ...] = FILE_PERMISSIONS
    encrypted: bool = False  # end-to-end: the bytes are ciphertext (docs/e2e.md)


def file_ref(file_id: str) -> ObjectRef:
    return ObjectRef("file", file_id)


def _info(record: FileRecord, held: tuple[str, ...]) -> FileInfo:
    return FileInfo(
        id=record.id,
        upload_id=record.upload_id,
        owner_id=record.owner_id,
        case_id=record.case_id,
        exhibit_ref=record.exhibit_ref,
        size=record.size,
        sha256=record.sha256,
        metadata=dict(record.metadata_),
        created_at=record.created_at,
        permissions=held,
        encrypted=ENCRYPTION_KEY in record.metadata_,
    )


# Pages read plain rows, not ORM objects: a third of the cost for a page of 1,000 files.
_FILES = FileRecord.__table__


class Files:
    def __init__(self, db: Database, authz: AuthzService) -> None:
        self._db = db
        self._authz = authz

    async def get(self, user_id: str, file_id: str, permission: str = "can_view") -> FileInfo:
        """The file if the caller holds ``permission`` on it: 404 if they may not view it,
        403 if they may view but not download it."""
        async with self._db.read() as session:
            record = await session.get(FileRecord, file_id) if is_valid_id(file_id) else None
        if record is None:
            raise NotFound("no such file")
        if record.case_id is None:  # a personal upload: its owner's only
            if record.owner_id != user_id:
                raise NotFound("no such file")
            return _info(record, FILE_PERMISSIONS)
        decision = await self._authz.require(file_ref(file_id), permission, user_id)
        return _info(record, permissions(decision, file_ref(file_id), user_id, FILE_PERMISSIONS))

    async def still_downloadable(self, user_id: str, info: FileInfo) -> None:
        """Raise NotFound once the caller has lost the file (before each block served)."""
        if info.case_id is not None and not await self._authz.check(file_ref(info.id), "can_download", user_id):
            raise NotFound("no such file")

    async def list(self, user_id: str, page: PageRequest, *, case_id: str | None = None) -> Page[FileInfo]:
        """A page of the files the caller may view: everywhere (with their personal uploads),
        or in one case, which they must view."""
        if case_id is not None:
            decision = await self._authz.require(case_ref(case_id), "can_view", user_id)
            async with self._db.read() as session:
                in_case = set(await session.scalars(select(FileRecord.id).where(FileRecord.case_id == case_id)))
            visible = decision.ids("file", "can_view", user_id) & in_case
            return await self._page(decision, user_id, visible, page)
        decision = await self._authz.decision()
        personal = (
            select(FileRecord.id)
            .where(FileRecord.owner_id == user_id, FileRecord.case_id.is_(None))
            .order_by(FileRecord.id)
            .limit(page.limit + 1)  # enough to fill this page and know if another follows
        )
        if page.after:
            personal = personal.where(FileRecord.id > page.after)
        async with self._db.read() as session:
            mine = set(await session.scalars(personal))
        return await self._page(decision, user_id, decision.ids("file", "can_view", user_id) | mine, page)

    async def list_among(
        self, user_id: str, decision: Decision, ids: Iterable[str], page: PageRequest
    ) -> Page[FileInfo]:
        """A page of those of ``ids`` the caller may view (e.g. a bundle's files)."""
        visible = {i for i in ids if decision.check(file_ref(i), "can_view", user_id)}
        return await self._page(decision, user_id, visible, page)

    async def _page(
        self, decision: Decision, user_id: str, visible: set[str] | frozenset[str], page: PageRequest
    ) -> Page[FileInfo]:
        ids, cursor = page_of_ids(visible, page)
        query = select(_FILES).where(self._db.among(_FILES.c.id, ids))
        async with self._db.read() as session:
            rows = {r.id: r for r in await session.execute(query)}
        items = []
        for file_id in ids:
            row = rows.get(file_id)
            if row is None:
                continue
            held = FILE_PERMISSIONS if row.case_id is None else decision.held(
                "file", file_id, user_id, FILE_PERMISSIONS
            )
            items.append(
                FileInfo(row.id, row.upload_id, row.owner_id, row.case_id, row.exhibit_ref, row.size,
                         row.sha256, dict(row.metadata), row.created_at, held,
                         encrypted=ENCRYPTION_KEY in row.metadata)
            )
        return Page(items, cursor)
