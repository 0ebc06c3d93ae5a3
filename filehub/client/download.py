"""Verified, ranged, resumable download (docs/e2e.md, docs/format.md §5, §6, §11).

Before a byte is fetched: the uploader's and the granter's certificates chain to pinned
roots, the wrapped key opens, and the header's signature and key commitment verify. Bytes
are written only after their chunk authenticates, into ``OUT.filehub-partial``; a dropped
or killed download goes on from the end of that file with a new Range (at most one chunk is
fetched twice). The partial file becomes OUT only after ``finish()`` (nothing cut off) and,
for the whole file, the plaintext SHA-256 of the signed header matched. Any CryptoError
deletes the partial file: released bytes are authentic, but the file as a whole is not.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from filehub.client import ClientError
from filehub.client.api import Api, ApiError, error_of, retryable
from filehub.client.config import ClientConfig, b64d, read_json, write_json
from filehub.client.identity import TrustStore
from filehub.crypto import CryptoError, TamperedData
from filehub.crypto.header import OpenedHeader, open_header, unwrap_file_key
from filehub.crypto.keys import Identity

ATTEMPTS = 10
READ_SIZE = 1 << 20


class NoKeyYet(ClientError):
    """The caller may download the file but holds no wrapped key for it: a request was filed."""


@dataclass(frozen=True)
class DownloadResult:
    file_id: str
    path: Path
    start: int
    stop: int
    resumed_from: int  # plaintext offset this run started at (start if nothing was kept)
    whole_file_verified: bool
    name: str
    media_type: str


def stored_at(item: dict[str, Any]) -> int | None:
    """When the server stored a header or row: its signer's certificate is checked at that
    time, so a certificate that expired since still vouches for what it signed while valid.
    That time is the server's word; the audit log's event for it is the independent record."""
    text = item.get("created_at")
    if not text:
        return None
    return min(int(time.time()), int(datetime.fromisoformat(text).timestamp()))


async def open_file(api: Api, identity: Identity, trust: TrustStore, file_id: str) -> OpenedHeader:
    """Verify everything needed to decrypt ``file_id`` and return its opened header."""
    return (await unlock_file(api, identity, trust, file_id))[0]


async def unlock_file(api: Api, identity: Identity, trust: TrustStore, file_id: str) -> tuple[OpenedHeader, bytes]:
    """The opened header and the file key, which the header's key commitment has proven."""
    envelope = await api.get(f"/api/v1/files/{file_id}/envelope")
    uploader = trust.verify_key(envelope["uploader"], now=stored_at(envelope))
    version = int(envelope["version"])
    mine = (await api.get(f"/api/v1/files/{file_id}/keys/mine"))["items"]
    rows = [row for row in mine if row["recipient_key_id"] == identity.key_id.hex()]
    if not rows:
        try:  # idempotent: a pending request is returned again
            await api.call("POST", f"/api/v1/files/{file_id}/key-requests", expect=(200, 201))
        except ApiError as exc:
            if exc.status != 409:
                raise
            raise ClientError(f"no key for file {file_id} is shared with your key: {exc.message}") from None
        raise NoKeyYet(
            f"you may download file {file_id} but no key has been shared with your key yet; a request was "
            "filed: ask a colleague or the prosecutor who holds it to run `filehub share sync`"
        )
    problems = []
    for row in rows:  # normally one; several if the file was shared with you twice
        try:
            granter = trust.verify_key(row["granter"], now=stored_at(row))
            file_key = unwrap_file_key(b64d(row["wrapped_key"], "wrapped key"), recipient=identity, granter=granter,
                                       file_id=bytes.fromhex(file_id), version=version)
            opened = open_header(b64d(envelope["header"], "header"), file_key=file_key, uploader=uploader,
                                 file_id=bytes.fromhex(file_id), version=version)
            return opened, file_key
        except (ClientError, CryptoError) as exc:
            problems.append(str(exc))
    raise ClientError(f"no usable key for file {file_id}: {'; '.join(problems)}")


def _release(decryptor: Any, ciphertext: bytes, sink: Any, hasher: Any) -> int:
    """Decrypt, hash and write on a worker thread, off the event loop that keeps receiving;
    only authenticated plaintext comes out of the decryptor."""
    plaintext = decryptor.update(ciphertext)
    if plaintext:
        sink.write(plaintext)
        if hasher is not None:
            hasher.update(plaintext)
    return len(plaintext)


class Downloader:
    def __init__(self, api: Api, config: ClientConfig, identity: Identity, trust: TrustStore, *,
                 on_progress: Callable[[int, int], None] | None = None, max_rate: float | None = None):
        self.api, self.config, self.identity, self.trust = api, config, identity, trust
        self.max_rate = max_rate  # bytes per second, for shared links
        self.read_size = READ_SIZE if not max_rate else 64 << 10  # smooth pacing
        self.on_progress = on_progress or (lambda done, total: None)

    async def download(self, file_id: str, out: Path, start: int = 0, stop: int | None = None) -> DownloadResult:
        opened = await open_file(self.api, self.identity, self.trust, file_id)
        length = opened.header.plaintext_length
        stop = length if stop is None else min(stop, length)
        if not 0 <= start <= stop:
            raise ClientError(f"the range starts after its end or outside the file ({length} bytes)")
        partial = out.with_name(out.name + ".filehub-partial")
        state_file = partial.with_name(partial.name + ".json")
        state = {"file_id": file_id, "start": start, "stop": stop,
                 "header_sha256": hashlib.sha256(opened.header.encode()).hexdigest()}
        if read_json(state_file) != state or not partial.exists():
            partial.unlink(missing_ok=True)
            partial.touch(mode=0o600)
            write_json(state_file, state)
        whole = start == 0 and stop == length
        hasher = hashlib.sha256() if whole else None
        resumed_from = start + partial.stat().st_size
        with partial.open("r+b") as sink:
            if hasher is not None:
                while block := sink.read(READ_SIZE):
                    hasher.update(block)
            sink.seek(0, os.SEEK_END)
            try:
                await self._fetch(file_id, opened, sink, start, stop, hasher)
                if hasher is not None and not hmac.compare_digest(hasher.digest(), opened.metadata.plaintext_sha256):
                    raise TamperedData("the downloaded file does not match the SHA-256 in its signed header: "
                                       "the file may be corrupted or tampered with")
            except CryptoError as exc:  # transport and API errors keep the partial file for a resume
                sink.close()
                partial.unlink(missing_ok=True)
                state_file.unlink(missing_ok=True)
                raise ClientError(str(exc)) from None
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(partial, out)
        state_file.unlink(missing_ok=True)
        meta = opened.metadata
        return DownloadResult(file_id, out, start, stop, resumed_from, whole, meta.name, meta.media_type)

    async def _fetch(self, file_id: str, opened: OpenedHeader, sink, start: int, stop: int, hasher) -> None:
        for attempt in range(ATTEMPTS):
            sink.flush()
            position = start + sink.tell()
            try:
                await self._fetch_from(file_id, opened, sink, position, stop, hasher)
                return
            except Exception as exc:
                if not retryable(exc) or attempt == ATTEMPTS - 1:
                    raise
                await asyncio.sleep(min(15.0, 0.25 * 2**attempt))

    async def _fetch_from(self, file_id: str, opened: OpenedHeader, sink, position: int, stop: int, hasher) -> None:
        decryptor = opened.decryptor(position, stop)
        plan = decryptor.plan
        self.on_progress(position, stop)
        if plan.http_range is None:
            decryptor.finish()
            return
        headers = {"Range": plan.http_range}
        async with self.api.request("GET", f"/api/v1/files/{file_id}/content", headers=headers) as response:
            if response.status not in (200, 206):
                raise await error_of(response)
            skip = plan.ciphertext_start if response.status == 200 else 0  # a server that ignored Range
            left = plan.ciphertext_stop - plan.ciphertext_start
            started, received = time.monotonic(), 0
            async for data in response.content.iter_chunked(self.read_size):
                if skip:
                    cut = min(skip, len(data))
                    data, skip = data[cut:], skip - cut
                data, left = data[:left], left - min(left, len(data))
                received += len(data)
                if self.max_rate and (ahead := received / self.max_rate - (time.monotonic() - started)) > 0:
                    await asyncio.sleep(ahead)
                if data:
                    released = await asyncio.to_thread(_release, decryptor, data, sink, hasher)
                    if released:
                        position += released
                        self.on_progress(position, stop)
                if not left:
                    break
        decryptor.finish()
