"""A real ``filehub serve`` process for tests that need HTTP from outside the test process.

The server runs the installed console script (``.venv/bin/filehub``) on a free
127.0.0.1 port, with its data, database and object store in a test's tmp folder.
It can be killed with SIGKILL and restarted on the same port with the same data, so
tests can check what survives a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import requests

FILEHUB = Path(sys.executable).parent / "filehub"
START_TIMEOUT = 20.0  # seconds until /healthz must answer
STOP_TIMEOUT = 10.0  # seconds for a graceful stop before SIGKILL
CLI_TIMEOUT = 60.0  # seconds for one admin command


class ServerError(RuntimeError):
    """The server did not start, or an admin command failed; the message carries its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(base: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The process environment for a server (and its admin commands) rooted at ``base``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEHUB_")}
    env.update(
        FILEHUB_DATA_DIR=str(base / "data"),
        FILEHUB_DATABASE_URL=database_url,
        FILEHUB_STORAGE_URL=(base / "objects").as_uri(),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def run_admin(env: dict[str, str], *args: str) -> str:
    """Runs ``filehub admin ARGS`` with ``env``; returns its stdout (stripped)."""
    done = subprocess.run(
        [str(FILEHUB), "admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise ServerError(
            f"filehub admin {' '.join(args[:1])} failed ({done.returncode}):\n{done.stderr}{done.stdout}"
        )
    return done.stdout.strip()


# Runs several ``filehub admin`` commands through the real click CLI in one interpreter (one
# start-up instead of three): all but the last write their stdout to stderr, so the
# process's stdout is exactly the last command's.
_ADMIN_SEQUENCE = """
import contextlib, json, sys
from filehub.cli.main import cli
commands = json.loads(sys.argv[1])
for i, args in enumerate(commands):
    out = sys.stdout if i == len(commands) - 1 else sys.stderr
    with contextlib.redirect_stdout(out):
        try:
            cli.main(["admin", *args], prog_name="filehub", standalone_mode=False)
        except Exception as exc:
            print(f"filehub admin {args[0]}: {exc}", file=sys.stderr)
            sys.exit(1)
"""


def run_admin_sequence(env: dict[str, str], *commands: list[str]) -> str:
    """Runs ``filehub admin`` commands in order in one process; returns the last one's stdout."""
    done = subprocess.run(
        [sys.executable, "-c", _ADMIN_SEQUENCE, json.dumps(commands)],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise ServerError(f"filehub admin failed ({done.returncode}):\n{done.stderr}{done.stdout}")
    return done.stdout.strip()


def create_user_token(
    env: dict[str, str], email: str, org: str = "Met Police", kind: str = "police", create_org: bool = True
) -> str:
    """Creates (optionally) an organisation, a user in it and a token with ``filehub admin``
    (create-org, create-user, create-token); returns the token create-token printed."""
    commands = [["create-org", org, "--kind", kind]] if create_org else []
    commands += [["create-user", email, "--org", org], ["create-token", email]]
    token = run_admin_sequence(env, *commands)
    if not token or len(token.split()) != 1:
        raise ServerError(f"create-token printed something other than one token: {token!r}")
    return token


class FilehubServer:
    """One ``filehub serve`` subprocess; ``start()`` returns once /healthz answers."""

    def __init__(self, base: Path, database_url: str, port: int | None = None, **env: str) -> None:
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)
        self.env = server_env(base, database_url, **env)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._orgs: set[str] = set()
        self._users = 0

    @property
    def uploads_url(self) -> str:
        return f"{self.url}/api/v1/uploads"

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FilehubServer:
        if self.process is not None and self.process.poll() is None:
            raise ServerError("the server is already running")
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start #{self.starts} on port {self.port} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [str(FILEHUB), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"filehub serve exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.kill()
        raise ServerError(f"filehub serve did not answer /healthz within {START_TIMEOUT} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing; what is on disk is what survives."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then SIGKILL if it does not go in time."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None

    def restart(self) -> FilehubServer:
        """Stops (if running) and starts again on the same port with the same data."""
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    # --- accounts --------------------------------------------------------------------------

    def admin(self, *args: str) -> str:
        return run_admin(self.env, *args)

    def create_user(self, org: str = "Met Police", kind: str = "police", email: str | None = None) -> str:
        """A new user (in ``org``, created on first use) with a fresh token; returns the token."""
        self._users += 1
        email = email or f"user{self._users}@{org.replace(' ', '').lower()}.example"
        token = create_user_token(self.env, email, org, kind, create_org=org not in self._orgs)
        self._orgs.add(org)
        return token

    def __enter__(self) -> FilehubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- checking what a server stored (plain HTTP, independent of any tus client) ---------------

HTTP_TIMEOUT = 10  # seconds


def random_file(path: Path, size: int) -> bytes:
    """Writes ``size`` random bytes to ``path``; returns them."""
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def http_get(url: str, token: str) -> requests.Response:
    response = requests.get(url, headers=bearer(token), timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text[:500]}"
    return response


def tus_head(url: str, token: str) -> requests.Response:
    response = requests.head(url, headers=bearer(token, **{"Tus-Resumable": "1.0.0"}), timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, f"HEAD {url}: {response.status_code}"
    return response


def assert_stored(server: FilehubServer, token: str, upload_url: str, data: bytes, filename: str) -> dict[str, Any]:
    """GET of the upload URL returns exactly ``data``; the file its HEAD names (Filehub-File-Id)
    has the right size, sha256 and filename, and serves the same bytes. Returns the file's JSON."""
    body = http_get(upload_url, token).content
    assert len(body) == len(data)
    assert body == data
    file_id = tus_head(upload_url, token).headers["Filehub-File-Id"]
    meta: dict[str, Any] = http_get(f"{server.url}/api/v1/files/{file_id}", token).json()
    assert meta["id"] == file_id
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["size"] == len(data)
    assert meta["filename"] == filename
    content = http_get(f"{server.url}/api/v1/files/{file_id}/content", token).content
    assert hashlib.sha256(content).hexdigest() == meta["sha256"]
    return meta
