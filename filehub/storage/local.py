"""Local-disk backend: one file per upload, fsync before an offset is acknowledged.

Paths are built only from validated IDs (never from metadata). Blocking file calls run on
threads; one write is kept in flight while the next block is read from the network.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

from filehub.errors import InsufficientStorage, StorageUnavailable, UploadNotFound
from filehub.ids import is_valid_id
from filehub.storage.base import ByteRange, UploadInfo

READ_BLOCK = 1 << 20  # bytes per read when serving or copying
WRITE_BLOCK = 1 << 20  # default bytes gathered per write
_MAX_IOV = 512  # buffers per pwritev, well under IOV_MAX (1024 on Linux)


def _translate(exc: OSError) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage()
    if exc.errno == errno.ENOENT:
        return UploadNotFound()
    return StorageUnavailable()


def _pwritev_all(fd: int, buffers: list[bytes], position: int) -> None:
    """Write the buffers back to back at ``position``, with no copy into one block."""
    views = [memoryview(b) for b in buffers]
    while views:
        written = os.pwritev(fd, views, position)
        position += written
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalUpload:
    def __init__(self, path: Path, block_size: int = WRITE_BLOCK) -> None:
        self._path = path
        self._block_size = block_size

    async def write_chunk(self, offset: int, blocks: AsyncIterator[bytes]) -> int:
        try:
            fd = os.open(self._path, os.O_WRONLY)  # on the loop thread, so it cannot leak
        except OSError as exc:
            raise _translate(exc) from exc
        position = offset
        pending: Awaitable[None] | None = None
        gathered: list[bytes] = []
        gathered_size = 0
        try:
            # Anything past the committed offset is an unacknowledged leftover: drop it.
            await asyncio.to_thread(os.ftruncate, fd, offset)
            async for block in blocks:
                gathered.append(block)
                gathered_size += len(block)
                if gathered_size < self._block_size and len(gathered) < _MAX_IOV:
                    continue
                if pending is not None:
                    await pending  # keep one write in flight while the next block is read
                pending = asyncio.ensure_future(asyncio.to_thread(_pwritev_all, fd, gathered, position))
                position += gathered_size
                gathered, gathered_size = [], 0
            if pending is not None:
                await pending
                pending = None
            if gathered:
                await asyncio.to_thread(_pwritev_all, fd, gathered, position)
                position += gathered_size
            await asyncio.to_thread(os.fsync, fd)
            return position - offset
        except OSError as exc:
            raise _translate(exc) from exc
        finally:
            if pending is not None:  # the source raised: let the write finish before closing
                await asyncio.gather(pending, return_exceptions=True)
            os.close(fd)

    async def reader(self, byte_range: ByteRange) -> AsyncIterator[bytes]:
        try:
            # Opened on the loop thread: a cancelled to_thread(open) would leak the handle.
            handle = open(self._path, "rb")  # noqa: SIM115 - closed in finally below
        except OSError as exc:
            raise _translate(exc) from exc
        try:
            await asyncio.to_thread(handle.seek, byte_range.start)
            remaining = byte_range.length
            while remaining > 0:
                block = await asyncio.to_thread(handle.read, min(READ_BLOCK, remaining))
                if not block:
                    raise StorageUnavailable("stored upload is shorter than its record")
                remaining -= len(block)
                yield block
        finally:
            handle.close()

    async def finish(self, info: UploadInfo) -> None:
        # Every write_chunk already fsynced; check the file holds exactly the upload.
        size = (await asyncio.to_thread(os.stat, self._path)).st_size
        if size < (info.length or 0):
            raise StorageUnavailable("stored upload is shorter than its record")
        if size > (info.length or 0):
            await asyncio.to_thread(os.truncate, self._path, info.length or 0)


class LocalStore:
    """DataStore + Terminater + Concater + LengthDeferrer on a local folder."""

    def __init__(self, root: Path, block_size: int = WRITE_BLOCK) -> None:
        self.root = root
        self.block_size = block_size

    @classmethod
    def from_url(cls, url: str, block_size: int = WRITE_BLOCK) -> LocalStore:
        if not url.startswith("file://"):
            raise ValueError(f"not a file:// storage URL: {url}")
        root = Path(url.removeprefix("file://"))
        root.mkdir(parents=True, exist_ok=True)
        return cls(root, block_size)

    def _path(self, upload_id: str) -> Path:
        if not is_valid_id(upload_id):  # defence in depth: only our own IDs become paths
            raise UploadNotFound()
        return self.root / "uploads" / upload_id[:2] / upload_id

    async def new_upload(self, info: UploadInfo) -> LocalUpload:
        path = self._path(info.id)

        def create() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            _fsync_dir(path.parent)

        try:
            await asyncio.to_thread(create)
        except OSError as exc:
            raise _translate(exc) from exc
        return LocalUpload(path, self.block_size)

    async def get_upload(self, info: UploadInfo) -> LocalUpload:
        return LocalUpload(self._path(info.id), self.block_size)

    async def ping(self) -> None:
        if not await asyncio.to_thread(os.access, self.root, os.W_OK):
            raise StorageUnavailable("local store folder is not writable")

    def close(self) -> None:
        return None  # nothing held between requests

    async def terminate(self, info: UploadInfo) -> None:
        path = self._path(info.id)

        def remove() -> None:
            try:
                path.unlink()
            except FileNotFoundError:
                return
            _fsync_dir(path.parent)

        try:
            await asyncio.to_thread(remove)
        except OSError as exc:
            raise _translate(exc) from exc

    async def concat(self, final: UploadInfo, partials: list[UploadInfo]) -> None:
        target = self._path(final.id)
        sources = [self._path(p.id) for p in partials]
        temporary = target.with_name(target.name + ".concat")

        def assemble() -> None:
            with open(temporary, "wb") as out:
                for source, partial in zip(sources, partials, strict=True):
                    with open(source, "rb") as src:
                        copied = 0
                        while copied < (partial.length or 0):
                            copied += os.copy_file_range(
                                src.fileno(), out.fileno(), (partial.length or 0) - copied
                            ) or _refuse_short(source)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)  # atomic: the final is whole or absent
            _fsync_dir(target.parent)

        try:
            await asyncio.to_thread(assemble)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise _translate(exc) from exc

    async def declare_length(self, info: UploadInfo, length: int) -> None:
        return None  # a file needs no size up front


def _refuse_short(source: Path) -> int:
    raise StorageUnavailable("a partial upload is shorter than its record")
