"""Whole-log verification, pure: what ``filehub audit verify`` and the tests run.

Input: every leaf hash in seq order, the entries one may see (keyed by seq), the signed
checkpoint notes, the log's verifier key and the largest checkpoint verified before (kept
locally by the verifier), and optionally the witnesses one trusts with how many of them
must have cosigned. Output: a list of problems, empty when the log verifies. Each
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
    witnessed: dict[str, int] = field(default_factory=dict)  # witness key -> largest size it cosigned
    witnessed_size: int | None = None  # the prefix at least min_witnesses witnesses saw as we do
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
    witnesses: Sequence[VerifierKey] = (),
    min_witnesses: int = 0,
) -> Report:
    """Witness policy: at least ``min_witnesses`` of ``witnesses`` must each have cosigned
    (valid C2SP cosignature) some checkpoint that matches the recomputed tree: each of them
    then saw this very history up to that size, so a fork shown only to us is detected.
    Witnesses pull the latest checkpoint at their own pace, and every audited read grows
    the log, so they rarely cosign the same one; the prefix all of them vouch for is
    ``witnessed_size`` (the ``min_witnesses``-th largest of their sizes)."""
    report = Report()
    checkpoints: dict[int, list[Checkpoint]] = {}
    cosigners: dict[int, list[str]] = {}  # id(checkpoint) -> witness keys with a valid cosignature
    for note in notes:
        try:
            opened = open_checkpoint(note, log_key, witnesses)
        except VerificationError as exc:
            report.problems.append(f"checkpoint refused: {exc}")
            continue
        checkpoint = opened.checkpoint
        checkpoints.setdefault(checkpoint.size, []).append(checkpoint)
        cosigners[id(checkpoint)] = [str(v.key) for v in opened.cosignatures]
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
                for witness in cosigners.get(id(checkpoint), ()):
                    report.witnessed[witness] = max(size, report.witnessed.get(witness, 0))
    if min_witnesses > 0:
        sizes = sorted(report.witnessed.values(), reverse=True)
        if len(sizes) < min_witnesses:
            report.problems.append(
                f"only {len(sizes)} of the trusted witnesses cosigned a checkpoint of this history; "
                f"{min_witnesses} are required"
            )
        else:
            report.witnessed_size = sizes[min_witnesses - 1]
    return report
