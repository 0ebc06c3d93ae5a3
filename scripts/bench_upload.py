#!/usr/bin/env python3
"""Upload benchmark for filehub (not a test): throughput, concurrency, latency, memory.

Runs a real ``filehub serve`` subprocess on 127.0.0.1 (SQLite + local disk in a temp dir,
account and token made with the ``filehub admin`` CLI) and, as the practical ceiling, a
bare aiohttp server (a subprocess of this same script) that streams each request body to
a file and fsyncs it before answering. The client is aiohttp, in this process.

  (a) one big upload in 16 MiB PATCHes, filehub vs bare, interleaved 3 times: medians and
      the ratio of medians (target >= 0.8)
  (b) 32 concurrent uploads in 8 MiB PATCHes: aggregate MiB/s and errors (target 0)
  (c) 500 small uploads, POST + PATCH: latency p50/p95
  (d) peak RSS of the filehub server (psutil, every 50 ms) during a 1 GiB and a 4 GiB
      upload, a fresh server for each (target <= 150 MiB and about equal)

Usage:  .venv/bin/python scripts/bench_upload.py [--quick] [--skip-4g]

Test data is generated once (one random block, reused for every PATCH), so only the
transfer is timed. Whole-file SHA-256 of every filehub upload is checked against the
file record after the timed part.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
import psutil
from aiohttp import web

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
OCTETS = "application/offset+octet-stream"
RSS_LIMIT = 150 * MiB
RSS_SAME_TOLERANCE = 16 * MiB  # "roughly equal": within one 16 MiB PATCH (or 10%)
RATIO_TARGET = 0.8


# ==========================================================================================
# The bare ceiling server (runs as `bench_upload.py --bare-server PORT DIR`)
# ==========================================================================================


def _pwrite_all(fd: int, data: bytes | memoryview, position: int) -> int:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, position)
        view, position = view[n:], position + n
    return position


def bare_server_main(port: int, root: Path) -> None:
    """POST creates a file, PATCH streams the body into it at Upload-Offset and fsyncs it
    before the 204: the same request pattern as tus, with nothing else."""
    root.mkdir(parents=True, exist_ok=True)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def create(request: web.Request) -> web.Response:
        name = uuid.uuid4().hex
        os.close(os.open(root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            await asyncio.to_thread(os.fsync, dir_fd)
        finally:
            os.close(dir_fd)
        return web.Response(status=201, headers={"Location": f"/bare/{name}", "Upload-Offset": "0"})

    async def patch(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if len(name) != 32 or not all(c in "0123456789abcdef" for c in name):
            raise web.HTTPNotFound()
        position = int(request.headers["Upload-Offset"])
        fd = os.open(root / name, os.O_WRONLY)
        try:
            while chunk := await request.content.readany():
                position = _pwrite_all(fd, chunk, position)  # page cache: fast enough inline
            await asyncio.to_thread(os.fsync, fd)
        finally:
            os.close(fd)
        return web.Response(status=204, headers={"Upload-Offset": str(position)})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/bare", create)
    app.router.add_patch("/bare/{name}", patch)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# ==========================================================================================
# Processes: servers, admin CLI, RSS sampling
# ==========================================================================================


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def filehub_command() -> list[str]:
    script = Path(sys.executable).with_name("filehub")
    if script.exists():
        return [str(script)]
    found = shutil.which("filehub")
    if found:
        return [found]
    return [sys.executable, "-c", "from filehub.cli.main import cli; cli()"]


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # aiohttp's run_app shuts down cleanly
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(name: str, command: list[str], env: dict[str, str], log_path: Path, port: int) -> Server:
    log = log_path.open("wb")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    server = Server(name, proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with {proc.returncode} on start:\n{server.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return server
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise BenchError(f"{name} did not become ready:\n{server.log_tail()}")


class RssSampler:
    """Peak RSS of one process, sampled every ``interval`` seconds on a thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        import psutil

        self._process = psutil.Process(pid)
        self._error = psutil.Error
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.start_rss = self._process.memory_info().rss
        self.peak = self.start_rss
        self.samples = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self._process.memory_info().rss
            except self._error:
                return
            self.peak = max(self.peak, rss)
            self.samples += 1
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def vm_hwm(pid: int) -> int | None:
    """The kernel's RSS high-water mark of a process (since it started), bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * KiB
    except OSError:
        return None
    return None


def run_admin(env: dict[str, str], *args: str) -> str:
    """``filehub admin ARGS`` with the servers' environment; its stdout."""
    result = subprocess.run([*filehub_command(), "admin", *args], env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise BenchError(f"filehub admin {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def make_bench_account(env: dict[str, str]) -> str:
    """An organisation, a user and a token made with the real admin CLI; the token."""
    run_admin(env, "create-org", "Bench Constabulary", "--kind", "police")
    run_admin(env, "create-user", "bench@bench.example", "--org", "Bench Constabulary")
    token = run_admin(env, "create-token", "bench@bench.example", "--expires", "1d").strip()
    if not token or "\n" in token:
        raise BenchError(f"create-token printed {token!r}, expected one token")
    return token


class Bench:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.objects = workdir / "objects"
        self.bare_dir = workdir / "bare"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FILEHUB_")}
        self.env.update(
            FILEHUB_DATA_DIR=str(self.data_dir),
            FILEHUB_STORAGE_URL=self.objects.as_uri(),
            PYTHONUNBUFFERED="1",
        )
        self.token = ""
        self.servers: list[Server] = []
        self._count = 0

    def make_account(self) -> None:
        self.token = make_bench_account(self.env)

    def start_filehub(self) -> Server:
        self._count += 1
        port = free_port()
        server = start_server(
            "filehub",
            [*filehub_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            self.env,
            self.workdir / f"filehub-{self._count}.log",
            port,
        )
        self.servers.append(server)
        return server

    def start_bare(self) -> Server:
        port = free_port()
        server = start_server(
            "bare",
            [sys.executable, str(Path(__file__).resolve()), "--bare-server", str(port), str(self.bare_dir)],
            self.env,
            self.workdir / "bare.log",
            port,
        )
        self.servers.append(server)
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def stop_all(self) -> None:
        for server in list(self.servers):
            self.stop(server)

    def drop_stored_bytes(self) -> None:
        """Free the disk between runs (completed uploads cannot be DELETEd over tus)."""
        for folder in (self.objects, self.bare_dir):
            for path in folder.rglob("*"):
                if path.is_file():
                    path.unlink()


# ==========================================================================================
# Client side
# ==========================================================================================


def repeated_sha256(block: bytes, total: int) -> str:
    hasher = hashlib.sha256()
    view = memoryview(block)
    done = 0
    while done < total:
        n = min(len(block), total - done)
        hasher.update(view[:n])
        done += n
    return hasher.hexdigest()


@dataclass
class UploadResult:
    seconds: float
    location: str
    file_id: str | None
    post_seconds: float = 0.0
    patch_seconds: float = 0.0


@dataclass
class Client:
    """tus (or bare) upload of ``total`` bytes, the PATCH body being ``block`` (or a prefix)."""

    create_url: str
    headers: dict[str, str] = field(default_factory=dict)

    async def upload(self, session: aiohttp.ClientSession, total: int, block: bytes) -> UploadResult:
        started = time.perf_counter()
        headers = {**self.headers, "Upload-Length": str(total)}
        async with session.post(self.create_url, headers=headers) as response:
            body = await response.read()
            if response.status != 201:
                raise BenchError(f"POST -> {response.status} {body[:200]!r}")
            location = urljoin(self.create_url, response.headers["Location"])
        created = time.perf_counter()
        offset, file_id = 0, None
        tail = block[: total % len(block)] if total % len(block) else b""
        while offset < total:
            data = block if total - offset >= len(block) else tail
            headers = {**self.headers, "Upload-Offset": str(offset), "Content-Type": OCTETS}
            async with session.patch(location, data=data, headers=headers) as response:
                body = await response.read()
                if response.status != 204:
                    raise BenchError(f"PATCH @{offset} -> {response.status} {body[:200]!r}")
                reported = response.headers.get("Upload-Offset")
                if reported != str(offset + len(data)):
                    raise BenchError(f"PATCH @{offset}: Upload-Offset {reported}, expected {offset + len(data)}")
                file_id = response.headers.get("Filehub-File-Id", file_id)
            offset += len(data)
        finished = time.perf_counter()
        return UploadResult(finished - started, location, file_id, created - started, finished - created)


def filehub_client(server: Server, token: str) -> Client:
    return Client(
        f"{server.base_url}/api/v1/uploads",
        {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"},
    )


def bare_client(server: Server) -> Client:
    return Client(f"{server.base_url}/bare")


def new_session(limit: int = 100) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit),
        timeout=aiohttp.ClientTimeout(total=None, sock_read=600),
    )


async def check_file(session: aiohttp.ClientSession, server: Server, token: str, file_id: str | None, size: int, sha256: str) -> str | None:
    """None if the file record matches; else what is wrong."""
    if file_id is None:
        return "no Filehub-File-Id after the last PATCH"
    url = f"{server.base_url}/api/v1/files/{file_id}"
    async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
        if response.status != 200:
            return f"GET file -> {response.status}"
        record = await response.json()
    if record.get("size") != size:
        return f"file size {record.get('size')} != {size}"
    if record.get("sha256") != sha256:
        return "file sha256 differs from the bytes sent"
    return None


def mibps(nbytes: int, seconds: float) -> float:
    return nbytes / MiB / seconds if seconds > 0 else float("inf")


def size_text(nbytes: int) -> str:
    return f"{nbytes // GiB} GiB" if nbytes % GiB == 0 else f"{nbytes // MiB} MiB"


def mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def nearest_rank(sorted_values: list[float], pct: float) -> float:
    return sorted_values[max(0, math.ceil(pct / 100 * len(sorted_values)) - 1)]


# ==========================================================================================
# The four parts
# ==========================================================================================


@dataclass
class Sizes:
    single: int
    single_patch: int
    reps: int
    concurrent: int
    concurrent_size: int
    concurrent_patch: int
    small_count: int
    small_size: int
    rss_sizes: tuple[int, int]


FULL = Sizes(1 * GiB, 16 * MiB, 3, 32, 32 * MiB, 8 * MiB, 500, 4 * KiB, (1 * GiB, 4 * GiB))
QUICK = Sizes(128 * MiB, 16 * MiB, 3, 32, 4 * MiB, 1 * MiB, 50, 4 * KiB, (128 * MiB, 512 * MiB))


def part_a(bench: Bench, fh: Server, bare: Server, sizes: Sizes, block: bytes) -> tuple[bool, float]:
    total = sizes.single
    print(f"\n(a) single {size_text(total)} upload in {size_text(sizes.single_patch)} PATCHes, "
          f"filehub vs bare aiohttp+fsync, interleaved x{sizes.reps}")
    expected = repeated_sha256(block, total)
    fh_rates: list[float] = []
    bare_rates: list[float] = []
    problems: list[str] = []
    fh_cpu: list[float] = []  # server CPU seconds (user + system) per GiB: steadier than wall time
    bare_cpu: list[float] = []

    async def run() -> None:
        async with new_session() as session:
            # Warm both servers' code paths and connections (not timed).
            await filehub_client(fh, bench.token).upload(session, 4 * KiB, block[: 4 * KiB])
            await bare_client(bare).upload(session, 4 * KiB, block[: 4 * KiB])
            for rep in range(sizes.reps):
                order = ("filehub", "bare") if rep % 2 == 0 else ("bare", "filehub")
                line = []
                for which in order:
                    bench.drop_stored_bytes()
                    await asyncio.sleep(0.5)  # let unlink/discard settle
                    server = fh if which == "filehub" else bare
                    cpu_before = sum(psutil.Process(server.proc.pid).cpu_times()[:2])
                    if which == "filehub":
                        result = await filehub_client(fh, bench.token).upload(session, total, block)
                        rate = mibps(total, result.seconds)
                        fh_rates.append(rate)
                        problem = await check_file(session, fh, bench.token, result.file_id, total, expected)
                        if problem:
                            problems.append(f"run {rep + 1}: {problem}")
                    else:
                        result = await bare_client(bare).upload(session, total, block)
                        rate = mibps(total, result.seconds)
                        bare_rates.append(rate)
                    cpu = (sum(psutil.Process(server.proc.pid).cpu_times()[:2]) - cpu_before) / (total / GiB)
                    (fh_cpu if which == "filehub" else bare_cpu).append(cpu)
                    line.append(f"{which} {rate:7.1f} MiB/s ({result.seconds:5.2f} s, {cpu:4.2f} CPU s/GiB)")
                print(f"    run {rep + 1}: " + ",  ".join(line))
        bench.drop_stored_bytes()

    asyncio.run(run())
    fh_med, bare_med = statistics.median(fh_rates), statistics.median(bare_rates)
    ratio = fh_med / bare_med
    ok = ratio >= RATIO_TARGET and not problems
    print(f"    filehub median: {fh_med:7.1f} MiB/s")
    print(f"    bare    median: {bare_med:7.1f} MiB/s")
    print(f"    server CPU per GiB (median): filehub {statistics.median(fh_cpu):.2f} s, "
          f"bare {statistics.median(bare_cpu):.2f} s (includes filehub's SHA-256 of every byte)")
    print(f"    ratio filehub/bare (of medians): {ratio:.2f}   target >= {RATIO_TARGET}   [{mark(ratio >= RATIO_TARGET)}]")
    print(f"    file records (size + sha256) verified: {'all OK' if not problems else '; '.join(problems)}")
    return ok, ratio


def part_b(bench: Bench, fh: Server, sizes: Sizes, block: bytes) -> bool:
    n, size, patch = sizes.concurrent, sizes.concurrent_size, sizes.concurrent_patch
    print(f"\n(b) {n} concurrent uploads of {size_text(size)} each, {size_text(patch)} PATCHes")
    patch_block = block[:patch] if len(block) >= patch else (block * (patch // len(block) + 1))[:patch]
    expected = repeated_sha256(patch_block, size)
    errors: list[str] = []

    async def run() -> float:
        async with new_session(limit=0) as session:
            client = filehub_client(fh, bench.token)

            async def one() -> UploadResult:
                return await client.upload(session, size, patch_block)

            started = time.perf_counter()
            results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
            elapsed = time.perf_counter() - started
            for result in results:
                if isinstance(result, BaseException):
                    errors.append(f"{type(result).__name__}: {result}")
                else:
                    problem = await check_file(session, fh, bench.token, result.file_id, size, expected)
                    if problem:
                        errors.append(problem)
            return elapsed

    elapsed = asyncio.run(run())
    bench.drop_stored_bytes()
    print(f"    aggregate: {mibps(n * size, elapsed):7.1f} MiB/s  ({n * size // MiB} MiB in {elapsed:.2f} s)")
    print(f"    errors (non-2xx, offset or file mismatch): {len(errors)}   target 0   [{mark(not errors)}]")
    for error in errors[:5]:
        print(f"      - {error}")
    return not errors


def part_c(bench: Bench, fh: Server, sizes: Sizes, block: bytes) -> bool:
    n, size = sizes.small_count, sizes.small_size
    print(f"\n(c) {n} small uploads of {size_text(size) if size >= MiB else f'{size // KiB} KiB'}, "
          "sequential, POST + PATCH latency")
    data = block[:size]
    totals: list[float] = []
    posts: list[float] = []
    patches: list[float] = []
    errors: list[str] = []

    async def run() -> None:
        async with new_session() as session:
            client = filehub_client(fh, bench.token)
            for _ in range(10):  # warm-up, not counted
                await client.upload(session, size, data)
            for _ in range(n):
                try:
                    result = await client.upload(session, size, data)
                except BenchError as exc:
                    errors.append(str(exc))
                    continue
                totals.append(result.seconds * 1000)
                posts.append(result.post_seconds * 1000)
                patches.append(result.patch_seconds * 1000)

    asyncio.run(run())
    bench.drop_stored_bytes()
    for label, values in (("POST+PATCH", totals), ("POST only ", posts), ("PATCH only", patches)):
        values.sort()
        if values:
            print(f"    {label}: p50 {nearest_rank(values, 50):6.1f} ms   p95 {nearest_rank(values, 95):6.1f} ms"
                  f"   max {values[-1]:6.1f} ms")
    if totals:
        print(f"    throughput: {len(totals) / (sum(totals) / 1000):.0f} uploads/s (sequential)")
    print(f"    errors: {len(errors)}   target 0   [{mark(not errors)}]")
    for error in errors[:5]:
        print(f"      - {error}")
    return not errors


def part_d(bench: Bench, sizes: Sizes, block: bytes, skip_big: bool) -> bool:
    targets = sizes.rss_sizes[:1] if skip_big else sizes.rss_sizes
    print(f"\n(d) peak RSS of the filehub server (psutil every 50 ms), fresh server per upload, "
          f"{size_text(sizes.single_patch)} PATCHes")
    peaks: dict[int, int] = {}
    ok = True
    for total in targets:
        expected = repeated_sha256(block, total)
        server = bench.start_filehub()
        try:
            with RssSampler(server.proc.pid) as sampler:

                async def run() -> tuple[UploadResult, str | None]:
                    async with new_session() as session:
                        result = await filehub_client(server, bench.token).upload(session, total, block)
                        return result, await check_file(session, server, bench.token, result.file_id, total, expected)

                result, problem = asyncio.run(run())
            hwm = vm_hwm(server.proc.pid)
        finally:
            bench.stop(server)
            bench.drop_stored_bytes()
        peaks[total] = sampler.peak
        ok = ok and problem is None
        print(f"    {size_text(total):>7}: peak RSS {sampler.peak / MiB:6.1f} MiB  (idle before {sampler.start_rss / MiB:5.1f} MiB, "
              f"{sampler.samples} samples, kernel VmHWM {hwm / MiB if hwm else float('nan'):5.1f} MiB)  "
              f"{mibps(total, result.seconds):6.1f} MiB/s   target <= {RSS_LIMIT // MiB} MiB [{mark(sampler.peak <= RSS_LIMIT)}]"
              + (f"   ! {problem}" if problem else ""))
        ok = ok and sampler.peak <= RSS_LIMIT
    if len(peaks) == 2:
        small, big = (peaks[t] for t in targets)
        tolerance = max(RSS_SAME_TOLERANCE, small // 10)
        same = abs(big - small) <= tolerance
        print(f"    {size_text(targets[1])} vs {size_text(targets[0])}: {(big - small) / MiB:+.1f} MiB   "
              f"target: about equal (|diff| <= {tolerance / MiB:.0f} MiB) [{mark(same)}]")
        ok = ok and same
    else:
        print("    (second size skipped: --skip-4g)")
    return ok


# ==========================================================================================


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--bare-server":
        bare_server_main(int(sys.argv[2]), Path(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--skip-4g", action="store_true", help="(d): measure only the smaller upload")
    parser.add_argument("--only", default="abcd", help="which parts to run, e.g. --only a (default abcd)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL

    tmp_root = Path(tempfile.gettempdir())
    largest = max(sizes.single * 2, sizes.concurrent * sizes.concurrent_size,
                  sizes.rss_sizes[0] if args.skip_4g else sizes.rss_sizes[1])
    free = shutil.disk_usage(tmp_root).free
    if free < largest + 2 * GiB:
        print(f"not enough room in {tmp_root}: {free / GiB:.1f} GiB free, need {(largest + 2 * GiB) / GiB:.1f} GiB"
              + ("" if args.skip_4g else " (try --skip-4g)"), file=sys.stderr)
        return 2

    try:
        import psutil  # noqa: F401 - needed by the RSS sampler of (d)
    except ImportError:
        print("psutil is needed: .venv/bin/pip install -e '.[test]'", file=sys.stderr)
        return 2

    print("filehub upload benchmark" + (" (--quick)" if args.quick else ""))
    print(f"  python {platform.python_version()}, aiohttp {aiohttp.__version__}, {os.cpu_count()} CPUs, "
          f"load avg {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {free / GiB:.0f} GiB free in {tmp_root}")

    block = os.urandom(sizes.single_patch)  # generated once, reused for every PATCH
    workdir = Path(tempfile.mkdtemp(prefix="filehub-bench-", dir=tmp_root))
    bench = Bench(workdir)
    results: dict[str, bool] = {}
    try:
        bench.make_account()
        fh = bench.start_filehub()
        bare = bench.start_bare()
        print(f"  filehub pid {fh.proc.pid} at {fh.base_url}, bare pid {bare.proc.pid} at {bare.base_url}, work dir {workdir}")
        if "a" in args.only:
            results["a"], _ = part_a(bench, fh, bare, sizes, block)
        bench.stop(bare)
        if "b" in args.only:
            results["b"] = part_b(bench, fh, sizes, block)
        if "c" in args.only:
            results["c"] = part_c(bench, fh, sizes, block)
        bench.stop(fh)
        if "d" in args.only:
            results["d"] = part_d(bench, sizes, block, args.skip_4g)
    except BenchError as exc:
        print(f"\nbenchmark aborted: {exc}", file=sys.stderr)  # the log tails say why
        for server in bench.servers:
            print(f"--- {server.name} log tail ---\n{server.log_tail()}", file=sys.stderr)
        return 1
    finally:
        bench.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)

    print("\ntargets: " + ", ".join(f"({k}) {mark(v)}" for k, v in results.items())
          + f"   (load avg now {' '.join(f'{x:.2f}' for x in os.getloadavg())}: figures are noisy)")
    return 0  # a benchmark: missed targets are reported above, not an exit status


if __name__ == "__main__":
    sys.exit(main())
