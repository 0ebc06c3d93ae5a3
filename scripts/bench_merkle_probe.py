#!/usr/bin/env python3
"""Merkle core probe (not a test): proof and root timings at 1,000,000 leaves.

  (a) hashing 1 M entries into leaf hashes, and recomputing the root of the full tree
      (what an offline verifier does for the whole log)
  (b) appending 1 M leaf hashes through a Frontier (what the sequencer does), per append
  (c) inclusion and consistency proofs from the in-memory node table: plan + assemble
  (d) the same proofs from a real database table ``nodes(level, idx, hash)`` (stdlib
      sqlite3 in a temp file, WAL): plan + ONE batched SELECT + assemble, and verification

Usage:  .venv/bin/python scripts/bench_merkle_probe.py [--leaves N] [--queries Q]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from filehub.audit import merkle as m


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def summary(samples: Sequence[float]) -> str:
    ordered = sorted(samples)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3  # noqa: E731
    mean = statistics.fmean(ordered) * 1e3
    return f"mean {mean:.3f} ms, p50 {p(0.5):.3f} ms, p99 {p(0.99):.3f} ms, max {ordered[-1] * 1e3:.3f} ms"


def entry(i: int) -> bytes:
    # Shaped like a v1 audit entry (docs/audit.md §2), ~330 bytes.
    return (
        b'{"action":"file.download","actor":{"org":"o_1a2b3c4d5e6f708192a3b4c5d6e7f809","user":"u_7d1c0e2f4a6b8c9d0e1f2a3b4c5d6e7f"},'
        b'"client":{"ip":"203.0.113.7","user_agent":"filehub-cli/0.1.0"},"details":{},"id":"%032x",'
        b'"object":{"id":"f_0123456789abcdef0123456789abcdef","type":"file"},"outcome":"success",'
        b'"request_id":"r_89abcdef0123456789abcdef01234567","time":"2025-03-14T09:26:53.589793Z","v":1}' % i
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2_000)
    args = parser.parse_args()
    n, rng = args.leaves, random.Random(9162)
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; {n:,} leaves")

    entries = [entry(i) for i in range(n)]
    t_leaf, leaves = timed(lambda: [m.leaf_hash(e) for e in entries])
    t_root, root = timed(lambda: m.root_from_leaf_hashes(leaves))
    print(f"(a) leaf hashes of {n:,} entries: {t_leaf:.2f} s; full-tree root recomputation: {t_root:.2f} s")

    frontier = m.Frontier()
    t_append, stored = timed(lambda: [node for leaf in leaves for node in frontier.append(leaf)])
    assert frontier.root() == root
    per_append = t_append / n * 1e6
    print(f"(b) Frontier.append x {n:,}: {t_append:.2f} s ({per_append:.2f} µs each, {len(stored):,} nodes emitted)")

    t_build, tree = timed(lambda: m.InMemoryTree.from_leaf_hashes(leaves))
    indices = [rng.randrange(n) for _ in range(args.queries)]
    olds = [rng.randrange(1, n) for _ in range(args.queries)]
    incl, cons, proof_lens = [], [], []
    for i, old in zip(indices, olds, strict=True):
        t, proof = timed(lambda i=i: tree.inclusion_proof(i, n))
        incl.append(t)
        proof_lens.append(len(proof))
        cons.append(timed(lambda old=old: tree.consistency_proof(old, n))[0])
    print(f"(c) in-memory table built in {t_build:.2f} s; inclusion proof ({max(proof_lens)} hashes): {summary(incl)}")
    print(f"    consistency proof: {summary(cons)}")

    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "nodes.sqlite3")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
            " PRIMARY KEY (level, idx)) WITHOUT ROWID"
        )
        rows = ((lvl, i, h) for (lvl, i), h in stored)
        t_insert, _ = timed(lambda: (db.executemany("INSERT INTO nodes VALUES (?, ?, ?)", rows), db.commit()))
        size_mib = (Path(tmp) / "nodes.sqlite3").stat().st_size / 2**20

        def read_nodes(ids: Sequence[m.NodeId]) -> list[bytes]:
            # One statement; an OR of primary-key equalities is answered from the index
            # (a row-value "IN (VALUES ...)" makes SQLite scan the table: ~150 ms).
            where = " OR ".join("(level = ? AND idx = ?)" for _ in ids)
            rows = db.execute(f"SELECT level, idx, hash FROM nodes WHERE {where}", [x for node in ids for x in node])
            found = {(lvl, i): h for lvl, i, h in rows}
            return [found[node] for node in ids]

        db_incl, db_cons, verify = [], [], []
        for i, old in zip(indices, olds, strict=True):
            t, proof = timed(lambda i=i: m.inclusion_proof(i, n, read_nodes))
            db_incl.append(t)
            verify.append(timed(lambda i=i, proof=proof: m.verify_inclusion(leaves[i], i, n, proof, root))[0])
            db_cons.append(timed(lambda old=old: m.consistency_proof(old, n, read_nodes))[0])
        assert m.root_hash(n, read_nodes) == root
        print(f"(d) sqlite node table: {len(stored):,} rows inserted in {t_insert:.2f} s, {size_mib:.0f} MiB on disk")
        print(f"    inclusion proof (plan + 1 SELECT + assemble): {summary(db_incl)}")
        print(f"    consistency proof: {summary(db_cons)}")
        print(f"    verify_inclusion: {summary(verify)}")
        db.close()

    print(
        json.dumps(
            {
                "leaves": n,
                "leaf_hash_s": round(t_leaf, 3),
                "root_recompute_s": round(t_root, 3),
                "append_us": round(t_append / n * 1e6, 3),
                "inclusion_memory_p99_ms": round(sorted(incl)[int(0.99 * len(incl))] * 1e3, 4),
                "inclusion_sqlite_p99_ms": round(sorted(db_incl)[int(0.99 * len(db_incl))] * 1e3, 4),
                "consistency_sqlite_p99_ms": round(sorted(db_cons)[int(0.99 * len(db_cons))] * 1e3, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
