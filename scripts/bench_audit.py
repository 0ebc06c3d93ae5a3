"""Audit log benchmark (not a test): append rate, inclusion-proof latency, full verification.

    .venv/bin/python scripts/bench_audit.py [--events 1000000] [--database-url URL]

1. appends: one event per write transaction (as a download or a failed sign-in records it),
   for --single events; then the log is grown to --events with --batch events per
   transaction (the tree and the rows are the same; only the commit count differs);
2. inclusion proofs from the database (plan + one SELECT per level kind + assemble) for
   1,000 random events of the full log: p50 / p99;
3. full verification as `filehub audit verify` does it after download: every leaf hash in
   seq order, every entry hashed against its leaf, the tree recomputed, the checkpoint
   signature and root checked.

Default database: a fresh SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from filehub.audit.checkpoint import SignerKey
from filehub.audit.log import AuditLog
from filehub.audit.merkle import verify_inclusion
from filehub.audit.verify import verify_log
from filehub.db.migrate import migrate
from filehub.db.models import AuditEventRecord
from filehub.db.session import Database
from filehub.events import AuditEvent


def event(i: int) -> AuditEvent:
    return AuditEvent("file.downloaded", None, f"file:{i:032x}", {"range": {"first": 0, "last": 1048575}})


async def main(url: str, total: int, single: int, batch: int) -> None:
    db = Database(url)
    await migrate(db.engine)
    log = AuditLog(db)
    key = SignerKey.generate("bench.example/audit")

    started = time.perf_counter()
    for i in range(single):
        await log.record_alone(event(i))
    elapsed = time.perf_counter() - started
    print(f"append, one event per transaction: {single / elapsed:,.0f} events/s ({single} events)")

    started = time.perf_counter()
    done = single
    while done < total:
        async with db.write() as session:
            for _ in range(min(batch, total - done)):
                await log.record(session, event(done))
                done += 1
    elapsed = time.perf_counter() - started
    print(f"append, {batch} events per transaction: {(total - single) / max(elapsed, 1e-9):,.0f} events/s")

    started = time.perf_counter()
    checkpoint = await log.sign_checkpoint(key)
    assert checkpoint is not None
    print(f"checkpoint of {checkpoint.size:,} events signed in {(time.perf_counter() - started) * 1000:.1f} ms")

    timings = []
    async with db.read() as session:
        for index in random.sample(range(total), min(1000, total)):
            t0 = time.perf_counter()
            proof = await log.inclusion_proof(session, index, total)
            timings.append(time.perf_counter() - t0)
            leaf = await session.scalar(select(AuditEventRecord.leaf_hash).where(AuditEventRecord.seq == index))
            verify_inclusion(leaf, index, total, proof, checkpoint.root)
    timings.sort()
    print(f"inclusion proof at {total:,} events: p50 {statistics.median(timings) * 1000:.2f} ms, "
          f"p99 {timings[int(len(timings) * 0.99) - 1] * 1000:.2f} ms (target < 5 ms)")

    started = time.perf_counter()
    async with db.read() as session:
        rows = (await session.execute(select(AuditEventRecord.seq, AuditEventRecord.leaf_hash,
                                             AuditEventRecord.entry).order_by(AuditEventRecord.seq))).all()
    fetched = time.perf_counter() - started
    started = time.perf_counter()
    report = verify_log([(r.seq, r.leaf_hash) for r in rows], {r.seq: r.entry for r in rows},
                        [checkpoint.note.encode()], key.verifier_key)
    verified = time.perf_counter() - started
    assert report.ok, report.problems
    print(f"full verification of {total:,} events: {verified:.1f} s (+ {fetched:.1f} s reading them; target < 60 s)")
    await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--single", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        asyncio.run(main(url, args.events, min(args.single, args.events), args.batch))
