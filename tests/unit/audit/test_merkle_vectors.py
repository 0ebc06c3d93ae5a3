"""RFC 9162 Merkle tree against the published Certificate Transparency vectors.

tests/vectors/rfc6962_merkle.json is copied from google/certificate-transparency and
transparency-dev/merkle (sources inside the file). The corruption probes follow
transparency-dev/merkle proof/verify_test.go.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filehub.audit import VerificationError
from filehub.audit import merkle as m

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "rfc6962_merkle.json").read_text())
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["roots"]]
EMPTY = bytes.fromhex(VECTORS["empty_root"])
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def h(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


@pytest.fixture(scope="module")
def tree() -> m.InMemoryTree:
    return m.InMemoryTree.from_leaf_hashes(m.leaf_hash(leaf) for leaf in LEAVES)


def test_hasher_vectors() -> None:
    assert m.EMPTY_ROOT == EMPTY
    for case in VECTORS["hasher"]:
        if "entry" in case:
            assert m.leaf_hash(bytes.fromhex(case["entry"])).hex() == case["hash"], case["what"]
        else:
            assert m.node_hash(bytes.fromhex(case["left"]), bytes.fromhex(case["right"])).hex() == case["hash"]


def test_roots_for_every_size_by_every_method(tree: m.InMemoryTree) -> None:
    frontier = m.Frontier()
    assert frontier.root() == EMPTY and tree.root(0) == EMPTY and m.root_from_leaf_hashes([]) == EMPTY
    for size, leaf in enumerate(LEAVES, start=1):
        frontier.append(m.leaf_hash(leaf))
        assert frontier.root() == ROOTS[size - 1]
        assert tree.root(size) == ROOTS[size - 1]
        assert m.root_from_leaf_hashes(m.leaf_hash(x) for x in LEAVES[:size]) == ROOTS[size - 1]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}@{c['size']}")
def test_inclusion_vectors(tree: m.InMemoryTree, case: dict[str, Any]) -> None:
    index, size, proof = case["index"], case["size"], h(case["proof"])
    assert tree.inclusion_proof(index, size) == proof
    leaf = m.leaf_hash(LEAVES[index])
    assert m.root_from_inclusion_proof(leaf, index, size, proof) == ROOTS[size - 1]
    m.verify_inclusion(leaf, index, size, proof, ROOTS[size - 1])
    for probe, (i, n, lh, p, root) in corrupt_inclusion(index, size, proof, ROOTS[size - 1], leaf):
        with pytest.raises(VerificationError):
            m.verify_inclusion(lh, i, n, p, root)
            pytest.fail(f"accepted a corrupted inclusion proof: {probe}")


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: f"{c['old_size']}-{c['new_size']}")
def test_consistency_vectors(tree: m.InMemoryTree, case: dict[str, Any]) -> None:
    old, new, proof = case["old_size"], case["new_size"], h(case["proof"])
    assert tree.consistency_proof(old, new) == proof
    m.verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)
    if not proof:
        return
    for probe, (o, n, r1, r2, p) in corrupt_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof):
        with pytest.raises(VerificationError):
            m.verify_consistency(o, n, r1, r2, p)
            pytest.fail(f"accepted a corrupted consistency proof: {probe}")


def flip(proof: list[bytes], i: int, bit: int) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ bit]) + out[i][1:]
    return out


def corrupt_inclusion(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    yield "index - 1", (index - 1, size, leaf, proof, root)
    yield "index + 1", (index + 1, size, leaf, proof, root)
    yield "index ^ 2", (index ^ 2, size, leaf, proof, root)
    yield "size * 2", (index, size * 2, leaf, proof, root)
    yield "size // 2", (index, size // 2, leaf, proof, root)
    yield "wrong leaf", (index, size, m.leaf_hash(b"WrongLeaf"), proof, root)
    yield "empty root", (index, size, leaf, proof, EMPTY)
    yield "random root", (index, size, leaf, proof, SOME_HASH)
    yield "trailing garbage", (index, size, leaf, [*proof, b""], root)
    yield "trailing root", (index, size, leaf, [*proof, root], root)
    yield "preceding garbage", (index, size, leaf, [b"", *proof], root)
    yield "preceding root", (index, size, leaf, [root, *proof], root)
    for i in range(len(proof)):
        yield f"proof[{i}] bit 3", (index, size, leaf, flip(proof, i, 8), root)
    if proof:
        yield "truncated", (index, size, leaf, proof[:-1], root)
    if len(proof) > 1:
        yield "inserted", (index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root)


def corrupt_consistency(old: int, new: int, r1: bytes, r2: bytes, proof: list[bytes]) -> Iterator[tuple[str, tuple[Any, ...]]]:
    yield "old - 1", (old - 1, new, r1, r2, proof)
    yield "old + 1", (old + 1, new, r1, r2, proof)
    yield "old ^ 2", (old ^ 2, new, r1, r2, proof)
    yield "new * 2", (old, new * 2, r1, r2, proof)
    yield "new // 2", (old, new // 2, r1, r2, proof)
    yield "wrong root1", (old, new, SOME_HASH, r2, proof)
    yield "wrong root2", (old, new, r1, SOME_HASH, proof)
    yield "swapped roots", (old, new, r2, r1, proof)
    yield "empty proof", (old, new, r1, r2, [])
    yield "trailing garbage", (old, new, r1, r2, [*proof, b""])
    yield "trailing root1", (old, new, r1, r2, [*proof, r1])
    yield "trailing root2", (old, new, r1, r2, [*proof, r2])
    yield "preceding garbage", (old, new, r1, r2, [b"", *proof])
    yield "preceding root1", (old, new, r1, r2, [r1, *proof])
    yield "preceding root2", (old, new, r1, r2, [r2, *proof])
    yield "preceding proof[0]", (old, new, r1, r2, [proof[0], *proof])
    yield "truncated", (old, new, r1, r2, proof[:-1])
    for i in range(len(proof)):
        yield f"proof[{i}] bit 4", (old, new, r1, r2, flip(proof, i, 16))


def test_inclusion_edge_cases_from_the_go_suite() -> None:
    single = m.leaf_hash(b"data")
    m.verify_inclusion(single, 0, 1, [], single)  # a 1-leaf tree's root is its leaf hash
    for leaf, root in [(single, b""), (b"", single), (b"", b"")]:
        with pytest.raises(VerificationError):
            m.verify_inclusion(leaf, 0, 1, [], root)
    for index, size in [(0, 0), (1, 0), (2, 1)]:
        for leaf, root in [(SOME_HASH, EMPTY), (EMPTY, EMPTY)]:
            with pytest.raises(VerificationError):
                m.verify_inclusion(leaf, index, size, [], root)


def test_consistency_edge_cases_from_the_go_suite() -> None:
    # Sizes that are always consistent (Go accepts any roots for size 0; we insist on the
    # empty-tree root, because a checkpoint of size 0 with another root is malformed).
    m.verify_consistency(0, 0, EMPTY, EMPTY, [])
    m.verify_consistency(0, 1, EMPTY, ROOTS[0], [])
    m.verify_consistency(1, 1, ROOTS[0], ROOTS[0], [])
    refused = [
        (0, 0, EMPTY, SOME_HASH, []),  # equal sizes, different roots: a fork
        (1, 1, ROOTS[0], SOME_HASH, []),
        (0, 1, SOME_HASH, ROOTS[0], []),  # a size-0 tree with a non-empty root
        (1, 0, ROOTS[0], EMPTY, []),  # time travel to the past
        (2, 1, ROOTS[1], ROOTS[0], []),
        (1, 2, ROOTS[0], ROOTS[1], []),  # empty proof
        (0, 0, EMPTY, EMPTY, [EMPTY]),  # roots match but the proof is not empty
        (0, 1, EMPTY, ROOTS[0], [EMPTY]),
        (1, 1, ROOTS[0], ROOTS[0], [EMPTY]),
    ]
    for old, new, r1, r2, proof in refused:
        with pytest.raises(VerificationError):
            m.verify_consistency(old, new, r1, r2, proof)


def test_generation_refuses_impossible_requests(tree: m.InMemoryTree) -> None:
    for index, size in [(0, 0), (8, 8), (-1, 8), (0, 9)]:
        with pytest.raises((ValueError, LookupError)):
            tree.inclusion_proof(index, size)
    for old, new in [(5, 4), (-1, 3), (3, 9)]:
        with pytest.raises((ValueError, LookupError)):
            tree.consistency_proof(old, new)
    with pytest.raises(ValueError):
        m.plan_inclusion(True, 2)  # a bool is not an index
