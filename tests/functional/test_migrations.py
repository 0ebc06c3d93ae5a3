"""Migrations: several instances starting at once on one database migrate it once."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from filehub.db.migrate import migrate
from filehub.db.session import Database


async def test_concurrent_migrations_do_not_collide(database_url: str) -> None:
    databases = [Database(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate(db.engine) for db in databases))
        async with databases[0].read() as session:
            versions = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert len(versions) == 1
        await migrate(databases[0].engine)  # and again: nothing to do
    finally:
        for db in databases:
            await db.dispose()
