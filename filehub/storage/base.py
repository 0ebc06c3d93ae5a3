"""The storage contract (after tusd's composer): what a backend must do, and nothing else.

Bytes live in a backend (local disk, S3); the *record* of an upload (its committed offset,
length, owner, expiry) lives in the database behind :class:`UploadRegistry`. A PATCH writes
bytes through :meth:`Upload.write_chunk`, which returns only once they are durable, and then
commits the new offset in the registry. Whatever a backend holds past the committed offset
is not part of the upload: the next write at that offset replaces it.

Optional tus extensions are one small Protocol each, collected in a :class:`StoreComposer`,
so the handler advertises exactly what the chosen backend declares.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

UploadState = Literal["active", "complete", "terminated", "expired"]
ConcatKind = Literal["partial", "final"] | None


@dataclass(frozen=True)
class UploadInfo:
    id: str
    owner_id: str
    offset: int
    length: int | None  # None while the length is deferred
    metadata: dict[str, str | None] = field(default_factory=dict)
    concat: ConcatKind = None
    partial_ids: tuple[str, ...] = ()
    state: UploadState = "active"
    expires_at: datetime | None = None
    created_at: datetime | None = None
    file_id: str | None = None  # set once a complete upload has become a file record
    sha256: str | None = None  # of the stored bytes, once a file record
    # Set by the upload policy at creation; backends ignore them: the case the file will
    # belong to, and the evidence request link the upload came through.
    case_id: str | None = None
    link_id: str | None = None

    @property
    def is_complete(self) -> bool:
        return self.length is not None and self.offset == self.length

    def with_(self, **changes: object) -> UploadInfo:
        return replace(self, **changes)  # type: ignore[arg-type]


class UploadRegistry(Protocol):
    """The offset of record and an upload's other facts, kept in the database."""

    async def create(self, info: UploadInfo) -> None: ...

    async def get(self, upload_id: str) -> UploadInfo | None: ...

    async def get_many(self, upload_ids: list[str]) -> dict[str, UploadInfo]: ...

    async def advance(
        self, upload_id: str, from_offset: int, to_offset: int, expires_at: datetime | None
    ) -> None:
        """Commit a new offset; raises OffsetMismatch if the committed one is not from_offset."""

    async def declare_length(self, upload_id: str, length: int) -> None: ...

    async def complete(self, upload_id: str, size: int, sha256: str) -> str:
        """Mark the upload complete and create its file record in one transaction; the file id."""

    async def finish_concat(self, upload_id: str, length: int) -> None:
        """A final upload's bytes are assembled: its offset and length become ``length``."""

    async def set_state(self, upload_id: str, state: UploadState) -> None: ...

    async def expired(self, now: datetime, limit: int) -> list[UploadInfo]:
        """Uploads whose expiry has passed and whose bytes may be freed."""


UploadAction = Literal["create", "head", "patch", "delete", "get"]


class UploadPolicy(Protocol):
    """Decides, on top of ownership, whether ``principal`` may act on an upload.

    The tus handler calls it on creation (before anything is stored) and on every HEAD,
    PATCH (under the upload's lock, so on every PATCH), DELETE and GET. It raises a
    FilehubError to refuse (UploadNotFound to hide the upload) and returns the info to go
    on with: on creation it may fill in ``case_id`` and ``link_id``, which the registry stores.
    """

    async def authorize(self, action: UploadAction, principal: Any, info: UploadInfo) -> UploadInfo: ...


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start


class Upload(Protocol):
    async def write_chunk(self, offset: int, blocks: AsyncIterator[bytes]) -> int:
        """Store ``blocks`` starting at ``offset`` (the committed offset) and return how many
        bytes are durable. If ``blocks`` ends early (a dropped connection), what arrived is
        still made durable and counted. Raises only if the store itself failed."""

    def reader(self, byte_range: ByteRange) -> AsyncIterator[bytes]:
        """The stored bytes of a complete upload in ``byte_range``."""

    async def finish(self, info: UploadInfo) -> None:
        """Called once all bytes are written, before the file record is created."""


class DataStore(Protocol):
    async def new_upload(self, info: UploadInfo) -> Upload: ...

    async def get_upload(self, info: UploadInfo) -> Upload: ...

    async def ping(self) -> None:
        """Raise StorageUnavailable if the store cannot serve requests (readiness)."""

    def close(self) -> None:
        """Release what the store holds (connection pools); called at shutdown."""


@runtime_checkable
class Presigner(Protocol):
    async def presigned_get(self, info: UploadInfo, *, disposition: str, expires_in: int) -> str:
        """A URL that serves the finished upload's bytes (with Range) for ``expires_in``
        seconds without filehub in the path; ``disposition`` is its Content-Disposition."""


@runtime_checkable
class Terminater(Protocol):
    async def terminate(self, info: UploadInfo) -> None:
        """Free every byte of the upload (termination and expiration)."""


@runtime_checkable
class Concater(Protocol):
    async def concat(self, final: UploadInfo, partials: list[UploadInfo]) -> None:
        """Assemble the final upload from complete partial uploads, in order."""


@runtime_checkable
class LengthDeferrer(Protocol):
    async def declare_length(self, info: UploadInfo, length: int) -> None: ...


@dataclass(frozen=True)
class StoreComposer:
    """What the chosen backend can do; the tus handler derives Tus-Extension from it."""

    core: DataStore
    terminater: Terminater | None = None
    concater: Concater | None = None
    length_deferrer: LengthDeferrer | None = None
    presigner: Presigner | None = None

    @classmethod
    def of(cls, store: DataStore) -> StoreComposer:
        """Compose from the extension protocols a store object implements."""
        return cls(
            core=store,
            terminater=store if isinstance(store, Terminater) else None,
            concater=store if isinstance(store, Concater) else None,
            length_deferrer=store if isinstance(store, LengthDeferrer) else None,
            presigner=store if isinstance(store, Presigner) else None,
        )


class Locker(Protocol):
    """At most one writer per upload at a time, across every instance that shares it."""

    def lock(self, upload_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the upload's lock for the ``async with`` block; raise Locked at once if taken."""
