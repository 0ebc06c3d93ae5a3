"""RFC 9162 (Certificate Transparency v2) Merkle tree: hashing, proofs and verification.

Pure: takes bytes and integers, does no IO. Section numbers are RFC 9162's.

Storage model (see docs/audit.md §3). A *node* ``(level, index)`` is the complete subtree
over leaves ``[index << level, (index + 1) << level)``; level 0 is the leaf hash. Once the
tree holds those leaves the node's hash never changes, so a log stores each one exactly
once (an insert-only ``(level, index) -> hash`` table; level 0 may live beside the entry).
Every hash in a proof is either such a node or the hash of a "right edge" subtree
``[start, size)``, which is the fold of at most log2(size) stored nodes. A proof is thus
computed in two steps with the IO in between:

    plan = plan_inclusion(index, size)          # which nodes, pure arithmetic
    hashes = <one batched read of plan.node_ids>
    proof = plan.assemble(hashes)               # O(log n) SHA-256

:class:`Frontier` appends leaves in O(log n) each, yields the new complete nodes to store,
and gives the root; :class:`InMemoryTree` is the same table held in lists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from filehub.audit import VerificationError

HASH_SIZE = 32  # bytes, SHA-256
MAX_TREE_SIZE = 2**63 - 1  # leaves; tree sizes travel as u64/decimal, keep them signed-safe
EMPTY_ROOT = hashlib.sha256(b"").digest()  # §2.1.1: MTH({}) = HASH()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

NodeId = tuple[int, int]
"""``(level, index)``: the complete subtree over leaves [index << level, (index + 1) << level)."""


class InclusionProofError(VerificationError):
    """An inclusion proof does not lead from the leaf to the root."""


class ConsistencyProofError(VerificationError):
    """A consistency proof does not show the old tree is a prefix of the new one."""


# --- hashing (§2.1.1) ----------------------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d(0)}) = HASH(0x00 || d(0))."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """§2.1.1: k, the largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH of a whole list of leaf hashes, level by level: O(n) hashes, O(n) memory.

    Pairing neighbours and promoting a lone last node unchanged is the same tree as §2.1.1's
    "split at the largest power of two" recursion (the lone node is a right-edge subtree).
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    sha256 = hashlib.sha256
    while len(level) > 1:
        paired = [sha256(_NODE_PREFIX + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
    return level[0]


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Root of consecutive complete subtrees of strictly decreasing size: right to left."""
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


# --- which stored nodes make up a subtree --------------------------------------------------


def _check_size(name: str, value: int, error: type[ValueError] = ValueError) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TREE_SIZE:
        raise error(f"{name} must be an integer in [0, 2**63 - 1], got {value!r}")


def subtree_node_ids(start: int, end: int) -> tuple[NodeId, ...]:
    """The stored nodes whose fold is MTH(D[start:end]), left to right.

    Valid for every subtree the §2.1.1 recursion visits: ``start`` is a multiple of a power
    of two >= end - start, so the binary decomposition of the length is aligned.
    """
    if not 0 <= start < end:
        raise ValueError(f"empty or negative range [{start}, {end})")
    ids: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start & ((1 << level) - 1):
            raise ValueError(f"[{start}, {end}) is not a subtree of an RFC 9162 tree")
        ids.append((level, start >> level))
        start += 1 << level
    return tuple(ids)


def frontier_node_ids(size: int) -> tuple[NodeId, ...]:
    """The nodes whose fold is the root of a tree of ``size`` leaves (its "peaks")."""
    _check_size("size", size)
    return subtree_node_ids(0, size) if size else ()


@dataclass(frozen=True)
class ProofPlan:
    """A proof as data: each element is the fold of a run of stored nodes."""

    parts: tuple[tuple[NodeId, ...], ...]

    @property
    def node_ids(self) -> list[NodeId]:
        """Every node to read, each once, sorted (one batched query)."""
        return sorted({node for part in self.parts for node in part})

    def assemble(self, hashes: Mapping[NodeId, bytes]) -> list[bytes]:
        """The proof hashes, in the order RFC 9162 sends them."""
        try:
            return [_fold([hashes[node] for node in part]) for part in self.parts]
        except KeyError as missing:
            raise LookupError(f"node {missing.args[0]} was not supplied") from None


def plan_root(size: int) -> ProofPlan:
    """MTH(D[0:size]) from stored nodes (an empty plan for the empty tree: use EMPTY_ROOT)."""
    ids = frontier_node_ids(size)
    return ProofPlan((ids,) if ids else ())


def plan_inclusion(index: int, size: int) -> ProofPlan:
    """§2.1.3.1 PATH(m, D[n]) for m = index, n = size, as stored nodes."""
    _check_size("index", index)
    _check_size("size", size)
    if index >= size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    parts: list[tuple[NodeId, ...]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            parts.append(subtree_node_ids(start + k, end))
            end = start + k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            parts.append(subtree_node_ids(start, start + k))
            start += k
    parts.reverse()  # the recursion emits the innermost sibling first
    return ProofPlan(tuple(parts))


def plan_consistency(old_size: int, new_size: int) -> ProofPlan:
    """§2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), as stored nodes."""
    _check_size("old_size", old_size)
    _check_size("new_size", new_size)
    if old_size > new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")
    if old_size in (0, new_size):
        return ProofPlan(())
    parts: list[tuple[NodeId, ...]] = []
    start, end, whole_old_tree = 0, new_size, True  # whole_old_tree is SUBPROOF's b
    while old_size != end:
        k = _split(end - start)
        if old_size - start <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            parts.append(subtree_node_ids(start + k, end))
            end = start + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            parts.append(subtree_node_ids(start, start + k))
            start += k
            whole_old_tree = False
    if not whole_old_tree:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        parts.append(subtree_node_ids(start, end))
    parts.reverse()
    return ProofPlan(tuple(parts))


ReadNodes = Callable[[Sequence[NodeId]], Sequence[bytes]]
"""Synchronous reader: the hashes of the given nodes, in the same order."""


def _run(plan: ProofPlan, read_nodes: ReadNodes) -> list[bytes]:
    ids = plan.node_ids
    return plan.assemble(dict(zip(ids, read_nodes(ids), strict=True)))


def inclusion_proof(index: int, size: int, read_nodes: ReadNodes) -> list[bytes]:
    return _run(plan_inclusion(index, size), read_nodes)


def consistency_proof(old_size: int, new_size: int, read_nodes: ReadNodes) -> list[bytes]:
    return _run(plan_consistency(old_size, new_size), read_nodes)


def root_hash(size: int, read_nodes: ReadNodes) -> bytes:
    proof = _run(plan_root(size), read_nodes)
    return proof[0] if proof else EMPTY_ROOT


# --- appending -----------------------------------------------------------------------------


class Frontier:
    """The compact range [0, size): one hash per set bit of size (the peaks).

    ``append`` is O(log n) and returns the nodes that became complete, which is exactly what
    a database-backed log inserts into its node table; ``root`` is O(log n).
    """

    __slots__ = ("_peaks", "_size")

    def __init__(self, size: int = 0, peaks: Sequence[bytes] = ()) -> None:
        """Resume from a stored tree: ``peaks`` are the hashes of ``frontier_node_ids(size)``."""
        if len(peaks) != len(frontier_node_ids(size)) or any(len(p) != HASH_SIZE for p in peaks):
            raise ValueError(f"a tree of size {size} needs {size.bit_count()} 32-byte peaks")
        self._size = size
        self._peaks = list(peaks)

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> list[tuple[NodeId, bytes]]:
        """Add a leaf *hash*; return the new complete nodes, the leaf (level 0) first."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("append takes a 32-byte leaf hash, not an entry")
        if self._size >= MAX_TREE_SIZE:
            raise ValueError("the tree is full")
        index, level, acc = self._size, 0, leaf
        new = [((0, index), leaf)]
        while index & 1:  # each trailing 1 bit closes a complete subtree with the last peak
            acc = node_hash(self._peaks.pop(), acc)
            index >>= 1
            level += 1
            new.append(((level, index), acc))
        self._peaks.append(acc)
        self._size += 1
        return new

    def root(self) -> bytes:
        return _fold(self._peaks) if self._peaks else EMPTY_ROOT

    def peaks(self) -> list[bytes]:
        return list(self._peaks)


class InMemoryTree:
    """Every complete node in lists: ``levels[l][i]`` is node (l, i). ~2n hashes of memory.

    The reference implementation of the node table, for tests, benchmarks and for the CLI,
    which recomputes a fetched log and can then answer proofs itself.
    """

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> InMemoryTree:
        tree = cls()
        level = list(leaf_hashes)
        tree._levels = [level]
        sha256 = hashlib.sha256
        while len(level) > 1:
            level = [sha256(_NODE_PREFIX + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
            tree._levels.append(level)
        return tree

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> list[tuple[NodeId, bytes]]:
        if len(leaf) != HASH_SIZE:
            raise ValueError("append takes a 32-byte leaf hash, not an entry")
        index, level, acc = self.size, 0, leaf
        self._levels[0].append(leaf)
        new = [((0, index), leaf)]
        while index & 1:
            acc = node_hash(self._levels[level][index - 1], acc)
            index >>= 1
            level += 1
            if level == len(self._levels):
                self._levels.append([])
            self._levels[level].append(acc)
            new.append(((level, index), acc))
        return new

    def read_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        try:
            return [self._levels[level][index] for level, index in ids]
        except IndexError:
            raise LookupError(f"some of {list(ids)} are not complete in a tree of size {self.size}") from None

    def root(self, size: int | None = None) -> bytes:
        return root_hash(self.size if size is None else size, self.read_nodes)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self.size if size is None else size, self.read_nodes)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        return consistency_proof(old_size, self.size if new_size is None else new_size, self.read_nodes)


# --- verification --------------------------------------------------------------------------


def _check_hash(what: str, value: bytes, error: type[VerificationError]) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise error(f"{what} is not a 32-byte SHA-256 hash")


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """§2.1.3.2 steps 1-4: the root that ``proof`` implies for leaf hash ``leaf``."""
    _check_size("the leaf index", index, InclusionProofError)
    _check_size("the tree size", size, InclusionProofError)
    _check_hash("the leaf hash", leaf, InclusionProofError)
    for p in proof:
        _check_hash("a proof element", p, InclusionProofError)
    if index >= size:  # step 1
        raise InclusionProofError(f"leaf index {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, bytes(leaf)  # steps 2, 3
    for p in proof:  # step 4
        if sn == 0:  # 4a
            raise InclusionProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    if sn != 0:  # step 5, first half
        raise InclusionProofError("the inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """§2.1.3.2: raise InclusionProofError unless leaf hash ``leaf`` is at ``index`` under ``root``."""
    _check_hash("the root hash", root, InclusionProofError)
    if root_from_inclusion_proof(leaf, index, size, proof) != root:  # step 5
        raise InclusionProofError(f"leaf {index} is not in the tree of size {size} with this root hash")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """§2.1.4.2: raise ConsistencyProofError unless tree ``old_*`` is a prefix of tree ``new_*``.

    Beyond the RFC's 0 < first < second: equal sizes need an empty proof and equal roots
    (a different root is a fork); old size 0 needs an empty proof and the empty-tree root.
    """
    _check_size("the old tree size", old_size, ConsistencyProofError)
    _check_size("the new tree size", new_size, ConsistencyProofError)
    _check_hash("the old root hash", old_root, ConsistencyProofError)
    _check_hash("the new root hash", new_root, ConsistencyProofError)
    for c in proof:
        _check_hash("a proof element", c, ConsistencyProofError)
    if old_size > new_size:
        raise ConsistencyProofError(f"the tree shrank from {old_size} to {new_size} leaves")
    if old_size in (0, new_size):
        if proof:
            raise ConsistencyProofError("this consistency proof must be empty")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ConsistencyProofError("a tree of size 0 must have the empty-tree root hash")
        if old_size == new_size and old_root != new_root:
            raise ConsistencyProofError(f"two different root hashes for tree size {old_size}: the log forked")
        return
    path = list(proof)
    if not path:  # step 1
        raise ConsistencyProofError("the consistency proof is empty")
    if old_size & (old_size - 1) == 0:  # step 2: first is an exact power of 2
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:  # 6a
            raise ConsistencyProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    if sn != 0:  # step 7
        raise ConsistencyProofError("the consistency proof is too short")
    if fr != old_root:
        raise ConsistencyProofError(f"the proof does not match the root hash of the old tree (size {old_size})")
    if sr != new_root:
        raise ConsistencyProofError(f"the proof does not match the root hash of the new tree (size {new_size})")
