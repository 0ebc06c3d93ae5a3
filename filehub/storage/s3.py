"""S3 backend: one multipart upload (MPU) per tus upload; nothing lives in one instance.

Object layout under ``prefix`` (keys are built from validated ids only, never metadata):

  ``{id}``            the upload's bytes once finished (the MPU's key)
  ``{id}.info``       immutable JSON written at creation: the MPU's UploadId and the part size
  ``{id}.tail.{end}`` the state at offset ``end`` (see :mod:`filehub.storage.s3_layout`): the
                      bytes ``[k*ps, end)`` not yet in a part, and the ETags of parts 1..k

Part n covers ``[(n-1)*ps, n*ps)``. A write at the committed offset O starts from
``tail.{O}``, uploads each part as it fills and ends by putting ``tail.{O+written}`` (or the
last short part once the length is reached). Tails at other offsets are older states or
leftovers of writes that were never committed; the next write deletes them (the upload's
lock guarantees one writer). The offset of record is the database's, so the tail named by
it is the truth: S3 needs no other bookkeeping and no byte waits in memory between PATCHes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from filehub.errors import FilehubError, ServiceUnavailable, StorageUnavailable, UploadNotFound
from filehub.ids import is_valid_id
from filehub.storage.base import ByteRange, UploadInfo
from filehub.storage.s3_client import ClientOptions, S3Calls, S3Client, make_client
from filehub.storage.s3_concat import assemble
from filehub.storage.s3_layout import (
    MAX_OBJECT_SIZE,
    MAX_PARTS,
    TailState,
    decode_state,
    encode_state,
    part_size_for,
)

log = logging.getLogger("filehub.storage.s3")

READ_BLOCK = 1 << 20  # bytes per ranged read when serving or copying
BUFFER_WAIT = 30.0  # seconds a write waits for a free part buffer before answering 503


@dataclass(frozen=True)
class UploadMeta:
    """The immutable ``{id}.info`` object."""

    upload_id: str | None  # None for a zero-length upload (S3 refuses an MPU without parts)
    part_size: int  # bytes


class S3Upload:
    def __init__(self, store: S3Store, info: UploadInfo) -> None:
        self._store = store
        self._info = info
        self._key = store.key(info.id)

    async def write_chunk(self, offset: int, blocks: AsyncIterator[bytes]) -> int:
        store = self._store
        meta = await store.meta(self._info.id)
        if meta.upload_id is None:  # a zero-length upload: nothing may arrive
            async for block in blocks:
                if block:
                    raise FilehubError("a zero-length upload takes no bytes")
            return 0
        async with store.part_buffer():
            state = await store.load_state(self._info.id, offset, meta.part_size)
            await store.delete_tails(self._info.id, keep=offset)
            etags, position, length = state.etags, offset, self._info.length
            # One part-sized buffer, filled in place and reused for every part: growing and
            # emptying a bytearray per part fragments the heap (measured: +20-40 MiB RSS).
            buffer = bytearray(meta.part_size)
            filled = len(state.tail)
            buffer[:filled] = state.tail
            saved = offset  # the last state stored in S3: durable even if S3 fails later
            try:
                async for block in blocks:
                    view = memoryview(block)
                    while view:
                        take = min(len(view), meta.part_size - filled)
                        buffer[filled : filled + take] = view[:take]
                        filled, view, position = filled + take, view[take:], position + take
                        if filled == meta.part_size:
                            etags.append(await self._upload_part(meta, len(etags) + 1, buffer))
                            filled = 0
                            # A state per part: one large PATCH cut off by an S3 outage
                            # keeps its whole parts (a small PUT per part).
                            await self._save_state(position, etags, bytearray())
                            saved = position
                if position == offset:
                    return 0
                tail = buffer[:filled]
                if position == length and tail:  # the last, short part
                    etags.append(await self._upload_part(meta, len(etags) + 1, tail))
                    tail = bytearray()
                if position != saved:
                    await self._save_state(position, etags, tail)
            except StorageUnavailable as exc:
                raise StorageUnavailable(exc.message, durable=saved - offset) from exc
            return position - offset

    async def _save_state(self, end: int, etags: list[str], tail: bytearray) -> None:
        s3 = self._store.s3
        await s3(s3.client.put_object, Key=self._store.tail_key(self._info.id, end),
                 Body=encode_state(TailState(list(etags), tail)))

    async def _upload_part(self, meta: UploadMeta, number: int, body: bytearray) -> str:
        s3 = self._store.s3
        response = await s3(s3.client.upload_part, Key=self._key, UploadId=meta.upload_id,
                            PartNumber=number, Body=body)
        return str(response["ETag"])

    async def reader(self, byte_range: ByteRange) -> AsyncIterator[bytes]:
        async for block in self._store.read_object(self._key, byte_range):
            yield block

    async def finish(self, info: UploadInfo) -> None:
        """Complete the MPU; idempotent: an object of the right size means it is done."""
        store, s3 = self._store, self._store.s3
        length = info.length or 0
        try:
            meta = await store.meta(info.id)
        except UploadNotFound:
            meta = None  # finished (or assembled by concat) before
        if meta is not None:
            if meta.upload_id is None or length == 0:
                await s3(s3.client.put_object, Key=self._key, Body=b"")
                await store.abort(meta, info.id)  # made before the length was known
            else:
                await self._complete(meta, length)
        if await s3.size_of(self._key) != length:
            raise FilehubError("the stored upload does not match its record")
        await store.delete_all(info.id, keep_object=True)

    async def _complete(self, meta: UploadMeta, length: int) -> None:
        store = self._store
        try:
            async with store.part_buffer():
                state = await store.load_state(self._info.id, length, meta.part_size)
                if state.tail:  # the length was declared after the last byte arrived
                    number = len(state.etags) + 1
                    state.etags.append(await self._upload_part(meta, number, state.tail))
            await store.complete(meta, self._key, state.etags)
        except FilehubError:
            if await store.s3.size_of(self._key) != length:
                raise
            # else an earlier attempt completed the MPU and died before cleaning up


class S3Store:
    """DataStore + Terminater + Concater + LengthDeferrer on an S3 bucket and prefix."""

    def __init__(
        self, client: S3Client, bucket: str, prefix: str, *, min_part_size: int,
        max_upload_size: int, max_part_buffers: int,
    ) -> None:
        if max_upload_size > MAX_OBJECT_SIZE:
            raise ValueError("S3 objects are limited to 5 TiB: lower max_upload_size")
        self.s3 = S3Calls(client, bucket)
        self.prefix = prefix
        self.min_part_size = min_part_size
        self.max_upload_size = max_upload_size
        self._buffers = asyncio.Semaphore(max_part_buffers)

    @classmethod
    def from_url(
        cls, url: str, options: ClientOptions, *, min_part_size: int, max_upload_size: int,
        max_part_buffers: int,
    ) -> S3Store:
        if not url.startswith("s3://"):
            raise ValueError(f"not an s3:// storage URL: {url}")
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"no bucket in storage URL: {url}")
        prefix = prefix.strip("/")
        return cls(make_client(options), bucket, f"{prefix}/" if prefix else "",
                   min_part_size=min_part_size, max_upload_size=max_upload_size,
                   max_part_buffers=max_part_buffers)

    # --- keys ------------------------------------------------------------------------------

    def key(self, upload_id: str) -> str:
        if not is_valid_id(upload_id):  # defence in depth: only our own IDs become keys
            raise UploadNotFound()
        return f"{self.prefix}{upload_id}"

    def tail_key(self, upload_id: str, end: int) -> str:
        return f"{self.key(upload_id)}.tail.{end}"

    # --- DataStore ---------------------------------------------------------------------------

    async def new_upload(self, info: UploadInfo) -> S3Upload:
        key = self.key(info.id)
        size = self.max_upload_size if info.length is None else info.length
        meta = UploadMeta(None, part_size_for(size, self.min_part_size))
        if info.length != 0:
            created = await self.s3(self.s3.client.create_multipart_upload, Key=key,
                                    ContentType="application/octet-stream")
            meta = UploadMeta(str(created["UploadId"]), meta.part_size)
        try:
            body = json.dumps({"format": 1, "upload_id": meta.upload_id, "part_size": meta.part_size})
            await self.s3(self.s3.client.put_object, Key=f"{key}.info", Body=body.encode(),
                          ContentType="application/json")
        except FilehubError:
            await asyncio.shield(self._abort_quietly(meta, info.id))
            raise
        return S3Upload(self, info)

    async def get_upload(self, info: UploadInfo) -> S3Upload:
        return S3Upload(self, info)

    async def presigned_get(self, info: UploadInfo, *, disposition: str, expires_in: int) -> str:
        # Signing is local computation (no request to S3); the object's type is forced so a
        # browser never renders evidence inline from the store's origin.
        params = {
            "Bucket": self.s3.bucket,
            "Key": self.key(info.id),
            "ResponseContentDisposition": disposition,
            "ResponseContentType": "application/octet-stream",
        }
        return self.s3.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    async def ping(self) -> None:
        try:
            await self.s3(self.s3.client.head_bucket)
        except UploadNotFound as exc:  # HeadBucket's 404: the bucket is missing
            raise StorageUnavailable("the storage bucket does not exist") from exc

    def close(self) -> None:
        """Release the connection pool (call at application shutdown)."""
        self.s3.client.close()

    async def declare_length(self, info: UploadInfo, length: int) -> None:
        meta = await self.meta(info.id)
        if -(-length // meta.part_size) > MAX_PARTS:  # cannot happen below max_upload_size
            raise FilehubError("the upload's part size is too small for this length")

    async def terminate(self, info: UploadInfo) -> None:
        try:
            meta = await self.meta(info.id)
        except UploadNotFound:
            meta = None
        if meta is not None:
            await self.abort(meta, info.id)
        await self.delete_all(info.id, keep_object=False)

    async def concat(self, final: UploadInfo, partials: list[UploadInfo]) -> None:
        await assemble(self, final, partials)

    # --- shared by uploads -------------------------------------------------------------------

    async def meta(self, upload_id: str) -> UploadMeta:
        raw = await self.s3.get_bytes(f"{self.key(upload_id)}.info")
        value = json.loads(raw)
        return UploadMeta(value["upload_id"], int(value["part_size"]))

    def part_buffer(self) -> _BufferSlot:
        return _BufferSlot(self._buffers)

    async def load_state(self, upload_id: str, offset: int, part_size: int) -> TailState:
        if offset == 0:
            return TailState([], bytearray())
        try:
            raw = await self.s3.get_bytes(self.tail_key(upload_id, offset))
        except UploadNotFound as exc:
            log.error("upload %s: no state object at its committed offset %d", upload_id, offset)
            raise FilehubError("the upload's stored state is missing") from exc
        return decode_state(raw, offset, part_size)

    async def delete_tails(self, upload_id: str, keep: int | None = None) -> None:
        prefix = f"{self.key(upload_id)}.tail."
        keys = await self.s3.list_keys(prefix)
        await self.s3.delete_keys(k for k in keys if keep is None or k != f"{prefix}{keep}")

    async def delete_all(self, upload_id: str, *, keep_object: bool) -> None:
        """Every object of the upload (tails first, the .info last: it marks unfinished)."""
        key = self.key(upload_id)
        info_key = f"{key}.info"
        keys = await self.s3.list_keys(key)  # ids have one length: no other upload matches
        await self.s3.delete_keys(k for k in keys if k != info_key and not (keep_object and k == key))
        await self.s3.delete_keys([info_key])

    async def complete(self, meta: UploadMeta, key: str, etags: list[str]) -> None:
        parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]
        await self.s3(self.s3.client.complete_multipart_upload, Key=key,
                      UploadId=meta.upload_id, MultipartUpload={"Parts": parts})

    async def abort(self, meta: UploadMeta, upload_id: str) -> None:
        if meta.upload_id is None:
            return
        try:
            await self.s3(self.s3.client.abort_multipart_upload, Key=self.key(upload_id),
                          UploadId=meta.upload_id)
        except UploadNotFound:
            pass  # completed or aborted already

    async def read_object(self, key: str, byte_range: ByteRange) -> AsyncIterator[bytes]:
        """``byte_range`` of an object, in blocks of READ_BLOCK (never the whole object)."""
        if byte_range.length <= 0:
            return
        response = await self.s3(self.s3.client.get_object, Key=key,
                                 Range=f"bytes={byte_range.start}-{byte_range.end - 1}")
        body = response["Body"]
        try:
            remaining = byte_range.length
            while remaining > 0:
                block = await self.s3.read_body(body, min(READ_BLOCK, remaining))
                if not block:
                    raise FilehubError("the stored object is shorter than its record")
                remaining -= len(block)
                yield block
        finally:
            body.close()

    async def _abort_quietly(self, meta: UploadMeta, upload_id: str) -> None:
        try:
            await self.abort(meta, upload_id)
        except FilehubError:
            log.warning("could not abort an orphaned multipart upload %s", meta.upload_id)


class _BufferSlot:
    """One part-sized buffer's worth of the instance's memory budget."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore = semaphore

    async def __aenter__(self) -> None:
        try:
            async with asyncio.timeout(BUFFER_WAIT):
                await self._semaphore.acquire()
        except TimeoutError:
            raise ServiceUnavailable("all upload buffers are busy; retry later") from None

    async def __aexit__(self, *exc: object) -> None:
        self._semaphore.release()
