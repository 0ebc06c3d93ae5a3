"""A random but plausible world of tuples, for the property test and the timing probe.

Police forces own cases; prosecution offices are granted them (mostly as a whole office);
defence firms and courts get bundles; groups nest (cycles included); some grants are
expired, some not yet valid, some users blocked. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from filehub.authz import RelationTuple

KINDS = ("police", "police", "police", "prosecution", "defence", "defence", "court")


@dataclass
class World:
    now: datetime
    tuples: list[RelationTuple] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    ids: dict[str, list[str]] = field(default_factory=dict)  # object type -> ids

    def add(self, text: str, rng: random.Random | None = None) -> None:
        """Add a tuple; with `rng`, give it a random window (mostly unbounded)."""
        not_before = expires_at = None
        if rng is not None:
            roll, day = rng.random(), timedelta(days=1)
            if roll < 0.08:
                expires_at = self.now - rng.randint(1, 90) * day  # expired
            elif roll < 0.16:
                not_before = self.now + rng.randint(1, 90) * day  # not yet valid
            elif roll < 0.26:
                not_before, expires_at = self.now - day, self.now + rng.randint(1, 90) * day
        self.tuples.append(
            RelationTuple.parse(text, id=f"t{len(self.tuples)}", not_before=not_before, expires_at=expires_at)
        )


def generate(
    seed: int,
    now: datetime,
    *,
    orgs: int = 50,
    users_per_org: int = 10,
    groups_per_org: int = 2,
    cases: int = 200,
    bundles_per_case: int = 3,
    files_per_case: int = 10,
) -> World:
    rng = random.Random(seed)
    world = World(now)
    org_ids = [f"o{n}" for n in range(orgs)]
    kind = {org: KINDS[n % len(KINDS)] for n, org in enumerate(org_ids)}
    staff: dict[str, list[str]] = {}
    for org in org_ids:
        staff[org] = [f"{org}u{n}" for n in range(users_per_org)]
        world.users += staff[org]
        world.add(f"organisation:{org}#admin@user:{staff[org][0]}")
        world.add(f"organisation:{org}#auditor@user:{staff[org][1]}")
        for user in staff[org][2:]:
            world.add(f"organisation:{org}#member@user:{user}", rng)
    group_ids, group_org = _groups(world, rng, org_ids, staff, groups_per_org)
    by_kind = {k: [o for o in org_ids if kind[o] == k] for k in set(KINDS)}
    case_ids, bundle_ids, file_ids = [], [], []
    for c in range(cases):
        case, police = f"c{c}", rng.choice(by_kind["police"])
        case_ids.append(case)
        _case_grants(
            world, rng, case, police, staff, by_kind, [g for g in group_ids if group_org[g] == police]
        )
        bundles = [f"{case}b{n}" for n in range(bundles_per_case)]
        bundle_ids += bundles
        for bundle in bundles:
            _bundle_grants(world, rng, bundle, case, staff, by_kind, group_ids)
        for n in range(files_per_case):
            file = f"{case}f{n}"
            file_ids.append(file)
            world.add(f"file:{file}#case@case:{case}")
            for bundle in rng.sample(bundles, rng.choice((0, 1, 1, 2))):
                world.add(f"file:{file}#bundle@bundle:{bundle}", rng if rng.random() < 0.2 else None)
    world.ids = {
        "organisation": org_ids,
        "group": group_ids,
        "case": case_ids,
        "bundle": bundle_ids,
        "file": file_ids,
    }
    return world


def _groups(world: World, rng: random.Random, org_ids: list[str], staff: dict[str, list[str]], per_org: int):
    group_ids: list[str] = []
    group_org: dict[str, str] = {}
    for org in org_ids:
        for n in range(per_org):
            group = f"{org}g{n}"
            group_ids.append(group)
            group_org[group] = org
            for user in rng.sample(staff[org], rng.randint(1, 4)):
                world.add(f"group:{group}#member@user:{user}", rng)
    for group in group_ids:  # nesting, within and across organisations; cycles happen
        for inner in rng.sample(group_ids, rng.choice((0, 0, 1, 2))):
            world.add(f"group:{group}#member@group:{inner}#member", rng)
    return group_ids, group_org


def _anyone(rng: random.Random, orgs: list[str], staff: dict[str, list[str]], groups: list[str]) -> str:
    org = rng.choice(orgs)
    roll = rng.random()
    if roll < 0.5 or not groups:
        return f"organisation:{org}#member"
    if roll < 0.8:
        return f"user:{rng.choice(staff[org])}"
    return f"group:{rng.choice(groups)}#member"


def _case_grants(
    world: World, rng: random.Random, case: str, police: str, staff, by_kind, police_groups
) -> None:
    world.add(f"case:{case}#owner_org@organisation:{police}")
    world.add(f"case:{case}#custodian@user:{rng.choice(staff[police])}", rng)
    if police_groups and rng.random() < 0.5:
        world.add(f"case:{case}#custodian@group:{rng.choice(police_groups)}#member", rng)
    if rng.random() < 0.8:
        world.add(f"case:{case}#prosecutor@{_anyone(rng, by_kind['prosecution'], staff, [])}", rng)
    if rng.random() < 0.3:
        world.add(f"case:{case}#contributor@{_anyone(rng, by_kind['police'], staff, police_groups)}", rng)
    if rng.random() < 0.1:
        world.add(f"case:{case}#blocked@user:{rng.choice(staff[police])}", rng)


def _bundle_grants(world: World, rng: random.Random, bundle: str, case: str, staff, by_kind, groups) -> None:
    world.add(f"bundle:{bundle}#case@case:{case}")
    if rng.random() < 0.4:
        world.add(f"bundle:{bundle}#defence@{_anyone(rng, by_kind['defence'], staff, groups)}", rng)
    if rng.random() < 0.2:
        world.add(f"bundle:{bundle}#viewer@{_anyone(rng, by_kind['court'], staff, groups)}", rng)
    if rng.random() < 0.1:
        world.add(f"bundle:{bundle}#downloader@{_anyone(rng, list(staff), staff, groups)}", rng)
    if rng.random() < 0.15:
        world.add(f"bundle:{bundle}#blocked@{_anyone(rng, list(staff), staff, groups)}", rng)
