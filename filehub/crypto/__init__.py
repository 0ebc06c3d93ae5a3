"""End-to-end encryption: pure client-side cores (stdlib + PyNaCl, no IO, bytes in/bytes out).

- ``filehub.crypto.stream``: HKDF-SHA256, the file keys, and the chunked payload AEAD (age's
  STREAM, made seekable and bound to a file and version) with its closed-form byte mapping.
- ``filehub.crypto.keys``: user identities (X25519 + Ed25519), private keys at rest under a
  passphrase, organisation key certificates and revocations, file keys wrapped to recipients.
- ``filehub.crypto.header``: the uploader-signed header with the encrypted metadata; opening
  it is the only way to get a payload decryptor.

The format is specified in ``docs/format.md``. The server never imports these modules to
decrypt anything: it holds no key that could.

This module holds what every core shares (errors, the object prefix, a strict binary reader)
and imports only the standard library, so importing one core never drags in the others.
"""

from __future__ import annotations


class CryptoError(ValueError):
    """Bad data: bytes that are malformed, fail authentication or name an untrusted key.

    The message is a human diagnostic the CLI prints as is. It never contains a secret or
    a library's own text. Transport failures (the server did not answer) are not CryptoErrors.
    """


class MalformedData(CryptoError):
    """Not a well-formed object of this format, or an unsupported version, suite or size."""


class TamperedData(CryptoError):
    """Failed authentication: a tag, signature or binding does not verify."""


class TruncatedData(TamperedData):
    """The ciphertext ends before its last chunk."""


class TrailingData(TamperedData):
    """There are bytes after the last chunk."""


class WrongKey(CryptoError):
    """A key or wrapped key is well formed and authentic but not the one for this object."""


class WrongPassphrase(CryptoError):
    """A locked private key did not open: the passphrase is wrong or the blob was altered."""


class UntrustedKey(CryptoError):
    """A public key is not certified by the expected organisation, expired or revoked."""


TAMPERED = "the file may be corrupted or tampered with"


# --- the shared binary vocabulary (docs/format.md §2) ---------------------------------------

MAGIC = b"filehub-e2e"  # starts every signed object and the payload AAD
FORMAT_VERSION = 1
# Object types: the byte after magic || format. One registry for the whole format.
TYPE_HEADER, TYPE_WRAPPED_KEY, TYPE_CERTIFICATE, TYPE_REVOCATION = 1, 2, 3, 4
TYPE_LOCKED_IDENTITY, TYPE_LOCKED_ORG_ROOT = 5, 6
PREFIX_SIZE = len(MAGIC) + 2  # 13 bytes
MAX_NAME_SIZE = 256  # bytes of UTF-8 in an org id or user id


def prefix(object_type: int) -> bytes:
    """magic || format || object type: no signature over one kind of object verifies as
    another, nor as a C2SP signed note (a note is text; byte 11 here is 0x01)."""
    return MAGIC + bytes([FORMAT_VERSION, object_type])


def check_name(name: str, what: str = "name") -> str:
    raw = name.encode("utf-8")
    if not 0 < len(raw) <= MAX_NAME_SIZE or any(c < " " or c == "\x7f" for c in name):
        raise ValueError(f"a {what} is 1..{MAX_NAME_SIZE} bytes of UTF-8 without control characters")
    return name


def name_field(name: str) -> bytes:
    """u16 length || UTF-8 (what ``Reader.text`` reads)."""
    raw = check_name(name).encode("utf-8")
    return len(raw).to_bytes(2, "big") + raw


def check_time(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise ValueError(f"{what} is POSIX seconds in [0, 2**64)")


class Reader:
    """Reads a binary object field by field; any shortfall or leftover is MalformedData."""

    def __init__(self, data: bytes, what: str, object_type: int):
        if not isinstance(data, bytes):
            raise TypeError(f"a {what} is bytes")
        self.data, self.what, self.pos = data, what, 0
        if self.take(PREFIX_SIZE) != prefix(object_type):
            raise MalformedData(f"not a {what} (wrong magic, format version or object type)")

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise MalformedData(f"the {self.what} is truncated")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def text(self) -> str:
        """u16 length || UTF-8."""
        raw = self.take(self.uint(2))
        try:
            return check_name(raw.decode("utf-8"), f"name in the {self.what}")
        except ValueError:  # includes UnicodeDecodeError
            raise MalformedData(f"the {self.what} holds an invalid name") from None

    def end(self) -> None:
        if self.pos != len(self.data):
            raise MalformedData(f"the {self.what} has {len(self.data) - self.pos} bytes too many")
