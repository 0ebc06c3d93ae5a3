"""Unguessable identifiers: 128 random bits, URL-safe, fixed length, validated on input."""

from __future__ import annotations

import re
import secrets

ID_BYTES = 16  # 128 bits: unguessable, as with S3 upload ids and capability URLs
_ID_HEX = re.compile(r"^[0-9a-f]{32}$")


def new_id() -> str:
    return secrets.token_hex(ID_BYTES)


def is_valid_id(value: str) -> bool:
    """True for strings that new_id() could have produced (so they are safe in storage keys)."""
    return bool(_ID_HEX.match(value))


def new_secret(nbytes: int = 32) -> str:
    """A bearer secret of 256 bits; shown once, stored only as a hash."""
    return secrets.token_urlsafe(nbytes)
