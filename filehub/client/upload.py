"""Encrypted, resumable tus upload (docs/e2e.md, docs/format.md §4-§5).

The upload is created first, so the file id (the upload id) is known before a byte is sealed.
The body goes up in PATCHes of ciphertext; the last chunk is held back until the signed
header and the uploader's own wrapped key are stored, and its PATCH completes the file.

Resume (after a killed process or a dropped link): a small state file keeps the upload URL,
the file id, the source's size, mtime and inode, and the file key sealed to the user's own
X25519 key (never the raw key). The server's offset says where to go on; the plaintext
before that chunk is re-hashed and the chunk re-encrypted: the same key, file and version
give the same bytes. A changed source starts a new upload with a new key, so different
plaintext is never sealed under one key and nonce.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import mimetypes
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import nacl.public

from filehub.client import ClientError
from filehub.client.api import TUS, Api, ApiError, error_of, retryable, with_retries
from filehub.client.config import ClientConfig, b64d, b64e, read_json, write_json
from filehub.client.pipeline import Pipeline, hash_prefix, read_plaintext, seal_batch
from filehub.crypto.header import Metadata, seal_header, wrap_file_key
from filehub.crypto.keys import CertifiedKey, Identity
from filehub.crypto.stream import CHUNK_SIZE, CIPHERTEXT_CHUNK_SIZE, Layout, PayloadCipher, new_file_key

ENCRYPTION = "filehub-e2e/1"
VERSION = 1
SEGMENT = 64 << 20  # ciphertext bytes per PATCH: a dropped link costs at most one segment
ATTEMPTS = 10  # retries within one run for dropped links, 5xx and 423

Progress = Callable[[int, int], None]


@dataclass
class UploadState:
    upload_url: str
    file_id: str
    path: str
    size: int
    mtime_ns: int
    inode: int
    sealed_key: str  # base64 crypto_box_seal(file key) to the uploader's own X25519 key
    case: str
    exhibit: str | None
    media_type: str


@dataclass(frozen=True)
class UploadResult:
    file_id: str
    plaintext_length: int
    plaintext_sha256: str
    resumed_from: int  # ciphertext offset the server already held when this run started


def state_path(config: ClientConfig, path: Path) -> Path:
    return config.uploads_dir / (hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".json")


def same_source(state: UploadState, st: os.stat_result) -> bool:
    return (state.size, state.mtime_ns, state.inode) == (st.st_size, st.st_mtime_ns, st.st_ino)


def _sha256(path: Path) -> str:
    with path.open("rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


async def ciphertext_slice(blocks: AsyncIterator[bytes], offset: int, end: int, *,
                           on_sent: Callable[[int], None] | None = None,
                           max_rate: float | None = None) -> AsyncIterator[bytes]:
    """Ciphertext [offset, end) out of sealed batches that start at the chunk holding
    ``offset`` (a resumed PATCH starts mid-chunk); paced to ``max_rate`` bytes a second."""
    position = (offset // CIPHERTEXT_CHUNK_SIZE) * CIPHERTEXT_CHUNK_SIZE
    started, sent = time.monotonic(), 0
    async for block in blocks:
        lo, hi = max(offset - position, 0), min(len(block), end - position)
        position += len(block)
        if hi > lo:
            piece = block[lo:hi] if (lo, hi) != (0, len(block)) else block
            yield piece
            sent += len(piece)
            if on_sent is not None:
                on_sent(offset + sent)
            if max_rate:
                ahead = sent / max_rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        if position >= end:
            break


def tus_metadata(pairs: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


class Uploader:
    def __init__(self, api: Api, config: ClientConfig, identity: Identity, me: CertifiedKey, *,
                 on_progress: Progress | None = None, max_rate: float | None = None,
                 pipeline: Pipeline | None = None):
        self.api, self.config, self.identity, self.me = api, config, identity, me
        self.on_progress = on_progress or (lambda done, total: None)
        self.max_rate = max_rate  # bytes per second, for shared links; None = as fast as possible
        self.pipeline = pipeline
        # On a slow (rate-limited) link, commit every few seconds rather than every 64 MiB.
        paced = SEGMENT if not max_rate else int(min(SEGMENT, max(1 << 20, 4 * max_rate)))
        self.segment = max(1, paced // CIPHERTEXT_CHUNK_SIZE) * CIPHERTEXT_CHUNK_SIZE

    async def upload(self, source: Path, *, case: str, exhibit: str | None = None,
                     media_type: str | None = None) -> UploadResult:
        source = source.resolve()
        st = source.stat()
        media_type = media_type or mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        where = state_path(self.config, source)
        saved = read_json(where)
        state = UploadState(**saved) if saved else None
        if state is not None and not (same_source(state, st) and state.case == case):
            await self._abandon(state)  # the source changed: its key must never seal other bytes
            state = None
        if state is None:
            state = await self._create(source, st, case, exhibit, media_type)
            write_json(where, asdict(state))
        file_key = self.identity.open_sealed(b64d(state.sealed_key, "sealed file key"))
        pipeline = self.pipeline or Pipeline()
        try:
            result = await self._send_with_retries(state, file_key, source, pipeline)
        finally:
            if self.pipeline is None:
                pipeline.close()
        where.unlink(missing_ok=True)
        return result

    async def _create(self, source: Path, st: os.stat_result, case: str, exhibit: str | None,
                      media_type: str) -> UploadState:
        layout = Layout(st.st_size)
        metadata = {"case": case, "encryption": ENCRYPTION, **({"exhibit_ref": exhibit} if exhibit else {})}
        headers = {**TUS, "Upload-Length": str(layout.ciphertext_length), "Upload-Metadata": tus_metadata(metadata)}

        async def create() -> str:
            async with self.api.request("POST", "/api/v1/uploads", headers=headers) as response:
                if response.status != 201:
                    raise await error_of(response)
                return response.headers["Location"]

        location = await with_retries(create)
        file_id = location.rstrip("/").rsplit("/", 1)[-1]
        if len(file_id) != 32 or any(c not in "0123456789abcdef" for c in file_id):
            raise ClientError(f"the server returned an unexpected upload location {location!r}")
        sealed = nacl.public.SealedBox(nacl.public.PublicKey(self.identity.public.encryption_key)).encrypt(new_file_key())
        return UploadState(self.api.absolute(location), file_id, str(source), st.st_size, st.st_mtime_ns, st.st_ino,
                           b64e(sealed), case, exhibit, media_type)

    async def _abandon(self, state: UploadState) -> None:
        """Best effort: free the old upload's space; the new one is independent of it."""
        try:
            async with self.api.request("DELETE", state.upload_url, headers=TUS):
                pass
        except Exception:  # noqa: BLE001 - the server reaps abandoned uploads anyway
            pass

    async def _send_with_retries(self, state: UploadState, file_key: bytes, source: Path,
                                 pipeline: Pipeline) -> UploadResult:
        first_offset = None
        for attempt in range(ATTEMPTS):
            try:
                offset, done = await self._head(state.upload_url)
                first_offset = offset if first_offset is None else first_offset
                if done:  # an earlier run finished but died before forgetting its state
                    return UploadResult(state.file_id, state.size, await asyncio.to_thread(_sha256, source), offset)
                digest = await self._send(state, file_key, source, pipeline, offset)
                return UploadResult(state.file_id, state.size, digest, first_offset)
            except Exception as exc:
                if not retryable(exc) and not (isinstance(exc, ApiError) and exc.status == 409) or attempt == ATTEMPTS - 1:
                    raise
                await asyncio.sleep(min(15.0, 0.25 * 2**attempt))  # then HEAD again: the server's offset rules
        raise AssertionError("unreachable")

    async def _head(self, url: str) -> tuple[int, bool]:
        """The server's offset, and whether the upload is complete (it then names its file)."""
        async with self.api.request("HEAD", url, headers=TUS) as response:
            if response.status in (404, 410):
                raise ClientError("the server no longer has this upload (expired?); run the upload again to start over")
            if response.status != 200:
                raise await error_of(response)
            return int(response.headers["Upload-Offset"]), "Filehub-File-Id" in response.headers

    async def _send(self, state: UploadState, file_key: bytes, source: Path, pipeline: Pipeline, offset: int) -> str:
        file_id = bytes.fromhex(state.file_id)
        cipher = PayloadCipher.for_file(file_key, file_id, VERSION)
        layout = Layout(state.size)
        last, total = layout.chunk_count - 1, layout.ciphertext_length
        hasher = hashlib.sha256()
        fd = os.open(source, os.O_RDONLY)
        try:
            if not same_source(state, os.fstat(fd)):
                raise ClientError(f"{source} changed during the upload; run the upload again to start a new one")
            first = min(offset // CIPHERTEXT_CHUNK_SIZE, last)
            await asyncio.to_thread(hash_prefix, fd, first * CHUNK_SIZE, hasher)
            self.on_progress(offset, total)
            body_stop = last * CIPHERTEXT_CHUNK_SIZE
            while offset < body_stop:  # every chunk but the last, in segments
                end = min(body_stop, (offset // CIPHERTEXT_CHUNK_SIZE) * CIPHERTEXT_CHUNK_SIZE + self.segment)
                stop_chunk = -(-end // CIPHERTEXT_CHUNK_SIZE)
                blocks = pipeline.batches(cipher, fd, layout, offset // CIPHERTEXT_CHUNK_SIZE, stop_chunk, hasher)
                await self._patch(state.upload_url, offset, ciphertext_slice(blocks, offset, end, on_sent=lambda n: self.on_progress(n, total), max_rate=self.max_rate), end - offset)
                offset = end
            plaintext = read_plaintext(fd, last * CHUNK_SIZE, layout.chunk_plaintext_size(last))
        finally:
            os.close(fd)
        hasher.update(plaintext)
        digest = hasher.digest()
        final = b"".join(seal_batch(cipher, layout, last, plaintext))
        try:
            await self._put_envelope(state, file_key, file_id, digest)
        except ApiError as exc:  # stored by an earlier attempt: the upload then says so itself
            if exc.status != 409 or offset < body_stop:
                raise
        if offset < total:
            await self._patch(state.upload_url, offset, self._from_bytes(final[offset - body_stop :]), total - offset)
        else:
            _, done = await self._head(state.upload_url)  # all bytes were there: this HEAD completes the file
            if not done:
                raise ClientError("the server holds every byte but did not complete the upload")
        self.on_progress(total, total)
        return digest.hex()

    async def _from_bytes(self, data: bytes) -> AsyncIterator[bytes]:
        yield data

    async def _patch(self, url: str, offset: int, body: AsyncIterator[bytes], length: int) -> None:
        headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream",
                   "Content-Length": str(length)}
        async with self.api.request("PATCH", url, headers=headers, data=body) as response:
            if response.status != 204:
                raise await error_of(response)

    async def _put_envelope(self, state: UploadState, file_key: bytes, file_id: bytes, digest: bytes) -> None:
        exhibit = {"reference": state.exhibit} if state.exhibit else {}
        metadata = Metadata(Path(state.path).name, state.media_type, digest, exhibit)
        header = seal_header(file_key, file_id=file_id, version=VERSION, plaintext_length=state.size,
                             metadata=metadata, uploader=self.identity)
        row = wrap_file_key(file_key, file_id=file_id, version=VERSION, recipient=self.me, granter=self.identity)
        await self.api.call("PUT", f"/api/v1/uploads/{state.file_id}/envelope",
                            {"header": b64e(header), "wrapped_key": b64e(row)}, expect=(200, 201, 204))
