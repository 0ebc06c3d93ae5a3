"""tus 1.0.0 header parsing and formatting (pure: strings in, values out).

Section names refer to https://tus.io/protocols/resumable-upload (tus 1.0.0).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Literal, Protocol

from filehub.errors import BadRequest, UnsupportedChecksumAlgorithm

TUS_VERSION = "1.0.0"
SUPPORTED_VERSIONS = (TUS_VERSION,)
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"  # core: PATCH body type

# Headers a browser client must be allowed to read (CORS Access-Control-Expose-Headers).
EXPOSED_HEADERS = (
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Expires",
    "Upload-Concat",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Filehub-File-Id",
)
ALLOWED_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Checksum",
    "Upload-Concat",
    "Tus-Resumable",
    "X-HTTP-Method-Override",
    "X-Requested-With",
)

_MAX_INT_DIGITS = 19  # fits a signed 64-bit integer; longer values are refused unparsed
_DIGITS = re.compile(r"^[0-9]{1,%d}$" % _MAX_INT_DIGITS)
_METADATA_KEY = re.compile(r"^[\x21-\x2b\x2d-\x7e]+$")  # printable ASCII minus space and comma


def parse_non_negative(name: str, value: str | None) -> int | None:
    """Upload-Offset / Upload-Length: a non-negative decimal integer (core protocol §Headers)."""
    if value is None:
        return None
    value = value.strip()
    if not _DIGITS.match(value):
        raise BadRequest(f"{name} must be a non-negative integer")
    return int(value)


def parse_defer_length(value: str | None) -> bool:
    """creation-defer-length: the only allowed value is 1."""
    if value is None:
        return False
    if value.strip() != "1":
        raise BadRequest("Upload-Defer-Length must be 1")
    return True


# --- Upload-Metadata (creation extension) ---------------------------------------------------


def parse_metadata(header: str | None, max_size: int) -> dict[str, str | None]:
    """Comma-separated ``key base64value`` pairs; the value may be absent.

    Values stay base64-encoded (as the client sent them) so that HEAD can echo them byte for
    byte; ``metadata_text`` decodes one when the server needs it.
    """
    if header is None or not header.strip():
        return {}
    if len(header) > max_size:
        raise BadRequest(f"Upload-Metadata is longer than {max_size} bytes")
    pairs: dict[str, str | None] = {}
    for element in header.split(","):
        parts = element.strip().split(" ")
        if not 1 <= len(parts) <= 2 or not _METADATA_KEY.match(parts[0]):
            raise BadRequest("Upload-Metadata must be comma-separated 'key base64value' pairs")
        key = parts[0]
        if key in pairs:
            raise BadRequest(f"Upload-Metadata key {key!r} is repeated")
        value = parts[1] if len(parts) == 2 else None
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error:
                raise BadRequest(f"Upload-Metadata value of {key!r} is not base64") from None
        pairs[key] = value
    return pairs


def format_metadata(metadata: dict[str, str | None]) -> str:
    return ",".join(key if value is None else f"{key} {value}" for key, value in metadata.items())


def metadata_text(metadata: dict[str, str | None], key: str) -> str | None:
    """The decoded UTF-8 text of one metadata value, or None if absent, empty or not text."""
    value = metadata.get(key)
    if not value:
        return None
    try:
        return base64.b64decode(value).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


# --- checksum extension ---------------------------------------------------------------------


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...
    def copy(self) -> Hasher: ...


class Crc32:
    """CRC-32 (zlib's polynomial) with hashlib's interface; digest is 4 bytes big-endian."""

    def __init__(self, value: int = 0) -> None:
        self._value = value

    def update(self, data: bytes, /) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")

    def copy(self) -> Crc32:
        return Crc32(self._value)


CHECKSUM_ALGORITHMS = ("sha1", "sha256", "md5", "crc32")  # sha1 is required by the extension


def new_hasher(algorithm: str) -> Hasher:
    if algorithm == "crc32":
        return Crc32()
    if algorithm in CHECKSUM_ALGORITHMS:
        return hashlib.new(algorithm)
    raise UnsupportedChecksumAlgorithm(f"unsupported checksum algorithm {algorithm!r}")


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes


def parse_checksum(header: str | None) -> Checksum | None:
    """``Upload-Checksum: <algorithm> <base64 digest>`` (checksum extension)."""
    if header is None:
        return None
    parts = header.strip().split(" ")
    if len(parts) != 2:
        raise BadRequest("Upload-Checksum must be '<algorithm> <base64 digest>'")
    algorithm = parts[0].lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise UnsupportedChecksumAlgorithm(f"unsupported checksum algorithm {parts[0]!r}")
    try:
        digest = base64.b64decode(parts[1], validate=True)
    except binascii.Error:
        raise BadRequest("Upload-Checksum digest is not base64") from None
    if len(digest) != len(new_hasher(algorithm).digest()):
        raise BadRequest(f"Upload-Checksum digest has the wrong length for {algorithm}")
    return Checksum(algorithm, digest)


# --- concatenation extension ----------------------------------------------------------------


@dataclass(frozen=True)
class Concat:
    kind: Literal["partial", "final"]
    partial_urls: tuple[str, ...] = ()


MAX_PARTIALS = 1000  # bounds the work one POST can ask for


def parse_concat(header: str | None) -> Concat | None:
    """``Upload-Concat: partial`` or ``final;<url> <url> ...`` (concatenation extension)."""
    if header is None:
        return None
    value = header.strip()
    if value == "partial":
        return Concat("partial")
    if value.startswith("final;"):
        urls = tuple(url for url in value[len("final;") :].split(" ") if url)
        if not urls:
            raise BadRequest("Upload-Concat final needs at least one partial upload URL")
        if len(urls) > MAX_PARTIALS:
            raise BadRequest(f"Upload-Concat names more than {MAX_PARTIALS} partial uploads")
        return Concat("final", urls)
    raise BadRequest("Upload-Concat must be 'partial' or 'final;<urls>'")


def format_concat(kind: str | None, partial_urls: list[str]) -> str | None:
    if kind == "partial":
        return "partial"
    if kind == "final":
        return "final;" + " ".join(partial_urls)
    return None


# --- expiration extension -------------------------------------------------------------------


def format_expires(when: datetime) -> str:
    """Upload-Expires uses the RFC 9110 IMF-fixdate format."""
    return format_datetime(when.astimezone(UTC), usegmt=True)


def extension_names(
    *, termination: bool, concatenation: bool, defer_length: bool, expiration: bool
) -> list[str]:
    """Tus-Extension, derived from what the store supports (capabilities are declared)."""
    names = ["creation", "creation-with-upload", "checksum"]
    if defer_length:
        names.append("creation-defer-length")
    if expiration:
        names.append("expiration")
    if termination:
        names.append("termination")
    if concatenation:
        names += ["concatenation", "concatenation-unfinished"]
    return names
