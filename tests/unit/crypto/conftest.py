"""Shared fixtures for the crypto cores: fixed test keys, a file context, certified users."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest

from filehub.crypto import keys as k
from filehub.crypto import stream as s

C = s.CHUNK_SIZE
CT = s.CIPHERTEXT_CHUNK_SIZE
NOW = 1_750_000_000  # POSIX seconds
YEAR = 365 * 24 * 3600
# Lengths around chunk boundaries (age's stream tests), up to three chunks and a bit.
BOUNDARY_LENGTHS = [0, 1, 2, C - 1, C, C + 1, 2 * C - 1, 2 * C, 2 * C + 1, 3 * C - 1, 3 * C, 3 * C + 1]


def secret(role: str) -> bytes:
    return hashlib.sha256(f"filehub unit test: {role}".encode()).digest()


def pattern(length: int, salt: int = 0) -> bytes:
    return bytes((i + salt) % 251 for i in range(length))


FILE_ID = secret("file id")[:16]
FILE_KEY = secret("file key")


def encrypt(cipher: s.PayloadCipher, plaintext: bytes, piece: int | None = None) -> list[bytes]:
    """Ciphertext chunks of ``plaintext``, fed to the Encryptor ``piece`` bytes at a time."""
    encryptor = s.Encryptor(cipher)
    chunks: list[bytes] = []
    step = piece or max(1, len(plaintext))
    for offset in range(0, len(plaintext), step):
        chunks += encryptor.update(plaintext[offset : offset + step])
    chunks.append(encryptor.finish())
    return chunks


@pytest.fixture
def cipher() -> s.PayloadCipher:
    return s.PayloadCipher.for_file(FILE_KEY, FILE_ID, 1)


@dataclass(frozen=True)
class Member:
    identity: k.Identity
    certificate: bytes
    certified: k.CertifiedKey


@dataclass(frozen=True)
class Org:
    org_id: str
    root: k.OrgRootKey

    def identity(self, user_id: str) -> k.Identity:
        return k.Identity(secret(f"{self.org_id}/{user_id} signing"), secret(f"{self.org_id}/{user_id} encryption"))

    def certify(
        self,
        user_id: str,
        *,
        issuer: k.Signer | None = None,
        not_before: int = NOW - YEAR,
        not_after: int = NOW + YEAR,
        may_certify: bool = False,
    ) -> bytes:
        return k.certify(
            self.identity(user_id).public,
            org_id=self.org_id,
            user_id=user_id,
            not_before=not_before,
            not_after=not_after,
            issuer=issuer or self.root,
            may_certify=may_certify,
        )

    def member(self, user_id: str) -> Member:
        """A member certified directly by the root, verified as a client would."""
        cert = self.certify(user_id)
        return Member(
            self.identity(user_id), cert, k.verify_chain(cert, self.root.public_key, org_id=self.org_id, now=NOW)
        )


@pytest.fixture
def police() -> Org:
    return Org("police.example", k.OrgRootKey(secret("police root")))


@pytest.fixture
def defence() -> Org:
    return Org("defence.example", k.OrgRootKey(secret("defence root")))
