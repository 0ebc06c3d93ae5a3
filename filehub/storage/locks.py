"""Lockers: at most one writer per upload at a time.

A second writer is refused at once (423 Locked) rather than queued: a tus client that sees
423 re-reads the offset with HEAD and retries, which is what it must do anyway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from filehub.errors import Locked


class MemoryLocker:
    """For a single instance (the embedded default). Several instances need a shared locker."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    @asynccontextmanager
    async def lock(self, upload_id: str) -> AsyncIterator[None]:
        if upload_id in self._held:
            raise Locked()
        self._held.add(upload_id)
        try:
            yield
        finally:
            self._held.discard(upload_id)
