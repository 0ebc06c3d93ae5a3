"""RFC 9162 Merkle tree: exhaustive properties up to 64 leaves, against a literal
transcription of the RFC's recursive definitions, plus tampering a verifier must catch."""

from __future__ import annotations

import random

import pytest

from filehub.audit import VerificationError
from filehub.audit import merkle as m

N = 64
ENTRIES = [f"event {i}".encode() for i in range(N + 8)]
LEAF_HASHES = [m.leaf_hash(e) for e in ENTRIES]


# --- RFC 9162 §2.1, written as recursively as the RFC writes it ---------------------------


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return m.EMPTY_ROOT
    if len(d) == 1:
        return m.leaf_hash(d[0])
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return m.node_hash(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(i: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if i < k:
        return [*ref_path(i, d[:k]), ref_mth(d[k:])]
    return [*ref_path(i - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(mm: int, d: list[bytes], b: bool) -> list[bytes]:
    if mm == len(d):
        return [] if b else [ref_mth(d)]
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if mm <= k:
        return [*ref_subproof(mm, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(mm - k, d[k:], False), ref_mth(d[:k])]


@pytest.fixture(scope="module")
def tree() -> m.InMemoryTree:
    return m.InMemoryTree.from_leaf_hashes(LEAF_HASHES[:N])


@pytest.fixture(scope="module")
def roots(tree: m.InMemoryTree) -> list[bytes]:
    return [tree.root(n) for n in range(N + 1)]


def test_roots_match_the_rfc_definition(roots: list[bytes]) -> None:
    for n in range(N + 1):
        assert roots[n] == ref_mth(ENTRIES[:n]) == m.root_from_leaf_hashes(LEAF_HASHES[:n])


def test_every_inclusion_proof_verifies_and_matches_the_rfc(tree: m.InMemoryTree, roots: list[bytes]) -> None:
    for n in range(1, N + 1):
        for i in range(n):
            proof = tree.inclusion_proof(i, n)
            assert proof == ref_path(i, ENTRIES[:n]), (i, n)
            assert len(proof) <= (n - 1).bit_length()  # ceil(log2 n)
            m.verify_inclusion(LEAF_HASHES[i], i, n, proof, roots[n])


def test_every_consistency_proof_verifies_and_matches_the_rfc(tree: m.InMemoryTree, roots: list[bytes]) -> None:
    for n in range(N + 1):
        for old in range(n + 1):
            proof = tree.consistency_proof(old, n)
            expected = ref_subproof(old, ENTRIES[:n], True) if 0 < old < n else []
            assert proof == expected, (old, n)
            assert len(proof) <= (n - 1).bit_length() + 1
            m.verify_consistency(old, n, roots[old], roots[n], proof)


def test_a_tampered_leaf_fails_every_inclusion_proof(tree: m.InMemoryTree, roots: list[bytes]) -> None:
    for n in range(1, N + 1):
        for i in range(n):
            proof = tree.inclusion_proof(i, n)
            with pytest.raises(VerificationError):
                m.verify_inclusion(m.leaf_hash(ENTRIES[i] + b"!"), i, n, proof, roots[n])
            with pytest.raises(VerificationError):  # the entry itself is not its leaf hash
                m.verify_inclusion(m.leaf_hash(LEAF_HASHES[i]), i, n, proof, roots[n])


def test_a_wrong_index_fails(tree: m.InMemoryTree, roots: list[bytes]) -> None:
    for n in range(2, N + 1):
        for i in range(n):
            proof = tree.inclusion_proof(i, n)
            for j in range(n):
                if j != i:
                    with pytest.raises(VerificationError):
                        m.verify_inclusion(LEAF_HASHES[i], j, n, proof, roots[n])


def test_a_truncated_or_extended_proof_fails(tree: m.InMemoryTree, roots: list[bytes]) -> None:
    for n in range(2, N + 1):
        for i in range(n):
            proof = tree.inclusion_proof(i, n)
            for bad in (proof[:-1], proof[1:], [*proof, proof[-1]], [proof[0], *proof]):
                with pytest.raises(VerificationError):
                    m.verify_inclusion(LEAF_HASHES[i], i, n, bad, roots[n])
        for old in range(1, n):
            proof = tree.consistency_proof(old, n)
            for bad in (proof[:-1], proof[1:], [*proof, proof[-1]], list(reversed(proof)) if len(proof) > 1 else []):
                with pytest.raises(VerificationError):
                    m.verify_consistency(old, n, roots[old], roots[n], bad)


def test_a_reordered_tree_fails(tree: m.InMemoryTree, roots: list[bytes]) -> None:
    rng = random.Random(9162)
    for n in range(2, N + 1):
        i, j = rng.sample(range(n), 2)
        swapped = list(LEAF_HASHES[:n])
        swapped[i], swapped[j] = swapped[j], swapped[i]
        other = m.InMemoryTree.from_leaf_hashes(swapped)
        assert other.root() != roots[n]
        with pytest.raises(VerificationError):  # the honest proof against the reordered root
            m.verify_inclusion(LEAF_HASHES[i], i, n, tree.inclusion_proof(i, n), other.root())
        with pytest.raises(VerificationError):  # the reordered tree's proof against the honest root
            m.verify_inclusion(LEAF_HASHES[i], j, n, other.inclusion_proof(j, n), roots[n])
        first = min(i, j) + 1  # the prefix before the first swapped leaf is untouched
        for old in range(first, n):
            with pytest.raises(VerificationError):
                m.verify_consistency(old, n, roots[old], other.root(), other.consistency_proof(old, n))


def test_log_rewrites_are_caught_by_consistency_with_an_old_checkpoint(roots: list[bytes]) -> None:
    """What `filehub audit verify` sees: a checkpoint of size 40 kept from before, and a log
    that was edited, had an event deleted, had its tail truncated or was reordered."""
    old = 40
    honest = LEAF_HASHES[:N]
    edited = [*honest[:7], m.leaf_hash(b"edited"), *honest[8:]]
    deleted = [*honest[:7], *honest[8:], LEAF_HASHES[N]]  # same size: one event gone, one more appended
    reordered = [*honest[:7], honest[8], honest[7], *honest[9:]]
    for rewritten in (edited, deleted, reordered):
        other = m.InMemoryTree.from_leaf_hashes(rewritten)
        with pytest.raises(VerificationError):
            m.verify_consistency(old, N, roots[old], other.root(), other.consistency_proof(old, N))
    truncated = m.InMemoryTree.from_leaf_hashes(honest[:30])
    with pytest.raises(VerificationError, match="shrank"):
        m.verify_consistency(old, 30, roots[old], truncated.root(), [])
    with pytest.raises(VerificationError, match="forked"):  # two views of the same size
        m.verify_consistency(old, old, roots[old], m.InMemoryTree.from_leaf_hashes(edited[:old]).root(), [])


def test_the_frontier_emits_exactly_the_node_table() -> None:
    """Appending through a Frontier and storing what it returns builds the same
    (level, index) -> hash table that proofs read, node for node."""
    frontier, table = m.Frontier(), dict[m.NodeId, bytes]()
    full = m.InMemoryTree.from_leaf_hashes(LEAF_HASHES[:N])
    grown = m.InMemoryTree()
    for n, leaf in enumerate(LEAF_HASHES[:N], start=1):
        new = frontier.append(leaf)
        assert new == grown.append(leaf)
        assert all(node not in table for node, _ in new)  # insert-only: nothing is rewritten
        table.update(new)
        assert frontier.root() == full.root(n) == grown.root()
    expected = {(lvl, i) for lvl in range(7) for i in range(N >> lvl)}
    assert set(table) == expected
    assert all(table[node] == full.read_nodes([node])[0] for node in expected)


def test_proofs_from_a_dict_backed_node_table() -> None:
    frontier, table = m.Frontier(), dict[m.NodeId, bytes]()
    for leaf in LEAF_HASHES[:45]:
        table.update(frontier.append(leaf))
    reference = m.InMemoryTree.from_leaf_hashes(LEAF_HASHES[:45])
    for i in (0, 17, 44):
        plan = m.plan_inclusion(i, 45)
        assert plan.assemble({node: table[node] for node in plan.node_ids}) == reference.inclusion_proof(i)
    assert m.consistency_proof(13, 45, lambda ids: [table[n] for n in ids]) == reference.consistency_proof(13)
    assert m.root_hash(45, lambda ids: [table[n] for n in ids]) == frontier.root()
    with pytest.raises(LookupError):
        m.plan_inclusion(3, 45).assemble({})


def test_a_frontier_resumes_from_stored_peaks() -> None:
    full = m.InMemoryTree.from_leaf_hashes(LEAF_HASHES[: N + 8])
    for size in range(N):
        peaks = full.read_nodes(m.frontier_node_ids(size))
        resumed = m.Frontier(size, peaks)
        assert resumed.root() == full.root(size)
        for leaf in LEAF_HASHES[size : size + 8]:
            resumed.append(leaf)
        assert resumed.root() == full.root(size + 8)
    with pytest.raises(ValueError):
        m.Frontier(5, [m.EMPTY_ROOT])  # size 5 has two peaks
    with pytest.raises(ValueError):
        m.Frontier().append(b"an entry, not a hash")


def test_plans_stay_logarithmic_at_a_billion_leaves() -> None:
    rng = random.Random(1)
    for _ in range(200):
        size = rng.randrange(1, 10**9)
        index = rng.randrange(size)
        old = rng.randrange(size + 1)
        depth = (size - 1).bit_length()
        inclusion = m.plan_inclusion(index, size)
        consistency = m.plan_consistency(old, size)
        assert len(inclusion.parts) <= depth and len(inclusion.node_ids) <= 2 * depth
        assert len(consistency.parts) <= depth + 1 and len(consistency.node_ids) <= 2 * depth + 1
        assert all(0 <= level <= depth for level, _ in inclusion.node_ids + consistency.node_ids)


def test_subtree_node_ids_refuses_ranges_that_are_not_rfc_subtrees() -> None:
    assert m.subtree_node_ids(8, 13) == ((2, 2), (0, 12))
    assert m.frontier_node_ids(13) == ((3, 0), (2, 2), (0, 12))
    assert m.frontier_node_ids(0) == ()
    for start, end in [(3, 7), (5, 5), (6, 5)]:
        with pytest.raises(ValueError):
            m.subtree_node_ids(start, end)
