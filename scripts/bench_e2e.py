#!/usr/bin/env python3
"""End-to-end encryption benchmark for filehub (not a test): what encryption costs.

One run starts a real ``filehub serve`` subprocess (SQLite + local disk in a temp dir; accounts
made with the ``filehub admin`` CLI) and, with the client library (``filehub.client``) in this
process, measures (1) an encrypted upload (``Uploader``: hash + encrypt on threads, tus PATCHes
of 64 MiB) vs a plain tus upload of the same file with the same PATCH size into a case with
``require_encryption`` false, 3 times interleaved, medians and ratio (target >= 0.8);
(2) the verified decrypting download (``Downloader``) vs writing the same file's ciphertext
from ``GET /api/v1/files/{id}/content`` to disk (target >= 0.8); (3) sharing one bundle of 100
encrypted files with a defence organisation of 100 members with certified keys (``share``:
unwrap, verify each chain, wrap, POST; target < 5 s); and the peak RSS of the server and of
this client during a small and the big transfers. Client and server CPU seconds per GiB show
where the time goes. Usage:
``.venv/bin/python scripts/bench_e2e.py [--quick] [--size 1G] [--files 100] [--recipients 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_s3 import CpuMeter  # noqa: E402
from bench_upload import (  # noqa: E402
    GiB,
    KiB,
    MiB,
    Bench,
    BenchError,
    RssSampler,
    filehub_command,
    mark,
    mibps,
    size_text,
)

from filehub.client import keys as client_keys  # noqa: E402
from filehub.client.api import TUS, Api, error_of  # noqa: E402
from filehub.client.config import ClientConfig, b64e  # noqa: E402
from filehub.client.download import Downloader  # noqa: E402
from filehub.client.identity import TrustStore  # noqa: E402
from filehub.client.pipeline import read_plaintext  # noqa: E402
from filehub.client.share import share  # noqa: E402
from filehub.client.upload import SEGMENT, Uploader, tus_metadata  # noqa: E402
from filehub.crypto.keys import CertifiedKey, Identity, OrgRootKey  # noqa: E402
from filehub.crypto.stream import CIPHERTEXT_CHUNK_SIZE  # noqa: E402

RATIO_TARGET, SHARE_TARGET = 0.8, 5.0
PATCH = SEGMENT // CIPHERTEXT_CHUNK_SIZE * CIPHERTEXT_CHUNK_SIZE  # the encrypted uploader's PATCH size
READ = 1 << 20

def admin_batch(env: dict[str, str], commands: list[list[str]]) -> list[str]:
    """`filehub admin batch`: one process for all (one per command would cost ~1 s each)."""
    done = subprocess.run([*filehub_command(), "admin", "batch"], input=json.dumps(commands), env=env,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise BenchError(f"filehub admin batch failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class Person:
    """A user with a token and (once ``certify``d) a certified identity."""

    def __init__(self, url: str, token: str) -> None:
        self.api, self.identity = Api(url, token), Identity.generate()

    async def __aenter__(self) -> Person:
        await self.api.__aenter__()
        me = await self.api.get("/api/v1/me")
        self.user_id, self.org_id = me["user_id"], me["org_id"]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.api.__aexit__(*exc)

    async def certify(self, admin: Person, root: OrgRootKey) -> None:
        key = await client_keys.register(self.api, self.identity)
        await client_keys.certify_key(admin.api, key, root, days=1)


class World:
    """The police officer (uploader, sharer) and the defence organisation's members."""

    def __init__(self, bench: Bench, url: str, recipients: int) -> None:
        emails = [f"defence{i}@defence.example" for i in range(recipients)]
        commands = [["create-org", "Bench Police", "--kind", "police"],
                    ["create-user", "officer@police.example", "--org", "Bench Police", "--role", "admin"],
                    ["create-token", "officer@police.example"],
                    ["create-org", "Bench Defence", "--kind", "defence"],
                    ["create-user", "admin@defence.example", "--org", "Bench Defence", "--role", "admin"],
                    ["create-token", "admin@defence.example"]]
        for email in emails:
            commands += [["create-user", email, "--org", "Bench Defence"], ["create-token", email]]
        outs = admin_batch(bench.env, commands)
        self.url, self.tokens = url, outs[2::3][:2] + outs[7::2]  # officer, defence admin, members
        self.config = ClientConfig(bench.workdir / "client")
        self.trust = TrustStore(self.config, {})

    async def __aenter__(self) -> World:
        self.stack = contextlib.AsyncExitStack()
        people = [await self.stack.enter_async_context(Person(self.url, t)) for t in self.tokens]
        self.officer, defence_admin, self.members = people[0], people[1], people[2:]
        for admin in (self.officer, defence_admin):
            root = OrgRootKey.generate()
            await client_keys.publish_root(admin.api, admin.org_id, root)
            self.trust.add(admin.org_id, b64e(root.public_key))
            for person in [self.officer] if admin is self.officer else self.members:
                await person.certify(admin, root)
        self.me: CertifiedKey = await client_keys.my_certified_key(self.officer.api, self.trust, self.officer.identity)
        self.defence_org = defence_admin.org_id
        self.enc_case = await self.case("BENCH-E2E", True)
        self.plain_case = await self.case("BENCH-PLAIN", False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()

    async def case(self, reference: str, encrypted: bool) -> str:
        body = {"reference": reference, "title": "R v Bench", "require_encryption": encrypted}
        return (await self.officer.api.call("POST", "/api/v1/cases", body))["id"]

    def uploader(self) -> Uploader:
        return Uploader(self.officer.api, self.config, self.officer.identity, self.me)

    def downloader(self, person: Person | None = None) -> Downloader:
        person = person or self.officer
        return Downloader(person.api, self.config, person.identity, self.trust)


# --- the plain baseline: the same tus endpoint, PATCH size, session and 1 MiB body blocks -----


async def file_blocks(fd: int, offset: int, length: int) -> AsyncIterator[bytes]:
    for start in range(offset, offset + length, READ):
        yield read_plaintext(fd, start, min(READ, offset + length - start))


async def plain_upload(api: Api, source: Path, case: str) -> str:
    size = source.stat().st_size
    headers = {**TUS, "Upload-Length": str(size), "Upload-Metadata": tus_metadata({"case": case})}
    async with api.request("POST", "/api/v1/uploads", headers=headers) as response:
        if response.status != 201:
            raise await error_of(response)
        url, file_id = response.headers["Location"], None
    fd = os.open(source, os.O_RDONLY)
    try:
        for offset in range(0, size, PATCH):
            length = min(PATCH, size - offset)
            headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream",
                       "Content-Length": str(length)}
            async with api.request("PATCH", url, headers=headers, data=file_blocks(fd, offset, length)) as response:
                if response.status != 204:
                    raise await error_of(response)
                file_id = response.headers.get("Filehub-File-Id", file_id)
    finally:
        os.close(fd)
    if file_id is None:
        raise BenchError("the plain upload did not complete")
    return file_id


async def ciphertext_download(api: Api, file_id: str, out: Path) -> None:
    async with api.request("GET", f"/api/v1/files/{file_id}/content") as response:
        if response.status != 200:
            raise await error_of(response)
        with out.open("wb") as sink:
            async for data in response.content.iter_chunked(READ):
                sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())


# --- measuring --------------------------------------------------------------------------------


def write_random(path: Path, size: int) -> str:
    """A file of ``size`` random bytes (a 16 MiB random block repeated); its SHA-256."""
    block, hasher = os.urandom(min(size, 16 * MiB) or 1), hashlib.sha256()
    with path.open("wb") as out:
        for start in range(0, size, len(block)):
            piece = block[: min(len(block), size - start)]
            out.write(piece)
            hasher.update(piece)
    return hasher.hexdigest()


async def timed(meter: CpuMeter, action: Awaitable[Any]) -> tuple[Any, float, dict[str, float]]:
    meter.start()
    started = time.perf_counter()
    result = await action
    return result, time.perf_counter() - started, meter.stop()


async def compare(label: str, size: int, reps: int, meter: CpuMeter, runs: dict[str, Callable[[], Awaitable[Any]]],
                  before_rep: Callable[[], None]) -> float:
    """Both runs ``reps`` times interleaved (order alternating), each printed; the ratio of the
    first's median MiB/s to the second's (the baseline)."""
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for rep in range(reps):
        before_rep()
        for name in list(runs) if rep % 2 == 0 else list(runs)[::-1]:
            await asyncio.sleep(0.5)
            _, seconds, cpu = await timed(meter, runs[name]())
            rates[name].append(mibps(size, seconds))
            print(f"    {label} run {rep + 1} {name:10} {rates[name][-1]:6.1f} MiB/s ({seconds:5.2f} s; CPU s/GiB "
                  f"client {cpu['client'] / (size / GiB):4.2f} server {cpu['server'] / (size / GiB):4.2f}; {meter.load_text()})")
    (first, a), (second, b) = ((name, statistics.median(values)) for name, values in rates.items())
    print(f"    median {first} {a:.1f} MiB/s, {second} {b:.1f} MiB/s: ratio {a / b:.2f}"
          f"  target >= {RATIO_TARGET}  [{mark(a / b >= RATIO_TARGET)}]")
    return a / b


async def transfers(bench: Bench, world: World, pid: int, size: int, reps: int) -> dict[str, Any]:
    source, work = bench.workdir / "exhibit.bin", bench.workdir / "out"
    work.mkdir()
    expected = write_random(source, size)
    meter = CpuMeter({"client": os.getpid(), "server": pid})
    api, out = world.officer.api, {}
    # A small warm-up upload (not timed) gives the RSS of a small file to compare with.
    warm = bench.workdir / "warm.bin"
    write_random(warm, max(16 * MiB, size // 16))
    with RssSampler(pid) as server_small, RssSampler(os.getpid()) as client_small:
        warm_id = (await world.uploader().upload(warm, case=world.enc_case)).file_id
        await world.downloader().download(warm_id, work / "warm.out")
    out["rss_small"] = (warm.stat().st_size, server_small.peak, client_small.peak)

    last: dict[str, str] = {}

    async def encrypted() -> None:
        result = await world.uploader().upload(source, case=world.enc_case)
        if result.plaintext_sha256 != expected:
            raise BenchError("the encrypted upload hashed other bytes than the source")
        last["enc"] = result.file_id

    async def plain() -> None:
        last["plain"] = await plain_upload(api, source, world.plain_case)

    print(f"\n(1) upload of a {size_text(size)} file, PATCHes of {PATCH / MiB:.1f} MiB, x{reps} interleaved")
    with RssSampler(pid) as server_big, RssSampler(os.getpid()) as client_big:
        # each rep frees the stored bytes of the one before; the last rep's files stay for (2)
        out["upload"] = await compare("upload  ", size, reps, meter, {"encrypted": encrypted, "plain": plain},
                                      bench.drop_stored_bytes)
        if (await api.get(f"/api/v1/files/{last['plain']}"))["sha256"] != expected:
            raise BenchError("the plain upload stored other bytes than the source")

        print(f"\n(2) download of the same file: verified decrypting download vs its ciphertext, x{reps}")

        async def decrypting() -> None:
            result = await world.downloader().download(last["enc"], work / "plain.out")
            if not result.whole_file_verified:
                raise BenchError("the download was not verified")

        async def ciphertext() -> None:
            await ciphertext_download(api, last["enc"], work / "cipher.out")

        def clean() -> None:
            for path in work.iterdir():
                path.unlink()

        out["download"] = await compare("download", size, reps, meter,
                                        {"decrypting": decrypting, "ciphertext": ciphertext}, clean)
    out["rss_big"] = (size, server_big.peak, client_big.peak)
    shutil.rmtree(work)
    source.unlink()
    warm.unlink()
    bench.drop_stored_bytes()
    return out


async def sharing(bench: Bench, world: World, pid: int, files: int) -> float:
    print(f"\n(3) share a bundle of {files} encrypted files with {len(world.members)} defence members (certified keys)")
    small = bench.workdir / "small"
    small.mkdir()
    gate = asyncio.Semaphore(4)

    async def one(i: int) -> str:
        path = small / f"statement-{i:03d}.pdf"
        path.write_bytes(os.urandom(8 * KiB + i))
        async with gate:
            return (await world.uploader().upload(path, case=world.enc_case)).file_id

    started = time.perf_counter()
    ids = await asyncio.gather(*(one(i) for i in range(files)))
    api = world.officer.api
    bundle = (await api.call("POST", f"/api/v1/cases/{world.enc_case}/bundles", {"name": "disclosure"}))["id"]
    for file_id in ids:
        await api.call("POST", f"/api/v1/bundles/{bundle}/files", {"file_id": file_id})
    print(f"    setup (not timed): {files} uploads and the bundle in {time.perf_counter() - started:.1f} s")
    meter = CpuMeter({"client": os.getpid(), "server": pid})
    report, seconds, cpu = await timed(meter, share(api, world.officer.identity, world.trust, relation="defence",
                                                    subject=f"org:{world.defence_org}", bundle_id=bundle))
    want = files * len(world.members)
    print(f"    share: {seconds:.2f} s for {report.files} files x {report.recipients} keys = {report.added} rows "
          f"({report.added / seconds:.0f} rows/s; CPU client {cpu['client']:.2f} s, server {cpu['server']:.2f} s; "
          f"{meter.load_text()})  target < {SHARE_TARGET:.0f} s  [{mark(seconds < SHARE_TARGET)}]")
    if report.added != want or report.problems:
        raise BenchError(f"share added {report.added} of {want} rows; problems: {report.problems[:3]}")
    member = world.members[-1]  # a recipient can now read a file (checked, not timed)
    got = await world.downloader(member).download(ids[-1], small / "check.out")
    if (small / "check.out").read_bytes() != (small / f"statement-{files - 1:03d}.pdf").read_bytes():
        raise BenchError("a recipient's download does not match the uploaded file")
    print(f"    a defence member downloaded and verified file {got.file_id}: OK")
    shutil.rmtree(small)
    return seconds


def parse_size(text: str) -> int:
    units = {"K": KiB, "M": MiB, "G": GiB}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1:].upper() in units else int(text)


def rss_lines(figures: dict[str, Any]) -> None:
    print("\npeak RSS (psutil every 50 ms)       server      client (this process)")
    for key in ("rss_small", "rss_big"):
        size, server, client = figures[key]
        print(f"    during {size_text(size):>8} transfers: {server / MiB:7.1f} MiB {client / MiB:9.1f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, help="size of the big file, e.g. 1G (default), 256M")
    parser.add_argument("--quick", action="store_true", help="a 128 MiB file, for iteration")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--files", type=int, default=100, help="files in the shared bundle")
    parser.add_argument("--recipients", type=int, default=100, help="members of the defence organisation")
    args = parser.parse_args()
    size = args.size or (128 * MiB if args.quick else GiB)
    tmp_root = Path(tempfile.gettempdir())
    if shutil.disk_usage(tmp_root).free < 5 * size + 2 * GiB:
        print(f"not enough room in {tmp_root} for {size_text(size)} x 5", file=sys.stderr)
        return 2
    print(f"filehub E2E benchmark: python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load avg {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    bench = Bench(Path(tempfile.mkdtemp(prefix="filehub-bench-e2e-", dir=tmp_root)))
    figures: dict[str, Any] = {}
    try:
        server = bench.start_filehub()
        world = World(bench, server.base_url, args.recipients)

        async def run() -> None:
            async with world:
                figures.update(await transfers(bench, world, server.proc.pid, size, args.reps))
                figures["share"] = await sharing(bench, world, server.proc.pid, args.files)

        asyncio.run(run())
    except BenchError as exc:
        print(f"\nbenchmark aborted: {exc}", file=sys.stderr)
        for server in bench.servers:
            print(f"--- {server.name} log tail ---\n{server.log_tail()}", file=sys.stderr)
        return 1
    finally:
        bench.stop_all()
        shutil.rmtree(bench.workdir, ignore_errors=True)
    rss_lines(figures)
    print(f"\nsummary ({size_text(size)}, {args.files} files x {args.recipients} recipients; "
          f"load avg now {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    upload, download, shared = figures["upload"], figures["download"], figures["share"]
    for label, value, met, target in (
            ("encrypted / plain upload   ", f"{upload:5.2f}x", upload >= RATIO_TARGET, f">= {RATIO_TARGET}x"),
            ("decrypting / plain download", f"{download:5.2f}x", download >= RATIO_TARGET, f">= {RATIO_TARGET}x"),
            ("share bundle               ", f"{shared:5.2f} s", shared < SHARE_TARGET, f"< {SHARE_TARGET:.0f} s")):
        print(f"    {label}  {value:>8}   target {target:8}  {'met' if met else 'MISSED'}")
    return 0  # a benchmark: missed targets are reported, not an exit status


if __name__ == "__main__":
    sys.exit(main())
