"""The client's home: server URL and token, the locked identity, pinned roots, resume state.

``FILEHUB_CLIENT_HOME`` or ``$XDG_CONFIG_HOME/filehub`` (default ``~/.config/filehub``).
Files that hold a token or a locked key are written 0600 through a temporary file and a
rename, so a crash never leaves half a config behind.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filehub.client import ClientError


def client_home() -> Path:
    explicit = os.environ.get("FILEHUB_CLIENT_HOME")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "filehub"


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        raise ClientError(f"{path} is not valid JSON; remove or fix it") from None
    return value if isinstance(value, dict) else None


def write_json(path: Path, value: dict[str, Any]) -> None:
    write_private(path, json.dumps(value, indent=2, sort_keys=True).encode() + b"\n")


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64d(text: str, what: str = "value") -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise ClientError(f"the {what} is not valid base64") from None


@dataclass
class ClientConfig:
    home: Path
    url: str | None = None
    token: str | None = None
    user_id: str | None = None
    org_id: str | None = None

    @classmethod
    def load(cls, home: Path | None = None) -> ClientConfig:
        home = home or client_home()
        saved = read_json(home / "config.json") or {}
        return cls(home, saved.get("url"), saved.get("token"), saved.get("user_id"), saved.get("org_id"))

    def save(self) -> None:
        values = {"url": self.url, "token": self.token, "user_id": self.user_id, "org_id": self.org_id}
        write_json(self.home / "config.json", values)

    def require_login(self) -> tuple[str, str]:
        token = os.environ.get("FILEHUB_TOKEN") or self.token
        if not self.url or not token:
            raise ClientError("not logged in: run `filehub login --url URL` first")
        return self.url, token

    # where the other things live
    @property
    def identity_path(self) -> Path:
        return self.home / "identity.key"

    @property
    def trust_path(self) -> Path:
        return self.home / "trust.json"

    @property
    def uploads_dir(self) -> Path:
        return self.home / "uploads"
