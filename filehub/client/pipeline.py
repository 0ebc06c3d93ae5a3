"""Hash and encrypt a file's chunks on threads, in order, with bounded memory.

One reader thread reads batches of chunks with ``pread`` and feeds the SHA-256 in file order
(FIFO executor); a pool seals the batches in parallel (``PayloadCipher.seal_chunk`` is
thread-safe and libsodium releases the GIL); the consumer gets the sealed batches in order.
At most ``depth`` batches are in flight, so memory stays at about depth x batch x 128 KiB
whatever the file size. The output is byte for byte what ``Encryptor`` produces: the
encryption is deterministic for one (key, file, version), which is what makes resuming from
any chunk possible without ever sealing different plaintext under the same nonce.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from filehub.crypto.stream import CHUNK_SIZE, Layout, PayloadCipher

BATCH = 16  # chunks per task: 1 MiB of plaintext, enough to amortise the hand-offs


def read_plaintext(fd: int, start: int, size: int) -> bytes:
    """Exactly ``size`` bytes at ``start`` (pread may return short reads)."""
    parts, got = [], 0
    while got < size:
        data = os.pread(fd, size - got, start + got)
        if not data:
            raise EOFError(f"the source file ended at byte {start + got}; it changed while being read")
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def hash_prefix(fd: int, stop: int, hasher: Any, block: int = 1 << 20) -> None:
    """Feed plaintext [0, stop) to ``hasher`` (to resume the digest of a restarted upload)."""
    for start in range(0, stop, block):
        hasher.update(read_plaintext(fd, start, min(block, stop - start)))


def seal_batch(cipher: PayloadCipher, layout: Layout, first: int, plaintext: bytes) -> list[bytes]:
    """The sealed chunks, not joined: a 1 MiB join per batch costs more CPU (memory handed
    back to the OS and faulted in again) than sending 16 pieces."""
    sealed, view = [], memoryview(plaintext)
    for pos in range(0, max(len(plaintext), 1), CHUNK_SIZE):
        index = first + pos // CHUNK_SIZE
        sealed.append(cipher.seal_chunk(index, bytes(view[pos : pos + CHUNK_SIZE]), last=layout.is_last(index)))
    return sealed


class Pipeline:
    """Owns the threads; ``batches(...)`` may be called several times (e.g. once per retry)."""

    def __init__(self, workers: int | None = None, *, batch: int = BATCH, depth: int | None = None):
        self.workers = workers or max(1, min(8, os.cpu_count() or 1))
        self.batch = batch
        self.depth = depth or 2 * self.workers + 2
        self._reader: Executor = ThreadPoolExecutor(1, thread_name_prefix="filehub-read")
        self._pool: Executor = ThreadPoolExecutor(self.workers, thread_name_prefix="filehub-seal")

    def close(self) -> None:
        self._reader.shutdown(cancel_futures=True)
        self._pool.shutdown(cancel_futures=True)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def batches(
        self, cipher: PayloadCipher, fd: int, layout: Layout, first: int, stop: int, hasher: Any = None
    ) -> AsyncIterator[bytes]:
        """Sealed chunks [first, stop) of the file open at ``fd``, in order (sealed in batches
        on the pool); the plaintext of those chunks goes to ``hasher`` in file order."""
        loop = asyncio.get_running_loop()

        def read(index: int, count: int) -> bytes:
            start = index * CHUNK_SIZE
            size = min(count * CHUNK_SIZE, layout.plaintext_length - start)
            data = read_plaintext(fd, start, size)
            if hasher is not None:
                hasher.update(data)
            return data

        async def job(index: int, count: int) -> list[bytes]:
            plaintext = await loop.run_in_executor(self._reader, read, index, count)  # FIFO: hashed in order
            return await loop.run_in_executor(self._pool, seal_batch, cipher, layout, index, plaintext)

        in_flight: deque[asyncio.Task[list[bytes]]] = deque()
        index = first
        try:
            while index < stop or in_flight:
                while index < stop and len(in_flight) < self.depth:
                    count = min(self.batch, stop - index)
                    in_flight.append(asyncio.ensure_future(job(index, count)))
                    index += count
                for chunk in await in_flight.popleft():
                    yield chunk
        finally:
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
