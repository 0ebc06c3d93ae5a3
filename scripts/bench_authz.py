#!/usr/bin/env python3
"""Authorisation benchmark for filehub (not a test): the service with its database.

World: the generator of the model's tests (tests/unit/authz/world.py, seed 1) with 50
organisations, nested groups (cycles included), 1,000 cases, 3,000 bundles and 45,000 files:
about 100,000 relation tuples, written through ``TupleWriter`` into a fresh database, plus
a file row per file. Then, through ``AuthzService`` and ``Files`` exactly as a request uses
them (each call first catches the replica up with one query):

  (a) check(file, can_download) for 5,000 random (user, file) pairs: p50/p95/p99
  (b) listing every file a user may view, page by page (at most 1,000 a page) as a client
      would, for the users who see 800-1,500 files: p50/p95/p99 of the whole listing, and
      of a first page of 200
  baseline, measured in the same run: a plain indexed SELECT of one file row by id, and of
      1,000 file rows by id, through the same sessions

Targets (issue 4): check p95 <= 2 ms; list of 1,000 visible files <= 50 ms.

Usage:  .venv/bin/python scripts/bench_authz.py [--db sqlite|postgresql|both] [--pairs 5000]
PostgreSQL: 127.0.0.1:5432, trust auth; a database of its own is created and dropped
(override the admin DSN with FILEHUB_BENCH_PG_DSN, default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the world generator lives in tests/

import asyncpg  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from filehub.authz.model import ObjectRef  # noqa: E402
from filehub.authz.service import AuthzService  # noqa: E402
from filehub.db.migrate import migrate  # noqa: E402
from filehub.db.models import Case, FileRecord, Organisation, UploadRecord, User  # noqa: E402
from filehub.db.session import Database  # noqa: E402
from filehub.services.files import Files  # noqa: E402
from filehub.services.pages import MAX_PAGE, PageRequest  # noqa: E402
from filehub.web.app import freeze_long_lived  # noqa: E402
from tests.unit.authz.world import World, generate  # noqa: E402

PG_ADMIN_DSN = os.environ.get("FILEHUB_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
CHECK_P95_TARGET = 2.0  # ms
LIST_TARGET = 50.0  # ms, for a user who sees about 1,000 files
BATCH = 5_000  # rows per insert


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return statistics.median(ordered), pick(0.95), pick(0.99)


def row(name: str, samples: list[float], target: str = "") -> str:
    p50, p95, p99 = percentiles(samples)
    return f"  {name:<52} {p50:8.3f} {p95:8.3f} {p99:8.3f}   {target}"


async def timed(samples: list[float], call: Callable[..., Awaitable[object]], *args: object) -> object:
    started = time.perf_counter()
    result = await call(*args)
    samples.append((time.perf_counter() - started) * 1000)
    return result


@asynccontextmanager
async def database(kind: str) -> AsyncIterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-authz-") as folder:
            yield f"sqlite+aiosqlite:///{folder}/bench.db"
        return
    name = "filehub_bench_" + secrets.token_hex(4)
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def populate(db: Database, authz: AuthzService, world: World) -> None:
    """Rows for the files (the listing reads them) and every tuple through the real writer."""
    now = datetime.now(UTC)
    async with db.write() as session:
        await session.execute(insert(Organisation), [{"id": o, "name": o, "kind": "police", "created_at": now}
                                                     for o in world.ids["organisation"]])
        await session.execute(insert(User), [{"id": "owner", "email": "owner@bench", "org_id": "o0",
                                              "role": "member", "created_at": now}])
        await session.execute(insert(Case), [{"id": c, "org_id": "o0", "reference": c, "title": c,
                                              "require_encryption": True, "created_at": now}
                                             for c in world.ids["case"]])
    files = world.ids["file"]
    for start in range(0, len(files), BATCH):
        chunk = files[start : start + BATCH]
        async with db.write() as session:
            await session.execute(insert(UploadRecord), [
                {"id": f"u{f}", "owner_id": "owner", "offset": 1, "length": 1, "metadata": {}, "partial_ids": [],
                 "state": "complete", "created_at": now, "updated_at": now} for f in chunk])
            await session.execute(insert(FileRecord), [
                {"id": f, "upload_id": f"u{f}", "owner_id": "owner", "size": 1, "sha256": "0" * 64,
                 "metadata": {}, "case_id": f.split("f")[0], "created_at": now} for f in chunk])
    for start in range(0, len(world.tuples), BATCH):
        async with db.write() as session:
            await authz.writer.add(session, world.tuples[start : start + BATCH], None)


async def list_all(files: Files, user: str) -> int:
    count, after = 0, None
    while True:
        page = await files.list(user, PageRequest(MAX_PAGE, after))
        count += len(page.items)
        if page.next is None:
            return count
        after = page.next


async def bench(kind: str, world: World, pairs: int) -> None:
    print(f"\n=== {kind} ===")
    async with database(kind) as url:
        db = Database(url)
        try:
            await migrate(db.engine)
            authz = AuthzService(db)
            started = time.perf_counter()
            await populate(db, authz, world)
            print(f"  wrote {len(world.tuples):,} tuples and {len(world.ids['file']):,} files "
                  f"in {time.perf_counter() - started:.1f} s")
            fresh = AuthzService(db)
            started = time.perf_counter()
            await fresh.start()
            print(f"  an instance loads its replica in {time.perf_counter() - started:.2f} s")
            freeze_long_lived(fresh)  # as the server does after loading its replica
            await measure(db, fresh, world, pairs)
        finally:
            await db.dispose()


async def one_row(db: Database, file_id: str) -> object:
    async with db.read() as session:
        return await session.scalar(select(FileRecord.id).where(FileRecord.id == file_id))


async def thousand_rows(db: Database, file_ids: list[str]) -> object:
    async with db.read() as session:
        return list(await session.scalars(select(FileRecord).where(FileRecord.id.in_(file_ids))))


async def measure(db: Database, authz: AuthzService, world: World, pairs: int) -> None:
    rng = random.Random(2)
    decision = await authz.decision()
    visible = {u: sorted(decision.ids("file", "can_view", u)) for u in world.users}
    await measure_checks(db, authz, world, visible, pairs, rng)
    await measure_lists(db, Files(db, authz), world, visible, rng)


async def measure_checks(
    db: Database, authz: AuthzService, world: World, visible: dict[str, list[str]], pairs: int, rng: random.Random
) -> None:
    file_ids = world.ids["file"]
    checks: list[float] = []
    selects: list[float] = []
    allowed = 0
    for n in range(pairs):
        user = rng.choice(world.users)
        # half the pairs a file the user can see (mostly allowed), half any file (mostly denied)
        file = rng.choice(visible[user]) if n % 2 and visible[user] else rng.choice(file_ids)
        allowed += bool(await timed(checks, authz.check, ObjectRef("file", file), "can_download", user))
        await timed(selects, one_row, db, file)
    verdict = "PASS" if percentiles(checks)[1] <= CHECK_P95_TARGET else "FAIL"
    print(f"  {'ms':<52} {'p50':>8} {'p95':>8} {'p99':>8}")
    print(row(f"check(file, can_download), {pairs:,} pairs ({allowed:,} allowed)", checks,
              f"target p95 <= {CHECK_P95_TARGET} ms: {verdict}"))
    print(row("  baseline: indexed SELECT of one file row by id", selects))


async def measure_lists(
    db: Database, files: Files, world: World, visible: dict[str, list[str]], rng: random.Random
) -> None:
    seen = {u: len(ids) for u, ids in visible.items()}
    listers = [u for u, n in seen.items() if 800 <= n <= 1500] or sorted(seen, key=seen.__getitem__)[-20:]
    lists: list[float] = []
    first_pages: list[float] = []
    bulk: list[float] = []
    for _ in range(3):
        for user in listers:
            await timed(lists, list_all, files, user)
            await timed(first_pages, files.list, user, PageRequest(200))
            await timed(bulk, thousand_rows, db, rng.sample(world.ids["file"], 1000))
    mean_seen = statistics.mean(seen[u] for u in listers)
    verdict = "PASS" if percentiles(lists)[1] <= LIST_TARGET else "FAIL"
    print(row(f"list every visible file, {len(listers)} users x3 (mean {mean_seen:,.0f} files)", lists,
              f"target <= {LIST_TARGET} ms: {verdict} (p95)"))
    print(row("  a first page of 200 files", first_pages))
    print(row("  baseline: indexed SELECT of 1,000 file rows by id", bulk))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pairs", type=int, default=5_000)
    args = parser.parse_args()
    world = generate(1, datetime.now(UTC), orgs=50, cases=1_000, bundles_per_case=3, files_per_case=45)
    print(f"filehub authz benchmark on {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs")
    print(f"world: {len(world.tuples):,} tuples, {len(world.ids['organisation'])} organisations, "
          f"{len(world.ids['group'])} groups, {len(world.ids['case']):,} cases, "
          f"{len(world.ids['bundle']):,} bundles, {len(world.ids['file']):,} files, {len(world.users)} users")
    for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        await bench(kind, world, args.pairs)


if __name__ == "__main__":
    asyncio.run(main())
