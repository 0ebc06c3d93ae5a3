"""The whole-log verifier (filehub.audit.verify), pure: each tampering gets its own verdict."""

from __future__ import annotations

from filehub.audit.checkpoint import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    SignerKey,
    add_signatures,
    cosign_checkpoint,
    sign_checkpoint,
)
from filehub.audit.merkle import InMemoryTree, leaf_hash
from filehub.audit.verify import verify_log

KEY = SignerKey("filehub.test/audit", bytes(range(32)))
OTHER = SignerKey("filehub.test/audit", bytes(range(1, 33)))


def log(entries: list[bytes]) -> tuple[list[tuple[int, bytes]], dict[int, bytes], InMemoryTree]:
    leaves = [leaf_hash(e) for e in entries]
    return list(enumerate(leaves)), dict(enumerate(entries)), InMemoryTree.from_leaf_hashes(leaves)


def note(tree: InMemoryTree, size: int, key: SignerKey = KEY) -> bytes:
    return sign_checkpoint(Checkpoint(KEY.name, size, tree.root(size)), key)


ENTRIES = [f'{{"n":{i}}}'.encode() for i in range(13)]


def test_a_clean_log_verifies_and_reports_the_largest_checkpoint() -> None:
    leaves, entries, tree = log(ENTRIES)
    report = verify_log(leaves, entries, [note(tree, 5), note(tree, 13)], KEY.verifier_key)
    assert report.ok and report.size == 13 and report.checked_checkpoints == 2 and report.checked_entries == 13
    assert report.largest == Checkpoint(KEY.name, 13, tree.root())


def test_an_edited_entry_a_gap_and_a_reordering_are_found() -> None:
    leaves, entries, tree = log(ENTRIES)
    notes = [note(tree, 13)]
    edited = verify_log(leaves, {**entries, 4: b'{"n":40}'}, notes, KEY.verifier_key)
    assert any("event 4 was edited" in p for p in edited.problems)
    gap = verify_log(leaves[:4] + leaves[5:], entries, notes, KEY.verifier_key)
    assert any("sequence broken" in p for p in gap.problems)
    swapped = [(i, h) for i, (_, h) in enumerate([leaves[1], leaves[0], *leaves[2:]])]
    reordered = verify_log(swapped, {}, notes, KEY.verifier_key)
    assert any("does not match" in p for p in reordered.problems)


def test_a_truncated_tail_and_a_fork_against_what_the_client_saw_before() -> None:
    leaves, entries, tree = log(ENTRIES)
    seen_before = Checkpoint(KEY.name, 13, tree.root())
    short = verify_log(leaves[:10], entries, [note(tree, 10)], KEY.verifier_key, seen_before)
    assert any("truncated" in p for p in short.problems)
    fork_leaves, fork_entries, fork = log(ENTRIES[:12] + [b'{"n":"other"}'])  # another history, same size
    forked = verify_log(fork_leaves, fork_entries, [note(fork, 13)], KEY.verifier_key, seen_before)
    assert any("verified before" in p and "forked" in p for p in forked.problems)


def test_a_checkpoint_signed_by_another_key_is_refused() -> None:
    leaves, entries, tree = log(ENTRIES)
    report = verify_log(leaves, entries, [note(tree, 13, OTHER)], KEY.verifier_key)
    assert any("checkpoint refused" in p for p in report.problems)


def cosigned(data: bytes, *witnesses: SignerKey) -> bytes:
    return add_signatures(data, *(cosign_checkpoint(data, w, 1_700_000_000) for w in witnesses))


W1, W2, W3 = (SignerKey.generate(f"w{i}.test/witness", ALG_COSIGNATURE_V1) for i in range(3))


def test_the_witness_policy_counts_witnesses_of_this_history_only() -> None:
    leaves, entries, tree = log(ENTRIES)
    trusted = [W1.verifier_key, W2.verifier_key]
    # W1 cosigned size 5, W2 size 13, W3 (not trusted) size 13
    notes = [cosigned(note(tree, 5), W1), cosigned(note(tree, 13), W2, W3)]
    both = verify_log(leaves, entries, notes, KEY.verifier_key, witnesses=trusted, min_witnesses=2)
    assert both.ok, both.problems
    assert both.witnessed == {str(W1.verifier_key): 5, str(W2.verifier_key): 13} and both.witnessed_size == 5
    one = verify_log(leaves, entries, notes[:1], KEY.verifier_key, witnesses=trusted, min_witnesses=2)
    assert any("only 1 of the trusted witnesses" in p for p in one.problems)
    untrusted = verify_log(leaves, entries, [cosigned(note(tree, 13), W3)], KEY.verifier_key,
                           witnesses=trusted, min_witnesses=1)
    assert not untrusted.ok and untrusted.witnessed == {}
    # a witness that cosigned another history (a fork shown to it) vouches for nothing here
    _, _, fork = log(ENTRIES[:12] + [b'{"n":"other"}'])
    forked = verify_log(leaves, entries, [note(tree, 13), cosigned(note(fork, 13), W1)], KEY.verifier_key,
                        witnesses=trusted, min_witnesses=1)
    assert not forked.ok and forked.witnessed == {}
