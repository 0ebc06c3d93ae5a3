"""A file's signed objects: the header (with its encrypted metadata) and wrapped-key rows.

The header is canonical binary (docs/format.md §6): fixed-width big-endian fields in a fixed
order, then the sealed metadata, then the uploader's Ed25519 signature over everything before
it. One value has one encoding, a second implementation needs only ``struct``, and there is
no JSON canonicalisation (key order, numbers, Unicode escapes) to get wrong under a signature.
The metadata inside is JSON (extensible, never parsed before it authenticates), sealed with a
synthetic nonce (SIV-style: HMAC of the plaintext), so re-sealing edited metadata under the
same file key can never reuse a nonce, and the header needs no randomness.

``open_header`` checks the signature, then the key commitment against the file key, then the
metadata, and only then hands out the payload decryptor: no payload byte before all three.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import nacl.bindings
import nacl.exceptions
import nacl.public

from filehub.crypto import (
    PREFIX_SIZE,
    TAMPERED,
    TYPE_HEADER,
    TYPE_WRAPPED_KEY,
    MalformedData,
    Reader,
    TamperedData,
    UntrustedKey,
    WrongKey,
    prefix,
)
from filehub.crypto.keys import KEY_ID_SIZE, SIGNATURE_SIZE, CertifiedKey, Identity, verify_signature
from filehub.crypto.stream import (
    CHUNK_SIZE,
    FILE_ID_SIZE,
    KEY_SIZE,
    NONCE_SIZE,
    SUITE,
    TAG_SIZE,
    Decryptor,
    FileKeys,
    Layout,
    PayloadCipher,
    check_file_id,
    check_version,
)

MAX_METADATA_SIZE = 64 * 1024  # bytes of metadata JSON
SHA256_SIZE = 32
METADATA_FIELDS = frozenset({"name", "media_type", "plaintext_sha256", "exhibit"})
SEALED_BOX_OVERHEAD = nacl.bindings.crypto_box_SEALBYTES  # 48: ephemeral X25519 key + Poly1305 tag
SEALED_FILE_KEY_SIZE = SEALED_BOX_OVERHEAD + KEY_SIZE + FILE_ID_SIZE + 4  # FK || file_id || version: 100 bytes
WRAPPED_KEY_SIZE = PREFIX_SIZE + FILE_ID_SIZE + 4 + 2 * KEY_ID_SIZE + SEALED_FILE_KEY_SIZE + SIGNATURE_SIZE  # 229 bytes


# --- metadata ------------------------------------------------------------------------------


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")
    return dict(pairs)


@dataclass(frozen=True)
class Metadata:
    """What only recipients may read: the evidence's name, type, digest and exhibit details.
    ``name`` is the uploader's file name: sanitise it before using it as a path."""

    name: str
    media_type: str
    plaintext_sha256: bytes
    exhibit: Mapping[str, str] = field(default_factory=dict)  # reference, captured_at, device, ...

    def __post_init__(self) -> None:
        strings = [self.name, self.media_type]
        if isinstance(self.exhibit, Mapping):
            strings += [*self.exhibit.keys(), *self.exhibit.values()]
        if not all(isinstance(s, str) for s in strings) or not isinstance(self.exhibit, Mapping):
            raise ValueError("metadata holds strings, and exhibit details map strings to strings")
        if not isinstance(self.plaintext_sha256, bytes) or len(self.plaintext_sha256) != SHA256_SIZE:
            raise ValueError("the plaintext SHA-256 is 32 bytes")

    def to_json(self) -> bytes:
        """Canonical (sorted keys, no spaces, UTF-8) so that vectors are reproducible."""
        value = {
            "name": self.name,
            "media_type": self.media_type,
            "plaintext_sha256": self.plaintext_sha256.hex(),
            "exhibit": dict(self.exhibit),
        }
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        if len(data) > MAX_METADATA_SIZE:
            raise ValueError(f"the metadata is larger than {MAX_METADATA_SIZE} bytes of JSON")
        return data

    @classmethod
    def from_json(cls, data: bytes) -> Metadata:
        try:
            value = json.loads(data.decode("utf-8"), object_pairs_hook=_reject_duplicates)
            if not isinstance(value, dict) or set(value) != METADATA_FIELDS:
                raise ValueError("unexpected fields")
            digest = value["plaintext_sha256"]
            if not isinstance(digest, str) or digest != digest.lower():
                raise ValueError("digest is not lowercase hex")
            return cls(value["name"], value["media_type"], bytes.fromhex(digest), value["exhibit"])
        except (ValueError, TypeError, AttributeError):  # JSONDecodeError is a ValueError
            raise MalformedData("the header's metadata is not the expected JSON object") from None


# --- header --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    file_id: bytes
    version: int
    plaintext_length: int
    key_commitment: bytes
    uploader_key_id: bytes
    metadata_nonce: bytes
    metadata_ciphertext: bytes  # metadata JSON + 16-byte tag
    signature: bytes = b""

    def fields(self) -> bytes:
        """The fixed part (95 bytes); also the AAD of the metadata."""
        return (
            prefix(TYPE_HEADER)
            + SUITE.to_bytes(2, "big")
            + CHUNK_SIZE.to_bytes(4, "big")
            + self.file_id
            + self.version.to_bytes(4, "big")
            + self.plaintext_length.to_bytes(8, "big")
            + self.key_commitment
            + self.uploader_key_id
        )

    def body(self) -> bytes:
        """What the uploader signs."""
        sealed = self.metadata_nonce + self.metadata_ciphertext
        return self.fields() + len(sealed).to_bytes(4, "big") + sealed

    def encode(self) -> bytes:
        return self.body() + self.signature

    @property
    def layout(self) -> Layout:
        return Layout(self.plaintext_length)

    @classmethod
    def decode(cls, data: bytes) -> Header:
        r = Reader(data, "file header", TYPE_HEADER)
        suite, chunk_size = r.uint(2), r.uint(4)
        if suite != SUITE or chunk_size != CHUNK_SIZE:
            raise MalformedData(f"unsupported cipher suite {suite} or chunk size {chunk_size}")
        file_id, version, length = r.take(FILE_ID_SIZE), r.uint(4), r.uint(8)
        commitment, uploader = r.take(KEY_SIZE), r.take(KEY_ID_SIZE)
        sealed_size = r.uint(4)
        if not NONCE_SIZE + TAG_SIZE <= sealed_size <= NONCE_SIZE + TAG_SIZE + MAX_METADATA_SIZE:
            raise MalformedData("the header's metadata has an impossible size")
        nonce, ciphertext = r.take(NONCE_SIZE), r.take(sealed_size - NONCE_SIZE)
        header = cls(file_id, version, length, commitment, uploader, nonce, ciphertext, r.take(SIGNATURE_SIZE))
        r.end()
        return header


def _metadata_nonce(keys: FileKeys, plaintext: bytes) -> bytes:
    return hmac.new(keys.metadata_nonce_key, plaintext, hashlib.sha256).digest()[:NONCE_SIZE]


def seal_header(
    file_key: bytes, *, file_id: bytes, version: int, plaintext_length: int, metadata: Metadata, uploader: Identity
) -> bytes:
    """The signed header of a payload encrypted under ``file_key`` (see ``Encryptor``)."""
    keys = FileKeys.derive(file_key, file_id, version)
    Layout(plaintext_length)  # validates the length
    plaintext = metadata.to_json()
    nonce = _metadata_nonce(keys, plaintext)
    header = Header(file_id, version, plaintext_length, keys.key_commitment, uploader.key_id, nonce, b"")
    ciphertext = nacl.bindings.crypto_aead_chacha20poly1305_ietf_encrypt(
        plaintext, header.fields(), nonce, keys.metadata_key
    )
    header = replace(header, metadata_ciphertext=ciphertext)
    return header.body() + uploader.sign(header.body())


@dataclass(frozen=True)
class OpenedHeader:
    """A header whose signature, key commitment and metadata verified: the way to the payload."""

    header: Header
    metadata: Metadata
    uploader: CertifiedKey
    cipher: PayloadCipher = field(repr=False)

    @property
    def layout(self) -> Layout:
        return self.header.layout

    def decryptor(self, start: int = 0, stop: int | None = None) -> Decryptor:
        """Plaintext [start, stop); over the whole file ``finish()`` also checks the SHA-256."""
        whole = start == 0 and stop in (None, self.header.plaintext_length)
        digest = self.metadata.plaintext_sha256 if whole else None
        return Decryptor(self.cipher, self.header.plaintext_length, start, stop, expected_sha256=digest)

    def open_chunk(self, index: int, ciphertext: bytes) -> bytes:
        """Chunk ``index`` alone (its last-chunk flag comes from the signed length)."""
        return self.cipher.open_chunk(index, ciphertext, last=self.layout.is_last(index))


def open_header(
    data: bytes, *, file_key: bytes, uploader: CertifiedKey, file_id: bytes, version: int | None = None
) -> OpenedHeader:
    """Verify a header for the requested file: signature, then key commitment, then metadata."""
    check_file_id(file_id)
    header = Header.decode(data)
    if header.file_id != file_id or version is not None and header.version != version:
        raise TamperedData(
            f"the header is for file {header.file_id.hex()} version {header.version}, not the one requested"
        )
    if header.uploader_key_id != uploader.key_id:
        raise UntrustedKey(
            f"the header is signed by key {header.uploader_key_id.hex()}, not the uploader's certified key"
        )
    if not verify_signature(uploader.identity.signing_key, header.body(), header.signature):
        raise TamperedData(f"the header's signature does not verify: {TAMPERED}")
    keys = FileKeys.derive(file_key, header.file_id, header.version)
    if not keys.commits_to(header.key_commitment):
        raise WrongKey(
            "the file key does not match the header's key commitment: "
            "the wrapped key was substituted or is for another file"
        )
    try:
        plaintext = nacl.bindings.crypto_aead_chacha20poly1305_ietf_decrypt(
            header.metadata_ciphertext, header.fields(), header.metadata_nonce, keys.metadata_key
        )
    except nacl.exceptions.CryptoError:
        raise TamperedData(f"the header's metadata failed authentication: {TAMPERED}") from None
    if not hmac.compare_digest(_metadata_nonce(keys, plaintext), header.metadata_nonce):
        raise TamperedData(f"the header's metadata nonce is not the one its content derives: {TAMPERED}")
    return OpenedHeader(header, Metadata.from_json(plaintext), uploader, PayloadCipher(keys))


# --- wrapped file keys: one signed row per recipient ----------------------------------------


@dataclass(frozen=True)
class WrappedKey:
    """One recipient's row: the file key sealed to their X25519 key, signed by the granter."""

    file_id: bytes
    version: int
    recipient_key_id: bytes
    granter_key_id: bytes
    sealed_key: bytes  # crypto_box_seal(FK || file_id || u32 version, recipient X25519 key)
    signature: bytes = b""

    def body(self) -> bytes:
        return (
            prefix(TYPE_WRAPPED_KEY)
            + self.file_id
            + self.version.to_bytes(4, "big")
            + self.recipient_key_id
            + self.granter_key_id
            + self.sealed_key
        )

    def encode(self) -> bytes:
        return self.body() + self.signature

    @classmethod
    def create(
        cls, file_id: bytes, version: int, recipient_key_id: bytes, sealed_key: bytes, granter: Identity
    ) -> WrappedKey:
        check_file_id(file_id)
        check_version(version)
        if len(sealed_key) != SEALED_FILE_KEY_SIZE or len(recipient_key_id) != KEY_ID_SIZE:
            raise ValueError("a wrapped key holds a 16-byte key id and a 100-byte sealed box")
        row = cls(file_id, version, recipient_key_id, granter.key_id, sealed_key)
        return replace(row, signature=granter.sign(row.body()))

    @classmethod
    def decode(cls, data: bytes) -> WrappedKey:
        r = Reader(data, "wrapped file key", TYPE_WRAPPED_KEY)
        row = cls(
            r.take(FILE_ID_SIZE),
            r.uint(4),
            r.take(KEY_ID_SIZE),
            r.take(KEY_ID_SIZE),
            r.take(SEALED_FILE_KEY_SIZE),
            r.take(SIGNATURE_SIZE),
        )
        r.end()
        return row


def wrap_file_key(
    file_key: bytes, *, file_id: bytes, version: int, recipient: CertifiedKey, granter: Identity
) -> bytes:
    """The row that gives ``recipient`` (a verified certificate, never a bare key) the file key."""
    if not isinstance(recipient, CertifiedKey):
        raise TypeError("wrap keys only to a CertifiedKey from verify_chain (never trust on first use)")
    if len(file_key) != KEY_SIZE:
        raise ValueError(f"a file key is {KEY_SIZE} bytes")
    check_file_id(file_id)
    check_version(version)
    box = nacl.public.SealedBox(nacl.public.PublicKey(recipient.identity.encryption_key))
    sealed = box.encrypt(file_key + file_id + version.to_bytes(4, "big"))
    return WrappedKey.create(file_id, version, recipient.key_id, sealed, granter).encode()


def unwrap_file_key(row: bytes, *, recipient: Identity, granter: CertifiedKey, file_id: bytes, version: int) -> bytes:
    """The file key from ``row``: for this file, version and recipient, signed by ``granter``.
    Check it next against the header's key commitment (``header.open_header`` does)."""
    check_file_id(file_id)
    check_version(version)
    wrapped = WrappedKey.decode(row)
    if wrapped.file_id != file_id or wrapped.version != version:
        raise WrongKey(f"the wrapped key is for file {wrapped.file_id.hex()} version {wrapped.version}, not this one")
    if wrapped.recipient_key_id != recipient.key_id:
        raise WrongKey("the wrapped key is sealed to another recipient's key")
    if wrapped.granter_key_id != granter.key_id:
        raise UntrustedKey("the wrapped key was signed by another key than the expected granter's")
    if not verify_signature(granter.identity.signing_key, wrapped.body(), wrapped.signature):
        raise TamperedData(f"the wrapped key's signature does not verify: {TAMPERED}")
    try:
        opened = recipient.open_sealed(wrapped.sealed_key)
    except nacl.exceptions.CryptoError:
        raise TamperedData(f"the wrapped key does not open with your key: {TAMPERED}") from None
    if opened[KEY_SIZE:] != file_id + version.to_bytes(4, "big"):
        raise TamperedData(f"the sealed key inside the row belongs to another file or version: {TAMPERED}")
    return opened[:KEY_SIZE]
