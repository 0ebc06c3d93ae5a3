"""Pure arithmetic and formats of the S3 backend: part sizes, tail states, copy plans.

S3 multipart limits: at most 10,000 parts; every part but the last at least 5 MiB and at
most 5 GiB; an object at most 5 TiB (the same for UploadPartCopy ranges).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from filehub.errors import FilehubError

MiB = 1 << 20
MIN_PART = 5 * MiB
MAX_PART = 5 << 30
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 << 40
COPY_RANGE = 256 * MiB  # preferred UploadPartCopy range: few requests, each well within timeouts

_STATE_MAGIC = b"FHT1"
_TRAILER = 8  # u32 manifest length + magic


def part_size_for(length: int, min_part_size: int) -> int:
    """Bytes per part so ``length`` fits in 10,000 parts: at least ``min_part_size`` (and
    5 MiB), else ceil(length / 10,000) rounded up to a whole MiB."""
    needed = -(-length // MAX_PARTS)
    return max(min_part_size, MIN_PART, -(-needed // MiB) * MiB)


@dataclass
class TailState:
    """What ``{id}.tail.{end}`` holds: the ETags of the full parts 1..k (k = end // part
    size, as UploadPart returned them) and the bytes [k*ps, end) not yet in a part.

    Why the ETags: completion names each part by (number, ETag), and some S3 APIs
    (SeaweedFS) keep every upload of a part number and list them all with one-second
    timestamps, so ListParts cannot tell a committed part from an uncommitted leftover of
    the same number. The state named by the committed offset can.
    """

    etags: list[str]
    tail: bytearray


def encode_state(state: TailState) -> bytearray:
    """tail ‖ manifest JSON ‖ u32 manifest length ‖ magic. Appends to ``state.tail`` in
    place (the write is over), so no second part-sized copy is made."""
    manifest = json.dumps({"etags": state.etags}, separators=(",", ":")).encode()
    body = state.tail
    body += manifest
    body += len(manifest).to_bytes(4, "big") + _STATE_MAGIC
    return body


def decode_state(raw: bytearray, end: int, part_size: int) -> TailState:
    """The state at offset ``end``; checks it agrees with ``end`` and ``part_size``."""
    if len(raw) < _TRAILER or raw[-4:] != _STATE_MAGIC:
        raise FilehubError("an upload's stored state is damaged")
    size = int.from_bytes(raw[-_TRAILER:-4], "big")
    manifest_start = len(raw) - _TRAILER - size
    etags = json.loads(bytes(raw[manifest_start:-_TRAILER]))["etags"]
    del raw[manifest_start:]  # what is left is the tail, with no copy
    full_parts = end // part_size
    if len(etags) != full_parts and not (len(etags) == full_parts + 1 and not raw):
        raise FilehubError("an upload's stored state does not match its offset")
    if len(etags) == full_parts and len(raw) != end - full_parts * part_size:
        raise FilehubError("an upload's stored state does not match its offset")
    return TailState([str(e) for e in etags], raw)


def copy_plan(sizes: list[int], total: int) -> list[tuple[int, int, int]] | None:
    """UploadPartCopy ranges ``(source index, start, end)`` assembling objects of ``sizes``
    in order, or None when S3 cannot (a non-last source under 5 MiB, or too many parts)."""
    nonempty = [i for i, size in enumerate(sizes) if size > 0]
    if any(sizes[i] < MIN_PART for i in nonempty[:-1]):
        return None
    span = min(MAX_PART, max(COPY_RANGE, -(-total // MAX_PARTS)))
    plan: list[tuple[int, int, int]] = []
    for i in nonempty:
        pieces = -(-sizes[i] // span)
        step = -(-sizes[i] // pieces)  # equal pieces: none under 5 MiB but possibly the last
        plan.extend((i, start, min(start + step, sizes[i])) for start in range(0, sizes[i], step))
    return plan if len(plan) <= MAX_PARTS else None
