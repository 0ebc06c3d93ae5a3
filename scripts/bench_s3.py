#!/usr/bin/env python3
"""S3 upload benchmark for filehub (not a test): filehub in front of SeaweedFS vs boto3 direct.

In one run it starts a real SeaweedFS S3 server (scripts/seaweedfs.py), creates a fresh
PostgreSQL database, makes an org/user/token with the ``filehub admin`` CLI and starts TWO
``filehub serve`` instances on that database and bucket/prefix (FILEHUB_PUBLIC_URL unset, so
each Location names the instance that took the POST). The client is aiohttp, in this process.

  (a) one 1 GiB tus upload (POST, then 64 MiB PATCHes) through filehub beside the same bytes
      sent straight to SeaweedFS with boto3 multipart (CreateMultipartUpload, UploadPart one
      after another with filehub's part size for that length, CompleteMultipartUpload), each
      timed end to end, interleaved 3 times (the rounds alternate the instance): medians and
      the ratio filehub/direct (target >= 0.9). The file record's size and SHA-256 are
      checked with GET /api/v1/files/{id} after each timed upload.
  (b) 16 concurrent 64 MiB uploads in 16 MiB PATCHes, alternately on the two instances:
      aggregate MiB/s and errors (target 0); then, for reference only, the same 16 uploads
      straight to SeaweedFS with boto3 (16 threads).
  (c) peak RSS of each instance during (a) and during (b) (psutil, every 50 ms;
      target <= 200 MiB per instance).

Usage:  .venv/bin/python scripts/bench_s3.py [--quick] [--profile DIR] [--ref REV] [--only ab]
                                              [--server-env NAME=VALUE ...]

``--ref REV`` runs the servers and admin CLI on a ``git archive`` of that revision (in the
temp dir, first on PYTHONPATH) instead of the working tree, e.g. while it is being edited.

``--profile DIR`` adds one untimed filehub upload of (a)'s size recorded with py-spy (raw
collapsed stacks in DIR, flamegraph.pl input) and prints where the server's CPU went.
``--server-env`` passes settings or experiments to the instances (e.g. MALLOC_ARENA_MAX=2).

Every timed upload also reports the CPU seconds per GiB of the filehub instance, SeaweedFS
and this client process, and how busy the machine's CPUs were (and how much of that was
other people's work): on a small shared machine the ratio follows CPU contention, so read
the per-round ratios and the "whole-path CPU" line beside the medians.

The direct client is built with filehub's own ``make_client`` (same botocore config: path
addressing, retries, checksums), so the two paths differ only by filehub. Everything it
starts (servers, SeaweedFS, database, temp dirs) is removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import psutil  # noqa: E402
from bench_upload import (  # noqa: E402
    GiB,
    KiB,
    MiB,
    BenchError,
    RssSampler,
    Server,
    UploadResult,
    check_file,
    filehub_client,
    filehub_command,
    free_port,
    make_bench_account,
    mark,
    mibps,
    new_session,
    repeated_sha256,
    size_text,
    start_server,
    vm_hwm,
)
from seaweedfs import SeaweedFS, find_weed  # noqa: E402

from filehub.settings import Settings  # noqa: E402
from filehub.storage.s3_client import ClientOptions, make_client  # noqa: E402
from filehub.storage.s3_layout import part_size_for  # noqa: E402

RATIO_TARGET = 0.9
RSS_LIMIT = 200 * MiB
PREFIX = "bench/"
PG_ADMIN_DSN = os.environ.get("FILEHUB_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
# filehub's defaults (the servers run with them: nothing below is overridden in their env)
DEFAULTS = {name: Settings.model_fields[name].default for name in (
    "s3_min_part_size", "s3_max_part_buffers", "s3_connect_timeout", "s3_read_timeout",
    "s3_max_attempts", "s3_region", "max_upload_size")}


@dataclass
class S3Sizes:
    single: int
    single_patch: int
    reps: int
    concurrent: int
    concurrent_size: int
    concurrent_patch: int


FULL = S3Sizes(1 * GiB, 64 * MiB, 3, 16, 64 * MiB, 16 * MiB)
QUICK = S3Sizes(128 * MiB, 32 * MiB, 3, 8, 16 * MiB, 8 * MiB)


# ==========================================================================================
# Setup: database, SeaweedFS, two filehub instances
# ==========================================================================================


async def _pg(sql: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


class FreshDatabase:
    def __init__(self) -> None:
        self.name = "filehub_bench_" + secrets.token_hex(6)
        self.created = False

    def create(self) -> str:
        asyncio.run(_pg(f'CREATE DATABASE "{self.name}"'))
        self.created = True
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        return f"{base}/{self.name}"

    def drop(self) -> None:
        if self.created:
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.created = False


REPO = Path(__file__).resolve().parent.parent


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def export_revision(rev: str, into: Path) -> str:
    """``git archive`` of ``rev`` unpacked into ``into``; returns its short hash."""
    into.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(REPO), "archive", "--format=tar", rev], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait() != 0:
        raise BenchError(f"git archive {rev} failed")
    return git("rev-parse", "--short", rev)


class S3Bench:
    def __init__(self, workdir: Path, s3: SeaweedFS, database_url: str, source: Path | None = None) -> None:
        self.workdir = workdir
        self.s3 = s3
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("FILEHUB_", "AWS_"))}
        if source is not None:  # a git revision's filehub ahead of the editable install
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), self.env.get("PYTHONPATH")]))
        self.env.update(s3.env(PREFIX))
        self.env.update(
            FILEHUB_DATABASE_URL=database_url,
            FILEHUB_DATA_DIR=str(workdir / "data"),  # unused with PostgreSQL + S3
            FILEHUB_LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        self.token = ""
        self.servers: list[Server] = []

    def make_account(self) -> None:
        self.token = make_bench_account(self.env)

    def start_filehub(self) -> Server:
        port = free_port()
        number = len(self.servers) + 1
        server = start_server(
            f"filehub-{number}",
            [*filehub_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            self.env,
            self.workdir / f"filehub-{number}.log",
            port,
        )
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                print(f"  (stopping {server.name}: {exc})", file=sys.stderr)

    def direct_client(self):  # type: ignore[no-untyped-def]
        """boto3 exactly as a filehub instance builds it (credentials from this env)."""
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            os.environ[name] = self.env[name]
        return make_client(ClientOptions(
            endpoint_url=self.s3.endpoint_url,
            region=DEFAULTS["s3_region"],
            connect_timeout=DEFAULTS["s3_connect_timeout"].total_seconds(),
            read_timeout=DEFAULTS["s3_read_timeout"].total_seconds(),
            max_attempts=DEFAULTS["s3_max_attempts"],
            max_connections=DEFAULTS["s3_max_part_buffers"] + 10,
        ))


# ==========================================================================================
# Measuring: CPU of processes, the direct multipart upload
# ==========================================================================================


class CpuMeter:
    """User + system CPU seconds used by some processes between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        out = {}
        for name, proc in self._procs.items():
            try:
                t = proc.cpu_times()
                out[name] = t.user + t.system
            except psutil.Error:
                out[name] = float("nan")
        return out

    @staticmethod
    def _box() -> tuple[float, float]:
        """(busy, total) CPU seconds of the whole machine so far."""
        t = psutil.cpu_times()
        idle = t.idle + getattr(t, "iowait", 0.0)
        return sum(t) - idle, sum(t)

    def start(self) -> None:
        self._before = self._now()
        self._box_before = self._box()

    def stop(self) -> dict[str, float]:
        after = self._now()
        busy, total = self._box()
        self.used = {name: after[name] - self._before[name] for name in after}
        elapsed = (total - self._box_before[1]) or 1.0
        self.box_busy = (busy - self._box_before[0]) / elapsed  # share of all CPUs
        self.others = max(0.0, self.box_busy - sum(self.used.values()) / elapsed)  # not ours
        return self.used

    def load_text(self) -> str:
        return f"CPUs {self.box_busy:.0%} busy, {self.others:.0%} by others"


def stream_bytes(block: bytes, start: int, end: int) -> bytes:
    """Bytes [start, end) of the stream that repeats ``block`` (what the tus client sends)."""
    out = bytearray()
    while start < end:
        at = start % len(block)
        n = min(len(block) - at, end - start)
        out += block[at : at + n]
        start += n
    return bytes(out)


def direct_parts(block: bytes, total: int, part_size: int) -> list[bytes]:
    """The part bodies of the direct upload, made before timing (shared when they repeat)."""
    cache: dict[tuple[int, int], bytes] = {}
    parts = []
    for start in range(0, total, part_size):
        end = min(start + part_size, total)
        key = (start % len(block), end - start)
        if key not in cache:
            cache[key] = stream_bytes(block, start, end)
        parts.append(cache[key])
    return parts


@dataclass
class DirectResult:
    seconds: float
    create_seconds: float
    complete_seconds: float
    key: str


def direct_upload(client, bucket: str, key: str, parts: list[bytes]) -> DirectResult:  # type: ignore[no-untyped-def]
    """CreateMultipartUpload, UploadPart 1..n one after another, CompleteMultipartUpload."""
    started = time.perf_counter()
    upload_id = client.create_multipart_upload(
        Bucket=bucket, Key=key, ContentType="application/octet-stream")["UploadId"]
    created = time.perf_counter()
    etags = []
    try:
        for number, body in enumerate(parts, start=1):
            response = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
            etags.append({"PartNumber": number, "ETag": response["ETag"]})
        before_complete = time.perf_counter()
        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": etags})
    except BaseException:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception:
            pass
        raise
    finished = time.perf_counter()
    return DirectResult(finished - started, created - started, finished - before_complete, key)


def upload_id_of(location: str) -> str:
    return urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]


async def server_part_size(bench: S3Bench, server: Server, session: aiohttp.ClientSession, total: int) -> int:
    """The part size the server really chose for an upload of ``total`` bytes: POST one,
    read its ``.info`` object, then DELETE (terminate) it. Untimed."""
    headers = {"Authorization": f"Bearer {bench.token}", "Tus-Resumable": "1.0.0", "Upload-Length": str(total)}
    async with session.post(f"{server.base_url}/api/v1/uploads", headers=headers) as response:
        if response.status != 201:
            raise BenchError(f"POST (part size probe) -> {response.status} {(await response.read())[:200]!r}")
        location = response.headers["Location"]
    key = f"{PREFIX}{upload_id_of(location)}.info"
    client = bench.s3.client()
    info = json.loads(client.get_object(Bucket=bench.s3.bucket, Key=key)["Body"].read())
    del headers["Upload-Length"]
    async with session.delete(location, headers=headers) as response:
        await response.read()
    return int(info["part_size"])


# ==========================================================================================
# The parts
# ==========================================================================================


def part_a(bench: S3Bench, servers: list[Server], sizes: S3Sizes, block: bytes) -> tuple[bool, float]:
    total, patch = sizes.single, sizes.single_patch
    expected_part = part_size_for(total, int(DEFAULTS["s3_min_part_size"]))
    client = bench.direct_client()
    bucket = bench.s3.bucket
    weed_pid = bench.s3.process.pid  # type: ignore[union-attr]
    print(f"\n(a) single {size_text(total)} upload: filehub (tus POST + {size_text(patch)} PATCHes) vs "
          f"boto3 multipart straight to SeaweedFS, interleaved x{sizes.reps}")
    expected_sha = repeated_sha256(block[:patch], total)
    parts = direct_parts(block[:patch], total, expected_part)
    fh_rates: list[float] = []
    direct_rates: list[float] = []
    problems: list[str] = []
    cpu_rows: dict[str, list[dict[str, float]]] = {"filehub": [], "direct": []}

    async def run() -> None:
        async with new_session() as session:
            actual_part = await server_part_size(bench, servers[0], session, total)
            print(f"    part size for {size_text(total)}: {actual_part // MiB} MiB as filehub's .info records it "
                  f"(s3_layout.part_size_for with s3_min_part_size {int(DEFAULTS['s3_min_part_size']) // MiB} MiB: "
                  f"{expected_part // MiB} MiB) -> {len(parts)} parts   "
                  f"[{'same' if actual_part == expected_part else 'DIFFERENT'}]")
            if actual_part != expected_part:
                problems.append(f"filehub used {actual_part} byte parts, direct {expected_part}")
            # Warm every path (code, connections) once, untimed.
            for server in servers:
                await filehub_client(server, bench.token).upload(session, 4 * KiB, block[: 4 * KiB])
            await asyncio.to_thread(direct_upload, client, bucket, "bench-direct/warm", parts[:1])
            for rep in range(sizes.reps):
                server = servers[rep % len(servers)]
                order = ("filehub", "direct") if rep % 2 == 0 else ("direct", "filehub")
                line = []
                for which in order:
                    await asyncio.sleep(1.0)  # let SeaweedFS settle after the previous upload
                    meter = CpuMeter({"filehub": server.proc.pid, "weed": weed_pid, "client": os.getpid()})
                    meter.start()
                    if which == "filehub":
                        result: UploadResult | DirectResult = await filehub_client(server, bench.token).upload(
                            session, total, block[:patch])
                        used = meter.stop()
                        rate = mibps(total, result.seconds)
                        fh_rates.append(rate)
                        problem = await check_file(session, server, bench.token, result.file_id, total, expected_sha)
                        if problem:
                            problems.append(f"round {rep + 1}: {problem}")
                        label = f"filehub[{server.name[-1]}]"
                    else:
                        key = f"bench-direct/{rep}"
                        result = await asyncio.to_thread(direct_upload, client, bucket, key, parts)
                        used = meter.stop()
                        rate = mibps(total, result.seconds)
                        direct_rates.append(rate)
                        size = (await asyncio.to_thread(client.head_object, Bucket=bucket, Key=key))["ContentLength"]
                        if size != total:
                            problems.append(f"round {rep + 1}: direct object is {size} bytes")
                        label = "direct    "
                    per_gib = {name: v / (total / GiB) for name, v in used.items()}
                    cpu_rows[which].append(per_gib)
                    cpu = " ".join(f"{name} {v:4.2f}" for name, v in per_gib.items() if name != "filehub" or which == "filehub")
                    line.append(f"{label} {rate:6.1f} MiB/s ({result.seconds:5.2f} s; CPU s/GiB {cpu}; {meter.load_text()})")
                print(f"    round {rep + 1}: " + "\n             ".join(line))

    asyncio.run(run())
    fh_med, direct_med = statistics.median(fh_rates), statistics.median(direct_rates)
    ratio = fh_med / direct_med
    print(f"    filehub median: {fh_med:7.1f} MiB/s")
    print(f"    direct  median: {direct_med:7.1f} MiB/s")
    for which, rows in cpu_rows.items():
        names = rows[0].keys()
        print(f"    CPU s/GiB (median) {which:7}: "
              + ", ".join(f"{name} {statistics.median(r[name] for r in rows):.2f}" for name in names
                          if name != "filehub" or which == "filehub"))
    paired = [f / d for f, d in zip(fh_rates, direct_rates, strict=True)]
    fh_path = sum(statistics.median(r[name] for r in cpu_rows["filehub"]) for name in cpu_rows["filehub"][0])
    direct_path = sum(statistics.median(r[name] for r in cpu_rows["direct"]) for name in cpu_rows["direct"][0])
    print(f"    whole-path CPU s/GiB: filehub path {fh_path:.2f}, direct {direct_path:.2f} "
          f"(if the {os.cpu_count()} CPUs are the limit, expect a ratio near {direct_path / fh_path:.2f})")
    print(f"    ratio per round (the two uploads of a round are adjacent in time): "
          f"{', '.join(f'{r:.2f}' for r in paired)}; median {statistics.median(paired):.2f}")
    print(f"    ratio filehub/direct (of medians): {ratio:.2f}   target >= {RATIO_TARGET}   [{mark(ratio >= RATIO_TARGET)}]")
    print(f"    file records (size + sha256 via GET /api/v1/files/{{id}}) and direct objects: "
          f"{'all OK' if not problems else '; '.join(problems)}")
    return ratio >= RATIO_TARGET and not problems, ratio


def part_b(bench: S3Bench, servers: list[Server], sizes: S3Sizes, block: bytes) -> bool:
    n, size, patch = sizes.concurrent, sizes.concurrent_size, sizes.concurrent_patch
    print(f"\n(b) {n} concurrent uploads of {size_text(size)} each in {size_text(patch)} PATCHes, "
          f"alternately on the {len(servers)} instances")
    patch_block = block[:patch]
    expected = repeated_sha256(patch_block, size)
    errors: list[str] = []
    weed_pid = bench.s3.process.pid  # type: ignore[union-attr]
    meter = CpuMeter({**{s.name: s.proc.pid for s in servers}, "weed": weed_pid, "client": os.getpid()})

    async def run() -> tuple[float, list[float]]:
        async with new_session(limit=0) as session:

            async def one(i: int) -> tuple[Server, UploadResult]:
                server = servers[i % len(servers)]
                return server, await filehub_client(server, bench.token).upload(session, size, patch_block)

            meter.start()
            started = time.perf_counter()
            results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
            elapsed = time.perf_counter() - started
            meter.stop()
            seconds = []
            for i, result in enumerate(results):
                if isinstance(result, BaseException):
                    errors.append(f"upload {i} on {servers[i % len(servers)].name}: {type(result).__name__}: {result}")
                    continue
                server, upload = result
                seconds.append(upload.seconds)
                problem = await check_file(session, server, bench.token, upload.file_id, size, expected)
                if problem:
                    errors.append(f"upload {i} on {server.name}: {problem}")
            return elapsed, seconds

    elapsed, seconds = asyncio.run(run())
    print(f"    aggregate: {mibps(n * size, elapsed):7.1f} MiB/s  ({n * size // MiB} MiB in {elapsed:.2f} s; "
          f"per upload {min(seconds, default=0):.2f}-{max(seconds, default=0):.2f} s)")
    gib = n * size / GiB
    print("    CPU s/GiB: " + ", ".join(f"{name} {v / gib:.2f}" for name, v in meter.used.items()) + f"; {meter.load_text()}")
    # Context only (not a target): the same bytes straight to SeaweedFS, n threads at once.
    client = bench.direct_client()
    parts = direct_parts(patch_block, size, part_size_for(size, int(DEFAULTS["s3_min_part_size"])))
    time.sleep(1.0)
    direct_meter = CpuMeter({"weed": weed_pid, "client": os.getpid()})
    direct_meter.start()
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(direct_upload, client, bench.s3.bucket, f"bench-direct/b{i}", parts) for i in range(n)]
        direct_errors = sum(1 for f in futures if f.exception() is not None)
    direct_elapsed = time.perf_counter() - started
    direct_meter.stop()
    print(f"    for reference, the same {n} uploads straight to SeaweedFS (boto3, {n} threads, parts in "
          f"sequence): {mibps(n * size, direct_elapsed):7.1f} MiB/s ({direct_elapsed:.2f} s, {direct_errors} errors; "
          f"CPU s/GiB " + ", ".join(f"{k} {v / gib:.2f}" for k, v in direct_meter.used.items())
          + f"; {direct_meter.load_text()}) -> filehub at {direct_elapsed / elapsed:.0%} of it")
    print(f"    errors (non-2xx, offset or file record mismatch): {len(errors)}   target 0   [{mark(not errors)}]")
    for error in errors[:5]:
        print(f"      - {error}")
    return not errors


def print_rss(servers: list[Server], peaks: dict[str, dict[str, RssSampler]]) -> bool:
    print(f"\n(c) peak RSS per instance (psutil every 50 ms)   target <= {RSS_LIMIT // MiB} MiB")
    ok = True
    for server in servers:
        cells = []
        for phase, samplers in peaks.items():
            sampler = samplers[server.name]
            ok = ok and sampler.peak <= RSS_LIMIT
            cells.append(f"during ({phase}) {sampler.peak / MiB:6.1f} MiB [{mark(sampler.peak <= RSS_LIMIT)}]")
        first = next(iter(peaks.values()))[server.name]
        hwm = vm_hwm(server.proc.pid)
        print(f"    {server.name} (pid {server.proc.pid}): " + ",  ".join(cells)
              + f"   (idle before {first.start_rss / MiB:5.1f} MiB, kernel VmHWM {hwm / MiB if hwm else float('nan'):5.1f} MiB)")
    return ok


# ==========================================================================================
# Optional: a py-spy profile of one filehub upload
# ==========================================================================================


def profile_upload(bench: S3Bench, server: Server, sizes: S3Sizes, block: bytes, out_dir: Path) -> None:
    py_spy = Path(sys.executable).with_name("py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    rate = 200
    raw = out_dir / "filehub-upload.raw.txt"
    print(f"\n(profile) one untimed {size_text(sizes.single)} upload to {server.name} under py-spy "
          f"({rate} Hz, threads, idle excluded) -> {out_dir}")
    recorder = subprocess.Popen(
        [str(py_spy), "record", "--pid", str(server.proc.pid), "--rate", str(rate), "--threads",
         "--format", "raw", "--output", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.5)  # py-spy attaches

        async def run() -> UploadResult:
            async with new_session() as session:
                return await filehub_client(server, bench.token).upload(session, sizes.single, block[: sizes.single_patch])

        started = time.perf_counter()
        result = asyncio.run(run())
        seconds = time.perf_counter() - started
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            _, err = recorder.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            recorder.kill()
            _, err = recorder.communicate()
    if not raw.exists():
        print(f"    py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")
        return
    print(f"    upload {mibps(sizes.single, result.seconds):.1f} MiB/s under the profiler ({seconds:.1f} s)")
    summarize_profile(raw, seconds * rate)
    print(f"    raw collapsed stacks (flamegraph.pl input): {raw}")


# Leaf frames where a thread waits rather than computes (py-spy's idle filter misses some).
_WAITING = ("EpollSelector.select", "_worker (concurrent/futures/thread.py", "SocketIO.readinto",
            "do_poll", "Condition.wait", "Event.wait", "socket.recv", "_read_from_self")


def summarize_profile(raw: Path, expected_per_thread: float) -> None:
    """Where the server's CPU went, from py-spy's raw output ("thread (tid): name;frame;... count")."""
    busy: collections.Counter[str] = collections.Counter()
    waiting: collections.Counter[str] = collections.Counter()
    leaf: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    inclusive: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count, frames = int(count_text), stack.split(";")
        group = "event loop" if "MainThread" in frames[0] else "worker threads"
        top = frames[-1]
        if top.startswith(_WAITING):
            waiting[group] += count
            continue
        busy[group] += count
        leaf[group][top] += count
        for name in {f.rsplit(":", 1)[0] + ")" for f in frames[1:] if "(filehub/" in f and "(filehub/cli/" not in f}:
            inclusive[name] += count
    print("    CPU samples (waits dropped) as cores' worth of the upload's wall time: "
          + ", ".join(f"{g} {busy[g] / expected_per_thread:.2f}" for g in ("event loop", "worker threads")))
    for group in ("event loop", "worker threads"):
        total = busy[group] or 1
        print(f"    {group}: top frames by own CPU (share of the group's CPU samples)")
        for name, count in leaf[group].most_common(8):
            print(f"      {count / total:5.1%}  {name}")
    everything = sum(busy.values()) or 1
    print("    filehub functions, inclusive (share of all CPU samples)")
    for name, count in inclusive.most_common(10):
        print(f"      {count / everything:5.1%}  {name}")


# ==========================================================================================


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="also profile one filehub upload with py-spy into DIR")
    parser.add_argument("--ref", metavar="REV", help="run the servers on this git revision instead of the working tree")
    parser.add_argument("--only", default="ab", help="which of (a), (b) to run, e.g. --only b (default ab); (c) covers those")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment of the filehub instances (repeatable; PYTHONPATH is prepended), "
                        "e.g. FILEHUB_S3_MAX_PART_BUFFERS=4")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if sizes.concurrent_patch > sizes.single_patch:
        raise SystemExit("the (b) PATCH size may not exceed (a)'s")

    # A SIGTERM (or SIGHUP) ends the run like Ctrl+C does: through the cleanup below.
    def stop_on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)

    tmp_root = Path(tempfile.gettempdir())
    needed = 2 * sizes.reps * sizes.single + sizes.concurrent * sizes.concurrent_size + (sizes.single if args.profile else 0)
    free = shutil.disk_usage(tmp_root).free
    if free < needed + 2 * GiB:
        print(f"not enough room in {tmp_root}: {free / GiB:.1f} GiB free, need {(needed + 2 * GiB) / GiB:.1f} GiB",
              file=sys.stderr)
        return 2

    print("filehub S3 upload benchmark (2 instances, PostgreSQL, SeaweedFS)" + (" (--quick)" if args.quick else ""))
    print(f"  python {platform.python_version()}, aiohttp {aiohttp.__version__}, {os.cpu_count()} CPUs, "
          f"load avg {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {free / GiB:.0f} GiB free in {tmp_root}")

    block = os.urandom(sizes.single_patch)  # generated once, reused for every PATCH and part
    workdir = Path(tempfile.mkdtemp(prefix="filehub-bench-s3-", dir=tmp_root))
    database = FreshDatabase()
    s3: SeaweedFS | None = None
    bench: S3Bench | None = None
    results: dict[str, bool] = {}
    try:
        source: Path | None = None
        if args.ref:
            source = workdir / "src"
            described = f"git archive {args.ref} ({export_revision(args.ref, source)}) on PYTHONPATH"
        else:
            dirty = git("status", "--porcelain", "--untracked-files=no", "--", "filehub", "migrations")
            described = f"working tree {REPO} (git {git('rev-parse', '--short', 'HEAD')}" + (
                " + uncommitted changes)" if dirty else ")")
        print(f"  filehub source: {described}")
        s3 = SeaweedFS(workdir / "seaweedfs", bucket="filehub-bench")
        s3.start()
        weed_version = subprocess.run([find_weed(), "version"], capture_output=True, text=True).stdout.split("\n")[0]
        database_url = database.create()
        bench = S3Bench(workdir, s3, database_url, source)
        for item in args.server_env:
            name, _, value = item.partition("=")
            if name == "PYTHONPATH" and bench.env.get(name):  # ahead of --ref's source
                value = os.pathsep.join([value, bench.env[name]])
            bench.env[name] = value
        if args.server_env:
            print(f"  extra server environment: {' '.join(args.server_env)}")
        bench.make_account()
        servers = [bench.start_filehub(), bench.start_filehub()]
        print(f"  SeaweedFS ({weed_version.strip()}) pid {s3.process.pid} at {s3.endpoint_url}, "  # type: ignore[union-attr]
              f"storage s3://{s3.bucket}/{PREFIX}; PostgreSQL database {database.name}")
        print("  " + ", ".join(f"{s.name} pid {s.proc.pid} at {s.base_url}" for s in servers)
              + f"; filehub defaults: s3_min_part_size {int(DEFAULTS['s3_min_part_size']) // MiB} MiB, "
              f"s3_max_part_buffers {DEFAULTS['s3_max_part_buffers']}")

        peaks: dict[str, dict[str, RssSampler]] = {}
        for phase, run_part in (("a", part_a), ("b", part_b)):
            if phase not in args.only:
                continue
            samplers = {s.name: RssSampler(s.proc.pid) for s in servers}
            for sampler in samplers.values():
                sampler.__enter__()
            try:
                outcome = run_part(bench, servers, sizes, block)
            finally:
                for sampler in samplers.values():
                    sampler.__exit__(None, None, None)
            results[phase] = outcome[0] if isinstance(outcome, tuple) else outcome
            peaks[phase] = samplers
        if peaks:
            results["c"] = print_rss(servers, peaks)
        if args.profile:
            profile_upload(bench, servers[0], sizes, block, args.profile)
    except (BenchError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"\nbenchmark aborted: {exc}", file=sys.stderr)
        for server in bench.servers if bench else []:
            print(f"--- {server.name} log tail ---\n{server.log_tail()}", file=sys.stderr)
        if s3 is not None:
            print(f"--- SeaweedFS log tail ---\n{s3.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({exc or 'Ctrl+C'}); cleaning up", file=sys.stderr)
        return 130
    finally:
        for step in (
            lambda: bench.stop_all() if bench else None,
            lambda: s3.close() if s3 else None,
            database.drop,
            lambda: shutil.rmtree(workdir, ignore_errors=True),
        ):
            try:
                step()
            except Exception as exc:  # one failed step must not skip the others
                print(f"  (cleanup: {type(exc).__name__}: {exc})", file=sys.stderr)

    print("\ntargets: " + ", ".join(f"({k}) {mark(v)}" for k, v in results.items())
          + f"   (load avg now {' '.join(f'{x:.2f}' for x in os.getloadavg())}: other work on this machine adds noise)")
    return 0  # a benchmark: missed targets are reported above, not an exit status


if __name__ == "__main__":
    sys.exit(main())
