"""tus concatenation on S3: the final upload's MPU is assembled from the partials' objects.

Server-side UploadPartCopy when S3 allows it (every non-empty partial but the last is at
least 5 MiB); otherwise the bytes are streamed through one part-sized buffer. Either way
the final's object then exists exactly as after ``finish()``, and a retry after a crash
finds it and succeeds.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from filehub.errors import FilehubError, UploadNotFound
from filehub.storage.base import ByteRange, UploadInfo
from filehub.storage.s3_layout import copy_plan, part_size_for

if TYPE_CHECKING:
    from filehub.storage.s3 import S3Store, UploadMeta

COPY_CONCURRENCY = 4  # UploadPartCopy requests in flight for one concatenation


async def assemble(store: S3Store, final: UploadInfo, partials: list[UploadInfo]) -> None:
    s3, key = store.s3, store.key(final.id)
    sizes = [p.length or 0 for p in partials]
    total = sum(sizes)
    try:
        meta = await store.meta(final.id)
    except UploadNotFound:
        if await s3.size_of(key) == total:
            return  # assembled by an earlier attempt
        raise
    if total == 0 or meta.upload_id is None:
        await s3(s3.client.put_object, Key=key, Body=b"")
        await store.abort(meta, final.id)
    else:
        plan = copy_plan(sizes, total)
        try:
            if plan is not None:
                etags = await _copy_parts(store, key, meta, partials, plan)
            else:
                etags = await _stream_parts(store, key, meta, partials, total)
            await store.complete(meta, key, etags)
        except UploadNotFound:  # the MPU is gone: completed by an attempt that then died?
            if await s3.size_of(key) != total:
                raise
    if await s3.size_of(key) != total:
        raise FilehubError("the assembled upload does not match its partials")
    await store.delete_all(final.id, keep_object=True)


async def _copy_parts(
    store: S3Store, key: str, meta: UploadMeta, partials: list[UploadInfo],
    plan: list[tuple[int, int, int]],
) -> list[str]:
    s3 = store.s3
    slots = asyncio.Semaphore(COPY_CONCURRENCY)

    async def copy(number: int, source: int, start: int, end: int) -> str:
        async with slots:
            response = await s3(
                s3.client.upload_part_copy, Key=key, UploadId=meta.upload_id, PartNumber=number,
                CopySource={"Bucket": s3.bucket, "Key": store.key(partials[source].id)},
                CopySourceRange=f"bytes={start}-{end - 1}",
            )
        return str(response["CopyPartResult"]["ETag"])

    try:
        async with asyncio.TaskGroup() as group:  # one failure cancels the rest
            tasks = [group.create_task(copy(n, *piece)) for n, piece in enumerate(plan, start=1)]
    except ExceptionGroup as failed:  # callers expect the (first) FilehubError itself
        raise failed.exceptions[0] from failed
    return [task.result() for task in tasks]


async def _stream_parts(
    store: S3Store, key: str, meta: UploadMeta, partials: list[UploadInfo], total: int
) -> list[str]:
    s3 = store.s3
    part_size = part_size_for(total, store.min_part_size)
    etags: list[str] = []

    async def upload(body: bytearray) -> None:
        response = await s3(s3.client.upload_part, Key=key, UploadId=meta.upload_id,
                            PartNumber=len(etags) + 1, Body=body)
        etags.append(str(response["ETag"]))

    async with store.part_buffer():
        buffer = bytearray()
        for partial in partials:
            source = ByteRange(0, partial.length or 0)
            async for block in store.read_object(store.key(partial.id), source):
                view = memoryview(block)
                while view:
                    take = min(len(view), part_size - len(buffer))
                    buffer += view[:take]
                    view = view[take:]
                    if len(buffer) == part_size:
                        await upload(buffer)
                        del buffer[:]
        if buffer:
            await upload(buffer)
    return etags
