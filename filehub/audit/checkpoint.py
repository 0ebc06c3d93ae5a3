"""Signed checkpoints: C2SP signed-note, tlog-checkpoint and tlog-cosignature (Ed25519).

Pure: takes bytes and keys, does no IO and reads no clock (cosignature timestamps are
passed in). Compatible with Go's golang.org/x/mod/sumdb/note (keys, notes, signatures) and
transparency-dev/formats (cosignature/v1). Specifications:
https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint, https://c2sp.org/tlog-cosignature
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import nacl.exceptions
import nacl.signing

from filehub.audit import VerificationError
from filehub.audit.merkle import HASH_SIZE, MAX_TREE_SIZE, verify_consistency

ALG_ED25519 = 0x01  # signed-note §Signature types: Ed25519 over the note text
ALG_COSIGNATURE_V1 = 0x04  # tlog-cosignature: Ed25519 over "cosignature/v1\ntime T\n" || text
MAX_NOTE_SIZE = 64 * 1024  # bytes; signed-note: verifiers SHOULD limit a note's size
MAX_SIGNATURES = 100  # per note, as Go's sumdb/note (signed-note: MUST accept >= 16)
_SIG_PREFIX = "\u2014 "  # em dash, space
_COSIG_LABEL = b"cosignature/v1\ntime %d\n"
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class MalformedNote(VerificationError):
    """The bytes are not a well-formed signed note (or checkpoint)."""


class MalformedCheckpoint(MalformedNote):
    """The note text is not a tlog-checkpoint body."""


class BadSignature(VerificationError):
    """A signature by a known key does not verify: the note was altered or forged."""


class NotSigned(VerificationError):
    """The note lacks a required signature (no known key, the log key or enough witnesses)."""


class InvalidKey(ValueError):
    """A key string is malformed or its key ID does not match (configuration, not data)."""


# --- keys (signed-note §Signatures; Go note.NewVerifier / NewSigner) ------------------------


def is_valid_key_name(name: str) -> bool:
    """signed-note: non-empty, no Unicode spaces, no "+" (and, in a note, no control char)."""
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def key_id(name: str, alg: int, public_key: bytes) -> int:
    """SHA-256(key name || 0x0A || signature type || public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("not standard base64") from None


def _check_key_fields(name: str, alg: int, key: bytes, what: str) -> None:
    if not is_valid_key_name(name):
        raise InvalidKey(f"invalid key name {name!r}")
    if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise InvalidKey(f"unknown signature type {alg:#04x} for {what} {name!r}")
    if len(key) != 32:
        raise InvalidKey(f"the {what} {name!r} must hold 32 key bytes, not {len(key)}")


@dataclass(frozen=True)
class VerifierKey:
    """A public key with its name: ``<name>+<hex key ID>+<base64(type || key)>``."""

    name: str
    public_key: bytes
    alg: int = ALG_ED25519

    def __post_init__(self) -> None:
        _check_key_fields(self.name, self.alg, self.public_key, "verifier key")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.alg, self.public_key)

    def __str__(self) -> str:
        material = base64.b64encode(bytes([self.alg]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{material}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        name, _, rest = text.partition("+")
        hash16, _, key64 = rest.partition("+")
        try:
            raw = _b64decode(key64)
        except ValueError:
            raw = b""
        if not _HEX8.fullmatch(hash16) or not raw:
            raise InvalidKey(f"malformed verifier key {text!r}")
        _check_key_fields(name, raw[0], raw[1:], "verifier key")
        key = cls(name, raw[1:], raw[0])
        if key.key_id != int(hash16, 16):
            raise InvalidKey(f"the key ID of verifier key {name!r} does not match its key")
        return key

    def check(self, text: bytes, signature: bytes) -> VerifiedSignature | None:
        """The verified signature, or None if ``signature`` (after the key ID) is not valid."""
        timestamp = None
        message = text
        if self.alg == ALG_COSIGNATURE_V1:  # tlog-cosignature: u64 timestamp || signature
            if len(signature) != 8 + 64:
                return None
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp > 2**63 - 1:
                return None
            message, signature = _COSIG_LABEL % timestamp + text, signature[8:]
        if len(signature) != 64:
            return None
        try:
            nacl.signing.VerifyKey(self.public_key).verify(message, signature)
        except (nacl.exceptions.CryptoError, ValueError):
            return None
        return VerifiedSignature(self, timestamp)


@dataclass(frozen=True, repr=False)
class SignerKey:
    """A private key: an Ed25519 seed, the key name and the signature type it signs as."""

    name: str
    seed: bytes = field(repr=False)
    alg: int = ALG_ED25519

    def __post_init__(self) -> None:
        _check_key_fields(self.name, self.alg, self.seed, "signer key")

    def __repr__(self) -> str:  # never the seed
        return f"SignerKey({self.verifier_key})"

    @classmethod
    def generate(cls, name: str, alg: int = ALG_ED25519) -> SignerKey:
        return cls(name, secrets.token_bytes(32), alg)

    @property
    def verifier_key(self) -> VerifierKey:
        public = bytes(nacl.signing.SigningKey(self.seed).verify_key)
        return VerifierKey(self.name, public, self.alg)

    def to_private_string(self) -> str:
        """Go's encoding, ``PRIVATE+KEY+<name>+<hex key ID>+<base64(type || seed)>``: a secret."""
        material = base64.b64encode(bytes([self.alg]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier_key.key_id:08x}+{material}"

    @classmethod
    def parse(cls, text: str) -> SignerKey:
        parts = text.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not _HEX8.fullmatch(parts[3]):
            raise InvalidKey("malformed signer key (expected PRIVATE+KEY+<name>+<id>+<key>)")
        try:
            raw = _b64decode(parts[4])
        except ValueError:
            raw = b""
        if not raw:
            raise InvalidKey("malformed signer key material")
        key = cls(parts[2], raw[1:], raw[0])
        if key.verifier_key.key_id != int(parts[3], 16):  # the ID names the *public* key
            raise InvalidKey(f"the key ID of signer key {parts[2]!r} does not match its key")
        return key

    def sign(self, text: bytes, timestamp: int | None = None) -> NoteSignature:
        """Sign a note text; cosignature/v1 keys need ``timestamp`` (POSIX seconds)."""
        signing_key = nacl.signing.SigningKey(self.seed)
        if self.alg == ALG_COSIGNATURE_V1:
            if timestamp is None or not 0 <= timestamp <= 2**63 - 1:
                raise ValueError("a cosignature/v1 needs a timestamp in [0, 2**63 - 1]")
            body = signing_key.sign(_COSIG_LABEL % timestamp + text).signature
            raw = timestamp.to_bytes(8, "big") + body
        else:
            raw = signing_key.sign(text).signature
        return NoteSignature(self.name, self.verifier_key.key_id, raw)


# --- notes (signed-note §Format) -----------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key ID and the bytes after the key ID."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_id.to_bytes(4, "big") + self.signature).decode()
        return f"{_SIG_PREFIX}{self.name} {blob}\n"

    @classmethod
    def parse(cls, line: str) -> NoteSignature:
        """Parse one line, with or without its final newline."""
        line = line.removesuffix("\n")
        name, _, b64 = line.removeprefix(_SIG_PREFIX).partition(" ")
        try:
            raw = _b64decode(b64)
        except ValueError:
            raw = b""
        if not line.startswith(_SIG_PREFIX) or "\n" in line or not is_valid_key_name(name) or len(raw) < 5:
            raise MalformedNote("malformed signature line")
        return cls(name, int.from_bytes(raw[:4], "big"), raw[4:])


@dataclass(frozen=True)
class VerifiedSignature:
    key: VerifierKey
    timestamp: int | None  # cosignature/v1 only: POSIX seconds the cosigner signed at


@dataclass(frozen=True)
class Note:
    """A note text (ending in a newline) and its signatures, verified or not."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def to_bytes(self) -> bytes:
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode()


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise MalformedNote("a note text must end with a newline")
    if any(c < " " and c != "\n" for c in text):
        raise MalformedNote("a note must not contain control characters other than newline")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedNote("a note text must be valid Unicode") from None


def parse_note(data: bytes) -> Note:
    """Split a signed note into text and signature lines (syntax only, nothing verified)."""
    if len(data) > MAX_NOTE_SIZE:
        raise MalformedNote(f"the note is larger than {MAX_NOTE_SIZE} bytes")
    try:
        message = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedNote("a note must be valid UTF-8") from None
    if any(c < " " and c != "\n" for c in message):
        raise MalformedNote("a note must not contain control characters other than newline")
    split = message.rfind("\n\n")  # the last blank line separates text and signatures
    if split < 0 or not message.endswith("\n") or split + 2 == len(message):
        raise MalformedNote("a note is text, a blank line, then one or more signature lines")
    text, block = message[: split + 1], message[split + 2 : -1]
    lines = block.split("\n")  # only U+000A ends a line (not U+2028, U+0085, ...)
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"the note has more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(NoteSignature.parse(line) for line in lines))


@dataclass(frozen=True)
class OpenedNote:
    text: str
    verified: tuple[VerifiedSignature, ...]
    unverified: tuple[NoteSignature, ...]  # by keys the caller did not name: ignored

    def signed_by(self, key: VerifierKey) -> bool:
        return any(v.key == key for v in self.verified)


def open_note(data: bytes, known: Iterable[VerifierKey]) -> OpenedNote:
    """Verify a signed note against known keys (signed-note §Signatures).

    Signatures by unknown keys are ignored; a known key's bad signature rejects the note;
    at least one known key must have signed. A key is known by its (name, key ID).
    """
    note = parse_note(data)
    keys: dict[tuple[str, int], set[VerifierKey]] = {}
    for key in known:
        keys.setdefault((key.name, key.key_id), set()).add(key)
    text = note.text.encode()
    verified: dict[tuple[str, int], VerifiedSignature] = {}
    unverified: list[NoteSignature] = []
    for sig in note.signatures:
        ident = (sig.name, sig.key_id)
        candidates = keys.get(ident)
        if not candidates:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if len(candidates) > 1:
            raise InvalidKey(f"ambiguous key {sig.name}+{sig.key_id:08x}: two known keys share name and ID")
        if ident in verified:  # a repeated signature by one key: the first one counts
            continue
        checked = next(iter(candidates)).check(text, sig.signature)
        if checked is None:
            raise BadSignature(f"invalid signature for key {sig.name}+{sig.key_id:08x}: the note was altered")
        verified[ident] = checked
    if not verified:
        raise NotSigned("the note has no signature by a known key")
    return OpenedNote(note.text, tuple(verified.values()), tuple(unverified))


def sign_note(text: str, *signers: SignerKey, timestamp: int | None = None) -> bytes:
    """A new signed note: ``text`` (ending in a newline) signed by each signer in turn."""
    _check_text(text)
    if not signers:
        raise ValueError("a signed note needs at least one signer")
    data = Note(text, tuple(s.sign(text.encode(), timestamp) for s in signers)).to_bytes()
    parse_note(data)  # never emit what a verifier would refuse (size, signature count)
    return data


def add_signatures(data: bytes, *signatures: NoteSignature) -> bytes:
    """The note with more signature lines (e.g. witnesses'); a new line replaces an old
    one by the same (name, key ID). Nothing is verified here: open the result to check it."""
    note = parse_note(data)
    new = {(s.name, s.key_id) for s in signatures}
    kept = tuple(s for s in note.signatures if (s.name, s.key_id) not in new)
    merged = Note(note.text, kept + tuple(dict.fromkeys(signatures)))
    result = merged.to_bytes()
    parse_note(result)
    return result


# --- checkpoints (tlog-checkpoint §Note text) -----------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or any(c < " " for c in self.origin):
            raise MalformedCheckpoint("the origin line must be non-empty text")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedCheckpoint("the tree size must be an integer in [0, 2**63 - 1]")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise MalformedCheckpoint("the root hash must be 32 bytes")
        if any(not e or "\n" in e or any(c < " " for c in e) for e in self.extensions):
            raise MalformedCheckpoint("extension lines must be non-empty text")

    def text(self) -> str:
        """The note text: origin, decimal size, base64 root, extensions; each line ends in \\n."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode(), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise MalformedCheckpoint("a checkpoint is at least three lines, each ending in a newline")
        origin, size, root, *extensions = lines[:-1]
        if not _DECIMAL.fullmatch(size):  # ASCII digits, no sign, no leading zero
            raise MalformedCheckpoint(f"the tree size {size!r} is not a canonical decimal")
        try:
            root_hash = _b64decode(root)
        except ValueError:
            raise MalformedCheckpoint("the root hash is not base64") from None
        checkpoint = cls(origin, int(size), root_hash, tuple(extensions))
        if checkpoint.text() != text:
            raise MalformedCheckpoint("the checkpoint is not in canonical form")
        return checkpoint


@dataclass(frozen=True)
class VerifiedCheckpoint:
    checkpoint: Checkpoint
    log_signature: VerifiedSignature
    cosignatures: tuple[VerifiedSignature, ...]  # by the witnesses the caller trusts


def sign_checkpoint(checkpoint: Checkpoint, log_key: SignerKey) -> bytes:
    """The log's signed note for ``checkpoint`` (tlog-checkpoint §Signatures)."""
    if log_key.alg != ALG_ED25519:
        raise ValueError("a log signs checkpoints with an Ed25519 (type 0x01) key")
    return sign_note(checkpoint.text(), log_key)


def cosign_checkpoint(data: bytes, witness_key: SignerKey, timestamp: int | None = None) -> NoteSignature:
    """A witness's signature over a checkpoint note's text (type 0x04 needs ``timestamp``).

    Signs only: the witness must first open the note with the log's key and check that
    the checkpoint is consistent with the largest one it has cosigned for that origin.
    """
    note = parse_note(data)
    Checkpoint.parse(note.text)
    return witness_key.sign(note.text.encode(), timestamp)


def open_checkpoint(
    data: bytes,
    log_key: VerifierKey,
    witnesses: Sequence[VerifierKey] = (),
    *,
    min_cosignatures: int = 0,
    origin: str | None = None,
) -> VerifiedCheckpoint:
    """Verify a checkpoint note: the log's signature is required and must be valid; the
    origin must be ``origin`` (default: the log key's name); at least ``min_cosignatures``
    of ``witnesses`` must have cosigned. Other signatures are ignored."""
    if log_key.alg != ALG_ED25519:
        raise InvalidKey("a log key is an Ed25519 (type 0x01) verifier key")
    opened = open_note(data, [log_key, *witnesses])
    log_signatures = [v for v in opened.verified if v.key == log_key]
    if not log_signatures:
        raise NotSigned(f"the checkpoint is not signed by the log key {log_key.name}+{log_key.key_id:08x}")
    checkpoint = Checkpoint.parse(opened.text)
    expected = log_key.name if origin is None else origin
    if checkpoint.origin != expected:
        raise MalformedCheckpoint(f"the checkpoint is for log {checkpoint.origin!r}, not {expected!r}")
    cosignatures = tuple(v for v in opened.verified if v.key != log_key)
    if len(cosignatures) < min_cosignatures:
        raise NotSigned(f"{len(cosignatures)} trusted witnesses cosigned the checkpoint; {min_cosignatures} are required")
    return VerifiedCheckpoint(checkpoint, log_signatures[0], cosignatures)


def verify_checkpoint_consistency(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> None:
    """Raise unless ``new`` extends ``old``: same log, RFC 9162 §2.1.4.2 consistency proof.

    Same size with another root hash is a fork; a smaller new size is a truncation.
    """
    if old.origin != new.origin:
        raise MalformedCheckpoint(f"checkpoints of different logs: {old.origin!r} and {new.origin!r}")
    verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
