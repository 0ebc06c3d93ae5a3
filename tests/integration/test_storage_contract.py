"""The storage contract (filehub/storage/base.py), once, against every backend.

Each test plays the tus handler's part: it writes at the committed offset, "commits" by
carrying the returned count forward, and sometimes does not (a leftover). Sizes sweep the
S3 part boundaries (part size = TEST_PART_SIZE here) on both backends.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from filehub.errors import FilehubError
from filehub.ids import new_id
from filehub.storage.base import ByteRange, StoreComposer, UploadInfo
from tests.integration.conftest import Backend
from tests.support.objectstores import TEST_PART_SIZE

PS = TEST_PART_SIZE
BLOCK = 1 << 20  # the handler's default write block


async def blocks(data: bytes, size: int = BLOCK) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def write(backend: Backend, info: UploadInfo, data: bytes, store: object = None) -> UploadInfo:
    """One PATCH: write ``data`` at the committed offset and commit what the store took."""
    upload = await (store or backend.store).get_upload(info)
    written = await upload.write_chunk(info.offset, blocks(data))
    assert written == len(data)
    return info.with_(offset=info.offset + written)


async def read_all(backend: Backend, info: UploadInfo, byte_range: ByteRange | None = None) -> bytes:
    upload = await backend.store.get_upload(info)
    wanted = byte_range or ByteRange(0, info.length or 0)
    pieces = [block async for block in upload.reader(wanted)]
    assert all(len(block) <= BLOCK for block in pieces), "reads must be bounded"
    return b"".join(pieces)


async def created(backend: Backend, length: int | None, **fields: object) -> UploadInfo:
    info = UploadInfo(id=new_id(), owner_id="owner", offset=0, length=length, **fields)  # type: ignore[arg-type]
    await backend.store.new_upload(info)
    return info


async def finished(backend: Backend, info: UploadInfo) -> UploadInfo:
    assert info.is_complete
    await (await backend.store.get_upload(info)).finish(info)
    return info


def test_every_backend_declares_every_extension(backend: Backend) -> None:
    composer = StoreComposer.of(backend.store)
    assert composer.terminater and composer.concater and composer.length_deferrer


@pytest.mark.parametrize("size", [0, 1, PS - 1, PS, PS + 1, 2 * PS + 3])
async def test_writes_in_pieces_across_part_boundaries(backend: Backend, size: int) -> None:
    data = os.urandom(size)
    info = await created(backend, size)
    cuts = sorted({0, size, size // 3, min(size, PS + 7), max(0, size - 2)})
    for start, end in zip(cuts, cuts[1:], strict=False):
        info = await write(backend, info, data[start:end])
    await finished(backend, info)
    assert await read_all(backend, info) == data


async def test_a_whole_upload_in_one_write(backend: Backend) -> None:
    data = os.urandom(2 * PS + 3)
    info = await write(backend, await created(backend, len(data)), data)
    await finished(backend, info)
    assert await read_all(backend, info) == data


async def test_uncommitted_bytes_are_discarded_by_the_next_write(backend: Backend) -> None:
    data = os.urandom(2 * PS + 3)
    info = await write(backend, await created(backend, len(data)), data[: PS - 10])
    # Two writes that are never committed (checksum mismatch, crash before the DB commit):
    # one crosses a part boundary, one reaches the end of the upload.
    garbage = await backend.store.get_upload(info)
    assert await garbage.write_chunk(info.offset, blocks(b"x" * (PS + 100))) == PS + 100
    assert await garbage.write_chunk(info.offset, blocks(b"y" * (len(data) - info.offset))) > 0
    for start, end in ((PS - 10, PS + 50), (PS + 50, len(data))):
        info = await write(backend, info, data[start:end])
    await finished(backend, info)
    assert await read_all(backend, info) == data


async def test_an_iterator_that_ends_early_keeps_what_arrived(backend: Backend) -> None:
    data = os.urandom(2 * PS + 3)
    info = await created(backend, len(data))

    async def dropped_connection() -> AsyncIterator[bytes]:
        yield data[:BLOCK]
        yield data[BLOCK : PS + 123]  # then the client vanishes: the body just ends

    upload = await backend.store.get_upload(info)
    written = await upload.write_chunk(0, dropped_connection())
    assert written == PS + 123
    info = info.with_(offset=written)
    # Durable: another process (a fresh store object, no shared memory) resumes from there.
    info = await write(backend, info, data[written:], store=backend.new_store())
    await finished(backend, info)
    assert await read_all(backend, info) == data


async def test_an_empty_write_changes_nothing(backend: Backend) -> None:
    data = os.urandom(PS + 5)
    info = await write(backend, await created(backend, len(data)), data[:100])
    assert await (await backend.store.get_upload(info)).write_chunk(100, blocks(b"")) == 0
    info = await write(backend, info, data[100:])
    await finished(backend, info)
    assert await read_all(backend, info) == data


async def test_ranged_reads(backend: Backend) -> None:
    data = os.urandom(2 * PS + 3)
    info = await finished(backend, await write(backend, await created(backend, len(data)), data))
    for start, end in [(0, 1), (PS - 1, PS + 1), (len(data) - 1, len(data)), (3, 2 * PS + 1), (0, len(data))]:
        assert await read_all(backend, info, ByteRange(start, end)) == data[start:end]
    assert await read_all(backend, info, ByteRange(7, 7)) == b""


async def test_finish_is_idempotent(backend: Backend) -> None:
    data = os.urandom(PS + 1)
    info = await finished(backend, await write(backend, await created(backend, len(data)), data))
    await finished(backend, info)  # a retried completion (after a crash before the DB commit)
    upload = await backend.new_store().get_upload(info)
    await upload.finish(info)
    assert await read_all(backend, info) == data


@pytest.mark.parametrize("stage", ["created", "written", "finished"])
async def test_terminate_leaves_nothing(backend: Backend, stage: str) -> None:
    data = os.urandom(PS + 9)
    info = await created(backend, len(data))
    if stage != "created":
        info = await write(backend, info, data[: PS + 2])
        info = await write(backend, info, data[PS + 2 :])
    if stage == "finished":
        info = await finished(backend, info)
    assert await backend.objects()
    await backend.store.terminate(info)
    assert await backend.objects() == []
    await backend.store.terminate(info)  # again: nothing to do, no error


@pytest.mark.parametrize(
    "sizes, server_side",
    [([PS, PS + 1, 3], True), ([PS + 2, 0, PS], True), ([1, PS - 1, 0, 7], False), ([0, 0], False)],
    ids=["big-partials", "with-empty", "small-partials", "all-empty"],
)
async def test_concat(backend: Backend, sizes: list[int], server_side: bool) -> None:
    pieces = [os.urandom(size) for size in sizes]
    partials = []
    for piece in pieces:
        info = await created(backend, len(piece), concat="partial")
        if piece:
            info = await write(backend, info, piece)
        partials.append(await finished(backend, info))
    final = await created(backend, None, concat="final", partial_ids=tuple(p.id for p in partials))
    await backend.store.concat(final, partials)
    await backend.store.concat(final, partials)  # a retry after a crash finds it done
    final = final.with_(offset=sum(sizes), length=sum(sizes))
    await finished(backend, final)  # the handler finishes a final upload like any other
    assert await read_all(backend, final) == b"".join(pieces)
    if backend.name == "s3" and sum(sizes):
        assert (backend.calls["upload_part_copy"] > 0) == server_side
    await backend.store.terminate(final)
    for partial in partials:
        await backend.store.terminate(partial)
    assert await backend.objects() == []


@pytest.mark.parametrize("declared_at", ["end", "middle"])
async def test_deferred_length(backend: Backend, declared_at: str) -> None:
    data = os.urandom(2 * PS + 3)
    info = await created(backend, None)
    info = await write(backend, info, data[: PS + 1])
    if declared_at == "middle":
        await backend.store.declare_length(info, len(data))
        info = info.with_(length=len(data))
    info = await write(backend, info, data[PS + 1 :])
    if declared_at == "end":  # Upload-Length sent with an empty PATCH after the last byte
        await backend.store.declare_length(info, len(data))
        info = info.with_(length=len(data))
    await finished(backend, info)
    assert await read_all(backend, info) == data


async def test_deferred_length_of_zero(backend: Backend) -> None:
    info = await created(backend, None)
    await backend.store.declare_length(info, 0)
    info = await finished(backend, info.with_(length=0))
    assert await read_all(backend, info) == b""


async def test_finish_refuses_an_upload_shorter_than_its_record(backend: Backend) -> None:
    data = os.urandom(10)
    info = await write(backend, await created(backend, 20), data)
    with pytest.raises(FilehubError):
        await finished(backend, info.with_(offset=20))
