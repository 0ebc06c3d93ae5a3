"""Audit log benchmark (not a test): the log at 1,000,000 events (issue 5).

    .venv/bin/python scripts/bench_audit.py [--events 1000000] [--postgres | --database-url URL]

1. seed: the log is grown to --events with ``AuditLog.record_many`` (the production append
   path, one multi-row insert per table per transaction of --chunk events), then checked:
   every stored tree node and the head's root are recomputed independently from the leaf
   hashes with hashlib, and every entry hashes to its leaf;
2. appends at that size: one event per transaction (as a download or a failed sign-in
   records it), --single events;
3. checkpoint lag under load: --writers tasks append one event per transaction for
   --lag-seconds while a checkpointer runs exactly as ``web/app.py`` does (sign, sleep
   CHECKPOINT_INTERVAL); lag = time from an event's commit until the first stored signed
   checkpoint covering it (target < 1 s);
4. inclusion proofs from the database (plan + one SELECT per level kind + assemble) for
   1,000 random events: p50 / p99 (target p99 < 5 ms), against a baseline of one
   primary-key SELECT of a leaf hash;
5. full verification, in process: every leaf and entry read in seq order, then
   ``verify_log`` (entries hashed against leaves, tree recomputed, every checkpoint's
   signature and root); baseline: a bare hashlib loop over the same bytes (one SHA-256 per
   entry and per internal node);
6. full verification as an auditor runs it: ``filehub audit verify`` (the real CLI, a
   subprocess) against ``filehub serve`` on the same database, the auditor's organisation
   being the actor of every event, so it downloads every entry (target < 60 s).

Default database: a fresh SQLite file in a temporary folder; --postgres creates a fresh
database on 127.0.0.1:5432 (trust authentication) and drops it afterwards.

Figures at 1,000,000 events on a shared 2-vCPU machine under other load (docs/audit.md §9):

                                            SQLite                  PostgreSQL       target
  append, one event per transaction         129 events/s            114 events/s
  checkpoint lag under load p50/p99/max     0.25/0.51/0.58 s        0.27/0.53/0.60 s < 1 s
  inclusion proof p50/p99                   1.74/2.73 ms (1.6x)     1.07/1.72 ms (1.4x) < 5 ms
  verify_log in process                     4.4 s (1.6x hashlib)    4.9 s (2.0x)
  filehub audit verify over HTTP            62.4 s                  86.5 s           < 60 s
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_upload import filehub_command, free_port, run_admin, start_server  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from filehub.audit.log import AuditLog, load_log_key  # noqa: E402
from filehub.audit.merkle import root_from_leaf_hashes, verify_inclusion  # noqa: E402
from filehub.audit.verify import verify_log  # noqa: E402
from filehub.db.migrate import migrate  # noqa: E402
from filehub.db.models import AuditCheckpoint, AuditEventRecord, AuditTreeNode, Organisation, User  # noqa: E402
from filehub.db.session import Database  # noqa: E402
from filehub.events import AuditEvent  # noqa: E402
from filehub.web.app import CHECKPOINT_INTERVAL  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ORG, AUDITOR = "Bench Audit Office", "auditor@bench.example"
FILES = [secrets.token_hex(16) for _ in range(100)]  # downloads spread over 100 exhibits


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


@dataclass
class Actor:
    user: str
    org: str

    def event(self, i: int) -> AuditEvent:
        return AuditEvent("file.downloaded", self.user, f"file:{FILES[i % len(FILES)]}",
                          {"range": {"first": 0, "last": 1048575}, "size": 1048576}, actor_org=self.org)


async def seed(log: AuditLog, actor: Actor, total: int, chunk: int) -> None:
    async with log.db.read() as session:
        done, _ = await log.head(session)
    started, start_size = time.perf_counter(), done
    while done < total:
        n = min(chunk, total - done)
        async with log.db.write() as session:
            await log.record_many(session, [actor.event(done + i) for i in range(n)])
        done += n
        if done % 100_000 < chunk:
            print(f"  seeded {done:,} events ({(done - start_size) / (time.perf_counter() - started):,.0f} events/s)",
                  flush=True)
    elapsed = time.perf_counter() - started
    print(f"seed: {total - start_size:,} events in {elapsed:.0f} s with record_many, {chunk:,} per transaction "
          f"({(total - start_size) / elapsed:,.0f} events/s)")


async def read_log(db: Database) -> tuple[list[tuple[int, bytes]], dict[int, bytes]]:
    leaves: list[tuple[int, bytes]] = []
    entries: dict[int, bytes] = {}
    async with db.read() as session:
        result = await session.stream(select(AuditEventRecord.seq, AuditEventRecord.leaf_hash, AuditEventRecord.entry)
                                      .order_by(AuditEventRecord.seq).execution_options(yield_per=20_000))
        async for seq, leaf, entry in result:
            leaves.append((seq, bytes(leaf)))
            entries[seq] = bytes(entry)
    return leaves, entries


async def check_state(log: AuditLog, leaves: list[tuple[int, bytes]], entries: dict[int, bytes]) -> None:
    """The stored tree must be the RFC 9162 tree of the leaves, computed here without merkle.py."""
    hashes = [h for _, h in leaves]
    assert [s for s, _ in leaves] == list(range(len(leaves))), "seq is not gap-free"
    assert all(hashlib.sha256(b"\0" + entries[s]).digest() == h for s, h in leaves), "an entry does not hash to its leaf"
    expected: dict[tuple[int, int], bytes] = {}
    level, row = 0, hashes
    while len(row) > 1:
        level += 1
        row = [hashlib.sha256(b"\1" + row[i] + row[i + 1]).digest() for i in range(0, len(row) - 1, 2)]
        expected.update({(level, i): h for i, h in enumerate(row)})
    stored: dict[tuple[int, int], bytes] = {}
    async with log.db.read() as session:
        result = await session.stream(select(AuditTreeNode.level, AuditTreeNode.idx, AuditTreeNode.hash)
                                      .execution_options(yield_per=50_000))
        async for lv, ix, h in result:
            stored[lv, ix] = bytes(h)
        size, root = await log.head(session)
    assert stored == expected, "the stored tree nodes are not the complete subtrees of the leaves"
    assert size == len(hashes) and root == root_from_leaf_hashes(hashes), "the head's root is not the leaves' root"
    print(f"check: {len(stored):,} stored nodes and the root of {size:,} leaves equal an independent recomputation")


async def appends(log: AuditLog, actor: Actor, n: int) -> None:
    started = time.perf_counter()
    for i in range(n):
        await log.record_alone(actor.event(i))
    print(f"append at this size, one event per transaction: {n / (time.perf_counter() - started):,.0f} events/s "
          f"({n:,} events)")


@dataclass
class LagRun:
    commits: list[tuple[int, float]] = field(default_factory=list)  # (seq, committed at)
    checkpoints: list[tuple[int, float]] = field(default_factory=list)  # (size, stored at)


async def checkpoint_lag(log: AuditLog, actor: Actor, writers: int, seconds: float) -> None:
    key = await load_log_key(log.db, None, "bench.example/audit")
    run = LagRun()
    stop = asyncio.Event()

    async def writer(w: int) -> None:
        i = 0
        while not stop.is_set():
            seq = await log.record_alone(actor.event(w * 1_000_000 + i))
            run.commits.append((seq, time.monotonic()))
            i += 1

    async def checkpointer() -> None:  # web/app.py _checkpointer (fixed rate), timestamped
        while not stop.is_set():
            started = time.monotonic()
            stored = await log.sign_checkpoint(key)
            if stored is not None:
                run.checkpoints.append((stored.size, time.monotonic()))
            await asyncio.sleep(max(0.0, CHECKPOINT_INTERVAL - (time.monotonic() - started)))

    await log.sign_checkpoint(key)
    tasks = [asyncio.create_task(writer(w)) for w in range(writers)] + [asyncio.create_task(checkpointer())]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks[:-1])
    while not run.checkpoints or run.checkpoints[-1][0] <= max(s for s, _ in run.commits):
        stored = await log.sign_checkpoint(key)  # cover the last commits (timed like the rest)
        if stored is not None:
            run.checkpoints.append((stored.size, time.monotonic()))
        await asyncio.sleep(0.01 if stored else CHECKPOINT_INTERVAL)
    tasks[-1].cancel()
    lags = []
    for seq, committed in run.commits:
        covering = next(t for size, t in run.checkpoints if size > seq)
        lags.append(covering - committed)
    rate = len(run.commits) / seconds
    intervals = [b[1] - a[1] for a, b in zip(run.checkpoints, run.checkpoints[1:])]
    print(f"checkpoint lag under load ({writers} writers, {rate:,.0f} events/s for {seconds:.0f} s, "
          f"{len(run.checkpoints)} checkpoints, median interval {statistics.median(intervals):.2f} s): "
          f"p50 {pct(lags, 0.5):.2f} s, p99 {pct(lags, 0.99):.2f} s, max {max(lags):.2f} s (target < 1 s)")


async def proofs(log: AuditLog, size: int, root: bytes) -> None:
    indices = random.sample(range(size), min(1000, size))
    timings, baseline = [], []
    async with log.db.read() as session:
        for index in indices:
            t0 = time.perf_counter()
            leaf = await session.scalar(select(AuditEventRecord.leaf_hash).where(AuditEventRecord.seq == index))
            baseline.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            proof = await log.inclusion_proof(session, index, size)
            timings.append(time.perf_counter() - t0)
            verify_inclusion(bytes(leaf), index, size, proof, root)
    print(f"inclusion proof at {size:,} events: p50 {pct(timings, 0.5) * 1000:.2f} ms, p99 {pct(timings, 0.99) * 1000:.2f} ms "
          f"(target p99 < 5 ms); baseline one-row SELECT p50 {pct(baseline, 0.5) * 1000:.2f} ms: "
          f"ratio {pct(timings, 0.5) / pct(baseline, 0.5):.1f}x")


async def verify_in_process(log: AuditLog) -> None:
    key = await load_log_key(log.db, None, "bench.example/audit")
    started = time.perf_counter()
    leaves, entries = await read_log(log.db)
    async with log.db.read() as session:
        notes = [c.note.encode() for c in await session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.size))]
    fetched = time.perf_counter() - started
    started = time.perf_counter()
    report = verify_log(leaves, entries, notes, key.verifier_key)
    verified = time.perf_counter() - started
    assert report.ok, report.problems[:3]
    started = time.perf_counter()
    hashes = [hashlib.sha256(b"\0" + entries[s]).digest() for s, _ in leaves]
    for i in range(len(hashes) - 1):  # n - 1 node hashes, as many as any tree of n leaves has
        hashlib.sha256(b"\1" + hashes[i] + hashes[i + 1]).digest()
    bare = time.perf_counter() - started
    print(f"full verification in process of {len(leaves):,} events and {len(notes):,} checkpoints: {verified:.1f} s "
          f"(+ {fetched:.1f} s reading them from the database); bare hashlib loop over the same bytes {bare:.1f} s: "
          f"ratio {verified / bare:.1f}x")


def verify_over_http(url: str, workdir: Path, env: dict[str, str], token: str, log_key: str) -> None:
    port = free_port()
    server = start_server("filehub", [*filehub_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                          env, workdir / "serve.log", port)
    try:
        started = time.perf_counter()
        done = subprocess.run([*filehub_command(), "audit", "verify", "--url", server.base_url, "--token", token,
                               "--log-key", log_key, "--state", str(workdir / "state.json")],
                              env=env, capture_output=True, text=True, timeout=3600)
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
    assert done.returncode == 0 and "VERDICT: the audit log verifies" in done.stdout, done.stdout + done.stderr
    print(f"filehub audit verify over HTTP (every leaf and every entry downloaded): {elapsed:.1f} s "
          f"(target < 60 s): {done.stdout.splitlines()[0]}")


async def main(args: argparse.Namespace, url: str, workdir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEHUB_")}
    env.update(FILEHUB_DATABASE_URL=url, FILEHUB_DATA_DIR=str(workdir / "data"),
               FILEHUB_STORAGE_URL=(workdir / "objects").as_uri(), PYTHONUNBUFFERED="1")
    db = Database(url)
    await migrate(db.engine)
    run_admin(env, "create-org", ORG, "--kind", "audit")
    run_admin(env, "create-user", AUDITOR, "--org", ORG, "--role", "auditor")
    token = run_admin(env, "create-token", AUDITOR, "--expires", "1d").strip()
    async with db.read() as session:
        actor = Actor(*(await session.execute(select(User.id, Organisation.id).join(Organisation)
                                              .where(User.email == AUDITOR))).one())
    log = AuditLog(db)
    key = await load_log_key(db, None, "bench.example/audit")  # the key `filehub serve` will load

    await seed(log, actor, args.events - args.single, args.chunk)
    leaves, entries = await read_log(db)
    await check_state(log, leaves, entries)
    del leaves, entries
    await appends(log, actor, args.single)
    started = time.perf_counter()
    checkpoint = await log.sign_checkpoint(key)
    assert checkpoint is not None
    print(f"checkpoint of {checkpoint.size:,} events (consistency proof from the last + verify + sign): "
          f"{(time.perf_counter() - started) * 1000:.1f} ms")
    await checkpoint_lag(log, actor, args.writers, args.lag_seconds)
    await log.sign_checkpoint(key)
    async with db.read() as session:
        size = await session.scalar(select(func.count()).select_from(AuditEventRecord))
        checkpoint = await log.latest_checkpoint(session)
    assert checkpoint is not None and size == checkpoint.size
    await proofs(log, checkpoint.size, checkpoint.root)
    await verify_in_process(log)
    await db.dispose()
    if not args.no_http:
        verify_over_http(url, workdir, env, token, str(key.verifier_key))


async def pg_database(name: str, create: bool) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(f'{"CREATE" if create else "DROP"} DATABASE "{name}"' + ("" if create else " WITH (FORCE)"))
    finally:
        await connection.close()


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as folder:
        workdir = args.workdir or Path(folder)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.postgres:
            name = f"bench_audit_{secrets.token_hex(4)}"
            asyncio.run(pg_database(name, True))
            try:
                asyncio.run(main(args, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", workdir))
            finally:
                asyncio.run(pg_database(name, False))
        else:
            url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
            asyncio.run(main(args, url, workdir))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--single", type=int, default=1_000, help="one-event transactions at full size")
    parser.add_argument("--chunk", type=int, default=10_000, help="events per seeding transaction")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers during the lag run")
    parser.add_argument("--lag-seconds", type=float, default=30.0)
    parser.add_argument("--no-http", action="store_true", help="skip `filehub audit verify` over HTTP")
    parser.add_argument("--workdir", type=Path, help="keep the database and logs here (SQLite) instead of a temporary folder")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--postgres", action="store_true", help="a fresh database on 127.0.0.1:5432")
    target.add_argument("--database-url")
    run(parser.parse_args())
