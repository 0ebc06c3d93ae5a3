"""The filehub client library: end-to-end encrypted upload, download and sharing over HTTP.

Everything secret stays here: file keys and private keys are made, used and sealed on the
user's machine with the pure cores of ``filehub.crypto``; the server gets ciphertext, signed
headers and rows sealed to certified keys (docs/e2e.md, docs/format.md). Peer keys are
trusted only through ``verify_chain`` against organisation roots pinned locally
(``filehub trust add``), never on first use.

This package never imports the server (web, db, storage, services): an import-linter
contract in pyproject.toml keeps it so.
"""

from __future__ import annotations


class ClientError(Exception):
    """A problem the user can act on; the CLI prints the message as it is (never a secret)."""
