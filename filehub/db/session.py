"""Engine and session factory for SQLite (embedded default) and PostgreSQL (at scale)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import QueryableAttribute

from filehub.errors import DatabaseUnavailable


def make_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 20, pre_ping: bool = True, **kwargs: Any
) -> AsyncEngine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    return create_async_engine(
        url, pool_pre_ping=pre_ping, pool_size=pool_size, max_overflow=max_overflow, **kwargs
    )


def _sqlite_engine(url: str, *, begin: str = "BEGIN IMMEDIATE", **kwargs: Any) -> AsyncEngine:
    # busy timeout: writers queue rather than fail; the driver's own transaction handling is
    # turned off so that write transactions start with BEGIN IMMEDIATE (no lock-upgrade
    # deadlocks between two read-then-write transactions) and reads with a plain BEGIN
    # (a WAL snapshot that never waits for a writer).
    engine = create_async_engine(url, connect_args={"timeout": 30, "isolation_level": None}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=FULL")  # a committed offset survives power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switching a new database to WAL needs a moment of exclusive access, and SQLite does
    not wait for it (no busy handler there): processes opening one new file at once retry."""
    for attempt in range(50):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.05)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on error; a lost database is a 503."""
    try:
        async with sessions() as session, session.begin():
            yield session
    except (OperationalError, DBAPIError, OSError) as exc:
        _raise_unavailable(exc)
        raise


def _raise_unavailable(exc: Exception) -> None:
    """Turn a lost database into DatabaseUnavailable (a 503); leave other errors alone."""
    if isinstance(exc, DBAPIError) and not exc.connection_invalidated and not _is_unavailable(exc):
        return
    raise DatabaseUnavailable() from exc


def _is_unavailable(exc: DBAPIError) -> bool:
    if isinstance(exc, OperationalError):
        return True
    name = type(exc.orig).__name__ if exc.orig is not None else ""
    return "Connection" in name or "CannotConnect" in name


class Database:
    """The engines and the two kinds of transaction the services use.

    On SQLite, reads get an engine of their own whose transactions never take the write
    lock, and writes are queued in process (SQLite has one writer; its busy handler would
    otherwise sleep in steps of up to 100 ms). On PostgreSQL both are the same pool.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sqlite = url.startswith("sqlite")
        self.read_engine = _sqlite_engine(url, begin="BEGIN") if self._sqlite else self.engine
        self._writes = make_sessionmaker(self.engine)
        self._reads = make_sessionmaker(self.read_engine)
        self._write_queue = asyncio.Lock() if self._sqlite else None
        # One-statement reads outside any transaction, with no ping before each: one round
        # trip, for the per-request "has anything changed?" of the authorisation replica
        # (which runs one such read at a time, hence the small pool).
        self.poll_engine = (
            self.read_engine
            if self._sqlite
            else make_engine(url, pool_size=2, max_overflow=2, pre_ping=False, isolation_level="AUTOCOMMIT")
        )

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        return transaction(self._reads)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        if self._write_queue is None:
            async with transaction(self._writes) as session:
                yield session
            return
        async with self._write_queue, transaction(self._writes) as session:
            yield session

    def among(
        self, column: ColumnElement[str] | QueryableAttribute[str], values: Sequence[str]
    ) -> ColumnElement[bool]:
        """``column IN values``; on PostgreSQL ``= ANY(array)``, one statement for any number
        of values (so it stays prepared) and about twice as fast at 1,000 ids."""
        if self._sqlite:
            return column.in_(values)
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))

    @asynccontextmanager
    async def poll(self) -> AsyncIterator[AsyncConnection]:
        """A connection for single-statement reads: each statement sees what is committed
        when it starts. A lost database is a 503, as for transactions."""
        try:
            async with self.poll_engine.connect() as connection:
                yield connection
        except (OperationalError, DBAPIError, OSError) as exc:
            _raise_unavailable(exc)
            raise

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
        if self.poll_engine is not self.read_engine:
            await self.poll_engine.dispose()
