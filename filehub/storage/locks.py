"""Lockers: at most one writer per upload at a time.

A second writer is refused at once (423 Locked) rather than queued: a tus client that sees
423 re-reads the offset with HEAD and retries, which is what it must do anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from filehub.errors import DatabaseUnavailable, Locked


class MemoryLocker:
    """For a single instance (the embedded default). Several instances need a shared locker."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    @asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        if name in self._held:
            raise Locked()
        self._held.add(name)
        try:
            yield
        finally:
            self._held.discard(name)


def advisory_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for a name (uniform, so collisions are ~2^-64)."""
    return int.from_bytes(hashlib.sha256(b"filehub:" + name.encode()).digest()[:8], "big", signed=True)


class PostgresLocker:
    """Session-level advisory locks shared by every instance on one PostgreSQL database.

    Each held lock has a connection of its own, outside any transaction. If an instance dies
    (even by SIGKILL), PostgreSQL ends its sessions and so releases their locks: no lock
    outlives its holder, and no lease has to be renewed.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        key = advisory_key(name)
        try:
            connection = await self._engine.connect()
        except (DBAPIError, OSError) as exc:
            raise DatabaseUnavailable() from exc
        try:
            try:
                acquired = await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            except (DBAPIError, OSError) as exc:
                raise DatabaseUnavailable() from exc
            if not acquired:
                raise Locked()
            try:
                yield
            finally:
                # A broken connection has already released the lock with its session.
                with contextlib.suppress(DBAPIError, OSError):
                    await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        finally:
            with contextlib.suppress(DBAPIError, OSError):
                await connection.close()
