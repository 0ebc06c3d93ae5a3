"""tus 1.0.0 over a StoreComposer: OPTIONS, POST, HEAD, PATCH, DELETE, and GET of the bytes.

The handler speaks HTTP and tus only. Who the caller is comes in as ``owner_id`` (and an
opaque ``principal``); where bytes go is the composer's business; the offset of record is
the registry's; who may do what beyond "an upload is its owner's" is the ``UploadPolicy``'s.
"""

from __future__ import annotations

import asyncio
import hashlib
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from filehub import errors
from filehub.ids import is_valid_id, new_id
from filehub.storage.base import (
    ByteRange,
    Locker,
    StoreComposer,
    Terminater,
    UploadAction,
    UploadInfo,
    UploadPolicy,
    UploadRegistry,
)
from filehub.tus import protocol as tus
from filehub.tus.body import BodyReader
from filehub.tus.digests import WholeFileDigests
from filehub.tus.download import content_disposition, redirect, serve_content


@dataclass(frozen=True)
class TusConfig:
    max_size: int  # bytes (Tus-Max-Size)
    expiry: timedelta | None  # sliding expiry of unfinished uploads; None: never
    max_metadata_size: int  # bytes
    public_url: str | None = None
    base_path: str = "/api/v1/uploads"
    presign_expiry: int | None = None  # seconds; set: downloads redirect to the store


REAPER_LOCK = "expiry-reaper"


class OwnerOnly:
    """No rule beyond ownership (the handler's own check)."""

    async def authorize(self, action: UploadAction, principal: Any, info: UploadInfo) -> UploadInfo:
        return info


def _now() -> datetime:
    return datetime.now(UTC)


class TusHandler:
    def __init__(
        self,
        composer: StoreComposer,
        registry: UploadRegistry,
        locker: Locker,
        config: TusConfig,
        digests: WholeFileDigests | None = None,
        on_durable: Callable[[int], None] | None = None,
        policy: UploadPolicy | None = None,
        on_download: Callable[[UploadInfo, str, ByteRange], Awaitable[None]] | None = None,
    ) -> None:
        self.store = composer.core
        self.policy = policy or OwnerOnly()
        self._on_download = on_download  # told (upload, reader, range) before bytes go out: audit
        self.composer = composer
        self.registry = registry
        self.locker = locker
        self.config = config
        self.digests = digests or WholeFileDigests()
        self._on_durable = on_durable  # told how many bytes each write committed (metrics)
        self._writes: set[asyncio.Future[UploadInfo]] = set()  # shielded writes still running
        self.extensions = tus.extension_names(
            termination=composer.terminater is not None,
            concatenation=composer.concater is not None,
            defer_length=composer.length_deferrer is not None,
            expiration=config.expiry is not None and composer.terminater is not None,
        )

    # --- entry points ---------------------------------------------------------------------

    def options(self) -> web.Response:
        return web.Response(status=204, headers=self._capabilities())

    async def handle(
        self, request: web.Request, owner_id: str, upload_id: str | None, principal: Any = None
    ) -> web.StreamResponse:
        method = request.method
        if method == "POST" and "X-HTTP-Method-Override" in request.headers:
            method = request.headers["X-HTTP-Method-Override"].strip().upper()
        if method == "OPTIONS":
            return self.options()
        if method not in ("GET", "HEAD") or upload_id is None:
            self._check_version(request)
        elif method == "HEAD" and "Tus-Resumable" in request.headers:
            self._check_version(request)
        if upload_id is None:
            if method != "POST":
                raise errors.MethodNotAllowed()
            return await self.create(request, owner_id, principal)
        actions = {"HEAD": self.head, "PATCH": self.patch, "DELETE": self.delete, "GET": self.download}
        if method not in actions:
            raise errors.MethodNotAllowed()
        return await actions[method](request, owner_id, upload_id, principal)

    # --- creation (+ creation-with-upload, defer-length, concatenation) ------------------

    async def create(self, request: web.Request, owner_id: str, principal: Any = None) -> web.Response:
        metadata = tus.parse_metadata(request.headers.get("Upload-Metadata"), self.config.max_metadata_size)
        concat = tus.parse_concat(request.headers.get("Upload-Concat"))
        length = tus.parse_non_negative("Upload-Length", request.headers.get("Upload-Length"))
        deferred = tus.parse_defer_length(request.headers.get("Upload-Defer-Length"))
        has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding") == "chunked"
        if has_body and request.content_type != tus.OFFSET_CONTENT_TYPE:
            raise errors.UnsupportedMediaType(f"a creation body must be {tus.OFFSET_CONTENT_TYPE}")
        final = concat is not None and concat.kind == "final"
        if concat is not None and (self.composer.concater is None):
            raise errors.BadRequest("concatenation is not supported by this store")
        if final:
            if length is not None or deferred:
                raise errors.BadRequest("a final upload must not carry Upload-Length")
            if has_body:
                raise errors.Forbidden("a final upload cannot take data")
        elif length is None and not deferred:
            raise errors.BadRequest("Upload-Length or Upload-Defer-Length: 1 is required")
        elif length is not None and deferred:
            raise errors.BadRequest("give Upload-Length or Upload-Defer-Length, not both")
        if deferred and self.composer.length_deferrer is None:
            raise errors.BadRequest("this store needs Upload-Length up front")
        if length is not None and length > self.config.max_size:
            raise errors.PayloadTooLarge(f"uploads are limited to {self.config.max_size} bytes")
        draft = UploadInfo(
            id=new_id(),
            owner_id=owner_id,
            offset=0,
            length=length,
            metadata=metadata,
            concat=concat.kind if concat else None,
            expires_at=self._next_expiry(),
        )
        # Authorised before partial uploads are looked at or a byte is stored.
        draft = await self.policy.authorize("create", principal, draft)
        partials: list[UploadInfo] = []
        if final:
            assert concat is not None
            partials = await self._partials(concat.partial_urls, owner_id)
            lengths = [p.length for p in partials]
            length = None if None in lengths else sum(lengths)  # type: ignore[arg-type]
            if length is not None and length > self.config.max_size:
                raise errors.PayloadTooLarge(f"uploads are limited to {self.config.max_size} bytes")

        info = draft.with_(length=length, partial_ids=tuple(p.id for p in partials))
        await self.store.new_upload(info)  # bytes' home first: a record never points to nothing
        await self.registry.create(info)
        if info.concat == "final":
            async with self.locker.lock(info.id):
                info = await self._try_concat(info)
        elif info.is_complete:  # Upload-Length: 0 is complete at birth
            info = await self._to_completion(self._locked_complete(info))
        elif has_body:
            checksum = tus.parse_checksum(request.headers.get("Upload-Checksum"))

            async def locked_write(info: UploadInfo) -> UploadInfo:
                async with self.locker.lock(info.id):
                    return await self._write(request, info, checksum)

            info = await self._to_completion(locked_write(info))
        headers = self._state_headers(info)
        headers["Location"] = self._url(request, info.id)
        return web.Response(status=201, headers=headers)

    async def _partials(self, urls: tuple[str, ...], owner_id: str) -> list[UploadInfo]:
        ids = [urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] for url in urls]
        found = await self.registry.get_many([i for i in ids if is_valid_id(i)])
        partials = []
        for upload_id in ids:
            info = found.get(upload_id)
            if info is None or info.owner_id != owner_id or info.state in ("terminated", "expired"):
                raise errors.BadRequest("Upload-Concat names an unknown partial upload")
            if info.concat != "partial":
                raise errors.BadRequest("Upload-Concat may only name partial uploads")
            partials.append(info)
        return partials

    # --- HEAD / PATCH / DELETE / GET ------------------------------------------------------

    async def head(
        self, request: web.Request, owner_id: str, upload_id: str, principal: Any = None
    ) -> web.Response:
        info = await self._load(upload_id, owner_id, ("head", principal))
        info = await self._settle(info)
        headers = self._state_headers(info)
        headers["Cache-Control"] = "no-store"
        return web.Response(status=200, headers=headers)

    async def patch(
        self, request: web.Request, owner_id: str, upload_id: str, principal: Any = None
    ) -> web.Response:
        if request.content_type != tus.OFFSET_CONTENT_TYPE:
            raise errors.UnsupportedMediaType(f"PATCH bodies must be {tus.OFFSET_CONTENT_TYPE}")
        offset = tus.parse_non_negative("Upload-Offset", request.headers.get("Upload-Offset"))
        if offset is None:
            raise errors.BadRequest("Upload-Offset is required")
        checksum = tus.parse_checksum(request.headers.get("Upload-Checksum"))
        new_length = tus.parse_non_negative("Upload-Length", request.headers.get("Upload-Length"))

        async def locked_write() -> UploadInfo:
            async with self._lock_seen_by(upload_id, owner_id, principal):
                # Read under the lock (current), and authorised on every PATCH.
                info = await self._load(upload_id, owner_id, ("patch", principal))
                if info.concat == "final":
                    raise errors.Forbidden("a final upload cannot be patched")
                if info.offset != offset:
                    raise errors.OffsetMismatch(headers={"Upload-Offset": str(info.offset)})
                if new_length is not None and new_length != info.length:
                    info = await self._declare_length(info, new_length)
                return await self._write(request, info, checksum)

        info = await self._to_completion(locked_write())
        return web.Response(status=204, headers=self._state_headers(info))

    async def delete(
        self, request: web.Request, owner_id: str, upload_id: str, principal: Any = None
    ) -> web.Response:
        if self.composer.terminater is None:
            raise errors.MethodNotAllowed()
        info = await self._load(upload_id, owner_id, ("delete", principal))
        if info.file_id is not None:
            raise errors.Forbidden("a completed upload is an evidence file and cannot be terminated")
        async with self.locker.lock(upload_id):
            await self.composer.terminater.terminate(info)
            await self.registry.set_state(upload_id, "terminated")
        self.digests.forget(upload_id)
        return web.Response(status=204, headers={"Tus-Resumable": tus.TUS_VERSION})

    async def download(
        self, request: web.Request, owner_id: str, upload_id: str, principal: Any = None
    ) -> web.StreamResponse:
        info = await self._settle(await self._load(upload_id, owner_id, ("get", principal)))
        if info.file_id is None or info.length is None or info.sha256 is None:
            raise errors.Conflict("the upload is not complete")
        on_download = self._on_download

        async def downloading(byte_range: ByteRange) -> None:
            if on_download is not None:
                await on_download(info, owner_id, byte_range)

        url = await self.presigned_url(info)
        if url is not None:
            await downloading(ByteRange(0, info.length))
            return redirect(url)
        upload = await self.store.get_upload(info)
        return await serve_content(
            request,
            size=info.length,
            sha256=info.sha256,
            filename=tus.metadata_text(info.metadata, "filename"),
            open_range=upload.reader,
            on_start=downloading,
        )

    async def presigned_url(self, info: UploadInfo) -> str | None:
        """Where to send a download instead of streaming it, if the store and settings allow;
        the caller has checked access (a revoke stops new redirects at once)."""
        if self.composer.presigner is None or self.config.presign_expiry is None:
            return None
        disposition = content_disposition(tus.metadata_text(info.metadata, "filename"))
        return await self.composer.presigner.presigned_get(
            info, disposition=disposition, expires_in=self.config.presign_expiry
        )

    # --- the write path -------------------------------------------------------------------

    async def _to_completion(self, write: Coroutine[Any, Any, UploadInfo]) -> UploadInfo:
        """Run a locked write to its end even if the request handler is cancelled (a server
        may cancel handlers whose client went away): the bytes that arrived are still made
        durable and committed, and the lock is released only after that."""
        task = asyncio.ensure_future(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    async def _write(self, request: web.Request, info: UploadInfo, checksum: tus.Checksum | None) -> UploadInfo:
        limit = (self.config.max_size if info.length is None else info.length) - info.offset
        whole_file = self.digests.resume(info.id, info.offset)
        chunk_hasher = tus.new_hasher(checksum.algorithm) if checksum else None
        hashers = [h for h in (whole_file, chunk_hasher) if h is not None]
        body = BodyReader(request.content, limit=limit, hashers=hashers, declared_length=request.content_length)
        upload = await self.store.get_upload(info)
        try:
            written = await upload.write_chunk(info.offset, body.chunks())
        except errors.StorageUnavailable as exc:
            if exc.durable and checksum is None:  # keep what the store saved before failing
                self.digests.forget(info.id)  # the running digest has seen more than that
                await self._commit(info, exc.durable)
            raise
        if checksum is not None and chunk_hasher is not None:
            if body.interrupted:
                return info  # an incomplete chunk cannot be verified: discard it
            if chunk_hasher.digest() != checksum.digest:
                raise errors.ChecksumMismatch()
        if written == 0:  # nothing new, but a declared length may have completed it
            return await self._on_complete(info) if info.is_complete and info.state == "active" else info
        info = await self._commit(info, written)
        if whole_file is not None:
            self.digests.commit(info.id, info.offset, whole_file)
        return await self._on_complete(info) if info.is_complete else info

    async def _commit(self, info: UploadInfo, written: int) -> UploadInfo:
        """Make ``written`` durable bytes past the offset part of the upload (offset of record)."""
        new_offset = info.offset + written
        expires_at = self._next_expiry()
        await self.registry.advance(info.id, info.offset, new_offset, expires_at)
        if self._on_durable is not None:
            self._on_durable(written)
        return info.with_(offset=new_offset, expires_at=expires_at)

    @asynccontextmanager
    async def _lock_seen_by(self, upload_id: str, owner_id: str, principal: Any) -> AsyncIterator[None]:
        """The upload's lock. Taken before the upload is read (one read per PATCH), so a
        caller who may not see the upload gets 404 rather than 423 when it is busy."""
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(self.locker.lock(upload_id))
            except errors.Locked:
                await self._load(upload_id, owner_id, ("patch", principal))
                raise
            yield

    async def _locked_complete(self, info: UploadInfo) -> UploadInfo:
        async with self.locker.lock(info.id):
            return await self._on_complete(info)

    async def _declare_length(self, info: UploadInfo, length: int) -> UploadInfo:
        if info.length is not None:
            raise errors.BadRequest("Upload-Length cannot be changed once set")
        if length < info.offset:
            raise errors.BadRequest("Upload-Length is less than the current offset")
        if length > self.config.max_size:
            raise errors.PayloadTooLarge(f"uploads are limited to {self.config.max_size} bytes")
        assert self.composer.length_deferrer is not None
        await self.composer.length_deferrer.declare_length(info, length)
        await self.registry.declare_length(info.id, length)
        return info.with_(length=length)

    async def _on_complete(self, info: UploadInfo) -> UploadInfo:
        """All bytes are in: a partial waits for its final; anything else becomes a file."""
        assert info.length is not None
        upload = await self.store.get_upload(info)
        await upload.finish(info)
        if info.concat == "partial":
            await self.registry.set_state(info.id, "complete")
            self.digests.forget(info.id)
            return info.with_(state="complete")
        sha256 = self.digests.final_hex(info.id, info.length) or await self._hash_stored(info)
        file_id = await self.registry.complete(info.id, info.length, sha256)
        return info.with_(state="complete", file_id=file_id, sha256=sha256, expires_at=None)

    async def _hash_stored(self, info: UploadInfo) -> str:
        hasher = hashlib.sha256()
        upload = await self.store.get_upload(info)
        async with aclosing(upload.reader(ByteRange(0, info.length or 0))) as blocks:
            async for block in blocks:
                await asyncio.to_thread(hasher.update, block)
        return hasher.hexdigest()

    async def _settle(self, info: UploadInfo) -> UploadInfo:
        """Finish what a crash or an unfinished concatenation left: assemble a final upload
        whose partials are now complete; create the file record of a complete upload."""
        if info.state != "active" or not (info.concat == "final" or info.is_complete):
            return info
        try:
            async with self.locker.lock(info.id):
                info = await self._load(info.id, info.owner_id)
                if info.concat == "final" and not info.is_complete:
                    return await self._try_concat(info)
                if info.is_complete and info.state == "active":
                    return await self._on_complete(info)
        except errors.Locked:
            pass  # someone else is settling it right now
        except errors.EncryptionRequired:
            pass  # all bytes are in, the signed header is not: the offset is still the answer
        return info

    async def _try_concat(self, final: UploadInfo) -> UploadInfo:
        found = await self.registry.get_many(list(final.partial_ids))
        partials = [found.get(pid) for pid in final.partial_ids]
        if any(p is None or p.state != "complete" for p in partials):
            known = [p.length for p in partials if p is not None]
            if final.length is None and None not in known and len(known) == len(partials):
                final = final.with_(length=sum(known))  # type: ignore[arg-type]
            return final
        assert self.composer.concater is not None
        ready = [p for p in partials if p is not None]
        total = sum(p.length or 0 for p in ready)
        await self.composer.concater.concat(final, ready)
        await self.registry.finish_concat(final.id, total)
        return await self._on_complete(final.with_(offset=total, length=total))

    # --- expiration ------------------------------------------------------------------------

    async def reap_expired(self, batch: int = 100) -> int:
        """Free the bytes of expired uploads; returns how many were reaped."""
        if self.composer.terminater is None:
            return 0
        try:
            async with self.locker.lock(REAPER_LOCK):  # one reaper at a time across instances
                return await self._reap(self.composer.terminater, batch)
        except errors.Locked:
            return 0

    async def _reap(self, terminater: Terminater, batch: int) -> int:
        reaped = 0
        for info in await self.registry.expired(_now(), batch):
            try:
                async with self.locker.lock(info.id):
                    if info.state == "active" and info.is_complete:
                        # All bytes arrived but a crash cut the completion short: finish
                        # it rather than throw the evidence away.
                        try:
                            await self._on_complete(info)
                            continue
                        except errors.EncryptionRequired:
                            pass  # its signed header never came: it expires like any unfinished upload
                    await terminater.terminate(info)
                    await self.registry.set_state(info.id, "expired")
            except errors.Locked:
                continue  # being written right now, so not expired after all
            self.digests.forget(info.id)
            reaped += 1
        return reaped

    # --- helpers ---------------------------------------------------------------------------

    async def _load(
        self, upload_id: str, owner_id: str, asked: tuple[UploadAction, Any] | None = None
    ) -> UploadInfo:
        """The caller's upload; ``asked`` = (action, principal) for the policy (None when
        the handler re-reads an upload it is already acting on)."""
        info = await self.registry.get(upload_id) if is_valid_id(upload_id) else None
        # Another user's upload is indistinguishable from a missing one.
        if info is None or info.owner_id != owner_id or info.state == "terminated":
            raise errors.UploadNotFound()
        if info.state == "expired" or (
            info.file_id is None and info.expires_at is not None and info.expires_at <= _now()
        ):
            raise errors.UploadExpired()
        if asked is not None:
            info = await self.policy.authorize(asked[0], asked[1], info)
        return info

    def _next_expiry(self) -> datetime | None:
        return None if self.config.expiry is None else _now() + self.config.expiry

    def _check_version(self, request: web.Request) -> None:
        if request.headers.get("Tus-Resumable", "").strip() not in tus.SUPPORTED_VERSIONS:
            raise errors.UnsupportedTusVersion(headers={"Tus-Version": ",".join(tus.SUPPORTED_VERSIONS)})

    def _capabilities(self) -> dict[str, str]:
        return {
            "Tus-Resumable": tus.TUS_VERSION,
            "Tus-Version": ",".join(tus.SUPPORTED_VERSIONS),
            "Tus-Extension": ",".join(self.extensions),
            "Tus-Max-Size": str(self.config.max_size),
            "Tus-Checksum-Algorithm": ",".join(tus.CHECKSUM_ALGORITHMS),
        }

    def _url(self, request: web.Request, upload_id: str) -> str:
        base = self.config.public_url or f"{request.scheme}://{request.host}"
        return f"{base.rstrip('/')}{self.config.base_path}/{upload_id}"

    def _state_headers(self, info: UploadInfo) -> dict[str, str]:
        headers = {"Tus-Resumable": tus.TUS_VERSION}
        final_pending = info.concat == "final" and not info.is_complete
        if not final_pending:  # concatenation: no offset until the final is assembled
            headers["Upload-Offset"] = str(info.offset)
        if info.length is not None:
            headers["Upload-Length"] = str(info.length)
        elif not final_pending:
            headers["Upload-Defer-Length"] = "1"
        if info.metadata:
            headers["Upload-Metadata"] = tus.format_metadata(info.metadata)
        if info.concat:
            urls = [f"{self.config.base_path}/{pid}" for pid in info.partial_ids]
            headers["Upload-Concat"] = tus.format_concat(info.concat, urls) or ""
        if info.expires_at is not None and info.file_id is None:
            headers["Upload-Expires"] = tus.format_expires(info.expires_at)
        if info.file_id is not None:
            headers["Filehub-File-Id"] = info.file_id
        return headers
