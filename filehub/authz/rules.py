"""The authorisation schema: rewrite rules written as data, and filehub's model in it (pure).

A schema maps each object type to its relations. A relation either holds tuples directly
(``This``, with the subject types it accepts) or is computed from other relations with the
userset rewrites of Zanzibar §2.3.1 (Pang et al., USENIX ATC 2019): ``ComputedUserset``
(``admin`` implies ``member``), ``TupleToUserset`` (``can_view from case``), ``Union`` and
``Exclusion`` (``but not denied``). The evaluator in ``model.py`` knows these five node kinds
and nothing about cases or bundles; the whole policy is ``FILEHUB_SCHEMA`` below.

``Schema`` refuses rules the evaluator could get wrong (checked once, at import):
- every name it mentions exists, and tuple-to-userset walks only plain parent objects;
- relations reached through ``ComputedUserset``/``TupleToUserset`` alone form no cycle (the top-down
  ``check`` never loops); recursion may only pass through usersets (``group#member``), which
  the evaluator resolves as a bounded fixpoint;
- negation is stratified: no cycle passes through the subtracted side of an ``Exclusion``, so
  a deny is always computed exactly, never from a half-finished recursion.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

MAX_DEPTH = 32  # nested-group levels (fixpoint rounds) and check recursion; deeper raises

Node = tuple[str, str]  # (object type, relation)

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


class AuthzError(Exception):
    """Base of the authorisation core's errors (programming or data errors, never a deny)."""


class SchemaError(AuthzError):
    """The rewrite rules are inconsistent, unsafe to evaluate, or a name is unknown."""


class UnknownRelation(SchemaError):
    """A query named a type or relation the schema does not define."""


# --- rewrite rules (Zanzibar §2.3.1 userset rewrites) ---------------------------------------


@dataclass(frozen=True, slots=True)
class This:
    """Subjects named by stored tuples of this very relation (`_this`)."""


@dataclass(frozen=True, slots=True)
class ComputedUserset:
    """Everyone in another relation of the same object (`admin` implies `member`)."""

    relation: str


@dataclass(frozen=True, slots=True)
class TupleToUserset:
    """Everyone in `computed` of each object that `tupleset` names (`can_view from case`)."""

    tupleset: str
    computed: str


@dataclass(frozen=True, slots=True)
class Union:
    children: tuple[Rewrite, ...]


@dataclass(frozen=True, slots=True)
class Exclusion:
    """`base but not subtract`: a subject in `subtract` is refused whatever grants it holds."""

    base: Rewrite
    subtract: Rewrite


Rewrite = This | ComputedUserset | TupleToUserset | Union | Exclusion


@dataclass(frozen=True, slots=True)
class SubjectType:
    """A subject a direct relation accepts: a plain type (`user`, `case`) or a userset (`group#member`)."""

    type: str
    relation: str | None = None

    @classmethod
    def parse(cls, text: str) -> SubjectType:
        type_, _, relation = text.partition("#")
        return cls(type_, relation or None)

    def __str__(self) -> str:
        return self.type if self.relation is None else f"{self.type}#{self.relation}"


@dataclass(frozen=True, slots=True)
class RelationDef:
    """One relation: its rewrite and, when it holds tuples, the subject types it accepts."""

    rewrite: Rewrite
    allowed: tuple[SubjectType, ...] = ()

    @property
    def is_direct(self) -> bool:
        """True when tuples may be written for this relation (it contains `This`)."""
        return bool(self.allowed)


# Builders, so the model below reads like the DSL it renders to.
THIS = This()


def direct(*allowed: str) -> RelationDef:
    """A stored relation: `[user, group#member]`."""
    return RelationDef(THIS, tuple(SubjectType.parse(a) for a in allowed))


def rule(rewrite: Rewrite, *allowed: str) -> RelationDef:
    """A relation defined by a rewrite (with `allowed` when the rewrite contains `THIS`)."""
    return RelationDef(rewrite, tuple(SubjectType.parse(a) for a in allowed))


def computed(relation: str) -> ComputedUserset:
    return ComputedUserset(relation)


def via(tupleset: str, relation: str) -> TupleToUserset:
    """`relation from tupleset`, e.g. via("case", "can_view") is `can_view from case`."""
    return TupleToUserset(tupleset, relation)


def any_of(*children: Rewrite | str) -> Union:
    """`a or b or ...`; a bare name is a computed userset (another relation of the object)."""
    return Union(tuple(computed(c) if isinstance(c, str) else c for c in children))


def but_not(base: Rewrite, subtract: Rewrite) -> Exclusion:
    return Exclusion(base, subtract)


def unless_denied(*grants: Rewrite | str) -> RelationDef:
    """`(grant or ...) but not denied`: a permission that yields to every block."""
    base = any_of(*grants)
    return rule(but_not(base.children[0] if len(base.children) == 1 else base, computed("denied")))


# --- the schema -------------------------------------------------------------------------------


class Schema:
    """Validated rewrite rules; read-only after construction."""

    def __init__(self, types: Mapping[str, Mapping[str, RelationDef]]):
        self.types: Mapping[str, Mapping[str, RelationDef]] = MappingProxyType(
            {name: MappingProxyType(dict(relations)) for name, relations in types.items()}
        )
        self._check_definitions()
        structural, full, negative = self._graphs()
        if cycle := _find_cycle(structural):
            raise SchemaError(f"relations refer to each other in a cycle: {_show(cycle)}")
        component = _components(full)
        for source, target in negative:
            if component[source] == component[target]:
                raise SchemaError(f"{_show([source])} subtracts {_show([target])}, which depends on it")
        self._recursive = {
            node: tuple(sorted(members))
            for node, members in ((n, [m for m in full if component[m] == component[n]]) for n in full)
            if len(members) > 1 or node in full[node]
        }

    def relation(self, type_: str, relation: str) -> RelationDef:
        try:
            return self.types[type_][relation]
        except KeyError:
            raise UnknownRelation(f"no relation {type_}#{relation} in the schema") from None

    def recursive_group(self, node: Node) -> tuple[Node, ...] | None:
        """The relations that must be solved together with `node` (a positive cycle), if any."""
        return self._recursive.get(node)

    def render(self) -> str:
        """The rules in the OpenFGA-like text used by docs/authz.md."""
        lines: list[str] = []
        for type_, relations in self.types.items():
            lines.append(f"type {type_}")
            for name, rdef in relations.items():
                lines.append(f"  {name}: {_render(rdef.rewrite, rdef.allowed, top=True)}")
        return "\n".join(lines) + "\n"

    # validation

    def _check_definitions(self) -> None:
        for type_, relations in self.types.items():
            for name in (type_, *relations):
                if not _NAME.fullmatch(name):
                    raise SchemaError(f"bad name {name!r}: use lower-case letters, digits and _")
            for name, rdef in relations.items():
                if _contains_this(rdef.rewrite) != rdef.is_direct:
                    raise SchemaError(f"{type_}#{name}: subject types go with THIS, and only with it")
                for subject in rdef.allowed:
                    if subject.type not in self.types:
                        raise SchemaError(f"{type_}#{name} accepts unknown type {subject.type}")
                    if subject.relation is not None:
                        self._require(subject.type, subject.relation, f"{type_}#{name}")
                for node in _references(rdef.rewrite):
                    self._check_reference(type_, name, node)

    def _check_reference(self, type_: str, name: str, node: Rewrite) -> None:
        where = f"{type_}#{name}"
        if isinstance(node, ComputedUserset):
            self._require(type_, node.relation, where)
        elif isinstance(node, TupleToUserset):
            parents = self._require(type_, node.tupleset, where)
            if parents.rewrite != THIS or any(s.relation is not None for s in parents.allowed):
                raise SchemaError(f"{where}: {node.tupleset} must be a plain list of parent objects")
            for parent in parents.allowed:
                self._require(parent.type, node.computed, where)

    def _require(self, type_: str, relation: str, where: str) -> RelationDef:
        if relation not in self.types.get(type_, {}):
            raise SchemaError(f"{where} refers to {type_}#{relation}, which does not exist")
        return self.types[type_][relation]

    def _graphs(self) -> tuple[dict[Node, set[Node]], dict[Node, set[Node]], list[tuple[Node, Node]]]:
        """Dependency edges: structural (computed, tuple-to-userset), full (+ usersets), negative."""
        structural: dict[Node, set[Node]] = {}
        full: dict[Node, set[Node]] = {}
        negative: list[tuple[Node, Node]] = []
        for type_, relations in self.types.items():
            for name, rdef in relations.items():
                source = (type_, name)
                steps = set(self._steps(type_, rdef.rewrite))
                structural[source] = steps
                full[source] = steps | {(s.type, s.relation) for s in rdef.allowed if s.relation}
                negative += [(source, target) for target in self._negated(type_, rdef.rewrite)]
        return structural, full, negative

    def _steps(self, type_: str, rewrite: Rewrite) -> Iterator[Node]:
        for node in _references(rewrite):
            if isinstance(node, ComputedUserset):
                yield (type_, node.relation)
            elif isinstance(node, TupleToUserset):
                yield (type_, node.tupleset)
                for parent in self.types[type_][node.tupleset].allowed:
                    yield (parent.type, node.computed)

    def _negated(self, type_: str, rewrite: Rewrite) -> Iterator[Node]:
        if isinstance(rewrite, Union):
            for child in rewrite.children:
                yield from self._negated(type_, child)
        elif isinstance(rewrite, Exclusion):
            yield from self._negated(type_, rewrite.base)
            yield from self._steps(type_, rewrite.subtract)


def _references(rewrite: Rewrite) -> Iterator[Rewrite]:
    """Every leaf of a rewrite tree."""
    if isinstance(rewrite, Union):
        for child in rewrite.children:
            yield from _references(child)
    elif isinstance(rewrite, Exclusion):
        yield from _references(rewrite.base)
        yield from _references(rewrite.subtract)
    else:
        yield rewrite


def _contains_this(rewrite: Rewrite) -> bool:
    return any(isinstance(leaf, This) for leaf in _references(rewrite))


def _find_cycle(graph: Mapping[Node, set[Node]]) -> list[Node] | None:
    state: dict[Node, int] = {}  # 1 = on the path, 2 = done
    path: list[Node] = []

    def visit(node: Node) -> list[Node] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _components(graph: Mapping[Node, set[Node]]) -> dict[Node, int]:
    """Strongly connected components (Tarjan); the schema is small, so recursion is fine."""
    index: dict[Node, int] = {}
    low: dict[Node, int] = {}
    stack: list[Node] = []
    component: dict[Node, int] = {}

    def visit(node: Node) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target not in component:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            number = len(set(component.values()))
            while True:
                member = stack.pop()
                component[member] = number
                if member == node:
                    break

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return component


def _show(nodes: list[Node]) -> str:
    return " -> ".join(f"{t}#{r}" for t, r in nodes)


def _render(rewrite: Rewrite, allowed: tuple[SubjectType, ...], *, top: bool = False) -> str:
    if isinstance(rewrite, This):
        return "[" + ", ".join(str(s) for s in allowed) + "]"
    if isinstance(rewrite, ComputedUserset):
        return rewrite.relation
    if isinstance(rewrite, TupleToUserset):
        return f"{rewrite.computed} from {rewrite.tupleset}"
    if isinstance(rewrite, Union):
        text = " or ".join(_render(child, allowed) for child in rewrite.children)
    else:
        base = _render(rewrite.base, allowed)
        text = f"{base} but not {_render(rewrite.subtract, allowed)}"
    return text if top else f"({text})"


# --- filehub's model (DESIGN.md §3; the reasoning is in docs/authz.md) ----------------------

ANYONE = ("user", "group#member", "organisation#member")  # who a case or bundle grant may name

FILEHUB_SCHEMA = Schema(
    {
        "user": {},
        "organisation": {
            "admin": direct("user"),
            "member": rule(any_of(THIS, "admin"), "user"),
            "auditor": direct("user"),
        },
        "group": {
            "member": direct("user", "group#member"),
        },
        "case": {
            "owner_org": direct("organisation"),
            "custodian": direct("user", "group#member"),
            "prosecutor": direct(*ANYONE),
            "contributor": direct(*ANYONE),
            "blocked": direct(*ANYONE),
            "denied": rule(computed("blocked")),
            "can_manage": unless_denied("custodian", via("owner_org", "admin")),
            "can_view": unless_denied("can_manage", "prosecutor"),
            "can_download": rule(computed("can_view")),
            "can_upload": unless_denied("can_manage", "contributor"),
            "can_share": unless_denied("can_manage", "prosecutor"),
            "can_audit": rule(any_of(via("owner_org", "auditor"), "can_manage")),  # no block silences audit
        },
        "bundle": {
            "case": direct("case"),
            "defence": direct(*ANYONE),
            "viewer": direct(*ANYONE),
            "downloader": direct(*ANYONE),
            "blocked": direct(*ANYONE),
            "denied": rule(any_of("blocked", via("case", "denied"))),
            "can_view": unless_denied("viewer", "downloader", "defence", via("case", "can_view")),
            "can_download": unless_denied("downloader", "defence", via("case", "can_download")),
            "can_reshare": unless_denied(via("case", "can_share")),
        },
        "file": {
            "case": direct("case"),
            "bundle": direct("bundle"),
            "denied": rule(any_of(via("case", "denied"), via("bundle", "denied"))),
            "can_view": unless_denied(via("case", "can_view"), via("bundle", "can_view")),
            "can_download": unless_denied(via("case", "can_download"), via("bundle", "can_download")),
        },
    }
)
