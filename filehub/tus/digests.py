"""Running SHA-256 of uploads, carried between PATCHes in this process.

hashlib state cannot be stored in a database, so a whole-file digest across PATCHes is kept
here, keyed by (upload, offset). It is only an optimisation: bytes below a committed offset
never change, so a state at exactly the committed offset is valid whichever instance wrote
in between; on a miss (another instance, a restart) the digest is computed at completion by
reading the stored bytes back.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from filehub.tus.protocol import Hasher


class WholeFileDigests:
    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._states: OrderedDict[str, tuple[int, Hasher]] = OrderedDict()

    def resume(self, upload_id: str, offset: int) -> Hasher | None:
        """A copy of the digest state at ``offset`` (a fresh one at 0), or None if unknown."""
        if offset == 0:
            return hashlib.sha256()
        entry = self._states.get(upload_id)
        if entry is None or entry[0] != offset:
            return None
        return entry[1].copy()

    def commit(self, upload_id: str, offset: int, state: Hasher) -> None:
        self._states[upload_id] = (offset, state)
        self._states.move_to_end(upload_id)
        while len(self._states) > self._capacity:
            self._states.popitem(last=False)

    def final_hex(self, upload_id: str, length: int) -> str | None:
        entry = self._states.pop(upload_id, None)
        if entry is None or entry[0] != length:
            return None
        return entry[1].digest().hex()

    def forget(self, upload_id: str) -> None:
        self._states.pop(upload_id, None)
