"""Whole-log verification, pure: what ``filehub audit verify`` and the tests run.

Input: every leaf hash in seq order, the entries one may see (keyed by seq), the signed
checkpoint notes, the log's verifier key and the largest checkpoint verified before (kept
locally by the verifier). Output: a list of problems, empty when the log verifies. Each
problem names what was found (an edited event, a gap, a truncated tail, a rewritten or
forked history, a bad signature) so the CLI can print it as the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from filehub.audit import VerificationError
from filehub.audit.checkpoint import Checkpoint, VerifierKey, open_checkpoint
from filehub.audit.merkle import Frontier, leaf_hash


@dataclass
class Report:
    size: int = 0  # leaves recomputed
    checked_checkpoints: int = 0
    checked_entries: int = 0
    largest: Checkpoint | None = None  # the largest checkpoint that verified (new local state)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(
    leaves: Sequence[tuple[int, bytes]],
    entries: Mapping[int, bytes],
    notes: Sequence[bytes],
    log_key: VerifierKey,
    previous: Checkpoint | None = None,
) -> Report:
    report = Report()
    checkpoints: dict[int, list[Checkpoint]] = {}
    for note in notes:
        try:
            checkpoint = open_checkpoint(note, log_key).checkpoint
        except VerificationError as exc:
            report.problems.append(f"checkpoint refused: {exc}")
            continue
        checkpoints.setdefault(checkpoint.size, []).append(checkpoint)
    if previous is not None:
        checkpoints.setdefault(previous.size, []).append(previous)

    frontier = Frontier()
    roots: dict[int, bytes] = {0: frontier.root()}
    for position, (seq, hashed) in enumerate(leaves):
        if seq != position:
            report.problems.append(f"leaf sequence broken at position {position}: got seq {seq} (deleted or reordered events)")
            break
        entry = entries.get(seq)
        if entry is not None:
            report.checked_entries += 1
            if leaf_hash(entry) != hashed:
                report.problems.append(f"event {seq} was edited: its entry does not hash to its leaf")
        frontier.append(hashed)
        if frontier.size in checkpoints:
            roots[frontier.size] = frontier.root()
    report.size = frontier.size

    for size in sorted(checkpoints):
        for checkpoint in checkpoints[size]:
            is_previous = previous is not None and checkpoint is previous
            label = "the checkpoint you verified before" if is_previous else "signed checkpoint"
            if size > report.size:
                report.problems.append(
                    f"{label} has size {size} but the log has only {report.size} events (truncated tail)"
                )
            elif roots.get(size) != checkpoint.root_hash:
                report.problems.append(
                    f"{label} of size {size} does not match the recomputed tree "
                    "(events edited, deleted, reordered, or a forked history)"
                )
            else:
                report.checked_checkpoints += 0 if is_previous else 1
                if report.largest is None or size >= report.largest.size:
                    report.largest = checkpoint
    return report
