"""Reading a PATCH body: bounded before it is read, hashed on a worker thread.

Chunks are passed on as they come off the socket (the store gathers them into writes of
its own size), so no byte is copied on the way. Hashing runs on a thread over batches of
about ``HASH_BATCH`` bytes, one batch in flight while the next arrives, so on a machine with
a spare core the digest costs little wall time. A dropped connection is not an error here:
the chunks that arrived are passed on, the reader notes ``interrupted`` and the caller keeps
them (tus core: the client resumes from the offset the server reports).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import StreamReader
from aiohttp.http_exceptions import HttpProcessingError

from filehub.errors import PayloadTooLarge
from filehub.tus.protocol import Hasher

HASH_BATCH = 1 << 20  # bytes per hand-off to the hashing thread
# What aiohttp raises from a request body whose connection went away mid-way.
_DISCONNECTS = (ConnectionError, HttpProcessingError, asyncio.IncompleteReadError, EOFError)


def _hash_batch(hashers: list[Hasher], batch: list[bytes]) -> None:
    for chunk in batch:
        for hasher in hashers:  # hashlib releases the GIL on buffers over 2 KiB
            hasher.update(chunk)


class BodyReader:
    def __init__(
        self,
        content: StreamReader,
        *,
        limit: int,
        hashers: list[Hasher],
        declared_length: int | None,
    ) -> None:
        if declared_length is not None and declared_length > limit:
            raise PayloadTooLarge("the body is longer than the rest of the upload")
        self._content = content
        self._limit = limit
        self._hashers = hashers
        self._declared_length = declared_length
        self.received = 0
        self.interrupted = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's chunks; when it ends, every hasher has seen exactly these bytes."""
        hashing: asyncio.Future[None] | None = None
        batch: list[bytes] = []
        batched = 0
        try:
            while True:
                try:
                    chunk = await self._content.readany()
                except _DISCONNECTS:
                    self.interrupted = True
                    chunk = b""
                if chunk:
                    if self.received + len(chunk) > self._limit:
                        raise PayloadTooLarge("the body is longer than the rest of the upload")
                    self.received += len(chunk)
                    batch.append(chunk)
                    batched += len(chunk)
                if self._hashers and batch and (batched >= HASH_BATCH or not chunk):
                    if hashing is not None:
                        await hashing  # keeps the hashers' order: one batch at a time
                    hashing = asyncio.ensure_future(asyncio.to_thread(_hash_batch, self._hashers, batch))
                    batch, batched = [], 0
                if not chunk:
                    break
                yield chunk
        finally:
            if hashing is not None:
                await hashing
        if self._declared_length is not None and self.received < self._declared_length:
            self.interrupted = True
