"""Alembic environment. filehub.db.migrate passes an open connection in config.attributes.

Run by hand with ``alembic -x url=sqlite+aiosqlite:///filehub-data/filehub.db upgrade head``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from filehub.db.models import Base
from filehub.db.session import make_engine

target_metadata = Base.metadata


def run_with(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Fail fast rather than queue behind a long transaction of a running instance.
        connection.exec_driver_sql("SET lock_timeout = '10s'")
        connection.exec_driver_sql("SET statement_timeout = '300s'")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER needs batches
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(run_with)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_with(connection)
else:
    asyncio.run(run_from_url(context.get_x_argument(as_dictionary=True)["url"]))
