"""Tamper-evident audit trail.

Pure cores (stdlib + PyNaCl, no IO; safe for the client and the CLI verifier):

- ``filehub.audit.merkle``: RFC 9162 tree hashing, inclusion and consistency proofs,
  the append frontier and proof plans that a ``(level, index) -> hash`` table can serve.
- ``filehub.audit.checkpoint``: C2SP signed notes, tlog-checkpoint bodies and witness
  cosignatures (Ed25519).

The workflow that does IO (append in the caller's transaction, sequencing, signing
checkpoints on a timer) belongs in ``filehub.audit.log``. See ``docs/audit.md``.

This module stays import-free so that importing a pure core never drags in the service.
"""

from __future__ import annotations


class VerificationError(ValueError):
    """Bad data: a proof, note, signature or checkpoint that does not verify.

    The message is a human diagnostic the CLI prints as is; it never contains secrets.
    Transport failures (the server did not answer) are a different error family.
    """
