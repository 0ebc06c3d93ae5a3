"""Identities, private keys at rest, organisation certificates and revocations.

- A user identity is an Ed25519 signing key and an X25519 encryption key, named by a key id.
- Private keys rest under a passphrase: Argon2id (parameters stored with the blob) + secretbox.
- An organisation root key (Ed25519) certifies members' identities, directly or through an
  administrator's identity it certified with the "may certify" flag; chains are at most two
  certificates deep. ``verify_chain`` is what a client calls before trusting any peer key,
  and the only maker of ``CertifiedKey`` (what wrapping and verifying take).
- A revocation is a signed statement that a key id is untrusted from a given time.

Binary, fixed-order, big-endian, each object opened by ``magic || format || type``
(docs/format.md §2, §7-§9): one encoding per value, so what is signed is unambiguous.
Pure: no IO, no clock; callers pass the time (``now``, POSIX seconds).
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Self

import nacl.exceptions
import nacl.public
import nacl.pwhash.argon2id as argon2id
import nacl.secret
import nacl.signing

from filehub.crypto import (
    TAMPERED,
    TYPE_CERTIFICATE,
    TYPE_LOCKED_IDENTITY,
    TYPE_LOCKED_ORG_ROOT,
    TYPE_REVOCATION,
    MalformedData,
    Reader,
    TamperedData,
    UntrustedKey,
    WrongPassphrase,
    check_name,
    check_time,
    name_field,
    prefix,
)

PUBLIC_KEY_SIZE = 32  # Ed25519 and X25519 public keys, Ed25519 seeds, X25519 secrets
SIGNATURE_SIZE = 64  # Ed25519
KEY_ID_SIZE = 16  # truncated SHA-256: collisions need ~2**64 keys
INFO_KEY_ID = b"filehub-e2e/v1 key id"

REASON_UNSPECIFIED, REASON_KEY_COMPROMISE, REASON_SUPERSEDED, REASON_LEFT_ORGANISATION = 0, 1, 2, 3
FLAG_MAY_CERTIFY = 0x01

ARGON2ID_OPSLIMIT = argon2id.OPSLIMIT_MODERATE  # 3 passes
ARGON2ID_MEMLIMIT = argon2id.MEMLIMIT_MODERATE  # 256 MiB
MAX_ARGON2ID_OPSLIMIT = 16  # a blob may not demand more work than this (a tampered blob as DoS)
MAX_ARGON2ID_MEMLIMIT = argon2id.MEMLIMIT_SENSITIVE  # 1 GiB
SALT_SIZE = argon2id.SALTBYTES  # 16
SECRETBOX_NONCE_SIZE = nacl.secret.SecretBox.NONCE_SIZE  # 24


def key_id(signing_key: bytes, encryption_key: bytes = b"") -> bytes:
    """SHA-256(info || Ed25519 public key || X25519 public key (identities only))[:16]."""
    return hashlib.sha256(INFO_KEY_ID + signing_key + encryption_key).digest()[:KEY_ID_SIZE]


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


# --- identities and private keys at rest ---------------------------------------------------


@dataclass(frozen=True)
class PublicIdentity:
    signing_key: bytes  # Ed25519
    encryption_key: bytes  # X25519

    def __post_init__(self) -> None:
        if len(self.signing_key) != PUBLIC_KEY_SIZE or len(self.encryption_key) != PUBLIC_KEY_SIZE:
            raise ValueError(f"identity public keys are {PUBLIC_KEY_SIZE} bytes each")

    @property
    def key_id(self) -> bytes:
        return key_id(self.signing_key, self.encryption_key)


class _PrivateKey:
    """Private key material that signs, and rests under a passphrase (docs/format.md §7):
    prefix || key id || u64 opslimit || u64 memlimit || salt || nonce || secretbox(secret)."""

    LOCK_TYPE: ClassVar[int]
    SECRET_SIZE: ClassVar[int]  # bytes; the Ed25519 seed comes first

    @property
    def key_id(self) -> bytes:
        raise NotImplementedError

    def secret(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def from_secret(cls, secret: bytes) -> Self:
        raise NotImplementedError

    def sign(self, message: bytes) -> bytes:
        return nacl.signing.SigningKey(self.secret()[:PUBLIC_KEY_SIZE]).sign(message).signature

    def __repr__(self) -> str:  # never a secret
        return f"{type(self).__name__}(key_id={self.key_id.hex()})"

    def lock(
        self,
        passphrase: str,
        *,
        opslimit: int = ARGON2ID_OPSLIMIT,
        memlimit: int = ARGON2ID_MEMLIMIT,
        random: Callable[[int], bytes] = secrets.token_bytes,  # injectable for test vectors only
    ) -> bytes:
        if not _limits_ok(opslimit, memlimit):
            raise ValueError("Argon2id limits are outside the range this format accepts")
        salt, nonce = random(SALT_SIZE), random(SECRETBOX_NONCE_SIZE)
        box = nacl.secret.SecretBox(_passphrase_key(passphrase, salt, opslimit, memlimit))
        limits = opslimit.to_bytes(8, "big") + memlimit.to_bytes(8, "big")
        return (
            prefix(self.LOCK_TYPE) + self.key_id + limits + salt + nonce + box.encrypt(self.secret(), nonce).ciphertext
        )

    @classmethod
    def unlock(cls, blob: bytes, passphrase: str) -> Self:
        r = Reader(blob, "locked private key", cls.LOCK_TYPE)
        stored_id, opslimit, memlimit = r.take(KEY_ID_SIZE), r.uint(8), r.uint(8)
        salt, nonce, sealed = r.take(SALT_SIZE), r.take(SECRETBOX_NONCE_SIZE), r.take(cls.SECRET_SIZE + 16)
        r.end()
        if not _limits_ok(opslimit, memlimit):  # before any work: a tampered blob must not demand hours
            raise MalformedData("the locked private key asks for Argon2id limits outside the accepted range")
        box = nacl.secret.SecretBox(_passphrase_key(passphrase, salt, opslimit, memlimit))
        try:
            key = cls.from_secret(box.decrypt(sealed, nonce))
        except nacl.exceptions.CryptoError:
            raise WrongPassphrase("the passphrase is wrong, or the locked private key was altered") from None
        if key.key_id != stored_id:
            raise MalformedData("the locked private key's key id does not match its keys")
        return key


def _passphrase_key(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    if not isinstance(passphrase, str) or not passphrase:
        raise ValueError("a passphrase is a non-empty string")
    password = unicodedata.normalize("NFC", passphrase).encode("utf-8")  # same bytes on every OS
    return argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, password, salt, opslimit, memlimit)


def _limits_ok(opslimit: int, memlimit: int) -> bool:
    ops_ok = argon2id.OPSLIMIT_MIN <= opslimit <= MAX_ARGON2ID_OPSLIMIT
    return ops_ok and argon2id.MEMLIMIT_MIN <= memlimit <= MAX_ARGON2ID_MEMLIMIT


@dataclass(frozen=True, repr=False)
class Identity(_PrivateKey):
    """A user's private keys: an Ed25519 seed and an X25519 secret key."""

    LOCK_TYPE: ClassVar[int] = TYPE_LOCKED_IDENTITY
    SECRET_SIZE: ClassVar[int] = 2 * PUBLIC_KEY_SIZE
    signing_seed: bytes
    encryption_secret: bytes

    @classmethod
    def generate(cls) -> Identity:
        return cls(secrets.token_bytes(PUBLIC_KEY_SIZE), secrets.token_bytes(PUBLIC_KEY_SIZE))

    def secret(self) -> bytes:
        return self.signing_seed + self.encryption_secret

    @classmethod
    def from_secret(cls, secret: bytes) -> Self:
        return cls(secret[:PUBLIC_KEY_SIZE], secret[PUBLIC_KEY_SIZE:])

    @cached_property
    def public(self) -> PublicIdentity:
        signing = bytes(nacl.signing.SigningKey(self.signing_seed).verify_key)
        encryption = bytes(nacl.public.PrivateKey(self.encryption_secret).public_key)
        return PublicIdentity(signing, encryption)

    @property
    def key_id(self) -> bytes:
        return self.public.key_id

    def open_sealed(self, sealed: bytes) -> bytes:
        return nacl.public.SealedBox(nacl.public.PrivateKey(self.encryption_secret)).decrypt(sealed)


@dataclass(frozen=True, repr=False)
class OrgRootKey(_PrivateKey):
    """An organisation's root signing key (Ed25519): the trust anchor other clients pin."""

    LOCK_TYPE: ClassVar[int] = TYPE_LOCKED_ORG_ROOT
    SECRET_SIZE: ClassVar[int] = PUBLIC_KEY_SIZE
    seed: bytes

    @classmethod
    def generate(cls) -> OrgRootKey:
        return cls(secrets.token_bytes(PUBLIC_KEY_SIZE))

    def secret(self) -> bytes:
        return self.seed

    @classmethod
    def from_secret(cls, secret: bytes) -> Self:
        return cls(secret)

    @cached_property
    def public_key(self) -> bytes:
        return bytes(nacl.signing.SigningKey(self.seed).verify_key)

    @property
    def key_id(self) -> bytes:
        return key_id(self.public_key)


Signer = Identity | OrgRootKey


# --- organisation certificates and revocations ---------------------------------------------


@dataclass(frozen=True)
class Certificate:
    """An issuer's statement: in ``org_id``, ``user_id`` holds ``subject`` from not_before
    (inclusive) to not_after (exclusive); ``may_certify`` lets it certify other members."""

    org_id: str
    user_id: str
    subject: PublicIdentity
    not_before: int
    not_after: int
    may_certify: bool
    issuer_key_id: bytes
    signature: bytes = b""

    def body(self) -> bytes:
        return (
            prefix(TYPE_CERTIFICATE)
            + bytes([FLAG_MAY_CERTIFY if self.may_certify else 0])
            + self.not_before.to_bytes(8, "big")
            + self.not_after.to_bytes(8, "big")
            + self.issuer_key_id
            + self.subject.signing_key
            + self.subject.encryption_key
            + name_field(self.org_id)
            + name_field(self.user_id)
        )

    def encode(self) -> bytes:
        return self.body() + self.signature

    @classmethod
    def decode(cls, data: bytes) -> Certificate:
        r = Reader(data, "key certificate", TYPE_CERTIFICATE)
        flags, not_before, not_after, issuer = r.uint(1), r.uint(8), r.uint(8), r.take(KEY_ID_SIZE)
        subject = PublicIdentity(r.take(PUBLIC_KEY_SIZE), r.take(PUBLIC_KEY_SIZE))
        org_id, user_id, signature = r.text(), r.text(), r.take(SIGNATURE_SIZE)
        r.end()
        if flags & ~FLAG_MAY_CERTIFY or not_before >= not_after:
            raise MalformedData("the key certificate has unknown flags or an empty validity period")
        return cls(org_id, user_id, subject, not_before, not_after, bool(flags), issuer, signature)


@dataclass(frozen=True)
class CertifiedKey:
    """A peer identity whose certificate chain verified. Only ``verify_chain`` makes these."""

    org_id: str
    user_id: str
    identity: PublicIdentity
    not_before: int
    not_after: int
    may_certify: bool

    @property
    def key_id(self) -> bytes:
        return self.identity.key_id


def certify(
    subject: PublicIdentity,
    *,
    org_id: str,
    user_id: str,
    not_before: int,
    not_after: int,
    issuer: Signer,
    may_certify: bool = False,
) -> bytes:
    """A certificate for ``subject``, signed by the org root key or a certifying admin."""
    check_time(not_before, "not_before")
    check_time(not_after, "not_after")
    if not_before >= not_after:
        raise ValueError("a certificate's validity period must not be empty")
    cert = Certificate(
        check_name(org_id), check_name(user_id), subject, not_before, not_after, may_certify, issuer.key_id
    )
    return cert.body() + issuer.sign(cert.body())


@dataclass(frozen=True)
class Revocation:
    subject_key_id: bytes
    effective_from: int  # POSIX seconds; the key is untrusted at and after this time
    reason: int
    signer_key_id: bytes
    signature: bytes = b""

    def body(self) -> bytes:
        return (
            prefix(TYPE_REVOCATION)
            + self.subject_key_id
            + self.effective_from.to_bytes(8, "big")
            + bytes([self.reason])
            + self.signer_key_id
        )

    @classmethod
    def decode(cls, data: bytes) -> Revocation:
        r = Reader(data, "revocation", TYPE_REVOCATION)
        revocation = cls(r.take(KEY_ID_SIZE), r.uint(8), r.uint(1), r.take(KEY_ID_SIZE), r.take(SIGNATURE_SIZE))
        r.end()
        if revocation.reason > REASON_LEFT_ORGANISATION:
            raise MalformedData(f"unknown revocation reason {revocation.reason}")
        return revocation


def revoke(subject_key_id: bytes, *, effective_from: int, signer: Signer, reason: int = REASON_UNSPECIFIED) -> bytes:
    """A revocation of ``subject_key_id``, signed by the org root, the issuer or the key itself."""
    check_time(effective_from, "effective_from")
    if len(subject_key_id) != KEY_ID_SIZE or not 0 <= reason <= REASON_LEFT_ORGANISATION:
        raise ValueError("a revocation needs a 16-byte key id and a known reason")
    statement = Revocation(subject_key_id, effective_from, reason, signer.key_id)
    return statement.body() + signer.sign(statement.body())


def _revoked_ids(revocations: Sequence[bytes], signers: dict[bytes, bytes], now: int) -> dict[bytes, set[bytes]]:
    """subject key id -> ids of trusted keys that validly revoked it, effective at ``now``."""
    revoked: dict[bytes, set[bytes]] = {}
    for data in revocations:
        statement = Revocation.decode(data)
        public_key = signers.get(statement.signer_key_id)
        if public_key is None or statement.effective_from > now:
            continue  # not ours to judge, or not yet in force
        if not verify_signature(public_key, statement.body(), statement.signature):
            raise TamperedData(f"a revocation by key {statement.signer_key_id.hex()} does not verify: {TAMPERED}")
        revoked.setdefault(statement.subject_key_id, set()).add(statement.signer_key_id)
    return revoked


def _check_certificate(cert: Certificate, issuer_public_key: bytes, now: int, what: str) -> None:
    if not verify_signature(issuer_public_key, cert.body(), cert.signature):
        raise TamperedData(f"the {what} certificate's signature does not verify: {TAMPERED}")
    if not cert.not_before <= now < cert.not_after:
        state = "not yet valid" if now < cert.not_before else "expired"
        raise UntrustedKey(f"the {what} certificate for {cert.user_id!r} in {cert.org_id!r} is {state}")


def _certifying_admin(cert: Certificate, org_root_key: bytes, intermediates: Sequence[bytes], now: int) -> Certificate:
    """The administrator certificate (signed by the root) that issued ``cert``."""
    root_id, problem = key_id(org_root_key), None
    for admin in map(Certificate.decode, intermediates):
        if admin.subject.key_id != cert.issuer_key_id or admin.issuer_key_id != root_id:
            continue
        try:
            _check_certificate(admin, org_root_key, now, "administrator's")
        except (TamperedData, UntrustedKey) as exc:
            problem = problem or exc
            continue
        if admin.may_certify and admin.org_id == cert.org_id:
            return admin
        problem = problem or UntrustedKey(f"{admin.user_id!r} may not certify keys in {cert.org_id!r}")
    raise problem or UntrustedKey(f"the certificate for {cert.user_id!r} does not chain to the organisation's root key")


def verify_chain(
    certificate: bytes,
    org_root_key: bytes,
    *,
    org_id: str,
    now: int,
    intermediates: Sequence[bytes] = (),
    revocations: Sequence[bytes] = (),
) -> CertifiedKey:
    """Trust a member of ``org_id`` only if that organisation's root key (pinned with its
    org id, never learnt from the server) certified it, directly or through one
    administrator it certified with ``may_certify``; every certificate valid at ``now``;
    none revoked (by the root, the certificate's issuer or the key itself) with effect at or
    before ``now``. A root key vouches only for its own organisation's id."""
    check_time(now, "now")
    if not isinstance(org_root_key, bytes) or len(org_root_key) != PUBLIC_KEY_SIZE:
        raise ValueError(f"an organisation root key is a {PUBLIC_KEY_SIZE}-byte Ed25519 public key")
    root_id = key_id(org_root_key)
    cert = Certificate.decode(certificate)
    chain, issuer_key = [cert], org_root_key
    if cert.issuer_key_id != root_id:
        admin = _certifying_admin(cert, org_root_key, intermediates, now)
        chain, issuer_key = [cert, admin], admin.subject.signing_key
    _check_certificate(cert, issuer_key, now, "member's")
    if cert.org_id != org_id:
        raise UntrustedKey(f"the key of {cert.user_id!r} is certified by {cert.org_id!r}, not {org_id!r}")
    signers = {root_id: org_root_key, **{c.subject.key_id: c.subject.signing_key for c in chain}}
    revoked = _revoked_ids(revocations, signers, now)
    for link in chain:  # each revocable by the root, its issuer or itself
        if revoked.get(link.subject.key_id, set()) & {root_id, link.issuer_key_id, link.subject.key_id}:
            raise UntrustedKey(f"the key of {link.user_id!r} in {link.org_id!r} has been revoked")
    return CertifiedKey(cert.org_id, cert.user_id, cert.subject, cert.not_before, cert.not_after, cert.may_certify)
