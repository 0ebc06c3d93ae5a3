"""Relation tuples, a tuple store, and the evaluation of the rewrite rules (pure: no IO).

A tuple says `object#relation@subject` for a window of time: `case:c1#custodian@user:ann`,
`bundle:b1#defence@organisation:smith#member`, `file:f1#bundle@bundle:b1`. Every answer is
computed from the store at the instant `now` given by the caller, so a deleted (revoked) or
expired tuple stops counting on the very next call; nothing is cached between calls.

Two ways to evaluate the same rules (``rules.py``):
- ``check`` walks top-down from the object (Zanzibar's Check), memoised within the call;
- ``list_objects`` walks bottom-up from the user through the subject index (a reverse
  expansion), so its cost follows what the user can reach, not the number of objects.
Both resolve the user's usersets (groups, nested groups, organisations) the same way: once
per call, as a fixpoint over the subject index that terminates on cycles and is bounded by
``max_depth`` rounds.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from filehub.authz.rules import (
    FILEHUB_SCHEMA,
    MAX_DEPTH,
    AuthzError,
    ComputedUserset,
    Exclusion,
    Node,
    RelationDef,
    Rewrite,
    Schema,
    SubjectType,
    This,
    TupleToUserset,
    Union,
)
from filehub.ids import new_id

_TYPE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")  # no ':', '#', '@' or spaces: the text form stays unambiguous
_TUPLE = re.compile(r"([^:#@\s]+):([^:#@\s]+)#([^:#@\s]+)@([^:#@\s]+):([^:#@\s]+)(?:#([^:#@\s]+))?")


class InvalidTuple(AuthzError):
    """A reference, tuple or instant is malformed, or the schema does not allow the tuple."""


class ResolutionTooDeep(AuthzError):
    """Resolving a query needed more than max_depth levels; treat as a deny and log it."""


# --- references and tuples ------------------------------------------------------------------


def _name(kind: str, value: str, pattern: re.Pattern[str]) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidTuple(f"bad {kind} {value!r}")


@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """An object, e.g. `case:c1` or `user:ann`."""

    type: str
    id: str

    def __post_init__(self) -> None:
        _name("type", self.type, _TYPE)
        _name("id", self.id, _ID)

    @classmethod
    def parse(cls, text: str) -> ObjectRef:
        type_, sep, id_ = text.partition(":")
        if not sep:
            raise InvalidTuple(f"bad object {text!r}: expected type:id")
        return cls(type_, id_)

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"


@dataclass(frozen=True, slots=True, order=True)
class SubjectRef:
    """A tuple's subject: an object (`user:ann`, `case:c1`) or a userset (`group:g1#member`)."""

    type: str
    id: str
    relation: str | None = None

    def __post_init__(self) -> None:
        _name("type", self.type, _TYPE)
        _name("id", self.id, _ID)
        if self.relation is not None:
            _name("relation", self.relation, _TYPE)

    @classmethod
    def parse(cls, text: str) -> SubjectRef:
        head, sep, relation = text.partition("#")
        ref = ObjectRef.parse(head)
        return cls(ref.type, ref.id, relation if sep else None)

    @classmethod
    def of(cls, obj: ObjectRef, relation: str | None = None) -> SubjectRef:
        return cls(obj.type, obj.id, relation)

    @property
    def object(self) -> ObjectRef:
        return ObjectRef(self.type, self.id)

    def __str__(self) -> str:
        return f"{self.type}:{self.id}" if self.relation is None else f"{self.type}:{self.id}#{self.relation}"


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise InvalidTuple(f"{name} must be a timezone-aware datetime")


@dataclass(frozen=True, slots=True)
class RelationTuple:
    """`object#relation@subject`, valid from `not_before` (inclusive) to `expires_at` (exclusive).

    The window is fixed at creation: to change it, revoke the tuple and write a new one.
    `id` names the grant so that it can be revoked (and audited) on its own.
    """

    id: str
    object: ObjectRef
    relation: str
    subject: SubjectRef
    not_before: datetime | None = None
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        _name("tuple id", self.id, _ID)
        _name("relation", self.relation, _TYPE)
        _require_aware("not_before", self.not_before)
        _require_aware("expires_at", self.expires_at)
        if self.not_before is not None and self.expires_at is not None and self.expires_at <= self.not_before:
            raise InvalidTuple("expires_at must be later than not_before")

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        id: str | None = None,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> RelationTuple:
        """`case:c1#custodian@group:g1#member` -> a tuple (with a fresh random id unless given)."""
        match = _TUPLE.fullmatch(text)
        if not match:
            raise InvalidTuple(f"bad tuple {text!r}: expected type:id#relation@type:id[#relation]")
        otype, oid, relation, stype, sid, srel = match.groups()
        subject = SubjectRef(stype, sid, srel)
        return cls(id or new_id(), ObjectRef(otype, oid), relation, subject, not_before, expires_at)

    @property
    def object_type(self) -> str:
        return self.object.type

    @property
    def object_id(self) -> str:
        return self.object.id

    def active_at(self, now: datetime) -> bool:
        """Half-open window: counts from `not_before` on, and no longer at `expires_at`."""
        return (self.not_before is None or self.not_before <= now) and (
            self.expires_at is None or now < self.expires_at
        )

    def __str__(self) -> str:
        return f"{self.object}#{self.relation}@{self.subject}"


def validate_tuple(tuple_: RelationTuple, schema: Schema = FILEHUB_SCHEMA) -> None:
    """Raise InvalidTuple unless the schema lets this relation hold this kind of subject."""
    rdef = schema.types.get(tuple_.object.type, {}).get(tuple_.relation)
    if rdef is None or not rdef.is_direct:
        raise InvalidTuple(f"{tuple_.object.type}#{tuple_.relation} cannot be granted directly")
    kind = SubjectType(tuple_.subject.type, tuple_.subject.relation)
    if kind not in rdef.allowed:
        allowed = ", ".join(str(a) for a in rdef.allowed)
        raise InvalidTuple(f"{tuple_.object.type}#{tuple_.relation} accepts [{allowed}], not {kind}")


# --- stores ------------------------------------------------------------------------------------


class TupleStore(Protocol):
    """Read access the evaluator needs. Stores return tuples whatever their window;
    the evaluator filters by time itself, so a store may also pre-filter (never widen)."""

    def by_object(self, obj: ObjectRef, relation: str) -> Collection[RelationTuple]:
        """Tuples `obj#relation@*`."""
        ...

    def exact(self, obj: ObjectRef, relation: str, subject: SubjectRef) -> Collection[RelationTuple]:
        """Tuples `obj#relation@subject` (several when windows differ)."""
        ...

    def by_subject(self, subject: SubjectRef, object_type: str, relation: str) -> Collection[RelationTuple]:
        """Tuples `object_type:*#relation@subject` (the reverse index)."""
        ...


_Index = dict[object, dict[str, RelationTuple]]  # key -> {tuple id: tuple}


class MemoryTuples:
    """An in-memory TupleStore indexed by (object, relation), by exact triple and by subject.

    Used by the tests and, loaded from the database, as a per-request snapshot.
    """

    def __init__(self, tuples: Iterable[RelationTuple] = (), *, schema: Schema | None = None):
        self._schema = schema  # when given, every added tuple is validated against it
        self._by_id: dict[str, RelationTuple] = {}
        self._by_object: _Index = {}
        self._exact: _Index = {}
        self._by_subject: _Index = {}
        for tuple_ in tuples:
            self.add(tuple_)

    def add(self, tuple_: RelationTuple) -> None:
        if tuple_.id in self._by_id:
            raise InvalidTuple(f"tuple id {tuple_.id!r} is already in the store")
        if self._schema is not None:
            validate_tuple(tuple_, self._schema)
        self._by_id[tuple_.id] = tuple_
        for index, key in self._keys(tuple_):
            index.setdefault(key, {})[tuple_.id] = tuple_

    def remove(self, tuple_id: str) -> RelationTuple:
        """Delete (revoke) one tuple by id; KeyError if there is none."""
        tuple_ = self._by_id.pop(tuple_id)
        for index, key in self._keys(tuple_):
            bucket = index[key]
            del bucket[tuple_id]
            if not bucket:
                del index[key]
        return tuple_

    def get(self, tuple_id: str) -> RelationTuple | None:
        return self._by_id.get(tuple_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[RelationTuple]:
        return iter(list(self._by_id.values()))

    def __contains__(self, tuple_id: object) -> bool:
        return tuple_id in self._by_id

    def by_object(self, obj: ObjectRef, relation: str) -> Collection[RelationTuple]:
        return self._by_object.get((obj, relation), {}).values()

    def exact(self, obj: ObjectRef, relation: str, subject: SubjectRef) -> Collection[RelationTuple]:
        return self._exact.get((obj, relation, subject), {}).values()

    def by_subject(self, subject: SubjectRef, object_type: str, relation: str) -> Collection[RelationTuple]:
        return self._by_subject.get((subject, object_type, relation), {}).values()

    def _keys(self, t: RelationTuple) -> tuple[tuple[_Index, object], ...]:
        return (
            (self._by_object, (t.object, t.relation)),
            (self._exact, (t.object, t.relation, t.subject)),
            (self._by_subject, (t.subject, t.object.type, t.relation)),
        )


# --- evaluation --------------------------------------------------------------------------------


def check(
    store: TupleStore,
    obj: ObjectRef,
    permission: str,
    user: ObjectRef,
    now: datetime,
    *,
    schema: Schema = FILEHUB_SCHEMA,
    max_depth: int = MAX_DEPTH,
) -> bool:
    """Is `user` in `obj#permission` at `now`? Raises ResolutionTooDeep rather than guess."""
    schema.relation(obj.type, permission)  # UnknownRelation for a typo, not a silent False
    return _Evaluation(store, schema, user, now, max_depth).has(obj, permission, 0)


def list_objects(
    store: TupleStore,
    object_type: str,
    permission: str,
    user: ObjectRef,
    now: datetime,
    *,
    schema: Schema = FILEHUB_SCHEMA,
    max_depth: int = MAX_DEPTH,
) -> frozenset[str]:
    """Ids of every `object_type` object on which `user` holds `permission` at `now`."""
    schema.relation(object_type, permission)
    return _Evaluation(store, schema, user, now, max_depth).ids((object_type, permission))


def subject_sets(
    store: TupleStore,
    user: ObjectRef,
    now: datetime,
    *,
    schema: Schema = FILEHUB_SCHEMA,
    max_depth: int = MAX_DEPTH,
) -> frozenset[SubjectRef]:
    """Every userset the schema lets a grant name that contains `user` (their groups, nested,
    and organisations), plus the user: the subjects whose tuples can matter for this user."""
    evaluation = _Evaluation(store, schema, user, now, max_depth)
    kinds = {
        s for relations in schema.types.values() for r in relations.values() for s in r.allowed if s.relation
    }
    found = {
        subject for kind in sorted(kinds, key=str) for subject in evaluation.subjects_of(kind, final=True)
    }
    return frozenset(found | {evaluation.me})


class _Evaluation:
    """One query: the store, the user, the instant, and what has been learnt so far."""

    def __init__(self, store: TupleStore, schema: Schema, user: ObjectRef, now: datetime, max_depth: int):
        _require_aware("now", now)
        self.store, self.schema, self.now, self.max_depth = store, schema, now, max_depth
        self.me = SubjectRef(user.type, user.id)
        self._memo: dict[tuple[ObjectRef, str], bool] = {}  # top-down answers
        self._sets: dict[Node, frozenset[str]] = {}  # bottom-up: ids whose relation holds the user
        self._members: dict[SubjectType, tuple[SubjectRef, ...]] = {}

    # top-down (check)

    def has(self, obj: ObjectRef, relation: str, depth: int) -> bool:
        key = (obj, relation)
        known = self._memo.get(key)
        if known is not None:
            return known
        if depth > self.max_depth:
            raise ResolutionTooDeep(f"more than {self.max_depth} levels resolving {obj}#{relation}")
        rdef = self.schema.relation(obj.type, relation)
        answer = self._holds(obj, relation, rdef, rdef.rewrite, depth)
        self._memo[key] = answer
        return answer

    def _holds(self, obj: ObjectRef, relation: str, rdef: RelationDef, rewrite: Rewrite, depth: int) -> bool:
        if isinstance(rewrite, This):
            return self._granted(obj, relation, rdef)
        if isinstance(rewrite, ComputedUserset):
            return self.has(obj, rewrite.relation, depth + 1)
        if isinstance(rewrite, TupleToUserset):
            parents = (
                t.subject.object for t in self.store.by_object(obj, rewrite.tupleset) if t.active_at(self.now)
            )
            return any(self.has(parent, rewrite.computed, depth + 1) for parent in parents)
        if isinstance(rewrite, Union):
            return any(self._holds(obj, relation, rdef, child, depth) for child in rewrite.children)
        assert isinstance(rewrite, Exclusion)
        return self._holds(obj, relation, rdef, rewrite.base, depth) and not self._holds(
            obj, relation, rdef, rewrite.subtract, depth
        )

    def _granted(self, obj: ObjectRef, relation: str, rdef: RelationDef) -> bool:
        """A live tuple names the user, or a userset (group, organisation) the user is in."""
        subjects = (s for kind in rdef.allowed for s in self.subjects_of(kind, final=True))
        return any(t.active_at(self.now) for s in subjects for t in self.store.exact(obj, relation, s))

    def subjects_of(self, kind: SubjectType, *, final: bool) -> tuple[SubjectRef, ...]:
        """Subjects of this kind that hold the user: the user, or the usersets they are in.

        `final` answers are cached; inside a fixpoint the sets are still growing, so not there.
        """
        if kind.relation is None:  # a plain type: only the user's own type can name the user
            return (self.me,) if kind.type == self.me.type else ()
        if final and kind in self._members:
            return self._members[kind]
        ids = self.ids((kind.type, kind.relation))
        found = tuple(SubjectRef(kind.type, i, kind.relation) for i in sorted(ids))
        if final:
            self._members[kind] = found
        return found

    # bottom-up (list_objects, and the user's usersets for check)

    def ids(self, node: Node) -> frozenset[str]:
        known = self._sets.get(node)
        if known is not None:
            return known
        group = self.schema.recursive_group(node)
        if group is None:
            answer = self._sets[node] = frozenset(self._collect(node, self._rdef(node).rewrite))
            return answer
        return self._fixpoint(group)[node]

    def _fixpoint(self, group: tuple[Node, ...]) -> dict[Node, frozenset[str]]:
        """Relations that depend on themselves (nested groups): grow from empty until stable.

        Each round adds one more level of nesting, so a cycle adds nothing new and ends the
        loop. The rules keep negation out of such cycles, so the growth is monotone.
        """
        for node in group:
            self._sets[node] = frozenset()
        for _ in range(self.max_depth + 1):
            grown = {node: frozenset(self._collect(node, self._rdef(node).rewrite)) for node in group}
            if all(grown[node] == self._sets[node] for node in group):
                return grown
            self._sets.update(grown)
        raise ResolutionTooDeep(
            f"more than {self.max_depth} levels of nesting in {group[0][0]}#{group[0][1]}"
        )

    def _collect(self, node: Node, rewrite: Rewrite) -> set[str]:
        type_, relation = node
        if isinstance(rewrite, This):
            return self._granted_ids(type_, relation, self._rdef(node))
        if isinstance(rewrite, ComputedUserset):
            return set(self.ids((type_, rewrite.relation)))
        if isinstance(rewrite, TupleToUserset):
            found: set[str] = set()
            for parent in self._rdef((type_, rewrite.tupleset)).allowed:
                for parent_id in self.ids((parent.type, rewrite.computed)):
                    children = self.store.by_subject(
                        SubjectRef(parent.type, parent_id), type_, rewrite.tupleset
                    )
                    found.update(t.object.id for t in children if t.active_at(self.now))
            return found
        if isinstance(rewrite, Union):
            return set().union(*(self._collect(node, child) for child in rewrite.children))
        assert isinstance(rewrite, Exclusion)
        base = self._collect(node, rewrite.base)
        return base - self._collect(node, rewrite.subtract) if base else base

    def _granted_ids(self, type_: str, relation: str, rdef: RelationDef) -> set[str]:
        subjects = (s for kind in rdef.allowed for s in self.subjects_of(kind, final=False))
        tuples = (t for s in subjects for t in self.store.by_subject(s, type_, relation))
        return {t.object.id for t in tuples if t.active_at(self.now)}

    def _rdef(self, node: Node) -> RelationDef:
        return self.schema.relation(*node)
