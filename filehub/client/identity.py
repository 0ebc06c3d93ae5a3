"""The user's locked identity on disk, the pinned organisation roots, and the one way a key
the server sends becomes trusted: ``verify_key`` (``verify_chain`` against a local pin).

The server's copy of a root key is a convenience it could forge; only ``trust.json`` counts,
and a pin changes only when the user says so (``filehub trust add --replace``).
"""

from __future__ import annotations

import getpass
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filehub.client import ClientError
from filehub.client.config import ClientConfig, b64d, b64e, read_json, write_json, write_private
from filehub.crypto import CryptoError
from filehub.crypto.keys import CertifiedKey, Identity, OrgRootKey, key_id, verify_chain

PASSPHRASE_ENV = "FILEHUB_PASSPHRASE"


def fingerprint(key_id_bytes: bytes) -> str:
    """A key id as people compare it aloud: eight groups of four hex digits."""
    text = key_id_bytes.hex()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def passphrase(prompt: str = "Passphrase", *, env: str = PASSPHRASE_ENV, confirm: bool = False) -> str:
    value = os.environ.get(env)
    if value:
        return value
    value = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass(f"{prompt} (again): ") != value:
        raise ClientError("the passphrases do not match")
    if not value:
        raise ClientError("an empty passphrase is not allowed")
    return value


# --- the user's own identity ------------------------------------------------------------------


def save_identity(config: ClientConfig, identity: Identity, secret: str, **limits: int) -> None:
    write_private(config.identity_path, identity.lock(secret, **limits))


def locked_identity(config: ClientConfig) -> bytes:
    try:
        return config.identity_path.read_bytes()
    except FileNotFoundError:
        raise ClientError("no identity on this machine: run `filehub keys init` first") from None


def local_key_id(config: ClientConfig) -> bytes:
    """The key id stored in clear in the locked blob (docs/format.md §7): no passphrase needed."""
    return locked_identity(config)[13:29]


def unlock_identity(config: ClientConfig) -> Identity:
    try:
        return Identity.unlock(locked_identity(config), passphrase("Passphrase for your filehub key"))
    except CryptoError as exc:
        raise ClientError(str(exc)) from None


def unlock_root(path: str) -> OrgRootKey:
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise ClientError(f"cannot read {path}: {exc.strerror}") from None
    secret = passphrase("Passphrase for the organisation root key", env="FILEHUB_ROOT_PASSPHRASE")
    try:
        return OrgRootKey.unlock(blob, secret)
    except CryptoError as exc:
        raise ClientError(str(exc)) from None


def public_key_json(identity: Identity) -> dict[str, str]:
    return {"signing_key": b64e(identity.public.signing_key), "encryption_key": b64e(identity.public.encryption_key)}


# --- pinned organisation roots ---------------------------------------------------------------


@dataclass
class TrustStore:
    config: ClientConfig
    pins: dict[str, str]  # org id -> base64 Ed25519 root public key

    @classmethod
    def load(cls, config: ClientConfig) -> TrustStore:
        return cls(config, dict((read_json(config.trust_path) or {}).get("roots", {})))

    def add(self, org_id: str, public_key_b64: str, *, replace: bool = False) -> bytes:
        raw = b64d(public_key_b64, "root public key")
        if len(raw) != 32:
            raise ClientError("an organisation root key is 32 bytes (base64 of an Ed25519 public key)")
        existing = self.pins.get(org_id)
        if existing is not None and existing != b64e(raw) and not replace:
            raise ClientError(f"organisation {org_id} is pinned to another key; pass --replace if you verified the new one")
        self.pins[org_id] = b64e(raw)
        write_json(self.config.trust_path, {"roots": self.pins})
        return key_id(raw)

    def root(self, org_id: str) -> bytes:
        pinned = self.pins.get(org_id)
        if pinned is None:
            raise ClientError(
                f"organisation {org_id} has no pinned root key: get its fingerprint out of band and run "
                f"`filehub trust add {org_id} KEY`"
            )
        return b64d(pinned, "pinned root key")

    def verify_key(self, key: dict[str, Any], *, now: int | None = None) -> CertifiedKey:
        """A server ``Key`` -> a CertifiedKey, or ClientError saying why it is not trusted."""
        who = f"key {key.get('key_id')} of user {key.get('user_id')}"
        if not key.get("certificate"):
            raise ClientError(f"{who} is not certified by an administrator of its organisation yet")
        root = self.root(key["org_id"])
        try:
            certified = verify_chain(
                b64d(key["certificate"], "certificate"),
                root,
                org_id=key["org_id"],
                now=int(time.time()) if now is None else now,
                intermediates=[b64d(c, "certificate") for c in key.get("intermediates") or []],
                revocations=[b64d(r, "revocation") for r in key.get("revocations") or []],
            )
        except CryptoError as exc:
            raise ClientError(f"{who} is not trusted: {exc}") from None
        if certified.key_id.hex() != key["key_id"] or certified.user_id != key["user_id"]:
            raise ClientError(f"{who}: its certificate names another key or user")
        return certified
