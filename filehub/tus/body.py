"""Reading a PATCH body: bounded before it is read, gathered into blocks, hashed on a thread.

A dropped connection is not an error here: the blocks that arrived are yielded, the reader
notes ``interrupted`` and the caller keeps them (tus core: the client resumes from the
offset the server reports).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import StreamReader
from aiohttp.http_exceptions import HttpProcessingError

from filehub.errors import PayloadTooLarge
from filehub.tus.protocol import Hasher

# What aiohttp raises from a request body whose connection went away mid-way.
_DISCONNECTS = (ConnectionError, HttpProcessingError, asyncio.IncompleteReadError, EOFError)


def _update_all(hashers: list[Hasher], block: bytes) -> None:
    for hasher in hashers:  # hashlib releases the GIL on large buffers
        hasher.update(block)


class BodyReader:
    def __init__(
        self,
        content: StreamReader,
        *,
        limit: int,
        block_size: int,
        hashers: list[Hasher],
        declared_length: int | None,
    ) -> None:
        if declared_length is not None and declared_length > limit:
            raise PayloadTooLarge("the body is longer than the rest of the upload")
        self._content = content
        self._limit = limit
        self._block_size = block_size
        self._hashers = hashers
        self._declared_length = declared_length
        self.received = 0
        self.interrupted = False

    async def blocks(self) -> AsyncIterator[bytes]:
        pending_hash: asyncio.Future[None] | None = None
        parts: list[bytes] = []
        gathered = 0
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
                parts.append(chunk)
                gathered += len(chunk)
                if gathered < self._block_size:
                    continue
            if gathered:
                block = b"".join(parts)
                parts, gathered = [], 0
                if self._hashers:
                    if pending_hash is not None:
                        await pending_hash
                    pending_hash = asyncio.ensure_future(
                        asyncio.to_thread(_update_all, self._hashers, block)
                    )
                yield block
            if not chunk:
                break
        if pending_hash is not None:
            await pending_hash
        if self._declared_length is not None and self.received < self._declared_length:
            self.interrupted = True
