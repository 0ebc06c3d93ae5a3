"""The filehub model as one table of vectors: (tuples, query, expected).

Every vector starts from WORLD (one investigation, told below), removes and adds tuples, and
asks one question at one instant. A check vector is also asked of list_objects, so both ways
of evaluating the rules are held to the same answer. Stateful stories (a download running
while its grant is revoked) follow the table.

WORLD: the Met (police) investigates case c1. ann is its custodian, so is the `team` group
(squad is nested in team, and team in squad: a cycle). max administers the Met; ben is a Met
colleague with no grant on c1 (he has his own case c2); ivy is the Met's auditor. The CPS
prosecutes c1 (pat is a member, pam an admin). The lab contributes exhibits (con). Bundle b1
is disclosed to the defence firm Smith (dan); b2 is the trial bundle the court views (jud);
b3 is unused material. Jones (jon) is another defence firm. Files: f1 in b1; f2 in b1 and
b2; f3 in b3; f4 in no bundle; f5 belongs to c2. Case c3's custodian is the squad group.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from filehub.authz import FILEHUB_SCHEMA, MemoryTuples, ObjectRef, RelationTuple, check, list_objects

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
NB = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)  # a grant's not_before
EXP = datetime(2025, 3, 24, 17, 0, tzinfo=UTC)  # ... and its expires_at
US = timedelta(microseconds=1)

WORLD = """
organisation:met#admin@user:max
organisation:met#member@user:ann
organisation:met#member@user:ben
organisation:met#member@user:sue
organisation:met#auditor@user:ivy
organisation:cps#member@user:pat
organisation:cps#admin@user:pam
organisation:smith#member@user:dan
organisation:jones#member@user:jon
organisation:crown#member@user:jud
organisation:lab#member@user:con
group:team#member@user:tim
group:squad#member@user:sue
group:team#member@group:squad#member
group:squad#member@group:team#member
case:c1#owner_org@organisation:met
case:c1#custodian@user:ann
case:c1#custodian@group:team#member
case:c1#prosecutor@organisation:cps#member
case:c1#contributor@organisation:lab#member
case:c2#owner_org@organisation:met
case:c2#custodian@user:ben
case:c3#owner_org@organisation:met
case:c3#custodian@group:squad#member
bundle:b1#case@case:c1
bundle:b1#defence@organisation:smith#member
bundle:b2#case@case:c1
bundle:b2#viewer@organisation:crown#member
bundle:b3#case@case:c1
file:f1#case@case:c1
file:f1#bundle@bundle:b1
file:f2#case@case:c1
file:f2#bundle@bundle:b1
file:f2#bundle@bundle:b2
file:f3#case@case:c1
file:f3#bundle@bundle:b3
file:f4#case@case:c1
file:f5#case@case:c2
""".split()


def win(text: str, not_before: datetime | None = None, expires_at: datetime | None = None) -> RelationTuple:
    """A tuple with a validity window (its id is given when the store is built)."""
    return RelationTuple.parse(text, id="pending", not_before=not_before, expires_at=expires_at)


Add = str | RelationTuple


@dataclass(frozen=True)
class V:
    name: str
    query: str  # "file:f1#can_download@user:dan" (check) or "file#can_download@user:dan" (list)
    expected: bool | frozenset[str]
    add: tuple[Add, ...] = ()
    remove: tuple[str, ...] = ()
    at: datetime = NOW


def ids(*names: str) -> frozenset[str]:
    return frozenset(names)


B1_DEFENCE = "bundle:b1#defence@organisation:smith#member"
NEW_FILE = ("file:f9#case@case:c1",)
NEW_DISCLOSED_FILE = ("file:f9#case@case:c1", "file:f9#bundle@bundle:b1")
JON_B1 = (win("bundle:b1#defence@user:jon", NB, EXP),)  # a defence grant from NB until EXP

# One vector per line, so the table reads as a table.
# fmt: off
VECTORS = [
    # organisation: admin implies member; auditor is neither
    V("org admin is a member", "organisation:cps#member@user:pam", True),
    V("org member is not an admin", "organisation:cps#admin@user:pat", False),
    V("org auditor is not a member", "organisation:met#member@user:ivy", False),
    # group: nested, and a cycle that terminates both ways
    V("nested group member", "group:team#member@user:sue", True),
    V("member through the cycle", "group:squad#member@user:tim", True),
    V("non-member of a cyclic group", "group:team#member@user:ben", False),
    # case: custodians and the owning organisation's admins manage
    V("custodian manages", "case:c1#can_manage@user:ann", True),
    V("custodian uploads", "case:c1#can_upload@user:ann", True),
    V("custodian downloads unused material", "file:f3#can_download@user:ann", True),
    V("custodian through nested group", "case:c1#can_manage@user:sue", True),
    V("custodian through group cycle", "case:c3#can_manage@user:tim", True),
    V("org admin manages", "case:c1#can_manage@user:max", True),
    V("org admin downloads", "file:f4#can_download@user:max", True),
    V("another org's admin does not manage", "case:c1#can_manage@user:pam", False),
    V("colleague without a grant cannot view the case", "case:c1#can_view@user:ben", False),
    V("colleague without a grant cannot view a file", "file:f4#can_view@user:ben", False),
    V("colleague without a grant cannot view a bundle", "bundle:b3#can_view@user:ben", False),
    V("colleague downloads from his own case", "file:f5#can_download@user:ben", True),
    V("custodian of c1 does not see c2", "file:f5#can_view@user:ann", False),
    V("org membership alone grants nothing", "case:c2#can_view@user:sue", False),
    # prosecutor: via organisation membership, views and downloads the whole case
    V("prosecutor via organisation views case", "case:c1#can_view@user:pat", True),
    V("prosecutor downloads unused material", "file:f3#can_download@user:pat", True),
    V("prosecutor downloads a file in no bundle", "file:f4#can_download@user:pat", True),
    V("prosecutor does not manage", "case:c1#can_manage@user:pat", False),
    V("prosecutor does not upload", "case:c1#can_upload@user:pat", False),
    V("prosecution org admin is a member", "case:c1#can_view@user:pam", True),
    V("prosecutor as a user", "file:f5#can_download@user:pat", True, add=("case:c2#prosecutor@user:pat",)),
    V(
        "prosecutor via group",
        "case:c2#can_view@user:pia",
        True,
        add=("group:lawyers#member@user:pia", "case:c2#prosecutor@group:lawyers#member"),
    ),
    # contributor: upload only
    V("contributor via organisation uploads", "case:c1#can_upload@user:con", True),
    V("contributor cannot view the case", "case:c1#can_view@user:con", False),
    V("contributor cannot view files", "file:f1#can_view@user:con", False),
    V("contributor as a user", "case:c2#can_upload@user:con", True, add=("case:c2#contributor@user:con",)),
    V("contributor via group", "case:c2#can_upload@user:sue", True, add=("case:c2#contributor@group:squad#member",)),
    # auditor of the owning organisation audits; a case block cannot silence an auditor
    V("auditor audits", "case:c1#can_audit@user:ivy", True),
    V("auditor cannot view", "case:c1#can_view@user:ivy", False),
    V("manager audits", "case:c1#can_audit@user:ann", True),
    V("colleague does not audit", "case:c1#can_audit@user:ben", False),
    V("blocked auditor still audits", "case:c1#can_audit@user:ivy", True, add=("case:c1#blocked@user:ivy",)),
    # defence: the disclosed bundle and its files, nothing else of the case
    V("defence views disclosed bundle", "bundle:b1#can_view@user:dan", True),
    V("defence downloads disclosed bundle", "bundle:b1#can_download@user:dan", True),
    V("defence downloads disclosed file", "file:f1#can_download@user:dan", True),
    V("defence downloads file in two bundles", "file:f2#can_download@user:dan", True),
    V("defence never sees unused material", "file:f3#can_view@user:dan", False),
    V("defence never sees a file in no bundle", "file:f4#can_view@user:dan", False),
    V("defence cannot view the case", "case:c1#can_view@user:dan", False),
    V("defence cannot view the trial bundle", "bundle:b2#can_view@user:dan", False),
    V("defence cannot view unused bundle", "bundle:b3#can_view@user:dan", False),
    V("defence cannot view another case", "file:f5#can_view@user:dan", False),
    V("another firm sees nothing", "file:f1#can_view@user:jon", False),
    V("another firm cannot view the bundle", "bundle:b1#can_view@user:jon", False),
    V("defence via user grant", "file:f3#can_download@user:jon", True, add=("bundle:b3#defence@user:jon",)),
    V(
        "defence via group",
        "file:f1#can_download@user:dee",
        True,
        add=("group:smith_team#member@user:dee", "bundle:b1#defence@group:smith_team#member"),
    ),
    V("file added to disclosed bundle is disclosed", "file:f9#can_download@user:dan", True, add=NEW_DISCLOSED_FILE),
    # viewer and downloader
    V("court views trial bundle", "bundle:b2#can_view@user:jud", True),
    V("court viewer cannot download", "bundle:b2#can_download@user:jud", False),
    V("court views a file of the trial bundle", "file:f2#can_view@user:jud", True),
    V("court viewer cannot download the file", "file:f2#can_download@user:jud", False),
    V("court sees no other bundle's file", "file:f1#can_view@user:jud", False),
    V("downloader downloads", "file:f2#can_download@user:jud", True, add=("bundle:b2#downloader@user:jud",)),
    V("downloader also views", "bundle:b2#can_view@user:jon", True, add=("bundle:b2#downloader@user:jon",)),
    V("viewer as a user", "file:f2#can_view@user:jon", True, add=("bundle:b2#viewer@user:jon",)),
    V("viewer via group", "file:f2#can_view@user:jon", True, add=("group:j#member@user:jon", "bundle:b2#viewer@group:j#member")),
    V(
        "downloader via group",
        "file:f2#can_download@user:jon",
        True,
        add=("group:j#member@user:jon", "bundle:b2#downloader@group:j#member"),
    ),
    V(
        "downloader via organisation",
        "file:f2#can_download@user:jud",
        True,
        add=("bundle:b2#downloader@organisation:crown#member",),
    ),
    V("case manager downloads any bundle", "bundle:b3#can_download@user:ann", True),
    V("prosecutor downloads any bundle", "bundle:b3#can_download@user:pat", True),
    # a file in two bundles: each bundle is its own path
    V("out of b1, f2 is no longer disclosed", "file:f2#can_download@user:dan", False, remove=("file:f2#bundle@bundle:b1",)),
    V("out of b1, f2 still in the trial bundle", "file:f2#can_view@user:jud", True, remove=("file:f2#bundle@bundle:b1",)),
    # blocked: wins over every grant, on the bundle and on every file in it
    V("blocked defence user: bundle", "bundle:b1#can_view@user:dan", False, add=("bundle:b1#blocked@user:dan",)),
    V("blocked defence user: file", "file:f1#can_download@user:dan", False, add=("bundle:b1#blocked@user:dan",)),
    V("blocked viewer", "file:f2#can_view@user:jud", False, add=("bundle:b2#blocked@user:jud",)),
    V(
        "blocked downloader",
        "bundle:b2#can_download@user:jon",
        False,
        add=("bundle:b2#downloader@user:jon", "bundle:b2#blocked@user:jon"),
    ),
    V("blocked custodian: bundle", "bundle:b1#can_view@user:ann", False, add=("bundle:b1#blocked@user:ann",)),
    V("blocked custodian: file in it", "file:f1#can_view@user:ann", False, add=("bundle:b1#blocked@user:ann",)),
    V("blocked custodian: file also elsewhere", "file:f2#can_view@user:ann", False, add=("bundle:b1#blocked@user:ann",)),
    V("blocked custodian: download", "file:f2#can_download@user:ann", False, add=("bundle:b1#blocked@user:ann",)),
    V("blocked custodian cannot reshare", "bundle:b1#can_reshare@user:ann", False, add=("bundle:b1#blocked@user:ann",)),
    V("bundle block leaves other files", "file:f4#can_view@user:ann", True, add=("bundle:b1#blocked@user:ann",)),
    V("bundle block leaves the case", "case:c1#can_manage@user:ann", True, add=("bundle:b1#blocked@user:ann",)),
    V("blocked via nested group", "file:f1#can_view@user:sue", False, add=("bundle:b1#blocked@group:squad#member",)),
    V("blocked via group cycle", "file:f1#can_view@user:tim", False, add=("bundle:b1#blocked@group:squad#member",)),
    V("blocked via organisation", "file:f1#can_view@user:dan", False, add=("bundle:b1#blocked@organisation:smith#member",)),
    V("case block beats org admin", "case:c1#can_manage@user:max", False, add=("case:c1#blocked@user:max",)),
    V("case block beats org admin's files", "file:f4#can_download@user:max", False, add=("case:c1#blocked@user:max",)),
    V("case block beats org prosecutor grant", "file:f3#can_view@user:pat", False, add=("case:c1#blocked@user:pat",)),
    V("case block: prosecutor's case view", "case:c1#can_view@user:pat", False, add=("case:c1#blocked@user:pat",)),
    V("case block: prosecutor's sharing", "case:c1#can_share@user:pat", False, add=("case:c1#blocked@user:pat",)),
    V("case block via group", "case:c1#can_view@user:sue", False, add=("case:c1#blocked@group:squad#member",)),
    V("case block via organisation", "case:c1#can_view@user:pat", False, add=("case:c1#blocked@organisation:cps#member",)),
    V("case block stops resharing", "bundle:b1#can_reshare@user:pat", False, add=("case:c1#blocked@user:pat",)),
    V("case block reaches bundle grants", "file:f1#can_view@user:dan", False, add=("case:c1#blocked@user:dan",)),
    V("case block reaches the bundle", "bundle:b1#can_view@user:dan", False, add=("case:c1#blocked@user:dan",)),
    V(
        # the service keeps a file's bundles in the file's case; if that ever broke, the block still holds
        "case block holds for a file filed in another case's bundle",
        "file:f5#can_view@user:dan",
        False,
        add=("file:f5#bundle@bundle:b1", "case:c2#blocked@user:dan"),
    ),
    V("case block stops uploads", "case:c1#can_upload@user:con", False, add=("case:c1#blocked@user:con",)),
    V("expired block", "file:f1#can_view@user:dan", True, add=(win("bundle:b1#blocked@user:dan", expires_at=NOW),)),
    V("block not yet valid", "file:f1#can_view@user:dan", True, add=(win("bundle:b1#blocked@user:dan", NB),)),
    V("block from its not_before", "file:f1#can_view@user:dan", False, add=(win("bundle:b1#blocked@user:dan", NB),), at=NB),
    # not_before and expires_at: [not_before, expires_at)
    V("grant before not_before", "file:f1#can_view@user:jon", False, add=JON_B1, at=NB - US),
    V("grant at not_before", "file:f1#can_view@user:jon", True, add=JON_B1, at=NB),
    V("grant after not_before", "file:f1#can_view@user:jon", True, add=JON_B1, at=NB + US),
    V("grant before expiry", "file:f1#can_view@user:jon", True, add=JON_B1, at=EXP - US),
    V("grant at expiry", "file:f1#can_view@user:jon", False, add=JON_B1, at=EXP),
    V("grant after expiry", "file:f1#can_view@user:jon", False, add=JON_B1, at=EXP + US),
    V("unbounded grant", "file:f1#can_view@user:dan", True, at=NOW + timedelta(days=3650)),
    V(
        "group membership before expiry",
        "case:c2#can_manage@user:ann",
        True,
        add=(win("group:c2team#member@user:ann", expires_at=EXP), "case:c2#custodian@group:c2team#member"),
        at=EXP - US,
    ),
    V(
        "group membership at expiry",
        "case:c2#can_manage@user:ann",
        False,
        add=(win("group:c2team#member@user:ann", expires_at=EXP), "case:c2#custodian@group:c2team#member"),
        at=EXP,
    ),
    V(
        "file in bundle before expiry",
        "file:f4#can_view@user:dan",
        True,
        add=(win("file:f4#bundle@bundle:b1", None, EXP),),
        at=EXP - US,
    ),
    V("file in bundle at expiry", "file:f4#can_view@user:dan", False, add=(win("file:f4#bundle@bundle:b1", None, EXP),), at=EXP),
    V("org membership not yet valid", "file:f1#can_view@user:dee", False, add=(win("organisation:smith#member@user:dee", NB),)),
    # new enemy: access removed, then new material arrives
    V("removed custodian, new file", "file:f9#can_view@user:ann", False, add=NEW_FILE, remove=("case:c1#custodian@user:ann",)),
    V("removed custodian, case", "case:c1#can_view@user:ann", False, remove=("case:c1#custodian@user:ann",)),
    V("left the group, new file", "file:f9#can_view@user:sue", False, add=NEW_FILE, remove=("group:squad#member@user:sue",)),
    V("defence revoked, new disclosed file", "file:f9#can_view@user:dan", False, add=NEW_DISCLOSED_FILE, remove=(B1_DEFENCE,)),
    V("defence revoked mid-download", "file:f1#can_download@user:dan", False, remove=(B1_DEFENCE,)),
    V("left the firm", "file:f1#can_download@user:dan", False, remove=("organisation:smith#member@user:dan",)),
    # re-sharing a bundle: case managers and the prosecutor (who serves disclosure) only
    V("custodian reshares", "bundle:b1#can_reshare@user:ann", True),
    V("org admin reshares", "bundle:b1#can_reshare@user:max", True),
    V("nested custodian reshares", "bundle:b1#can_reshare@user:sue", True),
    V("prosecutor reshares", "bundle:b1#can_reshare@user:pat", True),
    V("defence cannot reshare", "bundle:b1#can_reshare@user:dan", False),
    V("court viewer cannot reshare", "bundle:b2#can_reshare@user:jud", False),
    V("downloader cannot reshare", "bundle:b2#can_reshare@user:jon", False, add=("bundle:b2#downloader@user:jon",)),
    V("contributor cannot reshare", "bundle:b1#can_reshare@user:con", False),
    V("colleague cannot reshare", "bundle:b1#can_reshare@user:ben", False),
    V("auditor cannot reshare", "bundle:b1#can_reshare@user:ivy", False),
    # listing: what each role sees
    V("defence lists", "file#can_download@user:dan", ids("f1", "f2")),
    V("court lists viewable", "file#can_view@user:jud", ids("f2")),
    V("court lists downloadable", "file#can_download@user:jud", ids()),
    V("custodian lists", "file#can_view@user:ann", ids("f1", "f2", "f3", "f4")),
    V("colleague lists cases", "case#can_view@user:ben", ids("c2")),
    V("prosecutor lists bundles", "bundle#can_view@user:pat", ids("b1", "b2", "b3")),
    V("cycle member lists cases", "case#can_manage@user:tim", ids("c1", "c3")),
    V("blocked user lists", "file#can_view@user:ann", ids("f3", "f4"), add=("bundle:b1#blocked@user:ann",)),
    V("revoked defence lists", "file#can_view@user:dan", ids(), remove=(B1_DEFENCE,)),
    V("expired grant lists", "file#can_view@user:jon", ids(), add=JON_B1, at=EXP),
]
# fmt: on


def build(vector: V) -> MemoryTuples:
    texts = list(WORLD)
    for text in vector.remove:
        assert text in texts, f"{vector.name}: removes {text}, which WORLD does not hold"
        texts.remove(text)
    tuples = [*texts, *vector.add]
    store = MemoryTuples(schema=FILEHUB_SCHEMA)  # every vector's tuples are valid grants
    for number, item in enumerate(tuples):
        tuple_ = RelationTuple.parse(item, id="pending") if isinstance(item, str) else item
        store.add(replace(tuple_, id=f"t{number}"))
    return store


def parse_query(query: str) -> tuple[str, str | None, str, ObjectRef]:
    target, _, user = query.partition("@")
    head, _, permission = target.partition("#")
    type_, _, id_ = head.partition(":")
    return type_, id_ or None, permission, ObjectRef.parse(user)


def ids_of_type(store: MemoryTuples, type_: str) -> set[str]:
    found = {t.object.id for t in store if t.object.type == type_}
    return found | {t.subject.id for t in store if t.subject.type == type_}


def test_vector_names_are_unique() -> None:
    names = [v.name for v in VECTORS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_vector(vector: V) -> None:
    store = build(vector)
    type_, id_, permission, user = parse_query(vector.query)
    listed = list_objects(store, type_, permission, user, vector.at)
    if id_ is None:
        assert listed == vector.expected
        for object_id in sorted(ids_of_type(store, type_)):  # listed ids pass check, the others fail it
            assert check(store, ObjectRef(type_, object_id), permission, user, vector.at) is (
                object_id in listed
            )
    else:
        assert check(store, ObjectRef(type_, id_), permission, user, vector.at) is vector.expected
        assert (id_ in listed) is vector.expected
