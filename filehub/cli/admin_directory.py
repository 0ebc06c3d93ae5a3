"""``filehub admin``: organisations, users, roles and groups, acting on the database directly.

The operator's commands: they may touch any organisation (the API lets an organisation's
admins touch their own only). Lists print tab-separated lines on stdout, for scripts.
Changes of role and membership are written as relation tuples in the same transaction, so
running servers apply them on their next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import click

from filehub.audit.log import AuditLog
from filehub.cli.options import config_option, load_settings
from filehub.db.migrate import migrate
from filehub.db.session import Database
from filehub.errors import FilehubError
from filehub.services.accounts import ROLES, Accounts
from filehub.services.groups import Groups
from filehub.services.pages import MAX_PAGE, Page, PageRequest

T = TypeVar("T")
P = TypeVar("P")


@dataclass(frozen=True)
class Directory:
    accounts: Accounts
    groups: Groups


def run(config_file: Path | None, action: Callable[[Directory], Awaitable[T]]) -> T:
    settings = load_settings(config_file)

    async def main() -> T:
        if settings.database_url is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.effective_database_url)
        try:
            await migrate(db.engine)
            audit = AuditLog(db)
            return await action(Directory(Accounts(db, recorder=audit), Groups(db, recorder=audit)))
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except FilehubError as exc:
        raise click.ClickException(exc.message) from None


async def every(fetch: Callable[[PageRequest], Awaitable[Page[P]]]) -> list[P]:
    """All pages of a list, one after the other."""
    found: list[P] = []
    after = None
    while True:
        page = await fetch(PageRequest(MAX_PAGE, after))
        found += page.items
        if page.next is None:
            return found
        after = page.next


def echo_rows(rows: Iterable[Iterable[object]]) -> None:
    for row in rows:
        click.echo("\t".join("" if v is None else str(v) for v in row))


@click.command("list-orgs")
@config_option
def list_orgs(config_file: Path | None) -> None:
    """List organisations: id, name, kind."""
    orgs = run(config_file, lambda d: every(d.accounts.list_orgs))
    echo_rows((o.id, o.name, o.kind) for o in orgs)


@click.command("list-users")
@click.option("--org", "org_name", default=None, help="Only this organisation's users.")
@config_option
def list_users(org_name: str | None, config_file: Path | None) -> None:
    """List users: id, e-mail, organisation id, role, disabled."""

    async def action(d: Directory) -> list:
        org_id = (await d.accounts.org_by_name(org_name)).id if org_name else None
        return await every(lambda page: d.accounts.list_users(org_id, page))

    users = run(config_file, action)
    echo_rows((u.id, u.email, u.org_id, u.role, "disabled" if u.disabled else "active") for u in users)


@click.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
@config_option
def set_role(email: str, role: str, config_file: Path | None) -> None:
    """Change a user's role in their organisation (member, admin or auditor)."""

    async def action(d: Directory) -> None:
        user = await d.accounts.user_by_email(email)
        await d.accounts.set_role(user.id, role, None)

    run(config_file, action)
    click.echo(f"{email.lower()} is now {role}", err=True)


@click.command("disable-user")
@click.argument("email")
@config_option
def disable_user(email: str, config_file: Path | None) -> None:
    """Disable a user: their tokens and request links stop working at once."""

    async def action(d: Directory) -> None:
        await d.accounts.disable_user((await d.accounts.user_by_email(email)).id)

    run(config_file, action)
    click.echo(f"disabled {email.lower()}", err=True)


@click.command("list-groups")
@click.option("--org", "org_name", required=True, help="The organisation.")
@config_option
def list_groups(org_name: str, config_file: Path | None) -> None:
    """List an organisation's groups: id, name."""

    async def action(d: Directory) -> list:
        org = await d.accounts.org_by_name(org_name)
        return await every(lambda page: d.groups.list(org.id, page))

    echo_rows((g.id, g.name) for g in run(config_file, action))


@click.command("create-group")
@click.argument("name")
@click.option("--org", "org_name", required=True, help="The organisation the group belongs to.")
@config_option
def create_group(name: str, org_name: str, config_file: Path | None) -> None:
    """Create a group in an organisation."""

    async def action(d: Directory) -> str:
        return (await d.groups.create((await d.accounts.org_by_name(org_name)).id, name, None)).id

    group_id = run(config_file, action)
    click.echo(f"created group {name} id={group_id}", err=True)


member_options = [
    click.argument("group"),
    click.option("--org", "org_name", required=True, help="The group's organisation."),
    click.option("--user", "email", default=None, help="A user (by e-mail) of the same organisation."),
    click.option("--group", "member_group", default=None, help="A nested group of the same organisation."),
    config_option,
]


def _with_member_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(member_options):
        command = option(command)
    return command


async def _member(d: Directory, group: str, org_name: str, email: str | None, member_group: str | None):
    if (email is None) == (member_group is None):
        raise click.UsageError("give --user or --group")
    org = await d.accounts.org_by_name(org_name)
    target = await d.groups.by_name(org.id, group)
    user_id = (await d.accounts.user_by_email(email)).id if email else None
    nested = (await d.groups.by_name(org.id, member_group)).id if member_group else None
    return target, user_id, nested


@click.command("add-member")
@_with_member_options
def add_member(
    group: str, org_name: str, email: str | None, member_group: str | None, config_file: Path | None
) -> None:
    """Add a user or a nested group to a group."""

    async def action(d: Directory) -> None:
        target, user_id, nested = await _member(d, group, org_name, email, member_group)
        await d.groups.add_member(target.id, user_id=user_id, member_group_id=nested, actor_id=None)

    run(config_file, action)
    click.echo(f"added {email or member_group} to {group}", err=True)


@click.command("remove-member")
@_with_member_options
def remove_member(
    group: str, org_name: str, email: str | None, member_group: str | None, config_file: Path | None
) -> None:
    """Remove a user or a nested group from a group (effective on the next request)."""

    async def action(d: Directory) -> None:
        target, user_id, nested = await _member(d, group, org_name, email, member_group)
        member_id = await d.groups.find_member(target.id, user_id=user_id, member_group_id=nested)
        await d.groups.remove_member(target.id, member_id, None)

    run(config_file, action)
    click.echo(f"removed {email or member_group} from {group}", err=True)


@click.command("list-members")
@click.argument("group")
@click.option("--org", "org_name", required=True, help="The group's organisation.")
@config_option
def list_members(group: str, org_name: str, config_file: Path | None) -> None:
    """List a group's members: membership id, user id or nested group id."""

    async def action(d: Directory) -> list:
        target = await d.groups.by_name((await d.accounts.org_by_name(org_name)).id, group)
        return await every(lambda page: d.groups.members(target.id, page))

    members = run(config_file, action)
    echo_rows((m.id, "user" if m.user_id else "group", m.user_id or m.member_group_id) for m in members)


COMMANDS = [list_orgs, list_users, set_role, disable_user, list_groups, create_group, add_member, remove_member,
            list_members]
