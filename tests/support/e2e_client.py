"""People who use the real ``filehub`` client commands against a real ``filehub serve``.

Each person has a client home of their own (FILEHUB_CLIENT_HOME) and a passphrase; the
commands run through click in this process (fast), or as a subprocess when a test must kill
one. Accounts are made with ``filehub admin`` as an operator would; everything else goes
through the client CLI or plain HTTP, as users would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from click.testing import CliRunner

from filehub.cli.main import cli
from tests.support.server import FILEHUB, FilehubServer

PASSPHRASE = "correct horse battery staple"
ROOT_PASSPHRASE = "root passphrase for tests"


@dataclass
class Person:
    server: FilehubServer
    name: str
    home: Path
    token: str
    user_id: str = ""
    org_id: str = ""
    root_key: Path | None = None  # admins who made their organisation's root
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {"FILEHUB_CLIENT_HOME": str(self.home), "FILEHUB_PASSPHRASE": PASSPHRASE,
                "FILEHUB_ROOT_PASSPHRASE": ROOT_PASSPHRASE, **self.extra_env}

    def cli(self, *args: str, ok: bool = True) -> Any:
        """``filehub ARGS`` in this process; returns click's Result (stdout, stderr, exit_code)."""
        result = CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, f"filehub {' '.join(args)} ({self.name}): {result.output}"
        return result

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """``filehub ARGS`` as a process of its own (to kill it)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FILEHUB_")}
        log = (self.home / "spawned.log").open("ab")
        with log:  # the child keeps its own descriptor
            return subprocess.Popen([str(FILEHUB), *args], env={**env, **self.env}, stdout=subprocess.DEVNULL,
                                    stderr=log)

    def spawned_log(self) -> str:
        return (self.home / "spawned.log").read_text(errors="replace")

    def api(self, method: str, path: str, json: Any = None, expect: int = 200) -> Any:
        response = requests.request(method, f"{self.server.url}{path}", json=json, timeout=30,
                                    headers={"Authorization": f"Bearer {self.token}"})
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text[:300]}"
        return response.json() if response.content else None

    def root_public_key(self) -> str:
        return self.api("GET", f"/api/v1/organisations/{self.org_id}/root-key")["public_key"]


def run_admin_commands(env: dict[str, str], commands: list[list[str]]) -> list[str]:
    """The tokens that the create-token commands among ``commands`` printed."""
    done = subprocess.run([str(FILEHUB), "admin", "batch"], input=json.dumps(commands), env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"filehub admin batch failed: {done.stderr}"
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    return [out for args, out in zip(commands, printed, strict=True) if args[0] == "create-token"]


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


class Directory:
    """Organisations with a root key each, and their people, all with certified keys."""

    def __init__(self, server: FilehubServer, base: Path) -> None:
        self.server, self.base = server, base
        self.people: dict[str, Person] = {}
        self.admins: dict[str, Person] = {}  # organisation name -> its admin
        self.roots: dict[str, tuple[str, str]] = {}  # organisation name -> (org id, root public key)

    def __getitem__(self, name: str) -> Person:
        return self.people[name]

    def account(self, name: str, org: str, kind: str, role: str = "member") -> Person:
        return self.accounts([(name, org, kind, role)])[0]

    def accounts(self, specs: list[tuple[str, str, str, str]]) -> list[Person]:
        """(name, organisation, kind, role) -> logged-in people, made in one admin process
        (each ``filehub admin`` start migrates the database first: seconds each)."""
        commands: list[list[str]] = []
        known = set(self.roots) | set(self.admins)
        for name, org, kind, role in specs:
            if org not in known:
                commands.append(["create-org", org, "--kind", kind])
                known.add(org)
            email = f"{name}@{org.replace(' ', '').lower()}.example"
            commands += [["create-user", email, "--org", org, "--role", role], ["create-token", email]]
        tokens = run_admin_commands(self.server.env, commands)
        made = []
        for (name, _, _, _), token in zip(specs, tokens, strict=True):
            person = Person(self.server, name, self.base / "homes" / name, token)
            person.cli("login", "--url", self.server.url, "--token", token)
            me = person.api("GET", "/api/v1/me")
            person.user_id, person.org_id = me["user_id"], me["org_id"]
            self.people[name] = person
            made.append(person)
        return made

    def organisation(self, org: str, kind: str, admin: Person | None = None) -> Person:
        """An organisation, its admin and its root key (published and pinned by the admin)."""
        admin = admin or self.account(f"{kind}-admin", org, kind, "admin")
        for org_id, public_key in self.roots.values():
            admin.cli("trust", "add", org_id, public_key)
        admin.root_key = self.base / f"{kind}-root.key"
        out = admin.cli("keys", "init-org", "--out", str(admin.root_key), "--kdf", "interactive")
        public_key = next(line.split()[-1] for line in out.stdout.splitlines() if line.startswith("public key:"))
        self.admins[org], self.roots[org] = admin, (admin.org_id, public_key)
        for person in self.people.values():  # everyone pins every root, out of band
            if person is not admin:
                person.cli("trust", "add", admin.org_id, public_key)
        return admin

    def member(self, name: str, org: str, *, certify: bool = True, person: Person | None = None) -> Person:
        person = person or self.account(name, org, "n/a")
        for org_id, public_key in self.roots.values():
            person.cli("trust", "add", org_id, public_key)
        person.cli("keys", "init", "--kdf", "interactive")
        if certify:
            self.certify(person, org)
        return person

    def certify(self, person: Person, org: str) -> None:
        admin = self.admins[org]
        admin.cli("keys", "certify", person.user_id, "--root-key", str(admin.root_key), "--yes")


def write_evidence(path: Path, size: int) -> bytes:
    """Random bytes with a distinctive marker every 4 KiB, to scan for later."""
    data = bytearray(os.urandom(size))
    marker = b"FILEHUB-PLAINTEXT-MARKER-" + os.urandom(8).hex().encode()
    for pos in range(0, max(0, size - len(marker)), 4096):
        data[pos : pos + len(marker)] = marker
    path.write_bytes(bytes(data))
    return bytes(data)
