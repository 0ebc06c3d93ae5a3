"""The schema language, tuples and stores: what is refused, and the limits."""

from __future__ import annotations

import re
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from filehub.authz import (
    FILEHUB_SCHEMA,
    MAX_DEPTH,
    InvalidTuple,
    MemoryTuples,
    ObjectRef,
    RelationTuple,
    ResolutionTooDeep,
    Schema,
    SchemaError,
    SubjectRef,
    UnknownRelation,
    check,
    list_objects,
    subject_sets,
    validate_tuple,
)
from filehub.authz.rules import THIS, RelationDef, any_of, but_not, computed, direct, rule, via

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DOCS = Path(__file__).parents[3] / "docs" / "authz.md"


def tuples(*texts: str) -> MemoryTuples:
    return MemoryTuples(RelationTuple.parse(text, id=f"t{n}") for n, text in enumerate(texts))


# --- the rules as documented ---------------------------------------------------------------


def test_docs_show_the_rules_as_implemented() -> None:
    assert "```\n" + FILEHUB_SCHEMA.render() + "```" in DOCS.read_text()


# --- the schema refuses what the evaluator could get wrong ----------------------------------

USER: dict[str, dict[str, RelationDef]] = {"user": {}}


@pytest.mark.parametrize(
    ("types", "message"),
    [
        ({**USER, "doc": {"viewer": direct("nobody")}}, "unknown type nobody"),
        ({**USER, "doc": {"viewer": direct("user#friend")}}, "user#friend, which does not exist"),
        ({**USER, "doc": {"can_view": rule(computed("viewer"))}}, "doc#viewer, which does not exist"),
        ({**USER, "doc": {"owner": direct("user"), "can_view": rule(via("parent", "owner"))}}, "doc#parent"),
        (
            {
                **USER,
                "doc": {
                    "owner": direct("user"),
                    "parent": rule(computed("owner")),
                    "v": rule(via("parent", "owner")),
                },
            },
            "plain list of parent objects",
        ),
        ({**USER, "doc": {"parent": direct("doc"), "v": rule(via("parent", "missing"))}}, "doc#missing"),
        ({**USER, "doc": {"viewer": rule(THIS)}}, "subject types go with THIS"),
        (
            {**USER, "doc": {"viewer": direct("user"), "v": rule(computed("viewer"), "user")}},
            "subject types go with THIS",
        ),
        ({**USER, "Doc": {"viewer": direct("user")}}, "bad name"),
        (
            {**USER, "doc": {"a": rule(computed("b")), "b": rule(computed("a"))}},
            "cycle: doc#a -> doc#b -> doc#a",
        ),
        (
            # recursion through a parent (folders) would loop the top-down check: refused
            {
                **USER,
                "folder": {
                    "parent": direct("folder"),
                    "viewer": rule(any_of(THIS, via("parent", "viewer")), "user"),
                },
            },
            "cycle",
        ),
        (
            # a deny that depends on the very relation it guards is not stratified
            {
                **USER,
                "group": {
                    "member": rule(but_not(THIS, computed("out")), "user", "group#member"),
                    "out": direct("group#member"),
                },
            },
            "group#member subtracts group#out, which depends on it",
        ),
    ],
)
def test_schema_refuses(types: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(message)):
        Schema(types)


def test_recursion_through_usersets_is_solved_as_a_fixpoint() -> None:
    assert FILEHUB_SCHEMA.recursive_group(("group", "member")) == (("group", "member"),)
    assert FILEHUB_SCHEMA.recursive_group(("case", "can_view")) is None


def test_unknown_type_or_permission_is_an_error_not_a_deny() -> None:
    store = tuples()
    user = ObjectRef("user", "ann")
    with pytest.raises(UnknownRelation):
        check(store, ObjectRef("case", "c1"), "can_veiw", user, NOW)
    with pytest.raises(UnknownRelation):
        list_objects(store, "folder", "can_view", user, NOW)


# --- tuples --------------------------------------------------------------------------------


def test_tuple_text_round_trips() -> None:
    for text in [
        "case:c1#custodian@user:ann",
        "bundle:b1#defence@organisation:smith#member",
        "file:f1#bundle@bundle:b1",
    ]:
        tuple_ = RelationTuple.parse(text)
        assert str(tuple_) == text
        assert len(tuple_.id) == 32  # a fresh unguessable id unless one is given
    tuple_ = RelationTuple.parse("case:c1#custodian@group:g1#member", id="g")
    assert (tuple_.object_type, tuple_.object_id, tuple_.relation) == ("case", "c1", "custodian")
    assert tuple_.subject == SubjectRef("group", "g1", "member") == SubjectRef.parse("group:g1#member")
    assert SubjectRef.parse("case:c1").object == ObjectRef.parse("case:c1")


@pytest.mark.parametrize(
    "text",
    [
        "case:c1#custodian",
        "case:c1@user:ann",
        "case#custodian@user:ann",
        "case:c:1#custodian@user:ann",
        "case:c1#custodian@user:a n",
        "Case:c1#custodian@user:ann",
        "",
    ],
)
def test_malformed_tuples_are_refused(text: str) -> None:
    with pytest.raises(InvalidTuple):
        RelationTuple.parse(text, id="x")


@pytest.mark.parametrize("value", ["", "a:b", "a#b", "a@b", "a b", "x" * 129, "é"])
def test_ids_that_would_break_the_text_form_are_refused(value: str) -> None:
    with pytest.raises(InvalidTuple):
        ObjectRef("case", value)


@pytest.mark.parametrize("text", ["group:g1#", "group:g1#Member", "group", ":g1", "group:"])
def test_malformed_subjects_are_refused(text: str) -> None:
    with pytest.raises(InvalidTuple):
        SubjectRef.parse(text)


def test_windows_are_aware_and_not_empty() -> None:
    naive = datetime(2025, 1, 1)
    with pytest.raises(InvalidTuple, match="timezone-aware"):
        RelationTuple.parse("case:c1#custodian@user:ann", expires_at=naive)
    with pytest.raises(InvalidTuple, match="later than"):
        RelationTuple.parse("case:c1#custodian@user:ann", not_before=NOW, expires_at=NOW)
    with pytest.raises(InvalidTuple, match="timezone-aware"):
        check(tuples(), ObjectRef("case", "c1"), "can_view", ObjectRef("user", "ann"), naive)
    grant = RelationTuple.parse("case:c1#custodian@user:ann", expires_at=NOW)
    with pytest.raises(FrozenInstanceError):  # a window cannot be extended by re-saving
        grant.expires_at = NOW + timedelta(days=1)  # type: ignore[misc]


def test_windows_compare_instants_across_zones() -> None:
    plus_two = datetime(2025, 3, 3, 11, 0, tzinfo=timezone(timedelta(hours=2)))  # == NOW
    tuple_ = RelationTuple.parse("case:c1#custodian@user:ann", not_before=plus_two)
    assert tuple_.active_at(NOW) and not tuple_.active_at(NOW - timedelta(microseconds=1))


@pytest.mark.parametrize(
    "text",
    [
        "case:c1#defence@user:dan",  # defence is granted per bundle, never on a case
        "case:c1#can_view@user:dan",  # permissions are computed, never written
        "bundle:b1#case@user:ann",
        "group:g1#member@organisation:o1#member",  # groups hold users and groups only
        "organisation:o1#member@group:g1#member",
        "case:c1#custodian@organisation:met#member",  # custody is personal or a named team
        "file:f1#bundle@case:c1",
        "folder:x#viewer@user:ann",
    ],
)
def test_schema_refuses_tuples_it_does_not_allow(text: str) -> None:
    tuple_ = RelationTuple.parse(text, id="x")
    with pytest.raises(InvalidTuple):
        validate_tuple(tuple_)
    with pytest.raises(InvalidTuple):
        MemoryTuples([tuple_], schema=FILEHUB_SCHEMA)


# --- the store -----------------------------------------------------------------------------


def test_memory_store_indexes_and_forgets() -> None:
    store = tuples(
        "case:c1#custodian@user:ann", "case:c2#custodian@user:ann", "case:c1#custodian@group:g#member"
    )
    ann = SubjectRef("user", "ann")
    assert len(store) == 3 and "t0" in store and store.get("t9") is None
    assert {t.id for t in store.by_object(ObjectRef("case", "c1"), "custodian")} == {"t0", "t2"}
    assert {t.id for t in store.by_subject(ann, "case", "custodian")} == {"t0", "t1"}
    assert {t.id for t in store.exact(ObjectRef("case", "c1"), "custodian", ann)} == {"t0"}
    with pytest.raises(InvalidTuple, match="already"):
        store.add(RelationTuple.parse("case:c9#custodian@user:ann", id="t0"))
    assert str(store.remove("t0")) == "case:c1#custodian@user:ann"
    assert not store.exact(ObjectRef("case", "c1"), "custodian", ann)
    assert {t.id for t in store.by_subject(ann, "case", "custodian")} == {"t1"}
    with pytest.raises(KeyError):
        store.remove("t0")
    store.remove("t1")
    store.remove("t2")
    assert len(store) == 0 and not (store._by_object or store._exact or store._by_subject)


# --- usersets and depth ----------------------------------------------------------------------


def test_subject_sets_are_the_users_groups_and_organisations() -> None:
    store = tuples(
        "group:a#member@user:ann",
        "group:b#member@group:a#member",
        "group:a#member@group:b#member",
        "group:c#member@group:b#member",
        "group:x#member@user:ben",
        "organisation:met#admin@user:ann",
    )
    found = {str(s) for s in subject_sets(store, ObjectRef("user", "ann"), NOW)}
    assert found == {
        "user:ann",
        "group:a#member",
        "group:b#member",
        "group:c#member",
        "organisation:met#member",
    }


def chain(levels: int, *, top: str = "case:c1#custodian") -> MemoryTuples:
    """user:ann in g0, g0 in g1, ..., g(levels-1) granted `top`."""
    texts = ["group:g0#member@user:ann"]
    texts += [f"group:g{n + 1}#member@group:g{n}#member" for n in range(levels - 1)]
    return tuples(*texts, f"{top}@group:g{levels - 1}#member")


def test_nesting_up_to_the_bound_resolves() -> None:
    ann = ObjectRef("user", "ann")
    assert check(chain(MAX_DEPTH), ObjectRef("case", "c1"), "can_view", ann, NOW)
    assert list_objects(chain(MAX_DEPTH), "case", "can_view", ann, NOW) == {"c1"}


def test_nesting_past_the_bound_raises_rather_than_guesses() -> None:
    ann = ObjectRef("user", "ann")
    with pytest.raises(ResolutionTooDeep):
        check(chain(MAX_DEPTH + 1), ObjectRef("case", "c1"), "can_view", ann, NOW)
    with pytest.raises(ResolutionTooDeep):
        list_objects(chain(MAX_DEPTH + 1), "case", "can_view", ann, NOW)
    assert check(chain(5), ObjectRef("case", "c1"), "can_view", ann, NOW, max_depth=5)
    with pytest.raises(ResolutionTooDeep):
        check(chain(6), ObjectRef("case", "c1"), "can_view", ann, NOW, max_depth=5)


def test_a_block_too_deep_to_resolve_never_fails_open() -> None:
    store = chain(MAX_DEPTH + 1, top="case:c1#blocked")
    store.add(RelationTuple.parse("case:c1#custodian@user:ann", id="direct"))
    with pytest.raises(ResolutionTooDeep):
        check(store, ObjectRef("case", "c1"), "can_view", ObjectRef("user", "ann"), NOW)


def test_a_large_cycle_terminates() -> None:
    texts = [f"group:g{n}#member@group:g{(n + 1) % 200}#member" for n in range(200)]
    store = tuples(*texts, "group:g7#member@user:ann", "case:c1#custodian@group:g100#member")
    ann, ben = ObjectRef("user", "ann"), ObjectRef("user", "ben")
    assert check(store, ObjectRef("case", "c1"), "can_view", ann, NOW, max_depth=400)
    assert not check(store, ObjectRef("case", "c1"), "can_view", ben, NOW)


def test_mutually_recursive_relations_never_reuse_a_half_finished_set() -> None:
    schema = Schema(
        {
            "user": {},
            "team": {"member": direct("user", "team#lead"), "lead": direct("user", "team#member")},
            "doc": {"viewer": direct("team#member", "team#lead"), "can_view": rule(computed("viewer"))},
        }
    )
    assert schema.recursive_group(("team", "lead")) == (("team", "lead"), ("team", "member"))
    store = tuples("team:x#lead@user:ann", "team:y#member@team:x#lead", "doc:d#viewer@team:x#lead")
    ann = ObjectRef("user", "ann")
    assert check(store, ObjectRef("doc", "d"), "can_view", ann, NOW, schema=schema)
    assert list_objects(store, "doc", "can_view", ann, NOW, schema=schema) == {"d"}
    assert {str(s) for s in subject_sets(store, ann, NOW, schema=schema)} == {
        "user:ann",
        "team:x#lead",
        "team:y#member",
    }
